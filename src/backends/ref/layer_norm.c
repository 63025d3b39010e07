/* layer_norm.c: reference LayerNormalization: for each index of the dims before `axis`, mean
 * and population variance over the rest in double (two passes), then
 * y = (x - mean) * inv_std * scale + B with Scale and B broadcast to X (numpy rules). */
#include <math.h>

#include "backends/ref/ref_compute_util.h"

#define LN_CHUNK 256

/* element strides of p broadcast to x's shape (0 along broadcast dims) */
static void ln_bcast_strides(const tq_tensor *x, const tq_tensor *p, size_t *st)
{
    size_t s = 1;
    for (int32_t d = x->rank - 1; d >= 0; d--) {
        int32_t pd = d - (x->rank - p->rank);
        if (pd < 0 || p->dims[pd] == 1) {
            st[d] = 0;
        } else {
            st[d] = s;
        }
        if (pd >= 0) {
            s *= (size_t)p->dims[pd];
        }
    }
}

tfmq_status tq_ref_layer_norm(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0], *sc = ctx->in[1], *bi = ctx->in[2];
    tq_tensor *y = ctx->out[0], *om = ctx->out[1], *oi = ctx->out[2];
    tfmq_status st;
    int64_t axis;
    float eps_f;
    if ((st = tq_attr_int(ctx->node, "axis", -1, &axis)) != TFMQ_OK ||
        (st = tq_attr_float(ctx->node, "epsilon", 1e-5f, &eps_f)) != TFMQ_OK) {
        return st;
    }
    int32_t ax;
    if ((st = tq_norm_axis(ctx, axis, x->rank, false, &ax)) != TFMQ_OK) {
        return st;
    }
    const tq_tensor *ps[2] = {sc, bi};
    for (int32_t i = 0; i < 2; i++) {
        const tq_tensor *p = ps[i];
        if (!p) {
            continue;
        }
        if (p->rank > x->rank) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "scale or bias rank too large");
        }
        for (int32_t d = 0; d < p->rank; d++) {
            int64_t pd = p->dims[d], xd = x->dims[x->rank - p->rank + d];
            if (pd != 1 && pd != xd) {
                return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "scale or bias does not broadcast");
            }
        }
    }
    size_t s_st[TQ_MAX_RANK] = {0}, b_st[TQ_MAX_RANK] = {0};
    ln_bcast_strides(x, sc, s_st);
    if (bi) {
        ln_bcast_strides(x, bi, b_st);
    }
    size_t outer = 1, inner = 1;
    for (int32_t d = 0; d < x->rank; d++) {
        if (d < ax) {
            outer *= (size_t)x->dims[d];
        } else {
            inner *= (size_t)x->dims[d];
        }
    }
    double buf[LN_CHUNK];
    int64_t idx[TQ_MAX_RANK] = {0};
    size_t so = 0, bo = 0; /* scale/bias offsets of the current element */
    const double eps = (double)eps_f;
    for (size_t o = 0; o < outer; o++) {
        size_t base = o * inner;
        double s = 0.0, s2 = 0.0;
        for (size_t i = 0; i < inner; i += LN_CHUNK) {
            size_t len = inner - i < LN_CHUNK ? inner - i : LN_CHUNK;
            tq_rc_load_f64(x->dtype, x->data, base + i, len, buf);
            for (size_t j = 0; j < len; j++) {
                s += buf[j];
            }
        }
        double m = inner ? s / (double)inner : 0.0;
        for (size_t i = 0; i < inner; i += LN_CHUNK) {
            size_t len = inner - i < LN_CHUNK ? inner - i : LN_CHUNK;
            tq_rc_load_f64(x->dtype, x->data, base + i, len, buf);
            for (size_t j = 0; j < len; j++) {
                s2 += (buf[j] - m) * (buf[j] - m);
            }
        }
        double inv = 1.0 / sqrt((inner ? s2 / (double)inner : 0.0) + eps);
        if (om) {
            tq_store_f64(om->dtype, om->data, o, m);
        }
        if (oi) {
            tq_store_f64(oi->dtype, oi->data, o, inv);
        }
        for (size_t i = 0; i < inner; i += LN_CHUNK) {
            size_t len = inner - i < LN_CHUNK ? inner - i : LN_CHUNK;
            tq_rc_load_f64(x->dtype, x->data, base + i, len, buf);
            for (size_t j = 0; j < len; j++) {
                double v = (buf[j] - m) * inv * tq_load_f64(sc->dtype, sc->data, so);
                if (bi) {
                    v += tq_load_f64(bi->dtype, bi->data, bo);
                }
                buf[j] = v;
                /* advance the element odometer */
                for (int32_t d = x->rank - 1; d >= 0; d--) {
                    so += s_st[d];
                    bo += b_st[d];
                    if (++idx[d] < x->dims[d]) {
                        break;
                    }
                    so -= s_st[d] * (size_t)x->dims[d];
                    bo -= b_st[d] * (size_t)x->dims[d];
                    idx[d] = 0;
                }
            }
            tq_rc_store_f64(y->dtype, y->data, base + i, len, buf);
        }
    }
    return TFMQ_OK;
}
