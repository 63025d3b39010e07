/* conv_dw.cu: our own convolution kernels (conv_dw.h). The direct convolution computes one
 * output element per thread, NHWC with the channel fastest, so that neighbouring threads of a
 * depthwise convolution read neighbouring channels (coalesced); it accumulates in float and
 * applies the fused epilogue (bias, residual, activation) before the one store. The epilogue
 * kernel applies the same epilogue in place. Both match backends/ref/fused.c: the residual is
 * added before the activation, and the activations follow ir/ops/fused.h. */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "backends/cuda/conv_dw.h"

namespace {

/* storage types: the values of tq_cuda_store */
enum { ST_F32 = 0, ST_F16 = 1, ST_BF16 = 2 };

__device__ __forceinline__ float ld(const float *p, int64_t i)
{
    return p[i];
}
__device__ __forceinline__ float ld(const __half *p, int64_t i)
{
    return __half2float(p[i]);
}
__device__ __forceinline__ float ld(const __nv_bfloat16 *p, int64_t i)
{
    return __bfloat162float(p[i]);
}
__device__ __forceinline__ void st(float *p, int64_t i, float v)
{
    p[i] = v;
}
__device__ __forceinline__ void st(__half *p, int64_t i, float v)
{
    p[i] = __float2half_rn(v);
}
__device__ __forceinline__ void st(__nv_bfloat16 *p, int64_t i, float v)
{
    p[i] = __float2bfloat16_rn(v);
}

__device__ __forceinline__ float act_apply(const tq_cuda_epi &e, float x)
{
    switch (e.act) {
    case TQ_CUDA_ACT_RELU:
        return x < 0.0f ? 0.0f : x; /* NaN passes through, like the reference */
    case TQ_CUDA_ACT_CLIP: {
        float v = x < e.lo ? e.lo : x;
        return v > e.hi ? e.hi : v;
    }
    case TQ_CUDA_ACT_HARD_SWISH: {
        float t = x / 6.0f + 0.5f;
        t = t < 0.0f ? 0.0f : (t > 1.0f ? 1.0f : t);
        return x * t;
    }
    case TQ_CUDA_ACT_LEAKY_RELU:
        return x < 0.0f ? e.alpha * x : x;
    case TQ_CUDA_ACT_SIGMOID:
        if (x >= 0.0f) {
            return 1.0f / (1.0f + expf(-x));
        } else {
            float t = expf(x);
            return t / (1.0f + t);
        }
    default:
        return x;
    }
}

template <typename T>
__global__ void conv_direct_kernel(tq_cuda_direct_conv a, int64_t total)
{
    const T *x = static_cast<const T *>(a.x);
    const T *w = static_cast<const T *>(a.wt);
    const T *res = static_cast<const T *>(a.res);
    T *y = static_cast<T *>(a.y);
    const int64_t step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += step) {
        const int64_t kk = i % a.k;
        int64_t t = i / a.k;
        const int64_t ox = t % a.ow;
        t /= a.ow;
        const int64_t oy = t % a.oh;
        const int64_t nb = t / a.oh;
        const int64_t c0 = (kk / a.mg) * a.cg;
        float acc = 0.0f;
        for (int64_t r = 0; r < a.r; r++) {
            const int64_t iy = oy * a.stride_h - a.pad_t + r * a.dil_h;
            if (iy < 0 || iy >= a.h) {
                continue;
            }
            for (int64_t s = 0; s < a.s; s++) {
                const int64_t ix = ox * a.stride_w - a.pad_l + s * a.dil_w;
                if (ix < 0 || ix >= a.w) {
                    continue;
                }
                const int64_t xo = ((nb * a.h + iy) * a.w + ix) * a.c + c0;
                const int64_t wo = ((kk * a.r + r) * a.s + s) * a.cg;
                for (int64_t c = 0; c < a.cg; c++) {
                    acc = fmaf(ld(x, xo + c), ld(w, wo + c), acc);
                }
            }
        }
        if (a.bias) {
            acc += a.bias[kk];
        }
        if (res) {
            acc += ld(res, i);
        }
        st(y, i, act_apply(a.epi, acc));
    }
}

template <typename T>
__global__ void epilogue_kernel(T *y, const float *bias, const T *res, int64_t n, int64_t n_ch,
                                tq_cuda_epi e)
{
    const int64_t step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += step) {
        float v = ld(y, i);
        if (bias) {
            v += bias[i % n_ch];
        }
        if (res) {
            v += ld(res, i);
        }
        st(y, i, act_apply(e, v));
    }
}

unsigned grid_for(int64_t total, unsigned block)
{
    int64_t g = (total + block - 1) / block;
    const int64_t cap = (int64_t)1 << 20; /* grid-stride beyond this */
    if (g > cap) {
        g = cap;
    }
    return g < 1 ? 1u : (unsigned)g;
}

} // namespace

extern "C" int tq_cuda_conv_direct(const tq_cuda_direct_conv *a, void *stream)
{
    const int64_t total = a->n * a->oh * a->ow * a->k;
    if (total <= 0) {
        return (int)cudaSuccess;
    }
    if (a->k <= 0 || a->mg <= 0 || a->cg <= 0) {
        return (int)cudaErrorInvalidValue;
    }
    const unsigned block = 256;
    const unsigned grid = grid_for(total, block);
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    switch (a->store) {
    case ST_F32:
        conv_direct_kernel<float><<<grid, block, 0, s>>>(*a, total);
        break;
    case ST_F16:
        conv_direct_kernel<__half><<<grid, block, 0, s>>>(*a, total);
        break;
    case ST_BF16:
        conv_direct_kernel<__nv_bfloat16><<<grid, block, 0, s>>>(*a, total);
        break;
    default:
        return (int)cudaErrorInvalidValue;
    }
    return (int)cudaGetLastError();
}

extern "C" int tq_cuda_epilogue(void *y, const float *bias, const void *res, size_t n,
                                int64_t n_ch, int store, const tq_cuda_epi *epi, void *stream)
{
    if (n == 0) {
        return (int)cudaSuccess;
    }
    if (n_ch <= 0) {
        return (int)cudaErrorInvalidValue;
    }
    const unsigned block = 256;
    const unsigned grid = grid_for((int64_t)n, block);
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    switch (store) {
    case ST_F32:
        epilogue_kernel<float><<<grid, block, 0, s>>>(static_cast<float *>(y), bias,
                                                      static_cast<const float *>(res),
                                                      (int64_t)n, n_ch, *epi);
        break;
    case ST_F16:
        epilogue_kernel<__half><<<grid, block, 0, s>>>(static_cast<__half *>(y), bias,
                                                       static_cast<const __half *>(res),
                                                       (int64_t)n, n_ch, *epi);
        break;
    case ST_BF16:
        epilogue_kernel<__nv_bfloat16><<<grid, block, 0, s>>>(
            static_cast<__nv_bfloat16 *>(y), bias, static_cast<const __nv_bfloat16 *>(res),
            (int64_t)n, n_ch, *epi);
        break;
    default:
        return (int)cudaErrorInvalidValue;
    }
    return (int)cudaGetLastError();
}
