/* dtype.c: element sizes, names, half-precision conversions and generic element access.
 * f16 and bf16 conversions round to nearest even, as IEEE 754 and ONNX Cast specify. */
#include <math.h>
#include <string.h>

#include "core.h"

size_t tq_dtype_size(tfmq_dtype dt)
{
    switch (dt) {
    case TFMQ_DTYPE_FLOAT32: return 4;
    case TFMQ_DTYPE_UINT8: return 1;
    case TFMQ_DTYPE_INT8: return 1;
    case TFMQ_DTYPE_UINT16: return 2;
    case TFMQ_DTYPE_INT16: return 2;
    case TFMQ_DTYPE_INT32: return 4;
    case TFMQ_DTYPE_INT64: return 8;
    case TFMQ_DTYPE_BOOL: return 1;
    case TFMQ_DTYPE_FLOAT16: return 2;
    case TFMQ_DTYPE_FLOAT64: return 8;
    case TFMQ_DTYPE_UINT32: return 4;
    case TFMQ_DTYPE_UINT64: return 8;
    case TFMQ_DTYPE_BFLOAT16: return 2;
    case TFMQ_DTYPE_UNDEFINED:
    case TFMQ_DTYPE_STRING: return 0;
    }
    return 0;
}

size_t tfmq_dtype_size(tfmq_dtype dt)
{
    return tq_dtype_size(dt);
}

const char *tfmq_dtype_name(tfmq_dtype dt)
{
    switch (dt) {
    case TFMQ_DTYPE_FLOAT32: return "float32";
    case TFMQ_DTYPE_UINT8: return "uint8";
    case TFMQ_DTYPE_INT8: return "int8";
    case TFMQ_DTYPE_UINT16: return "uint16";
    case TFMQ_DTYPE_INT16: return "int16";
    case TFMQ_DTYPE_INT32: return "int32";
    case TFMQ_DTYPE_INT64: return "int64";
    case TFMQ_DTYPE_STRING: return "string";
    case TFMQ_DTYPE_BOOL: return "bool";
    case TFMQ_DTYPE_FLOAT16: return "float16";
    case TFMQ_DTYPE_FLOAT64: return "float64";
    case TFMQ_DTYPE_UINT32: return "uint32";
    case TFMQ_DTYPE_UINT64: return "uint64";
    case TFMQ_DTYPE_BFLOAT16: return "bfloat16";
    case TFMQ_DTYPE_UNDEFINED: return "undefined";
    }
    return "undefined";
}

bool tq_dtype_is_float(tfmq_dtype dt)
{
    return dt == TFMQ_DTYPE_FLOAT32 || dt == TFMQ_DTYPE_FLOAT64 || dt == TFMQ_DTYPE_FLOAT16 ||
           dt == TFMQ_DTYPE_BFLOAT16;
}

bool tq_dtype_is_int(tfmq_dtype dt)
{
    switch (dt) {
    case TFMQ_DTYPE_UINT8:
    case TFMQ_DTYPE_INT8:
    case TFMQ_DTYPE_UINT16:
    case TFMQ_DTYPE_INT16:
    case TFMQ_DTYPE_INT32:
    case TFMQ_DTYPE_INT64:
    case TFMQ_DTYPE_UINT32:
    case TFMQ_DTYPE_UINT64: return true;
    default: return false;
    }
}

bool tq_dtype_is_signed(tfmq_dtype dt)
{
    return dt == TFMQ_DTYPE_INT8 || dt == TFMQ_DTYPE_INT16 || dt == TFMQ_DTYPE_INT32 ||
           dt == TFMQ_DTYPE_INT64 || tq_dtype_is_float(dt);
}

static uint32_t tq_f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float tq_bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float tq_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    if (exp == 0x1f) {
        return tq_bits_f32(sign | 0x7f800000u | (man << 13)); /* inf or nan */
    }
    if (exp == 0) {
        /* zero or subnormal: man * 2^-24 */
        float v = (float)man * 5.9604644775390625e-8f;
        return sign ? -v : v;
    }
    return tq_bits_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

uint16_t tq_f32_to_f16(float f)
{
    uint32_t u = tq_f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a >= 0x7f800000u) { /* inf or nan */
        return (uint16_t)(sign | 0x7c00u | (a > 0x7f800000u ? 0x200u : 0u));
    }
    if (a >= 0x477ff000u) { /* rounds to >= 65520: overflow to inf */
        return (uint16_t)(sign | 0x7c00u);
    }
    if (a < 0x38800000u) { /* below the smallest normal f16 (2^-14): subnormal or zero */
        /* value / 2^-24, rounded half to even by the FPU in float arithmetic */
        float v = tq_bits_f32(a) * 16777216.0f;
        float r = nearbyintf(v);
        return (uint16_t)(sign | (uint16_t)r);
    }
    uint32_t mant_odd = (a >> 13) & 1u;
    a += 0xfffu + mant_odd; /* round to nearest even on the 13 dropped bits */
    return (uint16_t)(sign | (uint16_t)((a - 0x38000000u) >> 13));
}

float tq_bf16_to_f32(uint16_t b)
{
    return tq_bits_f32((uint32_t)b << 16);
}

uint16_t tq_f32_to_bf16(float f)
{
    uint32_t u = tq_f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) {
        return (uint16_t)((u >> 16) | 0x40u); /* quiet nan */
    }
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

double tq_load_f64(tfmq_dtype dt, const void *base, size_t i)
{
    switch (dt) {
    case TFMQ_DTYPE_FLOAT32: return (double)((const float *)base)[i];
    case TFMQ_DTYPE_FLOAT64: return ((const double *)base)[i];
    case TFMQ_DTYPE_FLOAT16: return (double)tq_f16_to_f32(((const uint16_t *)base)[i]);
    case TFMQ_DTYPE_BFLOAT16: return (double)tq_bf16_to_f32(((const uint16_t *)base)[i]);
    case TFMQ_DTYPE_UINT8: return ((const uint8_t *)base)[i];
    case TFMQ_DTYPE_INT8: return ((const int8_t *)base)[i];
    case TFMQ_DTYPE_UINT16: return ((const uint16_t *)base)[i];
    case TFMQ_DTYPE_INT16: return ((const int16_t *)base)[i];
    case TFMQ_DTYPE_INT32: return ((const int32_t *)base)[i];
    case TFMQ_DTYPE_INT64: return (double)((const int64_t *)base)[i];
    case TFMQ_DTYPE_UINT32: return ((const uint32_t *)base)[i];
    case TFMQ_DTYPE_UINT64: return (double)((const uint64_t *)base)[i];
    case TFMQ_DTYPE_BOOL: return ((const uint8_t *)base)[i] ? 1.0 : 0.0;
    default: return 0.0;
    }
}

/* Float to integer conversion that never invokes undefined behaviour: NaN gives 0, out of range
 * saturates. ONNX leaves these cases undefined; saturation is the safe choice. */
static int64_t tq_f64_to_i64_sat(double v, double lo, double hi)
{
    if (isnan(v)) {
        return 0;
    }
    if (v <= lo) {
        return (int64_t)lo;
    }
    if (v >= hi) {
        /* hi itself may not be representable (int64's 2^63 - 1 rounds up in double) */
        return hi >= 9.2233720368547748e18 ? INT64_MAX : (int64_t)hi;
    }
    return (int64_t)v;
}

void tq_store_f64(tfmq_dtype dt, void *base, size_t i, double v)
{
    switch (dt) {
    case TFMQ_DTYPE_FLOAT32: ((float *)base)[i] = (float)v; break;
    case TFMQ_DTYPE_FLOAT64: ((double *)base)[i] = v; break;
    case TFMQ_DTYPE_FLOAT16: ((uint16_t *)base)[i] = tq_f32_to_f16((float)v); break;
    case TFMQ_DTYPE_BFLOAT16: ((uint16_t *)base)[i] = tq_f32_to_bf16((float)v); break;
    case TFMQ_DTYPE_UINT8: ((uint8_t *)base)[i] = (uint8_t)tq_f64_to_i64_sat(v, 0, 255); break;
    case TFMQ_DTYPE_INT8: ((int8_t *)base)[i] = (int8_t)tq_f64_to_i64_sat(v, -128, 127); break;
    case TFMQ_DTYPE_UINT16:
        ((uint16_t *)base)[i] = (uint16_t)tq_f64_to_i64_sat(v, 0, 65535);
        break;
    case TFMQ_DTYPE_INT16:
        ((int16_t *)base)[i] = (int16_t)tq_f64_to_i64_sat(v, -32768, 32767);
        break;
    case TFMQ_DTYPE_INT32:
        ((int32_t *)base)[i] = (int32_t)tq_f64_to_i64_sat(v, -2147483648.0, 2147483647.0);
        break;
    case TFMQ_DTYPE_INT64:
        ((int64_t *)base)[i] = tq_f64_to_i64_sat(v, -9.2233720368547758e18, 9.2233720368547748e18);
        break;
    case TFMQ_DTYPE_UINT32:
        ((uint32_t *)base)[i] = (uint32_t)tq_f64_to_i64_sat(v, 0, 4294967295.0);
        break;
    case TFMQ_DTYPE_UINT64:
        ((uint64_t *)base)[i] = v <= 0 || isnan(v) ? 0
                                : v >= 1.8446744073709552e19 ? UINT64_MAX
                                                             : (uint64_t)v;
        break;
    case TFMQ_DTYPE_BOOL: ((uint8_t *)base)[i] = v != 0.0; break;
    default: break;
    }
}

int64_t tq_load_i64(tfmq_dtype dt, const void *base, size_t i)
{
    switch (dt) {
    case TFMQ_DTYPE_UINT8: return ((const uint8_t *)base)[i];
    case TFMQ_DTYPE_INT8: return ((const int8_t *)base)[i];
    case TFMQ_DTYPE_UINT16: return ((const uint16_t *)base)[i];
    case TFMQ_DTYPE_INT16: return ((const int16_t *)base)[i];
    case TFMQ_DTYPE_INT32: return ((const int32_t *)base)[i];
    case TFMQ_DTYPE_INT64: return ((const int64_t *)base)[i];
    case TFMQ_DTYPE_UINT32: return ((const uint32_t *)base)[i];
    case TFMQ_DTYPE_UINT64: return (int64_t)((const uint64_t *)base)[i];
    case TFMQ_DTYPE_BOOL: return ((const uint8_t *)base)[i] != 0;
    default: return tq_f64_to_i64_sat(tq_load_f64(dt, base, i), -9.2233720368547758e18,
                                      9.2233720368547748e18);
    }
}

void tq_store_i64(tfmq_dtype dt, void *base, size_t i, int64_t v)
{
    switch (dt) {
    case TFMQ_DTYPE_UINT8: ((uint8_t *)base)[i] = (uint8_t)v; break;
    case TFMQ_DTYPE_INT8: ((int8_t *)base)[i] = (int8_t)v; break;
    case TFMQ_DTYPE_UINT16: ((uint16_t *)base)[i] = (uint16_t)v; break;
    case TFMQ_DTYPE_INT16: ((int16_t *)base)[i] = (int16_t)v; break;
    case TFMQ_DTYPE_INT32: ((int32_t *)base)[i] = (int32_t)v; break;
    case TFMQ_DTYPE_INT64: ((int64_t *)base)[i] = v; break;
    case TFMQ_DTYPE_UINT32: ((uint32_t *)base)[i] = (uint32_t)v; break;
    case TFMQ_DTYPE_UINT64: ((uint64_t *)base)[i] = (uint64_t)v; break;
    case TFMQ_DTYPE_BOOL: ((uint8_t *)base)[i] = v != 0; break;
    default: tq_store_f64(dt, base, i, (double)v); break;
    }
}
