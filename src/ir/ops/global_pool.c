/* global_pool.c: shape inference for GlobalAveragePool and GlobalMaxPool: X [N, C, D...]
 * (rank >= 2); Y is [N, C, 1, ...] with X's rank. */
#include "backends/ref/ref_compute_util.h"

tfmq_status tq_infer_global_pool(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0];
    if (!tq_rc_is_float(x->dtype)) {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "dtype %s not supported",
                          tfmq_dtype_name(x->dtype));
    }
    if (x->rank >= 0 && x->rank < 2) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "input has rank %d, expected >= 2",
                          x->rank);
    }
    tq_tensor *y = ctx->out[0];
    y->dtype = x->dtype;
    y->rank = x->rank;
    for (int32_t i = 0; i < x->rank; i++) {
        y->dims[i] = i < 2 ? x->dims[i] : 1;
    }
    return TFMQ_OK;
}
