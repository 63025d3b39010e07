/* softmax.c: validation and shape inference of Softmax, LogSoftmax and Hardmax. The axis
 * default is 1 before opset 13 (where the input is coerced to 2-D at the axis) and -1 from
 * opset 13 (per-axis). Float dtypes only; the output has the input's dtype and shape. */
#include "ir/ir.h"

/* Axis in [0, rank); before opset 13 also rank itself (the coerced 2-D shape is [N, 1]), with
 * negative values counted from rank (not rank + 1). */
static tfmq_status softmax_axis(const tq_op_ctx *ctx, int64_t axis, int32_t rank, int32_t *a)
{
    if (ctx->opset >= 13) {
        return tq_norm_axis(ctx, axis, rank, false, a);
    }
    if (axis < -(int64_t)rank || axis > rank) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "axis %lld is out of range for rank %d",
                          (long long)axis, rank);
    }
    *a = (int32_t)(axis < 0 ? axis + rank : axis);
    return TFMQ_OK;
}

tfmq_status tq_infer_softmax(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0];
    tq_tensor *y = ctx->out[0];
    tfmq_status st;
    if (!x || !y) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "missing input or output");
    }
    if (!tq_dtype_is_float(x->dtype)) {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "input dtype %s is not supported",
                          tfmq_dtype_name(x->dtype));
    }
    int64_t axis;
    if ((st = tq_attr_int(ctx->node, "axis", ctx->opset < 13 ? 1 : -1, &axis)) != TFMQ_OK) {
        return st;
    }
    if (x->rank >= 0) {
        int32_t a;
        if ((st = softmax_axis(ctx, axis, x->rank, &a)) != TFMQ_OK) {
            return st;
        }
    }
    y->dtype = x->dtype;
    y->rank = x->rank;
    for (int32_t i = 0; i < x->rank && i < TQ_MAX_RANK; i++) {
        y->dims[i] = x->dims[i];
    }
    return TFMQ_OK;
}
