/* fuzz_tf_savedmodel.c: the TensorFlow SavedModel importer (tq_import_tf through
 * tfmq_model_load, then validation by shape inference) on arbitrary saved_model.pb bytes, in a
 * SavedModel folder whose variables/ is fixed and valid: the checkpoint of the tf.Module that
 * the seeds were saved from (fuzz_tf_fixture.h, written by mk_seeds_tf_keras.py), so that seeds
 * convert all the way, variables read from the bundle included. */
#include "fuzz_tf_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool vars_written;
    (void)fuzz_tf_dir();
    if (!vars_written) {
        (void)fuzz_write_file(1, "variables/variables.index", fuzz_tf_index,
                              sizeof(fuzz_tf_index));
        (void)fuzz_write_file(2, "variables/variables.data-00000-of-00001", fuzz_tf_data,
                              sizeof(fuzz_tf_data));
        vars_written = true;
    }
    (void)fuzz_write_file(0, "saved_model.pb", data, size);
    fuzz_tf_load("fuzz_tf_savedmodel");
    return 0;
}
