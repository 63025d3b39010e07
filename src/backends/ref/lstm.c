/* lstm.c: reference LSTM (ONNX gate order i, o, f, c; peepholes P in order i, o, f) in double:
 * forward, reverse and bidirectional, per-batch sequence_lens (outputs past a sequence's end
 * are zero), clip on gate pre-activations, input_forget (f = 1 - i), both layouts. */
#include <string.h>

#include "backends/ref/ref_compute_util.h"

static double lstm_clip(double v, double clip)
{
    if (clip > 0.0) {
        v = v < -clip ? -clip : (v > clip ? clip : v);
    }
    return v;
}

tfmq_status tq_ref_lstm(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0], *w = ctx->in[1], *r = ctx->in[2], *bias = ctx->in[3];
    const tq_tensor *sl = ctx->in[4], *h0 = ctx->in[5], *c0 = ctx->in[6], *pp = ctx->in[7];
    tq_tensor *y = ctx->out[0], *yh = ctx->out[1], *yc = ctx->out[2];
    tq_rc_rnn_attrs a;
    tq_rc_rnn_dims d;
    tfmq_status st;
    if ((st = tq_rc_rnn_attrs_read(ctx, 3, &a)) != TFMQ_OK ||
        (st = tq_rc_rnn_dims_get(ctx, 4, &a, &d)) != TFMQ_OK) {
        return st;
    }
    const size_t S = (size_t)d.seq, B = (size_t)d.batch, I = (size_t)d.input;
    const size_t H = (size_t)d.hidden, G = 4 * H, ND = (size_t)a.n_dirs;
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
    char *sb = scratch;
    double *wd = (double *)sb;
    sb += tq_rc_f64_bytes(G * I);
    double *rd = (double *)sb;
    sb += tq_rc_f64_bytes(G * H);
    double *bd = (double *)sb;
    sb += tq_rc_f64_bytes(G * 2);
    double *pd = (double *)sb;
    sb += tq_rc_f64_bytes(3 * H);
    double *hs = (double *)sb;
    sb += tq_rc_f64_bytes(B * H);
    double *cs = (double *)sb;
    sb += tq_rc_f64_bytes(B * H);
    double *gates = (double *)sb;
    sb += tq_rc_f64_bytes(G * 2);
    double *xr = (double *)sb;
    sb += tq_rc_f64_bytes(I);

    if (y && tq_tensor_numel(y) > 0) {
        memset(y->data, 0, tq_tensor_numel(y) * tq_dtype_size(y->dtype));
    }
    const bool lay = a.layout != 0;
    for (size_t dir = 0; dir < ND; dir++) {
        const bool rev = dir == 1 || a.reverse;
        const tq_rc_act_fn *fa = &a.acts[dir * 3], *ga = &a.acts[dir * 3 + 1],
                           *ha = &a.acts[dir * 3 + 2];
        tq_rc_load_f64(w->dtype, w->data, dir * G * I, G * I, wd);
        tq_rc_load_f64(r->dtype, r->data, dir * G * H, G * H, rd);
        if (bias) {
            tq_rc_load_f64(bias->dtype, bias->data, dir * 2 * G, 2 * G, bd);
        } else {
            memset(bd, 0, 2 * G * sizeof(double));
        }
        if (pp) {
            tq_rc_load_f64(pp->dtype, pp->data, dir * 3 * H, 3 * H, pd);
        } else {
            memset(pd, 0, 3 * H * sizeof(double));
        }
        for (size_t b = 0; b < B; b++) {
            size_t hoff = lay ? (b * ND + dir) * H : (dir * B + b) * H;
            double *h = hs + b * H, *c = cs + b * H;
            if (h0) {
                tq_rc_load_f64(h0->dtype, h0->data, hoff, H, h);
            } else {
                memset(h, 0, H * sizeof(double));
            }
            if (c0) {
                tq_rc_load_f64(c0->dtype, c0->data, hoff, H, c);
            } else {
                memset(c, 0, H * sizeof(double));
            }
            size_t len = sl ? (size_t)tq_load_i64(sl->dtype, sl->data, b) : S;
            for (size_t s = 0; s < len; s++) {
                size_t t = rev ? len - 1 - s : s;
                size_t xoff = lay ? (b * S + t) * I : (t * B + b) * I;
                tq_rc_load_f64(x->dtype, x->data, xoff, I, xr);
                for (size_t g = 0; g < G; g++) {
                    gates[g] = tq_rc_dot_f64(wd + g * I, xr, I) +
                               tq_rc_dot_f64(rd + g * H, h, H) + bd[g] + bd[G + g];
                }
                /* gates: i = [0, H), o = [H, 2H), f = [2H, 3H), c = [3H, 4H) */
                for (size_t j = 0; j < H; j++) {
                    double gi = lstm_clip(gates[j] + pd[j] * c[j], a.clip);
                    double it = tq_rc_act_apply(fa, gi);
                    double ft;
                    if (a.input_forget) {
                        ft = 1.0 - it;
                    } else {
                        double gf = lstm_clip(gates[2 * H + j] + pd[2 * H + j] * c[j], a.clip);
                        ft = tq_rc_act_apply(fa, gf);
                    }
                    double ct = tq_rc_act_apply(ga, lstm_clip(gates[3 * H + j], a.clip));
                    double cn = ft * c[j] + it * ct;
                    double go = lstm_clip(gates[H + j] + pd[H + j] * cn, a.clip);
                    double ot = tq_rc_act_apply(fa, go);
                    c[j] = cn;
                    gates[G + j] = ot * tq_rc_act_apply(ha, cn); /* new h, kept apart */
                }
                memcpy(h, gates + G, H * sizeof(double));
                if (y) {
                    size_t yoff = lay ? ((b * S + t) * ND + dir) * H : ((t * ND + dir) * B + b) * H;
                    tq_rc_store_f64(y->dtype, y->data, yoff, H, h);
                }
            }
            if (yh) {
                tq_rc_store_f64(yh->dtype, yh->data, hoff, H, h);
            }
            if (yc) {
                tq_rc_store_f64(yc->dtype, yc->data, hoff, H, c);
            }
        }
    }
    tq_rc_scratch_release(ctx, scratch, owned);
    return TFMQ_OK;
}
