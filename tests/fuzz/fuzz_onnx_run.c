/* fuzz_onnx_run.c: tfmq_model_load on arbitrary bytes (ONNX import, validation by shape
 * inference), then for small graphs a session run on deterministic inputs (shape inference and
 * kernels see hostile shapes and attributes), and an engine round trip (tfmq_model_save, then
 * tfmq_model_load of the engine) for every model that loads. */
#include "fuzz_run_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_file(0, "model.onnx", data, size);
    tfmq_load_options lo;
    memset(&lo, 0, sizeof(lo));
    lo.struct_size = sizeof(lo);
    lo.allocator = &fuzz_allocator;
    tfmq_model *m = NULL;
    if (tfmq_model_load(path, &lo, &m) != TFMQ_OK) {
        if (m) {
            abort();
        }
        fuzz_check_balance("fuzz_onnx_run: failed load");
        return 0;
    }
    fuzz_run_model(m);
    char eng[128];
    (void)snprintf(eng, sizeof(eng), "%s/model.tfmq", fuzz_tmpdir());
    (void)snprintf(fuzz_files[1], sizeof(fuzz_files[1]), "%s", eng);
    if (tfmq_model_save(m, eng, TFMQ_WRITE_OVERWRITE) == TFMQ_OK) {
        tfmq_model *m2 = NULL;
        if (tfmq_model_load(eng, &lo, &m2) != TFMQ_OK) {
            /* an engine tfmq just wrote must load */
            fprintf(stderr, "fuzz_onnx_run: the saved engine does not load: %s\n",
                    tfmq_last_error());
            abort();
        }
        tfmq_model_destroy(m2);
    }
    tfmq_model_destroy(m);
    fuzz_check_balance("fuzz_onnx_run");
    return 0;
}
