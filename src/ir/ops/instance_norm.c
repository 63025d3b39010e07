/* instance_norm.c: shape inference for InstanceNormalization: X [N, C, D...] (rank >= 2),
 * scale [C], B [C]; Y has X's shape and dtype. */
#include "backends/ref/ref_compute_util.h"

tfmq_status tq_infer_instance_norm(tq_op_ctx *ctx)
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
    for (int32_t i = 1; i < 3; i++) {
        const tq_tensor *p = ctx->in[i];
        if (p->dtype != x->dtype) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "input %d has dtype %s", i,
                              tfmq_dtype_name(p->dtype));
        }
        if (p->rank >= 0 && p->rank != 1) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "input %d must be 1-D", i);
        }
        if (x->rank >= 2 && x->dims[1] >= 0 && p->rank == 1 && p->dims[0] >= 0 &&
            p->dims[0] != x->dims[1]) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "input %d has %lld entries, expected %lld",
                              i, (long long)p->dims[0], (long long)x->dims[1]);
        }
    }
    tq_tensor *y = ctx->out[0];
    y->dtype = x->dtype;
    y->rank = x->rank;
    for (int32_t i = 0; i < x->rank; i++) {
        y->dims[i] = x->dims[i];
    }
    return TFMQ_OK;
}
