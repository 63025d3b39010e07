/* topk.c: validation and shape inference of TopK(X, K): outputs Values (X's dtype) and Indices
 * (INT64) with dims[axis] = k. K is data: when it is unknown at plan time that dim stays -1.
 * Attributes axis (-1), largest (1), sorted (1); opset < 10 takes k as an attribute. The kernel's
 * sort scratch (two arrays of n entries) is requested when the axis length is known. */
#include "ir/ir.h"

/* one sort entry of the kernel (backends/ref/topk.c): keep in sync */
#define TOPK_ENTRY_BYTES 24

tfmq_status tq_infer_topk(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0];
    const tq_tensor *tk = ctx->n_in > 1 ? ctx->in[1] : NULL;
    tq_tensor *v = ctx->out[0], *ix = ctx->n_out > 1 ? ctx->out[1] : NULL;
    tfmq_status st;
    int64_t axis, largest, sorted, k = -1;
    if (!x || !v) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "missing input or output");
    }
    if (!tq_dtype_is_float(x->dtype) && !tq_dtype_is_int(x->dtype)) {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "input dtype %s is not supported",
                          tfmq_dtype_name(x->dtype));
    }
    if ((st = tq_attr_int(ctx->node, "axis", -1, &axis)) != TFMQ_OK ||
        (st = tq_attr_int(ctx->node, "largest", 1, &largest)) != TFMQ_OK ||
        (st = tq_attr_int(ctx->node, "sorted", 1, &sorted)) != TFMQ_OK) {
        return st;
    }
    if (tk) {
        if (tk->dtype != TFMQ_DTYPE_INT64 && tk->dtype != TFMQ_DTYPE_INT32) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "K must be int64, not %s",
                              tfmq_dtype_name(tk->dtype));
        }
        if (tk->rank > 1 || (tq_tensor_shape_known(tk) && tq_tensor_numel(tk) != 1)) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "K must hold one value");
        }
        if (tk->data) {
            k = tq_load_i64(tk->dtype, tk->data, 0);
        }
    } else if ((st = tq_attr_int(ctx->node, "k", -1, &k)) != TFMQ_OK) {
        return st;
    } else if (k < 0) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "k is missing");
    }
    if (tk && tk->data && k < 0) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "k %lld is negative", (long long)k);
    }
    v->dtype = x->dtype;
    if (ix) {
        ix->dtype = TFMQ_DTYPE_INT64;
    }
    if (x->rank < 0) {
        v->rank = -1;
        if (ix) {
            ix->rank = -1;
        }
        return TFMQ_OK;
    }
    int32_t a;
    if ((st = tq_norm_axis(ctx, axis, x->rank, false, &a)) != TFMQ_OK) {
        return st;
    }
    const int64_t n = x->dims[a];
    if (k >= 0 && n >= 0 && k > n) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "k %lld exceeds the axis length %lld",
                          (long long)k, (long long)n);
    }
    v->rank = x->rank;
    for (int32_t i = 0; i < x->rank; i++) {
        v->dims[i] = i == a ? k : x->dims[i];
    }
    if (ix) {
        ix->rank = v->rank;
        for (int32_t i = 0; i < x->rank; i++) {
            ix->dims[i] = v->dims[i];
        }
    }
    if (n > 0) {
        size_t bytes;
        if (!tq_mul_size((size_t)n, 2 * TOPK_ENTRY_BYTES, &bytes) || bytes > TQ_MAX_TENSOR_BYTES) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "axis too long");
        }
        if (bytes > ctx->scratch_bytes) {
            ctx->scratch_bytes = bytes;
        }
    }
    return TFMQ_OK;
}
