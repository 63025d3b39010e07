/* quant_eval.c: benchmark driver for bench/quant_vs_ort.py (not part of the library or CLI).
 *
 * Quantizes one model with tfmq_quantize() for each configuration given on the command line,
 * writes the fidelity report (JSON), the engine (.tfmq) and the QDQ ONNX export, and runs the
 * quantized model with the tfmq reference executor on every evaluation input, writing each output
 * as a float32 .npy file. Calibration and evaluation use the same inputs.
 *
 * Build (from the repository root, after building libtfmq.a into BUILD), with the libraries
 * libtfmq.a needs (those after libtfmq.a in BUILD/CMakeFiles/tfmq_cli.dir/link.txt; today
 * protobuf-c, hdf5_serial, cjson, zip and m; quant_vs_ort.py reads them from there):
 *   cc -std=c11 -O2 -Wall -Wextra -I include bench/quant_eval.c BUILD/libtfmq.a \
 *      -lprotobuf-c -lhdf5_serial -lcjson -lzip -lm
 *
 * Usage:
 *   quant_eval MODEL.onnx INPUT_DIR OUT_DIR CONFIG...
 * INPUT_DIR holds one sample per .npy file (float32, C order, little-endian, with the batch dim
 * of 1), used in file-name order. CONFIG is one of
 *   fp32                      run the FP32 model itself (tfmq vs ONNX Runtime FP32 check)
 *   fp16 | bf16
 *   int8:METHOD[:TOLERANCE]   METHOD minmax|entropy|percentile|mse, TOLERANCE e.g. top1=1.0;
 *                             METHOD+bc (e.g. percentile+bc) also turns on bias_correction
 * Each configuration writes OUT_DIR/NAME/ (NAME: CONFIG with ':' and '=' replaced by '_'):
 *   report.json, model.tfmq, model_qdq.onnx, driver.json (status, timings, engine check) and
 *   out/STEM.oK.npy for output K of input STEM.npy. The model is one-input. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "tfmq.h"

#define QE_MAX_RANK 8

typedef struct qe_sample {
    char *stem;
    int32_t rank;
    int64_t dims[QE_MAX_RANK];
    float *data;
    size_t n_bytes;
} qe_sample;

typedef struct qe_data {
    qe_sample *s;
    size_t n;
} qe_data;

static double qe_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- .npy reading and writing (float32, C order) ---- */

static int qe_npy_read(const char *path, qe_sample *out)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return -1;
    }
    unsigned char pre[12];
    int rc = -1;
    char *hdr = NULL;
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
        fprintf(stderr, "%s: not a .npy file\n", path);
        goto done;
    }
    size_t hlen;
    if (pre[6] == 1) {
        hlen = (size_t)pre[8] | ((size_t)pre[9] << 8);
    } else {
        if (fread(pre + 10, 1, 2, f) != 2) {
            goto done;
        }
        hlen = (size_t)pre[8] | ((size_t)pre[9] << 8) | ((size_t)pre[10] << 16) |
               ((size_t)pre[11] << 24);
    }
    hdr = calloc(1, hlen + 1);
    if (!hdr || fread(hdr, 1, hlen, f) != hlen) {
        fprintf(stderr, "%s: truncated header\n", path);
        goto done;
    }
    if (!strstr(hdr, "'<f4'") || strstr(hdr, "'fortran_order': True")) {
        fprintf(stderr, "%s: only little-endian float32 in C order is supported (%s)\n", path,
                hdr);
        goto done;
    }
    const char *sh = strstr(hdr, "'shape':");
    const char *p = sh ? strchr(sh, '(') : NULL;
    if (!p) {
        fprintf(stderr, "%s: no shape in header\n", path);
        goto done;
    }
    p++;
    out->rank = 0;
    size_t numel = 1;
    while (*p && *p != ')') {
        char *end;
        long long d = strtoll(p, &end, 10);
        if (end == p) {
            p++;
            continue;
        }
        if (out->rank >= QE_MAX_RANK || d < 0) {
            fprintf(stderr, "%s: bad shape\n", path);
            goto done;
        }
        out->dims[out->rank++] = d;
        numel *= (size_t)d;
        p = end;
    }
    out->n_bytes = numel * sizeof(float);
    out->data = malloc(out->n_bytes ? out->n_bytes : 1);
    if (!out->data || fread(out->data, 1, out->n_bytes, f) != out->n_bytes) {
        fprintf(stderr, "%s: truncated data\n", path);
        goto done;
    }
    rc = 0;
done:
    free(hdr);
    fclose(f);
    return rc;
}

static int qe_npy_write(const char *path, const int64_t *dims, int32_t rank, const float *data,
                        size_t numel)
{
    char shape[256] = "";
    size_t off = 0;
    for (int32_t d = 0; d < rank; d++) {
        off += (size_t)snprintf(shape + off, sizeof(shape) - off, "%lld,%s", (long long)dims[d],
                                d + 1 < rank ? " " : "");
    }
    char hdr[512];
    int hl = snprintf(hdr, sizeof(hdr), "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }",
                      shape);
    size_t total = 10 + (size_t)hl + 1;
    size_t pad = (64 - total % 64) % 64;
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t hlen = (size_t)hl + pad + 1;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff),
                             (unsigned char)(hlen >> 8)};
    int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(hdr, 1, (size_t)hl, f) == (size_t)hl;
    for (size_t i = 0; ok && i < pad; i++) {
        ok = fputc(' ', f) != EOF;
    }
    ok = ok && fputc('\n', f) != EOF && fwrite(data, sizeof(float), numel, f) == numel;
    ok = (fclose(f) == 0) && ok;
    return ok ? 0 : -1;
}

static int qe_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int qe_load_dir(const char *dir, qe_data *d)
{
    DIR *dp = opendir(dir);
    if (!dp) {
        fprintf(stderr, "%s: %s\n", dir, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(dp)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l > 4 && strcmp(de->d_name + l - 4, ".npy") == 0) {
            char **nn = realloc(names, (n + 1) * sizeof(char *));
            if (!nn) {
                break;
            }
            names = nn;
            names[n++] = strdup(de->d_name);
        }
    }
    closedir(dp);
    qsort(names, n, sizeof(char *), qe_cmp_str);
    d->s = calloc(n ? n : 1, sizeof(qe_sample));
    d->n = n;
    int rc = d->s ? 0 : -1;
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        if (rc == 0 && qe_npy_read(path, &d->s[i]) != 0) {
            rc = -1;
        }
        if (d->s) {
            names[i][strlen(names[i]) - 4] = '\0';
            d->s[i].stem = names[i];
        } else {
            free(names[i]);
        }
    }
    free(names);
    return rc;
}

static void qe_free_data(qe_data *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->s[i].stem);
        free(d->s[i].data);
    }
    free(d->s);
}

/* ---- the tfmq_batch_fn: one sample per batch ---- */

static tfmq_status qe_batch(void *user_data, size_t batch_index, tfmq_tensor *inputs,
                            size_t n_inputs, bool *done)
{
    const qe_data *d = user_data;
    if (batch_index >= d->n) {
        *done = true;
        return TFMQ_OK;
    }
    if (n_inputs != 1) {
        return TFMQ_ERR_UNSUPPORTED;
    }
    const qe_sample *s = &d->s[batch_index];
    inputs[0].dtype = TFMQ_DTYPE_FLOAT32;
    inputs[0].rank = s->rank;
    inputs[0].dims = s->dims;
    inputs[0].data = s->data;
    inputs[0].data_bytes = s->n_bytes;
    *done = false;
    return TFMQ_OK;
}

/* Run `m` on every sample; write outputs under dir/out if dir is non-NULL. If `first_out` is
 * non-NULL, store a malloc'ed copy of output 0 of sample 0 there (size in *first_n). */
static int qe_run_all(const tfmq_model *m, const qe_data *d, const char *dir, size_t max_samples,
                      float **first_out, size_t *first_n)
{
    tfmq_model_info info;
    memset(&info, 0, sizeof(info));
    info.struct_size = sizeof(info);
    if (tfmq_model_get_info(m, &info) != TFMQ_OK || info.n_inputs != 1 || info.n_outputs > 8) {
        fprintf(stderr, "run: unsupported model I/O: %s\n", tfmq_last_error());
        return -1;
    }
    tfmq_io_info in_info, out_info[8];
    memset(&in_info, 0, sizeof(in_info));
    in_info.struct_size = sizeof(in_info);
    if (tfmq_model_io(m, TFMQ_IO_INPUT, 0, &in_info) != TFMQ_OK) {
        return -1;
    }
    for (size_t k = 0; k < info.n_outputs; k++) {
        memset(&out_info[k], 0, sizeof(out_info[k]));
        out_info[k].struct_size = sizeof(out_info[k]);
        if (tfmq_model_io(m, TFMQ_IO_OUTPUT, k, &out_info[k]) != TFMQ_OK) {
            return -1;
        }
    }
    tfmq_session *sess = NULL;
    if (tfmq_session_create(m, NULL, &sess) != TFMQ_OK) {
        fprintf(stderr, "session: %s\n", tfmq_last_error());
        return -1;
    }
    char odir[4096];
    if (dir) {
        snprintf(odir, sizeof(odir), "%s/out", dir);
        mkdir(odir, 0777);
    }
    int rc = 0;
    size_t n = max_samples && max_samples < d->n ? max_samples : d->n;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const qe_sample *s = &d->s[i];
        tfmq_tensor in = {in_info.name, TFMQ_DTYPE_FLOAT32, s->rank, s->dims, s->data,
                          s->n_bytes};
        tfmq_tensor outs[8];
        memset(outs, 0, sizeof(outs));
        for (size_t k = 0; k < info.n_outputs; k++) {
            outs[k].name = out_info[k].name;
        }
        if (tfmq_session_run(sess, &in, 1, outs, info.n_outputs) != TFMQ_OK) {
            fprintf(stderr, "run %s: %s\n", s->stem, tfmq_last_error());
            rc = -1;
            break;
        }
        for (size_t k = 0; k < info.n_outputs && rc == 0; k++) {
            if (outs[k].dtype != TFMQ_DTYPE_FLOAT32) {
                fprintf(stderr, "run %s: output %s is %s, not float32\n", s->stem, outs[k].name,
                        tfmq_dtype_name(outs[k].dtype));
                rc = -1;
                break;
            }
            size_t numel = outs[k].data_bytes / sizeof(float);
            if (dir) {
                char path[8192];
                snprintf(path, sizeof(path), "%s/%s.o%zu.npy", odir, s->stem, k);
                rc = qe_npy_write(path, outs[k].dims, outs[k].rank, outs[k].data, numel);
            }
            if (first_out && i == 0 && k == 0) {
                *first_out = malloc(outs[k].data_bytes ? outs[k].data_bytes : 1);
                if (*first_out) {
                    memcpy(*first_out, outs[k].data, outs[k].data_bytes);
                    *first_n = numel;
                }
            }
        }
    }
    tfmq_session_destroy(sess);
    return rc;
}

/* ---- one configuration ---- */

static void qe_json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        if (*s == '"' || *s == '\\') {
            fputc('\\', f);
            fputc(*s, f);
        } else if ((unsigned char)*s < 0x20) {
            fprintf(f, "\\u%04x", (unsigned)(unsigned char)*s);
        } else {
            fputc(*s, f);
        }
    }
    fputc('"', f);
}

static int qe_parse_method(const char *s, tfmq_calib_method *m)
{
    static const struct {
        const char *name;
        tfmq_calib_method m;
    } tab[] = {{"minmax", TFMQ_CALIB_MINMAX},
               {"entropy", TFMQ_CALIB_ENTROPY},
               {"percentile", TFMQ_CALIB_PERCENTILE},
               {"mse", TFMQ_CALIB_MSE}};
    for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
        if (strcmp(s, tab[i].name) == 0) {
            *m = tab[i].m;
            return 0;
        }
    }
    return -1;
}

static int qe_config(const tfmq_model *model, const qe_data *d, const char *out_root,
                     const char *cfg)
{
    char name[256], spec[256], dir[4096], path[8192];
    snprintf(spec, sizeof(spec), "%s", cfg);
    snprintf(name, sizeof(name), "%s", cfg);
    for (char *p = name; *p; p++) {
        if (*p == ':' || *p == '=' || *p == '/') {
            *p = '_';
        }
    }
    snprintf(dir, sizeof(dir), "%s/%s", out_root, name);
    mkdir(dir, 0777);

    char *method_s = NULL, *tol = NULL;
    char *colon = strchr(spec, ':');
    if (colon) {
        *colon = '\0';
        method_s = colon + 1;
        char *c2 = strchr(method_s, ':');
        if (c2) {
            *c2 = '\0';
            tol = c2 + 1;
        }
    }
    tfmq_quantize_options o;
    memset(&o, 0, sizeof(o));
    o.struct_size = sizeof(o);
    bool fp32 = false;
    if (strcmp(spec, "fp32") == 0) {
        fp32 = true;
    } else if (strcmp(spec, "fp16") == 0) {
        o.precision = TFMQ_PRECISION_FP16;
    } else if (strcmp(spec, "bf16") == 0) {
        o.precision = TFMQ_PRECISION_BF16;
    } else if (strcmp(spec, "int8") == 0 && method_s &&
               (strlen(method_s) <= 3 || strcmp(method_s + strlen(method_s) - 3, "+bc") != 0 ||
                ((method_s[strlen(method_s) - 3] = '\0'), o.bias_correction = true)) &&
               qe_parse_method(method_s, &o.calib_method) == 0) {
        o.precision = TFMQ_PRECISION_INT8;
    } else {
        fprintf(stderr, "unknown configuration '%s'\n", cfg);
        return -1;
    }
    o.calib_fn = qe_batch;
    o.calib_user_data = (void *)(uintptr_t)d;
    o.tolerance = tol;

    const char *status = "ok", *error = "";
    char errbuf[1024] = "";
    double t_quant = 0, t_run = 0;
    int engine_ok = -1, export_ok = -1, engine_same = -1;
    char export_err[512] = "", engine_err[512] = "";
    tfmq_model *qm = NULL;
    tfmq_report *rep = NULL;
    double t0 = qe_now();
    if (!fp32) {
        tfmq_status st = tfmq_quantize(model, &o, &qm, &rep);
        t_quant = qe_now() - t0;
        if (st != TFMQ_OK) {
            snprintf(errbuf, sizeof(errbuf), "quantize: %s: %s", tfmq_status_str(st),
                     tfmq_last_error());
            status = "quantize_failed";
            error = errbuf;
            goto write;
        }
        if (rep) {
            snprintf(path, sizeof(path), "%s/report.json", dir);
            FILE *f = fopen(path, "w");
            if (f) {
                fputs(tfmq_report_json(rep), f);
                fclose(f);
            }
        }
        snprintf(path, sizeof(path), "%s/model.tfmq", dir);
        st = tfmq_model_save(qm, path, TFMQ_WRITE_OVERWRITE);
        if (st != TFMQ_OK) {
            engine_ok = 0;
            snprintf(engine_err, sizeof(engine_err), "save: %s", tfmq_last_error());
        } else {
            tfmq_model *back = NULL;
            st = tfmq_model_load(path, NULL, &back);
            if (st != TFMQ_OK) {
                engine_ok = 0;
                snprintf(engine_err, sizeof(engine_err), "load: %s", tfmq_last_error());
            } else {
                engine_ok = 1;
                /* the reloaded engine must compute what the in-memory model computes */
                float *a = NULL, *b = NULL;
                size_t na = 0, nb = 0;
                if (qe_run_all(qm, d, NULL, 1, &a, &na) == 0 &&
                    qe_run_all(back, d, NULL, 1, &b, &nb) == 0 && a && b) {
                    engine_same = na == nb && memcmp(a, b, na * sizeof(float)) == 0;
                } else {
                    snprintf(engine_err, sizeof(engine_err), "run: %s", tfmq_last_error());
                }
                free(a);
                free(b);
                tfmq_model_destroy(back);
            }
        }
        snprintf(path, sizeof(path), "%s/model_qdq.onnx", dir);
        st = tfmq_model_export_onnx(qm, path, TFMQ_WRITE_OVERWRITE);
        export_ok = st == TFMQ_OK;
        if (st != TFMQ_OK) {
            snprintf(export_err, sizeof(export_err), "%s: %s", tfmq_status_str(st),
                     tfmq_last_error());
        }
    }
    t0 = qe_now();
    if (qe_run_all(qm ? qm : model, d, dir, 0, NULL, NULL) != 0) {
        snprintf(errbuf, sizeof(errbuf), "run: %s", tfmq_last_error());
        status = "run_failed";
        error = errbuf;
    }
    t_run = qe_now() - t0;
write:
    snprintf(path, sizeof(path), "%s/driver.json", dir);
    FILE *f = fopen(path, "w");
    if (f) {
        fprintf(f, "{\"config\": ");
        qe_json_str(f, cfg);
        fprintf(f, ", \"status\": ");
        qe_json_str(f, status);
        fprintf(f, ", \"error\": ");
        qe_json_str(f, error);
        fprintf(f, ", \"quantize_s\": %.3f, \"run_s\": %.3f, \"samples\": %zu", t_quant, t_run,
                d->n);
        fprintf(f, ", \"engine_ok\": %d, \"engine_same_output\": %d, \"engine_error\": ",
                engine_ok, engine_same);
        qe_json_str(f, engine_err);
        fprintf(f, ", \"export_ok\": %d, \"export_error\": ", export_ok);
        qe_json_str(f, export_err);
        fprintf(f, "}\n");
        fclose(f);
    }
    fprintf(stderr, "  %-28s %-16s quantize %7.1f s  run %7.1f s%s%s\n", cfg, status, t_quant,
            t_run, *error ? "  " : "", error);
    tfmq_report_destroy(rep);
    tfmq_model_destroy(qm);
    return strcmp(status, "ok") == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s MODEL.onnx INPUT_DIR OUT_DIR CONFIG...\n", argv[0]);
        return 2;
    }
    qe_data d;
    memset(&d, 0, sizeof(d));
    if (qe_load_dir(argv[2], &d) != 0 || d.n == 0) {
        fprintf(stderr, "%s: no usable .npy inputs\n", argv[2]);
        qe_free_data(&d);
        return 2;
    }
    mkdir(argv[3], 0777);
    tfmq_model *model = NULL;
    if (tfmq_model_load(argv[1], NULL, &model) != TFMQ_OK) {
        fprintf(stderr, "%s: %s\n", argv[1], tfmq_last_error());
        qe_free_data(&d);
        return 1;
    }
    int failures = 0;
    for (int i = 4; i < argc; i++) {
        failures += qe_config(model, &d, argv[3], argv[i]) != 0;
    }
    tfmq_model_destroy(model);
    qe_free_data(&d);
    return failures ? 1 : 0;
}
