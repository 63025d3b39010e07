/* test_cpu_models.c: whole models on the fast CPU backend (backends/cpu) against the reference
 * kernels, in one process: the same compiled graph planned twice, once with the reference kernels
 * (threads 0) and once with the fast backend (2 threads), run on the same random inputs.
 * Models: the bundled Fashion-MNIST CNN and, from ../shared, ResNet-20 (CIFAR-10) and
 * MobileNetV2 1.0 224, each in FP32, INT8 (quantized here with min-max calibration on random
 * data), BF16 and FP16 (whose fast graphs compute in float32 between matrix operations:
 * passes/strip_half.c). Checks: FP32 outputs within a relative L2 error of 1e-5; INT8, BF16 and
 * FP16 outputs at least as close to FP32 (SQNR, within 1 dB) as the reference kernels' (INT8:
 * oneDNN rounds the requantization in float32 where the reference rounds a double product, so
 * single values differ by one unit and deep models amplify it: docs/QUANTIZATION.md); most
 * nodes on fast kernels; convolution outputs planned channels-last. Skipped with a message when
 * the CPU has no AVX2 (TFMQ_CPU_ISA=scalar included): the fast backend is off then. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/cpu.h"
#include "harness.h"
#include "runtime/compile.h"
#include "runtime/exec.h"
#include "runtime/model.h"
#include "tfmq.h"

#define MAX_IN 4

typedef struct calib_src {
    const tq_graph *g;
    tq_tensor shape;
    float *buf;
    int64_t dims[TQ_MAX_RANK];
    uint64_t seed;
} calib_src;

static void fill_random(float *p, size_t n, uint64_t seed)
{
    tq_rng r = {seed};
    for (size_t i = 0; i < n; i++) {
        p[i] = tq_rng_uniform(&r, -1.0f, 1.0f);
    }
}

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
    size_t n = tq_tensor_numel(&s->shape);
    fill_random(s->buf, n, s->seed + batch_index);
    for (int32_t d = 0; d < s->shape.rank; d++) {
        s->dims[d] = s->shape.dims[d];
    }
    inputs[0].dtype = TFMQ_DTYPE_FLOAT32;
    inputs[0].rank = s->shape.rank;
    inputs[0].dims = s->dims;
    inputs[0].data = s->buf;
    inputs[0].data_bytes = n * sizeof(float);
    return TFMQ_OK;
}

/* Relative L2 error of y against r and the SQNR in dB. */
static double rel_l2(const float *y, const float *r, size_t n, double *sqnr_db)
{
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)y[i] - (double)r[i];
        num += d * d;
        den += (double)r[i] * (double)r[i];
    }
    *sqnr_db = num > 0.0 ? 10.0 * log10(den / num) : 999.0;
    return den > 0.0 ? sqrt(num / den) : sqrt(num);
}

/* Plan graph gref with the reference kernels and g with the fast backend, run both on one
 * random input, compare output 0 (tolerance by precision). */
static void compare_graph(const char *label, const tfmq_model *m, const tq_graph *gref,
                          const tq_graph *g, tfmq_precision prec, const tq_graph *gfp32)
{
    tq_tensor shapes[MAX_IN];
    TQ_CHECK(g->n_inputs == 1);
    TQ_EXPECT_OK(tq_model_default_shapes(m, 1, shapes));
    size_t n_in = tq_tensor_numel(&shapes[0]);
    float *x = malloc(n_in * sizeof(float));
    TQ_CHECK(x);
    fill_random(x, n_in, 99);
    tq_tensor in = shapes[0];
    in.data = x;

    tq_exec *eref = NULL, *efast = NULL;
    TQ_EXPECT_OK(tq_exec_create(gref, NULL, NULL, &eref));
    TQ_EXPECT_OK(tq_exec_create(g, NULL, NULL, &efast));
    if (!eref || !efast) {
        goto done;
    }
    tq_exec_set_threads(efast, 2);
    TQ_EXPECT_OK(tq_exec_plan(eref, shapes, false));
    TQ_EXPECT_OK(tq_exec_plan(efast, shapes, false));
    TQ_EXPECT_OK(tq_exec_run(eref, &in));
    tfmq_status st = tq_exec_run(efast, &in);
    TQ_EXPECT(st == TFMQ_OK, "%s: fast run: %s", label, tfmq_last_error());
    if (st != TFMQ_OK) {
        goto done;
    }

    /* coverage: nodes on fast kernels, conv outputs channels-last */
    size_t n_run = 0, n_fast = 0, n_conv = 0, n_conv_nhwc = 0;
    char slow[512] = "";
    for (size_t i = 0; i < g->n_nodes; i++) {
        const tq_node *nd = &g->nodes[i];
        const char *impl = tq_exec_node_impl(efast, i);
        if (tq_exec_value_is_const(efast, nd->out[0])) {
            continue; /* folded at plan time */
        }
        n_run++;
        n_fast += impl != NULL;
        if (!impl && strlen(slow) + 40 < sizeof(slow) && !strstr(slow, tq_op_table[nd->op].name)) {
            strcat(slow, " ");
            strcat(slow, tq_op_table[nd->op].name);
        }
        bool conv = nd->op == TQ_OP_CONV || nd->op == TQ_OP_FUSED_CONV || nd->op == TQ_OP_QCONV;
        bool is_output = false;
        for (size_t o = 0; o < g->n_outputs; o++) {
            is_output = is_output || g->outputs[o] == nd->out[0];
        }
        if (conv && !is_output) {
            n_conv++;
            n_conv_nhwc += tq_exec_value_layout(efast, nd->out[0]) == TQ_LAYOUT_NHWC;
        }
    }
    printf("  %-28s %zu of %zu nodes on fast kernels (reference:%s), %zu of %zu conv outputs "
           "NHWC\n",
           label, n_fast, n_run, slow[0] ? slow : " none", n_conv_nhwc, n_conv);
    /* coverage: INT8 convolutions need VNNI (TFMQ_CPU_ISA=avx2 runs them on the reference) */
    bool coverage = prec != TFMQ_PRECISION_INT8 || tq_cpu_isa_level() >= TQ_CPU_ISA_AVX512_VNNI;
    TQ_EXPECT(!coverage || n_fast * 4 >= n_run * 3, "%s: only %zu of %zu nodes on fast kernels",
              label, n_fast, n_run);
    /* (a conv output read by a layout-bound op, e.g. ResNet-20's Slice/Pad shortcuts, or a
     * graph output stays NCHW) */
    TQ_EXPECT(!coverage || n_conv_nhwc * 3 >= n_conv,
              "%s: only %zu of %zu conv outputs channels-last", label, n_conv_nhwc, n_conv);

    const tq_tensor *yr = tq_exec_value(eref, gref->outputs[0]);
    const tq_tensor *yf = tq_exec_value(efast, g->outputs[0]);
    TQ_CHECK(yr->dtype == TFMQ_DTYPE_FLOAT32 && yf->dtype == TFMQ_DTYPE_FLOAT32);
    size_t n_out = tq_tensor_numel(yr);
    TQ_CHECK(n_out == tq_tensor_numel(yf));
    double sqnr;
    double err = rel_l2(yf->data, yr->data, n_out, &sqnr);
    printf("  %-28s output rel L2 %.3g, SQNR %.1f dB\n", label, err, sqnr);
    if (prec == TFMQ_PRECISION_FP32) {
        TQ_EXPECT(err <= 1e-5, "%s: relative L2 error %.3g against the reference", label, err);
    } else if (gfp32) {
        /* INT8: oneDNN requantizes in float32 where the reference rounds a double product, so
         * single elements differ by one unit (test_cpu_onednn) and deep models amplify that; the
         * fast graph must stay as close to FP32 as the integer reference is, within 1 dB.
         * FP16/BF16: the fast graph rounds less often than the stored form (strip_half.c), so
         * against FP32 it must be at least as close as the stored form, within 1 dB. */
        if (prec == TFMQ_PRECISION_INT8) {
            TQ_EXPECT(sqnr >= 20.0, "%s: SQNR %.1f dB against the integer reference", label,
                      sqnr);
        }
        tq_exec *e32 = NULL;
        TQ_EXPECT_OK(tq_exec_create(gfp32, NULL, NULL, &e32));
        if (e32 && tq_exec_plan(e32, shapes, false) == TFMQ_OK && tq_exec_run(e32, &in) == TFMQ_OK) {
            const float *y32 = tq_exec_value(e32, gfp32->outputs[0])->data;
            double s_fast, s_ref;
            (void)rel_l2(yf->data, y32, n_out, &s_fast);
            (void)rel_l2(yr->data, y32, n_out, &s_ref);
            printf("  %-28s SQNR vs fp32: fast %.1f dB, stored form %.1f dB\n", label, s_fast,
                   s_ref);
            TQ_EXPECT(s_fast >= s_ref - 1.0, "%s: fast SQNR %.1f dB vs fp32 below the stored "
                      "form's %.1f dB", label, s_fast, s_ref);
        } else {
            TQ_EXPECT(false, "%s: fp32 run: %s", label, tfmq_last_error());
        }
        tq_exec_destroy(e32);
    }
done:
    tq_exec_destroy(efast);
    tq_exec_destroy(eref);
    free(x);
}

static void check_model(const char *label, const char *path)
{
    tfmq_model *m = NULL;
    TQ_EXPECT(tfmq_model_load(path, NULL, &m) == TFMQ_OK, "%s: %s", path, tfmq_last_error());
    if (!m) {
        return;
    }
    static const tfmq_precision precs[] = {TFMQ_PRECISION_FP32, TFMQ_PRECISION_INT8,
                                           TFMQ_PRECISION_BF16, TFMQ_PRECISION_FP16};
    for (size_t pi = 0; pi < sizeof(precs) / sizeof(precs[0]); pi++) {
        tfmq_precision prec = precs[pi];
        tfmq_model *q = NULL;
        const tfmq_model *run = m;
        char lbl[96];
        snprintf(lbl, sizeof(lbl), "%s %s", label, tfmq_precision_name(prec));
        if (prec != TFMQ_PRECISION_FP32) {
            calib_src src;
            memset(&src, 0, sizeof(src));
            src.g = m->graph;
            TQ_EXPECT_OK(tq_model_default_shapes(m, 1, &src.shape));
            src.buf = malloc(tq_tensor_numel(&src.shape) * sizeof(float));
            src.seed = 7;
            tfmq_quantize_options o;
            memset(&o, 0, sizeof(o));
            o.struct_size = sizeof(o);
            o.precision = prec;
            o.calib_method = TFMQ_CALIB_MINMAX;
            o.calib_fn = calib_batch;
            o.calib_user_data = &src;
            tfmq_status st = tfmq_quantize(m, &o, &q, NULL);
            free(src.buf);
            TQ_EXPECT(st == TFMQ_OK, "%s: quantize: %s", lbl, tfmq_last_error());
            if (st != TFMQ_OK) {
                break;
            }
            run = q;
        }
        tq_arena arena;
        tq_arena_init(&arena, NULL);
        const tq_graph *g = NULL;
        bool owned = false;
        /* the reference: the graph a session on the reference kernels runs */
        const tq_graph *gref = NULL;
        bool owned_ref = false;
        TQ_EXPECT_OK(tq_compile(run->graph, true, &arena, NULL, &g, &owned));
        TQ_EXPECT_OK(tq_compile(run->graph, false, &arena, NULL, &gref, &owned_ref));
        if (g && gref) {
            compare_graph(lbl, run, gref, g, prec, m->graph);
        }
        if (owned_ref) {
            tq_graph_destroy((tq_graph *)(uintptr_t)gref);
        }
        if (owned) {
            tq_graph_destroy((tq_graph *)(uintptr_t)g);
        }
        tq_arena_free(&arena);
        tfmq_model_destroy(q);
    }
    tfmq_model_destroy(m);
}

static void test_models(tq_rng *rng)
{
    (void)rng;
    char path[1024];
    snprintf(path, sizeof(path), "%s/models/fashion_mnist_cnn.onnx", TFMQ_SOURCE_DIR);
    check_model("fashion_mnist_cnn", path);
    snprintf(path, sizeof(path), "%s/models/resnet20_cifar10/model.onnx", tq_test_shared_dir());
    check_model("resnet20_cifar10", path);
    snprintf(path, sizeof(path), "%s/models/mobilenet_v2_1.0_224/model.onnx",
             tq_test_shared_dir());
    check_model("mobilenet_v2_1.0_224", path);
}

int main(void)
{
    if (tq_cpu_isa_level() == TQ_CPU_ISA_SCALAR) {
        printf("SKIP: the fast CPU backend is off (ISA level scalar: %s)\n", tfmq_cpu_info());
        return 0;
    }
    printf("cpu: %s\n", tfmq_cpu_info());
    TQ_RUN(test_models);
    return tq_test_end();
}
