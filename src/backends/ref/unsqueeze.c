/* unsqueeze.c: Unsqueeze reference kernel. The output holds the input's bytes unchanged (row-major
 * order is preserved), so the kernel verifies the shapes and copies (nothing when run in place). */
#include "backends/ref/ref_shape_util.h"

tfmq_status tq_ref_unsqueeze(tq_op_ctx *ctx)
{
    return tq_ref_copy_through(ctx);
}
