/* onednn_matmul.c: Gemm, tfmq.FusedGemm, MatMul (float32) and tfmq.QGemm as oneDNN matmul
 * primitives. The matmul primitive is used rather than inner_product: both run the same brgemm
 * kernels (measured equal within noise on 1x2048x1000 and 64x512x512, one thread), and matmul
 * also takes transposed operands (strides), batches with broadcast and non-constant B.
 *
 * Gemm: Y = alpha * A' B' + beta * C. A' and B' are strided views of A and B (transA, transB). A
 * constant B is reordered once into the primitive's format (`any`); a non-constant one is read in
 * place. A constant C is precomputed as beta * C broadcast to [1, N] or [M, N] (the broadcasts
 * oneDNN's fast kernels take) and becomes the bias when alpha is 1 and C is one row, else a
 * constant binary-add post-op after the output scale alpha; a non-constant C is a binary-add
 * post-op (beta 1 only). FusedGemm adds R (binary add) and the activation (eltwise). MatMul: numpy
 * semantics, 1-D operands promoted, batch dims broadcast by oneDNN. QGemm: x [..., K] flattened
 * to rows, w [N, K] (y = x w^T), requantised as in onednn_int8.c. Roles are PLAIN: a node
 * oneDNN has no implementation for is declined (its reference kernel runs).
 *
 * BF16: a Gemm or MatMul that passes/strip_half.c marked `compute=bf16` (its constant B came
 * from BF16 weights) reads A as BF16 (rounded to nearest even by a reorder stage, as the stored
 * model's Cast did) and B as BF16, and accumulates and writes float32, on AVX512_BF16 or the
 * AMX tiles; the same on a lower level computes in float32. */
#include <math.h>
#include <string.h>

#include "backends/cpu/onednn/onednn_internal.h"
#include "backends/ref/qlinear.h"
#include "ir/ops/fused.h"

typedef enum mm_c_mode {
    MM_C_NONE = 0,
    MM_C_BIAS,   /* constant, alpha == 1: the primitive's bias (beta * C) */
    MM_C_POST,   /* constant, alpha != 1: binary-add post-op over an owned beta * C */
    MM_C_BOUND   /* not constant, beta == 1: binary-add post-op reading C in place */
} mm_c_mode;

typedef struct mm_plan {
    bool quant;                           /* tfmq.QGemm */
    bool bf16;                            /* A and constant B read as BF16 (compute=bf16) */
    int nd;                               /* rank of the matmul (>= 2) */
    int64_t a[TQ_MAX_RANK], b[TQ_MAX_RANK], y[TQ_MAX_RANK]; /* logical dims */
    bool ta, tb;                          /* A, B stored with their last two dims swapped */
    int32_t b_slot;                       /* input holding B (1, or 3 for QGemm) */
    bool b_const;
    float alpha, beta;
    mm_c_mode c_mode;
    int64_t c_in[2];                      /* C as [cm, cn] (1 = broadcast) */
    int64_t c[2];                         /* as the primitive reads it: constant C expanded to
                                             [1 or M, N] (oneDNN's fast broadcasts) */
    int32_t r_slot;                       /* FusedGemm residual, or -1 */
    tq_fused_act act;
    tq_onednn_q q;
} mm_plan;

static bool mm_dense(const tq_tensor *t, int32_t min_rank)
{
    return t && t->rank >= min_rank && tq_tensor_shape_known(t) && tq_tensor_numel(t) > 0;
}

static bool mm_f32(const tq_tensor *t)
{
    return t->dtype == TFMQ_DTYPE_FLOAT32;
}

/* Gemm's C: rank <= 2, broadcastable to [M, N]; how it enters the primitive. */
static bool mm_plan_c(const tq_op_ctx *ctx, mm_plan *cp)
{
    const tq_tensor *c = ctx->n_in > 2 ? ctx->in[2] : NULL;
    if (!c || cp->beta == 0.0f) {
        return true; /* beta 0: C does not contribute (the reference adds 0 * C too) */
    }
    if (!mm_f32(c) || !mm_dense(c, 0) || c->rank > 2 || !isfinite(cp->beta)) {
        return false;
    }
    cp->c_in[0] = cp->c[0] = c->rank == 2 ? c->dims[0] : 1;
    cp->c_in[1] = cp->c[1] = c->rank >= 1 ? c->dims[c->rank - 1] : 1;
    if ((cp->c[0] != 1 && cp->c[0] != cp->y[0]) || (cp->c[1] != 1 && cp->c[1] != cp->y[1])) {
        return false;
    }
    if (c->data) {
        cp->c[1] = cp->y[1];
        cp->c_mode = cp->alpha == 1.0f && cp->c[0] == 1 ? MM_C_BIAS : MM_C_POST;
        return true;
    }
    cp->c_mode = MM_C_BOUND;
    return cp->beta == 1.0f;
}

/* FusedGemm's activation and residual (exactly the output's shape). */
static bool mm_plan_fused(const tq_op_ctx *ctx, mm_plan *cp)
{
    if (tq_fused_act_read(ctx, &cp->act) != TFMQ_OK) {
        tq_clear_error();
        return false;
    }
    const tq_tensor *r = ctx->n_in > 3 ? ctx->in[3] : NULL;
    if (r) {
        if (!mm_f32(r) || r->rank != 2 || r->dims[0] != cp->y[0] || r->dims[1] != cp->y[1]) {
            return false;
        }
        cp->r_slot = 3;
    }
    return true;
}

static bool mm_plan_gemm(const tq_op_ctx *ctx, mm_plan *cp)
{
    const tq_tensor *a = ctx->in[0], *b = ctx->in[1], *y = ctx->out[0];
    int64_t ta, tb;
    if (!mm_dense(a, 2) || !mm_dense(b, 2) || !mm_dense(y, 2) || a->rank != 2 || b->rank != 2 ||
        y->rank != 2 || !mm_f32(a) || !mm_f32(b) || !mm_f32(y) ||
        tq_attr_int(ctx->node, "transA", 0, &ta) != TFMQ_OK ||
        tq_attr_int(ctx->node, "transB", 0, &tb) != TFMQ_OK ||
        tq_attr_float(ctx->node, "alpha", 1.0f, &cp->alpha) != TFMQ_OK ||
        tq_attr_float(ctx->node, "beta", 1.0f, &cp->beta) != TFMQ_OK) {
        tq_clear_error();
        return false;
    }
    cp->nd = 2;
    cp->ta = ta != 0;
    cp->tb = tb != 0;
    const int64_t M = y->dims[0], N = y->dims[1], K = a->dims[cp->ta ? 0 : 1];
    if (a->dims[cp->ta ? 1 : 0] != M || b->dims[cp->tb ? 1 : 0] != K ||
        b->dims[cp->tb ? 0 : 1] != N || !isfinite(cp->alpha) || cp->alpha == 0.0f) {
        return false;
    }
    cp->a[0] = M, cp->a[1] = K;
    cp->b[0] = K, cp->b[1] = N;
    cp->y[0] = M, cp->y[1] = N;
    cp->b_slot = 1;
    cp->b_const = b->data != NULL;
    if (!mm_plan_c(ctx, cp)) {
        return false;
    }
    return ctx->node->op == TQ_OP_FUSED_GEMM ? mm_plan_fused(ctx, cp) : true;
}

/* MatMul: 1-D A is [1, K], 1-D B is [K, 1]; both are padded to one rank with leading 1s. */
static bool mm_plan_matmul(const tq_op_ctx *ctx, mm_plan *cp)
{
    const tq_tensor *a = ctx->in[0], *b = ctx->in[1], *y = ctx->out[0];
    if (!mm_dense(a, 1) || !mm_dense(b, 1) || !mm_dense(y, 0) || !mm_f32(a) || !mm_f32(b) ||
        !mm_f32(y)) {
        return false;
    }
    int64_t ad[TQ_MAX_RANK + 1], bd[TQ_MAX_RANK + 1];
    int ra = a->rank, rb = b->rank;
    memcpy(ad + (ra == 1), a->dims, (size_t)ra * sizeof(int64_t));
    memcpy(bd, b->dims, (size_t)rb * sizeof(int64_t));
    if (ra == 1) {
        ad[0] = 1, ra = 2;
    }
    if (rb == 1) {
        bd[1] = 1, rb = 2;
    }
    const int nd = ra > rb ? ra : rb;
    if (nd > TQ_MAX_RANK) {
        return false;
    }
    cp->nd = nd;
    size_t n_y = 1;
    for (int i = 0; i < nd; i++) {
        cp->a[i] = i < nd - ra ? 1 : ad[i - (nd - ra)];
        cp->b[i] = i < nd - rb ? 1 : bd[i - (nd - rb)];
        if (i < nd - 2) {
            if (cp->a[i] != cp->b[i] && cp->a[i] != 1 && cp->b[i] != 1) {
                return false;
            }
            cp->y[i] = cp->a[i] > cp->b[i] ? cp->a[i] : cp->b[i];
        }
    }
    cp->y[nd - 2] = cp->a[nd - 2];
    cp->y[nd - 1] = cp->b[nd - 1];
    for (int i = 0; i < nd; i++) {
        n_y *= (size_t)cp->y[i];
    }
    cp->b_slot = 1;
    cp->b_const = b->data != NULL;
    if (cp->a[nd - 1] != cp->b[nd - 2] || n_y != tq_tensor_numel(y)) {
        return false;
    }
    /* A constant B without batch dims (a linear layer, as exported: [S, B, d] x [d, n]) is one
     * 2-D product of A's rows: oneDNN then packs B once into its blocked format, where a
     * batched B stays plain and each batch runs apart (in_proj of a 16-token encoder: 8x
     * faster, bench/RESULTS.md). A and Y are row-major, so their rows are contiguous. */
    bool b_batched = false;
    for (int i = 0; i < nd - 2; i++) {
        b_batched |= cp->b[i] != 1;
    }
    if (cp->b_const && !b_batched && nd > 2) {
        const int64_t K = cp->a[nd - 1], N = cp->b[nd - 1];
        const int64_t rows = (int64_t)(n_y / (size_t)N);
        cp->nd = 2;
        cp->a[0] = rows, cp->a[1] = K;
        cp->b[0] = K, cp->b[1] = N;
        cp->y[0] = rows, cp->y[1] = N;
    }
    return true;
}

static bool mm_plan_qgemm(const tq_op_ctx *ctx, mm_plan *cp)
{
    if (ctx->n_in <= TQ_QL_Y_ZP) {
        return false;
    }
    const tq_tensor *x = ctx->in[TQ_QL_X], *w = ctx->in[TQ_QL_W], *y = ctx->out[0];
    if (!mm_dense(x, 1) || !mm_dense(w, 2) || w->rank != 2 || !w->data || !mm_dense(y, 1) ||
        w->dtype != TFMQ_DTYPE_INT8 || x->dims[x->rank - 1] != w->dims[1]) {
        return false;
    }
    const int64_t N = w->dims[0], K = w->dims[1];
    const int64_t rows = (int64_t)(tq_tensor_numel(x) / (size_t)K);
    if (tq_tensor_numel(y) != (size_t)(rows * N) || !tq_cpu_onednn_q_read(ctx, N, &cp->q)) {
        return false;
    }
    cp->quant = true;
    cp->nd = 2;
    cp->a[0] = rows, cp->a[1] = K;
    cp->b[0] = K, cp->b[1] = N;
    cp->y[0] = rows, cp->y[1] = N;
    cp->tb = true; /* w [N, K] is B = w^T stored transposed */
    cp->b_slot = TQ_QL_W;
    cp->b_const = true;
    cp->alpha = cp->beta = 1.0f;
    return true;
}

static bool mm_plan_make(const tq_op_ctx *ctx, mm_plan *cp)
{
    memset(cp, 0, sizeof(*cp));
    cp->r_slot = -1;
    cp->alpha = cp->beta = 1.0f;
    if (ctx->n_in < 2 || ctx->n_out < 1 || !ctx->out[0] || !ctx->in[0] || !ctx->in[1]) {
        return false;
    }
    switch (ctx->node->op) {
    case TQ_OP_GEMM:
    case TQ_OP_FUSED_GEMM:
        return mm_plan_gemm(ctx, cp);
    case TQ_OP_MATMUL:
        return mm_plan_matmul(ctx, cp);
    case TQ_OP_QGEMM:
        return mm_plan_qgemm(ctx, cp);
    default:
        return false;
    }
}

bool tq_cpu_onednn_matmul_takes(const tq_op_ctx *ctx)
{
    mm_plan cp;
    return mm_plan_make(ctx, &cp);
}

/* A dense row-major tensor of logical dims `dims`, stored with its last two dims swapped when
 * `trans`. */
static void mm_md(dnnl_memory_desc_t *md, int nd, const int64_t *dims, dnnl_data_type_t dt,
                  bool trans)
{
    dnnl_dims_t d, stored, st_stored, strides;
    for (int i = 0; i < nd; i++) {
        d[i] = stored[i] = (dnnl_dim_t)dims[i];
    }
    if (trans) {
        stored[nd - 2] = d[nd - 1];
        stored[nd - 1] = d[nd - 2];
    }
    dnnl_dim_t s = 1;
    for (int i = nd - 1; i >= 0; i--) {
        st_stored[i] = s;
        s *= stored[i];
    }
    for (int i = 0; i < nd; i++) {
        strides[i] = st_stored[i];
    }
    if (trans) {
        strides[nd - 2] = st_stored[nd - 1];
        strides[nd - 1] = st_stored[nd - 2];
    }
    (void)dnnl_memory_desc_init_by_strides(md, nd, d, dt, strides);
}

/* C (as [cm, cn] with the matmul's leading 1s) in the dtype f32. */
static void mm_c_md(const mm_plan *cp, dnnl_memory_desc_t *md)
{
    int64_t d[TQ_MAX_RANK];
    for (int i = 0; i < cp->nd; i++) {
        d[i] = 1;
    }
    d[cp->nd - 2] = cp->c[0];
    d[cp->nd - 1] = cp->c[1];
    mm_md(md, cp->nd, d, dnnl_f32, false);
}

/* The residual R (output-shaped, row-major). */
static void mm_r_md(const mm_plan *cp, dnnl_memory_desc_t *md)
{
    mm_md(md, cp->nd, cp->y, dnnl_f32, false);
}

/* Float post-ops: C (binary add), R (binary add), activation; the output scale alpha. */
static tfmq_status mm_attr_f32(const tq_cpu_prep *p, const mm_plan *cp,
                               dnnl_primitive_attr_t attr)
{
    dnnl_status_t s = dnnl_success;
    if (cp->alpha != 1.0f) {
        s = dnnl_primitive_attr_set_output_scales(attr, 1, 0, &cp->alpha);
    }
    if (s != dnnl_success) {
        return tq_cpu_onednn_fail(p->ctx, s, "output scale");
    }
    dnnl_post_ops_t po;
    if ((s = dnnl_post_ops_create(&po)) != dnnl_success) {
        return tq_cpu_onednn_fail(p->ctx, s, "post-ops");
    }
    dnnl_memory_desc_t md;
    if (cp->c_mode == MM_C_POST || cp->c_mode == MM_C_BOUND) {
        mm_c_md(cp, &md);
        s = dnnl_post_ops_append_binary(po, dnnl_binary_add, &md);
    }
    if (s == dnnl_success && cp->r_slot >= 0) {
        mm_r_md(cp, &md);
        s = dnnl_post_ops_append_binary(po, dnnl_binary_add, &md);
    }
    tfmq_status st = s == dnnl_success ? tq_cpu_onednn_append_act(p->ctx, po, &cp->act)
                                       : tq_cpu_onednn_fail(p->ctx, s, "binary post-op");
    if (st == TFMQ_OK && (s = dnnl_primitive_attr_set_post_ops(attr, po)) != dnnl_success) {
        st = tq_cpu_onednn_fail(p->ctx, s, "post-ops");
    }
    (void)dnnl_post_ops_destroy(po);
    return st;
}

/* The primitive descriptor, or NULL when oneDNN has no implementation. */
static tfmq_status mm_pd(const tq_cpu_prep *p, const mm_plan *cp, dnnl_primitive_desc_t *pd)
{
    const tq_op_ctx *ctx = p->ctx;
    const int nd = cp->nd;
    const dnnl_data_type_t wdt = cp->quant ? dnnl_s8 : (cp->bf16 ? dnnl_bf16 : dnnl_f32);
    dnnl_memory_desc_t src, wei, bias, dst;
    mm_md(&src, nd, cp->a, cp->bf16 ? dnnl_bf16 : tq_cpu_onednn_dt(ctx->in[0]->dtype), cp->ta);
    mm_md(&dst, nd, cp->y, tq_cpu_onednn_dt(ctx->out[0]->dtype), false);
    if (cp->b_const) {
        tq_cpu_onednn_md(&wei, nd, cp->b, wdt, dnnl_format_tag_any);
    } else {
        mm_md(&wei, nd, cp->b, wdt, cp->tb);
    }
    const bool with_bias = cp->quant ? cp->q.bias != NULL : cp->c_mode == MM_C_BIAS;
    if (cp->quant) {
        int64_t bd[2] = {1, cp->y[1]};
        mm_md(&bias, 2, bd, dnnl_s32, false);
    } else if (with_bias) {
        mm_c_md(cp, &bias);
    }
    dnnl_matmul_desc_t md;
    dnnl_status_t s = dnnl_matmul_desc_init(&md, &src, &wei, with_bias ? &bias : NULL, &dst);
    if (s != dnnl_success) {
        return tq_cpu_onednn_fail(ctx, s, "matmul descriptor");
    }
    dnnl_primitive_attr_t attr;
    if ((s = dnnl_primitive_attr_create(&attr)) != dnnl_success) {
        return tq_cpu_onednn_fail(ctx, s, "attributes");
    }
    tfmq_status st = TFMQ_OK;
    if ((s = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user)) !=
        dnnl_success) {
        st = tq_cpu_onednn_fail(ctx, s, "scratchpad mode");
    }
    if (st == TFMQ_OK) {
        st = cp->quant ? tq_cpu_onednn_q_attr(p, &cp->q, 1 << (nd - 1), attr)
                       : mm_attr_f32(p, cp, attr);
    }
    bool unimpl = false;
    if (st == TFMQ_OK) {
        st = tq_cpu_onednn_pd_create(p, &md, attr, pd, &unimpl);
    }
    (void)dnnl_primitive_attr_destroy(attr);
    return st;
}

/* Gemm's C as a constant argument: beta * C broadcast to the plan's [c0, N], in float. */
static tfmq_status mm_const_c(const tq_cpu_prep *p, const mm_plan *cp, tq_onednn_kernel *k,
                              int arg, const dnnl_memory_desc_t *prim_md)
{
    const float *c = p->ctx->in[2]->data;
    dnnl_memory_desc_t user;
    mm_c_md(cp, &user);
    const size_t rows = (size_t)cp->c[0], cols = (size_t)cp->c[1];
    const size_t bytes = rows * cols * sizeof(float);
    float *buf = tq_alloc(p->alloc, bytes);
    if (!buf) {
        return tq_op_fail(p->ctx, TFMQ_ERR_OUT_OF_MEMORY, "no memory for beta * C");
    }
    const size_t si = cp->c_in[0] == 1 ? 0 : (size_t)cp->c_in[1], sj = cp->c_in[1] == 1 ? 0 : 1;
    for (size_t i = 0; i < rows; i++) {
        for (size_t j = 0; j < cols; j++) {
            buf[i * cols + j] = (float)((double)cp->beta * (double)c[i * si + j * sj]);
        }
    }
    tfmq_status st = tq_cpu_onednn_const(p, k, arg, prim_md, &user, buf);
    tq_free(p->alloc, buf, bytes);
    return st;
}

/* Bind the activations, reorder the constants and wire the post-op operands. */
static tfmq_status mm_args(const tq_cpu_prep *p, const mm_plan *cp,
                           const_dnnl_primitive_desc_t pd, tq_onednn_kernel *k)
{
    const tq_op_ctx *ctx = p->ctx;
    tfmq_status st;
    const dnnl_memory_desc_t *src = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *dst = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    const dnnl_memory_desc_t *wei = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    if (cp->bf16) { /* A rounded to BF16 by a reorder stage */
        dnnl_memory_desc_t a_user;
        mm_md(&a_user, cp->nd, cp->a, dnnl_f32, cp->ta);
        st = tq_cpu_onednn_bind_staged(p, k, DNNL_ARG_SRC, src, &a_user, 0);
    } else {
        st = tq_cpu_onednn_bind(k, ctx, DNNL_ARG_SRC, src, 0);
    }
    if (st != TFMQ_OK ||
        (st = tq_cpu_onednn_bind(k, ctx, DNNL_ARG_DST, dst, TQ_ONEDNN_BIND_OUT)) != TFMQ_OK) {
        return st;
    }
    if (cp->b_const) {
        dnnl_memory_desc_t user;
        mm_md(&user, cp->nd, cp->b, cp->quant ? dnnl_s8 : dnnl_f32, cp->tb);
        st = tq_cpu_onednn_const(p, k, DNNL_ARG_WEIGHTS, wei, &user, ctx->in[cp->b_slot]->data);
    } else {
        st = tq_cpu_onednn_bind(k, ctx, DNNL_ARG_WEIGHTS, wei, cp->b_slot);
    }
    if (st != TFMQ_OK) {
        return st;
    }
    const dnnl_memory_desc_t *bias = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 1);
    if (cp->quant && cp->q.bias) {
        st = tq_cpu_onednn_const(p, k, DNNL_ARG_BIAS, bias, bias, cp->q.bias->data);
    } else if (cp->c_mode == MM_C_BIAS) {
        st = mm_const_c(p, cp, k, DNNL_ARG_BIAS, bias);
    }
    int po_idx = 0;
    dnnl_memory_desc_t md;
    if (st == TFMQ_OK && (cp->c_mode == MM_C_POST || cp->c_mode == MM_C_BOUND)) {
        const int arg = DNNL_ARG_ATTR_MULTIPLE_POST_OP(po_idx) | DNNL_ARG_SRC_1;
        mm_c_md(cp, &md);
        st = cp->c_mode == MM_C_POST ? mm_const_c(p, cp, k, arg, &md)
                                     : tq_cpu_onednn_bind(k, ctx, arg, &md, 2);
        po_idx++;
    }
    if (st == TFMQ_OK && cp->r_slot >= 0) {
        mm_r_md(cp, &md);
        st = tq_cpu_onednn_bind(k, ctx, DNNL_ARG_ATTR_MULTIPLE_POST_OP(po_idx) | DNNL_ARG_SRC_1,
                                &md, cp->r_slot);
    }
    return st;
}

tfmq_status tq_cpu_onednn_prepare_matmul(const tq_cpu_prep *p, tq_cpu_kernel **k_out)
{
    mm_plan cp;
    *k_out = NULL;
    if (!mm_plan_make(p->ctx, &cp)) {
        return TFMQ_OK;
    }
    /* role PLAIN: the exec gives NCHW only; decline anything else rather than misread it */
    for (int32_t i = 0; i < p->ctx->n_in; i++) {
        if (p->in_layout[i] != TQ_LAYOUT_NCHW) {
            return TFMQ_OK;
        }
    }
    if (p->out_layout[0] != TQ_LAYOUT_NCHW) {
        return TFMQ_OK;
    }
    cp.bf16 = !cp.quant && cp.b_const && p->isa >= TQ_CPU_ISA_AVX512_BF16 &&
              tq_cpu_onednn_compute_bf16(p->ctx->node);
    dnnl_primitive_desc_t pd = NULL;
    tq_onednn_kernel *k = NULL;
    tfmq_status st = mm_pd(p, &cp, &pd);
    if (st == TFMQ_OK && !pd && cp.bf16) { /* no BF16 implementation: in float32 */
        cp.bf16 = false;
        st = mm_pd(p, &cp, &pd);
    }
    if (st != TFMQ_OK || !pd) {
        return st; /* no implementation: the reference kernel runs */
    }
    st = tq_cpu_onednn_kernel_new(p, pd, &k);
    if (st == TFMQ_OK) {
        st = mm_args(p, &cp, pd, k);
    }
    (void)dnnl_primitive_desc_destroy(pd);
    if (st != TFMQ_OK) {
        tq_cpu_onednn_kernel_free(k);
        return st;
    }
    *k_out = &k->base;
    return TFMQ_OK;
}
