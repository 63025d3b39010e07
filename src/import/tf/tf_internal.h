/* tf_internal.h: pieces shared by the files of the TensorFlow SavedModel importer (not used
 * outside src/import/tf/): the TensorBundle (variables/) reader and TF DataType mapping.
 * Messages start with "tf: " and name the file (and key or node) they are about. */
#ifndef TQ_TF_INTERNAL_H
#define TQ_TF_INTERNAL_H

#include "ir/ir.h"

/* Largest saved_model.pb / variables.index accepted (hostile input bound). */
#define TQ_TF_MAX_FILE_BYTES ((size_t)1 << 31)

/* One key of variables.index: key bytes copied, value pointing into the index file. */
typedef struct tq_tf_bundle_ent {
    const char *key;       /* NUL-terminated copy (keys are text) */
    size_t key_len;
    const uint8_t *val;    /* serialized BundleEntryProto inside `index` */
    size_t val_len;
} tq_tf_bundle_ent;

/* A TensorBundle: variables/variables.index (an SSTable of BundleEntryProto) plus its data
 * shards variables.data-NNNNN-of-MMMMM. */
typedef struct tq_tf_bundle {
    const tfmq_allocator *alloc;
    char prefix[4096];          /* ".../variables/variables" */
    uint8_t *index;             /* the whole index file */
    size_t index_bytes;
    tq_tf_bundle_ent *ents;     /* sorted by key (SSTable order) */
    size_t n_ents, cap_ents;
    tq_arena keys;              /* key copies */
    int32_t num_shards;
} tq_tf_bundle;

/* Open the bundle at `prefix` (".../variables/variables"): read and verify the index (footer,
 * block CRCs, header entry). Closed with tq_tf_bundle_close even on failure. */
tfmq_status tq_tf_bundle_open(tq_tf_bundle *b, const char *prefix, const tfmq_allocator *alloc);
void tq_tf_bundle_close(tq_tf_bundle *b);
/* Entry of `key`, or NULL. */
const tq_tf_bundle_ent *tq_tf_bundle_find(const tq_tf_bundle *b, const char *key);
/* Read a numeric tensor: dtype and shape into t_out (data NULL), bytes into a new
 * tq_graph_alloc_data block of g (t_out->data), CRC verified. */
tfmq_status tq_tf_bundle_read(const tq_tf_bundle *b, const tq_tf_bundle_ent *e, tq_graph *g,
                              tq_tensor *t_out, size_t *bytes_out);
/* Read a scalar DT_STRING tensor (the object graph): *n_out bytes at *data_out, a tq_alloc
 * block of *n_out + 1 bytes owned by the caller. */
tfmq_status tq_tf_bundle_read_string(const tq_tf_bundle *b, const tq_tf_bundle_ent *e,
                                     uint8_t **data_out, size_t *n_out);

/* Read a whole file (at most max_bytes) into a tq_alloc block of *n_out bytes (+1 spare NUL
 * byte, not counted). Messages name the file. */
tfmq_status tq_tf_read_file(const char *path, const tfmq_allocator *alloc, size_t max_bytes,
                            uint8_t **data_out, size_t *n_out);

/* TF DataType enum -> tfmq dtype; false for types with no tfmq equivalent. */
bool tq_tf_dtype(int32_t tf_dt, tfmq_dtype *out);
/* TensorBundle's CRC masking (crc32c.h of LevelDB/TF). */
static inline uint32_t tq_tf_crc_mask(uint32_t crc)
{
    return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

#endif
