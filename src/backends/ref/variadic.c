/* variadic.c: reference kernels of Max, Min, Sum and Mean over broadcast inputs. The output is
 * first filled with input 0 (broadcast), then combined in place with each further input, so no
 * scratch is needed; Mean divides at the end. Max/Min propagate NaN. Floats other than float32
 * combine all inputs per element in double (one rounding); integers are exact in 64-bit. */
#include "backends/ref/ref.h"

#include <math.h>
#include <string.h>

/* y = broadcast(x): element copy by size. */
static void var_copy(const tq_tensor *x, tq_tensor *y)
{
    tq_ref_bcast it;
    const tq_tensor *ins[1] = {x};
    size_t off[TQ_REF_BCAST_MAX_IN];
    const size_t es = tq_dtype_size(y->dtype);
    tq_ref_bcast_init(&it, y, ins, 1);
    tq_ref_bcast_begin(&it, off);
    const size_t ni = it.n_inner, s = it.inner_stride[0];
    const uint8_t *src = x->data;
    uint8_t *dst = y->data;
    if (src == dst) { /* in place: input 0 already is the output */
        return;
    }
    for (size_t row = 0; row < it.n_rows; row++) {
        if (s == 1) {
            memcpy(dst + row * ni * es, src + off[0] * es, ni * es);
        } else {
            for (size_t j = 0; j < ni; j++) {
                memcpy(dst + (row * ni + j) * es, src + (off[0] + j * s) * es, es);
            }
        }
        tq_ref_bcast_next(&it, off);
    }
}

static double var_max_d(double a, double b)
{
    return (b > a || isnan(b)) ? b : a; /* NaN in a stays (b > NaN is false) */
}

static double var_min_d(double a, double b)
{
    return (b < a || isnan(b)) ? b : a;
}

static float var_max_f(float a, float b)
{
    return (b > a || isnan(b)) ? b : a;
}

static float var_min_f(float a, float b)
{
    return (b < a || isnan(b)) ? b : a;
}

/* y = op(y, x) with x broadcast to y; float32 and integers. */
static void var_combine(uint32_t op, const tq_tensor *x, tq_tensor *y)
{
    tq_ref_bcast it;
    const tq_tensor *ins[1] = {x};
    size_t off[TQ_REF_BCAST_MAX_IN];
    const tfmq_dtype dt = y->dtype;
    tq_ref_bcast_init(&it, y, ins, 1);
    tq_ref_bcast_begin(&it, off);
    const size_t ni = it.n_inner, s = it.inner_stride[0];
    const bool sum = op == TQ_OP_SUM || op == TQ_OP_MEAN;
    if (dt == TFMQ_DTYPE_FLOAT32) {
        const float *X = x->data;
        float *Y = y->data;
        for (size_t row = 0; row < it.n_rows; row++) {
            const float *px = X + off[0];
            float *py = Y + row * ni;
            if (sum) {
                for (size_t j = 0; j < ni; j++) {
                    py[j] += px[j * s];
                }
            } else if (op == TQ_OP_MAX) {
                for (size_t j = 0; j < ni; j++) {
                    py[j] = var_max_f(py[j], px[j * s]);
                }
            } else {
                for (size_t j = 0; j < ni; j++) {
                    py[j] = var_min_f(py[j], px[j * s]);
                }
            }
            tq_ref_bcast_next(&it, off);
        }
        return;
    }
    const bool uns = !tq_dtype_is_signed(dt);
    for (size_t row = 0; row < it.n_rows; row++) {
        for (size_t j = 0; j < ni; j++) {
            const size_t o = row * ni + j;
            int64_t a = tq_load_i64(dt, y->data, o);
            int64_t b = tq_load_i64(dt, x->data, off[0] + j * s);
            int64_t r;
            if (sum) {
                r = (int64_t)((uint64_t)a + (uint64_t)b);
            } else {
                bool b_less = uns ? (uint64_t)b < (uint64_t)a : b < a;
                bool b_greater = uns ? (uint64_t)b > (uint64_t)a : b > a;
                r = (op == TQ_OP_MAX ? b_greater : b_less) ? b : a;
            }
            tq_store_i64(dt, y->data, o, r);
        }
        tq_ref_bcast_next(&it, off);
    }
}

/* Floats other than float32: each output element combines all inputs in double and is rounded
 * once (pairwise rounding to float16 would lose accuracy). Offsets come from an odometer over
 * the output shape and each input's broadcast strides. */
static void var_float_generic(const tq_op_ctx *ctx, tq_tensor *y)
{
    const uint32_t op = ctx->node->op;
    const tfmq_dtype dt = y->dtype;
    const int32_t r = y->rank;
    size_t strides[TQ_MAX_IO][TQ_MAX_RANK];
    size_t off[TQ_MAX_IO] = {0};
    size_t idx[TQ_MAX_RANK] = {0};
    for (int32_t k = 0; k < ctx->n_in; k++) {
        tq_ref_bcast_strides(ctx->in[k], r, y->dims, strides[k]);
    }
    const size_t n = tq_tensor_numel(y);
    for (size_t o = 0; o < n; o++) {
        double acc = tq_load_f64(dt, ctx->in[0]->data, off[0]);
        for (int32_t k = 1; k < ctx->n_in; k++) {
            const double v = tq_load_f64(dt, ctx->in[k]->data, off[k]);
            acc = op == TQ_OP_MAX   ? var_max_d(acc, v)
                  : op == TQ_OP_MIN ? var_min_d(acc, v)
                                    : acc + v;
        }
        if (op == TQ_OP_MEAN) {
            acc /= (double)ctx->n_in;
        }
        tq_store_f64(dt, y->data, o, acc);
        for (int32_t d = r - 1; d >= 0; d--) {
            if (++idx[d] < (size_t)y->dims[d]) {
                for (int32_t k = 0; k < ctx->n_in; k++) {
                    off[k] += strides[k][d];
                }
                break;
            }
            for (int32_t k = 0; k < ctx->n_in; k++) {
                off[k] -= strides[k][d] * (idx[d] - 1);
            }
            idx[d] = 0;
        }
    }
}

tfmq_status tq_ref_variadic(tq_op_ctx *ctx)
{
    tq_tensor *y = ctx->out[0];
    const uint32_t op = ctx->node->op;
    for (int32_t k = 0; k < ctx->n_in; k++) {
        const tq_tensor *x = ctx->in[k];
        if (!x || x->dtype != y->dtype || !tq_ref_bcast_ok(x, y)) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "input %d does not match the output", k);
        }
    }
    if (tq_dtype_size(y->dtype) == 0) {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "dtype %s is not supported",
                          tfmq_dtype_name(y->dtype));
    }
    if (tq_dtype_is_float(y->dtype) && y->dtype != TFMQ_DTYPE_FLOAT32) {
        var_float_generic(ctx, y);
        return TFMQ_OK;
    }
    var_copy(ctx->in[0], y);
    for (int32_t k = 1; k < ctx->n_in; k++) {
        var_combine(op, ctx->in[k], y);
    }
    if (op == TQ_OP_MEAN && ctx->n_in > 1) {
        const size_t n = tq_tensor_numel(y);
        const double inv = (double)ctx->n_in;
        if (y->dtype == TFMQ_DTYPE_FLOAT32) {
            float *Y = y->data;
            const float fn = (float)ctx->n_in;
            for (size_t i = 0; i < n; i++) {
                Y[i] /= fn;
            }
        } else {
            for (size_t i = 0; i < n; i++) {
                tq_store_f64(y->dtype, y->data, i, tq_load_f64(y->dtype, y->data, i) / inv);
            }
        }
    }
    return TFMQ_OK;
}
