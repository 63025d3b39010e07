/* gru.c: reference GRU (ONNX gate order z, r, h) in double: forward, reverse, bidirectional,
 * per-batch sequence_lens (outputs past a sequence's end are zero), clip, linear_before_reset
 * and both layouts. */
#include <string.h>

#include "backends/ref/ref_compute_util.h"

static double gru_clip(double v, double clip)
{
    if (clip > 0.0) {
        v = v < -clip ? -clip : (v > clip ? clip : v);
    }
    return v;
}

tfmq_status tq_ref_gru(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0], *w = ctx->in[1], *r = ctx->in[2], *bias = ctx->in[3];
    const tq_tensor *sl = ctx->in[4], *h0 = ctx->in[5];
    tq_tensor *y = ctx->out[0], *yh = ctx->out[1];
    tq_rc_rnn_attrs a;
    tq_rc_rnn_dims d;
    tfmq_status st;
    if ((st = tq_rc_rnn_attrs_read(ctx, 2, &a)) != TFMQ_OK ||
        (st = tq_rc_rnn_dims_get(ctx, 3, &a, &d)) != TFMQ_OK) {
        return st;
    }
    const size_t S = (size_t)d.seq, B = (size_t)d.batch, I = (size_t)d.input;
    const size_t H = (size_t)d.hidden, G = 3 * H, ND = (size_t)a.n_dirs;
    if (y && tq_tensor_numel(y) != S * ND * B * H) {
        return tq_op_fail(ctx, TFMQ_ERR_INTERNAL, "Y has the wrong size");
    }
    for (size_t b = 0; sl && b < B; b++) {
        int64_t len = tq_load_i64(sl->dtype, sl->data, b);
        if (len < 0 || (size_t)len > S) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "sequence_lens[%zu] = %lld invalid", b,
                              (long long)len);
        }
    }
    void *scratch;
    size_t owned;
    if ((st = tq_rc_scratch_get(ctx, tq_rc_rnn_scratch(ctx), &scratch, &owned)) != TFMQ_OK) {
        return st;
    }
    /* same layout as tq_rc_rnn_scratch: W, R, biases, P (unused), h, c (unused), gates, x, tmp */
    char *sb = scratch;
    double *wd = (double *)sb;
    sb += tq_rc_f64_bytes(G * I);
    double *rd = (double *)sb;
    sb += tq_rc_f64_bytes(G * H);
    double *bd = (double *)sb;
    sb += tq_rc_f64_bytes(G * 2);
    sb += tq_rc_f64_bytes(3 * H);
    double *hs = (double *)sb;
    sb += tq_rc_f64_bytes(B * H);
    sb += tq_rc_f64_bytes(B * H);
    double *gx = (double *)sb; /* gx[G] then gh[G] */
    double *gh = gx + G;
    sb += tq_rc_f64_bytes(G * 2);
    double *xr = (double *)sb;
    sb += tq_rc_f64_bytes(I);
    double *tmp = (double *)sb;

    if (y && tq_tensor_numel(y) > 0) {
        memset(y->data, 0, tq_tensor_numel(y) * tq_dtype_size(y->dtype));
    }
    const bool lay = a.layout != 0;
    for (size_t dir = 0; dir < ND; dir++) {
        const bool rev = dir == 1 || a.reverse;
        const tq_rc_act_fn *fa = &a.acts[dir * 2], *ga = &a.acts[dir * 2 + 1];
        tq_rc_load_f64(w->dtype, w->data, dir * G * I, G * I, wd);
        tq_rc_load_f64(r->dtype, r->data, dir * G * H, G * H, rd);
        if (bias) {
            tq_rc_load_f64(bias->dtype, bias->data, dir * 2 * G, 2 * G, bd);
        } else {
            memset(bd, 0, 2 * G * sizeof(double));
        }
        const double *wb = bd, *rb = bd + G;
        for (size_t b = 0; b < B; b++) {
            size_t hoff = lay ? (b * ND + dir) * H : (dir * B + b) * H;
            double *h = hs + b * H;
            if (h0) {
                tq_rc_load_f64(h0->dtype, h0->data, hoff, H, h);
            } else {
                memset(h, 0, H * sizeof(double));
            }
            size_t len = sl ? (size_t)tq_load_i64(sl->dtype, sl->data, b) : S;
            for (size_t s = 0; s < len; s++) {
                size_t t = rev ? len - 1 - s : s;
                size_t xoff = lay ? (b * S + t) * I : (t * B + b) * I;
                tq_rc_load_f64(x->dtype, x->data, xoff, I, xr);
                for (size_t g = 0; g < G; g++) {
                    gx[g] = tq_rc_dot_f64(wd + g * I, xr, I) + wb[g];
                }
                /* z and r use R h; the candidate uses R (r * h) unless linear_before_reset */
                for (size_t g = 0; g < 2 * H; g++) {
                    gh[g] = tq_rc_dot_f64(rd + g * H, h, H) + rb[g];
                }
                double *zt = tmp; /* reuse gh's z/r slots after activation */
                for (size_t j = 0; j < H; j++) {
                    zt[j] = tq_rc_act_apply(fa, gru_clip(gx[j] + gh[j], a.clip));
                    gh[H + j] = tq_rc_act_apply(fa, gru_clip(gx[H + j] + gh[H + j], a.clip));
                }
                const double *rt = gh + H;
                if (a.linear_before_reset) {
                    for (size_t j = 0; j < H; j++) {
                        double hr = tq_rc_dot_f64(rd + (2 * H + j) * H, h, H) + rb[2 * H + j];
                        gh[2 * H + j] = gx[2 * H + j] + rt[j] * hr;
                    }
                } else {
                    /* r * h into gh[0..H) (z's pre-activation is no longer needed) */
                    for (size_t j = 0; j < H; j++) {
                        gh[j] = rt[j] * h[j];
                    }
                    for (size_t j = 0; j < H; j++) {
                        gh[2 * H + j] =
                            gx[2 * H + j] + tq_rc_dot_f64(rd + (2 * H + j) * H, gh, H) + rb[2 * H + j];
                    }
                }
                for (size_t j = 0; j < H; j++) {
                    double ht = tq_rc_act_apply(ga, gru_clip(gh[2 * H + j], a.clip));
                    h[j] = (1.0 - zt[j]) * ht + zt[j] * h[j];
                }
                if (y) {
                    size_t yoff = lay ? ((b * S + t) * ND + dir) * H : ((t * ND + dir) * B + b) * H;
                    tq_rc_store_f64(y->dtype, y->data, yoff, H, h);
                }
            }
            if (yh) {
                tq_rc_store_f64(yh->dtype, yh->data, hoff, H, h);
            }
        }
    }
    tq_rc_scratch_release(ctx, scratch, owned);
    return TFMQ_OK;
}
