/* kernels.c: the host side of our own CUDA kernels (cuda.h, "kernels.cu"): decodes a node with
 * the shape-inference helpers of src/ir (so a kernel can never disagree with the reference about
 * what a node means), bakes small constant inputs (Clip bounds, axes, Slice starts, Gather
 * indices, BatchNormalization and Q/DQ parameters) into the kernel state and sets own_consts for
 * them, and launches the device code of kernels_*.cu through kernels.h. Also the services of
 * cuda.h: tq_cuda_relayout, tq_cuda_convert and tq_cuda_layout_free. A kernel owns its state
 * (allocated on p->alloc) and at most two device buffers made at prepare; run only enqueues. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "backends/cpu/cpu.h"
#include "backends/cuda/cuda.h"
#include "backends/cuda/kernels.h"
#include "backends/ref/ref_compute_util.h"
#include "ir/ops/shape_ops.h"

typedef enum cuk_kind {
    CUK_EW = 0,
    CUK_POOL,
    CUK_GPOOL,
    CUK_COPY,
    CUK_STRIDED,
    CUK_T2D,
    CUK_CONCAT,
    CUK_GATHER,
    CUK_SOFTMAX,
    CUK_LN,
    CUK_REDUCE,
    CUK_BN,
    CUK_CAST,
    CUK_QUANT,
    CUK_DEQUANT,
    CUK_PAD
} cuk_kind;

typedef struct cuk {
    tq_cuda_kernel h;
    cuk_kind kind;
    const char *node;           /* node name (graph arena) for messages */
    int32_t type, type2;        /* element types (tqk_type): main / second (cast, Q/DQ) */
    int32_t flag;               /* kind-specific: is_max, is_log, scale bcast, ... */
    int32_t flag2;
    int64_t a, b, c, d;         /* kind-specific sizes */
    float eps;
    size_t n_bytes;             /* CUK_COPY: bytes; also Dropout's mask bytes in mask_bytes */
    size_t mask_bytes;
    tqk_ew ew;
    tqk_pool pool;
    tqk_strided strided;
    tqk_pad pad;
    tqk_reduce red;
    void *dev;                  /* owned device memory, or NULL */
    size_t dev_bytes;
    /* CUK_CONCAT */
    int32_t n_parts;
    size_t rows;                /* outer */
    size_t dpitch;              /* bytes of one output row */
    size_t part_width[TQ_MAX_IO];  /* bytes per row of each input */
    size_t part_off[TQ_MAX_IO];    /* byte offset of each input in an output row */
} cuk;

/* ---- helpers ---- */
static bool elem_type(const tq_cuda_prep *p, tfmq_dtype dt, int32_t *t)
{
    switch (dt) {
    case TFMQ_DTYPE_FLOAT32:
        *t = (int32_t)p->store;
        return true;
    case TFMQ_DTYPE_FLOAT16:
        *t = TQK_F16;
        return true;
    case TFMQ_DTYPE_BFLOAT16:
        *t = TQK_BF16;
        return true;
    case TFMQ_DTYPE_INT8:
        *t = TQK_I8;
        return true;
    case TFMQ_DTYPE_UINT8:
        *t = TQK_U8;
        return true;
    case TFMQ_DTYPE_INT32:
        *t = TQK_I32;
        return true;
    case TFMQ_DTYPE_INT64:
        *t = TQK_I64;
        return true;
    case TFMQ_DTYPE_BOOL:
        *t = TQK_BOOL;
        return true;
    default:
        return false;
    }
}

static size_t type_size(int32_t t)
{
    static const size_t es[8] = {4, 2, 2, 1, 1, 4, 8, 1};
    return t >= 0 && t < 8 ? es[t] : 0;
}

/* Input k is a rank-4 activation stored NHWC (constants are always NCHW). */
static bool in_nhwc(const tq_cuda_prep *p, int32_t k)
{
    const tq_tensor *t = p->ctx->in[k];
    return t && t->rank == 4 && !t->data && p->in_layout && p->in_layout[k] == TQ_LAYOUT_NHWC;
}

static bool out_nhwc(const tq_cuda_prep *p, int32_t k)
{
    const tq_tensor *t = p->ctx->out[k];
    return t && t->rank == 4 && p->out_layout && p->out_layout[k] == TQ_LAYOUT_NHWC;
}

/* Memory-order dims of a tensor and the logical dim at each memory position. */
static int32_t mem_dims(const tq_tensor *t, bool nhwc, int64_t *dims, int32_t *perm)
{
    static const int32_t p_nhwc[4] = {0, 2, 3, 1};
    for (int32_t m = 0; m < t->rank; m++) {
        perm[m] = nhwc ? p_nhwc[m] : m;
        dims[m] = t->dims[perm[m]];
    }
    return t->rank;
}

/* Row-major (or NHWC) strides of t's logical dims, in elements. */
static void logical_strides(const tq_tensor *t, bool nhwc, int64_t *st)
{
    if (nhwc) {
        const int64_t C = t->dims[1], H = t->dims[2], W = t->dims[3];
        st[0] = H * W * C;
        st[1] = 1;
        st[2] = W * C;
        st[3] = C;
        return;
    }
    int64_t s = 1;
    for (int32_t d = t->rank - 1; d >= 0; d--) {
        st[d] = s;
        s *= t->dims[d];
    }
}

static bool shape_static(const tq_tensor *t)
{
    return t && tq_tensor_shape_known(t) && t->rank <= TQK_MAX_RANK;
}

static int64_t numel(const tq_tensor *t)
{
    return (int64_t)tq_tensor_numel(t);
}

static tfmq_status run_check(const cuk *k, int err)
{
    if (err == 0) {
        return TFMQ_OK;
    }
    tfmq_status st = tq_cuda_check(err, k->h.impl);
    return tq_fail_prefix(st, "node '%s'", k->node ? k->node : "");
}

static void cuk_destroy(tq_cuda_kernel *kk)
{
    cuk *k = (cuk *)kk;
    if (!k) {
        return;
    }
    tqk_device_free(k->dev);
    tq_free(k->h.alloc, k, sizeof(*k));
}

static tfmq_status cuk_upload(const tq_cuda_prep *p, cuk *k, const void *host, size_t n_bytes)
{
    int e = tqk_upload(&k->dev, host, n_bytes);
    if (e != 0) {
        k->dev = NULL;
        tfmq_status st = tq_cuda_check(e, "cudaMalloc/cudaMemcpy of kernel parameters");
        return tq_fail_prefix(st, "node '%s' (%s)", p->ctx->node->name ? p->ctx->node->name : "",
                              tq_op_table[p->ctx->node->op].name);
    }
    k->dev_bytes = n_bytes;
    return TFMQ_OK;
}

/* ---- run ---- */
static tfmq_status cuk_run(tq_cuda_kernel *kk, const tq_cuda_args *a)
{
    cuk *k = (cuk *)kk;
    void *s = a->stream;
    void *y = a->out[0];
    const void *x = a->in[0];
    int e = 0;
    switch (k->kind) {
    case CUK_EW: {
        const void *xs[TQK_MAX_EW_IN] = {NULL, NULL, NULL};
        for (int32_t i = 0; i < k->ew.n_in; i++) {
            xs[i] = a->in[i];
        }
        e = tqk_ew_launch(&k->ew, y, xs, s);
        break;
    }
    case CUK_POOL:
        e = tqk_pool_launch(&k->pool, y, x, s);
        break;
    case CUK_GPOOL:
        e = tqk_global_pool_launch(k->flag, k->flag2, k->type, k->a, k->b, k->c, y, x, s);
        break;
    case CUK_COPY:
        e = tqk_copy(y, x, k->n_bytes, s);
        if (e == 0 && k->mask_bytes && a->out[1]) {
            e = tqk_memset(a->out[1], 1, k->mask_bytes, s);
        }
        break;
    case CUK_STRIDED:
        e = tqk_strided_launch(&k->strided, y, x, s);
        break;
    case CUK_T2D:
        e = tqk_transpose2d(y, x, k->a, k->b, k->c, k->flag, s);
        break;
    case CUK_PAD:
        e = tqk_pad_launch(&k->pad, y, x, s);
        break;
    case CUK_CONCAT:
        for (int32_t i = 0; e == 0 && i < k->n_parts; i++) {
            e = tqk_copy2d((char *)y + k->part_off[i], k->dpitch, a->in[i], k->part_width[i],
                           k->part_width[i], k->rows, s);
        }
        break;
    case CUK_GATHER:
        e = tqk_gather_launch(y, x, (const int64_t *)k->dev, k->a, k->b, k->c, k->d, k->flag, s);
        break;
    case CUK_SOFTMAX:
        e = tqk_softmax_launch(k->type, k->flag, k->a, k->b, k->c, y, x, s);
        break;
    case CUK_LN:
        e = tqk_layernorm_launch(k->type, k->a, k->b, k->eps, a->in[1], k->flag,
                                 k->flag2 >= 0 ? a->in[2] : NULL, k->flag2 > 0, y, x, s);
        break;
    case CUK_REDUCE:
        e = tqk_reduce_launch(&k->red, y, x, s);
        break;
    case CUK_BN:
        e = tqk_batchnorm_launch(k->type, k->a, k->b, k->c, (const double *)k->dev, y, x, s);
        break;
    case CUK_CAST:
        e = tqk_cast_launch(k->type2, k->type, k->a, y, x, s);
        break;
    case CUK_QUANT:
    case CUK_DEQUANT: {
        const float *sc = (const float *)k->dev;
        const int32_t *zp = (const int32_t *)(const void *)((const char *)k->dev +
                                                            (size_t)k->b * sizeof(float));
        if (k->kind == CUK_QUANT && k->d > 0) {
            const int64_t n_img = k->c > 0 ? k->a / (k->c * k->d) : 0;
            e = tqk_quant_nchw_nhwc_launch(k->type2, n_img, k->c, k->d, sc, zp, y,
                                           (const float *)x, s);
            break;
        }
        e = k->kind == CUK_QUANT
                ? tqk_quant_launch(k->type2, k->type, k->a, k->b, k->c, sc, zp, y, x, s)
                : tqk_dequant_launch(k->type2, k->type, k->a, k->b, k->c, sc, zp, y, x, s);
        break;
    }
    }
    return run_check(k, e);
}

static tfmq_status cuk_new(const tq_cuda_prep *p, cuk_kind kind, const char *impl, cuk **k_out)
{
    cuk *k = tq_calloc(p->alloc, 1, sizeof(*k));
    *k_out = NULL;
    if (!k) {
        return tq_op_fail(p->ctx, TFMQ_ERR_OUT_OF_MEMORY, "cuda kernel state: %zu bytes",
                          sizeof(*k));
    }
    k->h.run = cuk_run;
    k->h.destroy = cuk_destroy;
    k->h.alloc = p->alloc;
    k->h.impl = impl;
    k->kind = kind;
    k->node = p->ctx->node->name;
    *k_out = k;
    return TFMQ_OK;
}

/* ---- element-wise ---- */
typedef struct ew_desc {
    int32_t op;
    float a, b, c;
} ew_desc;

static bool ew_unary_desc(const tq_op_ctx *ctx, ew_desc *d, tfmq_status *st)
{
    const tq_node *n = ctx->node;
    float a = 0.0f, b = 0.0f, g = 0.0f;
    *st = TFMQ_OK;
    d->a = d->b = d->c = 0.0f;
    switch (n->op) {
    case TQ_OP_RELU: d->op = TQK_EW_RELU; return true;
    case TQ_OP_SIGMOID: d->op = TQK_EW_SIGMOID; return true;
    case TQ_OP_TANH: d->op = TQK_EW_TANH; return true;
    case TQ_OP_EXP: d->op = TQK_EW_EXP; return true;
    case TQ_OP_LOG: d->op = TQK_EW_LOG; return true;
    case TQ_OP_SQRT: d->op = TQK_EW_SQRT; return true;
    case TQ_OP_ABS: d->op = TQK_EW_ABS; return true;
    case TQ_OP_NEG: d->op = TQK_EW_NEG; return true;
    case TQ_OP_ERF: d->op = TQK_EW_ERF; return true;
    case TQ_OP_RECIPROCAL: d->op = TQK_EW_RECIPROCAL; return true;
    case TQ_OP_FLOOR: d->op = TQK_EW_FLOOR; return true;
    case TQ_OP_CEIL: d->op = TQK_EW_CEIL; return true;
    case TQ_OP_ROUND: d->op = TQK_EW_ROUND; return true;
    case TQ_OP_SIGN: d->op = TQK_EW_SIGN; return true;
    case TQ_OP_HARD_SWISH: d->op = TQK_EW_HARD_SWISH; return true;
    case TQ_OP_SOFTPLUS: d->op = TQK_EW_SOFTPLUS; return true;
    case TQ_OP_SOFTSIGN: d->op = TQK_EW_SOFTSIGN; return true;
    case TQ_OP_SIN: d->op = TQK_EW_SIN; return true;
    case TQ_OP_COS: d->op = TQK_EW_COS; return true;
    case TQ_OP_IDENTITY: d->op = TQK_EW_COPY; return true;
    case TQ_OP_LEAKY_RELU:
        *st = tq_attr_float(n, "alpha", 0.01f, &a);
        d->op = TQK_EW_LEAKY_RELU;
        d->a = a;
        return *st == TFMQ_OK;
    case TQ_OP_HARD_SIGMOID:
        if ((*st = tq_attr_float(n, "alpha", 0.2f, &a)) == TFMQ_OK) {
            *st = tq_attr_float(n, "beta", 0.5f, &b);
        }
        d->op = TQK_EW_HARD_SIGMOID;
        d->a = a;
        d->b = b;
        return *st == TFMQ_OK;
    case TQ_OP_ELU:
        *st = tq_attr_float(n, "alpha", 1.0f, &a);
        d->op = TQK_EW_ELU;
        d->a = a;
        return *st == TFMQ_OK;
    case TQ_OP_SELU:
        if ((*st = tq_attr_float(n, "alpha", 1.67326319217681884765625f, &a)) == TFMQ_OK) {
            *st = tq_attr_float(n, "gamma", 1.05070102214813232421875f, &g);
        }
        d->op = TQK_EW_SELU;
        d->a = a;
        d->c = g;
        return *st == TFMQ_OK;
    case TQ_OP_GELU: {
        const char *approx = "none";
        *st = tq_attr_string(n, "approximate", "none", &approx);
        d->op = strcmp(approx, "tanh") == 0 ? TQK_EW_GELU_TANH : TQK_EW_GELU;
        return *st == TFMQ_OK;
    }
    default:
        return false;
    }
}

static bool ew_multi_desc(uint32_t op, ew_desc *d)
{
    d->a = d->b = d->c = 0.0f;
    switch (op) {
    case TQ_OP_ADD: d->op = TQK_EW_ADD; return true;
    case TQ_OP_SUB: d->op = TQK_EW_SUB; return true;
    case TQ_OP_MUL: d->op = TQK_EW_MUL; return true;
    case TQ_OP_DIV: d->op = TQK_EW_DIV; return true;
    case TQ_OP_POW: d->op = TQK_EW_POW; return true;
    case TQ_OP_PRELU: d->op = TQK_EW_PRELU; return true;
    case TQ_OP_MAX: d->op = TQK_EW_MAX; return true;
    case TQ_OP_MIN: d->op = TQK_EW_MIN; return true;
    case TQ_OP_SUM: d->op = TQK_EW_SUM; return true;
    case TQ_OP_MEAN: d->op = TQK_EW_MEAN; return true;
    default:
        return false;
    }
}

/* Operand strides in y's memory order, merged (see kernels.h). False when an operand does not
 * broadcast to y with numpy rules. */
static bool ew_geometry(const tq_cuda_prep *p, const int32_t *ops, int32_t n_ops, tqk_ew *e)
{
    const tq_op_ctx *ctx = p->ctx;
    const tq_tensor *y = ctx->out[0];
    const int32_t r = y->rank;
    int64_t md[TQK_MAX_RANK];
    int32_t perm[TQK_MAX_RANK];
    int64_t ms[TQK_MAX_EW_IN][TQK_MAX_RANK];
    mem_dims(y, out_nhwc(p, 0), md, perm);
    for (int32_t k = 0; k < n_ops; k++) {
        const tq_tensor *t = ctx->in[ops[k]];
        int64_t own[TQK_MAX_RANK], lg[TQK_MAX_RANK];
        if (!shape_static(t) || t->rank > r) {
            return false;
        }
        logical_strides(t, in_nhwc(p, ops[k]), own);
        for (int32_t d = 0; d < r; d++) {
            const int32_t td = d - (r - t->rank);
            if (td < 0) {
                lg[d] = 0;
                continue;
            }
            if (t->dims[td] != y->dims[d] && t->dims[td] != 1) {
                return false;
            }
            lg[d] = (t->dims[td] == 1) ? 0 : own[td];
        }
        for (int32_t m = 0; m < r; m++) {
            ms[k][m] = lg[perm[m]];
        }
    }
    /* drop unit dims, merge neighbours contiguous for every operand */
    int32_t q = 0;
    for (int32_t m = 0; m < r; m++) {
        if (md[m] == 1) {
            continue;
        }
        bool merge = q > 0;
        for (int32_t k = 0; merge && k < n_ops; k++) {
            merge = e->stride[k][q - 1] == ms[k][m] * md[m];
        }
        if (merge) {
            e->dims[q - 1] *= md[m];
            for (int32_t k = 0; k < n_ops; k++) {
                e->stride[k][q - 1] = ms[k][m];
            }
        } else {
            e->dims[q] = md[m];
            for (int32_t k = 0; k < n_ops; k++) {
                e->stride[k][q] = ms[k][m];
            }
            q++;
        }
    }
    if (q == 0) {
        e->dims[0] = 1;
        for (int32_t k = 0; k < n_ops; k++) {
            e->stride[k][0] = 0;
        }
        q = 1;
    }
    e->rank = q;
    e->n_in = n_ops;
    e->n = numel(y);
    return true;
}

static tfmq_status prep_ew(const tq_cuda_prep *p, cuk **k_out)
{
    const tq_op_ctx *ctx = p->ctx;
    const tq_node *n = ctx->node;
    const tq_tensor *y = ctx->out[0];
    ew_desc d;
    tfmq_status st = TFMQ_OK;
    int32_t ops[TQK_MAX_EW_IN] = {0, 1, 2}, n_ops = 1;
    uint32_t own = 0;
    const char *impl = "cuda:eltwise";
    if (ctx->n_out != 1 || !shape_static(y) || y->dtype != TFMQ_DTYPE_FLOAT32) {
        return TFMQ_OK;
    }
    if (n->op == TQ_OP_CLIP) {
        float lo = -INFINITY, hi = INFINITY;
        if (ctx->opset < 11) {
            TQ_TRY(st, tq_attr_float(n, "min", -FLT_MAX, &lo));
            TQ_TRY(st, tq_attr_float(n, "max", FLT_MAX, &hi));
        }
        for (int32_t i = 1; i < 3 && i < ctx->n_in; i++) {
            const tq_tensor *b = ctx->in[i];
            if (!b) {
                continue;
            }
            if (!b->data || numel(b) != 1 || b->dtype != TFMQ_DTYPE_FLOAT32) {
                return TFMQ_OK; /* bounds that are activations: the host runs it */
            }
            const float v = ((const float *)b->data)[0];
            if (i == 1) {
                lo = v;
            } else {
                hi = v;
            }
            own |= 1u << i;
        }
        d.op = TQK_EW_CLIP;
        d.a = lo;
        d.b = hi;
        d.c = 0.0f;
        impl = "cuda:clip";
    } else if (ew_unary_desc(ctx, &d, &st)) {
        if (ctx->n_in != 1) {
            return TFMQ_OK;
        }
        impl = n->op == TQ_OP_IDENTITY ? "cuda:identity" : "cuda:unary";
    } else if (st != TFMQ_OK) {
        return st;
    } else if (ew_multi_desc(n->op, &d)) {
        if (ctx->n_in < 1 || ctx->n_in > TQK_MAX_EW_IN || tq_node_attr(n, "broadcast")) {
            return TFMQ_OK; /* legacy broadcast attributes: the host */
        }
        n_ops = ctx->n_in;
        impl = n_ops == 1 && (n->op == TQ_OP_MAX || n->op == TQ_OP_MIN || n->op == TQ_OP_SUM ||
                              n->op == TQ_OP_MEAN)
                   ? "cuda:identity"
                   : "cuda:binary";
    } else {
        return TFMQ_OK;
    }
    for (int32_t k = 0; k < n_ops; k++) {
        if (!ctx->in[k] || ctx->in[k]->dtype != TFMQ_DTYPE_FLOAT32) {
            return TFMQ_OK;
        }
    }
    tqk_ew e;
    memset(&e, 0, sizeof(e));
    if (!ew_geometry(p, ops, n_ops, &e)) {
        return TFMQ_OK;
    }
    e.op = d.op;
    e.a = d.a;
    e.b = d.b;
    e.c = d.c;
    e.type = (int32_t)p->store;
    cuk *k;
    TQ_TRY(st, cuk_new(p, CUK_EW, impl, &k));
    k->ew = e;
    k->h.own_consts = own;
    *k_out = k;
    return TFMQ_OK;
fail:
    return st;
}

/* ---- pools ---- */
static tfmq_status prep_pool(const tq_cuda_prep *p, cuk **k_out)
{
    const tq_op_ctx *ctx = p->ctx;
    const tq_tensor *x = ctx->in[0], *y = ctx->out[0];
    const bool is_max = ctx->node->op == TQ_OP_MAX_POOL;
    tfmq_status st;
    int32_t t;
    if (!shape_static(x) || !shape_static(y) || x->rank != 4 || y->rank != 4 ||
        (ctx->n_out > 1 && ctx->out[1]) || !elem_type(p, x->dtype, &t) ||
        (t != (int32_t)p->store && !(is_max && (t == TQK_I8 || t == TQK_U8))) ||
        (x->dtype != TFMQ_DTYPE_FLOAT32 && t != TQK_I8 && t != TQK_U8) ||
        in_nhwc(p, 0) != out_nhwc(p, 0)) {
        return TFMQ_OK;
    }
    tq_rc_spatial sp;
    if ((st = tq_rc_spatial_init(ctx, is_max ? TQ_RC_SP_MAX_POOL : TQ_RC_SP_AVG_POOL, &sp)) !=
        TFMQ_OK) {
        return st;
    }
    if (sp.n_sp != 2 || sp.out[0] != y->dims[2] || sp.out[1] != y->dims[3]) {
        return TFMQ_OK;
    }
    cuk *k;
    if ((st = cuk_new(p, CUK_POOL, is_max ? "cuda:pool_max" : "cuda:pool_avg", &k)) != TFMQ_OK) {
        return st;
    }
    tqk_pool *q = &k->pool;
    q->is_max = is_max;
    q->nhwc = in_nhwc(p, 0);
    q->type = t;
    q->count_include_pad = sp.count_include_pad;
    q->N = x->dims[0];
    q->C = x->dims[1];
    q->H = x->dims[2];
    q->W = x->dims[3];
    q->OH = y->dims[2];
    q->OW = y->dims[3];
    q->kh = sp.k[0];
    q->kw = sp.k[1];
    q->sh = sp.stride[0];
    q->sw = sp.stride[1];
    q->dh = sp.dil[0];
    q->dw = sp.dil[1];
    q->pt = sp.pad_b[0];
    q->pl = sp.pad_b[1];
    q->pb = sp.pad_e[0];
    q->pr = sp.pad_e[1];
    *k_out = k;
    return TFMQ_OK;
}

static tfmq_status prep_global_pool(const tq_cuda_prep *p, cuk **k_out)
{
    const tq_op_ctx *ctx = p->ctx;
    const tq_tensor *x = ctx->in[0], *y = ctx->out[0];
    tfmq_status st;
    if (!shape_static(x) || !shape_static(y) || x->rank < 3 || x->dtype != TFMQ_DTYPE_FLOAT32 ||
        (x->rank == 4 && y->rank == 4 && in_nhwc(p, 0) != out_nhwc(p, 0))) {
        return TFMQ_OK;
    }
    const bool is_max = ctx->node->op == TQ_OP_GLOBAL_MAX_POOL;
    cuk *k;
    if ((st = cuk_new(p, CUK_GPOOL, is_max ? "cuda:global_pool_max" : "cuda:global_pool_avg",
                      &k)) != TFMQ_OK) {
        return st;
    }
    int64_t hw = 1;
    for (int32_t d = 2; d < x->rank; d++) {
        hw *= x->dims[d];
    }
    k->flag = is_max;
    k->flag2 = in_nhwc(p, 0);
    k->type = (int32_t)p->store;
    k->a = x->dims[0];
    k->b = x->dims[1];
    k->c = hw;
    *k_out = k;
    return TFMQ_OK;
}

/* ---- copies: Identity (other dtypes), Dropout, Reshape, Flatten, Squeeze, Unsqueeze ---- */
static tfmq_status prep_copy(const tq_cuda_prep *p, cuk **k_out)
{
    const tq_op_ctx *ctx = p->ctx;
    const tq_tensor *x = ctx->in[0], *y = ctx->out[0];
    const uint32_t op = ctx->node->op;
    tfmq_status st;
    int32_t t;
    uint32_t own = 0;
    size_t mask = 0;
    if (!shape_static(x) || !shape_static(y) || !elem_type(p, x->dtype, &t) ||
        x->dtype != y->dtype || numel(x) != numel(y)) {
        return TFMQ_OK;
    }
    if (op == TQ_OP_IDENTITY ? in_nhwc(p, 0) != out_nhwc(p, 0)
                             : (in_nhwc(p, 0) || out_nhwc(p, 0))) {
        return TFMQ_OK;
    }
    for (int32_t i = 1; i < ctx->n_in; i++) {
        const tq_tensor *c = ctx->in[i];
        if (!c) {
            continue;
        }
        if (op == TQ_OP_DROPOUT && i == 2) {
            /* training_mode: only a constant false is inference */
            if (!c->data || numel(c) != 1 || tq_load_i64(c->dtype, c->data, 0) != 0) {
                return TFMQ_OK;
            }
        }
        if (c->data) {
            own |= 1u << i; /* shape / axes / ratio: already applied by shape inference */
        } else if (op == TQ_OP_DROPOUT) {
            return TFMQ_OK;
        }
    }
    if (op == TQ_OP_DROPOUT) {
        int64_t training = 0;
        if (ctx->opset >= 12) {
            /* training_mode is an input from opset 12 (checked above) */
        } else if (ctx->opset >= 7) {
            training = 0;
        } else if ((st = tq_attr_int(ctx->node, "is_test", 0, &training)) != TFMQ_OK) {
            return st;
        } else {
            training = !training;
        }
        if (training) {
            return TFMQ_OK;
        }
        if (ctx->n_out > 1 && ctx->out[1]) {
            const tq_tensor *m = ctx->out[1];
            if (!shape_static(m) || m->dtype != TFMQ_DTYPE_BOOL) {
                return TFMQ_OK;
            }
            mask = (size_t)numel(m);
        }
    } else if (ctx->n_out != 1) {
        return TFMQ_OK;
    }
    cuk *k;
    if ((st = cuk_new(p, CUK_COPY, "cuda:copy", &k)) != TFMQ_OK) {
        return st;
    }
    k->n_bytes = (size_t)numel(x) * type_size(t);
    k->mask_bytes = mask;
    k->h.own_consts = own;
    *k_out = k;
    return TFMQ_OK;
}

/* ---- Transpose and Slice: strided gathers ---- */
/* Merge dims of a strided gather whose source strides chain; drop unit dims. */
static void strided_merge(tqk_strided *s)
{
    int32_t q = 0;
    for (int32_t d = 0; d < s->rank; d++) {
        if (s->dims[d] == 1) {
            continue;
        }
        if (q > 0 && s->stride[q - 1] == s->stride[d] * s->dims[d]) {
            s->dims[q - 1] *= s->dims[d];
            s->stride[q - 1] = s->stride[d];
        } else {
            s->dims[q] = s->dims[d];
            s->stride[q] = s->stride[d];
            q++;
        }
    }
    if (q == 0) {
        s->dims[0] = 1;
        s->stride[0] = 0;
        q = 1;
    }
    s->rank = q;
}

static tfmq_status prep_strided(const tq_cuda_prep *p, cuk **k_out)
{
    const tq_op_ctx *ctx = p->ctx;
    const tq_tensor *x = ctx->in[0], *y = ctx->out[0];
    const bool is_t = ctx->node->op == TQ_OP_TRANSPOSE;
    tfmq_status st;
    int32_t t;
    uint32_t own = 0;
    if (!shape_static(x) || !shape_static(y) || x->rank < 1 || y->rank != x->rank ||
        !elem_type(p, x->dtype, &t) || y->dtype != x->dtype || in_nhwc(p, 0) ||
        out_nhwc(p, 0) || ctx->n_out != 1) {
        return TFMQ_OK;
    }
    int64_t xs[TQK_MAX_RANK];
    logical_strides(x, false, xs);
    tqk_strided s;
    memset(&s, 0, sizeof(s));
    s.rank = x->rank;
    s.esize = (int32_t)type_size(t);
    s.n = numel(y);
    if (is_t) {
        int32_t perm[TQ_MAX_RANK];
        if ((st = tq_transpose_perm(ctx, x->rank, perm)) != TFMQ_OK) {
            return st;
        }
        for (int32_t d = 0; d < x->rank; d++) {
            s.dims[d] = y->dims[d];
            s.stride[d] = xs[perm[d]];
        }
    } else {
        for (int32_t i = 1; i < ctx->n_in; i++) {
            if (ctx->in[i]) {
                if (!ctx->in[i]->data) {
                    return TFMQ_OK;
                }
                own |= 1u << i;
            }
        }
        tq_slice_params sp;
        if ((st = tq_slice_params_get(ctx, &sp)) != TFMQ_OK) {
            return st;
        }
        for (int32_t d = 0; d < x->rank; d++) {
            if (sp.count[d] != y->dims[d]) {
                return TFMQ_OK;
            }
            s.dims[d] = y->dims[d];
            s.stride[d] = sp.step[d] * xs[d];
            if (y->dims[d] > 0) {
                s.base += sp.start[d] * xs[d];
            }
        }
    }
    strided_merge(&s);
    cuk *k;
    /* a batched 2-D transpose: the tiled kernel */
    if (is_t && (s.rank == 2 || s.rank == 3) && s.stride[s.rank - 2] == 1 && s.base == 0) {
        const int64_t A = s.dims[s.rank - 2], Bd = s.dims[s.rank - 1];
        if (s.stride[s.rank - 1] == A && (s.rank == 2 || s.stride[0] == A * Bd)) {
            if ((st = cuk_new(p, CUK_T2D, "cuda:transpose_tiled", &k)) != TFMQ_OK) {
                return st;
            }
            k->a = s.rank == 3 ? s.dims[0] : 1;
            k->b = Bd;
            k->c = A;
            k->flag = s.esize;
            *k_out = k;
            return TFMQ_OK;
        }
    }
    if ((st = cuk_new(p, CUK_STRIDED, is_t ? "cuda:transpose" : "cuda:slice", &k)) != TFMQ_OK) {
        return st;
    }
    k->strided = s;
    k->h.own_consts = own;
    *k_out = k;
    return TFMQ_OK;
}

/* ---- Pad (constant pads, constant value; NCHW data) ---- */
static tfmq_status prep_pad(const tq_cuda_prep *p, cuk **k_out)
{
    const tq_op_ctx *ctx = p->ctx;
    const tq_tensor *x = ctx->in[0], *y = ctx->out[0];
    const tq_tensor *cv = ctx->n_in > 2 ? ctx->in[2] : NULL;
    tfmq_status st;
    int32_t t;
    uint32_t own = 0;
    if (!shape_static(x) || !shape_static(y) || x->rank < 1 || x->rank > TQK_MAX_RANK ||
        y->rank != x->rank || !elem_type(p, x->dtype, &t) || y->dtype != x->dtype ||
        in_nhwc(p, 0) || out_nhwc(p, 0) || ctx->n_out != 1 ||
        (numel(x) == 0 && numel(y) != 0)) {
        return TFMQ_OK;
    }
    for (int32_t i = 1; i < ctx->n_in; i++) {
        if (ctx->in[i]) {
            if (!ctx->in[i]->data) {
                return TFMQ_OK; /* pads, value or axes computed at run time: host */
            }
            own |= 1u << i;
        }
    }
    tq_pad_params pp;
    if ((st = tq_pad_params_get(ctx, &pp)) != TFMQ_OK) {
        return st;
    }
    tqk_pad d;
    memset(&d, 0, sizeof(d));
    d.rank = x->rank;
    d.esize = (int32_t)type_size(t);
    d.mode = (int32_t)pp.mode;
    d.n = (int64_t)numel(y);
    for (int32_t i = 0; i < x->rank; i++) {
        d.out[i] = y->dims[i];
        d.in[i] = x->dims[i];
        d.begin[i] = pp.begin[i];
    }
    /* the constant in the element type as stored on the device */
    double v = pp.value;
    if (cv) {
        v = tq_load_f64(cv->dtype, cv->data, 0);
    }
    if (x->dtype == TFMQ_DTYPE_FLOAT32 && p->store != TQ_CUDA_F32) {
        uint16_t h = p->store == TQ_CUDA_F16 ? tq_f32_to_f16((float)v) : tq_f32_to_bf16((float)v);
        memcpy(d.value, &h, 2);
    } else if (cv && tq_dtype_size(cv->dtype) <= sizeof(d.value)) {
        memcpy(d.value, cv->data, tq_dtype_size(cv->dtype));
    } else {
        tq_store_f64(x->dtype, d.value, 0, v);
    }
    cuk *k;
    if ((st = cuk_new(p, CUK_PAD, "cuda:pad", &k)) != TFMQ_OK) {
        return st;
    }
    k->pad = d;
    k->h.own_consts = own;
    *k_out = k;
    return TFMQ_OK;
}

/* ---- Concat: one 2-D copy per input ---- */
static tfmq_status prep_concat(const tq_cuda_prep *p, cuk **k_out)
{
    const tq_op_ctx *ctx = p->ctx;
    const tq_tensor *y = ctx->out[0];
    tfmq_status st;
    int32_t t;
    int64_t axis;
    int32_t ax;
    if (!shape_static(y) || y->rank < 1 || !elem_type(p, y->dtype, &t) || ctx->n_out != 1 ||
        ctx->n_in < 1 || ctx->n_in > TQ_MAX_IO) {
        return TFMQ_OK;
    }
    if ((st = tq_attr_int(ctx->node, "axis", 0, &axis)) != TFMQ_OK ||
        (st = tq_norm_axis(ctx, axis, y->rank, false, &ax)) != TFMQ_OK) {
        return st;
    }
    const bool nhwc = out_nhwc(p, 0);
    int64_t md[TQK_MAX_RANK];
    int32_t perm[TQK_MAX_RANK], pos = 0;
    mem_dims(y, nhwc, md, perm);
    for (int32_t m = 0; m < y->rank; m++) {
        if (perm[m] == ax) {
            pos = m;
        }
    }
    int64_t outer = 1, inner = 1;
    for (int32_t m = 0; m < y->rank; m++) {
        if (m < pos) {
            outer *= md[m];
        } else if (m > pos) {
            inner *= md[m];
        }
    }
    const size_t es = type_size(t);
    int64_t total = 0;
    for (int32_t i = 0; i < ctx->n_in; i++) {
        const tq_tensor *x = ctx->in[i];
        if (!shape_static(x) || x->rank != y->rank || x->dtype != y->dtype ||
            (nhwc && (x->data || !in_nhwc(p, i))) || (!nhwc && in_nhwc(p, i))) {
            return TFMQ_OK;
        }
        total += x->dims[ax];
    }
    if (total != y->dims[ax]) {
        return TFMQ_OK;
    }
    cuk *k;
    if ((st = cuk_new(p, CUK_CONCAT, nhwc ? "cuda:concat_nhwc" : "cuda:concat", &k)) != TFMQ_OK) {
        return st;
    }
    k->rows = (size_t)outer;
    k->dpitch = (size_t)(total * inner) * es;
    size_t off = 0;
    for (int32_t i = 0; i < ctx->n_in; i++) {
        k->part_off[i] = off;
        k->part_width[i] = (size_t)(ctx->in[i]->dims[ax] * inner) * es;
        off += k->part_width[i];
    }
    k->n_parts = ctx->n_in;
    *k_out = k;
    return TFMQ_OK;
}

/* ---- Gather with constant indices ---- */
static tfmq_status prep_gather(const tq_cuda_prep *p, cuk **k_out)
{
    const tq_op_ctx *ctx = p->ctx;
    const tq_tensor *x = ctx->in[0], *ti = ctx->in[1], *y = ctx->out[0];
    tfmq_status st;
    int32_t t, ax;
    cuk *k = NULL;
    int64_t *idx = NULL;
    size_t idx_bytes = 0;
    if (!shape_static(x) || !shape_static(y) || !ti || !ti->data || !shape_static(ti) ||
        x->rank < 1 || !elem_type(p, x->dtype, &t) || y->dtype != x->dtype || in_nhwc(p, 0) ||
        out_nhwc(p, 0) || ctx->n_out != 1 ||
        (ti->dtype != TFMQ_DTYPE_INT64 && ti->dtype != TFMQ_DTYPE_INT32)) {
        return TFMQ_OK;
    }
    if ((st = tq_gather_axis(ctx, x->rank, &ax)) != TFMQ_OK) {
        return st;
    }
    const int64_t n_idx = numel(ti), n_axis = x->dims[ax];
    int64_t outer = 1, inner = 1;
    for (int32_t d = 0; d < x->rank; d++) {
        if (d < ax) {
            outer *= x->dims[d];
        } else if (d > ax) {
            inner *= x->dims[d];
        }
    }
    if (outer * n_idx * inner != numel(y)) {
        return TFMQ_OK;
    }
    idx_bytes = (size_t)(n_idx > 0 ? n_idx : 1) * sizeof(int64_t);
    idx = tq_alloc(p->alloc, idx_bytes);
    if (!idx) {
        return tq_op_fail(ctx, TFMQ_ERR_OUT_OF_MEMORY, "gather indices: %zu bytes", idx_bytes);
    }
    for (int64_t j = 0; j < n_idx; j++) {
        int64_t v = tq_load_i64(ti->dtype, ti->data, (size_t)j);
        if (v < 0) {
            v += n_axis;
        }
        if (v < 0 || v >= n_axis) {
            st = tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "index %lld out of range [0, %lld)",
                            (long long)v, (long long)n_axis);
            goto fail;
        }
        idx[j] = v;
    }
    TQ_TRY(st, cuk_new(p, CUK_GATHER, "cuda:gather", &k));
    TQ_TRY(st, cuk_upload(p, k, idx, idx_bytes));
    k->a = outer;
    k->b = n_axis;
    k->c = n_idx;
    k->d = inner;
    k->flag = (int32_t)type_size(t);
    k->h.own_consts = 1u << 1;
    tq_free(p->alloc, idx, idx_bytes);
    *k_out = k;
    return TFMQ_OK;
fail:
    tq_free(p->alloc, idx, idx_bytes);
    cuk_destroy(k ? &k->h : NULL);
    return st;
}

/* ---- Softmax / LogSoftmax ---- */
static tfmq_status prep_softmax(const tq_cuda_prep *p, cuk **k_out)
{
    const tq_op_ctx *ctx = p->ctx;
    const tq_tensor *x = ctx->in[0], *y = ctx->out[0];
    tfmq_status st;
    int64_t axis;
    if (!shape_static(x) || !shape_static(y) || x->dtype != TFMQ_DTYPE_FLOAT32 ||
        in_nhwc(p, 0) || out_nhwc(p, 0) || ctx->n_out != 1) {
        return TFMQ_OK;
    }
    if ((st = tq_attr_int(ctx->node, "axis", ctx->opset < 13 ? 1 : -1, &axis)) != TFMQ_OK) {
        return st;
    }
    int32_t a;
    if (ctx->opset >= 13) {
        if ((st = tq_norm_axis(ctx, axis, x->rank, false, &a)) != TFMQ_OK) {
            return st;
        }
    } else {
        if (axis < -(int64_t)x->rank || axis > x->rank) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "axis %lld is out of range for rank %d",
                              (long long)axis, x->rank);
        }
        a = (int32_t)(axis < 0 ? axis + x->rank : axis);
    }
    int64_t outer = 1, n = 1, inner = 1;
    for (int32_t d = 0; d < x->rank; d++) {
        if (d < a) {
            outer *= x->dims[d];
        } else if (d == a || ctx->opset < 13) {
            n *= x->dims[d];
        } else {
            inner *= x->dims[d];
        }
    }
    const bool is_log = ctx->node->op == TQ_OP_LOG_SOFTMAX;
    cuk *k;
    if ((st = cuk_new(p, CUK_SOFTMAX, is_log ? "cuda:log_softmax" : "cuda:softmax", &k)) !=
        TFMQ_OK) {
        return st;
    }
    k->type = (int32_t)p->store;
    k->flag = is_log;
    k->a = outer;
    k->b = n;
    k->c = inner;
    *k_out = k;
    return TFMQ_OK;
}

/* ---- LayerNormalization: scale and bias are device operands in the storage type ---- */
/* 1: one element broadcast, 0: k elements along the normalised dims, -1: not supported */
static int32_t ln_param(const tq_tensor *x, int32_t ax, const tq_tensor *t)
{
    if (!shape_static(t) || t->dtype != TFMQ_DTYPE_FLOAT32 || t->rank > x->rank) {
        return -1;
    }
    if (numel(t) == 1) {
        return 1;
    }
    for (int32_t d = 0; d < t->rank; d++) {
        const int32_t xd = d + x->rank - t->rank;
        if (xd < ax ? t->dims[d] != 1 : t->dims[d] != x->dims[xd]) {
            return -1;
        }
    }
    /* dims from ax not covered by t must be 1 */
    for (int32_t xd = ax; xd < x->rank - t->rank; xd++) {
        if (x->dims[xd] != 1) {
            return -1;
        }
    }
    return 0;
}

static tfmq_status prep_layernorm(const tq_cuda_prep *p, cuk **k_out)
{
    const tq_op_ctx *ctx = p->ctx;
    const tq_tensor *x = ctx->in[0], *y = ctx->out[0];
    tfmq_status st;
    int64_t axis;
    float eps;
    int32_t ax;
    if (!shape_static(x) || !shape_static(y) || x->dtype != TFMQ_DTYPE_FLOAT32 ||
        in_nhwc(p, 0) || out_nhwc(p, 0) || ctx->n_in < 2 || !ctx->in[1]) {
        return TFMQ_OK;
    }
    for (int32_t i = 1; i < ctx->n_out; i++) {
        if (ctx->out[i]) {
            return TFMQ_OK;
        }
    }
    if ((st = tq_attr_int(ctx->node, "axis", -1, &axis)) != TFMQ_OK ||
        (st = tq_attr_float(ctx->node, "epsilon", 1e-5f, &eps)) != TFMQ_OK ||
        (st = tq_norm_axis(ctx, axis, x->rank, false, &ax)) != TFMQ_OK) {
        return st;
    }
    const int32_t sb = ln_param(x, ax, ctx->in[1]);
    const bool has_b = ctx->n_in > 2 && ctx->in[2];
    const int32_t bb = has_b ? ln_param(x, ax, ctx->in[2]) : -1;
    if (sb < 0 || (has_b && bb < 0)) {
        return TFMQ_OK;
    }
    int64_t rows = 1, kk = 1;
    for (int32_t d = 0; d < x->rank; d++) {
        if (d < ax) {
            rows *= x->dims[d];
        } else {
            kk *= x->dims[d];
        }
    }
    cuk *k;
    if ((st = cuk_new(p, CUK_LN, "cuda:layer_norm", &k)) != TFMQ_OK) {
        return st;
    }
    k->type = (int32_t)p->store;
    k->a = rows;
    k->b = kk;
    k->eps = eps;
    k->flag = sb;
    k->flag2 = has_b ? bb : -1;
    *k_out = k;
    return TFMQ_OK;
}

/* ---- ReduceSum / ReduceMean / ReduceMax / ReduceMin ---- */
static tfmq_status prep_reduce(const tq_cuda_prep *p, cuk **k_out)
{
    const tq_op_ctx *ctx = p->ctx;
    const tq_tensor *x = ctx->in[0], *y = ctx->out[0];
    const tq_tensor *ta = ctx->n_in > 1 ? ctx->in[1] : NULL;
    const uint32_t op = ctx->node->op;
    tfmq_status st;
    int64_t axes[TQ_MAX_RANK], noop;
    size_t n_axes = 0;
    uint32_t own = 0;
    if (!shape_static(x) || !shape_static(y) || x->dtype != TFMQ_DTYPE_FLOAT32 || x->rank < 1 ||
        in_nhwc(p, 0) || out_nhwc(p, 0) || ctx->n_out != 1) {
        return TFMQ_OK;
    }
    if ((st = tq_attr_int(ctx->node, "noop_with_empty_axes", 0, &noop)) != TFMQ_OK) {
        return st;
    }
    if (ta) {
        if (!ta->data) {
            return TFMQ_OK;
        }
        own = 1u << 1;
        if (numel(ta) > 0 && (st = tq_read_ints(ctx, ta, axes, TQ_MAX_RANK, &n_axes)) != TFMQ_OK) {
            return st;
        }
    } else {
        const int64_t *av;
        if ((st = tq_attr_ints(ctx->node, "axes", &av, &n_axes)) != TFMQ_OK) {
            return st;
        }
        if (n_axes > TQ_MAX_RANK) {
            return TFMQ_OK;
        }
        for (size_t i = 0; i < n_axes; i++) {
            axes[i] = av[i];
        }
    }
    bool red[TQ_MAX_RANK];
    for (int32_t i = 0; i < x->rank; i++) {
        red[i] = n_axes == 0 && !noop;
    }
    for (size_t i = 0; i < n_axes; i++) {
        int32_t a;
        if ((st = tq_norm_axis(ctx, axes[i], x->rank, false, &a)) != TFMQ_OK) {
            return st;
        }
        red[a] = true;
    }
    tqk_reduce r;
    memset(&r, 0, sizeof(r));
    switch (op) {
    case TQ_OP_REDUCE_SUM: r.op = TQK_RED_SUM; break;
    case TQ_OP_REDUCE_MEAN: r.op = TQK_RED_MEAN; break;
    case TQ_OP_REDUCE_MAX: r.op = TQK_RED_MAX; break;
    default: r.op = TQK_RED_MIN; break;
    }
    r.type = (int32_t)p->store;
    int64_t xs[TQK_MAX_RANK];
    logical_strides(x, false, xs);
    r.n_out = 1;
    r.n_red = 1;
    int32_t last_kind = -1; /* 0 kept, 1 reduced */
    for (int32_t d = 0; d < x->rank; d++) {
        const int64_t dim = x->dims[d];
        if (red[d]) {
            r.n_red *= dim;
        } else {
            r.n_out *= dim;
        }
        if (dim == 1) {
            continue;
        }
        int64_t *dims = red[d] ? r.rd : r.kd, *strd = red[d] ? r.rs : r.ks;
        int32_t *cnt = red[d] ? &r.rank_red : &r.rank_keep;
        if (last_kind == (int32_t)red[d] && *cnt > 0 && strd[*cnt - 1] == xs[d] * dim) {
            dims[*cnt - 1] *= dim;
            strd[*cnt - 1] = xs[d];
        } else {
            dims[*cnt] = dim;
            strd[*cnt] = xs[d];
            (*cnt)++;
        }
        last_kind = (int32_t)red[d];
    }
    if (r.rank_keep == 0) {
        r.kd[0] = 1;
        r.ks[0] = 0;
        r.rank_keep = 1;
    }
    if (r.rank_red == 0) {
        r.rd[0] = 1;
        r.rs[0] = 0;
        r.rank_red = 1;
    }
    if (r.n_red == 0) {
        r.rd[0] = 1;
        r.rank_red = 1;
    }
    if (r.n_out != numel(y)) {
        return TFMQ_OK;
    }
    cuk *k;
    if ((st = cuk_new(p, CUK_REDUCE, "cuda:reduce", &k)) != TFMQ_OK) {
        return st;
    }
    k->red = r;
    k->h.own_consts = own;
    *k_out = k;
    return TFMQ_OK;
}

/* ---- BatchNormalization (inference) with constant parameters ---- */
static tfmq_status prep_batchnorm(const tq_cuda_prep *p, cuk **k_out)
{
    const tq_op_ctx *ctx = p->ctx;
    const tq_tensor *x = ctx->in[0], *y = ctx->out[0];
    tfmq_status st;
    float eps;
    int64_t training = 0, spatial = 1;
    cuk *k = NULL;
    double *prm = NULL;
    size_t prm_bytes = 0;
    if (!shape_static(x) || !shape_static(y) || x->dtype != TFMQ_DTYPE_FLOAT32 || x->rank < 2 ||
        (x->rank == 4 && in_nhwc(p, 0) != out_nhwc(p, 0))) {
        return TFMQ_OK;
    }
    for (int32_t i = 1; i < ctx->n_out; i++) {
        if (ctx->out[i]) {
            return TFMQ_OK;
        }
    }
    if ((st = tq_attr_float(ctx->node, "epsilon", 1e-5f, &eps)) != TFMQ_OK) {
        return st;
    }
    if (ctx->opset < 9 && (st = tq_attr_int(ctx->node, "spatial", 1, &spatial)) != TFMQ_OK) {
        return st;
    }
    if (ctx->opset >= 14 &&
        (st = tq_attr_int(ctx->node, "training_mode", 0, &training)) != TFMQ_OK) {
        return st;
    }
    const int64_t C = x->dims[1];
    if (training || !spatial) {
        return TFMQ_OK;
    }
    for (int32_t i = 1; i < 5; i++) {
        const tq_tensor *t = ctx->in[i];
        if (!t || !t->data || numel(t) != C || !tq_dtype_is_float(t->dtype)) {
            return TFMQ_OK;
        }
    }
    prm_bytes = (size_t)(3 * (C > 0 ? C : 1)) * sizeof(double);
    prm = tq_alloc(p->alloc, prm_bytes);
    if (!prm) {
        return tq_op_fail(ctx, TFMQ_ERR_OUT_OF_MEMORY, "batch norm parameters: %zu bytes",
                          prm_bytes);
    }
    for (int64_t c = 0; c < C; c++) {
        const size_t i = (size_t)c;
        const double sc = tq_load_f64(ctx->in[1]->dtype, ctx->in[1]->data, i);
        const double bi = tq_load_f64(ctx->in[2]->dtype, ctx->in[2]->data, i);
        const double m = tq_load_f64(ctx->in[3]->dtype, ctx->in[3]->data, i);
        const double v = tq_load_f64(ctx->in[4]->dtype, ctx->in[4]->data, i);
        prm[c] = m;
        prm[C + c] = sc / sqrt(v + (double)eps);
        prm[2 * C + c] = bi;
    }
    TQ_TRY(st, cuk_new(p, CUK_BN, "cuda:batch_norm", &k));
    TQ_TRY(st, cuk_upload(p, k, prm, prm_bytes));
    k->type = (int32_t)p->store;
    k->a = numel(x);
    k->b = C;
    if (x->rank == 4 && in_nhwc(p, 0)) {
        k->c = 1;
    } else {
        k->c = 1;
        for (int32_t d = 2; d < x->rank; d++) {
            k->c *= x->dims[d];
        }
    }
    k->h.own_consts = 0x1Eu;
    tq_free(p->alloc, prm, prm_bytes);
    *k_out = k;
    return TFMQ_OK;
fail:
    tq_free(p->alloc, prm, prm_bytes);
    cuk_destroy(k ? &k->h : NULL);
    return st;
}

/* ---- Cast ---- */
static tfmq_status prep_cast(const tq_cuda_prep *p, cuk **k_out)
{
    const tq_op_ctx *ctx = p->ctx;
    const tq_tensor *x = ctx->in[0], *y = ctx->out[0];
    tfmq_status st;
    int32_t tx, ty;
    if (!shape_static(x) || !shape_static(y) || !elem_type(p, x->dtype, &tx) ||
        !elem_type(p, y->dtype, &ty) || numel(x) != numel(y) || in_nhwc(p, 0) != out_nhwc(p, 0) ||
        ctx->n_out != 1) {
        return TFMQ_OK;
    }
    cuk *k;
    if ((st = cuk_new(p, CUK_CAST, "cuda:cast", &k)) != TFMQ_OK) {
        return st;
    }
    k->type = tx;
    k->type2 = ty;
    k->a = numel(x);
    k->h.own_consts = ctx->node->op == TQ_OP_CAST_LIKE ? 1u << 1 : 0u;
    *k_out = k;
    return TFMQ_OK;
}

/* ---- QuantizeLinear / DequantizeLinear (int8/uint8; per tensor or per axis) ---- */
static tfmq_status prep_qdq(const tq_cuda_prep *p, cuk **k_out)
{
    const tq_op_ctx *ctx = p->ctx;
    const tq_tensor *x = ctx->in[0], *ts = ctx->in[1], *y = ctx->out[0];
    const tq_tensor *tz = ctx->n_in > 2 ? ctx->in[2] : NULL;
    const bool is_q = ctx->node->op == TQ_OP_QUANTIZE_LINEAR;
    tfmq_status st;
    int32_t tx, ty;
    tq_rc_qparams q;
    cuk *k = NULL;
    void *hp = NULL;
    size_t hp_bytes = 0;
    /* a QuantizeLinear may write NHWC from an NCHW input (per tensor, rank 4: the exec asks
     * so for a network input quantized for its first convolution) */
    if (!shape_static(x) || !shape_static(y) || !ts || !ts->data || (tz && !tz->data) ||
        !elem_type(p, x->dtype, &tx) || !elem_type(p, y->dtype, &ty) || ctx->n_out != 1 ||
        ts->dtype != TFMQ_DTYPE_FLOAT32 || numel(x) != numel(y)) {
        return TFMQ_OK;
    }
    const bool to_nhwc = is_q && !in_nhwc(p, 0) && out_nhwc(p, 0) && x->rank == 4 &&
                         tx == TQK_F32; /* float32 storage (INT8 sessions) */
    if (in_nhwc(p, 0) != out_nhwc(p, 0) && !to_nhwc) {
        return TFMQ_OK;
    }
    if (is_q ? (x->dtype != TFMQ_DTYPE_FLOAT32 || (ty != TQK_I8 && ty != TQK_U8))
             : (y->dtype != TFMQ_DTYPE_FLOAT32 || (tx != TQK_I8 && tx != TQK_U8 && tx != TQK_I32))) {
        return TFMQ_OK;
    }
    if (tq_node_attr(ctx->node, "block_size")) {
        return TFMQ_OK;
    }
    if ((st = tq_rc_qparams_get(ctx, &q)) != TFMQ_OK) {
        return st;
    }
    const int64_t n_ch = (int64_t)q.n_ch;
    if (numel(ts) != n_ch || (tz && numel(tz) != n_ch) ||
        (to_nhwc && (q.per_axis || n_ch != 1))) {
        return TFMQ_OK;
    }
    int64_t inner = 1;
    if (q.per_axis) {
        int64_t md[TQK_MAX_RANK];
        int32_t perm[TQK_MAX_RANK], pos = 0;
        mem_dims(x, in_nhwc(p, 0), md, perm);
        for (int32_t m = 0; m < x->rank; m++) {
            if (perm[m] == q.axis) {
                pos = m;
            }
        }
        for (int32_t m = pos + 1; m < x->rank; m++) {
            inner *= md[m];
        }
    }
    hp_bytes = (size_t)(n_ch > 0 ? n_ch : 1) * (sizeof(float) + sizeof(int32_t));
    hp = tq_alloc(p->alloc, hp_bytes);
    if (!hp) {
        return tq_op_fail(ctx, TFMQ_ERR_OUT_OF_MEMORY, "Q/DQ parameters: %zu bytes", hp_bytes);
    }
    float *sc = hp;
    int32_t *zp = (int32_t *)(void *)(sc + (n_ch > 0 ? n_ch : 1));
    for (int64_t c = 0; c < n_ch; c++) {
        sc[c] = ((const float *)ts->data)[c];
        zp[c] = tz ? (int32_t)tq_load_i64(tz->dtype, tz->data, (size_t)c) : 0;
    }
    const char *impl = to_nhwc ? "cuda:quantize_nchw_nhwc"
                               : (is_q ? "cuda:quantize" : "cuda:dequantize");
    TQ_TRY(st, cuk_new(p, is_q ? CUK_QUANT : CUK_DEQUANT, impl, &k));
    TQ_TRY(st, cuk_upload(p, k, hp, hp_bytes));
    k->type = tx;
    k->type2 = ty;
    k->a = numel(x);
    k->b = n_ch > 0 ? n_ch : 1;
    k->c = to_nhwc ? x->dims[1] : inner;          /* to_nhwc: C */
    k->d = to_nhwc ? x->dims[2] * x->dims[3] : 0; /* > 0: NCHW in, NHWC out; H * W */
    k->h.own_consts = (1u << 1) | (tz ? 1u << 2 : 0u);
    tq_free(p->alloc, hp, hp_bytes);
    *k_out = k;
    return TFMQ_OK;
fail:
    tq_free(p->alloc, hp, hp_bytes);
    cuk_destroy(k ? &k->h : NULL);
    return st;
}

/* ---- entry points ---- */
tfmq_status tq_cuda_prepare_kernels(const tq_cuda_prep *p, tq_cuda_kernel **k_out)
{
    cuk *k = NULL;
    tfmq_status st = TFMQ_OK;
    if (!p || !p->ctx || !p->ctx->node || !k_out) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "tq_cuda_prepare_kernels: NULL argument");
    }
    *k_out = NULL;
    const tq_op_ctx *ctx = p->ctx;
    if (ctx->n_out < 1 || !ctx->out[0] || ctx->n_in < 1 || !ctx->in[0] ||
        (int)p->store < 0 || (int)p->store > 2) {
        return TFMQ_OK;
    }
    switch (ctx->node->op) {
    case TQ_OP_MAX_POOL:
    case TQ_OP_AVERAGE_POOL:
        st = prep_pool(p, &k);
        break;
    case TQ_OP_GLOBAL_AVERAGE_POOL:
    case TQ_OP_GLOBAL_MAX_POOL:
        st = prep_global_pool(p, &k);
        break;
    case TQ_OP_IDENTITY:
    case TQ_OP_DROPOUT:
    case TQ_OP_RESHAPE:
    case TQ_OP_FLATTEN:
    case TQ_OP_SQUEEZE:
    case TQ_OP_UNSQUEEZE:
        st = prep_copy(p, &k);
        break;
    case TQ_OP_TRANSPOSE:
    case TQ_OP_SLICE:
        st = prep_strided(p, &k);
        break;
    case TQ_OP_PAD:
        st = prep_pad(p, &k);
        break;
    case TQ_OP_CONCAT:
        st = prep_concat(p, &k);
        break;
    case TQ_OP_GATHER:
        st = prep_gather(p, &k);
        break;
    case TQ_OP_SOFTMAX:
    case TQ_OP_LOG_SOFTMAX:
        st = prep_softmax(p, &k);
        break;
    case TQ_OP_LAYER_NORM:
        st = prep_layernorm(p, &k);
        break;
    case TQ_OP_REDUCE_SUM:
    case TQ_OP_REDUCE_MEAN:
    case TQ_OP_REDUCE_MAX:
    case TQ_OP_REDUCE_MIN:
        st = prep_reduce(p, &k);
        break;
    case TQ_OP_BATCH_NORM:
        st = prep_batchnorm(p, &k);
        break;
    case TQ_OP_CAST:
    case TQ_OP_CAST_LIKE:
        st = prep_cast(p, &k);
        break;
    case TQ_OP_QUANTIZE_LINEAR:
    case TQ_OP_DEQUANTIZE_LINEAR:
        st = prep_qdq(p, &k);
        break;
    default:
        st = prep_ew(p, &k);
        break;
    }
    if (st != TFMQ_OK) {
        cuk_destroy(k ? &k->h : NULL);
        return st;
    }
    *k_out = k ? &k->h : NULL;
    return TFMQ_OK;
}

bool tq_cuda_layout_free(uint32_t op)
{
    switch (op) {
    case TQ_OP_RELU: case TQ_OP_LEAKY_RELU: case TQ_OP_SIGMOID: case TQ_OP_TANH:
    case TQ_OP_EXP: case TQ_OP_LOG: case TQ_OP_SQRT: case TQ_OP_ABS: case TQ_OP_NEG:
    case TQ_OP_ERF: case TQ_OP_RECIPROCAL: case TQ_OP_FLOOR: case TQ_OP_CEIL: case TQ_OP_ROUND:
    case TQ_OP_SIGN: case TQ_OP_HARD_SIGMOID: case TQ_OP_HARD_SWISH: case TQ_OP_SOFTPLUS:
    case TQ_OP_SOFTSIGN: case TQ_OP_GELU: case TQ_OP_ELU: case TQ_OP_SELU: case TQ_OP_SIN:
    case TQ_OP_COS: case TQ_OP_CLIP:
    case TQ_OP_ADD: case TQ_OP_SUB: case TQ_OP_MUL: case TQ_OP_DIV: case TQ_OP_POW:
    case TQ_OP_PRELU: case TQ_OP_MAX: case TQ_OP_MIN: case TQ_OP_SUM: case TQ_OP_MEAN:
    case TQ_OP_CAST: case TQ_OP_IDENTITY: case TQ_OP_QUANTIZE_LINEAR:
    case TQ_OP_DEQUANTIZE_LINEAR: case TQ_OP_BATCH_NORM: case TQ_OP_QADD:
        return true;
    default:
        return false;
    }
}

tfmq_status tq_cuda_relayout(void *dst, const void *src, const int64_t dims[4], size_t esize,
                             bool to_nhwc, void *stream)
{
    if (esize != 1 && esize != 2 && esize != 4) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "cuda relayout: element size %zu", esize);
    }
    const int64_t N = dims[0], C = dims[1], HW = dims[2] * dims[3];
    const int e = to_nhwc ? tqk_transpose2d(dst, src, N, C, HW, (int32_t)esize, stream)
                          : tqk_transpose2d(dst, src, N, HW, C, (int32_t)esize, stream);
    return tq_cuda_check(e, "cuda relayout");
}

tfmq_status tq_cuda_convert(void *dst, tq_cuda_store dst_type, const void *src,
                            tq_cuda_store src_type, size_t n, void *stream)
{
    if ((int)dst_type < 0 || (int)dst_type > 2 || (int)src_type < 0 || (int)src_type > 2) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "cuda convert: storage type %d -> %d",
                       (int)src_type, (int)dst_type);
    }
    return tq_cuda_check(
        tqk_cast_launch((int32_t)dst_type, (int32_t)src_type, (int64_t)n, dst, src, stream),
        "cuda convert");
}
