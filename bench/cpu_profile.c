/* cpu_profile.c: where a model's time goes on the CPU backend, node by node.
 *
 *   tfmq_cpu_profile MODEL [--precision fp32|fp16|bf16] [--batch N] [--threads N] [--runs N]
 *
 * The model (ONNX, SavedModel, Keras or an engine; fp16/bf16 quantized in memory) is compiled as
 * a session would compile it, planned for the batch, run twice to warm up and then --runs times
 * (default 10) on random inputs with the exec's per-node profile on (tq_exec_set_profile).
 * Prints the total, the 25 slowest nodes (TFMQ_PROFILE_TOP=N: the N slowest) with their kernel
 * (oneDNN implementation, SIMD kernel or "ref" for the reference kernel) and the memory layouts
 * of their first input and output, and the time per op type. INT8 needs calibration: quantize
 * to an engine with `tfmq quantize` first and profile the engine. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backends/cpu/cpu.h"
#include "runtime/compile.h"
#include "runtime/exec.h"
#include "runtime/model.h"
#include "tfmq.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int fail(const char *what)
{
    fprintf(stderr, "tfmq_cpu_profile: %s: %s\n", what, tfmq_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    const char *path = NULL, *prec = "fp32";
    int64_t batch = 1;
    int threads = 0, runs = 10;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--precision") && v) {
            prec = v, i++;
        } else if (!strcmp(argv[i], "--batch") && v) {
            batch = strtoll(v, NULL, 10), i++;
        } else if (!strcmp(argv[i], "--threads") && v) {
            threads = (int)strtol(v, NULL, 10), i++;
        } else if (!strcmp(argv[i], "--runs") && v) {
            runs = (int)strtol(v, NULL, 10), i++;
        } else if (argv[i][0] != '-' && !path) {
            path = argv[i];
        } else {
            fprintf(stderr, "usage: tfmq_cpu_profile MODEL [--precision fp32|fp16|bf16] "
                            "[--batch N] [--threads N] [--runs N]\n");
            return 2;
        }
    }
    if (!path || batch < 1 || runs < 1 || threads < 0) {
        fprintf(stderr, "usage: tfmq_cpu_profile MODEL [--precision P] [--batch N] "
                        "[--threads N] [--runs N]\n");
        return 2;
    }
    tfmq_model *m = NULL, *q = NULL;
    if (tfmq_model_load(path, NULL, &m) != TFMQ_OK) {
        return fail(path);
    }
    if (strcmp(prec, "fp32") != 0) {
        tfmq_quantize_options qo;
        memset(&qo, 0, sizeof(qo));
        qo.struct_size = sizeof(qo);
        qo.precision = !strcmp(prec, "fp16") ? TFMQ_PRECISION_FP16 : TFMQ_PRECISION_BF16;
        if (strcmp(prec, "fp16") != 0 && strcmp(prec, "bf16") != 0) {
            fprintf(stderr, "tfmq_cpu_profile: precision '%s': fp32, fp16 or bf16\n", prec);
            return 2;
        }
        if (tfmq_quantize(m, &qo, &q, NULL) != TFMQ_OK) {
            return fail("quantize");
        }
    }
    const tfmq_model *run_m = q ? q : m;
    const tq_graph *g = NULL;
    bool owned = false;
    tq_arena arena;
    tq_arena_init(&arena, NULL);
    tq_exec *e = NULL;
    size_t n_in = run_m->graph->n_inputs ? run_m->graph->n_inputs : 1;
    tq_tensor *shapes = calloc(n_in, sizeof(tq_tensor));
    if (!shapes || tq_model_default_shapes(run_m, batch, shapes) != TFMQ_OK ||
        tq_compile(run_m->graph, true, &arena, NULL, &g, &owned) != TFMQ_OK ||
        tq_exec_create(g, NULL, NULL, &e) != TFMQ_OK) {
        return fail("compile");
    }
    tq_exec_set_threads(e, threads ? threads : tq_cpu_default_threads());
    if (tq_exec_plan(e, shapes, false) != TFMQ_OK) {
        return fail("plan");
    }
    /* random inputs in [-1, 1) (float inputs only) */
    void **bufs = calloc(n_in, sizeof(void *));
    for (size_t i = 0; bufs && i < g->n_inputs; i++) {
        size_t bytes = 0;
        if (!tq_tensor_bytes(&shapes[i], &bytes)) {
            return fail("input size");
        }
        bufs[i] = calloc(1, bytes + 1);
        if (!bufs[i]) {
            return fail("out of memory");
        }
        if (shapes[i].dtype == TFMQ_DTYPE_FLOAT32) {
            float *f = bufs[i];
            uint64_t r = 0x9e3779b97f4a7c15ull + i;
            for (size_t k = 0; k < bytes / 4; k++) {
                r ^= r << 13, r ^= r >> 7, r ^= r << 17;
                f[k] = (float)((double)(r >> 11) / 4503599627370496.0 - 1.0);
            }
        }
        shapes[i].data = bufs[i];
    }
    for (int w = 0; w < 2; w++) {
        if (tq_exec_run(e, shapes) != TFMQ_OK) {
            return fail("run");
        }
    }
    double *sec = calloc(g->n_nodes + 1, sizeof(double));
    size_t *order = calloc(g->n_nodes + 1, sizeof(size_t));
    if (!sec || !order) {
        return fail("out of memory");
    }
    tq_exec_set_profile(e, sec);
    double t0 = now_s();
    for (int r = 0; r < runs; r++) {
        if (tq_exec_run(e, shapes) != TFMQ_OK) {
            return fail("run");
        }
    }
    double wall = (now_s() - t0) / runs;
    tq_exec_set_profile(e, NULL);
    double total = 0.0;
    for (size_t i = 0; i < g->n_nodes; i++) {
        sec[i] /= runs;
        total += sec[i];
        order[i] = i;
    }
    for (size_t i = 1; i < g->n_nodes; i++) { /* slowest first */
        size_t v = order[i], j = i;
        while (j > 0 && sec[order[j - 1]] < sec[v]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = v;
    }
    printf("%s %s batch %lld, %d thread(s): %.3f ms per run, %.3f ms in kernels\n", path,
           run_m->precision ? run_m->precision : prec,
           (long long)batch, threads ? threads : tq_cpu_default_threads(), 1e3 * wall,
           1e3 * total);
    const char *top_env = getenv("TFMQ_PROFILE_TOP");
    const size_t top = top_env && atoi(top_env) > 0 ? (size_t)atoi(top_env) : 25;
    for (size_t k = 0; k < g->n_nodes && k < top && sec[order[k]] > 0.0; k++) {
        size_t i = order[k];
        char lbl[64];
        const char *impl = tq_exec_node_impl(e, i);
        const int32_t v0 = g->nodes[i].n_in > 0 ? g->nodes[i].in[0] : -1;
        const int32_t o0 = g->nodes[i].n_out > 0 ? g->nodes[i].out[0] : -1;
        printf("  %8.3f ms %5.1f%%  %-20s %-28s %s (%s -> %s)\n", 1e3 * sec[i],
               100.0 * sec[i] / total, tq_op_table[g->nodes[i].op].name,
               tq_node_label(g, &g->nodes[i], lbl, sizeof(lbl)), impl ? impl : "ref",
               v0 >= 0 && tq_exec_value_layout(e, v0) == TQ_LAYOUT_NHWC ? "nhwc" : "nchw",
               o0 >= 0 && tq_exec_value_layout(e, o0) == TQ_LAYOUT_NHWC ? "nhwc" : "nchw");
    }
    for (size_t i = 0; i < g->n_nodes; i++) { /* per op type, first appearance order */
        uint32_t op = g->nodes[i].op;
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++) {
            seen = g->nodes[j].op == op;
        }
        if (seen) {
            continue;
        }
        double sum = 0.0;
        int cnt = 0;
        for (size_t j = i; j < g->n_nodes; j++) {
            if (g->nodes[j].op == op && sec[j] > 0.0) {
                sum += sec[j];
                cnt++;
            }
        }
        if (cnt) {
            printf("  op %-22s %4d nodes %8.3f ms %5.1f%%\n", tq_op_table[op].name, cnt, 1e3 * sum,
                   100.0 * sum / total);
        }
    }
    for (size_t i = 0; i < g->n_inputs; i++) {
        free(bufs[i]);
    }
    free(bufs);
    free(sec);
    free(order);
    free(shapes);
    tq_exec_destroy(e);
    if (owned) {
        tq_graph_destroy((tq_graph *)(uintptr_t)g);
    }
    tq_arena_free(&arena);
    tfmq_model_destroy(q);
    tfmq_model_destroy(m);
    return 0;
}
