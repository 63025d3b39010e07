/* qconv.h: our integer kernels of the CUDA backend (qconv_direct.cu), used by qconv.c for
 * tfmq.QConv, tfmq.QGemm and tfmq.QAdd (backends/ref/qlinear.h). Plain C types only: included by
 * C and CUDA code. Launchers only enqueue on `stream` and return a cudaError_t as int
 * (0 = cudaSuccess); qconv.c turns it into a status naming the node.
 *
 * Numerics: bit-exact to backends/ref/qlinear.c. Products and sums are exact integers (int32
 * where the caller proved no overflow, int64 otherwise), the accumulator is saturated to int32
 * after the bias is added, and the requantisation is rint((double)acc * (double)m[c]) with IEEE
 * double multiplication (__dmul_rn: no contraction), exactly as the reference; QAdd evaluates
 * (as * a + bs * b) / ys in double with explicitly rounded operations in the reference's order. */
#ifndef TQ_CUDA_QCONV_H
#define TQ_CUDA_QCONV_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TQ_QK_MAX_RANK 8

/* Requantisation of one output: y = clamp(rint((double)sat32(acc) * m[c]) + y_zp, lo, hi). */
typedef struct tq_qk_out {
    int32_t y_signed;        /* 1: int8 output, 0: uint8 */
    int32_t y_zp, lo, hi;
    const float *mult;       /* device, one per output channel */
    const int32_t *bias;     /* device, one per output channel, or NULL */
} tq_qk_out;

/* The tiled kernel for few input channels (the stem: C = 3, 7x7), set up by
 * tq_qk_conv_tiled_setup. A block stages the weights of kb output channels (words of 4 bytes
 * along (s, c), zero-padded: [r][j][k]) and, per tile of th x tw output pixels of one image, the
 * input windows the tile reads ([row][j][column], one word list per output column: an im2col
 * along s only) in shared memory; a thread accumulates 8 channels x 4 neighbouring pixels with
 * __dp4a, or (mma) a warp 32 pixels x 32 channels with mma.sync on the tensor cores. Blocks are
 * persistent (grid-stride over the tiles, k tile outermost). */
typedef struct tq_qk_tiled {
    int32_t on;              /* 1: tq_qk_conv_direct runs the tiled kernel */
    int32_t tw, th;          /* output tile: th rows x tw columns, th * tw = 128 */
    int32_t kb;              /* output channels per block: multiple of 8, <= 128 */
    int32_t n_kt;            /* k tiles: ceil(k / kb) */
    int32_t scw;             /* words per kernel row: ceil(s * c / 4) */
    int32_t xr;              /* staged input rows: (th - 1) * stride_h + (r - 1) * dil_h + 1 */
    int32_t twp;             /* words between staged rows (>= tw, padded against bank conflicts) */
    int32_t smem_bytes;      /* dynamic shared memory per block */
    int32_t n_tiles, grid;
    int32_t mma;             /* 1: the tensor-core variant (sm_80+, kb % 32 == 0, twp % 16 == 8) */
} tq_qk_tiled;

/* y[n][oh][ow][k] (NHWC) = requant(sum (x - x_zp) * (w[k] - w_zp[k]) + bias[k]); x NHWC int8 or
 * uint8, w KRSC int8 ([k][r][s][cg]); w_zp device int32 per output channel or NULL (all 0).
 * Padding contributes 0 (in the x - x_zp domain, as the reference). fast: the caller checked
 * x int8, x_zp 0, w_zp NULL, cg * r * s <= 65536 (int32 sums cannot overflow). tiled: zeroed
 * by the caller, then filled by tq_qk_conv_tiled_setup. */
typedef struct tq_qk_conv {
    int64_t n, c, h, w;
    int64_t k, oh, ow;
    int64_t r, s;
    int64_t stride_h, stride_w, dil_h, dil_w, pad_t, pad_l;
    int64_t cg, mg;
    int32_t x_signed, x_zp;
    int32_t fast;
    const void *x;
    const int8_t *wt;
    const int32_t *w_zp;
    void *y;
    tq_qk_out o;
    tq_qk_tiled tiled;
    int32_t pw;              /* tq_qk_conv_pw_setup: n8 tiles a warp (4: 128 channels a block,
                                2: 64) of the pointwise tensor-core kernel; 0: not used */
    int32_t pw_nt;           /* tq_qk_conv_pw_setup: where every channel has the high-word
                                form of the requantisation (qconv_dev.cuh, int_hi_form), 1
                                (no channel can meet a tie) or 2; else 0 */
} tq_qk_conv;
/* Runs the tiled, pointwise, depthwise or general kernel, whichever the setups chose. */
int tq_qk_conv_direct(const tq_qk_conv *a, void *stream);

/* The depthwise kernel tq_qk_conv_direct runs for `a` where it applies (cg == mg == 1, k == c,
 * 3x3 or 5x5, dilation 1, stride_w 1 or 2, int32 indices, the tiled kernel off, c a multiple
 * of its vector and x, wt, y aligned to it): a thread computes a vector of 8 or 4 channels
 * (3x3; 5x5: 4) of 4 or 2 neighbouring output columns, bit-exact to the generic kernel.
 * Returns its vector width in bytes (8 or 4), or 0 where another kernel runs. */
int tq_qk_conv_dw_bytes(const tq_qk_conv *a);

/* Plan the tiled kernel for `a` (shape and requantisation set, pointers not needed) on the
 * current device: returns 1 and fills a->tiled when it applies (fast, groups 1, c <= 4,
 * s * c <= 64, r <= 16, its shared memory fits the device), else 0 with a->tiled.on = 0. */
int tq_qk_conv_tiled_setup(tq_qk_conv *a);

/* The pointwise kernel (qconv_pw.cu): 1x1 convolutions (any stride, no padding read, groups 1)
 * with `fast` set (int8 x, zero points 0), c and k multiples of 64, every |bias| < 2^30 (the
 * caller checks: sums and bias are added in int32), on sm_80 and later: an
 * implicit GEMM on the tensor cores (mma.sync s8), requantised as the reference, bit-exact to
 * the general kernel. Setup (shape and device; TFMQ_CUDA_QCONV_PW=0: off) returns 1 and sets
 * a->pw where it applies, else 0; from the host copies of the multipliers and bias (k each;
 * bias NULL: 0) it sets a->pw_nt. */
int tq_qk_conv_pw_setup(tq_qk_conv *a, const float *mult, const int32_t *bias);
/* The first output channel without the high-word form (its multiplier 2^-2 or more, or no
 * integer form: qconv_dev.cuh, int_hi_form), or -1 where every channel has it (then pw_nt). */
int64_t tq_qk_conv_pw_hi_miss(const tq_qk_conv *a, const float *mult, const int32_t *bias);
typedef struct tq_qk_add tq_qk_add;
/* Launch it (a->pw set; x, wt, y or add's pointers 16-byte aligned). add != NULL fuses the QAdd
 * that consumes the convolution's output: its operand a is the convolution's output (never
 * stored), b the residual (add->b, NHWC, the output's shape), and the sum goes to add->y; `add`
 * as tq_qk_add_launch takes it for same-shape operands (form set, rank and strides unused). */
int tq_qk_conv_pw(const tq_qk_conv *a, const tq_qk_add *add, void *stream);

/* QGemm: y[i][j] = requant(sum_k (x[i][k] - x_zp) * (w[j][k] - w_zp[j]) + bias[j]) for rows
 * i < m, j < n_out, reduction length kk <= 65536 (int32 partial sums cannot overflow). */
typedef struct tq_qk_gemm {
    int64_t m, n_out, kk;
    int32_t x_signed, x_zp;
    const void *x;
    const int8_t *w;
    const int32_t *w_zp;
    void *y;
    tq_qk_out o;
} tq_qk_gemm;
int tq_qk_gemm_launch(const tq_qk_gemm *a, void *stream);

/* QAdd: y = clamp(rint((as * (a - a_zp) + bs * (b - b_zp)) / ys) + y_zp, lo, hi) over y's
 * memory order (merged dims, strides 0 along broadcast dims). vec16: the caller found a, b and
 * y the same contiguous shape (rank 1, strides 1) with n % 16 == 0; where all three pointers
 * are 16-byte aligned a thread then does 16 elements with one 16-byte load per operand and one
 * store (else the strided kernel runs). */
struct tq_qk_add {
    int32_t rank;
    int32_t vec16;
    int64_t n;
    int64_t dims[TQ_QK_MAX_RANK];
    int64_t stride_a[TQ_QK_MAX_RANK], stride_b[TQ_QK_MAX_RANK];
    int32_t a_signed, b_signed, y_signed;
    int32_t a_zp, b_zp, y_zp, lo, hi;
    double as, bs, ys;
    /* the 16-element path's arithmetic: TQ_QK_ADD_DEF the definition above, in double with its
     * division; TQ_QK_ADD_F32 the float form of backends/ref/qlinear.h (tq_ql_add_form, use_f):
     * round(fma(ka, a, fma(kb, b, c0))) on the stored values, clamped to [vlo, vhi], + y_zp;
     * TQ_QK_ADD_F32_CHECKED that form where |v - round(v)| < fh_tie, the definition elsewhere
     * (use_fh). Each equals the definition on every byte pair (checked when planned). */
    int32_t form;
    float ka, kb, c0, vlo, vhi, fyz, fh_tie;
    /* the bytes the float form does not give (near ties; all for TQ_QK_ADD_DEF): use_dm, the
     * division-free double form of tq_ql_add_form, round(fma(dka, a, fma(dkb, b, dc0))) +
     * y_zp on the stored values, where it equals the definition; else the definition */
    int32_t use_dm;
    double dka, dkb, dc0;
    /* tq_ql_add_form's integer form, where one exists: clamp((ia * a + ib * b + ic) >> ish,
     * lo, hi) on the stored values; the pointwise kernel's fused QAdd takes it before the
     * float forms */
    int32_t use_i, ia, ib, ic, ish;
    const void *a, *b;
    void *y;
};
enum { TQ_QK_ADD_DEF = 0, TQ_QK_ADD_F32 = 1, TQ_QK_ADD_F32_CHECKED = 2 };
int tq_qk_add_launch(const tq_qk_add *a, void *stream);

#ifdef __cplusplus
}
#endif

#endif
