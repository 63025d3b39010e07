/* mem_plan.c: greedy lifetime-based offset assignment (mem_plan.h). */
#include "runtime/mem_plan.h"

tfmq_status tq_mem_plan(tq_mem_item *items, size_t n, size_t align, const tfmq_allocator *alloc,
                        size_t *total_out)
{
    size_t cap = n ? n : 1;
    size_t *order = tq_alloc(alloc, sizeof(size_t) * cap);
    size_t *placed = tq_alloc(alloc, sizeof(size_t) * cap);
    if (!order || !placed) {
        tq_free(alloc, order, sizeof(size_t) * cap);
        tq_free(alloc, placed, sizeof(size_t) * cap);
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "plan: out of memory");
    }
    for (size_t a = 0; a < n; a++) {
        order[a] = a;
    }
    /* insertion sort by size, descending (stable, deterministic) */
    for (size_t a = 1; a < n; a++) {
        size_t x = order[a], b = a;
        while (b > 0 && items[order[b - 1]].bytes < items[x].bytes) {
            order[b] = order[b - 1];
            b--;
        }
        order[b] = x;
    }
    size_t total = 0, n_placed = 0;
    for (size_t a = 0; a < n; a++) {
        tq_mem_item *it = &items[order[a]];
        size_t size = tq_align_up(it->bytes ? it->bytes : 1, align);
        size_t offset = 0;
        bool moved = true;
        while (moved) { /* lowest offset that overlaps no live placed item */
            moved = false;
            for (size_t b = 0; b < n_placed; b++) {
                const tq_mem_item *o = &items[placed[b]];
                if (o->last < it->first || it->last < o->first) {
                    continue; /* lifetimes disjoint */
                }
                size_t osize = tq_align_up(o->bytes ? o->bytes : 1, align);
                if (offset < o->offset + osize && o->offset < offset + size) {
                    offset = o->offset + osize;
                    moved = true;
                }
            }
        }
        it->offset = offset;
        placed[n_placed++] = order[a];
        if (offset + size > total) {
            total = offset + size;
        }
    }
    tq_free(alloc, order, sizeof(size_t) * cap);
    tq_free(alloc, placed, sizeof(size_t) * cap);
    *total_out = total;
    return TFMQ_OK;
}
