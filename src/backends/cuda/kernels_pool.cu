// kernels_pool.cu: 2-D MaxPool / AveragePool and GlobalAveragePool / GlobalMaxPool in NCHW or
// NHWC (kernels.h). One thread per output element, taps visited in the reference's order
// (backends/ref/pool.c): MaxPool keeps the first tap and replaces it only with a greater value
// (so NaN behaves as there), AveragePool sums in double and divides once, which makes F32
// results bit-exact with the reference. Global pools reduce in double (average) or with
// NaN-ignoring max (as the reference's `v > acc` loop).
#include <math.h>

#include "backends/cuda/kernels_dev.cuh"

template <typename T> struct pool_io {
    static __device__ __forceinline__ double ld(const T *p, int64_t i) { return (double)tqk_ld(p, i); }
    static __device__ __forceinline__ void st(T *p, int64_t i, double v) { tqk_st(p, i, (float)v); }
};
template <> struct pool_io<int8_t> {
    static __device__ __forceinline__ double ld(const int8_t *p, int64_t i) { return (double)p[i]; }
    static __device__ __forceinline__ void st(int8_t *p, int64_t i, double v) { p[i] = (int8_t)v; }
};
template <> struct pool_io<uint8_t> {
    static __device__ __forceinline__ double ld(const uint8_t *p, int64_t i) { return (double)p[i]; }
    static __device__ __forceinline__ void st(uint8_t *p, int64_t i, double v) { p[i] = (uint8_t)v; }
};

// Taps [lo, hi) of a window starting at `start` that fall inside [0, in) (ref/pool.c).
__device__ __forceinline__ void pool_taps(int64_t start, int64_t k, int64_t dil, int64_t in,
                                          int64_t *lo, int64_t *hi)
{
    const int64_t l = start >= 0 ? 0 : (-start + dil - 1) / dil;
    int64_t h = in - 1 - start < 0 ? 0 : (in - 1 - start) / dil + 1;
    if (h > k) {
        h = k;
    }
    *lo = l < h ? l : h;
    *hi = h;
}

template <typename T>
__global__ void pool_k(const tqk_pool p, T *__restrict__ y, const T *__restrict__ x)
{
    const int64_t n_out = p.N * p.C * p.OH * p.OW;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n_out;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t n, c, oh, ow, r = i;
        if (p.nhwc) {
            c = r % p.C;
            r /= p.C;
            ow = r % p.OW;
            r /= p.OW;
            oh = r % p.OH;
            n = r / p.OH;
        } else {
            ow = r % p.OW;
            r /= p.OW;
            oh = r % p.OH;
            r /= p.OH;
            c = r % p.C;
            n = r / p.C;
        }
        // element (h, w) of plane (n, c) is at base + h * sh_ + w * sw_
        const int64_t base = p.nhwc ? n * p.H * p.W * p.C + c : (n * p.C + c) * p.H * p.W;
        const int64_t s_h = p.nhwc ? p.W * p.C : p.W, s_w = p.nhwc ? p.C : 1;
        const int64_t s1 = oh * p.sh - p.pt, s2 = ow * p.sw - p.pl;
        int64_t h0, h1, w0, w1;
        pool_taps(s1, p.kh, p.dh, p.H, &h0, &h1);
        pool_taps(s2, p.kw, p.dw, p.W, &w0, &w1);
        double out;
        if (p.is_max) {
            double best = 0.0;
            bool any = false;
            for (int64_t kh = h0; kh < h1; kh++) {
                const int64_t ih = s1 + kh * p.dh;
                for (int64_t kw = w0; kw < w1; kw++) {
                    const double v = pool_io<T>::ld(x, base + ih * s_h + (s2 + kw * p.dw) * s_w);
                    if (!any || v > best) {
                        best = v;
                        any = true;
                    }
                }
            }
            out = any ? best : 0.0;
        } else {
            double sum = 0.0;
            for (int64_t kh = h0; kh < h1; kh++) {
                const int64_t ih = s1 + kh * p.dh;
                for (int64_t kw = w0; kw < w1; kw++) {
                    sum += pool_io<T>::ld(x, base + ih * s_h + (s2 + kw * p.dw) * s_w);
                }
            }
            int64_t div = (h1 - h0) * (w1 - w0);
            if (p.count_include_pad) {
                int64_t a0, a1, b0, b1;
                pool_taps(s1 + p.pt, p.kh, p.dh, p.H + p.pt + p.pb, &a0, &a1);
                pool_taps(s2 + p.pl, p.kw, p.dw, p.W + p.pl + p.pr, &b0, &b1);
                div = (a1 - a0) * (b1 - b0);
            }
            out = div > 0 ? sum / (double)div : 0.0;
        }
        pool_io<T>::st(y, i, out);
    }
}

// MaxPool in NHWC with C a multiple of the 16-byte vector: one thread per (n, oh, ow, vector of
// channels), 16-byte loads, 32-bit indexing. Same tap order and comparison as pool_k (first
// tap, then only a greater value replaces it), per channel, in float: exact for every type.
template <typename T>
__global__ void maxpool_nhwc_vec_k(const tqk_pool p, T *__restrict__ y, const T *__restrict__ x)
{
    typedef tqk_vec<T> V;
    const int CV = (int)(p.C / V::N);
    const int n_out = (int)(p.N * p.OH * p.OW) * CV;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n_out; i += gridDim.x * blockDim.x) {
        int r = i;
        const int cv = r % CV;
        r /= CV;
        const int ow = r % (int)p.OW;
        r /= (int)p.OW;
        const int oh = r % (int)p.OH;
        const int n = r / (int)p.OH;
        const int s1 = oh * (int)p.sh - (int)p.pt, s2 = ow * (int)p.sw - (int)p.pl;
        int64_t h0, h1, w0, w1;
        pool_taps(s1, p.kh, p.dh, p.H, &h0, &h1);
        pool_taps(s2, p.kw, p.dw, p.W, &w0, &w1);
        float best[V::N];
        bool any = false;
        const V *xv = (const V *)x + (int64_t)n * p.H * p.W * CV + cv;
        for (int kh = (int)h0; kh < (int)h1; kh++) {
            const int ih = s1 + kh * (int)p.dh;
            for (int kw = (int)w0; kw < (int)w1; kw++) {
                const int iw = s2 + kw * (int)p.dw;
                const V v = xv[((int64_t)ih * p.W + iw) * CV];
#pragma unroll
                for (int j = 0; j < V::N; j++) {
                    const float f = tqk_elem<T>::to_f(v.v[j]);
                    if (!any || f > best[j]) {
                        best[j] = f;
                    }
                }
                any = true;
            }
        }
        V o;
#pragma unroll
        for (int j = 0; j < V::N; j++) {
            o.v[j] = tqk_elem<T>::from_f(any ? best[j] : 0.0f);
        }
        ((V *)y)[i] = o;
    }
}

// The same for int8 / uint8 MaxPool: 16 channels per thread as four words, each the per-byte
// maximum of its taps with __vmaxs4 / __vmaxu4 (integer maxima: exact, and equal to "first tap,
// then only a greater value").
template <bool SIGNED> __device__ __forceinline__ uint32_t vmax4(uint32_t a, uint32_t b)
{
    return SIGNED ? __vmaxs4(a, b) : __vmaxu4(a, b);
}

template <typename T>
__global__ void maxpool_nhwc_vec8_k(const tqk_pool p, T *__restrict__ y, const T *__restrict__ x)
{
    constexpr bool S = sizeof(T) == 1 && (T)-1 < (T)0;
    const int CV = (int)(p.C / 16);
    const int n_out = (int)(p.N * p.OH * p.OW) * CV;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n_out; i += gridDim.x * blockDim.x) {
        int r = i;
        const int cv = r % CV;
        r /= CV;
        const int ow = r % (int)p.OW;
        r /= (int)p.OW;
        const int oh = r % (int)p.OH;
        const int n = r / (int)p.OH;
        const int s1 = oh * (int)p.sh - (int)p.pt, s2 = ow * (int)p.sw - (int)p.pl;
        int64_t h0, h1, w0, w1;
        pool_taps(s1, p.kh, p.dh, p.H, &h0, &h1);
        pool_taps(s2, p.kw, p.dw, p.W, &w0, &w1);
        uint4 best = make_uint4(0u, 0u, 0u, 0u);
        bool any = false;
        const uint4 *xv = (const uint4 *)x + (int64_t)n * p.H * p.W * CV + cv;
        for (int kh = (int)h0; kh < (int)h1; kh++) {
            const int ih = s1 + kh * (int)p.dh;
            for (int kw = (int)w0; kw < (int)w1; kw++) {
                const uint4 v = __ldg(xv + ((int64_t)ih * p.W + s2 + kw * (int)p.dw) * CV);
                if (!any) {
                    best = v;
                    any = true;
                } else {
                    best.x = vmax4<S>(best.x, v.x);
                    best.y = vmax4<S>(best.y, v.y);
                    best.z = vmax4<S>(best.z, v.z);
                    best.w = vmax4<S>(best.w, v.w);
                }
            }
        }
        ((uint4 *)y)[i] = best; // no tap: 0, as pool_k
    }
}

extern "C" int tqk_pool_launch(const tqk_pool *p, void *y, const void *x, void *stream)
{
    const int64_t n_out = p->N * p->C * p->OH * p->OW;
    if (n_out <= 0) {
        return 0;
    }
    cudaStream_t s = (cudaStream_t)stream;
    const unsigned g = tqk_blocks(n_out);
    if (p->is_max && p->nhwc && (p->type == TQK_I8 || p->type == TQK_U8) && p->C % 16 == 0 &&
        tqk_aligned16(x) && tqk_aligned16(y) &&
        p->N * p->H * p->W * p->C < ((int64_t)1 << 31) - 1) {
        const unsigned gv = tqk_blocks(n_out / 16);
        if (p->type == TQK_I8) {
            maxpool_nhwc_vec8_k<int8_t><<<gv, TQK_BLOCK, 0, s>>>(*p, (int8_t *)y,
                                                                 (const int8_t *)x);
        } else {
            maxpool_nhwc_vec8_k<uint8_t><<<gv, TQK_BLOCK, 0, s>>>(*p, (uint8_t *)y,
                                                                  (const uint8_t *)x);
        }
        return (int)cudaGetLastError();
    }
    const int64_t vec = p->type == TQK_F32 ? 4 : 8;
    if (p->is_max && p->nhwc && (p->type == TQK_F32 || p->type == TQK_F16 ||
                                 p->type == TQK_BF16) &&
        p->C % vec == 0 && tqk_aligned16(x) && tqk_aligned16(y) &&
        p->N * p->H * p->W * p->C < ((int64_t)1 << 31) - 1) {
        const unsigned gv = tqk_blocks(n_out / vec);
        TQK_FLOAT_DISPATCH(p->type,
                           maxpool_nhwc_vec_k<T><<<gv, TQK_BLOCK, 0, s>>>(*p, (T *)y, (const T *)x));
        return (int)cudaGetLastError();
    }
    switch (p->type) {
    case TQK_I8:
        pool_k<int8_t><<<g, TQK_BLOCK, 0, s>>>(*p, (int8_t *)y, (const int8_t *)x);
        break;
    case TQK_U8:
        pool_k<uint8_t><<<g, TQK_BLOCK, 0, s>>>(*p, (uint8_t *)y, (const uint8_t *)x);
        break;
    default:
        TQK_FLOAT_DISPATCH(p->type, pool_k<T><<<g, TQK_BLOCK, 0, s>>>(*p, (T *)y, (const T *)x));
        break;
    }
    return (int)cudaGetLastError();
}

// ---- global pools ----
// NCHW: one warp per (n, c) plane, contiguous.
template <typename T>
__global__ void gpool_nchw_k(int is_max, int64_t planes, int64_t HW, T *__restrict__ y,
                             const T *__restrict__ x)
{
    const int lane = threadIdx.x & 31;
    const int64_t warps = (int64_t)gridDim.x * (blockDim.x / 32);
    for (int64_t p = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32; p < planes;
         p += warps) {
        const T *xp = x + p * HW;
        double acc = 0.0;
        float m = -INFINITY;
        for (int64_t j = lane; j < HW; j += 32) {
            const float v = tqk_ld(xp, j);
            if (is_max) {
                m = v > m ? v : m;
            } else {
                acc += (double)v;
            }
        }
        if (is_max) {
            m = tqk_warp_max(m);
        } else {
            acc = tqk_warp_sum_d(acc);
        }
        if (lane == 0) {
            tqk_st(y, p, is_max ? m : (float)(HW ? acc / (double)HW : 0.0));
        }
    }
}

// NHWC: block (32 channels, 8 rows of positions); grid (channel tiles, N).
template <typename T>
__global__ void gpool_nhwc_k(int is_max, int64_t N, int64_t C, int64_t HW, T *__restrict__ y,
                             const T *__restrict__ x)
{
    __shared__ double sacc[8][32];
    __shared__ float smax[8][32];
    const int tx = threadIdx.x, ty = threadIdx.y;
    for (int64_t n = blockIdx.y; n < N; n += gridDim.y) {
        for (int64_t c0 = (int64_t)blockIdx.x * 32; c0 < C; c0 += (int64_t)gridDim.x * 32) {
            const int64_t c = c0 + tx;
            double acc = 0.0;
            float m = -INFINITY;
            if (c < C) {
                const T *xp = x + n * HW * C + c;
                for (int64_t j = ty; j < HW; j += 8) {
                    const float v = tqk_ld(xp, j * C);
                    if (is_max) {
                        m = v > m ? v : m;
                    } else {
                        acc += (double)v;
                    }
                }
            }
            sacc[ty][tx] = acc;
            smax[ty][tx] = m;
            __syncthreads();
            if (ty == 0 && c < C) {
                for (int k = 1; k < 8; k++) {
                    acc += sacc[k][tx];
                    m = fmaxf(m, smax[k][tx]);
                }
                tqk_st(y, n * C + c, is_max ? m : (float)(HW ? acc / (double)HW : 0.0));
            }
            __syncthreads();
        }
    }
}

extern "C" int tqk_global_pool_launch(int32_t is_max, int32_t nhwc, int32_t type, int64_t N,
                                      int64_t C, int64_t HW, void *y, const void *x, void *stream)
{
    if (N <= 0 || C <= 0) {
        return 0;
    }
    cudaStream_t s = (cudaStream_t)stream;
    if (nhwc && C > 1) {
        const int64_t tiles = (C + 31) / 32;
        const dim3 grid((unsigned)(tiles < 65535 ? tiles : 65535),
                        (unsigned)(N < 65535 ? N : 65535));
        TQK_FLOAT_DISPATCH(type, gpool_nhwc_k<T><<<grid, dim3(32, 8), 0, s>>>(
                                     is_max, N, C, HW, (T *)y, (const T *)x));
    } else {
        // NCHW (or C == 1, where both layouts are the same memory)
        const int64_t planes = N * C;
        TQK_FLOAT_DISPATCH(type, gpool_nchw_k<T><<<tqk_blocks(planes * 32), TQK_BLOCK, 0, s>>>(
                                     is_max, planes, HW, (T *)y, (const T *)x));
    }
    return (int)cudaGetLastError();
}
