/* cast.c: validation and shape inference of Cast (attribute `to`) and CastLike (the dtype of
 * input 1). Every numeric dtype, BOOL, float16 and bfloat16 converts to every other; STRING is
 * not supported. The output has the input's shape. */
#include "ir/ir.h"

tfmq_status tq_infer_cast(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0];
    tq_tensor *y = ctx->out[0];
    tfmq_status st;
    if (!x || !y) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "missing input or output");
    }
    tfmq_dtype to;
    if (ctx->node->op == TQ_OP_CAST_LIKE) {
        if (!ctx->in[1]) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "missing target_type input");
        }
        to = ctx->in[1]->dtype;
    } else {
        int64_t v;
        if (!tq_node_attr(ctx->node, "to")) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "attribute 'to' is missing");
        }
        if ((st = tq_attr_int(ctx->node, "to", 0, &v)) != TFMQ_OK) {
            return st;
        }
        if (v < 0 || v > 64) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "'to' %lld is not a dtype", (long long)v);
        }
        to = (tfmq_dtype)v;
    }
    if (tq_dtype_size(x->dtype) == 0) {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "cast from %s is not supported",
                          tfmq_dtype_name(x->dtype));
    }
    if (tq_dtype_size(to) == 0) {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "cast to %s (%d) is not supported",
                          tfmq_dtype_name(to), (int)to);
    }
    y->dtype = to;
    y->rank = x->rank;
    for (int32_t i = 0; i < x->rank && i < TQ_MAX_RANK; i++) {
        y->dims[i] = x->dims[i];
    }
    return TFMQ_OK;
}
