/* reduce.c: reference kernels of the Reduce* ops. The input is grouped into runs of kept and
 * reduced dims (adjacent dims of one kind merge); each output element is computed at once by
 * walking its reduced set, so no scratch memory is needed. Floats accumulate in double;
 * Sum/Prod/Max/Min/SumSquare/L1/Mean of integers are exact in 64-bit. An empty reduced set gives
 * the op's identity (Sum 0, Prod 1, Max -inf or the dtype's minimum, LogSum -inf, ...). */
#include "backends/ref/ref.h"

#include <math.h>

typedef struct red_geom {
    int32_t n_keep, n_red;
    size_t kd[TQ_MAX_RANK], ks[TQ_MAX_RANK]; /* kept dims, their input strides (elements) */
    size_t rd[TQ_MAX_RANK], rs[TQ_MAX_RANK]; /* reduced dims and strides; at least one entry */
    size_t n_out, n_red_total;
} red_geom;

/* Reduced axes from the axes input or attribute, as the shape inference reads them. */
static tfmq_status red_mask(tq_op_ctx *ctx, const tq_tensor *x, bool *red)
{
    const tq_tensor *ta = ctx->n_in > 1 ? ctx->in[1] : NULL;
    int64_t axes[TQ_MAX_RANK], noop;
    size_t n_axes = 0;
    tfmq_status st;
    if ((st = tq_attr_int(ctx->node, "noop_with_empty_axes", 0, &noop)) != TFMQ_OK) {
        return st;
    }
    if (ta) {
        if (tq_tensor_numel(ta) > 0 &&
            (st = tq_read_ints(ctx, ta, axes, TQ_MAX_RANK, &n_axes)) != TFMQ_OK) {
            return st;
        }
    } else {
        const int64_t *av;
        if ((st = tq_attr_ints(ctx->node, "axes", &av, &n_axes)) != TFMQ_OK) {
            return st;
        }
        if (n_axes > TQ_MAX_RANK) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "%zu axes", n_axes);
        }
        for (size_t i = 0; i < n_axes; i++) {
            axes[i] = av[i];
        }
    }
    for (int32_t i = 0; i < x->rank; i++) {
        red[i] = n_axes == 0 && !noop;
    }
    for (size_t i = 0; i < n_axes; i++) {
        int32_t a;
        if ((st = tq_norm_axis(ctx, axes[i], x->rank, false, &a)) != TFMQ_OK) {
            return st;
        }
        if (red[a]) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "axis %lld is repeated",
                              (long long)axes[i]);
        }
        red[a] = true;
    }
    return TFMQ_OK;
}

static void red_geom_init(red_geom *g, const tq_tensor *x, const bool *red)
{
    size_t stride[TQ_MAX_RANK];
    size_t s = 1;
    for (int32_t i = x->rank - 1; i >= 0; i--) {
        stride[i] = s;
        s *= (size_t)x->dims[i];
    }
    g->n_keep = g->n_red = 0;
    g->n_out = 1;
    g->n_red_total = 1;
    int last = -1; /* 0: kept, 1: reduced, of the previous non-1 dim */
    for (int32_t i = 0; i < x->rank; i++) {
        const size_t d = (size_t)x->dims[i];
        if (d == 1) {
            continue;
        }
        if (red[i]) {
            g->n_red_total *= d;
            if (last == 1) {
                g->rd[g->n_red - 1] *= d;
                g->rs[g->n_red - 1] = stride[i];
            } else {
                g->rd[g->n_red] = d;
                g->rs[g->n_red] = stride[i];
                g->n_red++;
            }
            last = 1;
        } else {
            g->n_out *= d;
            if (last == 0) {
                g->kd[g->n_keep - 1] *= d;
                g->ks[g->n_keep - 1] = stride[i];
            } else {
                g->kd[g->n_keep] = d;
                g->ks[g->n_keep] = stride[i];
                g->n_keep++;
            }
            last = 0;
        }
    }
    if (g->n_red == 0) {
        g->rd[0] = 1;
        g->rs[0] = 0;
        g->n_red = 1;
    }
}

/* Visit every input offset `o` of the reduced set starting at BASE (n_red_total must be > 0). */
#define RED_VISIT(G, BASE, BODY)                                                                   \
    do {                                                                                           \
        size_t idx_[TQ_MAX_RANK] = {0};                                                            \
        size_t ob_ = (BASE);                                                                       \
        const int32_t nr_ = (G)->n_red;                                                            \
        const size_t rl_ = (G)->rd[nr_ - 1], rst_ = (G)->rs[nr_ - 1];                              \
        for (;;) {                                                                                 \
            for (size_t r_ = 0; r_ < rl_; r_++) {                                                  \
                const size_t o = ob_ + r_ * rst_;                                                  \
                BODY                                                                               \
            }                                                                                      \
            int32_t d_ = nr_ - 2;                                                                  \
            for (; d_ >= 0; d_--) {                                                                \
                if (++idx_[d_] < (G)->rd[d_]) {                                                    \
                    ob_ += (G)->rs[d_];                                                            \
                    break;                                                                         \
                }                                                                                  \
                ob_ -= (G)->rs[d_] * ((G)->rd[d_] - 1);                                            \
                idx_[d_] = 0;                                                                      \
            }                                                                                      \
            if (d_ < 0) {                                                                          \
                break;                                                                             \
            }                                                                                      \
        }                                                                                          \
    } while (0)

/* One output in double. LOAD(o) reads input element o as double. */
#define RED_ONE_F64(LOAD)                                                                          \
    do {                                                                                           \
        const double n_ = (double)g->n_red_total;                                                  \
        double s = 0.0;                                                                            \
        if (g->n_red_total == 0) {                                                                 \
            switch (op) {                                                                          \
            case TQ_OP_REDUCE_PROD:                                                                \
                return 1.0;                                                                        \
            case TQ_OP_REDUCE_MAX:                                                                 \
            case TQ_OP_REDUCE_LOG_SUM:                                                             \
            case TQ_OP_REDUCE_LOG_SUM_EXP:                                                         \
                return -HUGE_VAL;                                                                  \
            case TQ_OP_REDUCE_MIN:                                                                 \
                return HUGE_VAL;                                                                   \
            case TQ_OP_REDUCE_MEAN:                                                                \
                return (double)NAN;                                                                \
            default:                                                                               \
                return 0.0;                                                                        \
            }                                                                                      \
        }                                                                                          \
        switch (op) {                                                                              \
        case TQ_OP_REDUCE_SUM:                                                                     \
            RED_VISIT(g, base, s += LOAD(o););                                                     \
            return s;                                                                              \
        case TQ_OP_REDUCE_MEAN:                                                                    \
            RED_VISIT(g, base, s += LOAD(o););                                                     \
            return s / n_;                                                                         \
        case TQ_OP_REDUCE_SUM_SQUARE:                                                              \
            RED_VISIT(g, base, const double v = LOAD(o); s += v * v;);                             \
            return s;                                                                              \
        case TQ_OP_REDUCE_L2:                                                                      \
            RED_VISIT(g, base, const double v = LOAD(o); s += v * v;);                             \
            return sqrt(s);                                                                        \
        case TQ_OP_REDUCE_L1:                                                                      \
            RED_VISIT(g, base, s += fabs(LOAD(o)););                                               \
            return s;                                                                              \
        case TQ_OP_REDUCE_LOG_SUM:                                                                 \
            RED_VISIT(g, base, s += LOAD(o););                                                     \
            return log(s);                                                                         \
        case TQ_OP_REDUCE_PROD:                                                                    \
            s = 1.0;                                                                               \
            RED_VISIT(g, base, s *= LOAD(o););                                                     \
            return s;                                                                              \
        case TQ_OP_REDUCE_MAX:                                                                     \
            s = -HUGE_VAL;                                                                         \
            RED_VISIT(                                                                             \
                g, base, const double v = LOAD(o); if (v > s || v != v) { s = v; });               \
            return s;                                                                              \
        case TQ_OP_REDUCE_MIN:                                                                     \
            s = HUGE_VAL;                                                                          \
            RED_VISIT(                                                                             \
                g, base, const double v = LOAD(o); if (v < s || v != v) { s = v; });               \
            return s;                                                                              \
        case TQ_OP_REDUCE_LOG_SUM_EXP: {                                                           \
            double m = -HUGE_VAL;                                                                  \
            RED_VISIT(                                                                             \
                g, base, const double v = LOAD(o); if (v > m || v != v) { m = v; });               \
            if (isinf(m) || isnan(m)) {                                                            \
                return m;                                                                          \
            }                                                                                      \
            RED_VISIT(g, base, s += exp(LOAD(o) - m););                                            \
            return m + log(s);                                                                     \
        }                                                                                          \
        default:                                                                                   \
            return (double)NAN;                                                                    \
        }                                                                                          \
    } while (0)

static double red_one_f32(uint32_t op, const red_geom *g, const float *X, size_t base)
{
#define LOAD_F32(o) ((double)X[o])
    RED_ONE_F64(LOAD_F32);
#undef LOAD_F32
}

static double red_one_gen(uint32_t op, const red_geom *g, tfmq_dtype dt, const void *X, size_t base)
{
#define LOAD_GEN(o) tq_load_f64(dt, X, o)
    RED_ONE_F64(LOAD_GEN);
#undef LOAD_GEN
}

/* Smallest and largest value of an integer dtype, as int64 (uint64 max is -1 as bits). */
static void red_int_limits(tfmq_dtype dt, int64_t *lo, int64_t *hi)
{
    const size_t bits = tq_dtype_size(dt) * 8;
    if (dt == TFMQ_DTYPE_BOOL) {
        *lo = 0;
        *hi = 1;
    } else if (tq_dtype_is_signed(dt)) {
        *hi = bits >= 64 ? INT64_MAX : (int64_t)((1ull << (bits - 1)) - 1);
        *lo = -*hi - 1;
    } else {
        *lo = 0;
        *hi = bits >= 64 ? -1 : (int64_t)((1ull << bits) - 1);
    }
}

/* One output of an integer input, exact in 64-bit (wrapping). */
static int64_t red_one_int(uint32_t op, const red_geom *g, tfmq_dtype dt, const void *X,
                           size_t base, bool *as_double, double *dv)
{
    const bool uns = !tq_dtype_is_signed(dt);
    uint64_t s = 0;
    int64_t lo, hi;
    red_int_limits(dt, &lo, &hi);
    *as_double = false;
    if (op == TQ_OP_REDUCE_MAX || op == TQ_OP_REDUCE_MIN) {
        int64_t m = op == TQ_OP_REDUCE_MAX ? lo : hi;
        if (g->n_red_total == 0) {
            return m;
        }
        if (op == TQ_OP_REDUCE_MAX) {
            RED_VISIT(
                g, base, const int64_t v = tq_load_i64(dt, X, o);
                if (uns ? (uint64_t)v > (uint64_t)m : v > m) { m = v; });
        } else {
            RED_VISIT(
                g, base, const int64_t v = tq_load_i64(dt, X, o);
                if (uns ? (uint64_t)v < (uint64_t)m : v < m) { m = v; });
        }
        return m;
    }
    if (op == TQ_OP_REDUCE_PROD) {
        s = 1;
    }
    if (g->n_red_total > 0) {
        switch (op) {
        case TQ_OP_REDUCE_SUM:
        case TQ_OP_REDUCE_MEAN:
            RED_VISIT(g, base, s += (uint64_t)tq_load_i64(dt, X, o););
            break;
        case TQ_OP_REDUCE_PROD:
            RED_VISIT(g, base, s *= (uint64_t)tq_load_i64(dt, X, o););
            break;
        case TQ_OP_REDUCE_SUM_SQUARE:
            RED_VISIT(g, base, const uint64_t v = (uint64_t)tq_load_i64(dt, X, o); s += v * v;);
            break;
        case TQ_OP_REDUCE_L1:
            RED_VISIT(g, base, const int64_t v = tq_load_i64(dt, X, o);
                      s += (!uns && v < 0) ? 0u - (uint64_t)v : (uint64_t)v;);
            break;
        default:
            break;
        }
    }
    if (op == TQ_OP_REDUCE_MEAN) {
        /* numpy: mean in floating point, then cast back (truncation) */
        *as_double = true;
        *dv = g->n_red_total == 0 ? (double)NAN
                                  : (uns ? (double)s : (double)(int64_t)s) / (double)g->n_red_total;
    }
    return (int64_t)s;
}

tfmq_status tq_ref_reduce(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0];
    tq_tensor *y = ctx->out[0];
    const uint32_t op = ctx->node->op;
    bool red[TQ_MAX_RANK];
    tfmq_status st;
    if (x->rank < 0 || x->rank > TQ_MAX_RANK) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "bad input rank");
    }
    if ((st = red_mask(ctx, x, red)) != TFMQ_OK) {
        return st;
    }
    red_geom g;
    red_geom_init(&g, x, red);
    if (tq_tensor_numel(y) != g.n_out || y->dtype != x->dtype) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "output does not match the reduction");
    }
    const tfmq_dtype dt = x->dtype;
    const bool int_exact =
        !tq_dtype_is_float(dt) &&
        (op == TQ_OP_REDUCE_SUM || op == TQ_OP_REDUCE_MEAN || op == TQ_OP_REDUCE_PROD ||
         op == TQ_OP_REDUCE_MAX || op == TQ_OP_REDUCE_MIN || op == TQ_OP_REDUCE_SUM_SQUARE ||
         op == TQ_OP_REDUCE_L1);
    /* walk the kept dims: output element k has input base offset `base` */
    size_t kidx[TQ_MAX_RANK] = {0};
    size_t base = 0;
    for (size_t k = 0; k < g.n_out; k++) {
        if (int_exact) {
            bool as_d;
            double dv = 0.0;
            int64_t v = red_one_int(op, &g, dt, x->data, base, &as_d, &dv);
            if (as_d) {
                tq_store_f64(dt, y->data, k, dv);
            } else {
                tq_store_i64(dt, y->data, k, v);
            }
        } else if (dt == TFMQ_DTYPE_FLOAT32) {
            ((float *)y->data)[k] = (float)red_one_f32(op, &g, x->data, base);
        } else {
            tq_store_f64(dt, y->data, k, red_one_gen(op, &g, dt, x->data, base));
        }
        for (int32_t d = g.n_keep - 1; d >= 0; d--) {
            if (++kidx[d] < g.kd[d]) {
                base += g.ks[d];
                break;
            }
            base -= g.ks[d] * (g.kd[d] - 1);
            kidx[d] = 0;
        }
    }
    return TFMQ_OK;
}
