/* quantize.c: tfmq_quantize(): FP32 model -> model of another precision.
 * Steps: clone the FP32 graph into the new model (constants copied so it is self-contained),
 * fold constants and batch norms, then
 *  - INT8: pick the layers integer kernels can run (Conv, Gemm, MatMul with constant weights,
 *    Add of two activations), calibrate the activations at their inputs and outputs (after a
 *    following Relu/Clip), and insert QuantizeLinear/DequantizeLinear pairs: activations per
 *    tensor (symmetric int8, zero point 0, scale = T/127; or asymmetric uint8), weights per output
 *    channel (symmetric int8 in [-127, 127]), biases as int32 with scale s_x * s_w[c]. This is
 *    the QDQ form ONNX Runtime and TensorRT's explicit quantization read, and what lower_qdq maps
 *    onto integer kernels.
 *  - FP16/BF16: weights stored in the type behind a Cast to float32, and every compute output
 *    rounded through the type (Cast there and back): storage in the type, arithmetic in float32.
 * Then measure fidelity against the FP32 graph and, with a tolerance, move the most damaging
 * layers back to float one at a time until it is met. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/rewrite.h"
#include "passes/pass.h"
#include "quant/calib.h"
#include "quant/quant.h"
#include "quant/report.h"
#include "runtime/compile.h"

const char *tfmq_precision_name(tfmq_precision p)
{
    switch (p) {
    case TFMQ_PRECISION_FP32: return "fp32";
    case TFMQ_PRECISION_TF32: return "tf32";
    case TFMQ_PRECISION_FP16: return "fp16";
    case TFMQ_PRECISION_BF16: return "bf16";
    case TFMQ_PRECISION_INT8: return "int8";
    }
    return "unknown";
}

const char *tfmq_calib_method_name(tfmq_calib_method m)
{
    switch (m) {
    case TFMQ_CALIB_MINMAX: return "minmax";
    case TFMQ_CALIB_ENTROPY: return "entropy";
    case TFMQ_CALIB_PERCENTILE: return "percentile";
    case TFMQ_CALIB_MSE: return "mse";
    }
    return "unknown";
}

/* ---- small graph-building helpers ---- */

static tfmq_status tq_q_add_value(tq_graph *g, const char *base, int32_t *v_out)
{
    const char *name = tq_graph_unique_name(g, base);
    if (!name) {
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "quantize: out of memory");
    }
    return tq_graph_add_value(g, name, v_out);
}

/* Add node op(ins) -> out with an optional int attribute. */
static tfmq_status tq_q_add_node(tq_graph *g, uint32_t op, const char *name, const int32_t *ins,
                                 int32_t n_in, int32_t out, const char *attr, int64_t attr_val)
{
    int32_t idx;
    const char *nm = tq_graph_unique_name(g, name); /* node names need not be unique; cheap */
    tfmq_status st = tq_graph_add_node(g, op, nm ? nm : name, n_in, 1, attr ? 1 : 0, &idx);
    if (st != TFMQ_OK) {
        return st;
    }
    tq_node *n = &g->nodes[idx];
    for (int32_t k = 0; k < n_in; k++) {
        n->in[k] = ins[k];
    }
    n->out[0] = out;
    if (attr) {
        n->attrs[0].name = tq_arena_strdup(g->arena, attr);
        n->attrs[0].type = TQ_ATTR_INT;
        n->attrs[0].i = attr_val;
        if (!n->attrs[0].name) {
            return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "quantize: out of memory");
        }
    }
    return TFMQ_OK;
}

static char *tq_q_cat(tq_graph *g, const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *s = tq_arena_alloc(g->arena, na + nb + 1);
    if (s) {
        memcpy(s, a, na);
        memcpy(s + na, b, nb + 1);
    }
    return s;
}

/* Copy every constant whose data the graph does not own (shared with the clone's source) into
 * a block of its own, so the new model outlives the model it came from. */
static tfmq_status tq_q_own_constants(tq_graph *g)
{
    for (size_t v = 0; v < g->n_values; v++) {
        tq_value *val = &g->values[v];
        if (!(val->flags & TQ_VALUE_CONST) || !val->t.data) {
            continue;
        }
        bool owned = false;
        for (size_t b = 0; b < g->n_blocks && !owned; b++) {
            owned = g->blocks[b] == val->t.data;
        }
        if (owned) {
            continue;
        }
        void *p = tq_graph_alloc_data(g, val->data_bytes);
        if (!p) {
            return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "quantize: out of memory copying '%s'",
                           val->name);
        }
        memcpy(p, val->t.data, val->data_bytes);
        val->t.data = p;
    }
    return TFMQ_OK;
}

static bool tq_q_is_const_f32(const tq_graph *g, int32_t v)
{
    return v >= 0 && (g->values[v].flags & TQ_VALUE_CONST) &&
           g->values[v].t.dtype == TFMQ_DTYPE_FLOAT32 && g->values[v].t.data;
}

static bool tq_q_excluded(const tq_quant_plan *plan, const char *label)
{
    for (size_t i = 0; i < plan->n_exclude; i++) {
        if (strcmp(plan->exclude[i], label) == 0) {
            return true;
        }
    }
    return false;
}

/* The only consumer node of v, or -1 when v has none or several uses (or is an output). */
static int32_t tq_q_single_consumer(const tq_graph *g, int32_t v)
{
    if (tq_value_n_uses(g, v) != 1) {
        return -1;
    }
    for (size_t i = 0; i < g->n_nodes; i++) {
        const tq_node *n = &g->nodes[i];
        for (int32_t k = 0; k < n->n_in; k++) {
            if (n->in[k] == v) {
                return (int32_t)i;
            }
        }
    }
    return -1;
}

/* ---- INT8: choose layers and tensors ---- */

static tfmq_status tq_q_push_tensor(tq_quant_plan *p, int32_t v)
{
    for (size_t i = 0; i < p->n_tensors; i++) {
        if (p->tensors[i] == v) {
            return TFMQ_OK;
        }
    }
    if (p->n_tensors == p->cap_tensors) {
        size_t cap = p->cap_tensors ? p->cap_tensors * 2 : 64;
        int32_t *t = tq_realloc(p->alloc, p->tensors, p->cap_tensors * sizeof(int32_t),
                                cap * sizeof(int32_t));
        if (!t) {
            return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "quantize: out of memory");
        }
        p->tensors = t;
        p->cap_tensors = cap;
    }
    p->tensors[p->n_tensors++] = v;
    return TFMQ_OK;
}

static tfmq_status tq_q_push_layer(tq_quant_plan *p, const tq_quant_layer *l)
{
    if (p->n_layers == p->cap_layers) {
        size_t cap = p->cap_layers ? p->cap_layers * 2 : 64;
        tq_quant_layer *t = tq_realloc(p->alloc, p->layers, p->cap_layers * sizeof(*t),
                                       cap * sizeof(*t));
        if (!t) {
            return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "quantize: out of memory");
        }
        p->layers = t;
        p->cap_layers = cap;
    }
    p->layers[p->n_layers++] = *l;
    return TFMQ_OK;
}

static size_t tq_q_tensor_slot(const tq_quant_plan *plan, int32_t v)
{
    for (size_t i = 0; i < plan->n_tensors; i++) {
        if (plan->tensors[i] == v) {
            return i;
        }
    }
    return (size_t)-1;
}

/* Whether node n's output holds only values of its first input (moved, selected or repeated;
 * a zero Pad adds 0, which every int8 grid of ours holds exactly): quantizing it with the range
 * of that input is lossless for a quantized input. */
static bool tq_q_value_preserving(const tq_graph *g, const tq_node *n)
{
    switch (n->op) {
    case TQ_OP_SLICE:
    case TQ_OP_RESHAPE:
    case TQ_OP_FLATTEN:
    case TQ_OP_TRANSPOSE:
    case TQ_OP_SQUEEZE:
    case TQ_OP_UNSQUEEZE:
    case TQ_OP_IDENTITY:
    case TQ_OP_MAX_POOL:
    case TQ_OP_GLOBAL_MAX_POOL:
    case TQ_OP_DEPTH_TO_SPACE:
    case TQ_OP_SPACE_TO_DEPTH: return true;
    case TQ_OP_PAD: {
        const char *mode = NULL;
        float value = 0.0f;
        if (tq_attr_string(n, "mode", "constant", &mode) != TFMQ_OK ||
            tq_attr_float(n, "value", 0.0f, &value) != TFMQ_OK) {
            return false;
        }
        if (strcmp(mode, "edge") == 0 || strcmp(mode, "reflect") == 0 ||
            strcmp(mode, "wrap") == 0) {
            return true;
        }
        if (strcmp(mode, "constant") != 0 || value != 0.0f) {
            return false;
        }
        if (n->n_in > 2 && n->in[2] >= 0) {
            const tq_value *cv = &g->values[n->in[2]];
            if (!tq_q_is_const_f32(g, n->in[2]) || tq_tensor_numel(&cv->t) != 1 ||
                ((const float *)cv->t.data)[0] != 0.0f) {
                return false;
            }
        }
        return true;
    }
    default: return false;
    }
}

/* The planned tensor (index into p->tensors) that v is computed from through value-preserving
 * ops only (tq_q_value_preserving), or -1. */
static int32_t tq_q_share_source(const tq_graph *g, const tq_quant_plan *p, int32_t v)
{
    for (int steps = 0; steps < 64 && v >= 0; steps++) {
        int32_t pi = g->values[v].producer;
        if (pi < 0 || !tq_q_value_preserving(g, &g->nodes[pi]) || g->nodes[pi].n_in < 1) {
            return -1;
        }
        v = g->nodes[pi].in[0];
        if (v < 0 || (g->values[v].flags & TQ_VALUE_CONST)) {
            return -1;
        }
        size_t s = tq_q_tensor_slot(p, v);
        if (s != (size_t)-1) {
            return (int32_t)s;
        }
    }
    return -1;
}

/* Weight layout of a quantizable node: the output-channel axis of its constant weight. */
static bool tq_q_weight_axis(const tq_graph *g, const tq_node *n, int32_t *axis)
{
    const tq_value *w = &g->values[n->in[1]];
    switch (n->op) {
    case TQ_OP_CONV:
        *axis = 0;
        return w->t.rank >= 3;
    case TQ_OP_GEMM: {
        int64_t ta = 0, tb = 0;
        if (tq_attr_int(n, "transA", 0, &ta) != TFMQ_OK ||
            tq_attr_int(n, "transB", 0, &tb) != TFMQ_OK || ta != 0) {
            return false;
        }
        *axis = tb ? 0 : 1;
        return w->t.rank == 2;
    }
    case TQ_OP_MATMUL:
        *axis = 1;
        return w->t.rank == 2;
    default: return false;
    }
}

tfmq_status tq_quant_plan_int8(const tq_graph *g, tq_quant_plan *plan)
{
    tfmq_status st;
    char lbl[64];
    for (size_t i = 0; i < g->n_nodes; i++) {
        const tq_node *n = &g->nodes[i];
        const char *label = tq_node_label(g, n, lbl, sizeof(lbl));
        tq_quant_layer l;
        memset(&l, 0, sizeof(l));
        l.node = (int32_t)i;
        l.label = tq_arena_strdup(g->arena, label);
        if (!l.label) {
            return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "quantize: out of memory");
        }
        bool is_mm = n->op == TQ_OP_CONV || n->op == TQ_OP_GEMM || n->op == TQ_OP_MATMUL;
        bool is_add = n->op == TQ_OP_ADD && n->n_in == 2 && n->in[0] >= 0 && n->in[1] >= 0 &&
                      !(g->values[n->in[0]].flags & TQ_VALUE_CONST) &&
                      !(g->values[n->in[1]].flags & TQ_VALUE_CONST);
        if (!is_mm && !is_add) {
            continue;
        }
        if (is_mm) {
            if (n->n_in < 2 || !tq_q_is_const_f32(g, n->in[1]) || n->in[0] < 0 ||
                (g->values[n->in[0]].flags & TQ_VALUE_CONST) ||
                !tq_q_weight_axis(g, n, &l.weight_axis)) {
                continue; /* dynamic weights (attention) stay in float */
            }
        }
        if (tq_q_excluded(plan, l.label)) {
            l.excluded = true;
        }
        /* the tensor after a single-use Relu/Clip is what gets quantized at the output */
        l.post = n->out[0];
        l.act_node = -1;
        int32_t c = tq_q_single_consumer(g, n->out[0]);
        if (c >= 0 && (g->nodes[c].op == TQ_OP_RELU ||
                       (g->nodes[c].op == TQ_OP_CLIP &&
                        (g->nodes[c].n_in < 2 || g->nodes[c].in[1] < 0 ||
                         (g->values[g->nodes[c].in[1]].flags & TQ_VALUE_CONST)) &&
                        (g->nodes[c].n_in < 3 || g->nodes[c].in[2] < 0 ||
                         (g->values[g->nodes[c].in[2]].flags & TQ_VALUE_CONST))))) {
            l.post = g->nodes[c].out[0];
            l.act_node = c;
        }
        l.op = tq_op_table[n->op].name;
        TQ_TRY(st, tq_q_push_layer(plan, &l));
        if (l.excluded) {
            continue;
        }
        TQ_TRY(st, tq_q_push_tensor(plan, n->in[0]));
        if (is_add) {
            TQ_TRY(st, tq_q_push_tensor(plan, n->in[1]));
        }
        TQ_TRY(st, tq_q_push_tensor(plan, l.post));
    }
    /* tensors that only move values of another planned tensor take its parameters (ONNX
     * Runtime's quantize_static does the same for Slice/Pad/Reshape...: on resnet20_cifar10 the
     * two shortcut Pads cost 0.9 dB output SQNR when requantized with ranges of their own) */
    if (plan->n_tensors > 0) {
        plan->share = tq_alloc(plan->alloc, plan->n_tensors * sizeof(int32_t));
        if (!plan->share) {
            return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "quantize: out of memory");
        }
        plan->n_share = plan->n_tensors;
        for (size_t i = 0; i < plan->n_tensors; i++) {
            plan->share[i] = tq_q_share_source(g, plan, plan->tensors[i]);
        }
    }
    return TFMQ_OK;
fail:
    return st;
}

void tq_quant_plan_free(tq_quant_plan *p)
{
    tq_free(p->alloc, p->tensors, p->cap_tensors * sizeof(int32_t));
    tq_free(p->alloc, p->layers, p->cap_layers * sizeof(tq_quant_layer));
    tq_free(p->alloc, p->lo, p->n_lohi * sizeof(float));
    tq_free(p->alloc, p->hi, p->n_lohi * sizeof(float));
    tq_free(p->alloc, p->share, p->n_share * sizeof(int32_t));
    p->share = NULL;
    p->n_share = 0;
    p->tensors = NULL;
    p->layers = NULL;
    p->lo = p->hi = NULL;
    p->n_tensors = p->cap_tensors = p->n_layers = p->cap_layers = p->n_lohi = 0;
}

/* ---- INT8: insert Q/DQ ---- */

/* How many of the graph's outputs are v (tq_value_n_uses counts each as a use). */
static int32_t tq_q_output_slots(const tq_graph *g, int32_t v)
{
    int32_t n = 0;
    for (size_t i = 0; i < g->n_outputs; i++) {
        n += g->outputs[i] == v;
    }
    return n;
}

static void tq_q_act_params(const tq_quant_plan *plan, size_t t, bool asym, float *scale,
                            int32_t *zp)
{
    /* follow shared parameters to their owner (bounded: sources are upstream, no cycles) */
    for (size_t k = 0; k < plan->n_share && t < plan->n_share && plan->share[t] >= 0; k++) {
        t = (size_t)plan->share[t];
    }
    float lo = plan->lo[t] < 0.0f ? plan->lo[t] : 0.0f;
    float hi = plan->hi[t] > 0.0f ? plan->hi[t] : 0.0f;
    if (asym) {
        float s = (hi - lo) / 255.0f;
        if (!(s > 0.0f) || !isfinite(s)) {
            s = 1.0f;
        }
        *scale = s;
        double z = nearbyint(-(double)lo / (double)s);
        *zp = (int32_t)(z < 0 ? 0 : z > 255 ? 255 : z);
    } else {
        float t_abs = fmaxf(-lo, hi);
        float s = t_abs / 127.0f;
        if (!(s > 0.0f) || !isfinite(s)) {
            s = 1.0f;
        }
        *scale = s;
        *zp = 0;
    }
}

/* Insert Q -> DQ after tensor v and redirect its consumers (not graph outputs) to the DQ. */
static tfmq_status tq_q_insert_qdq(tq_graph *g, int32_t v, float scale, int32_t zp, bool asym,
                                   int32_t *q_out)
{
    tfmq_status st;
    const char *name = g->values[v].name;
    int32_t vs, vz, vq, vdq;
    int64_t one = 1;
    (void)one;
    uint8_t zp_u8 = (uint8_t)zp;
    int8_t zp_s8 = (int8_t)zp;
    TQ_TRY(st, tq_graph_add_const(g, tq_q_cat(g, name, "_scale"), TFMQ_DTYPE_FLOAT32, 0, NULL,
                                  &scale, &vs));
    TQ_TRY(st, tq_graph_add_const(g, tq_q_cat(g, name, "_zero_point"),
                                  asym ? TFMQ_DTYPE_UINT8 : TFMQ_DTYPE_INT8, 0, NULL,
                                  asym ? (const void *)&zp_u8 : (const void *)&zp_s8, &vz));
    name = g->values[v].name; /* values may have moved */
    TQ_TRY(st, tq_q_add_value(g, tq_q_cat(g, name, "_quantized"), &vq));
    TQ_TRY(st, tq_q_add_value(g, tq_q_cat(g, g->values[v].name, "_dequantized"), &vdq));
    tq_graph_replace_uses(g, v, vdq);
    int32_t qin[3] = {v, vs, vz};
    int32_t dqin[3] = {vq, vs, vz};
    TQ_TRY(st, tq_q_add_node(g, TQ_OP_QUANTIZE_LINEAR, tq_q_cat(g, g->values[v].name, "_Q"), qin,
                             3, vq, NULL, 0));
    TQ_TRY(st, tq_q_add_node(g, TQ_OP_DEQUANTIZE_LINEAR, tq_q_cat(g, g->values[v].name, "_DQ"),
                             dqin, 3, vdq, NULL, 0));
    *q_out = vq;
    return TFMQ_OK;
fail:
    return st;
}

void tq_quant_weight_int8(const float *wd, size_t n, int64_t cout, size_t inner, float *scale,
                          int8_t *q)
{
    for (int64_t c = 0; c < cout; c++) {
        scale[c] = 0.0f; /* amax first */
    }
    for (size_t i = 0; i < n; i++) {
        size_t c = (i / inner) % (size_t)cout;
        scale[c] = fmaxf(scale[c], fabsf(wd[i]));
    }
    for (int64_t c = 0; c < cout; c++) {
        scale[c] = scale[c] > 0.0f ? scale[c] / 127.0f : 1.0f;
    }
    for (size_t i = 0; i < n; i++) {
        size_t c = (i / inner) % (size_t)cout;
        double r = nearbyint((double)wd[i] / (double)scale[c]);
        q[i] = (int8_t)(r < -127 ? -127 : r > 127 ? 127 : r);
    }
}

/* Quantize the constant weight of node `ni` per output channel; bias to int32, less `bcorr`
 * (the measured mean output error of the quantized weights, per channel; NULL: none). */
static tfmq_status tq_q_weights(tq_graph *g, int32_t ni, int32_t axis, float x_scale,
                                const float *bcorr)
{
    tfmq_status st = TFMQ_OK;
    const tq_value *wv = &g->values[g->nodes[ni].in[1]];
    tq_tensor w = wv->t;
    const char *wname = wv->name;
    size_t n = tq_tensor_numel(&w);
    int64_t cout = w.dims[axis];
    size_t inner = 1;
    for (int32_t d = axis + 1; d < w.rank; d++) {
        inner *= (size_t)w.dims[d];
    }
    float *scale = tq_alloc(g->alloc, sizeof(float) * (size_t)cout);
    int8_t *q = tq_alloc(g->alloc, n ? n : 1);
    int8_t *zp = tq_calloc(g->alloc, (size_t)cout, 1);
    int32_t *bq = NULL;
    float *bscale = NULL;
    int32_t *bzp = NULL;
    if (!scale || !q || !zp) {
        st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "quantize: out of memory");
        goto done;
    }
    tq_quant_weight_int8(w.data, n, cout, inner, scale, q);
    int32_t vq, vs, vz, vdq;
    int64_t cdim = cout;
    TQ_TRY(st, tq_graph_add_const(g, tq_q_cat(g, wname, "_quantized"), TFMQ_DTYPE_INT8, w.rank,
                                  w.dims, q, &vq));
    TQ_TRY(st, tq_graph_add_const(g, tq_q_cat(g, g->values[vq].name, "_scale"),
                                  TFMQ_DTYPE_FLOAT32, 1, &cdim, scale, &vs));
    TQ_TRY(st, tq_graph_add_const(g, tq_q_cat(g, g->values[vq].name, "_zero_point"),
                                  TFMQ_DTYPE_INT8, 1, &cdim, zp, &vz));
    TQ_TRY(st, tq_q_add_value(g, tq_q_cat(g, g->values[vq].name, "_dequantized"), &vdq));
    int32_t dqin[3] = {vq, vs, vz};
    TQ_TRY(st, tq_q_add_node(g, TQ_OP_DEQUANTIZE_LINEAR, tq_q_cat(g, g->values[vq].name, "_DQ"),
                             dqin, 3, vdq, "axis", axis));
    g->nodes[ni].in[1] = vdq;

    /* bias: int32, scale x_scale * w_scale[c], zero point 0 */
    tq_node *node = &g->nodes[ni];
    int32_t bi = node->n_in > 2 ? node->in[2] : -1;
    if (bi >= 0 && tq_q_is_const_f32(g, bi) && g->values[bi].t.rank == 1 &&
        g->values[bi].t.dims[0] == cout) {
        const float *bd = g->values[bi].t.data;
        bq = tq_alloc(g->alloc, sizeof(int32_t) * (size_t)cout);
        bscale = tq_alloc(g->alloc, sizeof(float) * (size_t)cout);
        bzp = tq_calloc(g->alloc, (size_t)cout, sizeof(int32_t));
        if (!bq || !bscale || !bzp) {
            st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "quantize: out of memory");
            goto done;
        }
        for (int64_t c = 0; c < cout; c++) {
            bscale[c] = x_scale * scale[c];
            double b = bcorr ? (double)(bd[c] - bcorr[c]) : (double)bd[c];
            double r = nearbyint(b / (double)bscale[c]);
            bq[c] = (int32_t)(r < -2147483647.0 ? -2147483647.0 : r > 2147483647.0 ? 2147483647.0 : r);
        }
        const char *bname = g->values[bi].name;
        int32_t vbq, vbs, vbz, vbdq;
        TQ_TRY(st, tq_graph_add_const(g, tq_q_cat(g, bname, "_quantized"), TFMQ_DTYPE_INT32, 1,
                                      &cdim, bq, &vbq));
        TQ_TRY(st, tq_graph_add_const(g, tq_q_cat(g, g->values[vbq].name, "_scale"),
                                      TFMQ_DTYPE_FLOAT32, 1, &cdim, bscale, &vbs));
        TQ_TRY(st, tq_graph_add_const(g, tq_q_cat(g, g->values[vbq].name, "_zero_point"),
                                      TFMQ_DTYPE_INT32, 1, &cdim, bzp, &vbz));
        TQ_TRY(st, tq_q_add_value(g, tq_q_cat(g, g->values[vbq].name, "_dequantized"), &vbdq));
        int32_t bdqin[3] = {vbq, vbs, vbz};
        TQ_TRY(st, tq_q_add_node(g, TQ_OP_DEQUANTIZE_LINEAR,
                                 tq_q_cat(g, g->values[vbq].name, "_DQ"), bdqin, 3, vbdq, "axis",
                                 0));
        g->nodes[ni].in[2] = vbdq;
    }
done:
fail:
    tq_free(g->alloc, scale, sizeof(float) * (size_t)cout);
    tq_free(g->alloc, q, n ? n : 1);
    tq_free(g->alloc, zp, (size_t)cout);
    tq_free(g->alloc, bq, sizeof(int32_t) * (size_t)cout);
    tq_free(g->alloc, bscale, sizeof(float) * (size_t)cout);
    tq_free(g->alloc, bzp, sizeof(int32_t) * (size_t)cout);
    return st;
}

tfmq_status tq_quant_apply_int8(tq_graph *g, tq_quant_plan *plan, bool asym)
{
    tfmq_status st;
    size_t n_nodes0 = g->n_nodes;
    /* weights first (node indices are stable until compaction; new nodes are appended) */
    for (size_t li = 0; li < plan->n_layers; li++) {
        tq_quant_layer *l = &plan->layers[li];
        const tq_node *n = &g->nodes[l->node];
        if (l->excluded || n->op == TQ_OP_ADD) {
            continue;
        }
        size_t t = tq_q_tensor_slot(plan, n->in[0]);
        float xs;
        int32_t xz;
        tq_q_act_params(plan, t, asym, &xs, &xz);
        const float *bcorr = NULL;
        if (plan->bias_corr && (size_t)l->node < plan->n_bias_corr_off &&
            plan->bias_corr_off[l->node] != (size_t)-1) {
            bcorr = plan->bias_corr + plan->bias_corr_off[l->node];
        }
        TQ_TRY(st, tq_q_weights(g, l->node, l->weight_axis, xs, bcorr));
    }
    /* then activations. A graph output nothing else reads (the logits of a classifier) stays
     * float: a Q/DQ pair there would be read by no one (the output keeps the float value), and
     * lowering would turn it into a second, integer copy of the layer; the layer's fidelity is
     * then measured on the output itself. */
    for (size_t t = 0; t < plan->n_tensors; t++) {
        float s;
        int32_t zp, vq;
        const int32_t v = plan->tensors[t];
        tq_q_act_params(plan, t, asym, &s, &zp);
        if (tq_value_is_graph_output(g, v) &&
            tq_value_n_uses(g, v) == tq_q_output_slots(g, v)) {
            vq = v;
        } else {
            TQ_TRY(st, tq_q_insert_qdq(g, v, s, zp, asym, &vq));
        }
        for (size_t li = 0; li < plan->n_layers; li++) {
            if (plan->layers[li].post == plan->tensors[t] && !plan->layers[li].excluded) {
                plan->layers[li].q_value = vq;
                plan->layers[li].q_name = g->values[vq].name;
                plan->layers[li].q_scale = s;
                plan->layers[li].q_zero_point = zp;
            }
        }
    }
    (void)n_nodes0;
    return tq_graph_finalize(g);
fail:
    return st;
}

/* ---- FP16 / BF16 ---- */

static bool tq_q_half_op(uint32_t op)
{
    switch (op) {
    case TQ_OP_CONV:
    case TQ_OP_CONV_TRANSPOSE:
    case TQ_OP_GEMM:
    case TQ_OP_MATMUL:
    case TQ_OP_ADD:
    case TQ_OP_SUB:
    case TQ_OP_MUL:
    case TQ_OP_DIV:
    case TQ_OP_BATCH_NORM:
    case TQ_OP_LAYER_NORM:
    case TQ_OP_INSTANCE_NORM:
    case TQ_OP_PRELU:
    case TQ_OP_RELU:
    case TQ_OP_CLIP:
    case TQ_OP_SIGMOID:
    case TQ_OP_TANH:
    case TQ_OP_HARD_SWISH:
    case TQ_OP_HARD_SIGMOID:
    case TQ_OP_MAX_POOL:
    case TQ_OP_AVERAGE_POOL:
    case TQ_OP_GLOBAL_AVERAGE_POOL:
    case TQ_OP_SOFTMAX:
    case TQ_OP_GELU:
    case TQ_OP_ERF:
    case TQ_OP_CONCAT: return true;
    default: return false;
    }
}

/* tq_quant_apply_half with the inferred types of the graph's first nv0 values: only float32
 * computations change type; integer shape arithmetic (Div, Mul of int64 in a transformer's
 * reshapes) keeps its type. */
static tfmq_status tq_quant_apply_half_typed(tq_graph *g, tfmq_dtype half, tq_quant_plan *plan,
                                             const tq_tensor *shapes, size_t nv0)
{
    tfmq_status st = TFMQ_OK;
    size_t n0 = g->n_nodes;
    const char *suffix = half == TFMQ_DTYPE_FLOAT16 ? "_fp16" : "_bf16";
    char lbl[64];
    for (size_t i = 0; i < n0; i++) {
        int32_t o0 = g->nodes[i].n_out > 0 ? g->nodes[i].out[0] : -1;
        if (!tq_q_half_op(g->nodes[i].op) || o0 < 0 || (size_t)o0 >= nv0 ||
            shapes[o0].dtype != TFMQ_DTYPE_FLOAT32) {
            continue;
        }
        /* weights: store in the half type, widen with a Cast */
        for (int32_t k = 0; k < g->nodes[i].n_in; k++) {
            int32_t v = g->nodes[i].in[k];
            if (!tq_q_is_const_f32(g, v) || tq_tensor_numel(&g->values[v].t) < 2) {
                continue; /* scalars (Clip bounds, epsilons) stay float32 */
            }
            if (g->nodes[i].op == TQ_OP_BATCH_NORM && k >= 3) {
                continue; /* mean/var keep float32: their precision matters for 1/sqrt */
            }
            tq_tensor t = g->values[v].t;
            size_t n = tq_tensor_numel(&t);
            uint16_t *h = tq_alloc(g->alloc, 2 * n);
            if (!h) {
                return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "quantize: out of memory");
            }
            const float *f = t.data;
            for (size_t e = 0; e < n; e++) {
                h[e] = half == TFMQ_DTYPE_FLOAT16 ? tq_f32_to_f16(f[e]) : tq_f32_to_bf16(f[e]);
            }
            int32_t vh, vf;
            st = tq_graph_add_const(g, tq_q_cat(g, g->values[v].name, suffix), half, t.rank,
                                    t.dims, h, &vh);
            tq_free(g->alloc, h, 2 * n);
            if (st != TFMQ_OK) {
                return st;
            }
            TQ_TRY(st, tq_q_add_value(g, tq_q_cat(g, g->values[vh].name, "_float"), &vf));
            int32_t cin[1] = {vh};
            TQ_TRY(st, tq_q_add_node(g, TQ_OP_CAST, tq_q_cat(g, g->values[vh].name, "_Cast"), cin,
                                     1, vf, "to", TFMQ_DTYPE_FLOAT32));
            g->nodes[i].in[k] = vf;
        }
        /* activations: round the output through the half type */
        int32_t out = g->nodes[i].out[0];
        if (out < 0) {
            continue;
        }
        int32_t vh, vf;
        const char *oname = g->values[out].name;
        TQ_TRY(st, tq_q_add_value(g, tq_q_cat(g, oname, suffix), &vh));
        TQ_TRY(st, tq_q_add_value(g, tq_q_cat(g, g->values[out].name, "_rounded"), &vf));
        tq_graph_replace_uses(g, out, vf);
        int32_t c1[1] = {out}, c2[1] = {vh};
        TQ_TRY(st, tq_q_add_node(g, TQ_OP_CAST, tq_q_cat(g, g->values[vh].name, "_Cast"), c1, 1,
                                 vh, "to", half));
        TQ_TRY(st, tq_q_add_node(g, TQ_OP_CAST, tq_q_cat(g, g->values[vf].name, "_Cast"), c2, 1,
                                 vf, "to", TFMQ_DTYPE_FLOAT32));
        if (plan) {
            tq_quant_layer l;
            memset(&l, 0, sizeof(l));
            l.node = (int32_t)i;
            l.label = tq_arena_strdup(g->arena, tq_node_label(g, &g->nodes[i], lbl, sizeof(lbl)));
            l.op = tq_op_table[g->nodes[i].op].name;
            l.post = out;
            l.q_value = vf;
            l.q_name = g->values[vf].name;
            l.act_node = -1;
            if (!l.label) {
                return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "quantize: out of memory");
            }
            TQ_TRY(st, tq_q_push_layer(plan, &l));
        }
    }
    return tq_graph_finalize(g);
fail:
    return st;
}

tfmq_status tq_quant_apply_half(tq_graph *g, tfmq_dtype half, tq_quant_plan *plan)
{
    tq_tensor *shapes = NULL;
    size_t nv0 = g->n_values;
    tfmq_status st = tq_pass_infer_shapes(g, 1, &shapes);
    if (st == TFMQ_OK) {
        st = tq_quant_apply_half_typed(g, half, plan, shapes, nv0);
        tq_free(g->alloc, shapes, (nv0 ? nv0 : 1) * sizeof(tq_tensor));
    }
    return st;
}

/* ---- the driver ---- */

typedef struct tq_tolerance {
    int kind;     /* 0 none, 1 top1, 2 sqnr */
    double value;
} tq_tolerance;

static tfmq_status tq_parse_tolerance(const char *spec, tq_tolerance *t)
{
    t->kind = 0;
    t->value = 0.0;
    if (!spec || !*spec) {
        return TFMQ_OK;
    }
    const char *eq = strchr(spec, '=');
    char *end = NULL;
    if (!eq) {
        goto bad;
    }
    t->value = strtod(eq + 1, &end);
    if (!end || *end != '\0' || end == eq + 1 || !isfinite(t->value)) {
        goto bad;
    }
    if ((size_t)(eq - spec) == 4 && strncmp(spec, "top1", 4) == 0) {
        t->kind = 1;
        if (t->value < 0.0 || t->value > 1.0) {
            goto bad;
        }
    } else if ((size_t)(eq - spec) == 4 && strncmp(spec, "sqnr", 4) == 0) {
        t->kind = 2;
    } else {
        goto bad;
    }
    return TFMQ_OK;
bad:
    return tq_fail(TFMQ_ERR_INVALID_ARG,
                   "quantize: tolerance '%s' is not top1=FRACTION (0..1) or sqnr=DECIBELS", spec);
}

static bool tq_tolerance_met(const tq_tolerance *t, const tq_fidelity *f)
{
    if (t->kind == 1) {
        return f->top1_agreement < 0 || f->top1_agreement >= t->value - 1e-12;
    }
    if (t->kind == 2) {
        return f->output_sqnr_db >= t->value;
    }
    return true;
}

/* Local damage of layer li: how much SQNR it loses against the layers that feed it. An input
 * that no quantized layer feeds (a graph input, or float ops above it) is exact; it counts as
 * the best SQNR any layer reaches, not as infinite: else the first layers would always look the
 * most damaging (200 dB above their ~40) and the fallback would keep layers in graph order. */
static double tq_layer_damage(const tq_graph *ref, const tq_quant_plan *plan,
                              const tq_layer_pair *pairs, const size_t *pair_layer, size_t n_pairs,
                              const tq_fidelity *f, size_t pi)
{
    const tq_node *n = &ref->nodes[plan->layers[pair_layer[pi]].node];
    double best = -1e300;
    for (size_t pj = 0; pj < n_pairs; pj++) {
        if (isfinite(f->layers[pj].sqnr_db) && f->layers[pj].sqnr_db > best) {
            best = f->layers[pj].sqnr_db;
        }
    }
    double in_sqnr = best > -1e300 ? best : 200.0;
    for (int32_t k = 0; k < n->n_in; k++) {
        /* walk up through float ops (pooling, reshapes) to the nearest measured layer */
        int32_t v = n->in[k];
        for (int steps = 0; v >= 0 && steps < 64; steps++) {
            size_t pj = 0;
            while (pj < n_pairs && plan->layers[pair_layer[pj]].post != v) {
                pj++;
            }
            if (pj < n_pairs) {
                if (isfinite(f->layers[pj].sqnr_db)) {
                    in_sqnr = fmin(in_sqnr, f->layers[pj].sqnr_db);
                }
                break;
            }
            int32_t p = ref->values[v].producer;
            if (p < 0 || ref->nodes[p].n_in < 1 || (ref->values[v].flags & TQ_VALUE_CONST)) {
                break;
            }
            v = ref->nodes[p].in[0];
        }
    }
    (void)pairs;
    return in_sqnr - f->layers[pi].sqnr_db;
}

/* Build the candidate model from the optimized FP32 graph `ref` and the plan. */
static tfmq_status tq_build_candidate(const tfmq_model *model, const tq_graph *ref,
                                      tq_quant_plan *plan, const tfmq_quantize_options *o,
                                      tfmq_model **out)
{
    tfmq_status st;
    tfmq_model *qm = NULL;
    *out = NULL;
    TQ_TRY(st, tq_model_new(model->palloc, &qm));
    TQ_TRY(st, tq_graph_clone(ref, &qm->arena, qm->palloc, &qm->graph));
    TQ_TRY(st, tq_q_own_constants(qm->graph));
    plan->n_layers = o->precision == TFMQ_PRECISION_INT8 ? plan->n_layers : 0;
    switch (o->precision) {
    case TFMQ_PRECISION_INT8:
        TQ_TRY(st, tq_quant_apply_int8(qm->graph, plan, o->asymmetric_activations));
        break;
    case TFMQ_PRECISION_FP16:
        TQ_TRY(st, tq_quant_apply_half(qm->graph, TFMQ_DTYPE_FLOAT16, plan));
        break;
    case TFMQ_PRECISION_BF16:
        TQ_TRY(st, tq_quant_apply_half(qm->graph, TFMQ_DTYPE_BFLOAT16, plan));
        break;
    case TFMQ_PRECISION_FP32:
    case TFMQ_PRECISION_TF32: break;
    }
    /* the float weights the quantized or half copies replaced: nothing reads them, and an
     * engine or QDQ export would otherwise carry them (ResNet-50 INT8: 128 MB instead of 26) */
    TQ_TRY(st, tq_graph_compact(qm->graph));
    qm->precision = tfmq_precision_name(o->precision);
    qm->meta.ir_version = model->meta.ir_version;
    qm->meta.opset = qm->graph->opset;
    qm->meta.producer = tq_arena_strdup(&qm->arena, model->meta.producer ? model->meta.producer
                                                                          : "");
    qm->content_hash = model->content_hash;
    qm->format = model->format;
    TQ_TRY(st, tq_model_finish(qm, "quantized model"));
    *out = qm;
    return TFMQ_OK;
fail:
    tfmq_model_destroy(qm);
    return st;
}

tfmq_status tfmq_quantize(const tfmq_model *model, const tfmq_quantize_options *opts,
                          tfmq_model **quantized_out, tfmq_report **report_out)
{
    tfmq_status st;
    tfmq_quantize_options o;
    tq_arena ref_arena;
    tq_graph *ref = NULL;
    tfmq_model *qm = NULL;
    tq_quant_plan plan;
    const char **names = NULL, **excl = NULL, **reasons = NULL, **float_layers = NULL;
    tq_layer_pair *pairs = NULL;
    size_t *pair_layer = NULL, n_pairs = 0, cap_pairs = 0, n_excl = 0, n_float = 0;
    size_t n_names = 0;
    tq_fidelity fid;
    bool have_fid = false, tol_met = true;
    uint64_t calib_samples = 0;
    char calib_where[32] = "cache"; /* where calibration ran: cpu, cuda:N, or the cache file */
    tq_tolerance tol;
    const tq_graph *cand = NULL;
    bool cand_owned = false;
    tq_arena cand_arena;
    float *bc_corr = NULL;
    size_t bc_n = 0, *bc_off = NULL;

    memset(&plan, 0, sizeof(plan));
    memset(&fid, 0, sizeof(fid));
    if (!model || !opts || !quantized_out) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "quantize: NULL argument");
    }
    *quantized_out = NULL;
    if (report_out) {
        *report_out = NULL;
    }
    if (opts->struct_size < sizeof(uint32_t) || opts->struct_size > sizeof(o)) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "quantize: bad opts->struct_size %u",
                       opts->struct_size);
    }
    memset(&o, 0, sizeof(o));
    memcpy(&o, opts, opts->struct_size);
    if ((unsigned)o.precision > TFMQ_PRECISION_INT8) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "quantize: unknown precision %d", (int)o.precision);
    }
    if ((unsigned)o.calib_method > TFMQ_CALIB_MSE) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "quantize: unknown calibration method %d",
                       (int)o.calib_method);
    }
    if (o.percentile == 0.0) {
        o.percentile = TQ_CALIB_DEFAULT_PERCENTILE;
    }
    if (!(o.percentile > 0.0 && o.percentile <= 100.0)) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "quantize: percentile %g is not in (0, 100]",
                       o.percentile);
    }
    if (strcmp(model->precision, "fp32") != 0) {
        return tq_fail(TFMQ_ERR_UNSUPPORTED, "quantize: the model is already %s; start from FP32",
                       model->precision);
    }
    if (o.precision == TFMQ_PRECISION_INT8 && !o.calib_fn && !o.calib_cache_path) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "quantize: INT8 needs calibration data");
    }
    st = tq_parse_tolerance(o.tolerance, &tol);
    if (st != TFMQ_OK) {
        return st;
    }
    tq_arena_init(&ref_arena, model->palloc);
    tq_arena_init(&cand_arena, model->palloc);
    plan.alloc = model->palloc;

    /* the FP32 reference: optimized clone sharing the model's constants */
    TQ_TRY(st, tq_graph_clone(model->graph, &ref_arena, model->palloc, &ref));
    TQ_TRY(st, tq_pass_run(ref, "fold_constants,fold_bias,fold_batchnorm,dce"));

    if (o.precision == TFMQ_PRECISION_INT8) {
        TQ_TRY(st, tq_quant_plan_int8(ref, &plan));
        plan.n_lohi = plan.n_tensors + 1;
        n_names = plan.n_tensors + 1;
        names = tq_calloc(model->palloc, n_names, sizeof(char *));
        plan.lo = tq_calloc(model->palloc, plan.n_tensors + 1, sizeof(float));
        plan.hi = tq_calloc(model->palloc, plan.n_tensors + 1, sizeof(float));
        if (!names || !plan.lo || !plan.hi) {
            st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "quantize: out of memory");
            goto fail;
        }
        for (size_t i = 0; i < plan.n_tensors; i++) {
            names[i] = ref->values[plan.tensors[i]].name;
        }
        bool found = false;
        if (o.calib_cache_path) {
            TQ_TRY(st, tq_calib_cache_read(o.calib_cache_path, model->content_hash, &o, names,
                                           plan.n_tensors, plan.lo, plan.hi, &calib_samples,
                                           &found));
        }
        if (!found) {
            if (!o.calib_fn) {
                st = tq_fail(TFMQ_ERR_INVALID_ARG,
                             "quantize: calibration cache '%s' not found and no calibration data",
                             o.calib_cache_path);
                goto fail;
            }
            TQ_TRY(st, tq_calibrate_where(ref, names, plan.n_tensors, &o, plan.lo, plan.hi,
                                          &calib_samples, calib_where, sizeof(calib_where)));
            if (o.calib_cache_path) {
                TQ_TRY(st, tq_calib_cache_write(o.calib_cache_path, model->content_hash, &o,
                                                names, plan.n_tensors, plan.lo, plan.hi,
                                                calib_samples));
            }
        }
    }

    if (o.precision == TFMQ_PRECISION_INT8 && o.bias_correction) {
        TQ_TRY(st, tq_bias_correction(ref, &plan, &o, &bc_corr, &bc_n, &bc_off));
        plan.bias_corr = bc_corr;
        plan.bias_corr_off = bc_off;
        plan.n_bias_corr_off = ref->n_nodes;
    }

    tfmq_batch_fn eval_fn = o.eval_fn ? o.eval_fn : o.calib_fn;
    void *eval_ud = o.eval_fn ? o.eval_user_data : o.calib_user_data;
    uint64_t eval_max = o.eval_fn ? o.max_eval_samples
                                  : (o.max_eval_samples ? o.max_eval_samples : o.max_calib_samples);
    size_t max_rounds = plan.n_layers + 1;
    for (size_t round = 0; round < max_rounds; round++) {
        size_t n_layers_planned = plan.n_layers;
        tfmq_model_destroy(qm);
        qm = NULL;
        TQ_TRY(st, tq_build_candidate(model, ref, &plan, &o, &qm));
        if (o.precision != TFMQ_PRECISION_INT8) {
            /* half precisions recorded their layers into the plan while applying */
        } else {
            plan.n_layers = n_layers_planned;
        }
        if (!eval_fn) {
            break;
        }
        /* pairs: quantized layers' outputs, FP32 name vs candidate name */
        tq_free(model->palloc, pairs, cap_pairs * sizeof(*pairs));
        tq_free(model->palloc, pair_layer, cap_pairs * sizeof(size_t));
        n_pairs = 0;
        cap_pairs = plan.n_layers + 1;
        pairs = tq_calloc(model->palloc, cap_pairs, sizeof(*pairs));
        pair_layer = tq_calloc(model->palloc, cap_pairs, sizeof(size_t));
        if (!pairs || !pair_layer) {
            st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "quantize: out of memory");
            goto fail;
        }
        for (size_t li = 0; li < plan.n_layers; li++) {
            const tq_quant_layer *l = &plan.layers[li];
            if (l->excluded || l->q_value <= 0 || !l->q_name) {
                continue;
            }
            tq_layer_pair *p = &pairs[n_pairs];
            p->layer = l->label;
            p->op = l->op;
            p->ref_name = ref->values[l->post].name;
            p->cand_name = l->q_name; /* by name: the candidate was compacted */
            p->scale = l->q_scale;
            p->zero_point = l->q_zero_point;
            p->precision = tfmq_precision_name(o.precision);
            pair_layer[n_pairs++] = li;
        }
        if (cand_owned) {
            tq_graph_destroy((tq_graph *)(uintptr_t)cand);
        }
        cand_owned = false;
        tq_arena_free(&cand_arena);
        tq_arena_init(&cand_arena, model->palloc);
        TQ_TRY(st, tq_compile(qm->graph, false, &cand_arena, model->palloc, &cand, &cand_owned));
        if (have_fid) {
            tq_fidelity_free(&fid);
            have_fid = false;
        }
        if (o.progress) {
            o.progress(o.progress_user_data, "evaluate", round, 0);
        }
        TQ_TRY(st, tq_fidelity_eval(ref, cand, pairs, n_pairs, eval_fn, eval_ud, eval_max,
                                    model->palloc, &fid));
        have_fid = true;
        tol_met = tq_tolerance_met(&tol, &fid);
        if (tol_met || o.precision != TFMQ_PRECISION_INT8 || n_pairs == 0) {
            break;
        }
        /* keep the layer that loses the most SQNR in float, then try again */
        size_t worst = 0;
        double worst_damage = -1e300;
        for (size_t pi = 0; pi < n_pairs; pi++) {
            double d = tq_layer_damage(ref, &plan, pairs, pair_layer, n_pairs, &fid, pi);
            if (d > worst_damage) {
                worst_damage = d;
                worst = pi;
            }
        }
        const char **ne = tq_realloc(model->palloc, excl, n_excl * sizeof(char *),
                                     (n_excl + 1) * sizeof(char *));
        if (!ne) {
            st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "quantize: out of memory");
            goto fail;
        }
        excl = ne;
        const char **nr = tq_realloc(model->palloc, reasons, n_excl * sizeof(char *),
                                     (n_excl + 1) * sizeof(char *));
        if (!nr) {
            st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "quantize: out of memory");
            goto fail;
        }
        reasons = nr;
        char why[160];
        snprintf(why, sizeof(why),
                 "%s not met (top1 %.4f, output SQNR %.2f dB); layer SQNR %.2f dB, %.2f dB below "
                 "its inputs",
                 o.tolerance, fid.top1_agreement, fid.output_sqnr_db, fid.layers[worst].sqnr_db,
                 worst_damage);
        excl[n_excl] = plan.layers[pair_layer[worst]].label;
        reasons[n_excl] = tq_arena_strdup(&ref_arena, why);
        if (!reasons[n_excl]) {
            st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "quantize: out of memory");
            goto fail;
        }
        plan.layers[pair_layer[worst]].excluded = true;
        n_excl++;
        /* re-plan the tensors for the new exclusion set (ranges are reused by name) */
        {
            size_t old_n = plan.n_tensors;
            int32_t *old_t = tq_alloc(model->palloc, sizeof(int32_t) * (old_n + 1));
            float *old_lo = tq_alloc(model->palloc, sizeof(float) * (old_n + 1));
            float *old_hi = tq_alloc(model->palloc, sizeof(float) * (old_n + 1));
            if (!old_t || !old_lo || !old_hi) {
                tq_free(model->palloc, old_t, sizeof(int32_t) * (old_n + 1));
                tq_free(model->palloc, old_lo, sizeof(float) * (old_n + 1));
                tq_free(model->palloc, old_hi, sizeof(float) * (old_n + 1));
                st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "quantize: out of memory");
                goto fail;
            }
            memcpy(old_t, plan.tensors, sizeof(int32_t) * old_n);
            memcpy(old_lo, plan.lo, sizeof(float) * old_n);
            memcpy(old_hi, plan.hi, sizeof(float) * old_n);
            tq_quant_plan_free(&plan);
            plan.alloc = model->palloc;
            plan.exclude = excl;
            plan.n_exclude = n_excl;
            st = tq_quant_plan_int8(ref, &plan);
            if (st == TFMQ_OK) {
                plan.n_lohi = plan.n_tensors + 1;
                plan.lo = tq_calloc(model->palloc, plan.n_tensors + 1, sizeof(float));
                plan.hi = tq_calloc(model->palloc, plan.n_tensors + 1, sizeof(float));
                if (!plan.lo || !plan.hi) {
                    st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "quantize: out of memory");
                }
            }
            for (size_t i = 0; st == TFMQ_OK && i < plan.n_tensors; i++) {
                for (size_t j = 0; j < old_n; j++) {
                    if (old_t[j] == plan.tensors[i]) {
                        plan.lo[i] = old_lo[j];
                        plan.hi[i] = old_hi[j];
                    }
                }
            }
            tq_free(model->palloc, old_t, sizeof(int32_t) * (old_n + 1));
            tq_free(model->palloc, old_lo, sizeof(float) * (old_n + 1));
            tq_free(model->palloc, old_hi, sizeof(float) * (old_n + 1));
            if (st != TFMQ_OK) {
                goto fail;
            }
        }
    }

    /* layers kept in float by design: compute ops that are not quantized layers */
    if (o.precision == TFMQ_PRECISION_INT8) {
        float_layers = tq_calloc(model->palloc, ref->n_nodes + 1, sizeof(char *));
        if (!float_layers) {
            st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "quantize: out of memory");
            goto fail;
        }
        for (size_t i = 0; i < ref->n_nodes; i++) {
            bool quantized = false;
            for (size_t li = 0; li < plan.n_layers && !quantized; li++) {
                quantized = (plan.layers[li].node == (int32_t)i ||
                             plan.layers[li].act_node == (int32_t)i) &&
                            !plan.layers[li].excluded;
            }
            uint32_t op = ref->nodes[i].op;
            if (quantized || op == TQ_OP_RESHAPE || op == TQ_OP_FLATTEN || op == TQ_OP_SHAPE ||
                op == TQ_OP_GATHER || op == TQ_OP_UNSQUEEZE || op == TQ_OP_SQUEEZE ||
                op == TQ_OP_CONCAT || op == TQ_OP_IDENTITY || op == TQ_OP_TRANSPOSE) {
                continue;
            }
            char lbl[64], buf[160];
            snprintf(buf, sizeof(buf), "%s (%s)", tq_node_label(ref, &ref->nodes[i], lbl,
                                                                sizeof(lbl)),
                     tq_op_table[op].name);
            float_layers[n_float] = tq_arena_strdup(&ref_arena, buf);
            if (!float_layers[n_float]) {
                st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "quantize: out of memory");
                goto fail;
            }
            n_float++;
        }
    }
    if (report_out) {
        tq_report_info info;
        memset(&info, 0, sizeof(info));
        info.precision = tfmq_precision_name(o.precision);
        info.calib_method =
            o.precision == TFMQ_PRECISION_INT8 ? tfmq_calib_method_name(o.calib_method) : NULL;
        info.calib_samples = calib_samples;
        info.calib_device = calib_where;
        info.percentile = o.percentile;
        info.tolerance = o.tolerance;
        info.tolerance_met = tol_met;
        info.pairs = pairs;
        info.n_pairs = n_pairs;
        info.float_layers = float_layers;
        info.n_float_layers = n_float;
        info.fallback_layers = excl;
        info.fallback_reasons = reasons;
        info.n_fallback = n_excl;
        TQ_TRY(st, tq_report_build(&info, have_fid ? &fid : NULL, model->palloc, report_out));
    }
    *quantized_out = qm;
    qm = NULL;
    st = TFMQ_OK;
fail:
    if (cand_owned) {
        tq_graph_destroy((tq_graph *)(uintptr_t)cand);
    }
    tq_arena_free(&cand_arena);
    if (have_fid) {
        tq_fidelity_free(&fid);
    }
    tfmq_model_destroy(qm);
    tq_free(model->palloc, names, n_names * sizeof(char *));
    tq_free(model->palloc, pairs, cap_pairs * sizeof(*pairs));
    tq_free(model->palloc, pair_layer, cap_pairs * sizeof(size_t));
    tq_free(model->palloc, excl, n_excl * sizeof(char *));
    tq_free(model->palloc, reasons, n_excl * sizeof(char *));
    tq_free(model->palloc, float_layers, (ref ? ref->n_nodes + 1 : 1) * sizeof(char *));
    tq_quant_plan_free(&plan);
    tq_bias_correction_free(model->palloc, bc_corr, bc_n, bc_off, ref ? ref->n_nodes : 0);
    tq_graph_destroy(ref);
    tq_arena_free(&ref_arena);
    return st;
}
