/* batch_norm.c: reference BatchNormalization in double. Inference mode uses the given mean and
 * variance; training mode (training_mode = 1 from opset 14, or extra outputs requested in older
 * opsets) normalises with the batch statistics (population variance) and outputs
 * running = input * momentum + batch * (1 - momentum). */
#include <math.h>

#include "backends/ref/ref_compute_util.h"

#define BN_CHUNK 256

tfmq_status tq_ref_batch_norm(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0], *sc = ctx->in[1], *bi = ctx->in[2];
    const tq_tensor *mean = ctx->in[3], *var = ctx->in[4];
    tq_tensor *y = ctx->out[0];
    tfmq_status st;
    float eps_f, mom_f;
    int64_t training = 0, spatial = 1;
    if ((st = tq_attr_float(ctx->node, "epsilon", 1e-5f, &eps_f)) != TFMQ_OK ||
        (st = tq_attr_float(ctx->node, "momentum", 0.9f, &mom_f)) != TFMQ_OK) {
        return st;
    }
    if (ctx->opset < 9 && (st = tq_attr_int(ctx->node, "spatial", 1, &spatial)) != TFMQ_OK) {
        return st;
    }
    if (ctx->opset >= 14) {
        if ((st = tq_attr_int(ctx->node, "training_mode", 0, &training)) != TFMQ_OK) {
            return st;
        }
    } else {
        int64_t is_test = 0;
        if (ctx->opset < 7 && (st = tq_attr_int(ctx->node, "is_test", 0, &is_test)) != TFMQ_OK) {
            return st;
        }
        training = (!is_test && (ctx->out[1] || ctx->out[2])) ? 1 : 0;
    }
    if (x->rank < 2) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "input rank %d", x->rank);
    }
    const double eps = (double)eps_f, mom = (double)mom_f;
    const size_t n = (size_t)x->dims[0], c = (size_t)x->dims[1];
    const size_t inner = c ? (n ? tq_tensor_numel(x) / n / c : 0) : 0;
    /* per-activation parameters (spatial = 0): index c * inner + s */
    const size_t n_par = spatial ? c : c * inner;
    for (int32_t i = 1; i < 5; i++) {
        if (tq_tensor_numel(ctx->in[i]) != n_par) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "input %d has %zu entries, expected %zu",
                              i, tq_tensor_numel(ctx->in[i]), n_par);
        }
    }
    if (training && !spatial) {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "training mode with spatial = 0");
    }
    for (int32_t k = 1; k < 3; k++) {
        if (ctx->out[k] && tq_tensor_numel(ctx->out[k]) != n_par) {
            return tq_op_fail(ctx, TFMQ_ERR_INTERNAL, "output %d has the wrong size", k);
        }
    }
    double buf[BN_CHUNK];
    for (size_t ci = 0; ci < c; ci++) {
        double m = 0.0, v = 0.0;
        if (training) {
            /* batch statistics over N and the spatial dims, two passes */
            double s = 0.0, s2 = 0.0;
            size_t cnt = n * inner;
            for (size_t ni = 0; ni < n; ni++) {
                size_t base = (ni * c + ci) * inner;
                for (size_t o = 0; o < inner; o += BN_CHUNK) {
                    size_t len = inner - o < BN_CHUNK ? inner - o : BN_CHUNK;
                    tq_rc_load_f64(x->dtype, x->data, base + o, len, buf);
                    for (size_t j = 0; j < len; j++) {
                        s += buf[j];
                    }
                }
            }
            m = cnt ? s / (double)cnt : 0.0;
            for (size_t ni = 0; ni < n; ni++) {
                size_t base = (ni * c + ci) * inner;
                for (size_t o = 0; o < inner; o += BN_CHUNK) {
                    size_t len = inner - o < BN_CHUNK ? inner - o : BN_CHUNK;
                    tq_rc_load_f64(x->dtype, x->data, base + o, len, buf);
                    for (size_t j = 0; j < len; j++) {
                        s2 += (buf[j] - m) * (buf[j] - m);
                    }
                }
            }
            v = cnt ? s2 / (double)cnt : 0.0;
            if (ctx->out[1]) {
                double rm = tq_load_f64(mean->dtype, mean->data, ci) * mom + m * (1.0 - mom);
                tq_store_f64(ctx->out[1]->dtype, ctx->out[1]->data, ci, rm);
            }
            if (ctx->out[2]) {
                double rv = tq_load_f64(var->dtype, var->data, ci) * mom + v * (1.0 - mom);
                tq_store_f64(ctx->out[2]->dtype, ctx->out[2]->data, ci, rv);
            }
        }
        for (size_t ni = 0; ni < n; ni++) {
            size_t base = (ni * c + ci) * inner;
            for (size_t o = 0; o < inner; o += BN_CHUNK) {
                size_t len = inner - o < BN_CHUNK ? inner - o : BN_CHUNK;
                tq_rc_load_f64(x->dtype, x->data, base + o, len, buf);
                if (spatial) {
                    if (!training) {
                        m = tq_load_f64(mean->dtype, mean->data, ci);
                        v = tq_load_f64(var->dtype, var->data, ci);
                    }
                    double a = tq_load_f64(sc->dtype, sc->data, ci) / sqrt(v + eps);
                    double b = tq_load_f64(bi->dtype, bi->data, ci);
                    for (size_t j = 0; j < len; j++) {
                        buf[j] = (buf[j] - m) * a + b;
                    }
                } else {
                    for (size_t j = 0; j < len; j++) {
                        size_t p = ci * inner + o + j;
                        double pm = tq_load_f64(mean->dtype, mean->data, p);
                        double pv = tq_load_f64(var->dtype, var->data, p);
                        double a = tq_load_f64(sc->dtype, sc->data, p) / sqrt(pv + eps);
                        buf[j] = (buf[j] - pm) * a + tq_load_f64(bi->dtype, bi->data, p);
                    }
                }
                tq_rc_store_f64(y->dtype, y->data, base + o, len, buf);
            }
        }
    }
    if (!training) {
        /* old opsets' optional outputs in inference mode mirror the inputs */
        for (int32_t k = 1; k < 3; k++) {
            if (ctx->out[k]) {
                for (size_t i = 0; i < n_par; i++) {
                    tq_store_f64(ctx->out[k]->dtype, ctx->out[k]->data, i,
                                 tq_load_f64(ctx->in[2 + k]->dtype, ctx->in[2 + k]->data, i));
                }
            }
        }
    }
    return TFMQ_OK;
}
