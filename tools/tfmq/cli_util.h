/* cli_util.h: helpers shared by the tfmq CLI commands: exit codes, one-line error reports,
 * a small long/short option parser, file reading, atomic file writing, element conversion.
 * The CLI uses only the public API (tfmq.h); these helpers are not part of libtfmq. */
#ifndef TFMQ_CLI_UTIL_H
#define TFMQ_CLI_UTIL_H

#include "tfmq.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#if defined(__GNUC__)
#define CLI_PRINTF(fmt_idx, arg_idx) __attribute__((format(printf, fmt_idx, arg_idx)))
#else
#define CLI_PRINTF(fmt_idx, arg_idx)
#endif

/* Process exit codes: 0 success, 1 bad input or usage, 2 internal or backend error. */
enum { CLI_EXIT_OK = 0, CLI_EXIT_USAGE = 1, CLI_EXIT_INTERNAL = 2 };

/* Exit code for a tfmq_status: INVALID_ARG, IO, PARSE, UNSUPPORTED, VERSION -> 1; the rest -> 2. */
int cli_exit_code(tfmq_status st);

/* Error text of the CLI's own modules (npy, image, files), like tfmq_last_error() for the library.
 */
typedef struct cli_err {
    char msg[512];
} cli_err;

/* Format `fmt` into e->msg and return `st`, so callers can write `return cli_fail(e, ...)`. */
tfmq_status cli_fail(cli_err *e, tfmq_status st, const char *fmt, ...) CLI_PRINTF(3, 4);

/* "tfmq: <subject>: <message>" on stderr (subject may be NULL). */
void cli_error(const char *subject, const char *fmt, ...) CLI_PRINTF(2, 3);
/* "tfmq: <subject>: warning: <message>" on stderr (subject may be NULL). */
void cli_warn(const char *subject, const char *fmt, ...) CLI_PRINTF(2, 3);

/* Report a failed library call as "tfmq: <subject>: <tfmq_last_error()>" and return the exit code.
 */
int cli_report_lib(const char *subject, tfmq_status st);
/* Report a failed CLI-module call (message in e) and return the exit code. */
int cli_report(const char *subject, tfmq_status st, const cli_err *e);

/* Load a model; on failure print "tfmq: <path>: <message>" and return the exit code (else 0). */
/* SavedModel signature for every model loaded by this run (--signature NAME), or NULL. */
extern const char *cli_signature;
int cli_load_model(const char *path, tfmq_model **model_out);
/* Describe input or output `index` (sets struct_size); reports failure like cli_report_lib. */
int cli_model_io(const tfmq_model *model, tfmq_io_kind kind, size_t index, tfmq_io_info *info);
/* Write s to f with control characters shown as '?', so names cannot drive the terminal. */
void cli_fputs_safe(const char *s, FILE *f);
/* "[1, 3, 224, 224]"; symbolic dims by name ("[batch, 10]"); "[?]" for an unknown rank.
 * Truncated (ending in "...") if buf is too small. */
void cli_format_shape(int32_t rank, const int64_t *dims, const char *const *dim_names, char *buf,
                      size_t size);

/* ---- option parsing: long options (--name, --name=value, --name value), short options (-k,
 * -kVALUE, -k VALUE), "--" ends options; positional arguments may appear anywhere. ---- */
typedef struct cli_option {
    const char *long_name; /* without the leading "--" */
    char short_name;       /* 0 if none */
    bool takes_value;
    int id; /* returned by cli_next_opt(); must be >= 0 */
} cli_option;

enum { CLI_OPT_END = -1, CLI_OPT_POSITIONAL = -2, CLI_OPT_ERROR = -3 };

typedef struct cli_parser {
    int argc;
    char **argv;
    int index;               /* next argv entry to look at */
    bool options_done;       /* "--" seen */
    const char *command;     /* "inspect", ... for messages */
    const char *value;       /* value of the last option, or the positional argument */
    const char *option_text; /* the last option as the user wrote it (for messages) */
} cli_parser;

/* argv[0] is the command name; parsing starts at argv[1]. */
void cli_parser_init(cli_parser *p, const char *command, int argc, char **argv);
/* Next option id, CLI_OPT_POSITIONAL (p->value is the argument), CLI_OPT_END, or CLI_OPT_ERROR
 * (already reported on stderr). */
int cli_next_opt(cli_parser *p, const cli_option *opts, size_t n_opts);
/* Report a usage error "tfmq <command>: <message>" plus a pointer to --help; returns 1. */
int cli_usage_error(const char *command, const char *fmt, ...) CLI_PRINTF(2, 3);

/* Parse a decimal integer in [min, max]; false on anything else (sign, junk, overflow). */
bool cli_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);
/* True if tfmq_backends() lists `name` ("cpu", "cuda"). */
bool cli_has_backend(const char *name);
/* A comma list of batch sizes in 1..65536 ("1,8,32") into out (at most cap): false after a
 * usage error naming `command` and `option`. */
bool cli_parse_batch_list(const char *command, const char *option, const char *s, int64_t *out,
                          size_t cap, size_t *n_out);
/* Parse "HxW" (e.g. 224x224) with both sides in [1, max]. */
bool cli_parse_hw(const char *s, int64_t max, int64_t *h_out, int64_t *w_out);

/* ---- files ---- */
/* Read a whole file (or pipe) into a new malloc'd buffer (free with free()); at most max_bytes. */
tfmq_status cli_read_file(const char *path, size_t max_bytes, uint8_t **data_out, size_t *n_out,
                          cli_err *e);
/* Write the concatenation of parts[0..n_parts) to `path` atomically: a temporary file in the
 * same directory is written, flushed, fsync'ed and renamed over `path`. Without `overwrite` an
 * existing `path` is left alone and the call fails with TFMQ_ERR_IO. */
tfmq_status cli_write_file_atomic(const char *path, const void *const *parts,
                                  const size_t *part_bytes, size_t n_parts, bool overwrite,
                                  cli_err *e);
/* Create a directory and its missing parents (mode 0777 minus umask). */
tfmq_status cli_mkdir_p(const char *path, cli_err *e);
/* Turn a tensor name into a safe file-name stem: [A-Za-z0-9._-] kept, other bytes become '_',
 * never empty, never "." or "..", never starting with '-' or '.', at most out_size-1 bytes. */
void cli_sanitize_filename(const char *name, char *out, size_t out_size);

/* Milliseconds of CLOCK_MONOTONIC. */
double cli_now_ms(void);

/* ---- elements ---- */
float cli_f16_to_f32(uint16_t h);
uint16_t cli_f32_to_f16(float f);
float cli_bf16_to_f32(uint16_t h);
uint16_t cli_f32_to_bf16(float f);
/* True for the dtypes the CLI can read and write element-wise (all numeric ones and bool). */
bool cli_dtype_is_numeric(tfmq_dtype dt);
/* Element i of a buffer of dtype `dt` as a double (dt must be numeric). */
double cli_elem_get(tfmq_dtype dt, const void *base, size_t i);
/* Store v (rounded to nearest, saturated for integer dtypes; NaN becomes 0) as element i. */
void cli_elem_set(tfmq_dtype dt, void *base, size_t i, double v);

#endif /* TFMQ_CLI_UTIL_H */
