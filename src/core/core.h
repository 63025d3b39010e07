/* core.h: internal foundations shared by every module: statuses with thread-local error text,
 * allocation through the user's allocator, an arena for IR objects, checked size arithmetic,
 * dtype helpers and logging. Nothing here knows about models, ops or files. */
#ifndef TQ_CORE_H
#define TQ_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tfmq.h"

#define TQ_HIDDEN __attribute__((visibility("hidden")))

#if defined(__GNUC__)
#define TQ_PRINTF(fmt_idx, arg_idx) __attribute__((format(printf, fmt_idx, arg_idx)))
#else
#define TQ_PRINTF(fmt_idx, arg_idx)
#endif

/* Limits that a hostile file cannot get around; checked before anything is allocated. */
#define TQ_MAX_RANK 8
#define TQ_MAX_IO 64                         /* inputs or outputs of one node (Concat, Sum) */
#define TQ_MAX_TENSOR_BYTES ((size_t)1 << 34) /* 16 GiB */
#define TQ_MAX_NODES (1u << 20)
#define TQ_MAX_GRAPH_DEPTH 16                /* nesting of If/Loop subgraphs */
#define TQ_ALIGN 64                          /* alignment of tensor data */

/* ---- status (status.c) ---- */
/* Set this thread's error message and return `st`. Never allocates. */
tfmq_status tq_fail(tfmq_status st, const char *fmt, ...) TQ_PRINTF(2, 3);
tfmq_status tq_failv(tfmq_status st, const char *fmt, va_list ap) TQ_PRINTF(2, 0);
/* Prefix the current message with "prefix: " (used to add file or node context). */
tfmq_status tq_fail_prefix(tfmq_status st, const char *fmt, ...) TQ_PRINTF(2, 3);
void tq_clear_error(void);

/* Evaluate a status expression; on error store it in `st` and jump to `fail`. */
#define TQ_TRY(st, expr)                                                                          \
    do {                                                                                          \
        (st) = (expr);                                                                            \
        if ((st) != TFMQ_OK) {                                                                    \
            goto fail;                                                                            \
        }                                                                                         \
    } while (0)

/* ---- allocation (alloc.c) ---- */
/* All memory of the library goes through these. `a` may be NULL (the C library).
 * Sizes are passed back to free because user allocators may want them. */
void *tq_alloc(const tfmq_allocator *a, size_t n_bytes);
void *tq_calloc(const tfmq_allocator *a, size_t n, size_t size);
void *tq_alloc_aligned(const tfmq_allocator *a, size_t n_bytes); /* TQ_ALIGN-aligned */
void tq_free(const tfmq_allocator *a, void *p, size_t n_bytes);
void tq_free_aligned(const tfmq_allocator *a, void *p, size_t n_bytes);
/* Grow or shrink a tq_alloc block (contents kept up to min size); NULL on failure, p untouched */
void *tq_realloc(const tfmq_allocator *a, void *p, size_t old_bytes, size_t new_bytes);
/* Test hook: counts allocations made through tq_alloc* on this thread, and can make the N-th
 * fail (OOM torture). n_fail_at == 0 disables failing. */
void tq_alloc_test_set_fail_at(uint64_t n_fail_at);
uint64_t tq_alloc_test_count(void);

/* ---- arena (arena.c): bump allocator over a list of chunks; freed all at once ---- */
typedef struct tq_arena_chunk tq_arena_chunk;
typedef struct tq_arena {
    const tfmq_allocator *alloc;
    tq_arena_chunk *head;
    size_t used;     /* bytes used in head */
    size_t cap;      /* bytes available in head */
} tq_arena;
void tq_arena_init(tq_arena *ar, const tfmq_allocator *alloc);
void *tq_arena_alloc(tq_arena *ar, size_t n_bytes);        /* 16-byte aligned, zeroed */
char *tq_arena_strdup(tq_arena *ar, const char *s);
char *tq_arena_strndup(tq_arena *ar, const char *s, size_t n);
void tq_arena_free(tq_arena *ar);

/* ---- checked size math (inline) ---- */
static inline bool tq_mul_size(size_t a, size_t b, size_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}
static inline bool tq_add_size(size_t a, size_t b, size_t *out)
{
    return !__builtin_add_overflow(a, b, out);
}
static inline bool tq_mul_i64(int64_t a, int64_t b, int64_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}
static inline size_t tq_align_up(size_t n, size_t align)
{
    return (n + align - 1) & ~(align - 1);
}

/* ---- dtypes (dtype.c) ---- */
size_t tq_dtype_size(tfmq_dtype dt); /* 0 if unsupported as data */
bool tq_dtype_is_float(tfmq_dtype dt);
bool tq_dtype_is_int(tfmq_dtype dt);       /* signed or unsigned integer, not bool */
bool tq_dtype_is_signed(tfmq_dtype dt);
float tq_f16_to_f32(uint16_t h);
uint16_t tq_f32_to_f16(float f);            /* round to nearest even */
float tq_bf16_to_f32(uint16_t b);
uint16_t tq_f32_to_bf16(float f);           /* round to nearest even, NaN kept */
/* Generic element access, for the reference kernels of ops with many dtypes. */
double tq_load_f64(tfmq_dtype dt, const void *base, size_t i);
void tq_store_f64(tfmq_dtype dt, void *base, size_t i, double v); /* ints: truncate, saturate */
int64_t tq_load_i64(tfmq_dtype dt, const void *base, size_t i);
void tq_store_i64(tfmq_dtype dt, void *base, size_t i, int64_t v);  /* wraps like C casts */

/* ---- checksums (crc32c.c) ---- */
/* CRC-32C of n bytes, continuing from crc (start with 0). tq_crc32c(0, "123456789", 9) is
 * 0xE3069283. */
uint32_t tq_crc32c(uint32_t crc, const void *data, size_t n);
/* The same, always by the table (tq_crc32c uses the CPU's crc32 instruction where it has one):
 * for the test that compares the two. */
uint32_t tq_crc32c_table(uint32_t crc, const void *data, size_t n);

/* ---- logging and timing (log.c) ---- */
void tq_log(tfmq_log_level level, const char *fmt, ...) TQ_PRINTF(2, 3);
/* Seconds on the monotonic clock (profiles and the load-time debug log). */
double tq_now_s(void);

#endif
