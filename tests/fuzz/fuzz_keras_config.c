/* fuzz_keras_config.c: the Keras importer's model building (keras_layers.c: JSON config, layer
 * call graph, weight lookup and conversion), then validation by shape inference, on an arbitrary
 * model configuration read beside fixed, valid HDF5 weights, so that mutations reach our code
 * rather than the HDF5 reader (fuzz_keras covers whole files). Input:
 *   "2" + JSON: a Keras 2 .h5 whose model_config is the JSON (up to 8 KiB), holding the weights
 *               of every Keras 2 seed model (layer names are unique across them);
 *   "3" + a selector byte + JSON: a .keras (stored zip: metadata.json, config.json = the JSON,
 *               model.weights.h5 = the weights of Keras 3 seed model (selector - 'a') % count).
 * The fixed files are fuzz_keras_fixture.h (mk_seeds_tf_keras.py). */
#include "fuzz_keras_common.h"

#include <zip.h>

#include "fuzz_keras_fixture.h"

static const char *write_h5(const uint8_t *json, size_t n)
{
    static uint8_t *image;
    static size_t mark_at;
    const size_t img_n = sizeof(fuzz_keras_k2_h5);
    if (!image) {
        image = malloc(img_n);
        const size_t ml = strlen(FUZZ_KERAS_CONFIG_MARK);
        for (mark_at = 0; mark_at + FUZZ_KERAS_CONFIG_BYTES <= img_n; mark_at++) {
            if (memcmp(fuzz_keras_k2_h5 + mark_at, FUZZ_KERAS_CONFIG_MARK, ml) == 0) {
                break;
            }
        }
        if (!image || mark_at + FUZZ_KERAS_CONFIG_BYTES > img_n) {
            fprintf(stderr, "fuzz_keras_config: no model_config marker in the fixture\n");
            abort();
        }
        memcpy(image, fuzz_keras_k2_h5, img_n);
    }
    if (n > FUZZ_KERAS_CONFIG_BYTES) {
        n = FUZZ_KERAS_CONFIG_BYTES;
    }
    memcpy(image + mark_at, json, n);
    memset(image + mark_at + n, 0, FUZZ_KERAS_CONFIG_BYTES - n);
    return fuzz_write_file(0, "model.h5", image, img_n);
}

static const char *write_keras(uint8_t sel, const uint8_t *json, size_t n)
{
    const size_t n_w = sizeof(fuzz_keras_k3_weights) / sizeof(fuzz_keras_k3_weights[0]);
    sel = (uint8_t)((uint8_t)(sel - 'a') % n_w);
    const char *path = fuzz_write_file(1, "model.keras", NULL, 0); /* registered for cleanup */
    int err = 0;
    zip_t *z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &err);
    if (!z) {
        fprintf(stderr, "fuzz_keras_config: zip_open: %d\n", err);
        abort();
    }
    const struct {
        const char *name;
        const void *p;
        size_t n;
    } members[] = {
        {"metadata.json", fuzz_keras_k3_meta, sizeof(fuzz_keras_k3_meta)},
        {"config.json", json, n},
        {"model.weights.h5", fuzz_keras_k3_weights[sel].p, fuzz_keras_k3_weights[sel].n},
    };
    for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
        zip_source_t *src = zip_source_buffer(z, members[i].p, members[i].n, 0);
        zip_int64_t idx = src ? zip_file_add(z, members[i].name, src, ZIP_FL_OVERWRITE) : -1;
        if (idx < 0 || zip_set_file_compression(z, (zip_uint64_t)idx, ZIP_CM_STORE, 0) != 0) {
            fprintf(stderr, "fuzz_keras_config: zip: %s\n", zip_strerror(z));
            abort();
        }
    }
    if (zip_close(z) != 0) {
        fprintf(stderr, "fuzz_keras_config: zip_close: %s\n", zip_strerror(z));
        abort();
    }
    return path;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path;
    if (size >= 1 && data[0] == '2') {
        path = write_h5(data + 1, size - 1);
    } else if (size >= 2 && data[0] == '3') {
        path = write_keras(data[1], data + 2, size - 2);
    } else {
        return 0;
    }
    fuzz_keras_load(path, "fuzz_keras_config");
    return 0;
}
