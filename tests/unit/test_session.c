/* test_session.c: the public model and session API on the bundled Fashion-MNIST CNN:
 * inspection, runs, the contract that a run with planned shapes allocates nothing (counted with
 * the allocator test hook), re-planning for a new batch size, bitwise determinism, output buffers
 * provided by the caller, and clear errors for wrong names, dtypes, shapes and buffer sizes. */
#include <string.h>

#include "core/core.h"
#include "harness.h"
#include "tfmq.h"

/* The source tree's root, derived from this file's path (tests/unit/test_session.c). */
static char g_root[4096];
static char g_model[4200], g_text[4200];
#define MODEL_PATH g_model

static void find_root(void)
{
    snprintf(g_root, sizeof(g_root), "%s", __FILE__);
    char *p = strstr(g_root, "/tests/unit/");
    if (p) {
        *p = '\0';
    } else {
        snprintf(g_root, sizeof(g_root), ".");
    }
    snprintf(g_model, sizeof(g_model), "%s/models/fashion_mnist_cnn.onnx", g_root);
    snprintf(g_text, sizeof(g_text), "%s/CMakeLists.txt", g_root);
}

static tfmq_model *load_model(void)
{
    tfmq_model *m = NULL;
    tfmq_status st = tfmq_model_load(MODEL_PATH, NULL, &m);
    TQ_EXPECT(st == TFMQ_OK, "load %s: %s", MODEL_PATH, tfmq_last_error());
    return m;
}

static void fill(tq_rng *rng, float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        x[i] = tq_rng_uniform(rng, 0.0f, 1.0f);
    }
}

/* tfmq_session_options.device: "cpu", "" and NULL run on the CPU (tfmq_session_get_info says
 * so); a malformed or unknown device is INVALID_ARG; "cuda" is UNSUPPORTED with the reason when
 * the build has no CUDA backend or the machine no GPU (as in CI), else it runs and says cuda. */
static void test_device_option(tq_rng *unused)
{
    (void)unused;
    tfmq_model *m = load_model();
    if (!m) {
        return;
    }
    static const char *const cpu_names[] = {NULL, "", "cpu"};
    for (size_t i = 0; i < 3; i++) {
        tfmq_session_options so;
        memset(&so, 0, sizeof(so));
        so.struct_size = sizeof(so);
        so.device = cpu_names[i];
        tfmq_session *s = NULL;
        TQ_EXPECT_OK(tfmq_session_create(m, &so, &s));
        tfmq_session_info si;
        memset(&si, 0, sizeof(si));
        si.struct_size = sizeof(si);
        TQ_EXPECT_OK(tfmq_session_get_info(s, &si));
        TQ_EXPECT_STR_EQ(si.device, "cpu");
        TQ_EXPECT(si.n_host_fallback == 0 && !si.graph_replay, "cpu session info");
        tfmq_session_destroy(s);
    }
    static const char *const bad[] = {"gpu", "cuda:", "cuda:x", "cuda:-1", "cuda0", "CPU"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tfmq_session_options so;
        memset(&so, 0, sizeof(so));
        so.struct_size = sizeof(so);
        so.device = bad[i];
        tfmq_session *s = (tfmq_session *)1;
        TQ_EXPECT(tfmq_session_create(m, &so, &s) == TFMQ_ERR_INVALID_ARG && s == NULL,
                  "device '%s' must be refused as an invalid argument", bad[i]);
        TQ_EXPECT_STR_CONTAINS(tfmq_last_error(), "device");
    }
    /* "cuda": runs where a GPU is, else says why */
    tfmq_session_options so;
    memset(&so, 0, sizeof(so));
    so.struct_size = sizeof(so);
    so.device = "cuda";
    tfmq_session *s = NULL;
    tfmq_status st = tfmq_session_create(m, &so, &s);
    const bool has_cuda = strstr(tfmq_backends(), "cuda") != NULL;
    if (st == TFMQ_OK) {
        TQ_EXPECT(has_cuda, "a cuda session without the CUDA backend");
        tfmq_session_info si;
        memset(&si, 0, sizeof(si));
        si.struct_size = sizeof(si);
        TQ_EXPECT_OK(tfmq_session_get_info(s, &si));
        TQ_EXPECT_STR_EQ(si.device, "cuda");
        printf("  device cuda: %s\n", si.device_name);
    } else {
        TQ_EXPECT(st == TFMQ_ERR_UNSUPPORTED && s == NULL, "device cuda: status %d", (int)st);
        TQ_EXPECT_STR_CONTAINS(tfmq_last_error(), has_cuda ? "no CUDA device" : "no CUDA backend");
        printf("  device cuda: %s\n", tfmq_last_error());
    }
    tfmq_session_destroy(s);
    tfmq_model_destroy(m);
}

static void test_inspect(tq_rng *rng)
{
    (void)rng;
    tfmq_model *m = load_model();
    if (!m) {
        return;
    }
    tfmq_model_info info;
    memset(&info, 0, sizeof(info));
    info.struct_size = sizeof(info);
    TQ_EXPECT(tfmq_model_get_info(m, &info) == TFMQ_OK, "%s", tfmq_last_error());
    TQ_EXPECT(strcmp(info.format, "onnx") == 0, "format %s", info.format);
    TQ_EXPECT(info.n_inputs == 1 && info.n_outputs == 1, "io %zu %zu", info.n_inputs,
              info.n_outputs);
    TQ_EXPECT(info.n_params > 1000, "params %llu", (unsigned long long)info.n_params);
    TQ_EXPECT(info.n_macs > 100000, "macs %llu", (unsigned long long)info.n_macs);
    tfmq_io_info io;
    memset(&io, 0, sizeof(io));
    io.struct_size = sizeof(io);
    TQ_EXPECT(tfmq_model_io(m, TFMQ_IO_INPUT, 0, &io) == TFMQ_OK, "%s", tfmq_last_error());
    TQ_EXPECT(strcmp(io.name, "input") == 0, "input name %s", io.name);
    TQ_EXPECT(io.dtype == TFMQ_DTYPE_FLOAT32 && io.rank == 4, "dtype %d rank %d", io.dtype,
              io.rank);
    TQ_EXPECT(io.dims[0] == -1 && io.dim_names[0] && strcmp(io.dim_names[0], "batch") == 0,
              "symbolic batch dim");
    TQ_EXPECT(io.dims[1] == 1 && io.dims[2] == 28 && io.dims[3] == 28, "fixed dims");
    TQ_EXPECT(tfmq_model_io(m, TFMQ_IO_OUTPUT, 1, &io) == TFMQ_ERR_INVALID_ARG,
              "out-of-range output index is refused");
    tfmq_model_destroy(m);
}

static void test_run_no_alloc_and_determinism(tq_rng *rng)
{
    tfmq_model *m = load_model();
    if (!m) {
        return;
    }
    tfmq_session *s = NULL;
    TQ_EXPECT(tfmq_session_create(m, NULL, &s) == TFMQ_OK, "%s", tfmq_last_error());
    if (!s) {
        tfmq_model_destroy(m);
        return;
    }
    float x[28 * 28];
    float y1[10], y2[10];
    fill(rng, x, 28 * 28);
    const int64_t dims[4] = {1, 1, 28, 28};
    tfmq_tensor in = {"input", TFMQ_DTYPE_FLOAT32, 4, dims, x, sizeof(x)};
    tfmq_tensor out = {"logits", TFMQ_DTYPE_UNDEFINED, 0, NULL, y1, sizeof(y1)};
    TQ_EXPECT(tfmq_session_run(s, &in, 1, &out, 1) == TFMQ_OK, "%s", tfmq_last_error());
    TQ_EXPECT(out.rank == 2 && out.dims[0] == 1 && out.dims[1] == 10, "output shape");
    TQ_EXPECT(out.dtype == TFMQ_DTYPE_FLOAT32, "output dtype");

    /* second run with the planned shapes: no allocation at all */
    out.data = y2;
    tq_alloc_test_set_fail_at(0);
    TQ_EXPECT(tfmq_session_run(s, &in, 1, &out, 1) == TFMQ_OK, "%s", tfmq_last_error());
    TQ_EXPECT(tq_alloc_test_count() == 0, "run allocated %llu times",
              (unsigned long long)tq_alloc_test_count());
    TQ_EXPECT(memcmp(y1, y2, sizeof(y1)) == 0, "two runs differ bitwise");

    /* session-owned output memory */
    tfmq_tensor out2 = {"logits", TFMQ_DTYPE_UNDEFINED, 0, NULL, NULL, 0};
    TQ_EXPECT(tfmq_session_run(s, &in, 1, &out2, 1) == TFMQ_OK, "%s", tfmq_last_error());
    TQ_EXPECT(out2.data && out2.data_bytes == sizeof(y1) &&
                  memcmp(out2.data, y1, sizeof(y1)) == 0,
              "session-owned output equals the copied one");

    /* batch 3: re-plans; each sample equals its batch-1 result */
    float xb[3 * 28 * 28], yb[3 * 10], ys[10];
    fill(rng, xb, 3 * 28 * 28);
    memcpy(xb + 28 * 28, x, sizeof(x)); /* sample 1 is x */
    const int64_t dims3[4] = {3, 1, 28, 28};
    tfmq_tensor in3 = {"input", TFMQ_DTYPE_FLOAT32, 4, dims3, xb, sizeof(xb)};
    tfmq_tensor out3 = {"logits", TFMQ_DTYPE_UNDEFINED, 0, NULL, yb, sizeof(yb)};
    TQ_EXPECT(tfmq_session_run(s, &in3, 1, &out3, 1) == TFMQ_OK, "%s", tfmq_last_error());
    TQ_EXPECT(out3.dims[0] == 3, "batch 3 output");
    float max_diff = 0.0f;
    for (int i = 0; i < 10; i++) {
        float d = fabsf(yb[10 + i] - y1[i]);
        max_diff = d > max_diff ? d : max_diff;
    }
    TQ_EXPECT(max_diff <= 1e-5f, "batch-3 sample differs from batch-1 run by %g",
              (double)max_diff);
    /* and back to batch 1 */
    out.data = ys;
    TQ_EXPECT(tfmq_session_run(s, &in, 1, &out, 1) == TFMQ_OK, "%s", tfmq_last_error());
    TQ_EXPECT(memcmp(ys, y1, sizeof(ys)) == 0, "batch-1 result after re-planning differs");
    tfmq_session_destroy(s);
    tfmq_model_destroy(m);
}

static void test_run_errors(tq_rng *rng)
{
    tfmq_model *m = load_model();
    tfmq_session *s = NULL;
    if (!m || tfmq_session_create(m, NULL, &s) != TFMQ_OK) {
        tfmq_model_destroy(m);
        TQ_EXPECT(0, "setup failed: %s", tfmq_last_error());
        return;
    }
    float x[28 * 28], y[10];
    fill(rng, x, 28 * 28);
    const int64_t dims[4] = {1, 1, 28, 28};
    const int64_t bad_dims[4] = {1, 1, 27, 28};
    tfmq_tensor in = {"input", TFMQ_DTYPE_FLOAT32, 4, dims, x, sizeof(x)};
    tfmq_tensor out = {"logits", TFMQ_DTYPE_UNDEFINED, 0, NULL, y, sizeof(y)};
    tfmq_tensor bad;

    bad = in;
    bad.name = "nope";
    TQ_EXPECT(tfmq_session_run(s, &bad, 1, &out, 1) == TFMQ_ERR_INVALID_ARG, "wrong name");
    TQ_EXPECT(strstr(tfmq_last_error(), "nope") != NULL, "message names it: %s",
              tfmq_last_error());
    bad = in;
    bad.dtype = TFMQ_DTYPE_FLOAT64;
    TQ_EXPECT(tfmq_session_run(s, &bad, 1, &out, 1) == TFMQ_ERR_INVALID_ARG, "wrong dtype");
    TQ_EXPECT(strstr(tfmq_last_error(), "float64") != NULL, "message: %s", tfmq_last_error());
    bad = in;
    bad.dims = bad_dims;
    TQ_EXPECT(tfmq_session_run(s, &bad, 1, &out, 1) == TFMQ_ERR_INVALID_ARG, "wrong shape");
    bad = in;
    bad.rank = 3;
    TQ_EXPECT(tfmq_session_run(s, &bad, 1, &out, 1) == TFMQ_ERR_INVALID_ARG, "wrong rank");
    bad = in;
    bad.data_bytes = sizeof(x) - 4;
    TQ_EXPECT(tfmq_session_run(s, &bad, 1, &out, 1) == TFMQ_ERR_INVALID_ARG, "short buffer");
    tfmq_tensor small = out;
    small.data_bytes = sizeof(y) - 1;
    TQ_EXPECT(tfmq_session_run(s, &in, 1, &small, 1) == TFMQ_ERR_INVALID_ARG,
              "small output buffer");
    tfmq_tensor wrong_out = out;
    wrong_out.name = "prob";
    TQ_EXPECT(tfmq_session_run(s, &in, 1, &wrong_out, 1) == TFMQ_ERR_INVALID_ARG,
              "unknown output");
    TQ_EXPECT(tfmq_session_run(s, &in, 0, &out, 1) == TFMQ_ERR_INVALID_ARG, "missing input");
    /* still usable afterwards */
    TQ_EXPECT(tfmq_session_run(s, &in, 1, &out, 1) == TFMQ_OK, "%s", tfmq_last_error());
    tfmq_session_destroy(s);
    tfmq_model_destroy(m);
}

static void test_load_errors(tq_rng *rng)
{
    (void)rng;
    tfmq_model *m = (tfmq_model *)1;
    TQ_EXPECT(tfmq_model_load("/nonexistent/model.onnx", NULL, &m) == TFMQ_ERR_IO, "missing");
    TQ_EXPECT(m == NULL, "model_out is NULL on failure");
    TQ_EXPECT(strstr(tfmq_last_error(), "/nonexistent/model.onnx") != NULL, "names the file: %s",
              tfmq_last_error());
    TQ_EXPECT(tfmq_model_load(g_text, NULL, &m) == TFMQ_ERR_PARSE,
              "a text file is not a model: %s", tfmq_last_error());
    tfmq_load_options o = {0, NULL, NULL};
    TQ_EXPECT(tfmq_model_load(MODEL_PATH, &o, &m) == TFMQ_ERR_INVALID_ARG, "struct_size 0");
    tfmq_model_destroy(NULL);
    tfmq_session_destroy(NULL);
}

int main(int argc, char **argv)
{
    tq_test_begin(argc, argv);
    find_root();
    TQ_RUN(test_device_option);
    TQ_RUN(test_inspect);
    TQ_RUN(test_run_no_alloc_and_determinism);
    TQ_RUN(test_run_errors);
    TQ_RUN(test_load_errors);
    return tq_test_end();
}
