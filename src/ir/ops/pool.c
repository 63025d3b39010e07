/* pool.c: shape inference for MaxPool and AveragePool: X [N, C, D1..Dn] (n = 1..3); Y and
 * MaxPool's optional Indices (int64) are [N, C, O1..On] from kernel_shape, strides, pads,
 * dilations, auto_pad and ceil_mode (see tq_rc_spatial_init). */
#include "backends/ref/ref_compute_util.h"

tfmq_status tq_infer_pool(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0];
    bool is_max = ctx->node->op == TQ_OP_MAX_POOL;
    bool ok = tq_rc_is_float(x->dtype) ||
              (is_max && (x->dtype == TFMQ_DTYPE_INT8 || x->dtype == TFMQ_DTYPE_UINT8));
    if (!ok) {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "dtype %s not supported",
                          tfmq_dtype_name(x->dtype));
    }
    tq_tensor *y = ctx->out[0], *ind = is_max ? ctx->out[1] : NULL;
    y->dtype = x->dtype;
    if (ind) {
        ind->dtype = TFMQ_DTYPE_INT64;
    }
    if (x->rank < 0) {
        y->rank = -1;
        if (ind) {
            ind->rank = -1;
        }
        return TFMQ_OK;
    }
    tq_rc_spatial sp;
    tfmq_status st =
        tq_rc_spatial_init(ctx, is_max ? TQ_RC_SP_MAX_POOL : TQ_RC_SP_AVG_POOL, &sp);
    if (st != TFMQ_OK) {
        return st;
    }
    y->rank = x->rank;
    y->dims[0] = x->dims[0];
    y->dims[1] = x->dims[1];
    for (int32_t i = 0; i < sp.n_sp; i++) {
        y->dims[2 + i] = sp.out[i];
    }
    if (ind) {
        ind->rank = y->rank;
        for (int32_t i = 0; i < y->rank; i++) {
            ind->dims[i] = y->dims[i];
        }
    }
    ctx->scratch_bytes = tq_rc_pool_scratch(ctx);
    return TFMQ_OK;
}
