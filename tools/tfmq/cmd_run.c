/* cmd_run.c: `tfmq run MODEL --input NAME=FILE.npy ... --output-dir DIR [--force]`: feed .npy
 * arrays to a model once and write every output to DIR/<sanitised output name>.npy, atomically,
 * refusing to overwrite existing files unless --force. Arrays whose dtype or fixed dimensions do
 * not match the model input are refused with a message naming the file. */
#include "cli_util.h"
#include "commands.h"
#include "npy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const char run_help[] =
    "usage: tfmq run MODEL --input NAME=FILE.npy ... --output-dir DIR [--force]\n"
    "\n"
    "Run a model once on NumPy .npy inputs and write each output to DIR/<name>.npy, where\n"
    "<name> is the output's name with characters other than A-Z a-z 0-9 . _ - replaced by '_'.\n"
    "\n"
    "Options:\n"
    "  -i, --input NAME=FILE   bind model input NAME to the array in FILE; repeat for each\n"
    "                          input. A model with a single input also takes --input FILE.\n"
    "                          .npy versions 1.0, 2.0, 3.0; little-endian, C order; dtypes\n"
    "                          f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1. The dtype must be the\n"
    "                          input's, and the shape must match its fixed dimensions.\n"
    "  -o, --output-dir DIR    directory for the outputs; created if missing\n"
    "  -f, --force             overwrite output files that already exist\n"
    "  -h, --help              show this help\n"
    "\n"
    "Files are written atomically (temporary file, fsync, rename). bfloat16 outputs are\n"
    "stored as float32, since .npy has no bfloat16.\n"
    "\n"
    "Exit status: 0 success, 1 bad input or usage, 2 internal or backend error.\n";

enum { OPT_INPUT, OPT_OUTPUT_DIR, OPT_FORCE, OPT_HELP };

static const cli_option run_opts[] = {
    {"input", 'i', true, OPT_INPUT},
    {"output-dir", 'o', true, OPT_OUTPUT_DIR},
    {"force", 'f', false, OPT_FORCE},
    {"help", 'h', false, OPT_HELP},
};

typedef struct run_binding {
    const char *spec; /* argument as given */
    const char *file; /* the file part of spec */
    size_t input;     /* index of the model input */
    npy_array arr;
} run_binding;

typedef struct run_state {
    const char *model_path;
    tfmq_model *model;
    tfmq_session *sess;
    tfmq_model_info info;
    tfmq_io_info *ins;
    tfmq_io_info *outs;
    run_binding *binds;
    size_t n_binds;
    char **out_paths;
    tfmq_tensor *in_t;
    tfmq_tensor *out_t;
} run_state;

static void run_state_free(run_state *s)
{
    for (size_t i = 0; i < s->n_binds; i++) {
        npy_free(&s->binds[i].arr);
    }
    if (s->out_paths) {
        for (size_t i = 0; i < s->info.n_outputs; i++) {
            free(s->out_paths[i]);
        }
    }
    free(s->out_paths);
    free(s->binds);
    free(s->ins);
    free(s->outs);
    free(s->in_t);
    free(s->out_t);
    tfmq_session_destroy(s->sess);
    tfmq_model_destroy(s->model);
}

/* "a, b, c" of the input names, for messages. */
static void list_inputs(const run_state *s, char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < s->info.n_inputs && n + 1 < size; i++) {
        int w = snprintf(buf + n, size - n, "%s'%s'", i ? ", " : "", s->ins[i].name);
        if (w < 0) {
            break;
        }
        n += (size_t)w;
    }
    if (n >= size && size > 4) {
        memcpy(buf + size - 4, "...", 4);
    }
}

/* Split spec into input name and file: the first '=' whose prefix names an input wins (names
 * may contain '='); a model with one input also accepts a bare file name. */
static int resolve_binding(const run_state *s, run_binding *b)
{
    char names[512];
    for (const char *eq = strchr(b->spec, '='); eq; eq = strchr(eq + 1, '=')) {
        const size_t len = (size_t)(eq - b->spec);
        for (size_t i = 0; i < s->info.n_inputs; i++) {
            if (strlen(s->ins[i].name) == len && memcmp(s->ins[i].name, b->spec, len) == 0) {
                b->input = i;
                b->file = eq + 1;
                return CLI_EXIT_OK;
            }
        }
    }
    if (s->info.n_inputs == 1) {
        b->input = 0;
        b->file = b->spec;
        return CLI_EXIT_OK;
    }
    list_inputs(s, names, sizeof(names));
    if (s->info.n_inputs == 0) {
        return cli_usage_error("run", "the model has no inputs, but --input '%.64s' was given",
                               b->spec);
    }
    if (strchr(b->spec, '=')) {
        return cli_usage_error("run",
                               "--input '%.64s': the model has no input of that name "
                               "(its inputs: %s)",
                               b->spec, names);
    }
    return cli_usage_error("run",
                           "--input '%.64s' needs the form NAME=FILE: the model has %zu "
                           "inputs (%s)",
                           b->spec, s->info.n_inputs, names);
}

/* Read the .npy of a binding and check it against the model input, so that a mismatch names
 * the array file, the input and the model (the library would only name the input). */
static int load_binding(const run_state *s, run_binding *b)
{
    cli_err e;
    char want[256], got[256];
    const tfmq_io_info *in = &s->ins[b->input];
    tfmq_status st = npy_read(b->file, &b->arr, &e);
    if (st != TFMQ_OK) {
        return cli_report(b->file, st, &e);
    }
    if (in->dtype != b->arr.dtype && in->dtype != TFMQ_DTYPE_UNDEFINED) {
        cli_error(b->file,
                  "input '%s' of %s is %s, the array is %s (convert it, e.g. "
                  "a.astype('%s'))",
                  in->name, s->model_path, tfmq_dtype_name(in->dtype),
                  tfmq_dtype_name(b->arr.dtype), tfmq_dtype_name(in->dtype));
        return CLI_EXIT_USAGE;
    }
    bool ok = in->rank < 0 || !in->dims || in->rank == b->arr.rank;
    for (int32_t d = 0; ok && in->rank > 0 && in->dims && d < in->rank; d++) {
        ok = in->dims[d] < 0 || in->dims[d] == b->arr.dims[d];
    }
    if (!ok) {
        cli_format_shape(in->rank, in->dims, in->dim_names, want, sizeof(want));
        cli_format_shape(b->arr.rank, b->arr.dims, NULL, got, sizeof(got));
        cli_error(b->file, "input '%s' of %s has shape %s, the array has %s", in->name,
                  s->model_path, want, got);
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

/* DIR/<stem>.npy for every output, stems made unique (case-insensitively, for such filesystems). */
static int plan_output_paths(run_state *s, const char *dir, bool force)
{
    const size_t n = s->info.n_outputs;
    const size_t dlen = strlen(dir);
    const bool slash = dlen > 0 && dir[dlen - 1] == '/';
    char(*stems)[224] = calloc(n + 1, sizeof(*stems));
    s->out_paths = calloc(n + 1, sizeof(char *));
    if (!stems || !s->out_paths) {
        free(stems);
        cli_error(dir, "out of memory");
        return CLI_EXIT_INTERNAL;
    }
    for (size_t k = 0; k < n; k++) {
        char base[208];
        cli_sanitize_filename(s->outs[k].name, base, sizeof(base));
        snprintf(stems[k], sizeof(stems[k]), "%s", base);
        for (unsigned suffix = 2;; suffix++) {
            bool clash = false;
            for (size_t j = 0; j < k && !clash; j++) {
                clash = strcasecmp(stems[j], stems[k]) == 0;
            }
            if (!clash) {
                break;
            }
            snprintf(stems[k], sizeof(stems[k]), "%s_%u", base, suffix);
        }
        const size_t len = dlen + 1 + strlen(stems[k]) + 5;
        s->out_paths[k] = malloc(len);
        if (!s->out_paths[k]) {
            free(stems);
            cli_error(dir, "out of memory");
            return CLI_EXIT_INTERNAL;
        }
        snprintf(s->out_paths[k], len, "%s%s%s.npy", dir, slash ? "" : "/", stems[k]);
    }
    free(stems);
    if (!force) { /* fail before running; the atomic write checks again */
        for (size_t k = 0; k < n; k++) {
            if (access(s->out_paths[k], F_OK) == 0) {
                cli_error(s->out_paths[k], "file exists (use --force to overwrite)");
                return CLI_EXIT_USAGE;
            }
        }
    }
    return CLI_EXIT_OK;
}

static int write_output(const tfmq_tensor *t, const char *path, bool force)
{
    cli_err e;
    char shape[256];
    void *f32 = NULL;
    tfmq_dtype dtype = t->dtype;
    const void *data = t->data;
    size_t bytes = t->data_bytes;
    if (dtype == TFMQ_DTYPE_BFLOAT16) {
        const size_t n = bytes / 2;
        f32 = malloc(n * sizeof(float) + 1);
        if (!f32) {
            cli_error(path, "out of memory");
            return CLI_EXIT_INTERNAL;
        }
        for (size_t i = 0; i < n; i++) {
            ((float *)f32)[i] = (float)cli_elem_get(dtype, t->data, i);
        }
        cli_warn(path, "bfloat16 output '%s' stored as float32", t->name);
        dtype = TFMQ_DTYPE_FLOAT32;
        data = f32;
        bytes = n * sizeof(float);
    }
    tfmq_status st = npy_write(path, dtype, t->rank, t->dims, data, bytes, force, &e);
    free(f32);
    if (st != TFMQ_OK) {
        return cli_report(path, st, &e);
    }
    cli_format_shape(t->rank, t->dims, NULL, shape, sizeof(shape));
    cli_fputs_safe(t->name, stdout);
    fputs(" -> ", stdout);
    cli_fputs_safe(path, stdout);
    printf("  (%s %s)\n", tfmq_dtype_name(t->dtype), shape);
    return CLI_EXIT_OK;
}

int cmd_run(int argc, char **argv)
{
    cli_parser p;
    run_state s;
    const char *model_path = NULL, *out_dir = NULL;
    const char **specs = calloc((size_t)argc + 1, sizeof(char *));
    size_t n_specs = 0;
    bool force = false;
    int id, rc = CLI_EXIT_OK;
    tfmq_status st;
    cli_err e;
    memset(&s, 0, sizeof(s));
    if (!specs) {
        cli_error(NULL, "out of memory");
        return CLI_EXIT_INTERNAL;
    }
    cli_parser_init(&p, "run", argc, argv);
    while ((id = cli_next_opt(&p, run_opts, sizeof(run_opts) / sizeof(run_opts[0]))) !=
           CLI_OPT_END) {
        switch (id) {
        case OPT_INPUT:
            specs[n_specs++] = p.value;
            break;
        case OPT_OUTPUT_DIR:
            out_dir = p.value;
            break;
        case OPT_FORCE:
            force = true;
            break;
        case OPT_HELP:
            fputs(run_help, stdout);
            goto done;
        case CLI_OPT_POSITIONAL:
            if (model_path) {
                rc = cli_usage_error(
                    "run", "one MODEL only ('%.64s' is extra; inputs go after --input)", p.value);
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
        rc = cli_usage_error("run", "missing MODEL");
        goto done;
    }
    if (!out_dir || !out_dir[0]) {
        rc = cli_usage_error("run", "missing --output-dir DIR");
        goto done;
    }

    s.model_path = model_path;
    if ((rc = cli_load_model(model_path, &s.model)) != CLI_EXIT_OK) {
        goto done;
    }
    s.info.struct_size = sizeof(s.info);
    if ((st = tfmq_model_get_info(s.model, &s.info)) != TFMQ_OK) {
        rc = cli_report_lib(model_path, st);
        goto done;
    }
    s.ins = calloc(s.info.n_inputs + 1, sizeof(*s.ins));
    s.outs = calloc(s.info.n_outputs + 1, sizeof(*s.outs));
    s.binds = calloc(n_specs + 1, sizeof(*s.binds));
    s.in_t = calloc(s.info.n_inputs + 1, sizeof(*s.in_t));
    s.out_t = calloc(s.info.n_outputs + 1, sizeof(*s.out_t));
    if (!s.ins || !s.outs || !s.binds || !s.in_t || !s.out_t) {
        cli_error(model_path, "out of memory");
        rc = CLI_EXIT_INTERNAL;
        goto done;
    }
    for (size_t i = 0; i < s.info.n_inputs; i++) {
        if ((rc = cli_model_io(s.model, TFMQ_IO_INPUT, i, &s.ins[i])) != CLI_EXIT_OK) {
            goto done;
        }
    }
    for (size_t i = 0; i < s.info.n_outputs; i++) {
        if ((rc = cli_model_io(s.model, TFMQ_IO_OUTPUT, i, &s.outs[i])) != CLI_EXIT_OK) {
            goto done;
        }
    }

    /* Bind every input exactly once. */
    for (size_t k = 0; k < n_specs; k++) {
        run_binding *b = &s.binds[s.n_binds++];
        b->spec = specs[k];
        if ((rc = resolve_binding(&s, b)) != CLI_EXIT_OK) {
            goto done;
        }
        for (size_t j = 0; j < k; j++) {
            if (s.binds[j].input == b->input) {
                rc = cli_usage_error("run", "input '%s' is given twice", s.ins[b->input].name);
                goto done;
            }
        }
    }
    if (n_specs < s.info.n_inputs) {
        for (size_t i = 0; i < s.info.n_inputs; i++) {
            bool bound = false;
            for (size_t k = 0; k < n_specs; k++) {
                bound = bound || s.binds[k].input == i;
            }
            if (!bound) {
                rc = cli_usage_error("run", "no --input for model input '%s' (%zu input%s needed)",
                                     s.ins[i].name, s.info.n_inputs,
                                     s.info.n_inputs == 1 ? "" : "s");
                goto done;
            }
        }
    }
    if ((rc = plan_output_paths(&s, out_dir, force)) != CLI_EXIT_OK) {
        goto done;
    }
    for (size_t k = 0; k < n_specs; k++) {
        run_binding *b = &s.binds[k];
        if ((rc = load_binding(&s, b)) != CLI_EXIT_OK) {
            goto done;
        }
        tfmq_tensor *t = &s.in_t[k];
        t->name = s.ins[b->input].name;
        t->dtype = b->arr.dtype;
        t->rank = b->arr.rank;
        t->dims = b->arr.dims;
        t->data = b->arr.data;
        t->data_bytes = b->arr.data_bytes;
    }

    tfmq_session_options so;
    memset(&so, 0, sizeof(so));
    so.struct_size = sizeof(so);
    if ((st = tfmq_session_create(s.model, &so, &s.sess)) != TFMQ_OK) {
        rc = cli_report_lib(model_path, st);
        goto done;
    }
    for (size_t k = 0; k < s.info.n_outputs; k++) {
        s.out_t[k].name = s.outs[k].name; /* data NULL: the session's memory */
    }
    const double t0 = cli_now_ms();
    st = tfmq_session_run(s.sess, s.in_t, n_specs, s.out_t, s.info.n_outputs);
    const double t1 = cli_now_ms();
    if (st != TFMQ_OK) {
        rc = cli_report_lib(model_path, st);
        goto done;
    }
    if ((st = cli_mkdir_p(out_dir, &e)) != TFMQ_OK) {
        rc = cli_report(out_dir, st, &e);
        goto done;
    }
    for (size_t k = 0; k < s.info.n_outputs; k++) {
        if ((rc = write_output(&s.out_t[k], s.out_paths[k], force)) != CLI_EXIT_OK) {
            goto done;
        }
    }
    printf("inference: %.2f ms\n", t1 - t0);
done:
    run_state_free(&s);
    free(specs);
    return rc;
}
