/* qconv_direct.cu: our integer kernels (qconv.h): the direct NHWC QConv, QGemm and QAdd, all
 * bit-exact to backends/ref/qlinear.c.
 *  - QConv: one output element per thread, the channel fastest (neighbouring threads share the
 *    input pixel, and a depthwise convolution reads neighbouring channels: coalesced). The fast
 *    variants (int8 x, zero points 0) accumulate in int32 with __dp4a over 16 or 4 channels per
 *    load; the general one (uint8 x, zero points) in int64 with the zero points subtracted.
 *  - QGemm: one warp per output, lanes split the reduction (dp4a where aligned), a warp sum.
 *  - QAdd: one thread per output element, operands broadcast by strides.
 * The requantisation (requant below) is the reference's: sat32 of the exact sum, the product
 * (double)acc * (double)m rounded once (IEEE, __dmul_rn so that nothing is contracted), rint
 * (round half to even), + zero point, clamp. */
#include <cuda_runtime.h>
#include <stdint.h>

#include "backends/cuda/qconv.h"

namespace {

unsigned grid_for(int64_t n, unsigned block)
{
    int64_t b = (n + block - 1) / block;
    if (b < 1) {
        b = 1;
    }
    if (b > 65535LL * 32) {
        b = 65535LL * 32;
    }
    return (unsigned)b;
}

__device__ __forceinline__ int32_t sat32(int64_t v)
{
    return v > INT32_MAX ? INT32_MAX : (v < INT32_MIN ? INT32_MIN : (int32_t)v);
}

__device__ __forceinline__ void requant_store(const tq_qk_out &o, void *y, int64_t i, int64_t acc,
                                              int64_t c)
{
    const int32_t a = sat32(acc);
    double v = rint(__dmul_rn((double)a, (double)o.mult[c])) + (double)o.y_zp;
    v = v < (double)o.lo ? (double)o.lo : v;
    v = v > (double)o.hi ? (double)o.hi : v;
    if (o.y_signed) {
        static_cast<int8_t *>(y)[i] = (int8_t)(int32_t)v;
    } else {
        static_cast<uint8_t *>(y)[i] = (uint8_t)(int32_t)v;
    }
}

__device__ __forceinline__ int32_t ld_q8(const void *p, int64_t i, int32_t is_signed)
{
    return is_signed ? (int32_t) static_cast<const int8_t *>(p)[i]
                     : (int32_t) static_cast<const uint8_t *>(p)[i];
}

/* ---- QConv ---- */
/* V: channels per load (16: int4, 4: int, 1: byte) of the fast int32 path; V == 0: general. */
template <int V> __global__ void qconv_kernel(const tq_qk_conv a, int64_t total)
{
    const int64_t K = a.k, OW = a.ow, OH = a.oh, C = a.c, W = a.w, H = a.h;
    const int64_t R = a.r, S = a.s, cg = a.cg;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t k = i % K;
        int64_t t = i / K;
        const int64_t ow = t % OW;
        t /= OW;
        const int64_t oh = t % OH;
        const int64_t n = t / OH;
        const int64_t g = k / a.mg;
        const int64_t h0 = oh * a.stride_h - a.pad_t, w0 = ow * a.stride_w - a.pad_l;
        const int64_t x_base = n * H * W * C + g * cg;
        const int8_t *wb = a.wt + k * R * S * cg;
        int64_t acc64 = a.o.bias ? (int64_t)a.o.bias[k] : 0;
        if (V > 0) {
            const int8_t *xb = static_cast<const int8_t *>(a.x) + x_base;
            int32_t acc = 0;
            for (int64_t r = 0; r < R; r++) {
                const int64_t ih = h0 + r * a.dil_h;
                if (ih < 0 || ih >= H) {
                    continue;
                }
                for (int64_t s = 0; s < S; s++) {
                    const int64_t iw = w0 + s * a.dil_w;
                    if (iw < 0 || iw >= W) {
                        continue;
                    }
                    const int8_t *xp = xb + (ih * W + iw) * C;
                    const int8_t *wp = wb + (r * S + s) * cg;
                    if (V == 16) {
                        for (int64_t c = 0; c < cg; c += 16) {
                            const int4 xv = *reinterpret_cast<const int4 *>(xp + c);
                            const int4 wv = *reinterpret_cast<const int4 *>(wp + c);
                            acc = __dp4a(xv.x, wv.x, acc);
                            acc = __dp4a(xv.y, wv.y, acc);
                            acc = __dp4a(xv.z, wv.z, acc);
                            acc = __dp4a(xv.w, wv.w, acc);
                        }
                    } else if (V == 4) {
                        for (int64_t c = 0; c < cg; c += 4) {
                            acc = __dp4a(*reinterpret_cast<const int *>(xp + c),
                                         *reinterpret_cast<const int *>(wp + c), acc);
                        }
                    } else {
                        for (int64_t c = 0; c < cg; c++) {
                            acc += (int32_t)xp[c] * (int32_t)wp[c];
                        }
                    }
                }
            }
            acc64 += acc;
        } else {
            const int32_t wz = a.w_zp ? a.w_zp[k] : 0;
            for (int64_t r = 0; r < R; r++) {
                const int64_t ih = h0 + r * a.dil_h;
                if (ih < 0 || ih >= H) {
                    continue;
                }
                for (int64_t s = 0; s < S; s++) {
                    const int64_t iw = w0 + s * a.dil_w;
                    if (iw < 0 || iw >= W) {
                        continue;
                    }
                    const int64_t xo = x_base + (ih * W + iw) * C;
                    const int8_t *wp = wb + (r * S + s) * cg;
                    int64_t sum = 0;
                    for (int64_t c = 0; c < cg; c++) {
                        sum += (int64_t)((ld_q8(a.x, xo + c, a.x_signed) - a.x_zp) *
                                         ((int32_t)wp[c] - wz));
                    }
                    acc64 += sum;
                }
            }
        }
        requant_store(a.o, a.y, i, acc64, k);
    }
}

/* ---- QGemm ---- */
template <bool FAST> __global__ void qgemm_kernel(const tq_qk_gemm a)
{
    const int lane = threadIdx.x & 31;
    const int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const int64_t n_warps = ((int64_t)gridDim.x * blockDim.x) >> 5;
    const int64_t total = a.m * a.n_out;
    for (int64_t o = warp; o < total; o += n_warps) {
        const int64_t i = o / a.n_out, j = o % a.n_out;
        const int8_t *wr = a.w + j * a.kk;
        int32_t sum = 0;
        if (FAST) {
            const int *xr4 = reinterpret_cast<const int *>(static_cast<const int8_t *>(a.x) +
                                                           i * a.kk);
            const int *wr4 = reinterpret_cast<const int *>(wr);
            for (int64_t q = lane; q < a.kk / 4; q += 32) {
                sum = __dp4a(xr4[q], wr4[q], sum);
            }
        } else {
            const int32_t wz = a.w_zp ? a.w_zp[j] : 0;
            for (int64_t q = lane; q < a.kk; q += 32) {
                sum += (ld_q8(a.x, i * a.kk + q, a.x_signed) - a.x_zp) * ((int32_t)wr[q] - wz);
            }
        }
        for (int off = 16; off > 0; off >>= 1) {
            sum += __shfl_down_sync(0xffffffffu, sum, off);
        }
        if (lane == 0) {
            requant_store(a.o, a.y, o, (int64_t)sum + (a.o.bias ? (int64_t)a.o.bias[j] : 0), j);
        }
    }
}

/* ---- QAdd ---- */
__global__ void qadd_kernel(const tq_qk_add a)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < a.n;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t rem = i, oa = 0, ob = 0;
        for (int d = a.rank - 1; d >= 0; d--) {
            const int64_t c = rem % a.dims[d];
            rem /= a.dims[d];
            oa += c * a.stride_a[d];
            ob += c * a.stride_b[d];
        }
        const int32_t av = ld_q8(a.a, oa, a.a_signed) - a.a_zp;
        const int32_t bv = ld_q8(a.b, ob, a.b_signed) - a.b_zp;
        const double s = __dadd_rn(__dmul_rn(a.as, (double)av), __dmul_rn(a.bs, (double)bv));
        double v = rint(__ddiv_rn(s, a.ys)) + (double)a.y_zp;
        v = v < (double)a.lo ? (double)a.lo : (v > (double)a.hi ? (double)a.hi : v);
        if (a.y_signed) {
            static_cast<int8_t *>(a.y)[i] = (int8_t)(int32_t)v;
        } else {
            static_cast<uint8_t *>(a.y)[i] = (uint8_t)(int32_t)v;
        }
    }
}

bool aligned(const void *p, uintptr_t n)
{
    return ((uintptr_t)p % n) == 0;
}

} // namespace

extern "C" int tq_qk_conv_direct(const tq_qk_conv *a, void *stream)
{
    const int64_t total = a->n * a->oh * a->ow * a->k;
    if (total == 0) {
        return (int)cudaSuccess;
    }
    if (a->k <= 0 || a->mg <= 0 || a->cg <= 0) {
        return (int)cudaErrorInvalidValue;
    }
    const unsigned block = 256;
    const unsigned grid = grid_for(total, block);
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    if (!a->fast) {
        qconv_kernel<0><<<grid, block, 0, s>>>(*a, total);
    } else if (a->cg % 16 == 0 && a->c % 16 == 0 && aligned(a->x, 16) && aligned(a->wt, 16)) {
        qconv_kernel<16><<<grid, block, 0, s>>>(*a, total);
    } else if (a->cg % 4 == 0 && a->c % 4 == 0 && aligned(a->x, 4) && aligned(a->wt, 4)) {
        qconv_kernel<4><<<grid, block, 0, s>>>(*a, total);
    } else {
        qconv_kernel<1><<<grid, block, 0, s>>>(*a, total);
    }
    return (int)cudaGetLastError();
}

extern "C" int tq_qk_gemm_launch(const tq_qk_gemm *a, void *stream)
{
    const int64_t total = a->m * a->n_out;
    if (total == 0) {
        return (int)cudaSuccess;
    }
    if (a->kk < 0 || a->kk > 65536) {
        return (int)cudaErrorInvalidValue;
    }
    const unsigned block = 256;
    const unsigned grid = grid_for(total * 32, block);
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    const bool fast = a->x_signed && a->x_zp == 0 && !a->w_zp && a->kk % 4 == 0 &&
                      aligned(a->x, 4) && aligned(a->w, 4);
    if (fast) {
        qgemm_kernel<true><<<grid, block, 0, s>>>(*a);
    } else {
        qgemm_kernel<false><<<grid, block, 0, s>>>(*a);
    }
    return (int)cudaGetLastError();
}

extern "C" int tq_qk_add_launch(const tq_qk_add *a, void *stream)
{
    if (a->n == 0) {
        return (int)cudaSuccess;
    }
    if (a->rank < 1 || a->rank > TQ_QK_MAX_RANK) {
        return (int)cudaErrorInvalidValue;
    }
    const unsigned block = 256;
    qadd_kernel<<<grid_for(a->n, block), block, 0, static_cast<cudaStream_t>(stream)>>>(*a);
    return (int)cudaGetLastError();
}
