/* gemm.c: shape inference for Gemm: Y = alpha * A' * B' + beta * C with A' = transA ? A^T : A
 * (M x K), B' = transB ? B^T : B (K x N); C (optional from opset 11) broadcasts to [M, N]. */
#include "backends/ref/ref_compute_util.h"

tfmq_status tq_infer_gemm(tq_op_ctx *ctx)
{
    const tq_tensor *a = ctx->in[0], *b = ctx->in[1], *c = ctx->in[2];
    tq_tensor *y = ctx->out[0];
    tfmq_status st;
    int64_t ta, tb;
    if ((st = tq_attr_int(ctx->node, "transA", 0, &ta)) != TFMQ_OK ||
        (st = tq_attr_int(ctx->node, "transB", 0, &tb)) != TFMQ_OK) {
        return st;
    }
    if (a->dtype != b->dtype || (c && c->dtype != a->dtype)) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "inputs must share one dtype");
    }
    if (!tq_rc_is_float(a->dtype) && !tq_dtype_is_int(a->dtype)) {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "dtype %s not supported",
                          tfmq_dtype_name(a->dtype));
    }
    y->dtype = a->dtype;
    if ((a->rank >= 0 && a->rank != 2) || (b->rank >= 0 && b->rank != 2)) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "A and B must be 2-D (ranks %d, %d)",
                          a->rank, b->rank);
    }
    if (c && c->rank > 2) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "C has rank %d", c->rank);
    }
    int64_t m = a->rank == 2 ? a->dims[ta ? 1 : 0] : -1;
    int64_t ka = a->rank == 2 ? a->dims[ta ? 0 : 1] : -1;
    int64_t kb = b->rank == 2 ? b->dims[tb ? 1 : 0] : -1;
    int64_t n = b->rank == 2 ? b->dims[tb ? 0 : 1] : -1;
    if (ka >= 0 && kb >= 0 && ka != kb) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "inner dims differ: %lld vs %lld",
                          (long long)ka, (long long)kb);
    }
    if (c && c->rank >= 0) {
        int64_t cm = c->rank == 2 ? c->dims[0] : 1;
        int64_t cn = c->rank >= 1 ? c->dims[c->rank - 1] : 1;
        if ((cm >= 0 && m >= 0 && cm != 1 && cm != m) ||
            (cn >= 0 && n >= 0 && cn != 1 && cn != n)) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "C does not broadcast to [%lld, %lld]",
                              (long long)m, (long long)n);
        }
    }
    y->rank = 2;
    y->dims[0] = m;
    y->dims[1] = n;
    ctx->scratch_bytes = tq_rc_gemm_scratch(ctx);
    return TFMQ_OK;
}
