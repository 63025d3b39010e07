/* writer.c: tfmq_model_save: serialize a model's IR graph into the engine format of format.h.
 * Header, section table, META and GRAPH are built in one memory buffer; constant data is not
 * copied but streamed from the graph, 64-byte aligned, after the CRC-32C over all of it has been
 * computed. The file is written atomically (atomic_file.c). */
#include <string.h>

#include "engine/atomic_file.h"
#include "engine/engine.h"
#include "engine/format.h"
#include "runtime/model.h"

typedef struct tq_wbuf {
    const tfmq_allocator *alloc;
    uint8_t *p;
    size_t n, cap;
    bool oom;
} tq_wbuf;

typedef struct tq_wblob {
    const void *data;
    size_t bytes;
    uint64_t off; /* from the DATA section start, a multiple of 64 */
} tq_wblob;

typedef struct tq_writer {
    const tfmq_allocator *alloc;
    tq_wbuf buf;        /* GRAPH section */
    tq_wblob *blobs;
    size_t n_blobs, cap_blobs;
    uint64_t data_bytes; /* end of the last blob */
} tq_writer;

static void tq_wbuf_free(tq_wbuf *b)
{
    tq_free(b->alloc, b->p, b->cap);
    b->p = NULL;
    b->n = b->cap = 0;
}

static void tq_put(tq_wbuf *b, const void *data, size_t n)
{
    if (b->oom) {
        return;
    }
    if (b->cap - b->n < n) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->n < n) {
            if (!tq_mul_size(cap, 2, &cap)) {
                b->oom = true;
                return;
            }
        }
        uint8_t *p = tq_realloc(b->alloc, b->p, b->cap, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    if (n) {
        memcpy(b->p + b->n, data, n);
    }
    b->n += n;
}

static void tq_put_u16(tq_wbuf *b, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    tq_put(b, x, 2);
}

static void tq_put_u32(tq_wbuf *b, uint32_t v)
{
    uint8_t x[4];
    for (int i = 0; i < 4; i++) {
        x[i] = (uint8_t)(v >> (8 * i));
    }
    tq_put(b, x, 4);
}

static void tq_put_u64(tq_wbuf *b, uint64_t v)
{
    uint8_t x[8];
    for (int i = 0; i < 8; i++) {
        x[i] = (uint8_t)(v >> (8 * i));
    }
    tq_put(b, x, 8);
}

static void tq_put_i32(tq_wbuf *b, int32_t v)
{
    tq_put_u32(b, (uint32_t)v);
}

static void tq_put_i64(tq_wbuf *b, int64_t v)
{
    tq_put_u64(b, (uint64_t)v);
}

static void tq_put_f32(tq_wbuf *b, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    tq_put_u32(b, u);
}

/* NULL is stored as the length TQ_ENG_NO_STRING. */
static void tq_put_str(tq_wbuf *b, const char *s)
{
    if (!s) {
        tq_put_u32(b, TQ_ENG_NO_STRING);
        return;
    }
    size_t n = strlen(s);
    if (n >= TQ_ENG_NO_STRING) {
        b->oom = true;
        return;
    }
    tq_put_u32(b, (uint32_t)n);
    tq_put(b, s, n);
}

/* Reserve room for `bytes` of data in DATA; returns its offset in *off_out. */
static tfmq_status tq_add_blob(tq_writer *w, const void *data, size_t bytes, uint64_t *off_out)
{
    if (w->n_blobs == w->cap_blobs) {
        size_t cap = w->cap_blobs ? w->cap_blobs * 2 : 64;
        tq_wblob *nb = tq_realloc(w->alloc, w->blobs, w->cap_blobs * sizeof(*nb),
                                  cap * sizeof(*nb));
        if (!nb) {
            return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "engine: out of memory");
        }
        w->blobs = nb;
        w->cap_blobs = cap;
    }
    uint64_t off = (w->data_bytes + (TQ_ENG_DATA_ALIGN - 1)) & ~(uint64_t)(TQ_ENG_DATA_ALIGN - 1);
    w->blobs[w->n_blobs].data = data;
    w->blobs[w->n_blobs].bytes = bytes;
    w->blobs[w->n_blobs].off = off;
    w->n_blobs++;
    w->data_bytes = off + bytes;
    *off_out = off;
    return TFMQ_OK;
}

/* Size check of a tensor with data; `what` names it in messages. */
static tfmq_status tq_data_bytes(const tq_tensor *t, const char *what, const char *name,
                                 size_t *bytes_out)
{
    if (tq_dtype_size(t->dtype) == 0) {
        return tq_fail(TFMQ_ERR_UNSUPPORTED, "engine: %s '%s' has dtype %s, which engines cannot "
                       "store", what, name, tfmq_dtype_name(t->dtype));
    }
    if (t->rank < 0 || t->rank > TQ_MAX_RANK || !tq_tensor_bytes(t, bytes_out)) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "engine: %s '%s' has no valid shape", what, name);
    }
    if (!t->data && *bytes_out > 0) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "engine: %s '%s' has no data", what, name);
    }
    return TFMQ_OK;
}

static tfmq_status tq_write_graph(tq_writer *w, const tq_graph *g);

static tfmq_status tq_write_attr(tq_writer *w, const tq_graph *g, const tq_node *n,
                                 const tq_attr *a)
{
    tq_wbuf *b = &w->buf;
    tfmq_status st;
    tq_put_str(b, a->name ? a->name : "");
    tq_put_u32(b, (uint32_t)a->type);
    switch (a->type) {
    case TQ_ATTR_FLOAT:
        tq_put_f32(b, a->f);
        break;
    case TQ_ATTR_INT:
        tq_put_i64(b, a->i);
        break;
    case TQ_ATTR_STRING:
        tq_put_str(b, a->s ? a->s : "");
        break;
    case TQ_ATTR_TENSOR: {
        const tq_tensor *t = a->tensor;
        size_t bytes = 0;
        uint64_t off = 0;
        if (!t) {
            return tq_fail(TFMQ_ERR_INVALID_ARG, "engine: attribute '%s' has no tensor", a->name);
        }
        if ((st = tq_data_bytes(t, "tensor attribute", a->name, &bytes)) != TFMQ_OK ||
            (st = tq_add_blob(w, t->data, bytes, &off)) != TFMQ_OK) {
            return st;
        }
        tq_put_i32(b, (int32_t)t->dtype);
        tq_put_i32(b, t->rank);
        for (int32_t d = 0; d < t->rank; d++) {
            tq_put_i64(b, t->dims[d]);
        }
        tq_put_u64(b, off);
        tq_put_u64(b, bytes);
        break;
    }
    case TQ_ATTR_GRAPH:
        if (!a->graph) {
            return tq_fail(TFMQ_ERR_INVALID_ARG, "engine: attribute '%s' has no graph", a->name);
        }
        if ((st = tq_write_graph(w, a->graph)) != TFMQ_OK) {
            return st;
        }
        break;
    case TQ_ATTR_FLOATS:
        tq_put_u32(b, (uint32_t)a->n);
        for (size_t i = 0; i < a->n; i++) {
            tq_put_f32(b, a->floats[i]);
        }
        break;
    case TQ_ATTR_INTS:
        tq_put_u32(b, (uint32_t)a->n);
        for (size_t i = 0; i < a->n; i++) {
            tq_put_i64(b, a->ints[i]);
        }
        break;
    case TQ_ATTR_STRINGS:
        tq_put_u32(b, (uint32_t)a->n);
        for (size_t i = 0; i < a->n; i++) {
            tq_put_str(b, a->strings[i] ? a->strings[i] : "");
        }
        break;
    default: {
        char lbl[64];
        return tq_fail(TFMQ_ERR_INVALID_ARG, "engine: node '%s': attribute '%s' has type %d",
                       tq_node_label(g, n, lbl, sizeof(lbl)), a->name, (int)a->type);
    }
    }
    if ((a->type == TQ_ATTR_FLOATS || a->type == TQ_ATTR_INTS || a->type == TQ_ATTR_STRINGS) &&
        a->n >= UINT32_MAX) {
        return tq_fail(TFMQ_ERR_UNSUPPORTED, "engine: attribute '%s' is too long", a->name);
    }
    return TFMQ_OK;
}

static tfmq_status tq_write_graph(tq_writer *w, const tq_graph *g)
{
    tq_wbuf *b = &w->buf;
    tfmq_status st;
    tq_put_str(b, g->name ? g->name : "");
    tq_put_i64(b, g->opset);
    tq_put_u32(b, (uint32_t)g->n_values);
    for (size_t i = 0; i < g->n_values; i++) {
        const tq_value *v = &g->values[i];
        const tq_tensor *t = &v->t;
        uint64_t off = 0;
        size_t bytes = 0;
        if (t->rank < -1 || t->rank > TQ_MAX_RANK) {
            return tq_fail(TFMQ_ERR_INVALID_ARG, "engine: value '%s' has rank %d", v->name,
                           t->rank);
        }
        if (v->flags & TQ_VALUE_CONST) {
            if ((st = tq_data_bytes(t, "constant", v->name, &bytes)) != TFMQ_OK ||
                (st = tq_add_blob(w, t->data, bytes, &off)) != TFMQ_OK) {
                return st;
            }
        }
        tq_put_str(b, v->name ? v->name : "");
        tq_put_u32(b, v->flags & (TQ_VALUE_CONST | TQ_VALUE_OUTER));
        tq_put_i32(b, (int32_t)t->dtype);
        tq_put_i32(b, t->rank);
        for (int32_t d = 0; d < t->rank; d++) {
            tq_put_i64(b, t->dims[d] < 0 ? -1 : t->dims[d]);
        }
        for (int32_t d = 0; d < t->rank; d++) {
            tq_put_str(b, v->dim_names[d]);
        }
        tq_put_u64(b, off);
        tq_put_u64(b, bytes);
    }
    tq_put_u32(b, (uint32_t)g->n_inputs);
    for (size_t i = 0; i < g->n_inputs; i++) {
        tq_put_i32(b, g->inputs[i]);
    }
    tq_put_u32(b, (uint32_t)g->n_outputs);
    for (size_t i = 0; i < g->n_outputs; i++) {
        tq_put_i32(b, g->outputs[i]);
    }
    tq_put_u32(b, (uint32_t)g->n_nodes);
    for (size_t i = 0; i < g->n_nodes; i++) {
        const tq_node *n = &g->nodes[i];
        if (n->op >= TQ_OP_COUNT_) {
            return tq_fail(TFMQ_ERR_INTERNAL, "engine: node %zu has op %u", i, n->op);
        }
        tq_put_str(b, tq_op_table[n->op].name);
        tq_put_str(b, n->name ? n->name : "");
        tq_put_u32(b, (uint32_t)n->n_in);
        for (int32_t k = 0; k < n->n_in; k++) {
            tq_put_i32(b, n->in[k]);
        }
        tq_put_u32(b, (uint32_t)n->n_out);
        for (int32_t k = 0; k < n->n_out; k++) {
            tq_put_i32(b, n->out[k]);
        }
        tq_put_u32(b, (uint32_t)n->n_attrs);
        for (int32_t k = 0; k < n->n_attrs; k++) {
            if ((st = tq_write_attr(w, g, n, &n->attrs[k])) != TFMQ_OK) {
                return st;
            }
        }
    }
    return b->oom ? tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "engine: out of memory") : TFMQ_OK;
}

static void tq_put_name_field(tq_wbuf *b, const char *s)
{
    uint8_t f[TQ_ENG_NAME_FIELD];
    memset(f, 0, sizeof(f));
    size_t n = strlen(s);
    memcpy(f, s, n < sizeof(f) ? n : sizeof(f) - 1);
    tq_put(b, f, sizeof(f));
}

static void tq_patch_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static void tq_patch_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

tfmq_status tfmq_model_save(const tfmq_model *model, const char *path, uint32_t flags)
{
    if (!model) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "model_save: NULL argument");
    }
    return tq_engine_save(model, path, flags, model->device, model->plans, model->plans_bytes);
}

tfmq_status tq_engine_save(const tfmq_model *model, const char *path, uint32_t flags,
                           const char *device, const uint8_t *plans, size_t plans_bytes)
{
    static const uint8_t zeros[TQ_ENG_DATA_ALIGN];
    tfmq_status st = TFMQ_OK;
    tq_writer w;
    tq_wbuf pre; /* header, table, META, GRAPH, padding */
    tq_wbuf meta;
    tq_atomic_file af;
    bool open = false;

    memset(&w, 0, sizeof(w));
    memset(&pre, 0, sizeof(pre));
    memset(&meta, 0, sizeof(meta));
    if (!model || !path || !model->graph) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "model_save: NULL argument");
    }
    if (flags & ~(uint32_t)TFMQ_WRITE_OVERWRITE) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "model_save: unknown flags 0x%x", flags);
    }
    device = device && device[0] ? device : "cpu";
    if ((strcmp(device, "cuda") == 0) != (plans != NULL)) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "model_save: device '%s' %s plans", device,
                       plans ? "with" : "without");
    }
    const char *precision = model->precision && model->precision[0] ? model->precision : "fp32";
    if (strlen(device) >= TQ_ENG_NAME_FIELD || strlen(precision) >= TQ_ENG_NAME_FIELD) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "model_save: device '%s' or precision '%s' is longer "
                       "than %u characters", device, precision, TQ_ENG_NAME_FIELD - 1);
    }
    w.alloc = model->palloc;
    w.buf.alloc = model->palloc;
    pre.alloc = model->palloc;
    TQ_TRY(st, tq_write_graph(&w, model->graph));

    /* META */
    meta.alloc = model->palloc;
    tq_put_i64(&meta, model->meta.ir_version);
    tq_put_i64(&meta, model->meta.opset);
    tq_put_u32(&meta, model->content_hash);
    tq_put_str(&meta, model->meta.producer ? model->meta.producer : "");
    tq_put_str(&meta, precision);
    tq_put_str(&meta, device);

    /* layout */
    const uint32_t n_sections = plans ? 4 : 3;
    uint64_t off_meta = TQ_ENG_HEADER_BYTES + (uint64_t)n_sections * TQ_ENG_SECTION_ENTRY_BYTES;
    uint64_t off_graph = off_meta + meta.n;
    uint64_t off_plans = off_graph + w.buf.n;
    uint64_t off_data = (off_plans + (plans ? plans_bytes : 0) + TQ_ENG_DATA_ALIGN - 1) &
                        ~(uint64_t)(TQ_ENG_DATA_ALIGN - 1);
    uint64_t file_bytes = off_data + w.data_bytes;

    tq_put(&pre, TQ_ENG_MAGIC, 4);
    tq_put_u16(&pre, (uint16_t)TQ_ENGINE_FORMAT_VERSION);
    tq_put_u16(&pre, (uint16_t)TQ_ENGINE_FORMAT_MINOR);
    tq_put_u32(&pre, TQ_ENG_HEADER_BYTES);
    tq_put_u32(&pre, 0); /* crc, patched below */
    tq_put_u64(&pre, file_bytes);
    tq_put_u32(&pre, n_sections);
    tq_put_u32(&pre, 0);
    tq_put_name_field(&pre, device);
    tq_put_name_field(&pre, precision);
    const uint64_t secs[4][3] = {{TQ_ENG_SEC_META, off_meta, meta.n},
                                 {TQ_ENG_SEC_GRAPH, off_graph, w.buf.n},
                                 {TQ_ENG_SEC_DATA, off_data, w.data_bytes},
                                 {TQ_ENG_SEC_PLANS, off_plans, plans_bytes}};
    for (uint32_t i = 0; i < n_sections; i++) {
        tq_put_u32(&pre, (uint32_t)secs[i][0]);
        tq_put_u32(&pre, 0);
        tq_put_u64(&pre, secs[i][1]);
        tq_put_u64(&pre, secs[i][2]);
    }
    tq_put(&pre, meta.p, meta.n);
    tq_wbuf_free(&meta);
    tq_put(&pre, w.buf.p, w.buf.n);
    if (plans) {
        tq_put(&pre, plans, plans_bytes);
    }
    while (!pre.oom && pre.n < off_data) {
        tq_put(&pre, zeros, 1);
    }
    if (pre.oom || meta.oom) {
        st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "%s: out of memory building the engine", path);
        goto fail;
    }
    tq_patch_u64(pre.p + TQ_ENG_OFF_FILE_BYTES, file_bytes);

    /* CRC-32C of everything but the CRC field, in file order */
    uint32_t crc = tq_crc32c(0, pre.p, TQ_ENG_CRC_OFFSET);
    crc = tq_crc32c(crc, pre.p + TQ_ENG_CRC_OFFSET + 4, pre.n - TQ_ENG_CRC_OFFSET - 4);
    uint64_t pos = 0;
    for (size_t i = 0; i < w.n_blobs; i++) {
        crc = tq_crc32c(crc, zeros, (size_t)(w.blobs[i].off - pos));
        crc = tq_crc32c(crc, w.blobs[i].data, w.blobs[i].bytes);
        pos = w.blobs[i].off + w.blobs[i].bytes;
    }
    tq_patch_u32(pre.p + TQ_ENG_CRC_OFFSET, crc);

    TQ_TRY(st, tq_atomic_open(&af, model->palloc, path, flags));
    open = true;
    TQ_TRY(st, tq_atomic_write(&af, pre.p, pre.n));
    pos = 0;
    for (size_t i = 0; i < w.n_blobs; i++) {
        TQ_TRY(st, tq_atomic_write(&af, zeros, (size_t)(w.blobs[i].off - pos)));
        TQ_TRY(st, tq_atomic_write(&af, w.blobs[i].data, w.blobs[i].bytes));
        pos = w.blobs[i].off + w.blobs[i].bytes;
    }
    open = false;
    TQ_TRY(st, tq_atomic_commit(&af));
fail:
    if (open) {
        tq_atomic_abort(&af);
    }
    tq_wbuf_free(&pre);
    tq_wbuf_free(&meta);
    tq_wbuf_free(&w.buf);
    tq_free(w.alloc, w.blobs, w.cap_blobs * sizeof(*w.blobs));
    return st;
}
