/* dce.c: dead-code elimination. Nodes are visited in reverse topological order; a node none of
 * whose outputs is used (by a node input, a graph output or a subgraph's outer value) is
 * removed and its inputs lose a use, so whole dead chains go in one sweep. */
#include "passes/pass.h"

tfmq_status tq_pass_dce(tq_graph *g, bool *changed)
{
    tfmq_status st;
    int32_t *counts = NULL;
    const size_t nv = g->n_values;
    bool any = false;
    *changed = false;
    if ((st = tq_pass_use_counts(g, &counts)) != TFMQ_OK) {
        return st;
    }
    for (size_t j = g->n_nodes; j-- > 0;) {
        const tq_node *n = &g->nodes[j];
        if (tq_node_is_dead(n)) {
            continue;
        }
        bool used = false;
        for (int32_t k = 0; k < n->n_out && !used; k++) {
            used = n->out[k] >= 0 && (counts[n->out[k]] > 0 ||
                                      (g->values[n->out[k]].flags & TQ_VALUE_OUTPUT));
        }
        if (used) {
            continue;
        }
        for (int32_t k = 0; k < n->n_in; k++) {
            if (n->in[k] >= 0) {
                counts[n->in[k]]--;
            }
        }
        tq_graph_remove_node(g, (int32_t)j);
        any = true;
    }
    tq_free(g->alloc, counts, (nv ? nv : 1) * sizeof(int32_t));
    if (any) {
        *changed = true;
        return tq_graph_compact(g);
    }
    return TFMQ_OK;
}
