/* fuzz_tf_common.h: the SavedModel folder shared by fuzz_tf_savedmodel and fuzz_tf_bundle: the
 * per-process scratch folder of fuzz_common.h is itself the SavedModel (saved_model.pb in file
 * slot 0, variables/variables.index in slot 1, variables/variables.data-00000-of-00001 in slot
 * 2), loaded with tfmq_model_load (import, then validation by shape inference; no session). */
#ifndef TFMQ_FUZZ_TF_COMMON_H
#define TFMQ_FUZZ_TF_COMMON_H

#include "fuzz_common.h"

#include <errno.h>

#include "fuzz_tf_fixture.h"

static char fuzz_tf_vars[96];

/* Runs before fuzz_cleanup (atexit order is reversed): variables/ must be empty to go. */
static void fuzz_tf_cleanup(void)
{
    for (int i = 1; i <= 2; i++) {
        if (fuzz_files[i][0]) {
            (void)unlink(fuzz_files[i]);
            fuzz_files[i][0] = '\0';
        }
    }
    if (fuzz_tf_vars[0]) {
        (void)rmdir(fuzz_tf_vars);
    }
}

/* The SavedModel folder, with its variables/ subfolder. */
static const char *fuzz_tf_dir(void)
{
    const char *dir = fuzz_tmpdir();
    if (!fuzz_tf_vars[0]) {
        (void)snprintf(fuzz_tf_vars, sizeof(fuzz_tf_vars), "%s/variables", dir);
        if (mkdir(fuzz_tf_vars, 0700) != 0 && errno != EEXIST) {
            perror("fuzz: mkdir");
            abort();
        }
        (void)atexit(fuzz_tf_cleanup);
    }
    return dir;
}

/* tfmq_model_load of the folder; failures must say why and leave no model. */
static void fuzz_tf_load(const char *who)
{
    tfmq_load_options lo;
    memset(&lo, 0, sizeof(lo));
    lo.struct_size = sizeof(lo);
    lo.allocator = &fuzz_allocator;
    tfmq_model *m = NULL;
    tfmq_status st = tfmq_model_load(fuzz_tf_dir(), &lo, &m);
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

#endif /* TFMQ_FUZZ_TF_COMMON_H */
