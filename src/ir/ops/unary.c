/* unary.c: attribute validation and shape inference of the elementwise unary ops (Relu, Sigmoid,
 * Exp, Round, Not, the trigonometric family, IsNaN, ...). The output has the input's shape and
 * dtype, except IsNaN and IsInf which produce BOOL. Input dtypes follow the ONNX spec per op
 * (opsets 7..21): float-only ops reject integers, Not wants BOOL, BitwiseNot integers. */
#include "ir/ir.h"

#include <string.h>

enum unary_class {
    UC_FLOAT,   /* float types */
    UC_SIGNED,  /* float types and signed integers */
    UC_NUMERIC, /* float types and all integers */
    UC_INT,     /* integers */
    UC_BOOL     /* bool */
};

static enum unary_class unary_class_of(uint32_t op)
{
    switch (op) {
    case TQ_OP_ABS:
    case TQ_OP_SIGN:
    case TQ_OP_SHRINK:
        return UC_NUMERIC;
    case TQ_OP_NEG:
    case TQ_OP_RELU:
        return UC_SIGNED;
    case TQ_OP_NOT:
        return UC_BOOL;
    case TQ_OP_BITWISE_NOT:
        return UC_INT;
    default:
        return UC_FLOAT;
    }
}

static bool unary_dtype_ok(enum unary_class c, tfmq_dtype dt)
{
    switch (c) {
    case UC_FLOAT:
        return tq_dtype_is_float(dt);
    case UC_SIGNED:
        return tq_dtype_is_float(dt) || (tq_dtype_is_int(dt) && tq_dtype_is_signed(dt));
    case UC_NUMERIC:
        return tq_dtype_is_float(dt) || tq_dtype_is_int(dt);
    case UC_INT:
        return tq_dtype_is_int(dt);
    case UC_BOOL:
        return dt == TFMQ_DTYPE_BOOL;
    }
    return false;
}

tfmq_status tq_infer_unary(tq_op_ctx *ctx)
{
    const tq_tensor *x = ctx->in[0];
    tq_tensor *y = ctx->out[0];
    const tq_node *n = ctx->node;
    tfmq_status st;
    if (!x || !y) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "missing input or output");
    }
    if (!unary_dtype_ok(unary_class_of(n->op), x->dtype)) {
        return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "input dtype %s is not supported",
                          tfmq_dtype_name(x->dtype));
    }
    /* attributes: check types (the getters fail on a wrong type) and values */
    switch (n->op) {
    case TQ_OP_GELU: {
        const char *approx = NULL;
        if ((st = tq_attr_string(n, "approximate", "none", &approx)) != TFMQ_OK) {
            return st;
        }
        if (strcmp(approx, "none") != 0 && strcmp(approx, "tanh") != 0) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "approximate '%s' is not none|tanh",
                              approx);
        }
        break;
    }
    case TQ_OP_CELU: {
        float alpha;
        if ((st = tq_attr_float(n, "alpha", 1.0f, &alpha)) != TFMQ_OK) {
            return st;
        }
        if (alpha == 0.0f) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "alpha must not be 0");
        }
        break;
    }
    case TQ_OP_LEAKY_RELU:
    case TQ_OP_HARD_SIGMOID:
    case TQ_OP_ELU:
    case TQ_OP_SELU:
    case TQ_OP_THRESHOLDED_RELU: {
        float v;
        if ((st = tq_attr_float(n, "alpha", 0.0f, &v)) != TFMQ_OK) {
            return st;
        }
        if ((st = tq_attr_float(n, "beta", 0.0f, &v)) != TFMQ_OK) {
            return st;
        }
        if ((st = tq_attr_float(n, "gamma", 0.0f, &v)) != TFMQ_OK) {
            return st;
        }
        break;
    }
    case TQ_OP_SHRINK: {
        float v;
        if ((st = tq_attr_float(n, "bias", 0.0f, &v)) != TFMQ_OK) {
            return st;
        }
        if ((st = tq_attr_float(n, "lambd", 0.5f, &v)) != TFMQ_OK) {
            return st;
        }
        break;
    }
    case TQ_OP_IS_INF: {
        int64_t v;
        if ((st = tq_attr_int(n, "detect_negative", 1, &v)) != TFMQ_OK) {
            return st;
        }
        if ((st = tq_attr_int(n, "detect_positive", 1, &v)) != TFMQ_OK) {
            return st;
        }
        break;
    }
    default:
        break;
    }
    y->dtype = (n->op == TQ_OP_IS_NAN || n->op == TQ_OP_IS_INF) ? TFMQ_DTYPE_BOOL : x->dtype;
    y->rank = x->rank;
    for (int32_t i = 0; i < x->rank && i < TQ_MAX_RANK; i++) {
        y->dims[i] = x->dims[i];
    }
    return TFMQ_OK;
}
