/* gemm.c: reference Gemm, Y = alpha * A' B' + beta * C, through the shared double-accumulating
 * GEMM core (transposes are strides). Integer Gemm is computed in double and truncated. */
#include "backends/ref/ref_compute_util.h"

size_t tq_rc_gemm_scratch(const tq_op_ctx *ctx)
{
    const tq_tensor *y = ctx->out[0];
    if (!tq_tensor_shape_known(ctx->in[0]) || !tq_tensor_shape_known(y) || y->rank != 2 ||
        ctx->in[0]->rank != 2) {
        return 0;
    }
    int64_t ta = 0;
    if (tq_attr_int(ctx->node, "transA", 0, &ta) != TFMQ_OK) {
        tq_clear_error();
        return 0;
    }
    size_t k = (size_t)ctx->in[0]->dims[ta ? 0 : 1];
    size_t b = tq_rc_gemm_scratch_bytes((size_t)y->dims[0], (size_t)y->dims[1], k);
    return tq_rc_add(b, tq_rc_f64_bytes((size_t)y->dims[1]));
}

typedef struct gemm_store {
    tq_tensor *y;
    const tq_tensor *c;
    size_t n, c_si, c_sj;
    double alpha, beta;
    double *row;
} gemm_store;

static void gemm_store_row(void *user, size_t i, size_t j0, size_t n_j, const double *acc)
{
    const gemm_store *u = user;
    for (size_t j = 0; j < n_j; j++) {
        double v = u->alpha * acc[j];
        if (u->c) {
            v += u->beta * tq_load_f64(u->c->dtype, u->c->data, i * u->c_si + (j0 + j) * u->c_sj);
        }
        u->row[j] = v;
    }
    tq_rc_store_f64(u->y->dtype, u->y->data, i * u->n + j0, n_j, u->row);
}

tfmq_status tq_ref_gemm(tq_op_ctx *ctx)
{
    const tq_tensor *a = ctx->in[0], *b = ctx->in[1], *c = ctx->in[2];
    tq_tensor *y = ctx->out[0];
    tfmq_status st;
    int64_t ta, tb;
    float alpha, beta;
    if ((st = tq_attr_int(ctx->node, "transA", 0, &ta)) != TFMQ_OK ||
        (st = tq_attr_int(ctx->node, "transB", 0, &tb)) != TFMQ_OK ||
        (st = tq_attr_float(ctx->node, "alpha", 1.0f, &alpha)) != TFMQ_OK ||
        (st = tq_attr_float(ctx->node, "beta", 1.0f, &beta)) != TFMQ_OK) {
        return st;
    }
    if (a->rank != 2 || b->rank != 2 || y->rank != 2) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "A and B must be 2-D");
    }
    size_t m = (size_t)a->dims[ta ? 1 : 0], k = (size_t)a->dims[ta ? 0 : 1];
    size_t kb = (size_t)b->dims[tb ? 1 : 0], n = (size_t)b->dims[tb ? 0 : 1];
    if (k != kb || (size_t)y->dims[0] != m || (size_t)y->dims[1] != n) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "shape mismatch");
    }
    gemm_store u = {.y = y, .c = c, .n = n, .alpha = (double)alpha, .beta = (double)beta};
    if (c) {
        if (c->rank > 2) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "C has rank %d", c->rank);
        }
        size_t cm = c->rank == 2 ? (size_t)c->dims[0] : 1;
        size_t cn = c->rank >= 1 ? (size_t)c->dims[c->rank - 1] : 1;
        if ((cm != 1 && cm != m) || (cn != 1 && cn != n)) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "C does not broadcast");
        }
        u.c_si = cm == 1 ? 0 : cn;
        u.c_sj = cn == 1 ? 0 : 1;
    }
    if (m == 0 || n == 0) {
        return TFMQ_OK;
    }
    size_t need = tq_rc_add(tq_rc_gemm_scratch_bytes(m, n, k), tq_rc_f64_bytes(n)), owned;
    void *scratch;
    if ((st = tq_rc_scratch_get(ctx, need, &scratch, &owned)) != TFMQ_OK) {
        return st;
    }
    u.row = (double *)((char *)scratch + tq_rc_gemm_scratch_bytes(m, n, k));
    tq_rc_gemm_args g = {.m = m, .n = n, .k = k,
                         .a_dt = a->dtype, .a = a->data, .a_off = 0,
                         .a_si = ta ? 1 : k, .a_sk = ta ? m : 1,
                         .b_dt = b->dtype, .b = b->data, .b_off = 0,
                         .b_sk = tb ? 1 : n, .b_sj = tb ? k : 1,
                         .store = gemm_store_row, .user = &u};
    tq_rc_gemm(&g, scratch);
    tq_rc_scratch_release(ctx, scratch, owned);
    return TFMQ_OK;
}
