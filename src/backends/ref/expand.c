/* expand.c: Expand reference kernel: a strided gather with stride 0 along broadcast dims (and
 * along the leading dims the input does not have). */
#include "backends/ref/ref_shape_util.h"

tfmq_status tq_ref_expand(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0];
    tq_tensor *y = ctx->out[0];
    int64_t xs[TQ_MAX_RANK], src_s[TQ_MAX_RANK];
    size_t es;
    tfmq_status st = tq_ref_shape_verify(ctx, &es);
    if (st != TFMQ_OK) {
        return st;
    }
    tq_ref_shape_strides(x, xs);
    for (int32_t i = 0; i < y->rank; i++) {
        int32_t j = i - (y->rank - x->rank);
        src_s[i] = j < 0 || x->dims[j] == 1 ? 0 : xs[j];
    }
    tq_ref_strided_copy(y->data, x->data, es, y->rank, y->dims, src_s, 0);
    return TFMQ_OK;
}
