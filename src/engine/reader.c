/* reader.c: tq_engine_load / tq_engine_sniff_file: map an engine file (format.h) read-only,
 * check size, magic, version and the CRC-32C before trusting any byte, then rebuild the IR with
 * every count, length, index and offset bounds-checked against the section it comes from.
 * Constant data is not copied: values point into the mapping, which the model owns. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/engine.h"
#include "backends/cuda/plan_cache.h" /* the PLANS payload (plain C, every build) */
#include "engine/format.h"

/* A cursor over one section of the mapped file. */
typedef struct tq_rd {
    const uint8_t *base; /* file start */
    size_t pos, end;     /* absolute offsets; pos <= end <= file size */
    const char *path;
    const char *section;
} tq_rd;

typedef struct tq_eng {
    const char *path;
    const uint8_t *base;
    size_t size;
    size_t data_off, data_bytes; /* the DATA section */
    tq_arena *arena;
} tq_eng;

static uint16_t tq_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t tq_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static uint64_t tq_le64(const uint8_t *p)
{
    return (uint64_t)tq_le32(p) | ((uint64_t)tq_le32(p + 4) << 32);
}

static tfmq_status tq_rd_fail(const tq_rd *r, const char *what)
{
    return tq_fail(TFMQ_ERR_PARSE, "%s: corrupt engine: %s section: %s at offset %zu", r->path,
                   r->section, what, r->pos);
}

static size_t tq_rd_left(const tq_rd *r)
{
    return r->end - r->pos;
}

static tfmq_status tq_rd_bytes(tq_rd *r, size_t n, const uint8_t **p_out, const char *what)
{
    if (tq_rd_left(r) < n) {
        return tq_rd_fail(r, what);
    }
    *p_out = r->base + r->pos;
    r->pos += n;
    return TFMQ_OK;
}

static tfmq_status tq_rd_u32(tq_rd *r, uint32_t *v, const char *what)
{
    const uint8_t *p = NULL;
    tfmq_status st = tq_rd_bytes(r, 4, &p, what);
    if (st == TFMQ_OK) {
        *v = tq_le32(p);
    }
    return st;
}

static tfmq_status tq_rd_i32(tq_rd *r, int32_t *v, const char *what)
{
    uint32_t u = 0;
    tfmq_status st = tq_rd_u32(r, &u, what);
    *v = (int32_t)u;
    return st;
}

static tfmq_status tq_rd_u64(tq_rd *r, uint64_t *v, const char *what)
{
    const uint8_t *p = NULL;
    tfmq_status st = tq_rd_bytes(r, 8, &p, what);
    if (st == TFMQ_OK) {
        *v = tq_le64(p);
    }
    return st;
}

static tfmq_status tq_rd_i64(tq_rd *r, int64_t *v, const char *what)
{
    uint64_t u = 0;
    tfmq_status st = tq_rd_u64(r, &u, what);
    *v = (int64_t)u;
    return st;
}

static tfmq_status tq_rd_f32(tq_rd *r, float *v, const char *what)
{
    uint32_t u = 0;
    tfmq_status st = tq_rd_u32(r, &u, what);
    memcpy(v, &u, 4);
    return st;
}

/* A count of items of at least min_item_bytes each: must fit in the rest of the section. */
static tfmq_status tq_rd_count(tq_rd *r, size_t min_item_bytes, uint32_t *n, const char *what)
{
    tfmq_status st = tq_rd_u32(r, n, what);
    if (st == TFMQ_OK && (size_t)*n > tq_rd_left(r) / min_item_bytes) {
        r->pos -= 4;
        return tq_rd_fail(r, what);
    }
    return st;
}

/* A string copied into the arena (NUL-terminated); *s_out NULL for "no string" if allow_null. */
static tfmq_status tq_rd_str(tq_rd *r, tq_arena *ar, bool allow_null, const char **s_out,
                             const char *what)
{
    uint32_t n;
    const uint8_t *p = NULL;
    tfmq_status st = tq_rd_u32(r, &n, what);
    *s_out = NULL;
    if (st != TFMQ_OK) {
        return st;
    }
    if (n == TQ_ENG_NO_STRING) {
        return allow_null ? TFMQ_OK : tq_rd_fail(r, what);
    }
    if ((st = tq_rd_bytes(r, n, &p, what)) != TFMQ_OK) {
        return st;
    }
    if (n && memchr(p, 0, n)) {
        r->pos -= n;
        return tq_rd_fail(r, what);
    }
    char *s = tq_arena_strndup(ar, (const char *)p, n);
    if (!s) {
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "%s: out of memory", r->path);
    }
    *s_out = s;
    return TFMQ_OK;
}

/* dtype, rank, dims (known) and a data reference into DATA; sets t and *bytes_out. */
static tfmq_status tq_rd_data_ref(tq_rd *r, const tq_eng *e, tq_tensor *t, size_t *bytes_out,
                                  const char *what)
{
    tfmq_status st;
    uint64_t off, bytes;
    size_t want;
    if ((st = tq_rd_u64(r, &off, what)) != TFMQ_OK || (st = tq_rd_u64(r, &bytes, what)) != TFMQ_OK) {
        return st;
    }
    if (tq_dtype_size(t->dtype) == 0 || !tq_tensor_bytes(t, &want) || want != bytes ||
        off % TQ_ENG_DATA_ALIGN != 0 || off > e->data_bytes || bytes > e->data_bytes - off) {
        r->pos -= 16;
        return tq_rd_fail(r, what);
    }
    t->data = (void *)(uintptr_t)(e->base + e->data_off + (size_t)off);
    *bytes_out = (size_t)bytes;
    return TFMQ_OK;
}

static tfmq_status tq_rd_shape(tq_rd *r, tq_tensor *t, bool allow_unknown, const char *what)
{
    tfmq_status st;
    int32_t dt;
    memset(t, 0, sizeof(*t));
    if ((st = tq_rd_i32(r, &dt, what)) != TFMQ_OK || (st = tq_rd_i32(r, &t->rank, what)) != TFMQ_OK) {
        return st;
    }
    if (dt < 0 || dt > 255 || t->rank < (allow_unknown ? -1 : 0) || t->rank > TQ_MAX_RANK) {
        r->pos -= 8;
        return tq_rd_fail(r, what);
    }
    t->dtype = (tfmq_dtype)dt;
    for (int32_t d = 0; d < t->rank; d++) {
        if ((st = tq_rd_i64(r, &t->dims[d], what)) != TFMQ_OK) {
            return st;
        }
        if (t->dims[d] < (allow_unknown ? -1 : 0)) {
            r->pos -= 8;
            return tq_rd_fail(r, what);
        }
    }
    return TFMQ_OK;
}

static tfmq_status tq_rd_graph(tq_rd *r, const tq_eng *e, tq_graph *g);

static tfmq_status tq_rd_attr(tq_rd *r, const tq_eng *e, tq_graph *g, tq_attr *a)
{
    tfmq_status st;
    uint32_t type, n;
    tq_arena *ar = e->arena;
    memset(a, 0, sizeof(*a));
    if ((st = tq_rd_str(r, ar, false, &a->name, "attribute name")) != TFMQ_OK ||
        (st = tq_rd_u32(r, &type, "attribute type")) != TFMQ_OK) {
        return st;
    }
    a->type = (tq_attr_type)type;
    switch (type) {
    case TQ_ATTR_FLOAT:
        return tq_rd_f32(r, &a->f, "float attribute");
    case TQ_ATTR_INT:
        return tq_rd_i64(r, &a->i, "int attribute");
    case TQ_ATTR_STRING:
        return tq_rd_str(r, ar, false, &a->s, "string attribute");
    case TQ_ATTR_TENSOR: {
        tq_tensor *t = tq_arena_alloc(ar, sizeof(*t));
        size_t bytes;
        if (!t) {
            return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "%s: out of memory", e->path);
        }
        if ((st = tq_rd_shape(r, t, false, "tensor attribute")) != TFMQ_OK ||
            (st = tq_rd_data_ref(r, e, t, &bytes, "tensor attribute data")) != TFMQ_OK) {
            return st;
        }
        a->tensor = t;
        return TFMQ_OK;
    }
    case TQ_ATTR_GRAPH: {
        tq_graph *sub = NULL;
        if (g->depth + 1 > TQ_MAX_GRAPH_DEPTH) {
            return tq_rd_fail(r, "subgraphs nested too deeply");
        }
        if ((st = tq_graph_create_sub(g, "", &sub)) != TFMQ_OK) {
            return st;
        }
        a->graph = sub;
        return tq_rd_graph(r, e, sub);
    }
    case TQ_ATTR_FLOATS: {
        if ((st = tq_rd_count(r, 4, &n, "float list")) != TFMQ_OK) {
            return st;
        }
        float *v = tq_arena_alloc(ar, sizeof(float) * (n ? n : 1));
        if (!v) {
            return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "%s: out of memory", e->path);
        }
        for (uint32_t i = 0; i < n; i++) {
            (void)tq_rd_f32(r, &v[i], "float list"); /* in range: counted above */
        }
        a->floats = v;
        a->n = n;
        return TFMQ_OK;
    }
    case TQ_ATTR_INTS: {
        if ((st = tq_rd_count(r, 8, &n, "int list")) != TFMQ_OK) {
            return st;
        }
        int64_t *v = tq_arena_alloc(ar, sizeof(int64_t) * (n ? n : 1));
        if (!v) {
            return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "%s: out of memory", e->path);
        }
        for (uint32_t i = 0; i < n; i++) {
            (void)tq_rd_i64(r, &v[i], "int list");
        }
        a->ints = v;
        a->n = n;
        return TFMQ_OK;
    }
    case TQ_ATTR_STRINGS: {
        if ((st = tq_rd_count(r, 4, &n, "string list")) != TFMQ_OK) {
            return st;
        }
        const char **v = tq_arena_alloc(ar, sizeof(char *) * (n ? n : 1));
        if (!v) {
            return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "%s: out of memory", e->path);
        }
        for (uint32_t i = 0; i < n; i++) {
            if ((st = tq_rd_str(r, ar, false, &v[i], "string list")) != TFMQ_OK) {
                return st;
            }
        }
        a->strings = v;
        a->n = n;
        return TFMQ_OK;
    }
    default:
        r->pos -= 4;
        return tq_rd_fail(r, "unknown attribute type");
    }
}

/* A list of value indices: each in [lo, n_values). */
static tfmq_status tq_rd_indices(tq_rd *r, uint32_t n, int32_t *dst, int32_t lo, size_t n_values,
                                 const char *what)
{
    for (uint32_t i = 0; i < n; i++) {
        tfmq_status st = tq_rd_i32(r, &dst[i], what);
        if (st != TFMQ_OK) {
            return st;
        }
        if (dst[i] < lo || (dst[i] >= 0 && (size_t)dst[i] >= n_values)) {
            r->pos -= 4;
            return tq_rd_fail(r, what);
        }
    }
    return TFMQ_OK;
}

static tfmq_status tq_rd_graph(tq_rd *r, const tq_eng *e, tq_graph *g)
{
    tfmq_status st;
    tq_arena *ar = e->arena;
    uint32_t n_values, n_in, n_out, n_nodes;
    const char *name;
    int32_t *ins, *outs;

    if ((st = tq_rd_str(r, ar, false, &name, "graph name")) != TFMQ_OK ||
        (st = tq_rd_i64(r, &g->opset, "graph opset")) != TFMQ_OK) {
        return st;
    }
    g->name = name;
    /* smallest value record: name len, flags, dtype, rank, data offset, data bytes */
    if ((st = tq_rd_count(r, 32, &n_values, "value count")) != TFMQ_OK) {
        return st;
    }
    for (uint32_t i = 0; i < n_values; i++) {
        int32_t idx;
        uint32_t flags;
        tq_tensor t;
        const char *dnames[TQ_MAX_RANK];
        size_t bytes = 0;
        if ((st = tq_rd_str(r, ar, false, &name, "value name")) != TFMQ_OK ||
            (st = tq_rd_u32(r, &flags, "value flags")) != TFMQ_OK) {
            return st;
        }
        if (flags & ~(uint32_t)(TQ_VALUE_CONST | TQ_VALUE_OUTER)) {
            r->pos -= 4;
            return tq_rd_fail(r, "value flags");
        }
        bool is_const = (flags & TQ_VALUE_CONST) != 0;
        if ((st = tq_rd_shape(r, &t, !is_const, "value shape")) != TFMQ_OK) {
            return st;
        }
        memset(dnames, 0, sizeof(dnames));
        for (int32_t d = 0; d < t.rank; d++) {
            if ((st = tq_rd_str(r, ar, true, &dnames[d], "dim name")) != TFMQ_OK) {
                return st;
            }
        }
        if (is_const) {
            if ((st = tq_rd_data_ref(r, e, &t, &bytes, "constant data")) != TFMQ_OK) {
                return st;
            }
        } else {
            uint64_t off, nb;
            if ((st = tq_rd_u64(r, &off, "value data")) != TFMQ_OK ||
                (st = tq_rd_u64(r, &nb, "value data")) != TFMQ_OK) {
                return st;
            }
            if (off != 0 || nb != 0) {
                r->pos -= 16;
                return tq_rd_fail(r, "data on a value that is not constant");
            }
        }
        if ((st = tq_graph_add_value(g, "", &idx)) != TFMQ_OK) {
            return st;
        }
        tq_value *v = &g->values[idx];
        v->name = name;
        v->t = t;
        memcpy(v->dim_names, dnames, sizeof(dnames));
        v->data_bytes = bytes;
        v->flags = flags;
    }
    if ((st = tq_rd_count(r, 4, &n_in, "input count")) != TFMQ_OK) {
        return st;
    }
    ins = tq_arena_alloc(ar, sizeof(int32_t) * (n_in ? n_in : 1));
    if (!ins) {
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "%s: out of memory", e->path);
    }
    if ((st = tq_rd_indices(r, n_in, ins, 0, n_values, "graph input")) != TFMQ_OK ||
        (st = tq_rd_count(r, 4, &n_out, "output count")) != TFMQ_OK) {
        return st;
    }
    outs = tq_arena_alloc(ar, sizeof(int32_t) * (n_out ? n_out : 1));
    if (!outs) {
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "%s: out of memory", e->path);
    }
    if ((st = tq_rd_indices(r, n_out, outs, 0, n_values, "graph output")) != TFMQ_OK) {
        return st;
    }
    for (uint32_t i = 0; i < n_in; i++) {
        if (g->values[ins[i]].flags & (TQ_VALUE_CONST | TQ_VALUE_OUTER | TQ_VALUE_INPUT)) {
            return tq_rd_fail(r, "a graph input is a constant, an outer value or listed twice");
        }
        g->values[ins[i]].flags |= TQ_VALUE_INPUT;
    }
    if ((st = tq_graph_set_io(g, ins, n_in, outs, n_out)) != TFMQ_OK) {
        return st;
    }
    /* smallest node record: op, name, n_in, n_out, n_attrs */
    if ((st = tq_rd_count(r, 20, &n_nodes, "node count")) != TFMQ_OK) {
        return st;
    }
    for (uint32_t i = 0; i < n_nodes; i++) {
        const char *op_name, *node_name;
        uint32_t op, ni, no, na;
        int32_t idx;
        if ((st = tq_rd_str(r, ar, false, &op_name, "op name")) != TFMQ_OK) {
            return st;
        }
        if (!tq_op_from_name_internal(op_name, &op)) {
            return tq_fail(TFMQ_ERR_PARSE, "%s: engine: unknown op '%s' (made by a newer tfmq?)",
                           e->path, op_name);
        }
        if ((st = tq_rd_str(r, ar, false, &node_name, "node name")) != TFMQ_OK ||
            (st = tq_rd_count(r, 4, &ni, "node input count")) != TFMQ_OK) {
            return st;
        }
        if (ni > TQ_MAX_IO) {
            return tq_rd_fail(r, "too many node inputs");
        }
        int32_t in_idx[TQ_MAX_IO], out_idx[TQ_MAX_IO];
        if ((st = tq_rd_indices(r, ni, in_idx, -1, n_values, "node input")) != TFMQ_OK ||
            (st = tq_rd_count(r, 4, &no, "node output count")) != TFMQ_OK) {
            return st;
        }
        if (no > TQ_MAX_IO) {
            return tq_rd_fail(r, "too many node outputs");
        }
        if ((st = tq_rd_indices(r, no, out_idx, -1, n_values, "node output")) != TFMQ_OK ||
            (st = tq_rd_count(r, 8, &na, "attribute count")) != TFMQ_OK) {
            return st;
        }
        if ((st = tq_graph_add_node(g, op, "", (int32_t)ni, (int32_t)no, (int32_t)na, &idx)) !=
            TFMQ_OK) {
            return st;
        }
        tq_node *n = &g->nodes[idx];
        n->name = node_name;
        memcpy(n->in, in_idx, sizeof(int32_t) * ni);
        memcpy(n->out, out_idx, sizeof(int32_t) * no);
        tq_attr *attrs = n->attrs; /* arena memory: stable while subgraphs are read */
        for (uint32_t k = 0; k < na; k++) {
            if ((st = tq_rd_attr(r, e, g, &attrs[k])) != TFMQ_OK) {
                return st;
            }
        }
    }
    return TFMQ_OK;
}

bool tq_engine_sniff_file(const char *path)
{
    uint8_t magic[4];
    if (!path) {
        return false;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return false;
    }
    ssize_t n = read(fd, magic, sizeof(magic));
    close(fd);
    return n == (ssize_t)sizeof(magic) && memcmp(magic, TQ_ENG_MAGIC, 4) == 0;
}

/* The NUL-padded name fields of the header: ASCII, NUL-terminated inside the field. */
static bool tq_name_field_ok(const uint8_t *p)
{
    size_t n = 0;
    while (n < TQ_ENG_NAME_FIELD && p[n]) {
        if (p[n] < 0x20 || p[n] > 0x7e) {
            return false;
        }
        n++;
    }
    if (n == 0 || n == TQ_ENG_NAME_FIELD) {
        return false;
    }
    for (size_t i = n; i < TQ_ENG_NAME_FIELD; i++) {
        if (p[i]) {
            return false;
        }
    }
    return true;
}

tfmq_status tq_engine_load(const char *path, tfmq_model *m)
{
    tfmq_status st;
    struct stat sb;
    tq_eng e;
    memset(&e, 0, sizeof(e));
    e.path = path;
    e.arena = &m->arena;

    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return tq_fail(TFMQ_ERR_IO, "%s: cannot open the file", path);
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return tq_fail(TFMQ_ERR_IO, "%s: not a regular file", path);
    }
    if (sb.st_size < (off_t)TQ_ENG_HEADER_BYTES) {
        close(fd);
        return tq_fail(TFMQ_ERR_PARSE, "%s: engine truncated: %lld bytes, the header alone is %u",
                       path, (long long)sb.st_size, TQ_ENG_HEADER_BYTES);
    }
    if ((uint64_t)sb.st_size > (uint64_t)SIZE_MAX / 2) {
        close(fd);
        return tq_fail(TFMQ_ERR_UNSUPPORTED, "%s: engine too large", path);
    }
    e.size = (size_t)sb.st_size;
    void *map = mmap(NULL, e.size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        return tq_fail(TFMQ_ERR_IO, "%s: cannot map the file", path);
    }
    m->mapping = map;
    m->mapping_bytes = e.size;
    e.base = map;

    /* header: magic, version, size, CRC, in that order */
    const uint8_t *h = e.base;
    if (memcmp(h, TQ_ENG_MAGIC, 4) != 0) {
        return tq_fail(TFMQ_ERR_PARSE, "%s: not an engine file (bad magic)", path);
    }
    uint32_t major = tq_le16(h + TQ_ENG_OFF_MAJOR), minor = tq_le16(h + TQ_ENG_OFF_MINOR);
    if (major > TQ_ENGINE_FORMAT_VERSION) {
        return tq_fail(TFMQ_ERR_VERSION, "%s: engine format version %u.%u is newer than this "
                       "tfmq reads (%u.%u); rebuild the engine or upgrade tfmq", path, major,
                       minor, TQ_ENGINE_FORMAT_VERSION, TQ_ENGINE_FORMAT_MINOR);
    }
    if (major == 0) {
        return tq_fail(TFMQ_ERR_PARSE, "%s: corrupt engine: format version 0.%u", path, minor);
    }
    uint32_t header_bytes = tq_le32(h + TQ_ENG_OFF_HEADER_BYTES);
    uint64_t file_bytes = tq_le64(h + TQ_ENG_OFF_FILE_BYTES);
    if (file_bytes > e.size) {
        return tq_fail(TFMQ_ERR_PARSE, "%s: engine truncated: %zu bytes of %llu", path, e.size,
                       (unsigned long long)file_bytes);
    }
    if (file_bytes < e.size) {
        return tq_fail(TFMQ_ERR_PARSE, "%s: corrupt engine: %zu bytes, the header says %llu",
                       path, e.size, (unsigned long long)file_bytes);
    }
    uint32_t crc = tq_crc32c(0, h, TQ_ENG_CRC_OFFSET);
    crc = tq_crc32c(crc, h + TQ_ENG_CRC_OFFSET + 4, e.size - TQ_ENG_CRC_OFFSET - 4);
    if (crc != tq_le32(h + TQ_ENG_CRC_OFFSET)) {
        return tq_fail(TFMQ_ERR_PARSE, "%s: engine checksum mismatch (the file is corrupt)",
                       path);
    }

    /* the rest of the header and the section table */
    uint32_t n_sections = tq_le32(h + TQ_ENG_OFF_N_SECTIONS);
    uint64_t table_end = (uint64_t)header_bytes + (uint64_t)n_sections * TQ_ENG_SECTION_ENTRY_BYTES;
    if (header_bytes < TQ_ENG_HEADER_BYTES || n_sections == 0 ||
        n_sections > TQ_ENG_MAX_SECTIONS || table_end > e.size ||
        tq_le32(h + TQ_ENG_OFF_RESERVED) != 0 || !tq_name_field_ok(h + TQ_ENG_OFF_DEVICE) ||
        !tq_name_field_ok(h + TQ_ENG_OFF_PRECISION)) {
        return tq_fail(TFMQ_ERR_PARSE, "%s: corrupt engine: bad header", path);
    }
    size_t sec_off[5] = {0}, sec_size[5] = {0};
    bool seen[5] = {false};
    for (uint32_t i = 0; i < n_sections; i++) {
        const uint8_t *s = h + header_bytes + (size_t)i * TQ_ENG_SECTION_ENTRY_BYTES;
        uint32_t kind = tq_le32(s);
        uint64_t off = tq_le64(s + 8), size = tq_le64(s + 16);
        if (tq_le32(s + 4) != 0 || off < table_end || off > e.size || size > e.size - off) {
            return tq_fail(TFMQ_ERR_PARSE, "%s: corrupt engine: section %u lies outside the file",
                           path, i);
        }
        if (kind < TQ_ENG_SEC_META || kind > TQ_ENG_SEC_PLANS) {
            continue; /* a later minor version's section */
        }
        if (seen[kind]) {
            return tq_fail(TFMQ_ERR_PARSE, "%s: corrupt engine: section kind %u appears twice",
                           path, kind);
        }
        seen[kind] = true;
        sec_off[kind] = (size_t)off;
        sec_size[kind] = (size_t)size;
    }
    if (!seen[TQ_ENG_SEC_META] || !seen[TQ_ENG_SEC_GRAPH] || !seen[TQ_ENG_SEC_DATA]) {
        return tq_fail(TFMQ_ERR_PARSE, "%s: corrupt engine: a META, GRAPH or DATA section is "
                       "missing", path);
    }
    if (sec_off[TQ_ENG_SEC_DATA] % TQ_ENG_DATA_ALIGN != 0) {
        return tq_fail(TFMQ_ERR_PARSE, "%s: corrupt engine: DATA is not 64-byte aligned", path);
    }
    e.data_off = sec_off[TQ_ENG_SEC_DATA];
    e.data_bytes = sec_size[TQ_ENG_SEC_DATA];

    /* META */
    tq_rd r = {e.base, sec_off[TQ_ENG_SEC_META], sec_off[TQ_ENG_SEC_META] + sec_size[TQ_ENG_SEC_META],
               path, "META"};
    int64_t ir_version, opset;
    uint32_t src_hash;
    const char *producer, *precision, *device;
    TQ_TRY(st, tq_rd_i64(&r, &ir_version, "ir_version"));
    TQ_TRY(st, tq_rd_i64(&r, &opset, "opset"));
    TQ_TRY(st, tq_rd_u32(&r, &src_hash, "source hash"));
    TQ_TRY(st, tq_rd_str(&r, &m->arena, false, &producer, "producer"));
    TQ_TRY(st, tq_rd_str(&r, &m->arena, false, &precision, "precision"));
    TQ_TRY(st, tq_rd_str(&r, &m->arena, false, &device, "device"));
    if (strncmp(precision, (const char *)h + TQ_ENG_OFF_PRECISION, TQ_ENG_NAME_FIELD) != 0 ||
        strncmp(device, (const char *)h + TQ_ENG_OFF_DEVICE, TQ_ENG_NAME_FIELD) != 0) {
        return tq_rd_fail(&r, "precision or device differs from the header");
    }
    if (strcmp(device, "cpu") != 0 && strcmp(device, "cuda") != 0) {
        return tq_fail(TFMQ_ERR_UNSUPPORTED, "%s: engine built for device '%s'; this tfmq runs "
                       "'cpu' and 'cuda' engines", path, device);
    }
    if ((strcmp(device, "cuda") == 0) != seen[TQ_ENG_SEC_PLANS]) {
        return tq_fail(TFMQ_ERR_PARSE, "%s: corrupt engine: a '%s' engine %s a PLANS section",
                       path, device, seen[TQ_ENG_SEC_PLANS] ? "with" : "without");
    }
    if (seen[TQ_ENG_SEC_PLANS]) {
        m->plans = e.base + sec_off[TQ_ENG_SEC_PLANS];
        m->plans_bytes = sec_size[TQ_ENG_SEC_PLANS];
        char summary[320]; /* for inspection; the CUDA backend checks the plans in full */
        tq_plan_cache_summary(m->plans, m->plans_bytes, summary, sizeof(summary));
        m->planned_for = tq_arena_strdup(&m->arena, summary);
        if (!m->planned_for) {
            return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
        }
    }
    m->meta.ir_version = ir_version;
    m->meta.opset = opset;
    m->meta.producer = producer;
    m->content_hash = src_hash;
    m->precision = precision;
    m->device = device;
    m->path = tq_arena_strdup(&m->arena, path);
    if (!m->path) {
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }

    /* GRAPH */
    tq_graph *g = NULL;
    TQ_TRY(st, tq_graph_create(&m->arena, m->palloc, &g));
    m->graph = g;
    r.pos = sec_off[TQ_ENG_SEC_GRAPH];
    r.end = r.pos + sec_size[TQ_ENG_SEC_GRAPH];
    r.section = "GRAPH";
    TQ_TRY(st, tq_rd_graph(&r, &e, g));
    if (r.pos != r.end) {
        return tq_rd_fail(&r, "trailing bytes");
    }
    st = tq_graph_finalize(g);
    if (st != TFMQ_OK && st != TFMQ_ERR_OUT_OF_MEMORY) {
        return tq_fail_prefix(TFMQ_ERR_PARSE, "%s: corrupt engine", path);
    }
    (void)minor;
fail:
    return st;
}
