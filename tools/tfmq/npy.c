/* npy.c: NumPy .npy reader and writer. The reader checks every size derived from the file
 * (header length, shape product, data size) with overflow-safe arithmetic and never reads past
 * the buffer; it takes little-endian C-order arrays of numeric and bool dtypes. The writer emits
 * version 1.0 headers padded to 64 bytes, as numpy does, and writes the file atomically. */
#include "npy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t npy_magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

void npy_free(npy_array *a)
{
    if (a) {
        free(a->data);
        memset(a, 0, sizeof(*a));
    }
}

const char *npy_descr(tfmq_dtype dtype)
{
    switch (dtype) {
    case TFMQ_DTYPE_FLOAT32:
        return "<f4";
    case TFMQ_DTYPE_UINT8:
        return "|u1";
    case TFMQ_DTYPE_INT8:
        return "|i1";
    case TFMQ_DTYPE_UINT16:
        return "<u2";
    case TFMQ_DTYPE_INT16:
        return "<i2";
    case TFMQ_DTYPE_INT32:
        return "<i4";
    case TFMQ_DTYPE_INT64:
        return "<i8";
    case TFMQ_DTYPE_BOOL:
        return "|b1";
    case TFMQ_DTYPE_FLOAT16:
        return "<f2";
    case TFMQ_DTYPE_FLOAT64:
        return "<f8";
    case TFMQ_DTYPE_UINT32:
        return "<u4";
    case TFMQ_DTYPE_UINT64:
        return "<u8";
    case TFMQ_DTYPE_BFLOAT16: /* numpy has no bfloat16 */
    case TFMQ_DTYPE_STRING:
    case TFMQ_DTYPE_UNDEFINED:
        return NULL;
    }
    return NULL;
}

static bool host_is_little_endian(void)
{
    const uint16_t one = 1;
    uint8_t b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* ---- header dictionary: a Python literal such as
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 224, 224), }
 * ---- */

typedef struct npy_lex {
    const char *p;
    const char *end;
} npy_lex;

static void lex_ws(npy_lex *lx)
{
    while (lx->p < lx->end &&
           (*lx->p == ' ' || *lx->p == '\t' || *lx->p == '\n' || *lx->p == '\r')) {
        lx->p++;
    }
}

static bool lex_char(npy_lex *lx, char c)
{
    lex_ws(lx);
    if (lx->p < lx->end && *lx->p == c) {
        lx->p++;
        return true;
    }
    return false;
}

/* A quoted string without escapes: 'abc' or "abc". */
static bool lex_string(npy_lex *lx, const char **s_out, size_t *len_out)
{
    lex_ws(lx);
    if (lx->p >= lx->end || (*lx->p != '\'' && *lx->p != '"')) {
        return false;
    }
    char q = *lx->p++;
    const char *start = lx->p;
    while (lx->p < lx->end && *lx->p != q) {
        if (*lx->p == '\\' || *lx->p == '\n') {
            return false;
        }
        lx->p++;
    }
    if (lx->p >= lx->end) {
        return false;
    }
    *s_out = start;
    *len_out = (size_t)(lx->p - start);
    lx->p++;
    return true;
}

static bool lex_word(npy_lex *lx, const char *word)
{
    size_t n = strlen(word);
    lex_ws(lx);
    if ((size_t)(lx->end - lx->p) >= n && memcmp(lx->p, word, n) == 0) {
        lx->p += n;
        return true;
    }
    return false;
}

static bool str_eq(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

/* Shape tuple: "()", "(5,)", "(2, 3)"; each dim a non-negative decimal (old files add 'L'). */
static tfmq_status parse_shape(npy_lex *lx, npy_header *h, cli_err *e)
{
    h->rank = 0;
    if (!lex_char(lx, '(')) {
        return cli_fail(e, TFMQ_ERR_PARSE, "header: 'shape' is not a tuple");
    }
    for (;;) {
        if (lex_char(lx, ')')) {
            return TFMQ_OK;
        }
        lex_ws(lx);
        if (lx->p >= lx->end || *lx->p < '0' || *lx->p > '9') {
            return cli_fail(e, TFMQ_ERR_PARSE,
                            "header: 'shape' holds something other than non-negative integers");
        }
        int64_t v = 0;
        while (lx->p < lx->end && *lx->p >= '0' && *lx->p <= '9') {
            int d = *lx->p++ - '0';
            if (v > (INT64_MAX - d) / 10) {
                return cli_fail(e, TFMQ_ERR_PARSE, "header: a dimension of 'shape' overflows");
            }
            v = v * 10 + d;
        }
        if (lx->p < lx->end && *lx->p == 'L') {
            lx->p++;
        }
        if (h->rank >= NPY_MAX_RANK) {
            return cli_fail(e, TFMQ_ERR_UNSUPPORTED, "header: more than %d dimensions",
                            NPY_MAX_RANK);
        }
        h->dims[h->rank++] = v;
        if (lex_char(lx, ',')) {
            continue;
        }
        if (lex_char(lx, ')')) {
            return TFMQ_OK;
        }
        return cli_fail(e, TFMQ_ERR_PARSE, "header: malformed 'shape' tuple");
    }
}

static tfmq_status parse_descr(const char *s, size_t n, npy_header *h, cli_err *e)
{
    char order;
    int size = 0;
    if (n < 2 || n > 8) {
        return cli_fail(e, TFMQ_ERR_PARSE, "header: unrecognised descr '%.*s'",
                        (int)(n > 32 ? 32 : n), s);
    }
    order = s[0];
    if (order != '<' && order != '>' && order != '|' && order != '=') {
        return cli_fail(e, TFMQ_ERR_PARSE, "header: unrecognised descr '%.*s'", (int)n, s);
    }
    char kind = s[1];
    for (size_t i = 2; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return cli_fail(e, TFMQ_ERR_UNSUPPORTED, "dtype '%.*s' is not supported", (int)n, s);
        }
        size = size * 10 + (s[i] - '0');
    }
    switch (kind) {
    case 'O':
        return cli_fail(e, TFMQ_ERR_UNSUPPORTED, "object arrays are not supported");
    case 'U':
    case 'S':
    case 'a':
        return cli_fail(e, TFMQ_ERR_UNSUPPORTED, "string arrays ('%.*s') are not supported", (int)n,
                        s);
    case 'c':
        return cli_fail(e, TFMQ_ERR_UNSUPPORTED, "complex arrays ('%.*s') are not supported",
                        (int)n, s);
    case 'M':
    case 'm':
        return cli_fail(e, TFMQ_ERR_UNSUPPORTED, "datetime arrays ('%.*s') are not supported",
                        (int)n, s);
    case 'V':
        return cli_fail(e, TFMQ_ERR_UNSUPPORTED, "void/structured arrays are not supported");
    default:
        break;
    }
    static const struct {
        char kind;
        int size;
        tfmq_dtype dtype;
    } table[] = {
        {'f', 2, TFMQ_DTYPE_FLOAT16}, {'f', 4, TFMQ_DTYPE_FLOAT32}, {'f', 8, TFMQ_DTYPE_FLOAT64},
        {'i', 1, TFMQ_DTYPE_INT8},    {'i', 2, TFMQ_DTYPE_INT16},   {'i', 4, TFMQ_DTYPE_INT32},
        {'i', 8, TFMQ_DTYPE_INT64},   {'u', 1, TFMQ_DTYPE_UINT8},   {'u', 2, TFMQ_DTYPE_UINT16},
        {'u', 4, TFMQ_DTYPE_UINT32},  {'u', 8, TFMQ_DTYPE_UINT64},  {'b', 1, TFMQ_DTYPE_BOOL},
    };
    tfmq_dtype dt = TFMQ_DTYPE_UNDEFINED;
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (table[i].kind == kind && table[i].size == size) {
            dt = table[i].dtype;
        }
    }
    if (dt == TFMQ_DTYPE_UNDEFINED) {
        return cli_fail(e, TFMQ_ERR_UNSUPPORTED,
                        "dtype '%.*s' is not supported "
                        "(supported: f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1)",
                        (int)n, s);
    }
    bool big = order == '>' || (order == '=' && !host_is_little_endian());
    if (size > 1 && big) {
        return cli_fail(e, TFMQ_ERR_UNSUPPORTED,
                        "big-endian arrays ('%.*s') are not supported; "
                        "save a little-endian copy, e.g. a.astype('<%c%d')",
                        (int)n, s, kind, size);
    }
    if (size > 1 && order == '|') {
        return cli_fail(e, TFMQ_ERR_PARSE, "header: descr '%.*s' has no byte order", (int)n, s);
    }
    h->dtype = dt;
    return TFMQ_OK;
}

tfmq_status npy_parse_header(const uint8_t *buf, size_t n_bytes, npy_header *h, cli_err *e)
{
    size_t prefix, hlen;
    bool seen_descr = false, seen_fortran = false, seen_shape = false, fortran = false;
    tfmq_status st;
    memset(h, 0, sizeof(*h));
    if (n_bytes < 10 || memcmp(buf, npy_magic, sizeof(npy_magic)) != 0) {
        return cli_fail(e, TFMQ_ERR_PARSE, "not a .npy file (bad magic)");
    }
    uint8_t major = buf[6], minor = buf[7];
    if (major == 1) {
        prefix = 10;
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
    } else if (major == 2 || major == 3) {
        if (n_bytes < 12) {
            return cli_fail(e, TFMQ_ERR_PARSE, "truncated .npy header");
        }
        prefix = 12;
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
    } else {
        return cli_fail(e, TFMQ_ERR_VERSION, "unsupported .npy format version %u.%u", major, minor);
    }
    if (hlen > NPY_MAX_HEADER_BYTES) {
        return cli_fail(e, TFMQ_ERR_PARSE, "header of %zu bytes is too large", hlen);
    }
    if (hlen > n_bytes - prefix) {
        return cli_fail(e, TFMQ_ERR_PARSE,
                        "truncated .npy header (%zu bytes announced, %zu present)", hlen,
                        n_bytes - prefix);
    }
    npy_lex lx = {(const char *)buf + prefix, (const char *)buf + prefix + hlen};
    if (!lex_char(&lx, '{')) {
        return cli_fail(e, TFMQ_ERR_PARSE, "header is not a dictionary");
    }
    while (!lex_char(&lx, '}')) {
        const char *key, *val;
        size_t klen, vlen;
        if (!lex_string(&lx, &key, &klen) || !lex_char(&lx, ':')) {
            return cli_fail(e, TFMQ_ERR_PARSE, "header: malformed dictionary");
        }
        if (str_eq(key, klen, "descr")) {
            if (seen_descr) {
                return cli_fail(e, TFMQ_ERR_PARSE, "header: duplicate key 'descr'");
            }
            seen_descr = true;
            if (lex_char(&lx, '[')) {
                return cli_fail(e, TFMQ_ERR_UNSUPPORTED, "structured arrays are not supported");
            }
            if (!lex_string(&lx, &val, &vlen)) {
                return cli_fail(e, TFMQ_ERR_PARSE, "header: 'descr' is not a string");
            }
            if ((st = parse_descr(val, vlen, h, e)) != TFMQ_OK) {
                return st;
            }
        } else if (str_eq(key, klen, "fortran_order")) {
            if (seen_fortran) {
                return cli_fail(e, TFMQ_ERR_PARSE, "header: duplicate key 'fortran_order'");
            }
            seen_fortran = true;
            if (lex_word(&lx, "True")) {
                fortran = true;
            } else if (!lex_word(&lx, "False")) {
                return cli_fail(e, TFMQ_ERR_PARSE, "header: 'fortran_order' is not True or False");
            }
        } else if (str_eq(key, klen, "shape")) {
            if (seen_shape) {
                return cli_fail(e, TFMQ_ERR_PARSE, "header: duplicate key 'shape'");
            }
            seen_shape = true;
            if ((st = parse_shape(&lx, h, e)) != TFMQ_OK) {
                return st;
            }
        } else {
            return cli_fail(e, TFMQ_ERR_PARSE, "header: unexpected key '%.*s'",
                            (int)(klen > 32 ? 32 : klen), key);
        }
        if (!lex_char(&lx, ',')) {
            if (!lex_char(&lx, '}')) {
                return cli_fail(e, TFMQ_ERR_PARSE, "header: malformed dictionary");
            }
            break;
        }
    }
    lex_ws(&lx);
    while (lx.p < lx.end && *lx.p == '\0') { /* tolerate NUL padding */
        lx.p++;
    }
    if (lx.p != lx.end) {
        return cli_fail(e, TFMQ_ERR_PARSE, "header: unexpected text after the dictionary");
    }
    if (!seen_descr || !seen_fortran || !seen_shape) {
        return cli_fail(e, TFMQ_ERR_PARSE, "header lacks '%s'",
                        !seen_descr     ? "descr"
                        : !seen_fortran ? "fortran_order"
                                        : "shape");
    }
    size_t n = 1, n_big = 0;
    for (int32_t i = 0; i < h->rank; i++) {
        if ((uint64_t)h->dims[i] > SIZE_MAX) {
            return cli_fail(e, TFMQ_ERR_PARSE, "shape is too large");
        }
        size_t d = (size_t)h->dims[i];
        if (d > 1) {
            n_big++;
        }
        if (d != 0 && n > SIZE_MAX / d) {
            return cli_fail(e, TFMQ_ERR_PARSE, "shape is too large (element count overflows)");
        }
        n *= d;
    }
    /* Fortran and C order only differ when two or more dimensions exceed 1. */
    if (fortran && n_big > 1) {
        return cli_fail(e, TFMQ_ERR_UNSUPPORTED,
                        "Fortran-order arrays are not supported; "
                        "save np.ascontiguousarray(a) instead");
    }
    size_t esize = tfmq_dtype_size(h->dtype);
    if (n > SIZE_MAX / esize) {
        return cli_fail(e, TFMQ_ERR_PARSE, "shape is too large (byte count overflows)");
    }
    h->n_elems = n;
    h->data_bytes = n * esize;
    h->data_offset = prefix + hlen;
    size_t avail = n_bytes - h->data_offset;
    if (avail < h->data_bytes) {
        return cli_fail(e, TFMQ_ERR_PARSE,
                        "truncated: the header announces %zu bytes of data, the file holds %zu",
                        h->data_bytes, avail);
    }
    if (avail > h->data_bytes) {
        return cli_fail(e, TFMQ_ERR_PARSE, "%zu unexpected bytes after the array data",
                        avail - h->data_bytes);
    }
    return TFMQ_OK;
}

tfmq_status npy_read(const char *path, npy_array *out, cli_err *e)
{
    uint8_t *buf = NULL;
    size_t n = 0;
    npy_header h;
    memset(out, 0, sizeof(*out));
    tfmq_status st = cli_read_file(path, (size_t)1 << 40, &buf, &n, e);
    if (st != TFMQ_OK) {
        return st;
    }
    st = npy_parse_header(buf, n, &h, e);
    if (st != TFMQ_OK) {
        free(buf);
        return st;
    }
    /* Reuse the file buffer: move the data to its start (malloc alignment suits every dtype). */
    memmove(buf, buf + h.data_offset, h.data_bytes);
    if (h.dtype == TFMQ_DTYPE_BOOL) {
        for (size_t i = 0; i < h.data_bytes; i++) {
            buf[i] = buf[i] ? 1 : 0;
        }
    }
    out->dtype = h.dtype;
    out->rank = h.rank;
    memcpy(out->dims, h.dims, sizeof(out->dims));
    out->n_elems = h.n_elems;
    out->data_bytes = h.data_bytes;
    out->data = buf;
    return TFMQ_OK;
}

tfmq_status npy_write(const char *path, tfmq_dtype dtype, int32_t rank, const int64_t *dims,
                      const void *data, size_t data_bytes, bool overwrite, cli_err *e)
{
    char hdr[64 + 64 + NPY_MAX_RANK * 24 + 64];
    const char *descr = npy_descr(dtype);
    size_t len = 0;
    if (!descr) {
        return cli_fail(e, TFMQ_ERR_UNSUPPORTED, "dtype %s cannot be stored in .npy",
                        tfmq_dtype_name(dtype));
    }
    if (rank < 0 || rank > NPY_MAX_RANK) {
        return cli_fail(e, TFMQ_ERR_UNSUPPORTED, "rank %d cannot be stored in .npy", (int)rank);
    }
    /* Leave room for the 10-byte prefix; numpy puts the dictionary right after it. */
    len = 10;
    len += (size_t)snprintf(hdr + len, sizeof(hdr) - len,
                            "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    for (int32_t i = 0; i < rank; i++) {
        if (dims[i] < 0) {
            return cli_fail(e, TFMQ_ERR_INVALID_ARG, "negative dimension %lld", (long long)dims[i]);
        }
        len += (size_t)snprintf(hdr + len, sizeof(hdr) - len, "%s%lld", i ? ", " : "",
                                (long long)dims[i]);
    }
    len += (size_t)snprintf(hdr + len, sizeof(hdr) - len, "%s), }", rank == 1 ? "," : "");
    /* Pad with spaces and a final newline so the data starts 64-byte aligned. */
    size_t total = (len + 1 + 63) / 64 * 64;
    memset(hdr + len, ' ', total - len - 1);
    hdr[total - 1] = '\n';
    size_t hlen = total - 10;
    memcpy(hdr, npy_magic, sizeof(npy_magic));
    hdr[6] = 1;
    hdr[7] = 0;
    hdr[8] = (char)(hlen & 0xff);
    hdr[9] = (char)(hlen >> 8);
    const void *parts[2] = {hdr, data};
    const size_t sizes[2] = {total, data_bytes};
    return cli_write_file_atomic(path, parts, sizes, 2, overwrite, e);
}
