/* cuda.h: the CUDA backend (ARCHITECTURE.md, "backends/cuda"), built when CMake finds a CUDA
 * toolkit (TFMQ_CUDA, on by default where nvcc exists; TFMQ_HAVE_CUDA is then defined).
 *
 * A session on `--device cuda` runs its whole graph on one GPU through runtime/cuda_exec.c: the
 * host exec (runtime/exec.c) plans shapes and folds constants, then the CUDA exec
 *  - decides the memory layout of every rank-4 activation (NHWC between convolutions, pools and
 *    element-wise ops; NCHW where an op needs the IR's layout) and inserts layout changes,
 *  - stores every float32 activation in the session's storage type (float32, float16 or
 *    bfloat16; constants are converted once at prepare),
 *  - asks the kernel families below for a prepared kernel per node, in this order:
 *      conv.c    Conv, tfmq.FusedConv through the cuDNN 9 graph (backend) API, epilogue fused
 *      qconv.c   tfmq.QConv (cuDNN INT8 graph or our kernel), tfmq.QGemm, tfmq.QAdd
 *      gemm.c    Gemm, tfmq.FusedGemm, MatMul through cuBLASLt
 *      kernels.cu our own kernels for everything else (element-wise, pools, softmax, ...)
 *    and falls back to the reference kernel on the host for a node none takes (inputs copied to
 *    the host and back: correct, slow, reported by tfmq_session_info),
 *  - plans one device workspace by lifetime (as the host exec does), uploads constants, and
 *  - runs: inputs copied in, every kernel launched on one stream, outputs copied out; with no
 *    host fallback the launches are captured once into a CUDA graph and replayed.
 *
 * Layout convention. The IR's shapes are always NCHW; a prepared kernel is told the memory
 * layout of each rank-4 input and output (tq_layout of backends/cpu/cpu.h: NCHW or NHWC, where
 * NHWC means memory [N][H][W][C] for shape [N, C, H, W]). Tensors of other ranks are row-major.
 *
 * Storage. A float32 tensor of the IR is stored on the device as `store` (tq_cuda_store) when it
 * is an activation; integer and bool tensors keep their dtype. Constant inputs reach a kernel as
 * host data in ctx (prepare time); a kernel that packs a constant itself (weights, bias) says so
 * in own_consts, and the exec uploads every other constant input in the storage type and passes
 * its device pointer in args->in like an activation.
 *
 * The library never prints: kernels return statuses with messages naming the node (tq_op_fail);
 * tq_cuda_check() turns CUDA, cuDNN and cuBLASLt errors into TFMQ_ERR_BACKEND. */
#ifndef TQ_CUDA_H
#define TQ_CUDA_H

#include "backends/cuda/plan_cache.h"
#include "ir/ir.h"

/* Storage type of float32 activations on the device. */
typedef enum tq_cuda_store {
    TQ_CUDA_F32 = 0,
    TQ_CUDA_F16 = 1,
    TQ_CUDA_BF16 = 2
} tq_cuda_store;

/* Math a float32 session allows in cuDNN and cuBLASLt: strict FP32 or TF32 tensor cores. */
typedef enum tq_cuda_math {
    TQ_CUDA_MATH_FP32 = 0,
    TQ_CUDA_MATH_TF32 = 1
} tq_cuda_math;

/* One device context per session: the device, its stream and library handles (void * so that
 * this header needs no CUDA header; conv.c casts to cudnnHandle_t, gemm.c to
 * cublasLtHandle_t, kernels to cudaStream_t). */
typedef struct tq_cuda_dev {
    int device;             /* CUDA device ordinal */
    int sm;                 /* compute capability, major * 10 + minor (90 on Hopper) */
    int n_sms;              /* multiprocessors */
    char name[128];         /* e.g. "NVIDIA H100 80GB HBM3" */
    int64_t cudnn_version;  /* cudnnGetVersion() of the loaded library, e.g. 91900 */
    void *stream;           /* cudaStream_t: every kernel of the session runs on it */
    void *cudnn;            /* cudnnHandle_t, bound to stream */
    void *cublaslt;         /* cublasLtHandle_t */
} tq_cuda_dev;

/* ---- prepared kernels ---- */
typedef struct tq_cuda_kernel tq_cuda_kernel;

/* What a run gives a kernel: device pointers per input and output (NULL for an absent optional
 * input, and for an input the kernel marked in own_consts), its workspace and the stream. */
typedef struct tq_cuda_args {
    void *const *in;
    void *const *out;
    void *workspace;        /* workspace_bytes of device memory, 256-byte aligned, or NULL */
    void *stream;           /* cudaStream_t (the session's) */
} tq_cuda_args;

typedef tfmq_status (*tq_cuda_run_fn)(tq_cuda_kernel *k, const tq_cuda_args *a);
typedef void (*tq_cuda_destroy_fn)(tq_cuda_kernel *k);

/* Every kernel state starts with this header (allocated with `alloc`, freed by destroy, which
 * also frees the device memory the kernel owns). run only enqueues work on a->stream: it never
 * synchronizes, allocates or copies to or from the host, so that a run can be captured into a
 * CUDA graph. */
struct tq_cuda_kernel {
    tq_cuda_run_fn run;
    tq_cuda_destroy_fn destroy;
    const tfmq_allocator *alloc;
    const char *impl;        /* for inspection, e.g. "cudnn:conv+bias+relu", "cuda:pool_max" */
    size_t workspace_bytes;  /* device scratch a run needs (set at prepare) */
    uint32_t own_consts;     /* bit k set: the kernel uploaded constant input k itself */
    bool fused_add;          /* it took the QAdd offered in tq_cuda_prep.add */
};

typedef struct tq_cuda_prep {
    const tq_op_ctx *ctx;     /* shapes inferred and static (NCHW); constant inputs have host
                                 data (float32 weights etc.), activations have data == NULL */
    const uint8_t *in_layout; /* tq_layout per input (ctx->n_in entries) */
    const uint8_t *out_layout;/* tq_layout per output */
    tq_cuda_store store;      /* storage of float32 activations */
    tq_cuda_math math;        /* float32 sessions: strict FP32 or TF32 */
    tq_cuda_dev *dev;
    const tfmq_allocator *alloc;
    tq_plan_cache *plan_cache;/* conv and qconv: choices recorded earlier (plan_cache.h), looked
                                 up before autotuning and added to after it; NULL: none */
    tq_pc_share *share;       /* conv and qconv: finalized plans of earlier nodes of this exec
                                 with the same key, borrowed (plan_cache.h); NULL: none */
    bool quick_plans;         /* conv: the first heuristic plan that runs, untimed, nothing
                                 recorded (tq_cuda_exec_opts.quick_plans: calibration) */
    /* qconv: the tfmq.QAdd that alone reads this QConv's output, offered for fusion by the exec
     * (NULL: none): its context (shapes; constant parameters with host data) and the slot, 0
     * or 3, where it reads the convolution; its other operand, the residual, is NHWC. A kernel
     * that fuses it sets tq_cuda_kernel.fused_add: its run then reads the residual from
     * args->in[TQ_CUDA_ADD_RESIDUAL] and writes the QAdd's output (args->out[0]); the
     * convolution's own output is never made, and the QAdd node runs nothing. */
    const tq_op_ctx *add;
    int32_t add_conv_slot;
} tq_cuda_prep;

/* args->in slot of the residual of a kernel that fused a QAdd (tq_cuda_prep.add) */
#define TQ_CUDA_ADD_RESIDUAL (TQ_MAX_IO - 1)

/* Each family sets *k_out to a new kernel, or to NULL when it does not take the node (the next
 * family is asked; the host fallback runs a node none takes). A non-OK status is a failure that
 * the plan reports, with the node named. Layout contract with the exec:
 *  - conv.c receives rank-4 data input, residual and output in NHWC (the exec converts);
 *    so does qconv.c for tfmq.QConv (input 0 and the output);
 *  - the pools (MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool) receive NHWC or NCHW,
 *    input and output in the same layout;
 *  - tq_cuda_layout_free() ops receive all rank-4 activation inputs and the output in one
 *    layout, either; rank-4 constant inputs (broadcast operands) are always NCHW row-major;
 *  - every other op receives NCHW. */
tfmq_status tq_cuda_prepare_conv(const tq_cuda_prep *p, tq_cuda_kernel **k_out);
tfmq_status tq_cuda_prepare_gemm(const tq_cuda_prep *p, tq_cuda_kernel **k_out);
/* qconv.c: the integer ops of lowered INT8 graphs, tfmq.QConv (data and output NHWC, cuDNN
 * INT8 graph or our direct kernel), tfmq.QGemm and tfmq.QAdd (layout-free), for constant
 * scales, zero points, weights and bias. Asked for every node before gemm.c. */
tfmq_status tq_cuda_prepare_qconv(const tq_cuda_prep *p, tq_cuda_kernel **k_out);
tfmq_status tq_cuda_prepare_kernels(const tq_cuda_prep *p, tq_cuda_kernel **k_out);

/* Ops that compute the same function in either layout given every rank-4 operand in that
 * layout: element-wise unary and binary (with broadcasting), Clip, Cast, Identity, per-tensor
 * QuantizeLinear/DequantizeLinear, BatchNormalization, tfmq.QAdd. */
bool tq_cuda_layout_free(uint32_t op);

/* ---- services of kernels.cu for the exec and the other families (all on `stream`) ---- */
/* NCHW <-> NHWC of a rank-4 tensor of element size esize (1, 2 or 4). to_nhwc: src is NCHW. */
tfmq_status tq_cuda_relayout(void *dst, const void *src, const int64_t dims[4], size_t esize,
                             bool to_nhwc, void *stream);
/* Convert n elements between float32 and the storage type (F32 <-> F16 / BF16; F32 -> F32 is a
 * copy). */
tfmq_status tq_cuda_convert(void *dst, tq_cuda_store dst_type, const void *src,
                            tq_cuda_store src_type, size_t n, void *stream);

/* Turn a CUDA runtime error code (cudaError_t as int) into TFMQ_ERR_BACKEND with a message:
 * "<what>: <cudaGetErrorString>". TFMQ_OK for cudaSuccess. */
tfmq_status tq_cuda_check(int cuda_err, const char *what);

#endif
