/* test_cuda_qconv.c: the integer family of the CUDA backend (backends/cuda/qconv.c,
 * qconv_direct.cu) against the reference kernels (backends/ref/qlinear.c). Each case builds a
 * tfmq.QConv / tfmq.QGemm / tfmq.QAdd node by hand with random int8 data, per-channel weight
 * scales and int32 bias, runs shape inference and the reference on the host, then prepares and
 * runs the GPU kernel the way the CUDA exec does (QConv activations NHWC, QAdd in NCHW and in
 * NHWC, constants the kernel does not own uploaded; the output poisoned first) and compares
 * element by element. Our own kernels must match exactly; a cuDNN plan ("cudnn:" impl) may
 * differ by one unit (its epilogue rounds in float) on at most 1% of the elements and never by
 * more. Cases: ResNet-50 / MobileNetV2 shapes (1x1, 3x3, stride 2, 7x7 stem with C = 3,
 * depthwise, odd channel counts, grouped, dilation), batch 1 and 3, activation none / Relu /
 * Clip, int8 and uint8 with zero points. The tiled kernel for few input channels
 * ("cuda:qconv_stem_tiled": the full ResNet-50 stem at batch 2, C = 1..4, K not a multiple of 8
 * or 16, two k tiles, 11x11 with more than 48 KB of shared memory, dilation, odd image sizes)
 * and QAdd's 16-byte path ("cuda:qadd_v16", and an odd size that must stay on "cuda:qadd")
 * must be the ones taken. Also: a run allocates nothing through tfmq's allocator, and destroy
 * frees what prepare allocated. Each case prints one line: name, implementation, the count of
 * differing elements; a failure names the first differing element.
 * Without a GPU: "test_cuda_qconv: SKIP: <why>", exit 77. */
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
#include "backends/cuda/cuda.h"
#include "backends/cuda/dev.h"
#include "backends/ref/qlinear.h"
#include "harness.h"
#include "ir/ir.h"

#define MAX_IN 9
#define MAX_ATTRS 12

static tq_cuda_dev g_dev;
static tq_test_counting_alloc g_counter;
static const tfmq_allocator g_alloc = {&g_counter, tq_test_counting_alloc_fn,
                                       tq_test_counting_free_fn};
static int g_n_cases;
static size_t g_n_elems, g_n_diff;

typedef struct tcase {
    uint32_t op;
    tq_attr attrs[MAX_ATTRS];
    int32_t n_attrs;
    int64_t ints[4][4];
    int32_t n_ints;
    int32_t n_in;
    tq_tensor in[MAX_IN];
    bool present[MAX_IN];
    bool is_const[MAX_IN];
} tcase;

static void tc_init(tcase *tc, uint32_t op, int32_t n_in)
{
    memset(tc, 0, sizeof(*tc));
    tc->op = op;
    tc->n_in = n_in;
}

static void tc_free(tcase *tc)
{
    for (int32_t i = 0; i < MAX_IN; i++) {
        free(tc->in[i].data);
        tc->in[i].data = NULL;
    }
}

/* Input i: dtype dt, shape (rank 0: scalar), zero-filled data. */
static void *tc_in(tcase *tc, int32_t i, tfmq_dtype dt, int32_t rank, const int64_t *dims,
                   bool is_const)
{
    tq_tensor *t = &tc->in[i];
    t->dtype = dt;
    t->rank = rank;
    size_t n = 1;
    for (int32_t d = 0; d < rank; d++) {
        t->dims[d] = dims[d];
        n *= (size_t)dims[d];
    }
    t->data = calloc(n ? n : 1, tq_dtype_size(dt) ? tq_dtype_size(dt) : 1);
    tc->present[i] = true;
    tc->is_const[i] = is_const;
    return t->data;
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

/* act: 0 none, 1 Relu, 2 Clip [0, 6] */
static void tc_act(tcase *tc, int act)
{
    if (act == 1) {
        tc_attr_str(tc, "activation", "Relu");
    } else if (act == 2) {
        tc_attr_str(tc, "activation", "Clip");
        tc_attr_float(tc, "activation_min", 0.0f);
        tc_attr_float(tc, "activation_max", 6.0f);
    }
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
    y->data = calloc(tq_tensor_numel(y) + 1, 1);
    void *scratch = ctx.scratch_bytes ? malloc(ctx.scratch_bytes) : NULL;
    ctx.scratch = scratch;
    st = tq_ref_table[tc->op](&ctx);
    free(scratch);
    return st;
}

/* byte tensors NCHW <-> NHWC */
static void b_nchw_to_nhwc(const uint8_t *src, uint8_t *dst, const int64_t *d)
{
    const int64_t N = d[0], C = d[1], HW = d[2] * d[3];
    for (int64_t n = 0; n < N; n++) {
        for (int64_t c = 0; c < C; c++) {
            for (int64_t i = 0; i < HW; i++) {
                dst[(n * HW + i) * C + c] = src[(n * C + c) * HW + i];
            }
        }
    }
}

static void b_nhwc_to_nchw(const uint8_t *src, uint8_t *dst, const int64_t *d)
{
    const int64_t N = d[0], C = d[1], HW = d[2] * d[3];
    for (int64_t n = 0; n < N; n++) {
        for (int64_t c = 0; c < C; c++) {
            for (int64_t i = 0; i < HW; i++) {
                dst[(n * C + c) * HW + i] = src[(n * HW + i) * C + c];
            }
        }
    }
}

typedef struct gpu_result {
    bool taken;
    char impl[96];
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

/* Prepare and run (twice) with rank-4 activations in `nhwc` layout; y_out (NCHW bytes). */
static tfmq_status run_gpu(tcase *tc, const tq_tensor *yshape, bool nhwc, uint8_t *y_out,
                           gpu_result *r)
{
    memset(r, 0, sizeof(*r));
    tq_tensor pin[MAX_IN], pout = *yshape;
    tq_node node;
    tq_op_ctx ctx;
    uint8_t in_l[MAX_IN] = {0}, out_l[1] = {0};
    void *dev_in[MAX_IN] = {NULL}, *dev_y = NULL, *ws = NULL;
    uint8_t *host_y = NULL, *tmp = NULL;
    tq_cuda_kernel *k = NULL;
    tfmq_status st = TFMQ_OK;
    const size_t ny = tq_tensor_numel(yshape);
    pout.data = NULL;
    for (int32_t i = 0; i < tc->n_in; i++) {
        pin[i] = tc->in[i];
        if (!tc->is_const[i]) {
            pin[i].data = NULL;
        }
        in_l[i] = nhwc && !tc->is_const[i] && tc->in[i].rank == 4 ? TQ_LAYOUT_NHWC
                                                                  : TQ_LAYOUT_NCHW;
    }
    out_l[0] = nhwc && yshape->rank == 4 ? TQ_LAYOUT_NHWC : TQ_LAYOUT_NCHW;
    tc_ctx(tc, &node, &ctx, pin, &pout);
    tq_cuda_prep prep = {.ctx = &ctx, .in_layout = in_l, .out_layout = out_l,
                         .store = TQ_CUDA_F32, .math = TQ_CUDA_MATH_FP32, .dev = &g_dev,
                         .alloc = &g_alloc};
    long long live0 = atomic_load(&g_counter.n_live);
    st = tq_cuda_prepare_qconv(&prep, &k);
    if (st != TFMQ_OK || !k) {
        return st;
    }
    r->taken = true;
    snprintf(r->impl, sizeof(r->impl), "%s", k->impl ? k->impl : "(null)");
    for (int32_t i = 0; i < tc->n_in; i++) {
        if (!tc->present[i] || (k->own_consts & (1u << i))) {
            continue;
        }
        const tq_tensor *t = &tc->in[i];
        const size_t nb = tq_tensor_numel(t) * tq_dtype_size(t->dtype);
        free(tmp);
        tmp = malloc(nb ? nb : 1);
        if (in_l[i] == TQ_LAYOUT_NHWC) {
            b_nchw_to_nhwc(t->data, tmp, t->dims);
        } else {
            memcpy(tmp, t->data, nb);
        }
        cudaError_t e = cudaMalloc(&dev_in[i], nb ? nb : 1);
        if (e == cudaSuccess) {
            e = cudaMemcpy(dev_in[i], tmp, nb, cudaMemcpyHostToDevice);
        }
        CUDA_TRY(e, "upload input");
    }
    CUDA_TRY(cudaMalloc(&dev_y, ny + 1), "cudaMalloc y");
    CUDA_TRY(cudaMemset(dev_y, 0x5A, ny), "poison y");
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
            /* the first run builds cuDNN's variant pack (host memory outside tfmq's allocator) */
            r->allocs_in_run += (size_t)(tq_alloc_test_count() - a0) +
                                (size_t)(atomic_load(&g_counter.n_total) - t0);
        }
        if (st != TFMQ_OK) {
            goto done;
        }
    }
    CUDA_TRY(cudaStreamSynchronize((cudaStream_t)g_dev.stream), "run (stream sync)");
    host_y = malloc(ny + 1);
    CUDA_TRY(cudaMemcpy(host_y, dev_y, ny, cudaMemcpyDeviceToHost), "download y");
    if (out_l[0] == TQ_LAYOUT_NHWC) {
        b_nhwc_to_nchw(host_y, y_out, yshape->dims);
    } else {
        memcpy(y_out, host_y, ny);
    }
done:
    if (k) {
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

/* Run the case in one layout and compare with the reference (int8 or uint8 output); want_impl:
 * the implementation the case must take, or NULL for any. */
static void check_case(tcase *tc, const char *label, bool nhwc, const char *want_impl)
{
    tq_tensor ref;
    tfmq_status st = run_ref(tc, &ref);
    TQ_EXPECT(st == TFMQ_OK, "%s: reference: %s", label, tfmq_last_error());
    if (st != TFMQ_OK) {
        free(ref.data);
        return;
    }
    const size_t n = tq_tensor_numel(&ref);
    const bool sgn = ref.dtype == TFMQ_DTYPE_INT8;
    uint8_t *out = malloc(n + 1);
    gpu_result r;
    st = run_gpu(tc, &ref, nhwc, out, &r);
    g_n_cases++;
    TQ_EXPECT(st == TFMQ_OK, "%s [%s]: %s", label, nhwc ? "nhwc" : "nchw", tfmq_last_error());
    TQ_EXPECT(r.taken || st != TFMQ_OK, "%s [%s]: the qconv family did not take the node", label,
              nhwc ? "nhwc" : "nchw");
    if (st == TFMQ_OK && r.taken) {
        const bool lib = strncmp(r.impl, "cudnn:", 6) == 0;
        size_t n_diff = 0, first = n;
        int max_d = 0;
        for (size_t i = 0; i < n; i++) {
            const int a = sgn ? (int)(int8_t)out[i] : (int)out[i];
            const int b = sgn ? (int)((int8_t *)ref.data)[i] : (int)((uint8_t *)ref.data)[i];
            const int d = abs(a - b);
            if (d) {
                n_diff++;
                first = first == n ? i : first;
                max_d = d > max_d ? d : max_d;
            }
        }
        g_n_elems += n;
        g_n_diff += n_diff;
        printf("  %-52s %-4s %-40s %zu/%zu differ (max %d)\n", label, nhwc ? "nhwc" : "nchw",
               r.impl, n_diff, n, max_d);
        if (first < n) {
            /* first differing element as NCHW coordinates (rank 4) or a flat index */
            const int a = sgn ? (int)(int8_t)out[first] : (int)out[first];
            const int b = sgn ? (int)((int8_t *)ref.data)[first]
                              : (int)((uint8_t *)ref.data)[first];
            char where[128];
            if (ref.rank == 4) {
                const int64_t *d = ref.dims;
                const size_t hw = (size_t)(d[2] * d[3]);
                snprintf(where, sizeof(where), "[n %zu, c %zu, h %zu, w %zu]",
                         first / (hw * (size_t)d[1]), first / hw % (size_t)d[1],
                         first % hw / (size_t)d[3], first % (size_t)d[3]);
            } else {
                snprintf(where, sizeof(where), "[%zu]", first);
            }
            TQ_EXPECT(lib ? (max_d <= 1 && n_diff * 100 <= n) : n_diff == 0,
                      "%s [%s] (%s): %zu of %zu elements differ (max %d); first at %s: gpu %d, "
                      "ref %d (limit: %s)", label, nhwc ? "nhwc" : "nchw", r.impl, n_diff, n,
                      max_d, where, a, b,
                      lib ? "cuDNN: <= 1 unit on <= 1%" : "own kernel: exact");
        }
        TQ_EXPECT(!want_impl || strcmp(r.impl, want_impl) == 0, "%s [%s]: took %s, expected %s",
                  label, nhwc ? "nhwc" : "nchw", r.impl, want_impl ? want_impl : "");
        TQ_EXPECT(r.allocs_in_run == 0 || lib, "%s (%s): a run made %zu allocations", label,
                  r.impl, r.allocs_in_run);
        TQ_EXPECT(r.live_after_destroy == 0, "%s (%s): %lld allocations live after destroy",
                  label, r.impl, r.live_after_destroy);
    }
    free(out);
    free(ref.data);
}

/* ---- QConv ---- */
typedef struct conv_spec {
    const char *name;
    int64_t n, c, h, w, m, r, s, stride, pad, group, dil;
} conv_spec;

static const conv_spec conv_specs[] = {
    {"1x1 C64 K256 28x28", 1, 64, 28, 28, 256, 1, 1, 1, 0, 1, 1},
    {"1x1 C256 K64 28x28 b3", 3, 256, 28, 28, 64, 1, 1, 1, 0, 1, 1},
    {"3x3 C64 K64 p1 28x28", 1, 64, 28, 28, 64, 3, 3, 1, 1, 1, 1},
    {"3x3 s2 C128 K128 p1 28x28 b3", 3, 128, 28, 28, 128, 3, 3, 2, 1, 1, 1},
    {"1x1 s2 C256 K512 14x14 (downsample)", 1, 256, 14, 14, 512, 1, 1, 2, 0, 1, 1},
    {"3x3 C512 K512 p1 7x7 b3", 3, 512, 7, 7, 512, 3, 3, 1, 1, 1, 1},
    {"7x7 s2 C3 K64 p3 56x56 (stem)", 1, 3, 56, 56, 64, 7, 7, 2, 3, 1, 1},
    {"3x3 s2 C3 K32 p1 32x32 b3 (mbv2 stem)", 3, 3, 32, 32, 32, 3, 3, 2, 1, 1, 1},
    {"dw 3x3 C32 p1 28x28", 1, 32, 28, 28, 32, 3, 3, 1, 1, 32, 1},
    {"dw 3x3 s2 C96 p1 28x28 b3", 3, 96, 28, 28, 96, 3, 3, 2, 1, 96, 1},
    {"1x1 C1280 K1001 1x1 b3 (classifier)", 3, 1280, 1, 1, 1001, 1, 1, 1, 0, 1, 1},
    {"3x3 C5 K7 p1 9x11 odd", 3, 5, 9, 11, 7, 3, 3, 1, 1, 1, 1},
    {"3x3 C12 K20 p1 10x10", 1, 12, 10, 10, 20, 3, 3, 1, 1, 1, 1},
    {"3x3 C16 K16 g2 p1 12x12 grouped", 1, 16, 12, 12, 16, 3, 3, 1, 1, 2, 1},
    {"3x3 C32 K32 d2 p2 16x16 dilated", 1, 32, 16, 16, 32, 3, 3, 1, 2, 1, 2},
};

/* x int8 (symmetric) or uint8 with zero point; weights int8 per channel; bias int32. */
static void qconv_case_impl(tq_rng *rng, const conv_spec *s, int act, bool asym, bool with_bias,
                            const char *want_impl)
{
    tcase tc;
    tc_init(&tc, TQ_OP_QCONV, with_bias ? 9 : 8);
    const int64_t cg = s->c / s->group;
    const int64_t xd[4] = {s->n, s->c, s->h, s->w}, wd[4] = {s->m, cg, s->r, s->s};
    const int64_t md[1] = {s->m};
    const tfmq_dtype xdt = asym ? TFMQ_DTYPE_UINT8 : TFMQ_DTYPE_INT8;
    const int32_t xz = asym ? 120 : 0, yz = asym ? 100 : 0;
    uint8_t *x = tc_in(&tc, TQ_QL_X, xdt, 4, xd, false);
    const size_t nx = tq_tensor_numel(&tc.in[TQ_QL_X]);
    for (size_t i = 0; i < nx; i++) {
        x[i] = (uint8_t)(int8_t)(int32_t)tq_rng_below(rng, 256); /* any byte */
        if (!asym && act && tq_rng_below(rng, 2)) {
            x[i] = (uint8_t)(tq_rng_below(rng, 128)); /* post-ReLU-like */
        }
    }
    const float xs = 0.02f;
    *(float *)tc_in(&tc, TQ_QL_X_SCALE, TFMQ_DTYPE_FLOAT32, 0, NULL, true) = xs;
    *(uint8_t *)tc_in(&tc, TQ_QL_X_ZP, xdt, 0, NULL, true) = (uint8_t)xz;
    int8_t *w = tc_in(&tc, TQ_QL_W, TFMQ_DTYPE_INT8, 4, wd, true);
    const size_t nw = tq_tensor_numel(&tc.in[TQ_QL_W]);
    for (size_t i = 0; i < nw; i++) {
        w[i] = (int8_t)((int32_t)tq_rng_below(rng, 255) - 127);
    }
    float *ws = tc_in(&tc, TQ_QL_W_SCALE, TFMQ_DTYPE_FLOAT32, 1, md, true);
    int8_t *wz = tc_in(&tc, TQ_QL_W_ZP, TFMQ_DTYPE_INT8, 1, md, true);
    for (int64_t c = 0; c < s->m; c++) {
        ws[c] = 0.01f * tq_rng_uniform(rng, 0.5f, 1.5f);
        wz[c] = asym ? (int8_t)((int32_t)tq_rng_below(rng, 9) - 4) : 0;
    }
    /* acc std ~ 74 * 73 * sqrt(CRS): put it near 40 output units */
    const double acc_sd = 74.0 * 73.0 * sqrt((double)(cg * s->r * s->s));
    const float ys = (float)((double)xs * 0.01 * acc_sd / 40.0);
    *(float *)tc_in(&tc, TQ_QL_Y_SCALE, TFMQ_DTYPE_FLOAT32, 0, NULL, true) = ys;
    *(uint8_t *)tc_in(&tc, TQ_QL_Y_ZP, asym ? TFMQ_DTYPE_UINT8 : TFMQ_DTYPE_INT8, 0, NULL,
                      true) = (uint8_t)yz;
    if (with_bias) {
        int32_t *b = tc_in(&tc, TQ_QL_BIAS, TFMQ_DTYPE_INT32, 1, md, true);
        for (int64_t c = 0; c < s->m; c++) {
            b[c] = (int32_t)tq_rng_uniform(rng, (float)-acc_sd, (float)acc_sd);
        }
    }
    const int64_t st2[2] = {s->stride, s->stride}, pads[4] = {s->pad, s->pad, s->pad, s->pad};
    const int64_t dil[2] = {s->dil, s->dil}, ks[2] = {s->r, s->s};
    tc_attr_ints(&tc, "strides", st2, 2);
    tc_attr_ints(&tc, "pads", pads, 4);
    tc_attr_ints(&tc, "dilations", dil, 2);
    tc_attr_ints(&tc, "kernel_shape", ks, 2);
    tc_attr_int(&tc, "group", s->group);
    tc_act(&tc, act);
    char label[256];
    static const char *acts[3] = {"", " +Relu", " +Clip"};
    snprintf(label, sizeof(label), "qconv %s%s%s%s", s->name, acts[act], asym ? " u8/zp" : "",
             with_bias ? "" : " nobias");
    check_case(&tc, label, true, want_impl);
    tc_free(&tc);
}

static void qconv_case(tq_rng *rng, const conv_spec *s, int act, bool asym, bool with_bias)
{
    qconv_case_impl(rng, s, act, asym, with_bias, NULL);
}

static void test_qconv(tq_rng *rng)
{
    const size_t n = sizeof(conv_specs) / sizeof(conv_specs[0]);
    for (size_t i = 0; i < n; i++) {
        qconv_case(rng, &conv_specs[i], (int)(i % 3), false, true);
    }
}

static void test_qconv_variants(tq_rng *rng)
{
    /* every activation on a cuDNN shape and a direct one; no bias; uint8 with zero points */
    for (int act = 0; act < 3; act++) {
        qconv_case(rng, &conv_specs[2], act, false, true);
        qconv_case(rng, &conv_specs[8], act, false, true);
    }
    qconv_case(rng, &conv_specs[0], 1, false, false);
    qconv_case(rng, &conv_specs[2], 0, true, true);
    qconv_case(rng, &conv_specs[9], 2, true, true);
    qconv_case(rng, &conv_specs[6], 1, true, false);
}

/* The tiled kernel for few input channels (int8, zero points 0, groups 1, C <= 4); the K are
 * not multiples of 4 where C == 4 so that cuDNN is not tried. */
static const conv_spec tiled_specs[] = {
    {"7x7 s2 C3 K64 p3 224x224 b2 (resnet50 stem)", 2, 3, 224, 224, 64, 7, 7, 2, 3, 1, 1},
    {"5x5 C1 K17 p2 31x45 b3", 3, 1, 31, 45, 17, 5, 5, 1, 2, 1, 1},
    {"5x5 C3 K17 p2 31x45 b3", 3, 3, 31, 45, 17, 5, 5, 1, 2, 1, 1},
    {"11x11 s4 C3 K96 p2 67x67 (> 48 KB shared)", 1, 3, 67, 67, 96, 11, 11, 4, 2, 1, 1},
    {"3x3 C2 K200 p1 13x13 b2 (two k tiles)", 2, 2, 13, 13, 200, 3, 3, 1, 1, 1, 1},
    {"3x3 d2 C3 K8 p2 20x20 dilated", 1, 3, 20, 20, 8, 3, 3, 1, 2, 1, 2},
    {"3x3 C4 K18 p1 30x30 b2", 2, 4, 30, 30, 18, 3, 3, 1, 1, 1, 1},
    {"4x4 s3 C2 K32 p1 50x37", 1, 2, 50, 37, 32, 4, 4, 3, 1, 1, 1},
};

static void test_qconv_tiled(tq_rng *rng)
{
    static const char *tiled = "cuda:qconv_stem_tiled";
    static const int acts[] = {1, 0, 2, 1, 0, 2, 1, 0};
    const size_t n = sizeof(tiled_specs) / sizeof(tiled_specs[0]);
    for (size_t i = 0; i < n; i++) {
        qconv_case_impl(rng, &tiled_specs[i], acts[i], false, true, tiled);
    }
    qconv_case_impl(rng, &tiled_specs[2], 0, false, false, tiled); /* no bias */
    qconv_case_impl(rng, &conv_specs[6], 1, false, true, tiled);   /* the 56x56 stem */
    qconv_case_impl(rng, &conv_specs[7], 2, false, true, tiled);   /* mbv2 stem, stride 2 */
}

/* ---- QGemm ---- */
static void qgemm_case(tq_rng *rng, int64_t m, int64_t k, int64_t n, int act, bool asym)
{
    tcase tc;
    tc_init(&tc, TQ_OP_QGEMM, 9);
    const int64_t xd[2] = {m, k}, wd[2] = {n, k}, nd[1] = {n};
    const tfmq_dtype xdt = asym ? TFMQ_DTYPE_UINT8 : TFMQ_DTYPE_INT8;
    uint8_t *x = tc_in(&tc, TQ_QL_X, xdt, 2, xd, false);
    for (size_t i = 0; i < (size_t)(m * k); i++) {
        x[i] = (uint8_t)tq_rng_below(rng, 256);
    }
    *(float *)tc_in(&tc, TQ_QL_X_SCALE, TFMQ_DTYPE_FLOAT32, 0, NULL, true) = 0.05f;
    *(uint8_t *)tc_in(&tc, TQ_QL_X_ZP, xdt, 0, NULL, true) = asym ? 128 : 0;
    int8_t *w = tc_in(&tc, TQ_QL_W, TFMQ_DTYPE_INT8, 2, wd, true);
    for (size_t i = 0; i < (size_t)(n * k); i++) {
        w[i] = (int8_t)((int32_t)tq_rng_below(rng, 255) - 127);
    }
    float *ws = tc_in(&tc, TQ_QL_W_SCALE, TFMQ_DTYPE_FLOAT32, 1, nd, true);
    int8_t *wz = tc_in(&tc, TQ_QL_W_ZP, TFMQ_DTYPE_INT8, 1, nd, true);
    for (int64_t c = 0; c < n; c++) {
        ws[c] = 0.004f * tq_rng_uniform(rng, 0.5f, 1.5f);
        wz[c] = asym ? (int8_t)((int32_t)tq_rng_below(rng, 5) - 2) : 0;
    }
    const double acc_sd = 74.0 * 73.0 * sqrt((double)k);
    *(float *)tc_in(&tc, TQ_QL_Y_SCALE, TFMQ_DTYPE_FLOAT32, 0, NULL, true) =
        (float)(0.05 * 0.004 * acc_sd / 40.0);
    *(uint8_t *)tc_in(&tc, TQ_QL_Y_ZP, asym ? TFMQ_DTYPE_UINT8 : TFMQ_DTYPE_INT8, 0, NULL,
                      true) = asym ? 128 : 0;
    int32_t *b = tc_in(&tc, TQ_QL_BIAS, TFMQ_DTYPE_INT32, 1, nd, true);
    for (int64_t c = 0; c < n; c++) {
        b[c] = (int32_t)tq_rng_uniform(rng, (float)-acc_sd, (float)acc_sd);
    }
    tc_act(&tc, act);
    char label[256];
    snprintf(label, sizeof(label), "qgemm [%lld,%lld]x[%lld,%lld]^T act %d%s", (long long)m,
             (long long)k, (long long)n, (long long)k, act, asym ? " u8/zp" : "");
    check_case(&tc, label, false, NULL);
    tc_free(&tc);
}

static void test_qgemm(tq_rng *rng)
{
    qgemm_case(rng, 3, 2048, 1000, 0, false);
    qgemm_case(rng, 1, 64, 10, 0, false);
    qgemm_case(rng, 3, 37, 11, 1, false);
    qgemm_case(rng, 2, 512, 100, 2, true);
}

/* ---- QAdd ---- */
static void qadd_case_impl(tq_rng *rng, int32_t ra, const int64_t *ad, int32_t rb,
                           const int64_t *bd, bool b_const, int act, bool asym, const char *name,
                           const char *want_impl)
{
    tcase tc;
    tc_init(&tc, TQ_OP_QADD, 8);
    const tfmq_dtype dt = asym ? TFMQ_DTYPE_UINT8 : TFMQ_DTYPE_INT8;
    uint8_t *a = tc_in(&tc, 0, dt, ra, ad, false);
    uint8_t *b = tc_in(&tc, 3, dt, rb, bd, b_const);
    for (size_t i = 0; i < tq_tensor_numel(&tc.in[0]); i++) {
        a[i] = (uint8_t)tq_rng_below(rng, 256);
    }
    for (size_t i = 0; i < tq_tensor_numel(&tc.in[3]); i++) {
        b[i] = (uint8_t)tq_rng_below(rng, 256);
    }
    *(float *)tc_in(&tc, 1, TFMQ_DTYPE_FLOAT32, 0, NULL, true) = 0.031f;
    *(uint8_t *)tc_in(&tc, 2, dt, 0, NULL, true) = asym ? 131 : 0;
    *(float *)tc_in(&tc, 4, TFMQ_DTYPE_FLOAT32, 0, NULL, true) = 0.047f;
    *(uint8_t *)tc_in(&tc, 5, dt, 0, NULL, true) = asym ? 119 : 0;
    *(float *)tc_in(&tc, 6, TFMQ_DTYPE_FLOAT32, 0, NULL, true) = 0.061f;
    *(uint8_t *)tc_in(&tc, 7, dt, 0, NULL, true) = asym ? 127 : 0;
    tc_act(&tc, act);
    char label[256];
    snprintf(label, sizeof(label), "qadd %s act %d%s", name, act, asym ? " u8/zp" : "");
    check_case(&tc, label, false, want_impl);
    if (ra == 4) {
        check_case(&tc, label, true, want_impl);
    }
    tc_free(&tc);
}

static void qadd_case(tq_rng *rng, int32_t ra, const int64_t *ad, int32_t rb, const int64_t *bd,
                      bool b_const, int act, bool asym, const char *name)
{
    qadd_case_impl(rng, ra, ad, rb, bd, b_const, act, asym, name, NULL);
}

static void test_qadd(tq_rng *rng)
{
    const int64_t d1[4] = {1, 64, 28, 28}, d3[4] = {3, 256, 14, 14};
    const int64_t c1[4] = {1, 16, 1, 1}, d4[4] = {3, 16, 8, 8}, v[1] = {8};
    qadd_case(rng, 4, d1, 4, d1, false, 0, false, "[1,64,28,28] + same");
    qadd_case(rng, 4, d3, 4, d3, false, 1, false, "[3,256,14,14] + same");
    qadd_case(rng, 4, d4, 4, c1, true, 2, false, "[3,16,8,8] + const [1,16,1,1]");
    qadd_case(rng, 4, d4, 1, v, false, 0, true, "[3,16,8,8] + [8]");
    qadd_case(rng, 4, d1, 4, d1, false, 1, true, "[1,64,28,28] + same");
}

/* same shapes: 16 elements per thread where the size is a multiple of 16, else the strided
 * kernel */
static void test_qadd_vec(tq_rng *rng)
{
    const int64_t big[4] = {2, 64, 56, 56}, odd[4] = {1, 3, 7, 5}, s16[4] = {1, 1, 4, 4};
    const int64_t flat[1] = {4112};
    qadd_case_impl(rng, 4, big, 4, big, false, 0, false, "[2,64,56,56] + same", "cuda:qadd_v16");
    qadd_case_impl(rng, 4, big, 4, big, false, 1, true, "[2,64,56,56] + same", "cuda:qadd_v16");
    qadd_case_impl(rng, 4, big, 4, big, false, 2, false, "[2,64,56,56] + same", "cuda:qadd_v16");
    qadd_case_impl(rng, 4, s16, 4, s16, false, 0, false, "[1,1,4,4] + same", "cuda:qadd_v16");
    qadd_case_impl(rng, 1, flat, 1, flat, false, 0, true, "[4112] + same", "cuda:qadd_v16");
    qadd_case_impl(rng, 4, odd, 4, odd, false, 0, false, "[1,3,7,5] + same", "cuda:qadd");
    qadd_case_impl(rng, 4, odd, 4, odd, false, 1, true, "[1,3,7,5] + same", "cuda:qadd");
}

int main(int argc, char **argv)
{
    char why[256];
    int n_dev = 0;
    if (tq_cuda_dev_probe(&n_dev, why, sizeof(why)) != TFMQ_OK) {
        printf("test_cuda_qconv: SKIP: %s\n", why);
        return 77;
    }
    if (tq_cuda_dev_open(0, &g_dev) != TFMQ_OK) {
        printf("test_cuda_qconv: SKIP: %s\n", tfmq_last_error());
        return 77;
    }
    printf("test_cuda_qconv: %s (sm_%d)\n", g_dev.name, g_dev.sm);
    tq_test_begin(argc, argv);
    TQ_RUN(test_qconv);
    TQ_RUN(test_qconv_variants);
    TQ_RUN(test_qconv_tiled);
    TQ_RUN(test_qgemm);
    TQ_RUN(test_qadd);
    TQ_RUN(test_qadd_vec);
    printf("%d GPU runs, %zu of %zu elements differ from the reference\n", g_n_cases, g_n_diff,
           g_n_elems);
    tq_cuda_dev_close(&g_dev);
    return tq_test_end();
}
