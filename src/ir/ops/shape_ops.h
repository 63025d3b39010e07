/* shape_ops.h: helpers and parameter decoding shared by the shape inference (src/ir/ops/) and
 * the reference kernels (src/backends/ref/) of the data-movement ops: Reshape, Slice, Split, Pad,
 * Resize, Transpose, DepthToSpace and friends. Decoding lives here once so inference and kernels
 * can never disagree about what a node means. */
#ifndef TQ_SHAPE_OPS_H
#define TQ_SHAPE_OPS_H

#include "ir/ir.h"

/* ---- general helpers ---- */
/* Element size of dt, or TFMQ_ERR_UNSUPPORTED naming the dtype (string, undefined). */
tfmq_status tq_shape_esize(const tq_op_ctx *ctx, tfmq_dtype dt, size_t *esize_out);
/* Set t to dtype dt and rank `rank` (-1: unknown) with every dim unknown. */
void tq_shape_set_unknown(tq_tensor *t, tfmq_dtype dt, int32_t rank);
/* Validate an inferred output: rank in [-1, TQ_MAX_RANK], dims >= -1, and the known dims times
 * the element size within TQ_MAX_TENSOR_BYTES (so absurd data-derived shapes fail here, before
 * anything is allocated). */
tfmq_status tq_shape_check(const tq_op_ctx *ctx, const tq_tensor *t);
/* Product of dims[from..to) into *prod_out: -1 if any is unknown. Fails on overflow. */
tfmq_status tq_shape_prod(const tq_op_ctx *ctx, const int64_t *dims, int32_t from, int32_t to,
                          int64_t *prod_out);
/* Entries of a 1-D (or scalar) tensor when its shape is known, else -1. */
int64_t tq_shape_len(const tq_tensor *t);

/* State of an integer list that comes from an attribute or an input. */
typedef enum tq_ints_state {
    TQ_INTS_ABSENT = 0, /* neither the input nor the attribute is there */
    TQ_INTS_KNOWN = 1,  /* values read */
    TQ_INTS_UNKNOWN = 2 /* an input whose data is not known yet; *len_out may still be >= 0 */
} tq_ints_state;
/* Read an integer list from input k when present (opsets that moved the attribute to an input),
 * else from attribute `attr` (may be NULL). At most cap values go to dst. *len_out: number of
 * values (-1 when unknown). */
tfmq_status tq_shape_ints(const tq_op_ctx *ctx, int32_t k, const char *attr, int64_t *dst,
                          size_t cap, int64_t *len_out, tq_ints_state *state_out);
/* Normalise axes[0..n) into [0, rank) in place; fails on out-of-range or repeated axes. */
tfmq_status tq_shape_norm_axes(const tq_op_ctx *ctx, int64_t *axes, size_t n, int32_t rank);

/* ---- Shape ---- */
/* dims[*start_out, *end_out) of a rank-`rank` input are the output (start/end of opset 15,
 * clamped to [0, rank]; end >= start). */
tfmq_status tq_shape_op_bounds(const tq_op_ctx *ctx, int32_t rank, int64_t *start_out,
                               int64_t *end_out);

/* ---- Transpose ---- */
/* perm attribute (default: reversed axes), validated as a permutation of [0, rank). */
tfmq_status tq_transpose_perm(const tq_op_ctx *ctx, int32_t rank, int32_t *perm);

/* ---- Slice ---- */
typedef struct tq_slice_params {
    int64_t start[TQ_MAX_RANK]; /* first input index per axis (elements) */
    int64_t step[TQ_MAX_RANK];  /* input step per axis (elements, never 0) */
    int64_t count[TQ_MAX_RANK]; /* output extent per axis; -1 when unknown */
} tq_slice_params;
/* Decode starts/ends/axes/steps (attributes before opset 10, inputs after) against in[0], whose
 * rank must be known, with the clamping rules of the spec. */
tfmq_status tq_slice_params_get(const tq_op_ctx *ctx, tq_slice_params *p);

/* ---- Split ---- */
/* Axis and the size of each of the node's n_out outputs along it (-1 when unknown). in[0] rank
 * must be known. */
tfmq_status tq_split_params(const tq_op_ctx *ctx, int32_t *axis_out, int64_t *sizes);

/* ---- Gather / GatherElements ---- */
tfmq_status tq_gather_axis(const tq_op_ctx *ctx, int32_t rank, int32_t *axis_out);

/* ---- Pad ---- */
typedef enum tq_pad_mode {
    TQ_PAD_CONSTANT = 0,
    TQ_PAD_REFLECT = 1,
    TQ_PAD_EDGE = 2,
    TQ_PAD_WRAP = 3
} tq_pad_mode;
typedef struct tq_pad_params {
    tq_pad_mode mode;
    int64_t begin[TQ_MAX_RANK]; /* elements added before (negative: cropped) per axis */
    int64_t end[TQ_MAX_RANK];   /* elements added after (negative: cropped) per axis */
    bool known[TQ_MAX_RANK];    /* false when this axis' pads are not known yet */
    double value;               /* constant value from the attribute (opset < 11) */
} tq_pad_params;
/* Decode mode, pads and axes against in[0], whose rank must be known. */
tfmq_status tq_pad_params_get(const tq_op_ctx *ctx, tq_pad_params *p);

/* ---- Resize / Upsample ---- */
typedef enum tq_resize_mode {
    TQ_RESIZE_NEAREST = 0,
    TQ_RESIZE_LINEAR = 1,
    TQ_RESIZE_CUBIC = 2
} tq_resize_mode;
typedef enum tq_resize_coord {
    TQ_COORD_HALF_PIXEL = 0,
    TQ_COORD_HALF_PIXEL_SYMMETRIC = 1,
    TQ_COORD_PYTORCH_HALF_PIXEL = 2,
    TQ_COORD_ALIGN_CORNERS = 3,
    TQ_COORD_ASYMMETRIC = 4,
    TQ_COORD_TF_HALF_PIXEL_FOR_NN = 5,
    TQ_COORD_TF_CROP_AND_RESIZE = 6
} tq_resize_coord;
typedef enum tq_resize_nearest {
    TQ_NEAREST_ROUND_PREFER_FLOOR = 0,
    TQ_NEAREST_ROUND_PREFER_CEIL = 1,
    TQ_NEAREST_FLOOR = 2,
    TQ_NEAREST_CEIL = 3,
    TQ_NEAREST_SIMPLE = 4 /* Upsample and Resize-10: floor when upsampling, ceil when down */
} tq_resize_nearest;
typedef struct tq_resize_params {
    tq_resize_mode mode;
    tq_resize_coord coord;
    tq_resize_nearest nearest;
    double cubic_a;
    bool exclude_outside;
    double extrapolation;          /* tf_crop_and_resize value outside the input */
    bool known;                    /* scale/out_len/roi are known (scales or sizes data) */
    double scale[TQ_MAX_RANK];     /* per axis factor used by the coordinate transform */
    double out_len[TQ_MAX_RANK];   /* in * scale as a real number (align_corners, crop) */
    double roi_start[TQ_MAX_RANK]; /* tf_crop_and_resize region, normalised coordinates */
    double roi_end[TQ_MAX_RANK];
    int64_t out_dims[TQ_MAX_RANK]; /* -1 when unknown */
} tq_resize_params;
/* Decode a Resize or Upsample node against in[0], whose rank must be known. */
tfmq_status tq_resize_params_get(const tq_op_ctx *ctx, tq_resize_params *p);

/* ---- DepthToSpace / SpaceToDepth ---- */
/* blocksize (> 0) and, for DepthToSpace, whether mode is CRD (else DCR). */
tfmq_status tq_depth_to_space_params(const tq_op_ctx *ctx, int64_t *block_out, bool *crd_out);

#endif
