/* qconv.c: the integer ops of lowered INT8 graphs on the GPU (cuda.h, family "qconv"):
 * tfmq.QConv, tfmq.QGemm and tfmq.QAdd with the semantics of backends/ref/qlinear.h. Every
 * parameter input (scales, zero points, weights, bias) must be a constant; the kernel reads them
 * at prepare (own_consts) and keeps on the device: weights (KRSC int8 for QConv), int32 bias,
 * the float requantisation multipliers m[c] = (float)(x_scale * w_scale[c] / y_scale) and the
 * weight zero points when any is non-zero.
 *
 * QConv (2-D, data and output NHWC, int8 or uint8 with any zero points):
 *  1. cuDNN graph API, one operation graph: conv (int8 x, int8 w, INT32 compute) -> ADD bias
 *     (float [1,K,1,1]) -> MUL m (float [1,K,1,1]) -> RELU_FWD clipped to the output bounds
 *     [lo, hi] -> INT8 y. Where this pattern yields no plan, the order of the probe
 *     (/work/shared/tools/cudnn_graph_probe.cu case 2a: MUL m, then ADD bias * m) and a FLOAT
 *     conv output are tried. Only for int8 x and y with zero points 0 (our quantizer's default),
 *     groups 1, C and K multiples of 4. Up to 4 finalized plans, at most one runtime-compiled
 *     (with a plan cache, or TFMQ_CUDA_QCONV_WIDE=1: 8, any runtime-compiled; qk_choose) are
 *     checked and timed at prepare on random data, each as a replayed CUDA graph
 *     (qk_time_runs): a plan is kept only if it matches our direct kernel (below) on every
 *     element within one unit, with at most 1% of the elements one unit apart; the fastest
 *     such plan is used. With a plan cache (plan_cache.h) the choice of an earlier session for
 *     the same problem (the direct kernel, or a variant with its engine and knob choices) is
 *     rebuilt and only checked against the direct kernel, not timed.
 *     Numerics: cuDNN's epilogue runs in float: ((float)acc + (float)bias) * m, rounded to
 *     int8 (nearest even, saturated). The reference rounds the exact (double)acc * m once; the
 *     two differ only where the float rounding moves a value across a .5 boundary: one unit,
 *     rarely (docs/QUANTIZATION.md, "Integer numerics").
 *     1x1 convolutions that qconv_pw.cu takes (tq_qk_conv_pw_setup: C and K multiples of 64,
 *     no padding, every |bias| < 2^30, sm_80+) have the pointwise tensor-core kernel as their
 *     "direct kernel" in that timing ("cuda:qconv_pw"; TFMQ_CUDA_QCONV_PW=0 off).
 *     Fused residual: where the exec offers the QAdd that alone reads the output
 *     (tq_cuda_prep.add) and the pointwise kernel applies, the QAdd is timed fused into it
 *     against the chosen path followed by the separate QAdd kernel, and fused where faster
 *     (qk_decide_fusion; "cuda:qconv_pw+qadd*", tq_cuda_kernel.fused_add: the run then reads
 *     the residual from args->in[TQ_CUDA_ADD_RESIDUAL] and writes the QAdd's output); the
 *     verdict is kept in the plan cache (path "fused" or "apart").
 *     TFMQ_CUDA_QCONV_FUSE_ADD=0 never fuses, =1 fuses without timing.
 *  2. our direct kernels (qconv_direct.cu): bit-exact to the reference. Always for depthwise and
 *     grouped convolutions, the C = 3 stem, channel counts not multiple of 4, uint8 or non-zero
 *     zero points, and any shape cuDNN has no verified plan for. Few input channels (groups 1,
 *     C <= 4, S * C <= 64, R <= 16, int8 x, zero points 0: the stem) take the tiled kernel
 *     ("cuda:qconv_stem_tiled", qconv.h's tq_qk_tiled; on the tensor cores where it can,
 *     "cuda:qconv_stem_mma", TFMQ_CUDA_QCONV_STEM_MMA=0 off), the rest the one-output-per-thread
 *     kernel. TFMQ_CUDA_QCONV_UNTILED=1 turns the tiled kernel off (A/B timing).
 * QGemm: our warp-per-output kernel (the final classifier: small), bit-exact.
 * QAdd: our element-wise kernel with numpy broadcasting, bit-exact; layout-free: either layout
 * given both activations in it. Same-shape operands in the same layout with a size that is a
 * multiple of 16 take the 16-bytes-per-thread path ("cuda:qadd_v16"; the strided kernel where a
 * pointer is not 16-byte aligned); TFMQ_CUDA_QADD_SCALAR=1 turns it off. That path computes in
 * float without a division where such a form equals the definition on all 65536 byte pairs
 * ("cuda:qadd_v16_f32", or "_f32_checked" with near ties in double, by the division-free
 * double form where it is exact; tq_ql_add_form_plan):
 * the definition's double division made the kernel FP64-bound (~3 ms of ResNet-50's INT8 11 ms
 * at batch 256 on an H200). TFMQ_CUDA_QADD_F64=1 keeps the definition. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>
#include <cudnn.h>

#include "backends/cpu/cpu.h"
#include "backends/cuda/cuda.h"
#include "backends/cuda/cudnn_plan.h"
#include "backends/cuda/qconv.h"
#include "backends/ref/qlinear.h"
#include "backends/ref/ref_compute_util.h"

enum { UID_X = 1, UID_W = 2, UID_Y = 3, UID_B = 4, UID_S = 5, UID_VIRT = 100 };
#define QK_MAX_DESCS 512
#define QK_MAX_CFGS 32
#define QK_MAX_CANDIDATES 8 /* array size; qd_find_plans keeps 4 unless the search is wide */
#define QK_MAX_WS ((int64_t)256 << 20)
#define QK_TUNE_RUNS 3
/* deprecated handle attributes (see conv.c) */
#define ATTR_OPGRAPH_HANDLE ((cudnnBackendAttributeName_t)800)
#define ATTR_PLAN_HANDLE ((cudnnBackendAttributeName_t)400)

typedef enum qk_kind {
    QK_CONV_DIRECT = 0,
    QK_CONV_CUDNN = 1,
    QK_GEMM = 2,
    QK_ADD = 3,
    QK_CONV_PW_ADD = 4 /* the pointwise kernel with the consuming QAdd fused (tq_cuda_prep.add) */
} qk_kind;

/* The variant of the cuDNN graph. */
typedef struct qk_variant {
    bool bias_first;       /* conv -> +bias -> *m (else conv -> *m -> +bias*m) */
    bool t1_float;         /* conv output virtual tensor FLOAT (else INT32) */
    bool clamp;            /* RELU_FWD with the output bounds (else saturation alone) */
} qk_variant;

typedef struct qk_kernel {
    tq_cuda_kernel base;
    qk_kind kind;
    tq_qk_conv conv;             /* direct QConv arguments (x, y set per run) */
    tq_qk_gemm gemm;
    tq_qk_add add;
    void *d_w;                   /* weights: KRSC (QConv) or [N, K] (QGemm), int8 */
    int32_t *d_wzp;              /* per-channel weight zero points, or NULL */
    int32_t *d_bias;             /* int32 bias, or NULL */
    float *d_mult;               /* requantisation multipliers */
    float *d_cbias;              /* cuDNN: float bias as its graph wants it, or NULL */
    bool wide;                   /* autotuning tries 8 plans, any runtime-compiled (qk_choose) */
    int32_t n_oc;
    int32_t y_lo, y_hi;
    bool has_bias;
    qk_variant var;
    cudnnHandle_t handle;
    cudnnBackendDescriptor_t plan;
    int64_t eng;                 /* cuDNN engine of plan (qk_name_cudnn) */
    double ms_graph, ms_plan;    /* a plan-cache hit's graph and plan building (debug log) */
    bool from_json;              /* the plan was cuDNN's serialized one (plan_cache.h) */
    cudnnBackendDescriptor_t vpack;
    void *vp_ptr[6];             /* x, w, y, bias, scale, workspace as held by vpack */
    cudnnBackendDescriptor_t descs[QK_MAX_DESCS];
    int32_t n_descs;
    char label[80];
    char impl[96];
} qk_kernel;

/* An environment switch set to "0". */
static bool qk_env_off(const char *name)
{
    const char *v = getenv(name);
    return v && strcmp(v, "0") == 0;
}

/* ---- errors ---- */
static tfmq_status qk_cuda_err(const qk_kernel *kq, const char *what, int e)
{
    if (e == (int)cudaSuccess) {
        return TFMQ_OK;
    }
    return tq_fail(TFMQ_ERR_BACKEND, "node %s: %s: %s", kq->label, what,
                   cudaGetErrorString((cudaError_t)e));
}

static tfmq_status qk_cudnn_err(const qk_kernel *kq, const char *what, cudnnStatus_t s)
{
    char msg[256];
    msg[0] = '\0';
    cudnnGetLastErrorString(msg, sizeof(msg));
    for (char *q = msg; *q; q++) {
        if (*q == '\n' || *q == '\r') {
            *q = ' ';
        }
    }
    return tq_fail(TFMQ_ERR_BACKEND, "node %s: %s: %s%s%s", kq->label, what,
                   cudnnGetErrorString(s), msg[0] ? ": " : "", msg);
}

/* ---- kernel lifetime ---- */
static void qk_destroy(tq_cuda_kernel *k)
{
    qk_kernel *kq = (qk_kernel *)k;
    if (!kq) {
        return;
    }
    if (kq->vpack) {
        cudnnBackendDestroyDescriptor(kq->vpack);
    }
    for (int32_t i = kq->n_descs - 1; i >= 0; i--) {
        cudnnBackendDestroyDescriptor(kq->descs[i]);
    }
    cudaFree(kq->d_w);
    cudaFree(kq->d_wzp);
    cudaFree(kq->d_bias);
    cudaFree(kq->d_mult);
    cudaFree(kq->d_cbias);
    tq_free(kq->base.alloc, kq, sizeof(*kq));
}

static tfmq_status qk_run(tq_cuda_kernel *k, const tq_cuda_args *a);

static tfmq_status qk_new(const tq_cuda_prep *p, qk_kind kind, qk_kernel **out)
{
    const tq_op_ctx *ctx = p->ctx;
    qk_kernel *kq = tq_calloc(p->alloc, 1, sizeof(*kq));
    *out = NULL;
    if (!kq) {
        return tq_op_fail(ctx, TFMQ_ERR_OUT_OF_MEMORY, "%zu bytes", sizeof(*kq));
    }
    kq->base.run = qk_run;
    kq->base.destroy = qk_destroy;
    kq->base.alloc = p->alloc;
    kq->base.impl = kq->impl;
    kq->kind = kind;
    kq->handle = (cudnnHandle_t)p->dev->cudnn;
    char lb[64];
    snprintf(kq->label, sizeof(kq->label), "'%s' (%s)",
             tq_node_label(ctx->graph, ctx->node, lb, sizeof(lb)),
             tq_op_table[ctx->node->op].name);
    *out = kq;
    return TFMQ_OK;
}

/* Copy n_bytes of host memory to a new device buffer (prepare time, synchronous). */
static tfmq_status qk_upload(qk_kernel *kq, const void *host, size_t n_bytes, void **dev)
{
    *dev = NULL;
    tfmq_status st = qk_cuda_err(kq, "cudaMalloc", cudaMalloc(dev, n_bytes ? n_bytes : 1));
    if (st != TFMQ_OK) {
        *dev = NULL;
        return st;
    }
    return qk_cuda_err(kq, "cudaMemcpy", cudaMemcpy(*dev, host, n_bytes,
                                                    cudaMemcpyHostToDevice));
}

/* ---- parameters of QConv / QGemm (all constant) ---- */
typedef struct qk_params {
    bool x_signed, y_signed;
    int32_t x_zp, y_zp, lo, hi;
    float *mult;           /* host, n_oc */
    int32_t *wzp;          /* host, n_oc; NULL when every weight zero point is 0 */
    const int32_t *bias;   /* the node's constant, or NULL */
    size_t n_oc;
} qk_params;

static void qk_params_free(const tfmq_allocator *al, qk_params *q)
{
    tq_free(al, q->mult, q->n_oc * sizeof(float));
    tq_free(al, q->wzp, q->n_oc * sizeof(int32_t));
    q->mult = NULL;
    q->wzp = NULL;
}

static int32_t qk_load_q8(tfmq_dtype dt, const void *p, size_t i)
{
    return dt == TFMQ_DTYPE_INT8 ? (int32_t)((const int8_t *)p)[i]
                                 : (int32_t)((const uint8_t *)p)[i];
}

static bool qk_is_q8(tfmq_dtype dt)
{
    return dt == TFMQ_DTYPE_INT8 || dt == TFMQ_DTYPE_UINT8;
}

/* Read the parameters; *ok false (status OK) when they are not all constant. */
static tfmq_status qk_params_load(const tq_cuda_prep *p, int64_t n_oc, qk_params *q, bool *ok)
{
    const tq_op_ctx *ctx = p->ctx;
    memset(q, 0, sizeof(*q));
    *ok = false;
    tfmq_dtype ydt;
    tfmq_status st = tq_ql_check(ctx, n_oc, &ydt);
    if (st != TFMQ_OK) {
        return st;
    }
    const tq_tensor *x = ctx->in[TQ_QL_X], *y = ctx->out[0];
    if (!qk_is_q8(x->dtype) || ydt != y->dtype || !qk_is_q8(ydt)) {
        return TFMQ_OK;
    }
    for (int32_t i = 1; i < ctx->n_in && i <= TQ_QL_BIAS; i++) {
        if (ctx->in[i] && !ctx->in[i]->data) {
            return TFMQ_OK; /* a parameter computed at run time: not ours */
        }
    }
    const tq_tensor *xz = ctx->in[TQ_QL_X_ZP], *yz = ctx->in[TQ_QL_Y_ZP];
    const tq_tensor *ws = ctx->in[TQ_QL_W_SCALE], *wz = ctx->in[TQ_QL_W_ZP];
    const tq_tensor *b = ctx->n_in > TQ_QL_BIAS ? ctx->in[TQ_QL_BIAS] : NULL;
    const float xs = *(const float *)ctx->in[TQ_QL_X_SCALE]->data;
    const float ys = *(const float *)ctx->in[TQ_QL_Y_SCALE]->data;
    if (!(ys > 0.0f) || !isfinite(ys) || !isfinite(xs)) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "scales must be finite and y_scale > 0");
    }
    q->x_signed = x->dtype == TFMQ_DTYPE_INT8;
    q->y_signed = ydt == TFMQ_DTYPE_INT8;
    q->x_zp = xz ? qk_load_q8(xz->dtype, xz->data, 0) : 0;
    q->y_zp = yz ? qk_load_q8(yz->dtype, yz->data, 0) : 0;
    q->bias = b ? (const int32_t *)b->data : NULL;
    q->n_oc = (size_t)n_oc;
    if ((st = tq_ql_bounds(ctx, ydt, ys, q->y_zp, &q->lo, &q->hi)) != TFMQ_OK) {
        return st;
    }
    q->mult = tq_alloc(p->alloc, q->n_oc * sizeof(float));
    if (!q->mult) {
        return tq_op_fail(ctx, TFMQ_ERR_OUT_OF_MEMORY, "%zu bytes", q->n_oc * sizeof(float));
    }
    const size_t n_ws = tq_tensor_numel(ws), n_wz = wz ? tq_tensor_numel(wz) : 0;
    const float *wsd = ws->data;
    const int8_t *wzd = wz ? wz->data : NULL;
    bool any_wz = false;
    for (size_t c = 0; c < q->n_oc; c++) {
        q->mult[c] = tq_ql_multiplier(xs, wsd[n_ws == 1 ? 0 : c], ys);
        any_wz = any_wz || (wzd && wzd[n_wz == 1 ? 0 : c] != 0);
    }
    if (any_wz) {
        q->wzp = tq_alloc(p->alloc, q->n_oc * sizeof(int32_t));
        if (!q->wzp) {
            qk_params_free(p->alloc, q);
            return tq_op_fail(ctx, TFMQ_ERR_OUT_OF_MEMORY, "%zu bytes",
                              q->n_oc * sizeof(int32_t));
        }
        for (size_t c = 0; c < q->n_oc; c++) {
            q->wzp[c] = wzd[n_wz == 1 ? 0 : c];
        }
    }
    *ok = true;
    return TFMQ_OK;
}

/* Upload multipliers, zero points and bias; fill the requantisation block. */
static tfmq_status qk_upload_params(qk_kernel *kq, const qk_params *q, tq_qk_out *o)
{
    tfmq_status st;
    const size_t n = q->n_oc;
    TQ_TRY(st, qk_upload(kq, q->mult, n * sizeof(float), (void **)&kq->d_mult));
    if (q->wzp) {
        TQ_TRY(st, qk_upload(kq, q->wzp, n * sizeof(int32_t), (void **)&kq->d_wzp));
    }
    if (q->bias) {
        TQ_TRY(st, qk_upload(kq, q->bias, n * sizeof(int32_t), (void **)&kq->d_bias));
    }
    o->y_signed = q->y_signed;
    o->y_zp = q->y_zp;
    o->lo = q->lo;
    o->hi = q->hi;
    o->mult = kq->d_mult;
    o->bias = kq->d_bias;
    kq->n_oc = (int32_t)n;
    kq->y_lo = q->lo;
    kq->y_hi = q->hi;
    kq->has_bias = q->bias != NULL;
    return TFMQ_OK;
fail:
    return st;
}

/* ---- cuDNN descriptors (all owned by the kernel) ---- */
static cudnnStatus_t qd_new(qk_kernel *kq, cudnnBackendDescriptorType_t type,
                            cudnnBackendDescriptor_t *d)
{
    *d = NULL;
    if (kq->n_descs >= QK_MAX_DESCS) {
        return CUDNN_STATUS_NOT_SUPPORTED;
    }
    cudnnStatus_t s = cudnnBackendCreateDescriptor(type, d);
    if (s == CUDNN_STATUS_SUCCESS) {
        kq->descs[kq->n_descs++] = *d;
    }
    return s;
}

static void qd_drop(qk_kernel *kq, cudnnBackendDescriptor_t d)
{
    for (int32_t i = 0; i < kq->n_descs; i++) {
        if (kq->descs[i] == d) {
            cudnnBackendDestroyDescriptor(d);
            kq->descs[i] = kq->descs[--kq->n_descs];
            return;
        }
    }
}

#define CK(expr)                                                                                  \
    do {                                                                                          \
        cudnnStatus_t s_ = (expr);                                                                \
        if (s_ != CUDNN_STATUS_SUCCESS) {                                                         \
            return s_;                                                                            \
        }                                                                                         \
    } while (0)

/* A tensor with dims (N, C, H, W) stored NHWC (filters: KRSC). */
static cudnnStatus_t qd_tensor(qk_kernel *kq, int64_t uid, cudnnDataType_t dt, const int64_t d[4],
                               bool virt, cudnnBackendDescriptor_t *out)
{
    const int64_t strides[4] = {d[1] * d[2] * d[3], 1, d[3] * d[1], d[1]};
    const int64_t align = 16;
    const bool v = virt;
    cudnnBackendDescriptor_t t;
    CK(qd_new(kq, CUDNN_BACKEND_TENSOR_DESCRIPTOR, &t));
    CK(cudnnBackendSetAttribute(t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &dt));
    CK(cudnnBackendSetAttribute(t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, d));
    CK(cudnnBackendSetAttribute(t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, strides));
    CK(cudnnBackendSetAttribute(t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid));
    CK(cudnnBackendSetAttribute(t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &align));
    CK(cudnnBackendSetAttribute(t, CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &v));
    CK(cudnnBackendFinalize(t));
    *out = t;
    return CUDNN_STATUS_SUCCESS;
}

static cudnnStatus_t qd_set_float(cudnnBackendDescriptor_t pw, cudnnBackendAttributeName_t a,
                                  double v)
{
    float f = (float)v;
    cudnnStatus_t s = cudnnBackendSetAttribute(pw, a, CUDNN_TYPE_FLOAT, 1, &f);
    if (s != CUDNN_STATUS_SUCCESS) {
        s = cudnnBackendSetAttribute(pw, a, CUDNN_TYPE_DOUBLE, 1, &v);
    }
    return s;
}

/* y = mode(x[, b]); RELU_FWD clipped to [lo, hi]. */
static cudnnStatus_t qd_pw(qk_kernel *kq, cudnnPointwiseMode_t mode, bool clip, double lo,
                           double hi, cudnnBackendDescriptor_t x, cudnnBackendDescriptor_t b,
                           cudnnBackendDescriptor_t y, cudnnBackendDescriptor_t *out)
{
    const cudnnDataType_t prec = CUDNN_DATA_FLOAT;
    cudnnBackendDescriptor_t pw, op;
    CK(qd_new(kq, CUDNN_BACKEND_POINTWISE_DESCRIPTOR, &pw));
    CK(cudnnBackendSetAttribute(pw, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1,
                                &mode));
    CK(cudnnBackendSetAttribute(pw, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1,
                                &prec));
    if (clip) {
        CK(qd_set_float(pw, CUDNN_ATTR_POINTWISE_RELU_LOWER_CLIP, lo));
        CK(qd_set_float(pw, CUDNN_ATTR_POINTWISE_RELU_UPPER_CLIP, hi));
    }
    CK(cudnnBackendFinalize(pw));
    CK(qd_new(kq, CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR, &op));
    CK(cudnnBackendSetAttribute(op, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR,
                                CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &pw));
    CK(cudnnBackendSetAttribute(op, CUDNN_ATTR_OPERATION_POINTWISE_XDESC,
                                CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x));
    if (b) {
        CK(cudnnBackendSetAttribute(op, CUDNN_ATTR_OPERATION_POINTWISE_BDESC,
                                    CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &b));
    }
    CK(cudnnBackendSetAttribute(op, CUDNN_ATTR_OPERATION_POINTWISE_YDESC,
                                CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y));
    CK(cudnnBackendFinalize(op));
    *out = op;
    return CUDNN_STATUS_SUCCESS;
}

/* conv -> [+bias] -> *m [-> +bias*m] [-> clamp] -> INT8, one graph. */
static cudnnStatus_t qd_graph(qk_kernel *kq, const qk_variant *var, cudnnBackendDescriptor_t *gr)
{
    const tq_qk_conv *g = &kq->conv;
    const int64_t xd[4] = {g->n, g->c, g->h, g->w}, wd[4] = {g->k, g->cg, g->r, g->s};
    const int64_t yd[4] = {g->n, g->k, g->oh, g->ow}, kd[4] = {1, g->k, 1, 1};
    cudnnBackendDescriptor_t X, W, Y, B = NULL, S, T1, cur, ops[5];
    int32_t n_ops = 0;
    int64_t uid = UID_VIRT;
    CK(qd_tensor(kq, UID_X, CUDNN_DATA_INT8, xd, false, &X));
    CK(qd_tensor(kq, UID_W, CUDNN_DATA_INT8, wd, false, &W));
    CK(qd_tensor(kq, UID_Y, CUDNN_DATA_INT8, yd, false, &Y));
    CK(qd_tensor(kq, UID_S, CUDNN_DATA_FLOAT, kd, false, &S));
    if (kq->has_bias) {
        CK(qd_tensor(kq, UID_B, CUDNN_DATA_FLOAT, kd, false, &B));
    }
    CK(qd_tensor(kq, uid++, var->t1_float ? CUDNN_DATA_FLOAT : CUDNN_DATA_INT32, yd, true, &T1));

    cudnnBackendDescriptor_t cd, conv;
    const int64_t n_sp = 2;
    const int64_t pad_b[2] = {g->pad_t, g->pad_l};
    int64_t pad_e[2];
    pad_e[0] = (g->oh - 1) * g->stride_h + (g->r - 1) * g->dil_h + 1 - g->h - g->pad_t;
    pad_e[1] = (g->ow - 1) * g->stride_w + (g->s - 1) * g->dil_w + 1 - g->w - g->pad_l;
    pad_e[0] = pad_e[0] < 0 ? 0 : pad_e[0];
    pad_e[1] = pad_e[1] < 0 ? 0 : pad_e[1];
    const int64_t stride[2] = {g->stride_h, g->stride_w}, dil[2] = {g->dil_h, g->dil_w};
    const cudnnDataType_t comp = CUDNN_DATA_INT32;
    const cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
    CK(qd_new(kq, CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR, &cd));
    CK(cudnnBackendSetAttribute(cd, CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1,
                                &comp));
    CK(cudnnBackendSetAttribute(cd, CUDNN_ATTR_CONVOLUTION_CONV_MODE,
                                CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode));
    CK(cudnnBackendSetAttribute(cd, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1,
                                &n_sp));
    CK(cudnnBackendSetAttribute(cd, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, 2,
                                pad_b));
    CK(cudnnBackendSetAttribute(cd, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, 2,
                                pad_e));
    CK(cudnnBackendSetAttribute(cd, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, 2,
                                stride));
    CK(cudnnBackendSetAttribute(cd, CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, 2, dil));
    CK(cudnnBackendFinalize(cd));
    const float alpha = 1.0f, beta = 0.0f;
    CK(qd_new(kq, CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR, &conv));
    CK(cudnnBackendSetAttribute(conv, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X,
                                CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &X));
    CK(cudnnBackendSetAttribute(conv, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W,
                                CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &W));
    CK(cudnnBackendSetAttribute(conv, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y,
                                CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &T1));
    CK(cudnnBackendSetAttribute(conv, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC,
                                CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cd));
    CK(cudnnBackendSetAttribute(conv, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA,
                                CUDNN_TYPE_FLOAT, 1, &alpha));
    CK(cudnnBackendSetAttribute(conv, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA,
                                CUDNN_TYPE_FLOAT, 1, &beta));
    CK(cudnnBackendFinalize(conv));
    ops[n_ops++] = conv;

    /* epilogue steps, each into a FLOAT virtual tensor; the last one writes Y */
    cudnnBackendDescriptor_t steps_b[3] = {NULL, NULL, NULL};
    cudnnPointwiseMode_t steps_m[3];
    int32_t n_steps = 0;
    if (kq->has_bias && var->bias_first) {
        steps_m[n_steps] = CUDNN_POINTWISE_ADD;
        steps_b[n_steps++] = B;
    }
    steps_m[n_steps] = CUDNN_POINTWISE_MUL;
    steps_b[n_steps++] = S;
    if (kq->has_bias && !var->bias_first) {
        steps_m[n_steps] = CUDNN_POINTWISE_ADD;
        steps_b[n_steps++] = B;
    }
    if (var->clamp) {
        steps_m[n_steps] = CUDNN_POINTWISE_RELU_FWD;
        steps_b[n_steps++] = NULL;
    }
    cur = T1;
    for (int32_t i = 0; i < n_steps; i++) {
        cudnnBackendDescriptor_t t = Y, op;
        if (i + 1 < n_steps) {
            CK(qd_tensor(kq, uid++, CUDNN_DATA_FLOAT, yd, true, &t));
        }
        const bool clip = steps_m[i] == CUDNN_POINTWISE_RELU_FWD;
        CK(qd_pw(kq, steps_m[i], clip, (double)kq->y_lo, (double)kq->y_hi, cur, steps_b[i], t,
                 &op));
        ops[n_ops++] = op;
        cur = t;
    }
    cudnnBackendDescriptor_t gd;
    CK(qd_new(kq, CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, &gd));
    CK(cudnnBackendSetAttribute(gd, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                n_ops, ops));
    (void)cudnnBackendSetAttribute(gd, ATTR_OPGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &kq->handle);
    CK(cudnnBackendFinalize(gd));
    *gr = gd;
    return CUDNN_STATUS_SUCCESS;
}

typedef struct qk_cand {
    cudnnBackendDescriptor_t plan;
    int64_t ws, eng;
    float ms;         /* of QK_TUNE_RUNS runs; < 0: failed or disagrees with the direct kernel */
    size_t n_diff1;   /* elements one unit from the direct kernel */
    cudnnBackendDescriptor_t cfg; /* the plan's engine config (knob choices for the plan cache) */
} qk_cand;

static int64_t qd_engine_id(cudnnBackendDescriptor_t cfg, bool *rtc)
{
    cudnnBackendDescriptor_t e = NULL;
    int64_t cnt = 0, id = -1;
    *rtc = false;
    if (cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINE_DESCRIPTOR, &e) !=
        CUDNN_STATUS_SUCCESS) {
        return -1;
    }
    if (cudnnBackendGetAttribute(cfg, CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                 1, &cnt, &e) == CUDNN_STATUS_SUCCESS) {
        cudnnBackendBehaviorNote_t bn[CUDNN_BEHAVIOR_NOTE_TYPE_COUNT + 8];
        int64_t n_bn = 0;
        (void)cudnnBackendGetAttribute(e, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1,
                                       &cnt, &id);
        if (cudnnBackendGetAttribute(e, CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE, CUDNN_TYPE_BEHAVIOR_NOTE,
                                     CUDNN_BEHAVIOR_NOTE_TYPE_COUNT, &n_bn, bn) ==
            CUDNN_STATUS_SUCCESS) {
            n_bn = n_bn > CUDNN_BEHAVIOR_NOTE_TYPE_COUNT ? CUDNN_BEHAVIOR_NOTE_TYPE_COUNT : n_bn;
            for (int64_t i = 0; i < n_bn; i++) {
                *rtc = *rtc || bn[i] == CUDNN_BEHAVIOR_NOTE_RUNTIME_COMPILATION;
            }
        }
    }
    cudnnBackendDestroyDescriptor(e);
    return id;
}

/* Heuristics mode A, then FALLBACK; up to 4 finalized plans (at most one runtime-compiled), or
 * 8 with TFMQ_CUDA_QCONV_WIDE=1 (see below). */
static void qd_find_plans(qk_kernel *kq, cudnnBackendDescriptor_t graph, qk_cand *cands,
                          int32_t *n_cands)
{
    const cudnnBackendHeurMode_t modes[2] = {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK};
    *n_cands = 0;
    for (int mi = 0; mi < 2 && *n_cands == 0; mi++) {
        cudnnBackendDescriptor_t heur, cfgs[QK_MAX_CFGS];
        int64_t n_res = 0, got = 0;
        if (qd_new(kq, CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, &heur) != CUDNN_STATUS_SUCCESS ||
            cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH,
                                     CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &graph) !=
                CUDNN_STATUS_SUCCESS ||
            cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1,
                                     &modes[mi]) != CUDNN_STATUS_SUCCESS ||
            cudnnBackendFinalize(heur) != CUDNN_STATUS_SUCCESS ||
            cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                     CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &n_res, NULL) !=
                CUDNN_STATUS_SUCCESS) {
            continue;
        }
        int64_t want = n_res < QK_MAX_CFGS ? n_res : QK_MAX_CFGS, made = 0;
        if (want <= 0) {
            continue;
        }
        for (; made < want; made++) {
            if (qd_new(kq, CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, &cfgs[made]) !=
                CUDNN_STATUS_SUCCESS) {
                break;
            }
        }
        if (made < want ||
            cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                     CUDNN_TYPE_BACKEND_DESCRIPTOR, want, &got, cfgs) !=
                CUDNN_STATUS_SUCCESS) {
            continue;
        }
        got = got > want ? want : got;
        /* wide: up to 8 plans, any number of them runtime-compiled (each such plan takes
         * 0.35 to 0.76 s to finalize: worth it only with a plan cache, qk_choose) */
        const bool wide = kq->wide;
        const int32_t max_cands = wide ? QK_MAX_CANDIDATES : 4;
        int32_t n_rtc = 0;
        for (int64_t i = 0; i < got && *n_cands < max_cands; i++) {
            bool rtc = false;
            int64_t eng = qd_engine_id(cfgs[i], &rtc), ws = 0, cnt = 0;
            if (rtc && n_rtc >= (wide ? max_cands : 1)) {
                continue; /* at most one runtime compilation per graph */
            }
            cudnnBackendDescriptor_t plan;
            if (qd_new(kq, CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, &plan) !=
                CUDNN_STATUS_SUCCESS) {
                break;
            }
            (void)cudnnBackendSetAttribute(plan, ATTR_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1,
                                           &kq->handle);
            if (cudnnBackendSetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG,
                                         CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cfgs[i]) !=
                    CUDNN_STATUS_SUCCESS ||
                cudnnBackendFinalize(plan) != CUDNN_STATUS_SUCCESS ||
                cudnnBackendGetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE,
                                         CUDNN_TYPE_INT64, 1, &cnt, &ws) !=
                    CUDNN_STATUS_SUCCESS ||
                ws < 0 || ws > QK_MAX_WS) {
                qd_drop(kq, plan);
                continue;
            }
            n_rtc += rtc ? 1 : 0;
            cands[*n_cands] = (qk_cand){plan, ws, eng, -1.0f, 0, cfgs[i]};
            (*n_cands)++;
        }
    }
}

/* (Re)build the variant pack when the pointers changed (the first run). */
static tfmq_status qd_vpack(qk_kernel *kq, void *const ptr[6])
{
    if (kq->vpack && memcmp(ptr, kq->vp_ptr, sizeof(kq->vp_ptr)) == 0) {
        return TFMQ_OK;
    }
    if (kq->vpack) {
        cudnnBackendDestroyDescriptor(kq->vpack);
        kq->vpack = NULL;
    }
    int64_t uids[5] = {UID_X, UID_W, UID_Y, UID_S, UID_B};
    void *ptrs[5] = {ptr[0], ptr[1], ptr[2], ptr[4], ptr[3]};
    const int64_t n = kq->has_bias ? 5 : 4;
    void *ws = ptr[5];
    cudnnBackendDescriptor_t vp = NULL;
    cudnnStatus_t s = cudnnBackendCreateDescriptor(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, &vp);
    if (s == CUDNN_STATUS_SUCCESS) {
        s = cudnnBackendSetAttribute(vp, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, n,
                                     uids);
    }
    if (s == CUDNN_STATUS_SUCCESS) {
        s = cudnnBackendSetAttribute(vp, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS,
                                     CUDNN_TYPE_VOID_PTR, n, ptrs);
    }
    if (s == CUDNN_STATUS_SUCCESS) {
        s = cudnnBackendSetAttribute(vp, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1,
                                     &ws);
    }
    if (s == CUDNN_STATUS_SUCCESS) {
        s = cudnnBackendFinalize(vp);
    }
    if (s != CUDNN_STATUS_SUCCESS) {
        if (vp) {
            cudnnBackendDestroyDescriptor(vp);
        }
        return qk_cudnn_err(kq, "variant pack", s);
    }
    kq->vpack = vp;
    memcpy(kq->vp_ptr, ptr, sizeof(kq->vp_ptr));
    return TFMQ_OK;
}

static tfmq_status qk_conv_enqueue(qk_kernel *kq, const void *x, void *y, void *ws, void *stream)
{
    if (kq->kind == QK_CONV_DIRECT) {
        tq_qk_conv c = kq->conv;
        c.x = x;
        c.y = y;
        return qk_cuda_err(kq, "direct int8 convolution kernel", tq_qk_conv_direct(&c, stream));
    }
    void *ptr[6] = {(void *)(uintptr_t)x, kq->d_w, y, kq->d_cbias, kq->d_mult, ws};
    tfmq_status st = qd_vpack(kq, ptr);
    if (st != TFMQ_OK) {
        return st;
    }
    cudnnStatus_t s = cudnnBackendExecute(kq->handle, kq->plan, kq->vpack);
    return s == CUDNN_STATUS_SUCCESS ? TFMQ_OK : qk_cudnn_err(kq, "cudnnBackendExecute", s);
}

static tfmq_status qk_run(tq_cuda_kernel *k, const tq_cuda_args *a)
{
    qk_kernel *kq = (qk_kernel *)k;
    switch (kq->kind) {
    case QK_CONV_DIRECT:
    case QK_CONV_CUDNN:
        return qk_conv_enqueue(kq, a->in[TQ_QL_X], a->out[0], a->workspace, a->stream);
    case QK_GEMM: {
        tq_qk_gemm g = kq->gemm;
        g.x = a->in[TQ_QL_X];
        g.y = a->out[0];
        return qk_cuda_err(kq, "int8 gemm kernel", tq_qk_gemm_launch(&g, a->stream));
    }
    case QK_ADD: {
        tq_qk_add q = kq->add;
        q.a = a->in[0];
        q.b = a->in[3];
        q.y = a->out[0];
        return qk_cuda_err(kq, "int8 add kernel", tq_qk_add_launch(&q, a->stream));
    }
    case QK_CONV_PW_ADD: {
        tq_qk_conv c = kq->conv;
        tq_qk_add q = kq->add;
        c.x = a->in[TQ_QL_X];
        q.b = a->in[TQ_CUDA_ADD_RESIDUAL];
        q.y = a->out[0];
        return qk_cuda_err(kq, "int8 pointwise convolution + add kernel",
                           tq_qk_conv_pw(&c, &q, a->stream));
    }
    }
    return tq_fail(TFMQ_ERR_INTERNAL, "node %s: bad kernel kind", kq->label);
}

/* ---- cuDNN plans: checked against the direct kernel and timed on random data ---- */
typedef struct qk_tune {
    void *x, *y_ref, *y, *ws;
    void *y2;               /* fusion timing (qk_decide_fusion): the QAdd's output */
    int8_t *h_ref, *h_y;
    size_t x_bytes, y_bytes;
    cudaEvent_t e0, e1;
} qk_tune;

static void qk_tune_free(qk_kernel *kq, qk_tune *t)
{
    cudaFree(t->x);
    cudaFree(t->y_ref);
    cudaFree(t->y);
    cudaFree(t->ws);
    cudaFree(t->y2);
    tq_free(kq->base.alloc, t->h_ref, t->y_bytes);
    tq_free(kq->base.alloc, t->h_y, t->y_bytes);
    if (t->e0) {
        cudaEventDestroy(t->e0);
    }
    if (t->e1) {
        cudaEventDestroy(t->e1);
    }
    memset(t, 0, sizeof(*t));
}

/* Random int8 input (values in [-40, 40]: outputs spread over the int8 range rather than
 * saturate), the direct kernel's output for it on the host. */
static tfmq_status qk_tune_init(qk_kernel *kq, qk_tune *t, void *stream)
{
    const tq_qk_conv *g = &kq->conv;
    tfmq_status st;
    memset(t, 0, sizeof(*t));
    t->x_bytes = (size_t)(g->n * g->h * g->w * g->c);
    t->y_bytes = (size_t)(g->n * g->oh * g->ow * g->k);
    int8_t *hx = tq_alloc(kq->base.alloc, t->x_bytes ? t->x_bytes : 1);
    t->h_ref = tq_alloc(kq->base.alloc, t->y_bytes ? t->y_bytes : 1);
    t->h_y = tq_alloc(kq->base.alloc, t->y_bytes ? t->y_bytes : 1);
    if (!hx || !t->h_ref || !t->h_y) {
        st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "node %s: %zu bytes", kq->label, t->x_bytes);
        goto fail;
    }
    uint64_t s = 0x9E3779B97F4A7C15ull ^ (uint64_t)t->x_bytes;
    for (size_t i = 0; i < t->x_bytes; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        hx[i] = (int8_t)((int32_t)((s >> 33) % 81u) - 40);
    }
    TQ_TRY(st, qk_upload(kq, hx, t->x_bytes, &t->x));
    /* the upload ran on the legacy stream, which `stream` (non-blocking) does not wait for */
    TQ_TRY(st, qk_cuda_err(kq, "cudaDeviceSynchronize", cudaDeviceSynchronize()));
    TQ_TRY(st, qk_cuda_err(kq, "cudaMalloc (tuning)", cudaMalloc(&t->y_ref, t->y_bytes + 1)));
    TQ_TRY(st, qk_cuda_err(kq, "cudaMalloc (tuning)", cudaMalloc(&t->y, t->y_bytes + 1)));
    TQ_TRY(st, qk_cuda_err(kq, "cudaEventCreate", cudaEventCreate(&t->e0)));
    TQ_TRY(st, qk_cuda_err(kq, "cudaEventCreate", cudaEventCreate(&t->e1)));
    {
        tq_qk_conv c = kq->conv;
        c.x = t->x;
        c.y = t->y_ref;
        TQ_TRY(st, qk_cuda_err(kq, "direct int8 convolution kernel",
                               tq_qk_conv_direct(&c, stream)));
        TQ_TRY(st, qk_cuda_err(kq, "cudaStreamSynchronize",
                               cudaStreamSynchronize((cudaStream_t)stream)));
        TQ_TRY(st, qk_cuda_err(kq, "cudaMemcpy", cudaMemcpy(t->h_ref, t->y_ref, t->y_bytes,
                                                            cudaMemcpyDeviceToHost)));
    }
    tq_free(kq->base.alloc, hx, t->x_bytes ? t->x_bytes : 1);
    return TFMQ_OK;
fail:
    tq_free(kq->base.alloc, hx, t->x_bytes ? t->x_bytes : 1);
    return st;
}

/* What is timed: the cuDNN plan kq->plan, our kernel, the path kq->kind chose followed by the
 * QAdd kq->add reading its output (the residual: y_ref), or the pointwise kernel with that
 * QAdd fused. */
enum { QK_TIME_PLAN = 0, QK_TIME_DIRECT = 1, QK_TIME_CONV_ADD = 2, QK_TIME_PW_ADD = 3 };

/* One run of what is timed (QK_TIME_*). */
static bool qk_enqueue_one(qk_kernel *kq, qk_tune *t, int mode, void *stream)
{
    tq_qk_conv c = kq->conv;
    tq_qk_add e = kq->add;
    c.x = t->x;
    c.y = t->y;
    e.a = t->y;
    e.b = t->y_ref;
    e.y = t->y2;
    switch (mode) {
    case QK_TIME_DIRECT:
        return tq_qk_conv_direct(&c, stream) == (int)cudaSuccess;
    case QK_TIME_CONV_ADD:
        return (kq->kind == QK_CONV_CUDNN ? qk_conv_enqueue(kq, t->x, t->y, t->ws, stream) == TFMQ_OK
                                          : tq_qk_conv_direct(&c, stream) == (int)cudaSuccess) &&
               tq_qk_add_launch(&e, stream) == (int)cudaSuccess;
    case QK_TIME_PW_ADD:
        return tq_qk_conv_pw(&c, &e, stream) == (int)cudaSuccess;
    default:
        return qk_conv_enqueue(kq, t->x, t->y, t->ws, stream) == TFMQ_OK;
    }
}

/* Events around QK_TUNE_RUNS enqueues, or around one launch of ge (a graph of them). */
static float qk_time_events(qk_kernel *kq, qk_tune *t, int mode, cudaGraphExec_t ge,
                            void *stream)
{
    cudaStream_t cs = (cudaStream_t)stream;
    bool ok = cudaEventRecord(t->e0, cs) == cudaSuccess;
    if (ge) {
        ok = ok && cudaGraphLaunch(ge, cs) == cudaSuccess;
    } else {
        for (int rep = 0; rep < QK_TUNE_RUNS && ok; rep++) {
            ok = qk_enqueue_one(kq, t, mode, stream);
        }
    }
    float ms = -1.0f;
    ok = ok && cudaEventRecord(t->e1, cs) == cudaSuccess &&
         cudaEventSynchronize(t->e1) == cudaSuccess &&
         cudaEventElapsedTime(&ms, t->e0, t->e1) == cudaSuccess;
    if (!ok) {
        tq_clear_error();
        (void)cudaGetLastError();
        (void)cudaStreamSynchronize(cs);
        return -1.0f;
    }
    return ms;
}

/* Device time (ms) of QK_TUNE_RUNS runs on the tuning data, replayed from a captured CUDA graph
 * after one warm-up replay, as sessions run them: events around enqueues from the host measure
 * the host at batch 1, where a cuDNN plan's enqueue takes longer than its kernel, and picked
 * plans by their host cost (ResNet-50 INT8 batch 1 ran in 0.39 or 0.43 ms by the session).
 * Where capture fails, events around the enqueues. < 0: the run failed. */
static float qk_time_runs(qk_kernel *kq, qk_tune *t, int mode, void *stream)
{
    cudaStream_t cs = (cudaStream_t)stream;
    cudaGraph_t g = NULL;
    cudaGraphExec_t ge = NULL;
    if (cudaStreamBeginCapture(cs, cudaStreamCaptureModeThreadLocal) == cudaSuccess) {
        bool enq = true;
        for (int rep = 0; rep < QK_TUNE_RUNS && enq; rep++) {
            enq = qk_enqueue_one(kq, t, mode, stream);
        }
        if (cudaStreamEndCapture(cs, &g) != cudaSuccess || !enq || !g ||
            cudaGraphInstantiate(&ge, g, 0) != cudaSuccess ||
            cudaGraphLaunch(ge, cs) != cudaSuccess || cudaStreamSynchronize(cs) != cudaSuccess) {
            if (ge) {
                cudaGraphExecDestroy(ge);
                ge = NULL;
            }
            tq_clear_error();
            (void)cudaGetLastError();
            (void)cudaStreamSynchronize(cs);
        }
    } else {
        (void)cudaGetLastError();
    }
    const float ms = qk_time_events(kq, t, mode, ge, stream);
    if (ge) {
        cudaGraphExecDestroy(ge);
    }
    if (g) {
        cudaGraphDestroy(g);
    }
    return ms;
}

/* Run, check and time each candidate; ms stays < 0 for a plan that fails or disagrees.
 * check_only: a candidate that agrees gets ms 0, untimed (a plan from the plan cache). */
static void qk_tune_cands(qk_kernel *kq, qk_tune *t, qk_cand *cands, int32_t n_cands,
                          void *stream, bool check_only)
{
    cudaStream_t cs = (cudaStream_t)stream;
    for (int32_t i = 0; i < n_cands; i++) {
        kq->plan = cands[i].plan;
        if (kq->vpack) {
            cudnnBackendDestroyDescriptor(kq->vpack);
            kq->vpack = NULL;
        }
        if (cands[i].ws > 0) {
            cudaFree(t->ws);
            t->ws = NULL;
            if (cudaMalloc(&t->ws, (size_t)cands[i].ws) != cudaSuccess) {
                (void)cudaGetLastError();
                continue;
            }
        }
        if (cudaMemsetAsync(t->y, 0x55, t->y_bytes, cs) != cudaSuccess ||
            qk_conv_enqueue(kq, t->x, t->y, t->ws, stream) != TFMQ_OK ||
            cudaStreamSynchronize(cs) != cudaSuccess ||
            cudaMemcpy(t->h_y, t->y, t->y_bytes, cudaMemcpyDeviceToHost) != cudaSuccess) {
            tq_clear_error();
            (void)cudaGetLastError();
            (void)cudaStreamSynchronize(cs);
            continue;
        }
        size_t n1 = 0;
        bool bad = false;
        for (size_t e = 0; e < t->y_bytes && !bad; e++) {
            int d = (int)t->h_y[e] - (int)t->h_ref[e];
            bad = d > 1 || d < -1;
            n1 += d != 0;
        }
        if (bad || n1 * 100 > t->y_bytes) {
            continue; /* not the reference's arithmetic: never used */
        }
        if (check_only) {
            cands[i].ms = 0.0f;
            cands[i].n_diff1 = n1;
            continue;
        }
        const float ms = qk_time_runs(kq, t, QK_TIME_PLAN, stream);
        if (ms < 0.0f) {
            continue;
        }
        cands[i].ms = ms;
        cands[i].n_diff1 = n1;
    }
    if (kq->vpack) {
        cudnnBackendDestroyDescriptor(kq->vpack);
        kq->vpack = NULL;
    }
    kq->plan = NULL;
}

/* Time the direct kernel on the tuning data (ms of QK_TUNE_RUNS runs). */
static float qk_time_direct(qk_kernel *kq, qk_tune *t, void *stream)
{
    return qk_time_runs(kq, t, QK_TIME_DIRECT, stream);
}

/* The cuDNN float bias for a variant: bias_q (bias first) or bias_q * m (scale first). */
static tfmq_status qk_upload_cbias(qk_kernel *kq, const qk_params *q, bool bias_first)
{
    cudaFree(kq->d_cbias);
    kq->d_cbias = NULL;
    if (!q->bias) {
        return TFMQ_OK;
    }
    const size_t n = q->n_oc;
    float *h = tq_alloc(kq->base.alloc, n * sizeof(float));
    if (!h) {
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "node %s: %zu bytes", kq->label, n * sizeof(float));
    }
    for (size_t c = 0; c < n; c++) {
        h[c] = bias_first ? (float)q->bias[c] : (float)((double)q->bias[c] * (double)q->mult[c]);
    }
    tfmq_status st = qk_upload(kq, h, n * sizeof(float), (void **)&kq->d_cbias);
    tq_free(kq->base.alloc, h, n * sizeof(float));
    return st;
}

/* kq->impl of a cuDNN plan of variant v. */
static void qk_name_cudnn(qk_kernel *kq, const qk_variant *v, int64_t eng)
{
    kq->eng = eng;
    snprintf(kq->impl, sizeof(kq->impl), "cudnn:qconv%s%s%s:eng%lld",
             kq->has_bias ? (v->bias_first ? "+bias*m" : "*m+bias") : "*m",
             v->clamp ? "+clamp" : "", v->t1_float ? ":f32acc" : "", (long long)eng);
}

/* Try the cuDNN graph variants (the first verified one of each family, see below); keep the
 * fastest if it beats the direct kernel. On return kq->kind says which path runs; *chosen: the
 * plan kept (plan NULL for the direct kernel, ms then the direct kernel's). */
static tfmq_status qk_try_cudnn(qk_kernel *kq, const qk_params *q, void *stream, qk_cand *chosen)
{
    qk_tune t;
    memset(chosen, 0, sizeof(*chosen));
    chosen->eng = -1;
    chosen->ms = -1.0f;
    tfmq_status st = qk_tune_init(kq, &t, stream);
    if (st != TFMQ_OK) {
        qk_tune_free(kq, &t);
        return st;
    }
    const bool full = kq->y_lo == -128 && kq->y_hi == 127;
    qk_variant vars[8];
    int32_t n_vars = 0;
    for (int bf = 1; bf >= 0; bf--) {
        for (int tf = 0; tf <= 1; tf++) {
            vars[n_vars++] = (qk_variant){bf != 0, tf != 0, true};
            if (full) {
                vars[n_vars++] = (qk_variant){bf != 0, tf != 0, false};
            }
        }
    }
    const float direct_ms = qk_time_direct(kq, &t, stream);
    chosen->ms = direct_ms;
    tq_log(TFMQ_LOG_DEBUG, "cuda qconv %s: our kernel (%s): %.4f ms", kq->label, kq->impl,
           (double)direct_ms / QK_TUNE_RUNS);
    kq->kind = QK_CONV_CUDNN;
    /* The first variant with a verified plan in each family (bias added before the scale, the
     * exact order of the reference; and scale first, the form of cuDNN's fast int8 engines in
     * the probe), the faster of the two kept. */
    qk_cand win;
    qk_variant win_var = vars[0];
    memset(&win, 0, sizeof(win));
    win.ms = -1.0f;
    bool family_done[2] = {false, false};
    for (int32_t v = 0; v < n_vars; v++) {
        const int fam = vars[v].bias_first ? 1 : 0;
        if (family_done[fam] || (!kq->has_bias && !vars[v].bias_first)) {
            continue; /* without a bias both families are the same graph */
        }
        cudnnBackendDescriptor_t graph = NULL;
        qk_cand cands[QK_MAX_CANDIDATES];
        int32_t n_cands = 0, best = -1;
        if (qd_graph(kq, &vars[v], &graph) != CUDNN_STATUS_SUCCESS) {
            continue;
        }
        qd_find_plans(kq, graph, cands, &n_cands);
        if (!n_cands) {
            continue;
        }
        if ((st = qk_upload_cbias(kq, q, vars[v].bias_first)) != TFMQ_OK) {
            goto out;
        }
        kq->var = vars[v];
        qk_tune_cands(kq, &t, cands, n_cands, stream, false);
        for (int32_t i = 0; i < n_cands; i++) {
            if (cands[i].ms >= 0.0f && (best < 0 || cands[i].ms < cands[best].ms)) {
                best = i;
            }
        }
        for (int32_t i = 0; i < n_cands; i++) {
            if (i != best) {
                qd_drop(kq, cands[i].plan);
            }
        }
        if (best < 0) {
            continue;
        }
        family_done[fam] = true;
        tq_log(TFMQ_LOG_DEBUG, "cuda qconv %s: variant bf%d tf%d cl%d eng%lld: %.4f ms",
               kq->label, (int)vars[v].bias_first, (int)vars[v].t1_float, (int)vars[v].clamp,
               (long long)cands[best].eng, (double)cands[best].ms / QK_TUNE_RUNS);
        if (win.ms < 0.0f || cands[best].ms < win.ms) {
            if (win.plan) {
                qd_drop(kq, win.plan);
            }
            win = cands[best];
            win_var = vars[v];
        } else {
            qd_drop(kq, cands[best].plan);
        }
    }
    if (win.plan && (direct_ms < 0.0f || win.ms <= direct_ms)) {
        if ((st = qk_upload_cbias(kq, q, win_var.bias_first)) != TFMQ_OK) {
            qd_drop(kq, win.plan);
            goto out;
        }
        kq->var = win_var;
        kq->plan = win.plan;
        kq->base.workspace_bytes = (size_t)win.ws;
        qk_name_cudnn(kq, &win_var, win.eng);
        *chosen = win;
        goto out;
    }
    if (win.plan) {
        qd_drop(kq, win.plan); /* verified, but our kernel is faster */
    }
    kq->kind = QK_CONV_DIRECT;
    cudaFree(kq->d_cbias);
    kq->d_cbias = NULL;
out:
    if (st == TFMQ_OK) {
        tq_clear_error(); /* cuDNN refusals above are not errors of this node */
    }
    qk_tune_free(kq, &t);
    return st;
}

static bool qk_key(const qk_kernel *kq, char *key, size_t cap);

/* The QAdd offered with the node (kq->add, from qk_fused_add): fused into the pointwise kernel
 * where that is faster on random data than the path kq->kind chose (a cuDNN plan or our
 * kernel) followed by the separate QAdd kernel, both timed as replayed CUDA graphs. With a
 * plan cache the verdict is kept under the convolution's key + ":add" + the QAdd's arithmetic
 * and signedness (path "fused" or "apart"), so that a warm session times nothing here.
 * TFMQ_CUDA_QCONV_FUSE_ADD=1 fuses without timing (=0: never; qk_prepare_conv). */
static tfmq_status qk_decide_fusion(qk_kernel *kq, const tq_cuda_prep *p)
{
    const char *env = getenv("TFMQ_CUDA_QCONV_FUSE_ADD");
    const bool forced = env && strcmp(env, "1") == 0;
    float sep_ms = -1.0f, fused_ms = 0.0f;
    char key[TQ_PC_MAX_KEY];
    size_t kn = 0;
    const bool keyed = p->plan_cache && qk_key(kq, key, sizeof(key)) &&
                       (kn = strlen(key)) + 32 < sizeof(key);
    if (keyed) {
        snprintf(key + kn, sizeof(key) - kn, ":add:f%d:a%d:b%d", (int)kq->add.form,
                 (int)kq->add.a_signed, (int)kq->add.b_signed);
    }
    const tq_pc_choice *c = keyed ? tq_plan_cache_find(p->plan_cache, key) : NULL;
    const bool cached = c && (strcmp(c->path, "fused") == 0 || strcmp(c->path, "apart") == 0);
    if (forced) {
        /* fused, untimed */
    } else if (cached) {
        tq_plan_cache_count(p->plan_cache, true);
        fused_ms = strcmp(c->path, "fused") == 0 ? 0.0f : -1.0f;
    } else {
        qk_tune t;
        tfmq_status st = qk_tune_init(kq, &t, p->dev->stream);
        if (st == TFMQ_OK && kq->base.workspace_bytes) {
            st = qk_cuda_err(kq, "cudaMalloc (tuning)", cudaMalloc(&t.ws, kq->base.workspace_bytes));
        }
        if (st == TFMQ_OK) {
            st = qk_cuda_err(kq, "cudaMalloc (tuning)", cudaMalloc(&t.y2, t.y_bytes + 1));
        }
        if (st != TFMQ_OK) { /* no room to time it (a large batch): apart, as before */
            tq_log(TFMQ_LOG_DEBUG, "cuda qconv %s: QAdd not fused: %s", kq->label,
                   tfmq_last_error());
            tq_clear_error();
            (void)cudaGetLastError();
            qk_tune_free(kq, &t);
            return TFMQ_OK;
        }
        sep_ms = qk_time_runs(kq, &t, QK_TIME_CONV_ADD, p->dev->stream);
        fused_ms = qk_time_runs(kq, &t, QK_TIME_PW_ADD, p->dev->stream);
        qk_tune_free(kq, &t);
        tq_clear_error();
        tq_log(TFMQ_LOG_DEBUG, "cuda qconv %s: with its QAdd %.4f ms fused, %.4f ms apart (%s)",
               kq->label, (double)fused_ms / QK_TUNE_RUNS, (double)sep_ms / QK_TUNE_RUNS,
               kq->impl);
    }
    const bool fuse = fused_ms >= 0.0f && (sep_ms < 0.0f || fused_ms < sep_ms);
    if (keyed && !cached && !forced) {
        tq_pc_choice rec;
        memset(&rec, 0, sizeof(rec));
        snprintf(rec.path, sizeof(rec.path), "%s", fuse ? "fused" : "apart");
        rec.engine = -1;
        const float ms = fuse ? fused_ms : sep_ms;
        rec.ms = ms > 0.0f ? (double)ms / QK_TUNE_RUNS : 0.0;
        tq_plan_cache_count(p->plan_cache, false);
        if (tq_plan_cache_put(p->plan_cache, key, &rec) != TFMQ_OK) {
            tq_log(TFMQ_LOG_DEBUG, "cuda qconv %s: plan cache: %s", kq->label, tfmq_last_error());
            tq_clear_error();
        }
    }
    if (!fuse) {
        return TFMQ_OK; /* apart: the exec plans the QAdd as its own node */
    }
    kq->kind = QK_CONV_PW_ADD;
    kq->base.fused_add = true;
    kq->base.workspace_bytes = 0;
    snprintf(kq->impl, sizeof(kq->impl), "cuda:qconv_pw+qadd%s",
             kq->add.use_i                           ? "_int"
             : kq->add.form == TQ_QK_ADD_F32         ? "_f32"
             : kq->add.form == TQ_QK_ADD_F32_CHECKED ? "_f32_checked"
                                                     : "");
    return TFMQ_OK;
}

/* ---- plan cache (plan_cache.h) ---- */
#define QK_PATH_DIRECT "direct"

/* The plan cache's name of a graph variant ("cudnn:bf1:tf0:cl1"), and back. */
static void qk_variant_name(const qk_variant *v, char *buf, size_t cap)
{
    snprintf(buf, cap, "cudnn:bf%d:tf%d:cl%d", (int)v->bias_first, (int)v->t1_float,
             (int)v->clamp);
}

static bool qk_variant_parse(const char *name, qk_variant *v)
{
    for (int bits = 0; bits < 8; bits++) {
        const qk_variant c = {(bits & 1) != 0, (bits & 2) != 0, (bits & 4) != 0};
        char buf[TQ_PC_MAX_PATH];
        qk_variant_name(&c, buf, sizeof(buf));
        if (strcmp(buf, name) == 0) {
            *v = c;
            return true;
        }
    }
    return false;
}

/* The plan cache key of a QConv that cuDNN may take (qk_prepare_conv's conditions hold: int8 x
 * and y, zero points 0, groups 1): its geometry, bias, output bounds (which graph variants
 * exist) and whether the direct kernel it competes with is the tiled one. */
static bool qk_key(const qk_kernel *kq, char *key, size_t cap)
{
    const tq_qk_conv *g = &kq->conv;
    const int n = snprintf(
        key, cap,
        "qconv:s8:n%lld:c%lld:h%lld:w%lld:k%lld:r%lld:s%lld:g1:st%lldx%lld:dl%lldx%lld:"
        "pb%lldx%lld:o%lldx%lld:bias%d:y%d..%d:tiled%d%s",
        (long long)g->n, (long long)g->c, (long long)g->h, (long long)g->w, (long long)g->k,
        (long long)g->r, (long long)g->s, (long long)g->stride_h, (long long)g->stride_w,
        (long long)g->dil_h, (long long)g->dil_w, (long long)g->pad_t, (long long)g->pad_l,
        (long long)g->oh, (long long)g->ow, (int)kq->has_bias, (int)kq->y_lo, (int)kq->y_hi,
        (int)g->tiled.on, g->pw ? ":pw" : "");
    return n > 0 && (size_t)n < cap && tq_plan_cache_key_ok(key);
}

/* Record what qk_try_cudnn chose for key (a cuDNN plan whose engine or knob choices are
 * unknown is not recorded). */
static void qk_record(const qk_kernel *kq, tq_plan_cache *pc, const char *key,
                      const qk_cand *chosen)
{
    const bool cudnn = kq->kind == QK_CONV_CUDNN;
    tq_pc_choice c;
    memset(&c, 0, sizeof(c));
    if (cudnn) {
        qk_variant_name(&kq->var, c.path, sizeof(c.path));
    } else {
        snprintf(c.path, sizeof(c.path), QK_PATH_DIRECT);
    }
    c.engine = cudnn ? chosen->eng : -1;
    c.ws_bytes = cudnn ? chosen->ws : 0;
    c.ms = chosen->ms >= 0.0f ? (double)chosen->ms / QK_TUNE_RUNS : 0.0;
    if (cudnn && (c.engine < 0 || !tq_cudnn_cfg_knobs(chosen->cfg, &c))) {
        tq_log(TFMQ_LOG_DEBUG, "cuda qconv %s: plan cache: engine or knobs unknown, not cached",
               kq->label);
        return;
    }
    if (tq_plan_cache_put(pc, key, &c) != TFMQ_OK) {
        tq_log(TFMQ_LOG_DEBUG, "cuda qconv %s: plan cache: %s", kq->label, tfmq_last_error());
        tq_clear_error();
    }
}

/* The cached cuDNN plan rebuilt (engine by global index and knob choices, no heuristics); not
 * checked again against the direct kernel unless TFMQ_CUDA_PLAN_CACHE_CHECK=1 (see below).
 * *cand: the plan, NULL when it cannot be built or disagrees (kq then on the direct kernel). */
static tfmq_status qk_cached_plan(qk_kernel *kq, const qk_params *q, const tq_cuda_prep *p,
                                  const tq_pc_choice *c, const qk_variant *var, qk_cand *cand)
{
    const tq_cudnn_owner own = {kq->descs, &kq->n_descs, QK_MAX_DESCS};
    cudnnBackendDescriptor_t graph = NULL;
    qk_tune t;
    memset(&t, 0, sizeof(t));
    memset(cand, 0, sizeof(*cand));
    cand->ms = -1.0f;
    cand->eng = c->engine;
    const double t0 = tq_now_s();
    const bool graph_ok = qd_graph(kq, var, &graph) == CUDNN_STATUS_SUCCESS;
    const double t1 = tq_now_s();
    const bool plan_ok = graph_ok &&
                         tq_cudnn_plan_from_choice(&own, kq->handle, graph, c, QK_MAX_WS,
                                                   &cand->cfg, &cand->plan,
                                                   &cand->ws) == CUDNN_STATUS_SUCCESS;
    kq->ms_graph = 1e3 * (t1 - t0);
    kq->ms_plan = 1e3 * (tq_now_s() - t1);
    if (!plan_ok) {
        cand->plan = NULL;
        return TFMQ_OK;
    }
    tfmq_status st = qk_upload_cbias(kq, q, var->bias_first);
    kq->var = *var;
    kq->kind = QK_CONV_CUDNN;
    cand->ms = 0.0f;
    /* The check against our exact kernel ran when the choice was recorded, on the GPU, compute
     * capability and cuDNN of the file's header; what it checks (cuDNN's float epilogue rounds
     * within one unit of the exact requantization) is the engine's arithmetic, not this node's
     * scales, so a hit is trusted: checking again cost ~200 ms a node (12 of the 13 s of a warm
     * ResNet-50 INT8 load at batch 256). TFMQ_CUDA_PLAN_CACHE_CHECK=1 checks anyway. */
    const char *chk = getenv("TFMQ_CUDA_PLAN_CACHE_CHECK");
    if (st == TFMQ_OK && chk && strcmp(chk, "1") == 0) {
        cand->ms = -1.0f;
        st = qk_tune_init(kq, &t, p->dev->stream);
        if (st == TFMQ_OK) {
            qk_tune_cands(kq, &t, cand, 1, p->dev->stream, true);
        }
    }
    qk_tune_free(kq, &t);
    if (st != TFMQ_OK || cand->ms < 0.0f) {
        qd_drop(kq, cand->plan);
        cand->plan = NULL;
        kq->kind = QK_CONV_DIRECT;
        cudaFree(kq->d_cbias);
        kq->d_cbias = NULL;
    }
    return st;
}

/* The plan of key from cuDNN's JSON kept beside the plan cache (plan_cache.h): no graph, no
 * engine config, no compilation (~1 ms against ~40 ms for ResNet-50's INT8 plans). *cand: the
 * plan, NULL when none is kept or cuDNN refuses it. */
static tfmq_status qk_json_plan(qk_kernel *kq, const qk_params *q, const tq_cuda_prep *p,
                                const char *key, const qk_variant *var, qk_cand *cand)
{
    const tq_cudnn_owner own = {kq->descs, &kq->n_descs, QK_MAX_DESCS};
    memset(cand, 0, sizeof(*cand));
    cand->ms = -1.0f;
    const double t0 = tq_now_s();
    tfmq_status st = tq_cudnn_plan_load_kept(&own, kq->handle, p->plan_cache, key, p->alloc,
                                             QK_MAX_WS, kq->label, &cand->plan, &cand->ws);
    if (st != TFMQ_OK || !cand->plan) {
        return st;
    }
    kq->ms_graph = 0.0;
    kq->ms_plan = 1e3 * (tq_now_s() - t0);
    if ((st = qk_upload_cbias(kq, q, var->bias_first)) != TFMQ_OK) {
        qd_drop(kq, cand->plan);
        cand->plan = NULL;
        return st;
    }
    kq->var = *var;
    kq->kind = QK_CONV_CUDNN;
    kq->from_json = true;
    cand->ms = 0.0f;
    return TFMQ_OK;
}

/* Keep kq's cuDNN plan beside the plan cache (not one that came from there). */
static void qk_store_json(const qk_kernel *kq, const tq_cuda_prep *p, const char *key)
{
    if (kq->kind == QK_CONV_CUDNN && !kq->from_json) {
        tq_cudnn_plan_keep(p->plan_cache, key, kq->plan, p->alloc);
    }
}

/* Plan the node from the cache entry for key when there is one: the direct kernel as recorded,
 * or the recorded cuDNN plan rebuilt and checked. *used false (status OK): no entry, or its plan
 * cannot be built or disagrees here (a warning says so); the caller autotunes. */
static tfmq_status qk_from_cache(qk_kernel *kq, const qk_params *q, const tq_cuda_prep *p,
                                 const char *key, bool *used)
{
    const tq_pc_choice *c = tq_plan_cache_find(p->plan_cache, key);
    const bool full = kq->y_lo == -128 && kq->y_hi == 127;
    qk_variant var;
    qk_cand cand;
    *used = false;
    if (!c) {
        return TFMQ_OK;
    }
    if (strcmp(c->path, QK_PATH_DIRECT) == 0) {
        kq->kind = QK_CONV_DIRECT;
        *used = true;
        return TFMQ_OK;
    }
    cand.plan = NULL;
    if (qk_variant_parse(c->path, &var) && c->engine >= 0 && (kq->has_bias || var.bias_first) &&
        (full || var.clamp)) {
        /* cuDNN's serialized plan when one is kept (not with TFMQ_CUDA_PLAN_CACHE_CHECK=1,
         * which checks a rebuilt plan), else rebuilt from the engine and knob choices */
        const char *chk = getenv("TFMQ_CUDA_PLAN_CACHE_CHECK");
        tfmq_status st = TFMQ_OK;
        cand.plan = NULL;
        if (!(chk && strcmp(chk, "1") == 0)) {
            st = qk_json_plan(kq, q, p, key, &var, &cand);
        }
        if (st == TFMQ_OK && !cand.plan) {
            st = qk_cached_plan(kq, q, p, c, &var, &cand);
        }
        if (st != TFMQ_OK) {
            return st;
        }
    }
    tq_clear_error();
    if (!cand.plan) {
        tq_log(TFMQ_LOG_WARN, "cuda qconv %s: the plan cache's choice (%s eng%lld) cannot be "
               "built or does not match our kernel here; autotuning", kq->label, c->path,
               (long long)c->engine);
        return TFMQ_OK;
    }
    kq->plan = cand.plan;
    kq->base.workspace_bytes = (size_t)cand.ws;
    qk_name_cudnn(kq, &var, c->engine);
    *used = true;
    tq_log(TFMQ_LOG_DEBUG, "cuda qconv %s: plan cache: %s eng%lld (graph %.2f ms, plan %.2f "
           "ms%s)", kq->label, c->path, (long long)c->engine, kq->ms_graph, kq->ms_plan,
           kq->from_json ? " from JSON" : "");
    return TFMQ_OK;
}

/* Offer kq's cuDNN plan to later nodes with the same key (key NULL: none). The kernel is
 * returned to the exec by its caller on every path after this (nothing can fail later), so the
 * plan lives as long as the nodes that borrow it. */
static void qk_share(const qk_kernel *kq, const tq_cuda_prep *p, const char *key)
{
    if (key && kq->kind == QK_CONV_CUDNN && kq->plan) {
        char path[TQ_PC_MAX_PATH];
        qk_variant_name(&kq->var, path, sizeof(path));
        tq_pc_share_add(p->share, key, path, kq->eng, (int64_t)kq->base.workspace_bytes,
                        kq->plan);
    }
}

/* cuDNN or our kernel for a QConv cuDNN may take: the plan cache's choice when it holds one
 * that still builds and checks, else autotuning (qk_try_cudnn), whose choice is recorded. */
static tfmq_status qk_choose(qk_kernel *kq, const qk_params *q, const tq_cuda_prep *p)
{
    char key[TQ_PC_MAX_KEY];
    const bool keyed = (p->plan_cache || p->share) && qk_key(kq, key, sizeof(key));
    const bool cached = keyed && p->plan_cache;
    tfmq_status st;
    /* an earlier node of this exec with the same key built the plan: borrow it (plan_cache.h);
     * the scales and bias are this node's own, in its variant pack */
    const tq_pc_shared *sh = keyed ? tq_pc_share_find(p->share, key) : NULL;
    qk_variant var;
    if (sh && qk_variant_parse(sh->path, &var)) {
        if ((st = qk_upload_cbias(kq, q, var.bias_first)) != TFMQ_OK) {
            return st;
        }
        kq->var = var;
        kq->kind = QK_CONV_CUDNN;
        kq->plan = sh->plan;
        kq->base.workspace_bytes = (size_t)sh->ws_bytes;
        qk_name_cudnn(kq, &var, sh->engine);
        return TFMQ_OK;
    }
    if (cached) {
        bool used = false;
        if ((st = qk_from_cache(kq, q, p, key, &used)) != TFMQ_OK) {
            return st;
        }
        tq_plan_cache_count(p->plan_cache, used);
        if (used) {
            qk_store_json(kq, p, key);
            qk_share(kq, p, keyed ? key : NULL);
            return TFMQ_OK;
        }
    }
    qk_cand chosen;
    /* The wide search where its cost is paid once: with a plan cache, whose file then keeps
     * the choice (ResNet-50 INT8 batch 256 on an H200: 6.1 ms instead of 8.7, at about 90 s of
     * autotuning instead of 19 s); TFMQ_CUDA_QCONV_WIDE=1 / =0 forces it on / off. */
    const char *wide_env = getenv("TFMQ_CUDA_QCONV_WIDE");
    kq->wide = wide_env && *wide_env ? strcmp(wide_env, "0") != 0 : p->plan_cache != NULL;
    if ((st = qk_try_cudnn(kq, q, p->dev->stream, &chosen)) != TFMQ_OK) {
        return st;
    }
    if (cached) {
        qk_record(kq, p->plan_cache, key, &chosen);
        qk_store_json(kq, p, key);
    }
    qk_share(kq, p, keyed ? key : NULL);
    return TFMQ_OK;
}

/* ---- QConv ---- */
static tfmq_status qk_fused_add(const tq_cuda_prep *p, const tq_tensor *conv_y, tq_qk_add *e,
                                bool *ok);

static tfmq_status qk_prepare_conv(const tq_cuda_prep *p, tq_cuda_kernel **k_out)
{
    const tq_op_ctx *ctx = p->ctx;
    const tq_tensor *x = ctx->in[TQ_QL_X], *w = ctx->in[TQ_QL_W], *y = ctx->out[0];
    if (!x || !w || !w->data || w->dtype != TFMQ_DTYPE_INT8 || x->rank != 4 || w->rank != 4 ||
        y->rank != 4 || x->data || !tq_tensor_shape_known(x) || !tq_tensor_shape_known(y) ||
        p->in_layout[TQ_QL_X] != TQ_LAYOUT_NHWC || p->out_layout[0] != TQ_LAYOUT_NHWC) {
        return TFMQ_OK;
    }
    tq_op_ctx c2 = *ctx;
    c2.in[1] = w;
    c2.in[2] = NULL;
    tq_rc_spatial sp;
    tfmq_status st = tq_rc_spatial_init(&c2, TQ_RC_SP_CONV, &sp);
    if (st != TFMQ_OK) {
        return st;
    }
    if (sp.n_sp != 2) {
        return TFMQ_OK;
    }
    tq_qk_conv g;
    memset(&g, 0, sizeof(g));
    g.n = x->dims[0];
    g.c = x->dims[1];
    g.h = x->dims[2];
    g.w = x->dims[3];
    g.k = sp.out_channels;
    g.oh = sp.out[0];
    g.ow = sp.out[1];
    g.r = sp.k[0];
    g.s = sp.k[1];
    g.stride_h = sp.stride[0];
    g.stride_w = sp.stride[1];
    g.dil_h = sp.dil[0];
    g.dil_w = sp.dil[1];
    g.pad_t = sp.pad_b[0];
    g.pad_l = sp.pad_b[1];
    const int64_t G = sp.group;
    if (G <= 0 || g.c % G != 0 || g.k % G != 0 || w->dims[0] != g.k || w->dims[1] * G != g.c ||
        w->dims[2] != g.r || w->dims[3] != g.s || y->dims[0] != g.n || y->dims[1] != g.k ||
        y->dims[2] != g.oh || y->dims[3] != g.ow || g.n <= 0 || g.oh <= 0 || g.ow <= 0) {
        return TFMQ_OK;
    }
    g.cg = g.c / G;
    g.mg = g.k / G;
    qk_params q;
    bool ok;
    if ((st = qk_params_load(p, g.k, &q, &ok)) != TFMQ_OK || !ok) {
        return st;
    }
    qk_kernel *kq = NULL;
    int8_t *hw = NULL;
    const size_t n_w = (size_t)(g.k * g.cg * g.r * g.s);
    TQ_TRY(st, qk_new(p, QK_CONV_DIRECT, &kq));
    kq->base.own_consts = 0;
    for (int32_t i = 1; i < ctx->n_in; i++) {
        if (ctx->in[i]) {
            kq->base.own_consts |= 1u << i;
        }
    }
    /* weights [K, Cg, R, S] -> KRSC */
    hw = tq_alloc(p->alloc, n_w ? n_w : 1);
    if (!hw) {
        st = tq_op_fail(ctx, TFMQ_ERR_OUT_OF_MEMORY, "%zu bytes", n_w);
        goto fail;
    }
    {
        const int8_t *wd = w->data;
        for (int64_t k = 0; k < g.k; k++) {
            for (int64_t c = 0; c < g.cg; c++) {
                for (int64_t r = 0; r < g.r; r++) {
                    for (int64_t s = 0; s < g.s; s++) {
                        hw[((k * g.r + r) * g.s + s) * g.cg + c] =
                            wd[((k * g.cg + c) * g.r + r) * g.s + s];
                    }
                }
            }
        }
    }
    TQ_TRY(st, qk_upload(kq, hw, n_w, &kq->d_w));
    TQ_TRY(st, qk_upload_params(kq, &q, &g.o));
    g.x_signed = q.x_signed;
    g.x_zp = q.x_zp;
    g.wt = kq->d_w;
    g.w_zp = kq->d_wzp;
    g.fast = q.x_signed && q.x_zp == 0 && !q.wzp && g.cg * g.r * g.s <= 65536;
    if (G == 1 && g.fast && g.c <= 4 && !getenv("TFMQ_CUDA_QCONV_UNTILED")) {
        (void)tq_qk_conv_tiled_setup(&g); /* 0: the shape or the device does not suit it */
    }
    bool bias30 = true; /* the pointwise kernel adds the bias in int32 */
    for (size_t c = 0; q.bias && c < q.n_oc; c++) {
        bias30 = bias30 && q.bias[c] < (1 << 30) && q.bias[c] > -(1 << 30);
    }
    if (G == 1 && g.fast && !g.tiled.on && bias30) {
        /* 0: not a 1x1 shape it takes, or below sm_80 */
        (void)tq_qk_conv_pw_setup(&g, q.mult, q.bias);
        const int64_t miss = g.pw && !g.pw_nt ? tq_qk_conv_pw_hi_miss(&g, q.mult, q.bias) : -1;
        if (miss >= 0) {
            tq_log(TFMQ_LOG_DEBUG,
                   "cuda qconv %s: the pointwise kernel's requantisation without the high-word "
                   "form (channel %lld: multiplier %.9g, bias %d)",
                   kq->label, (long long)miss, (double)q.mult[miss],
                   q.bias ? (int)q.bias[miss] : 0);
        }
    }
    kq->conv = g;
    bool fuse = false; /* the QAdd offered fits the pointwise kernel (kq->add) */
    if (g.pw && p->add && !qk_env_off("TFMQ_CUDA_QCONV_FUSE_ADD")) {
        TQ_TRY(st, qk_fused_add(p, y, &kq->add, &fuse));
    }
    if (g.tiled.on) {
        snprintf(kq->impl, sizeof(kq->impl), "%s",
                 g.tiled.mma ? "cuda:qconv_stem_mma" : "cuda:qconv_stem_tiled");
    } else if (g.pw) {
        snprintf(kq->impl, sizeof(kq->impl), "cuda:qconv_pw");
    } else {
        snprintf(kq->impl, sizeof(kq->impl), "cuda:qconv_%s%s",
                 g.cg == 1 ? "depthwise" : (G > 1 ? "grouped" : "direct"), g.fast ? "" : "_zp");
    }
    /* cuDNN: int8 in and out, symmetric, groups 1, channel counts the int8 engines take */
    bool exact_bias = true;
    for (size_t c = 0; q.bias && c < q.n_oc; c++) {
        exact_bias = exact_bias && q.bias[c] < (1 << 24) && q.bias[c] > -(1 << 24);
    }
    if (G == 1 && g.fast && q.y_signed && q.y_zp == 0 && g.c % 4 == 0 && g.k % 4 == 0 &&
        exact_bias && !getenv("TFMQ_CUDA_QCONV_DIRECT")) {
        TQ_TRY(st, qk_choose(kq, &q, p));
    }
    if (fuse) {
        TQ_TRY(st, qk_decide_fusion(kq, p));
    }
    tq_free(p->alloc, hw, n_w ? n_w : 1);
    qk_params_free(p->alloc, &q);
    *k_out = &kq->base;
    return TFMQ_OK;
fail:
    tq_free(p->alloc, hw, n_w ? n_w : 1);
    qk_params_free(p->alloc, &q);
    qk_destroy(kq ? &kq->base : NULL);
    return st;
}

/* ---- QGemm ---- */
static tfmq_status qk_prepare_gemm(const tq_cuda_prep *p, tq_cuda_kernel **k_out)
{
    const tq_op_ctx *ctx = p->ctx;
    const tq_tensor *x = ctx->in[TQ_QL_X], *w = ctx->in[TQ_QL_W], *y = ctx->out[0];
    if (!x || !w || !w->data || x->data || w->dtype != TFMQ_DTYPE_INT8 || w->rank != 2 ||
        x->rank < 1 || !tq_tensor_shape_known(x) || !tq_tensor_shape_known(y) ||
        x->dims[x->rank - 1] != w->dims[1] || y->rank != x->rank ||
        y->dims[y->rank - 1] != w->dims[0] || w->dims[1] > 65536 || w->dims[1] <= 0) {
        return TFMQ_OK;
    }
    if (x->rank == 4 && p->in_layout[TQ_QL_X] == TQ_LAYOUT_NHWC && x->dims[1] > 1 &&
        x->dims[2] * x->dims[3] > 1) {
        return TFMQ_OK; /* rows must be row-major */
    }
    const int64_t N = w->dims[0], K = w->dims[1];
    qk_params q;
    bool ok;
    tfmq_status st = qk_params_load(p, N, &q, &ok);
    if (st != TFMQ_OK || !ok) {
        return st;
    }
    qk_kernel *kq = NULL;
    TQ_TRY(st, qk_new(p, QK_GEMM, &kq));
    for (int32_t i = 1; i < ctx->n_in; i++) {
        if (ctx->in[i]) {
            kq->base.own_consts |= 1u << i;
        }
    }
    TQ_TRY(st, qk_upload(kq, w->data, (size_t)(N * K), &kq->d_w));
    TQ_TRY(st, qk_upload_params(kq, &q, &kq->gemm.o));
    kq->gemm.m = (int64_t)(tq_tensor_numel(x) / (size_t)K);
    kq->gemm.n_out = N;
    kq->gemm.kk = K;
    kq->gemm.x_signed = q.x_signed;
    kq->gemm.x_zp = q.x_zp;
    kq->gemm.w = kq->d_w;
    kq->gemm.w_zp = kq->d_wzp;
    snprintf(kq->impl, sizeof(kq->impl), "cuda:qgemm%s",
             q.x_signed && q.x_zp == 0 && !q.wzp && K % 4 == 0 ? "_dp4a" : "");
    qk_params_free(p->alloc, &q);
    *k_out = &kq->base;
    return TFMQ_OK;
fail:
    qk_params_free(p->alloc, &q);
    qk_destroy(kq ? &kq->base : NULL);
    return st;
}

/* ---- QAdd ---- */
static bool qk_in_nhwc(const tq_cuda_prep *p, int32_t k)
{
    const tq_tensor *t = p->ctx->in[k];
    return t && t->rank == 4 && !t->data && p->in_layout[k] == TQ_LAYOUT_NHWC;
}

/* Strides of a and b in y's memory order, unit dims dropped and neighbours merged. */
static bool qk_add_geometry(const tq_cuda_prep *p, tq_qk_add *e)
{
    const tq_op_ctx *ctx = p->ctx;
    const tq_tensor *y = ctx->out[0];
    const int32_t r = y->rank, ops[2] = {0, 3};
    static const int32_t p_nhwc[4] = {0, 2, 3, 1};
    const bool y_nhwc = r == 4 && p->out_layout[0] == TQ_LAYOUT_NHWC;
    int64_t md[TQ_QK_MAX_RANK], ms[2][TQ_QK_MAX_RANK];
    int32_t perm[TQ_QK_MAX_RANK];
    if (r < 0 || r > TQ_QK_MAX_RANK) {
        return false;
    }
    for (int32_t m = 0; m < r; m++) {
        perm[m] = y_nhwc ? p_nhwc[m] : m;
        md[m] = y->dims[perm[m]];
    }
    for (int32_t k = 0; k < 2; k++) {
        const tq_tensor *t = ctx->in[ops[k]];
        int64_t own[TQ_QK_MAX_RANK], lg[TQ_QK_MAX_RANK];
        if (!tq_tensor_shape_known(t) || t->rank > r) {
            return false;
        }
        if (qk_in_nhwc(p, ops[k])) {
            own[0] = t->dims[1] * t->dims[2] * t->dims[3];
            own[1] = 1;
            own[2] = t->dims[3] * t->dims[1];
            own[3] = t->dims[1];
        } else {
            int64_t s = 1;
            for (int32_t d = t->rank - 1; d >= 0; d--) {
                own[d] = s;
                s *= t->dims[d];
            }
        }
        for (int32_t d = 0; d < r; d++) {
            const int32_t td = d - (r - t->rank);
            if (td < 0) {
                lg[d] = 0;
                continue;
            }
            if (t->dims[td] != y->dims[d] && t->dims[td] != 1) {
                return false;
            }
            lg[d] = t->dims[td] == 1 ? 0 : own[td];
        }
        for (int32_t m = 0; m < r; m++) {
            ms[k][m] = lg[perm[m]];
        }
    }
    int32_t q = 0;
    for (int32_t m = 0; m < r; m++) {
        if (md[m] == 1) {
            continue;
        }
        if (q > 0 && e->stride_a[q - 1] == ms[0][m] * md[m] &&
            e->stride_b[q - 1] == ms[1][m] * md[m]) {
            e->dims[q - 1] *= md[m];
            e->stride_a[q - 1] = ms[0][m];
            e->stride_b[q - 1] = ms[1][m];
        } else {
            e->dims[q] = md[m];
            e->stride_a[q] = ms[0][m];
            e->stride_b[q] = ms[1][m];
            q++;
        }
    }
    if (q == 0) {
        e->dims[0] = 1;
        e->stride_a[0] = 0;
        e->stride_b[0] = 0;
        q = 1;
    }
    e->rank = q;
    e->n = (int64_t)tq_tensor_numel(y);
    return true;
}

/* The division-free float arithmetic for e when one equals QAdd's definition on every byte pair
 * (tq_ql_add_form_plan, shared with the CPU's vector kernels); else e keeps the definition.
 * fused: the QAdd is offered to the pointwise kernel, whose epilogue also takes the integer
 * form (searched only then: the separate kernel has no use for it). */
static void qk_add_form(tq_qk_add *e, tfmq_dtype ydt, bool fused)
{
    tq_ql_add_form f;
    memset(&f, 0, sizeof(f));
    f.a_s8 = e->a_signed != 0;
    f.b_s8 = e->b_signed != 0;
    f.y_s8 = ydt == TFMQ_DTYPE_INT8;
    f.a_zp = e->a_zp;
    f.b_zp = e->b_zp;
    f.y_zp = e->y_zp;
    f.lo = e->lo;
    f.hi = e->hi;
    f.a_scale = e->as;
    f.b_scale = e->bs;
    f.y_scale = e->ys;
    f.want_i = fused && !qk_env_off("TFMQ_CUDA_QADD_INT");
    tq_ql_add_form_plan(&f);
    e->use_dm = f.use_dm;
    e->dka = f.dka;
    e->dkb = f.dkb;
    e->dc0 = f.dc0;
    e->use_i = f.use_i;
    e->ia = f.ia;
    e->ib = f.ib;
    e->ic = f.ic;
    e->ish = f.ish;
    if (!f.use_f && !f.use_fh) {
        return;
    }
    e->form = f.use_f ? TQ_QK_ADD_F32 : TQ_QK_ADD_F32_CHECKED;
    e->ka = f.ka;
    e->kb = f.kb;
    e->c0 = f.c0;
    e->vlo = f.vlo;
    e->vhi = f.vhi;
    e->fyz = f.fyz;
    e->fh_tie = f.fh_tie;
}

/* The scalar parameters of QAdd node ctx (scales, zero points, output bounds: every input but
 * the operands 0 and 3 constant) into e; *ok false where the node is not ours (not int8/uint8,
 * a non-constant parameter). */
static tfmq_status qk_add_params(const tq_op_ctx *ctx, tq_qk_add *e, tfmq_dtype *ydt, bool *ok)
{
    const tq_tensor *y = ctx->out[0];
    *ok = false;
    tfmq_status st = tq_ql_check_add(ctx, ydt);
    if (st != TFMQ_OK) {
        return st;
    }
    if (*ydt != y->dtype || !qk_is_q8(*ydt) || !tq_tensor_shape_known(y)) {
        return TFMQ_OK;
    }
    for (int32_t i = 1; i < ctx->n_in; i++) {
        if (i != 3 && ctx->in[i] && !ctx->in[i]->data) {
            return TFMQ_OK;
        }
    }
    const float ysf = *(const float *)ctx->in[6]->data;
    if (!(ysf > 0.0f) || !isfinite(ysf)) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "y_scale must be finite and > 0");
    }
    e->as = (double)*(const float *)ctx->in[1]->data;
    e->bs = (double)*(const float *)ctx->in[4]->data;
    e->ys = (double)ysf;
    e->a_signed = ctx->in[0]->dtype == TFMQ_DTYPE_INT8;
    e->b_signed = ctx->in[3]->dtype == TFMQ_DTYPE_INT8;
    e->y_signed = *ydt == TFMQ_DTYPE_INT8;
    e->a_zp = ctx->in[2] ? qk_load_q8(ctx->in[2]->dtype, ctx->in[2]->data, 0) : 0;
    e->b_zp = ctx->in[5] ? qk_load_q8(ctx->in[5]->dtype, ctx->in[5]->data, 0) : 0;
    e->y_zp = ctx->in[7] ? qk_load_q8(ctx->in[7]->dtype, ctx->in[7]->data, 0) : 0;
    if ((st = tq_ql_bounds(ctx, *ydt, ysf, e->y_zp, &e->lo, &e->hi)) != TFMQ_OK) {
        return st;
    }
    *ok = true;
    return TFMQ_OK;
}

static tfmq_status qk_prepare_add(const tq_cuda_prep *p, tq_cuda_kernel **k_out)
{
    const tq_op_ctx *ctx = p->ctx;
    tfmq_dtype ydt;
    tq_qk_add e;
    bool ok;
    memset(&e, 0, sizeof(e));
    tfmq_status st = qk_add_params(ctx, &e, &ydt, &ok);
    /* a rank-4 output in NHWC needs every rank-4 activation in NHWC, and no constant rank-4
     * operand that is not broadcast along C or HW (constants are NCHW) */
    if (st != TFMQ_OK || !ok || !qk_add_geometry(p, &e)) {
        return st;
    }
    qk_kernel *kq = NULL;
    if ((st = qk_new(p, QK_ADD, &kq)) != TFMQ_OK) {
        return st;
    }
    for (int32_t i = 1; i < ctx->n_in; i++) {
        if (i != 3 && ctx->in[i]) {
            kq->base.own_consts |= 1u << i;
        }
    }
    e.vec16 = e.rank == 1 && e.stride_a[0] == 1 && e.stride_b[0] == 1 && e.n % 16 == 0 &&
              !getenv("TFMQ_CUDA_QADD_SCALAR");
    e.form = TQ_QK_ADD_DEF;
    if (e.vec16 && !getenv("TFMQ_CUDA_QADD_F64")) {
        qk_add_form(&e, ydt, false);
    }
    kq->add = e;
    snprintf(kq->impl, sizeof(kq->impl), "%s",
             !e.vec16                           ? "cuda:qadd"
             : e.form == TQ_QK_ADD_F32          ? "cuda:qadd_v16_f32"
             : e.form == TQ_QK_ADD_F32_CHECKED ? "cuda:qadd_v16_f32_checked"
                                                : "cuda:qadd_v16");
    *k_out = &kq->base;
    return TFMQ_OK;
}

/* The QAdd the exec offers to fuse into QConv kq (p->add, qk_prepare_conv), as the pointwise
 * kernel's epilogue wants it: operand a the convolution's output, b the residual, same shape
 * as the QAdd's output, the form of the 16-byte kernel. *ok false where it does not fit. */
static tfmq_status qk_fused_add(const tq_cuda_prep *p, const tq_tensor *conv_y, tq_qk_add *e,
                                bool *ok)
{
    const tq_op_ctx *ctx = p->add;
    const int32_t cs = p->add_conv_slot, rs = cs == 0 ? 3 : 0;
    tfmq_dtype ydt;
    memset(e, 0, sizeof(*e));
    *ok = false;
    if ((cs != 0 && cs != 3) || ctx->n_in < 8 || !ctx->in[cs] || !ctx->in[rs] ||
        ctx->in[rs]->data || ctx->in[cs]->dtype != conv_y->dtype) {
        return TFMQ_OK;
    }
    const tq_tensor *y = ctx->out[0], *r = ctx->in[rs];
    if (y->rank != 4 || r->rank != 4 || conv_y->rank != 4) {
        return TFMQ_OK;
    }
    for (int32_t d = 0; d < 4; d++) {
        if (y->dims[d] != conv_y->dims[d] || r->dims[d] != conv_y->dims[d]) {
            return TFMQ_OK;
        }
    }
    tfmq_status st = qk_add_params(ctx, e, &ydt, ok);
    if (st != TFMQ_OK || !*ok) {
        return st;
    }
    if (cs == 3) { /* the definition is symmetric in (a, b): swap so that a is the conv */
        const int32_t sg = e->a_signed, zp = e->a_zp;
        const double sc = e->as;
        e->a_signed = e->b_signed;
        e->a_zp = e->b_zp;
        e->as = e->bs;
        e->b_signed = sg;
        e->b_zp = zp;
        e->bs = sc;
    }
    e->rank = 1;
    e->n = (int64_t)tq_tensor_numel(y);
    e->dims[0] = e->n;
    e->stride_a[0] = e->stride_b[0] = 1;
    e->vec16 = 1;
    e->form = TQ_QK_ADD_DEF;
    if (!getenv("TFMQ_CUDA_QADD_F64")) {
        qk_add_form(e, ydt, true);
    }
    return TFMQ_OK;
}

tfmq_status tq_cuda_prepare_qconv(const tq_cuda_prep *p, tq_cuda_kernel **k_out)
{
    *k_out = NULL;
    switch (p->ctx->node->op) {
    case TQ_OP_QCONV:
        return qk_prepare_conv(p, k_out);
    case TQ_OP_QGEMM:
        return qk_prepare_gemm(p, k_out);
    case TQ_OP_QADD:
        return qk_prepare_add(p, k_out);
    default:
        return TFMQ_OK;
    }
}
