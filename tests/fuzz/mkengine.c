/* mkengine.c: writes the engine seeds of corpus/fuzz_engine: tfmq_model_load each ONNX model
 * given, then tfmq_model_save it to OUT_DIR/<basename>.tfmq. Not built by CMake; see README.md.
 * Usage: mkengine OUT_DIR MODEL.onnx... */
#include "tfmq.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    int bad = 0;
    for (int i = 2; i < argc; i++) {
        tfmq_model *m = NULL;
        const char *base = strrchr(argv[i], '/');
        char out[512];
        (void)snprintf(out, sizeof(out), "%s/%s.tfmq", argv[1], base ? base + 1 : argv[i]);
        if (tfmq_model_load(argv[i], NULL, &m) != TFMQ_OK ||
            tfmq_model_save(m, out, TFMQ_WRITE_OVERWRITE) != TFMQ_OK) {
            fprintf(stderr, "mkengine: %s: %s\n", argv[i], tfmq_last_error());
            bad = 1;
        }
        tfmq_model_destroy(m);
    }
    return bad;
}
