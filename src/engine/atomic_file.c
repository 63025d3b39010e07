/* atomic_file.c: crash-safe file replacement for engines and ONNX exports (atomic_file.h).
 * The temporary file lives in the destination folder so rename() never crosses file systems;
 * every failure path unlinks it, so no "*.tmp.*" file outlives a call. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>
#include <unistd.h>

#include "engine/atomic_file.h"

static void tq_atomic_release(tq_atomic_file *f)
{
    if (f->tmp_path) {
        tq_free(f->alloc, f->tmp_path, f->tmp_bytes);
    }
    f->tmp_path = NULL;
    f->fd = -1;
}

tfmq_status tq_atomic_open(tq_atomic_file *f, const tfmq_allocator *alloc, const char *path,
                           uint32_t flags)
{
    struct stat sb;
    memset(f, 0, sizeof(*f));
    f->fd = -1;
    f->alloc = alloc;
    f->path = path;
    f->overwrite = (flags & TFMQ_WRITE_OVERWRITE) != 0;
    if (!path || !path[0]) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "write: empty path");
    }
    if (lstat(path, &sb) == 0) {
        if (!f->overwrite) {
            return tq_fail(TFMQ_ERR_IO, "%s: exists (use overwrite)", path);
        }
        if (S_ISDIR(sb.st_mode)) {
            return tq_fail(TFMQ_ERR_IO, "%s: is a folder", path);
        }
    }
    size_t n = strlen(path);
    if (!tq_add_size(n, sizeof(".tmp.XXXXXX"), &f->tmp_bytes)) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "write: path too long");
    }
    f->tmp_path = tq_alloc(alloc, f->tmp_bytes);
    if (!f->tmp_path) {
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    snprintf(f->tmp_path, f->tmp_bytes, "%s.tmp.XXXXXX", path);
    f->fd = mkstemp(f->tmp_path);
    if (f->fd < 0) {
        int e = errno;
        tq_atomic_release(f);
        return tq_fail(TFMQ_ERR_IO, "%s: cannot create a temporary file in its folder: %s", path,
                       strerror(e));
    }
    /* mkstemp makes 0600; a model file is as readable as any other file the user writes */
    (void)fchmod(f->fd, 0644);
    return TFMQ_OK;
}

tfmq_status tq_atomic_write(tq_atomic_file *f, const void *data, size_t n)
{
    const uint8_t *p = data;
    while (n > 0) {
        size_t chunk = n > ((size_t)1 << 30) ? ((size_t)1 << 30) : n;
        ssize_t w = write(f->fd, p, chunk);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return tq_fail(TFMQ_ERR_IO, "%s: write failed: %s", f->path, strerror(errno));
        }
        if (w == 0) {
            return tq_fail(TFMQ_ERR_IO, "%s: write failed (no progress)", f->path);
        }
        p += (size_t)w;
        n -= (size_t)w;
    }
    return TFMQ_OK;
}

tfmq_status tq_atomic_pad(tq_atomic_file *f, uint64_t *pos, size_t align)
{
    static const uint8_t zeros[64];
    while (*pos % align != 0) {
        size_t k = (size_t)(align - *pos % align);
        k = k > sizeof(zeros) ? sizeof(zeros) : k;
        tfmq_status st = tq_atomic_write(f, zeros, k);
        if (st != TFMQ_OK) {
            return st;
        }
        *pos += k;
    }
    return TFMQ_OK;
}

void tq_atomic_abort(tq_atomic_file *f)
{
    if (f->fd >= 0) {
        close(f->fd);
        f->fd = -1;
    }
    if (f->tmp_path) {
        unlink(f->tmp_path);
    }
    tq_atomic_release(f);
}

/* fsync the folder holding path, so the rename itself is durable. Best effort: some file
 * systems refuse fsync on folders, which is no reason to fail a write that succeeded. */
static void tq_sync_folder(const tq_atomic_file *f)
{
    const char *slash = strrchr(f->path, '/');
    char *dir = NULL;
    size_t n = slash ? (size_t)(slash - f->path) : 1;
    if (n == 0) {
        n = 1; /* "/name" */
    }
    dir = tq_alloc(f->alloc, n + 1);
    if (!dir) {
        return;
    }
    if (slash) {
        memcpy(dir, f->path, n);
        dir[n] = '\0';
    } else {
        dir[0] = '.';
        dir[1] = '\0';
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    tq_free(f->alloc, dir, n + 1);
}

tfmq_status tq_atomic_commit(tq_atomic_file *f)
{
    tfmq_status st = TFMQ_OK;
    if (fsync(f->fd) != 0) {
        st = tq_fail(TFMQ_ERR_IO, "%s: fsync failed: %s", f->path, strerror(errno));
        goto fail;
    }
    int rc = close(f->fd);
    f->fd = -1;
    if (rc != 0) {
        st = tq_fail(TFMQ_ERR_IO, "%s: close failed: %s", f->path, strerror(errno));
        goto fail;
    }
    if (!f->overwrite) {
        /* link() refuses to replace an existing file, closing the race with the check in
         * tq_atomic_open; file systems without hard links fall back to rename */
        if (link(f->tmp_path, f->path) == 0) {
            unlink(f->tmp_path);
            goto done;
        }
        if (errno == EEXIST) {
            st = tq_fail(TFMQ_ERR_IO, "%s: exists (use overwrite)", f->path);
            goto fail;
        }
        struct stat sb;
        if (lstat(f->path, &sb) == 0) {
            st = tq_fail(TFMQ_ERR_IO, "%s: exists (use overwrite)", f->path);
            goto fail;
        }
    }
    if (rename(f->tmp_path, f->path) != 0) {
        st = tq_fail(TFMQ_ERR_IO, "%s: cannot rename the temporary file into place: %s",
                     f->path, strerror(errno));
        goto fail;
    }
done:
    tq_sync_folder(f);
    tq_atomic_release(f);
    return TFMQ_OK;
fail:
    tq_atomic_abort(f);
    return st;
}
