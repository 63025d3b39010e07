/* test_dtype.c: unit tests of src/core/dtype.c: f16 and bf16 conversions against known bit
 * patterns (rounding ties, NaN, Inf, subnormals, overflow), an exhaustive f16 round trip, random
 * f32 -> f16 against an independent double-precision reference, and the generic element access
 * (tq_store_f64 saturation, tq_store_i64 wrapping, tq_load_*). */
#include "core/core.h"
#include "harness.h"

#include <float.h>
#include <math.h>
#include <string.h>

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* Independent reference for f32 -> f16 (round to nearest even), computed exactly in double. */
static uint16_t ref_f32_to_f16(float f)
{
    uint16_t sign = signbit(f) ? 0x8000u : 0u;
    double a = fabs((double)f);
    if (isnan(f)) {
        return (uint16_t)(sign | 0x7e00u);
    }
    if (a >= 65520.0) {
        return (uint16_t)(sign | 0x7c00u);
    }
    if (a < 6.103515625e-05) { /* 2^-14: subnormal range, units of 2^-24 (exact in double) */
        return (uint16_t)(sign | (uint16_t)nearbyint(a * 16777216.0));
    }
    int e;
    double m = frexp(a, &e); /* a = m * 2^e, m in [0.5, 1) */
    int ex = e - 1;          /* a = (2m) * 2^ex, 2m in [1, 2) */
    double man = nearbyint((2.0 * m - 1.0) * 1024.0);
    if (man >= 1024.0) {
        man = 0.0;
        ex++;
    }
    return (uint16_t)(sign | (uint16_t)((ex + 15) << 10) | (uint16_t)man);
}

static void test_f16_known_patterns(tq_rng *rng)
{
    (void)rng;
    TQ_EXPECT_EQ_U64(tq_f32_to_f16(0.0f), 0x0000);
    TQ_EXPECT_EQ_U64(tq_f32_to_f16(-0.0f), 0x8000);
    TQ_EXPECT_EQ_U64(tq_f32_to_f16(1.0f), 0x3c00);
    TQ_EXPECT_EQ_U64(tq_f32_to_f16(-2.0f), 0xc000);
    TQ_EXPECT_EQ_U64(tq_f32_to_f16(0.5f), 0x3800);
    TQ_EXPECT_EQ_U64(tq_f32_to_f16(65504.0f), 0x7bff);   /* largest finite */
    TQ_EXPECT_EQ_U64(tq_f32_to_f16(65519.996f), 0x7bff); /* just below the tie */
    TQ_EXPECT_EQ_U64(tq_f32_to_f16(65520.0f), 0x7c00);   /* tie rounds to even: inf */
    TQ_EXPECT_EQ_U64(tq_f32_to_f16(-65520.0f), 0xfc00);
    TQ_EXPECT_EQ_U64(tq_f32_to_f16(1e10f), 0x7c00);
    TQ_EXPECT_EQ_U64(tq_f32_to_f16(FLT_MAX), 0x7c00);
    TQ_EXPECT_EQ_U64(tq_f32_to_f16(INFINITY), 0x7c00);
    TQ_EXPECT_EQ_U64(tq_f32_to_f16(-INFINITY), 0xfc00);
    TQ_EXPECT_EQ_U64(tq_f32_to_f16(0.333333343f), 0x3555);
    /* ties in the normal range: ulp(1) = 2^-10 */
    TQ_EXPECT_EQ_U64(tq_f32_to_f16(1.0f + 0x1p-11f), 0x3c00);            /* tie -> even (down) */
    TQ_EXPECT_EQ_U64(tq_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02);        /* tie -> even (up) */
    TQ_EXPECT_EQ_U64(tq_f32_to_f16(1.0f + 0x1p-11f + 0x1p-20f), 0x3c01); /* above tie */
    TQ_EXPECT_EQ_U64(tq_f32_to_f16(1.0f + 0x1p-11f - 0x1p-20f), 0x3c00); /* below tie */
    TQ_EXPECT_EQ_U64(tq_f32_to_f16(-(1.0f + 3 * 0x1p-11f)), 0xbc02);
    /* subnormals: units of 2^-24 */
    TQ_EXPECT_EQ_U64(tq_f32_to_f16(0x1p-24f), 0x0001);
    TQ_EXPECT_EQ_U64(tq_f32_to_f16(0x1p-25f), 0x0000);            /* tie between 0 and 1: 0 */
    TQ_EXPECT_EQ_U64(tq_f32_to_f16(0x1p-25f + 0x1p-40f), 0x0001); /* above the tie */
    TQ_EXPECT_EQ_U64(tq_f32_to_f16(3 * 0x1p-25f), 0x0002);        /* 1.5 units: tie -> 2 */
    TQ_EXPECT_EQ_U64(tq_f32_to_f16(5 * 0x1p-25f), 0x0002);        /* 2.5 units: tie -> 2 */
    TQ_EXPECT_EQ_U64(tq_f32_to_f16(-0x1p-24f), 0x8001);
    TQ_EXPECT_EQ_U64(tq_f32_to_f16(1023 * 0x1p-24f), 0x03ff);     /* largest subnormal */
    TQ_EXPECT_EQ_U64(tq_f32_to_f16(0x1p-14f), 0x0400);            /* smallest normal */
    TQ_EXPECT_EQ_U64(tq_f32_to_f16(0x1p-14f - 0x1p-25f), 0x0400); /* 1023.5 units: tie -> 1024 */
    TQ_EXPECT_EQ_U64(tq_f32_to_f16(1e-30f), 0x0000);              /* underflow keeps the sign */
    TQ_EXPECT_EQ_U64(tq_f32_to_f16(-1e-30f), 0x8000);
    TQ_EXPECT_EQ_U64(tq_f32_to_f16(bits_f32(0x00000001u)), 0x0000); /* f32 subnormal */
    /* NaN stays NaN (any payload, quiet), sign kept */
    uint16_t h = tq_f32_to_f16(NAN);
    TQ_EXPECT((h & 0x7c00u) == 0x7c00u && (h & 0x3ffu) != 0, "NaN -> 0x%04x", h);
    h = tq_f32_to_f16(bits_f32(0x7f800001u)); /* signalling NaN with a low payload */
    TQ_EXPECT((h & 0x7c00u) == 0x7c00u && (h & 0x3ffu) != 0, "sNaN -> 0x%04x", h);
    h = tq_f32_to_f16(bits_f32(0xffc00000u));
    TQ_EXPECT((h & 0xfc00u) == 0xfc00u && (h & 0x3ffu) != 0, "-NaN -> 0x%04x", h);

    /* f16 -> f32 */
    TQ_EXPECT_EQ_U64(f32_bits(tq_f16_to_f32(0x3c00)), f32_bits(1.0f));
    TQ_EXPECT_EQ_U64(f32_bits(tq_f16_to_f32(0x8000)), 0x80000000u);
    TQ_EXPECT_EQ_U64(f32_bits(tq_f16_to_f32(0x0001)), f32_bits(0x1p-24f));
    TQ_EXPECT_EQ_U64(f32_bits(tq_f16_to_f32(0x8001)), f32_bits(-0x1p-24f));
    TQ_EXPECT_EQ_U64(f32_bits(tq_f16_to_f32(0x03ff)), f32_bits(1023 * 0x1p-24f));
    TQ_EXPECT_EQ_U64(f32_bits(tq_f16_to_f32(0x0400)), f32_bits(0x1p-14f));
    TQ_EXPECT_EQ_U64(f32_bits(tq_f16_to_f32(0x7bff)), f32_bits(65504.0f));
    TQ_EXPECT_EQ_U64(f32_bits(tq_f16_to_f32(0x3555)), f32_bits(0.333251953125f));
    TQ_EXPECT_EQ_U64(f32_bits(tq_f16_to_f32(0x7c00)), f32_bits(INFINITY));
    TQ_EXPECT_EQ_U64(f32_bits(tq_f16_to_f32(0xfc00)), f32_bits(-INFINITY));
    TQ_CHECK(isnan(tq_f16_to_f32(0x7e00)));
    TQ_CHECK(isnan(tq_f16_to_f32(0x7c01)));
    TQ_CHECK(isnan(tq_f16_to_f32(0xfe00)));
}

static void test_f16_exhaustive_round_trip(tq_rng *rng)
{
    (void)rng;
    int bad = 0;
    for (uint32_t u = 0; u <= 0xffffu; u++) {
        uint16_t h = (uint16_t)u;
        float f = tq_f16_to_f32(h);
        bool is_nan = (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu) != 0;
        if (is_nan) {
            uint16_t back = tq_f32_to_f16(f);
            if (!isnan(f) || (back & 0x7c00u) != 0x7c00u || (back & 0x3ffu) == 0 ||
                (back & 0x8000u) != (h & 0x8000u)) {
                if (bad++ < 5) {
                    tq_test_failf(__FILE__, __LINE__, "NaN 0x%04x -> %g -> 0x%04x", h, (double)f,
                                  back);
                }
            }
            continue;
        }
        uint16_t back = tq_f32_to_f16(f);
        if (back != h || ref_f32_to_f16(f) != h) {
            if (bad++ < 5) {
                tq_test_failf(__FILE__, __LINE__, "0x%04x -> %.9g -> 0x%04x (ref 0x%04x)", h,
                              (double)f, back, ref_f32_to_f16(f));
            }
        }
    }
    TQ_EXPECT_EQ_I64(bad, 0);
}

/* Random f32 bit patterns, plus values concentrated near f16 ties and the subnormal boundary. */
static void test_f16_random_vs_reference(tq_rng *rng)
{
    int bad = 0;
    for (int i = 0; i < 2000000; i++) {
        float f;
        switch (i % 4) {
        case 0:
            f = bits_f32(tq_rng_u32(rng));
            break;
        case 1: { /* exact ties and neighbours: an f16 value plus half an ulp, +-1 f32 ulp */
            uint16_t h = (uint16_t)(tq_rng_u32(rng) & 0x7bffu);
            uint32_t u = f32_bits(tq_f16_to_f32(h));
            uint32_t half = (h & 0x7c00u) ? (1u << 12) : 0u; /* normals: 13 dropped bits */
            if (!half) {
                f = tq_f16_to_f32(h) + 0x1p-25f;
            } else {
                f = bits_f32(u + half + (uint32_t)tq_rng_below(rng, 3) - 1u);
            }
            break;
        }
        case 2:
            f = tq_rng_uniform(rng, -7e-5f, 7e-5f);
            break; /* around the subnormal range */
        default:
            f = tq_rng_uniform(rng, -70000.0f, 70000.0f);
            break;
        }
        if (isnan(f)) {
            continue;
        }
        uint16_t got = tq_f32_to_f16(f), want = ref_f32_to_f16(f);
        if (got != want && bad++ < 5) {
            tq_test_failf(__FILE__, __LINE__, "f32 0x%08x (%.9g): got 0x%04x, expected 0x%04x",
                          f32_bits(f), (double)f, got, want);
        }
    }
    TQ_EXPECT_EQ_I64(bad, 0);
}

static void test_bf16(tq_rng *rng)
{
    TQ_EXPECT_EQ_U64(tq_f32_to_bf16(1.0f), 0x3f80);
    TQ_EXPECT_EQ_U64(tq_f32_to_bf16(-1.0f), 0xbf80);
    TQ_EXPECT_EQ_U64(tq_f32_to_bf16(0.0f), 0x0000);
    TQ_EXPECT_EQ_U64(tq_f32_to_bf16(-0.0f), 0x8000);
    /* ulp(1) = 2^-7 */
    TQ_EXPECT_EQ_U64(tq_f32_to_bf16(1.0f + 0x1p-8f), 0x3f80);            /* tie -> even (down) */
    TQ_EXPECT_EQ_U64(tq_f32_to_bf16(1.0f + 3 * 0x1p-8f), 0x3f82);        /* tie -> even (up) */
    TQ_EXPECT_EQ_U64(tq_f32_to_bf16(1.0f + 0x1p-8f + 0x1p-20f), 0x3f81); /* above the tie */
    TQ_EXPECT_EQ_U64(tq_f32_to_bf16(INFINITY), 0x7f80);
    TQ_EXPECT_EQ_U64(tq_f32_to_bf16(-INFINITY), 0xff80);
    TQ_EXPECT_EQ_U64(tq_f32_to_bf16(FLT_MAX), 0x7f80); /* rounds up to inf */
    TQ_EXPECT_EQ_U64(tq_f32_to_bf16(bits_f32(0x7f7f0000u)), 0x7f7f);
    TQ_EXPECT_EQ_U64(tq_f32_to_bf16(bits_f32(0x00000001u)), 0x0000); /* tiny subnormal */
    TQ_EXPECT_EQ_U64(tq_f32_to_bf16(bits_f32(0x00018000u)), 0x0002); /* subnormal tie -> even */
    uint16_t b = tq_f32_to_bf16(NAN);
    TQ_EXPECT((b & 0x7f80u) == 0x7f80u && (b & 0x7fu) != 0, "NaN -> 0x%04x", b);
    b = tq_f32_to_bf16(bits_f32(0x7f800001u)); /* payload only in the dropped bits */
    TQ_EXPECT((b & 0x7f80u) == 0x7f80u && (b & 0x7fu) != 0, "sNaN -> 0x%04x", b);
    b = tq_f32_to_bf16(bits_f32(0xff800001u));
    TQ_EXPECT((b & 0xff80u) == 0xff80u && (b & 0x7fu) != 0, "-sNaN -> 0x%04x", b);
    TQ_EXPECT_EQ_U64(f32_bits(tq_bf16_to_f32(0x3f80)), f32_bits(1.0f));
    TQ_EXPECT_EQ_U64(f32_bits(tq_bf16_to_f32(0xc0490000u >> 16)), 0xc0490000u);
    TQ_CHECK(isnan(tq_bf16_to_f32(0x7fc0)));
    /* exhaustive round trip and random values against a reference */
    int bad = 0;
    for (uint32_t u = 0; u <= 0xffffu; u++) {
        float f = tq_bf16_to_f32((uint16_t)u);
        if (isnan(f)) {
            continue;
        }
        if (tq_f32_to_bf16(f) != u && bad++ < 5) {
            tq_test_failf(__FILE__, __LINE__, "bf16 0x%04x round trip -> 0x%04x", u,
                          tq_f32_to_bf16(f));
        }
    }
    for (int i = 0; i < 1000000; i++) {
        uint32_t u = tq_rng_u32(rng);
        float f = bits_f32(u);
        if (isnan(f)) {
            continue;
        }
        /* reference: pick the nearer of the two truncation neighbours, ties to even */
        uint32_t lo = u & 0xffff0000u, rem = u & 0xffffu;
        uint32_t want = lo >> 16;
        if (rem > 0x8000u || (rem == 0x8000u && (want & 1u))) {
            want++;
        }
        if (tq_f32_to_bf16(f) != (uint16_t)want && bad++ < 5) {
            tq_test_failf(__FILE__, __LINE__, "bf16(0x%08x) = 0x%04x, expected 0x%04x", u,
                          tq_f32_to_bf16(f), want);
        }
    }
    TQ_EXPECT_EQ_I64(bad, 0);
}

static void test_store_f64_saturation(tq_rng *rng)
{
    (void)rng;
    int8_t i8 = 0;
    uint8_t u8 = 0;
    int16_t i16 = 0;
    uint16_t u16 = 0;
    int32_t i32 = 0;
    uint32_t u32 = 0;
    int64_t i64 = 0;
    uint64_t u64 = 0;
    uint8_t b = 0;

    tq_store_f64(TFMQ_DTYPE_INT8, &i8, 0, 300.0);
    TQ_EXPECT_EQ_I64(i8, 127);
    tq_store_f64(TFMQ_DTYPE_INT8, &i8, 0, -300.0);
    TQ_EXPECT_EQ_I64(i8, -128);
    tq_store_f64(TFMQ_DTYPE_INT8, &i8, 0, -3.9);
    TQ_EXPECT_EQ_I64(i8, -3); /* truncation toward zero, like C */
    tq_store_f64(TFMQ_DTYPE_INT8, &i8, 0, (double)NAN);
    TQ_EXPECT_EQ_I64(i8, 0);
    tq_store_f64(TFMQ_DTYPE_INT8, &i8, 0, (double)INFINITY);
    TQ_EXPECT_EQ_I64(i8, 127);
    tq_store_f64(TFMQ_DTYPE_UINT8, &u8, 0, 255.9);
    TQ_EXPECT_EQ_I64(u8, 255);
    tq_store_f64(TFMQ_DTYPE_UINT8, &u8, 0, -1.0);
    TQ_EXPECT_EQ_I64(u8, 0);
    tq_store_f64(TFMQ_DTYPE_UINT8, &u8, 0, 1e300);
    TQ_EXPECT_EQ_I64(u8, 255);
    tq_store_f64(TFMQ_DTYPE_INT16, &i16, 0, 40000.0);
    TQ_EXPECT_EQ_I64(i16, 32767);
    tq_store_f64(TFMQ_DTYPE_INT16, &i16, 0, -40000.0);
    TQ_EXPECT_EQ_I64(i16, -32768);
    tq_store_f64(TFMQ_DTYPE_UINT16, &u16, 0, 70000.0);
    TQ_EXPECT_EQ_I64(u16, 65535);
    tq_store_f64(TFMQ_DTYPE_INT32, &i32, 0, 2147483647.5);
    TQ_EXPECT_EQ_I64(i32, INT32_MAX);
    tq_store_f64(TFMQ_DTYPE_INT32, &i32, 0, -1e12);
    TQ_EXPECT_EQ_I64(i32, INT32_MIN);
    tq_store_f64(TFMQ_DTYPE_INT32, &i32, 0, 1e30); /* beyond int64 too */
    TQ_EXPECT_EQ_I64(i32, INT32_MAX);
    tq_store_f64(TFMQ_DTYPE_INT16, &i16, 0, (double)INFINITY);
    TQ_EXPECT_EQ_I64(i16, 32767);
    tq_store_f64(TFMQ_DTYPE_UINT16, &u16, 0, 1e30);
    TQ_EXPECT_EQ_I64(u16, 65535);
    tq_store_f64(TFMQ_DTYPE_INT32, &i32, 0, 123456.7);
    TQ_EXPECT_EQ_I64(i32, 123456);
    tq_store_f64(TFMQ_DTYPE_UINT32, &u32, 0, 5e9);
    TQ_EXPECT_EQ_U64(u32, UINT32_MAX);
    tq_store_f64(TFMQ_DTYPE_UINT32, &u32, 0, (double)INFINITY);
    TQ_EXPECT_EQ_U64(u32, UINT32_MAX);
    tq_store_f64(TFMQ_DTYPE_UINT32, &u32, 0, -5.0);
    TQ_EXPECT_EQ_U64(u32, 0);
    tq_store_f64(TFMQ_DTYPE_INT64, &i64, 0, 1e30);
    TQ_EXPECT_EQ_I64(i64, INT64_MAX);
    tq_store_f64(TFMQ_DTYPE_INT64, &i64, 0, 9.2233720368547758e18); /* exactly 2^63 */
    TQ_EXPECT_EQ_I64(i64, INT64_MAX);
    tq_store_f64(TFMQ_DTYPE_INT64, &i64, 0, -1e30);
    TQ_EXPECT_EQ_I64(i64, INT64_MIN);
    tq_store_f64(TFMQ_DTYPE_INT64, &i64, 0, -(double)INFINITY);
    TQ_EXPECT_EQ_I64(i64, INT64_MIN);
    tq_store_f64(TFMQ_DTYPE_INT64, &i64, 0, (double)NAN);
    TQ_EXPECT_EQ_I64(i64, 0);
    tq_store_f64(TFMQ_DTYPE_INT64, &i64, 0, -12345678901.9);
    TQ_EXPECT_EQ_I64(i64, -12345678901);
    tq_store_f64(TFMQ_DTYPE_UINT64, &u64, 0, 2e19);
    TQ_EXPECT_EQ_U64(u64, UINT64_MAX);
    tq_store_f64(TFMQ_DTYPE_UINT64, &u64, 0, -5.0);
    TQ_EXPECT_EQ_U64(u64, 0);
    tq_store_f64(TFMQ_DTYPE_UINT64, &u64, 0, (double)NAN);
    TQ_EXPECT_EQ_U64(u64, 0);
    tq_store_f64(TFMQ_DTYPE_UINT64, &u64, 0, 1e19);
    TQ_EXPECT_EQ_U64(u64, 10000000000000000000ull);
    tq_store_f64(TFMQ_DTYPE_BOOL, &b, 0, 0.5);
    TQ_EXPECT_EQ_I64(b, 1);
    tq_store_f64(TFMQ_DTYPE_BOOL, &b, 0, -0.0);
    TQ_EXPECT_EQ_I64(b, 0);
    tq_store_f64(TFMQ_DTYPE_BOOL, &b, 0, (double)NAN);
    TQ_EXPECT_EQ_I64(b, 1); /* NaN is truthy, like numpy's astype(bool) */

    uint16_t h = 0;
    tq_store_f64(TFMQ_DTYPE_FLOAT16, &h, 0, 1.0);
    TQ_EXPECT_EQ_U64(h, 0x3c00);
    tq_store_f64(TFMQ_DTYPE_FLOAT16, &h, 0, 1e6);
    TQ_EXPECT_EQ_U64(h, 0x7c00);
    tq_store_f64(TFMQ_DTYPE_BFLOAT16, &h, 0, -2.0);
    TQ_EXPECT_EQ_U64(h, 0xc000);
    float f = 0;
    tq_store_f64(TFMQ_DTYPE_FLOAT32, &f, 0, 1e300);
    TQ_CHECK(isinf(f) && f > 0);
    double d = 0;
    tq_store_f64(TFMQ_DTYPE_FLOAT64, &d, 0, 0.1);
    TQ_CHECK(d == 0.1);

    /* indexing: element i of an array */
    int16_t arr[4] = {0, 0, 0, 0};
    tq_store_f64(TFMQ_DTYPE_INT16, arr, 2, 7.0);
    TQ_CHECK(arr[0] == 0 && arr[1] == 0 && arr[2] == 7 && arr[3] == 0);
}

static void test_store_load_i64(tq_rng *rng)
{
    (void)rng;
    int8_t i8 = 0;
    uint8_t u8 = 0;
    uint32_t u32 = 0;
    tq_store_i64(TFMQ_DTYPE_INT8, &i8, 0, 300); /* wraps like a C cast: 300 - 256 */
    TQ_EXPECT_EQ_I64(i8, 44);
    tq_store_i64(TFMQ_DTYPE_UINT8, &u8, 0, -1);
    TQ_EXPECT_EQ_I64(u8, 255);
    tq_store_i64(TFMQ_DTYPE_UINT32, &u32, 0, -1);
    TQ_EXPECT_EQ_U64(u32, 0xffffffffu);
    uint8_t b = 0;
    tq_store_i64(TFMQ_DTYPE_BOOL, &b, 0, 42);
    TQ_EXPECT_EQ_I64(b, 1);
    float f = 0;
    tq_store_i64(TFMQ_DTYPE_FLOAT32, &f, 0, -7);
    TQ_CHECK(f == -7.0f);

    uint64_t u64 = UINT64_MAX;
    TQ_EXPECT_EQ_I64(tq_load_i64(TFMQ_DTYPE_UINT64, &u64, 0), -1); /* bit pattern kept */
    TQ_CHECK(tq_load_f64(TFMQ_DTYPE_UINT64, &u64, 0) == 18446744073709551615.0);
    int8_t neg = -5;
    TQ_EXPECT_EQ_I64(tq_load_i64(TFMQ_DTYPE_INT8, &neg, 0), -5);
    TQ_CHECK(tq_load_f64(TFMQ_DTYPE_INT8, &neg, 0) == -5.0);
    uint8_t bb = 7;
    TQ_EXPECT_EQ_I64(tq_load_i64(TFMQ_DTYPE_BOOL, &bb, 0), 1);
    TQ_CHECK(tq_load_f64(TFMQ_DTYPE_BOOL, &bb, 0) == 1.0);
    float ff = -3.7f;
    TQ_EXPECT_EQ_I64(tq_load_i64(TFMQ_DTYPE_FLOAT32, &ff, 0), -3);
    float fnan = NAN;
    TQ_EXPECT_EQ_I64(tq_load_i64(TFMQ_DTYPE_FLOAT32, &fnan, 0), 0);
    uint16_t h = 0xbc00; /* -1.0 */
    TQ_CHECK(tq_load_f64(TFMQ_DTYPE_FLOAT16, &h, 0) == -1.0);
    uint16_t bf = 0x4040; /* 3.0 */
    TQ_CHECK(tq_load_f64(TFMQ_DTYPE_BFLOAT16, &bf, 0) == 3.0);
    int64_t big = INT64_MIN;
    TQ_EXPECT_EQ_I64(tq_load_i64(TFMQ_DTYPE_INT64, &big, 0), INT64_MIN);
}

static void test_dtype_tables(tq_rng *rng)
{
    (void)rng;
    TQ_EXPECT_EQ_U64(tq_dtype_size(TFMQ_DTYPE_FLOAT32), 4);
    TQ_EXPECT_EQ_U64(tq_dtype_size(TFMQ_DTYPE_BOOL), 1);
    TQ_EXPECT_EQ_U64(tq_dtype_size(TFMQ_DTYPE_FLOAT16), 2);
    TQ_EXPECT_EQ_U64(tq_dtype_size(TFMQ_DTYPE_BFLOAT16), 2);
    TQ_EXPECT_EQ_U64(tq_dtype_size(TFMQ_DTYPE_UINT64), 8);
    TQ_EXPECT_EQ_U64(tq_dtype_size(TFMQ_DTYPE_STRING), 0);
    TQ_EXPECT_EQ_U64(tq_dtype_size(TFMQ_DTYPE_UNDEFINED), 0);
    TQ_EXPECT_EQ_U64(tq_dtype_size((tfmq_dtype)14), 0); /* complex64: unsupported */
    TQ_EXPECT_EQ_U64(tfmq_dtype_size((tfmq_dtype)999), 0);
    TQ_EXPECT_STR_EQ(tfmq_dtype_name(TFMQ_DTYPE_INT64), "int64");
    TQ_EXPECT_STR_EQ(tfmq_dtype_name(TFMQ_DTYPE_BFLOAT16), "bfloat16");
    TQ_EXPECT_STR_EQ(tfmq_dtype_name((tfmq_dtype)999), "undefined");
    TQ_CHECK(tq_dtype_is_float(TFMQ_DTYPE_FLOAT16));
    TQ_CHECK(!tq_dtype_is_float(TFMQ_DTYPE_INT8));
    TQ_CHECK(tq_dtype_is_int(TFMQ_DTYPE_UINT64));
    TQ_CHECK(!tq_dtype_is_int(TFMQ_DTYPE_BOOL));
    TQ_CHECK(tq_dtype_is_signed(TFMQ_DTYPE_INT8));
    TQ_CHECK(!tq_dtype_is_signed(TFMQ_DTYPE_UINT8));
}

int main(int argc, char **argv)
{
    tq_test_begin(argc, argv);
    TQ_RUN(test_f16_known_patterns);
    TQ_RUN(test_f16_exhaustive_round_trip);
    TQ_RUN(test_f16_random_vs_reference);
    TQ_RUN(test_bf16);
    TQ_RUN(test_store_f64_saturation);
    TQ_RUN(test_store_load_i64);
    TQ_RUN(test_dtype_tables);
    return tq_test_end();
}
