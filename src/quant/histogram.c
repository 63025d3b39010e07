/* histogram.c: streaming activation observers and the range-choosing methods. An observer keeps
 * min/max and a fixed 2048-bin histogram of |x| whose range doubles (merging bin pairs) when a
 * larger value arrives, so memory is constant in the number of samples. Entropy follows
 * TensorRT's KL-divergence calibration (Migacz 2017, "8-bit Inference with TensorRT", GTC), with
 * the smoothing of MXNet/ONNX Runtime's get_entropy_threshold; percentile follows ORT's
 * HistogramCalibrater (interpolated within the bin); MSE minimises the expected int8 error. */
#include <math.h>
#include <string.h>

#include "backends/cpu/cpu.h" /* tq_cpu_parallel_for */
#include "quant/calib.h"

void tq_observer_init(tq_observer *ob)
{
    memset(ob, 0, sizeof(*ob));
}

/* Double the range `k` times: bin i of the result holds old bins [i*2^k, (i+1)*2^k). */
static void tq_hist_rescale(tq_observer *ob, int k)
{
    if (k <= 0) {
        return;
    }
    if (k >= 12) { /* 2^k >= TQ_HIST_BINS: everything lands in bin 0 */
        uint64_t total = 0;
        for (size_t i = 0; i < TQ_HIST_BINS; i++) {
            total += ob->bins[i];
        }
        memset(ob->bins, 0, sizeof(ob->bins));
        ob->bins[0] = total;
    } else {
        const size_t f = (size_t)1 << k;
        for (size_t i = 0; i < TQ_HIST_BINS / f; i++) {
            uint64_t s = 0;
            for (size_t j = 0; j < f; j++) {
                s += ob->bins[i * f + j];
            }
            ob->bins[i] = s;
        }
        memset(&ob->bins[TQ_HIST_BINS / f], 0, (TQ_HIST_BINS - TQ_HIST_BINS / f) * sizeof(uint64_t));
    }
    ob->range = ldexp(ob->range, k);
}

/* Make the histogram cover |x| = amax (amax finite, > 0). */
static void tq_hist_cover(tq_observer *ob, double amax)
{
    if (ob->range == 0.0) {
        /* just above amax, so amax itself lands in the last bin; zeros already counted stay in
         * bin 0, which is [0, w) for any range */
        ob->range = amax * (1.0 + 1.0 / 65536.0);
        if (!(ob->range > amax)) {
            ob->range = nextafter(amax, (double)INFINITY);
        }
        return;
    }
    int k = 0;
    double r = ob->range;
    while (!(amax < r)) {
        r *= 2.0;
        k++;
        if (isinf(r)) { /* amax near DBL_MAX cannot happen for floats; be safe */
            break;
        }
    }
    tq_hist_rescale(ob, k);
}

/* Min and max of the finite values of x[0, n) (+inf, -inf when none); returns how many are not
 * finite. */
static uint64_t tq_finite_minmax(const float *x, size_t n, double *mn_out, double *mx_out)
{
    double mn = (double)INFINITY, mx = -(double)INFINITY;
    uint64_t n_bad = 0;
    for (size_t i = 0; i < n; i++) {
        const double v = (double)x[i];
        if (!isfinite(v)) {
            n_bad++;
            continue;
        }
        mn = v < mn ? v : mn;
        mx = v > mx ? v : mx;
    }
    *mn_out = mn;
    *mx_out = mx;
    return n_bad;
}

/* The bin of |x| = a at scale TQ_HIST_BINS / range. */
static size_t tq_hist_bin(double a, double scale)
{
    const size_t b = (size_t)(a * scale);
    return b < TQ_HIST_BINS ? b : TQ_HIST_BINS - 1;
}

void tq_observer_add_f32(tq_observer *ob, const float *x, size_t n)
{
    double mn, mx;
    const uint64_t n_bad = tq_finite_minmax(x, n, &mn, &mx);
    ob->n_nonfinite += n_bad;
    if (n_bad == n) {
        return;
    }
    if (ob->n_seen == 0) {
        ob->min = mn;
        ob->max = mx;
    } else {
        ob->min = mn < ob->min ? mn : ob->min;
        ob->max = mx > ob->max ? mx : ob->max;
    }
    ob->n_seen += n - n_bad;
    const double amax = fmax(fabs(mn), fabs(mx));
    if (amax > 0.0) {
        tq_hist_cover(ob, amax);
    }
    if (ob->range == 0.0) { /* only zeros so far */
        ob->bins[0] += n - n_bad;
        return;
    }
    const double scale = (double)TQ_HIST_BINS / ob->range;
    for (size_t i = 0; i < n; i++) {
        const double a = fabs((double)x[i]);
        if (isfinite(a)) {
            ob->bins[tq_hist_bin(a, scale)]++;
        }
    }
}

/* ---- tq_observer_add_f32_parallel (calib.h) ---- */
#define TQ_OBS_PAR_MIN 65536 /* elements per thread below which one thread does it all */

typedef struct tq_obs_par {
    const float *x;
    size_t n;
    int32_t n_parts;
    tq_observer *parts;     /* n_parts copies of the primed observer */
    double *mn, *mx;        /* pass 1: per part (finite values), NULL in pass 2 */
    uint64_t *n_bad;
} tq_obs_par;

static void tq_obs_par_minmax(void *ctx, size_t p0, size_t p1)
{
    tq_obs_par *c = ctx;
    for (size_t p = p0; p < p1; p++) {
        const size_t i0 = c->n * p / (size_t)c->n_parts, i1 = c->n * (p + 1) / (size_t)c->n_parts;
        c->n_bad[p] = tq_finite_minmax(c->x + i0, i1 - i0, &c->mn[p], &c->mx[p]);
    }
}

static void tq_obs_par_add(void *ctx, size_t p0, size_t p1)
{
    tq_obs_par *c = ctx;
    for (size_t p = p0; p < p1; p++) {
        const size_t i0 = c->n * p / (size_t)c->n_parts, i1 = c->n * (p + 1) / (size_t)c->n_parts;
        tq_observer_add_f32(&c->parts[p], c->x + i0, i1 - i0);
    }
}

#define TQ_OBS_PAR_MAX 256 /* parts at most (the pass-1 arrays are on the stack) */

void tq_observer_add_f32_parallel(tq_observer *ob, const float *x, size_t n, int32_t n_threads,
                                  tq_observer *scratch)
{
    if (n_threads > TQ_OBS_PAR_MAX) {
        n_threads = TQ_OBS_PAR_MAX;
    }
    if (n_threads > 1 && n / (size_t)n_threads < TQ_OBS_PAR_MIN) {
        n_threads = (int32_t)(n / TQ_OBS_PAR_MIN);
    }
    if (n_threads <= 1 || !scratch) {
        tq_observer_add_f32(ob, x, n);
        return;
    }
    double mn[TQ_OBS_PAR_MAX], mx[TQ_OBS_PAR_MAX];
    uint64_t n_bad[TQ_OBS_PAR_MAX];
    tq_obs_par c = {x, n, n_threads, scratch, mn, mx, n_bad};
    tq_cpu_parallel_for((size_t)n_threads, 1, n_threads, tq_obs_par_minmax, &c);
    double lo = (double)INFINITY, hi = -(double)INFINITY;
    uint64_t bad = 0;
    for (int32_t p = 0; p < n_threads; p++) {
        lo = mn[p] < lo ? mn[p] : lo;
        hi = mx[p] > hi ? mx[p] : hi;
        bad += n_bad[p];
    }
    if (bad == n) {
        ob->n_nonfinite += bad; /* what the serial call does with no finite value */
        return;
    }
    /* prime with an element of largest |x|: tq_hist_cover then sees the whole input's max|x|,
     * and no part can widen the range afterwards (its max|x| is at most that) */
    const float first = (float)(fabs(lo) > fabs(hi) ? lo : hi);
    tq_observer_add_f32(ob, &first, 1);
    for (int32_t p = 0; p < n_threads; p++) {
        scratch[p] = *ob;
    }
    tq_cpu_parallel_for((size_t)n_threads, 1, n_threads, tq_obs_par_add, &c);
    const tq_observer base = *ob;
    for (int32_t p = 0; p < n_threads; p++) {
        const tq_observer *q = &scratch[p];
        ob->min = q->min < ob->min ? q->min : ob->min;
        ob->max = q->max > ob->max ? q->max : ob->max;
        ob->n_seen += q->n_seen - base.n_seen;
        ob->n_nonfinite += q->n_nonfinite - base.n_nonfinite;
        for (size_t i = 0; i < TQ_HIST_BINS; i++) {
            ob->bins[i] += q->bins[i] - base.bins[i];
        }
    }
    /* take the first element out again: its bin as tq_observer_add_f32 computes it */
    ob->n_seen--;
    ob->bins[ob->range != 0.0 ? tq_hist_bin(fabs((double)first), TQ_HIST_BINS / ob->range)
                              : 0]--;
}

void tq_observer_merge(tq_observer *dst, const tq_observer *src)
{
    if (src->n_seen == 0) {
        dst->n_nonfinite += src->n_nonfinite;
        return;
    }
    tq_observer s = *src;
    if (dst->n_seen == 0) {
        s.n_nonfinite += dst->n_nonfinite;
        *dst = s;
        return;
    }
    /* bring both onto the larger range; ranges r0*2^k of different r0 are rebinned by their
     * bin centres (approximate, exact when the ranges differ by a power of two) */
    if (s.range > dst->range && dst->range > 0.0) {
        tq_observer t = *dst;
        *dst = s;
        s = t;
    }
    if (dst->range == 0.0) { /* dst holds only zeros */
        dst->range = s.range;
    }
    if (s.range > 0.0) {
        const double w = s.range / TQ_HIST_BINS, scale = (double)TQ_HIST_BINS / dst->range;
        for (size_t i = 0; i < TQ_HIST_BINS; i++) {
            if (s.bins[i]) {
                size_t b = (size_t)(((double)i + 0.5) * w * scale);
                dst->bins[b < TQ_HIST_BINS ? b : TQ_HIST_BINS - 1] += s.bins[i];
            }
        }
    } else {
        dst->bins[0] += s.bins[0];
    }
    dst->min = fmin(dst->min, s.min);
    dst->max = fmax(dst->max, s.max);
    dst->n_seen += s.n_seen;
    dst->n_nonfinite += s.n_nonfinite;
}

double tq_observer_amax(const tq_observer *ob)
{
    if (ob->n_seen == 0) {
        return 0.0;
    }
    return fmax(fabs(ob->min), fabs(ob->max));
}

/* Index one past the last non-empty bin (0 if empty). */
static size_t tq_hist_top(const tq_observer *ob)
{
    size_t top = TQ_HIST_BINS;
    while (top > 0 && ob->bins[top - 1] == 0) {
        top--;
    }
    return top;
}

/* MXNet/ORT smoothing: move eps of mass onto each empty bin, taken evenly from the non-empty
 * ones. Returns false if a non-empty bin would go non-positive (then KL is not usable). */
static bool tq_smooth(double *p, size_t n)
{
    const double eps = 0.0001;
    size_t n_zero = 0;
    for (size_t i = 0; i < n; i++) {
        n_zero += p[i] == 0.0;
    }
    if (n_zero == n) {
        return false;
    }
    const double eps1 = eps * (double)n_zero / (double)(n - n_zero);
    for (size_t i = 0; i < n; i++) {
        if (p[i] == 0.0) {
            p[i] = eps;
        } else {
            p[i] -= eps1;
            if (p[i] <= 0.0) {
                return false;
            }
        }
    }
    return true;
}

double tq_observer_entropy(const tq_observer *ob)
{
    const double amax = tq_observer_amax(ob);
    if (amax == 0.0 || ob->range == 0.0) {
        return amax;
    }
    const size_t top = tq_hist_top(ob);
    const size_t levels = TQ_HIST_QUANT_LEVELS;
    size_t last = top > levels ? top : levels;
    double h[TQ_HIST_BINS], p[TQ_HIST_BINS], q[TQ_HIST_BINS];
    /* NVIDIA's pytorch-quantization (calib/histogram.py, _compute_amax_entropy) replaces bin 0
     * by bin 1: the spike of exact zeros after ReLU (often half the mass) otherwise dominates
     * the divergence and drives the threshold far too low */
    double total = 0.0;
    for (size_t i = 0; i < TQ_HIST_BINS; i++) {
        h[i] = (double)ob->bins[i];
    }
    h[0] = h[1];
    for (size_t i = 0; i < TQ_HIST_BINS; i++) {
        total += h[i];
    }
    double best_kl = (double)INFINITY;
    size_t best_i = last;
    double inside = 0.0;
    for (size_t i = 0; i < levels - 1; i++) {
        inside += h[i];
    }
    for (size_t i = levels; i <= last; i++) {
        inside += h[i - 1];
        /* P: bins [0, i) with every count from bin i on folded into bin i-1 */
        for (size_t j = 0; j < i; j++) {
            p[j] = h[j];
        }
        p[i - 1] += total - inside;
        /* Q: bins [0, i) (no outliers) merged into `levels` groups, the last one taking the
         * remainder, each group's mass spread evenly over its non-empty bins of P */
        const size_t m = i / levels;
        for (size_t g = 0; g < levels; g++) {
            const size_t a = g * m, b = g + 1 == levels ? i : a + m;
            double sum = 0.0;
            size_t nz = 0;
            for (size_t j = a; j < b; j++) {
                sum += h[j];
                nz += p[j] != 0.0;
            }
            for (size_t j = a; j < b; j++) {
                q[j] = p[j] != 0.0 && nz ? sum / (double)nz : 0.0;
            }
        }
        if (!tq_smooth(p, i) || !tq_smooth(q, i)) {
            continue;
        }
        double sp = 0.0, sq = 0.0;
        for (size_t j = 0; j < i; j++) {
            sp += p[j];
            sq += q[j];
        }
        double kl = 0.0;
        for (size_t j = 0; j < i; j++) {
            const double pj = p[j] / sp, qj = q[j] / sq;
            kl += pj * log(pj / qj);
        }
        if (kl < best_kl) {
            best_kl = kl;
            best_i = i;
        }
    }
    const double t = (double)best_i * ob->range / TQ_HIST_BINS;
    return t < amax ? t : amax;
}

double tq_observer_percentile(const tq_observer *ob, double pct)
{
    const double amax = tq_observer_amax(ob);
    if (amax == 0.0 || ob->range == 0.0) {
        return amax;
    }
    if (!(pct > 0.0)) {
        pct = TQ_CALIB_DEFAULT_PERCENTILE;
    }
    if (pct >= 100.0) {
        return amax;
    }
    uint64_t total = 0;
    for (size_t i = 0; i < TQ_HIST_BINS; i++) {
        total += ob->bins[i];
    }
    const double target = pct / 100.0 * (double)total, w = ob->range / TQ_HIST_BINS;
    double cum = 0.0;
    for (size_t i = 0; i < TQ_HIST_BINS; i++) {
        const double c = (double)ob->bins[i];
        if (c > 0.0 && cum + c >= target) {
            const double f = (target - cum) / c;
            const double t = ((double)i + (f > 0.0 ? f : 0.0)) * w;
            return t < amax ? t : amax;
        }
        cum += c;
    }
    return amax;
}

/* Integral over u in [0, x] of (u - round(u))^2, for x >= 0 (in units of the quantization step).
 * Each whole period [n - 1/2, n + 1/2) contributes 1/12. */
static double tq_round_err_integral(double x)
{
    const double n = floor(x + 0.5), r = x - n; /* r in [-1/2, 1/2) */
    return n / 12.0 + (r * r * r + 0.125) / 3.0 - 0.125 / 3.0;
}

/* Expected squared error of int8 symmetric quantization with threshold t (scale t/127) over the
 * histogram, values uniform within each bin: rounding error inside [0, t], clipping beyond.
 * A bin [a, b) below t contributes its count times (1/w) * integral over [a, b) of
 * (x - s round(x/s))^2 dx = s^3 * integral over [a/s, b/s) of (u - round(u))^2 du: s^2 for the
 * squared error in steps, s for dx = s du. */
static double tq_mse_at(const tq_observer *ob, size_t top, double t)
{
    const double w = ob->range / TQ_HIST_BINS, s = t / 127.0;
    double err = 0.0;
    for (size_t i = 0; i < top; i++) {
        if (!ob->bins[i]) {
            continue;
        }
        const double a = (double)i * w, b = a + w, c = (double)ob->bins[i];
        double e;
        if (b <= t) {
            e = s * s * s * (tq_round_err_integral(b / s) - tq_round_err_integral(a / s)) / w;
        } else if (a >= t) {
            e = ((b - t) * (b - t) * (b - t) - (a - t) * (a - t) * (a - t)) / (3.0 * w);
        } else { /* straddles t: split */
            e = (s * s * s * (tq_round_err_integral(t / s) - tq_round_err_integral(a / s)) +
                 (b - t) * (b - t) * (b - t) / 3.0) / w;
        }
        err += c * e;
    }
    return err;
}

double tq_observer_mse(const tq_observer *ob)
{
    const double amax = tq_observer_amax(ob);
    if (amax == 0.0 || ob->range == 0.0) {
        return amax;
    }
    const size_t top = tq_hist_top(ob);
    const double w = ob->range / TQ_HIST_BINS;
    /* coarse search over 256 candidates up to the top of the data, then every bin edge around
     * the best one */
    const size_t n_coarse = 256;
    double best_t = amax, best_e = tq_mse_at(ob, top, amax);
    for (size_t k = 1; k <= n_coarse; k++) {
        const double t = amax * (double)k / (double)n_coarse;
        const double e = tq_mse_at(ob, top, t);
        if (e < best_e) {
            best_e = e;
            best_t = t;
        }
    }
    const double step = amax / (double)n_coarse;
    const double lo = fmax(best_t - step, w), hi = fmin(best_t + step, amax);
    for (double t = lo; t <= hi; t += w / 2.0) {
        const double e = tq_mse_at(ob, top, t);
        if (e < best_e) {
            best_e = e;
            best_t = t;
        }
    }
    return best_t;
}

tfmq_status tq_observer_range(const tq_observer *ob, tfmq_calib_method method, double pct,
                              bool asymmetric, float *lo_out, float *hi_out)
{
    double lo = fmin(ob->n_seen ? ob->min : 0.0, 0.0);
    double hi = fmax(ob->n_seen ? ob->max : 0.0, 0.0);
    double t;
    switch (method) {
    case TFMQ_CALIB_MINMAX:
        *lo_out = (float)lo;
        *hi_out = (float)hi;
        return TFMQ_OK;
    case TFMQ_CALIB_ENTROPY:
        t = tq_observer_entropy(ob);
        break;
    case TFMQ_CALIB_PERCENTILE:
        if (pct < 0.0 || pct > 100.0 || isnan(pct)) {
            return tq_fail(TFMQ_ERR_INVALID_ARG, "calibration: percentile %g not in (0, 100]",
                           pct);
        }
        t = tq_observer_percentile(ob, pct);
        break;
    case TFMQ_CALIB_MSE:
        t = tq_observer_mse(ob);
        break;
    default:
        return tq_fail(TFMQ_ERR_INVALID_ARG, "calibration: unknown method %d", (int)method);
    }
    if (asymmetric) {
        lo = fmax(lo, -t);
        hi = fmin(hi, t);
    } else {
        lo = -t;
        hi = t;
    }
    *lo_out = (float)lo;
    *hi_out = (float)hi;
    return TFMQ_OK;
}
