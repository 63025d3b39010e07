/* quant.h: internals of tfmq_quantize shared by quantize.c and tfmq_quantize's driver: the plan
 * of which layers and tensors get quantized, and the graph rewrites that apply it. */
#ifndef TQ_QUANT_H
#define TQ_QUANT_H

#include "runtime/model.h"

typedef struct tq_quant_layer {
    int32_t node;          /* node index in the FP32 (optimized) graph */
    const char *label;     /* node label */
    const char *op;        /* op type */
    int32_t weight_axis;   /* output-channel axis of the constant weight */
    int32_t post;          /* value quantized at the layer's output (after Relu/Clip) */
    int32_t act_node;      /* the Relu/Clip merged into the layer, or -1 */
    bool excluded;         /* kept in float (tolerance fallback) */
    int32_t q_value;       /* in the quantized graph: the Q output (int8) or rounded output */
    float q_scale;
    int32_t q_zero_point;
} tq_quant_layer;

typedef struct tq_quant_plan {
    const tfmq_allocator *alloc;
    const char *const *exclude; /* labels to keep in float */
    size_t n_exclude;
    tq_quant_layer *layers;
    size_t n_layers, cap_layers;
    int32_t *tensors;            /* activation values to calibrate and quantize */
    size_t n_tensors, cap_tensors;
    float *lo, *hi;              /* calibrated ranges, n_tensors entries */
    size_t n_lohi;
} tq_quant_plan;

/* Choose the layers and activation tensors of an FP32 graph to quantize to INT8. */
/* Threads of the FP32 and candidate runs of calibration and fidelity measurement: the fast CPU
 * backend's default (0, the reference kernels, when the ISA level is scalar). */
int32_t tq_quant_threads(void);

tfmq_status tq_quant_plan_int8(const tq_graph *g, tq_quant_plan *plan);
/* Insert Q/DQ into g (a copy of the planned graph) using plan->lo/hi; fills layers' q_*. */
tfmq_status tq_quant_apply_int8(tq_graph *g, tq_quant_plan *plan, bool asymmetric);
/* Store weights in `half` (FLOAT16 or BFLOAT16) and round activations through it; records the
 * layers in plan (may be NULL). */
tfmq_status tq_quant_apply_half(tq_graph *g, tfmq_dtype half, tq_quant_plan *plan);
void tq_quant_plan_free(tq_quant_plan *p);

#endif
