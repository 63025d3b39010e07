/* cudnn_plan.c: cuDNN engine configs to and from plan cache choices (cudnn_plan.h). The knob
 * choices are what distinguishes the configs heuristics offer for one engine; recording them
 * with the engine's global index is enough to rebuild the same plan on the same GPU and cuDNN
 * (the cache file's header guarantees both). */
#include "backends/cuda/cudnn_plan.h"

#include <string.h>

/* CUDNN_ATTR_EXECUTION_PLAN_HANDLE: deprecated since cuDNN 9.8, required before (see conv.c). */
#define ATTR_PLAN_HANDLE ((cudnnBackendAttributeName_t)400)

/* Evaluate a cuDNN call: on failure return its status (CK) or keep it in `s` and goto fail. */
#define CK(expr)                                                                                   \
    do {                                                                                           \
        cudnnStatus_t s_ = (expr);                                                                 \
        if (s_ != CUDNN_STATUS_SUCCESS) {                                                          \
            return s_;                                                                             \
        }                                                                                          \
    } while (0)
#define TRY(expr)                                                                                  \
    do {                                                                                           \
        s = (expr);                                                                                \
        if (s != CUDNN_STATUS_SUCCESS) {                                                           \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)

bool tq_cudnn_cfg_knobs(cudnnBackendDescriptor_t cfg, tq_pc_choice *c)
{
    cudnnBackendDescriptor_t kd[TQ_PC_MAX_KNOBS];
    int32_t made = 0;
    int64_t n = 0;
    bool ok = true;
    c->n_knobs = 0;
    for (; made < TQ_PC_MAX_KNOBS; made++) {
        if (cudnnBackendCreateDescriptor(CUDNN_BACKEND_KNOB_CHOICE_DESCRIPTOR, &kd[made]) !=
            CUDNN_STATUS_SUCCESS) {
            ok = false;
            break;
        }
    }
    ok = ok &&
         cudnnBackendGetAttribute(cfg, CUDNN_ATTR_ENGINECFG_KNOB_CHOICES,
                                  CUDNN_TYPE_BACKEND_DESCRIPTOR, TQ_PC_MAX_KNOBS, &n,
                                  kd) == CUDNN_STATUS_SUCCESS &&
         n >= 0 && n <= TQ_PC_MAX_KNOBS;
    for (int64_t i = 0; ok && i < n; i++) {
        cudnnBackendKnobType_t type = CUDNN_KNOB_TYPE_COUNTS;
        int64_t value = 0, cnt = 0;
        ok = cudnnBackendGetAttribute(kd[i], CUDNN_ATTR_KNOB_CHOICE_KNOB_TYPE, CUDNN_TYPE_KNOB_TYPE,
                                      1, &cnt, &type) == CUDNN_STATUS_SUCCESS &&
             cudnnBackendGetAttribute(kd[i], CUDNN_ATTR_KNOB_CHOICE_KNOB_VALUE, CUDNN_TYPE_INT64, 1,
                                      &cnt, &value) == CUDNN_STATUS_SUCCESS;
        c->knobs[i].type = (int64_t)type;
        c->knobs[i].value = value;
    }
    c->n_knobs = ok ? (int32_t)n : 0;
    for (int32_t i = 0; i < made; i++) {
        cudnnBackendDestroyDescriptor(kd[i]);
    }
    return ok;
}

/* A new descriptor on the owner's list. */
static cudnnStatus_t own_new(const tq_cudnn_owner *own, cudnnBackendDescriptorType_t type,
                             cudnnBackendDescriptor_t *d)
{
    *d = NULL;
    if (*own->n_descs >= own->cap) {
        return CUDNN_STATUS_NOT_SUPPORTED;
    }
    cudnnStatus_t s = cudnnBackendCreateDescriptor(type, d);
    if (s == CUDNN_STATUS_SUCCESS) {
        own->descs[(*own->n_descs)++] = *d;
    }
    return s;
}

/* Engine `index` of the graph, finalized. */
static cudnnStatus_t make_engine(const tq_cudnn_owner *own, cudnnBackendDescriptor_t graph,
                                 int64_t index, cudnnBackendDescriptor_t *eng)
{
    CK(own_new(own, CUDNN_BACKEND_ENGINE_DESCRIPTOR, eng));
    CK(cudnnBackendSetAttribute(*eng, CUDNN_ATTR_ENGINE_OPERATION_GRAPH,
                                CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &graph));
    CK(cudnnBackendSetAttribute(*eng, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &index));
    return cudnnBackendFinalize(*eng);
}

/* One knob choice, finalized. */
static cudnnStatus_t make_knob(const tq_cudnn_owner *own, const tq_pc_knob *k,
                               cudnnBackendDescriptor_t *kd)
{
    const cudnnBackendKnobType_t type = (cudnnBackendKnobType_t)k->type;
    const int64_t value = k->value;
    CK(own_new(own, CUDNN_BACKEND_KNOB_CHOICE_DESCRIPTOR, kd));
    CK(cudnnBackendSetAttribute(*kd, CUDNN_ATTR_KNOB_CHOICE_KNOB_TYPE, CUDNN_TYPE_KNOB_TYPE, 1,
                                &type));
    CK(cudnnBackendSetAttribute(*kd, CUDNN_ATTR_KNOB_CHOICE_KNOB_VALUE, CUDNN_TYPE_INT64, 1,
                                &value));
    return cudnnBackendFinalize(*kd);
}

cudnnStatus_t tq_cudnn_plan_from_choice(const tq_cudnn_owner *own, cudnnHandle_t handle,
                                        cudnnBackendDescriptor_t graph, const tq_pc_choice *c,
                                        int64_t max_ws, cudnnBackendDescriptor_t *cfg_out,
                                        cudnnBackendDescriptor_t *plan_out, int64_t *ws_out)
{
    const int32_t n0 = *own->n_descs;
    cudnnBackendDescriptor_t eng, cfg, plan, knobs[TQ_PC_MAX_KNOBS];
    int64_t ws = -1, cnt = 0;
    cudnnStatus_t s = CUDNN_STATUS_BAD_PARAM;
    *cfg_out = *plan_out = NULL;
    *ws_out = 0;
    if (c->engine < 0 || c->n_knobs < 0 || c->n_knobs > TQ_PC_MAX_KNOBS) {
        goto fail;
    }
    TRY(make_engine(own, graph, c->engine, &eng));
    for (int32_t k = 0; k < c->n_knobs; k++) {
        TRY(make_knob(own, &c->knobs[k], &knobs[k]));
    }
    TRY(own_new(own, CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, &cfg));
    TRY(cudnnBackendSetAttribute(cfg, CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                                 &eng));
    if (c->n_knobs > 0) {
        TRY(cudnnBackendSetAttribute(cfg, CUDNN_ATTR_ENGINECFG_KNOB_CHOICES,
                                     CUDNN_TYPE_BACKEND_DESCRIPTOR, c->n_knobs, knobs));
    }
    TRY(cudnnBackendFinalize(cfg));
    TRY(own_new(own, CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, &plan));
    (void)cudnnBackendSetAttribute(plan, ATTR_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle);
    TRY(cudnnBackendSetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG,
                                 CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cfg));
    TRY(cudnnBackendFinalize(plan));
    TRY(cudnnBackendGetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64,
                                 1, &cnt, &ws));
    if (ws < 0 || ws > max_ws) {
        s = CUDNN_STATUS_NOT_SUPPORTED;
        goto fail;
    }
    *cfg_out = cfg;
    *plan_out = plan;
    *ws_out = ws;
    return CUDNN_STATUS_SUCCESS;
fail:
    while (*own->n_descs > n0) { /* made here, in this order: newest first */
        cudnnBackendDestroyDescriptor(own->descs[--*own->n_descs]);
    }
    return s == CUDNN_STATUS_SUCCESS ? CUDNN_STATUS_INTERNAL_ERROR : s;
}

/* ---- plans as cuDNN's JSON ---- */

/* Finalize a plan; *ws_out its workspace, CUDNN_STATUS_NOT_SUPPORTED when over max_ws. */
static cudnnStatus_t plan_finalize(cudnnBackendDescriptor_t plan, int64_t max_ws,
                                            int64_t *ws_out)
{
    int64_t ws = -1, cnt = 0;
    *ws_out = -1;
    CK(cudnnBackendFinalize(plan));
    CK(cudnnBackendGetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1,
                                &cnt, &ws));
    if (ws < 0 || ws > max_ws) {
        return CUDNN_STATUS_NOT_SUPPORTED;
    }
    *ws_out = ws;
    return CUDNN_STATUS_SUCCESS;
}

/* The finalized plan as cuDNN's JSON: *json_out alloc'd (n_out + 1 bytes, NUL-terminated), NULL
 * when cuDNN does not serialize this plan. */
static cudnnStatus_t plan_json(cudnnBackendDescriptor_t plan, const tfmq_allocator *alloc,
                               char **json_out, size_t *n_out)
{
    int64_t n = 0;
    *json_out = NULL;
    *n_out = 0;
    CK(cudnnBackendGetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_JSON_REPRESENTATION,
                                CUDNN_TYPE_CHAR, 0, &n, NULL));
    if (n <= 0 || n > ((int64_t)1 << 30)) {
        return CUDNN_STATUS_NOT_SUPPORTED;
    }
    char *buf = tq_alloc(alloc, (size_t)n + 1);
    if (!buf) {
        return CUDNN_STATUS_ALLOC_FAILED;
    }
    int64_t got = 0;
    cudnnStatus_t s = cudnnBackendGetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_JSON_REPRESENTATION,
                                               CUDNN_TYPE_CHAR, n, &got, buf);
    if (s != CUDNN_STATUS_SUCCESS || got <= 0 || got > n) {
        tq_free(alloc, buf, (size_t)n + 1);
        return s != CUDNN_STATUS_SUCCESS ? s : CUDNN_STATUS_NOT_SUPPORTED;
    }
    buf[got] = '\0';
    size_t len = strnlen(buf, (size_t)got); /* cuDNN may count the NUL */
    if (len + 1 != (size_t)n + 1) {
        char *t = tq_realloc(alloc, buf, (size_t)n + 1, len + 1);
        if (t) {
            buf = t;
        } else {
            len = (size_t)n; /* keep the block size as allocated */
        }
    }
    *json_out = buf;
    *n_out = len;
    return CUDNN_STATUS_SUCCESS;
}

/* A plan made from cuDNN's JSON of an earlier one, finalized, on the owner's list. */
static cudnnStatus_t plan_from_json(const tq_cudnn_owner *own, cudnnHandle_t handle,
                                    const char *json, size_t n, int64_t max_ws,
                                    cudnnBackendDescriptor_t *plan_out, int64_t *ws_out)
{
    const int32_t n0 = *own->n_descs;
    cudnnBackendDescriptor_t plan;
    cudnnStatus_t s;
    *plan_out = NULL;
    *ws_out = -1;
    TRY(own_new(own, CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, &plan));
    (void)cudnnBackendSetAttribute(plan, ATTR_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle);
    TRY(cudnnBackendSetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_JSON_REPRESENTATION,
                                 CUDNN_TYPE_CHAR, (int64_t)n, json));
    TRY(plan_finalize(plan, max_ws, ws_out));
    *plan_out = plan;
    return CUDNN_STATUS_SUCCESS;
fail:
    while (*own->n_descs > n0) {
        cudnnBackendDestroyDescriptor(own->descs[--*own->n_descs]);
    }
    return s;
}

tfmq_status tq_cudnn_plan_load_kept(const tq_cudnn_owner *own, cudnnHandle_t handle,
                                    const tq_plan_cache *pc, const char *key,
                                    const tfmq_allocator *alloc, int64_t max_ws,
                                    const char *label, cudnnBackendDescriptor_t *plan_out,
                                    int64_t *ws_out)
{
    char *js = NULL;
    size_t n = 0;
    *plan_out = NULL;
    *ws_out = -1;
    tfmq_status st = tq_plan_cache_blob_load(pc, key, alloc, &js, &n);
    if (st != TFMQ_OK || !js) {
        return st;
    }
    const cudnnStatus_t s = plan_from_json(own, handle, js, n, max_ws, plan_out, ws_out);
    tq_free(alloc, js, n + 1);
    if (s != CUDNN_STATUS_SUCCESS) {
        tq_log(TFMQ_LOG_DEBUG, "cuda %s: cuDNN refused the serialized plan (%s); rebuilding it",
               label, cudnnGetErrorString(s));
        *plan_out = NULL;
    }
    return TFMQ_OK;
}

void tq_cudnn_plan_keep(tq_plan_cache *pc, const char *key, cudnnBackendDescriptor_t plan,
                        const tfmq_allocator *alloc)
{
    char *js = NULL;
    size_t n = 0;
    if (plan && plan_json(plan, alloc, &js, &n) == CUDNN_STATUS_SUCCESS && js) {
        tq_plan_cache_blob_store(pc, key, js, n);
    }
    tq_free(alloc, js, js ? n + 1 : 0);
}
