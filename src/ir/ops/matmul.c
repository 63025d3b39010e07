/* matmul.c: shape inference for MatMul (numpy matmul semantics): a 1-D first operand is a row
 * [1, K] and a 1-D second operand a column [K, 1], the added dim being dropped from the result;
 * leading (batch) dims broadcast. Float and integer dtypes; both operands share one dtype. */
#include "backends/ref/ref_compute_util.h"

tfmq_status tq_infer_matmul(tq_op_ctx *ctx)
{
    const tq_tensor *a = ctx->in[0], *b = ctx->in[1];
    tq_tensor *y = ctx->out[0];
    if (a->dtype != b->dtype) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "operands have dtypes %s and %s",
                          tfmq_dtype_name(a->dtype), tfmq_dtype_name(b->dtype));
    }
    if (!tq_rc_is_float(a->dtype) && !tq_dtype_is_int(a->dtype)) {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "dtype %s not supported",
                          tfmq_dtype_name(a->dtype));
    }
    y->dtype = a->dtype;
    if (a->rank < 0 || b->rank < 0) {
        y->rank = -1;
        return TFMQ_OK;
    }
    if (a->rank == 0 || b->rank == 0) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "operands must have rank >= 1");
    }
    /* batch parts as tensors for tq_broadcast_shape */
    tq_tensor ba = {0}, bb = {0}, bo = {0};
    ba.rank = a->rank > 2 ? a->rank - 2 : 0;
    bb.rank = b->rank > 2 ? b->rank - 2 : 0;
    for (int32_t i = 0; i < ba.rank; i++) {
        ba.dims[i] = a->dims[i];
    }
    for (int32_t i = 0; i < bb.rank; i++) {
        bb.dims[i] = b->dims[i];
    }
    tfmq_status st = tq_broadcast_shape(ctx, &ba, &bb, &bo);
    if (st != TFMQ_OK) {
        return st;
    }
    int64_t ka = a->dims[a->rank - 1];
    int64_t kb = b->rank == 1 ? b->dims[0] : b->dims[b->rank - 2];
    if (ka >= 0 && kb >= 0 && ka != kb) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "inner dims differ: %lld vs %lld",
                          (long long)ka, (long long)kb);
    }
    int32_t r = bo.rank;
    if (r + 2 > TQ_MAX_RANK) {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "rank too large");
    }
    for (int32_t i = 0; i < bo.rank; i++) {
        y->dims[i] = bo.dims[i];
    }
    if (a->rank >= 2) {
        y->dims[r++] = a->dims[a->rank - 2];
    }
    if (b->rank >= 2) {
        y->dims[r++] = b->dims[b->rank - 1];
    }
    y->rank = r;
    ctx->scratch_bytes = tq_rc_matmul_scratch(ctx);
    return TFMQ_OK;
}
