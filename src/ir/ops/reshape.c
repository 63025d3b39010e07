/* reshape.c: Reshape attribute validation and shape inference (ONNX Reshape-5/13/14/19/21).
 * The target shape comes from input 1; 0 copies the input dim (unless allowzero=1) and one -1 is
 * inferred from the element count. The output shape is exact whenever the shape data and the
 * input dims it depends on are known. */
#include "ir/ops/shape_ops.h"

tfmq_status tq_infer_reshape(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0];
    tq_tensor *y = ctx->out[0];
    int64_t shape[TQ_MAX_RANK], len, allowzero;
    tq_ints_state state;
    tfmq_status st = tq_attr_int(ctx->node, "allowzero", 0, &allowzero);
    if (st != TFMQ_OK) {
        return st;
    }
    if (!ctx->in[1]) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "the shape input is missing");
    }
    st = tq_shape_ints(ctx, 1, NULL, shape, TQ_MAX_RANK, &len, &state);
    if (st != TFMQ_OK) {
        return st;
    }
    if (len > TQ_MAX_RANK) {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "output rank %lld, at most %d supported",
                          (long long)len, TQ_MAX_RANK);
    }
    if (state != TQ_INTS_KNOWN) {
        tq_shape_set_unknown(y, x->dtype, (int32_t)len);
        return TFMQ_OK;
    }
    int32_t n = (int32_t)len, neg = -1;
    bool has_zero = false;
    tq_shape_set_unknown(y, x->dtype, n);
    for (int32_t i = 0; i < n; i++) {
        int64_t v = shape[i];
        if (v == 0 && !allowzero) {
            if (x->rank >= 0 && i >= x->rank) {
                return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG,
                                  "shape[%d] is 0 but the input has rank %d", i, x->rank);
            }
            y->dims[i] = x->rank >= 0 ? x->dims[i] : -1;
        } else if (v == -1) {
            if (neg >= 0) {
                return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "shape has more than one -1");
            }
            neg = i;
        } else if (v < 0) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "shape[%d] is %lld", i, (long long)v);
        } else {
            has_zero = has_zero || v == 0;
            y->dims[i] = v;
        }
    }
    if (allowzero && has_zero && neg >= 0) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "allowzero=1 with both 0 and -1 in shape");
    }
    int64_t in_n = -1, rest = -1;
    if (x->rank >= 0) {
        st = tq_shape_prod(ctx, x->dims, 0, x->rank, &in_n);
        if (st != TFMQ_OK) {
            return st;
        }
    }
    if (neg >= 0) {
        /* product of the other dims (y->dims[neg] is still -1, so skip it explicitly) */
        rest = 1;
        for (int32_t i = 0; i < n && rest >= 0; i++) {
            if (i == neg) {
                continue;
            }
            if (y->dims[i] < 0) {
                rest = -1;
            } else if (!tq_mul_i64(rest, y->dims[i], &rest)) {
                return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "shape product overflows");
            }
        }
        if (in_n >= 0 && rest >= 0) {
            if (rest == 0 || in_n % rest != 0) {
                char buf[128];
                return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG,
                                  "cannot infer -1: input %s has %lld elements, other dims %lld",
                                  tq_shape_str(x, buf, sizeof(buf)), (long long)in_n,
                                  (long long)rest);
            }
            y->dims[neg] = in_n / rest;
        }
    } else {
        st = tq_shape_prod(ctx, y->dims, 0, n, &rest);
        if (st != TFMQ_OK) {
            return st;
        }
        if (in_n >= 0 && rest >= 0 && in_n != rest) {
            char a[128], b[128];
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "cannot reshape %s into %s",
                              tq_shape_str(x, a, sizeof(a)), tq_shape_str(y, b, sizeof(b)));
        }
    }
    return tq_shape_check(ctx, y);
}
