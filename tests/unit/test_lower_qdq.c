/* test_lower_qdq.c: the QDQ lowering pass on a QDQ graph built here: Conv (per-channel weights,
 * int32 DQ bias, Relu), Conv 1x1 (float bias), MaxPool, Add + Relu, Flatten (stays float),
 * Gemm (transB = 0: the weight is transposed) and a batched MatMul. The lowered graph must hold
 * the integer nodes and agree with the float QDQ graph: each layer within one quantization step
 * (so a final output within two), at least 97% exactly; a value with another consumer (a graph
 * output) stays computed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ir/rewrite.h"
#include "passes/lower_qdq.h"
#include "runtime/exec.h"

typedef struct bld {
    tq_graph *g;
    tq_rng *rng;
    int n_const;
    bool ok;
} bld;

static int32_t b_val(bld *b, const char *name)
{
    int32_t v = -1;
    if (tq_graph_add_value(b->g, name, &v) != TFMQ_OK) {
        b->ok = false;
    }
    return v;
}

static int32_t b_const(bld *b, tfmq_dtype dt, int32_t rank, const int64_t *dims, const void *d)
{
    char name[32];
    snprintf(name, sizeof(name), "c%d", b->n_const++);
    int32_t v = -1;
    if (tq_graph_add_const(b->g, name, dt, rank, dims, d, &v) != TFMQ_OK) {
        b->ok = false;
    }
    return v;
}

static int32_t b_f32(bld *b, float f)
{
    return b_const(b, TFMQ_DTYPE_FLOAT32, 0, NULL, &f);
}

static int32_t b_i8(bld *b, int8_t z)
{
    return b_const(b, TFMQ_DTYPE_INT8, 0, NULL, &z);
}

/* Node with inputs ins (n_in), one new output value named out; attrs copied. */
static int32_t b_node(bld *b, uint32_t op, const char *out, const int32_t *ins, int32_t n_in,
                      const tq_attr *attrs, int32_t n_attrs)
{
    int32_t y = b_val(b, out), ni = -1;
    if (!b->ok || tq_graph_add_node(b->g, op, out, n_in, 1, n_attrs, &ni) != TFMQ_OK) {
        b->ok = false;
        return -1;
    }
    tq_node *n = &b->g->nodes[ni];
    memcpy(n->in, ins, sizeof(int32_t) * (size_t)n_in);
    n->out[0] = y;
    if (n_attrs) {
        memcpy(n->attrs, attrs, sizeof(tq_attr) * (size_t)n_attrs);
    }
    return y;
}

/* Q then DQ with per-tensor int8 parameters (the activation quantizer). */
static int32_t b_qdq(bld *b, int32_t x, float s, int8_t z, const char *name, int32_t *q_out)
{
    char qn[64], dn[64];
    snprintf(qn, sizeof(qn), "%s_q", name);
    snprintf(dn, sizeof(dn), "%s_dq", name);
    int32_t sv = b_f32(b, s), zv = b_i8(b, z);
    int32_t qi[3] = {x, sv, zv};
    int32_t q = b_node(b, TQ_OP_QUANTIZE_LINEAR, qn, qi, 3, NULL, 0);
    int32_t di[3] = {q, sv, zv};
    if (q_out) {
        *q_out = q;
    }
    return b_node(b, TQ_OP_DEQUANTIZE_LINEAR, dn, di, 3, NULL, 0);
}

static tq_attr attr_ints(const char *name, const int64_t *v, size_t n)
{
    tq_attr a;
    memset(&a, 0, sizeof(a));
    a.name = name;
    a.type = TQ_ATTR_INTS;
    a.ints = v;
    a.n = n;
    return a;
}

static tq_attr attr_int(const char *name, int64_t v)
{
    tq_attr a;
    memset(&a, 0, sizeof(a));
    a.name = name;
    a.type = TQ_ATTR_INT;
    a.i = v;
    return a;
}

/* DQ of a random int8 weight [dims], per channel along `axis` (n_ch scales). */
static int32_t b_weight(bld *b, int32_t rank, const int64_t *dims, int64_t axis, float smax,
                        float *scales_out)
{
    size_t n = 1;
    for (int32_t i = 0; i < rank; i++) {
        n *= (size_t)dims[i];
    }
    int8_t *w = malloc(n);
    for (size_t i = 0; i < n; i++) {
        w[i] = (int8_t)((int)tq_rng_below(b->rng, 255) - 127);
    }
    const int64_t nch = dims[axis];
    float *s = malloc(sizeof(float) * (size_t)nch);
    int8_t *z = calloc((size_t)nch, 1);
    for (int64_t c = 0; c < nch; c++) {
        s[c] = tq_rng_uniform(b->rng, 0.3f * smax, smax);
        if (scales_out) {
            scales_out[c] = s[c];
        }
    }
    int32_t wv = b_const(b, TFMQ_DTYPE_INT8, rank, dims, w);
    int32_t sv = b_const(b, TFMQ_DTYPE_FLOAT32, 1, &nch, s);
    int32_t zv = b_const(b, TFMQ_DTYPE_INT8, 1, &nch, z);
    free(w);
    free(s);
    free(z);
    tq_attr ax = attr_int("axis", axis);
    int32_t ins[3] = {wv, sv, zv};
    char name[32];
    snprintf(name, sizeof(name), "w%d", b->n_const);
    return b_node(b, TQ_OP_DEQUANTIZE_LINEAR, name, ins, 3, &ax, 1);
}

/* The test graph; outputs: y_add (via Flatten+Gemm) gemm output, matmul output, aux (float). */
static tq_graph *build(tq_arena *ar, tq_rng *rng)
{
    tq_graph *g = NULL;
    if (tq_graph_create(ar, NULL, &g) != TFMQ_OK) {
        return NULL;
    }
    g->opset = 17;
    bld b = {g, rng, 0, true};
    int32_t x = b_val(&b, "x");
    g->values[x].t.dtype = TFMQ_DTYPE_FLOAT32;
    g->values[x].t.rank = 4;
    const int64_t xd[4] = {1, 3, 8, 8};
    memcpy(g->values[x].t.dims, xd, sizeof(xd));
    int32_t xq = b_qdq(&b, x, 1.0f / 127.0f, 0, "x", NULL);
    /* conv1 3->4, 3x3 pad 1, per-channel weights, int32 bias via DQ, Relu */
    static const int64_t k3[2] = {3, 3}, p1[4] = {1, 1, 1, 1}; // attributes keep pointers
    const int64_t w1d[4] = {4, 3, 3, 3};
    float ws1[4];
    int32_t w1 = b_weight(&b, 4, w1d, 0, 0.01f, ws1);
    int32_t bq[4], bz[4] = {0, 0, 0, 0};
    float bs[4];
    for (int c = 0; c < 4; c++) {
        bq[c] = (int32_t)tq_rng_below(rng, 2001) - 1000;
        bs[c] = (1.0f / 127.0f) * ws1[c]; /* the accumulator's scale, as quantizers write it */
    }
    const int64_t four = 4;
    int32_t bdq_in[3] = {b_const(&b, TFMQ_DTYPE_INT32, 1, &four, bq),
                         b_const(&b, TFMQ_DTYPE_FLOAT32, 1, &four, bs),
                         b_const(&b, TFMQ_DTYPE_INT32, 1, &four, bz)};
    tq_attr ax0 = attr_int("axis", 0);
    int32_t b1 = b_node(&b, TQ_OP_DEQUANTIZE_LINEAR, "b1", bdq_in, 3, &ax0, 1);
    tq_attr cattr[2] = {attr_ints("kernel_shape", k3, 2), attr_ints("pads", p1, 4)};
    int32_t c1in[3] = {xq, w1, b1};
    int32_t c1 = b_node(&b, TQ_OP_CONV, "conv1", c1in, 3, cattr, 2);
    int32_t r1 = b_node(&b, TQ_OP_RELU, "relu1", &c1, 1, NULL, 0);
    int32_t r1q = b_qdq(&b, r1, 0.02f, -128, "r1", NULL);
    /* conv2 1x1 4->4 with a float bias constant */
    const int64_t w2d[4] = {4, 4, 1, 1};
    int32_t w2 = b_weight(&b, 4, w2d, 0, 0.02f, NULL);
    float fb[4] = {0.1f, -0.2f, 0.05f, 0.3f};
    int32_t c2in[3] = {r1q, w2, b_const(&b, TFMQ_DTYPE_FLOAT32, 1, &four, fb)};
    int32_t c2 = b_node(&b, TQ_OP_CONV, "conv2", c2in, 3, NULL, 0);
    int32_t c2q = b_qdq(&b, c2, 0.03f, 3, "c2", NULL);
    /* MaxPool 3x3 stride 1 pad 1 on r1 with r1's parameters */
    tq_attr mattr[2] = {attr_ints("kernel_shape", k3, 2), attr_ints("pads", p1, 4)};
    int32_t mp = b_node(&b, TQ_OP_MAX_POOL, "pool", &r1q, 1, mattr, 2);
    int32_t mpq = b_qdq(&b, mp, 0.02f, -128, "mp", NULL);
    /* Add + Relu */
    int32_t ain[2] = {c2q, mpq};
    int32_t ad = b_node(&b, TQ_OP_ADD, "add", ain, 2, NULL, 0);
    int32_t arl = b_node(&b, TQ_OP_RELU, "add_relu", &ad, 1, NULL, 0);
    int32_t arq = b_qdq(&b, arl, 0.03f, -128, "ar", NULL);
    /* Flatten (float) -> Gemm with W [K=256, N=5] (transB = 0), per-channel on axis 1 */
    tq_attr fattr = attr_int("axis", 1);
    int32_t fl = b_node(&b, TQ_OP_FLATTEN, "flat", &arq, 1, &fattr, 1);
    int32_t flq = b_qdq(&b, fl, 0.03f, -128, "fl", NULL);
    const int64_t wgd[2] = {256, 5}, five = 5;
    int32_t wg = b_weight(&b, 2, wgd, 1, 0.005f, NULL);
    float gb[5] = {0.5f, -0.5f, 0.25f, 0.0f, 1.0f};
    int32_t gin[3] = {flq, wg, b_const(&b, TFMQ_DTYPE_FLOAT32, 1, &five, gb)};
    int32_t gm = b_node(&b, TQ_OP_GEMM, "gemm", gin, 3, NULL, 0);
    int32_t gq = b_qdq(&b, gm, 0.05f, 0, "gm", NULL);
    /* batched MatMul [1,4,8,8] x [8,6] */
    const int64_t wmd[2] = {8, 6};
    int32_t wm = b_weight(&b, 2, wmd, 1, 0.02f, NULL);
    int32_t min_[2] = {c2q, wm};
    int32_t mm = b_node(&b, TQ_OP_MATMUL, "matmul", min_, 2, NULL, 0);
    int32_t mmq = b_qdq(&b, mm, 0.05f, 0, "mm", NULL);
    if (!b.ok) {
        return NULL;
    }
    const int32_t outs[3] = {gq, mmq, r1}; /* r1 (float Relu output) stays computed */
    if (tq_graph_set_io(g, &x, 1, outs, 3) != TFMQ_OK || tq_graph_finalize(g) != TFMQ_OK) {
        return NULL;
    }
    return g;
}

/* Run g on x; copies of its outputs (f32) into outs[k] (malloc'ed), counts into n[k]. */
static bool run(const tq_graph *g, float *x, float **outs, size_t *n)
{
    tq_exec *e = NULL;
    tq_tensor in;
    memset(&in, 0, sizeof(in));
    in.dtype = TFMQ_DTYPE_FLOAT32;
    in.rank = 4;
    in.dims[0] = 1;
    in.dims[1] = 3;
    in.dims[2] = 8;
    in.dims[3] = 8;
    bool ok = tq_exec_create(g, NULL, NULL, &e) == TFMQ_OK &&
              tq_exec_plan(e, &in, false) == TFMQ_OK;
    in.data = x;
    ok = ok && tq_exec_run(e, &in) == TFMQ_OK;
    TQ_EXPECT(ok, "run: %s", tfmq_last_error());
    for (size_t k = 0; ok && k < g->n_outputs; k++) {
        const tq_tensor *t = tq_exec_value(e, g->outputs[k]);
        n[k] = tq_tensor_numel(t);
        outs[k] = malloc(n[k] * sizeof(float));
        memcpy(outs[k], t->data, n[k] * sizeof(float));
    }
    tq_exec_destroy(e);
    return ok;
}

static void test_lower_small_graph(tq_rng *rng)
{
    tq_arena ar, ar2;
    tq_arena_init(&ar, NULL);
    tq_arena_init(&ar2, NULL);
    tq_graph *g = build(&ar, rng), *g2 = NULL;
    TQ_EXPECT(g != NULL, "build: %s", tfmq_last_error());
    if (!g) {
        tq_arena_free(&ar);
        return;
    }
    TQ_EXPECT(tq_graph_clone(g, &ar2, NULL, &g2) == TFMQ_OK, "clone: %s", tfmq_last_error());
    tq_lower_qdq_item items[32];
    size_t n_items = 0;
    bool changed = false;
    tfmq_status st = tq_pass_lower_qdq_report(g2, items, 32, &n_items, &changed);
    TQ_EXPECT(st == TFMQ_OK && changed, "lower: %s", tfmq_last_error());
    size_t cnt[TQ_OP_COUNT_] = {0};
    for (size_t i = 0; i < g2->n_nodes; i++) {
        cnt[g2->nodes[i].op]++;
    }
    TQ_EXPECT(cnt[TQ_OP_QCONV] == 2, "QConv nodes: %zu", cnt[TQ_OP_QCONV]);
    TQ_EXPECT(cnt[TQ_OP_QGEMM] == 2, "QGemm nodes: %zu", cnt[TQ_OP_QGEMM]);
    TQ_EXPECT(cnt[TQ_OP_QADD] == 1, "QAdd nodes: %zu", cnt[TQ_OP_QADD]);
    TQ_EXPECT(cnt[TQ_OP_MAX_POOL] == 1, "MaxPool nodes: %zu", cnt[TQ_OP_MAX_POOL]);
    TQ_EXPECT(cnt[TQ_OP_CONV] == 1 && cnt[TQ_OP_RELU] == 1,
              "conv1 and relu1 stay for the float output: %zu %zu", cnt[TQ_OP_CONV],
              cnt[TQ_OP_RELU]);
    TQ_EXPECT(cnt[TQ_OP_FLATTEN] == 1 && cnt[TQ_OP_GEMM] == 0 && cnt[TQ_OP_MATMUL] == 0 &&
                  cnt[TQ_OP_ADD] == 0,
              "the rest is lowered");
    size_t n_low = 0, n_float = 0;
    for (size_t i = 0; i < n_items && i < 32; i++) {
        n_low += items[i].lowered;
        if (!items[i].lowered) {
            n_float++;
            TQ_EXPECT(strcmp(items[i].node, "flat") == 0 && items[i].reason[0],
                      "only Flatten stays float: %s (%s)", items[i].node, items[i].reason);
        }
    }
    TQ_EXPECT(n_items == 9 && n_low == 8 && n_float == 1, "report: %zu items, %zu lowered",
              n_items, n_low);

    size_t tot_exact = 0, tot = 0;
    for (int trial = 0; trial < 3; trial++) {
        float x[192];
        for (int i = 0; i < 192; i++) {
            x[i] = tq_rng_uniform(rng, -1.0f, 1.0f);
        }
        float *a[3] = {NULL, NULL, NULL}, *b[3] = {NULL, NULL, NULL};
        size_t na[3] = {0, 0, 0}, nb[3] = {0, 0, 0};
        if (run(g, x, a, na) && run(g2, x, b, nb)) {
            const float step[3] = {0.05f, 0.05f, 0.0f};
            for (int k = 0; k < 3; k++) {
                TQ_EXPECT(na[k] == nb[k] && na[k] > 0, "output %d sizes", k);
                size_t n_exact = 0, n_far = 0, n_zero = 0;
                for (size_t i = 0; i < na[k] && i < nb[k]; i++) {
                    float d = fabsf(a[k][i] - b[k][i]);
                    n_exact += d == 0.0f;
                    /* one step per quantized layer: a flip upstream may move a later output
                     * by one more step */
                    n_far += d > 2.0f * step[k] * 1.001f;
                    n_zero += a[k][i] == 0.0f;
                }
                TQ_EXPECT(n_far == 0, "output %d: %zu values differ by more than two steps", k,
                          n_far);
                tot_exact += n_exact;
                tot += na[k];
                TQ_EXPECT(n_zero * 10 < na[k] * 9, "mistrusted: output %d mostly zero", k);
                if (getenv("TQ_VERBOSE")) {
                    printf("output %d: %zu of %zu exact\n", k, n_exact, na[k]);
                }
            }
        }
        for (int k = 0; k < 3; k++) {
            free(a[k]);
            free(b[k]);
        }
    }
    TQ_EXPECT(tot_exact * 100 >= tot * 97, "only %zu of %zu outputs exact", tot_exact, tot);
    /* a graph without QDQ is left alone */
    bool ch2 = true;
    TQ_EXPECT(tq_pass_lower_qdq(g2, &ch2) == TFMQ_OK && !ch2, "second run changes nothing");
    tq_graph_destroy(g2);
    tq_graph_destroy(g);
    tq_arena_free(&ar2);
    tq_arena_free(&ar);
}

int main(int argc, char **argv)
{
    tq_test_begin(argc, argv);
    TQ_RUN(test_lower_small_graph);
    return tq_test_end();
}
