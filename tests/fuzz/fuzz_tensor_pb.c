/* fuzz_tensor_pb.c: tq_onnx_read_tensor_file (one serialized TensorProto, the conformance
 * suite's input_*.pb) on arbitrary bytes written to a temporary file. */
#include "fuzz_common.h"
#include "import/onnx/onnx_import.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_file(0, "tensor.pb", data, size);
    tq_tensor t;
    void *buf = NULL;
    size_t n_bytes = 0;
    char name[64];
    tfmq_status st = tq_onnx_read_tensor_file(path, &fuzz_allocator, &t, &buf, &n_bytes, name,
                                              sizeof(name));
    if (st == TFMQ_OK) {
        size_t want = 0;
        if (t.rank < 0 || t.rank > TQ_MAX_RANK || !tq_tensor_bytes(&t, &want) || want != n_bytes) {
            fprintf(stderr, "fuzz_tensor_pb: rank %d, %zu bytes returned, shape says %zu\n",
                    (int)t.rank, n_bytes, want);
            abort();
        }
        volatile uint8_t sum = 0; /* touch every byte: ASan checks the buffer's extent */
        for (size_t i = 0; i < n_bytes; i++) {
            sum = (uint8_t)(sum + ((const uint8_t *)buf)[i]);
        }
        (void)sum;
        if (buf) {
            tq_free_aligned(&fuzz_allocator, buf, n_bytes);
        }
    } else if (buf) {
        abort(); /* a failure must return no data */
    }
    fuzz_check_balance("fuzz_tensor_pb");
    return 0;
}
