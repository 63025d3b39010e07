/* test_report.c: fidelity measurement and reports on the bundled Fashion-MNIST CNN: a model
 * against itself is exact (200 dB, top-1 1.0, no error); a copy with one weight perturbed is
 * measurably worse and that layer ranks first by damage; JSON is well formed with the documented
 * keys; tfmq_compare of two loads is exact; bad pairs and empty data are refused; no leaks, and
 * every allocation failure is reported as TFMQ_ERR_OUT_OF_MEMORY (OOM torture). */
#include <math.h>
#include <string.h>

#include "core/core.h"
#include "harness.h"
#include "ir/rewrite.h"
#include "quant/report.h"
#include "runtime/model.h"
#include "tfmq.h"

static char g_model[4200];

static void find_model(void)
{
    char root[4096];
    snprintf(root, sizeof(root), "%s", __FILE__);
    char *p = strstr(root, "/tests/unit/");
    if (p) {
        *p = '\0';
    } else {
        snprintf(root, sizeof(root), ".");
    }
    snprintf(g_model, sizeof(g_model), "%s/models/fashion_mnist_cnn.onnx", root);
}

static tfmq_model *load_model(void)
{
    tfmq_model *m = NULL;
    tfmq_status st = tfmq_model_load(g_model, NULL, &m);
    TQ_EXPECT(st == TFMQ_OK, "load %s: %s", g_model, tfmq_last_error());
    return m;
}

/* ---- a data source: batches of sizes sizes[0..n_batches) of uniform [0, 1) images ---- */
#define MAX_BATCH 8
typedef struct data_src {
    uint64_t seed;
    const int *sizes;
    size_t n_batches;
    float x[MAX_BATCH * 28 * 28];
    int64_t dims[4];
} data_src;

static tfmq_status data_fn(void *ud, size_t batch_index, tfmq_tensor *inputs, size_t n_inputs,
                           bool *done)
{
    data_src *d = ud;
    if (n_inputs != 1 || strcmp(inputs[0].name, "input") != 0) {
        return TFMQ_ERR_INVALID_ARG;
    }
    if (batch_index >= d->n_batches) {
        *done = true;
        return TFMQ_OK;
    }
    const int n = d->sizes[batch_index];
    tq_rng rng = {d->seed + batch_index}; /* the same data every time it is iterated */
    for (size_t i = 0; i < (size_t)n * 28 * 28; i++) {
        d->x[i] = tq_rng_uniform(&rng, 0.0f, 1.0f);
    }
    d->dims[0] = n;
    d->dims[1] = 1;
    d->dims[2] = 28;
    d->dims[3] = 28;
    inputs[0].dtype = TFMQ_DTYPE_FLOAT32;
    inputs[0].rank = 4;
    inputs[0].dims = d->dims;
    inputs[0].data = d->x;
    inputs[0].data_bytes = (size_t)n * 28 * 28 * sizeof(float);
    return TFMQ_OK;
}

static const int k_sizes[] = {4, 3, 4}; /* a shape change re-plans both executors */

static void data_init(data_src *d, uint64_t seed)
{
    memset(d, 0, sizeof(*d));
    d->seed = seed;
    d->sizes = k_sizes;
    d->n_batches = sizeof(k_sizes) / sizeof(k_sizes[0]);
}

/* ---- layer pairs: outputs of Conv/Gemm/MatMul (plain or fused), same names in both graphs ---- */
#define MAX_PAIRS 32
typedef struct pairs {
    tq_layer_pair p[MAX_PAIRS];
    int32_t node[MAX_PAIRS];
    char labels[MAX_PAIRS][64];
    size_t n;
} pairs;

static void make_pairs(const tq_graph *g, pairs *ps)
{
    memset(ps, 0, sizeof(*ps));
    for (size_t i = 0; i < g->n_nodes && ps->n < MAX_PAIRS; i++) {
        const tq_node *n = &g->nodes[i];
        const char *op = tq_op_table[n->op].name;
        if (strcmp(op, "Conv") != 0 && strcmp(op, "Gemm") != 0 && strcmp(op, "MatMul") != 0 &&
            strcmp(op, "tfmq.FusedConv") != 0 && strcmp(op, "tfmq.FusedGemm") != 0) {
            continue;
        }
        tq_layer_pair *p = &ps->p[ps->n];
        p->layer = tq_node_label(g, n, ps->labels[ps->n], sizeof(ps->labels[0]));
        p->op = op;
        p->ref_name = g->values[n->out[0]].name;
        p->cand_name = p->ref_name;
        p->scale = 1.0f;
        p->precision = "fp32";
        ps->node[ps->n] = (int32_t)i;
        ps->n++;
    }
}

static void test_self(tq_rng *rng)
{
    (void)rng;
    tfmq_model *m = load_model();
    if (!m) {
        return;
    }
    pairs ps;
    make_pairs(m->graph, &ps);
    TQ_EXPECT(ps.n >= 2, "the CNN has %zu conv/gemm layers", ps.n);
    data_src d;
    data_init(&d, 42);
    tq_test_counting_alloc ca = {0};
    tfmq_allocator a = {&ca, tq_test_counting_alloc_fn, tq_test_counting_free_fn};
    tq_fidelity f;
    TQ_EXPECT_OK(tq_fidelity_eval(m->graph, m->graph, ps.p, ps.n, data_fn, &d, 0, &a, &f));
    TQ_EXPECT_EQ_U64(f.n_samples, 11);
    TQ_EXPECT(f.output_sqnr_db == 200.0, "sqnr %g", f.output_sqnr_db);
    TQ_EXPECT(f.top1_agreement == 1.0, "top1 %g", f.top1_agreement);
    TQ_EXPECT(f.top5_agreement == 1.0, "top5 %g", f.top5_agreement);
    TQ_EXPECT(f.max_abs_error == 0.0 && f.mean_abs_error == 0.0, "errors %g %g",
              f.max_abs_error, f.mean_abs_error);
    TQ_EXPECT(fabs(f.output_cosine - 1.0) < 1e-12, "cosine %.17g", f.output_cosine);
    TQ_EXPECT_EQ_U64(f.n_layers, ps.n);
    for (size_t i = 0; i < f.n_layers; i++) {
        TQ_EXPECT(f.layers[i].sqnr_db == 200.0 && f.layers[i].n_values > 0,
                  "layer %s: sqnr %g over %llu values", ps.p[i].layer, f.layers[i].sqnr_db,
                  (unsigned long long)f.layers[i].n_values);
    }
    /* max_samples cuts the data */
    tq_fidelity f2;
    TQ_EXPECT_OK(tq_fidelity_eval(m->graph, m->graph, ps.p, ps.n, data_fn, &d, 5, &a, &f2));
    TQ_EXPECT_EQ_U64(f2.n_samples, 5);
    tq_fidelity_free(&f2);
    tq_fidelity_free(&f);
    tq_fidelity_free(&f); /* twice is harmless */
    TQ_EXPECT(atomic_load(&ca.n_live) == 0, "%lld blocks leaked", (long long)ca.n_live);
    tfmq_model_destroy(m);
}

/* A clone of g with noise added to the weight (input 1) of node `node`. */
static tq_graph *perturb(const tq_graph *g, tq_arena *arena, int32_t node, tq_rng *rng)
{
    tq_graph *c = NULL;
    if (tq_graph_clone(g, arena, NULL, &c) != TFMQ_OK) {
        TQ_EXPECT(0, "clone: %s", tfmq_last_error());
        return NULL;
    }
    const tq_value *w = &c->values[c->nodes[node].in[1]];
    TQ_CHECK(w->t.dtype == TFMQ_DTYPE_FLOAT32 && w->t.data);
    const size_t n = tq_tensor_numel(&w->t);
    float *nw = malloc(n * sizeof(float));
    double ss = 0.0;
    for (size_t i = 0; i < n; i++) {
        ss += (double)((const float *)w->t.data)[i] * (double)((const float *)w->t.data)[i];
    }
    const float sd = (float)sqrt(ss / (double)n);
    for (size_t i = 0; i < n; i++) {
        nw[i] = ((const float *)w->t.data)[i] + tq_rng_uniform(rng, -0.3f, 0.3f) * sd;
    }
    int64_t dims[TQ_MAX_RANK];
    memcpy(dims, w->t.dims, sizeof(dims));
    int32_t idx = -1;
    TQ_EXPECT_OK(tq_graph_add_const(c, "noisy_weight", TFMQ_DTYPE_FLOAT32, w->t.rank, dims, nw,
                                    &idx));
    c->nodes[node].in[1] = idx;
    free(nw);
    return c;
}

static bool json_well_formed(const char *s)
{
    int depth = 0;
    bool in_str = false;
    for (const char *p = s; *p; p++) {
        if (in_str) {
            if (*p == '\\') {
                p++;
                if (!*p) {
                    return false;
                }
            } else if (*p == '"') {
                in_str = false;
            } else if ((unsigned char)*p < 0x20) {
                return false;
            }
            continue;
        }
        if (*p == '"') {
            in_str = true;
        } else if (*p == '{' || *p == '[') {
            depth++;
        } else if (*p == '}' || *p == ']') {
            if (--depth < 0) {
                return false;
            }
        } else if (strncmp(p, "nan", 3) == 0 || strncmp(p, "inf", 3) == 0 ||
                   strncmp(p, "NaN", 3) == 0 || strncmp(p, "Infinity", 8) == 0) {
            return false;
        }
    }
    return depth == 0 && !in_str;
}

static void test_perturbed_and_report(tq_rng *rng)
{
    tfmq_model *m = load_model();
    if (!m) {
        return;
    }
    pairs ps;
    make_pairs(m->graph, &ps);
    if (ps.n < 2) {
        TQ_EXPECT(0, "need two layers");
        tfmq_model_destroy(m);
        return;
    }
    /* perturb a middle layer: every layer before it stays exact */
    const size_t victim = ps.n / 2;
    tq_arena arena;
    tq_arena_init(&arena, NULL);
    tq_graph *c = perturb(m->graph, &arena, ps.node[victim], rng);
    data_src d;
    data_init(&d, 7);
    tq_fidelity f;
    memset(&f, 0, sizeof(f));
    if (c) {
        TQ_EXPECT_OK(tq_fidelity_eval(m->graph, c, ps.p, ps.n, data_fn, &d, 0, NULL, &f));
    }
    TQ_EXPECT(f.top1_agreement < 1.0 ||
                  (isfinite(f.output_sqnr_db) && f.output_sqnr_db < 100.0),
              "top1 %g sqnr %g", f.top1_agreement, f.output_sqnr_db);
    TQ_EXPECT(f.max_abs_error > 0.0 && f.mean_abs_error > 0.0 &&
                  f.mean_abs_error <= f.max_abs_error,
              "errors %g %g", f.max_abs_error, f.mean_abs_error);
    TQ_EXPECT(f.output_cosine < 1.0 && f.output_cosine > 0.5, "cosine %g", f.output_cosine);
    for (size_t i = 0; i < f.n_layers; i++) {
        if (i < victim) {
            TQ_EXPECT(f.layers[i].sqnr_db == 200.0, "layer %zu before the victim: %g", i,
                      f.layers[i].sqnr_db);
        } else {
            TQ_EXPECT(isfinite(f.layers[i].sqnr_db) && f.layers[i].sqnr_db < 100.0,
                      "layer %zu from the victim on: %g", i, f.layers[i].sqnr_db);
        }
    }
    /* the report ranks by SQNR, lowest first: the lowest is the victim or a layer after it (a
     * later layer can amplify the victim's error: with some seeds fc ends below it) */
    size_t worst = 0;
    for (size_t i = 1; i < f.n_layers; i++) {
        if (f.layers[i].sqnr_db < f.layers[worst].sqnr_db) {
            worst = i;
        }
    }
    TQ_EXPECT(f.n_layers == 0 || worst >= victim, "the lowest SQNR is %s, before the victim %s",
              ps.p[worst].layer, ps.p[victim].layer);

    /* the last layer (fc) writes the logits: its SQNR is the output SQNR */
    if (f.n_layers && c &&
        strcmp(ps.p[ps.n - 1].ref_name, m->graph->values[m->graph->outputs[0]].name) == 0) {
        TQ_EXPECT(fabs(f.layers[ps.n - 1].sqnr_db - f.output_sqnr_db) < 1e-9, "%g vs %g",
                  f.layers[ps.n - 1].sqnr_db, f.output_sqnr_db);
    }

    /* the report */
    const char *float_layers[] = {"Softmax#12 (Softmax)", "odd \"name\"\\\n\x01"};
    const char *fb[] = {ps.p[victim].layer};
    const char *why[] = {"top1 below 0.99"};
    tq_report_info info;
    memset(&info, 0, sizeof(info));
    info.precision = "int8";
    info.calib_method = "percentile";
    info.calib_samples = 11;
    info.calib_device = "cuda:1";
    info.percentile = 99.9;
    info.tolerance = "top1=0.99";
    info.tolerance_met = false;
    info.pairs = ps.p;
    info.n_pairs = ps.n;
    info.float_layers = float_layers;
    info.n_float_layers = 2;
    info.fallback_layers = fb;
    info.fallback_reasons = why;
    info.n_fallback = 1;
    tq_test_counting_alloc ca = {0};
    tfmq_allocator a = {&ca, tq_test_counting_alloc_fn, tq_test_counting_free_fn};
    tfmq_report *r = NULL;
    TQ_EXPECT_OK(tq_report_build(&info, &f, &a, &r));
    const char *js = tfmq_report_json(r), *tx = tfmq_report_text(r);
    static const char *const keys[] = {
        "\"precision\": \"int8\"", "\"calibration\"", "\"method\": \"percentile\"",
        "\"samples\": 11", "\"device\": \"cuda:1\"", "\"percentile\": 99.9", "\"tolerance\"", "\"spec\": \"top1=0.99\"",
        "\"met\": false", "\"fidelity\"", "\"top1_agreement\"", "\"top5_agreement\"",
        "\"output_sqnr_db\"", "\"output_cosine\"", "\"max_abs_error\"", "\"mean_abs_error\"",
        "\"layers\": [", "\"name\"", "\"op\"", "\"sqnr_db\"", "\"cosine\"", "\"float_layers\"",
        "\"fallback_layers\"", "\"reason\": \"top1 below 0.99\"",
        "\"odd \\\"name\\\"\\\\\\n\\u0001\""};
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        TQ_EXPECT_STR_CONTAINS(js, keys[k]);
    }
    TQ_EXPECT(js && json_well_formed(js), "malformed JSON:\n%s", js ? js : "(null)");
    /* the text ranks the lowest-SQNR layer first */
    TQ_EXPECT_STR_CONTAINS(tx, "11 samples on cuda:1\n");
    TQ_EXPECT_STR_CONTAINS(tx, "layers by damage");
    const char *table = tx ? strstr(tx, "layers by damage") : NULL;
    const char *first_row = table ? strchr(strchr(table, '\n') + 1, '\n') : NULL;
    TQ_EXPECT(first_row && strncmp(first_row + 3, ps.p[worst].layer,
                                   strlen(ps.p[worst].layer)) == 0,
              "lowest-SQNR layer %s not first:\n%s", ps.p[worst].layer, tx ? tx : "(null)");
    if (getenv("TFMQ_TEST_VERBOSE")) {
        printf("%s\n%s\n", js ? js : "(null)", tx ? tx : "(null)");
    }
    tfmq_report_destroy(r);
    TQ_EXPECT(atomic_load(&ca.n_live) == 0, "%lld blocks leaked", (long long)ca.n_live);

    /* no measurement, no layers: unknowns are null */
    tq_report_info bare;
    memset(&bare, 0, sizeof(bare));
    bare.precision = "fp16";
    TQ_EXPECT_OK(tq_report_build(&bare, NULL, NULL, &r));
    js = tfmq_report_json(r);
    TQ_EXPECT(js && json_well_formed(js), "malformed JSON:\n%s", js ? js : "(null)");
    TQ_EXPECT_STR_CONTAINS(js, "\"top1_agreement\": null");
    TQ_EXPECT_STR_CONTAINS(js, "\"method\": null");
    TQ_EXPECT_STR_CONTAINS(js, "\"device\": null");
    TQ_EXPECT_STR_CONTAINS(js, "\"layers\": []");
    tfmq_report_destroy(r);
    tfmq_report_destroy(NULL);

    /* mismatched pair count */
    bare.n_pairs = 0;
    r = (tfmq_report *)1;
    TQ_EXPECT_STATUS(tq_report_build(&bare, &f, NULL, &r), TFMQ_ERR_INVALID_ARG);
    TQ_EXPECT(r == NULL, "report_out NULL on failure");

    tq_fidelity_free(&f);
    if (c) {
        tq_graph_destroy(c);
    }
    tq_arena_free(&arena);
    tfmq_model_destroy(m);
}

/* A graph "input" [-1,1,28,28] -> Identity -> "y" (ref), or -> QuantizeLinear(s, zp) -> "q"
 * (int8) -> DequantizeLinear -> "y" (cand). */
static tq_graph *tiny_graph(tq_arena *arena, bool quant, float s, int8_t zp)
{
    tq_graph *g = NULL;
    int32_t x = -1, y = -1, q = -1, sv = -1, zv = -1, ni = -1;
    bool ok = tq_graph_create(arena, NULL, &g) == TFMQ_OK &&
              tq_graph_add_value(g, "input", &x) == TFMQ_OK;
    if (!ok) {
        TQ_EXPECT(0, "graph: %s", tfmq_last_error());
        return NULL;
    }
    g->values[x].t.dtype = TFMQ_DTYPE_FLOAT32;
    g->values[x].t.rank = 4;
    const int64_t dims[4] = {-1, 1, 28, 28};
    memcpy(g->values[x].t.dims, dims, sizeof(dims));
    ok = tq_graph_add_value(g, "y", &y) == TFMQ_OK;
    if (ok && quant) {
        ok = tq_graph_add_value(g, "q", &q) == TFMQ_OK &&
             tq_graph_add_const(g, "s", TFMQ_DTYPE_FLOAT32, 0, NULL, &s, &sv) == TFMQ_OK &&
             tq_graph_add_const(g, "zp", TFMQ_DTYPE_INT8, 0, NULL, &zp, &zv) == TFMQ_OK &&
             tq_graph_add_node(g, TQ_OP_QUANTIZE_LINEAR, "quant", 3, 1, 0, &ni) == TFMQ_OK;
        if (ok) {
            g->nodes[ni].in[0] = x;
            g->nodes[ni].in[1] = sv;
            g->nodes[ni].in[2] = zv;
            g->nodes[ni].out[0] = q;
            ok = tq_graph_add_node(g, TQ_OP_DEQUANTIZE_LINEAR, "dequant", 3, 1, 0, &ni) ==
                 TFMQ_OK;
        }
        if (ok) {
            g->nodes[ni].in[0] = q;
            g->nodes[ni].in[1] = sv;
            g->nodes[ni].in[2] = zv;
            g->nodes[ni].out[0] = y;
        }
    } else if (ok) {
        ok = tq_graph_add_node(g, TQ_OP_IDENTITY, "id", 1, 1, 0, &ni) == TFMQ_OK;
        if (ok) {
            g->nodes[ni].in[0] = x;
            g->nodes[ni].out[0] = y;
        }
    }
    ok = ok && tq_graph_set_io(g, &x, 1, &y, 1) == TFMQ_OK && tq_graph_finalize(g) == TFMQ_OK;
    TQ_EXPECT(ok, "graph: %s", tfmq_last_error());
    return ok ? g : NULL;
}

/* An int8 candidate tensor is dequantized with the pair's scale and zero point. */
static void test_int8_pair(tq_rng *rng)
{
    (void)rng;
    const float s = 0.01f;
    const int8_t zp = 3;
    tq_arena arena;
    tq_arena_init(&arena, NULL);
    tq_graph *ref = tiny_graph(&arena, false, s, zp), *cand = tiny_graph(&arena, true, s, zp);
    if (!ref || !cand) {
        tq_arena_free(&arena);
        return;
    }
    /* the expected SQNR, from the same data */
    data_src d;
    data_init(&d, 9);
    double rr = 0.0, ee = 0.0;
    for (size_t b = 0; b < d.n_batches; b++) {
        tfmq_tensor t = {"input", TFMQ_DTYPE_UNDEFINED, 0, NULL, NULL, 0};
        bool done = false;
        TQ_EXPECT_OK(data_fn(&d, b, &t, 1, &done));
        for (size_t i = 0; i < t.data_bytes / sizeof(float); i++) {
            const double x = (double)d.x[i];
            const double qv = nearbyint(x / (double)s) + zp;
            const double e = ((qv - zp) * (double)s) - x;
            rr += x * x;
            ee += e * e;
        }
    }
    const double want = 10.0 * log10(rr / ee);
    tq_layer_pair pr[3] = {
        {"quant", "QuantizeLinear", "y", "q", s, zp, "int8"},
        {"quant_wrong_zp", "QuantizeLinear", "y", "q", s, 0, "int8"},
        {"dequant", "DequantizeLinear", "y", "y", 1.0f, 0, "int8"},
    };
    tq_fidelity f;
    memset(&f, 0, sizeof(f));
    TQ_EXPECT_OK(tq_fidelity_eval(ref, cand, pr, 3, data_fn, &d, 0, NULL, &f));
    TQ_EXPECT_EQ_U64(f.n_layers, 3);
    if (f.n_layers == 3) {
        TQ_EXPECT(fabs(f.layers[0].sqnr_db - want) < 1e-3, "int8 pair: %.6f dB, expected %.6f",
                  f.layers[0].sqnr_db, want);
        TQ_EXPECT(fabs(f.layers[2].sqnr_db - want) < 1e-3, "dequantized: %.6f dB, expected %.6f",
                  f.layers[2].sqnr_db, want);
        TQ_EXPECT(fabs(f.output_sqnr_db - want) < 1e-3, "output: %.6f dB, expected %.6f",
                  f.output_sqnr_db, want);
        TQ_EXPECT(f.layers[1].sqnr_db < want - 10.0, "ignoring the zero point: %.6f dB",
                  f.layers[1].sqnr_db);
        TQ_EXPECT_EQ_U64(f.layers[0].n_values, 11 * 28 * 28);
    }
    TQ_EXPECT(f.top1_agreement > 0.0 && f.top1_agreement <= 1.0, "28 classes: %g",
              f.top1_agreement);
    tq_fidelity_free(&f);
    tq_graph_destroy(ref);
    tq_graph_destroy(cand);
    tq_arena_free(&arena);
}

static void test_compare(tq_rng *rng)
{
    (void)rng;
    tfmq_model *m1 = load_model(), *m2 = load_model();
    if (!m1 || !m2) {
        tfmq_model_destroy(m1);
        tfmq_model_destroy(m2);
        return;
    }
    data_src d;
    data_init(&d, 3);
    tfmq_report *r = NULL;
    TQ_EXPECT_OK(tfmq_compare(m1, m2, data_fn, &d, 0, &r));
    const char *js = tfmq_report_json(r);
    TQ_EXPECT_STR_CONTAINS(js, "\"output_sqnr_db\": 200");
    TQ_EXPECT_STR_CONTAINS(js, "\"top1_agreement\": 1");
    TQ_EXPECT_STR_CONTAINS(js, "\"max_abs_error\": 0");
    TQ_EXPECT_STR_CONTAINS(js, "\"samples\": 11");
    TQ_EXPECT_STR_CONTAINS(js, "\"sqnr_db\": 200"); /* layers were paired by name */
    TQ_EXPECT_STR_CONTAINS(js, "\"precision\": \"fp32\"");
    TQ_EXPECT(js && json_well_formed(js), "malformed JSON:\n%s", js ? js : "(null)");
    TQ_EXPECT_STR_CONTAINS(tfmq_report_text(r), "output SQNR");
    if (getenv("TFMQ_TEST_VERBOSE")) {
        printf("%s\n%s\n", js, tfmq_report_text(r));
    }
    tfmq_report_destroy(r);

    r = (tfmq_report *)1;
    TQ_EXPECT_STATUS(tfmq_compare(m1, NULL, data_fn, &d, 0, &r), TFMQ_ERR_INVALID_ARG);
    TQ_EXPECT(r == NULL, "report_out NULL on failure");
    tfmq_model_destroy(m1);
    tfmq_model_destroy(m2);
}

static void test_errors(tq_rng *rng)
{
    (void)rng;
    tfmq_model *m = load_model();
    if (!m) {
        return;
    }
    data_src d;
    data_init(&d, 1);
    tq_layer_pair bad = {"convX", "Conv", "no_such_value", "no_such_value", 1.0f, 0, "int8"};
    tq_fidelity f;
    TQ_EXPECT_STATUS(tq_fidelity_eval(m->graph, m->graph, &bad, 1, data_fn, &d, 0, NULL, &f),
                     TFMQ_ERR_INVALID_ARG);
    TQ_EXPECT_STR_CONTAINS(tfmq_last_error(), "no_such_value");
    TQ_EXPECT(f.layers == NULL, "nothing left on failure");
    /* a pair whose tensors differ in size */
    pairs ps;
    make_pairs(m->graph, &ps);
    if (ps.n >= 2) {
        tq_layer_pair mix = ps.p[0];
        mix.cand_name = ps.p[ps.n - 1].ref_name;
        TQ_EXPECT_STATUS(tq_fidelity_eval(m->graph, m->graph, &mix, 1, data_fn, &d, 0, NULL, &f),
                         TFMQ_ERR_INVALID_ARG);
        TQ_EXPECT_STR_CONTAINS(tfmq_last_error(), "elements");
    }
    /* no data */
    data_src empty;
    data_init(&empty, 1);
    empty.n_batches = 0;
    TQ_EXPECT_STATUS(tq_fidelity_eval(m->graph, m->graph, NULL, 0, data_fn, &empty, 0, NULL, &f),
                     TFMQ_ERR_INVALID_ARG);
    TQ_EXPECT_STATUS(tq_fidelity_eval(m->graph, m->graph, NULL, 0, NULL, &d, 0, NULL, &f),
                     TFMQ_ERR_INVALID_ARG);
    tfmq_model_destroy(m);
}

/* Every allocation failure during evaluation and report building is an OOM status, no leak. */
static void test_oom(tq_rng *rng)
{
    (void)rng;
    tfmq_model *m = load_model();
    if (!m) {
        return;
    }
    pairs ps;
    make_pairs(m->graph, &ps);
    static const int one[] = {2, 1};
    data_src d;
    data_init(&d, 5);
    d.sizes = one;
    d.n_batches = 2;
    tq_test_counting_alloc ca = {0};
    tfmq_allocator a = {&ca, tq_test_counting_alloc_fn, tq_test_counting_free_fn};
    bool ok = false;
    for (uint64_t n = 1; n < 10000 && !ok; n++) {
        tq_fidelity f;
        tfmq_report *r = NULL;
        tq_report_info info;
        memset(&info, 0, sizeof(info));
        info.precision = "fp32";
        info.pairs = ps.p;
        info.n_pairs = ps.n;
        tq_alloc_test_set_fail_at(n);
        tfmq_status st = tq_fidelity_eval(m->graph, m->graph, ps.p, ps.n, data_fn, &d, 0, &a, &f);
        if (st == TFMQ_OK) {
            st = tq_report_build(&info, &f, &a, &r);
            tq_fidelity_free(&f);
        }
        tq_alloc_test_set_fail_at(0);
        if (st == TFMQ_OK) {
            ok = true;
            TQ_EXPECT(n > 3, "only %llu allocations?", (unsigned long long)n);
        } else {
            TQ_EXPECT(st == TFMQ_ERR_OUT_OF_MEMORY, "fail at %llu: %s (%s)",
                      (unsigned long long)n, tfmq_status_str(st), tfmq_last_error());
        }
        tfmq_report_destroy(r);
        TQ_EXPECT(atomic_load(&ca.n_live) == 0, "fail at %llu: %lld blocks leaked",
                  (unsigned long long)n, (long long)ca.n_live);
    }
    TQ_CHECK(ok);
    tfmq_model_destroy(m);
}

int main(int argc, char **argv)
{
    tq_test_begin(argc, argv);
    find_model();
    TQ_RUN(test_self);
    TQ_RUN(test_perturbed_and_report);
    TQ_RUN(test_int8_pair);
    TQ_RUN(test_compare);
    TQ_RUN(test_errors);
    TQ_RUN(test_oom);
    return tq_test_end();
}
