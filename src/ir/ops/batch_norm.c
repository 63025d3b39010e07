/* batch_norm.c: shape inference for BatchNormalization: Y has X's shape [N, C, ...]; the
 * optional running mean/variance outputs (training mode, or the old opsets' extra outputs)
 * are [C]. Parameters are [C], or C x D1 x ... with the pre-opset-9 attribute spatial = 0. */
#include "backends/ref/ref_compute_util.h"

tfmq_status tq_infer_batch_norm(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0];
    tfmq_status st;
    int64_t spatial = 1;
    if (ctx->opset < 9 && (st = tq_attr_int(ctx->node, "spatial", 1, &spatial)) != TFMQ_OK) {
        return st;
    }
    if (!tq_rc_is_float(x->dtype)) {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "dtype %s not supported",
                          tfmq_dtype_name(x->dtype));
    }
    if (x->rank >= 0 && x->rank < 2) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "input has rank %d, expected >= 2",
                          x->rank);
    }
    for (int32_t i = 1; i < 5; i++) {
        const tq_tensor *p = ctx->in[i];
        if (!tq_rc_is_float(p->dtype)) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "input %d has dtype %s", i,
                              tfmq_dtype_name(p->dtype));
        }
        if (spatial && p->rank >= 0 && p->rank != 1) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "input %d must be 1-D, got rank %d", i,
                              p->rank);
        }
        if (spatial && x->rank >= 2 && x->dims[1] >= 0 && p->rank == 1 && p->dims[0] >= 0 &&
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
    for (int32_t k = 1; k < 3; k++) {
        tq_tensor *o = ctx->out[k];
        if (!o) {
            continue;
        }
        const tq_tensor *src = ctx->in[2 + k]; /* running mean / var */
        o->dtype = src->dtype;
        o->rank = src->rank;
        for (int32_t i = 0; i < src->rank; i++) {
            o->dims[i] = src->dims[i];
        }
    }
    return TFMQ_OK;
}
