/* gather_elements.c: GatherElements reference kernel: out[i] = data[i with i[axis] replaced by
 * indices[i]], walking the indices tensor in row-major order. */
#include "backends/ref/ref_shape_util.h"

tfmq_status tq_ref_gather_elements(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0], *idx = ctx->in[1];
    tq_tensor *y = ctx->out[0];
    int32_t ax;
    size_t es;
    int64_t xs[TQ_MAX_RANK], coord[TQ_MAX_RANK] = {0};
    tfmq_status st = tq_ref_shape_verify(ctx, &es);
    if (st == TFMQ_OK) {
        st = tq_gather_axis(ctx, x->rank, &ax);
    }
    if (st != TFMQ_OK) {
        return st;
    }
    size_t n = tq_tensor_numel(idx);
    int64_t n_ax = x->dims[ax], base = 0; /* base: offset of coord without the axis term */
    tq_ref_shape_strides(x, xs);
    char *d = y->data;
    const char *s = x->data;
    for (size_t e = 0; e < n; e++) {
        int64_t v = tq_load_i64(idx->dtype, idx->data, e);
        if (v < -n_ax || v >= n_ax) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "index %lld is out of range [%lld, %lld)",
                              (long long)v, (long long)-n_ax, (long long)n_ax);
        }
        v = v < 0 ? v + n_ax : v;
        tq_ref_copy_elem(d + e * es, s + (size_t)(base + v * xs[ax]) * es, es);
        for (int32_t k = idx->rank - 1; k >= 0; k--) {
            if (k != ax) {
                base += xs[k];
            }
            if (++coord[k] < idx->dims[k]) {
                break;
            }
            if (k != ax) {
                base -= xs[k] * idx->dims[k];
            }
            coord[k] = 0;
        }
    }
    return TFMQ_OK;
}
