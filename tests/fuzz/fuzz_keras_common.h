/* fuzz_keras_common.h: shared by the Keras fuzz targets (fuzz_keras, fuzz_keras_config): the
 * load of a written file with its checks. HDF5 is read by our own reader
 * (src/import/keras/h5read.c), instrumented like the rest of the library: no sanitizer
 * exemptions (libhdf5 1.10 needed some; tests/fuzz/README.md). */
#ifndef TFMQ_FUZZ_KERAS_COMMON_H
#define TFMQ_FUZZ_KERAS_COMMON_H

#include "fuzz_common.h"

#include "runtime/model.h"

/* tfmq_model_load of `path` (import, then validation by shape inference); a failure must say
 * why and leave no model; afterwards the allocator balance must be 0 (the HDF5 file and its
 * buffer included). Replay with FUZZ_VERBOSE=1 prints why each input did not load. */
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
    fuzz_check_balance(who);
}

#endif /* TFMQ_FUZZ_KERAS_COMMON_H */
