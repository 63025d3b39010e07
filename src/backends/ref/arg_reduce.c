/* arg_reduce.c: reference kernel of ArgMax and ArgMin over [outer, n, inner] views. Ties give
 * the first index (or the last with select_last_index). NaN counts as the extreme, as numpy's
 * argmax/argmin do: the first NaN wins (the last one with select_last_index). Integers compare
 * exactly (uint64 through an order-preserving map). */
#include "backends/ref/ref.h"

#include <math.h>

/* Order-preserving int64 key of an integer element. */
static int64_t arg_key(tfmq_dtype dt, const void *base, size_t i)
{
    int64_t v = tq_load_i64(dt, base, i);
    return dt == TFMQ_DTYPE_UINT64 ? (int64_t)((uint64_t)v ^ 0x8000000000000000u) : v;
}

tfmq_status tq_ref_arg_reduce(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0];
    tq_tensor *y = ctx->out[0];
    tfmq_status st;
    int64_t axis, last;
    int32_t a;
    if ((st = tq_attr_int(ctx->node, "axis", 0, &axis)) != TFMQ_OK ||
        (st = tq_attr_int(ctx->node, "select_last_index", 0, &last)) != TFMQ_OK) {
        return st;
    }
    if ((st = tq_norm_axis(ctx, axis, x->rank, false, &a)) != TFMQ_OK) {
        return st;
    }
    size_t outer, n, inner;
    tq_ref_split_axis(x, a, &outer, &n, &inner);
    if (y->dtype != TFMQ_DTYPE_INT64 || tq_tensor_numel(y) != outer * inner) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "output does not match the input");
    }
    if (outer * inner == 0) {
        return TFMQ_OK;
    }
    if (n == 0) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "reduced axis %d is empty", a);
    }
    const bool is_max = ctx->node->op == TQ_OP_ARG_MAX;
    const bool fl = tq_dtype_is_float(x->dtype);
    const tfmq_dtype dt = x->dtype;
    int64_t *Y = y->data;
    for (size_t o = 0; o < outer; o++) {
        for (size_t k = 0; k < inner; k++) {
            const size_t base = o * n * inner + k;
            size_t best = 0;
            if (fl) {
                double bv = tq_load_f64(dt, x->data, base);
                for (size_t i = 1; i < n; i++) {
                    const double v = tq_load_f64(dt, x->data, base + i * inner);
                    bool take;
                    if (isnan(bv)) {
                        take = last && isnan(v);
                    } else if (isnan(v)) {
                        take = true;
                    } else if (last) {
                        take = is_max ? v >= bv : v <= bv;
                    } else {
                        take = is_max ? v > bv : v < bv;
                    }
                    if (take) {
                        bv = v;
                        best = i;
                    }
                }
            } else {
                int64_t bv = arg_key(dt, x->data, base);
                for (size_t i = 1; i < n; i++) {
                    const int64_t v = arg_key(dt, x->data, base + i * inner);
                    bool take = last ? (is_max ? v >= bv : v <= bv) : (is_max ? v > bv : v < bv);
                    if (take) {
                        bv = v;
                        best = i;
                    }
                }
            }
            Y[o * inner + k] = (int64_t)best;
        }
    }
    return TFMQ_OK;
}
