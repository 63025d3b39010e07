/* harness.h: the tiny test framework of tfmq's C tests (header only).
 * A test binary defines `static void test_x(tq_rng *rng)` functions and calls them from main with
 * TQ_RUN(test_x) between tq_test_begin() and `return tq_test_end();`. Every check records a
 * failure with file:line and keeps going; tq_test_end() prints "N passed, M failed" (counting test
 * functions) and returns non-zero if anything failed. The PRNG is seeded from TFMQ_TEST_SEED
 * (decimal or 0x-hex) or from the clock, and every failure prints the seed as a repro line.
 * Checks may be called from several threads (counters are atomic). Tolerances live here, once. */
#ifndef TQ_TEST_HARNESS_H
#define TQ_TEST_HARNESS_H

#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- where the test data is ---- */
/* ../shared beside the source tree (overridable with the environment variable TFMQ_SHARED). */
#ifndef TFMQ_SHARED_DIR
#define TFMQ_SHARED_DIR "../shared"
#endif
static inline const char *tq_test_shared_dir(void)
{
    const char *env = getenv("TFMQ_SHARED");
    return env && *env ? env : TFMQ_SHARED_DIR;
}

/* ---- tolerances (STYLE.md section 7) ---- */
#define TQ_TOL_F32_ELEMENTWISE 1e-6 /* |y-r| <= 1e-6 * (|r| + 1) */
#define TQ_TOL_F32_NMSE        1e-7 /* GEMM, conv, reductions */
#define TQ_TOL_F16_NMSE        1e-4

/* ---- seeded PRNG: splitmix64 (small, fast, good enough for test data) ---- */
typedef struct tq_rng {
    uint64_t state;
} tq_rng;

static inline uint64_t tq_rng_u64(tq_rng *r)
{
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint32_t tq_rng_u32(tq_rng *r)
{
    return (uint32_t)(tq_rng_u64(r) >> 32);
}

/* Uniform in [0, n); n > 0. */
static inline uint64_t tq_rng_below(tq_rng *r, uint64_t n)
{
    return tq_rng_u64(r) % n;
}

/* Uniform float in [lo, hi). */
static inline float tq_rng_uniform(tq_rng *r, float lo, float hi)
{
    double u = (double)(tq_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)((double)lo + u * ((double)hi - (double)lo));
}

/* ---- state ---- */
typedef struct tq_test_state {
    const char *prog;    /* argv[0], for the repro line */
    const char *filter;  /* argv[1]: only run tests whose name contains it */
    const char *current; /* name of the running test function */
    uint64_t seed;
    atomic_int n_checks_failed_in_test;
    atomic_int n_fail_msgs; /* messages printed (capped per test) */
    int n_passed, n_failed;
} tq_test_state;

static tq_test_state tq_test_g __attribute__((unused));

#define TQ_TEST_MAX_MSGS_PER_TEST 20

static inline uint64_t tq_test_parse_seed(const char *s, bool *ok)
{
    char *end = NULL;
    uint64_t v = (uint64_t)strtoull(s, &end, 0);
    *ok = end && end != s && *end == '\0';
    return v;
}

#if defined(__SANITIZE_ADDRESS__)
#define TQ_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TQ_TEST_ASAN 1
#endif
#endif
#ifndef TQ_TEST_ASAN
#define TQ_TEST_ASAN 0
#endif

/* On a crash, name the test that crashed and its repro line, then die of the same signal.
 * Not installed under AddressSanitizer, whose own report is better. */
static inline void tq_test_crash_handler(int sig)
{
    char buf[512];
    const char *name = tq_test_g.current ? tq_test_g.current : "?";
    int n = snprintf(buf, sizeof(buf),
                     "\nCRASHED in %s (signal %d); repro: TFMQ_TEST_SEED=0x%016" PRIx64 " %s %s\n",
                     name, sig, tq_test_g.seed, tq_test_g.prog, name);
    if (n > 0) {
        ssize_t w = write(2, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
        (void)w;
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Call first in main. argv[1], if given, is a substring filter on test names. */
static inline void tq_test_begin(int argc, char **argv)
{
#if !TQ_TEST_ASAN
    signal(SIGSEGV, tq_test_crash_handler);
    signal(SIGBUS, tq_test_crash_handler);
    signal(SIGFPE, tq_test_crash_handler);
    signal(SIGABRT, tq_test_crash_handler);
    signal(SIGILL, tq_test_crash_handler);
#endif
    memset(&tq_test_g, 0, sizeof(tq_test_g));
    tq_test_g.prog = argc > 0 ? argv[0] : "test";
    tq_test_g.filter = argc > 1 ? argv[1] : NULL;
    const char *env = getenv("TFMQ_TEST_SEED");
    bool ok = false;
    if (env && *env) {
        tq_test_g.seed = tq_test_parse_seed(env, &ok);
        if (!ok) {
            fprintf(stderr, "harness: TFMQ_TEST_SEED='%s' is not a number; using the clock\n", env);
        }
    }
    if (!ok) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        tq_rng r = {(uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec ^
                    ((uint64_t)getpid() << 32)};
        tq_test_g.seed = tq_rng_u64(&r);
    }
}

/* Report one failed check. Prefer the TQ_EXPECT* macros, which call this. */
static inline void tq_test_failf(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline void tq_test_failf(const char *file, int line, const char *fmt, ...)
{
    atomic_fetch_add(&tq_test_g.n_checks_failed_in_test, 1);
    int k = atomic_fetch_add(&tq_test_g.n_fail_msgs, 1);
    if (k >= TQ_TEST_MAX_MSGS_PER_TEST) {
        return;
    }
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s:%d: %s: FAIL: %s\n", file, line,
            tq_test_g.current ? tq_test_g.current : "?", msg);
    if (k == TQ_TEST_MAX_MSGS_PER_TEST - 1) {
        fprintf(stderr, "  (further failures of this test are counted but not printed)\n");
    }
}

typedef void (*tq_test_fn)(tq_rng *rng);

/* Run one test function with a PRNG seeded from the binary's seed. */
static inline void tq_test_run(const char *name, tq_test_fn fn)
{
    if (tq_test_g.filter && !strstr(name, tq_test_g.filter)) {
        return;
    }
    tq_test_g.current = name;
    atomic_store(&tq_test_g.n_checks_failed_in_test, 0);
    atomic_store(&tq_test_g.n_fail_msgs, 0);
    tq_rng rng = {tq_test_g.seed};
    fn(&rng);
    int nf = atomic_load(&tq_test_g.n_checks_failed_in_test);
    if (nf) {
        tq_test_g.n_failed++;
        fprintf(stderr, "FAILED %s (%d checks); repro: TFMQ_TEST_SEED=0x%016" PRIx64 " %s %s\n",
                name, nf, tq_test_g.seed, tq_test_g.prog, name);
    } else {
        tq_test_g.n_passed++;
    }
    tq_test_g.current = NULL;
    fflush(stdout);
    fflush(stderr);
}

#define TQ_RUN(fn) tq_test_run(#fn, fn)

/* Call last in main: prints the summary line and returns the exit status. */
static inline int tq_test_end(void)
{
    printf("%d passed, %d failed\n", tq_test_g.n_passed, tq_test_g.n_failed);
    fflush(stdout);
    return tq_test_g.n_failed ? 1 : 0;
}

/* ---- checks: each returns nothing and never aborts the test ---- */
#define TQ_EXPECT(cond, ...)                                                                       \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            tq_test_failf(__FILE__, __LINE__, "expected %s", #cond);                               \
            tq_test_failf(__FILE__, __LINE__, __VA_ARGS__);                                        \
        }                                                                                          \
    } while (0)

#define TQ_CHECK(cond)                                                                             \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            tq_test_failf(__FILE__, __LINE__, "expected %s", #cond);                               \
        }                                                                                          \
    } while (0)

#define TQ_EXPECT_EQ_I64(a, b)                                                                     \
    do {                                                                                           \
        int64_t tq_a_ = (int64_t)(a), tq_b_ = (int64_t)(b);                                        \
        if (tq_a_ != tq_b_) {                                                                      \
            tq_test_failf(__FILE__, __LINE__, "%s == %" PRId64 ", expected %s == %" PRId64, #a,    \
                          tq_a_, #b, tq_b_);                                                       \
        }                                                                                          \
    } while (0)

#define TQ_EXPECT_EQ_U64(a, b)                                                                     \
    do {                                                                                           \
        uint64_t tq_a_ = (uint64_t)(a), tq_b_ = (uint64_t)(b);                                     \
        if (tq_a_ != tq_b_) {                                                                      \
            tq_test_failf(__FILE__, __LINE__, "%s == 0x%" PRIx64 ", expected %s == 0x%" PRIx64,    \
                          #a, tq_a_, #b, tq_b_);                                                   \
        }                                                                                          \
    } while (0)

#define TQ_EXPECT_STR_EQ(a, b)                                                                     \
    do {                                                                                           \
        const char *tq_a_ = (a), *tq_b_ = (b);                                                     \
        if (!tq_a_ || !tq_b_ || strcmp(tq_a_, tq_b_) != 0) {                                       \
            tq_test_failf(__FILE__, __LINE__, "%s == \"%s\", expected \"%s\"", #a,                 \
                          tq_a_ ? tq_a_ : "(null)", tq_b_ ? tq_b_ : "(null)");                     \
        }                                                                                          \
    } while (0)

#define TQ_EXPECT_STR_CONTAINS(s, sub)                                                             \
    do {                                                                                           \
        const char *tq_s_ = (s), *tq_sub_ = (sub);                                                 \
        if (!tq_s_ || !strstr(tq_s_, tq_sub_)) {                                                   \
            tq_test_failf(__FILE__, __LINE__, "%s == \"%s\" does not contain \"%s\"", #s,          \
                          tq_s_ ? tq_s_ : "(null)", tq_sub_);                                      \
        }                                                                                          \
    } while (0)

/* A tfmq_status expression equals the expected status; prints tfmq_last_error() otherwise. */
#define TQ_EXPECT_STATUS(expr, want)                                                               \
    do {                                                                                           \
        int tq_st_ = (int)(expr), tq_want_ = (int)(want);                                          \
        if (tq_st_ != tq_want_) {                                                                  \
            tq_test_failf(__FILE__, __LINE__,                                                      \
                          "%s returned %d (%s), expected %d (%s); last error: %s",                 \
                          #expr, tq_st_, tfmq_status_str((tfmq_status)tq_st_), tq_want_,           \
                          tfmq_status_str((tfmq_status)tq_want_), tfmq_last_error());              \
        }                                                                                          \
    } while (0)

#define TQ_EXPECT_OK(expr) TQ_EXPECT_STATUS(expr, 0)

/* Elementwise closeness of n floats: |y-r| <= atol + rtol*|r|; NaN matches NaN. Prints the first
 * few mismatches with the caller's context (printf format). */
static inline bool tq_test_close_f32(const char *file, int line, const float *y, const float *r,
                                     size_t n, double atol, double rtol, const char *ctx)
{
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        double a = (double)y[i], b = (double)r[i];
        bool ok = (isnan(a) && isnan(b)) || a == b || fabs(a - b) <= atol + rtol * fabs(b);
        if (!ok) {
            if (bad < 3) {
                tq_test_failf(file, line, "%s: [%zu] got %.9g, expected %.9g", ctx, i, a, b);
            }
            bad++;
        }
    }
    if (bad > 3) {
        tq_test_failf(file, line, "%s: %zu of %zu elements differ", ctx, bad, n);
    }
    return bad == 0;
}

#define TQ_EXPECT_CLOSE_F32(y, r, n, atol, rtol, ...)                                              \
    do {                                                                                           \
        char tq_ctx_[256];                                                                         \
        snprintf(tq_ctx_, sizeof(tq_ctx_), __VA_ARGS__);                                           \
        tq_test_close_f32(__FILE__, __LINE__, (y), (r), (n), (atol), (rtol), tq_ctx_);             \
    } while (0)

/* Normalised mean squared error sum((y-r)^2) / sum(r^2) (0 when both are all zero). */
static inline double tq_test_nmse_f32(const float *y, const float *r, size_t n)
{
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)y[i] - (double)r[i];
        num += d * d;
        den += (double)r[i] * (double)r[i];
    }
    return den > 0.0 ? num / den : (num > 0.0 ? (double)INFINITY : 0.0);
}

/* ---- allocation helpers: a list of blocks freed together by tq_test_free_all() ---- */
#define TQ_TEST_MAX_BLOCKS 256
static void *tq_test_blocks[TQ_TEST_MAX_BLOCKS] __attribute__((unused));
static size_t tq_test_n_blocks __attribute__((unused));

static inline void *tq_test_alloc(size_t n_bytes)
{
    void *p = calloc(1, n_bytes ? n_bytes : 1);
    if (!p || tq_test_n_blocks == TQ_TEST_MAX_BLOCKS) {
        fprintf(stderr, "harness: out of memory or too many blocks\n");
        exit(2);
    }
    tq_test_blocks[tq_test_n_blocks++] = p;
    return p;
}

static inline float *tq_test_alloc_f32(size_t n)
{
    return (float *)tq_test_alloc(n * sizeof(float));
}

static inline void tq_test_free_all(void)
{
    for (size_t i = 0; i < tq_test_n_blocks; i++) {
        free(tq_test_blocks[i]);
    }
    tq_test_n_blocks = 0;
}

static inline void tq_test_fill_uniform(tq_rng *r, float *x, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++) {
        x[i] = tq_rng_uniform(r, lo, hi);
    }
}

/* ---- a counting allocator (tfmq_allocator) that checks frees match allocations ---- */
typedef struct tq_test_counting_alloc {
    atomic_llong n_live;     /* blocks allocated and not yet freed */
    atomic_llong bytes_live; /* bytes allocated and not yet freed (sizes passed back to free) */
    atomic_llong n_total;    /* allocations ever made */
} tq_test_counting_alloc;

static inline void *tq_test_counting_alloc_fn(void *ud, size_t n_bytes, size_t align)
{
    tq_test_counting_alloc *c = (tq_test_counting_alloc *)ud;
    void *p = NULL;
    if (align < sizeof(void *)) {
        align = sizeof(void *);
    }
    if (posix_memalign(&p, align, (n_bytes + align - 1) / align * align) != 0) {
        return NULL;
    }
    atomic_fetch_add(&c->n_live, 1);
    atomic_fetch_add(&c->bytes_live, (long long)n_bytes);
    atomic_fetch_add(&c->n_total, 1);
    return p;
}

static inline void tq_test_counting_free_fn(void *ud, void *p, size_t n_bytes)
{
    tq_test_counting_alloc *c = (tq_test_counting_alloc *)ud;
    if (!p) {
        return;
    }
    atomic_fetch_sub(&c->n_live, 1);
    atomic_fetch_sub(&c->bytes_live, (long long)n_bytes);
    free(p);
}

#endif
