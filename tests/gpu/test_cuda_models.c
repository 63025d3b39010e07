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
    TQ_RUN(test_replan);
    return tq_test_end();
}
