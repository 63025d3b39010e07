/* manager.c: the pass driver (tq_pass_run) and the helpers passes share: use counts, shape
 * inference over a whole graph, activation matching and building fused nodes.
 * Invariant between passes: the graph is compacted and finalized (topologically sorted, value
 * producers valid). Helper arrays are tq_alloc'd and freed by the caller. */
#include <float.h>
#include <string.h>

#include "passes/pass.h"

#define PASS_MAX_ROUNDS 16

tfmq_status tq_pass_use_counts(const tq_graph *g, int32_t **counts_out)
{
    size_t nv = g->n_values;
    int32_t *c = tq_calloc(g->alloc, nv ? nv : 1, sizeof(int32_t));
    *counts_out = NULL;
    if (!c) {
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "passes: out of memory");
    }
    bool has_subs = false;
    for (size_t i = 0; i < g->n_nodes; i++) {
        const tq_node *n = &g->nodes[i];
        for (int32_t k = 0; k < n->n_in; k++) {
            if (n->in[k] >= 0) {
                c[n->in[k]]++;
            }
        }
        for (int32_t a = 0; a < n->n_attrs; a++) {
            has_subs |= n->attrs[a].type == TQ_ATTR_GRAPH && n->attrs[a].graph;
        }
    }
    for (size_t i = 0; i < g->n_outputs; i++) {
        c[g->outputs[i]]++;
    }
    if (has_subs) {
        for (size_t v = 0; v < nv; v++) {
            if (tq_value_used_by_subgraph(g, (int32_t)v)) {
                c[v]++;
            }
        }
    }
    *counts_out = c;
    return TFMQ_OK;
}

int32_t tq_pass_single_consumer(const tq_graph *g, const int32_t *counts, int32_t v)
{
    if (v < 0 || counts[v] != 1 || tq_value_is_graph_output(g, v)) {
        return -1;
    }
    for (size_t i = 0; i < g->n_nodes; i++) {
        const tq_node *n = &g->nodes[i];
        for (int32_t k = 0; k < n->n_in; k++) {
            if (n->in[k] == v) {
                return (int32_t)i;
            }
        }
    }
    return -1;
}

static bool node_has_subgraph(const tq_node *n)
{
    for (int32_t a = 0; a < n->n_attrs; a++) {
        if (n->attrs[a].type == TQ_ATTR_GRAPH) {
            return true;
        }
    }
    return false;
}

tfmq_status tq_pass_infer_shapes(const tq_graph *g, int64_t sym, tq_tensor **shapes_out)
{
    size_t nv = g->n_values;
    tq_tensor *s = tq_calloc(g->alloc, nv ? nv : 1, sizeof(tq_tensor));
    *shapes_out = NULL;
    if (!s) {
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "passes: out of memory");
    }
    for (size_t v = 0; v < nv; v++) {
        const tq_value *val = &g->values[v];
        s[v].dtype = val->t.dtype;
        s[v].rank = -1;
        if ((val->flags & TQ_VALUE_CONST) && val->t.data) {
            s[v] = val->t;
        } else if (val->flags & TQ_VALUE_INPUT) {
            s[v] = val->t;
            s[v].data = NULL;
            for (int32_t i = 0; i < s[v].rank; i++) {
                if (s[v].dims[i] < 0) {
                    s[v].dims[i] = sym;
                }
            }
        }
    }
    for (size_t i = 0; i < g->n_nodes; i++) {
        const tq_node *n = &g->nodes[i];
        if (tq_node_is_dead(n) || node_has_subgraph(n)) {
            continue;
        }
        tq_op_ctx ctx;
        memset(&ctx, 0, sizeof(ctx));
        ctx.graph = g;
        ctx.node = n;
        ctx.n_in = n->n_in;
        ctx.n_out = n->n_out;
        ctx.opset = g->opset;
        ctx.node_index = (int32_t)i;
        for (int32_t k = 0; k < n->n_in; k++) {
            ctx.in[k] = n->in[k] >= 0 ? &s[n->in[k]] : NULL;
        }
        for (int32_t k = 0; k < n->n_out; k++) {
            ctx.out[k] = n->out[k] >= 0 ? &s[n->out[k]] : NULL;
        }
        if (tq_infer_table[n->op](&ctx) != TFMQ_OK) {
            tq_clear_error();
            for (int32_t k = 0; k < n->n_out; k++) {
                if (n->out[k] >= 0) {
                    s[n->out[k]].rank = -1;
                }
            }
        }
    }
    *shapes_out = s;
    return TFMQ_OK;
}

/* A scalar float bound from an optional constant input of Clip; false if not constant. */
static bool const_scalar(const tq_graph *g, const tq_node *n, int32_t k, double dflt, double *out)
{
    *out = dflt;
    if (k >= n->n_in || n->in[k] < 0) {
        return true;
    }
    const tq_value *v = &g->values[n->in[k]];
    if (!(v->flags & TQ_VALUE_CONST) || !v->t.data || v->t.rank < 0 ||
        tq_tensor_numel(&v->t) != 1 || !tq_dtype_is_float(v->t.dtype)) {
        return false;
    }
    *out = tq_load_f64(v->t.dtype, v->t.data, 0);
    return true;
}

bool tq_pass_match_act(const tq_graph *g, const tq_node *n, tq_fused_act *act)
{
    memset(act, 0, sizeof(*act));
    act->lo = -(double)FLT_MAX;
    act->hi = (double)FLT_MAX;
    act->alpha = 0.01;
    if (tq_node_is_dead(n) || n->n_out != 1) {
        return false;
    }
    switch (n->op) {
    case TQ_OP_RELU:
        act->kind = TQ_FUSED_ACT_RELU;
        return true;
    case TQ_OP_SIGMOID:
        act->kind = TQ_FUSED_ACT_SIGMOID;
        return true;
    case TQ_OP_HARD_SWISH:
        act->kind = TQ_FUSED_ACT_HARD_SWISH;
        return true;
    case TQ_OP_LEAKY_RELU: {
        float a;
        if (tq_attr_float(n, "alpha", 0.01f, &a) != TFMQ_OK) {
            tq_clear_error();
            return false;
        }
        act->kind = TQ_FUSED_ACT_LEAKY_RELU;
        act->alpha = (double)a;
        return true;
    }
    case TQ_OP_CLIP: {
        act->kind = TQ_FUSED_ACT_CLIP;
        if (g->opset < 11) {
            float lo, hi;
            if (tq_attr_float(n, "min", -FLT_MAX, &lo) != TFMQ_OK ||
                tq_attr_float(n, "max", FLT_MAX, &hi) != TFMQ_OK) {
                tq_clear_error();
                return false;
            }
            act->lo = (double)lo;
            act->hi = (double)hi;
        }
        double lo = act->lo, hi = act->hi;
        if (!const_scalar(g, n, 1, lo, &lo) || !const_scalar(g, n, 2, hi, &hi)) {
            return false;
        }
        /* the fused op stores the bounds as float attributes: they must survive the round trip */
        if ((double)(float)lo != lo || (double)(float)hi != hi) {
            return false;
        }
        act->lo = lo;
        act->hi = hi;
        return true;
    }
    default:
        return false;
    }
}

tfmq_status tq_pass_add_fused_node(tq_graph *g, uint32_t op, const char *name, int32_t n_in,
                                   const int32_t *in, int32_t out, const tq_attr *attrs,
                                   int32_t n_attrs, const tq_fused_act *act, int32_t *idx_out)
{
    tfmq_status st;
    enum { MAX_ATTRS = 64 };
    tq_attr tmp[MAX_ATTRS + 4];
    int32_t n = 0;
    *idx_out = -1;
    for (int32_t a = 0; a < n_attrs; a++) {
        if (act && attrs[a].name && strncmp(attrs[a].name, "activation", 10) == 0) {
            continue;
        }
        if (n >= MAX_ATTRS) {
            return tq_fail(TFMQ_ERR_UNSUPPORTED, "passes: node '%s' has too many attributes",
                           name ? name : "");
        }
        tmp[n++] = attrs[a]; /* strings and arrays live in the arena: shared, never written */
    }
    if (act) {
        memset(&tmp[n], 0, sizeof(tmp[n]));
        tmp[n].name = "activation";
        tmp[n].type = TQ_ATTR_STRING;
        tmp[n].s = tq_fused_act_name(act->kind);
        n++;
        if (act->kind == TQ_FUSED_ACT_CLIP) {
            memset(&tmp[n], 0, 2 * sizeof(tmp[n]));
            tmp[n].name = "activation_min";
            tmp[n].type = TQ_ATTR_FLOAT;
            tmp[n].f = (float)act->lo;
            tmp[n + 1].name = "activation_max";
            tmp[n + 1].type = TQ_ATTR_FLOAT;
            tmp[n + 1].f = (float)act->hi;
            n += 2;
        } else if (act->kind == TQ_FUSED_ACT_LEAKY_RELU) {
            memset(&tmp[n], 0, sizeof(tmp[n]));
            tmp[n].name = "activation_alpha";
            tmp[n].type = TQ_ATTR_FLOAT;
            tmp[n].f = (float)act->alpha;
            n++;
        }
    }
    int32_t idx;
    if ((st = tq_graph_add_node(g, op, name, n_in, 1, n, &idx)) != TFMQ_OK) {
        return st;
    }
    tq_node *nd = &g->nodes[idx];
    for (int32_t k = 0; k < n_in; k++) {
        nd->in[k] = in[k];
    }
    nd->out[0] = out;
    if (n) {
        memcpy(nd->attrs, tmp, sizeof(tq_attr) * (size_t)n);
    }
    g->values[out].producer = idx;
    *idx_out = idx;
    return TFMQ_OK;
}

typedef tfmq_status (*pass_fn)(tq_graph *g, bool *changed);

static const struct {
    const char *name;
    pass_fn fn;
} pass_table[] = {
    {"fold_constants", tq_pass_fold_constants},
    {"fold_bias", tq_pass_fold_bias},
    {"fold_batchnorm", tq_pass_fold_batchnorm},
    {"fuse_conv_bias_act", tq_pass_fuse_conv_bias_act},
    {"fuse_residual", tq_pass_fuse_residual},
    {"fuse_layernorm", tq_pass_fuse_layernorm},
    {"dce", tq_pass_dce},
    {"strip_half", tq_pass_strip_half},
};
#define N_PASSES (sizeof(pass_table) / sizeof(pass_table[0]))

static const char *const default_list =
    "fold_constants,fold_bias,fold_batchnorm,fuse_conv_bias_act,fuse_residual,fuse_layernorm,dce";

/* Resolve the list into pass indices (checks every name before anything runs). */
static tfmq_status parse_list(const char *list, int32_t *ids, size_t cap, size_t *n_out)
{
    size_t n = 0;
    const char *p = list;
    *n_out = 0;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len && (*p == ' ')) {
            p++;
            len--;
        }
        while (len && p[len - 1] == ' ') {
            len--;
        }
        if (len == 7 && strncmp(p, "default", 7) == 0) {
            size_t nd = 0;
            tfmq_status st = parse_list(default_list, ids + n, cap - n, &nd);
            if (st != TFMQ_OK) {
                return st;
            }
            n += nd;
        } else if (len) {
            bool found = false;
            for (size_t i = 0; i < N_PASSES; i++) {
                if (strlen(pass_table[i].name) == len && strncmp(pass_table[i].name, p, len) == 0) {
                    if (n >= cap) {
                        return tq_fail(TFMQ_ERR_INVALID_ARG, "passes: list too long");
                    }
                    ids[n++] = (int32_t)i;
                    found = true;
                }
            }
            if (!found) {
                return tq_fail(TFMQ_ERR_INVALID_ARG,
                               "passes: unknown pass '%.*s' (known: default, fold_constants, "
                               "fold_bias, fold_batchnorm, fuse_conv_bias_act, fuse_residual, "
                               "fuse_layernorm, dce, strip_half)",
                               (int)(len > 64 ? 64 : len), p);
            }
        }
        if (!e) {
            break;
        }
        p = e + 1;
    }
    *n_out = n;
    return TFMQ_OK;
}

tfmq_status tq_pass_run(tq_graph *g, const char *list)
{
    enum { MAX_LIST = 64 };
    int32_t ids[MAX_LIST];
    size_t n_ids = 0;
    tfmq_status st;
    if (!g || !list) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "pass_run: NULL argument");
    }
    if ((st = parse_list(list, ids, MAX_LIST, &n_ids)) != TFMQ_OK) {
        return st;
    }
    for (size_t i = 0; i < n_ids; i++) {
        for (int round = 0; round < PASS_MAX_ROUNDS; round++) {
            bool changed = false;
            if ((st = pass_table[ids[i]].fn(g, &changed)) != TFMQ_OK) {
                return tq_fail_prefix(st, "pass %s", pass_table[ids[i]].name);
            }
            if (!changed) {
                break;
            }
        }
    }
    return tq_graph_compact(g);
}
