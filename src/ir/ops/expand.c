/* expand.c: Expand shape inference (ONNX Expand-8/13): the input broadcast (numpy rules, in both
 * directions) against the shape given by input 1. */
#include "ir/ops/shape_ops.h"

tfmq_status tq_infer_expand(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0];
    tq_tensor *y = ctx->out[0];
    int64_t shape[TQ_MAX_RANK], len;
    tq_ints_state state;
    tfmq_status st = tq_shape_ints(ctx, 1, NULL, shape, TQ_MAX_RANK, &len, &state);
    if (st != TFMQ_OK) {
        return st;
    }
    if (state == TQ_INTS_ABSENT) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "the shape input is missing");
    }
    if (len > TQ_MAX_RANK) {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "shape has %lld entries, at most %d",
                          (long long)len, TQ_MAX_RANK);
    }
    if (state == TQ_INTS_UNKNOWN) {
        int32_t r = -1;
        if (x->rank >= 0 && len >= 0) {
            r = x->rank > (int32_t)len ? x->rank : (int32_t)len;
        }
        tq_shape_set_unknown(y, x->dtype, r);
        return TFMQ_OK;
    }
    tq_tensor s;
    tq_shape_set_unknown(&s, TFMQ_DTYPE_INT64, (int32_t)len);
    for (int64_t i = 0; i < len; i++) {
        if (shape[i] < 0) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "shape[%lld] is %lld", (long long)i,
                              (long long)shape[i]);
        }
        s.dims[i] = shape[i];
    }
    tq_shape_set_unknown(y, x->dtype, -1);
    st = tq_broadcast_shape(ctx, x, &s, y);
    if (st != TFMQ_OK) {
        return st;
    }
    y->dtype = x->dtype;
    return tq_shape_check(ctx, y);
}
