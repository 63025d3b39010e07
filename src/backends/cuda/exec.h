/* exec.h (backends/cuda): the CUDA exec behind sessions on device "cuda" (cuda.h describes the
 * design). It takes a graph whose host exec (runtime/exec.h) was planned with shapes_only for the
 * session's input shapes: shapes, folded constants and node states come from there. This header
 * needs no CUDA header, so runtime/session.c includes it under TFMQ_HAVE_CUDA only. */
#ifndef TQ_CUDA_EXEC_H
#define TQ_CUDA_EXEC_H

#include "backends/cuda/cuda.h"
#include "runtime/exec.h"

typedef struct tq_cuda_exec tq_cuda_exec;

typedef struct tq_cuda_exec_opts {
    int device;          /* CUDA device ordinal */
    tq_cuda_store store; /* storage of float32 activations */
    tq_cuda_math math;   /* float32 sessions: strict FP32 or TF32 */
    bool use_graph;      /* capture a run into a CUDA graph and replay it (when no node falls
                            back to the host) */
    tq_plan_cache *plan_cache; /* borrowed, NULL: none. Bound to the device (its file loaded)
                                  when the exec is made, lent to the conv families at prepare,
                                  saved when planning succeeded (a failed save is a warning) */
    bool quick_plans;    /* convolutions take the first heuristic plan that runs instead of
                            timing candidates, and record nothing in the plan cache: for an
                            exec that runs a few batches (calibration), not for sessions */
} tq_cuda_exec_opts;

/* Plan graph g on the GPU: layouts, kernels, device memory, constants uploaded.
 * host: the planned (shapes_only) host exec of g; kept and used for host fallbacks. */
tfmq_status tq_cuda_exec_create(const tq_graph *g, tq_exec *host, const tq_cuda_exec_opts *o,
                                const tfmq_allocator *alloc, tq_cuda_exec **exec_out);
void tq_cuda_exec_destroy(tq_cuda_exec *x);

/* Run once on host inputs (g->inputs order, shapes as planned). Returns when the outputs are
 * on the host: tq_cuda_exec_output(). Allocates nothing. */
tfmq_status tq_cuda_exec_run(tq_cuda_exec *x, const tq_tensor *inputs);

/* Output i (g->outputs order) of the last run, float32 NCHW on the host; owned by the exec. */
const tq_tensor *tq_cuda_exec_output(const tq_cuda_exec *x, size_t i);

/* Observation (calibration: runs the FP32 graph on the GPU and feeds host-side observers).
 * With an observer set, tq_cuda_exec_run enqueues the planned steps directly (never a CUDA
 * graph) and, right after the step that computes each wanted value (graph inputs: after their
 * upload; a view's value: after the step before it), downloads it by the path of graph outputs:
 * a tensor of its IR dtype and shape, row-major NCHW, exactly its logical elements (an NHWC
 * buffer is relaid out, a float32 value held in F16/BF16 is converted back). fn receives these
 * tensors in production order, in groups of one or more per call, while the GPU goes on with
 * the next ones (two host halves, each handed over once its downloads are done). The tensors
 * of one call are distinct buffers, valid during the call only, so fn may read them from
 * several threads. Per run, every wanted value the device computes is handed exactly once;
 * wanted values that are constants (graph constants, folded at plan time) or absent are not
 * handed. A non-OK status from fn aborts the run and is returned by tq_cuda_exec_run.
 * want: g->n_values flags (NULL: none), read during this call only. Pinned host staging (at
 * most two halves of TQ_CUDA_OBS_HALF_BYTES, or of the largest wanted value) and device
 * staging are allocated here; an observed run allocates nothing. fn NULL removes the observer
 * and frees its staging. Outputs (tq_cuda_exec_output) are downloaded as without observer.
 * Returns TFMQ_OK, TFMQ_ERR_OUT_OF_MEMORY or TFMQ_ERR_BACKEND (the exec keeps no observer). */
#define TQ_CUDA_OBS_HALF_BYTES ((size_t)256 << 20)
typedef tfmq_status (*tq_cuda_observer_fn)(void *user_data, const int32_t *values,
                                           const tq_tensor *tensors, size_t n);
tfmq_status tq_cuda_exec_set_observer(tq_cuda_exec *x, const bool *want, tq_cuda_observer_fn fn,
                                      void *user_data);

/* Device time of the planned kernels alone (no input upload or output download), in ms per
 * run: `iters` replays (of one captured CUDA graph when there is no host fallback) between two
 * CUDA events, after 3 warm-up runs, on the data of the last run. For benchmarks. */
tfmq_status tq_cuda_exec_time(tq_cuda_exec *x, int iters, double *ms_out);

/* Per-node device time (ms per run, averaged over `iters` direct runs with an event after every
 * step; launch gaps included) into ms_per_node (g->n_nodes entries) and the relayout copies'
 * total into *ms_relayout. For finding where the time goes; not for benchmarks. */
tfmq_status tq_cuda_exec_profile(tq_cuda_exec *x, int iters, double *ms_per_node,
                                 double *ms_relayout);

/* The CUDA exec of a session on cuda (NULL otherwise): for benchmarks and tests. */
tq_cuda_exec *tq_session_cuda_exec(tfmq_session *s);

/* Inspection: the GPU's name, how many nodes run on the host fallback, whether runs replay a
 * CUDA graph, and node i's implementation ("cudnn:...", "cuda:...", "host:ref", or NULL when
 * folded or aliased). */
const char *tq_cuda_exec_device_name(const tq_cuda_exec *x);
size_t tq_cuda_exec_n_fallback(const tq_cuda_exec *x);
bool tq_cuda_exec_uses_graph(const tq_cuda_exec *x);
const char *tq_cuda_exec_node_impl(const tq_cuda_exec *x, size_t i);
size_t tq_cuda_exec_n_nodes(const tq_cuda_exec *x);
const char *tq_cuda_exec_node_op(const tq_cuda_exec *x, size_t i);

#endif
