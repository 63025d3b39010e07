/* lrn.c: reference LRN: y = x / (bias + alpha / size * sum of x^2 over channels
 * [c - floor((size-1)/2), c + ceil((size-1)/2)])^beta, in double (ONNX divides alpha by size). */
#include <math.h>

#include "backends/ref/ref_compute_util.h"

tfmq_status tq_ref_lrn(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0];
    tq_tensor *y = ctx->out[0];
    tfmq_status st;
    int64_t size;
    float alpha, beta, bias;
    if ((st = tq_attr_int(ctx->node, "size", 0, &size)) != TFMQ_OK ||
        (st = tq_attr_float(ctx->node, "alpha", 1e-4f, &alpha)) != TFMQ_OK ||
        (st = tq_attr_float(ctx->node, "beta", 0.75f, &beta)) != TFMQ_OK ||
        (st = tq_attr_float(ctx->node, "bias", 1.0f, &bias)) != TFMQ_OK) {
        return st;
    }
    if (size < 1 || x->rank < 2) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "invalid size or rank");
    }
    const int64_t n = x->dims[0], c = x->dims[1];
    if (n == 0 || c == 0) {
        return TFMQ_OK;
    }
    const size_t inner = tq_tensor_numel(x) / (size_t)n / (size_t)c;
    const int64_t lo_off = (size - 1) / 2, hi_off = size - 1 - lo_off;
    const double a = (double)alpha / (double)size;
    for (int64_t ni = 0; ni < n; ni++) {
        for (int64_t ci = 0; ci < c; ci++) {
            int64_t c0 = ci - lo_off < 0 ? 0 : ci - lo_off;
            int64_t c1 = ci + hi_off >= c ? c - 1 : ci + hi_off;
            for (size_t s = 0; s < inner; s++) {
                double sq = 0.0;
                for (int64_t cc = c0; cc <= c1; cc++) {
                    double v = tq_load_f64(x->dtype, x->data, (size_t)(ni * c + cc) * inner + s);
                    sq += v * v;
                }
                size_t idx = (size_t)(ni * c + ci) * inner + s;
                double v = tq_load_f64(x->dtype, x->data, idx);
                tq_store_f64(y->dtype, y->data, idx, v / pow((double)bias + a * sq, (double)beta));
            }
        }
    }
    return TFMQ_OK;
}
