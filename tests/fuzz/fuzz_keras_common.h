/* fuzz_keras_common.h: shared by the Keras fuzz targets (fuzz_keras, fuzz_keras_config): the
 * sanitizer settings libhdf5 needs, and the load of a written file with its checks. */
#ifndef TFMQ_FUZZ_KERAS_COMMON_H
#define TFMQ_FUZZ_KERAS_COMMON_H

#include "fuzz_common.h"

#include <hdf5.h>

#include "runtime/model.h"

/* LeakSanitizer: libhdf5 (1.10, not instrumented) leaks blocks of its own when it gives up on a
 * corrupt file (e.g. in H5Fopen, decoding the root group's object header). Its frames have no
 * frame pointers, so a leak report names nothing above the library and cannot be told apart by
 * caller: every block malloc'ed inside libhdf5 is exempt. Our own blocks go through the capped
 * allocator (balance checked), and a file left open is caught by H5Fget_obj_count below (objects
 * left open in a closed file are closed with it: tq_kh5_open's close degree is strong); what
 * this misses is HDF5-allocated memory we fail to hand back (variable-length strings:
 * keras_h5.c reclaims them, also after a failed read). README.md: open issues. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libhdf5\n";
}

/* libhdf5 mallocs sizes it decodes from the file before checking them against the file's end
 * (e.g. an object header continuation chunk: H5C_protect allocates the size the continuation
 * message names). Outside the sanitizers malloc fails and HDF5 reports an error; under ASan the
 * default is to abort, and libFuzzer's malloc limit (-rss_limit_mb unless -malloc_limit_mb is
 * given) reports any malloc above it. So: ASan returns NULL as malloc would, and the malloc limit
 * is raised to 1 TiB unless given (our own blocks are capped by fuzz_allocator, 64 MiB). */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static char flag[] = "-malloc_limit_mb=1048576";
    static char *args[256];
    for (int i = 0; i < *argc; i++) {
        if (!strncmp((*argv)[i], "-malloc_limit_mb=", 17)) {
            return 0;
        }
    }
    if (*argc + 2 > (int)(sizeof(args) / sizeof(args[0]))) {
        return 0;
    }
    /* flags may come anywhere before the corpus folders: put it right after the program name */
    args[0] = (*argv)[0];
    args[1] = flag;
    for (int i = 1; i < *argc; i++) {
        args[i + 1] = (*argv)[i];
    }
    args[*argc + 1] = NULL;
    *argc += 1;
    *argv = args;
    return 0;
}

/* tfmq_model_load of `path` (import, then validation by shape inference); a failure must say
 * why and leave no model; afterwards no HDF5 object may be open and the allocator balance must
 * be 0. Replay with FUZZ_VERBOSE=1 prints why each input did not load. */
static void fuzz_keras_load(const char *path, const char *who)
{
    tfmq_load_options lo;
    memset(&lo, 0, sizeof(lo));
    lo.struct_size = sizeof(lo);
    lo.allocator = &fuzz_allocator;
    tfmq_model *m = NULL;
    tfmq_status st = tfmq_model_load(path, &lo, &m);
    if (getenv("FUZZ_VERBOSE")) { /* replay with FUZZ_VERBOSE=1: why each input did not load */
        fprintf(stderr, "%s: %s\n", who, st == TFMQ_OK ? "loaded" : tfmq_last_error());
    }
    if (st == TFMQ_OK) {
        if (!m) {
            abort();
        }
        tfmq_model_destroy(m);
    } else if (m || tfmq_last_error()[0] == '\0') {
        fprintf(stderr, "%s: a failed load returned a model or no message\n", who);
        abort();
    }
    ssize_t open_objs = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
    if (open_objs != 0) {
        fprintf(stderr, "%s: %zd HDF5 objects still open after the import\n", who, open_objs);
        abort();
    }
    fuzz_check_balance(who);
}

#endif /* TFMQ_FUZZ_KERAS_COMMON_H */
