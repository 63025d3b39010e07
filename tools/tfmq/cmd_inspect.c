/* cmd_inspect.c: `tfmq inspect MODEL [--json]`: format, versions, producer, inputs and outputs
 * (symbolic dims by name), op histogram, parameter count and MACs of one inference, as text or
 * as a JSON object. Everything comes from tfmq_model_get_info/_op_type/_io. */
#include "cli_util.h"
#include "commands.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char inspect_help[] =
    "usage: tfmq inspect MODEL [--json]\n"
    "\n"
    "Show what a model file holds: its format and versions, producer, inputs and outputs\n"
    "(symbolic dimensions by name), operator histogram, parameter count and the\n"
    "multiply-accumulates (MACs) of one inference (symbolic dimensions counted as 1).\n"
    "\n"
    "Options:\n"
    "  --json        print one JSON object instead of text\n"
    "  -h, --help    show this help\n"
    "\n"
    "Exit status: 0 success, 1 bad input or usage, 2 internal error.\n";

enum { OPT_JSON, OPT_HELP };

static const cli_option inspect_opts[] = {
    {"json", 0, false, OPT_JSON},
    {"help", 'h', false, OPT_HELP},
};

typedef struct op_count {
    const char *op;
    size_t count;
} op_count;

/* ---- JSON output ---- */

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if it is not valid UTF-8. */
static size_t utf8_len(const unsigned char *p)
{
    const unsigned char c = p[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        lo = c == 0xe0 ? 0xa0 : 0x80;
        hi = c == 0xed ? 0x9f : 0xbf; /* no UTF-16 surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        lo = c == 0xf0 ? 0x90 : 0x80;
        hi = c == 0xf4 ? 0x8f : 0xbf;
    } else {
        return 0;
    }
    if (p[1] < lo || p[1] > hi) {
        return 0;
    }
    for (size_t i = 2; i < n; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf) { /* also stops at the terminating NUL */
            return 0;
        }
    }
    return n;
}

/* A JSON string literal; invalid UTF-8 bytes become U+FFFD. */
static void json_string(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    fputc('"', f);
    while (*p) {
        const unsigned char c = *p;
        if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc(c, f);
            p++;
        } else if (c < 0x20 || c == 0x7f) {
            switch (c) {
            case '\n':
                fputs("\\n", f);
                break;
            case '\r':
                fputs("\\r", f);
                break;
            case '\t':
                fputs("\\t", f);
                break;
            case '\b':
                fputs("\\b", f);
                break;
            case '\f':
                fputs("\\f", f);
                break;
            default:
                fprintf(f, "\\u%04x", c);
                break;
            }
            p++;
        } else if (c < 0x80) {
            fputc(c, f);
            p++;
        } else {
            size_t n = utf8_len(p);
            if (n) {
                fwrite(p, 1, n, f);
                p += n;
            } else {
                fputs("\\ufffd", f);
                p++;
            }
        }
    }
    fputc('"', f);
}

static void json_io_list(FILE *f, const tfmq_io_info *ios, size_t n)
{
    fputc('[', f);
    for (size_t i = 0; i < n; i++) {
        const tfmq_io_info *io = &ios[i];
        fputs(i ? ",\n    {\"name\": " : "\n    {\"name\": ", f);
        json_string(f, io->name);
        fputs(", \"dtype\": ", f);
        json_string(f, tfmq_dtype_name(io->dtype));
        fputs(", \"shape\": ", f);
        if (io->rank < 0 || (io->rank > 0 && !io->dims)) {
            fputs("null", f);
        } else {
            fputc('[', f);
            for (int32_t d = 0; d < io->rank; d++) {
                const char *sym = io->dim_names ? io->dim_names[d] : NULL;
                if (d) {
                    fputs(", ", f);
                }
                if (io->dims[d] < 0 || sym) {
                    json_string(f, sym ? sym : "?");
                } else {
                    fprintf(f, "%" PRId64, io->dims[d]);
                }
            }
            fputc(']', f);
        }
        fputc('}', f);
    }
    fputs(n ? "\n  ]" : "]", f);
}

/* The rank of an instruction-set level name (tfmq_cpu_info's second word) in the ladder that
 * tfmq.h documents for tfmq_cpu_info, 0 for scalar or an unknown name. */
static int isa_rank(const char *isa)
{
    static const char *const ladder[] = {"scalar", "avx2", "avx512", "avx512_vnni", "avx512_bf16",
                                         "amx"};
    const size_t n = strcspn(isa, " ");
    for (int i = (int)(sizeof(ladder) / sizeof(ladder[0])) - 1; i > 0; i--) {
        if (strlen(ladder[i]) == n && strncmp(isa, ladder[i], n) == 0) {
            return i;
        }
    }
    return 0;
}

/* How a model of this precision runs on this machine's CPU (tfmq_cpu_info: "x86-64 ISA ..."). */
static const char *cpu_note(const char *precision)
{
    const char *info = tfmq_cpu_info();
    const char *isa = strchr(info, ' ');
    const int rank = isa_rank(isa ? isa + 1 : "");
    const bool vnni = rank >= 3, bf16 = rank >= 4, amx = rank >= 5;
    if (!precision || rank == 0) {
        return "reference kernels (one thread)";
    }
    if (strcmp(precision, "fp16") == 0) {
        return "FP16 weights, computed in float32 (x86-64 CPUs have no FP16 arithmetic)";
    }
    if (strcmp(precision, "bf16") == 0) {
        return amx    ? "BF16 convolutions and GEMMs (AMX tiles), other ops in float32"
               : bf16 ? "BF16 convolutions (AVX512_BF16), other ops in float32"
                      : "BF16 weights, computed in float32 (this CPU has no BF16 units)";
    }
    if (strcmp(precision, "int8") == 0) {
        return amx    ? "integer convolutions and GEMMs (oneDNN, AMX tiles and VNNI)"
               : vnni ? "integer convolutions and GEMMs (oneDNN, VNNI)"
                      : "integer reference kernels for convolutions (this CPU has no VNNI)";
    }
    return "float32 kernels (oneDNN, SIMD)";
}

static void print_json(const char *path, const tfmq_model_info *info, const tfmq_io_info *ins,
                       const tfmq_io_info *outs, const op_count *ops, size_t n_ops)
{
    FILE *f = stdout;
    fputs("{\n  \"model\": ", f);
    json_string(f, path);
    fputs(",\n  \"format\": ", f);
    json_string(f, info->format);
    fprintf(f, ",\n  \"ir_version\": %" PRId64 ",\n  \"opset\": %" PRId64 ",\n  \"producer\": ",
            info->ir_version, info->opset);
    json_string(f, info->producer);
    if (info->precision) {
        fputs(",\n  \"precision\": ", f);
        json_string(f, info->precision);
    }
    if (info->device && info->device[0]) {
        fputs(",\n  \"device\": ", f);
        json_string(f, info->device);
    }
    if (info->planned_for && info->planned_for[0]) {
        fputs(",\n  \"planned_for\": ", f);
        json_string(f, info->planned_for);
    }
    fputs(",\n  \"cpu\": ", f);
    json_string(f, tfmq_cpu_info());
    fputs(",\n  \"cpu_runs_as\": ", f);
    json_string(f, cpu_note(info->precision));
    fputs(",\n  \"inputs\": ", f);
    json_io_list(f, ins, info->n_inputs);
    fputs(",\n  \"outputs\": ", f);
    json_io_list(f, outs, info->n_outputs);
    fprintf(f, ",\n  \"nodes\": %zu,\n  \"ops\": {", info->n_nodes);
    for (size_t k = 0; k < n_ops; k++) {
        fputs(k ? ", " : "", f);
        json_string(f, ops[k].op);
        fprintf(f, ": %zu", ops[k].count);
    }
    fprintf(f, "},\n  \"params\": %" PRIu64 ",\n  \"macs\": %" PRIu64 "\n}\n", info->n_params,
            info->n_macs);
}

/* ---- text output ---- */

/* 1234567 -> "1,234,567" */
static void group_digits(uint64_t v, char *buf, size_t size)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof(tmp), "%" PRIu64, v);
    size_t o = 0;
    for (int i = 0; i < n && o + 2 < size; i++) {
        if (i && (n - i) % 3 == 0) {
            buf[o++] = ',';
        }
        buf[o++] = tmp[i];
    }
    buf[o] = '\0';
}

/* 1234567 -> "1.23 M" */
static void human(uint64_t v, char *buf, size_t size)
{
    static const char *const units[] = {"", "k", "M", "G", "T", "P"};
    double x = (double)v;
    size_t u = 0;
    while (x >= 1000.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
        x /= 1000.0;
        u++;
    }
    if (u == 0) {
        snprintf(buf, size, "%" PRIu64, v);
    } else {
        snprintf(buf, size, "%.2f %s", x, units[u]);
    }
}

static int name_width(const tfmq_io_info *ios, size_t n)
{
    size_t w = 4;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(ios[i].name);
        w = len > w ? len : w;
    }
    return (int)(w > 40 ? 40 : w);
}

static void text_io_list(const char *title, const tfmq_io_info *ios, size_t n)
{
    const int w = name_width(ios, n);
    printf("%-11s%zu\n", title, n);
    for (size_t i = 0; i < n; i++) {
        char shape[512];
        cli_format_shape(ios[i].rank, ios[i].dims, ios[i].dim_names, shape, sizeof(shape));
        fputs("  ", stdout);
        cli_fputs_safe(ios[i].name, stdout);
        const int pad = w - (int)strlen(ios[i].name);
        printf("%*s  %-8s %s\n", pad > 0 ? pad : 0, "", tfmq_dtype_name(ios[i].dtype), shape);
    }
}

static void print_text(const char *path, const tfmq_model_info *info, const tfmq_io_info *ins,
                       const tfmq_io_info *outs, const op_count *ops, size_t n_ops)
{
    char a[64], b[64];
    fputs("model:     ", stdout);
    cli_fputs_safe(path, stdout);
    printf("\nformat:    ");
    cli_fputs_safe(info->format ? info->format : "?", stdout);
    printf(" (IR version %" PRId64 ", opset %" PRId64 ")\n", info->ir_version, info->opset);
    fputs("producer:  ", stdout);
    cli_fputs_safe(info->producer && info->producer[0] ? info->producer : "(none)", stdout);
    fputc('\n', stdout);
    if (info->precision) {
        fputs("precision: ", stdout);
        cli_fputs_safe(info->precision, stdout);
        if (info->device && info->device[0]) {
            fputs(" (compiled for ", stdout);
            cli_fputs_safe(info->device, stdout);
            fputc(')', stdout);
        }
        fputc('\n', stdout);
    }
    if (info->planned_for && info->planned_for[0]) {
        fputs("planned:   ", stdout);
        cli_fputs_safe(info->planned_for, stdout);
        fputc('\n', stdout);
    }
    printf("cpu:       %s\n           %s\n", tfmq_cpu_info(), cpu_note(info->precision));
    text_io_list("inputs:", ins, info->n_inputs);
    text_io_list("outputs:", outs, info->n_outputs);
    printf("nodes:     %zu (%zu op type%s)\n", info->n_nodes, n_ops, n_ops == 1 ? "" : "s");
    int w = 4;
    for (size_t k = 0; k < n_ops; k++) {
        int len = (int)strlen(ops[k].op);
        w = len > w ? (len > 40 ? 40 : len) : w;
    }
    for (size_t k = 0; k < n_ops; k++) {
        fputs("  ", stdout);
        cli_fputs_safe(ops[k].op, stdout);
        int pad = w - (int)strlen(ops[k].op);
        printf("%*s  %zu\n", pad > 0 ? pad : 0, "", ops[k].count);
    }
    group_digits(info->n_params, a, sizeof(a));
    human(info->n_params, b, sizeof(b));
    printf("params:    %s (%s)\n", a, b);
    group_digits(info->n_macs, a, sizeof(a));
    human(info->n_macs, b, sizeof(b));
    printf("MACs:      %s (%s) per inference\n", a, b);
}

int cmd_inspect(int argc, char **argv)
{
    cli_parser p;
    const char *path = NULL;
    bool json = false;
    int id, rc;
    cli_parser_init(&p, "inspect", argc, argv);
    while ((id = cli_next_opt(&p, inspect_opts, sizeof(inspect_opts) / sizeof(inspect_opts[0]))) !=
           CLI_OPT_END) {
        switch (id) {
        case OPT_JSON:
            json = true;
            break;
        case OPT_HELP:
            fputs(inspect_help, stdout);
            return CLI_EXIT_OK;
        case CLI_OPT_POSITIONAL:
            if (path) {
                return cli_usage_error("inspect", "one MODEL only ('%.64s' is extra)", p.value);
            }
            path = p.value;
            break;
        default:
            return CLI_EXIT_USAGE;
        }
    }
    if (!path) {
        return cli_usage_error("inspect", "missing MODEL");
    }

    tfmq_model *model = NULL;
    tfmq_model_info info;
    tfmq_io_info *ins = NULL, *outs = NULL;
    op_count *ops = NULL;
    if ((rc = cli_load_model(path, &model)) != CLI_EXIT_OK) {
        return rc;
    }
    memset(&info, 0, sizeof(info));
    info.struct_size = sizeof(info);
    tfmq_status st = tfmq_model_get_info(model, &info);
    if (st != TFMQ_OK) {
        rc = cli_report_lib(path, st);
        goto done;
    }
    ins = calloc(info.n_inputs + 1, sizeof(*ins));
    outs = calloc(info.n_outputs + 1, sizeof(*outs));
    ops = calloc(info.n_op_types + 1, sizeof(*ops));
    if (!ins || !outs || !ops) {
        cli_error(path, "out of memory");
        rc = CLI_EXIT_INTERNAL;
        goto done;
    }
    for (size_t i = 0; i < info.n_inputs; i++) {
        if ((rc = cli_model_io(model, TFMQ_IO_INPUT, i, &ins[i])) != CLI_EXIT_OK) {
            goto done;
        }
    }
    for (size_t i = 0; i < info.n_outputs; i++) {
        if ((rc = cli_model_io(model, TFMQ_IO_OUTPUT, i, &outs[i])) != CLI_EXIT_OK) {
            goto done;
        }
    }
    for (size_t k = 0; k < info.n_op_types; k++) {
        st = tfmq_model_op_type(model, k, &ops[k].op, &ops[k].count);
        if (st != TFMQ_OK) {
            rc = cli_report_lib(path, st);
            goto done;
        }
        if (!ops[k].op) {
            ops[k].op = "?";
        }
    }
    /* Most frequent first; ties keep first-appearance order (stable insertion sort). */
    for (size_t k = 1; k < info.n_op_types; k++) {
        op_count x = ops[k];
        size_t j = k;
        while (j > 0 && ops[j - 1].count < x.count) {
            ops[j] = ops[j - 1];
            j--;
        }
        ops[j] = x;
    }
    if (json) {
        print_json(path, &info, ins, outs, ops, info.n_op_types);
    } else {
        print_text(path, &info, ins, outs, ops, info.n_op_types);
    }
    rc = CLI_EXIT_OK;
done:
    free(ins);
    free(outs);
    free(ops);
    tfmq_model_destroy(model);
    return rc;
}
