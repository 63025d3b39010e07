/* arena.c: a bump allocator over a linked list of chunks. IR nodes, attributes and strings live
 * in their graph's arena and are freed all at once with the model. Memory is zeroed. */
#include <string.h>

#include "core.h"

struct tq_arena_chunk {
    tq_arena_chunk *next;
    size_t size; /* bytes of the whole chunk, header included */
};

#define TQ_ARENA_HDR tq_align_up(sizeof(tq_arena_chunk), 16)
#define TQ_ARENA_MIN_CHUNK ((size_t)64 * 1024)

void tq_arena_init(tq_arena *ar, const tfmq_allocator *alloc)
{
    memset(ar, 0, sizeof(*ar));
    ar->alloc = alloc;
}

void *tq_arena_alloc(tq_arena *ar, size_t n_bytes)
{
    if (n_bytes > TQ_MAX_TENSOR_BYTES) {
        return NULL; /* also keeps the alignment and header sums below from overflowing */
    }
    size_t need = tq_align_up(n_bytes ? n_bytes : 1, 16);
    if (!ar->head || need > ar->cap - ar->used) {
        size_t size;
        if (!tq_add_size(need, TQ_ARENA_HDR, &size)) {
            return NULL;
        }
        if (size < TQ_ARENA_MIN_CHUNK) {
            size = TQ_ARENA_MIN_CHUNK;
        }
        tq_arena_chunk *c = tq_alloc(ar->alloc, size);
        if (!c) {
            return NULL;
        }
        c->size = size;
        c->next = ar->head;
        ar->head = c;
        ar->used = 0;
        ar->cap = size - TQ_ARENA_HDR;
    }
    char *p = (char *)ar->head + TQ_ARENA_HDR + ar->used;
    ar->used += need;
    memset(p, 0, need);
    return p;
}

char *tq_arena_strndup(tq_arena *ar, const char *s, size_t n)
{
    if (n >= TQ_MAX_TENSOR_BYTES) {
        return NULL;
    }
    char *d = tq_arena_alloc(ar, n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

char *tq_arena_strdup(tq_arena *ar, const char *s)
{
    return tq_arena_strndup(ar, s ? s : "", s ? strlen(s) : 0);
}

void tq_arena_free(tq_arena *ar)
{
    tq_arena_chunk *c = ar->head;
    while (c) {
        tq_arena_chunk *next = c->next;
        tq_free(ar->alloc, c, c->size);
        c = next;
    }
    ar->head = NULL;
    ar->used = ar->cap = 0;
}
