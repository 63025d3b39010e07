/* ref_shape_util.h: helpers of the data-movement reference kernels (Reshape, Transpose, Slice,
 * Pad, Tile, Expand, DepthToSpace, ...): a check that the caller's output shapes are what shape
 * inference gives for the actual inputs, and a dtype-agnostic strided gather that copies elements
 * by byte size. */
#ifndef TQ_REF_SHAPE_UTIL_H
#define TQ_REF_SHAPE_UTIL_H

#include "ir/ops/shape_ops.h"

/* Most dims a strided copy handles (Tile views a rank-r tensor as 2r dims). */
#define TQ_REF_COPY_MAX_DIMS (2 * TQ_MAX_RANK)

/* Re-run the node's shape inference on the (fully known) inputs and check that every present
 * output has exactly that dtype and shape and a buffer, and every present input has data. The
 * kernels rely on this instead of trusting the caller, so a bad shape can never overrun a
 * buffer. *esize_out (may be NULL) receives the element size of out[0]. */
tfmq_status tq_ref_shape_verify(tq_op_ctx *ctx, size_t *esize_out);

/* Kernel of the ops whose output is the input's bytes unchanged (Reshape, Flatten, Squeeze,
 * Unsqueeze, Identity): verify shapes, then copy in[0] to out[0] (nothing when in place). */
tfmq_status tq_ref_copy_through(tq_op_ctx *ctx);

/* Row-major strides (elements) of a known shape. */
void tq_ref_shape_strides(const tq_tensor *t, int64_t *strides);

/* dst (contiguous, row-major over dims[0..n_dims)) receives, element by element,
 * src[src_offset + sum_k i_k * src_strides[k]] (strides in elements, may be 0 or negative).
 * The caller guarantees every source index is inside src. */
void tq_ref_strided_copy(void *dst, const void *src, size_t esize, int32_t n_dims,
                         const int64_t *dims, const int64_t *src_strides, int64_t src_offset);

/* Copy one element of esize bytes. */
void tq_ref_copy_elem(void *dst, const void *src, size_t esize);

#endif
