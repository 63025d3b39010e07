/* pad.c: Pad parameter decoding and shape inference (ONNX Pad-2/11/13/18/19/21). pads (and the
 * constant value) are attributes before opset 11 and inputs after; opset 18 adds the axes input
 * and 19 the wrap mode. Negative pads crop. Output dim = dim + begin + end, never negative. */
#include <string.h>

#include "ir/ops/shape_ops.h"

tfmq_status tq_pad_params_get(const tq_op_ctx *ctx, tq_pad_params *p)
{
    const tq_tensor *x = ctx->in[0];
    int32_t r = x->rank;
    int64_t pads[(size_t)2 * TQ_MAX_RANK], axes[TQ_MAX_RANK], n_p, n_a;
    tq_ints_state s_p, s_a;
    const char *mode;
    float value;
    tfmq_status st = tq_attr_string(ctx->node, "mode", "constant", &mode);
    if (st == TFMQ_OK) {
        st = tq_attr_float(ctx->node, "value", 0.0f, &value);
    }
    if (st == TFMQ_OK) {
        st = tq_shape_ints(ctx, 1, "pads", pads, (size_t)2 * TQ_MAX_RANK, &n_p, &s_p);
    }
    if (st == TFMQ_OK) {
        st = tq_shape_ints(ctx, 3, NULL, axes, TQ_MAX_RANK, &n_a, &s_a);
    }
    if (st != TFMQ_OK) {
        return st;
    }
    if (strcmp(mode, "constant") == 0) {
        p->mode = TQ_PAD_CONSTANT;
    } else if (strcmp(mode, "reflect") == 0) {
        p->mode = TQ_PAD_REFLECT;
    } else if (strcmp(mode, "edge") == 0) {
        p->mode = TQ_PAD_EDGE;
    } else if (strcmp(mode, "wrap") == 0) {
        p->mode = TQ_PAD_WRAP;
    } else {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "mode '%s' is not supported", mode);
    }
    p->value = (double)value;
    for (int32_t i = 0; i < r; i++) {
        p->begin[i] = p->end[i] = 0;
        p->known[i] = s_a != TQ_INTS_UNKNOWN;
    }
    if (s_p == TQ_INTS_ABSENT) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "pads are required");
    }
    if (s_a == TQ_INTS_UNKNOWN) {
        return TFMQ_OK;
    }
    int64_t n = r;
    if (s_a == TQ_INTS_KNOWN) {
        n = n_a;
        st = tq_shape_norm_axes(ctx, axes, (size_t)n, r);
        if (st != TFMQ_OK) {
            return st;
        }
    } else {
        for (int32_t i = 0; i < r; i++) {
            axes[i] = i;
        }
    }
    if (n_p >= 0 && n_p != 2 * n) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "pads has %lld entries, expected %lld",
                          (long long)n_p, (long long)n * 2);
    }
    for (int64_t j = 0; j < n; j++) {
        int32_t a = (int32_t)axes[j];
        if (s_p != TQ_INTS_KNOWN) {
            p->known[a] = false;
            continue;
        }
        p->begin[a] = pads[j];
        p->end[a] = pads[j + n];
    }
    return TFMQ_OK;
}

tfmq_status tq_infer_pad(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0];
    tq_tensor *y = ctx->out[0];
    tq_pad_params p;
    memset(&p, 0, sizeof(p));
    tq_shape_set_unknown(y, x->dtype, x->rank);
    const tq_tensor *cv = ctx->n_in > 2 ? ctx->in[2] : NULL;
    if (cv && cv->dtype != x->dtype) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "constant_value is %s, data is %s",
                          tfmq_dtype_name(cv->dtype), tfmq_dtype_name(x->dtype));
    }
    if (cv && tq_tensor_shape_known(cv) && tq_tensor_numel(cv) == 0) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "constant_value is empty");
    }
    if (x->rank < 0) {
        return TFMQ_OK;
    }
    tfmq_status st = tq_pad_params_get(ctx, &p);
    if (st != TFMQ_OK) {
        return st;
    }
    for (int32_t i = 0; i < x->rank; i++) {
        int64_t d = x->dims[i], o;
        if (!p.known[i] || d < 0) {
            continue;
        }
        if (__builtin_add_overflow(d, p.begin[i], &o) || __builtin_add_overflow(o, p.end[i], &o) ||
            o < 0) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "pads %lld,%lld on a dim of %lld",
                              (long long)p.begin[i], (long long)p.end[i], (long long)d);
        }
        if (p.mode != TQ_PAD_CONSTANT && d == 0 && o > 0) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "cannot pad an empty axis in this mode");
        }
        y->dims[i] = o;
    }
    return tq_shape_check(ctx, y);
}
