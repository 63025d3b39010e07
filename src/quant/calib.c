/* calib.c: the calibration driver. Runs an FP32 graph over the caller's data (one pass), on the
 * CPU executor (fast CPU kernels, NCHW) or, where $TFMQ_CALIB_DEVICE picks a GPU, on the CUDA exec
 * (calib_cuda.c), and feeds every requested float32 value to a streaming observer (histogram.c),
 * then picks each range with the requested method: min/max, TensorRT's KL-divergence (Migacz
 * 2017), percentile or minimum MSE.
 * Owns: the exec, one tq_observer per distinct requested value; no activation is ever stored. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant/calib.h"

#include "backends/cpu/cpu.h"
#include "quant/quant.h"
#include "runtime/exec.h"
#ifdef TFMQ_HAVE_CUDA
#include "backends/cuda/dev.h"
#endif

typedef struct tq_calib_run {
    const tq_graph *g;
    tq_exec *e;
    int32_t *obs_of_value;  /* g->n_values entries: observer index, or -1 */
    int32_t *value_of_obs;  /* n_obs entries */
    bool *const_done;       /* n_obs entries: constant already observed */
    tq_observer *obs;       /* n_obs entries */
    size_t n_obs;
    uint64_t n_done, n_total;
    const tfmq_quantize_options *opts;
} tq_calib_run;

int32_t tq_quant_threads(void)
{
    return tq_cpu_isa_level() == TQ_CPU_ISA_SCALAR ? 0 : tq_cpu_default_threads();
}

static void tq_calib_observe(tq_calib_run *r, int32_t v)
{
    const int32_t k = r->obs_of_value[v];
    if (k < 0) {
        return;
    }
    const tq_tensor *t = tq_exec_value(r->e, v);
    if (t->dtype != TFMQ_DTYPE_FLOAT32 || !t->data || !tq_tensor_shape_known(t)) {
        return;
    }
    tq_observer_add_f32(&r->obs[k], (const float *)t->data, tq_tensor_numel(t));
}

static tfmq_status tq_calib_on_node(void *ud, const tq_exec *e, int32_t node_index)
{
    tq_calib_run *r = ud;
    const tq_graph *g = r->g;
    (void)e;
    if (node_index < 0) {
        for (size_t i = 0; i < g->n_inputs; i++) {
            tq_calib_observe(r, g->inputs[i]);
        }
        return TFMQ_OK;
    }
    const tq_node *n = &g->nodes[node_index];
    for (int32_t k = 0; k < n->n_out; k++) {
        if (n->out[k] >= 0) {
            tq_calib_observe(r, n->out[k]);
        }
    }
    return TFMQ_OK;
}

static tfmq_status tq_calib_visit(void *ctx, const tq_tensor *inputs, uint64_t batch_samples)
{
    tq_calib_run *r = ctx;
    bool replanned;
    tfmq_status st = tq_exec_ensure_plan(r->e, inputs, &replanned);
    if (st != TFMQ_OK) {
        return st;
    }
    if (replanned) {
        /* constants (initializers, values folded at plan time) are never seen by the hook */
        for (size_t k = 0; k < r->n_obs; k++) {
            if (!r->const_done[k] && tq_exec_value_is_const(r->e, r->value_of_obs[k])) {
                tq_calib_observe(r, r->value_of_obs[k]);
                r->const_done[k] = true;
            }
        }
    }
    st = tq_exec_run(r->e, inputs);
    if (st != TFMQ_OK) {
        return st;
    }
    r->n_done += batch_samples;
    if (r->opts->progress) {
        r->opts->progress(r->opts->progress_user_data, "calibrate", r->n_done, r->n_total);
    }
    return TFMQ_OK;
}

/* Where calibration runs: $TFMQ_CALIB_DEVICE (calib.h). *forced: named explicitly (no fallback). */
static tfmq_status tq_calib_device(bool *cuda, bool *forced, int *device)
{
    const char *env = getenv("TFMQ_CALIB_DEVICE");
    *cuda = false;
    *forced = false;
    *device = 0;
    if (!env || !env[0] || strcmp(env, "auto") == 0) {
#ifdef TFMQ_HAVE_CUDA
        int n = 0;
        char why[256];
        why[0] = '\0';
        if (tq_cuda_dev_probe(&n, why, sizeof(why)) == TFMQ_OK && n > 0) {
            *cuda = true;
        } else {
            tq_log(TFMQ_LOG_DEBUG, "calibrate: on the CPU (%s)", why);
        }
#endif
        return TFMQ_OK;
    }
    if (strcmp(env, "cpu") == 0) {
        return TFMQ_OK;
    }
    if (strncmp(env, "cuda", 4) == 0 && (env[4] == '\0' || env[4] == ':')) {
        long dev = 0;
        if (env[4] == ':') {
            char *end = NULL;
            dev = strtol(env + 5, &end, 10);
            if (end == env + 5 || *end != '\0' || dev < 0 || dev > 1023) {
                return tq_fail(TFMQ_ERR_INVALID_ARG, "calibrate: TFMQ_CALIB_DEVICE='%.32s': "
                               "bad device number (auto, cpu, cuda, cuda:N)", env);
            }
        }
#ifdef TFMQ_HAVE_CUDA
        int n = 0;
        char why[256];
        why[0] = '\0';
        if (tq_cuda_dev_probe(&n, why, sizeof(why)) != TFMQ_OK || n <= 0) {
            return tq_fail(TFMQ_ERR_UNSUPPORTED, "calibrate: TFMQ_CALIB_DEVICE=%.32s but no GPU "
                           "is usable: %s", env, why[0] ? why : "no CUDA device");
        }
        if (dev >= n) {
            return tq_fail(TFMQ_ERR_INVALID_ARG, "calibrate: TFMQ_CALIB_DEVICE=%.32s but this "
                           "machine has %d CUDA device(s)", env, n);
        }
        *cuda = true;
        *forced = true;
        *device = (int)dev;
        return TFMQ_OK;
#else
        return tq_fail(TFMQ_ERR_UNSUPPORTED, "calibrate: TFMQ_CALIB_DEVICE=%.32s but this build "
                       "has no CUDA backend (configure with -DTFMQ_CUDA=ON where nvcc and "
                       "cuDNN are installed)", env);
#endif
    }
    return tq_fail(TFMQ_ERR_INVALID_ARG, "calibrate: TFMQ_CALIB_DEVICE='%.32s' is not one of "
                   "auto, cpu, cuda, cuda:N", env);
}

tfmq_status tq_calibrate(const tq_graph *g, const char *const *names, size_t n_names,
                         const tfmq_quantize_options *opts, float *lo_out, float *hi_out,
                         uint64_t *n_samples_out)
{
    return tq_calibrate_where(g, names, n_names, opts, lo_out, hi_out, n_samples_out, NULL, 0);
}

tfmq_status tq_calibrate_where(const tq_graph *g, const char *const *names, size_t n_names,
                               const tfmq_quantize_options *opts, float *lo_out, float *hi_out,
                               uint64_t *n_samples_out, char *where_out, size_t where_cap)
{
    tfmq_status st = TFMQ_OK;
    tq_calib_run r;
    tfmq_quantize_options o;
    int32_t *obs_of_name = NULL;
    uint64_t n_samples = 0;

    memset(&r, 0, sizeof(r));
    if (n_samples_out) {
        *n_samples_out = 0;
    }
    if (!g || !opts || (n_names && (!names || !lo_out || !hi_out))) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "calibrate: NULL argument");
    }
    if (opts->struct_size < sizeof(uint32_t)) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "calibrate: bad opts->struct_size %u",
                       opts->struct_size);
    }
    memset(&o, 0, sizeof(o));
    memcpy(&o, opts, opts->struct_size < sizeof(o) ? opts->struct_size : sizeof(o));
    if (!o.calib_fn) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "calibrate: no calibration data (calib_fn)");
    }
    if ((unsigned)o.calib_method > (unsigned)TFMQ_CALIB_MSE) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "calibrate: unknown method %d", (int)o.calib_method);
    }
    if (o.calib_method == TFMQ_CALIB_PERCENTILE &&
        (o.percentile < 0.0 || o.percentile > 100.0 || o.percentile != o.percentile)) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "calibrate: percentile %g not in (0, 100]",
                       o.percentile);
    }
    r.g = g;
    r.opts = &o;
    r.n_total = o.max_calib_samples;
    const tfmq_allocator *a = g->alloc;
    const size_t n_nm = n_names ? n_names : 1;
    r.obs_of_value = tq_alloc(a, (g->n_values ? g->n_values : 1) * sizeof(int32_t));
    r.value_of_obs = tq_calloc(a, n_nm, sizeof(int32_t));
    r.const_done = tq_calloc(a, n_nm, sizeof(bool));
    r.obs = tq_alloc(a, n_nm * sizeof(tq_observer));
    obs_of_name = tq_calloc(a, n_nm, sizeof(int32_t));
    if (!r.obs_of_value || !r.value_of_obs || !r.const_done || !r.obs || !obs_of_name) {
        st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "calibrate: out of memory");
        goto fail;
    }
    for (size_t v = 0; v < g->n_values; v++) {
        r.obs_of_value[v] = -1;
    }
    for (size_t i = 0; i < n_names; i++) {
        const int32_t v = names[i] ? tq_graph_find_value(g, names[i]) : -1;
        if (v < 0) {
            st = tq_fail(TFMQ_ERR_INVALID_ARG, "calibrate: the graph has no value named '%s'",
                         names[i] ? names[i] : "(null)");
            goto fail;
        }
        if (r.obs_of_value[v] < 0) { /* a name given twice shares one observer */
            r.obs_of_value[v] = (int32_t)r.n_obs;
            r.value_of_obs[r.n_obs] = v;
            tq_observer_init(&r.obs[r.n_obs]);
            r.n_obs++;
        }
        obs_of_name[i] = r.obs_of_value[v];
    }
    bool cuda, forced;
    int device;
    TQ_TRY(st, tq_calib_device(&cuda, &forced, &device));
    const double t0 = tq_now_s();
#ifdef TFMQ_HAVE_CUDA
    if (cuda) {
        tq_calib_obs co = {r.obs_of_value, r.value_of_obs, r.const_done, r.obs, r.n_obs};
        st = tq_calibrate_cuda(g, device, &o, &co, &n_samples);
        if (st != TFMQ_OK && !forced &&
            (st == TFMQ_ERR_UNSUPPORTED || st == TFMQ_ERR_BACKEND ||
             st == TFMQ_ERR_OUT_OF_MEMORY)) {
            /* auto: what the GPU cannot run (control flow, a batch beyond its memory) calibrates
             * on the CPU, anew */
            tq_log(TFMQ_LOG_WARN, "calibrate: not on the GPU (%s); calibrating on the CPU",
                   tfmq_last_error());
            tq_clear_error();
            for (size_t k = 0; k < r.n_obs; k++) {
                tq_observer_init(&r.obs[k]);
                r.const_done[k] = false;
            }
            n_samples = 0;
            cuda = false;
            st = TFMQ_OK;
        } else if (st != TFMQ_OK) {
            st = tq_fail_prefix(st, "calibrate on cuda:%d", device);
            goto fail;
        }
    }
#else
    (void)forced;
    (void)device;
#endif
    if (!cuda) {
        TQ_TRY(st, tq_exec_create(g, a, NULL, &r.e));
        tq_exec_set_observer(r.e, tq_calib_on_node, &r);
        tq_exec_set_threads(r.e, tq_quant_threads());
        st = tq_for_each_batch(g, o.calib_fn, o.calib_user_data, o.max_calib_samples,
                               tq_calib_visit, &r, &n_samples);
        if (st != TFMQ_OK) {
            st = tq_fail_prefix(st, "calibrate");
            goto fail;
        }
    }
    {
        const double dt = tq_now_s() - t0;
        char where[32];
        if (cuda) {
            snprintf(where, sizeof(where), "cuda:%d", device);
        } else {
            snprintf(where, sizeof(where), "cpu");
        }
        if (where_out && where_cap) {
            snprintf(where_out, where_cap, "%s", where);
        }
        tq_log(TFMQ_LOG_INFO, "calibrate: %llu samples, %zu tensors on %s in %.2f s (%.1f "
               "samples/s)", (unsigned long long)n_samples, r.n_obs, where, dt,
               dt > 0.0 ? (double)n_samples / dt : 0.0);
    }
    if (n_samples == 0) {
        st = tq_fail(TFMQ_ERR_INVALID_ARG, "calibrate: the calibration data yielded no samples");
        goto fail;
    }
    const double pct = o.percentile > 0.0 ? o.percentile : TQ_CALIB_DEFAULT_PERCENTILE;
    for (size_t i = 0; i < n_names; i++) {
        TQ_TRY(st, tq_observer_range(&r.obs[obs_of_name[i]], o.calib_method, pct,
                                     o.asymmetric_activations, &lo_out[i], &hi_out[i]));
    }
    if (n_samples_out) {
        *n_samples_out = n_samples;
    }
fail:
    tq_exec_destroy(r.e);
    tq_free(a, r.obs_of_value, (g->n_values ? g->n_values : 1) * sizeof(int32_t));
    tq_free(a, r.value_of_obs, n_nm * sizeof(int32_t));
    tq_free(a, r.const_done, n_nm * sizeof(bool));
    tq_free(a, r.obs, n_nm * sizeof(tq_observer));
    tq_free(a, obs_of_name, n_nm * sizeof(int32_t));
    return st;
}
