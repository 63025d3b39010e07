/* constant_of_shape.c: ConstantOfShape reference kernel: every element is the `value` attribute
 * (copied by bytes, any dtype) or float32 0 when it is absent. */
#include <string.h>

#include "backends/ref/ref_shape_util.h"

tfmq_status tq_ref_constant_of_shape(tq_op_ctx *ctx)
{
    tq_tensor *y = ctx->out[0];
    const tq_attr *v = tq_node_attr(ctx->node, "value");
    size_t es;
    tfmq_status st = tq_ref_shape_verify(ctx, &es);
    if (st != TFMQ_OK) {
        return st;
    }
    size_t n = tq_tensor_numel(y);
    if (n == 0) {
        return TFMQ_OK;
    }
    if (!v) {
        memset(y->data, 0, n * es);
        return TFMQ_OK;
    }
    char *d = y->data;
    for (size_t i = 0; i < n; i++) {
        tq_ref_copy_elem(d + i * es, v->tensor->data, es);
    }
    return TFMQ_OK;
}
