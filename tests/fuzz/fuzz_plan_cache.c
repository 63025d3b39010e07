/* fuzz_plan_cache.c: the CUDA plan cache's file parser (backends/cuda/plan_cache.c, compiled in
 * every build) on arbitrary bytes, for a cache bound to "NVIDIA H200", sm 90, cuDNN 91900 (the
 * seeds are real files written on that GPU, so mutations reach the entry lines). Oracle: what
 * parses formats back to text that parses again into the same text (a stable round trip), and
 * every allocation through the capped allocator is freed. The same bytes also go through the
 * check of serialized-plan files (tq_plan_cache_blob_verify) and the import of an engine's PLANS
 * section payload (tq_plan_cache_import; oracle: export, import and export again, same bytes). */
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
    /* the same bytes as a serialized-plan file (plan_cache.h): verified only when the header
     * is exactly the one this cache writes for what follows */
    size_t off = 0, n_js = 0;
    const char *key = "qconv:s8:n1:c64:h56:w56:k64:r3:s3:g1:st1x1:dl1x1:pb1x1:o56x56:bias1:"
                      "y0..127:tiled0";
    if (pc && tq_plan_cache_blob_verify(pc, key, (const char *)data, size, &off, &n_js)) {
        if (off + n_js != size || off == 0 || data[off - 1] != '\n' ||
            memcmp(data, "tfmq-plan-json 1 sm=90 cudnn=91900 ", 35) != 0) {
            fprintf(stderr, "fuzz_plan_cache: a serialized-plan file verified wrongly\n");
            abort();
        }
    }
    tq_plan_cache_destroy(again);
    tq_plan_cache_destroy(pc);
    /* the same bytes as an engine's PLANS payload: what imports exports to bytes that import
     * again and export the same */
    tq_plan_cache *e1 = NULL, *e2 = NULL;
    uint8_t *x1 = NULL, *x2 = NULL;
    size_t n1 = 0, n2 = 0;
    pc_bind(&e1);
    if (e1 && tq_plan_cache_import(e1, data, size, true) == TFMQ_OK &&
        tq_plan_cache_export(e1, &x1, &n1) == TFMQ_OK) {
        pc_bind(&e2);
        if (e2 && tq_plan_cache_import(e2, x1, n1, true) == TFMQ_OK &&
            tq_plan_cache_export(e2, &x2, &n2) == TFMQ_OK &&
            (n2 != n1 || memcmp(x1, x2, n1) != 0)) {
            fprintf(stderr, "fuzz_plan_cache: an imported PLANS payload does not round-trip\n");
            abort();
        }
    }
    if (x1) {
        tq_free(&fuzz_allocator, x1, n1);
    }
    if (x2) {
        tq_free(&fuzz_allocator, x2, n2);
    }
    tq_plan_cache_destroy(e2);
    tq_plan_cache_destroy(e1);
    char sum[128]; /* tfmq inspect's summary of a PLANS payload: any bytes, bounded text */
    tq_plan_cache_summary(data, size, sum, sizeof(sum));
    if (!memchr(sum, '\0', sizeof(sum))) {
        abort();
    }
    tq_clear_error();
    fuzz_check_balance("plan cache");
    return 0;
}
