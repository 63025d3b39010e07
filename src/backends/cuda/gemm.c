/* gemm.c: Gemm, tfmq.FusedGemm and MatMul on the GPU through cuBLASLt (cuda.h, family "gemm").
 * Row-major Y[M,N] = A'[M,K] B'[K,N] is computed as the column-major Y^T = B'^T A'^T: cuBLASLt's
 * A is our B and its B our A, transposes become the layouts' operations. Storage F32/F16/BF16,
 * compute CUBLAS_COMPUTE_32F (32F_FAST_TF32 for F32 storage with TF32 math), scale float.
 *  - Gemm's C: a row vector ([N], [1,N], scalar; constant) becomes the bias epilogue with beta
 *    folded in; a full [M,N] matrix (constant or not) is cuBLASLt's C with beta; a constant
 *    [M,1] column is expanded to [M,N] at prepare. FusedGemm's residual (input 3) is cuBLASLt's
 *    C with beta 1 (then Gemm's C must be a vector). Relu uses the RELU / RELU_BIAS epilogues,
 *    the other activations our epilogue kernel (conv_dw.cu) after the matmul. When no algorithm
 *    supports the bias epilogue, the bias goes to our epilogue kernel too.
 *  - MatMul (numpy semantics): a second operand without batch dims folds A's batch into M (one
 *    GEMM); otherwise a strided batch, each operand either complete or broadcast whole (batch
 *    stride 0); partial broadcasting is not taken.
 * A constant B (the weights) is converted to the storage type and uploaded at prepare
 * (own_consts bit 1), as are the bias vector and an expanded C (bit 2). One algorithm from
 * cublasLtMatmulAlgoGetHeuristic at prepare; a run is one cublasLtMatmul (and maybe one
 * epilogue launch) on the session's stream. */
#include <stdio.h>
#include <string.h>

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include "backends/cpu/cpu.h"
#include "backends/cuda/conv_dw.h"
#include "backends/cuda/cuda.h"
#include "ir/ops/fused.h"

#define GEMM_MAX_WS ((size_t)64 << 20)

typedef enum gemm_c_src {
    C_NONE = 0,     /* beta 0: D is also passed as C */
    C_INPUT = 1,    /* Gemm's C as a full matrix: args->in[2] */
    C_OWN = 2,      /* Gemm's C expanded at prepare */
    C_RESIDUAL = 3  /* FusedGemm's residual: args->in[3], beta 1 */
} gemm_c_src;

typedef struct gemm_kernel {
    tq_cuda_kernel base;
    cublasLtHandle_t lt;
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t la, lb, lc;  /* cuBLASLt's A (our B), B (our A), C and D */
    cublasLtMatmulAlgo_t algo;
    float alpha, beta;
    gemm_c_src c_src;
    void *d_b;          /* our B operand packed (constant), or NULL */
    void *d_c;          /* expanded C, or NULL */
    void *d_bias;       /* bias vector (storage type for cuBLASLt, float for our epilogue) */
    bool post_epi;      /* our epilogue kernel after the matmul */
    bool post_bias;     /* ... with the bias */
    tq_cuda_epi epi;
    size_t y_numel;
    int64_t n;          /* columns of Y (the bias' length) */
    tq_cuda_store store;
    char label[80];
    char impl[96];
} gemm_kernel;

static tfmq_status lt_err(const gemm_kernel *kg, const char *what, cublasStatus_t s)
{
    return tq_fail(TFMQ_ERR_BACKEND, "node %s: %s: %s (%d)", kg->label, what,
                   cublasLtGetStatusString(s), (int)s);
}

static tfmq_status cu_err(const gemm_kernel *kg, const char *what, int e)
{
    if (e == (int)cudaSuccess) {
        return TFMQ_OK;
    }
    return tq_fail(TFMQ_ERR_BACKEND, "node %s: %s: %s", kg->label, what,
                   cudaGetErrorString((cudaError_t)e));
}

static size_t store_size(tq_cuda_store st)
{
    return st == TQ_CUDA_F32 ? 4 : 2;
}

static void store_f32(tq_cuda_store st, void *dst, size_t i, float v)
{
    if (st == TQ_CUDA_F32) {
        ((float *)dst)[i] = v;
    } else if (st == TQ_CUDA_F16) {
        ((uint16_t *)dst)[i] = tq_f32_to_f16(v);
    } else {
        ((uint16_t *)dst)[i] = tq_f32_to_bf16(v);
    }
}

/* Upload n float32 values converted to `st` (F32 for float32 buffers) into a new buffer. */
static tfmq_status upload_conv(gemm_kernel *kg, const float *src, size_t n, tq_cuda_store st,
                               void **dev)
{
    const size_t bytes = n * store_size(st);
    void *h = tq_alloc(kg->base.alloc, bytes ? bytes : 1);
    *dev = NULL;
    if (!h) {
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "node %s: %zu bytes", kg->label, bytes);
    }
    for (size_t i = 0; i < n; i++) {
        store_f32(st, h, i, src[i]);
    }
    tfmq_status s = cu_err(kg, "cudaMalloc", cudaMalloc(dev, bytes ? bytes : 1));
    if (s == TFMQ_OK) {
        s = cu_err(kg, "cudaMemcpy", cudaMemcpy(*dev, h, bytes, cudaMemcpyHostToDevice));
    }
    tq_free(kg->base.alloc, h, bytes ? bytes : 1);
    return s;
}

static tfmq_status gemm_run(tq_cuda_kernel *k, const tq_cuda_args *a)
{
    gemm_kernel *kg = (gemm_kernel *)k;
    const void *lt_a = kg->d_b ? kg->d_b : a->in[1];
    const void *lt_b = a->in[0];
    void *d = a->out[0];
    const void *c = d;
    switch (kg->c_src) {
    case C_INPUT:
        c = a->in[2];
        break;
    case C_OWN:
        c = kg->d_c;
        break;
    case C_RESIDUAL:
        c = a->in[3];
        break;
    default:
        break;
    }
    cublasStatus_t s = cublasLtMatmul(kg->lt, kg->op, &kg->alpha, lt_a, kg->la, lt_b, kg->lb,
                                      &kg->beta, c, kg->lc, d, kg->lc, &kg->algo, a->workspace,
                                      kg->base.workspace_bytes, (cudaStream_t)a->stream);
    if (s != CUBLAS_STATUS_SUCCESS) {
        return lt_err(kg, "cublasLtMatmul", s);
    }
    if (kg->post_epi) {
        return cu_err(kg, "epilogue kernel",
                      tq_cuda_epilogue(d, kg->post_bias ? kg->d_bias : NULL, NULL, kg->y_numel,
                                       kg->n, (int)kg->store, &kg->epi, a->stream));
    }
    return TFMQ_OK;
}

static void gemm_destroy(tq_cuda_kernel *k)
{
    gemm_kernel *kg = (gemm_kernel *)k;
    if (!kg) {
        return;
    }
    if (kg->op) {
        cublasLtMatmulDescDestroy(kg->op);
    }
    if (kg->la) {
        cublasLtMatrixLayoutDestroy(kg->la);
    }
    if (kg->lb) {
        cublasLtMatrixLayoutDestroy(kg->lb);
    }
    if (kg->lc) {
        cublasLtMatrixLayoutDestroy(kg->lc);
    }
    cudaFree(kg->d_b);
    cudaFree(kg->d_c);
    cudaFree(kg->d_bias);
    tq_free(kg->base.alloc, kg, sizeof(*kg));
}

/* The problem in row-major terms. */
typedef struct gemm_shape {
    int64_t m, n, k;
    bool ta, tb;
    int64_t batch;              /* 1: no batch */
    int64_t stride_a, stride_b; /* batch strides in elements (0: broadcast) */
    /* Gemm only */
    float alpha, beta;
    const tq_tensor *c;         /* Gemm's C, or NULL */
} gemm_shape;

static tfmq_status shape_gemm(const tq_op_ctx *ctx, gemm_shape *g, bool *ok)
{
    const tq_tensor *a = ctx->in[0], *b = ctx->in[1], *y = ctx->out[0];
    int64_t ta, tb;
    tfmq_status st;
    *ok = false;
    if ((st = tq_attr_int(ctx->node, "transA", 0, &ta)) != TFMQ_OK ||
        (st = tq_attr_int(ctx->node, "transB", 0, &tb)) != TFMQ_OK ||
        (st = tq_attr_float(ctx->node, "alpha", 1.0f, &g->alpha)) != TFMQ_OK ||
        (st = tq_attr_float(ctx->node, "beta", 1.0f, &g->beta)) != TFMQ_OK) {
        return st;
    }
    if (a->rank != 2 || b->rank != 2 || y->rank != 2) {
        return TFMQ_OK;
    }
    g->ta = ta != 0;
    g->tb = tb != 0;
    g->m = a->dims[g->ta ? 1 : 0];
    g->k = a->dims[g->ta ? 0 : 1];
    g->n = b->dims[g->tb ? 0 : 1];
    if (b->dims[g->tb ? 1 : 0] != g->k || y->dims[0] != g->m || y->dims[1] != g->n) {
        return TFMQ_OK;
    }
    g->batch = 1;
    g->stride_a = g->stride_b = 0;
    g->c = ctx->n_in > 2 ? ctx->in[2] : NULL;
    *ok = true;
    return TFMQ_OK;
}

static void shape_matmul(const tq_op_ctx *ctx, gemm_shape *g, bool *ok)
{
    const tq_tensor *a = ctx->in[0], *b = ctx->in[1], *y = ctx->out[0];
    *ok = false;
    memset(g, 0, sizeof(*g));
    g->alpha = 1.0f;
    if (a->rank < 1 || b->rank < 1) {
        return;
    }
    g->m = a->rank >= 2 ? a->dims[a->rank - 2] : 1;
    g->k = a->dims[a->rank - 1];
    g->n = b->rank >= 2 ? b->dims[b->rank - 1] : 1;
    if ((b->rank >= 2 ? b->dims[b->rank - 2] : b->dims[0]) != g->k) {
        return;
    }
    /* batch: output dims before its matrix dims */
    const int32_t br = y->rank - (a->rank >= 2 ? 1 : 0) - (b->rank >= 2 ? 1 : 0);
    const int32_t ra = a->rank > 2 ? a->rank - 2 : 0, rb = b->rank > 2 ? b->rank - 2 : 0;
    if (br < 0 || ra > br || rb > br) {
        return;
    }
    int64_t nb = 1, na = 1, nbb = 1;
    for (int32_t i = 0; i < br; i++) {
        nb *= y->dims[i];
    }
    for (int32_t i = 0; i < ra; i++) {
        na *= a->dims[i];
    }
    for (int32_t i = 0; i < rb; i++) {
        nbb *= b->dims[i];
    }
    /* each operand's batch is whole (every dim as the output's) or a single matrix */
    if ((na != 1 && na != nb) || (nbb != 1 && nbb != nb)) {
        return;
    }
    if (na == nb && nb != 1) {
        for (int32_t i = 0; i < ra; i++) {
            if (a->dims[i] != y->dims[br - ra + i] && a->dims[i] != 1) {
                return;
            }
        }
    }
    if (nbb == nb && nb != 1) {
        for (int32_t i = 0; i < rb; i++) {
            if (b->dims[i] != y->dims[br - rb + i] && b->dims[i] != 1) {
                return;
            }
        }
    }
    if (nbb == 1 && a->rank >= 2) {
        g->m *= nb; /* A's batch folds into M */
        g->batch = 1;
    } else {
        g->batch = nb;
        g->stride_a = na == 1 ? 0 : g->m * g->k;
        g->stride_b = nbb == 1 ? 0 : g->k * g->n;
    }
    *ok = true;
}

static cublasStatus_t make_layout(cublasLtMatrixLayout_t *l, cudaDataType_t dt, uint64_t rows,
                                  uint64_t cols, int64_t ld, int64_t batch, int64_t stride)
{
    cublasStatus_t s = cublasLtMatrixLayoutCreate(l, dt, rows, cols, ld);
    if (s == CUBLAS_STATUS_SUCCESS && batch > 1) {
        int32_t bc = (int32_t)batch;
        s = cublasLtMatrixLayoutSetAttribute(*l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &bc,
                                             sizeof(bc));
        if (s == CUBLAS_STATUS_SUCCESS) {
            s = cublasLtMatrixLayoutSetAttribute(*l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
                                                 &stride, sizeof(stride));
        }
    }
    return s;
}

/* Descriptor, layouts and one algorithm for this epilogue; *found false when cuBLASLt has no
 * algorithm (the caller may retry with a simpler epilogue). */
static tfmq_status lt_setup(gemm_kernel *kg, const gemm_shape *g, cublasComputeType_t ct,
                            cudaDataType_t dt, cublasLtEpilogue_t epi, bool *found)
{
    cublasStatus_t s;
    *found = false;
    if (kg->op) {
        cublasLtMatmulDescDestroy(kg->op);
        kg->op = NULL;
    }
    const cublasOperation_t op_a = g->tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    const cublasOperation_t op_b = g->ta ? CUBLAS_OP_T : CUBLAS_OP_N;
    if ((s = cublasLtMatmulDescCreate(&kg->op, ct, CUDA_R_32F)) != CUBLAS_STATUS_SUCCESS) {
        kg->op = NULL;
        return lt_err(kg, "cublasLtMatmulDescCreate", s);
    }
    if ((s = cublasLtMatmulDescSetAttribute(kg->op, CUBLASLT_MATMUL_DESC_TRANSA, &op_a,
                                            sizeof(op_a))) != CUBLAS_STATUS_SUCCESS ||
        (s = cublasLtMatmulDescSetAttribute(kg->op, CUBLASLT_MATMUL_DESC_TRANSB, &op_b,
                                            sizeof(op_b))) != CUBLAS_STATUS_SUCCESS ||
        (s = cublasLtMatmulDescSetAttribute(kg->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi,
                                            sizeof(epi))) != CUBLAS_STATUS_SUCCESS) {
        return lt_err(kg, "cublasLtMatmulDescSetAttribute", s);
    }
    if (epi == CUBLASLT_EPILOGUE_BIAS || epi == CUBLASLT_EPILOGUE_RELU_BIAS) {
        const void *bp = kg->d_bias;
        if ((s = cublasLtMatmulDescSetAttribute(kg->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bp,
                                                sizeof(bp))) != CUBLAS_STATUS_SUCCESS) {
            return lt_err(kg, "cublasLtMatmulDescSetAttribute(bias)", s);
        }
    }
    if (!kg->la) {
        /* cuBLASLt's A = our B: [N x K] column-major (op N, ld N) or [K x N] (op T, ld K) */
        s = g->tb ? make_layout(&kg->la, dt, (uint64_t)g->k, (uint64_t)g->n, g->k, g->batch,
                                g->stride_b)
                  : make_layout(&kg->la, dt, (uint64_t)g->n, (uint64_t)g->k, g->n, g->batch,
                                g->stride_b);
        if (s == CUBLAS_STATUS_SUCCESS) {
            /* cuBLASLt's B = our A: [K x M] (op N, ld K) or [M x K] (op T, ld M) */
            s = g->ta ? make_layout(&kg->lb, dt, (uint64_t)g->m, (uint64_t)g->k, g->m, g->batch,
                                    g->stride_a)
                      : make_layout(&kg->lb, dt, (uint64_t)g->k, (uint64_t)g->m, g->k, g->batch,
                                    g->stride_a);
        }
        if (s == CUBLAS_STATUS_SUCCESS) {
            s = make_layout(&kg->lc, dt, (uint64_t)g->n, (uint64_t)g->m, g->n, g->batch,
                            g->m * g->n);
        }
        if (s != CUBLAS_STATUS_SUCCESS) {
            return lt_err(kg, "cublasLtMatrixLayoutCreate", s);
        }
    }
    cublasLtMatmulPreference_t pref = NULL;
    if ((s = cublasLtMatmulPreferenceCreate(&pref)) != CUBLAS_STATUS_SUCCESS) {
        return lt_err(kg, "cublasLtMatmulPreferenceCreate", s);
    }
    const uint64_t ws_max = GEMM_MAX_WS;
    const uint32_t align = 16; /* device buffers are at least 16-byte aligned */
    s = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                             &ws_max, sizeof(ws_max));
    const cublasLtMatmulPreferenceAttributes_t al[4] = {
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
    for (int i = 0; i < 4 && s == CUBLAS_STATUS_SUCCESS; i++) {
        s = cublasLtMatmulPreferenceSetAttribute(pref, al[i], &align, sizeof(align));
    }
    if (s != CUBLAS_STATUS_SUCCESS) {
        cublasLtMatmulPreferenceDestroy(pref);
        return lt_err(kg, "cublasLtMatmulPreferenceSetAttribute", s);
    }
    cublasLtMatmulHeuristicResult_t res;
    int n_res = 0;
    memset(&res, 0, sizeof(res));
    s = cublasLtMatmulAlgoGetHeuristic(kg->lt, kg->op, kg->la, kg->lb, kg->lc, kg->lc, pref, 1,
                                       &res, &n_res);
    cublasLtMatmulPreferenceDestroy(pref);
    if (s == CUBLAS_STATUS_NOT_SUPPORTED || (s == CUBLAS_STATUS_SUCCESS && n_res < 1)) {
        return TFMQ_OK;
    }
    if (s != CUBLAS_STATUS_SUCCESS) {
        return lt_err(kg, "cublasLtMatmulAlgoGetHeuristic", s);
    }
    if (res.state != CUBLAS_STATUS_SUCCESS) {
        return TFMQ_OK;
    }
    kg->algo = res.algo;
    kg->base.workspace_bytes = res.workspaceSize;
    *found = true;
    return TFMQ_OK;
}

tfmq_status tq_cuda_prepare_gemm(const tq_cuda_prep *p, tq_cuda_kernel **k_out)
{
    const tq_op_ctx *ctx = p->ctx;
    const tq_node *node = ctx->node;
    const uint32_t op = node->op;
    *k_out = NULL;
    if (op != TQ_OP_GEMM && op != TQ_OP_FUSED_GEMM && op != TQ_OP_MATMUL) {
        return TFMQ_OK;
    }
    const tq_tensor *a = ctx->in[0], *b = ctx->in[1], *y = ctx->out[0];
    const tq_tensor *r = op == TQ_OP_FUSED_GEMM && ctx->n_in > 3 ? ctx->in[3] : NULL;
    if (!a || !b || a->dtype != TFMQ_DTYPE_FLOAT32 || b->dtype != TFMQ_DTYPE_FLOAT32 ||
        y->dtype != TFMQ_DTYPE_FLOAT32 || !tq_tensor_shape_known(a) ||
        !tq_tensor_shape_known(b) || !tq_tensor_shape_known(y) || tq_tensor_numel(y) == 0 ||
        (r && (r->dtype != TFMQ_DTYPE_FLOAT32 || tq_tensor_numel(r) != tq_tensor_numel(y)))) {
        return TFMQ_OK;
    }
    for (int32_t i = 0; i < ctx->n_in; i++) {
        if (ctx->in[i] && ctx->in[i]->rank == 4 && p->in_layout[i] != TQ_LAYOUT_NCHW) {
            return TFMQ_OK;
        }
    }
    if (y->rank == 4 && p->out_layout[0] != TQ_LAYOUT_NCHW) {
        return TFMQ_OK;
    }
    tfmq_status st;
    tq_fused_act act;
    memset(&act, 0, sizeof(act));
    if (op == TQ_OP_FUSED_GEMM && (st = tq_fused_act_read(ctx, &act)) != TFMQ_OK) {
        return st;
    }
    gemm_shape g;
    bool ok = false;
    memset(&g, 0, sizeof(g));
    if (op == TQ_OP_MATMUL) {
        shape_matmul(ctx, &g, &ok);
    } else if ((st = shape_gemm(ctx, &g, &ok)) != TFMQ_OK) {
        return st;
    }
    if (!ok || g.m <= 0 || g.n <= 0 || g.k <= 0 || g.batch > INT32_MAX) {
        return TFMQ_OK;
    }
    /* Gemm's C: a vector (bias), a full matrix, or a constant column to expand */
    bool c_vec = false, c_full = false, c_expand = false;
    const tq_tensor *c = g.c;
    if (c && g.beta != 0.0f) {
        if (c->dtype != TFMQ_DTYPE_FLOAT32 || c->rank > 2) {
            return TFMQ_OK;
        }
        int64_t cm = c->rank == 2 ? c->dims[0] : 1, cn = c->rank >= 1 ? c->dims[c->rank - 1] : 1;
        if (cm == 1 && c->data) {
            c_vec = true;
        } else if (cm == g.m && cn == g.n) {
            c_full = true;
        } else if (cm == g.m && cn == 1 && c->data) {
            c_expand = true;
        } else {
            return TFMQ_OK;
        }
        if ((c_full || c_expand) && r) {
            return TFMQ_OK; /* cuBLASLt has one C */
        }
    }

    float *bias_h = NULL; /* beta * C as an N-vector */
    size_t bias_bytes = 0;
    gemm_kernel *kg = tq_calloc(p->alloc, 1, sizeof(*kg));
    if (!kg) {
        return tq_op_fail(ctx, TFMQ_ERR_OUT_OF_MEMORY, "%zu bytes", sizeof(*kg));
    }
    kg->base.run = gemm_run;
    kg->base.destroy = gemm_destroy;
    kg->base.alloc = p->alloc;
    kg->base.impl = kg->impl;
    kg->lt = (cublasLtHandle_t)p->dev->cublaslt;
    kg->store = p->store;
    kg->y_numel = tq_tensor_numel(y);
    kg->n = g.n;
    kg->alpha = g.alpha;
    kg->beta = 0.0f;
    {
        char lb[64];
        snprintf(kg->label, sizeof(kg->label), "'%s' (%s)",
                 tq_node_label(ctx->graph, node, lb, sizeof(lb)), tq_op_table[op].name);
    }
    /* constant B: packed once */
    if (b->data) {
        TQ_TRY(st, upload_conv(kg, (const float *)b->data, tq_tensor_numel(b), p->store,
                               &kg->d_b));
        kg->base.own_consts |= 1u << 1;
    }
    if (c_vec) {
        bias_bytes = (size_t)g.n * sizeof(float);
        bias_h = tq_alloc(p->alloc, bias_bytes);
        if (!bias_h) {
            st = tq_op_fail(ctx, TFMQ_ERR_OUT_OF_MEMORY, "%zu bytes", bias_bytes);
            goto fail;
        }
        const size_t nc = tq_tensor_numel(c);
        for (int64_t j = 0; j < g.n; j++) {
            bias_h[j] = g.beta * ((const float *)c->data)[nc == 1 ? 0 : (size_t)j];
        }
        kg->base.own_consts |= 1u << 2;
    } else if (c_full) {
        kg->c_src = C_INPUT;
        kg->beta = g.beta;
    } else if (c_expand) {
        const size_t n_full = (size_t)(g.m * g.n);
        float *full = tq_alloc(p->alloc, n_full * sizeof(float));
        if (!full) {
            st = tq_op_fail(ctx, TFMQ_ERR_OUT_OF_MEMORY, "%zu bytes", n_full * sizeof(float));
            goto fail;
        }
        for (size_t i = 0; i < n_full; i++) {
            full[i] = ((const float *)c->data)[i / (size_t)g.n];
        }
        st = upload_conv(kg, full, n_full, p->store, &kg->d_c);
        tq_free(p->alloc, full, n_full * sizeof(float));
        if (st != TFMQ_OK) {
            goto fail;
        }
        kg->c_src = C_OWN;
        kg->beta = g.beta;
        kg->base.own_consts |= 1u << 2;
    } else if (c && c->data) {
        kg->base.own_consts |= 1u << 2; /* beta == 0: C is not read, no need to upload it */
    }
    if (r) {
        kg->c_src = C_RESIDUAL;
        kg->beta = 1.0f;
    }

    const cudaDataType_t dt = p->store == TQ_CUDA_F16
                                  ? CUDA_R_16F
                                  : (p->store == TQ_CUDA_BF16 ? CUDA_R_16BF : CUDA_R_32F);
    const cublasComputeType_t ct = p->store == TQ_CUDA_F32 && p->math == TQ_CUDA_MATH_TF32
                                       ? CUBLAS_COMPUTE_32F_FAST_TF32
                                       : CUBLAS_COMPUTE_32F;
    const bool relu = act.kind == TQ_FUSED_ACT_RELU;
    kg->epi.act = (int)act.kind;
    kg->epi.lo = (float)act.lo;
    kg->epi.hi = (float)act.hi;
    kg->epi.alpha = (float)act.alpha;
    bool found = false;
    /* 1: cuBLASLt's epilogue where it can express the node */
    if (c_vec || relu) {
        cublasLtEpilogue_t e = c_vec ? (relu ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_BIAS)
                                     : CUBLASLT_EPILOGUE_RELU;
        if (c_vec) {
            TQ_TRY(st, upload_conv(kg, bias_h, (size_t)g.n, p->store, &kg->d_bias));
        }
        TQ_TRY(st, lt_setup(kg, &g, ct, dt, e, &found));
        if (found) {
            kg->post_epi = act.kind != TQ_FUSED_ACT_NONE && !relu;
            snprintf(kg->impl, sizeof(kg->impl), "cublaslt:%s%s%s%s%s",
                     op == TQ_OP_MATMUL ? "matmul" : "gemm", c_vec ? "+bias" : "",
                     r ? "+add" : "", relu ? "+relu" : "", kg->post_epi ? "+cuda_epilogue" : "");
        } else if (kg->d_bias) {
            cudaFree(kg->d_bias);
            kg->d_bias = NULL;
        }
    }
    /* 2: plain matmul, the rest in our epilogue kernel */
    if (!found) {
        TQ_TRY(st, lt_setup(kg, &g, ct, dt, CUBLASLT_EPILOGUE_DEFAULT, &found));
        if (!found) {
            tq_free(p->alloc, bias_h, bias_bytes);
            gemm_destroy(&kg->base);
            return TFMQ_OK; /* no algorithm: not taken */
        }
        if (c_vec) {
            TQ_TRY(st, upload_conv(kg, bias_h, (size_t)g.n, TQ_CUDA_F32, &kg->d_bias));
            kg->post_bias = true;
        }
        kg->post_epi = c_vec || act.kind != TQ_FUSED_ACT_NONE;
        snprintf(kg->impl, sizeof(kg->impl), "cublaslt:%s%s%s",
                 op == TQ_OP_MATMUL ? "matmul" : "gemm", r ? "+add" : "",
                 kg->post_epi ? "+cuda_epilogue" : "");
    }
    if (g.batch > 1) {
        size_t len = strlen(kg->impl);
        snprintf(kg->impl + len, sizeof(kg->impl) - len, ":batch%lld", (long long)g.batch);
    }
    tq_free(p->alloc, bias_h, bias_bytes);
    *k_out = &kg->base;
    return TFMQ_OK;
fail:
    tq_free(p->alloc, bias_h, bias_bytes);
    gemm_destroy(&kg->base);
    return st;
}
