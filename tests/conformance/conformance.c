/* conformance.c: runs the ONNX backend conformance suite (Debian libonnx-testdata) through the
 * public API. Each test runs in a forked child with a timeout and (outside sanitizers) an address
 * space limit, so a crash, hang or runaway allocation is a verdict, not the end of the run.
 * Verdicts: passed, failed (wrong values, shape or dtype, or an error other than UNSUPPORTED),
 * unsupported (TFMQ_ERR_UNSUPPORTED), crashed (signal, timeout, abnormal exit). */
#include "import/onnx/onnx_import.h"
#include "tfmq.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef TFMQ_CONFORMANCE_DATA
#define TFMQ_CONFORMANCE_DATA "/usr/include/onnx/backend/test/data"
#endif
#ifndef TFMQ_CONFORMANCE_EXPECTED
#define TFMQ_CONFORMANCE_EXPECTED "tests/conformance/expected_pass.txt"
#endif

/* Sanitizers reserve terabytes of address space: an RLIMIT_AS would break them. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TQ_UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) ||                         \
    __has_feature(memory_sanitizer)
#define TQ_UNDER_SANITIZER 1
#endif
#endif
#ifndef TQ_UNDER_SANITIZER
#define TQ_UNDER_SANITIZER 0
#endif

#define RTOL    1e-3
#define ATOL    1e-7
#define MSG_CAP 1024
#define MAX_PB  64 /* inputs or outputs of one test data set */

/* Child exit codes; anything else (sanitizers exit with 1 or 23, signals) is a crash. */
enum { EXIT_PASS = 10, EXIT_FAIL = 11, EXIT_UNSUP = 12 };
enum verdict { V_PASS, V_FAIL, V_UNSUP, V_CRASH, V_NOT_RUN };
static const char *const verdict_tag[] = {"PASS ", "FAIL ", "UNSUP", "CRASH", "-    "};

typedef struct test_case {
    char *name; /* "node/test_abs": relative to the data root */
    char *dir;  /* full path */
    enum verdict verdict;
    double secs;
    char msg[MSG_CAP];
} test_case;

typedef struct options {
    const char *data_dir;
    const char **filters;
    size_t n_filters;
    bool verbose;
    bool summary;
    const char *list_file;
    const char *expected_file;
    bool expected_given;
    int jobs;
    int timeout_s;
    long long min_pass;
    uint64_t mem_limit_bytes;
} options;

/* ------------------------------------------------------------------------------------------ */
/* small utilities                                                                            */

/* snprintf that always truncates quietly (paths and messages are bounded by design). */
static void fmt(char *buf, size_t cap, const char *f, ...) __attribute__((format(printf, 3, 4)));
static void fmt(char *buf, size_t cap, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    vsnprintf(buf, cap, f, ap);
    va_end(ap);
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (!d) {
        fprintf(stderr, "conformance: out of memory\n");
        exit(2);
    }
    memcpy(d, s, n);
    return d;
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of the entries of `dir` that start with `prefix` (and are directories if
 * want_dirs). Returns the count; *out is malloc'd (free with free_names). */
static size_t list_dir(const char *dir, const char *prefix, bool want_dirs, char ***out)
{
    *out = NULL;
    DIR *d = opendir(dir);
    if (!d) {
        return 0;
    }
    size_t n = 0, cap = 0;
    char **names = NULL;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strncmp(e->d_name, prefix, strlen(prefix)) != 0) {
            continue;
        }
        fmt(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (want_dirs && !is_dir(path)) {
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, cap * sizeof(*names));
            if (!nn) {
                fprintf(stderr, "conformance: out of memory\n");
                exit(2);
            }
            names = nn;
        }
        names[n++] = xstrdup(e->d_name);
    }
    closedir(d);
    if (n) {
        qsort(names, n, sizeof(*names), cmp_str);
    }
    *out = names;
    return n;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(names[i]);
    }
    free(names);
}

static void appendf(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void appendf(char *buf, size_t cap, const char *fmt, ...)
{
    size_t used = strlen(buf);
    if (used + 1 >= cap) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, cap - used, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------------------------------ */
/* the child: run one test directory                                                          */

typedef struct pb_tensor {
    tq_tensor t;
    void *data;
    size_t bytes;
    char name[256];
} pb_tensor;

static void free_pbs(pb_tensor *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        tq_free_aligned(NULL, p[i].data, p[i].bytes);
        p[i].data = NULL;
    }
}

/* Read <set>/<prefix>_K.pb for K = 0, 1, ... while they exist. */
static tfmq_status read_pbs(const char *set_dir, const char *prefix, pb_tensor *out, size_t *n_out,
                            char *msg)
{
    *n_out = 0;
    for (size_t k = 0; k < MAX_PB; k++) {
        char path[4096];
        fmt(path, sizeof(path), "%s/%s_%zu.pb", set_dir, prefix, k);
        if (!is_file(path)) {
            break;
        }
        memset(&out[k], 0, sizeof(out[k]));
        tfmq_status st = tq_onnx_read_tensor_file(path, NULL, &out[k].t, &out[k].data,
                                                  &out[k].bytes, out[k].name, sizeof(out[k].name));
        if (st != TFMQ_OK) {
            fmt(msg, MSG_CAP, "reading %s_%zu.pb: %s: %s", prefix, k, tfmq_status_str(st),
                tfmq_last_error());
            return st;
        }
        *n_out = k + 1;
    }
    return TFMQ_OK;
}

static size_t numel_of(int32_t rank, const int64_t *dims)
{
    size_t n = 1;
    for (int32_t i = 0; i < rank; i++) {
        n *= (size_t)dims[i];
    }
    return n;
}

static void shape_str(int32_t rank, const int64_t *dims, char *buf, size_t cap)
{
    buf[0] = '\0';
    appendf(buf, cap, "[");
    for (int32_t i = 0; i < rank; i++) {
        appendf(buf, cap, "%s%lld", i ? "," : "", (long long)dims[i]);
    }
    appendf(buf, cap, "]");
}

static bool dtype_is_float(tfmq_dtype dt)
{
    return dt == TFMQ_DTYPE_FLOAT32 || dt == TFMQ_DTYPE_FLOAT64 || dt == TFMQ_DTYPE_FLOAT16 ||
           dt == TFMQ_DTYPE_BFLOAT16;
}

/* Compare an output with the expected tensor (numpy.allclose for floats, exact otherwise).
 * Returns true if equal; otherwise writes the first mismatch into msg. */
static bool compare_output(const char *oname, const tfmq_tensor *got, const pb_tensor *want,
                           char *msg)
{
    char s1[160], s2[160];
    if (got->dtype != want->t.dtype) {
        fmt(msg, MSG_CAP, "output '%s': dtype %s, expected %s", oname, tfmq_dtype_name(got->dtype),
            tfmq_dtype_name(want->t.dtype));
        return false;
    }
    bool same_shape = got->rank == want->t.rank && (got->rank == 0 || got->dims);
    for (int32_t i = 0; same_shape && i < got->rank; i++) {
        same_shape = got->dims[i] == want->t.dims[i];
    }
    if (!same_shape) {
        if (got->rank >= 0 && (got->rank == 0 || got->dims)) {
            shape_str(got->rank, got->dims, s1, sizeof(s1));
        } else {
            fmt(s1, sizeof(s1), "rank %d", (int)got->rank);
        }
        shape_str(want->t.rank, want->t.dims, s2, sizeof(s2));
        fmt(msg, MSG_CAP, "output '%s': shape %s, expected %s", oname, s1, s2);
        return false;
    }
    size_t n = numel_of(want->t.rank, want->t.dims), esz = tfmq_dtype_size(want->t.dtype);
    if (n * esz > want->bytes) {
        fmt(msg, MSG_CAP, "output '%s': expected tensor has %zu bytes for %zu elements", oname,
            want->bytes, n);
        return false;
    }
    if (n * esz > got->data_bytes || (n && !got->data)) {
        fmt(msg, MSG_CAP, "output '%s': %zu bytes of data for %zu elements of %s", oname,
            got->data_bytes, n, tfmq_dtype_name(got->dtype));
        return false;
    }
    size_t n_bad = 0, first = 0;
    double max_err = 0.0;
    bool is_float = dtype_is_float(want->t.dtype);
    for (size_t i = 0; i < n; i++) {
        bool ok;
        if (is_float) {
            double a = tq_load_f64(got->dtype, got->data, i);
            double b = tq_load_f64(want->t.dtype, want->data, i);
            if (isnan(a) || isnan(b)) {
                ok = isnan(a) && isnan(b);
            } else if (isinf(a) || isinf(b)) {
                ok = a == b;
            } else {
                double err = fabs(a - b);
                ok = err <= ATOL + RTOL * fabs(b);
                if (!ok && err > max_err) {
                    max_err = err;
                }
            }
        } else if (want->t.dtype == TFMQ_DTYPE_BOOL) {
            ok = (((const uint8_t *)got->data)[i] != 0) == (((const uint8_t *)want->data)[i] != 0);
        } else {
            ok = tq_load_i64(got->dtype, got->data, i) == tq_load_i64(want->t.dtype, want->data, i);
        }
        if (!ok) {
            if (n_bad == 0) {
                first = i;
            }
            n_bad++;
        }
    }
    if (n_bad == 0) {
        return true;
    }
    if (is_float) {
        fmt(msg, MSG_CAP,
            "output '%s': %zu of %zu values differ; first at [%zu]: got %.9g, expected "
            "%.9g (max abs err %.3g)",
            oname, n_bad, n, first, tq_load_f64(got->dtype, got->data, first),
            tq_load_f64(want->t.dtype, want->data, first), max_err);
    } else {
        fmt(msg, MSG_CAP,
            "output '%s': %zu of %zu values differ; first at [%zu]: got %lld, "
            "expected %lld",
            oname, n_bad, n, first, (long long)tq_load_i64(got->dtype, got->data, first),
            (long long)tq_load_i64(want->t.dtype, want->data, first));
    }
    return false;
}

static int verdict_of_status(tfmq_status st, const char *what, char *msg)
{
    fmt(msg, MSG_CAP, "%s: %s: %s", what, tfmq_status_str(st), tfmq_last_error());
    return st == TFMQ_ERR_UNSUPPORTED ? EXIT_UNSUP : EXIT_FAIL;
}

/* Run one test data set on a session. Returns an EXIT_* code. */
static int run_data_set(tfmq_session *sess, const tfmq_model *model, const tfmq_model_info *info,
                        const char *set_dir, const char *set_name, char *msg)
{
    pb_tensor *ins = calloc(MAX_PB, sizeof(pb_tensor));
    pb_tensor *wants = calloc(MAX_PB, sizeof(pb_tensor));
    tfmq_tensor *run_in = calloc(MAX_PB, sizeof(tfmq_tensor));
    tfmq_tensor *run_out = calloc(info->n_outputs ? info->n_outputs : 1, sizeof(tfmq_tensor));
    size_t n_in = 0, n_want = 0;
    int rc = EXIT_FAIL;
    char sub[MSG_CAP];
    tfmq_status st;
    if (!ins || !wants || !run_in || !run_out) {
        fmt(msg, MSG_CAP, "out of memory");
        goto done;
    }
    sub[0] = '\0';
    st = read_pbs(set_dir, "input", ins, &n_in, sub);
    if (st == TFMQ_OK) {
        st = read_pbs(set_dir, "output", wants, &n_want, sub);
    }
    if (st != TFMQ_OK) {
        fmt(msg, MSG_CAP, "%s: %s", set_name, sub);
        rc = st == TFMQ_ERR_UNSUPPORTED ? EXIT_UNSUP : EXIT_FAIL;
        goto done;
    }
    if (n_in != info->n_inputs) {
        fmt(msg, MSG_CAP, "%s: test data has %zu inputs, the model has %zu caller-fed inputs",
            set_name, n_in, info->n_inputs);
        goto done;
    }
    if (n_want != info->n_outputs) {
        fmt(msg, MSG_CAP, "%s: test data has %zu outputs, the model has %zu", set_name, n_want,
            info->n_outputs);
        goto done;
    }
    /* Bind by position; a .pb whose (non-empty) name is another model input goes there. */
    bool used[MAX_PB] = {false};
    size_t slot_of[MAX_PB];
    for (size_t k = 0; k < n_in; k++) {
        slot_of[k] = k;
    }
    for (size_t k = 0; k < n_in; k++) {
        if (!ins[k].name[0]) {
            continue;
        }
        for (size_t j = 0; j < n_in; j++) {
            tfmq_io_info io = {.struct_size = sizeof(io)};
            if (tfmq_model_io(model, TFMQ_IO_INPUT, j, &io) == TFMQ_OK && io.name &&
                strcmp(io.name, ins[k].name) == 0) {
                slot_of[k] = j;
                break;
            }
        }
    }
    for (size_t k = 0; k < n_in; k++) {
        if (used[slot_of[k]]) { /* names clash: plain positional binding */
            for (size_t j = 0; j < n_in; j++) {
                slot_of[j] = j;
            }
            break;
        }
        used[slot_of[k]] = true;
    }
    for (size_t k = 0; k < n_in; k++) {
        tfmq_io_info io = {.struct_size = sizeof(io)};
        st = tfmq_model_io(model, TFMQ_IO_INPUT, slot_of[k], &io);
        if (st != TFMQ_OK) {
            rc = verdict_of_status(st, "model_io", msg);
            goto done;
        }
        /* numpy has no bfloat16: the suite stores bfloat16 tensors as uint16 (same bits) */
        if (io.dtype == TFMQ_DTYPE_BFLOAT16 && ins[k].t.dtype == TFMQ_DTYPE_UINT16) {
            ins[k].t.dtype = TFMQ_DTYPE_BFLOAT16;
        }
        run_in[k] = (tfmq_tensor){.name = io.name,
                                  .dtype = ins[k].t.dtype,
                                  .rank = ins[k].t.rank,
                                  .dims = ins[k].t.dims,
                                  .data = ins[k].data,
                                  .data_bytes = ins[k].bytes};
    }
    for (size_t k = 0; k < info->n_outputs; k++) {
        tfmq_io_info io = {.struct_size = sizeof(io)};
        st = tfmq_model_io(model, TFMQ_IO_OUTPUT, k, &io);
        if (st != TFMQ_OK) {
            rc = verdict_of_status(st, "model_io", msg);
            goto done;
        }
        if (io.dtype == TFMQ_DTYPE_BFLOAT16 && wants[k].t.dtype == TFMQ_DTYPE_UINT16) {
            wants[k].t.dtype = TFMQ_DTYPE_BFLOAT16;
        }
        run_out[k] = (tfmq_tensor){.name = io.name};
    }
    st = tfmq_session_run(sess, run_in, n_in, run_out, info->n_outputs);
    if (st != TFMQ_OK) {
        fmt(sub, sizeof(sub), "%s: run", set_name);
        rc = verdict_of_status(st, sub, msg);
        goto done;
    }
    for (size_t k = 0; k < info->n_outputs; k++) {
        if (!compare_output(run_out[k].name ? run_out[k].name : "?", &run_out[k], &wants[k], sub)) {
            fmt(msg, MSG_CAP, "%s: %s", set_name, sub);
            goto done;
        }
    }
    rc = EXIT_PASS;
done:
    if (ins) {
        free_pbs(ins, n_in);
    }
    if (wants) {
        free_pbs(wants, n_want);
    }
    free(ins);
    free(wants);
    free(run_in);
    free(run_out);
    return rc;
}

static int run_test(const char *dir, char *msg)
{
    char path[4096];
    tfmq_model *model = NULL;
    tfmq_session *sess = NULL;
    char **sets = NULL;
    size_t n_sets = 0;
    int rc = EXIT_FAIL;
    tfmq_status st;

    fmt(path, sizeof(path), "%s/model.onnx", dir);
    st = tfmq_model_load(path, NULL, &model);
    if (st != TFMQ_OK) {
        rc = verdict_of_status(st, "load", msg);
        goto done;
    }
    tfmq_model_info info = {.struct_size = sizeof(info)};
    st = tfmq_model_get_info(model, &info);
    if (st != TFMQ_OK) {
        rc = verdict_of_status(st, "get_info", msg);
        goto done;
    }
    tfmq_session_options so = {.struct_size = sizeof(so)};
    st = tfmq_session_create(model, &so, &sess);
    if (st != TFMQ_OK) {
        rc = verdict_of_status(st, "session_create", msg);
        goto done;
    }
    n_sets = list_dir(dir, "test_data_set_", true, &sets);
    if (n_sets == 0) {
        fmt(msg, MSG_CAP, "no test_data_set_* directories");
        goto done;
    }
    for (size_t i = 0; i < n_sets; i++) {
        fmt(path, sizeof(path), "%s/%s", dir, sets[i]);
        rc = run_data_set(sess, model, &info, path, sets[i], msg);
        if (rc != EXIT_PASS) {
            goto done;
        }
    }
    rc = EXIT_PASS;
done:
    free_names(sets, n_sets);
    tfmq_session_destroy(sess);
    tfmq_model_destroy(model);
    return rc;
}

static void child_main(const options *opt, const test_case *tc, int fd)
{
    if (opt->timeout_s > 0) {
        alarm((unsigned)opt->timeout_s);
    }
    if (!TQ_UNDER_SANITIZER && opt->mem_limit_bytes) {
        struct rlimit rl = {(rlim_t)opt->mem_limit_bytes, (rlim_t)opt->mem_limit_bytes};
        setrlimit(RLIMIT_AS, &rl);
    }
    char *msg = calloc(1, MSG_CAP);
    int rc = EXIT_FAIL;
    if (msg) {
        rc = run_test(tc->dir, msg);
        size_t len = strlen(msg), off = 0;
        while (off < len) {
            ssize_t w = write(fd, msg + off, len - off);
            if (w <= 0) {
                break;
            }
            off += (size_t)w;
        }
        free(msg);
    }
    close(fd);
    exit(rc); /* exit, not _exit: LeakSanitizer runs at exit and turns leaks into crashes */
}

/* ------------------------------------------------------------------------------------------ */
/* the parent: enumerate, fork, collect                                                       */

static void add_test(test_case **tests, size_t *n, size_t *cap, const char *name, const char *dir)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 256;
        test_case *t = realloc(*tests, *cap * sizeof(**tests));
        if (!t) {
            fprintf(stderr, "conformance: out of memory\n");
            exit(2);
        }
        *tests = t;
    }
    test_case *tc = &(*tests)[(*n)++];
    memset(tc, 0, sizeof(*tc));
    tc->name = xstrdup(name);
    tc->dir = xstrdup(dir);
    tc->verdict = V_NOT_RUN;
}

static bool matches_filter(const options *opt, const char *name)
{
    if (opt->n_filters == 0) {
        return true;
    }
    for (size_t i = 0; i < opt->n_filters; i++) {
        if (strstr(name, opt->filters[i])) {
            return true;
        }
    }
    return false;
}

/* Tests are the folders holding model.onnx under data_dir/{node,...}; if none of those suite
 * folders exist, data_dir's own subfolders (or data_dir itself) are the tests. */
static size_t enumerate(const options *opt, test_case **out)
{
    static const char *const suites[] = {"node", "pytorch-converted", "pytorch-operator", "simple"};
    test_case *tests = NULL;
    size_t n = 0, cap = 0;
    char path[4096], name[4096];
    bool any_suite = false;
    for (size_t s = 0; s < sizeof(suites) / sizeof(suites[0]); s++) {
        fmt(path, sizeof(path), "%s/%s", opt->data_dir, suites[s]);
        if (!is_dir(path)) {
            continue;
        }
        any_suite = true;
        char **names = NULL;
        size_t k = list_dir(path, "", true, &names);
        for (size_t i = 0; i < k; i++) {
            char dir[4096];
            fmt(dir, sizeof(dir), "%s/%s", path, names[i]);
            fmt(name, sizeof(name), "%s/%s", suites[s], names[i]);
            char model[4200];
            fmt(model, sizeof(model), "%s/model.onnx", dir);
            if (is_file(model) && matches_filter(opt, name)) {
                add_test(&tests, &n, &cap, name, dir);
            }
        }
        free_names(names, k);
    }
    if (!any_suite) {
        fmt(path, sizeof(path), "%s/model.onnx", opt->data_dir);
        if (is_file(path)) {
            const char *base = strrchr(opt->data_dir, '/');
            add_test(&tests, &n, &cap, base && base[1] ? base + 1 : opt->data_dir, opt->data_dir);
        } else {
            char **names = NULL;
            size_t k = list_dir(opt->data_dir, "", true, &names);
            for (size_t i = 0; i < k; i++) {
                char dir[4096], model[4200];
                fmt(dir, sizeof(dir), "%s/%s", opt->data_dir, names[i]);
                fmt(model, sizeof(model), "%s/model.onnx", dir);
                if (is_file(model) && matches_filter(opt, names[i])) {
                    add_test(&tests, &n, &cap, names[i], dir);
                }
            }
            free_names(names, k);
        }
    }
    *out = tests;
    return n;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct slot {
    pid_t pid;
    int fd;
    size_t test;
    double t0;
} slot;

static void collect(const options *opt, test_case *tc, int wstatus, int fd, double secs)
{
    char buf[MSG_CAP];
    size_t used = 0;
    for (;;) {
        ssize_t r = read(fd, buf + used, sizeof(buf) - 1 - used);
        if (r <= 0) {
            break;
        }
        used += (size_t)r;
        if (used >= sizeof(buf) - 1) {
            break;
        }
    }
    buf[used] = '\0';
    close(fd);
    tc->secs = secs;
    if (WIFEXITED(wstatus)) {
        int code = WEXITSTATUS(wstatus);
        tc->verdict = code == EXIT_PASS    ? V_PASS
                      : code == EXIT_FAIL  ? V_FAIL
                      : code == EXIT_UNSUP ? V_UNSUP
                                           : V_CRASH;
        if (tc->verdict == V_CRASH) {
            fmt(tc->msg, sizeof(tc->msg), "exit status %d (sanitizer report or exit())%s%s", code,
                used ? "; " : "", buf);
        } else {
            fmt(tc->msg, sizeof(tc->msg), "%s", buf);
        }
    } else if (WIFSIGNALED(wstatus)) {
        int sig = WTERMSIG(wstatus);
        tc->verdict = V_CRASH;
        if (sig == SIGALRM) {
            fmt(tc->msg, sizeof(tc->msg), "timeout after %d s", opt->timeout_s);
        } else {
            fmt(tc->msg, sizeof(tc->msg), "signal %d (%s)", sig, strsignal(sig));
        }
    } else {
        tc->verdict = V_CRASH;
        fmt(tc->msg, sizeof(tc->msg), "abnormal wait status 0x%x", (unsigned)wstatus);
    }
    if (opt->verbose || tc->verdict == V_CRASH) {
        printf("%s %s (%.2fs)%s%s\n", verdict_tag[tc->verdict], tc->name, tc->secs,
               tc->msg[0] ? ": " : "", tc->msg);
        fflush(stdout);
    }
}

/* Heap blocks of the parent live in globals so that LeakSanitizer, which runs when a forked
 * child exits, sees them as reachable rather than as the child's leaks. */
static slot *volatile g_slots;
static test_case *volatile g_tests;
static char **volatile g_expected;
static const char **volatile g_filters;

static void run_all(const options *opt, test_case *tests, size_t n)
{
    int jobs = opt->jobs > 0 ? opt->jobs : 1;
    slot *slots = g_slots = calloc((size_t)jobs, sizeof(slot));
    if (!slots) {
        fprintf(stderr, "conformance: out of memory\n");
        exit(2);
    }
    size_t next = 0;
    int running = 0;
    while (next < n || running > 0) {
        while (running < jobs && next < n) {
            int fds[2];
            if (pipe(fds) != 0) {
                perror("conformance: pipe");
                exit(2);
            }
            fflush(stdout);
            fflush(stderr);
            pid_t pid = fork();
            if (pid < 0) {
                perror("conformance: fork");
                exit(2);
            }
            if (pid == 0) {
                close(fds[0]);
                child_main(opt, &tests[next], fds[1]);
            }
            close(fds[1]);
            int fl = fcntl(fds[0], F_GETFL);
            fcntl(fds[0], F_SETFL, fl | O_NONBLOCK);
            for (int s = 0; s < jobs; s++) {
                if (slots[s].pid == 0) {
                    slots[s] = (slot){pid, fds[0], next, now_s()};
                    break;
                }
            }
            running++;
            next++;
        }
        int wstatus = 0;
        pid_t pid = waitpid(-1, &wstatus, 0);
        if (pid < 0) {
            if (errno == EINTR) {
                continue;
            }
            perror("conformance: waitpid");
            exit(2);
        }
        for (int s = 0; s < jobs; s++) {
            if (slots[s].pid == pid) {
                collect(opt, &tests[slots[s].test], wstatus, slots[s].fd, now_s() - slots[s].t0);
                slots[s].pid = 0;
                running--;
                break;
            }
        }
    }
    free(slots);
    g_slots = NULL;
}

/* The op a failure message is about: "node 'x' (Conv): ..." gives "Conv"; otherwise the kind
 * of failure ("shape", "values", "crash", "timeout", ...). */
static void failure_key(const test_case *tc, char *key, size_t cap)
{
    const char *m = tc->msg;
    const char *p = strstr(m, "' (");
    if (p) {
        p += 3;
        const char *e = p + strcspn(p, "),");
        if (*e && e - p < 48 && e > p) {
            fmt(key, cap, "%s %.*s", verdict_tag[tc->verdict], (int)(e - p), p);
            return;
        }
    }
    const char *kind = strstr(m, "timeout")            ? "timeout"
                       : strstr(m, "signal")           ? "signal"
                       : strstr(m, "exit status")      ? "sanitizer/exit"
                       : strstr(m, "type string")      ? "string tensors"
                       : strstr(m, "is a sequence")    ? "sequence type"
                       : strstr(m, "is an optional")   ? "optional type"
                       : strstr(m, "values differ")    ? "wrong values"
                       : strstr(m, ": shape ")         ? "wrong shape"
                       : strstr(m, ": dtype ")         ? "wrong dtype"
                       : strstr(m, "reading ")         ? "reading test data"
                       : strstr(m, "load: ")           ? "load"
                       : strstr(m, "session_create: ") ? "session_create"
                       : strstr(m, "run: ")            ? "run"
                                                       : "other";
    fmt(key, cap, "%s (%s)", verdict_tag[tc->verdict], kind);
}

typedef struct group {
    char key[80];
    size_t count;
    const char *example; /* one test name */
} group;

static int cmp_group(const void *a, const void *b)
{
    const group *x = a, *y = b;
    if (x->count != y->count) {
        return x->count < y->count ? 1 : -1;
    }
    return strcmp(x->key, y->key);
}

static void print_summary(const test_case *tests, size_t n)
{
    group *groups = calloc(n ? n : 1, sizeof(group));
    size_t n_groups = 0;
    if (!groups) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (tests[i].verdict == V_PASS || tests[i].verdict == V_NOT_RUN) {
            continue;
        }
        char key[80];
        failure_key(&tests[i], key, sizeof(key));
        size_t g = 0;
        while (g < n_groups && strcmp(groups[g].key, key) != 0) {
            g++;
        }
        if (g == n_groups) {
            fmt(groups[g].key, sizeof(groups[g].key), "%s", key);
            groups[g].example = tests[i].name;
            n_groups++;
        }
        groups[g].count++;
    }
    qsort(groups, n_groups, sizeof(group), cmp_group);
    printf("not passing, grouped (verdict, op or kind: count, e.g.):\n");
    for (size_t g = 0; g < n_groups; g++) {
        printf("  %-40s %4zu  e.g. %s\n", groups[g].key, groups[g].count, groups[g].example);
    }
    free(groups);
}

/* Names listed in the expected-pass file ('#' starts a comment). */
static size_t read_expected(const char *path, char ***out)
{
    *out = NULL;
    FILE *f = fopen(path, "r");
    if (!f) {
        return (size_t)-1;
    }
    char line[4096];
    size_t n = 0, cap = 0;
    char **names = NULL;
    while (fgets(line, sizeof(line), f)) {
        char *hash = strchr(line, '#');
        if (hash) {
            *hash = '\0';
        }
        size_t len = strlen(line);
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' ' ||
                       line[len - 1] == '\t')) {
            line[--len] = '\0';
        }
        char *s = line;
        while (*s == ' ' || *s == '\t') {
            s++;
        }
        if (!*s) {
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            char **nn = realloc(names, cap * sizeof(*names));
            if (!nn) {
                fprintf(stderr, "conformance: out of memory\n");
                exit(2);
            }
            names = nn;
        }
        names[n++] = xstrdup(s);
    }
    fclose(f);
    *out = names;
    return n;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tfmq_conformance [options]\n"
            "  --data-dir DIR   conformance data root (default %s)\n"
            "  --filter SUBSTR  only tests whose path contains SUBSTR (may repeat)\n"
            "  -v               print every test's verdict and message\n"
            "  --list FILE      write the names of the passing tests to FILE\n"
            "  --expected FILE  tests that must pass (default %s; 'none' to skip)\n"
            "  --jobs N         tests run in parallel (default 2)\n"
            "  --timeout S      seconds per test (default 60)\n"
            "  --mem-limit GB   address-space limit per test outside sanitizers (default 8)\n"
            "  --min-pass N     fail unless N tests pass (default 650; 0 with --filter or\n"
            "                   --data-dir)\n"
            "  --summary        print the tests that did not pass grouped by the op in their "
            "message\n"
            "The last line is 'conformance: P passed, F failed, U unsupported, C crashed (of T)'.\n"
            "Exit status 1 if any test crashed, an expected test did not pass, or too few "
            "passed; 2 on usage errors.\n",
            TFMQ_CONFORMANCE_DATA, TFMQ_CONFORMANCE_EXPECTED);
}

static const char *need_arg(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "conformance: %s needs an argument\n", argv[*i]);
        usage(stderr);
        exit(2);
    }
    return argv[++*i];
}

static long long parse_num(const char *opt, const char *s)
{
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (!end || end == s || *end || v < 0) {
        fprintf(stderr, "conformance: %s: '%s' is not a non-negative number\n", opt, s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    options opt = {.data_dir = TFMQ_CONFORMANCE_DATA,
                   .expected_file = TFMQ_CONFORMANCE_EXPECTED,
                   .jobs = 2,
                   .timeout_s = 60,
                   .min_pass = -1,
                   .mem_limit_bytes = (uint64_t)8 << 30};
    opt.filters = g_filters = calloc((size_t)argc + 1, sizeof(char *));
    if (!opt.filters) {
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--data-dir") == 0) {
            opt.data_dir = need_arg(argc, argv, &i);
        } else if (strcmp(a, "--filter") == 0) {
            opt.filters[opt.n_filters++] = need_arg(argc, argv, &i);
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            opt.verbose = true;
        } else if (strcmp(a, "--summary") == 0) {
            opt.summary = true;
        } else if (strcmp(a, "--list") == 0) {
            opt.list_file = need_arg(argc, argv, &i);
        } else if (strcmp(a, "--expected") == 0) {
            opt.expected_file = need_arg(argc, argv, &i);
            opt.expected_given = true;
        } else if (strcmp(a, "--jobs") == 0 || strcmp(a, "-j") == 0) {
            opt.jobs = (int)parse_num(a, need_arg(argc, argv, &i));
            if (opt.jobs < 1 || opt.jobs > 256) {
                opt.jobs = opt.jobs < 1 ? 1 : 256;
            }
        } else if (strcmp(a, "--timeout") == 0) {
            opt.timeout_s = (int)parse_num(a, need_arg(argc, argv, &i));
        } else if (strcmp(a, "--mem-limit") == 0) {
            opt.mem_limit_bytes = (uint64_t)parse_num(a, need_arg(argc, argv, &i)) << 30;
        } else if (strcmp(a, "--min-pass") == 0) {
            opt.min_pass = parse_num(a, need_arg(argc, argv, &i));
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "conformance: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (opt.min_pass < 0) {
        bool partial = opt.n_filters || strcmp(opt.data_dir, TFMQ_CONFORMANCE_DATA) != 0;
        opt.min_pass = partial ? 0 : 650;
    }
    if (!is_dir(opt.data_dir)) {
        fprintf(stderr,
                "conformance: data directory '%s' not found (apt-get install "
                "libonnx-testdata)\n",
                opt.data_dir);
        return 2;
    }

    char **expected = NULL;
    size_t n_expected = 0;
    if (strcmp(opt.expected_file, "none") != 0) {
        n_expected = read_expected(opt.expected_file, &expected);
        g_expected = expected;
        if (n_expected == (size_t)-1) {
            n_expected = 0;
            if (opt.expected_given) {
                fprintf(stderr, "conformance: cannot read expected-pass file '%s'\n",
                        opt.expected_file);
                return 2;
            }
        }
    }

    test_case *tests = NULL;
    size_t n = enumerate(&opt, &tests);
    g_tests = tests;
    if (n == 0) {
        fprintf(stderr, "conformance: no tests found under '%s'%s\n", opt.data_dir,
                opt.n_filters ? " matching the filters" : "");
    }
    run_all(&opt, tests, n);

    if (opt.summary) {
        print_summary(tests, n);
    }
    size_t counts[5] = {0};
    for (size_t i = 0; i < n; i++) {
        counts[tests[i].verdict]++;
    }
    if (opt.list_file) {
        FILE *f = fopen(opt.list_file, "w");
        if (!f) {
            fprintf(stderr, "conformance: cannot write '%s': %s\n", opt.list_file, strerror(errno));
        } else {
            fprintf(f, "# Conformance tests that passed, written by tfmq_conformance --list.\n"
                       "# As --expected (the default file), each must keep passing.\n");
            for (size_t i = 0; i < n; i++) {
                if (tests[i].verdict == V_PASS) {
                    fprintf(f, "%s\n", tests[i].name);
                }
            }
            fclose(f);
        }
    }

    /* regressions: expected tests that ran and did not pass, or (unfiltered) were not found */
    size_t n_regress = 0;
    for (size_t e = 0; e < n_expected; e++) {
        bool found = false;
        for (size_t i = 0; i < n; i++) {
            if (strcmp(tests[i].name, expected[e]) == 0) {
                found = true;
                if (tests[i].verdict != V_PASS) {
                    n_regress++;
                    printf("REGRESSION %s: %s%s%s\n", tests[i].name, verdict_tag[tests[i].verdict],
                           tests[i].msg[0] ? ": " : "", tests[i].msg);
                }
                break;
            }
        }
        if (!found && opt.n_filters == 0 && strcmp(opt.data_dir, TFMQ_CONFORMANCE_DATA) == 0) {
            n_regress++;
            printf("REGRESSION %s: expected to pass but not found in %s\n", expected[e],
                   opt.data_dir);
        }
    }
    free_names(expected, n_expected);

    int rc = 0;
    if (counts[V_CRASH] > 0) {
        rc = 1;
    }
    if (n_regress > 0) {
        printf("conformance: %zu expected test(s) did not pass (%s)\n", n_regress,
               opt.expected_file);
        rc = 1;
    }
    if ((long long)counts[V_PASS] < opt.min_pass) {
        printf("conformance: %zu passed, fewer than the required %lld\n", counts[V_PASS],
               opt.min_pass);
        rc = 1;
    }
    for (size_t i = 0; i < n; i++) {
        free(tests[i].name);
        free(tests[i].dir);
    }
    free(tests);
    free(opt.filters);
    printf("conformance: %zu passed, %zu failed, %zu unsupported, %zu crashed (of %zu)\n",
           counts[V_PASS], counts[V_FAIL], counts[V_UNSUP], counts[V_CRASH], n);
    return rc;
}
