/* keras_layers.c: Keras layers -> IR nodes. Walks the layer call graph (Sequential chains, or a
 * functional model's inbound_nodes in the Keras 2 list form or the Keras 3 args form; for
 * MultiHeadAttention also the tensors passed as kwargs), converting each call once all of its
 * inputs exist. Each Keras tensor keeps up to two IR values: Keras order
 * (NHWC for rank 4) and NCHW, made lazily by one cached Transpose; spatial ops consume NCHW,
 * Flatten/Reshape/Dense and graph outputs Keras order. Constants (kernels converted HWIO -> OIHW)
 * are owned by the graph; temporary weight buffers are freed before each layer returns. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "import/keras/keras_build.h"

#define TQ_KERAS_MAX_LAYERS 100000
#define TQ_KERAS_MAX_JSON_DEPTH 32

/* One Keras tensor: IR values in Keras order and in NCHW (rank 4 only); -1 when not made yet. */
typedef struct kt {
    int32_t vk;
    int32_t vc;
    int32_t rank;
} kt;

typedef struct klayer {
    const char *name;
    const char *cls;
    const cJSON *cfg;
    const cJSON *nodes;  /* inbound_nodes (functional), or NULL */
    size_t n_calls;
    char wbase[128];     /* Keras 3 weights: snake_case of the class */
    char wpath[160];     /* Keras 3 weights: layers/<wpath>/vars (wbase, deduplicated) */
    kt *outs;            /* per call */
    bool *done;          /* per call */
} klayer;

typedef struct kref {
    size_t layer;
    size_t call;
} kref;

typedef struct kctx {
    tq_kbuild *b;
    tq_graph *g;
    const tfmq_allocator *alloc;
    klayer *L;
    size_t nL;
    const klayer *cur;   /* layer being converted (messages, names) */
    size_t cur_call;
    int32_t *inputs;
    size_t n_inputs;
} kctx;

static tfmq_status kfail(const kctx *c, tfmq_status st, const char *fmt, ...) TQ_PRINTF(3, 4);

static tfmq_status kfail(const kctx *c, tfmq_status st, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (c->cur) {
        return tq_fail(st, "keras: layer '%.100s' (%.60s): %s", c->cur->name, c->cur->cls, msg);
    }
    return tq_fail(st, "keras: %s", msg);
}

static tfmq_status koom(const kctx *c)
{
    return kfail(c, TFMQ_ERR_OUT_OF_MEMORY, "out of memory");
}

/* ---- JSON access ---- */

static const cJSON *jget(const cJSON *o, const char *k)
{
    return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
}

static bool jint(const cJSON *j, int64_t *out)
{
    if (!cJSON_IsNumber(j)) {
        return false;
    }
    double d = j->valuedouble;
    if (!(d >= -2147483648.0 && d <= 2147483647.0) || d != floor(d)) {
        return false;
    }
    *out = (int64_t)d;
    return true;
}

/* An int, or a list of `n` ints, or a single int repeated (kernel_size: 3 or [3, 3]). */
static tfmq_status cfg_ints(const kctx *c, const cJSON *cfg, const char *k, int64_t dflt,
                            size_t n, int64_t *out)
{
    const cJSON *j = jget(cfg, k);
    if (!j || cJSON_IsNull(j)) {
        for (size_t i = 0; i < n; i++) {
            out[i] = dflt;
        }
        return TFMQ_OK;
    }
    int64_t v;
    if (jint(j, &v)) {
        for (size_t i = 0; i < n; i++) {
            out[i] = v;
        }
        return TFMQ_OK;
    }
    if (cJSON_IsArray(j) && (size_t)cJSON_GetArraySize(j) == n) {
        for (size_t i = 0; i < n; i++) {
            if (!jint(cJSON_GetArrayItem(j, (int)i), &out[i])) {
                return kfail(c, TFMQ_ERR_PARSE, "'%s' is not a list of integers", k);
            }
        }
        return TFMQ_OK;
    }
    return kfail(c, TFMQ_ERR_PARSE, "'%s' must be an integer or a list of %zu integers", k, n);
}

static tfmq_status cfg_int(const kctx *c, const cJSON *cfg, const char *k, int64_t dflt,
                           int64_t *out)
{
    return cfg_ints(c, cfg, k, dflt, 1, out);
}

static tfmq_status cfg_float(const kctx *c, const cJSON *cfg, const char *k, double dflt,
                             double *out, bool *is_null)
{
    const cJSON *j = jget(cfg, k);
    if (is_null) {
        *is_null = j && cJSON_IsNull(j);
    }
    if (!j || cJSON_IsNull(j)) {
        *out = dflt;
        return TFMQ_OK;
    }
    if (cJSON_IsArray(j) && cJSON_GetArraySize(j) == 1) {
        j = cJSON_GetArrayItem(j, 0);
    }
    if (!cJSON_IsNumber(j) || !isfinite(j->valuedouble)) {
        return kfail(c, TFMQ_ERR_UNSUPPORTED, "'%s' must be a number", k);
    }
    *out = j->valuedouble;
    return TFMQ_OK;
}

static tfmq_status cfg_bool(const kctx *c, const cJSON *cfg, const char *k, bool dflt, bool *out)
{
    const cJSON *j = jget(cfg, k);
    if (!j || cJSON_IsNull(j)) {
        *out = dflt;
        return TFMQ_OK;
    }
    if (!cJSON_IsBool(j)) {
        return kfail(c, TFMQ_ERR_PARSE, "'%s' must be true or false", k);
    }
    *out = cJSON_IsTrue(j);
    return TFMQ_OK;
}

static tfmq_status cfg_str(const kctx *c, const cJSON *cfg, const char *k, const char *dflt,
                           const char **out)
{
    const cJSON *j = jget(cfg, k);
    if (!j || cJSON_IsNull(j)) {
        *out = dflt;
        return TFMQ_OK;
    }
    if (!cJSON_IsString(j)) {
        return kfail(c, TFMQ_ERR_PARSE, "'%s' must be a string", k);
    }
    *out = j->valuestring;
    return TFMQ_OK;
}

/* ---- IR building ---- */

/* A new value named "<layer>[:call]/<tag>" (or without "/<tag>"), made unique. */
static tfmq_status kvalue(kctx *c, const char *tag, int32_t *v)
{
    char name[512];
    int len;
    const char *lname = c->cur ? c->cur->name : "keras";
    if (c->cur_call) {
        len = snprintf(name, sizeof(name), "%.200s:%zu%s%.200s", lname, c->cur_call,
                       tag ? "/" : "", tag ? tag : "");
    } else {
        len = snprintf(name, sizeof(name), "%.200s%s%.200s", lname, tag ? "/" : "",
                       tag ? tag : "");
    }
    size_t base = len > 0 ? (size_t)len : 0;
    for (int k = 1; tq_graph_find_value(c->g, name) >= 0; k++) {
        snprintf(name + base, sizeof(name) - base, "_%d", k);
    }
    tfmq_status st = tq_graph_add_value(c->g, name, v);
    return st == TFMQ_OK ? st : koom(c);
}

/* A constant value of dtype dt and shape dims; *data_out receives its zeroed storage. */
static tfmq_status kconst(kctx *c, const char *tag, tfmq_dtype dt, int32_t rank,
                          const int64_t *dims, void **data_out, int32_t *v)
{
    tfmq_status st;
    tq_tensor t;
    size_t bytes;
    memset(&t, 0, sizeof(t));
    t.dtype = dt;
    t.rank = rank;
    for (int32_t i = 0; i < rank; i++) {
        t.dims[i] = dims[i];
    }
    if (!tq_tensor_bytes(&t, &bytes)) {
        return kfail(c, TFMQ_ERR_PARSE, "constant '%s' is too large", tag);
    }
    if ((st = kvalue(c, tag, v)) != TFMQ_OK) {
        return st;
    }
    void *d = tq_graph_alloc_data(c->g, bytes ? bytes : 1);
    if (!d) {
        return koom(c);
    }
    t.data = d;
    tq_value *val = &c->g->values[*v];
    val->t = t;
    val->data_bytes = bytes;
    val->flags |= TQ_VALUE_CONST;
    *data_out = d;
    return TFMQ_OK;
}

static tfmq_status kconst_f32(kctx *c, const char *tag, int32_t rank, const int64_t *dims,
                              float **data_out, int32_t *v)
{
    void *d = NULL;
    tfmq_status st = kconst(c, tag, TFMQ_DTYPE_FLOAT32, rank, dims, &d, v);
    *data_out = d;
    return st;
}

static tfmq_status kscalar(kctx *c, const char *tag, float x, int32_t *v)
{
    float *d;
    tfmq_status st = kconst_f32(c, tag, 0, NULL, &d, v);
    if (st == TFMQ_OK) {
        d[0] = x;
    }
    return st;
}

static tfmq_status kconst_i64(kctx *c, const char *tag, const int64_t *vals, size_t n,
                              int32_t *v)
{
    void *d = NULL;
    int64_t dims[1] = {(int64_t)n};
    tfmq_status st = kconst(c, tag, TFMQ_DTYPE_INT64, 1, dims, &d, v);
    if (st == TFMQ_OK && n) {
        memcpy(d, vals, n * sizeof(int64_t));
    }
    return st;
}

/* Add a node with one new output value (named by tag); attributes are set by the caller
 * through the returned node, before the next node is added. */
static tfmq_status knode(kctx *c, uint32_t op, const char *tag, const int32_t *ins, int32_t n_in,
                         int32_t n_attrs, int32_t *out_v, tq_node **node_out)
{
    tfmq_status st;
    int32_t v, ni;
    if ((st = kvalue(c, tag, &v)) != TFMQ_OK) {
        return st;
    }
    if ((st = tq_graph_add_node(c->g, op, c->g->values[v].name, n_in, 1, n_attrs, &ni)) !=
        TFMQ_OK) {
        return koom(c);
    }
    tq_node *n = &c->g->nodes[ni];
    for (int32_t i = 0; i < n_in; i++) {
        n->in[i] = ins[i];
    }
    n->out[0] = v;
    *out_v = v;
    if (node_out) {
        *node_out = n;
    }
    return TFMQ_OK;
}

static void ka_int(tq_node *n, int32_t i, const char *name, int64_t v)
{
    n->attrs[i].name = name;
    n->attrs[i].type = TQ_ATTR_INT;
    n->attrs[i].i = v;
}

static void ka_float(tq_node *n, int32_t i, const char *name, float v)
{
    n->attrs[i].name = name;
    n->attrs[i].type = TQ_ATTR_FLOAT;
    n->attrs[i].f = v;
}

static void ka_str(tq_node *n, int32_t i, const char *name, const char *s)
{
    n->attrs[i].name = name;
    n->attrs[i].type = TQ_ATTR_STRING;
    n->attrs[i].s = s;
}

static tfmq_status ka_ints(kctx *c, tq_node *n, int32_t i, const char *name, const int64_t *v,
                           size_t cnt)
{
    int64_t *d = tq_arena_alloc(c->g->arena, sizeof(int64_t) * (cnt ? cnt : 1));
    if (!d) {
        return koom(c);
    }
    memcpy(d, v, sizeof(int64_t) * cnt);
    n->attrs[i].name = name;
    n->attrs[i].type = TQ_ATTR_INTS;
    n->attrs[i].ints = d;
    n->attrs[i].n = cnt;
    return TFMQ_OK;
}

static tfmq_status kunary(kctx *c, uint32_t op, const char *tag, int32_t x, int32_t *y)
{
    return knode(c, op, tag, &x, 1, 0, y, NULL);
}

static tfmq_status kbinary(kctx *c, uint32_t op, const char *tag, int32_t a, int32_t b,
                           int32_t *y)
{
    int32_t ins[2] = {a, b};
    return knode(c, op, tag, ins, 2, 0, y, NULL);
}

static tfmq_status ktranspose(kctx *c, const char *tag, int32_t x, const int64_t *perm,
                              int32_t *y)
{
    tq_node *n;
    tfmq_status st = knode(c, TQ_OP_TRANSPOSE, tag, &x, 1, 1, y, &n);
    return st == TFMQ_OK ? ka_ints(c, n, 0, "perm", perm, 4) : st;
}

/* The tensor's NCHW value (rank 4), made and cached on first use. */
static tfmq_status k_nchw(kctx *c, kt *t, int32_t *v)
{
    static const int64_t perm[4] = {0, 3, 1, 2};
    tfmq_status st;
    if (t->rank != 4) {
        return kfail(c, TFMQ_ERR_UNSUPPORTED, "expects a 4-D input (batch, height, width, "
                     "channels), got rank %d", (int)t->rank);
    }
    if (t->vc < 0 && (st = ktranspose(c, "to_nchw", t->vk, perm, &t->vc)) != TFMQ_OK) {
        return st;
    }
    *v = t->vc;
    return TFMQ_OK;
}

/* The tensor's value in Keras order, made and cached on first use. */
static tfmq_status k_keras(kctx *c, kt *t, int32_t *v)
{
    static const int64_t perm[4] = {0, 2, 3, 1};
    tfmq_status st;
    if (t->vk < 0 && (st = ktranspose(c, "to_nhwc", t->vc, perm, &t->vk)) != TFMQ_OK) {
        return st;
    }
    *v = t->vk;
    return TFMQ_OK;
}

static void kt_set(kt *t, int32_t v, bool nchw, int32_t rank)
{
    t->vk = nchw ? -1 : v;
    t->vc = nchw ? v : -1;
    t->rank = rank;
}

/* Keras axis -> axis of the tensor as stored (NCHW remaps channels-last). */
static tfmq_status k_axis(const kctx *c, int64_t axis, int32_t rank, bool nchw, int64_t *out)
{
    int64_t a = axis < 0 ? axis + rank : axis;
    if (a < 0 || a >= rank) {
        return kfail(c, TFMQ_ERR_PARSE, "axis %lld is out of range for rank %d",
                     (long long)axis, (int)rank);
    }
    if (nchw) {
        static const int64_t map[4] = {0, 2, 3, 1};
        a = map[a];
    }
    *out = a;
    return TFMQ_OK;
}

/* ---- weights ---- */

/* Whether weight_names entry s ("mha/query/kernel:0") ends in the path components of want
 * ("query/kernel" or "kernel"), ignoring the ":<n>" suffix. */
static bool kw_name_match(const char *s, const char *want)
{
    const char *base = strrchr(s, '/');
    const char *colon = strchr(base ? base : s, ':');
    size_t end = colon ? (size_t)(colon - s) : strlen(s);
    size_t wl = strlen(want);
    return end >= wl && memcmp(s + end - wl, want, wl) == 0 &&
           (end == wl || s[end - wl - 1] == '/');
}

/* Read weight `wname` of the current layer, or of its sublayer (MultiHeadAttention's EinsumDense
 * projections) when sub2/sub3 are given. Keras 2 and Keras 3 .h5: matched by the trailing path
 * components of weight_names entries ("kernel" for "conv2d/kernel:0", "query/kernel" with sub2
 * "query" for "mha/query/kernel:0"), else the entry at `pos`; Keras 3 .keras: positional
 * vars/<pos> under layers/<wpath>[/<sub3>]. */
static tfmq_status kweight_read(kctx *c, const char *sub2, const char *sub3, const char *wname,
                                int pos, tq_kw *w)
{
    tq_kbuild *b = c->b;
    tfmq_status st;
    char what[256], path[1024];
    memset(w, 0, sizeof(*w));
    snprintf(what, sizeof(what), "layer '%.100s' (%.60s)", c->cur->name, c->cur->cls);
    if (!b->wroot) {
        return kfail(c, TFMQ_ERR_PARSE, "the file holds no weights (no model_weights group)");
    }
    if (b->v3_weights) {
        static const char *const roots[] = {"layers", "_layer_checkpoint_dependencies"};
        for (size_t r = 0; r < 2; r++) {
            snprintf(path, sizeof(path), "%s/%.400s%s%.100s/vars/%d", roots[r],
                     r == 0 ? c->cur->wpath : c->cur->name, sub3 ? "/" : "", sub3 ? sub3 : "",
                     pos);
            if (tq_kh5_exists(*b->wroot, path)) {
                return tq_kh5_read_f32(c->alloc, *b->wroot, path, what, w);
            }
        }
        return kfail(c, TFMQ_ERR_PARSE, "weight %d ('%s%s%s') not found in model.weights.h5",
                     pos, sub3 ? sub3 : "", sub3 ? "/" : "", wname);
    }
    if (!tq_kh5_exists(*b->wroot, c->cur->name)) {
        return kfail(c, TFMQ_ERR_PARSE, "no weights in the file (model_weights/%s missing)",
                     c->cur->name);
    }
    tq_h5_obj grp;
    tq_kstrs names;
    if ((st = tq_kh5_open_group(*b->wroot, c->cur->name, what, &grp)) != TFMQ_OK) {
        return st;
    }
    st = tq_kh5_read_strs(c->alloc, grp, "weight_names", what, &names);
    if (st != TFMQ_OK) {
        return st;
    }
    const char *found = NULL;
    char want[256];
    snprintf(want, sizeof(want), "%.100s%s%.100s", sub2 ? sub2 : "", sub2 ? "/" : "", wname);
    for (size_t i = 0; i < names.n && !found; i++) {
        if (kw_name_match(names.s[i], want)) {
            found = names.s[i];
        }
    }
    if (!found && pos >= 0 && (size_t)pos < names.n) {
        found = names.s[pos]; /* Keras 3 renamed some (DepthwiseConv2D: "kernel"); order holds */
    }
    if (!found) {
        tq_kstrs_free(c->alloc, &names);
        return kfail(c, TFMQ_ERR_PARSE, "weight '%s' not found in weight_names", want);
    }
    snprintf(path, sizeof(path), "%.400s/%.400s", c->cur->name, found);
    tq_kstrs_free(c->alloc, &names);
    return tq_kh5_read_f32(c->alloc, *b->wroot, path, what, w);
}

/* A layer's weight `wname` (position pos among the layer's weights where names do not match).
 * A weight without elements is refused: the layers' loops run over its dimensions one by one,
 * and [2, 2, 2^56, 0] would spin through 2^56 empty iterations (a fuzzed file did). */
static tfmq_status kweight_sub(kctx *c, const char *sub2, const char *sub3, const char *wname,
                               int pos, tq_kw *w)
{
    tfmq_status st = kweight_read(c, sub2, sub3, wname, pos, w);
    if (st == TFMQ_OK && w->n == 0) {
        char got[96];
        tq_tensor a;
        memset(&a, 0, sizeof(a));
        a.rank = w->rank;
        memcpy(a.dims, w->dims, sizeof(a.dims));
        tq_kw_free(c->alloc, w);
        return kfail(c, TFMQ_ERR_PARSE, "weight '%s' has no elements (shape %s)", wname,
                     tq_shape_str(&a, got, sizeof(got)));
    }
    return st;
}

static tfmq_status kweight(kctx *c, const char *wname, int pos, tq_kw *w)
{
    return kweight_sub(c, NULL, NULL, wname, pos, w);
}

static tfmq_status kw_expect(const kctx *c, const tq_kw *w, const char *wname, int32_t rank,
                             const int64_t *dims)
{
    bool ok = w->rank == rank;
    for (int32_t i = 0; ok && i < rank; i++) {
        ok = dims[i] < 0 || w->dims[i] == dims[i];
    }
    if (!ok) {
        char got[96], want[96];
        tq_tensor a, e;
        memset(&a, 0, sizeof(a));
        memset(&e, 0, sizeof(e));
        a.rank = w->rank;
        e.rank = rank;
        memcpy(a.dims, w->dims, sizeof(a.dims));
        for (int32_t i = 0; i < rank; i++) {
            e.dims[i] = dims[i];
        }
        return kfail(c, TFMQ_ERR_PARSE, "weight '%s' has shape %s, expected %s", wname,
                     tq_shape_str(&a, got, sizeof(got)), tq_shape_str(&e, want, sizeof(want)));
    }
    return TFMQ_OK;
}

/* A [n] float constant copied from a weight. */
static tfmq_status kvec(kctx *c, const char *tag, const tq_kw *w, int32_t *v)
{
    float *d;
    int64_t dims[1] = {(int64_t)w->n};
    tfmq_status st = kconst_f32(c, tag, 1, dims, &d, v);
    if (st == TFMQ_OK && w->n) {
        memcpy(d, w->data, w->n * sizeof(float));
    }
    return st;
}

/* ---- activations ---- */

/* Apply Keras activation `act` (a name) to value x stored in the given layout. */
static tfmq_status kact(kctx *c, const char *act, int32_t x, bool nchw, int32_t rank, int32_t *y)
{
    tfmq_status st;
    tq_node *n;
    int32_t a, b2;
    *y = x;
    if (!act || !strcmp(act, "linear")) {
        return TFMQ_OK;
    }
    if (!strcmp(act, "relu")) {
        return kunary(c, TQ_OP_RELU, "relu", x, y);
    }
    if (!strcmp(act, "relu6")) {
        if ((st = kscalar(c, "relu6_min", 0.0f, &a)) != TFMQ_OK ||
            (st = kscalar(c, "relu6_max", 6.0f, &b2)) != TFMQ_OK) {
            return st;
        }
        int32_t ins[3] = {x, a, b2};
        return knode(c, TQ_OP_CLIP, "relu6", ins, 3, 0, y, NULL);
    }
    if (!strcmp(act, "sigmoid")) {
        return kunary(c, TQ_OP_SIGMOID, "sigmoid", x, y);
    }
    if (!strcmp(act, "tanh")) {
        return kunary(c, TQ_OP_TANH, "tanh", x, y);
    }
    if (!strcmp(act, "softmax") || !strcmp(act, "log_softmax")) {
        int64_t axis = -1;
        if ((st = k_axis(c, -1, rank, nchw && rank == 4, &axis)) != TFMQ_OK) {
            return st;
        }
        uint32_t op = act[0] == 's' ? TQ_OP_SOFTMAX : TQ_OP_LOG_SOFTMAX;
        if ((st = knode(c, op, act, &x, 1, 1, y, &n)) != TFMQ_OK) {
            return st;
        }
        ka_int(n, 0, "axis", axis);
        return TFMQ_OK;
    }
    if (!strcmp(act, "swish") || !strcmp(act, "silu")) {
        if ((st = kunary(c, TQ_OP_SIGMOID, "swish_sigmoid", x, &a)) != TFMQ_OK) {
            return st;
        }
        return kbinary(c, TQ_OP_MUL, act, x, a, y);
    }
    if (!strcmp(act, "gelu")) {
        return kunary(c, TQ_OP_GELU, "gelu", x, y); /* exact erf form: Keras' default */
    }
    if (!strcmp(act, "hard_sigmoid")) {
        /* Keras 2: clip(0.2 x + 0.5, 0, 1); Keras 3: relu6(x + 3) / 6 */
        if ((st = knode(c, TQ_OP_HARD_SIGMOID, act, &x, 1, 2, y, &n)) != TFMQ_OK) {
            return st;
        }
        ka_float(n, 0, "alpha", c->b->keras_major >= 3 ? 1.0f / 6.0f : 0.2f);
        ka_float(n, 1, "beta", 0.5f);
        return TFMQ_OK;
    }
    if (!strcmp(act, "hard_swish") || !strcmp(act, "hard_silu")) {
        return kunary(c, TQ_OP_HARD_SWISH, act, x, y);
    }
    if (!strcmp(act, "elu")) {
        return kunary(c, TQ_OP_ELU, "elu", x, y);
    }
    if (!strcmp(act, "selu")) {
        return kunary(c, TQ_OP_SELU, "selu", x, y);
    }
    if (!strcmp(act, "softplus")) {
        return kunary(c, TQ_OP_SOFTPLUS, "softplus", x, y);
    }
    if (!strcmp(act, "softsign")) {
        return kunary(c, TQ_OP_SOFTSIGN, "softsign", x, y);
    }
    if (!strcmp(act, "exponential")) {
        return kunary(c, TQ_OP_EXP, "exp", x, y);
    }
    if (!strcmp(act, "mish")) {
        return kunary(c, TQ_OP_MISH, "mish", x, y);
    }
    if (!strcmp(act, "leaky_relu")) {
        if ((st = knode(c, TQ_OP_LEAKY_RELU, act, &x, 1, 1, y, &n)) != TFMQ_OK) {
            return st;
        }
        ka_float(n, 0, "alpha", 0.2f);
        return TFMQ_OK;
    }
    return kfail(c, TFMQ_ERR_UNSUPPORTED, "unsupported activation '%s'", act);
}

/* The layer's "activation" config entry: a name, or (Keras 3) {"config": name}. */
static tfmq_status cfg_act(const kctx *c, const cJSON *cfg, const char **out)
{
    const cJSON *j = jget(cfg, "activation");
    *out = NULL;
    if (!j || cJSON_IsNull(j)) {
        return TFMQ_OK;
    }
    if (cJSON_IsObject(j)) {
        j = jget(j, "config");
    }
    if (!cJSON_IsString(j)) {
        return kfail(c, TFMQ_ERR_UNSUPPORTED, "unsupported (custom) activation");
    }
    *out = j->valuestring;
    return TFMQ_OK;
}

/* ---- layers ---- */

typedef tfmq_status (*klayer_fn)(kctx *c, const cJSON *cfg, kt **in, size_t n_in, kt *out);

static tfmq_status k_one_input(const kctx *c, size_t n_in)
{
    if (n_in != 1) {
        return kfail(c, TFMQ_ERR_PARSE, "called with %zu inputs, expected 1", n_in);
    }
    return TFMQ_OK;
}

static tfmq_status k_channels_last(const kctx *c, const cJSON *cfg)
{
    const char *df;
    tfmq_status st = cfg_str(c, cfg, "data_format", "channels_last", &df);
    if (st == TFMQ_OK && strcmp(df, "channels_last") != 0) {
        return kfail(c, TFMQ_ERR_UNSUPPORTED, "unsupported data_format '%s'", df);
    }
    return st;
}

/* padding "valid"/"same" -> ONNX auto_pad (TF 'same' puts the extra pixel at the end). */
static tfmq_status k_padding(const kctx *c, const cJSON *cfg, const char **auto_pad)
{
    const char *p;
    tfmq_status st = cfg_str(c, cfg, "padding", "valid", &p);
    if (st != TFMQ_OK) {
        return st;
    }
    if (!strcmp(p, "valid")) {
        *auto_pad = "VALID";
    } else if (!strcmp(p, "same")) {
        *auto_pad = "SAME_UPPER";
    } else {
        return kfail(c, TFMQ_ERR_UNSUPPORTED, "unsupported padding '%s'", p);
    }
    return TFMQ_OK;
}

typedef struct kconv_geom {
    int64_t kernel[2], strides[2], dil[2];
    const char *auto_pad;
} kconv_geom;

static tfmq_status k_conv_geom(const kctx *c, const cJSON *cfg, kconv_geom *gm)
{
    tfmq_status st;
    if ((st = k_channels_last(c, cfg)) != TFMQ_OK ||
        (st = cfg_ints(c, cfg, "kernel_size", -1, 2, gm->kernel)) != TFMQ_OK ||
        (st = cfg_ints(c, cfg, "strides", 1, 2, gm->strides)) != TFMQ_OK ||
        (st = cfg_ints(c, cfg, "dilation_rate", 1, 2, gm->dil)) != TFMQ_OK ||
        (st = k_padding(c, cfg, &gm->auto_pad)) != TFMQ_OK) {
        return st;
    }
    for (int i = 0; i < 2; i++) {
        if (gm->kernel[i] < 1 || gm->strides[i] < 1 || gm->dil[i] < 1) {
            return kfail(c, TFMQ_ERR_PARSE, "kernel_size, strides and dilation_rate must be "
                         "positive");
        }
    }
    if ((gm->strides[0] > 1 || gm->strides[1] > 1) && (gm->dil[0] > 1 || gm->dil[1] > 1)) {
        return kfail(c, TFMQ_ERR_UNSUPPORTED, "strides > 1 together with dilation_rate > 1");
    }
    return TFMQ_OK;
}

/* Conv node on NCHW x with OIHW weight w and optional bias b (-1). */
static tfmq_status k_conv_node(kctx *c, const char *tag, int32_t x, int32_t w, int32_t b,
                               const kconv_geom *gm, const int64_t *kernel, int64_t group,
                               int32_t *y)
{
    tfmq_status st;
    tq_node *n;
    int32_t ins[3] = {x, w, b};
    if ((st = knode(c, TQ_OP_CONV, tag, ins, b >= 0 ? 3 : 2, 5, y, &n)) != TFMQ_OK) {
        return st;
    }
    const int64_t ones[2] = {1, 1};
    if ((st = ka_ints(c, n, 0, "kernel_shape", kernel, 2)) != TFMQ_OK ||
        (st = ka_ints(c, n, 1, "strides", gm ? gm->strides : ones, 2)) != TFMQ_OK ||
        (st = ka_ints(c, n, 2, "dilations", gm ? gm->dil : ones, 2)) != TFMQ_OK) {
        return st;
    }
    ka_int(n, 3, "group", group);
    ka_str(n, 4, "auto_pad", gm ? gm->auto_pad : "VALID");
    return TFMQ_OK;
}

static tfmq_status k_bias(kctx *c, bool use_bias, int pos, int64_t n_out, int32_t *b)
{
    tfmq_status st;
    tq_kw w;
    *b = -1;
    if (!use_bias) {
        return TFMQ_OK;
    }
    if ((st = kweight(c, "bias", pos, &w)) != TFMQ_OK) {
        return st;
    }
    int64_t dims[1] = {n_out};
    if ((st = kw_expect(c, &w, "bias", 1, dims)) == TFMQ_OK) {
        st = kvec(c, "bias", &w, b);
    }
    tq_kw_free(c->alloc, &w);
    return st;
}

static tfmq_status L_conv2d(kctx *c, const cJSON *cfg, kt **in, size_t n_in, kt *out)
{
    tfmq_status st;
    kconv_geom gm;
    int64_t filters, groups;
    bool use_bias;
    const char *act;
    tq_kw k;
    memset(&k, 0, sizeof(k));
    int32_t x, wv, bv, y;
    if ((st = k_one_input(c, n_in)) != TFMQ_OK || (st = k_conv_geom(c, cfg, &gm)) != TFMQ_OK ||
        (st = cfg_int(c, cfg, "filters", -1, &filters)) != TFMQ_OK ||
        (st = cfg_int(c, cfg, "groups", 1, &groups)) != TFMQ_OK ||
        (st = cfg_bool(c, cfg, "use_bias", true, &use_bias)) != TFMQ_OK ||
        (st = cfg_act(c, cfg, &act)) != TFMQ_OK || (st = k_nchw(c, in[0], &x)) != TFMQ_OK) {
        return st;
    }
    if (groups < 1) {
        return kfail(c, TFMQ_ERR_PARSE, "groups must be positive");
    }
    if ((st = kweight(c, "kernel", 0, &k)) != TFMQ_OK) {
        return st;
    }
    int64_t kd[4] = {gm.kernel[0], gm.kernel[1], -1, filters};
    TQ_TRY(st, kw_expect(c, &k, "kernel", 4, kd));
    /* HWIO -> OIHW */
    int64_t kh = k.dims[0], kw = k.dims[1], ci = k.dims[2], co = k.dims[3];
    if (co % groups != 0) {
        st = kfail(c, TFMQ_ERR_PARSE, "filters %lld is not divisible by groups %lld",
                   (long long)co, (long long)groups);
        goto fail;
    }
    int64_t wd[4] = {co, ci, kh, kw};
    float *w;
    TQ_TRY(st, kconst_f32(c, "kernel", 4, wd, &w, &wv));
    for (int64_t o = 0; o < co; o++) {
        for (int64_t i = 0; i < ci; i++) {
            for (int64_t yy = 0; yy < kh; yy++) {
                for (int64_t xx = 0; xx < kw; xx++) {
                    w[((o * ci + i) * kh + yy) * kw + xx] =
                        k.data[((yy * kw + xx) * ci + i) * co + o];
                }
            }
        }
    }
    TQ_TRY(st, k_bias(c, use_bias, 1, co, &bv));
    TQ_TRY(st, k_conv_node(c, "conv", x, wv, bv, &gm, gm.kernel, groups, &y));
    TQ_TRY(st, kact(c, act, y, true, 4, &y));
    kt_set(out, y, true, 4);
fail:
    tq_kw_free(c->alloc, &k);
    return st;
}

/* Depthwise kernel [kh, kw, C, M] -> Conv weight [C*M, 1, kh, kw] (output channel c*M + m). */
static tfmq_status k_depthwise_weight(kctx *c, const tq_kw *k, int32_t *wv)
{
    int64_t kh = k->dims[0], kw = k->dims[1], ch = k->dims[2], mult = k->dims[3];
    int64_t wd[4] = {ch * mult, 1, kh, kw};
    float *w;
    tfmq_status st = kconst_f32(c, "depthwise_kernel", 4, wd, &w, wv);
    if (st != TFMQ_OK) {
        return st;
    }
    for (int64_t ic = 0; ic < ch; ic++) {
        for (int64_t m = 0; m < mult; m++) {
            for (int64_t yy = 0; yy < kh; yy++) {
                for (int64_t xx = 0; xx < kw; xx++) {
                    w[((ic * mult + m) * kh + yy) * kw + xx] =
                        k->data[((yy * kw + xx) * ch + ic) * mult + m];
                }
            }
        }
    }
    return TFMQ_OK;
}

static tfmq_status L_depthwise(kctx *c, const cJSON *cfg, kt **in, size_t n_in, kt *out)
{
    tfmq_status st;
    kconv_geom gm;
    int64_t mult;
    bool use_bias;
    const char *act;
    tq_kw k;
    memset(&k, 0, sizeof(k));
    int32_t x, wv, bv, y;
    if ((st = k_one_input(c, n_in)) != TFMQ_OK || (st = k_conv_geom(c, cfg, &gm)) != TFMQ_OK ||
        (st = cfg_int(c, cfg, "depth_multiplier", 1, &mult)) != TFMQ_OK ||
        (st = cfg_bool(c, cfg, "use_bias", true, &use_bias)) != TFMQ_OK ||
        (st = cfg_act(c, cfg, &act)) != TFMQ_OK || (st = k_nchw(c, in[0], &x)) != TFMQ_OK) {
        return st;
    }
    if (mult < 1) {
        return kfail(c, TFMQ_ERR_PARSE, "depth_multiplier %lld: must be at least 1",
                     (long long)mult);
    }
    if ((st = kweight(c, "depthwise_kernel", 0, &k)) != TFMQ_OK) {
        return st;
    }
    int64_t kd[4] = {gm.kernel[0], gm.kernel[1], -1, mult};
    TQ_TRY(st, kw_expect(c, &k, "depthwise_kernel", 4, kd));
    TQ_TRY(st, k_depthwise_weight(c, &k, &wv));
    int64_t ch = k.dims[2];
    TQ_TRY(st, k_bias(c, use_bias, 1, ch * mult, &bv));
    TQ_TRY(st, k_conv_node(c, "conv", x, wv, bv, &gm, gm.kernel, ch, &y));
    TQ_TRY(st, kact(c, act, y, true, 4, &y));
    kt_set(out, y, true, 4);
fail:
    tq_kw_free(c->alloc, &k);
    return st;
}

static tfmq_status L_separable(kctx *c, const cJSON *cfg, kt **in, size_t n_in, kt *out)
{
    tfmq_status st;
    kconv_geom gm;
    int64_t mult, filters;
    bool use_bias;
    const char *act;
    tq_kw k, p;
    memset(&k, 0, sizeof(k));
    memset(&p, 0, sizeof(p));
    int32_t x, wv, pv, bv, y;
    if ((st = k_one_input(c, n_in)) != TFMQ_OK || (st = k_conv_geom(c, cfg, &gm)) != TFMQ_OK ||
        (st = cfg_int(c, cfg, "depth_multiplier", 1, &mult)) != TFMQ_OK ||
        (st = cfg_int(c, cfg, "filters", -1, &filters)) != TFMQ_OK ||
        (st = cfg_bool(c, cfg, "use_bias", true, &use_bias)) != TFMQ_OK ||
        (st = cfg_act(c, cfg, &act)) != TFMQ_OK || (st = k_nchw(c, in[0], &x)) != TFMQ_OK) {
        return st;
    }
    if (mult < 1) {
        return kfail(c, TFMQ_ERR_PARSE, "depth_multiplier %lld: must be at least 1",
                     (long long)mult);
    }
    TQ_TRY(st, kweight(c, "depthwise_kernel", 0, &k));
    int64_t kd[4] = {gm.kernel[0], gm.kernel[1], -1, mult};
    TQ_TRY(st, kw_expect(c, &k, "depthwise_kernel", 4, kd));
    int64_t ch = k.dims[2];
    TQ_TRY(st, kweight(c, "pointwise_kernel", 1, &p));
    int64_t pd[4] = {1, 1, ch * mult, filters};
    TQ_TRY(st, kw_expect(c, &p, "pointwise_kernel", 4, pd));
    int64_t co = p.dims[3], cm = ch * mult;
    TQ_TRY(st, k_depthwise_weight(c, &k, &wv));
    int64_t wd[4] = {co, cm, 1, 1};
    float *w;
    TQ_TRY(st, kconst_f32(c, "pointwise_kernel", 4, wd, &w, &pv));
    for (int64_t o = 0; o < co; o++) {
        for (int64_t i = 0; i < cm; i++) {
            w[o * cm + i] = p.data[i * co + o];
        }
    }
    TQ_TRY(st, k_bias(c, use_bias, 2, co, &bv));
    TQ_TRY(st, k_conv_node(c, "depthwise", x, wv, -1, &gm, gm.kernel, ch, &y));
    const int64_t one[2] = {1, 1};
    TQ_TRY(st, k_conv_node(c, "pointwise", y, pv, bv, NULL, one, 1, &y));
    TQ_TRY(st, kact(c, act, y, true, 4, &y));
    kt_set(out, y, true, 4);
fail:
    tq_kw_free(c->alloc, &k);
    tq_kw_free(c->alloc, &p);
    return st;
}


static tfmq_status L_dense(kctx *c, const cJSON *cfg, kt **in, size_t n_in, kt *out)
{
    tfmq_status st;
    int64_t units;
    bool use_bias;
    const char *act;
    tq_kw k;
    memset(&k, 0, sizeof(k));
    int32_t x, wv, bv, y;
    if ((st = k_one_input(c, n_in)) != TFMQ_OK ||
        (st = cfg_int(c, cfg, "units", -1, &units)) != TFMQ_OK ||
        (st = cfg_bool(c, cfg, "use_bias", true, &use_bias)) != TFMQ_OK ||
        (st = cfg_act(c, cfg, &act)) != TFMQ_OK || (st = k_keras(c, in[0], &x)) != TFMQ_OK) {
        return st;
    }
    int32_t rank = in[0]->rank;
    if (rank < 2) {
        return kfail(c, TFMQ_ERR_UNSUPPORTED, "input of rank %d", (int)rank);
    }
    if ((st = kweight(c, "kernel", 0, &k)) != TFMQ_OK) {
        return st;
    }
    int64_t kd[2] = {-1, units};
    TQ_TRY(st, kw_expect(c, &k, "kernel", 2, kd));
    float *w;
    TQ_TRY(st, kconst_f32(c, "kernel", 2, k.dims, &w, &wv));
    memcpy(w, k.data, k.n * sizeof(float));
    TQ_TRY(st, k_bias(c, use_bias, 1, k.dims[1], &bv));
    if (rank == 2) { /* Gemm: y = x W + b */
        int32_t ins[3] = {x, wv, bv};
        TQ_TRY(st, knode(c, TQ_OP_GEMM, "gemm", ins, bv >= 0 ? 3 : 2, 0, &y, NULL));
    } else { /* Dense applies to the last axis: MatMul + Add */
        TQ_TRY(st, kbinary(c, TQ_OP_MATMUL, "matmul", x, wv, &y));
        if (bv >= 0) {
            TQ_TRY(st, kbinary(c, TQ_OP_ADD, "bias_add", y, bv, &y));
        }
    }
    TQ_TRY(st, kact(c, act, y, false, rank, &y));
    kt_set(out, y, false, rank);
fail:
    tq_kw_free(c->alloc, &k);
    return st;
}

/* The tensor's value in its current layout (NCHW preferred: it is what spatial ops made). */
static void k_cur(const kt *t, int32_t *v, bool *nchw)
{
    *nchw = t->vc >= 0;
    *v = *nchw ? t->vc : t->vk;
}

static tfmq_status L_batchnorm(kctx *c, const cJSON *cfg, kt **in, size_t n_in, kt *out)
{
    tfmq_status st;
    double eps;
    bool center, scale;
    int64_t axis;
    tq_kw w[4];
    memset(w, 0, sizeof(w));
    if ((st = k_one_input(c, n_in)) != TFMQ_OK ||
        (st = cfg_float(c, cfg, "epsilon", 1e-3, &eps, NULL)) != TFMQ_OK ||
        (st = cfg_bool(c, cfg, "center", true, &center)) != TFMQ_OK ||
        (st = cfg_bool(c, cfg, "scale", true, &scale)) != TFMQ_OK) {
        return st;
    }
    const cJSON *ja = jget(cfg, "axis");
    if (cJSON_IsArray(ja) && cJSON_GetArraySize(ja) != 1) {
        return kfail(c, TFMQ_ERR_UNSUPPORTED, "normalization over several axes");
    }
    if ((st = cfg_int(c, cfg, "axis", -1, &axis)) != TFMQ_OK) {
        return st;
    }
    kt *t = in[0];
    int32_t rank = t->rank, x, y;
    int64_t a = axis < 0 ? axis + rank : axis;
    if (rank < 2 || a < 1 || a >= rank) {
        return kfail(c, TFMQ_ERR_UNSUPPORTED, "axis %lld of a rank-%d input", (long long)axis,
                     (int)rank);
    }
    bool nchw = rank == 4 && a == 3;
    if (nchw) {
        TQ_TRY(st, k_nchw(c, t, &x));
        a = 1;
    } else {
        TQ_TRY(st, k_keras(c, t, &x));
    }
    /* positions in Keras 3 vars: [gamma][beta] moving_mean moving_variance */
    int pos = 0;
    if (scale) {
        TQ_TRY(st, kweight(c, "gamma", pos++, &w[0]));
    }
    if (center) {
        TQ_TRY(st, kweight(c, "beta", pos++, &w[1]));
    }
    TQ_TRY(st, kweight(c, "moving_mean", pos++, &w[2]));
    TQ_TRY(st, kweight(c, "moving_variance", pos++, &w[3]));
    int64_t ch[1] = {(int64_t)w[2].n};
    static const char *const names[4] = {"gamma", "beta", "moving_mean", "moving_variance"};
    for (int i = 0; i < 4; i++) {
        if (w[i].data) {
            TQ_TRY(st, kw_expect(c, &w[i], names[i], 1, ch));
        }
    }
    size_t nc = w[2].n;
    if (a == 1) { /* BatchNormalization(x, scale, bias, mean, var) */
        int32_t ins[5];
        float *d[4];
        for (int i = 0; i < 4; i++) {
            TQ_TRY(st, kconst_f32(c, names[i], 1, ch, &d[i], &ins[1 + i]));
            for (size_t j = 0; j < nc; j++) {
                d[i][j] = w[i].data ? w[i].data[j] : (i == 0 ? 1.0f : 0.0f);
            }
        }
        ins[0] = x;
        tq_node *n;
        TQ_TRY(st, knode(c, TQ_OP_BATCH_NORM, "batchnorm", ins, 5, 1, &y, &n));
        ka_float(n, 0, "epsilon", (float)eps);
    } else { /* another axis: y = x * s + t, s and t shaped [C, 1, ...] to broadcast */
        int64_t bd[TQ_MAX_RANK];
        int32_t br = rank - (int32_t)a, sv, tv;
        for (int32_t i = 0; i < br; i++) {
            bd[i] = i == 0 ? (int64_t)nc : 1;
        }
        float *s, *sh;
        TQ_TRY(st, kconst_f32(c, "scale", br, bd, &s, &sv));
        TQ_TRY(st, kconst_f32(c, "shift", br, bd, &sh, &tv));
        for (size_t j = 0; j < nc; j++) {
            double g = w[0].data ? (double)w[0].data[j] : 1.0;
            double be = w[1].data ? (double)w[1].data[j] : 0.0;
            double inv = g / sqrt((double)w[3].data[j] + eps);
            s[j] = (float)inv;
            sh[j] = (float)(be - (double)w[2].data[j] * inv);
        }
        TQ_TRY(st, kbinary(c, TQ_OP_MUL, "scale_mul", x, sv, &y));
        TQ_TRY(st, kbinary(c, TQ_OP_ADD, "shift_add", y, tv, &y));
    }
    kt_set(out, y, nchw, rank);
fail:
    for (int i = 0; i < 4; i++) {
        tq_kw_free(c->alloc, &w[i]);
    }
    return st;
}

static tfmq_status L_activation(kctx *c, const cJSON *cfg, kt **in, size_t n_in, kt *out)
{
    tfmq_status st;
    const char *act;
    int32_t x, y;
    bool nchw;
    if ((st = k_one_input(c, n_in)) != TFMQ_OK || (st = cfg_act(c, cfg, &act)) != TFMQ_OK) {
        return st;
    }
    k_cur(in[0], &x, &nchw);
    if ((st = kact(c, act, x, nchw, in[0]->rank, &y)) != TFMQ_OK) {
        return st;
    }
    if (y == x) {
        *out = *in[0];
    } else {
        kt_set(out, y, nchw, in[0]->rank);
    }
    return TFMQ_OK;
}

/* ReLU(max_value, negative_slope, threshold) of Keras:
 * y = max_value for x >= max_value, x for threshold <= x < max_value, slope*(x-threshold) else */
static tfmq_status L_relu(kctx *c, const cJSON *cfg, kt **in, size_t n_in, kt *out)
{
    tfmq_status st;
    double maxv, slope, thr;
    bool no_max;
    int32_t x, y, a;
    bool nchw;
    tq_node *n;
    if ((st = k_one_input(c, n_in)) != TFMQ_OK ||
        (st = cfg_float(c, cfg, "max_value", 0.0, &maxv, &no_max)) != TFMQ_OK ||
        (st = cfg_float(c, cfg, "negative_slope", 0.0, &slope, NULL)) != TFMQ_OK ||
        (st = cfg_float(c, cfg, "threshold", 0.0, &thr, NULL)) != TFMQ_OK) {
        return st;
    }
    if (!jget(cfg, "max_value")) {
        no_max = true;
    }
    k_cur(in[0], &x, &nchw);
    if (thr != 0.0) {
        if (slope != 0.0) {
            return kfail(c, TFMQ_ERR_UNSUPPORTED, "threshold together with negative_slope");
        }
        TQ_TRY(st, knode(c, TQ_OP_THRESHOLDED_RELU, "thresholded_relu", &x, 1, 1, &y, &n));
        ka_float(n, 0, "alpha", (float)thr);
    } else if (slope != 0.0) {
        TQ_TRY(st, knode(c, TQ_OP_LEAKY_RELU, "leaky_relu", &x, 1, 1, &y, &n));
        ka_float(n, 0, "alpha", (float)slope);
    } else if (!no_max) {
        int32_t lo, hi;
        TQ_TRY(st, kscalar(c, "min", 0.0f, &lo));
        TQ_TRY(st, kscalar(c, "max", (float)maxv, &hi));
        int32_t ins[3] = {x, lo, hi};
        TQ_TRY(st, knode(c, TQ_OP_CLIP, "clip", ins, 3, 0, &y, NULL));
        kt_set(out, y, nchw, in[0]->rank);
        return TFMQ_OK;
    } else {
        TQ_TRY(st, kunary(c, TQ_OP_RELU, "relu", x, &y));
    }
    if (!no_max) { /* the max bound on top of the slope/threshold forms */
        TQ_TRY(st, kscalar(c, "max", (float)maxv, &a));
        int32_t ins[3] = {y, -1, a};
        TQ_TRY(st, knode(c, TQ_OP_CLIP, "clip", ins, 3, 0, &y, NULL));
    }
    kt_set(out, y, nchw, in[0]->rank);
fail:
    return st;
}

static tfmq_status L_leaky_relu(kctx *c, const cJSON *cfg, kt **in, size_t n_in, kt *out)
{
    tfmq_status st;
    double alpha;
    int32_t x, y;
    bool nchw;
    tq_node *n;
    if ((st = k_one_input(c, n_in)) != TFMQ_OK) {
        return st;
    }
    const char *key = jget(cfg, "negative_slope") ? "negative_slope" : "alpha";
    if ((st = cfg_float(c, cfg, key, 0.3, &alpha, NULL)) != TFMQ_OK) {
        return st;
    }
    k_cur(in[0], &x, &nchw);
    if ((st = knode(c, TQ_OP_LEAKY_RELU, "leaky_relu", &x, 1, 1, &y, &n)) != TFMQ_OK) {
        return st;
    }
    ka_float(n, 0, "alpha", (float)alpha);
    kt_set(out, y, nchw, in[0]->rank);
    return TFMQ_OK;
}

static tfmq_status L_elu(kctx *c, const cJSON *cfg, kt **in, size_t n_in, kt *out)
{
    tfmq_status st;
    double alpha;
    int32_t x, y;
    bool nchw;
    tq_node *n;
    if ((st = k_one_input(c, n_in)) != TFMQ_OK ||
        (st = cfg_float(c, cfg, "alpha", 1.0, &alpha, NULL)) != TFMQ_OK) {
        return st;
    }
    k_cur(in[0], &x, &nchw);
    if ((st = knode(c, TQ_OP_ELU, "elu", &x, 1, 1, &y, &n)) != TFMQ_OK) {
        return st;
    }
    ka_float(n, 0, "alpha", (float)alpha);
    kt_set(out, y, nchw, in[0]->rank);
    return TFMQ_OK;
}

static tfmq_status L_softmax(kctx *c, const cJSON *cfg, kt **in, size_t n_in, kt *out)
{
    tfmq_status st;
    int64_t axis;
    int32_t x, y;
    bool nchw;
    tq_node *n;
    const cJSON *ja = jget(cfg, "axis");
    if (cJSON_IsArray(ja) && cJSON_GetArraySize(ja) != 1) {
        return kfail(c, TFMQ_ERR_UNSUPPORTED, "softmax over several axes");
    }
    if ((st = k_one_input(c, n_in)) != TFMQ_OK ||
        (st = cfg_int(c, cfg, "axis", -1, &axis)) != TFMQ_OK) {
        return st;
    }
    k_cur(in[0], &x, &nchw);
    if ((st = k_axis(c, axis, in[0]->rank, nchw, &axis)) != TFMQ_OK ||
        (st = knode(c, TQ_OP_SOFTMAX, "softmax", &x, 1, 1, &y, &n)) != TFMQ_OK) {
        return st;
    }
    ka_int(n, 0, "axis", axis);
    kt_set(out, y, nchw, in[0]->rank);
    return TFMQ_OK;
}

/* Inputs of a merge layer in one layout: NCHW when they are rank 4 and any of them is NCHW. */
static tfmq_status k_merge_inputs(kctx *c, kt **in, size_t n_in, size_t min_in, int32_t *vs,
                                  bool *nchw_out)
{
    tfmq_status st;
    if (n_in < min_in || n_in > TQ_MAX_IO) {
        return kfail(c, TFMQ_ERR_PARSE, "called with %zu inputs", n_in);
    }
    bool nchw = false;
    for (size_t i = 0; i < n_in; i++) {
        if (in[i]->rank != in[0]->rank) {
            return kfail(c, TFMQ_ERR_UNSUPPORTED, "inputs of different ranks (%d and %d)",
                         (int)in[0]->rank, (int)in[i]->rank);
        }
        nchw = nchw || in[i]->vc >= 0;
    }
    nchw = nchw && in[0]->rank == 4;
    for (size_t i = 0; i < n_in; i++) {
        if ((st = nchw ? k_nchw(c, in[i], &vs[i]) : k_keras(c, in[i], &vs[i])) != TFMQ_OK) {
            return st;
        }
    }
    *nchw_out = nchw;
    return TFMQ_OK;
}

static tfmq_status k_merge(kctx *c, kt **in, size_t n_in, kt *out, uint32_t op2, uint32_t opn,
                           const char *tag)
{
    tfmq_status st;
    int32_t vs[TQ_MAX_IO], y;
    bool nchw;
    if ((st = k_merge_inputs(c, in, n_in, 2, vs, &nchw)) != TFMQ_OK) {
        return st;
    }
    if (n_in == 2 || opn == op2) {
        y = vs[0];
        for (size_t i = 1; i < n_in; i++) {
            if ((st = kbinary(c, op2, tag, y, vs[i], &y)) != TFMQ_OK) {
                return st;
            }
        }
    } else if ((st = knode(c, opn, tag, vs, (int32_t)n_in, 0, &y, NULL)) != TFMQ_OK) {
        return st;
    }
    kt_set(out, y, nchw, in[0]->rank);
    return TFMQ_OK;
}

static tfmq_status L_add(kctx *c, const cJSON *cfg, kt **in, size_t n_in, kt *out)
{
    (void)cfg;
    return k_merge(c, in, n_in, out, TQ_OP_ADD, TQ_OP_SUM, "add");
}

static tfmq_status L_multiply(kctx *c, const cJSON *cfg, kt **in, size_t n_in, kt *out)
{
    (void)cfg;
    return k_merge(c, in, n_in, out, TQ_OP_MUL, TQ_OP_MUL, "mul");
}

static tfmq_status L_subtract(kctx *c, const cJSON *cfg, kt **in, size_t n_in, kt *out)
{
    (void)cfg;
    if (n_in != 2) {
        return kfail(c, TFMQ_ERR_PARSE, "called with %zu inputs, expected 2", n_in);
    }
    return k_merge(c, in, n_in, out, TQ_OP_SUB, TQ_OP_SUB, "sub");
}

static tfmq_status L_maximum(kctx *c, const cJSON *cfg, kt **in, size_t n_in, kt *out)
{
    (void)cfg;
    return k_merge(c, in, n_in, out, TQ_OP_MAX, TQ_OP_MAX, "max");
}

static tfmq_status L_minimum(kctx *c, const cJSON *cfg, kt **in, size_t n_in, kt *out)
{
    (void)cfg;
    return k_merge(c, in, n_in, out, TQ_OP_MIN, TQ_OP_MIN, "min");
}

static tfmq_status L_average(kctx *c, const cJSON *cfg, kt **in, size_t n_in, kt *out)
{
    tfmq_status st;
    int32_t vs[TQ_MAX_IO], y;
    bool nchw;
    (void)cfg;
    if ((st = k_merge_inputs(c, in, n_in, 2, vs, &nchw)) != TFMQ_OK ||
        (st = knode(c, TQ_OP_MEAN, "mean", vs, (int32_t)n_in, 0, &y, NULL)) != TFMQ_OK) {
        return st;
    }
    kt_set(out, y, nchw, in[0]->rank);
    return TFMQ_OK;
}

static tfmq_status L_concat(kctx *c, const cJSON *cfg, kt **in, size_t n_in, kt *out)
{
    tfmq_status st;
    int32_t vs[TQ_MAX_IO], y;
    bool nchw;
    int64_t axis;
    tq_node *n;
    if ((st = cfg_int(c, cfg, "axis", -1, &axis)) != TFMQ_OK ||
        (st = k_merge_inputs(c, in, n_in, 1, vs, &nchw)) != TFMQ_OK ||
        (st = k_axis(c, axis, in[0]->rank, nchw, &axis)) != TFMQ_OK ||
        (st = knode(c, TQ_OP_CONCAT, "concat", vs, (int32_t)n_in, 1, &y, &n)) != TFMQ_OK) {
        return st;
    }
    ka_int(n, 0, "axis", axis);
    kt_set(out, y, nchw, in[0]->rank);
    return TFMQ_OK;
}

static tfmq_status L_zeropad(kctx *c, const cJSON *cfg, kt **in, size_t n_in, kt *out)
{
    tfmq_status st;
    int64_t p[4] = {1, 1, 1, 1}; /* top, bottom, left, right */
    int32_t x, pv, y;
    if ((st = k_one_input(c, n_in)) != TFMQ_OK || (st = k_channels_last(c, cfg)) != TFMQ_OK) {
        return st;
    }
    const cJSON *j = jget(cfg, "padding");
    int64_t v;
    if (jint(j, &v)) {
        p[0] = p[1] = p[2] = p[3] = v;
    } else if (cJSON_IsArray(j) && cJSON_GetArraySize(j) == 2) {
        for (int d = 0; d < 2; d++) {
            const cJSON *e = cJSON_GetArrayItem(j, d);
            if (jint(e, &v)) {
                p[2 * d] = p[2 * d + 1] = v;
            } else if (cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2 &&
                       jint(cJSON_GetArrayItem(e, 0), &p[2 * d]) &&
                       jint(cJSON_GetArrayItem(e, 1), &p[2 * d + 1])) {
            } else {
                return kfail(c, TFMQ_ERR_PARSE, "bad 'padding'");
            }
        }
    } else if (j) {
        return kfail(c, TFMQ_ERR_PARSE, "bad 'padding'");
    }
    for (int i = 0; i < 4; i++) {
        if (p[i] < 0) {
            return kfail(c, TFMQ_ERR_PARSE, "negative padding");
        }
    }
    const int64_t pads[8] = {0, 0, p[0], p[2], 0, 0, p[1], p[3]};
    if ((st = k_nchw(c, in[0], &x)) != TFMQ_OK ||
        (st = kconst_i64(c, "pads", pads, 8, &pv)) != TFMQ_OK ||
        (st = kbinary(c, TQ_OP_PAD, "pad", x, pv, &y)) != TFMQ_OK) {
        return st;
    }
    kt_set(out, y, true, 4);
    return TFMQ_OK;
}

static tfmq_status k_pool(kctx *c, const cJSON *cfg, kt **in, size_t n_in, kt *out, bool is_max)
{
    tfmq_status st;
    int64_t size[2], strides[2];
    const char *auto_pad;
    int32_t x, y;
    tq_node *n;
    if ((st = k_one_input(c, n_in)) != TFMQ_OK || (st = k_channels_last(c, cfg)) != TFMQ_OK ||
        (st = cfg_ints(c, cfg, "pool_size", 2, 2, size)) != TFMQ_OK ||
        (st = cfg_ints(c, cfg, "strides", -1, 2, strides)) != TFMQ_OK ||
        (st = k_padding(c, cfg, &auto_pad)) != TFMQ_OK) {
        return st;
    }
    for (int i = 0; i < 2; i++) {
        if (strides[i] < 0) {
            strides[i] = size[i]; /* strides None: the pool size */
        }
        if (size[i] < 1 || strides[i] < 1) {
            return kfail(c, TFMQ_ERR_PARSE, "pool_size and strides must be positive");
        }
    }
    if ((st = k_nchw(c, in[0], &x)) != TFMQ_OK ||
        (st = knode(c, is_max ? TQ_OP_MAX_POOL : TQ_OP_AVERAGE_POOL, is_max ? "maxpool" : "avgpool",
                    &x, 1, is_max ? 3 : 4, &y, &n)) != TFMQ_OK ||
        (st = ka_ints(c, n, 0, "kernel_shape", size, 2)) != TFMQ_OK ||
        (st = ka_ints(c, n, 1, "strides", strides, 2)) != TFMQ_OK) {
        return st;
    }
    ka_str(n, 2, "auto_pad", auto_pad);
    if (!is_max) {
        ka_int(n, 3, "count_include_pad", 0); /* TF's 'same' average ignores the padding */
    }
    kt_set(out, y, true, 4);
    return TFMQ_OK;
}

static tfmq_status L_maxpool(kctx *c, const cJSON *cfg, kt **in, size_t n_in, kt *out)
{
    return k_pool(c, cfg, in, n_in, out, true);
}

static tfmq_status L_avgpool(kctx *c, const cJSON *cfg, kt **in, size_t n_in, kt *out)
{
    return k_pool(c, cfg, in, n_in, out, false);
}

static tfmq_status k_global_pool(kctx *c, const cJSON *cfg, kt **in, size_t n_in, kt *out,
                                 uint32_t op)
{
    tfmq_status st;
    bool keepdims;
    int32_t x, y;
    tq_node *n;
    if ((st = k_one_input(c, n_in)) != TFMQ_OK || (st = k_channels_last(c, cfg)) != TFMQ_OK ||
        (st = cfg_bool(c, cfg, "keepdims", false, &keepdims)) != TFMQ_OK ||
        (st = k_nchw(c, in[0], &x)) != TFMQ_OK ||
        (st = kunary(c, op, op == TQ_OP_GLOBAL_MAX_POOL ? "global_maxpool" : "global_avgpool", x,
                     &y)) != TFMQ_OK) {
        return st;
    }
    if (keepdims) { /* [N, C, 1, 1] is the NCHW form of Keras' [N, 1, 1, C] */
        kt_set(out, y, true, 4);
        return TFMQ_OK;
    }
    if ((st = knode(c, TQ_OP_FLATTEN, "flatten", &y, 1, 1, &y, &n)) != TFMQ_OK) {
        return st;
    }
    ka_int(n, 0, "axis", 1);
    kt_set(out, y, false, 2);
    return TFMQ_OK;
}

static tfmq_status L_gap(kctx *c, const cJSON *cfg, kt **in, size_t n_in, kt *out)
{
    return k_global_pool(c, cfg, in, n_in, out, TQ_OP_GLOBAL_AVERAGE_POOL);
}

static tfmq_status L_gmp(kctx *c, const cJSON *cfg, kt **in, size_t n_in, kt *out)
{
    return k_global_pool(c, cfg, in, n_in, out, TQ_OP_GLOBAL_MAX_POOL);
}

static tfmq_status L_flatten(kctx *c, const cJSON *cfg, kt **in, size_t n_in, kt *out)
{
    tfmq_status st;
    int32_t x, y;
    tq_node *n;
    if ((st = k_one_input(c, n_in)) != TFMQ_OK || (st = k_channels_last(c, cfg)) != TFMQ_OK ||
        (st = k_keras(c, in[0], &x)) != TFMQ_OK) {
        return st;
    }
    if (in[0]->rank == 2) {
        *out = *in[0];
        return TFMQ_OK;
    }
    if ((st = knode(c, TQ_OP_FLATTEN, "flatten", &x, 1, 1, &y, &n)) != TFMQ_OK) {
        return st;
    }
    ka_int(n, 0, "axis", 1);
    kt_set(out, y, false, 2);
    return TFMQ_OK;
}

static tfmq_status L_reshape(kctx *c, const cJSON *cfg, kt **in, size_t n_in, kt *out)
{
    tfmq_status st;
    int64_t shape[TQ_MAX_RANK];
    int32_t x, sv, y;
    const cJSON *j = jget(cfg, "target_shape");
    if ((st = k_one_input(c, n_in)) != TFMQ_OK) {
        return st;
    }
    int n = cJSON_IsArray(j) ? cJSON_GetArraySize(j) : -1;
    if (n < 0 || n + 1 > TQ_MAX_RANK) {
        return kfail(c, TFMQ_ERR_PARSE, "bad 'target_shape'");
    }
    shape[0] = 0; /* copy the batch dim */
    int n_neg = 0;
    for (int i = 0; i < n; i++) {
        if (!jint(cJSON_GetArrayItem(j, i), &shape[i + 1]) || shape[i + 1] == 0 ||
            shape[i + 1] < -1) {
            return kfail(c, TFMQ_ERR_PARSE, "bad 'target_shape'");
        }
        n_neg += shape[i + 1] == -1;
    }
    if (n_neg > 1) {
        return kfail(c, TFMQ_ERR_PARSE, "'target_shape' has more than one -1");
    }
    if ((st = k_keras(c, in[0], &x)) != TFMQ_OK ||
        (st = kconst_i64(c, "shape", shape, (size_t)n + 1, &sv)) != TFMQ_OK ||
        (st = kbinary(c, TQ_OP_RESHAPE, "reshape", x, sv, &y)) != TFMQ_OK) {
        return st;
    }
    kt_set(out, y, false, n + 1);
    return TFMQ_OK;
}

static tfmq_status L_identity(kctx *c, const cJSON *cfg, kt **in, size_t n_in, kt *out)
{
    tfmq_status st = k_one_input(c, n_in);
    (void)cfg;
    if (st == TFMQ_OK) {
        *out = *in[0];
    }
    return st;
}

static tfmq_status L_rescaling(kctx *c, const cJSON *cfg, kt **in, size_t n_in, kt *out)
{
    tfmq_status st;
    double scale, offset;
    int32_t x, y, sv;
    bool nchw;
    if ((st = k_one_input(c, n_in)) != TFMQ_OK ||
        (st = cfg_float(c, cfg, "scale", 1.0, &scale, NULL)) != TFMQ_OK ||
        (st = cfg_float(c, cfg, "offset", 0.0, &offset, NULL)) != TFMQ_OK) {
        return st;
    }
    k_cur(in[0], &x, &nchw);
    y = x;
    if (scale != 1.0 && ((st = kscalar(c, "scale", (float)scale, &sv)) != TFMQ_OK ||
                         (st = kbinary(c, TQ_OP_MUL, "mul", y, sv, &y)) != TFMQ_OK)) {
        return st;
    }
    if (offset != 0.0 && ((st = kscalar(c, "offset", (float)offset, &sv)) != TFMQ_OK ||
                          (st = kbinary(c, TQ_OP_ADD, "add", y, sv, &y)) != TFMQ_OK)) {
        return st;
    }
    if (y == x) {
        *out = *in[0];
    } else {
        kt_set(out, y, nchw, in[0]->rank);
    }
    return TFMQ_OK;
}

/* A Transpose of any rank (perm of n entries). */
static tfmq_status ktranspose_n(kctx *c, const char *tag, int32_t x, const int64_t *perm,
                                size_t n, int32_t *y)
{
    tq_node *nd;
    tfmq_status st = knode(c, TQ_OP_TRANSPOSE, tag, &x, 1, 1, y, &nd);
    return st == TFMQ_OK ? ka_ints(c, nd, 0, "perm", perm, n) : st;
}

/* The single axis of a normalization config ("axis": -1 or [-1]) as a Keras axis >= 0. */
static tfmq_status k_one_axis(const kctx *c, const cJSON *cfg, int32_t rank, int64_t *out)
{
    const cJSON *ja = jget(cfg, "axis");
    if (cJSON_IsArray(ja) && cJSON_GetArraySize(ja) != 1) {
        return kfail(c, TFMQ_ERR_UNSUPPORTED, "normalization over several axes");
    }
    int64_t axis;
    tfmq_status st = cfg_int(c, cfg, "axis", -1, &axis);
    if (st != TFMQ_OK) {
        return st;
    }
    int64_t a = axis < 0 ? axis + rank : axis;
    if (a < 1 || a >= rank) {
        return kfail(c, TFMQ_ERR_UNSUPPORTED, "axis %lld of a rank-%d input", (long long)axis,
                     (int)rank);
    }
    *out = a;
    return TFMQ_OK;
}

/* LayerNormalization over the last axis: the IR's LayerNormalization (scale always given). */
static tfmq_status L_layernorm(kctx *c, const cJSON *cfg, kt **in, size_t n_in, kt *out)
{
    tfmq_status st;
    double eps;
    bool center, scale, rms;
    int64_t a;
    int32_t x, y, sv, bv;
    tq_kw w[2];
    memset(w, 0, sizeof(w));
    if ((st = k_one_input(c, n_in)) != TFMQ_OK ||
        (st = cfg_float(c, cfg, "epsilon", 1e-3, &eps, NULL)) != TFMQ_OK ||
        (st = cfg_bool(c, cfg, "center", true, &center)) != TFMQ_OK ||
        (st = cfg_bool(c, cfg, "scale", true, &scale)) != TFMQ_OK ||
        (st = cfg_bool(c, cfg, "rms_scaling", false, &rms)) != TFMQ_OK ||
        (st = k_one_axis(c, cfg, in[0]->rank, &a)) != TFMQ_OK) {
        return st;
    }
    if (rms) {
        return kfail(c, TFMQ_ERR_UNSUPPORTED, "rms_scaling");
    }
    if (a != in[0]->rank - 1) {
        return kfail(c, TFMQ_ERR_UNSUPPORTED, "normalization over axis %lld, not the last",
                     (long long)a);
    }
    if ((st = k_keras(c, in[0], &x)) != TFMQ_OK) {
        return st;
    }
    int pos = 0;
    if (scale) {
        TQ_TRY(st, kweight(c, "gamma", pos++, &w[0]));
    }
    if (center) {
        TQ_TRY(st, kweight(c, "beta", pos++, &w[1]));
    }
    size_t nc = w[0].data ? w[0].n : w[1].n;
    if (!w[0].data && !w[1].data) {
        int32_t v = c->g->values[x].t.rank > 0 ? c->g->values[x].t.rank : 0;
        int64_t d = v ? c->g->values[x].t.dims[v - 1] : -1;
        if (d <= 0) {
            st = kfail(c, TFMQ_ERR_UNSUPPORTED, "no scale, no center and an unknown last dim");
            goto fail;
        }
        nc = (size_t)d;
    }
    int64_t ch[1] = {(int64_t)nc};
    for (int i = 0; i < 2; i++) {
        if (w[i].data) {
            TQ_TRY(st, kw_expect(c, &w[i], i ? "beta" : "gamma", 1, ch));
        }
    }
    float *s, *b;
    TQ_TRY(st, kconst_f32(c, "gamma", 1, ch, &s, &sv));
    TQ_TRY(st, kconst_f32(c, "beta", 1, ch, &b, &bv));
    for (size_t j = 0; j < nc; j++) {
        s[j] = w[0].data ? w[0].data[j] : 1.0f;
        b[j] = w[1].data ? w[1].data[j] : 0.0f;
    }
    int32_t ins[3] = {x, sv, bv};
    tq_node *n;
    TQ_TRY(st, knode(c, TQ_OP_LAYER_NORM, "layernorm", ins, 3, 2, &y, &n));
    ka_int(n, 0, "axis", -1);
    ka_float(n, 1, "epsilon", (float)eps);
    kt_set(out, y, false, in[0]->rank);
fail:
    tq_kw_free(c->alloc, &w[0]);
    tq_kw_free(c->alloc, &w[1]);
    return st;
}

/* Normalization (preprocessing): y = (x - mean) / max(sqrt(variance), 1e-7) along one axis, from
 * the layer's mean and variance weights (adapted; a config-given mean/variance is not read). */
static tfmq_status L_normalization(kctx *c, const cJSON *cfg, kt **in, size_t n_in, kt *out)
{
    tfmq_status st;
    bool invert;
    int64_t a;
    int32_t x, y, mv, sv;
    tq_kw w[2];
    memset(w, 0, sizeof(w));
    if ((st = k_one_input(c, n_in)) != TFMQ_OK ||
        (st = cfg_bool(c, cfg, "invert", false, &invert)) != TFMQ_OK ||
        (st = k_one_axis(c, cfg, in[0]->rank, &a)) != TFMQ_OK) {
        return st;
    }
    if (invert) {
        return kfail(c, TFMQ_ERR_UNSUPPORTED, "invert");
    }
    const cJSON *jm = jget(cfg, "mean");
    if (jm && !cJSON_IsNull(jm)) {
        return kfail(c, TFMQ_ERR_UNSUPPORTED, "mean and variance given in the config");
    }
    TQ_TRY(st, kweight(c, "mean", 0, &w[0]));
    TQ_TRY(st, kweight(c, "variance", 1, &w[1]));
    if (w[0].n != w[1].n || w[0].n == 0) {
        st = kfail(c, TFMQ_ERR_PARSE, "mean (%zu) and variance (%zu) differ in size", w[0].n,
                   w[1].n);
        goto fail;
    }
    size_t nc = w[0].n;
    bool nchw = in[0]->rank == 4 && a == 3 && in[0]->vc >= 0;
    int64_t bd[TQ_MAX_RANK];
    int32_t br = nchw ? 3 : in[0]->rank - (int32_t)a;
    for (int32_t i = 0; i < br; i++) {
        bd[i] = i == 0 ? (int64_t)nc : 1;
    }
    if (nchw) {
        TQ_TRY(st, k_nchw(c, in[0], &x));
    } else {
        TQ_TRY(st, k_keras(c, in[0], &x));
    }
    float *m, *s;
    TQ_TRY(st, kconst_f32(c, "mean", br, bd, &m, &mv));
    TQ_TRY(st, kconst_f32(c, "inv_std", br, bd, &s, &sv));
    for (size_t j = 0; j < nc; j++) {
        double sd = sqrt((double)w[1].data[j]);
        m[j] = w[0].data[j];
        s[j] = (float)sd > 1e-7f ? (float)sd : 1e-7f;
    }
    TQ_TRY(st, kbinary(c, TQ_OP_SUB, "sub", x, mv, &y));
    TQ_TRY(st, kbinary(c, TQ_OP_DIV, "div", y, sv, &y));
    kt_set(out, y, nchw, in[0]->rank);
fail:
    tq_kw_free(c->alloc, &w[0]);
    tq_kw_free(c->alloc, &w[1]);
    return st;
}

/* GlobalAveragePooling1D / GlobalMaxPooling1D, channels_last [N, T, C]: a reduction over T. */
static tfmq_status k_global_pool1d(kctx *c, const cJSON *cfg, kt **in, size_t n_in, kt *out,
                                   uint32_t op)
{
    tfmq_status st;
    bool keepdims;
    int32_t x, y;
    tq_node *n;
    static const int64_t axes[1] = {1};
    if ((st = k_one_input(c, n_in)) != TFMQ_OK || (st = k_channels_last(c, cfg)) != TFMQ_OK ||
        (st = cfg_bool(c, cfg, "keepdims", false, &keepdims)) != TFMQ_OK ||
        (st = k_keras(c, in[0], &x)) != TFMQ_OK) {
        return st;
    }
    if (in[0]->rank != 3) {
        return kfail(c, TFMQ_ERR_UNSUPPORTED, "expects a 3-D input, got rank %d",
                     (int)in[0]->rank);
    }
    if ((st = knode(c, op, "reduce", &x, 1, 2, &y, &n)) != TFMQ_OK ||
        (st = ka_ints(c, n, 0, "axes", axes, 1)) != TFMQ_OK) {
        return st;
    }
    ka_int(n, 1, "keepdims", keepdims ? 1 : 0);
    kt_set(out, y, false, keepdims ? 3 : 2);
    return TFMQ_OK;
}

static tfmq_status L_gap1d(kctx *c, const cJSON *cfg, kt **in, size_t n_in, kt *out)
{
    return k_global_pool1d(c, cfg, in, n_in, out, TQ_OP_REDUCE_MEAN);
}

static tfmq_status L_gmp1d(kctx *c, const cJSON *cfg, kt **in, size_t n_in, kt *out)
{
    return k_global_pool1d(c, cfg, in, n_in, out, TQ_OP_REDUCE_MAX);
}

/* Dot(axes) of two rank-3 inputs [B, M, K] (batch_dot): the contracted axis of the first input
 * is moved last and that of the second to position 1, then a batched MatMul. Rank 2 with axes 1:
 * the row-wise dot product [B, 1]. */
static tfmq_status L_dot(kctx *c, const cJSON *cfg, kt **in, size_t n_in, kt *out)
{
    tfmq_status st;
    int64_t ax[2];
    bool normalize;
    int32_t a, b, y;
    if (n_in != 2) {
        return kfail(c, TFMQ_ERR_PARSE, "called with %zu inputs, expected 2", n_in);
    }
    const cJSON *ja = jget(cfg, "axes");
    if ((st = cfg_ints(c, cfg, "axes", -1, cJSON_IsArray(ja) ? 2 : 1, ax)) != TFMQ_OK ||
        (st = cfg_bool(c, cfg, "normalize", false, &normalize)) != TFMQ_OK) {
        return st;
    }
    if (!cJSON_IsArray(ja)) {
        ax[1] = ax[0];
    }
    if (normalize) {
        return kfail(c, TFMQ_ERR_UNSUPPORTED, "normalize=True");
    }
    int32_t rank = in[0]->rank;
    if (in[1]->rank != rank || (rank != 2 && rank != 3)) {
        return kfail(c, TFMQ_ERR_UNSUPPORTED, "inputs of rank %d and %d (only 2 or 3, equal)",
                     (int)rank, (int)in[1]->rank);
    }
    for (int i = 0; i < 2; i++) {
        ax[i] = ax[i] < 0 ? ax[i] + rank : ax[i];
        if (ax[i] < 1 || ax[i] >= rank) {
            return kfail(c, TFMQ_ERR_PARSE, "axis %lld out of range", (long long)ax[i]);
        }
    }
    if ((st = k_keras(c, in[0], &a)) != TFMQ_OK || (st = k_keras(c, in[1], &b)) != TFMQ_OK) {
        return st;
    }
    static const int64_t swap[3] = {0, 2, 1};
    if (rank == 2) { /* sum(a * b, axis 1, keepdims) */
        static const int64_t axes[1] = {1};
        tq_node *n;
        if ((st = kbinary(c, TQ_OP_MUL, "mul", a, b, &y)) != TFMQ_OK ||
            (st = knode(c, TQ_OP_REDUCE_SUM, "sum", &y, 1, 2, &y, &n)) != TFMQ_OK ||
            (st = ka_ints(c, n, 0, "axes", axes, 1)) != TFMQ_OK) {
            return st;
        }
        ka_int(n, 1, "keepdims", 1);
        kt_set(out, y, false, 2);
        return TFMQ_OK;
    }
    if (ax[0] == 1 && (st = ktranspose_n(c, "a_t", a, swap, 3, &a)) != TFMQ_OK) {
        return st;
    }
    if (ax[1] == 2 && (st = ktranspose_n(c, "b_t", b, swap, 3, &b)) != TFMQ_OK) {
        return st;
    }
    if ((st = kbinary(c, TQ_OP_MATMUL, "matmul", a, b, &y)) != TFMQ_OK) {
        return st;
    }
    kt_set(out, y, false, 3);
    return TFMQ_OK;
}

/* One MultiHeadAttention projection (EinsumDense "abc,cde->abde"): x [B, T, Din] times the
 * kernel [Din, H, E] read as [Din, H*E], plus the bias [H, E], both multiplied by `scale`,
 * reshaped to [B, T, H, E] and transposed by perm. idx: 0 query, 1 key, 2 value. */
static tfmq_status k_mha_proj(kctx *c, int idx, int32_t x, int64_t heads, int64_t e,
                              bool use_bias, float scale, const int64_t *perm, int32_t *y)
{
    static const char *const sub2[3] = {"query", "key", "value"};
    static const char *const sub3[3] = {"query_dense", "key_dense", "value_dense"};
    tfmq_status st;
    tq_kw k, bw;
    memset(&k, 0, sizeof(k));
    memset(&bw, 0, sizeof(bw));
    int32_t wv, bv, sv, z;
    char tag[64];
    /* .h5 weight_names order: query, key, value, output (kernel, bias each) */
    int pos_k = c->b->v3_weights ? 0 : idx * (use_bias ? 2 : 1);
    TQ_TRY(st, kweight_sub(c, sub2[idx], sub3[idx], "kernel", pos_k, &k));
    int64_t kd[3] = {-1, heads, e};
    TQ_TRY(st, kw_expect(c, &k, "kernel", 3, kd));
    int64_t wd[2] = {k.dims[0], heads * e};
    float *w;
    snprintf(tag, sizeof(tag), "%s/kernel", sub2[idx]);
    TQ_TRY(st, kconst_f32(c, tag, 2, wd, &w, &wv));
    for (size_t i = 0; i < k.n; i++) {
        w[i] = k.data[i] * scale;
    }
    snprintf(tag, sizeof(tag), "%s/matmul", sub2[idx]);
    TQ_TRY(st, kbinary(c, TQ_OP_MATMUL, tag, x, wv, &z));
    if (use_bias) {
        TQ_TRY(st, kweight_sub(c, sub2[idx], sub3[idx], "bias", pos_k + 1, &bw));
        int64_t bd[2] = {heads, e};
        TQ_TRY(st, kw_expect(c, &bw, "bias", 2, bd));
        float *b;
        snprintf(tag, sizeof(tag), "%s/bias", sub2[idx]);
        TQ_TRY(st, kconst_f32(c, tag, 1, &wd[1], &b, &bv));
        for (size_t i = 0; i < bw.n; i++) {
            b[i] = bw.data[i] * scale;
        }
        snprintf(tag, sizeof(tag), "%s/bias_add", sub2[idx]);
        TQ_TRY(st, kbinary(c, TQ_OP_ADD, tag, z, bv, &z));
    }
    const int64_t shape[4] = {0, 0, heads, e};
    snprintf(tag, sizeof(tag), "%s/shape", sub2[idx]);
    TQ_TRY(st, kconst_i64(c, tag, shape, 4, &sv));
    snprintf(tag, sizeof(tag), "%s/heads", sub2[idx]);
    TQ_TRY(st, kbinary(c, TQ_OP_RESHAPE, tag, z, sv, &z));
    snprintf(tag, sizeof(tag), "%s/transpose", sub2[idx]);
    TQ_TRY(st, ktranspose_n(c, tag, z, perm, 4, y));
fail:
    tq_kw_free(c->alloc, &k);
    tq_kw_free(c->alloc, &bw);
    return st;
}

/* MultiHeadAttention on rank-3 inputs (attention over axis 1), inputs [query, value(, key)] as
 * ordered by k_mha_refs; key defaults to value. With Q [B,H,T,K], K [B,H,S,K], V [B,H,S,Dv]:
 * softmax(Q K^T / sqrt(key_dim)) V -> [B,T,H*Dv] -> the output projection [H*Dv, Dout] + bias.
 * The 1/sqrt(key_dim) scale is folded into the query kernel and bias. Dropout is an inference
 * no-op; output_shape, attention_axes other than the default, use_gate and sliding_window are
 * refused (masks are refused by k_mha_refs). */
static tfmq_status L_mha(kctx *c, const cJSON *cfg, kt **in, size_t n_in, kt *out)
{
    static const int64_t perm_q[4] = {0, 2, 1, 3}; /* [B,T,H,E] -> [B,H,T,E] */
    static const int64_t perm_k[4] = {0, 2, 3, 1}; /* [B,S,H,E] -> [B,H,E,S] */
    tfmq_status st;
    int64_t heads, key_dim, value_dim;
    bool use_bias, use_gate;
    tq_kw k, bw;
    memset(&k, 0, sizeof(k));
    memset(&bw, 0, sizeof(bw));
    int32_t xq, xv, xk, q, kk, v, y, wv, bv, sv;
    tq_node *n;
    if (n_in != 2 && n_in != 3) {
        return kfail(c, TFMQ_ERR_PARSE, "called with %zu inputs, expected query, value and "
                     "an optional key", n_in);
    }
    if ((st = cfg_int(c, cfg, "num_heads", -1, &heads)) != TFMQ_OK ||
        (st = cfg_int(c, cfg, "key_dim", -1, &key_dim)) != TFMQ_OK ||
        (st = cfg_int(c, cfg, "value_dim", key_dim, &value_dim)) != TFMQ_OK ||
        (st = cfg_bool(c, cfg, "use_bias", true, &use_bias)) != TFMQ_OK ||
        (st = cfg_bool(c, cfg, "use_gate", false, &use_gate)) != TFMQ_OK) {
        return st;
    }
    if (heads < 1 || key_dim < 1 || value_dim < 1) {
        return kfail(c, TFMQ_ERR_PARSE, "num_heads, key_dim and value_dim must be positive");
    }
    const cJSON *j = jget(cfg, "output_shape");
    if (j && !cJSON_IsNull(j)) {
        return kfail(c, TFMQ_ERR_UNSUPPORTED, "output_shape is not supported (only the "
                     "default: the query's last dim)");
    }
    j = jget(cfg, "sliding_window");
    if (j && !cJSON_IsNull(j)) {
        return kfail(c, TFMQ_ERR_UNSUPPORTED, "sliding_window is not supported");
    }
    if (use_gate) {
        return kfail(c, TFMQ_ERR_UNSUPPORTED, "use_gate=True is not supported");
    }
    for (size_t i = 0; i < n_in; i++) {
        if (in[i]->rank != 3) {
            return kfail(c, TFMQ_ERR_UNSUPPORTED, "input %zu has rank %d (only rank 3: batch, "
                         "sequence, features)", i, (int)in[i]->rank);
        }
    }
    j = jget(cfg, "attention_axes");
    if (j && !cJSON_IsNull(j)) {
        int64_t ax = 0;
        if (cJSON_IsArray(j) && cJSON_GetArraySize(j) == 1) {
            j = cJSON_GetArrayItem(j, 0);
        }
        if (!jint(j, &ax) || (ax != 1 && ax != -2)) {
            return kfail(c, TFMQ_ERR_UNSUPPORTED, "attention_axes other than the default (1) "
                         "are not supported");
        }
    }
    if ((st = k_keras(c, in[0], &xq)) != TFMQ_OK || (st = k_keras(c, in[1], &xv)) != TFMQ_OK ||
        (st = k_keras(c, in[n_in - 1], &xk)) != TFMQ_OK) {
        return st;
    }
    float scale = (float)(1.0 / sqrt((double)key_dim));
    if ((st = k_mha_proj(c, 0, xq, heads, key_dim, use_bias, scale, perm_q, &q)) != TFMQ_OK ||
        (st = k_mha_proj(c, 1, xk, heads, key_dim, use_bias, 1.0f, perm_k, &kk)) != TFMQ_OK ||
        (st = k_mha_proj(c, 2, xv, heads, value_dim, use_bias, 1.0f, perm_q, &v)) != TFMQ_OK ||
        (st = kbinary(c, TQ_OP_MATMUL, "scores", q, kk, &y)) != TFMQ_OK ||
        (st = knode(c, TQ_OP_SOFTMAX, "softmax", &y, 1, 1, &y, &n)) != TFMQ_OK) {
        return st;
    }
    ka_int(n, 0, "axis", 3);
    const int64_t shape[3] = {0, 0, heads * value_dim};
    if ((st = kbinary(c, TQ_OP_MATMUL, "context", y, v, &y)) != TFMQ_OK ||
        (st = ktranspose_n(c, "context/transpose", y, perm_q, 4, &y)) != TFMQ_OK ||
        (st = kconst_i64(c, "context/shape", shape, 3, &sv)) != TFMQ_OK ||
        (st = kbinary(c, TQ_OP_RESHAPE, "context/merge", y, sv, &y)) != TFMQ_OK) {
        return st;
    }
    /* output projection "abcd,cde->abe": kernel [H, Dv, Dout] read as [H*Dv, Dout] */
    int pos_k = c->b->v3_weights ? 0 : 3 * (use_bias ? 2 : 1);
    TQ_TRY(st, kweight_sub(c, "attention_output", "output_dense", "kernel", pos_k, &k));
    int64_t kd[3] = {heads, value_dim, -1};
    TQ_TRY(st, kw_expect(c, &k, "kernel", 3, kd));
    int64_t wd[2] = {heads * value_dim, k.dims[2]};
    float *w;
    TQ_TRY(st, kconst_f32(c, "attention_output/kernel", 2, wd, &w, &wv));
    memcpy(w, k.data, k.n * sizeof(float));
    TQ_TRY(st, kbinary(c, TQ_OP_MATMUL, "attention_output/matmul", y, wv, &y));
    if (use_bias) {
        TQ_TRY(st, kweight_sub(c, "attention_output", "output_dense", "bias", pos_k + 1, &bw));
        TQ_TRY(st, kw_expect(c, &bw, "bias", 1, &wd[1]));
        TQ_TRY(st, kvec(c, "attention_output/bias", &bw, &bv));
        TQ_TRY(st, kbinary(c, TQ_OP_ADD, "attention_output/bias_add", y, bv, &y));
    }
    kt_set(out, y, false, 3);
fail:
    tq_kw_free(c->alloc, &k);
    tq_kw_free(c->alloc, &bw);
    return st;
}

static tfmq_status L_unsupported(kctx *c, const cJSON *cfg, kt **in, size_t n_in, kt *out)
{
    (void)cfg;
    (void)in;
    (void)n_in;
    (void)out;
    return kfail(c, TFMQ_ERR_UNSUPPORTED, "unsupported layer");
}

static const struct {
    const char *cls;
    klayer_fn fn;
} tq_keras_layers[] = {
    {"Conv2D", L_conv2d},
    {"Convolution2D", L_conv2d},
    {"DepthwiseConv2D", L_depthwise},
    {"SeparableConv2D", L_separable},
    {"SeparableConvolution2D", L_separable},
    {"Dense", L_dense},
    {"BatchNormalization", L_batchnorm},
    {"Activation", L_activation},
    {"ReLU", L_relu},
    {"LeakyReLU", L_leaky_relu},
    {"ELU", L_elu},
    {"Softmax", L_softmax},
    {"Add", L_add},
    {"Subtract", L_subtract},
    {"Multiply", L_multiply},
    {"Maximum", L_maximum},
    {"Minimum", L_minimum},
    {"Average", L_average},
    {"Concatenate", L_concat},
    {"ZeroPadding2D", L_zeropad},
    {"MaxPooling2D", L_maxpool},
    {"MaxPool2D", L_maxpool},
    {"AveragePooling2D", L_avgpool},
    {"AvgPool2D", L_avgpool},
    {"GlobalAveragePooling2D", L_gap},
    {"GlobalAvgPool2D", L_gap},
    {"GlobalMaxPooling2D", L_gmp},
    {"GlobalMaxPool2D", L_gmp},
    {"Flatten", L_flatten},
    {"Reshape", L_reshape},
    {"Dropout", L_identity},
    {"SpatialDropout1D", L_identity},
    {"SpatialDropout2D", L_identity},
    {"GaussianNoise", L_identity},
    {"GaussianDropout", L_identity},
    {"AlphaDropout", L_identity},
    {"ActivityRegularization", L_identity},
    {"Rescaling", L_rescaling},
    {"LayerNormalization", L_layernorm},
    {"Normalization", L_normalization},
    {"GlobalAveragePooling1D", L_gap1d},
    {"GlobalAvgPool1D", L_gap1d},
    {"GlobalMaxPooling1D", L_gmp1d},
    {"GlobalMaxPool1D", L_gmp1d},
    {"Dot", L_dot},
    {"MultiHeadAttention", L_mha},
};

/* ---- the call graph ---- */

/* A graph input from an InputLayer (or a Sequential's first layer's batch_input_shape). */
static tfmq_status k_input(kctx *c, const cJSON *cfg, const char *name, kt *out)
{
    tfmq_status st;
    const cJSON *shape = jget(cfg, "batch_input_shape");
    if (!shape) {
        shape = jget(cfg, "batch_shape");
    }
    int n = cJSON_IsArray(shape) ? cJSON_GetArraySize(shape) : -1;
    if (n < 1 || n > TQ_MAX_RANK) {
        return kfail(c, TFMQ_ERR_PARSE, "input without a usable batch_input_shape");
    }
    const cJSON *dt = jget(cfg, "dtype");
    if (cJSON_IsString(dt) && strcmp(dt->valuestring, "float32") != 0) {
        return kfail(c, TFMQ_ERR_UNSUPPORTED, "input dtype '%s' (only float32)", dt->valuestring);
    }
    int32_t v;
    if ((st = tq_graph_add_value(c->g, name, &v)) != TFMQ_OK) {
        return koom(c);
    }
    tq_value *val = &c->g->values[v];
    val->t.dtype = TFMQ_DTYPE_FLOAT32;
    val->t.rank = n;
    for (int i = 0; i < n; i++) {
        const cJSON *d = cJSON_GetArrayItem(shape, i);
        int64_t x;
        if (cJSON_IsNull(d)) {
            val->t.dims[i] = -1;
            val->dim_names[i] = i == 0 ? "batch" : "?";
        } else if (jint(d, &x) && x >= 0) {
            val->t.dims[i] = x;
        } else {
            return kfail(c, TFMQ_ERR_PARSE, "bad dim %d in batch_input_shape", i);
        }
    }
    if (c->n_inputs >= TQ_MAX_IO) {
        return kfail(c, TFMQ_ERR_UNSUPPORTED, "more than %d inputs", TQ_MAX_IO);
    }
    c->inputs[c->n_inputs++] = v;
    kt_set(out, v, false, n);
    return TFMQ_OK;
}

static tfmq_status k_apply(kctx *c, klayer *l, size_t call, kt **ins, size_t n_in)
{
    c->cur = l;
    c->cur_call = call;
    size_t v0 = c->g->n_values;
    kt *out = &l->outs[call];
    tfmq_status st = TFMQ_OK;
    if (!strcmp(l->cls, "InputLayer")) {
        st = k_input(c, l->cfg, l->name, out);
    } else {
        klayer_fn fn = L_unsupported;
        for (size_t i = 0; i < sizeof(tq_keras_layers) / sizeof(tq_keras_layers[0]); i++) {
            if (!strcmp(l->cls, tq_keras_layers[i].cls)) {
                fn = tq_keras_layers[i].fn;
                break;
            }
        }
        st = fn(c, l->cfg, ins, n_in, out);
    }
    if (st != TFMQ_OK) {
        return st;
    }
    /* the layer's own output carries the layer's name (Keras' tensor name) when it is new */
    int32_t v = out->vc >= 0 ? out->vc : out->vk;
    if (v >= (int32_t)v0 && !(c->g->values[v].flags & TQ_VALUE_INPUT)) {
        char name[256];
        if (call) {
            snprintf(name, sizeof(name), "%.200s:%zu", l->name, call);
        } else {
            snprintf(name, sizeof(name), "%.200s", l->name);
        }
        if (tq_graph_find_value(c->g, name) < 0) {
            const char *s = tq_arena_strdup(c->g->arena, name);
            if (!s) {
                return koom(c);
            }
            c->g->values[v].name = s;
        }
    }
    l->done[call] = true;
    return TFMQ_OK;
}

static tfmq_status k_find_layer(const kctx *c, const char *name, size_t *out)
{
    for (size_t i = 0; i < c->nL; i++) {
        if (!strcmp(c->L[i].name, name)) {
            *out = i;
            return TFMQ_OK;
        }
    }
    return kfail(c, TFMQ_ERR_PARSE, "refers to unknown layer '%s'", name);
}

/* [name, node_index, tensor_index, ...] -> a reference. */
static tfmq_status k_ref(const kctx *c, const cJSON *e, kref *r)
{
    int64_t node, tensor;
    const cJSON *nm = cJSON_GetArrayItem(e, 0);
    if (!cJSON_IsArray(e) || cJSON_GetArraySize(e) < 3 || !cJSON_IsString(nm) ||
        !jint(cJSON_GetArrayItem(e, 1), &node) || !jint(cJSON_GetArrayItem(e, 2), &tensor) ||
        node < 0) {
        return kfail(c, TFMQ_ERR_PARSE, "malformed tensor reference");
    }
    if (tensor != 0) {
        return kfail(c, TFMQ_ERR_UNSUPPORTED, "uses output %lld of layer '%s' (layers with "
                     "several outputs are not supported)", (long long)tensor, nm->valuestring);
    }
    tfmq_status st = k_find_layer(c, nm->valuestring, &r->layer);
    if (st != TFMQ_OK) {
        return st;
    }
    r->call = (size_t)node;
    if (r->call >= c->L[r->layer].n_calls) {
        return kfail(c, TFMQ_ERR_PARSE, "refers to call %lld of layer '%s', which has %zu",
                     (long long)node, nm->valuestring, c->L[r->layer].n_calls);
    }
    return TFMQ_OK;
}

/* Keras 3 call args: every {"class_name": "__keras_tensor__", "config": {"keras_history":
 * [name, node, tensor]}} in order. */
static tfmq_status k_collect3(const kctx *c, const cJSON *j, int depth, kref *refs, size_t *n)
{
    tfmq_status st;
    if (depth > TQ_KERAS_MAX_JSON_DEPTH) {
        return kfail(c, TFMQ_ERR_PARSE, "call arguments nested too deeply");
    }
    if (cJSON_IsObject(j)) {
        const cJSON *cn = jget(j, "class_name");
        if (cJSON_IsString(cn) && !strcmp(cn->valuestring, "__keras_tensor__")) {
            if (*n >= TQ_MAX_IO) {
                return kfail(c, TFMQ_ERR_UNSUPPORTED, "more than %d inputs", TQ_MAX_IO);
            }
            return k_ref(c, jget(jget(j, "config"), "keras_history"), &refs[(*n)++]);
        }
        return TFMQ_OK;
    }
    if (cJSON_IsArray(j)) {
        for (const cJSON *e = j->child; e; e = e->next) {
            if ((st = k_collect3(c, e, depth + 1, refs, n)) != TFMQ_OK) {
                return st;
            }
        }
    }
    return TFMQ_OK;
}

/* Whether call argument j is a tensor: Keras 2 [name, node, tensor, ...], Keras 3
 * {"class_name": "__keras_tensor__", ...}. */
static bool k_is_tensor_arg(const cJSON *j, bool k3)
{
    if (k3) {
        const cJSON *cn = jget(j, "class_name");
        return cJSON_IsString(cn) && !strcmp(cn->valuestring, "__keras_tensor__");
    }
    return cJSON_IsArray(j) && cJSON_IsString(cJSON_GetArrayItem(j, 0));
}

/* The inputs of a MultiHeadAttention call in the order [query, value(, key)], taken from the
 * positional arguments (Keras 3 args; Keras 2: the node's entries, usually just the query) and
 * the kwargs query/value/key (Keras 3 "kwargs"; Keras 2: the first entry's 4th item). Masks,
 * use_causal_mask and return_attention_scores are refused here, before anything is built. */
static tfmq_status k_mha_refs(const kctx *c, const cJSON *node, kref *refs, size_t *n)
{
    static const char *const names[3] = {"query", "value", "key"};
    static const char *const masks[4] = {"attention_mask", "query_mask", "value_mask",
                                         "key_mask"};
    static const char *const flags[2] = {"use_causal_mask", "return_attention_scores"};
    tfmq_status st;
    const cJSON *slot[3] = {NULL, NULL, NULL};
    const cJSON *kw = NULL;
    bool k3 = cJSON_IsObject(node);
    const cJSON *args = k3 ? jget(node, "args") : node;
    size_t i = 0;
    if (!cJSON_IsArray(args)) {
        return kfail(c, TFMQ_ERR_PARSE, "malformed inbound_nodes");
    }
    kw = k3 ? jget(node, "kwargs") : cJSON_GetArrayItem(args->child, 3);
    for (const cJSON *e = args->child; e; e = e->next, i++) {
        if (cJSON_IsNull(e) || cJSON_IsFalse(e)) {
            continue;
        }
        if (i >= 3 || !k_is_tensor_arg(e, k3)) {
            return kfail(c, TFMQ_ERR_UNSUPPORTED, "positional call argument %zu is not "
                         "supported (only query, value and key)", i);
        }
        slot[i] = e;
    }
    for (i = 0; i < 3; i++) {
        const cJSON *j = jget(kw, names[i]);
        if (!j || cJSON_IsNull(j)) {
            continue;
        }
        if (slot[i] || !k_is_tensor_arg(j, k3)) {
            return kfail(c, TFMQ_ERR_PARSE, "malformed call argument '%s'", names[i]);
        }
        slot[i] = j;
    }
    for (i = 0; i < 4; i++) {
        const cJSON *j = jget(kw, masks[i]);
        if (j && !cJSON_IsNull(j)) {
            return kfail(c, TFMQ_ERR_UNSUPPORTED, "call argument '%s' is not supported (no "
                         "attention masking)", masks[i]);
        }
    }
    for (i = 0; i < 2; i++) {
        if (cJSON_IsTrue(jget(kw, flags[i]))) {
            return kfail(c, TFMQ_ERR_UNSUPPORTED, "call argument %s=True is not supported",
                         flags[i]);
        }
    }
    if (!slot[0] || !slot[1]) {
        return kfail(c, TFMQ_ERR_PARSE, "call without a query and a value tensor");
    }
    *n = 0;
    for (i = 0; i < 3 && slot[i]; i++) {
        const cJSON *r = k3 ? jget(jget(slot[i], "config"), "keras_history") : slot[i];
        if ((st = k_ref(c, r, &refs[(*n)++])) != TFMQ_OK) {
            return st;
        }
    }
    return TFMQ_OK;
}

/* The inputs of call k of layer l. */
static tfmq_status k_call_refs(const kctx *c, const klayer *l, size_t k, kref *refs, size_t *n)
{
    const cJSON *node = cJSON_GetArrayItem(l->nodes, (int)k);
    *n = 0;
    if (!strcmp(l->cls, "MultiHeadAttention")) {
        return k_mha_refs(c, node, refs, n);
    }
    if (cJSON_IsObject(node)) { /* Keras 3: {"args": [...], "kwargs": {...}} */
        return k_collect3(c, jget(node, "args"), 0, refs, n);
    }
    if (!cJSON_IsArray(node)) {
        return kfail(c, TFMQ_ERR_PARSE, "malformed inbound_nodes");
    }
    for (const cJSON *e = node->child; e; e = e->next) { /* Keras 2: [[name, node, tensor, {}]] */
        if (*n >= TQ_MAX_IO) {
            return kfail(c, TFMQ_ERR_UNSUPPORTED, "more than %d inputs", TQ_MAX_IO);
        }
        tfmq_status st = k_ref(c, e, &refs[(*n)++]);
        if (st != TFMQ_OK) {
            return st;
        }
    }
    return TFMQ_OK;
}

/* Keras 3's naming.to_snake_case: drop non-word characters, then "(.)([A-Z][a-z]+)" ->
 * "\\1_\\2" and "([a-z])([A-Z])" -> "\\1_\\2" (each scanning left to right without overlap),
 * then lower case. "LeakyReLU" -> "leaky_re_lu", "Conv2D" -> "conv2d". */
static void k_snake(const char *cls, char *out, size_t cap)
{
    char a[128], b[192];
    size_t na = 0, nb = 0;
    for (const char *p = cls; *p && na + 1 < sizeof(a); p++) {
        char ch = *p;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '_') {
            a[na++] = ch;
        }
    }
    a[na] = '\0';
#define K_UP(ch) ((ch) >= 'A' && (ch) <= 'Z')
#define K_LO(ch) ((ch) >= 'a' && (ch) <= 'z')
    for (size_t p = 0; p < na && nb + 3 < sizeof(b);) {
        if (p + 2 < na && K_UP(a[p + 1]) && K_LO(a[p + 2])) {
            b[nb++] = a[p];
            b[nb++] = '_';
            b[nb++] = a[p + 1];
            p += 2;
            while (p < na && K_LO(a[p]) && nb + 1 < sizeof(b)) {
                b[nb++] = a[p++];
            }
        } else {
            b[nb++] = a[p++];
        }
    }
    b[nb] = '\0';
    size_t n = 0;
    for (size_t p = 0; p < nb && n + 3 < cap;) {
        if (p + 1 < nb && K_LO(b[p]) && K_UP(b[p + 1])) {
            out[n++] = b[p];
            out[n++] = '_';
            out[n++] = b[p + 1];
            p += 2;
        } else {
            out[n++] = b[p++];
        }
    }
    out[n] = '\0';
    for (size_t p = 0; p < n; p++) {
        if (K_UP(out[p])) {
            out[p] = (char)(out[p] - 'A' + 'a');
        }
    }
#undef K_UP
#undef K_LO
}

static tfmq_status k_layers_init(kctx *c, const cJSON *layers, bool functional)
{
    int n = cJSON_IsArray(layers) ? cJSON_GetArraySize(layers) : -1;
    if (n < 1 || n > TQ_KERAS_MAX_LAYERS) {
        return kfail(c, TFMQ_ERR_PARSE, "the model has no layer list");
    }
    c->L = tq_calloc(c->alloc, (size_t)n, sizeof(klayer));
    if (!c->L) {
        return koom(c);
    }
    c->nL = (size_t)n;
    size_t i = 0;
    for (const cJSON *e = layers->child; e; e = e->next, i++) {
        klayer *l = &c->L[i];
        const cJSON *cls = jget(e, "class_name"), *cfg = jget(e, "config");
        const cJSON *nm = jget(e, "name");
        if (!cJSON_IsString(nm)) {
            nm = jget(cfg, "name");
        }
        if (!cJSON_IsString(cls) || !cJSON_IsObject(cfg) || !cJSON_IsString(nm)) {
            return kfail(c, TFMQ_ERR_PARSE, "layer #%zu is malformed", i);
        }
        l->name = nm->valuestring;
        l->cls = cls->valuestring;
        l->cfg = cfg;
        for (size_t k = 0; k < i; k++) {
            if (!strcmp(c->L[k].name, l->name)) {
                return kfail(c, TFMQ_ERR_PARSE, "two layers are named '%s'", l->name);
            }
        }
        if (functional && strcmp(l->cls, "InputLayer") != 0) {
            l->nodes = jget(e, "inbound_nodes");
            int nn = cJSON_IsArray(l->nodes) ? cJSON_GetArraySize(l->nodes) : 0;
            l->n_calls = (size_t)nn;
        } else {
            l->n_calls = 1;
        }
        /* Keras 3 weights files name layers by class: conv2d, conv2d_1, ... in layer order */
        k_snake(l->cls, l->wbase, sizeof(l->wbase));
        size_t dup = 0;
        for (size_t k = 0; k < i; k++) {
            dup += strcmp(c->L[k].wbase, l->wbase) == 0;
        }
        if (dup) {
            snprintf(l->wpath, sizeof(l->wpath), "%s_%zu", l->wbase, dup);
        } else {
            snprintf(l->wpath, sizeof(l->wpath), "%s", l->wbase);
        }
        l->outs = tq_calloc(c->alloc, l->n_calls ? l->n_calls : 1, sizeof(kt));
        l->done = tq_calloc(c->alloc, l->n_calls ? l->n_calls : 1, sizeof(bool));
        if (!l->outs || !l->done) {
            return koom(c);
        }
    }
    return TFMQ_OK;
}

static tfmq_status k_functional(kctx *c, const cJSON *mc)
{
    tfmq_status st;
    kref refs[TQ_MAX_IO];
    kt *ins[TQ_MAX_IO];
    if ((st = k_layers_init(c, jget(mc, "layers"), true)) != TFMQ_OK) {
        return st;
    }
    /* graph inputs in input_layers order */
    const cJSON *il = jget(mc, "input_layers");
    if (cJSON_IsArray(il) && cJSON_IsString(cJSON_GetArrayItem(il, 0))) {
        il = NULL; /* Keras 3 writes a single input flat: ["name", 0, 0] */
        const cJSON *one = jget(mc, "input_layers");
        kref r;
        if ((st = k_ref(c, one, &r)) != TFMQ_OK ||
            (st = k_apply(c, &c->L[r.layer], 0, NULL, 0)) != TFMQ_OK) {
            return st;
        }
    }
    for (const cJSON *e = cJSON_IsArray(il) ? il->child : NULL; e; e = e->next) {
        kref r;
        if ((st = k_ref(c, e, &r)) != TFMQ_OK) {
            return st;
        }
        klayer *l = &c->L[r.layer];
        if (strcmp(l->cls, "InputLayer") != 0) {
            c->cur = l;
            return kfail(c, TFMQ_ERR_UNSUPPORTED, "model input is not an InputLayer");
        }
        if (!l->done[0] && (st = k_apply(c, l, 0, NULL, 0)) != TFMQ_OK) {
            return st;
        }
    }
    /* convert calls whose inputs exist until nothing changes */
    bool progress = true, pending = true;
    while (progress && pending) {
        progress = false;
        pending = false;
        for (size_t i = 0; i < c->nL; i++) {
            klayer *l = &c->L[i];
            for (size_t k = 0; k < l->n_calls; k++) {
                if (l->done[k]) {
                    continue;
                }
                c->cur = l;
                c->cur_call = k;
                if (!strcmp(l->cls, "InputLayer")) {
                    if ((st = k_apply(c, l, 0, NULL, 0)) != TFMQ_OK) { /* not in input_layers */
                        return st;
                    }
                    progress = true;
                    continue;
                }
                size_t n = 0;
                if ((st = k_call_refs(c, l, k, refs, &n)) != TFMQ_OK) {
                    return st;
                }
                bool ready = true;
                for (size_t j = 0; j < n && ready; j++) {
                    ready = c->L[refs[j].layer].done[refs[j].call];
                    ins[j] = &c->L[refs[j].layer].outs[refs[j].call];
                }
                if (!ready) {
                    pending = true;
                    continue;
                }
                if (n == 0) {
                    return kfail(c, TFMQ_ERR_PARSE, "call %zu has no tensor inputs", k);
                }
                if ((st = k_apply(c, l, k, ins, n)) != TFMQ_OK) {
                    return st;
                }
                progress = true;
            }
        }
    }
    if (pending) {
        c->cur = NULL;
        return kfail(c, TFMQ_ERR_PARSE, "the layer graph has a cycle or a missing input");
    }
    return TFMQ_OK;
}

static tfmq_status k_sequential(kctx *c, const cJSON *layers)
{
    tfmq_status st;
    if ((st = k_layers_init(c, layers, false)) != TFMQ_OK) {
        return st;
    }
    kt *prev = NULL;
    for (size_t i = 0; i < c->nL; i++) {
        klayer *l = &c->L[i];
        if (i == 0 && strcmp(l->cls, "InputLayer") != 0) {
            /* no InputLayer: the first layer carries batch_input_shape; make the input */
            kt input;
            char name[256];
            snprintf(name, sizeof(name), "%.200s_input", l->name);
            c->cur = l;
            c->cur_call = 0;
            if ((st = k_input(c, l->cfg, name, &input)) != TFMQ_OK) {
                return st;
            }
            kt *pin = &input;
            if ((st = k_apply(c, l, 0, &pin, 1)) != TFMQ_OK) {
                return st;
            }
            prev = &l->outs[0];
            continue;
        }
        if (!strcmp(l->cls, "InputLayer")) {
            if (i != 0) {
                c->cur = l;
                return kfail(c, TFMQ_ERR_UNSUPPORTED, "InputLayer inside a Sequential model");
            }
            if ((st = k_apply(c, l, 0, NULL, 0)) != TFMQ_OK) {
                return st;
            }
        } else if ((st = k_apply(c, l, 0, &prev, 1)) != TFMQ_OK) {
            return st;
        }
        prev = &l->outs[0];
    }
    return TFMQ_OK;
}

/* Graph outputs in Keras order; a value used twice or a graph input gets an Identity. */
static tfmq_status k_output(kctx *c, kt *t, const int32_t *outs, size_t n_outs, int32_t *v)
{
    tfmq_status st;
    if ((st = t->rank == 4 ? k_keras(c, t, v) : TFMQ_OK) != TFMQ_OK) {
        return st;
    }
    if (t->rank != 4) {
        *v = t->vk >= 0 ? t->vk : t->vc;
    }
    bool dup = (c->g->values[*v].flags & TQ_VALUE_INPUT) != 0;
    for (size_t i = 0; i < n_outs; i++) {
        dup = dup || outs[i] == *v;
    }
    if (dup) {
        return kunary(c, TQ_OP_IDENTITY, "output", *v, v);
    }
    return TFMQ_OK;
}

static void k_free(kctx *c)
{
    for (size_t i = 0; i < c->nL; i++) {
        size_t n = c->L[i].n_calls ? c->L[i].n_calls : 1;
        tq_free(c->alloc, c->L[i].outs, n * sizeof(kt));
        tq_free(c->alloc, c->L[i].done, n * sizeof(bool));
    }
    tq_free(c->alloc, c->L, c->nL * sizeof(klayer));
    tq_free(c->alloc, c->inputs, TQ_MAX_IO * sizeof(int32_t));
}

tfmq_status tq_keras_build(tq_kbuild *b, const cJSON *model_config)
{
    tfmq_status st;
    kctx c;
    int32_t outs[TQ_MAX_IO];
    size_t n_outs = 0;
    memset(&c, 0, sizeof(c));
    c.b = b;
    c.g = b->g;
    c.alloc = b->alloc;
    c.inputs = tq_calloc(c.alloc, TQ_MAX_IO, sizeof(int32_t));
    if (!c.inputs) {
        return koom(&c);
    }
    const cJSON *cls = jget(model_config, "class_name");
    const cJSON *mc = jget(model_config, "config");
    if (!cJSON_IsString(cls) || !mc) {
        st = kfail(&c, TFMQ_ERR_PARSE, "model_config has no class_name/config");
        goto fail;
    }
    if (!strcmp(cls->valuestring, "Sequential")) {
        /* Keras 2.2 wrote the layer list itself as the config */
        TQ_TRY(st, k_sequential(&c, cJSON_IsArray(mc) ? mc : jget(mc, "layers")));
        kt *last = &c.L[c.nL - 1].outs[0];
        c.cur = &c.L[c.nL - 1];
        c.cur_call = 0;
        TQ_TRY(st, k_output(&c, last, outs, n_outs, &outs[n_outs]));
        n_outs++;
    } else if (!strcmp(cls->valuestring, "Functional") || !strcmp(cls->valuestring, "Model")) {
        TQ_TRY(st, k_functional(&c, mc));
        const cJSON *ol = jget(mc, "output_layers");
        kref r;
        if (cJSON_IsArray(ol) && cJSON_IsString(cJSON_GetArrayItem(ol, 0))) {
            TQ_TRY(st, k_ref(&c, ol, &r)); /* Keras 3 single output, written flat */
            c.cur = &c.L[r.layer];
            c.cur_call = r.call;
            TQ_TRY(st, k_output(&c, &c.L[r.layer].outs[r.call], outs, n_outs, &outs[n_outs]));
            n_outs++;
        } else {
            for (const cJSON *e = cJSON_IsArray(ol) ? ol->child : NULL; e; e = e->next) {
                if (n_outs >= TQ_MAX_IO) {
                    st = kfail(&c, TFMQ_ERR_UNSUPPORTED, "more than %d outputs", TQ_MAX_IO);
                    goto fail;
                }
                TQ_TRY(st, k_ref(&c, e, &r));
                c.cur = &c.L[r.layer];
                c.cur_call = r.call;
                TQ_TRY(st, k_output(&c, &c.L[r.layer].outs[r.call], outs, n_outs, &outs[n_outs]));
                n_outs++;
            }
        }
        if (n_outs == 0) {
            c.cur = NULL;
            st = kfail(&c, TFMQ_ERR_PARSE, "the model has no output_layers");
            goto fail;
        }
    } else {
        st = kfail(&c, TFMQ_ERR_UNSUPPORTED, "model class '%s' is not supported (Sequential or "
                   "Functional)", cls->valuestring);
        goto fail;
    }
    if (c.n_inputs == 0) {
        c.cur = NULL;
        st = kfail(&c, TFMQ_ERR_PARSE, "the model has no inputs");
        goto fail;
    }
    TQ_TRY(st, tq_graph_set_io(c.g, c.inputs, c.n_inputs, outs, n_outs));
    st = TFMQ_OK;
fail:
    k_free(&c);
    return st;
}
