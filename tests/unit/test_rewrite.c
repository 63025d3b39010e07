/* test_rewrite.c: the graph rewriting utilities of src/ir/rewrite.c on small hand-built graphs:
 * deep clone (shared constant data, copied attributes and subgraphs), new constants and unique
 * names, use counts (subgraph outer uses included), replacing uses, node removal and compaction
 * (renumbering, freeing unreferenced constant blocks), all under a counting allocator that must
 * end balanced, plus an OOM loop over clone + compact. */
#include <string.h>

#include "harness.h"
#include "ir/rewrite.h"

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

static int32_t node1(tq_graph *g, uint32_t op, int32_t n_in, const int32_t *ins, int32_t out,
                     int32_t n_attrs)
{
    int32_t idx = -1;
    TQ_EXPECT_OK(tq_graph_add_node(g, op, "", n_in, 1, n_attrs, &idx));
    for (int32_t k = 0; k < n_in; k++) {
        g->nodes[idx].in[k] = ins[k];
    }
    g->nodes[idx].out[0] = out;
    return idx;
}

/* X -> Relu -> r; r + W -> y; y * W -> z (output); If(cond) whose branch uses r as outer value.
 * Returns the If subgraph. */
static tq_graph *build(tq_graph *g)
{
    int32_t x = val(g, "X"), r = val(g, "r"), y = val(g, "y"), z = val(g, "z"), w = -1;
    float wd[3] = {1.0f, 2.0f, 3.0f};
    int64_t dims[1] = {3};
    TQ_EXPECT_OK(tq_graph_add_const(g, "W", TFMQ_DTYPE_FLOAT32, 1, dims, wd, &w));
    int32_t cond = -1;
    uint8_t one = 1;
    TQ_EXPECT_OK(tq_graph_add_const(g, "cond", TFMQ_DTYPE_BOOL, 0, NULL, &one, &cond));
    int32_t io = val(g, "io");
    node1(g, TQ_OP_RELU, 1, &x, r, 0);
    node1(g, TQ_OP_ADD, 2, (int32_t[]){r, w}, y, 0);
    node1(g, TQ_OP_MUL, 2, (int32_t[]){y, w}, z, 0);
    int32_t ni = node1(g, TQ_OP_IF, 1, &cond, io, 3);
    tq_graph *then_g = NULL, *else_g = NULL;
    TQ_EXPECT_OK(tq_graph_create_sub(g, "then", &then_g));
    TQ_EXPECT_OK(tq_graph_create_sub(g, "else", &else_g));
    tq_attr *a = g->nodes[ni].attrs;
    a[0] = (tq_attr){.name = "then_branch", .type = TQ_ATTR_GRAPH, .graph = then_g};
    a[1] = (tq_attr){.name = "else_branch", .type = TQ_ATTR_GRAPH, .graph = else_g};
    static const int64_t ints[2] = {4, 5};
    a[2] = (tq_attr){.name = "dummy", .type = TQ_ATTR_INTS, .ints = ints, .n = 2};
    int32_t ro = val(then_g, "r"), to = val(then_g, "t");
    then_g->values[ro].flags |= TQ_VALUE_OUTER;
    node1(then_g, TQ_OP_NEG, 1, &ro, to, 0);
    TQ_EXPECT_OK(tq_graph_set_io(then_g, NULL, 0, &to, 1));
    int32_t xo = val(else_g, "X"), eo = val(else_g, "e");
    else_g->values[xo].flags |= TQ_VALUE_OUTER;
    node1(else_g, TQ_OP_NEG, 1, &xo, eo, 0);
    TQ_EXPECT_OK(tq_graph_set_io(else_g, NULL, 0, &eo, 1));
    TQ_EXPECT_OK(tq_graph_set_io(g, &x, 1, (int32_t[]){z, io}, 2));
    TQ_EXPECT_OK(tq_graph_finalize(g));
    return then_g;
}

static void test_clone(tq_rng *rng)
{
    (void)rng;
    fixture f;
    fx_init(&f);
    tq_graph *g = f.g;
    build(g);
    tq_arena ar2;
    tq_arena_init(&ar2, &f.alloc);
    tq_graph *c = NULL;
    TQ_EXPECT_OK(tq_graph_clone(g, &ar2, &f.alloc, &c));
    if (c) {
        TQ_EXPECT_EQ_I64(c->n_values, g->n_values);
        TQ_EXPECT_EQ_I64(c->n_nodes, g->n_nodes);
        TQ_EXPECT_EQ_I64(c->n_outputs, 2);
        for (size_t v = 0; v < g->n_values; v++) {
            TQ_EXPECT_STR_EQ(c->values[v].name, g->values[v].name);
            TQ_CHECK(c->values[v].name != g->values[v].name);
            TQ_CHECK(c->values[v].t.data == g->values[v].t.data); /* shared */
            TQ_EXPECT_EQ_I64(c->values[v].flags, g->values[v].flags);
        }
        int32_t ifn = -1;
        for (size_t i = 0; i < c->n_nodes; i++) {
            if (c->nodes[i].op == TQ_OP_IF) {
                ifn = (int32_t)i;
            }
        }
        TQ_CHECK(ifn >= 0);
        if (ifn >= 0) {
            const tq_attr *a = tq_node_attr(&c->nodes[ifn], "then_branch");
            TQ_CHECK(a && a->graph && a->graph->parent == c && a->graph->n_nodes == 1);
            const tq_attr *d = tq_node_attr(&c->nodes[ifn], "dummy");
            TQ_CHECK(d && d->n == 2 && d->ints[1] == 5);
        }
        TQ_EXPECT_EQ_I64(c->n_blocks, 0); /* owns no data */
        TQ_EXPECT_OK(tq_graph_finalize(c));
        tq_graph_destroy(c);
    }
    tq_arena_free(&ar2);
    fx_done(&f);
}

static void test_names_consts_uses(tq_rng *rng)
{
    (void)rng;
    fixture f;
    fx_init(&f);
    tq_graph *g = f.g;
    build(g);
    TQ_EXPECT_STR_EQ(tq_graph_unique_name(g, "fresh"), "fresh");
    TQ_EXPECT_STR_EQ(tq_graph_unique_name(g, "W"), "W_1");
    int32_t w = tq_graph_find_value(g, "W"), r = tq_graph_find_value(g, "r");
    int32_t y = tq_graph_find_value(g, "y"), z = tq_graph_find_value(g, "z");
    int32_t x = tq_graph_find_value(g, "X");
    int32_t w2 = -1;
    float d2[3] = {7, 8, 9};
    int64_t dims[1] = {3};
    TQ_EXPECT_OK(tq_graph_add_const(g, "W", TFMQ_DTYPE_FLOAT32, 1, dims, d2, &w2));
    TQ_EXPECT_STR_EQ(g->values[w2].name, "W_1");
    TQ_CHECK(((float *)g->values[w2].t.data)[2] == 9.0f && g->values[w2].data_bytes == 12);
    TQ_CHECK(g->values[w2].flags & TQ_VALUE_CONST);
    TQ_EXPECT_EQ_I64(tq_value_n_uses(g, w), 2);
    TQ_EXPECT_EQ_I64(tq_value_n_uses(g, r), 2); /* Add + the then-branch's outer value */
    TQ_EXPECT_EQ_I64(tq_value_n_uses(g, x), 2); /* Relu + the else-branch */
    TQ_EXPECT_EQ_I64(tq_value_n_uses(g, z), 1); /* graph output */
    TQ_CHECK(tq_value_used_by_subgraph(g, r) && !tq_value_used_by_subgraph(g, y));
    TQ_CHECK(tq_value_is_graph_output(g, z) && !tq_value_is_graph_output(g, y));
    tq_graph_replace_uses(g, w, w2);
    TQ_EXPECT_EQ_I64(tq_value_n_uses(g, w), 0);
    TQ_EXPECT_EQ_I64(tq_value_n_uses(g, w2), 2);
    TQ_EXPECT_EQ_I64(tq_value_producer(g, y), g->values[y].producer);
    size_t blocks = g->n_blocks;
    TQ_EXPECT_OK(tq_graph_compact(g)); /* W unused now: dropped, its block freed */
    TQ_EXPECT_EQ_I64(tq_graph_find_value(g, "W"), -1);
    TQ_EXPECT_EQ_I64(g->n_blocks, blocks - 1);
    fx_done(&f);
}

static void test_remove_compact(tq_rng *rng)
{
    (void)rng;
    fixture f;
    fx_init(&f);
    tq_graph *g = f.g;
    build(g);
    /* bypass the Add: Mul reads r directly */
    int32_t y = tq_graph_find_value(g, "y"), r = tq_graph_find_value(g, "r");
    int32_t add = g->values[y].producer;
    tq_graph_replace_uses(g, y, r);
    tq_graph_remove_node(g, add);
    TQ_CHECK(tq_node_is_dead(&g->nodes[add]));
    TQ_EXPECT_EQ_I64(tq_value_producer(g, y), -1);
    size_t nv = g->n_values;
    TQ_EXPECT_OK(tq_graph_compact(g));
    TQ_EXPECT_EQ_I64(g->n_nodes, 3);
    TQ_EXPECT_EQ_I64(g->n_values, nv - 1);
    TQ_EXPECT_EQ_I64(tq_graph_find_value(g, "y"), -1);
    int32_t z = tq_graph_find_value(g, "z");
    TQ_CHECK(z >= 0 && g->outputs[0] == z && (g->values[z].flags & TQ_VALUE_OUTPUT));
    int32_t mul = g->values[z].producer;
    TQ_CHECK(mul >= 0 && g->nodes[mul].in[0] == tq_graph_find_value(g, "r"));
    /* r is kept even after its node uses go: the then-branch refers to it */
    int32_t relu = g->values[tq_graph_find_value(g, "r")].producer;
    TQ_CHECK(relu >= 0 && g->nodes[relu].op == TQ_OP_RELU);
    fx_done(&f);
}

/* Every allocation failure in clone + compact is TFMQ_ERR_OUT_OF_MEMORY, with no leaks. */
static void test_oom(tq_rng *rng)
{
    (void)rng;
    fixture f;
    fx_init(&f);
    build(f.g);
    bool finished = false;
    for (uint64_t n = 1; n < 500 && !finished; n++) {
        tq_arena ar2;
        tq_arena_init(&ar2, &f.alloc);
        tq_graph *c = NULL;
        tq_alloc_test_set_fail_at(n);
        tfmq_status st = tq_graph_clone(f.g, &ar2, &f.alloc, &c);
        if (st == TFMQ_OK) {
            int32_t v;
            st = tq_graph_add_const(c, "k", TFMQ_DTYPE_FLOAT32, 0, NULL, NULL, &v);
            if (st == TFMQ_OK) {
                st = tq_graph_compact(c);
            }
            finished = st == TFMQ_OK;
        }
        tq_alloc_test_set_fail_at(0);
        TQ_EXPECT(st == TFMQ_OK || st == TFMQ_ERR_OUT_OF_MEMORY, "n=%llu st=%d %s",
                  (unsigned long long)n, (int)st, tfmq_last_error());
        tq_graph_destroy(c);
        tq_arena_free(&ar2);
    }
    TQ_CHECK(finished);
    fx_done(&f);
}

int main(int argc, char **argv)
{
    tq_test_begin(argc, argv);
    TQ_RUN(test_clone);
    TQ_RUN(test_names_consts_uses);
    TQ_RUN(test_remove_compact);
    TQ_RUN(test_oom);
    return tq_test_end();
}
