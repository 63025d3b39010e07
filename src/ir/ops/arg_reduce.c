/* arg_reduce.c: validation and shape inference of ArgMax and ArgMin: attributes axis (default
 * 0), keepdims (default 1) and select_last_index (default 0); the output is INT64 with the axis
 * kept as 1 or removed. Any numeric input dtype. */
#include "ir/ir.h"

tfmq_status tq_infer_arg_reduce(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0];
    tq_tensor *y = ctx->out[0];
    tfmq_status st;
    int64_t axis, keepdims, last;
    if (!x || !y) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "missing input or output");
    }
    if (!tq_dtype_is_float(x->dtype) && !tq_dtype_is_int(x->dtype)) {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "input dtype %s is not supported",
                          tfmq_dtype_name(x->dtype));
    }
    if ((st = tq_attr_int(ctx->node, "axis", 0, &axis)) != TFMQ_OK ||
        (st = tq_attr_int(ctx->node, "keepdims", 1, &keepdims)) != TFMQ_OK ||
        (st = tq_attr_int(ctx->node, "select_last_index", 0, &last)) != TFMQ_OK) {
        return st;
    }
    y->dtype = TFMQ_DTYPE_INT64;
    if (x->rank < 0) {
        y->rank = -1;
        return TFMQ_OK;
    }
    int32_t a;
    if ((st = tq_norm_axis(ctx, axis, x->rank, false, &a)) != TFMQ_OK) {
        return st;
    }
    if (x->dims[a] == 0) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "reduced axis %d is empty", a);
    }
    int32_t r = 0;
    for (int32_t i = 0; i < x->rank; i++) {
        if (i != a) {
            y->dims[r++] = x->dims[i];
        } else if (keepdims) {
            y->dims[r++] = 1;
        }
    }
    y->rank = r;
    return TFMQ_OK;
}
