/* report_build.c: the tfmq_report object: a JSON document and a text table built once from what
 * the quantizer did (tq_report_info) and a fidelity measurement (tq_fidelity). Both strings are
 * owned by the report and freed with it; the report keeps a copy of the caller's allocator, so it
 * may outlive the models it describes. JSON numbers use %.6g; unknown values (-1 sentinels,
 * non-finite numbers, a missing measurement) are written as null, never as NaN or inf. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "quant/calib.h"
#include "quant/report.h"

struct tfmq_report {
    tfmq_allocator alloc;         /* copy of the caller's allocator */
    const tfmq_allocator *palloc; /* &alloc, or NULL for the C library */
    char *json;
    size_t json_bytes;            /* allocated bytes at json */
    char *text;
    size_t text_bytes;
};

/* ---- a growable string; an allocation failure is remembered and reported once at the end ---- */

typedef struct tq_sb {
    const tfmq_allocator *alloc;
    char *s;
    size_t len, cap; /* cap: allocated bytes (len + 1 <= cap) */
    bool oom;
} tq_sb;

static bool tq_sb_reserve(tq_sb *b, size_t extra)
{
    size_t need;
    if (b->oom || !tq_add_size(b->len, extra, &need) || !tq_add_size(need, 1, &need)) {
        b->oom = true;
        return false;
    }
    if (need <= b->cap) {
        return true;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) {
        if (!tq_mul_size(cap, 2, &cap)) {
            b->oom = true;
            return false;
        }
    }
    char *s = b->s ? tq_realloc(b->alloc, b->s, b->cap, cap) : tq_alloc(b->alloc, cap);
    if (!s) {
        b->oom = true;
        return false;
    }
    b->s = s;
    b->cap = cap;
    return true;
}

static void tq_sb_printf(tq_sb *b, const char *fmt, ...) TQ_PRINTF(2, 3);
static void tq_sb_printf(tq_sb *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = true;
        return;
    }
    if (!tq_sb_reserve(b, (size_t)n)) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static void tq_sb_puts(tq_sb *b, const char *s)
{
    const size_t n = strlen(s);
    if (tq_sb_reserve(b, n)) {
        memcpy(b->s + b->len, s, n + 1);
        b->len += n;
    }
}

static void tq_sb_free(tq_sb *b)
{
    tq_free(b->alloc, b->s, b->cap);
    b->s = NULL;
    b->cap = b->len = 0;
}

/* ---- JSON pieces ---- */

/* A JSON string literal (RFC 8259 escapes), or null for NULL. */
static void tq_json_str(tq_sb *b, const char *s)
{
    if (!s) {
        tq_sb_puts(b, "null");
        return;
    }
    tq_sb_puts(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': tq_sb_puts(b, "\\\""); break;
        case '\\': tq_sb_puts(b, "\\\\"); break;
        case '\n': tq_sb_puts(b, "\\n"); break;
        case '\r': tq_sb_puts(b, "\\r"); break;
        case '\t': tq_sb_puts(b, "\\t"); break;
        default:
            if (*p < 0x20 || *p == 0x7f) {
                tq_sb_printf(b, "\\u%04x", (unsigned)*p);
            } else {
                char c[2] = {(char)*p, '\0'};
                tq_sb_puts(b, c);
            }
        }
    }
    tq_sb_puts(b, "\"");
}

/* A number with %.6g; null when not finite, or when negative and `neg_unknown` (-1 sentinels). */
static void tq_json_num(tq_sb *b, double v, bool neg_unknown)
{
    if (!isfinite(v) || (neg_unknown && v < 0.0)) {
        tq_sb_puts(b, "null");
    } else {
        tq_sb_printf(b, "%.6g", v);
    }
}

static const char *tq_pct_str(const tq_report_info *info, double *pct)
{
    if (info->calib_method && strcmp(info->calib_method, "percentile") == 0) {
        *pct = info->percentile > 0.0 ? info->percentile : TQ_CALIB_DEFAULT_PERCENTILE;
        return "";
    }
    return NULL;
}

static void tq_report_json_build(tq_sb *b, const tq_report_info *info, const tq_fidelity *fid)
{
    double pct = 0.0;
    tq_sb_puts(b, "{\n  \"precision\": ");
    tq_json_str(b, info->precision);
    tq_sb_puts(b, ",\n  \"calibration\": {\"method\": ");
    tq_json_str(b, info->calib_method);
    tq_sb_puts(b, ", \"samples\": ");
    if (info->calib_method) {
        tq_sb_printf(b, "%llu", (unsigned long long)info->calib_samples);
    } else {
        tq_sb_puts(b, "null");
    }
    tq_sb_puts(b, ", \"device\": ");
    tq_json_str(b, info->calib_method ? info->calib_device : NULL);
    tq_sb_puts(b, ", \"percentile\": ");
    if (tq_pct_str(info, &pct)) {
        tq_json_num(b, pct, true);
    } else {
        tq_sb_puts(b, "null");
    }
    tq_sb_puts(b, "},\n  \"tolerance\": {\"spec\": ");
    tq_json_str(b, info->tolerance);
    tq_sb_puts(b, ", \"met\": ");
    tq_sb_puts(b, !info->tolerance ? "null" : info->tolerance_met ? "true" : "false");
    tq_sb_puts(b, "},\n  \"fidelity\": {\n    \"samples\": ");
    if (fid) {
        tq_sb_printf(b, "%llu", (unsigned long long)fid->n_samples);
    } else {
        tq_sb_puts(b, "null");
    }
    static const char *const keys[] = {"top1_agreement", "top5_agreement", "output_sqnr_db",
                                       "output_cosine", "max_abs_error", "mean_abs_error"};
    const double nan = (double)NAN;
    const double vals[] = {fid ? fid->top1_agreement : -1.0, fid ? fid->top5_agreement : -1.0,
                           fid ? fid->output_sqnr_db : nan,  fid ? fid->output_cosine : nan,
                           fid ? fid->max_abs_error : -1.0,  fid ? fid->mean_abs_error : -1.0};
    const bool neg_unknown[] = {true, true, false, false, true, true};
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        tq_sb_printf(b, ",\n    \"%s\": ", keys[k]);
        tq_json_num(b, vals[k], neg_unknown[k]);
    }
    tq_sb_puts(b, ",\n    \"layers\": [");
    for (size_t i = 0; i < info->n_pairs; i++) {
        const tq_layer_pair *p = &info->pairs[i];
        tq_sb_puts(b, i ? ",\n      {\"name\": " : "\n      {\"name\": ");
        tq_json_str(b, p->layer ? p->layer : p->ref_name);
        tq_sb_puts(b, ", \"op\": ");
        tq_json_str(b, p->op);
        tq_sb_puts(b, ", \"sqnr_db\": ");
        tq_json_num(b, fid ? fid->layers[i].sqnr_db : nan, false);
        tq_sb_puts(b, ", \"cosine\": ");
        tq_json_num(b, fid ? fid->layers[i].cosine : nan, false);
        tq_sb_puts(b, ", \"precision\": ");
        tq_json_str(b, p->precision);
        tq_sb_puts(b, "}");
    }
    tq_sb_puts(b, info->n_pairs ? "\n    ]\n  },\n  \"float_layers\": [" : "]\n  },\n"
                                                                        "  \"float_layers\": [");
    for (size_t i = 0; i < info->n_float_layers; i++) {
        tq_sb_puts(b, i ? ", " : "");
        tq_json_str(b, info->float_layers[i]);
    }
    tq_sb_puts(b, "],\n  \"fallback_layers\": [");
    for (size_t i = 0; i < info->n_fallback; i++) {
        tq_sb_puts(b, i ? ", {\"name\": " : "{\"name\": ");
        tq_json_str(b, info->fallback_layers[i]);
        tq_sb_puts(b, ", \"reason\": ");
        tq_json_str(b, info->fallback_reasons ? info->fallback_reasons[i] : NULL);
        tq_sb_puts(b, "}");
    }
    tq_sb_puts(b, "]\n}\n");
}

/* ---- text ---- */

enum { TQ_FMT_PERCENT, TQ_FMT_DB, TQ_FMT_FIXED6, TQ_FMT_G6 };

static void tq_text_num(tq_sb *b, const char *label, double v, bool neg_unknown, int fmt)
{
    tq_sb_printf(b, "  %-18s", label);
    if (!isfinite(v) || (neg_unknown && v < 0.0)) {
        tq_sb_puts(b, "n/a\n");
        return;
    }
    switch (fmt) {
    case TQ_FMT_PERCENT: tq_sb_printf(b, "%.2f%%\n", 100.0 * v); break;
    case TQ_FMT_DB: tq_sb_printf(b, "%.2f dB\n", v); break;
    case TQ_FMT_FIXED6: tq_sb_printf(b, "%.6f\n", v); break;
    default: tq_sb_printf(b, "%.6g\n", v); break;
    }
}

/* Damage order: lower SQNR first, unknown (NaN) last, ties in layer order. */
static bool tq_rank_before(double a, size_t ia, double b, size_t ib)
{
    const bool na = a != a, nb = b != b;
    if (na != nb) {
        return nb;
    }
    if (!na && a != b) {
        return a < b;
    }
    return ia < ib;
}

static size_t tq_width(size_t w, const char *s)
{
    const size_t n = s ? strlen(s) : 1;
    return n > w ? (n > 60 ? 60 : n) : w;
}

static tfmq_status tq_report_text_build(tq_sb *b, const tq_report_info *info,
                                        const tq_fidelity *fid, size_t *order)
{
    tq_sb_puts(b, "tfmq fidelity report\n");
    tq_sb_printf(b, "  %-18s%s\n", "precision", info->precision ? info->precision : "?");
    if (info->calib_method) {
        double pct = 0.0;
        tq_sb_printf(b, "  %-18s%s", "calibration", info->calib_method);
        if (tq_pct_str(info, &pct)) {
            tq_sb_printf(b, " (%.6g%%)", pct);
        }
        tq_sb_printf(b, ", %llu samples", (unsigned long long)info->calib_samples);
        if (info->calib_device && strcmp(info->calib_device, "cache") == 0) {
            tq_sb_puts(b, " (ranges from the calibration cache)\n");
        } else if (info->calib_device) {
            tq_sb_printf(b, " on %s\n", info->calib_device);
        } else {
            tq_sb_puts(b, "\n");
        }
    } else {
        tq_sb_printf(b, "  %-18s%s\n", "calibration", "none");
    }
    if (info->tolerance) {
        tq_sb_printf(b, "  %-18s%s (%s)\n", "tolerance", info->tolerance,
                     info->tolerance_met ? "met" : "NOT met");
    }
    if (fid) {
        tq_sb_printf(b, "  %-18s%llu\n", "eval samples", (unsigned long long)fid->n_samples);
        tq_text_num(b, "top-1 agreement", fid->top1_agreement, true, TQ_FMT_PERCENT);
        tq_text_num(b, "top-5 agreement", fid->top5_agreement, true, TQ_FMT_PERCENT);
        tq_text_num(b, "output SQNR", fid->output_sqnr_db, false, TQ_FMT_DB);
        tq_text_num(b, "output cosine", fid->output_cosine, false, TQ_FMT_FIXED6);
        tq_text_num(b, "max abs error", fid->max_abs_error, true, TQ_FMT_G6);
        tq_text_num(b, "mean abs error", fid->mean_abs_error, true, TQ_FMT_G6);
    } else {
        tq_sb_printf(b, "  %-18s%s\n", "fidelity", "not measured");
    }
    if (info->n_float_layers) {
        tq_sb_printf(b, "  kept in float (%zu):\n", info->n_float_layers);
        for (size_t i = 0; i < info->n_float_layers; i++) {
            tq_sb_printf(b, "    %s\n", info->float_layers[i] ? info->float_layers[i] : "?");
        }
    }
    if (info->n_fallback) {
        tq_sb_printf(b, "  fell back to float (%zu):\n", info->n_fallback);
        for (size_t i = 0; i < info->n_fallback; i++) {
            const char *why = info->fallback_reasons ? info->fallback_reasons[i] : NULL;
            tq_sb_printf(b, "    %s%s%s\n", info->fallback_layers[i] ? info->fallback_layers[i] :
                         "?", why ? ": " : "", why ? why : "");
        }
    }
    if (info->n_pairs == 0) {
        return TFMQ_OK;
    }
    /* insertion sort by damage (few layers; stable) */
    for (size_t i = 0; i < info->n_pairs; i++) {
        const double si = fid ? fid->layers[i].sqnr_db : (double)NAN;
        size_t j = i;
        while (j > 0) {
            const size_t o = order[j - 1];
            const double so = fid ? fid->layers[o].sqnr_db : (double)NAN;
            if (!tq_rank_before(si, i, so, o)) {
                break;
            }
            order[j] = o;
            j--;
        }
        order[j] = i;
    }
    size_t wl = 5, wo = 2, wp = 9;
    for (size_t i = 0; i < info->n_pairs; i++) {
        const tq_layer_pair *p = &info->pairs[i];
        wl = tq_width(wl, p->layer ? p->layer : p->ref_name);
        wo = tq_width(wo, p->op);
        wp = tq_width(wp, p->precision);
    }
    tq_sb_puts(b, "\nlayers by damage (lowest SQNR first):\n");
    tq_sb_printf(b, "  %-*s  %-*s  %-*s  %9s  %9s\n", (int)wl, "layer", (int)wo, "op", (int)wp,
                 "precision", "SQNR dB", "cosine");
    for (size_t k = 0; k < info->n_pairs; k++) {
        const size_t i = order[k];
        const tq_layer_pair *p = &info->pairs[i];
        const double sq = fid ? fid->layers[i].sqnr_db : (double)NAN;
        const double co = fid ? fid->layers[i].cosine : (double)NAN;
        char ssq[32], sco[32];
        if (isfinite(sq)) {
            snprintf(ssq, sizeof(ssq), "%.2f", sq);
        } else {
            snprintf(ssq, sizeof(ssq), "n/a");
        }
        if (isfinite(co)) {
            snprintf(sco, sizeof(sco), "%.6f", co);
        } else {
            snprintf(sco, sizeof(sco), "n/a");
        }
        const char *name = p->layer ? p->layer : p->ref_name ? p->ref_name : "?";
        tq_sb_printf(b, "  %-*.*s  %-*.*s  %-*.*s  %9s  %9s\n", (int)wl, (int)wl, name, (int)wo,
                     (int)wo, p->op ? p->op : "?", (int)wp, (int)wp,
                     p->precision ? p->precision : "?", ssq, sco);
    }
    return TFMQ_OK;
}

tfmq_status tq_report_build(const tq_report_info *info, const tq_fidelity *fid,
                            const tfmq_allocator *alloc, tfmq_report **report_out)
{
    tfmq_status st = TFMQ_OK;
    tfmq_report *r = NULL;
    size_t *order = NULL;
    const size_t n_order = info && info->n_pairs ? info->n_pairs : 1;
    tq_sb json, text;

    memset(&json, 0, sizeof(json));
    memset(&text, 0, sizeof(text));
    if (report_out) {
        *report_out = NULL;
    }
    if (!info || !report_out || (info->n_pairs && !info->pairs) ||
        (info->n_float_layers && !info->float_layers) ||
        (info->n_fallback && !info->fallback_layers)) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "report: NULL argument");
    }
    if (fid && fid->n_layers != info->n_pairs) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "report: %zu layer pairs but %zu measured layers",
                       info->n_pairs, fid->n_layers);
    }
    if (fid && fid->n_layers && !fid->layers) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "report: fidelity without layers");
    }
    r = tq_calloc(alloc, 1, sizeof(*r));
    order = tq_alloc(alloc, n_order * sizeof(size_t));
    if (!r || !order) {
        st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "report: out of memory");
        goto fail;
    }
    if (alloc) {
        r->alloc = *alloc;
        r->palloc = &r->alloc;
    }
    json.alloc = text.alloc = r->palloc;
    tq_report_json_build(&json, info, fid);
    TQ_TRY(st, tq_report_text_build(&text, info, fid, order));
    if (json.oom || text.oom) {
        st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "report: out of memory");
        goto fail;
    }
    r->json = json.s;
    r->json_bytes = json.cap;
    r->text = text.s;
    r->text_bytes = text.cap;
    tq_free(alloc, order, n_order * sizeof(size_t));
    *report_out = r;
    return TFMQ_OK;
fail:
    tq_sb_free(&json);
    tq_sb_free(&text);
    tq_free(alloc, order, n_order * sizeof(size_t));
    tq_free(alloc, r, sizeof(*r));
    return st;
}

const char *tfmq_report_json(const tfmq_report *report)
{
    return report ? report->json : NULL;
}

const char *tfmq_report_text(const tfmq_report *report)
{
    return report ? report->text : NULL;
}

void tfmq_report_destroy(tfmq_report *report)
{
    if (!report) {
        return;
    }
    tfmq_allocator copy = report->alloc;
    const tfmq_allocator *a = report->palloc ? &copy : NULL;
    tq_free(a, report->json, report->json_bytes);
    tq_free(a, report->text, report->text_bytes);
    tq_free(a, report, sizeof(*report));
}
