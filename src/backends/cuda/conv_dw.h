/* conv_dw.h: our own convolution kernels of the CUDA backend (conv_dw.cu), used by conv.c and
 * gemm.c: a direct NHWC convolution with the fused epilogue (depthwise convolutions, which are
 * memory-bound, and any convolution cuDNN has no plan for), and the epilogue alone
 * (bias + residual + activation, in place) behind a cuDNN convolution or a cuBLASLt matmul whose
 * own epilogue cannot express the activation. Plain C types only: included by C and CUDA code.
 * Launchers return a cudaError_t as int (0 = cudaSuccess); turn it into a status with
 * tq_cuda_check(). They only enqueue work on `stream`. */
#ifndef TQ_CUDA_CONV_DW_H
#define TQ_CUDA_CONV_DW_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Activation codes: the values of tq_fused_act_kind (ir/ops/fused.h). */
enum {
    TQ_CUDA_ACT_NONE = 0,
    TQ_CUDA_ACT_RELU = 1,
    TQ_CUDA_ACT_CLIP = 2,
    TQ_CUDA_ACT_HARD_SWISH = 3,
    TQ_CUDA_ACT_LEAKY_RELU = 4,
    TQ_CUDA_ACT_SIGMOID = 5
};

typedef struct tq_cuda_epi {
    int act;               /* TQ_CUDA_ACT_* */
    float lo, hi;          /* Clip bounds */
    float alpha;           /* LeakyRelu slope */
} tq_cuda_epi;

/* y = act(conv(x, w) + bias + res), all NHWC (shape [n, c, h, w] -> [n, k, oh, ow]); w is KRSC
 * ([k][r][s][cg]) in the storage type; bias float32 [k] or NULL; res output-shaped or NULL.
 * Groups: cg input and mg output channels per group (depthwise: cg == 1). */
typedef struct tq_cuda_direct_conv {
    int64_t n, c, h, w;      /* input */
    int64_t k, oh, ow;       /* output channels and size */
    int64_t r, s;            /* kernel size */
    int64_t stride_h, stride_w, dil_h, dil_w, pad_t, pad_l;
    int64_t cg, mg;          /* channels per group: input, output */
    int store;               /* tq_cuda_store of x, w, res and y */
    const void *x;
    const void *wt;
    const float *bias;
    const void *res;
    void *y;
    tq_cuda_epi epi;
} tq_cuda_direct_conv;

int tq_cuda_conv_direct(const tq_cuda_direct_conv *a, void *stream);

/* In place over n elements of y (storage type), channel = i % n_ch (NHWC or row-major with the
 * channel last): y = act(y + bias[channel] + res[i]); bias float32 or NULL, res or NULL. */
int tq_cuda_epilogue(void *y, const float *bias, const void *res, size_t n, int64_t n_ch,
                     int store, const tq_cuda_epi *epi, void *stream);

#ifdef __cplusplus
}
#endif

#endif
