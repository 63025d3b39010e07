/* data.c: iterating a caller's tfmq_batch_fn data source for a graph. Each batch is checked
 * against the graph's inputs exactly as tfmq_session_run checks its inputs (dtype, rank, fixed
 * dims, buffer size), and capped at a sample count by cutting along dim 0: in row-major (C) order
 * the first k samples of a batch are a prefix of its buffer, so a cut needs no copy. The batch's
 * buffers belong to the callback; this file owns only the two small descriptor arrays. */
#include <string.h>

#include "quant/calib.h"

/* Check batch input `in` against graph input `v`; fill *t (data borrowed). */
static tfmq_status tq_data_check(const tq_value *v, size_t batch_index, const tfmq_tensor *in,
                                 tq_tensor *t)
{
    if (in->dtype != v->t.dtype) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "batch %zu: input '%s': dtype %s given, the model "
                       "takes %s", batch_index, v->name, tfmq_dtype_name(in->dtype),
                       tfmq_dtype_name(v->t.dtype));
    }
    if (in->rank < 0 || in->rank > TQ_MAX_RANK || (in->rank > 0 && !in->dims)) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "batch %zu: input '%s': bad rank %d", batch_index,
                       v->name, in->rank);
    }
    if (v->t.rank >= 0 && in->rank != v->t.rank) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "batch %zu: input '%s': rank %d given, the model "
                       "takes %d", batch_index, v->name, in->rank, v->t.rank);
    }
    memset(t, 0, sizeof(*t));
    t->dtype = in->dtype;
    t->rank = in->rank;
    for (int32_t d = 0; d < in->rank; d++) {
        if (in->dims[d] < 0) {
            return tq_fail(TFMQ_ERR_INVALID_ARG, "batch %zu: input '%s': negative dim %lld",
                           batch_index, v->name, (long long)in->dims[d]);
        }
        if (v->t.rank >= 0 && v->t.dims[d] >= 0 && v->t.dims[d] != in->dims[d]) {
            return tq_fail(TFMQ_ERR_INVALID_ARG, "batch %zu: input '%s': dim %d is %lld, the "
                           "model takes %lld", batch_index, v->name, d,
                           (long long)in->dims[d], (long long)v->t.dims[d]);
        }
        t->dims[d] = in->dims[d];
    }
    size_t bytes;
    if (!tq_tensor_bytes(t, &bytes)) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "batch %zu: input '%s': too large", batch_index,
                       v->name);
    }
    if (in->data_bytes < bytes || (!in->data && bytes)) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "batch %zu: input '%s': %zu bytes given, shape "
                       "needs %zu", batch_index, v->name, in->data_bytes, bytes);
    }
    t->data = in->data;
    return TFMQ_OK;
}

tfmq_status tq_for_each_batch(const tq_graph *g, tfmq_batch_fn fn, void *user_data,
                              uint64_t max_samples, tq_batch_visit_fn visit, void *ctx,
                              uint64_t *n_samples_out)
{
    tfmq_status st = TFMQ_OK;
    tfmq_tensor *raw = NULL;
    tq_tensor *ts = NULL;
    uint64_t n_done = 0;

    if (n_samples_out) {
        *n_samples_out = 0;
    }
    if (!g || !fn || !visit) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "calibration data: NULL graph, source or visitor");
    }
    const size_t n_in = g->n_inputs;
    const size_t n_alloc = n_in ? n_in : 1;
    raw = tq_calloc(g->alloc, n_alloc, sizeof(*raw));
    ts = tq_calloc(g->alloc, n_alloc, sizeof(*ts));
    if (!raw || !ts) {
        st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "calibration data: out of memory");
        goto fail;
    }
    for (size_t b = 0; max_samples == 0 || n_done < max_samples; b++) {
        bool done = false;
        memset(raw, 0, n_alloc * sizeof(*raw));
        for (size_t i = 0; i < n_in; i++) {
            raw[i].name = g->values[g->inputs[i]].name;
        }
        TQ_TRY(st, fn(user_data, b, raw, n_in, &done));
        if (done) {
            break;
        }
        uint64_t n_batch = 1;
        bool found_batch_dim = false;
        for (size_t i = 0; i < n_in; i++) {
            TQ_TRY(st, tq_data_check(&g->values[g->inputs[i]], b, &raw[i], &ts[i]));
            if (!found_batch_dim && ts[i].rank >= 1) {
                n_batch = (uint64_t)ts[i].dims[0];
                found_batch_dim = true;
            }
        }
        if (n_batch == 0) {
            continue;
        }
        if (max_samples != 0 && n_batch > max_samples - n_done) {
            const uint64_t keep = max_samples - n_done;
            bool cuttable = true;
            for (size_t i = 0; i < n_in; i++) {
                const tq_value *v = &g->values[g->inputs[i]];
                if (ts[i].rank >= 1 && (uint64_t)ts[i].dims[0] == n_batch && v->t.rank >= 1 &&
                    v->t.dims[0] >= 0) {
                    cuttable = false; /* the graph fixes the batch size */
                }
            }
            if (cuttable) {
                for (size_t i = 0; i < n_in; i++) {
                    if (ts[i].rank >= 1 && (uint64_t)ts[i].dims[0] == n_batch) {
                        ts[i].dims[0] = (int64_t)keep;
                    }
                }
                n_batch = keep;
            } else if (n_done > 0) {
                break;
            }
        }
        TQ_TRY(st, visit(ctx, ts, n_batch));
        n_done += n_batch;
    }
fail:
    if (n_samples_out) {
        *n_samples_out = n_done;
    }
    tq_free(g->alloc, raw, n_alloc * sizeof(*raw));
    tq_free(g->alloc, ts, n_alloc * sizeof(*ts));
    return st;
}
