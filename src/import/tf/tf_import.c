/* tf_import.c: TensorFlow SavedModel directory -> IR graph, without TensorFlow. saved_model.pb is
 * unpacked with protobuf-c code generated from our tf_subset.proto; the MetaGraphDef tagged
 * "serve" and one SignatureDef are chosen. Nodes are converted on demand, walking back from the
 * signature's outputs (an explicit stack, not recursion), so the saver and init parts of the
 * graph are never touched. Calls (PartitionedCall, StatefulPartitionedCall, or a library function
 * used as an op) are inlined: the callee's FunctionDef gets its own scope whose arguments are the
 * caller's values. Resource variables (VarHandleOp -> ReadVariableOp) become constants read from
 * variables/ (tf_bundle.c), keyed through the checkpoint's object graph (full_name ->
 * checkpoint_key) or, for TF1 bundles, by the variable's own name.
 * Layout: values keep TF's semantics (NHWC). A rank-4 activation may also carry an NCHW twin;
 * Conv/Pool/BatchNorm work on the twin, elementwise ops preserve whichever layout they get, and
 * a Transpose is inserted only where an op needs the other layout (Reshape, Dense, outputs). */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "import/onnx/onnx_internal.h"
#include "import/tf/tf_internal.h"
#include "runtime/model.h"
#include "tf_subset.pb-c.h"

#define TF_OPSET 17
#define TF_MAX_CALL_DEPTH 32
#define TF_MAX_NODE_INPUTS 4096

/* ---- string -> int32 map (open addressing); keys must outlive the map ---- */

typedef struct tf_map {
    const tfmq_allocator *alloc;
    const char **keys;
    int32_t *vals;
    size_t cap, n;
} tf_map;

static uint64_t tf_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) {
        h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    }
    return h;
}

static void tf_map_free(tf_map *m)
{
    tq_free(m->alloc, m->keys, m->cap * sizeof(*m->keys));
    tq_free(m->alloc, m->vals, m->cap * sizeof(*m->vals));
    m->keys = NULL;
    m->vals = NULL;
    m->cap = m->n = 0;
}

static int32_t tf_map_get(const tf_map *m, const char *k)
{
    if (!m->cap) {
        return -1;
    }
    for (size_t j = (size_t)tf_hash(k) & (m->cap - 1);; j = (j + 1) & (m->cap - 1)) {
        if (!m->keys[j]) {
            return -1;
        }
        if (strcmp(m->keys[j], k) == 0) {
            return m->vals[j];
        }
    }
}

static bool tf_map_put(tf_map *m, const char *k, int32_t v)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        const char **keys = tq_calloc(m->alloc, cap, sizeof(*keys));
        int32_t *vals = tq_calloc(m->alloc, cap, sizeof(*vals));
        if (!keys || !vals) {
            tq_free(m->alloc, keys, cap * sizeof(*keys));
            tq_free(m->alloc, vals, cap * sizeof(*vals));
            return false;
        }
        for (size_t i = 0; i < m->cap; i++) {
            if (m->keys[i]) {
                size_t j = (size_t)tf_hash(m->keys[i]) & (cap - 1);
                while (keys[j]) {
                    j = (j + 1) & (cap - 1);
                }
                keys[j] = m->keys[i];
                vals[j] = m->vals[i];
            }
        }
        size_t n = m->n;
        tf_map_free(m);
        m->keys = keys;
        m->vals = vals;
        m->cap = cap;
        m->n = n;
    }
    size_t j = (size_t)tf_hash(k) & (m->cap - 1);
    while (m->keys[j]) {
        if (strcmp(m->keys[j], k) == 0) {
            m->vals[j] = v;
            return true;
        }
        j = (j + 1) & (m->cap - 1);
    }
    m->keys[j] = k;
    m->vals[j] = v;
    m->n++;
    return true;
}

/* ---- import state ---- */

/* One TF tensor as the IR sees it. */
typedef struct tf_val {
    int32_t v;    /* IR value with TF's layout, or -1 */
    int32_t v_cf; /* the same rank-4 tensor permuted NHWC -> NCHW, or -1 */
    int32_t var;  /* resource handle: index into tf_imp.vars, or -1 */
    int32_t rank; /* from _output_shapes, or -1 */
} tf_val;

typedef struct tf_var {
    const char *name;  /* VarHandleOp shared_name */
    int32_t value;     /* IR constant once read, or -1 */
} tf_var;

enum { TF_TODO = 0, TF_BUSY = 1, TF_DONE = 2 };

typedef struct tf_scope {
    const char *fname;              /* function name, "" for the main graph */
    Tqtf__NodeDef **nodes;
    size_t n_nodes;
    tf_map by_name;
    tf_val **outs;                  /* per node: its outputs (arena), NULL until converted */
    int32_t *n_outs;
    uint8_t *state;
    const Tqtf__FunctionDef *fd;    /* NULL for the main graph */
    tf_val **args;                  /* function arguments (the caller's values) */
    size_t n_args;
    int depth;
} tf_scope;

typedef struct tf_imp {
    const tfmq_allocator *alloc;
    tq_graph *g;
    tq_arena *arena;
    const char *dir;                /* the SavedModel directory */
    const Tqtf__GraphDef *gd;
    tf_map fn_by_name;              /* library function name -> index */
    tf_map names;                   /* IR value names in use */
    tf_var *vars;
    size_t n_vars, cap_vars;
    tf_map var_by_name;
    tq_tf_bundle bundle;
    bool bundle_open;
    tf_map ckpt_key;                /* variable full_name -> index into ckpt_keys */
    const char **ckpt_keys;
    size_t n_ckpt_keys;
    /* TF2: a top-level VarHandleOp's shared_name -> object graph node id, from the bound_inputs
     * of the concrete function a top-level call captures it for. Exact where names are not:
     * a Keras 3 export of a process that made another model names its handles 'x/kernel_1'
     * while the checkpoint's full_name stays 'x/kernel'. */
    tf_map var_obj;
    const char **obj_keys;          /* object graph node id -> checkpoint key (or NULL) */
    size_t n_obj_keys;
} tf_imp;

static const char *tf_s(const char *s)
{
    return s ? s : "";
}

/* "tf: node 'x' (Op)[ in function 'f']: <msg>" */
static tfmq_status tf_node_fail(const tf_scope *sc, const Tqtf__NodeDef *nd, tfmq_status st,
                                const char *fmt, ...) TQ_PRINTF(4, 5);
static tfmq_status tf_node_fail(const tf_scope *sc, const Tqtf__NodeDef *nd, tfmq_status st,
                                const char *fmt, ...)
{
    char msg[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (sc && sc->fname[0]) {
        return tq_fail(st, "tf: node '%s' (%s) in function '%s': %s", tf_s(nd->name),
                       tf_s(nd->op), sc->fname, msg);
    }
    return tq_fail(st, "tf: node '%s' (%s): %s", tf_s(nd->name), tf_s(nd->op), msg);
}

static tfmq_status tf_oom(void)
{
    return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "tf: out of memory");
}

/* ---- IR building ---- */

/* New value named `base` (made unique). */
static tfmq_status tf_new_value(tf_imp *imp, const char *base, int32_t *v_out)
{
    char buf[512];
    const char *name = base && base[0] ? base : "v";
    for (uint32_t k = 1; tf_map_get(&imp->names, name) >= 0; k++) {
        snprintf(buf, sizeof(buf), "%.480s_%u", base && base[0] ? base : "v", k);
        name = buf;
    }
    tfmq_status st = tq_graph_add_value(imp->g, name, v_out);
    if (st != TFMQ_OK) {
        return st;
    }
    if (!tf_map_put(&imp->names, imp->g->values[*v_out].name, *v_out)) {
        return tf_oom();
    }
    return TFMQ_OK;
}

/* Node with one output, a new value named `name`. Attributes are set with tf_set_*. */
static tfmq_status tf_add(tf_imp *imp, uint32_t op, const char *name, const int32_t *in,
                          int32_t n_in, int32_t n_attrs, int32_t *node_out, int32_t *val_out)
{
    int32_t v, n;
    tfmq_status st = tf_new_value(imp, name, &v);
    if (st != TFMQ_OK) {
        return st;
    }
    if ((st = tq_graph_add_node(imp->g, op, imp->g->values[v].name, n_in, 1, n_attrs, &n)) !=
        TFMQ_OK) {
        return st;
    }
    tq_node *nd = &imp->g->nodes[n];
    for (int32_t i = 0; i < n_in; i++) {
        nd->in[i] = in[i];
    }
    nd->out[0] = v;
    if (node_out) {
        *node_out = n;
    }
    *val_out = v;
    return TFMQ_OK;
}

static void tf_set_i(tf_imp *imp, int32_t n, int32_t k, const char *name, int64_t i)
{
    tq_attr *a = &imp->g->nodes[n].attrs[k];
    a->name = name;
    a->type = TQ_ATTR_INT;
    a->i = i;
}

static void tf_set_f(tf_imp *imp, int32_t n, int32_t k, const char *name, float f)
{
    tq_attr *a = &imp->g->nodes[n].attrs[k];
    a->name = name;
    a->type = TQ_ATTR_FLOAT;
    a->f = f;
}

static void tf_set_s(tf_imp *imp, int32_t n, int32_t k, const char *name, const char *s)
{
    tq_attr *a = &imp->g->nodes[n].attrs[k];
    a->name = name;
    a->type = TQ_ATTR_STRING;
    a->s = s;
}

static tfmq_status tf_set_ints(tf_imp *imp, int32_t n, int32_t k, const char *name,
                               const int64_t *v, size_t cnt)
{
    int64_t *c = tq_arena_alloc(imp->arena, sizeof(int64_t) * (cnt ? cnt : 1));
    if (!c) {
        return tf_oom();
    }
    memcpy(c, v, sizeof(int64_t) * cnt);
    tq_attr *a = &imp->g->nodes[n].attrs[k];
    a->name = name;
    a->type = TQ_ATTR_INTS;
    a->ints = c;
    a->n = cnt;
    return TFMQ_OK;
}

/* Constant value; data (may be NULL: zeros) is copied. */
static tfmq_status tf_const(tf_imp *imp, const char *name, tfmq_dtype dt, int32_t rank,
                            const int64_t *dims, const void *data, int32_t *v_out)
{
    tq_tensor t;
    memset(&t, 0, sizeof(t));
    t.dtype = dt;
    t.rank = rank;
    for (int32_t i = 0; i < rank; i++) {
        t.dims[i] = dims[i];
    }
    size_t bytes;
    if (rank < 0 || rank > TQ_MAX_RANK || !tq_tensor_bytes(&t, &bytes)) {
        return tq_fail(TFMQ_ERR_UNSUPPORTED, "tf: constant '%s': bad dtype or shape", name);
    }
    void *p = tq_graph_alloc_data(imp->g, bytes ? bytes : 1);
    if (!p) {
        return tf_oom();
    }
    if (data && bytes) {
        memcpy(p, data, bytes);
    } else {
        memset(p, 0, bytes ? bytes : 1);
    }
    tfmq_status st = tf_new_value(imp, name, v_out);
    if (st != TFMQ_OK) {
        return st;
    }
    tq_value *val = &imp->g->values[*v_out];
    val->t = t;
    val->t.data = p;
    val->data_bytes = bytes;
    val->flags |= TQ_VALUE_CONST;
    return TFMQ_OK;
}

static tfmq_status tf_const_i64(tf_imp *imp, const char *name, const int64_t *v, size_t n,
                                int32_t *v_out)
{
    int64_t dims[1] = {(int64_t)n};
    return tf_const(imp, name, TFMQ_DTYPE_INT64, 1, dims, v, v_out);
}

static bool tf_is_const(const tf_imp *imp, int32_t v)
{
    return v >= 0 && (imp->g->values[v].flags & TQ_VALUE_CONST) && imp->g->values[v].t.data;
}

/* Integer values of a constant (int32/int64, rank <= 1 or any rank flattened). */
static bool tf_const_ints(const tf_imp *imp, int32_t v, int64_t *dst, size_t cap, size_t *n_out)
{
    if (!tf_is_const(imp, v)) {
        return false;
    }
    const tq_tensor *t = &imp->g->values[v].t;
    if (t->dtype != TFMQ_DTYPE_INT32 && t->dtype != TFMQ_DTYPE_INT64) {
        return false;
    }
    size_t n = tq_tensor_numel(t);
    if (n > cap) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        dst[i] = tq_load_i64(t->dtype, t->data, i);
    }
    *n_out = n;
    return true;
}

static tfmq_status tf_transpose(tf_imp *imp, int32_t x, const int64_t *perm, size_t rank,
                                const char *name, int32_t *v_out)
{
    int32_t n;
    tfmq_status st = tf_add(imp, TQ_OP_TRANSPOSE, name, &x, 1, 1, &n, v_out);
    if (st == TFMQ_OK) {
        st = tf_set_ints(imp, n, 0, "perm", perm, rank);
    }
    return st;
}

static const int64_t tf_to_cf[4] = {0, 3, 1, 2};
static const int64_t tf_to_tf[4] = {0, 2, 3, 1};

/* x with TF's layout (inserting NCHW -> NHWC once). */
static tfmq_status tf_get(tf_imp *imp, tf_val *x, int32_t *v_out)
{
    if (x->v < 0 && x->v_cf >= 0) {
        char name[512];
        snprintf(name, sizeof(name), "%.480s_nhwc", imp->g->values[x->v_cf].name);
        tfmq_status st = tf_transpose(imp, x->v_cf, tf_to_tf, 4, name, &x->v);
        if (st != TFMQ_OK) {
            return st;
        }
    }
    if (x->v < 0) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "tf: a resource is used as a tensor");
    }
    *v_out = x->v;
    return TFMQ_OK;
}

/* x permuted to NCHW (inserting NHWC -> NCHW once). */
static tfmq_status tf_get_cf(tf_imp *imp, tf_val *x, int32_t *v_out)
{
    if (x->v_cf < 0) {
        if (x->v < 0) {
            return tq_fail(TFMQ_ERR_INVALID_ARG, "tf: a resource is used as a tensor");
        }
        char name[512];
        snprintf(name, sizeof(name), "%.480s_nchw", imp->g->values[x->v].name);
        tfmq_status st = tf_transpose(imp, x->v, tf_to_cf, 4, name, &x->v_cf);
        if (st != TFMQ_OK) {
            return st;
        }
    }
    *v_out = x->v_cf;
    return TFMQ_OK;
}

/* Permute a constant's data into a new constant (dims[i] = src dims[perm[i]]). */
static tfmq_status tf_permute_const(tf_imp *imp, int32_t src, const int64_t *perm, int32_t rank,
                                    const char *name, int32_t *v_out)
{
    const tq_tensor *s = &imp->g->values[src].t;
    if (s->rank != rank) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "tf: constant '%s' has rank %d, expected %d", name,
                       s->rank, rank);
    }
    int64_t dims[TQ_MAX_RANK], sstride[TQ_MAX_RANK];
    for (int32_t i = 0; i < rank; i++) {
        dims[i] = s->dims[perm[i]];
    }
    int64_t acc = 1;
    for (int32_t i = rank - 1; i >= 0; i--) {
        sstride[i] = acc;
        acc *= s->dims[i];
    }
    tfmq_dtype dt = s->dtype;
    const uint8_t *sd = s->data;
    tfmq_status st = tf_const(imp, name, dt, rank, dims, NULL, v_out);
    if (st != TFMQ_OK) {
        return st;
    }
    uint8_t *dd = imp->g->values[*v_out].t.data;
    size_t es = tq_dtype_size(dt), n = tq_tensor_numel(&imp->g->values[*v_out].t);
    int64_t idx[TQ_MAX_RANK] = {0};
    for (size_t o = 0; o < n; o++) {
        int64_t off = 0;
        for (int32_t i = 0; i < rank; i++) {
            off += idx[i] * sstride[perm[i]];
        }
        memcpy(dd + o * es, sd + (size_t)off * es, es);
        for (int32_t i = rank - 1; i >= 0; i--) {
            if (++idx[i] < dims[i]) {
                break;
            }
            idx[i] = 0;
        }
    }
    return TFMQ_OK;
}

/* ---- TF attributes ---- */

static const Tqtf__AttrValue *tf_attr(const Tqtf__NodeDef *nd, const char *name)
{
    for (size_t i = 0; i < nd->n_attr; i++) {
        if (nd->attr[i] && nd->attr[i]->key && strcmp(nd->attr[i]->key, name) == 0) {
            return nd->attr[i]->value;
        }
    }
    return NULL;
}

/* Bytes attribute as a string into buf ("" if absent). */
static const char *tf_attr_str(const Tqtf__NodeDef *nd, const char *name, const char *dflt,
                               char *buf, size_t n)
{
    const Tqtf__AttrValue *a = tf_attr(nd, name);
    if (!a || a->value_case != TQTF__ATTR_VALUE__VALUE_S) {
        return dflt;
    }
    size_t len = a->s.len < n - 1 ? a->s.len : n - 1;
    memcpy(buf, a->s.data, len);
    buf[len] = 0;
    return buf;
}

static int64_t tf_attr_int(const Tqtf__NodeDef *nd, const char *name, int64_t dflt)
{
    const Tqtf__AttrValue *a = tf_attr(nd, name);
    if (!a) {
        return dflt;
    }
    if (a->value_case == TQTF__ATTR_VALUE__VALUE_I) {
        return a->i;
    }
    if (a->value_case == TQTF__ATTR_VALUE__VALUE_B) {
        return a->b;
    }
    if (a->value_case == TQTF__ATTR_VALUE__VALUE_TYPE) {
        return a->type;
    }
    return dflt;
}

static float tf_attr_float(const Tqtf__NodeDef *nd, const char *name, float dflt)
{
    const Tqtf__AttrValue *a = tf_attr(nd, name);
    return a && a->value_case == TQTF__ATTR_VALUE__VALUE_F ? a->f : dflt;
}

/* List-of-int attribute; NULL if absent. */
static const int64_t *tf_attr_ints(const Tqtf__NodeDef *nd, const char *name, size_t *n)
{
    const Tqtf__AttrValue *a = tf_attr(nd, name);
    *n = 0;
    if (!a || a->value_case != TQTF__ATTR_VALUE__VALUE_LIST || !a->list) {
        return NULL;
    }
    *n = a->list->n_i;
    return a->list->i;
}

/* ---- TensorProto -> constant ---- */

static tfmq_status tf_tensor_const(tf_imp *imp, const tf_scope *sc, const Tqtf__NodeDef *nd,
                                   const Tqtf__TensorProto *tp, int32_t *v_out)
{
    tfmq_dtype dt;
    if (!tp) {
        return tf_node_fail(sc, nd, TFMQ_ERR_PARSE, "no tensor value");
    }
    if (!tq_tf_dtype(tp->dtype, &dt)) {
        return tf_node_fail(sc, nd, TFMQ_ERR_UNSUPPORTED, "TF dtype %d is not supported",
                            tp->dtype);
    }
    tq_tensor t;
    memset(&t, 0, sizeof(t));
    t.dtype = dt;
    const Tqtf__TensorShapeProto *sp = tp->tensor_shape;
    if (sp && (sp->unknown_rank || sp->n_dim > TQ_MAX_RANK)) {
        return tf_node_fail(sc, nd, TFMQ_ERR_UNSUPPORTED, "tensor of unknown or too high rank");
    }
    t.rank = sp ? (int32_t)sp->n_dim : 0;
    for (int32_t i = 0; i < t.rank; i++) {
        t.dims[i] = sp->dim[i] ? sp->dim[i]->size : -1;
        if (t.dims[i] < 0) {
            return tf_node_fail(sc, nd, TFMQ_ERR_PARSE, "tensor dim %d is %lld", i,
                                (long long)t.dims[i]);
        }
    }
    size_t bytes;
    if (!tq_tensor_bytes(&t, &bytes)) {
        return tf_node_fail(sc, nd, TFMQ_ERR_UNSUPPORTED, "tensor too large");
    }
    tfmq_status st = tf_const(imp, tf_s(nd->name), dt, t.rank, t.dims, NULL, v_out);
    if (st != TFMQ_OK) {
        return st;
    }
    void *d = imp->g->values[*v_out].t.data;
    size_t n = tq_tensor_numel(&t), es = tq_dtype_size(dt);
    if (tp->tensor_content.len) {
        if (tp->tensor_content.len != bytes) {
            return tf_node_fail(sc, nd, TFMQ_ERR_PARSE, "tensor_content has %zu bytes, shape needs %zu",
                                tp->tensor_content.len, bytes);
        }
        memcpy(d, tp->tensor_content.data, bytes);
        return TFMQ_OK;
    }
    /* typed fields; fewer values than elements repeat the last (TF's convention) */
    size_t nv = 0;
    switch (dt) {
    case TFMQ_DTYPE_FLOAT32: nv = tp->n_float_val; break;
    case TFMQ_DTYPE_FLOAT64: nv = tp->n_double_val; break;
    case TFMQ_DTYPE_INT64: nv = tp->n_int64_val; break;
    case TFMQ_DTYPE_BOOL: nv = tp->n_bool_val; break;
    case TFMQ_DTYPE_FLOAT16:
    case TFMQ_DTYPE_BFLOAT16: nv = tp->n_half_val; break;
    case TFMQ_DTYPE_UINT32: nv = tp->n_uint32_val; break;
    case TFMQ_DTYPE_UINT64: nv = tp->n_uint64_val; break;
    default: nv = tp->n_int_val; break;
    }
    if (nv > n) {
        return tf_node_fail(sc, nd, TFMQ_ERR_PARSE, "%zu values for %zu elements", nv, n);
    }
    if (nv == 0) {
        return TFMQ_OK; /* zeros */
    }
    for (size_t i = 0; i < n; i++) {
        size_t j = i < nv ? i : nv - 1;
        uint8_t *p = (uint8_t *)d + i * es;
        switch (dt) {
        case TFMQ_DTYPE_FLOAT32: memcpy(p, &tp->float_val[j], 4); break;
        case TFMQ_DTYPE_FLOAT64: memcpy(p, &tp->double_val[j], 8); break;
        case TFMQ_DTYPE_INT64: memcpy(p, &tp->int64_val[j], 8); break;
        case TFMQ_DTYPE_BOOL: *p = tp->bool_val[j] ? 1 : 0; break;
        case TFMQ_DTYPE_FLOAT16:
        case TFMQ_DTYPE_BFLOAT16: {
            uint16_t h = (uint16_t)tp->half_val[j];
            memcpy(p, &h, 2);
            break;
        }
        case TFMQ_DTYPE_UINT32: memcpy(p, &tp->uint32_val[j], 4); break;
        case TFMQ_DTYPE_UINT64: memcpy(p, &tp->uint64_val[j], 8); break;
        default: tq_store_i64(dt, d, i, tp->int_val[j]); break;
        }
    }
    return TFMQ_OK;
}

/* ---- variables ---- */

static tfmq_status tf_open_bundle(tf_imp *imp)
{
    char prefix[4096];
    tfmq_status st;
    if (imp->bundle_open) {
        return TFMQ_OK;
    }
    struct stat sb;
    snprintf(prefix, sizeof(prefix), "%s/variables", imp->dir);
    if (stat(prefix, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        return tq_fail(TFMQ_ERR_IO, "tf: %s: missing: the SavedModel has variables but no "
                       "variables/ directory", prefix);
    }
    snprintf(prefix, sizeof(prefix), "%s/variables/variables", imp->dir);
    if ((st = tq_tf_bundle_open(&imp->bundle, prefix, imp->alloc)) != TFMQ_OK) {
        return st;
    }
    imp->bundle_open = true;
    /* object graph: variable full names -> checkpoint keys (TF2 object-based checkpoints) */
    const tq_tf_bundle_ent *e = tq_tf_bundle_find(&imp->bundle, "_CHECKPOINTABLE_OBJECT_GRAPH");
    if (!e) {
        return TFMQ_OK; /* TF1 bundle: keys are variable names */
    }
    uint8_t *data;
    size_t n;
    if ((st = tq_tf_bundle_read_string(&imp->bundle, e, &data, &n)) != TFMQ_OK) {
        return st;
    }
    tq_onnx_pb_alloc pa;
    tq_onnx_pb_alloc_init(&pa, imp->alloc);
    Tqtf__TrackableObjectGraph *og = NULL;
    if ((st = tq_onnx_wire_check(&tqtf__trackable_object_graph__descriptor, data, n,
                                 "object graph")) == TFMQ_OK) {
        og = tqtf__trackable_object_graph__unpack(&pa.pb, n, data);
    }
    tq_free(imp->alloc, data, n + 1);
    if (!og) {
        return tq_fail(pa.oom ? TFMQ_ERR_OUT_OF_MEMORY : TFMQ_ERR_PARSE,
                       "tf: %s.index: malformed _CHECKPOINTABLE_OBJECT_GRAPH", prefix);
    }
    size_t total = 0;
    for (size_t i = 0; i < og->n_nodes; i++) {
        total += og->nodes[i] ? og->nodes[i]->n_attributes : 0;
    }
    imp->ckpt_keys = tq_arena_alloc(imp->arena, sizeof(char *) * (total ? total : 1));
    imp->obj_keys = tq_arena_alloc(imp->arena, sizeof(char *) * (og->n_nodes ? og->n_nodes : 1));
    st = imp->ckpt_keys && imp->obj_keys ? TFMQ_OK : tf_oom();
    if (st == TFMQ_OK) {
        memset(imp->obj_keys, 0, sizeof(char *) * (og->n_nodes ? og->n_nodes : 1));
        imp->n_obj_keys = og->n_nodes;
    }
    for (size_t i = 0; i < og->n_nodes && st == TFMQ_OK; i++) {
        const Tqtf__TrackableObjectGraph__TrackableObject *o = og->nodes[i];
        for (size_t j = 0; o && j < o->n_attributes && st == TFMQ_OK; j++) {
            const Tqtf__TrackableObjectGraph__TrackableObject__SerializedTensor *a =
                o->attributes[j];
            if (!a || strcmp(tf_s(a->name), "VARIABLE_VALUE") != 0 || !tf_s(a->full_name)[0]) {
                continue;
            }
            const char *fn = tq_arena_strdup(imp->arena, a->full_name);
            const char *ck = tq_arena_strdup(imp->arena, tf_s(a->checkpoint_key));
            if (!fn || !ck || !tf_map_put(&imp->ckpt_key, fn, (int32_t)imp->n_ckpt_keys)) {
                st = tf_oom();
                break;
            }
            imp->ckpt_keys[imp->n_ckpt_keys++] = ck;
            imp->obj_keys[i] = ck;
        }
    }
    tqtf__trackable_object_graph__free_unpacked(og, &pa.pb);
    return st;
}

static tfmq_status tf_var_index(tf_imp *imp, const char *name, int32_t *idx_out)
{
    int32_t i = tf_map_get(&imp->var_by_name, name);
    if (i < 0) {
        if (imp->n_vars == imp->cap_vars) {
            size_t cap = imp->cap_vars ? imp->cap_vars * 2 : 64;
            tf_var *v = tq_realloc(imp->alloc, imp->vars, imp->cap_vars * sizeof(*v),
                                   cap * sizeof(*v));
            if (!v) {
                return tf_oom();
            }
            imp->vars = v;
            imp->cap_vars = cap;
        }
        const char *nm = tq_arena_strdup(imp->arena, name);
        if (!nm) {
            return tf_oom();
        }
        i = (int32_t)imp->n_vars++;
        imp->vars[i].name = nm;
        imp->vars[i].value = -1;
        if (!tf_map_put(&imp->var_by_name, nm, i)) {
            return tf_oom();
        }
    }
    *idx_out = i;
    return TFMQ_OK;
}

static tfmq_status tf_read_var(tf_imp *imp, const tf_scope *sc, const Tqtf__NodeDef *nd,
                               int32_t var, int32_t *v_out)
{
    tfmq_status st;
    tf_var *vr = &imp->vars[var];
    if (vr->value >= 0) {
        *v_out = vr->value;
        return TFMQ_OK;
    }
    if ((st = tf_open_bundle(imp)) != TFMQ_OK) {
        return st;
    }
    int32_t k = tf_map_get(&imp->ckpt_key, vr->name);
    const char *key = k >= 0 ? imp->ckpt_keys[k] : vr->name;
    int32_t obj = tf_map_get(&imp->var_obj, vr->name);
    if (obj >= 0 && (size_t)obj < imp->n_obj_keys && imp->obj_keys[obj]) {
        key = imp->obj_keys[obj];
    }
    const tq_tf_bundle_ent *e = tq_tf_bundle_find(&imp->bundle, key);
    if (!e) {
        return tf_node_fail(sc, nd, TFMQ_ERR_PARSE,
                            "variable '%s' (checkpoint key '%s') is not in %s.index", vr->name,
                            key, imp->bundle.prefix);
    }
    tq_tensor t;
    size_t bytes;
    if ((st = tq_tf_bundle_read(&imp->bundle, e, imp->g, &t, &bytes)) != TFMQ_OK) {
        return st;
    }
    int32_t v;
    if ((st = tf_new_value(imp, vr->name, &v)) != TFMQ_OK) {
        return st;
    }
    tq_value *val = &imp->g->values[v];
    val->t = t;
    val->data_bytes = bytes;
    val->flags |= TQ_VALUE_CONST;
    imp->vars[var].value = v;
    *v_out = v;
    return TFMQ_OK;
}

/* ---- references "node", "node:k", "node:out_arg:k", "arg", "^ctrl" ---- */

static int32_t tf_fn_index(const tf_imp *imp, const char *name)
{
    return tf_map_get(&imp->fn_by_name, name);
}

static const Tqtf__FunctionDef *tf_callee(const tf_imp *imp, const Tqtf__NodeDef *nd)
{
    const char *op = tf_s(nd->op);
    if (!strcmp(op, "PartitionedCall") || !strcmp(op, "StatefulPartitionedCall")) {
        const Tqtf__AttrValue *f = tf_attr(nd, "f");
        if (!f || f->value_case != TQTF__ATTR_VALUE__VALUE_FUNC || !f->func) {
            return NULL;
        }
        int32_t i = tf_fn_index(imp, tf_s(f->func->name));
        return i >= 0 ? imp->gd->library->function[i] : NULL;
    }
    int32_t i = tf_fn_index(imp, op);
    return i >= 0 ? imp->gd->library->function[i] : NULL;
}

/* Flat output index of "out_arg:k" of node nd. */
static bool tf_out_index(const tf_imp *imp, const Tqtf__NodeDef *nd, const char *arg, int64_t k,
                         int64_t *flat)
{
    static const char *const bn[] = {"y", "batch_mean", "batch_variance", "reserve_space_1",
                                     "reserve_space_2", "reserve_space_3"};
    const char *op = tf_s(nd->op);
    if (!strncmp(op, "FusedBatchNorm", 14)) {
        for (int64_t i = 0; i < 6; i++) {
            if (!strcmp(arg, bn[i])) {
                *flat = i + k;
                return k == 0;
            }
        }
        return false;
    }
    if (strcmp(op, "PartitionedCall") && strcmp(op, "StatefulPartitionedCall")) {
        const Tqtf__FunctionDef *fd = tf_callee(imp, nd);
        if (fd && fd->signature) {
            for (size_t i = 0; i < fd->signature->n_output_arg; i++) {
                if (!strcmp(tf_s(fd->signature->output_arg[i]->name), arg)) {
                    *flat = (int64_t)i + k;
                    return k == 0;
                }
            }
            return false;
        }
    }
    *flat = k;
    return true;
}

typedef struct tf_ref {
    int32_t node; /* node index in the scope, or -1 */
    int32_t arg;  /* argument index, or -1 */
    int64_t out;  /* flat output index */
} tf_ref;

static bool tf_parse_k(const char *s, int64_t *k)
{
    int64_t v = 0;
    if (!*s) {
        return false;
    }
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > 100000) {
            return false;
        }
        v = v * 10 + (*s - '0');
    }
    *k = v;
    return true;
}

/* Parse a data reference; control inputs give false with *ctrl set. */
static tfmq_status tf_parse_ref(const tf_imp *imp, const tf_scope *sc, const Tqtf__NodeDef *user,
                                const char *ref, tf_ref *r, bool *ctrl)
{
    char buf[1024];
    *ctrl = ref[0] == '^';
    r->node = r->arg = -1;
    r->out = 0;
    if (*ctrl) {
        return TFMQ_OK;
    }
    size_t len = strlen(ref);
    if (len >= sizeof(buf)) {
        return tf_node_fail(sc, user, TFMQ_ERR_PARSE, "input name too long");
    }
    memcpy(buf, ref, len + 1);
    char *c1 = strchr(buf, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (c1) {
        *c1 = 0;
    }
    if (c2) {
        *c2 = 0;
    }
    if (!c1 && sc->fd) {
        for (size_t i = 0; i < sc->n_args; i++) {
            if (!strcmp(tf_s(sc->fd->signature->input_arg[i]->name), buf)) {
                r->arg = (int32_t)i;
                return TFMQ_OK;
            }
        }
    }
    r->node = tf_map_get(&sc->by_name, buf);
    if (r->node < 0) {
        return tf_node_fail(sc, user, TFMQ_ERR_PARSE, "input '%s' names no node", ref);
    }
    int64_t k = 0;
    if (c2) {
        if (!tf_parse_k(c2 + 1, &k) ||
            !tf_out_index(imp, sc->nodes[r->node], c1 + 1, k, &r->out)) {
            return tf_node_fail(sc, user, TFMQ_ERR_PARSE, "bad input reference '%s'", ref);
        }
    } else if (c1) {
        if (!tf_parse_k(c1 + 1, &r->out)) {
            return tf_node_fail(sc, user, TFMQ_ERR_PARSE, "bad input reference '%s'", ref);
        }
    }
    return TFMQ_OK;
}

/* ---- scopes ---- */

static void tf_scope_free(tf_imp *imp, tf_scope *sc)
{
    size_t nn = sc->n_nodes ? sc->n_nodes : 1; /* as allocated by tf_scope_init */
    tf_map_free(&sc->by_name);
    tq_free(imp->alloc, sc->outs, nn * sizeof(*sc->outs));
    tq_free(imp->alloc, sc->n_outs, nn * sizeof(*sc->n_outs));
    tq_free(imp->alloc, sc->state, nn);
}

static tfmq_status tf_scope_init(tf_imp *imp, tf_scope *sc, const char *fname,
                                 Tqtf__NodeDef **nodes, size_t n_nodes, int depth)
{
    memset(sc, 0, sizeof(*sc));
    sc->fname = fname;
    sc->nodes = nodes;
    sc->n_nodes = n_nodes;
    sc->depth = depth;
    sc->by_name.alloc = imp->alloc;
    if (n_nodes > TQ_MAX_NODES) {
        return tq_fail(TFMQ_ERR_UNSUPPORTED, "tf: %zu nodes", n_nodes);
    }
    size_t nn = n_nodes ? n_nodes : 1;
    sc->outs = tq_calloc(imp->alloc, nn, sizeof(*sc->outs));
    sc->n_outs = tq_calloc(imp->alloc, nn, sizeof(*sc->n_outs));
    sc->state = tq_calloc(imp->alloc, nn, 1);
    if (!sc->outs || !sc->n_outs || !sc->state) {
        return tf_oom();
    }
    for (size_t i = 0; i < n_nodes; i++) {
        if (!nodes[i] || !nodes[i]->name || !nodes[i]->op) {
            return tq_fail(TFMQ_ERR_PARSE, "tf: node %zu%s%s has no name or op", i,
                           fname[0] ? " of function " : "", fname);
        }
        if (tf_map_get(&sc->by_name, nodes[i]->name) >= 0) {
            return tq_fail(TFMQ_ERR_PARSE, "tf: two nodes are named '%s'", nodes[i]->name);
        }
        if (!tf_map_put(&sc->by_name, nodes[i]->name, (int32_t)i)) {
            return tf_oom();
        }
    }
    return TFMQ_OK;
}

/* Outputs of node i: n entries, all absent, ranks from _output_shapes. */
static tfmq_status tf_alloc_outs(tf_imp *imp, tf_scope *sc, size_t i, int32_t n)
{
    tf_val *o = tq_arena_alloc(imp->arena, sizeof(tf_val) * (size_t)(n > 0 ? n : 1));
    if (!o) {
        return tf_oom();
    }
    const Tqtf__AttrValue *os = tf_attr(sc->nodes[i], "_output_shapes");
    for (int32_t k = 0; k < n; k++) {
        o[k].v = o[k].v_cf = o[k].var = o[k].rank = -1;
        if (os && os->value_case == TQTF__ATTR_VALUE__VALUE_LIST && os->list &&
            (size_t)k < os->list->n_shape && os->list->shape[k] &&
            !os->list->shape[k]->unknown_rank) {
            o[k].rank = (int32_t)os->list->shape[k]->n_dim;
        }
    }
    sc->outs[i] = o;
    sc->n_outs[i] = n;
    return TFMQ_OK;
}

static tfmq_status tf_eval(tf_imp *imp, tf_scope *sc, int32_t node);

/* The value a reference names, converting what it depends on. */
static tfmq_status tf_resolve(tf_imp *imp, tf_scope *sc, const Tqtf__NodeDef *user,
                              const char *ref, tf_val **out)
{
    tf_ref r;
    bool ctrl;
    tfmq_status st = tf_parse_ref(imp, sc, user, ref, &r, &ctrl);
    if (st != TFMQ_OK) {
        return st;
    }
    if (ctrl) {
        return tf_node_fail(sc, user, TFMQ_ERR_PARSE, "control input '%s' used as data", ref);
    }
    if (r.arg >= 0) {
        *out = sc->args[r.arg];
        return TFMQ_OK;
    }
    if ((st = tf_eval(imp, sc, r.node)) != TFMQ_OK) {
        return st;
    }
    const Tqtf__NodeDef *src = sc->nodes[r.node];
    if (r.out >= sc->n_outs[r.node]) {
        return tf_node_fail(sc, user, TFMQ_ERR_PARSE, "input '%s': node '%s' has %d outputs",
                            ref, src->name, sc->n_outs[r.node]);
    }
    tf_val *v = &sc->outs[r.node][r.out];
    if (v->v < 0 && v->v_cf < 0 && v->var < 0) {
        return tf_node_fail(sc, user, TFMQ_ERR_UNSUPPORTED,
                            "input '%s': output %lld of node '%s' (%s) is not supported", ref,
                            (long long)r.out, src->name, src->op);
    }
    *out = v;
    return TFMQ_OK;
}

/* ---- op conversion ---- */

typedef struct tf_node_ctx {
    tf_imp *imp;
    tf_scope *sc;
    const Tqtf__NodeDef *nd;
    tf_val **in;   /* data inputs */
    size_t n_in;
    tf_val *out;   /* sc->outs[node] */
    int32_t n_out;
} tf_node_ctx;

#define TF_FAIL(c, st, ...) tf_node_fail((c)->sc, (c)->nd, (st), __VA_ARGS__)

static tfmq_status tf_need_inputs(const tf_node_ctx *c, size_t lo, size_t hi)
{
    if (c->n_in < lo || c->n_in > hi) {
        return TF_FAIL(c, TFMQ_ERR_PARSE, "%zu inputs (expected %zu to %zu)", c->n_in, lo, hi);
    }
    return TFMQ_OK;
}

/* Simple op with inputs already chosen; output written as TF layout (cf=false) or NCHW. */
static tfmq_status tf_emit(tf_node_ctx *c, uint32_t op, const int32_t *ins, int32_t n,
                           int32_t n_attrs, bool cf, int32_t *node_out)
{
    int32_t v;
    tfmq_status st = tf_add(c->imp, op, tf_s(c->nd->name), ins, n, n_attrs, node_out, &v);
    if (st == TFMQ_OK) {
        if (cf) {
            c->out[0].v_cf = v;
        } else {
            c->out[0].v = v;
        }
    }
    return st;
}

/* Elementwise unary op that keeps whatever layout its input has. */
static tfmq_status tf_unary(tf_node_ctx *c, uint32_t op, int32_t n_attrs, int32_t *node_out)
{
    tfmq_status st = tf_need_inputs(c, 1, 1);
    if (st != TFMQ_OK) {
        return st;
    }
    tf_val *x = c->in[0];
    bool cf = x->v_cf >= 0;
    int32_t xv;
    if (!cf && (st = tf_get(c->imp, x, &xv)) != TFMQ_OK) {
        return st;
    }
    if (cf) {
        xv = x->v_cf;
    }
    return tf_emit(c, op, &xv, 1, n_attrs, cf, node_out);
}

static bool tf_is_scalar_const(const tf_imp *imp, const tf_val *x)
{
    return x->v >= 0 && tf_is_const(imp, x->v) && imp->g->values[x->v].t.rank <= 1 &&
           tq_tensor_numel(&imp->g->values[x->v].t) == 1;
}

static tfmq_status tf_binary(tf_node_ctx *c, uint32_t op)
{
    tfmq_status st = tf_need_inputs(c, 2, 2);
    if (st != TFMQ_OK) {
        return st;
    }
    tf_val *a = c->in[0], *b = c->in[1];
    bool cf = (a->v_cf >= 0 && (b->v_cf >= 0 || tf_is_scalar_const(c->imp, b))) ||
              (b->v_cf >= 0 && tf_is_scalar_const(c->imp, a));
    int32_t ins[2];
    for (int i = 0; i < 2; i++) {
        tf_val *x = c->in[i];
        if (cf && x->v_cf >= 0) {
            ins[i] = x->v_cf;
        } else if ((st = tf_get(c->imp, x, &ins[i])) != TFMQ_OK) {
            return st;
        }
    }
    return tf_emit(c, op, ins, 2, 0, cf, NULL);
}

static tfmq_status tf_padding_attr(tf_node_ctx *c, int32_t n, int32_t k, bool nhwc)
{
    char buf[32];
    const char *pad = tf_attr_str(c->nd, "padding", "", buf, sizeof(buf));
    if (!strcmp(pad, "SAME")) {
        tf_set_s(c->imp, n, k, "auto_pad", "SAME_UPPER"); /* TF puts the odd pixel at the end */
        return TFMQ_OK;
    }
    if (!strcmp(pad, "VALID")) {
        tf_set_s(c->imp, n, k, "auto_pad", "VALID");
        return TFMQ_OK;
    }
    if (!strcmp(pad, "EXPLICIT")) {
        size_t ne;
        const int64_t *e = tf_attr_ints(c->nd, "explicit_paddings", &ne);
        if (ne != 8) {
            return TF_FAIL(c, TFMQ_ERR_PARSE, "explicit_paddings has %zu entries", ne);
        }
        int64_t h = nhwc ? 1 : 2, w = nhwc ? 2 : 3;
        int64_t pads[4] = {e[2 * h], e[2 * w], e[2 * h + 1], e[2 * w + 1]};
        return tf_set_ints(c->imp, n, k, "pads", pads, 4);
    }
    return TF_FAIL(c, TFMQ_ERR_UNSUPPORTED, "padding '%s' not supported", pad);
}

/* strides/dilations/ksize attribute: the two spatial entries. */
static tfmq_status tf_spatial2(tf_node_ctx *c, const char *name, bool nhwc, int64_t dflt,
                               int64_t out[2])
{
    size_t n;
    const int64_t *v = tf_attr_ints(c->nd, name, &n);
    if (!v) {
        out[0] = out[1] = dflt;
        return TFMQ_OK;
    }
    if (n != 4) {
        return TF_FAIL(c, TFMQ_ERR_UNSUPPORTED, "%s has %zu entries (only 2-D is supported)",
                       name, n);
    }
    out[0] = nhwc ? v[1] : v[2];
    out[1] = nhwc ? v[2] : v[3];
    if ((nhwc ? v[0] : v[0]) != 1 || (nhwc ? v[3] : v[1]) != 1) {
        return TF_FAIL(c, TFMQ_ERR_UNSUPPORTED, "%s over batch or channels", name);
    }
    return TFMQ_OK;
}

static tfmq_status tf_data_format(tf_node_ctx *c, bool *nhwc)
{
    char buf[16];
    const char *f = tf_attr_str(c->nd, "data_format", "NHWC", buf, sizeof(buf));
    if (!strcmp(f, "NHWC")) {
        *nhwc = true;
    } else if (!strcmp(f, "NCHW")) {
        *nhwc = false;
    } else {
        return TF_FAIL(c, TFMQ_ERR_UNSUPPORTED, "data_format '%s' not supported", f);
    }
    return TFMQ_OK;
}

/* Input in NCHW: the twin for NHWC ops, the value itself for NCHW ops. */
static tfmq_status tf_spatial_in(tf_node_ctx *c, tf_val *x, bool nhwc, int32_t *v)
{
    return nhwc ? tf_get_cf(c->imp, x, v) : tf_get(c->imp, x, v);
}

static tfmq_status tf_conv(tf_node_ctx *c, bool depthwise)
{
    tfmq_status st = tf_need_inputs(c, 2, 2);
    bool nhwc;
    int64_t strides[2], dil[2];
    int32_t x, w, n;
    if (st != TFMQ_OK || (st = tf_data_format(c, &nhwc)) != TFMQ_OK ||
        (st = tf_spatial2(c, "strides", nhwc, 1, strides)) != TFMQ_OK ||
        (st = tf_spatial2(c, "dilations", nhwc, 1, dil)) != TFMQ_OK ||
        (st = tf_spatial_in(c, c->in[0], nhwc, &x)) != TFMQ_OK ||
        (st = tf_get(c->imp, c->in[1], &w)) != TFMQ_OK) {
        return st;
    }
    if (!tf_is_const(c->imp, w) || c->imp->g->values[w].t.rank != 4) {
        return TF_FAIL(c, TFMQ_ERR_UNSUPPORTED, "filter must be a constant of rank 4");
    }
    char name[512];
    snprintf(name, sizeof(name), "%.480s/filter_oihw", tf_s(c->nd->name));
    int64_t group = 1;
    int32_t wo;
    if (!depthwise) {
        static const int64_t hwio_to_oihw[4] = {3, 2, 0, 1};
        st = tf_permute_const(c->imp, w, hwio_to_oihw, 4, name, &wo);
    } else {
        /* [H, W, C, M] -> [C, M, H, W] = ONNX [C*M, 1, H, W] with group C */
        static const int64_t hwcm_to_cmhw[4] = {2, 3, 0, 1};
        st = tf_permute_const(c->imp, w, hwcm_to_cmhw, 4, name, &wo);
        if (st == TFMQ_OK) {
            tq_tensor *t = &c->imp->g->values[wo].t;
            group = t->dims[0];
            t->dims[0] *= t->dims[1];
            t->dims[1] = 1;
        }
    }
    if (st != TFMQ_OK) {
        return st;
    }
    int32_t ins[2] = {x, wo};
    if ((st = tf_emit(c, TQ_OP_CONV, ins, 2, 5, true, &n)) != TFMQ_OK ||
        (st = tf_set_ints(c->imp, n, 0, "strides", strides, 2)) != TFMQ_OK ||
        (st = tf_set_ints(c->imp, n, 1, "dilations", dil, 2)) != TFMQ_OK ||
        (st = tf_padding_attr(c, n, 2, nhwc)) != TFMQ_OK) {
        return st;
    }
    tf_set_i(c->imp, n, 3, "group", group);
    const tq_tensor *wt = &c->imp->g->values[wo].t;
    int64_t ks[2] = {wt->dims[2], wt->dims[3]};
    if ((st = tf_set_ints(c->imp, n, 4, "kernel_shape", ks, 2)) != TFMQ_OK) {
        return st;
    }
    if (!nhwc) { /* NCHW op: the result is TF's layout */
        c->out[0].v = c->out[0].v_cf;
        c->out[0].v_cf = -1;
    }
    return TFMQ_OK;
}

static tfmq_status tf_pool(tf_node_ctx *c, bool max)
{
    tfmq_status st = tf_need_inputs(c, 1, 1);
    bool nhwc;
    int64_t k[2], s[2];
    int32_t x, n;
    if (st != TFMQ_OK || (st = tf_data_format(c, &nhwc)) != TFMQ_OK ||
        (st = tf_spatial2(c, "ksize", nhwc, 1, k)) != TFMQ_OK ||
        (st = tf_spatial2(c, "strides", nhwc, 1, s)) != TFMQ_OK ||
        (st = tf_spatial_in(c, c->in[0], nhwc, &x)) != TFMQ_OK) {
        return st;
    }
    if ((st = tf_emit(c, max ? TQ_OP_MAX_POOL : TQ_OP_AVERAGE_POOL, &x, 1, max ? 3 : 4, true,
                      &n)) != TFMQ_OK ||
        (st = tf_set_ints(c->imp, n, 0, "kernel_shape", k, 2)) != TFMQ_OK ||
        (st = tf_set_ints(c->imp, n, 1, "strides", s, 2)) != TFMQ_OK ||
        (st = tf_padding_attr(c, n, 2, nhwc)) != TFMQ_OK) {
        return st;
    }
    if (!max) {
        tf_set_i(c->imp, n, 3, "count_include_pad", 0); /* TF's SAME averages exclude padding */
    }
    if (!nhwc) {
        c->out[0].v = c->out[0].v_cf;
        c->out[0].v_cf = -1;
    }
    return TFMQ_OK;
}

/* A rank-1 [C] tensor reshaped to [C, 1, ..., 1] (n_ones ones). */
static tfmq_status tf_channel_vec(tf_node_ctx *c, tf_val *b, int32_t n_ones, int32_t *v_out)
{
    int32_t bv;
    tfmq_status st = tf_get(c->imp, b, &bv);
    if (st != TFMQ_OK) {
        return st;
    }
    char name[512];
    snprintf(name, sizeof(name), "%.480s/bias_c11", tf_s(c->nd->name));
    const tq_value *val = &c->imp->g->values[bv];
    if (tf_is_const(c->imp, bv) && val->t.rank == 1) {
        int64_t dims[TQ_MAX_RANK] = {val->t.dims[0]};
        for (int32_t i = 0; i < n_ones && i + 1 < TQ_MAX_RANK; i++) {
            dims[i + 1] = 1;
        }
        return tf_const(c->imp, name, val->t.dtype, 1 + n_ones, dims, val->t.data, v_out);
    }
    int64_t shape[TQ_MAX_RANK] = {-1};
    for (int32_t i = 0; i < n_ones && i + 1 < TQ_MAX_RANK; i++) {
        shape[i + 1] = 1;
    }
    int32_t sv, ins[2];
    if ((st = tf_const_i64(c->imp, name, shape, (size_t)(1 + n_ones), &sv)) != TFMQ_OK) {
        return st;
    }
    ins[0] = bv;
    ins[1] = sv;
    return tf_add(c->imp, TQ_OP_RESHAPE, name, ins, 2, 0, NULL, v_out);
}

static tfmq_status tf_bias_add(tf_node_ctx *c)
{
    tfmq_status st = tf_need_inputs(c, 2, 2);
    bool nhwc;
    if (st != TFMQ_OK || (st = tf_data_format(c, &nhwc)) != TFMQ_OK) {
        return st;
    }
    tf_val *x = c->in[0];
    int32_t ins[2];
    if (nhwc && x->v_cf < 0) { /* bias broadcasts over the last axis */
        if ((st = tf_get(c->imp, x, &ins[0])) != TFMQ_OK ||
            (st = tf_get(c->imp, c->in[1], &ins[1])) != TFMQ_OK) {
            return st;
        }
        return tf_emit(c, TQ_OP_ADD, ins, 2, 0, false, NULL);
    }
    int32_t rank = nhwc ? 4 : x->rank;
    if (rank < 2) {
        return TF_FAIL(c, TFMQ_ERR_UNSUPPORTED, "NCHW BiasAdd needs a known input rank");
    }
    if ((st = tf_spatial_in(c, x, nhwc, &ins[0])) != TFMQ_OK ||
        (st = tf_channel_vec(c, c->in[1], rank - 2, &ins[1])) != TFMQ_OK) {
        return st;
    }
    return tf_emit(c, TQ_OP_ADD, ins, 2, 0, nhwc, NULL);
}

static tfmq_status tf_batch_norm(tf_node_ctx *c)
{
    tfmq_status st = tf_need_inputs(c, 5, 5);
    bool nhwc;
    if (st != TFMQ_OK || (st = tf_data_format(c, &nhwc)) != TFMQ_OK) {
        return st;
    }
    if (tf_attr_int(c->nd, "is_training", 1) != 0) {
        return TF_FAIL(c, TFMQ_ERR_UNSUPPORTED, "is_training=true (training-mode batch norm)");
    }
    int32_t ins[5], n;
    if ((st = tf_spatial_in(c, c->in[0], nhwc, &ins[0])) != TFMQ_OK) {
        return st;
    }
    for (int i = 1; i < 5; i++) {
        if ((st = tf_get(c->imp, c->in[i], &ins[i])) != TFMQ_OK) {
            return st;
        }
    }
    if ((st = tf_emit(c, TQ_OP_BATCH_NORM, ins, 5, 1, true, &n)) != TFMQ_OK) {
        return st;
    }
    tf_set_f(c->imp, n, 0, "epsilon", tf_attr_float(c->nd, "epsilon", 1e-4f));
    if (!nhwc) {
        c->out[0].v = c->out[0].v_cf;
        c->out[0].v_cf = -1;
    }
    return TFMQ_OK;
}

static tfmq_status tf_matmul(tf_node_ctx *c, bool batch)
{
    tfmq_status st = tf_need_inputs(c, 2, 2);
    if (st != TFMQ_OK) {
        return st;
    }
    const char *ta = batch ? "adj_x" : "transpose_a", *tb = batch ? "adj_y" : "transpose_b";
    int32_t ins[2];
    for (int i = 0; i < 2; i++) {
        if ((st = tf_get(c->imp, c->in[i], &ins[i])) != TFMQ_OK) {
            return st;
        }
        if (!tf_attr_int(c->nd, i ? tb : ta, 0)) {
            continue;
        }
        int32_t rank = batch ? c->in[i]->rank : 2;
        if (rank < 0 && tf_is_const(c->imp, ins[i])) {
            rank = c->imp->g->values[ins[i]].t.rank;
        }
        if (rank < 2 || rank > TQ_MAX_RANK) {
            return TF_FAIL(c, TFMQ_ERR_UNSUPPORTED, "transposed operand of unknown rank");
        }
        int64_t perm[TQ_MAX_RANK];
        for (int32_t j = 0; j < rank; j++) {
            perm[j] = j;
        }
        perm[rank - 2] = rank - 1;
        perm[rank - 1] = rank - 2;
        char name[512];
        snprintf(name, sizeof(name), "%.480s/%s", tf_s(c->nd->name), i ? "b_t" : "a_t");
        st = tf_is_const(c->imp, ins[i])
                 ? tf_permute_const(c->imp, ins[i], perm, rank, name, &ins[i])
                 : tf_transpose(c->imp, ins[i], perm, (size_t)rank, name, &ins[i]);
        if (st != TFMQ_OK) {
            return st;
        }
    }
    return tf_emit(c, TQ_OP_MATMUL, ins, 2, 0, false, NULL);
}

static tfmq_status tf_reduce(tf_node_ctx *c, uint32_t op)
{
    tfmq_status st = tf_need_inputs(c, 2, 2);
    if (st != TFMQ_OK) {
        return st;
    }
    int64_t axes[TQ_MAX_RANK];
    size_t n_axes;
    if (c->in[1]->v < 0 || !tf_const_ints(c->imp, c->in[1]->v, axes, TQ_MAX_RANK, &n_axes)) {
        return TF_FAIL(c, TFMQ_ERR_UNSUPPORTED, "reduction axes must be a constant");
    }
    bool keep = tf_attr_int(c->nd, "keep_dims", 0) != 0;
    tf_val *x = c->in[0];
    int32_t xv, n;
    if (n_axes == 0) { /* TF reduces nothing */
        c->out[0] = *x;
        return TFMQ_OK;
    }
    bool cf = false;
    if (x->v_cf >= 0 && n_axes == 2) { /* global pooling over H, W: stay NCHW */
        int64_t a0 = axes[0] < 0 ? axes[0] + 4 : axes[0], a1 = axes[1] < 0 ? axes[1] + 4 : axes[1];
        if ((a0 == 1 && a1 == 2) || (a0 == 2 && a1 == 1)) {
            cf = true;
            axes[0] = 2;
            axes[1] = 3;
        }
    }
    if (cf) {
        xv = x->v_cf;
    } else if ((st = tf_get(c->imp, x, &xv)) != TFMQ_OK) {
        return st;
    }
    int32_t ins[2] = {xv, -1};
    bool axes_input = op == TQ_OP_REDUCE_SUM; /* opset 13+; the others take an attribute < 18 */
    if (axes_input) {
        char name[512];
        snprintf(name, sizeof(name), "%.480s/axes", tf_s(c->nd->name));
        if ((st = tf_const_i64(c->imp, name, axes, n_axes, &ins[1])) != TFMQ_OK) {
            return st;
        }
    }
    if ((st = tf_emit(c, op, ins, axes_input ? 2 : 1, axes_input ? 1 : 2, cf && keep, &n)) !=
        TFMQ_OK) {
        return st;
    }
    tf_set_i(c->imp, n, 0, "keepdims", keep);
    if (!axes_input && (st = tf_set_ints(c->imp, n, 1, "axes", axes, n_axes)) != TFMQ_OK) {
        return st;
    }
    return TFMQ_OK;
}

static tfmq_status tf_pad(tf_node_ctx *c, const char *mode)
{
    tfmq_status st = tf_need_inputs(c, 2, 3);
    if (st != TFMQ_OK) {
        return st;
    }
    int64_t p[2 * TQ_MAX_RANK], pads[2 * TQ_MAX_RANK];
    size_t np;
    if (c->in[1]->v < 0 || !tf_const_ints(c->imp, c->in[1]->v, p, 2 * TQ_MAX_RANK, &np) ||
        np % 2) {
        return TF_FAIL(c, TFMQ_ERR_UNSUPPORTED, "paddings must be a constant [rank, 2]");
    }
    size_t r = np / 2;
    tf_val *x = c->in[0];
    bool cf = x->v_cf >= 0 && r == 4;
    for (size_t i = 0; i < r; i++) {
        size_t src = cf ? (size_t)tf_to_cf[i] : i;
        pads[i] = p[2 * src];
        pads[r + i] = p[2 * src + 1];
    }
    int32_t ins[3] = {-1, -1, -1}, n;
    if (cf) {
        ins[0] = x->v_cf;
    } else if ((st = tf_get(c->imp, x, &ins[0])) != TFMQ_OK) {
        return st;
    }
    char name[512];
    snprintf(name, sizeof(name), "%.480s/pads", tf_s(c->nd->name));
    if ((st = tf_const_i64(c->imp, name, pads, np, &ins[1])) != TFMQ_OK) {
        return st;
    }
    if (c->n_in == 3 && (st = tf_get(c->imp, c->in[2], &ins[2])) != TFMQ_OK) {
        return st;
    }
    if ((st = tf_emit(c, TQ_OP_PAD, ins, c->n_in == 3 ? 3 : 2, 1, cf, &n)) != TFMQ_OK) {
        return st;
    }
    tf_set_s(c->imp, n, 0, "mode", mode);
    return TFMQ_OK;
}

static tfmq_status tf_concat(tf_node_ctx *c)
{
    tfmq_status st;
    if (c->n_in < 2 || c->n_in - 1 > TQ_MAX_IO) {
        return TF_FAIL(c, TFMQ_ERR_UNSUPPORTED, "%zu inputs", c->n_in);
    }
    size_t n = c->n_in - 1, na;
    int64_t axis;
    if (c->in[n]->v < 0 || !tf_const_ints(c->imp, c->in[n]->v, &axis, 1, &na) || na != 1) {
        return TF_FAIL(c, TFMQ_ERR_UNSUPPORTED, "axis must be a constant scalar");
    }
    /* shape arithmetic (Tensordot's perm and shapes): constant integer vectors fold here */
    bool all_const = axis == 0 || axis == -1;
    size_t total = 0;
    for (size_t i = 0; i < n && all_const; i++) {
        const tq_value *cv = c->in[i]->v >= 0 ? &c->imp->g->values[c->in[i]->v] : NULL;
        all_const = cv && tf_is_const(c->imp, c->in[i]->v) && cv->t.rank == 1 &&
                    (cv->t.dtype == TFMQ_DTYPE_INT32 || cv->t.dtype == TFMQ_DTYPE_INT64) &&
                    cv->t.dtype == c->imp->g->values[c->in[0]->v].t.dtype;
        total += all_const ? tq_tensor_numel(&cv->t) : 0;
    }
    if (all_const && total <= 64) {
        int64_t vals[64], d[1] = {(int64_t)total};
        int32_t vv[64];
        size_t k = 0, m;
        for (size_t i = 0; i < n; i++) {
            if (!tf_const_ints(c->imp, c->in[i]->v, vals + k, 64 - k, &m)) {
                return TF_FAIL(c, TFMQ_ERR_INTERNAL, "constant input %zu unreadable", i);
            }
            k += m;
        }
        tfmq_dtype dt = c->imp->g->values[c->in[0]->v].t.dtype;
        for (size_t i = 0; i < total; i++) {
            vv[i] = (int32_t)vals[i];
        }
        return tf_const(c->imp, tf_s(c->nd->name), dt, 1, d,
                        dt == TFMQ_DTYPE_INT64 ? (const void *)vals : (const void *)vv,
                        &c->out[0].v);
    }
    bool cf = axis >= -4 && axis < 4;
    for (size_t i = 0; i < n; i++) {
        cf = cf && c->in[i]->v_cf >= 0;
    }
    int32_t ins[TQ_MAX_IO], node;
    for (size_t i = 0; i < n; i++) {
        if (cf) {
            ins[i] = c->in[i]->v_cf;
        } else if ((st = tf_get(c->imp, c->in[i], &ins[i])) != TFMQ_OK) {
            return st;
        }
    }
    if (cf) {
        static const int64_t nhwc_axis_to_cf[4] = {0, 2, 3, 1};
        axis = nhwc_axis_to_cf[axis < 0 ? axis + 4 : axis];
    }
    if ((st = tf_emit(c, TQ_OP_CONCAT, ins, (int32_t)n, 1, cf, &node)) != TFMQ_OK) {
        return st;
    }
    tf_set_i(c->imp, node, 0, "axis", axis);
    return TFMQ_OK;
}

/* ints input i as an int64 value (a new constant, or a Cast). */
static tfmq_status tf_ints_input(tf_node_ctx *c, size_t i, const char *suffix, int32_t *v_out)
{
    int64_t vals[64];
    size_t n;
    char name[512];
    snprintf(name, sizeof(name), "%.480s/%s", tf_s(c->nd->name), suffix);
    tf_val *x = c->in[i];
    if (x->v >= 0 && tf_const_ints(c->imp, x->v, vals, 64, &n)) {
        return tf_const_i64(c->imp, name, vals, n, v_out);
    }
    int32_t xv, node;
    tfmq_status st = tf_get(c->imp, x, &xv);
    if (st != TFMQ_OK) {
        return st;
    }
    if ((st = tf_add(c->imp, TQ_OP_CAST, name, &xv, 1, 1, &node, v_out)) != TFMQ_OK) {
        return st;
    }
    tf_set_i(c->imp, node, 0, "to", TFMQ_DTYPE_INT64);
    return TFMQ_OK;
}

static tfmq_status tf_reshape(tf_node_ctx *c)
{
    tfmq_status st = tf_need_inputs(c, 2, 2);
    int32_t ins[2];
    if (st != TFMQ_OK || (st = tf_get(c->imp, c->in[0], &ins[0])) != TFMQ_OK ||
        (st = tf_ints_input(c, 1, "shape", &ins[1])) != TFMQ_OK) {
        return st;
    }
    /* TF's 0 is a zero-sized dim, ONNX's copies the input dim unless allowzero */
    bool zero = false;
    const tq_value *sv = &c->imp->g->values[ins[1]];
    if (tf_is_const(c->imp, ins[1])) {
        for (size_t i = 0; i < tq_tensor_numel(&sv->t); i++) {
            zero = zero || ((const int64_t *)sv->t.data)[i] == 0;
        }
    }
    int32_t n;
    if ((st = tf_emit(c, TQ_OP_RESHAPE, ins, 2, zero ? 1 : 0, false, &n)) != TFMQ_OK) {
        return st;
    }
    if (zero) {
        tf_set_i(c->imp, n, 0, "allowzero", 1);
    }
    return TFMQ_OK;
}

/* Squeeze / Unsqueeze of v with constant axes (n_axes 0: Squeeze of every 1). */
static tfmq_status tf_squeeze_like(tf_imp *imp, uint32_t op, int32_t v, const int64_t *axes,
                                   size_t n_axes, const char *name, int32_t *v_out)
{
    int32_t ins[2] = {v, -1};
    tfmq_status st;
    if (n_axes) {
        char an[512];
        snprintf(an, sizeof(an), "%.480s/axes", name);
        if ((st = tf_const_i64(imp, an, axes, n_axes, &ins[1])) != TFMQ_OK) {
            return st;
        }
    }
    return tf_add(imp, op, name, ins, n_axes ? 2 : 1, 0, NULL, v_out);
}

static tfmq_status tf_strided_slice(tf_node_ctx *c)
{
    tfmq_status st = tf_need_inputs(c, 4, 4);
    if (st != TFMQ_OK) {
        return st;
    }
    int64_t b[TQ_MAX_RANK], e[TQ_MAX_RANK], s[TQ_MAX_RANK];
    size_t nb, ne, ns;
    if (c->in[1]->v < 0 || c->in[2]->v < 0 || c->in[3]->v < 0 ||
        !tf_const_ints(c->imp, c->in[1]->v, b, TQ_MAX_RANK, &nb) ||
        !tf_const_ints(c->imp, c->in[2]->v, e, TQ_MAX_RANK, &ne) ||
        !tf_const_ints(c->imp, c->in[3]->v, s, TQ_MAX_RANK, &ns) || nb != ne || nb != ns) {
        return TF_FAIL(c, TFMQ_ERR_UNSUPPORTED, "begin, end and strides must be constants of "
                       "equal length (at most %d)", TQ_MAX_RANK);
    }
    int64_t bm = tf_attr_int(c->nd, "begin_mask", 0), em = tf_attr_int(c->nd, "end_mask", 0);
    int64_t elm = tf_attr_int(c->nd, "ellipsis_mask", 0);
    int64_t nam = tf_attr_int(c->nd, "new_axis_mask", 0);
    int64_t sm = tf_attr_int(c->nd, "shrink_axis_mask", 0);
    int32_t x;
    if ((st = tf_get(c->imp, c->in[0], &x)) != TFMQ_OK) {
        return st;
    }
    int32_t rank = c->in[0]->rank;
    if (rank < 0 && tf_is_const(c->imp, x)) {
        rank = c->imp->g->values[x].t.rank;
    }
    size_t n_new_after = 0;
    bool seen_ell = false;
    for (size_t i = 0; i < nb; i++) {
        if (elm >> i & 1) {
            if (seen_ell) {
                return TF_FAIL(c, TFMQ_ERR_INVALID_ARG, "more than one ellipsis");
            }
            seen_ell = true;
        } else if (seen_ell && (nam >> i & 1)) {
            n_new_after++;
        }
    }
    if (seen_ell && rank < 0) {
        return TF_FAIL(c, TFMQ_ERR_UNSUPPORTED, "ellipsis on an input of unknown rank");
    }
    int64_t starts[TQ_MAX_RANK], ends[TQ_MAX_RANK], steps[TQ_MAX_RANK], sl_axes[TQ_MAX_RANK];
    int64_t sq_axes[TQ_MAX_RANK], new_axes[TQ_MAX_RANK];
    size_t n_sl = 0, n_sq = 0, n_new = 0;
    int64_t full = 0, out_pos = 0;
    for (size_t i = 0; i < nb; i++) {
        if (elm >> i & 1) {
            int64_t next = rank - (int64_t)(nb - i) + 1 + (int64_t)n_new_after;
            if (next > rank) {
                next = rank;
            }
            if (next < full) {
                return TF_FAIL(c, TFMQ_ERR_INVALID_ARG, "slice has more entries than rank");
            }
            out_pos += next - full;
            full = next;
            continue;
        }
        if (nam >> i & 1) {
            if (n_new >= TQ_MAX_RANK) {
                return TF_FAIL(c, TFMQ_ERR_UNSUPPORTED, "too many new axes");
            }
            new_axes[n_new++] = out_pos++;
            continue;
        }
        if (full >= TQ_MAX_RANK || (rank >= 0 && full >= rank)) {
            return TF_FAIL(c, TFMQ_ERR_INVALID_ARG, "slice has more entries than rank");
        }
        if (s[i] == 0) {
            return TF_FAIL(c, TFMQ_ERR_INVALID_ARG, "stride 0");
        }
        if (sm >> i & 1) {
            starts[n_sl] = b[i];
            ends[n_sl] = b[i] == -1 ? INT64_MAX : b[i] + 1;
            steps[n_sl] = 1;
            sl_axes[n_sl++] = full;
            sq_axes[n_sq++] = full;
        } else {
            bool pos = s[i] > 0;
            starts[n_sl] = (bm >> i & 1) ? (pos ? 0 : INT64_MAX) : b[i];
            ends[n_sl] = (em >> i & 1) ? (pos ? INT64_MAX : INT64_MIN) : e[i];
            steps[n_sl] = s[i];
            bool whole = starts[n_sl] == 0 && ends[n_sl] == INT64_MAX && steps[n_sl] == 1;
            if (!whole) {
                sl_axes[n_sl++] = full;
            }
            out_pos++;
        }
        full++;
    }
    char name[512];
    const char *nm = tf_s(c->nd->name);
    int32_t cur = x, ins[5], node;
    if (n_sl) {
        snprintf(name, sizeof(name), "%.470s/starts", nm);
        if ((st = tf_const_i64(c->imp, name, starts, n_sl, &ins[1])) != TFMQ_OK) {
            return st;
        }
        snprintf(name, sizeof(name), "%.470s/ends", nm);
        if ((st = tf_const_i64(c->imp, name, ends, n_sl, &ins[2])) != TFMQ_OK) {
            return st;
        }
        snprintf(name, sizeof(name), "%.470s/slice_axes", nm);
        if ((st = tf_const_i64(c->imp, name, sl_axes, n_sl, &ins[3])) != TFMQ_OK) {
            return st;
        }
        snprintf(name, sizeof(name), "%.470s/steps", nm);
        if ((st = tf_const_i64(c->imp, name, steps, n_sl, &ins[4])) != TFMQ_OK) {
            return st;
        }
        ins[0] = cur;
        snprintf(name, sizeof(name), "%.470s%s", nm, (n_sq || n_new) ? "/slice" : "");
        if ((st = tf_add(c->imp, TQ_OP_SLICE, name, ins, 5, 0, &node, &cur)) != TFMQ_OK) {
            return st;
        }
    }
    if (n_sq) {
        snprintf(name, sizeof(name), "%.470s%s", nm, n_new ? "/squeeze" : "");
        if ((st = tf_squeeze_like(c->imp, TQ_OP_SQUEEZE, cur, sq_axes, n_sq, name, &cur)) !=
            TFMQ_OK) {
            return st;
        }
    }
    if (n_new) {
        if ((st = tf_squeeze_like(c->imp, TQ_OP_UNSQUEEZE, cur, new_axes, n_new, nm, &cur)) !=
            TFMQ_OK) {
            return st;
        }
    }
    if (!n_sl && !n_sq && !n_new) {
        if ((st = tf_add(c->imp, TQ_OP_IDENTITY, nm, &cur, 1, 0, NULL, &cur)) != TFMQ_OK) {
            return st;
        }
    }
    c->out[0].v = cur;
    return TFMQ_OK;
}

/* Fill imp->var_obj from the top-level calls of a TF2 SavedModel: the last n inputs of a call
 * of a concrete function with n bound_inputs are the captured resources, in order. */
static tfmq_status tf_map_bound_vars(tf_imp *imp, const Tqtf__SavedObjectGraph *og)
{
    tfmq_status st = TFMQ_OK;
    tf_map top;
    memset(&top, 0, sizeof(top));
    top.alloc = imp->alloc;
    if (!og || !og->n_concrete_functions) {
        return TFMQ_OK;
    }
    for (size_t i = 0; i < imp->gd->n_node; i++) {
        const Tqtf__NodeDef *nd = imp->gd->node[i];
        if (nd && nd->name && !tf_map_put(&top, nd->name, (int32_t)i)) {
            st = tf_oom();
            goto done;
        }
    }
    for (size_t i = 0; i < imp->gd->n_node; i++) {
        const Tqtf__NodeDef *nd = imp->gd->node[i];
        const char *op = nd ? tf_s(nd->op) : "";
        if (strcmp(op, "PartitionedCall") && strcmp(op, "StatefulPartitionedCall")) {
            continue;
        }
        const Tqtf__AttrValue *f = tf_attr(nd, "f");
        if (!f || f->value_case != TQTF__ATTR_VALUE__VALUE_FUNC || !f->func) {
            continue;
        }
        const Tqtf__SavedConcreteFunction *cf = NULL;
        for (size_t j = 0; j < og->n_concrete_functions; j++) {
            const Tqtf__SavedObjectGraph__ConcreteFunctionsEntry *e = og->concrete_functions[j];
            if (e && e->key && e->value && !strcmp(e->key, tf_s(f->func->name))) {
                cf = e->value;
                break;
            }
        }
        size_t n_data = 0;
        while (n_data < nd->n_input && nd->input[n_data] && nd->input[n_data][0] != '^') {
            n_data++;
        }
        if (!cf || !cf->n_bound_inputs || cf->n_bound_inputs > n_data) {
            continue;
        }
        for (size_t k = 0; k < cf->n_bound_inputs; k++) {
            char name[512];
            snprintf(name, sizeof(name), "%s", nd->input[n_data - cf->n_bound_inputs + k]);
            char *colon = strchr(name, ':');
            if (colon) {
                *colon = 0;
            }
            int32_t h = tf_map_get(&top, name);
            const Tqtf__NodeDef *hv = h >= 0 ? imp->gd->node[h] : NULL;
            if (!hv || strcmp(tf_s(hv->op), "VarHandleOp") != 0) {
                continue;
            }
            char buf[1024];
            const char *sn = tf_attr_str(hv, "shared_name", "", buf, sizeof(buf));
            const char *key = tq_arena_strdup(imp->arena, sn[0] ? sn : tf_s(hv->name));
            if (!key || !tf_map_put(&imp->var_obj, key, cf->bound_inputs[k])) {
                st = tf_oom();
                goto done;
            }
        }
    }
done:
    tf_map_free(&top);
    return st;
}

static tfmq_status tf_call(tf_node_ctx *c, const Tqtf__FunctionDef *fd);

static tfmq_status tf_convert(tf_node_ctx *c)
{
    const char *op = tf_s(c->nd->op);
    tf_imp *imp = c->imp;
    tfmq_status st;
    int32_t n, xv, ins[3];

    /* unary elementwise ops that map one to one */
    static const struct {
        const char *tf;
        uint32_t op;
    } unary[] = {
        {"Relu", TQ_OP_RELU},       {"Elu", TQ_OP_ELU},         {"Selu", TQ_OP_SELU},
        {"Sigmoid", TQ_OP_SIGMOID}, {"Tanh", TQ_OP_TANH},       {"Sqrt", TQ_OP_SQRT},
        {"Exp", TQ_OP_EXP},         {"Log", TQ_OP_LOG},         {"Neg", TQ_OP_NEG},
        {"Abs", TQ_OP_ABS},         {"Floor", TQ_OP_FLOOR},     {"Ceil", TQ_OP_CEIL},
        {"Softplus", TQ_OP_SOFTPLUS}, {"Softsign", TQ_OP_SOFTSIGN}, {"Erf", TQ_OP_ERF},
        {"Reciprocal", TQ_OP_RECIPROCAL}, {"Sign", TQ_OP_SIGN},
    };
    static const struct {
        const char *tf;
        uint32_t op;
    } binary[] = {
        {"AddV2", TQ_OP_ADD}, {"Add", TQ_OP_ADD},     {"Sub", TQ_OP_SUB},
        {"Mul", TQ_OP_MUL},   {"RealDiv", TQ_OP_DIV}, {"Maximum", TQ_OP_MAX},
        {"Minimum", TQ_OP_MIN}, {"Pow", TQ_OP_POW},
    };
    for (size_t i = 0; i < sizeof(unary) / sizeof(unary[0]); i++) {
        if (!strcmp(op, unary[i].tf)) {
            return tf_unary(c, unary[i].op, 0, NULL);
        }
    }
    for (size_t i = 0; i < sizeof(binary) / sizeof(binary[0]); i++) {
        if (!strcmp(op, binary[i].tf)) {
            return tf_binary(c, binary[i].op);
        }
    }
    if (!strcmp(op, "SquaredDifference")) { /* (a - b) * (a - b), in the layout Sub chose */
        if ((st = tf_binary(c, TQ_OP_SUB)) != TFMQ_OK) {
            return st;
        }
        bool cf = c->out[0].v_cf >= 0;
        int32_t d = cf ? c->out[0].v_cf : c->out[0].v, r;
        char name[512];
        snprintf(name, sizeof(name), "%.480s/square", tf_s(c->nd->name));
        ins[0] = ins[1] = d;
        if ((st = tf_add(imp, TQ_OP_MUL, name, ins, 2, 0, NULL, &r)) != TFMQ_OK) {
            return st;
        }
        if (cf) {
            c->out[0].v_cf = r;
        } else {
            c->out[0].v = r;
        }
        return TFMQ_OK;
    }
    if (!strcmp(op, "Erfc")) { /* 1 - erf(x) (tf.nn.gelu's exact form) */
        if ((st = tf_unary(c, TQ_OP_ERF, 0, &n)) != TFMQ_OK) {
            return st;
        }
        bool cf = c->out[0].v_cf >= 0;
        int32_t ev = cf ? c->out[0].v_cf : c->out[0].v, one, r;
        const float f1 = 1.0f;
        char name[512];
        snprintf(name, sizeof(name), "%.480s/one", tf_s(c->nd->name));
        if ((st = tf_const(imp, name, TFMQ_DTYPE_FLOAT32, 0, NULL, &f1, &one)) != TFMQ_OK) {
            return st;
        }
        snprintf(name, sizeof(name), "%.480s/erfc", tf_s(c->nd->name));
        ins[0] = one;
        ins[1] = ev;
        if ((st = tf_add(imp, TQ_OP_SUB, name, ins, 2, 0, NULL, &r)) != TFMQ_OK) {
            return st;
        }
        if (cf) {
            c->out[0].v_cf = r;
        } else {
            c->out[0].v = r;
        }
        return TFMQ_OK;
    }
    if (!strcmp(op, "Einsum")) { /* same equation language as ONNX Einsum */
        char eq[256];
        int32_t eins[TQ_MAX_IO];
        if (c->n_in < 1 || c->n_in > TQ_MAX_IO) {
            return TF_FAIL(c, TFMQ_ERR_UNSUPPORTED, "%zu inputs", c->n_in);
        }
        const char *e = tf_attr_str(c->nd, "equation", "", eq, sizeof(eq));
        if (!e[0] || strstr(e, "...")) {
            return TF_FAIL(c, TFMQ_ERR_UNSUPPORTED, "equation '%s'", e);
        }
        for (size_t i = 0; i < c->n_in; i++) {
            if ((st = tf_get(imp, c->in[i], &eins[i])) != TFMQ_OK) {
                return st;
            }
        }
        if ((st = tf_emit(c, TQ_OP_EINSUM, eins, (int32_t)c->n_in, 1, false, &n)) != TFMQ_OK) {
            return st;
        }
        const char *es = tq_arena_strdup(imp->arena, e);
        if (!es) {
            return tf_oom();
        }
        tf_set_s(imp, n, 0, "equation", es);
        return TFMQ_OK;
    }
    if (!strcmp(op, "GatherV2")) {
        int64_t axis;
        size_t na;
        if ((st = tf_need_inputs(c, 3, 3)) != TFMQ_OK) {
            return st;
        }
        if (tf_attr_int(c->nd, "batch_dims", 0) != 0) {
            return TF_FAIL(c, TFMQ_ERR_UNSUPPORTED, "batch_dims %lld",
                           (long long)tf_attr_int(c->nd, "batch_dims", 0));
        }
        if (c->in[2]->v < 0 || !tf_const_ints(imp, c->in[2]->v, &axis, 1, &na) || na != 1) {
            return TF_FAIL(c, TFMQ_ERR_UNSUPPORTED, "axis must be a constant scalar");
        }
        if ((st = tf_get(imp, c->in[0], &ins[0])) != TFMQ_OK ||
            (st = tf_get(imp, c->in[1], &ins[1])) != TFMQ_OK ||
            (st = tf_emit(c, TQ_OP_GATHER, ins, 2, 1, false, &n)) != TFMQ_OK) {
            return st;
        }
        tf_set_i(imp, n, 0, "axis", axis);
        return TFMQ_OK;
    }
    if (!strcmp(op, "Identity") || !strcmp(op, "Snapshot") || !strcmp(op, "StopGradient") ||
        !strcmp(op, "PlaceholderWithDefault")) {
        if ((st = tf_need_inputs(c, 1, 1)) != TFMQ_OK) {
            return st;
        }
        int32_t r = c->out[0].rank;
        c->out[0] = *c->in[0];
        if (c->out[0].rank < 0) {
            c->out[0].rank = r;
        }
        return TFMQ_OK;
    }
    if (!strcmp(op, "IdentityN")) {
        for (size_t i = 0; i < c->n_in && (int32_t)i < c->n_out; i++) {
            c->out[i] = *c->in[i];
        }
        return TFMQ_OK;
    }
    if (!strcmp(op, "NoOp")) {
        return TFMQ_OK;
    }
    if (!strcmp(op, "Const")) {
        const Tqtf__AttrValue *a = tf_attr(c->nd, "value");
        if (!a || a->value_case != TQTF__ATTR_VALUE__VALUE_TENSOR) {
            return TF_FAIL(c, TFMQ_ERR_PARSE, "no 'value' tensor");
        }
        return tf_tensor_const(imp, c->sc, c->nd, a->tensor, &c->out[0].v);
    }
    if (!strcmp(op, "VarHandleOp")) {
        char buf[1024];
        const char *sn = tf_attr_str(c->nd, "shared_name", "", buf, sizeof(buf));
        return tf_var_index(imp, sn[0] ? sn : c->nd->name, &c->out[0].var);
    }
    if (!strcmp(op, "ReadVariableOp")) {
        if ((st = tf_need_inputs(c, 1, 1)) != TFMQ_OK) {
            return st;
        }
        if (c->in[0]->var < 0) {
            return TF_FAIL(c, TFMQ_ERR_UNSUPPORTED,
                           "the resource does not come from a VarHandleOp");
        }
        return tf_read_var(imp, c->sc, c->nd, c->in[0]->var, &c->out[0].v);
    }
    if (!strcmp(op, "Placeholder")) {
        return TF_FAIL(c, TFMQ_ERR_UNSUPPORTED, "placeholder not fed by the signature");
    }
    if (!strcmp(op, "Conv2D")) {
        return tf_conv(c, false);
    }
    if (!strcmp(op, "DepthwiseConv2dNative")) {
        return tf_conv(c, true);
    }
    if (!strcmp(op, "BiasAdd")) {
        return tf_bias_add(c);
    }
    if (!strcmp(op, "FusedBatchNorm") || !strcmp(op, "FusedBatchNormV2") ||
        !strcmp(op, "FusedBatchNormV3")) {
        return tf_batch_norm(c);
    }
    if (!strcmp(op, "MaxPool") || !strcmp(op, "AvgPool")) {
        return tf_pool(c, op[0] == 'M');
    }
    if (!strcmp(op, "MatMul")) {
        return tf_matmul(c, false);
    }
    if (!strcmp(op, "BatchMatMul") || !strcmp(op, "BatchMatMulV2") ||
        !strcmp(op, "BatchMatMulV3")) {
        return tf_matmul(c, true);
    }
    if (!strcmp(op, "Relu6")) {
        if ((st = tf_unary(c, TQ_OP_CLIP, 0, &n)) != TFMQ_OK) {
            return st;
        }
        float lim[2] = {0.0f, 6.0f};
        char name[512];
        tq_node *cn = &imp->g->nodes[n];
        int32_t in0 = cn->in[0];
        for (int i = 0; i < 2; i++) {
            snprintf(name, sizeof(name), "%.480s/%s", tf_s(c->nd->name), i ? "max" : "min");
            if ((st = tf_const(imp, name, TFMQ_DTYPE_FLOAT32, 0, NULL, &lim[i], &ins[i])) !=
                TFMQ_OK) {
                return st;
            }
        }
        /* re-make the node with 3 inputs */
        tq_node *nn = &imp->g->nodes[n];
        int32_t *in3 = tq_arena_alloc(imp->arena, 3 * sizeof(int32_t));
        if (!in3) {
            return tf_oom();
        }
        in3[0] = in0;
        in3[1] = ins[0];
        in3[2] = ins[1];
        nn->in = in3;
        nn->n_in = 3;
        (void)cn;
        return TFMQ_OK;
    }
    if (!strcmp(op, "LeakyRelu")) {
        if ((st = tf_unary(c, TQ_OP_LEAKY_RELU, 1, &n)) != TFMQ_OK) {
            return st;
        }
        tf_set_f(imp, n, 0, "alpha", tf_attr_float(c->nd, "alpha", 0.2f));
        return TFMQ_OK;
    }
    if (!strcmp(op, "Square")) {
        if ((st = tf_need_inputs(c, 1, 1)) != TFMQ_OK) {
            return st;
        }
        bool cf = c->in[0]->v_cf >= 0;
        if (cf) {
            xv = c->in[0]->v_cf;
        } else if ((st = tf_get(imp, c->in[0], &xv)) != TFMQ_OK) {
            return st;
        }
        ins[0] = ins[1] = xv;
        return tf_emit(c, TQ_OP_MUL, ins, 2, 0, cf, NULL);
    }
    if (!strcmp(op, "Rsqrt")) {
        if ((st = tf_unary(c, TQ_OP_SQRT, 0, &n)) != TFMQ_OK) {
            return st;
        }
        bool cf = c->out[0].v_cf >= 0;
        int32_t sq = cf ? c->out[0].v_cf : c->out[0].v, r;
        char name[512];
        snprintf(name, sizeof(name), "%.480s/rsqrt", tf_s(c->nd->name));
        if ((st = tf_add(imp, TQ_OP_RECIPROCAL, name, &sq, 1, 0, NULL, &r)) != TFMQ_OK) {
            return st;
        }
        if (cf) {
            c->out[0].v_cf = r;
        } else {
            c->out[0].v = r;
        }
        return TFMQ_OK;
    }
    if (!strcmp(op, "Softmax") || !strcmp(op, "LogSoftmax")) {
        if ((st = tf_need_inputs(c, 1, 1)) != TFMQ_OK ||
            (st = tf_get(imp, c->in[0], &xv)) != TFMQ_OK ||
            (st = tf_emit(c, op[0] == 'S' ? TQ_OP_SOFTMAX : TQ_OP_LOG_SOFTMAX, &xv, 1, 1, false,
                          &n)) != TFMQ_OK) {
            return st;
        }
        tf_set_i(imp, n, 0, "axis", -1);
        return TFMQ_OK;
    }
    if (!strcmp(op, "Mean")) {
        return tf_reduce(c, TQ_OP_REDUCE_MEAN);
    }
    if (!strcmp(op, "Sum")) {
        return tf_reduce(c, TQ_OP_REDUCE_SUM);
    }
    if (!strcmp(op, "Max")) {
        return tf_reduce(c, TQ_OP_REDUCE_MAX);
    }
    if (!strcmp(op, "Min")) {
        return tf_reduce(c, TQ_OP_REDUCE_MIN);
    }
    if (!strcmp(op, "Prod")) {
        return tf_reduce(c, TQ_OP_REDUCE_PROD);
    }
    if (!strcmp(op, "Pad") || !strcmp(op, "PadV2")) {
        return tf_pad(c, "constant");
    }
    if (!strcmp(op, "MirrorPad")) {
        char buf[32];
        const char *m = tf_attr_str(c->nd, "mode", "", buf, sizeof(buf));
        if (strcmp(m, "REFLECT") != 0) {
            return TF_FAIL(c, TFMQ_ERR_UNSUPPORTED, "mode '%s' (only REFLECT maps to ONNX)", m);
        }
        return tf_pad(c, "reflect");
    }
    if (!strcmp(op, "ConcatV2")) {
        return tf_concat(c);
    }
    if (!strcmp(op, "Reshape")) {
        return tf_reshape(c);
    }
    if (!strcmp(op, "Squeeze")) {
        size_t na;
        const int64_t *ax = tf_attr_ints(c->nd, "squeeze_dims", &na);
        if ((st = tf_need_inputs(c, 1, 1)) != TFMQ_OK || (st = tf_get(imp, c->in[0], &xv)) != TFMQ_OK) {
            return st;
        }
        return tf_squeeze_like(imp, TQ_OP_SQUEEZE, xv, ax, na, tf_s(c->nd->name), &c->out[0].v);
    }
    if (!strcmp(op, "ExpandDims")) {
        int64_t ax;
        size_t na;
        if ((st = tf_need_inputs(c, 2, 2)) != TFMQ_OK) {
            return st;
        }
        if (c->in[1]->v < 0 || !tf_const_ints(imp, c->in[1]->v, &ax, 1, &na) || na != 1) {
            return TF_FAIL(c, TFMQ_ERR_UNSUPPORTED, "axis must be a constant scalar");
        }
        if ((st = tf_get(imp, c->in[0], &xv)) != TFMQ_OK) {
            return st;
        }
        return tf_squeeze_like(imp, TQ_OP_UNSQUEEZE, xv, &ax, 1, tf_s(c->nd->name),
                               &c->out[0].v);
    }
    if (!strcmp(op, "Transpose")) {
        int64_t perm[TQ_MAX_RANK];
        size_t np;
        if ((st = tf_need_inputs(c, 2, 2)) != TFMQ_OK) {
            return st;
        }
        if (c->in[1]->v < 0 || !tf_const_ints(imp, c->in[1]->v, perm, TQ_MAX_RANK, &np)) {
            return TF_FAIL(c, TFMQ_ERR_UNSUPPORTED, "perm must be a constant");
        }
        if (np == 4 && c->in[0]->v_cf >= 0 && !memcmp(perm, tf_to_cf, sizeof(tf_to_cf))) {
            c->out[0].v = c->in[0]->v_cf; /* the NCHW twin is exactly this */
            return TFMQ_OK;
        }
        if ((st = tf_get(imp, c->in[0], &xv)) != TFMQ_OK ||
            (st = tf_emit(c, TQ_OP_TRANSPOSE, &xv, 1, 1, false, &n)) != TFMQ_OK) {
            return st;
        }
        return tf_set_ints(imp, n, 0, "perm", perm, np);
    }
    if (!strcmp(op, "StridedSlice")) {
        return tf_strided_slice(c);
    }
    if (!strcmp(op, "Shape")) {
        int64_t ot = tf_attr_int(c->nd, "out_type", 3);
        char name[512];
        snprintf(name, sizeof(name), "%.480s%s", tf_s(c->nd->name), ot == 3 ? "/i64" : "");
        if ((st = tf_need_inputs(c, 1, 1)) != TFMQ_OK || (st = tf_get(imp, c->in[0], &xv)) != TFMQ_OK ||
            (st = tf_add(imp, TQ_OP_SHAPE, name, &xv, 1, 0, NULL, &c->out[0].v)) != TFMQ_OK) {
            return st;
        }
        if (ot == 3) {
            int32_t s64 = c->out[0].v;
            if ((st = tf_add(imp, TQ_OP_CAST, tf_s(c->nd->name), &s64, 1, 1, &n,
                             &c->out[0].v)) != TFMQ_OK) {
                return st;
            }
            tf_set_i(imp, n, 0, "to", TFMQ_DTYPE_INT32);
        }
        return TFMQ_OK;
    }
    if (!strcmp(op, "Pack")) {
        int64_t axis = tf_attr_int(c->nd, "axis", 0);
        int32_t parts[TQ_MAX_IO];
        if (c->n_in < 1 || c->n_in > TQ_MAX_IO) {
            return TF_FAIL(c, TFMQ_ERR_UNSUPPORTED, "%zu inputs", c->n_in);
        }
        for (size_t i = 0; i < c->n_in; i++) {
            char name[512];
            snprintf(name, sizeof(name), "%.470s/part%zu", tf_s(c->nd->name), i);
            if ((st = tf_get(imp, c->in[i], &xv)) != TFMQ_OK ||
                (st = tf_squeeze_like(imp, TQ_OP_UNSQUEEZE, xv, &axis, 1,
                                      c->n_in == 1 ? tf_s(c->nd->name) : name, &parts[i])) !=
                    TFMQ_OK) {
                return st;
            }
        }
        if (c->n_in == 1) {
            c->out[0].v = parts[0];
            return TFMQ_OK;
        }
        if ((st = tf_emit(c, TQ_OP_CONCAT, parts, (int32_t)c->n_in, 1, false, &n)) != TFMQ_OK) {
            return st;
        }
        tf_set_i(imp, n, 0, "axis", axis);
        return TFMQ_OK;
    }
    if (!strcmp(op, "Cast")) {
        tfmq_dtype to;
        if (!tq_tf_dtype((int32_t)tf_attr_int(c->nd, "DstT", 0), &to)) {
            return TF_FAIL(c, TFMQ_ERR_UNSUPPORTED, "DstT %lld not supported",
                           (long long)tf_attr_int(c->nd, "DstT", 0));
        }
        if ((st = tf_unary(c, TQ_OP_CAST, 1, &n)) != TFMQ_OK) {
            return st;
        }
        tf_set_i(imp, n, 0, "to", to);
        return TFMQ_OK;
    }
    const Tqtf__FunctionDef *fd = tf_callee(imp, c->nd);
    if (fd) {
        return tf_call(c, fd);
    }
    if (!strcmp(op, "PartitionedCall") || !strcmp(op, "StatefulPartitionedCall")) {
        return TF_FAIL(c, TFMQ_ERR_PARSE, "calls a function missing from the library");
    }
    return TF_FAIL(c, TFMQ_ERR_UNSUPPORTED, "op '%s' is not supported", op);
}

/* Number of outputs a node gets before conversion. */
static int32_t tf_n_outputs(const tf_imp *imp, const Tqtf__NodeDef *nd, size_t n_data_in)
{
    const char *op = tf_s(nd->op);
    if (!strncmp(op, "FusedBatchNorm", 14)) {
        return 6;
    }
    if (!strcmp(op, "IdentityN")) {
        return (int32_t)n_data_in;
    }
    if (!strcmp(op, "NoOp")) {
        return 0;
    }
    const Tqtf__FunctionDef *fd = tf_callee(imp, nd);
    if (fd && fd->signature) {
        return (int32_t)fd->signature->n_output_arg;
    }
    return 1;
}

/* Inline function fd with the call's inputs as arguments. */
static tfmq_status tf_call(tf_node_ctx *c, const Tqtf__FunctionDef *fd)
{
    tf_imp *imp = c->imp;
    tfmq_status st;
    const Tqtf__OpDef *sig = fd->signature;
    if (!sig) {
        return TF_FAIL(c, TFMQ_ERR_PARSE, "called function has no signature");
    }
    if (c->sc->depth + 1 > TF_MAX_CALL_DEPTH) {
        return TF_FAIL(c, TFMQ_ERR_UNSUPPORTED, "calls nested deeper than %d (recursion?)",
                       TF_MAX_CALL_DEPTH);
    }
    for (size_t i = 0; i < sig->n_input_arg; i++) {
        if (!sig->input_arg[i] || tf_s(sig->input_arg[i]->number_attr)[0] ||
            tf_s(sig->input_arg[i]->type_list_attr)[0]) {
            return TF_FAIL(c, TFMQ_ERR_UNSUPPORTED, "function '%s' has list arguments",
                           tf_s(sig->name));
        }
    }
    if (sig->n_input_arg != c->n_in) {
        return TF_FAIL(c, TFMQ_ERR_PARSE, "%zu inputs for function '%s' of %zu arguments",
                       c->n_in, tf_s(sig->name), sig->n_input_arg);
    }
    tf_scope sc;
    st = tf_scope_init(imp, &sc, tf_s(sig->name), fd->node_def, fd->n_node_def, c->sc->depth + 1);
    if (st == TFMQ_OK) {
        sc.fd = fd;
        sc.args = c->in;
        sc.n_args = c->n_in;
        for (size_t i = 0; i < sig->n_output_arg && st == TFMQ_OK; i++) {
            const char *oname = sig->output_arg[i] ? tf_s(sig->output_arg[i]->name) : "";
            const char *ref = NULL;
            for (size_t j = 0; j < fd->n_ret; j++) {
                if (fd->ret[j] && !strcmp(tf_s(fd->ret[j]->key), oname)) {
                    ref = tf_s(fd->ret[j]->value);
                }
            }
            if (!ref) {
                st = tq_fail(TFMQ_ERR_PARSE, "tf: function '%s': no ret for output '%s'",
                             sc.fname, oname);
                break;
            }
            tf_val *r;
            if ((st = tf_resolve(imp, &sc, c->nd, ref, &r)) == TFMQ_OK && (int32_t)i < c->n_out) {
                c->out[i] = *r;
            }
        }
    }
    tf_scope_free(imp, &sc);
    return st;
}

/* Convert node `node` of `sc` and everything it depends on (depth-first, explicit stack). */
static tfmq_status tf_eval(tf_imp *imp, tf_scope *sc, int32_t node)
{
    if (sc->state[node] == TF_DONE) {
        return TFMQ_OK;
    }
    tfmq_status st = TFMQ_OK;
    int32_t *stack = tq_alloc(imp->alloc, sizeof(int32_t) * sc->n_nodes);
    tf_val **ins = NULL;
    size_t n_stack = 0, cap_ins = 0;
    if (!stack) {
        return tf_oom();
    }
    stack[n_stack++] = node;
    while (n_stack && st == TFMQ_OK) {
        int32_t i = stack[n_stack - 1];
        if (sc->state[i] == TF_DONE) {
            n_stack--;
            continue;
        }
        sc->state[i] = TF_BUSY;
        const Tqtf__NodeDef *nd = sc->nodes[i];
        if (nd->n_input > TF_MAX_NODE_INPUTS) {
            st = tf_node_fail(sc, nd, TFMQ_ERR_UNSUPPORTED, "%zu inputs", nd->n_input);
            break;
        }
        /* first data input whose producer is not converted yet */
        bool pushed = false;
        size_t n_data = 0;
        for (size_t k = 0; k < nd->n_input && st == TFMQ_OK; k++) {
            tf_ref r;
            bool ctrl;
            if ((st = tf_parse_ref(imp, sc, nd, tf_s(nd->input[k]), &r, &ctrl)) != TFMQ_OK ||
                ctrl) {
                continue;
            }
            n_data++;
            if (r.node < 0 || sc->state[r.node] == TF_DONE) {
                continue;
            }
            if (sc->state[r.node] == TF_BUSY) {
                st = tf_node_fail(sc, nd, TFMQ_ERR_PARSE, "cycle through input '%s'",
                                  nd->input[k]);
                break;
            }
            stack[n_stack++] = r.node; /* TODO nodes are on the stack at most once */
            pushed = true;
            break;
        }
        if (st != TFMQ_OK || pushed) {
            continue;
        }
        /* all inputs ready: convert */
        if (n_data > cap_ins) {
            tq_free(imp->alloc, ins, cap_ins * sizeof(*ins));
            cap_ins = n_data;
            ins = tq_alloc(imp->alloc, cap_ins * sizeof(*ins));
            if (!ins) {
                cap_ins = 0;
                st = tf_oom();
                break;
            }
        }
        size_t m = 0;
        for (size_t k = 0; k < nd->n_input && st == TFMQ_OK; k++) {
            if (tf_s(nd->input[k])[0] != '^') {
                st = tf_resolve(imp, sc, nd, nd->input[k], &ins[m++]);
            }
        }
        if (st != TFMQ_OK) {
            break;
        }
        if (!sc->outs[i] &&
            (st = tf_alloc_outs(imp, sc, (size_t)i, tf_n_outputs(imp, nd, m))) != TFMQ_OK) {
            break;
        }
        tf_node_ctx c = {imp, sc, nd, ins, m, sc->outs[i], sc->n_outs[i]};
        if ((st = tf_convert(&c)) != TFMQ_OK) {
            if (!strcmp(tfmq_last_error(), "tf: a resource is used as a tensor")) {
                st = tf_node_fail(sc, nd, st, "a resource input is used as a tensor");
            }
            break;
        }
        sc->state[i] = TF_DONE;
        n_stack--;
    }
    tq_free(imp->alloc, ins, cap_ins * sizeof(*ins));
    tq_free(imp->alloc, stack, sizeof(int32_t) * sc->n_nodes);
    return st;
}

/* ---- SavedModel ---- */

bool tq_tf_is_saved_model(const char *path)
{
    char p[4200];
    struct stat sb;
    if (!path || stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        return false;
    }
    snprintf(p, sizeof(p), "%s/saved_model.pb", path);
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* "name:k" of a TensorInfo -> node name (into buf) and output k. */
static bool tf_split_tensor_name(const char *s, char *buf, size_t n, int64_t *k)
{
    size_t len = strlen(s);
    if (len >= n) {
        return false;
    }
    memcpy(buf, s, len + 1);
    char *c = strrchr(buf, ':');
    *k = 0;
    if (c) {
        *c = 0;
        return tf_parse_k(c + 1, k);
    }
    return true;
}

static tfmq_status tf_tensor_info_shape(const Tqtf__TensorInfo *ti, tq_value *v)
{
    tfmq_dtype dt;
    if (!tq_tf_dtype(ti->dtype, &dt)) {
        return TFMQ_ERR_UNSUPPORTED;
    }
    v->t.dtype = dt;
    const Tqtf__TensorShapeProto *sp = ti->tensor_shape;
    if (!sp || sp->unknown_rank) {
        v->t.rank = -1;
        return TFMQ_OK;
    }
    if (sp->n_dim > TQ_MAX_RANK) {
        return TFMQ_ERR_UNSUPPORTED;
    }
    v->t.rank = (int32_t)sp->n_dim;
    for (size_t i = 0; i < sp->n_dim; i++) {
        int64_t d = sp->dim[i] ? sp->dim[i]->size : -1;
        v->t.dims[i] = d < 0 ? -1 : d;
        v->dim_names[i] = d < 0 ? "?" : NULL;
    }
    return TFMQ_OK;
}

static bool tf_has_tag(const Tqtf__MetaGraphDef *mg, const char *tag)
{
    if (!mg->meta_info_def) {
        return false;
    }
    for (size_t i = 0; i < mg->meta_info_def->n_tags; i++) {
        if (!strcmp(tf_s(mg->meta_info_def->tags[i]), tag)) {
            return true;
        }
    }
    return false;
}

static tfmq_status tf_import_sig(tf_imp *imp, const Tqtf__SignatureDef *sig, const char *sname)
{
    tfmq_status st;
    tf_scope sc;
    int32_t *ins = NULL, *outs = NULL;
    char buf[1024];
    size_t n_in = sig->n_inputs, n_out = sig->n_outputs;
    const Tqtf__GraphDef *gd = imp->gd;
    st = tf_scope_init(imp, &sc, "", gd->node, gd->n_node, 0);
    if (st != TFMQ_OK) {
        goto fail;
    }
    ins = tq_calloc(imp->alloc, n_in ? n_in : 1, sizeof(int32_t));
    outs = tq_calloc(imp->alloc, n_out ? n_out : 1, sizeof(int32_t));
    if (!ins || !outs) {
        st = tf_oom();
        goto fail;
    }
    if (n_out == 0) {
        st = tq_fail(TFMQ_ERR_PARSE, "tf: %s: signature '%s' has no outputs", imp->dir, sname);
        goto fail;
    }
    for (size_t i = 0; i < n_in; i++) {
        const Tqtf__SignatureDef__InputsEntry *e = sig->inputs[i];
        int64_t k;
        if (!e || !e->key || !e->value ||
            e->value->encoding_case != TQTF__TENSOR_INFO__ENCODING_NAME ||
            !tf_split_tensor_name(tf_s(e->value->name), buf, sizeof(buf), &k)) {
            st = tq_fail(TFMQ_ERR_UNSUPPORTED,
                         "tf: %s: signature '%s': input %zu is not a named dense tensor",
                         imp->dir, sname, i);
            goto fail;
        }
        int32_t node = tf_map_get(&sc.by_name, buf);
        if (node < 0 || k != 0 || sc.outs[node]) {
            st = tq_fail(TFMQ_ERR_PARSE, "tf: %s: signature '%s': input '%s' names tensor '%s' "
                         "that is not a node output of the graph", imp->dir, sname, e->key,
                         e->value->name);
            goto fail;
        }
        int32_t v;
        if ((st = tf_new_value(imp, e->key, &v)) != TFMQ_OK) {
            goto fail;
        }
        if (tf_tensor_info_shape(e->value, &imp->g->values[v]) != TFMQ_OK) {
            st = tq_fail(TFMQ_ERR_UNSUPPORTED, "tf: %s: signature '%s': input '%s': dtype %d or "
                         "shape not supported", imp->dir, sname, e->key, e->value->dtype);
            goto fail;
        }
        imp->g->values[v].flags |= TQ_VALUE_INPUT;
        ins[i] = v;
        if ((st = tf_alloc_outs(imp, &sc, (size_t)node, 1)) != TFMQ_OK) {
            goto fail;
        }
        sc.outs[node][0].v = v;
        sc.outs[node][0].rank = imp->g->values[v].t.rank;
        sc.state[node] = TF_DONE;
    }
    for (size_t i = 0; i < n_out; i++) {
        const Tqtf__SignatureDef__OutputsEntry *e = sig->outputs[i];
        if (!e || !e->key || !e->value ||
            e->value->encoding_case != TQTF__TENSOR_INFO__ENCODING_NAME) {
            st = tq_fail(TFMQ_ERR_UNSUPPORTED,
                         "tf: %s: signature '%s': output %zu is not a named dense tensor",
                         imp->dir, sname, i);
            goto fail;
        }
        Tqtf__NodeDef fake;
        char fake_op[] = "signature output";
        memset(&fake, 0, sizeof(fake));
        fake.name = e->key;
        fake.op = fake_op;
        tf_val *r;
        int32_t v, n;
        if ((st = tf_resolve(imp, &sc, &fake, e->value->name, &r)) != TFMQ_OK ||
            (st = tf_get(imp, r, &v)) != TFMQ_OK ||
            (st = tf_add(imp, TQ_OP_IDENTITY, e->key, &v, 1, 0, &n, &outs[i])) != TFMQ_OK) {
            goto fail;
        }
        tq_value *ov = &imp->g->values[outs[i]];
        if (strcmp(ov->name, e->key) != 0) {
            st = tq_fail(TFMQ_ERR_UNSUPPORTED, "tf: %s: signature '%s': output name '%s' is "
                         "also an input name", imp->dir, sname, e->key);
            goto fail;
        }
        (void)tf_tensor_info_shape(e->value, ov);
        ov->flags |= TQ_VALUE_OUTPUT;
    }
    st = tq_graph_set_io(imp->g, ins, n_in, outs, n_out);
fail:
    tq_free(imp->alloc, ins, (n_in ? n_in : 1) * sizeof(int32_t));
    tq_free(imp->alloc, outs, (n_out ? n_out : 1) * sizeof(int32_t));
    tf_scope_free(imp, &sc);
    return st;
}

tfmq_status tq_import_tf(const char *path, const char *signature, tfmq_model *m)
{
    tfmq_status st;
    char file[4200];
    uint8_t *data = NULL;
    size_t size = 0;
    Tqtf__SavedModel *sm = NULL;
    tq_onnx_pb_alloc pa;
    tf_imp imp;
    memset(&imp, 0, sizeof(imp));
    imp.alloc = m->palloc;
    imp.fn_by_name.alloc = imp.names.alloc = imp.var_by_name.alloc = imp.ckpt_key.alloc =
        imp.var_obj.alloc = m->palloc;
    imp.dir = path;
    tq_onnx_pb_alloc_init(&pa, m->palloc);
    if (!path || strlen(path) > 4000) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "tf: bad path");
    }
    const char *sname = signature && signature[0] ? signature : "serving_default";
    snprintf(file, sizeof(file), "%s/saved_model.pb", path);
    TQ_TRY(st, tq_tf_read_file(file, m->palloc, TQ_TF_MAX_FILE_BYTES, &data, &size));
    if ((st = tq_onnx_wire_check(&tqtf__saved_model__descriptor, data, size, "saved_model")) !=
        TFMQ_OK) {
        char why[400];
        snprintf(why, sizeof(why), "%s", tfmq_last_error());
        st = tq_fail(st, "tf: %s: not a valid SavedModel protobuf (%s)", file, why);
        goto fail;
    }
    sm = tqtf__saved_model__unpack(&pa.pb, size, data);
    if (!sm) {
        st = tq_fail(pa.oom ? TFMQ_ERR_OUT_OF_MEMORY : TFMQ_ERR_PARSE,
                     "tf: %s: malformed SavedModel protobuf", file);
        goto fail;
    }
    const Tqtf__MetaGraphDef *mg = NULL;
    for (size_t i = 0; i < sm->n_meta_graphs && !mg; i++) {
        if (sm->meta_graphs[i] && tf_has_tag(sm->meta_graphs[i], "serve")) {
            mg = sm->meta_graphs[i];
        }
    }
    if (!mg && sm->n_meta_graphs == 1) {
        mg = sm->meta_graphs[0];
    }
    if (!mg || !mg->graph_def) {
        st = tq_fail(TFMQ_ERR_PARSE, "tf: %s: no MetaGraphDef tagged 'serve' (%zu meta graphs)",
                     file, sm->n_meta_graphs);
        goto fail;
    }
    const Tqtf__SignatureDef *sig = NULL;
    for (size_t i = 0; i < mg->n_signature_def; i++) {
        if (mg->signature_def[i] && !strcmp(tf_s(mg->signature_def[i]->key), sname)) {
            sig = mg->signature_def[i]->value;
        }
    }
    if (!sig) {
        char names[320] = "";
        size_t used = 0;
        for (size_t i = 0; i < mg->n_signature_def; i++) {
            const char *k = mg->signature_def[i] ? tf_s(mg->signature_def[i]->key) : "";
            if (!strncmp(k, "__", 2) || used + strlen(k) + 4 >= sizeof(names)) {
                continue; /* __saved_model_init_op is not a signature to call */
            }
            used += (size_t)snprintf(names + used, sizeof(names) - used, "%s'%s'",
                                     used ? ", " : "", k);
        }
        st = tq_fail(TFMQ_ERR_INVALID_ARG, "tf: %s: no signature '%s'; available: %s", file,
                     sname, used ? names : "(none)");
        goto fail;
    }
    imp.gd = mg->graph_def;
    if (imp.gd->library) {
        for (size_t i = 0; i < imp.gd->library->n_function; i++) {
            const Tqtf__FunctionDef *fd = imp.gd->library->function[i];
            if (!fd || !fd->signature || !fd->signature->name) {
                st = tq_fail(TFMQ_ERR_PARSE, "tf: %s: library function %zu has no name", file, i);
                goto fail;
            }
            if (!tf_map_put(&imp.fn_by_name, fd->signature->name, (int32_t)i)) {
                st = tf_oom();
                goto fail;
            }
        }
    }
    TQ_TRY(st, tq_graph_create(&m->arena, m->palloc, &m->graph));
    imp.g = m->graph;
    imp.arena = &m->arena;
    imp.g->opset = TF_OPSET;
    TQ_TRY(st, tf_map_bound_vars(&imp, mg->object_graph_def));
    TQ_TRY(st, tf_import_sig(&imp, sig, sname));
    if ((st = tq_graph_finalize(imp.g)) != TFMQ_OK) {
        tq_fail_prefix(st, "tf: %s", path);
        goto fail;
    }
    const char *ver = mg->meta_info_def ? tf_s(mg->meta_info_def->tensorflow_version) : "";
    snprintf(file, sizeof(file), "tensorflow%s%s", ver[0] ? " " : "", ver);
    m->meta.producer = tq_arena_strdup(&m->arena, file);
    if (!m->meta.producer) {
        st = tf_oom();
        goto fail;
    }
    m->meta.opset = TF_OPSET;
    m->meta.ir_version = 8;
    m->format = "tf-savedmodel";
    st = TFMQ_OK;
fail:
    if (st != TFMQ_OK && m->graph) {
        tq_graph_destroy(m->graph);
        m->graph = NULL;
    }
    if (sm) {
        tqtf__saved_model__free_unpacked(sm, &pa.pb);
    }
    tq_free(m->palloc, data, size + 1);
    if (imp.bundle_open) {
        tq_tf_bundle_close(&imp.bundle);
    }
    tf_map_free(&imp.fn_by_name);
    tf_map_free(&imp.names);
    tf_map_free(&imp.var_by_name);
    tf_map_free(&imp.ckpt_key);
    tf_map_free(&imp.var_obj);
    tq_free(imp.alloc, imp.vars, imp.cap_vars * sizeof(*imp.vars));
    return st;
}
