/* model_io.h: helpers shared by test_engine.c and test_export.c (header only): paths to the
 * source tree, ../shared and the conformance data, a per-run output folder, and sets of model
 * inputs and outputs (random, or a conformance data set) run through the public API and compared
 * bit for bit. */
#ifndef TQ_TEST_MODEL_IO_H
#define TQ_TEST_MODEL_IO_H

static char g_root[512];
/* A path under ../shared (a static buffer per call site is not needed: callers copy). */
static inline const char *shared_path(const char *rel)
{
    static char buf[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof(buf[k]), "%s/%s", tq_test_shared_dir(), rel);
    return buf[k];
}

static char g_dir[256]; /* output folder of this run */
#define CONF_DIR "/usr/include/onnx/backend/test/data/node"
#define SHARED_RESNET20 shared_path("models/resnet20_cifar10/model.onnx")
#define MAX_IO 8

static inline void find_root(void)
{
    snprintf(g_root, sizeof(g_root), "%s", __FILE__);
    char *p = strstr(g_root, "/tests/unit/");
    if (p) {
        *p = '\0';
    } else {
        snprintf(g_root, sizeof(g_root), ".");
    }
}

/* Inputs of one run: owned buffers. */
typedef struct io_set {
    size_t n;
    tfmq_tensor t[MAX_IO];
    int64_t dims[MAX_IO][8];
    char names[MAX_IO][128];
    void *data[MAX_IO];
} io_set;

static inline void io_free(io_set *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->data[i]);
    }
    memset(s, 0, sizeof(*s));
}

/* Random inputs for `m` with symbolic dims as 1. */
static inline bool make_inputs(tq_rng *rng, const tfmq_model *m, io_set *s)
{
    tfmq_model_info info = {.struct_size = sizeof(info)};
    memset(s, 0, sizeof(*s));
    if (tfmq_model_get_info(m, &info) != TFMQ_OK || info.n_inputs > MAX_IO) {
        return false;
    }
    for (size_t i = 0; i < info.n_inputs; i++) {
        tfmq_io_info io = {.struct_size = sizeof(io)};
        if (tfmq_model_io(m, TFMQ_IO_INPUT, i, &io) != TFMQ_OK || io.rank < 0 || io.rank > 8) {
            return false;
        }
        size_t n = 1;
        for (int32_t d = 0; d < io.rank; d++) {
            s->dims[i][d] = io.dims[d] < 0 ? 1 : io.dims[d];
            n *= (size_t)s->dims[i][d];
        }
        snprintf(s->names[i], sizeof(s->names[i]), "%s", io.name);
        size_t es = io.dtype == TFMQ_DTYPE_FLOAT32 ? 4 : io.dtype == TFMQ_DTYPE_INT64 ? 8 : 1;
        s->data[i] = calloc(n ? n : 1, es);
        for (size_t k = 0; k < n; k++) {
            if (io.dtype == TFMQ_DTYPE_FLOAT32) {
                ((float *)s->data[i])[k] = tq_rng_uniform(rng, -1.0f, 1.0f);
            } else if (io.dtype == TFMQ_DTYPE_INT64) {
                ((int64_t *)s->data[i])[k] = (int64_t)tq_rng_below(rng, 4);
            } else {
                ((uint8_t *)s->data[i])[k] = (uint8_t)tq_rng_below(rng, 2);
            }
        }
        s->t[i] = (tfmq_tensor){s->names[i], io.dtype, io.rank, s->dims[i], s->data[i], n * es};
        s->n++;
    }
    return true;
}

/* Inputs from a conformance test_data_set_0 (input_<i>.pb). */
static inline bool read_inputs(const char *dir, io_set *s)
{
    memset(s, 0, sizeof(*s));
    for (size_t i = 0; i < MAX_IO; i++) {
        char p[4400];
        tq_tensor t;
        size_t bytes;
        void *data = NULL;
        snprintf(p, sizeof(p), "%s/test_data_set_0/input_%zu.pb", dir, i);
        if (access(p, R_OK) != 0) {
            break;
        }
        if (tq_onnx_read_tensor_file(p, NULL, &t, &data, &bytes, s->names[i],
                                     sizeof(s->names[i])) != TFMQ_OK) {
            return false;
        }
        s->data[i] = malloc(bytes ? bytes : 1);
        memcpy(s->data[i], data, bytes);
        tq_free_aligned(NULL, data, bytes);
        memcpy(s->dims[i], t.dims, sizeof(int64_t) * (size_t)t.rank);
        s->t[i] = (tfmq_tensor){s->names[i], t.dtype, t.rank, s->dims[i], s->data[i], bytes};
        s->n++;
    }
    return true;
}

/* Outputs of one run, copied out of the session. */
typedef struct out_set {
    size_t n;
    tfmq_dtype dtype[MAX_IO];
    int32_t rank[MAX_IO];
    int64_t dims[MAX_IO][8];
    void *data[MAX_IO];
    size_t bytes[MAX_IO];
} out_set;

static inline void out_free(out_set *o)
{
    for (size_t i = 0; i < o->n; i++) {
        free(o->data[i]);
    }
    memset(o, 0, sizeof(*o));
}

static inline bool run(const tfmq_model *m, const io_set *in, out_set *o)
{
    tfmq_model_info info = {.struct_size = sizeof(info)};
    tfmq_session *s = NULL;
    tfmq_tensor outs[MAX_IO];
    memset(o, 0, sizeof(*o));
    if (tfmq_model_get_info(m, &info) != TFMQ_OK || info.n_outputs > MAX_IO ||
        tfmq_session_create(m, NULL, &s) != TFMQ_OK) {
        return false;
    }
    for (size_t i = 0; i < info.n_outputs; i++) {
        tfmq_io_info io = {.struct_size = sizeof(io)};
        if (tfmq_model_io(m, TFMQ_IO_OUTPUT, i, &io) != TFMQ_OK) {
            tfmq_session_destroy(s);
            return false;
        }
        outs[i] = (tfmq_tensor){io.name, TFMQ_DTYPE_UNDEFINED, 0, NULL, NULL, 0};
    }
    tfmq_status st = tfmq_session_run(s, in->t, in->n, outs, info.n_outputs);
    if (st == TFMQ_OK) {
        for (size_t i = 0; i < info.n_outputs; i++) {
            o->dtype[i] = outs[i].dtype;
            o->rank[i] = outs[i].rank;
            memcpy(o->dims[i], outs[i].dims, sizeof(int64_t) * (size_t)outs[i].rank);
            o->bytes[i] = outs[i].data_bytes;
            o->data[i] = malloc(outs[i].data_bytes ? outs[i].data_bytes : 1);
            memcpy(o->data[i], outs[i].data, outs[i].data_bytes);
            o->n++;
        }
    }
    tfmq_session_destroy(s);
    return st == TFMQ_OK;
}

static inline bool outs_identical(const out_set *a, const out_set *b)
{
    if (a->n != b->n || a->n == 0) {
        return false;
    }
    for (size_t i = 0; i < a->n; i++) {
        if (a->dtype[i] != b->dtype[i] || a->rank[i] != b->rank[i] ||
            a->bytes[i] != b->bytes[i] ||
            memcmp(a->dims[i], b->dims[i], sizeof(int64_t) * (size_t)a->rank[i]) != 0 ||
            memcmp(a->data[i], b->data[i], a->bytes[i]) != 0) {
            return false;
        }
    }
    return true;
}

#endif
