/* variadic.c: validation and shape inference of Max, Min, Sum and Mean over 1..64 inputs of one
 * dtype, broadcast together numpy-style. Max/Min accept integers (opset >= 12) and floats; Sum
 * and Mean floats (integers accepted too, computed exactly). */
#include "ir/ir.h"

tfmq_status tq_infer_variadic(tq_op_ctx *ctx)
{
    tq_tensor *y = ctx->out[0];
    tfmq_status st;
    if (ctx->n_in < 1 || !ctx->in[0] || !y) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "missing input or output");
    }
    const tfmq_dtype dt = ctx->in[0]->dtype;
    if (!tq_dtype_is_float(dt) && !tq_dtype_is_int(dt)) {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "input dtype %s is not supported",
                          tfmq_dtype_name(dt));
    }
    if (ctx->node->op == TQ_OP_MEAN && !tq_dtype_is_float(dt)) {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "input dtype %s is not supported",
                          tfmq_dtype_name(dt));
    }
    tq_tensor acc = *ctx->in[0];
    acc.data = NULL;
    for (int32_t k = 1; k < ctx->n_in; k++) {
        const tq_tensor *x = ctx->in[k];
        if (!x) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "input %d is missing", k);
        }
        if (x->dtype != dt) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "input %d has dtype %s, input 0 has %s", k,
                              tfmq_dtype_name(x->dtype), tfmq_dtype_name(dt));
        }
        tq_tensor next = acc;
        if ((st = tq_broadcast_shape(ctx, &acc, x, &next)) != TFMQ_OK) {
            return st;
        }
        acc = next;
    }
    y->dtype = dt;
    y->rank = acc.rank;
    for (int32_t i = 0; i < acc.rank && i < TQ_MAX_RANK; i++) {
        y->dims[i] = acc.dims[i];
    }
    return TFMQ_OK;
}
