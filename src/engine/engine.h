/* engine.h: the compiled-engine file (.tfmq): writer, reader and format detection. The byte
 * layout is specified in format.h and docs/FORMAT.md. */
#ifndef TQ_ENGINE_H
#define TQ_ENGINE_H

#include "runtime/model.h"

/* True if the file at path starts with the engine magic ("TFMQ"). Never fails loudly: an
 * unreadable file gives false and the normal loader reports the error. */
bool tq_engine_sniff_file(const char *path);

/* Read the engine at path into the empty model m (made by tq_model_new): map the file read-only,
 * verify size, version and checksum before trusting any byte, and build m->graph whose constant
 * data points into the mapping (m->mapping owns it). Also sets m->precision, m->device,
 * m->meta, m->content_hash. The caller then runs tq_model_finish. */
tfmq_status tq_engine_load(const char *path, tfmq_model *m);

/* Write model as an engine for device class `device` (NULL or "": "cpu"); "cuda" engines carry
 * plans (plans_bytes of a PLANS section payload, backends/cuda/plan_cache.h), others none.
 * tfmq_model_save is this with the model's own device and plans. */
tfmq_status tq_engine_save(const tfmq_model *model, const char *path, uint32_t flags,
                           const char *device, const uint8_t *plans, size_t plans_bytes);

#endif
