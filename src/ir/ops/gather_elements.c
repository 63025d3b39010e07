/* gather_elements.c: GatherElements shape inference (ONNX GatherElements-11/13): the output has
 * the shape of indices, which must have the rank of data and, off the axis, no larger dims. */
#include "ir/ops/shape_ops.h"

tfmq_status tq_infer_gather_elements(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0], *idx = ctx->in[1];
    tq_tensor *y = ctx->out[0];
    int32_t axis;
    if (idx->dtype != TFMQ_DTYPE_INT64 && idx->dtype != TFMQ_DTYPE_INT32) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "indices must be int32 or int64, got %s",
                          tfmq_dtype_name(idx->dtype));
    }
    int32_t r = x->rank >= 0 ? x->rank : idx->rank;
    tq_shape_set_unknown(y, x->dtype, r);
    if (r < 0) {
        return TFMQ_OK;
    }
    tfmq_status st = tq_gather_axis(ctx, r, &axis);
    if (st != TFMQ_OK) {
        return st;
    }
    if (idx->rank < 0) {
        return TFMQ_OK;
    }
    if (x->rank >= 0 && idx->rank != x->rank) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "indices rank %d differs from data rank %d",
                          idx->rank, x->rank);
    }
    for (int32_t i = 0; i < r; i++) {
        if (x->rank >= 0 && i != axis && idx->dims[i] >= 0 && x->dims[i] >= 0 &&
            idx->dims[i] > x->dims[i]) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG,
                              "indices dim %d (%lld) exceeds data dim (%lld)", i,
                              (long long)idx->dims[i], (long long)x->dims[i]);
        }
        y->dims[i] = idx->dims[i];
    }
    return tq_shape_check(ctx, y);
}
