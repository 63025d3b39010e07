/* binary.c: reference kernels of the two-input elementwise ops with numpy broadcasting.
 * Paths: float32 arithmetic/comparisons in plain float loops (one loop per op and stride
 * pattern; float32 Pow too, as x * x for the exponent 2, which is pow's exact square rounded once,
 * as (float)pow((double)x, 2.0) is); other float dtypes and Pow/Mod in double over chunks; integers exactly in 64-bit
 * (wrapping like numpy, truncating Div, Mod per the fmod attribute); BOOL logic on bytes.
 * Integer division or modulo by zero is an error naming the node, never a crash. */
#include "backends/ref/ref.h"

#include <math.h>
#include <string.h>

#define BIN_CHUNK 256

typedef struct bin_params {
    bool fmod;       /* Mod: C fmod semantics (1) or sign of the divisor (0) */
    bool shift_left; /* BitShift direction */
} bin_params;

/* ---- float32 fast path ---- */
#define BIN_F32_LOOP(T_OUT, EXPR)                                                                  \
    for (size_t row = 0; row < it->n_rows; row++) {                                                \
        const float *pa = A + off[0], *pb = B + off[1];                                            \
        T_OUT *py = Y + row * ni;                                                                  \
        if (sa == 1 && sb == 1) {                                                                  \
            for (size_t j = 0; j < ni; j++) {                                                      \
                const float x = pa[j], z = pb[j];                                                  \
                py[j] = (EXPR);                                                                    \
            }                                                                                      \
        } else if (sa == 1 && sb == 0) {                                                           \
            const float z = pb[0];                                                                 \
            for (size_t j = 0; j < ni; j++) {                                                      \
                const float x = pa[j];                                                             \
                py[j] = (EXPR);                                                                    \
            }                                                                                      \
        } else if (sa == 0 && sb == 1) {                                                           \
            const float x = pa[0];                                                                 \
            for (size_t j = 0; j < ni; j++) {                                                      \
                const float z = pb[j];                                                             \
                py[j] = (EXPR);                                                                    \
            }                                                                                      \
        } else {                                                                                   \
            for (size_t j = 0; j < ni; j++) {                                                      \
                const float x = pa[j * sa], z = pb[j * sb];                                        \
                py[j] = (EXPR);                                                                    \
            }                                                                                      \
        }                                                                                          \
        tq_ref_bcast_next(it, off);                                                                \
    }

static bool bin_f32(uint32_t op, tq_ref_bcast *it, const float *A, const float *B, void *yv)
{
    size_t off[TQ_REF_BCAST_MAX_IN];
    const size_t ni = it->n_inner, sa = it->inner_stride[0], sb = it->inner_stride[1];
    tq_ref_bcast_begin(it, off);
    if (op == TQ_OP_ADD || op == TQ_OP_SUB || op == TQ_OP_MUL || op == TQ_OP_DIV ||
        op == TQ_OP_PRELU || op == TQ_OP_POW) {
        float *Y = yv;
        switch (op) {
        case TQ_OP_POW:
            BIN_F32_LOOP(float, z == 2.0f ? x * x : (float)pow((double)x, (double)z)) break;
        case TQ_OP_ADD:
            BIN_F32_LOOP(float, x + z) break;
        case TQ_OP_SUB:
            BIN_F32_LOOP(float, x - z) break;
        case TQ_OP_MUL:
            BIN_F32_LOOP(float, x *z) break;
        case TQ_OP_DIV:
            BIN_F32_LOOP(float, x / z) break;
        default:
            BIN_F32_LOOP(float, x < 0.0f ? x * z : x) break;
        }
        return true;
    }
    uint8_t *Y = yv;
    switch (op) {
    case TQ_OP_EQUAL:
        BIN_F32_LOOP(uint8_t, (uint8_t)(x == z)) break;
    case TQ_OP_LESS:
        BIN_F32_LOOP(uint8_t, (uint8_t)(x < z)) break;
    case TQ_OP_GREATER:
        BIN_F32_LOOP(uint8_t, (uint8_t)(x > z)) break;
    case TQ_OP_LESS_OR_EQUAL:
        BIN_F32_LOOP(uint8_t, (uint8_t)(x <= z)) break;
    case TQ_OP_GREATER_OR_EQUAL:
        BIN_F32_LOOP(uint8_t, (uint8_t)(x >= z)) break;
    default:
        return false;
    }
    return true;
}

/* ---- generic float path: r = op(x, z) over a chunk, in double ---- */
static tfmq_status bin_apply_f64(const tq_op_ctx *ctx, const bin_params *p, const double *x,
                                 const double *z, double *r, size_t m)
{
    switch (ctx->node->op) {
#define L(EXPR)                                                                                    \
    for (size_t j = 0; j < m; j++) {                                                               \
        const double a = x[j], b = z[j];                                                           \
        r[j] = (EXPR);                                                                             \
    }                                                                                              \
    break;
    case TQ_OP_ADD:
        L(a + b)
    case TQ_OP_SUB:
        L(a - b)
    case TQ_OP_MUL:
        L(a * b)
    case TQ_OP_DIV:
        L(a / b)
    case TQ_OP_POW:
        L(pow(a, b))
    case TQ_OP_PRELU:
        L(a < 0.0 ? a * b : a)
    case TQ_OP_EQUAL:
        L(a == b ? 1.0 : 0.0)
    case TQ_OP_LESS:
        L(a < b ? 1.0 : 0.0)
    case TQ_OP_GREATER:
        L(a > b ? 1.0 : 0.0)
    case TQ_OP_LESS_OR_EQUAL:
        L(a <= b ? 1.0 : 0.0)
    case TQ_OP_GREATER_OR_EQUAL:
        L(a >= b ? 1.0 : 0.0)
    case TQ_OP_MOD:
        if (p->fmod) {
            L(fmod(a, b))
        }
        /* Python-style: the result takes the divisor's sign */
        for (size_t j = 0; j < m; j++) {
            double v = fmod(x[j], z[j]);
            if (v != 0.0 && ((v < 0.0) != (z[j] < 0.0))) {
                v += z[j];
            }
            r[j] = v;
        }
        break;
#undef L
    default:
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "no float kernel for this op");
    }
    return TFMQ_OK;
}

/* ---- integer path: values as int64 (uint64 bits for unsigned dtypes) ---- */
static int64_t bin_ipow(int64_t base, int64_t e)
{
    uint64_t r = 1, b = (uint64_t)base;
    uint64_t ue = (uint64_t)e;
    while (ue) {
        if (ue & 1u) {
            r *= b;
        }
        b *= b;
        ue >>= 1;
    }
    return (int64_t)r;
}

static tfmq_status bin_div0(const tq_op_ctx *ctx)
{
    return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "integer division by zero");
}

static tfmq_status bin_apply_i64(const tq_op_ctx *ctx, const bin_params *p, bool uns, bool b_uns,
                                 const int64_t *x, const int64_t *z, int64_t *r, size_t m)
{
#define L(EXPR)                                                                                    \
    for (size_t j = 0; j < m; j++) {                                                               \
        const int64_t a = x[j], b = z[j];                                                          \
        const uint64_t ua = (uint64_t)a, ub = (uint64_t)b;                                         \
        (void)ua;                                                                                  \
        (void)ub;                                                                                  \
        r[j] = (EXPR);                                                                             \
    }                                                                                              \
    break;
    switch (ctx->node->op) {
    case TQ_OP_ADD:
        L((int64_t)(ua + ub))
    case TQ_OP_SUB:
        L((int64_t)(ua - ub))
    case TQ_OP_MUL:
        L((int64_t)(ua * ub))
    case TQ_OP_BITWISE_AND:
        L(a & b)
    case TQ_OP_BITWISE_OR:
        L(a | b)
    case TQ_OP_BITWISE_XOR:
        L(a ^ b)
    case TQ_OP_EQUAL:
        L(a == b)
    case TQ_OP_PRELU:
        L(uns || a >= 0 ? a : (int64_t)(ua * ub))
    case TQ_OP_LESS:
        if (uns) {
            L(ua < ub)
        }
        L(a < b)
    case TQ_OP_GREATER:
        if (uns) {
            L(ua > ub)
        }
        L(a > b)
    case TQ_OP_LESS_OR_EQUAL:
        if (uns) {
            L(ua <= ub)
        }
        L(a <= b)
    case TQ_OP_GREATER_OR_EQUAL:
        if (uns) {
            L(ua >= ub)
        }
        L(a >= b)
    case TQ_OP_BIT_SHIFT:
        if (p->shift_left) {
            L(ub >= 64 ? 0 : (int64_t)(ua << ub))
        }
        L(ub >= 64 ? 0 : (int64_t)(ua >> ub))
#undef L
    case TQ_OP_DIV:
    case TQ_OP_MOD:
        for (size_t j = 0; j < m; j++) {
            const int64_t a = x[j], b = z[j];
            int64_t q, rem;
            if (b == 0) {
                return bin_div0(ctx);
            }
            if (uns) {
                q = (int64_t)((uint64_t)a / (uint64_t)b);
                rem = (int64_t)((uint64_t)a % (uint64_t)b);
            } else if (b == -1) { /* INT64_MIN / -1 overflows in C: wrap like the hardware */
                q = (int64_t)(0u - (uint64_t)a);
                rem = 0;
            } else {
                q = a / b;
                rem = a % b;
                if (!p->fmod && rem != 0 && ((rem < 0) != (b < 0))) {
                    rem += b;
                }
            }
            r[j] = ctx->node->op == TQ_OP_DIV ? q : rem;
        }
        break;
    case TQ_OP_POW:
        for (size_t j = 0; j < m; j++) {
            const int64_t a = x[j], b = z[j];
            if (b_uns || b >= 0) {
                r[j] = bin_ipow(a, b);
            } else if (a == 1) {
                r[j] = 1;
            } else if (a == -1 && !uns) {
                r[j] = (b & 1) ? -1 : 1;
            } else if (a == 0) {
                return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "integer zero to a negative power");
            } else {
                r[j] = 0; /* 1 / a^|b| truncates to 0 */
            }
        }
        break;
    default:
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "no integer kernel for this op");
    }
    return TFMQ_OK;
}

/* ---- chunked drivers over the broadcast rows ---- */
static tfmq_status bin_run_f64(const tq_op_ctx *ctx, const bin_params *p, tq_ref_bcast *it,
                               const tq_tensor *a, const tq_tensor *b, tq_tensor *y)
{
    double xa[BIN_CHUNK], xb[BIN_CHUNK], xr[BIN_CHUNK];
    size_t off[TQ_REF_BCAST_MAX_IN];
    const size_t ni = it->n_inner, sa = it->inner_stride[0], sb = it->inner_stride[1];
    tq_ref_bcast_begin(it, off);
    for (size_t row = 0; row < it->n_rows; row++) {
        for (size_t j0 = 0; j0 < ni; j0 += BIN_CHUNK) {
            const size_t m = ni - j0 < BIN_CHUNK ? ni - j0 : BIN_CHUNK;
            for (size_t j = 0; j < m; j++) {
                xa[j] = tq_load_f64(a->dtype, a->data, off[0] + (j0 + j) * sa);
                xb[j] = tq_load_f64(b->dtype, b->data, off[1] + (j0 + j) * sb);
            }
            tfmq_status st = bin_apply_f64(ctx, p, xa, xb, xr, m);
            if (st != TFMQ_OK) {
                return st;
            }
            for (size_t j = 0; j < m; j++) {
                tq_store_f64(y->dtype, y->data, row * ni + j0 + j, xr[j]);
            }
        }
        tq_ref_bcast_next(it, off);
    }
    return TFMQ_OK;
}

static tfmq_status bin_run_i64(const tq_op_ctx *ctx, const bin_params *p, tq_ref_bcast *it,
                               const tq_tensor *a, const tq_tensor *b, tq_tensor *y)
{
    int64_t xa[BIN_CHUNK], xb[BIN_CHUNK], xr[BIN_CHUNK];
    size_t off[TQ_REF_BCAST_MAX_IN];
    const size_t ni = it->n_inner, sa = it->inner_stride[0], sb = it->inner_stride[1];
    const bool uns = !tq_dtype_is_signed(a->dtype), b_uns = !tq_dtype_is_signed(b->dtype);
    tq_ref_bcast_begin(it, off);
    for (size_t row = 0; row < it->n_rows; row++) {
        for (size_t j0 = 0; j0 < ni; j0 += BIN_CHUNK) {
            const size_t m = ni - j0 < BIN_CHUNK ? ni - j0 : BIN_CHUNK;
            for (size_t j = 0; j < m; j++) {
                xa[j] = tq_load_i64(a->dtype, a->data, off[0] + (j0 + j) * sa);
                xb[j] = tq_load_i64(b->dtype, b->data, off[1] + (j0 + j) * sb);
            }
            tfmq_status st = bin_apply_i64(ctx, p, uns, b_uns, xa, xb, xr, m);
            if (st != TFMQ_OK) {
                return st;
            }
            for (size_t j = 0; j < m; j++) {
                tq_store_i64(y->dtype, y->data, row * ni + j0 + j, xr[j]);
            }
        }
        tq_ref_bcast_next(it, off);
    }
    return TFMQ_OK;
}

static void bin_run_bool(uint32_t op, tq_ref_bcast *it, const uint8_t *A, const uint8_t *B,
                         uint8_t *Y)
{
    size_t off[TQ_REF_BCAST_MAX_IN];
    const size_t ni = it->n_inner, sa = it->inner_stride[0], sb = it->inner_stride[1];
    tq_ref_bcast_begin(it, off);
    for (size_t row = 0; row < it->n_rows; row++) {
        const uint8_t *pa = A + off[0], *pb = B + off[1];
        uint8_t *py = Y + row * ni;
        for (size_t j = 0; j < ni; j++) {
            const bool x = pa[j * sa] != 0, z = pb[j * sb] != 0;
            py[j] = (uint8_t)(op == TQ_OP_AND ? (x && z) : op == TQ_OP_OR ? (x || z) : (x != z));
        }
        tq_ref_bcast_next(it, off);
    }
}

/* View of b as seen by the output: b itself when it broadcasts numpy-style, else the legacy
 * placements (opset < 7 "axis", old per-channel PRelu slope at axis 1). */
static tfmq_status bin_b_view(const tq_op_ctx *ctx, const tq_tensor *b, const tq_tensor *y,
                              tq_tensor *bv)
{
    *bv = *b;
    int64_t axis = -1;
    const tq_attr *at = tq_node_attr(ctx->node, "axis");
    const tq_attr *bc = tq_node_attr(ctx->node, "broadcast");
    if (ctx->opset < 7 && at && at->type == TQ_ATTR_INT && bc && bc->type == TQ_ATTR_INT &&
        bc->i != 0) {
        /* legacy: b's dims align with y's starting at `axis`, not at the end */
        axis = at->i < 0 ? at->i + y->rank : at->i;
    } else if (tq_ref_bcast_ok(b, y)) {
        return TFMQ_OK;
    } else if (ctx->node->op == TQ_OP_PRELU && b->rank == 1 && y->rank >= 2) {
        axis = 1;
    }
    if (axis < 0 || b->rank < 0 || axis + b->rank > y->rank) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "input shapes do not match the output");
    }
    bv->rank = y->rank;
    for (int32_t i = 0; i < y->rank; i++) {
        bv->dims[i] = 1;
    }
    for (int32_t i = 0; i < b->rank; i++) {
        bv->dims[axis + i] = b->dims[i];
    }
    if (!tq_ref_bcast_ok(bv, y)) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "input shapes do not match the output");
    }
    return TFMQ_OK;
}

tfmq_status tq_ref_binary(tq_op_ctx *ctx)
{
    const tq_tensor *a = ctx->in[0];
    tq_tensor *y = ctx->out[0];
    const uint32_t op = ctx->node->op;
    tq_tensor bv;
    tfmq_status st;
    bin_params p = {0};
    if ((st = bin_b_view(ctx, ctx->in[1], y, &bv)) != TFMQ_OK) {
        return st;
    }
    if (!tq_ref_bcast_ok(a, y)) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "input shapes do not match the output");
    }
    if (op == TQ_OP_MOD) {
        int64_t f = 0;
        if ((st = tq_attr_int(ctx->node, "fmod", 0, &f)) != TFMQ_OK) {
            return st;
        }
        p.fmod = f != 0;
    }
    if (op == TQ_OP_BIT_SHIFT) {
        const char *dir = "";
        if ((st = tq_attr_string(ctx->node, "direction", "", &dir)) != TFMQ_OK) {
            return st;
        }
        p.shift_left = strcmp(dir, "LEFT") == 0;
    }
    tq_ref_bcast it;
    const tq_tensor *ins[2] = {a, &bv};
    tq_ref_bcast_init(&it, y, ins, 2);

    if (op == TQ_OP_AND || op == TQ_OP_OR || op == TQ_OP_XOR) {
        bin_run_bool(op, &it, a->data, bv.data, y->data);
        return TFMQ_OK;
    }
    if (a->dtype == TFMQ_DTYPE_FLOAT32 && bv.dtype == TFMQ_DTYPE_FLOAT32 &&
        (y->dtype == TFMQ_DTYPE_FLOAT32 || y->dtype == TFMQ_DTYPE_BOOL) &&
        bin_f32(op, &it, a->data, bv.data, y->data)) {
        return TFMQ_OK;
    }
    if (tq_dtype_is_float(a->dtype) || (op == TQ_OP_POW && tq_dtype_is_float(bv.dtype))) {
        return bin_run_f64(ctx, &p, &it, a, &bv, y);
    }
    return bin_run_i64(ctx, &p, &it, a, &bv, y);
}
