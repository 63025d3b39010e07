/* fuzz_engine.c: tfmq_model_load on arbitrary bytes written to a temporary file: the engine
 * reader when the magic matches ("TFMQ"), then a session run when it loads. The engine's
 * CRC-32C would stop almost every mutation at the checksum, so unless the input's byte 12 is
 * 0xFF (keeping the file's own CRC, to exercise the check) the target rewrites the CRC field
 * of engine-looking inputs to the value that matches, and the fuzzer reaches the parser. */
#include "fuzz_run_common.h"

#include "core/core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) {
        abort();
    }
    if (size) {
        memcpy(copy, data, size);
    }
    if (size >= 64 && memcmp(copy, "TFMQ", 4) == 0 && copy[12] != 0xFF) {
        uint32_t crc = tq_crc32c(0, copy, 12);
        crc = tq_crc32c(crc, copy + 16, size - 16);
        for (int i = 0; i < 4; i++) {
            copy[12 + i] = (uint8_t)(crc >> (8 * i));
        }
    }
    const char *path = fuzz_write_file(0, "model.tfmq", copy, size);
    free(copy);
    tfmq_load_options lo;
    memset(&lo, 0, sizeof(lo));
    lo.struct_size = sizeof(lo);
    lo.allocator = &fuzz_allocator;
    tfmq_model *m = NULL;
    if (tfmq_model_load(path, &lo, &m) == TFMQ_OK) {
        fuzz_run_model(m);
        tfmq_model_destroy(m);
    } else if (m) {
        abort();
    }
    fuzz_check_balance("fuzz_engine");
    return 0;
}
