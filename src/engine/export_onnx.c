/* export_onnx.c: tfmq_model_export_onnx: IR -> ONNX ModelProto (protobuf-c), written atomically.
 * Standard ops map one to one; internal ops expand into standard ONNX: tfmq.FusedConv/FusedGemm
 * -> Conv/Gemm [+ Add R] [+ activation]; tfmq.QConv/QGemm/QAdd -> DequantizeLinear -> float op ->
 * QuantizeLinear (QDQ, per-channel weights on axis 0). Every proto object lives in one local
 * arena; constant bytes are referenced, not copied, until protobuf-c packs them. */
#include <float.h>
#include <stdio.h>
#include <string.h>

#include "backends/ref/qlinear.h"
#include "engine/atomic_file.h"
#include "onnx.pb-c.h"
#include "runtime/model.h"

/* Largest serialized ModelProto (protobuf's 2 GiB limit). */
#define TQ_EXP_MAX_BYTES ((size_t)2 << 30)

typedef struct tq_pvec {
    void **p;
    size_t n, cap;
} tq_pvec;

typedef struct tq_exp {
    tq_arena ar;
    const char *path;
    uint32_t counter; /* fresh value names */
    int64_t opset;
    bool oom;
} tq_exp;

/* One graph under construction. */
typedef struct tq_gb {
    const tq_graph *g;
    tq_pvec nodes, inits;
} tq_gb;

static void *tq_xalloc(tq_exp *x, size_t n)
{
    void *p = tq_arena_alloc(&x->ar, n ? n : 1);
    if (!p) {
        x->oom = true;
    }
    return p;
}

static char *tq_xstr(tq_exp *x, const char *s)
{
    char *p = tq_arena_strdup(&x->ar, s ? s : "");
    if (!p) {
        x->oom = true;
    }
    return p;
}

static void tq_push(tq_exp *x, tq_pvec *v, void *item)
{
    if (!item) {
        x->oom = true;
        return;
    }
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        void **p = tq_xalloc(x, cap * sizeof(void *));
        if (!p) {
            return;
        }
        if (v->n) {
            memcpy(p, v->p, v->n * sizeof(void *));
        }
        v->p = p;
        v->cap = cap;
    }
    v->p[v->n++] = item;
}

/* A fresh value name that no model value uses ("<base>__tfmq<k>"). */
static char *tq_fresh(tq_exp *x, const char *base)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%.200s__tfmq%u", base && base[0] ? base : "v", x->counter++);
    return tq_xstr(x, buf);
}

static const char *tq_vname(const tq_graph *g, int32_t v)
{
    return v >= 0 ? g->values[v].name : "";
}

/* ---- tensors, types ---- */

static Onnx__TensorProto *tq_tensor_proto(tq_exp *x, const char *name, const tq_tensor *t,
                                          size_t bytes)
{
    Onnx__TensorProto *tp = tq_xalloc(x, sizeof(*tp));
    int64_t *dims = tq_xalloc(x, sizeof(int64_t) * (size_t)(t->rank > 0 ? t->rank : 1));
    if (!tp || !dims) {
        return NULL;
    }
    onnx__tensor_proto__init(tp);
    tp->name = name ? tq_xstr(x, name) : NULL;
    tp->n_dims = (size_t)(t->rank > 0 ? t->rank : 0);
    for (int32_t d = 0; d < t->rank; d++) {
        dims[d] = t->dims[d];
    }
    tp->dims = dims;
    tp->has_data_type = 1;
    tp->data_type = (int32_t)t->dtype;
    tp->has_raw_data = 1;
    tp->raw_data.len = bytes;
    /* ONNX raw_data is little-endian, as tfmq's in-memory data on the hosts it supports */
    tp->raw_data.data = (uint8_t *)(uintptr_t)t->data;
    return tp;
}

static Onnx__ValueInfoProto *tq_value_info(tq_exp *x, const tq_value *v)
{
    Onnx__ValueInfoProto *vi = tq_xalloc(x, sizeof(*vi));
    if (!vi) {
        return NULL;
    }
    onnx__value_info_proto__init(vi);
    vi->name = tq_xstr(x, v->name);
    if (v->t.dtype == TFMQ_DTYPE_UNDEFINED) {
        return vi;
    }
    Onnx__TypeProto *tp = tq_xalloc(x, sizeof(*tp));
    Onnx__TypeProto__Tensor *tt = tq_xalloc(x, sizeof(*tt));
    if (!tp || !tt) {
        return NULL;
    }
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    tt->has_elem_type = 1;
    tt->elem_type = (int32_t)v->t.dtype;
    if (v->t.rank >= 0) {
        Onnx__TensorShapeProto *sh = tq_xalloc(x, sizeof(*sh));
        Onnx__TensorShapeProto__Dimension **dims =
            tq_xalloc(x, sizeof(void *) * (size_t)(v->t.rank ? v->t.rank : 1));
        if (!sh || !dims) {
            return NULL;
        }
        onnx__tensor_shape_proto__init(sh);
        for (int32_t d = 0; d < v->t.rank; d++) {
            Onnx__TensorShapeProto__Dimension *dm = tq_xalloc(x, sizeof(*dm));
            if (!dm) {
                return NULL;
            }
            onnx__tensor_shape_proto__dimension__init(dm);
            const char *dn = v->dim_names[d];
            if (v->t.dims[d] >= 0) {
                dm->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
                dm->dim_value = v->t.dims[d];
            } else if (dn && dn[0] && strcmp(dn, "?") != 0) {
                dm->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
                dm->dim_param = tq_xstr(x, dn);
            }
            dims[d] = dm;
        }
        sh->n_dim = (size_t)v->t.rank;
        sh->dim = dims;
        tt->shape = sh;
    }
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    vi->type = tp;
    return vi;
}

/* ---- nodes and attributes ---- */

static Onnx__NodeProto *tq_node_new(tq_exp *x, tq_gb *b, const char *op, const char *name,
                                    size_t n_in, size_t n_out, size_t n_attr)
{
    Onnx__NodeProto *np = tq_xalloc(x, sizeof(*np));
    char **in = tq_xalloc(x, sizeof(char *) * (n_in ? n_in : 1));
    char **out = tq_xalloc(x, sizeof(char *) * (n_out ? n_out : 1));
    Onnx__AttributeProto **at = tq_xalloc(x, sizeof(void *) * (n_attr ? n_attr : 1));
    if (!np || !in || !out || !at) {
        return NULL;
    }
    onnx__node_proto__init(np);
    np->op_type = tq_xstr(x, op);
    np->name = name && name[0] ? tq_xstr(x, name) : NULL;
    np->input = in;
    np->output = out;
    np->attribute = at;
    np->n_input = n_in;
    np->n_output = n_out;
    tq_push(x, &b->nodes, np);
    return np;
}

static Onnx__AttributeProto *tq_attr_new(tq_exp *x, const char *name, tq_attr_type type)
{
    Onnx__AttributeProto *ap = tq_xalloc(x, sizeof(*ap));
    if (!ap) {
        return NULL;
    }
    onnx__attribute_proto__init(ap);
    ap->name = tq_xstr(x, name);
    ap->has_type = 1;
    ap->type = (Onnx__AttributeProto__AttributeType)type;
    return ap;
}

static void tq_add_attr(tq_exp *x, Onnx__NodeProto *np, Onnx__AttributeProto *ap)
{
    if (!np || !ap) {
        x->oom = true;
        return;
    }
    np->attribute[np->n_attribute++] = ap;
}

static void tq_attr_i(tq_exp *x, Onnx__NodeProto *np, const char *name, int64_t v)
{
    Onnx__AttributeProto *ap = tq_attr_new(x, name, TQ_ATTR_INT);
    if (ap) {
        ap->has_i = 1;
        ap->i = v;
    }
    tq_add_attr(x, np, ap);
}

static void tq_attr_f(tq_exp *x, Onnx__NodeProto *np, const char *name, float v)
{
    Onnx__AttributeProto *ap = tq_attr_new(x, name, TQ_ATTR_FLOAT);
    if (ap) {
        ap->has_f = 1;
        ap->f = v;
    }
    tq_add_attr(x, np, ap);
}

static tfmq_status tq_exp_graph(tq_exp *x, const tq_graph *g, Onnx__GraphProto **gp_out);

static tfmq_status tq_exp_attr(tq_exp *x, const tq_attr *a, Onnx__AttributeProto **out)
{
    tfmq_status st;
    Onnx__AttributeProto *ap = tq_attr_new(x, a->name, a->type);
    *out = ap;
    if (!ap) {
        return TFMQ_OK; /* x->oom reported by the caller */
    }
    switch (a->type) {
    case TQ_ATTR_FLOAT:
        ap->has_f = 1;
        ap->f = a->f;
        break;
    case TQ_ATTR_INT:
        ap->has_i = 1;
        ap->i = a->i;
        break;
    case TQ_ATTR_STRING:
        ap->has_s = 1;
        ap->s.len = a->s ? strlen(a->s) : 0;
        ap->s.data = (uint8_t *)(uintptr_t)(a->s ? a->s : "");
        break;
    case TQ_ATTR_TENSOR: {
        size_t bytes = 0;
        if (!a->tensor || !tq_tensor_bytes(a->tensor, &bytes)) {
            return tq_fail(TFMQ_ERR_UNSUPPORTED, "export: attribute '%s': tensor without a "
                           "storable shape", a->name);
        }
        ap->t = tq_tensor_proto(x, NULL, a->tensor, bytes);
        break;
    }
    case TQ_ATTR_GRAPH:
        if ((st = tq_exp_graph(x, a->graph, &ap->g)) != TFMQ_OK) {
            return st;
        }
        break;
    case TQ_ATTR_FLOATS:
        ap->n_floats = a->n;
        ap->floats = (float *)(uintptr_t)a->floats;
        break;
    case TQ_ATTR_INTS:
        ap->n_ints = a->n;
        ap->ints = (int64_t *)(uintptr_t)a->ints;
        break;
    case TQ_ATTR_STRINGS: {
        ProtobufCBinaryData *s = tq_xalloc(x, sizeof(*s) * (a->n ? a->n : 1));
        if (!s) {
            return TFMQ_OK;
        }
        for (size_t i = 0; i < a->n; i++) {
            s[i].len = strlen(a->strings[i]);
            s[i].data = (uint8_t *)(uintptr_t)a->strings[i];
        }
        ap->n_strings = a->n;
        ap->strings = s;
        break;
    }
    default:
        return tq_fail(TFMQ_ERR_UNSUPPORTED, "export: attribute '%s' has type %d", a->name,
                       (int)a->type);
    }
    return TFMQ_OK;
}

/* Copy node n's attributes onto np, except those whose names start with `skip_prefix`. */
static tfmq_status tq_copy_attrs(tq_exp *x, const tq_node *n, Onnx__NodeProto *np,
                                 const char *skip_prefix)
{
    for (int32_t k = 0; k < n->n_attrs; k++) {
        const tq_attr *a = &n->attrs[k];
        Onnx__AttributeProto *ap = NULL;
        if (skip_prefix && strncmp(a->name, skip_prefix, strlen(skip_prefix)) == 0) {
            continue;
        }
        tfmq_status st = tq_exp_attr(x, a, &ap);
        if (st != TFMQ_OK) {
            return st;
        }
        tq_add_attr(x, np, ap);
    }
    return TFMQ_OK;
}

/* A new scalar (rank 0) or 1-D initializer of dtype dt from `n` doubles; returns its name. */
static const char *tq_const_init(tq_exp *x, tq_gb *b, const char *base, tfmq_dtype dt,
                                 const double *vals, size_t n, bool vector)
{
    size_t es = tq_dtype_size(dt);
    tq_tensor t;
    memset(&t, 0, sizeof(t));
    t.dtype = dt;
    t.rank = vector ? 1 : 0;
    t.dims[0] = (int64_t)n;
    t.data = tq_xalloc(x, es * (n ? n : 1));
    if (!t.data || es == 0) {
        x->oom = true;
        return "";
    }
    for (size_t i = 0; i < n; i++) {
        tq_store_f64(dt, t.data, i, vals[i]);
    }
    const char *name = tq_fresh(x, base);
    tq_push(x, &b->inits, tq_tensor_proto(x, name, &t, es * n));
    return name ? name : "";
}

/* dtype of a node's float data: that of input k if known (weights are constants), else
 * float32. */
static tfmq_dtype tq_in_dtype(const tq_graph *g, const tq_node *n, int32_t k)
{
    if (k < n->n_in && n->in[k] >= 0 && g->values[n->in[k]].t.dtype != TFMQ_DTYPE_UNDEFINED) {
        return g->values[n->in[k]].t.dtype;
    }
    return TFMQ_DTYPE_FLOAT32;
}

/* Emit act(in) -> out for the fused activation attributes of n (or copy if none). */
static tfmq_status tq_emit_act(tq_exp *x, tq_gb *b, const tq_node *n, const char *in,
                               const char *out, tfmq_dtype dt)
{
    const char *act = "";
    float lo = -FLT_MAX, hi = FLT_MAX, alpha = 0.01f;
    tfmq_status st;
    if ((st = tq_attr_string(n, "activation", "", &act)) != TFMQ_OK ||
        (st = tq_attr_float(n, "activation_min", -FLT_MAX, &lo)) != TFMQ_OK ||
        (st = tq_attr_float(n, "activation_max", FLT_MAX, &hi)) != TFMQ_OK ||
        (st = tq_attr_float(n, "activation_alpha", 0.01f, &alpha)) != TFMQ_OK) {
        return st;
    }
    const char *nm = NULL; /* node names must be unique: the op's node carries n->name */
    Onnx__NodeProto *np;
    if (!act[0]) {
        np = tq_node_new(x, b, "Identity", nm, 1, 1, 0);
    } else if (strcmp(act, "Relu") == 0 || strcmp(act, "Sigmoid") == 0) {
        np = tq_node_new(x, b, act, nm, 1, 1, 0);
    } else if (strcmp(act, "LeakyRelu") == 0) {
        np = tq_node_new(x, b, act, nm, 1, 1, 1);
        tq_attr_f(x, np, "alpha", alpha);
    } else if (strcmp(act, "Clip") == 0) {
        if (x->opset >= 11) {
            double vlo = (double)lo, vhi = (double)hi;
            np = tq_node_new(x, b, "Clip", nm, 3, 1, 0);
            if (np) {
                np->input[1] = (char *)(uintptr_t)tq_const_init(x, b, "clip_min", dt, &vlo, 1,
                                                                false);
                np->input[2] = (char *)(uintptr_t)tq_const_init(x, b, "clip_max", dt, &vhi, 1,
                                                                false);
            }
        } else {
            np = tq_node_new(x, b, "Clip", nm, 1, 1, 2);
            tq_attr_f(x, np, "min", lo);
            tq_attr_f(x, np, "max", hi);
        }
    } else if (strcmp(act, "HardSwish") == 0) {
        if (x->opset >= 14) {
            np = tq_node_new(x, b, "HardSwish", nm, 1, 1, 0);
        } else { /* x * HardSigmoid(x; 1/6, 0.5), the definition of HardSwish */
            const char *hs = tq_fresh(x, in);
            Onnx__NodeProto *h = tq_node_new(x, b, "HardSigmoid", NULL, 1, 1, 2);
            if (h) {
                h->input[0] = (char *)(uintptr_t)in;
                h->output[0] = (char *)(uintptr_t)hs;
            }
            tq_attr_f(x, h, "alpha", 1.0f / 6.0f);
            tq_attr_f(x, h, "beta", 0.5f);
            np = tq_node_new(x, b, "Mul", nm, 2, 1, 0);
            if (np) {
                np->input[1] = (char *)(uintptr_t)hs;
            }
        }
    } else {
        return tq_fail(TFMQ_ERR_UNSUPPORTED, "export: node '%s': unknown activation '%s'", nm ? nm : "",
                       act ? act : "");
    }
    if (np) {
        np->input[0] = (char *)(uintptr_t)in;
        np->output[0] = (char *)(uintptr_t)out;
    }
    return TFMQ_OK;
}

/* tfmq.FusedConv / FusedGemm: op(X, W, [B]) [+ R] -> act -> Y */
static tfmq_status tq_exp_fused(tq_exp *x, tq_gb *b, const tq_node *n, const char *op)
{
    const tq_graph *g = b->g;
    const char *y = tq_vname(g, n->out[0]);
    bool has_r = n->n_in > 3 && n->in[3] >= 0;
    const char *act = "";
    tfmq_status st = tq_attr_string(n, "activation", "", &act);
    if (st != TFMQ_OK) {
        return st;
    }
    bool has_act = act[0] != '\0';
    size_t n_core = n->n_in > 2 && n->in[2] >= 0 ? 3 : 2;
    Onnx__NodeProto *np = tq_node_new(x, b, op, n->name, n_core, 1, (size_t)n->n_attrs);
    const char *t = has_r || has_act ? tq_fresh(x, y) : y;
    if (np) {
        for (size_t k = 0; k < n_core; k++) {
            np->input[k] = (char *)(uintptr_t)tq_vname(g, n->in[k]);
        }
        np->output[0] = (char *)(uintptr_t)t;
    }
    if ((st = tq_copy_attrs(x, n, np, "activation")) != TFMQ_OK) {
        return st;
    }
    if (has_r) {
        const char *s = has_act ? tq_fresh(x, y) : y;
        Onnx__NodeProto *add = tq_node_new(x, b, "Add", NULL, 2, 1, 0);
        if (add) {
            add->input[0] = (char *)(uintptr_t)t;
            add->input[1] = (char *)(uintptr_t)tq_vname(g, n->in[3]);
            add->output[0] = (char *)(uintptr_t)s;
        }
        t = s;
    }
    if (has_act) {
        return tq_emit_act(x, b, n, t, y, tq_in_dtype(g, n, 1));
    }
    return TFMQ_OK;
}

/* DequantizeLinear(q, scale, [zp]) -> fresh name; axis 0 when per_axis. */
static const char *tq_emit_dq(tq_exp *x, tq_gb *b, const tq_node *n, int32_t iq, int32_t is,
                              int32_t iz, bool per_axis)
{
    const tq_graph *g = b->g;
    bool has_zp = iz < n->n_in && n->in[iz] >= 0;
    const char *out = tq_fresh(x, tq_vname(g, n->in[iq]));
    Onnx__NodeProto *np = tq_node_new(x, b, "DequantizeLinear", NULL, has_zp ? 3 : 2, 1, 1);
    if (np) {
        np->input[0] = (char *)(uintptr_t)tq_vname(g, n->in[iq]);
        np->input[1] = (char *)(uintptr_t)tq_vname(g, n->in[is]);
        if (has_zp) {
            np->input[2] = (char *)(uintptr_t)tq_vname(g, n->in[iz]);
        }
        np->output[0] = (char *)(uintptr_t)out;
        if (per_axis) {
            tq_attr_i(x, np, "axis", 0);
        } else {
            np->n_attribute = 0;
        }
    }
    return out;
}

/* Is value v a constant with more than one element (per-channel parameters)? */
static bool tq_multi(const tq_graph *g, int32_t v)
{
    return v >= 0 && g->values[v].t.rank >= 1 && tq_tensor_shape_known(&g->values[v].t) &&
           tq_tensor_numel(&g->values[v].t) > 1;
}

/* The float bias of QConv/QGemm: bias_q * x_scale * w_scale[c], folded when constant, else
 * Cast + Mul nodes. */
static const char *tq_emit_bias(tq_exp *x, tq_gb *b, const tq_node *n)
{
    const tq_graph *g = b->g;
    const tq_value *bq = &g->values[n->in[TQ_QL_BIAS]];
    const tq_value *xs = &g->values[n->in[TQ_QL_X_SCALE]];
    const tq_value *ws = &g->values[n->in[TQ_QL_W_SCALE]];
    if ((bq->flags & xs->flags & ws->flags & TQ_VALUE_CONST) && bq->t.dtype == TFMQ_DTYPE_INT32 &&
        xs->t.dtype == TFMQ_DTYPE_FLOAT32 && ws->t.dtype == TFMQ_DTYPE_FLOAT32 &&
        bq->t.rank == 1 && tq_tensor_numel(&xs->t) == 1) {
        size_t m = tq_tensor_numel(&bq->t), nw = tq_tensor_numel(&ws->t);
        if (nw == 1 || nw == m) {
            double *v = tq_xalloc(x, sizeof(double) * (m ? m : 1));
            if (!v) {
                return "";
            }
            float sx = *(const float *)xs->t.data;
            for (size_t c = 0; c < m; c++) {
                float sw = ((const float *)ws->t.data)[nw == 1 ? 0 : c];
                v[c] = (double)((const int32_t *)bq->t.data)[c] * (double)sx * (double)sw;
            }
            return tq_const_init(x, b, bq->name, TFMQ_DTYPE_FLOAT32, v, m, true);
        }
    }
    const char *bc = tq_fresh(x, bq->name), *sc = tq_fresh(x, bq->name),
               *bf = tq_fresh(x, bq->name);
    Onnx__NodeProto *c = tq_node_new(x, b, "Cast", NULL, 1, 1, 1);
    tq_attr_i(x, c, "to", TFMQ_DTYPE_FLOAT32);
    Onnx__NodeProto *m1 = tq_node_new(x, b, "Mul", NULL, 2, 1, 0);
    Onnx__NodeProto *m2 = tq_node_new(x, b, "Mul", NULL, 2, 1, 0);
    if (c && m1 && m2) {
        c->input[0] = (char *)(uintptr_t)bq->name;
        c->output[0] = (char *)(uintptr_t)bc;
        m1->input[0] = (char *)(uintptr_t)xs->name;
        m1->input[1] = (char *)(uintptr_t)ws->name;
        m1->output[0] = (char *)(uintptr_t)sc;
        m2->input[0] = (char *)(uintptr_t)bc;
        m2->input[1] = (char *)(uintptr_t)sc;
        m2->output[0] = (char *)(uintptr_t)bf;
    }
    return bf;
}

/* tfmq.QConv / QGemm / QAdd as DequantizeLinear -> float op -> activation -> QuantizeLinear. */
static tfmq_status tq_exp_qop(tq_exp *x, tq_gb *b, const tq_node *n)
{
    const tq_graph *g = b->g;
    const char *y = tq_vname(g, n->out[0]);
    tfmq_status st;
    const char *xf = tq_emit_dq(x, b, n, TQ_QL_X, TQ_QL_X_SCALE, TQ_QL_X_ZP, false);
    bool is_add = n->op == TQ_OP_QADD;
    const char *wf = tq_emit_dq(x, b, n, TQ_QL_W, TQ_QL_W_SCALE, TQ_QL_W_ZP,
                                !is_add && tq_multi(g, n->in[TQ_QL_W_SCALE]));
    bool has_bias = !is_add && n->n_in > TQ_QL_BIAS && n->in[TQ_QL_BIAS] >= 0;
    const char *bf = has_bias ? tq_emit_bias(x, b, n) : NULL;
    const char *yf = tq_fresh(x, y), *ya = tq_fresh(x, y);
    Onnx__NodeProto *np;
    if (n->op == TQ_OP_QCONV) {
        np = tq_node_new(x, b, "Conv", n->name, has_bias ? 3 : 2, 1, (size_t)n->n_attrs);
        if (np) {
            np->input[0] = (char *)(uintptr_t)xf;
            np->input[1] = (char *)(uintptr_t)wf;
            if (has_bias) {
                np->input[2] = (char *)(uintptr_t)bf;
            }
            np->output[0] = (char *)(uintptr_t)yf;
        }
        if ((st = tq_copy_attrs(x, n, np, "activation")) != TFMQ_OK) {
            return st;
        }
    } else if (n->op == TQ_OP_QGEMM) { /* x [.., K] @ W[N, K]^T (+ b) */
        const char *wt = tq_fresh(x, wf), *mm = has_bias ? tq_fresh(x, y) : yf;
        Onnx__NodeProto *tr = tq_node_new(x, b, "Transpose", NULL, 1, 1, 1);
        if (tr) {
            Onnx__AttributeProto *ap = tq_attr_new(x, "perm", TQ_ATTR_INTS);
            int64_t *perm = tq_xalloc(x, 2 * sizeof(int64_t));
            if (ap && perm) {
                perm[0] = 1;
                perm[1] = 0;
                ap->n_ints = 2;
                ap->ints = perm;
            }
            tq_add_attr(x, tr, ap);
            tr->input[0] = (char *)(uintptr_t)wf;
            tr->output[0] = (char *)(uintptr_t)wt;
        }
        np = tq_node_new(x, b, "MatMul", n->name, 2, 1, 0);
        if (np) {
            np->input[0] = (char *)(uintptr_t)xf;
            np->input[1] = (char *)(uintptr_t)wt;
            np->output[0] = (char *)(uintptr_t)mm;
        }
        if (has_bias) {
            Onnx__NodeProto *add = tq_node_new(x, b, "Add", NULL, 2, 1, 0);
            if (add) {
                add->input[0] = (char *)(uintptr_t)mm;
                add->input[1] = (char *)(uintptr_t)bf;
                add->output[0] = (char *)(uintptr_t)yf;
            }
        }
    } else {
        np = tq_node_new(x, b, "Add", n->name, 2, 1, 0);
        if (np) {
            np->input[0] = (char *)(uintptr_t)xf;
            np->input[1] = (char *)(uintptr_t)wf;
            np->output[0] = (char *)(uintptr_t)yf;
        }
    }
    if ((st = tq_emit_act(x, b, n, yf, ya, TFMQ_DTYPE_FLOAT32)) != TFMQ_OK) {
        return st;
    }
    bool has_yzp = n->n_in > TQ_QL_Y_ZP && n->in[TQ_QL_Y_ZP] >= 0;
    Onnx__NodeProto *q = tq_node_new(x, b, "QuantizeLinear", NULL, has_yzp ? 3 : 2, 1, 0);
    if (q) {
        q->input[0] = (char *)(uintptr_t)ya;
        q->input[1] = (char *)(uintptr_t)tq_vname(g, n->in[TQ_QL_Y_SCALE]);
        if (has_yzp) {
            q->input[2] = (char *)(uintptr_t)tq_vname(g, n->in[TQ_QL_Y_ZP]);
        }
        q->output[0] = (char *)(uintptr_t)y;
    }
    return TFMQ_OK;
}

static tfmq_status tq_exp_node(tq_exp *x, tq_gb *b, const tq_node *n)
{
    const tq_graph *g = b->g;
    const char *op = tq_op_table[n->op].name;
    char lbl[64];
    switch (n->op) {
    case TQ_OP_FUSED_CONV:
        return tq_exp_fused(x, b, n, "Conv");
    case TQ_OP_FUSED_GEMM:
        return tq_exp_fused(x, b, n, "Gemm");
    case TQ_OP_QCONV:
    case TQ_OP_QGEMM:
    case TQ_OP_QADD:
        return tq_exp_qop(x, b, n);
    default:
        break;
    }
    if (strncmp(op, "tfmq.", 5) == 0) {
        return tq_fail(TFMQ_ERR_UNSUPPORTED, "export: node '%s': internal op %s has no ONNX form",
                       tq_node_label(g, n, lbl, sizeof(lbl)), op);
    }
    Onnx__NodeProto *np =
        tq_node_new(x, b, op, n->name, (size_t)n->n_in, (size_t)n->n_out, (size_t)n->n_attrs);
    if (!np) {
        return TFMQ_OK;
    }
    for (int32_t k = 0; k < n->n_in; k++) {
        np->input[k] = (char *)(uintptr_t)tq_vname(g, n->in[k]);
    }
    for (int32_t k = 0; k < n->n_out; k++) {
        np->output[k] = (char *)(uintptr_t)tq_vname(g, n->out[k]);
    }
    return tq_copy_attrs(x, n, np, NULL);
}

static tfmq_status tq_exp_graph(tq_exp *x, const tq_graph *g, Onnx__GraphProto **gp_out)
{
    tfmq_status st;
    tq_gb b;
    memset(&b, 0, sizeof(b));
    b.g = g;
    *gp_out = NULL;
    Onnx__GraphProto *gp = tq_xalloc(x, sizeof(*gp));
    Onnx__ValueInfoProto **ins = tq_xalloc(x, sizeof(void *) * (g->n_inputs ? g->n_inputs : 1));
    Onnx__ValueInfoProto **outs =
        tq_xalloc(x, sizeof(void *) * (g->n_outputs ? g->n_outputs : 1));
    if (!gp || !ins || !outs) {
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "export: out of memory");
    }
    onnx__graph_proto__init(gp);
    gp->name = tq_xstr(x, g->name && g->name[0] ? g->name : "tfmq");
    for (size_t i = 0; i < g->n_values; i++) {
        const tq_value *v = &g->values[i];
        size_t bytes = 0;
        if (!(v->flags & TQ_VALUE_CONST)) {
            continue;
        }
        if (tq_dtype_size(v->t.dtype) == 0 || !tq_tensor_bytes(&v->t, &bytes)) {
            return tq_fail(TFMQ_ERR_UNSUPPORTED, "export: constant '%s' has no storable type",
                           v->name);
        }
        tq_push(x, &b.inits, tq_tensor_proto(x, v->name, &v->t, bytes));
    }
    for (size_t i = 0; i < g->n_inputs; i++) {
        ins[i] = tq_value_info(x, &g->values[g->inputs[i]]);
    }
    for (size_t i = 0; i < g->n_outputs; i++) {
        outs[i] = tq_value_info(x, &g->values[g->outputs[i]]);
    }
    for (size_t i = 0; i < g->n_nodes; i++) {
        if ((st = tq_exp_node(x, &b, &g->nodes[i])) != TFMQ_OK) {
            return st;
        }
    }
    if (x->oom) {
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "export: out of memory");
    }
    gp->n_input = g->n_inputs;
    gp->input = ins;
    gp->n_output = g->n_outputs;
    gp->output = outs;
    gp->n_node = b.nodes.n;
    gp->node = (Onnx__NodeProto **)b.nodes.p;
    gp->n_initializer = b.inits.n;
    gp->initializer = (Onnx__TensorProto **)b.inits.p;
    *gp_out = gp;
    return TFMQ_OK;
}

/* The opset the export needs: QDQ with per-axis parameters (what QConv/QGemm/QAdd expand into)
 * needs 13; otherwise the model's own opset is kept, since raising it would change the meaning
 * of ops whose attributes became inputs (Squeeze, Split, ReduceSum, ...). */
static int64_t tq_needed_opset(const tq_graph *g)
{
    int64_t need = 1;
    for (size_t i = 0; i < g->n_nodes; i++) {
        const tq_node *n = &g->nodes[i];
        if (n->op == TQ_OP_QCONV || n->op == TQ_OP_QGEMM || n->op == TQ_OP_QADD) {
            need = need < 13 ? 13 : need;
        }
        for (int32_t k = 0; k < n->n_attrs; k++) {
            if (n->attrs[k].type == TQ_ATTR_GRAPH && n->attrs[k].graph) {
                int64_t s = tq_needed_opset(n->attrs[k].graph);
                need = s > need ? s : need;
            }
        }
    }
    return need;
}

tfmq_status tfmq_model_export_onnx(const tfmq_model *model, const char *path, uint32_t flags)
{
    tfmq_status st = TFMQ_OK;
    tq_exp x;
    uint8_t *buf = NULL;
    size_t size = 0;
    tq_atomic_file af;
    bool open = false;

    if (!model || !path || !model->graph) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "model_export_onnx: NULL argument");
    }
    if (flags & ~(uint32_t)TFMQ_WRITE_OVERWRITE) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "model_export_onnx: unknown flags 0x%x", flags);
    }
    memset(&x, 0, sizeof(x));
    tq_arena_init(&x.ar, model->palloc);
    x.path = path;
    int64_t opset = model->meta.opset > 0 ? model->meta.opset : model->graph->opset;
    int64_t need = tq_needed_opset(model->graph);
    x.opset = opset > need ? opset : need;
    if (x.opset < 1) {
        x.opset = 13;
    }

    Onnx__ModelProto mp;
    Onnx__OperatorSetIdProto os;
    Onnx__OperatorSetIdProto *osp = &os;
    onnx__model_proto__init(&mp);
    onnx__operator_set_id_proto__init(&os);
    os.domain = (char *)(uintptr_t)"";
    os.has_version = 1;
    os.version = x.opset;
    mp.has_ir_version = 1;
    mp.ir_version = 8;
    mp.producer_name = (char *)(uintptr_t)"tfmq";
    mp.producer_version = (char *)(uintptr_t)tfmq_version();
    mp.n_opset_import = 1;
    mp.opset_import = &osp;
    TQ_TRY(st, tq_exp_graph(&x, model->graph, &mp.graph));

    size = onnx__model_proto__get_packed_size(&mp);
    if (size > TQ_EXP_MAX_BYTES) {
        st = tq_fail(TFMQ_ERR_UNSUPPORTED, "%s: the ONNX model would be %zu bytes, more than "
                     "protobuf's 2 GiB limit", path, size);
        goto fail;
    }
    buf = tq_alloc(model->palloc, size ? size : 1);
    if (!buf) {
        st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "%s: out of memory (%zu bytes)", path, size);
        goto fail;
    }
    if (onnx__model_proto__pack(&mp, buf) != size) {
        st = tq_fail(TFMQ_ERR_INTERNAL, "%s: protobuf packing gave an unexpected size", path);
        goto fail;
    }
    TQ_TRY(st, tq_atomic_open(&af, model->palloc, path, flags));
    open = true;
    TQ_TRY(st, tq_atomic_write(&af, buf, size));
    open = false;
    TQ_TRY(st, tq_atomic_commit(&af));
fail:
    if (open) {
        tq_atomic_abort(&af);
    }
    if (st != TFMQ_OK && strncmp(tfmq_last_error(), path, strlen(path)) != 0) {
        tq_fail_prefix(st, "%s", path);
    }
    tq_free(model->palloc, buf, size ? size : 1);
    tq_arena_free(&x.ar);
    return st;
}
