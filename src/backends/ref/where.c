/* where.c: reference kernel of Where(cond, X, Y) with numpy broadcasting of all three inputs.
 * The selection copies raw elements, so one loop per element size serves every dtype. */
#include "backends/ref/ref.h"

#include <string.h>

#define WHERE_LOOP(T)                                                                              \
    do {                                                                                           \
        const T *A = a->data, *B = b->data;                                                        \
        T *Y = y->data;                                                                            \
        for (size_t row = 0; row < it.n_rows; row++) {                                             \
            const uint8_t *pc = C + off[0];                                                        \
            const T *pa = A + off[1], *pb = B + off[2];                                            \
            T *py = Y + row * ni;                                                                  \
            for (size_t j = 0; j < ni; j++) {                                                      \
                py[j] = pc[j * sc] ? pa[j * sa] : pb[j * sb];                                      \
            }                                                                                      \
            tq_ref_bcast_next(&it, off);                                                           \
        }                                                                                          \
    } while (0)

tfmq_status tq_ref_where(tq_op_ctx *ctx)
{
    const tq_tensor *c = ctx->in[0], *a = ctx->in[1], *b = ctx->in[2];
    tq_tensor *y = ctx->out[0];
    if (!tq_ref_bcast_ok(c, y) || !tq_ref_bcast_ok(a, y) || !tq_ref_bcast_ok(b, y) ||
        a->dtype != y->dtype || b->dtype != y->dtype || c->dtype != TFMQ_DTYPE_BOOL) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "inputs do not match the output");
    }
    tq_ref_bcast it;
    const tq_tensor *ins[3] = {c, a, b};
    size_t off[TQ_REF_BCAST_MAX_IN];
    tq_ref_bcast_init(&it, y, ins, 3);
    tq_ref_bcast_begin(&it, off);
    const size_t ni = it.n_inner, sc = it.inner_stride[0], sa = it.inner_stride[1],
                 sb = it.inner_stride[2];
    const uint8_t *C = c->data;
    switch (tq_dtype_size(y->dtype)) {
    case 1:
        WHERE_LOOP(uint8_t);
        break;
    case 2:
        WHERE_LOOP(uint16_t);
        break;
    case 4:
        WHERE_LOOP(uint32_t);
        break;
    case 8:
        WHERE_LOOP(uint64_t);
        break;
    default:
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "dtype %s is not supported",
                          tfmq_dtype_name(y->dtype));
    }
    return TFMQ_OK;
}
