/* gather.c: Gather reference kernel: out[outer, j, inner] = data[outer, idx[j], inner], with
 * negative indices counted from the end and out-of-range ones rejected. */
#include <string.h>

#include "backends/ref/ref_shape_util.h"

tfmq_status tq_ref_gather(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0], *idx = ctx->in[1];
    tq_tensor *y = ctx->out[0];
    int32_t ax;
    size_t es;
    tfmq_status st = tq_ref_shape_verify(ctx, &es);
    if (st == TFMQ_OK) {
        st = tq_gather_axis(ctx, x->rank, &ax);
    }
    if (st != TFMQ_OK) {
        return st;
    }
    if (tq_tensor_numel(y) == 0) {
        return TFMQ_OK;
    }
    size_t outer = 1, inner = es, n_idx = tq_tensor_numel(idx);
    int64_t n_ax = x->dims[ax];
    for (int32_t i = 0; i < ax; i++) {
        outer *= (size_t)x->dims[i];
    }
    for (int32_t i = ax + 1; i < x->rank; i++) {
        inner *= (size_t)x->dims[i];
    }
    /* check every index once before copying anything */
    for (size_t j = 0; j < n_idx; j++) {
        int64_t v = tq_load_i64(idx->dtype, idx->data, j);
        if (v < -n_ax || v >= n_ax) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "index %lld is out of range [%lld, %lld)",
                              (long long)v, (long long)-n_ax, (long long)n_ax);
        }
    }
    char *d = y->data;
    const char *s = x->data;
    for (size_t o = 0; o < outer; o++) {
        for (size_t j = 0; j < n_idx; j++) {
            int64_t v = tq_load_i64(idx->dtype, idx->data, j);
            v = v < 0 ? v + n_ax : v;
            memcpy(d, s + (o * (size_t)n_ax + (size_t)v) * inner, inner);
            d += inner;
        }
    }
    return TFMQ_OK;
}
