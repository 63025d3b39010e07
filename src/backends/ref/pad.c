/* pad.c: Pad reference kernel (constant, reflect, edge, wrap). Every output element maps each
 * coordinate back into the input (numpy.pad semantics: reflect repeats for pads longer than the
 * axis); in constant mode a coordinate outside the input selects the constant value. */
#include <string.h>

#include "backends/ref/ref_shape_util.h"

/* Input coordinate for output coordinate o on an axis of d elements (d > 0 unless constant), or
 * -1 for "outside" in constant mode. */
static int64_t tq_pad_map(tq_pad_mode mode, int64_t o, int64_t begin, int64_t d)
{
    int64_t c = o - begin;
    if (c >= 0 && c < d) {
        return c;
    }
    switch (mode) {
    case TQ_PAD_CONSTANT:
        return -1;
    case TQ_PAD_EDGE:
        return c < 0 ? 0 : d - 1;
    case TQ_PAD_WRAP: {
        int64_t m = c % d;
        return m < 0 ? m + d : m;
    }
    case TQ_PAD_REFLECT: {
        if (d == 1) {
            return 0;
        }
        int64_t period = 2 * (d - 1), m = c % period;
        m = m < 0 ? m + period : m;
        return m >= d ? period - m : m;
    }
    }
    return -1;
}

tfmq_status tq_ref_pad(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0];
    tq_tensor *y = ctx->out[0];
    const tq_tensor *cv = ctx->n_in > 2 ? ctx->in[2] : NULL;
    tq_pad_params p;
    int64_t xs[TQ_MAX_RANK], coord[TQ_MAX_RANK] = {0};
    unsigned char value[16] = {0};
    size_t es;
    tfmq_status st = tq_ref_shape_verify(ctx, &es);
    if (st == TFMQ_OK) {
        st = tq_pad_params_get(ctx, &p);
    }
    if (st != TFMQ_OK) {
        return st;
    }
    if (es > sizeof(value)) {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "element size %zu", es);
    }
    if (cv) {
        memcpy(value, cv->data, es); /* shape inference checked dtype and non-emptiness */
    } else {
        tq_store_f64(x->dtype, value, 0, p.value);
    }
    size_t n = tq_tensor_numel(y);
    if (n == 0) {
        return TFMQ_OK;
    }
    if (tq_tensor_numel(x) == 0 && p.mode != TQ_PAD_CONSTANT) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "cannot pad an empty tensor in this mode");
    }
    tq_ref_shape_strides(x, xs);
    char *d = y->data;
    const char *s = x->data;
    for (size_t e = 0; e < n; e++) {
        int64_t off = 0;
        bool inside = true;
        for (int32_t i = 0; i < x->rank && inside; i++) {
            int64_t c = tq_pad_map(p.mode, coord[i], p.begin[i], x->dims[i]);
            inside = c >= 0;
            off += c * xs[i];
        }
        tq_ref_copy_elem(d + e * es, inside ? s + (size_t)off * es : (const char *)value, es);
        for (int32_t k = y->rank - 1; k >= 0; k--) {
            if (++coord[k] < y->dims[k]) {
                break;
            }
            coord[k] = 0;
        }
    }
    return TFMQ_OK;
}
