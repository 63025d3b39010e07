/* cmd_export.c: `tfmq export ENGINE -o OUT.onnx [--force]`: write a model (typically an INT8
 * engine) as ONNX with tfmq_model_export_onnx: QDQ form for INT8, as TensorRT's explicit
 * quantization and ONNX Runtime read it. The write is atomic. */
#include "cli_util.h"
#include "commands.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char export_help[] =
    "usage: tfmq export ENGINE -o OUT.onnx [--force]\n"
    "\n"
    "Write ENGINE (a .tfmq from 'tfmq quantize', or any model tfmq loads) as an ONNX model.\n"
    "INT8 engines become QDQ ONNX: QuantizeLinear/DequantizeLinear pairs around each quantized\n"
    "layer, int8 weights per output channel with zero points 0 (TensorRT's explicit\n"
    "quantization); FP16/BF16 engines keep their half-precision weights.\n"
    "\n"
    "Options:\n"
    "  -o, --output FILE   the ONNX file to write (required)\n"
    "  -f, --force         overwrite FILE if it exists\n"
    "  -h, --help          show this help\n"
    "\n"
    "Exit status: 0 success, 1 bad input or usage, 2 internal or backend error.\n";

enum { OPT_OUTPUT, OPT_FORCE, OPT_HELP };

static const cli_option export_opts[] = {
    {"output", 'o', true, OPT_OUTPUT},
    {"force", 'f', false, OPT_FORCE},
    {"help", 'h', false, OPT_HELP},
};

int cmd_export(int argc, char **argv)
{
    cli_parser p;
    const char *in_path = NULL, *out_path = NULL;
    bool force = false;
    tfmq_model *model = NULL;
    tfmq_model_info info;
    tfmq_status st;
    int id, rc = CLI_EXIT_OK;

    cli_parser_init(&p, "export", argc, argv);
    while ((id = cli_next_opt(&p, export_opts, sizeof(export_opts) / sizeof(export_opts[0]))) !=
           CLI_OPT_END) {
        switch (id) {
        case OPT_OUTPUT:
            out_path = p.value;
            break;
        case OPT_FORCE:
            force = true;
            break;
        case OPT_HELP:
            fputs(export_help, stdout);
            return CLI_EXIT_OK;
        case CLI_OPT_POSITIONAL:
            if (in_path) {
                return cli_usage_error("export", "one ENGINE only ('%.64s' is extra)", p.value);
            }
            in_path = p.value;
            break;
        default:
            return CLI_EXIT_USAGE;
        }
    }
    if (!in_path) {
        return cli_usage_error("export", "missing ENGINE");
    }
    if (!out_path || !out_path[0]) {
        return cli_usage_error("export", "missing -o OUT.onnx");
    }
    if (!force && access(out_path, F_OK) == 0) {
        cli_error(out_path, "file exists (use --force to overwrite)");
        return CLI_EXIT_USAGE;
    }
    if ((rc = cli_load_model(in_path, &model)) != CLI_EXIT_OK) {
        return rc;
    }
    memset(&info, 0, sizeof(info));
    info.struct_size = sizeof(info);
    if ((st = tfmq_model_get_info(model, &info)) != TFMQ_OK) {
        rc = cli_report_lib(in_path, st);
        goto done;
    }
    if ((st = tfmq_model_export_onnx(model, out_path, force ? TFMQ_WRITE_OVERWRITE : 0)) !=
        TFMQ_OK) {
        rc = cli_report_lib(out_path, st);
        goto done;
    }
    printf("wrote %s (%s%s, %zu nodes)\n", out_path,
           info.precision && strcmp(info.precision, "int8") == 0 ? "QDQ " : "",
           info.precision ? info.precision : "fp32", info.n_nodes);
done:
    tfmq_model_destroy(model);
    return rc;
}
