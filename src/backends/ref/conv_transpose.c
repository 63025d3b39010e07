/* conv_transpose.c: reference ConvTranspose for float32/float64/float16/bfloat16 with 1-3
 * spatial dims, groups, dilations, strides, pads (negative pads never occur: a larger requested
 * output is zero-extended at the end). Scatter form: for each output channel a double plane
 * accumulates x[ic] * w[ic][oc] shifted by each kernel tap. */
#include <string.h>

#include "backends/ref/ref_compute_util.h"

typedef struct convt_geom {
    tq_rc_spatial sp;  /* 3-D normalised */
    int64_t n, c, m, cg, mg, groups;
    size_t in_sp, out_sp, k_sp;
} convt_geom;

static tfmq_status convt_geom_init(const tq_op_ctx *ctx, convt_geom *g)
{
    tq_rc_spatial sp;
    tfmq_status st = tq_rc_spatial_init(ctx, TQ_RC_SP_CONV_TRANSPOSE, &sp);
    if (st != TFMQ_OK) {
        return st;
    }
    tq_rc_spatial_to3d(&sp, &g->sp);
    g->n = ctx->in[0]->dims[0];
    g->c = ctx->in[0]->dims[1];
    g->m = sp.out_channels;
    g->groups = sp.group;
    g->cg = g->c / g->groups;
    g->mg = g->m / g->groups;
    g->in_sp = g->out_sp = g->k_sp = 1;
    for (int i = 0; i < 3; i++) {
        g->in_sp *= (size_t)g->sp.in[i];
        g->out_sp *= (size_t)g->sp.out[i];
        g->k_sp *= (size_t)g->sp.k[i];
    }
    return TFMQ_OK;
}

static size_t convt_scratch_of(const convt_geom *g)
{
    size_t b = tq_rc_f64_bytes(tq_rc_mul((size_t)g->cg, g->in_sp));
    return tq_rc_add(b, tq_rc_f64_bytes(g->out_sp));
}

size_t tq_rc_conv_transpose_scratch(const tq_op_ctx *ctx)
{
    if (!tq_tensor_shape_known(ctx->in[0]) || !tq_tensor_shape_known(ctx->in[1]) ||
        !tq_tensor_shape_known(ctx->out[0])) {
        return 0;
    }
    convt_geom g;
    if (convt_geom_init(ctx, &g) != TFMQ_OK) {
        tq_clear_error();
        return 0;
    }
    return convt_scratch_of(&g);
}

tfmq_status tq_ref_conv_transpose(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0], *w = ctx->in[1], *b = ctx->in[2];
    tq_tensor *y = ctx->out[0];
    convt_geom g;
    tfmq_status st = convt_geom_init(ctx, &g);
    if (st != TFMQ_OK) {
        return st;
    }
    int32_t nsp = x->rank - 2;
    bool ok = y->rank == x->rank && y->dims[0] == g.n && y->dims[1] == g.m;
    for (int32_t i = 0; ok && i < nsp; i++) {
        ok = y->dims[2 + i] == g.sp.out[3 - nsp + i];
    }
    if (!ok) {
        return tq_op_fail(ctx, TFMQ_ERR_INTERNAL, "output shape does not match the inputs");
    }
    if (w->dims[0] != g.c || (b && (b->rank != 1 || b->dims[0] != g.m))) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "weight or bias shape mismatch");
    }
    if (g.n == 0 || g.m == 0 || g.out_sp == 0) {
        return TFMQ_OK;
    }
    size_t owned;
    void *scratch;
    if ((st = tq_rc_scratch_get(ctx, convt_scratch_of(&g), &scratch, &owned)) != TFMQ_OK) {
        return st;
    }
    double *xb = scratch;
    double *acc = (double *)((char *)scratch + tq_rc_f64_bytes((size_t)g.cg * g.in_sp));
    const tq_rc_spatial *sp = &g.sp;
    const int64_t ID = sp->in[0], IH = sp->in[1], IW = sp->in[2];
    const int64_t OD = sp->out[0], OH = sp->out[1], OW = sp->out[2];
    const int64_t KD = sp->k[0], KH = sp->k[1], KW = sp->k[2];
    const int64_t sw = sp->stride[2];

    for (int64_t n = 0; n < g.n; n++) {
        for (int64_t gr = 0; gr < g.groups; gr++) {
            tq_rc_load_f64(x->dtype, x->data, (size_t)(n * g.c + gr * g.cg) * g.in_sp,
                           (size_t)g.cg * g.in_sp, xb);
            for (int64_t ocl = 0; ocl < g.mg; ocl++) {
                int64_t oc = gr * g.mg + ocl;
                double bv = b ? tq_load_f64(b->dtype, b->data, (size_t)oc) : 0.0;
                for (size_t i = 0; i < g.out_sp; i++) {
                    acc[i] = bv;
                }
                for (int64_t ic = 0; ic < g.cg; ic++) {
                    /* W[gr*cg + ic][ocl][k...] */
                    size_t w_base = ((size_t)(gr * g.cg + ic) * (size_t)g.mg + (size_t)ocl) *
                                    g.k_sp;
                    const double *xc = xb + (size_t)ic * g.in_sp;
                    for (int64_t kd = 0; kd < KD; kd++) {
                        for (int64_t kh = 0; kh < KH; kh++) {
                            for (int64_t kw = 0; kw < KW; kw++) {
                                double wv = tq_load_f64(w->dtype, w->data,
                                                        w_base + (size_t)((kd * KH + kh) * KW + kw));
                                int64_t offw = kw * sp->dil[2] - sp->pad_b[2];
                                /* ix range with 0 <= ix*sw + offw < OW */
                                int64_t lo = offw >= 0 ? 0 : (-offw + sw - 1) / sw;
                                int64_t hi = OW - offw <= 0 ? 0 : (OW - offw - 1) / sw + 1;
                                if (hi > IW) {
                                    hi = IW;
                                }
                                if (lo >= hi) {
                                    continue;
                                }
                                for (int64_t id = 0; id < ID; id++) {
                                    int64_t od = id * sp->stride[0] - sp->pad_b[0] + kd * sp->dil[0];
                                    if (od < 0 || od >= OD) {
                                        continue;
                                    }
                                    for (int64_t ih = 0; ih < IH; ih++) {
                                        int64_t oh = ih * sp->stride[1] - sp->pad_b[1] +
                                                     kh * sp->dil[1];
                                        if (oh < 0 || oh >= OH) {
                                            continue;
                                        }
                                        const double *xr = xc + (id * IH + ih) * IW;
                                        double *ar = acc + (od * OH + oh) * OW;
                                        for (int64_t ix = lo; ix < hi; ix++) {
                                            ar[ix * sw + offw] += wv * xr[ix];
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                tq_rc_store_f64(y->dtype, y->data, (size_t)(n * g.m + oc) * g.out_sp, g.out_sp,
                                acc);
            }
        }
    }
    tq_rc_scratch_release(ctx, scratch, owned);
    return TFMQ_OK;
}
