/* info.c: build facts the CLI prints with --version. */
#include "core/core.h"
#include "engine/format.h" /* TQ_ENGINE_FORMAT_VERSION (docs/FORMAT.md) */

const char *tfmq_backends(void)
{
    return "cpu";
}

uint32_t tfmq_engine_format_version(void)
{
    return TQ_ENGINE_FORMAT_VERSION;
}
