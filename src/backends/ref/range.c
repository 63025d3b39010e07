/* range.c: Range reference kernel: out[i] = start + i * delta, exactly in int64 for integer
 * dtypes (every value lies between start and limit, so nothing overflows) and in double for
 * float dtypes. */
#include "backends/ref/ref_shape_util.h"

tfmq_status tq_ref_range(tq_op_ctx *ctx)
{
    tq_tensor *y = ctx->out[0];
    tfmq_dtype dt = y->dtype;
    tfmq_status st = tq_ref_shape_verify(ctx, NULL);
    if (st != TFMQ_OK) {
        return st;
    }
    size_t n = (size_t)y->dims[0];
    if (tq_dtype_is_int(dt)) {
        int64_t s = tq_load_i64(dt, ctx->in[0]->data, 0), d = tq_load_i64(dt, ctx->in[2]->data, 0);
        for (size_t i = 0; i < n; i++) {
            tq_store_i64(dt, y->data, i, s + (int64_t)i * d);
        }
    } else {
        double s = tq_load_f64(dt, ctx->in[0]->data, 0), d = tq_load_f64(dt, ctx->in[2]->data, 0);
        for (size_t i = 0; i < n; i++) {
            tq_store_f64(dt, y->data, i, s + (double)i * d);
        }
    }
    return TFMQ_OK;
}
