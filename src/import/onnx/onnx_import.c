/* onnx_import.c: ONNX ModelProto -> IR graph. The bytes are walked against the generated
 * descriptors (bounded nesting), unpacked by protobuf-c through the tfmq allocator, then converted
 * graph by graph: initializers, inputs, nodes (two passes, so file order does not matter), outputs,
 * value_info. Names resolve through a hash map per graph; names of enclosing graphs become
 * TQ_VALUE_OUTER values. On failure the graph is destroyed and *g_out stays NULL. */
#include <stdio.h>
#include <string.h>

#include "import/onnx/onnx_internal.h"

#define TQ_ONNX_MIN_IR 3
#define TQ_ONNX_MAX_IR 10
#define TQ_ONNX_MAX_OPSET 21

/* producer codes while importing (tq_graph_finalize resets producers) */
#define TQ_DEF_INPUT (-2)
#define TQ_DEF_INIT (-3)
#define TQ_DEF_OUTER (-4)

/* Like TQ_TRY, for calls into ir/ whose messages do not say "onnx: " yet. */
#define TQ_GTRY(st, expr)                                                                         \
    do {                                                                                          \
        (st) = (expr);                                                                            \
        if ((st) != TFMQ_OK) {                                                                    \
            tq_fail_prefix((st), "onnx");                                                         \
            goto fail;                                                                            \
        }                                                                                         \
    } while (0)

/* ---- name -> value index: open addressing, linear probing, keys are the values' names ---- */

typedef struct tq_name_map {
    const tfmq_allocator *alloc;
    const char **keys;
    int32_t *vals;
    size_t cap; /* power of two, or 0 */
    size_t n;
} tq_name_map;

static uint64_t tq_hash_str(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (; *s; s++) {
        h ^= (uint8_t)*s;
        h *= 0x100000001b3ull;
    }
    return h;
}

static void tq_map_free(tq_name_map *m)
{
    tq_free(m->alloc, m->keys, m->cap * sizeof(*m->keys));
    tq_free(m->alloc, m->vals, m->cap * sizeof(*m->vals));
    m->keys = NULL;
    m->vals = NULL;
    m->cap = m->n = 0;
}

static bool tq_map_rehash(tq_name_map *m, size_t cap)
{
    const char **keys = tq_calloc(m->alloc, cap, sizeof(*keys));
    int32_t *vals = tq_calloc(m->alloc, cap, sizeof(*vals));
    if (!keys || !vals) {
        tq_free(m->alloc, keys, cap * sizeof(*keys));
        tq_free(m->alloc, vals, cap * sizeof(*vals));
        return false;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i]) {
            continue;
        }
        size_t j = (size_t)tq_hash_str(m->keys[i]) & (cap - 1);
        while (keys[j]) {
            j = (j + 1) & (cap - 1);
        }
        keys[j] = m->keys[i];
        vals[j] = m->vals[i];
    }
    size_t n = m->n;
    tq_map_free(m);
    m->keys = keys;
    m->vals = vals;
    m->cap = cap;
    m->n = n;
    return true;
}

static tfmq_status tq_map_init(tq_name_map *m, const tfmq_allocator *alloc, size_t hint)
{
    size_t cap = 16;
    memset(m, 0, sizeof(*m));
    m->alloc = alloc;
    while (cap / 2 < hint && cap < ((size_t)1 << 40)) {
        cap *= 2;
    }
    if (!tq_map_rehash(m, cap)) {
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "onnx: out of memory (name table)");
    }
    return TFMQ_OK;
}

static int32_t tq_map_get(const tq_name_map *m, const char *key)
{
    if (!m->cap) {
        return -1;
    }
    size_t j = (size_t)tq_hash_str(key) & (m->cap - 1);
    while (m->keys[j]) {
        if (strcmp(m->keys[j], key) == 0) {
            return m->vals[j];
        }
        j = (j + 1) & (m->cap - 1);
    }
    return -1;
}

/* `key` must stay valid (an arena string) and must not be in the map yet. */
static tfmq_status tq_map_put(tq_name_map *m, const char *key, int32_t val)
{
    if ((m->n + 1) * 2 > m->cap && !tq_map_rehash(m, m->cap ? m->cap * 2 : 16)) {
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "onnx: out of memory (name table)");
    }
    size_t j = (size_t)tq_hash_str(key) & (m->cap - 1);
    while (m->keys[j]) {
        j = (j + 1) & (m->cap - 1);
    }
    m->keys[j] = key;
    m->vals[j] = val;
    m->n++;
    return TFMQ_OK;
}

/* ---- import state ---- */

typedef struct tq_scope {
    struct tq_scope *parent;      /* enclosing graph's scope, or NULL */
    tq_graph *g;
    const Onnx__GraphProto *gp;
    tq_name_map map;              /* names defined in g */
} tq_scope;

typedef struct tq_imp {
    const tfmq_allocator *alloc;
    tq_arena *arena;
    const char *path;             /* model file (external data), may be NULL */
    const Onnx__ModelProto *mp;
    int64_t opset;                /* default-domain opset; 0 if the model imports none */
} tq_imp;

static void *tq_graph_data_fn(void *user, size_t bytes)
{
    return tq_graph_alloc_data(user, bytes);
}

static const char *tq_str(const char *s)
{
    return s ? s : "";
}

static bool tq_is_default_domain(const char *d)
{
    return !d || !d[0] || strcmp(d, "ai.onnx") == 0;
}

/* Opset the model imports for `domain` (0 if none). */
static int64_t tq_domain_opset(const tq_imp *imp, const char *domain)
{
    for (size_t i = 0; i < imp->mp->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = imp->mp->opset_import[i];
        if (o && strcmp(tq_str(o->domain), tq_str(domain)) == 0) {
            return o->version;
        }
    }
    return 0;
}

/* Name of node `i` for messages: its name, or "<op_type>#i". */
static const char *tq_np_label(const Onnx__NodeProto *np, size_t i, char *buf, size_t n)
{
    if (np->name && np->name[0]) {
        return np->name;
    }
    snprintf(buf, n, "%s#%zu", tq_str(np->op_type), i);
    return buf;
}

/* Add value `name` to the scope's graph and map. The caller checked it is new. */
static tfmq_status tq_scope_add(tq_scope *sc, const char *name, int32_t producer,
                                int32_t *idx_out)
{
    tfmq_status st;
    int32_t idx;
    TQ_GTRY(st, tq_graph_add_value(sc->g, name, &idx));
    TQ_TRY(st, tq_map_put(&sc->map, sc->g->values[idx].name, idx));
    sc->g->values[idx].producer = producer;
    *idx_out = idx;
    return TFMQ_OK;
fail:
    return st;
}

/* Find `name` in this graph, else in enclosing graphs; a hit in an enclosing graph becomes a
 * TQ_VALUE_OUTER value of the same name in each graph on the way down. -1 if not found. */
static tfmq_status tq_resolve(tq_scope *sc, const char *name, int32_t *idx_out)
{
    tfmq_status st;
    int32_t idx = tq_map_get(&sc->map, name), pidx;
    *idx_out = idx;
    if (idx >= 0 || !sc->parent) {
        return TFMQ_OK;
    }
    TQ_TRY(st, tq_resolve(sc->parent, name, &pidx));
    if (pidx < 0) {
        return TFMQ_OK;
    }
    TQ_TRY(st, tq_scope_add(sc, name, TQ_DEF_OUTER, &idx));
    const tq_value *pv = &sc->parent->g->values[pidx];
    tq_value *v = &sc->g->values[idx];
    v->t.dtype = pv->t.dtype;
    v->t.rank = pv->t.rank;
    memcpy(v->t.dims, pv->t.dims, sizeof(v->t.dims));
    memcpy(v->dim_names, pv->dim_names, sizeof(v->dim_names));
    v->flags |= TQ_VALUE_OUTER;
    *idx_out = idx;
    return TFMQ_OK;
fail:
    return st;
}

/* Describe who defined value idx, for "defined twice" messages. */
static const char *tq_definer(const tq_scope *sc, int32_t idx, char *buf, size_t n)
{
    const tq_value *v = &sc->g->values[idx];
    char lbl[64];
    if (v->producer >= 0 && (size_t)v->producer < sc->gp->n_node) {
        const Onnx__NodeProto *np = sc->gp->node[v->producer];
        snprintf(buf, n, "node '%s' (%s)", tq_np_label(np, (size_t)v->producer, lbl, sizeof(lbl)),
                 tq_str(np->op_type));
    } else if (v->producer == TQ_DEF_INPUT) {
        snprintf(buf, n, "a graph input");
    } else if (v->producer == TQ_DEF_INIT) {
        snprintf(buf, n, "an initializer");
    } else {
        snprintf(buf, n, "an enclosing graph");
    }
    return buf;
}

/* Set a value's dtype and shape from a ValueInfo type. strict: a type tfmq cannot represent is
 * an error (graph inputs and outputs); otherwise it is ignored (value_info hints). */
static tfmq_status tq_set_type(tq_imp *imp, tq_scope *sc, int32_t idx, const Onnx__TypeProto *tp,
                               const char *what, const char *name, bool strict)
{
    char tbuf[32];
    tfmq_dtype dt = TFMQ_DTYPE_UNDEFINED;
    tq_tensor t;
    const char *dnames[TQ_MAX_RANK];

    if (!tp || tp->value_case == ONNX__TYPE_PROTO__VALUE__NOT_SET) {
        return TFMQ_OK;
    }
    if (tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE) {
        if (!strict) {
            return TFMQ_OK;
        }
        const char *kind = tp->value_case == ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE ? "a sequence"
                           : tp->value_case == ONNX__TYPE_PROTO__VALUE_MAP_TYPE    ? "a map"
                           : tp->value_case == ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE
                               ? "an optional"
                           : tp->value_case == ONNX__TYPE_PROTO__VALUE_SPARSE_TENSOR_TYPE
                               ? "a sparse tensor"
                               : "not a tensor";
        return tq_fail(TFMQ_ERR_UNSUPPORTED, "onnx: %s '%s' is %s; only tensors are supported",
                       what, name, kind);
    }
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    if (!tt) {
        return TFMQ_OK;
    }
    if (tt->has_elem_type && tt->elem_type != 0 && !tq_onnx_dtype(tt->elem_type, &dt)) {
        if (!strict) {
            return TFMQ_OK;
        }
        return tq_fail(TFMQ_ERR_UNSUPPORTED, "onnx: %s '%s' has element type %s, not supported",
                       what, name, tq_onnx_dtype_name(tt->elem_type, tbuf, sizeof(tbuf)));
    }
    memset(&t, 0, sizeof(t));
    memset(dnames, 0, sizeof(dnames));
    t.dtype = dt;
    t.rank = -1;
    if (tt->shape) {
        if (tt->shape->n_dim > TQ_MAX_RANK) {
            if (!strict) {
                return TFMQ_OK;
            }
            return tq_fail(TFMQ_ERR_UNSUPPORTED, "onnx: %s '%s' has rank %zu (at most %d)", what,
                           name, tt->shape->n_dim, TQ_MAX_RANK);
        }
        t.rank = (int32_t)tt->shape->n_dim;
        for (size_t i = 0; i < tt->shape->n_dim; i++) {
            const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
            t.dims[i] = -1;
            dnames[i] = "?";
            if (!d) {
                continue;
            }
            if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
                d->dim_value >= 0) {
                t.dims[i] = d->dim_value;
                dnames[i] = NULL;
            } else if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM &&
                       d->dim_param && d->dim_param[0]) {
                dnames[i] = tq_arena_strdup(imp->arena, d->dim_param);
                if (!dnames[i]) {
                    return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "onnx: out of memory");
                }
            }
        }
    }
    tq_value *v = &sc->g->values[idx];
    v->t = t;
    memcpy(v->dim_names, dnames, sizeof(v->dim_names));
    return TFMQ_OK;
}

static int32_t tq_attr_kind(const Onnx__AttributeProto *ap)
{
    if (ap->has_type && ap->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED) {
        return (int32_t)ap->type;
    }
    /* very old writers leave the type out: infer it from the field that is set */
    if (ap->has_f) {
        return TQ_ATTR_FLOAT;
    }
    if (ap->has_i) {
        return TQ_ATTR_INT;
    }
    if (ap->has_s) {
        return TQ_ATTR_STRING;
    }
    if (ap->t) {
        return TQ_ATTR_TENSOR;
    }
    if (ap->g) {
        return TQ_ATTR_GRAPH;
    }
    if (ap->n_floats) {
        return TQ_ATTR_FLOATS;
    }
    if (ap->n_ints) {
        return TQ_ATTR_INTS;
    }
    if (ap->n_strings) {
        return TQ_ATTR_STRINGS;
    }
    return 0;
}

static const char *tq_attr_kind_name(int32_t k)
{
    switch (k) {
    case 9: return "tensors";
    case 10: return "graphs";
    case 11: return "sparse_tensor";
    case 12: return "sparse_tensors";
    case 13: return "type_proto";
    case 14: return "type_protos";
    default: return "undefined";
    }
}

static tfmq_status tq_import_graph(tq_imp *imp, tq_scope *sc);

/* Copy one attribute of node `label` into `a`; graphs are imported as subgraphs of sc->g. */
static tfmq_status tq_import_attr(tq_imp *imp, tq_scope *sc, const Onnx__NodeProto *np,
                                  const char *label, const Onnx__AttributeProto *ap, tq_attr *a)
{
    tfmq_status st = TFMQ_OK;
    const char *op = tq_str(np->op_type);
    tq_scope child;
    size_t bytes;
    char what[160];

    memset(&child, 0, sizeof(child));
    if (!ap || !ap->name || !ap->name[0]) {
        return tq_fail(TFMQ_ERR_PARSE, "onnx: node '%s' (%s): attribute without a name", label,
                       op);
    }
    if (ap->ref_attr_name && ap->ref_attr_name[0]) {
        return tq_fail(TFMQ_ERR_UNSUPPORTED,
                       "onnx: node '%s' (%s): attribute '%s' refers to function attribute '%s'",
                       label, op, ap->name, ap->ref_attr_name);
    }
    int32_t kind = tq_attr_kind(ap);
    a->name = tq_arena_strdup(imp->arena, ap->name);
    if (!a->name) {
        goto oom;
    }
    a->type = (tq_attr_type)kind;
    switch (kind) {
    case TQ_ATTR_FLOAT:
        a->f = ap->f;
        break;
    case TQ_ATTR_INT:
        a->i = ap->i;
        break;
    case TQ_ATTR_STRING:
        a->s = tq_arena_strndup(imp->arena, ap->s.data ? (const char *)ap->s.data : "",
                                ap->s.data ? ap->s.len : 0);
        if (!a->s) {
            goto oom;
        }
        break;
    case TQ_ATTR_TENSOR: {
        if (!ap->t) {
            return tq_fail(TFMQ_ERR_PARSE, "onnx: node '%s' (%s): tensor attribute '%s' has no "
                           "tensor", label, op, ap->name);
        }
        tq_tensor *t = tq_arena_alloc(imp->arena, sizeof(*t));
        if (!t) {
            goto oom;
        }
        snprintf(what, sizeof(what), "node '%.64s' (%.32s) attribute '%.32s'", label, op,
                 ap->name);
        TQ_TRY(st, tq_onnx_tensor_convert(ap->t, what, imp->path, tq_graph_data_fn, sc->g, t,
                                          &bytes));
        a->tensor = t;
        break;
    }
    case TQ_ATTR_GRAPH: {
        if (!ap->g) {
            return tq_fail(TFMQ_ERR_PARSE, "onnx: node '%s' (%s): graph attribute '%s' has no "
                           "graph", label, op, ap->name);
        }
        tq_graph *sub = NULL;
        const char *gname = ap->g->name && ap->g->name[0] ? ap->g->name : ap->name;
        TQ_GTRY(st, tq_graph_create_sub(sc->g, gname, &sub));
        child.parent = sc;
        child.g = sub;
        child.gp = ap->g;
        TQ_TRY(st, tq_import_graph(imp, &child));
        a->graph = sub;
        break;
    }
    case TQ_ATTR_FLOATS: {
        float *v = tq_arena_alloc(imp->arena, ap->n_floats * sizeof(float));
        if (!v) {
            goto oom;
        }
        if (ap->n_floats) {
            memcpy(v, ap->floats, ap->n_floats * sizeof(float));
        }
        a->floats = v;
        a->n = ap->n_floats;
        break;
    }
    case TQ_ATTR_INTS: {
        int64_t *v = tq_arena_alloc(imp->arena, ap->n_ints * sizeof(int64_t));
        if (!v) {
            goto oom;
        }
        if (ap->n_ints) {
            memcpy(v, ap->ints, ap->n_ints * sizeof(int64_t));
        }
        a->ints = v;
        a->n = ap->n_ints;
        break;
    }
    case TQ_ATTR_STRINGS: {
        const char **v = tq_arena_alloc(imp->arena, ap->n_strings * sizeof(char *));
        if (!v) {
            goto oom;
        }
        for (size_t i = 0; i < ap->n_strings; i++) {
            const ProtobufCBinaryData *b = &ap->strings[i];
            v[i] = tq_arena_strndup(imp->arena, b->data ? (const char *)b->data : "",
                                    b->data ? b->len : 0);
            if (!v[i]) {
                goto oom;
            }
        }
        a->strings = v;
        a->n = ap->n_strings;
        break;
    }
    default:
        return tq_fail(TFMQ_ERR_UNSUPPORTED,
                       "onnx: node '%s' (%s): attribute '%s' has type %s, not supported", label,
                       op, ap->name, tq_attr_kind_name(kind));
    }
fail:
    tq_map_free(&child.map);
    return st;
oom:
    return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "onnx: out of memory");
}

/* A Constant node's value as a tensor with graph-owned data. */
static tfmq_status tq_import_constant(tq_imp *imp, tq_scope *sc, const Onnx__NodeProto *np,
                                      const char *label, tq_tensor *t, size_t *bytes_out)
{
    char what[128];
    memset(t, 0, sizeof(*t));
    if (np->n_attribute != 1 || !np->attribute[0] || !np->attribute[0]->name) {
        return tq_fail(TFMQ_ERR_PARSE, "onnx: node '%s' (Constant) needs exactly one value "
                       "attribute, it has %zu", label, np->n_attribute);
    }
    const Onnx__AttributeProto *ap = np->attribute[0];
    const char *an = ap->name;
    int32_t kind = tq_attr_kind(ap);
    int32_t want = strcmp(an, "value") == 0          ? TQ_ATTR_TENSOR
                   : strcmp(an, "value_float") == 0  ? TQ_ATTR_FLOAT
                   : strcmp(an, "value_floats") == 0 ? TQ_ATTR_FLOATS
                   : strcmp(an, "value_int") == 0    ? TQ_ATTR_INT
                   : strcmp(an, "value_ints") == 0   ? TQ_ATTR_INTS
                                                     : 0;
    if (!want) {
        if (strcmp(an, "value_string") == 0 || strcmp(an, "value_strings") == 0 ||
            strcmp(an, "sparse_value") == 0) {
            return tq_fail(TFMQ_ERR_UNSUPPORTED, "onnx: node '%s' (Constant): attribute '%s' is "
                           "not supported", label, an);
        }
        return tq_fail(TFMQ_ERR_PARSE, "onnx: node '%s' (Constant): unknown attribute '%s'",
                       label, an);
    }
    if (kind != want) {
        return tq_fail(TFMQ_ERR_PARSE, "onnx: node '%s' (Constant): attribute '%s' has type %d, "
                       "expected %d", label, an, (int)kind, (int)want);
    }
    if (want == TQ_ATTR_TENSOR) {
        if (!ap->t) {
            return tq_fail(TFMQ_ERR_PARSE, "onnx: node '%s' (Constant): 'value' has no tensor",
                           label);
        }
        snprintf(what, sizeof(what), "node '%.64s' (Constant) value", label);
        return tq_onnx_tensor_convert(ap->t, what, imp->path, tq_graph_data_fn, sc->g, t,
                                      bytes_out);
    }
    size_t n = want == TQ_ATTR_FLOATS ? ap->n_floats : want == TQ_ATTR_INTS ? ap->n_ints : 1;
    size_t esize = want == TQ_ATTR_FLOAT || want == TQ_ATTR_FLOATS ? 4 : 8;
    size_t bytes;
    if (!tq_mul_size(n, esize, &bytes) || bytes > TQ_MAX_TENSOR_BYTES) {
        return tq_fail(TFMQ_ERR_UNSUPPORTED, "onnx: node '%s' (Constant): too large", label);
    }
    void *d = tq_graph_alloc_data(sc->g, bytes);
    if (!d) {
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "onnx: out of memory");
    }
    t->dtype = esize == 4 ? TFMQ_DTYPE_FLOAT32 : TFMQ_DTYPE_INT64;
    t->rank = want == TQ_ATTR_FLOATS || want == TQ_ATTR_INTS ? 1 : 0;
    t->dims[0] = t->rank ? (int64_t)n : 0;
    switch (want) {
    case TQ_ATTR_FLOAT:
        memcpy(d, &ap->f, 4);
        break;
    case TQ_ATTR_INT:
        memcpy(d, &ap->i, 8);
        break;
    case TQ_ATTR_FLOATS:
        if (n) {
            memcpy(d, ap->floats, bytes);
        }
        break;
    default:
        if (n) {
            memcpy(d, ap->ints, bytes);
        }
        break;
    }
    t->data = d;
    *bytes_out = bytes;
    return TFMQ_OK;
}

/* Nodes, pass 1: check the op, create the tq_node (Constant nodes become constant values
 * instead) and define every output. Pass 2: resolve inputs (here or in enclosing graphs) and
 * copy attributes, importing subgraphs. Two passes make file order irrelevant. */
static tfmq_status tq_import_nodes(tq_imp *imp, tq_scope *sc)
{
    tfmq_status st = TFMQ_OK;
    const Onnx__GraphProto *gp = sc->gp;
    tq_graph *g = sc->g;
    char lbl[96], def[160];

    if (gp->n_node > TQ_MAX_NODES) {
        return tq_fail(TFMQ_ERR_UNSUPPORTED, "onnx: graph '%s' has %zu nodes (at most %u)",
                       g->name, gp->n_node, TQ_MAX_NODES);
    }
    for (size_t i = 0; i < gp->n_node; i++) {
        const Onnx__NodeProto *np = gp->node[i];
        uint32_t op = 0;
        int32_t k = -1;
        if (!np || !np->op_type || !np->op_type[0]) {
            return tq_fail(TFMQ_ERR_PARSE, "onnx: graph '%s': node #%zu has no op_type", g->name,
                           i);
        }
        const char *label = tq_np_label(np, i, lbl, sizeof(lbl));
        bool dflt = tq_is_default_domain(np->domain);
        bool is_const = dflt && strcmp(np->op_type, "Constant") == 0;
        if (dflt && imp->opset == 0) {
            return tq_fail(TFMQ_ERR_PARSE, "onnx: node '%s' (%s): the model imports no opset "
                           "for the default domain", label, np->op_type);
        }
        if (!is_const && (!dflt || !tq_op_from_name(np->op_type, &op))) {
            return tq_fail(TFMQ_ERR_UNSUPPORTED,
                           "onnx: node '%s' (%s, domain '%s', opset %lld): unsupported op", label,
                           np->op_type, tq_str(np->domain),
                           (long long)(dflt ? imp->opset : tq_domain_opset(imp, np->domain)));
        }
        if (np->n_input > TQ_MAX_IO || np->n_output > TQ_MAX_IO) {
            return tq_fail(TFMQ_ERR_UNSUPPORTED, "onnx: node '%s' (%s): %zu inputs and %zu "
                           "outputs (at most %d)", label, np->op_type, np->n_input,
                           np->n_output, TQ_MAX_IO);
        }
        size_t n_out = np->n_output;
        if (is_const) {
            if (n_out != 1 || !np->output[0] || !np->output[0][0]) {
                return tq_fail(TFMQ_ERR_PARSE, "onnx: node '%s' (Constant) must have one named "
                               "output", label);
            }
            if (np->n_input != 0) {
                return tq_fail(TFMQ_ERR_PARSE, "onnx: node '%s' (Constant) takes no inputs",
                               label);
            }
        } else {
            size_t n_in = np->n_input;
            /* trailing absent optionals are the same as leaving them out */
            while (n_in > (size_t)tq_op_table[op].in_min && !tq_str(np->input[n_in - 1])[0]) {
                n_in--;
            }
            while (n_out > (size_t)tq_op_table[op].out_min && !tq_str(np->output[n_out - 1])[0]) {
                n_out--;
            }
            TQ_GTRY(st, tq_graph_add_node(g, op, tq_str(np->name), (int32_t)n_in, (int32_t)n_out,
                                          (int32_t)np->n_attribute, &k));
        }
        for (size_t j = 0; j < n_out; j++) {
            const char *name = tq_str(np->output[j]);
            int32_t idx;
            if (!name[0]) {
                continue;
            }
            idx = tq_map_get(&sc->map, name);
            if (idx >= 0) {
                return tq_fail(TFMQ_ERR_INVALID_ARG, "onnx: node '%s' (%s): output '%s' is "
                               "already defined by %s", label, np->op_type, name,
                               tq_definer(sc, idx, def, sizeof(def)));
            }
            TQ_TRY(st, tq_scope_add(sc, name, (int32_t)i, &idx));
            if (is_const) {
                tq_tensor t;
                size_t bytes = 0;
                memset(&t, 0, sizeof(t));
                TQ_TRY(st, tq_import_constant(imp, sc, np, label, &t, &bytes));
                tq_value *v = &g->values[idx];
                v->t = t;
                v->data_bytes = bytes;
                v->flags |= TQ_VALUE_CONST;
            } else {
                g->nodes[k].out[j] = idx;
            }
        }
    }
    size_t k = 0;
    for (size_t i = 0; i < gp->n_node; i++) {
        const Onnx__NodeProto *np = gp->node[i];
        if (tq_is_default_domain(np->domain) && strcmp(np->op_type, "Constant") == 0) {
            continue;
        }
        const char *label = tq_np_label(np, i, lbl, sizeof(lbl));
        int32_t n_in = g->nodes[k].n_in;
        for (int32_t j = 0; j < n_in; j++) {
            const char *name = tq_str(np->input[j]);
            int32_t idx = -1;
            if (name[0]) {
                TQ_TRY(st, tq_resolve(sc, name, &idx));
                if (idx < 0) {
                    return tq_fail(TFMQ_ERR_INVALID_ARG,
                                   "onnx: node '%s' (%s): input '%s' is not a graph input, "
                                   "initializer or node output (here or in an enclosing graph)",
                                   label, np->op_type, name);
                }
            }
            g->nodes[k].in[j] = idx;
        }
        for (size_t a = 0; a < np->n_attribute; a++) {
            const Onnx__AttributeProto *ap = np->attribute[a];
            for (size_t b = 0; b < a && ap && ap->name; b++) {
                const Onnx__AttributeProto *bp = np->attribute[b];
                if (bp && bp->name && strcmp(bp->name, ap->name) == 0) {
                    return tq_fail(TFMQ_ERR_PARSE, "onnx: node '%s' (%s): attribute '%s' is "
                                   "given twice", label, np->op_type, ap->name);
                }
            }
            tq_attr attr;
            memset(&attr, 0, sizeof(attr));
            TQ_TRY(st, tq_import_attr(imp, sc, np, label, ap, &attr));
            g->nodes[k].attrs[a] = attr; /* g->nodes does not move in pass 2 */
        }
        k++;
    }
    return TFMQ_OK;
fail:
    return st;
}

/* Import one graph (main or subgraph) into sc->g. sc->map is created here and freed before
 * returning; subgraphs, imported meanwhile, resolve outer names through it. */
static tfmq_status tq_import_graph(tq_imp *imp, tq_scope *sc)
{
    tfmq_status st = TFMQ_OK;
    const Onnx__GraphProto *gp = sc->gp;
    tq_graph *g = sc->g;
    int32_t *ins = NULL, *outs = NULL;
    size_t n_ins = 0, n_outs = 0, hint;
    char what[128];

    hint = gp->n_initializer + gp->n_input + gp->n_output;
    for (size_t i = 0; i < gp->n_node && i < TQ_MAX_NODES; i++) {
        if (gp->node[i]) {
            hint += gp->node[i]->n_output;
        }
    }
    TQ_TRY(st, tq_map_init(&sc->map, imp->alloc, hint));
    if (gp->n_sparse_initializer) {
        st = tq_fail(TFMQ_ERR_UNSUPPORTED, "onnx: graph '%s': sparse initializers are not "
                     "supported", g->name);
        goto fail;
    }
    for (size_t i = 0; i < gp->n_initializer; i++) {
        const Onnx__TensorProto *tp = gp->initializer[i];
        int32_t idx;
        tq_tensor t;
        size_t bytes;
        if (!tp || !tp->name || !tp->name[0]) {
            st = tq_fail(TFMQ_ERR_PARSE, "onnx: graph '%s': initializer #%zu has no name",
                         g->name, i);
            goto fail;
        }
        if (tq_map_get(&sc->map, tp->name) >= 0) {
            st = tq_fail(TFMQ_ERR_PARSE, "onnx: initializer '%s' is defined twice", tp->name);
            goto fail;
        }
        snprintf(what, sizeof(what), "initializer '%.100s'", tp->name);
        TQ_TRY(st, tq_onnx_tensor_convert(tp, what, imp->path, tq_graph_data_fn, g, &t, &bytes));
        TQ_TRY(st, tq_scope_add(sc, tp->name, TQ_DEF_INIT, &idx));
        g->values[idx].t = t;
        g->values[idx].data_bytes = bytes;
        g->values[idx].flags |= TQ_VALUE_CONST;
    }
    ins = tq_calloc(imp->alloc, gp->n_input ? gp->n_input : 1, sizeof(int32_t));
    outs = tq_calloc(imp->alloc, gp->n_output ? gp->n_output : 1, sizeof(int32_t));
    if (!ins || !outs) {
        st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "onnx: out of memory");
        goto fail;
    }
    for (size_t i = 0; i < gp->n_input; i++) {
        const Onnx__ValueInfoProto *vi = gp->input[i];
        int32_t idx;
        if (!vi || !vi->name || !vi->name[0]) {
            st = tq_fail(TFMQ_ERR_PARSE, "onnx: graph '%s': input #%zu has no name", g->name, i);
            goto fail;
        }
        idx = tq_map_get(&sc->map, vi->name);
        if (idx >= 0) {
            if (g->values[idx].producer == TQ_DEF_INIT) {
                continue; /* an input with an initializer is a constant */
            }
            st = tq_fail(TFMQ_ERR_PARSE, "onnx: graph input '%s' is listed twice", vi->name);
            goto fail;
        }
        TQ_TRY(st, tq_scope_add(sc, vi->name, TQ_DEF_INPUT, &idx));
        TQ_TRY(st, tq_set_type(imp, sc, idx, vi->type, "graph input", vi->name, true));
        ins[n_ins++] = idx;
    }
    TQ_TRY(st, tq_import_nodes(imp, sc));
    for (size_t i = 0; i < gp->n_output; i++) {
        const Onnx__ValueInfoProto *vo = gp->output[i];
        int32_t idx;
        if (!vo || !vo->name || !vo->name[0]) {
            st = tq_fail(TFMQ_ERR_PARSE, "onnx: graph '%s': output #%zu has no name", g->name, i);
            goto fail;
        }
        TQ_TRY(st, tq_resolve(sc, vo->name, &idx));
        if (idx < 0) {
            st = tq_fail(TFMQ_ERR_INVALID_ARG, "onnx: graph output '%s' is not produced by any "
                         "node, input or initializer", vo->name);
            goto fail;
        }
        const tq_value *v = &g->values[idx];
        if (v->t.dtype == TFMQ_DTYPE_UNDEFINED && !(v->flags & TQ_VALUE_CONST)) {
            TQ_TRY(st, tq_set_type(imp, sc, idx, vo->type, "graph output", vo->name, true));
        }
        outs[n_outs++] = idx;
    }
    for (size_t i = 0; i < gp->n_value_info; i++) {
        const Onnx__ValueInfoProto *vi = gp->value_info[i];
        if (!vi || !vi->name) {
            continue;
        }
        int32_t idx = tq_map_get(&sc->map, vi->name);
        if (idx < 0 || g->values[idx].producer < 0 ||
            (g->values[idx].flags & TQ_VALUE_CONST) ||
            g->values[idx].t.dtype != TFMQ_DTYPE_UNDEFINED) {
            continue;
        }
        TQ_TRY(st, tq_set_type(imp, sc, idx, vi->type, "value", vi->name, false));
    }
    TQ_GTRY(st, tq_graph_set_io(g, ins, n_ins, outs, n_outs));
fail:
    tq_free(imp->alloc, ins, (gp->n_input ? gp->n_input : 1) * sizeof(int32_t));
    tq_free(imp->alloc, outs, (gp->n_output ? gp->n_output : 1) * sizeof(int32_t));
    tq_map_free(&sc->map);
    return st;
}

tfmq_status tq_import_onnx(const void *data, size_t n_bytes, const char *path, tq_arena *arena,
                           const tfmq_allocator *alloc, tq_onnx_meta *meta_out,
                           tq_graph **g_out)
{
    tfmq_status st = TFMQ_OK;
    Onnx__ModelProto *mp = NULL;
    tq_graph *g = NULL;
    tq_onnx_pb_alloc pa;
    tq_imp imp;
    tq_scope sc;

    tq_onnx_pb_alloc_init(&pa, alloc);
    memset(&sc, 0, sizeof(sc));
    if (!g_out) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "onnx: import: NULL output");
    }
    *g_out = NULL;
    if (meta_out) {
        memset(meta_out, 0, sizeof(*meta_out));
        meta_out->producer = "";
    }
    if ((!data && n_bytes) || !arena) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "onnx: import: NULL argument");
    }
    if (n_bytes == 0) {
        return tq_fail(TFMQ_ERR_PARSE, "onnx: the model is empty (0 bytes)");
    }
    TQ_TRY(st, tq_onnx_wire_check(&onnx__model_proto__descriptor, data, n_bytes, "model"));
    mp = onnx__model_proto__unpack(&pa.pb, n_bytes, data);
    if (!mp) {
        st = pa.oom ? tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "onnx: out of memory while parsing")
                    : tq_fail(TFMQ_ERR_PARSE, "onnx: not a valid ModelProto (a field has the "
                              "wrong type or a malformed value)");
        goto fail;
    }
    if (mp->ir_version < TQ_ONNX_MIN_IR || mp->ir_version > TQ_ONNX_MAX_IR) {
        st = tq_fail(TFMQ_ERR_UNSUPPORTED, "onnx: IR version %lld is not supported (tfmq reads "
                     "%d..%d)", (long long)mp->ir_version, TQ_ONNX_MIN_IR, TQ_ONNX_MAX_IR);
        goto fail;
    }
    memset(&imp, 0, sizeof(imp));
    imp.alloc = alloc;
    imp.arena = arena;
    imp.path = path;
    imp.mp = mp;
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = mp->opset_import[i];
        if (!o || !tq_is_default_domain(o->domain)) {
            continue;
        }
        if (!o->has_version || o->version < 1) {
            st = tq_fail(TFMQ_ERR_PARSE, "onnx: invalid default-domain opset version %lld",
                         (long long)o->version);
            goto fail;
        }
        if (imp.opset && imp.opset != o->version) {
            st = tq_fail(TFMQ_ERR_PARSE, "onnx: the default domain is imported twice (opsets "
                         "%lld and %lld)", (long long)imp.opset, (long long)o->version);
            goto fail;
        }
        imp.opset = o->version;
    }
    if (imp.opset > TQ_ONNX_MAX_OPSET) {
        st = tq_fail(TFMQ_ERR_UNSUPPORTED, "onnx: default-domain opset %lld is newer than tfmq "
                     "supports (at most %d)", (long long)imp.opset, TQ_ONNX_MAX_OPSET);
        goto fail;
    }
    if (!mp->graph) {
        st = tq_fail(TFMQ_ERR_PARSE, "onnx: the model has no graph");
        goto fail;
    }
    TQ_GTRY(st, tq_graph_create(arena, alloc, &g));
    g->opset = imp.opset;
    g->name = tq_arena_strdup(arena, tq_str(mp->graph->name));
    if (!g->name) {
        st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "onnx: out of memory");
        goto fail;
    }
    sc.g = g;
    sc.gp = mp->graph;
    TQ_TRY(st, tq_import_graph(&imp, &sc));
    TQ_GTRY(st, tq_graph_finalize(g));
    if (meta_out) {
        const char *pn = tq_str(mp->producer_name), *pv = tq_str(mp->producer_version);
        size_t n = strlen(pn) + strlen(pv) + 2;
        char *prod = tq_arena_alloc(arena, n);
        if (!prod) {
            st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "onnx: out of memory");
            goto fail;
        }
        snprintf(prod, n, "%s%s%s", pn, pn[0] && pv[0] ? " " : "", pv);
        meta_out->ir_version = mp->ir_version;
        meta_out->opset = imp.opset;
        meta_out->producer = prod;
    }
    onnx__model_proto__free_unpacked(mp, &pa.pb);
    *g_out = g;
    return TFMQ_OK;
fail:
    tq_map_free(&sc.map);
    if (mp) {
        onnx__model_proto__free_unpacked(mp, &pa.pb);
    }
    tq_graph_destroy(g);
    if (meta_out) {
        memset(meta_out, 0, sizeof(*meta_out));
        meta_out->producer = "";
    }
    return st;
}
