/* test_engine.c: the engine file (.tfmq): save + load round trips on the bundled Fashion-MNIST
 * model, resnet20 (../shared) and the If/Loop conformance models, with bit-identical outputs;
 * hostile files (every byte flipped, truncations, a newer major version) refused with a status;
 * no overwrite without the flag; no temporary file left behind. */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>

#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "engine/engine.h"
#include "engine/format.h"
#include "harness.h"
#include "import/onnx/onnx_import.h"
#include "passes/lower_qdq.h"
#include "passes/pass.h"
#include "runtime/model.h"
#include "tfmq.h"

#include "model_io.h"

static size_t count_tmp_files(void)
{
    size_t n = 0;
    DIR *d = opendir(g_dir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        if (strstr(de->d_name, ".tmp.")) {
            n++;
        }
    }
    if (d) {
        closedir(d);
    }
    return n;
}

/* Load `src`, save it as an engine, load that back, and compare the two on the same inputs
 * (random unless conf_dir gives a conformance data set). */
static void roundtrip2(tq_rng *rng, const char *src, const char *engine, const char *conf_dir,
                       int prep)
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
    if (prep == 1) { /* fusion passes: tfmq.FusedConv / FusedGemm */
        TQ_EXPECT_OK(tq_pass_run(m->graph, "default"));
    } else if (prep == 2) { /* QDQ lowered to tfmq.QConv / QGemm / QAdd */
        TQ_EXPECT_OK(tq_pass_lower_qdq(m->graph, NULL));
    }
    if (prep) {
        bool internal = false;
        for (size_t i = 0; i < m->graph->n_nodes; i++) {
            internal |= strncmp(tq_op_table[m->graph->nodes[i].op].name, "tfmq.", 5) == 0;
        }
        TQ_EXPECT(internal, "%s: no internal op after the passes", src);
    }
    TQ_EXPECT(tfmq_model_save(m, engine, TFMQ_WRITE_OVERWRITE) == TFMQ_OK, "save %s: %s",
              engine, tfmq_last_error());
    TQ_EXPECT(tfmq_model_load(engine, NULL, &e) == TFMQ_OK, "load %s: %s", engine,
              tfmq_last_error());
    if (!e) {
        tfmq_model_destroy(m);
        return;
    }
    tfmq_model_info im = {.struct_size = sizeof(im)}, ie = {.struct_size = sizeof(ie)};
    TQ_EXPECT_OK(tfmq_model_get_info(m, &im));
    TQ_EXPECT_OK(tfmq_model_get_info(e, &ie));
    TQ_EXPECT_STR_EQ(ie.format, "tfmq-engine");
    TQ_EXPECT_STR_EQ(ie.precision, im.precision); /* "int8" for the QDQ model */
    TQ_EXPECT_STR_EQ(ie.device, "cpu");
    TQ_EXPECT_STR_EQ(ie.producer, im.producer);
    TQ_EXPECT_EQ_I64(ie.ir_version, im.ir_version);
    TQ_EXPECT_EQ_I64(ie.opset, im.opset);
    TQ_EXPECT_EQ_U64(ie.n_nodes, m->graph->n_nodes);
    if (!prep) {
        TQ_EXPECT_EQ_U64(ie.n_params, im.n_params);
        TQ_EXPECT_EQ_U64(ie.n_macs, im.n_macs);
    }
    TQ_EXPECT_EQ_U64(ie.n_inputs, im.n_inputs);
    for (size_t i = 0; i < im.n_inputs; i++) {
        tfmq_io_info x = {.struct_size = sizeof(x)}, y = {.struct_size = sizeof(y)};
        TQ_EXPECT_OK(tfmq_model_io(m, TFMQ_IO_INPUT, i, &x));
        TQ_EXPECT_OK(tfmq_model_io(e, TFMQ_IO_INPUT, i, &y));
        TQ_EXPECT_STR_EQ(y.name, x.name);
        TQ_EXPECT(x.rank == y.rank && x.dtype == y.dtype, "input %zu type", i);
        for (int32_t d = 0; d < x.rank && d == 0; d++) {
            TQ_EXPECT(x.dims[d] == y.dims[d], "input %zu dim %d", i, d);
            TQ_EXPECT((!x.dim_names[d] && !y.dim_names[d]) ||
                          (x.dim_names[d] && y.dim_names[d] &&
                           strcmp(x.dim_names[d], y.dim_names[d]) == 0),
                      "input %zu dim name %d", i, d);
        }
    }
    bool ok = conf_dir ? read_inputs(conf_dir, &in) : make_inputs(rng, m, &in);
    TQ_EXPECT(ok, "inputs for %s", src);
    if (ok) {
        TQ_EXPECT(run(m, &in, &a), "run %s: %s", src, tfmq_last_error());
        TQ_EXPECT(run(e, &in, &b), "run %s: %s", engine, tfmq_last_error());
        TQ_EXPECT(outs_identical(&a, &b), "%s: engine outputs differ from the model's", src);
    }
    io_free(&in);
    out_free(&a);
    out_free(&b);
    tfmq_model_destroy(m);
    tfmq_model_destroy(e);
}

static void roundtrip(tq_rng *rng, const char *src, const char *engine, const char *conf_dir)
{
    roundtrip2(rng, src, engine, conf_dir, 0);
}

static void test_roundtrip_fashion(tq_rng *rng)
{
    char src[4200], eng[512];
    snprintf(src, sizeof(src), "%s/models/fashion_mnist_cnn.onnx", g_root);
    snprintf(eng, sizeof(eng), "%s/fashion.tfmq", g_dir);
    roundtrip(rng, src, eng, NULL);
    /* engine -> engine: saving a loaded engine gives the same bytes */
    tfmq_model *e = NULL;
    char eng2[600];
    snprintf(eng2, sizeof(eng2), "%s/fashion2.tfmq", g_dir);
    TQ_EXPECT_OK(tfmq_model_load(eng, NULL, &e));
    if (e) {
        TQ_EXPECT_OK(tfmq_model_save(e, eng2, 0));
        tfmq_model_destroy(e);
        FILE *f1 = fopen(eng, "rb"), *f2 = fopen(eng2, "rb");
        bool same = f1 && f2;
        while (same) {
            int c1 = fgetc(f1), c2 = fgetc(f2);
            same = c1 == c2;
            if (c1 == EOF) {
                break;
            }
        }
        TQ_EXPECT(same, "re-saving an engine changes its bytes");
        if (f1) {
            fclose(f1);
        }
        if (f2) {
            fclose(f2);
        }
    }
    TQ_EXPECT_EQ_U64(count_tmp_files(), 0);
}

static void test_roundtrip_resnet20(tq_rng *rng)
{
    char eng[512];
    if (access(SHARED_RESNET20, R_OK) != 0) {
        printf("test_roundtrip_resnet20: SKIP: %s not found\n", SHARED_RESNET20);
        return;
    }
    snprintf(eng, sizeof(eng), "%s/resnet20.tfmq", g_dir);
    roundtrip(rng, SHARED_RESNET20, eng, NULL);
}

static void test_roundtrip_internal_ops(tq_rng *rng)
{
    char eng[512];
    if (access(SHARED_RESNET20, R_OK) != 0) {
        printf("test_roundtrip_internal_ops: SKIP: %s not found\n", SHARED_RESNET20);
        return;
    }
    snprintf(eng, sizeof(eng), "%s/resnet20_fused.tfmq", g_dir);
    roundtrip2(rng, SHARED_RESNET20, eng, NULL, 1);
    snprintf(eng, sizeof(eng), "%s/resnet20_int8.tfmq", g_dir);
    roundtrip2(rng, shared_path("models/resnet20_cifar10/model_qdq_ort.onnx"), eng, NULL, 2);
}

static void test_roundtrip_control_flow(tq_rng *rng)
{
    static const char *const names[] = {"test_if", "test_loop11", "test_range_float_type_positive_delta_expanded"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char dir[512], src[600], eng[600];
        snprintf(dir, sizeof(dir), "%s/%s", CONF_DIR, names[i]);
        snprintf(src, sizeof(src), "%s/model.onnx", dir);
        if (access(src, R_OK) != 0) {
            printf("test_roundtrip_control_flow: SKIP %s: not found\n", src);
            continue;
        }
        snprintf(eng, sizeof(eng), "%s/%s.tfmq", g_dir, names[i]);
        roundtrip(rng, src, eng, dir);
    }
}

static bool write_file(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        return false;
    }
    bool ok = fwrite(p, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

static uint8_t *read_all(const char *path, size_t *n_out)
{
    FILE *f = fopen(path, "rb");
    *n_out = 0;
    if (!f) {
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc((size_t)n + 1);
    if (fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *n_out = p ? (size_t)n : 0;
    return p;
}

/* Load `path` (a damaged engine): must fail with PARSE or VERSION and leave model_out NULL. */
static bool refused(const char *path, size_t where, int how)
{
    tfmq_model *m = (tfmq_model *)1;
    tfmq_status st = tfmq_model_load(path, NULL, &m);
    if (st == TFMQ_OK) {
        tfmq_model_destroy(m);
        tq_test_failf(__FILE__, __LINE__, "damaged engine accepted (byte %zu, %d)", where, how);
        return false;
    }
    if ((st != TFMQ_ERR_PARSE && st != TFMQ_ERR_VERSION) || m != NULL) {
        tq_test_failf(__FILE__, __LINE__, "damage at %zu (%d): status %s: %s", where, how,
                      tfmq_status_str(st), tfmq_last_error());
        return false;
    }
    return true;
}

/* Flip bytes of `eng` (every byte when every_byte, else all bytes before DATA and a sample
 * after) and truncate it; every damaged file is refused. */
static void damage(tq_rng *rng, const char *eng, bool every_byte)
{
    size_t n = 0, n_tried = 0;
    uint8_t *orig = read_all(eng, &n);
    char bad[600];
    snprintf(bad, sizeof(bad), "%s/damaged.tfmq", g_dir);
    TQ_EXPECT(orig && n > TQ_ENG_HEADER_BYTES, "read %s", eng);
    if (!orig) {
        return;
    }
    /* the DATA section's offset, from the section table */
    size_t data_off = n;
    for (uint32_t i = 0; i < 3; i++) {
        const uint8_t *s = orig + TQ_ENG_HEADER_BYTES + i * TQ_ENG_SECTION_ENTRY_BYTES;
        if (s[0] == TQ_ENG_SEC_DATA) {
            memcpy(&data_off, s + 8, sizeof(uint32_t)); /* little-endian host assumed here */
            data_off &= 0xffffffffu;
        }
    }
    uint8_t *buf = malloc(n);
    int fd = -1;
    TQ_EXPECT(write_file(bad, orig, n), "write %s", bad);
    fd = open(bad, O_WRONLY);
    for (size_t i = 0; i < n && fd >= 0; i++) {
        if (!every_byte && i >= data_off && tq_rng_below(rng, 64) != 0) {
            continue;
        }
        for (int k = 0; k < 2; k++) {
            uint8_t b = (uint8_t)(orig[i] ^ (k ? 0xffu : 0x01u));
            if (pwrite(fd, &b, 1, (off_t)i) != 1) {
                TQ_EXPECT(0, "pwrite");
            }
            refused(bad, i, k);
            n_tried++;
        }
        if (pwrite(fd, &orig[i], 1, (off_t)i) != 1) {
            TQ_EXPECT(0, "pwrite");
        }
    }
    if (fd >= 0) {
        close(fd);
    }
    printf("  %s: %zu bytes, %zu byte flips refused\n", eng, n, n_tried);
    /* truncations: every length up to 1100, then a sample, then n-1 */
    size_t n_trunc = 0;
    for (size_t len = 0; len < n; len++) {
        if (len > 1100 && len != n - 1 && tq_rng_below(rng, n / 200 + 1) != 0) {
            continue;
        }
        TQ_EXPECT(truncate(bad, (off_t)len) == 0, "truncate");
        refused(bad, len, 2);
        n_trunc++;
    }
    printf("  %s: %zu truncations refused\n", eng, n_trunc);
    /* one byte appended */
    memcpy(buf, orig, n);
    TQ_EXPECT(write_file(bad, buf, n), "write");
    FILE *f = fopen(bad, "ab");
    if (f) {
        fputc(0, f);
        fclose(f);
    }
    refused(bad, n, 3);
    unlink(bad);
    free(buf);
    free(orig);
}

static void test_damaged_files(tq_rng *rng)
{
    char src[1200], eng[600];
    /* a small engine with subgraphs: every byte */
    snprintf(src, sizeof(src), "%s/test_loop11/model.onnx", CONF_DIR);
    snprintf(eng, sizeof(eng), "%s/loop.tfmq", g_dir);
    tfmq_model *m = NULL;
    if (access(src, R_OK) == 0) {
        TQ_EXPECT_OK(tfmq_model_load(src, NULL, &m));
        if (m) {
            TQ_EXPECT_OK(tfmq_model_save(m, eng, TFMQ_WRITE_OVERWRITE));
            tfmq_model_destroy(m);
            damage(rng, eng, true);
        }
    }
    /* Fashion-MNIST: every byte of header, table, META and GRAPH, 1 in 64 of DATA */
    snprintf(src, sizeof(src), "%s/models/fashion_mnist_cnn.onnx", g_root);
    snprintf(eng, sizeof(eng), "%s/fashion_d.tfmq", g_dir);
    m = NULL;
    TQ_EXPECT_OK(tfmq_model_load(src, NULL, &m));
    if (m) {
        TQ_EXPECT_OK(tfmq_model_save(m, eng, TFMQ_WRITE_OVERWRITE));
        tfmq_model_destroy(m);
        damage(rng, eng, false);
    }
}

/* Put a valid CRC back after editing a header field, so the field itself is what is tested. */
static void fix_crc(uint8_t *p, size_t n)
{
    uint32_t crc = tq_crc32c(0, p, TQ_ENG_CRC_OFFSET);
    crc = tq_crc32c(crc, p + TQ_ENG_CRC_OFFSET + 4, n - TQ_ENG_CRC_OFFSET - 4);
    for (int i = 0; i < 4; i++) {
        p[TQ_ENG_CRC_OFFSET + i] = (uint8_t)(crc >> (8 * i));
    }
}

static void test_version_and_overwrite(tq_rng *rng)
{
    (void)rng;
    char src[4200], eng[600], bad[600];
    snprintf(src, sizeof(src), "%s/models/fashion_mnist_cnn.onnx", g_root);
    snprintf(eng, sizeof(eng), "%s/v.tfmq", g_dir);
    snprintf(bad, sizeof(bad), "%s/v_newer.tfmq", g_dir);
    unlink(eng);
    tfmq_model *m = NULL, *e = NULL;
    TQ_EXPECT_OK(tfmq_model_load(src, NULL, &m));
    if (!m) {
        return;
    }
    TQ_EXPECT_OK(tfmq_model_save(m, eng, 0));
    TQ_EXPECT_STATUS(tfmq_model_save(m, eng, 0), TFMQ_ERR_IO);
    TQ_EXPECT_STR_CONTAINS(tfmq_last_error(), "exists (use overwrite)");
    TQ_EXPECT_OK(tfmq_model_save(m, eng, TFMQ_WRITE_OVERWRITE));
    TQ_EXPECT_STATUS(tfmq_model_save(m, "/nonexistent-dir/x.tfmq", 0), TFMQ_ERR_IO);
    TQ_EXPECT_STATUS(tfmq_model_save(NULL, eng, 0), TFMQ_ERR_INVALID_ARG);
    TQ_EXPECT_EQ_I64(tfmq_engine_format_version(), TQ_ENGINE_FORMAT_VERSION);

    size_t n = 0;
    uint8_t *p = read_all(eng, &n);
    TQ_EXPECT(p != NULL, "read");
    if (p) {
        TQ_EXPECT(memcmp(p, "TFMQ", 4) == 0, "magic");
        TQ_EXPECT(p[4] == TQ_ENGINE_FORMAT_VERSION && p[5] == 0, "major version field");
        /* a newer major, even with a valid checksum: TFMQ_ERR_VERSION naming both versions */
        p[4] = (uint8_t)(TQ_ENGINE_FORMAT_VERSION + 1);
        fix_crc(p, n);
        TQ_EXPECT(write_file(bad, p, n), "write");
        TQ_EXPECT_STATUS(tfmq_model_load(bad, NULL, &e), TFMQ_ERR_VERSION);
        char want[64];
        snprintf(want, sizeof(want), "%u.", TQ_ENGINE_FORMAT_VERSION + 1);
        TQ_EXPECT_STR_CONTAINS(tfmq_last_error(), want);
        /* a newer minor is read */
        p[4] = (uint8_t)TQ_ENGINE_FORMAT_VERSION;
        p[6] = 7;
        fix_crc(p, n);
        TQ_EXPECT(write_file(bad, p, n), "write");
        TQ_EXPECT_OK(tfmq_model_load(bad, NULL, &e));
        tfmq_model_destroy(e);
        e = NULL;
        /* a section offset outside the file, with a valid checksum */
        p[6] = 0;
        p[TQ_ENG_HEADER_BYTES + 8 + 5] = 0x7f;
        fix_crc(p, n);
        TQ_EXPECT(write_file(bad, p, n), "write");
        TQ_EXPECT_STATUS(tfmq_model_load(bad, NULL, &e), TFMQ_ERR_PARSE);
        /* checksum mismatch message */
        p[TQ_ENG_HEADER_BYTES + 8 + 5] = 0;
        p[n - 1] ^= 0x10;
        TQ_EXPECT(write_file(bad, p, n), "write");
        TQ_EXPECT_STATUS(tfmq_model_load(bad, NULL, &e), TFMQ_ERR_PARSE);
        TQ_EXPECT_STR_CONTAINS(tfmq_last_error(), "checksum mismatch");
        TQ_EXPECT(write_file(bad, p, n - 5), "write");
        TQ_EXPECT_STATUS(tfmq_model_load(bad, NULL, &e), TFMQ_ERR_PARSE);
        TQ_EXPECT_STR_CONTAINS(tfmq_last_error(), "truncated");
        free(p);
    }
    unlink(bad);
    tfmq_model_destroy(m);
    TQ_EXPECT_EQ_U64(count_tmp_files(), 0);
}

/* The loaded engine's constants point into the mapping: loading allocates far less than the
 * weights' size. */
static long long live_after_load(const char *path)
{
    tq_test_counting_alloc c;
    memset(&c, 0, sizeof(c));
    tfmq_allocator a = {&c, tq_test_counting_alloc_fn, tq_test_counting_free_fn};
    tfmq_load_options o = {sizeof(o), &a, NULL};
    tfmq_model *e = NULL;
    TQ_EXPECT_OK(tfmq_model_load(path, &o, &e));
    long long live = atomic_load(&c.bytes_live);
    tfmq_model_destroy(e);
    TQ_EXPECT_EQ_I64(atomic_load(&c.n_live), 0);
    return live;
}

/* The loaded engine's constants point into the mapping: it holds about the weights' size
 * (~96 KB) less memory than the ONNX model. */
static void test_no_copy(tq_rng *rng)
{
    (void)rng;
    char src[1200], eng[600];
    snprintf(src, sizeof(src), "%s/models/fashion_mnist_cnn.onnx", g_root);
    snprintf(eng, sizeof(eng), "%s/nocopy.tfmq", g_dir);
    tfmq_model *m = NULL;
    TQ_EXPECT_OK(tfmq_model_load(src, NULL, &m));
    TQ_EXPECT_OK(tfmq_model_save(m, eng, TFMQ_WRITE_OVERWRITE));
    tfmq_model_destroy(m);
    long long l_onnx = live_after_load(src), l_eng = live_after_load(eng);
    TQ_EXPECT(l_eng + 90000 < l_onnx, "engine load holds %lld bytes, ONNX load %lld", l_eng,
              l_onnx);
}


/* A "cuda" engine carries its PLANS section through a load and a plain save unchanged, reads
 * back as device "cuda", runs in a CPU session like any engine, and the writer refuses a device
 * and plans that do not go together. (Plans made on a GPU: tests/gpu/test_cuda_models.c.) */
static void test_plans_section(tq_rng *rng)
{
    (void)rng;
    char src[1200], eng[600], eng2[600];
    snprintf(src, sizeof(src), "%s/models/fashion_mnist_cnn.onnx", g_root);
    snprintf(eng, sizeof(eng), "%s/planned.tfmq", g_dir);
    snprintf(eng2, sizeof(eng2), "%s/planned2.tfmq", g_dir);
    uint8_t plans[333];
    for (size_t i = 0; i < sizeof(plans); i++) {
        plans[i] = (uint8_t)(i * 37 + 11);
    }
    tfmq_model *m = NULL, *e = NULL, *e2 = NULL;
    TQ_EXPECT_OK(tfmq_model_load(src, NULL, &m));
    if (!m) {
        return;
    }
    TQ_EXPECT_STATUS(tq_engine_save(m, eng, TFMQ_WRITE_OVERWRITE, "cuda", NULL, 0),
                     TFMQ_ERR_INVALID_ARG);
    TQ_EXPECT_STATUS(tq_engine_save(m, eng, TFMQ_WRITE_OVERWRITE, "cpu", plans, sizeof(plans)),
                     TFMQ_ERR_INVALID_ARG);
    TQ_EXPECT_OK(tq_engine_save(m, eng, TFMQ_WRITE_OVERWRITE, "cuda", plans, sizeof(plans)));
    TQ_EXPECT_OK(tfmq_model_load(eng, NULL, &e));
    if (e) {
        tfmq_model_info info;
        memset(&info, 0, sizeof(info));
        info.struct_size = sizeof(info);
        TQ_EXPECT_OK(tfmq_model_get_info(e, &info));
        TQ_EXPECT_STR_EQ(info.device, "cuda");
        TQ_EXPECT_STR_EQ(info.planned_for, "(unreadable plans)");
        TQ_CHECK(e->plans_bytes == sizeof(plans) && memcmp(e->plans, plans, sizeof(plans)) == 0);
        TQ_EXPECT_OK(tfmq_model_save(e, eng2, TFMQ_WRITE_OVERWRITE));
        TQ_EXPECT_OK(tfmq_model_load(eng2, NULL, &e2));
        TQ_CHECK(e2 && e2->plans_bytes == sizeof(plans) &&
                 memcmp(e2->plans, plans, sizeof(plans)) == 0 && strcmp(e2->device, "cuda") == 0);
        /* a CPU session runs it (the plans are the GPU's business) */
        tfmq_session *s = NULL;
        TQ_EXPECT_OK(tfmq_session_create(e, NULL, &s));
        tfmq_session_destroy(s);
        /* without a CUDA backend a cuda session is refused as before; with one, these plans are
         * no valid payload: refused as a corrupt engine (never run) */
        tfmq_session_options so;
        memset(&so, 0, sizeof(so));
        so.struct_size = sizeof(so);
        so.device = "cuda";
        tfmq_status st = tfmq_session_create(e, &so, &s);
        TQ_EXPECT(st == TFMQ_ERR_UNSUPPORTED || st == TFMQ_ERR_PARSE || st == TFMQ_ERR_BACKEND,
                  "cuda session on garbage plans: status %d (%s)", (int)st, tfmq_last_error());
        tfmq_session_destroy(s);
    }
    /* a payload shaped as plan_cache.h writes it: tfmq inspect's summary */
    static const char text[] = "tfmq-plan-cache 1 sm=90 cudnn=91900 gpu=NVIDIA H200\n"
                               "conv:a fused eng=1 ws=0 ms=0.5 knobs=-\n"
                               "qconv:b direct eng=-1 ws=0 ms=0.25 knobs=-\n";
    uint8_t real[8 + sizeof(text) - 1 + 4];
    const uint64_t tn = sizeof(text) - 1;
    for (int i = 0; i < 8; i++) {
        real[i] = (uint8_t)(tn >> (8 * i));
    }
    memcpy(real + 8, text, tn);
    memset(real + 8 + tn, 0, 4); /* no serialized plans */
    tfmq_model *e3 = NULL;
    TQ_EXPECT_OK(tq_engine_save(m, eng, TFMQ_WRITE_OVERWRITE, "cuda", real, sizeof(real)));
    TQ_EXPECT_OK(tfmq_model_load(eng, NULL, &e3));
    if (e3) {
        tfmq_model_info info;
        memset(&info, 0, sizeof(info));
        info.struct_size = sizeof(info);
        TQ_EXPECT_OK(tfmq_model_get_info(e3, &info));
        TQ_EXPECT_STR_EQ(info.planned_for,
                         "NVIDIA H200, compute capability 9.0, cuDNN 91900: 2 convolution plans");
    }
    tfmq_model_destroy(e3);
    /* sessions are needed to plan; without any the call is refused */
    TQ_EXPECT_STATUS(tfmq_model_save_planned(m, NULL, 0, eng2, TFMQ_WRITE_OVERWRITE),
                     TFMQ_ERR_INVALID_ARG);
    tfmq_model_destroy(e2);
    tfmq_model_destroy(e);
    tfmq_model_destroy(m);
}

static void cleanup_dir(void)
{
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

int main(int argc, char **argv)
{
    tq_test_begin(argc, argv);
    find_root();
    snprintf(g_dir, sizeof(g_dir), "/tmp/tfmq_test_engine_XXXXXX");
    if (!mkdtemp(g_dir)) {
        fprintf(stderr, "mkdtemp failed\n");
        return 1;
    }
    TQ_RUN(test_roundtrip_fashion);
    TQ_RUN(test_roundtrip_resnet20);
    TQ_RUN(test_roundtrip_internal_ops);
    TQ_RUN(test_roundtrip_control_flow);
    TQ_RUN(test_version_and_overwrite);
    TQ_RUN(test_no_copy);
    TQ_RUN(test_damaged_files);
    TQ_RUN(test_plans_section);
    cleanup_dir();
    return tq_test_end();
}
