/* clip.c: reference kernel of Clip, y = min(max(x, lo), hi) as numpy.clip computes it (so
 * lo > hi gives hi everywhere), NaN passes through. Integers are clipped exactly in 64-bit
 * (uint64 through an order-preserving map); absent bounds are the dtype's extremes. */
#include "backends/ref/ref.h"

#include <float.h>
#include <math.h>

/* Order-preserving map of an integer element to int64 (uint64 flips its top bit). */
static int64_t clip_key(tfmq_dtype dt, const void *base, size_t i)
{
    int64_t v = tq_load_i64(dt, base, i);
    return dt == TFMQ_DTYPE_UINT64 ? (int64_t)((uint64_t)v ^ 0x8000000000000000u) : v;
}

tfmq_status tq_ref_clip(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0];
    const tq_tensor *tlo = ctx->n_in > 1 ? ctx->in[1] : NULL;
    const tq_tensor *thi = ctx->n_in > 2 ? ctx->in[2] : NULL;
    tq_tensor *y = ctx->out[0];
    const tfmq_dtype dt = x->dtype;
    const size_t n = tq_tensor_numel(x);
    if (tq_tensor_numel(y) != n || y->dtype != dt) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "output does not match the input");
    }
    if ((tlo && tq_tensor_numel(tlo) != 1) || (thi && tq_tensor_numel(thi) != 1)) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "min and max must be scalars");
    }
    if (tq_dtype_is_float(dt)) {
        double lo = -HUGE_VAL, hi = HUGE_VAL;
        if (ctx->opset < 11) {
            float flo, fhi;
            tfmq_status st;
            if ((st = tq_attr_float(ctx->node, "min", -FLT_MAX, &flo)) != TFMQ_OK ||
                (st = tq_attr_float(ctx->node, "max", FLT_MAX, &fhi)) != TFMQ_OK) {
                return st;
            }
            lo = (double)flo;
            hi = (double)fhi;
        }
        if (tlo) {
            lo = tq_load_f64(tlo->dtype, tlo->data, 0);
        }
        if (thi) {
            hi = tq_load_f64(thi->dtype, thi->data, 0);
        }
        if (dt == TFMQ_DTYPE_FLOAT32) {
            const float *xs = x->data;
            float *ys = y->data;
            const float flo = (float)lo, fhi = (float)hi;
            for (size_t i = 0; i < n; i++) {
                float v = xs[i] < flo ? flo : xs[i];
                ys[i] = v > fhi ? fhi : v;
            }
            return TFMQ_OK;
        }
        for (size_t i = 0; i < n; i++) {
            double v = tq_load_f64(dt, x->data, i);
            v = v < lo ? lo : v;
            tq_store_f64(dt, y->data, i, v > hi ? hi : v);
        }
        return TFMQ_OK;
    }
    if (!tq_dtype_is_int(dt)) {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "dtype %s not supported", tfmq_dtype_name(dt));
    }
    int64_t lo = INT64_MIN, hi = INT64_MAX;
    if (ctx->opset < 11) {
        /* float attributes on an integer input: convert with saturation */
        float flo, fhi;
        tfmq_status st;
        if ((st = tq_attr_float(ctx->node, "min", -FLT_MAX, &flo)) != TFMQ_OK ||
            (st = tq_attr_float(ctx->node, "max", FLT_MAX, &fhi)) != TFMQ_OK) {
            return st;
        }
        int64_t t[2];
        tq_store_f64(TFMQ_DTYPE_INT64, t, 0, (double)flo);
        tq_store_f64(TFMQ_DTYPE_INT64, t, 1, (double)fhi);
        lo = t[0];
        hi = t[1];
    }
    if (tlo) {
        lo = clip_key(dt, tlo->data, 0);
    }
    if (thi) {
        hi = clip_key(dt, thi->data, 0);
    }
    for (size_t i = 0; i < n; i++) {
        int64_t k = clip_key(dt, x->data, i);
        k = k < lo ? lo : k;
        k = k > hi ? hi : k;
        if (dt == TFMQ_DTYPE_UINT64) {
            k = (int64_t)((uint64_t)k ^ 0x8000000000000000u);
        }
        tq_store_i64(dt, y->data, i, k);
    }
    return TFMQ_OK;
}
