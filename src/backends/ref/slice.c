/* slice.c: Slice reference kernel: a strided gather starting at the clamped starts with the
 * (possibly negative) steps decoded by tq_slice_params_get. */
#include "backends/ref/ref_shape_util.h"

tfmq_status tq_ref_slice(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0];
    tq_tensor *y = ctx->out[0];
    tq_slice_params p;
    int64_t in_s[TQ_MAX_RANK], src_s[TQ_MAX_RANK], off = 0;
    size_t es;
    tfmq_status st = tq_ref_shape_verify(ctx, &es);
    if (st == TFMQ_OK) {
        st = tq_slice_params_get(ctx, &p);
    }
    if (st != TFMQ_OK) {
        return st;
    }
    if (tq_tensor_numel(y) == 0) {
        return TFMQ_OK;
    }
    tq_ref_shape_strides(x, in_s);
    for (int32_t i = 0; i < x->rank; i++) {
        /* a step only matters when it is taken; |step| < dim then, so this cannot overflow */
        src_s[i] = p.count[i] > 1 ? in_s[i] * p.step[i] : 0;
        off += in_s[i] * p.start[i];
    }
    tq_ref_strided_copy(y->data, x->data, es, y->rank, y->dims, src_s, off);
    return TFMQ_OK;
}
