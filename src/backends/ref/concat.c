/* concat.c: Concat reference kernel: for each index of the dims before the axis, the inputs'
 * blocks (their axis length times the inner size) are copied one after another. */
#include <string.h>

#include "backends/ref/ref_shape_util.h"

tfmq_status tq_ref_concat(tq_op_ctx *ctx)
{
    tq_tensor *y = ctx->out[0];
    int64_t axis;
    int32_t ax;
    size_t es;
    tfmq_status st = tq_ref_shape_verify(ctx, &es);
    if (st == TFMQ_OK) {
        st = tq_attr_int(ctx->node, "axis", 0, &axis);
    }
    if (st == TFMQ_OK) {
        st = tq_norm_axis(ctx, axis, y->rank, false, &ax);
    }
    if (st != TFMQ_OK) {
        return st;
    }
    if (tq_tensor_numel(y) == 0) {
        return TFMQ_OK;
    }
    size_t outer = 1, inner = es;
    for (int32_t i = 0; i < ax; i++) {
        outer *= (size_t)y->dims[i];
    }
    for (int32_t i = ax + 1; i < y->rank; i++) {
        inner *= (size_t)y->dims[i];
    }
    char *d = y->data;
    for (size_t o = 0; o < outer; o++) {
        for (int32_t k = 0; k < ctx->n_in; k++) {
            const tq_tensor *t = ctx->in[k];
            size_t blk = (size_t)t->dims[ax] * inner;
            if (blk) {
                memcpy(d, (const char *)t->data + o * blk, blk);
            }
            d += blk;
        }
    }
    return TFMQ_OK;
}
