/* fused.c: shape inference of the internal fused ops made by the graph passes:
 * tfmq.FusedConv (X, W, [B], [R]) and tfmq.FusedGemm (A, B, [C], [R]) compute
 * act(Conv/Gemm(...) + R). Inference reuses tq_infer_conv / tq_infer_gemm on a context that hides
 * R, then checks R (same dtype and exactly the output's shape) and the activation attributes. */
#include <float.h>
#include <string.h>

#include "ir/ops/fused.h"

static const char *const act_names[] = {"", "Relu", "Clip", "HardSwish", "LeakyRelu", "Sigmoid"};

const char *tq_fused_act_name(tq_fused_act_kind kind)
{
    return (unsigned)kind < sizeof(act_names) / sizeof(act_names[0]) ? act_names[kind] : "?";
}

tfmq_status tq_fused_act_read(const tq_op_ctx *ctx, tq_fused_act *a)
{
    tfmq_status st;
    const char *s;
    float lo, hi, alpha;
    memset(a, 0, sizeof(*a));
    if ((st = tq_attr_string(ctx->node, "activation", "", &s)) != TFMQ_OK ||
        (st = tq_attr_float(ctx->node, "activation_min", -FLT_MAX, &lo)) != TFMQ_OK ||
        (st = tq_attr_float(ctx->node, "activation_max", FLT_MAX, &hi)) != TFMQ_OK ||
        (st = tq_attr_float(ctx->node, "activation_alpha", 0.01f, &alpha)) != TFMQ_OK) {
        return st;
    }
    bool found = false;
    for (size_t i = 0; i < sizeof(act_names) / sizeof(act_names[0]); i++) {
        if (strcmp(s, act_names[i]) == 0) {
            a->kind = (tq_fused_act_kind)i;
            found = true;
        }
    }
    if (!found) {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "unknown activation '%s'", s);
    }
    a->lo = (double)lo;
    a->hi = (double)hi;
    a->alpha = (double)alpha;
    return TFMQ_OK;
}

/* Infer with `base` on ctx without the residual input (index 3), then check the residual. */
static tfmq_status fused_infer(tq_op_ctx *ctx, tq_op_fn base)
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
    ctx->scratch_bytes = c.scratch_bytes;
    const tq_tensor *y = ctx->out[0];
    if (!r) {
        return TFMQ_OK;
    }
    if (r->dtype != y->dtype) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "residual dtype %s differs from %s",
                          tfmq_dtype_name(r->dtype), tfmq_dtype_name(y->dtype));
    }
    if (r->rank >= 0 && y->rank >= 0) {
        bool same = r->rank == y->rank;
        for (int32_t i = 0; same && i < r->rank; i++) {
            if (r->dims[i] >= 0 && y->dims[i] >= 0 && r->dims[i] != y->dims[i]) {
                same = false;
            }
        }
        if (!same) {
            char b1[128], b2[128];
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "residual shape %s differs from %s",
                              tq_shape_str(r, b1, sizeof(b1)), tq_shape_str(y, b2, sizeof(b2)));
        }
    }
    return TFMQ_OK;
}

tfmq_status tq_infer_fused_conv(tq_op_ctx *ctx)
{
    return fused_infer(ctx, tq_infer_conv);
}

tfmq_status tq_infer_fused_gemm(tq_op_ctx *ctx)
{
    return fused_infer(ctx, tq_infer_gemm);
}
