/* depth_to_space.c: DepthToSpace (DCR, CRD) and SpaceToDepth reference kernels, each one strided
 * gather over a rank-6 view: DCR reads input [N, b, b, C', H, W] as [N, C', H, b, W, b]; CRD
 * reads [N, C', b, b, H, W] the same way; SpaceToDepth reads [N, C, H', b, W', b] as
 * [N, b, b, C, H', W']. */
#include "backends/ref/ref_shape_util.h"

tfmq_status tq_ref_depth_to_space(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0];
    tq_tensor *y = ctx->out[0];
    int64_t b, dims[6], s[6];
    bool crd;
    size_t es;
    tfmq_status st = tq_ref_shape_verify(ctx, &es);
    if (st == TFMQ_OK) {
        st = tq_depth_to_space_params(ctx, &b, &crd);
    }
    if (st != TFMQ_OK) {
        return st;
    }
    const int64_t n = x->dims[0], h = x->dims[2], w = x->dims[3];
    if (ctx->node->op == TQ_OP_DEPTH_TO_SPACE) {
        const int64_t c = y->dims[1];
        /* input strides of the view's axes n, c', h, bi, w, bj */
        const int64_t sw = 1, sh = w, sch = h * w;
        int64_t sc, sbi, sbj;
        if (crd) { /* channel = c' * b*b + bi * b + bj */
            sc = b * b * sch;
            sbi = b * sch;
            sbj = sch;
        } else { /* channel = (bi * b + bj) * C' + c' */
            sc = sch;
            sbi = b * c * sch;
            sbj = c * sch;
        }
        const int64_t d6[6] = {n, c, h, b, w, b};
        const int64_t s6[6] = {c * b * b * sch, sc, sh, sbi, sw, sbj};
        for (int32_t i = 0; i < 6; i++) {
            dims[i] = d6[i];
            s[i] = s6[i];
        }
    } else {
        const int64_t c = x->dims[1], ho = h / b, wo = w / b;
        /* output axes n, bi, bj, c, ho, wo; input offset = ((n*C + c)*H + ho*b + bi)*W + wo*b+bj */
        const int64_t d6[6] = {n, b, b, c, ho, wo};
        const int64_t s6[6] = {c * h * w, w, 1, h * w, b * w, b};
        for (int32_t i = 0; i < 6; i++) {
            dims[i] = d6[i];
            s[i] = s6[i];
        }
    }
    tq_ref_strided_copy(y->data, x->data, es, 6, dims, s, 0);
    return TFMQ_OK;
}
