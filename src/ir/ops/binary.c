/* binary.c: validation and shape inference of the two-input elementwise ops: arithmetic (Add,
 * Sub, Mul, Div, Pow, Mod, PRelu), comparisons (output BOOL), logic (And, Or, Xor on BOOL) and
 * bit ops (BitShift, Bitwise*). Shapes broadcast like numpy (opset >= 7); PRelu's slope
 * broadcasts to X only (unidirectional). Legacy opset < 7 "broadcast"/"axis" attributes and the
 * old per-channel PRelu slope ([C] against [N,C,...]) are accepted too. */
#include "ir/ir.h"

#include <string.h>

static bool bin_is_compare(uint32_t op)
{
    return op == TQ_OP_EQUAL || op == TQ_OP_LESS || op == TQ_OP_GREATER ||
           op == TQ_OP_LESS_OR_EQUAL || op == TQ_OP_GREATER_OR_EQUAL;
}

static bool bin_numeric(tfmq_dtype dt)
{
    return tq_dtype_is_float(dt) || tq_dtype_is_int(dt);
}

static void bin_copy_shape(tq_tensor *y, const tq_tensor *x)
{
    y->rank = x->rank;
    for (int32_t i = 0; i < x->rank && i < TQ_MAX_RANK; i++) {
        y->dims[i] = x->dims[i];
    }
}

/* b placed at `axis` of a (legacy broadcast): b's dims must match a's (or be 1) there. */
static tfmq_status bin_check_at_axis(tq_op_ctx *ctx, const tq_tensor *a, const tq_tensor *b,
                                     int64_t axis)
{
    if (a->rank < 0 || b->rank < 0) {
        return TFMQ_OK;
    }
    if (axis < 0) {
        axis += a->rank;
    }
    if (axis < 0 || axis + b->rank > a->rank) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "legacy broadcast axis %lld does not fit",
                          (long long)axis);
    }
    for (int32_t i = 0; i < b->rank; i++) {
        int64_t da = a->dims[axis + i], db = b->dims[i];
        if (db != 1 && da >= 0 && db >= 0 && da != db) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG,
                              "legacy broadcast: dim %d of B (%lld) does not match %lld", i,
                              (long long)db, (long long)da);
        }
    }
    return TFMQ_OK;
}

/* Unidirectional broadcast of b to a (numpy rules with a fixed). */
static bool bin_unidir_ok(const tq_tensor *a, const tq_tensor *b)
{
    if (a->rank < 0 || b->rank < 0) {
        return true;
    }
    if (b->rank > a->rank) {
        return false;
    }
    for (int32_t i = 0; i < b->rank; i++) {
        int64_t db = b->dims[b->rank - 1 - i], da = a->dims[a->rank - 1 - i];
        if (db != 1 && db >= 0 && da >= 0 && db != da) {
            return false;
        }
    }
    return true;
}

tfmq_status tq_infer_binary(tq_op_ctx *ctx)
{
    const tq_tensor *a = ctx->in[0], *b = ctx->in[1];
    tq_tensor *y = ctx->out[0];
    const uint32_t op = ctx->node->op;
    tfmq_status st;
    if (!a || !b || !y) {
        return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "missing input or output");
    }
    const tfmq_dtype da = a->dtype, db = b->dtype;
    /* dtypes */
    if (op == TQ_OP_POW) {
        if (!bin_numeric(da) || !bin_numeric(db)) {
            return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "dtypes %s, %s are not supported",
                              tfmq_dtype_name(da), tfmq_dtype_name(db));
        }
    } else {
        if (da != db) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "input dtypes differ: %s and %s",
                              tfmq_dtype_name(da), tfmq_dtype_name(db));
        }
        bool ok;
        switch (op) {
        case TQ_OP_AND:
        case TQ_OP_OR:
        case TQ_OP_XOR:
            ok = da == TFMQ_DTYPE_BOOL;
            break;
        case TQ_OP_EQUAL:
            ok = bin_numeric(da) || da == TFMQ_DTYPE_BOOL;
            break;
        case TQ_OP_BIT_SHIFT:
            ok = tq_dtype_is_int(da) && !tq_dtype_is_signed(da);
            break;
        case TQ_OP_BITWISE_AND:
        case TQ_OP_BITWISE_OR:
        case TQ_OP_BITWISE_XOR:
            ok = tq_dtype_is_int(da);
            break;
        default:
            ok = bin_numeric(da);
            break;
        }
        if (!ok) {
            return tq_op_fail(ctx, TFMQ_ERR_UNSUPPORTED, "input dtype %s is not supported",
                              tfmq_dtype_name(da));
        }
    }
    /* attributes */
    if (op == TQ_OP_MOD) {
        int64_t fmod_attr;
        if ((st = tq_attr_int(ctx->node, "fmod", 0, &fmod_attr)) != TFMQ_OK) {
            return st;
        }
        if (fmod_attr != 0 && fmod_attr != 1) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "fmod must be 0 or 1");
        }
    }
    if (op == TQ_OP_BIT_SHIFT) {
        const char *dir;
        if ((st = tq_attr_string(ctx->node, "direction", "", &dir)) != TFMQ_OK) {
            return st;
        }
        if (strcmp(dir, "LEFT") != 0 && strcmp(dir, "RIGHT") != 0) {
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "direction '%s' is not LEFT|RIGHT", dir);
        }
    }
    y->dtype = (bin_is_compare(op) || op == TQ_OP_AND || op == TQ_OP_OR || op == TQ_OP_XOR)
                   ? TFMQ_DTYPE_BOOL
                   : da;
    /* shapes */
    int64_t bcast = 0, axis = 0;
    if (ctx->opset < 7) {
        if ((st = tq_attr_int(ctx->node, "broadcast", 0, &bcast)) != TFMQ_OK ||
            (st = tq_attr_int(ctx->node, "axis", 0, &axis)) != TFMQ_OK) {
            return st;
        }
    }
    if (bcast && tq_node_attr(ctx->node, "axis")) {
        if ((st = bin_check_at_axis(ctx, a, b, axis)) != TFMQ_OK) {
            return st;
        }
        bin_copy_shape(y, a);
        return TFMQ_OK;
    }
    if (op == TQ_OP_PRELU) {
        if (!bin_unidir_ok(a, b)) {
            /* old exporters: slope [C] for X [N,C,...] */
            if (b->rank == 1 && a->rank >= 2 &&
                (b->dims[0] == a->dims[1] || b->dims[0] < 0 || a->dims[1] < 0)) {
                bin_copy_shape(y, a);
                return TFMQ_OK;
            }
            char sa[96], sb[96];
            return tq_op_fail(ctx, TFMQ_ERR_INVALID_ARG, "slope %s does not broadcast to X %s",
                              tq_shape_str(b, sb, sizeof(sb)), tq_shape_str(a, sa, sizeof(sa)));
        }
        bin_copy_shape(y, a);
        return TFMQ_OK;
    }
    return tq_broadcast_shape(ctx, a, b, y);
}
