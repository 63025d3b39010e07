/* fold_bn.c: fold inference BatchNormalization into the preceding Conv, ConvTranspose or Gemm.
 * With s = scale / sqrt(var + eps): W'[oc] = W[oc] * s[oc] and B'[oc] = (B[oc] - mean[oc]) * s[oc]
 * + beta[oc] (Gemm: B' scaled along N, C' = (beta_attr * C - mean) * s + bn_bias, beta_attr 1).
 * New weights and biases are new constants (old ones may be shared with a source graph or
 * other nodes); the producer then writes the BN's output value, keeping its name. Computed in
 * double, stored in the weights' dtype. */
#include <math.h>
#include <string.h>

#include "passes/pass.h"

static bool const_float(const tq_graph *g, int32_t v, tfmq_dtype dt)
{
    return v >= 0 && (g->values[v].flags & TQ_VALUE_CONST) && g->values[v].t.data &&
           g->values[v].t.dtype == dt && g->values[v].t.rank >= 0;
}

static bool const_vec(const tq_graph *g, int32_t v, tfmq_dtype dt, int64_t c)
{
    return const_float(g, v, dt) && g->values[v].t.rank == 1 && g->values[v].t.dims[0] == c;
}

/* Fold BN node `bi` into its producer; *done false when not applicable. */
static tfmq_status fold_one(tq_graph *g, const int32_t *counts, int32_t bi, bool *done)
{
    tfmq_status st = TFMQ_OK;
    double *s = NULL, *t = NULL;
    size_t c_bytes = 0;
    *done = false;
    const tq_node *bn = &g->nodes[bi];
    if (bn->n_in != 5 || bn->in[0] < 0) {
        return TFMQ_OK;
    }
    for (int32_t k = 1; k < bn->n_out; k++) {
        if (bn->out[k] >= 0) {
            return TFMQ_OK; /* training-mode outputs requested */
        }
    }
    int64_t training = 0, spatial = 1;
    float eps = 1e-5f;
    if (tq_attr_int(bn, "training_mode", 0, &training) != TFMQ_OK ||
        tq_attr_int(bn, "spatial", 1, &spatial) != TFMQ_OK ||
        tq_attr_float(bn, "epsilon", 1e-5f, &eps) != TFMQ_OK) {
        tq_clear_error();
        return TFMQ_OK;
    }
    if (training != 0 || spatial != 1) {
        return TFMQ_OK;
    }
    const int32_t x = bn->in[0], y = bn->out[0];
    const int32_t pi = g->values[x].producer;
    if (pi < 0 || counts[x] != 1 || tq_value_is_graph_output(g, x) || y < 0) {
        return TFMQ_OK;
    }
    const tq_node *p = &g->nodes[pi];
    if (tq_node_is_dead(p) || p->n_out != 1 || p->out[0] != x ||
        (p->op != TQ_OP_CONV && p->op != TQ_OP_CONV_TRANSPOSE && p->op != TQ_OP_GEMM)) {
        return TFMQ_OK;
    }
    const int32_t wv = p->in[1], bv = p->n_in > 2 ? p->in[2] : -1;
    const tfmq_dtype dt = g->values[x].t.dtype != TFMQ_DTYPE_UNDEFINED ? g->values[x].t.dtype
                                                                       : g->values[wv].t.dtype;
    if (!const_float(g, wv, dt) || !tq_dtype_is_float(dt)) {
        return TFMQ_OK;
    }
    const tq_tensor *w = &g->values[wv].t;
    /* channel count and weight layout */
    int64_t c, group = 1, ta = 0, tb = 0;
    float beta_attr = 1.0f;
    if (p->op == TQ_OP_CONV) {
        if (w->rank < 3) {
            return TFMQ_OK;
        }
        c = w->dims[0];
    } else if (p->op == TQ_OP_CONV_TRANSPOSE) {
        if (w->rank < 3 || tq_attr_int(p, "group", 1, &group) != TFMQ_OK || group < 1 ||
            w->dims[0] % group != 0) {
            tq_clear_error();
            return TFMQ_OK;
        }
        c = w->dims[1] * group;
    } else {
        if (w->rank != 2 || tq_attr_int(p, "transA", 0, &ta) != TFMQ_OK ||
            tq_attr_int(p, "transB", 0, &tb) != TFMQ_OK ||
            tq_attr_float(p, "beta", 1.0f, &beta_attr) != TFMQ_OK) {
            tq_clear_error();
            return TFMQ_OK;
        }
        c = w->dims[tb ? 0 : 1];
    }
    for (int32_t k = 1; k < 5; k++) {
        if (!const_vec(g, bn->in[k], g->values[bn->in[k]].t.dtype, c) ||
            !tq_dtype_is_float(g->values[bn->in[k]].t.dtype)) {
            return TFMQ_OK;
        }
    }
    /* existing bias: [c] for convolutions; Gemm C: scalar, [N] or [1, N] */
    if (bv >= 0) {
        if (!const_float(g, bv, dt)) {
            return TFMQ_OK;
        }
        const tq_tensor *b = &g->values[bv].t;
        size_t nb = tq_tensor_numel(b);
        if (p->op != TQ_OP_GEMM && !(b->rank == 1 && b->dims[0] == c)) {
            return TFMQ_OK;
        }
        if (p->op == TQ_OP_GEMM &&
            !(nb == 1 || (b->rank >= 1 && b->dims[b->rank - 1] == c && (int64_t)nb == c))) {
            return TFMQ_OK;
        }
    }
    if (c <= 0 || !tq_mul_size((size_t)c, sizeof(double), &c_bytes)) {
        return TFMQ_OK;
    }
    s = tq_alloc(g->alloc, c_bytes);
    t = tq_alloc(g->alloc, c_bytes);
    if (!s || !t) {
        st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "fold_batchnorm: out of memory");
        goto fail;
    }
    {
        const tq_tensor *sc = &g->values[bn->in[1]].t, *bb = &g->values[bn->in[2]].t;
        const tq_tensor *mean = &g->values[bn->in[3]].t, *var = &g->values[bn->in[4]].t;
        const tq_tensor *b = bv >= 0 ? &g->values[bv].t : NULL;
        size_t nb = b ? tq_tensor_numel(b) : 0;
        for (int64_t i = 0; i < c; i++) {
            size_t ii = (size_t)i;
            double sv = tq_load_f64(sc->dtype, sc->data, ii) /
                        sqrt(tq_load_f64(var->dtype, var->data, ii) + (double)eps);
            double b0 = b ? tq_load_f64(b->dtype, b->data, nb == 1 ? 0 : ii) : 0.0;
            if (p->op == TQ_OP_GEMM) {
                b0 *= (double)beta_attr;
            }
            s[i] = sv;
            t[i] = (b0 - tq_load_f64(mean->dtype, mean->data, ii)) * sv +
                   tq_load_f64(bb->dtype, bb->data, ii);
        }
    }
    /* new weights */
    int32_t w2 = -1, b2 = -1;
    TQ_TRY(st, tq_graph_add_const(g, g->values[wv].name, dt, w->rank, w->dims, NULL, &w2));
    w = &g->values[wv].t; /* values may have moved */
    {
        void *wd = g->values[w2].t.data;
        size_t nw = tq_tensor_numel(w);
        size_t inner = 1; /* elements per (dim0, dim1) pair */
        for (int32_t d = 2; d < w->rank; d++) {
            inner *= (size_t)w->dims[d];
        }
        for (size_t e = 0; e < nw; e++) {
            size_t ch;
            if (p->op == TQ_OP_CONV) {
                ch = e / (nw / (size_t)w->dims[0]);
            } else if (p->op == TQ_OP_CONV_TRANSPOSE) {
                size_t ci = e / ((size_t)w->dims[1] * inner);
                size_t j = (e / inner) % (size_t)w->dims[1];
                size_t cin_g = (size_t)(w->dims[0] / group);
                ch = (ci / cin_g) * (size_t)w->dims[1] + j;
            } else {
                ch = tb ? e / (size_t)w->dims[1] : e % (size_t)w->dims[1];
            }
            tq_store_f64(dt, wd, e, tq_load_f64(dt, w->data, e) * s[ch]);
        }
    }
    {
        int64_t cd = c;
        TQ_TRY(st, tq_graph_add_const(g, bv >= 0 ? g->values[bv].name : g->values[wv].name, dt, 1,
                                      &cd, NULL, &b2));
        void *bd = g->values[b2].t.data;
        for (int64_t i = 0; i < c; i++) {
            tq_store_f64(dt, bd, (size_t)i, t[i]);
        }
    }
    /* rewire: the producer (re-made with 3 inputs if it had no bias) writes y */
    p = &g->nodes[pi];
    bn = &g->nodes[bi];
    if (p->n_in >= 3) {
        tq_node *pm = &g->nodes[pi];
        pm->in[1] = w2;
        pm->in[2] = b2;
        pm->out[0] = y;
        if (pm->op == TQ_OP_GEMM) {
            for (int32_t a = 0; a < pm->n_attrs; a++) {
                if (pm->attrs[a].name && strcmp(pm->attrs[a].name, "beta") == 0) {
                    pm->attrs[a].type = TQ_ATTR_FLOAT;
                    pm->attrs[a].f = 1.0f;
                }
            }
        }
        tq_graph_remove_node(g, bi);
        g->values[y].producer = pi;
    } else {
        int32_t ins[3] = {p->in[0], w2, b2}, ni;
        uint32_t op = p->op;
        const char *name = p->name;
        const tq_attr *attrs = p->attrs;
        int32_t n_attrs = p->n_attrs;
        TQ_TRY(st, tq_pass_add_fused_node(g, op, name, 3, ins, y, attrs, n_attrs, NULL, &ni));
        if (op == TQ_OP_GEMM) {
            tq_node *nn = &g->nodes[ni];
            for (int32_t a = 0; a < nn->n_attrs; a++) {
                if (nn->attrs[a].name && strcmp(nn->attrs[a].name, "beta") == 0) {
                    nn->attrs[a].type = TQ_ATTR_FLOAT;
                    nn->attrs[a].f = 1.0f;
                }
            }
        }
        tq_graph_remove_node(g, bi);
        tq_graph_remove_node(g, pi);
        g->values[y].producer = ni;
    }
    *done = true;
fail:
    tq_free(g->alloc, s, c_bytes);
    tq_free(g->alloc, t, c_bytes);
    return st;
}

tfmq_status tq_pass_fold_batchnorm(tq_graph *g, bool *changed)
{
    tfmq_status st;
    int32_t *counts = NULL;
    size_t nv = g->n_values, nn = g->n_nodes;
    bool any = false;
    *changed = false;
    TQ_TRY(st, tq_pass_use_counts(g, &counts));
    for (size_t i = 0; i < nn; i++) {
        bool done = false;
        if (g->nodes[i].op != TQ_OP_BATCH_NORM) {
            continue;
        }
        TQ_TRY(st, fold_one(g, counts, (int32_t)i, &done));
        any |= done;
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
