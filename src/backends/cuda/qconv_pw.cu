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
 * The weight rows are staged permuted (pw_channel) so that the sums a thread holds for a pixel
 * are those of 2 NT neighbouring channels: it requantises them and stores them at once (8 or 4
 * bytes), straight from registers.
 *
 * Requantisation, bit-exact to backends/ref/qlinear.c: where every channel has the high-word
 * form (qconv_dev.cuh, int_hi_form: a multiplier below 2^-2 and no tie possible for the sums'
 * bound; checked on the host, tq_qk_conv.pw_nt) the sums start from the bias and an output is
 * mad.hi, a shift and the clamp (requant_hi, 4 instructions); else each block takes the
 * integer form with its parity step (requant_int) where all its channels have one, or the
 * float path of requant (double where undecided).
 *
 * Fused QAdd (add != NULL): the residual's tile is staged with the tile's first k step; the
 * QAdd takes the convolution's output value straight from the requantisation, and only the sum
 * is stored: the convolution's output never reaches memory. Its arithmetic: the integer form
 * (tq_ql_add_form.use_i, clamp((ia a + ib b + ic) >> ish), proved on all 65536 byte pairs)
 * where one exists, else the float forms of the separate kernel with their undecided bytes in
 * double (qadd_slow_v). Bit-exact to QConv then QAdd.
 *
 * Why our own: cuDNN 9.19's INT8 engines run ResNet-50's 1x1 layers of the 56x56 stage at
 * about a third of the H200's memory bandwidth (64->256, batch 256: 185 us for 256 MB), and
 * a residual fused into its graph reads as slowly as the separate QAdd (bench/RESULTS.md,
 * "Probes"). qconv.c times this kernel against cuDNN's plans, and the fusion against the
 * chosen convolution plus the QAdd, and keeps whichever is faster (docs/CUDA_BACKEND.md). */
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
    const float rb = q8_float(e.b_signed ? rw ^ 0x80808080u : rw, k, sub_b);
    float v = __fmaf_rn(e.ka, q, __fmaf_rn(e.kb, rb, e.c0));
    v = fminf(fmaxf(v, e.vlo), e.vhi);
    const float t = __fadd_rn(v, magic);
    *slow = F == TQ_QK_ADD_DEF ||
            (F == TQ_QK_ADD_F32_CHECKED && !(fabsf(__fsub_rn(v, __fsub_rn(t, magic))) < e.fh_tie));
    return __float_as_uint(__fadd_rn(t, e.fyz));
}

/* Output channel of staged weight row n (an mma column) of a block: rows are permuted so that
 * the 2 NT sums a thread receives for one pixel (columns 2t, 2t + 1 of each of its NT n8 tiles)
 * are those of 2 NT neighbouring channels: a warp's 8 NT columns wn 8 NT + 8 nt + 2 t + j hold
 * channels wn 8 NT + 2 NT t + 2 nt + j, and a thread stores a pixel's bytes at once (8 or 4). */
template <int NT> __device__ __forceinline__ int pw_channel(int n)
{
    return (n / (8 * NT)) * (8 * NT) + 2 * NT * ((n & 7) >> 1) + 2 * ((n >> 3) % NT) + (n & 1);
}

/* Row stride (bytes) of a staged residual tile: a warp's reads of a pixel's 2 NT bytes a thread
 * (8-byte loads by half warps for NT 4, 4-byte loads for NT 2) fall in distinct banks. */
template <int NT> __host__ __device__ constexpr int pw_res_stride()
{
    return NT == 4 ? 32 * NT + 32 : 32 * NT + 16;
}

/* The channels' constants a block keeps in shared memory (by its channel c - n0): the integer
 * form of the requantisation (int_form: M, sh, KZ; BM) or the float multiplier and bias. */
constexpr int PW_CONST_BYTES = 16 + 8 + 4 + 4;

/* The shared memory of a block: the operand stages, the channels' constants and (fused QAdd)
 * one residual tile per stage (a tile's residual is staged with its first k step, PW_STAGES - 1
 * iterations ahead, while the two earlier tiles' may still be in use). */
__host__ __device__ constexpr size_t pw_smem_size(int nt, bool add)
{
    return (size_t)PW_STAGES * (size_t)(PW_BM + 32 * nt) * PW_BK +
           (size_t)(32 * nt) * PW_CONST_BYTES +
           (add ? (size_t)PW_STAGES * (size_t)PW_BM *
                      (size_t)(nt == 4 ? pw_res_stride<4>() : pw_res_stride<2>())
                : 0);
}

/* The fused QAdd by its integer form (tq_qk_add.use_i): F value of the kernel template. */
constexpr int PW_ADD_INT = 16;

/* The fused QAdd of the convolution's output value v (its stored value) and byte k of the
 * residual word rw (for PW_ADD_INT and an int8 residual XORed with 0x80808080 by the caller:
 * ic2 carries the -128 ib), as the output's byte in the low byte. F: PW_ADD_INT or the float forms and the
 * definition (TQ_QK_ADD_*), whose undecided bytes take qadd_slow_v. */
template <int F>
__device__ __forceinline__ uint32_t pw_add_one(const tq_qk_add &e, int32_t v, uint32_t rw, int k,
                                               int32_t ic2)
{
    if (F == PW_ADD_INT) {
        const int32_t b = (int32_t)__byte_perm(rw, 0u, 0x4440u | (uint32_t)k);
        return (uint32_t)min(max((e.ia * v + (e.ib * b + ic2)) >> e.ish, e.lo), e.hi);
    } else {
        constexpr int FA = F == PW_ADD_INT ? 0 : F; /* (instantiable) */
        const float q = __fsub_rn(__int_as_float(0x4B400000 + v), 12582912.0f);
        bool slow;
        const uint32_t y = pw_qadd<FA>(e, q, rw, k, &slow);
        if (!slow) {
            return y;
        }
        return qadd_slow_v(e, v, q8_of_byte((rw >> (8 * k)) & 0xffu, e.b_signed));
    }
}

/* How a kernel requantises: by the high-word form where every channel of the convolution has
 * one (checked on the host, tq_qk_conv.pw_nt; the sums start from the bias), requant_hi where
 * no channel can meet a tie, else requant_hi_tie; otherwise by the block's verdict on its
 * channels: the integer form (requant_int) or requant's float path (double where undecided). */
enum { PW_RQ_FLOAT = 0, PW_RQ_INT = 1, PW_RQ_HI = 2, PW_RQ_HI_TIE = 3 };

/* The epilogue of a tile: requantise the thread's sums in place (acc[mt][nt][q]: pixel
 * 16 mt + g + 8 (q / 2), channel cb + 2 nt + q % 2 of the block) as RQ (PW_RQ_*), then add
 * (F) and store each pixel's 2 NT bytes at once. */
template <int NT, int F, int RQ>
__device__ __forceinline__ void pw_epilogue(const tq_qk_conv &a, const tq_qk_add &e,
                                            int32_t (&acc)[4][NT][4],
                                            const unsigned char *cst, const unsigned char *rt,
                                            int cb, int g, int32_t mb, int32_t M, int n0,
                                            int32_t ic2)
{
    constexpr int CW = 2 * NT, BN = 32 * NT, RS = pw_res_stride<NT>();
    const uint4 *const cik = reinterpret_cast<const uint4 *>(cst);
    const int64_t *const cbm = reinterpret_cast<const int64_t *>(cst + 16 * BN);
    const float *const cms = reinterpret_cast<const float *>(cst + 24 * BN);
    const int32_t *const cbs = reinterpret_cast<const int32_t *>(cst + 28 * BN);
    const int32_t lo = a.o.lo, hi = a.o.hi;
#pragma unroll
    for (int i = 0; i < CW; i++) {
        uint4 c = make_uint4(0u, 0u, 0u, 0u);
        int64_t bm = 0;
        float mv = 0.0f;
        int32_t bv = 0;
        if (RQ != PW_RQ_FLOAT) {
            c = cik[cb + i];
            bm = cbm[cb + i];
        } else {
            mv = cms[cb + i];
            bv = cbs[cb + i];
        }
        const uint64_t kz = ((uint64_t)c.w << 32) | c.z;
        uint32_t tmask = 0u, tval = 1u;
        if (RQ == PW_RQ_HI_TIE) {
            hi_tie_consts(c, &tmask, &tval);
        }
#pragma unroll
        for (int mt = 0; mt < 4; mt++) {
#pragma unroll
            for (int h = 0; h < 2; h++) {
                int32_t &x = acc[mt][i >> 1][2 * h + (i & 1)];
                x = RQ == PW_RQ_HI       ? requant_hi(x, c, lo, hi)
                    : RQ == PW_RQ_HI_TIE ? requant_hi_tie(x, c, tmask, tval, a.o.y_zp, lo, hi)
                    : RQ == PW_RQ_INT    ? requant_int(x, c.x, c.y, kz, bm, lo, hi)
                                         : requant(a.o, (int64_t)x + bv, (double)mv);
            }
        }
    }
    unsigned char *const y = static_cast<unsigned char *>(F == PW_NOADD ? a.y : e.y);
    /* the integer form reads an int8 residual's bytes XORed with 0x80 (ic2) */
    const uint32_t rx = F == PW_ADD_INT && e.b_signed ? 0x80808080u : 0u;
#pragma unroll
    for (int mt = 0; mt < 4; mt++) {
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const int pix = 16 * mt + g + 8 * h;
            uint32_t rw[CW / 4], w[CW / 4];
            if (F != PW_NOADD) {
                if (CW == 8) {
                    const uint2 r2 = *reinterpret_cast<const uint2 *>(rt + pix * RS + cb);
                    rw[0] = r2.x ^ rx;
                    rw[CW / 4 - 1] = r2.y ^ rx;
                } else {
                    rw[0] = *reinterpret_cast<const uint32_t *>(rt + pix * RS + cb) ^ rx;
                }
            }
#pragma unroll
            for (int i = 0; i < CW; i++) {
                const int32_t v = acc[mt][i >> 1][2 * h + (i & 1)];
                const uint32_t o =
                    F == PW_NOADD ? (uint32_t)v : pw_add_one<F>(e, v, rw[i >> 2], i & 3, ic2);
                w[i >> 2] = (i & 3) == 0 ? o
                                         : __byte_perm(w[i >> 2], o,
                                                       (0x3210u & ~(0xfu << (4 * (i & 3)))) |
                                                           (4u << (4 * (i & 3))));
            }
            const int32_t m = mb + pix;
            if (m < M) {
                unsigned char *const p = y + (int64_t)m * a.k + n0 + cb;
                if (CW == 8) {
                    *reinterpret_cast<uint2 *>(p) = make_uint2(w[0], w[CW / 4 - 1]);
                } else {
                    *reinterpret_cast<uint32_t *>(p) = w[0];
                }
            }
        }
    }
}

/* NT: n8 tiles a warp (BN = 32 NT channels a block); F: the fused QAdd's arithmetic
 * (PW_ADD_INT, TQ_QK_ADD_*) or PW_NOADD. Persistent: block b keeps the channel tile b % n_tn
 * and walks the pixel tiles b / n_tn, + gridDim.x / n_tn, ...; its (tile, k step) iterations
 * form one cp.async pipeline, so that the next tile's operands (and residual) load while this
 * tile's epilogue runs. */
template <int NT, int F, int HM>
__global__ void __launch_bounds__(PW_THREADS, PW_BLOCKS_SM) qconv_pw_kernel(const tq_qk_conv a,
                                                                            const tq_qk_add e)
{
    constexpr int BN = 32 * NT;
    constexpr int CPR = BN / 16;                     /* 16-byte chunks of a residual row */
    constexpr int RJ = PW_BM * CPR / PW_THREADS;     /* residual chunks a thread stages: 4, 2 */
    constexpr int ROWS = PW_THREADS / 4;             /* staged rows a pass of the threads */
    constexpr int RS = pw_res_stride<NT>();
    constexpr int SA = PW_BM * PW_BK, SB = BN * PW_BK, TR = PW_BM * RS;
    constexpr int AR = PW_BM / ROWS, BR = BN / ROWS; /* rows a thread stages: 2, NT */
    extern __shared__ __align__(128) unsigned char pw_smem[];
    unsigned char *const sa = pw_smem;
    unsigned char *const sb = sa + PW_STAGES * SA;
    unsigned char *const cst = sb + PW_STAGES * SB;          /* channel constants */
    unsigned char *const rsm = cst + BN * PW_CONST_BYTES;    /* residual tiles (fused QAdd) */

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
            const int row = arow0 + ROWS * i;
            cp_async16(db + pw_swz(row, ach),
                       a.wt + (int64_t)(n0 + pw_channel<NT>(row)) * C + kt * PW_BK + ach * 16,
                       true);
        }
        if (F != PW_NOADD && kt == 0) {
            unsigned char *const rt = rsm + (ti % PW_STAGES) * TR;
#pragma unroll
            for (int j = 0; j < RJ; j++) {
                const int idx = tid + j * PW_THREADS, row = idx / CPR, c = idx % CPR;
                const int32_t m = mb + row;
                cp_async16(smem_addr(rt + row * RS + c * 16),
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

    /* the block's channel constants (HM: the high-word form, which the host found for all;
     * else the integer form and whether all have it; |x w| <= 2^14) */
    bool ok = true;
    for (int i = tid; i < BN; i += PW_THREADS) {
        const float mv = __ldg(a.o.mult + n0 + i);
        const int32_t bv = a.o.bias ? __ldg(a.o.bias + n0 + i) : 0;
        uint4 ik = make_uint4(0u, 0u, 0u, 0u);
        int64_t bm = 0;
        if (HM != 0) {
            (void)int_hi_form(mv, bv, a.o.y_zp, (int64_t)C * 16384, &ik);
        } else {
            ok = int_form(mv, bv, a.o.y_zp, (int64_t)C * 16384, &ik, &bm) && ok;
        }
        reinterpret_cast<uint4 *>(cst)[i] = ik;
        reinterpret_cast<int64_t *>(cst + 16 * BN)[i] = bm;
        reinterpret_cast<float *>(cst + 24 * BN)[i] = mv;
        reinterpret_cast<int32_t *>(cst + 28 * BN)[i] = bv;
    }
    const bool int_ok = __syncthreads_and(ok) != 0;
    /* the integer QAdd's offset for residual bytes XORed with 0x80 (int8): b = u - 128 */
    const int32_t ic2 = F == PW_ADD_INT ? e.ic - (e.b_signed ? 128 * e.ib : 0) : 0;
    const int cb = wn * 8 * NT + 2 * NT * t; /* the thread's first channel of the block */

    int32_t acc[4][NT][4];
    int kt = 0, ti = 0;
    for (int32_t it = 0; it < n_it; it++) {
        if (kt == 0) { /* the high-word form sums from the bias (exact: int_form's bound) */
            const int32_t *const cbs = reinterpret_cast<const int32_t *>(cst + 28 * BN);
#pragma unroll
            for (int nt = 0; nt < NT; nt++) {
                const int32_t b0 = HM ? cbs[cb + 2 * nt] : 0, b1 = HM ? cbs[cb + 2 * nt + 1] : 0;
#pragma unroll
                for (int mt = 0; mt < 4; mt++) {
#pragma unroll
                    for (int q = 0; q < 4; q++) {
                        acc[mt][nt][q] = (q & 1) ? b1 : b0;
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
        const int32_t mb = (tm0 + ti * per_n) * PW_BM;
        const unsigned char *const rt = rsm + (ti % PW_STAGES) * TR;
        if (HM == 1) { /* one epilogue in the kernel: no per-element test of the mode */
            pw_epilogue<NT, F, PW_RQ_HI>(a, e, acc, cst, rt, cb, g, mb, M, n0, ic2);
        } else if (HM == 2) {
            pw_epilogue<NT, F, PW_RQ_HI_TIE>(a, e, acc, cst, rt, cb, g, mb, M, n0, ic2);
        } else if (int_ok) {
            pw_epilogue<NT, F, PW_RQ_INT>(a, e, acc, cst, rt, cb, g, mb, M, n0, ic2);
        } else {
            pw_epilogue<NT, F, PW_RQ_FLOAT>(a, e, acc, cst, rt, cb, g, mb, M, n0, ic2);
        }
        kt = 0;
        ti++;
    }
    cp_async_wait<0>();
}

typedef void (*pw_fn)(const tq_qk_conv, const tq_qk_add);

/* The kernel for arithmetic `form` and requantisation hm (tq_qk_conv.pw_nt: 0 the blocks'
 * verdicts, 1 requant_hi, 2 requant_hi_tie); the high-word variants exist for the common
 * forms only (no QAdd, the QAdd's integer form), the others take the blocks' verdicts. */
template <int NT> pw_fn pw_kernel_for(int form, int hm)
{
    switch (form) {
    case PW_NOADD:
        return hm == 1   ? qconv_pw_kernel<NT, PW_NOADD, 1>
               : hm == 2 ? qconv_pw_kernel<NT, PW_NOADD, 2>
                         : qconv_pw_kernel<NT, PW_NOADD, 0>;
    case PW_ADD_INT:
        return hm == 1   ? qconv_pw_kernel<NT, PW_ADD_INT, 1>
               : hm == 2 ? qconv_pw_kernel<NT, PW_ADD_INT, 2>
                         : qconv_pw_kernel<NT, PW_ADD_INT, 0>;
    case TQ_QK_ADD_F32:
        return qconv_pw_kernel<NT, TQ_QK_ADD_F32, 0>;
    case TQ_QK_ADD_F32_CHECKED:
        return qconv_pw_kernel<NT, TQ_QK_ADD_F32_CHECKED, 0>;
    default:
        return qconv_pw_kernel<NT, TQ_QK_ADD_DEF, 0>;
    }
}

bool pw_aligned(const void *p)
{
    return ((uintptr_t)p % 16) == 0;
}

} // namespace

extern "C" int tq_qk_conv_pw_setup(tq_qk_conv *a, const float *mult, const int32_t *bias)
{
    a->pw = 0;
    a->pw_nt = 0;
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
    /* the high-word epilogues where every channel has that form (int_hi_form, with the
     * kernel's bound |x w| <= 2^14): 1 where no channel can meet a tie, else 2 */
    int32_t nt = mult ? 1 : 0;
    for (int64_t c = 0; nt && c < a->k; c++) {
        uint4 hf;
        nt = !int_hi_form(mult[c], bias ? bias[c] : 0, a->o.y_zp, a->c * 16384, &hf) ? 0
             : hf.w < 32                                                          ? 2
                                                                                  : nt;
    }
    a->pw_nt = nt;
    return 1;
}

extern "C" int64_t tq_qk_conv_pw_hi_miss(const tq_qk_conv *a, const float *mult,
                                         const int32_t *bias)
{
    for (int64_t c = 0; c < a->k; c++) {
        uint4 hf;
        if (!int_hi_form(mult[c], bias ? bias[c] : 0, a->o.y_zp, a->c * 16384, &hf)) {
            return c;
        }
    }
    return -1;
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
    const int form = add ? (add->use_i ? PW_ADD_INT : add->form) : PW_NOADD;
    const pw_fn fn = nt == 4 ? pw_kernel_for<4>(form, a->pw_nt) : pw_kernel_for<2>(form, a->pw_nt);
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
