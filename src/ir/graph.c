/* graph.c: building, validating and sorting IR graphs, and attribute lookup.
 * Values and nodes are kept in growable arrays owned by the graph; everything they point to
 * (names, index arrays, attributes) lives in the model arena. Constant data blocks are owned by
 * the graph that allocated them. */
#include <stdio.h>
#include <string.h>

#include "ir/ir.h"

const tq_op_info tq_op_table[TQ_OP_COUNT_] = {
#define TQ_OP(id, name, imin, imax, omin, omax, stem) {name, imin, imax, omin, omax},
#include "ir/ops.def"
#undef TQ_OP
};

const tq_op_fn tq_infer_table[TQ_OP_COUNT_] = {
#define TQ_OP(id, name, imin, imax, omin, omax, stem) tq_infer_##stem,
#include "ir/ops.def"
#undef TQ_OP
};

const tq_op_fn tq_ref_table[TQ_OP_COUNT_] = {
#define TQ_OP(id, name, imin, imax, omin, omax, stem) tq_ref_##stem,
#include "ir/ops.def"
#undef TQ_OP
};

bool tq_op_from_name(const char *name, uint32_t *op_out)
{
    if (strncmp(name, "tfmq.", 5) == 0) {
        return false; /* internal ops (fused, integer) never come from a file's default domain */
    }
    return tq_op_from_name_internal(name, op_out);
}

bool tq_op_from_name_internal(const char *name, uint32_t *op_out)
{
    for (uint32_t i = 0; i < TQ_OP_COUNT_; i++) {
        if (strcmp(tq_op_table[i].name, name) == 0) {
            *op_out = i;
            return true;
        }
    }
    return false;
}

size_t tq_tensor_numel(const tq_tensor *t)
{
    size_t n = 1;
    for (int32_t i = 0; i < t->rank; i++) {
        n *= (size_t)t->dims[i];
    }
    return n;
}

bool tq_tensor_shape_known(const tq_tensor *t)
{
    if (t->rank < 0) {
        return false;
    }
    for (int32_t i = 0; i < t->rank; i++) {
        if (t->dims[i] < 0) {
            return false;
        }
    }
    return true;
}

bool tq_tensor_bytes(const tq_tensor *t, size_t *bytes_out)
{
    size_t n = tq_dtype_size(t->dtype);
    if (n == 0 || !tq_tensor_shape_known(t)) {
        return false;
    }
    for (int32_t i = 0; i < t->rank; i++) {
        if (!tq_mul_size(n, (size_t)t->dims[i], &n)) {
            return false;
        }
    }
    if (n > TQ_MAX_TENSOR_BYTES) {
        return false;
    }
    *bytes_out = n;
    return true;
}

const char *tq_shape_str(const tq_tensor *t, char *buf, size_t buf_size)
{
    size_t used = 0;
    if (buf_size == 0) {
        return buf;
    }
    buf[0] = '\0';
    if (t->rank < 0) {
        snprintf(buf, buf_size, "[?]");
        return buf;
    }
    used += (size_t)snprintf(buf, buf_size, "[");
    for (int32_t i = 0; i < t->rank && used < buf_size; i++) {
        if (t->dims[i] < 0) {
            used += (size_t)snprintf(buf + used, buf_size - used, "%s?", i ? "," : "");
        } else {
            used += (size_t)snprintf(buf + used, buf_size - used, "%s%lld", i ? "," : "",
                                     (long long)t->dims[i]);
        }
    }
    if (used < buf_size) {
        snprintf(buf + used, buf_size - used, "]");
    }
    return buf;
}

static tfmq_status tq_graph_init(tq_graph *g, tq_arena *arena, const tfmq_allocator *alloc)
{
    memset(g, 0, sizeof(*g));
    g->arena = arena;
    g->alloc = alloc;
    g->name = "";
    return TFMQ_OK;
}

tfmq_status tq_graph_create(tq_arena *arena, const tfmq_allocator *alloc, tq_graph **g_out)
{
    *g_out = NULL;
    tq_graph *g = tq_alloc(alloc, sizeof(*g));
    if (!g) {
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "graph: out of memory");
    }
    tq_graph_init(g, arena, alloc);
    *g_out = g;
    return TFMQ_OK;
}

tfmq_status tq_graph_create_sub(tq_graph *parent, const char *name, tq_graph **g_out)
{
    *g_out = NULL;
    if (parent->depth + 1 > TQ_MAX_GRAPH_DEPTH) {
        return tq_fail(TFMQ_ERR_UNSUPPORTED, "subgraph '%s': nesting deeper than %d levels",
                       name ? name : "", TQ_MAX_GRAPH_DEPTH);
    }
    if (parent->n_subs == parent->cap_subs) {
        size_t cap = parent->cap_subs ? parent->cap_subs * 2 : 4;
        tq_graph **subs = tq_realloc(parent->alloc, parent->subs,
                                     parent->cap_subs * sizeof(*subs), cap * sizeof(*subs));
        if (!subs) {
            return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "graph: out of memory");
        }
        parent->subs = subs;
        parent->cap_subs = cap;
    }
    tq_graph *g = NULL;
    tfmq_status st = tq_graph_create(parent->arena, parent->alloc, &g);
    if (st != TFMQ_OK) {
        return st;
    }
    g->parent = parent;
    g->depth = parent->depth + 1;
    g->opset = parent->opset;
    g->name = tq_arena_strdup(parent->arena, name ? name : "");
    if (!g->name) {
        tq_graph_destroy(g);
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "graph: out of memory");
    }
    parent->subs[parent->n_subs++] = g;
    *g_out = g;
    return TFMQ_OK;
}

void tq_graph_destroy(tq_graph *g)
{
    if (!g) {
        return;
    }
    for (size_t i = 0; i < g->n_subs; i++) {
        tq_graph_destroy(g->subs[i]);
    }
    for (size_t i = 0; i < g->n_blocks; i++) {
        tq_free_aligned(g->alloc, g->blocks[i], g->block_bytes[i]);
    }
    tq_free(g->alloc, g->subs, g->cap_subs * sizeof(*g->subs));
    tq_free(g->alloc, g->blocks, g->cap_blocks * sizeof(*g->blocks));
    tq_free(g->alloc, g->block_bytes, g->cap_blocks * sizeof(*g->block_bytes));
    tq_free(g->alloc, g->values, g->cap_values * sizeof(*g->values));
    tq_free(g->alloc, g->nodes, g->cap_nodes * sizeof(*g->nodes));
    tq_free(g->alloc, g, sizeof(*g));
}

tfmq_status tq_graph_add_value(tq_graph *g, const char *name, int32_t *idx_out)
{
    if (g->n_values >= (size_t)TQ_MAX_NODES * 4) {
        return tq_fail(TFMQ_ERR_UNSUPPORTED, "graph: more than %u values", TQ_MAX_NODES * 4);
    }
    if (g->n_values == g->cap_values) {
        size_t cap = g->cap_values ? g->cap_values * 2 : 64;
        tq_value *v = tq_realloc(g->alloc, g->values, g->cap_values * sizeof(*v),
                                 cap * sizeof(*v));
        if (!v) {
            return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "graph: out of memory");
        }
        g->values = v;
        g->cap_values = cap;
    }
    tq_value *v = &g->values[g->n_values];
    memset(v, 0, sizeof(*v));
    v->name = tq_arena_strdup(g->arena, name ? name : "");
    if (!v->name) {
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "graph: out of memory");
    }
    v->t.rank = -1;
    v->producer = -1;
    *idx_out = (int32_t)g->n_values++;
    return TFMQ_OK;
}

int32_t tq_graph_find_value(const tq_graph *g, const char *name)
{
    for (size_t i = 0; i < g->n_values; i++) {
        if (strcmp(g->values[i].name, name) == 0) {
            return (int32_t)i;
        }
    }
    return -1;
}

void *tq_graph_alloc_data(tq_graph *g, size_t bytes)
{
    if (g->n_blocks == g->cap_blocks) {
        size_t cap = g->cap_blocks ? g->cap_blocks * 2 : 64;
        void **b = tq_alloc(g->alloc, cap * sizeof(*b));
        size_t *s = tq_alloc(g->alloc, cap * sizeof(*s));
        if (!b || !s) {
            tq_free(g->alloc, b, cap * sizeof(*b));
            tq_free(g->alloc, s, cap * sizeof(*s));
            return NULL;
        }
        if (g->n_blocks) {
            memcpy(b, g->blocks, g->n_blocks * sizeof(*b));
            memcpy(s, g->block_bytes, g->n_blocks * sizeof(*s));
        }
        tq_free(g->alloc, g->blocks, g->cap_blocks * sizeof(*g->blocks));
        tq_free(g->alloc, g->block_bytes, g->cap_blocks * sizeof(*g->block_bytes));
        g->blocks = b;
        g->block_bytes = s;
        g->cap_blocks = cap;
    }
    void *p = tq_alloc_aligned(g->alloc, bytes);
    if (!p) {
        return NULL;
    }
    memset(p, 0, bytes);
    g->blocks[g->n_blocks] = p;
    g->block_bytes[g->n_blocks] = bytes;
    g->n_blocks++;
    return p;
}

tfmq_status tq_graph_add_node(tq_graph *g, uint32_t op, const char *name, int32_t n_in,
                              int32_t n_out, int32_t n_attrs, int32_t *idx_out)
{
    if (g->n_nodes >= TQ_MAX_NODES) {
        return tq_fail(TFMQ_ERR_UNSUPPORTED, "graph: more than %u nodes", TQ_MAX_NODES);
    }
    if (n_in < 0 || n_out < 0 || n_attrs < 0 || n_in > TQ_MAX_IO || n_out > TQ_MAX_IO) {
        return tq_fail(TFMQ_ERR_UNSUPPORTED, "node '%s': %d inputs and %d outputs (at most %d)",
                       name ? name : "", n_in, n_out, TQ_MAX_IO);
    }
    if (g->n_nodes == g->cap_nodes) {
        size_t cap = g->cap_nodes ? g->cap_nodes * 2 : 64;
        tq_node *nn = tq_realloc(g->alloc, g->nodes, g->cap_nodes * sizeof(*nn),
                                 cap * sizeof(*nn));
        if (!nn) {
            return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "graph: out of memory");
        }
        g->nodes = nn;
        g->cap_nodes = cap;
    }
    tq_node *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof(*n));
    n->op = op;
    n->name = tq_arena_strdup(g->arena, name ? name : "");
    n->in = tq_arena_alloc(g->arena, sizeof(int32_t) * (size_t)(n_in ? n_in : 1));
    n->out = tq_arena_alloc(g->arena, sizeof(int32_t) * (size_t)(n_out ? n_out : 1));
    n->attrs = tq_arena_alloc(g->arena, sizeof(tq_attr) * (size_t)(n_attrs ? n_attrs : 1));
    if (!n->name || !n->in || !n->out || !n->attrs) {
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "graph: out of memory");
    }
    for (int32_t i = 0; i < n_in; i++) {
        n->in[i] = -1;
    }
    for (int32_t i = 0; i < n_out; i++) {
        n->out[i] = -1;
    }
    n->n_in = n_in;
    n->n_out = n_out;
    n->n_attrs = n_attrs;
    *idx_out = (int32_t)g->n_nodes++;
    return TFMQ_OK;
}

tfmq_status tq_graph_set_io(tq_graph *g, const int32_t *inputs, size_t n_inputs,
                            const int32_t *outputs, size_t n_outputs)
{
    g->inputs = tq_arena_alloc(g->arena, sizeof(int32_t) * (n_inputs ? n_inputs : 1));
    g->outputs = tq_arena_alloc(g->arena, sizeof(int32_t) * (n_outputs ? n_outputs : 1));
    if (!g->inputs || !g->outputs) {
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "graph: out of memory");
    }
    if (n_inputs) {
        memcpy(g->inputs, inputs, sizeof(int32_t) * n_inputs);
    }
    if (n_outputs) {
        memcpy(g->outputs, outputs, sizeof(int32_t) * n_outputs);
    }
    g->n_inputs = n_inputs;
    g->n_outputs = n_outputs;
    for (size_t i = 0; i < n_inputs; i++) {
        g->values[inputs[i]].flags |= TQ_VALUE_INPUT;
    }
    for (size_t i = 0; i < n_outputs; i++) {
        g->values[outputs[i]].flags |= TQ_VALUE_OUTPUT;
    }
    return TFMQ_OK;
}

const char *tq_node_label(const tq_graph *g, const tq_node *n, char *buf, size_t buf_size)
{
    if (n->name && n->name[0]) {
        return n->name;
    }
    snprintf(buf, buf_size, "%s#%ld", tq_op_table[n->op].name, (long)(n - g->nodes));
    return buf;
}

/* Number of outer-value references in sub and its nested subgraphs (an upper bound of the
 * implicit edges they add to the enclosing graph). */
static size_t tq_graph_count_outer(const tq_graph *sub)
{
    size_t n = 0;
    for (size_t v = 0; v < sub->n_values; v++) {
        n += (sub->values[v].flags & TQ_VALUE_OUTER) ? 1u : 0u;
    }
    for (size_t s = 0; s < sub->n_subs; s++) {
        n += tq_graph_count_outer(sub->subs[s]);
    }
    return n;
}

/* Add implicit edges producer(outer value) -> node for every outer value `sub` uses that is
 * defined in g. pass 0 counts into start_[p]; pass 1 fills edges (fill[p] counts). */
static void tq_graph_outer_edges(const tq_graph *g, const tq_graph *sub, int32_t node, int pass,
                                 size_t *start_, int32_t *edges, int32_t *fill)
{
    for (size_t v = 0; v < sub->n_values; v++) {
        if (!(sub->values[v].flags & TQ_VALUE_OUTER)) {
            continue;
        }
        int32_t pv = tq_graph_find_value(g, sub->values[v].name);
        int32_t p = pv >= 0 ? g->values[pv].producer : -1;
        if (p < 0 || p == node) {
            continue;
        }
        if (pass == 0) {
            start_[p]++;
        } else {
            edges[start_[p] + (size_t)fill[p]] = node;
            fill[p]++;
        }
    }
    for (size_t s = 0; s < sub->n_subs; s++) {
        tq_graph_outer_edges(g, sub->subs[s], node, pass, start_, edges, fill);
    }
}

static void tq_heap_push(int32_t *h, size_t *n, int32_t x)
{
    size_t i = (*n)++;
    h[i] = x;
    while (i > 0 && h[(i - 1) / 2] > h[i]) {
        int32_t t = h[i];
        h[i] = h[(i - 1) / 2];
        h[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

static int32_t tq_heap_pop(int32_t *h, size_t *n)
{
    int32_t top = h[0];
    h[0] = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < *n && h[l] < h[m]) {
            m = l;
        }
        if (r < *n && h[r] < h[m]) {
            m = r;
        }
        if (m == i) {
            break;
        }
        int32_t t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
    return top;
}

/* Kahn's algorithm over value->producer edges (see the sort below). */
tfmq_status tq_graph_finalize(tq_graph *g)
{
    tfmq_status st = TFMQ_OK;
    size_t nn = g->n_nodes, nv = g->n_values;
    int32_t *indeg = NULL, *order = NULL, *queue = NULL, *edges = NULL;
    size_t *start_ = NULL, n_edges = 0;
    tq_node *sorted = NULL;
    char lbl[64];

    for (size_t v = 0; v < nv; v++) {
        g->values[v].producer = -1;
    }
    for (size_t i = 0; i < nn; i++) {
        tq_node *n = &g->nodes[i];
        const tq_op_info *oi = &tq_op_table[n->op];
        if (n->n_in < oi->in_min || n->n_in > oi->in_max || n->n_out < oi->out_min ||
            n->n_out > oi->out_max) {
            return tq_fail(TFMQ_ERR_INVALID_ARG,
                           "node '%s' (%s): %d inputs and %d outputs; the op takes %d..%d "
                           "inputs and %d..%d outputs",
                           tq_node_label(g, n, lbl, sizeof(lbl)), oi->name, n->n_in, n->n_out,
                           oi->in_min, oi->in_max, oi->out_min, oi->out_max);
        }
        for (int32_t k = 0; k < n->n_in; k++) {
            if (n->in[k] < -1 || n->in[k] >= (int32_t)nv) {
                return tq_fail(TFMQ_ERR_INTERNAL, "node '%s': bad input index",
                               tq_node_label(g, n, lbl, sizeof(lbl)));
            }
            /* the first in_min inputs are required (Loop's M and cond are the exception) */
            if (n->in[k] < 0 && k < oi->in_min && n->op != TQ_OP_LOOP) {
                return tq_fail(TFMQ_ERR_INVALID_ARG,
                               "node '%s' (%s): required input %d is empty",
                               tq_node_label(g, n, lbl, sizeof(lbl)), oi->name, k);
            }
        }
        for (int32_t k = 0; k < n->n_out && k < oi->out_min; k++) {
            if (n->out[k] < 0) {
                return tq_fail(TFMQ_ERR_INVALID_ARG,
                               "node '%s' (%s): required output %d is empty",
                               tq_node_label(g, n, lbl, sizeof(lbl)), oi->name, k);
            }
        }
        for (int32_t k = 0; k < n->n_out; k++) {
            int32_t v = n->out[k];
            if (v < -1 || v >= (int32_t)nv) {
                return tq_fail(TFMQ_ERR_INTERNAL, "node '%s': bad output index",
                               tq_node_label(g, n, lbl, sizeof(lbl)));
            }
            if (v < 0) {
                continue;
            }
            tq_value *val = &g->values[v];
            if (val->producer >= 0 || (val->flags & (TQ_VALUE_INPUT | TQ_VALUE_CONST |
                                                     TQ_VALUE_OUTER))) {
                return tq_fail(TFMQ_ERR_INVALID_ARG,
                               "node '%s' (%s): output '%s' is already defined elsewhere",
                               tq_node_label(g, n, lbl, sizeof(lbl)), oi->name, val->name);
            }
            val->producer = (int32_t)i;
        }
    }
    /* every used value must have a source */
    for (size_t i = 0; i < nn; i++) {
        tq_node *n = &g->nodes[i];
        for (int32_t k = 0; k < n->n_in; k++) {
            int32_t v = n->in[k];
            if (v < 0) {
                continue;
            }
            const tq_value *val = &g->values[v];
            if (val->producer < 0 &&
                !(val->flags & (TQ_VALUE_INPUT | TQ_VALUE_CONST | TQ_VALUE_OUTER))) {
                return tq_fail(TFMQ_ERR_INVALID_ARG,
                               "node '%s' (%s): input '%s' is produced by no node and is not a "
                               "graph input or initializer",
                               tq_node_label(g, n, lbl, sizeof(lbl)), tq_op_table[n->op].name,
                               val->name);
            }
        }
    }
    for (size_t i = 0; i < g->n_outputs; i++) {
        const tq_value *val = &g->values[g->outputs[i]];
        if (val->producer < 0 &&
            !(val->flags & (TQ_VALUE_INPUT | TQ_VALUE_CONST | TQ_VALUE_OUTER))) {
            return tq_fail(TFMQ_ERR_INVALID_ARG, "graph output '%s' is produced by no node",
                           val->name);
        }
    }
    if (nn == 0) {
        goto subs;
    }
    /* Kahn's algorithm over producer -> consumer edges, linear in nodes + edges. Implicit
     * edges: a node whose subgraphs use an outer value depends on that value's producer. The
     * ready set is a min-heap of node indices, so file order is kept where it is legal. */
    for (size_t i = 0; i < nn; i++) {
        n_edges += (size_t)g->nodes[i].n_in;
        for (int32_t a = 0; a < g->nodes[i].n_attrs; a++) {
            if (g->nodes[i].attrs[a].type == TQ_ATTR_GRAPH) {
                n_edges += tq_graph_count_outer(g->nodes[i].attrs[a].graph);
            }
        }
    }
    indeg = tq_calloc(g->alloc, nn, sizeof(int32_t));
    order = tq_calloc(g->alloc, nn, sizeof(int32_t));
    queue = tq_calloc(g->alloc, nn + 1, sizeof(int32_t));   /* heap */
    sorted = tq_calloc(g->alloc, nn, sizeof(tq_node));
    start_ = tq_calloc(g->alloc, nn + 1, sizeof(size_t));
    edges = tq_calloc(g->alloc, n_edges ? n_edges : 1, sizeof(int32_t));
    if (!indeg || !order || !queue || !sorted || !start_ || !edges) {
        st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "graph: out of memory");
        goto done;
    }
    /* edges[start_[p] .. start_[p+1]) = consumers of producer node p (CSR, two passes) */
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            size_t acc = 0;
            for (size_t i = 0; i <= nn; i++) {
                size_t c = start_[i];
                start_[i] = acc;
                acc += c;
            }
            memset(indeg, 0, nn * sizeof(int32_t));
        }
        for (size_t i = 0; i < nn; i++) {
            const tq_node *n = &g->nodes[i];
            for (int32_t k = 0; k < n->n_in; k++) {
                int32_t v = n->in[k];
                int32_t p = v >= 0 ? g->values[v].producer : -1;
                if (p < 0) {
                    continue;
                }
                if (pass == 0) {
                    start_[p]++;
                } else {
                    edges[start_[p] + (size_t)indeg[p]] = (int32_t)i; /* indeg as fill count */
                    indeg[p]++;
                }
            }
            for (int32_t a = 0; a < n->n_attrs; a++) {
                if (n->attrs[a].type == TQ_ATTR_GRAPH) {
                    tq_graph_outer_edges(g, n->attrs[a].graph, (int32_t)i, pass, start_, edges,
                                         indeg);
                }
            }
        }
    }
    /* indeg currently holds out-degrees used as fill counters; compute real in-degrees */
    memset(indeg, 0, nn * sizeof(int32_t));
    for (size_t p = 0; p < nn; p++) {
        for (size_t e = start_[p]; e < start_[p + 1]; e++) {
            indeg[edges[e]]++;
        }
    }
    size_t n_sorted = 0, heap_n = 0;
    for (size_t i = 0; i < nn; i++) {
        if (indeg[i] == 0) {
            tq_heap_push(queue, &heap_n, (int32_t)i);
        }
    }
    while (heap_n > 0) {
        int32_t i = tq_heap_pop(queue, &heap_n);
        order[n_sorted++] = i;
        for (size_t e = start_[i]; e < start_[i + 1]; e++) {
            if (--indeg[edges[e]] == 0) {
                tq_heap_push(queue, &heap_n, edges[e]);
            }
        }
    }
    if (n_sorted < nn) {
        st = tq_fail(TFMQ_ERR_INVALID_ARG, "graph '%s': the nodes form a cycle", g->name);
        goto done;
    }
    for (size_t i = 0; i < nn; i++) {
        sorted[i] = g->nodes[order[i]];
    }
    memcpy(g->nodes, sorted, nn * sizeof(tq_node));
    for (size_t i = 0; i < nn; i++) {
        for (int32_t k = 0; k < g->nodes[i].n_out; k++) {
            if (g->nodes[i].out[k] >= 0) {
                g->values[g->nodes[i].out[k]].producer = (int32_t)i;
            }
        }
    }
done:
    tq_free(g->alloc, indeg, nn * sizeof(int32_t));
    tq_free(g->alloc, order, nn * sizeof(int32_t));
    tq_free(g->alloc, queue, (nn + 1) * sizeof(int32_t));
    tq_free(g->alloc, sorted, nn * sizeof(tq_node));
    tq_free(g->alloc, start_, (nn + 1) * sizeof(size_t));
    tq_free(g->alloc, edges, (n_edges ? n_edges : 1) * sizeof(int32_t));
    if (st != TFMQ_OK) {
        return st;
    }
subs:
    for (size_t i = 0; i < g->n_subs; i++) {
        st = tq_graph_finalize(g->subs[i]);
        if (st != TFMQ_OK) {
            return st;
        }
    }
    return TFMQ_OK;
}

/* ---- attributes ---- */

const tq_attr *tq_node_attr(const tq_node *n, const char *name)
{
    for (int32_t i = 0; i < n->n_attrs; i++) {
        if (n->attrs[i].name && strcmp(n->attrs[i].name, name) == 0) {
            return &n->attrs[i];
        }
    }
    return NULL;
}

static tfmq_status tq_attr_type_error(const tq_node *n, const char *name, const char *want)
{
    return tq_fail(TFMQ_ERR_INVALID_ARG, "node '%s' (%s): attribute '%s' must be %s", n->name,
                   tq_op_table[n->op].name, name, want);
}

tfmq_status tq_attr_int(const tq_node *n, const char *name, int64_t dflt, int64_t *out)
{
    const tq_attr *a = tq_node_attr(n, name);
    *out = dflt;
    if (!a) {
        return TFMQ_OK;
    }
    if (a->type != TQ_ATTR_INT) {
        return tq_attr_type_error(n, name, "an int");
    }
    *out = a->i;
    return TFMQ_OK;
}

tfmq_status tq_attr_float(const tq_node *n, const char *name, float dflt, float *out)
{
    const tq_attr *a = tq_node_attr(n, name);
    *out = dflt;
    if (!a) {
        return TFMQ_OK;
    }
    if (a->type == TQ_ATTR_INT) { /* some exporters write integral floats as ints */
        *out = (float)a->i;
        return TFMQ_OK;
    }
    if (a->type != TQ_ATTR_FLOAT) {
        return tq_attr_type_error(n, name, "a float");
    }
    *out = a->f;
    return TFMQ_OK;
}

tfmq_status tq_attr_string(const tq_node *n, const char *name, const char *dflt, const char **out)
{
    const tq_attr *a = tq_node_attr(n, name);
    *out = dflt;
    if (!a) {
        return TFMQ_OK;
    }
    if (a->type != TQ_ATTR_STRING) {
        return tq_attr_type_error(n, name, "a string");
    }
    *out = a->s;
    return TFMQ_OK;
}

tfmq_status tq_attr_ints(const tq_node *n, const char *name, const int64_t **out, size_t *n_out)
{
    const tq_attr *a = tq_node_attr(n, name);
    *out = NULL;
    *n_out = 0;
    if (!a) {
        return TFMQ_OK;
    }
    if (a->type != TQ_ATTR_INTS) {
        return tq_attr_type_error(n, name, "a list of ints");
    }
    *out = a->ints;
    *n_out = a->n;
    return TFMQ_OK;
}

tfmq_status tq_attr_floats(const tq_node *n, const char *name, const float **out, size_t *n_out)
{
    const tq_attr *a = tq_node_attr(n, name);
    *out = NULL;
    *n_out = 0;
    if (!a) {
        return TFMQ_OK;
    }
    if (a->type != TQ_ATTR_FLOATS) {
        return tq_attr_type_error(n, name, "a list of floats");
    }
    *out = a->floats;
    *n_out = a->n;
    return TFMQ_OK;
}
