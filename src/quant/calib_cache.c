/* calib_cache.c: the calibration cache, a small text file that stores the ranges of one
 * calibration (model hash, method, percentile, asymmetry, sample count, name -> lo hi) so that a
 * second quantization of the same model skips the FP32 runs, like TensorRT's calibration cache.
 * Floats are C99 hex floats (%a), which round-trip exactly. Writes are atomic: a temporary file
 * in the same folder, fsync, rename (the same rule as engine files, ARCHITECTURE.md). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "quant/calib.h"

#define TQ_CACHE_MAGIC "tfmq-calib"
#define TQ_CACHE_VERSION 1
#define TQ_CACHE_LINE 4096 /* longest line (a name) accepted */

static const char *tq_cache_method_name(tfmq_calib_method m)
{
    switch (m) {
    case TFMQ_CALIB_MINMAX:
        return "minmax";
    case TFMQ_CALIB_ENTROPY:
        return "entropy";
    case TFMQ_CALIB_PERCENTILE:
        return "percentile";
    case TFMQ_CALIB_MSE:
        return "mse";
    }
    return "unknown";
}

/* The settings that decide the ranges, from opts (struct_size-checked). */
static tfmq_status tq_cache_settings(const tfmq_quantize_options *opts, tfmq_calib_method *m,
                                     double *pct, bool *asym)
{
    tfmq_quantize_options o;
    if (!opts || opts->struct_size < sizeof(uint32_t)) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "calibration cache: bad options");
    }
    memset(&o, 0, sizeof(o));
    memcpy(&o, opts, opts->struct_size < sizeof(o) ? opts->struct_size : sizeof(o));
    *m = o.calib_method;
    *pct = o.calib_method == TFMQ_CALIB_PERCENTILE ? (o.percentile > 0.0 ? o.percentile : TQ_CALIB_DEFAULT_PERCENTILE)
                                                   : 0.0;
    *asym = o.asymmetric_activations;
    return TFMQ_OK;
}

/* Read one line into buf without its newline; false at EOF, on a line too long or a NUL. */
static bool tq_cache_line(FILE *f, char *buf, size_t cap)
{
    if (!fgets(buf, (int)cap, f)) {
        return false;
    }
    size_t n = strlen(buf);
    if (n == 0 || buf[n - 1] != '\n') {
        return false; /* too long, embedded NUL, or missing final newline */
    }
    buf[n - 1] = '\0';
    return true;
}

/* Parse "key value" where value is the rest of the line; returns the value or NULL. */
static const char *tq_cache_kv(const char *line, const char *key)
{
    const size_t n = strlen(key);
    if (strncmp(line, key, n) != 0 || line[n] != ' ') {
        return NULL;
    }
    return line + n + 1;
}

static bool tq_cache_u64(const char *s, uint64_t *out)
{
    char *end = NULL;
    if (!s || !*s || *s == '-') {
        return false;
    }
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end) {
        return false;
    }
    *out = (uint64_t)v;
    return true;
}

static bool tq_cache_f64(const char *s, double *out, char **end)
{
    if (!s || !*s) {
        return false;
    }
    *out = strtod(s, end);
    return *end != s;
}

tfmq_status tq_calib_cache_read(const char *path, uint32_t model_hash,
                                const tfmq_quantize_options *opts, const char *const *names,
                                size_t n_names, float *lo_out, float *hi_out,
                                uint64_t *n_samples_out, bool *found)
{
    tfmq_status st = TFMQ_OK;
    FILE *f = NULL;
    char *line = NULL;
    tfmq_calib_method method;
    double pct;
    bool asym;

    if (!path || !found || (n_names && (!names || !lo_out || !hi_out))) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "calibration cache: NULL argument");
    }
    *found = false;
    st = tq_cache_settings(opts, &method, &pct, &asym);
    if (st != TFMQ_OK) {
        return st;
    }
    f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT) {
            return TFMQ_OK;
        }
        return tq_fail(TFMQ_ERR_IO, "calibration cache '%s': %s", path, strerror(errno));
    }
    line = tq_alloc(NULL, TQ_CACHE_LINE);
    if (!line) {
        st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "calibration cache: out of memory");
        goto fail;
    }
    /* header: every line is required, in this order */
    const char *v;
    uint64_t u, hash, n_samples, count;
    double fpct;
#define TQ_CACHE_NEXT(key)                                                                        \
    do {                                                                                          \
        if (!tq_cache_line(f, line, TQ_CACHE_LINE) || !(v = tq_cache_kv(line, key))) {            \
            st = tq_fail(TFMQ_ERR_PARSE, "calibration cache '%s': expected '%s' line", path, key); \
            goto fail;                                                                            \
        }                                                                                         \
    } while (0)
    TQ_CACHE_NEXT(TQ_CACHE_MAGIC);
    if (!tq_cache_u64(v, &u) || u != TQ_CACHE_VERSION) {
        st = tq_fail(TFMQ_ERR_PARSE, "calibration cache '%s': unsupported version '%s'", path, v);
        goto fail;
    }
    TQ_CACHE_NEXT("model_hash");
    if (!tq_cache_u64(v, &hash) || hash > UINT32_MAX) {
        st = tq_fail(TFMQ_ERR_PARSE, "calibration cache '%s': bad model_hash", path);
        goto fail;
    }
    if ((uint32_t)hash != model_hash) {
        st = tq_fail(TFMQ_ERR_INVALID_ARG, "stale calibration cache '%s': made for another model "
                     "(hash 0x%08x, this model 0x%08x); delete it to recalibrate", path,
                     (unsigned)hash, (unsigned)model_hash);
        goto fail;
    }
    TQ_CACHE_NEXT("method");
    if (strcmp(v, tq_cache_method_name(method)) != 0) {
        st = tq_fail(TFMQ_ERR_INVALID_ARG, "stale calibration cache '%s': made for another "
                     "method (%s, asked for %s)", path, v, tq_cache_method_name(method));
        goto fail;
    }
    TQ_CACHE_NEXT("percentile");
    char *end = NULL;
    if (!tq_cache_f64(v, &fpct, &end) || *end) {
        st = tq_fail(TFMQ_ERR_PARSE, "calibration cache '%s': bad percentile", path);
        goto fail;
    }
    if (fpct != pct) {
        st = tq_fail(TFMQ_ERR_INVALID_ARG, "stale calibration cache '%s': made for another "
                     "method (percentile %g, asked for %g)", path, fpct, pct);
        goto fail;
    }
    TQ_CACHE_NEXT("asymmetric");
    if (!tq_cache_u64(v, &u) || u > 1) {
        st = tq_fail(TFMQ_ERR_PARSE, "calibration cache '%s': bad asymmetric", path);
        goto fail;
    }
    if ((u == 1) != asym) {
        st = tq_fail(TFMQ_ERR_INVALID_ARG, "stale calibration cache '%s': made for another "
                     "method (%s activations)", path, u ? "asymmetric" : "symmetric");
        goto fail;
    }
    TQ_CACHE_NEXT("samples");
    if (!tq_cache_u64(v, &n_samples)) {
        st = tq_fail(TFMQ_ERR_PARSE, "calibration cache '%s': bad samples", path);
        goto fail;
    }
    TQ_CACHE_NEXT("count");
    if (!tq_cache_u64(v, &count)) {
        st = tq_fail(TFMQ_ERR_PARSE, "calibration cache '%s': bad count", path);
        goto fail;
    }
#undef TQ_CACHE_NEXT
    if (count != n_names) {
        st = tq_fail(TFMQ_ERR_INVALID_ARG, "stale calibration cache '%s': made for another model "
                     "(%llu tensors, %zu asked for)", path, (unsigned long long)count, n_names);
        goto fail;
    }
    for (size_t i = 0; i < n_names; i++) {
        double lo, hi;
        if (!tq_cache_line(f, line, TQ_CACHE_LINE) || !tq_cache_f64(line, &lo, &end) ||
            *end != ' ' || !tq_cache_f64(end + 1, &hi, &end) || *end != ' ') {
            st = tq_fail(TFMQ_ERR_PARSE, "calibration cache '%s': bad range line %zu", path, i);
            goto fail;
        }
        if (!(lo <= 0.0) || !(hi >= 0.0) || lo < -3.4e38 || hi > 3.4e38) {
            st = tq_fail(TFMQ_ERR_PARSE, "calibration cache '%s': range %zu [%g, %g] is not a "
                         "finite range around 0", path, i, lo, hi);
            goto fail;
        }
        if (!names[i] || strcmp(end + 1, names[i]) != 0) {
            st = tq_fail(TFMQ_ERR_INVALID_ARG, "stale calibration cache '%s': made for another "
                         "model (tensor %zu is '%s', asked for '%s')", path, i, end + 1,
                         names[i] ? names[i] : "(null)");
            goto fail;
        }
        lo_out[i] = (float)lo;
        hi_out[i] = (float)hi;
    }
    if (fgetc(f) != EOF) {
        st = tq_fail(TFMQ_ERR_PARSE, "calibration cache '%s': trailing data", path);
        goto fail;
    }
    if (n_samples_out) {
        *n_samples_out = n_samples;
    }
    *found = true;
fail:
    tq_free(NULL, line, TQ_CACHE_LINE);
    if (f) {
        fclose(f);
    }
    return st;
}

tfmq_status tq_calib_cache_write(const char *path, uint32_t model_hash,
                                 const tfmq_quantize_options *opts, const char *const *names,
                                 size_t n_names, const float *lo, const float *hi,
                                 uint64_t n_samples)
{
    tfmq_status st = TFMQ_OK;
    tfmq_calib_method method;
    double pct;
    bool asym;
    char *tmp = NULL;
    size_t tmp_bytes = 0;
    FILE *f = NULL;
    int fd = -1;

    if (!path || (n_names && (!names || !lo || !hi))) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "calibration cache: NULL argument");
    }
    st = tq_cache_settings(opts, &method, &pct, &asym);
    if (st != TFMQ_OK) {
        return st;
    }
    for (size_t i = 0; i < n_names; i++) {
        if (!names[i] || !*names[i] || strpbrk(names[i], "\r\n") ||
            strlen(names[i]) > TQ_CACHE_LINE - 128) {
            return tq_fail(TFMQ_ERR_INVALID_ARG, "calibration cache: tensor name %zu cannot be "
                           "stored (empty, too long or has a line break)", i);
        }
        if (!(lo[i] <= 0.0f) || !(hi[i] >= 0.0f) || lo[i] < -3.4e38f || hi[i] > 3.4e38f) {
            return tq_fail(TFMQ_ERR_INVALID_ARG, "calibration cache: range of '%s' is not a "
                           "finite range around 0", names[i]);
        }
    }
    if (!tq_add_size(strlen(path), 32, &tmp_bytes) || !(tmp = tq_alloc(NULL, tmp_bytes))) {
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "calibration cache: out of memory");
    }
    snprintf(tmp, tmp_bytes, "%s.tmp.%ld", path, (long)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || !(f = fdopen(fd, "w"))) {
        st = tq_fail(TFMQ_ERR_IO, "calibration cache '%s': %s", tmp, strerror(errno));
        goto fail;
    }
    fd = -1; /* owned by f now */
    fprintf(f, "%s %d\nmodel_hash 0x%08x\nmethod %s\npercentile %a\nasymmetric %d\n"
               "samples %llu\ncount %zu\n", TQ_CACHE_MAGIC, TQ_CACHE_VERSION,
            (unsigned)model_hash, tq_cache_method_name(method), pct, asym ? 1 : 0,
            (unsigned long long)n_samples, n_names);
    for (size_t i = 0; i < n_names; i++) {
        fprintf(f, "%a %a %s\n", (double)lo[i], (double)hi[i], names[i]);
    }
    if (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0) {
        st = tq_fail(TFMQ_ERR_IO, "calibration cache '%s': write failed: %s", tmp,
                     strerror(errno));
        goto fail;
    }
    const int rc = fclose(f);
    f = NULL;
    if (rc != 0) {
        st = tq_fail(TFMQ_ERR_IO, "calibration cache '%s': close failed: %s", tmp,
                     strerror(errno));
        goto fail;
    }
    if (rename(tmp, path) != 0) {
        st = tq_fail(TFMQ_ERR_IO, "calibration cache '%s': rename failed: %s", path,
                     strerror(errno));
        goto fail;
    }
    tq_free(NULL, tmp, tmp_bytes);
    return TFMQ_OK;
fail:
    if (f) {
        fclose(f);
    }
    if (fd >= 0) {
        close(fd);
    }
    if (tmp) {
        remove(tmp);
    }
    tq_free(NULL, tmp, tmp_bytes);
    return st;
}
