/* shape.c: Shape reference kernel: writes dims[start:end] of the input as int64. Needs only the
 * input's shape, not its data. */
#include "backends/ref/ref_shape_util.h"

tfmq_status tq_ref_shape(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0];
    tq_tensor *y = ctx->out[0];
    int64_t start, end;
    if (!tq_tensor_shape_known(x)) {
        return tq_op_fail(ctx, TFMQ_ERR_INTERNAL, "input shape is not known");
    }
    tfmq_status st = tq_shape_op_bounds(ctx, x->rank, &start, &end);
    if (st != TFMQ_OK) {
        return st;
    }
    if (y->dtype != TFMQ_DTYPE_INT64 || y->rank != 1 || y->dims[0] != end - start ||
        (end > start && !y->data)) {
        return tq_op_fail(ctx, TFMQ_ERR_INTERNAL, "output is not int64 [%lld]",
                          (long long)(end - start));
    }
    int64_t *d = y->data;
    for (int64_t i = start; i < end; i++) {
        d[i - start] = x->dims[i];
    }
    return TFMQ_OK;
}
