/* quantize_linear.c: reference QuantizeLinear: y = saturate(round_half_even(x / scale) + zp).
 * The division is done in float32, as ONNX Runtime and the ONNX reference do, so results are
 * bit-exact with them for float32 inputs. */
#include <math.h>

#include "backends/ref/ref_compute_util.h"

static void ql_range(tfmq_dtype dt, double *lo, double *hi)
{
    switch (dt) {
    case TFMQ_DTYPE_INT8: *lo = -128.0; *hi = 127.0; break;
    case TFMQ_DTYPE_UINT16: *lo = 0.0; *hi = 65535.0; break;
    case TFMQ_DTYPE_INT16: *lo = -32768.0; *hi = 32767.0; break;
    default: *lo = 0.0; *hi = 255.0; break;
    }
}

tfmq_status tq_ref_quantize_linear(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0], *s = ctx->in[1], *zp = ctx->in[2];
    tq_tensor *y = ctx->out[0];
    tq_rc_qparams q;
    tfmq_status st = tq_rc_qparams_get(ctx, &q);
    if (st != TFMQ_OK) {
        return st;
    }
    if (tq_tensor_numel(s) != q.n_ch || (zp && tq_tensor_numel(zp) != q.n_ch)) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "scale or zero point has the wrong size");
    }
    size_t inner = 1;
    if (q.per_axis) {
        for (int32_t d = q.axis + 1; d < x->rank; d++) {
            inner *= (size_t)x->dims[d];
        }
    }
    double lo, hi;
    ql_range(y->dtype, &lo, &hi);
    const size_t n = tq_tensor_numel(x);
    const size_t block = q.per_axis ? inner : n; /* elements sharing one scale */
    for (size_t b0 = 0, blk = 0; b0 < n; b0 += block, blk++) {
        size_t ch = q.per_axis ? blk % q.n_ch : 0;
        size_t len = n - b0 < block ? n - b0 : block;
        float sc = (float)tq_load_f64(s->dtype, s->data, ch);
        double z = zp ? (double)tq_load_i64(zp->dtype, zp->data, ch) : 0.0;
        for (size_t i = b0; i < b0 + len; i++) {
            float xv = x->dtype == TFMQ_DTYPE_FLOAT32 ? ((const float *)x->data)[i]
                                                      : (float)tq_load_f64(x->dtype, x->data, i);
            double v = nearbyint((double)(xv / sc)) + z;
            if (isnan(v)) {
                v = 0.0;
            }
            v = v < lo ? lo : (v > hi ? hi : v);
            if (y->dtype == TFMQ_DTYPE_UINT8) {
                ((uint8_t *)y->data)[i] = (uint8_t)v;
            } else if (y->dtype == TFMQ_DTYPE_INT8) {
                ((int8_t *)y->data)[i] = (int8_t)v;
            } else {
                tq_store_i64(y->dtype, y->data, i, (int64_t)v);
            }
        }
    }
    return TFMQ_OK;
}
