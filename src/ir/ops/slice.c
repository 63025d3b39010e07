/* slice.c: Slice parameter decoding and shape inference (ONNX Slice-1/10/11/13). starts/ends/
 * axes are attributes before opset 10 and inputs (with optional axes and steps) after. Indices
 * are clamped as the spec says: starts to [0, dim] (or [0, dim-1] for negative steps), ends to
 * [0, dim] (or [-1, dim-1]), so INT64_MAX/INT64_MIN mean "to the end". */
#include "ir/ops/shape_ops.h"

static int64_t tq_clamp64(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

tfmq_status tq_slice_params_get(const tq_op_ctx *ctx, tq_slice_params *p)
{
    const tq_tensor *x = ctx->in[0];
    int32_t r = x->rank;
    int64_t starts[TQ_MAX_RANK], ends[TQ_MAX_RANK], axes[TQ_MAX_RANK], steps[TQ_MAX_RANK];
    int64_t n_s, n_e, n_a, n_st;
    tq_ints_state s_s, s_e, s_a, s_st;
    tfmq_status st;
    for (int32_t i = 0; i < r; i++) {
        p->start[i] = 0;
        p->step[i] = 1;
        p->count[i] = x->dims[i];
    }
    st = tq_shape_ints(ctx, 1, "starts", starts, TQ_MAX_RANK, &n_s, &s_s);
    if (st == TFMQ_OK) {
        st = tq_shape_ints(ctx, 2, "ends", ends, TQ_MAX_RANK, &n_e, &s_e);
    }
    if (st == TFMQ_OK) {
        st = tq_shape_ints(ctx, 3, "axes", axes, TQ_MAX_RANK, &n_a, &s_a);
    }
    if (st == TFMQ_OK) {
        /* steps only exist as an input (opset >= 10) */
        st = tq_shape_ints(ctx, 4, NULL, steps, TQ_MAX_RANK, &n_st, &s_st);
    }
    if (st != TFMQ_OK) {
        return st;
    }
    if (s_s == TQ_INTS_ABSENT || s_e == TQ_INTS_ABSENT) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "starts and ends are required");
    }
    if (s_a == TQ_INTS_UNKNOWN) {
        for (int32_t i = 0; i < r; i++) {
            p->count[i] = -1;
        }
        return TFMQ_OK;
    }
    int64_t n = s_s == TQ_INTS_KNOWN ? n_s : s_e == TQ_INTS_KNOWN ? n_e : n_s >= 0 ? n_s : n_e;
    if (s_a == TQ_INTS_KNOWN) {
        if (n >= 0 && n_a != n) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "axes has %lld entries, starts %lld",
                              (long long)n_a, (long long)n);
        }
        n = n_a;
        st = tq_shape_norm_axes(ctx, axes, (size_t)n, r);
        if (st != TFMQ_OK) {
            return st;
        }
    } else if (n >= 0) {
        if (n > r) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "%lld starts for rank %d", (long long)n,
                              r);
        }
        for (int64_t i = 0; i < n; i++) {
            axes[i] = i;
        }
    }
    if (s_s != TQ_INTS_KNOWN || s_e != TQ_INTS_KNOWN || s_st == TQ_INTS_UNKNOWN) {
        /* only the sliced axes become unknown; all of them when even their number is unknown */
        for (int32_t i = 0; i < r; i++) {
            if (n < 0) {
                p->count[i] = -1;
            }
        }
        for (int64_t i = 0; i < n; i++) {
            p->count[axes[i]] = -1;
        }
        return TFMQ_OK;
    }
    if (n_e != n || (s_st == TQ_INTS_KNOWN && n_st != n)) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG,
                          "starts, ends, axes and steps differ in length");
    }
    for (int64_t i = 0; i < n; i++) {
        int32_t a = (int32_t)axes[i];
        int64_t step = s_st == TQ_INTS_KNOWN ? steps[i] : 1, d = x->dims[a];
        int64_t s = starts[i], e = ends[i];
        if (step == 0) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "step of axis %d is 0", a);
        }
        p->step[a] = step;
        if (d < 0) {
            p->count[a] = -1;
            continue;
        }
        if (s < 0) {
            s += d;
        }
        if (e < 0) {
            e += d;
        }
        uint64_t span, ustep;
        if (step > 0) {
            s = tq_clamp64(s, 0, d);
            e = tq_clamp64(e, 0, d);
            span = e > s ? (uint64_t)(e - s) : 0;
            ustep = (uint64_t)step;
        } else {
            s = tq_clamp64(s, 0, d - 1);
            e = tq_clamp64(e, -1, d - 1);
            span = s > e ? (uint64_t)(s - e) : 0;
            ustep = (uint64_t)0 - (uint64_t)step;
        }
        p->start[a] = s;
        p->count[a] = span == 0 ? 0 : (int64_t)((span - 1) / ustep + 1);
    }
    return TFMQ_OK;
}

tfmq_status tq_infer_slice(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0];
    tq_tensor *y = ctx->out[0];
    tq_slice_params p;
    tq_shape_set_unknown(y, x->dtype, x->rank);
    if (x->rank < 0) {
        return TFMQ_OK;
    }
    tfmq_status st = tq_slice_params_get(ctx, &p);
    if (st != TFMQ_OK) {
        return st;
    }
    for (int32_t i = 0; i < x->rank; i++) {
        y->dims[i] = p.count[i];
    }
    return tq_shape_check(ctx, y);
}
