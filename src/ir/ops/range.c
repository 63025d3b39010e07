/* range.c: Range shape inference (ONNX Range-11): a 1-D tensor of
 * max(ceil((limit - start) / delta), 0) elements of start's dtype. Integer dtypes count exactly
 * in int64; float dtypes in double, like numpy.arange. */
#include <math.h>

#include "ir/ops/shape_ops.h"

static tfmq_status tq_range_count(const tq_op_ctx *ctx, int64_t *count_out)
{
    tfmq_dtype dt = ctx->in[0]->dtype;
    *count_out = -1;
    for (int32_t k = 0; k < 3; k++) {
        if (!ctx->in[k]->data) {
            return TFMQ_OK;
        }
    }
    if (tq_dtype_is_int(dt)) {
        int64_t s = tq_load_i64(dt, ctx->in[0]->data, 0), l = tq_load_i64(dt, ctx->in[1]->data, 0);
        int64_t d = tq_load_i64(dt, ctx->in[2]->data, 0), diff;
        if (d == 0) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "delta is 0");
        }
        if (__builtin_sub_overflow(l, s, &diff)) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "range is too large");
        }
        if (diff == 0 || (diff > 0) != (d > 0)) {
            *count_out = 0;
            return TFMQ_OK;
        }
        uint64_t ud = d > 0 ? (uint64_t)d : (uint64_t)0 - (uint64_t)d;
        uint64_t un = diff > 0 ? (uint64_t)diff : (uint64_t)0 - (uint64_t)diff;
        *count_out = (int64_t)((un - 1) / ud + 1);
        return TFMQ_OK;
    }
    double s = tq_load_f64(dt, ctx->in[0]->data, 0), l = tq_load_f64(dt, ctx->in[1]->data, 0);
    double d = tq_load_f64(dt, ctx->in[2]->data, 0);
    if (d == 0.0 || isnan(s) || isnan(l) || isnan(d)) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "delta is 0 or an input is NaN");
    }
    double n = ceil((l - s) / d);
    if (!(n > 0.0)) {
        *count_out = 0;
    } else if (n >= 4611686018427387904.0) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "range of %g elements is too large", n);
    } else {
        *count_out = (int64_t)n;
    }
    return TFMQ_OK;
}

tfmq_status tq_infer_range(tq_op_ctx *ctx)
{
    tfmq_dtype dt = ctx->in[0]->dtype;
    if (!tq_dtype_is_int(dt) && !tq_dtype_is_float(dt)) {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "dtype %s is not supported",
                          tfmq_dtype_name(dt));
    }
    for (int32_t k = 0; k < 3; k++) {
        const tq_tensor *t = ctx->in[k];
        if (t->dtype != dt) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "input %d is %s, input 0 is %s", k,
                              tfmq_dtype_name(t->dtype), tfmq_dtype_name(dt));
        }
        if (t->rank > 1 || (t->rank >= 0 && tq_shape_len(t) >= 0 && tq_shape_len(t) != 1)) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "input %d must be a scalar", k);
        }
    }
    tq_tensor *y = ctx->out[0];
    tq_shape_set_unknown(y, dt, 1);
    tfmq_status st = tq_range_count(ctx, &y->dims[0]);
    if (st != TFMQ_OK) {
        return st;
    }
    return tq_shape_check(ctx, y);
}
