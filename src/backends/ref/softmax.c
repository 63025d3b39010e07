/* softmax.c: reference kernels of Softmax, LogSoftmax and Hardmax over [outer, n, inner] views
 * of the input (opset < 13: inner = 1 and n = product of dims from the axis on). Softmax
 * subtracts the row max and sums exponentials in double; Hardmax marks the first maximum. */
#include "backends/ref/ref.h"

#include <math.h>

static void softmax_f32(uint32_t op, const float *X, float *Y, size_t outer, size_t n, size_t inner)
{
    for (size_t o = 0; o < outer; o++) {
        for (size_t k = 0; k < inner; k++) {
            const float *x = X + o * n * inner + k;
            float *y = Y + o * n * inner + k;
            float m = x[0];
            size_t im = 0;
            for (size_t i = 1; i < n; i++) {
                if (x[i * inner] > m) {
                    m = x[i * inner];
                    im = i;
                }
            }
            if (op == TQ_OP_HARDMAX) {
                for (size_t i = 0; i < n; i++) {
                    y[i * inner] = i == im ? 1.0f : 0.0f;
                }
                continue;
            }
            double s = 0.0;
            if (op == TQ_OP_LOG_SOFTMAX) {
                for (size_t i = 0; i < n; i++) {
                    s += exp((double)x[i * inner] - (double)m);
                }
                const double ls = log(s);
                for (size_t i = 0; i < n; i++) {
                    y[i * inner] = (float)((double)x[i * inner] - (double)m - ls);
                }
                continue;
            }
            for (size_t i = 0; i < n; i++) {
                const double e = exp((double)x[i * inner] - (double)m);
                s += e;
                y[i * inner] = (float)e;
            }
            const double inv = 1.0 / s;
            for (size_t i = 0; i < n; i++) {
                y[i * inner] = (float)((double)y[i * inner] * inv);
            }
        }
    }
}

static void softmax_generic(uint32_t op, const tq_tensor *xt, tq_tensor *yt, size_t outer, size_t n,
                            size_t inner)
{
    const tfmq_dtype dt = xt->dtype;
    for (size_t o = 0; o < outer; o++) {
        for (size_t k = 0; k < inner; k++) {
            const size_t base = o * n * inner + k;
            double m = tq_load_f64(dt, xt->data, base);
            size_t im = 0;
            for (size_t i = 1; i < n; i++) {
                double v = tq_load_f64(dt, xt->data, base + i * inner);
                if (v > m) {
                    m = v;
                    im = i;
                }
            }
            if (op == TQ_OP_HARDMAX) {
                for (size_t i = 0; i < n; i++) {
                    tq_store_f64(dt, yt->data, base + i * inner, i == im ? 1.0 : 0.0);
                }
                continue;
            }
            double s = 0.0;
            for (size_t i = 0; i < n; i++) {
                s += exp(tq_load_f64(dt, xt->data, base + i * inner) - m);
            }
            const double ls = log(s);
            for (size_t i = 0; i < n; i++) {
                const double d = tq_load_f64(dt, xt->data, base + i * inner) - m;
                tq_store_f64(dt, yt->data, base + i * inner,
                             op == TQ_OP_LOG_SOFTMAX ? d - ls : exp(d) / s);
            }
        }
    }
}

/* Axis in [0, rank); before opset 13 also rank itself (the coerced 2-D shape is [N, 1]), with
 * negative values counted from rank (not rank + 1). */
static tfmq_status softmax_axis(const tq_op_ctx *ctx, int64_t axis, int32_t rank, int32_t *a)
{
    if (ctx->opset >= 13) {
        return tq_norm_axis(ctx, axis, rank, false, a);
    }
    if (axis < -(int64_t)rank || axis > rank) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "axis %lld is out of range for rank %d",
                          (long long)axis, rank);
    }
    *a = (int32_t)(axis < 0 ? axis + rank : axis);
    return TFMQ_OK;
}

tfmq_status tq_ref_softmax(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0];
    tq_tensor *y = ctx->out[0];
    const uint32_t op = ctx->node->op;
    tfmq_status st;
    int64_t axis;
    int32_t a;
    if ((st = tq_attr_int(ctx->node, "axis", ctx->opset < 13 ? 1 : -1, &axis)) != TFMQ_OK) {
        return st;
    }
    if ((st = softmax_axis(ctx, axis, x->rank, &a)) != TFMQ_OK) {
        return st;
    }
    if (!tq_dtype_is_float(x->dtype) || y->dtype != x->dtype) {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "dtype %s is not supported",
                          tfmq_dtype_name(x->dtype));
    }
    size_t outer = 1, n = 1, inner = 1;
    if (ctx->opset < 13) {
        for (int32_t i = 0; i < x->rank; i++) {
            if (i < a) {
                outer *= (size_t)x->dims[i];
            } else {
                n *= (size_t)x->dims[i];
            }
        }
    } else {
        tq_ref_split_axis(x, a, &outer, &n, &inner);
    }
    if (outer == 0 || n == 0 || inner == 0) {
        return TFMQ_OK;
    }
    if (x->dtype == TFMQ_DTYPE_FLOAT32) {
        softmax_f32(op, x->data, y->data, outer, n, inner);
    } else {
        softmax_generic(op, x, y, outer, n, inner);
    }
    return TFMQ_OK;
}
