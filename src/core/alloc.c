/* alloc.c: every allocation of the library goes through here, to the user's allocator or the C
 * library. A per-thread counter lets tests fail the N-th allocation (OOM torture, as curl and
 * Lua do) and count allocations made by a session run. */
#include <stdlib.h>
#include <string.h>

#include "core.h"

static _Thread_local uint64_t tq_alloc_count;
static _Thread_local uint64_t tq_alloc_fail_at;

void tq_alloc_test_set_fail_at(uint64_t n_fail_at)
{
    tq_alloc_fail_at = n_fail_at;
    tq_alloc_count = 0;
}

uint64_t tq_alloc_test_count(void)
{
    return tq_alloc_count;
}

static bool tq_alloc_should_fail(void)
{
    tq_alloc_count++;
    return tq_alloc_fail_at != 0 && tq_alloc_count == tq_alloc_fail_at;
}

void *tq_alloc_aligned(const tfmq_allocator *a, size_t n_bytes)
{
    if (tq_alloc_should_fail() || n_bytes > TQ_MAX_TENSOR_BYTES + 4096) {
        return NULL;
    }
    if (n_bytes == 0) {
        n_bytes = 1;
    }
    if (a && a->alloc) {
        return a->alloc(a->user_data, n_bytes, TQ_ALIGN);
    }
    void *p = NULL;
    if (posix_memalign(&p, TQ_ALIGN, tq_align_up(n_bytes, TQ_ALIGN)) != 0) {
        return NULL;
    }
    return p;
}

void tq_free_aligned(const tfmq_allocator *a, void *p, size_t n_bytes)
{
    if (!p) {
        return;
    }
    if (a && a->free) {
        a->free(a->user_data, p, n_bytes == 0 ? 1 : n_bytes);
        return;
    }
    free(p);
}

void *tq_alloc(const tfmq_allocator *a, size_t n_bytes)
{
    return tq_alloc_aligned(a, n_bytes);
}

void tq_free(const tfmq_allocator *a, void *p, size_t n_bytes)
{
    tq_free_aligned(a, p, n_bytes);
}

void *tq_calloc(const tfmq_allocator *a, size_t n, size_t size)
{
    size_t bytes;
    if (!tq_mul_size(n, size, &bytes)) {
        return NULL;
    }
    void *p = tq_alloc(a, bytes);
    if (p) {
        memset(p, 0, bytes);
    }
    return p;
}

void *tq_realloc(const tfmq_allocator *a, void *p, size_t old_bytes, size_t new_bytes)
{
    void *q = tq_alloc(a, new_bytes);
    if (!q) {
        return NULL;
    }
    if (p) {
        memcpy(q, p, old_bytes < new_bytes ? old_bytes : new_bytes);
        tq_free(a, p, old_bytes);
    }
    return q;
}
