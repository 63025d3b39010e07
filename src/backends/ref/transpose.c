/* transpose.c: Transpose reference kernel: a strided gather where output axis i walks input
 * axis perm[i]. Any dtype (copied by element size). */
#include "backends/ref/ref_shape_util.h"

tfmq_status tq_ref_transpose(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0];
    tq_tensor *y = ctx->out[0];
    int32_t perm[TQ_MAX_RANK];
    int64_t in_s[TQ_MAX_RANK], src_s[TQ_MAX_RANK];
    size_t es;
    tfmq_status st = tq_ref_shape_verify(ctx, &es);
    if (st == TFMQ_OK) {
        st = tq_transpose_perm(ctx, x->rank, perm);
    }
    if (st != TFMQ_OK) {
        return st;
    }
    tq_ref_shape_strides(x, in_s);
    for (int32_t i = 0; i < x->rank; i++) {
        src_s[i] = in_s[perm[i]];
    }
    tq_ref_strided_copy(y->data, x->data, es, y->rank, y->dims, src_s, 0);
    return TFMQ_OK;
}
