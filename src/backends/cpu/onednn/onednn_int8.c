/* onednn_int8.c: tfmq.QConv / tfmq.QGemm requantisation (docs/QUANTIZATION.md, "Integer
 * numerics") expressed as oneDNN 2.6 attributes: per-channel output scales M[c] (computed exactly
 * as tq_ql_multiplier), the source zero point x_zp, the destination zero point y_zp, and the
 * activation's clamp [lo, hi] as an eltwise clip post-op in the scaled domain [lo - y_zp,
 * hi - y_zp] (the dtype's own range is oneDNN's final saturation).
 *
 * Rounding: the definition is y = clamp(round_half_even((double)acc * (double)M[c]) + y_zp).
 * oneDNN 2.6 computes, in float32: v = ((float)acc + (float)bias) * M[c] (the int32 values are
 * converted to float, exact below 2^24, then one float addition and one float product),
 * clip(v), v + (float)y_zp, then rounds to nearest even when converting to the 8-bit type. Each
 * float operation rounds to 24 bits, so when the exact value lies within about 2^-24 relative of
 * a half-integer (an x.5 boundary), oneDNN can round to the neighbouring integer: results equal
 * the reference or differ by exactly 1 in rare elements (a few per million in the unit test over
 * random data; it counts them). Exact ties (acc * M[c] exactly x.5) round to even in both.
 * Accumulation itself is exact int32 in both (oneDNN wraps where the reference saturates, which
 * needs |acc| >= 2^31: not reachable by real layers). */
#include <math.h>

#include "backends/cpu/onednn/onednn_internal.h"
#include "backends/ref/qlinear.h"

static int32_t q_load8(const tq_tensor *t)
{
    return t->dtype == TFMQ_DTYPE_INT8 ? (int32_t)*(const int8_t *)t->data
                                       : (int32_t)*(const uint8_t *)t->data;
}

static bool q_is8(tfmq_dtype dt)
{
    return dt == TFMQ_DTYPE_INT8 || dt == TFMQ_DTYPE_UINT8;
}

/* An optional parameter input: absent, or present with its data known at plan time. */
static bool q_const_or_absent(const tq_op_ctx *ctx, int32_t i)
{
    return i >= ctx->n_in || !ctx->in[i] || ctx->in[i]->data;
}

/* Every weight zero point is 0 (oneDNN supports only a common, zero weights zero point). */
static bool q_wzp_zero(const tq_tensor *wz)
{
    if (!wz) {
        return true;
    }
    size_t n = tq_tensor_numel(wz);
    for (size_t i = 0; i < n; i++) {
        if (((const int8_t *)wz->data)[i] != 0) {
            return false;
        }
    }
    return true;
}

/* The parameters the definition needs, read and checked (no error text is left behind). */
static bool q_params(const tq_op_ctx *ctx, int64_t n_oc, tq_onednn_q *q)
{
    tfmq_dtype ydt;
    if (tq_ql_check(ctx, n_oc, &ydt) != TFMQ_OK) {
        tq_clear_error();
        return false;
    }
    const tq_tensor *xs = ctx->in[TQ_QL_X_SCALE], *ys = ctx->in[TQ_QL_Y_SCALE];
    const tq_tensor *ws = ctx->in[TQ_QL_W_SCALE];
    if (ydt != ctx->out[0]->dtype || !xs->data || !ys->data || !ws->data) {
        return false;
    }
    q->x_dt = ctx->in[TQ_QL_X]->dtype;
    q->y_dt = ydt;
    q->x_scale = *(const float *)xs->data;
    q->y_scale = *(const float *)ys->data;
    q->w_scale = ws->data;
    q->n_ws = tq_tensor_numel(ws);
    q->n_oc = (size_t)n_oc;
    q->x_zp = ctx->in[TQ_QL_X_ZP] ? q_load8(ctx->in[TQ_QL_X_ZP]) : 0;
    q->y_zp = ctx->in[TQ_QL_Y_ZP] ? q_load8(ctx->in[TQ_QL_Y_ZP]) : 0;
    q->bias = ctx->n_in > TQ_QL_BIAS ? ctx->in[TQ_QL_BIAS] : NULL;
    if (tq_ql_bounds(ctx, ydt, q->y_scale, q->y_zp, &q->lo, &q->hi) != TFMQ_OK) {
        tq_clear_error();
        return false;
    }
    return true;
}

/* Finite scales and multipliers (the reference defines the others; oneDNN need not agree). */
static bool q_scales_finite(const tq_onednn_q *q)
{
    if (!isfinite(q->x_scale) || !isfinite(q->y_scale) || !(q->y_scale > 0.0f)) {
        return false;
    }
    for (size_t c = 0; c < q->n_ws; c++) {
        if (!isfinite(q->w_scale[c]) ||
            !isfinite(tq_ql_multiplier(q->x_scale, q->w_scale[c], q->y_scale))) {
            return false;
        }
    }
    return true;
}

bool tq_cpu_onednn_q_read(const tq_op_ctx *ctx, int64_t n_oc, tq_onednn_q *q)
{
    if (tq_cpu_isa_level() < TQ_CPU_ISA_AVX512_VNNI || ctx->n_in <= TQ_QL_Y_ZP || n_oc <= 0 ||
        !ctx->in[TQ_QL_X] || !q_is8(ctx->in[TQ_QL_X]->dtype) || !q_is8(ctx->out[0]->dtype)) {
        return false;
    }
    for (int32_t i = TQ_QL_X_SCALE; i <= TQ_QL_BIAS; i++) {
        if (i != TQ_QL_W && !q_const_or_absent(ctx, i)) {
            return false;
        }
    }
    if (!ctx->in[TQ_QL_X_SCALE] || !ctx->in[TQ_QL_W_SCALE] || !ctx->in[TQ_QL_Y_SCALE] ||
        !q_params(ctx, n_oc, q) || !q_wzp_zero(ctx->in[TQ_QL_W_ZP])) {
        return false;
    }
    return q_scales_finite(q);
}

/* The clip post-op, when the activation narrows the dtype's range. */
static tfmq_status q_clip(const tq_cpu_prep *p, const tq_onednn_q *q, dnnl_primitive_attr_t attr)
{
    const int32_t dlo = q->y_dt == TFMQ_DTYPE_INT8 ? -128 : 0;
    const int32_t dhi = q->y_dt == TFMQ_DTYPE_INT8 ? 127 : 255;
    if (q->lo <= dlo && q->hi >= dhi) {
        return TFMQ_OK;
    }
    dnnl_post_ops_t po;
    dnnl_status_t s = dnnl_post_ops_create(&po);
    if (s != dnnl_success) {
        return tq_cpu_onednn_fail(p->ctx, s, "post-ops");
    }
    /* min(max(v, lo - zp), hi - zp) before zp is added: equal to clamping the rounded result
     * since both bounds are integers; lo > hi gives hi, as the definition */
    s = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_clip, (float)(q->lo - q->y_zp),
                                     (float)(q->hi - q->y_zp));
    if (s == dnnl_success) {
        s = dnnl_primitive_attr_set_post_ops(attr, po);
    }
    (void)dnnl_post_ops_destroy(po);
    return s == dnnl_success ? TFMQ_OK : tq_cpu_onednn_fail(p->ctx, s, "clip post-op");
}

tfmq_status tq_cpu_onednn_q_attr(const tq_cpu_prep *p, const tq_onednn_q *q, int oc_mask,
                                 dnnl_primitive_attr_t attr)
{
    const size_t bytes = q->n_oc * sizeof(float);
    float *m = tq_alloc(p->alloc, bytes);
    if (!m) {
        return tq_op_fail(p->ctx, TFMQ_ERR_OUT_OF_MEMORY, "no memory for output scales");
    }
    for (size_t c = 0; c < q->n_oc; c++) {
        m[c] = tq_ql_multiplier(q->x_scale, q->w_scale[q->n_ws == 1 ? 0 : c], q->y_scale);
    }
    /* the attribute keeps its own copy of the scales */
    dnnl_status_t s = dnnl_primitive_attr_set_output_scales(attr, (dnnl_dim_t)q->n_oc, oc_mask, m);
    tq_free(p->alloc, m, bytes);
    if (s == dnnl_success && q->x_zp != 0) {
        s = dnnl_primitive_attr_set_zero_points(attr, DNNL_ARG_SRC, 1, 0, &q->x_zp);
    }
    if (s == dnnl_success && q->y_zp != 0) {
        s = dnnl_primitive_attr_set_zero_points(attr, DNNL_ARG_DST, 1, 0, &q->y_zp);
    }
    if (s != dnnl_success) {
        return tq_cpu_onednn_fail(p->ctx, s, "quantisation attributes");
    }
    return q_clip(p, q, attr);
}
