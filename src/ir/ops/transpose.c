/* transpose.c: Transpose attribute validation and shape inference (ONNX Transpose-1/13/21):
 * out.dims[i] = in.dims[perm[i]]; perm defaults to the reversed axes. */
#include "ir/ops/shape_ops.h"

tfmq_status tq_transpose_perm(const tq_op_ctx *ctx, int32_t rank, int32_t *perm)
{
    const int64_t *p = NULL;
    size_t n = 0;
    tfmq_status st = tq_attr_ints(ctx->node, "perm", &p, &n);
    if (st != TFMQ_OK) {
        return st;
    }
    if (!p) {
        for (int32_t i = 0; i < rank; i++) {
            perm[i] = rank - 1 - i;
        }
        return TFMQ_OK;
    }
    if (n != (size_t)rank) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "perm has %zu entries for rank %d", n, rank);
    }
    uint32_t seen = 0;
    for (int32_t i = 0; i < rank; i++) {
        if (p[i] < 0 || p[i] >= rank || (seen & (1u << p[i]))) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "perm is not a permutation of 0..%d",
                              rank - 1);
        }
        seen |= 1u << p[i];
        perm[i] = (int32_t)p[i];
    }
    return TFMQ_OK;
}

tfmq_status tq_infer_transpose(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0];
    tq_tensor *y = ctx->out[0];
    int32_t perm[TQ_MAX_RANK] = {0};
    if (x->rank < 0) {
        const int64_t *p = NULL;
        size_t n = 0;
        tfmq_status st = tq_attr_ints(ctx->node, "perm", &p, &n);
        if (st != TFMQ_OK) {
            return st;
        }
        if (n > TQ_MAX_RANK) {
            return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "perm has %zu entries", n);
        }
        tq_shape_set_unknown(y, x->dtype, p ? (int32_t)n : -1);
        return TFMQ_OK;
    }
    tfmq_status st = tq_transpose_perm(ctx, x->rank, perm);
    if (st != TFMQ_OK) {
        return st;
    }
    tq_shape_set_unknown(y, x->dtype, x->rank);
    for (int32_t i = 0; i < x->rank; i++) {
        y->dims[i] = x->dims[perm[i]];
    }
    return tq_shape_check(ctx, y);
}
