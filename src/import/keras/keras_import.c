/* keras_import.c: Keras models -> IR. Reads a Keras 2/3 .h5 file (root attribute model_config,
 * weights under model_weights/<layer>, listed by each layer's weight_names) or a Keras 3 .keras
 * zip (config.json, metadata.json, model.weights.h5 with layers/<layer>/vars/<i>), and builds the
 * graph of a Sequential or functional model. Layout: the graph input stays NHWC as in Keras;
 * rank-4 activations are moved to NCHW (one Transpose, cached per tensor) before the first
 * spatial op and stay NCHW until something needs Keras order again (Flatten, Reshape, Dense,
 * graph outputs). Conv kernels are converted HWIO -> OIHW at import. Layer conversions live in
 * keras_layers.c; this file owns files, JSON and the layer call graph. */
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <zip.h>

#include "import/keras/keras_build.h"
#include "runtime/model.h"

static const unsigned char tq_hdf5_magic[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

/* A .keras file is a zip whose first member is one of Keras' own names. */
static bool tq_keras_zip_sniff(const unsigned char *p, size_t n)
{
    if (n < 30 || memcmp(p, "PK\x03\x04", 4) != 0) {
        return false;
    }
    size_t name_len = (size_t)p[26] | ((size_t)p[27] << 8);
    static const char *const names[] = {"metadata.json", "config.json", "model.weights.h5"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t k = strlen(names[i]);
        if (name_len == k && n >= 30 + k && memcmp(p + 30, names[i], k) == 0) {
            return true;
        }
    }
    return false;
}

bool tq_keras_sniff(const void *head, size_t n_head)
{
    const unsigned char *p = head;
    if (!p) {
        return false;
    }
    return (n_head >= 8 && memcmp(p, tq_hdf5_magic, 8) == 0) || tq_keras_zip_sniff(p, n_head);
}

/* ---- .keras zip members ---- */

static tfmq_status tq_zip_read(const tfmq_allocator *a, zip_t *z, const char *path,
                               const char *member, size_t limit, char **data_out,
                               size_t *bytes_out)
{
    zip_stat_t sb;
    *data_out = NULL;
    *bytes_out = 0;
    zip_stat_init(&sb);
    if (zip_stat(z, member, 0, &sb) != 0 || !(sb.valid & ZIP_STAT_SIZE)) {
        return tq_fail(TFMQ_ERR_PARSE, "keras: %s: member '%s' is missing", path, member);
    }
    if (sb.size > (zip_uint64_t)limit) {
        return tq_fail(TFMQ_ERR_UNSUPPORTED, "keras: %s: member '%s' is too large (%llu bytes)",
                       path, member, (unsigned long long)sb.size);
    }
    size_t n = (size_t)sb.size;
    char *buf = tq_alloc(a, n + 1);
    if (!buf) {
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "keras: out of memory (%zu bytes)", n + 1);
    }
    zip_file_t *zf = zip_fopen(z, member, 0);
    size_t got = 0;
    if (zf) {
        while (got < n) {
            zip_int64_t r = zip_fread(zf, buf + got, (zip_uint64_t)(n - got));
            if (r <= 0) {
                break;
            }
            got += (size_t)r;
        }
        zip_fclose(zf);
    }
    if (!zf || got != n) {
        tq_free(a, buf, n + 1);
        return tq_fail(TFMQ_ERR_PARSE, "keras: %s: cannot read member '%s' (corrupt zip?)",
                       path, member);
    }
    buf[n] = '\0';
    *data_out = buf;
    *bytes_out = n;
    return TFMQ_OK;
}

/* ---- the import ---- */

typedef struct tq_kfile {
    const tfmq_allocator *alloc;
    tq_h5_file *file;
    tq_h5_obj root;
    tq_h5_obj wroot_obj;    /* weights: model_weights (.h5) or the weights file's root */
    const tq_h5_obj *wroot; /* &wroot_obj, or NULL when the file holds no weights */
    tq_kstrs config;        /* .h5: model_config */
    tq_kstrs version;       /* .h5: keras_version */
    char *text;             /* .keras: config.json */
    size_t text_bytes;
    char *meta;             /* .keras: metadata.json */
    size_t meta_bytes;
    char *image;            /* .keras: model.weights.h5, read until the file closes */
    size_t image_bytes;
    cJSON *json;
    cJSON *meta_json;
} tq_kfile;

static void tq_kfile_close(tq_kfile *f)
{
    const tfmq_allocator *a = f->alloc;
    tq_h5_close(f->file);
    tq_free(a, f->image, f->image_bytes + 1);
    tq_kstrs_free(a, &f->config);
    tq_kstrs_free(a, &f->version);
    tq_free(a, f->text, f->text_bytes + 1);
    tq_free(a, f->meta, f->meta_bytes + 1);
    cJSON_Delete(f->json);
    cJSON_Delete(f->meta_json);
}

static tfmq_status tq_open_h5(const char *path, tq_kfile *f, const char **version_out)
{
    tfmq_status st;
    if ((st = tq_kh5_open(f->alloc, path, NULL, 0, &f->file)) != TFMQ_OK) {
        return tq_fail_prefix(st, "keras: cannot open the file as HDF5 (truncated or corrupt?)");
    }
    f->root = tq_h5_root(f->file);
    if (!tq_kh5_has_attr(f->root, "model_config")) {
        return tq_fail(TFMQ_ERR_UNSUPPORTED, "keras: the file has no model_config (a "
                       "weights-only file? save it with model.save())");
    }
    if ((st = tq_kh5_read_strs(f->alloc, f->root, "model_config", "root", &f->config)) !=
        TFMQ_OK) {
        return st;
    }
    if (f->config.n != 1) {
        return tq_fail(TFMQ_ERR_PARSE, "keras: model_config holds %zu strings, expected 1",
                       f->config.n);
    }
    if (tq_kh5_has_attr(f->root, "backend")) {
        tq_kstrs be;
        if ((st = tq_kh5_read_strs(f->alloc, f->root, "backend", "root", &be)) != TFMQ_OK) {
            return st;
        }
        bool theano = be.n == 1 && strcmp(be.s[0], "theano") == 0;
        tq_kstrs_free(f->alloc, &be);
        if (theano) {
            return tq_fail(TFMQ_ERR_UNSUPPORTED, "keras: backend 'theano' is not supported "
                           "(its conv kernels are flipped)");
        }
    }
    if (tq_kh5_has_attr(f->root, "keras_version")) {
        if ((st = tq_kh5_read_strs(f->alloc, f->root, "keras_version", "root", &f->version)) !=
            TFMQ_OK) {
            return st;
        }
        if (f->version.n == 1) {
            *version_out = f->version.s[0];
        }
    }
    f->wroot = NULL;
    if (tq_kh5_exists(f->root, "model_weights")) {
        if ((st = tq_kh5_open_group(f->root, "model_weights", "root", &f->wroot_obj)) !=
            TFMQ_OK) {
            return st;
        }
        f->wroot = &f->wroot_obj;
    }
    f->json = cJSON_ParseWithLength(f->config.s[0], strlen(f->config.s[0]));
    if (!f->json) {
        return tq_fail(TFMQ_ERR_PARSE, "keras: model_config is not valid JSON");
    }
    return TFMQ_OK;
}

static tfmq_status tq_open_zip(const char *path, tq_kfile *f, const char **version_out)
{
    tfmq_status st;
    int zerr = 0;
    zip_t *z = zip_open(path, ZIP_RDONLY, &zerr);
    if (!z) {
        return tq_fail(TFMQ_ERR_PARSE, "keras: cannot open the file as a zip (libzip error %d)",
                       zerr);
    }
    TQ_TRY(st, tq_zip_read(f->alloc, z, path, "config.json", TQ_KERAS_MAX_TEXT_BYTES, &f->text,
                           &f->text_bytes));
    if (zip_name_locate(z, "metadata.json", 0) >= 0) {
        TQ_TRY(st, tq_zip_read(f->alloc, z, path, "metadata.json", TQ_KERAS_MAX_TEXT_BYTES,
                               &f->meta, &f->meta_bytes));
        f->meta_json = cJSON_ParseWithLength(f->meta, f->meta_bytes);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(f->meta_json, "keras_version");
        if (cJSON_IsString(v)) {
            *version_out = v->valuestring;
        }
    }
    TQ_TRY(st, tq_zip_read(f->alloc, z, path, "model.weights.h5", TQ_KERAS_MAX_FILE_BYTES,
                           &f->image, &f->image_bytes));
    char name[1100]; /* for messages only: the image is read */
    snprintf(name, sizeof(name), "%.1000s/model.weights.h5", path);
    if ((st = tq_kh5_open(f->alloc, name, f->image, f->image_bytes, &f->file)) != TFMQ_OK) {
        tq_fail_prefix(st, "keras: %s is not a readable HDF5 file", name);
        goto fail;
    }
    f->root = tq_h5_root(f->file);
    f->wroot_obj = f->root;
    f->wroot = &f->wroot_obj;
    f->json = cJSON_ParseWithLength(f->text, f->text_bytes);
    if (!f->json) {
        st = tq_fail(TFMQ_ERR_PARSE, "keras: config.json is not valid JSON");
        goto fail;
    }
    zip_close(z);
    return TFMQ_OK;
fail:
    zip_discard(z);
    return st;
}

tfmq_status tq_import_keras(const char *path, tfmq_model *m)
{
    tfmq_status st;
    tq_kfile f;
    tq_graph *g = NULL;
    const char *version = "";
    unsigned char head[64];
    size_t n_head = 0;

    memset(&f, 0, sizeof(f));
    f.alloc = m->palloc;

    FILE *fp = fopen(path, "rb");
    if (!fp) {
        st = tq_fail(TFMQ_ERR_IO, "cannot open the file");
        goto fail;
    }
    n_head = fread(head, 1, sizeof(head), fp);
    fclose(fp);
    if (n_head >= 8 && memcmp(head, tq_hdf5_magic, 8) == 0) {
        m->format = "keras-h5";
        TQ_TRY(st, tq_open_h5(path, &f, &version));
    } else if (tq_keras_zip_sniff(head, n_head)) {
        m->format = "keras";
        TQ_TRY(st, tq_open_zip(path, &f, &version));
    } else {
        st = tq_fail(TFMQ_ERR_PARSE, "keras: not an HDF5 or .keras file");
        goto fail;
    }

    int major = 2;
    if (version[0] >= '0' && version[0] <= '9') {
        major = version[0] - '0';
    }
    TQ_TRY(st, tq_graph_create(&m->arena, m->palloc, &g));
    g->opset = 17;
    tq_kbuild b;
    memset(&b, 0, sizeof(b));
    b.alloc = m->palloc;
    b.g = g;
    b.keras_major = major;
    b.wroot = f.wroot;
    b.v3_weights = strcmp(m->format, "keras") == 0;
    TQ_TRY(st, tq_keras_build(&b, f.json));
    st = tq_graph_finalize(g);
    if (st != TFMQ_OK) {
        tq_fail_prefix(st, "keras");
        goto fail;
    }
    size_t n = strlen(version) + 8;
    char *prod = tq_arena_alloc(&m->arena, n);
    if (!prod) {
        st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "keras: out of memory");
        goto fail;
    }
    snprintf(prod, n, "keras%s%s", version[0] ? " " : "", version);
    m->meta.ir_version = 0;
    m->meta.opset = 17;
    m->meta.producer = prod;
    m->graph = g;
    tq_kfile_close(&f);
    return TFMQ_OK;
fail:
    tq_graph_destroy(g);
    tq_kfile_close(&f);
    if (strncmp(tfmq_last_error(), path, strlen(path)) != 0) {
        tq_fail_prefix(st, "%s", path);
    }
    return st;
}
