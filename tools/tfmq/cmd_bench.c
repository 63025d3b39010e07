/* cmd_bench.c: `tfmq bench MODEL_OR_ENGINE`: quantize an FP32 model to each requested precision
 * (in memory), then time tfmq_session_run per precision and batch size on random normal inputs
 * (fixed seed): warm-up runs excluded, then repeats until at least MIN_REPEATS runs and
 * --min-time seconds (or MAX_REPEATS runs). Reports median and p90 latency, throughput, speed-up
 * over fp32 at the same batch and fidelity against the FP32 model (output SQNR and top-1
 * agreement from tfmq_compare on a few samples), as a table, JSON rows and a PNG bar chart.
 * Each cell's session creation is timed too (shown for cuda, where it autotunes convolutions
 * unless --plan-cache holds their plans). */
#include "chart.h"
#include "cli_util.h"
#include "commands.h"
#include "datasrc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MIN_REPEATS 10
#define MAX_REPEATS 200
#define N_WARMUP 2
#define MAX_PRECISIONS 8
#define MAX_BATCHES 16
#define RANDOM_SEED 0x7f4a7c15u

static const char bench_help[] =
    "usage: tfmq bench MODEL_OR_ENGINE [--precisions fp32,fp16,int8] [--batch 1,8,32]\n"
    "                  [--threads N] [--device cpu|cuda] [--plan-cache FILE] [--rebuild]\n"
    "                  [--calib PATH...]\n"
    "                  [--min-time S] [--fidelity-samples N] [--json FILE] [--chart FILE.png]\n"
    "                  [--force]\n"
    "                  [--preprocess P] [--size HxW] [--layout L] [--channel-order O]\n"
    "\n"
    "Time a model at several precisions and batch sizes. An FP32 model is quantized in memory\n"
    "to each precision (int8 needs --calib; without it int8 is skipped); an engine is timed\n"
    "at its own precision. Inputs are random normal (fixed seed) with the batch dimension set.\n"
    "Each cell: 2 warm-up runs, then runs until at least 10 and --min-time seconds have\n"
    "passed (at most 200). Fidelity against the FP32 model (output SQNR, top-1 agreement)\n"
    "comes from 'tfmq compare' on the --calib data, or on random inputs.\n"
    "\n"
    "Options:\n"
    "  --precisions LIST      comma-separated: fp32, tf32, fp16, bf16, int8 (default\n"
    "                         fp32,fp16,int8)\n"
    "  -b, --batch LIST       comma-separated batch sizes (default 1,8,32); a fixed batch\n"
    "                         dimension allows only its own size\n"
    "  -t, --threads N        threads per session (default 0: the backend's default)\n"
    "  --device D             cpu (default), cuda or cuda:N (see 'tfmq --version')\n"
    "  --plan-cache FILE      cuda: load the convolutions' cuDNN plans from FILE instead of\n"
    "                         autotuning them, and add new ones to it (default:\n"
    "                         $TFMQ_CUDA_PLAN_CACHE); the table shows session creation times\n"
    "  --rebuild              cuda: an engine planned on another GPU or cuDNN version is\n"
    "                         autotuned here instead of refused\n"
    "  -c, --calib PATH       calibration data for int8 and the fidelity columns (as quantize)\n"
    "  --min-time S           seconds to keep repeating each cell (default 1.0)\n"
    "  --fidelity-samples N   samples for the fidelity columns (default 64)\n"
    "  --json FILE            write the rows as JSON\n"
    "  --chart FILE.png       write a bar chart of throughput per precision and batch\n"
    "  -f, --force            overwrite the JSON and chart files\n"
    "  -h, --help             show this help\n"
    "%s"
    "\n"
    "Exit status: 0 success, 1 bad input or usage, 2 internal or backend error.\n";

enum {
    OPT_PRECISIONS,
    OPT_BATCHES,
    OPT_THREADS,
    OPT_DEVICE,
    OPT_PLAN_CACHE,
    OPT_REBUILD,
    OPT_CALIB,
    OPT_MIN_TIME,
    OPT_FID_SAMPLES,
    OPT_JSON,
    OPT_CHART,
    OPT_FORCE,
    OPT_HELP
};

/* --batch is this command's own list; the datasrc batch option is not offered. */
static const cli_option bench_opts[] = {
    {"precisions", 0, true, OPT_PRECISIONS},
    {"batch", 'b', true, OPT_BATCHES},
    {"threads", 't', true, OPT_THREADS},
    {"device", 0, true, OPT_DEVICE},
    {"plan-cache", 0, true, OPT_PLAN_CACHE},
    {"rebuild", 0, false, OPT_REBUILD},
    {"calib", 'c', true, OPT_CALIB},
    {"min-time", 0, true, OPT_MIN_TIME},
    {"fidelity-samples", 0, true, OPT_FID_SAMPLES},
    {"json", 0, true, OPT_JSON},
    {"chart", 0, true, OPT_CHART},
    {"force", 'f', false, OPT_FORCE},
    {"help", 'h', false, OPT_HELP},
    {"preprocess", 'p', true, DATASRC_OPT_PREPROCESS},
    {"size", 0, true, DATASRC_OPT_SIZE},
    {"layout", 0, true, DATASRC_OPT_LAYOUT},
    {"channel-order", 0, true, DATASRC_OPT_CHANNEL_ORDER},
};

typedef struct bench_row {
    tfmq_precision precision;
    int64_t batch;
    size_t repeats;
    double median_ms;
    double p90_ms;
    double throughput; /* samples per second */
    double speedup;    /* NaN: no fp32 row at this batch */
    double sqnr_db;    /* NaN: not measured */
    double top1;       /* NaN: not measured */
    double create_ms;  /* tfmq_session_create */
    size_t cache_hits, cache_misses; /* cuda plan cache: convolutions planned from it / tuned */
} bench_row;

/* ---- random inputs ---- */

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rng_next(rng *r) /* xorshift64* */
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545f4914f6cdd1dull;
}

static double rng_normal(rng *r) /* Box-Muller */
{
    const double u1 = ((double)(rng_next(r) >> 11) + 0.5) / 9007199254740992.0;
    const double u2 = (double)(rng_next(r) >> 11) / 9007199254740992.0;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* One buffer per model input for a given batch size. */
typedef struct rand_inputs {
    size_t n;
    tfmq_io_info *io;
    int64_t (*dims)[32];
    void **data;
    size_t *bytes;
    tfmq_tensor *t;
} rand_inputs;

static void rand_inputs_free(rand_inputs *ri)
{
    for (size_t i = 0; ri->data && i < ri->n; i++) {
        free(ri->data[i]);
    }
    free(ri->io);
    free(ri->dims);
    free(ri->data);
    free(ri->bytes);
    free(ri->t);
    memset(ri, 0, sizeof(*ri));
}

static int rand_inputs_init(const tfmq_model *m, rand_inputs *ri)
{
    tfmq_model_info info;
    memset(ri, 0, sizeof(*ri));
    memset(&info, 0, sizeof(info));
    info.struct_size = sizeof(info);
    tfmq_status st = tfmq_model_get_info(m, &info);
    if (st != TFMQ_OK) {
        return cli_report_lib("bench", st);
    }
    ri->n = info.n_inputs;
    ri->io = calloc(ri->n + 1, sizeof(*ri->io));
    ri->dims = calloc(ri->n + 1, sizeof(*ri->dims));
    ri->data = calloc(ri->n + 1, sizeof(void *));
    ri->bytes = calloc(ri->n + 1, sizeof(size_t));
    ri->t = calloc(ri->n + 1, sizeof(tfmq_tensor));
    if (!ri->io || !ri->dims || !ri->data || !ri->bytes || !ri->t) {
        cli_error(NULL, "out of memory");
        return CLI_EXIT_INTERNAL;
    }
    for (size_t i = 0; i < ri->n; i++) {
        int rc = cli_model_io(m, TFMQ_IO_INPUT, i, &ri->io[i]);
        if (rc != CLI_EXIT_OK) {
            return rc;
        }
        if (ri->io[i].rank < 1 || ri->io[i].rank > 32 || !ri->io[i].dims ||
            !cli_dtype_is_numeric(ri->io[i].dtype)) {
            cli_error("bench", "input '%s' (%s, rank %d) is not a numeric [batch, ...] tensor",
                      ri->io[i].name, tfmq_dtype_name(ri->io[i].dtype), (int)ri->io[i].rank);
            return CLI_EXIT_USAGE;
        }
    }
    return CLI_EXIT_OK;
}

/* The batch size this model takes for `want`: a fixed dim 0 only allows itself. */
static bool batch_allowed(const rand_inputs *ri, int64_t want)
{
    for (size_t i = 0; i < ri->n; i++) {
        if (ri->io[i].dims[0] >= 0 && ri->io[i].dims[0] != want) {
            return false;
        }
    }
    return true;
}

/* Fill every input for a batch of `batch` with normal values (integers: rounded), seeded by
 * `seed` so a restart gives the same data. */
static int rand_inputs_fill(rand_inputs *ri, int64_t batch, uint64_t seed)
{
    rng r = {seed * 0x9e3779b97f4a7c15ull + RANDOM_SEED};
    for (size_t i = 0; i < ri->n; i++) {
        const tfmq_io_info *io = &ri->io[i];
        size_t n = 1;
        for (int32_t d = 0; d < io->rank; d++) {
            int64_t v = d == 0 ? batch : io->dims[d];
            if (v < 0) {
                v = 1; /* other symbolic dims: 1, as sessions plan them */
            }
            ri->dims[i][d] = v;
            n *= (size_t)v;
        }
        const size_t bytes = n * tfmq_dtype_size(io->dtype);
        if (bytes > ri->bytes[i] || !ri->data[i]) {
            free(ri->data[i]);
            ri->data[i] = malloc(bytes ? bytes : 1);
            ri->bytes[i] = bytes;
            if (!ri->data[i]) {
                cli_error(NULL, "out of memory");
                return CLI_EXIT_INTERNAL;
            }
        }
        for (size_t k = 0; k < n; k++) {
            cli_elem_set(io->dtype, ri->data[i], k, rng_normal(&r));
        }
        ri->t[i].name = io->name;
        ri->t[i].dtype = io->dtype;
        ri->t[i].rank = io->rank;
        ri->t[i].dims = ri->dims[i];
        ri->t[i].data = ri->data[i];
        ri->t[i].data_bytes = bytes;
    }
    return CLI_EXIT_OK;
}

/* tfmq_batch_fn over random inputs: n_samples samples in batches of `batch`. */
typedef struct rand_source {
    rand_inputs ri;
    int64_t batch;
    uint64_t n_samples;
} rand_source;

static tfmq_status rand_batch(void *ud, size_t batch_index, tfmq_tensor *inputs, size_t n_inputs,
                              bool *done)
{
    rand_source *rs = ud;
    const uint64_t first = (uint64_t)batch_index * (uint64_t)rs->batch;
    *done = first >= rs->n_samples || n_inputs != rs->ri.n;
    if (*done) {
        return TFMQ_OK;
    }
    if (rand_inputs_fill(&rs->ri, rs->batch, 1000003u + batch_index) != CLI_EXIT_OK) {
        return TFMQ_ERR_OUT_OF_MEMORY;
    }
    for (size_t i = 0; i < n_inputs; i++) {
        for (size_t k = 0; k < rs->ri.n; k++) {
            if (strcmp(inputs[i].name, rs->ri.t[k].name) == 0) {
                const char *name = inputs[i].name;
                inputs[i] = rs->ri.t[k];
                inputs[i].name = name;
            }
        }
    }
    return TFMQ_OK;
}

/* ---- helpers ---- */

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : (x > y ? 1 : 0);
}

/* A number after "key": in the report's JSON (the report has no numeric accessor). */
static double json_number(const char *json, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":", key);
    const char *p = json ? strstr(json, pat) : NULL;
    if (!p) {
        return NAN;
    }
    p += strlen(pat);
    char *end = NULL;
    const double v = strtod(p, &end);
    return end == p ? (double)NAN : v;
}

/* Parse "a,b,c" with fn per item; false (after a usage error) on a bad item. */
static bool parse_precisions(const char *s, tfmq_precision *out, size_t *n_out)
{
    char item[32];
    size_t n = 0;
    for (const char *p = s;;) {
        const char *comma = strchr(p, ',');
        const size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == 0 || len >= sizeof(item) || n == MAX_PRECISIONS) {
            cli_usage_error("bench", "--precisions needs a list such as fp32,fp16,int8, not "
                                     "'%.64s'",
                            s);
            return false;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        if (!cli_parse_precision(item, &out[n])) {
            cli_usage_error("bench", "unknown precision '%s' in --precisions (use fp32, tf32, "
                                     "fp16, bf16 or int8)",
                            item);
            return false;
        }
        for (size_t k = 0; k < n; k++) {
            if (out[k] == out[n]) {
                cli_usage_error("bench", "precision '%s' is listed twice", item);
                return false;
            }
        }
        n++;
        if (!comma) {
            break;
        }
        p = comma + 1;
    }
    *n_out = n;
    return true;
}

/* Time one (model, batch) cell: the session's creation, then its runs. */
static int time_cell(const tfmq_model *m, const char *what, const char *device,
                     const char *plan_cache, uint32_t flags, rand_inputs *ri, int64_t batch,
                     int32_t threads, double min_time_s, bench_row *row)
{
    tfmq_session_options so;
    tfmq_session *sess = NULL;
    tfmq_model_info info;
    tfmq_tensor *outs = NULL;
    tfmq_status st;
    double *t = NULL;
    int rc = CLI_EXIT_OK;
    memset(&info, 0, sizeof(info));
    info.struct_size = sizeof(info);
    if ((st = tfmq_model_get_info(m, &info)) != TFMQ_OK) {
        return cli_report_lib(what, st);
    }
    memset(&so, 0, sizeof(so));
    so.struct_size = sizeof(so);
    so.n_threads = threads;
    so.symbolic_dim_default = batch;
    so.device = device;
    so.plan_cache = plan_cache;
    so.flags = flags;
    if ((rc = rand_inputs_fill(ri, batch, 1)) != CLI_EXIT_OK) {
        return rc;
    }
    const double c0 = cli_now_ms();
    if ((st = tfmq_session_create(m, &so, &sess)) != TFMQ_OK) {
        return cli_report_lib(what, st);
    }
    row->create_ms = cli_now_ms() - c0;
    tfmq_session_info si;
    memset(&si, 0, sizeof(si));
    si.struct_size = sizeof(si);
    if (tfmq_session_get_info(sess, &si) == TFMQ_OK) {
        row->cache_hits = si.plan_cache_hits;
        row->cache_misses = si.plan_cache_misses;
    }
    t = malloc(MAX_REPEATS * sizeof(double));
    outs = calloc(info.n_outputs + 1, sizeof(*outs));
    if (!t || !outs) {
        cli_error(NULL, "out of memory");
        rc = CLI_EXIT_INTERNAL;
        goto done;
    }
    /* every output is requested (into session memory), so no node can be skipped */
    for (size_t k = 0; k < info.n_outputs; k++) {
        tfmq_io_info oi;
        if ((rc = cli_model_io(m, TFMQ_IO_OUTPUT, k, &oi)) != CLI_EXIT_OK) {
            goto done;
        }
        outs[k].name = oi.name;
    }
    for (int k = 0; k < N_WARMUP; k++) {
        if ((st = tfmq_session_run(sess, ri->t, ri->n, outs, info.n_outputs)) != TFMQ_OK) {
            rc = cli_report_lib(what, st);
            goto done;
        }
    }
    size_t n = 0;
    const double start = cli_now_ms();
    while (n < MAX_REPEATS && (n < MIN_REPEATS || cli_now_ms() - start < min_time_s * 1000.0)) {
        const double t0 = cli_now_ms();
        st = tfmq_session_run(sess, ri->t, ri->n, outs, info.n_outputs);
        const double t1 = cli_now_ms();
        if (st != TFMQ_OK) {
            rc = cli_report_lib(what, st);
            goto done;
        }
        t[n++] = t1 - t0;
    }
    qsort(t, n, sizeof(double), cmp_double);
    row->repeats = n;
    row->median_ms = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
    row->p90_ms = t[(size_t)ceil(0.9 * (double)n) - 1];
    row->throughput = row->median_ms > 0.0 ? (double)batch * 1000.0 / row->median_ms : (double)NAN;
done:
    free(t);
    free(outs);
    tfmq_session_destroy(sess);
    return rc;
}

/* v with `decimals` decimals and a suffix, "-" for NaN, "inf" for infinity. */
static void fmt_or_dash(char *buf, size_t size, int decimals, double v, const char *suffix)
{
    if (isnan(v)) {
        snprintf(buf, size, "-");
    } else if (isinf(v)) {
        snprintf(buf, size, "inf");
    } else {
        snprintf(buf, size, "%.*f%s", decimals, v, suffix);
    }
}

static void json_num(FILE *f, const char *key, double v, bool comma)
{
    if (isfinite(v)) {
        fprintf(f, "\"%s\": %.6g%s", key, v, comma ? ", " : "");
    } else {
        fprintf(f, "\"%s\": null%s", key, comma ? ", " : "");
    }
}

/* The JSON document, built in memory (open_memstream) and written atomically. */
static int write_json(const char *path, bool force, const char *model_path, const char *device,
                      int32_t threads, double min_time, double load_ms, const bench_row *rows,
                      size_t n_rows, const char *notes)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        cli_error(path, "out of memory");
        return CLI_EXIT_INTERNAL;
    }
    fputs("{\n  \"model\": \"", f);
    for (const char *p = model_path; *p; p++) {
        const unsigned char ch = (unsigned char)*p;
        if (ch == '"' || ch == '\\') {
            fprintf(f, "\\%c", ch);
        } else if (ch < 0x20) {
            fprintf(f, "\\u%04x", ch);
        } else {
            fputc(ch, f);
        }
    }
    fprintf(f, "\",\n  \"device\": \"%s\", \"threads\": %d, \"min_time_s\": %g, \"load_ms\": %.3f,\n",
            device, (int)threads, min_time, load_ms);
    fprintf(f, "  \"notes\": \"%s\",\n  \"rows\": [\n", notes);
    for (size_t i = 0; i < n_rows; i++) {
        const bench_row *r = &rows[i];
        fprintf(f, "    {\"precision\": \"%s\", \"batch\": %lld, \"repeats\": %zu, ",
                tfmq_precision_name(r->precision), (long long)r->batch, r->repeats);
        json_num(f, "median_ms", r->median_ms, true);
        json_num(f, "p90_ms", r->p90_ms, true);
        json_num(f, "throughput", r->throughput, true);
        json_num(f, "speedup", r->speedup, true);
        json_num(f, "sqnr_db", r->sqnr_db, true);
        json_num(f, "top1_agreement", r->top1, true);
        json_num(f, "create_ms", r->create_ms, true);
        fprintf(f, "\"plan_cache_hits\": %zu, \"plan_cache_misses\": %zu", r->cache_hits,
                r->cache_misses);
        fprintf(f, "}%s\n", i + 1 < n_rows ? "," : "");
    }
    fputs("  ]\n}", f);
    if (fclose(f) != 0 || !buf) {
        free(buf);
        cli_error(path, "out of memory");
        return CLI_EXIT_INTERNAL;
    }
    const int rc = cli_write_text_file(path, buf, force);
    free(buf);
    return rc;
}

int cmd_bench(int argc, char **argv)
{
    cli_parser p;
    datasrc_options dso;
    tfmq_precision precs[MAX_PRECISIONS] = {TFMQ_PRECISION_FP32, TFMQ_PRECISION_FP16,
                                            TFMQ_PRECISION_INT8};
    size_t n_precs = 3, n_batches = 3, n_rows = 0;
    int64_t batches[MAX_BATCHES] = {1, 8, 32}, v;
    const char *model_path = NULL, *device = "cpu", *json_path = NULL, *chart_path = NULL;
    const char *plan_cache = NULL;
    uint32_t session_flags = 0;
    const char **calib = calloc((size_t)argc + 1, sizeof(char *));
    size_t n_calib = 0;
    int32_t threads = 0;
    double min_time = 1.0;
    uint64_t fid_samples = 64;
    bool force = false;
    tfmq_model *model = NULL, *qm[MAX_PRECISIONS] = {NULL};
    bool have[MAX_PRECISIONS] = {false};
    bench_row *rows = NULL;
    datasrc *ds = NULL;
    rand_inputs ri;
    rand_source rs;
    tfmq_model_info info;
    char notes[512] = "";
    int id, rc = CLI_EXIT_OK;
    tfmq_status st;
    cli_err e;

    const bool tty = isatty(fileno(stderr)) != 0; /* progress lines only on a terminal */
    memset(&ri, 0, sizeof(ri));
    memset(&rs, 0, sizeof(rs));
    datasrc_options_init(&dso);
    if (!calib) {
        cli_error(NULL, "out of memory");
        return CLI_EXIT_INTERNAL;
    }
    cli_parser_init(&p, "bench", argc, argv);
    while ((id = cli_next_opt(&p, bench_opts, sizeof(bench_opts) / sizeof(bench_opts[0]))) !=
           CLI_OPT_END) {
        if (datasrc_parse_option("bench", id, p.value, &dso, &rc)) {
            if (rc != CLI_EXIT_OK) {
                goto done;
            }
            continue;
        }
        switch (id) {
        case OPT_PRECISIONS:
            if (!parse_precisions(p.value, precs, &n_precs)) {
                rc = CLI_EXIT_USAGE;
                goto done;
            }
            break;
        case OPT_BATCHES:
            if (!cli_parse_batch_list("bench", "--batch", p.value, batches, MAX_BATCHES,
                                      &n_batches)) {
                rc = CLI_EXIT_USAGE;
                goto done;
            }
            break;
        case OPT_THREADS:
            if (!cli_parse_i64(p.value, 0, 1024, &v)) {
                rc = cli_usage_error("bench", "--threads needs an integer in 0..1024, not '%.32s'",
                                     p.value);
                goto done;
            }
            threads = (int32_t)v;
            break;
        case OPT_DEVICE:
            device = p.value;
            break;
        case OPT_PLAN_CACHE:
            plan_cache = p.value;
            break;
        case OPT_REBUILD:
            session_flags |= TFMQ_SESSION_REBUILD;
            break;
        case OPT_CALIB:
            calib[n_calib++] = p.value;
            break;
        case OPT_MIN_TIME: {
            char *end = NULL;
            min_time = strtod(p.value, &end);
            if (!end || *end || end == p.value || !(min_time >= 0.0 && min_time <= 3600.0)) {
                rc = cli_usage_error("bench", "--min-time needs seconds in 0..3600, not '%.32s'",
                                     p.value);
                goto done;
            }
            break;
        }
        case OPT_FID_SAMPLES:
            if (!cli_parse_i64(p.value, 0, INT64_MAX, &v)) {
                rc = cli_usage_error("bench", "--fidelity-samples needs an integer >= 0, not "
                                              "'%.32s'",
                                     p.value);
                goto done;
            }
            fid_samples = (uint64_t)v;
            break;
        case OPT_JSON:
            json_path = p.value;
            break;
        case OPT_CHART:
            chart_path = p.value;
            break;
        case OPT_FORCE:
            force = true;
            break;
        case OPT_HELP:
            printf(bench_help, datasrc_options_help);
            goto done;
        case CLI_OPT_POSITIONAL:
            if (model_path) {
                rc = cli_usage_error("bench", "one MODEL only ('%.64s' is extra)", p.value);
                goto done;
            }
            model_path = p.value;
            break;
        default:
            rc = CLI_EXIT_USAGE;
            goto done;
        }
    }
    if (!model_path) {
        rc = cli_usage_error("bench", "missing MODEL_OR_ENGINE");
        goto done;
    }
    char backend[33];
    snprintf(backend, sizeof(backend), "%.*s", (int)strcspn(device, ":"), device);
    if (!cli_has_backend(backend)) {
        cli_error("bench", "backend '%.32s' is not compiled in (this build has: %s)", device,
                  tfmq_backends());
        rc = CLI_EXIT_USAGE;
        goto done;
    }
    if (plan_cache && strcmp(backend, "cuda") != 0) {
        cli_warn("bench", "--plan-cache is for --device cuda; ignored on %s", backend);
    }
    if (!force) {
        const char *outs[2] = {json_path, chart_path};
        for (size_t k = 0; k < 2; k++) {
            if (outs[k] && access(outs[k], F_OK) == 0) {
                cli_error(outs[k], "file exists (use --force to overwrite)");
                rc = CLI_EXIT_USAGE;
                goto done;
            }
        }
    }
    const double load0 = cli_now_ms();
    if ((rc = cli_load_model(model_path, &model)) != CLI_EXIT_OK) {
        goto done;
    }
    const double load_ms = cli_now_ms() - load0; /* tfmq_model_load: read, check, import */
    memset(&info, 0, sizeof(info));
    info.struct_size = sizeof(info);
    if ((st = tfmq_model_get_info(model, &info)) != TFMQ_OK) {
        rc = cli_report_lib(model_path, st);
        goto done;
    }
    if ((rc = rand_inputs_init(model, &ri)) != CLI_EXIT_OK) {
        goto done;
    }
    const bool is_fp32 = info.precision && strcmp(info.precision, "fp32") == 0;
    if (!is_fp32) {
        /* an engine: time it as it is; nothing to compare it with */
        precs[0] = TFMQ_PRECISION_FP32;
        for (int q = TFMQ_PRECISION_FP32; q <= TFMQ_PRECISION_INT8; q++) {
            if (info.precision && strcmp(tfmq_precision_name((tfmq_precision)q), info.precision) ==
                                      0) {
                precs[0] = (tfmq_precision)q;
            }
        }
        n_precs = 1;
        qm[0] = model;
        have[0] = true;
        snprintf(notes, sizeof(notes), "%s engine: timed as it is; no FP32 reference",
                 info.precision ? info.precision : "?");
        printf("note: %s\n", notes);
    }
    if (n_calib && (st = datasrc_open(model, calib, n_calib, &dso, &ds, &e)) != TFMQ_OK) {
        rc = cli_report("calib", st, &e);
        goto done;
    }

    /* quantize in memory to each precision */
    for (size_t k = 0; is_fp32 && k < n_precs; k++) {
        tfmq_quantize_options qo;
        if (precs[k] == TFMQ_PRECISION_INT8 && !ds) {
            snprintf(notes + strlen(notes), sizeof(notes) - strlen(notes), "%sint8 skipped: no "
                     "--calib data",
                     notes[0] ? "; " : "");
            printf("note: int8 skipped: it needs calibration data (--calib PATH)\n");
            continue;
        }
        memset(&qo, 0, sizeof(qo));
        qo.struct_size = sizeof(qo);
        qo.precision = precs[k];
        qo.calib_method = TFMQ_CALIB_PERCENTILE;
        if (precs[k] == TFMQ_PRECISION_INT8) {
            qo.calib_fn = datasrc_batch;
            qo.calib_user_data = ds;
        }
        if (tty) {
            fprintf(stderr, "\rbench: quantizing to %s...\033[K", tfmq_precision_name(precs[k]));
        }
        st = tfmq_quantize(model, &qo, &qm[k], NULL);
        if (st != TFMQ_OK) {
            rc = cli_report_data_error(model_path, st, ds);
            goto done;
        }
        have[k] = true;
    }

    /* fidelity against the FP32 model, on a few samples of --calib data or random inputs */
    double sqnr[MAX_PRECISIONS], top1[MAX_PRECISIONS];
    for (size_t k = 0; k < n_precs; k++) {
        sqnr[k] = top1[k] = NAN;
        if (!is_fp32 || !have[k] || fid_samples == 0) {
            continue;
        }
        tfmq_report *rep = NULL;
        tfmq_batch_fn fn = datasrc_batch;
        void *ud = ds;
        if (!ds) {
            if (!rs.ri.n && (rc = rand_inputs_init(model, &rs.ri)) != CLI_EXIT_OK) {
                goto done;
            }
            rs.batch = batch_allowed(&ri, 32) ? 32 : ri.io[0].dims[0];
            rs.n_samples = fid_samples;
            fn = rand_batch;
            ud = &rs;
        }
        st = tfmq_compare(model, qm[k], fn, ud, fid_samples, &rep);
        if (st != TFMQ_OK) {
            rc = cli_report_data_error(model_path, st, ds);
            goto done;
        }
        const char *json = tfmq_report_json(rep);
        sqnr[k] = json_number(json, "output_sqnr_db");
        top1[k] = json_number(json, "top1_agreement");
        tfmq_report_destroy(rep);
    }

    /* time every cell */
    rows = calloc(n_precs * n_batches + 1, sizeof(*rows));
    if (!rows) {
        cli_error(NULL, "out of memory");
        rc = CLI_EXIT_INTERNAL;
        goto done;
    }
    for (size_t b = 0; b < n_batches; b++) {
        if (!batch_allowed(&ri, batches[b])) {
            printf("note: batch %lld skipped: input '%s' has a fixed batch of %lld\n",
                   (long long)batches[b], ri.io[0].name, (long long)ri.io[0].dims[0]);
            continue;
        }
        for (size_t k = 0; k < n_precs; k++) {
            if (!have[k]) {
                continue;
            }
            bench_row *r = &rows[n_rows];
            r->precision = precs[k];
            r->batch = batches[b];
            r->sqnr_db = sqnr[k];
            r->top1 = top1[k];
            r->speedup = NAN;
            if (tty) {
                fprintf(stderr, "\rbench: timing %s at batch %lld...\033[K",
                        tfmq_precision_name(precs[k]), (long long)batches[b]);
            }
            if ((rc = time_cell(qm[k], model_path, device, plan_cache, session_flags, &ri,
                                batches[b], threads, min_time, r)) != CLI_EXIT_OK) {
                goto done;
            }
            n_rows++;
        }
    }
    for (size_t i = 0; i < n_rows; i++) {
        for (size_t j = 0; j < n_rows; j++) {
            if (is_fp32 && rows[j].precision == TFMQ_PRECISION_FP32 &&
                rows[j].batch == rows[i].batch) {
                rows[i].speedup = rows[j].median_ms / rows[i].median_ms;
            }
        }
    }

    if (tty) {
        fputs("\r\033[K", stderr);
    }
    /* the table */
    printf("tfmq bench: %s on %s, %d thread%s (0: backend default), >= %d runs and %.1f s per "
           "cell; model loaded in %.1f ms\n",
           model_path, device, (int)threads, threads == 1 ? "" : "s", MIN_REPEATS, min_time,
           load_ms);
    /* session creation: on cuda it autotunes (seconds), or builds the plan cache's plans */
    const bool on_cuda = strcmp(backend, "cuda") == 0;
    const char *cache_file = plan_cache ? plan_cache : getenv("TFMQ_CUDA_PLAN_CACHE");
    const bool planned = info.device && strcmp(info.device, "cuda") == 0; /* carries plans */
    const bool show_cache = on_cuda && ((cache_file && cache_file[0]) || planned);
    printf("%-9s %6s %10s %10s %11s %9s %9s %8s", "precision", "batch", "median ms", "p90 ms",
           "samples/s", "speed-up", "SQNR dB", "top-1");
    printf("%s%s\n", on_cuda ? "  create ms" : "", show_cache ? "  plan cache hit/miss" : "");
    for (size_t i = 0; i < n_rows; i++) {
        const bench_row *r = &rows[i];
        char med[32], p90[32], thr[32], spd[32], sq[32], t1[32];
        fmt_or_dash(med, sizeof(med), 3, r->median_ms, "");
        fmt_or_dash(p90, sizeof(p90), 3, r->p90_ms, "");
        fmt_or_dash(thr, sizeof(thr), 1, r->throughput, "");
        fmt_or_dash(spd, sizeof(spd), 2, r->speedup, "x");
        if (r->precision == TFMQ_PRECISION_FP32 && is_fp32) {
            snprintf(sq, sizeof(sq), "ref");
            snprintf(t1, sizeof(t1), "ref");
        } else {
            fmt_or_dash(sq, sizeof(sq), 2, r->sqnr_db, "");
            fmt_or_dash(t1, sizeof(t1), 2, r->top1 * 100.0, "%");
        }
        printf("%-9s %6lld %10s %10s %11s %9s %9s %8s", tfmq_precision_name(r->precision),
               (long long)r->batch, med, p90, thr, spd, sq, t1);
        if (on_cuda) {
            printf(" %10.1f", r->create_ms);
        }
        if (show_cache) {
            printf("  %9zu/%zu", r->cache_hits, r->cache_misses);
        }
        putchar('\n');
    }
    if (is_fp32 && fid_samples) {
        printf("fidelity: tfmq compare against the FP32 model on %llu %s samples\n",
               (unsigned long long)fid_samples, ds ? "--calib" : "random normal");
    }

    if (json_path && (rc = write_json(json_path, force, model_path, device, threads, min_time,
                                      load_ms, rows, n_rows, notes)) != CLI_EXIT_OK) {
        goto done;
    }
    if (chart_path) {
        char glabels[MAX_BATCHES][32], title[160];
        const char *gl[MAX_BATCHES], *sn[MAX_PRECISIONS];
        double vals[MAX_BATCHES * MAX_PRECISIONS];
        size_t ng = 0, ns = 0;
        size_t sidx[MAX_PRECISIONS];
        for (size_t k = 0; k < n_precs; k++) {
            if (have[k]) {
                sidx[ns] = k;
                sn[ns++] = tfmq_precision_name(precs[k]);
            }
        }
        for (size_t b = 0; b < n_batches; b++) {
            if (!batch_allowed(&ri, batches[b])) {
                continue;
            }
            snprintf(glabels[ng], sizeof(glabels[ng]), "batch %lld", (long long)batches[b]);
            gl[ng] = glabels[ng];
            for (size_t s = 0; s < ns; s++) {
                vals[ng * ns + s] = NAN;
                for (size_t i = 0; i < n_rows; i++) {
                    if (rows[i].batch == batches[b] && rows[i].precision == precs[sidx[s]]) {
                        vals[ng * ns + s] = rows[i].throughput;
                    }
                }
            }
            ng++;
        }
        const char *base = strrchr(model_path, '/');
        snprintf(title, sizeof(title), "tfmq bench: %s (%s)", base ? base + 1 : model_path,
                 device);
        if (ng == 0 || ns == 0) {
            cli_warn(chart_path, "nothing was timed; no chart written");
        } else if ((st = chart_bar_png(chart_path, title, "throughput (samples/s)", gl, ng, sn,
                                       ns, vals, force, &e)) != TFMQ_OK) {
            rc = cli_report(chart_path, st, &e);
            goto done;
        }
    }
done:
    for (size_t k = 0; k < MAX_PRECISIONS; k++) {
        if (qm[k] != model) {
            tfmq_model_destroy(qm[k]);
        }
    }
    tfmq_model_destroy(model);
    datasrc_close(ds);
    rand_inputs_free(&ri);
    rand_inputs_free(&rs.ri);
    free(rows);
    free(calib);
    return rc;
}
