/* strip_half.c: how FP16 and BF16 models run on the fast CPU backend.
 *
 * tfmq_quantize stores an FP16/BF16 model as float32 arithmetic with its weights behind
 * Cast(half -> float) and every compute output rounded through the type by a pair
 * Cast(float -> half) -> Cast(half -> float) (quant/quantize.c): the portable form, exact on the
 * reference kernels. This CPU has no FP16 arithmetic and its BF16 units (VDPBF16PS) read BF16
 * operands and accumulate in float32, so the compiled session graph:
 *  1. drops the rounding pairs of activations (a float value X rounded to Z is replaced by X): the
 *     session computes in float32 between the matrix operations, never less exact than the
 *     stored form;
 *  2. marks each Conv / Gemm whose weights are a BF16 constant behind a Cast with the attribute
 *     compute = "bf16": the oneDNN kernel then reads its input and weights as BF16 (rounding
 *     the input to nearest even, as the dropped Cast did) and accumulates in float32.
 * FP16 weights stay float32 after constant folding (exactly the FP16 values): FP16 models
 * compute in float32 on the CPU, and `tfmq inspect` says so. */
#include <string.h>

#include "passes/pass.h"

static int64_t cast_to(const tq_node *n)
{
    int64_t to = 0;
    if (n->op != TQ_OP_CAST || tq_attr_int(n, "to", 0, &to) != TFMQ_OK) {
        return 0;
    }
    return to;
}

static bool is_half(int64_t dt)
{
    return dt == TFMQ_DTYPE_BFLOAT16 || dt == TFMQ_DTYPE_FLOAT16;
}

/* Step 1: Z = Cast<float>(Cast<half>(X)) with X a float activation -> uses of Z read X.
 * X's dtype comes from shape inference (intermediate values carry no dtype in the IR). */
static tfmq_status strip_pairs(tq_graph *g, bool *any_out)
{
    tq_tensor *shapes = NULL;
    tfmq_status st = tq_pass_infer_shapes(g, 1, &shapes);
    if (st != TFMQ_OK) {
        return st;
    }
    bool any = false;
    for (size_t i = 0; i < g->n_nodes; i++) {
        const tq_node *n = &g->nodes[i];
        if (tq_node_is_dead(n) || cast_to(n) != TFMQ_DTYPE_FLOAT32 || n->in[0] < 0) {
            continue;
        }
        int32_t p = tq_value_producer(g, n->in[0]);
        if (p < 0 || !is_half(cast_to(&g->nodes[p]))) {
            continue;
        }
        int32_t x = g->nodes[p].in[0], z = n->out[0];
        if (x < 0 || z < 0 || shapes[x].dtype != TFMQ_DTYPE_FLOAT32 ||
            (g->values[x].flags & TQ_VALUE_CONST) || tq_value_is_graph_output(g, z) ||
            tq_value_used_by_subgraph(g, z)) {
            continue;
        }
        int32_t y = n->in[0];
        tq_graph_replace_uses(g, z, x);
        tq_graph_remove_node(g, (int32_t)i);
        if (tq_value_n_uses(g, y) == 0) {
            tq_graph_remove_node(g, p); /* the fusion passes count uses: leave no dead Cast */
        }
        any = true;
    }
    tq_free(g->alloc, shapes, (g->n_values ? g->n_values : 1) * sizeof(tq_tensor));
    *any_out = any;
    return TFMQ_OK;
}

/* Step 2: mark Conv / Gemm / MatMul with BF16 weights (B) behind a Cast (re-created with one more
 * attribute: a node's attribute array has a fixed size). */
static tfmq_status mark_bf16(tq_graph *g, bool *any)
{
    tfmq_status st = TFMQ_OK;
    size_t n_nodes = g->n_nodes;
    for (size_t i = 0; i < n_nodes; i++) {
        const tq_node *n = &g->nodes[i];
        if (tq_node_is_dead(n) ||
            (n->op != TQ_OP_CONV && n->op != TQ_OP_GEMM && n->op != TQ_OP_MATMUL) || n->n_in < 2 ||
            n->in[1] < 0 || n->n_out != 1 || n->out[0] < 0 || n->n_attrs >= 63) {
            continue;
        }
        const char *compute = "";
        if (tq_attr_string(n, "compute", "", &compute) != TFMQ_OK || compute[0]) {
            continue; /* marked already */
        }
        int32_t p = tq_value_producer(g, n->in[1]);
        if (p < 0 || cast_to(&g->nodes[p]) != TFMQ_DTYPE_FLOAT32) {
            continue;
        }
        int32_t w = g->nodes[p].in[0];
        if (w < 0 || !(g->values[w].flags & TQ_VALUE_CONST) ||
            g->values[w].t.dtype != TFMQ_DTYPE_BFLOAT16) {
            continue;
        }
        tq_attr attrs[64];
        memcpy(attrs, n->attrs, sizeof(tq_attr) * (size_t)n->n_attrs);
        memset(&attrs[n->n_attrs], 0, sizeof(tq_attr));
        attrs[n->n_attrs].name = "compute";
        attrs[n->n_attrs].type = TQ_ATTR_STRING;
        attrs[n->n_attrs].s = "bf16";
        int32_t ins[TQ_MAX_IO];
        memcpy(ins, n->in, sizeof(int32_t) * (size_t)n->n_in);
        int32_t idx, n_in = n->n_in, n_attrs = n->n_attrs + 1, out = n->out[0];
        const char *name = n->name;
        uint32_t op = n->op;
        tq_graph_remove_node(g, (int32_t)i);
        TQ_TRY(st, tq_pass_add_fused_node(g, op, name, n_in, ins, out, attrs, n_attrs, NULL,
                                          &idx));
        *any = true;
    }
fail:
    return st;
}

tfmq_status tq_pass_strip_half(tq_graph *g, bool *changed)
{
    bool any = false;
    tfmq_status st = strip_pairs(g, &any);
    if (st == TFMQ_OK) {
        st = mark_bf16(g, &any);
    }
    *changed = any;
    if (st == TFMQ_OK && any) {
        st = tq_graph_compact(g);
    }
    return st;
}
