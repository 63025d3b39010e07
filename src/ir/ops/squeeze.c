/* squeeze.c: Squeeze shape inference (ONNX Squeeze-1/11/13/21). Axes come from the attribute
 * before opset 13 and from input 1 after; without axes every dim of size 1 is removed, which
 * needs the input dims to be known. */
#include "ir/ops/shape_ops.h"

tfmq_status tq_infer_squeeze(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0];
    tq_tensor *y = ctx->out[0];
    int64_t axes[TQ_MAX_RANK], len;
    tq_ints_state state;
    tfmq_status st = tq_shape_ints(ctx, 1, "axes", axes, TQ_MAX_RANK, &len, &state);
    if (st != TFMQ_OK) {
        return st;
    }
    if (state == TQ_INTS_KNOWN && len == 0) {
        state = TQ_INTS_ABSENT; /* empty axes: squeeze every 1, as ONNX Runtime does */
    }
    if (x->rank < 0) {
        tq_shape_set_unknown(y, x->dtype, -1);
        return TFMQ_OK;
    }
    if (state == TQ_INTS_UNKNOWN) {
        int32_t r = len >= 0 && len <= x->rank ? x->rank - (int32_t)len : -1;
        tq_shape_set_unknown(y, x->dtype, r);
        return TFMQ_OK;
    }
    bool drop[TQ_MAX_RANK] = {false};
    if (state == TQ_INTS_KNOWN) {
        st = tq_shape_norm_axes(ctx, axes, (size_t)len, x->rank);
        if (st != TFMQ_OK) {
            return st;
        }
        for (int64_t i = 0; i < len; i++) {
            int64_t d = x->dims[axes[i]];
            if (d >= 0 && d != 1) {
                return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG,
                                  "cannot squeeze axis %lld of size %lld", (long long)axes[i],
                                  (long long)d);
            }
            drop[axes[i]] = true;
        }
    } else {
        for (int32_t i = 0; i < x->rank; i++) {
            if (x->dims[i] < 0) {
                tq_shape_set_unknown(y, x->dtype, -1);
                return TFMQ_OK;
            }
            drop[i] = x->dims[i] == 1;
        }
    }
    tq_shape_set_unknown(y, x->dtype, 0);
    for (int32_t i = 0; i < x->rank; i++) {
        if (!drop[i]) {
            y->dims[y->rank++] = x->dims[i];
        }
    }
    return tq_shape_check(ctx, y);
}
