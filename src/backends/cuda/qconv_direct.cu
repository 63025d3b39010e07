/* qconv_direct.cu: our integer kernels (qconv.h): the direct NHWC QConv, QGemm and QAdd, all
 * bit-exact to backends/ref/qlinear.c.
 *  - QConv: one output element per thread, the channel fastest (neighbouring threads share the
 *    input pixel, and a depthwise convolution reads neighbouring channels: coalesced). The fast
 *    variants (int8 x, zero points 0) accumulate in int32 with __dp4a over 16 or 4 channels per
 *    load; the general one (uint8 x, zero points) in int64 with the zero points subtracted.
 *  - QConv depthwise 3x3 / 5x5 (qconv_dw_kernel, the INT8 analogue of conv_dw.cu's kernel): a
 *    thread computes 8 or 4 channels of 4 or 2 neighbouring output columns, each input vector
 *    loaded once for all the taps it serves, weights, bias and multipliers in registers, 32-bit
 *    indices; int8 x with zero points 0 multiplies with __dp4a (int32 sums), zero points or uint8
 *    x in int64 as the general kernel. Bit-exact to qconv_kernel, which runs whatever it does
 *    not take (qdw_bytes() says which: shape, alignment, channel count).
 *  - QConv tiled (few input channels, the stem): qconv.h's tq_qk_tiled; weights and the input
 *    windows of a tile of 128 output pixels staged in shared memory as 4-byte words along
 *    (s, c), 8 channels x 4 pixels per thread in int32 registers with __dp4a, the outputs
 *    requantised into shared memory and stored coalesced (16 bytes per thread where K % 16 == 0).
 *    On sm_80 and later, where the k tile is a multiple of 32 channels (the stem's 64), the same
 *    tiles run on the tensor cores instead (qconv_stem_mma_kernel, mma.sync s8, requantised in
 *    integers and stored straight to y): the dp4a kernel took 1.17 ms of ResNet-50's 9.3 ms
 *    INT8 batch 256 on an H200, this one 0.56 ms.
 *  - QGemm: one warp per output, lanes split the reduction (dp4a where aligned), a warp sum.
 *  - QAdd: one thread per output element, operands broadcast by strides; same-shape operands
 *    16 elements per thread with 16-byte loads and stores.
 *  - The 1x1 convolutions qconv_pw.cu takes go there (tq_qk_conv_pw_setup sets conv.pw).
 * The requantisation (requant, qconv_dev.cuh) is the reference's: sat32 of the exact sum, the
 * product (double)acc * (double)m rounded once (IEEE, __dmul_rn so that nothing is contracted),
 * rint (round half to even), + zero point, clamp; QAdd's 16-byte arithmetic (qadd_16) is there
 * too, shared with qconv_pw.cu's fused epilogue. */
#include <cuda_runtime.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cuda/qconv.h"
#include "backends/cuda/qconv_dev.cuh"

namespace {

using namespace tq_qdev;

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


__device__ __forceinline__ void requant_store(const tq_qk_out &o, void *y, int64_t i, int64_t acc,
                                              int64_t c)
{
    const int32_t v = requant(o, acc, (double)o.mult[c]);
    if (o.y_signed) {
        static_cast<int8_t *>(y)[i] = (int8_t)v;
    } else {
        static_cast<uint8_t *>(y)[i] = (uint8_t)v;
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

/* ---- QConv, depthwise 3x3 and 5x5 ----
 * The INT8 analogue of conv_dw.cu's conv_dw_kernel. A thread computes a vector of V = 4 * NW
 * channels (one 4- or 8-byte access) of OXB consecutive output columns of one output row, so
 * that each input vector it loads serves up to K taps of several outputs; the weights of its
 * channels (less their zero points), their bias and multipliers are loaded once into registers;
 * index math is 32-bit (qdw_bytes() checks that every index fits). Arithmetic is qconv_kernel's
 * for cg == 1: MODE DW_FAST (a.fast: int8 x, zero points 0) sums the int32 products
 * x * w in int32; DW_ZP_S8 / DW_ZP_U8 (int8 / uint8 x) sum the int32 products
 * (x - x_zp) * (w - w_zp) in int64. Taps outside the input (the padding) are skipped, i.e.
 * contribute 0 in the x - x_zp domain, as in qconv_kernel; the sum + bias is requantised by
 * requant(). Integer sums are exact, so the order of the taps does not matter: both kernels
 * give the same bits. */
enum { DW_BLOCK = 128 };
enum { DW_FAST = 0, DW_ZP_S8 = 1, DW_ZP_U8 = 2 };

struct qdw_args {
    const void *x;
    const int8_t *wt;
    const int32_t *w_zp; /* DW_ZP_*: per channel, or NULL (all 0) */
    void *y;
    tq_qk_out o;
    unsigned n_threads; /* n * oh * n_oxb * n_cv, one per (image, output row, block, vector) */
    int n_cv;           /* channel vectors a pixel: c / V */
    int n_oxb;          /* column blocks an output row: ceil(ow / OXB) */
    int c, h, w, oh, ow;
    int stride_h, pad_t, pad_l;
    int32_t x_zp; /* DW_ZP_* */
};

template <int NW> struct qdw_vec {
    uint32_t u[NW];
};

/* NW words at p (aligned to 4 * NW bytes), through the read-only data cache. */
template <int NW> __device__ __forceinline__ qdw_vec<NW> qdw_ld(const void *p);

template <> __device__ __forceinline__ qdw_vec<2> qdw_ld<2>(const void *p)
{
    const uint2 v = __ldg(static_cast<const uint2 *>(p));
    qdw_vec<2> r = {{v.x, v.y}};
    return r;
}

template <> __device__ __forceinline__ qdw_vec<1> qdw_ld<1>(const void *p)
{
    qdw_vec<1> r = {{__ldg(static_cast<const unsigned int *>(p))}};
    return r;
}

template <int NW> __device__ __forceinline__ void qdw_st(void *p, const qdw_vec<NW> &v);

template <> __device__ __forceinline__ void qdw_st<2>(void *p, const qdw_vec<2> &v)
{
    *static_cast<uint2 *>(p) = make_uint2(v.u[0], v.u[1]);
}

template <> __device__ __forceinline__ void qdw_st<1>(void *p, const qdw_vec<1> &v)
{
    *static_cast<unsigned int *>(p) = v.u[0];
}

/* Byte j of a vector (the value at the j-th lowest address) as int8 or uint8. */
template <bool SIGNED, int NW>
__device__ __forceinline__ int32_t qdw_byte(const qdw_vec<NW> &v, int j)
{
    const uint32_t b = (v.u[j >> 2] >> (8 * (j & 3))) & 0xffu;
    return SIGNED ? (int32_t)(int8_t)(uint8_t)b : (int32_t)b;
}

template <bool ZP> struct qdw_acc {
    typedef int32_t type; /* DW_FAST: |sum| <= 25 * 128 * 128 */
};
template <> struct qdw_acc<true> {
    typedef int64_t type;
};

/* Depthwise K x K, dilation 1, stride SW along W (stride_h at run time), NHWC. Thread
 * i = ((nb * oh + oy) * n_oxb + oxb) * n_cv + cv computes channels [c0, c0 + V), c0 = cv * V,
 * of the outputs (nb, oy, ox0 + o), ox0 = oxb * OXB, o < OXB with ox0 + o < ow (the last block
 * of a row may be partial). Consecutive threads take consecutive channel vectors of a pixel
 * (coalesced). The OXB outputs of row r of the window read the NCOL input columns ix0 + q,
 * ix0 = ox0 * SW - pad_l, q < NCOL = (OXB - 1) * SW + K: column q is tap s = q - o * SW of
 * output o. Rows and columns outside the input (top/left: pad_t/pad_l; bottom/right: implied by
 * oh/ow) are skipped, never loaded. c is a multiple of V and x, wt, y are aligned to 4 * NW
 * bytes (checked at launch), so every vector access is aligned.
 * DW_FAST multiplies with __dp4a: the weight of channel j and a tap is kept as a word that holds
 * it in byte j % 4 and zeros elsewhere, so __dp4a(x word, that word, acc) adds exactly
 * x_j * w_j: one instruction a product, no unpacking of x. DW_ZP_* unpack x and subtract the
 * zero points (int32), and add the int32 products to int64 sums. */
template <int K, int SW, int OXB, int NW, int MODE>
__global__ void __launch_bounds__(DW_BLOCK) qconv_dw_kernel(const qdw_args a)
{
    enum { V = 4 * NW, KK = K * K, NCOL = (OXB - 1) * SW + K };
    constexpr bool ZP = MODE != DW_FAST;
    constexpr bool XS = MODE != DW_ZP_U8;
    typedef typename qdw_acc<ZP>::type acc_t;
    const unsigned i = blockIdx.x * (unsigned)DW_BLOCK + threadIdx.x;
    if (i >= a.n_threads) {
        return;
    }
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
     * KK * V contiguous bytes from c0 * KK (aligned to the vector, c0 being a multiple of V):
     * KK vector loads, the same for every thread of these channels (L1 hits). Byte e of them is
     * channel c0 + e / KK, tap e % KK. wv[j * KK + r * K + s]: channel c0 + j, tap (r, s): for
     * DW_FAST the word described above, for DW_ZP_* w - w_zp. */
    int32_t wv[KK * V];
    {
        const int8_t *wp = a.wt + c0 * KK;
#pragma unroll
        for (int q = 0; q < KK; q++) {
            const qdw_vec<NW> v = qdw_ld<NW>(wp + q * V);
#pragma unroll
            for (int b = 0; b < V; b++) {
                const int e = q * V + b, j = e / KK;
                if (ZP) {
                    wv[e] = qdw_byte<true, NW>(v, b);
                } else { /* byte b % 4 of word b / 4 to byte j % 4, zeros elsewhere */
                    const unsigned sel = 0x4444u ^ ((4u ^ (unsigned)(b & 3)) << (4 * (j & 3)));
                    wv[e] = (int32_t)__byte_perm(v.u[b >> 2], 0u, sel);
                }
            }
        }
        if (ZP && a.w_zp) {
#pragma unroll
            for (int j = 0; j < V; j++) {
                const int32_t wz = __ldg(a.w_zp + c0 + j);
#pragma unroll
                for (int q = 0; q < KK; q++) {
                    wv[j * KK + q] -= wz;
                }
            }
        }
    }

    acc_t acc[OXB][V];
#pragma unroll
    for (int o = 0; o < OXB; o++) {
#pragma unroll
        for (int j = 0; j < V; j++) {
            acc[o][j] = 0;
        }
    }
    const unsigned char *x = static_cast<const unsigned char *>(a.x);
    const int iy0 = oy * a.stride_h - a.pad_t;
    const int ix0 = ox0 * SW - a.pad_l;
#pragma unroll
    for (int r = 0; r < K; r++) {
        const int iy = iy0 + r;
        if ((unsigned)iy >= (unsigned)a.h) { /* above or below the input: padding */
            continue;
        }
        const unsigned char *xrow = x + (nb * a.h + iy) * a.w * a.c + c0; /* (nb, iy, 0, c0) */
#pragma unroll
        for (int q = 0; q < NCOL; q++) {
            const int ix = ix0 + q;
            if ((unsigned)ix >= (unsigned)a.w) { /* left or right of the input: padding */
                continue;
            }
            const qdw_vec<NW> v = qdw_ld<NW>(xrow + ix * a.c);
            int32_t xv[V]; /* DW_ZP_*: x - x_zp */
#pragma unroll
            for (int j = 0; j < V; j++) {
                xv[j] = ZP ? qdw_byte<XS, NW>(v, j) - a.x_zp : 0;
            }
#pragma unroll
            for (int o = 0; o < OXB; o++) {
                const int s = q - o * SW; /* a constant once unrolled */
                if (s < 0 || s >= K) {
                    continue;
                }
#pragma unroll
                for (int j = 0; j < V; j++) {
                    const int32_t wj = wv[j * KK + r * K + s];
                    if (ZP) { /* the int32 product, as qconv_kernel's */
                        acc[o][j] += (acc_t)(xv[j] * wj);
                    } else { /* x_j * w_j: the int32 sum of qconv_kernel<1> */
                        acc[o][j] = (acc_t)__dp4a((int)v.u[j >> 2], wj, (int)acc[o][j]);
                    }
                }
            }
        }
    }

    /* + bias, requantise (as requant_store), one vector store per output */
    int64_t bv[V];
    double mv[V];
#pragma unroll
    for (int j = 0; j < V; j++) {
        bv[j] = a.o.bias ? (int64_t)__ldg(a.o.bias + c0 + j) : 0;
        mv[j] = (double)__ldg(a.o.mult + c0 + j);
    }
    unsigned char *y = static_cast<unsigned char *>(a.y);
    const int yo = ((nb * a.oh + oy) * a.ow + ox0) * a.c + c0; /* (nb, oy, ox0, c0) */
#pragma unroll
    for (int o = 0; o < OXB; o++) {
        if (ox0 + o >= a.ow) { /* the partial last block of a row */
            break;
        }
        qdw_vec<NW> out;
#pragma unroll
        for (int w = 0; w < NW; w++) {
            out.u[w] = 0;
        }
#pragma unroll
        for (int j = 0; j < V; j++) {
            const uint32_t byte = (uint32_t)requant(a.o, bv[j] + (int64_t)acc[o][j], mv[j]) & 0xffu;
            out.u[j >> 2] |= byte << (8 * (j & 3));
        }
        qdw_st<NW>(y + yo + o * a.c, out);
    }
}

/* ---- QConv, tiled for few input channels ---- */
constexpr int TL_KT = 8;            /* output channels per thread */
constexpr int TL_PT = 4;            /* neighbouring output columns per thread */
constexpr int TL_PIX = 32 * TL_PT;  /* output pixels per tile: one warp's lanes x TL_PT */
constexpr int TL_MAX_THREADS = 512; /* kb <= 128: 16 warps */
constexpr int TL_MAX_KB = 128;

/* Shared memory of a dp4a block (bytes, all parts 16-byte aligned): weights [r][j][kb] words,
 * input windows [xr][j][twp] words, outputs [TL_PIX][kb] bytes, multipliers and bias [kb] each.
 * (The tensor-core kernel's: tm_smem.) */
int64_t tiled_smem(int64_t r, int64_t scw, int64_t kb, int64_t xr, int64_t twp)
{
    return 4 * r * scw * kb + 4 * xr * scw * twp + TL_PIX * kb + 8 * kb;
}

/* The tile loop's index of `tile`: k tile, image and the output tile's first row and column. */
struct tl_pos {
    int kt, n, oh0, ow0;
};

__device__ __forceinline__ tl_pos tl_decode(const tq_qk_conv &a, int tile)
{
    const int TW = a.tiled.tw, TH = a.tiled.th, OH = (int)a.oh, OW = (int)a.ow;
    const int n_tw = (OW + TW - 1) / TW, n_th = (OH + TH - 1) / TH;
    const int per_img = n_tw * n_th, per_kt = per_img * (int)a.n;
    tl_pos q;
    q.kt = tile / per_kt;
    int rem = tile - q.kt * per_kt;
    q.n = rem / per_img;
    rem -= q.n * per_img;
    const int th_i = rem / n_tw;
    q.oh0 = th_i * TH;
    q.ow0 = (rem - th_i * n_tw) * TW;
    return q;
}

/* Stage the weights of output channels k0 .. k0 + kb - 1 as words [r][j][k], rows of kb words
 * (zero past K and past s * c), and their multipliers and bias. Whole block. */
template <int C>
__device__ void tl_stage_weights(const tq_qk_conv &a, int k0, uint32_t *ws, float *ms,
                                 int32_t *bs)
{
    const int KB = a.tiled.kb, SCW = a.tiled.scw, K = (int)a.k, R = (int)a.r;
    const int SC = (int)a.s * C, tid = threadIdx.x, n_thr = blockDim.x;
    const int n_w = R * SCW * KB;
    for (int i = tid; i < n_w; i += n_thr) {
        const int k = i % KB, rj = i / KB;
        const int r = rj / SCW, j = rj - r * SCW, gk = k0 + k;
        uint32_t word = 0;
        if (gk < K) {
            const int8_t *wp = a.wt + ((int64_t)gk * R + r) * SC;
            for (int b = 0; b < 4; b++) {
                if (4 * j + b < SC) {
                    word |= (uint32_t)(uint8_t)wp[4 * j + b] << (8 * b);
                }
            }
        }
        ws[rj * KB + k] = word;
    }
    for (int i = tid; i < KB; i += n_thr) {
        const int gk = k0 + i;
        ms[i] = gk < K ? a.o.mult[gk] : 0.0f;
        bs[i] = gk < K && a.o.bias ? a.o.bias[gk] : 0;
    }
}

/* Stage the input windows of the tile at (n, oh0, ow0): entry (row, col) = the S * C bytes that
 * output column ow0 + col reads from input row ih0 + row, as SCW words at
 * xs[row * SCW * TWP + j * TWP + col]; outside the image 0 (x_zp is 0). Whole block. SS: S
 * known at compile time (the stems' 7 and 3; 0: a.s), so that a thread issues all its loads of
 * an entry at once instead of waiting for each s in turn. */
template <int C, int SS>
__device__ void tl_stage_input(const tq_qk_conv &a, const tl_pos &q, uint32_t *xs)
{
    const int TW = a.tiled.tw, SCW = a.tiled.scw, XR = a.tiled.xr, TWP = a.tiled.twp;
    const int H = (int)a.h, W = (int)a.w, S = SS > 0 ? SS : (int)a.s;
    const int sh = (int)a.stride_h, sw = (int)a.stride_w, dw = (int)a.dil_w;
    const int8_t *xi = static_cast<const int8_t *>(a.x) + (int64_t)q.n * H * W * C;
    const int ih0 = q.oh0 * sh - (int)a.pad_t, n_e = XR * TW;
    /* SS > 0, dilation 1: an entry inside the image whose aligned words (SCW + 1 from its
     * address rounded down to 4 bytes) end inside its row is read as those words, funnel-shifted
     * by its address mod 4: SCW + 1 word loads instead of S * C byte loads (the bytes past
     * S * C in its last word meet zero weights). */
    constexpr int NW = SS > 0 ? (SS * C + 3) / 4 + 1 : 1;
    const bool words = SS > 0 && dw == 1;
    for (int e = threadIdx.x; e < n_e; e += blockDim.x) {
        const int row = e / TW, col = e - row * TW;
        const int ih = ih0 + row, iw0 = (q.ow0 + col) * sw - (int)a.pad_l;
        const bool row_ok = ih >= 0 && ih < H;
        const int8_t *xr = xi + (row_ok ? ih : 0) * W * C;
        uint32_t *dst = xs + row * SCW * TWP + col;
        const uintptr_t addr = reinterpret_cast<uintptr_t>(xr) + (uintptr_t)(intptr_t)(iw0 * C);
        const uintptr_t row_end = reinterpret_cast<uintptr_t>(xr + W * C);
        if (words && row_ok && iw0 >= 0 && iw0 + S <= W &&
            (addr & ~(uintptr_t)3) + 4 * NW <= row_end) {
            const uint32_t *wp = reinterpret_cast<const uint32_t *>(addr & ~(uintptr_t)3);
            const uint32_t shift = 8u * (uint32_t)(addr & 3u);
            uint32_t v[NW];
#pragma unroll
            for (int i = 0; i < NW; i++) {
                v[i] = __ldg(wp + i);
            }
#pragma unroll
            for (int i = 0; i + 1 < NW; i++) {
                dst[i * TWP] = __funnelshift_r(v[i], v[i + 1], shift);
            }
            continue;
        }
        uint32_t word = 0;
        int qq = 0, j = 0;
#pragma unroll
        for (int s = 0; s < S; s++) {
            const int iw = iw0 + s * dw;
            const bool ok = row_ok && iw >= 0 && iw < W;
#pragma unroll
            for (int c = 0; c < C; c++) {
                const uint32_t b = ok ? (uint32_t)(uint8_t)__ldg(xr + iw * C + c) : 0u;
                word |= b << (8 * (qq & 3));
                if ((qq & 3) == 3) {
                    dst[j * TWP] = word;
                    j++;
                    word = 0;
                }
                qq++;
            }
        }
        if (qq & 3) {
            dst[j * TWP] = word;
        }
    }
}

/* The output byte of channel kl of the k tile (as requant_store) from its int32 sum. */
__device__ __forceinline__ uint32_t tl_requant(const tq_qk_out &o, const float *ms,
                                               const int32_t *bs, int kl, int32_t acc)
{
    return (uint32_t)requant(o, (int64_t)bs[kl] + (int64_t)acc, (double)ms[kl]) & 0xffu;
}

/* Store the valid part of the output tile os ([pixel][kb] bytes): rows of vw pixels, channels
 * k0 .. k0 + kv. Whole block. */
__device__ void tl_store_tile(const tq_qk_conv &a, const tl_pos &q, const unsigned char *os,
                              int vec_out)
{
    const int KB = a.tiled.kb, TW = a.tiled.tw, TH = a.tiled.th;
    const int K = (int)a.k, OH = (int)a.oh, OW = (int)a.ow, k0 = q.kt * KB;
    const int tid = threadIdx.x, n_thr = blockDim.x;
    unsigned char *y = static_cast<unsigned char *>(a.y);
    const int vh = min(TH, OH - q.oh0), vw = min(TW, OW - q.ow0), kv = min(KB, K - k0);
    const int64_t ybase = (((int64_t)q.n * OH + q.oh0) * OW + q.ow0) * K + k0;
    if (vec_out) { /* K == KB: a row's vw * K bytes are contiguous in y and in os */
        const int rc = vw * KB / 16, total = vh * rc;
        for (int i = tid; i < total; i += n_thr) {
            const int rr = i / rc, cc = i - rr * rc;
            const uint4 v = *reinterpret_cast<const uint4 *>(os + rr * TW * KB + cc * 16);
            *reinterpret_cast<uint4 *>(y + ybase + (int64_t)rr * OW * K + cc * 16) = v;
        }
    } else {
        const int per_row = vw * kv, total = vh * per_row;
        for (int i = tid; i < total; i += n_thr) {
            const int rr = i / per_row, e = i - rr * per_row;
            const int px = e / kv, kk = e - px * kv;
            y[ybase + ((int64_t)rr * OW + px) * K + kk] = os[(rr * TW + px) * KB + kk];
        }
    }
}

/* The shared memory of a dp4a block (tiled_smem). */
struct tl_smem {
    uint32_t *ws, *xs;
    unsigned char *os;
    float *ms;
    int32_t *bs;
};

__device__ __forceinline__ tl_smem tl_carve(const tq_qk_conv &a, unsigned char *base)
{
    const int KB = a.tiled.kb, SCW = a.tiled.scw;
    tl_smem m;
    m.ws = reinterpret_cast<uint32_t *>(base);
    m.xs = m.ws + (int)a.r * SCW * KB;
    m.os = reinterpret_cast<unsigned char *>(m.xs + a.tiled.xr * SCW * a.tiled.twp);
    m.ms = reinterpret_cast<float *>(m.os + TL_PIX * KB);
    m.bs = reinterpret_cast<int32_t *>(m.ms + KB);
    return m;
}

/* Start `tile`: wait until the block is done with the previous one, stage the weights when the
 * k tile changes (*cur_kt) and the tile's input windows, and wait for them. Whole block. */
template <int C, int SS>
__device__ __forceinline__ tl_pos tl_begin_tile(const tq_qk_conv &a, int tile, const tl_smem &m,
                                                int *cur_kt)
{
    const tl_pos q = tl_decode(a, tile);
    __syncthreads();
    if (q.kt != *cur_kt) { /* block-uniform */
        tl_stage_weights<C>(a, q.kt * a.tiled.kb, m.ws, m.ms, m.bs);
        *cur_kt = q.kt;
    }
    tl_stage_input<C, SS>(a, q, m.xs);
    __syncthreads();
    return q;
}

/* C: input channels (1..4). vec_out: K % 16 == 0, one k tile and y 16-byte aligned. */
template <int C, int SS>
__global__ void __launch_bounds__(TL_MAX_THREADS) qconv_tiled_kernel(const tq_qk_conv a,
                                                                     int vec_out)
{
    extern __shared__ __align__(16) unsigned char tl_shared[];
    const int KB = a.tiled.kb, TW = a.tiled.tw, SCW = a.tiled.scw;
    const int TWP = a.tiled.twp, R = (int)a.r;
    const int sh = (int)a.stride_h, dh = (int)a.dil_h;
    const tl_smem m = tl_carve(a, tl_shared);
    const uint32_t *xs = m.xs, *ws = m.ws;
    unsigned char *os = m.os;

    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int gpr = TW / TL_PT; /* column groups per tile row; TH * gpr == 32 */
    const int ohl = lane / gpr, owl0 = (lane - ohl * gpr) * TL_PT;
    const int kl = warp * TL_KT; /* this warp's channels in the k tile */
    int cur_kt = -1;
    for (int tile = blockIdx.x; tile < a.tiled.n_tiles; tile += gridDim.x) {
        const tl_pos q = tl_begin_tile<C, SS>(a, tile, m, &cur_kt);
        int32_t acc[TL_KT][TL_PT];
#pragma unroll
        for (int kk = 0; kk < TL_KT; kk++) {
#pragma unroll
            for (int p = 0; p < TL_PT; p++) {
                acc[kk][p] = 0;
            }
        }
        {
            const uint32_t *xb = xs + ohl * sh * SCW * TWP + owl0;
            const uint32_t *wb = ws + kl;
            for (int r = 0; r < R; r++) {
                const uint32_t *xp = xb + r * dh * SCW * TWP;
                const uint32_t *wp = wb + r * SCW * KB;
                for (int j = 0; j < SCW; j++) {
                    const uint4 xv = *reinterpret_cast<const uint4 *>(xp + j * TWP);
                    const uint4 w0 = *reinterpret_cast<const uint4 *>(wp + j * KB);
                    const uint4 w1 = *reinterpret_cast<const uint4 *>(wp + j * KB + 4);
                    const int xw[TL_PT] = {(int)xv.x, (int)xv.y, (int)xv.z, (int)xv.w};
                    const int ww[TL_KT] = {(int)w0.x, (int)w0.y, (int)w0.z, (int)w0.w,
                                           (int)w1.x, (int)w1.y, (int)w1.z, (int)w1.w};
#pragma unroll
                    for (int kk = 0; kk < TL_KT; kk++) {
#pragma unroll
                        for (int p = 0; p < TL_PT; p++) {
                            acc[kk][p] = __dp4a(xw[p], ww[kk], acc[kk][p]);
                        }
                    }
                }
            }
        }
        /* requantise into the output tile, [pixel][k] bytes */
#pragma unroll
        for (int p = 0; p < TL_PT; p++) {
            uint32_t lo = 0, hi = 0;
#pragma unroll
            for (int kk = 0; kk < TL_KT; kk++) {
                const uint32_t byte = tl_requant(a.o, m.ms, m.bs, kl + kk, acc[kk][p]);
                if (kk < 4) {
                    lo |= byte << (8 * kk);
                } else {
                    hi |= byte << (8 * (kk - 4));
                }
            }
            const int pix = ohl * TW + owl0 + p;
            *reinterpret_cast<uint2 *>(os + pix * KB + kl) = make_uint2(lo, hi);
        }
        __syncthreads();
        tl_store_tile(a, q, os, vec_out);
    }
}

/* ---- the tiled QConv on the tensor cores (qconv_stem_mma_kernel) ---- */

/* The output channel (within its 32-channel slice) of column k of the staged weights: column
 * cw + 8 nt + j (mma n tile nt, its column j) holds channel cw + 8 (j / 2) + 2 nt + j % 2, so
 * that the sums a thread receives for one pixel (columns 2t, 2t + 1 of each of the 4 n tiles)
 * are those of the 8 neighbouring channels cw + 8t .. + 7: one 8-byte store. */
__device__ __forceinline__ int tm_channel(int k)
{
    return (k & ~31) | (((k & 7) >> 1) << 3) | (((k >> 3) & 3) << 1) | (k & 1);
}

/* Words per output channel of the k tile: the integer form of the requantisation (int_form:
 * M, sh, KZ low and high words; BM low and high words), the float multiplier and the bias. */
constexpr int TM_CH_WORDS = 8;

/* Shared memory of a tensor-core block (bytes): weights [r][scw8][kb + 8] words (scw8: scw
 * rounded up to 8, the words past scw zero), input windows [xr][scw][twp] words and 8 twp words
 * after them that the compute loop's last k step may read (meeting zero weights), the channels'
 * constants. */
int64_t tm_smem(int64_t r, int64_t scw, int64_t kb, int64_t xr, int64_t twp)
{
    const int64_t scw8 = (scw + 7) / 8 * 8;
    return 4 * (r * scw8 * (kb + 8) + xr * scw * twp + 8 * twp + TM_CH_WORDS * kb);
}

struct tm_smem_t {
    uint32_t *ws, *xs, *xpad;
    uint4 *ik;   /* [kb]: M, sh, KZ low, KZ high */
    int64_t *bm; /* [kb]: BM */
    float *ms;   /* [kb] */
    int32_t *bs; /* [kb] */
};

__device__ __forceinline__ tm_smem_t tm_carve(const tq_qk_conv &a, unsigned char *base)
{
    const int KB = a.tiled.kb, SCW = a.tiled.scw, SCW8 = (SCW + 7) & ~7, TWP = a.tiled.twp;
    tm_smem_t m;
    m.ws = reinterpret_cast<uint32_t *>(base);
    m.xs = m.ws + (int)a.r * SCW8 * (KB + 8);
    m.xpad = m.xs + a.tiled.xr * SCW * TWP;
    m.ik = reinterpret_cast<uint4 *>(m.xpad + 8 * TWP); /* 16-byte aligned: twp % 16 == 8 */
    m.bm = reinterpret_cast<int64_t *>(m.ik + KB);
    m.ms = reinterpret_cast<float *>(m.bm + KB);
    m.bs = reinterpret_cast<int32_t *>(m.ms + KB);
    return m;
}

/* How a k tile of the tensor-core stem requantises: by the high-word form without ties
 * (int_hi_form, requant_hi; the sums start from the bias), the integer form (int_form) or
 * requant's float path. */
enum { TM_RQ_FLOAT = 0, TM_RQ_INT = 1, TM_RQ_HI = 2 };

/* Stage the weights of output channels k0 .. k0 + kb - 1 (column k: channel
 * k0 + tm_channel(k)) as words [r][j][k] (rows kb + 8 words, zero past K and past s * c, scw8
 * words a kernel row) and the channels' constants, and return the block's TM_RQ_* (with
 * TM_RQ_HI, m.ik holds the high-word forms). Whole block. */
template <int C>
__device__ int tm_stage_weights(const tq_qk_conv &a, int k0, const tm_smem_t &m)
{
    const int KB = a.tiled.kb, KBP = KB + 8, SCW = a.tiled.scw, SCW8 = (SCW + 7) & ~7;
    const int K = (int)a.k, R = (int)a.r, SC = (int)a.s * C;
    const int tid = threadIdx.x, n_thr = blockDim.x, n_w = R * SCW8 * KB;
    for (int i = tid; i < n_w; i += n_thr) {
        const int k = i % KB, rj = i / KB;
        const int r = rj / SCW8, j = rj - r * SCW8, gk = k0 + tm_channel(k);
        uint32_t word = 0;
        if (gk < K && j < SCW) {
            const int8_t *wp = a.wt + ((int64_t)gk * R + r) * SC;
            for (int b = 0; b < 4; b++) {
                if (4 * j + b < SC) {
                    word |= (uint32_t)(uint8_t)wp[4 * j + b] << (8 * b);
                }
            }
        }
        m.ws[rj * KBP + k] = word;
    }
    const int64_t accmax = (int64_t)C * a.r * a.s * 16384; /* |x w| <= 128 * 128 */
    bool ok = true, hi_ok = true;
    for (int i = tid; i < KB; i += n_thr) {
        const int gk = k0 + i;
        const float mv = gk < K ? a.o.mult[gk] : 0.0f;
        const int32_t bv = gk < K && a.o.bias ? a.o.bias[gk] : 0;
        m.ms[i] = mv;
        m.bs[i] = bv;
        uint4 ik = make_uint4(0u, 0u, 0u, 0u), hf = ik;
        int64_t bm = 0;
        ok = int_form(mv, bv, a.o.y_zp, accmax, &ik, &bm) && ok;
        hi_ok = int_hi_form(mv, bv, a.o.y_zp, accmax, &hf) && hf.w == 32 && hi_ok;
        m.ik[i] = ik;
        m.bm[i] = bm;
    }
    if (__syncthreads_and(hi_ok)) { /* the high-word forms replace the integer ones */
        for (int i = tid; i < KB; i += n_thr) {
            const int gk = k0 + i;
            uint4 hf = make_uint4(0u, 0u, 0u, 0u);
            (void)int_hi_form(gk < K ? a.o.mult[gk] : 0.0f, m.bs[i], a.o.y_zp, accmax, &hf);
            m.ik[i] = hf;
        }
        return TM_RQ_HI;
    }
    return __syncthreads_and(ok) ? TM_RQ_INT : TM_RQ_FLOAT;
}

/* Requantise the 16 sums of a thread's m tile (qconv_stem_mma_kernel): channel kc + i of its
 * pixel h is acc[i / 2][2h + i % 2]; the output byte goes to byte i % 4 of wd[h][i / 4].
 * Channel by channel, its constants loaded once. RQ: TM_RQ_*. */
template <int RQ>
__device__ __forceinline__ void tm_requant(const tq_qk_conv &a, const tm_smem_t &m,
                                           const int32_t (&acc)[4][4], int kc,
                                           uint32_t (&wd)[2][2])
{
    const int32_t ylo = a.o.lo, yhi = a.o.hi;
#pragma unroll
    for (int i = 0; i < 8; i++) {
        const uint32_t sel = (0x3210u & ~(0xfu << (4 * (i & 3)))) | (4u << (4 * (i & 3)));
        uint4 c = make_uint4(0u, 0u, 0u, 0u);
        int64_t bm = 0;
        float mv = 0.0f;
        int32_t bv = 0;
        if (RQ != TM_RQ_FLOAT) {
            c = m.ik[kc + i];
            bm = m.bm[kc + i];
        } else {
            mv = m.ms[kc + i];
            bv = m.bs[kc + i];
        }
        const uint64_t kz = ((uint64_t)c.w << 32) | c.z;
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const int32_t av = acc[i >> 1][2 * h + (i & 1)];
            uint32_t v;
            if (RQ == TM_RQ_HI) {
                v = (uint32_t)requant_hi(av, c, ylo, yhi);
            } else if (RQ == TM_RQ_INT) {
                v = (uint32_t)requant_int(av, c.x, c.y, kz, bm, ylo, yhi);
            } else {
                v = (uint32_t)requant(a.o, (int64_t)av + bv, (double)mv);
            }
            uint32_t &w = wd[h][i >> 2];
            w = (i & 3) == 0 ? v : __byte_perm(w, v, sel);
        }
    }
}

/* The tiles of the dp4a kernel on the tensor cores (sm_80 and later; tq_qk_tiled.mma): an
 * implicit GEMM of [128 pixels] x [kb channels] over k = (r, the s * c bytes of a kernel row
 * zero-padded to 32-byte steps), one mma.sync m16n8k32 s8 x s8 -> s32 per 16 pixels x 8
 * channels x 32 bytes. Warp w computes pixels 32 (w % 4) .. + 31 and channels 32 (w / 4) .. +
 * 31 (kb % 32 == 0, 4 * kb threads). The staged weight rows are kb + 8 words apart and the
 * input rows twp words with twp % 16 == 8 (tq_qk_conv_tiled_setup), so that the fragments'
 * 32-bit loads are free of bank conflicts; weight rows are padded to whole k steps with zeros,
 * so that the loads need no bounds. Epilogue (tm_requant, by tm_stage_weights' verdict on the
 * k tile's channels, which the block agrees with __syncthreads_and): the high-word form
 * (int_hi_form: the sums start from the bias; mad.hi, a shift, the clamp) where every channel
 * has it, else the integer form with its parity step (int_form, about 9 integer operations an
 * output), else requant. Either way a thread stores its
 * 8 neighbouring channels of a pixel (tm_channel) straight to y: 8 bytes at once where vec8
 * (K % 8 == 0, y 8-byte aligned), else byte by byte. Bit-exact to the dp4a kernel and to the
 * reference. ResNet-50's stem at batch 256 on an H200: 0.56 ms (ncu: 1,750 instructions per
 * warp and tile); before, with predicated fragment loads (branches around each), the float
 * requantisation and a shared-memory output tile, 0.72-0.74 ms and 2,600. */
template <int C, int SS>
__global__ void __launch_bounds__(TL_MAX_THREADS, 2) qconv_stem_mma_kernel(const tq_qk_conv a,
                                                                           int vec8)
{
    extern __shared__ __align__(16) unsigned char tl_shared[];
    const int KB = a.tiled.kb, KBP = KB + 8, TW = a.tiled.tw, SCW = a.tiled.scw;
    const int SCW8 = (SCW + 7) & ~7, TWP = a.tiled.twp, R = (int)a.r;
    const int sh = (int)a.stride_h, dh = (int)a.dil_h;
    const int K = (int)a.k, OH = (int)a.oh, OW = (int)a.ow;
    const tm_smem_t m = tm_carve(a, tl_shared);
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int g = lane >> 2, t = lane & 3;
    const int pw = (warp & 3) * 32, cw = (warp >> 2) * 32, kc = cw + 8 * t;
    /* this thread's fragment rows (pixels pw + 16 mt + g + 8 h) as offsets into xs */
    int xoff[2][2];
#pragma unroll
    for (int mt = 0; mt < 2; mt++) {
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const int p = pw + 16 * mt + g + 8 * h;
            xoff[mt][h] = (p / TW) * sh * SCW * TWP + p % TW;
        }
    }
    const int tw_log2 = __ffs(TW) - 1; /* tw: 8, 16 or 32 */
    for (int i = threadIdx.x; i < 8 * TWP; i += blockDim.x) {
        m.xpad[i] = 0u;
    }
    int cur_kt = -1;
    int rq = TM_RQ_FLOAT;
    for (int tile = blockIdx.x; tile < a.tiled.n_tiles; tile += gridDim.x) {
        const tl_pos q = tl_decode(a, tile);
        __syncthreads();
        if (q.kt != cur_kt) { /* block-uniform */
            rq = tm_stage_weights<C>(a, q.kt * KB, m);
            cur_kt = q.kt;
        }
        tl_stage_input<C, SS>(a, q, m.xs);
        __syncthreads();
        int32_t acc[2][4][4]; /* the high-word form sums from the bias */
#pragma unroll
        for (int nt = 0; nt < 4; nt++) {
            const int32_t b0 = rq == TM_RQ_HI ? m.bs[kc + 2 * nt] : 0;
            const int32_t b1 = rq == TM_RQ_HI ? m.bs[kc + 2 * nt + 1] : 0;
#pragma unroll
            for (int mt = 0; mt < 2; mt++) {
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    acc[mt][nt][e] = (e & 1) ? b1 : b0;
                }
            }
        }
        for (int r = 0; r < R; r++) {
            const uint32_t *xr = m.xs + r * dh * SCW * TWP;
            const uint32_t *wr = m.ws + r * SCW8 * KBP + cw + g;
            for (int jc = 0; jc < SCW8; jc += 8) {
                const int j0 = jc + t, j1 = jc + t + 4;
                uint32_t af[2][4];
#pragma unroll
                for (int mt = 0; mt < 2; mt++) {
                    af[mt][0] = xr[xoff[mt][0] + j0 * TWP];
                    af[mt][1] = xr[xoff[mt][1] + j0 * TWP];
                    af[mt][2] = xr[xoff[mt][0] + j1 * TWP];
                    af[mt][3] = xr[xoff[mt][1] + j1 * TWP];
                }
#pragma unroll
                for (int nt = 0; nt < 4; nt++) {
                    const uint32_t b0 = wr[j0 * KBP + 8 * nt];
                    const uint32_t b1 = wr[j1 * KBP + 8 * nt];
#pragma unroll
                    for (int mt = 0; mt < 2; mt++) {
                        mma_s8(acc[mt][nt], af[mt], b0, b1);
                    }
                }
            }
        }
        /* requantise and store, one m tile at a time (registers are short) */
        const int k0 = q.kt * KB + kc;
        unsigned char *y = static_cast<unsigned char *>(a.y);
#pragma unroll
        for (int mt = 0; mt < 2; mt++) {
            uint32_t wd[2][2];
            if (rq == TM_RQ_HI) {
                tm_requant<TM_RQ_HI>(a, m, acc[mt], kc, wd);
            } else if (rq == TM_RQ_INT) {
                tm_requant<TM_RQ_INT>(a, m, acc[mt], kc, wd);
            } else {
                tm_requant<TM_RQ_FLOAT>(a, m, acc[mt], kc, wd);
            }
#pragma unroll
            for (int h = 0; h < 2; h++) {
                const int p = pw + 16 * mt + g + 8 * h;
                const int oh = q.oh0 + (p >> tw_log2), ow = q.ow0 + (p & (TW - 1));
                if (oh >= OH || ow >= OW || k0 >= K) {
                    continue;
                }
                const uint32_t lo = wd[h][0], hi = wd[h][1];
                unsigned char *dst = y + (((int64_t)q.n * OH + oh) * OW + ow) * K + k0;
                if (vec8) {
                    *reinterpret_cast<uint2 *>(dst) = make_uint2(lo, hi);
                } else {
#pragma unroll
                    for (int i = 0; i < 8; i++) {
                        if (k0 + i < K) {
                            dst[i] = (unsigned char)((i < 4 ? lo >> (8 * i) : hi >> (8 * (i - 4))) &
                                                     0xffu);
                        }
                    }
                }
            }
        }
    }
}

typedef void (*tiled_fn)(const tq_qk_conv, int);

template <int C, int SS> tiled_fn tiled_kernel_of(bool mma)
{
    return mma ? qconv_stem_mma_kernel<C, SS> : qconv_tiled_kernel<C, SS>;
}

/* The kernel for c input channels and s kernel columns (c 3 with s 7 or 3: s unrolled). */
tiled_fn tiled_kernel_for(int64_t c, int64_t s, bool mma)
{
    switch (c) {
    case 1:
        return tiled_kernel_of<1, 0>(mma);
    case 2:
        return tiled_kernel_of<2, 0>(mma);
    case 3:
        return s == 7 ? tiled_kernel_of<3, 7>(mma)
                      : (s == 3 ? tiled_kernel_of<3, 3>(mma) : tiled_kernel_of<3, 0>(mma));
    case 4:
        return tiled_kernel_of<4, 0>(mma);
    default:
        return nullptr;
    }
}

/* Bank conflicts of the compute loop's 16-byte loads of input words (4 phases of 8 lanes,
 * 8 groups of 4 banks): the sum over the phases of the largest group count. */
int tiled_conflicts(int64_t tw, int64_t sh, int64_t scw, int64_t twp)
{
    const int64_t gpr = tw / TL_PT;
    int cost = 0;
    for (int ph = 0; ph < 4; ph++) {
        int cnt[8] = {0, 0, 0, 0, 0, 0, 0, 0}, mx = 0;
        for (int l = 8 * ph; l < 8 * ph + 8; l++) {
            const int64_t addr = (l / gpr) * sh * scw * twp + (l % gpr) * TL_PT;
            const int g = (int)((addr / 4) % 8);
            cnt[g]++;
            mx = cnt[g] > mx ? cnt[g] : mx;
        }
        cost += mx;
    }
    return cost;
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
/* Same-shape contiguous operands, 16 elements per thread; I: index type (int32 where
 * n16 + the grid's thread count < 2^31); F: the arithmetic (TQ_QK_ADD_*). */
template <typename I, int F> __global__ void qadd_vec16_kernel(const tq_qk_add a, I n16)
{
    const uint4 *pa = static_cast<const uint4 *>(a.a);
    const uint4 *pb = static_cast<const uint4 *>(a.b);
    uint4 *py = static_cast<uint4 *>(a.y);
    for (I i = (I)blockIdx.x * (I)blockDim.x + (I)threadIdx.x; i < n16;
         i += (I)gridDim.x * (I)blockDim.x) {
        const uint4 va = __ldg(pa + i), vb = __ldg(pb + i);
        py[i] = qadd_16<F>(a, va, vb);
    }
}

template <typename I>
void qadd_vec16_launch(const tq_qk_add &a, I n16, unsigned grid, unsigned block, cudaStream_t s)
{
    switch (a.form) {
    case TQ_QK_ADD_F32:
        qadd_vec16_kernel<I, TQ_QK_ADD_F32><<<grid, block, 0, s>>>(a, n16);
        break;
    case TQ_QK_ADD_F32_CHECKED:
        qadd_vec16_kernel<I, TQ_QK_ADD_F32_CHECKED><<<grid, block, 0, s>>>(a, n16);
        break;
    default:
        qadd_vec16_kernel<I, TQ_QK_ADD_DEF><<<grid, block, 0, s>>>(a, n16);
        break;
    }
}

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
        static_cast<uint8_t *>(a.y)[i] = (uint8_t)qadd_one(a, av, bv);
    }
}

bool aligned(const void *p, uintptr_t n)
{
    return ((uintptr_t)p % n) == 0;
}

/* ---- the depthwise fast path: conditions and launch ---- */

/* Output columns a thread: 4 for 3x3 stride 1 with int32 sums (6 input columns a row for 4
 * outputs); 2 otherwise (5x5: 25 weights a channel in registers; stride 2: less reuse; int64
 * sums: twice the registers). */
template <int K, int SW, int MODE> struct qdw_tile {
    enum { OXB = (K == 3 && SW == 1 && MODE == DW_FAST) ? 4 : 2 };
};

/* The product of `n_v` values, each at least 1, fits in int32 (so do all partial products). */
bool qdw_prod_fits(const int64_t *v, int n_v)
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

/* The vector width in bytes of the depthwise kernel for `a`, 0 if it does not apply:
 * depthwise (cg == mg == 1, k == c), 3x3 or 5x5, dilation 1, stride_w 1 or 2 (stride_h 1..64:
 * only the columns are tiled), every tensor's element count and every index in int32, the
 * tiled kernel off, and c a multiple of the vector with x, wt and y aligned to it: 8 or 4
 * bytes for 3x3 (8: 72 weights in registers), 4 for 5x5 (100). */
int qdw_bytes(const tq_qk_conv *a)
{
    const int64_t lim = (int64_t)1 << 28; /* sizes and pads, so that no coordinate overflows */
    if (a->tiled.on || a->cg != 1 || a->mg != 1 || a->k != a->c) {
        return 0;
    }
    if (a->r != a->s || (a->r != 3 && a->r != 5) || a->dil_h != 1 || a->dil_w != 1) {
        return 0;
    }
    if ((a->stride_w != 1 && a->stride_w != 2) || a->stride_h < 1 || a->stride_h > 64) {
        return 0;
    }
    if (a->pad_t < -lim || a->pad_t > lim || a->pad_l < -lim || a->pad_l > lim) {
        return 0;
    }
    const int64_t xs[4] = {a->n, a->h, a->w, a->c};
    const int64_t ys[4] = {a->n, a->oh, a->ow, a->c};
    const int64_t ws[2] = {a->c, a->r * a->s};
    if (!qdw_prod_fits(xs, 4) || !qdw_prod_fits(ys, 4) || !qdw_prod_fits(ws, 2)) {
        return 0;
    }
    /* coordinates in int32: |iy| <= (oh - 1) * stride_h + |pad_t| + K,
     * |ix| <= (ow + OXB) * 2 + |pad_l| + K */
    if (a->h > lim || a->w > lim || a->oh > lim || a->ow > lim ||
        (a->oh - 1) * a->stride_h > lim) {
        return 0;
    }
    for (int nb = a->r == 3 ? 8 : 4; nb >= 4; nb /= 2) {
        if (a->c % nb == 0 && aligned(a->x, (uintptr_t)nb) && aligned(a->wt, (uintptr_t)nb) &&
            aligned(a->y, (uintptr_t)nb)) {
            return nb;
        }
    }
    return 0;
}

template <int K, int SW, int MODE>
cudaError_t qdw_launch_t(const tq_qk_conv *a, int nb, cudaStream_t s)
{
    enum { OXB = qdw_tile<K, SW, MODE>::OXB, NW_MAX = K == 3 ? 2 : 1 };
    qdw_args d;
    d.x = a->x;
    d.wt = a->wt;
    d.w_zp = a->w_zp;
    d.y = a->y;
    d.o = a->o;
    d.n_cv = (int)(a->c / nb);
    d.n_oxb = (int)((a->ow + OXB - 1) / OXB);
    /* <= n * oh * ow * c, which qdw_bytes() bounds by INT32_MAX */
    d.n_threads = (unsigned)(a->n * a->oh * d.n_oxb * d.n_cv);
    d.c = (int)a->c;
    d.h = (int)a->h;
    d.w = (int)a->w;
    d.oh = (int)a->oh;
    d.ow = (int)a->ow;
    d.stride_h = (int)a->stride_h;
    d.pad_t = (int)a->pad_t;
    d.pad_l = (int)a->pad_l;
    d.x_zp = a->x_zp;
    const unsigned grid = (d.n_threads + DW_BLOCK - 1) / DW_BLOCK; /* < 2^24 blocks */
    if (nb == 4 * NW_MAX) {
        qconv_dw_kernel<K, SW, OXB, NW_MAX, MODE><<<grid, DW_BLOCK, 0, s>>>(d);
    } else {
        qconv_dw_kernel<K, SW, OXB, 1, MODE><<<grid, DW_BLOCK, 0, s>>>(d);
    }
    return cudaGetLastError();
}

template <int MODE> cudaError_t qdw_launch_m(const tq_qk_conv *a, int nb, cudaStream_t s)
{
    if (a->r == 3) {
        return a->stride_w == 1 ? qdw_launch_t<3, 1, MODE>(a, nb, s)
                                : qdw_launch_t<3, 2, MODE>(a, nb, s);
    }
    return a->stride_w == 1 ? qdw_launch_t<5, 1, MODE>(a, nb, s)
                            : qdw_launch_t<5, 2, MODE>(a, nb, s);
}

/* Launch the depthwise kernel for `a` (nb = qdw_bytes(a) > 0) in the mode of qconv_kernel's
 * arithmetic: a->fast (int8 x, zero points 0), else zero points with int8 or uint8 x. */
cudaError_t qdw_launch(const tq_qk_conv *a, int nb, cudaStream_t s)
{
    if (a->fast) {
        return qdw_launch_m<DW_FAST>(a, nb, s);
    }
    return a->x_signed ? qdw_launch_m<DW_ZP_S8>(a, nb, s) : qdw_launch_m<DW_ZP_U8>(a, nb, s);
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
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    if (a->tiled.on) {
        const tq_qk_tiled &t = a->tiled;
        const tiled_fn fn = tiled_kernel_for(a->c, a->s, t.mma != 0);
        if (!fn || t.kb < TL_KT || t.kb > TL_MAX_KB || t.kb % TL_KT != 0 ||
            (t.mma && (t.kb % 32 != 0 || t.twp % 16 != 8 || (t.tw & (t.tw - 1)) != 0)) ||
            t.tw * t.th != TL_PIX ||
            t.grid < 1) {
            return (int)cudaErrorInvalidValue;
        }
        if (t.smem_bytes > 48 * 1024) {
            const cudaError_t e = cudaFuncSetAttribute(
                fn, cudaFuncAttributeMaxDynamicSharedMemorySize, t.smem_bytes);
            if (e != cudaSuccess) {
                return (int)e;
            }
        }
        /* the tensor-core kernel: 8-byte stores; the dp4a one: 16-byte rows of one k tile */
        const int vec_out = t.mma ? a->k % 8 == 0 && aligned(a->y, 8)
                                       : a->k % 16 == 0 && t.n_kt == 1 && aligned(a->y, 16);
        fn<<<(unsigned)t.grid, (unsigned)(t.kb / TL_KT * 32), (size_t)t.smem_bytes, s>>>(*a,
                                                                                        vec_out);
        return (int)cudaGetLastError();
    }
    if (a->pw) {
        return tq_qk_conv_pw(a, nullptr, stream);
    }
    const int dw_bytes = qdw_bytes(a);
    if (dw_bytes > 0) {
        return (int)qdw_launch(a, dw_bytes, s);
    }
    const unsigned block = 256;
    const unsigned grid = grid_for(total, block);
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

extern "C" int tq_qk_conv_dw_bytes(const tq_qk_conv *a)
{
    return a->n * a->oh * a->ow * a->k > 0 && a->k > 0 ? qdw_bytes(a) : 0;
}

extern "C" int tq_qk_conv_tiled_setup(tq_qk_conv *a)
{
    tq_qk_tiled t;
    memset(&t, 0, sizeof(t));
    a->tiled = t;
    if (!a->fast || a->cg != a->c || a->mg != a->k || a->c < 1 || a->c > 4 || a->k < 1 ||
        a->r < 1 || a->r > 16 || a->s < 1 || a->s * a->c > 64 || a->stride_h < 1 ||
        a->stride_w < 1 || a->dil_h < 1 || a->dil_w < 1 || a->n < 1 || a->oh < 1 || a->ow < 1 ||
        a->stride_h > 64 || a->stride_w > 64 || a->dil_h > 64 || a->dil_w > 64 ||
        a->pad_t < 0 || a->pad_l < 0 || a->pad_t > 1024 || a->pad_l > 1024) {
        return 0;
    }
    /* int32 indices within an image, (int64 across images) */
    const int64_t lim = (int64_t)1 << 30;
    if (a->h * a->w * a->c >= lim || a->h >= lim / 64 || a->w >= lim / 64 ||
        a->oh * a->ow * a->k >= lim || a->k * a->r * a->s * a->c >= lim) {
        return 0;
    }
    int dev = 0, smem_max = 0, n_sm = 0, major = 0;
    if (!tiled_kernel_for(a->c, a->s, false) || cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&smem_max, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) !=
            cudaSuccess ||
        cudaDeviceGetAttribute(&n_sm, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    /* tile shape: the least padded output area, then the fewest bank conflicts of the compute
     * loop's input loads (padding the staged rows, twp), then the fewest staged entries */
    t.scw = (int32_t)((a->s * a->c + 3) / 4);
    int64_t best_area = -1, best_entries = 0;
    int best_cost = 0;
    for (int64_t tw = 32; tw >= 8; tw /= 2) {
        const int64_t th = TL_PIX / tw;
        const int64_t area = (a->ow + tw - 1) / tw * tw * ((a->oh + th - 1) / th * th);
        const int64_t xr = (th - 1) * a->stride_h + (a->r - 1) * a->dil_h + 1;
        int cost = 1 << 30;
        int64_t twp = tw;
        for (int64_t pad = 0; pad < 32; pad += 4) {
            const int c = tiled_conflicts(tw, a->stride_h, t.scw, tw + pad);
            if (c < cost) {
                cost = c;
                twp = tw + pad;
            }
        }
        if (best_area < 0 || area < best_area ||
            (area == best_area &&
             (cost < best_cost || (cost == best_cost && xr * tw < best_entries)))) {
            best_area = area;
            best_cost = cost;
            best_entries = xr * tw;
            t.tw = (int32_t)tw;
            t.th = (int32_t)th;
            t.xr = (int32_t)xr;
            t.twp = (int32_t)twp;
        }
    }
    /* k tiles: as few as fit (kb <= 128) and the shared memory allows */
    const int64_t k8 = (a->k + TL_KT - 1) / TL_KT * TL_KT;
    int64_t n_kt = (k8 + TL_MAX_KB - 1) / TL_MAX_KB, kb = 0, smem = 0;
    for (;; n_kt++) {
        kb = ((k8 + n_kt - 1) / n_kt + TL_KT - 1) / TL_KT * TL_KT;
        smem = tiled_smem(a->r, t.scw, kb, t.xr, t.twp);
        if (smem <= smem_max || kb <= TL_KT) {
            break;
        }
    }
    n_kt = (a->k + kb - 1) / kb;
    const int64_t n_tiles = n_kt * a->n * ((a->oh + t.th - 1) / t.th) *
                            ((a->ow + t.tw - 1) / t.tw);
    if (smem > smem_max || n_tiles >= lim) {
        return 0;
    }
    /* the tensor-core variant where kb is a multiple of 32 (its warps' 32-channel slices),
     * with its own row paddings (qconv_stem_mma_kernel); TFMQ_CUDA_QCONV_STEM_MMA=0: off */
    const char *env_mma = getenv("TFMQ_CUDA_QCONV_STEM_MMA");
    if (major >= 8 && kb % 32 == 0 && !(env_mma && strcmp(env_mma, "0") == 0)) {
        int64_t twp = t.tw;
        while (twp % 16 != 8) {
            twp++;
        }
        const int64_t smem_m = tm_smem(a->r, t.scw, kb, t.xr, twp);
        if (smem_m <= smem_max) {
            t.mma = 1;
            t.twp = (int32_t)twp;
            smem = smem_m;
        }
    }
    const tiled_fn fn = tiled_kernel_for(a->c, a->s, t.mma != 0);
    const int threads = (int)(kb / TL_KT * 32); /* both variants: 4 * kb */
    int per_sm = 0;
    if ((smem > 48 * 1024 &&
         cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem) !=
             cudaSuccess) ||
        cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, fn, threads, (size_t)smem) !=
            cudaSuccess ||
        per_sm < 1) {
        (void)cudaGetLastError();
        return 0;
    }
    const int64_t resident = (int64_t)per_sm * n_sm;
    t.kb = (int32_t)kb;
    t.n_kt = (int32_t)n_kt;
    t.smem_bytes = (int32_t)smem;
    t.n_tiles = (int32_t)n_tiles;
    t.grid = (int32_t)(n_tiles < resident ? n_tiles : resident);
    t.on = 1;
    a->tiled = t;
    return 1;
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
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    if (a->vec16 && a->rank == 1 && a->stride_a[0] == 1 && a->stride_b[0] == 1 &&
        a->n % 16 == 0 && aligned(a->a, 16) && aligned(a->b, 16) && aligned(a->y, 16)) {
        const int64_t n16 = a->n / 16;
        const unsigned grid = grid_for(n16, block);
        if (n16 + (int64_t)grid * block < INT32_MAX) {
            qadd_vec16_launch<int32_t>(*a, (int32_t)n16, grid, block, s);
        } else {
            qadd_vec16_launch<int64_t>(*a, n16, grid, block, s);
        }
        return (int)cudaGetLastError();
    }
    qadd_kernel<<<grid_for(a->n, block), block, 0, s>>>(*a);
    return (int)cudaGetLastError();
}
