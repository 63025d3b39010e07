/* cumsum.c: validation and shape inference of CumSum(x, axis): axis is a scalar (or 1-element)
 * int32/int64 tensor, attributes exclusive and reverse are 0/1. The output has x's dtype and
 * shape whatever the axis, so an axis unknown at plan time is fine. */
#include "ir/ir.h"

tfmq_status tq_infer_cumsum(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0], *ta = ctx->in[1];
    tq_tensor *y = ctx->out[0];
    tfmq_status st;
    int64_t v;
    if (!x || !ta || !y) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "missing input or output");
    }
    if (!tq_dtype_is_float(x->dtype) && !tq_dtype_is_int(x->dtype)) {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "input dtype %s is not supported",
                          tfmq_dtype_name(x->dtype));
    }
    if (ta->dtype != TFMQ_DTYPE_INT64 && ta->dtype != TFMQ_DTYPE_INT32) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "axis must be int32 or int64, not %s",
                          tfmq_dtype_name(ta->dtype));
    }
    if (ta->rank > 1 || (tq_tensor_shape_known(ta) && tq_tensor_numel(ta) != 1)) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "axis must be a scalar");
    }
    if ((st = tq_attr_int(ctx->node, "exclusive", 0, &v)) != TFMQ_OK ||
        (st = tq_attr_int(ctx->node, "reverse", 0, &v)) != TFMQ_OK) {
        return st;
    }
    if (ta->data && x->rank >= 0) {
        int32_t a;
        if ((st = tq_norm_axis(ctx, tq_load_i64(ta->dtype, ta->data, 0), x->rank, false, &a)) !=
            TFMQ_OK) {
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
