/* size.c: Size shape inference (ONNX Size-1/13/19/21): an int64 scalar, the element count. */
#include "ir/ops/shape_ops.h"

tfmq_status tq_infer_size(tq_op_ctx *ctx)
{
    tq_shape_set_unknown(ctx->out[0], TFMQ_DTYPE_INT64, 0);
    return TFMQ_OK;
}
