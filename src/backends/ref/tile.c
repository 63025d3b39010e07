/* tile.c: Tile reference kernel. Output axis i of length rep_i * d_i is viewed as two axes
 * (rep_i, d_i) with input strides (0, stride_i), so the whole op is one strided gather over
 * 2 * rank dims. */
#include "backends/ref/ref_shape_util.h"

tfmq_status tq_ref_tile(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0];
    tq_tensor *y = ctx->out[0];
    int64_t xs[TQ_MAX_RANK], dims[TQ_REF_COPY_MAX_DIMS], src_s[TQ_REF_COPY_MAX_DIMS];
    size_t es;
    tfmq_status st = tq_ref_shape_verify(ctx, &es);
    if (st != TFMQ_OK) {
        return st;
    }
    if (tq_tensor_numel(y) == 0) {
        return TFMQ_OK;
    }
    tq_ref_shape_strides(x, xs);
    for (int32_t i = 0; i < x->rank; i++) {
        const int32_t j = 2 * i;
        dims[j] = y->dims[i] / x->dims[i]; /* x->dims[i] > 0: the output is not empty */
        dims[j + 1] = x->dims[i];
        src_s[j] = 0;
        src_s[j + 1] = xs[i];
    }
    tq_ref_strided_copy(y->data, x->data, es, 2 * x->rank, dims, src_s, 0);
    return TFMQ_OK;
}
