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
    const char *q_name;    /* its name (stays valid when the graph is compacted) */
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
    /* share[i]: the tensor (index into tensors) whose range tensor i is quantized with, or -1
     * for its own: tensor i is computed from that planned tensor by ops that only move or
     * select values (Slice, zero Pad, Reshape, MaxPool...), so it holds values already on that
     * tensor's int8 grid, and a range of its own would round them a second time. n_share
     * entries; NULL: none shared. */
    int32_t *share;
    size_t n_share;
    /* bias correction (owned by the caller, kept by tq_quant_plan_free): for node i of the FP32
     * graph, bias_corr + bias_corr_off[i] holds the per-channel amount to subtract from its
     * bias, or bias_corr_off[i] is (size_t)-1; NULL: no correction */
    const float *bias_corr;
    const size_t *bias_corr_off;
    size_t n_bias_corr_off;
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

/* Per-output-channel symmetric int8 quantization of a float weight of n elements whose channel
 * index is (i / inner) % cout: scale[c] = max|w|/127 (1 when the channel is all zero),
 * q = round(w / scale) in [-127, 127]. */
void tq_quant_weight_int8(const float *w, size_t n, int64_t cout, size_t inner, float *scale,
                          int8_t *q);

/* Empirical bias correction (Nagel et al. 2019): for every planned Conv/Gemm of the FP32 graph
 * g with a constant per-channel bias, run the layer with FP32 weights and with its int8
 * weights (dequantized) on the same FP32 inputs over the calibration data (opts->calib_fn) and
 * average their difference per output channel (over batch and spatial positions), scaled to
 * the bias (1/beta for Gemm). *corr_out (n corrections) and *off_out (g->n_nodes entries,
 * (size_t)-1 where there is none) are allocated with g->alloc; free with
 * tq_bias_correction_free. */
tfmq_status tq_bias_correction(const tq_graph *g, const tq_quant_plan *plan,
                               const tfmq_quantize_options *opts, float **corr_out,
                               size_t *n_corr_out, size_t **off_out);
void tq_bias_correction_free(const tfmq_allocator *a, float *corr, size_t n_corr, size_t *off,
                             size_t n_nodes);

#endif
