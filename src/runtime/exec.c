/* exec.c: plans and runs one graph with the reference kernels (see exec.h for the model).
 * Ownership: the exec owns its workspace, scratch, folded constants and dynamic buffers; tensor
 * data of graph constants belongs to the graph, and run inputs are borrowed from the caller.
 * Memory plan: values with static shapes get offsets in one workspace, assigned greedily
 * (largest first, lowest non-conflicting offset) over their [producer, last consumer] lifetime. */
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/cpu.h"
#include "runtime/exec.h"
#include "runtime/mem_plan.h"

enum tq_ev_kind {
    TQ_EV_UNKNOWN = 0,
    TQ_EV_CONST,   /* graph constant or folded at plan time: data fixed */
    TQ_EV_INPUT,   /* caller-fed: data borrowed at run */
    TQ_EV_OUTER,   /* enclosing graph's value */
    TQ_EV_PLANNED, /* static shape, lives in the workspace */
    TQ_EV_DYNAMIC  /* shape known only at run time, own growable buffer */
};

typedef struct tq_xval {
    tq_tensor t;
    uint8_t layout;      /* tq_layout of the data in memory (PLANNED values may be NHWC) */
    uint8_t bf16;        /* a float32 PLANNED value stored as BF16 (between BF16 convolutions) */
    size_t bytes;        /* bytes of t for PLANNED / folded values */
    uint8_t kind;        /* enum tq_ev_kind */
    int32_t first, last; /* lifetime in node positions (PLANNED) */
    size_t offset;       /* workspace offset (PLANNED) */
    int32_t share;       /* PLANNED: the value whose buffer this one takes over (an in-place
                            residual, tq_exec_inplace), or -1: its own */
    void *dyn;           /* DYNAMIC buffer, or the folded block of a folded value */
    size_t dyn_cap;
    bool folded;         /* dyn holds plan-time folded data */
    tq_exec *outer_exec; /* OUTER: where the value lives */
    int32_t outer_idx;
} tq_xval;

typedef struct tq_exec_node {
    bool folded;  /* computed at plan time */
    bool dynamic; /* infer at run time */
    size_t scratch_bytes;
    tq_cpu_kernel *fast; /* prepared fast CPU kernel, or NULL: the reference kernel runs */
    bool inplace;        /* output 0 is written over input 3 (tq_exec_inplace) */
    tq_exec **subs; /* one exec per attribute, created on first use (graph attributes only) */
} tq_exec_node;

struct tq_exec {
    const tq_graph *g;
    const tfmq_allocator *alloc;
    tq_exec *parent;
    tq_xval *vals;
    tq_exec_node *nodes;
    void *workspace;
    size_t workspace_bytes, workspace_cap;
    void *scratch;
    size_t scratch_cap;
    bool planned;
    bool all_dynamic; /* subgraphs: everything inferred at run time */
    int32_t running_node;
    int32_t n_threads; /* fast CPU backend: threads per run; 0 = reference kernels only */
    size_t fold_max;   /* constant nodes with larger outputs are not folded (0: TQ_FOLD_MAX_BYTES) */
    tq_exec_observer_fn observer;
    void *observer_ud;
    double *profile_s; /* per node: seconds spent in its kernel, accumulated over runs */
};

void tq_exec_set_fold_limit(tq_exec *e, size_t max_bytes)
{
    e->fold_max = max_bytes;
}

void tq_exec_set_profile(tq_exec *e, double *seconds_per_node)
{
    e->profile_s = seconds_per_node;
}

void tq_exec_set_observer(tq_exec *e, tq_exec_observer_fn fn, void *user_data)
{
    e->observer = fn;
    e->observer_ud = user_data;
}

const tq_graph *tq_exec_graph(const tq_exec *e)
{
    return e->g;
}

#define TQ_FOLD_MAX_BYTES ((size_t)64 << 20)

static tfmq_status tq_oom(const char *what)
{
    return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "session: out of memory (%s)", what);
}

tfmq_status tq_exec_create(const tq_graph *g, const tfmq_allocator *alloc, tq_exec *parent,
                           tq_exec **exec_out)
{
    *exec_out = NULL;
    tq_exec *e = tq_calloc(alloc, 1, sizeof(*e));
    if (!e) {
        return tq_oom("exec");
    }
    e->g = g;
    e->alloc = alloc;
    e->parent = parent;
    e->all_dynamic = parent != NULL;
    e->running_node = -1;
    e->vals = tq_calloc(alloc, g->n_values ? g->n_values : 1, sizeof(*e->vals));
    e->nodes = tq_calloc(alloc, g->n_nodes ? g->n_nodes : 1, sizeof(*e->nodes));
    if (!e->vals || !e->nodes) {
        tq_exec_destroy(e);
        return tq_oom("exec");
    }
    /* bind outer values by name, searching enclosing execs outwards */
    for (size_t v = 0; v < g->n_values; v++) {
        if (!(g->values[v].flags & TQ_VALUE_OUTER)) {
            continue;
        }
        tq_exec *p = parent;
        int32_t idx = -1;
        while (p) {
            idx = tq_graph_find_value(p->g, g->values[v].name);
            if (idx >= 0 && !(p->g->values[idx].flags & TQ_VALUE_OUTER)) {
                break;
            }
            p = p->parent;
        }
        if (!p || idx < 0) {
            tq_exec_destroy(e);
            return tq_fail(TFMQ_ERR_INVALID_ARG, "subgraph '%s': outer value '%s' not found",
                           g->name, g->values[v].name);
        }
        e->vals[v].outer_exec = p;
        e->vals[v].outer_idx = idx;
    }
    *exec_out = e;
    return TFMQ_OK;
}

static void tq_exec_free_value_buffers(tq_exec *e)
{
    for (size_t v = 0; v < e->g->n_values; v++) {
        tq_xval *ev = &e->vals[v];
        tq_free_aligned(e->alloc, ev->dyn, ev->dyn_cap);
        ev->dyn = NULL;
        ev->dyn_cap = 0;
        ev->folded = false;
    }
}

static void tq_exec_free_fast(tq_exec *e)
{
    for (size_t i = 0; i < e->g->n_nodes; i++) {
        tq_cpu_kernel *k = e->nodes[i].fast;
        if (k) {
            k->destroy(k);
            e->nodes[i].fast = NULL;
        }
    }
}

void tq_exec_set_threads(tq_exec *e, int32_t n_threads)
{
    e->n_threads = n_threads > 0 ? n_threads : 0;
}

void tq_exec_destroy(tq_exec *e)
{
    if (!e) {
        return;
    }
    if (e->vals) {
        tq_exec_free_value_buffers(e);
    }
    if (e->nodes) {
        tq_exec_free_fast(e);
        for (size_t i = 0; i < e->g->n_nodes; i++) {
            tq_exec_node *en = &e->nodes[i];
            if (!en->subs) {
                continue;
            }
            for (int32_t a = 0; a < e->g->nodes[i].n_attrs; a++) {
                tq_exec_destroy(en->subs[a]);
            }
            tq_free(e->alloc, en->subs, sizeof(tq_exec *) * (size_t)e->g->nodes[i].n_attrs);
        }
    }
    tq_free_aligned(e->alloc, e->workspace, e->workspace_cap);
    tq_free_aligned(e->alloc, e->scratch, e->scratch_cap);
    tq_free(e->alloc, e->vals, (e->g->n_values ? e->g->n_values : 1) * sizeof(*e->vals));
    tq_free(e->alloc, e->nodes, (e->g->n_nodes ? e->g->n_nodes : 1) * sizeof(*e->nodes));
    tq_free(e->alloc, e, sizeof(*e));
}

const tq_tensor *tq_exec_value(const tq_exec *e, int32_t v)
{
    return &e->vals[v].t;
}

bool tq_exec_value_is_const(const tq_exec *e, int32_t v)
{
    return e->vals[v].kind == TQ_EV_CONST;
}

const tq_tensor *tq_exec_input(const tq_exec *e, size_t i)
{
    return &e->vals[e->g->inputs[i]].t;
}

int tq_exec_value_layout(const tq_exec *e, int32_t v)
{
    return e->vals[v].layout;
}

const char *tq_exec_node_impl(const tq_exec *e, size_t i)
{
    return e->nodes[i].fast ? e->nodes[i].fast->impl : NULL;
}

size_t tq_exec_workspace_bytes(const tq_exec *e)
{
    return e->workspace_bytes;
}

/* Ensure a growable aligned buffer holds `need` bytes; keeps contents when keep is true. */
static tfmq_status tq_grow(const tfmq_allocator *alloc, void **buf, size_t *cap, size_t need,
                           bool keep)
{
    if (need <= *cap && *buf) {
        return TFMQ_OK;
    }
    size_t ncap = need < 64 ? 64 : need;
    if (*cap && ncap < *cap * 2 && *cap * 2 <= TQ_MAX_TENSOR_BYTES) {
        ncap = *cap * 2;
    }
    void *p = tq_alloc_aligned(alloc, ncap);
    if (!p) {
        return tq_oom("buffer");
    }
    if (keep && *buf) {
        memcpy(p, *buf, *cap < ncap ? *cap : ncap);
    }
    tq_free_aligned(alloc, *buf, *cap);
    *buf = p;
    *cap = ncap;
    return TFMQ_OK;
}

/* Resolve the tensor currently behind value v (following OUTER links). */
static tq_tensor *tq_exec_tensor(tq_exec *e, int32_t v)
{
    tq_xval *ev = &e->vals[v];
    if (ev->kind == TQ_EV_OUTER || (e->g->values[v].flags & TQ_VALUE_OUTER)) {
        ev->t = ev->outer_exec->vals[ev->outer_idx].t;
    }
    return &ev->t;
}

/* Build the op context of node i; absent optional outputs get no tensor. */
static void tq_exec_ctx(tq_exec *e, size_t i, tq_op_ctx *ctx)
{
    const tq_node *n = &e->g->nodes[i];
    memset(ctx, 0, sizeof(*ctx));
    ctx->graph = e->g;
    ctx->node = n;
    ctx->n_in = n->n_in;
    ctx->n_out = n->n_out;
    ctx->opset = e->g->opset;
    ctx->exec = e;
    ctx->node_index = (int32_t)i;
    for (int32_t k = 0; k < n->n_in; k++) {
        ctx->in[k] = n->in[k] >= 0 ? tq_exec_tensor(e, n->in[k]) : NULL;
    }
    for (int32_t k = 0; k < n->n_out; k++) {
        ctx->out[k] = n->out[k] >= 0 ? &e->vals[n->out[k]].t : NULL;
    }
}

static bool tq_inputs_shapes_known(const tq_op_ctx *ctx)
{
    for (int32_t k = 0; k < ctx->n_in; k++) {
        if (ctx->in[k] && !tq_tensor_shape_known(ctx->in[k])) {
            return false;
        }
    }
    return true;
}

static bool tq_inputs_data_known(const tq_op_ctx *ctx)
{
    for (int32_t k = 0; k < ctx->n_in; k++) {
        if (ctx->in[k] && !ctx->in[k]->data) {
            return false;
        }
    }
    return true;
}

static bool tq_node_has_subgraph(const tq_node *n)
{
    for (int32_t a = 0; a < n->n_attrs; a++) {
        if (n->attrs[a].type == TQ_ATTR_GRAPH) {
            return true;
        }
    }
    return false;
}

static void tq_clear_outputs(tq_op_ctx *ctx)
{
    for (int32_t k = 0; k < ctx->n_out; k++) {
        if (ctx->out[k]) {
            memset(ctx->out[k], 0, sizeof(tq_tensor));
            ctx->out[k]->rank = -1;
        }
    }
}

/* Call the inference function and check what it produced. */
static tfmq_status tq_exec_infer(tq_op_ctx *ctx)
{
    tq_clear_outputs(ctx);
    ctx->scratch_bytes = 0;
    tfmq_status st = tq_infer_table[ctx->node->op](ctx);
    if (st != TFMQ_OK) {
        return st;
    }
    for (int32_t k = 0; k < ctx->n_out; k++) {
        tq_tensor *t = ctx->out[k];
        if (!t) {
            continue;
        }
        t->data = NULL;
        if (t->rank > TQ_MAX_RANK) {
            return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "output %d has rank %d (max %d)", k,
                              t->rank, TQ_MAX_RANK);
        }
        size_t bytes;
        if (tq_tensor_shape_known(t) && !tq_tensor_bytes(t, &bytes)) {
            char s[128];
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG,
                              "output %d of shape %s and dtype %s is too large or has no size",
                              k, tq_shape_str(t, s, sizeof(s)), tfmq_dtype_name(t->dtype));
        }
    }
    return TFMQ_OK;
}

/* Run the reference kernel of ctx's node with scratch memory from the exec. */
static tfmq_status tq_exec_kernel(tq_exec *e, tq_op_ctx *ctx)
{
    tfmq_status st = tq_grow(e->alloc, &e->scratch, &e->scratch_cap, ctx->scratch_bytes, false);
    if (st != TFMQ_OK) {
        return st;
    }
    ctx->scratch = e->scratch;
    int32_t prev = e->running_node;
    e->running_node = ctx->node_index;
    tq_cpu_kernel *k = ctx->node_index >= 0 ? e->nodes[ctx->node_index].fast : NULL;
    st = k ? k->run(k, ctx) : tq_ref_table[ctx->node->op](ctx);
    e->running_node = prev;
    return st;
}

/* Set dynamic output buffers for a node whose shapes were inferred at run time. */
static tfmq_status tq_exec_dyn_outputs(tq_exec *e, const tq_node *n, tq_op_ctx *ctx)
{
    for (int32_t k = 0; k < n->n_out; k++) {
        if (n->out[k] < 0) {
            continue;
        }
        tq_xval *ev = &e->vals[n->out[k]];
        size_t bytes;
        if (!tq_tensor_shape_known(&ev->t)) {
            ev->t.data = NULL; /* the kernel sizes it with tq_exec_resize_output */
            continue;
        }
        if (!tq_tensor_bytes(&ev->t, &bytes)) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "output %d is too large", k);
        }
        tfmq_status st = tq_grow(e->alloc, &ev->dyn, &ev->dyn_cap, bytes, false);
        if (st != TFMQ_OK) {
            return st;
        }
        ev->bytes = bytes;
        ev->t.data = ev->dyn;
    }
    return TFMQ_OK;
}

/* Fold node i at plan time: all inputs known, outputs computed into owned blocks. */
static tfmq_status tq_exec_fold(tq_exec *e, size_t i, tq_op_ctx *ctx)
{
    const tq_node *n = &e->g->nodes[i];
    for (int32_t k = 0; k < n->n_out; k++) {
        if (n->out[k] < 0) {
            continue;
        }
        tq_xval *ev = &e->vals[n->out[k]];
        size_t bytes = 0;
        tq_tensor_bytes(&ev->t, &bytes);
        tfmq_status st = tq_grow(e->alloc, &ev->dyn, &ev->dyn_cap, bytes, false);
        if (st != TFMQ_OK) {
            return st;
        }
        ev->t.data = ev->dyn;
        ev->bytes = bytes;
        ev->folded = true;
        ev->kind = TQ_EV_CONST;
    }
    e->nodes[i].folded = true;
    return tq_exec_kernel(e, ctx);
}

/* ---- fast CPU backend (backends/cpu/cpu.h) ---- */

/* The context of node i as the CPU backend's role and prepare functions see it (cpu.h): data
 * only for constants, since activations move per run (in_t holds the copies). */
static void tq_exec_ctx_consts(tq_exec *e, size_t i, tq_op_ctx *ctx, tq_tensor *in_t)
{
    const tq_node *n = &e->g->nodes[i];
    tq_exec_ctx(e, i, ctx);
    for (int32_t k = 0; k < n->n_in; k++) {
        if (ctx->in[k] && e->vals[n->in[k]].kind != TQ_EV_CONST) {
            in_t[k] = *ctx->in[k];
            in_t[k].data = NULL;
            ctx->in[k] = &in_t[k];
        }
    }
}

tq_exec_node_state tq_exec_node_get_state(const tq_exec *e, size_t i)
{
    if (e->nodes[i].folded) {
        return TQ_EXEC_NODE_FOLDED;
    }
    return e->nodes[i].dynamic ? TQ_EXEC_NODE_DYNAMIC : TQ_EXEC_NODE_STATIC;
}

size_t tq_exec_node_scratch(const tq_exec *e, size_t i)
{
    return e->nodes[i].scratch_bytes;
}

void tq_exec_prep_ctx(tq_exec *e, size_t i, tq_op_ctx *ctx, tq_tensor *in_t)
{
    tq_exec_ctx_consts(e, i, ctx, in_t);
}

/* Layout role of node i for the fast backend: the oneDNN family's when it takes the node's
 * layout question, else the SIMD family's. Folded and dynamic nodes are PLAIN. */
static tq_cpu_role tq_exec_role(tq_exec *e, size_t i)
{
    if (e->nodes[i].folded || e->nodes[i].dynamic) {
        return TQ_CPU_ROLE_PLAIN;
    }
    tq_op_ctx ctx;
    tq_tensor in_t[TQ_MAX_IO];
    tq_exec_ctx_consts(e, i, &ctx, in_t);
    tq_cpu_role r = tq_cpu_dnnl_role(&ctx);
    return r != TQ_CPU_ROLE_PLAIN ? r : tq_cpu_simd_role(&ctx);
}

static int32_t tq_uf_find(int32_t *parent, int32_t v)
{
    while (parent[v] != v) {
        parent[v] = parent[parent[v]];
        v = parent[v];
    }
    return v;
}

static void tq_uf_union(int32_t *parent, int32_t a, int32_t b)
{
    a = tq_uf_find(parent, a);
    b = tq_uf_find(parent, b);
    if (a != b) {
        parent[a < b ? b : a] = a < b ? a : b;
    }
}

/* Whether value v is a rank-4 activation the exec could keep channels-last. */
static bool tq_exec_nhwc_candidate(const tq_exec *e, int32_t v)
{
    const tq_xval *ev = &e->vals[v];
    return ev->kind == TQ_EV_PLANNED && ev->t.rank == 4;
}

/* Decide the memory layout of every value (cpu.h, "Layouts"). Values that are rank-4
 * activations between nodes that accept NHWC become NHWC when the group of values tied together
 * by SAME-role nodes contains an input or output of an ANY-role node (a conv or pool: where the
 * layout pays) and every member can: planned (not a graph input, output or constant) and only
 * produced and read where the roles allow. A FusedConv's residual does not tie its value to the
 * output (the kernel reorders a residual of the other layout): tying them made a residual
 * network's whole chain one group, kept NCHW by any one reader without a channels-last kernel
 * (a CIFAR ResNet's Slice and Pad shortcuts: ResNet-20 FP32 b8 3.87 -> 3.19-3.31 ms, one
 * thread). Observed execs (their observer reads values), subgraph execs and graphs with control
 * flow (outer references by name) stay NCHW. */
static tfmq_status tq_exec_layouts(tq_exec *e, const uint8_t *roles)
{
    const tq_graph *g = e->g;
    for (size_t v = 0; v < g->n_values; v++) {
        e->vals[v].layout = TQ_LAYOUT_NCHW;
    }
    if (e->observer || e->parent || g->n_subs > 0) {
        return TFMQ_OK;
    }
    size_t nv = g->n_values ? g->n_values : 1;
    int32_t *parent = tq_alloc(e->alloc, nv * sizeof(int32_t));
    uint8_t *ok = tq_alloc(e->alloc, nv * 2);
    if (!parent || !ok) {
        tq_free(e->alloc, parent, nv * sizeof(int32_t));
        tq_free(e->alloc, ok, nv * 2);
        return tq_oom("layouts");
    }
    uint8_t *anchor = ok + nv;
    for (size_t v = 0; v < g->n_values; v++) {
        parent[v] = (int32_t)v;
        ok[v] = tq_exec_nhwc_candidate(e, (int32_t)v);
        anchor[v] = 0;
    }
    for (size_t i = 0; i < g->n_outputs; i++) {
        ok[g->outputs[i]] = 0;
    }
    for (size_t i = 0; i < g->n_nodes; i++) {
        const tq_node *n = &g->nodes[i];
        tq_cpu_role r = (tq_cpu_role)roles[i];
        bool residual = n->op == TQ_OP_FUSED_CONV && n->n_in > 3 && n->in[3] >= 0;
        for (int32_t k = 0; k < n->n_in; k++) {
            int32_t v = n->in[k];
            if (v < 0 || e->vals[v].t.rank != 4) {
                continue;
            }
            bool allowed = r == TQ_CPU_ROLE_SAME || (r == TQ_CPU_ROLE_ANY && k == 0) ||
                           (r == TQ_CPU_ROLE_ANY && residual && k == 3);
            if (!allowed) {
                ok[v] = 0;
            }
            if (r == TQ_CPU_ROLE_SAME && n->out[0] >= 0) {
                tq_uf_union(parent, v, n->out[0]);
            }
            if (r == TQ_CPU_ROLE_ANY && k == 0) {
                anchor[v] = 1;
            }
        }
        for (int32_t k = 0; k < n->n_out; k++) {
            int32_t v = n->out[k];
            if (v < 0) {
                continue;
            }
            if (r == TQ_CPU_ROLE_PLAIN || k > 0) {
                ok[v] = 0;
            } else if (r == TQ_CPU_ROLE_ANY) {
                anchor[v] = 1;
            }
        }
    }
    /* fold per-value facts into their group's root: all ok, any anchor */
    for (size_t v = 0; v < g->n_values; v++) {
        int32_t root = tq_uf_find(parent, (int32_t)v);
        if (root != (int32_t)v) {
            ok[root] = (uint8_t)(ok[root] && ok[v]);
            anchor[root] = (uint8_t)(anchor[root] || anchor[v]);
        }
    }
    for (size_t v = 0; v < g->n_values; v++) {
        int32_t root = tq_uf_find(parent, (int32_t)v);
        if (ok[root] && anchor[root]) {
            e->vals[v].layout = TQ_LAYOUT_NHWC;
        }
    }
    tq_free(e->alloc, parent, nv * sizeof(int32_t));
    tq_free(e->alloc, ok, nv * 2);
    return TFMQ_OK;
}

/* Keep float32 values BF16 in memory where both ends are BF16 convolutions: produced as output
 * 0 of one and read only as the source (input 0) or residual (input 3) of others, planned, not a
 * graph output, not observed (cpu.h, tq_cpu_dnnl_bf16_io). Halves their planned bytes. */
static void tq_exec_bf16_storage(tq_exec *e, tq_cpu_isa isa)
{
    const tq_graph *g = e->g;
    if (e->observer || e->parent || g->n_subs > 0 || isa < TQ_CPU_ISA_AVX512_BF16) {
        return;
    }
    for (size_t v = 0; v < g->n_values; v++) {
        tq_xval *ev = &e->vals[v];
        ev->bf16 = ev->kind == TQ_EV_PLANNED && ev->t.rank == 4 &&
                   ev->t.dtype == TFMQ_DTYPE_FLOAT32;
    }
    for (size_t i = 0; i < g->n_outputs; i++) {
        e->vals[g->outputs[i]].bf16 = 0;
    }
    for (size_t i = 0; i < g->n_nodes; i++) {
        const tq_node *n = &g->nodes[i];
        bool io = false;
        if (!e->nodes[i].folded && !e->nodes[i].dynamic) {
            tq_op_ctx ctx;
            tq_tensor in_t[TQ_MAX_IO];
            tq_exec_ctx_consts(e, i, &ctx, in_t);
            io = tq_cpu_dnnl_bf16_io(&ctx, isa);
        }
        for (int32_t k = 0; k < n->n_in; k++) {
            if (n->in[k] >= 0 && !(io && (k == 0 || k == 3))) {
                e->vals[n->in[k]].bf16 = 0;
            }
        }
        for (int32_t k = 0; k < n->n_out; k++) {
            if (n->out[k] >= 0 && !(io && k == 0)) {
                e->vals[n->out[k]].bf16 = 0;
            }
        }
    }
    for (size_t v = 0; v < g->n_values; v++) {
        tq_xval *ev = &e->vals[v];
        if (ev->bf16) {
            ev->bytes = tq_tensor_numel(&ev->t) * 2;
        }
    }
}

/* A residual convolution (FusedConv with input 3, taken by oneDNN: role ANY) whose residual
 * dies there writes its output over the residual: oneDNN's sum post-op accumulates onto the
 * destination, which then already holds R, so neither a copy of R nor a binary post-op that
 * reads it beside the output is needed (ResNet-50's 1x1 expansions at batch 8 run 1.3x to 2x
 * faster as brgconv_1x1 + sum than as jit_1x1 + binary). The output takes the residual's buffer
 * (share); the planner then places the two as one item. Only for NHWC values of equal size and
 * storage, the residual planned, not the source of the same node, and last read here; and only
 * with at least 64 output channels: below that oneDNN's jit_1x1 + binary is the faster pair
 * (MobileNetV2's 144->24 projection at 56x56, batch 8: 1.5 ms against 2.1 ms as brgconv + sum). */
static void tq_exec_inplace(tq_exec *e, const uint8_t *roles)
{
    const tq_graph *g = e->g;
    if (e->observer || e->parent || g->n_subs > 0) {
        return;
    }
    for (size_t i = 0; i < g->n_nodes; i++) {
        const tq_node *n = &g->nodes[i];
        if (roles[i] != TQ_CPU_ROLE_ANY || n->op != TQ_OP_FUSED_CONV || n->n_in <= 3 ||
            n->in[3] < 0 || n->n_out < 1 || n->out[0] < 0 || e->nodes[i].folded ||
            e->nodes[i].dynamic) {
            continue;
        }
        int32_t r = n->in[3], y = n->out[0];
        const tq_xval *er = &e->vals[r], *ey = &e->vals[y];
        bool other_use = false;
        for (int32_t k = 0; k < 3; k++) {
            other_use = other_use || n->in[k] == r;
        }
        if (other_use || er->kind != TQ_EV_PLANNED || ey->kind != TQ_EV_PLANNED ||
            er->last != (int32_t)i || er->layout != TQ_LAYOUT_NHWC ||
            ey->layout != TQ_LAYOUT_NHWC || er->bf16 != ey->bf16 || er->bytes != ey->bytes ||
            er->t.dtype != ey->t.dtype || ey->t.rank != 4 || ey->t.dims[1] < 64) {
            continue;
        }
        e->vals[y].share = r;
        e->nodes[i].inplace = true;
    }
}

/* Before the memory plan: roles, then the layout and storage type of every value. */
static tfmq_status tq_exec_plan_fast(tq_exec *e)
{
    const tq_graph *g = e->g;
    tq_cpu_isa isa = tq_cpu_isa_level();
    if (isa == TQ_CPU_ISA_SCALAR) {
        return TFMQ_OK;
    }
    size_t nn = g->n_nodes ? g->n_nodes : 1;
    uint8_t *roles = tq_alloc(e->alloc, nn);
    if (!roles) {
        return tq_oom("fast kernels");
    }
    for (size_t i = 0; i < g->n_nodes; i++) {
        roles[i] = (uint8_t)tq_exec_role(e, i);
    }
    tfmq_status st = tq_exec_layouts(e, roles);
    if (st == TFMQ_OK) {
        tq_exec_bf16_storage(e, isa);
        if (!getenv("TFMQ_CPU_NO_INPLACE")) {
            tq_exec_inplace(e, roles);
        }
    }
    tq_free(e->alloc, roles, nn);
    return st;
}

/* Prepare a fast kernel for every planned node the CPU backend takes (after the memory plan). */
static tfmq_status tq_exec_prepare_fast(tq_exec *e)
{
    const tq_graph *g = e->g;
    tq_cpu_isa isa = tq_cpu_isa_level();
    tfmq_status st = TFMQ_OK;
    if (isa == TQ_CPU_ISA_SCALAR) {
        return TFMQ_OK;
    }
    for (size_t i = 0; i < g->n_nodes && st == TFMQ_OK; i++) {
        const tq_node *n = &g->nodes[i];
        if (e->nodes[i].folded || e->nodes[i].dynamic) {
            continue;
        }
        uint8_t in_l[TQ_MAX_IO], out_l[TQ_MAX_IO], in_h[TQ_MAX_IO], out_h[TQ_MAX_IO];
        bool special = false; /* channels-last or BF16 storage: a fast kernel is required */
        for (int32_t k = 0; k < n->n_in; k++) {
            in_l[k] = n->in[k] >= 0 ? e->vals[n->in[k]].layout : TQ_LAYOUT_NCHW;
            in_h[k] = n->in[k] >= 0 ? e->vals[n->in[k]].bf16 : 0;
            special = special || in_l[k] != TQ_LAYOUT_NCHW || in_h[k];
        }
        for (int32_t k = 0; k < n->n_out; k++) {
            out_l[k] = n->out[k] >= 0 ? e->vals[n->out[k]].layout : TQ_LAYOUT_NCHW;
            out_h[k] = n->out[k] >= 0 ? e->vals[n->out[k]].bf16 : 0;
            special = special || out_l[k] != TQ_LAYOUT_NCHW || out_h[k];
        }
        tq_op_ctx ctx;
        tq_tensor in_t[TQ_MAX_IO];
        tq_exec_ctx_consts(e, i, &ctx, in_t);
        tq_cpu_prep p = {&ctx, in_l, out_l, e->n_threads, isa, e->alloc, in_h, out_h,
                         e->nodes[i].inplace};
        tq_cpu_kernel *k = NULL;
        st = tq_cpu_prepare_dnnl(&p, &k);
        if (st == TFMQ_OK && !k) {
            st = tq_cpu_prepare_simd(&p, &k);
        }
        if (st == TFMQ_OK && !k && special) {
            st = tq_op_fail(&ctx, TFMQ_ERR_INTERNAL, "no fast CPU kernel for the channels-last "
                            "layout or BF16 storage planned for it");
        }
        e->nodes[i].fast = k;
    }
    return st;
}

/* The value whose buffer v ends up in: v itself, or the end of its share chain (a residual that
 * is itself written over an earlier residual). */
static int32_t tq_exec_share_root(const tq_exec *e, int32_t v)
{
    while (e->vals[v].share >= 0) {
        v = e->vals[v].share;
    }
    return v;
}

/* Offsets of the PLANNED values in the workspace (runtime/mem_plan.c). A value sharing another's
 * buffer is not an item of its own: its chain's root lives until the last of them dies. */
static tfmq_status tq_exec_assign_offsets(tq_exec *e)
{
    const tq_graph *g = e->g;
    size_t nv = g->n_values, n_planned = 0;
    tq_mem_item *items = tq_alloc(e->alloc, sizeof(tq_mem_item) * (nv ? nv : 1));
    if (!items) {
        return tq_oom("plan");
    }
    for (size_t v = 0; v < nv; v++) {
        const tq_xval *ev = &e->vals[v];
        if (ev->kind == TQ_EV_PLANNED && ev->share >= 0) {
            tq_xval *root = &e->vals[tq_exec_share_root(e, (int32_t)v)];
            root->last = ev->last > root->last ? ev->last : root->last;
        }
    }
    for (size_t v = 0; v < nv; v++) {
        const tq_xval *ev = &e->vals[v];
        if (ev->kind == TQ_EV_PLANNED && ev->share < 0) {
            items[n_planned++] = (tq_mem_item){ev->bytes, ev->first, ev->last, 0};
        }
    }
    tfmq_status st = tq_mem_plan(items, n_planned, TQ_ALIGN, e->alloc, &e->workspace_bytes);
    n_planned = 0;
    for (size_t v = 0; v < nv && st == TFMQ_OK; v++) {
        if (e->vals[v].kind == TQ_EV_PLANNED && e->vals[v].share < 0) {
            e->vals[v].offset = items[n_planned++].offset;
        }
    }
    for (size_t v = 0; v < nv && st == TFMQ_OK; v++) {
        if (e->vals[v].kind == TQ_EV_PLANNED && e->vals[v].share >= 0) {
            e->vals[v].offset = e->vals[tq_exec_share_root(e, (int32_t)v)].offset;
        }
    }
    tq_free(e->alloc, items, sizeof(tq_mem_item) * (nv ? nv : 1));
    return st;
}

/* Mark uses of outer values inside node i's subgraphs as uses by node i in this graph. */
static void tq_exec_mark_sub_uses(tq_exec *e, const tq_graph *sub, int32_t pos)
{
    for (size_t v = 0; v < sub->n_values; v++) {
        if (!(sub->values[v].flags & TQ_VALUE_OUTER)) {
            continue;
        }
        int32_t idx = tq_graph_find_value(e->g, sub->values[v].name);
        if (idx >= 0 && e->vals[idx].kind == TQ_EV_PLANNED && e->vals[idx].last < pos) {
            e->vals[idx].last = pos;
        }
    }
    for (size_t s = 0; s < sub->n_subs; s++) {
        tq_exec_mark_sub_uses(e, sub->subs[s], pos);
    }
}

tfmq_status tq_exec_plan(tq_exec *e, const tq_tensor *input_shapes, bool shapes_only)
{
    const tq_graph *g = e->g;
    tfmq_status st = TFMQ_OK;
    tq_op_ctx ctx;

    e->planned = false;
    tq_exec_free_fast(e);
    tq_exec_free_value_buffers(e);
    for (size_t v = 0; v < g->n_values; v++) {
        tq_xval *ev = &e->vals[v];
        const tq_value *gv = &g->values[v];
        tq_exec *oe = ev->outer_exec;
        int32_t oi = ev->outer_idx;
        memset(ev, 0, sizeof(*ev));
        ev->outer_exec = oe;
        ev->outer_idx = oi;
        ev->share = -1;
        ev->t.rank = -1;
        if (gv->flags & TQ_VALUE_CONST) {
            ev->kind = TQ_EV_CONST;
            ev->t = gv->t;
        } else if (gv->flags & TQ_VALUE_OUTER) {
            ev->kind = TQ_EV_OUTER;
        }
    }
    for (size_t i = 0; i < g->n_inputs; i++) {
        tq_xval *ev = &e->vals[g->inputs[i]];
        ev->kind = TQ_EV_INPUT;
        if (input_shapes) {
            ev->t = input_shapes[i];
        }
        ev->t.data = NULL;
    }
    for (size_t i = 0; i < g->n_nodes; i++) {
        e->nodes[i].folded = false;
        e->nodes[i].dynamic = true;
        e->nodes[i].inplace = false;
        e->nodes[i].scratch_bytes = 0;
    }
    if (e->all_dynamic) {
        for (size_t i = 0; i < g->n_nodes; i++) {
            for (int32_t k = 0; k < g->nodes[i].n_out; k++) {
                if (g->nodes[i].out[k] >= 0) {
                    e->vals[g->nodes[i].out[k]].kind = TQ_EV_DYNAMIC;
                }
            }
        }
        e->planned = true;
        return TFMQ_OK;
    }

    /* 1. infer shapes in topological order; fold what is computable now */
    for (size_t i = 0; i < g->n_nodes; i++) {
        const tq_node *n = &g->nodes[i];
        tq_exec_ctx(e, i, &ctx);
        bool control = tq_node_has_subgraph(n);
        if (control || !tq_inputs_shapes_known(&ctx)) {
            tq_clear_outputs(&ctx);
            if (!control) {
                goto dynamic;
            }
        }
        TQ_TRY(st, tq_exec_infer(&ctx));
        bool known = true;
        size_t out_bytes = 0;
        for (int32_t k = 0; k < n->n_out; k++) {
            if (!ctx.out[k]) {
                continue;
            }
            size_t b = 0;
            if (!tq_tensor_shape_known(ctx.out[k]) || !tq_tensor_bytes(ctx.out[k], &b)) {
                known = false;
            }
            out_bytes += b;
        }
        if (!known) {
            goto dynamic;
        }
        /* Shape and Size read only the (planned, hence fixed) shape of their input */
        bool shape_only = n->op == TQ_OP_SHAPE || n->op == TQ_OP_SIZE;
        if (!control && (shape_only || tq_inputs_data_known(&ctx)) &&
            out_bytes <= (e->fold_max ? e->fold_max : TQ_FOLD_MAX_BYTES)) {
            TQ_TRY(st, tq_exec_fold(e, i, &ctx));
            continue;
        }
        e->nodes[i].dynamic = false;
        e->nodes[i].scratch_bytes = ctx.scratch_bytes;
        for (int32_t k = 0; k < n->n_out; k++) {
            if (n->out[k] < 0) {
                continue;
            }
            tq_xval *ev = &e->vals[n->out[k]];
            ev->kind = TQ_EV_PLANNED;
            tq_tensor_bytes(&ev->t, &ev->bytes);
            ev->first = (int32_t)i;
            ev->last = (int32_t)i;
        }
        continue;
    dynamic:
        for (int32_t k = 0; k < n->n_out; k++) {
            if (n->out[k] >= 0) {
                e->vals[n->out[k]].kind = TQ_EV_DYNAMIC;
                e->vals[n->out[k]].t.rank = -1;
            }
        }
    }
    if (shapes_only) {
        e->planned = true;
        return TFMQ_OK;
    }

    /* 2. lifetimes: last consumer (explicit inputs and outer uses in subgraphs); outputs live on */
    for (size_t i = 0; i < g->n_nodes; i++) {
        const tq_node *n = &g->nodes[i];
        if (e->nodes[i].folded) {
            continue;
        }
        for (int32_t k = 0; k < n->n_in; k++) {
            int32_t v = n->in[k];
            if (v >= 0 && e->vals[v].kind == TQ_EV_PLANNED && e->vals[v].last < (int32_t)i) {
                e->vals[v].last = (int32_t)i;
            }
        }
        for (int32_t a = 0; a < n->n_attrs; a++) {
            if (n->attrs[a].type == TQ_ATTR_GRAPH) {
                tq_exec_mark_sub_uses(e, n->attrs[a].graph, (int32_t)i);
            }
        }
    }
    for (size_t i = 0; i < g->n_outputs; i++) {
        tq_xval *ev = &e->vals[g->outputs[i]];
        if (ev->kind == TQ_EV_PLANNED) {
            ev->last = (int32_t)g->n_nodes;
        }
    }
    /* 2b. fast CPU backend: layouts and BF16 storage (which change planned bytes) */
    if (e->n_threads > 0) {
        TQ_TRY(st, tq_exec_plan_fast(e));
    }
    /* 3. offsets, workspace, scratch */
    TQ_TRY(st, tq_exec_assign_offsets(e));
    TQ_TRY(st, tq_grow(e->alloc, &e->workspace, &e->workspace_cap, e->workspace_bytes, false));
    size_t scratch = 0;
    for (size_t i = 0; i < g->n_nodes; i++) {
        if (e->nodes[i].scratch_bytes > scratch) {
            scratch = e->nodes[i].scratch_bytes;
        }
    }
    TQ_TRY(st, tq_grow(e->alloc, &e->scratch, &e->scratch_cap, scratch, false));
    for (size_t v = 0; v < g->n_values; v++) {
        tq_xval *ev = &e->vals[v];
        if (ev->kind == TQ_EV_PLANNED) {
            ev->t.data = (char *)e->workspace + ev->offset;
        }
    }
    /* 4. fast CPU kernels, with the layout of every value they exchange */
    if (e->n_threads > 0) {
        TQ_TRY(st, tq_exec_prepare_fast(e));
    }
    e->planned = true;
    return TFMQ_OK;
fail:
    return st;
}

static bool tq_same_shape(const tq_tensor *a, const tq_tensor *b)
{
    if (a->rank != b->rank || a->dtype != b->dtype) {
        return false;
    }
    for (int32_t i = 0; i < a->rank; i++) {
        if (a->dims[i] != b->dims[i]) {
            return false;
        }
    }
    return true;
}

tfmq_status tq_exec_ensure_plan(tq_exec *e, const tq_tensor *inputs, bool *replanned_out)
{
    const tq_graph *g = e->g;
    bool replan = !e->planned;
    for (size_t i = 0; i < g->n_inputs && !replan; i++) {
        replan = !tq_same_shape(&e->vals[g->inputs[i]].t, &inputs[i]);
    }
    if (replanned_out) {
        *replanned_out = false;
    }
    if (!replan) {
        return TFMQ_OK;
    }
    /* a failed plan leaves e->planned false, so the next call plans again */
    tfmq_status st = tq_exec_plan(e, inputs, false);
    if (st == TFMQ_OK && replanned_out) {
        *replanned_out = true;
    }
    return st;
}

static tfmq_status tq_exec_run_nodes(tq_exec *e, const tq_tensor *inputs);

tfmq_status tq_exec_run(tq_exec *e, const tq_tensor *inputs)
{
    if (e->n_threads <= 0 || e->parent) {
        return tq_exec_run_nodes(e, inputs);
    }
    int32_t prev = tq_cpu_threads_enter(e->n_threads);
    tfmq_status st = tq_exec_run_nodes(e, inputs);
    tq_cpu_threads_leave(prev);
    return st;
}

static tfmq_status tq_exec_run_nodes(tq_exec *e, const tq_tensor *inputs)
{
    const tq_graph *g = e->g;
    tfmq_status st;
    tq_op_ctx ctx;

    if (!e->planned) {
        return tq_fail(TFMQ_ERR_INVALID_STATE, "session: run before planning");
    }
    for (size_t i = 0; i < g->n_inputs; i++) {
        tq_xval *ev = &e->vals[g->inputs[i]];
        if (!e->all_dynamic && !tq_same_shape(&ev->t, &inputs[i])) {
            return tq_fail(TFMQ_ERR_INTERNAL, "session: input '%s' differs from the plan",
                           g->values[g->inputs[i]].name);
        }
        ev->t = inputs[i];
    }
    if (e->observer) {
        st = e->observer(e->observer_ud, e, -1);
        if (st != TFMQ_OK) {
            return st;
        }
    }
    for (size_t i = 0; i < g->n_nodes; i++) {
        const tq_node *n = &g->nodes[i];
        tq_exec_node *en = &e->nodes[i];
        if (en->folded) {
            continue;
        }
        if (!en->dynamic) {
            tq_exec_ctx(e, i, &ctx);
            ctx.scratch_bytes = en->scratch_bytes;
            double t0 = e->profile_s ? tq_now_s() : 0.0;
            st = tq_exec_kernel(e, &ctx);
            if (e->profile_s) {
                e->profile_s[i] += tq_now_s() - t0;
            }
            if (st != TFMQ_OK) {
                return st;
            }
            if (e->observer) {
                st = e->observer(e->observer_ud, e, (int32_t)i);
                if (st != TFMQ_OK) {
                    return st;
                }
            }
            continue;
        }
        tq_exec_ctx(e, i, &ctx);
        for (int32_t k = 0; k < n->n_in; k++) {
            if (ctx.in[k] && (!ctx.in[k]->data && tq_tensor_numel(ctx.in[k]) != 0)) {
                char lbl[64];
                return tq_fail(TFMQ_ERR_INTERNAL, "node '%s': input %d has no data",
                               tq_node_label(g, n, lbl, sizeof(lbl)), k);
            }
        }
        st = tq_exec_infer(&ctx);
        if (st != TFMQ_OK) {
            return st;
        }
        st = tq_exec_dyn_outputs(e, n, &ctx);
        if (st != TFMQ_OK) {
            return st;
        }
        st = tq_exec_kernel(e, &ctx);
        if (st != TFMQ_OK) {
            return st;
        }
        if (e->observer) {
            st = e->observer(e->observer_ud, e, (int32_t)i);
            if (st != TFMQ_OK) {
                return st;
            }
        }
    }
    return TFMQ_OK;
}

/* ---- services for control-flow kernels ---- */

tfmq_status tq_exec_resize_output(tq_op_ctx *ctx, int32_t k, tfmq_dtype dtype, int32_t rank,
                                  const int64_t *dims)
{
    tq_exec *e = ctx->exec;
    const tq_node *n = ctx->node;
    if (k < 0 || k >= n->n_out || n->out[k] < 0 || rank < 0 || rank > TQ_MAX_RANK) {
        return tq_op_fail(ctx, TFMQ_ERR_INTERNAL, "resize_output: bad output %d or rank %d", k,
                          rank);
    }
    tq_xval *ev = &e->vals[n->out[k]];
    tq_tensor t;
    memset(&t, 0, sizeof(t));
    t.dtype = dtype;
    t.rank = rank;
    for (int32_t i = 0; i < rank; i++) {
        t.dims[i] = dims[i];
    }
    size_t bytes;
    if (!tq_tensor_bytes(&t, &bytes)) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "output %d is too large", k);
    }
    if (ev->kind != TQ_EV_DYNAMIC) {
        return tq_op_fail(ctx, TFMQ_ERR_INTERNAL, "output %d is not dynamic", k);
    }
    tfmq_status st = tq_grow(e->alloc, &ev->dyn, &ev->dyn_cap, bytes, true);
    if (st != TFMQ_OK) {
        return st;
    }
    t.data = ev->dyn;
    ev->t = t;
    ev->bytes = bytes;
    ctx->out[k] = &ev->t;
    return TFMQ_OK;
}

tfmq_status tq_exec_run_subgraph(tq_op_ctx *ctx, const tq_graph *sub, const tq_tensor *const *ins,
                                 size_t n_ins, const tq_tensor **outs, size_t n_outs)
{
    tq_exec *e = ctx->exec;
    const tq_node *n = ctx->node;
    tq_exec_node *en = &e->nodes[ctx->node_index];
    tfmq_status st;
    int32_t a = -1;
    for (int32_t i = 0; i < n->n_attrs; i++) {
        if (n->attrs[i].type == TQ_ATTR_GRAPH && n->attrs[i].graph == sub) {
            a = i;
        }
    }
    if (a < 0) {
        return tq_op_fail(ctx, TFMQ_ERR_INTERNAL, "subgraph is not an attribute of the node");
    }
    if (n_ins != sub->n_inputs || n_outs != sub->n_outputs) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG,
                          "subgraph '%s' takes %zu inputs and gives %zu outputs, %zu and %zu "
                          "used",
                          sub->name, sub->n_inputs, sub->n_outputs, n_ins, n_outs);
    }
    if (!en->subs) {
        en->subs = tq_calloc(e->alloc, (size_t)n->n_attrs, sizeof(tq_exec *));
        if (!en->subs) {
            return tq_oom("subgraph");
        }
    }
    if (!en->subs[a]) {
        TQ_TRY(st, tq_exec_create(sub, e->alloc, e, &en->subs[a]));
        TQ_TRY(st, tq_exec_plan(en->subs[a], NULL, false));
    }
    tq_exec *se = en->subs[a];
    tq_tensor in_buf[TQ_MAX_IO];
    if (n_ins > TQ_MAX_IO) {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "subgraph with %zu inputs", n_ins);
    }
    for (size_t i = 0; i < n_ins; i++) {
        in_buf[i] = *ins[i];
    }
    TQ_TRY(st, tq_exec_run(se, in_buf));
    for (size_t i = 0; i < n_outs; i++) {
        outs[i] = tq_exec_tensor(se, sub->outputs[i]);
    }
    return TFMQ_OK;
fail:
    return st;
}
