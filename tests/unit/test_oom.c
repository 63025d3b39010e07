/* test_oom.c: OOM torture (STYLE.md section 7, as curl's -t and Lua's failnext). For each
 * operation, allocation N = 1, 2, 3, ... made through tq_alloc* on this thread is made to fail
 * (tq_alloc_test_set_fail_at) until the operation completes without reaching allocation N. Every
 * failing N must return TFMQ_ERR_OUT_OF_MEMORY, leave *_out NULL, leak nothing (a counting
 * tfmq_allocator checks the library's blocks; LeakSanitizer in the ASan build checks the rest)
 * and, for writers, leave no output or temporary file behind. Prints the number of failure
 * points exercised per operation (docs/RELIABILITY.md). TFMQ_OOM_STRIDE=k tries every k-th N
 * only (quick runs; the default 1 tries every N). */
#include <dirent.h>
#include <string.h>

#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "harness.h"
#include "ir/rewrite.h"
#include "passes/pass.h"
#include "runtime/model.h"
#include "tfmq.h"

#define LOOP_MODEL "/usr/include/onnx/backend/test/data/node/test_loop11/model.onnx"
#define MAX_POINTS 200000u /* safety stop: an operation that never completes is a bug */

static char g_root[4096];
static char g_model[4200];
static char g_dir[256]; /* temporary folder of this run */
static uint64_t g_stride = 1;

static tq_test_counting_alloc g_count;
/* Set by an operation that allocates again after its failure (a recovery run): the allocation
 * count the failing part reached. 0: use tq_alloc_test_count(). */
static uint64_t g_count_reached;
static uint64_t g_cur_n; /* the failing allocation of the current attempt, for messages */
static tfmq_allocator g_alloc = {&g_count, tq_test_counting_alloc_fn, tq_test_counting_free_fn};

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
}

/* ---- the torture loop ---- */

/* One attempt of an operation. It must release everything it made on success and on failure
 * (so the counting allocator returns to its level before the call), and report a *_out that is
 * not NULL after a failure through *out_not_null. */
typedef tfmq_status (*op_fn)(void *ctx, bool *out_not_null);
/* Extra check after a failed attempt (files left behind); returns a problem or NULL. */
typedef const char *(*after_fail_fn)(void *ctx);

typedef struct torture_result {
    uint64_t n_points;    /* failing N tried */
    uint64_t n_absorbed;  /* N reached but the operation still returned TFMQ_OK */
    uint64_t n_allocs;    /* allocations of a complete, successful run */
} torture_result;

static torture_result torture(const char *name, op_fn fn, void *ctx, after_fail_fn after)
{
    torture_result r = {0, 0, 0};
    uint64_t n_bad_status = 0, n_leaks = 0, n_out = 0, n_files = 0;
    for (uint64_t n = 1; n < MAX_POINTS; n += g_stride) {
        const long long live0 = atomic_load(&g_count.n_live);
        const long long bytes0 = atomic_load(&g_count.bytes_live);
        bool out_not_null = false;
        g_count_reached = 0;
        g_cur_n = n;
        tq_alloc_test_set_fail_at(n);
        tfmq_status st = fn(ctx, &out_not_null);
        const uint64_t count = g_count_reached ? g_count_reached : tq_alloc_test_count();
        tq_alloc_test_set_fail_at(0);
        const long long live = atomic_load(&g_count.n_live) - live0;
        const long long bytes = atomic_load(&g_count.bytes_live) - bytes0;
        if (live != 0 || bytes != 0) {
            if (n_leaks++ < 5) {
                tq_test_failf(__FILE__, __LINE__,
                              "%s: fail_at=%llu: %lld blocks (%lld bytes) leaked (status %s)", name,
                              (unsigned long long)n, live, bytes, tfmq_status_str(st));
            }
        }
        if (count < n) { /* the failure was never reached: the operation completed */
            TQ_EXPECT(st == TFMQ_OK, "%s: fail_at=%llu not reached but status %s: %s", name,
                      (unsigned long long)n, tfmq_status_str(st), tfmq_last_error());
            r.n_allocs = count;
            break;
        }
        r.n_points++;
        if (st == TFMQ_OK) {
            /* the library handled the failed allocation itself (a best-effort step) */
            if (r.n_absorbed++ < 8) {
                printf("oom: %s: fail_at=%llu absorbed\n", name, (unsigned long long)n);
            }
            continue;
        }
        if (st != TFMQ_ERR_OUT_OF_MEMORY && n_bad_status++ < 5) {
            tq_test_failf(__FILE__, __LINE__, "%s: fail_at=%llu returned %s, expected %s: %s",
                          name, (unsigned long long)n, tfmq_status_str(st),
                          tfmq_status_str(TFMQ_ERR_OUT_OF_MEMORY), tfmq_last_error());
        }
        if (out_not_null && n_out++ < 5) {
            tq_test_failf(__FILE__, __LINE__, "%s: fail_at=%llu: *_out not NULL on failure", name,
                          (unsigned long long)n);
        }
        const char *problem = after ? after(ctx) : NULL;
        if (problem && n_files++ < 5) {
            tq_test_failf(__FILE__, __LINE__, "%s: fail_at=%llu: %s", name,
                          (unsigned long long)n, problem);
        }
    }
    printf("oom: %-34s %6llu failure points, %llu absorbed (status OK), %llu allocations in a "
           "full run; bad status %llu, leaks %llu, out!=NULL %llu, files left %llu\n",
           name, (unsigned long long)r.n_points, (unsigned long long)r.n_absorbed,
           (unsigned long long)r.n_allocs, (unsigned long long)n_bad_status,
           (unsigned long long)n_leaks, (unsigned long long)n_out, (unsigned long long)n_files);
    TQ_EXPECT(r.n_allocs > 0, "%s: never completed", name);
    fflush(stdout);
    return r;
}

/* ---- files ---- */

static size_t count_dir_entries(void)
{
    size_t n = 0;
    DIR *d = opendir(g_dir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
            n++;
        }
    }
    if (d) {
        closedir(d);
    }
    return n;
}

static void clear_dir(void)
{
    DIR *d = opendir(g_dir);
    struct dirent *de;
    char p[600];
    while (d && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
            snprintf(p, sizeof(p), "%s/%s", g_dir, de->d_name);
            unlink(p);
        }
    }
    if (d) {
        closedir(d);
    }
}

static uint8_t *read_all(const char *path, size_t *n_out)
{
    *n_out = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc(n > 0 ? (size_t)n : 1);
    if (p && n > 0 && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *n_out = p ? (size_t)n : 0;
    return p;
}

static tfmq_load_options counting_opts(void)
{
    tfmq_load_options o = {sizeof(o), &g_alloc, NULL};
    return o;
}

/* ---- operations ---- */

typedef struct load_ctx {
    const char *path;
} load_ctx;

static tfmq_status op_load(void *vctx, bool *out_not_null)
{
    load_ctx *c = vctx;
    tfmq_load_options o = counting_opts();
    tfmq_model *m = (tfmq_model *)&g_count; /* poison: must become NULL */
    tfmq_status st = tfmq_model_load(c->path, &o, &m);
    if (st == TFMQ_OK) {
        tfmq_model_destroy(m);
    } else {
        *out_not_null = m != NULL;
    }
    return st;
}

static void test_oom_load(tq_rng *rng)
{
    (void)rng;
    load_ctx c = {g_model};
    torture("load fashion_mnist_cnn.onnx", op_load, &c, NULL);
    if (access(LOOP_MODEL, R_OK) == 0) {
        c.path = LOOP_MODEL;
        torture("load test_loop11 (Loop)", op_load, &c, NULL);
    } else {
        printf("oom: SKIP %s not found\n", LOOP_MODEL);
    }
}

/* tq_pass_run(clone, "default"): the clone is made (without failures) before each attempt. */
typedef struct pass_ctx {
    const tfmq_model *m;
} pass_ctx;

static tfmq_status op_clone(void *vctx, bool *out_not_null)
{
    pass_ctx *c = vctx;
    tq_arena ar;
    tq_graph *g = (tq_graph *)&g_count;
    tq_arena_init(&ar, &g_alloc);
    tfmq_status st = tq_graph_clone(c->m->graph, &ar, &g_alloc, &g);
    if (st == TFMQ_OK) {
        tq_graph_destroy(g);
    } else {
        *out_not_null = g != NULL;
    }
    tq_arena_free(&ar);
    return st;
}

/* The torture loop arms the failure before calling the op, so the pass test has its own loop:
 * clone (no failures), arm N, run the passes, disarm, destroy. */
static void torture_passes(const char *name, const tfmq_model *m)
{
    uint64_t n_points = 0, n_absorbed = 0, n_bad = 0, n_leaks = 0, n_full = 0;
    for (uint64_t n = 1; n < MAX_POINTS; n += g_stride) {
        const long long live0 = atomic_load(&g_count.n_live);
        tq_arena ar;
        tq_graph *g = NULL;
        tq_arena_init(&ar, &g_alloc);
        tq_alloc_test_set_fail_at(0);
        tfmq_status st = tq_graph_clone(m->graph, &ar, &g_alloc, &g);
        TQ_EXPECT(st == TFMQ_OK, "clone: %s", tfmq_last_error());
        if (st != TFMQ_OK) {
            tq_arena_free(&ar);
            break;
        }
        tq_alloc_test_set_fail_at(n);
        st = tq_pass_run(g, "default");
        const uint64_t count = tq_alloc_test_count();
        tq_alloc_test_set_fail_at(0);
        tq_graph_destroy(g);
        tq_arena_free(&ar);
        const long long live = atomic_load(&g_count.n_live) - live0;
        if (live != 0 && n_leaks++ < 5) {
            tq_test_failf(__FILE__, __LINE__, "%s: fail_at=%llu: %lld blocks leaked", name,
                          (unsigned long long)n, live);
        }
        if (count < n) {
            TQ_EXPECT(st == TFMQ_OK, "%s: status %s: %s", name, tfmq_status_str(st),
                      tfmq_last_error());
            n_full = count;
            break;
        }
        n_points++;
        if (st == TFMQ_OK) {
            if (n_absorbed++ < 8) {
                printf("oom: %s: fail_at=%llu absorbed\n", name, (unsigned long long)n);
            }
        } else if (st != TFMQ_ERR_OUT_OF_MEMORY && n_bad++ < 5) {
            tq_test_failf(__FILE__, __LINE__, "%s: fail_at=%llu returned %s: %s", name,
                          (unsigned long long)n, tfmq_status_str(st), tfmq_last_error());
        }
    }
    printf("oom: %-34s %6llu failure points, %llu absorbed (status OK), %llu allocations in a "
           "full run; bad status %llu, leaks %llu\n",
           name, (unsigned long long)n_points, (unsigned long long)n_absorbed,
           (unsigned long long)n_full, (unsigned long long)n_bad, (unsigned long long)n_leaks);
    TQ_EXPECT(n_full > 0, "%s: never completed", name);
}

static void test_oom_passes(tq_rng *rng)
{
    (void)rng;
    tfmq_load_options o = counting_opts();
    tfmq_model *m = NULL;
    TQ_EXPECT_OK(tfmq_model_load(g_model, &o, &m));
    if (!m) {
        return;
    }
    /* the clone itself, under failures */
    pass_ctx c = {m};
    torture("tq_graph_clone", op_clone, &c, NULL);
    torture_passes("tq_pass_run(clone, default)", m);
    tfmq_model_destroy(m);
    TQ_EXPECT_EQ_I64(atomic_load(&g_count.n_live), 0);
}

/* ---- quantization: 4 random calibration samples, one per batch ---- */
typedef struct calib_src {
    uint64_t seed;
    size_t n_batches;
    int64_t dims[4];
    float buf[28 * 28];
} calib_src;

static tfmq_status calib_batch(void *ud, size_t batch_index, tfmq_tensor *inputs, size_t n_inputs,
                               bool *done)
{
    calib_src *s = ud;
    if (n_inputs != 1) {
        return TFMQ_ERR_INVALID_ARG;
    }
    if (batch_index >= s->n_batches) {
        *done = true;
        return TFMQ_OK;
    }
    tq_rng r = {s->seed + batch_index};
    for (size_t i = 0; i < 28 * 28; i++) {
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

typedef struct quant_ctx {
    const tfmq_model *m;
    tfmq_quantize_options o;
    calib_src src;
    bool want_report;
} quant_ctx;

static tfmq_status op_quantize(void *vctx, bool *out_not_null)
{
    quant_ctx *c = vctx;
    tfmq_model *q = (tfmq_model *)&g_count;
    tfmq_report *rep = (tfmq_report *)&g_count;
    tfmq_status st = tfmq_quantize(c->m, &c->o, &q, c->want_report ? &rep : NULL);
    if (st == TFMQ_OK) {
        tfmq_model_destroy(q);
        if (c->want_report) {
            tfmq_report_destroy(rep);
        }
    } else {
        *out_not_null = q != NULL || (c->want_report && rep != NULL);
    }
    return st;
}

static void quant_opts(quant_ctx *c, const tfmq_model *m, tfmq_precision p)
{
    memset(c, 0, sizeof(*c));
    c->m = m;
    c->o.struct_size = sizeof(c->o);
    c->o.precision = p;
    c->o.calib_method = TFMQ_CALIB_MINMAX;
    c->src.seed = 77;
    c->src.n_batches = 4;
    if (p == TFMQ_PRECISION_INT8) {
        c->o.calib_fn = calib_batch;
        c->o.calib_user_data = &c->src;
    }
    c->want_report = true;
}

static void test_oom_quantize(tq_rng *rng)
{
    (void)rng;
    tfmq_load_options o = counting_opts();
    tfmq_model *m = NULL;
    TQ_EXPECT_OK(tfmq_model_load(g_model, &o, &m));
    if (!m) {
        return;
    }
    quant_ctx *c = calloc(1, sizeof(*c));
    quant_opts(c, m, TFMQ_PRECISION_INT8);
    torture("tfmq_quantize int8 (4 calib samples)", op_quantize, c, NULL);
    quant_opts(c, m, TFMQ_PRECISION_FP16);
    torture("tfmq_quantize fp16", op_quantize, c, NULL);
    free(c);
    tfmq_model_destroy(m);
    TQ_EXPECT_EQ_I64(atomic_load(&g_count.n_live), 0);
}

/* ---- writers: save / export into an empty folder (nothing may remain after a failure) and
 * over an existing file (which must keep its old bytes) ---- */
typedef struct save_ctx {
    const tfmq_model *m;
    bool onnx;             /* tfmq_model_export_onnx instead of tfmq_model_save */
    char path[600];
    const uint8_t *old;    /* bytes the destination must keep after a failure, or NULL: absent */
    size_t n_old;
    size_t n_entries;      /* directory entries expected after a failure */
    char problem[256];
} save_ctx;

static tfmq_status op_save(void *vctx, bool *out_not_null)
{
    save_ctx *c = vctx;
    (void)out_not_null;
    tfmq_status st = c->onnx ? tfmq_model_export_onnx(c->m, c->path, TFMQ_WRITE_OVERWRITE)
                             : tfmq_model_save(c->m, c->path, TFMQ_WRITE_OVERWRITE);
    return st;
}

static const char *save_after_fail(void *vctx)
{
    save_ctx *c = vctx;
    size_t n_ent = count_dir_entries();
    if (n_ent != c->n_entries) {
        snprintf(c->problem, sizeof(c->problem), "%zu directory entries, expected %zu", n_ent,
                 c->n_entries);
        clear_dir();
        return c->problem;
    }
    if (c->old) {
        size_t n = 0;
        uint8_t *p = read_all(c->path, &n);
        bool same = p && n == c->n_old && memcmp(p, c->old, n) == 0;
        free(p);
        if (!same) {
            snprintf(c->problem, sizeof(c->problem), "the existing destination was changed");
            return c->problem;
        }
    }
    return NULL;
}

static void torture_save(const char *name, const tfmq_model *m, bool onnx)
{
    save_ctx *c = calloc(1, sizeof(*c));
    c->m = m;
    c->onnx = onnx;
    snprintf(c->path, sizeof(c->path), "%s/out.%s", g_dir, onnx ? "onnx" : "tfmq");
    /* 1) empty folder */
    clear_dir();
    c->n_entries = 0;
    char label[128];
    snprintf(label, sizeof(label), "%s (new file)", name);
    torture(label, op_save, c, save_after_fail);
    /* 2) over an existing file: a previous version (the model's own save, flipped last byte so it
     * differs from the new content) */
    size_t n = 0;
    uint8_t *old = read_all(c->path, &n);
    TQ_EXPECT(old != NULL && n > 0, "%s: written by the complete run", c->path);
    if (old) {
        old[n - 1] ^= 0x5a;
        FILE *f = fopen(c->path, "wb");
        TQ_EXPECT(f && fwrite(old, 1, n, f) == n, "rewrite %s", c->path);
        if (f) {
            fclose(f);
        }
        c->old = old;
        c->n_old = n;
        c->n_entries = 1;
        snprintf(label, sizeof(label), "%s (overwrite)", name);
        torture(label, op_save, c, save_after_fail);
        free(old);
    }
    /* the final file is the complete new one: it loads */
    tfmq_model *e = NULL;
    TQ_EXPECT(tfmq_model_load(c->path, NULL, &e) == TFMQ_OK, "reload %s: %s", c->path,
              tfmq_last_error());
    tfmq_model_destroy(e);
    clear_dir();
    free(c);
}

static void test_oom_save_load_export(tq_rng *rng)
{
    (void)rng;
    tfmq_load_options o = counting_opts();
    tfmq_model *m = NULL, *q = NULL;
    TQ_EXPECT_OK(tfmq_model_load(g_model, &o, &m));
    if (!m) {
        return;
    }
    quant_ctx *c = calloc(1, sizeof(*c));
    quant_opts(c, m, TFMQ_PRECISION_INT8);
    TQ_EXPECT_OK(tfmq_quantize(m, &c->o, &q, NULL));
    torture_save("tfmq_model_save fp32", m, false);
    if (q) {
        torture_save("tfmq_model_save int8", q, false);
        torture_save("tfmq_model_export_onnx int8", q, true);
    }
    /* engine load */
    char eng[600];
    snprintf(eng, sizeof(eng), "%s/load.tfmq", g_dir);
    TQ_EXPECT_OK(tfmq_model_save(q ? q : m, eng, TFMQ_WRITE_OVERWRITE));
    load_ctx lc = {eng};
    torture("tfmq_model_load engine int8", op_load, &lc, NULL);
    TQ_EXPECT_OK(tfmq_model_save(m, eng, TFMQ_WRITE_OVERWRITE));
    torture("tfmq_model_load engine fp32", op_load, &lc, NULL);
    unlink(eng);
    free(c);
    tfmq_model_destroy(q);
    tfmq_model_destroy(m);
    TQ_EXPECT_EQ_I64(atomic_load(&g_count.n_live), 0);
}

/* ---- sessions ---- */
typedef struct sess_ctx {
    const tfmq_model *m;
    float x[3 * 28 * 28];
    float y[3 * 10];
    bool replan; /* also run with batch 3 (re-plans: allocates inside tfmq_session_run) */
} sess_ctx;

static tfmq_status op_session(void *vctx, bool *out_not_null)
{
    sess_ctx *c = vctx;
    tfmq_session_options so;
    memset(&so, 0, sizeof(so));
    so.struct_size = sizeof(so);
    so.allocator = &g_alloc;
    tfmq_session *s = (tfmq_session *)&g_count;
    tfmq_status st = tfmq_session_create(c->m, &so, &s);
    if (st != TFMQ_OK) {
        *out_not_null = s != NULL;
        return st;
    }
    const int64_t d1[4] = {1, 1, 28, 28}, d3[4] = {3, 1, 28, 28};
    tfmq_tensor in = {"input", TFMQ_DTYPE_FLOAT32, 4, d1, c->x, 28 * 28 * sizeof(float)};
    tfmq_tensor out = {"logits", TFMQ_DTYPE_UNDEFINED, 0, NULL, c->y, sizeof(c->y)};
    st = tfmq_session_run(s, &in, 1, &out, 1);
    if (st == TFMQ_OK && c->replan) {
        in.dims = d3;
        in.data_bytes = sizeof(c->x);
        out.data_bytes = sizeof(c->y);
        st = tfmq_session_run(s, &in, 1, &out, 1);
        if (st == TFMQ_OK) { /* and back: the session still works after a failed re-plan too */
            in.dims = d1;
            in.data_bytes = 28 * 28 * sizeof(float);
            out.data_bytes = sizeof(c->y);
            st = tfmq_session_run(s, &in, 1, &out, 1);
        }
    }
    if (st != TFMQ_OK) {
        /* a session whose run failed for lack of memory still runs once memory is back */
        g_count_reached = tq_alloc_test_count();
        tq_alloc_test_set_fail_at(0);
        in.dims = d1;
        in.data_bytes = 28 * 28 * sizeof(float);
        out.data_bytes = sizeof(c->y);
        tfmq_status st2 = tfmq_session_run(s, &in, 1, &out, 1);
        TQ_EXPECT(st2 == TFMQ_OK, "fail_at=%llu: the run failed with %s; the next run (batch 1, "
                  "no failure) returned %s: %s", (unsigned long long)g_cur_n,
                  tfmq_status_str(st), tfmq_status_str(st2), tfmq_last_error());
    }
    tfmq_session_destroy(s);
    return st;
}

static void test_oom_session(tq_rng *rng)
{
    tfmq_load_options o = counting_opts();
    tfmq_model *m = NULL, *q = NULL;
    TQ_EXPECT_OK(tfmq_model_load(g_model, &o, &m));
    if (!m) {
        return;
    }
    sess_ctx *c = calloc(1, sizeof(*c));
    c->m = m;
    for (size_t i = 0; i < 3 * 28 * 28; i++) {
        c->x[i] = tq_rng_uniform(rng, 0.0f, 1.0f);
    }
    torture("session_create + run fp32", op_session, c, NULL);
    c->replan = true;
    torture("session_create + run, re-plan b3", op_session, c, NULL);
    quant_ctx *qc = calloc(1, sizeof(*qc));
    quant_opts(qc, m, TFMQ_PRECISION_INT8);
    TQ_EXPECT_OK(tfmq_quantize(m, &qc->o, &q, NULL));
    if (q) {
        c->m = q;
        c->replan = false;
        torture("session_create + run int8", op_session, c, NULL);
    }
    free(qc);
    free(c);
    tfmq_model_destroy(q);
    tfmq_model_destroy(m);
    TQ_EXPECT_EQ_I64(atomic_load(&g_count.n_live), 0);
}

int main(int argc, char **argv)
{
    tq_test_begin(argc, argv);
    find_root();
    const char *stride = getenv("TFMQ_OOM_STRIDE");
    if (stride && atoi(stride) > 0) {
        g_stride = (uint64_t)atoi(stride);
    }
    snprintf(g_dir, sizeof(g_dir), "/tmp/tfmq_oom_%d", (int)getpid());
    mkdir(g_dir, 0700);
    TQ_RUN(test_oom_load);
    TQ_RUN(test_oom_passes);
    TQ_RUN(test_oom_quantize);
    TQ_RUN(test_oom_save_load_export);
    TQ_RUN(test_oom_session);
    clear_dir();
    rmdir(g_dir);
    return tq_test_end();
}
