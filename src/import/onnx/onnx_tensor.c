/* onnx_tensor.c: ONNX TensorProto -> tensor data, used for initializers, Constant nodes, tensor
 * attributes and the conformance suite's .pb files. Handles raw_data (little-endian), the typed
 * repeated fields, and external data files, which must stay inside the model's folder. Sizes are
 * checked before anything is allocated; data goes wherever the caller's allocation hook says. */
#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700 /* NOLINT: realpath(); glibc hides it under plain _POSIX_C_SOURCE */
#endif
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "import/onnx/onnx_internal.h"

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

/* Largest .pb tensor file read into memory: the biggest tensor plus protobuf overhead. */
#define TQ_ONNX_MAX_TENSOR_FILE (TQ_MAX_TENSOR_BYTES + ((size_t)1 << 20))

bool tq_onnx_dtype(int32_t elem_type, tfmq_dtype *dt_out)
{
    switch (elem_type) {
    case TFMQ_DTYPE_FLOAT32:
    case TFMQ_DTYPE_UINT8:
    case TFMQ_DTYPE_INT8:
    case TFMQ_DTYPE_UINT16:
    case TFMQ_DTYPE_INT16:
    case TFMQ_DTYPE_INT32:
    case TFMQ_DTYPE_INT64:
    case TFMQ_DTYPE_BOOL:
    case TFMQ_DTYPE_FLOAT16:
    case TFMQ_DTYPE_FLOAT64:
    case TFMQ_DTYPE_UINT32:
    case TFMQ_DTYPE_UINT64:
    case TFMQ_DTYPE_BFLOAT16:
        *dt_out = (tfmq_dtype)elem_type;
        return true;
    default:
        return false;
    }
}

const char *tq_onnx_dtype_name(int32_t elem_type, char *buf, size_t buf_size)
{
    switch (elem_type) {
    case 0: return "undefined";
    case 8: return "string";
    case 14: return "complex64";
    case 15: return "complex128";
    case 17: return "float8e4m3fn";
    case 18: return "float8e4m3fnuz";
    case 19: return "float8e5m2";
    case 20: return "float8e5m2fnuz";
    case 21: return "uint4";
    case 22: return "int4";
    default: break;
    }
    tfmq_dtype dt;
    if (tq_onnx_dtype(elem_type, &dt)) {
        return tfmq_dtype_name(dt);
    }
    snprintf(buf, buf_size, "type %d", (int)elem_type);
    return buf;
}

static bool tq_host_is_le(void)
{
    const uint16_t one = 1;
    uint8_t b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* Copy little-endian elements of `esize` bytes into host order. */
static void tq_copy_le(void *dst, const void *src, size_t bytes, size_t esize)
{
    memcpy(dst, src, bytes);
    if (esize > 1 && !tq_host_is_le()) {
        uint8_t *d = dst;
        for (size_t i = 0; i + esize <= bytes; i += esize) {
            for (size_t a = 0, b = esize - 1; a < b; a++, b--) {
                uint8_t t = d[i + a];
                d[i + a] = d[i + b];
                d[i + b] = t;
            }
        }
    }
}

/* Strict unsigned decimal (what onnx writes for external data offset/length). */
static bool tq_parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!s || !*s) {
        return false;
    }
    for (; *s; s++) {
        if (*s < '0' || *s > '9') {
            return false;
        }
        uint64_t d = (uint64_t)(*s - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return false;
        }
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* External data location: relative, no ".." component (either separator). */
static bool tq_location_is_safe(const char *loc)
{
    if (!loc[0] || loc[0] == '/' || loc[0] == '\\') {
        return false;
    }
    const char *c = loc;
    while (*c) {
        size_t n = strcspn(c, "/\\");
        if (n == 2 && c[0] == '.' && c[1] == '.') {
            return false;
        }
        c += n;
        if (*c) {
            c++;
        }
    }
    return true;
}

static const char *tq_errno_text(int e)
{
    switch (e) {
    case ENOENT: return "not found";
    case EACCES: return "permission denied";
    case ENOTDIR: return "a path component is not a folder";
    case ENAMETOOLONG: return "name too long";
    case ELOOP: return "too many symbolic links";
    default: return "cannot be opened";
    }
}

typedef struct tq_ext_ref {
    char file[PATH_MAX]; /* resolved path, inside the model's folder */
    uint64_t offset;
    uint64_t length;
} tq_ext_ref;

/* Resolve and check a tensor's external data reference against `expect_bytes`. */
static tfmq_status tq_ext_resolve(const Onnx__TensorProto *tp, const char *what,
                                  const char *base_path, size_t expect_bytes, tq_ext_ref *ref)
{
    const char *loc = NULL;
    bool have_off = false, have_len = false;
    char dir[PATH_MAX], joined[PATH_MAX], real_dir[PATH_MAX];
    uint64_t file_bytes;
    struct stat sb;

    ref->offset = 0;
    ref->length = 0;
    for (size_t i = 0; i < tp->n_external_data; i++) {
        const Onnx__StringStringEntryProto *e = tp->external_data[i];
        if (!e || !e->key) {
            continue;
        }
        if (strcmp(e->key, "location") == 0) {
            loc = e->value ? e->value : "";
        } else if (strcmp(e->key, "offset") == 0) {
            if (!tq_parse_u64(e->value, &ref->offset)) {
                return tq_fail(TFMQ_ERR_PARSE, "onnx: %s: external data offset '%s' is not a "
                               "number", what, e->value ? e->value : "");
            }
            have_off = true;
        } else if (strcmp(e->key, "length") == 0) {
            if (!tq_parse_u64(e->value, &ref->length)) {
                return tq_fail(TFMQ_ERR_PARSE, "onnx: %s: external data length '%s' is not a "
                               "number", what, e->value ? e->value : "");
            }
            have_len = true;
        }
    }
    (void)have_off;
    if (!loc) {
        return tq_fail(TFMQ_ERR_PARSE, "onnx: %s: external data without a location", what);
    }
    if (!base_path) {
        return tq_fail(TFMQ_ERR_UNSUPPORTED,
                       "onnx: %s: external data '%s' needs the model's file path", what, loc);
    }
    if (!tq_location_is_safe(loc)) {
        return tq_fail(TFMQ_ERR_INVALID_ARG,
                       "onnx: %s: external data location '%s' must be a relative path inside "
                       "the model's folder (no absolute path, no '..')",
                       what, loc);
    }
    /* folder of the model file */
    const char *slash = strrchr(base_path, '/');
    if (!slash) {
        snprintf(dir, sizeof(dir), ".");
    } else if (slash == base_path) {
        snprintf(dir, sizeof(dir), "/");
    } else {
        size_t n = (size_t)(slash - base_path);
        if (n >= sizeof(dir)) {
            return tq_fail(TFMQ_ERR_IO, "onnx: %s: model path too long", what);
        }
        memcpy(dir, base_path, n);
        dir[n] = '\0';
    }
    int n = snprintf(joined, sizeof(joined), "%s/%s", dir, loc);
    if (n < 0 || (size_t)n >= sizeof(joined)) {
        return tq_fail(TFMQ_ERR_IO, "onnx: %s: external data path too long", what);
    }
    if (!realpath(dir, real_dir)) {
        return tq_fail(TFMQ_ERR_IO, "onnx: %s: model folder '%s': %s", what, dir,
                       tq_errno_text(errno));
    }
    if (!realpath(joined, ref->file)) {
        return tq_fail(TFMQ_ERR_IO, "onnx: %s: external data file '%s': %s", what, joined,
                       tq_errno_text(errno));
    }
    size_t dn = strlen(real_dir);
    bool inside = strncmp(ref->file, real_dir, dn) == 0 &&
                  (ref->file[dn] == '/' || (dn == 1 && real_dir[0] == '/'));
    if (!inside) {
        return tq_fail(TFMQ_ERR_INVALID_ARG,
                       "onnx: %s: external data file '%s' resolves outside the model's folder",
                       what, joined);
    }
    if (stat(ref->file, &sb) != 0) {
        return tq_fail(TFMQ_ERR_IO, "onnx: %s: external data file '%s': %s", what, joined,
                       tq_errno_text(errno));
    }
    if (!S_ISREG(sb.st_mode)) {
        return tq_fail(TFMQ_ERR_IO, "onnx: %s: external data file '%s' is not a regular file",
                       what, joined);
    }
    file_bytes = (uint64_t)sb.st_size;
    if (ref->offset > file_bytes) {
        return tq_fail(TFMQ_ERR_PARSE,
                       "onnx: %s: external data offset %llu is past the end of '%s' (%llu "
                       "bytes)",
                       what, (unsigned long long)ref->offset, joined,
                       (unsigned long long)file_bytes);
    }
    if (!have_len) {
        ref->length = file_bytes - ref->offset;
    }
    if (ref->length > file_bytes - ref->offset) {
        return tq_fail(TFMQ_ERR_PARSE,
                       "onnx: %s: external data [%llu, +%llu) runs past the end of '%s' (%llu "
                       "bytes)",
                       what, (unsigned long long)ref->offset, (unsigned long long)ref->length,
                       joined, (unsigned long long)file_bytes);
    }
    if (ref->length != (uint64_t)expect_bytes) {
        return tq_fail(TFMQ_ERR_PARSE,
                       "onnx: %s: external data has %llu bytes, the shape needs %zu", what,
                       (unsigned long long)ref->length, expect_bytes);
    }
    return TFMQ_OK;
}

static tfmq_status tq_ext_read(const tq_ext_ref *ref, const char *what, void *dst, size_t bytes)
{
    FILE *f = fopen(ref->file, "rb");
    if (!f) {
        return tq_fail(TFMQ_ERR_IO, "onnx: %s: external data file '%s': %s", what, ref->file,
                       tq_errno_text(errno));
    }
    if (ref->offset > (uint64_t)LLONG_MAX ||
        fseeko(f, (off_t)ref->offset, SEEK_SET) != 0 || fread(dst, 1, bytes, f) != bytes) {
        fclose(f);
        return tq_fail(TFMQ_ERR_IO, "onnx: %s: cannot read %zu bytes at offset %llu of '%s'",
                       what, bytes, (unsigned long long)ref->offset, ref->file);
    }
    fclose(f);
    return TFMQ_OK;
}

/* Elements held by the typed field that matches dt, and that field's name. */
static size_t tq_typed_count(const Onnx__TensorProto *tp, tfmq_dtype dt, const char **field)
{
    switch (dt) {
    case TFMQ_DTYPE_FLOAT32:
        *field = "float_data";
        return tp->n_float_data;
    case TFMQ_DTYPE_INT64:
        *field = "int64_data";
        return tp->n_int64_data;
    case TFMQ_DTYPE_FLOAT64:
        *field = "double_data";
        return tp->n_double_data;
    case TFMQ_DTYPE_UINT32:
    case TFMQ_DTYPE_UINT64:
        *field = "uint64_data";
        return tp->n_uint64_data;
    default: /* int32, int16, int8, uint16, uint8, bool, float16, bfloat16 */
        *field = "int32_data";
        return tp->n_int32_data;
    }
}

static void tq_typed_copy(const Onnx__TensorProto *tp, tfmq_dtype dt, void *dst, size_t n)
{
    switch (dt) {
    case TFMQ_DTYPE_FLOAT32:
        memcpy(dst, tp->float_data, n * sizeof(float));
        return;
    case TFMQ_DTYPE_INT64:
        memcpy(dst, tp->int64_data, n * sizeof(int64_t));
        return;
    case TFMQ_DTYPE_FLOAT64:
        memcpy(dst, tp->double_data, n * sizeof(double));
        return;
    case TFMQ_DTYPE_UINT64:
        memcpy(dst, tp->uint64_data, n * sizeof(uint64_t));
        return;
    case TFMQ_DTYPE_UINT32:
        for (size_t i = 0; i < n; i++) {
            ((uint32_t *)dst)[i] = (uint32_t)tp->uint64_data[i];
        }
        return;
    case TFMQ_DTYPE_INT32:
        memcpy(dst, tp->int32_data, n * sizeof(int32_t));
        return;
    case TFMQ_DTYPE_INT16:
        for (size_t i = 0; i < n; i++) {
            ((int16_t *)dst)[i] = (int16_t)tp->int32_data[i];
        }
        return;
    case TFMQ_DTYPE_UINT16:
    case TFMQ_DTYPE_FLOAT16:  /* bit patterns */
    case TFMQ_DTYPE_BFLOAT16:
        for (size_t i = 0; i < n; i++) {
            ((uint16_t *)dst)[i] = (uint16_t)tp->int32_data[i];
        }
        return;
    case TFMQ_DTYPE_INT8:
        for (size_t i = 0; i < n; i++) {
            ((int8_t *)dst)[i] = (int8_t)tp->int32_data[i];
        }
        return;
    case TFMQ_DTYPE_UINT8:
        for (size_t i = 0; i < n; i++) {
            ((uint8_t *)dst)[i] = (uint8_t)tp->int32_data[i];
        }
        return;
    case TFMQ_DTYPE_BOOL:
        for (size_t i = 0; i < n; i++) {
            ((uint8_t *)dst)[i] = tp->int32_data[i] != 0;
        }
        return;
    case TFMQ_DTYPE_UNDEFINED:
    case TFMQ_DTYPE_STRING:
        return;
    }
}

tfmq_status tq_onnx_tensor_convert(const Onnx__TensorProto *tp, const char *what,
                                   const char *base_path, tq_onnx_data_alloc_fn alloc_fn,
                                   void *alloc_user, tq_tensor *t_out, size_t *bytes_out)
{
    tfmq_status st;
    tfmq_dtype dt;
    char tbuf[32];
    size_t numel = 1, bytes, esize;
    tq_ext_ref ext;
    void *dst;

    memset(t_out, 0, sizeof(*t_out));
    *bytes_out = 0;
    if (!tp->has_data_type || tp->data_type == 0) {
        return tq_fail(TFMQ_ERR_PARSE, "onnx: %s has no data type", what);
    }
    if (!tq_onnx_dtype(tp->data_type, &dt)) {
        return tq_fail(TFMQ_ERR_UNSUPPORTED, "onnx: %s has element type %s, not supported",
                       what, tq_onnx_dtype_name(tp->data_type, tbuf, sizeof(tbuf)));
    }
    if (tp->segment) {
        return tq_fail(TFMQ_ERR_UNSUPPORTED, "onnx: %s is a segment of a tensor, not supported",
                       what);
    }
    if (tp->n_dims > TQ_MAX_RANK) {
        return tq_fail(TFMQ_ERR_UNSUPPORTED, "onnx: %s has rank %zu (at most %d)", what,
                       tp->n_dims, TQ_MAX_RANK);
    }
    esize = tq_dtype_size(dt);
    /* Absurd dims are refused even when another dim is 0 (an empty tensor of shape [2^62, 0]
     * must not reach code that multiplies the dims in another order): the product of the
     * non-zero dims, times the element size, must stay within the tensor limit. */
    size_t nz = esize;
    for (size_t i = 0; i < tp->n_dims; i++) {
        if (tp->dims[i] > 0 && ((uint64_t)tp->dims[i] > (uint64_t)SIZE_MAX ||
                                !tq_mul_size(nz, (size_t)tp->dims[i], &nz) ||
                                nz > TQ_MAX_TENSOR_BYTES)) {
            return tq_fail(TFMQ_ERR_UNSUPPORTED, "onnx: %s: dimensions exceed the %zu-byte "
                           "tensor limit", what, (size_t)TQ_MAX_TENSOR_BYTES);
        }
    }
    for (size_t i = 0; i < tp->n_dims; i++) {
        if (tp->dims[i] < 0) {
            return tq_fail(TFMQ_ERR_PARSE, "onnx: %s has a negative dimension (%lld)", what,
                           (long long)tp->dims[i]);
        }
        if ((uint64_t)tp->dims[i] > (uint64_t)SIZE_MAX ||
            !tq_mul_size(numel, (size_t)tp->dims[i], &numel)) {
            return tq_fail(TFMQ_ERR_UNSUPPORTED, "onnx: %s: element count overflows", what);
        }
        t_out->dims[i] = tp->dims[i];
    }
    if (!tq_mul_size(numel, esize, &bytes) || bytes > TQ_MAX_TENSOR_BYTES) {
        return tq_fail(TFMQ_ERR_UNSUPPORTED, "onnx: %s: %zu elements exceed the %zu-byte tensor "
                       "limit", what, numel, (size_t)TQ_MAX_TENSOR_BYTES);
    }
    t_out->dtype = dt;
    t_out->rank = (int32_t)tp->n_dims;

    /* validate the data source fully before allocating */
    bool external = tp->has_data_location &&
                    tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    if (external) {
        st = tq_ext_resolve(tp, what, base_path, bytes, &ext);
        if (st != TFMQ_OK) {
            return st;
        }
    } else if (tp->has_raw_data) {
        if (tp->raw_data.len != bytes) {
            return tq_fail(TFMQ_ERR_PARSE,
                           "onnx: %s: raw_data has %zu bytes, the shape and type need %zu", what,
                           tp->raw_data.len, bytes);
        }
    } else if (numel > 0) {
        const char *field = "";
        size_t have = tq_typed_count(tp, dt, &field);
        if (have != numel) {
            return tq_fail(TFMQ_ERR_PARSE, "onnx: %s: %s has %zu values, the shape needs %zu",
                           what, field, have, numel);
        }
    }

    dst = alloc_fn(alloc_user, bytes);
    if (!dst) {
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "onnx: %s: out of memory for %zu bytes", what,
                       bytes);
    }
    if (external) {
        /* on failure dst stays with its owner (the graph, or the caller's hook) */
        st = tq_ext_read(&ext, what, dst, bytes);
        if (st != TFMQ_OK) {
            return st;
        }
        tq_copy_le(dst, dst, bytes, esize);
    } else if (tp->has_raw_data) {
        if (bytes) {
            tq_copy_le(dst, tp->raw_data.data, bytes, esize);
        }
    } else if (numel > 0) {
        tq_typed_copy(tp, dt, dst, numel);
    }
    t_out->data = dst;
    *bytes_out = bytes;
    return TFMQ_OK;
}

/* ---- one TensorProto per file (conformance test data) ---- */

typedef struct tq_plain_alloc {
    const tfmq_allocator *alloc;
    void *p;
    size_t bytes;
} tq_plain_alloc;

static void *tq_plain_alloc_fn(void *user, size_t bytes)
{
    tq_plain_alloc *pa = user;
    pa->p = tq_alloc_aligned(pa->alloc, bytes);
    pa->bytes = bytes;
    return pa->p;
}

tfmq_status tq_onnx_read_tensor_file(const char *path, const tfmq_allocator *alloc,
                                     tq_tensor *t_out, void **data_out, size_t *bytes_out,
                                     char *name_buf, size_t name_buf_size)
{
    tfmq_status st;
    FILE *f = NULL;
    uint8_t *buf = NULL;
    size_t n_bytes = 0;
    struct stat sb;
    Onnx__TensorProto *tp = NULL;
    tq_onnx_pb_alloc pa;
    tq_plain_alloc da = {alloc, NULL, 0};
    char what[96];

    tq_onnx_pb_alloc_init(&pa, alloc);
    if (!path || !t_out || !data_out || !bytes_out) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "onnx: read_tensor_file: NULL argument");
    }
    memset(t_out, 0, sizeof(*t_out));
    *data_out = NULL;
    *bytes_out = 0;
    if (name_buf && name_buf_size) {
        name_buf[0] = '\0';
    }
    f = fopen(path, "rb");
    if (!f) {
        return tq_fail(TFMQ_ERR_IO, "onnx: tensor file '%s': %s", path, tq_errno_text(errno));
    }
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = tq_fail(TFMQ_ERR_IO, "onnx: tensor file '%s' is not a regular file", path);
        goto fail;
    }
    if ((uint64_t)sb.st_size > (uint64_t)TQ_ONNX_MAX_TENSOR_FILE) {
        st = tq_fail(TFMQ_ERR_UNSUPPORTED, "onnx: tensor file '%s' is too large (%lld bytes)",
                     path, (long long)sb.st_size);
        goto fail;
    }
    n_bytes = (size_t)sb.st_size;
    buf = tq_alloc(alloc, n_bytes ? n_bytes : 1);
    if (!buf) {
        st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "onnx: tensor file '%s': out of memory", path);
        goto fail;
    }
    if (fread(buf, 1, n_bytes, f) != n_bytes) {
        st = tq_fail(TFMQ_ERR_IO, "onnx: tensor file '%s': read error", path);
        goto fail;
    }
    fclose(f);
    f = NULL;
    TQ_TRY(st, tq_onnx_wire_check(&onnx__tensor_proto__descriptor, buf, n_bytes, path));
    tp = onnx__tensor_proto__unpack(&pa.pb, n_bytes, buf);
    if (!tp) {
        st = pa.oom ? tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "onnx: %s: out of memory", path)
                    : tq_fail(TFMQ_ERR_PARSE, "onnx: %s: not a valid TensorProto", path);
        goto fail;
    }
    snprintf(what, sizeof(what), "tensor '%.64s'", tp->name ? tp->name : "");
    TQ_TRY(st, tq_onnx_tensor_convert(tp, what, path, tq_plain_alloc_fn, &da, t_out, bytes_out));
    if (name_buf && name_buf_size) {
        snprintf(name_buf, name_buf_size, "%s", tp->name ? tp->name : "");
    }
    *data_out = da.p;
    da.p = NULL;
    st = TFMQ_OK;
fail:
    if (st != TFMQ_OK) {
        memset(t_out, 0, sizeof(*t_out));
        *bytes_out = 0;
    }
    if (da.p) {
        tq_free_aligned(alloc, da.p, da.bytes);
    }
    if (tp) {
        onnx__tensor_proto__free_unpacked(tp, &pa.pb);
    }
    if (f) {
        fclose(f);
    }
    tq_free(alloc, buf, n_bytes ? n_bytes : 1);
    return st;
}
