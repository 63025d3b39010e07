/* lrn.c: shape inference for LRN (local response normalisation across channels): X [N, C, ...]
 * of rank >= 2; Y has X's shape. Attribute size is required and positive. */
#include "backends/ref/ref_compute_util.h"

tfmq_status tq_infer_lrn(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0];
    int64_t size;
    tfmq_status st = tq_attr_int(ctx->node, "size", 0, &size);
    if (st != TFMQ_OK) {
        return st;
    }
    if (size < 1 || size > TQ_RC_ATTR_MAX) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "size %lld invalid (required, >= 1)",
                          (long long)size);
    }
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
        y->dims[i] = x->dims[i];
    }
    return TFMQ_OK;
}
