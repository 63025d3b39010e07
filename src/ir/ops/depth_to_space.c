/* depth_to_space.c: DepthToSpace (ONNX 1/11/13, modes DCR and CRD) and SpaceToDepth (1/13)
 * shape inference on NCHW tensors: [N, C, H, W] <-> [N, C/b^2, H*b, W*b]. */
#include <string.h>

#include "ir/ops/shape_ops.h"

tfmq_status tq_depth_to_space_params(const tq_op_ctx *ctx, int64_t *block_out, bool *crd_out)
{
    const char *mode;
    tfmq_status st = tq_attr_int(ctx->node, "blocksize", 0, block_out);
    if (st == TFMQ_OK) {
        st = tq_attr_string(ctx->node, "mode", "DCR", &mode);
    }
    if (st != TFMQ_OK) {
        return st;
    }
    if (*block_out <= 0 || *block_out > (1 << 20)) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "blocksize is %lld", (long long)*block_out);
    }
    *crd_out = false;
    if (ctx->node->op == TQ_OP_DEPTH_TO_SPACE) {
        if (strcmp(mode, "CRD") == 0) {
            *crd_out = true;
        } else if (strcmp(mode, "DCR") != 0) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "mode '%s' is not DCR or CRD", mode);
        }
    }
    return TFMQ_OK;
}

tfmq_status tq_infer_depth_to_space(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0];
    tq_tensor *y = ctx->out[0];
    int64_t b;
    bool crd;
    tfmq_status st = tq_depth_to_space_params(ctx, &b, &crd);
    if (st != TFMQ_OK) {
        return st;
    }
    tq_shape_set_unknown(y, x->dtype, 4);
    if (x->rank < 0) {
        return TFMQ_OK;
    }
    if (x->rank != 4) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "input must have rank 4, got %d", x->rank);
    }
    int64_t n = x->dims[0], c = x->dims[1], h = x->dims[2], w = x->dims[3], bb = b * b;
    y->dims[0] = n;
    if (ctx->node->op == TQ_OP_DEPTH_TO_SPACE) {
        if (c >= 0 && c % bb != 0) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "channels %lld not divisible by %lld",
                              (long long)c, (long long)bb);
        }
        y->dims[1] = c >= 0 ? c / bb : -1;
        if ((h >= 0 && !tq_mul_i64(h, b, &y->dims[2])) ||
            (w >= 0 && !tq_mul_i64(w, b, &y->dims[3]))) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "output dims overflow");
        }
    } else {
        if ((h >= 0 && h % b != 0) || (w >= 0 && w % b != 0)) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "spatial dims not divisible by %lld",
                              (long long)b);
        }
        if (c >= 0 && !tq_mul_i64(c, bb, &y->dims[1])) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "output dims overflow");
        }
        y->dims[2] = h >= 0 ? h / b : -1;
        y->dims[3] = w >= 0 ? w / b : -1;
    }
    return tq_shape_check(ctx, y);
}
