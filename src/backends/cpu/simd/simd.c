/* simd.c: the SIMD family's driver (see cpu.h and simd.h): which nodes it takes, their roles,
 * preparing a kernel, and the run functions of the element-wise and row kernels (pooling is in
 * simd_pool.c). Every decision about a node is made by one plan function shared by
 * tq_cpu_simd_role and tq_cpu_prepare_simd, so that the two always agree; prepare then only
 * checks the layouts the exec chose. Runs allocate nothing: the kernel state is one block made
 * at prepare time. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "backends/cpu/simd/simd.h"
#include "backends/ref/qlinear.h"
#include "backends/ref/ref.h"
#include "ir/ops/shape_ops.h"

const tq_cpu_simd_isa *tq_cpu_simd_isa_for(tq_cpu_isa isa)
{
    if (isa >= TQ_CPU_ISA_AVX512) {
        return &tq_cpu_simd_isa_avx512;
    }
    if (isa >= TQ_CPU_ISA_AVX2) {
        return &tq_cpu_simd_isa_avx2;
    }
    return &tq_cpu_simd_isa_c;
}

/* ---- small helpers ---- */
static bool simd_same_shape(const tq_tensor *a, const tq_tensor *b)
{
    if (a->rank != b->rank) {
        return false;
    }
    for (int32_t i = 0; i < a->rank; i++) {
        if (a->dims[i] != b->dims[i]) {
            return false;
        }
    }
    return true;
}

static bool simd_known(const tq_tensor *t)
{
    return t && tq_tensor_shape_known(t);
}

static bool simd_is_f32(const tq_tensor *t)
{
    return simd_known(t) && t->dtype == TFMQ_DTYPE_FLOAT32;
}

static bool simd_is_q8(tfmq_dtype dt)
{
    return dt == TFMQ_DTYPE_INT8 || dt == TFMQ_DTYPE_UINT8;
}

/* Input i, or NULL when absent. */
static const tq_tensor *simd_in(const tq_op_ctx *ctx, int32_t i)
{
    return i < ctx->n_in ? ctx->in[i] : NULL;
}

/* A per-tensor parameter: one element, rank <= 1. */
static bool simd_is_scalar(const tq_tensor *t)
{
    return simd_known(t) && t->rank <= 1 && tq_tensor_numel(t) == 1;
}

/* A rank-4 tensor's memory order: NHWC only where it differs from NCHW (C > 1 and H*W > 1). */
static tq_layout simd_layout(const tq_tensor *t, const uint8_t *layouts, int32_t i)
{
    if (!t || !layouts || t->rank != 4 || layouts[i] != TQ_LAYOUT_NHWC) {
        return TQ_LAYOUT_NCHW;
    }
    if (t->dims[1] == 1 || t->dims[2] * t->dims[3] == 1) {
        return TQ_LAYOUT_NCHW;
    }
    return TQ_LAYOUT_NHWC;
}

static int32_t simd_load_q8(const tq_tensor *t)
{
    if (!t) {
        return 0;
    }
    const int8_t *s8 = t->data;
    const uint8_t *u8 = t->data;
    return t->dtype == TFMQ_DTYPE_INT8 ? (int32_t)s8[0] : (int32_t)u8[0];
}

/* ---- plans: what the family does with a node, independent of layouts ---- */
typedef struct simd_plan {
    tq_cpu_simd_kernel k; /* the kernel's fields except base, isa, n_threads, impl */
    tq_cpu_role role;
    const char *what; /* for the impl string */
} simd_plan;

static bool simd_plan_clip(const tq_op_ctx *ctx, float *lo, float *hi)
{
    double l = -HUGE_VAL, h = HUGE_VAL;
    if (ctx->opset < 11) {
        float fl, fh;
        if (tq_attr_float(ctx->node, "min", -FLT_MAX, &fl) != TFMQ_OK ||
            tq_attr_float(ctx->node, "max", FLT_MAX, &fh) != TFMQ_OK) {
            return false;
        }
        l = (double)fl;
        h = (double)fh;
    }
    const tq_tensor *tl = simd_in(ctx, 1), *th = simd_in(ctx, 2);
    if ((tl && (!simd_is_scalar(tl) || !tl->data || !tq_dtype_is_float(tl->dtype))) ||
        (th && (!simd_is_scalar(th) || !th->data || !tq_dtype_is_float(th->dtype)))) {
        return false; /* bounds must be constants */
    }
    if (tl) {
        l = tq_load_f64(tl->dtype, tl->data, 0);
    }
    if (th) {
        h = tq_load_f64(th->dtype, th->data, 0);
    }
    *lo = (float)l;
    *hi = (float)h;
    return true;
}

static bool simd_plan_unary(const tq_op_ctx *ctx, simd_plan *pl)
{
    const tq_tensor *x = ctx->in[0], *y = ctx->out[0];
    if (!simd_is_f32(x) || !simd_is_f32(y) || tq_tensor_numel(x) != tq_tensor_numel(y)) {
        return false;
    }
    tq_cpu_simd_unary *u = &pl->k.un;
    float da = 0.0f, db = 0.0f;
    switch (ctx->node->op) {
    case TQ_OP_RELU:
        u->op = TQ_CPU_SIMD_RELU;
        pl->what = "relu";
        break;
    case TQ_OP_CLIP:
        u->op = TQ_CPU_SIMD_CLIP;
        pl->what = "clip";
        break;
    case TQ_OP_LEAKY_RELU:
        u->op = TQ_CPU_SIMD_LEAKY_RELU;
        pl->what = "leaky_relu";
        da = 0.01f;
        break;
    case TQ_OP_HARD_SIGMOID:
        u->op = TQ_CPU_SIMD_HARD_SIGMOID;
        pl->what = "hard_sigmoid";
        da = 0.2f;
        db = 0.5f;
        break;
    case TQ_OP_HARD_SWISH:
        u->op = TQ_CPU_SIMD_HARD_SWISH;
        pl->what = "hard_swish";
        break;
    case TQ_OP_SIGMOID:
        u->op = TQ_CPU_SIMD_SIGMOID;
        pl->what = "sigmoid";
        break;
    case TQ_OP_TANH:
        u->op = TQ_CPU_SIMD_TANH;
        pl->what = "tanh";
        break;
    default:
        return false;
    }
    if (u->op == TQ_CPU_SIMD_CLIP) {
        if (!simd_plan_clip(ctx, &u->a, &u->b)) {
            return false;
        }
    } else if (tq_attr_float(ctx->node, "alpha", da, &u->a) != TFMQ_OK ||
               tq_attr_float(ctx->node, "beta", db, &u->b) != TFMQ_OK) {
        return false;
    }
    pl->k.kind = TQ_CPU_SIMD_K_UNARY;
    pl->k.n = tq_tensor_numel(y);
    pl->role = TQ_CPU_ROLE_SAME;
    return true;
}

/* The broadcast pattern of `small` against the output y (the other input has y's shape). */
static bool simd_plan_bcast(const tq_tensor *s, const tq_tensor *y, simd_plan *pl)
{
    const size_t ns = tq_tensor_numel(s), ny = tq_tensor_numel(y);
    if (!tq_ref_bcast_ok(s, y) || ns == 0) {
        return false;
    }
    if (ns == 1) {
        pl->k.bmode = TQ_CPU_SIMD_B_SCALAR;
        return true;
    }
    const int32_t r = s->rank;
    bool lead1 = true; /* all dims but the last are 1 */
    for (int32_t i = 0; i + 1 < r; i++) {
        lead1 = lead1 && s->dims[i] == 1;
    }
    if (lead1 && s->dims[r - 1] == y->dims[y->rank - 1]) {
        pl->k.bmode = TQ_CPU_SIMD_B_ROWS; /* [.., K] op [K] */
        pl->k.inner = ns;
        pl->k.rows = ny / ns;
        return true;
    }
    /* per channel, [C, 1, 1] (leading 1s allowed), or per image and channel, [N, C, 1, 1] */
    bool chan = y->rank == 4 && r >= 3 && s->dims[r - 3] == y->dims[1] && s->dims[r - 2] == 1 &&
                s->dims[r - 1] == 1;
    for (int32_t i = 0; chan && i < r - 3; i++) {
        chan = s->dims[i] == 1 || (r == 4 && s->dims[0] == y->dims[0]);
    }
    if (chan) {
        pl->k.bmode = TQ_CPU_SIMD_B_PLANES; /* plane p = n * C + c uses s[p % ns] */
        pl->k.channels = ns;
        pl->k.rows = (size_t)(y->dims[0] * y->dims[1]);
        pl->k.inner = (size_t)(y->dims[2] * y->dims[3]);
        return true;
    }
    return false;
}

static bool simd_plan_binary(const tq_op_ctx *ctx, simd_plan *pl)
{
    const tq_tensor *a = ctx->in[0], *b = ctx->in[1], *y = ctx->out[0];
    static const char *const names[] = {"add", "sub", "mul", "div"};
    switch (ctx->node->op) {
    case TQ_OP_ADD:
        pl->k.bop = TQ_CPU_SIMD_ADD;
        break;
    case TQ_OP_SUB:
        pl->k.bop = TQ_CPU_SIMD_SUB;
        break;
    case TQ_OP_MUL:
        pl->k.bop = TQ_CPU_SIMD_MUL;
        break;
    case TQ_OP_DIV:
        pl->k.bop = TQ_CPU_SIMD_DIV;
        break;
    default:
        return false;
    }
    if (!simd_is_f32(a) || !simd_is_f32(b) || !simd_is_f32(y)) {
        return false;
    }
    pl->what = names[pl->k.bop];
    pl->k.kind = TQ_CPU_SIMD_K_BINARY;
    pl->k.n = tq_tensor_numel(y);
    const bool sa = simd_same_shape(a, y), sb = simd_same_shape(b, y);
    if (sa && sb) {
        pl->k.bmode = TQ_CPU_SIMD_B_SAME;
        pl->role = y->rank == 4 ? TQ_CPU_ROLE_SAME : TQ_CPU_ROLE_PLAIN;
        return true;
    }
    if (!sa && !sb) {
        return false;
    }
    pl->k.small = sa ? 1 : 0;
    pl->role = TQ_CPU_ROLE_PLAIN;
    return simd_plan_bcast(sa ? b : a, y, pl);
}

/* QuantizeLinear / DequantizeLinear per tensor (scale float32, one element). */
static bool simd_plan_qdq(const tq_op_ctx *ctx, simd_plan *pl)
{
    const tq_tensor *x = ctx->in[0], *s = simd_in(ctx, 1), *zp = simd_in(ctx, 2), *y = ctx->out[0];
    int64_t block = 0;
    if (!simd_known(x) || !simd_known(y) || tq_tensor_numel(x) != tq_tensor_numel(y) ||
        !simd_is_scalar(s) || s->dtype != TFMQ_DTYPE_FLOAT32 || (zp && !simd_is_scalar(zp)) ||
        tq_attr_int(ctx->node, "block_size", 0, &block) != TFMQ_OK || block != 0) {
        return false;
    }
    if (ctx->node->op == TQ_OP_QUANTIZE_LINEAR) {
        if (x->dtype != TFMQ_DTYPE_FLOAT32 || !simd_is_q8(y->dtype) ||
            (zp && zp->dtype != y->dtype)) {
            return false;
        }
        pl->k.kind = TQ_CPU_SIMD_K_QUANT;
        pl->what = "quantize";
    } else {
        if (!(simd_is_q8(x->dtype) || x->dtype == TFMQ_DTYPE_INT32) ||
            y->dtype != TFMQ_DTYPE_FLOAT32 || (zp && zp->dtype != x->dtype)) {
            return false;
        }
        pl->k.kind = TQ_CPU_SIMD_K_DEQUANT;
        pl->what = "dequantize";
    }
    pl->k.dt = ctx->node->op == TQ_OP_QUANTIZE_LINEAR ? y->dtype : x->dtype;
    pl->k.n = tq_tensor_numel(y);
    pl->role = TQ_CPU_ROLE_SAME;
    return true;
}

/* tfmq.QAdd over equal shapes with constant quantization parameters. */
/* role_only: what tq_cpu_simd_role needs (whether the kernel takes the node, its role), without
 * choosing the arithmetic: tq_ql_add_form_plan checks all 65536 byte pairs (~1 ms a QAdd). */
static bool simd_plan_qadd(const tq_op_ctx *ctx, simd_plan *pl, bool role_only)
{
    const tq_tensor *a = simd_in(ctx, TQ_QL_X), *b = simd_in(ctx, TQ_QL_W), *y = ctx->out[0];
    if (!simd_known(a) || !simd_known(b) || !simd_known(y) || !simd_same_shape(a, y) ||
        !simd_same_shape(b, y) || !simd_is_q8(a->dtype) || !simd_is_q8(b->dtype)) {
        return false;
    }
    static const int32_t scales[3] = {TQ_QL_X_SCALE, TQ_QL_W_SCALE, TQ_QL_Y_SCALE};
    static const int32_t zps[3] = {TQ_QL_X_ZP, TQ_QL_W_ZP, TQ_QL_Y_ZP};
    for (int32_t i = 0; i < 3; i++) {
        const tq_tensor *s = simd_in(ctx, scales[i]), *z = simd_in(ctx, zps[i]);
        if (!simd_is_scalar(s) || s->dtype != TFMQ_DTYPE_FLOAT32 || !s->data ||
            (z && (!simd_is_scalar(z) || !simd_is_q8(z->dtype) || !z->data))) {
            return false;
        }
    }
    tfmq_dtype ydt;
    if (tq_ql_check_add(ctx, &ydt) != TFMQ_OK || ydt != y->dtype) {
        return false;
    }
    tq_cpu_simd_qadd *q = &pl->k.qadd;
    const float ys = *(const float *)ctx->in[TQ_QL_Y_SCALE]->data;
    if (!(ys > 0.0f) || !isfinite(ys)) {
        return false; /* the reference reports it */
    }
    q->a_s8 = a->dtype == TFMQ_DTYPE_INT8;
    q->b_s8 = b->dtype == TFMQ_DTYPE_INT8;
    q->y_s8 = y->dtype == TFMQ_DTYPE_INT8;
    q->a_zp = simd_load_q8(simd_in(ctx, TQ_QL_X_ZP));
    q->b_zp = simd_load_q8(simd_in(ctx, TQ_QL_W_ZP));
    q->y_zp = simd_load_q8(simd_in(ctx, TQ_QL_Y_ZP));
    q->a_scale = (double)*(const float *)ctx->in[TQ_QL_X_SCALE]->data;
    q->b_scale = (double)*(const float *)ctx->in[TQ_QL_W_SCALE]->data;
    q->y_scale = (double)ys;
    if (tq_ql_bounds(ctx, y->dtype, ys, q->y_zp, &q->lo, &q->hi) != TFMQ_OK) {
        return false;
    }
    pl->k.kind = TQ_CPU_SIMD_K_QADD;
    pl->role = TQ_CPU_ROLE_SAME;
    if (role_only) {
        return true;
    }
    q->want_i = false; /* the float forms serve the vector kernels */
    tq_ql_add_form_plan(q);
    pl->k.n = tq_tensor_numel(y);
    pl->what = q->use_f    ? "qadd_f32"
               : q->use_fh ? "qadd_f32_checked"
               : q->use_dm ? "qadd_f64mul"
                           : "qadd";
    return true;
}

static bool simd_plan_pool(const tq_op_ctx *ctx, simd_plan *pl)
{
    const tq_tensor *x = ctx->in[0], *y = ctx->out[0];
    if (!simd_known(x) || !simd_known(y) || x->rank != 4 || y->dtype != x->dtype) {
        return false;
    }
    if (ctx->node->op == TQ_OP_GLOBAL_AVERAGE_POOL) {
        if (x->dtype != TFMQ_DTYPE_FLOAT32 ||
            tq_tensor_numel(y) != (size_t)(x->dims[0] * x->dims[1])) {
            return false;
        }
        pl->k.kind = TQ_CPU_SIMD_K_GAP;
        pl->what = "global_avgpool";
    } else {
        const bool is_max = ctx->node->op == TQ_OP_MAX_POOL;
        if (is_max && ctx->n_out > 1 && ctx->out[1]) {
            return false; /* Indices: the reference computes them */
        }
        if (x->dtype != TFMQ_DTYPE_FLOAT32 && !(is_max && simd_is_q8(x->dtype))) {
            return false;
        }
        if (!tq_cpu_simd_pool_plan(ctx, &pl->k.pool)) {
            return false;
        }
        pl->k.kind = TQ_CPU_SIMD_K_POOL;
        pl->what = is_max ? "maxpool" : "avgpool";
    }
    pl->k.n = tq_tensor_numel(y);
    pl->role = TQ_CPU_ROLE_ANY;
    return true;
}

/* Softmax when it is a softmax over the last dim (dims after the axis are all 1), where the
 * opset-13 and the older coerce-to-2D semantics agree. */
static bool simd_plan_softmax(const tq_op_ctx *ctx, simd_plan *pl)
{
    const tq_tensor *x = ctx->in[0], *y = ctx->out[0];
    int64_t axis;
    if (!simd_is_f32(x) || !simd_is_f32(y) || !simd_same_shape(x, y) || x->rank < 1 ||
        tq_attr_int(ctx->node, "axis", ctx->opset < 13 ? 1 : -1, &axis) != TFMQ_OK) {
        return false;
    }
    const int64_t r = x->rank;
    if (axis < -r || axis >= r) {
        return false;
    }
    const int32_t a = (int32_t)(axis < 0 ? axis + r : axis);
    size_t outer = 1;
    for (int32_t i = 0; i < x->rank; i++) {
        if (i < a) {
            outer *= (size_t)x->dims[i];
        } else if (i > a && x->dims[i] != 1) {
            return false;
        }
    }
    pl->k.kind = TQ_CPU_SIMD_K_SOFTMAX;
    pl->k.rows = outer;
    pl->k.inner = (size_t)x->dims[a];
    pl->k.n = tq_tensor_numel(y);
    pl->what = "softmax";
    pl->role = TQ_CPU_ROLE_PLAIN;
    return true;
}

/* A LayerNormalization parameter of K elements along the last dim: [K], [1, .., K]. */
static bool simd_ln_param(const tq_tensor *p, const tq_tensor *x)
{
    if (!simd_is_f32(p) || p->rank < 1 || p->rank > x->rank ||
        p->dims[p->rank - 1] != x->dims[x->rank - 1]) {
        return false;
    }
    for (int32_t i = 0; i + 1 < p->rank; i++) {
        if (p->dims[i] != 1) {
            return false;
        }
    }
    return true;
}

static bool simd_plan_layer_norm(const tq_op_ctx *ctx, simd_plan *pl)
{
    const tq_tensor *x = ctx->in[0], *s = simd_in(ctx, 1), *b = simd_in(ctx, 2), *y = ctx->out[0];
    int64_t axis;
    float eps;
    if (!simd_is_f32(x) || !simd_is_f32(y) || !simd_same_shape(x, y) || x->rank < 1 ||
        !simd_ln_param(s, x) || (b && !simd_ln_param(b, x)) || (ctx->n_out > 1 && ctx->out[1]) ||
        (ctx->n_out > 2 && ctx->out[2]) || tq_attr_int(ctx->node, "axis", -1, &axis) != TFMQ_OK ||
        tq_attr_float(ctx->node, "epsilon", 1e-5f, &eps) != TFMQ_OK) {
        return false;
    }
    if (axis != -1 && axis != x->rank - 1) {
        return false;
    }
    pl->k.kind = TQ_CPU_SIMD_K_LAYER_NORM;
    pl->k.inner = (size_t)x->dims[x->rank - 1];
    pl->k.n = tq_tensor_numel(y);
    pl->k.rows = pl->k.inner ? pl->k.n / pl->k.inner : 0;
    pl->k.eps = (double)eps;
    pl->what = "layer_norm";
    pl->role = TQ_CPU_ROLE_PLAIN;
    return true;
}

/* Pad: constant mode, every pad known at prepare and >= 0 (a crop is left to the reference). */
static bool simd_plan_pad(const tq_op_ctx *ctx, simd_plan *pl)
{
    const tq_tensor *x = ctx->in[0], *y = ctx->out[0];
    tq_cpu_simd_pad *pd = &pl->k.pad;
    tq_pad_params pp;
    const size_t es = tq_dtype_size(x->dtype);
    for (int32_t i = 1; i < ctx->n_in; i++) {
        if (ctx->in[i] && !ctx->in[i]->data) {
            return false; /* pads, value or axes computed at run time */
        }
    }
    if (es == 0 || es > sizeof(pd->value) || x->rank < 1 || x->rank > TQ_MAX_RANK ||
        y->rank != x->rank || y->dtype != x->dtype || x->data) {
        return false;
    }
    if (tq_pad_params_get(ctx, &pp) != TFMQ_OK) {
        tq_clear_error();
        return false;
    }
    if (pp.mode != TQ_PAD_CONSTANT) {
        return false;
    }
    pd->rank = x->rank;
    pd->es = es;
    for (int32_t d = 0; d < x->rank; d++) {
        if (!pp.known[d] || pp.begin[d] < 0 || pp.end[d] < 0 || x->dims[d] < 0 ||
            y->dims[d] != x->dims[d] + pp.begin[d] + pp.end[d]) {
            return false;
        }
        pd->xd[d] = x->dims[d];
        pd->yd[d] = y->dims[d];
        pd->begin[d] = pp.begin[d];
    }
    const tq_tensor *cv = ctx->n_in > 2 ? ctx->in[2] : NULL;
    if (cv && cv->data && tq_tensor_numel(cv) > 0) {
        memcpy(pd->value, cv->data, es); /* shape inference checked its dtype */
    } else {
        tq_store_f64(x->dtype, pd->value, 0, pp.value);
    }
    pd->zero = true;
    for (size_t b = 0; b < es; b++) {
        pd->zero = pd->zero && pd->value[b] == 0;
    }
    pl->k.kind = TQ_CPU_SIMD_K_PAD;
    pl->k.n = tq_tensor_numel(y);
    pl->k.inner = (size_t)y->dims[y->rank - 1];
    pl->k.rows = pl->k.inner ? pl->k.n / pl->k.inner : 0;
    pl->what = "pad";
    pl->role = TQ_CPU_ROLE_PLAIN;
    return true;
}

/* role_only: enough for the role (tq_cpu_simd_role), not for a kernel (simd_plan_qadd). */
static bool simd_plan_node(const tq_op_ctx *ctx, simd_plan *pl, bool role_only)
{
    memset(pl, 0, sizeof(*pl));
    if (!ctx || !ctx->node || ctx->n_in < 1 || ctx->n_out < 1 || !ctx->in[0] || !ctx->out[0]) {
        return false;
    }
    switch (ctx->node->op) {
    case TQ_OP_RELU:
    case TQ_OP_CLIP:
    case TQ_OP_LEAKY_RELU:
    case TQ_OP_HARD_SIGMOID:
    case TQ_OP_HARD_SWISH:
    case TQ_OP_SIGMOID:
    case TQ_OP_TANH:
        return simd_plan_unary(ctx, pl);
    case TQ_OP_ADD:
    case TQ_OP_SUB:
    case TQ_OP_MUL:
    case TQ_OP_DIV:
        return ctx->n_in == 2 && ctx->in[1] && simd_plan_binary(ctx, pl);
    case TQ_OP_QUANTIZE_LINEAR:
    case TQ_OP_DEQUANTIZE_LINEAR:
        return simd_plan_qdq(ctx, pl);
    case TQ_OP_QADD:
        return simd_plan_qadd(ctx, pl, role_only);
    case TQ_OP_MAX_POOL:
    case TQ_OP_AVERAGE_POOL:
    case TQ_OP_GLOBAL_AVERAGE_POOL:
        return simd_plan_pool(ctx, pl);
    case TQ_OP_SOFTMAX:
        return simd_plan_softmax(ctx, pl);
    case TQ_OP_LAYER_NORM:
        return simd_plan_layer_norm(ctx, pl);
    case TQ_OP_PAD:
        return simd_plan_pad(ctx, pl);
    default:
        return false;
    }
}

tq_cpu_role tq_cpu_simd_role(const tq_op_ctx *ctx)
{
    simd_plan pl;
    return simd_plan_node(ctx, &pl, true) ? pl.role : TQ_CPU_ROLE_PLAIN;
}

/* ---- layouts: whether the prepared kernel can run with the exec's choice ---- */
static bool simd_fit_layouts(const tq_cpu_prep *p, simd_plan *pl)
{
    const tq_op_ctx *ctx = p->ctx;
    const tq_layout ly = simd_layout(ctx->out[0], p->out_layout, 0);
    const tq_layout lx = simd_layout(ctx->in[0], p->in_layout, 0);
    tq_cpu_simd_kernel *k = &pl->k;
    switch (k->kind) {
    case TQ_CPU_SIMD_K_UNARY:
    case TQ_CPU_SIMD_K_QUANT:
    case TQ_CPU_SIMD_K_DEQUANT:
        return lx == ly; /* element-wise: any layout, the same on both sides */
    case TQ_CPU_SIMD_K_QADD:
        return lx == ly && simd_layout(ctx->in[TQ_QL_W], p->in_layout, TQ_QL_W) == ly;
    case TQ_CPU_SIMD_K_BINARY: {
        const int32_t big = k->bmode == TQ_CPU_SIMD_B_SAME ? 0 : 1 - k->small;
        const tq_layout lb = simd_layout(ctx->in[big], p->in_layout, big);
        if (lb != ly) {
            return false;
        }
        if (k->bmode == TQ_CPU_SIMD_B_SAME) {
            return simd_layout(ctx->in[1], p->in_layout, 1) == ly;
        }
        if (ly == TQ_LAYOUT_NCHW || k->bmode == TQ_CPU_SIMD_B_SCALAR) {
            return true;
        }
        if (k->bmode == TQ_CPU_SIMD_B_PLANES && k->channels == (size_t)ctx->out[0]->dims[1]) {
            /* channels-last: the per-channel vector is the innermost dim */
            k->bmode = TQ_CPU_SIMD_B_ROWS;
            k->inner = k->channels;
            k->rows = k->n / k->channels;
            return true;
        }
        return false; /* a last-dim (W) vector over channels-last data */
    }
    case TQ_CPU_SIMD_K_POOL:
        tq_cpu_simd_pool_set_layouts(&k->pool, lx, ly);
        return true;
    case TQ_CPU_SIMD_K_GAP:
        k->pool.x_nhwc = lx == TQ_LAYOUT_NHWC; /* y [N, C, 1, 1] reads the same either way */
        return true;
    case TQ_CPU_SIMD_K_SOFTMAX:
    case TQ_CPU_SIMD_K_LAYER_NORM:
    case TQ_CPU_SIMD_K_PAD:
        return lx == TQ_LAYOUT_NCHW && ly == TQ_LAYOUT_NCHW;
    }
    return false;
}

/* ---- run: element-wise kinds, ranges of elements ---- */
typedef struct simd_job {
    const tq_cpu_simd_kernel *k;
    const void *a, *b; /* binary: a and b as the node has them */
    void *y;
    tq_cpu_simd_quant q;
    tq_cpu_simd_dequant dq;
    tq_cpu_simd_ln ln;
} simd_job;

static void simd_unary_range(void *arg, size_t i0, size_t i1)
{
    const simd_job *j = arg;
    j->k->isa->unary(&j->k->un, (const float *)j->a + i0, (float *)j->y + i0, i1 - i0);
}

static void simd_quant_range(void *arg, size_t i0, size_t i1)
{
    const simd_job *j = arg;
    if (j->k->dt == TFMQ_DTYPE_INT8) {
        j->k->isa->quant_s8(&j->q, (const float *)j->a + i0, (int8_t *)j->y + i0, i1 - i0);
    } else {
        j->k->isa->quant_u8(&j->q, (const float *)j->a + i0, (uint8_t *)j->y + i0, i1 - i0);
    }
}

static void simd_dequant_range(void *arg, size_t i0, size_t i1)
{
    const simd_job *j = arg;
    const size_t es = j->k->dt == TFMQ_DTYPE_INT32 ? 4 : 1;
    j->k->isa->dequant(&j->dq, (const char *)j->a + i0 * es, (float *)j->y + i0, i1 - i0);
}

static void simd_qadd_range(void *arg, size_t i0, size_t i1)
{
    const simd_job *j = arg;
    j->k->isa->qadd(&j->k->qadd, (const uint8_t *)j->a + i0, (const uint8_t *)j->b + i0,
                    (uint8_t *)j->y + i0, i1 - i0);
}

/* binary: equal shapes or a scalar, over elements */
static void simd_binary_range(void *arg, size_t i0, size_t i1)
{
    const simd_job *j = arg;
    const tq_cpu_simd_kernel *k = j->k;
    const float *a = j->a, *b = j->b;
    size_t sa = 1, sb = 1;
    if (k->bmode == TQ_CPU_SIMD_B_SCALAR) {
        if (k->small == 0) {
            sa = 0;
            b += i0;
        } else {
            sb = 0;
            a += i0;
        }
    } else {
        a += i0;
        b += i0;
    }
    k->isa->binary(k->bop, a, sa, b, sb, (float *)j->y + i0, i1 - i0);
}

/* binary: rows of `inner` against a vector (ROWS) or a per-row scalar (PLANES) */
static void simd_binary_rows(void *arg, size_t r0, size_t r1)
{
    const simd_job *j = arg;
    const tq_cpu_simd_kernel *k = j->k;
    const float *big = k->small == 0 ? j->b : j->a, *small = k->small == 0 ? j->a : j->b;
    float *y = j->y;
    const size_t w = k->inner;
    const size_t ss = k->bmode == TQ_CPU_SIMD_B_ROWS ? 1 : 0;
    for (size_t r = r0; r < r1; r++) {
        const float *s = ss ? small : small + r % k->channels;
        const float *g = big + r * w;
        if (k->small == 0) {
            k->isa->binary(k->bop, s, ss, g, 1, y + r * w, w);
        } else {
            k->isa->binary(k->bop, g, 1, s, ss, y + r * w, w);
        }
    }
}

static void simd_softmax_rows(void *arg, size_t r0, size_t r1)
{
    const simd_job *j = arg;
    const size_t w = j->k->inner;
    for (size_t r = r0; r < r1; r++) {
        j->k->isa->softmax((const float *)j->a + r * w, (float *)j->y + r * w, w);
    }
}

static void simd_layer_norm_rows(void *arg, size_t r0, size_t r1)
{
    const simd_job *j = arg;
    const size_t w = j->k->inner;
    for (size_t r = r0; r < r1; r++) {
        j->k->isa->layer_norm(&j->ln, (const float *)j->a + r * w, (float *)j->y + r * w, w);
    }
}

/* n elements of Pad's constant at dst */
static void simd_pad_fill(const tq_cpu_simd_pad *p, char *dst, size_t n)
{
    if (p->zero) {
        memset(dst, 0, n * p->es);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        memcpy(dst + i * p->es, p->value, p->es);
    }
}

/* Output rows [r0, r1) of Pad along its last axis: the input row the leading coordinates
 * select, if they all lie inside the input, between the constant's runs; else the constant. */
static void simd_pad_rows(void *arg, size_t r0, size_t r1)
{
    const simd_job *j = arg;
    const tq_cpu_simd_pad *p = &j->k->pad;
    const int32_t last = p->rank - 1;
    const size_t es = p->es, w = (size_t)p->yd[last], xw = (size_t)p->xd[last];
    const size_t lead = (size_t)p->begin[last], tail = w - lead - xw;
    for (size_t r = r0; r < r1; r++) {
        size_t rem = r;
        int64_t xrow = 0, mul = 1;
        bool inside = true;
        for (int32_t d = last - 1; d >= 0; d--) {
            const int64_t c = (int64_t)(rem % (size_t)p->yd[d]) - p->begin[d];
            rem /= (size_t)p->yd[d];
            inside = inside && c >= 0 && c < p->xd[d];
            xrow += c * mul;
            mul *= p->xd[d];
        }
        char *y = (char *)j->y + r * w * es;
        if (!inside) {
            simd_pad_fill(p, y, w);
            continue;
        }
        simd_pad_fill(p, y, lead);
        if (xw) {
            memcpy(y + lead * es, (const char *)j->a + (size_t)xrow * xw * es, xw * es);
        }
        simd_pad_fill(p, y + (lead + xw) * es, tail);
    }
}

/* rows per work item so that an item has about TQ_CPU_SIMD_GRAIN elements */
static size_t simd_row_grain(size_t row_len)
{
    return row_len >= TQ_CPU_SIMD_GRAIN ? 1 : TQ_CPU_SIMD_GRAIN / (row_len ? row_len : 1);
}

static tfmq_status simd_run(tq_cpu_kernel *base, tq_op_ctx *ctx)
{
    const tq_cpu_simd_kernel *k = (const tq_cpu_simd_kernel *)base;
    if (k->n == 0) {
        return TFMQ_OK; /* empty output */
    }
    simd_job j;
    memset(&j, 0, sizeof(j));
    j.k = k;
    j.a = ctx->in[0]->data;
    j.y = ctx->out[0]->data;
    const int32_t nt = k->n_threads;
    switch (k->kind) {
    case TQ_CPU_SIMD_K_UNARY:
        tq_cpu_parallel_for(k->n, TQ_CPU_SIMD_GRAIN, nt, simd_unary_range, &j);
        break;
    case TQ_CPU_SIMD_K_BINARY:
        j.b = ctx->in[1]->data;
        if (k->bmode == TQ_CPU_SIMD_B_SAME || k->bmode == TQ_CPU_SIMD_B_SCALAR) {
            tq_cpu_parallel_for(k->n, TQ_CPU_SIMD_GRAIN, nt, simd_binary_range, &j);
        } else {
            tq_cpu_parallel_for(k->rows, simd_row_grain(k->inner), nt, simd_binary_rows, &j);
        }
        break;
    case TQ_CPU_SIMD_K_QUANT: {
        const tq_tensor *zp = simd_in(ctx, 2);
        j.q.scale = *(const float *)ctx->in[1]->data;
        j.q.zp = (float)simd_load_q8(zp);
        j.q.lo = k->dt == TFMQ_DTYPE_INT8 ? -128.0f : 0.0f;
        j.q.hi = k->dt == TFMQ_DTYPE_INT8 ? 127.0f : 255.0f;
        tq_cpu_parallel_for(k->n, TQ_CPU_SIMD_GRAIN, nt, simd_quant_range, &j);
        break;
    }
    case TQ_CPU_SIMD_K_DEQUANT: {
        const tq_tensor *zp = simd_in(ctx, 2);
        j.dq.x_dt = k->dt;
        j.dq.scale = *(const float *)ctx->in[1]->data;
        j.dq.zp =
            !zp ? 0 : (k->dt == TFMQ_DTYPE_INT32 ? *(const int32_t *)zp->data : simd_load_q8(zp));
        tq_cpu_parallel_for(k->n, TQ_CPU_SIMD_GRAIN, nt, simd_dequant_range, &j);
        break;
    }
    case TQ_CPU_SIMD_K_QADD:
        j.b = ctx->in[TQ_QL_W]->data;
        tq_cpu_parallel_for(k->n, TQ_CPU_SIMD_GRAIN, nt, simd_qadd_range, &j);
        break;
    case TQ_CPU_SIMD_K_SOFTMAX:
        tq_cpu_parallel_for(k->rows, simd_row_grain(k->inner), nt, simd_softmax_rows, &j);
        break;
    case TQ_CPU_SIMD_K_LAYER_NORM: {
        const tq_tensor *b = simd_in(ctx, 2);
        j.ln.scale = ctx->in[1]->data;
        j.ln.bias = b ? b->data : NULL;
        j.ln.eps = k->eps;
        tq_cpu_parallel_for(k->inner ? k->rows : 0, simd_row_grain(k->inner), nt,
                            simd_layer_norm_rows, &j);
        break;
    }
    case TQ_CPU_SIMD_K_PAD:
        tq_cpu_parallel_for(k->rows, simd_row_grain(k->inner), nt, simd_pad_rows, &j);
        break;
    case TQ_CPU_SIMD_K_POOL:
    case TQ_CPU_SIMD_K_GAP:
        return TFMQ_ERR_INTERNAL; /* own run functions */
    }
    return TFMQ_OK;
}

static void simd_destroy(tq_cpu_kernel *base)
{
    if (base) {
        tq_cpu_simd_kernel *k = (tq_cpu_simd_kernel *)base;
        tq_free_aligned(base->alloc, k->scratch, k->scratch_bytes);
        tq_free(base->alloc, base, sizeof(tq_cpu_simd_kernel));
    }
}

tfmq_status tq_cpu_prepare_simd(const tq_cpu_prep *p, tq_cpu_kernel **k_out)
{
    *k_out = NULL;
    simd_plan pl;
    if (!p || !simd_plan_node(p->ctx, &pl, false) || !simd_fit_layouts(p, &pl)) {
        return TFMQ_OK;
    }
    tq_cpu_simd_kernel *k = tq_alloc(p->alloc, sizeof(*k));
    if (!k) {
        return tq_op_fail(p->ctx, TFMQ_ERR_OUT_OF_MEMORY, "out of memory (SIMD kernel state)");
    }
    *k = pl.k;
    k->isa = tq_cpu_simd_isa_for(p->isa);
    k->n_threads = p->n_threads > 1 ? p->n_threads : 1;
    k->base.run = simd_run;
    if (k->kind == TQ_CPU_SIMD_K_POOL) {
        k->base.run = tq_cpu_simd_pool_run;
    } else if (k->kind == TQ_CPU_SIMD_K_GAP) {
        k->base.run = tq_cpu_simd_gap_run;
    }
    k->base.destroy = simd_destroy;
    k->base.alloc = p->alloc;
    if (k->kind == TQ_CPU_SIMD_K_POOL && tq_cpu_simd_pool_prepare(k, p->alloc) != TFMQ_OK) {
        simd_destroy(&k->base);
        return tq_op_fail(p->ctx, TFMQ_ERR_OUT_OF_MEMORY, "out of memory (pooling scratch)");
    }
    (void)snprintf(k->impl, sizeof(k->impl), "simd:%s:%s", k->isa->name, pl.what);
    k->base.impl = k->impl;
    *k_out = &k->base;
    return TFMQ_OK;
}
