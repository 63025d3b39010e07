/* fuzz_plan_cache.c: the CUDA plan cache's file parser (backends/cuda/plan_cache.c, compiled in
 * every build) on arbitrary bytes, for a cache bound to "NVIDIA H200", sm 90, cuDNN 91900 (the
 * seeds are real files written on that GPU, so mutations reach the entry lines). Oracle: what
 * parses formats back to text that parses again into the same text (a stable round trip), and
 * every allocation through the capped allocator is freed. */
#include "fuzz_common.h"
#include "backends/cuda/plan_cache.h"

static void pc_bind(tq_plan_cache **pc)
{
    *pc = NULL;
    if (tq_plan_cache_create(&fuzz_allocator, NULL, pc) != TFMQ_OK ||
        tq_plan_cache_open(*pc, "NVIDIA H200", 90, 91900) != TFMQ_OK) {
        tq_plan_cache_destroy(*pc);
        *pc = NULL;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tq_plan_cache *pc = NULL, *again = NULL;
    char *text = NULL, *text2 = NULL;
    size_t n_text = 0, n_text2 = 0, n_bad = 0;
    pc_bind(&pc);
    if (pc && tq_plan_cache_parse(pc, (const char *)data, size, true, &n_bad) == TFMQ_OK &&
        tq_plan_cache_format(pc, &text, &n_text) == TFMQ_OK) {
        pc_bind(&again);
        size_t bad2 = 0;
        if (again && tq_plan_cache_parse(again, text, n_text, true, &bad2) == TFMQ_OK &&
            tq_plan_cache_format(again, &text2, &n_text2) == TFMQ_OK) {
            if (bad2 != 0 || n_text2 != n_text || memcmp(text, text2, n_text) != 0) {
                fprintf(stderr, "fuzz_plan_cache: formatted text does not round-trip "
                        "(%zu bad lines)\n", bad2);
                abort();
            }
        }
    }
    if (text) {
        tq_free(&fuzz_allocator, text, n_text + 1);
    }
    if (text2) {
        tq_free(&fuzz_allocator, text2, n_text2 + 1);
    }
    tq_plan_cache_destroy(again);
    tq_plan_cache_destroy(pc);
    tq_clear_error();
    fuzz_check_balance("plan cache");
    return 0;
}
