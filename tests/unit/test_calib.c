/* test_calib.c: calibration observers on synthetic data with known answers (min/max exact,
 * percentiles against the sorted sample, entropy and MSE thresholds on Gaussians with outliers
 * and heavy tails), constant memory of the streaming histogram, tq_calibrate on the bundled
 * Fashion-MNIST CNN with random pixel batches (ranges, sample cap, allocation count independent
 * of the number of batches), batch checking, and the calibration cache. */
#include <math.h>
#include <string.h>

#include "core/core.h"
#include "harness.h"
#include "quant/calib.h"
#include "runtime/model.h"
#include "tfmq.h"

static char g_model[4200], g_tmpdir[256];

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
    snprintf(g_tmpdir, sizeof(g_tmpdir), "/tmp/tfmq_test_calib_%ld", (long)getpid());
}

static float gauss(tq_rng *rng)
{
    double u1 = (double)tq_rng_uniform(rng, 1e-7f, 1.0f), u2 = (double)tq_rng_uniform(rng, 0, 1);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* add x in several chunks (exercising range doubling across calls) */
static void add_chunks(tq_observer *ob, const float *x, size_t n, size_t chunk)
{
    for (size_t i = 0; i < n; i += chunk) {
        tq_observer_add_f32(ob, x + i, n - i < chunk ? n - i : chunk);
    }
}

static void test_minmax(tq_rng *rng)
{
    static tq_observer ob;
    float x[1000];
    float mn = INFINITY, mx = -INFINITY;
    for (size_t i = 0; i < 1000; i++) {
        x[i] = tq_rng_uniform(rng, -3.0f, 5.0f) * (float)(i + 1) / 100.0f;
        mn = fminf(mn, x[i]);
        mx = fmaxf(mx, x[i]);
    }
    tq_observer_init(&ob);
    add_chunks(&ob, x, 1000, 37);
    float nan_inf[3] = {NAN, INFINITY, -INFINITY};
    tq_observer_add_f32(&ob, nan_inf, 3);
    float lo, hi;
    TQ_EXPECT(tq_observer_range(&ob, TFMQ_CALIB_MINMAX, 0, false, &lo, &hi) == TFMQ_OK, "%s",
              tfmq_last_error());
    TQ_EXPECT(lo == mn && hi == mx, "minmax [%g, %g], expected [%g, %g]", (double)lo, (double)hi,
              (double)mn, (double)mx);
    TQ_EXPECT(ob.n_seen == 1000 && ob.n_nonfinite == 3, "seen %llu nonfinite %llu",
              (unsigned long long)ob.n_seen, (unsigned long long)ob.n_nonfinite);
    uint64_t total = 0;
    for (size_t i = 0; i < TQ_HIST_BINS; i++) {
        total += ob.bins[i];
    }
    TQ_EXPECT(total == 1000, "histogram holds %llu", (unsigned long long)total);
    /* all positive: range still includes 0 */
    tq_observer_init(&ob);
    float pos[3] = {2.0f, 3.0f, 4.0f};
    tq_observer_add_f32(&ob, pos, 3);
    TQ_EXPECT(tq_observer_range(&ob, TFMQ_CALIB_MINMAX, 0, false, &lo, &hi) == TFMQ_OK, "ok");
    TQ_EXPECT(lo == 0.0f && hi == 4.0f, "[%g, %g]", (double)lo, (double)hi);
    /* nothing but zeros, then nothing at all: [0, 0] for every method */
    float zeros[4] = {0};
    tq_observer_add_f32(&ob, zeros, 0);
    tq_observer_init(&ob);
    tq_observer_add_f32(&ob, zeros, 4);
    for (int m = 0; m <= 3; m++) {
        TQ_EXPECT(tq_observer_range(&ob, (tfmq_calib_method)m, 0, false, &lo, &hi) == TFMQ_OK &&
                      lo == 0.0f && hi == 0.0f,
                  "zeros, method %d: [%g, %g]", m, (double)lo, (double)hi);
    }
}

static void test_percentile(tq_rng *rng)
{
    static tq_observer ob;
    enum { N = 200000 };
    static float x[N], s[N];
    const double pcts[] = {50.0, 90.0, 99.0, 99.9, 99.99};
    for (int dist = 0; dist < 2; dist++) {
        for (size_t i = 0; i < N; i++) {
            x[i] = dist == 0 ? tq_rng_uniform(rng, -1.0f, 1.0f) : 0.7f * gauss(rng);
            s[i] = fabsf(x[i]);
        }
        qsort(s, N, sizeof(float), cmp_float);
        tq_observer_init(&ob);
        add_chunks(&ob, x, N, 1000);
        const double w = ob.range / TQ_HIST_BINS;
        for (size_t k = 0; k < sizeof(pcts) / sizeof(pcts[0]); k++) {
            const double t = tq_observer_percentile(&ob, pcts[k]);
            size_t idx = (size_t)ceil(pcts[k] / 100.0 * N) - 1;
            const double want = (double)s[idx];
            TQ_EXPECT(fabs(t - want) <= w, "%s p%g: %g, sample percentile %g, bin width %g",
                      dist ? "normal" : "uniform", pcts[k], t, want, w);
        }
        float lo, hi;
        TQ_EXPECT(tq_observer_range(&ob, TFMQ_CALIB_PERCENTILE, 99.0, false, &lo, &hi) ==
                          TFMQ_OK &&
                      lo == -hi && hi > 0.0f,
                  "symmetric percentile [%g, %g]", (double)lo, (double)hi);
        TQ_EXPECT(tq_observer_range(&ob, TFMQ_CALIB_PERCENTILE, 101.0, false, &lo, &hi) ==
                      TFMQ_ERR_INVALID_ARG,
                  "percentile 101 accepted");
    }
}

static void test_entropy(tq_rng *rng)
{
    static tq_observer ob;
    enum { N = 100000 };
    static float x[N];
    for (size_t i = 0; i < N; i++) {
        x[i] = gauss(rng);
    }
    for (size_t i = 0; i < 20; i++) { /* rare large outliers */
        x[tq_rng_below(rng, N)] = (i & 1 ? -1.0f : 1.0f) * tq_rng_uniform(rng, 20.0f, 40.0f);
    }
    tq_observer_init(&ob);
    add_chunks(&ob, x, N, 4096);
    const double amax = tq_observer_amax(&ob), t = tq_observer_entropy(&ob);
    TQ_EXPECT(t < amax && t > 2.0, "entropy threshold %g, max %g (sigma 1)", t, amax);
    /* without outliers, on a uniform distribution, the best threshold is near the max */
    for (size_t i = 0; i < N; i++) {
        x[i] = tq_rng_uniform(rng, -1.0f, 1.0f);
    }
    tq_observer_init(&ob);
    tq_observer_add_f32(&ob, x, N);
    const double tu = tq_observer_entropy(&ob);
    TQ_EXPECT(tu > 0.9 && tu <= tq_observer_amax(&ob), "uniform entropy threshold %g", tu);
    float lo, hi;
    TQ_EXPECT(tq_observer_range(&ob, TFMQ_CALIB_ENTROPY, 0, true, &lo, &hi) == TFMQ_OK &&
                  lo <= 0.0f && hi >= 0.0f && hi <= (float)ob.max && lo >= (float)ob.min,
              "asymmetric entropy [%g, %g]", (double)lo, (double)hi);
}

/* Mean squared error of symmetric int8 quantization (scale t/127, round half to even, clip)
 * of x[0..n), computed on the samples themselves: the reference for the histogram's model. */
static double direct_mse(const float *x, size_t n, double t)
{
    const double s = t / 127.0;
    double err = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double q = fmin(fmax(nearbyint((double)x[i] / s), -127.0), 127.0);
        const double d = q * s - (double)x[i];
        err += d * d;
    }
    return err / (double)n;
}

static void test_mse(tq_rng *rng)
{
    static tq_observer ob;
    enum { N = 100000 };
    static float x[N];
    for (size_t i = 0; i < N; i++) { /* Laplace(0, 1): heavy tails, max ~ ln(N) ~ 11.5 */
        double u = (double)tq_rng_uniform(rng, -0.5f, 0.5f);
        x[i] = (float)(-(u < 0 ? -1.0 : 1.0) * log(1.0 - 2.0 * fabs(u) + 1e-12));
    }
    x[7] = 60.0f; /* and one far outlier */
    tq_observer_init(&ob);
    add_chunks(&ob, x, N, 3000);
    const double amax = tq_observer_amax(&ob), t = tq_observer_mse(&ob);
    /* Where the optimum lies depends on the sample's tail (between about 20 and 40 here), so
     * judge the threshold by what it is chosen for: the squared error of quantizing these very
     * samples, measured directly, against every threshold on a fine grid. */
    double best = INFINITY, best_at = 0.0;
    for (int k = 1; k <= 600; k++) {
        const double e = direct_mse(x, N, amax * k / 600.0);
        if (e < best) {
            best = e;
            best_at = amax * k / 600.0;
        }
    }
    const double et = direct_mse(x, N, t), emax = direct_mse(x, N, amax);
    TQ_EXPECT(isfinite(t) && t > 1.0 && t < amax, "mse threshold %g, max %g", t, amax);
    TQ_EXPECT(et <= 1.02 * best && et < 0.9 * emax,
              "mse threshold %g: error %g, best on the grid %g at %g, at the max %g", t, et, best,
              best_at, emax);
    /* uniform data: clipping only hurts, the best threshold is close to the max */
    for (size_t i = 0; i < N; i++) {
        x[i] = tq_rng_uniform(rng, -1.0f, 1.0f);
    }
    tq_observer_init(&ob);
    tq_observer_add_f32(&ob, x, N);
    const double tu = tq_observer_mse(&ob);
    TQ_EXPECT(tu > 0.95 && tu <= tq_observer_amax(&ob), "uniform mse threshold %g", tu);
}

static void test_histogram_memory(tq_rng *rng)
{
    static tq_observer ob, ob2;
    enum { N = 65536 };
    static float x[N];
    tq_observer_init(&ob);
    const uint64_t a0 = tq_alloc_test_count();
    for (int round = 0; round < 40; round++) { /* 2.6M values, growing range */
        const float scale = (float)(round + 1);
        for (size_t i = 0; i < N; i++) {
            x[i] = scale * tq_rng_uniform(rng, -1.0f, 1.0f);
        }
        tq_observer_add_f32(&ob, x, N);
    }
    TQ_EXPECT(tq_alloc_test_count() == a0, "observer allocated %llu times",
              (unsigned long long)(tq_alloc_test_count() - a0));
    uint64_t total = 0;
    for (size_t i = 0; i < TQ_HIST_BINS; i++) {
        total += ob.bins[i];
    }
    TQ_EXPECT(total == 40ull * N && ob.n_seen == total, "histogram holds %llu",
              (unsigned long long)total);
    TQ_EXPECT(ob.range > tq_observer_amax(&ob), "range %g below max %g", ob.range,
              tq_observer_amax(&ob));
    /* merging keeps every count */
    tq_observer_init(&ob2);
    tq_observer_add_f32(&ob2, x, 100);
    tq_observer_merge(&ob2, &ob);
    total = 0;
    for (size_t i = 0; i < TQ_HIST_BINS; i++) {
        total += ob2.bins[i];
    }
    TQ_EXPECT(total == 40ull * N + 100, "merged histogram holds %llu", (unsigned long long)total);
}

/* ---- the driver on the Fashion-MNIST model ---- */

typedef struct pixel_source {
    uint64_t seed;
    int64_t batch;      /* samples per batch */
    size_t n_batches;   /* batches before done */
    size_t n_calls;     /* batches handed out */
    uint64_t n_samples; /* samples handed out */
    tfmq_dtype dtype;   /* what the source claims (to test refusal) */
    int64_t dims[4];
    float *buf;
} pixel_source;

static tfmq_status pixel_batch(void *ud, size_t batch_index, tfmq_tensor *inputs, size_t n_inputs,
                               bool *done)
{
    pixel_source *s = ud;
    if (n_inputs != 1 || strcmp(inputs[0].name, "input") != 0) {
        return tq_fail(TFMQ_ERR_INTERNAL, "unexpected inputs");
    }
    if (batch_index >= s->n_batches) {
        *done = true;
        return TFMQ_OK;
    }
    tq_rng r = {s->seed + batch_index};
    const size_t n = (size_t)s->batch * 28 * 28;
    for (size_t i = 0; i < n; i++) {
        s->buf[i] = (float)tq_rng_below(&r, 256) / 255.0f;
    }
    s->dims[0] = s->batch;
    s->dims[1] = 1;
    s->dims[2] = 28;
    s->dims[3] = 28;
    inputs[0].dtype = s->dtype;
    inputs[0].rank = 4;
    inputs[0].dims = s->dims;
    inputs[0].data = s->buf;
    inputs[0].data_bytes = n * sizeof(float);
    s->n_calls++;
    s->n_samples += (uint64_t)s->batch;
    return TFMQ_OK;
}

static float g_buf[16 * 28 * 28];

static pixel_source make_source(int64_t batch, size_t n_batches)
{
    pixel_source s;
    memset(&s, 0, sizeof(s));
    s.seed = 1234;
    s.batch = batch;
    s.n_batches = n_batches;
    s.dtype = TFMQ_DTYPE_FLOAT32;
    s.buf = g_buf;
    return s;
}

static tfmq_quantize_options make_opts(pixel_source *src, tfmq_calib_method m)
{
    tfmq_quantize_options o;
    memset(&o, 0, sizeof(o));
    o.struct_size = sizeof(o);
    o.precision = TFMQ_PRECISION_INT8;
    o.calib_method = m;
    o.calib_fn = pixel_batch;
    o.calib_user_data = src;
    return o;
}

static uint64_t g_progress_last;
static void on_progress(void *ud, const char *stage, uint64_t done, uint64_t total)
{
    (void)ud;
    (void)total;
    if (strcmp(stage, "calibrate") == 0) {
        g_progress_last = done;
    }
}

static void test_calibrate_model(tq_rng *rng)
{
    (void)rng;
    tfmq_model *m = NULL;
    TQ_EXPECT(tfmq_model_load(g_model, NULL, &m) == TFMQ_OK, "load: %s", tfmq_last_error());
    if (!m) {
        return;
    }
    const tq_graph *g = m->graph;
    const char *names[16];
    size_t n = 0, n_conv = 0;
    names[n++] = "input";
    for (size_t i = 0; i < g->n_nodes && n < 16; i++) {
        if (g->nodes[i].op == TQ_OP_CONV) {
            n_conv++;
        }
        names[n++] = g->values[g->nodes[i].out[0]].name;
    }
    TQ_EXPECT(n_conv == 3, "convs %zu", n_conv);
    float lo[4][16], hi[4][16];
    uint64_t n_samples = 0;
    for (int meth = 0; meth <= 3; meth++) {
        pixel_source src = make_source(8, 3);
        tfmq_quantize_options o = make_opts(&src, (tfmq_calib_method)meth);
        o.progress = on_progress;
        g_progress_last = 0;
        tfmq_status st = tq_calibrate(g, names, n, &o, lo[meth], hi[meth], &n_samples);
        TQ_EXPECT(st == TFMQ_OK, "method %d: %s", meth, tfmq_last_error());
        TQ_EXPECT(n_samples == 24 && g_progress_last == 24, "samples %llu progress %llu",
                  (unsigned long long)n_samples, (unsigned long long)g_progress_last);
        for (size_t i = 0; i < n; i++) {
            TQ_EXPECT(lo[meth][i] <= 0.0f && hi[meth][i] >= 0.0f && hi[meth][i] > lo[meth][i],
                      "method %d, %s: [%g, %g]", meth, names[i], (double)lo[meth][i],
                      (double)hi[meth][i]);
        }
    }
    /* pixels in [0, 1]: minmax of the input is [0, 1] exactly */
    TQ_EXPECT(lo[0][0] == 0.0f && hi[0][0] == 1.0f, "input range [%g, %g]", (double)lo[0][0],
              (double)hi[0][0]);
    for (size_t i = 0; i < n; i++) {
        const float amax = fmaxf(-lo[0][i], hi[0][i]);
        for (int meth = 1; meth <= 3; meth++) {
            TQ_EXPECT(hi[meth][i] <= amax && -lo[meth][i] <= amax,
                      "method %d, %s: [%g, %g] beyond minmax [%g, %g]", meth, names[i],
                      (double)lo[meth][i], (double)hi[meth][i], (double)lo[0][i],
                      (double)hi[0][i]);
        }
        /* a Relu output is >= 0 */
        if (strstr(names[i], "Relu")) {
            TQ_EXPECT(lo[0][i] == 0.0f, "%s min %g", names[i], (double)lo[0][i]);
        }
    }
    /* a name given twice gets the same range; an unknown name is refused */
    const char *dup[2] = {names[1], names[1]};
    float dlo[2], dhi[2];
    pixel_source src = make_source(8, 3);
    tfmq_quantize_options o = make_opts(&src, TFMQ_CALIB_MINMAX);
    TQ_EXPECT(tq_calibrate(g, dup, 2, &o, dlo, dhi, NULL) == TFMQ_OK && dlo[0] == dlo[1] &&
                  dhi[1] == hi[0][1] && dlo[1] == lo[0][1],
              "duplicate names: %s", tfmq_last_error());
    const char *bad[1] = {"no_such_tensor"};
    src = make_source(8, 3);
    TQ_EXPECT(tq_calibrate(g, bad, 1, &o, dlo, dhi, NULL) == TFMQ_ERR_INVALID_ARG &&
                  strstr(tfmq_last_error(), "no_such_tensor"),
              "unknown name: %s", tfmq_last_error());
    TQ_EXPECT(src.n_calls == 0, "data read before names were checked");
    /* no data */
    src = make_source(8, 0);
    TQ_EXPECT(tq_calibrate(g, names, n, &o, lo[0], hi[0], NULL) == TFMQ_ERR_INVALID_ARG,
              "empty data accepted");
    /* a batch of the wrong dtype */
    src = make_source(8, 3);
    src.dtype = TFMQ_DTYPE_FLOAT16;
    TQ_EXPECT(tq_calibrate(g, names, n, &o, lo[0], hi[0], NULL) == TFMQ_ERR_INVALID_ARG &&
                  strstr(tfmq_last_error(), "dtype"),
              "wrong dtype: %s", tfmq_last_error());
    tfmq_model_destroy(m);
}

static void test_calibrate_cap_and_memory(tq_rng *rng)
{
    (void)rng;
    tfmq_model *m = NULL;
    TQ_EXPECT(tfmq_model_load(g_model, NULL, &m) == TFMQ_OK, "load: %s", tfmq_last_error());
    if (!m) {
        return;
    }
    const tq_graph *g = m->graph;
    const char *names[2] = {"/conv1/Conv_output_0", "/Relu_2_output_0"};
    float lo[2], hi[2];
    uint64_t n_samples = 0;
    /* cap 12 over batches of 5: 5 + 5 + 2 (cut), and no fourth call */
    pixel_source src = make_source(5, 10);
    tfmq_quantize_options o = make_opts(&src, TFMQ_CALIB_ENTROPY);
    o.max_calib_samples = 12;
    TQ_EXPECT(tq_calibrate(g, names, 2, &o, lo, hi, &n_samples) == TFMQ_OK, "%s",
              tfmq_last_error());
    TQ_EXPECT(n_samples == 12 && src.n_calls == 3, "cap 12: %llu samples in %zu calls",
              (unsigned long long)n_samples, src.n_calls);
    /* cap on a batch boundary */
    src = make_source(4, 10);
    o.max_calib_samples = 8;
    TQ_EXPECT(tq_calibrate(g, names, 2, &o, lo, hi, &n_samples) == TFMQ_OK && n_samples == 8 &&
                  src.n_calls == 2,
              "cap 8: %llu samples in %zu calls", (unsigned long long)n_samples, src.n_calls);
    /* memory does not grow with the data: 2 batches and 8 batches of the same shape allocate the
     * same number of times (observers are fixed-size, planning happens once) */
    o.max_calib_samples = 0;
    uint64_t counts[2];
    const size_t batches[2] = {2, 8};
    for (int k = 0; k < 2; k++) {
        src = make_source(4, batches[k]);
        const uint64_t a0 = tq_alloc_test_count();
        TQ_EXPECT(tq_calibrate(g, names, 2, &o, lo, hi, &n_samples) == TFMQ_OK, "%s",
                  tfmq_last_error());
        counts[k] = tq_alloc_test_count() - a0;
    }
    TQ_EXPECT(counts[0] == counts[1], "allocations: %llu for 2 batches, %llu for 8",
              (unsigned long long)counts[0], (unsigned long long)counts[1]);
    /* a changing batch size re-plans and still works */
    src = make_source(3, 2);
    TQ_EXPECT(tq_calibrate(g, names, 2, &o, lo, hi, &n_samples) == TFMQ_OK && n_samples == 6,
              "%s", tfmq_last_error());
    tfmq_model_destroy(m);
}

/* OOM torture: fail the N-th allocation for every N; each run fails cleanly with OOM (leaks are
 * caught by the ASan build) until one succeeds */
static void test_calibrate_oom(tq_rng *rng)
{
    (void)rng;
    tfmq_model *m = NULL;
    TQ_EXPECT(tfmq_model_load(g_model, NULL, &m) == TFMQ_OK, "load: %s", tfmq_last_error());
    if (!m) {
        return;
    }
    const char *names[2] = {"input", "/conv2/Conv_output_0"};
    float lo[2], hi[2];
    bool ok = false;
    for (uint64_t n = 1; n < 10000 && !ok; n++) {
        pixel_source src = make_source(2, 2);
        tfmq_quantize_options o = make_opts(&src, TFMQ_CALIB_ENTROPY);
        tq_alloc_test_set_fail_at(n);
        tfmq_status st = tq_calibrate(m->graph, names, 2, &o, lo, hi, NULL);
        tq_alloc_test_set_fail_at(0);
        ok = st == TFMQ_OK;
        TQ_EXPECT(ok || st == TFMQ_ERR_OUT_OF_MEMORY, "fail at %llu: status %d (%s)",
                  (unsigned long long)n, (int)st, tfmq_last_error());
        if (!ok && st != TFMQ_ERR_OUT_OF_MEMORY) {
            break;
        }
    }
    TQ_EXPECT(ok, "never succeeded");
    tfmq_model_destroy(m);
}

/* ---- cache ---- */

static void test_cache(tq_rng *rng)
{
    char path[512], cmd[600];
    snprintf(cmd, sizeof(cmd), "mkdir -p %s", g_tmpdir);
    TQ_EXPECT(system(cmd) == 0, "mkdir");
    snprintf(path, sizeof(path), "%s/calib.cache", g_tmpdir);
    remove(path);
    const char *names[3] = {"a", "conv 1/out:0", "z"};
    float lo[3], hi[3], lo2[3], hi2[3];
    for (int i = 0; i < 3; i++) {
        lo[i] = -tq_rng_uniform(rng, 0.0f, 10.0f);
        hi[i] = tq_rng_uniform(rng, 0.0f, 10.0f);
    }
    tfmq_quantize_options o;
    memset(&o, 0, sizeof(o));
    o.struct_size = sizeof(o);
    o.calib_method = TFMQ_CALIB_PERCENTILE;
    bool found = true;
    uint64_t ns = 0;
    TQ_EXPECT(tq_calib_cache_read(path, 0xabcd1234u, &o, names, 3, lo2, hi2, &ns, &found) ==
                      TFMQ_OK &&
                  !found,
              "missing file: %s", tfmq_last_error());
    TQ_EXPECT(tq_calib_cache_write(path, 0xabcd1234u, &o, names, 3, lo, hi, 77) == TFMQ_OK, "%s",
              tfmq_last_error());
    TQ_EXPECT(tq_calib_cache_read(path, 0xabcd1234u, &o, names, 3, lo2, hi2, &ns, &found) ==
                      TFMQ_OK &&
                  found && ns == 77,
              "read back: %s", tfmq_last_error());
    TQ_EXPECT(memcmp(lo, lo2, sizeof(lo)) == 0 && memcmp(hi, hi2, sizeof(hi)) == 0,
              "ranges not bit-exact after the round trip");
    /* another model, method, percentile or name list: refused as stale */
    TQ_EXPECT(tq_calib_cache_read(path, 0xabcd1235u, &o, names, 3, lo2, hi2, &ns, &found) ==
                      TFMQ_ERR_INVALID_ARG &&
                  strstr(tfmq_last_error(), "stale") && strstr(tfmq_last_error(), "model"),
              "other hash: %s", tfmq_last_error());
    tfmq_quantize_options o2 = o;
    o2.calib_method = TFMQ_CALIB_ENTROPY;
    TQ_EXPECT(tq_calib_cache_read(path, 0xabcd1234u, &o2, names, 3, lo2, hi2, &ns, &found) ==
                  TFMQ_ERR_INVALID_ARG,
              "other method: %s", tfmq_last_error());
    o2 = o;
    o2.percentile = 99.9;
    TQ_EXPECT(tq_calib_cache_read(path, 0xabcd1234u, &o2, names, 3, lo2, hi2, &ns, &found) ==
                  TFMQ_ERR_INVALID_ARG,
              "other percentile: %s", tfmq_last_error());
    const char *names2[3] = {"a", "b", "z"};
    TQ_EXPECT(tq_calib_cache_read(path, 0xabcd1234u, &o, names2, 3, lo2, hi2, &ns, &found) ==
                  TFMQ_ERR_INVALID_ARG,
              "other names: %s", tfmq_last_error());
    TQ_EXPECT(tq_calib_cache_read(path, 0xabcd1234u, &o, names, 2, lo2, hi2, &ns, &found) ==
                  TFMQ_ERR_INVALID_ARG,
              "other count: %s", tfmq_last_error());
    /* malformed files: parse errors, never a crash */
    char bad4[256]; /* well-formed up to a line of garbage, with the default percentile */
    snprintf(bad4, sizeof(bad4),
             "tfmq-calib 1\nmodel_hash 0xabcd1234\nmethod percentile\npercentile %a\n"
             "asymmetric 0\nsamples 77\ncount 3\n1 2 a\n",
             TQ_CALIB_DEFAULT_PERCENTILE);
    const char *bad[] = {"", "tfmq-calib 2\n", "hello\n",
                         "tfmq-calib 1\nmodel_hash 0xabcd1234\nmethod percentile\n", bad4,
                         "tfmq-calib 1\nmodel_hash zz\n"};
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        FILE *f = fopen(path, "w");
        if (!f) {
            TQ_EXPECT(0, "open %s", path);
            break;
        }
        fputs(bad[k], f);
        fclose(f);
        tfmq_status st = tq_calib_cache_read(path, 0xabcd1234u, &o, names, 3, lo2, hi2, &ns,
                                             &found);
        TQ_EXPECT(st == TFMQ_ERR_PARSE && !found, "malformed %zu: status %d %s", k, (int)st,
                  tfmq_last_error());
    }
    /* names that cannot be stored */
    const char *nl[1] = {"a\nb"};
    TQ_EXPECT(tq_calib_cache_write(path, 1, &o, nl, 1, lo, hi, 1) == TFMQ_ERR_INVALID_ARG,
              "newline in a name accepted");
    remove(path);
    snprintf(cmd, sizeof(cmd), "rmdir %s", g_tmpdir);
    TQ_EXPECT(system(cmd) == 0, "rmdir (temp file left behind?)");
}

/* tq_observer_add_f32_parallel gives exactly the serial observer: a fresh observer, one whose
 * range must double, only zeros, NaN and inf mixed in, negative extremes, short inputs. */
static void test_add_parallel(tq_rng *rng)
{
    static tq_observer a, b, scratch[8];
    const size_t n = 1000003;
    float *x = tq_test_alloc_f32(n);
    for (int round = 0; round < 6; round++) {
        tq_observer_init(&a);
        tq_observer_init(&b);
        for (int call = 0; call < 3; call++) {
            const float scale = (float)(call + 1) * (round == 2 ? 0.0f : 1.0f);
            for (size_t i = 0; i < n; i++) {
                x[i] = scale * gauss(rng);
            }
            if (round == 3) {
                x[17] = NAN;
                x[n - 1] = INFINITY;
                x[n / 2] = -INFINITY;
            }
            if (round == 4) {
                x[n / 3] = -40.0f * scale; /* the largest |x| is negative */
            }
            const size_t len = round == 5 ? 70000 : n - (size_t)call;
            tq_observer_add_f32(&a, x, len);
            tq_observer_add_f32_parallel(&b, x, len, 8, scratch);
        }
        TQ_EXPECT(memcmp(&a, &b, sizeof(a)) == 0,
                  "round %d: parallel observer differs: min %g/%g max %g/%g n %llu/%llu range "
                  "%g/%g", round, a.min, b.min, a.max, b.max, (unsigned long long)a.n_seen,
                  (unsigned long long)b.n_seen, a.range, b.range);
    }
    /* all non-finite */
    for (size_t i = 0; i < n; i++) {
        x[i] = NAN;
    }
    tq_observer_init(&a);
    tq_observer_init(&b);
    tq_observer_add_f32(&a, x, n);
    tq_observer_add_f32_parallel(&b, x, n, 8, scratch);
    TQ_EXPECT(memcmp(&a, &b, sizeof(a)) == 0, "all NaN: parallel observer differs");
    tq_test_free_all();
}

/* TFMQ_CALIB_DEVICE: unknown values are refused before any data is read; cuda needs a CUDA
 * build (and a GPU: tests/gpu/test_cuda_calib.c covers that side). */
static void test_calib_device_env(tq_rng *rng)
{
    (void)rng;
    tfmq_model *m = NULL;
    TQ_EXPECT(tfmq_model_load(g_model, NULL, &m) == TFMQ_OK, "load: %s", tfmq_last_error());
    if (!m) {
        return;
    }
    const char *names[1] = {"input"};
    float lo, hi;
    pixel_source src = make_source(2, 2);
    tfmq_quantize_options o = make_opts(&src, TFMQ_CALIB_MINMAX);
    const char *saved = getenv("TFMQ_CALIB_DEVICE");
    char keep[64];
    snprintf(keep, sizeof(keep), "%s", saved ? saved : "");
    setenv("TFMQ_CALIB_DEVICE", "tpu", 1);
    TQ_EXPECT(tq_calibrate(m->graph, names, 1, &o, &lo, &hi, NULL) == TFMQ_ERR_INVALID_ARG &&
                  strstr(tfmq_last_error(), "TFMQ_CALIB_DEVICE") && src.n_calls == 0,
              "TFMQ_CALIB_DEVICE=tpu: %s", tfmq_last_error());
    setenv("TFMQ_CALIB_DEVICE", "cuda:-1", 1);
    TQ_EXPECT(tq_calibrate(m->graph, names, 1, &o, &lo, &hi, NULL) == TFMQ_ERR_INVALID_ARG,
              "TFMQ_CALIB_DEVICE=cuda:-1: %s", tfmq_last_error());
#ifndef TFMQ_HAVE_CUDA
    setenv("TFMQ_CALIB_DEVICE", "cuda", 1);
    TQ_EXPECT(tq_calibrate(m->graph, names, 1, &o, &lo, &hi, NULL) == TFMQ_ERR_UNSUPPORTED &&
                  strstr(tfmq_last_error(), "no CUDA backend"),
              "TFMQ_CALIB_DEVICE=cuda in a CPU build: %s", tfmq_last_error());
#endif
    src = make_source(2, 2);
    setenv("TFMQ_CALIB_DEVICE", "cpu", 1);
    TQ_EXPECT(tq_calibrate(m->graph, names, 1, &o, &lo, &hi, NULL) == TFMQ_OK && lo == 0.0f &&
                  hi > 0.9f,
              "TFMQ_CALIB_DEVICE=cpu: %s", tfmq_last_error());
    setenv("TFMQ_CALIB_DEVICE", keep, 1);
    tfmq_model_destroy(m);
}

int main(int argc, char **argv)
{
    find_paths();
    /* these tests are about the CPU driver (the GPU's: tests/gpu/test_cuda_calib.c) */
    setenv("TFMQ_CALIB_DEVICE", "cpu", 0);
    tq_test_begin(argc, argv);
    TQ_RUN(test_add_parallel);
    TQ_RUN(test_calib_device_env);
    TQ_RUN(test_minmax);
    TQ_RUN(test_percentile);
    TQ_RUN(test_entropy);
    TQ_RUN(test_mse);
    TQ_RUN(test_histogram_memory);
    TQ_RUN(test_calibrate_model);
    TQ_RUN(test_calibrate_cap_and_memory);
    TQ_RUN(test_calibrate_oom);
    TQ_RUN(test_cache);
    return tq_test_end();
}
