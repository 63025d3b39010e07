/* model.h: the internals of tfmq_model, shared by model.c and session.c. */
#ifndef TQ_MODEL_H
#define TQ_MODEL_H

#include "import/onnx/onnx_import.h"
#include "ir/ir.h"
#include "runtime/exec.h"

struct tfmq_model {
    tfmq_allocator alloc;          /* copy of the user's allocator */
    const tfmq_allocator *palloc;  /* &alloc, or NULL for the C library */
    tq_arena arena;                /* IR objects */
    tq_graph *graph;
    const char *format;            /* "onnx" */
    tq_onnx_meta meta;
    uint32_t *op_types;            /* distinct ops, first-appearance order */
    size_t *op_counts;
    size_t n_op_types;
    uint64_t n_params;
    uint64_t n_macs;
    const char *precision;         /* "fp32" unless quantized (then set by quant/ or the engine) */
    const char *device;            /* device class of an engine ("cpu", "cuda"), "" for model files */
    const uint8_t *plans;          /* "cuda" engines: the PLANS section (in the mapping), else NULL */
    size_t plans_bytes;
    const char *path;              /* the file it was loaded from (arena), or NULL */
    const char *planned_for;       /* "cuda" engines: the PLANS header summarized (arena) */
    uint32_t content_hash;         /* CRC-32C of the file's bytes (calibration caches check it) */
    void *mapping;                 /* engine files: the read-only mmap constants point into */
    size_t mapping_bytes;
};

/* Importers of other formats (import/keras, import/tf). Each fills m->graph (over m->arena),
 * m->meta and m->format; `signature` selects a SavedModel signature (NULL: serving_default). */
bool tq_keras_sniff(const void *head, size_t n_head);
tfmq_status tq_import_keras(const char *path, tfmq_model *m);
bool tq_tf_is_saved_model(const char *path);
tfmq_status tq_import_tf(const char *path, const char *signature, tfmq_model *m);

/* Finish a model whose graph is set: op histogram, parameter count, validation by planning with
 * symbolic dims as 1, MACs. Used by tfmq_model_load and by producers of new models
 * (tfmq_quantize, the engine reader). `path` is for messages. */
tfmq_status tq_model_finish(tfmq_model *m, const char *path);
/* An empty model using allocator `alloc` (may be NULL), for producers of new models. */
tfmq_status tq_model_new(const tfmq_allocator *alloc, tfmq_model **m_out);

/* The file's input shapes with symbolic dims set to sym; shapes has graph->n_inputs entries. */
tfmq_status tq_model_default_shapes(const tfmq_model *m, int64_t sym, tq_tensor *shapes);

#endif
