/* lower_qdq.c: lower QDQ patterns onto integer kernels. Each QuantizeLinear is an anchor:
 *   DQ(x) + DQ(w const) [+ DQ(bias int32 const) | float const bias] -> Conv | FusedConv | Gemm |
 *   FusedGemm | MatMul(const 2-D weight) -> [Relu | Clip] -> Q   =>  tfmq.QConv / tfmq.QGemm
 *   DQ(a) + DQ(b) -> Add -> [Relu | Clip] -> Q                     =>  tfmq.QAdd
 *   DQ(x) -> MaxPool -> Q with the same scale and zero point       =>  MaxPool on x_q
 * The Q node itself becomes the integer node (so it keeps writing the same value, graph outputs
 * included); pattern nodes whose outputs lose every use are then removed. Quantisation parameters
 * must be constants; activations per tensor, weights per tensor or per output channel. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "backends/ref/qlinear.h"
#include "ir/rewrite.h"
#include "passes/lower_qdq.h"

#define LQ_NOT_LOWERED UINT32_MAX

typedef struct lq_state {
    tq_graph *g;
    size_t n0;             /* nodes before the pass (arrays below have n0 entries) */
    const char **reason;   /* why node i stayed float, or NULL */
    uint32_t *new_op;      /* op node i was lowered into, or LQ_NOT_LOWERED */
    bool *touched;         /* node was part of a lowered pattern: remove it if unused */
    bool changed;
} lq_state;

/* A DequantizeLinear feeding a pattern (or a QuantizeLinear ending one). */
typedef struct lq_dq {
    int32_t node;
    int32_t q, s, zp;      /* value indices of its inputs (zp -1 when absent) */
    tfmq_dtype qdt;        /* dtype of the quantized side */
    size_t n_ch;           /* scale entries */
    int32_t axis;          /* per-axis: normalised axis; per tensor: -1 */
    const float *scale;
} lq_dq;

static bool lq_is_const(const tq_graph *g, int32_t v)
{
    return v >= 0 && (g->values[v].flags & TQ_VALUE_CONST) && g->values[v].t.data &&
           tq_tensor_shape_known(&g->values[v].t);
}

static int32_t lq_producer(const tq_graph *g, int32_t v)
{
    return v >= 0 ? g->values[v].producer : -1;
}

static bool lq_attr_int(const tq_node *n, const char *name, int64_t dflt, int64_t *out)
{
    if (tq_attr_int(n, name, dflt, out) != TFMQ_OK) {
        tq_clear_error();
        return false;
    }
    return true;
}

static bool lq_attr_float(const tq_node *n, const char *name, float dflt, float *out)
{
    if (tq_attr_float(n, name, dflt, out) != TFMQ_OK) {
        tq_clear_error();
        return false;
    }
    return true;
}

/* Scale and zero point (inputs 1, 2) of a Q or DQ node n whose quantized side has dtype qdt and
 * rank `rank`. Returns NULL or the reason it does not qualify. */
static const char *lq_params(const tq_graph *g, const tq_node *n, tfmq_dtype qdt, int32_t rank,
                             lq_dq *d)
{
    d->s = n->n_in > 1 ? n->in[1] : -1;
    d->zp = n->n_in > 2 ? n->in[2] : -1;
    if (!lq_is_const(g, d->s) || (d->zp >= 0 && !lq_is_const(g, d->zp))) {
        return "quantization parameters are not constants";
    }
    const tq_tensor *s = &g->values[d->s].t;
    if (s->dtype != TFMQ_DTYPE_FLOAT32 || s->rank > 1) {
        return "scale is not a float32 scalar or vector";
    }
    d->scale = s->data;
    d->n_ch = tq_tensor_numel(s);
    d->axis = -1;
    int64_t block = 0;
    if (!lq_attr_int(n, "block_size", 0, &block) || block != 0) {
        return "blocked quantization";
    }
    if (d->zp >= 0) {
        const tq_tensor *z = &g->values[d->zp].t;
        if (z->dtype != qdt || tq_tensor_numel(z) != d->n_ch) {
            return "zero point does not match the scale";
        }
    }
    for (size_t i = 0; i < d->n_ch; i++) {
        if (!(d->scale[i] > 0.0f) || !isfinite(d->scale[i])) {
            return "scale is not positive and finite";
        }
    }
    if (d->n_ch != 1) {
        int64_t axis = 1;
        if (!lq_attr_int(n, "axis", 1, &axis)) {
            return "bad axis attribute";
        }
        if (axis < 0) {
            axis += rank;
        }
        if (rank < 0 || axis < 0 || axis >= rank) {
            return "per-axis quantization with an unknown axis";
        }
        d->axis = (int32_t)axis;
    }
    return NULL;
}

/* The DQ producing v: NULL or the reason it does not qualify. */
static const char *lq_dq_get(const tq_graph *g, int32_t v, bool need_const, lq_dq *d)
{
    d->node = lq_producer(g, v);
    if (d->node < 0 || g->nodes[d->node].op != TQ_OP_DEQUANTIZE_LINEAR) {
        return "an input is not produced by DequantizeLinear";
    }
    const tq_node *n = &g->nodes[d->node];
    d->q = n->in[0];
    if (need_const && !lq_is_const(g, d->q)) {
        return "weight is not a constant";
    }
    const tq_value *qv = &g->values[d->q];
    /* intermediate values may carry no dtype before planning: the zero point's is the truth */
    int32_t zp = n->n_in > 2 ? n->in[2] : -1;
    d->qdt = zp >= 0 ? g->values[zp].t.dtype : qv->t.dtype;
    if (d->qdt != TFMQ_DTYPE_INT8 && d->qdt != TFMQ_DTYPE_UINT8 && d->qdt != TFMQ_DTYPE_INT32) {
        return "quantized dtype is not int8, uint8 or int32";
    }
    return lq_params(g, n, d->qdt, qv->t.rank, d);
}

/* An int8/uint8 activation DQ with per-tensor parameters. */
static const char *lq_dq_act(const tq_graph *g, int32_t v, lq_dq *d)
{
    const char *why = lq_dq_get(g, v, false, d);
    if (why) {
        return why;
    }
    if (d->qdt != TFMQ_DTYPE_INT8 && d->qdt != TFMQ_DTYPE_UINT8) {
        return "activation is not int8 or uint8";
    }
    if (d->n_ch != 1) {
        return "activation quantized per axis";
    }
    return NULL;
}

/* The anchoring Q node: per-tensor int8/uint8 output. */
static const char *lq_q_get(const tq_graph *g, int32_t qi, lq_dq *d)
{
    const tq_node *n = &g->nodes[qi];
    d->node = qi;
    d->q = n->out[0];
    d->qdt = g->values[d->q].t.dtype;
    int32_t zp = n->n_in > 2 ? n->in[2] : -1;
    if (zp >= 0) {
        d->qdt = g->values[zp].t.dtype;
    } else {
        int64_t odt = 0;
        if (!lq_attr_int(n, "output_dtype", 0, &odt)) {
            return "bad output_dtype attribute";
        }
        d->qdt = odt ? (tfmq_dtype)odt : TFMQ_DTYPE_UINT8;
    }
    if (d->qdt != TFMQ_DTYPE_INT8 && d->qdt != TFMQ_DTYPE_UINT8) {
        return "QuantizeLinear output is not int8 or uint8";
    }
    if (zp < 0 && d->qdt != TFMQ_DTYPE_UINT8) {
        return "QuantizeLinear without a zero point";
    }
    const char *why = lq_params(g, n, d->qdt, -1, d);
    if (why) {
        return why;
    }
    return d->n_ch == 1 ? NULL : "output quantized per axis";
}

/* Activation of the pattern: from a Relu/Clip node between the op and Q, or from a fused op's
 * attributes. */
typedef struct lq_act {
    const char *name;      /* "", "Relu" or "Clip" */
    float lo, hi;          /* Clip bounds */
} lq_act;

static const char *lq_act_from_node(const tq_graph *g, const tq_node *n, lq_act *a)
{
    a->lo = -FLT_MAX;
    a->hi = FLT_MAX;
    if (n->op == TQ_OP_RELU) {
        a->name = "Relu";
        return NULL;
    }
    a->name = "Clip";
    if (n->n_in > 1) {
        for (int32_t k = 1; k < 3 && k < n->n_in; k++) {
            int32_t v = n->in[k];
            if (v < 0) {
                continue;
            }
            if (!lq_is_const(g, v) || g->values[v].t.dtype != TFMQ_DTYPE_FLOAT32 ||
                tq_tensor_numel(&g->values[v].t) != 1) {
                return "Clip bounds are not float32 constants";
            }
            float f = *(const float *)g->values[v].t.data;
            *(k == 1 ? &a->lo : &a->hi) = f;
        }
        return NULL;
    }
    if (!lq_attr_float(n, "min", -FLT_MAX, &a->lo) || !lq_attr_float(n, "max", FLT_MAX, &a->hi)) {
        return "bad Clip attributes";
    }
    return NULL;
}

static const char *lq_act_from_fused(const tq_node *n, lq_act *a)
{
    const char *s = "";
    if (tq_attr_string(n, "activation", "", &s) != TFMQ_OK) {
        tq_clear_error();
        return "bad activation attribute";
    }
    if (s[0] == '\0') {
        return NULL;
    }
    if (a->name[0] != '\0') {
        return "two activations";
    }
    if (strcmp(s, "Relu") != 0 && strcmp(s, "Clip") != 0) {
        return "activation other than Relu or Clip";
    }
    a->name = strcmp(s, "Relu") == 0 ? "Relu" : "Clip";
    if (!lq_attr_float(n, "activation_min", -FLT_MAX, &a->lo) ||
        !lq_attr_float(n, "activation_max", FLT_MAX, &a->hi)) {
        return "bad activation bounds";
    }
    return NULL;
}

/* Turn Q node qi into `op` with the given inputs, the attributes of `src` named in keep (all of
 * them when keep is NULL) and the activation. */
static tfmq_status lq_rewrite_q(lq_state *c, int32_t qi, uint32_t op, const int32_t *ins,
                                int32_t n_in, int32_t src, const char *const *keep,
                                const lq_act *act)
{
    tq_graph *g = c->g;
    const tq_node *sn = &g->nodes[src];
    int32_t n_attrs = 0;
    tq_attr *attrs = tq_arena_alloc(g->arena, sizeof(tq_attr) * (size_t)(sn->n_attrs + 3));
    int32_t *in = tq_arena_alloc(g->arena, sizeof(int32_t) * (size_t)n_in);
    if (!attrs || !in) {
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "lower_qdq: out of memory");
    }
    for (int32_t i = 0; i < sn->n_attrs; i++) {
        bool take = keep == NULL;
        for (size_t k = 0; keep && keep[k]; k++) {
            take = take || strcmp(keep[k], sn->attrs[i].name) == 0;
        }
        if (take) {
            attrs[n_attrs++] = sn->attrs[i];
        }
    }
    if (act && act->name[0]) {
        tq_attr *a = &attrs[n_attrs++];
        memset(a, 0, sizeof(*a));
        a->name = "activation";
        a->type = TQ_ATTR_STRING;
        a->s = act->name;
        if (strcmp(act->name, "Clip") == 0) {
            a = &attrs[n_attrs++];
            memset(a, 0, sizeof(*a));
            a->name = "activation_min";
            a->type = TQ_ATTR_FLOAT;
            a->f = act->lo;
            a = &attrs[n_attrs++];
            memset(a, 0, sizeof(*a));
            a->name = "activation_max";
            a->type = TQ_ATTR_FLOAT;
            a->f = act->hi;
        }
    }
    memcpy(in, ins, sizeof(int32_t) * (size_t)n_in);
    tq_node *q = &g->nodes[qi];
    q->op = op;
    q->name = sn->name;
    q->in = in;
    q->n_in = n_in;
    q->attrs = attrs;
    q->n_attrs = n_attrs;
    c->changed = true;
    return TFMQ_OK;
}

/* int32 bias of n_oc channels at scale x_scale * w_scale[c] from the op's bias value bv (a DQ of
 * int32, or a float32 constant times beta). *out is the new constant, or -1 without bias. */
static tfmq_status lq_bias(lq_state *c, int32_t bv, float beta, const lq_dq *dx, const lq_dq *dw,
                           int64_t n_oc, int32_t *out, const char **why)
{
    tq_graph *g = c->g;
    tfmq_status st = TFMQ_OK;
    int32_t *tmp = NULL;
    *out = -1;
    if (bv < 0) {
        return TFMQ_OK;
    }
    lq_dq db;
    const tq_tensor *bt = NULL;
    bool from_dq = false;
    if (lq_is_const(g, bv)) {
        bt = &g->values[bv].t;
        if (bt->dtype != TFMQ_DTYPE_FLOAT32) {
            *why = "bias is not float32";
            return TFMQ_OK;
        }
    } else {
        if ((*why = lq_dq_get(g, bv, true, &db)) != NULL) {
            *why = "bias is neither constant nor a DequantizeLinear of a constant";
            return TFMQ_OK;
        }
        if (db.qdt != TFMQ_DTYPE_INT32 || (db.n_ch != 1 && (int64_t)db.n_ch != n_oc)) {
            *why = "bias is not int32 per tensor or per channel";
            return TFMQ_OK;
        }
        bt = &g->values[db.q].t;
        from_dq = true;
        c->touched[db.node] = true;
    }
    if ((int64_t)tq_tensor_numel(bt) != n_oc || bt->rank < 1 ||
        (bt->rank == 2 && bt->dims[0] != 1) || bt->rank > 2) {
        *why = "bias shape is not [channels]";
        return TFMQ_OK;
    }
    tmp = tq_alloc(g->alloc, sizeof(int32_t) * (size_t)n_oc);
    if (!tmp) {
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "lower_qdq: out of memory");
    }
    for (int64_t i = 0; i < n_oc; i++) {
        size_t ci = (size_t)i;
        float ws = dw->scale[dw->n_ch == 1 ? 0 : ci];
        float acc_scale_f = dx->scale[0] * ws; /* the float32 product quantizers use */
        float real;
        if (from_dq) {
            int32_t bq = ((const int32_t *)bt->data)[ci];
            int64_t bz = db.zp >= 0 ? tq_load_i64(TFMQ_DTYPE_INT32, g->values[db.zp].t.data,
                                                  db.n_ch == 1 ? 0 : ci)
                                    : 0;
            float bs = db.scale[db.n_ch == 1 ? 0 : ci];
            if (bz == 0 && bs == acc_scale_f) {
                tmp[i] = bq; /* already at the accumulator's scale */
                continue;
            }
            real = (float)(bq - bz) * bs; /* what DequantizeLinear computes */
        } else {
            real = ((const float *)bt->data)[ci];
            if (beta != 1.0f) {
                real = beta * real;
            }
        }
        double q = nearbyint((double)real / ((double)dx->scale[0] * (double)ws));
        if (isnan(q)) {
            q = 0.0;
        }
        tmp[i] = q > (double)INT32_MAX ? INT32_MAX
                                       : (q < (double)INT32_MIN ? INT32_MIN : (int32_t)q);
    }
    char name[256];
    snprintf(name, sizeof(name), "%s_qbias", g->values[bv].name);
    st = tq_graph_add_const(g, name, TFMQ_DTYPE_INT32, 1, &n_oc, tmp, out);
    tq_free(g->alloc, tmp, sizeof(int32_t) * (size_t)n_oc);
    return st;
}

static const char *const lq_conv_attrs[] = {"auto_pad", "dilations", "group", "kernel_shape",
                                            "pads", "strides", NULL};

/* Conv / FusedConv / Gemm / FusedGemm / MatMul -> QConv / QGemm. */
static tfmq_status lq_linear(lq_state *c, int32_t qi, int32_t bi, lq_act *act, const lq_dq *dy,
                             const char **why)
{
    tq_graph *g = c->g;
    const tq_node *b = &g->nodes[bi];
    const uint32_t op = b->op;
    const bool conv = op == TQ_OP_CONV || op == TQ_OP_FUSED_CONV;
    const bool gemm = op == TQ_OP_GEMM || op == TQ_OP_FUSED_GEMM;
    const bool fused = op == TQ_OP_FUSED_CONV || op == TQ_OP_FUSED_GEMM;
    tfmq_status st = TFMQ_OK;
    int64_t trans_a = 0, trans_b = 0;
    float alpha = 1.0f, beta = 1.0f;
    if (fused) {
        if (b->n_in > 3 && b->in[3] >= 0) {
            *why = "residual input";
            return TFMQ_OK;
        }
        if ((*why = lq_act_from_fused(b, act)) != NULL) {
            return TFMQ_OK;
        }
    }
    if (gemm && (!lq_attr_int(b, "transA", 0, &trans_a) || !lq_attr_int(b, "transB", 0, &trans_b) ||
                 !lq_attr_float(b, "alpha", 1.0f, &alpha) ||
                 !lq_attr_float(b, "beta", 1.0f, &beta) || trans_a != 0 || alpha != 1.0f)) {
        *why = "Gemm with transA or alpha";
        return TFMQ_OK;
    }
    lq_dq dx, dw;
    if ((*why = lq_dq_act(g, b->in[0], &dx)) != NULL ||
        (*why = lq_dq_get(g, b->in[1], true, &dw)) != NULL) {
        return TFMQ_OK;
    }
    const tq_tensor *wt = &g->values[dw.q].t;
    if (dw.qdt != TFMQ_DTYPE_INT8) {
        *why = "weight is not int8";
        return TFMQ_OK;
    }
    if ((conv && wt->rank < 3) || (!conv && wt->rank != 2)) {
        *why = "weight rank";
        return TFMQ_OK;
    }
    const bool transpose = !conv && !(gemm && trans_b);
    const int32_t oc_axis = transpose ? 1 : 0;
    const int64_t n_oc = wt->dims[oc_axis];
    if (dw.n_ch != 1 && ((int64_t)dw.n_ch != n_oc || dw.axis != oc_axis)) {
        *why = "weight quantized along an axis other than the output channels";
        return TFMQ_OK;
    }
    int32_t bias = -1;
    int32_t bv = op == TQ_OP_MATMUL ? -1 : (b->n_in > 2 ? b->in[2] : -1);
    if ((st = lq_bias(c, bv, beta, &dx, &dw, n_oc, &bias, why)) != TFMQ_OK || *why) {
        return st;
    }
    int32_t wv = dw.q;
    if (transpose) {
        const int64_t K = wt->dims[0], N = wt->dims[1];
        size_t n = (size_t)(K * N);
        int8_t *tmp = tq_alloc(g->alloc, n ? n : 1);
        if (!tmp) {
            return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "lower_qdq: out of memory");
        }
        const int8_t *src = wt->data;
        for (int64_t k = 0; k < K; k++) {
            for (int64_t j = 0; j < N; j++) {
                tmp[j * K + k] = src[k * N + j];
            }
        }
        char name[256];
        snprintf(name, sizeof(name), "%s_t", g->values[dw.q].name);
        const int64_t dims[2] = {N, K};
        st = tq_graph_add_const(g, name, TFMQ_DTYPE_INT8, 2, dims, tmp, &wv);
        tq_free(g->alloc, tmp, n ? n : 1);
        if (st != TFMQ_OK) {
            return st;
        }
    }
    const tq_node *qn = &g->nodes[qi];
    const int32_t ins[9] = {dx.q, dx.s, dx.zp, wv, dw.s, dw.zp, dy->s, qn->n_in > 2 ? qn->in[2] : -1,
                            bias};
    const uint32_t new_op = conv ? TQ_OP_QCONV : TQ_OP_QGEMM;
    if ((st = lq_rewrite_q(c, qi, new_op, ins, bias >= 0 ? 9 : 8, bi, lq_conv_attrs, act)) !=
        TFMQ_OK) {
        return st;
    }
    c->touched[dx.node] = c->touched[dw.node] = true;
    c->new_op[bi] = new_op;
    return TFMQ_OK;
}

static tfmq_status lq_add(lq_state *c, int32_t qi, int32_t bi, const lq_act *act,
                          const lq_dq *dy, const char **why)
{
    tq_graph *g = c->g;
    const tq_node *b = &g->nodes[bi];
    lq_dq da, db;
    if ((*why = lq_dq_act(g, b->in[0], &da)) != NULL ||
        (*why = lq_dq_act(g, b->in[1], &db)) != NULL) {
        return TFMQ_OK;
    }
    const tq_node *qn = &g->nodes[qi];
    const int32_t ins[8] = {da.q, da.s, da.zp, db.q, db.s, db.zp, dy->s,
                            qn->n_in > 2 ? qn->in[2] : -1};
    tfmq_status st = lq_rewrite_q(c, qi, TQ_OP_QADD, ins, 8, bi, lq_conv_attrs, act);
    if (st == TFMQ_OK) {
        c->touched[da.node] = c->touched[db.node] = true;
        c->new_op[bi] = TQ_OP_QADD;
    }
    return st;
}

static tfmq_status lq_maxpool(lq_state *c, int32_t qi, int32_t bi, const lq_dq *dy,
                              const char **why)
{
    tq_graph *g = c->g;
    const tq_node *b = &g->nodes[bi];
    lq_dq dx;
    if (b->n_out > 1 && b->out[1] >= 0) {
        *why = "MaxPool with Indices";
        return TFMQ_OK;
    }
    if ((*why = lq_dq_act(g, b->in[0], &dx)) != NULL) {
        return TFMQ_OK;
    }
    int64_t zx = dx.zp >= 0 ? tq_load_i64(dx.qdt, g->values[dx.zp].t.data, 0) : 0;
    int64_t zy = dy->zp >= 0 ? tq_load_i64(dy->qdt, g->values[dy->zp].t.data, 0) : 0;
    if (dx.qdt != dy->qdt || dx.scale[0] != dy->scale[0] || zx != zy) {
        *why = "MaxPool between different quantization parameters";
        return TFMQ_OK;
    }
    tfmq_status st = lq_rewrite_q(c, qi, TQ_OP_MAX_POOL, &dx.q, 1, bi, NULL, NULL);
    if (st == TFMQ_OK) {
        c->touched[dx.node] = true;
        c->new_op[bi] = TQ_OP_MAX_POOL;
    }
    return st;
}

static bool lq_is_base(uint32_t op)
{
    return op == TQ_OP_CONV || op == TQ_OP_FUSED_CONV || op == TQ_OP_GEMM ||
           op == TQ_OP_FUSED_GEMM || op == TQ_OP_MATMUL || op == TQ_OP_ADD ||
           op == TQ_OP_MAX_POOL;
}

static void lq_set_reason(lq_state *c, int32_t i, const char *why)
{
    if (i >= 0 && (size_t)i < c->n0 && why && !c->reason[i]) {
        c->reason[i] = why;
    }
}

/* Try the patterns ending in Q node qi. */
static tfmq_status lq_one(lq_state *c, int32_t qi)
{
    tq_graph *g = c->g;
    const char *why = NULL;
    lq_act act = {"", -FLT_MAX, FLT_MAX};
    int32_t bi = lq_producer(g, g->nodes[qi].in[0]), ai = -1;
    if (bi < 0) {
        return TFMQ_OK;
    }
    uint32_t op = g->nodes[bi].op;
    if (op == TQ_OP_RELU || op == TQ_OP_CLIP) {
        int32_t b2 = lq_producer(g, g->nodes[bi].in[0]);
        if (b2 < 0 || !lq_is_base(g->nodes[b2].op)) {
            lq_set_reason(c, bi, "activation not after a Conv, Gemm, MatMul or Add");
            return TFMQ_OK;
        }
        ai = bi;
        bi = b2;
        op = g->nodes[bi].op;
        if ((why = lq_act_from_node(g, &g->nodes[ai], &act)) != NULL) {
            lq_set_reason(c, bi, why);
            lq_set_reason(c, ai, why);
            return TFMQ_OK;
        }
    }
    if (!lq_is_base(op)) {
        return TFMQ_OK;
    }
    lq_dq dy;
    tfmq_status st = TFMQ_OK;
    if ((why = lq_q_get(g, qi, &dy)) == NULL) {
        if (op == TQ_OP_ADD) {
            st = lq_add(c, qi, bi, &act, &dy, &why);
        } else if (op == TQ_OP_MAX_POOL) {
            why = ai >= 0 ? "activation after MaxPool" : NULL;
            if (!why) {
                st = lq_maxpool(c, qi, bi, &dy, &why);
            }
        } else {
            st = lq_linear(c, qi, bi, &act, &dy, &why);
        }
    }
    if (st != TFMQ_OK) {
        return st;
    }
    if (why) {
        lq_set_reason(c, bi, why);
        lq_set_reason(c, ai, why);
    } else if (ai >= 0) {
        c->touched[bi] = c->touched[ai] = true;
        c->new_op[ai] = c->new_op[bi];
    } else {
        c->touched[bi] = true;
    }
    return TFMQ_OK;
}

static const char *lq_default_reason(uint32_t op)
{
    return lq_is_base(op) ? "not between DequantizeLinear and QuantizeLinear"
                          : "no integer kernel for this op";
}

tfmq_status tq_pass_lower_qdq_report(tq_graph *g, tq_lower_qdq_item *items, size_t cap,
                                     size_t *n_items_out, bool *changed)
{
    tfmq_status st = TFMQ_OK;
    lq_state c;
    memset(&c, 0, sizeof(c));
    uint32_t *orig_op = NULL;
    if (changed) {
        *changed = false;
    }
    if (n_items_out) {
        *n_items_out = 0;
    }
    if (!g) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "lower_qdq: NULL graph");
    }
    c.g = g;
    c.n0 = g->n_nodes;
    const size_t n = c.n0 ? c.n0 : 1;
    c.reason = tq_calloc(g->alloc, n, sizeof(*c.reason));
    c.new_op = tq_calloc(g->alloc, n, sizeof(*c.new_op));
    c.touched = tq_calloc(g->alloc, n, sizeof(*c.touched));
    orig_op = tq_calloc(g->alloc, n, sizeof(*orig_op));
    if (!c.reason || !c.new_op || !c.touched || !orig_op) {
        st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "lower_qdq: out of memory");
        goto fail;
    }
    for (size_t i = 0; i < c.n0; i++) {
        c.new_op[i] = LQ_NOT_LOWERED;
        orig_op[i] = g->nodes[i].op;
    }
    for (size_t i = 0; i < c.n0; i++) {
        if (orig_op[i] == TQ_OP_QUANTIZE_LINEAR) {
            TQ_TRY(st, lq_one(&c, (int32_t)i));
        }
    }
    /* report, before nodes are removed and renumbered */
    size_t n_items = 0;
    for (size_t i = 0; i < c.n0; i++) {
        uint32_t op = orig_op[i];
        if (op == TQ_OP_QUANTIZE_LINEAR || op == TQ_OP_DEQUANTIZE_LINEAR) {
            continue;
        }
        if (items && n_items < cap) {
            char buf[64];
            tq_lower_qdq_item *it = &items[n_items];
            it->node = tq_arena_strdup(g->arena,
                                       tq_node_label(g, &g->nodes[i], buf, sizeof(buf)));
            if (!it->node) {
                st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "lower_qdq: out of memory");
                goto fail;
            }
            it->op = op;
            it->lowered = c.new_op[i] != LQ_NOT_LOWERED;
            it->new_op = c.new_op[i];
            it->reason = it->lowered ? "" : (c.reason[i] ? c.reason[i] : lq_default_reason(op));
        }
        n_items++;
    }
    if (n_items_out) {
        *n_items_out = n_items;
    }
    if (c.changed) {
        /* remove pattern nodes that nothing uses any more; reverse topological order lets a
         * removal free the inputs of earlier nodes */
        for (size_t i = c.n0; i-- > 0;) {
            tq_node *nd = &g->nodes[i];
            if (!c.touched[i] || tq_node_is_dead(nd)) {
                continue;
            }
            bool used = false;
            for (int32_t k = 0; k < nd->n_out && !used; k++) {
                used = nd->out[k] >= 0 && tq_value_n_uses(g, nd->out[k]) > 0;
            }
            if (!used) {
                tq_graph_remove_node(g, (int32_t)i);
            }
        }
        TQ_TRY(st, tq_graph_compact(g));
        if (changed) {
            *changed = true;
        }
    }
fail:
    tq_free(g->alloc, c.reason, n * sizeof(*c.reason));
    tq_free(g->alloc, c.new_op, n * sizeof(*c.new_op));
    tq_free(g->alloc, c.touched, n * sizeof(*c.touched));
    tq_free(g->alloc, orig_op, n * sizeof(*orig_op));
    return st;
}

tfmq_status tq_pass_lower_qdq(tq_graph *g, bool *changed)
{
    return tq_pass_lower_qdq_report(g, NULL, 0, NULL, changed);
}
