/* test_concurrency.c: the thread-safety contract of tfmq.h. One loaded model (the bundled
 * Fashion-MNIST CNN) and its INT8 quantization are shared by 8 threads; each thread creates its
 * own sessions (concurrently) and runs R times (env TFMQ_CONC_RUNS, default 200) on inputs that
 * differ per thread and run. Every output must be bit-identical to a single-threaded run of the
 * same input (references computed first). Also: sessions created and destroyed concurrently on one
 * model, tfmq_quantize called concurrently on one model, and tfmq_last_error() being per thread.
 * Labelled `tsan` in ctest; `make tsan-test` runs it under ThreadSanitizer. */
#include <pthread.h>
#include <string.h>

#include "harness.h"
#include "tfmq.h"

#define N_THREADS 8
#define N_POOL 256 /* distinct inputs; thread t, run r uses input (t * 31 + r) % N_POOL */
#define IN_ELEMS (28 * 28)
#define OUT_ELEMS 10

static char g_model[4200];
static tfmq_model *g_fp32, *g_int8;
static float *g_inputs;               /* N_POOL x IN_ELEMS */
static float g_ref_fp32[N_POOL][OUT_ELEMS], g_ref_int8[N_POOL][OUT_ELEMS];
static int g_runs = 200;
static atomic_llong g_n_runs, g_n_mismatch, g_n_errors;
static pthread_barrier_t g_barrier;

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

static tfmq_status run_one(tfmq_session *s, const float *x, float *y)
{
    const int64_t dims[4] = {1, 1, 28, 28};
    tfmq_tensor in = {"input", TFMQ_DTYPE_FLOAT32, 4, dims, (void *)(uintptr_t)x,
                      IN_ELEMS * sizeof(float)};
    tfmq_tensor out = {"logits", TFMQ_DTYPE_UNDEFINED, 0, NULL, y, OUT_ELEMS * sizeof(float)};
    return tfmq_session_run(s, &in, 1, &out, 1);
}

/* calibration data for the INT8 model: 8 deterministic samples */
typedef struct calib_src {
    uint64_t seed;
    int64_t dims[4];
    float buf[IN_ELEMS];
} calib_src;

static tfmq_status calib_batch(void *ud, size_t batch_index, tfmq_tensor *inputs, size_t n_inputs,
                               bool *done)
{
    calib_src *s = ud;
    if (n_inputs != 1) {
        return TFMQ_ERR_INVALID_ARG;
    }
    if (batch_index >= 8) {
        *done = true;
        return TFMQ_OK;
    }
    tq_rng r = {s->seed + batch_index};
    for (size_t i = 0; i < IN_ELEMS; i++) {
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

static tfmq_status quantize_int8(const tfmq_model *m, tfmq_model **q_out)
{
    calib_src src;
    memset(&src, 0, sizeof(src));
    src.seed = 4242;
    tfmq_quantize_options o;
    memset(&o, 0, sizeof(o));
    o.struct_size = sizeof(o);
    o.precision = TFMQ_PRECISION_INT8;
    o.calib_method = TFMQ_CALIB_MINMAX;
    o.calib_fn = calib_batch;
    o.calib_user_data = &src;
    return tfmq_quantize(m, &o, q_out, NULL);
}

/* Load both models, make the input pool and the single-threaded references. */
static bool setup(tq_rng *rng)
{
    if (g_fp32) {
        return true;
    }
    TQ_EXPECT(tfmq_model_load(g_model, NULL, &g_fp32) == TFMQ_OK, "load: %s", tfmq_last_error());
    if (!g_fp32) {
        return false;
    }
    TQ_EXPECT(quantize_int8(g_fp32, &g_int8) == TFMQ_OK, "quantize: %s", tfmq_last_error());
    if (!g_int8) {
        return false;
    }
    g_inputs = malloc(sizeof(float) * N_POOL * IN_ELEMS);
    for (size_t i = 0; i < (size_t)N_POOL * IN_ELEMS; i++) {
        g_inputs[i] = tq_rng_uniform(rng, 0.0f, 1.0f);
    }
    tfmq_session *a = NULL, *b = NULL;
    TQ_EXPECT_OK(tfmq_session_create(g_fp32, NULL, &a));
    TQ_EXPECT_OK(tfmq_session_create(g_int8, NULL, &b));
    bool ok = a && b;
    for (int k = 0; k < N_POOL && ok; k++) {
        ok = run_one(a, g_inputs + (size_t)k * IN_ELEMS, g_ref_fp32[k]) == TFMQ_OK &&
             run_one(b, g_inputs + (size_t)k * IN_ELEMS, g_ref_int8[k]) == TFMQ_OK;
    }
    TQ_EXPECT(ok, "reference runs: %s", tfmq_last_error());
    tfmq_session_destroy(a);
    tfmq_session_destroy(b);
    return ok;
}

/* ---- shared models, one session per thread and model ---- */
static void *runner(void *arg)
{
    const int t = (int)(intptr_t)arg;
    tfmq_session *a = NULL, *b = NULL;
    pthread_barrier_wait(&g_barrier); /* all threads create their sessions at once */
    tfmq_status sa = tfmq_session_create(g_fp32, NULL, &a);
    tfmq_status sb = tfmq_session_create(g_int8, NULL, &b);
    TQ_EXPECT(sa == TFMQ_OK && sb == TFMQ_OK, "thread %d: session_create: %s", t,
              tfmq_last_error());
    pthread_barrier_wait(&g_barrier);
    float y[OUT_ELEMS];
    for (int r = 0; r < g_runs && a && b; r++) {
        const int k = (t * 31 + r) % N_POOL;
        const float *x = g_inputs + (size_t)k * IN_ELEMS;
        /* alternate which model runs first so both kinds overlap across threads */
        for (int j = 0; j < 2; j++) {
            const bool int8 = ((r + t + j) & 1) != 0;
            memset(y, 0xff, sizeof(y));
            tfmq_status st = run_one(int8 ? b : a, x, y);
            atomic_fetch_add(&g_n_runs, 1);
            if (st != TFMQ_OK) {
                if (atomic_fetch_add(&g_n_errors, 1) < 5) {
                    tq_test_failf(__FILE__, __LINE__, "thread %d run %d: %s", t, r,
                                  tfmq_last_error());
                }
            } else if (memcmp(y, int8 ? g_ref_int8[k] : g_ref_fp32[k], sizeof(y)) != 0) {
                if (atomic_fetch_add(&g_n_mismatch, 1) < 5) {
                    tq_test_failf(__FILE__, __LINE__,
                                  "thread %d run %d (%s, input %d): output differs from the "
                                  "single-threaded run",
                                  t, r, int8 ? "int8" : "fp32", k);
                }
            }
        }
    }
    tfmq_session_destroy(a);
    tfmq_session_destroy(b);
    return NULL;
}

static void test_shared_model_runs(tq_rng *rng)
{
    if (!setup(rng)) {
        return;
    }
    atomic_store(&g_n_runs, 0);
    atomic_store(&g_n_mismatch, 0);
    atomic_store(&g_n_errors, 0);
    pthread_t th[N_THREADS];
    pthread_barrier_init(&g_barrier, NULL, N_THREADS);
    for (int t = 0; t < N_THREADS; t++) {
        TQ_CHECK(pthread_create(&th[t], NULL, runner, (void *)(intptr_t)t) == 0);
    }
    for (int t = 0; t < N_THREADS; t++) {
        pthread_join(th[t], NULL);
    }
    pthread_barrier_destroy(&g_barrier);
    printf("concurrency: %d threads x %d runs x 2 models (fp32, int8): %lld runs, %lld "
           "mismatches, %lld errors\n",
           N_THREADS, g_runs, (long long)atomic_load(&g_n_runs),
           (long long)atomic_load(&g_n_mismatch), (long long)atomic_load(&g_n_errors));
    TQ_EXPECT_EQ_I64(atomic_load(&g_n_runs), (long long)N_THREADS * g_runs * 2);
    TQ_EXPECT_EQ_I64(atomic_load(&g_n_mismatch), 0);
    TQ_EXPECT_EQ_I64(atomic_load(&g_n_errors), 0);
}

/* ---- sessions created and destroyed concurrently on one model, with a run each ---- */
static void *creator(void *arg)
{
    const int t = (int)(intptr_t)arg;
    pthread_barrier_wait(&g_barrier);
    float y[OUT_ELEMS];
    for (int i = 0; i < 20; i++) {
        tfmq_session *s = NULL;
        const tfmq_model *m = ((i + t) & 1) ? g_int8 : g_fp32;
        tfmq_status st = tfmq_session_create(m, NULL, &s);
        if (st != TFMQ_OK) {
            atomic_fetch_add(&g_n_errors, 1);
            tq_test_failf(__FILE__, __LINE__, "thread %d: create: %s", t, tfmq_last_error());
            continue;
        }
        const int k = (t * 7 + i) % N_POOL;
        if (run_one(s, g_inputs + (size_t)k * IN_ELEMS, y) != TFMQ_OK ||
            memcmp(y, m == g_int8 ? g_ref_int8[k] : g_ref_fp32[k], sizeof(y)) != 0) {
            atomic_fetch_add(&g_n_mismatch, 1);
        }
        atomic_fetch_add(&g_n_runs, 1);
        tfmq_session_destroy(s);
    }
    return NULL;
}

static void test_concurrent_session_create(tq_rng *rng)
{
    if (!setup(rng)) {
        return;
    }
    atomic_store(&g_n_runs, 0);
    atomic_store(&g_n_mismatch, 0);
    atomic_store(&g_n_errors, 0);
    pthread_t th[N_THREADS];
    pthread_barrier_init(&g_barrier, NULL, N_THREADS);
    for (int t = 0; t < N_THREADS; t++) {
        TQ_CHECK(pthread_create(&th[t], NULL, creator, (void *)(intptr_t)t) == 0);
    }
    for (int t = 0; t < N_THREADS; t++) {
        pthread_join(th[t], NULL);
    }
    pthread_barrier_destroy(&g_barrier);
    printf("concurrency: %lld sessions created concurrently, %lld create errors, %lld wrong "
           "outputs\n",
           (long long)atomic_load(&g_n_runs), (long long)atomic_load(&g_n_errors),
           (long long)atomic_load(&g_n_mismatch));
    TQ_EXPECT_EQ_I64(atomic_load(&g_n_errors), 0);
    TQ_EXPECT_EQ_I64(atomic_load(&g_n_mismatch), 0);
}

/* ---- tfmq_quantize concurrently on one model: every result equals the single-threaded one ---- */
static void *quantizer(void *arg)
{
    const int t = (int)(intptr_t)arg;
    pthread_barrier_wait(&g_barrier);
    tfmq_model *q = NULL;
    tfmq_status st = quantize_int8(g_fp32, &q);
    if (st != TFMQ_OK) {
        atomic_fetch_add(&g_n_errors, 1);
        tq_test_failf(__FILE__, __LINE__, "thread %d: quantize: %s", t, tfmq_last_error());
        return NULL;
    }
    tfmq_session *s = NULL;
    float y[OUT_ELEMS];
    if (tfmq_session_create(q, NULL, &s) == TFMQ_OK) {
        for (int k = t; k < N_POOL; k += 37) {
            if (run_one(s, g_inputs + (size_t)k * IN_ELEMS, y) != TFMQ_OK ||
                memcmp(y, g_ref_int8[k], sizeof(y)) != 0) {
                atomic_fetch_add(&g_n_mismatch, 1);
            }
            atomic_fetch_add(&g_n_runs, 1);
        }
    } else {
        atomic_fetch_add(&g_n_errors, 1);
    }
    tfmq_session_destroy(s);
    tfmq_model_destroy(q);
    return NULL;
}

static void test_concurrent_quantize(tq_rng *rng)
{
    enum { N_Q = 4 };
    if (!setup(rng)) {
        return;
    }
    atomic_store(&g_n_runs, 0);
    atomic_store(&g_n_mismatch, 0);
    atomic_store(&g_n_errors, 0);
    pthread_t th[N_Q];
    pthread_barrier_init(&g_barrier, NULL, N_Q);
    for (int t = 0; t < N_Q; t++) {
        TQ_CHECK(pthread_create(&th[t], NULL, quantizer, (void *)(intptr_t)t) == 0);
    }
    for (int t = 0; t < N_Q; t++) {
        pthread_join(th[t], NULL);
    }
    pthread_barrier_destroy(&g_barrier);
    printf("concurrency: %d concurrent tfmq_quantize: %lld checked runs, %lld mismatches, %lld "
           "errors\n",
           N_Q, (long long)atomic_load(&g_n_runs), (long long)atomic_load(&g_n_mismatch),
           (long long)atomic_load(&g_n_errors));
    TQ_EXPECT_EQ_I64(atomic_load(&g_n_errors), 0);
    TQ_EXPECT_EQ_I64(atomic_load(&g_n_mismatch), 0);
}

/* ---- tfmq_last_error() is per thread ---- */
static atomic_int g_err_ok;

static void *error_thread(void *arg)
{
    const int t = (int)(intptr_t)arg;
    char want[128];
    tfmq_status st, want_st;
    /* each thread provokes a different error whose message names the thread */
    pthread_barrier_wait(&g_barrier);
    switch (t % 3) {
    case 0: { /* missing file */
        snprintf(want, sizeof(want), "/nonexistent/thread_%d.onnx", t);
        tfmq_model *m = NULL;
        st = tfmq_model_load(want, NULL, &m);
        want_st = TFMQ_ERR_IO;
        break;
    }
    case 1: { /* unknown input name */
        snprintf(want, sizeof(want), "bogus_input_%d", t);
        tfmq_session *s = NULL;
        st = tfmq_session_create(g_fp32, NULL, &s);
        if (st == TFMQ_OK) {
            float x[IN_ELEMS] = {0}, y[OUT_ELEMS];
            const int64_t dims[4] = {1, 1, 28, 28};
            tfmq_tensor in = {want, TFMQ_DTYPE_FLOAT32, 4, dims, x, sizeof(x)};
            tfmq_tensor out = {"logits", TFMQ_DTYPE_UNDEFINED, 0, NULL, y, sizeof(y)};
            st = tfmq_session_run(s, &in, 1, &out, 1);
        }
        tfmq_session_destroy(s);
        want_st = TFMQ_ERR_INVALID_ARG;
        break;
    }
    default: { /* unknown output name */
        snprintf(want, sizeof(want), "bogus_output_%d", t);
        tfmq_session *s = NULL;
        st = tfmq_session_create(g_int8, NULL, &s);
        if (st == TFMQ_OK) {
            float x[IN_ELEMS] = {0}, y[OUT_ELEMS];
            const int64_t dims[4] = {1, 1, 28, 28};
            tfmq_tensor in = {"input", TFMQ_DTYPE_FLOAT32, 4, dims, x, sizeof(x)};
            tfmq_tensor out = {want, TFMQ_DTYPE_UNDEFINED, 0, NULL, y, sizeof(y)};
            st = tfmq_session_run(s, &in, 1, &out, 1);
        }
        tfmq_session_destroy(s);
        want_st = TFMQ_ERR_INVALID_ARG;
        break;
    }
    }
    bool ok = st == want_st && strstr(tfmq_last_error(), want) != NULL;
    /* every other thread fails its own call now; this thread's message must not change */
    pthread_barrier_wait(&g_barrier);
    for (int i = 0; i < 100; i++) {
        ok = ok && strstr(tfmq_last_error(), want) != NULL;
    }
    pthread_barrier_wait(&g_barrier);
    ok = ok && strstr(tfmq_last_error(), want) != NULL;
    if (ok) {
        atomic_fetch_add(&g_err_ok, 1);
    } else {
        tq_test_failf(__FILE__, __LINE__, "thread %d: status %d, last error '%s', expected it to "
                      "contain '%s'", t, (int)st, tfmq_last_error(), want);
    }
    return NULL;
}

static void test_last_error_per_thread(tq_rng *rng)
{
    if (!setup(rng)) {
        return;
    }
    atomic_store(&g_err_ok, 0);
    pthread_t th[N_THREADS];
    pthread_barrier_init(&g_barrier, NULL, N_THREADS);
    for (int t = 0; t < N_THREADS; t++) {
        TQ_CHECK(pthread_create(&th[t], NULL, error_thread, (void *)(intptr_t)t) == 0);
    }
    for (int t = 0; t < N_THREADS; t++) {
        pthread_join(th[t], NULL);
    }
    pthread_barrier_destroy(&g_barrier);
    printf("concurrency: tfmq_last_error per thread: %d of %d threads kept their own message\n",
           atomic_load(&g_err_ok), N_THREADS);
    TQ_EXPECT_EQ_I64(atomic_load(&g_err_ok), N_THREADS);
}

int main(int argc, char **argv)
{
    tq_test_begin(argc, argv);
    find_model();
    const char *env = getenv("TFMQ_CONC_RUNS");
    if (env && atoi(env) > 0) {
        g_runs = atoi(env);
    }
    TQ_RUN(test_shared_model_runs);
    TQ_RUN(test_concurrent_session_create);
    TQ_RUN(test_concurrent_quantize);
    TQ_RUN(test_last_error_per_thread);
    tfmq_model_destroy(g_int8);
    tfmq_model_destroy(g_fp32);
    free(g_inputs);
    return tq_test_end();
}
