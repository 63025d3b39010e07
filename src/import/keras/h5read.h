/* h5read.h: a small read-only HDF5 reader, strictly bounds-checked, for the files Keras and h5py
 * write (src/import/keras/h5read.c says what is read and what is refused). The whole file is in
 * memory (read from a path, or a borrowed image); every structure is decoded from that buffer
 * with its extent checked first, every size from the file goes through checked arithmetic and
 * limits, and every walk (continuation chunks, B-trees, heaps) is bounded. Errors are statuses
 * with a message (tq_fail) that names the structure and the problem; callers prefix the object.
 * Handles: a tq_h5_file owns its buffer (or borrows the image); a tq_h5_obj is a plain value (the
 * file and an object header address) that needs no closing. */
#ifndef TQ_H5READ_H
#define TQ_H5READ_H

#include "core/core.h"

#define TQ_H5_MAX_RANK 32 /* HDF5's own limit on a dataspace's rank */

typedef struct tq_h5_file tq_h5_file;

/* An object (group or dataset): its object header's address in the file. */
typedef struct tq_h5_obj {
    tq_h5_file *f;
    uint64_t addr;
} tq_h5_obj;

/* A datatype, as far as this reader converts it. */
typedef enum tq_h5_class {
    TQ_H5_INT = 0,       /* fixed-point */
    TQ_H5_FLOAT = 1,     /* IEEE binary16/32/64 */
    TQ_H5_STRING = 3,    /* fixed-length string */
    TQ_H5_VLSTRING = 9,  /* variable-length string (global heap) */
    TQ_H5_OTHER = 15,    /* anything else: readable as nothing */
} tq_h5_class;

typedef struct tq_h5_type {
    tq_h5_class cls;
    uint32_t hdf5_class; /* the class number in the file */
    size_t size;         /* bytes per element in the file */
    bool big_endian;
    bool is_signed;      /* fixed-point */
    unsigned strpad;     /* strings: 0 NUL-terminated, 1 NUL-padded, 2 space-padded */
} tq_h5_type;

typedef struct tq_h5_space {
    unsigned kind;       /* 0 scalar, 1 simple, 2 null (no elements) */
    unsigned rank;
    uint64_t dims[TQ_H5_MAX_RANK];
    uint64_t n_points;   /* product of dims (fits size_t and TQ_MAX_TENSOR_BYTES checks later) */
} tq_h5_space;

/* An attribute found on an object; data points into the file's buffer. */
typedef struct tq_h5_attr {
    tq_h5_file *f;
    tq_h5_type type;
    tq_h5_space space;
    const uint8_t *data;
    size_t data_bytes;   /* n_points x type.size, checked to lie inside the message */
} tq_h5_attr;

/* A dataset's header, decoded (tq_h5_dset_open); pointers point into the file's buffer. */
typedef struct tq_h5_dset {
    tq_h5_file *f;
    tq_h5_type type;
    tq_h5_space space;
    unsigned layout;            /* 0 compact, 1 contiguous, 2 chunked (version 3, v1 B-tree) */
    const uint8_t *compact;     /* compact: the data */
    uint64_t compact_bytes;
    uint64_t addr;              /* contiguous: data address (UINT64_MAX: never written), or the
                                 * chunk B-tree's */
    uint64_t stored_bytes;      /* contiguous: bytes stored */
    unsigned chunk_rank;        /* chunked: the dataspace's rank (the layout holds one more) */
    uint32_t chunk_dims[TQ_H5_MAX_RANK];
    const uint8_t *pline;       /* filter pipeline message, or NULL */
    size_t pline_bytes;
} tq_h5_dset;

/* Open `path` read-only: the whole file is read into memory (at most max_bytes). */
tfmq_status tq_h5_open_path(const tfmq_allocator *a, const char *path, size_t max_bytes,
                            tq_h5_file **f_out);
/* Open a memory image (borrowed: it must outlive the file). */
tfmq_status tq_h5_open_image(const tfmq_allocator *a, const void *image, size_t n_bytes,
                             tq_h5_file **f_out);
/* Close; NULL does nothing. */
void tq_h5_close(tq_h5_file *f);
tq_h5_obj tq_h5_root(tq_h5_file *f);

/* Follow `path` ("a/b/c", relative to loc; empty components ignored) through hard links.
 * TFMQ_OK with *found false when a component is missing; an error for a corrupt structure or
 * one not supported (soft or external link, dense link storage). */
tfmq_status tq_h5_lookup(tq_h5_obj loc, const char *path, bool *found, tq_h5_obj *out);

/* Call fn for each link of group `grp` (name not NUL-terminated, `len` bytes; addr is
 * UINT64_MAX for a link that is not a hard link). fn returns true to stop. */
typedef bool (*tq_h5_link_fn)(void *ud, const char *name, size_t len, tq_h5_obj obj);
tfmq_status tq_h5_links(tq_h5_obj grp, tq_h5_link_fn fn, void *ud);

/* What obj is: 1 a dataset (it has a layout message), 0 anything else (a group). */
tfmq_status tq_h5_is_dataset(tq_h5_obj obj, bool *is_dataset);

/* Find attribute `name` of loc: TFMQ_OK with *found false when it has none by that name. */
tfmq_status tq_h5_attr_find(tq_h5_obj loc, const char *name, bool *found, tq_h5_attr *out);

/* Call fn for each element of a string attribute (fixed or variable length), in order; the
 * string is cut at its first NUL (fixed: also its padding). Refuses other types. */
typedef tfmq_status (*tq_h5_str_fn)(void *ud, const char *s, size_t len);
tfmq_status tq_h5_attr_strings(const tq_h5_attr *at, tq_h5_str_fn fn, void *ud);

/* Decode the dataset at obj (dataspace, datatype, layout, filters); refuses what cannot be read
 * (external or virtual storage, chunk indexes other than the version 1 B-tree, unknown filters,
 * storage smaller than the dataspace, data past the end of the file). */
tfmq_status tq_h5_dset_open(tq_h5_obj obj, tq_h5_dset *out);
/* Read all n_points elements as float32 (from IEEE f16/f32/f64 or integers, either byte order)
 * into dst, which holds d->space.n_points floats. Unwritten storage reads as 0. */
tfmq_status tq_h5_dset_read_f32(const tq_h5_dset *d, float *dst);

/* HDF5's metadata checksum (Bob Jenkins' lookup3 hashlittle, initval 0). */
uint32_t tq_h5_checksum(const void *data, size_t n);

#endif
