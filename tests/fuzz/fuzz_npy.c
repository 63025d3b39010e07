/* fuzz_npy.c: the CLI's .npy reader (tools/tfmq/npy.c): npy_parse_header on the bytes in
 * memory, npy_read on them as a file, and a write/read round trip of what was read. */
#include "fuzz_common.h"
#include "npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cli_err e;
    npy_header h;
    tfmq_status hst = npy_parse_header(data, size, &h, &e);
    if (hst == TFMQ_OK && (h.data_offset > size || h.data_bytes != size - h.data_offset)) {
        fprintf(stderr, "fuzz_npy: header says %zu bytes at %zu of %zu\n", h.data_bytes,
                h.data_offset, size);
        abort();
    }
    const char *path = fuzz_write_file(0, "a.npy", data, size);
    npy_array a;
    tfmq_status st = npy_read(path, &a, &e);
    if ((st == TFMQ_OK) != (hst == TFMQ_OK)) {
        abort(); /* the file reader and the in-memory parser must agree */
    }
    if (st != TFMQ_OK) {
        return 0;
    }
    size_t n = 1, es = tfmq_dtype_size(a.dtype);
    for (int32_t d = 0; d < a.rank; d++) {
        n *= (size_t)a.dims[d];
    }
    if (a.rank < 0 || a.rank > NPY_MAX_RANK || n != a.n_elems || n * es != a.data_bytes) {
        abort();
    }
    if (a.data_bytes <= ((size_t)1 << 20)) {
        char out[128];
        (void)snprintf(out, sizeof(out), "%s/b.npy", fuzz_tmpdir());
        (void)snprintf(fuzz_files[1], sizeof(fuzz_files[1]), "%s", out);
        if (npy_write(out, a.dtype, a.rank, a.dims, a.data, a.data_bytes, true, &e) != TFMQ_OK) {
            fprintf(stderr, "fuzz_npy: cannot write back what was read: %s\n", e.msg);
            abort();
        }
        npy_array b;
        if (npy_read(out, &b, &e) != TFMQ_OK) {
            fprintf(stderr, "fuzz_npy: cannot read what npy_write wrote: %s\n", e.msg);
            abort();
        }
        if (b.dtype != a.dtype || b.rank != a.rank ||
            memcmp(b.dims, a.dims, sizeof(int64_t) * (size_t)a.rank) != 0 ||
            b.data_bytes != a.data_bytes ||
            (a.data_bytes && memcmp(a.data, b.data, a.data_bytes) != 0)) {
            fprintf(stderr, "fuzz_npy: the write/read round trip changed the array\n");
            abort();
        }
        npy_free(&b);
    }
    npy_free(&a);
    return 0;
}
