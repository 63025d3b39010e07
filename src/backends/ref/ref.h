/* ref.h: small helpers shared by the reference kernels (src/backends/ref/): numpy-style
 * broadcast iteration with precomputed strides, and splitting a shape around an axis.
 * Everything is static inline so any kernel can include this header without a link dependency.
 * Functions here are kept stable: other kernel files rely on them. */
#ifndef TQ_REF_H
#define TQ_REF_H

#include "ir/ir.h"

/* ---- broadcast iteration ----
 * The output shape is walked row by row: a row is the innermost (merged) dimension, n_inner
 * elements long, and each input advances by inner_stride[k] (0 when broadcast along it) within a
 * row. Dims of size 1 are dropped and adjacent dims that are contiguous (or broadcast) for every
 * input are merged, so e.g. [8,64,56,56] + [8,64,56,56] is one row of 1.6M elements and
 * [8,64,56,56] + [1,64,1,1] is 512 rows of 3136 with inner stride 0 for the bias.
 * Usage:
 *     tq_ref_bcast b;
 *     tq_ref_bcast_init(&b, out, ins, n);       (ins[k] must broadcast to out: shapes inferred)
 *     size_t off[TQ_REF_BCAST_MAX_IN];
 *     tq_ref_bcast_begin(&b, off);
 *     for (size_t row = 0; row < b.n_rows; row++) {
 *         ... elements o = row * b.n_inner + j, input k at off[k] + j * b.inner_stride[k] ...
 *         tq_ref_bcast_next(&b, off);
 *     }
 * Empty outputs give n_rows == 0. */
#define TQ_REF_BCAST_MAX_IN 4

typedef struct tq_ref_bcast {
    int32_t n_in;
    int32_t rank;                                    /* merged outer dims (excluding the row) */
    size_t n_rows;                                   /* product of outer dims; 0 if empty */
    size_t n_inner;                                  /* elements per row */
    size_t inner_stride[TQ_REF_BCAST_MAX_IN];        /* elements, 0 when broadcast */
    size_t dims[TQ_MAX_RANK];                        /* outer dims, innermost last */
    size_t stride[TQ_REF_BCAST_MAX_IN][TQ_MAX_RANK]; /* elements, 0 when broadcast */
    size_t idx[TQ_MAX_RANK];                         /* iteration state */
} tq_ref_bcast;

/* Strides (elements) of `in` seen through the shape of `out` (rank out_rank, dims out_dims):
 * 0 along broadcast dims. in->rank <= out_rank; missing leading dims broadcast. */
static inline void tq_ref_bcast_strides(const tq_tensor *in, int32_t out_rank,
                                        const int64_t *out_dims, size_t *strides)
{
    size_t s = 1;
    for (int32_t i = out_rank - 1; i >= 0; i--) {
        int32_t ii = i - (out_rank - in->rank);
        if (ii < 0) {
            strides[i] = 0;
            continue;
        }
        int64_t d = in->dims[ii];
        strides[i] = (d == 1 && out_dims[i] != 1) ? 0 : s;
        s *= (size_t)d;
    }
}

/* True when `in` broadcasts to the shape of `out` (numpy rules, out fixed). Kernels check this
 * before iterating so that a shape mismatch can never read past a buffer. */
static inline bool tq_ref_bcast_ok(const tq_tensor *in, const tq_tensor *out)
{
    if (in->rank < 0 || in->rank > out->rank || out->rank > TQ_MAX_RANK) {
        return false;
    }
    for (int32_t i = 0; i < in->rank; i++) {
        int64_t di = in->dims[in->rank - 1 - i], dout = out->dims[out->rank - 1 - i];
        if (di != 1 && di != dout) {
            return false;
        }
    }
    return true;
}

static inline void tq_ref_bcast_init(tq_ref_bcast *b, const tq_tensor *out,
                                     const tq_tensor *const *ins, int32_t n_in)
{
    size_t full[TQ_REF_BCAST_MAX_IN][TQ_MAX_RANK];
    size_t dims[TQ_MAX_RANK];
    int32_t r = 0;
    bool empty = false;
    b->n_in = n_in;
    for (int32_t k = 0; k < n_in; k++) {
        tq_ref_bcast_strides(ins[k], out->rank, out->dims, full[k]);
    }
    /* drop size-1 dims, merge mergeable neighbours (walking outer to inner) */
    size_t ms[TQ_REF_BCAST_MAX_IN][TQ_MAX_RANK];
    for (int32_t i = 0; i < out->rank; i++) {
        size_t d = (size_t)out->dims[i];
        if (d == 0) {
            empty = true;
        }
        if (d == 1) {
            continue;
        }
        bool merge = r > 0;
        for (int32_t k = 0; merge && k < n_in; k++) {
            /* previous (outer) dim r-1 merges with this one if stride_outer == stride * d */
            if (ms[k][r - 1] != full[k][i] * d) {
                merge = false;
            }
        }
        if (merge) {
            dims[r - 1] *= d;
            for (int32_t k = 0; k < n_in; k++) {
                ms[k][r - 1] = full[k][i];
            }
        } else {
            dims[r] = d;
            for (int32_t k = 0; k < n_in; k++) {
                ms[k][r] = full[k][i];
            }
            r++;
        }
    }
    if (r == 0) { /* scalar-like output: one element */
        dims[0] = 1;
        for (int32_t k = 0; k < n_in; k++) {
            ms[k][0] = 0;
        }
        r = 1;
    }
    b->n_inner = dims[r - 1];
    for (int32_t k = 0; k < n_in; k++) {
        b->inner_stride[k] = ms[k][r - 1];
    }
    b->rank = r - 1;
    b->n_rows = 1;
    for (int32_t i = 0; i < r - 1; i++) {
        b->dims[i] = dims[i];
        b->n_rows *= dims[i];
        b->idx[i] = 0;
        for (int32_t k = 0; k < n_in; k++) {
            b->stride[k][i] = ms[k][i];
        }
    }
    if (empty) {
        b->n_rows = 0;
        b->n_inner = 0;
    }
}

/* Start: offsets of every input at the first row. */
static inline void tq_ref_bcast_begin(tq_ref_bcast *b, size_t *off)
{
    for (int32_t i = 0; i < b->rank; i++) {
        b->idx[i] = 0;
    }
    for (int32_t k = 0; k < b->n_in; k++) {
        off[k] = 0;
    }
}

/* Advance the offsets to the next row. */
static inline void tq_ref_bcast_next(tq_ref_bcast *b, size_t *off)
{
    for (int32_t i = b->rank - 1; i >= 0; i--) {
        if (++b->idx[i] < b->dims[i]) {
            for (int32_t k = 0; k < b->n_in; k++) {
                off[k] += b->stride[k][i];
            }
            return;
        }
        b->idx[i] = 0;
        for (int32_t k = 0; k < b->n_in; k++) {
            off[k] -= b->stride[k][i] * (b->dims[i] - 1);
        }
    }
}

/* ---- axis splitting ----
 * View a known shape as [outer, n_axis, inner] around `axis` (0 <= axis < rank). */
static inline void tq_ref_split_axis(const tq_tensor *t, int32_t axis, size_t *outer,
                                     size_t *n_axis, size_t *inner)
{
    size_t o = 1, in = 1;
    for (int32_t i = 0; i < axis; i++) {
        o *= (size_t)t->dims[i];
    }
    for (int32_t i = axis + 1; i < t->rank; i++) {
        in *= (size_t)t->dims[i];
    }
    *outer = o;
    *n_axis = (size_t)t->dims[axis];
    *inner = in;
}

/* True when dtype is one of the float types (f32, f64, f16, bf16). */
static inline bool tq_ref_is_float(tfmq_dtype dt)
{
    return tq_dtype_is_float(dt);
}

#endif
