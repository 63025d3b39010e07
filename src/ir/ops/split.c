/* split.c: Split attribute decoding and shape inference (ONNX Split-2/11/13/18). Sizes come
 * from the `split` attribute (< 13) or input 1 (>= 13); without them the axis is cut into
 * n_out equal parts, the last one smaller when it does not divide (num_outputs, opset 18). */
#include "ir/ops/shape_ops.h"

tfmq_status tq_split_params(const tq_op_ctx *ctx, int32_t *axis_out, int64_t *sizes)
{
    const tq_tensor *x = ctx->in[0];
    int32_t n = ctx->n_out;
    int64_t axis, num_outputs, len;
    int64_t split[TQ_MAX_IO];
    tq_ints_state state;
    tfmq_status st = tq_attr_int(ctx->node, "axis", 0, &axis);
    if (st == TFMQ_OK) {
        st = tq_attr_int(ctx->node, "num_outputs", 0, &num_outputs);
    }
    if (st == TFMQ_OK) {
        st = tq_norm_axis(ctx, axis, x->rank, false, axis_out);
    }
    if (st == TFMQ_OK) {
        st = tq_shape_ints(ctx, 1, "split", split, TQ_MAX_IO, &len, &state);
    }
    if (st != TFMQ_OK) {
        return st;
    }
    int64_t d = x->dims[*axis_out];
    for (int32_t i = 0; i < n; i++) {
        sizes[i] = -1;
    }
    if (num_outputs != 0 && num_outputs != n) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG,
                          "num_outputs is %lld but the node has %d outputs", (long long)num_outputs,
                          n);
    }
    if (state == TQ_INTS_UNKNOWN) {
        if (n == 1) {
            sizes[0] = d;
        }
        return TFMQ_OK;
    }
    if (state == TQ_INTS_KNOWN && len == 0) {
        state = TQ_INTS_ABSENT; /* an empty split list means "equal parts" */
    }
    if (state == TQ_INTS_KNOWN) {
        if (len != n) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "split has %lld entries for %d outputs",
                              (long long)len, n);
        }
        int64_t sum = 0;
        for (int32_t i = 0; i < n; i++) {
            if (split[i] < 0 || __builtin_add_overflow(sum, split[i], &sum)) {
                return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "split[%d] is %lld", i,
                                  (long long)split[i]);
            }
            sizes[i] = split[i];
        }
        if (d >= 0 && sum != d) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "split sums to %lld, axis has %lld",
                              (long long)sum, (long long)d);
        }
        return TFMQ_OK;
    }
    if (d < 0) {
        return TFMQ_OK;
    }
    int64_t chunk = (d + n - 1) / n, last = d - chunk * (n - 1);
    if (last < 0) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "cannot split %lld elements into %d parts",
                          (long long)d, n);
    }
    for (int32_t i = 0; i < n; i++) {
        sizes[i] = i == n - 1 ? last : chunk;
    }
    return TFMQ_OK;
}

tfmq_status tq_infer_split(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0];
    int64_t sizes[TQ_MAX_IO];
    int32_t axis;
    if (x->rank < 0) {
        for (int32_t i = 0; i < ctx->n_out; i++) {
            if (ctx->out[i]) {
                tq_shape_set_unknown(ctx->out[i], x->dtype, -1);
            }
        }
        return TFMQ_OK;
    }
    tfmq_status st = tq_split_params(ctx, &axis, sizes);
    if (st != TFMQ_OK) {
        return st;
    }
    for (int32_t i = 0; i < ctx->n_out; i++) {
        tq_tensor *y = ctx->out[i];
        if (!y) {
            continue;
        }
        tq_shape_set_unknown(y, x->dtype, x->rank);
        for (int32_t k = 0; k < x->rank; k++) {
            y->dims[k] = k == axis ? sizes[i] : x->dims[k];
        }
        st = tq_shape_check(ctx, y);
        if (st != TFMQ_OK) {
            return st;
        }
    }
    return TFMQ_OK;
}
