/* qconv_dev.cuh: device helpers of our integer kernels (qconv_direct.cu, qconv_pw.cu): the
 * reference's requantisation (requant), QAdd's arithmetic on 16 packed bytes (qadd_16) and the
 * tensor cores' int8 mma (sm_80 and later). Device code only, included by .cu files; the
 * functions are inline, in namespace tq_qdev. */
#ifndef TQ_CUDA_QCONV_DEV_CUH
#define TQ_CUDA_QCONV_DEV_CUH

#include <cuda_runtime.h>
#include <stdint.h>
#include <string.h>

#include "backends/cuda/qconv.h"

namespace tq_qdev {

__device__ __forceinline__ int32_t sat32(int64_t v)
{
    return v > INT32_MAX ? INT32_MAX : (v < INT32_MIN ? INT32_MIN : (int32_t)v);
}

/* requant's float path for a = sat32(acc), its constants converted by the caller (once per
 * channel or block where it can: conversions run at a fraction of the float rate): mf the
 * multiplier, zpf, lof, hif the zero point and bounds. Where the float product provably rounds
 * as the reference's double product (below), returns true with *q the output value (an integer
 * in [lo, hi], as a float); false where the double path (requant_slow) must decide.
 * a is exact as a float (made from its bits: |a| < 2^22), p = a * m is the real product x
 * within 2^-24 |x|, r = p rounded to an integer (adding 1.5 * 2^23: nearest even). When
 * |p - r| < 1/2 - |p| 2^-21 (computed in float, off by at most 2^-26), x and the reference's
 * double product (within 2^-53 |x| of x) lie in (r - 1/2, r + 1/2) for |p| > 0.04, and for
 * smaller |p| r is 0 and so is the rounding of |x| < 0.05: both round to r. Near ties and
 * |p| >= 2^21 take the double path. */
__device__ __forceinline__ bool requant_fast(int32_t a, float mf, float zpf, float lof, float hif,
                                             float *q)
{
    /* branch-free, so that a caller's unrolled elements interleave; out of range, the bits
     * below are meaningless and the result is false */
    const float magic = 12582912.0f;
    const float af = __fsub_rn(__int_as_float((int32_t)(0x4B400000u + (uint32_t)a)), magic);
    const float p = __fmul_rn(af, mf);
    const float ap = fabsf(p);
    const float r = __fsub_rn(__fadd_rn(p, magic), magic);
    *q = fminf(fmaxf(__fadd_rn(r, zpf), lof), hif);
    return a > -(1 << 22) && a < (1 << 22) && ap < 2097152.0f &&
           fabsf(__fsub_rn(p, r)) < __fsub_rn(0.5f, __fmul_rn(ap, 4.76837158203125e-7f));
}

/* The reference's requantisation of a = sat32(acc) in double: rint((double)a * m) + zp,
 * clamped to [lo, hi]. */
__device__ __forceinline__ int32_t requant_slow(const tq_qk_out &o, int32_t a, double m)
{
    double v = rint(__dmul_rn((double)a, m)) + (double)o.y_zp;
    v = v < (double)o.lo ? (double)o.lo : v;
    v = v > (double)o.hi ? (double)o.hi : v;
    return (int32_t)v;
}

/* The requantised output of the exact sum `acc` with the multiplier m = (double)o.mult[c], as an
 * int32 in [lo, hi]: its low byte is the int8 or uint8 output. */
__device__ __forceinline__ int32_t requant(const tq_qk_out &o, int64_t acc, double m)
{
    const int32_t a = sat32(acc);
    float q;
    if (requant_fast(a, (float)m, (float)o.y_zp, (float)o.lo, (float)o.hi, &q)) {
        return __float_as_int(__fadd_rn(q, 12582912.0f)) - 0x4B400000;
    }
    return requant_slow(o, a, m);
}

/* The integer form of requant (above) for the multiplier mv, zero point zp and sums
 * a = acc + bias with |a| < 2^29: mv = M 2^-s exactly (M < 2^31, 32 <= s <= 54; sh = s - 32),
 * and requant(a) = clamp(q), q = ((t + KZ + b) >> s) with t = acc M + BM, BM = bias M,
 * KZ = 2^(s-1) - 1 + zp 2^s, b = bit s of t (the floor's parity: ties go to even). Equal to the
 * reference's rint((double)a * mv) + zp:
 * |a M24| < 2^53 (M24 the 24-bit mantissa), so the double product is exact, and the integer
 * rounding is exact. False where mv is not a positive normal float below 2^-1 and at least
 * 2^-31, or 0 (then M 0), or |bias| + accmax reaches 2^29. */
__host__ __device__ __forceinline__ bool int_form(float mv, int32_t bv, int32_t zp,
                                                     int64_t accmax, uint4 *ik, int64_t *bm)
{
    uint32_t bits;
    memcpy(&bits, &mv, sizeof(bits));
    const int e = (int)((bits >> 23) & 0xffu);
    uint32_t mm = 0;
    int s = 32;
    if (bits != 0) {
        if ((bits >> 31) != 0 || e == 0 || e == 255) {
            return false;
        }
        mm = (bits & 0x7fffffu) | 0x800000u;
        s = 150 - e;
        if (s < 32) {
            if (32 - s > 7) {
                return false;
            }
            mm <<= 32 - s;
            s = 32;
        }
        if (s > 54) {
            return false;
        }
    }
    if ((bv < 0 ? -(int64_t)bv : (int64_t)bv) + accmax >= ((int64_t)1 << 29)) {
        return false;
    }
    const int64_t kz = (((int64_t)1 << (s - 1)) - 1) + (int64_t)zp * ((int64_t)1 << s);
    *ik = make_uint4(mm, (uint32_t)(s - 32), (uint32_t)(uint64_t)kz,
                     (uint32_t)((uint64_t)kz >> 32));
    *bm = (int64_t)bv * (int64_t)mm;
    return true;
}

/* a * b + c, a and b int32, c and the result int64: one instruction (mad.wide.s32) */
__device__ __forceinline__ int64_t mad_wide(int32_t a, int32_t b, int64_t c)
{
    int64_t d;
    asm("mad.wide.s32 %0, %1, %2, %3;" : "=l"(d) : "r"(a), "r"(b), "l"(c));
    return d;
}

/* requant by the integer form (int_form: m = M, sh = s - 32, kz = KZ, bm = BM) of the sum
 * acc (its bias in BM), clamped to [lo, hi]: some 7 integer instructions. */
__device__ __forceinline__ int32_t requant_int(int32_t acc, uint32_t m, uint32_t sh, uint64_t kz,
                                               int64_t bm, int32_t lo, int32_t hi)
{
    const int64_t t = mad_wide(acc, (int32_t)m, bm);
    const uint32_t odd = ((uint32_t)((uint64_t)t >> 32) >> sh) & 1u;
    const uint64_t u = (uint64_t)t + kz + odd;
    return min(max((int32_t)(u >> 32) >> sh, lo), hi);
}

/* The high-word form of requant: with the sum a = acc + bias (the caller starts its
 * accumulation from the bias), q = (hi32(a M) + H) >> sh, hi32 the high word of the 64-bit
 * product (mul.hi: a floor), M, sh = s - 32 >= 1 the integer form's multiplier (int_form:
 * mv = M 2^-s; M shifted left and s raised to 33 where s < 33 and M allows, M < 2^31) and
 * H = 2^(sh-1) + zp 2^sh: then a M + H 2^32 = a M + 2^(s-1) + zp 2^s, whose floor over 2^s is
 * a mv rounded half up, plus zp. That is the reference's rounding (half to even) except at
 * ties, a mv = x.5 exactly: a M = 2^(s-1) times an odd number, i.e. v2(a) = need = s - 1 -
 * v2(M), possible only where 2^need <= |a| <= amax (the sums' bound, with the bias). *hf =
 * {M, sh, H, need}, need = 32 where no tie can occur (requant_hi), else below 29
 * (requant_hi_tie). False where int_form fails, s cannot reach 33 or H leaves int32. */
__host__ __device__ __forceinline__ bool int_hi_form(float mv, int32_t bv, int32_t zp,
                                                     int64_t accmax, uint4 *hf)
{
    uint4 ik;
    int64_t bm;
    if (!int_form(mv, bv, zp, accmax, &ik, &bm)) {
        return false;
    }
    uint32_t m = ik.x;
    int s = 32 + (int)ik.y;
    while (s < 33) {
        if (m >= 0x40000000u) {
            return false;
        }
        m <<= 1;
        s++;
    }
    const int sh = s - 32;
    const int64_t h = ((int64_t)1 << (sh - 1)) + (int64_t)zp * ((int64_t)1 << sh);
    if (h > INT32_MAX || h < INT32_MIN) {
        return false;
    }
    int need = 32; /* no tie */
    if (m != 0) {
        int v2 = 0; /* trailing zero bits of M */
        while (((m >> v2) & 1u) == 0) {
            v2++;
        }
        const int64_t amax = accmax + (bv < 0 ? -(int64_t)bv : (int64_t)bv); /* < 2^29 */
        if (s - 1 - v2 < 29 && ((int64_t)1 << (s - 1 - v2)) <= amax) {
            need = s - 1 - v2;
        }
    }
    *hf = make_uint4(m, (uint32_t)sh, (uint32_t)(int32_t)h, (uint32_t)need);
    return true;
}

/* requant by the high-word form (int_hi_form: hf.x = M, hf.y = sh, hf.z = H) of a = acc +
 * bias for a channel without ties (hf.w = 32): a mul.hi with H added, a shift, the clamp. */
__device__ __forceinline__ int32_t requant_hi(int32_t a, const uint4 &hf, int32_t lo, int32_t hi)
{
    int32_t d;
    asm("mad.hi.s32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"((int32_t)hf.x), "r"((int32_t)hf.z));
    return min(max(d >> hf.y, lo), hi);
}

/* The same where ties can occur: a tie (a & tmask) == tval (tmask = 2^(need+1) - 1, tval =
 * 2^need; 0 and 1 for a channel without ties) rounded up to an odd a mv rounding is taken one
 * down, to the even neighbour: the odd test is on q - zp, i.e. (q ^ zp) & 1. */
__device__ __forceinline__ int32_t requant_hi_tie(int32_t a, const uint4 &hf, uint32_t tmask,
                                                  uint32_t tval, int32_t zp, int32_t lo,
                                                  int32_t hi)
{
    int32_t d;
    asm("mad.hi.s32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"((int32_t)hf.x), "r"((int32_t)hf.z));
    d >>= hf.y;
    d -= ((uint32_t)a & tmask) == tval ? (d ^ zp) & 1 : 0;
    return min(max(d, lo), hi);
}

/* requant_hi_tie's tie test constants of hf (int_hi_form) */
__device__ __forceinline__ void hi_tie_consts(const uint4 &hf, uint32_t *tmask, uint32_t *tval)
{
    *tmask = hf.w < 32 ? (2u << hf.w) - 1u : 0u;
    *tval = hf.w < 32 ? 1u << hf.w : 1u;
}

/* One output value of QAdd (the reference's order of double operations), av and bv with zero
 * points subtracted; returned as the output's byte. */
__device__ __forceinline__ uint32_t qadd_one(const tq_qk_add &a, int32_t av, int32_t bv)
{
    const double s = __dadd_rn(__dmul_rn(a.as, (double)av), __dmul_rn(a.bs, (double)bv));
    double v = rint(__ddiv_rn(s, a.ys)) + (double)a.y_zp;
    v = v < (double)a.lo ? (double)a.lo : (v > (double)a.hi ? (double)a.hi : v);
    return (uint32_t)(int32_t)v & 0xffu;
}

__device__ __forceinline__ int32_t q8_of_byte(uint32_t byte, int32_t is_signed)
{
    return is_signed ? (int32_t)(int8_t)(uint8_t)byte : (int32_t)byte;
}

/* The exact float of stored byte k of word x (its int8 or uint8 value; for int8 the word was
 * first XORed with 0x80808080) without a conversion instruction (those run at a quarter of the
 * float rate): one byte permute builds the bits of 2^23 + byte, minus 2^23 (+ 128 for int8). */
__device__ __forceinline__ float q8_float(uint32_t x, int k, float sub)
{
    return __fsub_rn(__uint_as_float(__byte_perm(x, 0x4B000000u, 0x7440u | (uint32_t)k)), sub);
}

/* QAdd's output by the exact double arithmetic, from the stored values av and bv: the
 * division-free form (use_dm: fma(dka, a, fma(dkb, b, dc0)) on the stored values, equal to the
 * definition on every byte pair) where it exists, else the definition; in the low byte. */
__device__ __forceinline__ uint32_t qadd_slow_v(const tq_qk_add &a, int32_t av, int32_t bv)
{
    if (a.use_dm) {
        double v = rint(__fma_rn(a.dka, (double)av, __fma_rn(a.dkb, (double)bv, a.dc0))) +
                   (double)a.y_zp;
        v = v < (double)a.lo ? (double)a.lo : (v > (double)a.hi ? (double)a.hi : v);
        return (uint32_t)(int32_t)v & 0xffu;
    }
    return qadd_one(a, av - a.a_zp, bv - a.b_zp);
}

/* The same for byte k of the stored words wa and wb. */
__device__ __forceinline__ uint32_t qadd_slow(const tq_qk_add &a, uint32_t wa, uint32_t wb, int k)
{
    return qadd_slow_v(a, q8_of_byte((wa >> (8 * k)) & 0xffu, a.a_signed),
                       q8_of_byte((wb >> (8 * k)) & 0xffu, a.b_signed));
}

/* The float forms (F TQ_QK_ADD_F32 or _F32_CHECKED) of the four bytes of the words wa and wb,
 * packed; the float forms round by adding 1.5 * 2^23 (round to nearest even, as nearbyintf:
 * |v| < 2^22 after clamping), and the byte of r + y_zp is the low byte of that sum plus y_zp.
 * For the checked form, bit k of *need (shifted by `at`) is set where byte k is near a tie and
 * must come from qadd_slow instead. */
template <int F>
__device__ __forceinline__ uint32_t qadd_word_f(const tq_qk_add &a, uint32_t wa, uint32_t wb,
                                               uint32_t *need, int at)
{
    /* int8 operands XORed with 0x80808080 for q8_float */
    const uint32_t xa = a.a_signed ? wa ^ 0x80808080u : wa;
    const uint32_t xb = a.b_signed ? wb ^ 0x80808080u : wb;
    const float sub_a = a.a_signed ? 8388736.0f : 8388608.0f;
    const float sub_b = a.b_signed ? 8388736.0f : 8388608.0f;
    const float magic = 12582912.0f;
    uint32_t r[4];
#pragma unroll
    for (int k = 0; k < 4; k++) {
        float v = __fmaf_rn(a.ka, q8_float(xa, k, sub_a),
                            __fmaf_rn(a.kb, q8_float(xb, k, sub_b), a.c0));
        v = fminf(fmaxf(v, a.vlo), a.vhi);
        const float t = __fadd_rn(v, magic);
        if (F == TQ_QK_ADD_F32_CHECKED && !(fabsf(__fsub_rn(v, __fsub_rn(t, magic))) < a.fh_tie)) {
            *need |= 1u << (at + k);
        }
        r[k] = __float_as_uint(__fadd_rn(t, a.fyz));
    }
    return __byte_perm(__byte_perm(r[0], r[1], 0x0040u), __byte_perm(r[2], r[3], 0x0040u),
                       0x5410u);
}

__device__ __forceinline__ uint32_t u4_word(const uint4 &v, int w)
{
    return w == 0 ? v.x : (w == 1 ? v.y : (w == 2 ? v.z : v.w));
}

/* QAdd of 16 packed elements in arithmetic F (TQ_QK_ADD_*): the float form for all, then the
 * bytes it cannot give (near ties of the checked form; all for the definition) from
 * qadd_slow, one at a time, so that a warp pays the slow path about once per vector rather
 * than once per byte position some lane needs it. */
template <int F> __device__ __forceinline__ uint4 qadd_16(const tq_qk_add &a, uint4 va, uint4 vb)
{
    uint4 y = make_uint4(0, 0, 0, 0);
    uint32_t need = F == TQ_QK_ADD_DEF ? 0xffffu : 0u;
    if (F != TQ_QK_ADD_DEF) {
        y.x = qadd_word_f<F>(a, va.x, vb.x, &need, 0);
        y.y = qadd_word_f<F>(a, va.y, vb.y, &need, 4);
        y.z = qadd_word_f<F>(a, va.z, vb.z, &need, 8);
        y.w = qadd_word_f<F>(a, va.w, vb.w, &need, 12);
    }
    while (F != TQ_QK_ADD_F32 && need) {
        const int i = __ffs((int)need) - 1, w = i >> 2, k = i & 3;
        need &= need - 1;
        const uint32_t b = qadd_slow(a, u4_word(va, w), u4_word(vb, w), k);
        /* byte k of word w replaced by b's low byte */
        const uint32_t sel = (0x3210u & ~(0xFu << (4 * k))) | (4u << (4 * k));
        if (w == 0) {
            y.x = __byte_perm(y.x, b, sel);
        } else if (w == 1) {
            y.y = __byte_perm(y.y, b, sel);
        } else if (w == 2) {
            y.z = __byte_perm(y.z, b, sel);
        } else {
            y.w = __byte_perm(y.w, b, sel);
        }
    }
    return y;
}

/* c += a (16x32 int8, row) x b (32x8 int8, col): one mma.sync m16n8k32 s8 x s8 -> s32, fragments
 * as the PTX ISA lays them out (a0/a2 row g, a1/a3 row g + 8; b0/b1 column g). */
__device__ __forceinline__ void mma_s8(int32_t *c, const uint32_t *a, uint32_t b0, uint32_t b1)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, "
                 "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
    (void)c;
    (void)a;
    (void)b0;
    (void)b1;
    __trap(); /* never launched below sm_80 (the setups check the device) */
#endif
}

} // namespace tq_qdev

#endif
