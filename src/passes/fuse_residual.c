/* fuse_residual.c: Add(conv, R) [-> activation] where conv is the single-use output of a Conv or
 * of a FusedConv without activation and residual becomes a FusedConv with residual input R and
 * the activation, writing the last value of the chain. Legal only when R has exactly the conv
 * output's shape, which is checked on shapes inferred twice, with symbolic dims set to 1 and to
 * 3 (a broadcast that only coincides for one batch size is refused), and the same dtype. R does
 * not depend on the conv output (that output's only use is the Add), so the fused node can run
 * after R: tq_graph_compact re-sorts. */
#include <string.h>

#include "passes/pass.h"

static bool same_known_shape(const tq_tensor *a, const tq_tensor *b)
{
    if (!tq_tensor_shape_known(a) || !tq_tensor_shape_known(b) || a->rank != b->rank) {
        return false;
    }
    for (int32_t i = 0; i < a->rank; i++) {
        if (a->dims[i] != b->dims[i]) {
            return false;
        }
    }
    return true;
}

/* Conv-like producer of v that may take a residual: Conv, or FusedConv with no activation and
 * no residual. */
static bool conv_candidate(const tq_graph *g, int32_t v)
{
    int32_t pi = g->values[v].producer;
    if (pi < 0) {
        return false;
    }
    const tq_node *p = &g->nodes[pi];
    if (tq_node_is_dead(p) || p->n_out != 1 || p->out[0] != v) {
        return false;
    }
    if (p->op == TQ_OP_CONV) {
        return true;
    }
    if (p->op != TQ_OP_FUSED_CONV || (p->n_in > 3 && p->in[3] >= 0)) {
        return false;
    }
    const char *act = "";
    if (tq_attr_string(p, "activation", "", &act) != TFMQ_OK) {
        tq_clear_error();
        return false;
    }
    return act[0] == '\0';
}

tfmq_status tq_pass_fuse_residual(tq_graph *g, bool *changed)
{
    tfmq_status st;
    int32_t *counts = NULL;
    tq_tensor *s1 = NULL, *s3 = NULL;
    const size_t nv = g->n_values, nn = g->n_nodes;
    bool any = false;
    *changed = false;
    TQ_TRY(st, tq_pass_use_counts(g, &counts));
    for (size_t i = 0; i < nn; i++) {
        const tq_node *add = &g->nodes[i];
        if (add->op != TQ_OP_ADD || add->n_in != 2 || add->out[0] < 0 || add->in[0] < 0 ||
            add->in[1] < 0 || add->in[0] == add->in[1]) {
            continue;
        }
        for (int side = 0; side < 2; side++) {
            add = &g->nodes[i];
            int32_t cv = add->in[side], r = add->in[1 - side];
            if (counts[cv] != 1 || tq_value_is_graph_output(g, cv) || !conv_candidate(g, cv)) {
                continue;
            }
            if (!s1) {
                TQ_TRY(st, tq_pass_infer_shapes(g, 1, &s1));
                TQ_TRY(st, tq_pass_infer_shapes(g, 3, &s3));
            }
            if (!same_known_shape(&s1[cv], &s1[r]) || !same_known_shape(&s3[cv], &s3[r]) ||
                !same_known_shape(&s1[cv], &s1[add->out[0]]) || s1[cv].dtype != s1[r].dtype) {
                continue;
            }
            int32_t final = add->out[0], rm_act = -1;
            tq_fused_act act;
            memset(&act, 0, sizeof(act));
            int32_t c = tq_pass_single_consumer(g, counts, final);
            if (c >= 0 && tq_pass_match_act(g, &g->nodes[c], &act) && g->nodes[c].in[0] == final &&
                g->nodes[c].out[0] >= 0) {
                rm_act = c;
                final = g->nodes[c].out[0];
            } else {
                memset(&act, 0, sizeof(act));
                act.kind = TQ_FUSED_ACT_NONE;
            }
            const int32_t pi = g->values[cv].producer;
            const tq_node *p = &g->nodes[pi];
            int32_t ins[4] = {p->in[0], p->in[1], p->n_in > 2 ? p->in[2] : -1, r};
            int32_t ni;
            TQ_TRY(st, tq_pass_add_fused_node(g, TQ_OP_FUSED_CONV, p->name, 4, ins, final,
                                              p->attrs, p->n_attrs, &act, &ni));
            tq_graph_remove_node(g, pi);
            tq_graph_remove_node(g, (int32_t)i);
            if (rm_act >= 0) {
                tq_graph_remove_node(g, rm_act);
            }
            g->values[final].producer = ni;
            any = true;
            break;
        }
    }
    st = TFMQ_OK;
fail:
    tq_free(g->alloc, counts, (nv ? nv : 1) * sizeof(int32_t));
    tq_free(g->alloc, s1, (nv ? nv : 1) * sizeof(tq_tensor));
    tq_free(g->alloc, s3, (nv ? nv : 1) * sizeof(tq_tensor));
    if (st == TFMQ_OK && any) {
        *changed = true;
        st = tq_graph_compact(g);
    }
    return st;
}
