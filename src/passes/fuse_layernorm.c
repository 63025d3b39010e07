/* fuse_layernorm.c: the layer normalization that exporters write as elementary ops (PyTorch's
 * nn.LayerNorm before opset 17, Keras, TensorFlow):
 *
 *   m = ReduceMean(x, axes=[last], keepdims=1)     d = Sub(x, m)
 *   v = ReduceMean(Pow(d, 2), axes=[last], keepdims=1)
 *   n = Div(d, Sqrt(Add(v, eps)))                  z = Add(Mul(n, gamma), beta)
 *
 * becomes one LayerNormalization(x, gamma, beta; axis=-1, epsilon=eps) writing z: nine nodes,
 * each a pass over the tensor, become one (the fast backends have LayerNormalization kernels;
 * the transformer encoder spent 13 % of its CPU time in the pieces). Legal when every
 * intermediate value has only the uses listed (d: the Sub's output, read by Pow and Div), none is
 * a graph output, eps is a constant scalar, the exponent a constant 2, gamma a constant of the
 * last dim's size [C] (or one value) and beta, when there is an Add, likewise; x is float32 of
 * known rank and last dim (shape inference with symbolic dims 1). Mul and Add take their operands in either order. The result differs from the
 * elementary ops by float rounding only (mean and variance in double in the reference, one
 * division instead of a square root and a division per element). */
#include <string.h>

#include "passes/pass.h"

/* The constant float32 tensor v, or NULL. */
static const tq_tensor *ln_const(const tq_graph *g, int32_t v)
{
    if (v < 0) {
        return NULL;
    }
    const tq_value *val = &g->values[v];
    if (!(val->flags & TQ_VALUE_CONST) || !val->t.data || val->t.rank < 0 ||
        val->t.dtype != TFMQ_DTYPE_FLOAT32) {
        return NULL;
    }
    return &val->t;
}

/* A constant float32 scalar (one element) v, into *out. */
static bool ln_scalar(const tq_graph *g, int32_t v, float *out)
{
    const tq_tensor *t = ln_const(g, v);
    if (!t || tq_tensor_numel(t) != 1) {
        return false;
    }
    *out = ((const float *)t->data)[0];
    return true;
}

/* A constant per-channel parameter of the last dim (size c): [c], or a single value. */
static bool ln_param(const tq_graph *g, int32_t v, int64_t c)
{
    const tq_tensor *t = ln_const(g, v);
    return t && t->rank <= 1 && (tq_tensor_numel(t) == 1 || (t->rank == 1 && t->dims[0] == c));
}

/* node i is a ReduceMean over the last axis of an input of rank `rank`, keeping dims. */
static bool ln_mean_last(const tq_graph *g, const tq_node *n, int32_t rank)
{
    if (n->op != TQ_OP_REDUCE_MEAN || n->n_out != 1 || n->n_in < 1 || n->in[0] < 0) {
        return false;
    }
    int64_t keep = 1, axis = 0;
    const tq_attr *a = tq_node_attr(n, "axes");
    size_t n_axes = 0;
    if (tq_attr_int(n, "keepdims", 1, &keep) != TFMQ_OK) {
        tq_clear_error();
        return false;
    }
    if (a) {
        if (a->type != TQ_ATTR_INTS || a->n != 1) {
            return false;
        }
        axis = a->ints[0];
        n_axes = 1;
    } else if (n->n_in > 1 && n->in[1] >= 0) { /* opset 18: axes as a constant input */
        const tq_value *av = &g->values[n->in[1]];
        if (!(av->flags & TQ_VALUE_CONST) || !av->t.data || av->t.dtype != TFMQ_DTYPE_INT64 ||
            tq_tensor_numel(&av->t) != 1) {
            return false;
        }
        axis = ((const int64_t *)av->t.data)[0];
        n_axes = 1;
    }
    return keep == 1 && n_axes == 1 && (axis == -1 || axis == rank - 1);
}

/* The only node using v (one use, not a graph output) if it has op `op`, else -1. */
static int32_t ln_next(const tq_graph *g, const int32_t *counts, int32_t v, uint32_t op)
{
    int32_t c = tq_pass_single_consumer(g, counts, v);
    return c >= 0 && g->nodes[c].op == op && g->nodes[c].n_out == 1 ? c : -1;
}

/* For a binary node bi reading v: the other operand, or -1. */
static int32_t ln_other(const tq_node *bi, int32_t v)
{
    if (bi->n_in != 2) {
        return -1;
    }
    return bi->in[0] == v ? bi->in[1] : (bi->in[1] == v ? bi->in[0] : -1);
}

tfmq_status tq_pass_fuse_layernorm(tq_graph *g, bool *changed)
{
    tfmq_status st;
    int32_t *counts = NULL;
    tq_tensor *shapes = NULL;
    const size_t nv = g->n_values, nn = g->n_nodes;
    bool any = false;
    *changed = false;
    TQ_TRY(st, tq_pass_use_counts(g, &counts));
    for (size_t i = 0; i < nn; i++) {
        const tq_node *rm1 = &g->nodes[i];
        if (rm1->op != TQ_OP_REDUCE_MEAN || tq_node_is_dead(rm1) || rm1->n_in < 1) {
            continue;
        }
        const int32_t x = rm1->in[0];
        if (!shapes) {
            TQ_TRY(st, tq_pass_infer_shapes(g, 1, &shapes));
        }
        const tq_tensor *xs = &shapes[x];
        if (xs->dtype != TFMQ_DTYPE_FLOAT32 || xs->rank < 1 || xs->dims[xs->rank - 1] <= 0 ||
            !ln_mean_last(g, rm1, xs->rank)) {
            continue;
        }
        const int64_t c_dim = xs->dims[xs->rank - 1];
        /* d = Sub(x, m) */
        const int32_t m = rm1->out[0];
        const int32_t sub = ln_next(g, counts, m, TQ_OP_SUB);
        if (sub < 0 || g->nodes[sub].n_in != 2 || g->nodes[sub].in[0] != x ||
            g->nodes[sub].in[1] != m) {
            continue;
        }
        const int32_t d = g->nodes[sub].out[0];
        if (d < 0 || counts[d] != 2 || tq_value_is_graph_output(g, d)) {
            continue;
        }
        /* d's two readers: Pow(d, 2) and Div(d, s) */
        int32_t pw = -1, dv = -1;
        for (size_t k = 0; k < nn; k++) {
            const tq_node *n = &g->nodes[k];
            if (tq_node_is_dead(n) || n->n_in != 2 || n->in[0] != d) {
                continue;
            }
            if (n->op == TQ_OP_POW) {
                pw = (int32_t)k;
            } else if (n->op == TQ_OP_DIV) {
                dv = (int32_t)k;
            }
        }
        float two = 0.0f, eps = 0.0f;
        if (pw < 0 || dv < 0 || g->nodes[pw].in[1] == d || !ln_scalar(g, g->nodes[pw].in[1], &two) ||
            two != 2.0f) {
            continue;
        }
        /* v = ReduceMean(p) over the same axis; e = Add(v, eps); s = Sqrt(e); n = Div(d, s) */
        const int32_t rm2 = ln_next(g, counts, g->nodes[pw].out[0], TQ_OP_REDUCE_MEAN);
        if (rm2 < 0 || !ln_mean_last(g, &g->nodes[rm2], xs->rank)) {
            continue;
        }
        const int32_t v = g->nodes[rm2].out[0];
        const int32_t add_eps = ln_next(g, counts, v, TQ_OP_ADD);
        if (add_eps < 0 || !ln_scalar(g, ln_other(&g->nodes[add_eps], v), &eps) || !(eps >= 0.0f)) {
            continue;
        }
        const int32_t sq = ln_next(g, counts, g->nodes[add_eps].out[0], TQ_OP_SQRT);
        if (sq < 0 || g->nodes[dv].in[1] != g->nodes[sq].out[0] ||
            ln_next(g, counts, g->nodes[sq].out[0], TQ_OP_DIV) != dv) {
            continue;
        }
        /* z = Add(Mul(n, gamma), beta): gamma required (LayerNormalization's Scale), beta not */
        const int32_t nrm = g->nodes[dv].out[0];
        const int32_t mul = ln_next(g, counts, nrm, TQ_OP_MUL);
        const int32_t gamma = mul >= 0 ? ln_other(&g->nodes[mul], nrm) : -1;
        if (mul < 0 || !ln_param(g, gamma, c_dim)) {
            continue;
        }
        int32_t out = g->nodes[mul].out[0], beta = -1;
        const int32_t add_b = ln_next(g, counts, out, TQ_OP_ADD);
        if (add_b >= 0 && ln_param(g, ln_other(&g->nodes[add_b], out), c_dim)) {
            beta = ln_other(&g->nodes[add_b], out);
            out = g->nodes[add_b].out[0];
        }
        if (out < 0) {
            continue;
        }
        tq_attr attrs[2];
        memset(attrs, 0, sizeof(attrs));
        attrs[0].name = "axis";
        attrs[0].type = TQ_ATTR_INT;
        attrs[0].i = -1;
        attrs[1].name = "epsilon";
        attrs[1].type = TQ_ATTR_FLOAT;
        attrs[1].f = eps;
        const int32_t ins[3] = {x, gamma, beta};
        int32_t ni;
        TQ_TRY(st, tq_pass_add_fused_node(g, TQ_OP_LAYER_NORM, rm1->name, beta >= 0 ? 3 : 2, ins,
                                          out, attrs, 2, NULL, &ni));
        const int32_t gone[9] = {(int32_t)i, sub, pw, rm2, add_eps, sq, dv, mul, beta >= 0 ? add_b : -1};
        for (int k = 0; k < 9; k++) {
            if (gone[k] >= 0) {
                tq_graph_remove_node(g, gone[k]);
            }
        }
        g->values[out].producer = ni;
        any = true;
    }
    st = TFMQ_OK;
fail:
    tq_free(g->alloc, counts, (nv ? nv : 1) * sizeof(int32_t));
    tq_free(g->alloc, shapes, (nv ? nv : 1) * sizeof(tq_tensor));
    if (st == TFMQ_OK && any) {
        *changed = true;
        st = tq_graph_compact(g);
    }
    return st;
}
