/* layer_norm.c: shape inference for LayerNormalization (opset 17): normalises X over the dims
 * [axis, rank); Scale and optional B broadcast to X. Y has X's shape; the optional Mean and
 * InvStdDev have X's rank with dims from axis on set to 1, in the stash_type dtype. */
#include "backends/ref/ref_compute_util.h"

tfmq_status tq_infer_layer_norm(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0];
    tfmq_status st;
    int64_t axis, stash;
    if ((st = tq_attr_int(ctx->node, "axis", -1, &axis)) != TFMQ_OK ||
        (st = tq_attr_int(ctx->node, "stash_type", 1, &stash)) != TFMQ_OK) {
        return st;
    }
    if (!tq_rc_is_float(x->dtype)) {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "dtype %s not supported",
                          tfmq_dtype_name(x->dtype));
    }
    for (int32_t i = 1; i < 3; i++) {
        const tq_tensor *p = ctx->in[i];
        if (!p) {
            continue;
        }
        if (p->dtype != x->dtype) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "input %d has dtype %s", i,
                              tfmq_dtype_name(p->dtype));
        }
        if (x->rank >= 0 && p->rank > x->rank) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "input %d has rank %d > %d", i,
                              p->rank, x->rank);
        }
        if (x->rank >= 0 && p->rank >= 0) {
            for (int32_t d = 0; d < p->rank; d++) {
                int64_t pd = p->dims[d], xd = x->dims[x->rank - p->rank + d];
                if (pd >= 0 && xd >= 0 && pd != 1 && pd != xd) {
                    return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG,
                                      "input %d does not broadcast to the input", i);
                }
            }
        }
    }
    tfmq_dtype u = tq_rc_is_float((tfmq_dtype)stash) ? (tfmq_dtype)stash : x->dtype;
    tq_tensor *y = ctx->out[0];
    y->dtype = x->dtype;
    y->rank = x->rank;
    int32_t ax = 0;
    if (x->rank >= 0) {
        if ((st = tq_norm_axis(ctx, axis, x->rank, false, &ax)) != TFMQ_OK) {
            return st;
        }
    }
    for (int32_t i = 0; i < x->rank; i++) {
        y->dims[i] = x->dims[i];
    }
    for (int32_t k = 1; k < 3; k++) {
        tq_tensor *o = ctx->out[k];
        if (!o) {
            continue;
        }
        o->dtype = u;
        o->rank = x->rank;
        for (int32_t i = 0; i < x->rank; i++) {
            o->dims[i] = i < ax ? x->dims[i] : 1;
        }
    }
    return TFMQ_OK;
}
