/* global_pool.c: reference GlobalAveragePool / GlobalMaxPool: mean (in double) or max over all
 * spatial positions of each (n, c) plane. */
#include <math.h>

#include "backends/ref/ref_compute_util.h"

#define GP_CHUNK 256

tfmq_status tq_ref_global_pool(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0];
    tq_tensor *y = ctx->out[0];
    const bool is_max = ctx->node->op == TQ_OP_GLOBAL_MAX_POOL;
    if (x->rank < 2) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "input rank %d", x->rank);
    }
    const size_t nc = (size_t)x->dims[0] * (size_t)x->dims[1];
    if (tq_tensor_numel(y) != nc) {
        return tq_op_fail(ctx, TFMQ_ERR_INTERNAL, "output shape does not match the input");
    }
    if (nc == 0) {
        return TFMQ_OK;
    }
    const size_t inner = tq_tensor_numel(x) / nc;
    double buf[GP_CHUNK];
    for (size_t p = 0; p < nc; p++) {
        double acc = is_max ? -(double)INFINITY : 0.0;
        for (size_t o = 0; o < inner; o += GP_CHUNK) {
            size_t len = inner - o < GP_CHUNK ? inner - o : GP_CHUNK;
            tq_rc_load_f64(x->dtype, x->data, p * inner + o, len, buf);
            for (size_t j = 0; j < len; j++) {
                if (is_max) {
                    acc = buf[j] > acc ? buf[j] : acc;
                } else {
                    acc += buf[j];
                }
            }
        }
        if (!is_max) {
            acc = inner ? acc / (double)inner : 0.0;
        }
        tq_store_f64(y->dtype, y->data, p, acc);
    }
    return TFMQ_OK;
}
