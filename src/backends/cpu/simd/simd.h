/* simd.h: internals of the SIMD family of the fast CPU backend (see cpu.h).
 *
 * The family is split in two layers:
 *  - the driver (simd.c, simd_pool.c): decides which nodes it takes and with which role, prepares
 *    a kernel (all state allocated at prepare time), and at run time cuts the work into rows or
 *    ranges for tq_cpu_parallel_for;
 *  - the row kernels of one instruction set, gathered in a tq_cpu_simd_isa table: portable C
 *    (simd_c.c), AVX2 (simd_avx2.c) and AVX-512 (simd_avx512.c). The two vector tables are
 *    written once, in simd_vec_impl.h, over a small vector abstraction that each ISA file
 *    defines before including it.
 *
 * Numerics follow the reference kernels (backends/ref) operation for operation wherever that is
 * cheap, so that most kernels are bit-exact: float32 arithmetic where the reference uses float,
 * double where it uses double, the same summation order for pooling. Sigmoid and Tanh use a
 * double-precision exp polynomial (relative error ~1e-15 before the final rounding to float, so
 * the float results practically always equal the reference's); Softmax a float32 exp
 * polynomial; LayerNormalization and the NCHW GlobalAveragePool sum in several double lanes.
 *
 * A prepared kernel is read-only while it runs, except planar-input pooling, which uses its own
 * scratch: like the oneDNN kernels, one kernel does not run concurrently with itself. */
#ifndef TQ_CPU_SIMD_H
#define TQ_CPU_SIMD_H

#include "backends/cpu/cpu.h"
#include "backends/ref/qlinear.h"

/* ---- parameters of the row kernels ---- */
typedef enum tq_cpu_simd_unop {
    TQ_CPU_SIMD_RELU = 0,
    TQ_CPU_SIMD_CLIP,         /* a = lo, b = hi */
    TQ_CPU_SIMD_LEAKY_RELU,   /* a = alpha */
    TQ_CPU_SIMD_HARD_SIGMOID, /* a = alpha, b = beta */
    TQ_CPU_SIMD_HARD_SWISH,
    TQ_CPU_SIMD_SIGMOID,
    TQ_CPU_SIMD_TANH
} tq_cpu_simd_unop;

typedef struct tq_cpu_simd_unary {
    tq_cpu_simd_unop op;
    float a, b;
} tq_cpu_simd_unary;

typedef enum tq_cpu_simd_binop {
    TQ_CPU_SIMD_ADD = 0,
    TQ_CPU_SIMD_SUB,
    TQ_CPU_SIMD_MUL,
    TQ_CPU_SIMD_DIV
} tq_cpu_simd_binop;

/* QuantizeLinear per tensor: y = clamp(round_half_even(x / scale) + zp, lo, hi), NaN -> 0. */
typedef struct tq_cpu_simd_quant {
    float scale, zp, lo, hi;
} tq_cpu_simd_quant;

/* DequantizeLinear per tensor: y = (float)(x - zp) * scale; x int8, uint8 or int32. */
typedef struct tq_cpu_simd_dequant {
    tfmq_dtype x_dt;
    int32_t zp;
    float scale;
} tq_cpu_simd_dequant;

/* tfmq.QAdd over equal shapes: the definition and its division-free forms, planned by
 * tq_ql_add_form_plan (backends/ref/qlinear.h). */
typedef tq_ql_add_form tq_cpu_simd_qadd;

/* One pooling window over channels-last data: taps at x + i*h_step + j*w_step (i < nh, j < nw)
 * in this order, each tap `c` contiguous channels. */
typedef struct tq_cpu_simd_win {
    size_t nh, nw, h_step, w_step, c;
} tq_cpu_simd_win;

/* LayerNormalization over the last dim: y = (x - mean) * inv_std * scale + bias, in double. */
typedef struct tq_cpu_simd_ln {
    const float *scale;
    const float *bias; /* NULL: none */
    double eps;
} tq_cpu_simd_ln;

/* Row kernels of one instruction set. Sizes may be anything (tails are handled inside). */
typedef struct tq_cpu_simd_isa {
    const char *name; /* "c", "avx2", "avx512" */
    void (*unary)(const tq_cpu_simd_unary *u, const float *x, float *y, size_t n);
    /* y[i] = a[i * sa] op b[i * sb] with sa, sb in {0, 1} (0: a scalar operand) */
    void (*binary)(tq_cpu_simd_binop op, const float *a, size_t sa, const float *b, size_t sb,
                   float *y, size_t n);
    void (*quant_s8)(const tq_cpu_simd_quant *q, const float *x, int8_t *y, size_t n);
    void (*quant_u8)(const tq_cpu_simd_quant *q, const float *x, uint8_t *y, size_t n);
    void (*dequant)(const tq_cpu_simd_dequant *q, const void *x, float *y, size_t n);
    void (*qadd)(const tq_cpu_simd_qadd *q, const void *a, const void *b, void *y, size_t n);
    /* pooling of one output pixel over w->c channels (window non-empty) */
    void (*max_f32)(const tq_cpu_simd_win *w, const float *x, float *y);
    void (*max_s8)(const tq_cpu_simd_win *w, const int8_t *x, int8_t *y);
    void (*max_u8)(const tq_cpu_simd_win *w, const uint8_t *x, uint8_t *y);
    void (*avg_f32)(const tq_cpu_simd_win *w, const float *x, double div, float *y);
    double (*sum_f64)(const float *x, size_t n);
    void (*softmax)(const float *x, float *y, size_t n);
    void (*layer_norm)(const tq_cpu_simd_ln *ln, const float *x, float *y, size_t n);
} tq_cpu_simd_isa;

extern const tq_cpu_simd_isa tq_cpu_simd_isa_c;
extern const tq_cpu_simd_isa tq_cpu_simd_isa_avx2;
extern const tq_cpu_simd_isa tq_cpu_simd_isa_avx512;

/* The table for an ISA level (the portable one below AVX2). */
const tq_cpu_simd_isa *tq_cpu_simd_isa_for(tq_cpu_isa isa);

/* ---- the prepared kernel (one struct for every kind) ---- */
typedef enum tq_cpu_simd_kind {
    TQ_CPU_SIMD_K_UNARY = 0,
    TQ_CPU_SIMD_K_BINARY,
    TQ_CPU_SIMD_K_QUANT,
    TQ_CPU_SIMD_K_DEQUANT,
    TQ_CPU_SIMD_K_QADD,
    TQ_CPU_SIMD_K_POOL,
    TQ_CPU_SIMD_K_GAP,
    TQ_CPU_SIMD_K_SOFTMAX,
    TQ_CPU_SIMD_K_LAYER_NORM,
    TQ_CPU_SIMD_K_PAD
} tq_cpu_simd_kind;

/* Pad in constant mode with no crop (NCHW, any dtype up to 16 bytes): each output row along the
 * last axis is the input's row (memcpy) between runs of the constant, or the constant alone. */
typedef struct tq_cpu_simd_pad {
    int32_t rank;
    size_t es;                      /* element size */
    int64_t xd[TQ_MAX_RANK], yd[TQ_MAX_RANK], begin[TQ_MAX_RANK];
    unsigned char value[16];        /* the constant's bytes */
    bool zero;                      /* all of them 0: memset */
} tq_cpu_simd_pad;

/* Binary broadcast patterns:
 *  SAME    equal shapes;
 *  SCALAR  one side has one element;
 *  ROWS    one side is a vector of `inner` broadcast over `rows` rows: the last dim, or the
 *          channels of channels-last data;
 *  PLANES  one side is per channel over NCHW planes: rows = N*C planes of `inner` = H*W, the
 *          vector entry is row % channels. */
typedef enum tq_cpu_simd_bmode {
    TQ_CPU_SIMD_B_SAME = 0,
    TQ_CPU_SIMD_B_SCALAR,
    TQ_CPU_SIMD_B_ROWS,
    TQ_CPU_SIMD_B_PLANES
} tq_cpu_simd_bmode;

typedef enum tq_cpu_simd_pool_op {
    TQ_CPU_SIMD_MAXPOOL = 0,
    TQ_CPU_SIMD_AVGPOOL
} tq_cpu_simd_pool_op;

/* Pool geometry (2 spatial dims) and memory strides of x and y in elements. */
typedef struct tq_cpu_simd_pool {
    tq_cpu_simd_pool_op op;
    tfmq_dtype dt;
    bool count_include_pad;
    int64_t n, c, ih, iw, oh, ow;
    int64_t kh, kw, sh, sw, dh, dw, pt, pl, pb, pr;
    size_t xs[4], ys[4]; /* strides of n, c, h, w */
    bool x_nhwc;
    /* planar input: blocks of blk channels, n_items (image, block) pairs over n_slots thread
       slots of slot_bytes scratch each */
    size_t blk, n_items, n_slots, slot_bytes;
} tq_cpu_simd_pool;

typedef struct tq_cpu_simd_kernel {
    tq_cpu_kernel base;
    tq_cpu_simd_kind kind;
    const tq_cpu_simd_isa *isa;
    int32_t n_threads;
    size_t n;           /* elements of the output */
    size_t rows, inner; /* row split (binary broadcasts, softmax, layer norm) */
    size_t channels;    /* TQ_CPU_SIMD_B_PLANES */
    tq_cpu_simd_binop bop;
    tq_cpu_simd_bmode bmode;
    int32_t small; /* binary: the broadcast input (0 or 1) */
    tq_cpu_simd_unary un;
    tq_cpu_simd_qadd qadd;
    tfmq_dtype dt; /* Q: output dtype; DQ: input dtype */
    double eps;    /* layer norm */
    tq_cpu_simd_pool pool;
    tq_cpu_simd_pad pad;
    void *scratch; /* made at prepare time (planar pooling), TQ_ALIGN-aligned */
    size_t scratch_bytes;
    char impl[48];
} tq_cpu_simd_kernel;

/* Grain of the element-wise kernels: items of at least this many elements per thread. */
#define TQ_CPU_SIMD_GRAIN ((size_t)1 << 14)

/* ---- pooling (simd_pool.c) ---- */
/* Fill the geometry from the node (rank-4 X, 2 spatial dims); false if not taken. */
bool tq_cpu_simd_pool_plan(const tq_op_ctx *ctx, tq_cpu_simd_pool *pl);
/* Set the memory strides of x and y from their layouts. */
void tq_cpu_simd_pool_set_layouts(tq_cpu_simd_pool *pl, tq_layout x_layout, tq_layout y_layout);
/* Once layouts and k->n_threads are set: the per-thread scratch of planar input. */
tfmq_status tq_cpu_simd_pool_prepare(tq_cpu_simd_kernel *k, const tfmq_allocator *alloc);
tfmq_status tq_cpu_simd_pool_run(tq_cpu_kernel *k, tq_op_ctx *ctx);
tfmq_status tq_cpu_simd_gap_run(tq_cpu_kernel *k, tq_op_ctx *ctx);

#endif
