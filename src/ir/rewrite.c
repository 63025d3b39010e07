/* rewrite.c: graph rewriting utilities (see rewrite.h): clone, new constants, unique names,
 * use counting, redirecting uses, node removal and compaction.
 * A clone shares constant data with its source (pointers copied); everything else it holds
 * (names, index arrays, attributes, subgraphs) is copied into the clone's arena. Compaction frees
 * only constant blocks the graph itself owns and that no value or attribute refers to. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/rewrite.h"

static tfmq_status oom(void)
{
    return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "rewrite: out of memory");
}

/* ---- clone ---- */

static tfmq_status clone_into(const tq_graph *src, tq_graph *dst);

static const char *dup_str(tq_arena *ar, const char *s, bool *ok)
{
    if (!s) {
        return NULL;
    }
    char *d = tq_arena_strdup(ar, s);
    if (!d) {
        *ok = false;
    }
    return d;
}

static tfmq_status clone_attr(tq_graph *dst, const tq_attr *a, tq_attr *d)
{
    tq_arena *ar = dst->arena;
    bool ok = true;
    *d = *a;
    d->name = dup_str(ar, a->name, &ok);
    d->s = dup_str(ar, a->s, &ok);
    if (!ok) {
        return oom();
    }
    if (a->floats) {
        float *f = tq_arena_alloc(ar, sizeof(float) * (a->n ? a->n : 1));
        if (!f) {
            return oom();
        }
        if (a->n) {
            memcpy(f, a->floats, sizeof(float) * a->n);
        }
        d->floats = f;
    }
    if (a->ints) {
        int64_t *v = tq_arena_alloc(ar, sizeof(int64_t) * (a->n ? a->n : 1));
        if (!v) {
            return oom();
        }
        if (a->n) {
            memcpy(v, a->ints, sizeof(int64_t) * a->n);
        }
        d->ints = v;
    }
    if (a->strings) {
        const char **v = tq_arena_alloc(ar, sizeof(char *) * (a->n ? a->n : 1));
        if (!v) {
            return oom();
        }
        for (size_t i = 0; i < a->n; i++) {
            v[i] = dup_str(ar, a->strings[i], &ok);
        }
        if (!ok) {
            return oom();
        }
        d->strings = v;
    }
    if (a->tensor) {
        tq_tensor *t = tq_arena_alloc(ar, sizeof(*t));
        if (!t) {
            return oom();
        }
        *t = *a->tensor; /* data shared with the source */
        d->tensor = t;
    }
    if (a->graph) {
        tq_graph *sub = NULL;
        tfmq_status st = tq_graph_create_sub(dst, a->graph->name, &sub);
        if (st != TFMQ_OK) {
            return st;
        }
        d->graph = sub;
        return clone_into(a->graph, sub);
    }
    return TFMQ_OK;
}

static tfmq_status clone_into(const tq_graph *src, tq_graph *dst)
{
    tfmq_status st;
    tq_arena *ar = dst->arena;
    dst->opset = src->opset;
    for (size_t i = 0; i < src->n_values; i++) {
        const tq_value *sv = &src->values[i];
        int32_t idx;
        if ((st = tq_graph_add_value(dst, sv->name, &idx)) != TFMQ_OK) {
            return st;
        }
        tq_value *dv = &dst->values[idx];
        const char *name = dv->name;
        *dv = *sv; /* t.data shared */
        dv->name = name;
        bool ok = true;
        for (int32_t k = 0; k < TQ_MAX_RANK; k++) {
            dv->dim_names[k] = dup_str(ar, sv->dim_names[k], &ok);
        }
        if (!ok) {
            return oom();
        }
    }
    for (size_t i = 0; i < src->n_nodes; i++) {
        const tq_node *sn = &src->nodes[i];
        int32_t idx;
        if ((st = tq_graph_add_node(dst, sn->op, sn->name, sn->n_in, sn->n_out, sn->n_attrs,
                                    &idx)) != TFMQ_OK) {
            return st;
        }
        tq_node *dn = &dst->nodes[idx];
        if (sn->n_in) {
            memcpy(dn->in, sn->in, sizeof(int32_t) * (size_t)sn->n_in);
        }
        if (sn->n_out) {
            memcpy(dn->out, sn->out, sizeof(int32_t) * (size_t)sn->n_out);
        }
        for (int32_t k = 0; k < sn->n_attrs; k++) {
            /* clone_attr may create subgraphs (dst->subs grows) but never adds nodes to dst */
            if ((st = clone_attr(dst, &sn->attrs[k], &dst->nodes[idx].attrs[k])) != TFMQ_OK) {
                return st;
            }
        }
    }
    dst->inputs = tq_arena_alloc(ar, sizeof(int32_t) * (src->n_inputs ? src->n_inputs : 1));
    dst->outputs = tq_arena_alloc(ar, sizeof(int32_t) * (src->n_outputs ? src->n_outputs : 1));
    if (!dst->inputs || !dst->outputs) {
        return oom();
    }
    if (src->n_inputs) {
        memcpy(dst->inputs, src->inputs, sizeof(int32_t) * src->n_inputs);
    }
    if (src->n_outputs) {
        memcpy(dst->outputs, src->outputs, sizeof(int32_t) * src->n_outputs);
    }
    dst->n_inputs = src->n_inputs;
    dst->n_outputs = src->n_outputs;
    return TFMQ_OK;
}

tfmq_status tq_graph_clone(const tq_graph *src, tq_arena *arena, const tfmq_allocator *alloc,
                           tq_graph **out)
{
    tfmq_status st;
    tq_graph *g = NULL;
    if (!out) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "graph_clone: NULL argument");
    }
    *out = NULL;
    if (!src || !arena) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "graph_clone: NULL argument");
    }
    TQ_TRY(st, tq_graph_create(arena, alloc, &g));
    g->name = tq_arena_strdup(arena, src->name ? src->name : "");
    if (!g->name) {
        st = oom();
        goto fail;
    }
    TQ_TRY(st, clone_into(src, g));
    *out = g;
    return TFMQ_OK;
fail:
    tq_graph_destroy(g);
    return st;
}

/* ---- names and constants ---- */

const char *tq_graph_unique_name(tq_graph *g, const char *base)
{
    if (!base) {
        base = "";
    }
    if (tq_graph_find_value(g, base) < 0) {
        char *s = tq_arena_strdup(g->arena, base);
        if (!s) {
            oom();
        }
        return s;
    }
    size_t n = strlen(base) + 24;
    char *buf = tq_arena_alloc(g->arena, n);
    if (!buf) {
        oom();
        return NULL;
    }
    for (uint64_t k = 1;; k++) {
        snprintf(buf, n, "%s_%llu", base, (unsigned long long)k);
        if (tq_graph_find_value(g, buf) < 0) {
            return buf;
        }
    }
}

tfmq_status tq_graph_add_const(tq_graph *g, const char *name, tfmq_dtype dtype, int32_t rank,
                               const int64_t *dims, const void *data, int32_t *idx_out)
{
    tfmq_status st;
    *idx_out = -1;
    if (rank < 0 || rank > TQ_MAX_RANK) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "add_const '%s': rank %d", name ? name : "", rank);
    }
    tq_tensor t;
    memset(&t, 0, sizeof(t));
    t.dtype = dtype;
    t.rank = rank;
    for (int32_t i = 0; i < rank; i++) {
        t.dims[i] = dims[i];
    }
    size_t bytes;
    if (!tq_tensor_bytes(&t, &bytes)) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "add_const '%s': bad dtype or shape",
                       name ? name : "");
    }
    const char *uname = tq_graph_unique_name(g, name);
    if (!uname) {
        return TFMQ_ERR_OUT_OF_MEMORY;
    }
    void *p = tq_graph_alloc_data(g, bytes ? bytes : 1);
    if (!p) {
        return oom();
    }
    if (data && bytes) {
        memcpy(p, data, bytes);
    }
    int32_t idx;
    if ((st = tq_graph_add_value(g, uname, &idx)) != TFMQ_OK) {
        return st;
    }
    tq_value *v = &g->values[idx];
    t.data = p;
    v->t = t;
    v->data_bytes = bytes;
    v->flags = TQ_VALUE_CONST;
    v->producer = -1;
    *idx_out = idx;
    return TFMQ_OK;
}

/* ---- uses ---- */

void tq_graph_replace_uses(tq_graph *g, int32_t old_v, int32_t new_v)
{
    for (size_t i = 0; i < g->n_nodes; i++) {
        tq_node *n = &g->nodes[i];
        for (int32_t k = 0; k < n->n_in; k++) {
            if (n->in[k] == old_v) {
                n->in[k] = new_v;
            }
        }
    }
}

bool tq_value_is_graph_output(const tq_graph *g, int32_t v)
{
    for (size_t i = 0; i < g->n_outputs; i++) {
        if (g->outputs[i] == v) {
            return true;
        }
    }
    return false;
}

/* Subgraphs (any depth) of g's nodes that hold an outer value named `name`. */
static int32_t sub_outer_uses(const tq_graph *g, const char *name)
{
    int32_t n_uses = 0;
    for (size_t i = 0; i < g->n_nodes; i++) {
        const tq_node *n = &g->nodes[i];
        for (int32_t a = 0; a < n->n_attrs; a++) {
            const tq_graph *sub = n->attrs[a].graph;
            if (n->attrs[a].type != TQ_ATTR_GRAPH || !sub) {
                continue;
            }
            int32_t sv = tq_graph_find_value(sub, name);
            if (sv >= 0 && (sub->values[sv].flags & TQ_VALUE_OUTER)) {
                n_uses++;
            } else if (sv < 0) {
                n_uses += sub_outer_uses(sub, name); /* conservative: deeper outer refs */
            }
        }
    }
    return n_uses;
}

int32_t tq_value_n_uses(const tq_graph *g, int32_t v)
{
    int32_t n_uses = 0;
    for (size_t i = 0; i < g->n_nodes; i++) {
        const tq_node *n = &g->nodes[i];
        for (int32_t k = 0; k < n->n_in; k++) {
            if (n->in[k] == v) {
                n_uses++;
            }
        }
    }
    for (size_t i = 0; i < g->n_outputs; i++) {
        if (g->outputs[i] == v) {
            n_uses++;
        }
    }
    return n_uses + sub_outer_uses(g, g->values[v].name);
}

bool tq_value_used_by_subgraph(const tq_graph *g, int32_t v)
{
    return sub_outer_uses(g, g->values[v].name) > 0;
}

int32_t tq_value_producer(const tq_graph *g, int32_t v)
{
    if (v < 0) {
        return -1;
    }
    int32_t p = g->values[v].producer;
    if (p >= 0 && (size_t)p < g->n_nodes) {
        const tq_node *n = &g->nodes[p];
        for (int32_t k = 0; k < n->n_out; k++) {
            if (n->out[k] == v) {
                return p;
            }
        }
    }
    for (size_t i = 0; i < g->n_nodes; i++) {
        const tq_node *n = &g->nodes[i];
        for (int32_t k = 0; k < n->n_out; k++) {
            if (n->out[k] == v) {
                return (int32_t)i;
            }
        }
    }
    return -1;
}

void tq_graph_remove_node(tq_graph *g, int32_t node)
{
    if (node < 0 || (size_t)node >= g->n_nodes) {
        return;
    }
    tq_node *n = &g->nodes[node];
    for (int32_t k = 0; k < n->n_out; k++) {
        if (n->out[k] >= 0 && g->values[n->out[k]].producer == node) {
            g->values[n->out[k]].producer = -1;
        }
    }
    n->op = TQ_NODE_DEAD;
    n->n_in = 0;
    n->n_out = 0;
    n->n_attrs = 0;
}

/* ---- compaction ---- */

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;
    return x < y ? -1 : x > y;
}

/* Count (ptrs == NULL) or collect the data pointers of g's values and tensor attributes, and of
 * every subgraph below. */
static size_t collect_data_ptrs(const tq_graph *g, void **ptrs, size_t n)
{
    for (size_t i = 0; i < g->n_values; i++) {
        if (g->values[i].t.data) {
            if (ptrs) {
                ptrs[n] = g->values[i].t.data;
            }
            n++;
        }
    }
    for (size_t i = 0; i < g->n_nodes; i++) {
        const tq_node *nd = &g->nodes[i];
        for (int32_t a = 0; a < nd->n_attrs; a++) {
            if (nd->attrs[a].tensor && nd->attrs[a].tensor->data) {
                if (ptrs) {
                    ptrs[n] = nd->attrs[a].tensor->data;
                }
                n++;
            }
        }
    }
    for (size_t i = 0; i < g->n_subs; i++) {
        n = collect_data_ptrs(g->subs[i], ptrs, n);
    }
    return n;
}

/* Free the blocks of g that no value or attribute points into. Best effort: on OOM nothing is
 * freed (the blocks are released with the graph anyway). */
static void free_unused_blocks(tq_graph *g)
{
    size_t n_ptrs = collect_data_ptrs(g, NULL, 0);
    void **ptrs = tq_alloc(g->alloc, sizeof(void *) * (n_ptrs ? n_ptrs : 1));
    if (!ptrs) {
        tq_clear_error();
        return;
    }
    collect_data_ptrs(g, ptrs, 0);
    qsort(ptrs, n_ptrs, sizeof(void *), cmp_ptr);
    size_t kept = 0;
    for (size_t b = 0; b < g->n_blocks; b++) {
        uintptr_t lo = (uintptr_t)g->blocks[b], hi = lo + g->block_bytes[b];
        /* first pointer >= lo */
        size_t l = 0, h = n_ptrs;
        while (l < h) {
            size_t mid = l + (h - l) / 2;
            if ((uintptr_t)ptrs[mid] < lo) {
                l = mid + 1;
            } else {
                h = mid;
            }
        }
        bool used = l < n_ptrs && (uintptr_t)ptrs[l] < (hi > lo ? hi : lo + 1);
        if (used) {
            g->blocks[kept] = g->blocks[b];
            g->block_bytes[kept] = g->block_bytes[b];
            kept++;
        } else {
            tq_free_aligned(g->alloc, g->blocks[b], g->block_bytes[b]);
        }
    }
    g->n_blocks = kept;
    tq_free(g->alloc, ptrs, sizeof(void *) * (n_ptrs ? n_ptrs : 1));
}

tfmq_status tq_graph_compact(tq_graph *g)
{
    const size_t nv = g->n_values;
    int32_t *map = tq_alloc(g->alloc, sizeof(int32_t) * (nv ? nv : 1));
    if (!map) {
        return oom();
    }
    /* drop dead nodes */
    size_t nn = 0;
    for (size_t i = 0; i < g->n_nodes; i++) {
        if (!tq_node_is_dead(&g->nodes[i])) {
            g->nodes[nn++] = g->nodes[i];
        }
    }
    g->n_nodes = nn;
    /* mark referenced values (map[v] = 1) */
    for (size_t v = 0; v < nv; v++) {
        map[v] = (g->values[v].flags & (TQ_VALUE_INPUT | TQ_VALUE_OUTPUT)) ? 1 : 0;
    }
    for (size_t i = 0; i < g->n_inputs; i++) {
        map[g->inputs[i]] = 1;
    }
    for (size_t i = 0; i < g->n_outputs; i++) {
        map[g->outputs[i]] = 1;
    }
    for (size_t i = 0; i < nn; i++) {
        const tq_node *n = &g->nodes[i];
        for (int32_t k = 0; k < n->n_in; k++) {
            if (n->in[k] >= 0) {
                map[n->in[k]] = 1;
            }
        }
        for (int32_t k = 0; k < n->n_out; k++) {
            if (n->out[k] >= 0) {
                map[n->out[k]] = 1;
            }
        }
    }
    for (size_t v = 0; v < nv; v++) {
        if (!map[v] && sub_outer_uses(g, g->values[v].name) > 0) {
            map[v] = 1;
        }
    }
    /* renumber */
    size_t kept = 0;
    for (size_t v = 0; v < nv; v++) {
        if (map[v]) {
            g->values[kept] = g->values[v];
            map[v] = (int32_t)kept++;
        } else {
            map[v] = -1;
        }
    }
    g->n_values = kept;
    for (size_t i = 0; i < nn; i++) {
        tq_node *n = &g->nodes[i];
        for (int32_t k = 0; k < n->n_in; k++) {
            if (n->in[k] >= 0) {
                n->in[k] = map[n->in[k]];
            }
        }
        for (int32_t k = 0; k < n->n_out; k++) {
            if (n->out[k] >= 0) {
                n->out[k] = map[n->out[k]];
            }
        }
    }
    for (size_t i = 0; i < g->n_inputs; i++) {
        g->inputs[i] = map[g->inputs[i]];
    }
    for (size_t i = 0; i < g->n_outputs; i++) {
        g->outputs[i] = map[g->outputs[i]];
    }
    tq_free(g->alloc, map, sizeof(int32_t) * (nv ? nv : 1));
    free_unused_blocks(g);
    return tq_graph_finalize(g);
}
