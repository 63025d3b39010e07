/* exec.c (backends/cuda): plans and runs a graph on one GPU (cuda.h has the design, exec.h the
 * interface).
 *
 * Planning, in node order (the host exec already inferred every shape and folded constants):
 *  1. layouts and kernels: each static node gets the layouts its category wants (convolutions
 *     NHWC; pools and layout-free ops follow their first rank-4 input; everything else NCHW) and
 *     a prepared kernel from the conv, gemm and kernels families, or the host fallback. An input
 *     held in the other layout gets a "shadow" copy, made by a relayout step before its first
 *     consumer. View ops (Reshape, Flatten, Squeeze, Unsqueeze, Identity) on NCHW data share
 *     their input's buffer and run nothing.
 *  2. memory: every activation, graph input and shadow gets an offset in one device workspace by
 *     lifetime (runtime/mem_plan.c; position 0 is the input upload, node i is position i + 1,
 *     graph outputs live to the end); constants the kernels did not pack are uploaded once in the
 *     storage type.
 *  3. a run: caller inputs are copied into pinned staging, then one enqueue (uploads, input
 *     conversions, relayouts, kernels, output relayouts and conversions, downloads into pinned
 *     staging) on the session's stream; with no host fallback that enqueue is captured once into
 *     a CUDA graph and replayed. */
#include <stdio.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "backends/cpu/cpu.h" /* tq_layout */
#include "backends/cuda/dev.h"
#include "backends/cuda/exec.h"
#include "ir/rewrite.h"
#include "runtime/mem_plan.h"

#define CX_ALIGN 256

enum cx_kind {
    CX_NONE = 0,  /* absent, or a value of a folded node */
    CX_CONST = 1, /* graph constant or folded: host data in the host exec */
    CX_INPUT = 2, /* caller-fed */
    CX_ACT = 3    /* produced by a static node */
};

typedef struct cx_val {
    uint8_t kind;
    uint8_t layout;      /* primary layout (tq_layout) */
    bool stored;         /* float32 tensor kept in the session's storage type */
    int32_t alias;       /* value whose buffer this one shares (-1: its own) */
    size_t bytes;        /* device bytes of the primary buffer */
    int32_t first, last; /* lifetime of the primary buffer (positions) */
    void *dptr;          /* device data (primary layout) */
    bool shadow;         /* a copy in the other layout exists */
    int32_t sfirst, slast;
    void *sptr;
    void *cdev;          /* uploaded constant (CX_CONST consumed by a GPU kernel) */
} cx_val;

enum cx_step_kind {
    CX_STEP_KERNEL = 0,
    CX_STEP_RELAYOUT = 1, /* value's primary -> shadow */
    CX_STEP_HOST = 2
};

typedef struct cx_step {
    uint8_t kind;
    int32_t node;  /* KERNEL, HOST */
    int32_t value; /* RELAYOUT */
} cx_step;

typedef struct cx_node {
    tq_cuda_kernel *k;
    bool host;      /* host fallback */
    bool view;      /* aliased view op: nothing runs */
    bool absorbed;  /* a QAdd an earlier QConv's kernel computes (fused_add): nothing runs */
    int32_t fused_res, fused_out; /* a kernel with fused_add: the residual value it reads
                                     (input slot TQ_CUDA_ADD_RESIDUAL) and the value it makes */
    uint8_t in_l[TQ_MAX_IO], out_l[TQ_MAX_IO];
    bool in_shadow[TQ_MAX_IO]; /* input k is read from its value's shadow */
    void *in_ptr[TQ_MAX_IO], *out_ptr[TQ_MAX_IO];
    /* host fallback: host buffers per input and output */
    void *h_in[TQ_MAX_IO], *h_out[TQ_MAX_IO];
    size_t h_in_bytes[TQ_MAX_IO], h_out_bytes[TQ_MAX_IO];
    void *h_scratch;
    size_t h_scratch_bytes;
} cx_node;

typedef struct cx_io {
    int32_t value;
    void *pinned;        /* host staging (caller's dtype, NCHW) */
    size_t host_bytes;
    void *d_a, *d_b;     /* device staging: relayout target, float32 conversion target */
    tq_tensor t;         /* output tensor handed to the session (data = pinned) */
} cx_io;

struct tq_cuda_exec {
    const tq_graph *g;
    tq_exec *host;
    const tfmq_allocator *alloc;
    tq_cuda_exec_opts o;
    tq_cuda_dev dev;
    bool dev_open;
    cx_val *vals;
    cx_node *nodes;
    cx_step *steps;
    size_t n_steps, cap_steps;
    cx_io *ins, *outs;
    void *workspace;      /* device */
    size_t workspace_bytes;
    void *kspace;         /* device scratch shared by kernels (they run in order) */
    size_t kspace_bytes;
    void *h_stage;        /* device staging for host fallbacks (float32 conversions) */
    size_t h_stage_bytes;
    size_t n_fallback;
    void *graph_exec;     /* cudaGraphExec_t */
    bool graph_tried;
    uint64_t n_runs;
    tq_pc_share share;    /* conv/qconv plans reused by nodes with the same key */
    /* observation (tq_cuda_exec_set_observer): wanted values by observation point (0: after
     * the input uploads, a + 1: after step a) and their staging */
    tq_cuda_observer_fn obs_fn;
    void *obs_ud;
    size_t n_obs;         /* wanted values the device computes */
    int32_t *obs_vals;    /* n_obs values, by point */
    size_t *obs_at;       /* n_steps + 2 offsets into obs_vals */
    size_t n_obs_points;  /* n_steps + 1 */
    void *obs_pinned;     /* n_halves * obs_half_bytes of pinned host memory */
    size_t obs_half_bytes;
    int obs_n_halves;     /* 1 when every wanted value of a run fits in one half, else 2 */
    void *obs_da, *obs_db;/* device staging: relayout target, float32 conversion target */
    void *obs_ev[2];      /* cudaEvent_t: recorded after the last download into each half */
    int32_t *obs_pend_v[2];  /* per half: values downloaded, not yet handed (n_obs each) */
    tq_tensor *obs_pend_t[2];
    size_t obs_pend_n[2], obs_used[2]; /* entries, bytes used */
    int obs_cur;          /* the half being filled */
};

static tfmq_status cx_oom(void)
{
    return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "cuda: out of host memory");
}

static size_t cx_esize(tfmq_dtype dt)
{
    size_t s = tq_dtype_size(dt);
    return s ? s : 1;
}

/* Device element size of a value: float32 activations take the storage type's size. */
static size_t cx_dev_esize(const tq_cuda_exec *x, tfmq_dtype dt)
{
    if (dt == TFMQ_DTYPE_FLOAT32 && x->o.store != TQ_CUDA_F32) {
        return 2;
    }
    return cx_esize(dt);
}

static const tq_tensor *cx_t(const tq_cuda_exec *x, int32_t v)
{
    return tq_exec_value(x->host, v);
}

/* NCHW and NHWC hold the same bytes when C == 1 or H * W == 1. */
static bool cx_layouts_equal(const tq_tensor *t)
{
    return t->rank != 4 || t->dims[1] == 1 || t->dims[2] * t->dims[3] == 1;
}

static int32_t cx_root(const tq_cuda_exec *x, int32_t v)
{
    while (x->vals[v].alias >= 0) {
        v = x->vals[v].alias;
    }
    return v;
}

static tfmq_status cx_push_step(tq_cuda_exec *x, cx_step s)
{
    if (x->n_steps == x->cap_steps) {
        size_t nc = x->cap_steps ? x->cap_steps * 2 : 64;
        cx_step *n = tq_alloc(x->alloc, nc * sizeof(cx_step));
        if (!n) {
            return cx_oom();
        }
        if (x->n_steps) {
            memcpy(n, x->steps, x->n_steps * sizeof(cx_step));
        }
        tq_free(x->alloc, x->steps, x->cap_steps * sizeof(cx_step));
        x->steps = n;
        x->cap_steps = nc;
    }
    x->steps[x->n_steps++] = s;
    return TFMQ_OK;
}

static void cx_use(cx_val *v, int32_t pos)
{
    if (pos > v->last) {
        v->last = pos;
    }
}

/* Input k of node i (value v, an activation or input) is read in layout `want`. The primary
 * buffer is the alias root's; a shadow (the other layout) belongs to v itself, with v's shape. */
static tfmq_status cx_need(tq_cuda_exec *x, size_t i, int32_t k, int32_t v, uint8_t want)
{
    cx_node *cn = &x->nodes[i];
    cx_val *cv = &x->vals[v];
    cx_val *rv = &x->vals[cx_root(x, v)];
    int32_t pos = (int32_t)i + 1;
    cn->in_l[k] = want;
    cx_use(rv, pos); /* read here, or by the relayout no later than here */
    if (want == cv->layout || cx_layouts_equal(cx_t(x, v))) {
        cn->in_l[k] = cv->layout;
        return TFMQ_OK;
    }
    if (cx_t(x, v)->rank != 4) {
        return tq_fail(TFMQ_ERR_INTERNAL, "cuda: node %zu: a layout change of a rank-%d value",
                       i, (int)cx_t(x, v)->rank);
    }
    cn->in_shadow[k] = true;
    if (!cv->shadow) {
        cv->shadow = true;
        cv->sfirst = pos;
        cv->slast = pos;
        return cx_push_step(x, (cx_step){CX_STEP_RELAYOUT, -1, v});
    }
    if (pos > cv->slast) {
        cv->slast = pos;
    }
    return TFMQ_OK;
}

static bool cx_is_view(uint32_t op)
{
    return op == TQ_OP_RESHAPE || op == TQ_OP_FLATTEN || op == TQ_OP_SQUEEZE ||
           op == TQ_OP_UNSQUEEZE || op == TQ_OP_IDENTITY;
}

static bool cx_is_pool(uint32_t op)
{
    return op == TQ_OP_MAX_POOL || op == TQ_OP_AVERAGE_POOL || op == TQ_OP_GLOBAL_AVERAGE_POOL ||
           op == TQ_OP_GLOBAL_MAX_POOL;
}

/* Whether every reader of value v (none a graph output) is a convolution reading it as its
 * data input, i.e. wants it NHWC. */
static bool cx_feeds_convs_only(const tq_cuda_exec *x, int32_t v)
{
    const tq_graph *g = x->g;
    bool any = false;
    if (v < 0 || (g->values[v].flags & TQ_VALUE_OUTPUT)) {
        return false;
    }
    for (size_t j = 0; j < g->n_nodes; j++) {
        const tq_node *n = &g->nodes[j];
        for (int32_t k = 0; k < n->n_in; k++) {
            if (n->in[k] != v) {
                continue;
            }
            if (k != 0 || (n->op != TQ_OP_CONV && n->op != TQ_OP_FUSED_CONV &&
                           n->op != TQ_OP_QCONV)) {
                return false;
            }
            any = true;
        }
    }
    return any;
}

/* Whether value v is made on the device: a graph input or a static node's output. */
static bool cx_is_act(const tq_cuda_exec *x, int32_t v)
{
    return v >= 0 && (x->vals[v].kind == CX_ACT || x->vals[v].kind == CX_INPUT);
}

/* Whether QConv node i's output is read by one tfmq.QAdd alone (*j, at input *slot 0 or 3), of
 * the same rank-4 shape as its other operand *res, which is computed already (an input or an
 * earlier node's output: nodes are planned in order), and is not a graph output. */
static bool cx_fusable_add(const tq_cuda_exec *x, size_t i, int32_t *j, int32_t *slot,
                           int32_t *res)
{
    const tq_graph *g = x->g;
    const tq_node *n = &g->nodes[i];
    const int32_t v = n->n_out == 1 ? n->out[0] : -1;
    int32_t reader = -1, rk = -1;
    if (v < 0 || tq_value_n_uses(g, v) != 1) {
        return false; /* read twice, or a graph output */
    }
    for (size_t q = i + 1; q < g->n_nodes && reader < 0; q++) {
        for (int32_t k = 0; k < g->nodes[q].n_in; k++) {
            if (g->nodes[q].in[k] == v) {
                reader = (int32_t)q;
                rk = k;
            }
        }
    }
    if (reader < 0 || g->nodes[reader].op != TQ_OP_QADD || (rk != 0 && rk != 3) ||
        g->nodes[reader].n_out != 1 || g->nodes[reader].out[0] < 0 ||
        tq_exec_node_get_state(x->host, (size_t)reader) != TQ_EXEC_NODE_STATIC) {
        return false;
    }
    const int32_t r = g->nodes[reader].in[rk == 0 ? 3 : 0];
    const tq_tensor *tv = cx_t(x, v), *tr, *ty = cx_t(x, g->nodes[reader].out[0]);
    if (r < 0 || r == v || !cx_is_act(x, r)) {
        return false;
    }
    tr = cx_t(x, r);
    if (tv->rank != 4 || tr->rank != 4 || ty->rank != 4) {
        return false;
    }
    for (int32_t d = 0; d < 4; d++) {
        if (tr->dims[d] != tv->dims[d] || ty->dims[d] != tv->dims[d]) {
            return false;
        }
    }
    *j = reader;
    *slot = rk;
    *res = r;
    return true;
}

/* QConv node i's kernel took QAdd node j (fused_add): node i makes j's output (NHWC) from the
 * residual `res`; its own output is never made and j runs nothing. */
static tfmq_status cx_absorb_add(tq_cuda_exec *x, size_t i, int32_t j, int32_t res)
{
    const tq_node *n = &x->g->nodes[i];
    cx_node *cn = &x->nodes[i];
    const int32_t qo = x->g->nodes[j].out[0];
    const int32_t pos = (int32_t)i + 1;
    cx_val *ov = &x->vals[qo];
    const tq_tensor *t = cx_t(x, qo);
    size_t bytes = 0;
    if (!tq_tensor_bytes(t, &bytes)) {
        return tq_fail(TFMQ_ERR_INTERNAL, "cuda: output of node %d has no size", (int)j);
    }
    x->vals[n->out[0]].kind = CX_NONE;
    x->vals[n->out[0]].bytes = 0;
    ov->kind = CX_ACT;
    ov->stored = false;
    ov->layout = TQ_LAYOUT_NHWC;
    ov->first = ov->last = pos;
    ov->bytes = bytes;
    x->nodes[j].absorbed = true;
    cn->fused_res = res;
    cn->fused_out = qo;
    return cx_need(x, i, TQ_CUDA_ADD_RESIDUAL, res, TQ_LAYOUT_NHWC);
}

/* Try the families for node i with the layouts in cn->in_l/out_l. */
static tfmq_status cx_prepare(tq_cuda_exec *x, size_t i, bool conv_family,
                              const tq_op_ctx *add, int32_t add_slot, tq_cuda_kernel **k)
{
    cx_node *cn = &x->nodes[i];
    tq_op_ctx ctx;
    tq_tensor in_t[TQ_MAX_IO];
    tq_exec_prep_ctx(x->host, i, &ctx, in_t);
    tq_cuda_prep p = {.ctx = &ctx, .in_layout = cn->in_l, .out_layout = cn->out_l,
                      .store = x->o.store, .math = x->o.math, .dev = &x->dev,
                      .alloc = x->alloc, .plan_cache = x->o.plan_cache,
                      .share = &x->share, .quick_plans = x->o.quick_plans,
                      .add = add, .add_conv_slot = add_slot};
    tfmq_status st = TFMQ_OK;
    *k = NULL;
    if (conv_family) {
        st = tq_cuda_prepare_conv(&p, k);
    }
    if (st == TFMQ_OK && !*k) {
        st = tq_cuda_prepare_qconv(&p, k);
    }
    if (st == TFMQ_OK && !*k) {
        st = tq_cuda_prepare_gemm(&p, k);
    }
    if (st == TFMQ_OK && !*k) {
        st = tq_cuda_prepare_kernels(&p, k);
    }
    return st;
}

/* Layout of node i's outputs and inputs by category, then its kernel (pass 1). */
static tfmq_status cx_plan_node(tq_cuda_exec *x, size_t i)
{
    const tq_node *n = &x->g->nodes[i];
    cx_node *cn = &x->nodes[i];
    tfmq_status st;
    int32_t pos = (int32_t)i + 1;
    if (cn->absorbed) {
        return TFMQ_OK; /* its output and inputs were planned with the QConv (cx_absorb_add) */
    }
    for (int32_t k = 0; k < n->n_in; k++) {
        cn->in_l[k] = TQ_LAYOUT_NCHW;
    }
    for (int32_t k = 0; k < n->n_out; k++) {
        cn->out_l[k] = TQ_LAYOUT_NCHW;
    }
    for (int32_t k = 0; k < n->n_out; k++) {
        int32_t v = n->out[k];
        if (v >= 0) {
            cx_val *ov = &x->vals[v];
            const tq_tensor *t = cx_t(x, v);
            ov->kind = CX_ACT;
            ov->stored = t->dtype == TFMQ_DTYPE_FLOAT32;
            ov->first = ov->last = pos;
            size_t bytes = 0;
            if (!tq_tensor_bytes(t, &bytes)) {
                return tq_fail(TFMQ_ERR_INTERNAL, "cuda: output of node %zu has no size", i);
            }
            ov->bytes = bytes / cx_esize(t->dtype) * cx_dev_esize(x, t->dtype);
        }
    }
    int32_t in0 = n->n_in > 0 ? n->in[0] : -1;
    bool in0_act4 = cx_is_act(x, in0) && cx_t(x, in0)->rank == 4;
    bool out4 = n->n_out == 1 && n->out[0] >= 0 && cx_t(x, n->out[0])->rank == 4;

    /* view ops on NCHW data: alias the input buffer */
    if (cx_is_view(n->op) && cx_is_act(x, in0) && n->n_out == 1 && n->out[0] >= 0) {
        int32_t r = cx_root(x, in0);
        if (x->vals[in0].layout == TQ_LAYOUT_NCHW || cx_layouts_equal(cx_t(x, in0))) {
            cx_val *ov = &x->vals[n->out[0]];
            ov->alias = in0;
            ov->layout = TQ_LAYOUT_NCHW;
            cn->view = true;
            cx_use(&x->vals[r], pos);
            return TFMQ_OK;
        }
    }

    tq_cuda_kernel *k = NULL;
    uint8_t L = TQ_LAYOUT_NCHW;
    bool conv = (n->op == TQ_OP_CONV || n->op == TQ_OP_FUSED_CONV || n->op == TQ_OP_QCONV) &&
                in0_act4 && out4;
    bool pool = cx_is_pool(n->op) && in0_act4 && out4;
    bool lfree = tq_cuda_layout_free(n->op) && out4;
    if (conv) {
        L = TQ_LAYOUT_NHWC;
    } else if (pool) {
        L = x->vals[in0].layout;
    } else if (lfree) {
        for (int32_t j = 0; j < n->n_in; j++) {
            int32_t v = n->in[j];
            if (cx_is_act(x, v) && cx_t(x, v)->rank == 4) {
                L = x->vals[v].layout;
                break;
            }
        }
    }
    /* a network input quantized for its first convolution: the QuantizeLinear writes NHWC
     * from the NCHW input in one pass instead of a relayout of its int8 output after it */
    if (n->op == TQ_OP_QUANTIZE_LINEAR && L == TQ_LAYOUT_NCHW && in0_act4 && out4 &&
        x->vals[in0].layout == TQ_LAYOUT_NCHW && !cx_layouts_equal(cx_t(x, in0)) &&
        cx_feeds_convs_only(x, n->out[0])) {
        cn->in_l[0] = TQ_LAYOUT_NCHW;
        cn->out_l[0] = TQ_LAYOUT_NHWC;
        TQ_TRY(st, cx_prepare(x, i, false, NULL, 0, &k));
        if (!k) {
            cn->out_l[0] = TQ_LAYOUT_NCHW;
        }
    }
    if (L == TQ_LAYOUT_NHWC) { /* try the category's layouts first */
        for (int32_t j = 0; j < n->n_in; j++) {
            int32_t v = n->in[j];
            if (cx_is_act(x, v) && cx_t(x, v)->rank == 4 && (!conv || j == 0 || j == 3)) {
                cn->in_l[j] = L;
            }
        }
        cn->out_l[0] = L;
        /* a QConv whose output only a same-shape QAdd reads, the other operand computed
         * already: offered to the qconv family to fuse (tq_cuda_prep.add) */
        tq_op_ctx actx;
        tq_tensor a_in[TQ_MAX_IO];
        int32_t aj = -1, aslot = 0, ares = -1;
        if (n->op == TQ_OP_QCONV && cx_fusable_add(x, i, &aj, &aslot, &ares)) {
            tq_exec_prep_ctx(x->host, (size_t)aj, &actx, a_in);
        }
        TQ_TRY(st, cx_prepare(x, i, conv, aj >= 0 ? &actx : NULL, aslot, &k));
        if (k && k->fused_add) {
            TQ_TRY(st, cx_absorb_add(x, i, aj, ares));
        }
        if (!k) { /* no family takes it in NHWC: plain NCHW */
            L = TQ_LAYOUT_NCHW;
            for (int32_t j = 0; j < n->n_in; j++) {
                cn->in_l[j] = TQ_LAYOUT_NCHW;
            }
            cn->out_l[0] = TQ_LAYOUT_NCHW;
        }
    }
    if (!k) {
        TQ_TRY(st, cx_prepare(x, i, true, NULL, 0, &k));
    }
    cn->k = k;
    if (!k) {
        char lbl[64];
        cn->host = true;
        x->n_fallback++;
        tq_log(TFMQ_LOG_WARN, "cuda: node '%s' (%s) has no GPU kernel: it runs on the host "
               "(slow; runs are not captured as one CUDA graph)",
               tq_node_label(x->g, n, lbl, sizeof(lbl)), tq_op_table[n->op].name);
    }
    for (int32_t j = 0; j < n->n_out; j++) {
        if (n->out[j] >= 0) {
            x->vals[n->out[j]].layout = cn->out_l[j];
        }
    }
    for (int32_t j = 0; j < n->n_in; j++) {
        int32_t v = n->in[j];
        if (cx_is_act(x, v)) {
            TQ_TRY(st, cx_need(x, i, j, v, cn->in_l[j]));
        }
    }
    return cx_push_step(x, (cx_step){cn->host ? CX_STEP_HOST : CX_STEP_KERNEL, (int32_t)i, -1});
fail:
    return st;
}

/* ---- device memory ---- */
static tfmq_status cx_dmalloc(void **p, size_t bytes, const char *what)
{
    *p = NULL;
    if (!bytes) {
        return TFMQ_OK;
    }
    cudaError_t e = cudaMalloc(p, bytes);
    if (e != cudaSuccess) {
        *p = NULL;
        (void)cudaGetLastError();
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "cuda: cannot allocate %zu bytes of device memory "
                       "for %s: %s", bytes, what, cudaGetErrorString(e));
    }
    return TFMQ_OK;
}

static void cx_dfree(void *p)
{
    if (p) {
        cudaFree(p);
    }
}

/* Convert host float32 data to the storage type into a new host block (or borrow it). */
static tfmq_status cx_host_to_store(const tq_cuda_exec *x, const tq_tensor *t, size_t n,
                                    void **blk, size_t *blk_bytes)
{
    *blk = NULL;
    *blk_bytes = 0;
    if (t->dtype != TFMQ_DTYPE_FLOAT32 || x->o.store == TQ_CUDA_F32) {
        return TFMQ_OK;
    }
    uint16_t *h = tq_alloc(x->alloc, n * 2 + 2);
    if (!h) {
        return cx_oom();
    }
    const float *f = t->data;
    for (size_t j = 0; j < n; j++) {
        h[j] = x->o.store == TQ_CUDA_F16 ? tq_f32_to_f16(f[j]) : tq_f32_to_bf16(f[j]);
    }
    *blk = h;
    *blk_bytes = n * 2 + 2;
    return TFMQ_OK;
}

/* Upload constant value v once (storage type for float32). */
static tfmq_status cx_upload_const(tq_cuda_exec *x, int32_t v)
{
    cx_val *cv = &x->vals[v];
    if (cv->cdev) {
        return TFMQ_OK;
    }
    const tq_tensor *t = cx_t(x, v);
    size_t n = tq_tensor_numel(t), bytes = n * cx_dev_esize(x, t->dtype);
    void *blk;
    size_t blk_bytes;
    tfmq_status st = cx_host_to_store(x, t, n, &blk, &blk_bytes);
    if (st != TFMQ_OK) {
        return st;
    }
    st = cx_dmalloc(&cv->cdev, bytes ? bytes : 1, "a constant");
    if (st == TFMQ_OK && bytes) {
        st = tq_cuda_check(cudaMemcpy(cv->cdev, blk ? blk : t->data, bytes,
                                      cudaMemcpyHostToDevice), "cuda: uploading a constant");
    }
    tq_free(x->alloc, blk, blk_bytes);
    return st;
}

/* Pass 2: lifetimes are set; place buffers, allocate, resolve node pointers. */
static tfmq_status cx_plan_memory(tq_cuda_exec *x)
{
    const tq_graph *g = x->g;
    size_t nv = g->n_values, n_items = 0;
    tfmq_status st;
    tq_mem_item *items = tq_alloc(x->alloc, sizeof(tq_mem_item) * (2 * nv + 1));
    int32_t *idx = tq_alloc(x->alloc, sizeof(int32_t) * (2 * nv + 1));
    if (!items || !idx) {
        tq_free(x->alloc, items, sizeof(tq_mem_item) * (2 * nv + 1));
        tq_free(x->alloc, idx, sizeof(int32_t) * (2 * nv + 1));
        return cx_oom();
    }
    for (size_t v = 0; v < nv; v++) {
        cx_val *cv = &x->vals[v];
        if ((cv->kind == CX_ACT || cv->kind == CX_INPUT) && cv->alias < 0) {
            idx[n_items] = (int32_t)v;
            items[n_items++] = (tq_mem_item){cv->bytes, cv->first, cv->last, 0};
        }
        if (cv->shadow) {
            idx[n_items] = -(int32_t)v - 1;
            items[n_items++] = (tq_mem_item){x->vals[cx_root(x, (int32_t)v)].bytes, cv->sfirst,
                                             cv->slast, 0};
        }
    }
    st = tq_mem_plan(items, n_items, CX_ALIGN, x->alloc, &x->workspace_bytes);
    if (st == TFMQ_OK) {
        st = cx_dmalloc(&x->workspace, x->workspace_bytes, "the activations");
    }
    for (size_t a = 0; a < n_items && st == TFMQ_OK; a++) {
        char *p = (char *)x->workspace + items[a].offset;
        if (idx[a] >= 0) {
            x->vals[idx[a]].dptr = p;
        } else {
            x->vals[-idx[a] - 1].sptr = p;
        }
    }
    tq_free(x->alloc, items, sizeof(tq_mem_item) * (2 * nv + 1));
    tq_free(x->alloc, idx, sizeof(int32_t) * (2 * nv + 1));
    return st;
}

/* Device pointer of value v for a consumer reading the shadow or the primary. */
static void *cx_ptr(tq_cuda_exec *x, int32_t v, bool shadow)
{
    if (x->vals[v].kind == CX_CONST) {
        return x->vals[v].cdev;
    }
    return shadow ? x->vals[v].sptr : x->vals[cx_root(x, v)].dptr;
}

/* Pass 3: constants, pointers, kernel scratch, host fallback buffers. */
static tfmq_status cx_bind(tq_cuda_exec *x)
{
    const tq_graph *g = x->g;
    tfmq_status st = TFMQ_OK;
    size_t stage = 0;
    for (size_t i = 0; i < g->n_nodes && st == TFMQ_OK; i++) {
        const tq_node *n = &g->nodes[i];
        cx_node *cn = &x->nodes[i];
        if (tq_exec_node_get_state(x->host, i) != TQ_EXEC_NODE_STATIC || cn->view ||
            cn->absorbed) {
            continue;
        }
        for (int32_t k = 0; k < n->n_in && st == TFMQ_OK; k++) {
            int32_t v = n->in[k];
            if (v < 0) {
                continue;
            }
            bool owned = cn->k && (cn->k->own_consts & (1u << k));
            if (x->vals[v].kind == CX_CONST && (cn->host || owned)) {
                continue; /* the host reads it in place; the kernel packed its own */
            }
            if (x->vals[v].kind == CX_CONST) {
                st = cx_upload_const(x, v);
            }
            cn->in_ptr[k] = cx_ptr(x, v, cn->in_shadow[k]);
        }
        for (int32_t k = 0; k < n->n_out; k++) {
            if (n->out[k] >= 0) {
                cn->out_ptr[k] = x->vals[n->out[k]].dptr;
            }
        }
        if (cn->k && cn->k->fused_add) {
            cn->in_ptr[TQ_CUDA_ADD_RESIDUAL] =
                cx_ptr(x, cn->fused_res, cn->in_shadow[TQ_CUDA_ADD_RESIDUAL]);
            cn->out_ptr[0] = x->vals[cn->fused_out].dptr;
        }
        if (cn->k && cn->k->workspace_bytes > x->kspace_bytes) {
            x->kspace_bytes = cn->k->workspace_bytes;
        }
        if (cn->host) {
            for (int32_t k = 0; k < n->n_in && st == TFMQ_OK; k++) {
                int32_t v = n->in[k];
                if (v >= 0 && x->vals[v].kind != CX_CONST) {
                    tq_tensor_bytes(cx_t(x, v), &cn->h_in_bytes[k]);
                    cn->h_in[k] = tq_alloc(x->alloc, cn->h_in_bytes[k] + 1);
                    st = cn->h_in[k] ? TFMQ_OK : cx_oom();
                    if (cn->h_in_bytes[k] > stage) {
                        stage = cn->h_in_bytes[k];
                    }
                }
            }
            for (int32_t k = 0; k < n->n_out && st == TFMQ_OK; k++) {
                int32_t v = n->out[k];
                if (v >= 0) {
                    tq_tensor_bytes(cx_t(x, v), &cn->h_out_bytes[k]);
                    cn->h_out[k] = tq_alloc(x->alloc, cn->h_out_bytes[k] + 1);
                    st = cn->h_out[k] ? TFMQ_OK : cx_oom();
                    if (cn->h_out_bytes[k] > stage) {
                        stage = cn->h_out_bytes[k];
                    }
                }
            }
            cn->h_scratch_bytes = tq_exec_node_scratch(x->host, i);
            if (st == TFMQ_OK && cn->h_scratch_bytes) {
                cn->h_scratch = tq_alloc(x->alloc, cn->h_scratch_bytes);
                st = cn->h_scratch ? TFMQ_OK : cx_oom();
            }
        }
    }
    if (st == TFMQ_OK) {
        st = cx_dmalloc(&x->kspace, x->kspace_bytes, "kernel workspace");
    }
    if (st == TFMQ_OK && x->o.store != TQ_CUDA_F32) {
        x->h_stage_bytes = stage;
        st = cx_dmalloc(&x->h_stage, stage, "host fallback staging");
    }
    return st;
}

/* Graph inputs and outputs: pinned host staging and device staging. */
static tfmq_status cx_plan_io(tq_cuda_exec *x)
{
    const tq_graph *g = x->g;
    tfmq_status st = TFMQ_OK;
    for (size_t i = 0; i < g->n_inputs && st == TFMQ_OK; i++) {
        cx_io *io = &x->ins[i];
        int32_t v = g->inputs[i];
        const tq_tensor *t = cx_t(x, v);
        io->value = v;
        tq_tensor_bytes(t, &io->host_bytes);
        st = tq_cuda_check(cudaMallocHost(&io->pinned, io->host_bytes ? io->host_bytes : 1),
                           "cuda: pinned input staging");
        if (st == TFMQ_OK && x->vals[v].stored && x->o.store != TQ_CUDA_F32) {
            st = cx_dmalloc(&io->d_b, io->host_bytes, "input staging");
        }
    }
    for (size_t i = 0; i < g->n_outputs && st == TFMQ_OK; i++) {
        cx_io *io = &x->outs[i];
        int32_t v = g->outputs[i];
        const tq_tensor *t = cx_t(x, v);
        io->value = v;
        io->t = *t;
        tq_tensor_bytes(t, &io->host_bytes);
        st = tq_cuda_check(cudaMallocHost(&io->pinned, io->host_bytes ? io->host_bytes : 1),
                           "cuda: pinned output staging");
        io->t.data = io->pinned;
        if (st != TFMQ_OK) {
            break;
        }
        if (x->vals[v].kind == CX_CONST || x->vals[v].kind == CX_NONE) {
            if (t->data && io->host_bytes) {
                memcpy(io->pinned, t->data, io->host_bytes); /* fixed at plan time */
            }
            continue;
        }
        const cx_val *rv = &x->vals[cx_root(x, v)];
        if (x->vals[v].layout == TQ_LAYOUT_NHWC && !cx_layouts_equal(t)) {
            st = cx_dmalloc(&io->d_a, rv->bytes, "output staging");
        }
        if (st == TFMQ_OK && rv->stored && x->o.store != TQ_CUDA_F32) {
            st = cx_dmalloc(&io->d_b, io->host_bytes, "output staging");
        }
    }
    return st;
}

/* ---- running ---- */
static tfmq_status cx_run_host(tq_cuda_exec *x, size_t i)
{
    const tq_node *n = &x->g->nodes[i];
    cx_node *cn = &x->nodes[i];
    cudaStream_t s = (cudaStream_t)x->dev.stream;
    tfmq_status st;
    tq_tensor in_t[TQ_MAX_IO], out_t[TQ_MAX_IO];
    tq_op_ctx ctx;
    tq_exec_prep_ctx(x->host, i, &ctx, in_t);
    for (int32_t k = 0; k < n->n_in; k++) {
        int32_t v = n->in[k];
        if (v < 0 || !cn->h_in[k]) {
            continue;
        }
        const void *src = cn->in_ptr[k];
        if (x->vals[cx_root(x, v)].stored && x->o.store != TQ_CUDA_F32) {
            TQ_TRY(st, tq_cuda_convert(x->h_stage, TQ_CUDA_F32, src, x->o.store,
                                       tq_tensor_numel(cx_t(x, v)), s));
            src = x->h_stage;
        }
        TQ_TRY(st, tq_cuda_check(cudaMemcpyAsync(cn->h_in[k], src, cn->h_in_bytes[k],
                                                 cudaMemcpyDeviceToHost, s), "cuda: download"));
        TQ_TRY(st, tq_cuda_check(cudaStreamSynchronize(s), "cuda: host fallback sync"));
        in_t[k].data = cn->h_in[k];
        ctx.in[k] = &in_t[k];
    }
    for (int32_t k = 0; k < n->n_out; k++) {
        if (n->out[k] >= 0) {
            out_t[k] = *cx_t(x, n->out[k]);
            out_t[k].data = cn->h_out[k];
            ctx.out[k] = &out_t[k];
        }
    }
    ctx.exec = NULL;
    ctx.scratch = cn->h_scratch;
    ctx.scratch_bytes = cn->h_scratch_bytes;
    TQ_TRY(st, tq_ref_table[n->op](&ctx));
    for (int32_t k = 0; k < n->n_out; k++) {
        int32_t v = n->out[k];
        if (v < 0) {
            continue;
        }
        bool conv = x->vals[v].stored && x->o.store != TQ_CUDA_F32;
        void *dst = conv ? x->h_stage : cn->out_ptr[k];
        TQ_TRY(st, tq_cuda_check(cudaMemcpyAsync(dst, cn->h_out[k], cn->h_out_bytes[k],
                                                 cudaMemcpyHostToDevice, s), "cuda: upload"));
        if (conv) {
            TQ_TRY(st, tq_cuda_convert(cn->out_ptr[k], x->o.store, x->h_stage, TQ_CUDA_F32,
                                       tq_tensor_numel(cx_t(x, v)), s));
        }
        TQ_TRY(st, tq_cuda_check(cudaStreamSynchronize(s), "cuda: host fallback sync"));
    }
    return TFMQ_OK;
fail:
    return st;
}

static size_t cx_store_esize(const tq_cuda_exec *x)
{
    return x->o.store == TQ_CUDA_F32 ? 4 : 2;
}

/* Enqueue one planned step (relayout copy, kernel, or host fallback) on the stream. */
static tfmq_status cx_run_step(tq_cuda_exec *x, const cx_step *sp)
{
    cudaStream_t s = (cudaStream_t)x->dev.stream;
    if (sp->kind == CX_STEP_RELAYOUT) {
        cx_val *cv = &x->vals[sp->value];
        const cx_val *rv = &x->vals[cx_root(x, sp->value)];
        const tq_tensor *t = cx_t(x, sp->value);
        size_t es = rv->stored ? cx_store_esize(x) : cx_esize(t->dtype);
        return tq_cuda_relayout(cv->sptr, rv->dptr, t->dims, es, cv->layout == TQ_LAYOUT_NCHW, s);
    }
    if (sp->kind == CX_STEP_KERNEL) {
        cx_node *cn = &x->nodes[sp->node];
        tq_cuda_args args = {cn->in_ptr, cn->out_ptr, x->kspace, s};
        return cn->k->run(cn->k, &args);
    }
    return cx_run_host(x, (size_t)sp->node);
}

/* Enqueue the download of value v (an activation or input, not a constant) into host memory
 * dst (host_bytes: its IR size) as its IR dtype, NCHW: a relayout into d_a when it is held NHWC
 * (rv->bytes of device memory), a conversion from the storage type into d_b (host_bytes), then
 * the copy. Graph outputs and observation both download this way. */
static tfmq_status cx_download(tq_cuda_exec *x, int32_t v, void *d_a, void *d_b, void *dst,
                               size_t host_bytes)
{
    cudaStream_t s = (cudaStream_t)x->dev.stream;
    tfmq_status st;
    const cx_val *rv = &x->vals[cx_root(x, v)];
    const void *src = rv->dptr;
    const tq_tensor *t = cx_t(x, v);
    if (x->vals[v].layout == TQ_LAYOUT_NHWC && !cx_layouts_equal(t)) {
        size_t es = rv->stored ? cx_store_esize(x) : cx_esize(t->dtype);
        TQ_TRY(st, tq_cuda_relayout(d_a, src, t->dims, es, false, s));
        src = d_a;
    }
    if (rv->stored && x->o.store != TQ_CUDA_F32) {
        TQ_TRY(st, tq_cuda_convert(d_b, TQ_CUDA_F32, src, x->o.store, tq_tensor_numel(t), s));
        src = d_b;
    }
    TQ_TRY(st, tq_cuda_check(cudaMemcpyAsync(dst, src, host_bytes, cudaMemcpyDeviceToHost, s),
                             "cuda: output download"));
    return TFMQ_OK;
fail:
    return st;
}

/* Enqueue the uploads (and conversions) of the inputs, already in pinned staging. */
static tfmq_status cx_enqueue_inputs(tq_cuda_exec *x)
{
    const tq_graph *g = x->g;
    cudaStream_t s = (cudaStream_t)x->dev.stream;
    tfmq_status st;
    for (size_t i = 0; i < g->n_inputs; i++) {
        cx_io *io = &x->ins[i];
        cx_val *cv = &x->vals[io->value];
        bool conv = cv->stored && x->o.store != TQ_CUDA_F32;
        TQ_TRY(st, tq_cuda_check(cudaMemcpyAsync(conv ? io->d_b : cv->dptr, io->pinned,
                                                 io->host_bytes, cudaMemcpyHostToDevice, s),
                                 "cuda: input upload"));
        if (conv) {
            TQ_TRY(st, tq_cuda_convert(cv->dptr, x->o.store, io->d_b, TQ_CUDA_F32,
                                       tq_tensor_numel(cx_t(x, io->value)), s));
        }
    }
    return TFMQ_OK;
fail:
    return st;
}

/* Enqueue the downloads of the computed outputs into their pinned staging (cx_plan_io made
 * d_a exactly for NHWC outputs and d_b for stored ones in F16/BF16, as cx_download uses them). */
static tfmq_status cx_enqueue_outputs(tq_cuda_exec *x)
{
    const tq_graph *g = x->g;
    tfmq_status st;
    for (size_t i = 0; i < g->n_outputs; i++) {
        cx_io *io = &x->outs[i];
        cx_val *cv = &x->vals[io->value];
        if (cv->kind == CX_CONST || cv->kind == CX_NONE) {
            continue;
        }
        TQ_TRY(st, cx_download(x, io->value, io->d_a, io->d_b, io->pinned, io->host_bytes));
    }
    return TFMQ_OK;
fail:
    return st;
}

/* Enqueue one whole run on the stream (inputs already in pinned staging). */
static tfmq_status cx_enqueue(tq_cuda_exec *x)
{
    tfmq_status st;
    TQ_TRY(st, cx_enqueue_inputs(x));
    for (size_t a = 0; a < x->n_steps; a++) {
        TQ_TRY(st, cx_run_step(x, &x->steps[a]));
    }
    TQ_TRY(st, cx_enqueue_outputs(x));
    return TFMQ_OK;
fail:
    return st;
}

/* ---- observation (exec.h: tq_cuda_exec_set_observer) ---- */
#define CX_OBS_ALIGN 64

static size_t cx_obs_round(size_t bytes)
{
    return (bytes + CX_OBS_ALIGN - 1) / CX_OBS_ALIGN * CX_OBS_ALIGN;
}

static void cx_obs_free(tq_cuda_exec *x)
{
    const tfmq_allocator *a = x->alloc;
    if (x->obs_pinned) {
        cudaFreeHost(x->obs_pinned);
    }
    cx_dfree(x->obs_da);
    cx_dfree(x->obs_db);
    for (int h = 0; h < 2; h++) {
        if (x->obs_ev[h]) {
            cudaEventDestroy((cudaEvent_t)x->obs_ev[h]);
        }
        tq_free(a, x->obs_pend_v[h], (x->n_obs ? x->n_obs : 1) * sizeof(int32_t));
        tq_free(a, x->obs_pend_t[h], (x->n_obs ? x->n_obs : 1) * sizeof(tq_tensor));
        x->obs_ev[h] = NULL;
        x->obs_pend_v[h] = NULL;
        x->obs_pend_t[h] = NULL;
        x->obs_pend_n[h] = 0;
        x->obs_used[h] = 0;
    }
    tq_free(a, x->obs_vals, (x->n_obs ? x->n_obs : 1) * sizeof(int32_t));
    tq_free(a, x->obs_at, (x->n_obs_points + 1) * sizeof(size_t));
    x->obs_pinned = NULL;
    x->obs_da = x->obs_db = NULL;
    x->obs_vals = NULL;
    x->obs_at = NULL;
    x->n_obs = 0;
    x->n_obs_points = 0;
    x->obs_fn = NULL;
    x->obs_ud = NULL;
}

tfmq_status tq_cuda_exec_set_observer(tq_cuda_exec *x, const bool *want, tq_cuda_observer_fn fn,
                                      void *user_data)
{
    const tq_graph *g = x->g;
    const tfmq_allocator *a = x->alloc;
    tfmq_status st = TFMQ_OK;
    int32_t *point = NULL, *step_of_node = NULL;
    const size_t nv = g->n_values ? g->n_values : 1, nn = g->n_nodes ? g->n_nodes : 1;
    TQ_TRY(st, tq_cuda_check(cudaSetDevice(x->dev.device), "cudaSetDevice"));
    TQ_TRY(st, tq_cuda_check(cudaStreamSynchronize((cudaStream_t)x->dev.stream),
                             "cuda: set_observer"));
    cx_obs_free(x);
    if (!fn) {
        return TFMQ_OK;
    }
    /* the observation point of every wanted value the device computes (-1: none) */
    point = tq_alloc(a, nv * sizeof(int32_t));
    step_of_node = tq_alloc(a, nn * sizeof(int32_t));
    if (!point || !step_of_node) {
        st = cx_oom();
        goto fail;
    }
    for (size_t v = 0; v < g->n_values; v++) {
        point[v] = -1;
    }
    for (size_t i = 0; i < g->n_nodes; i++) {
        step_of_node[i] = -1;
    }
    for (size_t k = 0; k < x->n_steps; k++) {
        if (x->steps[k].kind != CX_STEP_RELAYOUT) {
            step_of_node[x->steps[k].node] = (int32_t)k;
        }
    }
    for (size_t i = 0; want && i < g->n_inputs; i++) {
        int32_t v = g->inputs[i];
        if (want[v] && x->vals[v].kind == CX_INPUT) {
            point[v] = 0;
        }
    }
    /* steps follow node order; a view runs nothing: its buffer (the root's) holds its value
     * from the last step before it until the view's last reader, so it is read right there */
    int32_t last = 0;
    for (size_t i = 0; want && i < g->n_nodes; i++) {
        const tq_node *n = &g->nodes[i];
        int32_t p;
        if (step_of_node[i] >= 0) {
            p = step_of_node[i] + 1;
            last = p;
        } else if (x->nodes[i].view || x->nodes[i].absorbed) {
            p = last; /* absorbed: made by an earlier step, alive until its readers */
        } else {
            continue; /* folded: its outputs are constants */
        }
        for (int32_t k = 0; k < n->n_out; k++) {
            int32_t v = n->out[k];
            if (v >= 0 && want[v] && x->vals[v].kind == CX_ACT) {
                point[v] = p;
            }
        }
    }
    /* group by point (counting sort) and size the staging */
    x->n_obs_points = x->n_steps + 1;
    x->obs_at = tq_calloc(a, x->n_obs_points + 1, sizeof(size_t));
    if (!x->obs_at) {
        st = cx_oom();
        goto fail;
    }
    size_t total = 0, max_host = 0, da_bytes = 0, db_bytes = 0;
    for (size_t v = 0; v < g->n_values; v++) {
        if (point[v] < 0) {
            continue;
        }
        const tq_tensor *t = cx_t(x, (int32_t)v);
        const cx_val *rv = &x->vals[cx_root(x, (int32_t)v)];
        size_t hb = 0;
        if (!tq_tensor_bytes(t, &hb)) {
            st = tq_fail(TFMQ_ERR_INTERNAL, "cuda: observed value %zu has no size", v);
            goto fail;
        }
        x->obs_at[point[v] + 1]++;
        x->n_obs++;
        total += cx_obs_round(hb);
        max_host = cx_obs_round(hb) > max_host ? cx_obs_round(hb) : max_host;
        if (x->vals[v].layout == TQ_LAYOUT_NHWC && !cx_layouts_equal(t) && rv->bytes > da_bytes) {
            da_bytes = rv->bytes;
        }
        if (rv->stored && x->o.store != TQ_CUDA_F32 && hb > db_bytes) {
            db_bytes = hb;
        }
    }
    for (size_t p = 0; p < x->n_obs_points; p++) {
        x->obs_at[p + 1] += x->obs_at[p];
    }
    const size_t n_alloc = x->n_obs ? x->n_obs : 1;
    x->obs_vals = tq_alloc(a, n_alloc * sizeof(int32_t));
    for (int h = 0; h < 2; h++) {
        x->obs_pend_v[h] = tq_alloc(a, n_alloc * sizeof(int32_t));
        x->obs_pend_t[h] = tq_alloc(a, n_alloc * sizeof(tq_tensor));
    }
    if (!x->obs_vals || !x->obs_pend_v[0] || !x->obs_pend_v[1] || !x->obs_pend_t[0] ||
        !x->obs_pend_t[1]) {
        st = cx_oom();
        goto fail;
    }
    for (size_t v = 0; v < g->n_values; v++) { /* obs_at[p] counts up to the end of point p */
        if (point[v] >= 0) {
            x->obs_vals[x->obs_at[point[v]]++] = (int32_t)v;
        }
    }
    for (size_t p = x->n_obs_points; p > 0; p--) { /* back to starts */
        x->obs_at[p] = x->obs_at[p - 1];
    }
    x->obs_at[0] = 0;
    x->obs_half_bytes = total < TQ_CUDA_OBS_HALF_BYTES ? total : TQ_CUDA_OBS_HALF_BYTES;
    if (x->obs_half_bytes < max_host) {
        x->obs_half_bytes = max_host;
    }
    if (x->obs_half_bytes < CX_OBS_ALIGN) {
        x->obs_half_bytes = CX_OBS_ALIGN;
    }
    x->obs_n_halves = total > x->obs_half_bytes ? 2 : 1;
    TQ_TRY(st, tq_cuda_check(cudaMallocHost(&x->obs_pinned,
                                            x->obs_half_bytes * (size_t)x->obs_n_halves),
                             "cuda: pinned observation staging"));
    TQ_TRY(st, cx_dmalloc(&x->obs_da, da_bytes, "observation staging"));
    TQ_TRY(st, cx_dmalloc(&x->obs_db, db_bytes, "observation staging"));
    for (int h = 0; h < 2; h++) {
        cudaEvent_t ev = NULL;
        TQ_TRY(st, tq_cuda_check(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming),
                                 "cudaEventCreate"));
        x->obs_ev[h] = ev;
    }
    x->obs_fn = fn;
    x->obs_ud = user_data;
    tq_free(a, point, nv * sizeof(int32_t));
    tq_free(a, step_of_node, nn * sizeof(int32_t));
    tq_log(TFMQ_LOG_DEBUG, "cuda: observing %zu values, %.1f MiB a run, staging %d x %.1f MiB "
           "pinned", x->n_obs, (double)total / 1048576.0, x->obs_n_halves,
           (double)x->obs_half_bytes / 1048576.0);
    return TFMQ_OK;
fail:
    tq_free(a, point, nv * sizeof(int32_t));
    tq_free(a, step_of_node, nn * sizeof(int32_t));
    cx_obs_free(x);
    return st;
}

/* Hand half h to the observer once its downloads are done (its event was recorded after them). */
static tfmq_status cx_obs_flush(tq_cuda_exec *x, int h)
{
    tfmq_status st;
    if (!x->obs_pend_n[h]) {
        return TFMQ_OK;
    }
    TQ_TRY(st, tq_cuda_check(cudaEventSynchronize((cudaEvent_t)x->obs_ev[h]),
                             "cuda: observed downloads"));
    const size_t n = x->obs_pend_n[h];
    x->obs_pend_n[h] = 0;
    x->obs_used[h] = 0;
    return x->obs_fn(x->obs_ud, x->obs_pend_v[h], x->obs_pend_t[h], n);
fail:
    return st;
}

/* Enqueue the download of every value observed at point p into the current half; a full half
 * is closed (event), the other (older) one handed over and then filled: with two halves the
 * observer reads one while the GPU computes and downloads into the other. */
static tfmq_status cx_obs_point(tq_cuda_exec *x, size_t p)
{
    cudaStream_t s = (cudaStream_t)x->dev.stream;
    tfmq_status st;
    for (size_t k = x->obs_at[p]; k < x->obs_at[p + 1]; k++) {
        const int32_t v = x->obs_vals[k];
        const tq_tensor *t = cx_t(x, v);
        size_t hb = 0;
        tq_tensor_bytes(t, &hb);
        const size_t need = cx_obs_round(hb);
        int h = x->obs_cur;
        if (x->obs_used[h] + need > x->obs_half_bytes && x->obs_pend_n[h] > 0) {
            TQ_TRY(st, tq_cuda_check(cudaEventRecord((cudaEvent_t)x->obs_ev[h], s),
                                     "cudaEventRecord"));
            h = x->obs_n_halves == 2 ? 1 - h : h;
            TQ_TRY(st, cx_obs_flush(x, h));
            x->obs_cur = h;
        }
        char *dst = (char *)x->obs_pinned + (size_t)h * x->obs_half_bytes + x->obs_used[h];
        if (hb) {
            TQ_TRY(st, cx_download(x, v, x->obs_da, x->obs_db, dst, hb));
        }
        const size_t j = x->obs_pend_n[h]++;
        x->obs_pend_v[h][j] = v;
        x->obs_pend_t[h][j] = *t;
        x->obs_pend_t[h][j].data = dst;
        x->obs_used[h] += need;
    }
    return TFMQ_OK;
fail:
    return st;
}

/* One observed run: steps enqueued one by one with the downloads after them (no CUDA graph),
 * outputs downloaded as usual; the last halves are handed over at the end. */
static tfmq_status cx_run_observed(tq_cuda_exec *x)
{
    cudaStream_t s = (cudaStream_t)x->dev.stream;
    tfmq_status st;
    x->obs_cur = 0;
    x->obs_pend_n[0] = x->obs_pend_n[1] = 0;
    x->obs_used[0] = x->obs_used[1] = 0;
    TQ_TRY(st, cx_enqueue_inputs(x));
    TQ_TRY(st, cx_obs_point(x, 0));
    for (size_t a = 0; a < x->n_steps; a++) {
        TQ_TRY(st, cx_run_step(x, &x->steps[a]));
        TQ_TRY(st, cx_obs_point(x, a + 1));
    }
    TQ_TRY(st, cx_enqueue_outputs(x));
    const int h = x->obs_cur;
    TQ_TRY(st, tq_cuda_check(cudaEventRecord((cudaEvent_t)x->obs_ev[h], s), "cudaEventRecord"));
    if (x->obs_n_halves == 2) {
        TQ_TRY(st, cx_obs_flush(x, 1 - h)); /* the older half first */
    }
    TQ_TRY(st, cx_obs_flush(x, h));
    return TFMQ_OK;
fail:
    (void)cudaStreamSynchronize(s); /* nothing in flight into the staging any more */
    (void)cudaGetLastError();
    x->obs_pend_n[0] = x->obs_pend_n[1] = 0;
    x->obs_used[0] = x->obs_used[1] = 0;
    return st;
}

/* Enqueue the device steps only (no input upload, no output download): for timing. */
static tfmq_status cx_enqueue_steps(tq_cuda_exec *x)
{
    tfmq_status st = TFMQ_OK;
    for (size_t a = 0; a < x->n_steps && st == TFMQ_OK; a++) {
        st = cx_run_step(x, &x->steps[a]);
    }
    return st;
}

tfmq_status tq_cuda_exec_time(tq_cuda_exec *x, int iters, double *ms_out)
{
    cudaStream_t s = (cudaStream_t)x->dev.stream;
    cudaGraph_t graph = NULL;
    cudaGraphExec_t ge = NULL;
    cudaEvent_t e0 = NULL, e1 = NULL;
    tfmq_status st;
    *ms_out = 0.0;
    TQ_TRY(st, tq_cuda_check(cudaSetDevice(x->dev.device), "cudaSetDevice"));
    if (!x->n_fallback && x->o.use_graph &&
        cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal) == cudaSuccess) {
        st = cx_enqueue_steps(x);
        cudaError_t ce = cudaStreamEndCapture(s, &graph);
        if (st == TFMQ_OK && ce == cudaSuccess && graph &&
            cudaGraphInstantiate(&ge, graph, 0) != cudaSuccess) {
            ge = NULL;
        }
        (void)cudaGetLastError();
        tq_clear_error();
    }
    TQ_TRY(st, tq_cuda_check(cudaEventCreate(&e0), "cudaEventCreate"));
    TQ_TRY(st, tq_cuda_check(cudaEventCreate(&e1), "cudaEventCreate"));
    for (int w = 0; w < 3; w++) {
        TQ_TRY(st, ge ? tq_cuda_check(cudaGraphLaunch(ge, s), "cudaGraphLaunch")
                      : cx_enqueue_steps(x));
    }
    TQ_TRY(st, tq_cuda_check(cudaEventRecord(e0, s), "cudaEventRecord"));
    for (int it = 0; it < iters; it++) {
        TQ_TRY(st, ge ? tq_cuda_check(cudaGraphLaunch(ge, s), "cudaGraphLaunch")
                      : cx_enqueue_steps(x));
    }
    TQ_TRY(st, tq_cuda_check(cudaEventRecord(e1, s), "cudaEventRecord"));
    TQ_TRY(st, tq_cuda_check(cudaEventSynchronize(e1), "cudaEventSynchronize"));
    float ms = 0.0f;
    TQ_TRY(st, tq_cuda_check(cudaEventElapsedTime(&ms, e0, e1), "cudaEventElapsedTime"));
    *ms_out = (double)ms / (iters > 0 ? iters : 1);
fail:
    if (e0) {
        cudaEventDestroy(e0);
    }
    if (e1) {
        cudaEventDestroy(e1);
    }
    if (ge) {
        cudaGraphExecDestroy(ge);
    }
    if (graph) {
        cudaGraphDestroy(graph);
    }
    return st;
}

tfmq_status tq_cuda_exec_profile(tq_cuda_exec *x, int iters, double *ms_per_node,
                                 double *ms_relayout)
{
    cudaStream_t s = (cudaStream_t)x->dev.stream;
    cudaEvent_t *ev = tq_calloc(x->alloc, x->n_steps + 1, sizeof(cudaEvent_t));
    tfmq_status st = TFMQ_OK;
    if (!ev) {
        return cx_oom();
    }
    for (size_t a = 0; a <= x->n_steps && st == TFMQ_OK; a++) {
        st = tq_cuda_check(cudaEventCreate(&ev[a]), "cudaEventCreate");
    }
    for (size_t i = 0; i < x->g->n_nodes; i++) {
        ms_per_node[i] = 0.0;
    }
    *ms_relayout = 0.0;
    for (int it = 0; it < iters && st == TFMQ_OK; it++) {
        st = tq_cuda_check(cudaEventRecord(ev[0], s), "cudaEventRecord");
        for (size_t a = 0; a < x->n_steps && st == TFMQ_OK; a++) {
            st = cx_run_step(x, &x->steps[a]);
            if (st == TFMQ_OK) {
                st = tq_cuda_check(cudaEventRecord(ev[a + 1], s), "cudaEventRecord");
            }
        }
        if (st == TFMQ_OK) {
            st = tq_cuda_check(cudaEventSynchronize(ev[x->n_steps]), "cudaEventSynchronize");
        }
        for (size_t a = 0; a < x->n_steps && st == TFMQ_OK; a++) {
            float ms = 0.0f;
            st = tq_cuda_check(cudaEventElapsedTime(&ms, ev[a], ev[a + 1]), "cudaEventElapsed");
            if (x->steps[a].kind == CX_STEP_RELAYOUT) {
                *ms_relayout += (double)ms / iters;
            } else {
                ms_per_node[x->steps[a].node] += (double)ms / iters;
            }
        }
    }
    for (size_t a = 0; a <= x->n_steps; a++) {
        if (ev[a]) {
            cudaEventDestroy(ev[a]);
        }
    }
    tq_free(x->alloc, ev, (x->n_steps + 1) * sizeof(cudaEvent_t));
    return st;
}

/* Capture one enqueue into a CUDA graph; on any failure runs go on without one. */
static void cx_capture(tq_cuda_exec *x)
{
    cudaStream_t s = (cudaStream_t)x->dev.stream;
    cudaGraph_t graph = NULL;
    cudaGraphExec_t ge = NULL;
    x->graph_tried = true;
    if (cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal) != cudaSuccess) {
        (void)cudaGetLastError();
        return;
    }
    tfmq_status st = cx_enqueue(x);
    cudaError_t e = cudaStreamEndCapture(s, &graph);
    if (st != TFMQ_OK || e != cudaSuccess || !graph) {
        (void)cudaGetLastError();
        tq_clear_error();
        if (graph) {
            cudaGraphDestroy(graph);
        }
        return;
    }
    e = cudaGraphInstantiate(&ge, graph, 0);
    cudaGraphDestroy(graph);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        return;
    }
    x->graph_exec = ge;
}

tfmq_status tq_cuda_exec_run(tq_cuda_exec *x, const tq_tensor *inputs)
{
    const tq_graph *g = x->g;
    cudaStream_t s = (cudaStream_t)x->dev.stream;
    tfmq_status st;
    TQ_TRY(st, tq_cuda_check(cudaSetDevice(x->dev.device), "cudaSetDevice"));
    for (size_t i = 0; i < g->n_inputs; i++) {
        if (x->ins[i].host_bytes) {
            memcpy(x->ins[i].pinned, inputs[i].data, x->ins[i].host_bytes);
        }
    }
    if (x->obs_fn) { /* observed: step by step, never a CUDA graph */
        x->n_runs++;
        TQ_TRY(st, cx_run_observed(x));
        TQ_TRY(st, tq_cuda_check(cudaStreamSynchronize(s), "cuda: run"));
        TQ_TRY(st, tq_cuda_check(cudaGetLastError(), "cuda: run"));
        return TFMQ_OK;
    }
    /* The first run goes direct (libraries load kernels and build their per-pointer state on
     * first use, which a capture would refuse); the second is captured and replayed. */
    if (x->o.use_graph && !x->n_fallback && !x->graph_tried && x->n_runs > 0) {
        cx_capture(x);
    }
    x->n_runs++;
    if (x->graph_exec) {
        TQ_TRY(st, tq_cuda_check(cudaGraphLaunch((cudaGraphExec_t)x->graph_exec, s),
                                 "cuda: graph launch"));
    } else {
        TQ_TRY(st, cx_enqueue(x));
    }
    TQ_TRY(st, tq_cuda_check(cudaStreamSynchronize(s), "cuda: run"));
    TQ_TRY(st, tq_cuda_check(cudaGetLastError(), "cuda: run"));
    return TFMQ_OK;
fail:
    return st;
}

/* Write the plan cache when planning added choices. A cache that cannot be written costs the
 * next session its autotuning, not this one its plan: a warning, not an error. */
/* Where session creation's "kernels prepared" time goes, by op type (debug log). */
#define CX_OP_TIMES 16
static void cx_time_op(double *ms, int32_t *n, uint32_t *ids, int32_t *n_ids, uint32_t op,
                       double dt_ms)
{
    int32_t k = 0;
    while (k < *n_ids && ids[k] != op) {
        k++;
    }
    if (k == *n_ids) {
        if (*n_ids == CX_OP_TIMES) {
            return; /* more op types than slots: the rest are not itemized */
        }
        ids[(*n_ids)++] = op;
    }
    ms[k] += dt_ms;
    n[k]++;
}

static void cx_log_op_times(const double *ms, const int32_t *n, const uint32_t *ids,
                            int32_t n_ids)
{
    char buf[512];
    size_t len = 0;
    buf[0] = '\0';
    for (int32_t k = 0; k < n_ids && len < sizeof(buf); k++) {
        int w = snprintf(buf + len, sizeof(buf) - len, "%s%s %.1f ms (%d)", k ? ", " : "",
                         tq_op_table[ids[k]].name, ms[k], (int)n[k]);
        if (w < 0 || (size_t)w >= sizeof(buf) - len) {
            break; /* truncated: what fits is logged */
        }
        len += (size_t)w;
    }
    tq_log(TFMQ_LOG_DEBUG, "cuda: kernels prepared, by op: %s", buf);
}

static void cx_save_plan_cache(tq_plan_cache *pc)
{
    if (pc && tq_plan_cache_save(pc) != TFMQ_OK) {
        tq_log(TFMQ_LOG_WARN, "cuda plan cache: not written: %s", tfmq_last_error());
        tq_clear_error();
    }
}

tfmq_status tq_cuda_exec_create(const tq_graph *g, tq_exec *host, const tq_cuda_exec_opts *o,
                                const tfmq_allocator *alloc, tq_cuda_exec **exec_out)
{
    tfmq_status st;
    double t_phase[5];
    double op_ms[CX_OP_TIMES] = {0};
    int32_t op_n[CX_OP_TIMES] = {0};
    uint32_t op_ids[CX_OP_TIMES];
    int32_t n_op_ids = 0;
    t_phase[0] = tq_now_s();
    *exec_out = NULL;
    tq_cuda_exec *x = tq_calloc(alloc, 1, sizeof(*x));
    if (!x) {
        return cx_oom();
    }
    x->g = g;
    x->host = host;
    x->alloc = alloc;
    x->o = *o;
    x->share.alloc = alloc;
    x->vals = tq_calloc(alloc, g->n_values ? g->n_values : 1, sizeof(cx_val));
    x->nodes = tq_calloc(alloc, g->n_nodes ? g->n_nodes : 1, sizeof(cx_node));
    x->ins = tq_calloc(alloc, g->n_inputs ? g->n_inputs : 1, sizeof(cx_io));
    x->outs = tq_calloc(alloc, g->n_outputs ? g->n_outputs : 1, sizeof(cx_io));
    if (!x->vals || !x->nodes || !x->ins || !x->outs) {
        st = cx_oom();
        goto fail;
    }
    TQ_TRY(st, tq_cuda_dev_open(o->device, &x->dev));
    x->dev_open = true;
    t_phase[1] = tq_now_s();
    if (o->plan_cache) {
        TQ_TRY(st, tq_plan_cache_open(o->plan_cache, x->dev.name, x->dev.sm,
                                      x->dev.cudnn_version));
    }
    for (size_t v = 0; v < g->n_values; v++) {
        cx_val *cv = &x->vals[v];
        cv->alias = -1;
        cv->layout = TQ_LAYOUT_NCHW;
        if (tq_exec_value_is_const(host, (int32_t)v)) {
            cv->kind = CX_CONST;
        }
    }
    for (size_t i = 0; i < g->n_inputs; i++) {
        cx_val *cv = &x->vals[g->inputs[i]];
        const tq_tensor *t = cx_t(x, g->inputs[i]);
        size_t bytes = 0;
        tq_tensor_bytes(t, &bytes);
        cv->kind = CX_INPUT;
        cv->stored = t->dtype == TFMQ_DTYPE_FLOAT32;
        cv->bytes = bytes / cx_esize(t->dtype) * cx_dev_esize(x, t->dtype);
        cv->first = cv->last = 0;
    }
    for (size_t i = 0; i < g->n_nodes; i++) {
        tq_exec_node_state ns = tq_exec_node_get_state(host, i);
        if (ns == TQ_EXEC_NODE_FOLDED) {
            continue;
        }
        if (ns == TQ_EXEC_NODE_DYNAMIC) {
            char lbl[64];
            st = tq_fail(TFMQ_ERR_UNSUPPORTED, "cuda: node '%s' (%s): shapes known only at run "
                         "time (control flow or data-dependent shapes) are not supported on "
                         "the GPU yet", tq_node_label(g, &g->nodes[i], lbl, sizeof(lbl)),
                         tq_op_table[g->nodes[i].op].name);
            goto fail;
        }
        const double tn = tq_now_s();
        st = cx_plan_node(x, i);
        if (st != TFMQ_OK) {
            goto fail;
        }
        cx_time_op(op_ms, op_n, op_ids, &n_op_ids, g->nodes[i].op, 1e3 * (tq_now_s() - tn));
    }
    t_phase[2] = tq_now_s();
    int32_t end = (int32_t)g->n_nodes + 1;
    for (size_t i = 0; i < g->n_outputs; i++) {
        int32_t v = g->outputs[i];
        if (x->vals[v].kind == CX_ACT || x->vals[v].kind == CX_INPUT) {
            cx_use(&x->vals[cx_root(x, v)], end);
        }
    }
    TQ_TRY(st, cx_plan_memory(x));
    TQ_TRY(st, cx_bind(x));
    TQ_TRY(st, cx_plan_io(x));
    /* constants went up with cudaMemcpy on the legacy default stream, which the session's
     * non-blocking stream does not wait for: finish them before the first run */
    TQ_TRY(st, tq_cuda_check(cudaDeviceSynchronize(), "cuda: finishing the uploads"));
    t_phase[3] = tq_now_s();
    cx_save_plan_cache(o->plan_cache);
    t_phase[4] = tq_now_s();
    cx_log_op_times(op_ms, op_n, op_ids, n_op_ids);
    tq_log(TFMQ_LOG_DEBUG, "cuda: exec timing: device and handles %.1f ms, kernels prepared "
           "%.1f ms (%zu cuDNN plans built, %zu reused by nodes of the same shape), memory and "
           "constants %.1f ms, plan cache saved %.1f ms",
           1e3 * (t_phase[1] - t_phase[0]), 1e3 * (t_phase[2] - t_phase[1]), x->share.n,
           x->share.n_reused, 1e3 * (t_phase[3] - t_phase[2]), 1e3 * (t_phase[4] - t_phase[3]));
    *exec_out = x;
    return TFMQ_OK;
fail:
    tq_cuda_exec_destroy(x);
    return st;
}

void tq_cuda_exec_destroy(tq_cuda_exec *x)
{
    if (!x) {
        return;
    }
    const tq_graph *g = x->g;
    const tfmq_allocator *a = x->alloc;
    if (x->dev_open) {
        cudaSetDevice(x->dev.device);
        if (x->dev.stream) {
            cudaStreamSynchronize((cudaStream_t)x->dev.stream);
        }
    }
    if (x->graph_exec) {
        cudaGraphExecDestroy((cudaGraphExec_t)x->graph_exec);
    }
    cx_obs_free(x);
    if (x->nodes) {
        for (size_t i = 0; i < g->n_nodes; i++) {
            cx_node *cn = &x->nodes[i];
            if (cn->k) {
                cn->k->destroy(cn->k);
            }
            for (int32_t k = 0; k < TQ_MAX_IO; k++) {
                tq_free(a, cn->h_in[k], cn->h_in_bytes[k] + 1);
                tq_free(a, cn->h_out[k], cn->h_out_bytes[k] + 1);
            }
            tq_free(a, cn->h_scratch, cn->h_scratch_bytes);
        }
    }
    if (x->vals) {
        for (size_t v = 0; v < g->n_values; v++) {
            cx_dfree(x->vals[v].cdev);
        }
    }
    for (size_t i = 0; x->ins && i < g->n_inputs; i++) {
        if (x->ins[i].pinned) {
            cudaFreeHost(x->ins[i].pinned);
        }
        cx_dfree(x->ins[i].d_a);
        cx_dfree(x->ins[i].d_b);
    }
    for (size_t i = 0; x->outs && i < g->n_outputs; i++) {
        if (x->outs[i].pinned) {
            cudaFreeHost(x->outs[i].pinned);
        }
        cx_dfree(x->outs[i].d_a);
        cx_dfree(x->outs[i].d_b);
    }
    tq_pc_share_free(&x->share); /* after the kernels: it only borrows their plans */
    cx_dfree(x->workspace);
    cx_dfree(x->kspace);
    cx_dfree(x->h_stage);
    if (x->dev_open) {
        tq_cuda_dev_close(&x->dev);
    }
    tq_free(a, x->steps, x->cap_steps * sizeof(cx_step));
    tq_free(a, x->vals, (g->n_values ? g->n_values : 1) * sizeof(cx_val));
    tq_free(a, x->nodes, (g->n_nodes ? g->n_nodes : 1) * sizeof(cx_node));
    tq_free(a, x->ins, (g->n_inputs ? g->n_inputs : 1) * sizeof(cx_io));
    tq_free(a, x->outs, (g->n_outputs ? g->n_outputs : 1) * sizeof(cx_io));
    tq_free(a, x, sizeof(*x));
}

const tq_tensor *tq_cuda_exec_output(const tq_cuda_exec *x, size_t i)
{
    return &x->outs[i].t;
}

const char *tq_cuda_exec_device_name(const tq_cuda_exec *x)
{
    return x->dev.name;
}

size_t tq_cuda_exec_n_fallback(const tq_cuda_exec *x)
{
    return x->n_fallback;
}

bool tq_cuda_exec_uses_graph(const tq_cuda_exec *x)
{
    return x->graph_exec != NULL;
}

const char *tq_cuda_exec_node_impl(const tq_cuda_exec *x, size_t i)
{
    const cx_node *cn = &x->nodes[i];
    if (cn->view) {
        return "view";
    }
    if (cn->absorbed) {
        return "fused";
    }
    if (cn->host) {
        return "host:ref";
    }
    return cn->k ? cn->k->impl : NULL;
}

size_t tq_cuda_exec_n_nodes(const tq_cuda_exec *x)
{
    return x->g->n_nodes;
}

const char *tq_cuda_exec_node_op(const tq_cuda_exec *x, size_t i)
{
    return tq_op_table[x->g->nodes[i].op].name;
}
