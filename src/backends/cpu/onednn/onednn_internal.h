/* onednn_internal.h: what the files of the oneDNN family (backends/cpu/onednn/) share: the
 * kernel state every prepared primitive uses, the helpers that build it (runtime-bound arguments,
 * constants reordered once, the user scratchpad), oneDNN status translation, and the per-op
 * planners and preparers.
 *
 * One kernel = one oneDNN primitive created at prepare time, plus the memory objects of its
 * arguments. Activations are "bound": their memory objects are created without data and get the
 * tensor's pointer at each run (dnnl_memory_set_data_handle). Constants (weights, bias) are
 * reordered once into buffers the kernel owns, in the format the primitive chose. The scratchpad
 * is user-managed and allocated at prepare, so a run only sets pointers and executes. When the
 * primitive computes in another layout than a tensor has (a convolution between NCHW and NHWC
 * neighbours), reorder stages convert through buffers allocated at prepare. Each kernel
 * has its own stream (a session runs on one thread at a time; kernels of different sessions may
 * run concurrently, and oneDNN primitives are safe to execute concurrently). The engine is one per
 * process. */
#ifndef TQ_CPU_ONEDNN_INTERNAL_H
#define TQ_CPU_ONEDNN_INTERNAL_H

#include <oneapi/dnnl/dnnl.h>

#include "backends/cpu/cpu.h"

#define TQ_ONEDNN_MAX_ARGS 10   /* arguments of the main primitive */
#define TQ_ONEDNN_MAX_MEMS 16   /* memory objects of a kernel */
#define TQ_ONEDNN_MAX_STAGES 3  /* layout reorders around the main primitive */
#define TQ_ONEDNN_BIND_OUT (-2) /* bound to output 0 */

/* A memory object whose data pointer is set at each run: ctx->in[slot] or output 0. */
typedef struct tq_onednn_bound {
    dnnl_memory_t mem;
    int32_t slot;                  /* input index, or TQ_ONEDNN_BIND_OUT */
} tq_onednn_bound;

/* A reorder run before (an input into the layout the primitive computes in) or after (the
 * result into output 0's layout) the main primitive. */
typedef struct tq_onednn_stage {
    dnnl_primitive_t prim;
    dnnl_memory_t from, to;
    bool skip_same;                /* a copy that is skipped when from and to share the data */
} tq_onednn_stage;

typedef struct tq_onednn_kernel {
    tq_cpu_kernel base;            /* first: the exec sees a tq_cpu_kernel */
    dnnl_primitive_t prim;
    dnnl_stream_t stream;
    int32_t n_args;
    dnnl_exec_arg_t args[TQ_ONEDNN_MAX_ARGS];
    int32_t n_bound;
    tq_onednn_bound bound[TQ_ONEDNN_MAX_MEMS];
    int32_t n_mems;                /* every memory object, destroyed with the kernel */
    dnnl_memory_t mems[TQ_ONEDNN_MAX_MEMS];
    void *bufs[TQ_ONEDNN_MAX_MEMS];/* buffers the kernel owns (constants, scratchpad, staging) */
    size_t buf_bytes[TQ_ONEDNN_MAX_MEMS];
    int32_t n_bufs;
    int32_t n_pre, n_post;
    tq_onednn_stage pre[TQ_ONEDNN_MAX_STAGES], post[TQ_ONEDNN_MAX_STAGES];
    char impl[112];                /* "onednn:" + the implementation oneDNN chose */
} tq_onednn_kernel;

/* ---- core (onednn.c) ---- */
/* A oneDNN status as a tfmq failure naming the node and what failed. */
tfmq_status tq_cpu_onednn_fail(const tq_op_ctx *ctx, dnnl_status_t s, const char *what);
/* The process-wide CPU engine (created once, thread-safe). */
tfmq_status tq_cpu_onednn_engine(const tq_op_ctx *ctx, dnnl_engine_t *eng_out);
/* A memory descriptor of a dense tensor: dims in logical order with a format tag. */
void tq_cpu_onednn_md(dnnl_memory_desc_t *md, int nd, const int64_t *dims, dnnl_data_type_t dt,
                      dnnl_format_tag_t tag);
/* The dnnl tag of a rank-4 activation in layout `layout` (tq_layout). */
dnnl_format_tag_t tq_cpu_onednn_act_tag(uint8_t layout);
/* The dnnl data type of a tfmq dtype (f32, s8, u8, s32), or dnnl_data_type_undef. */
dnnl_data_type_t tq_cpu_onednn_dt(tfmq_dtype dt);
/* The node carries passes/strip_half.c's mark `compute=bf16` (its weights were BF16). */
bool tq_cpu_onednn_compute_bf16(const tq_node *node);

/* Create a primitive descriptor for op descriptor `desc` under `attr` with the run's thread
 * count in effect (oneDNN sizes work splits and scratchpads by it). *pd_out is NULL when oneDNN
 * has no implementation (*unimpl set); other failures are errors naming the node. */
tfmq_status tq_cpu_onednn_pd_create(const tq_cpu_prep *p, const void *desc,
                                    const_dnnl_primitive_attr_t attr, dnnl_primitive_desc_t *pd_out,
                                    bool *unimpl);
/* The same, passing over implementations whose name contains `avoid` (oneDNN's list in its
 * order of preference) for the first other one that is not its reference code; oneDNN's first
 * choice where there is none. */
tfmq_status tq_cpu_onednn_pd_create_avoiding(const tq_cpu_prep *p, const void *desc,
                                             const_dnnl_primitive_attr_t attr,
                                             dnnl_primitive_desc_t *pd_out, bool *unimpl,
                                             const char *avoid);
/* A new kernel for primitive descriptor `pd` (the kernel takes pd's implementation name; the
 * caller still destroys pd): stream, primitive and the user scratchpad. */
tfmq_status tq_cpu_onednn_kernel_new(const tq_cpu_prep *p, const_dnnl_primitive_desc_t pd,
                                     tq_onednn_kernel **k_out);
/* Argument `arg` described by `md`, bound at each run to ctx->in[slot] (or output 0 with
 * TQ_ONEDNN_BIND_OUT). */
tfmq_status tq_cpu_onednn_bind(tq_onednn_kernel *k, const tq_op_ctx *ctx, int arg,
                               const dnnl_memory_desc_t *md, int32_t slot);
/* The same for a tensor laid out as `user_md` while the primitive reads or writes `prim_md`:
 * when they differ, the argument is a buffer the kernel owns and a reorder stage converts
 * between it and the tensor at each run (before the primitive for inputs, after it for output
 * 0). */
tfmq_status tq_cpu_onednn_bind_staged(const tq_cpu_prep *p, tq_onednn_kernel *k, int arg,
                                      const dnnl_memory_desc_t *prim_md,
                                      const dnnl_memory_desc_t *user_md, int32_t slot);
/* A stage run before the primitive that copies ctx->in[slot] (laid out as `user_md`) into the
 * memory of argument `arg` (for a sum post-op, which accumulates onto the destination); skipped
 * when both are the same data. */
tfmq_status tq_cpu_onednn_copy_in(const tq_cpu_prep *p, tq_onednn_kernel *k, int32_t slot,
                                  const dnnl_memory_desc_t *user_md, int arg);
/* Argument `arg` as a constant: `data` laid out as `user_md` is reordered once (with the
 * prepare's thread count) into a buffer the kernel owns, in the primitive's `prim_md`. */
tfmq_status tq_cpu_onednn_const(const tq_cpu_prep *p, tq_onednn_kernel *k, int arg,
                                const dnnl_memory_desc_t *prim_md,
                                const dnnl_memory_desc_t *user_md, void *data);
/* Free everything the kernel owns (also the destroy function of every oneDNN kernel). */
void tq_cpu_onednn_kernel_free(tq_onednn_kernel *k);

/* ---- activations of the fused ops as eltwise post-ops (onednn.c) ---- */
struct tq_fused_act;
tfmq_status tq_cpu_onednn_append_act(const tq_op_ctx *ctx, dnnl_post_ops_t po,
                                     const struct tq_fused_act *act);

/* ---- convolutions (onednn_conv.c) ---- */
bool tq_cpu_onednn_conv_takes(const tq_op_ctx *ctx);  /* Conv, tfmq.FusedConv, tfmq.QConv */
tfmq_status tq_cpu_onednn_prepare_conv(const tq_cpu_prep *p, tq_cpu_kernel **k_out);

/* ---- matrix products (onednn_matmul.c) ---- */
bool tq_cpu_onednn_matmul_takes(const tq_op_ctx *ctx); /* Gemm, FusedGemm, MatMul, QGemm */
tfmq_status tq_cpu_onednn_prepare_matmul(const tq_cpu_prep *p, tq_cpu_kernel **k_out);

/* ---- integer requantisation as oneDNN attributes (onednn_int8.c) ---- */
typedef struct tq_onednn_q {
    tfmq_dtype x_dt, y_dt;
    float x_scale, y_scale;
    const float *w_scale; /* n_ws entries (1 or n_oc) */
    size_t n_ws, n_oc;
    int32_t x_zp, y_zp;
    int32_t lo, hi;       /* output clamp in the quantised domain (tq_ql_bounds) */
    const tq_tensor *bias;/* int32 [n_oc], constant, or NULL */
} tq_onednn_q;

/* Whether QConv / QGemm parameters allow the oneDNN path for n_oc output channels: every
 * parameter constant, weight zero points all 0, finite scales, a CPU with VNNI (oneDNN's
 * pre-VNNI int8 kernels saturate 16-bit pair sums, which the definition does not). Fills *q. */
bool tq_cpu_onednn_q_read(const tq_op_ctx *ctx, int64_t n_oc, tq_onednn_q *q);
/* Set the per-channel output scales on `attr` (mask `oc_mask`), the source and destination zero
 * points and, when the activation narrows the output range, an eltwise clip post-op. */
tfmq_status tq_cpu_onednn_q_attr(const tq_cpu_prep *p, const tq_onednn_q *q, int oc_mask,
                                 dnnl_primitive_attr_t attr);

#endif
