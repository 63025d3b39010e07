/* conv_dw.cu: our own convolution kernels (conv_dw.h). The direct convolution computes one
 * output element per thread, NHWC with the channel fastest, so that neighbouring threads of a
 * depthwise convolution read neighbouring channels (coalesced); it accumulates in float and
 * applies the fused epilogue (bias, residual, activation) before the one store. The epilogue
 * kernel applies the same epilogue in place. Both match backends/ref/fused.c: the residual is
 * added before the activation, and the activations follow ir/ops/fused.h.
 *
 * Depthwise 3x3 and 5x5 convolutions (MobileNet, EfficientNet) take a faster kernel of the same
 * semantics, conv_dw_kernel: each thread computes a vector of V channels (16, 8 or 4 bytes of
 * storage) for OXB consecutive output columns of one output row, so that every input vector it
 * loads serves up to K taps of several outputs; the weights of its channels are loaded once into
 * registers; loads and stores are whole vectors and index math is 32-bit. Its accumulation
 * order per output is the generic kernel's (r outer, s inner, fmaf from 0), so both give the
 * same bits. conv_dw_launch() says when it applies; anything else runs the generic kernel. */
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

__device__ __forceinline__ float act_relu(float x)
{
    return x < 0.0f ? 0.0f : x; /* NaN passes through, like the reference */
}

__device__ __forceinline__ float act_clip(float x, float lo, float hi)
{
    float v = x < lo ? lo : x;
    return v > hi ? hi : v;
}

__device__ __forceinline__ float act_apply(const tq_cuda_epi &e, float x)
{
    switch (e.act) {
    case TQ_CUDA_ACT_RELU:
        return act_relu(x);
    case TQ_CUDA_ACT_CLIP:
        return act_clip(x, e.lo, e.hi);
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

/* ---- the depthwise fast path ---- */

enum { DW_BLOCK = 128 }; /* threads a block: small problems (batch 1, 7x7) still fill the SMs */

/* Storage values packed in 32-bit words, as the vector loads and stores move them: PER_WORD
 * values a word, the one at the lower address in the low bits. */
template <typename T> struct packed;

template <> struct packed<float> {
    enum { PER_WORD = 1 };
    static __device__ __forceinline__ void unpack(uint32_t u, float *f)
    {
        f[0] = __uint_as_float(u);
    }
    static __device__ __forceinline__ uint32_t pack(const float *f)
    {
        return __float_as_uint(f[0]);
    }
};

template <> struct packed<__half> {
    enum { PER_WORD = 2 };
    static __device__ __forceinline__ void unpack(uint32_t u, float *f)
    {
        f[0] = __half2float(__ushort_as_half((unsigned short)(u & 0xFFFFu)));
        f[1] = __half2float(__ushort_as_half((unsigned short)(u >> 16)));
    }
    static __device__ __forceinline__ uint32_t pack(const float *f)
    {
        return (uint32_t)__half_as_ushort(__float2half_rn(f[0])) |
               ((uint32_t)__half_as_ushort(__float2half_rn(f[1])) << 16);
    }
};

template <> struct packed<__nv_bfloat16> {
    enum { PER_WORD = 2 };
    static __device__ __forceinline__ void unpack(uint32_t u, float *f)
    {
        f[0] = __uint_as_float(u << 16); /* exact, as __bfloat162float */
        f[1] = __uint_as_float(u & 0xFFFF0000u);
    }
    static __device__ __forceinline__ uint32_t pack(const float *f)
    {
        return (uint32_t)__bfloat16_as_ushort(__float2bfloat16_rn(f[0])) |
               ((uint32_t)__bfloat16_as_ushort(__float2bfloat16_rn(f[1])) << 16);
    }
};

/* NW 32-bit words (NW = 4, 2 or 1: one 16-, 8- or 4-byte access) at p, aligned to their size.
 * `nc`: through the read-only data cache, for data no thread of the kernel writes (x and the
 * weights; not res, which may be y itself). */
template <int NW> struct words {
    uint32_t u[NW];
};

template <int NW> __device__ __forceinline__ words<NW> ld_words(const void *p, bool nc);
template <int NW> __device__ __forceinline__ void st_words(void *p, const words<NW> &w);

template <> __device__ __forceinline__ words<4> ld_words<4>(const void *p, bool nc)
{
    const uint4 *q = static_cast<const uint4 *>(p);
    const uint4 v = nc ? __ldg(q) : *q;
    words<4> r = {{v.x, v.y, v.z, v.w}};
    return r;
}

template <> __device__ __forceinline__ words<2> ld_words<2>(const void *p, bool nc)
{
    const uint2 *q = static_cast<const uint2 *>(p);
    const uint2 v = nc ? __ldg(q) : *q;
    words<2> r = {{v.x, v.y}};
    return r;
}

template <> __device__ __forceinline__ words<1> ld_words<1>(const void *p, bool nc)
{
    const unsigned int *q = static_cast<const unsigned int *>(p);
    words<1> r = {{nc ? __ldg(q) : *q}};
    return r;
}

template <> __device__ __forceinline__ void st_words<4>(void *p, const words<4> &w)
{
    *static_cast<uint4 *>(p) = make_uint4(w.u[0], w.u[1], w.u[2], w.u[3]);
}

template <> __device__ __forceinline__ void st_words<2>(void *p, const words<2> &w)
{
    *static_cast<uint2 *>(p) = make_uint2(w.u[0], w.u[1]);
}

template <> __device__ __forceinline__ void st_words<1>(void *p, const words<1> &w)
{
    *static_cast<unsigned int *>(p) = w.u[0];
}

/* One vector: NW words = NW * PER_WORD values of T, as float. */
template <typename T, int NW> __device__ __forceinline__ void ld_vec(const T *p, bool nc, float *f)
{
    const words<NW> w = ld_words<NW>(p, nc);
#pragma unroll
    for (int k = 0; k < NW; k++) {
        packed<T>::unpack(w.u[k], f + k * packed<T>::PER_WORD);
    }
}

template <typename T, int NW> __device__ __forceinline__ void st_vec(T *p, const float *f)
{
    words<NW> w;
#pragma unroll
    for (int k = 0; k < NW; k++) {
        w.u[k] = packed<T>::pack(f + k * packed<T>::PER_WORD);
    }
    st_words<NW>(p, w);
}

/* act_apply() on the V values of a vector, choosing the activation once, not per value. */
template <int V> __device__ __forceinline__ void act_apply_vec(const tq_cuda_epi &e, float *v)
{
    switch (e.act) {
    case TQ_CUDA_ACT_NONE:
        break;
    case TQ_CUDA_ACT_RELU:
#pragma unroll
        for (int j = 0; j < V; j++) {
            v[j] = act_relu(v[j]);
        }
        break;
    case TQ_CUDA_ACT_CLIP:
#pragma unroll
        for (int j = 0; j < V; j++) {
            v[j] = act_clip(v[j], e.lo, e.hi);
        }
        break;
    default:
#pragma unroll
        for (int j = 0; j < V; j++) {
            v[j] = act_apply(e, v[j]);
        }
        break;
    }
}

/* The depthwise kernel's arguments, all 32-bit: conv_dw_launch() checks that every index fits. */
struct dw_args {
    const void *x, *wt, *res;
    const float *bias;
    void *y;
    unsigned n_threads; /* n * oh * n_oxb * n_cv, one per (image, output row, block, vector) */
    int n_cv;           /* channel vectors a pixel: c / V */
    int n_oxb;          /* column blocks an output row: ceil(ow / OXB) */
    int c, h, w, oh, ow;
    int stride_h, pad_t, pad_l;
    tq_cuda_epi epi;
};

/* Depthwise K x K convolution, dilation 1, stride SW along W (stride_h at run time), NHWC, with
 * the fused epilogue. Thread i = ((nb * oh + oy) * n_oxb + oxb) * n_cv + cv computes channels
 * [c0, c0 + V), c0 = cv * V, of the outputs (nb, oy, ox0 + o), ox0 = oxb * OXB, o < OXB (those
 * with ox < ow: the last block of a row may be partial). Consecutive threads take consecutive
 * channel vectors of a pixel, so a warp's accesses are contiguous runs of c values. The OXB
 * outputs of a row r of the window read the NCOL input columns ix0 + q, ix0 = ox0 * SW - pad_l,
 * q < NCOL = (OXB - 1) * SW + K: column q is tap s = q - o * SW of output o. Rows and columns
 * outside the input are the zero padding (top/left: pad_t/pad_l; bottom/right: implied by
 * oh/ow) and are skipped, never loaded. Every pointer is aligned to the vector (checked at
 * launch), and c is a multiple of V, so each vector access is one aligned 4 * NW byte access. */
template <typename T, int K, int SW, int OXB, int NW>
__global__ void __launch_bounds__(DW_BLOCK) conv_dw_kernel(dw_args a)
{
    enum { V = NW * packed<T>::PER_WORD, KK = K * K, NCOL = (OXB - 1) * SW + K };
    const unsigned i = blockIdx.x * (unsigned)DW_BLOCK + threadIdx.x;
    if (i >= a.n_threads) {
        return;
    }
    const T *x = static_cast<const T *>(a.x);
    const T *wt = static_cast<const T *>(a.wt);
    const T *res = static_cast<const T *>(a.res);
    T *y = static_cast<T *>(a.y);
    unsigned t = i;
    const int cv = (int)(t % (unsigned)a.n_cv);
    t /= (unsigned)a.n_cv;
    const int oxb = (int)(t % (unsigned)a.n_oxb);
    t /= (unsigned)a.n_oxb;
    const int oy = (int)(t % (unsigned)a.oh);
    const int nb = (int)(t / (unsigned)a.oh);
    const int c0 = cv * V;
    const int ox0 = oxb * OXB;

    /* The weights of channels [c0, c0 + V): KRSC with cg == 1 is [c][K][K], so they are the
     * K * K * V contiguous values from c0 * K * K, aligned to the vector as c0 is a multiple of
     * V: K * K vector loads, the same for every thread of these channels (L1 hits). */
    float wf[KK * V]; /* wf[j * KK + r * K + s]: channel c0 + j, tap (r, s) */
#pragma unroll
    for (int q = 0; q < KK; q++) {
        ld_vec<T, NW>(wt + c0 * KK + q * V, true, wf + q * V);
    }

    float acc[OXB][V];
#pragma unroll
    for (int o = 0; o < OXB; o++) {
#pragma unroll
        for (int j = 0; j < V; j++) {
            acc[o][j] = 0.0f;
        }
    }
    const int iy0 = oy * a.stride_h - a.pad_t;
    const int ix0 = ox0 * SW - a.pad_l;
#pragma unroll
    for (int r = 0; r < K; r++) {
        const int iy = iy0 + r;
        if ((unsigned)iy >= (unsigned)a.h) { /* above or below the input: padding */
            continue;
        }
        const T *xrow = x + (nb * a.h + iy) * a.w * a.c + c0; /* (nb, iy, 0, c0) */
#pragma unroll
        for (int q = 0; q < NCOL; q++) {
            const int ix = ix0 + q;
            if ((unsigned)ix >= (unsigned)a.w) { /* left or right of the input: padding */
                continue;
            }
            float xv[V];
            ld_vec<T, NW>(xrow + ix * a.c, true, xv);
            /* column q is tap s = q - o * SW of output o (if 0 <= s < K): per output the taps
             * arrive r outer, s inner, as in the generic kernel */
#pragma unroll
            for (int o = 0; o < OXB; o++) {
                const int s = q - o * SW; /* a constant once unrolled */
                if (s < 0 || s >= K) {
                    continue;
                }
#pragma unroll
                for (int j = 0; j < V; j++) {
                    acc[o][j] = fmaf(xv[j], wf[j * KK + r * K + s], acc[o][j]);
                }
            }
        }
    }

    /* epilogue, as the generic kernel: + bias, + res, then the activation */
    float bv[V];
#pragma unroll
    for (int j = 0; j < V; j++) {
        bv[j] = a.bias ? __ldg(a.bias + c0 + j) : 0.0f;
    }
    const int yo = ((nb * a.oh + oy) * a.ow + ox0) * a.c + c0; /* (nb, oy, ox0, c0) */
#pragma unroll
    for (int o = 0; o < OXB; o++) {
        if (ox0 + o >= a.ow) { /* the partial last block of a row */
            break;
        }
        if (a.bias) {
#pragma unroll
            for (int j = 0; j < V; j++) {
                acc[o][j] += bv[j];
            }
        }
        if (res) {
            float rv[V];
            ld_vec<T, NW>(res + yo + o * a.c, false, rv);
#pragma unroll
            for (int j = 0; j < V; j++) {
                acc[o][j] += rv[j];
            }
        }
        act_apply_vec<V>(a.epi, acc[o]);
        st_vec<T, NW>(y + yo + o * a.c, acc[o]);
    }
}

/* Output columns a thread: 4 for 3x3 stride 1 (6 input columns a row for 4 outputs, 24 taps);
 * 2 otherwise, which keeps 5x5 (its weights take more registers) and stride 2 (less reuse:
 * 5 columns for 2 outputs) at moderate register counts. */
template <int K, int SW> struct dw_tile {
    enum { OXB = (K == 3 && SW == 1) ? 4 : 2 };
};

/* The widest vector of storage T a 3x3 (5x5) thread takes: 8 (4) channels, and at most 16
 * bytes; in 32-bit words. 3x3: float32 4 channels, 16-bit types 8 channels, 16 bytes either
 * way. 5x5 (25 weights a channel in registers): float32 4 channels (16 bytes), 16-bit types 4
 * channels (8 bytes). */
template <typename T, int K> struct dw_vec {
    enum {
        MAX_V = K == 3 ? 8 : 4,
        NW_MAX = MAX_V / packed<T>::PER_WORD < 4 ? MAX_V / packed<T>::PER_WORD : 4
    };
};

/* Whether a vector of `bytes` fits the layout: c values of `elem_bytes` a pixel a multiple of
 * it (so every pixel's channel row starts aligned), and every base pointer aligned to it. */
bool dw_aligned(const tq_cuda_direct_conv *a, int64_t elem_bytes, int64_t bytes)
{
    const uintptr_t m = (uintptr_t)bytes - 1;
    return (a->c * elem_bytes) % bytes == 0 && ((uintptr_t)a->x & m) == 0 &&
           ((uintptr_t)a->wt & m) == 0 && ((uintptr_t)a->y & m) == 0 &&
           ((uintptr_t)a->res & m) == 0; /* NULL res passes */
}

/* Launch conv_dw_kernel<T, K, SW, ...> for `a` (shape already checked by conv_dw_launch) with
 * the widest vector the layout allows; false if none does (then the generic kernel runs). */
template <typename T, int K, int SW>
bool conv_dw_launch_t(const tq_cuda_direct_conv *a, cudaStream_t s, int *err)
{
    enum {
        OXB = dw_tile<K, SW>::OXB,
        PW = packed<T>::PER_WORD,
        NW_MAX = dw_vec<T, K>::NW_MAX,
        NW4 = NW_MAX < 4 ? NW_MAX : 4 /* case 4 below: only reached when NW_MAX is 4 */
    };
    int nw = NW_MAX;
    while (nw > 0 && !dw_aligned(a, (int64_t)sizeof(T), 4 * (int64_t)nw)) {
        nw /= 2;
    }
    if (nw == 0) { /* an odd c of a 16-bit type, or a pointer not 4-byte aligned */
        return false;
    }
    dw_args d;
    d.x = a->x;
    d.wt = a->wt;
    d.res = a->res;
    d.bias = a->bias;
    d.y = a->y;
    d.n_cv = (int)(a->c / (nw * PW));
    d.n_oxb = (int)((a->ow + OXB - 1) / OXB);
    /* <= n * oh * ow * c, which conv_dw_launch() bounds by INT32_MAX */
    d.n_threads = (unsigned)(a->n * a->oh * d.n_oxb * d.n_cv);
    d.c = (int)a->c;
    d.h = (int)a->h;
    d.w = (int)a->w;
    d.oh = (int)a->oh;
    d.ow = (int)a->ow;
    d.stride_h = (int)a->stride_h;
    d.pad_t = (int)a->pad_t;
    d.pad_l = (int)a->pad_l;
    d.epi = a->epi;
    const unsigned grid = (d.n_threads + DW_BLOCK - 1) / DW_BLOCK; /* < 2^24 blocks */
    switch (nw) {
    case 4:
        conv_dw_kernel<T, K, SW, OXB, NW4><<<grid, DW_BLOCK, 0, s>>>(d);
        break;
    case 2:
        conv_dw_kernel<T, K, SW, OXB, 2><<<grid, DW_BLOCK, 0, s>>>(d);
        break;
    default:
        conv_dw_kernel<T, K, SW, OXB, 1><<<grid, DW_BLOCK, 0, s>>>(d);
        break;
    }
    *err = (int)cudaGetLastError();
    return true;
}

template <typename T>
bool conv_dw_launch_k(const tq_cuda_direct_conv *a, cudaStream_t s, int *err)
{
    if (a->r == 3) {
        return a->stride_w == 1 ? conv_dw_launch_t<T, 3, 1>(a, s, err)
                                : conv_dw_launch_t<T, 3, 2>(a, s, err);
    }
    return a->stride_w == 1 ? conv_dw_launch_t<T, 5, 1>(a, s, err)
                            : conv_dw_launch_t<T, 5, 2>(a, s, err);
}

/* The product of `n_v` values, each at least 1, fits in int32 (so do all partial products). */
bool dw_prod_fits(const int64_t *v, int n_v)
{
    int64_t p = 1;
    for (int i = 0; i < n_v; i++) {
        if (v[i] < 1 || v[i] > INT32_MAX) {
            return false;
        }
        p *= v[i]; /* <= INT32_MAX * INT32_MAX: no int64 overflow */
        if (p > INT32_MAX) {
            return false;
        }
    }
    return true;
}

/* The depthwise fast path, if `a` qualifies: depthwise (cg == mg == 1, k == c), 3x3 or 5x5,
 * dilation 1, stride_w 1 or 2 (stride_h 1..64: only the columns are tiled), every tensor's
 * element count and every index in int32, and a vector width the layout allows (dw_aligned:
 * c a multiple of the vector and every pointer aligned to it). Returns whether it launched
 * (its error, if any, in *err); false: the caller runs the generic kernel. */
bool conv_dw_launch(const tq_cuda_direct_conv *a, cudaStream_t s, int *err)
{
    const int64_t lim = (int64_t)1 << 28; /* sizes and pads, so that no coordinate overflows */
    if (a->cg != 1 || a->mg != 1 || a->k != a->c) {
        return false;
    }
    if (a->r != a->s || (a->r != 3 && a->r != 5) || a->dil_h != 1 || a->dil_w != 1) {
        return false;
    }
    if ((a->stride_w != 1 && a->stride_w != 2) || a->stride_h < 1 || a->stride_h > 64) {
        return false;
    }
    if (a->pad_t < -lim || a->pad_t > lim || a->pad_l < -lim || a->pad_l > lim) {
        return false;
    }
    const int64_t xs[4] = {a->n, a->h, a->w, a->c};
    const int64_t ys[4] = {a->n, a->oh, a->ow, a->c};
    const int64_t ws[2] = {a->c, a->r * a->s};
    if (!dw_prod_fits(xs, 4) || !dw_prod_fits(ys, 4) || !dw_prod_fits(ws, 2)) {
        return false;
    }
    /* coordinates in int32: |iy| <= (oh - 1) * stride_h + |pad_t| + K,
     * |ix| <= (ow + OXB) * 2 + |pad_l| + K */
    if (a->h > lim || a->w > lim || a->oh > lim || a->ow > lim ||
        (a->oh - 1) * a->stride_h > lim) {
        return false;
    }
    switch (a->store) {
    case ST_F32:
        return conv_dw_launch_k<float>(a, s, err);
    case ST_F16:
        return conv_dw_launch_k<__half>(a, s, err);
    case ST_BF16:
        return conv_dw_launch_k<__nv_bfloat16>(a, s, err);
    default:
        return false;
    }
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
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    int err = (int)cudaSuccess;
    if (conv_dw_launch(a, s, &err)) {
        return err;
    }
    const unsigned block = 256;
    const unsigned grid = grid_for(total, block);
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
