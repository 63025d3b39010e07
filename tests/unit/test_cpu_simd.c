/* test_cpu_simd.c: the SIMD family of the fast CPU backend (src/backends/cpu/simd) against the
 * reference kernels, for every instruction-set table this machine can run (portable C always,
 * AVX2 and AVX-512 when the CPU has them: p->isa is passed explicitly to prepare). Each case
 * builds a node by hand, infers its output, runs the reference, then prepares and runs the SIMD
 * kernel in every layout combination its role allows (inputs converted to NHWC and outputs back
 * in the test), and checks: role/prepare agreement, no allocation during a run, the impl string,
 * and the results (bit-exact for Relu, Clip, LeakyRelu, HardSigmoid, HardSwish, Add/Sub/Mul/Div,
 * MaxPool and AveragePool, Q/DQ, QAdd and Pad; relative 1e-6 for Sigmoid/Tanh and GlobalAveragePool
 * (its planar sum runs in several lanes); 1e-5 for
 * Softmax and LayerNormalization). Data are random with fixed seeds, never left zero, with NaN,
 * +-Inf, signed zeros, denormals and quantization ties mixed in. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/cpu.h"
#include "harness.h"
#include "ir/ir.h"

/* ---- tensors ---- */
static size_t esize(tfmq_dtype dt)
{
    switch (dt) {
    case TFMQ_DTYPE_INT8:
    case TFMQ_DTYPE_UINT8:
        return 1;
    case TFMQ_DTYPE_INT64:
        return 8;
    default:
        return 4; /* float32, int32 */
    }
}

static tq_tensor mk(tfmq_dtype dt, int32_t rank, const int64_t *dims)
{
    tq_tensor t;
    memset(&t, 0, sizeof(t));
    t.dtype = dt;
    t.rank = rank;
    for (int32_t i = 0; i < rank; i++) {
        t.dims[i] = dims[i];
    }
    t.data = calloc(tq_tensor_numel(&t) + 16, esize(dt));
    return t;
}

static tq_tensor mk_f32_scalar(float v)
{
    tq_tensor t = mk(TFMQ_DTYPE_FLOAT32, 0, NULL);
    *(float *)t.data = v;
    return t;
}

static tq_tensor mk_q8_scalar(tfmq_dtype dt, int32_t v)
{
    tq_tensor t = mk(dt, 0, NULL);
    if (dt == TFMQ_DTYPE_INT8) {
        *(int8_t *)t.data = (int8_t)v;
    } else if (dt == TFMQ_DTYPE_UINT8) {
        *(uint8_t *)t.data = (uint8_t)v;
    } else {
        *(int32_t *)t.data = v;
    }
    return t;
}

static void rm(tq_tensor *t)
{
    free(t->data);
    t->data = NULL;
}

/* Specials mixed into float data. */
static float special_f32(tq_rng *rng)
{
    static const float sp[] = {NAN,    INFINITY, -INFINITY, -0.0f, 1e30f, -1e30f,
                               1e-40f, -1e-40f,  0.0f,      3.5f,  -2.5f};
    return sp[tq_rng_below(rng, sizeof(sp) / sizeof(sp[0]))];
}

/* Uniform in [lo, hi) with one special in `every` elements (0: none). */
static void fill_f32(tq_rng *rng, tq_tensor *t, float lo, float hi, uint64_t every)
{
    float *p = t->data;
    const size_t n = tq_tensor_numel(t);
    for (size_t i = 0; i < n; i++) {
        p[i] =
            every && tq_rng_below(rng, every) == 0 ? special_f32(rng) : tq_rng_uniform(rng, lo, hi);
    }
}

static void fill_bytes(tq_rng *rng, tq_tensor *t)
{
    uint8_t *p = t->data;
    const size_t n = tq_tensor_numel(t) * esize(t->dtype);
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)tq_rng_below(rng, 256);
    }
}

/* NCHW <-> NHWC copies of a rank-4 tensor's data (es bytes per element). */
static void to_layout(const tq_tensor *t, const void *src, void *dst, bool to_nhwc)
{
    const size_t N = (size_t)t->dims[0], C = (size_t)t->dims[1], H = (size_t)t->dims[2],
                 W = (size_t)t->dims[3], es = esize(t->dtype);
    for (size_t n = 0; n < N; n++) {
        for (size_t c = 0; c < C; c++) {
            for (size_t h = 0; h < H; h++) {
                for (size_t w = 0; w < W; w++) {
                    size_t a = ((n * C + c) * H + h) * W + w, b = ((n * H + h) * W + w) * C + c;
                    if (to_nhwc) {
                        memcpy((char *)dst + b * es, (const char *)src + a * es, es);
                    } else {
                        memcpy((char *)dst + a * es, (const char *)src + b * es, es);
                    }
                }
            }
        }
    }
}

/* ---- attributes ---- */
static tq_attr a_int(const char *name, int64_t v)
{
    tq_attr a;
    memset(&a, 0, sizeof(a));
    a.name = name;
    a.type = TQ_ATTR_INT;
    a.i = v;
    return a;
}

static tq_attr a_ints(const char *name, const int64_t *v, size_t n)
{
    tq_attr a;
    memset(&a, 0, sizeof(a));
    a.name = name;
    a.type = TQ_ATTR_INTS;
    a.ints = v;
    a.n = n;
    return a;
}

static tq_attr a_f(const char *name, float f)
{
    tq_attr a;
    memset(&a, 0, sizeof(a));
    a.name = name;
    a.type = TQ_ATTR_FLOAT;
    a.f = f;
    return a;
}

static tq_attr a_str(const char *name, const char *s)
{
    tq_attr a;
    memset(&a, 0, sizeof(a));
    a.name = name;
    a.type = TQ_ATTR_STRING;
    a.s = s;
    return a;
}

/* ---- one case: reference vs SIMD in every ISA and allowed layout ---- */
enum { CMP_EXACT = 0, CMP_REL = 1 };

typedef struct op_case {
    uint32_t op;
    const tq_attr *attrs;
    int32_t n_attrs;
    int64_t opset; /* 0: 17 */
    tq_tensor *in[9];
    int32_t n_in;
    uint32_t const_mask; /* inputs known at prepare time (constants) */
    int32_t n_out;       /* 0: 1 */
    int cmp;
    double rtol, atol;
    bool expect_taken; /* in NCHW (roles other than PLAIN are always taken) */
    bool try_nhwc;     /* also try channels-last for a PLAIN node (prepare may take it) */
    const char *what;  /* the kernel form the impl string must end in (NULL: any) */
    const char *label;
} op_case;

static const tq_cpu_isa k_isas[] = {TQ_CPU_ISA_SCALAR, TQ_CPU_ISA_AVX2, TQ_CPU_ISA_AVX512};
static int n_checked[3]; /* kernels run per ISA */

static bool isa_available(tq_cpu_isa isa)
{
    return isa <= tq_cpu_isa_detected();
}

static bool same_value_f32(float y, float r, int cmp, double rtol, double atol)
{
    if (isnan(y) || isnan(r)) {
        return isnan(y) && isnan(r);
    }
    if (cmp == CMP_EXACT) {
        uint32_t a, b;
        memcpy(&a, &y, 4);
        memcpy(&b, &r, 4);
        return a == b; /* signed zeros too */
    }
    double dy = (double)y, dr = (double)r;
    return dy == dr || fabs(dy - dr) <= atol + rtol * fabs(dr);
}

/* Compare y against r; prints the first few differences. */
static void compare(const op_case *oc, const tq_tensor *out, const void *y, const void *r,
                    const char *where)
{
    const size_t n = tq_tensor_numel(out);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        bool ok;
        double vy, vr;
        if (out->dtype == TFMQ_DTYPE_FLOAT32) {
            vy = (double)((const float *)y)[i];
            vr = (double)((const float *)r)[i];
            ok = same_value_f32(((const float *)y)[i], ((const float *)r)[i], oc->cmp, oc->rtol,
                                oc->atol);
        } else {
            ok = memcmp((const char *)y + i * esize(out->dtype),
                        (const char *)r + i * esize(out->dtype), esize(out->dtype)) == 0;
            vy = out->dtype == TFMQ_DTYPE_INT8 ? ((const int8_t *)y)[i] : ((const uint8_t *)y)[i];
            vr = out->dtype == TFMQ_DTYPE_INT8 ? ((const int8_t *)r)[i] : ((const uint8_t *)r)[i];
        }
        if (!ok && bad++ < 3) {
            tq_test_failf(__FILE__, __LINE__, "%s %s: [%zu] got %.9g, expected %.9g", oc->label,
                          where, i, vy, vr);
        }
    }
    if (bad > 3) {
        tq_test_failf(__FILE__, __LINE__, "%s %s: %zu of %zu elements differ", oc->label, where,
                      bad, n);
    }
}

/* Run the prepared kernel with inputs/outputs in the given layouts; compare with ref. */
static void run_kernel(const op_case *oc, tq_cpu_kernel *k, tq_op_ctx *ctx, const uint8_t *in_l,
                       const uint8_t *out_l, const void *ref, const char *where)
{
    tq_op_ctx rc = *ctx;
    tq_tensor ins[9], out = *ctx->out[0];
    void *conv[9] = {0};
    for (int32_t i = 0; i < oc->n_in; i++) {
        if (!ctx->in[i]) {
            continue;
        }
        ins[i] = *ctx->in[i];
        if (in_l[i] == TQ_LAYOUT_NHWC) {
            conv[i] = malloc(tq_tensor_numel(&ins[i]) * esize(ins[i].dtype) + 1);
            to_layout(&ins[i], ins[i].data, conv[i], true);
            ins[i].data = conv[i];
        }
        rc.in[i] = &ins[i];
    }
    const size_t ob = tq_tensor_numel(&out) * esize(out.dtype);
    out.data = malloc(ob + 1);
    memset(out.data, 0xA5, ob + 1); /* garbage: every element must be written */
    rc.out[0] = &out;
    const uint64_t a0 = tq_alloc_test_count();
    tfmq_status st = k->run(k, &rc);
    TQ_EXPECT(st == TFMQ_OK, "%s %s: run failed: %s", oc->label, where, tfmq_last_error());
    TQ_EXPECT(tq_alloc_test_count() == a0, "%s %s: the run allocated", oc->label, where);
    void *y = out.data, *back = NULL;
    if (out_l[0] == TQ_LAYOUT_NHWC) {
        back = malloc(ob + 1);
        to_layout(&out, out.data, back, false);
        y = back;
    }
    compare(oc, &out, y, ref, where);
    TQ_EXPECT(((const uint8_t *)out.data)[ob] == 0xA5, "%s %s: wrote past the output", oc->label,
              where);
    free(back);
    free(out.data);
    for (int32_t i = 0; i < oc->n_in; i++) {
        free(conv[i]);
    }
}

static void check_case(const op_case *oc)
{
    tq_node node;
    memset(&node, 0, sizeof(node));
    node.op = oc->op;
    node.name = oc->label;
    node.n_in = oc->n_in;
    node.n_out = oc->n_out ? oc->n_out : 1;
    node.attrs = (tq_attr *)(uintptr_t)oc->attrs;
    node.n_attrs = oc->n_attrs;
    tq_tensor outs[3];
    memset(outs, 0, sizeof(outs));
    tq_op_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.node = &node;
    ctx.n_in = oc->n_in;
    ctx.n_out = node.n_out;
    ctx.opset = oc->opset ? oc->opset : 17;
    for (int32_t i = 0; i < oc->n_in; i++) {
        ctx.in[i] = oc->in[i];
    }
    for (int32_t i = 0; i < ctx.n_out; i++) {
        outs[i].rank = -1;
        ctx.out[i] = &outs[i];
    }
    tfmq_status st = tq_infer_table[oc->op](&ctx);
    TQ_EXPECT(st == TFMQ_OK, "%s: infer: %s", oc->label, tfmq_last_error());
    if (st != TFMQ_OK) {
        return;
    }
    for (int32_t i = 0; i < ctx.n_out; i++) {
        outs[i].data = calloc(tq_tensor_numel(&outs[i]) + 1, 8);
    }
    void *scratch = ctx.scratch_bytes ? malloc(ctx.scratch_bytes) : NULL;
    ctx.scratch = scratch;
    st = tq_ref_table[oc->op](&ctx);
    free(scratch);
    ctx.scratch = NULL;
    ctx.scratch_bytes = 0;
    TQ_EXPECT(st == TFMQ_OK, "%s: reference: %s", oc->label, tfmq_last_error());

    /* the plan-time view: activations without data */
    tq_tensor pin[9], pout[3];
    tq_op_ctx pctx = ctx;
    for (int32_t i = 0; i < oc->n_in; i++) {
        if (ctx.in[i]) {
            pin[i] = *ctx.in[i];
            if (!(oc->const_mask & (1u << i))) {
                pin[i].data = NULL;
            }
            pctx.in[i] = &pin[i];
        }
    }
    for (int32_t i = 0; i < ctx.n_out; i++) {
        pout[i] = outs[i];
        pout[i].data = NULL;
        pctx.out[i] = &pout[i];
    }
    const tq_cpu_role role = tq_cpu_simd_role(&pctx);
    for (size_t ii = 0; st == TFMQ_OK && ii < sizeof(k_isas) / sizeof(k_isas[0]); ii++) {
        const tq_cpu_isa isa = k_isas[ii];
        if (!isa_available(isa)) {
            continue;
        }
        /* layout combinations: x = input 0 / shared layout, y = output 0 */
        for (int lx = 0; lx < 2; lx++) {
            for (int ly = 0; ly < 2; ly++) {
                const bool allowed =
                    role == TQ_CPU_ROLE_ANY || (lx == ly && (role == TQ_CPU_ROLE_SAME || lx == 0));
                const bool tried = allowed || (oc->try_nhwc && lx == ly);
                if (!tried) {
                    continue;
                }
                uint8_t in_l[9] = {0}, out_l[2] = {0};
                for (int32_t i = 0; i < oc->n_in; i++) {
                    const bool r4 = ctx.in[i] && ctx.in[i]->rank == 4;
                    const bool follows = role == TQ_CPU_ROLE_ANY ? i == 0 : true;
                    in_l[i] = (uint8_t)(r4 && follows ? lx : 0);
                }
                out_l[0] = (uint8_t)(outs[0].rank == 4 ? ly : 0);
                tq_cpu_prep p = {&pctx, in_l, out_l, 2, isa, NULL, NULL, NULL, false};
                tq_cpu_kernel *k = NULL;
                TQ_EXPECT_OK(tq_cpu_prepare_simd(&p, &k));
                char where[96];
                snprintf(where, sizeof(where), "[isa %s, x %s, y %s]", tq_cpu_isa_name(isa),
                         lx ? "nhwc" : "nchw", ly ? "nhwc" : "nchw");
                if (allowed && (role != TQ_CPU_ROLE_PLAIN || oc->expect_taken)) {
                    TQ_EXPECT(k != NULL, "%s %s: not taken (role %d)", oc->label, where, (int)role);
                }
                if (!allowed || oc->expect_taken) {
                    /* nothing */
                } else {
                    TQ_EXPECT(k == NULL, "%s %s: taken, expected the reference", oc->label, where);
                }
                if (!k) {
                    continue;
                }
                char prefix[32];
                snprintf(prefix, sizeof(prefix),
                         "simd:%s:", isa == TQ_CPU_ISA_SCALAR ? "c" : tq_cpu_isa_name(isa));
                TQ_EXPECT(k->impl && strncmp(k->impl, prefix, strlen(prefix)) == 0, "%s: impl %s",
                          oc->label, k->impl ? k->impl : "(null)");
                TQ_EXPECT(!oc->what || (k->impl && strcmp(k->impl + strlen(prefix), oc->what) == 0),
                          "%s: impl %s, expected the form %s", oc->label,
                          k->impl ? k->impl : "(null)", oc->what);
                run_kernel(oc, k, &ctx, in_l, out_l, outs[0].data, where);
                n_checked[ii]++;
                k->destroy(k);
            }
        }
    }
    if (!oc->expect_taken) {
        TQ_EXPECT(role == TQ_CPU_ROLE_PLAIN, "%s: role %d for a node not taken", oc->label,
                  (int)role);
    }
    for (int32_t i = 0; i < ctx.n_out; i++) {
        free(outs[i].data);
    }
}

/* The same case for a role check only: the expected role. */
static tq_cpu_role role_of(uint32_t op, tq_tensor **ins, int32_t n_in, const tq_attr *attrs,
                           int32_t n_attrs)
{
    tq_node node;
    memset(&node, 0, sizeof(node));
    node.op = op;
    node.name = "role";
    node.n_in = n_in;
    node.n_out = 1;
    node.attrs = (tq_attr *)(uintptr_t)attrs;
    node.n_attrs = n_attrs;
    tq_tensor out;
    memset(&out, 0, sizeof(out));
    out.rank = -1;
    tq_op_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.node = &node;
    ctx.n_in = n_in;
    ctx.n_out = 1;
    ctx.opset = 17;
    for (int32_t i = 0; i < n_in; i++) {
        ctx.in[i] = ins[i];
    }
    ctx.out[0] = &out;
    if (tq_infer_table[op](&ctx) != TFMQ_OK) {
        return (tq_cpu_role)-1;
    }
    return tq_cpu_simd_role(&ctx);
}

/* ---- unary ---- */
typedef struct un_spec {
    uint32_t op;
    const char *name;
    int cmp;
} un_spec;

static void check_unary_shape(tq_rng *rng, const un_spec *u, int32_t rank, const int64_t *dims,
                              float lo, float hi)
{
    tq_tensor x = mk(TFMQ_DTYPE_FLOAT32, rank, dims);
    fill_f32(rng, &x, lo, hi, 13);
    tq_attr attrs[2];
    int32_t n_attrs = 0;
    if (u->op == TQ_OP_LEAKY_RELU) {
        attrs[n_attrs++] = a_f("alpha", 0.1f);
    } else if (u->op == TQ_OP_HARD_SIGMOID) {
        attrs[n_attrs++] = a_f("alpha", 0.3f);
        attrs[n_attrs++] = a_f("beta", 0.45f);
    }
    char label[64];
    snprintf(label, sizeof(label), "%s rank %d n %zu", u->name, rank, tq_tensor_numel(&x));
    op_case oc = {.op = u->op,
                  .attrs = attrs,
                  .n_attrs = n_attrs,
                  .in = {&x},
                  .n_in = 1,
                  .cmp = u->cmp,
                  .rtol = 1e-6,
                  .atol = 0.0,
                  .expect_taken = true,
                  .label = label};
    check_case(&oc);
    rm(&x);
}

static void test_unary(tq_rng *unused)
{
    (void)unused;
    tq_rng rng = {0x5EED0001u};
    static const un_spec ops[] = {
        {TQ_OP_RELU, "Relu", CMP_EXACT},
        {TQ_OP_LEAKY_RELU, "LeakyRelu", CMP_EXACT},
        {TQ_OP_HARD_SIGMOID, "HardSigmoid", CMP_EXACT},
        {TQ_OP_HARD_SWISH, "HardSwish", CMP_EXACT},
        {TQ_OP_SIGMOID, "Sigmoid", CMP_REL},
        {TQ_OP_TANH, "Tanh", CMP_REL},
    };
    static const int64_t d1[] = {1}, d15[] = {15}, d16[] = {16}, d17[] = {17}, d1k[] = {999};
    static const int64_t d4a[] = {2, 3, 5, 7}, d4b[] = {1, 17, 3, 5};
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        check_unary_shape(&rng, &ops[i], 1, d1, -4.0f, 4.0f);
        check_unary_shape(&rng, &ops[i], 1, d15, -4.0f, 4.0f);
        check_unary_shape(&rng, &ops[i], 1, d16, -4.0f, 4.0f);
        check_unary_shape(&rng, &ops[i], 1, d17, -4.0f, 4.0f);
        check_unary_shape(&rng, &ops[i], 1, d1k, -30.0f, 30.0f);
        check_unary_shape(&rng, &ops[i], 4, d4a, -8.0f, 8.0f);
        check_unary_shape(&rng, &ops[i], 4, d4b, -1e-3f, 1e-3f);
    }
    /* tanh and sigmoid over wide and tiny ranges: relative accuracy near 0 and saturation */
    static const int64_t d4k[] = {4096};
    check_unary_shape(&rng, &ops[4], 1, d4k, -120.0f, 120.0f);
    check_unary_shape(&rng, &ops[5], 1, d4k, -1e-6f, 1e-6f);
    check_unary_shape(&rng, &ops[5], 1, d4k, -12.0f, 12.0f);
    /* the one very large tensor; a medium one (both split over threads) */
    static const int64_t dbig[] = {1000003}, dmid[] = {65537};
    check_unary_shape(&rng, &ops[0], 1, dbig, -4.0f, 4.0f);
    check_unary_shape(&rng, &ops[4], 1, dmid, -10.0f, 10.0f);
}

/* Clip: constant bounds (inputs, opset >= 11) or attributes (opset 6); min > max; bounds
 * that are activations are left to the reference. */
static void test_clip(tq_rng *unused)
{
    (void)unused;
    tq_rng rng = {0x5EED0002u};
    static const int64_t d4[] = {2, 17, 3, 5}, d1[] = {33};
    for (int rank4 = 0; rank4 < 2; rank4++) {
        tq_tensor x = rank4 ? mk(TFMQ_DTYPE_FLOAT32, 4, d4) : mk(TFMQ_DTYPE_FLOAT32, 1, d1);
        fill_f32(&rng, &x, -3.0f, 3.0f, 7);
        tq_tensor lo = mk_f32_scalar(-0.5f), hi = mk_f32_scalar(1.25f), neg = mk_f32_scalar(-0.0f);
        tq_tensor lo2 = mk_f32_scalar(2.0f), hi2 = mk_f32_scalar(1.0f);
        op_case oc = {.op = TQ_OP_CLIP,
                      .in = {&x, &lo, &hi},
                      .n_in = 3,
                      .const_mask = 6,
                      .cmp = CMP_EXACT,
                      .expect_taken = true,
                      .label = "Clip [-0.5, 1.25]"};
        check_case(&oc);
        oc.in[1] = &neg;
        oc.n_in = 2;
        oc.label = "Clip min -0 only";
        check_case(&oc);
        oc.in[1] = NULL;
        oc.in[2] = &hi;
        oc.n_in = 3;
        oc.label = "Clip max only";
        check_case(&oc);
        oc.in[1] = &lo2;
        oc.in[2] = &hi2;
        oc.label = "Clip min > max";
        check_case(&oc);
        oc.n_in = 1;
        oc.label = "Clip no bounds";
        check_case(&oc);
        tq_attr attrs[2] = {a_f("min", -1.5f), a_f("max", 0.25f)};
        op_case o6 = {.op = TQ_OP_CLIP,
                      .attrs = attrs,
                      .n_attrs = 2,
                      .opset = 6,
                      .in = {&x},
                      .n_in = 1,
                      .cmp = CMP_EXACT,
                      .expect_taken = true,
                      .label = "Clip-6 attrs"};
        check_case(&o6);
        op_case ov = {.op = TQ_OP_CLIP,
                      .in = {&x, &lo, &hi},
                      .n_in = 3,
                      .const_mask = 2,
                      .cmp = CMP_EXACT,
                      .expect_taken = false,
                      .label = "Clip max not constant"};
        check_case(&ov);
        rm(&x);
        rm(&lo);
        rm(&hi);
        rm(&neg);
        rm(&lo2);
        rm(&hi2);
    }
}

/* ---- binary ---- */
static void check_binary(tq_rng *rng, int32_t ra, const int64_t *da, int32_t rb, const int64_t *db,
                         bool taken, const char *what)
{
    static const uint32_t ops[] = {TQ_OP_ADD, TQ_OP_SUB, TQ_OP_MUL, TQ_OP_DIV};
    static const char *const names[] = {"Add", "Sub", "Mul", "Div"};
    tq_tensor a = mk(TFMQ_DTYPE_FLOAT32, ra, da), b = mk(TFMQ_DTYPE_FLOAT32, rb, db);
    fill_f32(rng, &a, -5.0f, 5.0f, 11);
    fill_f32(rng, &b, -5.0f, 5.0f, 11);
    for (size_t i = 0; i < 4; i++) {
        char label[96];
        snprintf(label, sizeof(label), "%s %s", names[i], what);
        op_case oc = {.op = ops[i],
                      .in = {&a, &b},
                      .n_in = 2,
                      .cmp = CMP_EXACT,
                      .expect_taken = taken,
                      .try_nhwc = true,
                      .label = label};
        check_case(&oc);
    }
    rm(&a);
    rm(&b);
}

static void test_binary(tq_rng *unused)
{
    (void)unused;
    tq_rng rng = {0x5EED0003u};
    static const int64_t x4[] = {2, 17, 5, 3}, x4b[] = {1, 3, 7, 9}, c3[] = {17, 1, 1},
                         c4[] = {1, 17, 1, 1}, c4b[] = {1, 3, 1, 1}, nc4[] = {2, 17, 1, 1};
    static const int64_t v17[] = {17}, one[] = {1}, r3[] = {2, 5, 16}, k16[] = {16}, m2[] = {3, 17},
                         k1_17[] = {1, 17}, big[] = {65537};
    static const int64_t w3[] = {3}, bad_a[] = {2, 1, 5}, bad_b[] = {1, 3, 1};
    check_binary(&rng, 4, x4, 4, x4, true, "equal rank 4");
    check_binary(&rng, 4, x4b, 4, x4b, true, "equal rank 4, C=3");
    check_binary(&rng, 1, v17, 1, v17, true, "equal [17]");
    check_binary(&rng, 4, x4, 0, NULL, true, "x op scalar");
    check_binary(&rng, 1, one, 4, x4, true, "[1] op x");
    check_binary(&rng, 4, x4, 3, c3, true, "x op [C,1,1]");
    check_binary(&rng, 4, c4, 4, x4, true, "[1,C,1,1] op x");
    check_binary(&rng, 4, x4b, 4, c4b, true, "x op [1,3,1,1]");
    check_binary(&rng, 4, x4, 4, nc4, true, "x op [N,C,1,1]");
    check_binary(&rng, 4, nc4, 4, x4, true, "[N,C,1,1] op x");
    check_binary(&rng, 3, r3, 1, k16, true, "[2,5,16] op [16]");
    check_binary(&rng, 1, k16, 3, r3, true, "[16] op [2,5,16]");
    check_binary(&rng, 2, m2, 2, k1_17, true, "[3,17] op [1,17]");
    check_binary(&rng, 4, x4, 1, w3, true, "x op [W]");
    check_binary(&rng, 3, bad_a, 3, bad_b, false, "both broadcast");
    check_binary(&rng, 1, big, 1, big, true, "equal [65537]");
    /* roles: SAME for equal rank-4 shapes, PLAIN for broadcasts */
    tq_tensor a = mk(TFMQ_DTYPE_FLOAT32, 4, x4), c = mk(TFMQ_DTYPE_FLOAT32, 3, c3);
    tq_tensor *same[2] = {&a, &a}, *bc[2] = {&a, &c};
    TQ_EXPECT_EQ_I64(role_of(TQ_OP_ADD, same, 2, NULL, 0), TQ_CPU_ROLE_SAME);
    TQ_EXPECT_EQ_I64(role_of(TQ_OP_MUL, bc, 2, NULL, 0), TQ_CPU_ROLE_PLAIN);
    rm(&a);
    rm(&c);
}

/* ---- pools ---- */
typedef struct pool_geo {
    int64_t kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, ceil;
    const char *auto_pad;
} pool_geo;

static void check_pool(tq_rng *rng, uint32_t op, tfmq_dtype dt, const int64_t *xd,
                       const pool_geo *g, int64_t cip)
{
    tq_tensor x = mk(dt, 4, xd);
    if (dt == TFMQ_DTYPE_FLOAT32) {
        fill_f32(rng, &x, -10.0f, 10.0f, op == TQ_OP_MAX_POOL ? 17 : 0);
    } else {
        fill_bytes(rng, &x);
    }
    const int64_t k[2] = {g->kh, g->kw}, s[2] = {g->sh, g->sw}, d[2] = {g->dh, g->dw};
    const int64_t pads[4] = {g->pt, g->pl, g->pb, g->pr};
    tq_attr attrs[7];
    int32_t na = 0;
    attrs[na++] = a_ints("kernel_shape", k, 2);
    attrs[na++] = a_ints("strides", s, 2);
    attrs[na++] = a_ints("dilations", d, 2);
    attrs[na++] = a_int("ceil_mode", g->ceil);
    if (g->auto_pad) {
        attrs[na++] = a_str("auto_pad", g->auto_pad);
    } else {
        attrs[na++] = a_ints("pads", pads, 4);
    }
    if (op == TQ_OP_AVERAGE_POOL) {
        attrs[na++] = a_int("count_include_pad", cip);
    }
    char label[160];
    snprintf(label, sizeof(label),
             "%s %s x[%lld,%lld,%lld,%lld] k%lldx%lld s%lldx%lld p%lld,%lld,%lld,%lld "
             "d%lldx%lld ceil%lld cip%lld %s",
             op == TQ_OP_MAX_POOL ? "MaxPool" : "AveragePool", tfmq_dtype_name(dt),
             (long long)xd[0], (long long)xd[1], (long long)xd[2], (long long)xd[3],
             (long long)g->kh, (long long)g->kw, (long long)g->sh, (long long)g->sw,
             (long long)g->pt, (long long)g->pl, (long long)g->pb, (long long)g->pr,
             (long long)g->dh, (long long)g->dw, (long long)g->ceil, (long long)cip,
             g->auto_pad ? g->auto_pad : "");
    op_case oc = {.op = op,
                  .attrs = attrs,
                  .n_attrs = na,
                  .in = {&x},
                  .n_in = 1,
                  .cmp = CMP_EXACT,
                  .expect_taken = true,
                  .label = label};
    check_case(&oc);
    rm(&x);
}

static void test_pool(tq_rng *unused)
{
    (void)unused;
    tq_rng rng = {0x5EED0004u};
    static const pool_geo geos[] = {
        {3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, NULL},         {3, 3, 2, 2, 0, 0, 0, 0, 1, 1, 1, NULL},
        {2, 2, 2, 2, 0, 0, 0, 0, 1, 1, 0, NULL},         {3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, NULL},
        {2, 3, 1, 2, 0, 1, 1, 0, 2, 1, 0, NULL},         {1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 0, NULL},
        {1, 1, 2, 2, 0, 0, 0, 0, 1, 1, 1, NULL},         {5, 5, 3, 3, 2, 2, 2, 2, 1, 1, 0, NULL},
        {3, 3, 2, 2, 0, 0, 0, 0, 1, 1, 0, "SAME_UPPER"}, {3, 2, 3, 1, 2, 0, 0, 1, 1, 2, 1, NULL},
    };
    static const int64_t shapes[][4] = {
        {1, 3, 9, 7}, {2, 17, 7, 9}, {1, 16, 8, 8}, {2, 65, 5, 6}, {1, 1, 6, 5}};
    for (size_t gi = 0; gi < sizeof(geos) / sizeof(geos[0]); gi++) {
        for (size_t si = 0; si < sizeof(shapes) / sizeof(shapes[0]); si++) {
            const pool_geo *g = &geos[gi];
            if (shapes[si][2] + g->pt + g->pb < (g->kh - 1) * g->dh + 1 ||
                shapes[si][3] + g->pl + g->pr < (g->kw - 1) * g->dw + 1) {
                continue;
            }
            check_pool(&rng, TQ_OP_MAX_POOL, TFMQ_DTYPE_FLOAT32, shapes[si], g, 0);
            check_pool(&rng, TQ_OP_MAX_POOL, TFMQ_DTYPE_INT8, shapes[si], g, 0);
            check_pool(&rng, TQ_OP_MAX_POOL, TFMQ_DTYPE_UINT8, shapes[si], g, 0);
            check_pool(&rng, TQ_OP_AVERAGE_POOL, TFMQ_DTYPE_FLOAT32, shapes[si], g, 0);
            check_pool(&rng, TQ_OP_AVERAGE_POOL, TFMQ_DTYPE_FLOAT32, shapes[si], g, 1);
        }
    }
    /* a larger one (threads) */
    static const int64_t big[4] = {2, 64, 56, 56};
    check_pool(&rng, TQ_OP_MAX_POOL, TFMQ_DTYPE_FLOAT32, big, &geos[3], 0);
    check_pool(&rng, TQ_OP_AVERAGE_POOL, TFMQ_DTYPE_FLOAT32, big, &geos[0], 1);
    check_pool(&rng, TQ_OP_MAX_POOL, TFMQ_DTYPE_UINT8, big, &geos[2], 0);

    /* MaxPool with Indices: the reference's */
    static const int64_t xd[4] = {1, 3, 6, 6}, k[2] = {2, 2};
    tq_tensor x = mk(TFMQ_DTYPE_FLOAT32, 4, xd);
    fill_f32(&rng, &x, -1.0f, 1.0f, 0);
    tq_attr attrs[1] = {a_ints("kernel_shape", k, 2)};
    op_case oc = {.op = TQ_OP_MAX_POOL,
                  .attrs = attrs,
                  .n_attrs = 1,
                  .in = {&x},
                  .n_in = 1,
                  .n_out = 2,
                  .expect_taken = false,
                  .label = "MaxPool with Indices"};
    check_case(&oc);
    rm(&x);
}

static void test_global_pool(tq_rng *unused)
{
    (void)unused;
    tq_rng rng = {0x5EED0005u};
    static const int64_t shapes[][4] = {{2, 17, 7, 5},  {1, 3, 1, 1},  {1, 64, 7, 7},
                                        {2, 100, 3, 3}, {1, 16, 1, 9}, {1, 8, 112, 112}};
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        tq_tensor x = mk(TFMQ_DTYPE_FLOAT32, 4, shapes[i]);
        fill_f32(&rng, &x, -3.0f, 5.0f, i == 0 ? 97 : 0);
        op_case oc = {.op = TQ_OP_GLOBAL_AVERAGE_POOL,
                      .in = {&x},
                      .n_in = 1,
                      .cmp = CMP_REL,
                      .rtol = 1e-6,
                      .expect_taken = true,
                      .label = "GlobalAveragePool"};
        check_case(&oc);
        rm(&x);
    }
}

/* ---- softmax and layer norm ---- */
static void check_softmax(tq_rng *rng, int32_t rank, const int64_t *dims, int64_t axis,
                          bool has_axis, int64_t opset, bool taken, const char *label)
{
    tq_tensor x = mk(TFMQ_DTYPE_FLOAT32, rank, dims);
    fill_f32(rng, &x, -30.0f, 30.0f, 0);
    float *p = x.data;
    const size_t n = tq_tensor_numel(&x);
    /* a few specials in the first rows: NaN, +Inf, -Inf, all -Inf */
    if (n >= 64 && dims[rank - 1] >= 4) {
        const size_t w = (size_t)dims[rank - 1];
        p[1] = NAN;
        p[w + 2] = INFINITY;
        p[2 * w < n ? 2 * w : 0] = -INFINITY;
        if (4 * w <= n) {
            for (size_t i = 3 * w; i < 4 * w; i++) {
                p[i] = -INFINITY;
            }
        }
    }
    tq_attr attrs[1] = {a_int("axis", axis)};
    op_case oc = {.op = TQ_OP_SOFTMAX,
                  .attrs = attrs,
                  .n_attrs = has_axis ? 1 : 0,
                  .opset = opset,
                  .in = {&x},
                  .n_in = 1,
                  .cmp = CMP_REL,
                  .rtol = 1e-5,
                  .atol = 1e-37,
                  .expect_taken = taken,
                  .label = label};
    check_case(&oc);
    rm(&x);
}

static void test_softmax(tq_rng *unused)
{
    (void)unused;
    tq_rng rng = {0x5EED0006u};
    static const int64_t a[] = {1, 1000}, b[] = {3, 17}, c[] = {2, 3, 16}, d[] = {2, 5, 1},
                         e[] = {4, 1}, f[] = {2, 7, 33}, g[] = {64, 15};
    check_softmax(&rng, 2, a, -1, true, 13, true, "Softmax [1,1000]");
    check_softmax(&rng, 2, b, -1, false, 13, true, "Softmax [3,17] default axis");
    check_softmax(&rng, 3, c, 2, true, 13, true, "Softmax [2,3,16] axis 2");
    check_softmax(&rng, 3, d, 1, true, 13, true, "Softmax [2,5,1] axis 1");
    check_softmax(&rng, 2, e, -1, true, 13, true, "Softmax [4,1]");
    check_softmax(&rng, 3, f, -1, true, 13, true, "Softmax [2,7,33]");
    check_softmax(&rng, 2, g, 1, true, 11, true, "Softmax-11 [64,15] axis 1");
    check_softmax(&rng, 3, f, 1, false, 11, false, "Softmax-11 [2,7,33] default axis");
    check_softmax(&rng, 3, f, 1, true, 13, false, "Softmax [2,7,33] axis 1");
}

static void check_ln(tq_rng *rng, int32_t rank, const int64_t *dims, int32_t srank, bool bias,
                     int64_t axis, float eps, int32_t n_out, bool taken, const char *label)
{
    tq_tensor x = mk(TFMQ_DTYPE_FLOAT32, rank, dims);
    int64_t sd[2] = {1, dims[rank - 1]};
    tq_tensor s = mk(TFMQ_DTYPE_FLOAT32, srank, srank == 2 ? sd : sd + 1);
    tq_tensor b = mk(TFMQ_DTYPE_FLOAT32, 1, sd + 1);
    fill_f32(rng, &x, -2.0f, 3.0f, 0);
    fill_f32(rng, &s, 0.5f, 1.5f, 0);
    fill_f32(rng, &b, -1.0f, 1.0f, 0);
    if (tq_tensor_numel(&x) > 3 * (size_t)dims[rank - 1]) {
        ((float *)x.data)[2 * dims[rank - 1] + 1] = NAN; /* one NaN row */
    }
    tq_attr attrs[2] = {a_int("axis", axis), a_f("epsilon", eps)};
    op_case oc = {.op = TQ_OP_LAYER_NORM,
                  .attrs = attrs,
                  .n_attrs = 2,
                  .in = {&x, &s, &b},
                  .n_in = bias ? 3 : 2,
                  .const_mask = 6,
                  .n_out = n_out,
                  .cmp = CMP_REL,
                  .rtol = 1e-5,
                  .atol = 1e-6,
                  .expect_taken = taken,
                  .label = label};
    check_case(&oc);
    rm(&x);
    rm(&s);
    rm(&b);
}

static void test_layer_norm(tq_rng *unused)
{
    (void)unused;
    tq_rng rng = {0x5EED0007u};
    static const int64_t a[] = {2, 5, 17}, b[] = {4, 16}, c[] = {3, 1000}, d[] = {1, 1},
                         e[] = {2, 3, 4, 15};
    check_ln(&rng, 3, a, 1, true, -1, 1e-5f, 1, true, "LayerNorm [2,5,17]");
    check_ln(&rng, 2, b, 1, false, -1, 1e-5f, 1, true, "LayerNorm [4,16] no bias");
    check_ln(&rng, 2, c, 2, true, 1, 1e-3f, 1, true, "LayerNorm [3,1000] scale [1,K]");
    check_ln(&rng, 2, d, 1, true, -1, 1e-5f, 1, true, "LayerNorm [1,1]");
    check_ln(&rng, 4, e, 1, true, -1, 1e-5f, 1, true, "LayerNorm [2,3,4,15]");
    check_ln(&rng, 3, a, 1, true, 1, 1e-5f, 1, false, "LayerNorm axis 1");
    check_ln(&rng, 3, a, 1, true, -1, 1e-5f, 3, false, "LayerNorm with mean/inv_std");
}

/* ---- QuantizeLinear / DequantizeLinear ---- */
static void check_quant(tq_rng *rng, int32_t rank, const int64_t *dims, float scale, tfmq_dtype zdt,
                        int32_t zp, const char *label)
{
    tq_tensor x = mk(TFMQ_DTYPE_FLOAT32, rank, dims);
    fill_f32(rng, &x, -150.0f * scale, 150.0f * scale, 23);
    float *p = x.data;
    const size_t n = tq_tensor_numel(&x);
    for (size_t i = 0; i < n; i += 3) { /* exact ties: (k + 0.5) * scale */
        p[i] = ((float)((int)tq_rng_below(rng, 400) - 200) + 0.5f) * scale;
    }
    tq_tensor s = mk_f32_scalar(scale);
    tq_tensor z = zdt ? mk_q8_scalar(zdt, zp) : mk(TFMQ_DTYPE_UINT8, 0, NULL);
    op_case oc = {.op = TQ_OP_QUANTIZE_LINEAR,
                  .in = {&x, &s, zdt ? &z : NULL},
                  .n_in = zdt ? 3 : 2,
                  .const_mask = 6,
                  .cmp = CMP_EXACT,
                  .expect_taken = true,
                  .label = label};
    check_case(&oc);
    rm(&x);
    rm(&s);
    rm(&z);
}

static void check_dequant(tq_rng *rng, int32_t rank, const int64_t *dims, tfmq_dtype dt,
                          float scale, bool has_zp, int32_t zp, const char *label)
{
    tq_tensor x = mk(dt, rank, dims);
    fill_bytes(rng, &x);
    if (dt == TFMQ_DTYPE_INT32 && tq_tensor_numel(&x) >= 4) {
        ((int32_t *)x.data)[0] = INT32_MIN;
        ((int32_t *)x.data)[1] = INT32_MAX;
        ((int32_t *)x.data)[2] = 16777217; /* rounds in float */
    }
    tq_tensor s = mk_f32_scalar(scale), z = mk_q8_scalar(dt, zp);
    op_case oc = {.op = TQ_OP_DEQUANTIZE_LINEAR,
                  .in = {&x, &s, has_zp ? &z : NULL},
                  .n_in = has_zp ? 3 : 2,
                  .const_mask = 6,
                  .cmp = CMP_EXACT,
                  .expect_taken = true,
                  .label = label};
    check_case(&oc);
    rm(&x);
    rm(&s);
    rm(&z);
}

static void test_qdq(tq_rng *unused)
{
    (void)unused;
    tq_rng rng = {0x5EED0008u};
    static const int64_t d1[] = {1}, d17[] = {17}, d4[] = {2, 3, 5, 7}, d4b[] = {1, 17, 4, 4},
                         big[] = {65537};
    check_quant(&rng, 1, d1, 0.5f, TFMQ_DTYPE_UINT8, 128, "Q u8 [1]");
    check_quant(&rng, 1, d17, 0.5f, TFMQ_DTYPE_INT8, -3, "Q s8 [17] ties");
    check_quant(&rng, 4, d4, 0.037f, TFMQ_DTYPE_UINT8, 7, "Q u8 rank 4");
    check_quant(&rng, 4, d4b, 0.25f, TFMQ_DTYPE_INT8, 0, "Q s8 rank 4 C=17");
    check_quant(&rng, 1, d17, 0.1f, 0, 0, "Q no zero point");
    check_quant(&rng, 1, big, 0.0213f, TFMQ_DTYPE_INT8, 5, "Q s8 [65537]");
    check_dequant(&rng, 1, d17, TFMQ_DTYPE_INT8, 0.031f, true, -7, "DQ s8 [17]");
    check_dequant(&rng, 4, d4, TFMQ_DTYPE_UINT8, 0.5f, true, 131, "DQ u8 rank 4");
    check_dequant(&rng, 4, d4b, TFMQ_DTYPE_INT8, 1.7f, false, 0, "DQ s8 no zp");
    check_dequant(&rng, 1, d17, TFMQ_DTYPE_INT32, 3.1e-5f, true, -2147483647, "DQ i32 zp");
    check_dequant(&rng, 4, d4, TFMQ_DTYPE_INT32, 0.013f, false, 0, "DQ i32 rank 4");
    check_dequant(&rng, 1, big, TFMQ_DTYPE_UINT8, 0.02f, true, 3, "DQ u8 [65537]");
    /* per-axis scales: the reference's */
    tq_tensor x = mk(TFMQ_DTYPE_FLOAT32, 4, d4), s = mk(TFMQ_DTYPE_FLOAT32, 1, d4 + 1);
    fill_f32(&rng, &x, -1.0f, 1.0f, 0);
    fill_f32(&rng, &s, 0.01f, 0.02f, 0);
    op_case oc = {.op = TQ_OP_QUANTIZE_LINEAR,
                  .in = {&x, &s},
                  .n_in = 2,
                  .const_mask = 2,
                  .expect_taken = false,
                  .label = "Q per axis"};
    check_case(&oc);
    rm(&x);
    rm(&s);
}

/* ---- tfmq.QAdd ---- */
typedef struct qadd_params {
    float as, bs, ys;
    int32_t az, bz, yz;
} qadd_params;

/* QAdd of a and b (filled) with the given parameters; `what` as in op_case. */
static void qadd_case(tq_tensor *a, tq_tensor *b, tfmq_dtype ydt, const qadd_params *p,
                      const char *act, bool bcast, const char *what)
{
    tq_tensor tas = mk_f32_scalar(p->as), tbs = mk_f32_scalar(p->bs), tys = mk_f32_scalar(p->ys);
    tq_tensor taz = mk_q8_scalar(a->dtype, p->az), tbz = mk_q8_scalar(b->dtype, p->bz);
    tq_tensor tyz = mk_q8_scalar(ydt, p->yz);
    tq_attr attrs[3] = {a_str("activation", act), a_f("activation_min", -0.7f),
                        a_f("activation_max", 1.3f)};
    char label[128];
    snprintf(label, sizeof(label), "QAdd %s+%s->%s act '%s'%s n %zu%s%s", tfmq_dtype_name(a->dtype),
             tfmq_dtype_name(b->dtype), tfmq_dtype_name(ydt), act, bcast ? " broadcast" : "",
             tq_tensor_numel(a), what ? " " : "", what ? what : "");
    op_case oc = {.op = TQ_OP_QADD,
                  .attrs = attrs,
                  .n_attrs = 3,
                  .in = {a, &tas, &taz, b, &tbs, &tbz, &tys, &tyz},
                  .n_in = 8,
                  .const_mask = 0xF6,
                  .cmp = CMP_EXACT,
                  .expect_taken = !bcast,
                  .what = what,
                  .label = label};
    check_case(&oc);
    tq_tensor *ts[] = {&tas, &tbs, &tys, &taz, &tbz, &tyz};
    for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++) {
        rm(ts[i]);
    }
}

static void check_qadd(tq_rng *rng, int32_t rank, const int64_t *dims, tfmq_dtype adt,
                       tfmq_dtype bdt, tfmq_dtype ydt, const char *act, bool bcast)
{
    tq_tensor a = mk(adt, rank, dims), b = mk(bdt, bcast ? 0 : rank, dims);
    fill_bytes(rng, &a);
    fill_bytes(rng, &b);
    qadd_params p;
    p.as = expf(tq_rng_uniform(rng, -5.0f, -2.0f));
    p.bs = expf(tq_rng_uniform(rng, -5.0f, -2.0f));
    p.ys = expf(tq_rng_uniform(rng, -4.5f, -2.0f));
    p.az = (int32_t)tq_rng_below(rng, 256) + (adt == TFMQ_DTYPE_INT8 ? -128 : 0);
    p.bz = (int32_t)tq_rng_below(rng, 256) + (bdt == TFMQ_DTYPE_INT8 ? -128 : 0);
    p.yz = (int32_t)tq_rng_below(rng, 41) - 20 + (ydt == TFMQ_DTYPE_UINT8 ? 128 : 0);
    qadd_case(&a, &b, ydt, &p, act, bcast, NULL);
    rm(&a);
    rm(&b);
}

/* The checked float form: parameters for which the plain float form misses some byte pairs
 * (no activation, which could clamp the misses away; the impl must name the checked form), on
 * every (a, b) pair in random order and then random pairs up to n, so that near-tie lanes land
 * in vectors and in the tail. */
static void check_qadd_checked(tq_rng *rng, size_t n, tfmq_dtype adt, tfmq_dtype bdt,
                               tfmq_dtype ydt, const qadd_params *p)
{
    const int64_t dims[1] = {(int64_t)n};
    tq_tensor a = mk(adt, 1, dims), b = mk(bdt, 1, dims);
    fill_bytes(rng, &a);
    fill_bytes(rng, &b);
    uint8_t *pa = a.data, *pb = b.data;
    const size_t m = n < 65536 ? n : 65536;
    uint32_t *perm = malloc(65536 * sizeof(*perm));
    for (uint32_t i = 0; i < 65536; i++) {
        perm[i] = i;
    }
    for (size_t i = 0; i < m; i++) { /* the first m of a random permutation of all pairs */
        const size_t j = i + (size_t)tq_rng_below(rng, 65536 - i);
        const uint32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
        pa[i] = (uint8_t)(perm[i] & 255u);
        pb[i] = (uint8_t)(perm[i] >> 8);
    }
    free(perm);
    qadd_case(&a, &b, ydt, p, "", false, "qadd_f32_checked");
    rm(&a);
    rm(&b);
}

static void test_qadd(tq_rng *unused)
{
    (void)unused;
    tq_rng rng = {0x5EED0009u};
    static const int64_t d17[] = {17}, d4[] = {2, 17, 5, 3}, big[] = {65537};
    static const tfmq_dtype q8[2] = {TFMQ_DTYPE_INT8, TFMQ_DTYPE_UINT8};
    static const char *const acts[3] = {"", "Relu", "Clip"};
    for (int ia = 0; ia < 2; ia++) {
        for (int ib = 0; ib < 2; ib++) {
            for (int iy = 0; iy < 2; iy++) {
                for (int ic = 0; ic < 3; ic++) {
                    check_qadd(&rng, 1, d17, q8[ia], q8[ib], q8[iy], acts[ic], false);
                    check_qadd(&rng, 4, d4, q8[ia], q8[ib], q8[iy], acts[ic], false);
                }
            }
        }
    }
    check_qadd(&rng, 1, big, TFMQ_DTYPE_UINT8, TFMQ_DTYPE_INT8, TFMQ_DTYPE_UINT8, "", false);
    check_qadd(&rng, 4, d4, TFMQ_DTYPE_UINT8, TFMQ_DTYPE_UINT8, TFMQ_DTYPE_UINT8, "", true);
    /* for each (a, b, y) dtype combination, [ia][ib][iy], scales found to miss the float form */
    static const qadd_params miss[2][2][2] = {
        {{{0.0551736951f, 0.0318872817f, 0.0890571252f, 3, -100, 0},
          {0.0690656155f, 0.0160048753f, 0.0253267344f, -80, 123, 109}},
         {{0.0173697397f, 0.0247736629f, 0.0197913535f, -30, 136, -13},
          {0.045956336f, 0.0194899943f, 0.0620170049f, -86, 112, 144}}},
        {{{0.112746604f, 0.0741946697f, 0.0850383267f, 152, 40, 20},
          {0.0389088094f, 0.0140271327f, 0.0162603483f, 187, -96, 140}},
         {{0.0166605636f, 0.0483813807f, 0.083972849f, 33, 13, -17},
          {0.0201279372f, 0.0314361304f, 0.120100573f, 234, 162, 137}}}};
    static const size_t ns[2] = {65536 + 9, 65536 + 7}; /* tails for 8 and 16 lanes */
    for (int ia = 0; ia < 2; ia++) {
        for (int ib = 0; ib < 2; ib++) {
            for (int iy = 0; iy < 2; iy++) {
                check_qadd_checked(&rng, ns[(ia + ib + iy) & 1], q8[ia], q8[ib], q8[iy],
                                   &miss[ia][ib][iy]);
            }
        }
    }
}

/* ---- Pad (constant mode): the input's rows copied between runs of the constant ---- */
/* x of dtype dt and dims, pads (begin for every axis, then end), the constant as an input of
 * x's dtype (has_value; else the default 0); expect: taken (crops and other modes are not). */
static void check_pad(tq_rng *rng, tfmq_dtype dt, int32_t rank, const int64_t *dims,
                      const int64_t *pads, bool has_value, double value, const char *mode,
                      bool expect)
{
    tq_tensor x = mk(dt, rank, dims);
    if (dt == TFMQ_DTYPE_FLOAT32) {
        fill_f32(rng, &x, -3.0f, 3.0f, 11);
    } else {
        fill_bytes(rng, &x);
    }
    const int64_t pd[1] = {2 * rank};
    tq_tensor pt = mk(TFMQ_DTYPE_INT64, 1, pd);
    memcpy(pt.data, pads, (size_t)(2 * rank) * sizeof(int64_t));
    tq_tensor cv = mk(dt, 0, NULL);
    tq_store_f64(dt, cv.data, 0, value);
    tq_attr attrs[1] = {a_str("mode", mode)};
    char label[96];
    snprintf(label, sizeof(label), "pad %s rank %d n %zu %s%s", mode, rank, tq_tensor_numel(&x),
             dt == TFMQ_DTYPE_FLOAT32 ? "f32" : (dt == TFMQ_DTYPE_INT8 ? "s8" : "u8"),
             has_value ? " value" : "");
    op_case oc = {.op = TQ_OP_PAD,
                  .attrs = attrs,
                  .n_attrs = 1,
                  .in = {&x, &pt, has_value ? &cv : NULL},
                  .n_in = has_value ? 3 : 2,
                  .const_mask = 6,
                  .cmp = CMP_EXACT,
                  .expect_taken = expect,
                  .what = expect ? "pad" : NULL,
                  .label = label};
    check_case(&oc);
    rm(&x);
    rm(&pt);
    rm(&cv);
}

static void test_pad(tq_rng *unused)
{
    (void)unused;
    tq_rng rng = {0x5EED0010u};
    /* ResNet-20's option-A shortcut: channels padded on both sides */
    static const int64_t r20[] = {2, 16, 8, 8}, r20p[] = {0, 8, 0, 0, 0, 8, 0, 0};
    check_pad(&rng, TFMQ_DTYPE_INT8, 4, r20, r20p, false, 0.0, "constant", true);
    check_pad(&rng, TFMQ_DTYPE_FLOAT32, 4, r20, r20p, false, 0.0, "constant", true);
    check_pad(&rng, TFMQ_DTYPE_INT8, 4, r20, r20p, true, -5.0, "constant", true);
    /* every axis, the last included, a non-zero constant of each type */
    static const int64_t d3[] = {3, 5, 7}, p3[] = {1, 0, 2, 2, 3, 1};
    check_pad(&rng, TFMQ_DTYPE_UINT8, 3, d3, p3, true, 200.0, "constant", true);
    check_pad(&rng, TFMQ_DTYPE_FLOAT32, 3, d3, p3, true, 1.5, "constant", true);
    check_pad(&rng, TFMQ_DTYPE_FLOAT32, 3, d3, p3, true, -0.0, "constant", true);
    /* rank 1, and rows long enough to be split over threads */
    static const int64_t d1[] = {9}, p1[] = {4, 3}, big[] = {4, 70000}, pb[] = {1, 5, 2, 0};
    check_pad(&rng, TFMQ_DTYPE_INT8, 1, d1, p1, true, 7.0, "constant", true);
    check_pad(&rng, TFMQ_DTYPE_FLOAT32, 2, big, pb, false, 0.0, "constant", true);
    /* an empty input axis: the output is the constant alone; no pads at all */
    static const int64_t d0[] = {3, 0, 4}, p0[] = {0, 2, 1, 0, 1, 0}, z[] = {0, 0, 0, 0, 0, 0};
    check_pad(&rng, TFMQ_DTYPE_INT8, 3, d0, p0, true, 3.0, "constant", true);
    check_pad(&rng, TFMQ_DTYPE_FLOAT32, 3, d3, z, false, 0.0, "constant", true);
    /* not taken: a crop, the other modes */
    static const int64_t crop[] = {0, -1, 1, 0, 1, 0};
    check_pad(&rng, TFMQ_DTYPE_FLOAT32, 3, d3, crop, false, 0.0, "constant", false);
    check_pad(&rng, TFMQ_DTYPE_FLOAT32, 3, d3, p3, false, 0.0, "reflect", false);
    check_pad(&rng, TFMQ_DTYPE_INT8, 3, d3, p3, false, 0.0, "edge", false);
}

/* ---- empty tensors: nothing to write, nothing read ---- */
static void test_empty(tq_rng *unused)
{
    (void)unused;
    static const int64_t e2[] = {3, 0}, e4[] = {0, 3, 4, 4}, k[2] = {2, 2};
    tq_tensor a = mk(TFMQ_DTYPE_FLOAT32, 2, e2), p = mk(TFMQ_DTYPE_FLOAT32, 4, e4);
    op_case relu = {
        .op = TQ_OP_RELU, .in = {&a}, .n_in = 1, .expect_taken = true, .label = "Relu [3,0]"};
    check_case(&relu);
    op_case sm = {
        .op = TQ_OP_SOFTMAX, .in = {&a}, .n_in = 1, .expect_taken = true, .label = "Softmax [3,0]"};
    check_case(&sm);
    op_case add = {
        .op = TQ_OP_ADD, .in = {&a, &a}, .n_in = 2, .expect_taken = true, .label = "Add [3,0]"};
    check_case(&add);
    tq_attr attrs[1] = {a_ints("kernel_shape", k, 2)};
    op_case mp = {.op = TQ_OP_MAX_POOL,
                  .attrs = attrs,
                  .n_attrs = 1,
                  .in = {&p},
                  .n_in = 1,
                  .expect_taken = true,
                  .label = "MaxPool [0,3,4,4]"};
    check_case(&mp);
    op_case gap = {.op = TQ_OP_GLOBAL_AVERAGE_POOL,
                   .in = {&p},
                   .n_in = 1,
                   .expect_taken = true,
                   .label = "GlobalAveragePool [0,3,4,4]"};
    check_case(&gap);
    rm(&a);
    rm(&p);
}

/* ---- not taken, out of memory ---- */
static void test_not_taken_and_oom(tq_rng *unused)
{
    (void)unused;
    static const int64_t d[] = {2, 3, 4, 5};
    tq_tensor x = mk(TFMQ_DTYPE_FLOAT32, 4, d);
    tq_tensor *ins[1] = {&x};
    TQ_EXPECT_EQ_I64(role_of(TQ_OP_ABS, ins, 1, NULL, 0), TQ_CPU_ROLE_PLAIN);
    TQ_EXPECT_EQ_I64(role_of(TQ_OP_RELU, ins, 1, NULL, 0), TQ_CPU_ROLE_SAME);
    static const int64_t k[2] = {2, 2};
    tq_attr attrs[1] = {a_ints("kernel_shape", k, 2)};
    TQ_EXPECT_EQ_I64(role_of(TQ_OP_MAX_POOL, ins, 1, attrs, 1), TQ_CPU_ROLE_ANY);
    TQ_EXPECT_EQ_I64(role_of(TQ_OP_GLOBAL_AVERAGE_POOL, ins, 1, NULL, 0), TQ_CPU_ROLE_ANY);
    TQ_EXPECT_EQ_I64(role_of(TQ_OP_SOFTMAX, ins, 1, NULL, 0), TQ_CPU_ROLE_PLAIN);

    /* out of memory at prepare: an error, no kernel */
    tq_node node;
    memset(&node, 0, sizeof(node));
    node.op = TQ_OP_RELU;
    node.name = "oom";
    node.n_in = node.n_out = 1;
    tq_tensor y = x;
    y.data = NULL;
    tq_op_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.node = &node;
    ctx.n_in = ctx.n_out = 1;
    ctx.opset = 17;
    ctx.in[0] = &x;
    ctx.out[0] = &y;
    const uint8_t l[1] = {0};
    tq_cpu_prep p = {&ctx, l, l, 1, TQ_CPU_ISA_SCALAR, NULL, NULL, NULL, false};
    tq_cpu_kernel dummy;
    tq_cpu_kernel *kern = &dummy; /* must be reset */
    tq_alloc_test_set_fail_at(1); /* the next allocation fails */
    TQ_EXPECT_STATUS(tq_cpu_prepare_simd(&p, &kern), TFMQ_ERR_OUT_OF_MEMORY);
    tq_alloc_test_set_fail_at(0);
    TQ_CHECK(kern == NULL);

    /* planar pooling: its scratch is the second allocation */
    node.op = TQ_OP_MAX_POOL;
    node.attrs = attrs;
    node.n_attrs = 1;
    const int64_t yd[4] = {2, 3, 3, 4};
    memcpy(y.dims, yd, sizeof(yd));
    for (uint64_t fail = 1; fail <= 3; fail++) {
        kern = &dummy;
        tq_alloc_test_set_fail_at(fail);
        tfmq_status st = tq_cpu_prepare_simd(&p, &kern);
        tq_alloc_test_set_fail_at(0);
        if (fail <= 2) {
            TQ_EXPECT(st == TFMQ_ERR_OUT_OF_MEMORY && kern == NULL,
                      "MaxPool, allocation %d failing", (int)fail);
        } else {
            TQ_EXPECT(st == TFMQ_OK && kern != NULL, "MaxPool prepare: %s", tfmq_last_error());
            if (kern) {
                kern->destroy(kern);
            }
        }
    }
    rm(&x);
}

static void test_isa_summary(tq_rng *unused)
{
    (void)unused;
    for (size_t i = 0; i < sizeof(k_isas) / sizeof(k_isas[0]); i++) {
        if (isa_available(k_isas[i])) {
            TQ_EXPECT(n_checked[i] > 0, "no kernel ran for %s", tq_cpu_isa_name(k_isas[i]));
            printf("isa %-7s: %d kernel runs checked\n", tq_cpu_isa_name(k_isas[i]), n_checked[i]);
        } else {
            printf("isa %-7s: not available on this CPU, skipped\n", tq_cpu_isa_name(k_isas[i]));
        }
    }
}

int main(int argc, char **argv)
{
    tq_test_begin(argc, argv);
    TQ_RUN(test_unary);
    TQ_RUN(test_clip);
    TQ_RUN(test_binary);
    TQ_RUN(test_pool);
    TQ_RUN(test_global_pool);
    TQ_RUN(test_softmax);
    TQ_RUN(test_layer_norm);
    TQ_RUN(test_qdq);
    TQ_RUN(test_qadd);
    TQ_RUN(test_pad);
    TQ_RUN(test_empty);
    TQ_RUN(test_not_taken_and_oom);
    TQ_RUN(test_isa_summary);
    return tq_test_end();
}
