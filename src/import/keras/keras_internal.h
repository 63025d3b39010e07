/* keras_internal.h: shared by the Keras importer's files. keras_h5.c reads HDF5 (string
 * attributes, float datasets) through our own reader (h5read.h); keras_import.c parses the JSON
 * config and builds the IR. Every buffer handed out here is tq_alloc'ed and owned by the
 * caller. */
#ifndef TQ_KERAS_INTERNAL_H
#define TQ_KERAS_INTERNAL_H

#include "import/keras/h5read.h"
#include "ir/ir.h"

/* Largest single JSON/string attribute and .keras member we read (a hostile file cannot make us
 * allocate more). */
#define TQ_KERAS_MAX_TEXT_BYTES ((size_t)64 << 20)
#define TQ_KERAS_MAX_FILE_BYTES ((size_t)2 << 30)

/* A list of strings read from an attribute: n NUL-terminated strings packed into one block. */
typedef struct tq_kstrs {
    char *buf;          /* tq_alloc'ed, buf_bytes bytes */
    size_t buf_bytes;
    const char **s;     /* tq_alloc'ed, n entries pointing into buf */
    size_t n;
} tq_kstrs;

void tq_kstrs_free(const tfmq_allocator *a, tq_kstrs *l);

/* A float32 array read from a dataset (converted from the stored float type). */
typedef struct tq_kw {
    float *data;        /* tq_alloc'ed, n elements (at least one byte allocated) */
    size_t n;
    int32_t rank;
    int64_t dims[TQ_MAX_RANK];
} tq_kw;

void tq_kw_free(const tfmq_allocator *a, tq_kw *w);

/* Open an HDF5 file read-only from a path (read into memory, at most TQ_KERAS_MAX_FILE_BYTES),
 * or from a memory image when image != NULL (borrowed: it must outlive the file). */
tfmq_status tq_kh5_open(const tfmq_allocator *a, const char *path, const void *image,
                        size_t image_bytes, tq_h5_file **f_out);
/* Whether attribute `name` exists on object loc (false on error). */
bool tq_kh5_has_attr(tq_h5_obj loc, const char *name);
/* Read string attribute `name` of loc (scalar or 1-D, fixed or variable length). Attributes that
 * Keras split into chunks "name0", "name1", ... are joined. `what` names the object for messages. */
tfmq_status tq_kh5_read_strs(const tfmq_allocator *a, tq_h5_obj loc, const char *name,
                             const char *what, tq_kstrs *out);
/* Read dataset `path` (relative to loc) as float32. */
tfmq_status tq_kh5_read_f32(const tfmq_allocator *a, tq_h5_obj loc, const char *path,
                            const char *what, tq_kw *out);
/* Whether a link `path` exists under loc (false on error). */
bool tq_kh5_exists(tq_h5_obj loc, const char *path);
/* Open group `path` under loc (a message naming `what` when missing or unreadable). */
tfmq_status tq_kh5_open_group(tq_h5_obj loc, const char *path, const char *what, tq_h5_obj *out);

#endif
