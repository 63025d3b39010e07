/* keras_build.h: the Keras model config (parsed JSON) -> IR graph step, shared by keras_import.c
 * (files) and keras_layers.c (the conversion). */
#ifndef TQ_KERAS_BUILD_H
#define TQ_KERAS_BUILD_H

#include "import/keras/keras_internal.h"

typedef struct cJSON cJSON;

typedef struct tq_kbuild {
    const tfmq_allocator *alloc;
    tq_graph *g;        /* empty graph to fill (not finalized) */
    int keras_major;    /* 2 or 3: activations whose definition changed (hard_sigmoid) */
    const tq_h5_obj *wroot; /* group of the weights, or NULL when the file has none */
    bool v3_weights;    /* layers/<name>/vars/<i> (Keras 3 weights file) instead of weight_names */
} tq_kbuild;

/* Build the graph of `model_config` (the top-level {"class_name", "config"} object): inputs,
 * nodes, constants and outputs. Messages read "keras: layer 'x' (Class): ...". */
tfmq_status tq_keras_build(tq_kbuild *b, const cJSON *model_config);

#endif
