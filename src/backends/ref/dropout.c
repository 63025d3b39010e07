/* dropout.c: Dropout reference kernel (inference): Y = X and the optional mask all ones. */
#include <string.h>

#include "backends/ref/ref_shape_util.h"

tfmq_status tq_ref_dropout(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0];
    tq_tensor *y = ctx->out[0];
    size_t es;
    tfmq_status st = tq_ref_shape_verify(ctx, &es);
    if (st != TFMQ_OK) {
        return st;
    }
    size_t n = tq_tensor_numel(x);
    if (n && y->data != x->data) {
        memmove(y->data, x->data, n * es);
    }
    tq_tensor *mask = ctx->n_out > 1 ? ctx->out[1] : NULL;
    if (mask) {
        for (size_t i = 0; i < n; i++) {
            tq_store_f64(mask->dtype, mask->data, i, 1.0);
        }
    }
    return TFMQ_OK;
}
