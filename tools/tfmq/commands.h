/* commands.h: entry points of the tfmq subcommands; argv[0] is the command name. Each returns
 * the process exit code (0 success, 1 bad input or usage, 2 internal or backend error). */
#ifndef TFMQ_CLI_COMMANDS_H
#define TFMQ_CLI_COMMANDS_H

int cmd_inspect(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_predict(int argc, char **argv);

#endif /* TFMQ_CLI_COMMANDS_H */
