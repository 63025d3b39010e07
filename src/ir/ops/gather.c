/* gather.c: Gather shape inference (ONNX Gather-1/11/13): out = data.dims[:axis] ++
 * indices.dims ++ data.dims[axis+1:]. Index values (negative allowed) are checked by the kernel. */
#include "ir/ops/shape_ops.h"

tfmq_status tq_gather_axis(const tq_op_ctx *ctx, int32_t rank, int32_t *axis_out)
{
    int64_t axis;
    tfmq_status st = tq_attr_int(ctx->node, "axis", 0, &axis);
    if (st != TFMQ_OK) {
        return st;
    }
    if (rank == 0) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "data must have rank >= 1");
    }
    return tq_norm_axis(ctx, axis, rank, false, axis_out);
}

tfmq_status tq_infer_gather(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0], *idx = ctx->in[1];
    tq_tensor *y = ctx->out[0];
    int32_t axis = 0;
    if (idx->dtype != TFMQ_DTYPE_INT64 && idx->dtype != TFMQ_DTYPE_INT32) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "indices must be int32 or int64, got %s",
                          tfmq_dtype_name(idx->dtype));
    }
    if (x->rank < 0 || idx->rank < 0) {
        tq_shape_set_unknown(y, x->dtype, -1);
        return TFMQ_OK;
    }
    tfmq_status st = tq_gather_axis(ctx, x->rank, &axis);
    if (st != TFMQ_OK) {
        return st;
    }
    int32_t r = x->rank + idx->rank - 1;
    if (r > TQ_MAX_RANK) {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "output rank %d, at most %d supported", r,
                          TQ_MAX_RANK);
    }
    tq_shape_set_unknown(y, x->dtype, r);
    int32_t j = 0;
    for (int32_t i = 0; i < axis; i++) {
        y->dims[j++] = x->dims[i];
    }
    for (int32_t i = 0; i < idx->rank; i++) {
        y->dims[j++] = idx->dims[i];
    }
    for (int32_t i = axis + 1; i < x->rank; i++) {
        y->dims[j++] = x->dims[i];
    }
    return tq_shape_check(ctx, y);
}
