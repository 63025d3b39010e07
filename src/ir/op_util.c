/* op_util.c: helpers shared by the shape-inference functions of ops/: node-labelled errors,
 * broadcasting, axis normalisation and reading small integer tensors (shapes, axes, pads). */
#include <stdio.h>

#include "ir/ir.h"

tfmq_status tq_op_fail(const tq_op_ctx *ctx, tfmq_status st, const char *fmt, ...)
{
    char msg[384], lbl[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return tq_fail(st, "node '%s' (%s): %s",
                   tq_node_label(ctx->graph, ctx->node, lbl, sizeof(lbl)),
                   tq_op_table[ctx->node->op].name, msg);
}

tfmq_status tq_broadcast_shape(const tq_op_ctx *ctx, const tq_tensor *a, const tq_tensor *b,
                               tq_tensor *out)
{
    if (a->rank < 0 || b->rank < 0) {
        out->rank = -1;
        return TFMQ_OK;
    }
    int32_t r = a->rank > b->rank ? a->rank : b->rank;
    out->rank = r;
    for (int32_t i = 0; i < r; i++) {
        int32_t ia = i - (r - a->rank), ib = i - (r - b->rank);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da == 1) {
            out->dims[i] = db;
        } else if (db == 1) {
            out->dims[i] = da;
        } else if (da < 0 || db < 0) {
            out->dims[i] = da < 0 ? db : da;
            if (da < 0 && db < 0) {
                out->dims[i] = -1;
            }
        } else if (da == db) {
            out->dims[i] = da;
        } else {
            char sa[96], sb[96];
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "shapes %s and %s do not broadcast",
                              tq_shape_str(a, sa, sizeof(sa)), tq_shape_str(b, sb, sizeof(sb)));
        }
    }
    return TFMQ_OK;
}

tfmq_status tq_norm_axis(const tq_op_ctx *ctx, int64_t axis, int32_t rank, bool allow_end,
                         int32_t *axis_out)
{
    int64_t r = rank + (allow_end ? 1 : 0);
    if (axis < -r || axis >= r) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "axis %lld is out of range for rank %d",
                          (long long)axis, rank);
    }
    *axis_out = (int32_t)(axis < 0 ? axis + r : axis);
    return TFMQ_OK;
}

tfmq_status tq_read_ints(const tq_op_ctx *ctx, const tq_tensor *t, int64_t *dst, size_t cap,
                         size_t *n_out)
{
    *n_out = 0;
    if (!t->data) {
        return tq_op_fail(ctx, TFMQ_ERR_INTERNAL, "integer input not known");
    }
    if (t->rank > 1 || (t->dtype != TFMQ_DTYPE_INT64 && t->dtype != TFMQ_DTYPE_INT32)) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG,
                          "expected a 1-D int64 or int32 tensor, got rank %d %s", t->rank,
                          tfmq_dtype_name(t->dtype));
    }
    size_t n = tq_tensor_numel(t);
    if (n > cap) {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "%zu entries, at most %zu supported", n, cap);
    }
    for (size_t i = 0; i < n; i++) {
        dst[i] = tq_load_i64(t->dtype, t->data, i);
    }
    *n_out = n;
    return TFMQ_OK;
}
