/* conv.c: reference Conv for float32/float64/float16/bfloat16 with 1-3 spatial dims, groups,
 * dilations, strides and pads. Per (batch, group): the input block is converted to double, then
 * for chunks of output positions an im2col block is built (skipped for pointwise convolutions)
 * and multiplied by 4 output channels at a time, accumulating in double. */
#include <string.h>

#include "backends/ref/ref_compute_util.h"

#define CONV_CHUNK 512 /* output positions per im2col block */
#define CONV_TILE 4    /* output channels per pass over a block */

typedef struct conv_geom {
    tq_rc_spatial sp;  /* 3-D normalised */
    int64_t n, c, m, cg, mg, groups;
    size_t in_sp, out_sp, k_sp; /* spatial sizes: input, output, kernel */
    size_t chunk;               /* im2col block width */
    bool pointwise;             /* 1x1 kernel, stride 1, no pads: the input is its own im2col */
} conv_geom;

static tfmq_status conv_geom_init(const tq_op_ctx *ctx, conv_geom *g)
{
    tq_rc_spatial sp;
    tfmq_status st = tq_rc_spatial_init(ctx, TQ_RC_SP_CONV, &sp);
    if (st != TFMQ_OK) {
        return st;
    }
    tq_rc_spatial_to3d(&sp, &g->sp);
    const tq_tensor *x = ctx->in[0];
    g->n = x->dims[0];
    g->c = x->dims[1];
    g->m = sp.out_channels;
    g->groups = sp.group;
    g->cg = g->c / g->groups;
    g->mg = g->m / g->groups;
    g->in_sp = g->out_sp = g->k_sp = 1;
    g->pointwise = true;
    for (int i = 0; i < 3; i++) {
        g->in_sp *= (size_t)g->sp.in[i];
        g->out_sp *= (size_t)g->sp.out[i];
        g->k_sp *= (size_t)g->sp.k[i];
        if (g->sp.k[i] != 1 || g->sp.stride[i] != 1 || g->sp.pad_b[i] != 0 ||
            g->sp.pad_e[i] != 0) {
            g->pointwise = false;
        }
    }
    g->chunk = g->out_sp < CONV_CHUNK ? g->out_sp : CONV_CHUNK;
    if (g->chunk == 0) {
        g->chunk = 1;
    }
    return TFMQ_OK;
}

static size_t conv_scratch_of(const conv_geom *g)
{
    size_t ckk = tq_rc_mul((size_t)g->cg, g->k_sp);
    size_t b = tq_rc_f64_bytes(tq_rc_mul((size_t)g->cg, g->in_sp));        /* input block */
    if (!g->pointwise) {
        b = tq_rc_add(b, tq_rc_f64_bytes(tq_rc_mul(ckk, g->chunk)));       /* im2col block */
    }
    b = tq_rc_add(b, tq_rc_f64_bytes(tq_rc_mul(ckk, CONV_TILE)));          /* weights */
    b = tq_rc_add(b, tq_rc_f64_bytes(tq_rc_mul(g->chunk, CONV_TILE)));     /* accumulators */
    b = tq_rc_add(b, tq_rc_f64_bytes(tq_rc_mul((size_t)g->sp.k[2], 2)));   /* x ranges */
    return b;
}

size_t tq_rc_conv_scratch(const tq_op_ctx *ctx)
{
    for (int32_t i = 0; i < 2; i++) {
        if (!tq_tensor_shape_known(ctx->in[i])) {
            return 0;
        }
    }
    if (!tq_tensor_shape_known(ctx->out[0])) {
        return 0;
    }
    conv_geom g;
    if (conv_geom_init(ctx, &g) != TFMQ_OK) {
        tq_clear_error();
        return 0;
    }
    return conv_scratch_of(&g);
}

static inline void row1(double *restrict a0, const double *restrict r, size_t len, double w0)
{
    for (size_t j = 0; j < len; j++) {
        a0[j] += w0 * r[j];
    }
}

/* Valid output x range [lo, hi) for kernel column kw: 0 <= ox*s - pad + kw*d < in. */
static void conv_x_range(int64_t out, int64_t in, int64_t s, int64_t d, int64_t pad, int64_t kw,
                         int64_t *lo, int64_t *hi)
{
    int64_t off = kw * d - pad; /* ix = ox*s + off */
    int64_t l = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t h = in - off <= 0 ? 0 : (in - off - 1) / s + 1;
    if (h > out) {
        h = out;
    }
    if (l > h) {
        l = h;
    }
    *lo = l;
    *hi = h;
}

/* im2col for output positions [p0, p0 + len): col[k][j], k = (ic, kd, kh, kw). */
static void conv_im2col(const conv_geom *g, const double *xb, const int64_t *xr_lo,
                        const int64_t *xr_hi, size_t p0, size_t len, double *col)
{
    const tq_rc_spatial *sp = &g->sp;
    const int64_t OH = sp->out[1], OW = sp->out[2];
    const int64_t ID = sp->in[0], IH = sp->in[1], IW = sp->in[2];
    const int64_t KD = sp->k[0], KH = sp->k[1], KW = sp->k[2];
    size_t k = 0;
    for (int64_t ic = 0; ic < g->cg; ic++) {
        for (int64_t kd = 0; kd < KD; kd++) {
            for (int64_t kh = 0; kh < KH; kh++) {
                for (int64_t kw = 0; kw < KW; kw++, k++) {
                    double *dst = col + k * g->chunk;
                    int64_t off = kw * sp->dil[2] - sp->pad_b[2];
                    size_t p = p0, end = p0 + len;
                    int64_t ox = (int64_t)(p % (size_t)OW);
                    int64_t oh = (int64_t)((p / (size_t)OW) % (size_t)OH);
                    int64_t od = (int64_t)(p / ((size_t)OW * (size_t)OH));
                    while (p < end) {
                        size_t run = (size_t)(OW - ox);
                        if (run > end - p) {
                            run = end - p;
                        }
                        int64_t id = od * sp->stride[0] - sp->pad_b[0] + kd * sp->dil[0];
                        int64_t ih = oh * sp->stride[1] - sp->pad_b[1] + kh * sp->dil[1];
                        double *d = dst + (p - p0);
                        if (id < 0 || id >= ID || ih < 0 || ih >= IH) {
                            memset(d, 0, run * sizeof(double));
                        } else {
                            const double *xr = xb + ((ic * ID + id) * IH + ih) * IW;
                            int64_t lo = xr_lo[kw], hi = xr_hi[kw];
                            int64_t s = sp->stride[2];
                            for (size_t j = 0; j < run; j++) {
                                int64_t x = ox + (int64_t)j;
                                d[j] = (x >= lo && x < hi) ? xr[x * s + off] : 0.0;
                            }
                        }
                        p += run;
                        ox += (int64_t)run;
                        if (ox == OW) {
                            ox = 0;
                            if (++oh == OH) {
                                oh = 0;
                                od++;
                            }
                        }
                    }
                }
            }
        }
    }
}

tfmq_status tq_ref_conv(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0], *w = ctx->in[1], *b = ctx->in[2];
    tq_tensor *y = ctx->out[0];
    conv_geom g;
    tfmq_status st = conv_geom_init(ctx, &g);
    if (st != TFMQ_OK) {
        return st;
    }
    if (y->rank != x->rank || y->dims[0] != g.n || y->dims[1] != g.m) {
        return tq_op_fail(ctx, TFMQ_ERR_INTERNAL, "output shape does not match the inputs");
    }
    for (int32_t i = 0; i < x->rank - 2; i++) {
        if (y->dims[2 + i] != g.sp.out[3 - (x->rank - 2) + i]) {
            return tq_op_fail(ctx, TFMQ_ERR_INTERNAL, "output shape does not match the inputs");
        }
    }
    if (w->dims[0] != g.m || (b && (b->rank != 1 || b->dims[0] != g.m))) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "weight or bias shape mismatch");
    }
    if (g.n == 0 || g.m == 0 || g.out_sp == 0) {
        return TFMQ_OK;
    }
    size_t need = conv_scratch_of(&g), owned;
    void *scratch;
    if ((st = tq_rc_scratch_get(ctx, need, &scratch, &owned)) != TFMQ_OK) {
        return st;
    }
    const size_t ckk = (size_t)g.cg * g.k_sp, ch = g.chunk;
    char *sb = scratch;
    double *xb = (double *)sb;
    sb += tq_rc_f64_bytes((size_t)g.cg * g.in_sp);
    double *col = NULL;
    if (!g.pointwise) {
        col = (double *)sb;
        sb += tq_rc_f64_bytes(ckk * ch);
    }
    double *wt = (double *)sb;
    sb += tq_rc_f64_bytes(ckk * CONV_TILE);
    double *acc = (double *)sb;
    sb += tq_rc_f64_bytes(ch * CONV_TILE);
    int64_t *xr_lo = (int64_t *)sb, *xr_hi = xr_lo + g.sp.k[2];
    for (int64_t kw = 0; kw < g.sp.k[2]; kw++) {
        conv_x_range(g.sp.out[2], g.sp.in[2], g.sp.stride[2], g.sp.dil[2], g.sp.pad_b[2], kw,
                     &xr_lo[kw], &xr_hi[kw]);
    }

    for (int64_t n = 0; n < g.n; n++) {
        for (int64_t gr = 0; gr < g.groups; gr++) {
            size_t x_off = (size_t)(n * g.c + gr * g.cg) * g.in_sp;
            tq_rc_load_f64(x->dtype, x->data, x_off, (size_t)g.cg * g.in_sp, xb);
            for (size_t p0 = 0; p0 < g.out_sp; p0 += ch) {
                size_t len = g.out_sp - p0 < ch ? g.out_sp - p0 : ch;
                const double *cb;
                size_t ldc;
                if (g.pointwise) {
                    cb = xb + p0;
                    ldc = g.in_sp;
                } else {
                    conv_im2col(&g, xb, xr_lo, xr_hi, p0, len, col);
                    cb = col;
                    ldc = ch;
                }
                for (int64_t oc0 = 0; oc0 < g.mg; oc0 += CONV_TILE) {
                    int64_t nt = g.mg - oc0 < CONV_TILE ? g.mg - oc0 : CONV_TILE;
                    int64_t oc_abs = gr * g.mg + oc0;
                    tq_rc_load_f64(w->dtype, w->data, (size_t)oc_abs * ckk, (size_t)nt * ckk, wt);
                    memset(acc, 0, (size_t)nt * ch * sizeof(double));
                    if (nt == CONV_TILE) {
                        for (size_t k = 0; k < ckk; k++) {
                            tq_ref_row4_axpy(acc, acc + ch, acc + 2 * ch, acc + 3 * ch, cb + k * ldc, len,
                                 wt[k], wt[ckk + k], wt[2 * ckk + k], wt[3 * ckk + k]);
                        }
                    } else {
                        for (int64_t t = 0; t < nt; t++) {
                            for (size_t k = 0; k < ckk; k++) {
                                row1(acc + (size_t)t * ch, cb + k * ldc, len,
                                     wt[(size_t)t * ckk + k]);
                            }
                        }
                    }
                    for (int64_t t = 0; t < nt; t++) {
                        double *a = acc + (size_t)t * ch;
                        if (b) {
                            double bv = tq_load_f64(b->dtype, b->data, (size_t)(oc_abs + t));
                            for (size_t j = 0; j < len; j++) {
                                a[j] += bv;
                            }
                        }
                        size_t y_off = (size_t)(n * g.m + oc_abs + t) * g.out_sp + p0;
                        tq_rc_store_f64(y->dtype, y->data, y_off, len, a);
                    }
                }
            }
        }
    }
    tq_rc_scratch_release(ctx, scratch, owned);
    return TFMQ_OK;
}
