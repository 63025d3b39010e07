/* mem_plan.h: lifetime-based offsets in one workspace, shared by the host exec (runtime/exec.c)
 * and the CUDA exec (backends/cuda/exec.c). */
#ifndef TQ_MEM_PLAN_H
#define TQ_MEM_PLAN_H

#include "core/core.h"

/* One buffer to place: its size and the positions (steps) of its first and last use. */
typedef struct tq_mem_item {
    size_t bytes;
    int32_t first, last;
    size_t offset; /* out */
} tq_mem_item;

/* Place n items: largest first, each at the lowest offset (multiple of align) that overlaps no
 * placed item whose lifetime intersects its own. Sets every offset and *total_out (the workspace
 * size). Deterministic. Allocates O(n) scratch with alloc; TFMQ_ERR_OUT_OF_MEMORY if that fails. */
tfmq_status tq_mem_plan(tq_mem_item *items, size_t n, size_t align, const tfmq_allocator *alloc,
                        size_t *total_out);

#endif
