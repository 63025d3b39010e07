/* cudnn_plan.h: the cuDNN side of the plan cache (plan_cache.h), shared by conv.c and qconv.c:
 * the knob choices of an engine config, and an execution plan rebuilt from a recorded choice
 * (engine by global index + knob choices -> engine config -> plan) without heuristics. Includes
 * cudnn.h: for the backend's host .c files only. */
#ifndef TQ_CUDA_CUDNN_PLAN_H
#define TQ_CUDA_CUDNN_PLAN_H

#include "backends/cuda/plan_cache.h"

#include <cudnn.h>

/* A kernel's list of the cuDNN descriptors it owns (destroyed with the kernel): descriptors made
 * here are appended to it, so that a plan's engine config and knob choices live as long as the
 * plan does. */
typedef struct tq_cudnn_owner {
    cudnnBackendDescriptor_t *descs;
    int32_t *n_descs;
    int32_t cap;
} tq_cudnn_owner;

/* Read the knob choices of a finalized engine config into c->knobs / c->n_knobs. false (and
 * n_knobs 0) when cuDNN does not report them or there are more than TQ_PC_MAX_KNOBS: such a
 * choice cannot be rebuilt and is not cached. */
bool tq_cudnn_cfg_knobs(cudnnBackendDescriptor_t cfg, tq_pc_choice *c);

/* Build the execution plan of c (c->engine >= 0, its knob choices) for the finalized operation
 * graph: *cfg_out its engine config (for numerical checks), *plan_out the finalized plan,
 * *ws_out its workspace (at most max_ws bytes). On failure every descriptor made here is
 * destroyed and taken off the owner's list again, and the cuDNN status returned. */
cudnnStatus_t tq_cudnn_plan_from_choice(const tq_cudnn_owner *own, cudnnHandle_t handle,
                                        cudnnBackendDescriptor_t graph, const tq_pc_choice *c,
                                        int64_t max_ws, cudnnBackendDescriptor_t *cfg_out,
                                        cudnnBackendDescriptor_t *plan_out, int64_t *ws_out);

/* The plan kept for key as cuDNN's JSON beside the plan cache (plan_cache.h, "serialized plans"),
 * made and finalized on the owner's list: *plan_out, *ws_out its workspace (at most max_ws).
 * *plan_out NULL (status OK) when none is kept or cuDNN refuses it (why: TFMQ_LOG_DEBUG, naming
 * `label`). Returns TFMQ_OK or TFMQ_ERR_OUT_OF_MEMORY. */
tfmq_status tq_cudnn_plan_load_kept(const tq_cudnn_owner *own, cudnnHandle_t handle,
                                    const tq_plan_cache *pc, const char *key,
                                    const tfmq_allocator *alloc, int64_t max_ws,
                                    const char *label, cudnnBackendDescriptor_t *plan_out,
                                    int64_t *ws_out);

/* Keep a finalized plan for key beside the plan cache when cuDNN serializes it (runtime-compiled
 * engines, with their compiled code). Best effort. */
void tq_cudnn_plan_keep(tq_plan_cache *pc, const char *key, cudnnBackendDescriptor_t plan,
                        const tfmq_allocator *alloc);

#endif
