/* control.c: shape inference of the control-flow ops If and Loop. Their output shapes depend on
 * which branch runs or how many iterations happen, so they are left unknown (the executor then
 * infers downstream shapes at run time); dtypes come from the subgraph outputs. */
#include "ir/ir.h"

static const tq_graph *tq_graph_attr(const tq_op_ctx *ctx, const char *name)
{
    const tq_attr *a = tq_node_attr(ctx->node, name);
    return a && a->type == TQ_ATTR_GRAPH ? a->graph : NULL;
}

tfmq_status tq_infer_if(tq_op_ctx *ctx)
{
    const tq_graph *then_g = tq_graph_attr(ctx, "then_branch");
    const tq_graph *else_g = tq_graph_attr(ctx, "else_branch");
    if (!then_g || !else_g) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "then_branch and else_branch are required");
    }
    if (then_g->n_outputs != (size_t)ctx->n_out || else_g->n_outputs != (size_t)ctx->n_out) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG,
                          "branches give %zu and %zu outputs, the node has %d",
                          then_g->n_outputs, else_g->n_outputs, ctx->n_out);
    }
    if (ctx->in[0]->dtype != TFMQ_DTYPE_BOOL || tq_tensor_numel(ctx->in[0]) != 1) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "cond must be a single bool");
    }
    for (int32_t k = 0; k < ctx->n_out; k++) {
        if (ctx->out[k]) {
            ctx->out[k]->dtype = then_g->values[then_g->outputs[k]].t.dtype;
            ctx->out[k]->rank = -1;
        }
    }
    return TFMQ_OK;
}

tfmq_status tq_infer_loop(tq_op_ctx *ctx)
{
    const tq_graph *body = tq_graph_attr(ctx, "body");
    if (!body) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "body is required");
    }
    int32_t n_carried = ctx->n_in - 2;
    if (body->n_inputs != (size_t)n_carried + 2 || body->n_outputs < (size_t)n_carried + 1 ||
        (size_t)ctx->n_out != body->n_outputs - 1) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG,
                          "body has %zu inputs and %zu outputs for %d loop-carried values and "
                          "%d node outputs",
                          body->n_inputs, body->n_outputs, n_carried, ctx->n_out);
    }
    if (ctx->in[0] && tq_tensor_numel(ctx->in[0]) != 1) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "M must be a scalar");
    }
    if (ctx->in[1] && tq_tensor_numel(ctx->in[1]) != 1) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "cond must be a scalar");
    }
    for (int32_t k = 0; k < ctx->n_out; k++) {
        if (ctx->out[k]) {
            ctx->out[k]->dtype = body->values[body->outputs[k + 1]].t.dtype;
            if (k < n_carried && ctx->in[k + 2]) {
                ctx->out[k]->dtype = ctx->in[k + 2]->dtype;
            }
            ctx->out[k]->rank = -1;
        }
    }
    return TFMQ_OK;
}
