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

#include "model_io.h"

#define SHARED_RESNET20_QDQ shared_path("models/resnet20_cifar10/model_qdq_ort.onnx")

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
