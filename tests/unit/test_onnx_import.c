/* test_onnx_import.c: unit tests of the ONNX importer on models built in memory with the
 * generated protobuf-c structs: values, typed/raw initializers, Constant nodes, subgraphs with
 * outer references, every documented error ("onnx: " messages), sniffing, truncated and deeply
 * nested input, external data inside/outside the model's folder, tensor files, and OOM torture
 * with a counting allocator that must end balanced. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "import/onnx/onnx_import.h"
#include "onnx.pb-c.h"

/* ---- test-side memory for the protobuf structs: freed all at once ---- */
#define POOL_MAX 4096
static void *pool[POOL_MAX];
static size_t n_pool;

static void *keep(void *p)
{
    if (!p || n_pool >= POOL_MAX) {
        fprintf(stderr, "test pool exhausted\n");
        exit(2);
    }
    pool[n_pool++] = p;
    return p;
}

static void pool_free(void)
{
    while (n_pool) {
        free(pool[--n_pool]);
    }
}

static char *S(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = keep(malloc(n));
    memcpy(d, s, n);
    return d;
}

/* Split "a,b,,c" into a NULL-free array of strings ("" for empty entries). */
static char **csv(const char *s, size_t *n_out)
{
    size_t n = 0;
    char **v = keep(calloc(TQ_MAX_IO, sizeof(char *)));
    if (s && *s) {
        const char *p = s;
        for (;;) {
            size_t len = strcspn(p, ",");
            char *e = keep(calloc(1, len + 1));
            memcpy(e, p, len);
            v[n++] = e;
            if (!p[len]) {
                break;
            }
            p += len + 1;
        }
    }
    *n_out = n;
    return v;
}

static Onnx__NodeProto *node(const char *op, const char *name, const char *ins, const char *outs)
{
    Onnx__NodeProto *n = keep(malloc(sizeof(*n)));
    onnx__node_proto__init(n);
    n->op_type = S(op);
    n->name = S(name);
    n->input = csv(ins, &n->n_input);
    n->output = csv(outs, &n->n_output);
    return n;
}

static Onnx__AttributeProto *attr_new(Onnx__NodeProto *n, const char *name,
                                      Onnx__AttributeProto__AttributeType type)
{
    Onnx__AttributeProto *a = keep(malloc(sizeof(*a)));
    onnx__attribute_proto__init(a);
    a->name = S(name);
    a->has_type = 1;
    a->type = type;
    if (n->n_attribute == 0) {
        n->attribute = keep(calloc(16, sizeof(void *)));
    }
    n->attribute[n->n_attribute++] = a;
    return a;
}

static Onnx__TensorProto *tensor_raw(const char *name, int32_t dt, size_t rank,
                                     const int64_t *dims, const void *data, size_t bytes)
{
    Onnx__TensorProto *t = keep(malloc(sizeof(*t)));
    onnx__tensor_proto__init(t);
    t->name = S(name);
    t->has_data_type = 1;
    t->data_type = dt;
    t->n_dims = rank;
    t->dims = keep(calloc(rank + 1, sizeof(int64_t)));
    if (rank) {
        memcpy(t->dims, dims, rank * sizeof(int64_t));
    }
    if (data) {
        t->has_raw_data = 1;
        t->raw_data.len = bytes;
        t->raw_data.data = keep(malloc(bytes + 1));
        memcpy(t->raw_data.data, data, bytes);
    }
    return t;
}

/* A tensor ValueInfo; dims < 0 are written as dim_param "N" (dims == -1) or left empty (-2). */
static Onnx__ValueInfoProto *vinfo(const char *name, int32_t elem, int rank, const int64_t *dims)
{
    Onnx__ValueInfoProto *v = keep(malloc(sizeof(*v)));
    onnx__value_info_proto__init(v);
    v->name = S(name);
    if (elem < 0) {
        return v; /* no type */
    }
    Onnx__TypeProto *tp = keep(malloc(sizeof(*tp)));
    onnx__type_proto__init(tp);
    Onnx__TypeProto__Tensor *tt = keep(malloc(sizeof(*tt)));
    onnx__type_proto__tensor__init(tt);
    tt->has_elem_type = 1;
    tt->elem_type = elem;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    v->type = tp;
    if (rank >= 0) {
        Onnx__TensorShapeProto *sh = keep(malloc(sizeof(*sh)));
        onnx__tensor_shape_proto__init(sh);
        sh->n_dim = (size_t)rank;
        sh->dim = keep(calloc((size_t)rank + 1, sizeof(void *)));
        for (int i = 0; i < rank; i++) {
            Onnx__TensorShapeProto__Dimension *d = keep(malloc(sizeof(*d)));
            onnx__tensor_shape_proto__dimension__init(d);
            if (dims[i] >= 0) {
                d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
                d->dim_value = dims[i];
            } else if (dims[i] == -1) {
                d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
                d->dim_param = S("N");
            }
            sh->dim[i] = d;
        }
        tt->shape = sh;
    }
    return v;
}

static Onnx__GraphProto *graph(const char *name)
{
    Onnx__GraphProto *g = keep(malloc(sizeof(*g)));
    onnx__graph_proto__init(g);
    g->name = S(name);
    g->node = keep(calloc(256, sizeof(void *)));
    g->input = keep(calloc(32, sizeof(void *)));
    g->output = keep(calloc(32, sizeof(void *)));
    g->initializer = keep(calloc(32, sizeof(void *)));
    return g;
}

static Onnx__NodeProto *add_node(Onnx__GraphProto *g, Onnx__NodeProto *n)
{
    g->node[g->n_node++] = n;
    return n;
}

static Onnx__ModelProto *model(Onnx__GraphProto *g, int64_t ir, int64_t opset)
{
    Onnx__ModelProto *m = keep(malloc(sizeof(*m)));
    onnx__model_proto__init(m);
    m->has_ir_version = 1;
    m->ir_version = ir;
    m->producer_name = S("unit");
    m->producer_version = S("1.0");
    Onnx__OperatorSetIdProto *o = keep(malloc(sizeof(*o)));
    onnx__operator_set_id_proto__init(o);
    o->domain = S("");
    o->has_version = 1;
    o->version = opset;
    m->opset_import = keep(calloc(1, sizeof(void *)));
    m->opset_import[0] = o;
    m->n_opset_import = 1;
    m->graph = g;
    return m;
}

static uint8_t *pack(const Onnx__ModelProto *m, size_t *n_out)
{
    size_t n = onnx__model_proto__get_packed_size(m);
    uint8_t *buf = keep(malloc(n + 1));
    *n_out = onnx__model_proto__pack(m, buf);
    return buf;
}

/* ---- importing with a counting allocator ---- */
typedef struct imp {
    tq_test_counting_alloc cnt;
    tfmq_allocator alloc;
    tq_arena arena;
    tq_graph *g;
    tq_onnx_meta meta;
} imp;

static tfmq_status imp_run(imp *x, const void *data, size_t n, const char *path)
{
    memset(x, 0, sizeof(*x));
    x->alloc = (tfmq_allocator){&x->cnt, tq_test_counting_alloc_fn, tq_test_counting_free_fn};
    tq_arena_init(&x->arena, &x->alloc);
    tfmq_status st = tq_import_onnx(data, n, path, &x->arena, &x->alloc, &x->meta, &x->g);
    if (st != TFMQ_OK) {
        TQ_EXPECT(x->g == NULL, "graph not NULL on failure");
        TQ_EXPECT(strncmp(tfmq_last_error(), "onnx: ", 6) == 0, "message '%s'",
                  tfmq_last_error());
    }
    return st;
}

/* Free everything; every block must come back, with the size it was allocated with. */
static void imp_done_ctx(imp *x, const char *ctx, unsigned long long k)
{
    tq_graph_destroy(x->g);
    x->g = NULL;
    tq_arena_free(&x->arena);
    long long live = atomic_load(&x->cnt.n_live), bytes = atomic_load(&x->cnt.bytes_live);
    TQ_EXPECT(live == 0 && bytes == 0, "%s %llu: %lld blocks / %lld bytes not returned", ctx, k,
              live, bytes);
}

static void imp_done(imp *x)
{
    imp_done_ctx(x, "import", 0);
}

static int32_t find(const tq_graph *g, const char *name)
{
    return tq_graph_find_value(g, name);
}

/* x[N,4] -> Relu -> t; t + w -> y; w initializer [4] (raw). Also a typed-field initializer. */
static Onnx__ModelProto *basic_model(void)
{
    static const int64_t xd[2] = {-1, 4}, wd[1] = {4};
    static const float w[4] = {1.0f, 2.0f, 3.0f, 4.0f};
    Onnx__GraphProto *g = graph("main");
    add_node(g, node("Relu", "r", "x", "t"));
    add_node(g, node("Add", "a", "t,w", "y"));
    g->input[g->n_input++] = vinfo("x", 1, 2, xd);
    g->input[g->n_input++] = vinfo("w", 1, 1, wd); /* input with an initializer: constant */
    g->output[g->n_output++] = vinfo("y", 1, 2, xd);
    g->initializer[g->n_initializer++] = tensor_raw("w", 1, 1, wd, w, sizeof(w));
    return model(g, 8, 13);
}

static void test_basic(tq_rng *rng)
{
    (void)rng;
    imp x;
    size_t n;
    uint8_t *buf = pack(basic_model(), &n);
    TQ_CHECK(tq_onnx_sniff(buf, n));
    TQ_EXPECT_OK(imp_run(&x, buf, n, NULL));
    if (x.g) {
        const tq_graph *g = x.g;
        TQ_EXPECT_EQ_I64(x.meta.ir_version, 8);
        TQ_EXPECT_EQ_I64(x.meta.opset, 13);
        TQ_EXPECT_EQ_I64(g->opset, 13);
        TQ_EXPECT_STR_EQ(x.meta.producer, "unit 1.0");
        TQ_EXPECT_EQ_I64(g->n_nodes, 2);
        TQ_EXPECT_EQ_I64(g->n_inputs, 1);
        TQ_EXPECT_EQ_I64(g->n_outputs, 1);
        int32_t vx = find(g, "x"), vw = find(g, "w"), vy = find(g, "y");
        TQ_CHECK(vx >= 0 && vw >= 0 && vy >= 0);
        if (vx >= 0 && vw >= 0 && vy >= 0) {
            const tq_value *X = &g->values[vx], *W = &g->values[vw], *Y = &g->values[vy];
            TQ_EXPECT_EQ_I64(g->inputs[0], vx);
            TQ_CHECK(X->flags & TQ_VALUE_INPUT);
            TQ_EXPECT_EQ_I64(X->t.dtype, TFMQ_DTYPE_FLOAT32);
            TQ_EXPECT_EQ_I64(X->t.rank, 2);
            TQ_EXPECT_EQ_I64(X->t.dims[0], -1);
            TQ_EXPECT_STR_EQ(X->dim_names[0], "N");
            TQ_EXPECT_EQ_I64(X->t.dims[1], 4);
            TQ_CHECK(X->dim_names[1] == NULL);
            TQ_CHECK((W->flags & TQ_VALUE_CONST) && !(W->flags & TQ_VALUE_INPUT));
            TQ_EXPECT_EQ_I64(W->data_bytes, 16);
            TQ_CHECK(((uintptr_t)W->t.data % 64) == 0);
            TQ_CHECK(W->t.data && ((const float *)W->t.data)[3] == 4.0f);
            TQ_CHECK(Y->flags & TQ_VALUE_OUTPUT);
            TQ_EXPECT_EQ_I64(Y->t.rank, 2);
            TQ_EXPECT_EQ_I64(g->nodes[1].op, TQ_OP_ADD);
            TQ_EXPECT_EQ_I64(g->nodes[1].in[1], vw);
        }
    }
    imp_done(&x);
    pool_free();
}

/* Typed repeated fields for each dtype they carry. */
static void test_typed_fields(tq_rng *rng)
{
    (void)rng;
    static const int64_t d2[1] = {2};
    static const struct {
        int32_t dt;
        size_t esize;
        uint8_t expect[16];
    } cases[] = {
        {3, 1, {0xff, 0x02}},                                  /* int8 -1, 2 */
        {2, 1, {0xff, 0x00}},                                  /* uint8 255, 0 */
        {9, 1, {0x01, 0x00}},                                  /* bool 5 -> 1, 0 */
        {5, 2, {0xd4, 0xfe, 0x07, 0x00}},                      /* int16 -300, 7 */
        {4, 2, {0xff, 0xff, 0x01, 0x00}},                      /* uint16 65535, 1 */
        {10, 2, {0x00, 0x3c, 0x00, 0x40}},                     /* float16 bits 1.0, 2.0 */
        {16, 2, {0x80, 0x3f, 0x00, 0x00}},                     /* bfloat16 bits 1.0, 0 */
        {6, 4, {0xf9, 0xff, 0xff, 0xff, 0x01, 0, 0, 0}},       /* int32 -7, 1 */
    };
    static const int32_t i32[8][2] = {{-1, 2},    {255, 0},    {5, 0},      {-300, 7},
                                      {65535, 1}, {0x3c00, 0x4000}, {0x3f80, 0}, {-7, 1}};
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        Onnx__GraphProto *g = graph("g");
        Onnx__TensorProto *t = tensor_raw("w", cases[c].dt, 1, d2, NULL, 0);
        t->n_int32_data = 2;
        t->int32_data = keep(malloc(2 * sizeof(int32_t)));
        memcpy(t->int32_data, i32[c], sizeof(i32[c]));
        g->initializer[g->n_initializer++] = t;
        add_node(g, node("Identity", "", "w", "y"));
        g->output[g->n_output++] = vinfo("y", -1, -1, NULL);
        size_t n;
        uint8_t *buf = pack(model(g, 7, 13), &n);
        imp x;
        TQ_EXPECT_OK(imp_run(&x, buf, n, NULL));
        if (x.g) {
            const tq_value *v = &x.g->values[find(x.g, "w")];
            TQ_EXPECT_EQ_I64(v->t.dtype, cases[c].dt);
            TQ_EXPECT_EQ_I64(v->data_bytes, 2 * cases[c].esize);
            TQ_EXPECT(memcmp(v->t.data, cases[c].expect, 2 * cases[c].esize) == 0, "dtype %d",
                      (int)cases[c].dt);
        }
        imp_done(&x);
        pool_free();
    }
    /* int64, double, uint32 and uint64 have fields of their own */
    Onnx__GraphProto *g = graph("g");
    Onnx__TensorProto *a = tensor_raw("a", 7, 1, d2, NULL, 0);
    Onnx__TensorProto *b = tensor_raw("b", 11, 1, d2, NULL, 0);
    Onnx__TensorProto *u = tensor_raw("u", 12, 1, d2, NULL, 0);
    Onnx__TensorProto *f = tensor_raw("f", 1, 1, d2, NULL, 0);
    static int64_t i64[2] = {-5, (int64_t)1 << 40};
    static double f64[2] = {1.5, -2.0};
    static uint64_t u64[2] = {4000000000u, 1};
    static float f32[2] = {0.5f, -1.0f};
    a->n_int64_data = 2;
    a->int64_data = i64;
    b->n_double_data = 2;
    b->double_data = f64;
    u->n_uint64_data = 2;
    u->uint64_data = u64;
    f->n_float_data = 2;
    f->float_data = f32;
    g->initializer[g->n_initializer++] = a;
    g->initializer[g->n_initializer++] = b;
    g->initializer[g->n_initializer++] = u;
    g->initializer[g->n_initializer++] = f;
    add_node(g, node("Identity", "", "a", "y"));
    g->output[g->n_output++] = vinfo("y", -1, -1, NULL);
    size_t n;
    uint8_t *buf = pack(model(g, 7, 13), &n);
    imp x;
    TQ_EXPECT_OK(imp_run(&x, buf, n, NULL));
    if (x.g) {
        const tq_graph *G = x.g;
        TQ_EXPECT_EQ_I64(((const int64_t *)G->values[find(G, "a")].t.data)[1], (int64_t)1 << 40);
        TQ_CHECK(((const double *)G->values[find(G, "b")].t.data)[0] == 1.5);
        TQ_EXPECT_EQ_I64(((const uint32_t *)G->values[find(G, "u")].t.data)[0], 4000000000u);
        TQ_EXPECT_EQ_I64(G->values[find(G, "u")].data_bytes, 8);
        TQ_CHECK(((const float *)G->values[find(G, "f")].t.data)[1] == -1.0f);
    }
    imp_done(&x);
    pool_free();
}

static void test_constant_nodes(tq_rng *rng)
{
    (void)rng;
    Onnx__GraphProto *g = graph("g");
    Onnx__NodeProto *c1 = add_node(g, node("Constant", "c1", "", "k1"));
    Onnx__AttributeProto *a1 =
        attr_new(c1, "value_float", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    a1->has_f = 1;
    a1->f = 2.5f;
    Onnx__NodeProto *c2 = add_node(g, node("Constant", "c2", "", "k2"));
    Onnx__AttributeProto *a2 = attr_new(c2, "value_ints", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    static int64_t ints[3] = {1, -2, 3};
    a2->n_ints = 3;
    a2->ints = ints;
    Onnx__NodeProto *c3 = add_node(g, node("Constant", "c3", "", "k3"));
    static const int64_t d[2] = {1, 2};
    static const uint16_t h[2] = {0x3c00, 0xc000};
    attr_new(c3, "value", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR)->t =
        tensor_raw("", 10, 2, d, h, sizeof(h));
    /* node before the producer of its input (unsorted file), absent optional inputs */
    add_node(g, node("Clip", "clip", "t,,k1", "y"));
    add_node(g, node("Add", "add", "x,k1", "t"));
    Onnx__NodeProto *sq = add_node(g, node("Squeeze", "sq", "k3,,", "z"));
    (void)sq;
    static const int64_t xd[1] = {3};
    g->input[g->n_input++] = vinfo("x", 1, 1, xd);
    g->output[g->n_output++] = vinfo("y", 1, 1, xd);
    g->output[g->n_output++] = vinfo("k2", -1, -1, NULL); /* a constant as graph output */
    g->output[g->n_output++] = vinfo("z", -1, -1, NULL);
    size_t n;
    uint8_t *buf = pack(model(g, 8, 13), &n);
    imp x;
    TQ_EXPECT_OK(imp_run(&x, buf, n, NULL));
    if (x.g) {
        const tq_graph *G = x.g;
        TQ_EXPECT_EQ_I64(G->n_nodes, 3);
        const tq_value *k1 = &G->values[find(G, "k1")], *k2 = &G->values[find(G, "k2")],
                       *k3 = &G->values[find(G, "k3")];
        TQ_CHECK(k1->flags & TQ_VALUE_CONST);
        TQ_EXPECT_EQ_I64(k1->t.rank, 0);
        TQ_CHECK(*(const float *)k1->t.data == 2.5f);
        TQ_EXPECT_EQ_I64(k2->t.dtype, TFMQ_DTYPE_INT64);
        TQ_EXPECT_EQ_I64(k2->t.dims[0], 3);
        TQ_EXPECT_EQ_I64(((const int64_t *)k2->t.data)[1], -2);
        TQ_CHECK(k2->flags & TQ_VALUE_OUTPUT);
        TQ_EXPECT_EQ_I64(k3->t.dtype, TFMQ_DTYPE_FLOAT16);
        TQ_EXPECT_EQ_I64(((const uint16_t *)k3->t.data)[1], 0xc000);
        /* sorted: Add before Clip; Clip keeps its absent middle input; Squeeze lost its
         * trailing absent input */
        int32_t i_add = -1, i_clip = -1, i_sq = -1;
        for (size_t i = 0; i < G->n_nodes; i++) {
            uint32_t op = G->nodes[i].op;
            *(op == TQ_OP_ADD ? &i_add : op == TQ_OP_CLIP ? &i_clip : &i_sq) = (int32_t)i;
        }
        TQ_CHECK(i_add >= 0 && i_clip > i_add && i_sq >= 0);
        if (i_add >= 0 && i_clip >= 0 && i_sq >= 0) {
            TQ_EXPECT_EQ_I64(G->nodes[i_clip].n_in, 3);
            TQ_EXPECT_EQ_I64(G->nodes[i_clip].in[1], -1);
            TQ_EXPECT_EQ_I64(G->nodes[i_sq].n_in, 1);
        }
    }
    imp_done(&x);
    pool_free();
}

/* If(cond) { then: If(cond) { then: x + w } else: { x } } else: { w } -- outer names two levels
 * up become TQ_VALUE_OUTER values in each graph on the way. Also attributes of every type. */
static Onnx__ModelProto *nested_model(void)
{
    static const int64_t xd[1] = {4};
    static const float w[4] = {1, 2, 3, 4};
    Onnx__GraphProto *inner = graph("inner");
    add_node(inner, node("Add", "inner_add", "x,w", "o"));
    inner->output[inner->n_output++] = vinfo("o", 1, 1, xd);
    Onnx__GraphProto *inner_else = graph("inner_else");
    inner_else->output[inner_else->n_output++] = vinfo("x", -1, -1, NULL);
    Onnx__GraphProto *mid = graph("mid");
    Onnx__NodeProto *if2 = add_node(mid, node("If", "if2", "cond", "r"));
    attr_new(if2, "then_branch", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH)->g = inner;
    attr_new(if2, "else_branch", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH)->g = inner_else;
    mid->output[mid->n_output++] = vinfo("r", -1, -1, NULL);
    Onnx__GraphProto *els = graph("els");
    els->output[els->n_output++] = vinfo("w", -1, -1, NULL);
    Onnx__GraphProto *g = graph("main");
    Onnx__NodeProto *if1 = add_node(g, node("If", "if1", "cond", "y"));
    attr_new(if1, "then_branch", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH)->g = mid;
    attr_new(if1, "else_branch", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH)->g = els;
    Onnx__NodeProto *lr = add_node(g, node("LeakyRelu", "lr", "y", "z"));
    Onnx__AttributeProto *al = attr_new(lr, "alpha", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    al->has_f = 1;
    al->f = 0.25f;
    Onnx__AttributeProto *s = attr_new(lr, "note", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    s->has_s = 1;
    s->s.data = (uint8_t *)S("hello");
    s->s.len = 5;
    static float fl[2] = {0.5f, 1.5f};
    Onnx__AttributeProto *fa = attr_new(lr, "fl", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS);
    fa->n_floats = 2;
    fa->floats = fl;
    Onnx__AttributeProto *sa = attr_new(lr, "ss", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS);
    sa->n_strings = 2;
    sa->strings = keep(calloc(2, sizeof(ProtobufCBinaryData)));
    sa->strings[0].data = (uint8_t *)S("ab");
    sa->strings[0].len = 2;
    sa->strings[1].data = (uint8_t *)S("c");
    sa->strings[1].len = 1;
    Onnx__AttributeProto *ia = attr_new(lr, "i", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    ia->has_i = 1;
    ia->i = -9;
    attr_new(lr, "t", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR)->t =
        tensor_raw("", 1, 1, xd, w, sizeof(w));
    g->input[g->n_input++] = vinfo("x", 1, 1, xd);
    g->input[g->n_input++] = vinfo("cond", 9, 0, NULL);
    g->output[g->n_output++] = vinfo("z", 1, -1, NULL);
    g->initializer[g->n_initializer++] = tensor_raw("w", 1, 1, xd, w, sizeof(w));
    return model(g, 8, 16);
}

static void test_subgraphs(tq_rng *rng)
{
    (void)rng;
    size_t n;
    uint8_t *buf = pack(nested_model(), &n);
    imp x;
    TQ_EXPECT_OK(imp_run(&x, buf, n, NULL));
    if (x.g) {
        const tq_graph *G = x.g;
        const tq_node *if1 = &G->nodes[0], *lr = &G->nodes[1];
        TQ_EXPECT_EQ_I64(if1->op, TQ_OP_IF);
        const tq_attr *tb = tq_node_attr(if1, "then_branch");
        const tq_attr *eb = tq_node_attr(if1, "else_branch");
        TQ_CHECK(tb && tb->type == TQ_ATTR_GRAPH && tb->graph && eb && eb->graph);
        if (tb && tb->graph && eb && eb->graph) {
            const tq_graph *mid = tb->graph;
            TQ_EXPECT_STR_EQ(mid->name, "mid");
            TQ_EXPECT_EQ_I64(mid->depth, 1);
            TQ_EXPECT_EQ_I64(mid->opset, 16);
            TQ_EXPECT(find(mid, "w") >= 0 && (mid->values[find(mid, "w")].flags & TQ_VALUE_OUTER),
                      "w is an outer value of mid");
            TQ_EXPECT(find(mid, "x") >= 0 && mid->values[find(mid, "x")].t.dtype == 1,
                      "x in mid copies the parent's dtype");
            const tq_attr *t2 = tq_node_attr(&mid->nodes[0], "then_branch");
            TQ_CHECK(t2 && t2->graph && t2->graph->depth == 2);
            if (t2 && t2->graph) {
                const tq_graph *inner = t2->graph;
                int32_t vx = find(inner, "x");
                TQ_CHECK(vx >= 0 && (inner->values[vx].flags & TQ_VALUE_OUTER));
                TQ_EXPECT_EQ_I64(inner->nodes[0].in[0], vx);
            }
            /* the else branch outputs an outer value directly */
            int32_t ew = find(eb->graph, "w");
            TQ_CHECK(ew >= 0 && eb->graph->outputs[0] == ew);
        }
        float alpha = 0;
        int64_t i = 0;
        const char *note = NULL;
        TQ_EXPECT_OK(tq_attr_float(lr, "alpha", 0.0f, &alpha));
        TQ_CHECK(alpha == 0.25f);
        TQ_EXPECT_OK(tq_attr_string(lr, "note", "", &note));
        TQ_EXPECT_STR_EQ(note, "hello");
        TQ_EXPECT_OK(tq_attr_int(lr, "i", 0, &i));
        TQ_EXPECT_EQ_I64(i, -9);
        const tq_attr *ss = tq_node_attr(lr, "ss");
        TQ_CHECK(ss && ss->n == 2 && strcmp(ss->strings[0], "ab") == 0);
        const tq_attr *fl = tq_node_attr(lr, "fl");
        TQ_CHECK(fl && fl->n == 2 && fl->floats[1] == 1.5f);
        const tq_attr *t = tq_node_attr(lr, "t");
        TQ_CHECK(t && t->tensor && t->tensor->dims[0] == 4 &&
                 ((const float *)t->tensor->data)[2] == 3.0f);
    }
    imp_done(&x);
    pool_free();
}

/* One failing model per documented error. */
static void expect_fail(Onnx__ModelProto *m, tfmq_status want, const char *msg_part)
{
    size_t n;
    uint8_t *buf = pack(m, &n);
    imp x;
    TQ_EXPECT_STATUS(imp_run(&x, buf, n, NULL), want);
    TQ_EXPECT_STR_CONTAINS(tfmq_last_error(), msg_part);
    imp_done(&x);
    pool_free();
}

static Onnx__GraphProto *relu_graph(const char *op, const char *in, const char *out)
{
    static const int64_t xd[1] = {4};
    Onnx__GraphProto *g = graph("g");
    add_node(g, node(op, "n1", in, "y"));
    g->input[g->n_input++] = vinfo("x", 1, 1, xd);
    g->output[g->n_output++] = vinfo(out, 1, 1, xd);
    return g;
}

static void test_errors(tq_rng *rng)
{
    (void)rng;
    static const int64_t d4[1] = {4}, dneg[1] = {-3}, d9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    static const float w[4] = {0};
    expect_fail(model(relu_graph("FooBar", "x", "y"), 8, 13), TFMQ_ERR_UNSUPPORTED,
                "onnx: node 'n1' (FooBar, domain '', opset 13): unsupported op");
    Onnx__ModelProto *m = model(relu_graph("Relu", "x", "y"), 8, 13);
    m->graph->node[0]->domain = S("com.microsoft");
    expect_fail(m, TFMQ_ERR_UNSUPPORTED, "(Relu, domain 'com.microsoft', opset 0): unsupported");
    m = model(relu_graph("Relu", "x", "y"), 8, 13);
    m->graph->node[0]->name = S("");
    m->graph->node[0]->op_type = S("Nope");
    expect_fail(m, TFMQ_ERR_UNSUPPORTED, "node 'Nope#0' (Nope,");
    expect_fail(model(relu_graph("Relu", "q", "y"), 8, 13), TFMQ_ERR_INVALID_ARG,
                "node 'n1' (Relu): input 'q'");
    expect_fail(model(relu_graph("Relu", "x", "zz"), 8, 13), TFMQ_ERR_INVALID_ARG,
                "graph output 'zz'");
    expect_fail(model(relu_graph("Relu", "x", "y"), 2, 13), TFMQ_ERR_UNSUPPORTED,
                "IR version 2");
    expect_fail(model(relu_graph("Relu", "x", "y"), 11, 13), TFMQ_ERR_UNSUPPORTED,
                "IR version 11");
    expect_fail(model(relu_graph("Relu", "x", "y"), 8, 22), TFMQ_ERR_UNSUPPORTED, "opset 22");
    /* a name defined twice names both definers */
    Onnx__GraphProto *g = relu_graph("Relu", "x", "y");
    add_node(g, node("Neg", "n2", "x", "y"));
    expect_fail(model(g, 8, 13), TFMQ_ERR_INVALID_ARG,
                "node 'n2' (Neg): output 'y' is already defined by node 'n1' (Relu)");
    g = relu_graph("Relu", "x", "y");
    add_node(g, node("Neg", "n2", "y", "x"));
    expect_fail(model(g, 8, 13), TFMQ_ERR_INVALID_ARG, "already defined by a graph input");
    /* initializers */
    g = relu_graph("Add", "x,w", "y");
    g->initializer[g->n_initializer++] = tensor_raw("w", 1, 1, d4, w, sizeof(w) - 1);
    expect_fail(model(g, 8, 13), TFMQ_ERR_PARSE, "initializer 'w': raw_data has 15 bytes");
    g = relu_graph("Add", "x,w", "y");
    g->initializer[g->n_initializer++] = tensor_raw("w", 1, 1, dneg, NULL, 0);
    expect_fail(model(g, 8, 13), TFMQ_ERR_PARSE, "negative dimension");
    g = relu_graph("Add", "x,w", "y");
    g->initializer[g->n_initializer++] = tensor_raw("w", 1, 9, d9, w, 4);
    expect_fail(model(g, 8, 13), TFMQ_ERR_UNSUPPORTED, "rank 9");
    g = relu_graph("Add", "x,w", "y");
    g->initializer[g->n_initializer++] = tensor_raw("w", 8, 1, d4, NULL, 0);
    expect_fail(model(g, 8, 13), TFMQ_ERR_UNSUPPORTED, "initializer 'w' has element type string");
    g = relu_graph("Add", "x,w", "y");
    g->initializer[g->n_initializer++] = tensor_raw("w", 14, 1, d4, NULL, 0);
    expect_fail(model(g, 8, 13), TFMQ_ERR_UNSUPPORTED, "complex64");
    g = relu_graph("Add", "x,w", "y");
    {
        static const int64_t big[3] = {(int64_t)1 << 30, (int64_t)1 << 30, (int64_t)1 << 30};
        g->initializer[g->n_initializer++] = tensor_raw("w", 1, 3, big, NULL, 0);
    }
    expect_fail(model(g, 8, 13), TFMQ_ERR_UNSUPPORTED, "initializer 'w'");
    g = relu_graph("Add", "x,w", "y");
    {
        Onnx__TensorProto *t = tensor_raw("w", 1, 1, d4, NULL, 0);
        static float three[3] = {1, 2, 3};
        t->n_float_data = 3;
        t->float_data = three;
        g->initializer[g->n_initializer++] = t;
    }
    expect_fail(model(g, 8, 13), TFMQ_ERR_PARSE, "float_data has 3 values, the shape needs 4");
    /* Constant with a string value */
    g = relu_graph("Relu", "x", "y");
    Onnx__NodeProto *c = add_node(g, node("Constant", "cs", "", "k"));
    attr_new(c, "value_string", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    expect_fail(model(g, 8, 13), TFMQ_ERR_UNSUPPORTED, "node 'cs' (Constant)");
    /* non-tensor graph input */
    g = relu_graph("Relu", "x", "y");
    Onnx__TypeProto *tp = g->input[0]->type;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE;
    tp->sequence_type = keep(malloc(sizeof(Onnx__TypeProto__Sequence)));
    onnx__type_proto__sequence__init(tp->sequence_type);
    expect_fail(model(g, 8, 13), TFMQ_ERR_UNSUPPORTED, "graph input 'x' is a sequence");
    /* subgraph input that is not found anywhere */
    g = graph("main");
    Onnx__GraphProto *body = graph("body");
    add_node(body, node("Relu", "inner", "nowhere", "o"));
    body->output[body->n_output++] = vinfo("o", -1, -1, NULL);
    Onnx__NodeProto *ifn = add_node(g, node("If", "if", "x", "y"));
    attr_new(ifn, "then_branch", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH)->g = body;
    attr_new(ifn, "else_branch", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH)->g = body;
    g->input[g->n_input++] = vinfo("x", 9, 0, NULL);
    g->output[g->n_output++] = vinfo("y", -1, -1, NULL);
    expect_fail(model(g, 8, 13), TFMQ_ERR_INVALID_ARG, "node 'inner' (Relu): input 'nowhere'");
    /* no graph */
    m = model(NULL, 8, 13);
    expect_fail(m, TFMQ_ERR_PARSE, "no graph");
}

static void test_sniff(tq_rng *rng)
{
    (void)rng;
    static const uint8_t png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13};
    static const uint8_t zip[] = {'P', 'K', 3, 4, 20, 0, 0, 0, 8, 0};
    static const uint8_t jpeg[] = {0xff, 0xd8, 0xff, 0xe0, 0, 16, 'J', 'F', 'I', 'F'};
    /* a TensorFlow SavedModel: schema version 1, then a binary MetaGraphDef in field 2 */
    static const uint8_t saved[] = {0x08, 0x01, 0x12, 0xf0, 0x81, 0x32, 0x0a, 0xce, 0x04, 0x12,
                                    0xa3, 0x04, 0x0a, 0x38, 0x0a, 0x05, 'C',  'o',  'n',  's'};
    const char *text = "ir_version: 8\ngraph { }\n";
    TQ_CHECK(!tq_onnx_sniff(NULL, 0));
    TQ_CHECK(!tq_onnx_sniff("", 0));
    TQ_CHECK(!tq_onnx_sniff(png, sizeof(png)));
    TQ_CHECK(!tq_onnx_sniff(zip, sizeof(zip)));
    TQ_CHECK(!tq_onnx_sniff(jpeg, sizeof(jpeg)));
    TQ_CHECK(!tq_onnx_sniff(saved, sizeof(saved)));
    TQ_CHECK(!tq_onnx_sniff(text, strlen(text)));
    size_t n;
    uint8_t *buf = pack(basic_model(), &n);
    TQ_CHECK(tq_onnx_sniff(buf, n));
    TQ_CHECK(tq_onnx_sniff(buf, 16)); /* a prefix is enough */
    pool_free();
}

/* Every prefix of a model must fail cleanly (and free everything). */
static void test_truncated(tq_rng *rng)
{
    size_t n;
    uint8_t *buf = pack(nested_model(), &n);
    for (size_t cut = 0; cut < n; cut++) {
        imp x;
        tfmq_status st = imp_run(&x, buf, cut, NULL);
        TQ_EXPECT(st != TFMQ_OK, "prefix of %zu/%zu bytes imported", cut, n);
        imp_done(&x);
    }
    /* random byte changes: any status, never a crash or leak */
    uint8_t *copy = keep(malloc(n + 1));
    for (int k = 0; k < 300 && n > 0; k++) {
        memcpy(copy, buf, n);
        for (int j = 0; j < 3; j++) {
            copy[tq_rng_below(rng, n)] = (uint8_t)tq_rng_u32(rng);
        }
        imp x;
        (void)imp_run(&x, copy, n, NULL);
        imp_done(&x);
    }
    pool_free();
}

/* GraphProto.node -> NodeProto.attribute -> AttributeProto.g, 5000 times: must not recurse. */
static void test_deep_nesting(tq_rng *rng)
{
    (void)rng;
    const int levels = 5000;
    size_t cap = (size_t)levels * 12 + 64, len = 0;
    uint8_t *a = keep(malloc(cap)), *b = keep(malloc(cap));
    for (int i = 0; i < levels; i++) {
        for (int f = 0; f < 3; f++) { /* wrap: attr.g (6), node.attribute (5), graph.node (1) */
            static const uint8_t fields[3] = {6, 5, 1};
            size_t o = 0;
            b[o++] = (uint8_t)(fields[f] << 3 | 2);
            size_t l = len;
            do {
                b[o++] = (uint8_t)((l & 0x7f) | (l > 0x7f ? 0x80 : 0));
                l >>= 7;
            } while (l);
            memcpy(b + o, a, len);
            len += o;
            uint8_t *t = a;
            a = b;
            b = t;
        }
    }
    /* model: ir_version 8, opset_import {version 13}, graph */
    size_t o = 0;
    uint8_t *m = keep(malloc(len + 32));
    m[o++] = 0x08;
    m[o++] = 8;
    m[o++] = 0x42;
    m[o++] = 2;
    m[o++] = 0x10;
    m[o++] = 13;
    m[o++] = 0x3a;
    size_t l = len;
    do {
        m[o++] = (uint8_t)((l & 0x7f) | (l > 0x7f ? 0x80 : 0));
        l >>= 7;
    } while (l);
    memcpy(m + o, a, len);
    imp x;
    TQ_EXPECT_STATUS(imp_run(&x, m, o + len, NULL), TFMQ_ERR_UNSUPPORTED);
    TQ_EXPECT_STR_CONTAINS(tfmq_last_error(), "nested deeper");
    imp_done(&x);
    pool_free();
}

/* ---- files: external data and tensor files in a temporary folder ---- */
static char tmpdir[64];

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    TQ_CHECK(f != NULL);
    if (f) {
        TQ_CHECK(fwrite(data, 1, n, f) == n);
        fclose(f);
    }
}

static Onnx__ModelProto *ext_model(const char *loc, const char *offset, const char *length)
{
    static const int64_t d4[1] = {4};
    Onnx__GraphProto *g = relu_graph("Add", "x,w", "y");
    Onnx__TensorProto *t = tensor_raw("w", 1, 1, d4, NULL, 0);
    t->has_data_location = 1;
    t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    t->external_data = keep(calloc(3, sizeof(void *)));
    const char *keys[3] = {"location", "offset", "length"};
    const char *vals[3] = {loc, offset, length};
    for (int i = 0; i < 3; i++) {
        if (!vals[i]) {
            continue;
        }
        Onnx__StringStringEntryProto *e = keep(malloc(sizeof(*e)));
        onnx__string_string_entry_proto__init(e);
        e->key = S(keys[i]);
        e->value = S(vals[i]);
        t->external_data[t->n_external_data++] = e;
    }
    g->initializer[g->n_initializer++] = t;
    return model(g, 8, 13);
}

static void ext_case(const char *loc, const char *off, const char *len, tfmq_status want,
                     const char *msg_part)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/model.onnx", tmpdir);
    size_t n;
    uint8_t *buf = pack(ext_model(loc, off, len), &n);
    imp x;
    TQ_EXPECT_STATUS(imp_run(&x, buf, n, path), want);
    if (want == TFMQ_OK && x.g) {
        const tq_value *v = &x.g->values[find(x.g, "w")];
        TQ_CHECK(v->t.data && ((const float *)v->t.data)[3] == 4.0f);
    } else if (msg_part) {
        TQ_EXPECT_STR_CONTAINS(tfmq_last_error(), msg_part);
    }
    imp_done(&x);
    pool_free();
}

static void test_external_data(tq_rng *rng)
{
    (void)rng;
    static const float w[6] = {0, 0, 1, 2, 3, 4};
    char p[128], q[128];
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/tfmq_onnx_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        TQ_EXPECT(false, "mkdtemp failed");
        return;
    }
    snprintf(p, sizeof(p), "%s/w.bin", tmpdir);
    write_file(p, w, sizeof(w));
    snprintf(q, sizeof(q), "%s/sub", tmpdir);
    TQ_CHECK(mkdir(q, 0700) == 0);
    snprintf(p, sizeof(p), "%s/sub/w2.bin", tmpdir);
    write_file(p, w + 2, 16);
    snprintf(p, sizeof(p), "%s/link.bin", tmpdir);
    TQ_CHECK(symlink("/etc/hostname", p) == 0);

    ext_case("w.bin", "8", "16", TFMQ_OK, NULL);
    ext_case("w.bin", "8", NULL, TFMQ_OK, NULL);
    ext_case("sub/w2.bin", NULL, NULL, TFMQ_OK, NULL);
    ext_case("/etc/passwd", NULL, NULL, TFMQ_ERR_INVALID_ARG, "'/etc/passwd' must be a relative");
    ext_case("../w.bin", NULL, NULL, TFMQ_ERR_INVALID_ARG, "no '..'");
    ext_case("sub/../../w.bin", NULL, NULL, TFMQ_ERR_INVALID_ARG, "no '..'");
    ext_case("link.bin", NULL, NULL, TFMQ_ERR_INVALID_ARG, "outside the model's folder");
    ext_case("missing.bin", NULL, NULL, TFMQ_ERR_IO, "missing.bin");
    ext_case("sub", NULL, NULL, TFMQ_ERR_IO, "not a regular file");
    ext_case("w.bin", "16", "16", TFMQ_ERR_PARSE, "runs past the end");
    ext_case("w.bin", "100", NULL, TFMQ_ERR_PARSE, "past the end");
    ext_case("w.bin", "-1", NULL, TFMQ_ERR_PARSE, "not a number");
    ext_case("w.bin", "0", "8", TFMQ_ERR_PARSE, "the shape needs 16");
    /* without a model path, external data cannot be resolved */
    size_t n;
    uint8_t *buf = pack(ext_model("w.bin", NULL, NULL), &n);
    imp x;
    TQ_EXPECT_STATUS(imp_run(&x, buf, n, NULL), TFMQ_ERR_UNSUPPORTED);
    imp_done(&x);
    pool_free();

    /* tensor files */
    static const int64_t d[2] = {2, 3};
    static const int32_t v[6] = {1, -2, 3, -4, 5, -6};
    Onnx__TensorProto *t = tensor_raw("input_0", 6, 2, d, v, sizeof(v));
    size_t tn = onnx__tensor_proto__get_packed_size(t);
    uint8_t *tb = keep(malloc(tn));
    onnx__tensor_proto__pack(t, tb);
    snprintf(p, sizeof(p), "%s/input_0.pb", tmpdir);
    write_file(p, tb, tn);
    tq_test_counting_alloc cnt;
    memset(&cnt, 0, sizeof(cnt));
    tfmq_allocator a = {&cnt, tq_test_counting_alloc_fn, tq_test_counting_free_fn};
    tq_tensor tt;
    void *data = NULL;
    size_t bytes = 0;
    char name[32];
    TQ_EXPECT_OK(tq_onnx_read_tensor_file(p, &a, &tt, &data, &bytes, name, sizeof(name)));
    TQ_EXPECT_STR_EQ(name, "input_0");
    TQ_EXPECT_EQ_I64(tt.dtype, TFMQ_DTYPE_INT32);
    TQ_EXPECT_EQ_I64(tt.rank, 2);
    TQ_EXPECT_EQ_I64(tt.dims[1], 3);
    TQ_EXPECT_EQ_I64(bytes, 24);
    TQ_CHECK(data && tt.data == data && ((const int32_t *)data)[5] == -6);
    tq_free_aligned(&a, data, bytes);
    for (size_t cut = 0; cut < tn; cut++) {
        write_file(p, tb, cut);
        tfmq_status st = tq_onnx_read_tensor_file(p, &a, &tt, &data, &bytes, NULL, 0);
        TQ_EXPECT(st != TFMQ_OK || cut == 0, "truncated tensor file of %zu bytes read", cut);
        if (st == TFMQ_OK) {
            tq_free_aligned(&a, data, bytes);
        } else {
            TQ_CHECK(data == NULL);
        }
    }
    snprintf(q, sizeof(q), "%s/none.pb", tmpdir);
    TQ_EXPECT_STATUS(tq_onnx_read_tensor_file(q, &a, &tt, &data, &bytes, NULL, 0), TFMQ_ERR_IO);
    TQ_EXPECT_EQ_I64(atomic_load(&cnt.n_live), 0);
    TQ_EXPECT_EQ_I64(atomic_load(&cnt.bytes_live), 0);
    pool_free();

    const char *files[] = {"w.bin", "sub/w2.bin", "link.bin", "input_0.pb", "sub"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", tmpdir, files[i]);
        if (remove(p) != 0) {
            fprintf(stderr, "note: could not remove %s\n", p);
        }
    }
    if (rmdir(tmpdir) != 0) {
        fprintf(stderr, "note: could not remove %s\n", tmpdir);
    }
}

/* Fail the k-th allocation for every k: always TFMQ_ERR_OUT_OF_MEMORY, nothing leaked. */
static void test_oom_torture(tq_rng *rng)
{
    (void)rng;
    size_t n;
    uint8_t *buf = pack(nested_model(), &n);
    imp x;
    tq_alloc_test_set_fail_at(0);
    TQ_EXPECT_OK(imp_run(&x, buf, n, NULL));
    uint64_t n_allocs = tq_alloc_test_count();
    imp_done(&x);
    TQ_CHECK(n_allocs > 20);
    for (uint64_t k = 1; k <= n_allocs; k++) {
        tq_alloc_test_set_fail_at(k);
        tfmq_status st = imp_run(&x, buf, n, NULL);
        tq_alloc_test_set_fail_at(0);
        TQ_EXPECT(st == TFMQ_ERR_OUT_OF_MEMORY, "failing allocation %llu of %llu: status %d (%s)",
                  (unsigned long long)k, (unsigned long long)n_allocs, (int)st,
                  tfmq_last_error());
        imp_done_ctx(&x, "failing allocation", (unsigned long long)k);
    }
    pool_free();
}

/* A 100k-node chain imports (the name table keeps this linear). */
static void test_big_graph(tq_rng *rng)
{
    (void)rng;
    const size_t n_nodes = 100000;
    Onnx__GraphProto *g = graph("big");
    g->node = keep(calloc(n_nodes, sizeof(void *)));
    char **names = keep(calloc(n_nodes + 1, sizeof(char *)));
    char *text = keep(malloc((n_nodes + 1) * 16));
    for (size_t i = 0; i <= n_nodes; i++) {
        names[i] = text + i * 16;
        snprintf(names[i], 16, "t%zu", i);
    }
    Onnx__NodeProto *nodes = keep(calloc(n_nodes, sizeof(*nodes)));
    char *relu = S("Relu");
    for (size_t i = 0; i < n_nodes; i++) {
        Onnx__NodeProto *nd = &nodes[i];
        onnx__node_proto__init(nd);
        nd->op_type = relu;
        nd->n_input = nd->n_output = 1;
        nd->input = &names[i];
        nd->output = &names[i + 1];
        g->node[g->n_node++] = nd;
    }
    static const int64_t d[1] = {4};
    g->input[g->n_input++] = vinfo("t0", 1, 1, d);
    char last[16];
    snprintf(last, sizeof(last), "t%zu", n_nodes);
    g->output[g->n_output++] = vinfo(last, 1, 1, d);
    size_t n;
    uint8_t *buf = pack(model(g, 8, 13), &n);
    imp x;
    TQ_EXPECT_OK(imp_run(&x, buf, n, NULL));
    if (x.g) {
        TQ_EXPECT_EQ_I64(x.g->n_nodes, n_nodes);
        TQ_EXPECT_EQ_I64(x.g->n_values, n_nodes + 1);
    }
    imp_done(&x);
    pool_free();
}

int main(int argc, char **argv)
{
    tq_test_begin(argc, argv);
    TQ_RUN(test_basic);
    TQ_RUN(test_typed_fields);
    TQ_RUN(test_constant_nodes);
    TQ_RUN(test_subgraphs);
    TQ_RUN(test_errors);
    TQ_RUN(test_sniff);
    TQ_RUN(test_truncated);
    TQ_RUN(test_deep_nesting);
    TQ_RUN(test_external_data);
    TQ_RUN(test_oom_torture);
    TQ_RUN(test_big_graph);
    return tq_test_end();
}
