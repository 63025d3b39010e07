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
 * Clip, int8 and uint8 with zero points. The tiled kernel for few input channels, in its
 * tensor-core variant where it applies ("cuda:qconv_stem_mma") and with that variant off
 * ("cuda:qconv_stem_tiled"): the full ResNet-50 stem at batch 2, C = 1..4, K not a multiple of 8
 * or 16, two k tiles, 11x11 with more than 48 KB of shared memory, dilation, odd image sizes
 * and QAdd's 16-byte path in each of its arithmetics ("cuda:qadd_v16_f32", "_f32_checked" and
 * the definition's "cuda:qadd_v16"; an odd size must stay on "cuda:qadd") must be the ones
 * taken. Depthwise convolutions for the depthwise kernel of qconv_direct.cu and its edges (3x3 / 5x5, strides 1, 2, 2x1, 1x2, odd sizes, pads 0 / 1 / asymmetric / beyond
 * the input, C = 4 .. 144, C not a multiple of 4 and 7x7 on the generic kernel, int8 and uint8
 * with zero points, with and without bias, Relu and Clip), and tq_qk_conv_direct() itself at
 * placements of x, w and y that select each vector width or the generic kernel
 * (tq_qk_conv_dw_bytes()), which must agree bit for bit with each other and with a host
 * computation. The pointwise tensor-core kernel (qconv_pw.cu, cuDNN off so that it is the one
 * compared): ResNet 1x1 shapes with 64- and 128-channel blocks, pixel counts below, above and
 * not a multiple of its tile (blocks that walk several tiles), stride 2, 32 k steps, and
 * shapes it must leave to the general kernel; then with the QAdd that reads its output fused
 * (tq_cuda_prep.add, forced by TFMQ_CUDA_QCONV_FUSE_ADD=1) at either input, a uint8 residual
 * with a zero point, each QAdd arithmetic (the checked form's scales found by search), against
 * the reference QConv followed by the reference QAdd, bit for bit.
 * Also: a run allocates nothing through tfmq's allocator, and destroy
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
#include "backends/cuda/qconv.h"
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
    /* a QConv case whose output the QAdd case `fuse` reads at input fuse_slot (0 or 3): offered
     * to the kernel for fusion (tq_cuda_prep.add), which must take it; the reference is the
     * QConv then the QAdd, the residual the QAdd's other operand */
    struct tcase *fuse;
    int32_t fuse_slot;
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
    void *dev_in[TQ_MAX_IO] = {NULL}, *dev_y = NULL, *ws = NULL;
    tcase *fc = tc->fuse;
    tq_tensor fin[MAX_IN], fout = *yshape;
    tq_node fnode;
    tq_op_ctx fctx;
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
    if (fc) {
        fout.data = NULL;
        for (int32_t i = 0; i < fc->n_in; i++) {
            fin[i] = fc->in[i];
            if (!fc->is_const[i]) {
                fin[i].data = NULL;
            }
        }
        tc_ctx(fc, &fnode, &fctx, fin, &fout);
        prep.add = &fctx;
        prep.add_conv_slot = tc->fuse_slot;
    }
    long long live0 = atomic_load(&g_counter.n_live);
    st = tq_cuda_prepare_qconv(&prep, &k);
    if (st != TFMQ_OK || !k) {
        return st;
    }
    r->taken = !fc || k->fused_add;
    if (!r->taken) {
        k->destroy(k);
        return TFMQ_OK;
    }
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
    if (fc) { /* the residual, NHWC */
        const tq_tensor *t = &fc->in[tc->fuse_slot == 0 ? 3 : 0];
        const size_t nb = tq_tensor_numel(t);
        free(tmp);
        tmp = malloc(nb ? nb : 1);
        b_nchw_to_nhwc(t->data, tmp, t->dims);
        void **d = &dev_in[TQ_CUDA_ADD_RESIDUAL];
        cudaError_t e = cudaMalloc(d, nb ? nb : 1);
        if (e == cudaSuccess) {
            e = cudaMemcpy(*d, tmp, nb, cudaMemcpyHostToDevice);
        }
        CUDA_TRY(e, "upload residual");
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
    for (int32_t i = 0; i < TQ_MAX_IO; i++) {
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
    if (st == TFMQ_OK && tc->fuse) { /* the QAdd on the reference QConv's output */
        tq_tensor *a = &tc->fuse->in[tc->fuse_slot];
        free(a->data);
        *a = ref;
        st = run_ref(tc->fuse, &ref);
    }
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
    TQ_EXPECT(r.taken || st != TFMQ_OK, "%s [%s]: the qconv family did not take the node%s",
              label, nhwc ? "nhwc" : "nchw", tc->fuse ? " with its QAdd" : "");
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

/* The QAdd reading a QConv's output [n, m, oh, ow] (int8, scale ys) at input `slot` (0 or 3)
 * and a random residual (int8, or uint8 with a zero point where res_u8), activation add_act. */
/* The QAdd's form wanted of qadd_fuse_build: 0 any (residual and output scales 0.8 and 1.3
 * times the conv's), 1 the checked float form, 2 the exact float form (scales searched; Relu,
 * int8 residual) */
static int g_fuse_form;

/* Residual and output scales for conv scale ys whose QAdd plans to form `want` (g_fuse_form). */
static bool qadd_fuse_scales(tq_rng *rng, float ys, int want, float *rs, float *os)
{
    for (int tries = 0; tries < 1000; tries++) {
        *rs = ys * tq_rng_uniform(rng, 0.05f, 3.0f);
        *os = ys * tq_rng_uniform(rng, 0.05f, 3.0f);
        tq_ql_add_form q;
        memset(&q, 0, sizeof(q));
        q.a_s8 = q.b_s8 = q.y_s8 = true;
        q.lo = 0;
        q.hi = 127;
        q.a_scale = (double)ys;
        q.b_scale = (double)*rs;
        q.y_scale = (double)*os;
        tq_ql_add_form_plan(&q);
        if ((want == 1 && !q.use_f && q.use_fh) || (want == 2 && q.use_f)) {
            return true;
        }
    }
    return false;
}

static void qadd_fuse_build(tcase *ac, tq_rng *rng, const int64_t *yd, float ys, int32_t slot,
                            bool res_u8, int add_act)
{
    const int32_t rs = slot == 0 ? 3 : 0;
    const tfmq_dtype rdt = res_u8 ? TFMQ_DTYPE_UINT8 : TFMQ_DTYPE_INT8;
    tc_init(ac, TQ_OP_QADD, 8);
    (void)tc_in(ac, slot, TFMQ_DTYPE_INT8, 4, yd, false);
    uint8_t *r = tc_in(ac, rs, rdt, 4, yd, false);
    for (size_t i = 0; i < tq_tensor_numel(&ac->in[rs]); i++) {
        r[i] = (uint8_t)tq_rng_below(rng, 256);
    }
    *(float *)tc_in(ac, slot + 1, TFMQ_DTYPE_FLOAT32, 0, NULL, true) = ys;
    *(uint8_t *)tc_in(ac, slot + 2, TFMQ_DTYPE_INT8, 0, NULL, true) = 0;
    float r_scale = 0.8f * ys, y_scale = 1.3f * ys;
    if (g_fuse_form) {
        TQ_EXPECT(!res_u8 && add_act == 1, "qadd_fuse_build: the search assumes Relu, int8");
        TQ_EXPECT(qadd_fuse_scales(rng, ys, g_fuse_form, &r_scale, &y_scale),
                  "no QAdd scales of form %d found", g_fuse_form);
    }
    *(float *)tc_in(ac, rs + 1, TFMQ_DTYPE_FLOAT32, 0, NULL, true) = r_scale;
    *(uint8_t *)tc_in(ac, rs + 2, rdt, 0, NULL, true) = res_u8 ? 117 : 0;
    *(float *)tc_in(ac, 6, TFMQ_DTYPE_FLOAT32, 0, NULL, true) = y_scale;
    *(uint8_t *)tc_in(ac, 7, TFMQ_DTYPE_INT8, 0, NULL, true) = 0;
    tc_act(ac, add_act);
}

/* x int8 (symmetric) or uint8 with zero point; weights int8 per channel; bias int32. With
 * fuse_slot 0 or 3 the QAdd of qadd_fuse_build (activation add_act, the residual uint8 where
 * asym) reads the output and is offered for fusion; -1: the QConv alone. */
/* Multipliers (x_scale w_scale / y_scale) qconv_case_fused sets for the pointwise kernel's
 * requantisation paths: 1 channel 0's 0.6, outside the integer forms' range (int_form: below
 * 2^-1), so that the block holding it takes the float path; 2 every channel's exactly 2^-12,
 * whose products can be ties (one sum in 4096 is one), so that the kernel takes the
 * high-word form with its tie test (requant_hi_tie); 3 those, but channel 0's 0.3, outside the
 * high-word form's range (int_hi_form: below 2^-2), so that the blocks use the integer form
 * with its parity step, ties included. */
static int g_mult_mode;

/* A weight scale giving the multiplier m exactly (tq_ql_multiplier) for scales xs, ys. */
static float w_scale_for(float xs, float ys, float m)
{
    float w = (float)((double)m * (double)ys / (double)xs);
    for (int i = 0; i < 64 && tq_ql_multiplier(xs, w, ys) != m; i++) {
        w = nextafterf(w, tq_ql_multiplier(xs, w, ys) < m ? INFINITY : 0.0f);
    }
    return w;
}

static void qconv_case_fused(tq_rng *rng, const conv_spec *s, int act, bool asym,
                             bool with_bias, const char *want_impl, int32_t fuse_slot,
                             int add_act)
{
    tcase tc;
    tc_init(&tc, TQ_OP_QCONV, with_bias ? 9 : 8);
    const int64_t cg = s->c / s->group;
    const int64_t xd[4] = {s->n, s->c, s->h, s->w}, wd[4] = {s->m, cg, s->r, s->s};
    const int64_t md[1] = {s->m};
    const bool xasym = asym && fuse_slot < 0; /* fused: asym is the residual's */
    const tfmq_dtype xdt = xasym ? TFMQ_DTYPE_UINT8 : TFMQ_DTYPE_INT8;
    const int32_t xz = xasym ? 120 : 0, yz = xasym ? 100 : 0;
    uint8_t *x = tc_in(&tc, TQ_QL_X, xdt, 4, xd, false);
    const size_t nx = tq_tensor_numel(&tc.in[TQ_QL_X]);
    for (size_t i = 0; i < nx; i++) {
        x[i] = (uint8_t)(int8_t)(int32_t)tq_rng_below(rng, 256); /* any byte */
        if (!xasym && act && tq_rng_below(rng, 2)) {
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
        wz[c] = xasym ? (int8_t)((int32_t)tq_rng_below(rng, 9) - 4) : 0;
    }
    /* acc std ~ 74 * 73 * sqrt(CRS): put it near 40 output units */
    const double acc_sd = 74.0 * 73.0 * sqrt((double)(cg * s->r * s->s));
    const float ys = (float)((double)xs * 0.01 * acc_sd / 40.0);
    *(float *)tc_in(&tc, TQ_QL_Y_SCALE, TFMQ_DTYPE_FLOAT32, 0, NULL, true) = ys;
    for (int64_t c = 0; g_mult_mode >= 2 && c < s->m; c++) {
        ws[c] = w_scale_for(xs, ys, 0x1p-12f);
        TQ_EXPECT(tq_ql_multiplier(xs, ws[c], ys) == 0x1p-12f, "multiplier 2^-12 not made");
    }
    if (g_mult_mode == 1 || g_mult_mode == 3) {
        ws[0] = (g_mult_mode == 1 ? 0.6f : 0.3f) * ys / xs;
    }
    *(uint8_t *)tc_in(&tc, TQ_QL_Y_ZP, xasym ? TFMQ_DTYPE_UINT8 : TFMQ_DTYPE_INT8, 0, NULL,
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
    tcase ac;
    if (fuse_slot >= 0) {
        const int64_t oh = (s->h + 2 * s->pad - s->dil * (s->r - 1) - 1) / s->stride + 1;
        const int64_t ow = (s->w + 2 * s->pad - s->dil * (s->s - 1) - 1) / s->stride + 1;
        const int64_t yd[4] = {s->n, s->m, oh, ow};
        qadd_fuse_build(&ac, rng, yd, ys, fuse_slot, asym, add_act);
        tc.fuse = &ac;
        tc.fuse_slot = fuse_slot;
        snprintf(label, sizeof(label), "qconv %s%s%s + qadd@%d%s%s", s->name, acts[act],
                 with_bias ? "" : " nobias", (int)fuse_slot, acts[add_act],
                 asym ? " res u8/zp" : "");
    } else {
        snprintf(label, sizeof(label), "qconv %s%s%s%s", s->name, acts[act],
                 asym ? " u8/zp" : "", with_bias ? "" : " nobias");
    }
    check_case(&tc, label, true, want_impl);
    tc_free(&tc);
    if (fuse_slot >= 0) {
        tc_free(&ac);
    }
}

static void qconv_case_impl(tq_rng *rng, const conv_spec *s, int act, bool asym, bool with_bias,
                            const char *want_impl)
{
    qconv_case_fused(rng, s, act, asym, with_bias, want_impl, -1, 0);
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
    {"7x7 s2 C3 K60 p3 45x38 b2 (byte stores)", 2, 3, 45, 38, 60, 7, 7, 2, 3, 1, 1},
};

/* The kernel qconv_direct.cu takes for a stem-like case: the tensor-core variant on sm_80 and
 * later when the k tile (K rounded up to 8, one tile up to 128) is a multiple of 32, unless
 * TFMQ_CUDA_QCONV_STEM_MMA=0; else the dp4a one. */
static const char *tiled_impl(const conv_spec *s, bool mma_on)
{
    const int64_t k8 = (s->m + 7) / 8 * 8;
    return mma_on && g_dev.sm >= 80 && k8 <= 128 && k8 % 32 == 0 ? "cuda:qconv_stem_mma"
                                                                  : "cuda:qconv_stem_tiled";
}

static void test_qconv_tiled(tq_rng *rng)
{
    static const int acts[] = {1, 0, 2, 1, 0, 2, 1, 0, 1};
    const size_t n = sizeof(tiled_specs) / sizeof(tiled_specs[0]);
    for (int pass = 0; pass < 2; pass++) {
        const bool mma_on = pass == 0;
        if (!mma_on) {
            setenv("TFMQ_CUDA_QCONV_STEM_MMA", "0", 1);
        }
        for (size_t i = 0; i < n; i++) {
            qconv_case_impl(rng, &tiled_specs[i], acts[i], false, true,
                            tiled_impl(&tiled_specs[i], mma_on));
        }
        qconv_case_impl(rng, &tiled_specs[2], 0, false, false,
                        tiled_impl(&tiled_specs[2], mma_on)); /* no bias */
        qconv_case_impl(rng, &tiled_specs[0], 0, false, false,
                        tiled_impl(&tiled_specs[0], mma_on)); /* the stem without bias */
        qconv_case_impl(rng, &conv_specs[6], 1, false, true,
                        tiled_impl(&conv_specs[6], mma_on)); /* the 56x56 stem */
        qconv_case_impl(rng, &conv_specs[7], 2, false, true,
                        tiled_impl(&conv_specs[7], mma_on)); /* mbv2 stem, stride 2 */
        unsetenv("TFMQ_CUDA_QCONV_STEM_MMA");
    }
}

/* ---- the pointwise tensor-core kernel (qconv_pw.cu) ----
 * 1x1 convolutions with int8 x, zero points 0, C and K multiples of 64, on sm_80 and later:
 * 128- and 64-channel blocks (K % 128), pixel counts not a multiple of the 128-pixel tile and
 * below it, stride 2 with odd sizes, one to 32 stages of the reduction; with cuDNN's plans off
 * (TFMQ_CUDA_QCONV_DIRECT) so that the kernel itself is compared. Then the QAdd that reads
 * the output fused into it (at either input, with Relu, a uint8 residual with a zero point)
 * against the reference QConv followed by the reference QAdd, bit for bit. */
static const conv_spec pw_specs[] = {
    {"1x1 C64 K256 56x56 b2", 2, 64, 56, 56, 256, 1, 1, 1, 0, 1, 1},
    {"1x1 C256 K64 28x28 b3 (64-channel blocks)", 3, 256, 28, 28, 64, 1, 1, 1, 0, 1, 1},
    {"1x1 s2 C256 K512 14x14 (49 pixels)", 1, 256, 14, 14, 512, 1, 1, 2, 0, 1, 1},
    {"1x1 C512 K2048 7x7 b3", 3, 512, 7, 7, 2048, 1, 1, 1, 0, 1, 1},
    {"1x1 C2048 K512 7x7 (32 k stages)", 1, 2048, 7, 7, 512, 1, 1, 1, 0, 1, 1},
    {"1x1 C128 K192 9x13 (3 blocks of 64)", 1, 128, 9, 13, 192, 1, 1, 1, 0, 1, 1},
    {"1x1 s2 C64 K128 15x15 b2 (odd, strided)", 2, 64, 15, 15, 128, 1, 1, 2, 0, 1, 1},
    {"1x1 C64 K256 56x56 b5 (blocks take several tiles)", 5, 64, 56, 56, 256, 1, 1, 1, 0, 1, 1},
    {"1x1 C128 K64 57x57 b8 (several tiles, the last partial)", 8, 128, 57, 57, 64,
     1, 1, 1, 0, 1, 1},
};

static const char *pw_impl(void)
{
    return g_dev.sm >= 80 ? "cuda:qconv_pw" : "cuda:qconv_direct";
}

static void test_qconv_pw(tq_rng *rng)
{
    static const conv_spec padded = {"1x1 p1 C64 K64 8x8 (padding)", 1, 64, 8, 8, 64,
                                     1, 1, 1, 1, 1, 1};
    static const conv_spec c96 = {"1x1 C96 K64 8x8 (C % 64)", 1, 96, 8, 8, 64, 1, 1, 1, 0, 1, 1};
    const size_t n = sizeof(pw_specs) / sizeof(pw_specs[0]);
    setenv("TFMQ_CUDA_QCONV_DIRECT", "1", 1);
    for (size_t i = 0; i < n; i++) {
        qconv_case_impl(rng, &pw_specs[i], (int)(i % 3), false, i != 4, pw_impl());
    }
    /* the requantisation's other paths (g_mult_mode): a block on the float path; the
     * high-word form with ties; the integer form with ties */
    for (g_mult_mode = 1; g_mult_mode <= 3; g_mult_mode++) {
        qconv_case_impl(rng, &pw_specs[5], 0, false, true, pw_impl());
        qconv_case_impl(rng, &pw_specs[1], 1, false, true, pw_impl());
    }
    g_mult_mode = 0;
    /* shapes and types it does not take */
    qconv_case_impl(rng, &padded, 1, false, true, "cuda:qconv_direct");
    qconv_case_impl(rng, &c96, 0, false, true, "cuda:qconv_direct");
    qconv_case_impl(rng, &pw_specs[0], 1, true, true, "cuda:qconv_direct_zp");
    setenv("TFMQ_CUDA_QCONV_PW", "0", 1);
    qconv_case_impl(rng, &pw_specs[1], 1, false, true, "cuda:qconv_direct");
    unsetenv("TFMQ_CUDA_QCONV_PW");
    unsetenv("TFMQ_CUDA_QCONV_DIRECT");
}

static void test_qconv_pw_add(tq_rng *rng)
{
    if (g_dev.sm < 80) {
        printf("  (no fused cases: the pointwise kernel needs sm_80, this GPU is sm_%d)\n",
               g_dev.sm);
        return;
    }
    const size_t n = sizeof(pw_specs) / sizeof(pw_specs[0]);
    setenv("TFMQ_CUDA_QCONV_FUSE_ADD", "1", 1); /* fused whatever the timing says */
    for (size_t i = 0; i < n; i++) {
        /* conv activation none (ResNet's expand layers) or Relu; QAdd Relu, none or Clip */
        qconv_case_fused(rng, &pw_specs[i], (int)(i % 2), i == 2, i != 4, NULL,
                         i % 2 ? 3 : 0, (int)((i + 1) % 3));
    }
    /* the QAdd's integer form (tq_ql_add_form.use_i), at either input, residual int8 and
     * uint8 with a zero point; a block whose requantisation takes the float path */
    qconv_case_fused(rng, &pw_specs[0], 0, false, true, "cuda:qconv_pw+qadd_int", 0, 1);
    qconv_case_fused(rng, &pw_specs[7], 1, true, true, "cuda:qconv_pw+qadd_int", 3, 1);
    for (g_mult_mode = 1; g_mult_mode <= 3; g_mult_mode++) {
        qconv_case_fused(rng, &pw_specs[1], 0, false, true, "cuda:qconv_pw+qadd_int", 0, 1);
    }
    g_mult_mode = 0;
    /* its float forms with the integer one off: scales whose QAdd takes the checked float
     * form, found by qadd_fuse_build's search, and the plain float form */
    setenv("TFMQ_CUDA_QADD_INT", "0", 1);
    g_fuse_form = 2;
    qconv_case_fused(rng, &pw_specs[6], 1, false, true, "cuda:qconv_pw+qadd_f32", 3, 1);
    g_fuse_form = 1;
    qconv_case_fused(rng, &pw_specs[0], 0, false, true, "cuda:qconv_pw+qadd_f32_checked", 0, 1);
    qconv_case_fused(rng, &pw_specs[3], 0, false, true, "cuda:qconv_pw+qadd_f32_checked", 3, 1);
    g_fuse_form = 0;
    unsetenv("TFMQ_CUDA_QADD_INT");
    setenv("TFMQ_CUDA_QADD_F64", "1", 1); /* the definition's arithmetic in the epilogue */
    qconv_case_fused(rng, &pw_specs[0], 0, false, true, "cuda:qconv_pw+qadd", 0, 1);
    unsetenv("TFMQ_CUDA_QADD_F64");
    unsetenv("TFMQ_CUDA_QCONV_FUSE_ADD");
}

/* ---- depthwise convolutions: the depthwise kernel of qconv_direct.cu ----
 * Node level (against the reference, through the qconv family): 3x3 and 5x5, stride 1 and 2
 * (also 2x1 and 1x2), odd sizes, pads 0 / 1 / asymmetric / beyond the input, batch 1 and 3,
 * channel counts 4 .. 144 that take its 8- or 4-channel vectors, and counts that are not a
 * multiple of 4 or a 7x7 kernel, which keep the generic kernel; int8 x with zero points 0
 * ("cuda:qconv_depthwise"), uint8 x and int8 x with zero points ("cuda:qconv_depthwise_zp");
 * with and without bias; activation none / Relu / Clip [0, 6]. */
typedef struct qdw_spec {
    const char *name;
    int64_t n, c, h, w, r, sh, sw, pt, pl, pb, pr;
} qdw_spec;

static const qdw_spec qdw_specs[] = {
    /* name                                   n  c    h   w  r sh sw pt pl pb pr */
    {"dw 3x3 C4 p1 9x7", 1, 4, 9, 7, 3, 1, 1, 1, 1, 1, 1},
    {"dw 3x3 s2 C8 p1 11x13 b3", 3, 8, 11, 13, 3, 2, 2, 1, 1, 1, 1},
    {"dw 3x3 C16 p0 10x9", 1, 16, 10, 9, 3, 1, 1, 0, 0, 0, 0},
    {"dw 3x3 s2 C24 pads 0,0,1,1 14x14", 1, 24, 14, 14, 3, 2, 2, 0, 0, 1, 1},
    {"dw 3x3 C32 p1 28x28 b3", 3, 32, 28, 28, 3, 1, 1, 1, 1, 1, 1},
    {"dw 3x3 s2 C96 p1 15x15", 1, 96, 15, 15, 3, 2, 2, 1, 1, 1, 1},
    {"dw 3x3 C144 p1 7x7 b3", 3, 144, 7, 7, 3, 1, 1, 1, 1, 1, 1},
    {"dw 3x3 s2 C144 pads 2,0,1,2 9x10", 1, 144, 9, 10, 3, 2, 2, 2, 0, 1, 2},
    {"dw 3x3 s2x1 C12 pads 1,0,1,2 13x11", 1, 12, 13, 11, 3, 2, 1, 1, 0, 1, 2},
    {"dw 3x3 s1x2 C20 p1 1x9 b3", 3, 20, 1, 9, 3, 1, 2, 1, 1, 1, 1},
    {"dw 3x3 C8 pads 3,0,0,3 (beyond the input) 4x5", 1, 8, 4, 5, 3, 1, 1, 3, 0, 0, 3},
    {"dw 5x5 C16 p2 13x13 b3", 3, 16, 13, 13, 5, 1, 1, 2, 2, 2, 2},
    {"dw 5x5 s2 C40 p2 14x15", 1, 40, 14, 15, 5, 2, 2, 2, 2, 2, 2},
    {"dw 3x3 C6 p1 9x9 (generic: C % 4)", 1, 6, 9, 9, 3, 1, 1, 1, 1, 1, 1},
    {"dw 3x3 s2 C18 p1 9x8 b3 (generic: C % 4)", 3, 18, 9, 8, 3, 2, 2, 1, 1, 1, 1},
    {"dw 7x7 C16 p3 9x9 (generic: 7x7)", 1, 16, 9, 9, 7, 1, 1, 3, 3, 3, 3},
};

/* xmode 0: int8 x, zero points 0; 1: uint8 x and y, zero points; 2: int8 x and y, zero points */
static void qdw_case(tq_rng *rng, const qdw_spec *s, int act, int xmode, bool with_bias)
{
    tcase tc;
    tc_init(&tc, TQ_OP_QCONV, with_bias ? 9 : 8);
    const int64_t xd[4] = {s->n, s->c, s->h, s->w}, wd[4] = {s->c, 1, s->r, s->r};
    const int64_t md[1] = {s->c};
    const tfmq_dtype xdt = xmode == 1 ? TFMQ_DTYPE_UINT8 : TFMQ_DTYPE_INT8;
    const int32_t xz = xmode == 1 ? 120 : (xmode == 2 ? -7 : 0);
    const int32_t yz = xmode == 1 ? 100 : (xmode == 2 ? -3 : 0);
    uint8_t *x = tc_in(&tc, TQ_QL_X, xdt, 4, xd, false);
    const size_t nx = tq_tensor_numel(&tc.in[TQ_QL_X]);
    for (size_t i = 0; i < nx; i++) {
        x[i] = (uint8_t)tq_rng_below(rng, 256); /* any byte, -128 included */
    }
    const float xs = 0.02f;
    *(float *)tc_in(&tc, TQ_QL_X_SCALE, TFMQ_DTYPE_FLOAT32, 0, NULL, true) = xs;
    *(uint8_t *)tc_in(&tc, TQ_QL_X_ZP, xdt, 0, NULL, true) = (uint8_t)(int8_t)xz;
    int8_t *w = tc_in(&tc, TQ_QL_W, TFMQ_DTYPE_INT8, 4, wd, true);
    const size_t nw = tq_tensor_numel(&tc.in[TQ_QL_W]);
    for (size_t i = 0; i < nw; i++) {
        w[i] = (int8_t)((int32_t)tq_rng_below(rng, 256) - 128);
    }
    float *ws = tc_in(&tc, TQ_QL_W_SCALE, TFMQ_DTYPE_FLOAT32, 1, md, true);
    int8_t *wz = tc_in(&tc, TQ_QL_W_ZP, TFMQ_DTYPE_INT8, 1, md, true);
    for (int64_t c = 0; c < s->c; c++) {
        ws[c] = 0.01f * tq_rng_uniform(rng, 0.5f, 1.5f);
        wz[c] = xmode ? (int8_t)((int32_t)tq_rng_below(rng, 9) - 4) : 0;
    }
    if (xmode) {
        wz[0] = 3; /* a non-zero weight zero point whatever the draw */
    }
    const double acc_sd = 74.0 * 73.0 * (double)s->r;
    const float ys = (float)((double)xs * 0.01 * acc_sd / 40.0);
    *(float *)tc_in(&tc, TQ_QL_Y_SCALE, TFMQ_DTYPE_FLOAT32, 0, NULL, true) = ys;
    *(uint8_t *)tc_in(&tc, TQ_QL_Y_ZP, xmode == 1 ? TFMQ_DTYPE_UINT8 : TFMQ_DTYPE_INT8, 0, NULL,
                      true) = (uint8_t)(int8_t)yz;
    if (with_bias) {
        int32_t *b = tc_in(&tc, TQ_QL_BIAS, TFMQ_DTYPE_INT32, 1, md, true);
        for (int64_t c = 0; c < s->c; c++) {
            b[c] = (int32_t)tq_rng_uniform(rng, (float)-acc_sd, (float)acc_sd);
        }
    }
    const int64_t st2[2] = {s->sh, s->sw}, pads[4] = {s->pt, s->pl, s->pb, s->pr};
    const int64_t dil[2] = {1, 1}, ks[2] = {s->r, s->r};
    tc_attr_ints(&tc, "strides", st2, 2);
    tc_attr_ints(&tc, "pads", pads, 4);
    tc_attr_ints(&tc, "dilations", dil, 2);
    tc_attr_ints(&tc, "kernel_shape", ks, 2);
    tc_attr_int(&tc, "group", s->c);
    tc_act(&tc, act);
    char label[256];
    static const char *acts[3] = {"", " +Relu", " +Clip"}, *modes[3] = {"", " u8/zp", " s8/zp"};
    snprintf(label, sizeof(label), "qconv %s%s%s%s", s->name, acts[act], modes[xmode],
             with_bias ? "" : " nobias");
    check_case(&tc, label, true, xmode ? "cuda:qconv_depthwise_zp" : "cuda:qconv_depthwise");
    tc_free(&tc);
}

/* each spec: int8 with bias, then a zero-point variant (alternately uint8 and int8), with and
 * without bias, with the activations rotating */
static void test_qconv_depthwise(tq_rng *rng)
{
    const size_t n = sizeof(qdw_specs) / sizeof(qdw_specs[0]);
    for (size_t i = 0; i < n; i++) {
        qdw_case(rng, &qdw_specs[i], (int)(i % 3), 0, true);
        qdw_case(rng, &qdw_specs[i], (int)((i + 1) % 3), 1 + (int)(i % 2), i % 2 == 0);
    }
    qdw_case(rng, &qdw_specs[4], 2, 0, false); /* int8 without bias */
    qdw_case(rng, &qdw_specs[5], 1, 2, true);
    fflush(stdout);
}

/* ---- the depthwise kernel's vector widths and fallbacks ----
 * tq_qk_conv_direct() itself, with x, the weights and y placed 0, 1, 2, 4 or 8 bytes after
 * 256-byte aligned addresses: the depthwise kernel takes the widest vector (8 or 4 channels)
 * that c and every placement allow, and the generic kernel runs where none does; which one runs
 * is checked with tq_qk_conv_dw_bytes(). Every placement must give the same bits (the fast
 * kernels against the generic one), equal to a host computation with the reference's
 * requantisation (tq_ql_requant), and leave the bytes around y untouched. The requantisation
 * is pushed to its edges: power-of-two multipliers (ties rounded half to even), a bias that
 * saturates the int32 sum, clamp bounds. */
typedef struct qdw_direct_spec {
    int64_t n, c, h, w, r, sh, sw, pt, pl, pb, pr;
    int xmode; /* as qdw_case */
    bool bias;
    bool relu6; /* clamp bounds [y_zp, y_zp + 60] (else the type's range) */
    const char *name;
} qdw_direct_spec;

static const qdw_direct_spec qdw_direct_specs[] = {
    /* n  c   h   w  r sh sw pt pl pb pr */
    {2, 24, 9, 10, 3, 1, 1, 1, 1, 1, 1, 0, true, true, "3x3 s1 24ch +bias +Relu6"},
    {1, 16, 11, 9, 3, 2, 2, 1, 1, 1, 1, 1, true, false, "3x3 s2 16ch u8/zp +bias"},
    {1, 12, 8, 7, 3, 1, 1, 0, 0, 0, 0, 2, false, false, "3x3 s1 pad 0 12ch s8/zp"},
    {3, 32, 7, 13, 3, 2, 2, 2, 0, 1, 2, 0, true, false, "3x3 s2 32ch pads 2,0,1,2 b3"},
    {1, 144, 5, 6, 3, 1, 1, 1, 1, 1, 1, 2, true, true, "3x3 s1 144ch s8/zp +Relu6"},
    {1, 16, 12, 13, 5, 2, 2, 2, 2, 2, 2, 0, true, true, "5x5 s2 16ch +bias +Relu6"},
    {3, 8, 6, 9, 5, 1, 1, 2, 2, 2, 2, 1, false, true, "5x5 s1 8ch u8/zp +Relu6"},
    {1, 6, 7, 7, 3, 1, 1, 1, 1, 1, 1, 0, true, false, "3x3 6ch (generic)"},
};

/* the vector width tq_qk_conv_direct must pick for the spec at these placements */
static int qdw_expect_bytes(const qdw_direct_spec *sp, size_t ox, size_t ow_, size_t oy)
{
    if ((sp->r != 3 && sp->r != 5) || (sp->sw != 1 && sp->sw != 2)) {
        return 0;
    }
    for (int nb = sp->r == 3 ? 8 : 4; nb >= 4; nb /= 2) {
        if (sp->c % nb == 0 && ox % (size_t)nb == 0 && ow_ % (size_t)nb == 0 &&
            oy % (size_t)nb == 0) {
            return nb;
        }
    }
    return 0;
}

static void qdw_direct_case(tq_rng *rng, const qdw_direct_spec *sp)
{
    /* placements (bytes after a 256-byte aligned address) of x, w and y */
    static const size_t place[][3] = {{0, 0, 0}, {4, 0, 0}, {0, 4, 0}, {0, 0, 4}, {8, 8, 8},
                                      {1, 0, 0}, {0, 1, 0}, {0, 0, 2}};
    enum { N_PLACE = sizeof(place) / sizeof(place[0]), SLACK = 16 };
    const int64_t oh = (sp->h + sp->pt + sp->pb - sp->r) / sp->sh + 1;
    const int64_t ow = (sp->w + sp->pl + sp->pr - sp->r) / sp->sw + 1;
    const int64_t c = sp->c, rr = sp->r * sp->r;
    const size_t nx = (size_t)(sp->n * sp->h * sp->w * c), nw = (size_t)(c * rr);
    const size_t ny = (size_t)(sp->n * oh * ow * c);
    const bool x_signed = sp->xmode != 1, y_signed = sp->xmode != 1;
    const int32_t x_zp = sp->xmode == 1 ? 120 : (sp->xmode == 2 ? -7 : 0);
    const int32_t y_zp = sp->xmode == 1 ? 100 : (sp->xmode == 2 ? -3 : 0);
    const int32_t t_lo = y_signed ? -128 : 0, t_hi = y_signed ? 127 : 255;
    const int32_t lo = sp->relu6 ? y_zp : t_lo;
    const int32_t hi = sp->relu6 ? (y_zp + 60 < t_hi ? y_zp + 60 : t_hi) : t_hi;
    uint8_t *hx = malloc(nx), *ref = malloc(ny), *hy = malloc(ny + SLACK);
    uint8_t *y0 = malloc(ny);
    int8_t *hw = malloc(nw);
    float *hm = malloc((size_t)c * sizeof(float));
    int32_t *hb = malloc((size_t)c * sizeof(int32_t)), *hz = malloc((size_t)c * sizeof(int32_t));
    void *dx = NULL, *dw = NULL, *dy = NULL, *dm = NULL, *db = NULL, *dz = NULL;
    tfmq_status st = TFMQ_OK;
    for (size_t i = 0; i < nx; i++) {
        hx[i] = (uint8_t)tq_rng_below(rng, 256);
    }
    for (size_t i = 0; i < nw; i++) {
        hw[i] = (int8_t)((int32_t)tq_rng_below(rng, 256) - 128);
    }
    const double acc_sd = 74.0 * 73.0 * (double)sp->r;
    for (int64_t k = 0; k < c; k++) {
        /* every 4th channel a power of two (ties), the others ~40 units per acc_sd */
        hm[k] = k % 4 == 1 ? ldexpf(1.0f, -(int)(6 + tq_rng_below(rng, 6)))
                           : (float)(40.0 / acc_sd) * tq_rng_uniform(rng, 0.5f, 1.5f);
        hb[k] = sp->bias ? (int32_t)tq_rng_uniform(rng, (float)-acc_sd, (float)acc_sd) : 0;
        hz[k] = sp->xmode ? (int32_t)tq_rng_below(rng, 9) - 4 : 0;
    }
    if (sp->bias) {
        hb[0] = INT32_MAX - 1000; /* the int32 sum saturates */
        hb[c - 1] = INT32_MIN + 1000;
    }
    /* host: the exact sum over the taps inside the input, the reference's requantisation */
    for (int64_t nb = 0; nb < sp->n; nb++) {
        for (int64_t oy = 0; oy < oh; oy++) {
            for (int64_t ox = 0; ox < ow; ox++) {
                for (int64_t k = 0; k < c; k++) {
                    int64_t acc = hb[k];
                    for (int64_t r = 0; r < sp->r; r++) {
                        const int64_t iy = oy * sp->sh - sp->pt + r;
                        for (int64_t s = 0; s < sp->r && iy >= 0 && iy < sp->h; s++) {
                            const int64_t ix = ox * sp->sw - sp->pl + s;
                            if (ix < 0 || ix >= sp->w) {
                                continue;
                            }
                            const uint8_t xb = hx[((nb * sp->h + iy) * sp->w + ix) * c + k];
                            const int32_t xv = x_signed ? (int32_t)(int8_t)xb : (int32_t)xb;
                            const int32_t wv = hw[k * rr + r * sp->r + s] - hz[k];
                            acc += (int64_t)(xv - x_zp) * (int64_t)wv;
                        }
                    }
                    const int32_t v = tq_ql_requant(tq_ql_sat32(acc), hm[k], y_zp, lo, hi);
                    ref[((nb * oh + oy) * ow + ox) * c + k] = (uint8_t)v;
                }
            }
        }
    }
    CUDA_TRY(cudaMalloc(&dx, nx + SLACK), "cudaMalloc x");
    CUDA_TRY(cudaMalloc(&dw, nw + SLACK), "cudaMalloc w");
    CUDA_TRY(cudaMalloc(&dy, ny + SLACK), "cudaMalloc y");
    CUDA_TRY(cudaMalloc(&dm, (size_t)c * sizeof(float)), "cudaMalloc mult");
    CUDA_TRY(cudaMalloc(&db, (size_t)c * sizeof(int32_t)), "cudaMalloc bias");
    CUDA_TRY(cudaMalloc(&dz, (size_t)c * sizeof(int32_t)), "cudaMalloc w_zp");
    CUDA_TRY(cudaMemcpy(dm, hm, (size_t)c * sizeof(float), cudaMemcpyHostToDevice), "upload m");
    CUDA_TRY(cudaMemcpy(db, hb, (size_t)c * sizeof(int32_t), cudaMemcpyHostToDevice),
             "upload bias");
    CUDA_TRY(cudaMemcpy(dz, hz, (size_t)c * sizeof(int32_t), cudaMemcpyHostToDevice),
             "upload w_zp");
    for (int pi = 0; pi < N_PLACE; pi++) {
        const size_t ox = place[pi][0], owo = place[pi][1], oyo = place[pi][2];
        char *px = (char *)dx + ox, *pw = (char *)dw + owo, *py = (char *)dy + oyo;
        CUDA_TRY(cudaMemcpy(px, hx, nx, cudaMemcpyHostToDevice), "upload x");
        CUDA_TRY(cudaMemcpy(pw, hw, nw, cudaMemcpyHostToDevice), "upload w");
        CUDA_TRY(cudaMemset(dy, 0x5A, ny + SLACK), "poison y");
        CUDA_TRY(cudaDeviceSynchronize(), "synchronize"); /* before the non-blocking stream */
        tq_qk_conv a;
        memset(&a, 0, sizeof(a));
        a.n = sp->n;
        a.c = c;
        a.h = sp->h;
        a.w = sp->w;
        a.k = c;
        a.oh = oh;
        a.ow = ow;
        a.r = sp->r;
        a.s = sp->r;
        a.stride_h = sp->sh;
        a.stride_w = sp->sw;
        a.dil_h = 1;
        a.dil_w = 1;
        a.pad_t = sp->pt;
        a.pad_l = sp->pl;
        a.cg = 1;
        a.mg = 1;
        a.x_signed = x_signed;
        a.x_zp = x_zp;
        a.fast = sp->xmode == 0;
        a.x = px;
        a.wt = (const int8_t *)pw;
        a.w_zp = sp->xmode ? (const int32_t *)dz : NULL;
        a.y = py;
        a.o.y_signed = y_signed;
        a.o.y_zp = y_zp;
        a.o.lo = lo;
        a.o.hi = hi;
        a.o.mult = dm;
        a.o.bias = sp->bias ? (const int32_t *)db : NULL;
        const int want = qdw_expect_bytes(sp, ox, owo, oyo), got = tq_qk_conv_dw_bytes(&a);
        TQ_EXPECT(got == want, "qdw direct %s: placement %zu/%zu/%zu: vector of %d bytes, "
                  "expected %d", sp->name, ox, owo, oyo, got, want);
        CUDA_TRY((cudaError_t)tq_qk_conv_direct(&a, g_dev.stream), "tq_qk_conv_direct");
        CUDA_TRY(cudaStreamSynchronize((cudaStream_t)g_dev.stream), "run (stream sync)");
        CUDA_TRY(cudaMemcpy(hy, dy, ny + SLACK, cudaMemcpyDeviceToHost), "download y");
        size_t n_diff = 0, n_ref = 0, n_stray = 0, first = ny;
        for (size_t i = 0; i < ny + SLACK; i++) {
            if (i < oyo || i >= oyo + ny) {
                n_stray += hy[i] != 0x5A;
                continue;
            }
            const size_t j = i - oyo;
            if (pi == 0) {
                y0[j] = hy[i];
            }
            n_diff += hy[i] != y0[j];
            if (hy[i] != ref[j]) {
                n_ref++;
                first = first == ny ? j : first;
            }
        }
        printf("  qdw direct %-36s x+%zu w+%zu y+%zu  vector %d B  %zu/%zu differ from ref\n",
               sp->name, ox, owo, oyo, got, n_ref, ny);
        TQ_EXPECT(n_stray == 0, "qdw direct %s: placement %zu/%zu/%zu: %zu bytes written "
                  "outside y", sp->name, ox, owo, oyo, n_stray);
        TQ_EXPECT(n_diff == 0, "qdw direct %s: placement %zu/%zu/%zu: %zu of %zu outputs "
                  "differ from placement 0/0/0", sp->name, ox, owo, oyo, n_diff, ny);
        TQ_EXPECT(n_ref == 0, "qdw direct %s: placement %zu/%zu/%zu: %zu of %zu outputs differ "
                  "from the host; first %zu: gpu %d, host %d", sp->name, ox, owo, oyo, n_ref, ny,
                  first, first < ny ? (int)hy[first + oyo] : 0, first < ny ? (int)ref[first] : 0);
        g_n_cases++;
        g_n_elems += ny;
        g_n_diff += n_ref;
    }
done:
    TQ_EXPECT(st == TFMQ_OK, "qdw direct %s: %s", sp->name, tfmq_last_error());
    cudaFree(dx);
    cudaFree(dw);
    cudaFree(dy);
    cudaFree(dm);
    cudaFree(db);
    cudaFree(dz);
    free(hx);
    free(ref);
    free(hy);
    free(y0);
    free(hw);
    free(hm);
    free(hb);
    free(hz);
    (void)cudaGetLastError();
}

static void test_qconv_dw_vectors(tq_rng *rng)
{
    const size_t n = sizeof(qdw_direct_specs) / sizeof(qdw_direct_specs[0]);
    for (size_t i = 0; i < n; i++) {
        qdw_direct_case(rng, &qdw_direct_specs[i]);
    }
    fflush(stdout);
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
/* scales: a_scale, b_scale and y_scale, or NULL for 0.031, 0.047 and 0.061 */
static void qadd_case_sc(tq_rng *rng, int32_t ra, const int64_t *ad, int32_t rb,
                         const int64_t *bd, bool b_const, int act, bool asym, const char *name,
                         const char *want_impl, const float *scales)
{
    static const float def_scales[3] = {0.031f, 0.047f, 0.061f};
    const float *sc = scales ? scales : def_scales;
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
    *(float *)tc_in(&tc, 1, TFMQ_DTYPE_FLOAT32, 0, NULL, true) = sc[0];
    *(uint8_t *)tc_in(&tc, 2, dt, 0, NULL, true) = asym ? 131 : 0;
    *(float *)tc_in(&tc, 4, TFMQ_DTYPE_FLOAT32, 0, NULL, true) = sc[1];
    *(uint8_t *)tc_in(&tc, 5, dt, 0, NULL, true) = asym ? 119 : 0;
    *(float *)tc_in(&tc, 6, TFMQ_DTYPE_FLOAT32, 0, NULL, true) = sc[2];
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

static void qadd_case_impl(tq_rng *rng, int32_t ra, const int64_t *ad, int32_t rb,
                           const int64_t *bd, bool b_const, int act, bool asym, const char *name,
                           const char *want_impl)
{
    qadd_case_sc(rng, ra, ad, rb, bd, b_const, act, asym, name, want_impl, NULL);
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
 * kernel; the default scales have an exact float form (tq_ql_add_form_plan) */
static void test_qadd_vec(tq_rng *rng)
{
    const int64_t big[4] = {2, 64, 56, 56}, odd[4] = {1, 3, 7, 5}, s16[4] = {1, 1, 4, 4};
    const int64_t flat[1] = {4112};
    const char *v16 = "cuda:qadd_v16_f32";
    qadd_case_impl(rng, 4, big, 4, big, false, 0, false, "[2,64,56,56] + same", v16);
    qadd_case_impl(rng, 4, big, 4, big, false, 1, true, "[2,64,56,56] + same", v16);
    qadd_case_impl(rng, 4, big, 4, big, false, 2, false, "[2,64,56,56] + same", v16);
    qadd_case_impl(rng, 4, s16, 4, s16, false, 0, false, "[1,1,4,4] + same", v16);
    qadd_case_impl(rng, 1, flat, 1, flat, false, 0, true, "[4112] + same", v16);
    qadd_case_impl(rng, 4, odd, 4, odd, false, 0, false, "[1,3,7,5] + same", "cuda:qadd");
    qadd_case_impl(rng, 4, odd, 4, odd, false, 1, true, "[1,3,7,5] + same", "cuda:qadd");
}

/* The 16-element path's three arithmetics, each with scales that the planner gives it (the
 * impl name says which ran). Checked form: the float form misses some byte pairs, all near
 * ties, and the 401,408 random pairs of [2,64,56,56] cover each of the 65536 pairs about six
 * times over, so a lane kept in float where the definition was due would show. Definition:
 * scales with no exact float form (an exact tie among the pairs), and TFMQ_CUDA_QADD_F64=1. */
static void test_qadd_forms(tq_rng *rng)
{
    const int64_t big[4] = {2, 64, 56, 56};
    static const float fh[3] = {0.0850187764f, 0.0404382907f, 0.0793099254f};
    static const float fh2[3] = {0.0345222726f, 0.0778229609f, 0.0287774727f};
    static const float def[3] = {0.001f, 0.003f, 0.07f};
    qadd_case_sc(rng, 4, big, 4, big, false, 0, true, "[2,64,56,56] checked form",
                 "cuda:qadd_v16_f32_checked", fh);
    qadd_case_sc(rng, 4, big, 4, big, false, 1, true, "[2,64,56,56] checked form 2",
                 "cuda:qadd_v16_f32_checked", fh2);
    qadd_case_sc(rng, 4, big, 4, big, false, 0, false, "[2,64,56,56] definition (s8)",
                 "cuda:qadd_v16", def);
    qadd_case_sc(rng, 4, big, 4, big, false, 2, true, "[2,64,56,56] definition (u8)",
                 "cuda:qadd_v16", def);
    setenv("TFMQ_CUDA_QADD_F64", "1", 1);
    qadd_case_impl(rng, 4, big, 4, big, false, 1, true, "[2,64,56,56] TFMQ_CUDA_QADD_F64=1",
                   "cuda:qadd_v16");
    unsetenv("TFMQ_CUDA_QADD_F64");
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
    TQ_RUN(test_qconv_pw);
    TQ_RUN(test_qconv_pw_add);
    TQ_RUN(test_qconv_depthwise);
    TQ_RUN(test_qconv_dw_vectors);
    TQ_RUN(test_qgemm);
    TQ_RUN(test_qadd);
    TQ_RUN(test_qadd_vec);
    TQ_RUN(test_qadd_forms);
    printf("%d GPU runs, %zu of %zu elements differ from the reference\n", g_n_cases, g_n_diff,
           g_n_elems);
    tq_cuda_dev_close(&g_dev);
    return tq_test_end();
}
