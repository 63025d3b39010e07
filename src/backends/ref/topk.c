/* topk.c: reference kernel of TopK. Along the axis, elements are ordered by value (descending
 * for largest, ascending otherwise) and then by index, so equal values keep their input order;
 * NaN counts as larger than every number. With the scratch that inference requests the slice is
 * merge-sorted; without it a selection pass per output element (O(n*k)) is used. Output is
 * always sorted (allowed for sorted=0). */
#include "backends/ref/ref.h"

#include <math.h>
#include <string.h>

typedef struct topk_entry {
    double f;    /* value of float inputs */
    int64_t i;   /* order-preserving key of integer inputs */
    int64_t idx; /* position along the axis */
} topk_entry;

_Static_assert(sizeof(topk_entry) == 24, "ops/topk.c TOPK_ENTRY_BYTES");

typedef struct topk_order {
    bool fl; /* compare f (else i) */
    bool largest;
} topk_order;

/* Three-way compare of values, NaN largest. */
static int topk_cmp_val(const topk_order *ord, const topk_entry *a, const topk_entry *b)
{
    if (ord->fl) {
        const bool na = isnan(a->f), nb = isnan(b->f);
        if (na || nb) {
            return na == nb ? 0 : (na ? 1 : -1);
        }
        return a->f < b->f ? -1 : (a->f > b->f ? 1 : 0);
    }
    return a->i < b->i ? -1 : (a->i > b->i ? 1 : 0);
}

/* True when a comes before b in the output. A total order. */
static bool topk_before(const topk_order *ord, const topk_entry *a, const topk_entry *b)
{
    int c = topk_cmp_val(ord, a, b);
    if (c != 0) {
        return ord->largest ? c > 0 : c < 0;
    }
    return a->idx < b->idx;
}

static void topk_load(const tq_tensor *x, size_t e, int64_t idx, topk_entry *out)
{
    const tfmq_dtype dt = x->dtype;
    out->idx = idx;
    out->f = 0.0;
    out->i = 0;
    if (tq_dtype_is_float(dt)) {
        out->f = tq_load_f64(dt, x->data, e);
    } else {
        int64_t v = tq_load_i64(dt, x->data, e);
        out->i = dt == TFMQ_DTYPE_UINT64 ? (int64_t)((uint64_t)v ^ 0x8000000000000000u) : v;
    }
}

/* Bottom-up merge sort of a[0..n) using tmp; returns the array holding the result. */
static topk_entry *topk_sort(const topk_order *ord, topk_entry *a, topk_entry *tmp, size_t n)
{
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n;
            size_t hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t i = lo, j = mid, o = lo;
            while (i < mid && j < hi) {
                tmp[o++] = topk_before(ord, &a[j], &a[i]) ? a[j++] : a[i++];
            }
            while (i < mid) {
                tmp[o++] = a[i++];
            }
            while (j < hi) {
                tmp[o++] = a[j++];
            }
        }
        topk_entry *t = a;
        a = tmp;
        tmp = t;
    }
    return a;
}

tfmq_status tq_ref_topk(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0];
    const tq_tensor *tk = ctx->n_in > 1 ? ctx->in[1] : NULL;
    tq_tensor *v = ctx->out[0], *ix = ctx->n_out > 1 ? ctx->out[1] : NULL;
    tfmq_status st;
    int64_t axis, largest, k;
    int32_t a;
    if ((st = tq_attr_int(ctx->node, "axis", -1, &axis)) != TFMQ_OK ||
        (st = tq_attr_int(ctx->node, "largest", 1, &largest)) != TFMQ_OK) {
        return st;
    }
    if (tk) {
        if (tq_tensor_numel(tk) != 1 ||
            (tk->dtype != TFMQ_DTYPE_INT64 && tk->dtype != TFMQ_DTYPE_INT32)) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "K must hold one integer");
        }
        k = tq_load_i64(tk->dtype, tk->data, 0);
    } else if ((st = tq_attr_int(ctx->node, "k", -1, &k)) != TFMQ_OK) {
        return st;
    }
    if ((st = tq_norm_axis(ctx, axis, x->rank, false, &a)) != TFMQ_OK) {
        return st;
    }
    size_t outer, n, inner;
    tq_ref_split_axis(x, a, &outer, &n, &inner);
    if (k < 0 || (uint64_t)k > n) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "k %lld is out of range for axis length %zu",
                          (long long)k, n);
    }
    const size_t kk = (size_t)k;
    if (v->dtype != x->dtype || v->rank != x->rank || v->dims[a] != k ||
        tq_tensor_numel(v) != outer * kk * inner ||
        (ix && (ix->dtype != TFMQ_DTYPE_INT64 || tq_tensor_numel(ix) != outer * kk * inner))) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "outputs do not match the input and k");
    }
    const topk_order ord = {tq_dtype_is_float(x->dtype), largest != 0};
    const size_t es = tq_dtype_size(x->dtype);
    size_t need = 0;
    const bool use_sort =
        tq_mul_size(n, 2 * sizeof(topk_entry), &need) && ctx->scratch && ctx->scratch_bytes >= need;
    topk_entry *buf = use_sort ? ctx->scratch : NULL;
    for (size_t o = 0; o < outer; o++) {
        for (size_t c = 0; c < inner; c++) {
            const size_t base = o * n * inner + c;
            const size_t obase = o * kk * inner + c;
            if (use_sort) {
                for (size_t i = 0; i < n; i++) {
                    topk_load(x, base + i * inner, (int64_t)i, &buf[i]);
                }
                const topk_entry *s = topk_sort(&ord, buf, buf + n, n);
                for (size_t r = 0; r < kk; r++) {
                    const size_t src = base + (size_t)s[r].idx * inner;
                    memcpy((uint8_t *)v->data + (obase + r * inner) * es,
                           (const uint8_t *)x->data + src * es, es);
                    if (ix) {
                        ((int64_t *)ix->data)[obase + r * inner] = s[r].idx;
                    }
                }
                continue;
            }
            /* selection: the r-th output is the first element (in output order) after the
             * (r-1)-th one */
            topk_entry prev = {0.0, 0, -1};
            for (size_t r = 0; r < kk; r++) {
                topk_entry best = {0.0, 0, -1}, cur;
                for (size_t i = 0; i < n; i++) {
                    topk_load(x, base + i * inner, (int64_t)i, &cur);
                    if (prev.idx >= 0 && !topk_before(&ord, &prev, &cur)) {
                        continue;
                    }
                    if (best.idx < 0 || topk_before(&ord, &cur, &best)) {
                        best = cur;
                    }
                }
                const size_t src = base + (size_t)best.idx * inner;
                memcpy((uint8_t *)v->data + (obase + r * inner) * es,
                       (const uint8_t *)x->data + src * es, es);
                if (ix) {
                    ((int64_t *)ix->data)[obase + r * inner] = best.idx;
                }
                prev = best;
            }
        }
    }
    return TFMQ_OK;
}
