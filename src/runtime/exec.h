/* exec.h: the graph executor behind sessions. An exec holds, for one graph (the main graph or
 * an If/Loop body), the concrete tensor of every value, a memory plan and per-node state.
 * Planning (tq_exec_plan) infers every shape for given input shapes, folds nodes whose inputs
 * are all known (shape computations, weight transforms), and assigns each remaining value with a
 * static shape an offset in one workspace by lifetime, so values reuse memory once dead. Values
 * whose shapes depend on input data (after If/Loop, say) are "dynamic": inferred at run time and
 * kept in buffers that grow only when a run needs more than every earlier run did. */
#ifndef TQ_EXEC_H
#define TQ_EXEC_H

#include "ir/ir.h"

typedef struct tq_exec tq_exec;

/* Create an executor for graph g (not planned yet). parent is the exec of the enclosing graph
 * for subgraphs (NULL for the main graph). */
tfmq_status tq_exec_create(const tq_graph *g, const tfmq_allocator *alloc, tq_exec *parent,
                           tq_exec **exec_out);
void tq_exec_destroy(tq_exec *e);

/* Use the fast CPU backend (backends/cpu) with n_threads threads per run; 0 (the default) runs
 * the reference kernels only. Takes effect at the next tq_exec_plan. With the backend on, the
 * plan may keep activations channels-last between kernels, except in execs with an observer
 * (set the observer before planning), subgraph execs and graphs with control flow. */
void tq_exec_set_threads(tq_exec *e, int32_t n_threads);

/* Fold (compute at plan time) only constant nodes whose outputs take at most max_bytes (0: the
 * default limit, 64 MiB). Model validation plans with a small limit: the constants that shapes
 * depend on (Reshape's shape, Slice's starts, ...) are small, while folding every
 * DequantizeLinear of an INT8 engine's weights computed all its float weights at load (ResNet-50:
 * 100 MB, a sixth of load plus session creation) only to discard them. Takes effect at the next tq_exec_plan. */
void tq_exec_set_fold_limit(tq_exec *e, size_t max_bytes);

/* Plan for the given shapes of the caller-fed inputs (in g->inputs order; dtype from the graph).
 * shapes_only: infer and fold but allocate no workspace (model validation, MAC counting). */
tfmq_status tq_exec_plan(tq_exec *e, const tq_tensor *input_shapes, bool shapes_only);

/* Plan for inputs (shapes and dtypes; data ignored) unless e is already planned for exactly
 * these input dtypes, ranks and dims: what a caller that feeds batches of changing shapes calls
 * before each tq_exec_run. A failed plan leaves e unplanned, so the next call plans again.
 * *replanned_out (may be NULL): true when this call planned (successfully). */
tfmq_status tq_exec_ensure_plan(tq_exec *e, const tq_tensor *inputs, bool *replanned_out);

/* The planned shape of input i, to compare against a run's inputs. */
const tq_tensor *tq_exec_input(const tq_exec *e, size_t i);

/* Run once. inputs[i] (in g->inputs order) must match the planned shapes; data is borrowed.
 * Afterwards tq_exec_value() gives every value's tensor. */
tfmq_status tq_exec_run(tq_exec *e, const tq_tensor *inputs);

/* Current tensor of value v (shape after planning; data after a run). */
const tq_tensor *tq_exec_value(const tq_exec *e, int32_t v);

/* Observer: called during tq_exec_run after every node that runs (folded nodes are not run), and
 * once with node_index -1 after the inputs are bound. The observer reads values through
 * tq_exec_value(); it must not keep pointers past the call. A non-OK status aborts the run.
 * Calibration and the per-layer fidelity report use it. NULL removes it. */
typedef tfmq_status (*tq_exec_observer_fn)(void *user_data, const tq_exec *e, int32_t node_index);
void tq_exec_set_observer(tq_exec *e, tq_exec_observer_fn fn, void *user_data);
/* The graph an exec runs. */
const tq_graph *tq_exec_graph(const tq_exec *e);
/* Whether value v holds data computed at plan time (folded constant) or is a graph constant. */
bool tq_exec_value_is_const(const tq_exec *e, int32_t v);

/* Profiling: with a non-NULL array of g->n_nodes doubles, each run adds the seconds every
 * planned node's kernel took (dynamic nodes are not timed). NULL stops it. */
void tq_exec_set_profile(tq_exec *e, double *seconds_per_node);

/* The memory layout (tq_layout of backends/cpu/cpu.h) of value v after planning. */
int tq_exec_value_layout(const tq_exec *e, int32_t v);
/* The fast kernel's implementation name of node i ("onednn:...", "simd:..."), or NULL when the
 * reference kernel runs it (or it was folded at plan time). */
const char *tq_exec_node_impl(const tq_exec *e, size_t i);

/* How planning left node i: folded at plan time (its outputs are constants), planned with static
 * shapes, or dynamic (shapes known only at run time). For other executors (backends/cuda) that
 * take the host exec's shapes and folded constants (plan with shapes_only). */
typedef enum tq_exec_node_state {
    TQ_EXEC_NODE_FOLDED = 0,
    TQ_EXEC_NODE_STATIC = 1,
    TQ_EXEC_NODE_DYNAMIC = 2
} tq_exec_node_state;
tq_exec_node_state tq_exec_node_get_state(const tq_exec *e, size_t i);
/* Scratch bytes the reference kernel of a static node i needs. */
size_t tq_exec_node_scratch(const tq_exec *e, size_t i);
/* The context of node i with data only for constant inputs (what a backend's prepare sees):
 * in_t (TQ_MAX_IO entries) holds the copies of activation tensors with data NULL. */
void tq_exec_prep_ctx(tq_exec *e, size_t i, tq_op_ctx *ctx, tq_tensor *in_t);

/* Bytes of planned workspace, for tests and inspection. */
size_t tq_exec_workspace_bytes(const tq_exec *e);

#endif
