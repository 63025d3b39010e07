/* test_bias_correction.c: empirical bias correction (tfmq_quantize_options.bias_correction).
 *  - known answer: on a Conv 1x1 -> Flatten -> Gemm (transB, alpha, beta) graph, the measured
 *    corrections equal sum_k (W_q - W)[c,k] * mean(x_k) (times alpha/beta for the Gemm);
 *  - on the bundled Fashion-MNIST CNN: the option off gives bit-identical outputs to a caller
 *    that does not know the field (old struct_size); on, the per-channel mean output error vs
 *    FP32 on the calibration data is smaller than without it;
 *  - OOM torture of tfmq_quantize with the option on: TFMQ_ERR_OUT_OF_MEMORY, nothing leaked. */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "core/core.h"
#include "harness.h"
#include "ir/rewrite.h"
#include "quant/quant.h"
#include "runtime/model.h"
#include "tfmq.h"

static char g_model[4200];

static void find_paths(void)
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

/* ---- known answer on a small graph ---- */

#define KA_N 2
#define KA_CI 3
#define KA_CO 2
#define KA_HW 16 /* 4x4 */
#define KA_K (KA_CO * KA_HW)
#define KA_OUT 5

static float g_ka_x[KA_N * KA_CI * KA_HW];
static int64_t g_ka_dims[4] = {KA_N, KA_CI, 4, 4};

static tfmq_status ka_batch(void *ud, size_t batch_index, tfmq_tensor *inputs, size_t n_inputs,
                            bool *done)
{
    (void)ud;
    if (n_inputs != 1) {
        return TFMQ_ERR_INVALID_ARG;
    }
    if (batch_index >= 1) {
        *done = true;
        return TFMQ_OK;
    }
    inputs[0].dtype = TFMQ_DTYPE_FLOAT32;
    inputs[0].rank = 4;
    inputs[0].dims = g_ka_dims;
    inputs[0].data = g_ka_x;
    inputs[0].data_bytes = sizeof(g_ka_x);
    return TFMQ_OK;
}

static void dq_error(const float *w, size_t n, int64_t cout, size_t inner, float *dw)
{
    float scale[64];
    int8_t q[256];
    tq_quant_weight_int8(w, n, cout, inner, scale, q);
    for (size_t i = 0; i < n; i++) {
        dw[i] = (float)q[i] * scale[(i / inner) % (size_t)cout] - w[i];
    }
}

static void test_known_answer(tq_rng *rng)
{
    tq_test_counting_alloc cnt = {0};
    tfmq_allocator alloc = {&cnt, tq_test_counting_alloc_fn, tq_test_counting_free_fn};
    tq_arena arena;
    tq_arena_init(&arena, &alloc);
    tq_graph *g = NULL;
    TQ_EXPECT_OK(tq_graph_create(&arena, &alloc, &g));
    if (!g) {
        return;
    }
    float w1[KA_CO * KA_CI], b1[KA_CO], w2[KA_OUT * KA_K], b2[KA_OUT];
    for (size_t i = 0; i < sizeof(w1) / sizeof(w1[0]); i++) {
        w1[i] = tq_rng_uniform(rng, -1.0f, 1.0f);
    }
    for (size_t i = 0; i < sizeof(w2) / sizeof(w2[0]); i++) {
        w2[i] = tq_rng_uniform(rng, -0.3f, 0.3f);
    }
    for (size_t i = 0; i < KA_CO; i++) {
        b1[i] = 0.1f * (float)i;
    }
    for (size_t i = 0; i < KA_OUT; i++) {
        b2[i] = -0.05f * (float)i;
    }
    for (size_t i = 0; i < sizeof(g_ka_x) / sizeof(g_ka_x[0]); i++) {
        /* non-zero means per channel, so weight errors show in the mean output */
        g_ka_x[i] = tq_rng_uniform(rng, 0.0f, 2.0f) + (float)((i / KA_HW) % KA_CI);
    }
    int32_t x, y1, f, z, vw1, vb1, vw2, vb2, ni;
    TQ_EXPECT_OK(tq_graph_add_value(g, "X", &x));
    TQ_EXPECT_OK(tq_graph_add_value(g, "Y1", &y1));
    TQ_EXPECT_OK(tq_graph_add_value(g, "F", &f));
    TQ_EXPECT_OK(tq_graph_add_value(g, "Z", &z));
    g->values[x].t.dtype = TFMQ_DTYPE_FLOAT32;
    g->values[x].t.rank = 4;
    memcpy(g->values[x].t.dims, g_ka_dims, sizeof(g_ka_dims));
    TQ_EXPECT_OK(tq_graph_add_const(g, "W1", TFMQ_DTYPE_FLOAT32, 4,
                                    (int64_t[]){KA_CO, KA_CI, 1, 1}, w1, &vw1));
    TQ_EXPECT_OK(tq_graph_add_const(g, "B1", TFMQ_DTYPE_FLOAT32, 1, (int64_t[]){KA_CO}, b1, &vb1));
    TQ_EXPECT_OK(tq_graph_add_const(g, "W2", TFMQ_DTYPE_FLOAT32, 2, (int64_t[]){KA_OUT, KA_K}, w2,
                                    &vw2));
    TQ_EXPECT_OK(tq_graph_add_const(g, "B2", TFMQ_DTYPE_FLOAT32, 1, (int64_t[]){KA_OUT}, b2,
                                    &vb2));
    TQ_EXPECT_OK(tq_graph_add_node(g, TQ_OP_CONV, "conv", 3, 1, 0, &ni));
    g->nodes[ni].in[0] = x;
    g->nodes[ni].in[1] = vw1;
    g->nodes[ni].in[2] = vb1;
    g->nodes[ni].out[0] = y1;
    TQ_EXPECT_OK(tq_graph_add_node(g, TQ_OP_FLATTEN, "flatten", 1, 1, 0, &ni));
    g->nodes[ni].in[0] = y1;
    g->nodes[ni].out[0] = f;
    TQ_EXPECT_OK(tq_graph_add_node(g, TQ_OP_GEMM, "gemm", 3, 1, 3, &ni));
    g->nodes[ni].in[0] = f;
    g->nodes[ni].in[1] = vw2;
    g->nodes[ni].in[2] = vb2;
    g->nodes[ni].out[0] = z;
    g->nodes[ni].attrs[0] = (tq_attr){.name = "transB", .type = TQ_ATTR_INT, .i = 1};
    g->nodes[ni].attrs[1] = (tq_attr){.name = "alpha", .type = TQ_ATTR_FLOAT, .f = 0.5f};
    g->nodes[ni].attrs[2] = (tq_attr){.name = "beta", .type = TQ_ATTR_FLOAT, .f = 2.0f};
    TQ_EXPECT_OK(tq_graph_set_io(g, &x, 1, &z, 1));
    TQ_EXPECT_OK(tq_graph_finalize(g));

    tq_quant_plan plan;
    memset(&plan, 0, sizeof(plan));
    plan.alloc = &alloc;
    TQ_EXPECT_OK(tq_quant_plan_int8(g, &plan));
    TQ_EXPECT_EQ_I64(plan.n_layers, 2);
    tfmq_quantize_options o;
    memset(&o, 0, sizeof(o));
    o.struct_size = sizeof(o);
    o.precision = TFMQ_PRECISION_INT8;
    o.calib_fn = ka_batch;
    o.bias_correction = true;
    float *corr = NULL;
    size_t n_corr = 0, *off = NULL;
    TQ_EXPECT_OK(tq_bias_correction(g, &plan, &o, &corr, &n_corr, &off));
    TQ_EXPECT_EQ_I64(n_corr, KA_CO + KA_OUT);
    if (corr && off && n_corr == KA_CO + KA_OUT) {
        /* expected: FP32 conv output, then the mean inputs of each layer */
        float dw1[KA_CO * KA_CI], dw2[KA_OUT * KA_K];
        dq_error(w1, KA_CO * KA_CI, KA_CO, KA_CI, dw1);
        dq_error(w2, KA_OUT * KA_K, KA_OUT, KA_K, dw2);
        double mx[KA_CI] = {0}, mf[KA_K] = {0};
        for (size_t n = 0; n < KA_N; n++) {
            for (size_t c = 0; c < KA_CI; c++) {
                for (size_t p = 0; p < KA_HW; p++) {
                    mx[c] += (double)g_ka_x[(n * KA_CI + c) * KA_HW + p] / (KA_N * KA_HW);
                }
            }
            for (size_t co = 0; co < KA_CO; co++) {
                for (size_t p = 0; p < KA_HW; p++) {
                    double y = (double)b1[co];
                    for (size_t c = 0; c < KA_CI; c++) {
                        y += (double)w1[co * KA_CI + c] *
                             (double)g_ka_x[(n * KA_CI + c) * KA_HW + p];
                    }
                    mf[co * KA_HW + p] += y / KA_N;
                }
            }
        }
        size_t conv_node = (size_t)plan.layers[0].node, gemm_node = (size_t)plan.layers[1].node;
        TQ_CHECK(g->nodes[conv_node].op == TQ_OP_CONV && g->nodes[gemm_node].op == TQ_OP_GEMM);
        double max_abs = 0.0;
        for (size_t co = 0; co < KA_CO; co++) {
            double e = 0.0;
            for (size_t c = 0; c < KA_CI; c++) {
                e += (double)dw1[co * KA_CI + c] * mx[c];
            }
            double got = corr[off[conv_node] + co];
            TQ_EXPECT(fabs(got - e) <= 1e-4 * fabs(e) + 1e-7, "conv channel %zu: %g, expected %g",
                      co, got, e);
            max_abs = fmax(max_abs, fabs(e));
        }
        for (size_t j = 0; j < KA_OUT; j++) {
            double e = 0.0;
            for (size_t k = 0; k < KA_K; k++) {
                e += (double)dw2[j * KA_K + k] * mf[k];
            }
            e = e * 0.5 / 2.0; /* alpha, then into the units of the bias (1 / beta) */
            double got = corr[off[gemm_node] + j];
            TQ_EXPECT(fabs(got - e) <= 1e-4 * fabs(e) + 1e-7, "gemm channel %zu: %g, expected %g",
                      j, got, e);
            max_abs = fmax(max_abs, fabs(e));
        }
        TQ_CHECK(max_abs > 1e-5); /* the test measures something */
    }
    tq_bias_correction_free(&alloc, corr, n_corr, off, g->n_nodes);
    tq_quant_plan_free(&plan);
    tq_graph_destroy(g);
    tq_arena_free(&arena);
    TQ_EXPECT_EQ_I64(atomic_load(&cnt.n_live), 0);
    TQ_EXPECT_EQ_I64(atomic_load(&cnt.bytes_live), 0);
}

/* ---- the bundled CNN ---- */

typedef struct pix_src {
    size_t n_batches;
    float buf[28 * 28];
    int64_t dims[4];
} pix_src;

static void pix_fill(size_t i, float *buf)
{
    tq_rng r = {4321 + i};
    for (size_t k = 0; k < 28 * 28; k++) {
        buf[k] = (float)tq_rng_below(&r, 256) / 255.0f;
    }
}

static tfmq_status pix_batch(void *ud, size_t batch_index, tfmq_tensor *inputs, size_t n_inputs,
                             bool *done)
{
    pix_src *s = ud;
    if (n_inputs != 1) {
        return TFMQ_ERR_INVALID_ARG;
    }
    if (batch_index >= s->n_batches) {
        *done = true;
        return TFMQ_OK;
    }
    pix_fill(batch_index, s->buf);
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

#define N_EVAL 32
#define N_CLS 10

/* outputs of model m on the first N_EVAL samples of the source */
static void run_model(const tfmq_model *m, float out[N_EVAL][N_CLS])
{
    tfmq_session *s = NULL;
    TQ_EXPECT_OK(tfmq_session_create(m, NULL, &s));
    if (!s) {
        return;
    }
    tfmq_io_info ii = {sizeof(ii), NULL, 0, 0, NULL, NULL}, oi = ii;
    TQ_EXPECT_OK(tfmq_model_io(m, TFMQ_IO_INPUT, 0, &ii));
    TQ_EXPECT_OK(tfmq_model_io(m, TFMQ_IO_OUTPUT, 0, &oi));
    const char *in_name = ii.name, *out_name = oi.name;
    float buf[28 * 28];
    int64_t dims[4] = {1, 1, 28, 28};
    for (size_t i = 0; i < N_EVAL; i++) {
        pix_fill(i, buf);
        tfmq_tensor in = {in_name, TFMQ_DTYPE_FLOAT32, 4, dims, buf, sizeof(buf)};
        tfmq_tensor o = {out_name, TFMQ_DTYPE_FLOAT32, 0, NULL, out[i], sizeof(out[i])};
        TQ_EXPECT_OK(tfmq_session_run(s, &in, 1, &o, 1));
    }
    tfmq_session_destroy(s);
}

static tfmq_model *quantize(const tfmq_model *m, pix_src *src, uint32_t struct_size, bool bc)
{
    tfmq_quantize_options o;
    memset(&o, 0, sizeof(o));
    o.struct_size = struct_size;
    o.precision = TFMQ_PRECISION_INT8;
    o.calib_method = TFMQ_CALIB_MINMAX;
    o.calib_fn = pix_batch;
    o.calib_user_data = src;
    o.bias_correction = bc;
    tfmq_model *q = NULL;
    TQ_EXPECT(tfmq_quantize(m, &o, &q, NULL) == TFMQ_OK, "quantize: %s", tfmq_last_error());
    return q;
}

static double mean_channel_error(float ref[N_EVAL][N_CLS], float got[N_EVAL][N_CLS])
{
    double total = 0.0;
    for (size_t c = 0; c < N_CLS; c++) {
        double e = 0.0;
        for (size_t i = 0; i < N_EVAL; i++) {
            e += (double)got[i][c] - (double)ref[i][c];
        }
        total += fabs(e / N_EVAL);
    }
    return total / N_CLS;
}

static void test_cnn(tq_rng *rng)
{
    (void)rng;
    tfmq_model *m = NULL;
    TQ_EXPECT(tfmq_model_load(g_model, NULL, &m) == TFMQ_OK, "load: %s", tfmq_last_error());
    if (!m) {
        return;
    }
    static pix_src src;
    src.n_batches = N_EVAL;
    static float ref[N_EVAL][N_CLS], old[N_EVAL][N_CLS], off[N_EVAL][N_CLS], on[N_EVAL][N_CLS];
    run_model(m, ref);
    /* a caller built before the field existed, and one that leaves it false */
    tfmq_model *q_old = quantize(m, &src, (uint32_t)offsetof(tfmq_quantize_options,
                                                              bias_correction), true);
    tfmq_model *q_off = quantize(m, &src, sizeof(tfmq_quantize_options), false);
    tfmq_model *q_on = quantize(m, &src, sizeof(tfmq_quantize_options), true);
    if (q_old && q_off && q_on) {
        run_model(q_old, old);
        run_model(q_off, off);
        run_model(q_on, on);
        TQ_CHECK(memcmp(old, off, sizeof(old)) == 0);
        TQ_CHECK(memcmp(off, on, sizeof(off)) != 0);
        double e_off = mean_channel_error(ref, off), e_on = mean_channel_error(ref, on);
        printf("bias correction: mean |E[y_q - y]| per output channel %.6g without, %.6g with\n",
               e_off, e_on);
        TQ_EXPECT(e_on < e_off, "bias correction did not reduce the mean error: %g >= %g", e_on,
                  e_off);
    }
    tfmq_model_destroy(q_old);
    tfmq_model_destroy(q_off);
    tfmq_model_destroy(q_on);

    /* a calibration cache alone cannot measure the corrections */
    tfmq_quantize_options o;
    memset(&o, 0, sizeof(o));
    o.struct_size = sizeof(o);
    o.precision = TFMQ_PRECISION_INT8;
    o.calib_cache_path = "/nonexistent/tfmq_bc.cache";
    o.bias_correction = true;
    tfmq_model *q = NULL;
    TQ_CHECK(tfmq_quantize(m, &o, &q, NULL) != TFMQ_OK && q == NULL);
    tfmq_model_destroy(m);
}

/* ---- OOM torture ---- */

static tq_test_counting_alloc g_count;
static tfmq_allocator g_alloc = {&g_count, tq_test_counting_alloc_fn, tq_test_counting_free_fn};

static void test_oom(tq_rng *rng)
{
    (void)rng;
    tfmq_load_options lo = {sizeof(lo), &g_alloc, NULL};
    tfmq_model *m = NULL;
    TQ_EXPECT_OK(tfmq_model_load(g_model, &lo, &m));
    if (!m) {
        return;
    }
    static pix_src src;
    src.n_batches = 2;
    tfmq_quantize_options o;
    memset(&o, 0, sizeof(o));
    o.struct_size = sizeof(o);
    o.precision = TFMQ_PRECISION_INT8;
    o.calib_method = TFMQ_CALIB_MINMAX;
    o.calib_fn = pix_batch;
    o.calib_user_data = &src;
    o.bias_correction = true;
    uint64_t n_points = 0, n_bad = 0;
    bool completed = false;
    for (uint64_t n = 1; n < 200000 && !completed; n++) {
        const long long live0 = atomic_load(&g_count.n_live);
        const long long bytes0 = atomic_load(&g_count.bytes_live);
        tfmq_model *q = (tfmq_model *)&g_count;
        tfmq_report *rep = (tfmq_report *)&g_count;
        tq_alloc_test_set_fail_at(n);
        tfmq_status st = tfmq_quantize(m, &o, &q, &rep);
        const uint64_t count = tq_alloc_test_count();
        tq_alloc_test_set_fail_at(0);
        if (st == TFMQ_OK) {
            tfmq_model_destroy(q);
            tfmq_report_destroy(rep);
            completed = count < n;
        } else {
            n_points++;
            if ((st != TFMQ_ERR_OUT_OF_MEMORY || q != NULL || rep != NULL) && n_bad++ < 5) {
                tq_test_failf(__FILE__, __LINE__, "fail_at=%llu: status %s, out %p: %s",
                              (unsigned long long)n, tfmq_status_str(st), (void *)q,
                              tfmq_last_error());
            }
        }
        const long long live = atomic_load(&g_count.n_live) - live0;
        const long long bytes = atomic_load(&g_count.bytes_live) - bytes0;
        if ((live != 0 || bytes != 0) && n_bad++ < 5) {
            tq_test_failf(__FILE__, __LINE__, "fail_at=%llu: %lld blocks (%lld bytes) leaked",
                          (unsigned long long)n, live, bytes);
        }
    }
    printf("oom: tfmq_quantize int8 + bias correction: %llu failure points\n",
           (unsigned long long)n_points);
    TQ_CHECK(completed);
    TQ_CHECK(n_points > 0);
    tfmq_model_destroy(m);
    TQ_EXPECT_EQ_I64(atomic_load(&g_count.n_live), 0);
}

int main(int argc, char **argv)
{
    find_paths();
    tq_test_begin(argc, argv);
    TQ_RUN(test_known_answer);
    TQ_RUN(test_cnn);
    TQ_RUN(test_oom);
    return tq_test_end();
}
