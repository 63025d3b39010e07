/* rewrite.h: utilities for code that rewrites IR graphs (passes, the quantizer): deep copies,
 * new constants, unique names, use counts, redirecting uses, and removing nodes then compacting.
 * Conventions for rewriters:
 *  - Never replace a graph output value: keep output names stable by making the new (fused)
 *    node write the old output value instead (tq_value_is_graph_output tells).
 *  - Never write into constant data of a clone: it is shared with the source graph. New data
 *    comes from tq_graph_add_const / tq_graph_alloc_data.
 *  - tq_graph_add_node / tq_graph_add_value may move g->nodes / g->values: re-take pointers.
 *  - Removed nodes stay in g->nodes (op TQ_NODE_DEAD, no inputs or outputs) until
 *    tq_graph_compact, which also re-sorts and re-validates the graph (tq_graph_finalize). */
#ifndef TQ_REWRITE_H
#define TQ_REWRITE_H

#include "ir/ir.h"

/* op of a node removed by tq_graph_remove_node (never a valid enum tq_op). */
#define TQ_NODE_DEAD UINT32_MAX

/* Deep copy of src (values, nodes, attributes, io, attribute subgraphs) into a new main graph
 * whose objects live in `arena`. Constant tensor data (values and tensor attributes) is SHARED
 * with src: src must outlive the clone, and nobody may write into it through the clone. Data
 * the clone allocates later is owned by the clone. src may be a subgraph; the clone is a main
 * graph (parent NULL) keeping src's opset and name. *out is NULL on failure. */
tfmq_status tq_graph_clone(const tq_graph *src, tq_arena *arena, const tfmq_allocator *alloc,
                           tq_graph **out);

/* Add a constant value named `name` (made unique with tq_graph_unique_name) holding a copy of
 * the rank/dims tensor at `data` (may be NULL for zeros). *idx_out is its index. */
tfmq_status tq_graph_add_const(tq_graph *g, const char *name, tfmq_dtype dtype, int32_t rank,
                               const int64_t *dims, const void *data, int32_t *idx_out);

/* An arena string not used as a value name in g: "base", else "base_1", "base_2", ...
 * NULL when out of memory (the thread's error is set). */
const char *tq_graph_unique_name(tq_graph *g, const char *base);

/* Every node input of g that refers to old_v now refers to new_v. Graph outputs and uses by
 * subgraphs (by name) are NOT changed: callers must not replace such values (see
 * tq_value_is_graph_output, tq_value_n_uses). */
void tq_graph_replace_uses(tq_graph *g, int32_t old_v, int32_t new_v);

/* True when v is one of g's outputs. */
bool tq_value_is_graph_output(const tq_graph *g, int32_t v);

/* Number of uses of v: node inputs of g (each occurrence), graph outputs, and one per
 * subgraph (any depth, reached through node attributes) holding an outer value of v's name. */
int32_t tq_value_n_uses(const tq_graph *g, int32_t v);

/* True when v is referenced by a subgraph of g as an outer value (by name). */
bool tq_value_used_by_subgraph(const tq_graph *g, int32_t v);

/* The node producing v, or -1 (valid between finalize/compact and the next node removal;
 * scans the nodes, so it is correct even for nodes added since). */
int32_t tq_value_producer(const tq_graph *g, int32_t v);

/* Mark node `node` dead: its op becomes TQ_NODE_DEAD and it loses its inputs and outputs. */
void tq_graph_remove_node(tq_graph *g, int32_t node);
static inline bool tq_node_is_dead(const tq_node *n)
{
    return n->op == TQ_NODE_DEAD;
}

/* Drop dead nodes and values that nothing references (graph inputs and outputs, values of live
 * nodes and outer values used by subgraphs are kept), renumber, free constant blocks no value
 * refers to any more, and tq_graph_finalize. */
tfmq_status tq_graph_compact(tq_graph *g);

#endif
