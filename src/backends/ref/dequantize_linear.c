/* dequantize_linear.c: reference DequantizeLinear: y = (x - zp) * scale, the difference taken
 * exactly in integers and the product in float32 (as ONNX Runtime), then stored in the scale's
 * dtype. */
#include "backends/ref/ref_compute_util.h"

tfmq_status tq_ref_dequantize_linear(tq_op_ctx *ctx)
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
    const size_t n = tq_tensor_numel(x);
    const size_t block = q.per_axis ? inner : n; /* elements sharing one scale */
    for (size_t b0 = 0, blk = 0; b0 < n; b0 += block, blk++) {
        size_t ch = q.per_axis ? blk % q.n_ch : 0;
        size_t len = n - b0 < block ? n - b0 : block;
        float sc = (float)tq_load_f64(s->dtype, s->data, ch);
        int64_t z = zp ? tq_load_i64(zp->dtype, zp->data, ch) : 0;
        for (size_t i = b0; i < b0 + len; i++) {
            int64_t v;
            if (x->dtype == TFMQ_DTYPE_UINT8) {
                v = ((const uint8_t *)x->data)[i];
            } else if (x->dtype == TFMQ_DTYPE_INT8) {
                v = ((const int8_t *)x->data)[i];
            } else {
                v = tq_load_i64(x->dtype, x->data, i);
            }
            float r = (float)(v - z) * sc;
            if (y->dtype == TFMQ_DTYPE_FLOAT32) {
                ((float *)y->data)[i] = r;
            } else {
                tq_store_f64(y->dtype, y->data, i, (double)r);
            }
        }
    }
    return TFMQ_OK;
}
