/* datasrc.c: a tfmq_batch_fn over image files and .npy arrays. Each model input has a stream:
 * an ordered list of chunks (an image is one sample, a .npy one sample or a batch along dim 0)
 * with prefix sums of their sample counts, so batch k is found from k alone and iteration can
 * restart at batch 0 at any time. .npy data is read once at open and kept while the total stays
 * under DS_CACHE_BYTES; beyond that it is re-read when needed. Images are decoded per batch.
 * The datasrc owns every buffer it hands out; they stay valid until the next batch call. */
#include "datasrc.h"

#include "npy.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define DS_CACHE_BYTES ((size_t)1 << 30) /* .npy data kept in memory between iterations */
#define DS_DEFAULT_BATCH 32             /* batch for a symbolic batch dimension */
#define DS_MAX_BATCH 65536

const char datasrc_options_help[] =
    "  -p, --preprocess P      image normalisation: caffe, tf, torch, raw or unit (as predict;\n"
    "                          required when the data holds images)\n"
    "  --size HxW              image height and width (for symbolic input sizes)\n"
    "  --layout nchw|nhwc      override the image layout found from the input shape\n"
    "  --channel-order rgb|bgr override the channel order (default: bgr for caffe, else rgb)\n"
    "  --batch N               samples per batch when the batch dimension is symbolic\n"
    "                          (default 32; a fixed batch dimension is used as it is)\n";

void datasrc_options_init(datasrc_options *o)
{
    memset(o, 0, sizeof(*o));
    o->layout = -1;
    o->bgr = -1;
}

bool datasrc_parse_option(const char *command, int id, const char *value, datasrc_options *o,
                          int *rc)
{
    *rc = CLI_EXIT_OK;
    switch (id) {
    case DATASRC_OPT_PREPROCESS:
        if (!image_preprocess_parse(value, &o->preprocess)) {
            *rc = cli_usage_error(command,
                                  "unknown --preprocess '%.32s' (use caffe, tf, torch, raw or unit)",
                                  value);
        }
        o->have_preprocess = true;
        return true;
    case DATASRC_OPT_SIZE:
        if (!cli_parse_hw(value, IMAGE_MAX_SIDE, &o->size_h, &o->size_w)) {
            *rc = cli_usage_error(command, "--size needs HxW such as 224x224, not '%.32s'", value);
        }
        o->have_size = true;
        return true;
    case DATASRC_OPT_LAYOUT:
        if (strcasecmp(value, "nchw") == 0) {
            o->layout = IMAGE_LAYOUT_NCHW;
        } else if (strcasecmp(value, "nhwc") == 0) {
            o->layout = IMAGE_LAYOUT_NHWC;
        } else {
            *rc = cli_usage_error(command, "--layout is nchw or nhwc, not '%.32s'", value);
        }
        return true;
    case DATASRC_OPT_CHANNEL_ORDER:
        if (strcasecmp(value, "rgb") == 0) {
            o->bgr = 0;
        } else if (strcasecmp(value, "bgr") == 0) {
            o->bgr = 1;
        } else {
            *rc = cli_usage_error(command, "--channel-order is rgb or bgr, not '%.32s'", value);
        }
        return true;
    case DATASRC_OPT_BATCH:
        if (!cli_parse_i64(value, 1, DS_MAX_BATCH, &o->batch)) {
            *rc = cli_usage_error(command, "--batch needs an integer in 1..%d, not '%.32s'",
                                  DS_MAX_BATCH, value);
        }
        return true;
    default:
        return false;
    }
}

typedef struct ds_chunk {
    char *path;
    bool is_image;
    bool batched;   /* .npy whose dim 0 is the batch */
    uint64_t n;     /* samples */
    npy_array arr;  /* .npy: dtype, rank, dims always; data while cached or loaded */
    bool cached;    /* data kept for the datasrc's lifetime */
} ds_chunk;

typedef struct ds_stream {
    tfmq_io_info io;
    ds_chunk *chunks;
    size_t n_chunks;
    size_t cap_chunks;
    uint64_t *start; /* n_chunks + 1 prefix sums of chunk sample counts */
    uint64_t n_samples;
    int64_t sample_dims[NPY_MAX_RANK]; /* dims of one sample (io.rank - 1 of them) */
    bool sample_known;                  /* every entry of sample_dims is resolved */
    size_t sample_elems;
    bool has_target;
    image_target target;
    int64_t dims[NPY_MAX_RANK]; /* dims of the current batch */
    void *buf;                  /* batch buffer, batch * sample_elems elements */
    size_t buf_bytes;
    float *pix; /* one image sample as float */
    ds_chunk *loaded; /* uncached chunk whose data is loaded now */
} ds_stream;

struct datasrc {
    ds_stream *streams;
    size_t n_streams;
    int64_t batch;
    bool fixed_batch;
    uint64_t n_samples;
    size_t cached_bytes;
    char err[512];
};

/* ---- building ---- */

static bool has_ext(const char *name, const char *ext)
{
    const size_t n = strlen(name), k = strlen(ext);
    return n > k && strcasecmp(name + n - k, ext) == 0;
}

static bool is_image_name(const char *name)
{
    return has_ext(name, ".jpg") || has_ext(name, ".jpeg") || has_ext(name, ".png") ||
           has_ext(name, ".bmp");
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static tfmq_status add_chunk(ds_stream *s, const char *path, bool is_image, cli_err *e)
{
    if (s->n_chunks == s->cap_chunks) {
        size_t cap = s->cap_chunks ? 2 * s->cap_chunks : 16;
        ds_chunk *nc = realloc(s->chunks, cap * sizeof(*nc));
        if (!nc) {
            return cli_fail(e, TFMQ_ERR_OUT_OF_MEMORY, "out of memory");
        }
        s->chunks = nc;
        s->cap_chunks = cap;
    }
    ds_chunk *c = &s->chunks[s->n_chunks];
    memset(c, 0, sizeof(*c));
    c->path = strdup(path);
    if (!c->path) {
        return cli_fail(e, TFMQ_ERR_OUT_OF_MEMORY, "out of memory");
    }
    c->is_image = is_image;
    s->n_chunks++;
    return TFMQ_OK;
}

/* A directory: its image and .npy files, sorted by name; hidden files and others ignored. */
static tfmq_status add_dir(ds_stream *s, const char *dir, cli_err *e)
{
    tfmq_status st = TFMQ_OK;
    char **names = NULL;
    size_t n = 0, cap = 0;
    DIR *d = opendir(dir);
    if (!d) {
        return cli_fail(e, TFMQ_ERR_IO, "%s: cannot read directory: %s", dir, strerror(errno));
    }
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno) {
                st = cli_fail(e, TFMQ_ERR_IO, "%s: cannot read directory: %s", dir,
                              strerror(errno));
            }
            break;
        }
        if (de->d_name[0] == '.' || !(is_image_name(de->d_name) || has_ext(de->d_name, ".npy"))) {
            continue;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **nn = realloc(names, cap * sizeof(*nn));
            if (!nn) {
                st = cli_fail(e, TFMQ_ERR_OUT_OF_MEMORY, "out of memory");
                break;
            }
            names = nn;
        }
        names[n] = strdup(de->d_name);
        if (!names[n]) {
            st = cli_fail(e, TFMQ_ERR_OUT_OF_MEMORY, "out of memory");
            break;
        }
        n++;
    }
    closedir(d);
    if (st == TFMQ_OK && n == 0) {
        st = cli_fail(e, TFMQ_ERR_INVALID_ARG,
                      "%s: no image (.jpg .jpeg .png .bmp) or .npy files in the directory", dir);
    }
    if (st == TFMQ_OK) {
        qsort(names, n, sizeof(*names), cmp_str);
    }
    const size_t dlen = strlen(dir);
    const bool slash = dlen > 0 && dir[dlen - 1] == '/';
    for (size_t i = 0; st == TFMQ_OK && i < n; i++) {
        const size_t len = dlen + strlen(names[i]) + 2;
        char *p = malloc(len);
        if (!p) {
            st = cli_fail(e, TFMQ_ERR_OUT_OF_MEMORY, "out of memory");
            break;
        }
        snprintf(p, len, "%s%s%s", dir, slash ? "" : "/", names[i]);
        struct stat sb;
        if (stat(p, &sb) == 0 && S_ISREG(sb.st_mode)) {
            st = add_chunk(s, p, is_image_name(names[i]), e);
        }
        free(p);
    }
    for (size_t i = 0; i < n; i++) {
        free(names[i]);
    }
    free(names);
    return st;
}

static tfmq_status add_path(ds_stream *s, const char *path, cli_err *e)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        return cli_fail(e, TFMQ_ERR_IO, "%s: %s", path, strerror(errno));
    }
    if (S_ISDIR(sb.st_mode)) {
        return add_dir(s, path, e);
    }
    /* a file named on the command line: .npy or image by content, anything else refused */
    uint8_t magic[8] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) {
        return cli_fail(e, TFMQ_ERR_IO, "%s: %s", path, strerror(errno));
    }
    const size_t got = fread(magic, 1, sizeof(magic), f);
    fclose(f);
    if (got >= 6 && memcmp(magic, "\x93NUMPY", 6) == 0) {
        return add_chunk(s, path, false, e);
    }
    if ((got >= 3 && magic[0] == 0xff && magic[1] == 0xd8 && magic[2] == 0xff) ||
        (got >= 8 && memcmp(magic, "\x89PNG\r\n\x1a\n", 8) == 0) ||
        (got >= 2 && magic[0] == 'B' && magic[1] == 'M')) {
        return add_chunk(s, path, true, e);
    }
    return cli_fail(e, TFMQ_ERR_INVALID_ARG,
                    "%s: neither a .npy array nor an image (JPEG, PNG, BMP) nor a directory", path);
}

/* Check `got` (n dims of one sample) against the model's sample dims and the stream's. */
static tfmq_status check_sample_dims(ds_stream *s, const char *path, const int64_t *got,
                                     cli_err *e)
{
    const int32_t n = s->io.rank - 1;
    char want[256], have[256];
    for (int32_t d = 0; d < n; d++) {
        const int64_t m = s->io.dims[d + 1];
        const int64_t prev = s->sample_known ? s->sample_dims[d] : m;
        if ((m >= 0 && got[d] != m) || (prev >= 0 && got[d] != prev)) {
            cli_format_shape(s->io.rank, s->io.dims, s->io.dim_names, want, sizeof(want));
            cli_format_shape(n, got, NULL, have, sizeof(have));
            if (m >= 0 && got[d] != m) {
                return cli_fail(e, TFMQ_ERR_INVALID_ARG,
                                "%s: a sample has shape %s; input '%s' is %s (batch first)", path,
                                have, s->io.name, want);
            }
            return cli_fail(e, TFMQ_ERR_INVALID_ARG,
                            "%s: a sample has shape %s, earlier samples of input '%s' differ", path,
                            have, s->io.name);
        }
    }
    if (!s->sample_known) {
        memcpy(s->sample_dims, got, (size_t)n * sizeof(int64_t));
        s->sample_known = true;
    }
    return TFMQ_OK;
}

/* The image target of the stream, from the input shape and the options (as predict does). */
static tfmq_status resolve_target(ds_stream *s, const char *path, const datasrc_options *o,
                                  cli_err *e)
{
    char shape[256];
    cli_format_shape(s->io.rank, s->io.dims, s->io.dim_names, shape, sizeof(shape));
    if (!o->have_preprocess) {
        return cli_fail(e, TFMQ_ERR_INVALID_ARG,
                        "%s: images need --preprocess (caffe, tf, torch, raw or unit): it is part "
                        "of the model's contract",
                        path);
    }
    if (s->io.rank != 4) {
        return cli_fail(e, TFMQ_ERR_INVALID_ARG,
                        "%s: input '%s' has shape %s; images need [N,C,H,W] or [N,H,W,C]", path,
                        s->io.name, shape);
    }
    const int64_t *d = s->io.dims + 1;
    image_layout layout;
    if (o->layout >= 0) {
        layout = (image_layout)o->layout;
    } else if (d[0] == 1 || d[0] == 3) {
        layout = IMAGE_LAYOUT_NCHW;
    } else if (d[2] == 1 || d[2] == 3) {
        layout = IMAGE_LAYOUT_NHWC;
    } else {
        return cli_fail(e, TFMQ_ERR_INVALID_ARG,
                        "cannot tell whether input '%s' %s is NCHW or NHWC; pass --layout",
                        s->io.name, shape);
    }
    const bool nchw = layout == IMAGE_LAYOUT_NCHW;
    const int64_t c = nchw ? d[0] : d[2], h = nchw ? d[1] : d[0], w = nchw ? d[2] : d[1];
    if (c >= 0 && c != 1 && c != 3) {
        return cli_fail(e, TFMQ_ERR_INVALID_ARG,
                        "input '%s' %s has %lld channels as %s; images give 1 (gray) or 3", s->io.name,
                        shape, (long long)c, nchw ? "NCHW" : "NHWC");
    }
    int64_t hh = h, ww = w;
    if (o->have_size) {
        if ((h >= 0 && h != o->size_h) || (w >= 0 && w != o->size_w)) {
            return cli_fail(e, TFMQ_ERR_INVALID_ARG, "--size %lldx%lld does not match input '%s' %s",
                            (long long)o->size_h, (long long)o->size_w, s->io.name, shape);
        }
        hh = o->size_h;
        ww = o->size_w;
    } else if (h < 0 || w < 0) {
        return cli_fail(e, TFMQ_ERR_INVALID_ARG,
                        "input '%s' %s has a symbolic height or width; pass --size HxW",
                        s->io.name, shape);
    }
    image_target *t = &s->target;
    t->width = (int32_t)ww;
    t->height = (int32_t)hh;
    t->channels = c == 1 ? 1 : 3;
    t->layout = layout;
    t->preprocess = o->preprocess;
    t->bgr = o->bgr >= 0 ? o->bgr == 1 : o->preprocess == IMAGE_PRE_CAFFE;
    s->has_target = true;
    int64_t sd[3];
    if (nchw) {
        sd[0] = t->channels, sd[1] = hh, sd[2] = ww;
    } else {
        sd[0] = hh, sd[1] = ww, sd[2] = t->channels;
    }
    return check_sample_dims(s, path, sd, e);
}

/* Read the .npy of a chunk (header and data); keep the data if the cache has room. */
static tfmq_status probe_npy(datasrc *ds, ds_stream *s, ds_chunk *c, cli_err *e)
{
    cli_err ne;
    tfmq_status st = npy_read(c->path, &c->arr, &ne);
    if (st != TFMQ_OK) {
        return cli_fail(e, st, "%s: %s", c->path, ne.msg);
    }
    if (!cli_dtype_is_numeric(c->arr.dtype) || !cli_dtype_is_numeric(s->io.dtype)) {
        return cli_fail(e, TFMQ_ERR_INVALID_ARG, "%s: a %s array cannot feed %s input '%s'",
                        c->path, tfmq_dtype_name(c->arr.dtype), tfmq_dtype_name(s->io.dtype),
                        s->io.name);
    }
    if (c->arr.rank == s->io.rank) {
        c->batched = true;
        c->n = (uint64_t)c->arr.dims[0];
        st = check_sample_dims(s, c->path, c->arr.dims + 1, e);
    } else if (c->arr.rank == s->io.rank - 1) {
        c->batched = false;
        c->n = 1;
        st = check_sample_dims(s, c->path, c->arr.dims, e);
    } else {
        char want[256], have[256];
        cli_format_shape(s->io.rank, s->io.dims, s->io.dim_names, want, sizeof(want));
        cli_format_shape(c->arr.rank, c->arr.dims, NULL, have, sizeof(have));
        return cli_fail(e, TFMQ_ERR_INVALID_ARG,
                        "%s: array of shape %s is neither one sample nor a batch of input '%s' %s",
                        c->path, have, s->io.name, want);
    }
    if (st != TFMQ_OK) {
        return st;
    }
    if (ds->cached_bytes + c->arr.data_bytes <= DS_CACHE_BYTES) {
        ds->cached_bytes += c->arr.data_bytes;
        c->cached = true;
    } else {
        free(c->arr.data);
        c->arr.data = NULL;
    }
    return TFMQ_OK;
}

static void stream_free(ds_stream *s)
{
    for (size_t i = 0; i < s->n_chunks; i++) {
        free(s->chunks[i].path);
        free(s->chunks[i].arr.data);
    }
    free(s->chunks);
    free(s->start);
    free(s->buf);
    free(s->pix);
}

void datasrc_close(datasrc *ds)
{
    if (!ds) {
        return;
    }
    for (size_t i = 0; i < ds->n_streams; i++) {
        stream_free(&ds->streams[i]);
    }
    free(ds->streams);
    free(ds);
}

/* Which stream a PATH or NAME=PATH argument feeds, and the path part. */
static tfmq_status route(datasrc *ds, const char *arg, size_t *stream_out, const char **path_out,
                         cli_err *e)
{
    for (const char *eq = strchr(arg, '='); eq; eq = strchr(eq + 1, '=')) {
        const size_t len = (size_t)(eq - arg);
        for (size_t i = 0; i < ds->n_streams; i++) {
            const char *nm = ds->streams[i].io.name;
            if (strlen(nm) == len && memcmp(nm, arg, len) == 0) {
                *stream_out = i;
                *path_out = eq + 1;
                return TFMQ_OK;
            }
        }
    }
    if (ds->n_streams == 1) {
        *stream_out = 0;
        *path_out = arg;
        return TFMQ_OK;
    }
    return cli_fail(e, TFMQ_ERR_INVALID_ARG,
                    "'%.200s': the model has %zu inputs; give each as INPUTNAME=PATH", arg,
                    ds->n_streams);
}

tfmq_status datasrc_open(const tfmq_model *model, const char *const *paths, size_t n_paths,
                         const datasrc_options *o, datasrc **out, cli_err *e)
{
    tfmq_status st;
    tfmq_model_info info;
    datasrc *ds = NULL;
    *out = NULL;
    memset(&info, 0, sizeof(info));
    info.struct_size = sizeof(info);
    if ((st = tfmq_model_get_info(model, &info)) != TFMQ_OK) {
        return cli_fail(e, st, "%s", tfmq_last_error());
    }
    if (info.n_inputs == 0) {
        return cli_fail(e, TFMQ_ERR_INVALID_ARG, "the model has no inputs to feed");
    }
    if (n_paths == 0) {
        return cli_fail(e, TFMQ_ERR_INVALID_ARG, "no data paths given");
    }
    ds = calloc(1, sizeof(*ds));
    if (!ds || !(ds->streams = calloc(info.n_inputs, sizeof(ds_stream)))) {
        free(ds);
        return cli_fail(e, TFMQ_ERR_OUT_OF_MEMORY, "out of memory");
    }
    ds->n_streams = info.n_inputs;
    for (size_t i = 0; i < ds->n_streams; i++) {
        ds_stream *s = &ds->streams[i];
        s->io.struct_size = sizeof(s->io);
        if ((st = tfmq_model_io(model, TFMQ_IO_INPUT, i, &s->io)) != TFMQ_OK) {
            cli_fail(e, st, "%s", tfmq_last_error());
            goto fail;
        }
        if (s->io.rank < 1 || !s->io.dims || s->io.rank > NPY_MAX_RANK) {
            st = cli_fail(e, TFMQ_ERR_UNSUPPORTED,
                          "input '%s' has no batch dimension (rank %d); data sources feed "
                          "[batch, ...] inputs",
                          s->io.name, (int)s->io.rank);
            goto fail;
        }
        if (!cli_dtype_is_numeric(s->io.dtype) || s->io.dtype == TFMQ_DTYPE_BOOL) {
            st = cli_fail(e, TFMQ_ERR_UNSUPPORTED, "input '%s' is %s; data sources feed numbers",
                          s->io.name, tfmq_dtype_name(s->io.dtype));
            goto fail;
        }
        /* the batch: a fixed dim 0 is used as it is; a symbolic one takes --batch (or 32) */
        const int64_t b0 = s->io.dims[0];
        if (i == 0 || ds->batch <= 0) {
            if (b0 >= 0) {
                ds->batch = b0;
                ds->fixed_batch = true;
                if (o->batch && o->batch != b0) {
                    st = cli_fail(e, TFMQ_ERR_INVALID_ARG,
                                  "--batch %lld: input '%s' has a fixed batch of %lld",
                                  (long long)o->batch, s->io.name, (long long)b0);
                    goto fail;
                }
            } else {
                ds->batch = o->batch ? o->batch : DS_DEFAULT_BATCH;
            }
        }
    }
    if (ds->batch <= 0) {
        st = cli_fail(e, TFMQ_ERR_INVALID_ARG, "the model's batch dimension is 0");
        goto fail;
    }
    for (size_t k = 0; k < n_paths; k++) {
        size_t si = 0;
        const char *path = NULL;
        if ((st = route(ds, paths[k], &si, &path, e)) != TFMQ_OK ||
            (st = add_path(&ds->streams[si], path, e)) != TFMQ_OK) {
            goto fail;
        }
    }
    for (size_t i = 0; i < ds->n_streams; i++) {
        ds_stream *s = &ds->streams[i];
        if (s->n_chunks == 0) {
            st = cli_fail(e, TFMQ_ERR_INVALID_ARG, "no data for input '%s' (give %s=PATH)",
                          s->io.name, s->io.name);
            goto fail;
        }
        s->start = calloc(s->n_chunks + 1, sizeof(uint64_t));
        if (!s->start) {
            st = cli_fail(e, TFMQ_ERR_OUT_OF_MEMORY, "out of memory");
            goto fail;
        }
        for (size_t c = 0; c < s->n_chunks; c++) {
            ds_chunk *ch = &s->chunks[c];
            if (ch->is_image) {
                if (!s->has_target && (st = resolve_target(s, ch->path, o, e)) != TFMQ_OK) {
                    goto fail;
                }
                ch->n = 1;
            } else if ((st = probe_npy(ds, s, ch, e)) != TFMQ_OK) {
                goto fail;
            }
            s->start[c] = s->n_samples;
            s->n_samples += ch->n;
        }
        s->start[s->n_chunks] = s->n_samples;
        if (i > 0 && s->n_samples != ds->n_samples) {
            st = cli_fail(e, TFMQ_ERR_INVALID_ARG,
                          "input '%s' has %llu samples, input '%s' has %llu", s->io.name,
                          (unsigned long long)s->n_samples, ds->streams[0].io.name,
                          (unsigned long long)ds->n_samples);
            goto fail;
        }
        ds->n_samples = s->n_samples;
        /* one sample's elements and the batch buffer */
        size_t elems = 1;
        for (int32_t d = 0; d + 1 < s->io.rank; d++) {
            if (s->sample_dims[d] > 0 && elems > SIZE_MAX / 2 / (size_t)s->sample_dims[d]) {
                st = cli_fail(e, TFMQ_ERR_INVALID_ARG, "input '%s': samples are too large",
                              s->io.name);
                goto fail;
            }
            elems *= (size_t)s->sample_dims[d];
        }
        s->sample_elems = elems;
        const size_t esize = tfmq_dtype_size(s->io.dtype);
        if (elems && (size_t)ds->batch > SIZE_MAX / 4 / elems / esize) {
            st = cli_fail(e, TFMQ_ERR_INVALID_ARG, "input '%s': a batch is too large", s->io.name);
            goto fail;
        }
        s->buf_bytes = (size_t)ds->batch * elems * esize;
        s->buf = malloc(s->buf_bytes ? s->buf_bytes : 1);
        if (s->has_target) {
            s->pix = malloc((elems ? elems : 1) * sizeof(float));
        }
        if (!s->buf || (s->has_target && !s->pix)) {
            st = cli_fail(e, TFMQ_ERR_OUT_OF_MEMORY, "out of memory for a batch of input '%s'",
                          s->io.name);
            goto fail;
        }
    }
    if (ds->n_samples == 0) {
        st = cli_fail(e, TFMQ_ERR_INVALID_ARG, "the data holds no samples");
        goto fail;
    }
    if (ds->fixed_batch && ds->n_samples < (uint64_t)ds->batch) {
        st = cli_fail(e, TFMQ_ERR_INVALID_ARG,
                      "the data holds %llu samples, fewer than the model's fixed batch of %lld",
                      (unsigned long long)ds->n_samples, (long long)ds->batch);
        goto fail;
    }
    *out = ds;
    return TFMQ_OK;
fail:
    datasrc_close(ds);
    return st;
}

uint64_t datasrc_n_samples(const datasrc *ds)
{
    if (!ds) {
        return 0;
    }
    /* a fixed batch drops the last partial batch */
    return ds->fixed_batch ? ds->n_samples / (uint64_t)ds->batch * (uint64_t)ds->batch
                           : ds->n_samples;
}

int64_t datasrc_batch_size(const datasrc *ds)
{
    return ds ? ds->batch : 0;
}

const char *datasrc_error(const datasrc *ds)
{
    return ds ? ds->err : "";
}

/* ---- iteration ---- */

static tfmq_status ds_fail(datasrc *ds, tfmq_status st, const char *fmt, ...) CLI_PRINTF(3, 4);

static tfmq_status ds_fail(datasrc *ds, tfmq_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ds->err, sizeof(ds->err), fmt, ap);
    va_end(ap);
    return st;
}

static size_t find_chunk(const ds_stream *s, uint64_t sample)
{
    size_t lo = 0, hi = s->n_chunks; /* start[lo] <= sample < start[hi] */
    while (hi - lo > 1) {
        const size_t mid = lo + (hi - lo) / 2;
        if (s->start[mid] <= sample) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* Make sure the data of an .npy chunk is in memory (re-read if it was not cached). */
static tfmq_status ensure_loaded(datasrc *ds, ds_stream *s, ds_chunk *c)
{
    if (c->arr.data) {
        return TFMQ_OK;
    }
    if (s->loaded && s->loaded != c) {
        free(s->loaded->arr.data);
        s->loaded->arr.data = NULL;
        s->loaded = NULL;
    }
    npy_array a;
    cli_err e;
    tfmq_status st = npy_read(c->path, &a, &e);
    if (st != TFMQ_OK) {
        return ds_fail(ds, st, "%s: %s", c->path, e.msg);
    }
    if (a.dtype != c->arr.dtype || a.data_bytes != c->arr.data_bytes) {
        npy_free(&a);
        return ds_fail(ds, TFMQ_ERR_IO, "%s: the file changed while in use", c->path);
    }
    c->arr.data = a.data;
    s->loaded = c;
    return TFMQ_OK;
}

/* Copy `n` samples starting at global sample `first` into the stream's buffer. */
static tfmq_status fill(datasrc *ds, ds_stream *s, uint64_t first, uint64_t n)
{
    const size_t esize = tfmq_dtype_size(s->io.dtype);
    uint8_t *dst = s->buf;
    for (uint64_t k = 0; k < n; k++) {
        const uint64_t g = first + k;
        ds_chunk *c = &s->chunks[find_chunk(s, g)];
        const size_t off = (size_t)(g - s->start[c - s->chunks]) * s->sample_elems;
        uint8_t *out = dst + (size_t)k * s->sample_elems * esize;
        if (c->is_image) {
            cli_image img;
            cli_err e;
            tfmq_status st = image_load(c->path, &img, &e);
            if (st == TFMQ_OK) {
                st = image_to_tensor(&img, &s->target, s->pix, &e);
            }
            image_free(&img);
            if (st != TFMQ_OK) {
                return ds_fail(ds, st, "%s: %s", c->path, e.msg);
            }
            if (s->io.dtype == TFMQ_DTYPE_FLOAT32) {
                memcpy(out, s->pix, s->sample_elems * sizeof(float));
            } else {
                for (size_t i = 0; i < s->sample_elems; i++) {
                    cli_elem_set(s->io.dtype, out, i, (double)s->pix[i]);
                }
            }
            continue;
        }
        tfmq_status st = ensure_loaded(ds, s, c);
        if (st != TFMQ_OK) {
            return st;
        }
        if (c->arr.dtype == s->io.dtype) {
            memcpy(out, (const uint8_t *)c->arr.data + off * esize, s->sample_elems * esize);
        } else {
            for (size_t i = 0; i < s->sample_elems; i++) {
                cli_elem_set(s->io.dtype, out, i, cli_elem_get(c->arr.dtype, c->arr.data, off + i));
            }
        }
    }
    return TFMQ_OK;
}

tfmq_status datasrc_batch(void *user_data, size_t batch_index, tfmq_tensor *inputs,
                          size_t n_inputs, bool *done)
{
    datasrc *ds = user_data;
    ds->err[0] = '\0';
    *done = false;
    if (n_inputs != ds->n_streams) {
        return ds_fail(ds, TFMQ_ERR_INVALID_ARG, "the library asks for %zu inputs, the data has %zu",
                       n_inputs, ds->n_streams);
    }
    const uint64_t b = (uint64_t)ds->batch;
    if ((uint64_t)batch_index > UINT64_MAX / b || (uint64_t)batch_index * b >= ds->n_samples) {
        *done = true;
        return TFMQ_OK;
    }
    const uint64_t first = (uint64_t)batch_index * b;
    uint64_t n = ds->n_samples - first < b ? ds->n_samples - first : b;
    if (ds->fixed_batch && n < b) {
        *done = true; /* a fixed batch cannot take the remainder */
        return TFMQ_OK;
    }
    for (size_t i = 0; i < n_inputs; i++) {
        ds_stream *s = NULL;
        for (size_t k = 0; k < ds->n_streams && !s; k++) {
            if (inputs[i].name && strcmp(inputs[i].name, ds->streams[k].io.name) == 0) {
                s = &ds->streams[k];
            }
        }
        if (!s) {
            return ds_fail(ds, TFMQ_ERR_INVALID_ARG, "the library asks for an unknown input '%s'",
                           inputs[i].name ? inputs[i].name : "(null)");
        }
        const size_t esize = tfmq_dtype_size(s->io.dtype);
        s->dims[0] = (int64_t)n;
        memcpy(s->dims + 1, s->sample_dims, (size_t)(s->io.rank - 1) * sizeof(int64_t));
        inputs[i].dtype = s->io.dtype;
        inputs[i].rank = s->io.rank;
        inputs[i].dims = s->dims;
        inputs[i].data_bytes = (size_t)n * s->sample_elems * esize;
        /* zero copy when the whole batch lies in one loaded .npy of the input's dtype */
        ds_chunk *c = &s->chunks[find_chunk(s, first)];
        const uint64_t c0 = s->start[c - s->chunks];
        if (!c->is_image && c->arr.dtype == s->io.dtype && first + n <= c0 + c->n) {
            tfmq_status st = ensure_loaded(ds, s, c);
            if (st != TFMQ_OK) {
                return st;
            }
            inputs[i].data = (uint8_t *)c->arr.data + (size_t)(first - c0) * s->sample_elems * esize;
            continue;
        }
        tfmq_status st = fill(ds, s, first, n);
        if (st != TFMQ_OK) {
            return st;
        }
        inputs[i].data = s->buf;
    }
    return TFMQ_OK;
}

/* ---- progress ---- */

void cli_progress_init(cli_progress *p, uint64_t fallback_total)
{
    memset(p, 0, sizeof(*p));
    p->enabled = isatty(fileno(stderr)) != 0;
    p->fallback_total = fallback_total;
}

void cli_progress_fn(void *user_data, const char *stage, uint64_t done, uint64_t total)
{
    cli_progress *p = user_data;
    if (!p || !p->enabled) {
        return;
    }
    if (!stage) {
        stage = "";
    }
    const bool same = strcmp(stage, p->stage) == 0;
    const double now = cli_now_ms();
    if (p->fallback_total && (total == 0 || total > p->fallback_total)) {
        total = strcmp(stage, "calibrate") == 0 ? p->fallback_total : total;
    }
    if (same && now - p->last_ms < 100.0 && (total == 0 || done < total)) {
        return; /* at most ten redraws a second */
    }
    snprintf(p->stage, sizeof(p->stage), "%s", stage);
    p->last_ms = now;
    if (total) {
        enum { W = 30 };
        char bar[W + 1];
        const uint64_t d = done > total ? total : done;
        const size_t fillw = (size_t)(d * W / total);
        for (size_t i = 0; i < W; i++) {
            bar[i] = i < fillw ? '#' : '.';
        }
        bar[W] = '\0';
        fprintf(stderr, "\r%-10s [%s] %llu/%llu samples\033[K", stage, bar,
                (unsigned long long)d, (unsigned long long)total);
    } else if (strcmp(stage, "evaluate") == 0) {
        fprintf(stderr, "\r%-10s fidelity against FP32 (round %llu)...\033[K", stage,
                (unsigned long long)done + 1);
    } else {
        fprintf(stderr, "\r%-10s %llu\033[K", stage, (unsigned long long)done);
    }
    fflush(stderr);
    p->drawn = true;
}

void cli_progress_end(cli_progress *p)
{
    if (p && p->enabled && p->drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
        p->drawn = false;
    }
}
