/* fuzz_run_common.h: run a loaded model once or twice on small deterministic inputs through
 * the public API (fuzz_onnx_run, fuzz_engine). Models whose inputs are large are skipped. */
#ifndef TFMQ_FUZZ_RUN_COMMON_H
#define TFMQ_FUZZ_RUN_COMMON_H

#include "fuzz_common.h"

#define FUZZ_MAX_NODES 64
#define FUZZ_MAX_IN_RANK 4
#define FUZZ_MAX_IN_DIM 16
#define FUZZ_SYM_DIM 2
#define FUZZ_MAX_IO 16
#define FUZZ_MAX_MACS 20000000u

/* Deterministic small values: floats in [-1.25, 1.25], integers 0..2, bools 0/1. */
static inline void fuzz_fill(tfmq_dtype dt, void *data, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int v = (int)((i * 7u) % 11u) - 5;
        switch (dt) {
        case TFMQ_DTYPE_FLOAT32: ((float *)data)[i] = (float)v * 0.25f; break;
        case TFMQ_DTYPE_FLOAT64: ((double *)data)[i] = (double)v * 0.25; break;
        case TFMQ_DTYPE_FLOAT16: ((uint16_t *)data)[i] = (uint16_t)(i % 3 == 0 ? 0x3C00u : i % 3 == 1 ? 0xB800u : 0u); break;
        case TFMQ_DTYPE_BFLOAT16: ((uint16_t *)data)[i] = (uint16_t)(i % 3 == 0 ? 0x3F80u : i % 3 == 1 ? 0xBF00u : 0u); break;
        case TFMQ_DTYPE_BOOL: ((uint8_t *)data)[i] = (uint8_t)(i & 1u); break;
        case TFMQ_DTYPE_INT8: ((int8_t *)data)[i] = (int8_t)(i % 3); break;
        case TFMQ_DTYPE_UINT8: ((uint8_t *)data)[i] = (uint8_t)(i % 3); break;
        case TFMQ_DTYPE_INT16: ((int16_t *)data)[i] = (int16_t)(i % 3); break;
        case TFMQ_DTYPE_UINT16: ((uint16_t *)data)[i] = (uint16_t)(i % 3); break;
        case TFMQ_DTYPE_INT32: ((int32_t *)data)[i] = (int32_t)(i % 3); break;
        case TFMQ_DTYPE_UINT32: ((uint32_t *)data)[i] = (uint32_t)(i % 3); break;
        case TFMQ_DTYPE_INT64: ((int64_t *)data)[i] = (int64_t)(i % 3); break;
        case TFMQ_DTYPE_UINT64: ((uint64_t *)data)[i] = (uint64_t)(i % 3); break;
        default: break;
        }
    }
}

/* Check what a run returned: dims consistent with data_bytes, and every byte readable. */
static inline void fuzz_check_output(const tfmq_tensor *t)
{
    size_t n = 1;
    if (t->rank < 0 || (t->rank > 0 && !t->dims)) {
        fprintf(stderr, "fuzz: output '%s': rank %d\n", t->name, (int)t->rank);
        abort();
    }
    for (int32_t d = 0; d < t->rank; d++) {
        if (t->dims[d] < 0) {
            fprintf(stderr, "fuzz: output '%s': dim %d is %lld\n", t->name, (int)d,
                    (long long)t->dims[d]);
            abort();
        }
        n *= (size_t)t->dims[d];
    }
    size_t es = tfmq_dtype_size(t->dtype);
    if (es == 0 || n * es != t->data_bytes || (t->data_bytes && !t->data)) {
        fprintf(stderr, "fuzz: output '%s': %zu elements of %zu bytes but data_bytes %zu\n",
                t->name, n, es, t->data_bytes);
        abort();
    }
    volatile uint8_t sum = 0;
    for (size_t i = 0; i < t->data_bytes; i++) {
        sum = (uint8_t)(sum + ((const uint8_t *)t->data)[i]);
    }
    (void)sum;
}

/* Create a session on `m` and run it twice if its inputs are small; failures are fine. */
static inline void fuzz_run_model(const tfmq_model *m)
{
    tfmq_model_info info;
    memset(&info, 0, sizeof(info));
    info.struct_size = sizeof(info);
    if (tfmq_model_get_info(m, &info) != TFMQ_OK) {
        abort();
    }
    if (info.n_nodes >= FUZZ_MAX_NODES || info.n_inputs > FUZZ_MAX_IO ||
        info.n_outputs > FUZZ_MAX_IO || info.n_macs > FUZZ_MAX_MACS) {
        return;
    }
    tfmq_tensor in[FUZZ_MAX_IO], out[FUZZ_MAX_IO];
    int64_t dims[FUZZ_MAX_IO][FUZZ_MAX_IN_RANK];
    memset(in, 0, sizeof(in));
    memset(out, 0, sizeof(out));
    bool ok = true;
    for (size_t i = 0; i < info.n_inputs && ok; i++) {
        tfmq_io_info io;
        memset(&io, 0, sizeof(io));
        io.struct_size = sizeof(io);
        if (tfmq_model_io(m, TFMQ_IO_INPUT, i, &io) != TFMQ_OK) {
            abort();
        }
        size_t es = tfmq_dtype_size(io.dtype), n = 1;
        if (es == 0 || io.rank < 0 || io.rank > FUZZ_MAX_IN_RANK) {
            ok = false;
            break;
        }
        for (int32_t d = 0; d < io.rank; d++) {
            int64_t v = io.dims[d] < 0 ? FUZZ_SYM_DIM : io.dims[d];
            if (v > FUZZ_MAX_IN_DIM) {
                ok = false;
            }
            dims[i][d] = v;
            n *= (size_t)v;
        }
        if (!ok) {
            break;
        }
        in[i].name = io.name;
        in[i].dtype = io.dtype;
        in[i].rank = io.rank;
        in[i].dims = dims[i];
        size_t nb = n * es;
        in[i].data_bytes = nb;
        in[i].data = malloc(nb ? nb : 1);
        if (!in[i].data) {
            abort();
        }
        fuzz_fill(io.dtype, in[i].data, n);
    }
    for (size_t i = 0; i < info.n_outputs && ok; i++) {
        tfmq_io_info io;
        memset(&io, 0, sizeof(io));
        io.struct_size = sizeof(io);
        if (tfmq_model_io(m, TFMQ_IO_OUTPUT, i, &io) != TFMQ_OK) {
            abort();
        }
        out[i].name = io.name;
    }
    if (ok) {
        tfmq_session_options so;
        memset(&so, 0, sizeof(so));
        so.struct_size = sizeof(so);
        so.symbolic_dim_default = FUZZ_SYM_DIM;
        tfmq_session *s = NULL;
        if (tfmq_session_create(m, &so, &s) == TFMQ_OK) {
            for (int rep = 0; rep < 2; rep++) {
                for (size_t i = 0; i < info.n_outputs; i++) {
                    out[i].data = NULL;
                    out[i].data_bytes = 0;
                }
                if (tfmq_session_run(s, in, info.n_inputs, out, info.n_outputs) != TFMQ_OK) {
                    break;
                }
                for (size_t i = 0; i < info.n_outputs; i++) {
                    fuzz_check_output(&out[i]);
                }
            }
            tfmq_session_destroy(s);
        } else if (s) {
            abort();
        }
    }
    for (size_t i = 0; i < info.n_inputs; i++) {
        free(in[i].data);
    }
}

#endif /* TFMQ_FUZZ_RUN_COMMON_H */
