/* unary.c: reference kernels of the elementwise unary ops. Float math is done in double and
 * rounded once to the output type (float32 has a direct loop per op; float64/float16/bfloat16
 * go through double in chunks). Integer Abs/Neg/Sign/Relu/BitwiseNot are exact in 64-bit
 * integer arithmetic (wrapping like C casts, e.g. Abs(INT8_MIN) = INT8_MIN as numpy does). */
#include "backends/ref/ref.h"

#include <math.h>
#include <string.h>

#define UNARY_CHUNK 256

typedef struct unary_params {
    double a, b, g;        /* alpha, beta, gamma (per-op defaults from the ONNX spec) */
    double bias, lambd;    /* Shrink */
    bool gelu_tanh;        /* Gelu approximate="tanh" */
    bool det_neg, det_pos; /* IsInf */
} unary_params;

static double sigmoid_d(double x)
{
    if (x >= 0.0) {
        return 1.0 / (1.0 + exp(-x));
    }
    double e = exp(x);
    return e / (1.0 + e);
}

static double softplus_d(double x)
{
    /* log(1 + e^x) without overflow */
    return x > 0.0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

static double clamp01(double v)
{
    return v < 0.0 ? 0.0 : (v > 1.0 ? 1.0 : v); /* NaN passes through */
}

static double gelu_d(double x, bool tanh_approx)
{
    if (tanh_approx) {
        const double k = 0.7978845608028654; /* sqrt(2/pi) */
        return 0.5 * x * (1.0 + tanh(k * (x + 0.044715 * x * x * x)));
    }
    return 0.5 * x * (1.0 + erf(x * 0.7071067811865476));
}

/* One row per op: the op id and its value y as an expression of double x and params p. */
#define UNARY_FLOAT_OPS(X)                                                                         \
    X(TQ_OP_ABS, fabs(x))                                                                          \
    X(TQ_OP_NEG, -x)                                                                               \
    X(TQ_OP_RELU, x < 0.0 ? 0.0 : x)                                                               \
    X(TQ_OP_LEAKY_RELU, x < 0.0 ? p->a * x : x)                                                    \
    X(TQ_OP_SIGMOID, sigmoid_d(x))                                                                 \
    X(TQ_OP_TANH, tanh(x))                                                                         \
    X(TQ_OP_HARD_SIGMOID, clamp01(p->a *x + p->b))                                                 \
    X(TQ_OP_HARD_SWISH, x *clamp01(x / 6.0 + 0.5))                                                 \
    X(TQ_OP_ELU, x < 0.0 ? p->a * expm1(x) : x)                                                    \
    X(TQ_OP_SELU, x <= 0.0 ? p->g * (p->a * exp(x) - p->a) : p->g * x)                             \
    X(TQ_OP_SOFTPLUS, softplus_d(x))                                                               \
    X(TQ_OP_GELU, gelu_d(x, p->gelu_tanh))                                                         \
    X(TQ_OP_ERF, erf(x))                                                                           \
    X(TQ_OP_EXP, exp(x))                                                                           \
    X(TQ_OP_LOG, log(x))                                                                           \
    X(TQ_OP_SQRT, sqrt(x))                                                                         \
    X(TQ_OP_RECIPROCAL, 1.0 / x)                                                                   \
    X(TQ_OP_FLOOR, floor(x))                                                                       \
    X(TQ_OP_CEIL, ceil(x))                                                                         \
    X(TQ_OP_ROUND, nearbyint(x)) /* default rounding mode: half to even */                         \
    X(TQ_OP_SIGN, x > 0.0 ? 1.0 : (x < 0.0 ? -1.0 : x))                                            \
    X(TQ_OP_SIN, sin(x))                                                                           \
    X(TQ_OP_COS, cos(x))                                                                           \
    X(TQ_OP_TAN, tan(x))                                                                           \
    X(TQ_OP_ASIN, asin(x))                                                                         \
    X(TQ_OP_ACOS, acos(x))                                                                         \
    X(TQ_OP_ATAN, atan(x))                                                                         \
    X(TQ_OP_SINH, sinh(x))                                                                         \
    X(TQ_OP_COSH, cosh(x))                                                                         \
    X(TQ_OP_ASINH, asinh(x))                                                                       \
    X(TQ_OP_ACOSH, acosh(x))                                                                       \
    X(TQ_OP_ATANH, atanh(x))                                                                       \
    X(TQ_OP_SOFTSIGN, x / (1.0 + fabs(x)))                                                         \
    X(TQ_OP_CELU, x > 0.0 ? x : p->a * expm1(x / p->a))                                            \
    X(TQ_OP_MISH, x *tanh(softplus_d(x)))                                                          \
    X(TQ_OP_THRESHOLDED_RELU, x > p->a ? x : 0.0)                                                  \
    X(TQ_OP_SHRINK, x < -p->lambd ? x + p->bias : (x > p->lambd ? x - p->bias : 0.0))

static tfmq_status unary_params_read(tq_op_ctx *ctx, unary_params *p)
{
    const tq_node *n = ctx->node;
    tfmq_status st;
    float a = 0.0f, b = 0.0f, g = 0.0f, bias = 0.0f, lambd = 0.5f;
    float da = 0.0f, db = 0.0f, dg = 0.0f;
    const char *approx = "none";
    int64_t neg = 1, pos = 1;
    switch (n->op) {
    case TQ_OP_LEAKY_RELU:
        da = 0.01f;
        break;
    case TQ_OP_HARD_SIGMOID:
        da = 0.2f;
        db = 0.5f;
        break;
    case TQ_OP_ELU:
    case TQ_OP_CELU:
    case TQ_OP_THRESHOLDED_RELU:
        da = 1.0f;
        break;
    case TQ_OP_SELU:
        da = 1.67326319217681884765625f;
        dg = 1.05070102214813232421875f;
        break;
    default:
        break;
    }
    if ((st = tq_attr_float(n, "alpha", da, &a)) != TFMQ_OK ||
        (st = tq_attr_float(n, "beta", db, &b)) != TFMQ_OK ||
        (st = tq_attr_float(n, "gamma", dg, &g)) != TFMQ_OK) {
        return st;
    }
    if (n->op == TQ_OP_SHRINK && ((st = tq_attr_float(n, "bias", 0.0f, &bias)) != TFMQ_OK ||
                                  (st = tq_attr_float(n, "lambd", 0.5f, &lambd)) != TFMQ_OK)) {
        return st;
    }
    if (n->op == TQ_OP_GELU &&
        (st = tq_attr_string(n, "approximate", "none", &approx)) != TFMQ_OK) {
        return st;
    }
    if (n->op == TQ_OP_IS_INF && ((st = tq_attr_int(n, "detect_negative", 1, &neg)) != TFMQ_OK ||
                                  (st = tq_attr_int(n, "detect_positive", 1, &pos)) != TFMQ_OK)) {
        return st;
    }
    if (n->op == TQ_OP_CELU && a == 0.0f) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "alpha must not be 0");
    }
    p->a = (double)a;
    p->b = (double)b;
    p->g = (double)g;
    p->bias = (double)bias;
    p->lambd = (double)lambd;
    p->gelu_tanh = strcmp(approx, "tanh") == 0;
    p->det_neg = neg != 0;
    p->det_pos = pos != 0;
    return TFMQ_OK;
}

/* float32: one loop per op, the op switch outside the loop. */
static bool unary_f32(uint32_t op, const unary_params *p, const float *xs, float *ys, size_t n)
{
    if (op == TQ_OP_RELU) { /* the hot one: stay in float (exact either way) */
        for (size_t i = 0; i < n; i++) {
            ys[i] = xs[i] < 0.0f ? 0.0f : xs[i];
        }
        return true;
    }
    switch (op) {
#define X(OP, EXPR)                                                                                \
    case OP:                                                                                       \
        for (size_t i = 0; i < n; i++) {                                                           \
            const double x = (double)xs[i];                                                        \
            ys[i] = (float)(EXPR);                                                                 \
        }                                                                                          \
        return true;
        UNARY_FLOAT_OPS(X)
#undef X
    default:
        return false;
    }
}

/* double in place over a chunk */
static bool unary_f64(uint32_t op, const unary_params *p, double *v, size_t n)
{
    switch (op) {
#define X(OP, EXPR)                                                                                \
    case OP:                                                                                       \
        for (size_t i = 0; i < n; i++) {                                                           \
            const double x = v[i];                                                                 \
            v[i] = (EXPR);                                                                         \
        }                                                                                          \
        return true;
        UNARY_FLOAT_OPS(X)
#undef X
    default:
        return false;
    }
}

static tfmq_status unary_int(tq_op_ctx *ctx, const unary_params *p, const tq_tensor *x,
                             tq_tensor *y, size_t n)
{
    const uint32_t op = ctx->node->op;
    const tfmq_dtype dt = x->dtype;
    const bool sgn = tq_dtype_is_signed(dt);
    if (op == TQ_OP_SHRINK) {
        for (size_t i = 0; i < n; i++) {
            double v = tq_load_f64(dt, x->data, i);
            double r = v < -p->lambd ? v + p->bias : (v > p->lambd ? v - p->bias : 0.0);
            tq_store_f64(dt, y->data, i, r);
        }
        return TFMQ_OK;
    }
    for (size_t i = 0; i < n; i++) {
        int64_t v = tq_load_i64(dt, x->data, i);
        uint64_t u = (uint64_t)v;
        int64_t r;
        switch (op) {
        case TQ_OP_ABS:
            r = (sgn && v < 0) ? (int64_t)(0u - u) : v;
            break;
        case TQ_OP_NEG:
            r = (int64_t)(0u - u);
            break;
        case TQ_OP_RELU:
            r = (sgn && v < 0) ? 0 : v;
            break;
        case TQ_OP_SIGN:
            r = sgn ? (v > 0) - (v < 0) : (u != 0);
            break;
        case TQ_OP_BITWISE_NOT:
            r = (int64_t)~u;
            break;
        default:
            return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "integer dtype %s not supported",
                              tfmq_dtype_name(dt));
        }
        tq_store_i64(dt, y->data, i, r);
    }
    return TFMQ_OK;
}

tfmq_status tq_ref_unary(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0];
    tq_tensor *y = ctx->out[0];
    const uint32_t op = ctx->node->op;
    unary_params p = {0};
    tfmq_status st = unary_params_read(ctx, &p);
    if (st != TFMQ_OK) {
        return st;
    }
    const size_t n = tq_tensor_numel(x);
    const tfmq_dtype dt = x->dtype;
    if (tq_tensor_numel(y) != n) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "output size does not match the input");
    }

    if (op == TQ_OP_NOT) {
        const uint8_t *xs = x->data;
        uint8_t *ys = y->data;
        for (size_t i = 0; i < n; i++) {
            ys[i] = xs[i] ? 0 : 1;
        }
        return TFMQ_OK;
    }
    if (op == TQ_OP_IS_NAN || op == TQ_OP_IS_INF) {
        uint8_t *ys = y->data;
        for (size_t i = 0; i < n; i++) {
            double v = tq_load_f64(dt, x->data, i);
            if (op == TQ_OP_IS_NAN) {
                ys[i] = (uint8_t)(isnan(v) ? 1 : 0);
            } else {
                ys[i] = (uint8_t)(isinf(v) && ((v > 0.0 && p.det_pos) || (v < 0.0 && p.det_neg)));
            }
        }
        return TFMQ_OK;
    }
    if (!tq_dtype_is_float(dt)) {
        return unary_int(ctx, &p, x, y, n);
    }
    if (dt == TFMQ_DTYPE_FLOAT32) {
        if (!unary_f32(op, &p, x->data, y->data, n)) {
            return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "no float kernel");
        }
        return TFMQ_OK;
    }
    double buf[UNARY_CHUNK];
    for (size_t i0 = 0; i0 < n; i0 += UNARY_CHUNK) {
        size_t m = n - i0 < UNARY_CHUNK ? n - i0 : UNARY_CHUNK;
        for (size_t i = 0; i < m; i++) {
            buf[i] = tq_load_f64(dt, x->data, i0 + i);
        }
        if (!unary_f64(op, &p, buf, m)) {
            return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "no float kernel");
        }
        for (size_t i = 0; i < m; i++) {
            tq_store_f64(dt, y->data, i0 + i, buf[i]);
        }
    }
    return TFMQ_OK;
}
