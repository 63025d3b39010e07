/* qlinear.c: shape inference for the integer ops made by QDQ lowering: tfmq.QConv (Conv geometry
 * on x_q with w_q in input 3), tfmq.QGemm (x [.., K] times W [N, K]^T -> [.., N]) and tfmq.QAdd
 * (numpy broadcasting). The output dtype is y_zp's (int8 or uint8). Parameter layout and numerics
 * are in backends/ref/qlinear.h. */
#include "backends/ref/qlinear.h"
#include "backends/ref/ref_compute_util.h"

static bool ql_is_q8(tfmq_dtype dt)
{
    return dt == TFMQ_DTYPE_INT8 || dt == TFMQ_DTYPE_UINT8;
}

tfmq_status tq_infer_qconv(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[TQ_QL_X], *w = ctx->in[TQ_QL_W];
    tq_tensor *y = ctx->out[0];
    tfmq_status st;
    if (!x || !w || !ql_is_q8(x->dtype) || w->dtype != TFMQ_DTYPE_INT8) {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "x must be int8/uint8 and w int8");
    }
    tq_op_ctx c2 = *ctx; /* Conv geometry reads W from in[1] */
    c2.in[1] = w;
    c2.in[2] = NULL;
    int64_t n_oc = w->rank >= 1 ? w->dims[0] : -1;
    tfmq_dtype ydt;
    if ((st = tq_ql_check(ctx, n_oc, &ydt)) != TFMQ_OK) {
        return st;
    }
    y->dtype = ydt;
    if (x->rank < 0) {
        y->rank = -1;
        return TFMQ_OK;
    }
    tq_rc_spatial sp;
    if ((st = tq_rc_spatial_init(&c2, TQ_RC_SP_CONV, &sp)) != TFMQ_OK) {
        return st;
    }
    y->rank = x->rank;
    y->dims[0] = x->dims[0];
    y->dims[1] = sp.out_channels;
    for (int32_t i = 0; i < sp.n_sp; i++) {
        y->dims[2 + i] = sp.out[i];
    }
    /* kernel scratch (backends/ref/qlinear.c): one (batch, group) input block and one output
     * channel's weights as int32 */
    if (tq_tensor_shape_known(x) && tq_tensor_shape_known(w) && sp.group > 0) {
        size_t in_sp = 1, k_sp = 1;
        for (int32_t i = 0; i < sp.n_sp; i++) {
            in_sp = tq_rc_mul(in_sp, (size_t)sp.in[i]);
            k_sp = tq_rc_mul(k_sp, (size_t)sp.k[i]);
        }
        size_t cg = (size_t)(x->dims[1] / sp.group);
        ctx->scratch_bytes =
            tq_rc_mul(tq_rc_add(tq_rc_mul(cg, in_sp), tq_rc_mul(cg, k_sp)), sizeof(int32_t));
    }
    return TFMQ_OK;
}

tfmq_status tq_infer_qgemm(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[TQ_QL_X], *w = ctx->in[TQ_QL_W];
    tq_tensor *y = ctx->out[0];
    tfmq_status st;
    if (!x || !w || !ql_is_q8(x->dtype) || w->dtype != TFMQ_DTYPE_INT8) {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "x must be int8/uint8 and w int8");
    }
    if (w->rank >= 0 && w->rank != 2) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "w must be 2-D [N, K], got rank %d",
                          w->rank);
    }
    if (x->rank == 0) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "x must have rank >= 1");
    }
    int64_t n = w->rank == 2 ? w->dims[0] : -1, k = w->rank == 2 ? w->dims[1] : -1;
    tfmq_dtype ydt;
    if ((st = tq_ql_check(ctx, n, &ydt)) != TFMQ_OK) {
        return st;
    }
    y->dtype = ydt;
    if (x->rank < 0) {
        y->rank = -1;
        return TFMQ_OK;
    }
    int64_t xk = x->dims[x->rank - 1];
    if (xk >= 0 && k >= 0 && xk != k) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "inner dims differ: x has %lld, w %lld",
                          (long long)xk, (long long)k);
    }
    y->rank = x->rank;
    for (int32_t i = 0; i + 1 < x->rank; i++) {
        y->dims[i] = x->dims[i];
    }
    y->dims[x->rank - 1] = n;
    return TFMQ_OK;
}

tfmq_status tq_infer_qadd(tq_op_ctx *ctx)
{
    tfmq_dtype ydt;
    tfmq_status st = tq_ql_check_add(ctx, &ydt);
    if (st != TFMQ_OK) {
        return st;
    }
    if ((st = tq_broadcast_shape(ctx, ctx->in[0], ctx->in[3], ctx->out[0])) != TFMQ_OK) {
        return st;
    }
    ctx->out[0]->dtype = ydt;
    return TFMQ_OK;
}
