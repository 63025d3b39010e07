/* gpu_run.c: run and time one model on the CUDA backend, for bench/gpu_bench.py (which compares
 * the outputs and times with PyTorch's on the same card) and for debugging a GPU plan.
 *
 *   tfmq_gpu_run MODEL.onnx [--precision fp32|tf32|fp16|bf16|int8] [--batch N] [--input X.npy]
 *                [--output Y.npy] [--runs N] [--iters N] [--nodes] [--profile]
 *                [--save-planned E.tfmq]
 *
 * The model is quantized in memory to the precision (float precisions: no calibration; int8:
 * min-max calibration on 8 batches of 8 random normal inputs, fixed seed: fine for timing, not
 * for accuracy),
 * a session is created on cuda with the batch dimension set, and run once on the input (X.npy,
 * whose first dimension must be the batch; else random normal, fixed seed). Output 0 goes to
 * Y.npy as float32. Then:
 *   e2e_ms: median of --runs session runs (host input to host output, copies included);
 *   gpu_ms: median of 5 measurements of --iters replays of the kernels alone (CUDA events).
 * Prints one JSON line last. --nodes lists every node's GPU implementation first; --profile
 * the device time of each node (an event after every kernel), the 25 slowest and per op.
 * --save-planned writes the (quantized) model with the session's plans as a "cuda" engine
 * (tfmq_model_save_planned); MODEL may itself be such an engine (run at its precision: leave
 * --precision out), whose session then plans from it: create_ms is the warm load. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cuda/exec.h"
#include "npy.h"
#include "tfmq.h"

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int fail(const char *what, tfmq_status st)
{
    fprintf(stderr, "tfmq_gpu_run: %s: %s: %s\n", what, tfmq_status_str(st), tfmq_last_error());
    return 1;
}

static void log_to_stderr(void *ud, tfmq_log_level level, const char *msg)
{
    (void)ud;
    (void)level;
    fprintf(stderr, "%s\n", msg);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static double rng_u01(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return ((double)(rng_state >> 11) + 0.5) / 9007199254740992.0;
}

/* int8 calibration: CALIB_BATCHES batches of CALIB_N random normal inputs (own seed). */
#define CALIB_BATCHES 8
#define CALIB_N 8
typedef struct calib_src {
    int32_t rank;
    int64_t dims[8];
    size_t n;
    float *buf;
    uint64_t seed;
} calib_src;

static tfmq_status calib_batch(void *ud, size_t batch_index, tfmq_tensor *inputs, size_t n_inputs,
                               bool *done)
{
    calib_src *c = ud;
    if (n_inputs != 1) {
        return TFMQ_ERR_UNSUPPORTED;
    }
    if (batch_index >= CALIB_BATCHES) {
        *done = true;
        return TFMQ_OK;
    }
    uint64_t st = c->seed + 0x9e3779b97f4a7c15ull * (batch_index + 1);
    for (size_t i = 0; i < c->n; i += 2) {
        double u1, u2;
        st ^= st << 13;
        st ^= st >> 7;
        st ^= st << 17;
        u1 = ((double)(st >> 11) + 0.5) / 9007199254740992.0;
        st ^= st << 13;
        st ^= st >> 7;
        st ^= st << 17;
        u2 = ((double)(st >> 11) + 0.5) / 9007199254740992.0;
        const double r = sqrt(-2.0 * log(u1));
        c->buf[i] = (float)(r * cos(6.283185307179586 * u2));
        if (i + 1 < c->n) {
            c->buf[i + 1] = (float)(r * sin(6.283185307179586 * u2));
        }
    }
    inputs[0].dtype = TFMQ_DTYPE_FLOAT32;
    inputs[0].rank = c->rank;
    inputs[0].dims = c->dims;
    inputs[0].data = c->buf;
    inputs[0].data_bytes = c->n * sizeof(float);
    return TFMQ_OK;
}

int main(int argc, char **argv)
{
    const char *model_path = NULL, *prec = "fp32", *in_path = NULL, *out_path = NULL;
    const char *planned_path = NULL;
    int64_t batch = 1;
    int runs = 20, iters = 20;
    bool nodes = false, profile = false;
    const char *verbose = getenv("TFMQ_GPU_RUN_LOG"); /* "debug": the library's debug log */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--precision") && v) {
            prec = v, i++;
        } else if (!strcmp(a, "--batch") && v) {
            batch = atoll(v), i++;
        } else if (!strcmp(a, "--input") && v) {
            in_path = v, i++;
        } else if (!strcmp(a, "--output") && v) {
            out_path = v, i++;
        } else if (!strcmp(a, "--runs") && v) {
            runs = atoi(v), i++;
        } else if (!strcmp(a, "--iters") && v) {
            iters = atoi(v), i++;
        } else if (!strcmp(a, "--save-planned") && v) {
            planned_path = v, i++;
        } else if (!strcmp(a, "--nodes")) {
            nodes = true;
        } else if (!strcmp(a, "--profile")) {
            profile = true;
        } else if (a[0] != '-' && !model_path) {
            model_path = a;
        } else {
            fprintf(stderr, "tfmq_gpu_run: bad argument '%s' (see the header of bench/gpu_run.c)\n",
                    a);
            return 2;
        }
    }
    if (!model_path || batch < 1 || runs < 1 || iters < 1) {
        fprintf(stderr, "usage: tfmq_gpu_run MODEL.onnx [--precision P] [--batch N] [--input X.npy]"
                        " [--output Y.npy] [--runs N] [--iters N] [--nodes]\n");
        return 2;
    }
    tfmq_precision p;
    if (!strcmp(prec, "fp32")) {
        p = TFMQ_PRECISION_FP32;
    } else if (!strcmp(prec, "tf32")) {
        p = TFMQ_PRECISION_TF32;
    } else if (!strcmp(prec, "fp16")) {
        p = TFMQ_PRECISION_FP16;
    } else if (!strcmp(prec, "bf16")) {
        p = TFMQ_PRECISION_BF16;
    } else if (!strcmp(prec, "int8")) {
        p = TFMQ_PRECISION_INT8;
    } else {
        fprintf(stderr, "tfmq_gpu_run: precision '%s': fp32, tf32, fp16, bf16 or int8\n", prec);
        return 2;
    }
    if (verbose && !strcmp(verbose, "debug")) {
        tfmq_set_log_callback(log_to_stderr, NULL, TFMQ_LOG_DEBUG);
    }
    tfmq_model *m = NULL, *q = NULL;
    tfmq_status st = tfmq_model_load(model_path, NULL, &m);
    if (st != TFMQ_OK) {
        return fail(model_path, st);
    }
    if (p != TFMQ_PRECISION_FP32) {
        tfmq_quantize_options qo;
        memset(&qo, 0, sizeof(qo));
        qo.struct_size = sizeof(qo);
        qo.precision = p;
        calib_src cs;
        memset(&cs, 0, sizeof(cs));
        if (p == TFMQ_PRECISION_INT8) {
            tfmq_io_info ci;
            memset(&ci, 0, sizeof(ci));
            ci.struct_size = sizeof(ci);
            if ((st = tfmq_model_io(m, TFMQ_IO_INPUT, 0, &ci)) != TFMQ_OK) {
                return fail("model io", st);
            }
            cs.rank = ci.rank;
            cs.n = 1;
            cs.seed = 0x1234567ull;
            for (int32_t d = 0; d < ci.rank && d < 8; d++) {
                cs.dims[d] = ci.dims[d] >= 0 ? ci.dims[d] : (d == 0 ? CALIB_N : 1);
                cs.n *= (size_t)cs.dims[d];
            }
            cs.buf = malloc(cs.n * sizeof(float));
            if (!cs.buf) {
                return fail("calibration buffer", TFMQ_ERR_OUT_OF_MEMORY);
            }
            qo.calib_method = TFMQ_CALIB_MINMAX;
            qo.calib_fn = calib_batch;
            qo.calib_user_data = &cs;
        }
        st = tfmq_quantize(m, &qo, &q, NULL);
        free(cs.buf);
        if (st != TFMQ_OK) {
            return fail("quantize", st);
        }
    }
    const tfmq_model *run_m = q ? q : m;
    tfmq_io_info ii, oi;
    memset(&ii, 0, sizeof(ii));
    memset(&oi, 0, sizeof(oi));
    ii.struct_size = oi.struct_size = sizeof(ii);
    if ((st = tfmq_model_io(run_m, TFMQ_IO_INPUT, 0, &ii)) != TFMQ_OK ||
        (st = tfmq_model_io(run_m, TFMQ_IO_OUTPUT, 0, &oi)) != TFMQ_OK) {
        return fail("model io", st);
    }
    npy_array x;
    memset(&x, 0, sizeof(x));
    int64_t dims[8];
    size_t n = 1;
    if (in_path) {
        cli_err e;
        if ((st = npy_read(in_path, &x, &e)) != TFMQ_OK) {
            fprintf(stderr, "tfmq_gpu_run: %s: %s\n", in_path, e.msg);
            return 1;
        }
        batch = x.dims[0];
    }
    for (int32_t d = 0; d < ii.rank && d < 8; d++) {
        dims[d] = ii.dims[d] >= 0 ? ii.dims[d] : batch;
        n *= (size_t)dims[d];
    }
    float *xin = x.data;
    if (!in_path) {
        xin = malloc(n * sizeof(float));
        for (size_t j = 0; xin && j < n; j++) {
            double u1 = rng_u01(), u2 = rng_u01();
            xin[j] = (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
        }
    } else if (x.n_elems != n || x.dtype != TFMQ_DTYPE_FLOAT32) {
        fprintf(stderr, "tfmq_gpu_run: %s: %zu float32 elements needed\n", in_path, n);
        return 1;
    }
    tfmq_session_options so;
    memset(&so, 0, sizeof(so));
    so.struct_size = sizeof(so);
    so.symbolic_dim_default = batch;
    so.device = "cuda";
    so.flags = planned_path ? TFMQ_SESSION_RECORD_PLANS : 0;
    tfmq_session *s = NULL;
    double t0 = cli_now_ms();
    if ((st = tfmq_session_create(run_m, &so, &s)) != TFMQ_OK) {
        return fail("session_create", st);
    }
    double create_ms = cli_now_ms() - t0;
    if (planned_path &&
        (st = tfmq_model_save_planned(run_m, &s, 1, planned_path, TFMQ_WRITE_OVERWRITE)) !=
            TFMQ_OK) {
        return fail(planned_path, st);
    }
    tfmq_tensor in = {ii.name, TFMQ_DTYPE_FLOAT32, ii.rank, dims, xin, n * sizeof(float)};
    tfmq_tensor out;
    memset(&out, 0, sizeof(out));
    out.name = oi.name;
    t0 = cli_now_ms();
    if ((st = tfmq_session_run(s, &in, 1, &out, 1)) != TFMQ_OK) {
        return fail("session_run", st);
    }
    double first_ms = cli_now_ms() - t0;
    if (out_path) {
        cli_err e;
        if ((st = npy_write(out_path, out.dtype, out.rank, out.dims, out.data, out.data_bytes,
                            true, &e)) != TFMQ_OK) {
            fprintf(stderr, "tfmq_gpu_run: %s: %s\n", out_path, e.msg);
            return 1;
        }
    }
    tq_cuda_exec *cx = tq_session_cuda_exec(s);
    if (nodes) {
        for (size_t i = 0; i < tq_cuda_exec_n_nodes(cx); i++) {
            const char *impl = tq_cuda_exec_node_impl(cx, i);
            if (impl) {
                printf("node %zu %s: %s\n", i, tq_cuda_exec_node_op(cx, i), impl);
            }
        }
    }
    if (profile) {
        size_t nn = tq_cuda_exec_n_nodes(cx);
        double *ms = calloc(nn + 1, sizeof(double)), relayout = 0.0, total = 0.0;
        size_t *order = calloc(nn + 1, sizeof(size_t));
        if (!ms || !order || (st = tq_cuda_exec_profile(cx, 10, ms, &relayout)) != TFMQ_OK) {
            return fail("profile", st);
        }
        for (size_t i = 0; i < nn; i++) {
            order[i] = i;
            total += ms[i];
        }
        for (size_t i = 1; i < nn; i++) { /* insertion sort, slowest first */
            size_t v = order[i], j = i;
            while (j > 0 && ms[order[j - 1]] < ms[v]) {
                order[j] = order[j - 1];
                j--;
            }
            order[j] = v;
        }
        printf("profile: %.3f ms in nodes, %.3f ms in relayouts\n", total, relayout);
        for (size_t i = 0; i < nn && i < 25 && ms[order[i]] > 0.0; i++) {
            printf("  %8.3f ms %5.1f%%  node %zu %s: %s\n", ms[order[i]],
                   100.0 * ms[order[i]] / total, order[i], tq_cuda_exec_node_op(cx, order[i]),
                   tq_cuda_exec_node_impl(cx, order[i]));
        }
        /* per op type */
        for (size_t i = 0; i < nn; i++) {
            const char *op = tq_cuda_exec_node_op(cx, i);
            double sum = 0.0;
            int cnt = 0;
            bool seen = false;
            for (size_t j = 0; j < i; j++) {
                seen = seen || !strcmp(tq_cuda_exec_node_op(cx, j), op);
            }
            for (size_t j = i; j < nn && !seen; j++) {
                if (!strcmp(tq_cuda_exec_node_op(cx, j), op) && ms[j] > 0.0) {
                    sum += ms[j];
                    cnt++;
                }
            }
            if (!seen && cnt) {
                printf("  op %-22s %3d nodes %8.3f ms %5.1f%%\n", op, cnt, sum,
                       100.0 * sum / total);
            }
        }
        free(ms);
        free(order);
    }
    double *t = malloc(sizeof(double) * (size_t)(runs > 5 ? runs : 5));
    if (!t) {
        return 1;
    }
    for (int r = 0; r < runs; r++) {
        double a = cli_now_ms();
        if ((st = tfmq_session_run(s, &in, 1, &out, 1)) != TFMQ_OK) {
            return fail("session_run", st);
        }
        t[r] = cli_now_ms() - a;
    }
    qsort(t, (size_t)runs, sizeof(double), cmp_d);
    double e2e = t[runs / 2];
    for (int r = 0; r < 5; r++) {
        if ((st = tq_cuda_exec_time(cx, iters, &t[r])) != TFMQ_OK) {
            return fail("timing", st);
        }
    }
    qsort(t, 5, sizeof(double), cmp_d);
    double gpu = t[2];
    tfmq_session_info si;
    memset(&si, 0, sizeof(si));
    si.struct_size = sizeof(si);
    if ((st = tfmq_session_get_info(s, &si)) != TFMQ_OK) {
        return fail("session_get_info", st);
    }
    printf("{\"model\": \"%s\", \"precision\": \"%s\", \"batch\": %lld, \"device\": \"%s\", "
           "\"create_ms\": %.1f, \"first_run_ms\": %.3f, \"e2e_ms\": %.4f, \"gpu_ms\": %.4f, "
           "\"img_per_s\": %.1f, \"host_fallback\": %zu, \"graph\": %s, \"plans_cached\": %zu, "
           "\"plans_tuned\": %zu}\n",
           model_path, prec, (long long)batch, si.device_name, create_ms, first_ms, e2e, gpu,
           (double)batch * 1000.0 / gpu, si.n_host_fallback, si.graph_replay ? "true" : "false",
           si.plan_cache_hits, si.plan_cache_misses);
    free(t);
    tfmq_session_destroy(s);
    tfmq_model_destroy(q);
    tfmq_model_destroy(m);
    if (in_path) {
        npy_free(&x);
    } else {
        free(xin);
    }
    return 0;
}
