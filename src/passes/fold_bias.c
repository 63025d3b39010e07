/* fold_bias.c: fold Add(Conv(x), b) with a constant per-output-channel b into the Conv's bias.
 * Importers of NHWC formats (TensorFlow's BiasAdd) write the bias as a separate Add; folding it
 * lets fold_batchnorm reach a following BatchNorm and gives quantization one layer, not three.
 * b must broadcast along the channel axis only: shape [C, 1, .., 1] (rank r-1) or [1, C, 1, ..]
 * (rank r) for a Conv output of rank r, or [C] when r == 2. The new bias is a new constant
 * (B + b in double, stored as float32); the Conv is rebuilt to write the Add's output value. */
#include "passes/pass.h"

/* Per-channel length of constant b for a conv output of rank r with c channels, or false. */
static bool bias_shape_ok(const tq_tensor *b, int32_t r, int64_t c)
{
    if (b->rank == 1 && r == 2) {
        return b->dims[0] == c;
    }
    int32_t lead = b->rank - (r - 1); /* b aligned to the right of [C, spatial...] */
    if (lead < 0 || lead > 1 || (lead == 1 && b->dims[0] != 1)) {
        return false;
    }
    if (b->dims[lead] != c) {
        return false;
    }
    for (int32_t d = lead + 1; d < b->rank; d++) {
        if (b->dims[d] != 1) {
            return false;
        }
    }
    return true;
}

static tfmq_status fold_one(tq_graph *g, const int32_t *counts, int32_t ai, bool *done)
{
    *done = false;
    const tq_node *add = &g->nodes[ai];
    if (add->n_in != 2 || add->out[0] < 0) {
        return TFMQ_OK;
    }
    for (int k = 0; k < 2; k++) {
        int32_t x = add->in[k], bv = add->in[1 - k];
        if (x < 0 || bv < 0 || counts[x] != 1 || tq_value_is_graph_output(g, x)) {
            continue;
        }
        const tq_value *b = &g->values[bv];
        if (!(b->flags & TQ_VALUE_CONST) || b->t.dtype != TFMQ_DTYPE_FLOAT32 || !b->t.data) {
            continue;
        }
        int32_t pi = g->values[x].producer;
        if (pi < 0 || tq_node_is_dead(&g->nodes[pi]) || g->nodes[pi].op != TQ_OP_CONV ||
            g->nodes[pi].n_out != 1) {
            continue;
        }
        const tq_node *conv = &g->nodes[pi];
        const tq_value *w = &g->values[conv->in[1]];
        if (!(w->flags & TQ_VALUE_CONST) || w->t.dtype != TFMQ_DTYPE_FLOAT32 || w->t.rank < 3) {
            continue;
        }
        int64_t c = w->t.dims[0];
        int32_t r = w->t.rank; /* conv output rank equals the weight rank */
        if (!bias_shape_ok(&b->t, r, c)) {
            continue;
        }
        int32_t ob = conv->n_in > 2 ? conv->in[2] : -1;
        if (ob >= 0 && (!(g->values[ob].flags & TQ_VALUE_CONST) ||
                        g->values[ob].t.dtype != TFMQ_DTYPE_FLOAT32 ||
                        g->values[ob].t.rank != 1 || g->values[ob].t.dims[0] != c)) {
            continue;
        }
        float *nb = tq_alloc(g->alloc, sizeof(float) * (size_t)c);
        if (!nb) {
            return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "fold_bias: out of memory");
        }
        const float *bd = b->t.data;
        const float *od = ob >= 0 ? g->values[ob].t.data : NULL;
        for (int64_t i = 0; i < c; i++) {
            nb[i] = (float)((od ? (double)od[i] : 0.0) + (double)bd[i]);
        }
        int32_t nbv, ni;
        int64_t cdim = c;
        tfmq_status st = tq_graph_add_const(g, "bias", TFMQ_DTYPE_FLOAT32, 1, &cdim, nb, &nbv);
        tq_free(g->alloc, nb, sizeof(float) * (size_t)c);
        if (st != TFMQ_OK) {
            return st;
        }
        conv = &g->nodes[pi]; /* values/nodes may have moved */
        add = &g->nodes[ai];
        int32_t ins[3] = {conv->in[0], conv->in[1], nbv};
        int32_t y = add->out[0];
        st = tq_pass_add_fused_node(g, TQ_OP_CONV, conv->name, 3, ins, y, conv->attrs,
                                    conv->n_attrs, NULL, &ni);
        if (st != TFMQ_OK) {
            return st;
        }
        tq_graph_remove_node(g, ai);
        tq_graph_remove_node(g, pi);
        g->values[y].producer = ni;
        *done = true;
        return TFMQ_OK;
    }
    return TFMQ_OK;
}

tfmq_status tq_pass_fold_bias(tq_graph *g, bool *changed)
{
    tfmq_status st;
    int32_t *counts = NULL;
    size_t nv = g->n_values, nn = g->n_nodes;
    bool any = false;
    *changed = false;
    TQ_TRY(st, tq_pass_use_counts(g, &counts));
    for (size_t i = 0; i < nn; i++) {
        bool done = false;
        if (g->nodes[i].op != TQ_OP_ADD) {
            continue;
        }
        TQ_TRY(st, fold_one(g, counts, (int32_t)i, &done));
        if (done) { /* the folded conv's old output and the add are gone: recount */
            any = true;
            tq_free(g->alloc, counts, (nv ? nv : 1) * sizeof(int32_t));
            counts = NULL;
            nv = g->n_values;
            TQ_TRY(st, tq_pass_use_counts(g, &counts));
        }
    }
    tq_free(g->alloc, counts, (nv ? nv : 1) * sizeof(int32_t));
    counts = NULL;
    if (any) {
        *changed = true;
        return tq_graph_compact(g);
    }
    return TFMQ_OK;
fail:
    tq_free(g->alloc, counts, (nv ? nv : 1) * sizeof(int32_t));
    return st;
}
