/* ref_shape_util.c: shape verification and the strided element copy behind the data-movement
 * reference kernels (see ref_shape_util.h). Copies go by element size (1, 2, 4, 8 bytes), so every
 * dtype moves bit-exactly. */
#include <string.h>

#include "backends/ref/ref_shape_util.h"

tfmq_status tq_ref_shape_verify(tq_op_ctx *ctx, size_t *esize_out)
{
    tq_op_ctx c = *ctx;
    tq_tensor want[TQ_MAX_IO];
    for (int32_t k = 0; k < ctx->n_in; k++) {
        const tq_tensor *t = ctx->in[k];
        /* empty tensors may come without a buffer */
        if (t && (!tq_tensor_shape_known(t) || (!t->data && tq_tensor_numel(t) != 0))) {
            return tq_op_fail(ctx, TFMQ_ERR_INTERNAL, "input %d has no data", k);
        }
    }
    for (int32_t k = 0; k < ctx->n_out && k < TQ_MAX_IO; k++) {
        c.out[k] = ctx->out[k] ? &want[k] : NULL;
        if (ctx->out[k]) {
            memset(&want[k], 0, sizeof(want[k]));
        }
    }
    c.scratch_bytes = 0;
    tfmq_status st = tq_infer_table[ctx->node->op](&c);
    if (st != TFMQ_OK) {
        return st;
    }
    for (int32_t k = 0; k < ctx->n_out; k++) {
        const tq_tensor *o = ctx->out[k];
        if (!o) {
            continue;
        }
        bool same = o->dtype == want[k].dtype && o->rank == want[k].rank &&
                    tq_tensor_shape_known(o);
        for (int32_t i = 0; same && i < o->rank; i++) {
            same = o->dims[i] == want[k].dims[i];
        }
        size_t bytes = 0;
        if (!same || !tq_tensor_bytes(o, &bytes) || (bytes != 0 && !o->data)) {
            char a[128], b[128];
            return tq_op_fail(ctx, TFMQ_ERR_INTERNAL, "output %d is %s %s, expected %s %s", k,
                              tfmq_dtype_name(o->dtype), tq_shape_str(o, a, sizeof(a)),
                              tfmq_dtype_name(want[k].dtype), tq_shape_str(&want[k], b, sizeof(b)));
        }
    }
    if (esize_out) {
        *esize_out = ctx->out[0] ? tq_dtype_size(ctx->out[0]->dtype) : 0;
    }
    return TFMQ_OK;
}

tfmq_status tq_ref_copy_through(tq_op_ctx *ctx)
{
    size_t ib, ob;
    tfmq_status st = tq_ref_shape_verify(ctx, NULL);
    if (st != TFMQ_OK) {
        return st;
    }
    if (!tq_tensor_bytes(ctx->in[0], &ib) || !tq_tensor_bytes(ctx->out[0], &ob) || ib != ob) {
        return tq_op_fail(ctx, TFMQ_ERR_INTERNAL, "input and output sizes differ");
    }
    if (ob > 0 && ctx->out[0]->data != ctx->in[0]->data) {
        memmove(ctx->out[0]->data, ctx->in[0]->data, ob);
    }
    return TFMQ_OK;
}

void tq_ref_shape_strides(const tq_tensor *t, int64_t *strides)
{
    int64_t s = 1;
    for (int32_t i = t->rank - 1; i >= 0; i--) {
        strides[i] = s;
        s *= t->dims[i];
    }
}

void tq_ref_copy_elem(void *dst, const void *src, size_t esize)
{
    switch (esize) {
    case 1:
        memcpy(dst, src, 1);
        break;
    case 2:
        memcpy(dst, src, 2);
        break;
    case 4:
        memcpy(dst, src, 4);
        break;
    case 8:
        memcpy(dst, src, 8);
        break;
    default:
        memcpy(dst, src, esize);
        break;
    }
}

/* One row: n elements from src at stride s (elements). */
static void tq_ref_copy_row(char *dst, const char *src, size_t esize, int64_t n, int64_t s)
{
    if (s == 1) {
        memcpy(dst, src, (size_t)n * esize);
        return;
    }
    const ptrdiff_t step = (ptrdiff_t)s * (ptrdiff_t)esize;
    for (int64_t j = 0; j < n; j++, dst += esize, src += step) {
        tq_ref_copy_elem(dst, src, esize);
    }
}

void tq_ref_strided_copy(void *dst, const void *src, size_t esize, int32_t n_dims,
                         const int64_t *dims, const int64_t *src_strides, int64_t src_offset)
{
    int64_t idx[TQ_REF_COPY_MAX_DIMS] = {0};
    char *d = dst;
    const char *s = src;
    if (n_dims == 0) {
        tq_ref_copy_elem(d, s + src_offset * (ptrdiff_t)esize, esize);
        return;
    }
    for (int32_t k = 0; k < n_dims; k++) {
        if (dims[k] == 0) {
            return;
        }
    }
    const int32_t last = n_dims - 1;
    const int64_t n_row = dims[last], s_row = src_strides[last];
    int64_t off = src_offset;
    for (;;) {
        tq_ref_copy_row(d, s + off * (ptrdiff_t)esize, esize, n_row, s_row);
        d += (size_t)n_row * esize;
        int32_t k = last - 1;
        for (; k >= 0; k--) {
            off += src_strides[k];
            if (++idx[k] < dims[k]) {
                break;
            }
            off -= src_strides[k] * dims[k];
            idx[k] = 0;
        }
        if (k < 0) {
            return;
        }
    }
}
