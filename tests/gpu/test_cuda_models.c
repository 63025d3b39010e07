/* test_cuda_models.c: whole models on the CUDA backend against the CPU, through the public API.
 * For each model (the bundled Fashion-MNIST CNN; from ../shared, or $TFMQ_SHARED, ResNet-20
 * CIFAR-10 and MobileNetV2 1.0 224) and precision (fp32, tf32, fp16, bf16; the model quantized
 * in memory, no calibration), a session on "cuda" and one on "cpu" (FP32) run the same random
 * inputs at batch 1 and 3. Checks: relative L2 error of the outputs against the CPU's FP32 at
 * most 1e-4 for fp32; for fp16 and bf16 at most 1e-2 or twice the error of the CPU running the
 * same fp16/bf16 model (within 6 dB of it: the GPU keeps every activation in the type, the CPU
 * only the convolutions' inputs, and BF16 on MobileNetV2 loses 20 dB on the CPU already); tf32
 * likewise against the CPU's fp16 error; no node on the host fallback; runs after
 * the first replay one CUDA graph and give identical outputs; a run at another batch re-plans.
 * INT8 (shared models): quantized with min-max calibration on 4 random batches; the GPU's INT8
 * session against the CPU's on the same inputs (at least 8 samples): top-1 agreement >= 99% and
 * output SQNR >= 30 dB (both printed), no host fallback, identical replays.
 * Skipped (exit 77) with the reason when no CUDA device is usable. A missing model file fails. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cuda/dev.h"
#include "harness.h"
#include "tfmq.h"

typedef struct model_case {
    const char *path; /* relative to the shared dir, or to the source tree when local */
    bool local;
} model_case;

static const model_case MODELS[] = {
    {"models/fashion_mnist_cnn.onnx", true},
    {"models/resnet20_cifar10/model.onnx", false},
    {"models/mobilenet_v2_1.0_224/model.onnx", false},
};

/* fp16 before tf32: tf32's limit uses the CPU's fp16 error (both keep 10 mantissa bits). */
static const struct {
    const char *name;
    tfmq_precision p;
    double limit;
} PRECS[] = {
    {"fp32", TFMQ_PRECISION_FP32, 1e-4},
    {"fp16", TFMQ_PRECISION_FP16, 1e-2},
    {"tf32", TFMQ_PRECISION_TF32, 1e-2},
    {"bf16", TFMQ_PRECISION_BF16, 1e-2},
};

typedef struct io {
    tfmq_io_info ii, oi;
    int64_t dims[8];
    size_t n_in;
    float *x;
} io;

static tfmq_session *make_session(const tfmq_model *m, const char *device, int64_t batch)
{
    tfmq_session_options so;
    memset(&so, 0, sizeof(so));
    so.struct_size = sizeof(so);
    so.symbolic_dim_default = batch;
    so.device = device;
    tfmq_session *s = NULL;
    tfmq_status st = tfmq_session_create(m, &so, &s);
    TQ_EXPECT(st == TFMQ_OK, "session_create(%s, batch %lld): %s", device, (long long)batch,
              tfmq_last_error());
    return s;
}

/* Run s on io's input; returns a malloc'ed copy of output 0 (n_out elements) or NULL. */
static float *run_once(tfmq_session *s, io *t, size_t *n_out)
{
    tfmq_tensor in = {t->ii.name, TFMQ_DTYPE_FLOAT32, t->ii.rank, t->dims, t->x,
                      t->n_in * sizeof(float)};
    tfmq_tensor out;
    memset(&out, 0, sizeof(out));
    out.name = t->oi.name;
    tfmq_status st = tfmq_session_run(s, &in, 1, &out, 1);
    TQ_EXPECT(st == TFMQ_OK, "session_run: %s", tfmq_last_error());
    if (st != TFMQ_OK) {
        return NULL;
    }
    *n_out = out.data_bytes / sizeof(float);
    float *y = malloc(out.data_bytes + 4);
    if (y) {
        memcpy(y, out.data, out.data_bytes);
    }
    return y;
}

static double rel_l2(const float *y, const float *r, size_t n)
{
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)y[i] - (double)r[i];
        num += d * d;
        den += (double)r[i] * (double)r[i];
        if (!isfinite(y[i])) {
            return INFINITY;
        }
    }
    return sqrt(num / (den > 0.0 ? den : 1e-30));
}

static void check_model(const model_case *mc, tq_rng *rng)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", mc->local ? TFMQ_SOURCE_DIR : tq_test_shared_dir(),
             mc->path);
    tfmq_model *m = NULL;
    tfmq_status st = tfmq_model_load(path, NULL, &m);
    TQ_EXPECT(st == TFMQ_OK, "load %s: %s", path, tfmq_last_error());
    if (st != TFMQ_OK) {
        return;
    }
    io t;
    memset(&t, 0, sizeof(t));
    t.ii.struct_size = t.oi.struct_size = sizeof(t.ii);
    TQ_EXPECT_OK(tfmq_model_io(m, TFMQ_IO_INPUT, 0, &t.ii));
    TQ_EXPECT_OK(tfmq_model_io(m, TFMQ_IO_OUTPUT, 0, &t.oi));
    for (int64_t batch = 1; batch <= 3; batch += 2) {
        t.n_in = 1;
        for (int32_t d = 0; d < t.ii.rank; d++) {
            t.dims[d] = t.ii.dims[d] >= 0 ? t.ii.dims[d] : batch;
            t.n_in *= (size_t)t.dims[d];
        }
        if (t.ii.dims[0] >= 0 && batch > 1) {
            break; /* fixed batch */
        }
        t.x = malloc(t.n_in * sizeof(float));
        for (size_t i = 0; t.x && i < t.n_in; i++) {
            t.x[i] = tq_rng_uniform(rng, -1.0f, 1.0f);
        }
        tfmq_session *cpu = make_session(m, "cpu", batch);
        size_t n_ref = 0, n_y = 0;
        float *ref = cpu ? run_once(cpu, &t, &n_ref) : NULL;
        double cpu_fp16_err = 0.0;
        for (size_t k = 0; ref && k < sizeof(PRECS) / sizeof(PRECS[0]); k++) {
            tfmq_model *q = NULL;
            if (PRECS[k].p != TFMQ_PRECISION_FP32) {
                tfmq_quantize_options qo;
                memset(&qo, 0, sizeof(qo));
                qo.struct_size = sizeof(qo);
                qo.precision = PRECS[k].p;
                st = tfmq_quantize(m, &qo, &q, NULL);
                TQ_EXPECT(st == TFMQ_OK, "quantize %s: %s", PRECS[k].name, tfmq_last_error());
                if (st != TFMQ_OK) {
                    continue;
                }
            }
            double limit = PRECS[k].limit, cpu_err = 0.0;
            if (q && PRECS[k].p != TFMQ_PRECISION_TF32) { /* the CPU on the same model */
                tfmq_session *cq = make_session(q, "cpu", batch);
                size_t n_c = 0;
                float *yc = cq ? run_once(cq, &t, &n_c) : NULL;
                cpu_err = yc && n_c == n_ref ? rel_l2(yc, ref, n_ref) : 0.0;
                free(yc);
                tfmq_session_destroy(cq);
                if (PRECS[k].p == TFMQ_PRECISION_FP16) {
                    cpu_fp16_err = cpu_err;
                }
            } else if (PRECS[k].p == TFMQ_PRECISION_TF32) {
                cpu_err = cpu_fp16_err;
            }
            if (2.0 * cpu_err > limit) {
                limit = 2.0 * cpu_err;
            }
            tfmq_session *gpu = make_session(q ? q : m, "cuda", batch);
            float *y1 = gpu ? run_once(gpu, &t, &n_y) : NULL;
            float *y2 = y1 ? run_once(gpu, &t, &n_y) : NULL;
            if (y1 && y2) {
                double e = rel_l2(y1, ref, n_ref);
                printf("  %-42s %s b%lld: rel L2 %.3e (cpu %.3e, limit %.2e)\n", mc->path,
                       PRECS[k].name, (long long)batch, e, cpu_err, limit);
                TQ_EXPECT(n_y == n_ref && e <= limit, "%s %s batch %lld: rel L2 %.3e > %.2e",
                          mc->path, PRECS[k].name, (long long)batch, e, limit);
                TQ_EXPECT(memcmp(y1, y2, n_y * sizeof(float)) == 0,
                          "%s %s: the second (graph replay) run differs from the first", mc->path,
                          PRECS[k].name);
                tfmq_session_info si;
                memset(&si, 0, sizeof(si));
                si.struct_size = sizeof(si);
                TQ_EXPECT_OK(tfmq_session_get_info(gpu, &si));
                TQ_EXPECT(si.n_host_fallback == 0, "%s %s: %zu nodes on the host fallback",
                          mc->path, PRECS[k].name, si.n_host_fallback);
                TQ_EXPECT(si.graph_replay, "%s %s: runs do not replay a CUDA graph", mc->path,
                          PRECS[k].name);
            }
            free(y1);
            free(y2);
            tfmq_session_destroy(gpu);
            tfmq_model_destroy(q);
        }
        free(ref);
        tfmq_session_destroy(cpu);
        free(t.x);
        t.x = NULL;
    }
    tfmq_model_destroy(m);
}

static void test_models(tq_rng *rng)
{
    for (size_t i = 0; i < sizeof(MODELS) / sizeof(MODELS[0]); i++) {
        check_model(&MODELS[i], rng);
    }
}

/* ---- INT8: the models quantized (min-max calibration on random batches), GPU vs CPU ---- */
typedef struct calib_src {
    tfmq_io_info ii;
    int64_t dims[8];
    float *buf;
    size_t n;
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
    tq_rng r = {1000 + batch_index};
    for (size_t i = 0; i < s->n; i++) {
        s->buf[i] = tq_rng_uniform(&r, -1.0f, 1.0f);
    }
    inputs[0].dtype = TFMQ_DTYPE_FLOAT32;
    inputs[0].rank = s->ii.rank;
    inputs[0].dims = s->dims;
    inputs[0].data = s->buf;
    inputs[0].data_bytes = s->n * sizeof(float);
    return TFMQ_OK;
}

/* Top-1 agreement >= 99% over every sample (rows of the last dim) and output SQNR >= 30 dB of
 * the GPU's INT8 session against the CPU's on the same int8 model and inputs; no host fallback. */
static void check_model_int8(const model_case *mc, tq_rng *rng)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", tq_test_shared_dir(), mc->path);
    tfmq_model *m = NULL, *q = NULL;
    tfmq_status st = tfmq_model_load(path, NULL, &m);
    TQ_EXPECT(st == TFMQ_OK, "load %s: %s", path, tfmq_last_error());
    if (st != TFMQ_OK) {
        return;
    }
    io t;
    memset(&t, 0, sizeof(t));
    t.ii.struct_size = t.oi.struct_size = sizeof(t.ii);
    TQ_EXPECT_OK(tfmq_model_io(m, TFMQ_IO_INPUT, 0, &t.ii));
    TQ_EXPECT_OK(tfmq_model_io(m, TFMQ_IO_OUTPUT, 0, &t.oi));
    const int64_t batch = t.ii.dims[0] >= 0 ? t.ii.dims[0] : 8;
    const int rounds = batch >= 8 ? 2 : 8; /* at least 8 samples */
    calib_src src;
    memset(&src, 0, sizeof(src));
    src.ii = t.ii;
    src.n = 1;
    for (int32_t d = 0; d < t.ii.rank; d++) {
        src.dims[d] = t.ii.dims[d] >= 0 ? t.ii.dims[d] : 2;
        src.n *= (size_t)src.dims[d];
    }
    src.buf = malloc(src.n * sizeof(float));
    tfmq_quantize_options qo;
    memset(&qo, 0, sizeof(qo));
    qo.struct_size = sizeof(qo);
    qo.precision = TFMQ_PRECISION_INT8;
    qo.calib_method = TFMQ_CALIB_MINMAX;
    qo.calib_fn = calib_batch;
    qo.calib_user_data = &src;
    st = src.buf ? tfmq_quantize(m, &qo, &q, NULL) : TFMQ_ERR_OUT_OF_MEMORY;
    free(src.buf);
    TQ_EXPECT(st == TFMQ_OK, "%s: quantize int8: %s", mc->path, tfmq_last_error());
    tfmq_session *cpu = st == TFMQ_OK ? make_session(q, "cpu", batch) : NULL;
    tfmq_session *gpu = st == TFMQ_OK ? make_session(q, "cuda", batch) : NULL;
    size_t n_samples = 0, n_agree = 0;
    double sig = 0.0, noise = 0.0;
    for (int rd = 0; cpu && gpu && rd < rounds; rd++) {
        t.n_in = 1;
        for (int32_t d = 0; d < t.ii.rank; d++) {
            t.dims[d] = t.ii.dims[d] >= 0 ? t.ii.dims[d] : batch;
            t.n_in *= (size_t)t.dims[d];
        }
        t.x = malloc(t.n_in * sizeof(float));
        for (size_t i = 0; t.x && i < t.n_in; i++) {
            t.x[i] = tq_rng_uniform(rng, -1.0f, 1.0f);
        }
        size_t n_ref = 0, n_y = 0;
        float *ref = t.x ? run_once(cpu, &t, &n_ref) : NULL;
        float *y = ref ? run_once(gpu, &t, &n_y) : NULL;
        float *y2 = y ? run_once(gpu, &t, &n_y) : NULL;
        if (ref && y && y2 && n_y == n_ref) {
            const size_t rows = (size_t)batch, cols = n_ref / rows;
            for (size_t r = 0; r < rows; r++) {
                size_t a = 0, b = 0;
                for (size_t c = 1; c < cols; c++) {
                    a = ref[r * cols + c] > ref[r * cols + a] ? c : a;
                    b = y[r * cols + c] > y[r * cols + b] ? c : b;
                }
                n_samples++;
                n_agree += a == b;
                if (a != b) {
                    printf("  %s int8: round %d sample %zu: top-1 cpu %zu (%.5f) gpu %zu (%.5f); "
                           "cpu's value at gpu's class %.5f\n", mc->path, rd, r, a,
                           (double)ref[r * cols + a], b, (double)y[r * cols + b],
                           (double)ref[r * cols + b]);
                }
            }
            for (size_t i = 0; i < n_ref; i++) {
                const double d = (double)y[i] - (double)ref[i];
                sig += (double)ref[i] * (double)ref[i];
                noise += d * d;
            }
            TQ_EXPECT(memcmp(y, y2, n_y * sizeof(float)) == 0,
                      "%s int8: the second (graph replay) run differs from the first", mc->path);
        } else {
            TQ_EXPECT(false, "%s int8: runs failed or output sizes differ (%zu vs %zu)", mc->path,
                      n_y, n_ref);
        }
        free(ref);
        free(y);
        free(y2);
        free(t.x);
        t.x = NULL;
    }
    if (gpu && n_samples) {
        const double sqnr = noise > 0.0 ? 10.0 * log10(sig / noise) : (double)INFINITY;
        const double agree = 100.0 * (double)n_agree / (double)n_samples;
        tfmq_session_info si;
        memset(&si, 0, sizeof(si));
        si.struct_size = sizeof(si);
        TQ_EXPECT_OK(tfmq_session_get_info(gpu, &si));
        printf("  %-42s int8 b%lld: top-1 agreement %.1f%% (%zu/%zu), SQNR vs cpu int8 %.1f dB, "
               "%zu host fallbacks, graph replay %d\n", mc->path, (long long)batch, agree,
               n_agree, n_samples, sqnr, si.n_host_fallback, (int)si.graph_replay);
        TQ_EXPECT(agree >= 99.0, "%s int8: top-1 agreement %.1f%% < 99%%", mc->path, agree);
        TQ_EXPECT(sqnr >= 30.0, "%s int8: SQNR %.1f dB < 30 dB", mc->path, sqnr);
        TQ_EXPECT(si.n_host_fallback == 0, "%s int8: %zu nodes on the host fallback", mc->path,
                  si.n_host_fallback);
    }
    tfmq_session_destroy(gpu);
    tfmq_session_destroy(cpu);
    tfmq_model_destroy(q);
    tfmq_model_destroy(m);
}

static void test_models_int8(tq_rng *rng)
{
    for (size_t i = 0; i < sizeof(MODELS) / sizeof(MODELS[0]); i++) {
        if (!MODELS[i].local) {
            check_model_int8(&MODELS[i], rng);
        }
    }
}

/* A session re-plans when a run brings another batch size, and the results follow the CPU. */
static void test_replan(tq_rng *rng)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/models/fashion_mnist_cnn.onnx", TFMQ_SOURCE_DIR);
    tfmq_model *m = NULL;
    TQ_EXPECT_OK(tfmq_model_load(path, NULL, &m));
    if (!m) {
        return;
    }
    io t;
    memset(&t, 0, sizeof(t));
    t.ii.struct_size = t.oi.struct_size = sizeof(t.ii);
    TQ_EXPECT_OK(tfmq_model_io(m, TFMQ_IO_INPUT, 0, &t.ii));
    TQ_EXPECT_OK(tfmq_model_io(m, TFMQ_IO_OUTPUT, 0, &t.oi));
    tfmq_session *gpu = make_session(m, "cuda", 1);
    tfmq_session *cpu = make_session(m, "cpu", 1);
    for (int64_t batch = 2; gpu && cpu && batch <= 5 && t.ii.dims[0] < 0; batch += 3) {
        t.n_in = 1;
        for (int32_t d = 0; d < t.ii.rank; d++) {
            t.dims[d] = t.ii.dims[d] >= 0 ? t.ii.dims[d] : batch;
            t.n_in *= (size_t)t.dims[d];
        }
        t.x = malloc(t.n_in * sizeof(float));
        for (size_t i = 0; t.x && i < t.n_in; i++) {
            t.x[i] = tq_rng_uniform(rng, 0.0f, 1.0f);
        }
        size_t n_ref = 0, n_y = 0;
        float *ref = run_once(cpu, &t, &n_ref);
        float *y = run_once(gpu, &t, &n_y);
        if (ref && y) {
            TQ_EXPECT(n_y == n_ref && rel_l2(y, ref, n_ref) <= 1e-4,
                      "re-planned batch %lld differs from the CPU", (long long)batch);
        }
        free(ref);
        free(y);
        free(t.x);
    }
    tfmq_session_destroy(gpu);
    tfmq_session_destroy(cpu);
    tfmq_model_destroy(m);
}

int main(int argc, char **argv)
{
    char why[256];
    int n = 0;
    if (tq_cuda_dev_probe(&n, why, sizeof(why)) != TFMQ_OK) {
        printf("test_cuda_models: SKIP: %s\n", why);
        return 77;
    }
    tq_test_begin(argc, argv);
    TQ_RUN(test_models);
    TQ_RUN(test_models_int8);
    TQ_RUN(test_replan);
    return tq_test_end();
}
