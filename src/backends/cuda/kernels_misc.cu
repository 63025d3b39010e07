// kernels_misc.cu: data movement (strided gathers for Transpose and Slice, Gather along an
// axis) and row-wise kernels (Softmax / LogSoftmax, LayerNormalization, Reduce*) of the CUDA
// backend (kernels.h). Rows are reduced by one warp (short rows) or one block (long rows) with
// shuffles; sums accumulate in double, as the reference does, and values are rounded once to
// the storage type.
#include <math.h>
#include <string.h>

#include "backends/cuda/kernels_dev.cuh"

// ---- strided gather: dst dense over dims, src at base + sum coord * stride ----
template <typename E, typename I>
__global__ void strided_k(const tqk_strided p, E *__restrict__ dst, const E *__restrict__ src)
{
    const I n = (I)p.n;
    for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (I)gridDim.x * blockDim.x) {
        I r = i, o = (I)p.base;
#pragma unroll
        for (int d = TQK_MAX_RANK - 1; d >= 0; d--) {
            if (d < p.rank) {
                const I dd = (I)p.dims[d];
                const I q = r / dd;
                o += (r - q * dd) * (I)p.stride[d]; // wraps consistently for negative strides
                r = q;
            }
        }
        dst[i] = src[o];
    }
}

template <typename E>
static void strided_run(const tqk_strided *p, bool small, void *dst, const void *src,
                        cudaStream_t s)
{
    const unsigned g = tqk_blocks(p->n);
    if (small) {
        strided_k<E, uint32_t><<<g, TQK_BLOCK, 0, s>>>(*p, (E *)dst, (const E *)src);
    } else {
        strided_k<E, int64_t><<<g, TQK_BLOCK, 0, s>>>(*p, (E *)dst, (const E *)src);
    }
}

// ---- Pad: every output coordinate maps back into the input (ref/pad.c's tq_pad_map) ----
__device__ __forceinline__ int64_t pad_map(int mode, int64_t o, int64_t begin, int64_t d)
{
    int64_t c = o - begin;
    if (c >= 0 && c < d) {
        return c;
    }
    if (mode == 0) {
        return -1;
    }
    if (mode == 2) {
        return c < 0 ? 0 : d - 1;
    }
    if (mode == 3) {
        int64_t m = c % d;
        return m < 0 ? m + d : m;
    }
    if (d == 1) {
        return 0;
    }
    int64_t period = 2 * (d - 1), m = c % period;
    m = m < 0 ? m + period : m;
    return m >= d ? period - m : m;
}

template <typename E>
__global__ void pad_k(const tqk_pad p, E *__restrict__ dst, const E *__restrict__ src, E value)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < p.n;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t r = i, off = 0, stride = 1;
        bool inside = true;
#pragma unroll
        for (int d = TQK_MAX_RANK - 1; d >= 0; d--) {
            if (d < p.rank) {
                const int64_t q = r / p.out[d];
                const int64_t c = pad_map(p.mode, r - q * p.out[d], p.begin[d], p.in[d]);
                inside = inside && c >= 0;
                off += c * stride;
                stride *= p.in[d];
                r = q;
            }
        }
        dst[i] = inside ? src[off] : value;
    }
}

template <typename E>
static void pad_run(const tqk_pad *p, void *dst, const void *src, cudaStream_t s)
{
    E v;
    memcpy(&v, p->value, sizeof(E));
    pad_k<E><<<tqk_blocks(p->n), TQK_BLOCK, 0, s>>>(*p, (E *)dst, (const E *)src, v);
}

extern "C" int tqk_pad_launch(const tqk_pad *p, void *dst, const void *src, void *stream)
{
    if (p->n <= 0) {
        return 0;
    }
    cudaStream_t s = (cudaStream_t)stream;
    switch (p->esize) {
    case 1:
        pad_run<uint8_t>(p, dst, src, s);
        break;
    case 2:
        pad_run<uint16_t>(p, dst, src, s);
        break;
    case 4:
        pad_run<uint32_t>(p, dst, src, s);
        break;
    case 8:
        pad_run<uint64_t>(p, dst, src, s);
        break;
    default:
        return (int)cudaErrorInvalidValue;
    }
    return (int)cudaGetLastError();
}

extern "C" int tqk_strided_launch(const tqk_strided *p, void *dst, const void *src, void *stream)
{
    if (p->n <= 0) {
        return 0;
    }
    // 32-bit index math when every offset fits
    int64_t hi = p->base, lo = p->base;
    for (int d = 0; d < p->rank; d++) {
        const int64_t span = (p->dims[d] - 1) * p->stride[d];
        if (span > 0) {
            hi += span;
        } else {
            lo += span;
        }
    }
    const bool small = p->n < ((int64_t)1 << 31) && hi < ((int64_t)1 << 31) && lo >= 0;
    cudaStream_t s = (cudaStream_t)stream;
    switch (p->esize) {
    case 1:
        strided_run<uint8_t>(p, small, dst, src, s);
        break;
    case 2:
        strided_run<uint16_t>(p, small, dst, src, s);
        break;
    case 4:
        strided_run<uint32_t>(p, small, dst, src, s);
        break;
    case 8:
        strided_run<uint64_t>(p, small, dst, src, s);
        break;
    default:
        return (int)cudaErrorInvalidValue;
    }
    return (int)cudaGetLastError();
}

// ---- Gather along an axis ----
template <typename E>
__global__ void gather_k(E *__restrict__ dst, const E *__restrict__ src,
                         const int64_t *__restrict__ idx, int64_t outer, int64_t n_axis,
                         int64_t n_idx, int64_t inner)
{
    const int64_t n = outer * n_idx * inner;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t k = i % inner, r = i / inner;
        const int64_t j = r % n_idx, o = r / n_idx;
        dst[i] = src[(o * n_axis + idx[j]) * inner + k];
    }
}

extern "C" int tqk_gather_launch(void *dst, const void *src, const int64_t *idx, int64_t outer,
                                 int64_t n_axis, int64_t n_idx, int64_t inner, int32_t esize,
                                 void *stream)
{
    const int64_t n = outer * n_idx * inner;
    if (n <= 0) {
        return 0;
    }
    cudaStream_t s = (cudaStream_t)stream;
    const unsigned g = tqk_blocks(n);
    switch (esize) {
    case 1:
        gather_k<uint8_t><<<g, TQK_BLOCK, 0, s>>>((uint8_t *)dst, (const uint8_t *)src, idx, outer,
                                                  n_axis, n_idx, inner);
        break;
    case 2:
        gather_k<uint16_t><<<g, TQK_BLOCK, 0, s>>>((uint16_t *)dst, (const uint16_t *)src, idx,
                                                   outer, n_axis, n_idx, inner);
        break;
    case 4:
        gather_k<uint32_t><<<g, TQK_BLOCK, 0, s>>>((uint32_t *)dst, (const uint32_t *)src, idx,
                                                   outer, n_axis, n_idx, inner);
        break;
    case 8:
        gather_k<uint64_t><<<g, TQK_BLOCK, 0, s>>>((uint64_t *)dst, (const uint64_t *)src, idx,
                                                   outer, n_axis, n_idx, inner);
        break;
    default:
        return (int)cudaErrorInvalidValue;
    }
    return (int)cudaGetLastError();
}

// ---- reductions over a row handled by a warp (W = 32) or a block (W = blockDim.x) ----
// Sum of v over the group; every thread gets the result. `sh` has 32 doubles (block mode).
__device__ __forceinline__ double group_sum(double v, bool block, double *sh)
{
    v = tqk_warp_sum_d(v);
    if (!block) {
        return v;
    }
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    __syncthreads();
    if (lane == 0) {
        sh[w] = v;
    }
    __syncthreads();
    v = lane < nw ? sh[lane] : 0.0;
    return tqk_warp_sum_d(v);
}

__device__ __forceinline__ float group_max(float v, bool block, double *sh)
{
    v = tqk_warp_max(v);
    if (!block) {
        return v;
    }
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    __syncthreads();
    if (lane == 0) {
        sh[w] = (double)v;
    }
    __syncthreads();
    v = lane < nw ? (float)sh[lane] : -INFINITY;
    return tqk_warp_max(v);
}

// Rows of n contiguous elements: one row per warp (block == false) or per block.
template <typename T>
__global__ void softmax_rows_k(int is_log, bool block, int64_t rows, int64_t n,
                               T *__restrict__ y, const T *__restrict__ x)
{
    __shared__ double sh[32];
    const int tid = block ? (int)threadIdx.x : (int)(threadIdx.x & 31);
    const int nt = block ? (int)blockDim.x : 32;
    const int64_t groups = block ? (int64_t)gridDim.x : (int64_t)gridDim.x * (blockDim.x / 32);
    const int64_t g0 = block ? (int64_t)blockIdx.x
                             : (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    for (int64_t row = g0; row < rows; row += groups) {
        const T *xr = x + row * n;
        T *yr = y + row * n;
        float m = -INFINITY;
        for (int64_t j = tid; j < n; j += nt) {
            m = fmaxf(m, tqk_ld(xr, j)); // NaN ignored here; it still makes the sum NaN
        }
        m = group_max(m, block, sh);
        double s = 0.0;
        for (int64_t j = tid; j < n; j += nt) {
            s += (double)expf(tqk_ld(xr, j) - m);
        }
        s = group_sum(s, block, sh);
        if (is_log) {
            const double ls = log(s);
            for (int64_t j = tid; j < n; j += nt) {
                tqk_st(yr, j, (float)((double)tqk_ld(xr, j) - (double)m - ls));
            }
        } else {
            const double inv = 1.0 / s;
            for (int64_t j = tid; j < n; j += nt) {
                tqk_st(yr, j, (float)((double)expf(tqk_ld(xr, j) - m) * inv));
            }
        }
    }
}

// Axis not innermost: one thread per (outer, inner) column.
template <typename T>
__global__ void softmax_cols_k(int is_log, int64_t outer, int64_t n, int64_t inner,
                               T *__restrict__ y, const T *__restrict__ x)
{
    const int64_t cols = outer * inner;
    for (int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; c < cols;
         c += (int64_t)gridDim.x * blockDim.x) {
        const int64_t o = c / inner, k = c - o * inner;
        const T *xc = x + o * n * inner + k;
        T *yc = y + o * n * inner + k;
        float m = -INFINITY;
        for (int64_t j = 0; j < n; j++) {
            m = fmaxf(m, tqk_ld(xc, j * inner));
        }
        double s = 0.0;
        for (int64_t j = 0; j < n; j++) {
            s += (double)expf(tqk_ld(xc, j * inner) - m);
        }
        if (is_log) {
            const double ls = log(s);
            for (int64_t j = 0; j < n; j++) {
                tqk_st(yc, j * inner, (float)((double)tqk_ld(xc, j * inner) - (double)m - ls));
            }
        } else {
            const double inv = 1.0 / s;
            for (int64_t j = 0; j < n; j++) {
                tqk_st(yc, j * inner, (float)((double)expf(tqk_ld(xc, j * inner) - m) * inv));
            }
        }
    }
}

#define ROW_BLOCK_MIN 2048 // rows at least this long get a block each

extern "C" int tqk_softmax_launch(int32_t type, int32_t is_log, int64_t outer, int64_t n,
                                  int64_t inner, void *y, const void *x, void *stream)
{
    if (outer <= 0 || n <= 0 || inner <= 0) {
        return 0;
    }
    cudaStream_t s = (cudaStream_t)stream;
    if (inner == 1) {
        const bool block = n >= ROW_BLOCK_MIN;
        const unsigned g = block ? tqk_blocks(outer, 1) : tqk_blocks(outer * 32);
        TQK_FLOAT_DISPATCH(type, softmax_rows_k<T><<<g, TQK_BLOCK, 0, s>>>(
                                     is_log, block, outer, n, (T *)y, (const T *)x));
    } else {
        TQK_FLOAT_DISPATCH(type, softmax_cols_k<T><<<tqk_blocks(outer * inner), TQK_BLOCK, 0, s>>>(
                                     is_log, outer, n, inner, (T *)y, (const T *)x));
    }
    return (int)cudaGetLastError();
}

// ---- LayerNormalization: mean and population variance in double, two passes ----
template <typename T>
__global__ void layernorm_k(bool block, int64_t rows, int64_t k, float eps,
                            const T *__restrict__ scale, int s_b, const T *__restrict__ bias,
                            int b_b, T *__restrict__ y, const T *__restrict__ x)
{
    __shared__ double sh[32];
    const int tid = block ? (int)threadIdx.x : (int)(threadIdx.x & 31);
    const int nt = block ? (int)blockDim.x : 32;
    const int64_t groups = block ? (int64_t)gridDim.x : (int64_t)gridDim.x * (blockDim.x / 32);
    const int64_t g0 = block ? (int64_t)blockIdx.x
                             : (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    for (int64_t row = g0; row < rows; row += groups) {
        const T *xr = x + row * k;
        T *yr = y + row * k;
        double s = 0.0;
        for (int64_t j = tid; j < k; j += nt) {
            s += (double)tqk_ld(xr, j);
        }
        const double mean = group_sum(s, block, sh) / (double)k;
        double s2 = 0.0;
        for (int64_t j = tid; j < k; j += nt) {
            const double d = (double)tqk_ld(xr, j) - mean;
            s2 += d * d;
        }
        const double inv = 1.0 / sqrt(group_sum(s2, block, sh) / (double)k + (double)eps);
        for (int64_t j = tid; j < k; j += nt) {
            double v = ((double)tqk_ld(xr, j) - mean) * inv * (double)tqk_ld(scale, s_b ? 0 : j);
            if (bias) {
                v += (double)tqk_ld(bias, b_b ? 0 : j);
            }
            tqk_st(yr, j, (float)v);
        }
    }
}

extern "C" int tqk_layernorm_launch(int32_t type, int64_t rows, int64_t k, float eps,
                                    const void *scale, int32_t scale_bcast, const void *bias,
                                    int32_t bias_bcast, void *y, const void *x, void *stream)
{
    if (rows <= 0 || k <= 0) {
        return 0;
    }
    cudaStream_t s = (cudaStream_t)stream;
    const bool block = k >= ROW_BLOCK_MIN;
    const unsigned g = block ? tqk_blocks(rows, 1) : tqk_blocks(rows * 32);
    TQK_FLOAT_DISPATCH(type, layernorm_k<T><<<g, TQK_BLOCK, 0, s>>>(
                                 block, rows, k, eps, (const T *)scale, scale_bcast,
                                 (const T *)bias, bias_bcast, (T *)y, (const T *)x));
    return (int)cudaGetLastError();
}

// ---- Reduce*: sums in double; Max/Min propagate NaN like the reference ----
__device__ __forceinline__ double red_comb(int op, double a, double b)
{
    switch (op) {
    case TQK_RED_MAX:
        return isnan(a) ? a : ((isnan(b) || b > a) ? b : a);
    case TQK_RED_MIN:
        return isnan(a) ? a : ((isnan(b) || b < a) ? b : a);
    default:
        return a + b;
    }
}

__device__ __forceinline__ double red_init(int op)
{
    return op == TQK_RED_MAX ? -INFINITY : (op == TQK_RED_MIN ? INFINITY : 0.0);
}

__device__ __forceinline__ double red_final(int op, double acc, int64_t n_red)
{
    if (op == TQK_RED_MEAN) {
        return n_red ? acc / (double)n_red : (double)NAN;
    }
    return acc;
}

__device__ __forceinline__ int64_t red_keep_off(const tqk_reduce &r, int64_t o)
{
    int64_t off = 0;
    for (int d = r.rank_keep - 1; d >= 0; d--) {
        const int64_t q = o / r.kd[d];
        off += (o - q * r.kd[d]) * r.ks[d];
        o = q;
    }
    return off;
}

// General: one thread per output, walking the reduced set by index decomposition.
template <typename T>
__global__ void reduce_gen_k(const tqk_reduce r, T *__restrict__ y, const T *__restrict__ x)
{
    for (int64_t o = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; o < r.n_out;
         o += (int64_t)gridDim.x * blockDim.x) {
        const int64_t base = red_keep_off(r, o);
        double acc = red_init(r.op);
        for (int64_t j = 0; j < r.n_red; j++) {
            int64_t q = j, off = base;
            for (int d = r.rank_red - 1; d >= 0; d--) {
                const int64_t t = q / r.rd[d];
                off += (q - t * r.rd[d]) * r.rs[d];
                q = t;
            }
            acc = red_comb(r.op, acc, (double)tqk_ld(x, off));
        }
        tqk_st(y, o, (float)red_final(r.op, acc, r.n_red));
    }
}

// Reduced set contiguous (rank_red 1, stride 1): one warp per output.
template <typename T>
__global__ void reduce_row_k(const tqk_reduce r, T *__restrict__ y, const T *__restrict__ x)
{
    const int lane = threadIdx.x & 31;
    const int64_t warps = (int64_t)gridDim.x * (blockDim.x / 32);
    for (int64_t o = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32; o < r.n_out;
         o += warps) {
        const T *xr = x + red_keep_off(r, o);
        double acc = red_init(r.op);
        for (int64_t j = lane; j < r.n_red; j += 32) {
            acc = red_comb(r.op, acc, (double)tqk_ld(xr, j));
        }
        for (int s = 16; s > 0; s >>= 1) {
            acc = red_comb(r.op, acc, __shfl_xor_sync(0xffffffffu, acc, s));
        }
        if (lane == 0) {
            tqk_st(y, o, (float)red_final(r.op, acc, r.n_red));
        }
    }
}

extern "C" int tqk_reduce_launch(const tqk_reduce *r, void *y, const void *x, void *stream)
{
    if (r->n_out <= 0) {
        return 0;
    }
    cudaStream_t s = (cudaStream_t)stream;
    if (r->rank_red == 1 && r->rs[0] == 1 && r->n_red >= 32) {
        TQK_FLOAT_DISPATCH(r->type, reduce_row_k<T><<<tqk_blocks(r->n_out * 32), TQK_BLOCK, 0, s>>>(
                                        *r, (T *)y, (const T *)x));
    } else {
        TQK_FLOAT_DISPATCH(r->type, reduce_gen_k<T><<<tqk_blocks(r->n_out), TQK_BLOCK, 0, s>>>(
                                        *r, (T *)y, (const T *)x));
    }
    return (int)cudaGetLastError();
}
