/* identity.c: Identity shape inference (ONNX Identity-1/13/14/16/19/21, tensors only). */
#include "ir/ops/shape_ops.h"

tfmq_status tq_infer_identity(tq_op_ctx *ctx)
{
    *ctx->out[0] = *ctx->in[0];
    ctx->out[0]->data = NULL;
    return TFMQ_OK;
}
