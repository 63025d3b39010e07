/* ref_compute_util.c: helpers shared by the compute ops' shape inference and reference kernels:
 * scratch, bulk dtype conversion, Conv/ConvTranspose/pool geometry (ONNX auto_pad and ceil_mode
 * rules; ConvTranspose padding per the ONNX spec text) and the RNN activation table.
 * Attribute values are bounded by TQ_RC_ATTR_MAX so that all geometry fits int64. */
#include <math.h>
#include <string.h>

#include "backends/ref/ref_compute_util.h"

/* ---- scratch ---- */

tfmq_status tq_rc_scratch_get(const tq_op_ctx *ctx, size_t n_bytes, void **p_out,
                              size_t *owned_bytes_out)
{
    *p_out = NULL;
    *owned_bytes_out = 0;
    if (n_bytes == SIZE_MAX || n_bytes > TQ_MAX_TENSOR_BYTES) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "temporary buffer too large");
    }
    if (n_bytes == 0) {
        n_bytes = 64;
    }
    if (ctx->scratch && ctx->scratch_bytes >= n_bytes) {
        *p_out = ctx->scratch;
        return TFMQ_OK;
    }
    void *p = tq_alloc_aligned(ctx->graph ? ctx->graph->alloc : NULL, n_bytes);
    if (!p) {
        return tq_op_fail(ctx, TFMQ_ERR_OUT_OF_MEMORY, "scratch of %zu bytes", n_bytes);
    }
    *p_out = p;
    *owned_bytes_out = n_bytes;
    return TFMQ_OK;
}

void tq_rc_scratch_release(const tq_op_ctx *ctx, void *p, size_t owned_bytes)
{
    if (p && owned_bytes) {
        tq_free_aligned(ctx->graph ? ctx->graph->alloc : NULL, p, owned_bytes);
    }
}

size_t tq_rc_mul(size_t a, size_t b)
{
    size_t r;
    if (a == SIZE_MAX || b == SIZE_MAX || !tq_mul_size(a, b, &r)) {
        return SIZE_MAX;
    }
    return r;
}

size_t tq_rc_add(size_t a, size_t b)
{
    size_t r;
    if (a == SIZE_MAX || b == SIZE_MAX || !tq_add_size(a, b, &r)) {
        return SIZE_MAX;
    }
    return r;
}

size_t tq_rc_f64_bytes(size_t n)
{
    /* each buffer is rounded to 64 bytes so that consecutive buffers stay aligned */
    size_t b = tq_rc_mul(n, sizeof(double));
    if (b == SIZE_MAX || b > SIZE_MAX - 64) {
        return SIZE_MAX;
    }
    return tq_align_up(b, 64);
}

/* ---- conversion ---- */

bool tq_rc_is_float(tfmq_dtype dt)
{
    return dt == TFMQ_DTYPE_FLOAT32 || dt == TFMQ_DTYPE_FLOAT64 || dt == TFMQ_DTYPE_FLOAT16 ||
           dt == TFMQ_DTYPE_BFLOAT16;
}

void tq_rc_load_f64(tfmq_dtype dt, const void *base, size_t off, size_t n, double *dst)
{
    switch (dt) {
    case TFMQ_DTYPE_FLOAT32: {
        const float *s = (const float *)base + off;
        for (size_t i = 0; i < n; i++) {
            dst[i] = (double)s[i];
        }
        break;
    }
    case TFMQ_DTYPE_FLOAT64:
        memcpy(dst, (const double *)base + off, n * sizeof(double));
        break;
    case TFMQ_DTYPE_FLOAT16: {
        const uint16_t *s = (const uint16_t *)base + off;
        for (size_t i = 0; i < n; i++) {
            dst[i] = (double)tq_f16_to_f32(s[i]);
        }
        break;
    }
    default:
        for (size_t i = 0; i < n; i++) {
            dst[i] = tq_load_f64(dt, base, off + i);
        }
        break;
    }
}

void tq_rc_store_f64(tfmq_dtype dt, void *base, size_t off, size_t n, const double *src)
{
    switch (dt) {
    case TFMQ_DTYPE_FLOAT32: {
        float *d = (float *)base + off;
        for (size_t i = 0; i < n; i++) {
            d[i] = (float)src[i];
        }
        break;
    }
    case TFMQ_DTYPE_FLOAT64:
        memcpy((double *)base + off, src, n * sizeof(double));
        break;
    default:
        for (size_t i = 0; i < n; i++) {
            tq_store_f64(dt, base, off + i, src[i]);
        }
        break;
    }
}

double tq_rc_dot_f64(const double *a, const double *b, size_t n)
{
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < n; i++) {
        s0 += a[i] * b[i];
    }
    return (s0 + s1) + (s2 + s3);
}

/* ---- spatial geometry ---- */

static tfmq_status sp_read_list(const tq_op_ctx *ctx, const char *name, size_t n_expect,
                                int64_t lo, int64_t dflt, int64_t *dst, bool *given)
{
    const int64_t *v;
    size_t n;
    tfmq_status st = tq_attr_ints(ctx->node, name, &v, &n);
    if (st != TFMQ_OK) {
        return st;
    }
    if (given) {
        *given = v != NULL;
    }
    if (!v) {
        for (size_t i = 0; i < n_expect; i++) {
            dst[i] = dflt;
        }
        return TFMQ_OK;
    }
    if (n != n_expect) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "%s has %zu entries, expected %zu", name, n,
                          n_expect);
    }
    for (size_t i = 0; i < n; i++) {
        if (v[i] < lo || v[i] > TQ_RC_ATTR_MAX) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "%s[%zu] = %lld is out of range", name,
                              i, (long long)v[i]);
        }
        dst[i] = v[i];
    }
    return TFMQ_OK;
}

enum { SP_NOTSET, SP_SAME_UPPER, SP_SAME_LOWER, SP_VALID };

static tfmq_status sp_auto_pad(const tq_op_ctx *ctx, int *mode)
{
    const char *s;
    tfmq_status st = tq_attr_string(ctx->node, "auto_pad", "NOTSET", &s);
    if (st != TFMQ_OK) {
        return st;
    }
    if (!strcmp(s, "NOTSET") || !strcmp(s, "")) {
        *mode = SP_NOTSET;
    } else if (!strcmp(s, "SAME_UPPER")) {
        *mode = SP_SAME_UPPER;
    } else if (!strcmp(s, "SAME_LOWER")) {
        *mode = SP_SAME_LOWER;
    } else if (!strcmp(s, "VALID")) {
        *mode = SP_VALID;
    } else {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "unknown auto_pad '%s'", s);
    }
    return TFMQ_OK;
}

static int64_t floor_div(int64_t a, int64_t b) /* b > 0 */
{
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

tfmq_status tq_rc_spatial_init(const tq_op_ctx *ctx, tq_rc_spatial_kind kind,
                               tq_rc_spatial *sp)
{
    tfmq_status st;
    const tq_tensor *x = ctx->in[0];
    const tq_tensor *w = (kind == TQ_RC_SP_CONV || kind == TQ_RC_SP_CONV_TRANSPOSE) ? ctx->in[1]
                                                                                   : NULL;
    bool is_conv = w != NULL;
    memset(sp, 0, sizeof(*sp));
    sp->out_channels = -1;
    if (x->rank < 0) {
        return tq_op_fail(ctx, TFMQ_ERR_INTERNAL, "input rank not known");
    }
    if (x->rank < 3 || x->rank > 2 + TQ_RC_MAX_SPATIAL) {
        return tq_op_fail(ctx, x->rank < 3 ? TFMQ_ERR_INVALID_ARG : TFMQ_ERR_UNSUPPORTED,
                          "input has rank %d; 1 to %d spatial dims are supported", x->rank,
                          TQ_RC_MAX_SPATIAL);
    }
    int32_t n = x->rank - 2;
    sp->n_sp = n;
    for (int32_t i = 0; i < n; i++) {
        int64_t d = x->dims[2 + i];
        if (d > ((int64_t)1 << 40)) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "input dim %lld too large",
                              (long long)d);
        }
        sp->in[i] = d < 0 ? -1 : d;
    }

    /* kernel shape: attribute, else the weights' trailing dims */
    bool k_given = false;
    if ((st = sp_read_list(ctx, "kernel_shape", (size_t)n, 1, 1, sp->k, &k_given)) != TFMQ_OK) {
        return st;
    }
    if (is_conv) {
        if (w->rank >= 0 && w->rank != x->rank) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "weights have rank %d, input rank %d",
                              w->rank, x->rank);
        }
        for (int32_t i = 0; i < n; i++) {
            int64_t wd = w->rank >= 0 ? w->dims[2 + i] : -1;
            if (!k_given) {
                if (wd < 0) {
                    return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED,
                                      "kernel shape unknown (no kernel_shape, weight shape "
                                      "unknown)");
                }
                if (wd < 1 || wd > TQ_RC_ATTR_MAX) {
                    return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "weight dim %lld invalid",
                                      (long long)wd);
                }
                sp->k[i] = wd;
            } else if (wd >= 0 && wd != sp->k[i]) {
                return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG,
                                  "kernel_shape[%d] = %lld but weights have %lld", i,
                                  (long long)sp->k[i], (long long)wd);
            }
        }
    } else if (!k_given) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "kernel_shape is required");
    }
    if ((st = sp_read_list(ctx, "strides", (size_t)n, 1, 1, sp->stride, NULL)) != TFMQ_OK) {
        return st;
    }
    if ((st = sp_read_list(ctx, "dilations", (size_t)n, 1, 1, sp->dil, NULL)) != TFMQ_OK) {
        return st;
    }
    int64_t pads[2 * TQ_RC_MAX_SPATIAL];
    if ((st = sp_read_list(ctx, "pads", 2 * (size_t)n, 0, 0, pads, NULL)) != TFMQ_OK) {
        return st;
    }
    int mode = SP_NOTSET;
    if ((st = sp_auto_pad(ctx, &mode)) != TFMQ_OK) {
        return st;
    }
    for (int32_t i = 0; i < n; i++) {
        sp->pad_b[i] = pads[i];
        sp->pad_e[i] = pads[n + i];
    }

    int64_t v;
    sp->group = 1;
    if (is_conv) {
        if ((st = tq_attr_int(ctx->node, "group", 1, &v)) != TFMQ_OK) {
            return st;
        }
        if (v < 1 || v > TQ_RC_ATTR_MAX) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "group %lld invalid", (long long)v);
        }
        sp->group = v;
        int64_t c = x->dims[1];
        int64_t w0 = w->rank >= 0 ? w->dims[0] : -1, w1 = w->rank >= 0 ? w->dims[1] : -1;
        if (kind == TQ_RC_SP_CONV) {
            /* W: [M, C/group, k...] */
            if (w0 >= 0 && w0 % v != 0) {
                return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG,
                                  "%lld output channels not divisible by group %lld",
                                  (long long)w0, (long long)v);
            }
            if (c >= 0 && w1 >= 0) {
                int64_t cg;
                if (!tq_mul_i64(w1, v, &cg) || cg != c) {
                    return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG,
                                      "input has %lld channels, weights expect %lld x group %lld",
                                      (long long)c, (long long)w1, (long long)v);
                }
            }
            sp->out_channels = w0;
        } else {
            /* W: [C, M/group, k...] */
            if (c >= 0 && w0 >= 0 && c != w0) {
                return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG,
                                  "input has %lld channels, weights %lld", (long long)c,
                                  (long long)w0);
            }
            int64_t cc = c >= 0 ? c : w0;
            if (cc >= 0 && cc % v != 0) {
                return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG,
                                  "%lld input channels not divisible by group %lld",
                                  (long long)cc, (long long)v);
            }
            if (w1 >= 0 && !tq_mul_i64(w1, v, &sp->out_channels)) {
                return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "too many output channels");
            }
        }
    }
    if (kind == TQ_RC_SP_MAX_POOL || kind == TQ_RC_SP_AVG_POOL) {
        if ((st = tq_attr_int(ctx->node, "ceil_mode", 0, &v)) != TFMQ_OK) {
            return st;
        }
        sp->ceil_mode = v != 0;
    }
    if (kind == TQ_RC_SP_AVG_POOL) {
        if ((st = tq_attr_int(ctx->node, "count_include_pad", 0, &v)) != TFMQ_OK) {
            return st;
        }
        sp->count_include_pad = v != 0;
    }
    if (kind == TQ_RC_SP_MAX_POOL) {
        if ((st = tq_attr_int(ctx->node, "storage_order", 0, &v)) != TFMQ_OK) {
            return st;
        }
        if (v != 0 && v != 1) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "storage_order %lld invalid",
                              (long long)v);
        }
        sp->storage_order = v;
    }

    if (kind == TQ_RC_SP_CONV_TRANSPOSE) {
        int64_t opad[TQ_RC_MAX_SPATIAL];
        if ((st = sp_read_list(ctx, "output_padding", (size_t)n, 0, 0, opad, NULL)) !=
            TFMQ_OK) {
            return st;
        }
        const int64_t *os = NULL;
        size_t n_os = 0;
        if ((st = tq_attr_ints(ctx->node, "output_shape", &os, &n_os)) != TFMQ_OK) {
            return st;
        }
        if (os) {
            if (n_os == (size_t)n + 2) {
                os += 2; /* some exporters give the full shape */
            } else if (n_os != (size_t)n) {
                return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG,
                                  "output_shape has %zu entries, expected %d", n_os, n);
            }
        }
        for (int32_t i = 0; i < n; i++) {
            int64_t dk = (sp->k[i] - 1) * sp->dil[i] + 1;
            if (os && (os[i] < 0 || os[i] > ((int64_t)1 << 40))) {
                return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "output_shape[%d] invalid", i);
            }
            if (sp->in[i] < 0) {
                sp->out[i] = (os && mode == SP_NOTSET) ? os[i] : -1;
                continue;
            }
            int64_t in = sp->in[i] > 0 ? sp->in[i] : 1;
            /* full (unpadded) output extent */
            int64_t full = sp->stride[i] * (in - 1) + opad[i] + dk;
            if (os || mode == SP_SAME_UPPER || mode == SP_SAME_LOWER) {
                int64_t target = os ? os[i] : sp->in[i] * sp->stride[i];
                int64_t total = full - target;
                if (total < 0) {
                    total = 0; /* a larger output is zero-extended at the end */
                }
                /* ONNX spec: SAME_UPPER puts the odd pixel at the end, otherwise first */
                if (mode == SP_SAME_UPPER) {
                    sp->pad_b[i] = total / 2;
                    sp->pad_e[i] = total - total / 2;
                } else {
                    sp->pad_b[i] = total - total / 2;
                    sp->pad_e[i] = total / 2;
                }
                sp->out[i] = target;
            } else {
                if (mode == SP_VALID) {
                    sp->pad_b[i] = sp->pad_e[i] = 0;
                }
                sp->out[i] = full - sp->pad_b[i] - sp->pad_e[i];
            }
            if (sp->in[i] == 0) {
                sp->out[i] = os ? os[i] : 0;
            }
            if (sp->out[i] < 0) {
                return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG,
                                  "pads exceed the output along spatial dim %d", i);
            }
        }
        return TFMQ_OK;
    }

    for (int32_t i = 0; i < n; i++) {
        int64_t dk = (sp->k[i] - 1) * sp->dil[i] + 1;
        int64_t s = sp->stride[i];
        int64_t in = sp->in[i];
        if (mode == SP_VALID) {
            sp->pad_b[i] = sp->pad_e[i] = 0;
        }
        if (in < 0) {
            sp->out[i] = -1;
            continue;
        }
        if (mode == SP_SAME_UPPER || mode == SP_SAME_LOWER) {
            int64_t o = (in + s - 1) / s;
            int64_t total = (o - 1) * s + dk - in;
            if (total < 0) {
                total = 0;
            }
            if (mode == SP_SAME_UPPER) {
                sp->pad_b[i] = total / 2;
                sp->pad_e[i] = total - total / 2;
            } else {
                sp->pad_b[i] = total - total / 2;
                sp->pad_e[i] = total / 2;
            }
            sp->out[i] = o;
            continue;
        }
        int64_t span = in + sp->pad_b[i] + sp->pad_e[i] - dk;
        if (span < 0) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG,
                              "kernel extent %lld exceeds padded input %lld along dim %d",
                              (long long)dk, (long long)(in + sp->pad_b[i] + sp->pad_e[i]), i);
        }
        int64_t o;
        if (sp->ceil_mode && mode == SP_NOTSET) {
            o = (span + s - 1) / s + 1;
            /* as PyTorch: the last window must start inside the input or the begin padding */
            if ((o - 1) * s >= in + sp->pad_b[i]) {
                o--;
            }
        } else {
            o = floor_div(span, s) + 1;
        }
        sp->out[i] = o;
    }
    return TFMQ_OK;
}

void tq_rc_spatial_to3d(const tq_rc_spatial *sp, tq_rc_spatial *sp3)
{
    *sp3 = *sp;
    int32_t sh = TQ_RC_MAX_SPATIAL - sp->n_sp;
    for (int32_t i = TQ_RC_MAX_SPATIAL - 1; i >= 0; i--) {
        int32_t j = i - sh;
        if (j >= 0) {
            sp3->in[i] = sp->in[j];
            sp3->out[i] = sp->out[j];
            sp3->k[i] = sp->k[j];
            sp3->stride[i] = sp->stride[j];
            sp3->dil[i] = sp->dil[j];
            sp3->pad_b[i] = sp->pad_b[j];
            sp3->pad_e[i] = sp->pad_e[j];
        } else {
            sp3->in[i] = sp3->out[i] = sp3->k[i] = sp3->stride[i] = sp3->dil[i] = 1;
            sp3->pad_b[i] = sp3->pad_e[i] = 0;
        }
    }
    sp3->n_sp = TQ_RC_MAX_SPATIAL;
}

/* ---- RNN activations ---- */

static int ci_eq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char ca = *a, cb = *b;
        if (ca >= 'A' && ca <= 'Z') {
            ca = (char)(ca - 'A' + 'a');
        }
        if (cb >= 'A' && cb <= 'Z') {
            cb = (char)(cb - 'A' + 'a');
        }
        if (ca != cb) {
            return 0;
        }
    }
    return *a == *b;
}

tfmq_status tq_rc_rnn_attrs_read(const tq_op_ctx *ctx, int32_t n_gate_acts,
                                 tq_rc_rnn_attrs *a)
{
    tfmq_status st;
    int64_t v;
    float f;
    const char *s;
    memset(a, 0, sizeof(*a));
    if ((st = tq_attr_int(ctx->node, "hidden_size", -1, &v)) != TFMQ_OK) {
        return st;
    }
    if (v != -1 && (v < 1 || v > ((int64_t)1 << 30))) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "hidden_size %lld invalid", (long long)v);
    }
    a->hidden_size = v;
    if ((st = tq_attr_string(ctx->node, "direction", "forward", &s)) != TFMQ_OK) {
        return st;
    }
    if (!strcmp(s, "forward")) {
        a->n_dirs = 1;
    } else if (!strcmp(s, "reverse")) {
        a->n_dirs = 1;
        a->reverse = true;
    } else if (!strcmp(s, "bidirectional")) {
        a->n_dirs = 2;
    } else {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "unknown direction '%s'", s);
    }
    const tq_attr *ca = tq_node_attr(ctx->node, "clip");
    a->clip = 0.0;
    if (ca) {
        if ((st = tq_attr_float(ctx->node, "clip", 0.0f, &f)) != TFMQ_OK) {
            return st;
        }
        if (!(f > 0.0f)) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "clip must be positive");
        }
        a->clip = (double)f;
    }
    if ((st = tq_attr_int(ctx->node, "layout", 0, &v)) != TFMQ_OK) {
        return st;
    }
    if (v != 0 && v != 1) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "layout %lld invalid", (long long)v);
    }
    a->layout = v;
    if ((st = tq_attr_int(ctx->node, "input_forget", 0, &a->input_forget)) != TFMQ_OK) {
        return st;
    }
    if ((st = tq_attr_int(ctx->node, "linear_before_reset", 0, &a->linear_before_reset)) !=
        TFMQ_OK) {
        return st;
    }

    int32_t n_acts = n_gate_acts * a->n_dirs;
    for (int32_t i = 0; i < n_acts; i++) {
        /* defaults: f = Sigmoid, g = h = Tanh */
        a->acts[i].act = (i % n_gate_acts) == 0 ? TQ_RC_ACT_SIGMOID : TQ_RC_ACT_TANH;
    }
    const tq_attr *acts = tq_node_attr(ctx->node, "activations");
    if (!acts) {
        return TFMQ_OK;
    }
    if (acts->type != TQ_ATTR_STRINGS) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "activations must be a list of strings");
    }
    if (acts->n != (size_t)n_acts) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "%zu activations given, expected %d",
                          acts->n, n_acts);
    }
    const float *alpha = NULL, *beta = NULL;
    size_t n_alpha = 0, n_beta = 0, ia = 0, ib = 0;
    if ((st = tq_attr_floats(ctx->node, "activation_alpha", &alpha, &n_alpha)) != TFMQ_OK) {
        return st;
    }
    if ((st = tq_attr_floats(ctx->node, "activation_beta", &beta, &n_beta)) != TFMQ_OK) {
        return st;
    }
    static const struct {
        const char *name;
        tq_rc_act act;
        int n_params; /* 0: none, 1: alpha, 2: alpha and beta */
        double alpha, beta;
    } table[] = {
        {"Sigmoid", TQ_RC_ACT_SIGMOID, 0, 0.0, 0.0},
        {"Tanh", TQ_RC_ACT_TANH, 0, 0.0, 0.0},
        {"Relu", TQ_RC_ACT_RELU, 0, 0.0, 0.0},
        {"Affine", TQ_RC_ACT_AFFINE, 2, 1.0, 0.0},
        {"LeakyRelu", TQ_RC_ACT_LEAKY_RELU, 1, 0.01, 0.0},
        {"ThresholdedRelu", TQ_RC_ACT_THRESHOLDED_RELU, 1, 1.0, 0.0},
        {"ScaledTanh", TQ_RC_ACT_SCALED_TANH, 2, 1.0, 1.0},
        {"HardSigmoid", TQ_RC_ACT_HARD_SIGMOID, 2, 0.2, 0.5},
        {"Elu", TQ_RC_ACT_ELU, 1, 1.0, 0.0},
        {"Softsign", TQ_RC_ACT_SOFTSIGN, 0, 0.0, 0.0},
        {"Softplus", TQ_RC_ACT_SOFTPLUS, 0, 0.0, 0.0},
    };
    for (int32_t i = 0; i < n_acts; i++) {
        const char *name = acts->strings[i] ? acts->strings[i] : "";
        size_t t = 0;
        for (; t < sizeof(table) / sizeof(table[0]); t++) {
            if (ci_eq(name, table[t].name)) {
                break;
            }
        }
        if (t == sizeof(table) / sizeof(table[0])) {
            return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "activation '%s' not supported", name);
        }
        a->acts[i].act = table[t].act;
        a->acts[i].alpha = table[t].alpha;
        a->acts[i].beta = table[t].beta;
        if (table[t].n_params >= 1 && ia < n_alpha) {
            a->acts[i].alpha = (double)alpha[ia++];
        }
        if (table[t].n_params >= 2 && ib < n_beta) {
            a->acts[i].beta = (double)beta[ib++];
        }
    }
    return TFMQ_OK;
}

double tq_rc_act_apply(const tq_rc_act_fn *f, double x)
{
    switch (f->act) {
    case TQ_RC_ACT_SIGMOID:
        return x >= 0.0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
    case TQ_RC_ACT_TANH: return tanh(x);
    case TQ_RC_ACT_RELU: return x > 0.0 ? x : 0.0;
    case TQ_RC_ACT_AFFINE: return f->alpha * x + f->beta;
    case TQ_RC_ACT_LEAKY_RELU: return x >= 0.0 ? x : f->alpha * x;
    case TQ_RC_ACT_THRESHOLDED_RELU: return x > f->alpha ? x : 0.0;
    case TQ_RC_ACT_SCALED_TANH: return f->alpha * tanh(f->beta * x);
    case TQ_RC_ACT_HARD_SIGMOID: {
        double y = f->alpha * x + f->beta;
        return y < 0.0 ? 0.0 : (y > 1.0 ? 1.0 : y);
    }
    case TQ_RC_ACT_ELU: return x >= 0.0 ? x : f->alpha * (exp(x) - 1.0);
    case TQ_RC_ACT_SOFTSIGN: return x / (1.0 + fabs(x));
    case TQ_RC_ACT_SOFTPLUS: return x > 30.0 ? x : log1p(exp(x));
    }
    return x;
}

/* ---- GEMM core ---- */

#define GEMM_TILE_M 4
#define GEMM_PANEL_DOUBLES ((size_t)1 << 20) /* 8 MiB of packed B at most */

static size_t gemm_nc(size_t n, size_t k)
{
    size_t nc = 512;
    if (k > 0 && GEMM_PANEL_DOUBLES / k < nc) {
        nc = GEMM_PANEL_DOUBLES / k;
    }
    if (nc < 16) {
        nc = 16;
    }
    if (n < nc) {
        nc = n;
    }
    return nc ? nc : 1;
}

/* packed B panel: k x nc doubles, at least 2k (the dot-product path keeps two rows there) */
static size_t gemm_panel_doubles(size_t n, size_t k)
{
    size_t nc = gemm_nc(n, k);
    return tq_rc_mul(k, nc < 2 ? 2 : nc);
}

size_t tq_rc_gemm_scratch_bytes(size_t m, size_t n, size_t k)
{
    (void)m;
    size_t nc = gemm_nc(n, k);
    return tq_rc_add(tq_rc_f64_bytes(gemm_panel_doubles(n, k)),
                     tq_rc_f64_bytes(GEMM_TILE_M * nc));
}


static inline void gemm_row4f(double *restrict a0, double *restrict a1, double *restrict a2,
                              double *restrict a3, const float *restrict r, size_t len,
                              double w0, double w1, double w2, double w3)
{
    size_t j = 0;
    for (; j + 2 <= len; j += 2) {
        double v0 = (double)r[j], v1 = (double)r[j + 1];
        a0[j] += w0 * v0;
        a0[j + 1] += w0 * v1;
        a1[j] += w1 * v0;
        a1[j + 1] += w1 * v1;
        a2[j] += w2 * v0;
        a2[j + 1] += w2 * v1;
        a3[j] += w3 * v0;
        a3[j + 1] += w3 * v1;
    }
    for (; j < len; j++) {
        double v = (double)r[j];
        a0[j] += w0 * v;
        a1[j] += w1 * v;
        a2[j] += w2 * v;
        a3[j] += w3 * v;
    }
}

static inline void gemm_row1d(double *restrict a0, const double *restrict r, size_t len, double w0)
{
    for (size_t j = 0; j < len; j++) {
        a0[j] += w0 * r[j];
    }
}

static inline void gemm_row1f(double *restrict a0, const float *restrict r, size_t len, double w0)
{
    for (size_t j = 0; j < len; j++) {
        a0[j] += w0 * (double)r[j];
    }
}

static inline double gemm_lda(const tq_rc_gemm_args *g, size_t i, size_t k)
{
    size_t idx = g->a_off + i * g->a_si + k * g->a_sk;
    if (g->a_dt == TFMQ_DTYPE_FLOAT32) {
        return (double)((const float *)g->a)[idx];
    }
    return tq_load_f64(g->a_dt, g->a, idx);
}

void tq_rc_gemm(const tq_rc_gemm_args *g, void *scratch)
{
    const size_t M = g->m, N = g->n, K = g->k, nc = gemm_nc(N, K);
    double *panel = scratch;
    double *acc = (double *)((char *)scratch + tq_rc_f64_bytes(gemm_panel_doubles(N, K)));
    const bool direct_f32 = g->b_dt == TFMQ_DTYPE_FLOAT32 && g->b_sj == 1;
    const bool direct_f64 = g->b_dt == TFMQ_DTYPE_FLOAT64 && g->b_sj == 1;
    if (g->b_sk == 1 && M <= GEMM_TILE_M && K > 1 && tq_rc_is_float(g->b_dt)) {
        /* few rows times a transposed B: dot products over contiguous rows of B */
        double *arow = panel, *brow = panel + K;
        for (size_t i = 0; i < M; i++) {
            for (size_t k = 0; k < K; k++) {
                arow[k] = gemm_lda(g, i, k);
            }
            for (size_t j0 = 0; j0 < N; j0 += nc) {
                size_t nl = N - j0 < nc ? N - j0 : nc;
                for (size_t j = 0; j < nl; j++) {
                    tq_rc_load_f64(g->b_dt, g->b, g->b_off + (j0 + j) * g->b_sj, K, brow);
                    acc[j] = tq_rc_dot_f64(arow, brow, K);
                }
                g->store(g->user, i, j0, nl, acc);
            }
        }
        return;
    }
    for (size_t j0 = 0; j0 < N; j0 += nc) {
        size_t nl = N - j0 < nc ? N - j0 : nc;
        const float *bf = NULL;
        const double *bd = NULL;
        size_t ldb = nl;
        if (direct_f32) {
            bf = (const float *)g->b + g->b_off + j0;
            ldb = g->b_sk;
        } else if (direct_f64) {
            bd = (const double *)g->b + g->b_off + j0;
            ldb = g->b_sk;
        } else {
            if (g->b_sk == 1 && K > 0) {
                /* B' columns are contiguous (transposed B): read them in order */
                for (size_t j = 0; j < nl; j++) {
                    size_t base = g->b_off + (j0 + j) * g->b_sj;
                    if (g->b_dt == TFMQ_DTYPE_FLOAT32) {
                        const float *src = (const float *)g->b + base;
                        for (size_t k = 0; k < K; k++) {
                            panel[k * nl + j] = (double)src[k];
                        }
                    } else {
                        for (size_t k = 0; k < K; k++) {
                            panel[k * nl + j] = tq_load_f64(g->b_dt, g->b, base + k);
                        }
                    }
                }
            } else {
                for (size_t k = 0; k < K; k++) {
                    double *pr = panel + k * nl;
                    size_t base = g->b_off + k * g->b_sk + j0 * g->b_sj;
                    if (g->b_sj == 1) {
                        tq_rc_load_f64(g->b_dt, g->b, base, nl, pr);
                    } else {
                        for (size_t j = 0; j < nl; j++) {
                            pr[j] = tq_load_f64(g->b_dt, g->b, base + j * g->b_sj);
                        }
                    }
                }
            }
            bd = panel;
        }
        for (size_t i0 = 0; i0 < M; i0 += GEMM_TILE_M) {
            size_t mt = M - i0 < GEMM_TILE_M ? M - i0 : GEMM_TILE_M;
            memset(acc, 0, GEMM_TILE_M * nc * sizeof(double));
            if (mt == GEMM_TILE_M) {
                for (size_t k = 0; k < K; k++) {
                    double w0 = gemm_lda(g, i0, k), w1 = gemm_lda(g, i0 + 1, k);
                    double w2 = gemm_lda(g, i0 + 2, k), w3 = gemm_lda(g, i0 + 3, k);
                    if (bf) {
                        gemm_row4f(acc, acc + nc, acc + 2 * nc, acc + 3 * nc, bf + k * ldb, nl,
                                   w0, w1, w2, w3);
                    } else {
                        tq_ref_row4_axpy(acc, acc + nc, acc + 2 * nc, acc + 3 * nc, bd + k * ldb, nl,
                                   w0, w1, w2, w3);
                    }
                }
            } else {
                for (size_t t = 0; t < mt; t++) {
                    for (size_t k = 0; k < K; k++) {
                        double w0 = gemm_lda(g, i0 + t, k);
                        if (bf) {
                            gemm_row1f(acc + t * nc, bf + k * ldb, nl, w0);
                        } else {
                            gemm_row1d(acc + t * nc, bd + k * ldb, nl, w0);
                        }
                    }
                }
            }
            for (size_t t = 0; t < mt; t++) {
                g->store(g->user, i0 + t, j0, nl, acc + t * nc);
            }
        }
    }
}

/* ---- recurrent ops: shapes ---- */

static tfmq_status rnn_check(const tq_op_ctx *ctx, const tq_tensor *t, const char *name,
                             int32_t rank, const int64_t *want)
{
    if (!t) {
        return TFMQ_OK;
    }
    if (t->rank >= 0 && t->rank != rank) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "%s has rank %d, expected %d", name,
                          t->rank, rank);
    }
    for (int32_t i = 0; t->rank >= 0 && i < rank; i++) {
        if (t->dims[i] >= 0 && want[i] >= 0 && t->dims[i] != want[i]) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "%s dim %d is %lld, expected %lld",
                              name, i, (long long)t->dims[i], (long long)want[i]);
        }
    }
    return TFMQ_OK;
}

tfmq_status tq_rc_rnn_dims_get(const tq_op_ctx *ctx, int32_t n_gates, const tq_rc_rnn_attrs *a,
                               tq_rc_rnn_dims *d)
{
    const tq_tensor *x = ctx->in[0], *w = ctx->in[1], *r = ctx->in[2];
    tfmq_status st;
    d->n_gates = n_gates;
    d->seq = d->batch = d->input = d->hidden = -1;
    if (!tq_rc_is_float(x->dtype)) {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "dtype %s not supported",
                          tfmq_dtype_name(x->dtype));
    }
    for (int32_t i = 1; i < ctx->n_in; i++) {
        const tq_tensor *t = ctx->in[i];
        if (t && i != 4 && t->dtype != x->dtype) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "input %d has dtype %s", i,
                              tfmq_dtype_name(t->dtype));
        }
    }
    if (x->rank >= 0 && x->rank != 3) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "X has rank %d, expected 3", x->rank);
    }
    if (x->rank == 3) {
        d->seq = x->dims[a->layout ? 1 : 0];
        d->batch = x->dims[a->layout ? 0 : 1];
        d->input = x->dims[2];
    }
    d->hidden = a->hidden_size;
    if (d->hidden < 0 && r->rank == 3) {
        d->hidden = r->dims[2];
    }
    int64_t gh = -1;
    if (d->hidden >= 0 && !tq_mul_i64(d->hidden, n_gates, &gh)) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "hidden size too large");
    }
    const int64_t nd = a->n_dirs;
    int64_t want_w[3] = {nd, gh, d->input}, want_r[3] = {nd, gh, d->hidden};
    if ((st = rnn_check(ctx, w, "W", 3, want_w)) != TFMQ_OK ||
        (st = rnn_check(ctx, r, "R", 3, want_r)) != TFMQ_OK) {
        return st;
    }
    if (d->input < 0 && w->rank == 3) {
        d->input = w->dims[2];
    }
    int64_t want_b[2] = {nd, gh >= 0 ? 2 * gh : -1};
    if ((st = rnn_check(ctx, ctx->in[3], "B", 2, want_b)) != TFMQ_OK) {
        return st;
    }
    const tq_tensor *sl = ctx->in[4];
    if (sl) {
        if (sl->dtype != TFMQ_DTYPE_INT32 && sl->dtype != TFMQ_DTYPE_INT64) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "sequence_lens must be int32");
        }
        int64_t want_s[1] = {d->batch};
        if ((st = rnn_check(ctx, sl, "sequence_lens", 1, want_s)) != TFMQ_OK) {
            return st;
        }
    }
    int64_t want_h[3] = {nd, d->batch, d->hidden};
    if (a->layout) {
        want_h[0] = d->batch;
        want_h[1] = nd;
    }
    if ((st = rnn_check(ctx, ctx->in[5], "initial_h", 3, want_h)) != TFMQ_OK) {
        return st;
    }
    if (n_gates == 4) {
        if ((st = rnn_check(ctx, ctx->in[6], "initial_c", 3, want_h)) != TFMQ_OK) {
            return st;
        }
        int64_t want_p[2] = {nd, d->hidden >= 0 ? 3 * d->hidden : -1};
        if ((st = rnn_check(ctx, ctx->in[7], "P", 2, want_p)) != TFMQ_OK) {
            return st;
        }
    }
    if (d->hidden < 0 && ctx->in[0]->data) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "hidden size unknown");
    }
    return TFMQ_OK;
}

tfmq_status tq_rc_rnn_infer(tq_op_ctx *ctx, int32_t n_gates)
{
    tq_rc_rnn_attrs a;
    tq_rc_rnn_dims d;
    tfmq_status st;
    if ((st = tq_rc_rnn_attrs_read(ctx, n_gates == 4 ? 3 : 2, &a)) != TFMQ_OK ||
        (st = tq_rc_rnn_dims_get(ctx, n_gates, &a, &d)) != TFMQ_OK) {
        return st;
    }
    const tfmq_dtype dt = ctx->in[0]->dtype;
    tq_tensor *y = ctx->out[0];
    if (y) {
        y->dtype = dt;
        y->rank = 4;
        if (a.layout) {
            y->dims[0] = d.batch;
            y->dims[1] = d.seq;
            y->dims[2] = a.n_dirs;
        } else {
            y->dims[0] = d.seq;
            y->dims[1] = a.n_dirs;
            y->dims[2] = d.batch;
        }
        y->dims[3] = d.hidden;
    }
    for (int32_t k = 1; k < (n_gates == 4 ? 3 : 2); k++) {
        tq_tensor *o = ctx->out[k];
        if (!o) {
            continue;
        }
        o->dtype = dt;
        o->rank = 3;
        o->dims[0] = a.layout ? d.batch : a.n_dirs;
        o->dims[1] = a.layout ? a.n_dirs : d.batch;
        o->dims[2] = d.hidden;
    }
    ctx->scratch_bytes = tq_rc_rnn_scratch(ctx);
    return TFMQ_OK;
}

size_t tq_rc_rnn_scratch(const tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0], *r = ctx->in[2];
    if (!tq_tensor_shape_known(x) || !tq_tensor_shape_known(r) || x->rank != 3 ||
        r->rank != 3) {
        return 0;
    }
    size_t g = ctx->node->op == TQ_OP_LSTM ? 4 : 3;
    size_t h = (size_t)r->dims[2], in = (size_t)x->dims[2];
    size_t batch = (size_t)x->dims[0] > (size_t)x->dims[1] ? (size_t)x->dims[0]
                                                           : (size_t)x->dims[1];
    size_t gh = tq_rc_mul(g, h);
    size_t b = tq_rc_f64_bytes(tq_rc_mul(gh, in));              /* W */
    b = tq_rc_add(b, tq_rc_f64_bytes(tq_rc_mul(gh, h)));        /* R */
    b = tq_rc_add(b, tq_rc_f64_bytes(tq_rc_mul(gh, 2)));        /* Wb, Rb */
    b = tq_rc_add(b, tq_rc_f64_bytes(tq_rc_mul(h, 3)));         /* P */
    b = tq_rc_add(b, tq_rc_f64_bytes(tq_rc_mul(batch, h)));     /* h */
    b = tq_rc_add(b, tq_rc_f64_bytes(tq_rc_mul(batch, h)));     /* c */
    b = tq_rc_add(b, tq_rc_f64_bytes(tq_rc_mul(gh, 2)));        /* gates (x and h parts) */
    b = tq_rc_add(b, tq_rc_f64_bytes(in));                      /* x row */
    b = tq_rc_add(b, tq_rc_f64_bytes(h));                       /* temp row */
    return b;
}

/* ---- quantisation parameters ---- */

tfmq_status tq_rc_qparams_get(const tq_op_ctx *ctx, tq_rc_qparams *q)
{
    const tq_tensor *x = ctx->in[0], *s = ctx->in[1], *zp = ctx->in[2];
    tfmq_status st;
    int64_t axis = 1, block = 0;
    memset(q, 0, sizeof(*q));
    q->n_ch = 1;
    if ((st = tq_attr_int(ctx->node, "axis", 1, &axis)) != TFMQ_OK ||
        (st = tq_attr_int(ctx->node, "block_size", 0, &block)) != TFMQ_OK) {
        return st;
    }
    if (block != 0) {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "blocked quantization (block_size %lld)",
                          (long long)block);
    }
    if (s->rank < 0 || x->rank < 0) {
        return TFMQ_OK; /* checked again once ranks are known */
    }
    if (s->rank > 1) {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "scale of rank %d (blocked quantization)",
                          s->rank);
    }
    if (zp && zp->rank >= 0) {
        bool same = zp->rank <= 1 && (zp->rank == s->rank || (zp->rank <= 1 && s->rank <= 1));
        for (int32_t i = 0; same && i < zp->rank && i < s->rank; i++) {
            same = zp->dims[i] < 0 || s->dims[i] < 0 || zp->dims[i] == s->dims[i];
        }
        if (!same) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "zero point and scale shapes differ");
        }
    }
    if (s->rank == 0 || s->dims[0] == 1) {
        return TFMQ_OK; /* per tensor */
    }
    if (s->dims[0] < 0) {
        return TFMQ_OK;
    }
    if ((st = tq_norm_axis(ctx, axis, x->rank, false, &q->axis)) != TFMQ_OK) {
        return st;
    }
    if (x->dims[q->axis] >= 0 && x->dims[q->axis] != s->dims[0]) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG,
                          "scale has %lld entries but axis %d has size %lld",
                          (long long)s->dims[0], q->axis, (long long)x->dims[q->axis]);
    }
    q->per_axis = true;
    q->n_ch = (size_t)s->dims[0];
    return TFMQ_OK;
}
