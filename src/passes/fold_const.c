/* fold_const.c: constant folding. A node whose inputs are all constants (and which has no
 * subgraph) is run once with its reference kernel, through tq_infer_table / tq_ref_table on a
 * context built here, and its outputs become constants owned by the graph. Not folded: If/Loop,
 * QuantizeLinear/DequantizeLinear (quantized weights must stay quantized in the IR), nodes that
 * write graph outputs, and nodes whose outputs exceed FOLD_MAX_BYTES. A node whose inference or
 * kernel fails is left as it is (the executor will report the problem with its inputs). */
#include <string.h>

#include "passes/pass.h"

#define FOLD_MAX_BYTES ((size_t)64 << 20)

static bool foldable(const tq_graph *g, const tq_node *n)
{
    if (tq_node_is_dead(n) || n->n_in == 0 || n->n_out == 0) {
        return false;
    }
    switch (n->op) {
    case TQ_OP_IF:
    case TQ_OP_LOOP:
    case TQ_OP_QUANTIZE_LINEAR:
    case TQ_OP_DEQUANTIZE_LINEAR:
        return false;
    default:
        break;
    }
    if (n->op >= TQ_OP_COUNT_ || strncmp(tq_op_table[n->op].name, "tfmq.", 5) == 0) {
        return false; /* internal ops (fused, integer) belong to later stages */
    }
    for (int32_t a = 0; a < n->n_attrs; a++) {
        if (n->attrs[a].type == TQ_ATTR_GRAPH) {
            return false;
        }
    }
    bool any_in = false;
    for (int32_t k = 0; k < n->n_in; k++) {
        int32_t v = n->in[k];
        if (v < 0) {
            continue;
        }
        any_in = true;
        if (!(g->values[v].flags & TQ_VALUE_CONST) || !g->values[v].t.data) {
            return false;
        }
    }
    for (int32_t k = 0; k < n->n_out; k++) {
        int32_t v = n->out[k];
        if (v >= 0 && (tq_value_is_graph_output(g, v) || (g->values[v].flags & TQ_VALUE_OUTPUT))) {
            return false;
        }
    }
    return any_in;
}

/* Fold node i; *folded false (and no error) when it cannot be folded. */
static tfmq_status fold_node(tq_graph *g, int32_t i, bool *folded)
{
    tfmq_status st = TFMQ_OK;
    tq_tensor outs[TQ_MAX_IO];
    void *scratch = NULL;
    size_t scratch_bytes = 0;
    const tq_node *n = &g->nodes[i];
    tq_op_ctx ctx;
    *folded = false;
    memset(&ctx, 0, sizeof(ctx));
    memset(outs, 0, sizeof(outs));
    ctx.graph = g;
    ctx.node = n;
    ctx.n_in = n->n_in;
    ctx.n_out = n->n_out;
    ctx.opset = g->opset;
    ctx.node_index = i;
    for (int32_t k = 0; k < n->n_in; k++) {
        ctx.in[k] = n->in[k] >= 0 ? &g->values[n->in[k]].t : NULL;
    }
    for (int32_t k = 0; k < n->n_out; k++) {
        outs[k].rank = -1;
        outs[k].dtype = g->values[n->out[k] >= 0 ? n->out[k] : 0].t.dtype;
        ctx.out[k] = n->out[k] >= 0 ? &outs[k] : NULL;
    }
    if (tq_infer_table[n->op](&ctx) != TFMQ_OK) {
        tq_clear_error();
        return TFMQ_OK;
    }
    size_t total = 0;
    size_t bytes[TQ_MAX_IO];
    for (int32_t k = 0; k < n->n_out; k++) {
        if (!ctx.out[k]) {
            continue;
        }
        if (!tq_tensor_bytes(&outs[k], &bytes[k]) || !tq_add_size(total, bytes[k], &total) ||
            total > FOLD_MAX_BYTES) {
            return TFMQ_OK; /* unknown shape, unsupported dtype or too large */
        }
    }
    for (int32_t k = 0; k < n->n_out; k++) {
        if (!ctx.out[k]) {
            continue;
        }
        /* owned by g; freed by tq_graph_compact if the fold is abandoned */
        outs[k].data = tq_graph_alloc_data(g, bytes[k] ? bytes[k] : 1);
        if (!outs[k].data) {
            return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "fold_constants: out of memory");
        }
    }
    scratch_bytes = ctx.scratch_bytes;
    if (scratch_bytes) {
        scratch = tq_alloc_aligned(g->alloc, scratch_bytes);
        if (!scratch) {
            return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "fold_constants: out of memory");
        }
    }
    ctx.scratch = scratch;
    st = tq_ref_table[n->op](&ctx);
    tq_free_aligned(g->alloc, scratch, scratch_bytes);
    if (st == TFMQ_ERR_OUT_OF_MEMORY) {
        return st;
    }
    if (st != TFMQ_OK) {
        tq_clear_error();
        return TFMQ_OK;
    }
    for (int32_t k = 0; k < n->n_out; k++) {
        int32_t v = n->out[k];
        if (v < 0) {
            continue;
        }
        tq_value *val = &g->values[v];
        val->t = outs[k];
        val->data_bytes = bytes[k];
        val->flags |= TQ_VALUE_CONST;
    }
    tq_graph_remove_node(g, i);
    *folded = true;
    return TFMQ_OK;
}

tfmq_status tq_pass_fold_constants(tq_graph *g, bool *changed)
{
    tfmq_status st;
    bool any = false;
    *changed = false;
    /* topological order: a folded node's consumers see constants later in the same sweep */
    for (size_t i = 0; i < g->n_nodes; i++) {
        bool folded = false;
        if (!foldable(g, &g->nodes[i])) {
            continue;
        }
        if ((st = fold_node(g, (int32_t)i, &folded)) != TFMQ_OK) {
            return st;
        }
        any |= folded;
    }
    if (any) {
        *changed = true;
        return tq_graph_compact(g);
    }
    return TFMQ_OK;
}
