/* simd_avx2.c: the AVX2 + FMA row kernels of the SIMD family: the vector abstraction of
 * simd_vec_impl.h over 256-bit registers (8 floats, 4 doubles, 32 bytes). Float and int32 tails
 * use masked loads and stores; byte tails go through a small local buffer. Called only when
 * tq_cpu_isa_level() (p->isa) is at least AVX2. */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "backends/cpu/simd/simd.h"

#define TQ_VL 8  /* floats (and int32) per vector */
#define TQ_VB 32 /* bytes per byte vector */

typedef __m256 vf;
typedef __m256d vd;
typedef __m256i vi;
typedef __m256i vb;

/* all-ones in the first n int32 lanes, 0 < n <= 8 */
static inline __m256i m8(size_t n)
{
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n > 8 ? 8 : n)), iota);
}

/* ---- floats ---- */
static inline vf vf_load(const float *p)
{
    return _mm256_loadu_ps(p);
}

static inline vf vf_loadn(const float *p, size_t n, float fill)
{
    const __m256i m = m8(n);
    return _mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
}

static inline void vf_store(float *p, vf v)
{
    _mm256_storeu_ps(p, v);
}

static inline void vf_storen(float *p, vf v, size_t n)
{
    _mm256_maskstore_ps(p, m8(n), v);
}

static inline vf vf_set1(float a)
{
    return _mm256_set1_ps(a);
}

static inline vf vf_add(vf a, vf b)
{
    return _mm256_add_ps(a, b);
}

static inline vf vf_sub(vf a, vf b)
{
    return _mm256_sub_ps(a, b);
}

static inline vf vf_mul(vf a, vf b)
{
    return _mm256_mul_ps(a, b);
}

static inline vf vf_div(vf a, vf b)
{
    return _mm256_div_ps(a, b);
}

static inline vf vf_fmadd(vf a, vf b, vf c)
{
    return _mm256_fmadd_ps(a, b, c);
}

static inline vf vf_max(vf a, vf b)
{
    return _mm256_max_ps(a, b); /* a > b ? a : b */
}

static inline vf vf_min(vf a, vf b)
{
    return _mm256_min_ps(a, b); /* a < b ? a : b */
}

static inline vf vf_sel_lt(vf a, vf b, vf t, vf f)
{
    return _mm256_blendv_ps(f, t, _mm256_cmp_ps(a, b, _CMP_LT_OQ));
}

static inline vf vf_sel_nan(vf x, vf t, vf f)
{
    return _mm256_blendv_ps(f, t, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

static inline vf vf_round(vf v)
{
    return _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

static inline vf vf_abs(vf v)
{
    return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v);
}

static inline bool vf_any_ge(vf a, vf b)
{
    return _mm256_movemask_ps(_mm256_cmp_ps(a, b, _CMP_GE_OQ)) != 0;
}

static inline vf vf_pow2i(vf k)
{
    __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(e, 23));
}

static inline float vf_hmax(vf v)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

/* ---- doubles ---- */
static inline vd vd_set1(double a)
{
    return _mm256_set1_pd(a);
}

static inline vd vd_add(vd a, vd b)
{
    return _mm256_add_pd(a, b);
}

static inline vd vd_sub(vd a, vd b)
{
    return _mm256_sub_pd(a, b);
}

static inline vd vd_mul(vd a, vd b)
{
    return _mm256_mul_pd(a, b);
}

static inline vd vd_div(vd a, vd b)
{
    return _mm256_div_pd(a, b);
}

static inline vd vd_fmadd(vd a, vd b, vd c)
{
    return _mm256_fmadd_pd(a, b, c);
}

static inline vd vd_max(vd a, vd b)
{
    return _mm256_max_pd(a, b);
}

static inline vd vd_min(vd a, vd b)
{
    return _mm256_min_pd(a, b);
}

static inline vd vd_sel_lt(vd a, vd b, vd t, vd f)
{
    return _mm256_blendv_pd(f, t, _mm256_cmp_pd(a, b, _CMP_LT_OQ));
}

static inline vd vd_sel_nan(vd x, vd t, vd f)
{
    return _mm256_blendv_pd(f, t, _mm256_cmp_pd(x, x, _CMP_UNORD_Q));
}

static inline vd vd_round(vd v)
{
    return _mm256_round_pd(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

static inline vd vd_abs(vd v)
{
    return _mm256_andnot_pd(_mm256_set1_pd(-0.0), v);
}

/* |mag| with the sign of s */
static inline vd vd_copysign(vd mag, vd s)
{
    const vd sign = _mm256_set1_pd(-0.0);
    return _mm256_or_pd(_mm256_andnot_pd(sign, mag), _mm256_and_pd(sign, s));
}

/* 2^k for integral k in [-1022, 1023] */
static inline vd vd_pow2i(vd k)
{
    __m256i e = _mm256_cvtepi32_epi64(_mm256_cvtpd_epi32(k));
    e = _mm256_add_epi64(e, _mm256_set1_epi64x(1023));
    return _mm256_castsi256_pd(_mm256_slli_epi64(e, 52));
}

static inline double vd_hsum(vd v)
{
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    s = _mm_add_sd(s, _mm_unpackhi_pd(s, s));
    return _mm_cvtsd_f64(s);
}

static inline vd vd_lo(vf v)
{
    return _mm256_cvtps_pd(_mm256_castps256_ps128(v));
}

static inline vd vd_hi(vf v)
{
    return _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
}

static inline vf vf_from_vd(vd lo, vd hi)
{
    return _mm256_insertf128_ps(_mm256_castps128_ps256(_mm256_cvtpd_ps(lo)), _mm256_cvtpd_ps(hi),
                                1);
}

/* ---- int32 ---- */
static inline vi vi_set1(int32_t a)
{
    return _mm256_set1_epi32(a);
}

static inline vi vi_sub(vi a, vi b)
{
    return _mm256_sub_epi32(a, b);
}

static inline vi vi_load_i32(const int32_t *p)
{
    return _mm256_loadu_si256((const __m256i *)p);
}

static inline vi vi_loadn_i32(const int32_t *p, size_t n)
{
    return _mm256_maskload_epi32((const int *)p, m8(n));
}

/* n <= 8 bytes widened to int32 (sign- or zero-extended) */
static inline vi vi_load_b(const uint8_t *p, bool s8, size_t n)
{
    __m128i b;
    if (n >= 8) {
        b = _mm_loadl_epi64((const __m128i *)p);
    } else {
        uint8_t buf[8] = {0};
        memcpy(buf, p, n);
        b = _mm_loadl_epi64((const __m128i *)buf);
    }
    return s8 ? _mm256_cvtepi8_epi32(b) : _mm256_cvtepu8_epi32(b);
}

/* the low byte of each of the first n lanes */
static inline void vi_store_b(uint8_t *p, vi v, size_t n)
{
    const __m256i pick =
        _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 4, 8, 12,
                         -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    const __m256i s = _mm256_shuffle_epi8(v, pick);
    const __m128i r = _mm_unpacklo_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    if (n >= 8) {
        _mm_storel_epi64((__m128i *)p, r);
    } else {
        uint8_t buf[16];
        _mm_storeu_si128((__m128i *)buf, r);
        memcpy(p, buf, n);
    }
}

static inline vf vf_from_vi(vi v)
{
    return _mm256_cvtepi32_ps(v);
}

/* float -> int32 of integral values */
static inline vi vi_from_vf(vf v)
{
    return _mm256_cvtps_epi32(v);
}

static inline vd vd_lo_i(vi v)
{
    return _mm256_cvtepi32_pd(_mm256_castsi256_si128(v));
}

static inline vd vd_hi_i(vi v)
{
    return _mm256_cvtepi32_pd(_mm256_extracti128_si256(v, 1));
}

/* doubles of integral values -> int32 */
static inline vi vi_from_vd(vd lo, vd hi)
{
    return _mm256_set_m128i(_mm256_cvtpd_epi32(hi), _mm256_cvtpd_epi32(lo));
}

/* ---- bytes ---- */
static inline vb vb_loadn(const uint8_t *p, size_t n)
{
    if (n >= 32) {
        return _mm256_loadu_si256((const __m256i *)p);
    }
    uint8_t buf[32] = {0};
    memcpy(buf, p, n);
    return _mm256_loadu_si256((const __m256i *)buf);
}

static inline void vb_storen(uint8_t *p, vb v, size_t n)
{
    if (n >= 32) {
        _mm256_storeu_si256((__m256i *)p, v);
        return;
    }
    uint8_t buf[32];
    _mm256_storeu_si256((__m256i *)buf, v);
    memcpy(p, buf, n);
}

static inline vb vb_max_s8(vb a, vb b)
{
    return _mm256_max_epi8(a, b);
}

static inline vb vb_max_u8(vb a, vb b)
{
    return _mm256_max_epu8(a, b);
}

#define TQ_CPU_SIMD_TABLE tq_cpu_simd_isa_avx2
#define TQ_CPU_SIMD_NAME  "avx2"
#include "backends/cpu/simd/simd_vec_impl.h"
