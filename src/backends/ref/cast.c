/* cast.c: reference kernel of Cast and CastLike. Float to float16/bfloat16 rounds to nearest
 * even once (double is first narrowed to float with round-to-odd so no double rounding happens);
 * float to integer truncates and saturates (NaN -> 0) as tq_store_f64 does; integer to integer
 * wraps like C casts (and numpy's astype); anything to BOOL is x != 0. */
#include "backends/ref/ref.h"

#include <math.h>
#include <string.h>

/* double -> float rounding to odd: exact when representable, else the truncated value with its
 * lowest mantissa bit set. A later round-to-nearest-even to a format with at least 2 fewer
 * mantissa bits (f16, bf16) then equals a direct correctly rounded conversion. */
static float cast_f64_to_f32_odd(double d)
{
    float f = (float)d;
    if (isnan(d) || isinf(f) || (double)f == d) {
        return f;
    }
    uint32_t u;
    memcpy(&u, &f, 4);
    if (fabs((double)f) > fabs(d)) {
        u -= 1; /* sign-magnitude: one step towards zero */
    }
    u |= 1u;
    memcpy(&f, &u, 4);
    return f;
}

static bool cast_is_64bit_int(tfmq_dtype dt)
{
    return dt == TFMQ_DTYPE_INT64 || dt == TFMQ_DTYPE_UINT64;
}

/* float32 to float32-ish narrow types and the common transformer casts, without per-element
 * dtype switches. Returns false when no fast loop applies. */
static bool cast_fast(const tq_tensor *x, tq_tensor *y, size_t n)
{
    const tfmq_dtype s = x->dtype, d = y->dtype;
    if (s == TFMQ_DTYPE_FLOAT32 && d == TFMQ_DTYPE_FLOAT16) {
        const float *X = x->data;
        uint16_t *Y = y->data;
        for (size_t i = 0; i < n; i++) {
            Y[i] = tq_f32_to_f16(X[i]);
        }
    } else if (s == TFMQ_DTYPE_FLOAT16 && d == TFMQ_DTYPE_FLOAT32) {
        const uint16_t *X = x->data;
        float *Y = y->data;
        for (size_t i = 0; i < n; i++) {
            Y[i] = tq_f16_to_f32(X[i]);
        }
    } else if (s == TFMQ_DTYPE_FLOAT32 && d == TFMQ_DTYPE_BFLOAT16) {
        const float *X = x->data;
        uint16_t *Y = y->data;
        for (size_t i = 0; i < n; i++) {
            Y[i] = tq_f32_to_bf16(X[i]);
        }
    } else if (s == TFMQ_DTYPE_BFLOAT16 && d == TFMQ_DTYPE_FLOAT32) {
        const uint16_t *X = x->data;
        float *Y = y->data;
        for (size_t i = 0; i < n; i++) {
            Y[i] = tq_bf16_to_f32(X[i]);
        }
    } else if (s == TFMQ_DTYPE_FLOAT32 && d == TFMQ_DTYPE_FLOAT64) {
        const float *X = x->data;
        double *Y = y->data;
        for (size_t i = 0; i < n; i++) {
            Y[i] = (double)X[i];
        }
    } else if (s == TFMQ_DTYPE_FLOAT64 && d == TFMQ_DTYPE_FLOAT32) {
        const double *X = x->data;
        float *Y = y->data;
        for (size_t i = 0; i < n; i++) {
            Y[i] = (float)X[i];
        }
    } else if (s == TFMQ_DTYPE_INT64 && d == TFMQ_DTYPE_FLOAT32) {
        const int64_t *X = x->data;
        float *Y = y->data;
        for (size_t i = 0; i < n; i++) {
            Y[i] = (float)X[i];
        }
    } else if (s == TFMQ_DTYPE_INT32 && d == TFMQ_DTYPE_FLOAT32) {
        const int32_t *X = x->data;
        float *Y = y->data;
        for (size_t i = 0; i < n; i++) {
            Y[i] = (float)X[i];
        }
    } else if (s == TFMQ_DTYPE_BOOL && d == TFMQ_DTYPE_FLOAT32) {
        const uint8_t *X = x->data;
        float *Y = y->data;
        for (size_t i = 0; i < n; i++) {
            Y[i] = X[i] ? 1.0f : 0.0f;
        }
    } else if (s == TFMQ_DTYPE_INT32 && d == TFMQ_DTYPE_INT64) {
        const int32_t *X = x->data;
        int64_t *Y = y->data;
        for (size_t i = 0; i < n; i++) {
            Y[i] = X[i];
        }
    } else if (s == TFMQ_DTYPE_INT64 && d == TFMQ_DTYPE_INT32) {
        const int64_t *X = x->data;
        int32_t *Y = y->data;
        for (size_t i = 0; i < n; i++) {
            Y[i] = (int32_t)X[i];
        }
    } else {
        return false;
    }
    return true;
}

tfmq_status tq_ref_cast(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0];
    tq_tensor *y = ctx->out[0];
    const tfmq_dtype s = x->dtype, d = y->dtype;
    const size_t n = tq_tensor_numel(x);
    if (tq_dtype_size(s) == 0 || tq_dtype_size(d) == 0) {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "cast %s -> %s is not supported",
                          tfmq_dtype_name(s), tfmq_dtype_name(d));
    }
    if (tq_tensor_numel(y) != n) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "output size does not match the input");
    }
    if (s == d) {
        if (x->data != y->data && n > 0) {
            memcpy(y->data, x->data, n * tq_dtype_size(s));
        }
        return TFMQ_OK;
    }
    if (cast_fast(x, y, n)) {
        return TFMQ_OK;
    }
    const bool s_float = tq_dtype_is_float(s), d_float = tq_dtype_is_float(d);
    const bool d_half = d == TFMQ_DTYPE_FLOAT16 || d == TFMQ_DTYPE_BFLOAT16;
    for (size_t i = 0; i < n; i++) {
        if (s_float) {
            double v = tq_load_f64(s, x->data, i);
            if (d_half) {
                float f = cast_f64_to_f32_odd(v);
                ((uint16_t *)y->data)[i] =
                    d == TFMQ_DTYPE_FLOAT16 ? tq_f32_to_f16(f) : tq_f32_to_bf16(f);
            } else {
                tq_store_f64(d, y->data, i, v);
            }
        } else if (d_float) {
            if (cast_is_64bit_int(s) && d != TFMQ_DTYPE_FLOAT64) {
                /* int64 -> float directly (one rounding), then to the narrow type */
                int64_t v = tq_load_i64(s, x->data, i);
                float f = s == TFMQ_DTYPE_UINT64 ? (float)(uint64_t)v : (float)v;
                tq_store_f64(d, y->data, i, (double)f);
            } else {
                tq_store_f64(d, y->data, i, tq_load_f64(s, x->data, i));
            }
        } else {
            tq_store_i64(d, y->data, i, tq_load_i64(s, x->data, i));
        }
    }
    return TFMQ_OK;
}
