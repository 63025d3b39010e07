/* instance_norm.c: reference InstanceNormalization: per (n, c), mean and population variance
 * over the spatial dims in double (two passes), y = scale * (x - mean) / sqrt(var + eps) + B. */
#include <math.h>

#include "backends/ref/ref_compute_util.h"

#define IN_CHUNK 256

tfmq_status tq_ref_instance_norm(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0], *sc = ctx->in[1], *bi = ctx->in[2];
    tq_tensor *y = ctx->out[0];
    float eps_f;
    tfmq_status st = tq_attr_float(ctx->node, "epsilon", 1e-5f, &eps_f);
    if (st != TFMQ_OK) {
        return st;
    }
    if (x->rank < 2) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "input rank %d", x->rank);
    }
    const size_t n = (size_t)x->dims[0], c = (size_t)x->dims[1];
    if (tq_tensor_numel(sc) != c || tq_tensor_numel(bi) != c) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "scale and B must have %zu entries", c);
    }
    if (n == 0 || c == 0) {
        return TFMQ_OK;
    }
    const size_t inner = tq_tensor_numel(x) / n / c;
    double buf[IN_CHUNK];
    for (size_t ni = 0; ni < n; ni++) {
        for (size_t ci = 0; ci < c; ci++) {
            size_t base = (ni * c + ci) * inner;
            double s = 0.0, s2 = 0.0;
            for (size_t o = 0; o < inner; o += IN_CHUNK) {
                size_t len = inner - o < IN_CHUNK ? inner - o : IN_CHUNK;
                tq_rc_load_f64(x->dtype, x->data, base + o, len, buf);
                for (size_t j = 0; j < len; j++) {
                    s += buf[j];
                }
            }
            double m = inner ? s / (double)inner : 0.0;
            for (size_t o = 0; o < inner; o += IN_CHUNK) {
                size_t len = inner - o < IN_CHUNK ? inner - o : IN_CHUNK;
                tq_rc_load_f64(x->dtype, x->data, base + o, len, buf);
                for (size_t j = 0; j < len; j++) {
                    s2 += (buf[j] - m) * (buf[j] - m);
                }
            }
            double v = inner ? s2 / (double)inner : 0.0;
            double a = tq_load_f64(sc->dtype, sc->data, ci) / sqrt(v + (double)eps_f);
            double b = tq_load_f64(bi->dtype, bi->data, ci);
            for (size_t o = 0; o < inner; o += IN_CHUNK) {
                size_t len = inner - o < IN_CHUNK ? inner - o : IN_CHUNK;
                tq_rc_load_f64(x->dtype, x->data, base + o, len, buf);
                for (size_t j = 0; j < len; j++) {
                    buf[j] = (buf[j] - m) * a + b;
                }
                tq_rc_store_f64(y->dtype, y->data, base + o, len, buf);
            }
        }
    }
    return TFMQ_OK;
}
