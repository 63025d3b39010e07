/* test_cuda_calib.c: INT8 calibration's FP32 passes on the GPU (quant/calib_cuda.c) against the
 * CPU driver, and the CUDA exec's observer (backends/cuda/exec.h) it stands on.
 *  - exec observer: the bundled Fashion-MNIST CNN at batch 3, float32 and float16 storage. Every
 *    float32 value the GPU computes is handed exactly once per run, with the IR's shape (NCHW,
 *    no padding), and matches the CPU executor's value (relative L2 1e-4 in FP32, as
 *    test_cuda_models' whole-model bound; 1e-2 when stored in float16); removing the observer
 *    gives back CUDA-graph replays with the same outputs.
 *  - calibration: the CNN and ResNet-20 CIFAR-10 (../shared, or $TFMQ_SHARED), every node output
 *    and the input, random batches of 8 cut to 36 samples (the last batch of 4 re-plans the
 *    GPU exec), TFMQ_CALIB_DEVICE=cpu against =cuda:
 *      minmax: every range within 1e-3 of the tensor's max|x| (inputs exactly). The GPU runs the
 *        same float32 graph in strict FP32 (no TF32) but sums in other orders (cuDNN engines,
 *        FMA): each value differs by a few ulps times the depth of the network, ~1e-6
 *        relative, so 1e-3 leaves a wide margin while a missing element, padding or garbage
 *        (NaN-free but arbitrary) would move a min or max by far more;
 *      percentile: within 1e-2 of max|x| (the histograms have 2048 bins over ~max|x|: values
 *        that cross a bin edge move the interpolated percentile by a fraction of a bin);
 *      entropy: 90 % of the tensors within 2e-2 of max|x| (the KL minimum can jump between
 *        near-equal candidates when counts move by a few values), the worst printed.
 *  - INT8 models: each model quantized (percentile) with CPU and with GPU calibration, both run
 *    on the CPU over 64 other random samples: top-1 agreement >= 95 % and relative L2 between
 *    the two INT8 models' outputs <= 3 % (their scales differ by ~1e-5 relative, so few values
 *    change by one step; the bound is loose on purpose: random inputs have near-tied logits).
 * Calibration times on both devices are printed. Skipped (exit 77) with the reason when no
 * CUDA device is usable. A missing model file fails. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cuda/dev.h"
#include "backends/cuda/exec.h"
#include "core/core.h"
#include "harness.h"
#include "quant/calib.h"
#include "runtime/exec.h"
#include "runtime/model.h"
#include "tfmq.h"

typedef struct model_case {
    const char *path; /* relative to the shared dir, or to the source tree when local */
    bool local;
    float lo, hi;     /* input values: uniform in [lo, hi) */
} model_case;

static const model_case MODELS[] = {
    {"models/fashion_mnist_cnn.onnx", true, 0.0f, 1.0f},
    {"models/resnet20_cifar10/model.onnx", false, -2.0f, 2.0f},
};

static tfmq_model *load(const model_case *mc)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", mc->local ? TFMQ_SOURCE_DIR : tq_test_shared_dir(),
             mc->path);
    tfmq_model *m = NULL;
    tfmq_status st = tfmq_model_load(path, NULL, &m);
    TQ_EXPECT(st == TFMQ_OK, "load %s: %s", path, tfmq_last_error());
    return st == TFMQ_OK ? m : NULL;
}

static double rel_l2(const float *y, const float *r, size_t n)
{
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(y[i])) {
            return INFINITY;
        }
        const double d = (double)y[i] - (double)r[i];
        num += d * d;
        den += (double)r[i] * (double)r[i];
    }
    return sqrt(num / (den > 0.0 ? den : 1e-30));
}

/* ---- the exec observer ---- */

typedef struct value_log {
    const tq_graph *g;
    const tq_exec *cpu;     /* CPU side: read values through tq_exec_value */
    float **data;           /* per value: a copy (malloc), NULL when not seen */
    tq_tensor *shape;       /* per value: its tensor (data NULL) */
    int *n_seen;            /* per value: times handed in this run */
    bool bad_order;
} value_log;

static void log_copy(value_log *l, int32_t v, const tq_tensor *t)
{
    if (t->dtype != TFMQ_DTYPE_FLOAT32 || !t->data) {
        return;
    }
    const size_t n = tq_tensor_numel(t);
    free(l->data[v]);
    l->data[v] = malloc(n * sizeof(float) + 4);
    if (l->data[v]) {
        memcpy(l->data[v], t->data, n * sizeof(float));
    }
    l->shape[v] = *t;
    l->shape[v].data = NULL;
    l->n_seen[v]++;
}

static tfmq_status cpu_on_node(void *ud, const tq_exec *e, int32_t node_index)
{
    value_log *l = ud;
    if (node_index < 0) {
        for (size_t i = 0; i < l->g->n_inputs; i++) {
            log_copy(l, l->g->inputs[i], tq_exec_value(e, l->g->inputs[i]));
        }
        return TFMQ_OK;
    }
    const tq_node *n = &l->g->nodes[node_index];
    for (int32_t k = 0; k < n->n_out; k++) {
        if (n->out[k] >= 0) {
            log_copy(l, n->out[k], tq_exec_value(e, n->out[k]));
        }
    }
    return TFMQ_OK;
}

static tfmq_status gpu_on_values(void *ud, const int32_t *values, const tq_tensor *tensors,
                                 size_t n)
{
    value_log *l = ud;
    for (size_t i = 0; i < n; i++) {
        log_copy(l, values[i], &tensors[i]);
    }
    return TFMQ_OK;
}

static bool log_init(value_log *l, const tq_graph *g)
{
    memset(l, 0, sizeof(*l));
    l->g = g;
    l->data = calloc(g->n_values + 1, sizeof(float *));
    l->shape = calloc(g->n_values + 1, sizeof(tq_tensor));
    l->n_seen = calloc(g->n_values + 1, sizeof(int));
    return l->data && l->shape && l->n_seen;
}

static void log_free(value_log *l)
{
    for (size_t v = 0; l->data && v < l->g->n_values; v++) {
        free(l->data[v]);
    }
    free(l->data);
    free(l->shape);
    free(l->n_seen);
}

static void test_exec_observer(tq_rng *rng)
{
    tfmq_model *m = load(&MODELS[0]);
    if (!m) {
        return;
    }
    const tq_graph *g = m->graph;
    const size_t n_in = 3 * 28 * 28;
    float *x = malloc(n_in * sizeof(float));
    tq_tensor in = {TFMQ_DTYPE_FLOAT32, 4, {3, 1, 28, 28}, x};
    for (size_t i = 0; x && i < n_in; i++) {
        x[i] = tq_rng_uniform(rng, 0.0f, 1.0f);
    }
    /* the CPU executor, values copied as nodes run */
    value_log ref;
    tq_exec *cpu = NULL;
    bool ok = x && log_init(&ref, g);
    TQ_EXPECT(ok, "out of memory");
    if (ok) {
        TQ_EXPECT_OK(tq_exec_create(g, g->alloc, NULL, &cpu));
    }
    if (cpu) {
        tq_exec_set_observer(cpu, cpu_on_node, &ref);
        TQ_EXPECT_OK(tq_exec_ensure_plan(cpu, &in, NULL));
        TQ_EXPECT_OK(tq_exec_run(cpu, &in));
    }
    const tq_cuda_store stores[2] = {TQ_CUDA_F32, TQ_CUDA_F16};
    for (int si = 0; si < 2 && cpu; si++) {
        const double lim = stores[si] == TQ_CUDA_F32 ? 1e-4 : 1e-2;
        tq_exec *host = NULL;
        tq_cuda_exec *gx = NULL;
        value_log got;
        bool *want = calloc(g->n_values + 1, sizeof(bool));
        if (!want || !log_init(&got, g)) {
            TQ_EXPECT(false, "out of memory");
            free(want);
            break;
        }
        for (size_t v = 0; v < g->n_values; v++) {
            want[v] = true;
        }
        tq_tensor shape = in;
        shape.data = NULL;
        TQ_EXPECT_OK(tq_exec_create(g, g->alloc, NULL, &host));
        if (host) {
            TQ_EXPECT_OK(tq_exec_plan(host, &shape, true));
        }
        tq_cuda_exec_opts xo;
        memset(&xo, 0, sizeof(xo));
        xo.store = stores[si];
        xo.math = TQ_CUDA_MATH_FP32;
        xo.use_graph = true;
        xo.quick_plans = true;
        tfmq_status st =
            host ? tq_cuda_exec_create(g, host, &xo, g->alloc, &gx) : TFMQ_ERR_INTERNAL;
        TQ_EXPECT(st == TFMQ_OK, "store %d: cuda exec: %s", (int)stores[si], tfmq_last_error());
        if (gx) {
            TQ_EXPECT_OK(tq_cuda_exec_set_observer(gx, want, gpu_on_values, &got));
        }
        for (int run = 0; run < 2 && gx; run++) {
            memset(got.n_seen, 0, (g->n_values + 1) * sizeof(int));
            st = tq_cuda_exec_run(gx, &in);
            TQ_EXPECT(st == TFMQ_OK, "observed run %d: %s", run, tfmq_last_error());
            TQ_EXPECT(!tq_cuda_exec_uses_graph(gx), "observed runs replay a CUDA graph");
            size_t n_cmp = 0;
            for (size_t v = 0; v < g->n_values; v++) {
                const bool is_const = tq_exec_value_is_const(host, (int32_t)v);
                const char *name = g->values[v].name ? g->values[v].name : "?";
                if (is_const) {
                    TQ_EXPECT(got.n_seen[v] == 0, "constant %s handed", name);
                    continue;
                }
                if (!ref.data[v]) {
                    TQ_EXPECT(got.n_seen[v] == 0, "%s handed, never computed on the CPU", name);
                    continue;
                }
                TQ_EXPECT(got.n_seen[v] == 1, "store %d run %d: %s handed %d times",
                          (int)stores[si], run, name, got.n_seen[v]);
                if (got.n_seen[v] != 1 || !got.data[v]) {
                    continue;
                }
                const tq_tensor *a = &got.shape[v], *b = &ref.shape[v];
                bool same = a->rank == b->rank && a->dtype == b->dtype;
                for (int32_t d = 0; same && d < a->rank; d++) {
                    same = a->dims[d] == b->dims[d];
                }
                TQ_EXPECT(same, "%s: shape differs from the CPU's", name);
                if (same) {
                    const double e = rel_l2(got.data[v], ref.data[v], tq_tensor_numel(b));
                    TQ_EXPECT(e <= lim, "store %d: %s: relative L2 %.3g > %.0e", (int)stores[si],
                              name, e, lim);
                    n_cmp++;
                }
            }
            TQ_EXPECT(n_cmp >= g->n_nodes / 2, "only %zu values compared", n_cmp);
            if (run == 0) {
                printf("  exec observer, store %s: %zu values handed and matched\n",
                       stores[si] == TQ_CUDA_F32 ? "f32" : "f16", n_cmp);
            }
        }
        /* without the observer: CUDA-graph replays, the same outputs */
        if (gx) {
            const int32_t ov = g->outputs[0];
            const tq_tensor *o0 = tq_cuda_exec_output(gx, 0);
            const size_t n_out = tq_tensor_numel(o0);
            float *y_obs = malloc(n_out * sizeof(float) + 4);
            if (y_obs && got.data[ov]) {
                memcpy(y_obs, o0->data, n_out * sizeof(float));
                TQ_EXPECT(rel_l2(y_obs, got.data[ov], n_out) == 0.0,
                          "output differs from its observed value");
            }
            TQ_EXPECT_OK(tq_cuda_exec_set_observer(gx, NULL, NULL, NULL));
            for (int run = 0; run < 3; run++) {
                TQ_EXPECT_OK(tq_cuda_exec_run(gx, &in));
            }
            TQ_EXPECT(tq_cuda_exec_uses_graph(gx), "no CUDA graph once the observer is gone");
            if (y_obs) {
                /* 1e-6, not 0: a quick plan may reduce in a nondeterministic order */
                TQ_EXPECT(rel_l2((const float *)o0->data, y_obs, n_out) <= 1e-6,
                          "replayed output differs from the observed run's");
            }
            free(y_obs);
        }
        tq_cuda_exec_destroy(gx);
        tq_exec_destroy(host);
        log_free(&got);
        free(want);
    }
    tq_exec_destroy(cpu);
    if (ok) {
        log_free(&ref);
    }
    free(x);
    tfmq_model_destroy(m);
}

/* ---- calibration, CPU against GPU ---- */

typedef struct rand_source {
    uint64_t seed;
    int32_t rank;
    int64_t dims[8];    /* dims[0]: the batch */
    size_t n_batches;
    float lo, hi;
    float *buf;
} rand_source;

static tfmq_status rand_batch(void *ud, size_t batch_index, tfmq_tensor *inputs, size_t n_inputs,
                              bool *done)
{
    rand_source *s = ud;
    if (n_inputs != 1) {
        return tq_fail(TFMQ_ERR_INTERNAL, "one input expected");
    }
    if (batch_index >= s->n_batches) {
        *done = true;
        return TFMQ_OK;
    }
    size_t n = 1;
    for (int32_t d = 0; d < s->rank; d++) {
        n *= (size_t)s->dims[d];
    }
    tq_rng r = {s->seed * 7919u + batch_index};
    for (size_t i = 0; i < n; i++) {
        s->buf[i] = tq_rng_uniform(&r, s->lo, s->hi);
    }
    inputs[0].dtype = TFMQ_DTYPE_FLOAT32;
    inputs[0].rank = s->rank;
    inputs[0].dims = s->dims;
    inputs[0].data = s->buf;
    inputs[0].data_bytes = n * sizeof(float);
    return TFMQ_OK;
}

/* A source of n_batches batches of `batch` (a fixed batch dim is kept) for m's input 0. */
static bool make_source(const tfmq_model *m, const model_case *mc, uint64_t seed, int64_t batch,
                        size_t n_batches, rand_source *s)
{
    tfmq_io_info ii;
    memset(&ii, 0, sizeof(ii));
    ii.struct_size = sizeof(ii);
    memset(s, 0, sizeof(*s));
    if (tfmq_model_io(m, TFMQ_IO_INPUT, 0, &ii) != TFMQ_OK || ii.rank < 1 || ii.rank > 8) {
        return false;
    }
    s->seed = seed;
    s->rank = ii.rank;
    s->n_batches = n_batches;
    s->lo = mc->lo;
    s->hi = mc->hi;
    size_t n = 1;
    for (int32_t d = 0; d < ii.rank; d++) {
        s->dims[d] = ii.dims[d] >= 0 ? ii.dims[d] : (d == 0 ? batch : 1);
        n *= (size_t)s->dims[d];
    }
    s->buf = malloc(n * sizeof(float) + 4);
    return s->buf != NULL;
}

static tfmq_status calibrate_on(const char *device, const tq_graph *g, const char **names,
                                size_t n, rand_source *src, tfmq_calib_method meth, float *lo,
                                float *hi, double *seconds)
{
    tfmq_quantize_options o;
    memset(&o, 0, sizeof(o));
    o.struct_size = sizeof(o);
    o.precision = TFMQ_PRECISION_INT8;
    o.calib_method = meth;
    o.calib_fn = rand_batch;
    o.calib_user_data = src;
    o.max_calib_samples = 36;
    setenv("TFMQ_CALIB_DEVICE", device, 1);
    uint64_t n_samples = 0;
    const double t0 = tq_now_s();
    tfmq_status st = tq_calibrate(g, names, n, &o, lo, hi, &n_samples);
    *seconds = tq_now_s() - t0;
    unsetenv("TFMQ_CALIB_DEVICE");
    TQ_EXPECT(st == TFMQ_OK, "calibrate on %s: %s", device, tfmq_last_error());
    TQ_EXPECT(st != TFMQ_OK || n_samples == 36 || src->dims[0] != 8, "%s: %llu samples", device,
              (unsigned long long)n_samples);
    return st;
}

static void test_calibrate_cpu_vs_gpu(tq_rng *rng)
{
    (void)rng;
    static const char *const METHOD_NAMES[] = {"minmax", "entropy", "percentile"};
    for (size_t mi = 0; mi < sizeof(MODELS) / sizeof(MODELS[0]); mi++) {
        tfmq_model *m = load(&MODELS[mi]);
        if (!m) {
            continue;
        }
        const tq_graph *g = m->graph;
        const char **names = calloc(g->n_nodes * 4 + g->n_inputs + 1, sizeof(char *));
        float *lo[2], *hi[2];
        size_t n = 0;
        for (size_t i = 0; names && i < g->n_inputs; i++) {
            names[n++] = g->values[g->inputs[i]].name;
        }
        for (size_t i = 0; names && i < g->n_nodes; i++) {
            for (int32_t k = 0; k < g->nodes[i].n_out; k++) {
                if (g->nodes[i].out[k] >= 0 && g->values[g->nodes[i].out[k]].name) {
                    names[n++] = g->values[g->nodes[i].out[k]].name;
                }
            }
        }
        for (int d = 0; d < 2; d++) {
            lo[d] = calloc(n + 1, sizeof(float));
            hi[d] = calloc(n + 1, sizeof(float));
        }
        rand_source src;
        if (!names || !lo[0] || !lo[1] || !hi[0] || !hi[1] ||
            !make_source(m, &MODELS[mi], 100 + mi, 8, 5, &src)) {
            TQ_EXPECT(false, "%s: setup", MODELS[mi].path);
            tfmq_model_destroy(m);
            continue;
        }
        for (int meth = 0; meth < 3; meth++) {
            double sec[2];
            if (calibrate_on("cpu", g, names, n, &src, (tfmq_calib_method)meth, lo[0], hi[0],
                             &sec[0]) != TFMQ_OK ||
                calibrate_on("cuda", g, names, n, &src, (tfmq_calib_method)meth, lo[1], hi[1],
                             &sec[1]) != TFMQ_OK) {
                continue;
            }
            const double tol = meth == 0 ? 1e-3 : (meth == 2 ? 1e-2 : 2e-2);
            size_t n_ok = 0, n_float = 0, worst = 0;
            double worst_d = 0.0;
            for (size_t i = 0; i < n; i++) {
                const double amax = fmax(fabs((double)lo[0][i]), fabs((double)hi[0][i]));
                const double d = fmax(fabs((double)lo[1][i] - (double)lo[0][i]),
                                      fabs((double)hi[1][i] - (double)hi[0][i]));
                if (amax == 0.0 && d == 0.0) {
                    continue; /* not float32 (or all zero) on both */
                }
                n_float++;
                const double rel = d / (amax > 0.0 ? amax : 1.0);
                n_ok += rel <= tol;
                if (rel >= worst_d) {
                    worst_d = rel;
                    worst = i;
                }
                if (i < g->n_inputs) {
                    TQ_EXPECT(d == 0.0, "%s %s: input range differs", MODELS[mi].path,
                              METHOD_NAMES[meth]);
                }
                if (meth != 1) {
                    TQ_EXPECT(rel <= tol, "%s %s: %s: cpu [%.7g, %.7g] cuda [%.7g, %.7g]: %.2g "
                              "of max|x| > %.0e", MODELS[mi].path, METHOD_NAMES[meth], names[i],
                              (double)lo[0][i], (double)hi[0][i], (double)lo[1][i],
                              (double)hi[1][i], rel, tol);
                }
            }
            if (meth == 1) {
                TQ_EXPECT(n_ok * 10 >= n_float * 9, "%s entropy: only %zu of %zu within %.0e",
                          MODELS[mi].path, n_ok, n_float, tol);
            }
            TQ_EXPECT(n_float >= g->n_nodes / 2, "%s: only %zu float tensors", MODELS[mi].path,
                      n_float);
            printf("  %-36s %-10s %3zu tensors: cpu %6.2f s, cuda %6.2f s; %zu within %.0e of "
                   "max|x|, worst %.2g (%s)\n", MODELS[mi].path, METHOD_NAMES[meth], n_float,
                   sec[0], sec[1], n_ok, tol, worst_d, names[worst]);
        }
        free(src.buf);
        for (int d = 0; d < 2; d++) {
            free(lo[d]);
            free(hi[d]);
        }
        free(names);
        tfmq_model_destroy(m);
    }
}

/* ---- the INT8 models of both calibrations ---- */

static tfmq_model *quantize_on(const char *device, const tfmq_model *m, rand_source *src)
{
    tfmq_quantize_options o;
    memset(&o, 0, sizeof(o));
    o.struct_size = sizeof(o);
    o.precision = TFMQ_PRECISION_INT8;
    o.calib_method = TFMQ_CALIB_PERCENTILE;
    o.calib_fn = rand_batch;
    o.calib_user_data = src;
    o.max_calib_samples = 36;
    o.max_eval_samples = 8;
    tfmq_model *q = NULL;
    setenv("TFMQ_CALIB_DEVICE", device, 1);
    tfmq_status st = tfmq_quantize(m, &o, &q, NULL);
    unsetenv("TFMQ_CALIB_DEVICE");
    TQ_EXPECT(st == TFMQ_OK, "quantize with calibration on %s: %s", device, tfmq_last_error());
    return q;
}

/* Run q on the CPU over every batch of src; returns the outputs (malloc) and their count. */
static float *run_all(const tfmq_model *q, rand_source *src, size_t *n_out, size_t *n_per)
{
    tfmq_session_options so;
    memset(&so, 0, sizeof(so));
    so.struct_size = sizeof(so);
    so.device = "cpu";
    so.symbolic_dim_default = src->dims[0];
    tfmq_session *s = NULL;
    tfmq_io_info ii, oi;
    memset(&ii, 0, sizeof(ii));
    memset(&oi, 0, sizeof(oi));
    ii.struct_size = oi.struct_size = sizeof(ii);
    float *y = NULL;
    *n_out = 0;
    if (tfmq_model_io(q, TFMQ_IO_INPUT, 0, &ii) != TFMQ_OK ||
        tfmq_model_io(q, TFMQ_IO_OUTPUT, 0, &oi) != TFMQ_OK ||
        tfmq_session_create(q, &so, &s) != TFMQ_OK) {
        TQ_EXPECT(false, "session: %s", tfmq_last_error());
        return NULL;
    }
    for (size_t b = 0; b < src->n_batches; b++) {
        tfmq_tensor in;
        bool done = false;
        memset(&in, 0, sizeof(in));
        in.name = ii.name;
        if (rand_batch(src, b, &in, 1, &done) != TFMQ_OK || done) {
            break;
        }
        tfmq_tensor out;
        memset(&out, 0, sizeof(out));
        out.name = oi.name;
        tfmq_status st = tfmq_session_run(s, &in, 1, &out, 1);
        TQ_EXPECT(st == TFMQ_OK, "run: %s", tfmq_last_error());
        if (st != TFMQ_OK) {
            break;
        }
        const size_t k = out.data_bytes / sizeof(float);
        float *ny = realloc(y, (*n_out + k) * sizeof(float) + 4);
        if (!ny) {
            break;
        }
        y = ny;
        memcpy(y + *n_out, out.data, k * sizeof(float));
        *n_out += k;
        *n_per = k / (size_t)src->dims[0];
    }
    tfmq_session_destroy(s);
    return y;
}

static void test_int8_models(tq_rng *rng)
{
    (void)rng;
    for (size_t mi = 0; mi < sizeof(MODELS) / sizeof(MODELS[0]); mi++) {
        tfmq_model *m = load(&MODELS[mi]);
        rand_source cal, ev;
        if (!m || !make_source(m, &MODELS[mi], 200 + mi, 8, 5, &cal)) {
            tfmq_model_destroy(m);
            continue;
        }
        if (!make_source(m, &MODELS[mi], 300 + mi, 8, 8, &ev)) {
            free(cal.buf);
            tfmq_model_destroy(m);
            continue;
        }
        tfmq_model *q[2] = {quantize_on("cpu", m, &cal), quantize_on("cuda", m, &cal)};
        float *y[2] = {NULL, NULL};
        size_t n[2] = {0, 0}, per[2] = {0, 0};
        for (int d = 0; d < 2; d++) {
            y[d] = q[d] ? run_all(q[d], &ev, &n[d], &per[d]) : NULL;
        }
        if (y[0] && y[1] && n[0] == n[1] && n[0] && per[0]) {
            size_t agree = 0, n_samples = n[0] / per[0];
            for (size_t s = 0; s < n_samples; s++) {
                size_t a0 = 0, a1 = 0;
                for (size_t j = 1; j < per[0]; j++) {
                    a0 = y[0][s * per[0] + j] > y[0][s * per[0] + a0] ? j : a0;
                    a1 = y[1][s * per[0] + j] > y[1][s * per[0] + a1] ? j : a1;
                }
                agree += a0 == a1;
            }
            const double e = rel_l2(y[1], y[0], n[0]);
            printf("  %-36s INT8 (cpu-calibrated vs cuda-calibrated): top-1 agreement %zu/%zu, "
                   "relative L2 %.3g\n", MODELS[mi].path, agree, n_samples, e);
            TQ_EXPECT(agree * 100 >= n_samples * 95, "%s: top-1 agreement %zu of %zu",
                      MODELS[mi].path, agree, n_samples);
            TQ_EXPECT(e <= 0.03, "%s: relative L2 %.3g between the INT8 models", MODELS[mi].path,
                      e);
        } else {
            TQ_EXPECT(false, "%s: no outputs to compare", MODELS[mi].path);
        }
        free(y[0]);
        free(y[1]);
        tfmq_model_destroy(q[0]);
        tfmq_model_destroy(q[1]);
        free(cal.buf);
        free(ev.buf);
        tfmq_model_destroy(m);
    }
}

/* TFMQ_CALIB_DEVICE values the driver refuses, before any data is read. */
static void test_device_env(tq_rng *rng)
{
    (void)rng;
    tfmq_model *m = load(&MODELS[0]);
    rand_source src;
    if (!m || !make_source(m, &MODELS[0], 1, 2, 1, &src)) {
        tfmq_model_destroy(m);
        return;
    }
    const char *names[1] = {m->graph->values[m->graph->inputs[0]].name};
    float lo, hi;
    double sec;
    static const char *const BAD[] = {"gpu", "cuda:x", "cuda:1000"};
    for (size_t i = 0; i < sizeof(BAD) / sizeof(BAD[0]); i++) {
        tfmq_quantize_options o;
        memset(&o, 0, sizeof(o));
        o.struct_size = sizeof(o);
        o.calib_fn = rand_batch;
        o.calib_user_data = &src;
        setenv("TFMQ_CALIB_DEVICE", BAD[i], 1);
        tfmq_status st = tq_calibrate(m->graph, names, 1, &o, &lo, &hi, NULL);
        unsetenv("TFMQ_CALIB_DEVICE");
        TQ_EXPECT(st == TFMQ_ERR_INVALID_ARG && strstr(tfmq_last_error(), "TFMQ_CALIB_DEVICE"),
                  "TFMQ_CALIB_DEVICE=%s: status %d (%s)", BAD[i], (int)st, tfmq_last_error());
    }
    /* auto picks the GPU here, and gives the CPU's input range exactly */
    (void)calibrate_on("auto", m->graph, names, 1, &src, TFMQ_CALIB_MINMAX, &lo, &hi, &sec);
    TQ_EXPECT(lo >= 0.0f && hi <= 1.0f && hi > 0.5f, "auto: input range [%g, %g]", (double)lo,
              (double)hi);
    free(src.buf);
    tfmq_model_destroy(m);
}

int main(int argc, char **argv)
{
    char why[256];
    int n = 0;
    if (tq_cuda_dev_probe(&n, why, sizeof(why)) != TFMQ_OK) {
        printf("test_cuda_calib: SKIP: %s\n", why);
        return 77;
    }
    tq_test_begin(argc, argv);
    TQ_RUN(test_exec_observer);
    TQ_RUN(test_calibrate_cpu_vs_gpu);
    TQ_RUN(test_int8_models);
    TQ_RUN(test_device_env);
    return tq_test_end();
}
