/* atomic_file.h: write a file so that its path holds either its old content or the complete new
 * file: a temporary "<path>.tmp.XXXXXX" in the same folder, written, fsynced, renamed over path,
 * then the folder fsynced. Used by the engine writer and the ONNX exporter. */
#ifndef TQ_ATOMIC_FILE_H
#define TQ_ATOMIC_FILE_H

#include "core/core.h"

typedef struct tq_atomic_file {
    const tfmq_allocator *alloc;
    const char *path;     /* borrowed: the final path */
    char *tmp_path;       /* tq_alloc'd, tmp_bytes long; NULL when none */
    size_t tmp_bytes;
    int fd;               /* of the temporary file, -1 when closed */
    bool overwrite;
} tq_atomic_file;

/* Create the temporary file. If path exists and !(flags & TFMQ_WRITE_OVERWRITE): TFMQ_ERR_IO
 * "exists (use overwrite)". On failure nothing is left behind and f needs no abort. */
tfmq_status tq_atomic_open(tq_atomic_file *f, const tfmq_allocator *alloc, const char *path,
                           uint32_t flags);
/* Append n bytes. On failure the caller calls tq_atomic_abort. */
tfmq_status tq_atomic_write(tq_atomic_file *f, const void *data, size_t n);
/* Append zero bytes until `pos` (the current size) is a multiple of align; updates *pos. */
tfmq_status tq_atomic_pad(tq_atomic_file *f, uint64_t *pos, size_t align);
/* fsync, close, rename over path, fsync the folder. The temporary file is removed on failure,
 * and f is released either way. */
tfmq_status tq_atomic_commit(tq_atomic_file *f);
/* Close and remove the temporary file; f is released. Safe on a released f. */
void tq_atomic_abort(tq_atomic_file *f);

#endif
