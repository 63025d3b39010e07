/* cmd_quantize.c: `tfmq quantize MODEL --precision P [--calib PATH...] -o OUT.tfmq`: quantize an
 * FP32 model with tfmq_quantize (calibrating INT8 on the given data), print the fidelity report,
 * optionally write it as JSON, and save the engine. Outputs are checked before the work starts
 * and written atomically; nothing is overwritten without --force. */
#include "cli_util.h"
#include "commands.h"
#include "datasrc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char quantize_help[] =
    "usage: tfmq quantize MODEL --precision fp32|tf32|fp16|bf16|int8 -o OUT.tfmq\n"
    "                     [--calib PATH...] [--calib-method minmax|entropy|percentile|mse]\n"
    "                     [--percentile P] [--calib-samples N] [--calib-cache FILE]\n"
    "                     [--asymmetric] [--bias-correction] [--eval PATH...]\n"
    "                     [--eval-samples N]\n"
    "                     [--tolerance top1=F|sqnr=DB] [--report FILE.json] [--force]\n"
    "                     [--preprocess P] [--size HxW] [--layout L] [--channel-order O]\n"
    "                     [--batch N] [--device cuda[:N] [--plan-batch LIST] [--plan-cache FILE]]\n"
    "\n"
    "Quantize an FP32 model and save it as an engine file (.tfmq) that every tfmq command\n"
    "loads. INT8 calibrates activation ranges on --calib data; the fidelity report (output\n"
    "SQNR, top-1 agreement, per-layer SQNR against FP32) is printed to stdout.\n"
    "\n"
    "Options:\n"
    "  -P, --precision P       fp32, tf32, fp16, bf16 or int8 (required)\n"
    "  -o, --output FILE       the engine file to write (required)\n"
    "  -c, --calib PATH        calibration data: a directory of images (.jpg .png .bmp) and/or\n"
    "                          .npy files, a .npy file (one sample, or a batch along dim 0) or\n"
    "                          an image; repeatable; INPUT=PATH for multi-input models.\n"
    "                          Required for int8 (unless --calib-cache holds the ranges)\n"
    "  --calib-method M        minmax, entropy, percentile or mse (default percentile)\n"
    "  --percentile P          percentile of |x| for --calib-method percentile (default 99.999)\n"
    "  --calib-samples N       use at most N calibration samples (default: all)\n"
    "  --calib-cache FILE      reuse the ranges in FILE if it matches the model, else write it\n"
    "  --asymmetric            uint8 activations with zero points (default symmetric int8)\n"
    "  --bias-correction       subtract the mean output error of each layer's int8 weights,\n"
    "                          measured on the --calib data, from its bias (one more pass)\n"
    "  --eval PATH             data for the fidelity report (default: the --calib data)\n"
    "  --eval-samples N        evaluate on at most N samples (default: all)\n"
    "  --tolerance KEY=VALUE   top1=FRACTION or sqnr=DB: keep the most damaging layers in\n"
    "                          float until the fidelity meets it\n"
    "  --report FILE.json      also write the report as JSON\n"
    "  --device D              cpu (default), or cuda / cuda:N: also plan the engine on that GPU\n"
    "                          (autotuning its convolutions) and save it as a 'cuda' engine\n"
    "                          that carries the chosen plans: sessions on the same GPU model\n"
    "                          and cuDNN load without autotuning, others are refused unless\n"
    "                          they rebuild ('tfmq bench --rebuild')\n"
    "  --plan-batch LIST       cuda: the batch sizes to plan for (default 1); a session at\n"
    "                          another batch size autotunes\n"
    "  --plan-cache FILE       cuda: take plans from FILE where it has them, add new ones to it\n"
    "  -f, --force             overwrite OUT and the report file if they exist\n"
    "  -h, --help              show this help\n"
    "\n"
    "Image data is prepared as 'tfmq predict' prepares it:\n"
    "%s"
    "\n"
    "Exit status: 0 success, 1 bad input or usage, 2 internal or backend error.\n";

enum {
    OPT_PRECISION,
    OPT_OUTPUT,
    OPT_CALIB,
    OPT_CALIB_METHOD,
    OPT_PERCENTILE,
    OPT_CALIB_SAMPLES,
    OPT_CALIB_CACHE,
    OPT_ASYMMETRIC,
    OPT_BIAS_CORRECTION,
    OPT_EVAL,
    OPT_EVAL_SAMPLES,
    OPT_TOLERANCE,
    OPT_REPORT,
    OPT_FORCE,
    OPT_DEVICE,
    OPT_PLAN_BATCH,
    OPT_PLAN_CACHE,
    OPT_HELP
};

#define MAX_PLAN_BATCHES 16

static const cli_option quantize_opts[] = {
    {"precision", 'P', true, OPT_PRECISION},
    {"output", 'o', true, OPT_OUTPUT},
    {"calib", 'c', true, OPT_CALIB},
    {"calib-method", 0, true, OPT_CALIB_METHOD},
    {"percentile", 0, true, OPT_PERCENTILE},
    {"calib-samples", 0, true, OPT_CALIB_SAMPLES},
    {"calib-cache", 0, true, OPT_CALIB_CACHE},
    {"asymmetric", 0, false, OPT_ASYMMETRIC},
    {"bias-correction", 0, false, OPT_BIAS_CORRECTION},
    {"eval", 0, true, OPT_EVAL},
    {"eval-samples", 0, true, OPT_EVAL_SAMPLES},
    {"tolerance", 0, true, OPT_TOLERANCE},
    {"report", 0, true, OPT_REPORT},
    {"force", 'f', false, OPT_FORCE},
    {"device", 0, true, OPT_DEVICE},
    {"plan-batch", 0, true, OPT_PLAN_BATCH},
    {"plan-cache", 0, true, OPT_PLAN_CACHE},
    {"help", 'h', false, OPT_HELP},
    DATASRC_CLI_OPTIONS,
};

bool cli_parse_precision(const char *s, tfmq_precision *out)
{
    static const struct {
        const char *name;
        tfmq_precision p;
    } table[] = {{"fp32", TFMQ_PRECISION_FP32}, {"tf32", TFMQ_PRECISION_TF32},
                 {"fp16", TFMQ_PRECISION_FP16}, {"bf16", TFMQ_PRECISION_BF16},
                 {"int8", TFMQ_PRECISION_INT8}};
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (strcmp(s, table[i].name) == 0) {
            *out = table[i].p;
            return true;
        }
    }
    return false;
}

static bool parse_method(const char *s, tfmq_calib_method *out)
{
    static const struct {
        const char *name;
        tfmq_calib_method m;
    } table[] = {{"minmax", TFMQ_CALIB_MINMAX},
                 {"entropy", TFMQ_CALIB_ENTROPY},
                 {"percentile", TFMQ_CALIB_PERCENTILE},
                 {"mse", TFMQ_CALIB_MSE}};
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (strcmp(s, table[i].name) == 0) {
            *out = table[i].m;
            return true;
        }
    }
    return false;
}

int cli_report_data_error(const char *subject, tfmq_status st, const datasrc *ds)
{
    const char *msg = datasrc_error(ds);
    if (msg && msg[0]) {
        cli_error(subject, "%s", msg);
        return cli_exit_code(st);
    }
    return cli_report_lib(subject, st);
}

int cli_write_text_file(const char *path, const char *text, bool force)
{
    cli_err e;
    const void *parts[2] = {text, "\n"};
    const size_t bytes[2] = {strlen(text), 1};
    tfmq_status st = cli_write_file_atomic(path, parts, bytes, 2, force, &e);
    if (st != TFMQ_OK) {
        return cli_report(path, st, &e);
    }
    return CLI_EXIT_OK;
}

/* Plan qm on a GPU at each batch size (one recording session each) and save it as a "cuda"
 * engine carrying those plans. */
static int save_planned(const tfmq_model *qm, const char *out_path, const char *device,
                        const int64_t *batches, size_t n_batches, const char *plan_cache,
                        bool force)
{
    tfmq_session *sess[MAX_PLAN_BATCHES] = {NULL};
    tfmq_status st = TFMQ_OK;
    int rc = CLI_EXIT_OK;
    size_t n = 0;
    for (; n < n_batches; n++) {
        tfmq_session_options so;
        memset(&so, 0, sizeof(so));
        so.struct_size = sizeof(so);
        so.device = device;
        so.symbolic_dim_default = batches[n];
        so.plan_cache = plan_cache;
        so.flags = TFMQ_SESSION_RECORD_PLANS;
        const double t0 = cli_now_ms();
        if ((st = tfmq_session_create(qm, &so, &sess[n])) != TFMQ_OK) {
            rc = cli_report_lib(device, st);
            goto done;
        }
        printf("planned batch %lld on %s in %.1f s\n", (long long)batches[n], device,
               (cli_now_ms() - t0) / 1000.0);
    }
    if ((st = tfmq_model_save_planned(qm, sess, n, out_path,
                                      force ? TFMQ_WRITE_OVERWRITE : 0)) != TFMQ_OK) {
        rc = cli_report_lib(out_path, st);
    }
done:
    for (size_t i = 0; i < n_batches; i++) {
        tfmq_session_destroy(sess[i]);
    }
    return rc;
}

int cmd_quantize(int argc, char **argv)
{
    cli_parser p;
    datasrc_options dso;
    tfmq_quantize_options qo;
    cli_progress prog;
    const char *model_path = NULL, *out_path = NULL, *report_path = NULL;
    const char **calib = calloc((size_t)argc + 1, sizeof(char *));
    const char **eval = calloc((size_t)argc + 1, sizeof(char *));
    size_t n_calib = 0, n_eval = 0;
    bool force = false, have_precision = false;
    const char *device = NULL, *plan_cache = NULL;
    int64_t plan_batches[MAX_PLAN_BATCHES] = {1};
    size_t n_plan_batches = 1;
    bool have_plan_opts = false;
    tfmq_model *model = NULL, *qm = NULL;
    tfmq_report *report = NULL;
    datasrc *cds = NULL, *eds = NULL;
    int id, rc = CLI_EXIT_OK;
    int64_t v;
    tfmq_status st;
    cli_err e;

    datasrc_options_init(&dso);
    memset(&qo, 0, sizeof(qo));
    qo.struct_size = sizeof(qo);
    qo.calib_method = TFMQ_CALIB_PERCENTILE; /* measured best on the bundled model */
    if (!calib || !eval) {
        cli_error(NULL, "out of memory");
        rc = CLI_EXIT_INTERNAL;
        goto done;
    }
    cli_parser_init(&p, "quantize", argc, argv);
    while ((id = cli_next_opt(&p, quantize_opts, sizeof(quantize_opts) / sizeof(quantize_opts[0]))) !=
           CLI_OPT_END) {
        if (datasrc_parse_option("quantize", id, p.value, &dso, &rc)) {
            if (rc != CLI_EXIT_OK) {
                goto done;
            }
            continue;
        }
        switch (id) {
        case OPT_PRECISION:
            if (!cli_parse_precision(p.value, &qo.precision)) {
                rc = cli_usage_error("quantize",
                                     "unknown --precision '%.32s' (use fp32, tf32, fp16, bf16 or "
                                     "int8)",
                                     p.value);
                goto done;
            }
            have_precision = true;
            break;
        case OPT_OUTPUT:
            out_path = p.value;
            break;
        case OPT_CALIB:
            calib[n_calib++] = p.value;
            break;
        case OPT_CALIB_METHOD:
            if (!parse_method(p.value, &qo.calib_method)) {
                rc = cli_usage_error("quantize",
                                     "unknown --calib-method '%.32s' (use minmax, entropy, "
                                     "percentile or mse)",
                                     p.value);
                goto done;
            }
            break;
        case OPT_PERCENTILE: {
            char *end = NULL;
            qo.percentile = strtod(p.value, &end);
            if (!end || *end || end == p.value || !(qo.percentile > 0.0 && qo.percentile <= 100.0)) {
                rc = cli_usage_error("quantize", "--percentile needs a number in (0, 100], not "
                                                 "'%.32s'",
                                     p.value);
                goto done;
            }
            break;
        }
        case OPT_CALIB_SAMPLES:
        case OPT_EVAL_SAMPLES:
            if (!cli_parse_i64(p.value, 1, INT64_MAX, &v)) {
                rc = cli_usage_error("quantize", "%s needs a positive integer, not '%.32s'",
                                     p.option_text, p.value);
                goto done;
            }
            if (id == OPT_CALIB_SAMPLES) {
                qo.max_calib_samples = (uint64_t)v;
            } else {
                qo.max_eval_samples = (uint64_t)v;
            }
            break;
        case OPT_CALIB_CACHE:
            qo.calib_cache_path = p.value;
            break;
        case OPT_ASYMMETRIC:
            qo.asymmetric_activations = true;
            break;
        case OPT_BIAS_CORRECTION:
            qo.bias_correction = true;
            break;
        case OPT_EVAL:
            eval[n_eval++] = p.value;
            break;
        case OPT_TOLERANCE:
            qo.tolerance = p.value;
            break;
        case OPT_REPORT:
            report_path = p.value;
            break;
        case OPT_DEVICE:
            device = p.value;
            break;
        case OPT_PLAN_BATCH:
            have_plan_opts = true;
            if (!cli_parse_batch_list("quantize", "--plan-batch", p.value, plan_batches,
                                      MAX_PLAN_BATCHES, &n_plan_batches)) {
                rc = CLI_EXIT_USAGE;
                goto done;
            }
            break;
        case OPT_PLAN_CACHE:
            have_plan_opts = true;
            plan_cache = p.value;
            break;
        case OPT_FORCE:
            force = true;
            break;
        case OPT_HELP:
            printf(quantize_help, datasrc_options_help);
            goto done;
        case CLI_OPT_POSITIONAL:
            if (model_path) {
                rc = cli_usage_error("quantize", "one MODEL only ('%.64s' is extra)", p.value);
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
        rc = cli_usage_error("quantize", "missing MODEL");
        goto done;
    }
    if (!have_precision) {
        rc = cli_usage_error("quantize", "missing --precision (fp32, tf32, fp16, bf16 or int8)");
        goto done;
    }
    if (!out_path || !out_path[0]) {
        rc = cli_usage_error("quantize", "missing -o OUT.tfmq");
        goto done;
    }
    if (device && strcmp(device, "cpu") == 0) {
        device = NULL;
    }
    if (device && strncmp(device, "cuda", 4) != 0) {
        rc = cli_usage_error("quantize", "--device is cpu, cuda or cuda:N, not '%.32s'", device);
        goto done;
    }
    if (device && !cli_has_backend("cuda")) {
        rc = cli_usage_error("quantize", "--device %.32s: backend 'cuda' is not compiled in "
                             "(this build has: %s)", device, tfmq_backends());
        goto done;
    }
    if (have_plan_opts && !device) {
        rc = cli_usage_error("quantize", "--plan-batch and --plan-cache need --device cuda");
        goto done;
    }
    if (qo.precision == TFMQ_PRECISION_INT8 && n_calib == 0 &&
        !(qo.calib_cache_path && access(qo.calib_cache_path, F_OK) == 0)) {
        rc = cli_usage_error("quantize",
                             "int8 needs calibration data: --calib PATH (a directory of images "
                             "or .npy files, or a .npy batch), or an existing --calib-cache FILE");
        goto done;
    }
    if (!force) { /* fail before the work; the atomic writes check again */
        const char *outs[2] = {out_path, report_path};
        for (size_t k = 0; k < 2; k++) {
            if (outs[k] && access(outs[k], F_OK) == 0) {
                cli_error(outs[k], "file exists (use --force to overwrite)");
                rc = CLI_EXIT_USAGE;
                goto done;
            }
        }
    }
    if ((rc = cli_load_model(model_path, &model)) != CLI_EXIT_OK) {
        goto done;
    }
    if (n_calib && (st = datasrc_open(model, calib, n_calib, &dso, &cds, &e)) != TFMQ_OK) {
        rc = cli_report("calib", st, &e);
        goto done;
    }
    if (n_eval && (st = datasrc_open(model, eval, n_eval, &dso, &eds, &e)) != TFMQ_OK) {
        rc = cli_report("eval", st, &e);
        goto done;
    }
    if (cds) {
        qo.calib_fn = datasrc_batch;
        qo.calib_user_data = cds;
    }
    if (eds) {
        qo.eval_fn = datasrc_batch;
        qo.eval_user_data = eds;
    }
    uint64_t total = datasrc_n_samples(cds);
    if (qo.max_calib_samples && qo.max_calib_samples < total) {
        total = qo.max_calib_samples;
    }
    cli_progress_init(&prog, total);
    qo.progress = cli_progress_fn;
    qo.progress_user_data = &prog;
    const double t0 = cli_now_ms();
    st = tfmq_quantize(model, &qo, &qm, &report);
    const double t1 = cli_now_ms();
    cli_progress_end(&prog);
    if (st != TFMQ_OK) {
        const char *m = datasrc_error(cds)[0] ? datasrc_error(cds) : datasrc_error(eds);
        if (m && m[0]) {
            cli_error(model_path, "quantize: %s", m);
            rc = cli_exit_code(st);
        } else {
            rc = cli_report_lib(model_path, st);
        }
        goto done;
    }
    const char *text = report ? tfmq_report_text(report) : NULL;
    if (text) {
        fputs(text, stdout);
        if (text[0] && text[strlen(text) - 1] != '\n') {
            fputc('\n', stdout);
        }
    }
    if (report_path && report) {
        const char *json = tfmq_report_json(report);
        if ((rc = cli_write_text_file(report_path, json ? json : "{}", force)) != CLI_EXIT_OK) {
            goto done;
        }
    }
    if (device) {
        if ((rc = save_planned(qm, out_path, device, plan_batches, n_plan_batches, plan_cache,
                               force)) != CLI_EXIT_OK) {
            goto done;
        }
    } else if ((st = tfmq_model_save(qm, out_path, force ? TFMQ_WRITE_OVERWRITE : 0)) !=
               TFMQ_OK) {
        rc = cli_report_lib(out_path, st);
        goto done;
    }
    printf("wrote %s (%s engine%s) in %.1f s", out_path, tfmq_precision_name(qo.precision),
           device ? ", planned on cuda" : "", (t1 - t0) / 1000.0);
    if (report_path) {
        printf("; report %s", report_path);
    }
    fputc('\n', stdout);
done:
    tfmq_report_destroy(report);
    tfmq_model_destroy(qm);
    datasrc_close(cds);
    datasrc_close(eds);
    tfmq_model_destroy(model);
    free(calib);
    free(eval);
    return rc;
}
