/* simd_vec_impl.h: the vector row kernels of the SIMD family, written once over a small vector
 * abstraction and compiled once per instruction set: simd_avx2.c and simd_avx512.c define the
 * abstraction below and then include this file, which defines the table TQ_CPU_SIMD_TABLE. Not a
 * header for anyone else.
 *
 * The abstraction (TQ_VL floats per vector, TQ_VB bytes per byte vector):
 *   vf  TQ_VL floats     vd  TQ_VL/2 doubles     vi  TQ_VL int32     vb  TQ_VB bytes
 *   vf_load/vf_store; vf_loadn(p, n, fill)/vf_storen(p, v, n) for the first 0 < n <= TQ_VL
 *     elements (other lanes `fill`; nothing beyond n is touched); vi_load_i32/vi_loadn_i32;
 *     vi_load_b(p, signed, n) widens n bytes to int32, vi_store_b(p, v, n) stores low bytes;
 *     vb_loadn/vb_storen likewise for bytes;
 *   vf_max(a, b) = a > b ? a : b and vf_min(a, b) = a < b ? a : b lane by lane (the operand
 *     order matters for NaN and signed zeros: the result is b unless the comparison holds);
 *     the same for vd;
 *   vf_sel_lt(a, b, t, f) = a < b ? t : f; vf_sel_nan(x, t, f) = isnan(x) ? t : f;
 *   vf_round: round half to even; vf_pow2i(k) = 2^k for integral k in [-126, 127];
 *   vf_abs(v) = |v|; vf_any_ge(a, b): whether a >= b in some lane;
 *   vd_lo(v), vd_hi(v): the low and high halves of a vf as doubles, vf_from_vd(lo, hi) back;
 *   vd_lo_i, vd_hi_i, vi_from_vd: the same between int32 and double (integral values).
 * Intrinsics are never contracted (the file is built with -ffp-contract=off); fused multiply-adds
 * appear only where written (vf_fmadd, vd_fmadd), never where the reference rounds twice. */

/* ---- element-wise unary ---- */
/* Apply EXPR (a function-like macro of a vf) to x[0..n) into y. */
#define TQ_V_MAP(EXPR)                                                                             \
    do {                                                                                           \
        size_t i_ = 0;                                                                             \
        for (; i_ + TQ_VL <= n; i_ += TQ_VL) {                                                     \
            vf_store(y + i_, EXPR(vf_load(x + i_)));                                               \
        }                                                                                          \
        if (i_ < n) {                                                                              \
            vf_storen(y + i_, EXPR(vf_loadn(x + i_, n - i_, 0.0f)), n - i_);                       \
        }                                                                                          \
    } while (0)

/* clamp01 of the reference: v < 0 ? 0 : (v > 1 ? 1 : v), NaN passes through */
static inline vd v_clamp01(vd v)
{
    return vd_min(vd_set1(1.0), vd_max(vd_set1(0.0), v));
}

/* e^y = 2^k (1 + p) for y in [-708, 0]: k = round(y / ln 2), p = expm1(r) with
 * r = y - k ln 2 (Cody-Waite split), |r| <= ln2 / 2, by its Taylor series to r^13 (truncation
 * below 1e-17 relative). NaN in gives NaN in p. */
static inline void v_exp_split(vd y, vd *two_k, vd *p)
{
    const vd k = vd_round(vd_mul(y, vd_set1(1.4426950408889634)));
    vd r = vd_fmadd(k, vd_set1(-6.93147180369123816490e-01), y);
    r = vd_fmadd(k, vd_set1(-1.90821492927058770002e-10), r);
    vd q = vd_set1(1.0 / 6227020800.0); /* 1/13! */
    q = vd_fmadd(q, r, vd_set1(1.0 / 479001600.0));
    q = vd_fmadd(q, r, vd_set1(1.0 / 39916800.0));
    q = vd_fmadd(q, r, vd_set1(1.0 / 3628800.0));
    q = vd_fmadd(q, r, vd_set1(1.0 / 362880.0));
    q = vd_fmadd(q, r, vd_set1(1.0 / 40320.0));
    q = vd_fmadd(q, r, vd_set1(1.0 / 5040.0));
    q = vd_fmadd(q, r, vd_set1(1.0 / 720.0));
    q = vd_fmadd(q, r, vd_set1(1.0 / 120.0));
    q = vd_fmadd(q, r, vd_set1(1.0 / 24.0));
    q = vd_fmadd(q, r, vd_set1(1.0 / 6.0));
    q = vd_fmadd(q, r, vd_set1(0.5));
    q = vd_fmadd(q, r, vd_set1(1.0));
    *p = vd_mul(q, r);
    *two_k = vd_pow2i(k);
}

/* sigmoid(x) in double: e = exp(-|x|); x >= 0 ? 1 / (1 + e) : e / (1 + e) */
static inline vd v_sigmoid_d(vd x)
{
    vd y = vd_max(vd_set1(-708.0), vd_sub(vd_set1(0.0), vd_abs(x)));
    vd two_k, p;
    v_exp_split(y, &two_k, &p);
    const vd e = vd_fmadd(two_k, p, two_k);
    const vd d = vd_add(vd_set1(1.0), e);
    const vd r = vd_sel_lt(x, vd_set1(0.0), vd_div(e, d), vd_div(vd_set1(1.0), d));
    return vd_sel_nan(x, x, r);
}

/* tanh(x) in double: m = expm1(-2|x|) = 2^k p + (2^k - 1) (exactly p when k = 0, so small |x|
 * keep full relative accuracy); tanh|x| = -m / (2 + m), with x's sign. */
static inline vd v_tanh_d(vd x)
{
    vd y = vd_max(vd_set1(-708.0), vd_mul(vd_set1(-2.0), vd_abs(x)));
    vd two_k, p;
    v_exp_split(y, &two_k, &p);
    const vd m = vd_fmadd(two_k, p, vd_sub(two_k, vd_set1(1.0)));
    const vd t = vd_div(vd_sub(vd_set1(0.0), m), vd_add(vd_set1(2.0), m));
    return vd_sel_nan(x, x, vd_copysign(t, x));
}

#define TQ_V_VIA_D(NAME, FN_D)                                                                     \
    static inline vf NAME(vf x)                                                                    \
    {                                                                                              \
        return vf_from_vd(FN_D(vd_lo(x)), FN_D(vd_hi(x)));                                         \
    }
TQ_V_VIA_D(v_sigmoid, v_sigmoid_d)
TQ_V_VIA_D(v_tanh, v_tanh_d)
#undef TQ_V_VIA_D

/* HardSwish in double as the reference: x * clamp01(x / 6 + 0.5) */
static inline vd v_hswish_d(vd x)
{
    return vd_mul(x, v_clamp01(vd_add(vd_div(x, vd_set1(6.0)), vd_set1(0.5))));
}

static inline vf v_hswish(vf x)
{
    return vf_from_vd(v_hswish_d(vd_lo(x)), v_hswish_d(vd_hi(x)));
}

static void v_unary(const tq_cpu_simd_unary *u, const float *x, float *y, size_t n)
{
    const vf zero = vf_set1(0.0f), a = vf_set1(u->a), b = vf_set1(u->b);
    const vd ad = vd_set1((double)u->a), bd = vd_set1((double)u->b);
    switch (u->op) {
    case TQ_CPU_SIMD_RELU:
#define E(v) vf_max(zero, v) /* 0 > x ? 0 : x keeps -0 and NaN as the reference */
        TQ_V_MAP(E);
#undef E
        break;
    case TQ_CPU_SIMD_CLIP:
#define E(v) vf_min(b, vf_max(a, v)) /* (x < lo ? lo : x), then (v > hi ? hi : v) */
        TQ_V_MAP(E);
#undef E
        break;
    case TQ_CPU_SIMD_LEAKY_RELU:
#define E(v) vf_sel_lt(v, zero, vf_mul(a, v), v)
        TQ_V_MAP(E);
#undef E
        break;
    case TQ_CPU_SIMD_HARD_SIGMOID:
        /* a*x is exact in double, + b rounds once in double, then once to float: as the
           reference (a float fma would round once, differently) */
#define E(v)                                                                                       \
    vf_from_vd(v_clamp01(vd_add(vd_mul(ad, vd_lo(v)), bd)),                                        \
               v_clamp01(vd_add(vd_mul(ad, vd_hi(v)), bd)))
        TQ_V_MAP(E);
#undef E
        break;
    case TQ_CPU_SIMD_HARD_SWISH:
        TQ_V_MAP(v_hswish);
        break;
    case TQ_CPU_SIMD_SIGMOID:
        TQ_V_MAP(v_sigmoid);
        break;
    case TQ_CPU_SIMD_TANH:
        TQ_V_MAP(v_tanh);
        break;
    }
}

/* ---- element-wise binary ---- */
/* One loop per operand pattern: both vectors, b scalar, a scalar. */
#define TQ_V_BIN(OP)                                                                               \
    do {                                                                                           \
        size_t i_ = 0;                                                                             \
        if (sa && sb) {                                                                            \
            for (; i_ + TQ_VL <= n; i_ += TQ_VL) {                                                 \
                vf_store(y + i_, OP(vf_load(a + i_), vf_load(b + i_)));                            \
            }                                                                                      \
            if (i_ < n) {                                                                          \
                const size_t m_ = n - i_;                                                          \
                vf_storen(y + i_, OP(vf_loadn(a + i_, m_, 1.0f), vf_loadn(b + i_, m_, 1.0f)), m_); \
            }                                                                                      \
        } else if (sa) {                                                                           \
            const vf bv_ = vf_set1(b[0]);                                                          \
            for (; i_ + TQ_VL <= n; i_ += TQ_VL) {                                                 \
                vf_store(y + i_, OP(vf_load(a + i_), bv_));                                        \
            }                                                                                      \
            if (i_ < n) {                                                                          \
                vf_storen(y + i_, OP(vf_loadn(a + i_, n - i_, 1.0f), bv_), n - i_);                \
            }                                                                                      \
        } else {                                                                                   \
            const vf av_ = vf_set1(a[0]);                                                          \
            for (; i_ + TQ_VL <= n; i_ += TQ_VL) {                                                 \
                vf_store(y + i_, OP(av_, vf_load(b + i_)));                                        \
            }                                                                                      \
            if (i_ < n) {                                                                          \
                vf_storen(y + i_, OP(av_, vf_loadn(b + i_, n - i_, 1.0f)), n - i_);                \
            }                                                                                      \
        }                                                                                          \
    } while (0)

static void v_binary(tq_cpu_simd_binop op, const float *a, size_t sa, const float *b, size_t sb,
                     float *y, size_t n)
{
    if (!sa && !sb) {
        tq_cpu_simd_isa_c.binary(op, a, sa, b, sb, y, n);
        return;
    }
    switch (op) {
    case TQ_CPU_SIMD_ADD:
        TQ_V_BIN(vf_add);
        break;
    case TQ_CPU_SIMD_SUB:
        TQ_V_BIN(vf_sub);
        break;
    case TQ_CPU_SIMD_MUL:
        TQ_V_BIN(vf_mul);
        break;
    case TQ_CPU_SIMD_DIV:
        TQ_V_BIN(vf_div);
        break;
    }
}

/* ---- quantization ---- */
/* round_half_even(x / scale) + zp, NaN -> 0, clamped: all exact in float (see simd_c.c). */
static inline vi v_quant1(const tq_cpu_simd_quant *q, vf x)
{
    vf v = vf_add(vf_round(vf_div(x, vf_set1(q->scale))), vf_set1(q->zp));
    v = vf_sel_nan(v, vf_set1(0.0f), v);
    v = vf_min(vf_set1(q->hi), vf_max(vf_set1(q->lo), v));
    return vi_from_vf(v);
}

static void v_quant(const tq_cpu_simd_quant *q, const float *x, void *y, size_t n)
{
    uint8_t *yb = y;
    size_t i = 0;
    for (; i + TQ_VL <= n; i += TQ_VL) {
        vi_store_b(yb + i, v_quant1(q, vf_load(x + i)), TQ_VL);
    }
    if (i < n) {
        vi_store_b(yb + i, v_quant1(q, vf_loadn(x + i, n - i, 0.0f)), n - i);
    }
}

static void v_quant_s8(const tq_cpu_simd_quant *q, const float *x, int8_t *y, size_t n)
{
    v_quant(q, x, y, n);
}

static void v_quant_u8(const tq_cpu_simd_quant *q, const float *x, uint8_t *y, size_t n)
{
    v_quant(q, x, y, n);
}

/* (float)(x - zp) * scale: int8/uint8 differences are exact in int32 and in float; int32
 * differences are exact in double, and double -> float rounds as int64 -> float does. */
static inline vf v_dequant_b(const tq_cpu_simd_dequant *q, const uint8_t *p, size_t m)
{
    vi v = vi_sub(vi_load_b(p, q->x_dt == TFMQ_DTYPE_INT8, m), vi_set1(q->zp));
    return vf_mul(vf_from_vi(v), vf_set1(q->scale));
}

static inline vf v_dequant_i32(const tq_cpu_simd_dequant *q, const int32_t *p, size_t m)
{
    const vi v = m == TQ_VL ? vi_load_i32(p) : vi_loadn_i32(p, m);
    const vd z = vd_set1((double)q->zp);
    vf f = vf_from_vd(vd_sub(vd_lo_i(v), z), vd_sub(vd_hi_i(v), z));
    return vf_mul(f, vf_set1(q->scale));
}

static void v_dequant(const tq_cpu_simd_dequant *q, const void *x, float *y, size_t n)
{
    size_t i = 0;
    if (q->x_dt == TFMQ_DTYPE_INT32) {
        const int32_t *xs = x;
        for (; i + TQ_VL <= n; i += TQ_VL) {
            vf_store(y + i, v_dequant_i32(q, xs + i, TQ_VL));
        }
        if (i < n) {
            vf_storen(y + i, v_dequant_i32(q, xs + i, n - i), n - i);
        }
        return;
    }
    const uint8_t *xb = x;
    for (; i + TQ_VL <= n; i += TQ_VL) {
        vf_store(y + i, v_dequant_b(q, xb + i, TQ_VL));
    }
    if (i < n) {
        vf_storen(y + i, v_dequant_b(q, xb + i, n - i), n - i);
    }
}

/* One half of QAdd in double: clamp(round((as*a + bs*b) / ys) + yz, lo, hi). */
static inline vd v_qadd_d(const tq_cpu_simd_qadd *q, vd a, vd b)
{
    vd v;
    if (q->use_dm) { /* division-free form, exact on every byte pair (simd.c); a, b minus zp */
        v = vd_fmadd(vd_set1(q->dka), vd_add(a, vd_set1((double)q->a_zp)),
                     vd_fmadd(vd_set1(q->dkb), vd_add(b, vd_set1((double)q->b_zp)),
                              vd_set1(q->dc0)));
        v = vd_add(vd_round(v), vd_set1((double)q->y_zp));
    } else {
        v = vd_add(vd_mul(vd_set1(q->a_scale), a), vd_mul(vd_set1(q->b_scale), b));
        v = vd_add(vd_round(vd_div(v, vd_set1(q->y_scale))), vd_set1((double)q->y_zp));
    }
    return vd_min(vd_set1((double)q->hi), vd_max(vd_set1((double)q->lo), v));
}

static inline vi v_qadd1(const tq_cpu_simd_qadd *q, const uint8_t *a, const uint8_t *b, size_t m)
{
    const vi av = vi_sub(vi_load_b(a, q->a_s8, m), vi_set1(q->a_zp));
    const vi bv = vi_sub(vi_load_b(b, q->b_s8, m), vi_set1(q->b_zp));
    return vi_from_vd(v_qadd_d(q, vd_lo_i(av), vd_lo_i(bv)), v_qadd_d(q, vd_hi_i(av), vd_hi_i(bv)));
}

/* The float form before rounding, fma(ka, a, fma(kb, b, c0)) on the stored bytes, clamped to
 * [lo - y_zp, hi - y_zp]: the bounds are integers, so clamping before rounding gives the same
 * result as after, and lanes clamped are whole numbers, never near ties (v_qadd1_fh). */
static inline vf v_qadd_fv(const tq_cpu_simd_qadd *q, const uint8_t *a, const uint8_t *b, size_t m)
{
    const vf av = vf_from_vi(vi_load_b(a, q->a_s8, m));
    const vf bv = vf_from_vi(vi_load_b(b, q->b_s8, m));
    const vf v = vf_fmadd(vf_set1(q->ka), av, vf_fmadd(vf_set1(q->kb), bv, vf_set1(q->c0)));
    return vf_min(vf_set1(q->vhi), vf_max(vf_set1(q->vlo), v));
}

/* The float form's result from its rounded value r. */
static inline vi v_qadd_fy(const tq_cpu_simd_qadd *q, vf r)
{
    return vi_from_vf(vf_add(r, vf_set1(q->fyz)));
}

/* The float form (q->use_f: equal to the definition on every byte pair, simd.c). */
static inline vi v_qadd1_f(const tq_cpu_simd_qadd *q, const uint8_t *a, const uint8_t *b,
                           size_t m)
{
    return v_qadd_fy(q, vf_round(v_qadd_fv(q, a, b, m)));
}

/* The checked float form (q->use_fh): a vector with a lane near a rounding tie, where the float
 * form may round otherwise than the definition (simd.c, simd_qadd_tie), is redone in double.
 * Lanes past m hold zero bytes: at worst a needless redo. */
static inline vi v_qadd1_fh(const tq_cpu_simd_qadd *q, const uint8_t *a, const uint8_t *b, size_t m)
{
    const vf v = v_qadd_fv(q, a, b, m);
    const vf r = vf_round(v);
    if (vf_any_ge(vf_abs(vf_sub(v, r)), vf_set1(q->fh_tie))) {
        return v_qadd1(q, a, b, m);
    }
    return v_qadd_fy(q, r);
}

/* QAdd rows with ONE, one of the v_qadd1 forms above. */
#define TQ_V_QADD_ROWS(ONE)                                                                        \
    do {                                                                                           \
        for (; i + TQ_VL <= n; i += TQ_VL) {                                                       \
            vi_store_b(yb + i, ONE(q, ab + i, bb + i, TQ_VL), TQ_VL);                              \
        }                                                                                          \
        if (i < n) {                                                                               \
            vi_store_b(yb + i, ONE(q, ab + i, bb + i, n - i), n - i);                              \
        }                                                                                          \
    } while (0)

static void v_qadd(const tq_cpu_simd_qadd *q, const void *a, const void *b, void *y, size_t n)
{
    const uint8_t *ab = a, *bb = b;
    uint8_t *yb = y;
    size_t i = 0;
    if (q->use_f) {
        TQ_V_QADD_ROWS(v_qadd1_f);
    } else if (q->use_fh) {
        TQ_V_QADD_ROWS(v_qadd1_fh);
    } else {
        TQ_V_QADD_ROWS(v_qadd1);
    }
}
#undef TQ_V_QADD_ROWS

/* ---- pooling over channels-last windows ---- */
static void v_max_f32(const tq_cpu_simd_win *w, const float *x, float *y)
{
    size_t c0 = 0;
    /* four vectors of channels at a time: four independent max chains, and each tap's loads
     * are 4 * TQ_VL contiguous floats (ResNet-50's MaxPool was latency-bound one vector at a
     * time); the order of the taps per lane is the reference's */
    for (; c0 + 4 * TQ_VL <= w->c; c0 += 4 * TQ_VL) {
        const float *xc = x + c0;
        vf b0 = vf_load(xc), b1 = vf_load(xc + TQ_VL), b2 = vf_load(xc + 2 * TQ_VL);
        vf b3 = vf_load(xc + 3 * TQ_VL);
        for (size_t i = 0; i < w->nh; i++) {
            const float *xr = xc + i * w->h_step;
            for (size_t j = 0; j < w->nw; j++) {
                const float *p = xr + j * w->w_step;
                b0 = vf_max(vf_load(p), b0);
                b1 = vf_max(vf_load(p + TQ_VL), b1);
                b2 = vf_max(vf_load(p + 2 * TQ_VL), b2);
                b3 = vf_max(vf_load(p + 3 * TQ_VL), b3);
            }
        }
        vf_store(y + c0, b0);
        vf_store(y + c0 + TQ_VL, b1);
        vf_store(y + c0 + 2 * TQ_VL, b2);
        vf_store(y + c0 + 3 * TQ_VL, b3);
    }
    for (size_t c = c0; c < w->c; c += TQ_VL) {
        const size_t m = w->c - c < TQ_VL ? w->c - c : TQ_VL;
        const float *xc = x + c;
        vf best = vf_loadn(xc, m, 0.0f);
        for (size_t i = 0; i < w->nh; i++) {
            const float *xr = xc + i * w->h_step;
            for (size_t j = 0; j < w->nw; j++) {
                /* v > best ? v : best, in the reference's tap order */
                best = vf_max(vf_loadn(xr + j * w->w_step, m, 0.0f), best);
            }
        }
        vf_storen(y + c, best, m);
    }
}

#define TQ_V_MAX_B(NAME, T, VMAX)                                                                  \
    static void NAME(const tq_cpu_simd_win *w, const T *x, T *y)                                   \
    {                                                                                              \
        for (size_t c = 0; c < w->c; c += TQ_VB) {                                                 \
            const size_t m = w->c - c < TQ_VB ? w->c - c : TQ_VB;                                  \
            const uint8_t *xc = (const uint8_t *)x + c;                                            \
            vb best = vb_loadn(xc, m);                                                             \
            for (size_t i = 0; i < w->nh; i++) {                                                   \
                const uint8_t *xr = xc + i * w->h_step;                                            \
                for (size_t j = 0; j < w->nw; j++) {                                               \
                    best = VMAX(best, vb_loadn(xr + j * w->w_step, m));                            \
                }                                                                                  \
            }                                                                                      \
            vb_storen((uint8_t *)y + c, best, m);                                                  \
        }                                                                                          \
    }
TQ_V_MAX_B(v_max_s8, int8_t, vb_max_s8)
TQ_V_MAX_B(v_max_u8, uint8_t, vb_max_u8)
#undef TQ_V_MAX_B

/* Sums in double in the reference's tap order (bit-exact), then one division. */
static void v_avg_f32(const tq_cpu_simd_win *w, const float *x, double div, float *y)
{
    const vd dv = vd_set1(div);
    for (size_t c = 0; c < w->c; c += TQ_VL) {
        const size_t m = w->c - c < TQ_VL ? w->c - c : TQ_VL;
        const float *xc = x + c;
        vd lo = vd_set1(0.0), hi = vd_set1(0.0);
        for (size_t i = 0; i < w->nh; i++) {
            const float *xr = xc + i * w->h_step;
            for (size_t j = 0; j < w->nw; j++) {
                const vf v = vf_loadn(xr + j * w->w_step, m, 0.0f);
                lo = vd_add(lo, vd_lo(v));
                hi = vd_add(hi, vd_hi(v));
            }
        }
        vf_storen(y + c, vf_from_vd(vd_div(lo, dv), vd_div(hi, dv)), m);
    }
}

/* Sum in double over 2 vectors of lanes (not the reference's order: within 1e-15 relative). */
static double v_sum_f64(const float *x, size_t n)
{
    vd s0 = vd_set1(0.0), s1 = vd_set1(0.0);
    size_t i = 0;
    for (; i + TQ_VL <= n; i += TQ_VL) {
        const vf v = vf_load(x + i);
        s0 = vd_add(s0, vd_lo(v));
        s1 = vd_add(s1, vd_hi(v));
    }
    if (i < n) {
        const vf v = vf_loadn(x + i, n - i, 0.0f);
        s0 = vd_add(s0, vd_lo(v));
        s1 = vd_add(s1, vd_hi(v));
    }
    return vd_hsum(vd_add(s0, s1));
}

/* ---- rows ---- */
/* e^d for d <= 0 in float: Cody-Waite reduction, Taylor series to r^7 (relative error ~3e-9
 * before rounding); d < -87.33 (below FLT_MIN) gives 0, NaN gives NaN. */
static inline vf v_exp_f(vf d)
{
    const vf tiny = vf_set1(-87.33f);
    const vf dd = vf_max(tiny, d); /* tiny > d ? tiny : d: NaN stays */
    const vf k = vf_round(vf_mul(dd, vf_set1(1.44269504088896341f)));
    vf r = vf_fmadd(k, vf_set1(-0.693359375f), dd);
    r = vf_fmadd(k, vf_set1(2.12194440e-4f), r);
    vf q = vf_set1(1.0f / 5040.0f);
    q = vf_fmadd(q, r, vf_set1(1.0f / 720.0f));
    q = vf_fmadd(q, r, vf_set1(1.0f / 120.0f));
    q = vf_fmadd(q, r, vf_set1(1.0f / 24.0f));
    q = vf_fmadd(q, r, vf_set1(1.0f / 6.0f));
    q = vf_fmadd(q, r, vf_set1(0.5f));
    q = vf_fmadd(q, r, vf_set1(1.0f));
    q = vf_fmadd(q, r, vf_set1(1.0f));
    return vf_sel_lt(d, tiny, vf_set1(0.0f), vf_mul(q, vf_pow2i(k)));
}

/* Softmax of one row: max, exponentials stored in y and summed in double, then y *= 1/sum.
 * Any NaN makes the whole row NaN, as in the reference (its sum is NaN). */
static void v_softmax(const float *x, float *y, size_t n)
{
    const float ninf = -(float)INFINITY;
    vf mv = vf_set1(ninf);
    size_t i = 0;
    for (; i + TQ_VL <= n; i += TQ_VL) {
        mv = vf_max(vf_load(x + i), mv);
    }
    if (i < n) {
        mv = vf_max(vf_loadn(x + i, n - i, ninf), mv);
    }
    const vf m = vf_set1(vf_hmax(mv));
    vd s0 = vd_set1(0.0), s1 = vd_set1(0.0);
    for (i = 0; i + TQ_VL <= n; i += TQ_VL) {
        const vf e = v_exp_f(vf_sub(vf_load(x + i), m));
        vf_store(y + i, e);
        s0 = vd_add(s0, vd_lo(e));
        s1 = vd_add(s1, vd_hi(e));
    }
    if (i < n) {
        const vf e = v_exp_f(vf_sub(vf_loadn(x + i, n - i, ninf), m));
        vf_storen(y + i, e, n - i);
        s0 = vd_add(s0, vd_lo(e)); /* the -inf lanes give 0 (or NaN when the row is NaN) */
        s1 = vd_add(s1, vd_hi(e));
    }
    const vf inv = vf_set1((float)(1.0 / vd_hsum(vd_add(s0, s1))));
    for (i = 0; i + TQ_VL <= n; i += TQ_VL) {
        vf_store(y + i, vf_mul(vf_load(y + i), inv));
    }
    if (i < n) {
        vf_storen(y + i, vf_mul(vf_loadn(y + i, n - i, 0.0f), inv), n - i);
    }
}

/* LayerNormalization of one row: mean and variance (two passes) in double lanes, then the
 * reference's expression ((x - mean) * inv) * scale + bias in double, rounded once. */
static void v_layer_norm(const tq_cpu_simd_ln *ln, const float *x, float *y, size_t n)
{
    const double mean = v_sum_f64(x, n) / (double)n;
    const vd m = vd_set1(mean);
    vd q0 = vd_set1(0.0), q1 = vd_set1(0.0);
    size_t i = 0;
    for (; i + TQ_VL <= n; i += TQ_VL) {
        const vf v = vf_load(x + i);
        const vd d0 = vd_sub(vd_lo(v), m), d1 = vd_sub(vd_hi(v), m);
        q0 = vd_add(q0, vd_mul(d0, d0));
        q1 = vd_add(q1, vd_mul(d1, d1));
    }
    double ss = vd_hsum(vd_add(q0, q1));
    for (; i < n; i++) {
        const double d = (double)x[i] - mean;
        ss += d * d;
    }
    const double var = ss / (double)n;
    const vd inv = vd_set1(1.0 / sqrt(var + ln->eps));
    for (i = 0; i < n; i += TQ_VL) {
        const size_t k = n - i < TQ_VL ? n - i : TQ_VL;
        const vf v = vf_loadn(x + i, k, 0.0f);
        const vf s = vf_loadn(ln->scale + i, k, 0.0f);
        vd r0 = vd_mul(vd_mul(vd_sub(vd_lo(v), m), inv), vd_lo(s));
        vd r1 = vd_mul(vd_mul(vd_sub(vd_hi(v), m), inv), vd_hi(s));
        if (ln->bias) {
            const vf b = vf_loadn(ln->bias + i, k, 0.0f);
            r0 = vd_add(r0, vd_lo(b));
            r1 = vd_add(r1, vd_hi(b));
        }
        vf_storen(y + i, vf_from_vd(r0, r1), k);
    }
}

const tq_cpu_simd_isa TQ_CPU_SIMD_TABLE = {
    .name = TQ_CPU_SIMD_NAME,
    .unary = v_unary,
    .binary = v_binary,
    .quant_s8 = v_quant_s8,
    .quant_u8 = v_quant_u8,
    .dequant = v_dequant,
    .qadd = v_qadd,
    .max_f32 = v_max_f32,
    .max_s8 = v_max_s8,
    .max_u8 = v_max_u8,
    .avg_f32 = v_avg_f32,
    .sum_f64 = v_sum_f64,
    .softmax = v_softmax,
    .layer_norm = v_layer_norm,
};
