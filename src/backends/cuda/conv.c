/* conv.c: Conv and tfmq.FusedConv on the GPU (cuda.h, family "conv"). 2-D float convolutions
 * with NHWC data, residual and output in the session's storage type; weights packed once at
 * prepare into KRSC in the storage type, bias into [1,K,1,1]. Three ways, in order:
 *  1. cuDNN graph API, the whole node in one operation graph:
 *     conv -> (+bias) -> (+residual) -> activation (Relu, Clip and LeakyRelu as RELU_FWD with
 *     clips / slope, Sigmoid as SIGMOID_FWD; HardSwish has no cuDNN pointwise mode and skips
 *     to 2). Plans from heuristics mode A, then FALLBACK; up to 4 that finalize (workspace at
 *     most 256 MiB) are timed at prepare on scratch buffers and the fastest is kept.
 *  2. cuDNN graph of the convolution alone, then our epilogue kernel in place (conv_dw.cu).
 *  3. our direct convolution kernel with the epilogue fused (conv_dw.cu): always for depthwise
 *     convolutions (one input channel per group: memory-bound, and cuDNN's NHWC grouped
 *     engines are neither reliable nor fast there), and for any shape cuDNN has no plan for.
 *  4. 1x1 convolutions without pads: a cuBLASLt matmul (gemm.c, bias, residual and Relu in its
 *     epilogue; strided ones gather their pixels first), timed against 1 and 2
 *     (conv_gemm_prepare): cuDNN's strict FP32 engines run those layers 3-5x slower.
 * Strict FP32 sessions (store F32, math FP32) reject engines with the TENSOR_CORE (TF32),
 * DOWN_CONVERT_INPUTS or FFT numerical notes. At most one runtime-compiled engine (behavior
 * note RUNTIME_COMPILATION) is finalized per graph, to bound prepare time. With a plan cache
 * (tq_cuda_prep.plan_cache, plan_cache.h) a node whose key it holds skips heuristics and timing:
 * the recorded path, or the recorded engine and knob choices rebuilt into a plan (cudnn_plan.c)
 * and run once on scratch data; otherwise the node is autotuned and its choice recorded. A run
 * only (re)builds the cached variant pack when the device pointers changed and calls
 * cudnnBackendExecute / launches our kernels. The kernel owns its cuDNN descriptors (all kept
 * until destroy) and its device weights and bias. */
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>
#include <cudnn.h>

#include "backends/cpu/cpu.h"
#include "backends/cuda/conv_dw.h"
#include "backends/cuda/cuda.h"
#include "backends/cuda/cudnn_plan.h"
#include "backends/cuda/kernels.h"
#include "backends/ref/ref_compute_util.h"
#include "ir/ops/fused.h"

enum { UID_X = 1, UID_W = 2, UID_Y = 3, UID_B = 4, UID_R = 5, UID_VIRT = 100 };
#define CONV_MAX_DESCS 512         /* descriptors of one kernel (graph, configs, plans) */
#define CONV_MAX_CFGS 48           /* engine configs read from each heuristics mode */
#define CONV_MAX_CANDIDATES 4      /* finalized plans timed at prepare */
#define CONV_MAX_STRICT_CANDIDATES 10 /* strict FP32 (enumerate_plans): with every engine */
#define CONV_MAX_WS ((int64_t)256 << 20)
#define CONV_TUNE_RUNS 3
/* CUDNN_ATTR_OPERATIONGRAPH_HANDLE / CUDNN_ATTR_EXECUTION_PLAN_HANDLE: deprecated since cuDNN
 * 9.8 (hence the numbers: the enumerators carry a deprecation attribute) but required by
 * earlier 9.x; setting them is harmless where they are ignored. */
#define ATTR_OPGRAPH_HANDLE ((cudnnBackendAttributeName_t)800)
#define ATTR_PLAN_HANDLE ((cudnnBackendAttributeName_t)400)

typedef enum conv_path {
    PATH_FUSED = 0,   /* cuDNN graph with the whole epilogue */
    PATH_CUDNN_EPI = 1,/* cuDNN convolution, then our epilogue kernel */
    PATH_DIRECT = 2,  /* our direct kernel */
    PATH_GEMM = 3     /* 1x1: a cuBLASLt matmul (gemm.c) with its epilogue */
} conv_path;
#define CONV_N_PATHS 4

typedef struct conv_geom {
    int64_t n, c, h, w, k, oh, ow, r, s, groups, cg, mg;
    int64_t stride[2], dil[2], pad_b[2], pad_e[2];
} conv_geom;

typedef struct conv_kernel {
    tq_cuda_kernel base;
    conv_path path;
    conv_geom g;
    tq_cuda_store store;
    tq_fused_act act;
    bool has_bias, has_res;
    void *d_w;                    /* KRSC weights, storage type */
    void *d_b;                    /* bias: storage type (PATH_FUSED) or float32 */
    size_t y_numel;
    cudnnHandle_t handle;
    cudnnBackendDescriptor_t plan;/* chosen plan (also in descs) */
    cudnnBackendDescriptor_t vpack; /* cached variant pack, or NULL */
    void *vp_ptr[6];              /* x, w, y, b, r, workspace as held by vpack */
    cudnnBackendDescriptor_t descs[CONV_MAX_DESCS];
    int32_t n_descs;
    char label[80];               /* node label for run-time messages */
    char impl[96];
    double ms_graph, ms_plan;     /* a plan-cache hit's graph and plan building (debug log) */
    bool from_json;               /* the plan was cuDNN's serialized one (plan_cache.h) */
    tq_cuda_kernel *gemm;         /* a 1x1 convolution's matmul (conv_gemm_prepare), kept only
                                     when PATH_GEMM is chosen */
    size_t sub_off, sub_bytes;    /* strided 1x1: where in the workspace the matmul's input
                                     (x at the strides' pixels, conv_gemm_prepare) goes; 0: none */
} conv_kernel;

static const char *const PATH_NAMES[CONV_N_PATHS] = {"fused", "cudnn+epilogue", "direct",
                                                     "gemm"};

/* ---- errors ---- */
static tfmq_status cudnn_err(const char *label, const char *what, cudnnStatus_t s)
{
    char msg[256];
    msg[0] = '\0';
    cudnnGetLastErrorString(msg, sizeof(msg));
    for (char *q = msg; *q; q++) {
        if (*q == '\n' || *q == '\r') {
            *q = ' ';
        }
    }
    return tq_fail(TFMQ_ERR_BACKEND, "node %s: %s: %s%s%s", label, what, cudnnGetErrorString(s),
                   msg[0] ? ": " : "", msg);
}

static tfmq_status cuda_err(const char *label, const char *what, int e)
{
    if (e == (int)cudaSuccess) {
        return TFMQ_OK;
    }
    return tq_fail(TFMQ_ERR_BACKEND, "node %s: %s: %s", label, what,
                   cudaGetErrorString((cudaError_t)e));
}

/* ---- descriptors (all owned by the kernel) ---- */
static cudnnStatus_t desc_new(conv_kernel *kc, cudnnBackendDescriptorType_t type,
                              cudnnBackendDescriptor_t *d)
{
    *d = NULL;
    if (kc->n_descs >= CONV_MAX_DESCS) {
        return CUDNN_STATUS_NOT_SUPPORTED;
    }
    cudnnStatus_t s = cudnnBackendCreateDescriptor(type, d);
    if (s == CUDNN_STATUS_SUCCESS) {
        kc->descs[kc->n_descs++] = *d;
    }
    return s;
}

/* Destroy a descriptor made by desc_new before the kernel is destroyed (unused plans). */
static void desc_drop(conv_kernel *kc, cudnnBackendDescriptor_t d)
{
    for (int32_t i = 0; i < kc->n_descs; i++) {
        if (kc->descs[i] == d) {
            cudnnBackendDestroyDescriptor(d);
            kc->descs[i] = kc->descs[--kc->n_descs];
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

static cudnnDataType_t store_dt(tq_cuda_store st)
{
    return st == TQ_CUDA_F16 ? CUDNN_DATA_HALF
                             : (st == TQ_CUDA_BF16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT);
}

static size_t store_size(tq_cuda_store st)
{
    return st == TQ_CUDA_F32 ? 4 : 2;
}

/* A tensor with dims (N, C, H, W) stored NHWC. */
static cudnnStatus_t make_tensor(conv_kernel *kc, int64_t uid, cudnnDataType_t dt,
                                 const int64_t d[4], bool virt, cudnnBackendDescriptor_t *out)
{
    const int64_t strides[4] = {d[1] * d[2] * d[3], 1, d[3] * d[1], d[1]};
    const int64_t align = 16;
    const bool v = virt;
    cudnnBackendDescriptor_t t;
    CK(desc_new(kc, CUDNN_BACKEND_TENSOR_DESCRIPTOR, &t));
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

/* Set a float attribute of a pointwise descriptor (FLOAT math precision), as float and, when
 * this cuDNN wants it, as double. */
static cudnnStatus_t pw_set_float(cudnnBackendDescriptor_t pw, cudnnBackendAttributeName_t a,
                                  double v)
{
    float f = (float)v;
    cudnnStatus_t s = cudnnBackendSetAttribute(pw, a, CUDNN_TYPE_FLOAT, 1, &f);
    if (s != CUDNN_STATUS_SUCCESS) {
        s = cudnnBackendSetAttribute(pw, a, CUDNN_TYPE_DOUBLE, 1, &v);
    }
    return s;
}

/* y = mode(x[, b]); for RELU_FWD the activation's clips and slope. */
static cudnnStatus_t make_pw(conv_kernel *kc, cudnnPointwiseMode_t mode,
                             const tq_fused_act *act, cudnnBackendDescriptor_t x,
                             cudnnBackendDescriptor_t b, cudnnBackendDescriptor_t y,
                             cudnnBackendDescriptor_t *out)
{
    const cudnnDataType_t prec = CUDNN_DATA_FLOAT;
    cudnnBackendDescriptor_t pw, op;
    CK(desc_new(kc, CUDNN_BACKEND_POINTWISE_DESCRIPTOR, &pw));
    CK(cudnnBackendSetAttribute(pw, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1,
                                &mode));
    CK(cudnnBackendSetAttribute(pw, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1,
                                &prec));
    if (mode == CUDNN_POINTWISE_RELU_FWD && act) {
        switch (act->kind) {
        case TQ_FUSED_ACT_CLIP:
            CK(pw_set_float(pw, CUDNN_ATTR_POINTWISE_RELU_LOWER_CLIP, act->lo));
            CK(pw_set_float(pw, CUDNN_ATTR_POINTWISE_RELU_UPPER_CLIP, act->hi));
            break;
        case TQ_FUSED_ACT_LEAKY_RELU:
            CK(pw_set_float(pw, CUDNN_ATTR_POINTWISE_RELU_LOWER_CLIP, 0.0));
            CK(pw_set_float(pw, CUDNN_ATTR_POINTWISE_RELU_LOWER_CLIP_SLOPE, act->alpha));
            break;
        default:
            break;
        }
    }
    CK(cudnnBackendFinalize(pw));
    CK(desc_new(kc, CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR, &op));
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

/* The cuDNN pointwise mode of an activation; false when there is none (HardSwish). */
static bool act_mode(const tq_fused_act *a, cudnnPointwiseMode_t *m)
{
    switch (a->kind) {
    case TQ_FUSED_ACT_RELU:
    case TQ_FUSED_ACT_CLIP:
    case TQ_FUSED_ACT_LEAKY_RELU:
        *m = CUDNN_POINTWISE_RELU_FWD;
        return true;
    case TQ_FUSED_ACT_SIGMOID:
        *m = CUDNN_POINTWISE_SIGMOID_FWD;
        return true;
    default:
        return false;
    }
}

/* The operation graph: the convolution, and with `fused` the epilogue. */
static cudnnStatus_t build_graph(conv_kernel *kc, bool fused, cudnnBackendDescriptor_t *graph)
{
    const conv_geom *g = &kc->g;
    const cudnnDataType_t dt = store_dt(kc->store);
    const int64_t xd[4] = {g->n, g->c, g->h, g->w}, wd[4] = {g->k, g->cg, g->r, g->s};
    const int64_t yd[4] = {g->n, g->k, g->oh, g->ow}, bd[4] = {1, g->k, 1, 1};
    cudnnBackendDescriptor_t X, W, Y, B = NULL, R = NULL, cur;
    cudnnBackendDescriptor_t ops[5];
    int32_t n_ops = 0;
    int64_t virt_uid = UID_VIRT;
    const bool do_bias = fused && kc->has_bias, do_res = fused && kc->has_res;
    cudnnPointwiseMode_t am = CUDNN_POINTWISE_RELU_FWD;
    const bool do_act = fused && kc->act.kind != TQ_FUSED_ACT_NONE;
    if (do_act && !act_mode(&kc->act, &am)) {
        return CUDNN_STATUS_NOT_SUPPORTED;
    }
    const int n_epi = (int)do_bias + (int)do_res + (int)do_act;

    CK(make_tensor(kc, UID_X, dt, xd, false, &X));
    CK(make_tensor(kc, UID_W, dt, wd, false, &W));
    CK(make_tensor(kc, UID_Y, dt, yd, false, &Y));
    if (do_bias) {
        CK(make_tensor(kc, UID_B, dt, bd, false, &B));
    }
    if (do_res) {
        CK(make_tensor(kc, UID_R, dt, yd, false, &R));
    }

    /* convolution */
    cudnnBackendDescriptor_t cd, conv;
    const int64_t n_sp = 2;
    const cudnnDataType_t comp = CUDNN_DATA_FLOAT;
    const cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
    CK(desc_new(kc, CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR, &cd));
    CK(cudnnBackendSetAttribute(cd, CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1,
                                &comp));
    CK(cudnnBackendSetAttribute(cd, CUDNN_ATTR_CONVOLUTION_CONV_MODE,
                                CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode));
    CK(cudnnBackendSetAttribute(cd, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1,
                                &n_sp));
    CK(cudnnBackendSetAttribute(cd, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, 2,
                                g->pad_b));
    CK(cudnnBackendSetAttribute(cd, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, 2,
                                g->pad_e));
    CK(cudnnBackendSetAttribute(cd, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, 2,
                                g->stride));
    CK(cudnnBackendSetAttribute(cd, CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, 2,
                                g->dil));
    CK(cudnnBackendFinalize(cd));

    cudnnBackendDescriptor_t conv_y = Y;
    if (n_epi > 0) {
        CK(make_tensor(kc, virt_uid++, CUDNN_DATA_FLOAT, yd, true, &conv_y));
    }
    const float alpha = 1.0f, beta = 0.0f;
    CK(desc_new(kc, CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR, &conv));
    CK(cudnnBackendSetAttribute(conv, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X,
                                CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &X));
    CK(cudnnBackendSetAttribute(conv, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W,
                                CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &W));
    CK(cudnnBackendSetAttribute(conv, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y,
                                CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &conv_y));
    CK(cudnnBackendSetAttribute(conv, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC,
                                CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cd));
    CK(cudnnBackendSetAttribute(conv, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA,
                                CUDNN_TYPE_FLOAT, 1, &alpha));
    CK(cudnnBackendSetAttribute(conv, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA,
                                CUDNN_TYPE_FLOAT, 1, &beta));
    CK(cudnnBackendFinalize(conv));
    ops[n_ops++] = conv;

    /* epilogue: each step writes a float virtual tensor, the last one Y */
    cur = conv_y;
    int left = n_epi;
    if (do_bias) {
        cudnnBackendDescriptor_t t = Y, op;
        if (--left > 0) {
            CK(make_tensor(kc, virt_uid++, CUDNN_DATA_FLOAT, yd, true, &t));
        }
        CK(make_pw(kc, CUDNN_POINTWISE_ADD, NULL, cur, B, t, &op));
        ops[n_ops++] = op;
        cur = t;
    }
    if (do_res) {
        cudnnBackendDescriptor_t t = Y, op;
        if (--left > 0) {
            CK(make_tensor(kc, virt_uid++, CUDNN_DATA_FLOAT, yd, true, &t));
        }
        CK(make_pw(kc, CUDNN_POINTWISE_ADD, NULL, cur, R, t, &op));
        ops[n_ops++] = op;
        cur = t;
    }
    if (do_act) {
        cudnnBackendDescriptor_t op;
        CK(make_pw(kc, am, &kc->act, cur, NULL, Y, &op));
        ops[n_ops++] = op;
    }

    cudnnBackendDescriptor_t gr;
    CK(desc_new(kc, CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, &gr));
    CK(cudnnBackendSetAttribute(gr, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                n_ops, ops));
    (void)cudnnBackendSetAttribute(gr, ATTR_OPGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &kc->handle);
    CK(cudnnBackendFinalize(gr));
    *graph = gr;
    return CUDNN_STATUS_SUCCESS;
}

/* Whether an engine config may be used: strict FP32 excludes TF32 and down-converting engines
 * (and FFT, whose error is far above FP32 rounding). */
static bool cfg_allowed(cudnnBackendDescriptor_t cfg, bool strict_fp32, int64_t *eng_id,
                        bool *rtc)
{
    cudnnBackendDescriptor_t e = NULL;
    int64_t cnt = 0;
    bool ok = true;
    *eng_id = -1;
    *rtc = false;
    if (cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINE_DESCRIPTOR, &e) !=
        CUDNN_STATUS_SUCCESS) {
        return !strict_fp32;
    }
    if (cudnnBackendGetAttribute(cfg, CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                 1, &cnt, &e) != CUDNN_STATUS_SUCCESS) {
        cudnnBackendDestroyDescriptor(e);
        return !strict_fp32;
    }
    (void)cudnnBackendGetAttribute(e, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &cnt,
                                   eng_id);
    {
        cudnnBackendBehaviorNote_t bn[CUDNN_BEHAVIOR_NOTE_TYPE_COUNT + 8];
        int64_t n_bn = 0;
        if (cudnnBackendGetAttribute(e, CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE, CUDNN_TYPE_BEHAVIOR_NOTE,
                                     CUDNN_BEHAVIOR_NOTE_TYPE_COUNT, &n_bn, bn) ==
            CUDNN_STATUS_SUCCESS) {
            n_bn = n_bn > CUDNN_BEHAVIOR_NOTE_TYPE_COUNT ? CUDNN_BEHAVIOR_NOTE_TYPE_COUNT : n_bn;
            for (int64_t i = 0; i < n_bn; i++) {
                *rtc = *rtc || bn[i] == CUDNN_BEHAVIOR_NOTE_RUNTIME_COMPILATION;
            }
        }
    }
    if (strict_fp32) {
        cudnnBackendNumericalNote_t notes[CUDNN_NUMERICAL_NOTE_TYPE_COUNT + 8];
        int64_t n_notes = 0;
        if (cudnnBackendGetAttribute(e, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE,
                                     CUDNN_TYPE_NUMERICAL_NOTE, CUDNN_NUMERICAL_NOTE_TYPE_COUNT,
                                     &n_notes, notes) != CUDNN_STATUS_SUCCESS) {
            ok = false; /* unknown numerics: not for strict FP32 */
        } else {
            if (n_notes > CUDNN_NUMERICAL_NOTE_TYPE_COUNT) {
                n_notes = CUDNN_NUMERICAL_NOTE_TYPE_COUNT;
            }
            for (int64_t i = 0; i < n_notes; i++) {
                if (notes[i] == CUDNN_NUMERICAL_NOTE_TENSOR_CORE ||
                    notes[i] == CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS ||
                    notes[i] == CUDNN_NUMERICAL_NOTE_FFT) {
                    ok = false;
                }
            }
        }
    }
    cudnnBackendDestroyDescriptor(e);
    return ok;
}

typedef struct conv_cand {
    cudnnBackendDescriptor_t plan;
    cudnnBackendDescriptor_t cfg;  /* its engine config (knob choices for the plan cache) */
    int64_t ws;
    int64_t eng;
    float ms;                      /* of CONV_TUNE_RUNS runs; < 0: not usable */
} conv_cand;

/* Strict FP32: the heuristics rank tensor-core (TF32) engines first and the few FMA engines
 * they leave are often slow (measured on an H200: 5 to 100 times PyTorch's FP32 kernels), so
 * every engine of the graph is tried by global index (as cudnnFind does) and the ones that
 * finalize with allowed numerics join the candidates; autotune keeps the fastest. */
static void enumerate_plans(conv_kernel *kc, cudnnBackendDescriptor_t graph, conv_cand *cands,
                            int32_t *n_cands)
{
    int64_t n_eng = 0, cnt = 0;
    if (cudnnBackendGetAttribute(graph, CUDNN_ATTR_OPERATIONGRAPH_ENGINE_GLOBAL_COUNT,
                                 CUDNN_TYPE_INT64, 1, &cnt, &n_eng) != CUDNN_STATUS_SUCCESS) {
        return;
    }
    for (int64_t gi = 0; gi < n_eng && *n_cands < CONV_MAX_STRICT_CANDIDATES; gi++) {
        bool seen = false;
        for (int32_t c = 0; c < *n_cands; c++) {
            seen = seen || cands[c].eng == gi;
        }
        if (seen) {
            continue;
        }
        cudnnBackendDescriptor_t eng, cfg, plan;
        int64_t eng_id = -1, ws = 0;
        bool rtc = false;
        if (desc_new(kc, CUDNN_BACKEND_ENGINE_DESCRIPTOR, &eng) != CUDNN_STATUS_SUCCESS) {
            return;
        }
        if (cudnnBackendSetAttribute(eng, CUDNN_ATTR_ENGINE_OPERATION_GRAPH,
                                     CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &graph) !=
                CUDNN_STATUS_SUCCESS ||
            cudnnBackendSetAttribute(eng, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1,
                                     &gi) != CUDNN_STATUS_SUCCESS ||
            cudnnBackendFinalize(eng) != CUDNN_STATUS_SUCCESS) {
            desc_drop(kc, eng);
            continue;
        }
        if (desc_new(kc, CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, &cfg) != CUDNN_STATUS_SUCCESS) {
            desc_drop(kc, eng);
            return;
        }
        bool ok = cudnnBackendSetAttribute(cfg, CUDNN_ATTR_ENGINECFG_ENGINE,
                                           CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &eng) ==
                      CUDNN_STATUS_SUCCESS &&
                  cudnnBackendFinalize(cfg) == CUDNN_STATUS_SUCCESS &&
                  cfg_allowed(cfg, true, &eng_id, &rtc) && !rtc;
        tq_log(TFMQ_LOG_DEBUG, "cuda conv %s: engine %lld %s", kc->label, (long long)gi,
               ok ? "allowed" : "not usable for strict FP32");
        if (!ok || desc_new(kc, CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, &plan) !=
                       CUDNN_STATUS_SUCCESS) {
            desc_drop(kc, cfg);
            desc_drop(kc, eng);
            continue;
        }
        (void)cudnnBackendSetAttribute(plan, ATTR_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &kc->handle);
        if (cudnnBackendSetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG,
                                     CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cfg) !=
                CUDNN_STATUS_SUCCESS ||
            cudnnBackendFinalize(plan) != CUDNN_STATUS_SUCCESS ||
            cudnnBackendGetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE,
                                     CUDNN_TYPE_INT64, 1, &cnt, &ws) != CUDNN_STATUS_SUCCESS ||
            ws < 0 || ws > CONV_MAX_WS) {
            desc_drop(kc, plan);
            desc_drop(kc, cfg);
            desc_drop(kc, eng);
            continue;
        }
        cands[*n_cands].plan = plan;
        cands[*n_cands].cfg = cfg;
        cands[*n_cands].ws = ws;
        cands[*n_cands].eng = gi;
        cands[*n_cands].ms = -1.0f;
        (*n_cands)++;
    }
}

/* Heuristics (mode A, then FALLBACK when A yields nothing usable) and finalized plans.
 * quick (quick_plans): no runtime-compiled engine (a compilation each), and strict FP32 tries
 * every engine only when the heuristics gave no usable plan. */
static void find_plans(conv_kernel *kc, cudnnBackendDescriptor_t graph, bool strict_fp32,
                       bool quick, conv_cand *cands, int32_t *n_cands)
{
    const cudnnBackendHeurMode_t modes[2] = {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK};
    *n_cands = 0;
    for (int mi = 0; mi < 2 && *n_cands == 0; mi++) {
        cudnnBackendDescriptor_t heur;
        cudnnBackendDescriptor_t cfgs[CONV_MAX_CFGS];
        int64_t n_res = 0, got = 0;
        if (desc_new(kc, CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, &heur) != CUDNN_STATUS_SUCCESS ||
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
        int64_t want = n_res < CONV_MAX_CFGS ? n_res : CONV_MAX_CFGS;
        if (want <= 0) {
            continue;
        }
        int64_t made = 0;
        for (; made < want; made++) {
            if (desc_new(kc, CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, &cfgs[made]) !=
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
        if (got > want) {
            got = want;
        }
        bool have_rtc = false;
        for (int64_t i = 0; i < got && *n_cands < CONV_MAX_CANDIDATES; i++) {
            int64_t eng = -1, ws = 0, cnt = 0;
            bool rtc = false;
            /* at most one runtime-compiled engine: each costs a compilation at finalize */
            bool allowed = cfg_allowed(cfgs[i], strict_fp32, &eng, &rtc);
            tq_log(TFMQ_LOG_DEBUG, "cuda conv %s: heuristics %s #%lld: eng%lld%s%s", kc->label,
                   mi == 0 ? "A" : "FALLBACK", (long long)i, (long long)eng,
                   rtc ? " (runtime-compiled)" : "", allowed ? "" : " excluded (numerics)");
            if (!allowed || (rtc && (have_rtc || quick))) {
                continue;
            }
            cudnnBackendDescriptor_t plan;
            if (desc_new(kc, CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, &plan) !=
                CUDNN_STATUS_SUCCESS) {
                break;
            }
            (void)cudnnBackendSetAttribute(plan, ATTR_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1,
                                           &kc->handle);
            if (cudnnBackendSetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG,
                                         CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cfgs[i]) !=
                    CUDNN_STATUS_SUCCESS ||
                cudnnBackendFinalize(plan) != CUDNN_STATUS_SUCCESS ||
                cudnnBackendGetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE,
                                         CUDNN_TYPE_INT64, 1, &cnt, &ws) !=
                    CUDNN_STATUS_SUCCESS ||
                ws < 0 || ws > CONV_MAX_WS) {
                desc_drop(kc, plan);
                continue;
            }
            have_rtc = have_rtc || rtc;
            cands[*n_cands].plan = plan;
            cands[*n_cands].cfg = cfgs[i];
            cands[*n_cands].ws = ws;
            cands[*n_cands].eng = eng;
            cands[*n_cands].ms = -1.0f;
            (*n_cands)++;
        }
    }
    if (strict_fp32 && !(quick && *n_cands > 0)) {
        enumerate_plans(kc, graph, cands, n_cands);
    }
}

/* Build (or rebuild) the variant pack for these pointers. Not allocation-free: cuDNN allocates
 * the descriptor on the host, so a run does it only when the pointers changed (the first run). */
static tfmq_status vpack_update(conv_kernel *kc, void *const ptr[6])
{
    if (kc->vpack && memcmp(ptr, kc->vp_ptr, sizeof(kc->vp_ptr)) == 0) {
        return TFMQ_OK;
    }
    if (kc->vpack) {
        cudnnBackendDestroyDescriptor(kc->vpack);
        kc->vpack = NULL;
    }
    int64_t uids[5];
    void *ptrs[5];
    int64_t n = 0;
    uids[n] = UID_X;
    ptrs[n++] = ptr[0];
    uids[n] = UID_W;
    ptrs[n++] = ptr[1];
    uids[n] = UID_Y;
    ptrs[n++] = ptr[2];
    if (kc->path == PATH_FUSED && kc->has_bias) {
        uids[n] = UID_B;
        ptrs[n++] = ptr[3];
    }
    if (kc->path == PATH_FUSED && kc->has_res) {
        uids[n] = UID_R;
        ptrs[n++] = ptr[4];
    }
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
        return cudnn_err(kc->label, "variant pack", s);
    }
    kc->vpack = vp;
    memcpy(kc->vp_ptr, ptr, sizeof(kc->vp_ptr));
    return TFMQ_OK;
}

static tq_cuda_epi epi_of(const tq_fused_act *a)
{
    tq_cuda_epi e;
    e.act = (int)a->kind;
    e.lo = (float)a->lo;
    e.hi = (float)a->hi;
    e.alpha = (float)a->alpha;
    return e;
}

/* Enqueue the node on `stream` with these device pointers. */
static tfmq_status conv_enqueue(conv_kernel *kc, const void *x, const void *res, void *y,
                                void *ws, void *stream)
{
    const conv_geom *g = &kc->g;
    tq_cuda_epi epi = epi_of(&kc->act);
    if (kc->path == PATH_GEMM) {
        if (kc->sub_bytes) {
            /* the pixels the strides visit, dense: [N, OH, OW, C] in units of 8, 4 or 2 bytes */
            const size_t row = (size_t)g->c * store_size(kc->store);
            const int32_t es = row % 8 == 0 ? 8 : (row % 4 == 0 ? 4 : 2);
            const int64_t cu = (int64_t)row / es;
            const tqk_strided sv = {
                4, es, g->n * g->oh * g->ow * cu, 0, {g->n, g->oh, g->ow, cu},
                {g->h * g->w * cu, g->stride[0] * g->w * cu, g->stride[1] * cu, 1}};
            void *sub = (char *)ws + kc->sub_off;
            tfmq_status st = cuda_err(kc->label, "strided copy kernel",
                                      tqk_strided_launch(&sv, sub, x, stream));
            if (st != TFMQ_OK) {
                return st;
            }
            x = sub;
        }
        /* gemm.c reads A (in 0), its packed B, and the residual as C (in 3) */
        void *const in[4] = {(void *)(uintptr_t)x, NULL, NULL, (void *)(uintptr_t)res};
        void *const out[1] = {y};
        const tq_cuda_args a = {in, out, ws, stream};
        return kc->gemm->run(kc->gemm, &a);
    }
    if (kc->path == PATH_DIRECT) {
        tq_cuda_direct_conv d = {
            .n = g->n, .c = g->c, .h = g->h, .w = g->w, .k = g->k, .oh = g->oh, .ow = g->ow,
            .r = g->r, .s = g->s, .stride_h = g->stride[0], .stride_w = g->stride[1],
            .dil_h = g->dil[0], .dil_w = g->dil[1], .pad_t = g->pad_b[0], .pad_l = g->pad_b[1],
            .cg = g->cg, .mg = g->mg, .store = (int)kc->store, .x = x, .wt = kc->d_w,
            .bias = kc->has_bias ? kc->d_b : NULL, .res = kc->has_res ? res : NULL, .y = y,
            .epi = epi};
        return cuda_err(kc->label, "direct convolution kernel", tq_cuda_conv_direct(&d, stream));
    }
    void *ptr[6] = {(void *)(uintptr_t)x, kc->d_w, y, kc->d_b, (void *)(uintptr_t)res, ws};
    tfmq_status st = vpack_update(kc, ptr);
    if (st != TFMQ_OK) {
        return st;
    }
    cudnnStatus_t s = cudnnBackendExecute(kc->handle, kc->plan, kc->vpack);
    if (s != CUDNN_STATUS_SUCCESS) {
        return cudnn_err(kc->label, "cudnnBackendExecute", s);
    }
    if (kc->path == PATH_CUDNN_EPI && (kc->has_bias || kc->has_res || epi.act != 0)) {
        return cuda_err(kc->label, "epilogue kernel",
                        tq_cuda_epilogue(y, kc->has_bias ? kc->d_b : NULL,
                                         kc->has_res ? res : NULL, kc->y_numel, g->k,
                                         (int)kc->store, &epi, stream));
    }
    return TFMQ_OK;
}

static tfmq_status conv_run(tq_cuda_kernel *k, const tq_cuda_args *a)
{
    conv_kernel *kc = (conv_kernel *)k;
    return conv_enqueue(kc, a->in[0], kc->has_res ? a->in[3] : NULL, a->out[0], a->workspace,
                        a->stream);
}

static void conv_destroy(tq_cuda_kernel *k)
{
    conv_kernel *kc = (conv_kernel *)k;
    if (!kc) {
        return;
    }
    if (kc->vpack) {
        cudnnBackendDestroyDescriptor(kc->vpack);
    }
    if (kc->gemm) {
        kc->gemm->destroy(kc->gemm);
    }
    for (int32_t i = kc->n_descs - 1; i >= 0; i--) {
        cudnnBackendDestroyDescriptor(kc->descs[i]);
    }
    if (kc->d_w) {
        cudaFree(kc->d_w);
    }
    if (kc->d_b) {
        cudaFree(kc->d_b);
    }
    tq_free(kc->base.alloc, kc, sizeof(*kc));
}

/* ---- packing ---- */
static void store_f32(tq_cuda_store st, void *dst, size_t i, float v)
{
    if (st == TQ_CUDA_F32) {
        ((float *)dst)[i] = v;
    } else if (st == TQ_CUDA_F16) {
        ((uint16_t *)dst)[i] = tq_f32_to_f16(v);
    } else {
        ((uint16_t *)dst)[i] = tq_f32_to_bf16(v);
    }
}

/* Copy n_bytes of host memory to a new device buffer (synchronously: prepare time). */
static tfmq_status upload(conv_kernel *kc, const void *host, size_t n_bytes, void **dev)
{
    tfmq_status st = cuda_err(kc->label, "cudaMalloc", cudaMalloc(dev, n_bytes ? n_bytes : 1));
    if (st != TFMQ_OK) {
        *dev = NULL;
        return st;
    }
    return cuda_err(kc->label, "cudaMemcpy", cudaMemcpy(*dev, host, n_bytes,
                                                        cudaMemcpyHostToDevice));
}

/* Weights [K, Cg, R, S] float32 -> KRSC in the storage type. */
static tfmq_status pack_weights(conv_kernel *kc, const float *w)
{
    const conv_geom *g = &kc->g;
    const size_t n = (size_t)(g->k * g->cg * g->r * g->s), es = store_size(kc->store);
    void *h = tq_alloc(kc->base.alloc, n * es);
    if (!h) {
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "node %s: %zu bytes", kc->label, n * es);
    }
    for (int64_t k = 0; k < g->k; k++) {
        for (int64_t c = 0; c < g->cg; c++) {
            for (int64_t r = 0; r < g->r; r++) {
                for (int64_t s = 0; s < g->s; s++) {
                    size_t src = (size_t)(((k * g->cg + c) * g->r + r) * g->s + s);
                    size_t dst = (size_t)(((k * g->r + r) * g->s + s) * g->cg + c);
                    store_f32(kc->store, h, dst, w[src]);
                }
            }
        }
    }
    tfmq_status st = upload(kc, h, n * es, &kc->d_w);
    tq_free(kc->base.alloc, h, n * es);
    return st;
}

/* Bias [K]: in the storage type for the cuDNN graph, float32 for our kernels. */
static tfmq_status pack_bias(conv_kernel *kc, const float *b)
{
    const size_t n = (size_t)kc->g.k;
    if (kc->path != PATH_FUSED) {
        return upload(kc, b, n * sizeof(float), &kc->d_b);
    }
    const size_t es = store_size(kc->store);
    void *h = tq_alloc(kc->base.alloc, n * es);
    if (!h) {
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "node %s: %zu bytes", kc->label, n * es);
    }
    for (size_t i = 0; i < n; i++) {
        store_f32(kc->store, h, i, b[i]);
    }
    tfmq_status st = upload(kc, h, n * es, &kc->d_b);
    tq_free(kc->base.alloc, h, n * es);
    return st;
}

/* ---- autotuning: time each candidate plan on scratch buffers, keep the fastest ---- */
/* check_only: run each candidate once (a plan that finalizes may still fail to run) and set its
 * ms to that run's time, without timing further (a plan from the plan cache). */
static tfmq_status autotune(conv_kernel *kc, conv_cand *cands, int32_t n_cands, void *stream,
                            bool check_only)
{
    const conv_geom *g = &kc->g;
    const size_t es = store_size(kc->store);
    const size_t x_bytes = (size_t)(g->n * g->c * g->h * g->w) * es;
    const size_t y_bytes = kc->y_numel * es;
    int64_t ws_max = 0;
    for (int32_t i = 0; i < n_cands; i++) {
        ws_max = cands[i].ws > ws_max ? cands[i].ws : ws_max;
    }
    void *x = NULL, *y = NULL, *r = NULL, *ws = NULL;
    cudaEvent_t e0 = NULL, e1 = NULL;
    tfmq_status st;
    TQ_TRY(st, cuda_err(kc->label, "cudaMalloc (tuning)", cudaMalloc(&x, x_bytes ? x_bytes : 1)));
    TQ_TRY(st, cuda_err(kc->label, "cudaMalloc (tuning)", cudaMalloc(&y, y_bytes ? y_bytes : 1)));
    if (kc->has_res) {
        TQ_TRY(st, cuda_err(kc->label, "cudaMalloc (tuning)",
                            cudaMalloc(&r, y_bytes ? y_bytes : 1)));
        TQ_TRY(st, cuda_err(kc->label, "cudaMemset", cudaMemset(r, 0, y_bytes)));
    }
    if (ws_max > 0) {
        TQ_TRY(st, cuda_err(kc->label, "cudaMalloc (tuning workspace)",
                            cudaMalloc(&ws, (size_t)ws_max)));
    }
    TQ_TRY(st, cuda_err(kc->label, "cudaMemset", cudaMemset(x, 0, x_bytes)));
    TQ_TRY(st, cuda_err(kc->label, "cudaEventCreate", cudaEventCreate(&e0)));
    TQ_TRY(st, cuda_err(kc->label, "cudaEventCreate", cudaEventCreate(&e1)));
    float best_ms = 0.0f; /* per run, of the plans timed so far */
    for (int32_t i = 0; i < n_cands; i++) {
        kc->plan = cands[i].plan;
        if (kc->vpack) {
            cudnnBackendDestroyDescriptor(kc->vpack);
            kc->vpack = NULL;
        }
        /* warm-up (also checks that the plan runs at all), timed: a plan several times slower
         * than the best so far is not timed further (slow engines at large batches take
         * hundreds of ms a run) */
        st = cuda_err(kc->label, "cudaEventRecord", cudaEventRecord(e0, (cudaStream_t)stream));
        if (st == TFMQ_OK) {
            st = conv_enqueue(kc, x, r, y, ws, stream);
        }
        if (st == TFMQ_OK) {
            st = cuda_err(kc->label, "cudaEventRecord", cudaEventRecord(e1, (cudaStream_t)stream));
        }
        if (st == TFMQ_OK) {
            st = cuda_err(kc->label, "cudaStreamSynchronize",
                          cudaStreamSynchronize((cudaStream_t)stream));
        }
        float warm_ms = 0.0f;
        if (st == TFMQ_OK && cudaEventElapsedTime(&warm_ms, e0, e1) == cudaSuccess &&
            best_ms > 0.0f && warm_ms > 4.0f * best_ms && warm_ms > 20.0f) {
            cands[i].ms = warm_ms * CONV_TUNE_RUNS;
            continue;
        }
        if (st != TFMQ_OK) {
            tq_clear_error();
            (void)cudaGetLastError();
            continue; /* this plan is not usable: ms stays < 0 */
        }
        if (check_only) {
            cands[i].ms = warm_ms;
            continue;
        }
        st = cuda_err(kc->label, "cudaEventRecord", cudaEventRecord(e0, (cudaStream_t)stream));
        for (int rep = 0; rep < CONV_TUNE_RUNS && st == TFMQ_OK; rep++) {
            st = conv_enqueue(kc, x, r, y, ws, stream);
        }
        if (st == TFMQ_OK) {
            st = cuda_err(kc->label, "cudaEventRecord",
                          cudaEventRecord(e1, (cudaStream_t)stream));
        }
        if (st == TFMQ_OK) {
            st = cuda_err(kc->label, "cudaEventSynchronize", cudaEventSynchronize(e1));
        }
        if (st != TFMQ_OK) {
            tq_clear_error();
            (void)cudaGetLastError();
            (void)cudaStreamSynchronize((cudaStream_t)stream);
            continue;
        }
        float ms = 0.0f;
        TQ_TRY(st, cuda_err(kc->label, "cudaEventElapsedTime", cudaEventElapsedTime(&ms, e0, e1)));
        cands[i].ms = ms;
        if (best_ms <= 0.0f || ms / CONV_TUNE_RUNS < best_ms) {
            best_ms = ms / CONV_TUNE_RUNS;
        }
        tq_log(TFMQ_LOG_DEBUG, "cuda conv %s: %s eng%lld: %.4f ms", kc->label,
               kc->path == PATH_CUDNN_EPI ? "conv+epilogue" : PATH_NAMES[kc->path],
               (long long)cands[i].eng, (double)ms / CONV_TUNE_RUNS);
    }
    st = TFMQ_OK;
fail:
    if (kc->vpack) {
        cudnnBackendDestroyDescriptor(kc->vpack);
        kc->vpack = NULL;
    }
    kc->plan = NULL;
    if (e0) {
        cudaEventDestroy(e0);
    }
    if (e1) {
        cudaEventDestroy(e1);
    }
    cudaFree(x);
    cudaFree(y);
    cudaFree(r);
    cudaFree(ws);
    return st;
}

/* ---- prepare ---- */
static tfmq_status geom_init(const tq_op_ctx *ctx, conv_geom *g, bool *ok)
{
    tq_rc_spatial sp;
    *ok = false;
    tfmq_status st = tq_rc_spatial_init(ctx, TQ_RC_SP_CONV, &sp);
    if (st != TFMQ_OK) {
        return st;
    }
    if (sp.n_sp != 2) {
        return TFMQ_OK;
    }
    const tq_tensor *x = ctx->in[0], *y = ctx->out[0];
    g->n = x->dims[0];
    g->c = x->dims[1];
    g->h = x->dims[2];
    g->w = x->dims[3];
    g->k = sp.out_channels;
    g->oh = sp.out[0];
    g->ow = sp.out[1];
    g->r = sp.k[0];
    g->s = sp.k[1];
    g->groups = sp.group;
    for (int i = 0; i < 2; i++) {
        g->stride[i] = sp.stride[i];
        g->dil[i] = sp.dil[i];
        g->pad_b[i] = sp.pad_b[i];
        g->pad_e[i] = sp.pad_e[i];
    }
    if (g->groups <= 0 || g->c % g->groups != 0 || g->k % g->groups != 0 ||
        y->rank != 4 || y->dims[0] != g->n || y->dims[1] != g->k || y->dims[2] != g->oh ||
        y->dims[3] != g->ow || g->oh <= 0 || g->ow <= 0 || g->n <= 0) {
        return TFMQ_OK;
    }
    g->cg = g->c / g->groups;
    g->mg = g->k / g->groups;
    *ok = true;
    return TFMQ_OK;
}

/* Bias in the layout of kc->path (the fused graph wants the storage type). */
static tfmq_status repack_bias(conv_kernel *kc, const tq_tensor *b)
{
    if (!b) {
        return TFMQ_OK;
    }
    cudaFree(kc->d_b);
    kc->d_b = NULL;
    return pack_bias(kc, (const float *)b->data);
}

/* A 1x1 convolution (no pads, one group) as a cuBLASLt matmul (gemm.c, which also fuses bias,
 * residual and Relu): NHWC data is the row-major [N*H*W, C] matrix, the output [N*OH*OW, K],
 * the weights W^T [C, K]; with strides, a strided copy first gathers the pixels they visit into
 * the workspace (kc->sub_off). cuDNN's strict FP32 engines run ResNet-50's 1x1 layers at
 * 10-20 TFLOP/s on an H200, where cuBLASLt's SGEMM reaches ~50; conv_autotune times both.
 * kc->gemm stays NULL where gemm.c declines, or with TFMQ_CUDA_CONV_GEMM=0; with
 * TFMQ_CUDA_CONV_GEMM=force the matmul wins whenever it runs (for the tests). */
static tfmq_status conv_gemm_prepare(conv_kernel *kc, const tq_cuda_prep *p, const tq_tensor *w,
                                     const tq_tensor *b, const tq_tensor *r)
{
    const conv_geom *g = &kc->g;
    const char *env = getenv("TFMQ_CUDA_CONV_GEMM");
    if ((env && strcmp(env, "0") == 0) || g->r != 1 || g->s != 1 || g->groups != 1 ||
        g->pad_b[0] || g->pad_b[1] || g->pad_e[0] || g->pad_e[1] ||
        g->oh != (g->h - 1) / g->stride[0] + 1 || g->ow != (g->w - 1) / g->stride[1] + 1 ||
        (g->c * (int64_t)store_size(kc->store)) % 2 != 0) {
        return TFMQ_OK;
    }
    const tq_op_ctx *ctx = p->ctx;
    const size_t nw = (size_t)(g->k * g->c);
    float *wt = tq_alloc(p->alloc, nw * sizeof(float));
    if (!wt) {
        return tq_op_fail(ctx, TFMQ_ERR_OUT_OF_MEMORY, "%zu bytes", nw * sizeof(float));
    }
    const float *wf = (const float *)w->data;
    for (int64_t k = 0; k < g->k; k++) {
        for (int64_t c = 0; c < g->c; c++) {
            wt[c * g->k + k] = wf[k * g->c + c];
        }
    }
    const int64_t rows = g->n * g->oh * g->ow;
    tq_tensor ta = {ctx->in[0]->dtype, 2, {rows, g->c}, NULL};
    tq_tensor tb = {TFMQ_DTYPE_FLOAT32, 2, {g->c, g->k}, wt};
    tq_tensor tr = {TFMQ_DTYPE_FLOAT32, 2, {rows, g->k}, NULL};
    tq_tensor ty = {ctx->out[0]->dtype, 2, {rows, g->k}, NULL};
    tq_node node = *ctx->node; /* its activation attributes are FusedGemm's too */
    node.op = TQ_OP_FUSED_GEMM;
    tq_op_ctx c2 = *ctx;
    c2.node = &node;
    c2.n_in = r ? 4 : (b ? 3 : 2);
    c2.in[0] = &ta;
    c2.in[1] = &tb;
    c2.in[2] = b;
    c2.in[3] = r ? &tr : NULL;
    c2.n_out = 1;
    c2.out[0] = &ty;
    static const uint8_t plain[TQ_MAX_IO] = {0};
    tq_cuda_prep p2 = *p;
    p2.ctx = &c2;
    p2.in_layout = plain;
    p2.out_layout = plain;
    tfmq_status st = tq_cuda_prepare_gemm(&p2, &kc->gemm);
    tq_free(p->alloc, wt, nw * sizeof(float));
    if (st == TFMQ_OK && kc->gemm && (g->stride[0] != 1 || g->stride[1] != 1)) {
        kc->sub_off = (kc->gemm->workspace_bytes + 255) / 256 * 256;
        kc->sub_bytes = (size_t)(rows * g->c) * store_size(kc->store);
    }
    return st;
}

/* The workspace of PATH_GEMM: the matmul's, then the strided copy's. */
static size_t conv_gemm_ws(const conv_kernel *kc)
{
    return kc->sub_bytes ? kc->sub_off + kc->sub_bytes : kc->gemm->workspace_bytes;
}

/* Autotune: the candidates of both cuDNN paths (the whole node in one graph, and the
 * convolution alone followed by our epilogue kernel; none for depthwise) and a 1x1
 * convolution's matmul (conv_gemm_prepare) are timed (autotune times the epilogue kernel too)
 * and the fastest of all is kept: some fused engines are far slower than a plain convolution
 * plus one pass over the output (strict FP32 especially). Sets kc->path, kc->plan and the
 * workspace; every other plan is dropped (an unchosen matmul by the caller). *best_out: the
 * winner (plan NULL and eng -1 for PATH_DIRECT, when nothing else runs, and PATH_GEMM). */
static tfmq_status conv_autotune(conv_kernel *kc, const tq_cuda_prep *p, const tq_tensor *b,
                                 bool strict, conv_cand *best_out)
{
    conv_cand cands[CONV_N_PATHS][CONV_MAX_STRICT_CANDIDATES];
    int32_t n_cands[CONV_N_PATHS] = {0}, best[CONV_N_PATHS] = {-1, -1, -1, -1};
    tfmq_status st;
    const bool has_epi = kc->has_bias || kc->has_res || kc->act.kind != TQ_FUSED_ACT_NONE;
    memset(best_out, 0, sizeof(*best_out));
    best_out->eng = -1;
    best_out->ms = -1.0f;
    for (int path = PATH_FUSED; path <= PATH_CUDNN_EPI && kc->g.cg > 1; path++) {
        cudnnBackendDescriptor_t graph = NULL;
        if ((path == PATH_CUDNN_EPI && !has_epi) ||
            build_graph(kc, path == PATH_FUSED, &graph) != CUDNN_STATUS_SUCCESS) {
            continue;
        }
        kc->path = path;
        find_plans(kc, graph, strict, false, cands[path], &n_cands[path]);
    }
    tq_clear_error(); /* cuDNN refusals above are not errors of this node */
    if (kc->gemm) {
        conv_cand *c = &cands[PATH_GEMM][0];
        memset(c, 0, sizeof(*c));
        c->ws = (int64_t)conv_gemm_ws(kc);
        c->eng = -1;
        c->ms = -1.0f;
        n_cands[PATH_GEMM] = 1;
    }
    for (int path = PATH_FUSED; path < CONV_N_PATHS; path++) {
        if (!n_cands[path]) {
            continue;
        }
        kc->path = path;
        if (path != PATH_GEMM && (st = repack_bias(kc, b)) != TFMQ_OK) {
            return st;
        }
        /* also for a single candidate: a plan that finalizes may still fail to run */
        if ((st = autotune(kc, cands[path], n_cands[path], p->dev->stream, false)) != TFMQ_OK) {
            return st;
        }
        for (int32_t i = 0; i < n_cands[path]; i++) {
            if (cands[path][i].ms >= 0.0f &&
                (best[path] < 0 || cands[path][i].ms < cands[path][best[path]].ms)) {
                best[path] = i;
            }
        }
    }
    /* the fastest path; ties go to the earlier (the fused graph) */
    int chosen = PATH_DIRECT;
    for (int path = PATH_FUSED; path < CONV_N_PATHS; path++) {
        if (best[path] >= 0 && (chosen == PATH_DIRECT ||
                                cands[path][best[path]].ms < cands[chosen][best[chosen]].ms)) {
            chosen = path;
        }
    }
    const char *force = getenv("TFMQ_CUDA_CONV_GEMM");
    if (best[PATH_GEMM] >= 0 && force && strcmp(force, "force") == 0) {
        chosen = PATH_GEMM;
    }
    for (int path = PATH_FUSED; path <= PATH_CUDNN_EPI; path++) {
        for (int32_t i = 0; i < n_cands[path]; i++) {
            if (path != chosen || i != best[path]) {
                desc_drop(kc, cands[path][i].plan);
            }
        }
    }
    kc->path = chosen;
    kc->base.workspace_bytes = 0;
    if (chosen != PATH_DIRECT) {
        *best_out = cands[chosen][best[chosen]];
        kc->plan = best_out->plan;
        kc->base.workspace_bytes = (size_t)best_out->ws;
    }
    return TFMQ_OK;
}

/* quick_plans (exec.h; calibration): no timing. A 1x1 convolution's matmul when gemm.c took it
 * (cuDNN's strict FP32 engines run those 3-5x slower), else the first plan in the heuristics'
 * order (the whole node in one graph, then the convolution and our epilogue) that runs once on
 * scratch buffers, else our direct kernel. Sets what conv_autotune sets. */
static tfmq_status conv_first_plan(conv_kernel *kc, const tq_cuda_prep *p, const tq_tensor *b,
                                   bool strict, conv_cand *best_out)
{
    const bool has_epi = kc->has_bias || kc->has_res || kc->act.kind != TQ_FUSED_ACT_NONE;
    tfmq_status st;
    memset(best_out, 0, sizeof(*best_out));
    best_out->eng = -1;
    best_out->ms = -1.0f;
    kc->base.workspace_bytes = 0;
    if (kc->gemm) {
        conv_cand c;
        memset(&c, 0, sizeof(c));
        c.ws = (int64_t)conv_gemm_ws(kc);
        c.eng = -1;
        c.ms = -1.0f;
        kc->path = PATH_GEMM;
        if ((st = autotune(kc, &c, 1, p->dev->stream, true)) != TFMQ_OK) {
            return st;
        }
        if (c.ms >= 0.0f) {
            *best_out = c;
            kc->base.workspace_bytes = (size_t)c.ws;
            tq_log(TFMQ_LOG_DEBUG, "cuda conv %s: quick plan: gemm", kc->label);
            return TFMQ_OK;
        }
    }
    for (int path = PATH_FUSED; path <= PATH_CUDNN_EPI && kc->g.cg > 1; path++) {
        conv_cand cands[CONV_MAX_STRICT_CANDIDATES];
        int32_t n_cands = 0, chosen = -1;
        cudnnBackendDescriptor_t graph = NULL;
        if ((path == PATH_CUDNN_EPI && !has_epi) ||
            build_graph(kc, path == PATH_FUSED, &graph) != CUDNN_STATUS_SUCCESS) {
            tq_clear_error();
            continue;
        }
        kc->path = path;
        find_plans(kc, graph, strict, true, cands, &n_cands);
        tq_clear_error(); /* cuDNN refusals are not errors of this node */
        if (n_cands && (st = repack_bias(kc, b)) != TFMQ_OK) {
            return st;
        }
        for (int32_t i = 0; i < n_cands && chosen < 0; i++) {
            kc->path = path;
            if ((st = autotune(kc, &cands[i], 1, p->dev->stream, true)) != TFMQ_OK) {
                return st;
            }
            chosen = cands[i].ms >= 0.0f ? i : -1;
        }
        for (int32_t i = 0; i < n_cands; i++) {
            if (i != chosen) {
                desc_drop(kc, cands[i].plan);
            }
        }
        if (chosen >= 0) {
            kc->path = path;
            *best_out = cands[chosen];
            kc->plan = best_out->plan;
            kc->base.workspace_bytes = (size_t)best_out->ws;
            tq_log(TFMQ_LOG_DEBUG, "cuda conv %s: quick plan: %s eng%lld", kc->label,
                   PATH_NAMES[path], (long long)best_out->eng);
            return TFMQ_OK;
        }
    }
    kc->path = PATH_DIRECT;
    tq_log(TFMQ_LOG_DEBUG, "cuda conv %s: quick plan: direct", kc->label);
    return TFMQ_OK;
}

/* ---- plan cache (plan_cache.h) ---- */

static const char *store_name(tq_cuda_store st)
{
    return st == TQ_CUDA_F16 ? "f16" : (st == TQ_CUDA_BF16 ? "bf16" : "f32");
}

/* The plan cache key of the node: everything that decides which plans exist and which one is
 * fastest (the GPU and cuDNN version are the file's header). Activation parameters in C99 hex
 * floats: exact. false when it does not fit (not cached). */
static bool conv_key(const conv_kernel *kc, tq_cuda_math math, char *key, size_t cap)
{
    const conv_geom *g = &kc->g;
    const tq_fused_act *a = &kc->act;
    const int n = snprintf(
        key, cap,
        "conv:%s:%s:n%lld:c%lld:h%lld:w%lld:k%lld:r%lld:s%lld:g%lld:st%lldx%lld:dl%lldx%lld:"
        "pb%lldx%lld:pe%lldx%lld:bias%d:res%d:act=%s(%a,%a,%a)",
        store_name(kc->store), math == TQ_CUDA_MATH_TF32 ? "tf32" : "fp32", (long long)g->n,
        (long long)g->c, (long long)g->h, (long long)g->w, (long long)g->k, (long long)g->r,
        (long long)g->s, (long long)g->groups, (long long)g->stride[0], (long long)g->stride[1],
        (long long)g->dil[0], (long long)g->dil[1], (long long)g->pad_b[0],
        (long long)g->pad_b[1], (long long)g->pad_e[0], (long long)g->pad_e[1],
        (int)kc->has_bias, (int)kc->has_res,
        a->kind == TQ_FUSED_ACT_NONE ? "none" : tq_fused_act_name(a->kind), a->lo, a->hi,
        a->alpha);
    return n > 0 && (size_t)n < cap && tq_plan_cache_key_ok(key);
}

/* Record what autotuning chose for key. A choice that cannot be rebuilt later (engine or knob
 * choices unknown) is not recorded: the next session autotunes that node again. */
static void conv_record(const conv_kernel *kc, tq_plan_cache *pc, const char *key,
                        const conv_cand *best)
{
    tq_pc_choice c;
    memset(&c, 0, sizeof(c));
    snprintf(c.path, sizeof(c.path), "%s", PATH_NAMES[kc->path]);
    const bool cudnn = kc->path == PATH_FUSED || kc->path == PATH_CUDNN_EPI;
    c.engine = cudnn ? best->eng : -1;
    c.ws_bytes = kc->path == PATH_DIRECT ? 0 : best->ws;
    c.ms = best->ms >= 0.0f ? (double)best->ms / CONV_TUNE_RUNS : 0.0;
    if (cudnn && (c.engine < 0 || !tq_cudnn_cfg_knobs(best->cfg, &c))) {
        tq_log(TFMQ_LOG_DEBUG, "cuda conv %s: plan cache: engine or knobs unknown, not cached",
               kc->label);
        return;
    }
    if (tq_plan_cache_put(pc, key, &c) != TFMQ_OK) {
        tq_log(TFMQ_LOG_DEBUG, "cuda conv %s: plan cache: %s", kc->label, tfmq_last_error());
        tq_clear_error();
    }
}

/* The cached choice rebuilt: its graph, then its plan from the engine's global index and knob
 * choices (no heuristics), checked against the session's numerics (strict FP32). *cand: the
 * plan (NULL when it cannot be built or is not allowed). */
static tfmq_status conv_cached_plan(conv_kernel *kc, const tq_pc_choice *c,
                                    conv_path path, const tq_tensor *b, bool strict,
                                    conv_cand *cand)
{
    cudnnBackendDescriptor_t graph = NULL;
    const tq_cudnn_owner own = {kc->descs, &kc->n_descs, CONV_MAX_DESCS};
    int64_t eng = -1;
    bool rtc = false;
    memset(cand, 0, sizeof(*cand));
    cand->ms = -1.0f;
    cand->eng = c->engine;
    const double t0 = tq_now_s();
    const bool graph_ok = build_graph(kc, path == PATH_FUSED, &graph) == CUDNN_STATUS_SUCCESS;
    const double t1 = tq_now_s();
    const bool plan_ok = graph_ok &&
                         tq_cudnn_plan_from_choice(&own, kc->handle, graph, c, CONV_MAX_WS,
                                                   &cand->cfg, &cand->plan,
                                                   &cand->ws) == CUDNN_STATUS_SUCCESS;
    kc->ms_graph = 1e3 * (t1 - t0);
    kc->ms_plan = 1e3 * (tq_now_s() - t1);
    if (!plan_ok) {
        cand->plan = NULL;
        return TFMQ_OK;
    }
    if (!cfg_allowed(cand->cfg, strict, &eng, &rtc)) {
        desc_drop(kc, cand->plan);
        cand->plan = NULL;
        return TFMQ_OK;
    }
    kc->path = path;
    /* not run here: the plan ran when it was recorded, on the GPU, compute capability and cuDNN
     * the file's header names (a run on scratch buffers cost ~10 ms a node in allocations, half
     * of a warm ResNet-50 load); a failure would surface at the session's first run */
    cand->ms = (float)c->ms;
    return repack_bias(kc, b);
}

/* The plan of key from cuDNN's JSON kept beside the plan cache (plan_cache.h): no graph, no
 * engine config, no compilation. *cand: the plan, NULL when none is kept or cuDNN refuses it. */
static tfmq_status conv_json_plan(conv_kernel *kc, const tq_cuda_prep *p, const char *key,
                                  conv_path path, const tq_tensor *b, conv_cand *cand)
{
    const tq_cudnn_owner own = {kc->descs, &kc->n_descs, CONV_MAX_DESCS};
    memset(cand, 0, sizeof(*cand));
    cand->ms = -1.0f;
    const double t0 = tq_now_s();
    tfmq_status st = tq_cudnn_plan_load_kept(&own, kc->handle, p->plan_cache, key, p->alloc,
                                             CONV_MAX_WS, kc->label, &cand->plan, &cand->ws);
    if (st != TFMQ_OK || !cand->plan) {
        return st;
    }
    kc->ms_graph = 0.0;
    kc->ms_plan = 1e3 * (tq_now_s() - t0);
    kc->path = path;
    kc->from_json = true;
    cand->ms = 0.0f;
    return repack_bias(kc, b);
}

/* Plan the node from the cache entry for key when there is one: PATH_DIRECT as recorded, or the
 * recorded cuDNN plan rebuilt and run once. *used false (status OK): no entry, or its plan
 * cannot be built or run here (a warning says so); the caller autotunes. *eng: the engine. */
static tfmq_status conv_from_cache(conv_kernel *kc, const tq_cuda_prep *p, const char *key,
                                   const tq_tensor *w, const tq_tensor *b, const tq_tensor *r,
                                   bool strict, bool *used, int64_t *eng)
{
    const tq_pc_choice *c = tq_plan_cache_find(p->plan_cache, key);
    const bool has_epi = kc->has_bias || kc->has_res || kc->act.kind != TQ_FUSED_ACT_NONE;
    conv_cand cand;
    int path = -1;
    *used = false;
    *eng = -1;
    if (!c) {
        return TFMQ_OK;
    }
    for (int i = PATH_FUSED; i < CONV_N_PATHS; i++) {
        path = strcmp(c->path, PATH_NAMES[i]) == 0 ? i : path;
    }
    if (path == PATH_GEMM) {
        tfmq_status st = conv_gemm_prepare(kc, p, w, b, r);
        if (st != TFMQ_OK) {
            return st;
        }
    }
    if (path == PATH_DIRECT || (path == PATH_GEMM && kc->gemm)) {
        kc->path = (conv_path)path;
        kc->base.workspace_bytes = path == PATH_GEMM ? conv_gemm_ws(kc) : 0;
        *used = true;
        return TFMQ_OK;
    }
    if ((path == PATH_FUSED || path == PATH_CUDNN_EPI) && c->engine >= 0 &&
        (path == PATH_FUSED || has_epi)) {
        /* cuDNN's serialized plan when one is kept (it was recorded under this key: the same
         * numerics), else rebuilt from the engine and knob choices */
        tfmq_status st = conv_json_plan(kc, p, key, (conv_path)path, b, &cand);
        if (st == TFMQ_OK && !cand.plan) {
            st = conv_cached_plan(kc, c, (conv_path)path, b, strict, &cand);
        }
        if (st != TFMQ_OK) {
            return st;
        }
    } else {
        cand.plan = NULL;
    }
    tq_clear_error();
    if (!cand.plan) {
        tq_log(TFMQ_LOG_WARN, "cuda conv %s: the plan cache's choice (%s eng%lld) cannot be "
               "built or run here; autotuning", kc->label, c->path, (long long)c->engine);
        return TFMQ_OK;
    }
    kc->plan = cand.plan;
    kc->base.workspace_bytes = (size_t)cand.ws;
    *eng = c->engine;
    *used = true;
    tq_log(TFMQ_LOG_DEBUG, "cuda conv %s: plan cache: %s eng%lld (graph %.2f ms, plan %.2f "
           "ms%s)", kc->label, c->path, (long long)c->engine, kc->ms_graph, kc->ms_plan,
           kc->from_json ? " from JSON" : "");
    return TFMQ_OK;
}

/* kc->impl for the chosen path (eng: the cuDNN engine). */
static void conv_name(conv_kernel *kc, int64_t eng)
{
    const conv_geom *g = &kc->g;
    const bool act = kc->act.kind != TQ_FUSED_ACT_NONE;
    const char *act_name = act ? tq_fused_act_name(kc->act.kind) : "";
    if (kc->path == PATH_GEMM) {
        snprintf(kc->impl, sizeof(kc->impl), "%s:conv1x1", kc->gemm->impl);
        return;
    }
    if (kc->path == PATH_DIRECT) {
        snprintf(kc->impl, sizeof(kc->impl), "cuda:conv_%s%s%s%s%s",
                 g->cg == 1 ? "depthwise" : "direct", kc->has_bias ? "+bias" : "",
                 kc->has_res ? "+add" : "", act ? "+" : "", act_name);
        return;
    }
    const bool fused = kc->path == PATH_FUSED;
    snprintf(kc->impl, sizeof(kc->impl), "cudnn:conv%s%s%s%s%s:eng%lld",
             fused && kc->has_bias ? "+bias" : "", fused && kc->has_res ? "+add" : "",
             fused && act ? "+" : "", fused ? act_name : "", fused ? "" : "+cuda_epilogue",
             (long long)eng);
}

tfmq_status tq_cuda_prepare_conv(const tq_cuda_prep *p, tq_cuda_kernel **k_out)
{
    const tq_op_ctx *ctx = p->ctx;
    const tq_node *node = ctx->node;
    *k_out = NULL;
    if (node->op != TQ_OP_CONV && node->op != TQ_OP_FUSED_CONV) {
        return TFMQ_OK;
    }
    const tq_tensor *x = ctx->in[0], *w = ctx->in[1];
    const tq_tensor *b = ctx->n_in > 2 ? ctx->in[2] : NULL;
    const tq_tensor *r = ctx->n_in > 3 ? ctx->in[3] : NULL;
    const tq_tensor *y = ctx->out[0];
    if (!x || !w || x->dtype != TFMQ_DTYPE_FLOAT32 || w->dtype != TFMQ_DTYPE_FLOAT32 ||
        y->dtype != TFMQ_DTYPE_FLOAT32 || x->rank != 4 || w->rank != 4 || !w->data ||
        (b && (b->dtype != TFMQ_DTYPE_FLOAT32 || !b->data || b->rank != 1)) ||
        (r && (r->dtype != TFMQ_DTYPE_FLOAT32 || r->rank != 4)) ||
        !tq_tensor_shape_known(x) || !tq_tensor_shape_known(y)) {
        return TFMQ_OK;
    }
    if (p->in_layout[0] != TQ_LAYOUT_NHWC || p->out_layout[0] != TQ_LAYOUT_NHWC ||
        (r && p->in_layout[3] != TQ_LAYOUT_NHWC)) {
        return TFMQ_OK;
    }
    tq_fused_act act;
    memset(&act, 0, sizeof(act));
    tfmq_status st;
    if (node->op == TQ_OP_FUSED_CONV && (st = tq_fused_act_read(ctx, &act)) != TFMQ_OK) {
        return st;
    }
    conv_geom g;
    bool ok;
    if ((st = geom_init(ctx, &g, &ok)) != TFMQ_OK) {
        return st;
    }
    if (!ok || w->dims[0] != g.k || w->dims[1] != g.cg || w->dims[2] != g.r ||
        w->dims[3] != g.s || (b && b->dims[0] != g.k)) {
        return TFMQ_OK;
    }
    if (r) {
        for (int i = 0; i < 4; i++) {
            if (r->dims[i] != y->dims[i]) {
                return TFMQ_OK;
            }
        }
    }

    conv_kernel *kc = tq_calloc(p->alloc, 1, sizeof(*kc));
    if (!kc) {
        return tq_op_fail(ctx, TFMQ_ERR_OUT_OF_MEMORY, "%zu bytes", sizeof(*kc));
    }
    kc->base.run = conv_run;
    kc->base.destroy = conv_destroy;
    kc->base.alloc = p->alloc;
    kc->base.impl = kc->impl;
    kc->base.own_consts = (1u << 1) | (b ? 1u << 2 : 0u);
    kc->g = g;
    kc->store = p->store;
    kc->act = act;
    kc->has_bias = b != NULL;
    kc->has_res = r != NULL;
    kc->y_numel = tq_tensor_numel(y);
    kc->handle = (cudnnHandle_t)p->dev->cudnn;
    {
        char lb[64];
        snprintf(kc->label, sizeof(kc->label), "'%s' (%s)",
                 tq_node_label(ctx->graph, node, lb, sizeof(lb)), tq_op_table[node->op].name);
    }
    const bool strict = p->store == TQ_CUDA_F32 && p->math == TQ_CUDA_MATH_FP32;
    const bool quick = p->quick_plans;
    char key[TQ_PC_MAX_KEY];
    bool done = false;
    int64_t eng = -1;

    /* depthwise convolutions always run our kernel: nothing to tune, nothing to cache. The
     * matmul of a 1x1 (conv_gemm_prepare) is built only where it may run: when autotuning, or
     * when the plan cache or an earlier node of the same key chose it (a warm load builds no
     * matmul it then drops); the KRSC weights likewise only for the other paths */
    const bool keyed = (p->plan_cache || p->share) && g.cg > 1 &&
                       conv_key(kc, p->math, key, sizeof(key));
    const bool cached = keyed && p->plan_cache;
    const tq_pc_shared *sh = keyed ? tq_pc_share_find(p->share, key) : NULL;
    if (sh) { /* an earlier node of this exec built the plan: borrow it */
        for (int i = PATH_FUSED; i < CONV_N_PATHS; i++) {
            kc->path = strcmp(sh->path, PATH_NAMES[i]) == 0 ? (conv_path)i : kc->path;
        }
        kc->plan = sh->plan;
        kc->base.workspace_bytes = (size_t)sh->ws_bytes;
        eng = sh->engine;
        /* a matmul is per node (its own weights); the same key gives the same choice */
        if (kc->path == PATH_GEMM) {
            TQ_TRY(st, conv_gemm_prepare(kc, p, w, b, r));
        }
        done = kc->path != PATH_GEMM || kc->gemm;
    }
    if (cached && !done) {
        TQ_TRY(st, conv_from_cache(kc, p, key, w, b, r, strict, &done, &eng));
        tq_plan_cache_count(p->plan_cache, done);
    }
    if (!done) {
        conv_cand best;
        if (!kc->gemm) {
            TQ_TRY(st, conv_gemm_prepare(kc, p, w, b, r));
        }
        TQ_TRY(st, pack_weights(kc, (const float *)w->data));
        if (quick) {
            TQ_TRY(st, conv_first_plan(kc, p, b, strict, &best));
        } else {
            TQ_TRY(st, conv_autotune(kc, p, b, strict, &best));
        }
        eng = best.eng;
        if (cached && !quick) { /* an untimed choice is not the fastest: not recorded */
            conv_record(kc, p->plan_cache, key, &best);
        }
    }
    /* whichever way the path was chosen, keep only what it runs */
    if (kc->path != PATH_GEMM && kc->gemm) {
        kc->gemm->destroy(kc->gemm);
        kc->gemm = NULL;
    }
    if (kc->path == PATH_GEMM && kc->d_w) {
        cudaFree(kc->d_w);
        kc->d_w = NULL;
    }
    if (kc->path != PATH_GEMM) {
        if (!kc->d_w) {
            TQ_TRY(st, pack_weights(kc, (const float *)w->data));
        }
        TQ_TRY(st, repack_bias(kc, b));
    }
    conv_name(kc, eng);
    if (cached && !sh && kc->plan && !kc->from_json && !quick) {
        tq_cudnn_plan_keep(p->plan_cache, key, kc->plan, p->alloc);
    }
    if (keyed && !sh && kc->path != PATH_DIRECT && (kc->plan || kc->path == PATH_GEMM)) {
        tq_pc_share_add(p->share, key, PATH_NAMES[kc->path], eng,
                        (int64_t)kc->base.workspace_bytes, kc->plan);
    }
    *k_out = &kc->base;
    return TFMQ_OK;
fail:
    conv_destroy(&kc->base);
    return st;
}
