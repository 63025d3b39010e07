/* npy.h: NumPy .npy reader and writer for the CLI (format versions 1.0, 2.0 and 3.0,
 * little-endian, C order). See numpy/lib/format.py for the format's definition. */
#ifndef TFMQ_CLI_NPY_H
#define TFMQ_CLI_NPY_H

#include "cli_util.h"
#include "tfmq.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NPY_MAX_RANK 32

/* Largest header we accept (numpy writes < 100 bytes for normal shapes). */
#define NPY_MAX_HEADER_BYTES ((size_t)1 << 20)

/* An array read from a .npy file. */
typedef struct npy_array {
    tfmq_dtype dtype;
    int32_t rank;
    int64_t dims[NPY_MAX_RANK];
    size_t n_elems;
    size_t data_bytes;
    void *data; /* malloc'd (aligned for every dtype), free with npy_free() */
} npy_array;

/* Result of parsing the header of a .npy image held in memory. */
typedef struct npy_header {
    tfmq_dtype dtype;
    int32_t rank;
    int64_t dims[NPY_MAX_RANK];
    size_t n_elems;
    size_t data_bytes;
    size_t data_offset; /* where the array data starts in the file */
} npy_header;

/* Parse and validate the magic, version and header dictionary of the `n_bytes` at `buf`, and
 * check that exactly data_bytes of array data follow. Never reads outside buf.
 * @return TFMQ_OK, or TFMQ_ERR_PARSE (malformed), _UNSUPPORTED (big-endian, Fortran order,
 *         object, string or structured dtypes), _VERSION (unknown format version). */
tfmq_status npy_parse_header(const uint8_t *buf, size_t n_bytes, npy_header *hdr, cli_err *e);

/* Read a .npy file. On failure `out` is zeroed. */
tfmq_status npy_read(const char *path, npy_array *out, cli_err *e);

/* Free the data of an array (NULL-safe) and zero it. */
void npy_free(npy_array *a);

/* Numpy descr string ("<f4", "|u1", ...) for a dtype, or NULL if .npy has no equivalent. */
const char *npy_descr(tfmq_dtype dtype);

/* Write an array to `path` as .npy (version 1.0, or 2.0 when the header needs it), atomically.
 * Without `overwrite` an existing file is an error (TFMQ_ERR_IO). */
tfmq_status npy_write(const char *path, tfmq_dtype dtype, int32_t rank, const int64_t *dims,
                      const void *data, size_t data_bytes, bool overwrite, cli_err *e);

#endif /* TFMQ_CLI_NPY_H */
