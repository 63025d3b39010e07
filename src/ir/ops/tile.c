/* tile.c: Tile shape inference (ONNX Tile-6/13): out.dims[i] = in.dims[i] * repeats[i], with
 * one non-negative repeat per input dim (input 1). */
#include "ir/ops/shape_ops.h"

tfmq_status tq_infer_tile(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0];
    tq_tensor *y = ctx->out[0];
    int64_t rep[TQ_MAX_RANK], len;
    tq_ints_state state;
    tfmq_status st = tq_shape_ints(ctx, 1, NULL, rep, TQ_MAX_RANK, &len, &state);
    if (st != TFMQ_OK) {
        return st;
    }
    if (state == TQ_INTS_ABSENT) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "the repeats input is missing");
    }
    int32_t r = x->rank >= 0 ? x->rank : len >= 0 && len <= TQ_MAX_RANK ? (int32_t)len : -1;
    tq_shape_set_unknown(y, x->dtype, r);
    if (r < 0) {
        return TFMQ_OK;
    }
    if (len >= 0 && len != r) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "repeats has %lld entries for rank %d",
                          (long long)len, r);
    }
    if (state != TQ_INTS_KNOWN) {
        return TFMQ_OK;
    }
    for (int32_t i = 0; i < r; i++) {
        if (rep[i] < 0) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "repeats[%d] is %lld", i,
                              (long long)rep[i]);
        }
        int64_t d = x->rank >= 0 ? x->dims[i] : -1;
        if (rep[i] == 0 || d == 0) {
            y->dims[i] = 0;
        } else if (d > 0 && !tq_mul_i64(d, rep[i], &y->dims[i])) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "tiled dim %d overflows", i);
        }
    }
    return tq_shape_check(ctx, y);
}
