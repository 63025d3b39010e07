/* keras_h5.c: the HDF5 reading the Keras importer needs: open a file (or a memory image, for the
 * weights inside a .keras zip), read string attributes (h5py writes them fixed-length NULLPAD or
 * variable-length) and float datasets as float32. Every size from the file is checked before
 * anything is allocated; results are tq_alloc'ed. The caller turns HDF5's error printing off. */
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

hid_t tq_kh5_open(const char *path, const void *image, size_t image_bytes)
{
    if (!image) {
        return H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    }
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) {
        return -1;
    }
    hid_t f = -1;
    if (H5Pset_fapl_core(fapl, 1 << 16, 0) >= 0 &&
        H5Pset_file_image(fapl, (void *)(uintptr_t)image, image_bytes) >= 0) {
        f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    }
    H5Pclose(fapl);
    return f;
}

bool tq_kh5_has_attr(hid_t loc, const char *name)
{
    return H5Aexists(loc, name) > 0;
}

bool tq_kh5_exists(hid_t loc, const char *path)
{
    char buf[1024];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(buf)) {
        return false;
    }
    memcpy(buf, path, n + 1);
    /* H5Lexists needs every intermediate component to exist: check prefixes in order */
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            htri_t e = H5Lexists(loc, buf, H5P_DEFAULT);
            buf[i] = c;
            if (e <= 0) {
                return false;
            }
        }
    }
    return true;
}

/* Append the strings of one attribute to *out (growing its blocks). */
static tfmq_status kh5_append_attr(const tfmq_allocator *a, hid_t attr, const char *name,
                                   const char *what, tq_kstrs *out)
{
    tfmq_status st = TFMQ_OK;
    hid_t type = -1, space = -1, mem = -1;
    char **vl = NULL;
    char *fixed = NULL;
    size_t n = 0, width = 0, fixed_bytes = 0, vl_bytes = 0;
    bool vl_read = false;

    type = H5Aget_type(attr);
    space = H5Aget_space(attr);
    if (type < 0 || space < 0 || H5Tget_class(type) != H5T_STRING) {
        st = tq_fail(TFMQ_ERR_PARSE, "keras: %s: attribute '%s' is not a string", what, name);
        goto done;
    }
    hssize_t np = H5Sget_simple_extent_npoints(space);
    int nd = H5Sget_simple_extent_ndims(space);
    if (np < 0 || nd < 0 || nd > 1 || (size_t)np > (1u << 24)) {
        st = tq_fail(TFMQ_ERR_PARSE, "keras: %s: attribute '%s' has a bad shape", what, name);
        goto done;
    }
    n = (size_t)np;
    htri_t is_vl = H5Tis_variable_str(type);
    if (is_vl < 0) {
        st = tq_fail(TFMQ_ERR_PARSE, "keras: %s: attribute '%s' is unreadable", what, name);
        goto done;
    }
    mem = H5Tcopy(H5T_C_S1);
    if (mem < 0) {
        st = tq_fail(TFMQ_ERR_PARSE, "keras: %s: attribute '%s' is unreadable", what, name);
        goto done;
    }
    /* gather the strings' lengths first, then copy into the packed block */
    size_t add = 0;
    if (is_vl) {
        if (!tq_mul_size(n ? n : 1, sizeof(char *), &vl_bytes) ||
            !(vl = tq_calloc(a, n ? n : 1, sizeof(char *)))) {
            st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "keras: out of memory");
            goto done;
        }
        if (H5Tset_size(mem, H5T_VARIABLE) < 0 || H5Aread(attr, mem, vl) < 0) {
            st = tq_fail(TFMQ_ERR_PARSE, "keras: %s: cannot read attribute '%s'", what, name);
            goto done;
        }
        vl_read = true;
        for (size_t i = 0; i < n; i++) {
            size_t len = vl[i] ? strlen(vl[i]) : 0;
            if (len > TQ_KERAS_MAX_TEXT_BYTES || !tq_add_size(add, len + 1, &add)) {
                st = tq_fail(TFMQ_ERR_PARSE, "keras: %s: attribute '%s' is too large", what, name);
                goto done;
            }
        }
    } else {
        width = H5Tget_size(type);
        if (width == 0 || width > TQ_KERAS_MAX_TEXT_BYTES ||
            !tq_mul_size(width, n, &fixed_bytes) || fixed_bytes > TQ_KERAS_MAX_TEXT_BYTES) {
            st = tq_fail(TFMQ_ERR_PARSE, "keras: %s: attribute '%s' is too large", what, name);
            goto done;
        }
        fixed = tq_alloc(a, fixed_bytes ? fixed_bytes : 1);
        if (!fixed) {
            st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "keras: out of memory");
            goto done;
        }
        /* NULLPAD keeps strings that fill the whole width intact (NULLTERM would cut one byte) */
        if (H5Tset_size(mem, width) < 0 || H5Tset_strpad(mem, H5T_STR_NULLPAD) < 0 ||
            (n && H5Aread(attr, mem, fixed) < 0)) {
            st = tq_fail(TFMQ_ERR_PARSE, "keras: %s: cannot read attribute '%s'", what, name);
            goto done;
        }
        for (size_t i = 0; i < n; i++) {
            if (!tq_add_size(add, strnlen(fixed + i * width, width) + 1, &add)) {
                st = tq_fail(TFMQ_ERR_PARSE, "keras: %s: attribute '%s' is too large", what, name);
                goto done;
            }
        }
    }
    size_t new_bytes, new_n;
    if (n == 0) {
        goto done;
    }
    if (!tq_add_size(out->buf_bytes, add, &new_bytes) || new_bytes > TQ_KERAS_MAX_TEXT_BYTES ||
        !tq_add_size(out->n, n, &new_n)) {
        st = tq_fail(TFMQ_ERR_PARSE, "keras: %s: attribute '%s' is too large", what, name);
        goto done;
    }
    char *buf = tq_realloc(a, out->buf, out->buf_bytes, new_bytes);
    if (!buf) {
        st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "keras: out of memory");
        goto done;
    }
    size_t off = out->buf_bytes;
    out->buf = buf;
    out->buf_bytes = new_bytes;
    for (size_t i = 0; i < n; i++) {
        const char *src = is_vl ? (vl[i] ? vl[i] : "") : fixed + i * width;
        size_t len = is_vl ? strlen(src) : strnlen(src, width);
        memcpy(buf + off, src, len);
        buf[off + len] = '\0';
        off += len + 1;
    }
    out->n = new_n;
done:
    if (vl_read) {
#if H5_VERSION_GE(1, 12, 0)
        H5Treclaim(mem, space, H5P_DEFAULT, vl);
#else
        H5Dvlen_reclaim(mem, space, H5P_DEFAULT, vl);
#endif
    }
    tq_free(a, vl, vl_bytes);
    tq_free(a, fixed, fixed_bytes ? fixed_bytes : 1);
    if (mem >= 0) {
        H5Tclose(mem);
    }
    if (space >= 0) {
        H5Sclose(space);
    }
    if (type >= 0) {
        H5Tclose(type);
    }
    return st;
}

static tfmq_status kh5_append_named(const tfmq_allocator *a, hid_t loc, const char *name,
                                    const char *what, tq_kstrs *out)
{
    hid_t attr = H5Aopen(loc, name, H5P_DEFAULT);
    if (attr < 0) {
        return tq_fail(TFMQ_ERR_PARSE, "keras: %s: cannot open attribute '%s'", what, name);
    }
    tfmq_status st = kh5_append_attr(a, attr, name, what, out);
    H5Aclose(attr);
    return st;
}

tfmq_status tq_kh5_read_strs(const tfmq_allocator *a, hid_t loc, const char *name,
                             const char *what, tq_kstrs *out)
{
    tfmq_status st = TFMQ_OK;
    memset(out, 0, sizeof(*out));
    if (tq_kh5_has_attr(loc, name)) {
        st = kh5_append_named(a, loc, name, what, out);
    } else {
        /* Keras splits attributes over 64 KiB into name0, name1, ... */
        char chunk[256];
        size_t k = 0;
        for (;; k++) {
            snprintf(chunk, sizeof(chunk), "%s%zu", name, k);
            if (!tq_kh5_has_attr(loc, chunk)) {
                break;
            }
            if ((st = kh5_append_named(a, loc, chunk, what, out)) != TFMQ_OK) {
                break;
            }
        }
        if (st == TFMQ_OK && k == 0) {
            st = tq_fail(TFMQ_ERR_PARSE, "keras: %s: attribute '%s' is missing", what, name);
        }
    }
    if (st == TFMQ_OK) {
        out->s = tq_calloc(a, out->n ? out->n : 1, sizeof(*out->s));
        if (!out->s) {
            st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "keras: out of memory");
        } else {
            size_t off = 0;
            for (size_t i = 0; i < out->n; i++) {
                out->s[i] = out->buf + off;
                off += strlen(out->buf + off) + 1;
            }
        }
    }
    if (st != TFMQ_OK) {
        size_t n = out->n;
        out->n = 0; /* s was not allocated with n entries */
        tq_free(a, out->buf, out->buf_bytes);
        tq_free(a, (void *)out->s, sizeof(*out->s) * (n ? n : 1));
        memset(out, 0, sizeof(*out));
    }
    return st;
}

tfmq_status tq_kh5_read_f32(const tfmq_allocator *a, hid_t loc, const char *path,
                            const char *what, tq_kw *out)
{
    tfmq_status st = TFMQ_OK;
    hid_t d = -1, space = -1, type = -1;
    hsize_t dims[TQ_MAX_RANK];
    memset(out, 0, sizeof(*out));
    if (!tq_kh5_exists(loc, path) || (d = H5Dopen2(loc, path, H5P_DEFAULT)) < 0) {
        return tq_fail(TFMQ_ERR_PARSE, "keras: %s: dataset '%s' not found", what, path);
    }
    space = H5Dget_space(d);
    type = H5Dget_type(d);
    int nd = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    if (nd < 0 || nd > TQ_MAX_RANK || type < 0) {
        st = tq_fail(TFMQ_ERR_PARSE, "keras: %s: dataset '%s' has a bad shape", what, path);
        goto done;
    }
    if (H5Tget_class(type) != H5T_FLOAT) {
        st = tq_fail(TFMQ_ERR_UNSUPPORTED, "keras: %s: dataset '%s' is not floating point", what,
                     path);
        goto done;
    }
    if (H5Sget_simple_extent_dims(space, dims, NULL) < 0) {
        st = tq_fail(TFMQ_ERR_PARSE, "keras: %s: dataset '%s' has a bad shape", what, path);
        goto done;
    }
    size_t n = 1, bytes;
    for (int i = 0; i < nd; i++) {
        if (dims[i] > (hsize_t)INT64_MAX || !tq_mul_size(n, (size_t)dims[i], &n)) {
            st = tq_fail(TFMQ_ERR_PARSE, "keras: %s: dataset '%s' is too large", what, path);
            goto done;
        }
        out->dims[i] = (int64_t)dims[i];
    }
    if (!tq_mul_size(n, sizeof(float), &bytes) || bytes > TQ_MAX_TENSOR_BYTES) {
        st = tq_fail(TFMQ_ERR_PARSE, "keras: %s: dataset '%s' is too large", what, path);
        goto done;
    }
    out->rank = nd;
    out->data = tq_alloc(a, bytes ? bytes : 1);
    if (!out->data) {
        st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "keras: %s: out of memory (%zu bytes)", what, bytes);
        goto done;
    }
    out->n = n;
    if (n && H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out->data) < 0) {
        st = tq_fail(TFMQ_ERR_PARSE, "keras: %s: cannot read dataset '%s' (truncated file?)",
                     what, path);
        goto done;
    }
done:
    if (st != TFMQ_OK) {
        tq_kw_free(a, out);
    }
    if (type >= 0) {
        H5Tclose(type);
    }
    if (space >= 0) {
        H5Sclose(space);
    }
    H5Dclose(d);
    return st;
}
