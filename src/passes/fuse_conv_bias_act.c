/* fuse_conv_bias_act.c: Conv / Gemm / MatMul followed by an Add of a constant per-channel bias
 * (when the op has no bias of its own) and/or an activation becomes one tfmq.FusedConv or
 * tfmq.FusedGemm writing the last value of the chain (so value names, graph outputs included,
 * stay). Every intermediate value must have exactly one use. MatMul qualifies only with a 2-D
 * input (inferred shapes) and a constant 2-D weight; its bias must be [N] or [1, N]. */
#include <string.h>

#include "passes/pass.h"

static bool is_const(const tq_graph *g, int32_t v)
{
    return v >= 0 && (g->values[v].flags & TQ_VALUE_CONST) && g->values[v].t.data &&
           g->values[v].t.rank >= 0;
}

/* Whether the constant b, added to an output of rank out_rank with `ch` channels on axis
 * ch_axis, is a per-channel bias that does not grow the output; *per_ch tells if it varies. */
static bool bias_shape_ok(const tq_tensor *b, int32_t out_rank, int32_t ch_axis, int64_t ch,
                          bool *per_ch)
{
    *per_ch = false;
    if (b->rank > out_rank) {
        return false;
    }
    for (int32_t j = 0; j < b->rank; j++) {
        int32_t axis = out_rank - b->rank + j;
        if (b->dims[j] == 1) {
            continue;
        }
        if (axis == ch_axis && b->dims[j] == ch) {
            *per_ch = true;
            continue;
        }
        return false;
    }
    return true;
}

typedef struct fuse_ctx {
    tq_graph *g;
    const int32_t *counts;
    tq_tensor *shapes; /* lazily inferred (MatMul input ranks) */
    size_t n_shape_values;
} fuse_ctx;

static tfmq_status try_fuse(fuse_ctx *fc, int32_t pi, bool *done)
{
    tq_graph *g = fc->g;
    tfmq_status st;
    *done = false;
    const tq_node *p = &g->nodes[pi];
    if (p->n_out != 1 || p->out[0] < 0 || p->n_in < 2) {
        return TFMQ_OK;
    }
    const uint32_t op = p->op;
    const int32_t x = p->in[0], w = p->in[1];
    int32_t bias = p->n_in > 2 ? p->in[2] : -1;
    int64_t ch = -1;
    int32_t out_rank = -1, ch_axis = 1;
    const tq_tensor *wt = &g->values[w].t;
    if (op == TQ_OP_CONV) {
        if (wt->rank < 3 || wt->dims[0] < 0) {
            return TFMQ_OK;
        }
        ch = wt->dims[0];
        out_rank = wt->rank;
    } else if (op == TQ_OP_GEMM) {
        int64_t tb = 0;
        float beta = 1.0f;
        if (tq_attr_int(p, "transB", 0, &tb) != TFMQ_OK ||
            tq_attr_float(p, "beta", 1.0f, &beta) != TFMQ_OK) {
            tq_clear_error();
            return TFMQ_OK;
        }
        out_rank = 2;
        if (wt->rank == 2 && beta == 1.0f) {
            ch = wt->dims[tb ? 0 : 1];
        }
    } else if (op == TQ_OP_MATMUL) {
        if (!is_const(g, w) || wt->rank != 2) {
            return TFMQ_OK;
        }
        if (!fc->shapes) {
            fc->n_shape_values = g->n_values;
            if ((st = tq_pass_infer_shapes(g, 1, &fc->shapes)) != TFMQ_OK) {
                return st;
            }
        }
        if ((size_t)x >= fc->n_shape_values || fc->shapes[x].rank != 2 ||
            fc->shapes[x].dtype != wt->dtype) {
            return TFMQ_OK;
        }
        ch = wt->dims[1];
        out_rank = 2;
    } else {
        return TFMQ_OK;
    }
    int32_t final = p->out[0];
    int32_t rm[2] = {-1, -1};
    int32_t new_bias = -1;
    tq_fused_act act;
    bool have_act = false;
    int32_t c = tq_pass_single_consumer(g, fc->counts, final);
    if (bias < 0 && c >= 0 && g->nodes[c].op == TQ_OP_ADD && ch > 0) {
        const tq_node *add = &g->nodes[c];
        int32_t other = add->in[0] == final ? add->in[1] : add->in[0];
        bool per_ch = false;
        if (is_const(g, other) && g->values[other].t.dtype == wt->dtype &&
            bias_shape_ok(&g->values[other].t, out_rank, ch_axis, ch, &per_ch) &&
            add->out[0] >= 0) {
            int64_t dims1 = ch;
            int32_t add_out = add->out[0];
            int32_t bv;
            TQ_TRY(st, tq_graph_add_const(g, g->values[other].name, wt->dtype, 1, &dims1, NULL,
                                          &bv));
            const tq_tensor *bt = &g->values[other].t;
            void *bd = g->values[bv].t.data;
            for (int64_t i = 0; i < ch; i++) {
                double v = tq_load_f64(bt->dtype, bt->data, per_ch ? (size_t)i : 0);
                tq_store_f64(wt->dtype, bd, (size_t)i, v);
            }
            new_bias = bv;
            rm[0] = c;
            final = add_out;
            c = tq_pass_single_consumer(g, fc->counts, final);
        }
    }
    if (c >= 0 && tq_pass_match_act(g, &g->nodes[c], &act) && g->nodes[c].in[0] == final &&
        g->nodes[c].out[0] >= 0) {
        have_act = true;
        rm[1] = c;
        final = g->nodes[c].out[0];
    }
    if (rm[0] < 0 && rm[1] < 0) {
        return TFMQ_OK;
    }
    if (!have_act) {
        act.kind = TQ_FUSED_ACT_NONE;
    }
    if (op == TQ_OP_MATMUL && rm[0] < 0 && !have_act) {
        return TFMQ_OK;
    }
    int32_t ins[3] = {x, w, new_bias >= 0 ? new_bias : bias};
    int32_t n_in = ins[2] >= 0 ? 3 : 2;
    p = &g->nodes[pi];
    int32_t ni;
    TQ_TRY(st, tq_pass_add_fused_node(g, op == TQ_OP_CONV ? TQ_OP_FUSED_CONV : TQ_OP_FUSED_GEMM,
                                      p->name, n_in, ins, final, op == TQ_OP_MATMUL ? NULL : p->attrs,
                                      op == TQ_OP_MATMUL ? 0 : p->n_attrs, &act, &ni));
    tq_graph_remove_node(g, pi);
    for (int k = 0; k < 2; k++) {
        if (rm[k] >= 0) {
            tq_graph_remove_node(g, rm[k]);
        }
    }
    g->values[final].producer = ni;
    *done = true;
    return TFMQ_OK;
fail:
    return st;
}

tfmq_status tq_pass_fuse_conv_bias_act(tq_graph *g, bool *changed)
{
    tfmq_status st;
    int32_t *counts = NULL;
    size_t nv = g->n_values, nn = g->n_nodes;
    fuse_ctx fc = {g, NULL, NULL, 0};
    bool any = false;
    *changed = false;
    TQ_TRY(st, tq_pass_use_counts(g, &counts));
    fc.counts = counts;
    for (size_t i = 0; i < nn; i++) {
        uint32_t op = g->nodes[i].op;
        bool done = false;
        if (op != TQ_OP_CONV && op != TQ_OP_GEMM && op != TQ_OP_MATMUL) {
            continue;
        }
        TQ_TRY(st, try_fuse(&fc, (int32_t)i, &done));
        any |= done;
    }
    st = TFMQ_OK;
fail:
    tq_free(g->alloc, counts, (nv ? nv : 1) * sizeof(int32_t));
    tq_free(g->alloc, fc.shapes, (fc.n_shape_values ? fc.n_shape_values : 1) * sizeof(tq_tensor));
    if (st == TFMQ_OK && any) {
        *changed = true;
        st = tq_graph_compact(g);
    }
    return st;
}
