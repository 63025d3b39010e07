/* cumsum.c: reference kernel of CumSum over [outer, n, inner] views, with exclusive (sum of the
 * elements strictly before) and reverse (accumulate from the end). Floats accumulate in double;
 * integers in 64-bit, wrapping like numpy. */
#include "backends/ref/ref.h"

tfmq_status tq_ref_cumsum(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0], *ta = ctx->in[1];
    tq_tensor *y = ctx->out[0];
    tfmq_status st;
    int64_t excl, rev;
    int32_t a;
    if ((st = tq_attr_int(ctx->node, "exclusive", 0, &excl)) != TFMQ_OK ||
        (st = tq_attr_int(ctx->node, "reverse", 0, &rev)) != TFMQ_OK) {
        return st;
    }
    if (tq_tensor_numel(ta) != 1 ||
        (ta->dtype != TFMQ_DTYPE_INT64 && ta->dtype != TFMQ_DTYPE_INT32)) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "axis must be an int scalar");
    }
    if ((st = tq_norm_axis(ctx, tq_load_i64(ta->dtype, ta->data, 0), x->rank, false, &a)) !=
        TFMQ_OK) {
        return st;
    }
    if (y->dtype != x->dtype || tq_tensor_numel(y) != tq_tensor_numel(x)) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "output does not match the input");
    }
    size_t outer, n, inner;
    tq_ref_split_axis(x, a, &outer, &n, &inner);
    const tfmq_dtype dt = x->dtype;
    const bool fl = tq_dtype_is_float(dt);
    for (size_t o = 0; o < outer; o++) {
        for (size_t k = 0; k < inner; k++) {
            const size_t base = o * n * inner + k;
            double sf = 0.0;
            uint64_t si = 0;
            for (size_t t = 0; t < n; t++) {
                const size_t i = rev ? n - 1 - t : t;
                const size_t e = base + i * inner;
                if (dt == TFMQ_DTYPE_FLOAT32) {
                    const double v = (double)((const float *)x->data)[e];
                    if (!excl) {
                        sf += v;
                    }
                    ((float *)y->data)[e] = (float)sf;
                    if (excl) {
                        sf += v;
                    }
                } else if (fl) {
                    const double v = tq_load_f64(dt, x->data, e);
                    if (!excl) {
                        sf += v;
                    }
                    tq_store_f64(dt, y->data, e, sf);
                    if (excl) {
                        sf += v;
                    }
                } else {
                    const uint64_t v = (uint64_t)tq_load_i64(dt, x->data, e);
                    if (!excl) {
                        si += v;
                    }
                    tq_store_i64(dt, y->data, e, (int64_t)si);
                    if (excl) {
                        si += v;
                    }
                }
            }
        }
    }
    return TFMQ_OK;
}
