/* main.c: entry point of the tfmq command-line tool. Handles the global options (--help,
 * --version) and dispatches to the subcommands in cmd_*.c. The CLI uses only tfmq.h. */
#include "cli_util.h"
#include "commands.h"
#include "tfmq.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

typedef struct cli_command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} cli_command;

static const cli_command commands[] = {
    {"inspect", cmd_inspect, "show a model's inputs, outputs, operators, size and cost"},
    {"run", cmd_run, "run a model on .npy inputs and write one .npy file per output"},
    {"predict", cmd_predict, "classify images (JPEG, PNG, BMP) with an image model"},
    {"quantize", cmd_quantize, "quantize a model to fp16/bf16/int8 and save an engine (.tfmq)"},
    {"compare", cmd_compare, "measure an engine's fidelity against its FP32 model"},
    {"export", cmd_export, "write an engine as ONNX (QDQ for int8)"},
    {"bench", cmd_bench, "time a model at several precisions and batch sizes"},
};

static void print_usage(FILE *f)
{
    fprintf(f, "usage: tfmq [--version] [--help] COMMAND [ARGS]\n\n"
               "tfmq imports trained models (ONNX), runs and quantizes them.\n\n"
               "Commands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    }
    fprintf(f, "\nRun 'tfmq COMMAND --help' for the options of a command.\n"
               "Exit status: 0 success, 1 bad input or usage, 2 internal or backend error.\n");
}

static void print_version(void)
{
    printf("tfmq %s\n", tfmq_version());
    printf("engine format: %u\n", (unsigned)tfmq_engine_format_version());
    printf("backends: %s\n", tfmq_backends());
    printf("cpu: %s\n", tfmq_cpu_info());
}

static const cli_command *find_command(const char *name)
{
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(commands[i].name, name) == 0) {
            return &commands[i];
        }
    }
    return NULL;
}

static int dispatch(int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *arg = argv[1];
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
        print_usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(arg, "--version") == 0 || strcmp(arg, "-V") == 0 || strcmp(arg, "version") == 0) {
        print_version();
        return CLI_EXIT_OK;
    }
    if (strcmp(arg, "help") == 0) { /* "tfmq help run" == "tfmq run --help" */
        if (argc < 3) {
            print_usage(stdout);
            return CLI_EXIT_OK;
        }
        const cli_command *c = find_command(argv[2]);
        if (!c) {
            return cli_usage_error(NULL, "'%.64s' is not a tfmq command", argv[2]);
        }
        char help[] = "--help";
        char *sub[] = {argv[2], help, NULL};
        return c->fn(2, sub);
    }
    if (arg[0] == '-') {
        return cli_usage_error(NULL, "unknown option '%.64s'", arg);
    }
    const cli_command *c = find_command(arg);
    if (!c) {
        return cli_usage_error(NULL, "'%.64s' is not a tfmq command", arg);
    }
    return c->fn(argc - 1, argv + 1);
}

/* The library's warnings (e.g. a node with no GPU kernel) go to stderr as tfmq's own. */
static void cli_log(void *user_data, tfmq_log_level level, const char *message)
{
    (void)user_data;
    (void)level;
    cli_warn(NULL, "%s", message);
}

int main(int argc, char **argv)
{
    /* A closed pipe (tfmq inspect m.onnx | head -1) must be a write error, not a signal. */
    signal(SIGPIPE, SIG_IGN);
    tfmq_set_log_callback(cli_log, NULL, TFMQ_LOG_WARN);
    /* --signature NAME (TensorFlow SavedModels) works with every command: take it out here */
    int n = 0;
    for (int i = 0; i < argc; i++) {
        if (i > 0 && strcmp(argv[i], "--signature") == 0 && i + 1 < argc) {
            cli_signature = argv[++i];
            continue;
        }
        if (i > 0 && strncmp(argv[i], "--signature=", 12) == 0) {
            cli_signature = argv[i] + 12;
            continue;
        }
        argv[n++] = argv[i];
    }
    argv[n] = NULL;
    int rc = dispatch(n, argv);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        if (errno != EPIPE) {
            cli_error("stdout", "write error: %s", strerror(errno));
        }
        if (rc == CLI_EXIT_OK) {
            rc = CLI_EXIT_USAGE;
        }
    }
    return rc;
}
