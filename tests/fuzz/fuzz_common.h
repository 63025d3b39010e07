/* fuzz_common.h: helpers shared by the fuzz targets (tests/fuzz/fuzz_*.c): a per-process
 * scratch folder under /tmp for the readers that take a path, and a capped allocator so that a
 * hostile file asking for gigabytes gets TFMQ_ERR_OUT_OF_MEMORY instead of tripping libFuzzer's
 * malloc limit. Everything is static: each target is one translation unit. */
#ifndef TFMQ_FUZZ_COMMON_H
#define TFMQ_FUZZ_COMMON_H

#include "tfmq.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Largest single allocation and total live bytes the capped allocator grants. */
#define FUZZ_MAX_ALLOC ((size_t)64 << 20)
#define FUZZ_MAX_LIVE ((size_t)512 << 20)

static char fuzz_dir[64];           /* /tmp/tfmq-fuzz-<pid>-XXXXXX */
static char fuzz_files[4][128];     /* files written there, removed at exit */
static size_t fuzz_live_bytes;

static inline void fuzz_cleanup(void)
{
    for (size_t i = 0; i < sizeof(fuzz_files) / sizeof(fuzz_files[0]); i++) {
        if (fuzz_files[i][0]) {
            (void)unlink(fuzz_files[i]);
        }
    }
    if (fuzz_dir[0]) {
        (void)rmdir(fuzz_dir);
    }
}

/* The scratch folder, created on first use (aborts if /tmp is unusable: no fuzzing then). */
static inline const char *fuzz_tmpdir(void)
{
    if (!fuzz_dir[0]) {
        (void)snprintf(fuzz_dir, sizeof(fuzz_dir), "/tmp/tfmq-fuzz-%ld-XXXXXX", (long)getpid());
        if (!mkdtemp(fuzz_dir)) {
            perror("fuzz: mkdtemp");
            abort();
        }
        (void)atexit(fuzz_cleanup);
    }
    return fuzz_dir;
}

/* Write the bytes to file `slot` (0..3) of the scratch folder, named `name`; returns its path. */
static inline const char *fuzz_write_file(int slot, const char *name, const uint8_t *data,
                                          size_t size)
{
    char *path = fuzz_files[slot];
    (void)snprintf(path, sizeof(fuzz_files[0]), "%s/%s", fuzz_tmpdir(), name);
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror("fuzz: fopen");
        abort();
    }
    if ((size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror("fuzz: write");
        abort();
    }
    return path;
}

static inline void *fuzz_alloc(void *user_data, size_t n_bytes, size_t align)
{
    (void)user_data;
    if (n_bytes > FUZZ_MAX_ALLOC || n_bytes > FUZZ_MAX_LIVE - fuzz_live_bytes) {
        return NULL;
    }
    void *p = NULL;
    if (align < sizeof(void *)) {
        align = sizeof(void *);
    }
    if (posix_memalign(&p, align, n_bytes ? n_bytes : 1) != 0) {
        return NULL;
    }
    fuzz_live_bytes += n_bytes;
    return p;
}

static inline void fuzz_free(void *user_data, void *ptr, size_t n_bytes)
{
    (void)user_data;
    if (ptr) {
        fuzz_live_bytes -= n_bytes;
        free(ptr);
    }
}

__attribute__((unused)) static const tfmq_allocator fuzz_allocator = {NULL, fuzz_alloc,
                                                                      fuzz_free};

/* Called when everything allocated through fuzz_allocator has been freed: a non-zero balance is
 * a leak through the user allocator, or a free() given another size than its alloc(). */
static inline void fuzz_check_balance(const char *where)
{
    if (fuzz_live_bytes != 0) {
        fprintf(stderr, "fuzz: %s: %zu bytes still live through the user allocator "
                "(leak, or free() got another size than alloc())\n", where, fuzz_live_bytes);
        abort();
    }
}

#endif /* TFMQ_FUZZ_COMMON_H */
