// kernels_ew.cu: element-wise kernels of the CUDA backend (kernels.h): unary, binary, Clip and
// variadic ops over broadcast operands (tqk_ew), BatchNormalization, Cast, QuantizeLinear and
// DequantizeLinear, and the services of cuda.h (tq_cuda_convert, tq_cuda_relayout) with the
// tiled transpose they share with Transpose. Values are computed in float registers (a few ops
// in double where that is what the reference does, so F32 results match it exactly) and
// rounded once to the storage type.
#include <math.h>
#include <stdlib.h>

#include "backends/cuda/kernels_dev.cuh"

// ---- element-wise ops ----
__device__ __forceinline__ float ew_clamp01(float v)
{
    return v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v); // NaN passes through
}

__device__ __forceinline__ float ew_unary(int op, float x, float a, float b, float c)
{
    switch (op) {
    case TQK_EW_COPY:
        return x;
    case TQK_EW_RELU:
        return x < 0.0f ? 0.0f : x;
    case TQK_EW_LEAKY_RELU:
        return x < 0.0f ? a * x : x;
    case TQK_EW_SIGMOID:
        if (x >= 0.0f) {
            return 1.0f / (1.0f + expf(-x));
        } else {
            const float e = expf(x);
            return e / (1.0f + e);
        }
    case TQK_EW_TANH:
        return tanhf(x);
    case TQK_EW_EXP:
        return expf(x);
    case TQK_EW_LOG:
        return logf(x);
    case TQK_EW_SQRT:
        return sqrtf(x);
    case TQK_EW_ABS:
        return fabsf(x);
    case TQK_EW_NEG:
        return -x;
    case TQK_EW_ERF:
        return erff(x);
    case TQK_EW_RECIPROCAL:
        return 1.0f / x;
    case TQK_EW_FLOOR:
        return floorf(x);
    case TQK_EW_CEIL:
        return ceilf(x);
    case TQK_EW_ROUND:
        return rintf(x); // half to even
    case TQK_EW_SIGN:
        return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : x);
    case TQK_EW_HARD_SIGMOID: {
        // in double like the reference: a * x exact, one rounding of the sum
        const double v = (double)a * (double)x + (double)b;
        return (float)(v < 0.0 ? 0.0 : (v > 1.0 ? 1.0 : v));
    }
    case TQK_EW_HARD_SWISH: {
        const double v = (double)x / 6.0 + 0.5;
        return (float)((double)x * (v < 0.0 ? 0.0 : (v > 1.0 ? 1.0 : v)));
    }
    case TQK_EW_SOFTPLUS:
        return x > 0.0f ? x + log1pf(expf(-x)) : log1pf(expf(x));
    case TQK_EW_SOFTSIGN:
        return x / (1.0f + fabsf(x));
    case TQK_EW_GELU:
        // 0.5 x (1 + erf(x / sqrt 2)) = 0.5 x erfc(-x / sqrt 2): no cancellation for x < 0
        return 0.5f * x * erfcf(-x * 0.70710678118654752f);
    case TQK_EW_GELU_TANH: {
        // 0.5 (1 + tanh z) = sigmoid(2 z): no cancellation for x < 0
        const float z = 0.7978845608028654f * (x + 0.044715f * x * x * x);
        return x / (1.0f + expf(-2.0f * z));
    }
    case TQK_EW_ELU:
        return x < 0.0f ? a * expm1f(x) : x;
    case TQK_EW_SELU:
        return x <= 0.0f ? c * (a * expf(x) - a) : c * x;
    case TQK_EW_SIN:
        return sinf(x);
    case TQK_EW_COS:
        return cosf(x);
    case TQK_EW_CLIP: {
        const float v = x < a ? a : x;
        return v > b ? b : v;
    }
    default:
        return __int_as_float(0x7fc00000);
    }
}

__device__ __forceinline__ float ew_apply(int op, int n_in, float x0, float x1, float x2,
                                          float a, float b, float c)
{
    switch (op) {
    case TQK_EW_ADD:
        return x0 + x1;
    case TQK_EW_SUB:
        return x0 - x1;
    case TQK_EW_MUL:
        return x0 * x1;
    case TQK_EW_DIV:
        return x0 / x1;
    case TQK_EW_POW:
        return (float)pow((double)x0, (double)x1);
    case TQK_EW_PRELU:
        return x0 < 0.0f ? x0 * x1 : x0;
    case TQK_EW_MAX: {
        float r = x0;
        if (n_in > 1) {
            r = (x1 > r || isnan(x1)) ? x1 : r;
        }
        if (n_in > 2) {
            r = (x2 > r || isnan(x2)) ? x2 : r;
        }
        return r;
    }
    case TQK_EW_MIN: {
        float r = x0;
        if (n_in > 1) {
            r = (x1 < r || isnan(x1)) ? x1 : r;
        }
        if (n_in > 2) {
            r = (x2 < r || isnan(x2)) ? x2 : r;
        }
        return r;
    }
    case TQK_EW_SUM:
    case TQK_EW_MEAN: {
        float r = x0;
        if (n_in > 1) {
            r += x1;
        }
        if (n_in > 2) {
            r += x2;
        }
        return op == TQK_EW_MEAN && n_in > 1 ? r / (float)n_in : r;
    }
    default:
        return ew_unary(op, x0, a, b, c);
    }
}

// Offsets of element i of y in each operand.
template <typename I>
__device__ __forceinline__ void ew_offsets(const tqk_ew &e, I i, I *o0, I *o1, I *o2)
{
    I r = i, a0 = 0, a1 = 0, a2 = 0;
#pragma unroll
    for (int d = TQK_MAX_RANK - 1; d >= 0; d--) {
        if (d < e.rank) {
            const I dd = (I)e.dims[d];
            const I q = r / dd, k = r - q * dd;
            r = q;
            a0 += k * (I)e.stride[0][d];
            a1 += k * (I)e.stride[1][d];
            a2 += k * (I)e.stride[2][d];
        }
    }
    *o0 = a0;
    *o1 = a1;
    *o2 = a2;
}

template <typename T, typename I>
__global__ void ew_general_k(const tqk_ew e, T *__restrict__ y, const T *__restrict__ x0,
                             const T *__restrict__ x1, const T *__restrict__ x2)
{
    const I n = (I)e.n;
    for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (I)gridDim.x * blockDim.x) {
        I o0, o1, o2;
        ew_offsets<I>(e, i, &o0, &o1, &o2);
        const float v0 = tqk_ld(x0, o0);
        const float v1 = e.n_in > 1 ? tqk_ld(x1, o1) : 0.0f;
        const float v2 = e.n_in > 2 ? tqk_ld(x2, o2) : 0.0f;
        tqk_st(y, i, ew_apply(e.op, e.n_in, v0, v1, v2, e.a, e.b, e.c));
    }
}

// V = 16 / sizeof(T) consecutive elements per thread: operands with inner stride 1 are read
// as 16-byte vectors, those with inner stride 0 once. The host checked: inner dim % V == 0
// (or rank 1, the tail done element-wise), outer strides of stride-1 operands % V == 0, and
// 16-byte aligned pointers.
template <typename T, typename I>
__global__ void ew_vec_k(const tqk_ew e, T *__restrict__ y, const T *__restrict__ x0,
                         const T *__restrict__ x1, const T *__restrict__ x2)
{
    constexpr int V = tqk_vec<T>::N;
    const I n = (I)e.n, nv = n / V;
    const int r1 = e.rank - 1;
    const bool c0 = e.stride[0][r1] == 1, c1 = e.stride[1][r1] == 1, c2 = e.stride[2][r1] == 1;
    for (I iv = (I)blockIdx.x * blockDim.x + threadIdx.x; iv < nv;
         iv += (I)gridDim.x * blockDim.x) {
        I o0, o1, o2;
        ew_offsets<I>(e, iv * V, &o0, &o1, &o2);
        float v0[V], v1[V], v2[V];
        const T *xs[3] = {x0, x1, x2};
        const I os[3] = {o0, o1, o2};
        const bool cs[3] = {c0, c1, c2};
        float *vs[3] = {v0, v1, v2};
#pragma unroll
        for (int k = 0; k < 3; k++) {
            if (k >= e.n_in) {
#pragma unroll
                for (int j = 0; j < V; j++) {
                    vs[k][j] = 0.0f;
                }
            } else if (cs[k]) {
                const tqk_vec<T> w = *reinterpret_cast<const tqk_vec<T> *>(xs[k] + os[k]);
#pragma unroll
                for (int j = 0; j < V; j++) {
                    vs[k][j] = tqk_elem<T>::to_f(w.v[j]);
                }
            } else {
                const float s = tqk_ld(xs[k], os[k]);
#pragma unroll
                for (int j = 0; j < V; j++) {
                    vs[k][j] = s;
                }
            }
        }
        tqk_vec<T> out;
#pragma unroll
        for (int j = 0; j < V; j++) {
            out.v[j] =
                tqk_elem<T>::from_f(ew_apply(e.op, e.n_in, v0[j], v1[j], v2[j], e.a, e.b, e.c));
        }
        *reinterpret_cast<tqk_vec<T> *>(y + iv * V) = out;
    }
    // tail of a rank-1 operation
    const I t = nv * V + (I)blockIdx.x * blockDim.x + threadIdx.x;
    if (t < n) {
        I o0, o1, o2;
        ew_offsets<I>(e, t, &o0, &o1, &o2);
        const float v0 = tqk_ld(x0, o0);
        const float v1 = e.n_in > 1 ? tqk_ld(x1, o1) : 0.0f;
        const float v2 = e.n_in > 2 ? tqk_ld(x2, o2) : 0.0f;
        tqk_st(y, t, ew_apply(e.op, e.n_in, v0, v1, v2, e.a, e.b, e.c));
    }
}

template <typename T>
static int ew_run(const tqk_ew *e, void *yv, const void *const *xv, cudaStream_t s)
{
    constexpr int V = tqk_vec<T>::N;
    T *y = (T *)yv;
    const T *x[3] = {(const T *)xv[0], e->n_in > 1 ? (const T *)xv[1] : (const T *)xv[0],
                     e->n_in > 2 ? (const T *)xv[2] : (const T *)xv[0]};
    const int r1 = e->rank - 1;
    bool vec = (e->rank == 1 || e->dims[r1] % V == 0) && tqk_aligned16(y);
    for (int k = 0; vec && k < e->n_in; k++) {
        const int64_t si = e->stride[k][r1];
        if (si != 0 && si != 1) {
            vec = false;
        } else if (si == 1) {
            vec = tqk_aligned16(x[k]);
            for (int d = 0; vec && d < r1; d++) {
                vec = e->stride[k][d] % V == 0;
            }
        }
    }
    const bool small = e->n < ((int64_t)1 << 31);
    if (vec) {
        const unsigned g = tqk_blocks(e->n / V > 0 ? e->n / V : 1);
        if (small) {
            ew_vec_k<T, uint32_t><<<g, TQK_BLOCK, 0, s>>>(*e, y, x[0], x[1], x[2]);
        } else {
            ew_vec_k<T, int64_t><<<g, TQK_BLOCK, 0, s>>>(*e, y, x[0], x[1], x[2]);
        }
    } else if (small) {
        ew_general_k<T, uint32_t><<<tqk_blocks(e->n), TQK_BLOCK, 0, s>>>(*e, y, x[0], x[1], x[2]);
    } else {
        ew_general_k<T, int64_t><<<tqk_blocks(e->n), TQK_BLOCK, 0, s>>>(*e, y, x[0], x[1], x[2]);
    }
    return (int)cudaGetLastError();
}

extern "C" int tqk_ew_launch(const tqk_ew *e, void *y, const void *const *x, void *stream)
{
    if (e->n <= 0) {
        return 0;
    }
    TQK_FLOAT_DISPATCH(e->type, return ew_run<T>(e, y, x, (cudaStream_t)stream));
    return 0;
}

// ---- BatchNormalization (inference): y = (x - mean) * a + bias per channel, in double as the
// reference (a = scale / sqrt(var + eps) computed at prepare) ----
template <typename T>
__global__ void bn_k(int64_t n, int64_t C, int64_t inner, const double *__restrict__ p,
                     T *__restrict__ y, const T *__restrict__ x)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t c = (i / inner) % C;
        tqk_st(y, i, (float)(((double)tqk_ld(x, i) - p[c]) * p[C + c] + p[2 * C + c]));
    }
}

extern "C" int tqk_batchnorm_launch(int32_t type, int64_t n, int64_t C, int64_t inner,
                                    const double *p, void *y, const void *x, void *stream)
{
    if (n <= 0) {
        return 0;
    }
    cudaStream_t s = (cudaStream_t)stream;
    TQK_FLOAT_DISPATCH(type, bn_k<T><<<tqk_blocks(n), TQK_BLOCK, 0, s>>>(n, C, inner, p, (T *)y,
                                                                         (const T *)x));
    return (int)cudaGetLastError();
}

// ---- Cast: any tqk_type to any other ----
__device__ __forceinline__ bool cast_is_float(int t)
{
    return t == TQK_F32 || t == TQK_F16 || t == TQK_BF16;
}

__device__ __forceinline__ float cast_ldf(int t, const void *p, int64_t i)
{
    switch (t) {
    case TQK_F32:
        return ((const float *)p)[i];
    case TQK_F16:
        return __half2float(((const __half *)p)[i]);
    default:
        return __bfloat162float(((const __nv_bfloat16 *)p)[i]);
    }
}

__device__ __forceinline__ int64_t cast_ldi(int t, const void *p, int64_t i)
{
    switch (t) {
    case TQK_I8:
        return ((const int8_t *)p)[i];
    case TQK_U8:
    case TQK_BOOL:
        return ((const uint8_t *)p)[i];
    case TQK_I32:
        return ((const int32_t *)p)[i];
    default:
        return ((const int64_t *)p)[i];
    }
}

// float -> integer: truncate, saturate, NaN -> 0 (tq_store_f64)
__device__ __forceinline__ int64_t cast_sat(double v, double lo, double hi)
{
    if (isnan(v)) {
        return 0;
    }
    if (v <= lo) {
        return (int64_t)lo;
    }
    if (v >= hi) {
        return hi >= 9.2233720368547748e18 ? INT64_MAX : (int64_t)hi;
    }
    return (int64_t)v;
}

__global__ void cast_k(int yt, int xt, int64_t n, void *__restrict__ y, const void *__restrict__ x)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        const bool xf = cast_is_float(xt);
        if (cast_is_float(yt)) {
            float f = xf ? cast_ldf(xt, x, i) : (float)(double)cast_ldi(xt, x, i);
            switch (yt) {
            case TQK_F32:
                ((float *)y)[i] = f;
                break;
            case TQK_F16:
                ((__half *)y)[i] = __float2half_rn(f);
                break;
            default:
                ((__nv_bfloat16 *)y)[i] = __float2bfloat16_rn(f);
                break;
            }
            continue;
        }
        if (yt == TQK_BOOL) {
            ((uint8_t *)y)[i] = (uint8_t)(xf ? cast_ldf(xt, x, i) != 0.0f : cast_ldi(xt, x, i) != 0);
            continue;
        }
        int64_t v;
        if (xf) {
            const double d = (double)cast_ldf(xt, x, i);
            switch (yt) {
            case TQK_I8:
                v = cast_sat(d, -128.0, 127.0);
                break;
            case TQK_U8:
                v = cast_sat(d, 0.0, 255.0);
                break;
            case TQK_I32:
                v = cast_sat(d, -2147483648.0, 2147483647.0);
                break;
            default:
                v = cast_sat(d, -9223372036854775808.0, 9223372036854775807.0);
                break;
            }
        } else {
            v = cast_ldi(xt, x, i);
        }
        switch (yt) {
        case TQK_I8:
            ((int8_t *)y)[i] = (int8_t)v;
            break;
        case TQK_U8:
            ((uint8_t *)y)[i] = (uint8_t)v;
            break;
        case TQK_I32:
            ((int32_t *)y)[i] = (int32_t)v;
            break;
        default:
            ((int64_t *)y)[i] = v;
            break;
        }
    }
}

extern "C" int tqk_cast_launch(int32_t ytype, int32_t xtype, int64_t n, void *y, const void *x,
                               void *stream)
{
    if (n <= 0) {
        return 0;
    }
    if (ytype == xtype) {
        static const size_t es[8] = {4, 2, 2, 1, 1, 4, 8, 1};
        if (ytype < 0 || ytype > 7) {
            return (int)cudaErrorInvalidValue;
        }
        return (int)cudaMemcpyAsync(y, x, (size_t)n * es[ytype], cudaMemcpyDeviceToDevice,
                                    (cudaStream_t)stream);
    }
    cast_k<<<tqk_blocks(n), TQK_BLOCK, 0, (cudaStream_t)stream>>>(ytype, xtype, n, y, x);
    return (int)cudaGetLastError();
}

// ---- QuantizeLinear / DequantizeLinear ----
template <typename T>
__global__ void quant_k(int yt, int64_t n, int64_t n_ch, int64_t inner, const float *__restrict__ s,
                        const int32_t *__restrict__ z, void *__restrict__ y,
                        const T *__restrict__ x)
{
    const double lo = yt == TQK_I8 ? -128.0 : 0.0, hi = yt == TQK_I8 ? 127.0 : 255.0;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t c = n_ch > 1 ? (i / inner) % n_ch : 0;
        const float q = tqk_ld(x, i) / s[c]; // float division, as the reference
        double v = rint((double)q) + (double)z[c];
        if (isnan(v)) {
            v = 0.0;
        }
        v = v < lo ? lo : (v > hi ? hi : v);
        if (yt == TQK_I8) {
            ((int8_t *)y)[i] = (int8_t)v;
        } else {
            ((uint8_t *)y)[i] = (uint8_t)v;
        }
    }
}

// One per-tensor QuantizeLinear value in float only, as its byte: quant_k's result, since
// rintf(q) + z is exact below 2^23 and clamps to the same bound above (|z| <= 255), and a NaN
// gives 0 in both.
__device__ __forceinline__ uint32_t quant_f32_byte(float x, float scale, float zp, float lo,
                                                   float hi)
{
    float q = __fadd_rn(rintf(__fdiv_rn(x, scale)), zp);
    q = q != q ? 0.0f : fminf(fmaxf(q, lo), hi);
    return (uint32_t)__float2int_rn(q) & 0xffu;
}

// Per-tensor float32 -> int8 / uint8, 4 elements per thread (one 16-byte load, one 4-byte
// store), in float only (quant_f32_byte).
__global__ void quant_vec4_k(int yt, int64_t n4, const float *__restrict__ s,
                             const int32_t *__restrict__ z, uint32_t *__restrict__ y,
                             const float4 *__restrict__ x)
{
    const float lo = yt == TQK_I8 ? -128.0f : 0.0f, hi = yt == TQK_I8 ? 127.0f : 255.0f;
    const float scale = s[0], zp = (float)z[0];
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n4;
         i += (int64_t)gridDim.x * blockDim.x) {
        const float4 v = __ldg(x + i);
        const float in[4] = {v.x, v.y, v.z, v.w};
        uint32_t out = 0;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            out |= quant_f32_byte(in[j], scale, zp, lo, hi) << (8 * j);
        }
        y[i] = out;
    }
}

// Per-tensor float32 NCHW -> int8 / uint8 NHWC in one pass (a network's input, quantized for
// its first convolution: no separate relayout of the int8 tensor): one thread per pixel reads
// its C values from the C planes (coalesced across the warp) and writes C bytes. The float
// arithmetic is quant_vec4_k's, so the bytes are quant_k's.
__global__ void quant_nchw_nhwc_k(int yt, int64_t n_pix, int64_t C, int64_t HW,
                                  const float *__restrict__ s, const int32_t *__restrict__ z,
                                  uint8_t *__restrict__ y, const float *__restrict__ x)
{
    const float lo = yt == TQK_I8 ? -128.0f : 0.0f, hi = yt == TQK_I8 ? 127.0f : 255.0f;
    const float scale = s[0], zp = (float)z[0];
    for (int64_t p = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; p < n_pix;
         p += (int64_t)gridDim.x * blockDim.x) {
        const int64_t img = p / HW, hw = p - img * HW;
        const float *xp = x + img * C * HW + hw;
        uint8_t *yp = y + p * C;
        for (int64_t c = 0; c < C; c++) {
            yp[c] = (uint8_t)quant_f32_byte(__ldg(xp + c * HW), scale, zp, lo, hi);
        }
    }
}

// The same for C <= 4 and H * W % 4 == 0 (a network's RGB input): four pixels per thread, one
// 16-byte load from each plane, the 4 C output bytes stored as C words.
template <int C>
__global__ void quant_nchw_nhwc_vec4_k(int yt, int64_t n_quads, int64_t HW,
                                       const float *__restrict__ s, const int32_t *__restrict__ z,
                                       uint32_t *__restrict__ y, const float *__restrict__ x)
{
    const float lo = yt == TQK_I8 ? -128.0f : 0.0f, hi = yt == TQK_I8 ? 127.0f : 255.0f;
    const float scale = s[0], zp = (float)z[0];
    for (int64_t q = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; q < n_quads;
         q += (int64_t)gridDim.x * blockDim.x) {
        const int64_t p0 = q * 4, img = p0 / HW, hw = p0 - img * HW;
        uint32_t w[C];
#pragma unroll
        for (int i = 0; i < C; i++) {
            w[i] = 0;
        }
#pragma unroll
        for (int c = 0; c < C; c++) {
            const float4 v = __ldg(reinterpret_cast<const float4 *>(x + (img * C + c) * HW + hw));
            const float in[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
            for (int j = 0; j < 4; j++) {
                const int byte = j * C + c; /* pixel j, channel c of this thread's 4 C bytes */
                w[byte / 4] |= quant_f32_byte(in[j], scale, zp, lo, hi) << (8 * (byte % 4));
            }
        }
#pragma unroll
        for (int i = 0; i < C; i++) {
            y[q * C + i] = w[i];
        }
    }
}

extern "C" int tqk_quant_nchw_nhwc_launch(int32_t ytype, int64_t n_img, int64_t C, int64_t HW,
                                          const float *s, const int32_t *z, void *y,
                                          const float *x, void *stream)
{
    const int64_t n_pix = n_img * HW;
    if (n_pix <= 0 || C <= 0) {
        return 0;
    }
    if (C <= 4 && HW % 4 == 0 && tqk_aligned16(x) && (uintptr_t)y % 4 == 0) {
        const int64_t nq = n_pix / 4;
        cudaStream_t st = (cudaStream_t)stream;
        uint32_t *yw = (uint32_t *)y;
        switch (C) {
        case 1:
            quant_nchw_nhwc_vec4_k<1><<<tqk_blocks(nq), TQK_BLOCK, 0, st>>>(ytype, nq, HW, s, z,
                                                                             yw, x);
            break;
        case 2:
            quant_nchw_nhwc_vec4_k<2><<<tqk_blocks(nq), TQK_BLOCK, 0, st>>>(ytype, nq, HW, s, z,
                                                                             yw, x);
            break;
        case 3:
            quant_nchw_nhwc_vec4_k<3><<<tqk_blocks(nq), TQK_BLOCK, 0, st>>>(ytype, nq, HW, s, z,
                                                                             yw, x);
            break;
        default:
            quant_nchw_nhwc_vec4_k<4><<<tqk_blocks(nq), TQK_BLOCK, 0, st>>>(ytype, nq, HW, s, z,
                                                                             yw, x);
            break;
        }
        return (int)cudaGetLastError();
    }
    quant_nchw_nhwc_k<<<tqk_blocks(n_pix), TQK_BLOCK, 0, (cudaStream_t)stream>>>(
        ytype, n_pix, C, HW, s, z, (uint8_t *)y, x);
    return (int)cudaGetLastError();
}

template <typename T>
__global__ void dequant_k(int xt, int64_t n, int64_t n_ch, int64_t inner,
                          const float *__restrict__ s, const int32_t *__restrict__ z,
                          T *__restrict__ y, const void *__restrict__ x)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t c = n_ch > 1 ? (i / inner) % n_ch : 0;
        int64_t v;
        switch (xt) {
        case TQK_I8:
            v = ((const int8_t *)x)[i];
            break;
        case TQK_U8:
            v = ((const uint8_t *)x)[i];
            break;
        default:
            v = ((const int32_t *)x)[i];
            break;
        }
        tqk_st(y, i, (float)(v - (int64_t)z[c]) * s[c]);
    }
}

extern "C" int tqk_quant_launch(int32_t ytype, int32_t xtype, int64_t n, int64_t n_ch,
                                int64_t inner, const float *s, const int32_t *z, void *y,
                                const void *x, void *stream)
{
    if (n <= 0) {
        return 0;
    }
    cudaStream_t st = (cudaStream_t)stream;
    if (xtype == TQK_F32 && n_ch == 1 && n % 4 == 0 && tqk_aligned16(x) &&
        (uintptr_t)y % 4 == 0 && !getenv("TFMQ_CUDA_QUANT_SCALAR")) {
        quant_vec4_k<<<tqk_blocks(n / 4), TQK_BLOCK, 0, st>>>(ytype, n / 4, s, z, (uint32_t *)y,
                                                               (const float4 *)x);
        return (int)cudaGetLastError();
    }
    TQK_FLOAT_DISPATCH(xtype, quant_k<T><<<tqk_blocks(n), TQK_BLOCK, 0, st>>>(
                                  ytype, n, n_ch, inner, s, z, y, (const T *)x));
    return (int)cudaGetLastError();
}

// Per-tensor int8 / uint8 -> float32, 4 elements per thread (one 4-byte load, one 16-byte
// store): dequant_k's arithmetic, element for element.
__global__ void dequant_vec4_k(int xt, int64_t n4, const float *__restrict__ s,
                               const int32_t *__restrict__ z, float4 *__restrict__ y,
                               const uint32_t *__restrict__ x)
{
    const float scale = s[0];
    const int32_t zp = z[0];
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n4;
         i += (int64_t)gridDim.x * blockDim.x) {
        const uint32_t w = __ldg(x + i);
        float o[4];
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const uint32_t b = (w >> (8 * j)) & 0xffu;
            const int32_t v = xt == TQK_I8 ? (int32_t)(int8_t)(uint8_t)b : (int32_t)b;
            o[j] = (float)(v - zp) * scale;
        }
        y[i] = make_float4(o[0], o[1], o[2], o[3]);
    }
}

extern "C" int tqk_dequant_launch(int32_t ytype, int32_t xtype, int64_t n, int64_t n_ch,
                                  int64_t inner, const float *s, const int32_t *z, void *y,
                                  const void *x, void *stream)
{
    if (n <= 0) {
        return 0;
    }
    cudaStream_t st = (cudaStream_t)stream;
    if (ytype == TQK_F32 && (xtype == TQK_I8 || xtype == TQK_U8) && n_ch == 1 && n % 4 == 0 &&
        tqk_aligned16(y) && (uintptr_t)x % 4 == 0) {
        dequant_vec4_k<<<tqk_blocks(n / 4), TQK_BLOCK, 0, st>>>(xtype, n / 4, s, z, (float4 *)y,
                                                                 (const uint32_t *)x);
        return (int)cudaGetLastError();
    }
    TQK_FLOAT_DISPATCH(ytype, dequant_k<T><<<tqk_blocks(n), TQK_BLOCK, 0, st>>>(
                                  xtype, n, n_ch, inner, s, z, (T *)y, x));
    return (int)cudaGetLastError();
}

// ---- tiled transpose: dst[b][c][r] = src[b][r][c] ----
template <typename E>
__global__ void transpose2d_k(E *__restrict__ dst, const E *__restrict__ src, int64_t B, int64_t R,
                              int64_t Cc)
{
    __shared__ E tile[32][33];
    const int tx = threadIdx.x, ty = threadIdx.y;
    for (int64_t b = blockIdx.z; b < B; b += gridDim.z) {
        const E *s = src + b * R * Cc;
        E *d = dst + b * R * Cc;
        for (int64_t r0 = (int64_t)blockIdx.y * 32; r0 < R; r0 += (int64_t)gridDim.y * 32) {
            for (int64_t c0 = (int64_t)blockIdx.x * 32; c0 < Cc; c0 += (int64_t)gridDim.x * 32) {
                for (int j = ty; j < 32; j += 8) {
                    const int64_t r = r0 + j, c = c0 + tx;
                    if (r < R && c < Cc) {
                        tile[j][tx] = s[r * Cc + c];
                    }
                }
                __syncthreads();
                for (int j = ty; j < 32; j += 8) {
                    const int64_t c = c0 + j, r = r0 + tx;
                    if (c < Cc && r < R) {
                        d[c * R + r] = tile[tx][j];
                    }
                }
                __syncthreads();
            }
        }
    }
}

static unsigned t2d_grid(int64_t n, int64_t cap)
{
    int64_t g = (n + 31) / 32;
    return (unsigned)(g < 1 ? 1 : (g > cap ? cap : g));
}

// dst[b][c][r] = src[b][r][c] when R or Cc is small (the 3-channel image of a network's first
// convolution): one thread per element of the long side, looping over the short side, so reads
// and writes stay coalesced across the warp where the tiled kernel would waste most of a tile.
template <typename E>
__global__ void transpose_small_k(E *__restrict__ dst, const E *__restrict__ src, int64_t B,
                                  int64_t R, int64_t Cc, int small_r)
{
    const int64_t L = small_r ? Cc : R, S = small_r ? R : Cc, n = B * L;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t b = i / L, l = i - b * L;
        const E *sp = src + b * R * Cc;
        E *dp = dst + b * R * Cc;
        for (int64_t k = 0; k < S; k++) {
            if (small_r) { // l is the column c, k the row r
                dp[l * R + k] = sp[k * Cc + l];
            } else { // l is the row r, k the column c
                dp[k * R + l] = sp[l * Cc + k];
            }
        }
    }
}

template <typename E>
static void transpose_small_run(void *dst, const void *src, int64_t B, int64_t R, int64_t Cc,
                                cudaStream_t s)
{
    const int small_r = R <= Cc;
    transpose_small_k<E><<<tqk_blocks(B * (small_r ? Cc : R)), TQK_BLOCK, 0, s>>>(
        (E *)dst, (const E *)src, B, R, Cc, small_r);
}

extern "C" int tqk_transpose2d(void *dst, const void *src, int64_t B, int64_t R, int64_t Cc,
                               int32_t esize, void *stream)
{
    if (B <= 0 || R <= 0 || Cc <= 0) {
        return 0;
    }
    if (R <= 8 || Cc <= 8) {
        cudaStream_t ss = (cudaStream_t)stream;
        switch (esize) {
        case 1:
            transpose_small_run<uint8_t>(dst, src, B, R, Cc, ss);
            break;
        case 2:
            transpose_small_run<uint16_t>(dst, src, B, R, Cc, ss);
            break;
        case 4:
            transpose_small_run<uint32_t>(dst, src, B, R, Cc, ss);
            break;
        case 8:
            transpose_small_run<uint64_t>(dst, src, B, R, Cc, ss);
            break;
        default:
            return (int)cudaErrorInvalidValue;
        }
        return (int)cudaGetLastError();
    }
    const dim3 block(32, 8);
    const dim3 grid(t2d_grid(Cc, 1 << 20), t2d_grid(R, 65535),
                    (unsigned)(B < 65535 ? B : 65535));
    cudaStream_t s = (cudaStream_t)stream;
    switch (esize) {
    case 1:
        transpose2d_k<uint8_t><<<grid, block, 0, s>>>((uint8_t *)dst, (const uint8_t *)src, B, R,
                                                      Cc);
        break;
    case 2:
        transpose2d_k<uint16_t><<<grid, block, 0, s>>>((uint16_t *)dst, (const uint16_t *)src, B,
                                                       R, Cc);
        break;
    case 4:
        transpose2d_k<uint32_t><<<grid, block, 0, s>>>((uint32_t *)dst, (const uint32_t *)src, B,
                                                       R, Cc);
        break;
    case 8:
        transpose2d_k<uint64_t><<<grid, block, 0, s>>>((uint64_t *)dst, (const uint64_t *)src, B,
                                                       R, Cc);
        break;
    default:
        return (int)cudaErrorInvalidValue;
    }
    return (int)cudaGetLastError();
}

// ---- prepare-time memory ----
extern "C" int tqk_upload(void **dptr_out, const void *host, size_t n_bytes)
{
    *dptr_out = NULL;
    void *d = NULL;
    cudaError_t e = cudaMalloc(&d, n_bytes ? n_bytes : 1);
    if (e != cudaSuccess) {
        return (int)e;
    }
    if (n_bytes) {
        e = cudaMemcpy(d, host, n_bytes, cudaMemcpyHostToDevice);
        if (e != cudaSuccess) {
            cudaFree(d);
            return (int)e;
        }
    }
    *dptr_out = d;
    return 0;
}

extern "C" void tqk_device_free(void *dptr)
{
    if (dptr) {
        cudaFree(dptr);
    }
}

// ---- data movement primitives ----
extern "C" int tqk_copy(void *dst, const void *src, size_t n_bytes, void *stream)
{
    if (n_bytes == 0 || dst == src) {
        return 0;
    }
    return (int)cudaMemcpyAsync(dst, src, n_bytes, cudaMemcpyDeviceToDevice, (cudaStream_t)stream);
}

extern "C" int tqk_memset(void *dst, int value, size_t n_bytes, void *stream)
{
    if (n_bytes == 0) {
        return 0;
    }
    return (int)cudaMemsetAsync(dst, value, n_bytes, (cudaStream_t)stream);
}

extern "C" int tqk_copy2d(void *dst, size_t dpitch, const void *src, size_t spitch,
                          size_t width_bytes, size_t rows, void *stream)
{
    if (width_bytes == 0 || rows == 0) {
        return 0;
    }
    return (int)cudaMemcpy2DAsync(dst, dpitch, src, spitch, width_bytes, rows,
                                  cudaMemcpyDeviceToDevice, (cudaStream_t)stream);
}
