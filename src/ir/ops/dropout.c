/* dropout.c: Dropout shape inference (ONNX Dropout-7/10/12/13). tfmq runs inference only:
 * Y = X and the optional mask is all true (bool from opset 10, the input dtype before). Training
 * mode is accepted only when the ratio is 0, which makes it the identity too. */
#include "ir/ops/shape_ops.h"

tfmq_status tq_infer_dropout(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0];
    tq_tensor *y = ctx->out[0];
    const tq_tensor *ratio = ctx->n_in > 1 ? ctx->in[1] : NULL;
    const tq_tensor *train = ctx->n_in > 2 ? ctx->in[2] : NULL;
    if (train && train->data && tq_shape_len(train) == 1 &&
        tq_load_i64(train->dtype, train->data, 0) != 0) {
        double r = 0.5;
        if (ratio && ratio->data && tq_shape_len(ratio) == 1) {
            r = tq_load_f64(ratio->dtype, ratio->data, 0);
        } else if (ratio) {
            r = -1.0; /* unknown yet: decided when it is known */
        }
        if (r != 0.0 && r >= 0.0) {
            return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED,
                              "training_mode with a non-zero ratio is not supported");
        }
    }
    *y = *x;
    y->data = NULL;
    if (ctx->n_out > 1 && ctx->out[1]) {
        *ctx->out[1] = *x;
        ctx->out[1]->data = NULL;
        ctx->out[1]->dtype = ctx->opset >= 10 ? TFMQ_DTYPE_BOOL : x->dtype;
    }
    return TFMQ_OK;
}
