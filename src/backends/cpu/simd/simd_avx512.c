/* simd_avx512.c: the AVX-512 (F/BW/DQ/VL) row kernels of the SIMD family: the vector
 * abstraction of simd_vec_impl.h over 512-bit registers (16 floats, 8 doubles, 64 bytes), tails
 * through lane masks. Called only when tq_cpu_isa_level() (p->isa) is at least AVX512. */
#include <immintrin.h>
#include <math.h>

#include "backends/cpu/simd/simd.h"

#define TQ_VL 16 /* floats (and int32) per vector */
#define TQ_VB 64 /* bytes per byte vector */

typedef __m512 vf;
typedef __m512d vd;
typedef __m512i vi;
typedef __m512i vb;

/* masks of the first n lanes, 0 < n <= lanes */
static inline __mmask16 m16(size_t n)
{
    const uint32_t m = n >= 16 ? 0xFFFFu : (1u << n) - 1u;
    return (__mmask16)m;
}

static inline __mmask64 m64(size_t n)
{
    const uint64_t m = n >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << n) - 1u;
    return (__mmask64)m;
}

/* ---- floats ---- */
static inline vf vf_load(const float *p)
{
    return _mm512_loadu_ps(p);
}

static inline vf vf_loadn(const float *p, size_t n, float fill)
{
    return _mm512_mask_loadu_ps(_mm512_set1_ps(fill), m16(n), p);
}

static inline void vf_store(float *p, vf v)
{
    _mm512_storeu_ps(p, v);
}

static inline void vf_storen(float *p, vf v, size_t n)
{
    _mm512_mask_storeu_ps(p, m16(n), v);
}

static inline vf vf_set1(float a)
{
    return _mm512_set1_ps(a);
}

static inline vf vf_add(vf a, vf b)
{
    return _mm512_add_ps(a, b);
}

static inline vf vf_sub(vf a, vf b)
{
    return _mm512_sub_ps(a, b);
}

static inline vf vf_mul(vf a, vf b)
{
    return _mm512_mul_ps(a, b);
}

static inline vf vf_div(vf a, vf b)
{
    return _mm512_div_ps(a, b);
}

static inline vf vf_fmadd(vf a, vf b, vf c)
{
    return _mm512_fmadd_ps(a, b, c);
}

static inline vf vf_max(vf a, vf b)
{
    return _mm512_max_ps(a, b); /* a > b ? a : b */
}

static inline vf vf_min(vf a, vf b)
{
    return _mm512_min_ps(a, b); /* a < b ? a : b */
}

static inline vf vf_sel_lt(vf a, vf b, vf t, vf f)
{
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_LT_OQ), f, t);
}

static inline vf vf_sel_nan(vf x, vf t, vf f)
{
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), f, t);
}

static inline vf vf_round(vf v)
{
    return _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

static inline vf vf_abs(vf v)
{
    return _mm512_abs_ps(v);
}

static inline bool vf_any_ge(vf a, vf b)
{
    return _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ) != 0;
}

static inline vf vf_pow2i(vf k)
{
    __m512i e = _mm512_add_epi32(_mm512_cvtps_epi32(k), _mm512_set1_epi32(127));
    return _mm512_castsi512_ps(_mm512_slli_epi32(e, 23));
}

static inline float vf_hmax(vf v)
{
    return _mm512_reduce_max_ps(v);
}

/* ---- doubles ---- */
static inline vd vd_set1(double a)
{
    return _mm512_set1_pd(a);
}

static inline vd vd_add(vd a, vd b)
{
    return _mm512_add_pd(a, b);
}

static inline vd vd_sub(vd a, vd b)
{
    return _mm512_sub_pd(a, b);
}

static inline vd vd_mul(vd a, vd b)
{
    return _mm512_mul_pd(a, b);
}

static inline vd vd_div(vd a, vd b)
{
    return _mm512_div_pd(a, b);
}

static inline vd vd_fmadd(vd a, vd b, vd c)
{
    return _mm512_fmadd_pd(a, b, c);
}

static inline vd vd_max(vd a, vd b)
{
    return _mm512_max_pd(a, b);
}

static inline vd vd_min(vd a, vd b)
{
    return _mm512_min_pd(a, b);
}

static inline vd vd_sel_lt(vd a, vd b, vd t, vd f)
{
    return _mm512_mask_blend_pd(_mm512_cmp_pd_mask(a, b, _CMP_LT_OQ), f, t);
}

static inline vd vd_sel_nan(vd x, vd t, vd f)
{
    return _mm512_mask_blend_pd(_mm512_cmp_pd_mask(x, x, _CMP_UNORD_Q), f, t);
}

static inline vd vd_round(vd v)
{
    return _mm512_roundscale_pd(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

static inline vd vd_abs(vd v)
{
    return _mm512_abs_pd(v);
}

/* |mag| with the sign of s */
static inline vd vd_copysign(vd mag, vd s)
{
    const __m512i sign = _mm512_set1_epi64((long long)0x8000000000000000ull);
    __m512i m = _mm512_andnot_si512(sign, _mm512_castpd_si512(mag));
    __m512i g = _mm512_and_si512(sign, _mm512_castpd_si512(s));
    return _mm512_castsi512_pd(_mm512_or_si512(m, g));
}

/* 2^k for integral k in [-1022, 1023] */
static inline vd vd_pow2i(vd k)
{
    __m512i e = _mm512_cvtepi32_epi64(_mm512_cvtpd_epi32(k));
    e = _mm512_add_epi64(e, _mm512_set1_epi64(1023));
    return _mm512_castsi512_pd(_mm512_slli_epi64(e, 52));
}

static inline double vd_hsum(vd v)
{
    return _mm512_reduce_add_pd(v);
}

static inline vd vd_lo(vf v)
{
    return _mm512_cvtps_pd(_mm512_castps512_ps256(v));
}

static inline vd vd_hi(vf v)
{
    return _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1));
}

static inline vf vf_from_vd(vd lo, vd hi)
{
    return _mm512_insertf32x8(_mm512_castps256_ps512(_mm512_cvtpd_ps(lo)), _mm512_cvtpd_ps(hi), 1);
}

/* ---- int32 ---- */
static inline vi vi_set1(int32_t a)
{
    return _mm512_set1_epi32(a);
}

static inline vi vi_sub(vi a, vi b)
{
    return _mm512_sub_epi32(a, b);
}

static inline vi vi_load_i32(const int32_t *p)
{
    return _mm512_loadu_si512(p);
}

static inline vi vi_loadn_i32(const int32_t *p, size_t n)
{
    return _mm512_maskz_loadu_epi32(m16(n), p);
}

/* n <= 16 bytes widened to int32 (sign- or zero-extended) */
static inline vi vi_load_b(const uint8_t *p, bool s8, size_t n)
{
    const __m128i b =
        n >= 16 ? _mm_loadu_si128((const __m128i *)p) : _mm_maskz_loadu_epi8(m16(n), p);
    return s8 ? _mm512_cvtepi8_epi32(b) : _mm512_cvtepu8_epi32(b);
}

/* the low byte of each of the first n lanes */
static inline void vi_store_b(uint8_t *p, vi v, size_t n)
{
    if (n >= 16) {
        _mm_storeu_si128((__m128i *)p, _mm512_cvtepi32_epi8(v));
    } else {
        _mm512_mask_cvtepi32_storeu_epi8(p, m16(n), v);
    }
}

static inline vf vf_from_vi(vi v)
{
    return _mm512_cvtepi32_ps(v);
}

/* float -> int32 of integral values */
static inline vi vi_from_vf(vf v)
{
    return _mm512_cvtps_epi32(v);
}

static inline vd vd_lo_i(vi v)
{
    return _mm512_cvtepi32_pd(_mm512_castsi512_si256(v));
}

static inline vd vd_hi_i(vi v)
{
    return _mm512_cvtepi32_pd(_mm512_extracti64x4_epi64(v, 1));
}

/* doubles of integral values -> int32 */
static inline vi vi_from_vd(vd lo, vd hi)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtpd_epi32(lo)),
                              _mm512_cvtpd_epi32(hi), 1);
}

/* ---- bytes ---- */
static inline vb vb_loadn(const uint8_t *p, size_t n)
{
    return n >= 64 ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi8(m64(n), p);
}

static inline void vb_storen(uint8_t *p, vb v, size_t n)
{
    if (n >= 64) {
        _mm512_storeu_si512(p, v);
    } else {
        _mm512_mask_storeu_epi8(p, m64(n), v);
    }
}

static inline vb vb_max_s8(vb a, vb b)
{
    return _mm512_max_epi8(a, b);
}

static inline vb vb_max_u8(vb a, vb b)
{
    return _mm512_max_epu8(a, b);
}

#define TQ_CPU_SIMD_TABLE tq_cpu_simd_isa_avx512
#define TQ_CPU_SIMD_NAME  "avx512"
#include "backends/cpu/simd/simd_vec_impl.h"
