/* report.c: fidelity measurement and tfmq_compare. Runs a reference and a candidate graph with
 * two reference executors on the same batches and compares their outputs (top-1/top-5 agreement,
 * SQNR, cosine, errors) and the tensors of paired layers. Layer tensors are captured in the
 * executors' observer hooks right after the producing node ran, because later nodes reuse the
 * workspace. Owns: the two execs and one float copy per pair of the reference tensor of the
 * current batch; all sums are kept in double. */
#include <math.h>
#include <string.h>

#include "quant/calib.h"
#include "quant/quant.h"
#include "quant/report.h"
#include "runtime/compile.h"
#include "runtime/exec.h"

#define TQ_SQNR_EXACT_DB 200.0 /* SQNR reported when the error is exactly zero */

typedef struct tq_pair_acc {
    double rr, ee, rc, cc; /* sum ref^2, sum (cand-ref)^2, sum ref*cand, sum cand^2 */
    uint64_t n;            /* values accumulated */
} tq_pair_acc;

typedef struct tq_fid_run {
    const tq_graph *ref, *cand;
    const tq_layer_pair *pairs;
    size_t n_pairs;
    const tfmq_allocator *alloc;
    tq_exec *eref, *ecand;
    int32_t *ref_v, *cand_v;        /* n_pairs: value indices */
    int32_t *ref_head, *ref_next;   /* pairs by reference value: n_values heads, n_pairs links */
    int32_t *cand_head, *cand_next; /* pairs by candidate value */
    float **buf;                    /* n_pairs: the reference tensor of this batch */
    size_t *buf_cap;                /* n_pairs: capacity of buf[p] in elements */
    size_t *buf_n;                  /* n_pairs: elements captured this batch; SIZE_MAX: none */
    bool *done;                     /* n_pairs: candidate accumulated this batch */
    tq_pair_acc *acc;               /* n_pairs */
    size_t *in_map;                 /* cand->n_inputs: index of the same-named ref input */
    tq_tensor *cand_in;             /* cand->n_inputs: inputs bound for the candidate */
    int32_t *out_map;               /* ref->n_outputs: the candidate's same-named output value */
    tq_pair_acc out;                /* all float outputs together */
    double abs_sum, max_abs;        /* output |cand - ref| */
    uint64_t top1_rows, top1_hits, top5_rows, top5_hits;
} tq_fid_run;

static size_t tq_max1(size_t n)
{
    return n ? n : 1;
}

/* Whether a reference tensor can be read as real numbers. */
static bool tq_fid_is_real(tfmq_dtype dt)
{
    return dt == TFMQ_DTYPE_FLOAT32 || dt == TFMQ_DTYPE_FLOAT16 || dt == TFMQ_DTYPE_BFLOAT16 ||
           dt == TFMQ_DTYPE_FLOAT64;
}

/* Element i of t as a real number; int8/uint8 are dequantized with scale and zero_point. */
static double tq_fid_load(const tq_tensor *t, size_t i, float scale, int32_t zero_point)
{
    switch (t->dtype) {
    case TFMQ_DTYPE_FLOAT32:
        return (double)((const float *)t->data)[i];
    case TFMQ_DTYPE_INT8:
        return (double)scale * (double)((int32_t)((const int8_t *)t->data)[i] - zero_point);
    case TFMQ_DTYPE_UINT8:
        return (double)scale * (double)((int32_t)((const uint8_t *)t->data)[i] - zero_point);
    default:
        return tq_load_f64(t->dtype, t->data, i);
    }
}

static void tq_acc_add(tq_pair_acc *a, double r, double c)
{
    const double e = c - r;
    a->rr += r * r;
    a->ee += e * e;
    a->rc += r * c;
    a->cc += c * c;
    a->n++;
}

static double tq_sqnr_db(const tq_pair_acc *a)
{
    if (a->n == 0) {
        return (double)NAN;
    }
    if (a->ee == 0.0) {
        return TQ_SQNR_EXACT_DB;
    }
    if (a->rr == 0.0) {
        return -TQ_SQNR_EXACT_DB;
    }
    double db = 10.0 * log10(a->rr / a->ee);
    if (db > TQ_SQNR_EXACT_DB) {
        db = TQ_SQNR_EXACT_DB;
    } else if (db < -TQ_SQNR_EXACT_DB) {
        db = -TQ_SQNR_EXACT_DB;
    }
    return db; /* NaN stays NaN (non-finite data) */
}

static double tq_cosine(const tq_pair_acc *a)
{
    if (a->n == 0) {
        return (double)NAN;
    }
    if (a->rr == 0.0 && a->cc == 0.0) {
        return 1.0;
    }
    if (a->rr == 0.0 || a->cc == 0.0) {
        return 0.0;
    }
    double c = a->rc / sqrt(a->rr * a->cc);
    if (c > 1.0) {
        c = 1.0;
    } else if (c < -1.0) {
        c = -1.0;
    }
    return c;
}

/* ---- layer pairs, from the observers ---- */

static tfmq_status tq_fid_capture_ref(tq_fid_run *r, int32_t v)
{
    const tq_tensor *t = tq_exec_value(r->eref, v);
    for (int32_t p = r->ref_head[v]; p >= 0; p = r->ref_next[p]) {
        const tq_layer_pair *lp = &r->pairs[p];
        if (!t->data || !tq_tensor_shape_known(t)) {
            continue;
        }
        if (!tq_fid_is_real(t->dtype)) {
            return tq_fail(TFMQ_ERR_UNSUPPORTED, "fidelity: layer '%s': reference value '%s' "
                           "is %s, not a float", lp->layer ? lp->layer : lp->ref_name,
                           lp->ref_name, tfmq_dtype_name(t->dtype));
        }
        const size_t n = tq_tensor_numel(t);
        if (n > r->buf_cap[p]) {
            size_t bytes;
            if (!tq_mul_size(n, sizeof(float), &bytes)) {
                return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "fidelity: value '%s' too large",
                               lp->ref_name);
            }
            float *nb = tq_realloc(r->alloc, r->buf[p], r->buf_cap[p] * sizeof(float), bytes);
            if (!nb) {
                return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "fidelity: %zu bytes for value '%s'",
                               bytes, lp->ref_name);
            }
            r->buf[p] = nb;
            r->buf_cap[p] = n;
        }
        for (size_t i = 0; i < n; i++) {
            r->buf[p][i] = (float)tq_fid_load(t, i, 1.0f, 0);
        }
        r->buf_n[p] = n;
    }
    return TFMQ_OK;
}

static tfmq_status tq_fid_accumulate_cand(tq_fid_run *r, int32_t v)
{
    const tq_tensor *t = tq_exec_value(r->ecand, v);
    for (int32_t p = r->cand_head[v]; p >= 0; p = r->cand_next[p]) {
        const tq_layer_pair *lp = &r->pairs[p];
        const char *layer = lp->layer ? lp->layer : lp->ref_name;
        if (r->done[p] || r->buf_n[p] == SIZE_MAX || !t->data || !tq_tensor_shape_known(t)) {
            continue;
        }
        if (!tq_fid_is_real(t->dtype) && t->dtype != TFMQ_DTYPE_INT8 &&
            t->dtype != TFMQ_DTYPE_UINT8) {
            return tq_fail(TFMQ_ERR_UNSUPPORTED, "fidelity: layer '%s': candidate value '%s' "
                           "is %s (float, int8 or uint8 expected)", layer, lp->cand_name,
                           tfmq_dtype_name(t->dtype));
        }
        const size_t n = tq_tensor_numel(t);
        if (n != r->buf_n[p]) {
            return tq_fail(TFMQ_ERR_INVALID_ARG, "fidelity: layer '%s': reference value '%s' "
                           "has %zu elements, candidate value '%s' %zu", layer, lp->ref_name,
                           r->buf_n[p], lp->cand_name, n);
        }
        tq_pair_acc *a = &r->acc[p];
        const float *ref = r->buf[p];
        for (size_t i = 0; i < n; i++) {
            tq_acc_add(a, (double)ref[i], tq_fid_load(t, i, lp->scale, lp->zero_point));
        }
        r->done[p] = true;
    }
    return TFMQ_OK;
}

/* Calls fn for every value node_index produced (graph inputs for -1). */
static tfmq_status tq_fid_on_node(tq_fid_run *r, const tq_graph *g, int32_t node_index,
                                  const int32_t *head,
                                  tfmq_status (*fn)(tq_fid_run *, int32_t))
{
    tfmq_status st;
    if (node_index < 0) {
        for (size_t i = 0; i < g->n_inputs; i++) {
            if (head[g->inputs[i]] >= 0 && (st = fn(r, g->inputs[i])) != TFMQ_OK) {
                return st;
            }
        }
        return TFMQ_OK;
    }
    const tq_node *n = &g->nodes[node_index];
    for (int32_t k = 0; k < n->n_out; k++) {
        const int32_t v = n->out[k];
        if (v >= 0 && head[v] >= 0 && (st = fn(r, v)) != TFMQ_OK) {
            return st;
        }
    }
    return TFMQ_OK;
}

static tfmq_status tq_fid_on_ref(void *ud, const tq_exec *e, int32_t node_index)
{
    tq_fid_run *r = ud;
    (void)e;
    return tq_fid_on_node(r, r->ref, node_index, r->ref_head, tq_fid_capture_ref);
}

static tfmq_status tq_fid_on_cand(void *ud, const tq_exec *e, int32_t node_index)
{
    tq_fid_run *r = ud;
    (void)e;
    return tq_fid_on_node(r, r->cand, node_index, r->cand_head, tq_fid_accumulate_cand);
}

/* ---- outputs ---- */

/* Index of the first maximum of x[0..n) (NaNs never win). */
static size_t tq_argmax(const tq_tensor *t, size_t base, size_t n)
{
    size_t best = 0;
    double bv = tq_fid_load(t, base, 1.0f, 0);
    for (size_t j = 1; j < n; j++) {
        const double x = tq_fid_load(t, base + j, 1.0f, 0);
        if (x > bv || (bv != bv && x == x)) {
            bv = x;
            best = j;
        }
    }
    return best;
}

/* Position of class k in a stable descending sort of the row (ties: lower index first). */
static size_t tq_rank_of(const tq_tensor *t, size_t base, size_t n, size_t k)
{
    const double xk = tq_fid_load(t, base + k, 1.0f, 0);
    size_t rank = 0;
    for (size_t j = 0; j < n; j++) {
        const double x = tq_fid_load(t, base + j, 1.0f, 0);
        if (x > xk || (x == xk && j < k)) {
            rank++;
        }
    }
    return rank;
}

static tfmq_status tq_fid_outputs(tq_fid_run *r)
{
    for (size_t i = 0; i < r->ref->n_outputs; i++) {
        if (r->out_map[i] < 0) {
            continue;
        }
        const tq_tensor *tr = tq_exec_value(r->eref, r->ref->outputs[i]);
        const tq_tensor *tc = tq_exec_value(r->ecand, r->out_map[i]);
        const char *name = r->ref->values[r->ref->outputs[i]].name;
        if (!tq_fid_is_real(tr->dtype) || !tq_fid_is_real(tc->dtype)) {
            continue; /* only float outputs are compared */
        }
        if (!tr->data || !tc->data || !tq_tensor_shape_known(tr) || !tq_tensor_shape_known(tc)) {
            return tq_fail(TFMQ_ERR_INTERNAL, "fidelity: output '%s' was not computed", name);
        }
        const size_t n = tq_tensor_numel(tr);
        if (tq_tensor_numel(tc) != n) {
            return tq_fail(TFMQ_ERR_INVALID_ARG, "fidelity: output '%s' has %zu elements in "
                           "the reference, %zu in the candidate", name, n, tq_tensor_numel(tc));
        }
        for (size_t j = 0; j < n; j++) {
            const double a = tq_fid_load(tr, j, 1.0f, 0), b = tq_fid_load(tc, j, 1.0f, 0);
            const double d = fabs(b - a);
            tq_acc_add(&r->out, a, b);
            r->abs_sum += d;
            if (d > r->max_abs || d != d) {
                r->max_abs = d; /* NaN sticks: the report then shows null */
            }
        }
        const int64_t classes = tr->rank >= 1 ? tr->dims[tr->rank - 1] : 0;
        if (classes < 2) {
            continue;
        }
        const size_t nc = (size_t)classes, rows = n / nc;
        for (size_t row = 0; row < rows; row++) {
            const size_t base = row * nc;
            const size_t top_r = tq_argmax(tr, base, nc);
            r->top1_rows++;
            r->top1_hits += tq_argmax(tc, base, nc) == top_r;
            if (nc >= 5) {
                r->top5_rows++;
                r->top5_hits += tq_rank_of(tc, base, nc, top_r) < 5;
            }
        }
    }
    return TFMQ_OK;
}

/* ---- the batch loop ---- */

static tfmq_status tq_fid_visit(void *ctx, const tq_tensor *inputs, uint64_t batch_samples)
{
    tq_fid_run *r = ctx;
    tfmq_status st;
    (void)batch_samples;
    for (size_t i = 0; i < r->cand->n_inputs; i++) {
        r->cand_in[i] = inputs[r->in_map[i]];
    }
    if ((st = tq_exec_ensure_plan(r->eref, inputs, NULL)) != TFMQ_OK) {
        return tq_fail_prefix(st, "fidelity: reference");
    }
    if ((st = tq_exec_ensure_plan(r->ecand, r->cand_in, NULL)) != TFMQ_OK) {
        return tq_fail_prefix(st, "fidelity: candidate");
    }
    for (size_t p = 0; p < r->n_pairs; p++) {
        r->buf_n[p] = SIZE_MAX;
        r->done[p] = false;
    }
    if ((st = tq_exec_run(r->eref, inputs)) != TFMQ_OK) {
        return tq_fail_prefix(st, "fidelity: reference");
    }
    /* values known at plan time (constants, folded nodes) are never seen by the observer */
    for (size_t p = 0; p < r->n_pairs; p++) {
        if (r->buf_n[p] == SIZE_MAX && tq_exec_value_is_const(r->eref, r->ref_v[p]) &&
            (st = tq_fid_capture_ref(r, r->ref_v[p])) != TFMQ_OK) {
            return st;
        }
    }
    if ((st = tq_exec_run(r->ecand, r->cand_in)) != TFMQ_OK) {
        return tq_fail_prefix(st, "fidelity: candidate");
    }
    for (size_t p = 0; p < r->n_pairs; p++) {
        if (!r->done[p] && tq_exec_value_is_const(r->ecand, r->cand_v[p]) &&
            (st = tq_fid_accumulate_cand(r, r->cand_v[p])) != TFMQ_OK) {
            return st;
        }
    }
    return tq_fid_outputs(r);
}

/* Index lists and maps of a run; every array is allocated with at least one entry. */
static tfmq_status tq_fid_setup(tq_fid_run *r)
{
    const tq_graph *ref = r->ref, *cand = r->cand;
    const tfmq_allocator *a = r->alloc;
    const size_t np = tq_max1(r->n_pairs);
    r->ref_v = tq_alloc(a, np * sizeof(int32_t));
    r->cand_v = tq_alloc(a, np * sizeof(int32_t));
    r->ref_next = tq_alloc(a, np * sizeof(int32_t));
    r->cand_next = tq_alloc(a, np * sizeof(int32_t));
    r->ref_head = tq_alloc(a, tq_max1(ref->n_values) * sizeof(int32_t));
    r->cand_head = tq_alloc(a, tq_max1(cand->n_values) * sizeof(int32_t));
    r->buf = tq_calloc(a, np, sizeof(float *));
    r->buf_cap = tq_calloc(a, np, sizeof(size_t));
    r->buf_n = tq_calloc(a, np, sizeof(size_t));
    r->done = tq_calloc(a, np, sizeof(bool));
    r->acc = tq_calloc(a, np, sizeof(tq_pair_acc));
    r->in_map = tq_calloc(a, tq_max1(cand->n_inputs), sizeof(size_t));
    r->cand_in = tq_calloc(a, tq_max1(cand->n_inputs), sizeof(tq_tensor));
    r->out_map = tq_alloc(a, tq_max1(ref->n_outputs) * sizeof(int32_t));
    if (!r->ref_v || !r->cand_v || !r->ref_next || !r->cand_next || !r->ref_head ||
        !r->cand_head || !r->buf || !r->buf_cap || !r->buf_n || !r->done || !r->acc ||
        !r->in_map || !r->cand_in || !r->out_map) {
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "fidelity: out of memory");
    }
    if (cand->n_inputs != ref->n_inputs) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "fidelity: the reference has %zu inputs, the "
                       "candidate %zu", ref->n_inputs, cand->n_inputs);
    }
    for (size_t i = 0; i < cand->n_inputs; i++) {
        const tq_value *cv = &cand->values[cand->inputs[i]];
        size_t j = 0;
        while (j < ref->n_inputs && strcmp(ref->values[ref->inputs[j]].name, cv->name) != 0) {
            j++;
        }
        if (j == ref->n_inputs) {
            return tq_fail(TFMQ_ERR_INVALID_ARG, "fidelity: candidate input '%s' is not an "
                           "input of the reference", cv->name);
        }
        if (ref->values[ref->inputs[j]].t.dtype != cv->t.dtype) {
            return tq_fail(TFMQ_ERR_INVALID_ARG, "fidelity: input '%s' is %s in the reference, "
                           "%s in the candidate", cv->name,
                           tfmq_dtype_name(ref->values[ref->inputs[j]].t.dtype),
                           tfmq_dtype_name(cv->t.dtype));
        }
        r->in_map[i] = j;
    }
    for (size_t i = 0; i < ref->n_outputs; i++) {
        const char *name = ref->values[ref->outputs[i]].name;
        r->out_map[i] = -1;
        for (size_t j = 0; j < cand->n_outputs && r->out_map[i] < 0; j++) {
            if (strcmp(cand->values[cand->outputs[j]].name, name) == 0) {
                r->out_map[i] = cand->outputs[j];
            }
        }
        if (r->out_map[i] < 0) {
            return tq_fail(TFMQ_ERR_INVALID_ARG, "fidelity: reference output '%s' is not an "
                           "output of the candidate", name);
        }
    }
    for (size_t v = 0; v < ref->n_values; v++) {
        r->ref_head[v] = -1;
    }
    for (size_t v = 0; v < cand->n_values; v++) {
        r->cand_head[v] = -1;
    }
    /* link in reverse so that each list is in pair order */
    for (size_t k = r->n_pairs; k-- > 0;) {
        const tq_layer_pair *lp = &r->pairs[k];
        const char *layer = lp->layer ? lp->layer : "?";
        const int32_t rv = lp->ref_name ? tq_graph_find_value(ref, lp->ref_name) : -1;
        const int32_t cv = lp->cand_name ? tq_graph_find_value(cand, lp->cand_name) : -1;
        if (rv < 0) {
            return tq_fail(TFMQ_ERR_INVALID_ARG, "fidelity: layer '%s': the reference has no "
                           "value named '%s'", layer, lp->ref_name ? lp->ref_name : "(null)");
        }
        if (cv < 0) {
            return tq_fail(TFMQ_ERR_INVALID_ARG, "fidelity: layer '%s': the candidate has no "
                           "value named '%s'", layer, lp->cand_name ? lp->cand_name : "(null)");
        }
        r->ref_v[k] = rv;
        r->cand_v[k] = cv;
        r->ref_next[k] = r->ref_head[rv];
        r->ref_head[rv] = (int32_t)k;
        r->cand_next[k] = r->cand_head[cv];
        r->cand_head[cv] = (int32_t)k;
    }
    return TFMQ_OK;
}

static void tq_fid_run_free(tq_fid_run *r)
{
    const tfmq_allocator *a = r->alloc;
    const size_t np = tq_max1(r->n_pairs);
    tq_exec_destroy(r->eref);
    tq_exec_destroy(r->ecand);
    if (r->buf && r->buf_cap) {
        for (size_t p = 0; p < r->n_pairs; p++) {
            tq_free(a, r->buf[p], r->buf_cap[p] * sizeof(float));
        }
    }
    tq_free(a, r->ref_v, np * sizeof(int32_t));
    tq_free(a, r->cand_v, np * sizeof(int32_t));
    tq_free(a, r->ref_next, np * sizeof(int32_t));
    tq_free(a, r->cand_next, np * sizeof(int32_t));
    tq_free(a, r->ref_head, tq_max1(r->ref->n_values) * sizeof(int32_t));
    tq_free(a, r->cand_head, tq_max1(r->cand->n_values) * sizeof(int32_t));
    tq_free(a, r->buf, np * sizeof(float *));
    tq_free(a, r->buf_cap, np * sizeof(size_t));
    tq_free(a, r->buf_n, np * sizeof(size_t));
    tq_free(a, r->done, np * sizeof(bool));
    tq_free(a, r->acc, np * sizeof(tq_pair_acc));
    tq_free(a, r->in_map, tq_max1(r->cand->n_inputs) * sizeof(size_t));
    tq_free(a, r->cand_in, tq_max1(r->cand->n_inputs) * sizeof(tq_tensor));
    tq_free(a, r->out_map, tq_max1(r->ref->n_outputs) * sizeof(int32_t));
}

tfmq_status tq_fidelity_eval(const tq_graph *ref, const tq_graph *cand, const tq_layer_pair *pairs,
                             size_t n_pairs, tfmq_batch_fn fn, void *user_data,
                             uint64_t max_samples, const tfmq_allocator *alloc, tq_fidelity *out)
{
    tfmq_status st;
    tq_fid_run r;
    uint64_t n_samples = 0;

    if (out) {
        memset(out, 0, sizeof(*out));
    }
    if (!ref || !cand || !fn || !out || (n_pairs && !pairs)) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "fidelity: NULL argument");
    }
    memset(&r, 0, sizeof(r));
    r.ref = ref;
    r.cand = cand;
    r.pairs = pairs;
    r.n_pairs = n_pairs;
    r.alloc = alloc;
    TQ_TRY(st, tq_fid_setup(&r));
    TQ_TRY(st, tq_exec_create(ref, alloc, NULL, &r.eref));
    TQ_TRY(st, tq_exec_create(cand, alloc, NULL, &r.ecand));
    tq_exec_set_observer(r.eref, tq_fid_on_ref, &r);
    tq_exec_set_observer(r.ecand, tq_fid_on_cand, &r);
    tq_exec_set_threads(r.eref, tq_quant_threads());
    tq_exec_set_threads(r.ecand, tq_quant_threads());
    TQ_TRY(st, tq_for_each_batch(ref, fn, user_data, max_samples, tq_fid_visit, &r, &n_samples));
    if (n_samples == 0) {
        st = tq_fail(TFMQ_ERR_INVALID_ARG, "fidelity: the evaluation data yielded no samples");
        goto fail;
    }
    out->layers = tq_calloc(alloc, tq_max1(n_pairs), sizeof(tq_layer_fidelity));
    if (!out->layers) {
        st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "fidelity: out of memory");
        goto fail;
    }
    out->alloc = alloc;
    out->n_layers = n_pairs;
    for (size_t p = 0; p < n_pairs; p++) {
        out->layers[p].sqnr_db = tq_sqnr_db(&r.acc[p]);
        out->layers[p].cosine = tq_cosine(&r.acc[p]);
        out->layers[p].n_values = r.acc[p].n;
    }
    out->n_samples = n_samples;
    out->top1_agreement = r.top1_rows ? (double)r.top1_hits / (double)r.top1_rows : -1.0;
    out->top5_agreement = r.top5_rows ? (double)r.top5_hits / (double)r.top5_rows : -1.0;
    out->output_sqnr_db = tq_sqnr_db(&r.out);
    out->output_cosine = tq_cosine(&r.out);
    out->max_abs_error = r.out.n ? r.max_abs : -1.0;
    out->mean_abs_error = r.out.n ? r.abs_sum / (double)r.out.n : -1.0;
    st = TFMQ_OK;
fail:
    tq_fid_run_free(&r);
    return st;
}

void tq_fidelity_free(tq_fidelity *f)
{
    if (!f) {
        return;
    }
    tq_free(f->alloc, f->layers, tq_max1(f->n_layers) * sizeof(tq_layer_fidelity));
    memset(f, 0, sizeof(*f));
}

/* ---- tfmq_compare ---- */

/* Same value names and dtypes in both lists (any order). */
static tfmq_status tq_compare_io(const tq_graph *a, const tq_graph *b, const int32_t *va,
                                 size_t na, const int32_t *vb, size_t nb, const char *what)
{
    if (na != nb) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "compare: the reference has %zu %ss, the "
                       "candidate %zu", na, what, nb);
    }
    for (size_t i = 0; i < na; i++) {
        const tq_value *x = &a->values[va[i]];
        const tq_value *y = NULL;
        for (size_t j = 0; j < nb && !y; j++) {
            if (strcmp(b->values[vb[j]].name, x->name) == 0) {
                y = &b->values[vb[j]];
            }
        }
        if (!y) {
            return tq_fail(TFMQ_ERR_INVALID_ARG, "compare: the candidate has no %s named '%s'",
                           what, x->name);
        }
        if (x->t.dtype != y->t.dtype) {
            return tq_fail(TFMQ_ERR_INVALID_ARG, "compare: %s '%s' is %s in the reference, %s "
                           "in the candidate", what, x->name, tfmq_dtype_name(x->t.dtype),
                           tfmq_dtype_name(y->t.dtype));
        }
    }
    return TFMQ_OK;
}

static bool tq_compare_layer_op(uint32_t op)
{
    return op == TQ_OP_CONV || op == TQ_OP_GEMM || op == TQ_OP_MATMUL ||
           op == TQ_OP_FUSED_CONV || op == TQ_OP_FUSED_GEMM;
}

/* Plan g shapes-only with m's default input shapes (symbolic dims 1), to learn value dtypes. */
static tfmq_status tq_compare_shapes(const tfmq_model *m, const tq_graph *g, tq_exec **e_out)
{
    tfmq_status st;
    tq_tensor *shapes = NULL;
    const size_t n = tq_max1(m->graph->n_inputs);
    *e_out = NULL;
    shapes = tq_calloc(m->palloc, n, sizeof(tq_tensor));
    if (!shapes) {
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "compare: out of memory");
    }
    TQ_TRY(st, tq_model_default_shapes(m, 1, shapes));
    TQ_TRY(st, tq_exec_create(g, m->palloc, NULL, e_out));
    TQ_TRY(st, tq_exec_plan(*e_out, shapes, true));
    tq_free(m->palloc, shapes, n * sizeof(tq_tensor));
    return TFMQ_OK;
fail:
    tq_exec_destroy(*e_out);
    *e_out = NULL;
    tq_free(m->palloc, shapes, n * sizeof(tq_tensor));
    return st;
}

/* Pairs: float32 outputs of Conv/Gemm/MatMul (and their fused forms) in gr whose name is a
 * float value of gc too. Strings live in `arena`. */
static tfmq_status tq_compare_pairs(const tfmq_model *ref, const tfmq_model *cand,
                                    const tq_graph *gr, const tq_graph *gc, tq_arena *arena,
                                    tq_layer_pair **pairs_out, size_t *n_out)
{
    tfmq_status st;
    tq_exec *er = NULL, *ec = NULL;
    tq_layer_pair *pairs = NULL;
    size_t n = 0;
    const char *precision = cand->precision ? cand->precision : "fp32";
    *pairs_out = NULL;
    *n_out = 0;
    TQ_TRY(st, tq_compare_shapes(ref, gr, &er));
    TQ_TRY(st, tq_compare_shapes(cand, gc, &ec));
    pairs = tq_arena_alloc(arena, tq_max1(gr->n_nodes) * sizeof(tq_layer_pair));
    if (!pairs) {
        st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "compare: out of memory");
        goto fail;
    }
    for (size_t i = 0; i < gr->n_nodes; i++) {
        const tq_node *node = &gr->nodes[i];
        if (!tq_compare_layer_op(node->op) || node->n_out < 1 || node->out[0] < 0) {
            continue;
        }
        const int32_t rv = node->out[0];
        const char *name = gr->values[rv].name;
        const int32_t cv = tq_graph_find_value(gc, name);
        if (!name || !*name || cv < 0 || tq_exec_value(er, rv)->dtype != TFMQ_DTYPE_FLOAT32 ||
            !tq_fid_is_real(tq_exec_value(ec, cv)->dtype)) {
            continue;
        }
        char lbl[128];
        tq_layer_pair *p = &pairs[n];
        p->layer = tq_arena_strdup(arena, tq_node_label(gr, node, lbl, sizeof(lbl)));
        p->op = tq_op_table[node->op].name;
        p->ref_name = name;
        p->cand_name = gc->values[cv].name;
        p->scale = 1.0f;
        p->zero_point = 0;
        p->precision = precision;
        if (!p->layer) {
            st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "compare: out of memory");
            goto fail;
        }
        n++;
    }
    *pairs_out = pairs;
    *n_out = n;
    st = TFMQ_OK;
fail:
    tq_exec_destroy(er);
    tq_exec_destroy(ec);
    return st;
}

tfmq_status tfmq_compare(const tfmq_model *reference, const tfmq_model *candidate,
                         tfmq_batch_fn data_fn, void *user_data, uint64_t max_samples,
                         tfmq_report **report_out)
{
    tfmq_status st;
    tq_arena arena;
    const tq_graph *gr = NULL, *gc = NULL;
    bool own_r = false, own_c = false;
    tq_layer_pair *pairs = NULL;
    size_t n_pairs = 0;
    tq_fidelity fid;
    tq_report_info info;

    memset(&fid, 0, sizeof(fid));
    if (report_out) {
        *report_out = NULL;
    }
    if (!reference || !candidate || !data_fn || !report_out) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "compare: NULL argument");
    }
    const tfmq_allocator *a = reference->palloc;
    tq_arena_init(&arena, a);
    const tq_graph *mr = reference->graph, *mc = candidate->graph;
    TQ_TRY(st, tq_compare_io(mr, mc, mr->inputs, mr->n_inputs, mc->inputs, mc->n_inputs,
                             "input"));
    TQ_TRY(st, tq_compare_io(mr, mc, mr->outputs, mr->n_outputs, mc->outputs, mc->n_outputs,
                             "output"));
    TQ_TRY(st, tq_compile(mr, false, &arena, a, &gr, &own_r));
    TQ_TRY(st, tq_compile(mc, false, &arena, a, &gc, &own_c));
    TQ_TRY(st, tq_compare_pairs(reference, candidate, gr, gc, &arena, &pairs, &n_pairs));
    st = tq_fidelity_eval(gr, gc, pairs, n_pairs, data_fn, user_data, max_samples, a, &fid);
    if (st != TFMQ_OK) {
        st = tq_fail_prefix(st, "compare");
        goto fail;
    }
    memset(&info, 0, sizeof(info));
    info.precision = candidate->precision ? candidate->precision : "fp32";
    info.pairs = pairs;
    info.n_pairs = n_pairs;
    TQ_TRY(st, tq_report_build(&info, &fid, a, report_out));
fail:
    tq_fidelity_free(&fid);
    if (own_c) {
        tq_graph_destroy((tq_graph *)(uintptr_t)gc);
    }
    if (own_r) {
        tq_graph_destroy((tq_graph *)(uintptr_t)gr);
    }
    tq_arena_free(&arena);
    return st;
}
