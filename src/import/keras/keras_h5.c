/* keras_h5.c: the HDF5 reading the Keras importer needs, on our own reader (h5read.c; libhdf5
 * 1.10 trusted what it decoded: tests/fuzz/README.md): open a file (or a memory image, for the
 * weights inside a .keras zip), read string attributes (h5py writes them fixed-length NULLPAD or
 * variable-length) and float datasets as float32. Every size from the file is checked before
 * anything is allocated; results are tq_alloc'ed. */
#include <stdio.h>
#include <string.h>

#include "import/keras/keras_internal.h"

void tq_kstrs_free(const tfmq_allocator *a, tq_kstrs *l)
{
    if (!l) {
        return;
    }
    tq_free(a, l->buf, l->buf_bytes);
    tq_free(a, (void *)l->s, (l->n ? l->n : 1) * sizeof(*l->s));
    memset(l, 0, sizeof(*l));
}

void tq_kw_free(const tfmq_allocator *a, tq_kw *w)
{
    if (!w) {
        return;
    }
    tq_free(a, w->data, w->n ? w->n * sizeof(float) : 1);
    memset(w, 0, sizeof(*w));
}

tfmq_status tq_kh5_open(const tfmq_allocator *a, const char *path, const void *image,
                        size_t image_bytes, tq_h5_file **f_out)
{
    if (image) {
        return tq_h5_open_image(a, image, image_bytes, f_out);
    }
    return tq_h5_open_path(a, path, TQ_KERAS_MAX_FILE_BYTES, f_out);
}

bool tq_kh5_has_attr(tq_h5_obj loc, const char *name)
{
    tq_h5_attr at;
    bool found = false;
    return tq_h5_attr_find(loc, name, &found, &at) == TFMQ_OK && found;
}

bool tq_kh5_exists(tq_h5_obj loc, const char *path)
{
    tq_h5_obj o;
    bool found = false;
    return tq_h5_lookup(loc, path, &found, &o) == TFMQ_OK && found;
}

tfmq_status tq_kh5_open_group(tq_h5_obj loc, const char *path, const char *what, tq_h5_obj *out)
{
    bool found = false;
    tfmq_status st = tq_h5_lookup(loc, path, &found, out);
    if (st != TFMQ_OK) {
        return tq_fail_prefix(st, "keras: %s: cannot open group '%.200s'", what, path);
    }
    if (!found) {
        return tq_fail(TFMQ_ERR_PARSE, "keras: %s: group '%.200s' not found", what, path);
    }
    return TFMQ_OK;
}

/* Appending the strings of one attribute to a tq_kstrs (buf grown, s built at the end). */
typedef struct kh5_append {
    const tfmq_allocator *a;
    tq_kstrs *out;
    size_t used;        /* bytes of out->buf used; out->buf_bytes is the block's size */
} kh5_append;

static tfmq_status kh5_str_fn(void *ud, const char *s, size_t len)
{
    kh5_append *ap = ud;
    tq_kstrs *out = ap->out;
    size_t need;
    if (len > TQ_KERAS_MAX_TEXT_BYTES || !tq_add_size(ap->used, len + 1, &need) ||
        need > TQ_KERAS_MAX_TEXT_BYTES) {
        return tq_fail(TFMQ_ERR_PARSE, "too large");
    }
    if (need > out->buf_bytes) {
        size_t cap = out->buf_bytes ? out->buf_bytes : 256;
        while (cap < need) {
            cap *= 2;
        }
        char *buf = tq_realloc(ap->a, out->buf, out->buf_bytes, cap);
        if (!buf) {
            return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "out of memory");
        }
        out->buf = buf;
        out->buf_bytes = cap;
    }
    memcpy(out->buf + ap->used, s, len);
    out->buf[ap->used + len] = '\0';
    ap->used = need;
    out->n++;
    return TFMQ_OK;
}

/* Append the strings of attribute `name` (found) to ap's list. */
static tfmq_status kh5_append_attr(kh5_append *ap, tq_h5_obj loc, const char *name,
                                   const char *what)
{
    tq_h5_attr at;
    bool found = false;
    tfmq_status st = tq_h5_attr_find(loc, name, &found, &at);
    if (st == TFMQ_OK && !found) {
        st = tq_fail(TFMQ_ERR_PARSE, "attribute missing");
    }
    if (st == TFMQ_OK && (at.space.rank > 1 || at.space.n_points > (1u << 24))) {
        st = tq_fail(TFMQ_ERR_PARSE, "bad shape (rank %u)", at.space.rank);
    }
    if (st == TFMQ_OK) {
        st = tq_h5_attr_strings(&at, kh5_str_fn, ap);
    }
    if (st != TFMQ_OK) {
        tq_fail_prefix(st, "keras: %s: attribute '%s'", what, name);
    }
    return st;
}

tfmq_status tq_kh5_read_strs(const tfmq_allocator *a, tq_h5_obj loc, const char *name,
                             const char *what, tq_kstrs *out)
{
    tfmq_status st = TFMQ_OK;
    kh5_append ap = {a, out, 0};
    memset(out, 0, sizeof(*out));
    if (tq_kh5_has_attr(loc, name)) {
        st = kh5_append_attr(&ap, loc, name, what);
    } else {
        /* Keras splits attributes over 64 KiB into name0, name1, ... */
        char chunk[256];
        size_t k = 0;
        for (;; k++) {
            snprintf(chunk, sizeof(chunk), "%s%zu", name, k);
            if (!tq_kh5_has_attr(loc, chunk)) {
                break;
            }
            if ((st = kh5_append_attr(&ap, loc, chunk, what)) != TFMQ_OK) {
                break;
            }
        }
        if (st == TFMQ_OK && k == 0) {
            st = tq_fail(TFMQ_ERR_PARSE, "keras: %s: attribute '%s' is missing", what, name);
        }
    }
    size_t n = out->n;
    if (st == TFMQ_OK) {
        out->s = tq_calloc(a, n ? n : 1, sizeof(*out->s));
        if (!out->s) {
            st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "keras: out of memory");
        } else {
            size_t off = 0;
            for (size_t i = 0; i < n; i++) {
                out->s[i] = out->buf + off;
                off += strlen(out->buf + off) + 1;
            }
        }
    }
    if (st != TFMQ_OK) {
        tq_free(a, out->buf, out->buf_bytes);
        tq_free(a, (void *)out->s, sizeof(*out->s) * (n ? n : 1));
        memset(out, 0, sizeof(*out));
    }
    return st;
}

tfmq_status tq_kh5_read_f32(const tfmq_allocator *a, tq_h5_obj loc, const char *path,
                            const char *what, tq_kw *out)
{
    tfmq_status st;
    tq_h5_obj o;
    tq_h5_dset d;
    bool found = false;
    memset(out, 0, sizeof(*out));
    st = tq_h5_lookup(loc, path, &found, &o);
    if (st == TFMQ_OK && !found) {
        return tq_fail(TFMQ_ERR_PARSE, "keras: %s: dataset '%s' not found", what, path);
    }
    if (st == TFMQ_OK) {
        st = tq_h5_dset_open(o, &d);
    }
    if (st != TFMQ_OK) {
        return tq_fail_prefix(st, "keras: %s: dataset '%s'", what, path);
    }
    if (d.space.kind == 2 || d.space.rank > TQ_MAX_RANK) {
        return tq_fail(TFMQ_ERR_PARSE, "keras: %s: dataset '%s' has a bad shape", what, path);
    }
    if (d.type.cls != TQ_H5_FLOAT) {
        return tq_fail(TFMQ_ERR_UNSUPPORTED, "keras: %s: dataset '%s' is not floating point",
                       what, path);
    }
    size_t n = (size_t)d.space.n_points, bytes;
    for (unsigned i = 0; i < d.space.rank; i++) {
        if (d.space.dims[i] > (uint64_t)INT64_MAX) {
            return tq_fail(TFMQ_ERR_PARSE, "keras: %s: dataset '%s' is too large", what, path);
        }
        out->dims[i] = (int64_t)d.space.dims[i];
    }
    if (!tq_mul_size(n, sizeof(float), &bytes) || bytes > TQ_MAX_TENSOR_BYTES) {
        return tq_fail(TFMQ_ERR_PARSE, "keras: %s: dataset '%s' is too large", what, path);
    }
    out->rank = (int32_t)d.space.rank;
    out->data = tq_alloc(a, bytes ? bytes : 1);
    if (!out->data) {
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "keras: %s: out of memory (%zu bytes)", what,
                       bytes);
    }
    out->n = n;
    if ((st = tq_h5_dset_read_f32(&d, out->data)) != TFMQ_OK) {
        tq_kw_free(a, out);
        return tq_fail_prefix(st, "keras: %s: dataset '%s'", what, path);
    }
    return TFMQ_OK;
}
