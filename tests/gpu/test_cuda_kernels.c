/* test_cuda_kernels.c: our own CUDA kernels (src/backends/cuda/kernels*.cu, kernels.c) against
 * the reference kernels, in every storage type (F32, F16, BF16) and, for the ops that take
 * either layout (element-wise, Clip, BatchNormalization, Q/DQ, pools, Concat), in NHWC too.
 * Each case builds a node by hand, infers its output, prepares the CUDA kernel from the
 * plan-time view (activations without data), runs the reference on the inputs the device sees
 * (float32 activations rounded to the storage type), uploads the inputs converted to the storage
 * type and layout, runs the kernel on the session stream into a NaN-poisoned output, downloads,
 * converts back and compares: exact where the kernel follows the reference's arithmetic
 * (copies, transposes, Relu, Clip, MaxPool, AveragePool, BatchNorm-free integer paths, Q/DQ),
 * relative 1e-6 for F32 transcendental ops, 1e-5 for F32 softmax/layernorm/reductions, and
 * 1e-3 (F16) / 8e-3 (BF16) against the reference on rounded inputs. Also the services
 * tq_cuda_relayout and tq_cuda_convert. Without a GPU: "SKIP" and exit 77. */
#include <cuda_runtime_api.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/cpu.h"
#include "backends/cuda/cuda.h"
#include "backends/cuda/dev.h"
#include "harness.h"
#include "ir/ir.h"

static tq_cuda_dev g_dev;
static int g_runs;
static const char *const k_store_name[3] = {"f32", "f16", "bf16"};

/* ---- tensors ---- */
static size_t esize(tfmq_dtype dt)
{
    size_t s = tq_dtype_size(dt);
    return s ? s : 1;
}

static tq_tensor mk(tfmq_dtype dt, int32_t rank, const int64_t *dims)
{
    tq_tensor t;
    memset(&t, 0, sizeof(t));
    t.dtype = dt;
    t.rank = rank;
    for (int32_t i = 0; i < rank; i++) {
        t.dims[i] = dims[i];
    }
    t.data = calloc(tq_tensor_numel(&t) + 16, 8);
    return t;
}

static tq_tensor mk_i64(int32_t n, const int64_t *v)
{
    const int64_t d[1] = {n};
    tq_tensor t = mk(TFMQ_DTYPE_INT64, 1, d);
    memcpy(t.data, v, (size_t)n * 8);
    return t;
}

static tq_tensor mk_f32_scalar(float v)
{
    tq_tensor t = mk(TFMQ_DTYPE_FLOAT32, 0, NULL);
    *(float *)t.data = v;
    return t;
}

static void rm(tq_tensor *t)
{
    free(t->data);
    t->data = NULL;
}

/* Uniform in [lo, hi), never exactly zero. */
static void fill_f32(tq_rng *rng, tq_tensor *t, float lo, float hi)
{
    float *p = t->data;
    const size_t n = tq_tensor_numel(t);
    for (size_t i = 0; i < n; i++) {
        float v = tq_rng_uniform(rng, lo, hi);
        p[i] = v == 0.0f ? (hi + lo) * 0.5f + 0.125f : v;
    }
}

static void fill_int(tq_rng *rng, tq_tensor *t, int64_t lo, int64_t hi)
{
    const size_t n = tq_tensor_numel(t);
    for (size_t i = 0; i < n; i++) {
        tq_store_i64(t->dtype, t->data, i, lo + (int64_t)tq_rng_below(rng, (uint64_t)(hi - lo)));
    }
}

static float round_store(float v, tq_cuda_store s)
{
    if (s == TQ_CUDA_F16) {
        return tq_f16_to_f32(tq_f32_to_f16(v));
    }
    if (s == TQ_CUDA_BF16) {
        return tq_bf16_to_f32(tq_f32_to_bf16(v));
    }
    return v;
}

/* NCHW <-> NHWC of rank-4 dims, es bytes per element. */
static void to_layout(const int64_t *dims, size_t es, const void *src, void *dst, bool to_nhwc)
{
    const size_t N = (size_t)dims[0], C = (size_t)dims[1], H = (size_t)dims[2],
                 W = (size_t)dims[3];
    for (size_t n = 0; n < N; n++) {
        for (size_t c = 0; c < C; c++) {
            for (size_t h = 0; h < H; h++) {
                for (size_t w = 0; w < W; w++) {
                    size_t a = ((n * C + c) * H + h) * W + w, b = ((n * H + h) * W + w) * C + c;
                    if (to_nhwc) {
                        memcpy((char *)dst + b * es, (const char *)src + a * es, es);
                    } else {
                        memcpy((char *)dst + a * es, (const char *)src + b * es, es);
                    }
                }
            }
        }
    }
}

/* Bytes of t on the device: float32 in the storage type, others in their dtype. */
static size_t dev_esize(tfmq_dtype dt, tq_cuda_store s)
{
    return dt == TFMQ_DTYPE_FLOAT32 ? (s == TQ_CUDA_F32 ? 4 : 2) : esize(dt);
}

/* Host image of t as the device stores it (storage type, layout); malloc'ed. */
static void *to_device_image(const tq_tensor *t, tq_cuda_store s, bool nhwc)
{
    const size_t n = tq_tensor_numel(t), es = dev_esize(t->dtype, s);
    void *img = malloc(n * es + 16), *out = malloc(n * es + 16);
    if (t->dtype == TFMQ_DTYPE_FLOAT32 && s != TQ_CUDA_F32) {
        const float *x = t->data;
        uint16_t *h = img;
        for (size_t i = 0; i < n; i++) {
            h[i] = s == TQ_CUDA_F16 ? tq_f32_to_f16(x[i]) : tq_f32_to_bf16(x[i]);
        }
    } else {
        memcpy(img, t->data, n * es);
    }
    if (nhwc) {
        to_layout(t->dims, es, img, out, true);
        free(img);
        return out;
    }
    free(out);
    return img;
}

/* Device image back to host float32 (or raw) NCHW; malloc'ed. */
static void *from_device_image(const tq_tensor *t, const void *img, tq_cuda_store s, bool nhwc)
{
    const size_t n = tq_tensor_numel(t), es = dev_esize(t->dtype, s);
    void *lay = malloc(n * es + 16), *out = malloc(n * esize(t->dtype) + 16);
    if (nhwc) {
        to_layout(t->dims, es, img, lay, false);
    } else {
        memcpy(lay, img, n * es);
    }
    if (t->dtype == TFMQ_DTYPE_FLOAT32 && s != TQ_CUDA_F32) {
        const uint16_t *h = lay;
        float *y = out;
        for (size_t i = 0; i < n; i++) {
            y[i] = s == TQ_CUDA_F16 ? tq_f16_to_f32(h[i]) : tq_bf16_to_f32(h[i]);
        }
    } else {
        memcpy(out, lay, n * es);
    }
    free(lay);
    return out;
}

/* ---- attributes ---- */
static tq_attr a_int(const char *name, int64_t v)
{
    tq_attr a;
    memset(&a, 0, sizeof(a));
    a.name = name;
    a.type = TQ_ATTR_INT;
    a.i = v;
    return a;
}

static tq_attr a_ints(const char *name, const int64_t *v, size_t n)
{
    tq_attr a;
    memset(&a, 0, sizeof(a));
    a.name = name;
    a.type = TQ_ATTR_INTS;
    a.ints = v;
    a.n = n;
    return a;
}

static tq_attr a_f(const char *name, float f)
{
    tq_attr a;
    memset(&a, 0, sizeof(a));
    a.name = name;
    a.type = TQ_ATTR_FLOAT;
    a.f = f;
    return a;
}

static tq_attr a_str(const char *name, const char *s)
{
    tq_attr a;
    memset(&a, 0, sizeof(a));
    a.name = name;
    a.type = TQ_ATTR_STRING;
    a.s = s;
    return a;
}

/* ---- one case ---- */
typedef struct gcase {
    uint32_t op;
    const tq_attr *attrs;
    int32_t n_attrs;
    int64_t opset; /* 0: 17 */
    tq_tensor *in[8];
    int32_t n_in;
    uint32_t const_mask; /* inputs known at prepare time */
    int32_t n_out;       /* 0: 1 */
    double rtol, atol;   /* F32 tolerance; both 0: bit-exact */
    bool layouts;        /* also run with rank-4 activations and output in NHWC */
    bool to_nhwc;        /* also run with the input NCHW and the output NHWC (QuantizeLinear) */
    bool not_taken;      /* expect prepare to leave the node to the host */
    const char *label;
} gcase;

static bool same_value(float y, float r, double rtol, double atol)
{
    if (isnan(y) || isnan(r)) {
        return isnan(y) && isnan(r);
    }
    if (rtol == 0.0 && atol == 0.0) {
        uint32_t a, b;
        memcpy(&a, &y, 4);
        memcpy(&b, &r, 4);
        return a == b;
    }
    const double dy = (double)y, dr = (double)r;
    return dy == dr || fabs(dy - dr) <= atol + rtol * fabs(dr);
}

static void shape_str(const tq_tensor *t, char *buf, size_t cap)
{
    (void)tq_shape_str(t, buf, cap);
}

static void compare(const gcase *gc, const tq_tensor *out, const void *y, const void *r,
                    double rtol, double atol, const char *where)
{
    const size_t n = tq_tensor_numel(out);
    size_t bad = 0;
    char sh[96];
    shape_str(out, sh, sizeof(sh));
    for (size_t i = 0; i < n; i++) {
        bool ok;
        double vy, vr;
        if (out->dtype == TFMQ_DTYPE_FLOAT32) {
            vy = (double)((const float *)y)[i];
            vr = (double)((const float *)r)[i];
            ok = same_value(((const float *)y)[i], ((const float *)r)[i], rtol, atol);
        } else {
            const size_t es = esize(out->dtype);
            ok = memcmp((const char *)y + i * es, (const char *)r + i * es, es) == 0;
            vy = (double)tq_load_i64(out->dtype, y, i);
            vr = (double)tq_load_i64(out->dtype, r, i);
        }
        if (!ok && bad++ < 3) {
            tq_test_failf(__FILE__, __LINE__, "%s %s y%s: [%zu] got %.9g, expected %.9g",
                          gc->label, where, sh, i, vy, vr);
        }
    }
    if (bad > 3) {
        tq_test_failf(__FILE__, __LINE__, "%s %s y%s: %zu of %zu elements differ", gc->label,
                      where, sh, bad, n);
    }
}

static bool cuda_ok(cudaError_t e, const gcase *gc, const char *what)
{
    if (e != cudaSuccess) {
        tq_test_failf(__FILE__, __LINE__, "%s: %s: %s", gc->label, what, cudaGetErrorString(e));
        return false;
    }
    return true;
}

/* Run the reference on inputs `ins`, outputs shaped like `shapes`; returns malloc'ed data. */
static bool run_ref(const gcase *gc, tq_node *node, tq_tensor *const *ins, const tq_tensor *shapes,
                    int32_t n_out, tq_tensor *outs)
{
    tq_op_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.node = node;
    ctx.n_in = gc->n_in;
    ctx.n_out = n_out;
    ctx.opset = gc->opset ? gc->opset : 17;
    for (int32_t i = 0; i < gc->n_in; i++) {
        ctx.in[i] = ins[i];
    }
    for (int32_t i = 0; i < n_out; i++) {
        outs[i] = shapes[i];
        outs[i].data = calloc(tq_tensor_numel(&outs[i]) + 1, 8);
        ctx.out[i] = &outs[i];
    }
    tq_op_ctx ictx = ctx; /* scratch size from inference */
    tq_tensor tmp[3];
    for (int32_t i = 0; i < n_out; i++) {
        tmp[i] = outs[i];
        tmp[i].data = NULL;
        tmp[i].rank = -1;
        ictx.out[i] = &tmp[i];
    }
    (void)tq_infer_table[gc->op](&ictx);
    void *scratch = ictx.scratch_bytes ? malloc(ictx.scratch_bytes) : NULL;
    ctx.scratch = scratch;
    ctx.scratch_bytes = ictx.scratch_bytes;
    tfmq_status st = tq_ref_table[gc->op](&ctx);
    free(scratch);
    TQ_EXPECT(st == TFMQ_OK, "%s: reference: %s", gc->label, tfmq_last_error());
    return st == TFMQ_OK;
}

/* lay: 0 everything NCHW, 1 rank-4 activations and outputs NHWC, 2 inputs NCHW, outputs NHWC */
static void run_one(const gcase *gc, tq_node *node, const tq_tensor *shapes, int32_t n_out,
                    tq_cuda_store store, int lay)
{
    char where[64];
    snprintf(where, sizeof(where), "[%s, %s]", k_store_name[store],
             lay == 2 ? "nchw->nhwc" : lay ? "nhwc" : "nchw");
    /* plan-time view */
    tq_tensor pin[8], pout[3];
    tq_op_ctx pctx;
    memset(&pctx, 0, sizeof(pctx));
    pctx.node = node;
    pctx.n_in = gc->n_in;
    pctx.n_out = n_out;
    pctx.opset = gc->opset ? gc->opset : 17;
    uint8_t in_l[8] = {0}, out_l[3] = {0};
    for (int32_t i = 0; i < gc->n_in; i++) {
        if (!gc->in[i]) {
            continue;
        }
        pin[i] = *gc->in[i];
        const bool cst = (gc->const_mask >> i) & 1u;
        if (!cst) {
            pin[i].data = NULL;
        }
        pctx.in[i] = &pin[i];
        in_l[i] = (uint8_t)(lay == 1 && !cst && pin[i].rank == 4 ? TQ_LAYOUT_NHWC
                                                                   : TQ_LAYOUT_NCHW);
    }
    for (int32_t i = 0; i < n_out; i++) {
        pout[i] = shapes[i];
        pout[i].data = NULL;
        pctx.out[i] = &pout[i];
        out_l[i] = (uint8_t)(lay && pout[i].rank == 4 ? TQ_LAYOUT_NHWC : TQ_LAYOUT_NCHW);
    }
    tq_cuda_prep p = {.ctx = &pctx, .in_layout = in_l, .out_layout = out_l, .store = store,
                      .math = TQ_CUDA_MATH_FP32, .dev = &g_dev};
    tq_cuda_kernel *k = NULL;
    tfmq_status st = tq_cuda_prepare_kernels(&p, &k);
    TQ_EXPECT(st == TFMQ_OK, "%s %s: prepare: %s", gc->label, where, tfmq_last_error());
    if (gc->not_taken) {
        TQ_EXPECT(k == NULL, "%s %s: taken (%s), expected the host", gc->label, where,
                  k ? k->impl : "");
        if (k) {
            k->destroy(k);
        }
        return;
    }
    TQ_EXPECT(k != NULL, "%s %s: not taken", gc->label, where);
    if (!k) {
        return;
    }
    TQ_EXPECT(lay != 2 || (k->impl && strcmp(k->impl, "cuda:quantize_nchw_nhwc") == 0),
              "%s %s: impl %s", gc->label, where, k->impl ? k->impl : "(null)");
    TQ_EXPECT(k->impl && strncmp(k->impl, "cuda:", 5) == 0, "%s: impl %s", gc->label,
              k->impl ? k->impl : "(null)");
    /* the inputs the device sees, for the reference */
    tq_tensor rin[8];
    tq_tensor *rinp[8] = {0};
    void *dev_in[8] = {0}, *dev_out[3] = {0}, *ws = NULL;
    void *rdata[8] = {0};
    for (int32_t i = 0; i < gc->n_in; i++) {
        if (!gc->in[i]) {
            continue;
        }
        rin[i] = *gc->in[i];
        rinp[i] = &rin[i];
        const bool owned = (k->own_consts >> i) & 1u;
        if (rin[i].dtype == TFMQ_DTYPE_FLOAT32 && !owned && store != TQ_CUDA_F32) {
            const size_t n = tq_tensor_numel(&rin[i]);
            float *c = malloc(n * 4 + 16);
            for (size_t j = 0; j < n; j++) {
                c[j] = round_store(((const float *)gc->in[i]->data)[j], store);
            }
            rin[i].data = c;
            rdata[i] = c;
        }
    }
    tq_tensor routs[3];
    memset(routs, 0, sizeof(routs));
    bool ok = run_ref(gc, node, rinp, shapes, n_out, routs);
    /* device buffers */
    for (int32_t i = 0; ok && i < gc->n_in; i++) {
        if (!gc->in[i] || ((k->own_consts >> i) & 1u)) {
            continue;
        }
        const size_t bytes = tq_tensor_numel(&rin[i]) * dev_esize(rin[i].dtype, store);
        void *img = to_device_image(&rin[i], store, in_l[i] == TQ_LAYOUT_NHWC);
        ok = cuda_ok(cudaMalloc(&dev_in[i], bytes + 16), gc, "cudaMalloc") &&
             cuda_ok(cudaMemcpy(dev_in[i], img, bytes, cudaMemcpyHostToDevice), gc, "upload");
        free(img);
    }
    size_t ob[3] = {0};
    for (int32_t i = 0; ok && i < n_out; i++) {
        ob[i] = tq_tensor_numel(&shapes[i]) * dev_esize(shapes[i].dtype, store);
        ok = cuda_ok(cudaMalloc(&dev_out[i], ob[i] + 16), gc, "cudaMalloc") &&
             cuda_ok(cudaMemset(dev_out[i], 0xFF, ob[i] + 16), gc, "poison") && /* NaN */
             /* the legacy stream's copies and memsets finish before the session's
              * non-blocking stream starts: it does not wait for them */
             cuda_ok(cudaDeviceSynchronize(), gc, "synchronize");
    }
    if (ok && k->workspace_bytes) {
        ok = cuda_ok(cudaMalloc(&ws, k->workspace_bytes), gc, "cudaMalloc");
    }
    if (ok) {
        tq_cuda_args args = {dev_in, dev_out, ws, g_dev.stream};
        st = k->run(k, &args);
        TQ_EXPECT(st == TFMQ_OK, "%s %s: run: %s", gc->label, where, tfmq_last_error());
        ok = st == TFMQ_OK &&
             cuda_ok(cudaStreamSynchronize((cudaStream_t)g_dev.stream), gc, "synchronize");
    }
    for (int32_t i = 0; ok && i < n_out; i++) {
        unsigned char *img = malloc(ob[i] + 16);
        ok = cuda_ok(cudaMemcpy(img, dev_out[i], ob[i] + 16, cudaMemcpyDeviceToHost), gc,
                     "download");
        if (ok) {
            for (size_t j = 0; j < 16; j++) {
                TQ_EXPECT(img[ob[i] + j] == 0xFF, "%s %s: wrote past output %d", gc->label,
                          where, (int)i);
            }
            void *y = from_device_image(&shapes[i], img, store, out_l[i] == TQ_LAYOUT_NHWC);
            double rtol = gc->rtol, atol = gc->atol;
            if (store == TQ_CUDA_F16) {
                rtol = rtol > 1e-3 ? rtol : 1e-3;
                atol = atol > 1e-6 ? atol : 1e-6;
            } else if (store == TQ_CUDA_BF16) {
                rtol = rtol > 8e-3 ? rtol : 8e-3;
                atol = atol > 1e-6 ? atol : 1e-6;
            }
            if (store != TQ_CUDA_F32 && shapes[i].dtype == TFMQ_DTYPE_FLOAT32) {
                /* the device stores the result in the storage type: a reference value beyond
                 * its range (65504 for float16) is infinite there too */
                float *rf = routs[i].data;
                for (size_t j = 0; j < tq_tensor_numel(&shapes[i]); j++) {
                    rf[j] = round_store(rf[j], store);
                }
            }
            compare(gc, &shapes[i], y, routs[i].data, rtol, atol, where);
            free(y);
            g_runs++;
        }
        free(img);
    }
    for (int32_t i = 0; i < 8; i++) {
        if (dev_in[i]) {
            cudaFree(dev_in[i]);
        }
        free(rdata[i]);
    }
    for (int32_t i = 0; i < 3; i++) {
        if (dev_out[i]) {
            cudaFree(dev_out[i]);
        }
        free(routs[i].data);
    }
    if (ws) {
        cudaFree(ws);
    }
    k->destroy(k);
}

static void check_case(const gcase *gc)
{
    tq_node node;
    memset(&node, 0, sizeof(node));
    node.op = gc->op;
    node.name = gc->label;
    node.n_in = gc->n_in;
    node.n_out = gc->n_out ? gc->n_out : 1;
    node.attrs = (tq_attr *)(uintptr_t)gc->attrs;
    node.n_attrs = gc->n_attrs;
    tq_tensor outs[3];
    memset(outs, 0, sizeof(outs));
    tq_op_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.node = &node;
    ctx.n_in = gc->n_in;
    ctx.n_out = node.n_out;
    ctx.opset = gc->opset ? gc->opset : 17;
    for (int32_t i = 0; i < gc->n_in; i++) {
        ctx.in[i] = gc->in[i];
    }
    for (int32_t i = 0; i < ctx.n_out; i++) {
        outs[i].rank = -1;
        ctx.out[i] = &outs[i];
    }
    tfmq_status st = tq_infer_table[gc->op](&ctx);
    TQ_EXPECT(st == TFMQ_OK, "%s: infer: %s", gc->label, tfmq_last_error());
    if (st != TFMQ_OK) {
        return;
    }
    for (int s = 0; s < 3; s++) {
        for (int lay = 0; lay < (gc->layouts ? 2 : 1); lay++) {
            run_one(gc, &node, outs, ctx.n_out, (tq_cuda_store)s, lay);
        }
        if (gc->to_nhwc && s == TQ_CUDA_F32) { /* as INT8 sessions store float32 */
            run_one(gc, &node, outs, ctx.n_out, (tq_cuda_store)s, 2);
        }
    }
}

/* ---- services ---- */
static void test_services(tq_rng *unused)
{
    (void)unused;
    tq_rng rng = {0xC0DA0001u};
    static const int64_t shapes[][4] = {{2, 3, 5, 7}, {1, 64, 7, 7}, {1, 3, 33, 1}, {3, 40, 9, 37}};
    for (size_t si = 0; si < sizeof(shapes) / sizeof(shapes[0]); si++) {
        const int64_t *d = shapes[si];
        const size_t n = (size_t)(d[0] * d[1] * d[2] * d[3]);
        for (size_t es = 1; es <= 4; es *= 2) {
            unsigned char *h = malloc(n * es), *t = malloc(n * es), *g = malloc(n * es);
            for (size_t i = 0; i < n * es; i++) {
                h[i] = (unsigned char)tq_rng_below(&rng, 256);
            }
            to_layout(d, es, h, t, true);
            void *a = NULL, *b = NULL;
            TQ_CHECK(cudaMalloc(&a, n * es) == cudaSuccess && cudaMalloc(&b, n * es) == cudaSuccess);
            TQ_CHECK(cudaMemcpy(a, h, n * es, cudaMemcpyHostToDevice) == cudaSuccess);
            TQ_EXPECT_OK(tq_cuda_relayout(b, a, d, es, true, g_dev.stream));
            TQ_CHECK(cudaStreamSynchronize((cudaStream_t)g_dev.stream) == cudaSuccess);
            TQ_CHECK(cudaMemcpy(g, b, n * es, cudaMemcpyDeviceToHost) == cudaSuccess);
            TQ_EXPECT(memcmp(g, t, n * es) == 0, "relayout to NHWC [%lld,%lld,%lld,%lld] es %zu",
                      (long long)d[0], (long long)d[1], (long long)d[2], (long long)d[3], es);
            TQ_CHECK(cudaMemset(a, 0xFF, n * es) == cudaSuccess);
            TQ_CHECK(cudaDeviceSynchronize() == cudaSuccess); /* before the non-blocking stream */
            TQ_EXPECT_OK(tq_cuda_relayout(a, b, d, es, false, g_dev.stream));
            TQ_CHECK(cudaStreamSynchronize((cudaStream_t)g_dev.stream) == cudaSuccess);
            TQ_CHECK(cudaMemcpy(g, a, n * es, cudaMemcpyDeviceToHost) == cudaSuccess);
            TQ_EXPECT(memcmp(g, h, n * es) == 0, "relayout to NCHW [%lld,%lld,%lld,%lld] es %zu",
                      (long long)d[0], (long long)d[1], (long long)d[2], (long long)d[3], es);
            cudaFree(a);
            cudaFree(b);
            free(h);
            free(t);
            free(g);
        }
    }
    /* convert: f32 -> f16 / bf16 -> f32, and f32 -> f32 */
    const size_t n = 10007;
    float *x = malloc(n * 4), *back = malloc(n * 4);
    uint16_t *hh = malloc(n * 2);
    for (size_t i = 0; i < n; i++) {
        x[i] = tq_rng_uniform(&rng, -70000.0f, 70000.0f) * (i % 3 ? 1e-4f : 1.0f);
    }
    x[0] = NAN;
    x[1] = INFINITY;
    x[2] = -0.0f;
    x[3] = 1e-8f;
    void *a = NULL, *b = NULL, *c = NULL;
    TQ_CHECK(cudaMalloc(&a, n * 4) == cudaSuccess && cudaMalloc(&b, n * 2) == cudaSuccess &&
             cudaMalloc(&c, n * 4) == cudaSuccess);
    TQ_CHECK(cudaMemcpy(a, x, n * 4, cudaMemcpyHostToDevice) == cudaSuccess);
    for (int s = 1; s <= 2; s++) {
        TQ_EXPECT_OK(tq_cuda_convert(b, (tq_cuda_store)s, a, TQ_CUDA_F32, n, g_dev.stream));
        TQ_EXPECT_OK(tq_cuda_convert(c, TQ_CUDA_F32, b, (tq_cuda_store)s, n, g_dev.stream));
        TQ_CHECK(cudaStreamSynchronize((cudaStream_t)g_dev.stream) == cudaSuccess);
        TQ_CHECK(cudaMemcpy(hh, b, n * 2, cudaMemcpyDeviceToHost) == cudaSuccess);
        TQ_CHECK(cudaMemcpy(back, c, n * 4, cudaMemcpyDeviceToHost) == cudaSuccess);
        size_t bad = 0;
        for (size_t i = 0; i < n; i++) {
            const uint16_t want = s == 1 ? tq_f32_to_f16(x[i]) : tq_f32_to_bf16(x[i]);
            const float wf = s == 1 ? tq_f16_to_f32(want) : tq_bf16_to_f32(want);
            const bool nan_ok = isnan(x[i]) && isnan(back[i]);
            if ((hh[i] != want && !nan_ok) || (!nan_ok && memcmp(&wf, &back[i], 4) != 0)) {
                if (bad++ < 3) {
                    tq_test_failf(__FILE__, __LINE__, "convert %s [%zu] %.9g: got 0x%04x",
                                  k_store_name[s], i, (double)x[i], hh[i]);
                }
            }
        }
    }
    TQ_EXPECT_OK(tq_cuda_convert(c, TQ_CUDA_F32, a, TQ_CUDA_F32, n, g_dev.stream));
    TQ_CHECK(cudaStreamSynchronize((cudaStream_t)g_dev.stream) == cudaSuccess);
    TQ_CHECK(cudaMemcpy(back, c, n * 4, cudaMemcpyDeviceToHost) == cudaSuccess);
    TQ_EXPECT(memcmp(back + 1, x + 1, (n - 1) * 4) == 0, "convert f32 -> f32 is a copy");
    cudaFree(a);
    cudaFree(b);
    cudaFree(c);
    free(x);
    free(back);
    free(hh);
}

/* ---- unary ---- */
typedef struct un_spec {
    uint32_t op;
    const char *name;
    float lo, hi;
    double rtol, atol;
} un_spec;

static void test_unary(tq_rng *unused)
{
    (void)unused;
    tq_rng rng = {0xC0DA0002u};
    static const un_spec ops[] = {
        {TQ_OP_RELU, "Relu", -4, 4, 0, 0},
        {TQ_OP_LEAKY_RELU, "LeakyRelu", -4, 4, 0, 0},
        {TQ_OP_SIGMOID, "Sigmoid", -12, 12, 1e-6, 1e-7},
        {TQ_OP_TANH, "Tanh", -6, 6, 1e-6, 1e-7},
        {TQ_OP_EXP, "Exp", -9, 9, 1e-6, 1e-7},
        {TQ_OP_LOG, "Log", 0.01f, 100, 1e-6, 1e-7},
        {TQ_OP_SQRT, "Sqrt", 0.01f, 1000, 0, 0},
        {TQ_OP_ABS, "Abs", -4, 4, 0, 0},
        {TQ_OP_NEG, "Neg", -4, 4, 0, 0},
        {TQ_OP_ERF, "Erf", -3, 3, 1e-6, 1e-7},
        {TQ_OP_RECIPROCAL, "Reciprocal", 0.1f, 50, 1e-6, 0},
        {TQ_OP_FLOOR, "Floor", -40, 40, 0, 0},
        {TQ_OP_CEIL, "Ceil", -40, 40, 0, 0},
        {TQ_OP_HARD_SIGMOID, "HardSigmoid", -6, 6, 1e-6, 1e-7},
        {TQ_OP_HARD_SWISH, "HardSwish", -6, 6, 1e-6, 1e-7},
        {TQ_OP_SOFTPLUS, "Softplus", -20, 20, 1e-6, 1e-7},
        {TQ_OP_GELU, "Gelu", -6, 6, 1e-6, 1e-7},
        {TQ_OP_ELU, "Elu", -5, 5, 1e-6, 1e-7},
    };
    static const int64_t d1[] = {1}, d17[] = {17}, d1k[] = {1000}, d4a[] = {2, 3, 5, 7},
                         d4b[] = {1, 16, 4, 4}, d6[] = {2, 1, 3, 2, 1, 5};
    const struct {
        int32_t rank;
        const int64_t *dims;
    } shapes[] = {{1, d1}, {1, d17}, {1, d1k}, {4, d4a}, {4, d4b}, {6, d6}};
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
            tq_tensor x = mk(TFMQ_DTYPE_FLOAT32, shapes[s].rank, shapes[s].dims);
            fill_f32(&rng, &x, ops[i].lo, ops[i].hi);
            tq_attr attrs[2] = {a_f("alpha", 0.3f), a_f("beta", 0.45f)};
            const bool has = ops[i].op == TQ_OP_LEAKY_RELU || ops[i].op == TQ_OP_HARD_SIGMOID;
            char label[96];
            snprintf(label, sizeof(label), "%s x[%zu elems, rank %d]", ops[i].name,
                     tq_tensor_numel(&x), shapes[s].rank);
            gcase gc = {.op = ops[i].op,
                        .attrs = attrs,
                        .n_attrs = has ? (ops[i].op == TQ_OP_LEAKY_RELU ? 1 : 2) : 0,
                        .in = {&x},
                        .n_in = 1,
                        .rtol = ops[i].rtol,
                        .atol = ops[i].atol,
                        .layouts = shapes[s].rank == 4,
                        .label = label};
            check_case(&gc);
            rm(&x);
        }
    }
    /* Gelu tanh approximation; a long vector (vector path and tail) */
    static const int64_t dl[] = {100003};
    tq_tensor x = mk(TFMQ_DTYPE_FLOAT32, 1, dl);
    fill_f32(&rng, &x, -6, 6);
    tq_attr ga[1] = {a_str("approximate", "tanh")};
    gcase g1 = {.op = TQ_OP_GELU, .attrs = ga, .n_attrs = 1, .in = {&x}, .n_in = 1,
                .rtol = 1e-6, .atol = 1e-7, .label = "Gelu tanh [100003]"};
    check_case(&g1);
    gcase g2 = {.op = TQ_OP_RELU, .in = {&x}, .n_in = 1, .label = "Relu [100003]"};
    check_case(&g2);
    rm(&x);
}

static void test_clip(tq_rng *unused)
{
    (void)unused;
    tq_rng rng = {0xC0DA0003u};
    static const int64_t d4[] = {2, 17, 3, 5};
    tq_tensor x = mk(TFMQ_DTYPE_FLOAT32, 4, d4);
    fill_f32(&rng, &x, -3.0f, 3.0f);
    tq_tensor lo = mk_f32_scalar(-0.5f), hi = mk_f32_scalar(1.25f);
    gcase gc = {.op = TQ_OP_CLIP, .in = {&x, &lo, &hi}, .n_in = 3, .const_mask = 6,
                .layouts = true, .label = "Clip [-0.5, 1.25]"};
    check_case(&gc);
    gc.n_in = 2;
    gc.label = "Clip min only";
    check_case(&gc);
    gc.in[1] = NULL;
    gc.n_in = 3;
    gc.label = "Clip max only";
    check_case(&gc);
    gc.n_in = 1;
    gc.label = "Clip no bounds";
    check_case(&gc);
    tq_attr attrs[2] = {a_f("min", -1.5f), a_f("max", 0.25f)};
    gcase g6 = {.op = TQ_OP_CLIP, .attrs = attrs, .n_attrs = 2, .opset = 6, .in = {&x},
                .n_in = 1, .layouts = true, .label = "Clip-6 attrs"};
    check_case(&g6);
    gcase gv = {.op = TQ_OP_CLIP, .in = {&x, &lo, &hi}, .n_in = 3, .const_mask = 2,
                .not_taken = true, .label = "Clip max not constant"};
    check_case(&gv);
    rm(&x);
    rm(&lo);
    rm(&hi);
}

/* ---- binary and variadic ---- */
static void check_binary(tq_rng *rng, int32_t ra, const int64_t *da, int32_t rb, const int64_t *db,
                         uint32_t const_mask, const char *what)
{
    static const uint32_t ops[] = {TQ_OP_ADD, TQ_OP_SUB, TQ_OP_MUL, TQ_OP_DIV,
                                   TQ_OP_POW, TQ_OP_MAX, TQ_OP_MIN, TQ_OP_PRELU};
    static const char *const names[] = {"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "PRelu"};
    tq_tensor a = mk(TFMQ_DTYPE_FLOAT32, ra, da), b = mk(TFMQ_DTYPE_FLOAT32, rb, db);
    tq_tensor pa = mk(TFMQ_DTYPE_FLOAT32, ra, da), pb = mk(TFMQ_DTYPE_FLOAT32, rb, db);
    fill_f32(rng, &a, -5.0f, 5.0f);
    fill_f32(rng, &b, -5.0f, 5.0f);
    fill_f32(rng, &pa, 0.5f, 3.0f);
    fill_f32(rng, &pb, -2.0f, 2.0f);
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        if (ops[i] == TQ_OP_PRELU) {
            bool uni = rb <= ra; /* PRelu's slope broadcasts to X only */
            for (int32_t d = 0; uni && d < rb; d++) {
                uni = db[d] == 1 || db[d] == da[ra - rb + d];
            }
            if (!uni) {
                continue;
            }
        }
        char label[128];
        snprintf(label, sizeof(label), "%s %s", names[i], what);
        const bool pw = ops[i] == TQ_OP_POW;
        gcase gc = {.op = ops[i],
                    .in = {pw ? &pa : &a, pw ? &pb : &b},
                    .n_in = 2,
                    .const_mask = const_mask,
                    .rtol = pw ? 1e-6 : 0.0,
                    .atol = 0.0,
                    .layouts = true,
                    .label = label};
        check_case(&gc);
    }
    rm(&a);
    rm(&b);
    rm(&pa);
    rm(&pb);
}

static void test_binary(tq_rng *unused)
{
    (void)unused;
    tq_rng rng = {0xC0DA0004u};
    static const int64_t x4[] = {2, 17, 5, 3}, x16[] = {2, 16, 3, 5}, c3[] = {17, 1, 1},
                         c4[] = {1, 17, 1, 1}, c16[] = {1, 16, 1, 1}, nc4[] = {2, 17, 1, 1};
    static const int64_t v17[] = {17}, one[] = {1}, r3[] = {2, 5, 16}, k16[] = {16},
                         m2[] = {3, 17}, k1_17[] = {1, 17}, w3[] = {3}, ba[] = {2, 1, 5},
                         bb[] = {1, 3, 1}, big[] = {65537};
    static const int64_t s6a[] = {2, 1, 3, 1, 2, 3}, s6b[] = {1, 4, 1, 5, 1, 1};
    check_binary(&rng, 4, x4, 4, x4, 0, "equal rank 4");
    check_binary(&rng, 4, x16, 4, x16, 0, "equal rank 4, C=16");
    check_binary(&rng, 1, v17, 1, v17, 0, "equal [17]");
    check_binary(&rng, 4, x4, 0, NULL, 2, "x op const scalar");
    check_binary(&rng, 1, one, 4, x4, 0, "[1] op x");
    check_binary(&rng, 4, x4, 3, c3, 2, "x op const [C,1,1]");
    check_binary(&rng, 4, c4, 4, x4, 1, "const [1,C,1,1] op x");
    check_binary(&rng, 4, x16, 4, c16, 2, "x op const [1,16,1,1]");
    check_binary(&rng, 4, x4, 4, nc4, 0, "x op activation [N,C,1,1]");
    check_binary(&rng, 4, x4, 1, w3, 2, "x op const [W]");
    check_binary(&rng, 3, r3, 1, k16, 0, "[2,5,16] op [16]");
    check_binary(&rng, 1, k16, 3, r3, 0, "[16] op [2,5,16]");
    check_binary(&rng, 2, m2, 2, k1_17, 0, "[3,17] op [1,17]");
    check_binary(&rng, 3, ba, 3, bb, 0, "both broadcast [2,1,5] op [1,3,1]");
    check_binary(&rng, 6, s6a, 6, s6b, 0, "rank 6 both broadcast");
    check_binary(&rng, 1, big, 1, big, 0, "equal [65537]");

    /* variadic */
    tq_tensor a = mk(TFMQ_DTYPE_FLOAT32, 4, x4), b = mk(TFMQ_DTYPE_FLOAT32, 4, c4),
              c = mk(TFMQ_DTYPE_FLOAT32, 1, w3);
    fill_f32(&rng, &a, -3, 3);
    fill_f32(&rng, &b, -3, 3);
    fill_f32(&rng, &c, -3, 3);
    static const uint32_t vops[] = {TQ_OP_MAX, TQ_OP_MIN, TQ_OP_SUM, TQ_OP_MEAN};
    static const char *const vn[] = {"Max", "Min", "Sum", "Mean"};
    for (size_t i = 0; i < 4; i++) {
        char label[64];
        snprintf(label, sizeof(label), "%s of 3 broadcast", vn[i]);
        gcase gc = {.op = vops[i], .in = {&a, &b, &c}, .n_in = 3, .label = label};
        check_case(&gc);
        snprintf(label, sizeof(label), "%s of 1", vn[i]);
        gcase g1 = {.op = vops[i], .in = {&a}, .n_in = 1, .layouts = true, .label = label};
        check_case(&g1);
    }
    rm(&a);
    rm(&b);
    rm(&c);
}

/* ---- pools ---- */
typedef struct pool_geo {
    int64_t kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, ceil;
    const char *auto_pad;
} pool_geo;

static void check_pool(tq_rng *rng, uint32_t op, tfmq_dtype dt, const int64_t *xd,
                       const pool_geo *g, int64_t cip)
{
    tq_tensor x = mk(dt, 4, xd);
    if (dt == TFMQ_DTYPE_FLOAT32) {
        fill_f32(rng, &x, -10.0f, 10.0f);
    } else {
        fill_int(rng, &x, dt == TFMQ_DTYPE_INT8 ? -128 : 0, dt == TFMQ_DTYPE_INT8 ? 128 : 256);
    }
    const int64_t k[2] = {g->kh, g->kw}, s[2] = {g->sh, g->sw}, d[2] = {g->dh, g->dw};
    const int64_t pads[4] = {g->pt, g->pl, g->pb, g->pr};
    tq_attr attrs[7];
    int32_t na = 0;
    attrs[na++] = a_ints("kernel_shape", k, 2);
    attrs[na++] = a_ints("strides", s, 2);
    if (op == TQ_OP_MAX_POOL || g->dh != 1 || g->dw != 1) {
        attrs[na++] = a_ints("dilations", d, 2);
    }
    attrs[na++] = a_int("ceil_mode", g->ceil);
    if (g->auto_pad) {
        attrs[na++] = a_str("auto_pad", g->auto_pad);
    } else {
        attrs[na++] = a_ints("pads", pads, 4);
    }
    if (op == TQ_OP_AVERAGE_POOL) {
        attrs[na++] = a_int("count_include_pad", cip);
    }
    char label[200];
    snprintf(label, sizeof(label),
             "%s %s x[%lld,%lld,%lld,%lld] k%lldx%lld s%lldx%lld p%lld,%lld,%lld,%lld "
             "d%lldx%lld ceil%lld cip%lld %s",
             op == TQ_OP_MAX_POOL ? "MaxPool" : "AveragePool", tfmq_dtype_name(dt),
             (long long)xd[0], (long long)xd[1], (long long)xd[2], (long long)xd[3],
             (long long)g->kh, (long long)g->kw, (long long)g->sh, (long long)g->sw,
             (long long)g->pt, (long long)g->pl, (long long)g->pb, (long long)g->pr,
             (long long)g->dh, (long long)g->dw, (long long)g->ceil, (long long)cip,
             g->auto_pad ? g->auto_pad : "");
    gcase gc = {.op = op, .attrs = attrs, .n_attrs = na, .in = {&x}, .n_in = 1,
                .layouts = true, .label = label};
    check_case(&gc);
    rm(&x);
}

static void test_pool(tq_rng *unused)
{
    (void)unused;
    tq_rng rng = {0xC0DA0005u};
    static const pool_geo geos[] = {
        {3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, NULL},         {3, 3, 2, 2, 0, 0, 0, 0, 1, 1, 1, NULL},
        {2, 2, 2, 2, 0, 0, 0, 0, 1, 1, 0, NULL},         {3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, NULL},
        {2, 3, 1, 2, 0, 1, 1, 0, 2, 1, 0, NULL},         {1, 1, 2, 2, 0, 0, 0, 0, 1, 1, 1, NULL},
        {5, 5, 3, 3, 2, 2, 2, 2, 1, 1, 0, NULL},         {3, 3, 2, 2, 0, 0, 0, 0, 1, 1, 0, "SAME_UPPER"},
        {3, 2, 3, 1, 2, 0, 0, 1, 1, 2, 1, NULL},
    };
    static const int64_t shapes[][4] = {{1, 3, 9, 7}, {2, 17, 7, 9}, {1, 16, 8, 8}, {1, 1, 6, 5}};
    for (size_t gi = 0; gi < sizeof(geos) / sizeof(geos[0]); gi++) {
        for (size_t si = 0; si < sizeof(shapes) / sizeof(shapes[0]); si++) {
            const pool_geo *g = &geos[gi];
            if (shapes[si][2] + g->pt + g->pb < (g->kh - 1) * g->dh + 1 ||
                shapes[si][3] + g->pl + g->pr < (g->kw - 1) * g->dw + 1) {
                continue;
            }
            check_pool(&rng, TQ_OP_MAX_POOL, TFMQ_DTYPE_FLOAT32, shapes[si], g, 0);
            check_pool(&rng, TQ_OP_MAX_POOL, TFMQ_DTYPE_INT8, shapes[si], g, 0);
            check_pool(&rng, TQ_OP_MAX_POOL, TFMQ_DTYPE_UINT8, shapes[si], g, 0);
            if (g->dh == 1 && g->dw == 1) {
                check_pool(&rng, TQ_OP_AVERAGE_POOL, TFMQ_DTYPE_FLOAT32, shapes[si], g, 0);
                check_pool(&rng, TQ_OP_AVERAGE_POOL, TFMQ_DTYPE_FLOAT32, shapes[si], g, 1);
            }
        }
    }
    static const int64_t big[4] = {2, 64, 56, 56};
    check_pool(&rng, TQ_OP_MAX_POOL, TFMQ_DTYPE_FLOAT32, big, &geos[3], 0);
    check_pool(&rng, TQ_OP_MAX_POOL, TFMQ_DTYPE_INT8, big, &geos[3], 0);  /* 16 bytes a thread */
    check_pool(&rng, TQ_OP_MAX_POOL, TFMQ_DTYPE_UINT8, big, &geos[6], 0); /* in NHWC */
    check_pool(&rng, TQ_OP_AVERAGE_POOL, TFMQ_DTYPE_FLOAT32, big, &geos[0], 1);
    /* MaxPool with Indices: the host's */
    static const int64_t xd[4] = {1, 3, 6, 6}, k[2] = {2, 2};
    tq_tensor x = mk(TFMQ_DTYPE_FLOAT32, 4, xd);
    fill_f32(&rng, &x, -1.0f, 1.0f);
    tq_attr attrs[1] = {a_ints("kernel_shape", k, 2)};
    gcase gc = {.op = TQ_OP_MAX_POOL, .attrs = attrs, .n_attrs = 1, .in = {&x}, .n_in = 1,
                .n_out = 2, .not_taken = true, .label = "MaxPool with Indices"};
    check_case(&gc);
    rm(&x);
}

static void test_global_pool(tq_rng *unused)
{
    (void)unused;
    tq_rng rng = {0xC0DA0006u};
    static const int64_t shapes[][4] = {{2, 17, 7, 5}, {1, 3, 1, 1}, {1, 64, 7, 7},
                                        {2, 100, 3, 3}, {1, 1, 9, 9}, {1, 8, 112, 112}};
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        tq_tensor x = mk(TFMQ_DTYPE_FLOAT32, 4, shapes[i]);
        fill_f32(&rng, &x, -3.0f, 5.0f);
        char label[96];
        snprintf(label, sizeof(label), "GlobalAveragePool x[%lld,%lld,%lld,%lld]",
                 (long long)shapes[i][0], (long long)shapes[i][1], (long long)shapes[i][2],
                 (long long)shapes[i][3]);
        gcase gc = {.op = TQ_OP_GLOBAL_AVERAGE_POOL, .in = {&x}, .n_in = 1, .rtol = 1e-6,
                    .atol = 1e-7, .layouts = true, .label = label};
        check_case(&gc);
        memcpy(label, "GlobalMaxPool    ", 17);
        gcase gm = {.op = TQ_OP_GLOBAL_MAX_POOL, .in = {&x}, .n_in = 1, .layouts = true,
                    .label = label};
        check_case(&gm);
        rm(&x);
    }
}

/* ---- copies, Transpose, Concat, Slice, Gather ---- */
static void test_movement(tq_rng *unused)
{
    (void)unused;
    tq_rng rng = {0xC0DA0007u};
    static const int64_t d4[] = {2, 3, 4, 5};
    tq_tensor x = mk(TFMQ_DTYPE_FLOAT32, 4, d4);
    fill_f32(&rng, &x, -9, 9);
    static const int64_t shp[] = {6, 20}, ax0[] = {0}, ax2[] = {1, 3};
    tq_tensor ts = mk_i64(2, shp), ta0 = mk_i64(1, ax0), ta2 = mk_i64(2, ax2);
    gcase r = {.op = TQ_OP_RESHAPE, .in = {&x, &ts}, .n_in = 2, .const_mask = 2,
               .label = "Reshape [2,3,4,5] -> [6,20]"};
    check_case(&r);
    tq_attr fa[1] = {a_int("axis", 2)};
    gcase f = {.op = TQ_OP_FLATTEN, .attrs = fa, .n_attrs = 1, .in = {&x}, .n_in = 1,
               .label = "Flatten axis 2"};
    check_case(&f);
    gcase u = {.op = TQ_OP_UNSQUEEZE, .in = {&x, &ta0}, .n_in = 2, .const_mask = 2,
               .label = "Unsqueeze axes [0]"};
    check_case(&u);
    gcase id = {.op = TQ_OP_IDENTITY, .in = {&x}, .n_in = 1, .layouts = true, .label = "Identity"};
    check_case(&id);
    gcase dr = {.op = TQ_OP_DROPOUT, .in = {&x}, .n_in = 1, .label = "Dropout"};
    check_case(&dr);
    static const int64_t sq[] = {2, 1, 4, 1};
    tq_tensor xs = mk(TFMQ_DTYPE_FLOAT32, 4, sq);
    fill_f32(&rng, &xs, -9, 9);
    gcase s = {.op = TQ_OP_SQUEEZE, .in = {&xs, &ta2}, .n_in = 2, .const_mask = 2,
               .label = "Squeeze [2,1,4,1] axes [1,3]"};
    check_case(&s);

    /* Transpose */
    static const int64_t p2[] = {1, 0}, p3[] = {0, 2, 1}, p4a[] = {0, 2, 3, 1},
                         p4b[] = {3, 1, 0, 2}, p6[] = {4, 0, 5, 2, 1, 3}, p1[] = {0};
    static const int64_t t2[] = {37, 45}, t3[] = {3, 33, 65}, t6[] = {2, 3, 1, 4, 3, 5},
                         t1[] = {31};
    const struct {
        int32_t rank;
        const int64_t *dims, *perm;
        const char *label;
    } tr[] = {{2, t2, p2, "Transpose [37,45] perm [1,0]"},
              {3, t3, p3, "Transpose [3,33,65] perm [0,2,1]"},
              {4, d4, p4a, "Transpose [2,3,4,5] perm [0,2,3,1]"},
              {4, d4, p4b, "Transpose [2,3,4,5] perm [3,1,0,2]"},
              {6, t6, p6, "Transpose rank 6 perm [4,0,5,2,1,3]"},
              {1, t1, p1, "Transpose [31]"}};
    for (size_t i = 0; i < sizeof(tr) / sizeof(tr[0]); i++) {
        tq_tensor t = mk(TFMQ_DTYPE_FLOAT32, tr[i].rank, tr[i].dims);
        fill_f32(&rng, &t, -9, 9);
        tq_attr pa[1] = {a_ints("perm", tr[i].perm, (size_t)tr[i].rank)};
        gcase gc = {.op = TQ_OP_TRANSPOSE, .attrs = pa, .n_attrs = 1, .in = {&t}, .n_in = 1,
                    .label = tr[i].label};
        check_case(&gc);
        rm(&t);
    }
    tq_tensor ti = mk(TFMQ_DTYPE_INT64, 3, t3);
    fill_int(&rng, &ti, -1000000, 1000000);
    tq_attr pa3[1] = {a_ints("perm", p3, 3)};
    gcase gti = {.op = TQ_OP_TRANSPOSE, .attrs = pa3, .n_attrs = 1, .in = {&ti}, .n_in = 1,
                 .label = "Transpose int64 [3,33,65] perm [0,2,1]"};
    check_case(&gti);
    rm(&ti);

    /* Concat */
    static const int64_t ca[] = {2, 3, 4, 5}, cb[] = {2, 5, 4, 5}, cc[] = {2, 1, 4, 5},
                         c0[] = {1, 3, 4, 5}, r3a[] = {2, 3, 7}, r3b[] = {2, 3, 2};
    tq_tensor A = mk(TFMQ_DTYPE_FLOAT32, 4, ca), B = mk(TFMQ_DTYPE_FLOAT32, 4, cb),
              Cx = mk(TFMQ_DTYPE_FLOAT32, 4, cc), D = mk(TFMQ_DTYPE_FLOAT32, 4, c0);
    tq_tensor E = mk(TFMQ_DTYPE_FLOAT32, 3, r3a), F = mk(TFMQ_DTYPE_FLOAT32, 3, r3b);
    tq_tensor *all[] = {&A, &B, &Cx, &D, &E, &F};
    for (size_t i = 0; i < 6; i++) {
        fill_f32(&rng, all[i], -9, 9);
    }
    tq_attr c1[1] = {a_int("axis", 1)}, cz[1] = {a_int("axis", 0)}, cl[1] = {a_int("axis", -1)};
    gcase g1 = {.op = TQ_OP_CONCAT, .attrs = c1, .n_attrs = 1, .in = {&A, &B, &Cx}, .n_in = 3,
                .layouts = true, .label = "Concat axis 1 of 3"};
    check_case(&g1);
    gcase g0 = {.op = TQ_OP_CONCAT, .attrs = cz, .n_attrs = 1, .in = {&A, &D}, .n_in = 2,
                .layouts = true, .label = "Concat axis 0"};
    check_case(&g0);
    gcase gl = {.op = TQ_OP_CONCAT, .attrs = cl, .n_attrs = 1, .in = {&E, &F, &E}, .n_in = 3,
                .label = "Concat [2,3,7],[2,3,2] axis -1"};
    check_case(&gl);
    for (size_t i = 0; i < 6; i++) {
        rm(all[i]);
    }

    /* Slice (opset 13: inputs) */
    static const int64_t st1[] = {1, -1}, en1[] = {4, -100}, ax1[] = {2, 3}, sp1[] = {2, -2};
    static const int64_t st2[] = {0}, en2[] = {INT64_MAX}, ax2s[] = {1};
    tq_tensor s_st = mk_i64(2, st1), s_en = mk_i64(2, en1), s_ax = mk_i64(2, ax1),
              s_sp = mk_i64(2, sp1);
    gcase sl = {.op = TQ_OP_SLICE, .in = {&x, &s_st, &s_en, &s_ax, &s_sp}, .n_in = 5,
                .const_mask = 0x1E, .label = "Slice [2,3,4,5] axes 2,3 steps 2,-2"};
    check_case(&sl);
    tq_tensor s_st2 = mk_i64(1, st2), s_en2 = mk_i64(1, en2), s_ax2 = mk_i64(1, ax2s);
    gcase sl2 = {.op = TQ_OP_SLICE, .in = {&x, &s_st2, &s_en2, &s_ax2}, .n_in = 4,
                 .const_mask = 0xE, .label = "Slice axis 1 all"};
    check_case(&sl2);

    /* Gather */
    static const int64_t gd[] = {5, 4, 3}, i1[] = {3, -1, 0, 3}, gi2[] = {2, 2};
    tq_tensor gx = mk(TFMQ_DTYPE_FLOAT32, 3, gd);
    fill_f32(&rng, &gx, -9, 9);
    tq_tensor gidx = mk_i64(4, i1);
    tq_tensor g2 = mk(TFMQ_DTYPE_INT64, 2, gi2);
    ((int64_t *)g2.data)[0] = 1;
    ((int64_t *)g2.data)[1] = 0;
    ((int64_t *)g2.data)[2] = -2;
    ((int64_t *)g2.data)[3] = 3;
    tq_tensor gsc = mk(TFMQ_DTYPE_INT64, 0, NULL);
    *(int64_t *)gsc.data = 2;
    tq_attr gax1[1] = {a_int("axis", 1)};
    gcase ga = {.op = TQ_OP_GATHER, .in = {&gx, &gidx}, .n_in = 2, .const_mask = 2,
                .label = "Gather axis 0 [4] indices"};
    check_case(&ga);
    gcase gb = {.op = TQ_OP_GATHER, .attrs = gax1, .n_attrs = 1, .in = {&gx, &g2}, .n_in = 2,
                .const_mask = 2, .label = "Gather axis 1 [2,2] indices"};
    check_case(&gb);
    gcase gs = {.op = TQ_OP_GATHER, .attrs = gax1, .n_attrs = 1, .in = {&gx, &gsc}, .n_in = 2,
                .const_mask = 2, .label = "Gather axis 1 scalar index"};
    check_case(&gs);
    gcase gn = {.op = TQ_OP_GATHER, .in = {&gx, &gidx}, .n_in = 2, .const_mask = 0,
                .not_taken = true, .label = "Gather indices not constant"};
    check_case(&gn);

    tq_tensor *fr[] = {&x, &ts, &ta0, &ta2, &xs, &s_st, &s_en, &s_ax, &s_sp, &s_st2, &s_en2,
                       &s_ax2, &gx, &gidx, &g2, &gsc};
    for (size_t i = 0; i < sizeof(fr) / sizeof(fr[0]); i++) {
        rm(fr[i]);
    }
}

/* ---- Softmax, LayerNorm, Reduce ---- */
static void check_softmax(tq_rng *rng, uint32_t op, int32_t rank, const int64_t *dims,
                          int64_t axis, bool has_axis, int64_t opset, const char *label)
{
    tq_tensor x = mk(TFMQ_DTYPE_FLOAT32, rank, dims);
    fill_f32(rng, &x, -8.0f, 8.0f);
    tq_attr attrs[1] = {a_int("axis", axis)};
    gcase gc = {.op = op, .attrs = attrs, .n_attrs = has_axis ? 1 : 0, .opset = opset,
                .in = {&x}, .n_in = 1, .rtol = 1e-5, .atol = 1e-7, .label = label};
    check_case(&gc);
    rm(&x);
}

static void test_softmax(tq_rng *unused)
{
    (void)unused;
    tq_rng rng = {0xC0DA0008u};
    static const int64_t a[] = {1, 1000}, b[] = {3, 17}, c[] = {2, 3, 16}, d[] = {2, 5, 1},
                         e[] = {4, 1}, f[] = {2, 7, 33}, g[] = {64, 15}, h[] = {2, 5000};
    check_softmax(&rng, TQ_OP_SOFTMAX, 2, a, -1, true, 13, "Softmax [1,1000]");
    check_softmax(&rng, TQ_OP_SOFTMAX, 2, b, -1, false, 13, "Softmax [3,17] default axis");
    check_softmax(&rng, TQ_OP_SOFTMAX, 3, c, 2, true, 13, "Softmax [2,3,16] axis 2");
    check_softmax(&rng, TQ_OP_SOFTMAX, 3, d, 1, true, 13, "Softmax [2,5,1] axis 1");
    check_softmax(&rng, TQ_OP_SOFTMAX, 2, e, -1, true, 13, "Softmax [4,1]");
    check_softmax(&rng, TQ_OP_SOFTMAX, 3, f, 1, true, 13, "Softmax [2,7,33] axis 1");
    check_softmax(&rng, TQ_OP_SOFTMAX, 2, g, 1, true, 11, "Softmax-11 [64,15] axis 1");
    check_softmax(&rng, TQ_OP_SOFTMAX, 3, f, 1, false, 11, "Softmax-11 [2,7,33] default axis");
    check_softmax(&rng, TQ_OP_SOFTMAX, 2, h, -1, true, 13, "Softmax [2,5000] (block rows)");
    check_softmax(&rng, TQ_OP_LOG_SOFTMAX, 3, f, -1, true, 13, "LogSoftmax [2,7,33]");
    check_softmax(&rng, TQ_OP_LOG_SOFTMAX, 3, f, 0, true, 13, "LogSoftmax [2,7,33] axis 0");
}

static void check_ln(tq_rng *rng, int32_t rank, const int64_t *dims, int32_t srank, bool bias,
                     int64_t axis, float eps, const char *label)
{
    tq_tensor x = mk(TFMQ_DTYPE_FLOAT32, rank, dims);
    int64_t sd[2] = {1, dims[rank - 1]};
    tq_tensor s = mk(TFMQ_DTYPE_FLOAT32, srank, srank == 2 ? sd : sd + 1);
    tq_tensor b = mk(TFMQ_DTYPE_FLOAT32, 1, sd + 1);
    fill_f32(rng, &x, -2.0f, 3.0f);
    fill_f32(rng, &s, 0.5f, 1.5f);
    fill_f32(rng, &b, -1.0f, 1.0f);
    tq_attr attrs[2] = {a_int("axis", axis), a_f("epsilon", eps)};
    gcase gc = {.op = TQ_OP_LAYER_NORM, .attrs = attrs, .n_attrs = 2, .in = {&x, &s, &b},
                .n_in = bias ? 3 : 2, .const_mask = 6, .rtol = 1e-5, .atol = 1e-6,
                .label = label};
    check_case(&gc);
    rm(&x);
    rm(&s);
    rm(&b);
}

static void test_layer_norm(tq_rng *unused)
{
    (void)unused;
    tq_rng rng = {0xC0DA0009u};
    static const int64_t a[] = {2, 5, 17}, b[] = {4, 16}, c[] = {3, 1000}, d[] = {1, 1},
                         e[] = {2, 3, 4, 15}, f[] = {2, 4096};
    check_ln(&rng, 3, a, 1, true, -1, 1e-5f, "LayerNorm [2,5,17]");
    check_ln(&rng, 2, b, 1, false, -1, 1e-5f, "LayerNorm [4,16] no bias");
    check_ln(&rng, 2, c, 2, true, 1, 1e-3f, "LayerNorm [3,1000] scale [1,K]");
    check_ln(&rng, 2, d, 1, true, -1, 1e-5f, "LayerNorm [1,1]");
    check_ln(&rng, 4, e, 1, true, -1, 1e-5f, "LayerNorm [2,3,4,15]");
    check_ln(&rng, 2, f, 1, true, -1, 1e-5f, "LayerNorm [2,4096] (block rows)");
}

static void check_reduce(tq_rng *rng, uint32_t op, int32_t rank, const int64_t *dims,
                         const int64_t *axes, size_t n_axes, int64_t keep, const char *label)
{
    tq_tensor x = mk(TFMQ_DTYPE_FLOAT32, rank, dims);
    fill_f32(rng, &x, -4.0f, 6.0f);
    tq_attr attrs[2] = {a_int("keepdims", keep), a_ints("axes", axes, n_axes)};
    gcase gc = {.op = op, .attrs = attrs, .n_attrs = n_axes ? 2 : 1, .opset = 13, .in = {&x},
                .n_in = 1, .rtol = 1e-5, .atol = 1e-6, .label = label};
    if (op == TQ_OP_REDUCE_SUM) {
        /* opset 13 ReduceSum: axes as an input */
        static tq_tensor ta;
        ta = mk_i64((int32_t)n_axes, axes);
        gc.in[1] = &ta;
        gc.n_in = n_axes ? 2 : 1;
        gc.n_attrs = 1;
        gc.const_mask = 2;
        check_case(&gc);
        rm(&ta);
    } else {
        check_case(&gc);
    }
    rm(&x);
}

static void test_reduce(tq_rng *unused)
{
    (void)unused;
    tq_rng rng = {0xC0DA000Au};
    static const int64_t d4[] = {2, 17, 9, 11}, d3[] = {3, 70, 5}, d2[] = {1, 3000};
    static const int64_t a1[] = {1}, a23[] = {2, 3}, a0[] = {0}, am1[] = {-1}, a02[] = {0, 2};
    static const uint32_t ops[] = {TQ_OP_REDUCE_MEAN, TQ_OP_REDUCE_SUM, TQ_OP_REDUCE_MAX,
                                   TQ_OP_REDUCE_MIN};
    static const char *const names[] = {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin"};
    for (size_t i = 0; i < 4; i++) {
        char l[96];
        snprintf(l, sizeof(l), "%s [2,17,9,11] axes [1]", names[i]);
        check_reduce(&rng, ops[i], 4, d4, a1, 1, 1, l);
        snprintf(l, sizeof(l), "%s [2,17,9,11] axes [2,3]", names[i]);
        check_reduce(&rng, ops[i], 4, d4, a23, 2, 1, l);
        snprintf(l, sizeof(l), "%s [2,17,9,11] all axes keepdims 0", names[i]);
        check_reduce(&rng, ops[i], 4, d4, NULL, 0, 0, l);
        snprintf(l, sizeof(l), "%s [3,70,5] axes [0,2]", names[i]);
        check_reduce(&rng, ops[i], 3, d3, a02, 2, 0, l);
        snprintf(l, sizeof(l), "%s [3,70,5] axes [0]", names[i]);
        check_reduce(&rng, ops[i], 3, d3, a0, 1, 1, l);
        snprintf(l, sizeof(l), "%s [1,3000] axes [-1]", names[i]);
        check_reduce(&rng, ops[i], 2, d2, am1, 1, 1, l);
    }
}

/* ---- BatchNorm, Cast, Q/DQ ---- */
static void test_batchnorm(tq_rng *unused)
{
    (void)unused;
    tq_rng rng = {0xC0DA000Bu};
    static const int64_t d4[] = {2, 17, 5, 3}, d2[] = {4, 7}, d16[] = {1, 16, 3, 3};
    const int64_t *shapes[] = {d4, d2, d16};
    const int32_t ranks[] = {4, 2, 4};
    for (size_t i = 0; i < 3; i++) {
        tq_tensor x = mk(TFMQ_DTYPE_FLOAT32, ranks[i], shapes[i]);
        const int64_t c[1] = {shapes[i][1]};
        tq_tensor s = mk(TFMQ_DTYPE_FLOAT32, 1, c), b = mk(TFMQ_DTYPE_FLOAT32, 1, c),
                  m = mk(TFMQ_DTYPE_FLOAT32, 1, c), v = mk(TFMQ_DTYPE_FLOAT32, 1, c);
        fill_f32(&rng, &x, -3, 3);
        fill_f32(&rng, &s, 0.5f, 2.0f);
        fill_f32(&rng, &b, -1, 1);
        fill_f32(&rng, &m, -1, 1);
        fill_f32(&rng, &v, 0.1f, 2.0f);
        tq_attr attrs[1] = {a_f("epsilon", 1e-3f)};
        gcase gc = {.op = TQ_OP_BATCH_NORM, .attrs = attrs, .n_attrs = 1,
                    .in = {&x, &s, &b, &m, &v}, .n_in = 5, .const_mask = 0x1E, .rtol = 1e-6,
                    .atol = 1e-7, .layouts = true, .label = "BatchNormalization"};
        check_case(&gc);
        rm(&x);
        rm(&s);
        rm(&b);
        rm(&m);
        rm(&v);
    }
}

static void check_cast(tq_rng *rng, tfmq_dtype from, tfmq_dtype to, float lo, float hi,
                       const char *label)
{
    static const int64_t d[] = {2, 3, 7, 5};
    tq_tensor x = mk(from, 4, d);
    if (from == TFMQ_DTYPE_FLOAT32) {
        fill_f32(rng, &x, lo, hi);
        ((float *)x.data)[3] = 2.5f;
        ((float *)x.data)[4] = -2.5f;
    } else {
        fill_int(rng, &x, (int64_t)lo, (int64_t)hi);
    }
    tq_attr attrs[1] = {a_int("to", (int64_t)to)};
    gcase gc = {.op = TQ_OP_CAST, .attrs = attrs, .n_attrs = 1, .in = {&x}, .n_in = 1,
                .layouts = true, .label = label};
    check_case(&gc);
    rm(&x);
}

static void test_cast(tq_rng *unused)
{
    (void)unused;
    tq_rng rng = {0xC0DA000Cu};
    check_cast(&rng, TFMQ_DTYPE_FLOAT32, TFMQ_DTYPE_INT32, -1000, 1000, "Cast f32 -> i32");
    check_cast(&rng, TFMQ_DTYPE_FLOAT32, TFMQ_DTYPE_INT64, -1000, 1000, "Cast f32 -> i64");
    check_cast(&rng, TFMQ_DTYPE_FLOAT32, TFMQ_DTYPE_UINT8, -300, 300, "Cast f32 -> u8 saturating");
    check_cast(&rng, TFMQ_DTYPE_FLOAT32, TFMQ_DTYPE_INT8, -300, 300, "Cast f32 -> i8 saturating");
    check_cast(&rng, TFMQ_DTYPE_FLOAT32, TFMQ_DTYPE_BOOL, -2, 2, "Cast f32 -> bool");
    check_cast(&rng, TFMQ_DTYPE_FLOAT32, TFMQ_DTYPE_FLOAT16, -100, 100, "Cast f32 -> f16");
    check_cast(&rng, TFMQ_DTYPE_INT64, TFMQ_DTYPE_FLOAT32, -100000, 100000, "Cast i64 -> f32");
    check_cast(&rng, TFMQ_DTYPE_UINT8, TFMQ_DTYPE_FLOAT32, 0, 256, "Cast u8 -> f32");
    check_cast(&rng, TFMQ_DTYPE_INT32, TFMQ_DTYPE_INT8, -100000, 100000, "Cast i32 -> i8 wraps");
    check_cast(&rng, TFMQ_DTYPE_INT64, TFMQ_DTYPE_INT32, -100000, 100000, "Cast i64 -> i32");
    check_cast(&rng, TFMQ_DTYPE_INT8, TFMQ_DTYPE_BOOL, -3, 3, "Cast i8 -> bool");
}

/* QuantizeLinear per tensor of x with scale s: to uint8 with zero point zu, to int8 with zi
 * (both layouts), and without a zero point. */
static void check_quant_per_tensor(tq_tensor *x, tq_tensor *s, tq_tensor *zu, tq_tensor *zi,
                                   const char *what)
{
    char l1[96], l2[96], l3[96];
    snprintf(l1, sizeof(l1), "Q u8 per tensor, %s", what);
    snprintf(l2, sizeof(l2), "Q s8 per tensor, %s", what);
    snprintf(l3, sizeof(l3), "Q no zero point, %s", what);
    gcase q1 = {.op = TQ_OP_QUANTIZE_LINEAR, .in = {x, s, zu}, .n_in = 3, .const_mask = 6,
                .layouts = true, .to_nhwc = true, .label = l1};
    check_case(&q1);
    gcase q2 = {.op = TQ_OP_QUANTIZE_LINEAR, .in = {x, s, zi}, .n_in = 3, .const_mask = 6,
                .layouts = true, .to_nhwc = true, .label = l2};
    check_case(&q2);
    gcase q3 = {.op = TQ_OP_QUANTIZE_LINEAR, .in = {x, s}, .n_in = 2, .const_mask = 2,
                .label = l3};
    check_case(&q3);
}

static void test_qdq(tq_rng *unused)
{
    (void)unused;
    tq_rng rng = {0xC0DA000Du};
    static const int64_t d4[] = {2, 3, 5, 7}, d17[] = {17}, c3[] = {3};
    /* per tensor, with exact ties (k + 0.5) * scale */
    tq_tensor x = mk(TFMQ_DTYPE_FLOAT32, 4, d4);
    fill_f32(&rng, &x, -40.0f, 40.0f);
    float *px = x.data;
    for (size_t i = 0; i < tq_tensor_numel(&x); i += 3) {
        px[i] = ((float)((int)tq_rng_below(&rng, 400) - 200) + 0.5f) * 0.25f;
    }
    tq_tensor s = mk_f32_scalar(0.25f);
    tq_tensor zu = mk(TFMQ_DTYPE_UINT8, 0, NULL), zi = mk(TFMQ_DTYPE_INT8, 0, NULL);
    *(uint8_t *)zu.data = 128;
    *(int8_t *)zi.data = -3;
    check_quant_per_tensor(&x, &s, &zu, &zi, "ties, 210 elements");
    /* per tensor with a multiple of 4 elements: the 4-per-thread float kernel (quant_vec4_k),
     * with ties, NaN, infinities, values past 2^23 steps and just inside the range */
    static const int64_t d8[] = {2, 4, 6, 8};
    tq_tensor x8 = mk(TFMQ_DTYPE_FLOAT32, 4, d8);
    fill_f32(&rng, &x8, -40.0f, 40.0f);
    float *p8 = x8.data;
    static const float specials[] = {NAN, INFINITY, -INFINITY, 1e30f, -1e30f, 2097152.25f,
                                     -2097152.5f, 31.875f, -32.125f, 0.125f, -0.125f, 0.375f};
    for (size_t i = 0; i < sizeof(specials) / sizeof(specials[0]); i++) {
        p8[i * 29 % 384] = specials[i];
    }
    for (size_t i = 1; i < tq_tensor_numel(&x8); i += 5) {
        p8[i] = ((float)((int)tq_rng_below(&rng, 400) - 200) + 0.5f) * 0.25f;
    }
    check_quant_per_tensor(&x8, &s, &zu, &zi, "4 per thread, specials");
    /* an RGB input: 3 channels, H * W % 4 == 0 (the 4-pixel NCHW -> NHWC kernel, C = 3) */
    static const int64_t drgb[] = {2, 3, 4, 6};
    tq_tensor x3 = mk(TFMQ_DTYPE_FLOAT32, 4, drgb);
    fill_f32(&rng, &x3, -40.0f, 40.0f);
    float *p3 = x3.data;
    for (size_t i = 0; i < sizeof(specials) / sizeof(specials[0]); i++) {
        p3[i * 13 % 144] = specials[i];
    }
    check_quant_per_tensor(&x3, &s, &zu, &zi, "RGB, 4 pixels per thread");
    rm(&x3);
    /* per axis (axis 1) */
    tq_tensor sa = mk(TFMQ_DTYPE_FLOAT32, 1, c3), za = mk(TFMQ_DTYPE_INT8, 1, c3);
    fill_f32(&rng, &sa, 0.1f, 0.5f);
    fill_int(&rng, &za, -5, 5);
    gcase q4 = {.op = TQ_OP_QUANTIZE_LINEAR, .in = {&x, &sa, &za}, .n_in = 3, .const_mask = 6,
                .layouts = true, .label = "Q s8 per axis 1"};
    check_case(&q4);
    /* dequantize */
    tq_tensor xq = mk(TFMQ_DTYPE_INT8, 4, d4), xu = mk(TFMQ_DTYPE_UINT8, 1, d17);
    tq_tensor xi = mk(TFMQ_DTYPE_INT32, 1, d17);
    fill_int(&rng, &xq, -128, 128);
    fill_int(&rng, &xu, 0, 256);
    fill_int(&rng, &xi, -100000, 100000);
    tq_tensor s2 = mk_f32_scalar(0.031f);
    gcase d1 = {.op = TQ_OP_DEQUANTIZE_LINEAR, .in = {&xq, &s2, &zi}, .n_in = 3, .const_mask = 6,
                .layouts = true, .label = "DQ s8 per tensor"};
    check_case(&d1);
    gcase d2 = {.op = TQ_OP_DEQUANTIZE_LINEAR, .in = {&xu, &s2, &zu}, .n_in = 3, .const_mask = 6,
                .label = "DQ u8 [17]"};
    check_case(&d2);
    gcase d3 = {.op = TQ_OP_DEQUANTIZE_LINEAR, .in = {&xi, &s2}, .n_in = 2, .const_mask = 2,
                .label = "DQ i32 no zero point"};
    check_case(&d3);
    gcase d4c = {.op = TQ_OP_DEQUANTIZE_LINEAR, .in = {&xq, &sa, &za}, .n_in = 3,
                 .const_mask = 6, .layouts = true, .label = "DQ s8 per axis 1"};
    check_case(&d4c);
    /* per tensor with a multiple of 4 elements: 4 per thread (dequant_vec4_k) */
    tq_tensor xq8 = mk(TFMQ_DTYPE_INT8, 4, d8), xu8 = mk(TFMQ_DTYPE_UINT8, 4, d8);
    fill_int(&rng, &xq8, -128, 128);
    fill_int(&rng, &xu8, 0, 256);
    gcase d5 = {.op = TQ_OP_DEQUANTIZE_LINEAR, .in = {&xq8, &s2, &zi}, .n_in = 3,
                .const_mask = 6, .layouts = true, .label = "DQ s8 per tensor, 4 per thread"};
    check_case(&d5);
    gcase d6 = {.op = TQ_OP_DEQUANTIZE_LINEAR, .in = {&xu8, &s2, &zu}, .n_in = 3,
                .const_mask = 6, .layouts = true, .label = "DQ u8 per tensor, 4 per thread"};
    check_case(&d6);
    rm(&xq8);
    rm(&xu8);
    tq_tensor *fr[] = {&x, &x8, &s, &zu, &zi, &sa, &za, &xq, &xu, &xi, &s2};
    for (size_t i = 0; i < sizeof(fr) / sizeof(fr[0]); i++) {
        rm(fr[i]);
    }
}

static void test_summary(tq_rng *unused)
{
    (void)unused;
    TQ_EXPECT(g_runs > 0, "no kernel ran");
    printf("test_cuda_kernels: %d kernel runs checked on %s\n", g_runs, g_dev.name);
}

int main(int argc, char **argv)
{
    char why[256];
    int n_dev = 0;
    if (tq_cuda_dev_probe(&n_dev, why, sizeof(why)) != TFMQ_OK) {
        printf("test_cuda_kernels: SKIP: %s\n", why);
        return 77;
    }
    if (tq_cuda_dev_open(0, &g_dev) != TFMQ_OK) {
        printf("test_cuda_kernels: SKIP: %s\n", tfmq_last_error());
        return 77;
    }
    tq_test_begin(argc, argv);
    TQ_RUN(test_services);
    TQ_RUN(test_unary);
    TQ_RUN(test_clip);
    TQ_RUN(test_binary);
    TQ_RUN(test_pool);
    TQ_RUN(test_global_pool);
    TQ_RUN(test_movement);
    TQ_RUN(test_softmax);
    TQ_RUN(test_layer_norm);
    TQ_RUN(test_reduce);
    TQ_RUN(test_batchnorm);
    TQ_RUN(test_cast);
    TQ_RUN(test_qdq);
    TQ_RUN(test_summary);
    const int rc = tq_test_end();
    tq_cuda_dev_close(&g_dev);
    return rc;
}
