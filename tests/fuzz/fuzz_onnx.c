/* fuzz_onnx.c: the ONNX importer (tq_import_onnx) on arbitrary bytes, through the capped user
 * allocator; everything is freed after each input. */
#include "fuzz_common.h"
#include "import/onnx/onnx_import.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[128];
    (void)snprintf(path, sizeof(path), "%s/model.onnx", fuzz_tmpdir()); /* not written */
    tq_arena arena;
    tq_arena_init(&arena, &fuzz_allocator);
    tq_onnx_meta meta;
    tq_graph *g = NULL;
    tfmq_status st = tq_import_onnx(data, size, path, &arena, &fuzz_allocator, &meta, &g);
    if (st == TFMQ_OK) {
        if (!g) {
            abort(); /* TFMQ_OK must come with a graph */
        }
    } else if (g || tfmq_last_error()[0] == '\0') {
        abort(); /* a failure must leave no graph and must say why */
    }
    (void)tq_onnx_sniff(data, size);
    tq_graph_destroy(g);
    tq_arena_free(&arena);
    fuzz_check_balance("fuzz_onnx");
    return 0;
}
