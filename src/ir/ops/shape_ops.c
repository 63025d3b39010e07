/* shape_ops.c: general helpers of the data-movement ops (see shape_ops.h): element sizes,
 * output-shape validation against TQ_MAX_TENSOR_BYTES, checked dim products and reading integer
 * lists that moved from attributes to inputs across opsets. Op-specific decoders live in the
 * op's own file (slice.c, split.c, pad.c, resize.c, ...). */
#include "ir/ops/shape_ops.h"

tfmq_status tq_shape_esize(const tq_op_ctx *ctx, tfmq_dtype dt, size_t *esize_out)
{
    size_t n = tq_dtype_size(dt);
    *esize_out = n;
    if (n == 0) {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "dtype %s is not supported",
                          tfmq_dtype_name(dt));
    }
    return TFMQ_OK;
}

void tq_shape_set_unknown(tq_tensor *t, tfmq_dtype dt, int32_t rank)
{
    t->dtype = dt;
    t->rank = rank;
    for (int32_t i = 0; i < TQ_MAX_RANK; i++) {
        t->dims[i] = -1;
    }
}

tfmq_status tq_shape_check(const tq_op_ctx *ctx, const tq_tensor *t)
{
    if (t->rank < -1 || t->rank > TQ_MAX_RANK) {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "output rank %d, at most %d supported",
                          t->rank, TQ_MAX_RANK);
    }
    size_t bytes = tq_dtype_size(t->dtype);
    if (bytes == 0) {
        bytes = 1;
    }
    bool zero = false;
    for (int32_t i = 0; i < t->rank; i++) {
        if (t->dims[i] < -1) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "output dim %d is negative (%lld)", i,
                              (long long)t->dims[i]);
        }
        zero = zero || t->dims[i] == 0;
    }
    if (zero) {
        return TFMQ_OK;
    }
    for (int32_t i = 0; i < t->rank; i++) {
        if (t->dims[i] < 0) {
            continue;
        }
        if (!tq_mul_size(bytes, (size_t)t->dims[i], &bytes) || bytes > TQ_MAX_TENSOR_BYTES) {
            char buf[160];
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG,
                              "output shape %s is larger than the %zu-byte tensor limit",
                              tq_shape_str(t, buf, sizeof(buf)), (size_t)TQ_MAX_TENSOR_BYTES);
        }
    }
    return TFMQ_OK;
}

tfmq_status tq_shape_prod(const tq_op_ctx *ctx, const int64_t *dims, int32_t from, int32_t to,
                          int64_t *prod_out)
{
    int64_t p = 1;
    bool unknown = false;
    for (int32_t i = from; i < to; i++) {
        if (dims[i] < 0) {
            unknown = true;
        } else if (!tq_mul_i64(p, dims[i], &p)) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "dim product overflows");
        }
    }
    *prod_out = unknown ? -1 : p;
    return TFMQ_OK;
}

int64_t tq_shape_len(const tq_tensor *t)
{
    if (t->rank == 0) {
        return 1;
    }
    if (t->rank == 1) {
        return t->dims[0];
    }
    return -1;
}

tfmq_status tq_shape_ints(const tq_op_ctx *ctx, int32_t k, const char *attr, int64_t *dst,
                          size_t cap, int64_t *len_out, tq_ints_state *state_out)
{
    tfmq_status st;
    *len_out = -1;
    *state_out = TQ_INTS_ABSENT;
    const tq_tensor *t = k < ctx->n_in ? ctx->in[k] : NULL;
    if (t) {
        if (t->rank > 1) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "input %d must be 1-D, got rank %d", k,
                              t->rank);
        }
        if (t->dtype != TFMQ_DTYPE_INT64 && t->dtype != TFMQ_DTYPE_INT32) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "input %d must be int64 or int32, got %s",
                              k, tfmq_dtype_name(t->dtype));
        }
        if (!t->data && !(tq_tensor_shape_known(t) && tq_tensor_numel(t) == 0)) {
            *len_out = tq_shape_len(t);
            *state_out = TQ_INTS_UNKNOWN;
            return TFMQ_OK;
        }
        size_t n = 0;
        if (t->data) { /* else: empty, possibly without a buffer */
            st = tq_read_ints(ctx, t, dst, cap, &n);
            if (st != TFMQ_OK) {
                return st;
            }
        }
        *len_out = (int64_t)n;
        *state_out = TQ_INTS_KNOWN;
        return TFMQ_OK;
    }
    if (!attr) {
        return TFMQ_OK;
    }
    const int64_t *v = NULL;
    size_t n = 0;
    const tq_attr *a = tq_node_attr(ctx->node, attr);
    if (a && a->type == TQ_ATTR_INT) { /* a lone int where a list is expected */
        v = &a->i;
        n = 1;
    } else {
        st = tq_attr_ints(ctx->node, attr, &v, &n);
        if (st != TFMQ_OK) {
            return st;
        }
        if (!a) {
            return TFMQ_OK;
        }
    }
    if (n > cap) {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "attribute '%s' has %zu entries, at most %zu",
                          attr, n, cap);
    }
    for (size_t i = 0; i < n; i++) {
        dst[i] = v[i];
    }
    *len_out = (int64_t)n;
    *state_out = TQ_INTS_KNOWN;
    return TFMQ_OK;
}

tfmq_status tq_shape_norm_axes(const tq_op_ctx *ctx, int64_t *axes, size_t n, int32_t rank)
{
    uint32_t seen = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t a;
        tfmq_status st = tq_norm_axis(ctx, axes[i], rank, false, &a);
        if (st != TFMQ_OK) {
            return st;
        }
        if (seen & (1u << a)) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "axis %d is repeated", a);
        }
        seen |= 1u << a;
        axes[i] = a;
    }
    return TFMQ_OK;
}
