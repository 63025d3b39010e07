/* resize.c: Resize (ONNX Resize-10/11/13/18/19) and Upsample (7/9) parameter decoding and shape
 * inference. Output dims are floor(in * scale) for scales or the given sizes (with
 * keep_aspect_ratio_policy from opset 18). Resize-10 and Upsample use asymmetric coordinates
 * and the "simple" nearest rounding of older runtimes. */
#include <math.h>
#include <string.h>

#include "ir/ops/shape_ops.h"

static tfmq_status tq_resize_pick(const tq_op_ctx *ctx, const char *attr, const char *dflt,
                                  const char *const *names, int n, int *out)
{
    const char *s;
    tfmq_status st = tq_attr_string(ctx->node, attr, dflt, &s);
    if (st != TFMQ_OK) {
        return st;
    }
    for (int i = 0; i < n; i++) {
        if (names[i] && strcmp(s, names[i]) == 0) {
            *out = i;
            return TFMQ_OK;
        }
    }
    return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "%s '%s' is not supported", attr, s);
}

/* Length of an optional float/int vector input: 0 when absent or empty, -1 when unknown. */
static int64_t tq_resize_in_len(const tq_op_ctx *ctx, int32_t k)
{
    const tq_tensor *t = k < ctx->n_in ? ctx->in[k] : NULL;
    if (!t) {
        return 0;
    }
    return tq_shape_len(t);
}

tfmq_status tq_resize_params_get(const tq_op_ctx *ctx, tq_resize_params *p)
{
    static const char *const modes[] = {"nearest", "linear", "cubic", "bilinear"};
    static const char *const coords[] = {
        "half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
        "asymmetric", "tf_half_pixel_for_nn", "tf_crop_and_resize"};
    static const char *const nearests[] = {"round_prefer_floor", "round_prefer_ceil", "floor",
                                           "ceil"};
    static const char *const policies[] = {"stretch", "not_larger", "not_smaller"};
    const tq_tensor *x = ctx->in[0];
    const int32_t r = x->rank;
    const bool legacy = ctx->node->op == TQ_OP_UPSAMPLE || ctx->opset < 11;
    int mode = 0, coord = TQ_COORD_ASYMMETRIC, nearest = TQ_NEAREST_SIMPLE, policy = 0;
    int64_t axes[TQ_MAX_RANK], n_ax = r, antialias = 0, excl = 0;
    float a = -0.75f, extrap = 0.0f;
    tfmq_status st = tq_resize_pick(ctx, "mode", "nearest", modes, 4, &mode);
    if (st != TFMQ_OK) {
        return st;
    }
    p->mode = mode == 3 ? TQ_RESIZE_LINEAR : (tq_resize_mode)mode;
    if (legacy && p->mode == TQ_RESIZE_CUBIC) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "cubic needs Resize from opset 11");
    }
    if (!legacy) {
        tq_ints_state s_a;
        st = tq_resize_pick(ctx, "coordinate_transformation_mode", "half_pixel", coords, 7, &coord);
        if (st == TFMQ_OK) {
            st = tq_resize_pick(ctx, "nearest_mode", "round_prefer_floor", nearests, 4, &nearest);
        }
        if (st == TFMQ_OK) {
            st = tq_resize_pick(ctx, "keep_aspect_ratio_policy", "stretch", policies, 3, &policy);
        }
        if (st == TFMQ_OK) {
            st = tq_attr_float(ctx->node, "cubic_coeff_a", -0.75f, &a);
        }
        if (st == TFMQ_OK) {
            st = tq_attr_float(ctx->node, "extrapolation_value", 0.0f, &extrap);
        }
        if (st == TFMQ_OK) {
            st = tq_attr_int(ctx->node, "exclude_outside", 0, &excl);
        }
        if (st == TFMQ_OK) {
            st = tq_attr_int(ctx->node, "antialias", 0, &antialias);
        }
        if (st == TFMQ_OK) {
            st = tq_shape_ints(ctx, TQ_MAX_IO, "axes", axes, TQ_MAX_RANK, &n_ax, &s_a);
        }
        if (st != TFMQ_OK) {
            return st;
        }
        if (s_a == TQ_INTS_KNOWN) {
            st = tq_shape_norm_axes(ctx, axes, (size_t)n_ax, r);
            if (st != TFMQ_OK) {
                return st;
            }
        } else {
            n_ax = r;
        }
        if (antialias != 0 && p->mode != TQ_RESIZE_NEAREST) {
            return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "antialias is not supported");
        }
    }
    if (n_ax == r) {
        for (int32_t i = 0; i < r; i++) {
            axes[i] = i;
        }
    }
    p->coord = (tq_resize_coord)coord;
    p->nearest = (tq_resize_nearest)nearest;
    p->cubic_a = (double)a;
    p->exclude_outside = excl != 0;
    p->extrapolation = (double)extrap;
    p->known = true;
    for (int32_t i = 0; i < r; i++) {
        p->scale[i] = 1.0;
        p->out_len[i] = (double)x->dims[i];
        p->roi_start[i] = 0.0;
        p->roi_end[i] = 1.0;
        p->out_dims[i] = x->dims[i];
    }

    /* where the factors come from */
    const tq_tensor *scales = NULL, *sizes = NULL, *roi = NULL;
    const float *scale_attr = NULL;
    size_t n_scale_attr = 0;
    if (legacy) {
        if (ctx->n_in > 1 && ctx->in[1]) {
            scales = ctx->in[1];
        } else {
            st = tq_attr_floats(ctx->node, "scales", &scale_attr, &n_scale_attr);
            if (st != TFMQ_OK) {
                return st;
            }
            if (!scale_attr) {
                return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "scales are missing");
            }
        }
    } else {
        int64_t l_sizes = tq_resize_in_len(ctx, 3), l_scales = tq_resize_in_len(ctx, 2);
        if (l_sizes != 0 && l_scales > 0) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "both scales and sizes are given");
        }
        if (l_sizes != 0) {
            sizes = ctx->in[3];
        } else if (l_scales != 0) {
            scales = ctx->in[2];
        } else {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "one of scales and sizes is required");
        }
        roi = ctx->in[1];
    }

    /* ROI (tf_crop_and_resize only): [starts..., ends...] over the resized axes */
    bool roi_known = true;
    if (p->coord == TQ_COORD_TF_CROP_AND_RESIZE) {
        if (!roi) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "tf_crop_and_resize needs roi");
        }
        if (!tq_dtype_is_float(roi->dtype) || roi->rank > 1) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "roi must be a 1-D float tensor");
        }
        int64_t l = tq_shape_len(roi);
        if (l >= 0 && l != 2 * n_ax) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "roi has %lld entries, expected %lld",
                              (long long)l, (long long)n_ax * 2);
        }
        roi_known = roi->data != NULL;
        for (int64_t j = 0; j < n_ax && roi_known; j++) {
            p->roi_start[axes[j]] = tq_load_f64(roi->dtype, roi->data, (size_t)j);
            p->roi_end[axes[j]] = tq_load_f64(roi->dtype, roi->data, (size_t)(j + n_ax));
        }
    }

    if (sizes) {
        int64_t sz[TQ_MAX_RANK], len;
        tq_ints_state s_sz;
        st = tq_shape_ints(ctx, 3, NULL, sz, TQ_MAX_RANK, &len, &s_sz);
        if (st != TFMQ_OK) {
            return st;
        }
        if (len >= 0 && len != n_ax) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "sizes has %lld entries, expected %lld",
                              (long long)len, (long long)n_ax);
        }
        p->known = roi_known;
        if (s_sz != TQ_INTS_KNOWN) {
            p->known = false;
            for (int64_t j = 0; j < n_ax; j++) {
                p->out_dims[axes[j]] = -1;
            }
            return TFMQ_OK;
        }
        double ratio = policy == 1 ? (double)INFINITY : 0.0;
        bool dims_known = true;
        for (int64_t j = 0; j < n_ax; j++) {
            int64_t d = x->dims[axes[j]];
            if (sz[j] < 0) {
                return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "sizes[%lld] is %lld", (long long)j,
                                  (long long)sz[j]);
            }
            p->out_dims[axes[j]] = sz[j];
            if (d < 0) {
                dims_known = false;
                continue;
            }
            if (d == 0) {
                if (sz[j] != 0) {
                    return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "cannot resize an empty axis");
                }
                continue;
            }
            double s = (double)sz[j] / (double)d;
            ratio = policy == 1 ? fmin(ratio, s) : fmax(ratio, s);
            p->scale[axes[j]] = s;
            p->out_len[axes[j]] = (double)sz[j];
        }
        p->known = p->known && dims_known;
        if (policy != 0) {
            /* keep_aspect_ratio_policy: one scale for all axes, out = round(scale * in) */
            for (int64_t j = 0; j < n_ax; j++) {
                int64_t d = x->dims[axes[j]];
                if (!dims_known || d == 0) {
                    p->out_dims[axes[j]] = dims_known ? 0 : -1;
                    continue;
                }
                double o = round(ratio * (double)d);
                if (!(o < 4e18)) {
                    return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "output size is too large");
                }
                p->scale[axes[j]] = ratio;
                p->out_len[axes[j]] = ratio * (double)d;
                p->out_dims[axes[j]] = (int64_t)o;
            }
        }
        return TFMQ_OK;
    }

    /* scales */
    int64_t len = scale_attr ? (int64_t)n_scale_attr : tq_shape_len(scales);
    if (scales && (!tq_dtype_is_float(scales->dtype) || scales->rank > 1)) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "scales must be a 1-D float tensor");
    }
    if (len >= 0 && len != n_ax) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "scales has %lld entries, expected %lld",
                          (long long)len, (long long)n_ax);
    }
    p->known = roi_known;
    if (scales && !scales->data) {
        p->known = false;
        for (int64_t j = 0; j < n_ax; j++) {
            p->out_dims[axes[j]] = -1;
        }
        return TFMQ_OK;
    }
    for (int64_t j = 0; j < n_ax; j++) {
        int32_t ax = (int32_t)axes[j];
        double s = scale_attr ? (double)scale_attr[j]
                              : tq_load_f64(scales->dtype, scales->data, (size_t)j);
        int64_t d = x->dims[ax];
        if (!(s > 0.0) || !(s < 1e12)) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "scale %g of axis %d is invalid", s, ax);
        }
        p->scale[ax] = s;
        if (d < 0) {
            p->out_dims[ax] = -1;
            p->known = false;
            continue;
        }
        /* The spec scales the ROI extent for tf_crop_and_resize too, but the ONNX reference
         * implementation and ONNX Runtime use floor(in * scale) for every mode; so do we. */
        double o = (double)d * s;
        p->out_len[ax] = o;
        o = floor(o);
        if (!(o < 4e18)) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "output size of axis %d is too large", ax);
        }
        p->out_dims[ax] = o > 0.0 ? (int64_t)o : 0;
    }
    return TFMQ_OK;
}

tfmq_status tq_infer_resize(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0];
    tq_tensor *y = ctx->out[0];
    tq_resize_params p;
    tq_shape_set_unknown(y, x->dtype, x->rank);
    if (x->rank < 0) {
        return TFMQ_OK;
    }
    tfmq_status st = tq_resize_params_get(ctx, &p);
    if (st != TFMQ_OK) {
        return st;
    }
    for (int32_t i = 0; i < x->rank; i++) {
        y->dims[i] = p.out_dims[i];
    }
    return tq_shape_check(ctx, y);
}
