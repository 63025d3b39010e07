/* commands.h: entry points of the tfmq subcommands; argv[0] is the command name. Each returns
 * the process exit code (0 success, 1 bad input or usage, 2 internal or backend error). */
#ifndef TFMQ_CLI_COMMANDS_H
#define TFMQ_CLI_COMMANDS_H

#include "tfmq.h"

#include <stdbool.h>

int cmd_inspect(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_bench(int argc, char **argv);

/* Helpers shared by quantize, compare and bench (defined in cmd_quantize.c). */
struct datasrc;
/* "fp32", "tf32", "fp16", "bf16", "int8" -> precision; false if unknown. */
bool cli_parse_precision(const char *s, tfmq_precision *out);
/* Report a failed call that read `ds` (its own message if it failed, else the library's). */
int cli_report_data_error(const char *subject, tfmq_status st, const struct datasrc *ds);
/* Write text plus a newline to path atomically (existing file kept unless force). */
int cli_write_text_file(const char *path, const char *text, bool force);

#endif /* TFMQ_CLI_COMMANDS_H */
