/* info.c: build facts the CLI prints with --version. */
#include "core/core.h"

/* Version of the compiled-engine (.tfmq) file format. The writer and reader arrive with the
 * quantization work (docs/FORMAT.md); readers refuse files of a newer major version. */
#define TQ_ENGINE_FORMAT_VERSION 1u

const char *tfmq_backends(void)
{
    return "cpu";
}

uint32_t tfmq_engine_format_version(void)
{
    return TQ_ENGINE_FORMAT_VERSION;
}
