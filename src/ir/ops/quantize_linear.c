/* quantize_linear.c: shape inference for QuantizeLinear: y has x's shape; its dtype is the
 * zero point's (uint8, int8, uint16, int16), else output_dtype (opset 21), else uint8.
 * Per-tensor or per-axis scale; blocked quantization (opset 21 block_size) is unsupported. */
#include "backends/ref/ref_compute_util.h"

static bool ql_out_ok(tfmq_dtype dt)
{
    return dt == TFMQ_DTYPE_UINT8 || dt == TFMQ_DTYPE_INT8 || dt == TFMQ_DTYPE_UINT16 ||
           dt == TFMQ_DTYPE_INT16;
}

tfmq_status tq_infer_quantize_linear(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0], *s = ctx->in[1], *zp = ctx->in[2];
    tq_tensor *y = ctx->out[0];
    tfmq_status st;
    if (!tq_rc_is_float(x->dtype) && x->dtype != TFMQ_DTYPE_INT32) {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "input dtype %s not supported",
                          tfmq_dtype_name(x->dtype));
    }
    if (!tq_rc_is_float(s->dtype)) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "scale dtype %s", tfmq_dtype_name(s->dtype));
    }
    tfmq_dtype out = TFMQ_DTYPE_UINT8;
    int64_t odt = 0;
    if ((st = tq_attr_int(ctx->node, "output_dtype", 0, &odt)) != TFMQ_OK) {
        return st;
    }
    if (zp) {
        out = zp->dtype;
        if (odt != 0 && odt != (int64_t)zp->dtype) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG,
                              "output_dtype differs from the zero point's dtype");
        }
    } else if (odt != 0) {
        out = (tfmq_dtype)odt;
    }
    if (!ql_out_ok(out)) {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "output dtype %s not supported",
                          tfmq_dtype_name(out));
    }
    tq_rc_qparams q;
    if ((st = tq_rc_qparams_get(ctx, &q)) != TFMQ_OK) {
        return st;
    }
    y->dtype = out;
    y->rank = x->rank;
    for (int32_t i = 0; i < x->rank; i++) {
        y->dims[i] = x->dims[i];
    }
    return TFMQ_OK;
}
