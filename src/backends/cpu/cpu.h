/* cpu.h: the fast CPU backend (ARCHITECTURE.md, "backends/cpu").
 *
 * The executor (runtime/exec.c) asks this backend, once per node when it plans a session, for a
 * prepared kernel; a node the backend does not take runs its reference kernel
 * (backends/ref). Two families prepare kernels:
 *  - onednn/: convolutions and matrix products through oneDNN's C API (Debian libdnnl-dev):
 *    Conv, tfmq.FusedConv, tfmq.QConv, Gemm, tfmq.FusedGemm, MatMul, tfmq.QGemm. Primitives,
 *    packed weights and scratchpads are made at prepare time; a run only sets data pointers.
 *  - simd/: our own vectorised kernels (AVX-512, AVX2 and portable C, chosen by
 *    tq_cpu_isa_level()) for element-wise ops, pooling, softmax, layer norm,
 *    QuantizeLinear/DequantizeLinear, tfmq.QAdd and constant-mode Pad (row copies).
 *
 * Layouts. The IR's shapes are always NCHW. Between kernels that can, rank-4 activations are
 * kept channels-last (NHWC) in memory while their tq_tensor shape still reads NCHW; the exec
 * decides per value from the roles below and tells each kernel the layout of each of its inputs
 * and outputs. Graph inputs and outputs, constants and values read by an observer
 * (calibration, reports) are always NCHW.
 *
 * Threads: kernels run on the OpenMP runtime that oneDNN uses (one pool for both); the exec sets
 * the thread count around each run (tq_cpu_threads_enter/leave). */
#ifndef TQ_CPU_H
#define TQ_CPU_H

#include "ir/ir.h"

/* ---- instruction-set level, detected once (cpuid), capped by TFMQ_CPU_ISA ---- */
typedef enum tq_cpu_isa {
    TQ_CPU_ISA_SCALAR = 0,      /* portable C only; the fast backend is off (reference kernels) */
    TQ_CPU_ISA_AVX2 = 1,        /* AVX2 + FMA */
    TQ_CPU_ISA_AVX512 = 2,      /* AVX-512 F/BW/DQ/VL */
    TQ_CPU_ISA_AVX512_VNNI = 3, /* + VNNI (vpdpbusd) */
    TQ_CPU_ISA_AVX512_BF16 = 4, /* + BF16 (vdpbf16ps) */
    TQ_CPU_ISA_AMX = 5          /* + AMX tiles for int8 and bf16 (Sapphire Rapids and later),
                                   the OS permitting them: oneDNN's convolutions and matmuls
                                   only; our own kernels stay at AVX512_BF16 */
} tq_cpu_isa;

/* The level in use: the CPU's, lowered by the environment variable TFMQ_CPU_ISA
 * (scalar | avx2 | avx512 | avx512_vnni | avx512_bf16 | amx; a level above the CPU's is lowered
 * to the CPU's). Thread-safe; the first call decides for the whole process and also caps
 * oneDNN (dnnl_set_max_cpu_isa). */
tq_cpu_isa tq_cpu_isa_level(void);
const char *tq_cpu_isa_name(tq_cpu_isa isa);
/* The CPU's own level, before TFMQ_CPU_ISA. */
tq_cpu_isa tq_cpu_isa_detected(void);
/* Default thread count of a session: the physical cores available to the process (>= 1). */
int32_t tq_cpu_default_threads(void);

/* ---- threads (OpenMP runtime shared with oneDNN) ---- */
/* Set the calling thread's OpenMP thread count to n for a run; returns the previous count for
 * tq_cpu_threads_leave. Without OpenMP support in the build both do nothing. */
int32_t tq_cpu_threads_enter(int32_t n);
void tq_cpu_threads_leave(int32_t prev);
/* Run fn(ctx, i0, i1) over [0, n) split into at most n_threads contiguous chunks of at least
 * `grain` items (all on the calling thread when n_threads <= 1 or n < 2 * grain). */
typedef void (*tq_cpu_range_fn)(void *ctx, size_t i0, size_t i1);
void tq_cpu_parallel_for(size_t n, size_t grain, int32_t n_threads, tq_cpu_range_fn fn,
                         void *ctx);

/* ---- layouts ---- */
typedef enum tq_layout {
    TQ_LAYOUT_NCHW = 0, /* the IR's layout (any rank): what the shape says */
    TQ_LAYOUT_NHWC = 1  /* rank 4 only: memory [N][H][W][C] for shape [N, C, H, W] */
} tq_layout;

/* What a node allows for the layouts of its rank-4 activation inputs and outputs. */
typedef enum tq_cpu_role {
    TQ_CPU_ROLE_PLAIN = 0, /* NCHW only (the backend may still take the node in NCHW) */
    TQ_CPU_ROLE_ANY = 1,   /* input 0 and output 0 each NCHW or NHWC, independently (convs,
                              pools); a residual input (FusedConv in[3]) too: the kernel reads
                              it through a reorder stage where it differs from output 0's */
    TQ_CPU_ROLE_SAME = 2   /* every rank-4 input and output 0 share one layout, either (element-
                              wise ops over equal shapes, QAdd, per-tensor Q/DQ) */
} tq_cpu_role;

/* ---- prepared kernels ---- */
typedef struct tq_cpu_kernel tq_cpu_kernel;
typedef tfmq_status (*tq_cpu_run_fn)(tq_cpu_kernel *k, tq_op_ctx *ctx);
typedef void (*tq_cpu_destroy_fn)(tq_cpu_kernel *k);
/* Every kernel state starts with this header (allocated with `alloc`, freed by destroy). */
struct tq_cpu_kernel {
    tq_cpu_run_fn run;         /* ctx as for the reference kernel: same tensors, data set */
    tq_cpu_destroy_fn destroy; /* frees everything the kernel owns, the state itself included */
    const tfmq_allocator *alloc;
    const char *impl;          /* for inspection and logs, e.g. "onednn:brg:avx512_core" */
};

typedef struct tq_cpu_prep {
    const tq_op_ctx *ctx;     /* shapes inferred and static; constants (weights) have data,
                                 activations do not (data pointers change per run) */
    const uint8_t *in_layout; /* tq_layout per input (ctx->n_in entries) */
    const uint8_t *out_layout;/* tq_layout per output */
    int32_t n_threads;        /* threads the run will use (>= 1) */
    tq_cpu_isa isa;           /* tq_cpu_isa_level(), > SCALAR */
    const tfmq_allocator *alloc;
    const uint8_t *in_bf16;   /* per input: 1 when the float32 tensor is stored as BF16 (only
                                 between BF16 convolutions, tq_cpu_dnnl_bf16_io); NULL: none */
    const uint8_t *out_bf16;  /* per output, likewise */
    bool out0_over_residual;  /* FusedConv: output 0 is written over the residual (input 3),
                                 the exec's in-place residual; false when not given */
} tq_cpu_prep;

/* Each family sets *k_out to a new kernel, or to NULL when it does not take the node (its
 * reference kernel then runs). A non-OK status is a failure the plan reports (out of memory, a
 * oneDNN error), with the node named. Contract with the exec: when the family's role for the
 * node is not PLAIN, prepare never returns NULL for layouts that the role allows. */
tfmq_status tq_cpu_prepare_dnnl(const tq_cpu_prep *p, tq_cpu_kernel **k_out);
tfmq_status tq_cpu_prepare_simd(const tq_cpu_prep *p, tq_cpu_kernel **k_out);
/* Whether the node is a convolution computing in BF16 (compute = "bf16", AVX512_BF16) that can
 * read its source and residual and write its output as BF16 storage: the exec then keeps the
 * float32 values between two such nodes in BF16 (half the memory traffic, no conversion pass). */
bool tq_cpu_dnnl_bf16_io(const tq_op_ctx *ctx, tq_cpu_isa isa);
/* Roles, from the node and its inferred shapes (ctx as in tq_cpu_prep, any isa > SCALAR). */
tq_cpu_role tq_cpu_dnnl_role(const tq_op_ctx *ctx);
tq_cpu_role tq_cpu_simd_role(const tq_op_ctx *ctx);

#endif
