/* test_quant_share.c: INT8 planning shares quantization parameters through value-preserving ops.
 * Graph: X -> Conv1 -> Relu -> R; R -> Pad(zero, mode constant) -> P; R -> Conv2 -> C;
 * Add(C, P) -> S. P holds only values of R (and zeros), so it must be quantized with R's scale:
 * a range of its own would round R's int8 values a second time (resnet20's shortcut Pads cost
 * 0.9 dB output SQNR that way). A Pad with a non-zero constant adds a value R's grid may not
 * hold and keeps its own range. The graph output S stays float (no Q/DQ pair nobody reads). */
#include <math.h>
#include <string.h>

#include "core/core.h"
#include "harness.h"
#include "ir/rewrite.h"
#include "quant/quant.h"

/* The scale of the QuantizeLinear whose input is value v, or NAN. */
static float q_scale_of(const tq_graph *g, int32_t v)
{
    for (size_t i = 0; i < g->n_nodes; i++) {
        const tq_node *n = &g->nodes[i];
        if (n->op == TQ_OP_QUANTIZE_LINEAR && n->in[0] == v && n->in[1] >= 0 &&
            g->values[n->in[1]].t.data) {
            return ((const float *)g->values[n->in[1]].t.data)[0];
        }
    }
    return NAN;
}

static void run_case(float pad_value, bool expect_shared)
{
    tq_test_counting_alloc cnt = {0};
    tfmq_allocator alloc = {&cnt, tq_test_counting_alloc_fn, tq_test_counting_free_fn};
    tq_arena arena;
    tq_arena_init(&arena, &alloc);
    tq_graph *g = NULL;
    TQ_EXPECT_OK(tq_graph_create(&arena, &alloc, &g));
    if (!g) {
        return;
    }
    float w1[4] = {0.5f, -0.25f, 0.125f, 1.0f}, w2[4] = {1.0f, 0.5f, -0.5f, 0.25f};
    int64_t pads[8] = {0};
    int32_t x, y1, r, p, c, s, vw1, vw2, vpads, vval, ni;
    TQ_EXPECT_OK(tq_graph_add_value(g, "X", &x));
    TQ_EXPECT_OK(tq_graph_add_value(g, "Y1", &y1));
    TQ_EXPECT_OK(tq_graph_add_value(g, "R", &r));
    TQ_EXPECT_OK(tq_graph_add_value(g, "P", &p));
    TQ_EXPECT_OK(tq_graph_add_value(g, "C", &c));
    TQ_EXPECT_OK(tq_graph_add_value(g, "S", &s));
    g->values[x].t.dtype = TFMQ_DTYPE_FLOAT32;
    g->values[x].t.rank = 4;
    memcpy(g->values[x].t.dims, (int64_t[]){1, 2, 4, 4}, 4 * sizeof(int64_t));
    TQ_EXPECT_OK(tq_graph_add_const(g, "W1", TFMQ_DTYPE_FLOAT32, 4, (int64_t[]){2, 2, 1, 1}, w1,
                                    &vw1));
    TQ_EXPECT_OK(tq_graph_add_const(g, "W2", TFMQ_DTYPE_FLOAT32, 4, (int64_t[]){2, 2, 1, 1}, w2,
                                    &vw2));
    TQ_EXPECT_OK(tq_graph_add_const(g, "pads", TFMQ_DTYPE_INT64, 1, (int64_t[]){8}, pads, &vpads));
    TQ_EXPECT_OK(tq_graph_add_const(g, "value", TFMQ_DTYPE_FLOAT32, 0, NULL, &pad_value, &vval));
    TQ_EXPECT_OK(tq_graph_add_node(g, TQ_OP_CONV, "conv1", 2, 1, 0, &ni));
    g->nodes[ni].in[0] = x;
    g->nodes[ni].in[1] = vw1;
    g->nodes[ni].out[0] = y1;
    TQ_EXPECT_OK(tq_graph_add_node(g, TQ_OP_RELU, "relu", 1, 1, 0, &ni));
    g->nodes[ni].in[0] = y1;
    g->nodes[ni].out[0] = r;
    TQ_EXPECT_OK(tq_graph_add_node(g, TQ_OP_PAD, "pad", 3, 1, 0, &ni));
    g->nodes[ni].in[0] = r;
    g->nodes[ni].in[1] = vpads;
    g->nodes[ni].in[2] = vval;
    g->nodes[ni].out[0] = p;
    TQ_EXPECT_OK(tq_graph_add_node(g, TQ_OP_CONV, "conv2", 2, 1, 0, &ni));
    g->nodes[ni].in[0] = r;
    g->nodes[ni].in[1] = vw2;
    g->nodes[ni].out[0] = c;
    TQ_EXPECT_OK(tq_graph_add_node(g, TQ_OP_ADD, "add", 2, 1, 0, &ni));
    g->nodes[ni].in[0] = c;
    g->nodes[ni].in[1] = p;
    g->nodes[ni].out[0] = s;
    TQ_EXPECT_OK(tq_graph_set_io(g, &x, 1, &s, 1));
    TQ_EXPECT_OK(tq_graph_finalize(g));

    tq_quant_plan plan;
    memset(&plan, 0, sizeof(plan));
    plan.alloc = &alloc;
    TQ_EXPECT_OK(tq_quant_plan_int8(g, &plan));
    TQ_EXPECT_EQ_I64(plan.n_layers, 3); /* conv1 (+relu), conv2, add */
    TQ_EXPECT_EQ_I64(plan.n_share, plan.n_tensors);
    size_t ir = (size_t)-1, ip = (size_t)-1;
    for (size_t i = 0; i < plan.n_tensors; i++) {
        ir = plan.tensors[i] == r ? i : ir;
        ip = plan.tensors[i] == p ? i : ip;
    }
    TQ_CHECK(ir != (size_t)-1 && ip != (size_t)-1 && plan.share);
    if (ir == (size_t)-1 || ip == (size_t)-1 || !plan.share) {
        goto done;
    }
    for (size_t i = 0; i < plan.n_tensors; i++) {
        int32_t want = (i == ip && expect_shared) ? (int32_t)ir : -1;
        TQ_EXPECT(plan.share[i] == want, "pad value %g: share[%zu] = %d, expected %d",
                  (double)pad_value, i, plan.share[i], want);
    }
    /* ranges: R [0, 2.54], P narrower [0, 1.27]; apply and read the inserted scales */
    plan.n_lohi = plan.n_tensors;
    plan.lo = tq_calloc(&alloc, plan.n_tensors, sizeof(float));
    plan.hi = tq_calloc(&alloc, plan.n_tensors, sizeof(float));
    TQ_CHECK(plan.lo && plan.hi);
    if (!plan.lo || !plan.hi) {
        goto done;
    }
    for (size_t i = 0; i < plan.n_tensors; i++) {
        plan.lo[i] = -1.0f;
        plan.hi[i] = 1.0f;
    }
    plan.lo[ir] = 0.0f;
    plan.hi[ir] = 2.54f;
    plan.lo[ip] = 0.0f;
    plan.hi[ip] = 1.27f;
    TQ_EXPECT_OK(tq_quant_apply_int8(g, &plan, false));
    float sr = q_scale_of(g, r), sp = q_scale_of(g, p);
    TQ_EXPECT(fabsf(sr - 0.02f) < 1e-6f, "R scale %g", (double)sr);
    TQ_EXPECT(fabsf(sp - (expect_shared ? 0.02f : 0.01f)) < 1e-6f, "pad value %g: P scale %g",
              (double)pad_value, (double)sp);
    /* the graph output S, read by nothing else, stays float (a Q/DQ pair there would have no
     * reader); the Add's inputs are quantized, and its layer is measured on S itself */
    TQ_EXPECT(isnan(q_scale_of(g, s)), "the graph output S has a QuantizeLinear (scale %g)",
              (double)q_scale_of(g, s));
    TQ_CHECK(!isnan(q_scale_of(g, c)));
    for (size_t li = 0; li < plan.n_layers; li++) {
        if (plan.layers[li].post == s) {
            TQ_EXPECT_EQ_I64(plan.layers[li].q_value, s);
        }
    }
done:
    tq_quant_plan_free(&plan);
    tq_graph_destroy(g);
    tq_arena_free(&arena);
    TQ_EXPECT_EQ_I64(atomic_load(&cnt.n_live), 0);
    TQ_EXPECT_EQ_I64(atomic_load(&cnt.bytes_live), 0);
}

static void test_zero_pad_shares(tq_rng *rng)
{
    (void)rng;
    run_case(0.0f, true);
}

static void test_nonzero_pad_keeps_own_range(tq_rng *rng)
{
    (void)rng;
    run_case(1.0f, false);
}

int main(int argc, char **argv)
{
    tq_test_begin(argc, argv);
    TQ_RUN(test_zero_pad_shares);
    TQ_RUN(test_nonzero_pad_keeps_own_range);
    return tq_test_end();
}
