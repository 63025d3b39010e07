/* ref_compute_util.h: helpers shared by the compute ops (conv, pooling, matmul, normalisation,
 * recurrent, quantisation): scratch acquisition, bulk dtype <-> double conversion, the spatial
 * geometry of Conv/ConvTranspose/pooling (attributes, auto_pad, output sizes), and the scratch
 * sizes that shape inference reports for these kernels. */
#ifndef TQ_REF_COMPUTE_UTIL_H
#define TQ_REF_COMPUTE_UTIL_H

#include "ir/ir.h"

/* ---- scratch ---- */
/* Point *p_out at `n_bytes` of temporary memory: ctx->scratch when it is large enough, otherwise
 * a fresh allocation (then *owned_bytes_out is its size, to pass to tq_rc_scratch_release). */
tfmq_status tq_rc_scratch_get(const tq_op_ctx *ctx, size_t n_bytes, void **p_out,
                              size_t *owned_bytes_out);
void tq_rc_scratch_release(const tq_op_ctx *ctx, void *p, size_t owned_bytes);

/* ---- bulk conversion: n elements starting at element `off` ---- */
void tq_rc_load_f64(tfmq_dtype dt, const void *base, size_t off, size_t n, double *dst);
void tq_rc_store_f64(tfmq_dtype dt, void *base, size_t off, size_t n, const double *src);
/* True for float32, float64, float16 and bfloat16. */
bool tq_rc_is_float(tfmq_dtype dt);
/* Sum of n products in double (4 partial sums). */
double tq_rc_dot_f64(const double *a, const double *b, size_t n);

/* ---- GEMM core shared by MatMul and Gemm ----
 * C'(i, j) = sum_k A'(i, k) * B'(k, j) in double, A'(i,k) = a[a_off + i*a_si + k*a_sk] and
 * B'(k,j) = b[b_off + k*b_sk + j*b_sj] (any float dtype; integers are read as double). Results
 * go to store(user, i, j0, n_j, acc) for row i, columns [j0, j0 + n_j). */
typedef struct tq_rc_gemm_args {
    size_t m, n, k;
    tfmq_dtype a_dt;
    const void *a;
    size_t a_off, a_si, a_sk;
    tfmq_dtype b_dt;
    const void *b;
    size_t b_off, b_sk, b_sj;
    void (*store)(void *user, size_t i, size_t j0, size_t n_j, const double *acc);
    void *user;
} tq_rc_gemm_args;

/* Scratch bytes tq_rc_gemm needs for these sizes (SIZE_MAX on overflow). */
size_t tq_rc_gemm_scratch_bytes(size_t m, size_t n, size_t k);
/* Run with `scratch` of tq_rc_gemm_scratch_bytes(m, n, k) bytes. */
void tq_rc_gemm(const tq_rc_gemm_args *g, void *scratch);

/* ---- spatial geometry of Conv, ConvTranspose, MaxPool, AveragePool ---- */
#define TQ_RC_MAX_SPATIAL 3
#define TQ_RC_ATTR_MAX ((int64_t)1 << 24) /* bound on kernel/stride/dilation/pad attributes */

typedef enum tq_rc_spatial_kind {
    TQ_RC_SP_CONV = 0,
    TQ_RC_SP_CONV_TRANSPOSE = 1,
    TQ_RC_SP_MAX_POOL = 2,
    TQ_RC_SP_AVG_POOL = 3
} tq_rc_spatial_kind;

/* Geometry of one node; arrays hold n_sp entries. Output sizes are -1 when the input size is
 * not known yet (then pads from auto_pad are not known either). */
typedef struct tq_rc_spatial {
    int32_t n_sp;                         /* spatial dims, 1..TQ_RC_MAX_SPATIAL */
    int64_t in[TQ_RC_MAX_SPATIAL];        /* input spatial size, -1 unknown */
    int64_t out[TQ_RC_MAX_SPATIAL];       /* output spatial size, -1 unknown */
    int64_t k[TQ_RC_MAX_SPATIAL];         /* kernel size */
    int64_t stride[TQ_RC_MAX_SPATIAL];
    int64_t dil[TQ_RC_MAX_SPATIAL];
    int64_t pad_b[TQ_RC_MAX_SPATIAL];     /* padding before (may be negative for ConvTranspose
                                             with output_shape) */
    int64_t pad_e[TQ_RC_MAX_SPATIAL];     /* padding after */
    int64_t group;                        /* Conv, ConvTranspose */
    int64_t out_channels;                 /* Conv, ConvTranspose: -1 unknown */
    bool ceil_mode;                       /* pools */
    bool count_include_pad;               /* AveragePool */
    int64_t storage_order;                /* MaxPool: 0 row major, 1 column major */
} tq_rc_spatial;

/* Read and validate the attributes of ctx->node and compute the geometry from the shapes of
 * ctx->in[0] (X) and, for convolutions, ctx->in[1] (W). X's rank must be known. */
tfmq_status tq_rc_spatial_init(const tq_op_ctx *ctx, tq_rc_spatial_kind kind,
                               tq_rc_spatial *sp);
/* The same geometry with n_sp raised to 3 by leading unit dims (kernels loop over 3 dims). */
void tq_rc_spatial_to3d(const tq_rc_spatial *sp, tq_rc_spatial *sp3);

/* ---- scratch sizes: called by shape inference (after outputs are set) and by the kernels.
 * Return 0 when a needed shape is unknown. ---- */
size_t tq_rc_conv_scratch(const tq_op_ctx *ctx);
size_t tq_rc_conv_transpose_scratch(const tq_op_ctx *ctx);
size_t tq_rc_matmul_scratch(const tq_op_ctx *ctx);
size_t tq_rc_gemm_scratch(const tq_op_ctx *ctx);
size_t tq_rc_pool_scratch(const tq_op_ctx *ctx);
size_t tq_rc_einsum_scratch(const tq_op_ctx *ctx);
size_t tq_rc_rnn_scratch(const tq_op_ctx *ctx);

/* Bytes of `n` doubles plus padding, saturating to SIZE_MAX on overflow. */
size_t tq_rc_f64_bytes(size_t n);
/* Saturating size arithmetic for scratch formulas (SIZE_MAX = impossible). */
size_t tq_rc_mul(size_t a, size_t b);
size_t tq_rc_add(size_t a, size_t b);

/* ---- QuantizeLinear / DequantizeLinear parameters ---- */
typedef struct tq_rc_qparams {
    bool per_axis;
    int32_t axis;      /* normalised; meaningful when per_axis */
    size_t n_ch;       /* scale entries (1 when per tensor) */
} tq_rc_qparams;

/* Validate scale (in[1]) and zero point (in[2], optional) against x (in[0]): per tensor when
 * the scale has one element, else per axis along the axis attribute (default 1). Needs known
 * ranks; dims are checked where known. block_size (opset 21) is unsupported. */
tfmq_status tq_rc_qparams_get(const tq_op_ctx *ctx, tq_rc_qparams *q);

/* ---- Einsum equation ---- */
#define TQ_RC_EINSUM_LABELS 64 /* 52 letters, then up to TQ_MAX_RANK ellipsis dims */
typedef struct tq_rc_einsum {
    int32_t n_labels;                         /* label ids are < n_labels */
    int64_t size[TQ_RC_EINSUM_LABELS];        /* per label; -1 unknown */
    bool used[TQ_RC_EINSUM_LABELS];
    int32_t out_rank;
    int32_t out_label[TQ_MAX_RANK];
    int32_t in_rank[TQ_MAX_IO];
    int32_t in_label[TQ_MAX_IO][TQ_MAX_RANK]; /* label of each input dim */
} tq_rc_einsum;

/* Parse the node's equation against the ranks (which must be known) and dims of ctx->in. */
tfmq_status tq_rc_einsum_parse(const tq_op_ctx *ctx, tq_rc_einsum *e);

/* ---- RNN activations (LSTM, GRU) ---- */
typedef enum tq_rc_act {
    TQ_RC_ACT_SIGMOID = 0,
    TQ_RC_ACT_TANH,
    TQ_RC_ACT_RELU,
    TQ_RC_ACT_AFFINE,
    TQ_RC_ACT_LEAKY_RELU,
    TQ_RC_ACT_THRESHOLDED_RELU,
    TQ_RC_ACT_SCALED_TANH,
    TQ_RC_ACT_HARD_SIGMOID,
    TQ_RC_ACT_ELU,
    TQ_RC_ACT_SOFTSIGN,
    TQ_RC_ACT_SOFTPLUS
} tq_rc_act;

typedef struct tq_rc_act_fn {
    tq_rc_act act;
    double alpha, beta;
} tq_rc_act_fn;

/* Recurrent-op attributes shared by LSTM and GRU. */
#define TQ_RC_MAX_ACTS 6
typedef struct tq_rc_rnn_attrs {
    int64_t hidden_size;      /* -1 when not given (taken from R) */
    int32_t n_dirs;           /* 1 or 2 */
    bool reverse;             /* direction == "reverse" */
    double clip;              /* <= 0: no clip */
    int64_t layout;           /* 0: [seq, batch, ...], 1: [batch, seq, ...] */
    int64_t input_forget;     /* LSTM */
    int64_t linear_before_reset; /* GRU */
    tq_rc_act_fn acts[TQ_RC_MAX_ACTS]; /* per direction: LSTM f,g,h; GRU f,g */
} tq_rc_rnn_attrs;

/* Read the attributes; n_gate_acts is 3 for LSTM and 2 for GRU. */
tfmq_status tq_rc_rnn_attrs_read(const tq_op_ctx *ctx, int32_t n_gate_acts,
                                 tq_rc_rnn_attrs *a);
double tq_rc_act_apply(const tq_rc_act_fn *f, double x);

/* Sizes of a recurrent node: X, W, R (and the optional inputs) checked against each other. */
typedef struct tq_rc_rnn_dims {
    int64_t seq, batch, input, hidden; /* -1 when unknown (inference only) */
    int32_t n_gates;                   /* 4 (LSTM) or 3 (GRU) */
} tq_rc_rnn_dims;

/* Validate the inputs of an LSTM (n_gates 4) or GRU (3) node and compute its sizes. */
tfmq_status tq_rc_rnn_dims_get(const tq_op_ctx *ctx, int32_t n_gates, const tq_rc_rnn_attrs *a,
                               tq_rc_rnn_dims *d);
/* Shape inference shared by LSTM and GRU: sets Y, Y_h (and Y_c for LSTM). */
tfmq_status tq_rc_rnn_infer(tq_op_ctx *ctx, int32_t n_gates);

/* a_k[j] += w_k * r[j] for k = 0..3 and j < len, in double: the inner loop of the reference
 * Conv and GEMM (one input row into four output-channel accumulators). */
static inline void tq_ref_row4_axpy(double *restrict a0, double *restrict a1, double *restrict a2,
                              double *restrict a3, const double *restrict r, size_t len,
                              double w0, double w1, double w2, double w3)
{
    size_t j = 0;
    /* unrolled by 2 so that the basic-block vectoriser of -O2 uses packed doubles */
    for (; j + 2 <= len; j += 2) {
        double v0 = r[j], v1 = r[j + 1];
        a0[j] += w0 * v0;
        a0[j + 1] += w0 * v1;
        a1[j] += w1 * v0;
        a1[j + 1] += w1 * v1;
        a2[j] += w2 * v0;
        a2[j + 1] += w2 * v1;
        a3[j] += w3 * v0;
        a3[j + 1] += w3 * v1;
    }
    for (; j < len; j++) {
        double v = r[j];
        a0[j] += w0 * v;
        a1[j] += w1 * v;
        a2[j] += w2 * v;
        a3[j] += w3 * v;
    }
}

#endif
