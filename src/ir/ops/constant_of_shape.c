/* constant_of_shape.c: ConstantOfShape shape inference (ONNX ConstantOfShape-9/20/21): the
 * shape is input 1's values (an empty shape gives a scalar); dtype and fill value come from the
 * one-element tensor attribute `value` (default float32 0). */
#include "ir/ops/shape_ops.h"

tfmq_status tq_infer_constant_of_shape(tq_op_ctx *ctx)
{
    tq_tensor *y = ctx->out[0];
    int64_t shape[TQ_MAX_RANK], len;
    tq_ints_state state;
    tfmq_dtype dt = TFMQ_DTYPE_FLOAT32;
    const tq_attr *v = tq_node_attr(ctx->node, "value");
    if (v) {
        if (v->type != TQ_ATTR_TENSOR || !v->tensor) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "attribute 'value' must be a tensor");
        }
        size_t es;
        tfmq_status st = tq_shape_esize(ctx, v->tensor->dtype, &es);
        if (st != TFMQ_OK) {
            return st;
        }
        if (!tq_tensor_shape_known(v->tensor) || tq_tensor_numel(v->tensor) != 1 ||
            !v->tensor->data) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "'value' must hold one element");
        }
        dt = v->tensor->dtype;
    }
    tfmq_status st = tq_shape_ints(ctx, 0, NULL, shape, TQ_MAX_RANK, &len, &state);
    if (st != TFMQ_OK) {
        return st;
    }
    if (len > TQ_MAX_RANK) {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "output rank %lld, at most %d supported",
                          (long long)len, TQ_MAX_RANK);
    }
    tq_shape_set_unknown(y, dt, (int32_t)len);
    if (state != TQ_INTS_KNOWN) {
        return TFMQ_OK;
    }
    for (int64_t i = 0; i < len; i++) {
        if (shape[i] < 0) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "shape[%lld] is %lld", (long long)i,
                              (long long)shape[i]);
        }
        y->dims[i] = shape[i];
    }
    return tq_shape_check(ctx, y);
}
