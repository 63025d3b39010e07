/* kernels.h: the interface between the host side of our own CUDA kernels (kernels.c: node
 * decoding, parameter baking, tq_cuda_prepare_kernels) and their device side (kernels_*.cu:
 * kernels and their launchers). Only plain C types cross it, so kernels.c stays C11 and the .cu
 * files need none of the IR headers. Every launcher enqueues on `stream` (a cudaStream_t) and
 * returns a cudaError_t as int (0 = cudaSuccess); kernels.c turns it into a status with
 * tq_cuda_check(). Element counts and offsets are int64; all strides are in elements. */
#ifndef TQ_CUDA_KERNELS_H
#define TQ_CUDA_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TQK_MAX_RANK 8
#define TQK_MAX_EW_IN 3

/* Element types on the device. The first three equal tq_cuda_store. */
typedef enum tqk_type {
    TQK_F32 = 0,
    TQK_F16 = 1,
    TQK_BF16 = 2,
    TQK_I8 = 3,
    TQK_U8 = 4,
    TQK_I32 = 5,
    TQK_I64 = 6,
    TQK_BOOL = 7
} tqk_type;

/* ---- element-wise: y = f(x0, x1, x2), every operand broadcast to y by strides ---- */
typedef enum tqk_ew_op {
    /* unary (x0; params a, b, c) */
    TQK_EW_COPY = 0,
    TQK_EW_RELU,
    TQK_EW_LEAKY_RELU, /* a: alpha */
    TQK_EW_SIGMOID,
    TQK_EW_TANH,
    TQK_EW_EXP,
    TQK_EW_LOG,
    TQK_EW_SQRT,
    TQK_EW_ABS,
    TQK_EW_NEG,
    TQK_EW_ERF,
    TQK_EW_RECIPROCAL,
    TQK_EW_FLOOR,
    TQK_EW_CEIL,
    TQK_EW_ROUND,
    TQK_EW_SIGN,
    TQK_EW_HARD_SIGMOID, /* a: alpha, b: beta */
    TQK_EW_HARD_SWISH,
    TQK_EW_SOFTPLUS,
    TQK_EW_SOFTSIGN,
    TQK_EW_GELU,
    TQK_EW_GELU_TANH,
    TQK_EW_ELU,  /* a: alpha */
    TQK_EW_SELU, /* a: alpha, c: gamma */
    TQK_EW_SIN,
    TQK_EW_COS,
    TQK_EW_CLIP, /* a: lo, b: hi (numpy.clip order: max with lo first, then min with hi) */
    /* binary (x0, x1) */
    TQK_EW_ADD,
    TQK_EW_SUB,
    TQK_EW_MUL,
    TQK_EW_DIV,
    TQK_EW_POW,
    TQK_EW_PRELU,
    /* variadic over n_in inputs (1..3) */
    TQK_EW_MAX,
    TQK_EW_MIN,
    TQK_EW_SUM,
    TQK_EW_MEAN
} tqk_ew_op;

typedef struct tqk_ew {
    int32_t op;                               /* tqk_ew_op */
    int32_t n_in;                             /* 1..TQK_MAX_EW_IN */
    int32_t type;                             /* TQK_F32 / F16 / BF16, inputs and output */
    int32_t rank;                             /* merged dims of y's memory order, >= 1 */
    int64_t n;                                /* elements of y */
    int64_t dims[TQK_MAX_RANK];
    int64_t stride[TQK_MAX_EW_IN][TQK_MAX_RANK]; /* 0 along broadcast dims */
    float a, b, c;                            /* op parameters */
} tqk_ew;
int tqk_ew_launch(const tqk_ew *e, void *y, const void *const *x, void *stream);

/* ---- pooling (2-D) ---- */
typedef struct tqk_pool {
    int32_t is_max;
    int32_t nhwc;            /* both x and y */
    int32_t type;            /* F32/F16/BF16, or I8/U8 (MaxPool) */
    int32_t count_include_pad;
    int64_t N, C, H, W, OH, OW;
    int64_t kh, kw, sh, sw, dh, dw;
    int64_t pt, pl, pb, pr; /* pads: top, left, bottom, right */
} tqk_pool;
int tqk_pool_launch(const tqk_pool *p, void *y, const void *x, void *stream);
/* Global pools: y[n, c] over hw positions (nhwc: x is [N][HW][C], else [N][C][HW]). */
int tqk_global_pool_launch(int32_t is_max, int32_t nhwc, int32_t type, int64_t N, int64_t C,
                           int64_t HW, void *y, const void *x, void *stream);

/* ---- data movement ---- */
int tqk_copy(void *dst, const void *src, size_t n_bytes, void *stream);
int tqk_memset(void *dst, int value, size_t n_bytes, void *stream);
/* rows of width_bytes from src (pitch spitch) to dst (pitch dpitch). */
int tqk_copy2d(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width_bytes,
               size_t rows, void *stream);
/* dst[i] (dense, dims) = src[base + sum_d coord_d * stride_d]; element size esize (1/2/4/8). */
typedef struct tqk_strided {
    int32_t rank; /* >= 1 */
    int32_t esize;
    int64_t n;
    int64_t base;
    int64_t dims[TQK_MAX_RANK];
    int64_t stride[TQK_MAX_RANK];
} tqk_strided;
int tqk_strided_launch(const tqk_strided *s, void *dst, const void *src, void *stream);
/* Pad (ONNX modes: 0 constant, 1 reflect, 2 edge, 3 wrap): dst dense over out dims; each
 * output coordinate maps into the input (dense, in dims) as the reference kernel does; outside
 * in constant mode dst gets `value` (esize bytes, already in the element type). */
typedef struct tqk_pad {
    int32_t rank; /* >= 1 */
    int32_t esize;
    int32_t mode;
    int64_t n;
    int64_t out[TQK_MAX_RANK];
    int64_t in[TQK_MAX_RANK];
    int64_t begin[TQK_MAX_RANK];
    unsigned char value[8];
} tqk_pad;
int tqk_pad_launch(const tqk_pad *p, void *dst, const void *src, void *stream);
/* dst[b][c][r] = src[b][r][c] for src [B][R][Cc] (a tiled shared-memory transpose). */
int tqk_transpose2d(void *dst, const void *src, int64_t B, int64_t R, int64_t Cc, int32_t esize,
                    void *stream);
/* Gather along an axis with device indices (int64, already in [0, n_axis)):
 * dst[o][j][i] = src[o][idx[j]][i] for o < outer, j < n_idx, i < inner. */
int tqk_gather_launch(void *dst, const void *src, const int64_t *idx, int64_t outer,
                      int64_t n_axis, int64_t n_idx, int64_t inner, int32_t esize, void *stream);

/* ---- rows ---- */
/* Softmax / LogSoftmax over [outer, n, inner] (axis n). */
int tqk_softmax_launch(int32_t type, int32_t is_log, int64_t outer, int64_t n, int64_t inner,
                       void *y, const void *x, void *stream);
/* LayerNormalization over rows of k elements; scale/bias (storage type) have k entries, or 1
 * when *_bcast; bias may be NULL. */
int tqk_layernorm_launch(int32_t type, int64_t rows, int64_t k, float eps, const void *scale,
                         int32_t scale_bcast, const void *bias, int32_t bias_bcast, void *y,
                         const void *x, void *stream);
/* Reductions: y[o] for o over the kept dims (rank_keep, dims kd, input strides ks), each over
 * the reduced set (rank_red, dims rd, strides rs). n_red may be 0 (identity). */
typedef enum tqk_red_op {
    TQK_RED_SUM = 0,
    TQK_RED_MEAN = 1,
    TQK_RED_MAX = 2,
    TQK_RED_MIN = 3
} tqk_red_op;
typedef struct tqk_reduce {
    int32_t op;
    int32_t type;
    int32_t rank_keep, rank_red; /* >= 1 each (unit dims fill in) */
    int64_t n_out, n_red;
    int64_t kd[TQK_MAX_RANK], ks[TQK_MAX_RANK];
    int64_t rd[TQK_MAX_RANK], rs[TQK_MAX_RANK];
} tqk_reduce;
int tqk_reduce_launch(const tqk_reduce *r, void *y, const void *x, void *stream);

/* ---- per-channel and conversions ---- */
/* y = (x - p[0][c]) * p[1][c] + p[2][c] in double, c = (i / inner) % C; p: double [3][C] on
 * the device (mean, scale / sqrt(var + eps), bias) */
int tqk_batchnorm_launch(int32_t type, int64_t n, int64_t C, int64_t inner, const double *p,
                         void *y, const void *x, void *stream);
/* Cast between any two tqk_type (floats round to nearest even; float -> int truncates and
 * saturates, NaN -> 0; int -> int wraps; -> bool is != 0). */
int tqk_cast_launch(int32_t ytype, int32_t xtype, int64_t n, void *y, const void *x,
                    void *stream);
/* QuantizeLinear: y = sat(rint(x / s[c]) + z[c]); DequantizeLinear: y = (x - z[c]) * s[c];
 * c = (i / inner) % n_ch; s float32 and z int32 on the device. */
int tqk_quant_launch(int32_t ytype, int32_t xtype, int64_t n, int64_t n_ch, int64_t inner,
                     const float *s, const int32_t *z, void *y, const void *x, void *stream);
int tqk_dequant_launch(int32_t ytype, int32_t xtype, int64_t n, int64_t n_ch, int64_t inner,
                       const float *s, const int32_t *z, void *y, const void *x, void *stream);
/* QuantizeLinear per tensor, float32 NCHW [n_img, C, HW] in, int8/uint8 NHWC out (the same
 * bytes as tqk_quant_launch, relaid out). */
int tqk_quant_nchw_nhwc_launch(int32_t ytype, int64_t n_img, int64_t C, int64_t HW,
                               const float *s, const int32_t *z, void *y, const float *x,
                               void *stream);

/* ---- prepare-time device memory (synchronous; never called by a run) ---- */
int tqk_upload(void **dptr_out, const void *host, size_t n_bytes);
void tqk_device_free(void *dptr);

#ifdef __cplusplus
}
#endif

#endif
