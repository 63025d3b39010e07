/* pool.c: reference MaxPool (with optional Indices, row- or column-major) and AveragePool
 * (count_include_pad counts taps inside the explicit padding, as ONNX Runtime does) over 1-3
 * spatial dims with strides, pads, dilations and ceil_mode. Planes are converted to double. */
#include <math.h>

#include "backends/ref/ref_compute_util.h"

/* Taps [lo, hi) of a window starting at `start` that fall inside [0, in). */
static void pool_taps(int64_t start, int64_t k, int64_t dil, int64_t in, int64_t *lo,
                      int64_t *hi)
{
    int64_t l = start >= 0 ? 0 : (-start + dil - 1) / dil;
    int64_t h = in - 1 - start < 0 ? 0 : (in - 1 - start) / dil + 1;
    if (h > k) {
        h = k;
    }
    *lo = l < h ? l : h;
    *hi = h;
}

size_t tq_rc_pool_scratch(const tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0], *y = ctx->out[0];
    if (!tq_tensor_shape_known(x) || !tq_tensor_shape_known(y) || x->rank < 2) {
        return 0;
    }
    size_t in_sp = 1, out_sp = 1;
    for (int32_t i = 2; i < x->rank; i++) {
        in_sp = tq_rc_mul(in_sp, (size_t)x->dims[i]);
        out_sp = tq_rc_mul(out_sp, (size_t)y->dims[i]);
    }
    return tq_rc_add(tq_rc_f64_bytes(in_sp), tq_rc_f64_bytes(out_sp));
}

tfmq_status tq_ref_pool(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0];
    tq_tensor *y = ctx->out[0];
    const bool is_max = ctx->node->op == TQ_OP_MAX_POOL;
    tq_tensor *ind = is_max ? ctx->out[1] : NULL;
    tq_rc_spatial sp0, sp;
    tfmq_status st =
        tq_rc_spatial_init(ctx, is_max ? TQ_RC_SP_MAX_POOL : TQ_RC_SP_AVG_POOL, &sp0);
    if (st != TFMQ_OK) {
        return st;
    }
    tq_rc_spatial_to3d(&sp0, &sp);
    bool ok = y->rank == x->rank && y->dims[0] == x->dims[0] && y->dims[1] == x->dims[1];
    for (int32_t i = 0; ok && i < sp0.n_sp; i++) {
        ok = y->dims[2 + i] == sp0.out[i];
    }
    if (!ok || (ind && tq_tensor_numel(ind) != tq_tensor_numel(y))) {
        return tq_op_fail(ctx, TFMQ_ERR_INTERNAL, "output shape does not match the input");
    }
    const size_t nc = (size_t)x->dims[0] * (size_t)x->dims[1];
    const int64_t ID = sp.in[0], IH = sp.in[1], IW = sp.in[2];
    const int64_t OD = sp.out[0], OH = sp.out[1], OW = sp.out[2];
    const size_t in_sp = (size_t)(ID * IH * IW), out_sp = (size_t)(OD * OH * OW);
    if (nc == 0 || out_sp == 0) {
        return TFMQ_OK;
    }
    void *scratch;
    size_t owned;
    st = tq_rc_scratch_get(ctx, tq_rc_add(tq_rc_f64_bytes(in_sp), tq_rc_f64_bytes(out_sp)),
                           &scratch, &owned);
    if (st != TFMQ_OK) {
        return st;
    }
    double *xb = scratch;
    double *yb = (double *)((char *)scratch + tq_rc_f64_bytes(in_sp));
    for (size_t p = 0; p < nc; p++) {
        tq_rc_load_f64(x->dtype, x->data, p * in_sp, in_sp, xb);
        size_t o = 0;
        for (int64_t od = 0; od < OD; od++) {
            for (int64_t oh = 0; oh < OH; oh++) {
                for (int64_t ow = 0; ow < OW; ow++, o++) {
                    int64_t s0 = od * sp.stride[0] - sp.pad_b[0];
                    int64_t s1 = oh * sp.stride[1] - sp.pad_b[1];
                    int64_t s2 = ow * sp.stride[2] - sp.pad_b[2];
                    double best = -(double)INFINITY, sum = 0.0;
                    int64_t best_i = -1, cnt = 0, cnt_pad = 1;
                    if (!is_max && sp.count_include_pad) {
                        /* taps inside [-pad_b, in + pad_e) along each dim */
                        const int64_t st3[3] = {s0, s1, s2};
                        for (int d = 0; d < 3; d++) {
                            int64_t lo, hi;
                            pool_taps(st3[d] + sp.pad_b[d], sp.k[d], sp.dil[d],
                                      sp.in[d] + sp.pad_b[d] + sp.pad_e[d], &lo, &hi);
                            cnt_pad *= hi - lo;
                        }
                    }
                    int64_t klo[3], khi[3];
                    pool_taps(s0, sp.k[0], sp.dil[0], ID, &klo[0], &khi[0]);
                    pool_taps(s1, sp.k[1], sp.dil[1], IH, &klo[1], &khi[1]);
                    pool_taps(s2, sp.k[2], sp.dil[2], IW, &klo[2], &khi[2]);
                    for (int64_t kd = klo[0]; kd < khi[0]; kd++) {
                        int64_t id = s0 + kd * sp.dil[0];
                        for (int64_t kh = klo[1]; kh < khi[1]; kh++) {
                            int64_t ih = s1 + kh * sp.dil[1];
                            const double *xr = xb + (id * IH + ih) * IW;
                            for (int64_t kw = klo[2]; kw < khi[2]; kw++) {
                                int64_t iw = s2 + kw * sp.dil[2];
                                double v = xr[iw];
                                if (is_max) {
                                    if (v > best || best_i < 0) {
                                        best = v;
                                        best_i = (id * IH + ih) * IW + iw;
                                        if (sp.storage_order == 1) {
                                            best_i = id + ID * (ih + IH * iw);
                                        }
                                    }
                                } else {
                                    sum += v;
                                    cnt++;
                                }
                            }
                        }
                    }
                    if (is_max) {
                        yb[o] = best_i < 0 ? 0.0 : best;
                        if (ind) {
                            ((int64_t *)ind->data)[p * out_sp + o] =
                                best_i < 0 ? -1 : (int64_t)(p * in_sp) + best_i;
                        }
                    } else {
                        int64_t div = sp.count_include_pad ? cnt_pad : cnt;
                        yb[o] = div > 0 ? sum / (double)div : 0.0;
                    }
                }
            }
        }
        tq_rc_store_f64(y->dtype, y->data, p * out_sp, out_sp, yb);
    }
    tq_rc_scratch_release(ctx, scratch, owned);
    return TFMQ_OK;
}
