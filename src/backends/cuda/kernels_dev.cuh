// kernels_dev.cuh: device helpers shared by kernels_*.cu: element load/store with conversion to
// and from float registers (storage types F32/F16/BF16, round to nearest even), launch geometry
// and warp/block reductions. Device code only; included by .cu files.
#ifndef TQ_CUDA_KERNELS_DEV_CUH
#define TQ_CUDA_KERNELS_DEV_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>

#include "backends/cuda/kernels.h"

#define TQK_BLOCK 256

template <typename T> struct tqk_elem;
template <> struct tqk_elem<float> {
    static __device__ __forceinline__ float ld(const float *p) { return *p; }
    static __device__ __forceinline__ void st(float *p, float v) { *p = v; }
    static __device__ __forceinline__ float to_f(float v) { return v; }
    static __device__ __forceinline__ float from_f(float v) { return v; }
};
template <> struct tqk_elem<__half> {
    static __device__ __forceinline__ float ld(const __half *p) { return __half2float(*p); }
    static __device__ __forceinline__ void st(__half *p, float v) { *p = __float2half_rn(v); }
    static __device__ __forceinline__ float to_f(__half v) { return __half2float(v); }
    static __device__ __forceinline__ __half from_f(float v) { return __float2half_rn(v); }
};
template <> struct tqk_elem<__nv_bfloat16> {
    static __device__ __forceinline__ float ld(const __nv_bfloat16 *p)
    {
        return __bfloat162float(*p);
    }
    static __device__ __forceinline__ void st(__nv_bfloat16 *p, float v)
    {
        *p = __float2bfloat16_rn(v);
    }
    static __device__ __forceinline__ float to_f(__nv_bfloat16 v) { return __bfloat162float(v); }
    static __device__ __forceinline__ __nv_bfloat16 from_f(float v)
    {
        return __float2bfloat16_rn(v);
    }
};

template <typename T> __device__ __forceinline__ float tqk_ld(const T *p, int64_t i)
{
    return tqk_elem<T>::ld(p + i);
}
template <typename T> __device__ __forceinline__ void tqk_st(T *p, int64_t i, float v)
{
    tqk_elem<T>::st(p + i, v);
}

// 16 bytes of T: the unit of vector loads and stores.
template <typename T> struct alignas(16) tqk_vec {
    static constexpr int N = (int)(16 / sizeof(T));
    T v[N];
};

// Blocks for n work items of TQK_BLOCK threads, capped (grid-stride loops do the rest).
static inline unsigned tqk_blocks(int64_t n, int threads = TQK_BLOCK)
{
    int64_t b = (n + threads - 1) / threads;
    if (b < 1) {
        b = 1;
    }
    if (b > 65535LL * 16) {
        b = 65535LL * 16;
    }
    return (unsigned)b;
}

static inline bool tqk_aligned16(const void *p)
{
    return ((uintptr_t)p & 15u) == 0;
}

__device__ __forceinline__ float tqk_warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1) {
        v += __shfl_xor_sync(0xffffffffu, v, o);
    }
    return v;
}
__device__ __forceinline__ double tqk_warp_sum_d(double v)
{
    for (int o = 16; o > 0; o >>= 1) {
        v += __shfl_xor_sync(0xffffffffu, v, o);
    }
    return v;
}
__device__ __forceinline__ float tqk_warp_max(float v) // ignores NaN (fmaxf)
{
    for (int o = 16; o > 0; o >>= 1) {
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    }
    return v;
}

// Dispatch on a float storage type: runs the statement with T the element type (float, __half,
// __nv_bfloat16); returns cudaErrorInvalidValue for any other type.
#define TQK_FLOAT_DISPATCH(type, ...)                                                             \
    do {                                                                                          \
        switch (type) {                                                                           \
        case TQK_F32: {                                                                           \
            typedef float T;                                                                      \
            __VA_ARGS__;                                                                          \
        } break;                                                                                  \
        case TQK_F16: {                                                                           \
            typedef __half T;                                                                     \
            __VA_ARGS__;                                                                          \
        } break;                                                                                  \
        case TQK_BF16: {                                                                          \
            typedef __nv_bfloat16 T;                                                              \
            __VA_ARGS__;                                                                          \
        } break;                                                                                  \
        default:                                                                                  \
            return (int)cudaErrorInvalidValue;                                                    \
        }                                                                                         \
    } while (0)

#endif
