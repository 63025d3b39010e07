/* save_engine.c: helper of kill_test.sh (public API only). Loads MODEL, makes version A (the FP32
 * engine) and version B (the FP16 quantization), then:
 *   save_engine MODEL DEST a|b      write version A or B to DEST once (the known references)
 *   save_engine MODEL DEST loop     write B, A, B, A, ... to DEST (overwrite) until killed
 * Every write is tfmq_model_save(..., TFMQ_WRITE_OVERWRITE), which must be atomic: whenever the
 * process dies, DEST holds a complete A or a complete B. Exit status 0, or 1 with a message. */
#include <stdio.h>
#include <string.h>

#include "tfmq.h"

static int die(const char *what)
{
    fprintf(stderr, "save_engine: %s: %s\n", what, tfmq_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: save_engine MODEL DEST a|b|loop\n");
        return 2;
    }
    tfmq_model *a = NULL, *b = NULL;
    if (tfmq_model_load(argv[1], NULL, &a) != TFMQ_OK) {
        return die("load");
    }
    tfmq_quantize_options o;
    memset(&o, 0, sizeof(o));
    o.struct_size = sizeof(o);
    o.precision = TFMQ_PRECISION_FP16;
    if (tfmq_quantize(a, &o, &b, NULL) != TFMQ_OK) {
        return die("quantize fp16");
    }
    int rc = 0;
    if (strcmp(argv[3], "a") == 0 || strcmp(argv[3], "b") == 0) {
        if (tfmq_model_save(argv[3][0] == 'a' ? a : b, argv[2], TFMQ_WRITE_OVERWRITE) !=
            TFMQ_OK) {
            rc = die("save");
        }
    } else if (strcmp(argv[3], "loop") == 0) {
        for (unsigned long i = 0;; i++) {
            if (tfmq_model_save((i & 1) ? a : b, argv[2], TFMQ_WRITE_OVERWRITE) != TFMQ_OK) {
                rc = die("save");
                break;
            }
        }
    } else {
        fprintf(stderr, "save_engine: unknown mode '%s'\n", argv[3]);
        rc = 2;
    }
    tfmq_model_destroy(b);
    tfmq_model_destroy(a);
    return rc;
}
