/* info.c: build facts the CLI prints with --version. */
#include "core/core.h"
#include "engine/format.h" /* TQ_ENGINE_FORMAT_VERSION (docs/FORMAT.md) */

const char *tfmq_backends(void)
{
#ifdef TFMQ_HAVE_CUDA
    return "cpu cuda";
#else
    return "cpu";
#endif
}

uint32_t tfmq_engine_format_version(void)
{
    return TQ_ENGINE_FORMAT_VERSION;
}
