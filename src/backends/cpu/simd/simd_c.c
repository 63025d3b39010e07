/* simd_c.c: the portable row kernels of the SIMD family (see simd.h). Each one computes exactly
 * what the reference kernel computes for the element (same operations, same precision, same
 * order), so this table is bit-exact with backends/ref. It serves builds and machines without
 * AVX2 and documents, in plain C, what the vector tables compute. */
#include <math.h>

#include "backends/cpu/simd/simd.h"

/* ---- element-wise ---- */
static double c_clamp01(double v)
{
    return v < 0.0 ? 0.0 : (v > 1.0 ? 1.0 : v); /* NaN passes through */
}

static double c_sigmoid(double x)
{
    if (x >= 0.0) {
        return 1.0 / (1.0 + exp(-x));
    }
    double e = exp(x);
    return e / (1.0 + e);
}

static void c_unary(const tq_cpu_simd_unary *u, const float *x, float *y, size_t n)
{
    const float a = u->a, b = u->b;
    const double ad = (double)a, bd = (double)b;
    switch (u->op) {
    case TQ_CPU_SIMD_RELU:
        for (size_t i = 0; i < n; i++) {
            y[i] = x[i] < 0.0f ? 0.0f : x[i];
        }
        break;
    case TQ_CPU_SIMD_CLIP:
        for (size_t i = 0; i < n; i++) {
            float v = x[i] < a ? a : x[i];
            y[i] = v > b ? b : v;
        }
        break;
    case TQ_CPU_SIMD_LEAKY_RELU:
        /* the float product equals the reference's double product rounded to float */
        for (size_t i = 0; i < n; i++) {
            y[i] = x[i] < 0.0f ? a * x[i] : x[i];
        }
        break;
    case TQ_CPU_SIMD_HARD_SIGMOID:
        for (size_t i = 0; i < n; i++) {
            y[i] = (float)c_clamp01(ad * (double)x[i] + bd);
        }
        break;
    case TQ_CPU_SIMD_HARD_SWISH:
        for (size_t i = 0; i < n; i++) {
            const double v = (double)x[i];
            y[i] = (float)(v * c_clamp01(v / 6.0 + 0.5));
        }
        break;
    case TQ_CPU_SIMD_SIGMOID:
        for (size_t i = 0; i < n; i++) {
            y[i] = (float)c_sigmoid((double)x[i]);
        }
        break;
    case TQ_CPU_SIMD_TANH:
        for (size_t i = 0; i < n; i++) {
            y[i] = (float)tanh((double)x[i]);
        }
        break;
    }
}

static void c_binary(tq_cpu_simd_binop op, const float *a, size_t sa, const float *b, size_t sb,
                     float *y, size_t n)
{
    switch (op) {
    case TQ_CPU_SIMD_ADD:
        for (size_t i = 0; i < n; i++) {
            y[i] = a[i * sa] + b[i * sb];
        }
        break;
    case TQ_CPU_SIMD_SUB:
        for (size_t i = 0; i < n; i++) {
            y[i] = a[i * sa] - b[i * sb];
        }
        break;
    case TQ_CPU_SIMD_MUL:
        for (size_t i = 0; i < n; i++) {
            y[i] = a[i * sa] * b[i * sb];
        }
        break;
    case TQ_CPU_SIMD_DIV:
        for (size_t i = 0; i < n; i++) {
            y[i] = a[i * sa] / b[i * sb];
        }
        break;
    }
}

/* ---- quantization ---- */
/* The clamped quantized value of one element (as QuantizeLinear's reference). */
static float c_quant1(const tq_cpu_simd_quant *q, float x)
{
    float v = nearbyintf(x / q->scale) + q->zp; /* exact: an integer plus a small integer, or
                                                   far outside [lo, hi] */
    if (isnan(v)) {
        v = 0.0f;
    }
    return v < q->lo ? q->lo : (v > q->hi ? q->hi : v);
}

static void c_quant_s8(const tq_cpu_simd_quant *q, const float *x, int8_t *y, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        y[i] = (int8_t)c_quant1(q, x[i]);
    }
}

static void c_quant_u8(const tq_cpu_simd_quant *q, const float *x, uint8_t *y, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        y[i] = (uint8_t)c_quant1(q, x[i]);
    }
}

static void c_dequant(const tq_cpu_simd_dequant *q, const void *x, float *y, size_t n)
{
    const int64_t z = q->zp;
    if (q->x_dt == TFMQ_DTYPE_INT8) {
        const int8_t *xs = x;
        for (size_t i = 0; i < n; i++) {
            y[i] = (float)((int64_t)xs[i] - z) * q->scale;
        }
    } else if (q->x_dt == TFMQ_DTYPE_UINT8) {
        const uint8_t *xs = x;
        for (size_t i = 0; i < n; i++) {
            y[i] = (float)((int64_t)xs[i] - z) * q->scale;
        }
    } else {
        const int32_t *xs = x;
        for (size_t i = 0; i < n; i++) {
            y[i] = (float)((int64_t)xs[i] - z) * q->scale;
        }
    }
}

static int32_t c_load_q8(bool s8, const void *p, size_t i)
{
    return s8 ? (int32_t)((const int8_t *)p)[i] : (int32_t)((const uint8_t *)p)[i];
}

static void c_qadd(const tq_cpu_simd_qadd *q, const void *a, const void *b, void *y, size_t n)
{
    const double lo = (double)q->lo, hi = (double)q->hi, yz = (double)q->y_zp;
    for (size_t i = 0; i < n; i++) {
        int32_t av = c_load_q8(q->a_s8, a, i) - q->a_zp;
        int32_t bv = c_load_q8(q->b_s8, b, i) - q->b_zp;
        double v = nearbyint((q->a_scale * (double)av + q->b_scale * (double)bv) / q->y_scale) + yz;
        v = v < lo ? lo : (v > hi ? hi : v);
        if (q->y_s8) {
            ((int8_t *)y)[i] = (int8_t)v;
        } else {
            ((uint8_t *)y)[i] = (uint8_t)v;
        }
    }
}

/* ---- pooling over channels-last windows ---- */
#define C_MAX_PX(NAME, T)                                                                          \
    static void NAME(const tq_cpu_simd_win *w, const T *x, T *y)                                   \
    {                                                                                              \
        for (size_t c = 0; c < w->c; c++) {                                                        \
            T best = x[c];                                                                         \
            for (size_t i = 0; i < w->nh; i++) {                                                   \
                for (size_t j = 0; j < w->nw; j++) {                                               \
                    T v = x[i * w->h_step + j * w->w_step + c];                                    \
                    best = v > best ? v : best; /* the first NaN tap wins, later ones don't */     \
                }                                                                                  \
            }                                                                                      \
            y[c] = best;                                                                           \
        }                                                                                          \
    }
C_MAX_PX(c_max_f32, float)
C_MAX_PX(c_max_s8, int8_t)
C_MAX_PX(c_max_u8, uint8_t)
#undef C_MAX_PX

static void c_avg_f32(const tq_cpu_simd_win *w, const float *x, double div, float *y)
{
    for (size_t c = 0; c < w->c; c++) {
        double sum = 0.0;
        for (size_t i = 0; i < w->nh; i++) {
            for (size_t j = 0; j < w->nw; j++) {
                sum += (double)x[i * w->h_step + j * w->w_step + c];
            }
        }
        y[c] = (float)(sum / div);
    }
}

static double c_sum_f64(const float *x, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) {
        s += (double)x[i];
    }
    return s;
}

/* ---- rows ---- */
static void c_softmax(const float *x, float *y, size_t n)
{
    float m = x[0];
    for (size_t i = 1; i < n; i++) {
        m = x[i] > m ? x[i] : m;
    }
    double s = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double e = exp((double)x[i] - (double)m);
        s += e;
        y[i] = (float)e;
    }
    const double inv = 1.0 / s;
    for (size_t i = 0; i < n; i++) {
        y[i] = (float)((double)y[i] * inv);
    }
}

static void c_layer_norm(const tq_cpu_simd_ln *ln, const float *x, float *y, size_t n)
{
    double s = 0.0, s2 = 0.0;
    for (size_t i = 0; i < n; i++) {
        s += (double)x[i];
    }
    const double m = s / (double)n;
    for (size_t i = 0; i < n; i++) {
        s2 += ((double)x[i] - m) * ((double)x[i] - m);
    }
    const double inv = 1.0 / sqrt(s2 / (double)n + ln->eps);
    for (size_t i = 0; i < n; i++) {
        double v = ((double)x[i] - m) * inv * (double)ln->scale[i];
        if (ln->bias) {
            v += (double)ln->bias[i];
        }
        y[i] = (float)v;
    }
}

const tq_cpu_simd_isa tq_cpu_simd_isa_c = {
    .name = "c",
    .unary = c_unary,
    .binary = c_binary,
    .quant_s8 = c_quant_s8,
    .quant_u8 = c_quant_u8,
    .dequant = c_dequant,
    .qadd = c_qadd,
    .max_f32 = c_max_f32,
    .max_s8 = c_max_s8,
    .max_u8 = c_max_u8,
    .avg_f32 = c_avg_f32,
    .sum_f64 = c_sum_f64,
    .softmax = c_softmax,
    .layer_norm = c_layer_norm,
};
