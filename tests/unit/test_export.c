/* test_export.c: ONNX export (tfmq_model_export_onnx): the bundled Fashion-MNIST model, resnet20
 * (../shared) plain and after the fusion passes (tfmq.FusedConv/FusedGemm expanded), the If/Loop
 * conformance models, and the resnet20 QDQ model lowered to tfmq.QConv/QGemm/QAdd (re-expanded
 * to QDQ). Each export is loaded back with tfmq and run on the same inputs as the source. */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>

#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "harness.h"
#include "import/onnx/onnx_import.h"
#include "passes/lower_qdq.h"
#include "passes/pass.h"
#include "runtime/model.h"
#include "tfmq.h"

static char g_root[512];
/* A path under ../shared (a static buffer per call site is not needed: callers copy). */
static const char *shared_path(const char *rel)
{
    static char buf[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof(buf[k]), "%s/%s", tq_test_shared_dir(), rel);
    return buf[k];
}

static char g_dir[256]; /* output folder of this run */
#define CONF_DIR "/usr/include/onnx/backend/test/data/node"
#define SHARED_RESNET20 shared_path("models/resnet20_cifar10/model.onnx")
#define SHARED_RESNET20_QDQ shared_path("models/resnet20_cifar10/model_qdq_ort.onnx")
#define MAX_IO 8

static void find_root(void)
{
    snprintf(g_root, sizeof(g_root), "%s", __FILE__);
    char *p = strstr(g_root, "/tests/unit/");
    if (p) {
        *p = '\0';
    } else {
        snprintf(g_root, sizeof(g_root), ".");
    }
}

/* Inputs of one run: owned buffers. */
typedef struct io_set {
    size_t n;
    tfmq_tensor t[MAX_IO];
    int64_t dims[MAX_IO][8];
    char names[MAX_IO][128];
    void *data[MAX_IO];
} io_set;

static void io_free(io_set *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->data[i]);
    }
    memset(s, 0, sizeof(*s));
}

/* Random inputs for `m` with symbolic dims as 1. */
static bool make_inputs(tq_rng *rng, const tfmq_model *m, io_set *s)
{
    tfmq_model_info info = {.struct_size = sizeof(info)};
    memset(s, 0, sizeof(*s));
    if (tfmq_model_get_info(m, &info) != TFMQ_OK || info.n_inputs > MAX_IO) {
        return false;
    }
    for (size_t i = 0; i < info.n_inputs; i++) {
        tfmq_io_info io = {.struct_size = sizeof(io)};
        if (tfmq_model_io(m, TFMQ_IO_INPUT, i, &io) != TFMQ_OK || io.rank < 0 || io.rank > 8) {
            return false;
        }
        size_t n = 1;
        for (int32_t d = 0; d < io.rank; d++) {
            s->dims[i][d] = io.dims[d] < 0 ? 1 : io.dims[d];
            n *= (size_t)s->dims[i][d];
        }
        snprintf(s->names[i], sizeof(s->names[i]), "%s", io.name);
        size_t es = io.dtype == TFMQ_DTYPE_FLOAT32 ? 4 : io.dtype == TFMQ_DTYPE_INT64 ? 8 : 1;
        s->data[i] = calloc(n ? n : 1, es);
        for (size_t k = 0; k < n; k++) {
            if (io.dtype == TFMQ_DTYPE_FLOAT32) {
                ((float *)s->data[i])[k] = tq_rng_uniform(rng, -1.0f, 1.0f);
            } else if (io.dtype == TFMQ_DTYPE_INT64) {
                ((int64_t *)s->data[i])[k] = (int64_t)tq_rng_below(rng, 4);
            } else {
                ((uint8_t *)s->data[i])[k] = (uint8_t)tq_rng_below(rng, 2);
            }
        }
        s->t[i] = (tfmq_tensor){s->names[i], io.dtype, io.rank, s->dims[i], s->data[i], n * es};
        s->n++;
    }
    return true;
}

/* Inputs from a conformance test_data_set_0 (input_<i>.pb). */
static bool read_inputs(const char *dir, io_set *s)
{
    memset(s, 0, sizeof(*s));
    for (size_t i = 0; i < MAX_IO; i++) {
        char p[4400];
        tq_tensor t;
        size_t bytes;
        void *data = NULL;
        snprintf(p, sizeof(p), "%s/test_data_set_0/input_%zu.pb", dir, i);
        if (access(p, R_OK) != 0) {
            break;
        }
        if (tq_onnx_read_tensor_file(p, NULL, &t, &data, &bytes, s->names[i],
                                     sizeof(s->names[i])) != TFMQ_OK) {
            return false;
        }
        s->data[i] = malloc(bytes ? bytes : 1);
        memcpy(s->data[i], data, bytes);
        tq_free_aligned(NULL, data, bytes);
        memcpy(s->dims[i], t.dims, sizeof(int64_t) * (size_t)t.rank);
        s->t[i] = (tfmq_tensor){s->names[i], t.dtype, t.rank, s->dims[i], s->data[i], bytes};
        s->n++;
    }
    return true;
}

/* Outputs of one run, copied out of the session. */
typedef struct out_set {
    size_t n;
    tfmq_dtype dtype[MAX_IO];
    int32_t rank[MAX_IO];
    int64_t dims[MAX_IO][8];
    void *data[MAX_IO];
    size_t bytes[MAX_IO];
} out_set;

static void out_free(out_set *o)
{
    for (size_t i = 0; i < o->n; i++) {
        free(o->data[i]);
    }
    memset(o, 0, sizeof(*o));
}

static bool run(const tfmq_model *m, const io_set *in, out_set *o)
{
    tfmq_model_info info = {.struct_size = sizeof(info)};
    tfmq_session *s = NULL;
    tfmq_tensor outs[MAX_IO];
    memset(o, 0, sizeof(*o));
    if (tfmq_model_get_info(m, &info) != TFMQ_OK || info.n_outputs > MAX_IO ||
        tfmq_session_create(m, NULL, &s) != TFMQ_OK) {
        return false;
    }
    for (size_t i = 0; i < info.n_outputs; i++) {
        tfmq_io_info io = {.struct_size = sizeof(io)};
        if (tfmq_model_io(m, TFMQ_IO_OUTPUT, i, &io) != TFMQ_OK) {
            tfmq_session_destroy(s);
            return false;
        }
        outs[i] = (tfmq_tensor){io.name, TFMQ_DTYPE_UNDEFINED, 0, NULL, NULL, 0};
    }
    tfmq_status st = tfmq_session_run(s, in->t, in->n, outs, info.n_outputs);
    if (st == TFMQ_OK) {
        for (size_t i = 0; i < info.n_outputs; i++) {
            o->dtype[i] = outs[i].dtype;
            o->rank[i] = outs[i].rank;
            memcpy(o->dims[i], outs[i].dims, sizeof(int64_t) * (size_t)outs[i].rank);
            o->bytes[i] = outs[i].data_bytes;
            o->data[i] = malloc(outs[i].data_bytes ? outs[i].data_bytes : 1);
            memcpy(o->data[i], outs[i].data, outs[i].data_bytes);
            o->n++;
        }
    }
    tfmq_session_destroy(s);
    return st == TFMQ_OK;
}

static bool outs_identical(const out_set *a, const out_set *b)
{
    if (a->n != b->n || a->n == 0) {
        return false;
    }
    for (size_t i = 0; i < a->n; i++) {
        if (a->dtype[i] != b->dtype[i] || a->rank[i] != b->rank[i] ||
            a->bytes[i] != b->bytes[i] ||
            memcmp(a->dims[i], b->dims[i], sizeof(int64_t) * (size_t)a->rank[i]) != 0 ||
            memcmp(a->data[i], b->data[i], a->bytes[i]) != 0) {
            return false;
        }
    }
    return true;
}

/* Max relative L2 error over outputs of b against a (float32 outputs; others must be equal). */
static double rel_l2(const out_set *a, const out_set *b)
{
    double worst = 0.0;
    if (a->n != b->n || a->n == 0) {
        return INFINITY;
    }
    for (size_t i = 0; i < a->n; i++) {
        if (a->dtype[i] != b->dtype[i] || a->bytes[i] != b->bytes[i]) {
            return INFINITY;
        }
        if (a->dtype[i] != TFMQ_DTYPE_FLOAT32) {
            if (memcmp(a->data[i], b->data[i], a->bytes[i]) != 0) {
                return INFINITY;
            }
            continue;
        }
        size_t n = a->bytes[i] / 4;
        double e = tq_test_nmse_f32((const float *)b->data[i], (const float *)a->data[i], n);
        e = sqrt(e);
        worst = e > worst ? e : worst;
    }
    return worst;
}

typedef enum prep { PREP_NONE, PREP_FUSE, PREP_LOWER } prep;

/* Load src (optionally fused / lowered), export to dst, load dst, run both; the outputs agree
 * within tol (relative L2; 0 = bit-identical). */
static void export_check(tq_rng *rng, const char *src, const char *dst, const char *conf_dir,
                         prep how, double tol, const char *want_op)
{
    tfmq_model *m = NULL, *e = NULL;
    io_set in;
    out_set a, b;
    memset(&in, 0, sizeof(in));
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    TQ_EXPECT(tfmq_model_load(src, NULL, &m) == TFMQ_OK, "load %s: %s", src, tfmq_last_error());
    if (!m) {
        return;
    }
    if (how == PREP_FUSE) {
        TQ_EXPECT_OK(tq_pass_run(m->graph, "default"));
    } else if (how == PREP_LOWER) {
        bool changed = false;
        TQ_EXPECT_OK(tq_pass_lower_qdq(m->graph, &changed));
        TQ_EXPECT(changed, "lower_qdq changed nothing");
    }
    if (want_op) {
        bool found = false;
        for (size_t i = 0; i < m->graph->n_nodes; i++) {
            found |= strcmp(tq_op_table[m->graph->nodes[i].op].name, want_op) == 0;
        }
        TQ_EXPECT(found, "%s: no %s node after the passes", src, want_op);
    }
    TQ_EXPECT(tfmq_model_export_onnx(m, dst, TFMQ_WRITE_OVERWRITE) == TFMQ_OK, "export %s: %s",
              dst, tfmq_last_error());
    TQ_EXPECT(tfmq_model_load(dst, NULL, &e) == TFMQ_OK, "load %s: %s", dst, tfmq_last_error());
    bool ok = conf_dir ? read_inputs(conf_dir, &in) : make_inputs(rng, m, &in);
    TQ_EXPECT(ok, "inputs for %s", src);
    if (ok && e) {
        tfmq_model_info info = {.struct_size = sizeof(info)};
        TQ_EXPECT_OK(tfmq_model_get_info(e, &info));
        TQ_EXPECT_STR_EQ(info.format, "onnx");
        TQ_EXPECT(run(m, &in, &a), "run %s: %s", src, tfmq_last_error());
        TQ_EXPECT(run(e, &in, &b), "run %s: %s", dst, tfmq_last_error());
        double err = rel_l2(&a, &b);
        if (tol == 0.0) {
            TQ_EXPECT(outs_identical(&a, &b), "%s: export's outputs differ (rel L2 %g)", dst, err);
        } else {
            TQ_EXPECT(err <= tol, "%s: rel L2 %g > %g", dst, err, tol);
        }
        printf("  %s: rel L2 vs source %.3g\n", dst, err);
    }
    io_free(&in);
    out_free(&a);
    out_free(&b);
    tfmq_model_destroy(m);
    tfmq_model_destroy(e);
}

static void test_export_fashion(tq_rng *rng)
{
    char src[1200], dst[600];
    snprintf(src, sizeof(src), "%s/models/fashion_mnist_cnn.onnx", g_root);
    snprintf(dst, sizeof(dst), "%s/fashion.onnx", g_dir);
    export_check(rng, src, dst, NULL, PREP_NONE, 0.0, NULL);
    snprintf(dst, sizeof(dst), "%s/fashion_fused.onnx", g_dir);
    export_check(rng, src, dst, NULL, PREP_FUSE, 1e-6, "tfmq.FusedConv");
    /* no overwrite without the flag; no temporary file left */
    tfmq_model *m = NULL;
    TQ_EXPECT_OK(tfmq_model_load(src, NULL, &m));
    TQ_EXPECT_STATUS(tfmq_model_export_onnx(m, dst, 0), TFMQ_ERR_IO);
    TQ_EXPECT_STR_CONTAINS(tfmq_last_error(), "exists");
    tfmq_model_destroy(m);
}

static void test_export_resnet20(tq_rng *rng)
{
    char dst[600];
    if (access(SHARED_RESNET20, R_OK) != 0) {
        printf("test_export_resnet20: SKIP: %s not found\n", SHARED_RESNET20);
        return;
    }
    snprintf(dst, sizeof(dst), "%s/resnet20.onnx", g_dir);
    export_check(rng, SHARED_RESNET20, dst, NULL, PREP_NONE, 0.0, NULL);
    snprintf(dst, sizeof(dst), "%s/resnet20_fused.onnx", g_dir);
    export_check(rng, SHARED_RESNET20, dst, NULL, PREP_FUSE, 1e-6, "tfmq.FusedConv");
}

static void test_export_qdq(tq_rng *rng)
{
    char dst[600];
    if (access(SHARED_RESNET20_QDQ, R_OK) != 0) {
        printf("test_export_qdq: SKIP: %s not found\n", SHARED_RESNET20_QDQ);
        return;
    }
    snprintf(dst, sizeof(dst), "%s/resnet20_q.onnx", g_dir);
    /* the integer kernels and the float QDQ path round differently by at most an LSB here and
     * there, so the logits agree closely but not bit for bit */
    export_check(rng, SHARED_RESNET20_QDQ, dst, NULL, PREP_LOWER, 0.05, "tfmq.QConv");
}

static void test_export_control_flow(tq_rng *rng)
{
    static const char *const names[] = {"test_if", "test_loop11",
                                        "test_range_float_type_positive_delta_expanded"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char dir[512], src[600], dst[600];
        snprintf(dir, sizeof(dir), "%s/%s", CONF_DIR, names[i]);
        snprintf(src, sizeof(src), "%s/model.onnx", dir);
        if (access(src, R_OK) != 0) {
            printf("test_export_control_flow: SKIP %s: not found\n", src);
            continue;
        }
        snprintf(dst, sizeof(dst), "%s/%s.onnx", g_dir, names[i]);
        export_check(rng, src, dst, dir, PREP_NONE, 0.0, NULL);
    }
}

int main(int argc, char **argv)
{
    tq_test_begin(argc, argv);
    find_root();
    const char *keep = getenv("TFMQ_EXPORT_DIR"); /* keep the exports (for test_export_ort.py) */
    if (keep && *keep) {
        snprintf(g_dir, sizeof(g_dir), "%s", keep);
        mkdir(g_dir, 0755);
    } else {
        snprintf(g_dir, sizeof(g_dir), "/tmp/tfmq_test_export_XXXXXX");
        if (!mkdtemp(g_dir)) {
            fprintf(stderr, "mkdtemp failed\n");
            return 1;
        }
    }
    TQ_RUN(test_export_fashion);
    TQ_RUN(test_export_resnet20);
    TQ_RUN(test_export_qdq);
    TQ_RUN(test_export_control_flow);
    if (!(keep && *keep)) {
        DIR *d = opendir(g_dir);
        struct dirent *de;
        char p[1024];
        while (d && (de = readdir(d)) != NULL) {
            if (de->d_name[0] != '.') {
                snprintf(p, sizeof(p), "%s/%s", g_dir, de->d_name);
                unlink(p);
            }
        }
        if (d) {
            closedir(d);
        }
        rmdir(g_dir);
    }
    return tq_test_end();
}
