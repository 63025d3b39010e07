/* session.c: tfmq_session: binds caller buffers to a planned executor of the model's graph.
 * A session plans at creation for the model's shapes (symbolic dims from the options) and
 * re-plans only when a run brings other input shapes; a run with planned shapes allocates
 * nothing (outputs are returned from the session's own memory or copied to the caller's). */
#include <string.h>

#include <stdlib.h>

#include "backends/cpu/cpu.h"
#include "engine/engine.h"
#include "runtime/compile.h"
#include "runtime/model.h"
#ifdef TFMQ_HAVE_CUDA
#include "backends/cuda/exec.h"
#include "backends/cuda/plan_cache.h"
#endif

struct tfmq_session {
    const tfmq_model *model;
    tfmq_allocator alloc;
    const tfmq_allocator *palloc;
    tq_exec *exec;
    tq_arena arena;          /* the compiled graph's objects */
    const tq_graph *graph;   /* what runs: the model's graph or a compiled clone */
    bool owns_graph;
    tq_tensor *planned;  /* planned input shapes, graph->n_inputs entries */
    tq_tensor *bound;    /* scratch for a run's inputs */
    bool on_cuda;        /* device "cuda": the host exec only plans shapes (shapes_only) */
#ifdef TFMQ_HAVE_CUDA
    tq_cuda_exec *cuda;
    tq_cuda_exec_opts cuda_opts;
    tq_plan_cache *plan_cache; /* cuDNN plan choices kept across plannings; NULL: none */
#endif
};

static size_t tq_n_inputs(const tfmq_session *s)
{
    return s->model->graph->n_inputs ? s->model->graph->n_inputs : 1;
}

/* Parse opts->device: NULL, "", "cpu" -> CPU; "cuda" or "cuda:N" -> *cuda_dev = N. */
static tfmq_status tq_parse_device(const char *dev, bool *cuda, int *cuda_dev)
{
    *cuda = false;
    *cuda_dev = 0;
    if (!dev || !dev[0] || strcmp(dev, "cpu") == 0) {
        return TFMQ_OK;
    }
    if (strncmp(dev, "cuda", 4) == 0 && (dev[4] == '\0' || dev[4] == ':')) {
        if (dev[4] == ':') {
            char *end = NULL;
            long n = strtol(dev + 5, &end, 10);
            if (end == dev + 5 || *end || n < 0 || n > 1023) {
                return tq_fail(TFMQ_ERR_INVALID_ARG, "session_create: bad device '%.64s'", dev);
            }
            *cuda_dev = (int)n;
        }
#ifdef TFMQ_HAVE_CUDA
        *cuda = true;
        return TFMQ_OK;
#else
        return tq_fail(TFMQ_ERR_UNSUPPORTED, "session_create: device '%.64s': this build has no "
                       "CUDA backend (backends: %s)", dev, tfmq_backends());
#endif
    }
    return tq_fail(TFMQ_ERR_INVALID_ARG, "session_create: unknown device '%.64s' (cpu, cuda, "
                   "cuda:N)", dev);
}

#ifdef TFMQ_HAVE_CUDA
/* (Re)build the CUDA exec for the host exec's current plan. */
static tfmq_status tq_session_cuda_plan(tfmq_session *s)
{
    tq_cuda_exec_destroy(s->cuda);
    s->cuda = NULL;
    const double t0 = tq_now_s();
    tfmq_status st = tq_exec_plan(s->exec, s->planned, true);
    tq_log(TFMQ_LOG_DEBUG, "session: timing: host plan (shapes, folding) %.1f ms",
           1e3 * (tq_now_s() - t0));
    if (st == TFMQ_OK) {
        st = tq_cuda_exec_create(s->graph, s->exec, &s->cuda_opts, s->palloc, &s->cuda);
    }
    return st;
}

/* The session's plan cache: the option's file, else $TFMQ_CUDA_PLAN_CACHE; "" means none.
 * A "cuda" engine's plans, or TFMQ_SESSION_RECORD_PLANS, make one without a file (in memory).
 * Nothing is read here: each CUDA exec binds it to its device, which loads the file and then
 * the engine's plans once (refusing plans made on another device unless TFMQ_SESSION_REBUILD). */
static tfmq_status tq_session_plan_cache(tfmq_session *s, const tfmq_session_options *o)
{
    const char *path = o->plan_cache ? o->plan_cache : getenv("TFMQ_CUDA_PLAN_CACHE");
    const bool record = (o->flags & TFMQ_SESSION_RECORD_PLANS) != 0;
    if (path && !path[0]) {
        path = NULL;
    }
    if (!path && !record && !s->model->plans) {
        return TFMQ_OK;
    }
    tfmq_status st = tq_plan_cache_create(s->palloc, path, &s->plan_cache);
    if (st != TFMQ_OK) {
        return st;
    }
    if (record) {
        tq_plan_cache_keep_blobs(s->plan_cache);
    }
    if (s->model->plans) {
        tq_plan_cache_embed(s->plan_cache, s->model->plans, s->model->plans_bytes,
                            s->model->path, (o->flags & TFMQ_SESSION_REBUILD) != 0);
    }
    s->cuda_opts.plan_cache = s->plan_cache;
    return TFMQ_OK;
}

/* The storage and math of a model's precision on the GPU. */
static tfmq_status tq_session_cuda_opts(const tfmq_model *m, int dev, tq_cuda_exec_opts *o)
{
    const char *p = m->precision ? m->precision : "fp32";
    memset(o, 0, sizeof(*o));
    o->device = dev;
    o->use_graph = !getenv("TFMQ_CUDA_GRAPH") || strcmp(getenv("TFMQ_CUDA_GRAPH"), "0") != 0;
    if (strcmp(p, "fp16") == 0) {
        o->store = TQ_CUDA_F16;
    } else if (strcmp(p, "bf16") == 0) {
        o->store = TQ_CUDA_BF16;
    } else if (strcmp(p, "tf32") == 0) {
        o->math = TQ_CUDA_MATH_TF32;
    } else if (strcmp(p, "int8") == 0) {
        /* integer ops run in integers (qconv.c); what stays float (the graph's float ends,
         * pools between DequantizeLinear and QuantizeLinear) runs in strict FP32 */
        o->store = TQ_CUDA_F32;
        o->math = TQ_CUDA_MATH_FP32;
    } else if (strcmp(p, "fp32") != 0) {
        return tq_fail(TFMQ_ERR_UNSUPPORTED, "session_create: %s models do not run on cuda yet "
                       "(fp32, tf32, fp16, bf16 and int8 do)", p);
    }
    return TFMQ_OK;
}
#endif

tfmq_status tfmq_session_create(const tfmq_model *model, const tfmq_session_options *opts,
                                tfmq_session **sess_out)
{
    tfmq_status st;
    tfmq_session *s = NULL;
    tfmq_session_options o;

    if (!model || !sess_out) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "session_create: NULL argument");
    }
    *sess_out = NULL;
    memset(&o, 0, sizeof(o));
    if (opts) {
        if (opts->struct_size < sizeof(uint32_t) || opts->struct_size > sizeof(o)) {
            return tq_fail(TFMQ_ERR_INVALID_ARG, "session_create: bad opts->struct_size %u",
                           opts->struct_size);
        }
        memcpy(&o, opts, opts->struct_size);
    }
    if (o.flags & ~(TFMQ_SESSION_RECORD_PLANS | TFMQ_SESSION_REBUILD)) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "session_create: unknown flags 0x%x", o.flags);
    }
    if (o.n_threads < 0) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "session_create: n_threads %d < 0", o.n_threads);
    }
    if (o.symbolic_dim_default < 0) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "session_create: symbolic_dim_default %lld < 0",
                       (long long)o.symbolic_dim_default);
    }
    bool cuda;
    int cuda_dev;
    st = tq_parse_device(o.device, &cuda, &cuda_dev);
    if (st != TFMQ_OK) {
        return st;
    }
    const tfmq_allocator *a = o.allocator ? o.allocator : model->palloc;
    s = tq_calloc(a, 1, sizeof(*s));
    if (!s) {
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "session: out of memory");
    }
    if (a) {
        s->alloc = *a;
        s->palloc = &s->alloc;
    }
    s->model = model;
    tq_arena_init(&s->arena, s->palloc);
    s->planned = tq_calloc(s->palloc, tq_n_inputs(s), sizeof(tq_tensor));
    s->bound = tq_calloc(s->palloc, tq_n_inputs(s), sizeof(tq_tensor));
    if (!s->planned || !s->bound) {
        st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "session: out of memory");
        goto fail;
    }
    TQ_TRY(st, tq_model_default_shapes(model,
                                       o.symbolic_dim_default ? o.symbolic_dim_default : 1,
                                       s->planned));
    /* The fast CPU backend unless the ISA level is scalar (TFMQ_CPU_ISA=scalar): then the
     * reference kernels run the model's graph on one thread. */
    bool fast = cuda || tq_cpu_isa_level() != TQ_CPU_ISA_SCALAR;
    const double t_compile = tq_now_s();
    TQ_TRY(st, tq_compile(model->graph, fast, &s->arena, s->palloc, &s->graph, &s->owns_graph));
    tq_log(TFMQ_LOG_DEBUG, "session: timing: graph passes %.1f ms",
           1e3 * (tq_now_s() - t_compile));
    TQ_TRY(st, tq_exec_create(s->graph, s->palloc, NULL, &s->exec));
#ifdef TFMQ_HAVE_CUDA
    if (cuda) {
        s->on_cuda = true;
        TQ_TRY(st, tq_session_cuda_opts(model, cuda_dev, &s->cuda_opts));
        TQ_TRY(st, tq_session_plan_cache(s, &o));
        TQ_TRY(st, tq_session_cuda_plan(s));
        *sess_out = s;
        return TFMQ_OK;
    }
#else
    (void)cuda_dev;
#endif
    if (fast) {
        tq_exec_set_threads(s->exec, o.n_threads ? o.n_threads : tq_cpu_default_threads());
    }
    TQ_TRY(st, tq_exec_plan(s->exec, s->planned, false));
    *sess_out = s;
    return TFMQ_OK;
fail:
    tfmq_session_destroy(s);
    return st;
}

void tfmq_session_destroy(tfmq_session *s)
{
    if (!s) {
        return;
    }
    tfmq_allocator copy = s->alloc;
    const tfmq_allocator *a = s->palloc ? &copy : NULL;
#ifdef TFMQ_HAVE_CUDA
    tq_cuda_exec_destroy(s->cuda);
    tq_plan_cache_destroy(s->plan_cache);
#endif
    tq_exec_destroy(s->exec);
    if (s->owns_graph) {
        tq_graph_destroy((tq_graph *)(uintptr_t)s->graph);
    }
    tq_arena_free(&s->arena);
    if (s->model) {
        tq_free(a, s->planned, tq_n_inputs(s) * sizeof(tq_tensor));
        tq_free(a, s->bound, tq_n_inputs(s) * sizeof(tq_tensor));
    }
    tq_free(a, s, sizeof(*s));
}

/* Check one caller input against the graph input it binds; fill *t. */
static tfmq_status tq_bind_input(const tq_value *v, const tfmq_tensor *in, tq_tensor *t)
{
    if (in->dtype != v->t.dtype) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "input '%s': dtype %s given, the model takes %s",
                       v->name, tfmq_dtype_name(in->dtype), tfmq_dtype_name(v->t.dtype));
    }
    if (in->rank < 0 || in->rank > TQ_MAX_RANK || (in->rank > 0 && !in->dims)) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "input '%s': bad rank %d", v->name, in->rank);
    }
    if (v->t.rank >= 0 && in->rank != v->t.rank) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "input '%s': rank %d given, the model takes %d",
                       v->name, in->rank, v->t.rank);
    }
    memset(t, 0, sizeof(*t));
    t->dtype = in->dtype;
    t->rank = in->rank;
    for (int32_t d = 0; d < in->rank; d++) {
        if (in->dims[d] < 0) {
            return tq_fail(TFMQ_ERR_INVALID_ARG, "input '%s': negative dim %lld", v->name,
                           (long long)in->dims[d]);
        }
        if (v->t.rank >= 0 && v->t.dims[d] >= 0 && v->t.dims[d] != in->dims[d]) {
            char want[128], got[128];
            tq_tensor tmp = *t;
            tmp.dims[d] = in->dims[d];
            for (int32_t k = d + 1; k < in->rank; k++) {
                tmp.dims[k] = in->dims[k];
            }
            return tq_fail(TFMQ_ERR_INVALID_ARG,
                           "input '%s': shape %s given, the model takes %s (dim %d)", v->name,
                           tq_shape_str(&tmp, got, sizeof(got)),
                           tq_shape_str(&v->t, want, sizeof(want)), d);
        }
        t->dims[d] = in->dims[d];
    }
    size_t bytes;
    if (!tq_tensor_bytes(t, &bytes)) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "input '%s': too large", v->name);
    }
    if (in->data_bytes < bytes || (!in->data && bytes)) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "input '%s': %zu bytes given, shape needs %zu",
                       v->name, in->data_bytes, bytes);
    }
    t->data = in->data;
    return TFMQ_OK;
}

static bool tq_shapes_equal(const tq_tensor *a, const tq_tensor *b)
{
    if (a->rank != b->rank) {
        return false;
    }
    for (int32_t d = 0; d < a->rank; d++) {
        if (a->dims[d] != b->dims[d]) {
            return false;
        }
    }
    return true;
}

tfmq_status tfmq_session_run(tfmq_session *s, const tfmq_tensor *inputs, size_t n_inputs,
                             tfmq_tensor *outputs, size_t n_outputs)
{
    if (!s || (n_inputs && !inputs) || (n_outputs && !outputs)) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "session_run: NULL argument");
    }
    const tq_graph *g = s->graph;
    tfmq_status st;
    if (n_inputs != g->n_inputs) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "session_run: %zu inputs given, the model has %zu",
                       n_inputs, g->n_inputs);
    }
    for (size_t i = 0; i < g->n_inputs; i++) {
        s->bound[i].rank = -1;
    }
    for (size_t k = 0; k < n_inputs; k++) {
        const char *name = inputs[k].name ? inputs[k].name : "";
        size_t i = 0;
        while (i < g->n_inputs && strcmp(g->values[g->inputs[i]].name, name) != 0) {
            i++;
        }
        if (i == g->n_inputs) {
            return tq_fail(TFMQ_ERR_INVALID_ARG, "session_run: the model has no input named '%s'",
                           name);
        }
        if (s->bound[i].rank != -1) {
            return tq_fail(TFMQ_ERR_INVALID_ARG, "session_run: input '%s' given twice", name);
        }
        st = tq_bind_input(&g->values[g->inputs[i]], &inputs[k], &s->bound[i]);
        if (st != TFMQ_OK) {
            return st;
        }
    }
    bool replan = false;
    for (size_t i = 0; i < g->n_inputs; i++) {
        if (!tq_shapes_equal(&s->bound[i], &s->planned[i])) {
            replan = true;
        }
    }
    if (replan) { /* new input shapes: plan again (this allocates) */
        for (size_t i = 0; i < g->n_inputs; i++) {
            s->planned[i] = s->bound[i];
            s->planned[i].data = NULL;
        }
#ifdef TFMQ_HAVE_CUDA
        st = s->on_cuda ? tq_session_cuda_plan(s) : tq_exec_plan(s->exec, s->planned, false);
#else
        st = tq_exec_plan(s->exec, s->planned, false);
#endif
        if (st != TFMQ_OK) {
            for (size_t i = 0; i < g->n_inputs; i++) {
                s->planned[i].rank = -1; /* unplanned: the next run plans again */
            }
            return st;
        }
    }
    /* resolve output names before running, so a typo costs no inference */
    for (size_t k = 0; k < n_outputs; k++) {
        const char *name = outputs[k].name ? outputs[k].name : "";
        size_t i = 0;
        while (i < g->n_outputs && strcmp(g->values[g->outputs[i]].name, name) != 0) {
            i++;
        }
        if (i == g->n_outputs) {
            return tq_fail(TFMQ_ERR_INVALID_ARG,
                           "session_run: the model has no output named '%s'", name);
        }
    }
#ifdef TFMQ_HAVE_CUDA
    if (s->on_cuda && !s->cuda) {
        return tq_fail(TFMQ_ERR_INVALID_STATE, "session_run: the last planning failed");
    }
    st = s->on_cuda ? tq_cuda_exec_run(s->cuda, s->bound) : tq_exec_run(s->exec, s->bound);
#else
    st = tq_exec_run(s->exec, s->bound);
#endif
    if (st != TFMQ_OK) {
        return st;
    }
    for (size_t k = 0; k < n_outputs; k++) {
        size_t i = 0;
        while (strcmp(g->values[g->outputs[i]].name, outputs[k].name) != 0) {
            i++;
        }
#ifdef TFMQ_HAVE_CUDA
        const tq_tensor *t = s->on_cuda ? tq_cuda_exec_output(s->cuda, i)
                                        : tq_exec_value(s->exec, g->outputs[i]);
#else
        const tq_tensor *t = tq_exec_value(s->exec, g->outputs[i]);
#endif
        size_t bytes = 0;
        if (!tq_tensor_bytes(t, &bytes)) {
            return tq_fail(TFMQ_ERR_INTERNAL, "session_run: output '%s' has no shape",
                           outputs[k].name);
        }
        if (outputs[k].data) {
            if (outputs[k].data_bytes < bytes) {
                return tq_fail(TFMQ_ERR_INVALID_ARG,
                               "session_run: output '%s' needs %zu bytes, %zu given",
                               outputs[k].name, bytes, outputs[k].data_bytes);
            }
            if (bytes) {
                memcpy(outputs[k].data, t->data, bytes);
            }
        } else {
            outputs[k].data = t->data;
        }
        outputs[k].dtype = t->dtype;
        outputs[k].rank = t->rank;
        outputs[k].dims = t->dims;
        outputs[k].data_bytes = bytes;
    }
    return TFMQ_OK;
}

#ifdef TFMQ_HAVE_CUDA
tq_cuda_exec *tq_session_cuda_exec(tfmq_session *s)
{
    return s && s->on_cuda ? s->cuda : NULL;
}
#endif

tfmq_status tfmq_session_get_info(const tfmq_session *s, tfmq_session_info *info_out)
{
    if (!s || !info_out || info_out->struct_size < sizeof(uint32_t) ||
        info_out->struct_size > sizeof(tfmq_session_info)) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "session_get_info: NULL argument or bad "
                       "struct_size");
    }
    tfmq_session_info i;
    memset(&i, 0, sizeof(i));
    i.struct_size = info_out->struct_size;
    i.device = "cpu";
    i.device_name = tfmq_cpu_info();
#ifdef TFMQ_HAVE_CUDA
    if (s->on_cuda && s->cuda) {
        i.device = "cuda";
        i.device_name = tq_cuda_exec_device_name(s->cuda);
        i.n_host_fallback = tq_cuda_exec_n_fallback(s->cuda);
        i.graph_replay = tq_cuda_exec_uses_graph(s->cuda);
        size_t n_entries = 0;
        tq_plan_cache_stats(s->plan_cache, &i.plan_cache_hits, &i.plan_cache_misses,
                            &n_entries);
    }
#endif
    memcpy(info_out, &i, info_out->struct_size);
    return TFMQ_OK;
}

/* ---- engines that carry their plans ---- */

#ifdef TFMQ_HAVE_CUDA
/* The plans of sessions[0..n) as one PLANS payload: the first session's own when alone, else
 * merged in a cache bound to the same device (a session on another device is an error). */
static tfmq_status tq_session_plans(const tfmq_model *model, tfmq_session *const *sessions,
                                    size_t n, uint8_t **out, size_t *n_out,
                                    const tfmq_allocator **alloc_out)
{
    const char *gpu = NULL;
    int32_t sm = 0;
    int64_t cudnn = 0;
    for (size_t i = n; i-- > 0;) { /* ends with session 0's device in gpu, sm, cudnn */
        const tfmq_session *s = sessions[i];
        if (!s || s->model != model || !s->on_cuda || !s->plan_cache ||
            !tq_plan_cache_device(s->plan_cache, &gpu, &sm, &cudnn)) {
            return tq_fail(TFMQ_ERR_INVALID_ARG, "model_save_planned: session %zu is %s", i,
                           !s ? "NULL" : s->model != model ? "of another model"
                           : !s->on_cuda ? "not on cuda"
                           : "not recording plans (TFMQ_SESSION_RECORD_PLANS)");
        }
    }
    if (n == 1) {
        *alloc_out = sessions[0]->palloc;
        return tq_plan_cache_export(sessions[0]->plan_cache, out, n_out);
    }
    *alloc_out = model->palloc;
    tq_plan_cache *all = NULL;
    tfmq_status st = tq_plan_cache_create(model->palloc, NULL, &all);
    if (st == TFMQ_OK) {
        tq_plan_cache_keep_blobs(all);
        st = tq_plan_cache_open(all, gpu, sm, cudnn);
    }
    for (size_t i = 0; st == TFMQ_OK && i < n; i++) {
        uint8_t *p = NULL;
        size_t np = 0;
        st = tq_plan_cache_export(sessions[i]->plan_cache, &p, &np);
        if (st == TFMQ_OK) {
            st = tq_plan_cache_import(all, p, np, true);
            if (st == TFMQ_ERR_VERSION) {
                st = tq_fail(TFMQ_ERR_INVALID_ARG, "model_save_planned: session %zu is on "
                             "another GPU than session 0 (%s)", i, tfmq_last_error());
            }
        }
        tq_free(sessions[i]->palloc, p, np);
    }
    if (st == TFMQ_OK) {
        st = tq_plan_cache_export(all, out, n_out);
    }
    tq_plan_cache_destroy(all);
    return st;
}
#endif

tfmq_status tfmq_model_save_planned(const tfmq_model *model, tfmq_session *const *sessions,
                                    size_t n_sessions, const char *path, uint32_t flags)
{
    if (!model || !sessions || n_sessions == 0 || !path) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "model_save_planned: NULL argument or no session");
    }
#ifdef TFMQ_HAVE_CUDA
    uint8_t *plans = NULL;
    size_t n = 0;
    const tfmq_allocator *pa = model->palloc;
    tfmq_status st = tq_session_plans(model, sessions, n_sessions, &plans, &n, &pa);
    if (st == TFMQ_OK) {
        st = tq_engine_save(model, path, flags, "cuda", plans, n);
    }
    tq_free(pa, plans, n);
    return st;
#else
    (void)flags;
    return tq_fail(TFMQ_ERR_UNSUPPORTED, "model_save_planned: this build has no CUDA backend "
                   "(backends: %s)", tfmq_backends());
#endif
}
