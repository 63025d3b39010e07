/* model.c: tfmq_model: loading (format detected from content), validation by planning the graph
 * once with symbolic dims as 1, and the inspection API (I/O, op histogram, parameters, MACs).
 * A model owns its arena (IR objects), its graph (constants) and a copy of the allocator; it is
 * immutable after tfmq_model_load returns, so threads may share it. */
#define _DEFAULT_SOURCE /* NOLINT: MAP_POPULATE, hidden under plain C11 */
#include <stdio.h>
#include <string.h>

#include <sys/mman.h>

#include "engine/engine.h"
#include "import/onnx/onnx_import.h"
#include "runtime/model.h"

/* Largest model file read into memory. Larger weights use ONNX external data. */
#define TQ_MAX_MODEL_FILE_BYTES ((size_t)2 << 30)
/* Validation folds only constants up to this size (tq_exec_set_fold_limit): what shapes need. */
#define TQ_VALIDATE_FOLD_MAX ((size_t)64 << 10)

/* The whole file at *data_out: mapped read-only where it can be (no copy, and the page cache's
 * pages are shared: ResNet-50's 102 MB ONNX file was read and faulted into fresh memory, a
 * third of its load), else read into memory from the allocator. *mapped_out says which, for
 * tq_release_file. */
static tfmq_status tq_read_file(const tfmq_allocator *alloc, const char *path, void **data_out,
                                size_t *size_out, bool *mapped_out)
{
    *data_out = NULL;
    *size_out = 0;
    *mapped_out = false;
    FILE *f = fopen(path, "rb");
    if (!f) {
        return tq_fail(TFMQ_ERR_IO, "%s: cannot open the file", path);
    }
    tfmq_status st = TFMQ_OK;
    void *buf = NULL;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0) {
        size = ftell(f);
    }
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0) {
        st = tq_fail(TFMQ_ERR_IO, "%s: cannot read the file (is it a regular file?)", path);
        goto done;
    }
    if ((size_t)size > TQ_MAX_MODEL_FILE_BYTES) {
        st = tq_fail(TFMQ_ERR_UNSUPPORTED, "%s: %ld bytes; at most %zu supported", path, size,
                     TQ_MAX_MODEL_FILE_BYTES);
        goto done;
    }
    if (size > 0) {
        void *map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fileno(f), 0);
        if (map != MAP_FAILED) {
            *data_out = map;
            *size_out = (size_t)size;
            *mapped_out = true;
            goto done;
        }
    }
    buf = tq_alloc(alloc, (size_t)size + 1);
    if (!buf) {
        st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "%s: out of memory reading %ld bytes", path, size);
        goto done;
    }
    if (size > 0 && fread(buf, 1, (size_t)size, f) != (size_t)size) {
        st = tq_fail(TFMQ_ERR_IO, "%s: read error", path);
        tq_free(alloc, buf, (size_t)size + 1);
        buf = NULL;
        goto done;
    }
    *data_out = buf;
    *size_out = (size_t)size;
done:
    fclose(f);
    return st;
}

static void tq_release_file(const tfmq_allocator *alloc, void *data, size_t size, bool mapped)
{
    if (mapped) {
        munmap(data, size);
    } else {
        tq_free(alloc, data, size + 1);
    }
}

/* MACs of one node from its planned shapes (0 for ops without multiply-accumulates). */
static uint64_t tq_node_macs(const tq_graph *g, const tq_node *n, const tq_exec *e)
{
    const tq_tensor *out = n->n_out > 0 && n->out[0] >= 0 ? tq_exec_value(e, n->out[0]) : NULL;
    const tq_tensor *w = n->n_in > 1 && n->in[1] >= 0 ? tq_exec_value(e, n->in[1]) : NULL;
    const tq_tensor *x = n->n_in > 0 && n->in[0] >= 0 ? tq_exec_value(e, n->in[0]) : NULL;
    (void)g;
    if (!out || !tq_tensor_shape_known(out) || !w || !tq_tensor_shape_known(w) || !x ||
        !tq_tensor_shape_known(x)) {
        return 0;
    }
    switch (n->op) {
    case TQ_OP_CONV: { /* out elements * (Cin/group * kernel) = out * numel(W) / Cout */
        if (w->rank < 1 || w->dims[0] == 0) {
            return 0;
        }
        return (uint64_t)tq_tensor_numel(out) * (uint64_t)(tq_tensor_numel(w) / (size_t)w->dims[0]);
    }
    case TQ_OP_CONV_TRANSPOSE: { /* in elements * Cout/group * kernel = in * numel(W) / Cin */
        if (w->rank < 1 || w->dims[0] == 0) {
            return 0;
        }
        return (uint64_t)tq_tensor_numel(x) * (uint64_t)(tq_tensor_numel(w) / (size_t)w->dims[0]);
    }
    case TQ_OP_MATMUL: {
        int64_t k = x->rank >= 1 ? x->dims[x->rank - 1] : 1;
        return (uint64_t)tq_tensor_numel(out) * (uint64_t)k;
    }
    case TQ_OP_GEMM: {
        int64_t trans_a = 0;
        if (tq_attr_int(n, "transA", 0, &trans_a) != TFMQ_OK || x->rank != 2) {
            return 0;
        }
        int64_t k = trans_a ? x->dims[0] : x->dims[1];
        return (uint64_t)tq_tensor_numel(out) * (uint64_t)k;
    }
    default: return 0;
    }
}

static tfmq_status tq_model_build_index(tfmq_model *m)
{
    const tq_graph *g = m->graph;
    /* op histogram in first-appearance order */
    m->op_types = tq_arena_alloc(&m->arena, sizeof(uint32_t) * TQ_OP_COUNT_);
    m->op_counts = tq_arena_alloc(&m->arena, sizeof(size_t) * TQ_OP_COUNT_);
    if (!m->op_types || !m->op_counts) {
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "model: out of memory");
    }
    for (size_t i = 0; i < g->n_nodes; i++) {
        uint32_t op = g->nodes[i].op;
        size_t k = 0;
        while (k < m->n_op_types && m->op_types[k] != op) {
            k++;
        }
        if (k == m->n_op_types) {
            m->op_types[m->n_op_types++] = op;
        }
        m->op_counts[k]++;
    }
    for (size_t v = 0; v < g->n_values; v++) {
        if (g->values[v].flags & TQ_VALUE_CONST) {
            m->n_params += tq_tensor_numel(&g->values[v].t);
        }
    }
    return TFMQ_OK;
}

/* The default input shapes: the file's shapes with symbolic dims set to sym. */
tfmq_status tq_model_default_shapes(const tfmq_model *m, int64_t sym, tq_tensor *shapes)
{
    const tq_graph *g = m->graph;
    for (size_t i = 0; i < g->n_inputs; i++) {
        const tq_value *v = &g->values[g->inputs[i]];
        tq_tensor *t = &shapes[i];
        memset(t, 0, sizeof(*t));
        t->dtype = v->t.dtype;
        t->rank = v->t.rank;
        if (t->rank < 0) {
            return tq_fail(TFMQ_ERR_UNSUPPORTED, "input '%s' has no shape in the file", v->name);
        }
        for (int32_t d = 0; d < t->rank; d++) {
            t->dims[d] = v->t.dims[d] < 0 ? sym : v->t.dims[d];
        }
    }
    return TFMQ_OK;
}

static tfmq_status tq_model_validate(tfmq_model *m)
{
    const tq_graph *g = m->graph;
    tfmq_status st;
    tq_exec *e = NULL;
    tq_tensor *shapes = tq_calloc(m->palloc, g->n_inputs ? g->n_inputs : 1, sizeof(tq_tensor));
    if (!shapes) {
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "model: out of memory");
    }
    TQ_TRY(st, tq_model_default_shapes(m, 1, shapes));
    for (size_t i = 0; i < g->n_inputs; i++) {
        if (tq_dtype_size(shapes[i].dtype) == 0) {
            st = tq_fail(TFMQ_ERR_UNSUPPORTED, "input '%s' has dtype %s, which is not supported",
                         g->values[g->inputs[i]].name, tfmq_dtype_name(shapes[i].dtype));
            goto fail;
        }
    }
    TQ_TRY(st, tq_exec_create(g, m->palloc, NULL, &e));
    tq_exec_set_fold_limit(e, TQ_VALIDATE_FOLD_MAX);
    TQ_TRY(st, tq_exec_plan(e, shapes, true));
    for (size_t i = 0; i < g->n_nodes; i++) {
        m->n_macs += tq_node_macs(g, &g->nodes[i], e);
    }
    /* outputs the file declares without a type get the inferred one (symbolic dims as 1) */
    for (size_t i = 0; i < g->n_outputs; i++) {
        tq_value *v = &g->values[g->outputs[i]];
        const tq_tensor *t = tq_exec_value(e, g->outputs[i]);
        if (v->t.dtype == TFMQ_DTYPE_UNDEFINED) {
            v->t.dtype = t->dtype;
        }
        if (v->t.rank < 0 && t->rank >= 0) {
            v->t.rank = t->rank;
            for (int32_t d = 0; d < t->rank; d++) {
                v->t.dims[d] = t->dims[d];
                v->dim_names[d] = t->dims[d] < 0 ? "?" : NULL;
            }
        }
    }
fail:
    tq_exec_destroy(e);
    tq_free(m->palloc, shapes, (g->n_inputs ? g->n_inputs : 1) * sizeof(tq_tensor));
    return st;
}

tfmq_status tq_model_new(const tfmq_allocator *ua, tfmq_model **m_out)
{
    *m_out = NULL;
    tfmq_model *m = tq_calloc(ua, 1, sizeof(*m));
    if (!m) {
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "model: out of memory");
    }
    if (ua) {
        m->alloc = *ua;
        m->palloc = &m->alloc;
    }
    tq_arena_init(&m->arena, m->palloc);
    m->precision = "fp32";
    m->device = "";
    m->format = "onnx";
    *m_out = m;
    return TFMQ_OK;
}

tfmq_status tq_model_finish(tfmq_model *m, const char *path)
{
    tfmq_status st = tq_model_build_index(m);
    if (st != TFMQ_OK) {
        return st;
    }
    st = tq_model_validate(m);
    if (st != TFMQ_OK) {
        tq_fail_prefix(st, "%s", path);
    }
    return st;
}

tfmq_status tfmq_model_load(const char *path, const tfmq_load_options *opts,
                            tfmq_model **model_out)
{
    tfmq_status st;
    tfmq_model *m = NULL;
    void *data = NULL;
    size_t size = 0;
    bool mapped = false;
    const tfmq_allocator *ua = NULL;
    const char *signature = NULL;

    if (!model_out) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "model_load: model_out is NULL");
    }
    *model_out = NULL;
    if (!path) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "model_load: path is NULL");
    }
    if (opts) {
        if (opts->struct_size < sizeof(uint32_t) || opts->struct_size > sizeof(*opts)) {
            return tq_fail(TFMQ_ERR_INVALID_ARG, "model_load: bad opts->struct_size %u",
                           opts->struct_size);
        }
        if (opts->struct_size >= offsetof(tfmq_load_options, allocator) + sizeof(void *)) {
            ua = opts->allocator;
        }
        if (opts->struct_size >= offsetof(tfmq_load_options, signature) + sizeof(void *)) {
            signature = opts->signature;
        }
    }
    st = tq_model_new(ua, &m);
    if (st != TFMQ_OK) {
        return tq_fail(st, "%s: out of memory", path);
    }
    if (tq_tf_is_saved_model(path)) {
        TQ_TRY(st, tq_import_tf(path, signature, m));
        TQ_TRY(st, tq_model_finish(m, path));
        *model_out = m;
        return TFMQ_OK;
    }
    if (tq_engine_sniff_file(path)) {
        m->format = "tfmq-engine";
        TQ_TRY(st, tq_engine_load(path, m));
        TQ_TRY(st, tq_model_finish(m, path));
        *model_out = m;
        return TFMQ_OK;
    }
    TQ_TRY(st, tq_read_file(m->palloc, path, &data, &size, &mapped));
    m->content_hash = tq_crc32c(0, data, size);
    if (tq_keras_sniff(data, size)) { /* HDF5 (.h5) or zip (.keras): the importer reads it */
        tq_release_file(m->palloc, data, size, mapped);
        data = NULL;
        TQ_TRY(st, tq_import_keras(path, m));
    } else if (tq_onnx_sniff(data, size)) {
        m->format = "onnx";
        TQ_TRY(st, tq_import_onnx(data, size, path, &m->arena, m->palloc, &m->meta, &m->graph));
    } else {
        st = tq_fail(TFMQ_ERR_PARSE,
                     "%s: not a model file tfmq can read (%zu bytes; expected ONNX, Keras .h5 "
                     "or .keras, a TensorFlow SavedModel folder or a tfmq engine)",
                     path, size);
        goto fail;
    }
    if (data) {
        tq_release_file(m->palloc, data, size, mapped);
        data = NULL;
    }
    for (size_t i = 0; i < m->graph->n_nodes; i++) { /* a QDQ model made by another tool */
        if (m->graph->nodes[i].op == TQ_OP_DEQUANTIZE_LINEAR) {
            m->precision = "int8";
            break;
        }
    }
    TQ_TRY(st, tq_model_finish(m, path));
    *model_out = m;
    return TFMQ_OK;
fail:
    if (data) {
        tq_release_file(m->palloc, data, size, mapped);
    }
    if (st != TFMQ_OK && strncmp(tfmq_last_error(), path, strlen(path)) != 0) {
        tq_fail_prefix(st, "%s", path);
    }
    tfmq_model_destroy(m);
    return st;
}

void tfmq_model_destroy(tfmq_model *m)
{
    if (!m) {
        return;
    }
    const tfmq_allocator *a = m->palloc;
    tfmq_allocator copy;
    if (a) {
        copy = *a;
        a = &copy;
    }
    tq_graph_destroy(m->graph);
    tq_arena_free(&m->arena);
    if (m->mapping) {
        munmap(m->mapping, m->mapping_bytes);
    }
    tq_free(a, m, sizeof(*m));
}

tfmq_status tfmq_model_get_info(const tfmq_model *m, tfmq_model_info *info)
{
    if (!m || !info) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "model_get_info: NULL argument");
    }
    uint32_t size = info->struct_size;
    if (size < sizeof(uint32_t) || size > sizeof(*info)) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "model_get_info: bad struct_size %u", size);
    }
    tfmq_model_info full;
    memset(&full, 0, sizeof(full));
    full.struct_size = size;
    full.format = m->format;
    full.producer = m->meta.producer ? m->meta.producer : "";
    full.ir_version = m->meta.ir_version;
    full.opset = m->meta.opset;
    full.n_inputs = m->graph->n_inputs;
    full.n_outputs = m->graph->n_outputs;
    full.n_nodes = m->graph->n_nodes;
    full.n_op_types = m->n_op_types;
    full.n_params = m->n_params;
    full.n_macs = m->n_macs;
    full.precision = m->precision;
    full.device = m->device;
    full.planned_for = m->planned_for ? m->planned_for : "";
    memcpy(info, &full, size);
    return TFMQ_OK;
}

tfmq_status tfmq_model_op_type(const tfmq_model *m, size_t k, const char **op_out,
                               size_t *count_out)
{
    if (!m || !op_out || !count_out || k >= m->n_op_types) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "model_op_type: bad argument or index %zu", k);
    }
    *op_out = tq_op_table[m->op_types[k]].name;
    *count_out = m->op_counts[k];
    return TFMQ_OK;
}

tfmq_status tfmq_model_io(const tfmq_model *m, tfmq_io_kind kind, size_t index,
                          tfmq_io_info *info)
{
    if (!m || !info) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "model_io: NULL argument");
    }
    uint32_t size = info->struct_size;
    if (size < sizeof(uint32_t) || size > sizeof(*info)) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "model_io: bad struct_size %u", size);
    }
    const tq_graph *g = m->graph;
    size_t n = kind == TFMQ_IO_INPUT ? g->n_inputs : g->n_outputs;
    if ((kind != TFMQ_IO_INPUT && kind != TFMQ_IO_OUTPUT) || index >= n) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "model_io: index %zu out of range (%zu %s)", index,
                       n, kind == TFMQ_IO_INPUT ? "inputs" : "outputs");
    }
    const tq_value *v = &g->values[kind == TFMQ_IO_INPUT ? g->inputs[index] : g->outputs[index]];
    tfmq_io_info full;
    memset(&full, 0, sizeof(full));
    full.struct_size = size;
    full.name = v->name;
    full.dtype = v->t.dtype;
    full.rank = v->t.rank;
    full.dims = v->t.dims;
    full.dim_names = v->dim_names;
    memcpy(info, &full, size);
    return TFMQ_OK;
}
