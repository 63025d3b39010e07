/* onednn_conv.c: 2-D Conv, tfmq.FusedConv (float32) and tfmq.QConv (uint8/int8 activations, int8
 * per-channel weights) as oneDNN convolution primitives.
 *
 * Source and destination use the layouts the exec chose (NCHW = abcd, NHWC = acdb; the shape is
 * always NCHW) when oneDNN has a direct kernel for them. Its direct kernels want NHWC on both
 * sides; for NCHW or mixed layouts it would fall back to im2col + GEMM or its reference code
 * (3-10x slower, measured), so the primitive then computes NHWC -> NHWC and reorder stages
 * convert the source before and the result after it. Weights are given format `any` and
 * reordered once into the primitive's blocked format; bias is copied once. FusedConv's
 * act(conv + B + R) is a binary-add post-op reading R in place (full size, in the layout the
 * primitive writes; measured faster than a sum post-op onto a copy of R, which is used only where
 * oneDNN's binary post-op is broken, see conv_pd_best) followed by the activation as an eltwise
 * post-op. Any group (depthwise included), pads, strides and dilations are taken; the role is ANY
 * exactly for the nodes planned here, so prepare never declines a node whose role is ANY.
 * BF16: a float convolution marked compute = "bf16" (passes/strip_half.c: a BF16 model) reads its
 * source and weights as BF16 on a CPU with AVX512_BF16: the source is converted (round to
 * nearest even, as the model's Cast did) by a reorder stage, the weights once; it accumulates and
 * writes float32, or BF16 where the exec stores the value as BF16 because every reader is such a
 * convolution too (tq_cpu_prep.in_bf16/out_bf16; the residual likewise). Elsewhere it runs in
 * float32 (the weights are exactly the BF16 values). */
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/onednn/onednn_internal.h"
#include "backends/ref/qlinear.h"
#include "backends/ref/ref_compute_util.h"
#include "ir/ops/fused.h"

typedef struct conv_plan {
    bool quant;                 /* tfmq.QConv */
    bool bf16;                  /* float conv computing on BF16 source and weights */
    bool x_bf16, y_bf16, r_bf16;/* source, output, residual stored as BF16 (tq_cpu_prep) */
    int32_t w_slot, b_slot;     /* inputs of the weights and the bias (-1: none) */
    int32_t r_slot;             /* residual input of FusedConv, or -1 */
    bool r_sum;                 /* residual as a sum post-op onto a copy (else binary add) */
    int64_t src[4], dst[4], wei[5];
    int wei_nd;                 /* 4, or 5 with a leading group dim */
    int64_t stride[2], dil[2], pad_l[2], pad_r[2];
    tq_fused_act act;
    tq_onednn_q q;
} conv_plan;

/* A rank-4 tensor with a known shape and no zero dim. */
static bool conv_dense4(const tq_tensor *t)
{
    return t && t->rank == 4 && tq_tensor_shape_known(t) && tq_tensor_numel(t) > 0;
}

/* Geometry from the node's attributes (tq_rc_spatial_init) checked against W and Y. */
static bool conv_geometry(const tq_op_ctx *ctx, conv_plan *cp)
{
    const tq_tensor *x = ctx->in[0], *w = ctx->in[cp->w_slot], *y = ctx->out[0];
    tq_op_ctx c2 = *ctx; /* the geometry reads W from in[1] */
    c2.in[1] = w;
    c2.in[2] = NULL;
    tq_rc_spatial sp;
    if (tq_rc_spatial_init(&c2, TQ_RC_SP_CONV, &sp) != TFMQ_OK) {
        tq_clear_error();
        return false;
    }
    const int64_t C = x->dims[1], M = w->dims[0], G = sp.group;
    if (sp.n_sp != 2 || G <= 0 || C % G != 0 || M % G != 0 || w->dims[1] * G != C ||
        sp.out_channels != M || y->dims[0] != x->dims[0] || y->dims[1] != M ||
        y->dims[2] != sp.out[0] || y->dims[3] != sp.out[1]) {
        return false;
    }
    memcpy(cp->src, x->dims, sizeof(cp->src));
    memcpy(cp->dst, y->dims, sizeof(cp->dst));
    if (G == 1) {
        cp->wei_nd = 4;
        memcpy(cp->wei, w->dims, 4 * sizeof(int64_t));
    } else {
        /* [M, C/G, kh, kw] in memory is goihw: [G, M/G, C/G, kh, kw] */
        cp->wei_nd = 5;
        cp->wei[0] = G;
        cp->wei[1] = M / G;
        cp->wei[2] = w->dims[1];
        cp->wei[3] = w->dims[2];
        cp->wei[4] = w->dims[3];
    }
    for (int i = 0; i < 2; i++) {
        cp->stride[i] = sp.stride[i];
        cp->dil[i] = sp.dil[i] - 1; /* oneDNN counts dilation from 0 */
        cp->pad_l[i] = sp.pad_b[i];
        cp->pad_r[i] = sp.pad_e[i];
        if (sp.pad_b[i] < 0 || sp.pad_e[i] < 0 || sp.dil[i] < 1 || sp.stride[i] < 1) {
            return false;
        }
    }
    return true;
}

/* Float32 Conv / FusedConv: constant f32 bias [M], residual of the output's shape. */
static bool conv_plan_f32(const tq_op_ctx *ctx, conv_plan *cp)
{
    const tq_tensor *x = ctx->in[0], *w = ctx->in[1], *y = ctx->out[0];
    if (x->dtype != TFMQ_DTYPE_FLOAT32 || w->dtype != TFMQ_DTYPE_FLOAT32 ||
        y->dtype != TFMQ_DTYPE_FLOAT32) {
        return false;
    }
    const tq_tensor *b = ctx->n_in > 2 ? ctx->in[2] : NULL;
    if (b) {
        if (b->dtype != TFMQ_DTYPE_FLOAT32 || b->rank != 1 || b->dims[0] != y->dims[1] ||
            !b->data) {
            return false;
        }
        cp->b_slot = 2;
    }
    if (ctx->node->op != TQ_OP_FUSED_CONV) {
        return true;
    }
    if (tq_fused_act_read(ctx, &cp->act) != TFMQ_OK) {
        tq_clear_error();
        return false;
    }
    const tq_tensor *r = ctx->n_in > 3 ? ctx->in[3] : NULL;
    if (r) {
        if (r->dtype != TFMQ_DTYPE_FLOAT32 || r->rank != 4 ||
            memcmp(r->dims, y->dims, 4 * sizeof(int64_t)) != 0) {
            return false;
        }
        cp->r_slot = 3;
    }
    return true;
}

/* QConv: int8 weights, constant parameters (tq_cpu_onednn_q_read), int32 bias [M]. */
static bool conv_plan_q(const tq_op_ctx *ctx, conv_plan *cp)
{
    const tq_tensor *w = ctx->in[TQ_QL_W];
    if (w->dtype != TFMQ_DTYPE_INT8 || !tq_cpu_onednn_q_read(ctx, w->dims[0], &cp->q)) {
        return false;
    }
    cp->b_slot = cp->q.bias ? TQ_QL_BIAS : -1;
    return true;
}

static bool conv_plan_make(const tq_op_ctx *ctx, conv_plan *cp)
{
    memset(cp, 0, sizeof(*cp));
    const uint32_t op = ctx->node->op;
    if (op != TQ_OP_CONV && op != TQ_OP_FUSED_CONV && op != TQ_OP_QCONV) {
        return false;
    }
    cp->quant = op == TQ_OP_QCONV;
    cp->w_slot = cp->quant ? TQ_QL_W : 1;
    cp->b_slot = cp->r_slot = -1;
    if (ctx->n_in <= cp->w_slot || ctx->n_out < 1 || !ctx->out[0]) {
        return false;
    }
    const tq_tensor *w = ctx->in[cp->w_slot];
    if (!conv_dense4(ctx->in[0]) || !conv_dense4(w) || !w->data || !conv_dense4(ctx->out[0]) ||
        !conv_geometry(ctx, cp)) {
        return false;
    }
    return cp->quant ? conv_plan_q(ctx, cp) : conv_plan_f32(ctx, cp);
}

bool tq_cpu_onednn_conv_takes(const tq_op_ctx *ctx)
{
    conv_plan cp;
    return conv_plan_make(ctx, &cp);
}

/* Attributes: user scratchpad, then the float post-ops (residual add, activation) or the
 * integer requantisation. */
static tfmq_status conv_attr(const tq_cpu_prep *p, const conv_plan *cp,
                             const dnnl_memory_desc_t *r_md, dnnl_primitive_attr_t attr)
{
    dnnl_status_t s = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    if (s != dnnl_success) {
        return tq_cpu_onednn_fail(p->ctx, s, "scratchpad mode");
    }
    if (cp->quant) {
        return tq_cpu_onednn_q_attr(p, &cp->q, 1 << 1, attr);
    }
    if (cp->r_slot < 0 && cp->act.kind == TQ_FUSED_ACT_NONE) {
        return TFMQ_OK;
    }
    dnnl_post_ops_t po;
    if ((s = dnnl_post_ops_create(&po)) != dnnl_success) {
        return tq_cpu_onednn_fail(p->ctx, s, "post-ops");
    }
    tfmq_status st = TFMQ_OK;
    if (cp->r_slot >= 0) {
        s = cp->r_sum ? dnnl_post_ops_append_sum(po, 1.0f)
                      : dnnl_post_ops_append_binary(po, dnnl_binary_add, r_md);
        if (s != dnnl_success) {
            st = tq_cpu_onednn_fail(p->ctx, s, "residual post-op");
        }
    }
    if (st == TFMQ_OK) {
        st = tq_cpu_onednn_append_act(p->ctx, po, &cp->act);
    }
    if (st == TFMQ_OK && (s = dnnl_primitive_attr_set_post_ops(attr, po)) != dnnl_success) {
        st = tq_cpu_onednn_fail(p->ctx, s, "post-ops");
    }
    (void)dnnl_post_ops_destroy(po);
    return st;
}

/* An INT8 1x1 convolution reducing over fewer than 32 input channels: on AMX tiles (a k step
 * of 64 bytes) oneDNN's jit_1x1 kernel runs MobileNetV2's 16 -> 96 and 24 -> 144 expansions
 * at batch 8 1.3x slower than its AVX-512 VNNI kernel (brgconv_1x1; 3.34 against 2.50 ms and
 * 1.36 against 1.05 on the Intel Xeon of bench/RESULTS.md), while from 32 channels up the
 * tiles are as fast or faster (96 -> 24: 0.51 against 0.92 ms). Such convolutions take the
 * first implementation that is not AMX's; TFMQ_CPU_AMX_SMALL_1X1=1 leaves them on AMX. */
static bool conv_amx_unsuited(const tq_cpu_prep *p, const conv_plan *cp)
{
    const char *env = getenv("TFMQ_CPU_AMX_SMALL_1X1");
    return cp->quant && p->isa >= TQ_CPU_ISA_AMX && cp->wei_nd == 4 && cp->wei[2] == 1 &&
           cp->wei[3] == 1 && cp->wei[1] < 32 && !(env && strcmp(env, "1") == 0);
}

/* The primitive descriptor of the planned convolution computing from source layout x_tag to
 * destination layout y_tag (the residual is read in y_tag too). */
static tfmq_status conv_pd(const tq_cpu_prep *p, const conv_plan *cp, dnnl_alg_kind_t alg,
                           dnnl_format_tag_t x_tag, dnnl_format_tag_t y_tag,
                           dnnl_primitive_desc_t *pd)
{
    const tq_op_ctx *ctx = p->ctx;
    const dnnl_data_type_t xdt = cp->bf16 ? dnnl_bf16 : tq_cpu_onednn_dt(ctx->in[0]->dtype);
    const dnnl_data_type_t wdt = cp->quant ? dnnl_s8 : (cp->bf16 ? dnnl_bf16 : dnnl_f32);
    const dnnl_data_type_t ydt = cp->y_bf16 ? dnnl_bf16 : tq_cpu_onednn_dt(ctx->out[0]->dtype);
    dnnl_memory_desc_t src, dst, wei, bias, r_md;
    tq_cpu_onednn_md(&src, 4, cp->src, xdt, x_tag);
    tq_cpu_onednn_md(&dst, 4, cp->dst, ydt, y_tag);
    tq_cpu_onednn_md(&wei, cp->wei_nd, cp->wei, wdt, dnnl_format_tag_any);
    tq_cpu_onednn_md(&bias, 1, &cp->dst[1], cp->quant ? dnnl_s32 : dnnl_f32, dnnl_a);
    tq_cpu_onednn_md(&r_md, 4, cp->dst, cp->r_bf16 ? dnnl_bf16 : dnnl_f32, y_tag);
    dnnl_dims_t stride, dil, pad_l, pad_r;
    for (int i = 0; i < 2; i++) {
        stride[i] = cp->stride[i];
        dil[i] = cp->dil[i];
        pad_l[i] = cp->pad_l[i];
        pad_r[i] = cp->pad_r[i];
    }
    dnnl_convolution_desc_t cd;
    dnnl_status_t s = dnnl_dilated_convolution_forward_desc_init(
        &cd, dnnl_forward_inference, alg, &src, &wei,
        cp->b_slot >= 0 ? &bias : NULL, &dst, stride, dil, pad_l, pad_r);
    if (s != dnnl_success) {
        return tq_cpu_onednn_fail(ctx, s, "convolution descriptor");
    }
    dnnl_primitive_attr_t attr;
    if ((s = dnnl_primitive_attr_create(&attr)) != dnnl_success) {
        return tq_cpu_onednn_fail(ctx, s, "attributes");
    }
    tfmq_status st = conv_attr(p, cp, &r_md, attr);
    bool unimpl = false;
    if (st == TFMQ_OK && conv_amx_unsuited(p, cp)) {
        st = tq_cpu_onednn_pd_create_avoiding(p, &cd, attr, pd, &unimpl, "amx");
    } else if (st == TFMQ_OK) {
        st = tq_cpu_onednn_pd_create(p, &cd, attr, pd, &unimpl);
    }
    (void)dnnl_primitive_attr_destroy(attr);
    if (st == TFMQ_OK && unimpl) {
        /* the role promised this node: oneDNN's reference convolutions cover every case
         * planned, so this is a broken installation rather than a node to decline */
        st = tq_op_fail(ctx, TFMQ_ERR_BACKEND, "oneDNN has no convolution for this node");
    }
    return st;
}

/* Bind the activations (through reorder stages where the primitive computes in another layout
 * than the tensor has) and reorder the constants of a new kernel for `pd`. */
static tfmq_status conv_args(const tq_cpu_prep *p, const conv_plan *cp,
                             const_dnnl_primitive_desc_t pd, tq_onednn_kernel *k)
{
    const tq_op_ctx *ctx = p->ctx;
    tfmq_status st;
    const dnnl_memory_desc_t *src = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *dst = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    const dnnl_memory_desc_t *wei = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    dnnl_memory_desc_t x_user, y_user, w_user;
    tq_cpu_onednn_md(&x_user, 4, cp->src,
                     cp->x_bf16 ? dnnl_bf16 : tq_cpu_onednn_dt(ctx->in[0]->dtype),
                     tq_cpu_onednn_act_tag(p->in_layout[0]));
    tq_cpu_onednn_md(&y_user, 4, cp->dst, dst->data_type,
                     tq_cpu_onednn_act_tag(p->out_layout[0]));
    if ((st = tq_cpu_onednn_bind_staged(p, k, DNNL_ARG_SRC, src, &x_user, 0)) != TFMQ_OK ||
        (st = tq_cpu_onednn_bind_staged(p, k, DNNL_ARG_DST, dst, &y_user,
                                        TQ_ONEDNN_BIND_OUT)) != TFMQ_OK) {
        return st;
    }
    tq_cpu_onednn_md(&w_user, cp->wei_nd, cp->wei, cp->quant ? dnnl_s8 : dnnl_f32,
                     cp->wei_nd == 5 ? dnnl_goihw : dnnl_oihw);
    if ((st = tq_cpu_onednn_const(p, k, DNNL_ARG_WEIGHTS, wei, &w_user,
                                  ctx->in[cp->w_slot]->data)) != TFMQ_OK) {
        return st;
    }
    if (cp->b_slot >= 0) {
        const dnnl_memory_desc_t *b = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 1);
        if ((st = tq_cpu_onednn_const(p, k, DNNL_ARG_BIAS, b, b, ctx->in[cp->b_slot]->data)) !=
            TFMQ_OK) {
            return st;
        }
    }
    if (cp->r_slot >= 0) {
        /* the residual is read in the layout the primitive writes (binary), or copied into the
         * destination it accumulates onto (sum) */
        const int arg = DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1;
        dnnl_memory_desc_t r_user;
        tq_cpu_onednn_md(&r_user, 4, cp->dst, cp->r_bf16 ? dnnl_bf16 : dnnl_f32,
                         tq_cpu_onednn_act_tag(p->in_layout[cp->r_slot]));
        st = cp->r_sum ? tq_cpu_onednn_copy_in(p, k, cp->r_slot, &r_user, DNNL_ARG_DST)
                       : tq_cpu_onednn_bind_staged(
                             p, k, arg, dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, arg),
                             &r_user, cp->r_slot);
    }
    return st;
}

/* How good oneDNN's choice is: 0 for its reference code, 1 for im2col + GEMM (what it does for
 * NCHW sources, mixed layouts and some small groups, which its direct kernels lack), 2 for a
 * direct kernel. */
static int conv_impl_rank(const_dnnl_primitive_desc_t pd)
{
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success ||
        !impl || strstr(impl, "ref")) {
        return 0;
    }
    return strstr(impl, "gemm") ? 1 : 2;
}

/* Winograd F(2x2,3x3) / F(4x4,3x3) (oneDNN's jit_*wino* kernels, AVX-512 only) for a float32
 * 3x3 convolution of stride 1: on ResNet-50's 3x3 layers at 56x56, 28x28 and 14x14 1.5-2.5x
 * faster than the direct kernel alone (bench/wino_probe.c) and 1.2-1.4x in the model with its
 * reorders (tfmq_cpu_profile); at 7x7 1.2x at batch 1 but 0.88x at batch 8, hence the
 * output-size floor; with 16 channels (ResNet-20's 32x32 layers) 0.7x, hence the channel floor
 * (64, the fewest ResNet-50's 3x3 layers have). It computes in oneDNN's blocked layout nChw16c
 * between reorder stages, the residual as a sum post-op onto a reordered copy; results differ
 * from the direct kernel's by the transform's rounding (docs/CPU_BACKEND.md). Not in graphs that quantize
 * (QuantizeLinear): their float convolutions feed rounding steps, where a different float
 * rounding flips whole int8 units against the reference and other runtimes. TFMQ_CPU_WINOGRAD=0
 * turns it off. */
#define TQ_WINO_MIN_OUT_HW 196
#define TQ_WINO_MIN_CHANNELS 64

static bool conv_wino_wanted(const tq_cpu_prep *p, const conv_plan *cp)
{
    const char *env = getenv("TFMQ_CPU_WINOGRAD");
    if ((env && strcmp(env, "0") == 0) || cp->quant || cp->bf16 || cp->wei_nd != 4 ||
        p->isa < TQ_CPU_ISA_AVX512) {
        return false;
    }
    if (cp->wei[2] != 3 || cp->wei[3] != 3 || cp->stride[0] != 1 || cp->stride[1] != 1 ||
        cp->dil[0] != 0 || cp->dil[1] != 0 || cp->dst[2] * cp->dst[3] < TQ_WINO_MIN_OUT_HW ||
        cp->src[1] < TQ_WINO_MIN_CHANNELS || cp->dst[1] < TQ_WINO_MIN_CHANNELS) {
        return false;
    }
    const tq_graph *g = p->ctx->graph; /* scanned last: only for the nodes that qualify */
    for (size_t i = 0; g && i < g->n_nodes; i++) {
        if (g->nodes[i].op == TQ_OP_QUANTIZE_LINEAR) {
            return false;
        }
    }
    return true;
}

/* A Winograd primitive descriptor into *pd when conv_wino_wanted and oneDNN has one for the node
 * (else *pd stays NULL and cp is unchanged). */
static void conv_pd_wino(const tq_cpu_prep *p, conv_plan *cp, dnnl_primitive_desc_t *pd)
{
    *pd = NULL;
    if (!conv_wino_wanted(p, cp)) {
        return;
    }
    const bool r_sum = cp->r_sum;
    cp->r_sum = cp->r_slot >= 0;
    const char *impl = NULL;
    if (conv_pd(p, cp, dnnl_convolution_winograd, dnnl_aBcd16b, dnnl_aBcd16b, pd) != TFMQ_OK ||
        dnnl_primitive_desc_query(*pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success ||
        !impl || !strstr(impl, "wino")) {
        tq_clear_error();
        if (*pd) {
            (void)dnnl_primitive_desc_destroy(*pd);
        }
        *pd = NULL;
        cp->r_sum = r_sum;
    }
}

/* The primitive descriptor: Winograd where conv_pd_wino gives one; else in the tensors' own
 * layouts when oneDNN has a direct kernel for them, else computing NHWC -> NHWC (the layout of
 * its direct kernels) between reorder stages when that ranks better. *y_tag_out gets the
 * destination layout computed in. */
static tfmq_status conv_pd_layouts(const tq_cpu_prep *p, conv_plan *cp,
                                   dnnl_primitive_desc_t *pd, dnnl_format_tag_t *x_tag_out,
                                   dnnl_format_tag_t *y_tag_out)
{
    conv_pd_wino(p, cp, pd);
    if (*pd) {
        *x_tag_out = *y_tag_out = dnnl_aBcd16b;
        return TFMQ_OK;
    }
    const dnnl_format_tag_t x_tag = tq_cpu_onednn_act_tag(p->in_layout[0]);
    const dnnl_format_tag_t y_tag = tq_cpu_onednn_act_tag(p->out_layout[0]);
    *x_tag_out = x_tag;
    *y_tag_out = y_tag;
    tfmq_status st = conv_pd(p, cp, dnnl_convolution_direct, x_tag, y_tag, pd);
    if (st != TFMQ_OK || (x_tag == dnnl_acdb && y_tag == dnnl_acdb)) {
        return st;
    }
    const int rank = conv_impl_rank(*pd);
    if (rank == 2) {
        return TFMQ_OK;
    }
    dnnl_primitive_desc_t nhwc = NULL;
    st = conv_pd(p, cp, dnnl_convolution_direct, dnnl_acdb, dnnl_acdb, &nhwc);
    if (st != TFMQ_OK || conv_impl_rank(nhwc) <= rank) {
        tq_clear_error();
        if (nhwc) {
            (void)dnnl_primitive_desc_destroy(nhwc);
        }
        return TFMQ_OK; /* keep the first */
    }
    (void)dnnl_primitive_desc_destroy(*pd);
    *pd = nhwc;
    *x_tag_out = *y_tag_out = dnnl_acdb;
    return TFMQ_OK;
}

/* The primitive descriptor (conv_pd_layouts). The residual is a binary-add post-op reading R in
 * place; oneDNN 2.6's im2col + GEMM convolution computes that wrongly for grouped NHWC
 * convolutions (seen with TFMQ_CPU_ISA=avx2), so with its GEMM and reference implementations the
 * residual is a sum post-op instead, onto a copy of R made by a stage (one more pass over the
 * output; those paths are slow anyway). */
static tfmq_status conv_pd_best(const tq_cpu_prep *p, conv_plan *cp, dnnl_primitive_desc_t *pd)
{
    dnnl_format_tag_t x_tag, y_tag;
    tfmq_status st = conv_pd_layouts(p, cp, pd, &x_tag, &y_tag);
    if (st != TFMQ_OK || cp->r_slot < 0 || conv_impl_rank(*pd) == 2) {
        return st;
    }
    (void)dnnl_primitive_desc_destroy(*pd);
    *pd = NULL;
    cp->r_sum = true;
    return conv_pd(p, cp, dnnl_convolution_direct, x_tag, y_tag, pd);
}

bool tq_cpu_dnnl_bf16_io(const tq_op_ctx *ctx, tq_cpu_isa isa)
{
    conv_plan cp;
    return isa >= TQ_CPU_ISA_AVX512_BF16 && conv_plan_make(ctx, &cp) && !cp.quant &&
           tq_cpu_onednn_compute_bf16(ctx->node);
}

tfmq_status tq_cpu_onednn_prepare_conv(const tq_cpu_prep *p, tq_cpu_kernel **k_out)
{
    conv_plan cp;
    *k_out = NULL;
    if (!conv_plan_make(p->ctx, &cp)) {
        return TFMQ_OK;
    }
    cp.bf16 = !cp.quant && p->isa >= TQ_CPU_ISA_AVX512_BF16 &&
              tq_cpu_onednn_compute_bf16(p->ctx->node);
    /* output written over the residual (exec in-place): the sum post-op accumulates onto R where
     * it already is (its copy stage is skipped at run, source and destination being the same) */
    cp.r_sum = cp.r_slot == 3 && p->out0_over_residual;
    if (cp.bf16 && p->in_bf16 && p->out_bf16) {
        cp.x_bf16 = p->in_bf16[0] != 0;
        cp.y_bf16 = p->out_bf16[0] != 0;
        cp.r_bf16 = cp.r_slot >= 0 && p->in_bf16[cp.r_slot] != 0;
    }
    dnnl_primitive_desc_t pd = NULL;
    tq_onednn_kernel *k = NULL;
    tfmq_status st = conv_pd_best(p, &cp, &pd);
    if (st == TFMQ_OK) {
        st = tq_cpu_onednn_kernel_new(p, pd, &k);
    }
    if (st == TFMQ_OK) {
        st = conv_args(p, &cp, pd, k);
    }
    if (pd) {
        (void)dnnl_primitive_desc_destroy(pd);
    }
    if (st != TFMQ_OK) {
        tq_cpu_onednn_kernel_free(k);
        return st;
    }
    *k_out = &k->base;
    return TFMQ_OK;
}
