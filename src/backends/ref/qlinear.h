/* qlinear.h: the integer ops tfmq.QConv, tfmq.QGemm and tfmq.QAdd made by lowering QDQ graphs
 * (passes/lower_qdq.c), and the requantisation arithmetic that defines them bit for bit
 * (docs/QUANTIZATION.md, "Integer numerics"). Shared by shape inference (ir/ops/qlinear.c), the
 * reference kernels (backends/ref/qlinear.c) and tests.
 *
 * QConv / QGemm inputs: 0 x_q (int8|uint8), 1 x_scale (f32 scalar), 2 x_zp (x's dtype, scalar,
 * optional = 0), 3 w_q (int8; Conv layout [M, C/group, k..] or Gemm [N, K]), 4 w_scale (f32, one
 * or one per output channel), 5 w_zp (int8, one or per channel, optional = 0), 6 y_scale (f32
 * scalar), 7 y_zp (int8|uint8 scalar: the output dtype; absent = uint8 zero point 0), 8 bias_q
 * (int32 [M], optional; its scale is x_scale * w_scale[c]).
 * QAdd inputs: 0 a_q, 1 a_scale, 2 a_zp, 3 b_q, 4 b_scale, 5 b_zp, 6 y_scale, 7 y_zp.
 * Attributes: QConv takes Conv's; all take `activation` ("" | "Relu" | "Clip") with
 * `activation_min` / `activation_max` (floats, real units) for Clip. */
#ifndef TQ_REF_QLINEAR_H
#define TQ_REF_QLINEAR_H

#include "ir/ir.h"

/* Input slots of QConv / QGemm (QAdd uses 0..7 with a = x, b = w). */
enum {
    TQ_QL_X = 0,
    TQ_QL_X_SCALE = 1,
    TQ_QL_X_ZP = 2,
    TQ_QL_W = 3,
    TQ_QL_W_SCALE = 4,
    TQ_QL_W_ZP = 5,
    TQ_QL_Y_SCALE = 6,
    TQ_QL_Y_ZP = 7,
    TQ_QL_BIAS = 8
};

/* Requantisation multiplier of one output channel: computed in double, rounded to float once. */
static inline float tq_ql_multiplier(float x_scale, float w_scale, float y_scale)
{
    return (float)((double)x_scale * (double)w_scale / (double)y_scale);
}

/* The int32 accumulator: the exact int64 sum saturated to the int32 range. */
static inline int32_t tq_ql_sat32(int64_t acc)
{
    return acc > INT32_MAX ? INT32_MAX : (acc < INT32_MIN ? INT32_MIN : (int32_t)acc);
}

/* y = clamp(round_half_even((double)acc * (double)m) + zp, lo, hi); lo > hi gives hi (as Clip). */
int32_t tq_ql_requant(int32_t acc, float m, int32_t zp, int32_t lo, int32_t hi);

/* Quantised output bounds [lo, hi] of output dtype y_dt narrowed by the node's `activation`:
 * Relu -> lo >= q(0) = zp; Clip -> [q(min), q(max)] with q(a) = round_half_even(a / y_scale) + zp
 * (the division in float32, as QuantizeLinear). */
tfmq_status tq_ql_bounds(const tq_op_ctx *ctx, tfmq_dtype y_dt, float y_scale, int32_t y_zp,
                         int32_t *lo, int32_t *hi);

/* Validate the dtypes and shapes of the parameter inputs of QConv / QGemm (in[1], in[2], in[4..8])
 * for n_oc output channels (-1: unknown) and the `activation` attribute; *y_dt_out gets the
 * output dtype. Works at plan time (data unknown). */
tfmq_status tq_ql_check(const tq_op_ctx *ctx, int64_t n_oc, tfmq_dtype *y_dt_out);
/* Validate the inputs of QAdd and the activation attribute; *y_dt_out gets the output dtype. */
tfmq_status tq_ql_check_add(const tq_op_ctx *ctx, tfmq_dtype *y_dt_out);

/* QAdd in forms fast kernels can use (the CPU's vector kernels, the CUDA kernel), each equal to
 * the definition (docs/QUANTIZATION.md) on every pair of stored bytes after clamping: the caller
 * fills the fields up to y_scale, tq_ql_add_form_plan() the rest, checking all 65536 pairs. */
typedef struct tq_ql_add_form {
    bool a_s8, b_s8, y_s8; /* int8 (true) or uint8 */
    int32_t a_zp, b_zp, y_zp, lo, hi; /* lo, hi: tq_ql_bounds */
    double a_scale, b_scale, y_scale;
    /* the float form when it equals the definition for every (a, b) pair:
     * y = round(fma(ka, a, fma(kb, b, c0))) + y_zp, clamped, on the stored bytes a and b.
     * No division and float lanes. */
    bool use_f;
    float ka, kb, c0;
    float vlo, vhi, fyz; /* lo - y_zp, hi - y_zp and y_zp (kernels clamp before rounding) */
    /* else, when the float form misses only near ties, the checked float form (use_fh): a lane
     * where |v - round(v)| >= fh_tie (v the float form before rounding, clamped to
     * [lo - y_zp, hi - y_zp]) takes the double path below; the margin is derived and the result
     * checked exhaustively in qlinear.c */
    bool use_fh;
    float fh_tie;
    /* else (or for those lanes) the same form in double, still without a division, when it is
     * exact likewise; else the definition itself */
    bool use_dm;
    double dka, dkb, dc0;
    /* the integer form, independent of the others, when it equals the definition (clamped)
     * for every byte pair: y = clamp((ia * a + ib * b + ic) >> ish, lo, hi) on the stored
     * values, in int32 without overflow (the shift arithmetic: a floor); ic carries y_zp and
     * the rounding. For kernels whose operand a is already an integer in a register (the
     * CUDA pointwise convolution with its QAdd fused): searched only where the caller sets
     * want_i (a few milliseconds a node). */
    bool want_i;
    bool use_i;
    int32_t ia, ib, ic, ish;
} tq_ql_add_form;

void tq_ql_add_form_plan(tq_ql_add_form *q);

#endif
