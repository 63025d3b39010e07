/* test_cuda_conv.c: the conv and gemm families of the CUDA backend (backends/cuda/conv.c,
 * gemm.c, conv_dw.cu) against the reference kernels. Each case builds a node by hand, runs shape
 * inference and the reference on the host, then prepares and runs the GPU kernel the way the
 * CUDA exec does (activations converted to the storage type, rank-4 conv activations to NHWC,
 * constants the kernel does not own uploaded in the storage type; the output poisoned with NaN
 * first) and compares: relative L2 error |y - ref| / |ref| <= 1e-5 for strict FP32 and <= 1e-2
 * for TF32, F16 and BF16. Every case runs in four modes: F32+FP32, F32+TF32, F16, BF16.
 * Convolutions: ResNet-50-like 1x1 / 3x3 / 7x7 stride 2, pads, asymmetric pads, auto_pad,
 * strides, dilation, groups, depthwise (and multiplier 2), odd channel counts, batch 1 and 3;
 * every fused activation with and without residual. Depthwise convolutions for the fast kernel
 * of conv_dw.cu and its edges (channel counts that take its narrower vectors or the generic
 * kernel, pads 0 / 1 / asymmetric / beyond the input, stride 2 with odd sizes, partial column
 * blocks, 5x5, Relu and Clip 0..6 with bias and residual), and the same direct convolution at
 * pointer offsets that select each vector width, which must agree bit for bit. Gemm (transA,
 * transB, alpha, beta, C as
 * vector / matrix / column), FusedGemm, MatMul (folded batch, attention-like batched, broadcast,
 * 1-D operands). Also: a run allocates nothing through tfmq's allocator, and destroy frees what
 * prepare allocated. Each case prints one line: name, mode, the implementation, the error.
 * Without a GPU: "test_cuda_conv: SKIP: <why>", exit 77. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#pragma GCC diagnostic ignored "-Wpedantic"
#include <cuda_runtime_api.h>
#pragma GCC diagnostic pop

#include "backends/cpu/cpu.h"
#include "backends/cuda/conv_dw.h"
#include "backends/cuda/cuda.h"
#include "backends/cuda/dev.h"
#include "harness.h"
#include "ir/ir.h"

#define MAX_IN 4
#define MAX_ATTRS 12

static tq_cuda_dev g_dev;
static tq_test_counting_alloc g_counter;
static const tfmq_allocator g_alloc = {&g_counter, tq_test_counting_alloc_fn,
                                       tq_test_counting_free_fn};

/* ---- a node with its inputs, built by hand ---- */
typedef struct tcase {
    uint32_t op;
    tq_attr attrs[MAX_ATTRS];
    int32_t n_attrs;
    int64_t ints[4][4];      /* storage of INTS attributes */
    int32_t n_ints;
    int32_t n_in;
    tq_tensor in[MAX_IN];
    bool present[MAX_IN];
    bool is_const[MAX_IN];
} tcase;

static void tc_init(tcase *tc, uint32_t op)
{
    memset(tc, 0, sizeof(*tc));
    tc->op = op;
}

static float *tc_in(tcase *tc, tq_rng *rng, int32_t i, int32_t rank, const int64_t *dims,
                    bool is_const, float lo, float hi)
{
    tq_tensor *t = &tc->in[i];
    t->dtype = TFMQ_DTYPE_FLOAT32;
    t->rank = rank;
    size_t n = 1;
    for (int32_t d = 0; d < rank; d++) {
        t->dims[d] = dims[d];
        n *= (size_t)dims[d];
    }
    float *p = calloc(n ? n : 1, sizeof(float));
    for (size_t k = 0; k < n; k++) {
        float v = tq_rng_uniform(rng, lo, hi);
        p[k] = v == 0.0f ? 0.125f : v; /* never zero */
    }
    t->data = p;
    tc->present[i] = true;
    tc->is_const[i] = is_const;
    if (i >= tc->n_in) {
        tc->n_in = i + 1;
    }
    return p;
}

static void tc_free(tcase *tc)
{
    for (int32_t i = 0; i < MAX_IN; i++) {
        free(tc->in[i].data);
        tc->in[i].data = NULL;
    }
}

static void tc_attr_int(tcase *tc, const char *name, int64_t v)
{
    tq_attr *a = &tc->attrs[tc->n_attrs++];
    a->name = name;
    a->type = TQ_ATTR_INT;
    a->i = v;
}

static void tc_attr_ints(tcase *tc, const char *name, const int64_t *v, size_t n)
{
    const int32_t slot = tc->n_ints++;
    tq_attr *a = &tc->attrs[tc->n_attrs++];
    a->name = name;
    a->type = TQ_ATTR_INTS;
    memcpy(tc->ints[slot], v, n * sizeof(int64_t));
    a->ints = tc->ints[slot];
    a->n = n;
}

static void tc_attr_float(tcase *tc, const char *name, float v)
{
    tq_attr *a = &tc->attrs[tc->n_attrs++];
    a->name = name;
    a->type = TQ_ATTR_FLOAT;
    a->f = v;
}

static void tc_attr_str(tcase *tc, const char *name, const char *s)
{
    tq_attr *a = &tc->attrs[tc->n_attrs++];
    a->name = name;
    a->type = TQ_ATTR_STRING;
    a->s = s;
}

static void tc_ctx(tcase *tc, tq_node *node, tq_op_ctx *ctx, tq_tensor *ins, tq_tensor *out)
{
    memset(node, 0, sizeof(*node));
    node->op = tc->op;
    node->name = "t";
    node->n_in = tc->n_in;
    node->n_out = 1;
    node->attrs = tc->attrs;
    node->n_attrs = tc->n_attrs;
    memset(ctx, 0, sizeof(*ctx));
    ctx->node = node;
    ctx->n_in = tc->n_in;
    ctx->n_out = 1;
    ctx->opset = 17;
    for (int32_t i = 0; i < tc->n_in; i++) {
        ctx->in[i] = tc->present[i] ? &ins[i] : NULL;
    }
    ctx->out[0] = out;
}

static tfmq_status run_ref(tcase *tc, tq_tensor *y)
{
    tq_node node;
    tq_op_ctx ctx;
    memset(y, 0, sizeof(*y));
    y->rank = -1;
    tc_ctx(tc, &node, &ctx, tc->in, y);
    tfmq_status st = tq_infer_table[tc->op](&ctx);
    if (st != TFMQ_OK) {
        return st;
    }
    y->data = calloc(tq_tensor_numel(y) + 1, sizeof(float));
    void *scratch = ctx.scratch_bytes ? malloc(ctx.scratch_bytes) : NULL;
    ctx.scratch = scratch;
    st = tq_ref_table[tc->op](&ctx);
    free(scratch);
    return st;
}

/* ---- host conversions ---- */
static size_t st_size(tq_cuda_store s)
{
    return s == TQ_CUDA_F32 ? 4 : 2;
}

static void to_store(tq_cuda_store s, const float *src, void *dst, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s == TQ_CUDA_F32) {
            ((float *)dst)[i] = src[i];
        } else if (s == TQ_CUDA_F16) {
            ((uint16_t *)dst)[i] = tq_f32_to_f16(src[i]);
        } else {
            ((uint16_t *)dst)[i] = tq_f32_to_bf16(src[i]);
        }
    }
}

static void from_store(tq_cuda_store s, const void *src, float *dst, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s == TQ_CUDA_F32) {
            dst[i] = ((const float *)src)[i];
        } else if (s == TQ_CUDA_F16) {
            dst[i] = tq_f16_to_f32(((const uint16_t *)src)[i]);
        } else {
            dst[i] = tq_bf16_to_f32(((const uint16_t *)src)[i]);
        }
    }
}

static void nchw_to_nhwc(const float *src, float *dst, const int64_t *d)
{
    const size_t N = (size_t)d[0], C = (size_t)d[1], HW = (size_t)(d[2] * d[3]);
    for (size_t n = 0; n < N; n++) {
        for (size_t c = 0; c < C; c++) {
            for (size_t s = 0; s < HW; s++) {
                dst[(n * HW + s) * C + c] = src[(n * C + c) * HW + s];
            }
        }
    }
}

static void nhwc_to_nchw(const float *src, float *dst, const int64_t *d)
{
    const size_t N = (size_t)d[0], C = (size_t)d[1], HW = (size_t)(d[2] * d[3]);
    for (size_t n = 0; n < N; n++) {
        for (size_t c = 0; c < C; c++) {
            for (size_t s = 0; s < HW; s++) {
                dst[(n * C + c) * HW + s] = src[(n * HW + s) * C + c];
            }
        }
    }
}

/* ---- one GPU run ---- */
typedef struct mode {
    tq_cuda_store store;
    tq_cuda_math math;
    const char *name;
    double tol;
} mode;

static const mode g_modes[] = {
    {TQ_CUDA_F32, TQ_CUDA_MATH_FP32, "f32", 1e-5},
    {TQ_CUDA_F32, TQ_CUDA_MATH_TF32, "f32-tf32", 1e-2},
    {TQ_CUDA_F16, TQ_CUDA_MATH_FP32, "f16", 1e-2},
    {TQ_CUDA_BF16, TQ_CUDA_MATH_FP32, "bf16", 1e-2},
};

/* Plan sharing (plan_cache.h): run_gpu lends g_share to prepare; with g_keep set it keeps the
 * kernel (in g_kept) instead of destroying it, as an exec keeps the owner of a shared plan. */
static tq_pc_share *g_share;
static bool g_keep;
static tq_cuda_kernel *g_kept;

typedef struct gpu_result {
    bool taken;
    char impl[128];
    size_t allocs_in_run;
    long long live_after_destroy;
} gpu_result;

#define CUDA_TRY(call, what)                                                                      \
    do {                                                                                          \
        cudaError_t e_ = (call);                                                                  \
        if (e_ != cudaSuccess) {                                                                  \
            st = tq_fail(TFMQ_ERR_BACKEND, "test: %s: %s", (what), cudaGetErrorString(e_));      \
            goto done;                                                                            \
        }                                                                                         \
    } while (0)

/* Prepare the family `conv` (else gemm) for the case in mode m, run it twice, y_out (NCHW
 * float32) gets the output. */
static tfmq_status run_gpu(tcase *tc, const tq_tensor *yshape, const mode *m, bool conv,
                           float *y_out, gpu_result *r)
{
    memset(r, 0, sizeof(*r));
    tq_tensor pin[MAX_IN], pout = *yshape;
    tq_node node;
    tq_op_ctx ctx;
    uint8_t in_l[MAX_IN] = {0}, out_l[1] = {0};
    void *dev_in[MAX_IN] = {NULL}, *dev_y = NULL, *ws = NULL;
    void *host_y = NULL;
    float *tmp = NULL;
    tq_cuda_kernel *k = NULL;
    tfmq_status st = TFMQ_OK;
    const size_t ny = tq_tensor_numel(yshape), es = st_size(m->store);
    pout.data = NULL;
    for (int32_t i = 0; i < tc->n_in; i++) {
        pin[i] = tc->in[i];
        if (!tc->is_const[i]) {
            pin[i].data = NULL;
        }
        /* conv: rank-4 activations NHWC */
        in_l[i] = conv && !tc->is_const[i] && tc->in[i].rank == 4 ? TQ_LAYOUT_NHWC
                                                                  : TQ_LAYOUT_NCHW;
    }
    out_l[0] = conv && yshape->rank == 4 ? TQ_LAYOUT_NHWC : TQ_LAYOUT_NCHW;
    tc_ctx(tc, &node, &ctx, pin, &pout);
    tq_cuda_prep prep = {.ctx = &ctx, .in_layout = in_l, .out_layout = out_l,
                         .store = m->store, .math = m->math, .dev = &g_dev, .alloc = &g_alloc,
                         .share = g_share};
    long long live0 = atomic_load(&g_counter.n_live);
    st = conv ? tq_cuda_prepare_conv(&prep, &k) : tq_cuda_prepare_gemm(&prep, &k);
    if (st != TFMQ_OK || !k) {
        return st;
    }
    r->taken = true;
    snprintf(r->impl, sizeof(r->impl), "%s", k->impl ? k->impl : "(null)");
    /* inputs */
    for (int32_t i = 0; i < tc->n_in; i++) {
        if (!tc->present[i] || (k->own_consts & (1u << i))) {
            continue;
        }
        const tq_tensor *t = &tc->in[i];
        const size_t n = tq_tensor_numel(t);
        free(tmp);
        tmp = malloc((n ? n : 1) * sizeof(float));
        void *h = malloc((n ? n : 1) * es);
        if (in_l[i] == TQ_LAYOUT_NHWC) {
            nchw_to_nhwc(t->data, tmp, t->dims);
        } else {
            memcpy(tmp, t->data, n * sizeof(float));
        }
        to_store(m->store, tmp, h, n);
        cudaError_t e = cudaMalloc(&dev_in[i], (n ? n : 1) * es);
        if (e == cudaSuccess) {
            e = cudaMemcpy(dev_in[i], h, n * es, cudaMemcpyHostToDevice);
        }
        free(h);
        CUDA_TRY(e, "upload input");
    }
    CUDA_TRY(cudaMalloc(&dev_y, ny * es), "cudaMalloc y");
    CUDA_TRY(cudaMemset(dev_y, 0xFF, ny * es), "poison y"); /* NaN in every storage type */
    /* the legacy stream's copies and memsets finish before the non-blocking stream runs */
    CUDA_TRY(cudaDeviceSynchronize(), "synchronize");
    if (k->workspace_bytes) {
        CUDA_TRY(cudaMalloc(&ws, k->workspace_bytes), "cudaMalloc workspace");
    }
    {
        void *outs[1] = {dev_y};
        tq_cuda_args args = {.in = dev_in, .out = outs, .workspace = ws, .stream = g_dev.stream};
        for (int rep = 0; rep < 2 && st == TFMQ_OK; rep++) {
            const uint64_t a0 = tq_alloc_test_count();
            const long long t0 = atomic_load(&g_counter.n_total);
            st = k->run(k, &args);
            r->allocs_in_run += (size_t)(tq_alloc_test_count() - a0) +
                                (size_t)(atomic_load(&g_counter.n_total) - t0);
        }
        if (st != TFMQ_OK) {
            goto done;
        }
    }
    CUDA_TRY(cudaStreamSynchronize((cudaStream_t)g_dev.stream), "run (stream sync)");
    host_y = malloc(ny * es);
    CUDA_TRY(cudaMemcpy(host_y, dev_y, ny * es, cudaMemcpyDeviceToHost), "download y");
    free(tmp);
    tmp = malloc(ny * sizeof(float));
    from_store(m->store, host_y, tmp, ny);
    if (out_l[0] == TQ_LAYOUT_NHWC) {
        nhwc_to_nchw(tmp, y_out, yshape->dims);
    } else {
        memcpy(y_out, tmp, ny * sizeof(float));
    }
done:
    if (k && g_keep) {
        g_kept = k;
    } else if (k) {
        k->destroy(k);
        r->live_after_destroy = atomic_load(&g_counter.n_live) - live0;
    }
    for (int32_t i = 0; i < MAX_IN; i++) {
        cudaFree(dev_in[i]);
    }
    cudaFree(dev_y);
    cudaFree(ws);
    free(host_y);
    free(tmp);
    (void)cudaGetLastError();
    return st;
}

static double rel_l2(const float *y, const float *ref, size_t n, size_t *n_nan)
{
    double num = 0.0, den = 0.0;
    *n_nan = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(y[i]) && !isnan(ref[i])) {
            (*n_nan)++;
            continue;
        }
        double d = (double)y[i] - (double)ref[i];
        num += d * d;
        den += (double)ref[i] * (double)ref[i];
    }
    if (*n_nan) {
        return INFINITY;
    }
    return den > 0.0 ? sqrt(num / den) : sqrt(num);
}

static int g_n_cases;
/* when set, check_case expects implementations named so, or not so */
static const char *g_impl_prefix, *g_impl_not_prefix;

/* Reference, then the GPU kernel in every mode; `expect_take`: the family must take it. */
static void check_case(tcase *tc, const char *label, bool conv, bool expect_take)
{
    tq_tensor y;
    char shp[96];
    tfmq_status st = run_ref(tc, &y);
    TQ_EXPECT(st == TFMQ_OK, "%s: reference: %s", label, tfmq_last_error());
    if (st != TFMQ_OK) {
        free(y.data);
        return;
    }
    tq_shape_str(&y, shp, sizeof(shp));
    const size_t n = tq_tensor_numel(&y);
    float *out = malloc((n + 1) * sizeof(float));
    size_t n_nonzero = 0;
    for (size_t i = 0; i < n; i++) {
        n_nonzero += ((const float *)y.data)[i] != 0.0f;
    }
    TQ_EXPECT(n_nonzero * 4 >= n, "%s: mistrusted: %zu of %zu reference outputs are zero", label,
              n - n_nonzero, n);
    for (size_t mi = 0; mi < sizeof(g_modes) / sizeof(g_modes[0]); mi++) {
        const mode *m = &g_modes[mi];
        gpu_result r;
        for (size_t i = 0; i < n; i++) {
            out[i] = NAN;
        }
        st = run_gpu(tc, &y, m, conv, out, &r);
        g_n_cases++;
        TQ_EXPECT(st == TFMQ_OK, "%s -> %s [%s] (%s): %s", label, shp, m->name,
                  r.taken ? r.impl : "not taken", tfmq_last_error());
        TQ_EXPECT(r.taken == expect_take, "%s [%s]: taken %d, expected %d", label, m->name,
                  (int)r.taken, (int)expect_take);
        if (st != TFMQ_OK || !r.taken) {
            printf("  %-44s %-8s %s\n", label, m->name, r.taken ? "ERROR" : "not taken");
            continue;
        }
        size_t n_nan = 0;
        double e = rel_l2(out, y.data, n, &n_nan);
        printf("  %-44s %-8s %-44s rel_l2 %.3g\n", label, m->name, r.impl, e);
        TQ_EXPECT(!g_impl_prefix || strncmp(r.impl, g_impl_prefix, strlen(g_impl_prefix)) == 0,
                  "%s [%s]: ran %s, expected %s...", label, m->name, r.impl, g_impl_prefix);
        TQ_EXPECT(!g_impl_not_prefix ||
                      strncmp(r.impl, g_impl_not_prefix, strlen(g_impl_not_prefix)) != 0,
                  "%s [%s]: ran %s", label, m->name, r.impl);
        TQ_EXPECT(n_nan == 0, "%s -> %s [%s] (%s): %zu of %zu outputs NaN (unwritten?)", label,
                  shp, m->name, r.impl, n_nan, n);
        TQ_EXPECT(e <= m->tol, "%s -> %s [%s] (%s): relative L2 error %.3g > %.g", label, shp,
                  m->name, r.impl, e, m->tol);
        TQ_EXPECT(r.allocs_in_run == 0, "%s [%s] (%s): a run made %zu allocations", label,
                  m->name, r.impl, r.allocs_in_run);
        TQ_EXPECT(r.live_after_destroy == 0, "%s [%s] (%s): %lld blocks leaked", label, m->name,
                  r.impl, r.live_after_destroy);
    }
    fflush(stdout);
    free(out);
    free(y.data);
}

/* ---- convolutions ---- */
typedef struct conv_spec {
    int64_t n, c, h, w, m, kh, kw, g, sh, sw, dh, dw, pt, pl, pb, pr;
    const char *auto_pad; /* NULL: explicit pads */
    const char *name;
} conv_spec;

static const conv_spec conv_specs[] = {
    /* n  c   h   w    m  kh kw  g sh sw dh dw pt pl pb pr */
    {1, 64, 14, 14, 256, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, NULL, "resnet 1x1 64->256"},
    {1, 64, 28, 28, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, NULL, "resnet 3x3 64"},
    {1, 3, 56, 56, 64, 7, 7, 1, 2, 2, 1, 1, 3, 3, 3, 3, NULL, "resnet stem 7x7 s2"},
    {3, 32, 8, 8, 16, 1, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, NULL, "1x1 stride 2 batch 3"},
    {3, 17, 9, 11, 24, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, NULL, "odd 17ch 9x11 batch 3"},
    {1, 32, 16, 16, 32, 3, 3, 32, 1, 1, 1, 1, 1, 1, 1, 1, NULL, "depthwise 32"},
    {3, 24, 15, 15, 24, 3, 3, 24, 2, 2, 1, 1, 1, 1, 1, 1, NULL, "depthwise s2 batch 3"},
    {1, 16, 9, 9, 32, 3, 3, 16, 1, 1, 1, 1, 1, 1, 1, 1, NULL, "depthwise multiplier 2"},
    {1, 16, 10, 10, 24, 3, 3, 4, 1, 1, 1, 1, 1, 1, 1, 1, NULL, "group 4"},
    {1, 8, 13, 13, 12, 3, 3, 1, 1, 1, 2, 2, 2, 2, 2, 2, NULL, "dilation 2"},
    {1, 6, 8, 9, 7, 3, 3, 1, 1, 1, 1, 1, 0, 1, 2, 0, NULL, "asymmetric pads"},
    {1, 8, 10, 10, 8, 3, 3, 1, 2, 2, 1, 1, 0, 0, 0, 0, "SAME_UPPER", "auto_pad SAME_UPPER s2"},
    {1, 3, 7, 7, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, NULL, "tiny 3ch -> 5"},
};

typedef struct act_spec {
    const char *name;
    float lo, hi, alpha;
} act_spec;

static const act_spec act_specs[] = {
    {"", 0, 0, 0},          {"Relu", 0, 0, 0},        {"Clip", -0.25f, 0.5f, 0},
    {"HardSwish", 0, 0, 0}, {"LeakyRelu", 0, 0, 0.1f}, {"Sigmoid", 0, 0, 0},
    {"Clip", 0.0f, 6.0f, 0}, /* Relu6 (MobileNetV2) */
};
#define ACT_RELU6 6 /* index of Clip 0..6 in act_specs */

/* fused: tfmq.FusedConv with bias; act (index into act_specs) and residual. The case in *tc
 * (free with tc_free) and its label; false (nothing to free) when it could not be made. */
static bool conv_build(tq_rng *rng, const conv_spec *s, bool fused, bool bias, int act,
                       bool resid, tcase *out, char *label, size_t label_cap)
{
    tcase *tc = out; /* built in place: attributes point into the struct */
    tc_init(tc, fused ? TQ_OP_FUSED_CONV : TQ_OP_CONV);
    const int64_t xd[4] = {s->n, s->c, s->h, s->w};
    const int64_t wd[4] = {s->m, s->c / s->g, s->kh, s->kw};
    const int64_t bd[1] = {s->m};
    const float wr = 1.0f / sqrtf((float)(wd[1] * wd[2] * wd[3]));
    tc_in(tc, rng, 0, 4, xd, false, -1.0f, 1.0f);
    tc_in(tc, rng, 1, 4, wd, true, -wr, wr);
    if (bias || resid) {
        tc_in(tc, rng, 2, 1, bd, true, -0.5f, 0.5f);
        tc->present[2] = bias;
        if (!bias) {
            free(tc->in[2].data);
            tc->in[2].data = NULL;
        }
    }
    const int64_t ks[2] = {s->kh, s->kw}, st[2] = {s->sh, s->sw}, dl[2] = {s->dh, s->dw};
    const int64_t pads[4] = {s->pt, s->pl, s->pb, s->pr};
    tc_attr_ints(tc, "kernel_shape", ks, 2);
    tc_attr_ints(tc, "strides", st, 2);
    tc_attr_ints(tc, "dilations", dl, 2);
    if (s->auto_pad) {
        tc_attr_str(tc, "auto_pad", s->auto_pad);
    } else {
        tc_attr_ints(tc, "pads", pads, 4);
    }
    tc_attr_int(tc, "group", s->g);
    const act_spec *a = &act_specs[act];
    if (fused) {
        tc_attr_str(tc, "activation", a->name);
        if (strcmp(a->name, "Clip") == 0) {
            tc_attr_float(tc, "activation_min", a->lo);
            tc_attr_float(tc, "activation_max", a->hi);
        }
        if (strcmp(a->name, "LeakyRelu") == 0) {
            tc_attr_float(tc, "activation_alpha", a->alpha);
        }
    }
    if (resid) {
        /* the residual has the output's shape: infer it first */
        tq_tensor y;
        tq_node node;
        tq_op_ctx ctx;
        memset(&y, 0, sizeof(y));
        y.rank = -1;
        tc_ctx(tc, &node, &ctx, tc->in, &y);
        if (tq_infer_table[TQ_OP_CONV](&ctx) != TFMQ_OK) {
            TQ_EXPECT(false, "%s: shape inference: %s", s->name, tfmq_last_error());
            tc_free(tc);
            return false;
        }
        tc_in(tc, rng, 3, 4, y.dims, false, -1.0f, 1.0f);
    }
    char act_label[48];
    if (strcmp(a->name, "Clip") == 0) {
        snprintf(act_label, sizeof(act_label), " +Clip(%g,%g)", (double)a->lo, (double)a->hi);
    } else {
        snprintf(act_label, sizeof(act_label), "%s%s", a->name[0] ? " +" : "", a->name);
    }
    snprintf(label, label_cap, "%s%s%s%s", s->name, bias ? " +bias" : "",
             resid ? " +res" : "", act_label);
    return true;
}

static void conv_case(tq_rng *rng, const conv_spec *s, bool fused, bool bias, int act,
                      bool resid)
{
    tcase tc;
    char label[128];
    if (conv_build(rng, s, fused, bias, act, resid, &tc, label, sizeof(label))) {
        check_case(&tc, label, true, true);
        tc_free(&tc);
    }
}

/* Two nodes of one shape and different weights, bias and residual: the second borrows the
 * first's cuDNN plan (the exec's share table) and must still compute its own output. */
static void test_conv_shared_plan(tq_rng *rng)
{
    const size_t which[2] = {0, 1}; /* a 1x1 and a 3x3 of ResNet */
    for (size_t w = 0; w < 2; w++) {
        for (size_t mi = 0; mi < sizeof(g_modes) / sizeof(g_modes[0]); mi++) {
            const mode *m = &g_modes[mi];
            tcase owner, borrower;
            char label[128], l2[128];
            if (!conv_build(rng, &conv_specs[which[w]], true, true, 1, true, &owner, label,
                            sizeof(label))) {
                continue;
            }
            if (!conv_build(rng, &conv_specs[which[w]], true, true, 1, true, &borrower, l2,
                            sizeof(l2))) {
                tc_free(&owner);
                continue;
            }
            tq_pc_share share;
            memset(&share, 0, sizeof(share));
            share.alloc = &g_alloc;
            tq_tensor y1, y2;
            tfmq_status st = run_ref(&owner, &y1);
            if (st == TFMQ_OK) {
                st = run_ref(&borrower, &y2);
            } else {
                y2.data = NULL;
            }
            TQ_EXPECT(st == TFMQ_OK, "%s: reference: %s", label, tfmq_last_error());
            const size_t n = st == TFMQ_OK ? tq_tensor_numel(&y2) : 0;
            float *out = malloc((n + 1) * sizeof(float));
            gpu_result r1, r2;
            g_share = &share;
            g_keep = true;
            g_kept = NULL;
            if (st == TFMQ_OK) {
                st = run_gpu(&owner, &y1, m, true, out, &r1);
            }
            g_keep = false;
            TQ_EXPECT(st == TFMQ_OK && r1.taken, "%s [%s] owner: %s", label, m->name,
                      tfmq_last_error());
            if (st == TFMQ_OK && r1.taken && strncmp(r1.impl, "cudnn:", 6) == 0) {
                TQ_EXPECT_EQ_U64(share.n, 1);
                for (size_t i = 0; i < n; i++) {
                    out[i] = NAN;
                }
                st = run_gpu(&borrower, &y2, m, true, out, &r2);
                TQ_EXPECT(st == TFMQ_OK && r2.taken, "%s [%s] borrower: %s", label, m->name,
                          tfmq_last_error());
                TQ_EXPECT_EQ_U64(share.n_reused, 1);
                TQ_EXPECT(strcmp(r1.impl, r2.impl) == 0, "%s [%s]: borrower ran %s, owner %s",
                          label, m->name, r2.impl, r1.impl);
                size_t n_nan = 0;
                const double e = rel_l2(out, y2.data, n, &n_nan);
                printf("  %-44s %-8s %-44s shared plan, rel_l2 %.3g\n", label, m->name, r2.impl,
                       e);
                TQ_EXPECT(n_nan == 0 && e <= m->tol, "%s [%s] (%s, shared plan): %zu NaN, "
                          "relative L2 error %.3g > %.g", label, m->name, r2.impl, n_nan, e,
                          m->tol);
                TQ_EXPECT(r2.live_after_destroy == 0, "%s [%s]: the borrower leaked %lld blocks",
                          label, m->name, r2.live_after_destroy);
            } else if (st == TFMQ_OK && r1.taken) {
                printf("  %-44s %-8s %-44s (not cuDNN: nothing to share)\n", label, m->name,
                       r1.impl);
            }
            g_share = NULL;
            if (g_kept) {
                g_kept->destroy(g_kept);
                g_kept = NULL;
            }
            tq_pc_share_free(&share);
            free(out);
            free(y1.data);
            free(y2.data);
            tc_free(&owner);
            tc_free(&borrower);
        }
    }
}

static void test_conv(tq_rng *rng)
{
    const size_t n_specs = sizeof(conv_specs) / sizeof(conv_specs[0]);
    for (size_t i = 0; i < n_specs; i++) {
        conv_case(rng, &conv_specs[i], false, false, 0, false); /* plain Conv, no bias */
        conv_case(rng, &conv_specs[i], true, true, 1, i % 2 == 0); /* bias + relu (+res) */
    }
}

/* 1x1 convolutions as cuBLASLt matmuls (conv.c, conv_gemm_prepare), forced to win the
 * autotuning: every mode, with and without bias and residual, Relu (cuBLASLt's epilogue) and
 * LeakyRelu (ours after it), strides (gathered first) included; a 1x1 with pads never takes
 * that path. */
static void test_conv_gemm(tq_rng *rng)
{
    static const conv_spec specs[] = {
        {1, 64, 14, 14, 256, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, NULL, "1x1 64->256 as matmul"},
        {3, 40, 7, 9, 24, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, NULL, "1x1 40->24 7x9 batch 3"},
        {3, 32, 9, 8, 16, 1, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, NULL, "1x1 stride 2 9x8 as matmul"},
        {2, 8, 7, 7, 8, 1, 1, 1, 3, 2, 1, 1, 0, 0, 0, 0, NULL, "1x1 8->8 stride 3x2"},
    };
    static const conv_spec padded = {1, 16, 6, 6, 16, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, NULL,
                                     "1x1 pad 1"};
    setenv("TFMQ_CUDA_CONV_GEMM", "force", 1);
    for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
        for (int v = 0; v < 4; v++) {
            tcase tc;
            char label[128];
            /* plain; bias + Relu + residual; bias + LeakyRelu; residual alone */
            const bool bias = v == 1 || v == 2, resid = v == 1 || v == 3;
            const int act = v == 1 ? 1 : (v == 2 ? 4 : 0); /* Relu, LeakyRelu */
            if (!conv_build(rng, &specs[i], v > 0, bias, act, resid, &tc, label, sizeof(label))) {
                continue;
            }
            g_impl_prefix = "cublaslt:";
            check_case(&tc, label, true, true);
            g_impl_prefix = NULL;
            tc_free(&tc);
        }
    }
    tcase tc;
    char label[128];
    if (conv_build(rng, &padded, true, true, 1, false, &tc, label, sizeof(label))) {
        g_impl_not_prefix = "cublaslt:";
        check_case(&tc, label, true, true);
        g_impl_not_prefix = NULL;
        tc_free(&tc);
    }
    unsetenv("TFMQ_CUDA_CONV_GEMM");
}

/* every activation, with and without residual, on a dense, a grouped and a depthwise conv */
static void test_conv_epilogues(tq_rng *rng)
{
    const size_t which[3] = {1, 4, 6};
    const int n_acts = (int)(sizeof(act_specs) / sizeof(act_specs[0]));
    for (size_t w = 0; w < 3; w++) {
        for (int a = 0; a < n_acts; a++) {
            conv_case(rng, &conv_specs[which[w]], true, true, a, (a % 2) == 1);
        }
        conv_case(rng, &conv_specs[which[w]], true, false, 3, true); /* no bias, residual */
    }
}

/* Depthwise convolutions for the fast kernel of conv_dw.cu (3x3 and 5x5, dilation 1, stride_w 1
 * or 2, c a multiple of its vector: 8 channels of 16-bit types, 4 of float32, fewer when c
 * allows no more) and its edges. Channels: 12 and 6 take narrower vectors, 7 the generic kernel
 * for 16-bit types (float32: 1-channel vectors). ow not a multiple of 4 (3x3 stride 1) or 2 (the
 * others) leaves the last column block of a row partial. */
static const conv_spec dw_specs[] = {
    /* n  c   h   w    m  kh kw  g sh sw dh dw pt pl pb pr */
    {1, 8, 12, 12, 8, 3, 3, 8, 1, 1, 1, 1, 1, 1, 1, 1, NULL, "dw 8ch"},
    {3, 16, 9, 13, 16, 3, 3, 16, 2, 2, 1, 1, 1, 1, 1, 1, NULL, "dw 16ch s2 odd 9x13 batch 3"},
    {1, 24, 11, 10, 24, 3, 3, 24, 1, 1, 1, 1, 0, 0, 0, 0, NULL, "dw 24ch pad 0"},
    {1, 96, 14, 14, 96, 3, 3, 96, 2, 2, 1, 1, 0, 0, 1, 1, NULL, "dw 96ch s2 pads 0,1"},
    {3, 96, 7, 7, 96, 3, 3, 96, 1, 1, 1, 1, 1, 1, 1, 1, NULL, "dw 96ch 7x7 batch 3"},
    {1, 32, 112, 112, 32, 3, 3, 32, 1, 1, 1, 1, 1, 1, 1, 1, NULL, "dw mobilenetv2 32ch 112x112"},
    {2, 144, 15, 15, 144, 3, 3, 144, 2, 2, 1, 1, 1, 1, 1, 1, NULL, "dw 144ch s2 15x15 batch 2"},
    {1, 12, 10, 9, 12, 3, 3, 12, 1, 1, 1, 1, 1, 1, 1, 1, NULL, "dw 12ch (narrower vector)"},
    {3, 6, 7, 11, 6, 3, 3, 6, 2, 2, 1, 1, 1, 1, 1, 1, NULL, "dw 6ch s2 7x11 batch 3"},
    {1, 7, 9, 9, 7, 3, 3, 7, 1, 1, 1, 1, 1, 1, 1, 1, NULL, "dw 7ch (odd)"},
    {1, 32, 5, 6, 32, 3, 3, 32, 2, 2, 1, 1, 2, 0, 1, 2, NULL, "dw s2 asymmetric pads"},
    {1, 16, 10, 11, 16, 3, 3, 16, 2, 1, 1, 1, 1, 0, 1, 2, NULL, "dw stride 2x1 asymmetric pads"},
    {1, 16, 11, 10, 16, 3, 3, 16, 1, 2, 1, 1, 1, 1, 1, 1, NULL, "dw stride 1x2"},
    {1, 16, 9, 9, 16, 3, 3, 16, 1, 1, 1, 1, 3, 0, 0, 3, NULL, "dw pads beyond the input"},
    {2, 40, 13, 13, 40, 5, 5, 40, 1, 1, 1, 1, 2, 2, 2, 2, NULL, "dw 5x5 40ch batch 2"},
    {1, 24, 14, 15, 24, 5, 5, 24, 2, 2, 1, 1, 2, 2, 2, 2, NULL, "dw 5x5 s2 14x15"},
    {1, 16, 12, 12, 16, 3, 3, 16, 1, 1, 2, 2, 2, 2, 2, 2, NULL, "dw dilation 2 (generic)"},
};

/* each depthwise spec: plain Conv; bias + Relu; bias + residual + Clip 0..6; residual alone */
static void test_conv_depthwise(tq_rng *rng)
{
    const size_t n_specs = sizeof(dw_specs) / sizeof(dw_specs[0]);
    for (size_t i = 0; i < n_specs; i++) {
        conv_case(rng, &dw_specs[i], false, false, 0, false);
        conv_case(rng, &dw_specs[i], true, true, 1, false);
        conv_case(rng, &dw_specs[i], true, true, ACT_RELU6, true);
        if (i % 2 == 1) {
            conv_case(rng, &dw_specs[i], true, false, 0, true);
        }
    }
}

/* ---- the vector widths of the depthwise kernel (conv_dw.cu) ----
 * tq_cuda_conv_direct() itself, on tensors placed 0, 1, 2 and 4 elements after 256-byte
 * aligned addresses: the fast kernel takes the widest vector (16, 8 or 4 bytes) every pointer
 * and the channel count allow, and 16-bit types 1 element off take the generic kernel. All
 * accumulate each output in the same order, so every placement must give the same bits as
 * placement 0, which is also checked against a host computation. */
typedef struct dw_direct_spec {
    int64_t n, c, h, w, k, stride, pad;
    bool bias, res;
    int act; /* index into act_specs */
    const char *name;
} dw_direct_spec;

static const dw_direct_spec dw_direct_specs[] = {
    {2, 24, 9, 10, 3, 1, 1, true, true, ACT_RELU6, "3x3 s1 24ch +bias +res +Clip"},
    {1, 16, 11, 9, 3, 2, 1, true, false, 1, "3x3 s2 16ch +bias +Relu"},
    {1, 12, 8, 7, 3, 1, 0, false, true, 0, "3x3 s1 pad 0 12ch +res"},
    {1, 16, 12, 13, 5, 2, 2, true, true, 1, "5x5 s2 16ch +bias +res +Relu"},
    {3, 8, 6, 9, 5, 1, 2, false, false, 3, "5x5 s1 8ch +HardSwish"},
};

/* the host's computation, in float as the kernels: taps r outer, s inner with fmaf */
static void dw_direct_host(const dw_direct_spec *sp, int64_t oh, int64_t ow, const float *x,
                           const float *w, const float *bias, const float *res, float *y)
{
    const act_spec *a = &act_specs[sp->act];
    const int64_t c = sp->c, k = sp->k;
    for (int64_t nb = 0; nb < sp->n; nb++) {
        for (int64_t oy = 0; oy < oh; oy++) {
            for (int64_t ox = 0; ox < ow; ox++) {
                for (int64_t ch = 0; ch < c; ch++) {
                    float acc = 0.0f;
                    for (int64_t r = 0; r < k; r++) {
                        const int64_t iy = oy * sp->stride - sp->pad + r;
                        for (int64_t s = 0; s < k && iy >= 0 && iy < sp->h; s++) {
                            const int64_t ix = ox * sp->stride - sp->pad + s;
                            if (ix >= 0 && ix < sp->w) {
                                acc = fmaf(x[((nb * sp->h + iy) * sp->w + ix) * c + ch],
                                           w[(ch * k + r) * k + s], acc);
                            }
                        }
                    }
                    const int64_t yi = ((nb * oh + oy) * ow + ox) * c + ch;
                    if (bias) {
                        acc += bias[ch];
                    }
                    if (res) {
                        acc += res[yi];
                    }
                    if (strcmp(a->name, "Relu") == 0) {
                        acc = acc < 0.0f ? 0.0f : acc;
                    } else if (strcmp(a->name, "Clip") == 0) {
                        acc = acc < a->lo ? a->lo : (acc > a->hi ? a->hi : acc);
                    } else if (strcmp(a->name, "HardSwish") == 0) {
                        float t = acc / 6.0f + 0.5f;
                        t = t < 0.0f ? 0.0f : (t > 1.0f ? 1.0f : t);
                        acc = acc * t;
                    }
                    y[yi] = acc;
                }
            }
        }
    }
}

/* the kernel's epilogue for the activations dw_direct_specs use */
static tq_cuda_epi dw_epi(const act_spec *a)
{
    tq_cuda_epi e = {.act = TQ_CUDA_ACT_NONE, .lo = a->lo, .hi = a->hi, .alpha = a->alpha};
    if (strcmp(a->name, "Relu") == 0) {
        e.act = TQ_CUDA_ACT_RELU;
    } else if (strcmp(a->name, "Clip") == 0) {
        e.act = TQ_CUDA_ACT_CLIP;
    } else if (strcmp(a->name, "HardSwish") == 0) {
        e.act = TQ_CUDA_ACT_HARD_SWISH;
    }
    return e;
}

/* x, w, res in the storage type (host), then rounded back to float for the host computation */
static void *dw_host_store(tq_cuda_store store, tq_rng *rng, size_t n, float lo, float hi,
                           float *rounded)
{
    float *f = malloc((n ? n : 1) * sizeof(float));
    void *h = malloc((n ? n : 1) * st_size(store));
    for (size_t i = 0; i < n; i++) {
        f[i] = tq_rng_uniform(rng, lo, hi);
    }
    to_store(store, f, h, n);
    from_store(store, h, rounded, n);
    free(f);
    return h;
}

static void dw_direct_case(tq_rng *rng, const dw_direct_spec *sp, const mode *m)
{
    static const int64_t offs[4] = {0, 1, 2, 4}; /* elements after a 256-byte aligned address */
    const int64_t oh = (sp->h + 2 * sp->pad - sp->k) / sp->stride + 1;
    const int64_t ow = (sp->w + 2 * sp->pad - sp->k) / sp->stride + 1;
    const size_t nx = (size_t)(sp->n * sp->h * sp->w * sp->c);
    const size_t ny = (size_t)(sp->n * oh * ow * sp->c), nw = (size_t)(sp->c * sp->k * sp->k);
    const size_t es = st_size(m->store), slack = 8; /* elements past the largest offset */
    const float wr = 1.0f / (float)sp->k;
    float *xf = malloc(nx * sizeof(float)), *wf = malloc(nw * sizeof(float));
    float *rf = malloc(ny * sizeof(float)), *bf = malloc((size_t)sp->c * sizeof(float));
    float *ref = malloc(ny * sizeof(float)), *yf = malloc(ny * sizeof(float));
    void *hx = dw_host_store(m->store, rng, nx, -1.0f, 1.0f, xf);
    void *hw = dw_host_store(m->store, rng, nw, -wr, wr, wf);
    void *hr = dw_host_store(m->store, rng, ny, -1.0f, 1.0f, rf);
    void *hy[4] = {NULL};
    void *dx = NULL, *dw = NULL, *dr = NULL, *dy = NULL;
    float *db = NULL;
    tfmq_status st = TFMQ_OK;
    for (int64_t i = 0; i < sp->c; i++) {
        bf[i] = tq_rng_uniform(rng, -0.5f, 0.5f);
    }
    dw_direct_host(sp, oh, ow, xf, wf, sp->bias ? bf : NULL, sp->res ? rf : NULL, ref);
    CUDA_TRY(cudaMalloc(&dx, (nx + slack) * es), "cudaMalloc x");
    CUDA_TRY(cudaMalloc(&dw, (nw + slack) * es), "cudaMalloc w");
    CUDA_TRY(cudaMalloc(&dr, (ny + slack) * es), "cudaMalloc res");
    CUDA_TRY(cudaMalloc(&dy, (ny + slack) * es), "cudaMalloc y");
    CUDA_TRY(cudaMalloc((void **)&db, (size_t)sp->c * sizeof(float)), "cudaMalloc bias");
    CUDA_TRY(cudaMemcpy(db, bf, (size_t)sp->c * sizeof(float), cudaMemcpyHostToDevice),
             "upload bias");
    for (int oi = 0; oi < 4; oi++) {
        const size_t off = (size_t)offs[oi] * es;
        char *px = (char *)dx + off, *pw = (char *)dw + off;
        char *pr = (char *)dr + off, *py = (char *)dy + off;
        CUDA_TRY(cudaMemcpy(px, hx, nx * es, cudaMemcpyHostToDevice), "upload x");
        CUDA_TRY(cudaMemcpy(pw, hw, nw * es, cudaMemcpyHostToDevice), "upload w");
        CUDA_TRY(cudaMemcpy(pr, hr, ny * es, cudaMemcpyHostToDevice), "upload res");
        CUDA_TRY(cudaMemset(dy, 0xFF, (ny + slack) * es), "poison y");
        CUDA_TRY(cudaDeviceSynchronize(), "synchronize"); /* before the non-blocking stream */
        tq_cuda_direct_conv d = {
            .n = sp->n, .c = sp->c, .h = sp->h, .w = sp->w, .k = sp->c, .oh = oh, .ow = ow,
            .r = sp->k, .s = sp->k, .stride_h = sp->stride, .stride_w = sp->stride, .dil_h = 1,
            .dil_w = 1, .pad_t = sp->pad, .pad_l = sp->pad, .cg = 1, .mg = 1,
            .store = (int)m->store, .x = px, .wt = pw, .bias = sp->bias ? db : NULL,
            .res = sp->res ? pr : NULL, .y = py, .epi = dw_epi(&act_specs[sp->act])};
        CUDA_TRY((cudaError_t)tq_cuda_conv_direct(&d, g_dev.stream), "tq_cuda_conv_direct");
        CUDA_TRY(cudaStreamSynchronize((cudaStream_t)g_dev.stream), "run (stream sync)");
        hy[oi] = malloc(ny * es);
        CUDA_TRY(cudaMemcpy(hy[oi], py, ny * es, cudaMemcpyDeviceToHost), "download y");
    }
    from_store(m->store, hy[0], yf, ny);
    size_t n_nan = 0;
    const double e = rel_l2(yf, ref, ny, &n_nan);
    printf("  dw direct %-34s %-8s rel_l2 %.3g\n", sp->name, m->name, e);
    TQ_EXPECT(n_nan == 0 && e <= m->tol, "dw direct %s [%s]: relative L2 error %.3g (%zu NaN)",
              sp->name, m->name, e, n_nan);
    for (int oi = 1; oi < 4; oi++) {
        size_t n_diff = 0;
        for (size_t i = 0; i < ny; i++) {
            n_diff += memcmp((char *)hy[oi] + i * es, (char *)hy[0] + i * es, es) != 0;
        }
        TQ_EXPECT(n_diff == 0, "dw direct %s [%s]: placement +%lld: %zu of %zu outputs differ",
                  sp->name, m->name, (long long)offs[oi], n_diff, ny);
    }
    g_n_cases += 4;
done:
    TQ_EXPECT(st == TFMQ_OK, "dw direct %s [%s]: %s", sp->name, m->name, tfmq_last_error());
    cudaFree(dx);
    cudaFree(dw);
    cudaFree(dr);
    cudaFree(dy);
    cudaFree(db);
    for (int oi = 0; oi < 4; oi++) {
        free(hy[oi]);
    }
    free(hx);
    free(hw);
    free(hr);
    free(xf);
    free(wf);
    free(rf);
    free(bf);
    free(ref);
    free(yf);
    (void)cudaGetLastError();
}

static void test_conv_dw_vectors(tq_rng *rng)
{
    const size_t n_specs = sizeof(dw_direct_specs) / sizeof(dw_direct_specs[0]);
    for (size_t i = 0; i < n_specs; i++) {
        for (size_t mi = 0; mi < sizeof(g_modes) / sizeof(g_modes[0]); mi++) {
            if (g_modes[mi].math == TQ_CUDA_MATH_FP32) { /* TF32 changes nothing here */
                dw_direct_case(rng, &dw_direct_specs[i], &g_modes[mi]);
            }
        }
    }
    fflush(stdout);
}

/* ---- Gemm / FusedGemm / MatMul ---- */
static void gemm_case(tq_rng *rng, uint32_t op, int64_t m, int64_t k, int64_t n, int64_t ta,
                      int64_t tb, float alpha, float beta, int c_kind, bool b_const, int act,
                      bool resid, const char *name)
{
    /* c_kind: 0 none, 1 [N] const, 2 [M,N] activation, 3 [M,1] const, 4 [1,N] const */
    tcase tc;
    tc_init(&tc, op);
    const int64_t ad[2] = {ta ? k : m, ta ? m : k}, bd[2] = {tb ? n : k, tb ? k : n};
    tc_in(&tc, rng, 0, 2, ad, false, -1.0f, 1.0f);
    tc_in(&tc, rng, 1, 2, bd, b_const, -1.0f, 1.0f);
    const int64_t cdn[1] = {n}, cdmn[2] = {m, n}, cdm1[2] = {m, 1}, cd1n[2] = {1, n};
    switch (c_kind) {
    case 1:
        tc_in(&tc, rng, 2, 1, cdn, true, -1.0f, 1.0f);
        break;
    case 2:
        tc_in(&tc, rng, 2, 2, cdmn, false, -1.0f, 1.0f);
        break;
    case 3:
        tc_in(&tc, rng, 2, 2, cdm1, true, -1.0f, 1.0f);
        break;
    case 4:
        tc_in(&tc, rng, 2, 2, cd1n, true, -1.0f, 1.0f);
        break;
    default:
        break;
    }
    if (resid) {
        if (!tc.present[2]) {
            tc.n_in = 3; /* absent C */
        }
        tc_in(&tc, rng, 3, 2, cdmn, false, -1.0f, 1.0f);
    }
    tc_attr_int(&tc, "transA", ta);
    tc_attr_int(&tc, "transB", tb);
    tc_attr_float(&tc, "alpha", alpha);
    tc_attr_float(&tc, "beta", beta);
    const act_spec *a = &act_specs[act];
    if (op == TQ_OP_FUSED_GEMM) {
        tc_attr_str(&tc, "activation", a->name);
        if (strcmp(a->name, "Clip") == 0) {
            tc_attr_float(&tc, "activation_min", a->lo);
            tc_attr_float(&tc, "activation_max", a->hi);
        }
        if (strcmp(a->name, "LeakyRelu") == 0) {
            tc_attr_float(&tc, "activation_alpha", a->alpha);
        }
    }
    check_case(&tc, name, false, true);
    tc_free(&tc);
}

static void test_gemm(tq_rng *rng)
{
    gemm_case(rng, TQ_OP_GEMM, 5, 64, 48, 0, 1, 1.0f, 1.0f, 1, true, 0, false,
              "gemm transB bias 5x64x48");
    gemm_case(rng, TQ_OP_GEMM, 1, 2048, 1000, 0, 1, 1.0f, 1.0f, 1, true, 0, false,
              "gemm resnet fc 1x2048x1000");
    gemm_case(rng, TQ_OP_GEMM, 3, 33, 17, 0, 0, 1.0f, 1.0f, 4, true, 0, false,
              "gemm odd C[1,N] 3x33x17");
    gemm_case(rng, TQ_OP_GEMM, 7, 9, 13, 1, 0, 0.5f, 2.0f, 2, true, 0, false,
              "gemm transA alpha beta C[M,N] act");
    gemm_case(rng, TQ_OP_GEMM, 7, 9, 13, 1, 1, 1.0f, 0.5f, 3, true, 0, false,
              "gemm transA transB C[M,1]");
    gemm_case(rng, TQ_OP_GEMM, 6, 20, 10, 0, 0, 1.0f, 1.0f, 0, false, 0, false,
              "gemm no C, B activation");
    gemm_case(rng, TQ_OP_FUSED_GEMM, 4, 40, 24, 0, 1, 1.0f, 1.0f, 1, true, 1, false,
              "fusedgemm bias relu");
    gemm_case(rng, TQ_OP_FUSED_GEMM, 4, 40, 24, 0, 1, 1.0f, 1.0f, 1, true, 5, true,
              "fusedgemm bias res sigmoid");
    gemm_case(rng, TQ_OP_FUSED_GEMM, 4, 40, 24, 0, 0, 1.0f, 1.0f, 0, true, 3, false,
              "fusedgemm hardswish");
    gemm_case(rng, TQ_OP_FUSED_GEMM, 9, 16, 8, 0, 1, 1.0f, 1.0f, 1, true, 2, true,
              "fusedgemm bias res clip");
    gemm_case(rng, TQ_OP_FUSED_GEMM, 9, 16, 8, 0, 1, 1.0f, 1.0f, 0, true, 1, true,
              "fusedgemm res relu");
}

static void matmul_case(tq_rng *rng, int32_t ra, const int64_t *ad, int32_t rb,
                        const int64_t *bd, bool b_const, const char *name)
{
    tcase tc;
    tc_init(&tc, TQ_OP_MATMUL);
    tc_in(&tc, rng, 0, ra, ad, false, -1.0f, 1.0f);
    tc_in(&tc, rng, 1, rb, bd, b_const, -1.0f, 1.0f);
    check_case(&tc, name, false, true);
    tc_free(&tc);
}

static void test_matmul(tq_rng *rng)
{
    const int64_t a1[4] = {2, 3, 5, 16}, b1[2] = {16, 24};
    matmul_case(rng, 4, a1, 2, b1, true, "matmul [2,3,5,16]x[16,24] const");
    const int64_t q[4] = {2, 4, 10, 16}, kt[4] = {2, 4, 16, 10};
    matmul_case(rng, 4, q, 4, kt, false, "matmul attention QK^T batched");
    const int64_t a3[3] = {4, 6, 8}, b3[3] = {1, 8, 5};
    matmul_case(rng, 3, a3, 3, b3, false, "matmul [4,6,8]x[1,8,5]");
    const int64_t a4[2] = {6, 8}, b4[3] = {3, 8, 5};
    matmul_case(rng, 2, a4, 3, b4, false, "matmul broadcast A [6,8]x[3,8,5]");
    const int64_t a5[1] = {16}, b5[2] = {16, 7};
    matmul_case(rng, 1, a5, 2, b5, true, "matmul 1-D A");
    const int64_t a6[2] = {3, 16}, b6[1] = {16};
    matmul_case(rng, 2, a6, 1, b6, true, "matmul 1-D B");
    const int64_t a7[3] = {1, 197, 64}, b7[2] = {64, 192};
    matmul_case(rng, 3, a7, 2, b7, true, "matmul vit-like [1,197,64]x[64,192]");
}

int main(int argc, char **argv)
{
    char why[256];
    int n_dev = 0;
    if (tq_cuda_dev_probe(&n_dev, why, sizeof(why)) != TFMQ_OK) {
        printf("test_cuda_conv: SKIP: %s\n", why);
        return 77;
    }
    if (tq_cuda_dev_open(0, &g_dev) != TFMQ_OK) {
        printf("test_cuda_conv: SKIP: %s\n", tfmq_last_error());
        return 77;
    }
    printf("test_cuda_conv: %s (sm_%d)\n", g_dev.name, g_dev.sm);
    tq_test_begin(argc, argv);
    TQ_RUN(test_conv);
    TQ_RUN(test_conv_epilogues);
    TQ_RUN(test_conv_gemm);
    TQ_RUN(test_conv_shared_plan);
    TQ_RUN(test_conv_depthwise);
    TQ_RUN(test_conv_dw_vectors);
    TQ_RUN(test_gemm);
    TQ_RUN(test_matmul);
    printf("%d GPU runs\n", g_n_cases);
    tq_cuda_dev_close(&g_dev);
    return tq_test_end();
}
