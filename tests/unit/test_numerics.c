/* test_numerics.c: numeric edge cases that must never crash and must follow IEEE 754 / the ONNX
 * reference implementation (numpy semantics): NaN and Inf through single ops (Relu, Max, Softmax,
 * Conv, MatMul) and through the bundled model in FP32 and INT8; saturation (never wrap-around) in
 * QuantizeLinear and the integer kernels tfmq.QGemm / QConv / QAdd for values far outside the
 * range; empty tensors (a zero dim) through Concat, Slice, Reshape, MatMul (K = 0 gives zeros),
 * Relu, Softmax, Conv, ReduceSum and the bundled model with batch 0: each works or fails with a
 * clear status. Single ops run through shape inference and the reference kernels. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/cpu.h"
#include "backends/ref/qlinear.h"
#include "harness.h"
#include "ir/ir.h"
#include "tfmq.h"

static char g_model[4200];

static void find_model(void)
{
    char root[4096];
    snprintf(root, sizeof(root), "%s", __FILE__);
    char *p = strstr(root, "/tests/unit/");
    if (p) {
        *p = '\0';
    } else {
        snprintf(root, sizeof(root), ".");
    }
    snprintf(g_model, sizeof(g_model), "%s/models/fashion_mnist_cnn.onnx", root);
}

/* ---- single nodes: tensors owned by the test ---- */
static tq_tensor mk(tfmq_dtype dt, int32_t rank, const int64_t *dims)
{
    tq_tensor t;
    memset(&t, 0, sizeof(t));
    t.dtype = dt;
    t.rank = rank;
    size_t n = 1;
    for (int32_t i = 0; i < rank; i++) {
        t.dims[i] = dims[i];
        n *= (size_t)dims[i];
    }
    t.data = calloc(n ? n : 1, 8);
    return t;
}

static tq_tensor mk_f32s(int32_t rank, const int64_t *dims, const float *v)
{
    tq_tensor t = mk(TFMQ_DTYPE_FLOAT32, rank, dims);
    size_t n = tq_tensor_numel(&t);
    if (v) {
        memcpy(t.data, v, n * sizeof(float));
    }
    return t;
}

static tq_tensor mk_f32(float v)
{
    return mk_f32s(0, NULL, &v);
}

static tq_tensor mk_i64s(size_t n, const int64_t *v)
{
    const int64_t d[1] = {(int64_t)n};
    tq_tensor t = mk(TFMQ_DTYPE_INT64, 1, d);
    memcpy(t.data, v, n * sizeof(int64_t));
    return t;
}

static tq_tensor mk_q8(tfmq_dtype dt, int32_t v)
{
    tq_tensor t = mk(dt, 0, NULL);
    if (dt == TFMQ_DTYPE_INT8) {
        *(int8_t *)t.data = (int8_t)v;
    } else {
        *(uint8_t *)t.data = (uint8_t)v;
    }
    return t;
}

static tq_attr a_int(const char *name, int64_t v)
{
    tq_attr a;
    memset(&a, 0, sizeof(a));
    a.name = name;
    a.type = TQ_ATTR_INT;
    a.i = v;
    return a;
}

/* Run one node: infer the output, allocate it (exact size), run the reference kernel.
 * out->data is malloc'd (free it) when the status is OK. */
static tfmq_status run_node(uint32_t op, tq_attr *attrs, int32_t n_attrs, tq_tensor **ins,
                            int32_t n_in, tq_tensor *out)
{
    tq_node node;
    memset(&node, 0, sizeof(node));
    node.op = op;
    node.name = "t";
    node.n_in = n_in;
    node.n_out = 1;
    node.attrs = attrs;
    node.n_attrs = n_attrs;
    tq_op_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.node = &node;
    ctx.n_in = n_in;
    ctx.n_out = 1;
    ctx.opset = 17;
    for (int32_t i = 0; i < n_in; i++) {
        ctx.in[i] = ins[i];
    }
    memset(out, 0, sizeof(*out));
    out->rank = -1;
    ctx.out[0] = out;
    tfmq_status st = tq_infer_table[op](&ctx);
    if (st != TFMQ_OK) {
        return st;
    }
    size_t bytes = 0;
    if (!tq_tensor_shape_known(out) || !tq_tensor_bytes(out, &bytes)) {
        return tq_fail(TFMQ_ERR_INTERNAL, "test: output shape unknown");
    }
    /* exact size: ASan catches a kernel writing past the end */
    out->data = malloc(bytes ? bytes : 1);
    void *scratch = ctx.scratch_bytes ? malloc(ctx.scratch_bytes) : NULL;
    ctx.scratch = scratch;
    st = tq_ref_table[op](&ctx);
    free(scratch);
    if (st != TFMQ_OK) {
        free(out->data);
        out->data = NULL;
    }
    return st;
}

static const char *fstr(float v, char *buf, size_t n)
{
    snprintf(buf, n, "%g", (double)v);
    return buf;
}

/* bit-level class equality: NaN matches any NaN, otherwise exact (with the sign of infinities) */
static bool same_f(float got, float want)
{
    return (isnan(got) && isnan(want)) || got == want;
}

#define EXPECT_F(got, want, ...)                                                                   \
    do {                                                                                           \
        char b1_[32], b2_[32], ctx_[160];                                                          \
        snprintf(ctx_, sizeof(ctx_), __VA_ARGS__);                                                 \
        if (!same_f((got), (want))) {                                                              \
            tq_test_failf(__FILE__, __LINE__, "%s: got %s, expected %s", ctx_,                     \
                          fstr((got), b1_, sizeof(b1_)), fstr((want), b2_, sizeof(b2_)));          \
        }                                                                                          \
    } while (0)

static void free_all(tq_tensor **ts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (ts[i]) {
            free(ts[i]->data);
            ts[i]->data = NULL;
        }
    }
}

/* ---- NaN and Inf through single ops ---- */
static void test_nan_inf_ops(tq_rng *rng)
{
    (void)rng;
    const float inf = INFINITY, nan = NAN;
    int n_cases = 0;
    /* Relu: max(x, 0) as numpy: NaN stays NaN, +Inf stays, -Inf -> 0 */
    {
        const float xv[6] = {nan, inf, -inf, -1.0f, 2.0f, -FLT_MAX};
        const float want[6] = {nan, inf, 0.0f, 0.0f, 2.0f, 0.0f};
        const int64_t d[1] = {6};
        tq_tensor x = mk_f32s(1, d, xv), y;
        tq_tensor *ins[1] = {&x};
        TQ_EXPECT_OK(run_node(TQ_OP_RELU, NULL, 0, ins, 1, &y));
        for (int i = 0; i < 6 && y.data; i++) {
            EXPECT_F(((float *)y.data)[i], want[i], "Relu[%d]", i);
        }
        free(y.data);
        free(x.data);
        n_cases += 6;
    }
    /* Max (np.maximum): NaN in either input propagates */
    {
        const float av[6] = {nan, 1.0f, inf, -inf, nan, -inf};
        const float bv[6] = {1.0f, nan, nan, 3.0f, -inf, -inf};
        const float want[6] = {nan, nan, nan, 3.0f, nan, -inf};
        const int64_t d[1] = {6};
        tq_tensor a = mk_f32s(1, d, av), b = mk_f32s(1, d, bv), y;
        tq_tensor *ins[2] = {&a, &b};
        TQ_EXPECT_OK(run_node(TQ_OP_MAX, NULL, 0, ins, 2, &y));
        for (int i = 0; i < 6 && y.data; i++) {
            EXPECT_F(((float *)y.data)[i], want[i], "Max[%d] (%g, %g)", i, (double)av[i],
                     (double)bv[i]);
        }
        free(y.data);
        free(a.data);
        free(b.data);
        n_cases += 6;
    }
    /* Softmax over rows of 3 (the ONNX reference: exp(x - max) / sum) */
    {
        const float xv[7][3] = {
            {1.0f, 2.0f, nan},        /* NaN poisons its row */
            {inf, 1.0f, 2.0f},        /* inf - inf = NaN: the whole row */
            {-inf, 0.0f, 0.0f},       /* -Inf has probability 0 */
            {1e30f, 1e30f, -1e30f},   /* no overflow: the max is subtracted */
            {88.8f, 0.0f, 0.0f},      /* exp(88.8) overflows float without subtraction */
            {-inf, -inf, -inf},       /* max = -Inf: -Inf - -Inf = NaN */
            {-FLT_MAX, FLT_MAX, 0.0f} /* x - max = -Inf for the first: 0, no NaN */
        };
        const float want[7][3] = {{nan, nan, nan},   {nan, nan, nan},    {0.0f, 0.5f, 0.5f},
                                  {0.5f, 0.5f, 0.0f}, {1.0f, 0.0f, 0.0f}, {nan, nan, nan},
                                  {0.0f, 1.0f, 0.0f}};
        const int64_t d[2] = {7, 3};
        tq_tensor x = mk_f32s(2, d, &xv[0][0]), y;
        tq_tensor *ins[1] = {&x};
        tq_attr ax[1] = {a_int("axis", -1)};
        TQ_EXPECT_OK(run_node(TQ_OP_SOFTMAX, ax, 1, ins, 1, &y));
        for (int r = 0; r < 7 && y.data; r++) {
            for (int c = 0; c < 3; c++) {
                float got = ((float *)y.data)[r * 3 + c];
                /* 88.8 row: 1/(1+2e-39) is 1 in float; allow the tiny ones to be denormal */
                if (r == 4 && c > 0) {
                    TQ_EXPECT(got >= 0.0f && got < 1e-37f, "Softmax row 4 [%d]: %g", c,
                              (double)got);
                    continue;
                }
                EXPECT_F(got, want[r][c], "Softmax row %d [%d]", r, c);
            }
        }
        free(y.data);
        free(x.data);
        n_cases += 7;
    }
    /* Conv 3x3 over 4x4 (weights 1): a NaN at (0,0) reaches only y(0,0); +Inf at (3,3) makes
     * y(1,1) +Inf; +Inf and -Inf in one window (at (0,3) and (2,3)) make y(0,1) NaN */
    {
        float xv[16];
        for (int i = 0; i < 16; i++) {
            xv[i] = (float)i * 0.25f;
        }
        xv[0] = nan;
        xv[15] = inf;
        xv[3] = inf;
        xv[11] = -inf;
        float wv[9];
        for (int i = 0; i < 9; i++) {
            wv[i] = 1.0f;
        }
        const int64_t xd[4] = {1, 1, 4, 4}, wd[4] = {1, 1, 3, 3};
        tq_tensor x = mk_f32s(4, xd, xv), w = mk_f32s(4, wd, wv), y;
        tq_tensor *ins[2] = {&x, &w};
        TQ_EXPECT_OK(run_node(TQ_OP_CONV, NULL, 0, ins, 2, &y));
        if (y.data) {
            const float *yv = y.data;
            TQ_EXPECT(y.rank == 4 && y.dims[2] == 2 && y.dims[3] == 2, "conv shape");
            EXPECT_F(yv[0], nan, "Conv y(0,0) sees the NaN");
            EXPECT_F(yv[1], nan, "Conv y(0,1) sees +Inf and -Inf");
            TQ_EXPECT(isfinite(yv[2]), "Conv y(1,0) sees no NaN or Inf: got %g", (double)yv[2]);
            EXPECT_F(yv[3], nan, "Conv y(1,1) sees +Inf (3,3) and -Inf (2,3)");
        }
        free(y.data);
        /* a clean window: +Inf alone gives +Inf, and a zero weight on +Inf gives NaN */
        for (int i = 0; i < 16; i++) {
            xv[i] = 1.0f;
        }
        xv[15] = inf;
        memcpy(x.data, xv, sizeof(xv));
        TQ_EXPECT_OK(run_node(TQ_OP_CONV, NULL, 0, ins, 2, &y));
        if (y.data) {
            EXPECT_F(((float *)y.data)[3], inf, "Conv: +Inf in the window");
            EXPECT_F(((float *)y.data)[0], 9.0f, "Conv: clean window");
        }
        free(y.data);
        ((float *)w.data)[8] = 0.0f;
        TQ_EXPECT_OK(run_node(TQ_OP_CONV, NULL, 0, ins, 2, &y));
        if (y.data) {
            EXPECT_F(((float *)y.data)[3], nan, "Conv: 0 * Inf = NaN");
        }
        free(y.data);
        free(x.data);
        free(w.data);
        n_cases += 7;
    }
    /* MatMul: NaN in a row of A poisons that row only; Inf * 0 = NaN */
    {
        const float av[4] = {nan, 1.0f, 2.0f, 3.0f};  /* [2,2] */
        const float bv[4] = {1.0f, 0.0f, 0.0f, 1.0f}; /* identity */
        const int64_t d[2] = {2, 2};
        tq_tensor a = mk_f32s(2, d, av), b = mk_f32s(2, d, bv), y;
        tq_tensor *ins[2] = {&a, &b};
        TQ_EXPECT_OK(run_node(TQ_OP_MATMUL, NULL, 0, ins, 2, &y));
        if (y.data) {
            const float *yv = y.data;
            EXPECT_F(yv[0], nan, "MatMul [0,0]");
            EXPECT_F(yv[1], nan, "MatMul [0,1] (NaN * 0)");
            EXPECT_F(yv[2], 2.0f, "MatMul [1,0]");
            EXPECT_F(yv[3], 3.0f, "MatMul [1,1]");
        }
        free(y.data);
        free(a.data);
        free(b.data);
        n_cases += 4;
    }
    printf("numerics: %d NaN/Inf single-op cases\n", n_cases);
}

/* ---- the bundled model, FP32 and INT8, with NaN / Inf / huge inputs: never a crash ---- */
typedef struct calib_src {
    int64_t dims[4];
    float buf[28 * 28];
} calib_src;

static tfmq_status calib_batch(void *ud, size_t batch_index, tfmq_tensor *inputs, size_t n_inputs,
                               bool *done)
{
    calib_src *s = ud;
    if (n_inputs != 1) {
        return TFMQ_ERR_INVALID_ARG;
    }
    if (batch_index >= 4) {
        *done = true;
        return TFMQ_OK;
    }
    tq_rng r = {99 + batch_index};
    for (size_t i = 0; i < 28 * 28; i++) {
        s->buf[i] = tq_rng_uniform(&r, 0.0f, 1.0f);
    }
    s->dims[0] = 1;
    s->dims[1] = 1;
    s->dims[2] = 28;
    s->dims[3] = 28;
    inputs[0].dtype = TFMQ_DTYPE_FLOAT32;
    inputs[0].rank = 4;
    inputs[0].dims = s->dims;
    inputs[0].data = s->buf;
    inputs[0].data_bytes = sizeof(s->buf);
    return TFMQ_OK;
}

static tfmq_status run_model(tfmq_session *s, const float *x, int64_t batch, float *y)
{
    const int64_t dims[4] = {batch, 1, 28, 28};
    tfmq_tensor in = {"input", TFMQ_DTYPE_FLOAT32, 4, dims, (void *)(uintptr_t)x,
                      (size_t)batch * 28 * 28 * sizeof(float)};
    tfmq_tensor out = {"logits", TFMQ_DTYPE_UNDEFINED, 0, NULL, y,
                       (size_t)(batch ? batch : 1) * 10 * sizeof(float)};
    return tfmq_session_run(s, &in, 1, &out, 1);
}

static size_t count_nan(const float *y, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        k += isnan(y[i]) != 0;
    }
    return k;
}

static void test_model_nan_inf(tq_rng *rng)
{
    tfmq_model *m = NULL, *q = NULL;
    TQ_EXPECT(tfmq_model_load(g_model, NULL, &m) == TFMQ_OK, "load: %s", tfmq_last_error());
    if (!m) {
        return;
    }
    calib_src src;
    tfmq_quantize_options o;
    memset(&o, 0, sizeof(o));
    o.struct_size = sizeof(o);
    o.precision = TFMQ_PRECISION_INT8;
    o.calib_fn = calib_batch;
    o.calib_user_data = &src;
    TQ_EXPECT(tfmq_quantize(m, &o, &q, NULL) == TFMQ_OK, "quantize: %s", tfmq_last_error());
    tfmq_session *sf = NULL, *sq = NULL;
    TQ_EXPECT_OK(tfmq_session_create(m, NULL, &sf));
    if (q) {
        TQ_EXPECT_OK(tfmq_session_create(q, NULL, &sq));
    }
    static float x[28 * 28], y[10], yq[10], yq2[10];
    if (sf) {
        /* all NaN: every logit NaN (NaN propagates through Conv, Relu, MaxPool, Gemm) on the
         * reference kernels. The fast backend fuses Relu into oneDNN's convolution, whose max
         * is IEEE 754 maxNum (NaN -> 0, as ONNX Runtime's fused Relu): there the status is OK
         * and the logits are finite (docs/RELIABILITY.md, "Numerics"). ctest runs this test
         * on both (unit/test_numerics_scalar sets TFMQ_CPU_ISA=scalar). */
        bool fast = tq_cpu_isa_level() != TQ_CPU_ISA_SCALAR;
        for (size_t i = 0; i < 28 * 28; i++) {
            x[i] = NAN;
        }
        TQ_EXPECT_OK(run_model(sf, x, 1, y));
        TQ_EXPECT(count_nan(y, 10) == (fast ? 0u : 10u), "fp32 all-NaN input (%s): %zu of 10 "
                  "logits NaN", fast ? "fast" : "reference", count_nan(y, 10));
        /* one NaN pixel: the status is OK and some logit is NaN (it reaches the classifier) */
        tq_test_fill_uniform(rng, x, 28 * 28, 0.0f, 1.0f);
        x[14 * 28 + 14] = NAN;
        TQ_EXPECT_OK(run_model(sf, x, 1, y));
        TQ_EXPECT(fast ? count_nan(y, 10) == 0 : count_nan(y, 10) > 0,
                  "fp32 one NaN pixel (%s): %zu NaN logits", fast ? "fast" : "reference",
                  count_nan(y, 10));
        /* +Inf and -Inf pixels: no crash, status OK */
        x[14 * 28 + 14] = INFINITY;
        x[3] = -INFINITY;
        TQ_EXPECT_OK(run_model(sf, x, 1, y));
        /* FLT_MAX everywhere: overflows to Inf / NaN, never a crash */
        for (size_t i = 0; i < 28 * 28; i++) {
            x[i] = (i & 1) ? FLT_MAX : -FLT_MAX;
        }
        TQ_EXPECT_OK(run_model(sf, x, 1, y));
    }
    if (sq) {
        /* INT8: the input QuantizeLinear saturates, so 1e30 and 1e6 (both far above the
         * calibrated range) give identical logits, and -1e30 / -1e6 too */
        for (size_t i = 0; i < 28 * 28; i++) {
            x[i] = (i % 3) ? 1e30f : -1e30f;
        }
        TQ_EXPECT_OK(run_model(sq, x, 1, yq));
        for (size_t i = 0; i < 28 * 28; i++) {
            x[i] = (i % 3) ? 1e6f : -1e6f;
        }
        TQ_EXPECT_OK(run_model(sq, x, 1, yq2));
        TQ_EXPECT(memcmp(yq, yq2, sizeof(yq)) == 0, "int8: 1e30 and 1e6 inputs differ (wrap?)");
        TQ_EXPECT(count_nan(yq, 10) == 0, "int8 saturated input gives NaN logits");
        for (size_t i = 0; i < 28 * 28; i++) {
            x[i] = (i % 3) ? INFINITY : -INFINITY;
        }
        TQ_EXPECT_OK(run_model(sq, x, 1, yq2));
        TQ_EXPECT(memcmp(yq, yq2, sizeof(yq)) == 0, "int8: +-Inf inputs differ from +-1e30");
        /* NaN into the INT8 model: any value, but a status and no crash */
        for (size_t i = 0; i < 28 * 28; i++) {
            x[i] = NAN;
        }
        tfmq_status st = run_model(sq, x, 1, yq2);
        TQ_EXPECT(st == TFMQ_OK || st == TFMQ_ERR_INVALID_ARG, "int8 NaN input: %s",
                  tfmq_last_error());
        printf("numerics: int8 model, all-NaN input: status %s, %zu NaN logits\n",
               tfmq_status_str(st), count_nan(yq2, 10));
    }
    tfmq_session_destroy(sf);
    tfmq_session_destroy(sq);
    tfmq_model_destroy(q);
    tfmq_model_destroy(m);
}

/* ---- saturation ---- */
static int32_t ld_q(const tq_tensor *t, size_t i)
{
    return t->dtype == TFMQ_DTYPE_INT8 ? ((const int8_t *)t->data)[i]
                                       : ((const uint8_t *)t->data)[i];
}

static void test_quantize_linear_saturates(tq_rng *rng)
{
    (void)rng;
    const float xv[10] = {1e30f, -1e30f, INFINITY, -INFINITY, 127.6f,
                          -128.6f, 300.0f, -300.0f, FLT_MAX, -FLT_MAX};
    const int32_t want_i8[10] = {127, -128, 127, -128, 127, -128, 127, -128, 127, -128};
    const int32_t want_u8[10] = {255, 0, 255, 0, 128, 0, 255, 0, 255, 0}; /* 127.6 -> 128 */
    const int64_t d[1] = {10};
    for (int pass = 0; pass < 3; pass++) {
        const tfmq_dtype dt = pass == 1 ? TFMQ_DTYPE_UINT8 : TFMQ_DTYPE_INT8;
        /* pass 2: a tiny scale turns ordinary values into huge quotients */
        tq_tensor x = mk_f32s(1, d, xv), s = mk_f32(pass == 2 ? 1e-30f : 1.0f),
                  z = mk_q8(dt, 0), y;
        if (pass == 2) {
            for (int i = 0; i < 10; i++) {
                ((float *)x.data)[i] = (i & 1) ? -1.0f : 1.0f;
            }
        }
        tq_tensor *ins[3] = {&x, &s, &z};
        TQ_EXPECT_OK(run_node(TQ_OP_QUANTIZE_LINEAR, NULL, 0, ins, 3, &y));
        for (int i = 0; i < 10 && y.data; i++) {
            int32_t want = pass == 0 ? want_i8[i] : pass == 1 ? want_u8[i] : ((i & 1) ? -128 : 127);
            TQ_EXPECT(ld_q(&y, (size_t)i) == want, "QuantizeLinear pass %d [%d] (%g): got %d, "
                      "expected %d", pass, i, (double)((float *)x.data)[i], ld_q(&y, (size_t)i),
                      want);
        }
        free(y.data);
        /* NaN: ONNX leaves the value open; it must not crash (and UBSan must not fire) */
        ((float *)x.data)[0] = NAN;
        TQ_EXPECT_OK(run_node(TQ_OP_QUANTIZE_LINEAR, NULL, 0, ins, 3, &y));
        if (y.data && pass == 0) {
            printf("numerics: QuantizeLinear(NaN) -> int8 %d\n", ld_q(&y, 0));
        }
        free(y.data);
        tq_tensor *all[3] = {&x, &s, &z};
        free_all(all, 3);
    }
}

static void test_integer_kernels_saturate(tq_rng *rng)
{
    (void)rng;
    /* QGemm, K = 4096: acc = 4096 * (-128 * -128) = 67,108,864 (or its negative) with a large
     * multiplier: far above 127 / below -128; int8 and uint8 outputs clamp, never wrap */
    enum { K = 4096, N = 4 };
    const int64_t xd[2] = {1, K}, wd[2] = {N, K};
    for (int pass = 0; pass < 2; pass++) {
        const tfmq_dtype ydt = pass ? TFMQ_DTYPE_UINT8 : TFMQ_DTYPE_INT8;
        tq_tensor x = mk(TFMQ_DTYPE_INT8, 2, xd), w = mk(TFMQ_DTYPE_INT8, 2, wd);
        for (size_t i = 0; i < K; i++) {
            ((int8_t *)x.data)[i] = -128;
        }
        for (size_t j = 0; j < N; j++) {
            for (size_t i = 0; i < K; i++) {
                /* channels 0, 2: +acc; 1, 3: -acc */
                ((int8_t *)w.data)[j * K + i] = (j & 1) ? 127 : -128;
            }
        }
        tq_tensor xs = mk_f32(1.0f), ws = mk_f32(1.0f), ys = mk_f32(1e-3f);
        tq_tensor yz = mk_q8(ydt, pass ? 128 : 0);
        tq_tensor *ins[8] = {&x, &xs, NULL, &w, &ws, NULL, &ys, &yz};
        tq_tensor y;
        TQ_EXPECT_OK(run_node(TQ_OP_QGEMM, NULL, 0, ins, 8, &y));
        if (y.data) {
            for (int j = 0; j < N; j++) {
                int32_t want = (j & 1) ? (pass ? 0 : -128) : (pass ? 255 : 127);
                TQ_EXPECT(ld_q(&y, (size_t)j) == want, "QGemm %s ch %d: got %d, expected %d",
                          pass ? "uint8" : "int8", j, ld_q(&y, (size_t)j), want);
            }
        }
        free(y.data);
        tq_tensor *all[7] = {&x, &w, &xs, &ws, &ys, &yz, NULL};
        free_all(all, 7);
    }
    /* QGemm with an int32 bias at INT32_MAX plus a positive sum: the accumulator saturates at
     * INT32_MAX (it must not wrap to a negative value) */
    {
        const int64_t xd1[2] = {1, 2}, wd1[2] = {1, 2}, bd[1] = {1};
        tq_tensor x = mk(TFMQ_DTYPE_INT8, 2, xd1), w = mk(TFMQ_DTYPE_INT8, 2, wd1);
        tq_tensor b = mk(TFMQ_DTYPE_INT32, 1, bd);
        ((int8_t *)x.data)[0] = ((int8_t *)x.data)[1] = 127;
        ((int8_t *)w.data)[0] = ((int8_t *)w.data)[1] = 127;
        ((int32_t *)b.data)[0] = INT32_MAX;
        tq_tensor xs = mk_f32(1.0f), ws = mk_f32(1.0f), ys = mk_f32(1.0f);
        tq_tensor yz = mk_q8(TFMQ_DTYPE_INT8, 0);
        tq_tensor *ins[9] = {&x, &xs, NULL, &w, &ws, NULL, &ys, &yz, &b};
        tq_tensor y;
        TQ_EXPECT_OK(run_node(TQ_OP_QGEMM, NULL, 0, ins, 9, &y));
        if (y.data) {
            TQ_EXPECT(ld_q(&y, 0) == 127, "QGemm bias INT32_MAX + sum: got %d", ld_q(&y, 0));
        }
        free(y.data);
        ((int32_t *)b.data)[0] = INT32_MIN;
        ((int8_t *)w.data)[0] = ((int8_t *)w.data)[1] = -128;
        TQ_EXPECT_OK(run_node(TQ_OP_QGEMM, NULL, 0, ins, 9, &y));
        if (y.data) {
            TQ_EXPECT(ld_q(&y, 0) == -128, "QGemm bias INT32_MIN - sum: got %d", ld_q(&y, 0));
        }
        free(y.data);
        tq_tensor *all[8] = {&x, &w, &b, &xs, &ws, &ys, &yz, NULL};
        free_all(all, 8);
    }
    /* QConv 3x3 over a 5x5 image of 127 with weights 127 and a tiny y_scale */
    {
        const int64_t xd2[4] = {1, 1, 5, 5}, wd2[4] = {2, 1, 3, 3};
        tq_tensor x = mk(TFMQ_DTYPE_INT8, 4, xd2), w = mk(TFMQ_DTYPE_INT8, 4, wd2);
        memset(x.data, 127, 25);
        memset(w.data, 127, 9);
        memset((int8_t *)w.data + 9, 0x80, 9); /* -128 */
        tq_tensor xs = mk_f32(1.0f), ws = mk_f32(1.0f), ys = mk_f32(1e-6f);
        tq_tensor yz = mk_q8(TFMQ_DTYPE_INT8, 0);
        tq_tensor *ins[8] = {&x, &xs, NULL, &w, &ws, NULL, &ys, &yz};
        tq_tensor y;
        TQ_EXPECT_OK(run_node(TQ_OP_QCONV, NULL, 0, ins, 8, &y));
        if (y.data) {
            size_t n = tq_tensor_numel(&y);
            TQ_EXPECT(n == 18, "QConv output %zu", n);
            for (size_t i = 0; i < n; i++) {
                int32_t want = i < n / 2 ? 127 : -128;
                TQ_EXPECT(ld_q(&y, i) == want, "QConv [%zu]: got %d, expected %d", i,
                          ld_q(&y, i), want);
            }
        }
        free(y.data);
        tq_tensor *all[7] = {&x, &w, &xs, &ws, &ys, &yz, NULL};
        free_all(all, 7);
    }
    /* QAdd: huge scales (and FLT_MAX) saturate */
    {
        const int64_t d[1] = {4};
        tq_tensor a = mk(TFMQ_DTYPE_INT8, 1, d), b = mk(TFMQ_DTYPE_INT8, 1, d);
        const int8_t av[4] = {127, -128, 127, -128}, bv[4] = {127, -128, -128, 127};
        memcpy(a.data, av, 4);
        memcpy(b.data, bv, 4);
        tq_tensor as = mk_f32(FLT_MAX), bs = mk_f32(FLT_MAX), ys = mk_f32(1e-30f);
        tq_tensor az = mk_q8(TFMQ_DTYPE_INT8, 0), bz = mk_q8(TFMQ_DTYPE_INT8, 0);
        tq_tensor yz = mk_q8(TFMQ_DTYPE_INT8, 0);
        tq_tensor *ins[8] = {&a, &as, &az, &b, &bs, &bz, &ys, &yz};
        tq_tensor y;
        TQ_EXPECT_OK(run_node(TQ_OP_QADD, NULL, 0, ins, 8, &y));
        if (y.data) {
            TQ_EXPECT(ld_q(&y, 0) == 127 && ld_q(&y, 1) == -128, "QAdd saturates: %d %d",
                      ld_q(&y, 0), ld_q(&y, 1));
            /* 127 * FLT_MAX - 128 * FLT_MAX in double = -FLT_MAX; / 1e-30 -> -1.7e8 * 1e30 */
            TQ_EXPECT(ld_q(&y, 2) == -128 && ld_q(&y, 3) == -128, "QAdd mixed: %d %d",
                      ld_q(&y, 2), ld_q(&y, 3));
        }
        free(y.data);
        tq_tensor *all[8] = {&a, &b, &as, &bs, &ys, &az, &bz, &yz};
        free_all(all, 8);
    }
    TQ_EXPECT(tq_ql_requant(INT32_MAX, FLT_MAX, 0, -128, 127) == 127, "requant max");
    TQ_EXPECT(tq_ql_requant(INT32_MIN, FLT_MAX, 0, -128, 127) == -128, "requant min");
    TQ_EXPECT(tq_ql_requant(INT32_MAX, FLT_MAX, 100, 0, 255) == 255, "requant u8 max");
}

/* ---- empty tensors ---- */
static int g_empty_ok, g_empty_refused;

/* An op on empty inputs either works (then the shape is checked by the caller) or returns a
 * status with a message; both are counted. */
static bool empty_case(const char *what, tfmq_status st)
{
    if (st == TFMQ_OK) {
        g_empty_ok++;
        return true;
    }
    g_empty_refused++;
    TQ_EXPECT(st == TFMQ_ERR_INVALID_ARG || st == TFMQ_ERR_UNSUPPORTED,
              "%s: status %s (%s)", what, tfmq_status_str(st), tfmq_last_error());
    TQ_EXPECT(tfmq_last_error()[0] != '\0', "%s: refused without a message", what);
    printf("numerics: %s: refused: %s\n", what, tfmq_last_error());
    return false;
}

static void test_empty_tensors(tq_rng *rng)
{
    (void)rng;
    g_empty_ok = g_empty_refused = 0;
    tq_tensor y;
    /* Concat [2,0] + [2,3] on axis 1 -> [2,3], equal to the second */
    {
        const int64_t d0[2] = {2, 0}, d1[2] = {2, 3};
        const float bv[6] = {1, 2, 3, 4, 5, 6};
        tq_tensor a = mk_f32s(2, d0, NULL), b = mk_f32s(2, d1, bv);
        tq_tensor *ins[2] = {&a, &b};
        tq_attr ax[1] = {a_int("axis", 1)};
        if (empty_case("Concat [2,0]+[2,3] axis 1", run_node(TQ_OP_CONCAT, ax, 1, ins, 2, &y))) {
            TQ_EXPECT(y.rank == 2 && y.dims[0] == 2 && y.dims[1] == 3, "concat shape");
            TQ_EXPECT(memcmp(y.data, bv, sizeof(bv)) == 0, "concat values");
            free(y.data);
        }
        /* [0,3] + [0,3] axis 0 -> [0,3] */
        const int64_t e[2] = {0, 3};
        tq_tensor c = mk_f32s(2, e, NULL), dd = mk_f32s(2, e, NULL);
        tq_tensor *ins2[2] = {&c, &dd};
        ax[0] = a_int("axis", 0);
        if (empty_case("Concat [0,3]+[0,3] axis 0", run_node(TQ_OP_CONCAT, ax, 1, ins2, 2, &y))) {
            TQ_EXPECT(y.rank == 2 && y.dims[0] == 0 && y.dims[1] == 3, "concat empty shape");
            free(y.data);
        }
        tq_tensor *all[4] = {&a, &b, &c, &dd};
        free_all(all, 4);
    }
    /* Slice [4,3] rows 2:2 -> [0,3]; and slicing an empty tensor */
    {
        const int64_t d[2] = {4, 3};
        const int64_t st0[1] = {2}, en0[1] = {2}, axv[1] = {0};
        tq_tensor x = mk_f32s(2, d, NULL), s = mk_i64s(1, st0), e = mk_i64s(1, en0),
                  a = mk_i64s(1, axv);
        tq_tensor *ins[4] = {&x, &s, &e, &a};
        if (empty_case("Slice [4,3] 2:2", run_node(TQ_OP_SLICE, NULL, 0, ins, 4, &y))) {
            TQ_EXPECT(y.rank == 2 && y.dims[0] == 0 && y.dims[1] == 3, "slice shape");
            free(y.data);
        }
        const int64_t de[2] = {0, 3};
        const int64_t st1[1] = {0}, en1[1] = {5};
        tq_tensor xe = mk_f32s(2, de, NULL), s1 = mk_i64s(1, st1), e1 = mk_i64s(1, en1);
        tq_tensor *ins2[4] = {&xe, &s1, &e1, &a};
        if (empty_case("Slice [0,3] 0:5", run_node(TQ_OP_SLICE, NULL, 0, ins2, 4, &y))) {
            TQ_EXPECT(y.rank == 2 && y.dims[0] == 0, "slice of empty");
            free(y.data);
        }
        tq_tensor *all[7] = {&x, &s, &e, &a, &xe, &s1, &e1};
        free_all(all, 7);
    }
    /* Reshape: [0,3] -> [3,0]; [0,3] -> [-1,3] (ambiguous -1 over zero elements: refused or 0);
     * [0,3] -> [-1,0] with allowzero=1 (a division by zero if done naively) */
    {
        const int64_t d[2] = {0, 3};
        tq_tensor x = mk_f32s(2, d, NULL);
        const int64_t s1v[2] = {3, 0}, s2v[2] = {-1, 3}, s3v[2] = {-1, 0}, s4v[2] = {0, -1};
        tq_tensor s1 = mk_i64s(2, s1v), s2 = mk_i64s(2, s2v), s3 = mk_i64s(2, s3v),
                  s4 = mk_i64s(2, s4v);
        tq_attr az[1] = {a_int("allowzero", 1)};
        tq_tensor *ins[2] = {&x, &s1};
        if (empty_case("Reshape [0,3]->[3,0] allowzero", run_node(TQ_OP_RESHAPE, az, 1, ins, 2,
                                                                  &y))) {
            TQ_EXPECT(y.rank == 2 && y.dims[0] == 3 && y.dims[1] == 0, "reshape [3,0]");
            free(y.data);
        }
        ins[1] = &s2;
        if (empty_case("Reshape [0,3]->[-1,3]", run_node(TQ_OP_RESHAPE, NULL, 0, ins, 2, &y))) {
            TQ_EXPECT(y.rank == 2 && y.dims[0] == 0 && y.dims[1] == 3, "reshape [-1,3]");
            free(y.data);
        }
        ins[1] = &s3;
        if (empty_case("Reshape [0,3]->[-1,0] allowzero",
                       run_node(TQ_OP_RESHAPE, az, 1, ins, 2, &y))) {
            free(y.data);
        }
        ins[1] = &s4; /* 0 copies dim 0 (= 0); -1 over 0 elements with product 0 */
        if (empty_case("Reshape [0,3]->[0,-1]", run_node(TQ_OP_RESHAPE, NULL, 0, ins, 2, &y))) {
            free(y.data);
        }
        tq_tensor *all[5] = {&x, &s1, &s2, &s3, &s4};
        free_all(all, 5);
    }
    /* MatMul with K = 0: [3,0] x [0,2] = zeros [3,2]; with M = 0: [0,4] x [4,2] = [0,2] */
    {
        const int64_t ad[2] = {3, 0}, bd[2] = {0, 2};
        tq_tensor a = mk_f32s(2, ad, NULL), b = mk_f32s(2, bd, NULL);
        tq_tensor *ins[2] = {&a, &b};
        if (empty_case("MatMul [3,0]x[0,2]", run_node(TQ_OP_MATMUL, NULL, 0, ins, 2, &y))) {
            TQ_EXPECT(y.rank == 2 && y.dims[0] == 3 && y.dims[1] == 2, "matmul K=0 shape");
            for (int i = 0; i < 6 && y.rank == 2; i++) {
                TQ_EXPECT(((float *)y.data)[i] == 0.0f, "matmul K=0 [%d] = %g", i,
                          (double)((float *)y.data)[i]);
            }
            free(y.data);
        }
        const int64_t ad2[2] = {0, 4}, bd2[2] = {4, 2};
        tq_tensor a2 = mk_f32s(2, ad2, NULL), b2 = mk_f32s(2, bd2, NULL);
        tq_tensor *ins2[2] = {&a2, &b2};
        if (empty_case("MatMul [0,4]x[4,2]", run_node(TQ_OP_MATMUL, NULL, 0, ins2, 2, &y))) {
            TQ_EXPECT(y.rank == 2 && y.dims[0] == 0 && y.dims[1] == 2, "matmul M=0 shape");
            free(y.data);
        }
        tq_tensor *all[4] = {&a, &b, &a2, &b2};
        free_all(all, 4);
    }
    /* Relu / Softmax / ReduceSum on empty tensors, Conv with batch 0 */
    {
        const int64_t d[2] = {2, 0};
        tq_tensor x = mk_f32s(2, d, NULL);
        tq_tensor *ins[1] = {&x};
        if (empty_case("Relu [2,0]", run_node(TQ_OP_RELU, NULL, 0, ins, 1, &y))) {
            TQ_EXPECT(y.rank == 2 && y.dims[1] == 0, "relu shape");
            free(y.data);
        }
        tq_attr ax[1] = {a_int("axis", -1)};
        if (empty_case("Softmax [2,0]", run_node(TQ_OP_SOFTMAX, ax, 1, ins, 1, &y))) {
            free(y.data);
        }
        /* ReduceSum over the empty axis: [2,0] -> [2,1] of zeros (sum of nothing) */
        const int64_t axv[1] = {1};
        tq_tensor axes = mk_i64s(1, axv);
        tq_tensor *ins2[2] = {&x, &axes};
        if (empty_case("ReduceSum [2,0] axis 1", run_node(TQ_OP_REDUCE_SUM, NULL, 0, ins2, 2,
                                                          &y))) {
            TQ_EXPECT(y.rank == 2 && y.dims[0] == 2 && y.dims[1] == 1, "reducesum shape");
            if (y.rank == 2 && y.dims[0] == 2) {
                TQ_EXPECT(((float *)y.data)[0] == 0.0f && ((float *)y.data)[1] == 0.0f,
                          "sum over nothing is 0");
            }
            free(y.data);
        }
        const int64_t xd[4] = {0, 1, 5, 5}, wd[4] = {2, 1, 3, 3};
        tq_tensor cx = mk_f32s(4, xd, NULL), cw = mk_f32s(4, wd, NULL);
        tq_tensor *ins3[2] = {&cx, &cw};
        if (empty_case("Conv batch 0", run_node(TQ_OP_CONV, NULL, 0, ins3, 2, &y))) {
            TQ_EXPECT(y.rank == 4 && y.dims[0] == 0 && y.dims[1] == 2, "conv batch 0 shape");
            free(y.data);
        }
        tq_tensor *all[4] = {&x, &axes, &cx, &cw};
        free_all(all, 4);
    }
    /* the bundled model with batch 0: works (logits [0,10]) or a clear status */
    {
        tfmq_model *m = NULL;
        TQ_EXPECT_OK(tfmq_model_load(g_model, NULL, &m));
        tfmq_session *s = NULL;
        if (m) {
            TQ_EXPECT_OK(tfmq_session_create(m, NULL, &s));
        }
        if (s) {
            float x[1], out[10];
            tfmq_status st = run_model(s, x, 0, out);
            if (empty_case("fashion_mnist_cnn batch 0", st)) {
                printf("numerics: fashion_mnist_cnn batch 0: OK\n");
            }
            /* and the session still works with batch 1 afterwards */
            static float x1[28 * 28];
            TQ_EXPECT_OK(run_model(s, x1, 1, out));
        }
        tfmq_session_destroy(s);
        tfmq_model_destroy(m);
    }
    printf("numerics: empty tensors: %d cases work, %d refused with a status\n", g_empty_ok,
           g_empty_refused);
}

int main(int argc, char **argv)
{
    tq_test_begin(argc, argv);
    find_model();
    TQ_RUN(test_nan_inf_ops);
    TQ_RUN(test_model_nan_inf);
    TQ_RUN(test_quantize_linear_saturates);
    TQ_RUN(test_integer_kernels_saturate);
    TQ_RUN(test_empty_tensors);
    return tq_test_end();
}
