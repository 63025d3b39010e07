/* cmd_predict.c: `tfmq predict MODEL IMAGE... --preprocess P`: decode each image (by content),
 * resize it to the model's input size, normalise it with a Keras-named preset, run the model
 * (one image per run, batch 1) and print the top-K classes with the time of the run call.
 * Outputs that are not probabilities are shown through a softmax, and the report says so. */
#include "cli_util.h"
#include "commands.h"
#include "image.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char predict_help[] =
    "usage: tfmq predict MODEL IMAGE... --preprocess caffe|tf|torch|raw|unit\n"
    "                    [--labels FILE] [--top K] [--size HxW] [--layout nchw|nhwc]\n"
    "                    [--channel-order rgb|bgr] [--output NAME]\n"
    "\n"
    "Classify images with an image model: each image (JPEG, PNG or BMP, recognised by its\n"
    "content) is resized to the model's input size with an antialiased bilinear filter (as PIL's\n"
    "resize), turned gray if the model takes one channel, normalised, and run with batch 1.\n"
    "For each image the top K classes are printed as '  rank. label (index) probability',\n"
    "followed by the time of the run call.\n"
    "\n"
    "Options:\n"
    "  -p, --preprocess P     normalisation, as keras.applications names it (required):\n"
    "                           caffe  BGR order, minus the ImageNet mean [103.939, 116.779,\n"
    "                                  123.68] (B, G, R), no scaling\n"
    "                           tf     x / 127.5 - 1\n"
    "                           torch  x / 255, minus mean (0.485, 0.456, 0.406), over std\n"
    "                                  (0.229, 0.224, 0.225)\n"
    "                           raw    0..255\n"
    "                           unit   x / 255\n"
    "  -l, --labels FILE      class names, one per line (line k names output index k)\n"
    "  -k, --top K            how many classes to show (default 5)\n"
    "      --size HxW         input height and width; needed if the model's are symbolic\n"
    "      --layout L         nchw or nhwc (default: from the input shape: [N,C,H,W] with C\n"
    "                         1 or 3 is nchw, [N,H,W,C] is nhwc)\n"
    "      --channel-order O  rgb or bgr (default: bgr for caffe, rgb otherwise)\n"
    "      --output NAME      the model output holding the scores (default: the first)\n"
    "  -h, --help             show this help\n"
    "\n"
    "If the output is not a probability vector (entries outside [0, 1] or a sum not within\n"
    "1e-3 of 1) the softmax of it is shown instead, and a line says so.\n"
    "\n"
    "Exit status: 0 success, 1 bad input or usage, 2 internal or backend error.\n";

enum {
    OPT_PREPROCESS,
    OPT_LABELS,
    OPT_TOP,
    OPT_SIZE,
    OPT_LAYOUT,
    OPT_CHANNEL_ORDER,
    OPT_OUTPUT,
    OPT_HELP
};

static const cli_option predict_opts[] = {
    {"preprocess", 'p', true, OPT_PREPROCESS},
    {"labels", 'l', true, OPT_LABELS},
    {"top", 'k', true, OPT_TOP},
    {"size", 0, true, OPT_SIZE},
    {"layout", 0, true, OPT_LAYOUT},
    {"channel-order", 0, true, OPT_CHANNEL_ORDER},
    {"output", 0, true, OPT_OUTPUT},
    {"help", 'h', false, OPT_HELP},
};

typedef struct predict_args {
    const char *model_path;
    const char **images;
    size_t n_images;
    bool have_preprocess;
    image_preprocess preprocess;
    const char *labels_path;
    int64_t top;
    bool have_size;
    int64_t size_h, size_w;
    int layout; /* -1: from the shape; else image_layout */
    int bgr;    /* -1: from the preset; else 0/1 */
    const char *output_name;
} predict_args;

typedef struct label_list {
    char *text;
    const char **lines;
    size_t n;
} label_list;

typedef struct scored {
    double p;
    size_t index;
} scored;

static void labels_free(label_list *l)
{
    free(l->text);
    free(l->lines);
    memset(l, 0, sizeof(*l));
}

/* One label per line; '\r' before '\n' and a UTF-8 BOM are dropped; a final newline does not
 * start another label. */
static int labels_load(const char *path, label_list *l)
{
    cli_err e;
    uint8_t *raw = NULL;
    size_t n = 0;
    memset(l, 0, sizeof(*l));
    tfmq_status st = cli_read_file(path, (size_t)64 << 20, &raw, &n, &e);
    if (st != TFMQ_OK) {
        return cli_report(path, st, &e);
    }
    size_t skip = (n >= 3 && raw[0] == 0xef && raw[1] == 0xbb && raw[2] == 0xbf) ? 3 : 0;
    l->text = malloc(n - skip + 1);
    size_t n_lines = 1;
    for (size_t i = skip; i < n; i++) {
        n_lines += raw[i] == '\n';
    }
    l->lines = calloc(n_lines, sizeof(char *));
    if (!l->text || !l->lines) {
        free(raw);
        labels_free(l);
        cli_error(path, "out of memory");
        return CLI_EXIT_INTERNAL;
    }
    memcpy(l->text, raw + skip, n - skip);
    l->text[n - skip] = '\0';
    free(raw);
    char *s = l->text;
    char *const end = l->text + (n - skip);
    while (s < end) {
        char *nl = memchr(s, '\n', (size_t)(end - s));
        char *stop = nl ? nl : end;
        if (stop > s && stop[-1] == '\r') {
            stop[-1] = '\0';
        }
        *stop = '\0';
        l->lines[l->n++] = s;
        s = stop + 1;
    }
    return CLI_EXIT_OK;
}

/* Descending probability, NaN last, ties by index. */
static int scored_cmp(const void *pa, const void *pb)
{
    const scored *a = pa, *b = pb;
    const bool na = isnan(a->p), nb = isnan(b->p);
    if (na != nb) {
        return na ? 1 : -1;
    }
    if (!na && a->p != b->p) {
        return a->p > b->p ? -1 : 1;
    }
    return a->index < b->index ? -1 : (a->index > b->index ? 1 : 0);
}

/* Work out layout, size and channels from the model input and the options. */
static int resolve_target(const tfmq_io_info *in, const predict_args *a, image_target *t,
                          int64_t dims[4])
{
    char shape[256];
    cli_format_shape(in->rank, in->dims, in->dim_names, shape, sizeof(shape));
    if ((in->rank != 3 && in->rank != 4) || !in->dims) {
        cli_error(a->model_path,
                  "input '%s' has shape %s; predict needs an image input "
                  "[N,C,H,W] or [N,H,W,C] (or without N)",
                  in->name, shape);
        return CLI_EXIT_USAGE;
    }
    const int32_t off = in->rank == 4 ? 1 : 0;
    const int64_t *d = in->dims + off;
    image_layout layout;
    if (a->layout >= 0) {
        layout = (image_layout)a->layout;
    } else if (d[0] == 1 || d[0] == 3) {
        layout = IMAGE_LAYOUT_NCHW;
    } else if (d[2] == 1 || d[2] == 3) {
        layout = IMAGE_LAYOUT_NHWC;
    } else {
        cli_error(a->model_path, "cannot tell whether input '%s' %s is NCHW or NHWC; pass --layout",
                  in->name, shape);
        return CLI_EXIT_USAGE;
    }
    const bool nchw = layout == IMAGE_LAYOUT_NCHW;
    const int64_t c = nchw ? d[0] : d[2], h = nchw ? d[1] : d[0], w = nchw ? d[2] : d[1];
    if (c >= 0 && c != 1 && c != 3) {
        cli_error(a->model_path,
                  "input '%s' %s has %lld channels as %s; predict feeds 1 (gray) or 3 (color)",
                  in->name, shape, (long long)c, nchw ? "NCHW" : "NHWC");
        return CLI_EXIT_USAGE;
    }
    if (off && in->dims[0] > 1) {
        cli_error(a->model_path,
                  "input '%s' %s has a fixed batch of %lld; predict feeds one image per run",
                  in->name, shape, (long long)in->dims[0]);
        return CLI_EXIT_USAGE;
    }
    if (off && in->dims[0] == 0) {
        cli_error(a->model_path, "input '%s' %s has an empty batch", in->name, shape);
        return CLI_EXIT_USAGE;
    }
    int64_t hh = h, ww = w;
    if (a->have_size) {
        if ((h >= 0 && h != a->size_h) || (w >= 0 && w != a->size_w)) {
            cli_error(a->model_path, "--size %lldx%lld does not match input '%s' %s",
                      (long long)a->size_h, (long long)a->size_w, in->name, shape);
            return CLI_EXIT_USAGE;
        }
        hh = a->size_h;
        ww = a->size_w;
    } else if (h < 0 || w < 0) {
        cli_error(a->model_path, "input '%s' %s has a symbolic height or width; pass --size HxW",
                  in->name, shape);
        return CLI_EXIT_USAGE;
    }
    if (hh < 1 || ww < 1 || hh > IMAGE_MAX_SIDE || ww > IMAGE_MAX_SIDE) {
        cli_error(a->model_path, "input '%s' %s: unusable image size %lldx%lld", in->name, shape,
                  (long long)hh, (long long)ww);
        return CLI_EXIT_USAGE;
    }
    t->width = (int32_t)ww;
    t->height = (int32_t)hh;
    t->channels = c == 1 ? 1 : 3; /* a symbolic channel count gets colour */
    t->layout = layout;
    t->preprocess = a->preprocess;
    t->bgr = a->bgr >= 0 ? a->bgr == 1 : a->preprocess == IMAGE_PRE_CAFFE;
    size_t k = 0;
    if (off) {
        dims[k++] = 1;
    }
    if (nchw) {
        dims[k++] = t->channels, dims[k++] = hh, dims[k++] = ww;
    } else {
        dims[k++] = hh, dims[k++] = ww, dims[k++] = t->channels;
    }
    return CLI_EXIT_OK;
}

static int parse_args(int argc, char **argv, predict_args *a, bool *help)
{
    cli_parser p;
    int id;
    memset(a, 0, sizeof(*a));
    a->top = 5;
    a->layout = -1;
    a->bgr = -1;
    *help = false;
    a->images = calloc((size_t)argc + 1, sizeof(char *));
    if (!a->images) {
        cli_error(NULL, "out of memory");
        return CLI_EXIT_INTERNAL;
    }
    cli_parser_init(&p, "predict", argc, argv);
    while ((id = cli_next_opt(&p, predict_opts, sizeof(predict_opts) / sizeof(predict_opts[0]))) !=
           CLI_OPT_END) {
        switch (id) {
        case OPT_PREPROCESS:
            if (!image_preprocess_parse(p.value, &a->preprocess)) {
                return cli_usage_error("predict",
                                       "unknown --preprocess '%.32s' (use caffe, tf, "
                                       "torch, raw or unit)",
                                       p.value);
            }
            a->have_preprocess = true;
            break;
        case OPT_LABELS:
            a->labels_path = p.value;
            break;
        case OPT_TOP:
            if (!cli_parse_i64(p.value, 1, 1000000, &a->top)) {
                return cli_usage_error("predict", "--top needs a positive integer, not '%.32s'",
                                       p.value);
            }
            break;
        case OPT_SIZE:
            if (!cli_parse_hw(p.value, IMAGE_MAX_SIDE, &a->size_h, &a->size_w)) {
                return cli_usage_error("predict", "--size needs HxW such as 224x224, not '%.32s'",
                                       p.value);
            }
            a->have_size = true;
            break;
        case OPT_LAYOUT:
            if (strcmp(p.value, "nchw") == 0 || strcmp(p.value, "NCHW") == 0) {
                a->layout = IMAGE_LAYOUT_NCHW;
            } else if (strcmp(p.value, "nhwc") == 0 || strcmp(p.value, "NHWC") == 0) {
                a->layout = IMAGE_LAYOUT_NHWC;
            } else {
                return cli_usage_error("predict", "--layout is nchw or nhwc, not '%.32s'", p.value);
            }
            break;
        case OPT_CHANNEL_ORDER:
            if (strcmp(p.value, "rgb") == 0 || strcmp(p.value, "RGB") == 0) {
                a->bgr = 0;
            } else if (strcmp(p.value, "bgr") == 0 || strcmp(p.value, "BGR") == 0) {
                a->bgr = 1;
            } else {
                return cli_usage_error("predict", "--channel-order is rgb or bgr, not '%.32s'",
                                       p.value);
            }
            break;
        case OPT_OUTPUT:
            a->output_name = p.value;
            break;
        case OPT_HELP:
            *help = true;
            return CLI_EXIT_OK;
        case CLI_OPT_POSITIONAL:
            if (!a->model_path) {
                a->model_path = p.value;
            } else {
                a->images[a->n_images++] = p.value;
            }
            break;
        default:
            return CLI_EXIT_USAGE;
        }
    }
    if (!a->model_path) {
        return cli_usage_error("predict", "missing MODEL");
    }
    if (a->n_images == 0) {
        return cli_usage_error("predict", "missing IMAGE");
    }
    if (!a->have_preprocess) {
        return cli_usage_error("predict", "missing --preprocess (caffe, tf, torch, raw or unit): "
                                          "it is part of the model's contract");
    }
    return CLI_EXIT_OK;
}

/* Show the top K of `n` scores of one image. */
static void print_top(const predict_args *a, const label_list *labels, bool use_labels,
                      const char *out_name, double *score, size_t n, scored *order)
{
    bool is_prob = true;
    double sum = 0.0, max = -HUGE_VAL;
    for (size_t i = 0; i < n; i++) {
        if (!(score[i] >= 0.0 && score[i] <= 1.0)) { /* also catches NaN */
            is_prob = false;
        }
        sum += score[i];
        max = score[i] > max ? score[i] : max;
    }
    if (!is_prob || fabs(sum - 1.0) > 1e-3) {
        double z = 0.0;
        for (size_t i = 0; i < n; i++) {
            score[i] = exp(score[i] - max);
            z += score[i];
        }
        for (size_t i = 0; i < n; i++) {
            score[i] /= z;
        }
        fputs("  (output '", stdout);
        cli_fputs_safe(out_name, stdout);
        fputs("' is not a probability vector: showing its softmax)\n", stdout);
    }
    for (size_t i = 0; i < n; i++) {
        order[i].p = score[i];
        order[i].index = i;
    }
    qsort(order, n, sizeof(*order), scored_cmp);
    const size_t k = (size_t)a->top < n ? (size_t)a->top : n;
    for (size_t r = 0; r < k; r++) {
        printf("  %zu. ", r + 1);
        if (use_labels) {
            cli_fputs_safe(labels->lines[order[r].index], stdout);
            fputc(' ', stdout);
        }
        printf("(%zu) %.4f\n", order[r].index, order[r].p);
    }
}

int cmd_predict(int argc, char **argv)
{
    predict_args a;
    label_list labels;
    bool help = false, warned_labels = false;
    tfmq_model *model = NULL;
    tfmq_session *sess = NULL;
    tfmq_model_info info;
    tfmq_io_info in, out;
    image_target target;
    int64_t dims[4];
    float *pixels = NULL;
    void *converted = NULL;
    double *score = NULL;
    scored *order = NULL;
    size_t score_cap = 0;
    tfmq_status st;
    int rc;

    memset(&labels, 0, sizeof(labels));
    if ((rc = parse_args(argc, argv, &a, &help)) != CLI_EXIT_OK || help) {
        if (help) {
            fputs(predict_help, stdout);
        }
        free(a.images);
        return rc;
    }
    if (a.labels_path && (rc = labels_load(a.labels_path, &labels)) != CLI_EXIT_OK) {
        free(a.images);
        return rc;
    }
    if ((rc = cli_load_model(a.model_path, &model)) != CLI_EXIT_OK) {
        goto done;
    }
    memset(&info, 0, sizeof(info));
    info.struct_size = sizeof(info);
    if ((st = tfmq_model_get_info(model, &info)) != TFMQ_OK) {
        rc = cli_report_lib(a.model_path, st);
        goto done;
    }
    if (info.n_inputs != 1) {
        cli_error(a.model_path,
                  "predict needs a model with one input, this one has %zu (use 'tfmq run')",
                  info.n_inputs);
        rc = CLI_EXIT_USAGE;
        goto done;
    }
    if (info.n_outputs == 0) {
        cli_error(a.model_path, "the model has no outputs");
        rc = CLI_EXIT_USAGE;
        goto done;
    }
    if ((rc = cli_model_io(model, TFMQ_IO_INPUT, 0, &in)) != CLI_EXIT_OK) {
        goto done;
    }
    if ((rc = cli_model_io(model, TFMQ_IO_OUTPUT, 0, &out)) != CLI_EXIT_OK) {
        goto done;
    }
    if (a.output_name) {
        bool found = false;
        for (size_t k = 0; k < info.n_outputs && !found; k++) {
            if ((rc = cli_model_io(model, TFMQ_IO_OUTPUT, k, &out)) != CLI_EXIT_OK) {
                goto done;
            }
            found = strcmp(out.name, a.output_name) == 0;
        }
        if (!found) {
            cli_error(a.model_path, "the model has no output named '%.64s'", a.output_name);
            rc = CLI_EXIT_USAGE;
            goto done;
        }
    }
    if (!cli_dtype_is_numeric(in.dtype) || in.dtype == TFMQ_DTYPE_BOOL) {
        cli_error(a.model_path, "input '%s' is %s; predict feeds numbers", in.name,
                  tfmq_dtype_name(in.dtype));
        rc = CLI_EXIT_USAGE;
        goto done;
    }
    if ((rc = resolve_target(&in, &a, &target, dims)) != CLI_EXIT_OK) {
        goto done;
    }
    const size_t n_in = (size_t)target.width * (size_t)target.height * (size_t)target.channels;
    pixels = malloc(n_in * sizeof(float));
    if (in.dtype != TFMQ_DTYPE_FLOAT32) {
        converted = malloc(n_in * tfmq_dtype_size(in.dtype));
    }
    if (!pixels || (in.dtype != TFMQ_DTYPE_FLOAT32 && !converted)) {
        cli_error(a.model_path, "out of memory");
        rc = CLI_EXIT_INTERNAL;
        goto done;
    }
    tfmq_session_options so;
    memset(&so, 0, sizeof(so));
    so.struct_size = sizeof(so);
    if ((st = tfmq_session_create(model, &so, &sess)) != TFMQ_OK) {
        rc = cli_report_lib(a.model_path, st);
        goto done;
    }

    for (size_t m = 0; m < a.n_images; m++) {
        const char *path = a.images[m];
        cli_image img;
        cli_err e;
        st = image_load(path, &img, &e);
        if (st == TFMQ_OK) {
            if (img.warning[0]) {
                cli_warn(path, "%s", img.warning);
            }
            st = image_to_tensor(&img, &target, pixels, &e);
        }
        if (st != TFMQ_OK) {
            const int code = cli_report(path, st, &e);
            rc = code > rc ? code : rc;
            image_free(&img);
            continue; /* the other images may be fine */
        }
        printf("%s (%s %dx%d)\n", path, img.format, (int)img.width, (int)img.height);
        image_free(&img);
        if (converted) {
            for (size_t i = 0; i < n_in; i++) {
                cli_elem_set(in.dtype, converted, i, (double)pixels[i]);
            }
        }
        tfmq_tensor tin = {in.name,
                           in.dtype,
                           in.rank,
                           dims,
                           converted ? converted : pixels,
                           n_in * tfmq_dtype_size(in.dtype)};
        tfmq_tensor tout = {out.name, TFMQ_DTYPE_UNDEFINED, 0, NULL, NULL, 0};
        const double t0 = cli_now_ms();
        st = tfmq_session_run(sess, &tin, 1, &tout, 1);
        const double t1 = cli_now_ms();
        if (st != TFMQ_OK) {
            const int code = cli_report_lib(a.model_path, st);
            rc = code > rc ? code : rc;
            break; /* the next image would fail the same way */
        }
        const size_t esize = tfmq_dtype_size(tout.dtype);
        if (!cli_dtype_is_numeric(tout.dtype) || esize == 0 || !tout.data) {
            cli_error(a.model_path, "output '%s' is %s; predict needs numbers", out.name,
                      tfmq_dtype_name(tout.dtype));
            rc = CLI_EXIT_USAGE;
            break;
        }
        const size_t n = tout.data_bytes / esize;
        if (n == 0) {
            cli_error(a.model_path, "output '%s' is empty", out.name);
            rc = CLI_EXIT_USAGE;
            break;
        }
        if (n > score_cap) {
            free(score);
            free(order);
            score = malloc(n * sizeof(*score));
            order = malloc(n * sizeof(*order));
            score_cap = n;
            if (!score || !order) {
                cli_error(a.model_path, "out of memory");
                rc = CLI_EXIT_INTERNAL;
                break;
            }
        }
        for (size_t i = 0; i < n; i++) {
            score[i] = cli_elem_get(tout.dtype, tout.data, i);
        }
        const bool use_labels = a.labels_path && labels.n == n;
        if (a.labels_path && !use_labels && !warned_labels) {
            cli_warn(a.labels_path, "%zu labels for %zu outputs of '%s'; showing indices", labels.n,
                     n, out.name);
            warned_labels = true;
        }
        print_top(&a, &labels, use_labels, out.name, score, n, order);
        printf("  inference: %.2f ms\n", t1 - t0);
    }
done:
    free(score);
    free(order);
    free(pixels);
    free(converted);
    tfmq_session_destroy(sess);
    tfmq_model_destroy(model);
    labels_free(&labels);
    free(a.images);
    return rc;
}
