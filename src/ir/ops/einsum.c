/* einsum.c: shape inference for Einsum: parses the equation (explicit "->" output or numpy's
 * implicit one, "..." broadcasting, repeated labels for diagonals) with tq_rc_einsum_parse and
 * gives the output the sizes of its labels. All inputs share one dtype. */
#include "backends/ref/ref_compute_util.h"

tfmq_status tq_infer_einsum(tq_op_ctx *ctx)
{
    tq_tensor *y = ctx->out[0];
    tfmq_dtype dt = ctx->in[0]->dtype;
    for (int32_t i = 0; i < ctx->n_in; i++) {
        if (!ctx->in[i]) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "input %d is missing", i);
        }
        if (ctx->in[i]->dtype != dt) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "inputs must share one dtype");
        }
    }
    if (!tq_rc_is_float(dt) && !tq_dtype_is_int(dt)) {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "dtype %s not supported",
                          tfmq_dtype_name(dt));
    }
    y->dtype = dt;
    for (int32_t i = 0; i < ctx->n_in; i++) {
        if (ctx->in[i]->rank < 0) {
            y->rank = -1;
            return TFMQ_OK;
        }
    }
    tq_rc_einsum e;
    tfmq_status st = tq_rc_einsum_parse(ctx, &e);
    if (st != TFMQ_OK) {
        return st;
    }
    y->rank = e.out_rank;
    for (int32_t i = 0; i < e.out_rank; i++) {
        y->dims[i] = e.size[e.out_label[i]];
    }
    ctx->scratch_bytes = tq_rc_einsum_scratch(ctx);
    return TFMQ_OK;
}
