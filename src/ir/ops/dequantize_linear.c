/* dequantize_linear.c: shape inference for DequantizeLinear: y has x's shape and the scale's
 * dtype (float32 before opset 19). x is uint8, int8, uint16, int16 or int32; the optional zero
 * point has x's dtype. Per-tensor or per-axis scale; blocked (block_size) is unsupported. */
#include "backends/ref/ref_compute_util.h"

tfmq_status tq_infer_dequantize_linear(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0], *s = ctx->in[1], *zp = ctx->in[2];
    tq_tensor *y = ctx->out[0];
    bool ok = x->dtype == TFMQ_DTYPE_UINT8 || x->dtype == TFMQ_DTYPE_INT8 ||
              x->dtype == TFMQ_DTYPE_UINT16 || x->dtype == TFMQ_DTYPE_INT16 ||
              x->dtype == TFMQ_DTYPE_INT32;
    if (!ok) {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "input dtype %s not supported",
                          tfmq_dtype_name(x->dtype));
    }
    if (!tq_rc_is_float(s->dtype)) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "scale dtype %s", tfmq_dtype_name(s->dtype));
    }
    if (zp && zp->dtype != x->dtype) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "zero point dtype %s differs from x's %s",
                          tfmq_dtype_name(zp->dtype), tfmq_dtype_name(x->dtype));
    }
    tq_rc_qparams q;
    tfmq_status st = tq_rc_qparams_get(ctx, &q);
    if (st != TFMQ_OK) {
        return st;
    }
    y->dtype = s->dtype;
    y->rank = x->rank;
    for (int32_t i = 0; i < x->rank; i++) {
        y->dims[i] = x->dims[i];
    }
    return TFMQ_OK;
}
