/* flatten.c: Flatten shape inference (ONNX Flatten-1/9/11/13/21): the dims before `axis` and
 * from `axis` on become the two dims of a matrix. axis may be negative (from opset 11) and equal
 * to the rank (outer = everything, inner = 1). */
#include "ir/ops/shape_ops.h"

tfmq_status tq_infer_flatten(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0];
    tq_tensor *y = ctx->out[0];
    int64_t axis;
    int32_t a;
    tfmq_status st = tq_attr_int(ctx->node, "axis", 1, &axis);
    if (st != TFMQ_OK) {
        return st;
    }
    tq_shape_set_unknown(y, x->dtype, 2);
    if (x->rank < 0) {
        return TFMQ_OK;
    }
    if (axis < -(int64_t)x->rank || axis > x->rank) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "axis %lld is out of range for rank %d",
                          (long long)axis, x->rank);
    }
    a = (int32_t)(axis < 0 ? axis + x->rank : axis);
    st = tq_shape_prod(ctx, x->dims, 0, a, &y->dims[0]);
    if (st == TFMQ_OK) {
        st = tq_shape_prod(ctx, x->dims, a, x->rank, &y->dims[1]);
    }
    if (st != TFMQ_OK) {
        return st;
    }
    return tq_shape_check(ctx, y);
}
