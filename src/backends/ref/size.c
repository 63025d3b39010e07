/* size.c: Size reference kernel: the input's element count as an int64 scalar. Needs only the
 * input's shape, not its data. */
#include "backends/ref/ref_shape_util.h"

tfmq_status tq_ref_size(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0];
    tq_tensor *y = ctx->out[0];
    if (!tq_tensor_shape_known(x)) {
        return tq_op_fail(ctx, TFMQ_ERR_INTERNAL, "input shape is not known");
    }
    if (y->dtype != TFMQ_DTYPE_INT64 || y->rank != 0 || !y->data) {
        return tq_op_fail(ctx, TFMQ_ERR_INTERNAL, "output is not an int64 scalar");
    }
    *(int64_t *)y->data = (int64_t)tq_tensor_numel(x);
    return TFMQ_OK;
}
