/* einsum.c: Einsum equation parsing (shared with shape inference) and the reference kernel: a
 * general loop over output labels and summed labels, inputs converted to double, each input
 * addressed through per-label strides (a label repeated in one input adds its strides, which
 * walks the diagonal; size-1 dims broadcast with stride 0). */
#include <string.h>

#include "backends/ref/ref_compute_util.h"

#define EIN_ELL 52 /* first ellipsis label id */

static int ein_letter(char c)
{
    if (c >= 'a' && c <= 'z') {
        return c - 'a';
    }
    if (c >= 'A' && c <= 'Z') {
        return 26 + (c - 'A');
    }
    return -1;
}

/* ASCII order of label ids (numpy sorts implicit output labels by character code) */
static int ein_ascii(int l)
{
    return l < 26 ? 'a' + l : 'A' + (l - 26);
}

/* Parse one term [p, end) into labels; ell_pos receives the index of "..." or -1. */
static tfmq_status ein_term(const tq_op_ctx *ctx, const char *p, const char *end, int32_t *lab,
                            int32_t *n_lab, int32_t *ell_pos)
{
    *n_lab = 0;
    *ell_pos = -1;
    while (p < end) {
        if (*p == ' ') {
            p++;
            continue;
        }
        if (*p == '.') {
            if (end - p < 3 || p[1] != '.' || p[2] != '.' || *ell_pos >= 0) {
                return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "bad ellipsis in equation");
            }
            *ell_pos = *n_lab;
            p += 3;
            continue;
        }
        int l = ein_letter(*p);
        if (l < 0) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "bad character '%c' in equation", *p);
        }
        if (*n_lab >= TQ_MAX_RANK) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "too many labels in a term");
        }
        lab[(*n_lab)++] = l;
        p++;
    }
    return TFMQ_OK;
}

tfmq_status tq_rc_einsum_parse(const tq_op_ctx *ctx, tq_rc_einsum *e)
{
    const char *eq;
    tfmq_status st = tq_attr_string(ctx->node, "equation", NULL, &eq);
    if (st != TFMQ_OK) {
        return st;
    }
    if (!eq) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "equation is required");
    }
    memset(e, 0, sizeof(*e));
    for (int i = 0; i < TQ_RC_EINSUM_LABELS; i++) {
        e->size[i] = -2; /* not seen yet */
    }
    const char *arrow = strstr(eq, "->");
    const char *lhs_end = arrow ? arrow : eq + strlen(eq);
    int32_t count[TQ_RC_EINSUM_LABELS] = {0};
    int32_t n_ell = 0; /* ellipsis dims of the widest input */
    int32_t ell_len[TQ_MAX_IO];
    const char *p = eq;
    int32_t k = 0;
    for (;;) {
        const char *q = p;
        while (q < lhs_end && *q != ',') {
            q++;
        }
        if (k >= ctx->n_in) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "equation has more terms than inputs");
        }
        int32_t lab[TQ_MAX_RANK], n_lab, ell;
        if ((st = ein_term(ctx, p, q, lab, &n_lab, &ell)) != TFMQ_OK) {
            return st;
        }
        const tq_tensor *t = ctx->in[k];
        int32_t r = t->rank;
        int32_t el = r - n_lab;
        if (el < 0 || (ell < 0 && el != 0)) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG,
                              "term %d has %d labels but the input has rank %d", k, n_lab, r);
        }
        ell_len[k] = ell < 0 ? -1 : el;
        n_ell = el > n_ell ? el : n_ell;
        e->in_rank[k] = r;
        /* provisional: ellipsis dims get ids EIN_ELL + j counted from the ellipsis start of
         * this input; they are right-aligned below once n_ell is known */
        int32_t d = 0;
        for (int32_t i = 0; i < n_lab; i++) {
            if (i == ell) {
                for (int32_t j = 0; j < el; j++) {
                    e->in_label[k][d++] = EIN_ELL + j;
                }
            }
            e->in_label[k][d++] = lab[i];
            count[lab[i]]++;
        }
        if (ell == n_lab) {
            for (int32_t j = 0; j < el; j++) {
                e->in_label[k][d++] = EIN_ELL + j;
            }
        }
        k++;
        if (q >= lhs_end) {
            break;
        }
        p = q + 1;
    }
    if (k != ctx->n_in) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "equation has %d terms for %d inputs", k,
                          ctx->n_in);
    }
    e->n_labels = EIN_ELL + n_ell;
    /* right-align ellipsis dims and collect sizes */
    for (int32_t i = 0; i < k; i++) {
        const tq_tensor *t = ctx->in[i];
        for (int32_t d = 0; d < t->rank; d++) {
            int32_t l = e->in_label[i][d];
            if (l >= EIN_ELL) {
                l += n_ell - ell_len[i];
                e->in_label[i][d] = l;
            }
            int64_t sz = t->dims[d];
            e->used[l] = true;
            if (e->size[l] == -2 || e->size[l] == 1 || (e->size[l] == -1 && sz > 1)) {
                e->size[l] = sz;
            } else if (sz >= 0 && sz != 1 && e->size[l] >= 0 && e->size[l] != sz) {
                return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG,
                                  "label '%c' has sizes %lld and %lld",
                                  l < EIN_ELL ? ein_ascii(l) : '.', (long long)e->size[l],
                                  (long long)sz);
            }
        }
    }
    /* output */
    e->out_rank = 0;
    if (arrow) {
        int32_t lab[TQ_MAX_RANK], n_lab, ell;
        const char *o = arrow + 2;
        if ((st = ein_term(ctx, o, o + strlen(o), lab, &n_lab, &ell)) != TFMQ_OK) {
            return st;
        }
        if (n_lab + (ell >= 0 ? n_ell : 0) > TQ_MAX_RANK) {
            return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "output rank too large");
        }
        bool seen[TQ_RC_EINSUM_LABELS] = {false};
        for (int32_t i = 0; i <= n_lab; i++) {
            if (i == ell) {
                for (int32_t j = 0; j < n_ell; j++) {
                    e->out_label[e->out_rank++] = EIN_ELL + j;
                }
            }
            if (i == n_lab) {
                break;
            }
            if (!e->used[lab[i]] || seen[lab[i]]) {
                return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG,
                                  "output label '%c' is repeated or not in any input",
                                  ein_ascii(lab[i]));
            }
            seen[lab[i]] = true;
            e->out_label[e->out_rank++] = lab[i];
        }
    } else {
        for (int32_t j = 0; j < n_ell; j++) {
            e->out_label[e->out_rank++] = EIN_ELL + j;
        }
        for (int c = 'A'; c <= 'z'; c++) {
            int l = ein_letter((char)c);
            if (l >= 0 && count[l] == 1) {
                if (e->out_rank >= TQ_MAX_RANK) {
                    return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "output rank too large");
                }
                e->out_label[e->out_rank++] = l;
            }
        }
    }
    return TFMQ_OK;
}

size_t tq_rc_einsum_scratch(const tq_op_ctx *ctx)
{
    size_t b = 0;
    for (int32_t i = 0; i < ctx->n_in; i++) {
        if (!ctx->in[i] || !tq_tensor_shape_known(ctx->in[i])) {
            return 0;
        }
        b = tq_rc_add(b, tq_rc_f64_bytes(tq_tensor_numel(ctx->in[i])));
    }
    return b;
}

tfmq_status tq_ref_einsum(tq_op_ctx *ctx)
{
    tq_tensor *y = ctx->out[0];
    tq_rc_einsum e;
    tfmq_status st = tq_rc_einsum_parse(ctx, &e);
    if (st != TFMQ_OK) {
        return st;
    }
    const int32_t n_in = ctx->n_in;
    bool is_out[TQ_RC_EINSUM_LABELS] = {false};
    for (int32_t i = 0; i < e.out_rank; i++) {
        is_out[e.out_label[i]] = true;
        if (y->dims[i] != e.size[e.out_label[i]]) {
            return tq_op_fail(ctx, TFMQ_ERR_INTERNAL, "output shape does not match");
        }
    }
    int32_t sum_lab[TQ_RC_EINSUM_LABELS], n_sum = 0;
    for (int32_t l = 0; l < e.n_labels; l++) {
        if (e.used[l] && !is_out[l]) {
            sum_lab[n_sum++] = l;
        }
    }
    if (tq_tensor_numel(y) == 0) {
        return TFMQ_OK;
    }
    /* per input, element stride of each label */
    size_t strides[TQ_MAX_IO][TQ_RC_EINSUM_LABELS];
    memset(strides, 0, sizeof(strides));
    for (int32_t i = 0; i < n_in; i++) {
        const tq_tensor *t = ctx->in[i];
        size_t s = 1;
        for (int32_t d = t->rank - 1; d >= 0; d--) {
            int32_t l = e.in_label[i][d];
            if (!(t->dims[d] == 1 && e.size[l] != 1)) {
                strides[i][l] += s;
            }
            s *= (size_t)t->dims[d];
        }
    }
    void *scratch;
    size_t owned;
    if ((st = tq_rc_scratch_get(ctx, tq_rc_einsum_scratch(ctx), &scratch, &owned)) != TFMQ_OK) {
        return st;
    }
    const double *xs[TQ_MAX_IO];
    char *sb = scratch;
    for (int32_t i = 0; i < n_in; i++) {
        size_t n = tq_tensor_numel(ctx->in[i]);
        tq_rc_load_f64(ctx->in[i]->dtype, ctx->in[i]->data, 0, n, (double *)sb);
        xs[i] = (const double *)sb;
        sb += tq_rc_f64_bytes(n);
    }
    bool any_empty_sum = false;
    for (int32_t j = 0; j < n_sum; j++) {
        any_empty_sum |= e.size[sum_lab[j]] == 0;
    }
    /* innermost summed label runs as a tight loop */
    const int32_t inner_l = n_sum ? sum_lab[n_sum - 1] : -1;
    const size_t inner_n = n_sum ? (size_t)e.size[inner_l] : 1;
    const size_t n_y = tq_tensor_numel(y);
    int64_t oidx[TQ_MAX_RANK] = {0};
    size_t obase[TQ_MAX_IO] = {0};
    for (size_t yo = 0; yo < n_y; yo++) {
        double acc = 0.0;
        if (!any_empty_sum) {
            int64_t sidx[TQ_RC_EINSUM_LABELS] = {0};
            size_t off[TQ_MAX_IO];
            for (int32_t i = 0; i < n_in; i++) {
                off[i] = obase[i];
            }
            for (;;) {
                for (size_t t = 0; t < inner_n; t++) {
                    double prod = 1.0;
                    for (int32_t i = 0; i < n_in; i++) {
                        prod *= xs[i][off[i] + t * (inner_l >= 0 ? strides[i][inner_l] : 0)];
                    }
                    acc += prod;
                }
                /* advance the outer summed labels */
                int32_t j = n_sum - 2;
                for (; j >= 0; j--) {
                    int32_t l = sum_lab[j];
                    for (int32_t i = 0; i < n_in; i++) {
                        off[i] += strides[i][l];
                    }
                    if (++sidx[j] < e.size[l]) {
                        break;
                    }
                    for (int32_t i = 0; i < n_in; i++) {
                        off[i] -= strides[i][l] * (size_t)e.size[l];
                    }
                    sidx[j] = 0;
                }
                if (j < 0) {
                    break;
                }
            }
        }
        tq_store_f64(y->dtype, y->data, yo, acc);
        for (int32_t d = e.out_rank - 1; d >= 0; d--) {
            int32_t l = e.out_label[d];
            for (int32_t i = 0; i < n_in; i++) {
                obase[i] += strides[i][l];
            }
            if (++oidx[d] < e.size[l]) {
                break;
            }
            for (int32_t i = 0; i < n_in; i++) {
                obase[i] -= strides[i][l] * (size_t)e.size[l];
            }
            oidx[d] = 0;
        }
    }
    tq_rc_scratch_release(ctx, scratch, owned);
    return TFMQ_OK;
}
