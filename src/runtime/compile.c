/* compile.c: the graph a session runs. Graphs with QuantizeLinear/DequantizeLinear get a clone
 * (constants shared with the model) whose QDQ patterns are lowered onto integer kernels (and, on
 * the fast backends, whose float layer normalizations are fused); float
 * graphs get, when asked (fast CPU backend), a clone with FP16/BF16 rounding pairs dropped
 * (passes/strip_half.c) and the default passes applied (folding and fusion: passes/manager.c);
 * others run as they are. Compilation happens per session, so the
 * model stays immutable. */
#include "runtime/compile.h"

#include "ir/rewrite.h"
#include "passes/lower_qdq.h"
#include "passes/pass.h"

static bool tq_has_qdq(const tq_graph *g)
{
    for (size_t i = 0; i < g->n_nodes; i++) {
        uint32_t op = g->nodes[i].op;
        if (op == TQ_OP_QUANTIZE_LINEAR || op == TQ_OP_DEQUANTIZE_LINEAR) {
            return true;
        }
    }
    return false;
}

tfmq_status tq_compile(const tq_graph *src, bool fuse, tq_arena *arena,
                       const tfmq_allocator *alloc, const tq_graph **out, bool *owned)
{
    *out = src;
    *owned = false;
    bool qdq = tq_has_qdq(src);
    if (!qdq && !fuse) {
        return TFMQ_OK;
    }
    tq_graph *g = NULL;
    tfmq_status st = tq_graph_clone(src, arena, alloc, &g);
    if (st != TFMQ_OK) {
        return st;
    }
    st = qdq ? tq_pass_lower_qdq(g, NULL) : tq_pass_run(g, "strip_half,default");
    if (st == TFMQ_OK && qdq && fuse) {
        /* the float layer normalizations an INT8 transformer keeps between its integer ops
         * (the other fusions would break the QDQ patterns, which are lowered by now anyway:
         * this one touches float ops only) */
        st = tq_pass_run(g, "fuse_layernorm");
    }
    if (st == TFMQ_OK && qdq) {
        /* what nothing reads: e.g. the Q/DQ pair tfmq_quantize leaves on a graph output (the
         * output itself stays float), which lowering turned into a second, integer Gemm */
        bool changed = false;
        st = tq_pass_dce(g, &changed);
    }
    if (st != TFMQ_OK) {
        tq_graph_destroy(g);
        return st;
    }
    *out = g;
    *owned = true;
    return TFMQ_OK;
}
