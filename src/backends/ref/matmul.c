/* matmul.c: reference MatMul. Float dtypes go through the shared double-accumulating GEMM core
 * once per output batch; integers use wrapping 64-bit arithmetic (as C integer math would). */
#include <string.h>

#include "backends/ref/ref_compute_util.h"

typedef struct mm_shape {
    size_t m, k, n, n_batch;
    int32_t br;                        /* batch rank of the output */
    int64_t bdims[TQ_MAX_RANK];        /* output batch dims */
    size_t sa[TQ_MAX_RANK], sb[TQ_MAX_RANK]; /* batch strides of A and B (0: broadcast) */
} mm_shape;

static void mm_shape_of(const tq_tensor *a, const tq_tensor *b, const tq_tensor *y, mm_shape *s)
{
    s->m = a->rank >= 2 ? (size_t)a->dims[a->rank - 2] : 1;
    s->k = (size_t)a->dims[a->rank - 1];
    s->n = b->rank >= 2 ? (size_t)b->dims[b->rank - 1] : 1;
    s->br = y->rank - (a->rank >= 2 ? 1 : 0) - (b->rank >= 2 ? 1 : 0);
    s->n_batch = 1;
    int32_t ra = a->rank > 2 ? a->rank - 2 : 0, rb = b->rank > 2 ? b->rank - 2 : 0;
    size_t stride_a = s->m * s->k, stride_b = s->k * s->n;
    for (int32_t i = s->br - 1; i >= 0; i--) {
        int32_t ia = i - (s->br - ra), ib = i - (s->br - rb);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        s->bdims[i] = y->dims[i];
        s->sa[i] = da == 1 ? 0 : stride_a;
        s->sb[i] = db == 1 ? 0 : stride_b;
        stride_a *= (size_t)da;
        stride_b *= (size_t)db;
        s->n_batch *= (size_t)y->dims[i];
    }
}

size_t tq_rc_matmul_scratch(const tq_op_ctx *ctx)
{
    const tq_tensor *a = ctx->in[0], *b = ctx->in[1], *y = ctx->out[0];
    if (!tq_tensor_shape_known(a) || !tq_tensor_shape_known(b) || !tq_tensor_shape_known(y) ||
        !tq_rc_is_float(a->dtype)) {
        return 0;
    }
    mm_shape s;
    mm_shape_of(a, b, y, &s);
    return tq_rc_gemm_scratch_bytes(s.m, s.n, s.k);
}

typedef struct mm_store {
    tq_tensor *y;
    size_t off, n;
} mm_store;

static void mm_store_row(void *user, size_t i, size_t j0, size_t n_j, const double *acc)
{
    const mm_store *u = user;
    tq_rc_store_f64(u->y->dtype, u->y->data, u->off + i * u->n + j0, n_j, acc);
}

tfmq_status tq_ref_matmul(tq_op_ctx *ctx)
{
    const tq_tensor *a = ctx->in[0], *b = ctx->in[1];
    tq_tensor *y = ctx->out[0];
    if (a->rank < 1 || b->rank < 1 || a->dtype != b->dtype || y->dtype != a->dtype) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "invalid operands");
    }
    mm_shape s;
    mm_shape_of(a, b, y, &s);
    size_t kb = (size_t)(b->rank == 1 ? b->dims[0] : b->dims[b->rank - 2]);
    if (kb != s.k || s.br < 0) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "inner dims differ");
    }
    if (tq_tensor_numel(y) == 0) {
        return TFMQ_OK;
    }
    bool is_float = tq_rc_is_float(a->dtype);
    void *scratch = NULL;
    size_t owned = 0;
    if (is_float) {
        tfmq_status st = tq_rc_scratch_get(ctx, tq_rc_gemm_scratch_bytes(s.m, s.n, s.k),
                                           &scratch, &owned);
        if (st != TFMQ_OK) {
            return st;
        }
    }
    int64_t idx[TQ_MAX_RANK] = {0};
    size_t oa = 0, ob = 0;
    for (size_t bi = 0; bi < s.n_batch; bi++) {
        size_t oy = bi * s.m * s.n;
        if (is_float) {
            mm_store u = {y, oy, s.n};
            tq_rc_gemm_args g = {.m = s.m, .n = s.n, .k = s.k,
                                 .a_dt = a->dtype, .a = a->data, .a_off = oa, .a_si = s.k,
                                 .a_sk = 1,
                                 .b_dt = b->dtype, .b = b->data, .b_off = ob, .b_sk = s.n,
                                 .b_sj = 1,
                                 .store = mm_store_row, .user = &u};
            tq_rc_gemm(&g, scratch);
        } else {
            for (size_t i = 0; i < s.m; i++) {
                for (size_t j = 0; j < s.n; j++) {
                    uint64_t acc = 0;
                    for (size_t k = 0; k < s.k; k++) {
                        acc += (uint64_t)tq_load_i64(a->dtype, a->data, oa + i * s.k + k) *
                               (uint64_t)tq_load_i64(b->dtype, b->data, ob + k * s.n + j);
                    }
                    tq_store_i64(y->dtype, y->data, oy + i * s.n + j, (int64_t)acc);
                }
            }
        }
        /* next batch index (odometer) */
        for (int32_t d = s.br - 1; d >= 0; d--) {
            oa += s.sa[d];
            ob += s.sb[d];
            if (++idx[d] < s.bdims[d]) {
                break;
            }
            oa -= s.sa[d] * (size_t)s.bdims[d];
            ob -= s.sb[d] * (size_t)s.bdims[d];
            idx[d] = 0;
        }
    }
    tq_rc_scratch_release(ctx, scratch, owned);
    return TFMQ_OK;
}
