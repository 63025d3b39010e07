/* resize.c: Resize and Upsample reference kernel (nearest, N-D linear, cubic) following the
 * ONNX reference implementation (onnx/backend/test/case/node/resize.py): each output coordinate
 * maps back through the coordinate transformation to a real input position; its taps (1, 2 or 4
 * input indices per axis, edge-clamped) and weights multiply across axes. Taps of an axis are
 * recomputed only when its output coordinate changes. Accumulation is in double. */
#include <math.h>
#include <string.h>

#include "backends/ref/ref_shape_util.h"

typedef struct tq_taps {
    int32_t n;      /* taps in use (1..4) */
    bool outside;   /* tf_crop_and_resize position outside the input: extrapolation value */
    int64_t idx[4]; /* input indices, clamped to [0, len) */
    double w[4];
} tq_taps;

static double tq_resize_pos(const tq_resize_params *p, int32_t ax, int64_t x, int64_t in_len,
                            int64_t out_dim)
{
    const double s = p->scale[ax], xr = (double)x, ol = p->out_len[ax];
    switch (p->coord) {
    case TQ_COORD_HALF_PIXEL:
        return (xr + 0.5) / s - 0.5;
    case TQ_COORD_HALF_PIXEL_SYMMETRIC: {
        double adj = (double)out_dim / ol, center = (double)in_len / 2.0;
        return center * (1.0 - adj) + (xr + 0.5) / s - 0.5;
    }
    case TQ_COORD_PYTORCH_HALF_PIXEL:
        /* the spec tests length_resized > 1; like the ONNX reference, the real-valued length */
        return ol > 1.0 ? (xr + 0.5) / s - 0.5 : 0.0;
    case TQ_COORD_ALIGN_CORNERS:
        return ol == 1.0 ? 0.0 : xr * (double)(in_len - 1) / (ol - 1.0);
    case TQ_COORD_ASYMMETRIC:
        return xr / s;
    case TQ_COORD_TF_HALF_PIXEL_FOR_NN:
        return (xr + 0.5) / s;
    case TQ_COORD_TF_CROP_AND_RESIZE: {
        double rs = p->roi_start[ax], re = p->roi_end[ax], v;
        if (ol == 1.0) {
            v = (re - rs) * (double)(in_len - 1) / 2.0;
        } else {
            v = xr * (re - rs) * (double)(in_len - 1) / (ol - 1.0);
        }
        return v + rs * (double)(in_len - 1);
    }
    }
    return 0.0;
}

static int64_t tq_clamp_idx(double v, int64_t len)
{
    return v <= 0.0 ? 0 : v >= (double)(len - 1) ? len - 1 : (int64_t)v;
}

static void tq_resize_taps(const tq_resize_params *p, int32_t ax, int64_t x, int64_t in_len,
                           int64_t out_dim, tq_taps *t)
{
    double pos = tq_resize_pos(p, ax, x, in_len, out_dim);
    t->outside = false;
    t->n = 1;
    t->w[0] = 1.0;
    if (p->coord == TQ_COORD_TF_CROP_AND_RESIZE && (pos < 0.0 || pos > (double)(in_len - 1))) {
        t->outside = true;
        t->idx[0] = 0;
        return;
    }
    if (!(pos == pos)) {
        pos = 0.0; /* NaN from a degenerate transform: pick the first element */
    }
    const double fl = floor(pos), r = pos - fl;
    if (p->mode == TQ_RESIZE_NEAREST) {
        double v = fl;
        if (r != 0.0) {
            switch (p->nearest) {
            case TQ_NEAREST_ROUND_PREFER_FLOOR:
                v = r <= 0.5 ? fl : fl + 1.0;
                break;
            case TQ_NEAREST_ROUND_PREFER_CEIL:
                v = r < 0.5 ? fl : fl + 1.0;
                break;
            case TQ_NEAREST_FLOOR:
                v = fl;
                break;
            case TQ_NEAREST_CEIL:
                v = fl + 1.0;
                break;
            case TQ_NEAREST_SIMPLE:
                v = p->scale[ax] < 1.0 ? fl + 1.0 : fl;
                break;
            }
        }
        t->idx[0] = tq_clamp_idx(v, in_len);
        return;
    }
    if (r == 0.0) {
        t->idx[0] = tq_clamp_idx(fl, in_len);
        return;
    }
    if (p->mode == TQ_RESIZE_LINEAR) {
        t->n = 2;
        t->idx[0] = tq_clamp_idx(fl, in_len);
        t->idx[1] = tq_clamp_idx(fl + 1.0, in_len);
        t->w[0] = 1.0 - r;
        t->w[1] = r;
        return;
    }
    const double A = p->cubic_a, q = 1.0 - r;
    t->n = 4;
    t->w[0] = ((A * (r + 1.0) - 5.0 * A) * (r + 1.0) + 8.0 * A) * (r + 1.0) - 4.0 * A;
    t->w[1] = ((A + 2.0) * r - (A + 3.0)) * r * r + 1.0;
    t->w[2] = ((A + 2.0) * q - (A + 3.0)) * q * q + 1.0;
    t->w[3] = ((A * (q + 1.0) - 5.0 * A) * (q + 1.0) + 8.0 * A) * (q + 1.0) - 4.0 * A;
    double sum = 0.0;
    for (int32_t k = 0; k < 4; k++) {
        double v = fl - 1.0 + (double)k;
        if (p->exclude_outside && (v < 0.0 || v > (double)(in_len - 1))) {
            t->w[k] = 0.0;
        }
        sum += t->w[k];
        t->idx[k] = tq_clamp_idx(v, in_len);
    }
    if (p->exclude_outside && sum != 0.0) {
        for (int32_t k = 0; k < 4; k++) {
            t->w[k] /= sum;
        }
    }
}

tfmq_status tq_ref_resize(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0];
    tq_tensor *y = ctx->out[0];
    tq_resize_params p;
    tq_taps taps[TQ_MAX_RANK];
    int64_t xs[TQ_MAX_RANK], coord[TQ_MAX_RANK] = {0};
    size_t es;
    tfmq_status st = tq_ref_shape_verify(ctx, &es);
    if (st == TFMQ_OK) {
        st = tq_resize_params_get(ctx, &p);
    }
    if (st != TFMQ_OK) {
        return st;
    }
    const int32_t r = x->rank;
    const size_t n = tq_tensor_numel(y);
    if (n == 0) {
        return TFMQ_OK;
    }
    if (tq_tensor_numel(x) == 0) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "cannot resize an empty tensor");
    }
    if (p.mode != TQ_RESIZE_NEAREST && !tq_dtype_is_float(x->dtype) && !tq_dtype_is_int(x->dtype)) {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "interpolating %s is not supported",
                          tfmq_dtype_name(x->dtype));
    }
    tq_ref_shape_strides(x, xs);
    memset(taps, 0, sizeof(taps));
    for (int32_t i = 0; i < r; i++) {
        tq_resize_taps(&p, i, 0, x->dims[i], y->dims[i], &taps[i]);
    }
    char *d = y->data;
    const char *s = x->data;
    for (size_t e = 0;;) {
        bool outside = false;
        for (int32_t i = 0; i < r; i++) {
            outside = outside || taps[i].outside;
        }
        if (outside) {
            tq_store_f64(y->dtype, d, e, p.extrapolation);
        } else if (p.mode == TQ_RESIZE_NEAREST) {
            int64_t off = 0;
            for (int32_t i = 0; i < r; i++) {
                off += taps[i].idx[0] * xs[i];
            }
            tq_ref_copy_elem(d + e * es, s + (size_t)off * es, es);
        } else {
            int32_t cnt[TQ_MAX_RANK] = {0};
            double acc = 0.0;
            for (;;) {
                int64_t off = 0;
                double w = 1.0;
                for (int32_t i = 0; i < r; i++) {
                    off += taps[i].idx[cnt[i]] * xs[i];
                    w *= taps[i].w[cnt[i]];
                }
                acc += w * tq_load_f64(x->dtype, s, (size_t)off);
                int32_t i = r - 1;
                for (; i >= 0; i--) {
                    if (++cnt[i] < taps[i].n) {
                        break;
                    }
                    cnt[i] = 0;
                }
                if (i < 0) {
                    break;
                }
            }
            tq_store_f64(y->dtype, d, e, acc);
        }
        if (++e == n) {
            break;
        }
        int32_t k = r - 1;
        for (; k >= 0; k--) {
            if (++coord[k] < y->dims[k]) {
                break;
            }
            coord[k] = 0;
        }
        for (int32_t i = k < 0 ? 0 : k; i < r; i++) {
            tq_resize_taps(&p, i, coord[i], x->dims[i], y->dims[i], &taps[i]);
        }
    }
    return TFMQ_OK;
}
