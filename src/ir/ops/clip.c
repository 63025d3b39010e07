/* clip.c: validation and shape inference of Clip. Bounds are attributes min/max for opset < 11
 * and optional scalar inputs 1 and 2 from opset 11 (which must have the input's dtype). The
 * output has the input's dtype and shape. */
#include "ir/ir.h"

tfmq_status tq_infer_clip(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0];
    tq_tensor *y = ctx->out[0];
    tfmq_status st;
    if (!x || !y) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "missing input or output");
    }
    if (!tq_dtype_is_float(x->dtype) && !tq_dtype_is_int(x->dtype)) {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "input dtype %s is not supported",
                          tfmq_dtype_name(x->dtype));
    }
    if (ctx->opset < 11) {
        float v;
        if ((st = tq_attr_float(ctx->node, "min", 0.0f, &v)) != TFMQ_OK ||
            (st = tq_attr_float(ctx->node, "max", 0.0f, &v)) != TFMQ_OK) {
            return st;
        }
    }
    for (int32_t k = 1; k < 3 && k < ctx->n_in; k++) {
        const tq_tensor *b = ctx->in[k];
        if (!b) {
            continue;
        }
        if (b->dtype != x->dtype) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "%s has dtype %s, input has %s",
                              k == 1 ? "min" : "max", tfmq_dtype_name(b->dtype),
                              tfmq_dtype_name(x->dtype));
        }
        if (tq_tensor_shape_known(b) && tq_tensor_numel(b) != 1) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "%s must be a scalar",
                              k == 1 ? "min" : "max");
        }
    }
    y->dtype = x->dtype;
    y->rank = x->rank;
    for (int32_t i = 0; i < x->rank && i < TQ_MAX_RANK; i++) {
        y->dims[i] = x->dims[i];
    }
    return TFMQ_OK;
}
