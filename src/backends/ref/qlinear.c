/* qlinear.c: reference kernels of tfmq.QConv, tfmq.QGemm and tfmq.QAdd, bit-exact to the
 * definition in qlinear.h / docs/QUANTIZATION.md: acc = sum (x_q - x_zp) * (w_q - w_zp[c]) +
 * bias_q[c] exactly (int64, then saturated to int32); y = clamp(round_half_even((double)acc *
 * (double)M[c]) + y_zp) with M[c] = (float)(x_scale * w_scale[c] / y_scale) computed in double.
 * QAdd: y = round_half_even((a_s*(a - a_zp) + b_s*(b - b_zp)) / y_s) + y_zp, all in double. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "backends/ref/qlinear.h"
#include "backends/ref/ref.h"
#include "backends/ref/ref_compute_util.h"

static bool ql_is_q8(tfmq_dtype dt)
{
    return dt == TFMQ_DTYPE_INT8 || dt == TFMQ_DTYPE_UINT8;
}

static void ql_range(tfmq_dtype dt, int32_t *lo, int32_t *hi)
{
    if (dt == TFMQ_DTYPE_INT8) {
        *lo = -128;
        *hi = 127;
    } else {
        *lo = 0;
        *hi = 255;
    }
}

/* Element count when the shape is known, else -1. */
static int64_t ql_numel(const tq_tensor *t)
{
    return tq_tensor_shape_known(t) ? (int64_t)tq_tensor_numel(t) : -1;
}

int32_t tq_ql_requant(int32_t acc, float m, int32_t zp, int32_t lo, int32_t hi)
{
    double v = nearbyint((double)acc * (double)m) + (double)zp;
    if (v < (double)lo) {
        v = (double)lo;
    }
    if (v > (double)hi) {
        v = (double)hi;
    }
    return (int32_t)v;
}

/* q(a) = round_half_even(a / s) + zp, as a double (may be +-inf). */
static double ql_quant_real(float a, float s, int32_t zp)
{
    return nearbyint((double)(a / s)) + (double)zp;
}

tfmq_status tq_ql_bounds(const tq_op_ctx *ctx, tfmq_dtype y_dt, float y_scale, int32_t y_zp,
                         int32_t *lo, int32_t *hi)
{
    const char *act = "";
    tfmq_status st = tq_attr_string(ctx->node, "activation", "", &act);
    if (st != TFMQ_OK) {
        return st;
    }
    ql_range(y_dt, lo, hi);
    if (strcmp(act, "Relu") == 0) {
        if (y_zp > *lo) {
            *lo = y_zp;
        }
    } else if (strcmp(act, "Clip") == 0) {
        float amin, amax;
        if ((st = tq_attr_float(ctx->node, "activation_min", -INFINITY, &amin)) != TFMQ_OK ||
            (st = tq_attr_float(ctx->node, "activation_max", INFINITY, &amax)) != TFMQ_OK) {
            return st;
        }
        double qmin = ql_quant_real(amin, y_scale, y_zp), qmax = ql_quant_real(amax, y_scale, y_zp);
        if (!isnan(qmin) && qmin > (double)*lo) {
            *lo = qmin > (double)*hi ? *hi : (int32_t)qmin;
        }
        if (!isnan(qmax) && qmax < (double)*hi) {
            *hi = qmax < (double)*lo ? *lo : (int32_t)qmax;
        }
    } else if (act[0] != '\0') {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "activation '%s' (expected Relu or Clip)",
                          act);
    }
    return TFMQ_OK;
}

/* A scalar parameter input: dtype `dt` (or, when dt is 0, int8/uint8) with one element. */
static tfmq_status ql_check_scalar(const tq_op_ctx *ctx, int32_t i, tfmq_dtype dt, bool optional)
{
    const tq_tensor *t = ctx->in[i];
    if (!t) {
        return optional ? TFMQ_OK
                        : tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "input %d is required", i);
    }
    if ((dt != 0 && t->dtype != dt) || (dt == 0 && !ql_is_q8(t->dtype))) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "input %d has dtype %s", i,
                          tfmq_dtype_name(t->dtype));
    }
    int64_t n = ql_numel(t);
    if (n >= 0 && n != 1) {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "input %d must be a scalar, has %lld "
                          "elements", i, (long long)n);
    }
    return TFMQ_OK;
}

static tfmq_status ql_check_act(const tq_op_ctx *ctx)
{
    int32_t lo, hi;
    return tq_ql_bounds(ctx, TFMQ_DTYPE_INT8, 1.0f, 0, &lo, &hi);
}

tfmq_status tq_ql_check(const tq_op_ctx *ctx, int64_t n_oc, tfmq_dtype *y_dt_out)
{
    tfmq_status st;
    const tq_tensor *x = ctx->in[TQ_QL_X];
    if ((st = ql_check_scalar(ctx, TQ_QL_X_SCALE, TFMQ_DTYPE_FLOAT32, false)) != TFMQ_OK ||
        (st = ql_check_scalar(ctx, TQ_QL_X_ZP, x->dtype, true)) != TFMQ_OK ||
        (st = ql_check_scalar(ctx, TQ_QL_Y_SCALE, TFMQ_DTYPE_FLOAT32, false)) != TFMQ_OK ||
        (st = ql_check_scalar(ctx, TQ_QL_Y_ZP, (tfmq_dtype)0, true)) != TFMQ_OK) {
        return st;
    }
    const tq_tensor *ws = ctx->in[TQ_QL_W_SCALE], *wz = ctx->in[TQ_QL_W_ZP];
    if (!ws || ws->dtype != TFMQ_DTYPE_FLOAT32 || (wz && wz->dtype != TFMQ_DTYPE_INT8)) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "w_scale must be float32, w_zp int8");
    }
    for (int32_t i = TQ_QL_W_SCALE; i <= TQ_QL_W_ZP; i++) {
        int64_t n = ctx->in[i] ? ql_numel(ctx->in[i]) : -1;
        if (n >= 0 && n != 1 && (n_oc < 0 || n != n_oc)) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG,
                              "input %d has %lld elements; expected 1 or %lld", i, (long long)n,
                              (long long)n_oc);
        }
        if (ctx->in[i] && ctx->in[i]->rank > 1) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "input %d must be 0-D or 1-D", i);
        }
    }
    const tq_tensor *b = ctx->n_in > TQ_QL_BIAS ? ctx->in[TQ_QL_BIAS] : NULL;
    if (b) {
        if (b->dtype != TFMQ_DTYPE_INT32 || (b->rank >= 0 && b->rank != 1) ||
            (b->rank == 1 && b->dims[0] >= 0 && n_oc >= 0 && b->dims[0] != n_oc)) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "bias must be int32 [%lld]",
                              (long long)n_oc);
        }
    }
    if ((st = ql_check_act(ctx)) != TFMQ_OK) {
        return st;
    }
    *y_dt_out = ctx->in[TQ_QL_Y_ZP] ? ctx->in[TQ_QL_Y_ZP]->dtype : TFMQ_DTYPE_UINT8;
    return TFMQ_OK;
}

tfmq_status tq_ql_check_add(const tq_op_ctx *ctx, tfmq_dtype *y_dt_out)
{
    tfmq_status st;
    const tq_tensor *a = ctx->in[0], *b = ctx->in[3];
    if (!a || !b || !ql_is_q8(a->dtype) || !ql_is_q8(b->dtype)) {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "inputs must be int8 or uint8");
    }
    if ((st = ql_check_scalar(ctx, 1, TFMQ_DTYPE_FLOAT32, false)) != TFMQ_OK ||
        (st = ql_check_scalar(ctx, 2, a->dtype, true)) != TFMQ_OK ||
        (st = ql_check_scalar(ctx, 4, TFMQ_DTYPE_FLOAT32, false)) != TFMQ_OK ||
        (st = ql_check_scalar(ctx, 5, b->dtype, true)) != TFMQ_OK ||
        (st = ql_check_scalar(ctx, 6, TFMQ_DTYPE_FLOAT32, false)) != TFMQ_OK ||
        (st = ql_check_scalar(ctx, 7, (tfmq_dtype)0, true)) != TFMQ_OK ||
        (st = ql_check_act(ctx)) != TFMQ_OK) {
        return st;
    }
    *y_dt_out = ctx->in[7] ? ctx->in[7]->dtype : TFMQ_DTYPE_UINT8;
    return TFMQ_OK;
}

/* ---- run-time parameters of QConv / QGemm ---- */
typedef struct ql_params {
    float x_scale, y_scale;
    int32_t x_zp, y_zp;
    const float *w_scale;  /* n_ws entries */
    size_t n_ws;
    const int8_t *w_zp;    /* n_wz entries, or NULL */
    size_t n_wz;
    const int32_t *bias;   /* n_oc entries, or NULL */
    int32_t lo, hi;        /* output clamp (dtype range narrowed by the activation) */
} ql_params;

static int32_t ql_load_q8(tfmq_dtype dt, const void *p, size_t i)
{
    return dt == TFMQ_DTYPE_INT8 ? (int32_t)((const int8_t *)p)[i]
                                 : (int32_t)((const uint8_t *)p)[i];
}

static tfmq_status ql_params_load(const tq_op_ctx *ctx, int64_t n_oc, ql_params *p)
{
    tfmq_dtype ydt;
    tfmq_status st = tq_ql_check(ctx, n_oc, &ydt);
    if (st != TFMQ_OK) {
        return st;
    }
    if (ydt != ctx->out[0]->dtype) {
        return tq_op_fail(ctx, TFMQ_ERR_INTERNAL, "output dtype does not match y_zp");
    }
    const tq_tensor *xz = ctx->in[TQ_QL_X_ZP], *yz = ctx->in[TQ_QL_Y_ZP];
    const tq_tensor *ws = ctx->in[TQ_QL_W_SCALE], *wz = ctx->in[TQ_QL_W_ZP];
    const tq_tensor *b = ctx->n_in > TQ_QL_BIAS ? ctx->in[TQ_QL_BIAS] : NULL;
    p->x_scale = *(const float *)ctx->in[TQ_QL_X_SCALE]->data;
    p->y_scale = *(const float *)ctx->in[TQ_QL_Y_SCALE]->data;
    p->x_zp = xz ? ql_load_q8(xz->dtype, xz->data, 0) : 0;
    p->y_zp = yz ? ql_load_q8(yz->dtype, yz->data, 0) : 0;
    p->w_scale = ws->data;
    p->n_ws = tq_tensor_numel(ws);
    p->w_zp = wz ? wz->data : NULL;
    p->n_wz = wz ? tq_tensor_numel(wz) : 0;
    p->bias = b ? b->data : NULL;
    if (!(p->y_scale > 0.0f) || !isfinite(p->y_scale) || !isfinite(p->x_scale)) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "scales must be finite and y_scale > 0");
    }
    return tq_ql_bounds(ctx, ydt, p->y_scale, p->y_zp, &p->lo, &p->hi);
}

static float ql_mult(const ql_params *p, size_t c)
{
    return tq_ql_multiplier(p->x_scale, p->w_scale[p->n_ws == 1 ? 0 : c], p->y_scale);
}

static int32_t ql_wzp(const ql_params *p, size_t c)
{
    return p->w_zp ? (int32_t)p->w_zp[p->n_wz == 1 ? 0 : c] : 0;
}

static void ql_store(tfmq_dtype dt, void *y, size_t i, int32_t v)
{
    if (dt == TFMQ_DTYPE_INT8) {
        ((int8_t *)y)[i] = (int8_t)v;
    } else {
        ((uint8_t *)y)[i] = (uint8_t)v;
    }
}

/* ---- QConv ---- */
tfmq_status tq_ref_qconv(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[TQ_QL_X], *w = ctx->in[TQ_QL_W];
    tq_tensor *y = ctx->out[0];
    tq_op_ctx c2 = *ctx;
    c2.in[1] = w;
    c2.in[2] = NULL;
    tq_rc_spatial sp0, sp;
    tfmq_status st = tq_rc_spatial_init(&c2, TQ_RC_SP_CONV, &sp0);
    if (st != TFMQ_OK) {
        return st;
    }
    tq_rc_spatial_to3d(&sp0, &sp);
    const int64_t N = x->dims[0], C = x->dims[1], M = sp0.out_channels, G = sp0.group;
    if (G <= 0 || C % G != 0 || M % G != 0 || w->dims[1] * G != C || w->dims[0] != M) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "weight shape does not match the groups");
    }
    bool ok = y->rank == x->rank && y->dims[0] == N && y->dims[1] == M;
    for (int32_t i = 0; ok && i < sp0.n_sp; i++) {
        ok = y->dims[2 + i] == sp0.out[i];
    }
    if (!ok) {
        return tq_op_fail(ctx, TFMQ_ERR_INTERNAL, "output shape does not match the inputs");
    }
    ql_params p;
    if ((st = ql_params_load(ctx, M, &p)) != TFMQ_OK) {
        return st;
    }
    const int64_t cg = C / G, mg = M / G;
    const int64_t ID = sp.in[0], IH = sp.in[1], IW = sp.in[2];
    const int64_t OD = sp.out[0], OH = sp.out[1], OW = sp.out[2];
    const int64_t KD = sp.k[0], KH = sp.k[1], KW = sp.k[2];
    const size_t in_sp = (size_t)(ID * IH * IW), out_sp = (size_t)(OD * OH * OW);
    const size_t ksp = (size_t)(KD * KH * KW), ckk = (size_t)cg * ksp;
    if (N == 0 || M == 0 || out_sp == 0) {
        return TFMQ_OK;
    }
    /* scratch: the (x - x_zp) block of one (batch, group) and one channel's (w - w_zp), int32 */
    void *scratch;
    size_t owned;
    size_t xb_n = (size_t)cg * in_sp;
    if ((st = tq_rc_scratch_get(ctx, tq_rc_mul(tq_rc_add(xb_n, ckk), sizeof(int32_t)), &scratch,
                                &owned)) != TFMQ_OK) {
        return st;
    }
    int32_t *xb = scratch, *wb = xb + xb_n;
    const int8_t *wd = w->data;
    for (int64_t n = 0; n < N; n++) {
        for (int64_t gr = 0; gr < G; gr++) {
            size_t x_off = (size_t)(n * C + gr * cg) * in_sp;
            for (size_t i = 0; i < xb_n; i++) {
                xb[i] = ql_load_q8(x->dtype, x->data, x_off + i) - p.x_zp;
            }
            for (int64_t ocg = 0; ocg < mg; ocg++) {
                const size_t oc = (size_t)(gr * mg + ocg);
                const int32_t wz = ql_wzp(&p, oc);
                for (size_t k = 0; k < ckk; k++) {
                    wb[k] = (int32_t)wd[oc * ckk + k] - wz;
                }
                const float mult = ql_mult(&p, oc);
                const int64_t bias = p.bias ? (int64_t)p.bias[oc] : 0;
                size_t y_off = (size_t)(n * M) * out_sp + oc * out_sp, o = 0;
                for (int64_t od = 0; od < OD; od++) {
                    for (int64_t oh = 0; oh < OH; oh++) {
                        for (int64_t ow = 0; ow < OW; ow++, o++) {
                            int64_t acc = bias;
                            const int64_t d0 = od * sp.stride[0] - sp.pad_b[0];
                            const int64_t h0 = oh * sp.stride[1] - sp.pad_b[1];
                            const int64_t w0 = ow * sp.stride[2] - sp.pad_b[2];
                            for (int64_t ic = 0; ic < cg; ic++) {
                                const int32_t *xc = xb + (size_t)ic * in_sp;
                                const int32_t *wc = wb + (size_t)ic * ksp;
                                for (int64_t kd = 0; kd < KD; kd++) {
                                    int64_t id = d0 + kd * sp.dil[0];
                                    if (id < 0 || id >= ID) {
                                        continue;
                                    }
                                    for (int64_t kh = 0; kh < KH; kh++) {
                                        int64_t ih = h0 + kh * sp.dil[1];
                                        if (ih < 0 || ih >= IH) {
                                            continue;
                                        }
                                        const int32_t *xr = xc + (id * IH + ih) * IW;
                                        const int32_t *wr = wc + (kd * KH + kh) * KW;
                                        int64_t s = 0; /* |x*w| < 2^16, KW < 2^24: no overflow */
                                        for (int64_t kw = 0; kw < KW; kw++) {
                                            int64_t iw = w0 + kw * sp.dil[2];
                                            if (iw >= 0 && iw < IW) {
                                                s += (int64_t)(xr[iw] * wr[kw]);
                                            }
                                        }
                                        acc += s;
                                    }
                                }
                            }
                            ql_store(y->dtype, y->data, y_off + o,
                                     tq_ql_requant(tq_ql_sat32(acc), mult, p.y_zp, p.lo, p.hi));
                        }
                    }
                }
            }
        }
    }
    tq_rc_scratch_release(ctx, scratch, owned);
    return TFMQ_OK;
}

/* ---- QGemm ---- */
tfmq_status tq_ref_qgemm(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[TQ_QL_X], *w = ctx->in[TQ_QL_W];
    tq_tensor *y = ctx->out[0];
    if (w->rank != 2 || x->rank < 1 || x->dims[x->rank - 1] != w->dims[1] ||
        y->rank != x->rank || y->dims[y->rank - 1] != w->dims[0]) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "x, w and y shapes do not match");
    }
    const size_t N = (size_t)w->dims[0], K = (size_t)w->dims[1];
    ql_params p;
    tfmq_status st = ql_params_load(ctx, (int64_t)N, &p);
    if (st != TFMQ_OK) {
        return st;
    }
    const size_t rows = K ? tq_tensor_numel(x) / K : tq_tensor_numel(y) / (N ? N : 1);
    const int8_t *wd = w->data;
    for (size_t i = 0; i < rows; i++) {
        for (size_t j = 0; j < N; j++) {
            const int32_t wz = ql_wzp(&p, j);
            const int8_t *wr = wd + j * K;
            int64_t acc = p.bias ? (int64_t)p.bias[j] : 0;
            if (x->dtype == TFMQ_DTYPE_INT8) {
                const int8_t *xr = (const int8_t *)x->data + i * K;
                for (size_t k = 0; k < K; k++) {
                    acc += (int64_t)(((int32_t)xr[k] - p.x_zp) * ((int32_t)wr[k] - wz));
                }
            } else {
                const uint8_t *xr = (const uint8_t *)x->data + i * K;
                for (size_t k = 0; k < K; k++) {
                    acc += (int64_t)(((int32_t)xr[k] - p.x_zp) * ((int32_t)wr[k] - wz));
                }
            }
            ql_store(y->dtype, y->data, i * N + j,
                     tq_ql_requant(tq_ql_sat32(acc), ql_mult(&p, j), p.y_zp, p.lo, p.hi));
        }
    }
    return TFMQ_OK;
}

/* ---- QAdd ---- */
tfmq_status tq_ref_qadd(tq_op_ctx *ctx)
{
    const tq_tensor *a = ctx->in[0], *b = ctx->in[3];
    tq_tensor *y = ctx->out[0];
    tfmq_dtype ydt;
    tfmq_status st = tq_ql_check_add(ctx, &ydt);
    if (st != TFMQ_OK) {
        return st;
    }
    if (ydt != y->dtype || !tq_ref_bcast_ok(a, y) || !tq_ref_bcast_ok(b, y)) {
        return tq_op_fail(ctx, TFMQ_ERR_INTERNAL, "output shape or dtype does not match");
    }
    const double as = (double)*(const float *)ctx->in[1]->data;
    const double bs = (double)*(const float *)ctx->in[4]->data;
    const float ysf = *(const float *)ctx->in[6]->data;
    const int32_t az = ctx->in[2] ? ql_load_q8(ctx->in[2]->dtype, ctx->in[2]->data, 0) : 0;
    const int32_t bz = ctx->in[5] ? ql_load_q8(ctx->in[5]->dtype, ctx->in[5]->data, 0) : 0;
    const int32_t yz = ctx->in[7] ? ql_load_q8(ctx->in[7]->dtype, ctx->in[7]->data, 0) : 0;
    if (!(ysf > 0.0f) || !isfinite(ysf)) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "y_scale must be finite and > 0");
    }
    int32_t lo, hi;
    if ((st = tq_ql_bounds(ctx, ydt, ysf, yz, &lo, &hi)) != TFMQ_OK) {
        return st;
    }
    const double ys = (double)ysf;
    const tq_tensor *ins[2] = {a, b};
    tq_ref_bcast bc;
    tq_ref_bcast_init(&bc, y, ins, 2);
    size_t off[TQ_REF_BCAST_MAX_IN];
    tq_ref_bcast_begin(&bc, off);
    for (size_t row = 0; row < bc.n_rows; row++) {
        for (size_t j = 0; j < bc.n_inner; j++) {
            int32_t av = ql_load_q8(a->dtype, a->data, off[0] + j * bc.inner_stride[0]) - az;
            int32_t bv = ql_load_q8(b->dtype, b->data, off[1] + j * bc.inner_stride[1]) - bz;
            double v = nearbyint((as * (double)av + bs * (double)bv) / ys) + (double)yz;
            v = v < (double)lo ? (double)lo : (v > (double)hi ? (double)hi : v);
            ql_store(ydt, y->data, row * bc.n_inner + j, (int32_t)v);
        }
        tq_ref_bcast_next(&bc, off);
    }
    return TFMQ_OK;
}

/* ---- QAdd's division-free forms (qlinear.h, tq_ql_add_form) ---- */
/* QAdd's definition (backends/ref/qlinear.c) for stored bytes a, b, before clamping. */
static double ql_add_def(const tq_ql_add_form *q, int32_t a, int32_t b)
{
    return nearbyint((q->a_scale * (double)(a - q->a_zp) + q->b_scale * (double)(b - q->b_zp)) /
                     q->y_scale) +
           (double)q->y_zp;
}

static double ql_add_clamp(const tq_ql_add_form *q, double v)
{
    return v < (double)q->lo ? (double)q->lo : (v > (double)q->hi ? (double)q->hi : v);
}

/* The division-free double form (use_dm) when it matches the definition on every byte pair. */
static void ql_add_try_double(tq_ql_add_form *q)
{
    q->dka = q->a_scale / q->y_scale;
    q->dkb = q->b_scale / q->y_scale;
    q->dc0 = -(q->dka * (double)q->a_zp + q->dkb * (double)q->b_zp);
    q->use_dm = false;
    if (!isfinite(q->dka) || !isfinite(q->dkb) || !isfinite(q->dc0)) {
        return;
    }
    const int32_t a0 = q->a_s8 ? -128 : 0, b0 = q->b_s8 ? -128 : 0;
    for (int32_t a = a0; a < a0 + 256; a++) {
        for (int32_t b = b0; b < b0 + 256; b++) {
            double m = nearbyint(fma(q->dka, (double)a, fma(q->dkb, (double)b, q->dc0))) +
                       (double)q->y_zp;
            if (ql_add_clamp(q, m) != ql_add_clamp(q, ql_add_def(q, a, b))) {
                return;
            }
        }
    }
    q->use_dm = true;
}

/* At most half an ulp of a float of magnitude up to x: the rounding error of fmaf there. */
static double ql_half_ulp_f(double x)
{
    int ex;
    (void)frexp(x, &ex); /* x < 2^ex */
    return fmax(ldexp(1.0, ex - 25), 0x1p-150);
}

/* The near-tie threshold of the checked float form (use_fh), from dka, dkb, dc0 and the float
 * constants. Let x be the exact real (a_scale (a - a_zp) + b_scale (b - b_zp)) / y_scale and
 * v = fmaf(ka, a, t), t = fmaf(kb, b, c0), for stored bytes a in [a0, a0 + 255], b likewise,
 * |a| <= A, |b| <= B. Then |v - x| <= e_f with
 *   e_f = |ka - dka| A + |kb - dkb| B + |c0 - dc0|   the float constants vs the doubles (exact
 *                                                   differences);
 *       + T 2^-50     the doubles vs the reals: a few roundings of 2^-53 on terms of total size
 *                     T = |dka| (A + |a_zp|) + |dkb| (B + |b_zp|);
 *       + h(X_t) + h(X_v)   the two fmaf roundings, h(X) being half an ulp at magnitude X, X_t
 *                     and X_v bounds on |t| and |ka a + t| (affine in a and b: at the corners).
 * The definition's double d (exact products, one rounded sum, one rounded quotient) has
 * |d - x| <= 2^-51 |x| <= T 2^-50 = e_d. With e = e_f + e_d and a lane's v more than 4e from every
 * half-integer, x is more than 3e from one and d more than 2e: v, x and d lie in the same open
 * interval (k - 1/2, k + 1/2), so nearbyintf(v) = nearbyint(d) = k and, after y_zp and clamping,
 * both forms agree. The kernels clamp v to [L, H] = [lo - y_zp, hi - y_zp] before rounding (the
 * same result: the bounds are integers), so a clamped lane is a whole number, never flagged, and
 * rightly so: v < L gives d < L + 2e < L + 1/2, which rounds to L or below and clamps to L as
 * well (likewise above H). Since vc - round(vc) is exact in float for the clamped v, lanes with
 * |vc - round(vc)| >= 1/2 - 4e cover all others; the factor 4 instead of 1 also covers the
 * rounding of this computation. The threshold is 1/2 - 4e rounded down to float (0 when e is
 * that large: every lane a near tie). */
static float ql_add_tie(const tq_ql_add_form *q)
{
    const double A = q->a_s8 ? 128.0 : 255.0, B = q->b_s8 ? 128.0 : 255.0;
    const double a0 = q->a_s8 ? -128.0 : 0.0, b0 = q->b_s8 ? -128.0 : 0.0;
    const double ka = (double)q->ka, kb = (double)q->kb, c0 = (double)q->c0;
    const double T =
        fabs(q->dka) * (A + fabs((double)q->a_zp)) + fabs(q->dkb) * (B + fabs((double)q->b_zp));
    const double t_lo = fmin(kb * b0, kb * (b0 + 255.0)) + c0,
                 t_hi = fmax(kb * b0, kb * (b0 + 255.0)) + c0;
    const double ht = ql_half_ulp_f(fmax(fabs(t_lo), fabs(t_hi)) * (1.0 + 0x1p-20));
    const double v_lo = fmin(ka * a0, ka * (a0 + 255.0)) + t_lo - ht,
                 v_hi = fmax(ka * a0, ka * (a0 + 255.0)) + t_hi + ht;
    const double hv = ql_half_ulp_f(fmax(fabs(v_lo), fabs(v_hi)) * (1.0 + 0x1p-20));
    const double e = fabs(ka - q->dka) * A + fabs(kb - q->dkb) * B + fabs(c0 - q->dc0) +
                     ldexp(T, -49) /* both T terms */ + ht + hv;
    const double t = 0.5 - 4.0 * e;
    if (!(t > 0.0)) {
        return 0.0f;
    }
    float tf = (float)t;
    return (double)tf > t ? nextafterf(tf, 0.0f) : tf;
}

/* The integer form (use_i), where the caller wants one (want_i), when one with ish in [8, 24]
 * equals the definition on every byte pair. For each shift (the most precise first) and multipliers ia, ib within one unit of
 * dka 2^ish and dkb 2^ish, the offsets ic that work form an interval, found in one pass over
 * the pairs: each unclamped result d needs d 2^ish <= ia a + ib b + ic < (d + 1) 2^ish, a
 * result clamped to lo only the upper bound, to hi only the lower. The first nonempty one,
 * whose sums stay within int32 at the corners (they are affine in a and b), is taken. The
 * definition's results are tabled once (tab, 65536 entries). */
static void ql_add_try_int(tq_ql_add_form *q)
{
    q->use_i = false;
    if (!q->want_i || !isfinite(q->dka) || !isfinite(q->dkb) || !isfinite(q->dc0)) {
        return;
    }
    const int32_t a0 = q->a_s8 ? -128 : 0, b0 = q->b_s8 ? -128 : 0;
    int16_t *tab = tq_alloc(NULL, 65536 * sizeof(*tab));
    if (!tab) {
        return; /* the other forms serve */
    }
    for (int32_t a = 0; a < 256; a++) {
        for (int32_t b = 0; b < 256; b++) {
            tab[a * 256 + b] = (int16_t)ql_add_clamp(q, ql_add_def(q, a0 + a, b0 + b));
        }
    }
    for (int32_t sh = 24; sh >= 8 && !q->use_i; sh--) {
        const int64_t one = (int64_t)1 << sh;
        const double f = ldexp(1.0, sh);
        const double ra = nearbyint(q->dka * f), rb = nearbyint(q->dkb * f);
        if (!(fabs(ra) < 0x1p23 && fabs(rb) < 0x1p23)) {
            continue;
        }
        for (int32_t v = 0; v < 9 && !q->use_i; v++) {
            const int64_t ia = (int64_t)ra + v % 3 - 1, ib = (int64_t)rb + v / 3 - 1;
            int64_t lo_ic = INT64_MIN, hi_ic = INT64_MAX;
            for (int32_t a = 0; a < 256 && lo_ic <= hi_ic; a++) {
                for (int32_t b = 0; b < 256; b++) {
                    const int64_t d = tab[a * 256 + b];
                    const int64_t sum = ia * (a0 + a) + ib * (b0 + b);
                    if (d > q->lo || d == q->hi) { /* a lower bound on the result */
                        const int64_t l = d * one - sum;
                        lo_ic = l > lo_ic ? l : lo_ic;
                    }
                    if (d < q->hi || d == q->lo) { /* an upper bound */
                        const int64_t h = (d + 1) * one - 1 - sum;
                        hi_ic = h < hi_ic ? h : hi_ic;
                    }
                }
            }
            if (lo_ic > hi_ic) {
                continue;
            }
            /* the offset nearest the rounded one, then int32 at the four corners */
            const double rc = floor((q->dc0 + (double)q->y_zp + 0.5) * f);
            int64_t ic = rc < -0x1p40 ? lo_ic : (rc > 0x1p40 ? hi_ic : (int64_t)rc);
            ic = ic < lo_ic ? lo_ic : (ic > hi_ic ? hi_ic : ic);
            bool fits = ic > INT32_MIN && ic < INT32_MAX;
            for (int32_t c = 0; c < 4 && fits; c++) {
                const int64_t sum = ia * (a0 + 255 * (c & 1)) + ib * (b0 + 255 * (c >> 1)) + ic;
                fits = sum > INT32_MIN && sum < INT32_MAX;
            }
            if (fits) {
                q->use_i = true;
                q->ia = (int32_t)ia;
                q->ib = (int32_t)ib;
                q->ic = (int32_t)ic;
                q->ish = sh;
            }
        }
    }
    tq_free(NULL, tab, 65536 * sizeof(*tab));
}

/* Choose the float form of q when it gives the definition's result for all 65536 byte pairs
 * (after clamping); the division-free float32 arithmetic is the vector kernels' fast path.
 * Else the checked float form when, with near ties taken from the definition, it gives the
 * definition's result everywhere (by construction, ql_add_tie; checked all the same) and few
 * pairs are near ties: a flagged vector costs a mispredicted branch and the double path, some 20
 * float vectors' time, so the checked form (about 1.5x the float form unflagged, the double form
 * about 4x) is kept to at most 1/256 of the pairs (some 6% of 16-lane vectors of random bytes).
 * The double form is the fallback. */
void tq_ql_add_form_plan(tq_ql_add_form *q)
{
    q->use_f = false;
    q->use_fh = false;
    ql_add_try_double(q);
    ql_add_try_int(q);
    q->ka = (float)q->dka;
    q->kb = (float)q->dkb;
    q->c0 = (float)q->dc0;
    q->vlo = (float)(q->lo - q->y_zp);
    q->vhi = (float)(q->hi - q->y_zp);
    q->fyz = (float)q->y_zp;
    if (!isfinite(q->ka) || !isfinite(q->kb) || !isfinite(q->c0)) {
        return;
    }
    q->fh_tie = ql_add_tie(q);
    bool exact = true, checked = true;
    int32_t n_tie = 0;
    const int32_t max_tie = 65536 / 256, a0 = q->a_s8 ? -128 : 0, b0 = q->b_s8 ? -128 : 0;
    for (int32_t a = a0; a < a0 + 256 && (exact || (checked && n_tie <= max_tie)); a++) {
        for (int32_t b = b0; b < b0 + 256; b++) {
            const double d = ql_add_clamp(q, ql_add_def(q, a, b));
            float v = fmaf(q->ka, (float)a, fmaf(q->kb, (float)b, q->c0));
            v = v < q->vlo ? q->vlo : (v > q->vhi ? q->vhi : v); /* as the kernels */
            const float r = nearbyintf(v);
            const bool same = (double)(r + q->fyz) == d;
            exact = exact && same;
            if (fabsf(v - r) >= q->fh_tie) {
                n_tie++; /* the double path: d (its use_dm form checked above) */
            } else {
                checked = checked && same;
            }
        }
    }
    q->use_f = exact;
    q->use_fh = !exact && checked && n_tie <= max_tie;
}
