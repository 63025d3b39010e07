/* test_graph.c: unit tests of src/ir/graph.c on small hand-built graphs: building, finalize
 * (topological sort of an unsorted graph, stability, dangling references, cycles, duplicate
 * producers, arity), attribute getters and their type errors, tensor helpers, subgraph depth,
 * and an OOM torture loop over graph building that must end in TFMQ_ERR_OUT_OF_MEMORY or OK,
 * with no leaks and balanced sizes (checked by a counting allocator). */
#include "harness.h"
#include "ir/ir.h"

#include <string.h>

typedef struct fixture {
    tq_test_counting_alloc cnt;
    tfmq_allocator alloc;
    tq_arena arena;
    tq_graph *g;
} fixture;

static void fx_init(fixture *f)
{
    memset(f, 0, sizeof(*f));
    f->alloc = (tfmq_allocator){&f->cnt, tq_test_counting_alloc_fn, tq_test_counting_free_fn};
    tq_arena_init(&f->arena, &f->alloc);
    TQ_EXPECT_OK(tq_graph_create(&f->arena, &f->alloc, &f->g));
}

/* Frees everything and checks that every allocation was returned with its size. */
static void fx_done(fixture *f)
{
    tq_graph_destroy(f->g);
    tq_arena_free(&f->arena);
    TQ_EXPECT_EQ_I64(atomic_load(&f->cnt.n_live), 0);
    TQ_EXPECT_EQ_I64(atomic_load(&f->cnt.bytes_live), 0);
}

static int32_t val(tq_graph *g, const char *name)
{
    int32_t v = -1;
    TQ_EXPECT_OK(tq_graph_add_value(g, name, &v));
    return v;
}

/* Add a node with the given inputs and one output. */
static int32_t node1(tq_graph *g, uint32_t op, const char *name, int32_t n_in, const int32_t *ins,
                     int32_t out)
{
    int32_t idx = -1;
    TQ_EXPECT_OK(tq_graph_add_node(g, op, name, n_in, 1, 0, &idx));
    if (idx < 0) {
        return idx;
    }
    for (int32_t k = 0; k < n_in; k++) {
        g->nodes[idx].in[k] = ins[k];
    }
    g->nodes[idx].out[0] = out;
    return idx;
}

/* X -> Relu -> Y; Y + W -> Z (W constant); nodes added in the given order. */
static void test_build_and_finalize(tq_rng *rng)
{
    (void)rng;
    fixture f;
    fx_init(&f);
    tq_graph *g = f.g;
    int32_t x = val(g, "X"), w = val(g, "W"), y = val(g, "Y"), z = val(g, "Z");
    TQ_EXPECT_EQ_I64(tq_graph_find_value(g, "W"), w);
    TQ_EXPECT_EQ_I64(tq_graph_find_value(g, "nope"), -1);
    float *wd = tq_graph_alloc_data(g, 4 * sizeof(float));
    TQ_CHECK(wd != NULL && ((uintptr_t)wd % TQ_ALIGN) == 0);
    g->values[w].flags |= TQ_VALUE_CONST;
    g->values[w].t.data = wd;
    node1(g, TQ_OP_RELU, "relu", 1, &x, y);
    node1(g, TQ_OP_ADD, "add", 2, (int32_t[]){y, w}, z);
    TQ_EXPECT_OK(tq_graph_set_io(g, &x, 1, &z, 1));
    TQ_CHECK(g->values[x].flags & TQ_VALUE_INPUT);
    TQ_CHECK(g->values[z].flags & TQ_VALUE_OUTPUT);
    TQ_EXPECT_OK(tq_graph_finalize(g));
    TQ_EXPECT_EQ_I64(g->n_nodes, 2);
    TQ_EXPECT_EQ_I64(g->nodes[0].op, TQ_OP_RELU);
    TQ_EXPECT_EQ_I64(g->values[y].producer, 0);
    TQ_EXPECT_EQ_I64(g->values[z].producer, 1);
    TQ_EXPECT_EQ_I64(g->values[x].producer, -1);
    TQ_EXPECT_EQ_I64(g->values[w].producer, -1);
    TQ_EXPECT_EQ_I64(g->values[x].t.rank, -1); /* unknown until set */
    char buf[64];
    TQ_EXPECT_STR_EQ(tq_node_label(g, &g->nodes[0], buf, sizeof(buf)), "relu");
    fx_done(&f);
}

/* A chain added backwards, with an independent node in between: finalize sorts the chain and
 * keeps file order among nodes that are free to go in any order. */
static void test_topological_sort(tq_rng *rng)
{
    (void)rng;
    fixture f;
    fx_init(&f);
    tq_graph *g = f.g;
    int32_t x = val(g, "X"), a = val(g, "a"), b = val(g, "b"), c = val(g, "c"), d = val(g, "d");
    int32_t e = val(g, "e");
    node1(g, TQ_OP_NEG, "n3", 1, &b, c);    /* needs n2 */
    node1(g, TQ_OP_EXP, "free1", 1, &x, d); /* ready at once */
    node1(g, TQ_OP_ABS, "n2", 1, &a, b);    /* needs n1 */
    node1(g, TQ_OP_RELU, "n1", 1, &x, a);   /* ready at once */
    node1(g, TQ_OP_ADD, "n4", 2, (int32_t[]){c, d}, e);
    TQ_EXPECT_OK(tq_graph_set_io(g, &x, 1, &e, 1));
    TQ_EXPECT_OK(tq_graph_finalize(g));
    const char *want[] = {"free1", "n1", "n2", "n3", "n4"};
    for (size_t i = 0; i < g->n_nodes && i < 5; i++) {
        TQ_EXPECT_STR_EQ(g->nodes[i].name, want[i]);
    }
    /* producers point at the new positions; inputs precede their consumers */
    for (size_t i = 0; i < g->n_nodes; i++) {
        const tq_node *n = &g->nodes[i];
        TQ_EXPECT_EQ_I64(g->values[n->out[0]].producer, (int64_t)i);
        for (int32_t k = 0; k < n->n_in; k++) {
            TQ_CHECK(g->values[n->in[k]].producer < (int32_t)i);
        }
    }
    /* finalize is idempotent */
    TQ_EXPECT_OK(tq_graph_finalize(g));
    TQ_EXPECT_STR_EQ(g->nodes[0].name, "free1");
    fx_done(&f);
}

static void test_dangling_reference(tq_rng *rng)
{
    (void)rng;
    fixture f;
    fx_init(&f);
    tq_graph *g = f.g;
    int32_t x = val(g, "X"), ghost = val(g, "ghost"), y = val(g, "Y");
    node1(g, TQ_OP_ADD, "adder", 2, (int32_t[]){x, ghost}, y);
    TQ_EXPECT_OK(tq_graph_set_io(g, &x, 1, &y, 1));
    TQ_EXPECT_STATUS(tq_graph_finalize(g), TFMQ_ERR_INVALID_ARG);
    TQ_EXPECT_STR_CONTAINS(tfmq_last_error(), "ghost");
    TQ_EXPECT_STR_CONTAINS(tfmq_last_error(), "adder");
    fx_done(&f);

    /* a graph output nobody produces */
    fx_init(&f);
    g = f.g;
    x = val(g, "X");
    y = val(g, "Y");
    int32_t orphan = val(g, "orphan_out");
    node1(g, TQ_OP_RELU, "r", 1, &x, y);
    TQ_EXPECT_OK(tq_graph_set_io(g, &x, 1, (int32_t[]){y, orphan}, 2));
    TQ_EXPECT_STATUS(tq_graph_finalize(g), TFMQ_ERR_INVALID_ARG);
    TQ_EXPECT_STR_CONTAINS(tfmq_last_error(), "orphan_out");
    fx_done(&f);

    /* an out-of-range value index is an internal error, not a crash */
    fx_init(&f);
    g = f.g;
    x = val(g, "X");
    y = val(g, "Y");
    node1(g, TQ_OP_RELU, "r", 1, (int32_t[]){77}, y);
    TQ_EXPECT_OK(tq_graph_set_io(g, &x, 1, &y, 1));
    TQ_EXPECT_STATUS(tq_graph_finalize(g), TFMQ_ERR_INTERNAL);
    fx_done(&f);
}

static void test_cycle(tq_rng *rng)
{
    (void)rng;
    fixture f;
    fx_init(&f);
    tq_graph *g = f.g;
    int32_t x = val(g, "X"), a = val(g, "a"), b = val(g, "b"), y = val(g, "Y");
    node1(g, TQ_OP_ADD, "first", 2, (int32_t[]){x, b}, a); /* a = x + b */
    node1(g, TQ_OP_RELU, "second", 1, &a, b);              /* b = relu(a) */
    node1(g, TQ_OP_NEG, "out", 1, &b, y);
    TQ_EXPECT_OK(tq_graph_set_io(g, &x, 1, &y, 1));
    TQ_EXPECT_STATUS(tq_graph_finalize(g), TFMQ_ERR_INVALID_ARG);
    TQ_EXPECT_STR_CONTAINS(tfmq_last_error(), "cycle");
    fx_done(&f);

    /* a node that consumes its own output */
    fx_init(&f);
    g = f.g;
    x = val(g, "X");
    a = val(g, "a");
    node1(g, TQ_OP_ADD, "self", 2, (int32_t[]){x, a}, a);
    TQ_EXPECT_OK(tq_graph_set_io(g, &x, 1, &a, 1));
    TQ_EXPECT_STATUS(tq_graph_finalize(g), TFMQ_ERR_INVALID_ARG);
    TQ_EXPECT_STR_CONTAINS(tfmq_last_error(), "cycle");
    fx_done(&f);
}

static void test_duplicate_producer(tq_rng *rng)
{
    (void)rng;
    fixture f;
    fx_init(&f);
    tq_graph *g = f.g;
    int32_t x = val(g, "X"), y = val(g, "dup");
    node1(g, TQ_OP_RELU, "p1", 1, &x, y);
    node1(g, TQ_OP_NEG, "p2", 1, &x, y);
    TQ_EXPECT_OK(tq_graph_set_io(g, &x, 1, &y, 1));
    TQ_EXPECT_STATUS(tq_graph_finalize(g), TFMQ_ERR_INVALID_ARG);
    TQ_EXPECT_STR_CONTAINS(tfmq_last_error(), "dup");
    TQ_EXPECT_STR_CONTAINS(tfmq_last_error(), "p2");
    fx_done(&f);

    /* a node writing a graph input, and one writing a constant */
    fx_init(&f);
    g = f.g;
    x = val(g, "X");
    int32_t w = val(g, "W"), y2 = val(g, "Y");
    g->values[w].flags |= TQ_VALUE_CONST;
    node1(g, TQ_OP_RELU, "overwrite_input", 1, &w, x);
    node1(g, TQ_OP_RELU, "r", 1, &x, y2);
    TQ_EXPECT_OK(tq_graph_set_io(g, &x, 1, &y2, 1));
    TQ_EXPECT_STATUS(tq_graph_finalize(g), TFMQ_ERR_INVALID_ARG);
    TQ_EXPECT_STR_CONTAINS(tfmq_last_error(), "overwrite_input");
    fx_done(&f);

    fx_init(&f);
    g = f.g;
    x = val(g, "X");
    w = val(g, "W");
    g->values[w].flags |= TQ_VALUE_CONST;
    node1(g, TQ_OP_RELU, "overwrite_const", 1, &x, w);
    TQ_EXPECT_OK(tq_graph_set_io(g, &x, 1, &w, 1));
    TQ_EXPECT_STATUS(tq_graph_finalize(g), TFMQ_ERR_INVALID_ARG);
    TQ_EXPECT_STR_CONTAINS(tfmq_last_error(), "'W'");
    fx_done(&f);
}

static void test_arity(tq_rng *rng)
{
    (void)rng;
    fixture f;
    fx_init(&f);
    tq_graph *g = f.g;
    int32_t x = val(g, "X"), y = val(g, "Y");
    node1(g, TQ_OP_RELU, "two_in_relu", 2, (int32_t[]){x, x}, y);
    TQ_EXPECT_OK(tq_graph_set_io(g, &x, 1, &y, 1));
    TQ_EXPECT_STATUS(tq_graph_finalize(g), TFMQ_ERR_INVALID_ARG);
    TQ_EXPECT_STR_CONTAINS(tfmq_last_error(), "two_in_relu");
    TQ_EXPECT_STR_CONTAINS(tfmq_last_error(), "Relu");
    fx_done(&f);

    /* absent optional inputs (-1) are fine: Clip(x, <absent>, max) */
    fx_init(&f);
    g = f.g;
    x = val(g, "X");
    int32_t mx = val(g, "max");
    y = val(g, "Y");
    g->values[mx].flags |= TQ_VALUE_CONST;
    node1(g, TQ_OP_CLIP, "clip", 3, (int32_t[]){x, -1, mx}, y);
    TQ_EXPECT_OK(tq_graph_set_io(g, &x, 1, &y, 1));
    TQ_EXPECT_OK(tq_graph_finalize(g));
    fx_done(&f);

    /* unnamed nodes are labelled by op and index */
    fx_init(&f);
    g = f.g;
    x = val(g, "X");
    y = val(g, "Y");
    node1(g, TQ_OP_SIGMOID, "", 3, (int32_t[]){x, x, x}, y);
    TQ_EXPECT_OK(tq_graph_set_io(g, &x, 1, &y, 1));
    TQ_EXPECT_STATUS(tq_graph_finalize(g), TFMQ_ERR_INVALID_ARG);
    TQ_EXPECT_STR_CONTAINS(tfmq_last_error(), "Sigmoid#0");
    fx_done(&f);

    /* too many inputs for any node is refused at add time */
    fx_init(&f);
    int32_t idx = 5;
    TQ_EXPECT_STATUS(tq_graph_add_node(f.g, TQ_OP_SUM, "huge", TQ_MAX_IO + 1, 1, 0, &idx),
                     TFMQ_ERR_UNSUPPORTED);
    TQ_EXPECT_STATUS(tq_graph_add_node(f.g, TQ_OP_SUM, "neg", -1, 1, 0, &idx),
                     TFMQ_ERR_UNSUPPORTED);
    fx_done(&f);
}

static void test_attributes(tq_rng *rng)
{
    (void)rng;
    fixture f;
    fx_init(&f);
    tq_graph *g = f.g;
    int32_t x = val(g, "X"), y = val(g, "Y"), idx = -1;
    TQ_EXPECT_OK(tq_graph_add_node(g, TQ_OP_LEAKY_RELU, "lrelu", 1, 1, 5, &idx));
    if (idx < 0) {
        fx_done(&f);
        return;
    }
    tq_node *n = &g->nodes[idx];
    n->in[0] = x;
    n->out[0] = y;
    static const int64_t ints[] = {1, 2, 3};
    static const float floats[] = {0.5f, 0.25f};
    n->attrs[0] = (tq_attr){.name = "alpha", .type = TQ_ATTR_FLOAT, .f = 0.125f};
    n->attrs[1] = (tq_attr){.name = "axis", .type = TQ_ATTR_INT, .i = -2};
    n->attrs[2] = (tq_attr){.name = "mode", .type = TQ_ATTR_STRING, .s = "constant"};
    n->attrs[3] = (tq_attr){.name = "pads", .type = TQ_ATTR_INTS, .ints = ints, .n = 3};
    n->attrs[4] = (tq_attr){.name = "scales", .type = TQ_ATTR_FLOATS, .floats = floats, .n = 2};

    float fv = 0;
    int64_t iv = 0;
    const char *sv = NULL;
    const int64_t *iarr = NULL;
    const float *farr = NULL;
    size_t cnt = 99;
    TQ_EXPECT_OK(tq_attr_float(n, "alpha", 1.0f, &fv));
    TQ_CHECK(fv == 0.125f);
    TQ_EXPECT_OK(tq_attr_int(n, "axis", 0, &iv));
    TQ_EXPECT_EQ_I64(iv, -2);
    TQ_EXPECT_OK(tq_attr_string(n, "mode", "x", &sv));
    TQ_EXPECT_STR_EQ(sv, "constant");
    TQ_EXPECT_OK(tq_attr_ints(n, "pads", &iarr, &cnt));
    TQ_CHECK(cnt == 3 && iarr && iarr[2] == 3);
    TQ_EXPECT_OK(tq_attr_floats(n, "scales", &farr, &cnt));
    TQ_CHECK(cnt == 2 && farr && farr[1] == 0.25f);
    TQ_CHECK(tq_node_attr(n, "pads") == &n->attrs[3]);
    TQ_CHECK(tq_node_attr(n, "missing") == NULL);

    /* missing: defaults */
    TQ_EXPECT_OK(tq_attr_int(n, "missing", 7, &iv));
    TQ_EXPECT_EQ_I64(iv, 7);
    TQ_EXPECT_OK(tq_attr_float(n, "missing", 2.5f, &fv));
    TQ_CHECK(fv == 2.5f);
    TQ_EXPECT_OK(tq_attr_string(n, "missing", "dflt", &sv));
    TQ_EXPECT_STR_EQ(sv, "dflt");
    TQ_EXPECT_OK(tq_attr_ints(n, "missing", &iarr, &cnt));
    TQ_CHECK(iarr == NULL && cnt == 0);
    TQ_EXPECT_OK(tq_attr_floats(n, "missing", &farr, &cnt));
    TQ_CHECK(farr == NULL && cnt == 0);

    /* an int where a float is expected is accepted (exporters do this) */
    TQ_EXPECT_OK(tq_attr_float(n, "axis", 0.0f, &fv));
    TQ_CHECK(fv == -2.0f);

    /* type errors name the node, op and attribute */
    TQ_EXPECT_STATUS(tq_attr_int(n, "alpha", 0, &iv), TFMQ_ERR_INVALID_ARG);
    TQ_EXPECT_STR_CONTAINS(tfmq_last_error(), "lrelu");
    TQ_EXPECT_STR_CONTAINS(tfmq_last_error(), "LeakyRelu");
    TQ_EXPECT_STR_CONTAINS(tfmq_last_error(), "'alpha'");
    TQ_EXPECT_STATUS(tq_attr_float(n, "mode", 0.0f, &fv), TFMQ_ERR_INVALID_ARG);
    TQ_EXPECT_STR_CONTAINS(tfmq_last_error(), "'mode'");
    TQ_EXPECT_STATUS(tq_attr_string(n, "pads", NULL, &sv), TFMQ_ERR_INVALID_ARG);
    TQ_EXPECT_STATUS(tq_attr_ints(n, "axis", &iarr, &cnt), TFMQ_ERR_INVALID_ARG);
    TQ_EXPECT_STATUS(tq_attr_ints(n, "scales", &iarr, &cnt), TFMQ_ERR_INVALID_ARG);
    TQ_EXPECT_STATUS(tq_attr_floats(n, "pads", &farr, &cnt), TFMQ_ERR_INVALID_ARG);
    TQ_EXPECT_STR_CONTAINS(tfmq_last_error(), "'pads'");
    fx_done(&f);
}

static void test_tensor_helpers(tq_rng *rng)
{
    (void)rng;
    tq_tensor t = {.dtype = TFMQ_DTYPE_FLOAT32, .rank = 4, .dims = {1, 3, 224, 224}};
    size_t bytes = 0;
    char buf[64];
    TQ_EXPECT_EQ_U64(tq_tensor_numel(&t), 150528);
    TQ_CHECK(tq_tensor_shape_known(&t));
    TQ_CHECK(tq_tensor_bytes(&t, &bytes) && bytes == 602112);
    TQ_EXPECT_STR_EQ(tq_shape_str(&t, buf, sizeof(buf)), "[1,3,224,224]");
    t.dims[0] = -1;
    TQ_CHECK(!tq_tensor_shape_known(&t));
    TQ_CHECK(!tq_tensor_bytes(&t, &bytes));
    TQ_EXPECT_STR_EQ(tq_shape_str(&t, buf, sizeof(buf)), "[?,3,224,224]");
    tq_tensor s = {.dtype = TFMQ_DTYPE_INT64, .rank = 0};
    TQ_EXPECT_EQ_U64(tq_tensor_numel(&s), 1);
    TQ_CHECK(tq_tensor_bytes(&s, &bytes) && bytes == 8);
    TQ_EXPECT_STR_EQ(tq_shape_str(&s, buf, sizeof(buf)), "[]");
    s.rank = -1;
    TQ_EXPECT_STR_EQ(tq_shape_str(&s, buf, sizeof(buf)), "[?]");
    /* too large / overflowing sizes */
    tq_tensor big = {.dtype = TFMQ_DTYPE_FLOAT32, .rank = 2, .dims = {1000000, 1000000}};
    TQ_CHECK(!tq_tensor_bytes(&big, &bytes)); /* 4 TB > TQ_MAX_TENSOR_BYTES */
    tq_tensor ovf = {
        .dtype = TFMQ_DTYPE_FLOAT64, .rank = 3, .dims = {(int64_t)1 << 62, (int64_t)1 << 62, 4}};
    TQ_CHECK(!tq_tensor_bytes(&ovf, &bytes));
    tq_tensor str = {.dtype = TFMQ_DTYPE_STRING, .rank = 1, .dims = {3}};
    TQ_CHECK(!tq_tensor_bytes(&str, &bytes));
    tq_tensor empty = {.dtype = TFMQ_DTYPE_FLOAT32, .rank = 2, .dims = {0, 5}};
    TQ_CHECK(tq_tensor_bytes(&empty, &bytes) && bytes == 0);
    /* a tiny buffer is never overrun */
    char tiny[4];
    tq_shape_str(&t, tiny, sizeof(tiny));
    TQ_CHECK(strlen(tiny) < sizeof(tiny));
}

static void test_op_table(tq_rng *rng)
{
    (void)rng;
    uint32_t op = 0;
    TQ_CHECK(tq_op_from_name("Conv", &op) && op == TQ_OP_CONV);
    TQ_CHECK(tq_op_from_name("Relu", &op) && op == TQ_OP_RELU);
    TQ_CHECK(!tq_op_from_name("relu", &op)); /* case matters in ONNX */
    TQ_CHECK(!tq_op_from_name("NoSuchOp", &op));
    TQ_CHECK(!tq_op_from_name("", &op));
    for (uint32_t i = 0; i < TQ_OP_COUNT_; i++) {
        const tq_op_info *oi = &tq_op_table[i];
        TQ_EXPECT(oi->name && oi->name[0], "op %u has no name", i);
        TQ_EXPECT(oi->in_min <= oi->in_max && oi->out_min <= oi->out_max &&
                      oi->in_max <= TQ_MAX_IO && oi->out_max <= TQ_MAX_IO,
                  "op %s arity", oi->name);
        TQ_EXPECT(tq_infer_table[i] && tq_ref_table[i], "op %s has no functions", oi->name);
        uint32_t back = 0;
        bool internal = strncmp(oi->name, "tfmq.", 5) == 0;
        TQ_EXPECT(tq_op_from_name_internal(oi->name, &back) && back == i,
                  "op %s not found by name", oi->name);
        /* internal ops (fused, integer) must never be accepted from a model file */
        TQ_EXPECT(tq_op_from_name(oi->name, &back) == !internal, "op %s: file lookup %s",
                  oi->name, internal ? "accepts an internal op" : "fails");
        for (uint32_t j = 0; j < i; j++) {
            TQ_EXPECT(strcmp(tq_op_table[j].name, oi->name) != 0, "op %s listed twice", oi->name);
        }
    }
}

static void test_subgraphs(tq_rng *rng)
{
    (void)rng;
    fixture f;
    fx_init(&f);
    tq_graph *g = f.g, *cur = f.g;
    for (int d = 1; d <= TQ_MAX_GRAPH_DEPTH; d++) {
        tq_graph *sub = NULL;
        TQ_EXPECT_OK(tq_graph_create_sub(cur, "body", &sub));
        if (!sub) {
            break;
        }
        TQ_EXPECT_EQ_I64(sub->depth, d);
        TQ_CHECK(sub->parent == cur);
        cur = sub;
    }
    tq_graph *too_deep = (tq_graph *)1;
    TQ_EXPECT_STATUS(tq_graph_create_sub(cur, "deep", &too_deep), TFMQ_ERR_UNSUPPORTED);
    TQ_CHECK(too_deep == NULL);
    TQ_EXPECT_STR_CONTAINS(tfmq_last_error(), "deep");

    /* an invalid subgraph fails the parent's finalize */
    tq_graph *body = NULL;
    TQ_EXPECT_OK(tq_graph_create_sub(g, "bad_body", &body));
    if (body) {
        int32_t bx = val(body, "bx"), by = val(body, "by"), ghost = val(body, "ghost");
        node1(body, TQ_OP_ADD, "inner", 2, (int32_t[]){bx, ghost}, by);
        TQ_EXPECT_OK(tq_graph_set_io(body, &bx, 1, &by, 1));
    }
    TQ_EXPECT_STATUS(tq_graph_finalize(g), TFMQ_ERR_INVALID_ARG);
    TQ_EXPECT_STR_CONTAINS(tfmq_last_error(), "ghost");
    fx_done(&f); /* subgraphs are freed with the parent */
}

/* Build (and finalize) a graph large enough to grow every array; returns the first error. */
static tfmq_status build_chain(const tfmq_allocator *alloc, tq_arena *arena, int n_nodes)
{
    tq_graph *g = NULL;
    tfmq_status st;
    char name[32];
    TQ_TRY(st, tq_graph_create(arena, alloc, &g));
    int32_t prev = -1, idx = -1;
    TQ_TRY(st, tq_graph_add_value(g, "X", &prev));
    int32_t x = prev;
    for (int i = 0; i < n_nodes; i++) {
        int32_t v = -1;
        snprintf(name, sizeof(name), "v%d", i);
        TQ_TRY(st, tq_graph_add_value(g, name, &v));
        TQ_TRY(st, tq_graph_add_node(g, TQ_OP_RELU, name, 1, 1, 0, &idx));
        g->nodes[idx].in[0] = prev;
        g->nodes[idx].out[0] = v;
        prev = v;
        if (!tq_graph_alloc_data(g, 16)) {
            st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "data");
            goto fail;
        }
    }
    tq_graph *sub = NULL;
    TQ_TRY(st, tq_graph_create_sub(g, "sub", &sub));
    TQ_TRY(st, tq_graph_set_io(g, &x, 1, &prev, 1));
    TQ_TRY(st, tq_graph_finalize(g));
fail:
    tq_graph_destroy(g);
    return st;
}

static void test_oom_torture(tq_rng *rng)
{
    (void)rng;
    tq_test_counting_alloc cnt;
    memset(&cnt, 0, sizeof(cnt));
    tfmq_allocator a = {&cnt, tq_test_counting_alloc_fn, tq_test_counting_free_fn};
    /* count the allocations of a successful build first */
    tq_arena arena;
    tq_arena_init(&arena, &a);
    tq_alloc_test_set_fail_at(0);
    TQ_EXPECT_OK(build_chain(&a, &arena, 200));
    uint64_t n_allocs = tq_alloc_test_count();
    tq_arena_free(&arena);
    TQ_EXPECT_EQ_I64(atomic_load(&cnt.n_live), 0);
    TQ_CHECK(n_allocs > 10);
    for (uint64_t k = 1; k <= n_allocs; k++) {
        tq_arena_init(&arena, &a);
        tq_alloc_test_set_fail_at(k);
        tfmq_status st = build_chain(&a, &arena, 200);
        tq_alloc_test_set_fail_at(0);
        tq_arena_free(&arena);
        TQ_EXPECT(st == TFMQ_ERR_OUT_OF_MEMORY, "failing allocation %llu of %llu: status %d",
                  (unsigned long long)k, (unsigned long long)n_allocs, (int)st);
        long long live = atomic_load(&cnt.n_live), bytes = atomic_load(&cnt.bytes_live);
        TQ_EXPECT(live == 0 && bytes == 0,
                  "failing allocation %llu: %lld blocks / %lld bytes not returned",
                  (unsigned long long)k, live, bytes);
        atomic_store(&cnt.n_live, 0);
        atomic_store(&cnt.bytes_live, 0);
    }
}

int main(int argc, char **argv)
{
    tq_test_begin(argc, argv);
    TQ_RUN(test_build_and_finalize);
    TQ_RUN(test_topological_sort);
    TQ_RUN(test_dangling_reference);
    TQ_RUN(test_cycle);
    TQ_RUN(test_duplicate_producer);
    TQ_RUN(test_arity);
    TQ_RUN(test_attributes);
    TQ_RUN(test_tensor_helpers);
    TQ_RUN(test_op_table);
    TQ_RUN(test_subgraphs);
    TQ_RUN(test_oom_torture);
    return tq_test_end();
}
