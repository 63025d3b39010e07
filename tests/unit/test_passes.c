/* test_passes.c: the graph passes (src/passes/) on small hand-built graphs and on real models.
 * Each test builds a graph, clones it, runs a pass on the clone, checks the nodes it should have
 * changed, and compares the outputs of both graphs on random inputs with the executor
 * (relative L2 error <= 1e-5). Real models (resnet20 from ../shared, the bundled Fashion-MNIST
 * CNN) run "default" and must get fewer nodes with the same outputs. */
#include <math.h>
#include <string.h>

#include "harness.h"
#include "ir/rewrite.h"
#include "passes/pass.h"
#include "runtime/compile.h"
#include "runtime/exec.h"
#include "runtime/model.h"

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
    f->g->opset = 17;
}

static void fx_done(fixture *f)
{
    tq_graph_destroy(f->g);
    tq_arena_free(&f->arena);
    TQ_EXPECT_EQ_I64(atomic_load(&f->cnt.n_live), 0);
    TQ_EXPECT_EQ_I64(atomic_load(&f->cnt.bytes_live), 0);
}

static int32_t input(tq_graph *g, const char *name, int32_t rank, const int64_t *dims)
{
    int32_t v = -1;
    TQ_EXPECT_OK(tq_graph_add_value(g, name, &v));
    g->values[v].t.dtype = TFMQ_DTYPE_FLOAT32;
    g->values[v].t.rank = rank;
    for (int32_t i = 0; i < rank; i++) {
        g->values[v].t.dims[i] = dims[i];
    }
    return v;
}

static int32_t cnst(tq_graph *g, tq_rng *rng, const char *name, int32_t rank, const int64_t *dims,
                    float lo, float hi)
{
    int32_t v = -1;
    TQ_EXPECT_OK(tq_graph_add_const(g, name, TFMQ_DTYPE_FLOAT32, rank, dims, NULL, &v));
    if (v >= 0) {
        float *d = g->values[v].t.data;
        tq_test_fill_uniform(rng, d, tq_tensor_numel(&g->values[v].t), lo, hi);
    }
    return v;
}

static int32_t val(tq_graph *g, const char *name)
{
    int32_t v = -1;
    TQ_EXPECT_OK(tq_graph_add_value(g, name, &v));
    return v;
}

static int32_t node(tq_graph *g, uint32_t op, int32_t n_in, const int32_t *ins, int32_t out,
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

static void attr_ints(tq_graph *g, int32_t ni, int32_t slot, const char *name, const int64_t *v,
                      size_t n)
{
    int64_t *a = tq_arena_alloc(g->arena, n * sizeof(int64_t));
    memcpy(a, v, n * sizeof(int64_t));
    tq_attr *at = &g->nodes[ni].attrs[slot];
    at->name = name;
    at->type = TQ_ATTR_INTS;
    at->ints = a;
    at->n = n;
}

static void attr_int(tq_graph *g, int32_t ni, int32_t slot, const char *name, int64_t v)
{
    tq_attr *at = &g->nodes[ni].attrs[slot];
    at->name = name;
    at->type = TQ_ATTR_INT;
    at->i = v;
}

static size_t count_op(const tq_graph *g, uint32_t op)
{
    size_t n = 0;
    for (size_t i = 0; i < g->n_nodes; i++) {
        n += g->nodes[i].op == op;
    }
    return n;
}

/* Run g on inputs of `shapes` (random data from the seed) and return the first output, copied
 * into a test block (NULL on failure); *n_out elements. */
static float *run_graph(const tq_graph *g, const tq_tensor *shapes, uint64_t seed, size_t *n_out)
{
    tq_exec *e = NULL;
    tq_tensor ins[8];
    float *out = NULL;
    tq_rng rng = {seed};
    *n_out = 0;
    if (g->n_inputs > 8) {
        return NULL;
    }
    for (size_t i = 0; i < g->n_inputs; i++) {
        ins[i] = shapes[i];
        size_t n = tq_tensor_numel(&shapes[i]);
        float *d = tq_test_alloc_f32(n);
        tq_test_fill_uniform(&rng, d, n, -1.0f, 1.0f);
        ins[i].data = d;
    }
    tfmq_status st = tq_exec_create(g, g->alloc, NULL, &e);
    if (st == TFMQ_OK) {
        st = tq_exec_plan(e, shapes, false);
    }
    if (st == TFMQ_OK) {
        st = tq_exec_run(e, ins);
    }
    TQ_EXPECT(st == TFMQ_OK, "exec: %s", tfmq_last_error());
    if (st == TFMQ_OK) {
        const tq_tensor *y = tq_exec_value(e, g->outputs[0]);
        size_t n = tq_tensor_numel(y);
        out = tq_test_alloc_f32(n);
        memcpy(out, y->data, n * sizeof(float));
        *n_out = n;
    }
    tq_exec_destroy(e);
    return out;
}

static double rel_l2(const float *a, const float *b, size_t n)
{
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        num += d * d;
        den += (double)b[i] * (double)b[i];
    }
    return den > 0.0 ? sqrt(num / den) : sqrt(num);
}

/* Clone g, run `passes` on the clone, compare outputs; returns the clone (in arena `ar`) for
 * structural checks, or NULL. */
static tq_graph *check_pass(const tq_graph *g, tq_arena *ar, const char *passes,
                            const tq_tensor *shapes, double tol)
{
    tq_graph *c = NULL;
    TQ_EXPECT_OK(tq_graph_clone(g, ar, g->alloc, &c));
    if (!c) {
        return NULL;
    }
    tfmq_status st = tq_pass_run(c, passes);
    TQ_EXPECT(st == TFMQ_OK, "%s: %s", passes, tfmq_last_error());
    size_t n1 = 0, n2 = 0;
    float *y1 = run_graph(g, shapes, 1234, &n1);
    float *y2 = run_graph(c, shapes, 1234, &n2);
    TQ_EXPECT(y1 && y2 && n1 == n2 && n1 > 0, "outputs %zu %zu", n1, n2);
    if (y1 && y2 && n1 == n2) {
        double e = rel_l2(y2, y1, n1);
        printf("  %s: %zu outputs, relative L2 error %.3g\n", passes, n1, e);
        TQ_EXPECT(e <= tol, "%s: relative L2 error %.3g > %.3g", passes, e, tol);
    }
    return c;
}

static void shape_of(tq_tensor *t, int32_t rank, const int64_t *dims)
{
    memset(t, 0, sizeof(*t));
    t->dtype = TFMQ_DTYPE_FLOAT32;
    t->rank = rank;
    for (int32_t i = 0; i < rank; i++) {
        t->dims[i] = dims[i];
    }
}

/* X + (A * B) with A, B constant: the Mul folds, the Add stays. */
static void test_fold_constants(tq_rng *rng)
{
    fixture f;
    fx_init(&f);
    tq_graph *g = f.g;
    int64_t d[2] = {3, 5};
    int32_t x = input(g, "X", 2, d);
    int32_t a = cnst(g, rng, "A", 2, d, -1, 1), b = cnst(g, rng, "B", 2, d, -1, 1);
    int32_t ab = val(g, "AB"), y = val(g, "Y"), r = val(g, "R");
    node(g, TQ_OP_MUL, 2, (int32_t[]){a, b}, ab, 0);
    node(g, TQ_OP_ADD, 2, (int32_t[]){x, ab}, y, 0);
    node(g, TQ_OP_RELU, 1, (int32_t[]){a}, r, 0); /* const-only node writing a graph output */
    TQ_EXPECT_OK(tq_graph_set_io(g, &x, 1, (int32_t[]){y, r}, 2));
    TQ_EXPECT_OK(tq_graph_finalize(g));
    tq_tensor s;
    shape_of(&s, 2, d);
    tq_graph *c = check_pass(g, &f.arena, "fold_constants", &s, 1e-6);
    if (c) {
        TQ_EXPECT_EQ_I64(c->n_nodes, 2);
        TQ_EXPECT_EQ_I64(count_op(c, TQ_OP_MUL), 0);
        int32_t v = tq_graph_find_value(c, "AB");
        TQ_CHECK(v >= 0 && (c->values[v].flags & TQ_VALUE_CONST));
        if (v >= 0) {
            const float *pa = g->values[a].t.data, *pb = g->values[b].t.data;
            const float *pv = c->values[v].t.data;
            TQ_CHECK(pv[7] == pa[7] * pb[7]);
        }
        tq_graph_destroy(c);
    }
    tq_test_free_all();
    fx_done(&f);
}

static void add_bn(tq_graph *g, tq_rng *rng, int32_t xin, int32_t y, int64_t ch)
{
    int32_t sc = cnst(g, rng, "bn_scale", 1, &ch, 0.5f, 1.5f);
    int32_t bb = cnst(g, rng, "bn_bias", 1, &ch, -1, 1);
    int32_t mean = cnst(g, rng, "bn_mean", 1, &ch, -1, 1);
    int32_t var = cnst(g, rng, "bn_var", 1, &ch, 0.2f, 2.0f);
    node(g, TQ_OP_BATCH_NORM, 5, (int32_t[]){xin, sc, bb, mean, var}, y, 0);
}

/* Conv -> BN, Gemm(transB) -> BN, ConvTranspose -> BN fold; BN after Relu stays. */
static void test_fold_batchnorm(tq_rng *rng)
{
    fixture f;
    fx_init(&f);
    tq_graph *g = f.g;
    int64_t xd[4] = {2, 3, 7, 6}, wd[4] = {4, 3, 3, 3}, bd = 4;
    int32_t x = input(g, "X", 4, xd);
    int32_t w = cnst(g, rng, "W", 4, wd, -1, 1), b = cnst(g, rng, "B", 1, &bd, -1, 1);
    int32_t c1 = val(g, "c1"), y1 = val(g, "y1"), r1 = val(g, "r1"), y2 = val(g, "y2");
    int32_t ni = node(g, TQ_OP_CONV, 3, (int32_t[]){x, w, b}, c1, 1);
    attr_ints(g, ni, 0, "pads", (int64_t[]){1, 1, 1, 1}, 4);
    add_bn(g, rng, c1, y1, 4);
    node(g, TQ_OP_RELU, 1, (int32_t[]){y1}, r1, 0);
    add_bn(g, rng, r1, y2, 4); /* not after a conv: stays */
    /* ConvTranspose with groups (no bias) -> BN */
    int64_t wtd[4] = {4, 3, 2, 2};
    int32_t wt = cnst(g, rng, "Wt", 4, wtd, -1, 1), t1 = val(g, "t1"), y3 = val(g, "y3");
    ni = node(g, TQ_OP_CONV_TRANSPOSE, 2, (int32_t[]){y2, wt}, t1, 1);
    attr_int(g, ni, 0, "group", 2);
    add_bn(g, rng, t1, y3, 6);
    /* Flatten -> Gemm(transB) -> BN */
    int32_t fl = val(g, "fl"), gm = val(g, "gm"), y4 = val(g, "y4");
    node(g, TQ_OP_FLATTEN, 1, (int32_t[]){y3}, fl, 0);
    int64_t gwd[2] = {5, 6 * 8 * 7};
    int32_t gw = cnst(g, rng, "GW", 2, gwd, -0.1f, 0.1f);
    ni = node(g, TQ_OP_GEMM, 2, (int32_t[]){fl, gw}, gm, 1);
    attr_int(g, ni, 0, "transB", 1);
    add_bn(g, rng, gm, y4, 5);
    TQ_EXPECT_OK(tq_graph_set_io(g, &x, 1, &y4, 1));
    TQ_EXPECT_OK(tq_graph_finalize(g));
    tq_tensor s;
    shape_of(&s, 4, xd);
    tq_graph *c = check_pass(g, &f.arena, "fold_batchnorm", &s, 1e-5);
    if (c) {
        TQ_EXPECT_EQ_I64(count_op(c, TQ_OP_BATCH_NORM), 1);
        TQ_EXPECT_EQ_I64(c->n_nodes, 6);
        TQ_CHECK(tq_graph_find_value(c, "y4") == c->outputs[0]);
        tq_graph_destroy(c);
    }
    tq_test_free_all();
    fx_done(&f);
}

/* Conv + Add(bias [1,M,1,1]) + Relu; Gemm + Clip; MatMul + Add([N]) + LeakyRelu; Conv +
 * HardSwish; each becomes one fused node. */
static void test_fuse_conv_bias_act(tq_rng *rng)
{
    fixture f;
    fx_init(&f);
    tq_graph *g = f.g;
    int64_t xd[4] = {1, 2, 6, 5}, wd[4] = {3, 2, 3, 3}, bd[4] = {1, 3, 1, 1};
    int32_t x = input(g, "X", 4, xd);
    int32_t w = cnst(g, rng, "W", 4, wd, -1, 1), b = cnst(g, rng, "Bc", 4, bd, -1, 1);
    int32_t c1 = val(g, "c1"), a1 = val(g, "a1"), r1 = val(g, "r1");
    node(g, TQ_OP_CONV, 2, (int32_t[]){x, w}, c1, 0);
    node(g, TQ_OP_ADD, 2, (int32_t[]){b, c1}, a1, 0);
    node(g, TQ_OP_RELU, 1, (int32_t[]){a1}, r1, 0);
    int64_t w2d[4] = {3, 3, 1, 1};
    int32_t w2 = cnst(g, rng, "W2", 4, w2d, -1, 1), c2 = val(g, "c2"), h2 = val(g, "h2");
    node(g, TQ_OP_CONV, 2, (int32_t[]){r1, w2}, c2, 0);
    node(g, TQ_OP_HARD_SWISH, 1, (int32_t[]){c2}, h2, 0);
    int32_t fl = val(g, "fl"), gm = val(g, "gm"), cl = val(g, "cl");
    node(g, TQ_OP_FLATTEN, 1, (int32_t[]){h2}, fl, 0);
    int64_t gwd[2] = {3 * 4 * 3, 8}, gbd = 8;
    int32_t gw = cnst(g, rng, "GW", 2, gwd, -1, 1), gb = cnst(g, rng, "GB", 1, &gbd, -1, 1);
    node(g, TQ_OP_GEMM, 3, (int32_t[]){fl, gw, gb}, gm, 0);
    int64_t one = 1;
    (void)one;
    int32_t lo = -1, hi = -1;
    float lov = -0.5f, hiv = 2.0f;
    TQ_EXPECT_OK(tq_graph_add_const(g, "lo", TFMQ_DTYPE_FLOAT32, 0, NULL, &lov, &lo));
    TQ_EXPECT_OK(tq_graph_add_const(g, "hi", TFMQ_DTYPE_FLOAT32, 0, NULL, &hiv, &hi));
    node(g, TQ_OP_CLIP, 3, (int32_t[]){gm, lo, hi}, cl, 0);
    int64_t mwd[2] = {8, 4}, mbd = 4;
    int32_t mw = cnst(g, rng, "MW", 2, mwd, -1, 1), mb = cnst(g, rng, "MB", 1, &mbd, -1, 1);
    int32_t mm = val(g, "mm"), ma = val(g, "ma"), y = val(g, "Y");
    node(g, TQ_OP_MATMUL, 2, (int32_t[]){cl, mw}, mm, 0);
    node(g, TQ_OP_ADD, 2, (int32_t[]){mm, mb}, ma, 0);
    node(g, TQ_OP_LEAKY_RELU, 1, (int32_t[]){ma}, y, 0);
    TQ_EXPECT_OK(tq_graph_set_io(g, &x, 1, &y, 1));
    TQ_EXPECT_OK(tq_graph_finalize(g));
    tq_tensor s;
    shape_of(&s, 4, xd);
    tq_graph *c = check_pass(g, &f.arena, "fuse_conv_bias_act", &s, 1e-4); /* 4 outputs: 1.5e-5 seen */
    if (c) {
        TQ_EXPECT_EQ_I64(c->n_nodes, 5);
        TQ_EXPECT_EQ_I64(count_op(c, TQ_OP_FUSED_CONV), 2);
        TQ_EXPECT_EQ_I64(count_op(c, TQ_OP_FUSED_GEMM), 2);
        TQ_EXPECT_EQ_I64(count_op(c, TQ_OP_FLATTEN), 1);
        TQ_CHECK(tq_graph_find_value(c, "Y") == c->outputs[0]);
        tq_graph_destroy(c);
    }
    tq_test_free_all();
    fx_done(&f);
}

/* A residual block: a = Relu(Conv(X)); y = Relu(Conv(a) + a) -> FusedConv(R = a, Relu). A
 * broadcast Add (R of shape [1,C,1,1]) must not fuse. */
static void test_fuse_residual(tq_rng *rng)
{
    fixture f;
    fx_init(&f);
    tq_graph *g = f.g;
    int64_t xd[4] = {-1, 3, 5, 5}, wd[4] = {3, 3, 3, 3}, bd = 3, rd[4] = {1, 3, 1, 1};
    int32_t x = input(g, "X", 4, xd);
    int32_t w1 = cnst(g, rng, "W1", 4, wd, -1, 1), b1 = cnst(g, rng, "B1", 1, &bd, -1, 1);
    int32_t w2 = cnst(g, rng, "W2", 4, wd, -1, 1), w3 = cnst(g, rng, "W3", 4, wd, -1, 1);
    int32_t rc = cnst(g, rng, "Rc", 4, rd, -1, 1);
    int32_t c1 = val(g, "c1"), a = val(g, "a"), c2 = val(g, "c2"), s2 = val(g, "s2");
    int32_t y = val(g, "y"), c3 = val(g, "c3"), z = val(g, "z");
    int32_t ni = node(g, TQ_OP_CONV, 3, (int32_t[]){x, w1, b1}, c1, 1);
    attr_ints(g, ni, 0, "pads", (int64_t[]){1, 1, 1, 1}, 4);
    node(g, TQ_OP_RELU, 1, (int32_t[]){c1}, a, 0);
    ni = node(g, TQ_OP_CONV, 2, (int32_t[]){a, w2}, c2, 1);
    attr_ints(g, ni, 0, "pads", (int64_t[]){1, 1, 1, 1}, 4);
    node(g, TQ_OP_ADD, 2, (int32_t[]){a, c2}, s2, 0);
    node(g, TQ_OP_RELU, 1, (int32_t[]){s2}, y, 0);
    ni = node(g, TQ_OP_CONV, 2, (int32_t[]){y, w3}, c3, 1);
    attr_ints(g, ni, 0, "pads", (int64_t[]){1, 1, 1, 1}, 4);
    node(g, TQ_OP_ADD, 2, (int32_t[]){c3, rc}, z, 0); /* broadcast: stays */
    TQ_EXPECT_OK(tq_graph_set_io(g, &x, 1, &z, 1));
    TQ_EXPECT_OK(tq_graph_finalize(g));
    tq_tensor s;
    int64_t sd[4] = {2, 3, 5, 5};
    shape_of(&s, 4, sd);
    tq_graph *c = check_pass(g, &f.arena, "fuse_residual", &s, 1e-5);
    if (c) {
        TQ_EXPECT_EQ_I64(count_op(c, TQ_OP_FUSED_CONV), 1);
        TQ_EXPECT_EQ_I64(count_op(c, TQ_OP_ADD), 1);
        TQ_EXPECT_EQ_I64(c->n_nodes, 5);
        for (size_t i = 0; i < c->n_nodes; i++) {
            if (c->nodes[i].op == TQ_OP_FUSED_CONV) {
                TQ_CHECK(c->nodes[i].n_in == 4 && c->nodes[i].in[2] == -1);
                TQ_CHECK(c->nodes[i].in[3] == tq_graph_find_value(c, "a"));
            }
        }
        tq_graph_destroy(c);
    }
    /* all passes together: fold_bias makes the broadcast Add of a constant conv3's bias */
    c = check_pass(g, &f.arena, "default", &s, 1e-5);
    if (c) {
        TQ_EXPECT_EQ_I64(c->n_nodes, 3);
        TQ_EXPECT_EQ_I64(count_op(c, TQ_OP_FUSED_CONV), 2);
        TQ_EXPECT_EQ_I64(count_op(c, TQ_OP_CONV), 1);
        tq_graph_destroy(c);
    }
    tq_test_free_all();
    fx_done(&f);
}

/* The elementary-op layer normalization (ReduceMean, Sub, Pow 2, ReduceMean, Add eps, Sqrt, Div,
 * Mul gamma, Add beta over the last axis, as PyTorch exports nn.LayerNorm before opset 17)
 * becomes one LayerNormalization; `variant` breaks one condition and the graph must stay:
 * 1 exponent 4, 2 the mean over axis 1, 3 the centered value also a graph output, 4 gamma of
 * the wrong length. */
static void build_layernorm(tq_rng *rng, tq_graph *g, int variant, int64_t c_dim)
{
    int64_t xd[3] = {-1, 5, c_dim}, one = 1, cd = variant == 4 ? c_dim - 1 : c_dim;
    int32_t x = input(g, "X", 3, xd);
    if (variant == 5) { /* x through a QuantizeLinear / DequantizeLinear pair: a QDQ graph */
        int32_t sc = cnst(g, rng, "x_scale", 0, &one, 0, 0), xq = val(g, "Xq");
        int32_t xdq = val(g, "Xdq");
        ((float *)g->values[sc].t.data)[0] = 0.05f;
        node(g, TQ_OP_QUANTIZE_LINEAR, 2, (int32_t[]){x, sc}, xq, 0);
        node(g, TQ_OP_DEQUANTIZE_LINEAR, 2, (int32_t[]){xq, sc}, xdq, 0);
        x = xdq;
    }
    int32_t ex = cnst(g, rng, "two", 0, &one, 0, 0), eps = cnst(g, rng, "eps", 0, &one, 0, 0);
    ((float *)g->values[ex].t.data)[0] = variant == 1 ? 4.0f : 2.0f;
    ((float *)g->values[eps].t.data)[0] = 1e-5f;
    int32_t gam = cnst(g, rng, "gamma", 1, &cd, 0.5f, 1.5f);
    int32_t bet = cnst(g, rng, "beta", 1, &c_dim, -1, 1);
    int32_t m = val(g, "m"), d = val(g, "d"), p = val(g, "p"), v = val(g, "v"), e = val(g, "e");
    int32_t sq = val(g, "s"), n = val(g, "n"), y = val(g, "y"), z = val(g, "z");
    int32_t ni = node(g, TQ_OP_REDUCE_MEAN, 1, (int32_t[]){x}, m, 1);
    attr_ints(g, ni, 0, "axes", (int64_t[]){variant == 2 ? 1 : -1}, 1);
    node(g, TQ_OP_SUB, 2, (int32_t[]){x, m}, d, 0);
    node(g, TQ_OP_POW, 2, (int32_t[]){d, ex}, p, 0);
    ni = node(g, TQ_OP_REDUCE_MEAN, 1, (int32_t[]){p}, v, 1);
    attr_ints(g, ni, 0, "axes", (int64_t[]){2}, 1); /* the last axis by number */
    node(g, TQ_OP_ADD, 2, (int32_t[]){eps, v}, e, 0);  /* operands in either order */
    node(g, TQ_OP_SQRT, 1, (int32_t[]){e}, sq, 0);
    node(g, TQ_OP_DIV, 2, (int32_t[]){d, sq}, n, 0);
    node(g, TQ_OP_MUL, 2, (int32_t[]){n, gam}, y, 0);
    node(g, TQ_OP_ADD, 2, (int32_t[]){bet, y}, z, 0);
    int32_t outs[2] = {z, d}, in = tq_graph_find_value(g, "X");
    TQ_EXPECT_OK(tq_graph_set_io(g, &in, 1, outs, variant == 3 ? 2 : 1));
    TQ_EXPECT_OK(tq_graph_finalize(g));
}

static void test_fuse_layernorm(tq_rng *rng)
{
    for (int variant = 0; variant <= 4; variant++) {
        fixture f;
        fx_init(&f);
        f.g->opset = 13;
        const int64_t c_dim = 24;
        build_layernorm(rng, f.g, variant, c_dim);
        tq_tensor s;
        shape_of(&s, 3, (int64_t[]){2, 5, c_dim});
        /* variant 4's gamma does not broadcast: nothing to run, structure only */
        tq_graph *c = NULL;
        if (variant == 4) {
            TQ_EXPECT_OK(tq_graph_clone(f.g, &f.arena, f.g->alloc, &c));
            TQ_EXPECT_OK(tq_pass_run(c, "fuse_layernorm"));
        } else {
            c = check_pass(f.g, &f.arena, "fuse_layernorm", &s, 1e-6);
        }
        if (c) {
            printf("  variant %d: %zu nodes, %zu LayerNormalization\n", variant, c->n_nodes,
                   count_op(c, TQ_OP_LAYER_NORM));
            TQ_EXPECT_EQ_I64(count_op(c, TQ_OP_LAYER_NORM), variant == 0 ? 1 : 0);
            TQ_EXPECT_EQ_I64(c->n_nodes, variant == 0 ? 1 : 9);
            for (size_t i = 0; i < c->n_nodes && variant == 0; i++) {
                TQ_CHECK(c->nodes[i].n_in == 3 &&
                         c->nodes[i].in[1] == tq_graph_find_value(c, "gamma") &&
                         c->nodes[i].in[2] == tq_graph_find_value(c, "beta"));
            }
            tq_graph_destroy(c);
        }
        tq_test_free_all();
        fx_done(&f);
    }
}

/* A QDQ graph's float layer normalization: sessions on the fast backends compile it fused
 * (runtime/compile.c: lower_qdq, then fuse_layernorm), the quantizer's fidelity runs (fuse
 * false) keep the elementary ops. */
static void test_compile_qdq_layernorm(tq_rng *rng)
{
    fixture f;
    fx_init(&f);
    f.g->opset = 13;
    build_layernorm(rng, f.g, 5, 16);
    for (int fuse = 0; fuse < 2; fuse++) {
        const tq_graph *c = NULL;
        bool owned = false;
        TQ_EXPECT_OK(tq_compile(f.g, fuse != 0, &f.arena, f.g->alloc, &c, &owned));
        TQ_CHECK(owned && c != f.g);
        if (c) {
            printf("  fuse %d: %zu nodes, %zu LayerNormalization, %zu ReduceMean\n", fuse,
                   c->n_nodes, count_op(c, TQ_OP_LAYER_NORM), count_op(c, TQ_OP_REDUCE_MEAN));
            TQ_EXPECT_EQ_I64(count_op(c, TQ_OP_LAYER_NORM), fuse ? 1 : 0);
            TQ_EXPECT_EQ_I64(count_op(c, TQ_OP_REDUCE_MEAN), fuse ? 0 : 2);
            TQ_EXPECT_EQ_I64(count_op(c, TQ_OP_DEQUANTIZE_LINEAR), 1);
            if (owned) {
                tq_graph_destroy((tq_graph *)(uintptr_t)c);
            }
        }
    }
    tq_test_free_all();
    fx_done(&f);
}

/* Unused chains go; graph outputs stay; unknown pass names are refused. */
static void test_dce_and_run(tq_rng *rng)
{
    fixture f;
    fx_init(&f);
    tq_graph *g = f.g;
    int64_t d[1] = {4};
    int32_t x = input(g, "X", 1, d), w = cnst(g, rng, "W", 1, d, -1, 1);
    int32_t y = val(g, "Y"), u1 = val(g, "u1"), u2 = val(g, "u2");
    node(g, TQ_OP_ADD, 2, (int32_t[]){x, w}, y, 0);
    node(g, TQ_OP_EXP, 1, (int32_t[]){x}, u1, 0);
    node(g, TQ_OP_MUL, 2, (int32_t[]){u1, w}, u2, 0);
    TQ_EXPECT_OK(tq_graph_set_io(g, &x, 1, &y, 1));
    TQ_EXPECT_OK(tq_graph_finalize(g));
    tq_tensor s;
    shape_of(&s, 1, d);
    tq_graph *c = check_pass(g, &f.arena, " dce ", &s, 0.0);
    if (c) {
        TQ_EXPECT_EQ_I64(c->n_nodes, 1);
        TQ_EXPECT_EQ_I64(c->n_values, 3);
        TQ_EXPECT_STATUS(tq_pass_run(c, "dce,nope"), TFMQ_ERR_INVALID_ARG);
        TQ_EXPECT_STR_CONTAINS(tfmq_last_error(), "nope");
        TQ_EXPECT_OK(tq_pass_run(c, ""));
        tq_graph_destroy(c);
    }
    tq_test_free_all();
    fx_done(&f);
}

/* A real model: clone, "default", compare on random inputs, fewer nodes. */
static void check_model(tq_rng *rng, const char *path)
{
    (void)rng;
    if (access(path, R_OK) != 0) {
        printf("skip: %s not found\n", path);
        return;
    }
    tfmq_model *m = NULL;
    tfmq_status st = tfmq_model_load(path, NULL, &m);
    TQ_EXPECT(st == TFMQ_OK, "load %s: %s", path, tfmq_last_error());
    if (!m) {
        return;
    }
    tq_tensor shapes[8];
    const tq_graph *g = m->graph;
    TQ_CHECK(g->n_inputs <= 8);
    TQ_EXPECT_OK(tq_model_default_shapes(m, 2, shapes));
    tq_arena ar;
    tq_arena_init(&ar, NULL);
    tq_graph *c = check_pass(g, &ar, "default", shapes, 1e-5);
    if (c) {
        printf("%s: %zu nodes -> %zu nodes (%zu FusedConv, %zu FusedGemm)\n", path, g->n_nodes,
               c->n_nodes, count_op(c, TQ_OP_FUSED_CONV), count_op(c, TQ_OP_FUSED_GEMM));
        TQ_EXPECT(c->n_nodes < g->n_nodes, "%zu -> %zu nodes", g->n_nodes, c->n_nodes);
        tq_graph_destroy(c);
    }
    tq_arena_free(&ar);
    tfmq_model_destroy(m);
    tq_test_free_all();
}

static char g_root[4096];

static void test_real_models(tq_rng *rng)
{
    char p[4300];
    snprintf(p, sizeof(p), "%s/models/resnet20_cifar10/model.onnx", tq_test_shared_dir());
    check_model(rng, p);
    snprintf(p, sizeof(p), "%s/models/fashion_mnist_cnn.onnx", g_root);
    check_model(rng, p);
}

int main(int argc, char **argv)
{
    snprintf(g_root, sizeof(g_root), "%s", __FILE__);
    char *q = strstr(g_root, "/tests/unit/");
    if (q) {
        *q = '\0';
    }
    tq_test_begin(argc, argv);
    TQ_RUN(test_fold_constants);
    TQ_RUN(test_fold_batchnorm);
    TQ_RUN(test_fuse_conv_bias_act);
    TQ_RUN(test_fuse_residual);
    TQ_RUN(test_fuse_layernorm);
    TQ_RUN(test_compile_qdq_layernorm);
    TQ_RUN(test_dce_and_run);
    TQ_RUN(test_real_models);
    return tq_test_end();
}
