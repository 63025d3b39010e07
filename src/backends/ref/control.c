/* control.c: reference kernels of If and Loop. They run their body subgraphs through the
 * executor (tq_exec_run_subgraph) and copy the results into their own outputs, whose shapes are
 * only known after running (tq_exec_resize_output). Loop-carried values are copied out of the
 * body after each iteration, because the body's buffers are reused by the next iteration. */
#include <string.h>

#include "ir/ir.h"

static const tq_graph *tq_graph_attr(const tq_op_ctx *ctx, const char *name)
{
    const tq_attr *a = tq_node_attr(ctx->node, name);
    return a && a->type == TQ_ATTR_GRAPH ? a->graph : NULL;
}

/* Copy tensor src into output k (resized to src's shape). */
static tfmq_status tq_copy_to_output(tq_op_ctx *ctx, int32_t k, const tq_tensor *src)
{
    if (!ctx->out[k]) {
        return TFMQ_OK;
    }
    tfmq_status st = tq_exec_resize_output(ctx, k, src->dtype, src->rank, src->dims);
    if (st != TFMQ_OK) {
        return st;
    }
    size_t bytes = 0;
    tq_tensor_bytes(src, &bytes);
    if (bytes) {
        memmove(ctx->out[k]->data, src->data, bytes);
    }
    return TFMQ_OK;
}

tfmq_status tq_ref_if(tq_op_ctx *ctx)
{
    const bool cond = *(const uint8_t *)ctx->in[0]->data != 0;
    const tq_graph *branch = tq_graph_attr(ctx, cond ? "then_branch" : "else_branch");
    const tq_tensor *outs[TQ_MAX_IO];
    tfmq_status st = tq_exec_run_subgraph(ctx, branch, NULL, 0, outs, branch->n_outputs);
    if (st != TFMQ_OK) {
        return st;
    }
    for (int32_t k = 0; k < ctx->n_out; k++) {
        st = tq_copy_to_output(ctx, k, outs[k]);
        if (st != TFMQ_OK) {
            return st;
        }
    }
    return TFMQ_OK;
}

/* Iterations allowed before a Loop with no trip count is considered runaway. */
#define TQ_LOOP_MAX_ITERS ((int64_t)1 << 24)

tfmq_status tq_ref_loop(tq_op_ctx *ctx)
{
    const tq_graph *body = tq_graph_attr(ctx, "body");
    const int32_t n_carried = ctx->n_in - 2;
    const int32_t n_scan = (int32_t)body->n_outputs - 1 - n_carried;
    int64_t max_trip = INT64_MAX;
    bool cond = true;
    tfmq_status st;

    if (ctx->in[0]) {
        max_trip = tq_load_i64(ctx->in[0]->dtype, ctx->in[0]->data, 0);
    }
    if (ctx->in[1]) {
        cond = tq_load_i64(ctx->in[1]->dtype, ctx->in[1]->data, 0) != 0;
    }
    /* carried values start as the inputs: copy them into the outputs, which then feed the body */
    for (int32_t k = 0; k < n_carried; k++) {
        if (!ctx->in[k + 2]) {
            return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "absent loop-carried input %d", k);
        }
        if (!ctx->out[k]) {
            return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "absent loop-carried output %d", k);
        }
        st = tq_copy_to_output(ctx, k, ctx->in[k + 2]);
        if (st != TFMQ_OK) {
            return st;
        }
    }
    int64_t iter = 0;
    uint8_t cond_val = cond;
    tq_tensor t_iter, t_cond;
    memset(&t_iter, 0, sizeof(t_iter));
    memset(&t_cond, 0, sizeof(t_cond));
    t_iter.dtype = TFMQ_DTYPE_INT64;
    t_iter.rank = 0;
    t_iter.data = &iter;
    t_cond.dtype = TFMQ_DTYPE_BOOL;
    t_cond.rank = 0;
    t_cond.data = &cond_val;
    int64_t scan_rows = 0;
    while (iter < max_trip && cond_val) {
        if (iter >= TQ_LOOP_MAX_ITERS) {
            return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "more than %lld iterations",
                              (long long)TQ_LOOP_MAX_ITERS);
        }
        const tq_tensor *ins[TQ_MAX_IO];
        const tq_tensor *outs[TQ_MAX_IO];
        ins[0] = &t_iter;
        ins[1] = &t_cond;
        for (int32_t k = 0; k < n_carried; k++) {
            ins[k + 2] = ctx->out[k];
        }
        st = tq_exec_run_subgraph(ctx, body, ins, (size_t)n_carried + 2, outs, body->n_outputs);
        if (st != TFMQ_OK) {
            return st;
        }
        cond_val = tq_load_i64(outs[0]->dtype, outs[0]->data, 0) != 0;
        for (int32_t k = 0; k < n_carried; k++) {
            st = tq_copy_to_output(ctx, k, outs[k + 1]);
            if (st != TFMQ_OK) {
                return st;
            }
        }
        for (int32_t s = 0; s < n_scan; s++) {
            int32_t k = n_carried + s;
            const tq_tensor *src = outs[1 + n_carried + s];
            if (!ctx->out[k]) {
                continue;
            }
            if (src->rank + 1 > TQ_MAX_RANK) {
                return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "scan output rank too large");
            }
            if (scan_rows > 0) {
                const tq_tensor *cur = ctx->out[k];
                bool same = cur->rank == src->rank + 1 && cur->dtype == src->dtype;
                for (int32_t d = 0; same && d < src->rank; d++) {
                    same = cur->dims[d + 1] == src->dims[d];
                }
                if (!same) {
                    return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG,
                                      "scan output %d changes shape between iterations", s);
                }
            }
            int64_t dims[TQ_MAX_RANK];
            dims[0] = scan_rows + 1;
            for (int32_t d = 0; d < src->rank; d++) {
                dims[d + 1] = src->dims[d];
            }
            size_t row_bytes = 0;
            tq_tensor_bytes(src, &row_bytes);
            st = tq_exec_resize_output(ctx, k, src->dtype, src->rank + 1, dims);
            if (st != TFMQ_OK) {
                return st;
            }
            if (row_bytes) {
                memcpy((char *)ctx->out[k]->data + row_bytes * (size_t)scan_rows, src->data,
                       row_bytes);
            }
        }
        scan_rows++;
        iter++;
    }
    if (scan_rows == 0) { /* no iteration: empty scan outputs */
        for (int32_t s = 0; s < n_scan; s++) {
            int32_t k = n_carried + s;
            if (ctx->out[k]) {
                int64_t zero = 0;
                st = tq_exec_resize_output(ctx, k,
                                           body->values[body->outputs[1 + n_carried + s]].t.dtype,
                                           1, &zero);
                if (st != TFMQ_OK) {
                    return st;
                }
            }
        }
    }
    return TFMQ_OK;
}
