/* conv.c: shape inference for Conv (ONNX opsets 1..21): X [N, C, D1..Dn] (n = 1..3),
 * W [M, C/group, k1..kn], optional B [M]; output [N, M, O1..On] with the spatial geometry of
 * tq_rc_spatial_init (pads, strides, dilations, auto_pad, kernel_shape or the weights' shape). */
#include "backends/ref/ref_compute_util.h"

tfmq_status tq_infer_conv(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0], *w = ctx->in[1], *b = ctx->in[2];
    tq_tensor *y = ctx->out[0];
    if (!tq_rc_is_float(x->dtype)) {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "input dtype %s not supported",
                          tfmq_dtype_name(x->dtype));
    }
    if (w->dtype != x->dtype || (b && b->dtype != x->dtype)) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "inputs must share one dtype");
    }
    if (b && b->rank >= 0 && b->rank != 1) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "bias must be 1-D, got rank %d", b->rank);
    }
    y->dtype = x->dtype;
    if (x->rank < 0) {
        y->rank = -1;
        return TFMQ_OK;
    }
    tq_rc_spatial sp;
    tfmq_status st = tq_rc_spatial_init(ctx, TQ_RC_SP_CONV, &sp);
    if (st != TFMQ_OK) {
        return st;
    }
    if (b && b->rank == 1 && b->dims[0] >= 0 && sp.out_channels >= 0 &&
        b->dims[0] != sp.out_channels) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "bias has %lld entries, expected %lld",
                          (long long)b->dims[0], (long long)sp.out_channels);
    }
    y->rank = x->rank;
    y->dims[0] = x->dims[0];
    y->dims[1] = sp.out_channels;
    for (int32_t i = 0; i < sp.n_sp; i++) {
        y->dims[2 + i] = sp.out[i];
    }
    ctx->scratch_bytes = tq_rc_conv_scratch(ctx);
    return TFMQ_OK;
}
