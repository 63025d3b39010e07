/* onednn.c: placeholder until the oneDNN family lands (see cpu.h). */
#include "backends/cpu/cpu.h"

tfmq_status tq_cpu_prepare_dnnl(const tq_cpu_prep *p, tq_cpu_kernel **k_out)
{
    (void)p;
    *k_out = NULL;
    return TFMQ_OK;
}

tq_cpu_role tq_cpu_dnnl_role(const tq_op_ctx *ctx)
{
    (void)ctx;
    return TQ_CPU_ROLE_PLAIN;
}
