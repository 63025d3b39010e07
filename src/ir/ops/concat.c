/* concat.c: Concat shape inference (ONNX Concat-4/11/13): all inputs share dtype, rank and every
 * dim except `axis` (negative from opset 11), whose sizes add up. Unknown dims of one input are
 * filled from another input where possible. */
#include "ir/ops/shape_ops.h"

tfmq_status tq_infer_concat(tq_op_ctx *ctx)
{
    tq_tensor *y = ctx->out[0];
    const tq_attr *a = tq_node_attr(ctx->node, "axis");
    int64_t axis;
    int32_t rank = -1, ax;
    tfmq_status st;
    if (!a) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "attribute 'axis' is required");
    }
    st = tq_attr_int(ctx->node, "axis", 0, &axis);
    if (st != TFMQ_OK) {
        return st;
    }
    for (int32_t k = 0; k < ctx->n_in; k++) {
        const tq_tensor *t = ctx->in[k];
        if (!t) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "input %d is missing", k);
        }
        if (t->dtype != ctx->in[0]->dtype) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "input %d is %s, input 0 is %s", k,
                              tfmq_dtype_name(t->dtype), tfmq_dtype_name(ctx->in[0]->dtype));
        }
        if (t->rank >= 0) {
            if (rank >= 0 && t->rank != rank) {
                return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "input %d has rank %d, expected %d", k,
                                  t->rank, rank);
            }
            rank = t->rank;
        }
    }
    tq_shape_set_unknown(y, ctx->in[0]->dtype, rank);
    if (rank < 0) {
        return TFMQ_OK;
    }
    if (rank == 0) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "cannot concatenate scalars");
    }
    st = tq_norm_axis(ctx, axis, rank, false, &ax);
    if (st != TFMQ_OK) {
        return st;
    }
    int64_t sum = 0;
    for (int32_t k = 0; k < ctx->n_in; k++) {
        const tq_tensor *t = ctx->in[k];
        if (t->rank < 0) {
            sum = -1;
            continue;
        }
        for (int32_t i = 0; i < rank; i++) {
            int64_t d = t->dims[i];
            if (i == ax) {
                if (d < 0 || sum < 0) {
                    sum = -1;
                } else if (__builtin_add_overflow(sum, d, &sum)) {
                    return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "concatenated size overflows");
                }
            } else if (d >= 0) {
                if (y->dims[i] >= 0 && y->dims[i] != d) {
                    return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG,
                                      "input %d has dim %d = %lld, expected %lld", k, i,
                                      (long long)d, (long long)y->dims[i]);
                }
                y->dims[i] = d;
            }
        }
    }
    y->dims[ax] = sum;
    return tq_shape_check(ctx, y);
}
