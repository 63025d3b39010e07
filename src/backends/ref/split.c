/* split.c: Split reference kernel: the inverse of Concat; for each index of the dims before the
 * axis, consecutive blocks of the input go to the outputs in turn (absent outputs skipped). */
#include <string.h>

#include "backends/ref/ref_shape_util.h"

tfmq_status tq_ref_split(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0];
    int64_t sizes[TQ_MAX_IO];
    int32_t ax;
    tfmq_status st = tq_ref_shape_verify(ctx, NULL);
    if (st == TFMQ_OK) {
        st = tq_split_params(ctx, &ax, sizes);
    }
    if (st != TFMQ_OK) {
        return st;
    }
    if (tq_tensor_numel(x) == 0) {
        return TFMQ_OK; /* every output is empty too */
    }
    size_t es = tq_dtype_size(x->dtype), outer = 1, inner = es;
    for (int32_t i = 0; i < ax; i++) {
        outer *= (size_t)x->dims[i];
    }
    for (int32_t i = ax + 1; i < x->rank; i++) {
        inner *= (size_t)x->dims[i];
    }
    const char *s = x->data;
    for (size_t o = 0; o < outer; o++) {
        for (int32_t k = 0; k < ctx->n_out; k++) {
            size_t blk = (size_t)sizes[k] * inner;
            if (ctx->out[k] && blk) {
                memcpy((char *)ctx->out[k]->data + o * blk, s, blk);
            }
            s += blk;
        }
    }
    return TFMQ_OK;
}
