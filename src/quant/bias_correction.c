/* bias_correction.c: empirical bias correction (Nagel et al. 2019, "Data-Free Quantization
 * Through Weight Equalization and Bias Correction", the empirical variant; also in TensorRT and
 * AIMET). Quantizing a layer's weights shifts the mean of its output: E[y_q - y] =
 * E[x * (W_q - W)] per output channel, and that shift travels through the rest of the network.
 * We measure it on the calibration data and subtract it from the layer's bias before the bias
 * is quantized to int32.
 * How: a clone of the FP32 graph gets, for each planned Conv/Gemm with a constant bias, one
 * extra node: the same op on the same FP32 input with weight W_q - W (dequantized int8 weights
 * less the FP32 weights) and no bias, which by linearity computes y_q - y exactly, padding
 * included. The executor runs the clone over the calibration data; an observer sums each extra
 * output per channel (axis 1) over batch and spatial positions. No activation is stored. */
#include <math.h>
#include <string.h>

#include "ir/rewrite.h"
#include "quant/calib.h"
#include "quant/quant.h"
#include "runtime/exec.h"

typedef struct tq_bc_run {
    const tq_graph *g;
    tq_exec *e;
    int32_t *slot_of_value; /* g->n_values entries: measured layer slot, or -1 */
    size_t *sum_off;      /* per slot: offset of its channels in sum */
    int64_t *cout;        /* per slot */
    double *sum;          /* per channel of every slot */
    uint64_t *count;      /* per slot: elements summed per channel */
    uint64_t n_done, n_total;
    const tfmq_quantize_options *opts;
} tq_bc_run;

static tfmq_status tq_bc_on_node(void *ud, const tq_exec *e, int32_t node_index)
{
    tq_bc_run *r = ud;
    if (node_index < 0) {
        return TFMQ_OK;
    }
    const tq_node *n = &r->g->nodes[node_index];
    if (n->n_out < 1 || n->out[0] < 0) {
        return TFMQ_OK;
    }
    const int32_t s = r->slot_of_value[n->out[0]];
    if (s < 0) {
        return TFMQ_OK;
    }
    const tq_tensor *t = tq_exec_value(e, n->out[0]);
    if (t->dtype != TFMQ_DTYPE_FLOAT32 || !t->data || t->rank < 2 || t->dims[1] != r->cout[s]) {
        return tq_fail(TFMQ_ERR_UNSUPPORTED, "bias correction: unexpected output shape of '%s'",
                       r->g->values[n->out[0]].name);
    }
    const size_t outer = (size_t)t->dims[0], ch = (size_t)t->dims[1];
    size_t inner = 1;
    for (int32_t d = 2; d < t->rank; d++) {
        inner *= (size_t)t->dims[d];
    }
    const float *x = t->data;
    double *sum = r->sum + r->sum_off[s];
    for (size_t o = 0; o < outer; o++) {
        for (size_t c = 0; c < ch; c++) {
            const float *p = x + (o * ch + c) * inner;
            double acc = 0.0;
            for (size_t i = 0; i < inner; i++) {
                acc += (double)p[i];
            }
            sum[c] += acc;
        }
    }
    r->count[s] += (uint64_t)(outer * inner);
    return TFMQ_OK;
}

static tfmq_status tq_bc_visit(void *ctx, const tq_tensor *inputs, uint64_t batch_samples)
{
    tq_bc_run *r = ctx;
    tfmq_status st = tq_exec_ensure_plan(r->e, inputs, NULL);
    if (st != TFMQ_OK) {
        return st;
    }
    st = tq_exec_run(r->e, inputs);
    if (st != TFMQ_OK) {
        return st;
    }
    r->n_done += batch_samples;
    if (r->opts->progress) {
        r->opts->progress(r->opts->progress_user_data, "bias correction", r->n_done,
                          r->n_total);
    }
    return TFMQ_OK;
}

/* Whether planned layer l of g gets a correction: Conv or Gemm (not transposed A) with a
 * constant float32 weight and a constant float32 bias of one value per output channel. */
static bool tq_bc_eligible(const tq_graph *g, const tq_quant_layer *l, int64_t *cout,
                           float *beta)
{
    const tq_node *n = &g->nodes[l->node];
    *beta = 1.0f;
    if ((n->op != TQ_OP_CONV && n->op != TQ_OP_GEMM) || n->n_in < 3 || n->in[1] < 0 ||
        n->in[2] < 0) {
        return false;
    }
    const tq_value *w = &g->values[n->in[1]], *b = &g->values[n->in[2]];
    if (!(w->flags & TQ_VALUE_CONST) || w->t.dtype != TFMQ_DTYPE_FLOAT32 || !w->t.data ||
        !(b->flags & TQ_VALUE_CONST) || b->t.dtype != TFMQ_DTYPE_FLOAT32 || !b->t.data ||
        b->t.rank != 1 || l->weight_axis < 0 || l->weight_axis >= w->t.rank) {
        return false;
    }
    *cout = w->t.dims[l->weight_axis];
    if (b->t.dims[0] != *cout || *cout <= 0) {
        return false;
    }
    if (n->op == TQ_OP_GEMM) {
        if (w->t.rank != 2 || tq_attr_float(n, "beta", 1.0f, beta) != TFMQ_OK ||
            !(fabsf(*beta) > 0.0f) || !isfinite(*beta)) {
            return false;
        }
    }
    return true;
}

void tq_bias_correction_free(const tfmq_allocator *a, float *corr, size_t n_corr, size_t *off,
                             size_t n_nodes)
{
    tq_free(a, corr, (n_corr ? n_corr : 1) * sizeof(float));
    tq_free(a, off, (n_nodes ? n_nodes : 1) * sizeof(size_t));
}

tfmq_status tq_bias_correction(const tq_graph *ref, const tq_quant_plan *plan,
                               const tfmq_quantize_options *opts, float **corr_out,
                               size_t *n_corr_out, size_t **off_out)
{
    tfmq_status st = TFMQ_OK;
    const tfmq_allocator *a = ref->alloc;
    tq_arena arena;
    tq_graph *g = NULL;
    tq_bc_run r;
    float *corr = NULL, *dw = NULL, *scale = NULL, *beta_of_slot = NULL;
    int8_t *q = NULL;
    int32_t *diff_value = NULL;
    size_t *off = NULL, n_corr = 0, n_slots = 0, cap_dw = 0, cap_scale = 0, n_vals = 0;
    uint64_t n_samples = 0;
    const size_t n_nodes = ref->n_nodes ? ref->n_nodes : 1;
    const size_t n_lay = plan->n_layers ? plan->n_layers : 1;

    *corr_out = NULL;
    *n_corr_out = 0;
    *off_out = NULL;
    memset(&r, 0, sizeof(r));
    if (!opts->calib_fn) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "quantize: bias correction needs calibration data");
    }
    tq_arena_init(&arena, a);
    off = tq_alloc(a, n_nodes * sizeof(size_t));
    diff_value = tq_alloc(a, n_lay * sizeof(int32_t));
    beta_of_slot = tq_alloc(a, n_lay * sizeof(float));
    r.sum_off = tq_alloc(a, n_lay * sizeof(size_t));
    r.cout = tq_alloc(a, n_lay * sizeof(int64_t));
    r.count = tq_calloc(a, n_lay, sizeof(uint64_t));
    if (!off || !diff_value || !beta_of_slot || !r.sum_off || !r.cout || !r.count) {
        st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "quantize: out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n_nodes; i++) {
        off[i] = (size_t)-1;
    }
    TQ_TRY(st, tq_graph_clone(ref, &arena, a, &g));
    /* one difference node per eligible layer; value indices are stable (nodes get re-sorted) */
    for (size_t li = 0; li < plan->n_layers; li++) {
        const tq_quant_layer *l = &plan->layers[li];
        int64_t cout;
        float beta;
        if (l->node < 0 || (size_t)l->node >= ref->n_nodes || off[l->node] != (size_t)-1 ||
            !tq_bc_eligible(ref, l, &cout, &beta)) {
            continue;
        }
        const tq_tensor w = ref->values[ref->nodes[l->node].in[1]].t;
        const size_t n = tq_tensor_numel(&w);
        size_t inner = 1;
        for (int32_t d = l->weight_axis + 1; d < w.rank; d++) {
            inner *= (size_t)w.dims[d];
        }
        if (n > cap_dw) {
            tq_free(a, dw, cap_dw * sizeof(float));
            tq_free(a, q, cap_dw);
            dw = tq_alloc(a, n * sizeof(float));
            q = tq_alloc(a, n);
            cap_dw = n;
            if (!dw || !q) {
                st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "quantize: out of memory");
                goto fail;
            }
        }
        if ((size_t)cout > cap_scale) {
            tq_free(a, scale, cap_scale * sizeof(float));
            scale = tq_alloc(a, (size_t)cout * sizeof(float));
            cap_scale = (size_t)cout;
            if (!scale) {
                st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "quantize: out of memory");
                goto fail;
            }
        }
        const float *wd = w.data;
        tq_quant_weight_int8(wd, n, cout, inner, scale, q);
        for (size_t i = 0; i < n; i++) {
            const size_t c = (i / inner) % (size_t)cout;
            dw[i] = (float)q[i] * scale[c] - wd[i];
        }
        int32_t vdw, vout, ni;
        TQ_TRY(st, tq_graph_add_const(g, "bias_correction_dw", TFMQ_DTYPE_FLOAT32, w.rank,
                                      w.dims, dw, &vdw));
        const char *oname = tq_graph_unique_name(g, "bias_correction_dy");
        if (!oname) {
            st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "quantize: out of memory");
            goto fail;
        }
        TQ_TRY(st, tq_graph_add_value(g, oname, &vout));
        const int32_t n_attrs = ref->nodes[l->node].n_attrs;
        TQ_TRY(st, tq_graph_add_node(g, ref->nodes[l->node].op, "bias_correction", 2, 1, n_attrs,
                                     &ni));
        tq_node *nn = &g->nodes[ni];
        const tq_node *src = &g->nodes[l->node]; /* the clone's copy (same index as in ref) */
        nn->in[0] = src->in[0];
        nn->in[1] = vdw;
        nn->out[0] = vout;
        for (int32_t k = 0; k < n_attrs; k++) {
            nn->attrs[k] = src->attrs[k];
        }
        beta_of_slot[n_slots] = beta;
        r.cout[n_slots] = cout;
        r.sum_off[n_slots] = n_corr;
        diff_value[n_slots] = vout;
        off[l->node] = n_corr;
        n_corr += (size_t)cout;
        n_slots++;
    }
    if (n_slots == 0) {
        goto done;
    }
    TQ_TRY(st, tq_graph_finalize(g));
    n_vals = g->n_values;
    r.slot_of_value = tq_alloc(a, n_vals * sizeof(int32_t));
    r.sum = tq_calloc(a, n_corr, sizeof(double));
    corr = tq_alloc(a, n_corr * sizeof(float));
    if (!r.slot_of_value || !r.sum || !corr) {
        st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "quantize: out of memory");
        goto fail;
    }
    for (size_t v = 0; v < n_vals; v++) {
        r.slot_of_value[v] = -1;
    }
    for (size_t s = 0; s < n_slots; s++) {
        r.slot_of_value[diff_value[s]] = (int32_t)s;
    }
    r.g = g;
    r.opts = opts;
    r.n_total = opts->max_calib_samples;
    TQ_TRY(st, tq_exec_create(g, a, NULL, &r.e));
    tq_exec_set_observer(r.e, tq_bc_on_node, &r);
    tq_exec_set_threads(r.e, tq_quant_threads());
    st = tq_for_each_batch(g, opts->calib_fn, opts->calib_user_data, opts->max_calib_samples,
                           tq_bc_visit, &r, &n_samples);
    if (st != TFMQ_OK) {
        st = tq_fail_prefix(st, "bias correction");
        goto fail;
    }
    for (size_t s = 0; s < n_slots; s++) {
        const double cnt = r.count[s] ? (double)r.count[s] : 1.0;
        for (int64_t c = 0; c < r.cout[s]; c++) {
            const size_t k = r.sum_off[s] + (size_t)c;
            corr[k] = (float)(r.sum[k] / cnt / (double)beta_of_slot[s]);
        }
    }
done:
    st = TFMQ_OK;
fail:
    tq_exec_destroy(r.e);
    if (st == TFMQ_OK) {
        *corr_out = corr;
        *n_corr_out = n_corr;
        *off_out = off;
    } else {
        tq_bias_correction_free(a, corr, n_corr, off, ref->n_nodes);
    }
    tq_free(a, dw, cap_dw * sizeof(float));
    tq_free(a, q, cap_dw);
    tq_free(a, scale, cap_scale * sizeof(float));
    tq_free(a, diff_value, n_lay * sizeof(int32_t));
    tq_free(a, beta_of_slot, n_lay * sizeof(float));
    tq_free(a, r.sum_off, n_lay * sizeof(size_t));
    tq_free(a, r.cout, n_lay * sizeof(int64_t));
    tq_free(a, r.count, n_lay * sizeof(uint64_t));
    tq_free(a, r.slot_of_value, n_vals * sizeof(int32_t));
    tq_free(a, r.sum, n_corr * sizeof(double));
    tq_graph_destroy(g);
    tq_arena_free(&arena);
    return st;
}
