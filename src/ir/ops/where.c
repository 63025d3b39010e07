/* where.c: validation and shape inference of Where(cond, X, Y): cond is BOOL, X and Y share a
 * dtype (any with a size), and the output is the numpy broadcast of all three shapes. */
#include "ir/ir.h"

tfmq_status tq_infer_where(tq_op_ctx *ctx)
{
    const tq_tensor *c = ctx->in[0], *a = ctx->in[1], *b = ctx->in[2];
    tq_tensor *y = ctx->out[0];
    tfmq_status st;
    if (!c || !a || !b || !y) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "missing input or output");
    }
    if (c->dtype != TFMQ_DTYPE_BOOL) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "condition has dtype %s, expected bool",
                          tfmq_dtype_name(c->dtype));
    }
    if (a->dtype != b->dtype) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "X and Y dtypes differ: %s and %s",
                          tfmq_dtype_name(a->dtype), tfmq_dtype_name(b->dtype));
    }
    if (tq_dtype_size(a->dtype) == 0) {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "dtype %s is not supported",
                          tfmq_dtype_name(a->dtype));
    }
    tq_tensor t = *c;
    if ((st = tq_broadcast_shape(ctx, c, a, &t)) != TFMQ_OK) {
        return st;
    }
    tq_tensor u = t;
    if ((st = tq_broadcast_shape(ctx, &t, b, &u)) != TFMQ_OK) {
        return st;
    }
    y->dtype = a->dtype;
    y->rank = u.rank;
    for (int32_t i = 0; i < u.rank && i < TQ_MAX_RANK; i++) {
        y->dims[i] = u.dims[i];
    }
    return TFMQ_OK;
}
