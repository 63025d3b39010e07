/* fused.c: reference kernels of tfmq.FusedConv and tfmq.FusedGemm: the Conv / Gemm reference
 * kernel writes the output, then an epilogue adds the residual R (same shape) and applies the
 * activation in place, in double, in blocks (no scratch beyond the base kernel's). The result is
 * what the unfused Conv/Gemm -> Add -> activation nodes compute. */
#include "backends/ref/ref_compute_util.h"
#include "ir/ops/fused.h"

#define EPI_BLOCK 256

static tfmq_status fused_ref(tq_op_ctx *ctx, tq_op_fn base)
{
    tq_fused_act act;
    tfmq_status st = tq_fused_act_read(ctx, &act);
    if (st != TFMQ_OK) {
        return st;
    }
    tq_op_ctx c = *ctx;
    const tq_tensor *r = ctx->n_in > 3 ? ctx->in[3] : NULL;
    if (c.n_in > 3) {
        c.n_in = 3;
        c.in[3] = NULL;
    }
    if ((st = base(&c)) != TFMQ_OK) {
        return st;
    }
    tq_tensor *y = ctx->out[0];
    const size_t n = tq_tensor_numel(y);
    if (r && (r->dtype != y->dtype || tq_tensor_numel(r) != n)) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "residual does not match the output");
    }
    if (!r && act.kind == TQ_FUSED_ACT_NONE) {
        return TFMQ_OK;
    }
    double yb[EPI_BLOCK], rb[EPI_BLOCK];
    for (size_t i0 = 0; i0 < n; i0 += EPI_BLOCK) {
        size_t len = n - i0 < EPI_BLOCK ? n - i0 : EPI_BLOCK;
        tq_rc_load_f64(y->dtype, y->data, i0, len, yb);
        if (r) {
            tq_rc_load_f64(r->dtype, r->data, i0, len, rb);
            for (size_t j = 0; j < len; j++) {
                yb[j] += rb[j];
            }
            if (y->dtype != TFMQ_DTYPE_FLOAT64) {
                /* round the sum to the dtype, like the unfused Add, before the activation */
                tq_rc_store_f64(y->dtype, y->data, i0, len, yb);
                tq_rc_load_f64(y->dtype, y->data, i0, len, yb);
            }
        }
        for (size_t j = 0; j < len; j++) {
            yb[j] = tq_fused_act_apply(&act, yb[j]);
        }
        tq_rc_store_f64(y->dtype, y->data, i0, len, yb);
    }
    return TFMQ_OK;
}

tfmq_status tq_ref_fused_conv(tq_op_ctx *ctx)
{
    return fused_ref(ctx, tq_ref_conv);
}

tfmq_status tq_ref_fused_gemm(tq_op_ctx *ctx)
{
    return fused_ref(ctx, tq_ref_gemm);
}
