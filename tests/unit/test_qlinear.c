/* test_qlinear.c: the integer reference kernels tfmq.QConv, tfmq.QGemm and tfmq.QAdd against a
 * direct double-precision evaluation of their definition (docs/QUANTIZATION.md): random int8 and
 * uint8 data and scales, per-channel weights with non-zero zero points, edge shapes (1x1,
 * depthwise, strides, pads, dilations, odd K), activations, saturation and ties. Bit-exact. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/ref/qlinear.h"
#include "harness.h"
#include "ir/ir.h"

/* ---- tensors owned by the test ---- */
static tq_tensor mk(tfmq_dtype dt, int32_t rank, const int64_t *dims)
{
    tq_tensor t;
    memset(&t, 0, sizeof(t));
    t.dtype = dt;
    t.rank = rank;
    size_t n = 1;
    for (int32_t i = 0; i < rank; i++) {
        t.dims[i] = dims[i];
        n *= (size_t)dims[i];
    }
    t.data = calloc(n ? n : 1, 8);
    return t;
}

static tq_tensor mk_f32(float v)
{
    tq_tensor t = mk(TFMQ_DTYPE_FLOAT32, 0, NULL);
    *(float *)t.data = v;
    return t;
}

static tq_tensor mk_q8(tfmq_dtype dt, int32_t v)
{
    tq_tensor t = mk(dt, 0, NULL);
    if (dt == TFMQ_DTYPE_INT8) {
        *(int8_t *)t.data = (int8_t)v;
    } else {
        *(uint8_t *)t.data = (uint8_t)v;
    }
    return t;
}

static int32_t ld(const tq_tensor *t, size_t i)
{
    switch (t->dtype) {
    case TFMQ_DTYPE_INT8: return ((const int8_t *)t->data)[i];
    case TFMQ_DTYPE_UINT8: return ((const uint8_t *)t->data)[i];
    default: return ((const int32_t *)t->data)[i];
    }
}

static void fill_q8(tq_rng *rng, tq_tensor *t)
{
    size_t n = tq_tensor_numel(t);
    for (size_t i = 0; i < n; i++) {
        uint8_t v = (uint8_t)tq_rng_below(rng, 256);
        ((uint8_t *)t->data)[i] = v; /* same bytes serve int8 */
    }
}

/* Run one node: infer the output, allocate it, run the reference kernel. */
static tfmq_status run_node(uint32_t op, tq_attr *attrs, int32_t n_attrs, tq_tensor **ins,
                            int32_t n_in, tq_tensor *out)
{
    tq_node node;
    memset(&node, 0, sizeof(node));
    node.op = op;
    node.name = "t";
    node.n_in = n_in;
    node.n_out = 1;
    node.attrs = attrs;
    node.n_attrs = n_attrs;
    tq_op_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.node = &node;
    ctx.n_in = n_in;
    ctx.n_out = 1;
    ctx.opset = 17;
    for (int32_t i = 0; i < n_in; i++) {
        ctx.in[i] = ins[i];
    }
    memset(out, 0, sizeof(*out));
    out->rank = -1;
    ctx.out[0] = out;
    tfmq_status st = tq_infer_table[op](&ctx);
    if (st != TFMQ_OK) {
        return st;
    }
    out->data = calloc(tq_tensor_numel(out) + 1, 1);
    void *scratch = ctx.scratch_bytes ? malloc(ctx.scratch_bytes) : NULL;
    ctx.scratch = scratch;
    st = tq_ref_table[op](&ctx);
    free(scratch);
    return st;
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

static tq_attr a_int(const char *name, int64_t v)
{
    tq_attr a;
    memset(&a, 0, sizeof(a));
    a.name = name;
    a.type = TQ_ATTR_INT;
    a.i = v;
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

static tq_attr a_f(const char *name, float f)
{
    tq_attr a;
    memset(&a, 0, sizeof(a));
    a.name = name;
    a.type = TQ_ATTR_FLOAT;
    a.f = f;
    return a;
}

/* The definition, written out directly. */
static int32_t spec_requant(double acc, float xs, float ws, float ys, int32_t zp, int32_t lo,
                            int32_t hi)
{
    if (acc > 2147483647.0) {
        acc = 2147483647.0;
    }
    if (acc < -2147483648.0) {
        acc = -2147483648.0;
    }
    float m = (float)((double)xs * (double)ws / (double)ys);
    double v = rint(acc * (double)m) + zp;
    return (int32_t)fmin(fmax(v, (double)lo), (double)hi);
}

static float rand_scale(tq_rng *rng, float lo, float hi)
{
    return expf(tq_rng_uniform(rng, logf(lo), logf(hi)));
}

typedef struct conv_case {
    int64_t n, c, h, w, m, kh, kw, group, sh, sw, dh, dw, pt, pl, pb, pr;
    tfmq_dtype xdt, ydt;
    const char *act;
} conv_case;

/* The reference outputs of cc (NCHW order) into ref; returns their count. */
static size_t conv_reference(const conv_case *cc, const tq_tensor *x, const tq_tensor *w,
                             const tq_tensor *ws, const tq_tensor *wz, const tq_tensor *b,
                             float xsv, int32_t xzv, float ysv, int32_t yzv, int32_t lo,
                             int32_t hi, int32_t *ref)
{
    const int64_t oh_n = (cc->h + cc->pt + cc->pb - cc->dh * (cc->kh - 1) - 1) / cc->sh + 1;
    const int64_t ow_n = (cc->w + cc->pl + cc->pr - cc->dw * (cc->kw - 1) - 1) / cc->sw + 1;
    const int64_t cg = cc->c / cc->group, mg = cc->m / cc->group;
    size_t o = 0;
    for (int64_t n = 0; n < cc->n; n++) {
        for (int64_t oc = 0; oc < cc->m; oc++) {
            const int64_t gr = oc / mg;
            for (int64_t oh = 0; oh < oh_n; oh++) {
                for (int64_t ow = 0; ow < ow_n; ow++, o++) {
                    double acc = ld(b, (size_t)oc);
                    for (int64_t ic = 0; ic < cg; ic++) {
                        for (int64_t kh = 0; kh < cc->kh; kh++) {
                            for (int64_t kw = 0; kw < cc->kw; kw++) {
                                int64_t ih = oh * cc->sh - cc->pt + kh * cc->dh;
                                int64_t iw = ow * cc->sw - cc->pl + kw * cc->dw;
                                if (ih < 0 || ih >= cc->h || iw < 0 || iw >= cc->w) {
                                    continue;
                                }
                                size_t xi = (size_t)(((n * cc->c + gr * cg + ic) * cc->h + ih) *
                                                         cc->w + iw);
                                size_t wi = (size_t)(((oc * cg + ic) * cc->kh + kh) * cc->kw +
                                                     kw);
                                acc += (double)(ld(x, xi) - xzv) *
                                       (double)(ld(w, wi) - ld(wz, (size_t)oc));
                            }
                        }
                    }
                    ref[o] = spec_requant(acc, xsv, ((const float *)ws->data)[oc], ysv, yzv, lo,
                                          hi);
                }
            }
        }
    }
    return o;
}

static void check_conv(tq_rng *rng, const conv_case *cc)
{
    const int64_t xd[4] = {cc->n, cc->c, cc->h, cc->w};
    const int64_t wd[4] = {cc->m, cc->c / cc->group, cc->kh, cc->kw};
    const int64_t md[1] = {cc->m};
    const int64_t oh_n = (cc->h + cc->pt + cc->pb - cc->dh * (cc->kh - 1) - 1) / cc->sh + 1;
    const int64_t ow_n = (cc->w + cc->pl + cc->pr - cc->dw * (cc->kw - 1) - 1) / cc->sw + 1;
    tq_tensor x = mk(cc->xdt, 4, xd), w = mk(TFMQ_DTYPE_INT8, 4, wd);
    tq_tensor ws = mk(TFMQ_DTYPE_FLOAT32, 1, md), wz = mk(TFMQ_DTYPE_INT8, 1, md);
    tq_tensor b = mk(TFMQ_DTYPE_INT32, 1, md);
    int32_t *ref = malloc((size_t)(cc->n * cc->m * oh_n * ow_n) * sizeof(int32_t));
    TQ_CHECK(ref != NULL);
    float xsv = 0.0f, ysv = 0.0f;
    int32_t xzv = 0, yzv = 0, lo = 0, hi = 0;
    size_t o = 0, n_sat = 0, n_zero = 0;
    /* a draw whose reference outputs all saturate, or all equal the zero point, would test the
     * clamp alone: such a draw (a long K with a small output scale, say) is made again */
    for (int attempt = 0; attempt < 16; attempt++) {
        fill_q8(rng, &x);
        fill_q8(rng, &w);
        for (int64_t i = 0; i < cc->m; i++) {
            ((float *)ws.data)[i] = rand_scale(rng, 1e-3f, 3e-2f);
            ((int8_t *)wz.data)[i] = (int8_t)((int)tq_rng_below(rng, 9) - 4);
            ((int32_t *)b.data)[i] = (int32_t)tq_rng_below(rng, 20001) - 10000;
        }
        xsv = rand_scale(rng, 1e-2f, 1e-1f);
        ysv = rand_scale(rng, 2e-2f, 2e-1f);
        xzv = (int32_t)tq_rng_below(rng, 256) - (cc->xdt == TFMQ_DTYPE_INT8 ? 128 : 0);
        yzv = (int32_t)tq_rng_below(rng, 41) - 20 + (cc->ydt == TFMQ_DTYPE_UINT8 ? 128 : 0);
        lo = cc->ydt == TFMQ_DTYPE_INT8 ? -128 : 0;
        hi = lo + 255;
        if (strcmp(cc->act, "Relu") == 0) {
            lo = lo > yzv ? lo : yzv;
        } else if (strcmp(cc->act, "Clip") == 0) {
            lo = (int32_t)fmax(lo, rint((double)(-0.7f / ysv)) + yzv);
            hi = (int32_t)fmin(hi, rint((double)(1.3f / ysv)) + yzv);
        }
        o = conv_reference(cc, &x, &w, &ws, &wz, &b, xsv, xzv, ysv, yzv, lo, hi, ref);
        n_sat = n_zero = 0;
        for (size_t k = 0; k < o; k++) {
            n_sat += ref[k] == lo || ref[k] == hi;
            n_zero += ref[k] == yzv;
        }
        if ((n_sat < o && n_zero < o) || o < 4) {
            break;
        }
    }
    TQ_EXPECT(n_sat < o || o < 4, "mistrusted: every output saturated (16 draws)");
    TQ_EXPECT(n_zero < o || o < 4, "mistrusted: every output is the zero point (16 draws)");
    tq_tensor xs = mk_f32(xsv), xz = mk_q8(cc->xdt, xzv), ys = mk_f32(ysv),
              yz = mk_q8(cc->ydt, yzv);
    int64_t strides[2] = {cc->sh, cc->sw}, dil[2] = {cc->dh, cc->dw};
    int64_t pads[4] = {cc->pt, cc->pl, cc->pb, cc->pr};
    tq_attr attrs[7] = {a_ints("strides", strides, 2), a_ints("dilations", dil, 2),
                        a_ints("pads", pads, 4), a_int("group", cc->group),
                        a_str("activation", cc->act), a_f("activation_min", -0.7f),
                        a_f("activation_max", 1.3f)};
    tq_tensor *ins[9] = {&x, &xs, &xz, &w, &ws, &wz, &ys, &yz, &b};
    tq_tensor y;
    tfmq_status st = run_node(TQ_OP_QCONV, attrs, 7, ins, 9, &y);
    TQ_EXPECT(st == TFMQ_OK, "%s", tfmq_last_error());
    if (st == TFMQ_OK) {
        TQ_EXPECT(y.dtype == cc->ydt && y.rank == 4 && y.dims[1] == cc->m && y.dims[2] == oh_n &&
                      y.dims[3] == ow_n,
                  "shape");
        size_t n_bad = 0;
        for (size_t k = 0; k < o; k++) {
            const int32_t v = ld(&y, k);
            n_bad += v != ref[k];
            if (v != ref[k] && n_bad < 4) {
                TQ_EXPECT(v == ref[k], "conv out %zu: got %d expected %d", k, v, ref[k]);
            }
        }
        TQ_EXPECT(n_bad == 0, "%zu of %zu outputs differ (c=%lld m=%lld k=%lldx%lld g=%lld)",
                  n_bad, o, (long long)cc->c, (long long)cc->m, (long long)cc->kh,
                  (long long)cc->kw, (long long)cc->group);
        free(y.data);
    }
    free(ref);
    tq_tensor *all[] = {&x, &w, &ws, &wz, &b, &xs, &xz, &ys, &yz};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        free(all[i]->data);
    }
}

static void test_qconv_shapes(tq_rng *rng)
{
    const tfmq_dtype I8 = TFMQ_DTYPE_INT8, U8 = TFMQ_DTYPE_UINT8;
    const conv_case cases[] = {
        /* n  c  h  w   m kh kw g  sh sw dh dw pads          x   y   act */
        {1, 3, 7, 9, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, I8, I8, ""},
        {2, 8, 5, 5, 4, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, I8, I8, ""},     /* 1x1 */
        {1, 6, 9, 8, 6, 3, 3, 6, 2, 2, 1, 1, 1, 1, 1, 1, I8, I8, "Relu"}, /* depthwise s2 */
        {1, 4, 11, 10, 6, 3, 5, 2, 2, 3, 1, 1, 0, 2, 1, 0, U8, U8, ""},  /* groups, odd pads */
        {1, 5, 9, 9, 3, 3, 3, 1, 1, 1, 2, 2, 2, 2, 2, 2, I8, U8, "Clip"}, /* dilation */
        {1, 17, 4, 3, 7, 2, 3, 1, 1, 2, 1, 1, 1, 0, 0, 1, U8, I8, "Relu"}, /* odd K */
        {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, I8, I8, ""},
        {1, 64, 6, 6, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, I8, I8, ""}, /* long K */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        check_conv(rng, &cases[i]);
    }
}

/* QGemm on x [2, 3, K] (batched leading dims), per-row weight scales. */
static void test_qgemm_random(tq_rng *rng)
{
    const int64_t Ks[] = {1, 7, 64, 130};
    for (size_t ki = 0; ki < 4; ki++) {
        const int64_t K = Ks[ki], N = 11;
        const int64_t xd[3] = {2, 3, K}, wd[2] = {N, K}, nd[1] = {N};
        tq_tensor x = mk(TFMQ_DTYPE_UINT8, 3, xd), w = mk(TFMQ_DTYPE_INT8, 2, wd);
        tq_tensor ws = mk(TFMQ_DTYPE_FLOAT32, 1, nd), b = mk(TFMQ_DTYPE_INT32, 1, nd);
        fill_q8(rng, &x);
        fill_q8(rng, &w);
        for (int64_t j = 0; j < N; j++) {
            ((float *)ws.data)[j] = rand_scale(rng, 1e-3f, 2e-2f);
            ((int32_t *)b.data)[j] = (int32_t)tq_rng_below(rng, 2001) - 1000;
        }
        float xsv = 0.03f, ysv = rand_scale(rng, 0.05f, 0.5f);
        tq_tensor xs = mk_f32(xsv), xz = mk_q8(TFMQ_DTYPE_UINT8, 131), ys = mk_f32(ysv);
        tq_tensor wz = mk_q8(TFMQ_DTYPE_INT8, 3), yz = mk_q8(TFMQ_DTYPE_INT8, -5);
        tq_tensor *ins[9] = {&x, &xs, &xz, &w, &ws, &wz, &ys, &yz, &b};
        tq_tensor y;
        tfmq_status st = run_node(TQ_OP_QGEMM, NULL, 0, ins, 9, &y);
        TQ_EXPECT(st == TFMQ_OK, "%s", tfmq_last_error());
        if (st == TFMQ_OK) {
            TQ_EXPECT(y.rank == 3 && y.dims[0] == 2 && y.dims[1] == 3 && y.dims[2] == N,
                      "shape");
            size_t n_bad = 0;
            for (size_t i = 0; i < 6; i++) {
                for (int64_t j = 0; j < N; j++) {
                    double acc = ld(&b, (size_t)j);
                    for (int64_t k = 0; k < K; k++) {
                        acc += (double)(ld(&x, i * (size_t)K + (size_t)k) - 131) *
                               (double)(ld(&w, (size_t)(j * K + k)) - 3);
                    }
                    int32_t r = spec_requant(acc, xsv, ((float *)ws.data)[j], ysv, -5, -128, 127);
                    n_bad += ld(&y, i * (size_t)N + (size_t)j) != r;
                }
            }
            TQ_EXPECT(n_bad == 0, "K=%lld: %zu outputs differ", (long long)K, n_bad);
            free(y.data);
        }
        tq_tensor *all[] = {&x, &w, &ws, &b, &xs, &xz, &ys, &wz, &yz};
        for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
            free(all[i]->data);
        }
    }
}

/* acc * M exactly on .5: ties go to even; large accumulators saturate at -128 / 127 (int8) and
 * 0 / 255 (uint8); the int32 accumulator itself saturates. */
static void test_ties_and_saturation(tq_rng *rng)
{
    (void)rng;
    const int32_t biases[] = {1, 3, 5, -1, -3, -5, 7, 100000, -100000};
    const int64_t nd[1] = {9}, wd[2] = {9, 1}, xd[2] = {1, 1};
    for (int pass = 0; pass < 2; pass++) {
        const tfmq_dtype ydt = pass == 0 ? TFMQ_DTYPE_INT8 : TFMQ_DTYPE_UINT8;
        const int32_t yzv = pass == 0 ? 0 : 128;
        tq_tensor x = mk(TFMQ_DTYPE_INT8, 2, xd), w = mk(TFMQ_DTYPE_INT8, 2, wd);
        tq_tensor b = mk(TFMQ_DTYPE_INT32, 1, nd);
        memcpy(b.data, biases, sizeof(biases)); /* x = w = 0: acc = bias */
        tq_tensor xs = mk_f32(1.0f), ws = mk_f32(0.5f), ys = mk_f32(1.0f);
        tq_tensor yz = mk_q8(ydt, yzv);
        tq_tensor *ins[9] = {&x, &xs, NULL, &w, &ws, NULL, &ys, &yz, &b};
        tq_tensor y;
        tfmq_status st = run_node(TQ_OP_QGEMM, NULL, 0, ins, 9, &y);
        TQ_EXPECT(st == TFMQ_OK, "%s", tfmq_last_error());
        if (st == TFMQ_OK) {
            const int32_t want_i8[9] = {0, 2, 2, 0, -2, -2, 4, 127, -128};
            const int32_t want_u8[9] = {128, 130, 130, 128, 126, 126, 132, 255, 0};
            for (int i = 0; i < 9; i++) {
                int32_t want = pass == 0 ? want_i8[i] : want_u8[i];
                TQ_EXPECT(ld(&y, (size_t)i) == want, "bias %d: got %d want %d", biases[i],
                          ld(&y, (size_t)i), want);
            }
            free(y.data);
        }
        tq_tensor *all[] = {&x, &w, &b, &xs, &ws, &ys, &yz};
        for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
            free(all[i]->data);
        }
    }
    TQ_EXPECT(tq_ql_sat32((int64_t)1 << 40) == INT32_MAX, "acc saturates high");
    TQ_EXPECT(tq_ql_sat32(-((int64_t)1 << 40)) == INT32_MIN, "acc saturates low");
    TQ_EXPECT(tq_ql_requant(INT32_MAX, 1.0f, 0, -128, 127) == 127, "requant saturates");
}

static void test_qadd_broadcast(tq_rng *rng)
{
    const int64_t ad[4] = {2, 3, 4, 5}, bd[3] = {3, 1, 5};
    for (int pass = 0; pass < 3; pass++) {
        const tfmq_dtype adt = pass == 1 ? TFMQ_DTYPE_UINT8 : TFMQ_DTYPE_INT8;
        tq_tensor a = mk(adt, 4, ad), b = mk(TFMQ_DTYPE_INT8, 3, bd);
        fill_q8(rng, &a);
        fill_q8(rng, &b);
        float asv = rand_scale(rng, 0.01f, 0.1f), bsv = rand_scale(rng, 0.01f, 0.1f);
        float ysv = rand_scale(rng, 0.02f, 0.2f);
        int32_t azv = adt == TFMQ_DTYPE_UINT8 ? 120 : 3, bzv = -7, yzv = pass == 2 ? 9 : -2;
        tq_tensor as = mk_f32(asv), bs = mk_f32(bsv), ys = mk_f32(ysv);
        tq_tensor az = mk_q8(adt, azv), bz = mk_q8(TFMQ_DTYPE_INT8, bzv);
        tq_tensor yz = mk_q8(TFMQ_DTYPE_INT8, yzv);
        tq_attr attrs[1] = {a_str("activation", pass == 2 ? "Relu" : "")};
        tq_tensor *ins[8] = {&a, &as, &az, &b, &bs, &bz, &ys, &yz};
        tq_tensor y;
        tfmq_status st = run_node(TQ_OP_QADD, attrs, 1, ins, 8, &y);
        TQ_EXPECT(st == TFMQ_OK, "%s", tfmq_last_error());
        if (st == TFMQ_OK) {
            TQ_EXPECT(y.rank == 4 && tq_tensor_numel(&y) == 120, "shape");
            size_t n_bad = 0;
            for (size_t i = 0; i < 120; i++) {
                size_t i3 = i % 5, i1 = (i / 20) % 3;
                size_t bi = i1 * 5 + i3;
                double v = rint(((double)asv * (double)(ld(&a, i) - azv) +
                                 (double)bsv * (double)(ld(&b, bi) - bzv)) /
                                (double)ysv) +
                           yzv;
                double lo = pass == 2 ? (double)yzv : -128.0;
                v = fmin(fmax(v, lo), 127.0);
                n_bad += ld(&y, i) != (int32_t)v;
            }
            TQ_EXPECT(n_bad == 0, "pass %d: %zu outputs differ", pass, n_bad);
            free(y.data);
        }
        tq_tensor *all[] = {&a, &b, &as, &bs, &ys, &az, &bz, &yz};
        for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
            free(all[i]->data);
        }
    }
}

/* QAdd's integer form (tq_ql_add_form.use_i: clamp((ia a + ib b + ic) >> ish)), planned for
 * random scales (ratios as in residual blocks), zero points, signedness and Relu bounds:
 * found for most, and where found equal to the definition (written out here) on all 65536
 * byte pairs, its sums within int32. */
static void test_qadd_int_form(tq_rng *rng)
{
    const int32_t n_plans = 200;
    int32_t n_int = 0, n_bad = 0, n_big = 0, n_f = 0;
    for (int32_t p = 0; p < n_plans; p++) {
        tq_ql_add_form q;
        memset(&q, 0, sizeof(q));
        q.a_s8 = tq_rng_below(rng, 4) != 0;
        q.b_s8 = tq_rng_below(rng, 4) != 0;
        q.y_s8 = true;
        q.a_zp = q.a_s8 ? 0 : (int32_t)tq_rng_below(rng, 256);
        q.b_zp = q.b_s8 ? (int32_t)tq_rng_below(rng, 9) - 4 : (int32_t)tq_rng_below(rng, 256);
        q.y_zp = tq_rng_below(rng, 2) ? 0 : (int32_t)tq_rng_below(rng, 41) - 20;
        const bool relu = tq_rng_below(rng, 2) != 0;
        q.lo = relu ? q.y_zp : -128;
        q.hi = 127;
        q.y_scale = (double)tq_rng_uniform(rng, 0.01f, 0.1f);
        q.a_scale = q.y_scale * (double)tq_rng_uniform(rng, 0.2f, 3.0f);
        q.b_scale = q.y_scale * (double)tq_rng_uniform(rng, 0.2f, 3.0f);
        q.want_i = true;
        tq_ql_add_form_plan(&q);
        n_f += q.use_f;
        if (!q.use_i) {
            continue;
        }
        n_int++;
        const int32_t a0 = q.a_s8 ? -128 : 0, b0 = q.b_s8 ? -128 : 0;
        for (int32_t a = a0; a < a0 + 256; a++) {
            for (int32_t b = b0; b < b0 + 256; b++) {
                const int64_t sum = (int64_t)q.ia * a + (int64_t)q.ib * b + (int64_t)q.ic;
                n_big += sum >= INT32_MAX || sum <= INT32_MIN;
                const int64_t f = (int64_t)floor(ldexp((double)sum, -q.ish));
                const int64_t v = f < q.lo ? q.lo : (f > q.hi ? q.hi : f);
                double d = rint((q.a_scale * (double)(a - q.a_zp) +
                                 q.b_scale * (double)(b - q.b_zp)) /
                                q.y_scale) +
                           (double)q.y_zp;
                d = d < (double)q.lo ? (double)q.lo : (d > (double)q.hi ? (double)q.hi : d);
                n_bad += (double)v != d;
            }
        }
    }
    TQ_EXPECT(n_bad == 0 && n_big == 0, "integer form: %d pairs differ, %d sums beyond int32",
              (int)n_bad, (int)n_big);
    TQ_EXPECT(n_int >= n_plans * 19 / 20, "integer form found for %d of %d scale sets", (int)n_int,
              (int)n_plans);
    printf("  integer form for %d of %d QAdd scale sets (%d with an exact float form)\n", (int)n_int,
           (int)n_plans, (int)n_f);
}

static void test_errors(tq_rng *rng)
{
    (void)rng;
    const int64_t xd[2] = {2, 4}, wd[2] = {3, 5};
    tq_tensor x = mk(TFMQ_DTYPE_INT8, 2, xd), w = mk(TFMQ_DTYPE_INT8, 2, wd);
    tq_tensor xs = mk_f32(1.0f), ys = mk_f32(1.0f), yz = mk_q8(TFMQ_DTYPE_INT8, 0);
    tq_tensor *ins[8] = {&x, &xs, NULL, &w, &xs, NULL, &ys, &yz};
    tq_tensor y;
    TQ_EXPECT(run_node(TQ_OP_QGEMM, NULL, 0, ins, 8, &y) == TFMQ_ERR_INVALID_ARG,
              "K mismatch is refused");
    TQ_EXPECT(strstr(tfmq_last_error(), "tfmq.QGemm") != NULL, "names the op: %s",
              tfmq_last_error());
    tq_attr bad[1] = {a_str("activation", "Tanh")};
    w.dims[1] = 4;
    TQ_EXPECT(run_node(TQ_OP_QGEMM, bad, 1, ins, 8, &y) == TFMQ_ERR_UNSUPPORTED,
              "unknown activation is refused: %s", tfmq_last_error());
    free(x.data);
    free(w.data);
    free(xs.data);
    free(ys.data);
    free(yz.data);
}

int main(int argc, char **argv)
{
    tq_test_begin(argc, argv);
    TQ_RUN(test_qconv_shapes);
    TQ_RUN(test_qgemm_random);
    TQ_RUN(test_ties_and_saturation);
    TQ_RUN(test_qadd_broadcast);
    TQ_RUN(test_qadd_int_form);
    TQ_RUN(test_errors);
    return tq_test_end();
}
