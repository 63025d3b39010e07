/* pass.h: graph -> graph rewrites run before calibration and compilation. Each pass is
 * tq_pass_<name>(g, &changed): it rewrites the main graph g in place (subgraphs of If/Loop are
 * left alone), never changes the names of graph inputs and outputs, allocates new constants
 * (never writing into existing constant data, which a clone shares with its source), and leaves
 * g compacted and finalized when it changed anything. A pass that cannot prove a rewrite legal
 * skips it. tq_pass_run runs a comma-separated list of passes. */
#ifndef TQ_PASS_H
#define TQ_PASS_H

#include "ir/ops/fused.h"
#include "ir/rewrite.h"

/* Evaluate nodes whose inputs are all constants with the reference kernels and turn their
 * outputs into constants (outputs up to 64 MiB per node; no If/Loop, no Q/DQ, no graph
 * outputs). */
tfmq_status tq_pass_fold_constants(tq_graph *g, bool *changed);
/* Fold Add(Conv(x), constant per-channel b) into the Conv's bias (TensorFlow's BiasAdd). */
tfmq_status tq_pass_fold_bias(tq_graph *g, bool *changed);
/* Fold inference BatchNormalization into the weights and bias of a preceding Conv,
 * ConvTranspose or Gemm with constant weights whose output has no other use. */
tfmq_status tq_pass_fold_batchnorm(tq_graph *g, bool *changed);
/* Conv / Gemm (+ Add of a constant per-channel bias when the op has none) + activation ->
 * tfmq.FusedConv / tfmq.FusedGemm; MatMul (2-D input, constant 2-D weight) + Add of a constant
 * [N] bias and/or activation -> tfmq.FusedGemm. */
tfmq_status tq_pass_fuse_conv_bias_act(tq_graph *g, bool *changed);
/* Add(Conv or FusedConv without activation, R of exactly the same shape) [+ activation] ->
 * tfmq.FusedConv with residual R. */
tfmq_status tq_pass_fuse_residual(tq_graph *g, bool *changed);
/* ReduceMean / Sub / Pow 2 / ReduceMean / Add eps / Sqrt / Div / Mul gamma [/ Add beta] over
 * the last axis (layer normalization as elementary ops) -> LayerNormalization. */
tfmq_status tq_pass_fuse_layernorm(tq_graph *g, bool *changed);
/* FP16/BF16 models on the fast CPU backend (strip_half.c): drop the activations' rounding Cast
 * pairs and mark Conv/Gemm with BF16 weights compute="bf16". Not in "default". */
tfmq_status tq_pass_strip_half(tq_graph *g, bool *changed);
/* Remove nodes none of whose outputs is used (by nodes, graph outputs or subgraphs). */
tfmq_status tq_pass_dce(tq_graph *g, bool *changed);

/* Run the comma-separated passes in `list` in order ("default" stands for
 * "fold_constants,fold_bias,fold_batchnorm,fuse_conv_bias_act,fuse_residual,fuse_layernorm,dce"),
 * each repeated until it
 * changes nothing (at most 16 times), then compact. Unknown names: TFMQ_ERR_INVALID_ARG. */
tfmq_status tq_pass_run(tq_graph *g, const char *list);

/* ---- helpers shared by the passes (manager.c) ---- */

/* Use count of every value (tq_value_n_uses for all values at once); *counts_out has
 * g->n_values entries, free with tq_free(g->alloc, p, n * sizeof(int32_t)). */
tfmq_status tq_pass_use_counts(const tq_graph *g, int32_t **counts_out);
/* The only node consuming v (which has exactly one use, as a node input), or -1. */
int32_t tq_pass_single_consumer(const tq_graph *g, const int32_t *counts, int32_t v);
/* Shapes of all values inferred through tq_infer_table from the graph input shapes with
 * symbolic (unknown) dims set to `sym`; unknown where inference fails. *shapes_out has
 * g->n_values entries (free with tq_free(g->alloc, p, n * sizeof(tq_tensor))); data is set for
 * constants only. */
tfmq_status tq_pass_infer_shapes(const tq_graph *g, int64_t sym, tq_tensor **shapes_out);
/* True when node n is an activation the fused ops support, with constant parameters; *act
 * describes it. */
bool tq_pass_match_act(const tq_graph *g, const tq_node *n, tq_fused_act *act);
/* Add a node of op `op` named like node `like` (or `name` if like < 0) with n_in inputs
 * (copied from `in`), the single output `out`, and the attributes of `attrs` (n_attrs) followed
 * by the activation attributes of `act` (if not NULL; existing activation* attributes are
 * dropped). */
tfmq_status tq_pass_add_fused_node(tq_graph *g, uint32_t op, const char *name, int32_t n_in,
                                   const int32_t *in, int32_t out, const tq_attr *attrs,
                                   int32_t n_attrs, const tq_fused_act *act, int32_t *idx_out);

#endif
