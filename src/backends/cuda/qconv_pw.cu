/* qconv_pw.cu: the pointwise (1x1) QConv on the tensor cores, with the QAdd that consumes its
 * output optionally fused (qconv.h: tq_qk_conv_pw_setup, tq_qk_conv_pw).
 *
 * A 1x1 convolution with NHWC data is a GEMM: y[m][k] = sum_c x[pix(m)][c] * w[k][c] over the
 * output pixels m (pix(m) = m for stride 1). A tile is 64 pixels x BN = 64 or 128 channels,
 * computed by 4 warps of 64 pixels x BN / 4 channels with one mma.sync m16n8k32 (s8 x s8 ->
 * s32) per 16 x 8 x 32 step; operands come through a 3-stage cp.async ring of 64-byte k steps
 * (16-byte chunks XOR-swizzled by row so that ldmatrix reads them without bank conflicts).
 * Blocks are persistent: each keeps one channel tile and walks pixel tiles, all its (tile,
 * k step) iterations one pipeline, so the next tile loads during this one's epilogue.
 * The sums are exact int32 (c <= 65536, |bias| < 2^30); the epilogue requantises them by the
 * reference's arithmetic (qconv_dev.cuh: requant_fast, branch-free so that a thread's 64
 * outputs interleave; the rare undecided ones redone in double after), stages the bytes in
 * shared memory and stores 16 bytes a thread: bit-exact to the direct kernel and to
 * backends/ref/qlinear.c.
 *
 * Fused QAdd (add != NULL): the residual's tile is staged with the tile's first k step; the
 * QAdd (its float form, the same as the separate kernel's, equal to the definition on every
 * byte pair) takes the convolution's output value straight from the requantisation, and only
 * the sum is stored: the convolution's output never reaches memory. Bytes the checked form
 * cannot decide are computed after the tile's others (qadd_slow_v). Bit-exact to QConv then
 * QAdd.
 *
 * Why our own: cuDNN 9.19's INT8 engines run ResNet-50's 1x1 layers of the 56x56 stage at
 * about a third of the H200's memory bandwidth (64->256, batch 256: 185 us for 256 MB), and
 * a residual fused into its graph reads as slowly as the separate QAdd (bench/RESULTS.md,
 * "Probes"). So far this kernel is slower still at batch 256 (its epilogue is issue-bound:
 * bench/RESULTS.md, run of 2026-11-28 ~04:00): qconv.c times it against cuDNN's plans, and
 * the fusion against cuDNN plus the QAdd, and keeps whichever is faster. */
#include <cuda_runtime.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cuda/qconv.h"
#include "backends/cuda/qconv_dev.cuh"

namespace {

using namespace tq_qdev;

constexpr int PW_BM = 64;       /* output pixels a block */
constexpr int PW_BK = 64;       /* bytes of the reduction a stage */
constexpr int PW_STAGES = 3;
constexpr int PW_THREADS = 128; /* 4 warps side by side along the channels */
constexpr int PW_BLOCKS_SM = 3; /* resident blocks an SM the registers are sized for */
constexpr int PW_NOADD = -1;    /* F: no fused QAdd */

__device__ __forceinline__ uint32_t smem_addr(const void *p)
{
    return (uint32_t)__cvta_generic_to_shared(p);
}

/* 16 bytes global -> shared, asynchronously; zero-filled when !ok (src then unread). */
__device__ __forceinline__ void cp_async16(uint32_t dst, const void *src, bool ok)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src),
                 "r"(ok ? 16 : 0));
#else
    (void)dst;
    (void)src;
    (void)ok;
    __trap();
#endif
}

__device__ __forceinline__ void cp_async_commit()
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.commit_group;\n" ::);
#endif
}

template <int N> __device__ __forceinline__ void cp_async_wait()
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
#endif
}

/* Four 8x8 matrices of 16-bit elements (here 8 rows x 16 bytes each): lanes 8q..8q+7 give the
 * row addresses of matrix q; r[q] gets the thread's word of it (row lane / 4, word lane % 4). */
__device__ __forceinline__ void ldmatrix_x4(uint32_t r[4], uint32_t addr)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
#else
    (void)addr;
    r[0] = r[1] = r[2] = r[3] = 0;
    __trap();
#endif
}

/* Byte offset of 16-byte chunk `chunk` (0..3) of row `row` in a staged tile of 64-byte rows:
 * the chunk index XORed with (row / 2) % 4, so that the 8 rows an ldmatrix matrix reads hit
 * 8 different groups of 4 banks. */
__device__ __forceinline__ int pw_swz(int row, int chunk)
{
    return row * PW_BK + ((chunk ^ ((row >> 1) & 3)) << 4);
}

/* QAdd (arithmetic F, TQ_QK_ADD_*) of the convolution's output value q (as a float: its stored
 * value) and byte k of the residual's word rw, by the float form on q directly (no byte round
 * trip), in the low byte of the result. *slow: the form cannot decide (near ties of the checked
 * form; every element for the definition): the caller computes that byte by qadd_slow_v. */
template <int F>
__device__ __forceinline__ uint32_t pw_qadd(const tq_qk_add &e, float q, uint32_t rw, int k,
                                            bool *slow)
{
    const float magic = 12582912.0f;
    const float sub_b = e.b_signed ? 8388736.0f : 8388608.0f;
    const float rb = q8_float(e.b_signed ? rw ^ 0x8080u : rw, k, sub_b);
    float v = __fmaf_rn(e.ka, q, __fmaf_rn(e.kb, rb, e.c0));
    v = fminf(fmaxf(v, e.vlo), e.vhi);
    const float t = __fadd_rn(v, magic);
    *slow = F == TQ_QK_ADD_DEF ||
            (F == TQ_QK_ADD_F32_CHECKED && !(fabsf(__fsub_rn(v, __fsub_rn(t, magic))) < e.fh_tie));
    return __float_as_uint(__fadd_rn(t, e.fyz));
}

/* The shared memory of a block: the operand stages, the output tile, and (fused QAdd) one
 * residual tile per stage (a tile's residual is staged with its first k step, PW_STAGES - 1
 * iterations ahead, while up to two earlier tiles' are still in use). */
__host__ __device__ constexpr size_t pw_smem_size(int nt, bool add)
{
    return (size_t)PW_STAGES * (size_t)(PW_BM + 32 * nt) * PW_BK +
           (size_t)(add ? PW_STAGES + 1 : 1) * (size_t)PW_BM * (size_t)(32 * nt + 16);
}

/* NT: n8 tiles a warp (BN = 32 NT channels a block); F: the fused QAdd's arithmetic
 * (TQ_QK_ADD_*) or PW_NOADD. Persistent: block b keeps the channel tile b % n_tn and walks the
 * pixel tiles b / n_tn, + gridDim.x / n_tn, ...; its (tile, k step) iterations form one
 * cp.async pipeline, so that the next tile's operands (and residual) load while this tile's
 * epilogue runs. */
template <int NT, int F>
__global__ void __launch_bounds__(PW_THREADS, PW_BLOCKS_SM) qconv_pw_kernel(const tq_qk_conv a,
                                                                            const tq_qk_add e)
{
    constexpr int BN = 32 * NT;
    constexpr int CPR = BN / 16;                     /* 16-byte chunks of an output row */
    constexpr int OUT_J = PW_BM * CPR / PW_THREADS;  /* output chunks a thread: 4 or 2 */
    constexpr int ROWS = PW_THREADS / 4;             /* staged rows a pass of the threads */
    constexpr int OS = BN + 16;                      /* output tile row stride (banks) */
    constexpr int SA = PW_BM * PW_BK, SB = BN * PW_BK, TO = PW_BM * OS;
    constexpr int AR = PW_BM / ROWS, BR = BN / ROWS; /* rows a thread stages: 2, NT */
    extern __shared__ __align__(128) unsigned char pw_smem[];
    unsigned char *const sa = pw_smem;
    unsigned char *const sb = sa + PW_STAGES * SA;
    unsigned char *const os = sb + PW_STAGES * SB;   /* output tile [pixel][channel] */
    unsigned char *const rsm = os + TO;              /* residual tiles (fused QAdd) */

    const int tid = threadIdx.x, lane = tid & 31, wn = tid >> 5;
    const int g = lane >> 2, t = lane & 3;
    const int32_t M = (int32_t)(a.n * a.oh * a.ow);
    const int C = (int)a.c, K = (int)a.k;
    const int n_tn = K / BN;
    const int32_t per_n = (int32_t)(gridDim.x / (unsigned)n_tn); /* blocks a channel tile */
    const int n0 = (int)(blockIdx.x % (unsigned)n_tn) * BN;
    const int32_t tm0 = (int32_t)(blockIdx.x / (unsigned)n_tn);
    const int32_t n_tm = (M + PW_BM - 1) / PW_BM;
    const int32_t my_tiles = tm0 < n_tm ? (n_tm - 1 - tm0) / per_n + 1 : 0;
    const int n_k = C / PW_BK;
    const int32_t n_it = my_tiles * n_k; /* < 2^31: setup */
    const int8_t *const x = static_cast<const int8_t *>(a.x);
    const int8_t *const rb = static_cast<const int8_t *>(e.b);
    const int ach = tid & 3, arow0 = tid >> 2; /* chunk tid % 4 of rows tid / 4 + ROWS i */
    const bool strided = a.stride_h != 1 || a.stride_w != 1;

    /* the loads of iteration `it` (tile it / n_k, k step it % n_k) into stage it % STAGES */
    auto issue = [&](int32_t it) {
        const int32_t ti = it / n_k;
        const int kt = it - ti * n_k, st = it % PW_STAGES;
        const int32_t mb = (tm0 + ti * per_n) * PW_BM;
        const uint32_t da = smem_addr(sa + st * SA), db = smem_addr(sb + st * SB);
#pragma unroll
        for (int i = 0; i < AR; i++) {
            const int32_t m = mb + arow0 + ROWS * i;
            const bool ok = m < M;
            int64_t pix = m;
            if (strided && ok) {
                const int32_t hw = (int32_t)(a.oh * a.ow);
                const int32_t nn = m / hw, rem = m - nn * hw;
                const int32_t oy = rem / (int32_t)a.ow, ox = rem - oy * (int32_t)a.ow;
                pix = ((int64_t)nn * a.h + (int64_t)oy * a.stride_h) * a.w +
                      (int64_t)ox * a.stride_w;
            }
            cp_async16(da + pw_swz(arow0 + ROWS * i, ach),
                       ok ? x + pix * C + kt * PW_BK + ach * 16 : x, ok);
        }
#pragma unroll
        for (int i = 0; i < BR; i++) {
            cp_async16(db + pw_swz(arow0 + ROWS * i, ach),
                       a.wt + (int64_t)(n0 + arow0 + ROWS * i) * C + kt * PW_BK + ach * 16, true);
        }
        if (F != PW_NOADD && kt == 0) {
            unsigned char *const rt = rsm + (ti % PW_STAGES) * TO;
#pragma unroll
            for (int j = 0; j < OUT_J; j++) {
                const int idx = tid + j * PW_THREADS, row = idx / CPR, c = idx % CPR;
                const int32_t m = mb + row;
                cp_async16(smem_addr(rt + row * OS + c * 16),
                           m < M ? rb + (int64_t)m * K + n0 + c * 16 : rb, m < M);
            }
        }
    };
#pragma unroll
    for (int s = 0; s < PW_STAGES - 1; s++) {
        if (s < n_it) {
            issue(s);
        }
        cp_async_commit();
    }

    const float zpf = (float)a.o.y_zp, lof = (float)a.o.lo, hif = (float)a.o.hi;
    uint4 *const yv = static_cast<uint4 *>(F == PW_NOADD ? a.y : e.y);
    int32_t acc[4][NT][4];
    int kt = 0, ti = 0;
    for (int32_t it = 0; it < n_it; it++) {
        if (kt == 0) {
#pragma unroll
            for (int mt = 0; mt < 4; mt++) {
#pragma unroll
                for (int nt = 0; nt < NT; nt++) {
#pragma unroll
                    for (int q = 0; q < 4; q++) {
                        acc[mt][nt][q] = 0;
                    }
                }
            }
        }
        cp_async_wait<PW_STAGES - 2>();
        __syncthreads(); /* iteration it landed for all; stage (it - 1) % STAGES is free */
        if (it + PW_STAGES - 1 < n_it) {
            issue(it + PW_STAGES - 1);
        }
        cp_async_commit();
        const uint32_t ta = smem_addr(sa + (it % PW_STAGES) * SA);
        const uint32_t tb = smem_addr(sb + (it % PW_STAGES) * SB);
#pragma unroll
        for (int ks = 0; ks < 2; ks++) {
            uint32_t af[4][4], bf[NT][2];
#pragma unroll
            for (int mt = 0; mt < 4; mt++) {
                const int row = 16 * mt + (lane & 7) + 8 * ((lane >> 3) & 1);
                ldmatrix_x4(af[mt], ta + pw_swz(row, 2 * ks + (lane >> 4)));
            }
#pragma unroll
            for (int np = 0; np < NT / 2; np++) {
                const int row = wn * 8 * NT + 16 * np + (lane & 7) + 8 * (lane >> 4);
                uint32_t r[4];
                ldmatrix_x4(r, tb + pw_swz(row, 2 * ks + ((lane >> 3) & 1)));
                bf[2 * np][0] = r[0];
                bf[2 * np][1] = r[1];
                bf[2 * np + 1][0] = r[2];
                bf[2 * np + 1][1] = r[3];
            }
#pragma unroll
            for (int mt = 0; mt < 4; mt++) {
#pragma unroll
                for (int nt = 0; nt < NT; nt++) {
                    mma_s8(acc[mt][nt], af[mt], bf[nt][0], bf[nt][1]);
                }
            }
        }
        if (++kt < n_k) {
            continue;
        }
        /* the tile's epilogue: requantise (and add) into the output tile; acc[..][q] is pixel
         * g + 8 (q / 2), channel 2t + q % 2 of its 16 x 8 piece. Bytes the QAdd's float form
         * cannot decide get the convolution's byte and a bit in `slow`, fixed below. */
        const int32_t mb = (tm0 + ti * per_n) * PW_BM;
        const unsigned char *const rt = rsm + (ti % PW_STAGES) * TO;
        uint64_t slow = 0, rq_slow = 0; /* bit ((nt * 4 + mt) * 2 + h) * 2 + q % 2 */
#pragma unroll
        for (int nt = 0; nt < NT; nt++) {
            const int ch = wn * 8 * NT + 8 * nt + 2 * t;
            const float m_0 = __ldg(a.o.mult + n0 + ch), m_1 = __ldg(a.o.mult + n0 + ch + 1);
            /* |sum| < 2^30 (c <= 65536), |bias| < 2^30 (setup's caller): exact in int32 */
            const int32_t b_0 = a.o.bias ? __ldg(a.o.bias + n0 + ch) : 0;
            const int32_t b_1 = a.o.bias ? __ldg(a.o.bias + n0 + ch + 1) : 0;
#pragma unroll
            for (int mt = 0; mt < 4; mt++) {
#pragma unroll
                for (int h = 0; h < 2; h++) {
                    const int pix = 16 * mt + g + 8 * h;
                    const int32_t s0 = acc[mt][nt][2 * h] + b_0, s1 = acc[mt][nt][2 * h + 1] + b_1;
                    const int bit = ((nt * 4 + mt) * 2 + h) * 2;
                    float q0, q1;
                    const bool f0 = requant_fast(s0, m_0, zpf, lof, hif, &q0);
                    const bool f1 = requant_fast(s1, m_1, zpf, lof, hif, &q1);
                    rq_slow |= ((uint64_t)!f0 << bit) | ((uint64_t)!f1 << (bit + 1));
                    uint32_t y0 = __float_as_uint(__fadd_rn(q0, 12582912.0f));
                    uint32_t y1 = __float_as_uint(__fadd_rn(q1, 12582912.0f));
                    if (F != PW_NOADD) {
                        constexpr int FA = F == PW_NOADD ? 0 : F; /* (instantiable) */
                        const uint32_t rw =
                            *reinterpret_cast<const uint16_t *>(rt + pix * OS + ch);
                        bool sl0, sl1;
                        const uint32_t z0 = pw_qadd<FA>(e, q0, rw, 0, &sl0);
                        const uint32_t z1 = pw_qadd<FA>(e, q1, rw, 1, &sl1);
                        y0 = sl0 ? y0 : z0;
                        y1 = sl1 ? y1 : z1;
                        slow |= ((uint64_t)sl0 << bit) | ((uint64_t)sl1 << (bit + 1));
                    }
                    *reinterpret_cast<uint16_t *>(os + pix * OS + ch) =
                        (uint16_t)((y0 & 0xffu) | ((y1 & 0xffu) << 8));
                }
            }
            /* requantisations of this nt the float path could not decide (near ties, rare):
             * redone whole in double, while acc[.][nt] is live */
            if (__any_sync(0xffffffffu, ((rq_slow >> (16 * nt)) & 0xffffu) != 0)) {
#pragma unroll
                for (int mt = 0; mt < 4; mt++) {
#pragma unroll
                    for (int q = 0; q < 4; q++) {
                        const int bit = ((nt * 4 + mt) * 2 + (q >> 1)) * 2 + (q & 1);
                        if (!((rq_slow >> bit) & 1u)) {
                            continue;
                        }
                        const int pix = 16 * mt + g + 8 * (q >> 1), c1 = ch + (q & 1);
                        const int32_t qv = requant_slow(a.o, acc[mt][nt][q] + ((q & 1) ? b_1 : b_0),
                                                        (double)((q & 1) ? m_1 : m_0));
                        uint32_t y = (uint32_t)qv;
                        if (F != PW_NOADD) {
                            constexpr int FA = F == PW_NOADD ? 0 : F;
                            const uint32_t rw = rt[pix * OS + c1];
                            bool sl;
                            y = pw_qadd<FA>(e, (float)qv, rw, 0, &sl);
                            if (sl) {
                                y = qadd_slow_v(e, qv, q8_of_byte(rw, e.b_signed));
                            }
                        }
                        os[pix * OS + c1] = (unsigned char)y;
                    }
                }
            }
        }
        /* the undecided bytes, one at a time (a warp pays the slow path about once a tile);
         * elements whose requantisation was undecided are redone whole below */
        slow &= ~rq_slow;
        while (F != PW_NOADD && F != TQ_QK_ADD_F32 && slow) {
            const int bit = __ffsll((long long)slow) - 1;
            slow &= slow - 1;
            const int ee = bit & 1, h = (bit >> 1) & 1, mt = (bit >> 2) & 3, nt = bit >> 4;
            const int pix = 16 * mt + g + 8 * h, ch = wn * 8 * NT + 8 * nt + 2 * t + ee;
            unsigned char *const y = os + pix * OS + ch;
            *y = (unsigned char)qadd_slow_v(e, q8_of_byte(*y, e.a_signed),
                                            q8_of_byte(rt[pix * OS + ch], e.b_signed));
        }
        __syncthreads();
#pragma unroll
        for (int j = 0; j < OUT_J; j++) {
            const int idx = tid + j * PW_THREADS, row = idx / CPR, c = idx % CPR;
            const int32_t m = mb + row;
            if (m < M) {
                yv[((int64_t)m * K + n0 + c * 16) / 16] =
                    *reinterpret_cast<const uint4 *>(os + row * OS + c * 16);
            }
        }
        kt = 0;
        ti++;
    }
    cp_async_wait<0>();
}

typedef void (*pw_fn)(const tq_qk_conv, const tq_qk_add);

template <int NT> pw_fn pw_kernel_for(int form)
{
    switch (form) {
    case PW_NOADD:
        return qconv_pw_kernel<NT, PW_NOADD>;
    case TQ_QK_ADD_F32:
        return qconv_pw_kernel<NT, TQ_QK_ADD_F32>;
    case TQ_QK_ADD_F32_CHECKED:
        return qconv_pw_kernel<NT, TQ_QK_ADD_F32_CHECKED>;
    default:
        return qconv_pw_kernel<NT, TQ_QK_ADD_DEF>;
    }
}

bool pw_aligned(const void *p)
{
    return ((uintptr_t)p % 16) == 0;
}

} // namespace

extern "C" int tq_qk_conv_pw_setup(tq_qk_conv *a)
{
    a->pw = 0;
    const char *env = getenv("TFMQ_CUDA_QCONV_PW");
    if ((env && strcmp(env, "0") == 0) || !a->fast || a->tiled.on || a->cg != a->c ||
        a->mg != a->k || a->r != 1 || a->s != 1 || a->pad_t != 0 || a->pad_l != 0 ||
        a->c < PW_BK || a->c % PW_BK != 0 || a->c > 65536 || a->k < 64 || a->k % 64 != 0 ||
        a->stride_h < 1 || a->stride_w < 1 || a->n < 1 || a->oh < 1 || a->ow < 1) {
        return 0;
    }
    /* no padding read: the last output row and column sample inside the input */
    if ((a->oh - 1) * a->stride_h >= a->h || (a->ow - 1) * a->stride_w >= a->w) {
        return 0;
    }
    const int64_t m = a->n * a->oh * a->ow;
    if (m >= ((int64_t)1 << 31) - PW_BM || a->oh * a->ow >= ((int64_t)1 << 31) ||
        (m + PW_BM - 1) / PW_BM * (a->k / 64) >= ((int64_t)1 << 31)) {
        return 0;
    }
    int dev = 0, major = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    if (major < 8) {
        return 0;
    }
    a->pw = a->k % 128 == 0 ? 4 : 2;
    return 1;
}

extern "C" int tq_qk_conv_pw(const tq_qk_conv *a, const tq_qk_add *add, void *stream)
{
    const int nt = a->pw;
    if ((nt != 2 && nt != 4) || a->k % (32 * nt) != 0 || !pw_aligned(a->x) ||
        !pw_aligned(a->wt) || (add ? !pw_aligned(add->b) || !pw_aligned(add->y)
                                   : !pw_aligned(a->y))) {
        return (int)cudaErrorInvalidValue;
    }
    const int64_t m = a->n * a->oh * a->ow;
    if (m == 0) {
        return (int)cudaSuccess;
    }
    const int form = add ? add->form : PW_NOADD;
    const pw_fn fn = nt == 4 ? pw_kernel_for<4>(form) : pw_kernel_for<2>(form);
    const size_t smem = pw_smem_size(nt, add != nullptr);
    int dev = 0, n_sm = 0, per_sm = 0;
    cudaError_t e = cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         (int)smem);
    if (e == cudaSuccess) {
        e = cudaGetDevice(&dev);
    }
    if (e == cudaSuccess) {
        e = cudaDeviceGetAttribute(&n_sm, cudaDevAttrMultiProcessorCount, dev);
    }
    if (e == cudaSuccess) {
        e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, fn, PW_THREADS, smem);
    }
    if (e != cudaSuccess) {
        return (int)e;
    }
    /* persistent: as many blocks as are resident, a multiple of the channel tiles */
    const int64_t n_tn = a->k / (32 * nt), n_tm = (m + PW_BM - 1) / PW_BM;
    int64_t per_n = (int64_t)(per_sm > 0 ? per_sm : 1) * n_sm / n_tn;
    per_n = per_n < 1 ? 1 : (per_n > n_tm ? n_tm : per_n);
    tq_qk_add none;
    if (!add) {
        memset(&none, 0, sizeof(none));
    }
    fn<<<(unsigned)(per_n * n_tn), PW_THREADS, smem, static_cast<cudaStream_t>(stream)>>>(
        *a, add ? *add : none);
    return (int)cudaGetLastError();
}
