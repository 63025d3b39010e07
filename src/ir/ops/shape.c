/* shape.c: Shape shape inference (ONNX Shape-1/13/15/19/21): a 1-D int64 tensor holding
 * dims[start:end] of the input, with start/end (opset 15) clamped to [0, rank]. */
#include "ir/ops/shape_ops.h"

tfmq_status tq_shape_op_bounds(const tq_op_ctx *ctx, int32_t rank, int64_t *start_out,
                               int64_t *end_out)
{
    int64_t start, end, r = rank;
    tfmq_status st = tq_attr_int(ctx->node, "start", 0, &start);
    if (st == TFMQ_OK) {
        st = tq_attr_int(ctx->node, "end", INT64_MAX, &end);
    }
    if (st != TFMQ_OK) {
        return st;
    }
    start = start < 0 ? start + r : start;
    end = end < 0 ? end + r : end;
    start = start < 0 ? 0 : start > r ? r : start;
    end = end < 0 ? 0 : end > r ? r : end;
    *start_out = start;
    *end_out = end > start ? end : start;
    return TFMQ_OK;
}

tfmq_status tq_infer_shape(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0];
    tq_tensor *y = ctx->out[0];
    int64_t start, end;
    tq_shape_set_unknown(y, TFMQ_DTYPE_INT64, 1);
    if (x->rank < 0) {
        return TFMQ_OK;
    }
    tfmq_status st = tq_shape_op_bounds(ctx, x->rank, &start, &end);
    if (st != TFMQ_OK) {
        return st;
    }
    y->dims[0] = end - start;
    return TFMQ_OK;
}
