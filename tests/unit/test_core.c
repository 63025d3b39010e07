/* test_core.c: unit tests of src/core: checked size math, the allocator (alignment, the OOM test
 * hook, user allocators), the arena (alignment, zeroing, big blocks, no leaks, OOM), and error
 * reporting (tq_fail formatting and truncation, tq_fail_prefix, and tfmq_last_error being per
 * thread, checked with pthreads). */
#include "core/core.h"
#include "harness.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static void test_checked_math(tq_rng *rng)
{
    (void)rng;
    size_t s = 0;
    TQ_CHECK(tq_mul_size(3, 5, &s) && s == 15);
    TQ_CHECK(tq_mul_size(0, SIZE_MAX, &s) && s == 0);
    TQ_CHECK(!tq_mul_size(SIZE_MAX, 2, &s));
    TQ_CHECK(!tq_mul_size((size_t)1 << 32, (size_t)1 << 32, &s));
    TQ_CHECK(tq_mul_size((size_t)1 << 31, (size_t)1 << 32, &s) && s == (size_t)1 << 63);
    TQ_CHECK(tq_add_size(SIZE_MAX - 1, 1, &s) && s == SIZE_MAX);
    TQ_CHECK(!tq_add_size(SIZE_MAX, 1, &s));
    int64_t i = 0;
    TQ_CHECK(tq_mul_i64(-4, 5, &i) && i == -20);
    TQ_CHECK(tq_mul_i64(INT64_MAX, 1, &i) && i == INT64_MAX);
    TQ_CHECK(!tq_mul_i64(INT64_MIN, -1, &i));
    TQ_CHECK(!tq_mul_i64(INT64_MAX, 2, &i));
    TQ_CHECK(!tq_mul_i64((int64_t)1 << 62, 4, &i));
    TQ_CHECK(tq_mul_i64((int64_t)1 << 62, -2, &i) && i == INT64_MIN);
    /* dims of 1e12 elements times 4 bytes fit, 2^62 * 2^62 do not */
    TQ_CHECK(tq_mul_i64(1000000, 1000000, &i) && i == 1000000000000);
    TQ_CHECK(!tq_mul_i64((int64_t)1 << 40, (int64_t)1 << 40, &i));
    TQ_EXPECT_EQ_U64(tq_align_up(0, 64), 0);
    TQ_EXPECT_EQ_U64(tq_align_up(1, 64), 64);
    TQ_EXPECT_EQ_U64(tq_align_up(64, 64), 64);
    TQ_EXPECT_EQ_U64(tq_align_up(65, 16), 80);
}

static void test_alloc_basic(tq_rng *rng)
{
    tq_alloc_test_set_fail_at(0);
    for (int k = 0; k < 100; k++) {
        size_t n = (size_t)tq_rng_below(rng, 5000);
        unsigned char *p = tq_alloc_aligned(NULL, n);
        TQ_EXPECT(p != NULL, "alloc of %zu bytes", n);
        if (!p) {
            continue;
        }
        TQ_EXPECT(((uintptr_t)p % TQ_ALIGN) == 0, "%p not %d-aligned", (void *)p, TQ_ALIGN);
        memset(p, 0xab, n);
        tq_free_aligned(NULL, p, n);
    }
    unsigned char *z = tq_calloc(NULL, 100, 3);
    TQ_CHECK(z != NULL);
    if (z) {
        int nonzero = 0;
        for (int k = 0; k < 300; k++) {
            nonzero += z[k] != 0;
        }
        TQ_EXPECT_EQ_I64(nonzero, 0);
        tq_free(NULL, z, 300);
    }
    TQ_CHECK(tq_calloc(NULL, SIZE_MAX / 2, 3) == NULL); /* overflow */
    TQ_CHECK(tq_alloc(NULL, SIZE_MAX) == NULL);         /* beyond the tensor limit */
    TQ_CHECK(tq_alloc_aligned(NULL, TQ_MAX_TENSOR_BYTES + 8192) == NULL);
    tq_free(NULL, NULL, 0); /* no-op */

    /* realloc keeps contents and frees the old block */
    char *a = tq_alloc(NULL, 10);
    TQ_CHECK(a != NULL);
    if (a) {
        memcpy(a, "123456789", 10);
        char *b = tq_realloc(NULL, a, 10, 1000);
        TQ_CHECK(b != NULL);
        if (b) {
            TQ_EXPECT_STR_EQ(b, "123456789");
            char *c = tq_realloc(NULL, b, 1000, 4);
            TQ_CHECK(c != NULL && memcmp(c, "1234", 4) == 0);
            tq_free(NULL, c ? c : b, c ? 4 : 1000);
        } else {
            tq_free(NULL, a, 10);
        }
    }
    char *r = tq_realloc(NULL, NULL, 0, 16); /* NULL p behaves like alloc */
    TQ_CHECK(r != NULL);
    tq_free(NULL, r, 16);
}

static void test_alloc_fail_hook(tq_rng *rng)
{
    (void)rng;
    tq_alloc_test_set_fail_at(3);
    void *p1 = tq_alloc(NULL, 8), *p2 = tq_alloc(NULL, 8), *p3 = tq_alloc(NULL, 8);
    void *p4 = tq_alloc(NULL, 8);
    TQ_CHECK(p1 && p2 && !p3 && p4);
    TQ_EXPECT_EQ_U64(tq_alloc_test_count(), 4);
    tq_free(NULL, p1, 8);
    tq_free(NULL, p2, 8);
    tq_free(NULL, p4, 8);
    /* realloc failing leaves the old block untouched */
    char *a = tq_alloc(NULL, 4);
    TQ_CHECK(a != NULL);
    if (a) {
        memcpy(a, "abc", 4);
        tq_alloc_test_set_fail_at(1);
        char *b = tq_realloc(NULL, a, 4, 64);
        TQ_CHECK(b == NULL);
        TQ_EXPECT_STR_EQ(a, "abc");
        tq_free(NULL, a, 4);
    }
    tq_alloc_test_set_fail_at(0);
    TQ_EXPECT_EQ_U64(tq_alloc_test_count(), 0);
    void *q = tq_alloc(NULL, 1);
    TQ_CHECK(q != NULL);
    TQ_EXPECT_EQ_U64(tq_alloc_test_count(), 1);
    tq_free(NULL, q, 1);
}

static void test_user_allocator(tq_rng *rng)
{
    tq_test_counting_alloc cnt;
    memset(&cnt, 0, sizeof(cnt));
    tfmq_allocator a = {&cnt, tq_test_counting_alloc_fn, tq_test_counting_free_fn};
    void *ptrs[50];
    size_t sizes[50];
    for (int k = 0; k < 50; k++) {
        sizes[k] = (size_t)tq_rng_below(rng, 3000);
        ptrs[k] = tq_alloc_aligned(&a, sizes[k]);
        TQ_CHECK(ptrs[k] != NULL && ((uintptr_t)ptrs[k] % TQ_ALIGN) == 0);
    }
    TQ_EXPECT_EQ_I64(atomic_load(&cnt.n_live), 50);
    for (int k = 0; k < 50; k++) {
        tq_free_aligned(&a, ptrs[k], sizes[k]);
    }
    TQ_EXPECT_EQ_I64(atomic_load(&cnt.n_live), 0);
    /* sizes of 0 are passed as 1 both ways, so bytes balance too */
    TQ_EXPECT_EQ_I64(atomic_load(&cnt.bytes_live), 0);
}

static void test_arena(tq_rng *rng)
{
    tq_test_counting_alloc cnt;
    memset(&cnt, 0, sizeof(cnt));
    tfmq_allocator a = {&cnt, tq_test_counting_alloc_fn, tq_test_counting_free_fn};
    tq_arena ar;
    tq_arena_init(&ar, &a);
    unsigned char *prev = NULL;
    size_t prev_n = 0;
    for (int k = 0; k < 2000; k++) {
        size_t n = k % 100 == 99 ? (size_t)200000 : (size_t)tq_rng_below(rng, 300);
        unsigned char *p = tq_arena_alloc(&ar, n);
        TQ_EXPECT(p != NULL, "arena alloc %zu", n);
        if (!p) {
            break;
        }
        TQ_EXPECT(((uintptr_t)p % 16) == 0, "arena block %p not 16-aligned", (void *)p);
        size_t nz = 0;
        for (size_t j = 0; j < n; j++) {
            nz += p[j] != 0;
        }
        TQ_EXPECT(nz == 0, "arena block of %zu bytes has %zu non-zero bytes", n, nz);
        memset(p, 0xff, n);
        /* blocks never overlap the previous one */
        if (prev) {
            TQ_CHECK(p >= prev + prev_n || p + n <= prev);
        }
        prev = p;
        prev_n = n;
    }
    char *s = tq_arena_strdup(&ar, "hello");
    TQ_EXPECT_STR_EQ(s, "hello");
    TQ_EXPECT_STR_EQ(tq_arena_strdup(&ar, NULL), "");
    char *s2 = tq_arena_strndup(&ar, "abcdef", 3);
    TQ_EXPECT_STR_EQ(s2, "abc");
    TQ_CHECK(tq_arena_alloc(&ar, 0) != NULL);
    TQ_CHECK(atomic_load(&cnt.n_live) > 0);
    tq_arena_free(&ar);
    TQ_EXPECT_EQ_I64(atomic_load(&cnt.n_live), 0);
    TQ_EXPECT_EQ_I64(atomic_load(&cnt.bytes_live), 0);
    /* usable again after free */
    TQ_CHECK(tq_arena_alloc(&ar, 10) != NULL);
    tq_arena_free(&ar);
    tq_arena_free(&ar); /* twice is harmless */
    TQ_EXPECT_EQ_I64(atomic_load(&cnt.n_live), 0);
}

/* Sizes that overflow once aligned, added to the used bytes, or with the chunk header: must be
 * NULL, never a block. (Run last: a bug here tends to crash the binary.) */
static void test_arena_hostile_sizes(tq_rng *rng)
{
    (void)rng;
    tq_test_counting_alloc cnt;
    memset(&cnt, 0, sizeof(cnt));
    tfmq_allocator a = {&cnt, tq_test_counting_alloc_fn, tq_test_counting_free_fn};
    tq_arena ar;
    tq_arena_init(&ar, &a);
    TQ_CHECK(tq_arena_alloc(&ar, SIZE_MAX) == NULL); /* empty arena */
    TQ_CHECK(tq_arena_alloc(&ar, SIZE_MAX - 20) == NULL);
    TQ_CHECK(tq_arena_alloc(&ar, 100) != NULL); /* now with a partly used chunk */
    TQ_CHECK(tq_arena_alloc(&ar, SIZE_MAX) == NULL);
    TQ_CHECK(tq_arena_alloc(&ar, SIZE_MAX - 20) == NULL);
    TQ_CHECK(tq_arena_alloc(&ar, SIZE_MAX - 200) == NULL);
    TQ_CHECK(tq_arena_alloc(&ar, TQ_MAX_TENSOR_BYTES * 2) == NULL);
    TQ_CHECK(tq_arena_strndup(&ar, "x", SIZE_MAX) == NULL);
    tq_arena_free(&ar);
    TQ_EXPECT_EQ_I64(atomic_load(&cnt.n_live), 0);
}

static void test_arena_oom(tq_rng *rng)
{
    (void)rng;
    tq_test_counting_alloc cnt;
    memset(&cnt, 0, sizeof(cnt));
    tfmq_allocator a = {&cnt, tq_test_counting_alloc_fn, tq_test_counting_free_fn};
    for (uint64_t fail_at = 1; fail_at <= 5; fail_at++) {
        tq_arena ar;
        tq_arena_init(&ar, &a);
        tq_alloc_test_set_fail_at(fail_at);
        int n_null = 0;
        for (int k = 0; k < 10; k++) {
            n_null += tq_arena_alloc(&ar, 100000) == NULL; /* each needs a new chunk */
        }
        tq_alloc_test_set_fail_at(0);
        TQ_EXPECT(n_null == 1, "fail_at=%llu: %d NULL results", (unsigned long long)fail_at,
                  n_null);
        tq_arena_free(&ar);
        TQ_EXPECT_EQ_I64(atomic_load(&cnt.n_live), 0);
    }
}

static void test_fail_message(tq_rng *rng)
{
    (void)rng;
    tq_clear_error();
    TQ_EXPECT_STR_EQ(tfmq_last_error(), "");
    TQ_EXPECT_STATUS(tq_fail(TFMQ_ERR_PARSE, "file '%s': bad tag %d", "m.onnx", 42),
                     TFMQ_ERR_PARSE);
    TQ_EXPECT_STR_EQ(tfmq_last_error(), "file 'm.onnx': bad tag 42");
    TQ_EXPECT_STATUS(tq_fail_prefix(TFMQ_ERR_IO, "onnx: '%s'", "x.onnx"), TFMQ_ERR_IO);
    TQ_EXPECT_STR_EQ(tfmq_last_error(), "onnx: 'x.onnx': file 'm.onnx': bad tag 42");
    /* long messages are truncated, never overflow */
    char big[2000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    tq_fail(TFMQ_ERR_INTERNAL, "%s", big);
    size_t n = strlen(tfmq_last_error());
    TQ_EXPECT(n > 400 && n < 512, "message length %zu", n);
    tq_fail_prefix(TFMQ_ERR_INTERNAL, "%s", big);
    n = strlen(tfmq_last_error());
    TQ_EXPECT(n > 200 && n < 512, "prefixed message length %zu", n);
    tq_fail(TFMQ_ERR_INTERNAL, "short");
    tq_fail_prefix(TFMQ_ERR_INTERNAL, "%s", big); /* a prefix longer than the buffer */
    n = strlen(tfmq_last_error());
    TQ_EXPECT(n < 512, "prefixed message length %zu", n);
    tq_clear_error();
    TQ_EXPECT_STR_EQ(tfmq_last_error(), "");

    /* status names */
    for (int st = 0; st <= 9; st++) {
        const char *s = tfmq_status_str((tfmq_status)st);
        TQ_EXPECT(s && *s && strcmp(s, "unknown status") != 0, "status %d", st);
    }
    TQ_EXPECT_STR_EQ(tfmq_status_str(TFMQ_OK), "ok");
    TQ_EXPECT_STR_EQ(tfmq_status_str((tfmq_status)1234), "unknown status");
    TQ_EXPECT_STR_EQ(tfmq_version(), TFMQ_VERSION_STRING);
}

/* ---- per-thread error text ---- */
typedef struct thread_arg {
    int id;
    pthread_barrier_t *barrier;
    int ok; /* set by the thread: 1 when its message survived the other threads' failures */
} thread_arg;

static void *error_thread(void *p)
{
    thread_arg *t = p;
    char want[64];
    snprintf(want, sizeof(want), "thread %d failed", t->id);
    TQ_CHECK(strcmp(tfmq_last_error(), "") == 0); /* a fresh thread starts empty */
    for (int round = 0; round < 100; round++) {
        tq_fail(TFMQ_ERR_INVALID_ARG, "thread %d failed", t->id);
        pthread_barrier_wait(t->barrier); /* every thread has written its message */
        if (strcmp(tfmq_last_error(), want) != 0) {
            t->ok = 0;
        }
        pthread_barrier_wait(t->barrier);
    }
    return NULL;
}

static void test_last_error_per_thread(tq_rng *rng)
{
    (void)rng;
    enum { N = 4 };
    pthread_t th[N];
    thread_arg args[N];
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, N);
    tq_fail(TFMQ_ERR_IO, "main thread message");
    for (int i = 0; i < N; i++) {
        args[i] = (thread_arg){i, &barrier, 1};
        TQ_CHECK(pthread_create(&th[i], NULL, error_thread, &args[i]) == 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        TQ_EXPECT(args[i].ok, "thread %d saw another thread's message", i);
    }
    pthread_barrier_destroy(&barrier);
    TQ_EXPECT_STR_EQ(tfmq_last_error(), "main thread message");
}

/* The OOM hook counts per thread: another thread's allocations do not move this one's count. */
static void *alloc_thread(void *p)
{
    (void)p;
    tq_alloc_test_set_fail_at(1);
    void *q = tq_alloc(NULL, 16);
    tq_alloc_test_set_fail_at(0);
    return q; /* NULL expected */
}

static void test_alloc_hook_per_thread(tq_rng *rng)
{
    (void)rng;
    tq_alloc_test_set_fail_at(0);
    pthread_t th;
    void *res = (void *)1;
    TQ_CHECK(pthread_create(&th, NULL, alloc_thread, NULL) == 0);
    pthread_join(th, &res);
    TQ_CHECK(res == NULL);
    void *q = tq_alloc(NULL, 16);
    TQ_CHECK(q != NULL);
    TQ_EXPECT_EQ_U64(tq_alloc_test_count(), 1);
    tq_free(NULL, q, 16);
}

/* CRC-32C: the check value, and the crc32-instruction path (tq_crc32c on x86-64) equal to the
 * table on random data at every alignment and length, whole and in pieces. */
static void test_crc32c(tq_rng *rng)
{
    TQ_EXPECT_EQ_U64(tq_crc32c(0, "123456789", 9), 0xE3069283u);
    TQ_EXPECT_EQ_U64(tq_crc32c_table(0, "123456789", 9), 0xE3069283u);
    TQ_EXPECT_EQ_U64(tq_crc32c(0, "", 0), 0);
    enum { N = 4096 };
    static uint8_t buf[N + 16];
    for (size_t i = 0; i < sizeof(buf); i++) {
        buf[i] = (uint8_t)tq_rng_below(rng, 256);
    }
    for (int k = 0; k < 400; k++) {
        const size_t off = tq_rng_below(rng, 16), n = tq_rng_below(rng, k < 100 ? 40 : N);
        const uint32_t seed = (uint32_t)tq_rng_below(rng, 1u << 31);
        const uint32_t want = tq_crc32c_table(seed, buf + off, n);
        TQ_EXPECT(tq_crc32c(seed, buf + off, n) == want, "crc32c of %zu bytes at +%zu", n, off);
        const size_t cut = n ? tq_rng_below(rng, n) : 0;
        const uint32_t pieces = tq_crc32c(tq_crc32c(seed, buf + off, cut), buf + off + cut, n - cut);
        TQ_EXPECT(pieces == want, "crc32c of %zu bytes in two pieces at %zu", n, cut);
    }
    /* one flipped bit anywhere changes it */
    const uint32_t whole = tq_crc32c(0, buf, N);
    for (int k = 0; k < 64; k++) {
        const size_t at = tq_rng_below(rng, N);
        const uint8_t bit = (uint8_t)(1u << tq_rng_below(rng, 8));
        buf[at] ^= bit;
        TQ_EXPECT(tq_crc32c(0, buf, N) != whole, "bit flip at %zu undetected", at);
        buf[at] ^= bit;
    }
}

int main(int argc, char **argv)
{
    tq_test_begin(argc, argv);
    TQ_RUN(test_checked_math);
    TQ_RUN(test_alloc_basic);
    TQ_RUN(test_alloc_fail_hook);
    TQ_RUN(test_user_allocator);
    TQ_RUN(test_arena);
    TQ_RUN(test_arena_oom);
    TQ_RUN(test_fail_message);
    TQ_RUN(test_last_error_per_thread);
    TQ_RUN(test_alloc_hook_per_thread);
    TQ_RUN(test_arena_hostile_sizes);
    TQ_RUN(test_crc32c);
    return tq_test_end();
}
