/* fused.h: the activation epilogue shared by the internal fused ops tfmq.FusedConv and
 * tfmq.FusedGemm (shape inference in ir/ops/fused.c, reference kernels in backends/ref/fused.c,
 * made by src/passes/). Attributes: "activation" ("" | "Relu" | "Clip" | "HardSwish" |
 * "LeakyRelu" | "Sigmoid"), "activation_min" / "activation_max" (Clip, default -/+FLT_MAX),
 * "activation_alpha" (LeakyRelu, default 0.01). Output = act(op(X, W, B) + R). */
#ifndef TQ_FUSED_H
#define TQ_FUSED_H

#include <math.h>

#include "ir/ir.h"

typedef enum tq_fused_act_kind {
    TQ_FUSED_ACT_NONE = 0,
    TQ_FUSED_ACT_RELU = 1,
    TQ_FUSED_ACT_CLIP = 2,
    TQ_FUSED_ACT_HARD_SWISH = 3,
    TQ_FUSED_ACT_LEAKY_RELU = 4,
    TQ_FUSED_ACT_SIGMOID = 5
} tq_fused_act_kind;

typedef struct tq_fused_act {
    tq_fused_act_kind kind;
    double lo, hi;  /* Clip bounds */
    double alpha;   /* LeakyRelu slope */
} tq_fused_act;

/* Read and validate the activation attributes of ctx->node. */
tfmq_status tq_fused_act_read(const tq_op_ctx *ctx, tq_fused_act *a);
/* Name of an activation kind as the "activation" attribute spells it. */
const char *tq_fused_act_name(tq_fused_act_kind kind);

/* The activation as the reference kernels of Relu, Clip, HardSwish, LeakyRelu and Sigmoid
 * compute it (in double). */
static inline double tq_fused_act_apply(const tq_fused_act *a, double x)
{
    switch (a->kind) {
    case TQ_FUSED_ACT_RELU:
        return x < 0.0 ? 0.0 : x; /* NaN passes through, like Relu */
    case TQ_FUSED_ACT_CLIP: {
        double v = x < a->lo ? a->lo : x;
        return v > a->hi ? a->hi : v;
    }
    case TQ_FUSED_ACT_HARD_SWISH: {
        double t = x / 6.0 + 0.5;
        t = t < 0.0 ? 0.0 : (t > 1.0 ? 1.0 : t);
        return x * t;
    }
    case TQ_FUSED_ACT_LEAKY_RELU:
        return x < 0.0 ? a->alpha * x : x;
    case TQ_FUSED_ACT_SIGMOID:
        if (x >= 0.0) {
            return 1.0 / (1.0 + exp(-x));
        } else {
            double e = exp(x);
            return e / (1.0 + e);
        }
    case TQ_FUSED_ACT_NONE:
    default:
        return x;
    }
}

#endif
