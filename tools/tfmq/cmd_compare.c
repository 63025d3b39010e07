/* cmd_compare.c: `tfmq compare MODEL ENGINE --data PATH...`: run a reference model and a
 * candidate (usually an engine that `tfmq quantize` wrote) on the same data with tfmq_compare and
 * print the fidelity report: output SQNR, top-1/top-5 agreement and per-layer SQNR. */
#include "cli_util.h"
#include "commands.h"
#include "datasrc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char compare_help[] =
    "usage: tfmq compare MODEL ENGINE --data PATH... [--data-samples N] [--json FILE]\n"
    "                    [--force] [--preprocess P] [--size HxW] [--layout L]\n"
    "                    [--channel-order O] [--batch N]\n"
    "\n"
    "Compare ENGINE (e.g. an int8 .tfmq from 'tfmq quantize') against the reference MODEL\n"
    "(usually the FP32 .onnx) on the same inputs, and print the fidelity report.\n"
    "\n"
    "Options:\n"
    "  -d, --data PATH         input data: a directory of images and/or .npy files, a .npy\n"
    "                          (one sample, or a batch along dim 0) or an image; repeatable;\n"
    "                          INPUT=PATH for multi-input models (required)\n"
    "  -n, --data-samples N    compare on at most N samples (default: all)\n"
    "  --json FILE             also write the report as JSON\n"
    "  -f, --force             overwrite the JSON file if it exists\n"
    "  -h, --help              show this help\n"
    "%s"
    "\n"
    "Exit status: 0 success, 1 bad input or usage, 2 internal or backend error.\n";

enum { OPT_DATA, OPT_SAMPLES, OPT_JSON, OPT_FORCE, OPT_HELP };

static const cli_option compare_opts[] = {
    {"data", 'd', true, OPT_DATA},
    {"data-samples", 'n', true, OPT_SAMPLES},
    {"json", 0, true, OPT_JSON},
    {"force", 'f', false, OPT_FORCE},
    {"help", 'h', false, OPT_HELP},
    DATASRC_CLI_OPTIONS,
};

int cmd_compare(int argc, char **argv)
{
    cli_parser p;
    datasrc_options dso;
    const char *paths[2] = {NULL, NULL}, *json_path = NULL;
    const char **data = calloc((size_t)argc + 1, sizeof(char *));
    size_t n_data = 0, n_paths = 0;
    uint64_t max_samples = 0;
    bool force = false;
    tfmq_model *ref = NULL, *cand = NULL;
    tfmq_report *report = NULL;
    datasrc *ds = NULL;
    int id, rc = CLI_EXIT_OK;
    int64_t v;
    tfmq_status st;
    cli_err e;

    datasrc_options_init(&dso);
    if (!data) {
        cli_error(NULL, "out of memory");
        return CLI_EXIT_INTERNAL;
    }
    cli_parser_init(&p, "compare", argc, argv);
    while ((id = cli_next_opt(&p, compare_opts, sizeof(compare_opts) / sizeof(compare_opts[0]))) !=
           CLI_OPT_END) {
        if (datasrc_parse_option("compare", id, p.value, &dso, &rc)) {
            if (rc != CLI_EXIT_OK) {
                goto done;
            }
            continue;
        }
        switch (id) {
        case OPT_DATA:
            data[n_data++] = p.value;
            break;
        case OPT_SAMPLES:
            if (!cli_parse_i64(p.value, 1, INT64_MAX, &v)) {
                rc = cli_usage_error("compare", "--data-samples needs a positive integer, not "
                                                "'%.32s'",
                                     p.value);
                goto done;
            }
            max_samples = (uint64_t)v;
            break;
        case OPT_JSON:
            json_path = p.value;
            break;
        case OPT_FORCE:
            force = true;
            break;
        case OPT_HELP:
            printf(compare_help, datasrc_options_help);
            goto done;
        case CLI_OPT_POSITIONAL:
            if (n_paths == 2) {
                rc = cli_usage_error("compare", "MODEL and ENGINE only ('%.64s' is extra)",
                                     p.value);
                goto done;
            }
            paths[n_paths++] = p.value;
            break;
        default:
            rc = CLI_EXIT_USAGE;
            goto done;
        }
    }
    if (n_paths < 2) {
        rc = cli_usage_error("compare", n_paths ? "missing ENGINE" : "missing MODEL and ENGINE");
        goto done;
    }
    if (n_data == 0) {
        rc = cli_usage_error("compare", "missing --data PATH (images or .npy files to compare on)");
        goto done;
    }
    if (json_path && !force && access(json_path, F_OK) == 0) {
        cli_error(json_path, "file exists (use --force to overwrite)");
        rc = CLI_EXIT_USAGE;
        goto done;
    }
    if ((rc = cli_load_model(paths[0], &ref)) != CLI_EXIT_OK ||
        (rc = cli_load_model(paths[1], &cand)) != CLI_EXIT_OK) {
        goto done;
    }
    if ((st = datasrc_open(ref, data, n_data, &dso, &ds, &e)) != TFMQ_OK) {
        rc = cli_report("data", st, &e);
        goto done;
    }
    st = tfmq_compare(ref, cand, datasrc_batch, ds, max_samples, &report);
    if (st != TFMQ_OK) {
        rc = cli_report_data_error(paths[1], st, ds);
        goto done;
    }
    const char *text = tfmq_report_text(report);
    if (text) {
        fputs(text, stdout);
        if (text[0] && text[strlen(text) - 1] != '\n') {
            fputc('\n', stdout);
        }
    }
    if (json_path) {
        const char *json = tfmq_report_json(report);
        rc = cli_write_text_file(json_path, json ? json : "{}", force);
    }
done:
    tfmq_report_destroy(report);
    datasrc_close(ds);
    tfmq_model_destroy(cand);
    tfmq_model_destroy(ref);
    free(data);
    return rc;
}
