/* reduce.c: validation and shape inference of the Reduce* ops. Axes come from the `axes`
 * attribute (ReduceSum opset < 13, the others < 18) or from the optional input 1 (later
 * opsets); whichever the node has is used. keepdims keeps reduced dims as 1; empty axes reduce
 * everything unless noop_with_empty_axes. Axes that are data unknown at plan time leave the
 * affected dims (or the rank, without keepdims) unknown. */
#include "ir/ir.h"

static bool reduce_dtype_ok(uint32_t op, tfmq_dtype dt)
{
    if (tq_dtype_is_float(dt) || tq_dtype_is_int(dt)) {
        return true;
    }
    return dt == TFMQ_DTYPE_BOOL && (op == TQ_OP_REDUCE_MAX || op == TQ_OP_REDUCE_MIN);
}

tfmq_status tq_infer_reduce(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0];
    const tq_tensor *ta = ctx->n_in > 1 ? ctx->in[1] : NULL;
    tq_tensor *y = ctx->out[0];
    const uint32_t op = ctx->node->op;
    tfmq_status st;
    int64_t keepdims, noop;
    if (!x || !y) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "missing input or output");
    }
    if (!reduce_dtype_ok(op, x->dtype)) {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "input dtype %s is not supported",
                          tfmq_dtype_name(x->dtype));
    }
    if ((st = tq_attr_int(ctx->node, "keepdims", 1, &keepdims)) != TFMQ_OK ||
        (st = tq_attr_int(ctx->node, "noop_with_empty_axes", 0, &noop)) != TFMQ_OK) {
        return st;
    }
    y->dtype = x->dtype;
    int64_t axes[TQ_MAX_RANK];
    size_t n_axes = 0;
    if (ta) {
        if (ta->dtype != TFMQ_DTYPE_INT64 && ta->dtype != TFMQ_DTYPE_INT32) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "axes must be int64, not %s",
                              tfmq_dtype_name(ta->dtype));
        }
        bool empty = tq_tensor_shape_known(ta) && tq_tensor_numel(ta) == 0;
        if (!ta->data && !empty) {
            /* axes are data not known yet */
            if (keepdims && x->rank >= 0) {
                y->rank = x->rank;
                for (int32_t i = 0; i < x->rank; i++) {
                    y->dims[i] = x->dims[i] == 1 ? 1 : -1;
                }
            } else {
                y->rank = -1;
            }
            return TFMQ_OK;
        }
        if (!empty && (st = tq_read_ints(ctx, ta, axes, TQ_MAX_RANK, &n_axes)) != TFMQ_OK) {
            return st;
        }
    } else {
        const int64_t *av;
        if ((st = tq_attr_ints(ctx->node, "axes", &av, &n_axes)) != TFMQ_OK) {
            return st;
        }
        if (n_axes > TQ_MAX_RANK) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "%zu axes", n_axes);
        }
        for (size_t i = 0; i < n_axes; i++) {
            axes[i] = av[i];
        }
    }
    if (x->rank < 0) {
        y->rank = -1;
        return TFMQ_OK;
    }
    bool red[TQ_MAX_RANK] = {false};
    for (size_t i = 0; i < n_axes; i++) {
        int32_t a;
        if ((st = tq_norm_axis(ctx, axes[i], x->rank, false, &a)) != TFMQ_OK) {
            return st;
        }
        if (red[a]) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "axis %lld is repeated",
                              (long long)axes[i]);
        }
        red[a] = true;
    }
    if (n_axes == 0 && !noop) {
        for (int32_t i = 0; i < x->rank; i++) {
            red[i] = true;
        }
    }
    int32_t r = 0;
    for (int32_t i = 0; i < x->rank; i++) {
        if (!red[i]) {
            y->dims[r++] = x->dims[i];
        } else if (keepdims) {
            y->dims[r++] = 1;
        }
    }
    y->rank = r;
    return TFMQ_OK;
}
