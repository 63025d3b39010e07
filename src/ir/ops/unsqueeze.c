/* unsqueeze.c: Unsqueeze shape inference (ONNX Unsqueeze-1/11/13/21). Axes (attribute before
 * opset 13, input 1 after) index the output, whose rank is the input rank plus their count. */
#include "ir/ops/shape_ops.h"

tfmq_status tq_infer_unsqueeze(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0];
    tq_tensor *y = ctx->out[0];
    int64_t axes[TQ_MAX_RANK], len;
    tq_ints_state state;
    tfmq_status st = tq_shape_ints(ctx, 1, "axes", axes, TQ_MAX_RANK, &len, &state);
    if (st != TFMQ_OK) {
        return st;
    }
    if (state == TQ_INTS_ABSENT) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "axes are missing");
    }
    int32_t r = -1;
    if (x->rank >= 0 && len >= 0) {
        if ((int64_t)x->rank + len > TQ_MAX_RANK) {
            return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "output rank %lld, at most %d supported",
                              (long long)x->rank + (long long)len, TQ_MAX_RANK);
        }
        r = x->rank + (int32_t)len;
    }
    if (state == TQ_INTS_UNKNOWN || r < 0) {
        tq_shape_set_unknown(y, x->dtype, r);
        return TFMQ_OK;
    }
    st = tq_shape_norm_axes(ctx, axes, (size_t)len, r);
    if (st != TFMQ_OK) {
        return st;
    }
    bool ins[TQ_MAX_RANK] = {false};
    for (int64_t i = 0; i < len; i++) {
        ins[axes[i]] = true;
    }
    tq_shape_set_unknown(y, x->dtype, r);
    for (int32_t i = 0, j = 0; i < r; i++) {
        y->dims[i] = ins[i] ? 1 : x->dims[j++];
    }
    return tq_shape_check(ctx, y);
}
