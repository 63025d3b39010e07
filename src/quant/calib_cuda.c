/* calib_cuda.c: calibration's FP32 passes on a GPU (calib.h, tq_calibrate_cuda; built with the
 * CUDA backend only). The graph runs on the CUDA exec (backends/cuda/exec.h) in strict FP32
 * (float32 storage, no TF32: ranges stay within float rounding of the CPU's) with untimed
 * convolution plans (quick_plans: calibration runs a few batches, autotuning would cost more
 * than them). The exec's observer downloads each requested value as host float32 NCHW right
 * after the step that computes it, and this file feeds the same tq_observer objects as the CPU
 * driver, one tensor after another (each observer sees its values in batch order), each split
 * over the CPU threads (tq_observer_add_f32_parallel: the serial result exactly) while the GPU
 * goes on with the next values. The host exec (shapes and folded constants only) and the CUDA
 * exec are re-planned when a batch's input shapes differ from the planned ones (a last, cut
 * batch). Owns: both execs, the scratch observers of the threads; the observers are the
 * caller's. */
#include <string.h>

#include "quant/calib.h"

#include "backends/cuda/exec.h"
#include "quant/quant.h"
#include "runtime/exec.h"

typedef struct tq_cc_run {
    const tq_graph *g;
    const tfmq_allocator *alloc;
    const tfmq_quantize_options *opts;
    tq_calib_obs *co;
    int device;
    tq_exec *host;          /* shapes and constants of the current plan */
    tq_cuda_exec *x;        /* NULL: not planned */
    tq_tensor *planned;     /* g->n_inputs: input shapes of the current plan (data NULL) */
    bool *want;             /* g->n_values: observed on the device */
    tq_observer *scratch;   /* n_threads observers for tq_observer_add_f32_parallel */
    int32_t n_threads;
    uint64_t n_done;
    size_t n_plans;
    double s_plan, s_observe; /* seconds planning; seconds in the observer (host side) */
} tq_cc_run;

/* Feed one host tensor of value v to its observer (float32 only, as the CPU driver). */
static void tq_cc_feed(tq_cc_run *r, int32_t v, const tq_tensor *t)
{
    const int32_t k = r->co->obs_of_value[v];
    if (k < 0 || t->dtype != TFMQ_DTYPE_FLOAT32 || !t->data || !tq_tensor_shape_known(t)) {
        return;
    }
    tq_observer_add_f32_parallel(&r->co->obs[k], (const float *)t->data, tq_tensor_numel(t),
                                 r->n_threads, r->scratch);
}

static tfmq_status tq_cc_on_values(void *ud, const int32_t *values, const tq_tensor *tensors,
                                   size_t n)
{
    tq_cc_run *r = ud;
    const double t0 = tq_now_s();
    for (size_t i = 0; i < n; i++) {
        tq_cc_feed(r, values[i], &tensors[i]);
    }
    r->s_observe += tq_now_s() - t0;
    return TFMQ_OK;
}

static bool tq_cc_same_shapes(const tq_cc_run *r, const tq_tensor *inputs)
{
    for (size_t i = 0; i < r->g->n_inputs; i++) {
        const tq_tensor *p = &r->planned[i], *t = &inputs[i];
        if (p->rank != t->rank || p->dtype != t->dtype) {
            return false;
        }
        for (int32_t d = 0; d < t->rank; d++) {
            if (p->dims[d] != t->dims[d]) {
                return false;
            }
        }
    }
    return true;
}

/* (Re)plan both execs for the shapes of inputs; constants new to this plan are observed. */
static tfmq_status tq_cc_plan(tq_cc_run *r, const tq_tensor *inputs)
{
    const tq_graph *g = r->g;
    tfmq_status st;
    const double t0 = tq_now_s();
    tq_cuda_exec_destroy(r->x);
    r->x = NULL;
    for (size_t i = 0; i < g->n_inputs; i++) {
        r->planned[i] = inputs[i];
        r->planned[i].data = NULL;
    }
    TQ_TRY(st, tq_exec_plan(r->host, r->planned, true));
    for (size_t k = 0; k < r->co->n_obs; k++) {
        const int32_t v = r->co->value_of_obs[k];
        if (!r->co->const_done[k] && tq_exec_value_is_const(r->host, v)) {
            tq_cc_feed(r, v, tq_exec_value(r->host, v));
            r->co->const_done[k] = true;
        }
    }
    for (size_t v = 0; v < g->n_values; v++) {
        const tq_tensor *t = tq_exec_value(r->host, (int32_t)v);
        r->want[v] = r->co->obs_of_value[v] >= 0 && t->dtype == TFMQ_DTYPE_FLOAT32 &&
                     !tq_exec_value_is_const(r->host, (int32_t)v);
    }
    tq_cuda_exec_opts xo;
    memset(&xo, 0, sizeof(xo));
    xo.device = r->device;
    xo.store = TQ_CUDA_F32;
    xo.math = TQ_CUDA_MATH_FP32;
    xo.use_graph = false;
    xo.plan_cache = NULL;
    xo.quick_plans = true;
    TQ_TRY(st, tq_cuda_exec_create(g, r->host, &xo, r->alloc, &r->x));
    TQ_TRY(st, tq_cuda_exec_set_observer(r->x, r->want, tq_cc_on_values, r));
    r->n_plans++;
    r->s_plan += tq_now_s() - t0;
    return TFMQ_OK;
fail:
    tq_cuda_exec_destroy(r->x);
    r->x = NULL;
    return st;
}

static tfmq_status tq_cc_visit(void *ctx, const tq_tensor *inputs, uint64_t batch_samples)
{
    tq_cc_run *r = ctx;
    tfmq_status st;
    if (!r->x || !tq_cc_same_shapes(r, inputs)) {
        TQ_TRY(st, tq_cc_plan(r, inputs));
    }
    TQ_TRY(st, tq_cuda_exec_run(r->x, inputs));
    r->n_done += batch_samples;
    if (r->opts->progress) {
        r->opts->progress(r->opts->progress_user_data, "calibrate", r->n_done,
                          r->opts->max_calib_samples);
    }
    return TFMQ_OK;
fail:
    return st;
}

tfmq_status tq_calibrate_cuda(const tq_graph *g, int device, const tfmq_quantize_options *o,
                              tq_calib_obs *obs, uint64_t *n_samples_out)
{
    tq_cc_run r;
    tfmq_status st;
    memset(&r, 0, sizeof(r));
    *n_samples_out = 0;
    r.g = g;
    r.alloc = g->alloc;
    r.opts = o;
    r.co = obs;
    r.device = device;
    r.n_threads = tq_quant_threads();
    if (r.n_threads < 1) {
        r.n_threads = 1;
    }
    const size_t n_in = g->n_inputs ? g->n_inputs : 1, n_v = g->n_values ? g->n_values : 1;
    r.planned = tq_calloc(r.alloc, n_in, sizeof(tq_tensor));
    r.want = tq_calloc(r.alloc, n_v, sizeof(bool));
    r.scratch = tq_alloc(r.alloc, (size_t)r.n_threads * sizeof(tq_observer));
    if (!r.planned || !r.want || !r.scratch) {
        st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "calibrate: out of memory");
        goto fail;
    }
    TQ_TRY(st, tq_exec_create(g, r.alloc, NULL, &r.host));
    const double t0 = tq_now_s();
    st = tq_for_each_batch(g, o->calib_fn, o->calib_user_data, o->max_calib_samples, tq_cc_visit,
                           &r, n_samples_out);
    if (st == TFMQ_OK) {
        const double dt = tq_now_s() - t0;
        tq_log(TFMQ_LOG_INFO, "calibrate: cuda:%d (%s): %llu samples in %.2f s: %zu plan(s) "
               "%.2f s, host observers %.2f s on %d thread(s) (overlapping the GPU)",
               device, r.x ? tq_cuda_exec_device_name(r.x) : "?",
               (unsigned long long)*n_samples_out, dt, r.n_plans, r.s_plan, r.s_observe,
               (int)r.n_threads);
    }
fail:
    tq_cuda_exec_destroy(r.x);
    tq_exec_destroy(r.host);
    tq_free(r.alloc, r.planned, n_in * sizeof(tq_tensor));
    tq_free(r.alloc, r.want, n_v * sizeof(bool));
    tq_free(r.alloc, r.scratch, (size_t)r.n_threads * sizeof(tq_observer));
    return st;
}
