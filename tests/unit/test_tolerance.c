/* test_tolerance.c: the automatic fallback of tfmq_quantize (tfmq_quantize_options.tolerance),
 * on the bundled Fashion-MNIST CNN with INT8 min-max calibration on fixed random images:
 *  - sqnr=S, S a little above what plain INT8 reaches: the result meets S with some but not
 *    all layers kept in float, each named in fallback_layers[] with a reason, and no longer
 *    among the int8 layers of fidelity.layers[]. (Keeping a layer in float keeps its weights and
 *    arithmetic in float; the int8 tensors its quantized neighbours write and read stay, as a
 *    layer precision does in TensorRT, so the output SQNR need not rise with every layer.)
 *  - the reasons' damage figure ("N dB below its inputs") is the SQNR a layer loses against
 *    what feeds it: a few dB to tens of dB, never the ~200 dB artefact of an exact graph input
 *    counted as 200 dB (which made the fallback keep the first layers in graph order);
 *  - an unreachable tolerance does not loop forever: it ends with every layer in float;
 *  - a malformed tolerance is TFMQ_ERR_INVALID_ARG naming the spec. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "harness.h"
#include "tfmq.h"

static char g_model[4200];

static void find_paths(void)
{
    snprintf(g_model, sizeof(g_model), "%s/models/fashion_mnist_cnn.onnx", TFMQ_SOURCE_DIR);
}

typedef struct pix_src {
    size_t n_batches;
    float buf[4 * 28 * 28];
    int64_t dims[4];
} pix_src;

static tfmq_status pix_batch(void *ud, size_t batch_index, tfmq_tensor *inputs, size_t n_inputs,
                             bool *done)
{
    pix_src *s = ud;
    if (n_inputs != 1) {
        return TFMQ_ERR_INVALID_ARG;
    }
    if (batch_index >= s->n_batches) {
        *done = true;
        return TFMQ_OK;
    }
    tq_rng r = {777 + batch_index};
    for (size_t k = 0; k < 4 * 28 * 28; k++) {
        s->buf[k] = (float)tq_rng_below(&r, 256) / 255.0f;
    }
    s->dims[0] = 4;
    s->dims[1] = 1;
    s->dims[2] = 28;
    s->dims[3] = 28;
    inputs[0].dtype = TFMQ_DTYPE_FLOAT32;
    inputs[0].rank = 4;
    inputs[0].dims = s->dims;
    inputs[0].data = s->buf;
    inputs[0].data_bytes = sizeof(s->buf);
    return TFMQ_OK;
}

/* Quantize to INT8 with `tolerance` (NULL: none); the report's JSON parsed into *json. */
static tfmq_status quantize(const tfmq_model *m, const char *tolerance, cJSON **json)
{
    pix_src src = {.n_batches = 4};
    tfmq_quantize_options o;
    memset(&o, 0, sizeof(o));
    o.struct_size = sizeof(o);
    o.precision = TFMQ_PRECISION_INT8;
    o.calib_method = TFMQ_CALIB_MINMAX;
    o.calib_fn = pix_batch;
    o.calib_user_data = &src;
    o.tolerance = tolerance;
    tfmq_model *q = NULL;
    tfmq_report *rep = NULL;
    *json = NULL;
    tfmq_status st = tfmq_quantize(m, &o, &q, &rep);
    if (st == TFMQ_OK) {
        *json = cJSON_Parse(tfmq_report_json(rep));
        TQ_CHECK(*json != NULL);
    }
    tfmq_report_destroy(rep);
    tfmq_model_destroy(q);
    return st;
}

static double output_sqnr(const cJSON *j)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(j, "fidelity");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(f, "output_sqnr_db");
    return cJSON_IsNumber(s) ? s->valuedouble : (double)NAN;
}

/* Layers measured by the report, and of those how many are quantized to int8. */
static void count_layers(const cJSON *j, int *n_layers, int *n_int8)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(j, "fidelity");
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(f, "layers");
    const cJSON *l;
    *n_layers = *n_int8 = 0;
    cJSON_ArrayForEach(l, layers)
    {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(l, "precision");
        (*n_layers)++;
        *n_int8 += cJSON_IsString(p) && strcmp(p->valuestring, "int8") == 0;
    }
}

static void test_sqnr_tolerance(tq_rng *rng)
{
    (void)rng;
    tfmq_model *m = NULL;
    TQ_EXPECT(tfmq_model_load(g_model, NULL, &m) == TFMQ_OK, "load %s: %s", g_model,
              tfmq_last_error());
    if (!m) {
        return;
    }
    cJSON *plain = NULL, *tol = NULL;
    TQ_EXPECT_OK(quantize(m, NULL, &plain));
    const double s0 = plain ? output_sqnr(plain) : (double)NAN;
    TQ_CHECK(isfinite(s0) && s0 > 10.0);
    int n_layers = 0, n_int8 = 0;
    count_layers(plain, &n_layers, &n_int8);
    TQ_EXPECT(n_layers >= 3 && n_int8 == n_layers, "plain INT8: %d layers, %d int8", n_layers,
              n_int8);

    const double want = s0 + 0.3; /* reachable with one layer in float on this model */
    char spec[64];
    snprintf(spec, sizeof(spec), "sqnr=%.2f", want);
    TQ_EXPECT_OK(quantize(m, spec, &tol));
    if (tol) {
        const double s1 = output_sqnr(tol);
        const cJSON *fb = cJSON_GetObjectItemCaseSensitive(tol, "fallback_layers");
        const int n_fb = cJSON_GetArraySize(fb);
        TQ_EXPECT(s1 >= want, "%s: output SQNR %.2f dB (plain INT8 %.2f)", spec, s1, s0);
        TQ_EXPECT(n_fb >= 1 && n_fb < n_layers, "%s: %d of %d layers kept in float", spec, n_fb,
                  n_layers);
        const cJSON *e;
        cJSON_ArrayForEach(e, fb)
        {
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "name");
            const cJSON *why = cJSON_GetObjectItemCaseSensitive(e, "reason");
            TQ_CHECK(cJSON_IsString(name) && cJSON_IsString(why));
            const char *p = cJSON_IsString(why) ? strstr(why->valuestring, "dB, ") : NULL;
            double below = p ? strtod(p + 4, NULL) : (double)NAN;
            TQ_EXPECT(p && strstr(p, "below its inputs") && isfinite(below) && below < 100.0,
                      "%s: fallback '%s' reason '%s': damage %.2f dB", spec,
                      cJSON_IsString(name) ? name->valuestring : "?",
                      cJSON_IsString(why) ? why->valuestring : "?", below);
            if (getenv("TFMQ_TEST_VERBOSE")) {
                printf("  kept in float: %s (%s)\n", name->valuestring, why->valuestring);
            }
        }
        int n_meas = 0;
        count_layers(tol, &n_meas, &n_int8);
        TQ_EXPECT(n_int8 == n_meas && n_meas == n_layers - n_fb,
                  "%s: %d int8 layers measured of %d, %d kept in float", spec, n_int8, n_layers,
                  n_fb);
    }
    cJSON_Delete(plain);
    cJSON_Delete(tol);

    /* unreachable: every layer ends in float, no endless loop */
    cJSON *all = NULL;
    TQ_EXPECT_OK(quantize(m, "sqnr=1000", &all));
    if (all) {
        const cJSON *fb = cJSON_GetObjectItemCaseSensitive(all, "fallback_layers");
        count_layers(all, &n_layers, &n_int8);
        TQ_EXPECT(n_int8 == 0 && cJSON_GetArraySize(fb) >= 3,
                  "sqnr=1000: %d int8 layers left, %d kept in float", n_int8,
                  cJSON_GetArraySize(fb));
    }
    cJSON_Delete(all);

    cJSON *bad = NULL;
    TQ_EXPECT(quantize(m, "top1=2", &bad) == TFMQ_ERR_INVALID_ARG &&
                  strstr(tfmq_last_error(), "top1=2"),
              "bad tolerance: %s", tfmq_last_error());
    cJSON_Delete(bad);
    tfmq_model_destroy(m);
}

int main(int argc, char **argv)
{
    tq_test_begin(argc, argv);
    find_paths();
    TQ_RUN(test_sqnr_tolerance);
    return tq_test_end();
}
