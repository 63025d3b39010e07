/* test_cpu_onednn.c: the oneDNN family of the fast CPU backend (backends/cpu/onednn) against the
 * reference kernels: Conv / tfmq.FusedConv (float32) and tfmq.QConv (uint8/int8) over edge shapes
 * (1x1, 3x3 pad 1, 7x7 stride 2, depthwise, group 2, dilation 2, asymmetric pads, odd sizes,
 * batch 1 and 3) in every combination of NCHW / NHWC input and output layouts; Gemm, FusedGemm,
 * MatMul and tfmq.QGemm. Float: max |y - ref| <= 1e-5 * max |ref|. Integer: equal, or 1 unit
 * apart in under 1 % of the elements (oneDNN rounds a float product where the definition rounds a
 * double one; the count is printed). Also: role ANY implies a kernel in every layout, role PLAIN
 * nodes (a non-zero weight zero point), kernels free what they allocate and a run allocates
 * nothing through the tfmq allocator.
 *
 * TFMQ_ONEDNN_VERBOSE_TEST=1 also prints the implementation oneDNN picks for ResNet-50-like
 * convolutions in NHWC (f32, u8 and s8 sources) and two Gemm shapes, with a rough GFLOP/s (for
 * information; nothing is asserted about speed). */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backends/cpu/cpu.h"
#include "core/core.h"
#include "backends/ref/qlinear.h"
#include "harness.h"
#include "ir/ir.h"

#define MAX_IN 9
#define MAX_ATTRS 10

/* ---- a node with its inputs, built by hand ---- */
typedef struct tcase {
    uint32_t op;
    tq_attr attrs[MAX_ATTRS];
    int32_t n_attrs;
    int64_t strides[2], dils[2], pads[4];
    int32_t n_in;
    tq_tensor in[MAX_IN];
    bool present[MAX_IN];
    bool is_const[MAX_IN];   /* data known at prepare time */
    int32_t resid;           /* residual input (output-shaped, output layout), or -1 */
    bool saturates;          /* outputs may saturate (skip the trust check) */
} tcase;

static size_t esz(tfmq_dtype dt)
{
    return tfmq_dtype_size(dt);
}

static void tc_init(tcase *tc, uint32_t op)
{
    memset(tc, 0, sizeof(*tc));
    tc->op = op;
    tc->resid = -1;
}

static void *tc_in(tcase *tc, int32_t i, tfmq_dtype dt, int32_t rank, const int64_t *dims,
                   bool is_const)
{
    tq_tensor *t = &tc->in[i];
    t->dtype = dt;
    t->rank = rank;
    size_t n = 1;
    for (int32_t d = 0; d < rank; d++) {
        t->dims[d] = dims[d];
        n *= (size_t)dims[d];
    }
    t->data = calloc(n ? n : 1, esz(dt));
    tc->present[i] = true;
    tc->is_const[i] = is_const;
    if (i >= tc->n_in) {
        tc->n_in = i + 1;
    }
    return t->data;
}

static void tc_free(tcase *tc)
{
    for (int32_t i = 0; i < MAX_IN; i++) {
        free(tc->in[i].data);
    }
}

static void tc_attr_int(tcase *tc, const char *name, int64_t v)
{
    tq_attr *a = &tc->attrs[tc->n_attrs++];
    a->name = name;
    a->type = TQ_ATTR_INT;
    a->i = v;
}

static void tc_attr_ints(tcase *tc, const char *name, const int64_t *v, size_t n)
{
    tq_attr *a = &tc->attrs[tc->n_attrs++];
    a->name = name;
    a->type = TQ_ATTR_INTS;
    a->ints = v;
    a->n = n;
}

static void tc_attr_float(tcase *tc, const char *name, float v)
{
    tq_attr *a = &tc->attrs[tc->n_attrs++];
    a->name = name;
    a->type = TQ_ATTR_FLOAT;
    a->f = v;
}

static void tc_attr_str(tcase *tc, const char *name, const char *s)
{
    tq_attr *a = &tc->attrs[tc->n_attrs++];
    a->name = name;
    a->type = TQ_ATTR_STRING;
    a->s = s;
}

static void fill_f32(tq_rng *rng, float *p, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = tq_rng_uniform(rng, lo, hi);
    }
}

static void fill_bytes(tq_rng *rng, void *p, size_t n, int lo, int hi)
{
    for (size_t i = 0; i < n; i++) {
        int v = lo + (int)tq_rng_below(rng, (uint64_t)(hi - lo + 1));
        ((uint8_t *)p)[i] = (uint8_t)v; /* the same bytes serve int8 */
    }
}

/* The node and a context over `ins` (NULL where absent). */
static void tc_ctx(tcase *tc, tq_node *node, tq_op_ctx *ctx, tq_tensor *ins, tq_tensor *out)
{
    memset(node, 0, sizeof(*node));
    node->op = tc->op;
    node->name = "t";
    node->n_in = tc->n_in;
    node->n_out = 1;
    node->attrs = tc->attrs;
    node->n_attrs = tc->n_attrs;
    memset(ctx, 0, sizeof(*ctx));
    ctx->node = node;
    ctx->n_in = tc->n_in;
    ctx->n_out = 1;
    ctx->opset = 17;
    for (int32_t i = 0; i < tc->n_in; i++) {
        ctx->in[i] = tc->present[i] ? &ins[i] : NULL;
    }
    ctx->out[0] = out;
}

/* Shape inference then the reference kernel; *y gets the output (data allocated). */
static tfmq_status run_ref(tcase *tc, tq_tensor *y)
{
    tq_node node;
    tq_op_ctx ctx;
    memset(y, 0, sizeof(*y));
    y->rank = -1;
    tc_ctx(tc, &node, &ctx, tc->in, y);
    tfmq_status st = tq_infer_table[tc->op](&ctx);
    if (st != TFMQ_OK) {
        return st;
    }
    y->data = calloc(tq_tensor_numel(y) + 1, esz(y->dtype));
    void *scratch = ctx.scratch_bytes ? malloc(ctx.scratch_bytes) : NULL;
    ctx.scratch = scratch;
    st = tq_ref_table[tc->op](&ctx);
    free(scratch);
    return st;
}

/* ---- layouts ---- */
static void nchw_to_nhwc(const void *src, void *dst, const int64_t *d, size_t es)
{
    const size_t N = (size_t)d[0], C = (size_t)d[1], HW = (size_t)(d[2] * d[3]);
    for (size_t n = 0; n < N; n++) {
        for (size_t c = 0; c < C; c++) {
            for (size_t s = 0; s < HW; s++) {
                memcpy((char *)dst + ((n * HW + s) * C + c) * es,
                       (const char *)src + ((n * C + c) * HW + s) * es, es);
            }
        }
    }
}

static void nhwc_to_nchw(const void *src, void *dst, const int64_t *d, size_t es)
{
    const size_t N = (size_t)d[0], C = (size_t)d[1], HW = (size_t)(d[2] * d[3]);
    for (size_t n = 0; n < N; n++) {
        for (size_t c = 0; c < C; c++) {
            for (size_t s = 0; s < HW; s++) {
                memcpy((char *)dst + ((n * C + c) * HW + s) * es,
                       (const char *)src + ((n * HW + s) * C + c) * es, es);
            }
        }
    }
}

/* ---- the oneDNN kernel of a case ---- */
typedef struct dnnl_run {
    tq_cpu_role role;
    bool taken;
    char impl[128];
    size_t live_after_destroy;  /* blocks of the counting allocator still live */
    size_t allocs_in_run;       /* allocations made through it by the runs */
} dnnl_run;

static tq_test_counting_alloc g_counter;
static const tfmq_allocator g_alloc = {&g_counter, tq_test_counting_alloc_fn,
                                       tq_test_counting_free_fn};

/* Prepare with input 0 in layout lx and output 0 (and the residual) in ly, run `reps` times on
 * the case's data, write output 0 (NCHW) into y_out. inplace: output 0 is written over the
 * residual's buffer (the exec's in-place residual, tq_cpu_prep.out0_over_residual). */
static tfmq_status run_dnnl(tcase *tc, const tq_tensor *yshape, uint8_t lx, uint8_t ly,
                            int32_t n_threads, bool inplace, void *y_out, dnnl_run *r)
{
    memset(r, 0, sizeof(*r));
    tq_tensor pin[MAX_IN], rin[MAX_IN], pout = *yshape, rout = *yshape;
    tq_node node;
    tq_op_ctx ctx;
    uint8_t in_l[MAX_IN] = {0}, out_l[1] = {ly};
    pout.data = NULL;
    for (int32_t i = 0; i < tc->n_in; i++) {
        pin[i] = rin[i] = tc->in[i];
        if (!tc->is_const[i]) {
            pin[i].data = NULL; /* activations have no data at plan time */
        }
    }
    in_l[0] = tc->in[0].rank == 4 ? lx : TQ_LAYOUT_NCHW;
    if (tc->resid >= 0) {
        in_l[tc->resid] = tc->in[tc->resid].rank == 4 ? ly : TQ_LAYOUT_NCHW;
    }
    if (yshape->rank != 4) {
        out_l[0] = TQ_LAYOUT_NCHW;
    }
    tc_ctx(tc, &node, &ctx, pin, &pout);
    r->role = tq_cpu_dnnl_role(&ctx);
    tq_cpu_prep prep = {.ctx = &ctx, .in_layout = in_l, .out_layout = out_l,
                        .n_threads = n_threads, .isa = tq_cpu_isa_level(), .alloc = &g_alloc,
                        .out0_over_residual = inplace};
    long long live0 = atomic_load(&g_counter.n_live);
    tq_cpu_kernel *k = NULL;
    tfmq_status st = tq_cpu_prepare_dnnl(&prep, &k);
    if (st != TFMQ_OK || !k) {
        return st;
    }
    r->taken = true;
    snprintf(r->impl, sizeof(r->impl), "%s", k->impl ? k->impl : "(null)");
    /* run-time tensors: activations converted to their layouts */
    void *conv[MAX_IN] = {NULL};
    for (int32_t i = 0; i < tc->n_in; i++) {
        if (tc->present[i] && rin[i].rank == 4 && in_l[i] == TQ_LAYOUT_NHWC) {
            conv[i] = malloc(tq_tensor_numel(&rin[i]) * esz(rin[i].dtype));
            nchw_to_nhwc(tc->in[i].data, conv[i], rin[i].dims, esz(rin[i].dtype));
            rin[i].data = conv[i];
        }
    }
    const size_t ny = tq_tensor_numel(yshape), yb = ny * esz(yshape->dtype);
    void *y_own = NULL;
    if (inplace) {
        rout.data = rin[tc->resid].data; /* the output overwrites the residual's copy */
    } else {
        rout.data = y_own = malloc(yb);
        memset(rout.data, 0x5a, yb); /* garbage: the kernel must overwrite every element */
    }
    tc_ctx(tc, &node, &ctx, rin, &rout);
    long long total0 = atomic_load(&g_counter.n_total);
    int32_t prev = tq_cpu_threads_enter(n_threads);
    st = k->run(k, &ctx);
    tq_cpu_threads_leave(prev);
    r->allocs_in_run = (size_t)(atomic_load(&g_counter.n_total) - total0);
    if (out_l[0] == TQ_LAYOUT_NHWC) {
        nhwc_to_nchw(rout.data, y_out, yshape->dims, esz(yshape->dtype));
    } else {
        memcpy(y_out, rout.data, yb);
    }
    k->destroy(k);
    r->live_after_destroy = (size_t)(atomic_load(&g_counter.n_live) - live0);
    free(y_own);
    for (int32_t i = 0; i < MAX_IN; i++) {
        free(conv[i]);
    }
    return st;
}

/* ---- comparisons ---- */
static double rel_err_f32(const float *y, const float *ref, size_t n)
{
    double maxref = 0.0, maxerr = 0.0;
    for (size_t i = 0; i < n; i++) {
        double a = fabs((double)ref[i]), e = fabs((double)y[i] - (double)ref[i]);
        maxref = a > maxref ? a : maxref;
        maxerr = e > maxerr || isnan(e) ? e : maxerr;
    }
    return maxref > 0.0 ? maxerr / maxref : maxerr;
}

static int32_t ld8(tfmq_dtype dt, const void *p, size_t i)
{
    return dt == TFMQ_DTYPE_INT8 ? (int32_t)((const int8_t *)p)[i]
                                 : (int32_t)((const uint8_t *)p)[i];
}

/* Elements that differ, and the largest difference. */
static size_t diff_q8(tfmq_dtype dt, const void *y, const void *ref, size_t n, int32_t *maxd)
{
    size_t nd = 0;
    *maxd = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t d = abs(ld8(dt, y, i) - ld8(dt, ref, i));
        nd += d != 0;
        *maxd = d > *maxd ? d : *maxd;
    }
    return nd;
}

static bool g_verbose; /* TFMQ_ONEDNN_VERBOSE_TEST=1 */
static int g_amx_runs; /* cases whose oneDNN implementation runs on AMX tiles ("amx") */
/* When set, check_case asserts that the implementation's name contains (g_impl_has) or lacks
 * (g_impl_lacks) this text. */
static const char *g_impl_has, *g_impl_lacks;
static size_t g_q_elems, g_q_diffs; /* totals over the integer cases, printed at the end */

/* Run the case's reference, then the oneDNN kernel in the four layout combinations (or NCHW
 * only when the output is not rank 4), and compare. expect_take: the node must be taken. */
static void check_case(tcase *tc, const char *label, bool expect_take)
{
    expect_take = expect_take && tq_cpu_isa_level() > TQ_CPU_ISA_SCALAR; /* else the family is off */
    tq_tensor y;
    tfmq_status st = run_ref(tc, &y);
    TQ_EXPECT(st == TFMQ_OK, "%s: reference: %s", label, tfmq_last_error());
    if (st != TFMQ_OK) {
        free(y.data);
        return;
    }
    const size_t n = tq_tensor_numel(&y);
    void *out = malloc(n * esz(y.dtype) + 1);
    if (y.dtype != TFMQ_DTYPE_FLOAT32 && !tc->saturates) {
        /* trust: the outputs spread over the range rather than saturate */
        const int32_t dlo = y.dtype == TFMQ_DTYPE_INT8 ? -128 : 0, dhi = dlo + 255;
        size_t n_sat = 0;
        for (size_t i = 0; i < n; i++) {
            int32_t v = ld8(y.dtype, y.data, i);
            n_sat += v == dlo || v == dhi;
        }
        TQ_EXPECT(n_sat * 2 <= n || n < 16, "%s: mistrusted, %zu of %zu outputs saturate", label,
                  n_sat, n);
    }
    /* layouts: all four combinations when the role is ANY, NCHW only otherwise; then, with a
     * residual in NHWC, the output written over the residual (as the exec plans it in place) */
    for (int l = 0; l < 5; l++) {
        const bool inplace = l == 4;
        if (inplace && tc->resid < 0) {
            break;
        }
        const uint8_t lx = (uint8_t)(l & 1), ly = inplace ? 1 : (uint8_t)(l >> 1);
        dnnl_run r;
        st = run_dnnl(tc, &y, lx, ly, 1 + (l == 3), inplace, out, &r);
        TQ_EXPECT(st == TFMQ_OK, "%s [%d%d]: %s", label, lx, ly, tfmq_last_error());
        TQ_EXPECT(r.taken == expect_take, "%s [%d%d]: taken %d, expected %d", label, lx, ly,
                  (int)r.taken, (int)expect_take);
        if (r.role == TQ_CPU_ROLE_ANY) {
            TQ_EXPECT(r.taken, "%s: role ANY but no kernel for layouts %d%d", label, lx, ly);
        }
        if (!r.taken || st != TFMQ_OK) {
            break;
        }
        if (g_verbose) {
            printf("  %-48s [%d%d] %s\n", label, lx, ly, r.impl);
        }
        g_amx_runs += strstr(r.impl, "amx") != NULL;
        TQ_EXPECT(!g_impl_has || strstr(r.impl, g_impl_has), "%s [%d%d]: %s, expected %s",
                  label, lx, ly, r.impl, g_impl_has);
        TQ_EXPECT(!g_impl_lacks || !strstr(r.impl, g_impl_lacks), "%s [%d%d]: %s, not %s", label,
                  lx, ly, r.impl, g_impl_lacks);
        TQ_EXPECT(r.live_after_destroy == 0, "%s: %zu blocks leaked", label,
                  r.live_after_destroy);
        TQ_EXPECT(r.allocs_in_run == 0, "%s: a run made %zu allocations", label,
                  r.allocs_in_run);
        if (y.dtype == TFMQ_DTYPE_FLOAT32) {
            double e = rel_err_f32(out, y.data, n);
            TQ_EXPECT(e <= 1e-5, "%s [%d%d] (%s): relative error %.3g", label, lx, ly, r.impl, e);
        } else {
            int32_t maxd;
            size_t nd = diff_q8(y.dtype, out, y.data, n, &maxd);
            g_q_elems += n;
            g_q_diffs += nd;
            TQ_EXPECT(maxd <= 1, "%s [%d%d] (%s): max difference %d (%zu of %zu differ)", label,
                      lx, ly, r.impl, maxd, nd, n);
            TQ_EXPECT(nd * 100 < n || nd <= 1, "%s [%d%d] (%s): %zu of %zu elements differ",
                      label, lx, ly, r.impl, nd, n);
            if (nd) {
                printf("  %s [%d%d]: %zu of %zu elements 1 unit off (%s)\n", label, lx, ly, nd, n,
                       r.impl);
            }
        }
        if (r.role != TQ_CPU_ROLE_ANY) {
            break;
        }
    }
    free(out);
    free(y.data);
}

/* ---- convolutions ---- */
typedef struct conv_spec {
    int64_t n, c, h, w, m, kh, kw, g, sh, sw, dh, dw, pt, pl, pb, pr;
    const char *name;
} conv_spec;

static const conv_spec conv_specs[] = {
    /* n  c   h   w   m  kh kw  g sh sw dh dw pt pl pb pr */
    {1, 16, 8, 8, 32, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, "1x1"},
    {1, 8, 9, 9, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, "3x3 pad 1"},
    {1, 3, 23, 23, 8, 7, 7, 1, 2, 2, 1, 1, 3, 3, 3, 3, "7x7 stride 2"},
    {1, 16, 10, 10, 16, 3, 3, 16, 1, 1, 1, 1, 1, 1, 1, 1, "depthwise"},
    {1, 16, 11, 9, 32, 3, 3, 16, 2, 2, 1, 1, 1, 1, 1, 1, "depthwise x2 stride 2"},
    {1, 8, 7, 7, 6, 3, 3, 2, 1, 1, 1, 1, 1, 1, 1, 1, "group 2"},
    {1, 4, 11, 11, 5, 3, 3, 1, 1, 1, 2, 2, 2, 2, 2, 2, "dilation 2"},
    {1, 6, 8, 9, 7, 3, 3, 1, 1, 1, 1, 1, 0, 1, 2, 0, "asymmetric pads"},
    {3, 3, 5, 7, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, "odd 5x7 batch 3"},
    {3, 32, 6, 6, 24, 3, 3, 1, 2, 1, 1, 1, 1, 0, 1, 1, "batch 3 stride 2x1"},
    {1, 64, 7, 7, 64, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, "1x1 64"},
};
#define N_CONV_SPECS (sizeof(conv_specs) / sizeof(conv_specs[0]))

static void conv_out_hw(const conv_spec *s, int64_t *oh, int64_t *ow)
{
    *oh = (s->h + s->pt + s->pb - s->dh * (s->kh - 1) - 1) / s->sh + 1;
    *ow = (s->w + s->pl + s->pr - s->dw * (s->kw - 1) - 1) / s->sw + 1;
}

static void conv_attrs(tcase *tc, const conv_spec *s)
{
    tc->strides[0] = s->sh, tc->strides[1] = s->sw;
    tc->dils[0] = s->dh, tc->dils[1] = s->dw;
    tc->pads[0] = s->pt, tc->pads[1] = s->pl, tc->pads[2] = s->pb, tc->pads[3] = s->pr;
    tc_attr_ints(tc, "strides", tc->strides, 2);
    tc_attr_ints(tc, "dilations", tc->dils, 2);
    tc_attr_ints(tc, "pads", tc->pads, 4);
    tc_attr_int(tc, "group", s->g);
}

/* Float Conv / FusedConv: X, W, B random in [-1, 1]; R random. */
static void build_conv_f32(tq_rng *rng, tcase *tc, const conv_spec *s, uint32_t op, bool bias,
                           bool resid, const char *act)
{
    tc_init(tc, op);
    conv_attrs(tc, s);
    const int64_t xd[4] = {s->n, s->c, s->h, s->w}, wd[4] = {s->m, s->c / s->g, s->kh, s->kw};
    const int64_t bd[1] = {s->m};
    fill_f32(rng, tc_in(tc, 0, TFMQ_DTYPE_FLOAT32, 4, xd, false),
             (size_t)(s->n * s->c * s->h * s->w), -1.0f, 1.0f);
    fill_f32(rng, tc_in(tc, 1, TFMQ_DTYPE_FLOAT32, 4, wd, true),
             (size_t)(s->m * (s->c / s->g) * s->kh * s->kw), -1.0f, 1.0f);
    if (bias || resid) {
        float *b = tc_in(tc, 2, TFMQ_DTYPE_FLOAT32, 1, bd, true);
        fill_f32(rng, b, (size_t)s->m, -1.0f, 1.0f);
        tc->present[2] = bias;
    }
    if (resid) {
        int64_t oh, ow;
        conv_out_hw(s, &oh, &ow);
        const int64_t rd[4] = {s->n, s->m, oh, ow};
        fill_f32(rng, tc_in(tc, 3, TFMQ_DTYPE_FLOAT32, 4, rd, false),
                 (size_t)(s->n * s->m * oh * ow), -2.0f, 2.0f);
        tc->resid = 3;
    }
    if (act) {
        tc_attr_str(tc, "activation", act);
        tc_attr_float(tc, "activation_min", -0.5f);
        tc_attr_float(tc, "activation_max", 1.5f);
        tc_attr_float(tc, "activation_alpha", 0.1f);
    }
}

static void test_conv_f32(tq_rng *rng)
{
    for (size_t i = 0; i < N_CONV_SPECS; i++) {
        tcase tc;
        char label[128];
        build_conv_f32(rng, &tc, &conv_specs[i], TQ_OP_CONV, i % 2 == 0, false, NULL);
        snprintf(label, sizeof(label), "Conv %s", conv_specs[i].name);
        check_case(&tc, label, true);
        tc_free(&tc);
    }
}

static void test_fused_conv_f32(tq_rng *rng)
{
    static const char *const acts[] = {"Relu", "Clip", "LeakyRelu", "HardSwish", "Sigmoid", ""};
    for (size_t i = 0; i < N_CONV_SPECS; i++) {
        for (size_t a = 0; a < sizeof(acts) / sizeof(acts[0]); a++) {
            /* every activation on two shapes; bias + Relu + residual on all */
            if (a > 0 && (i + a) % 5 != 0) {
                continue;
            }
            const bool resid = a == 0 || i % 2 == 1;
            tcase tc;
            char label[160];
            build_conv_f32(rng, &tc, &conv_specs[i], TQ_OP_FUSED_CONV, true, resid, acts[a]);
            snprintf(label, sizeof(label), "FusedConv %s +B%s %s", conv_specs[i].name,
                     resid ? " +R" : "", acts[a]);
            check_case(&tc, label, true);
            tc_free(&tc);
        }
    }
}

/* FusedConv with a residual and no bias. */
static void test_fused_conv_no_bias(tq_rng *rng)
{
    tcase tc;
    build_conv_f32(rng, &tc, &conv_specs[3], TQ_OP_FUSED_CONV, false, true, "Relu");
    check_case(&tc, "FusedConv depthwise +R Relu, no bias", true);
    tc_free(&tc);
}

/* Winograd (onednn_conv.c, conv_pd_wino): float 3x3 stride-1 convolutions with at least 196
 * output pixels and 64 channels in and out run oneDNN's jit_*wino* kernels on AVX-512, between
 * nChw16c reorder stages and with the residual as a sum onto a reordered copy (in place too),
 * within the float tolerance of the reference in every layout; smaller outputs and fewer
 * channels keep the direct kernel. (A quantizing graph keeps it too: export_vs_ort runs one.) */
static void test_conv_winograd(tq_rng *rng)
{
    static const conv_spec specs[] = {
        /* n  c   h   w   m  kh kw g sh sw dh dw pt pl pb pr */
        {1, 64, 14, 14, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, "3x3 64 14x14 (Winograd)"},
        {2, 64, 15, 17, 80, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, "3x3 64->80 15x17 b2 (Winograd)"},
        {1, 64, 12, 12, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, "3x3 64 12x12 (direct)"},
        {1, 32, 16, 16, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, "3x3 32->64 16x16 (direct)"},
    };
    const char *env = getenv("TFMQ_CPU_WINOGRAD");
    const bool wino = tq_cpu_isa_level() >= TQ_CPU_ISA_AVX512 && !(env && !strcmp(env, "0"));
    for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
        for (int resid = 0; resid < 2; resid++) {
            tcase tc;
            char label[160];
            build_conv_f32(rng, &tc, &specs[i], TQ_OP_FUSED_CONV, true, resid, "Relu");
            snprintf(label, sizeof(label), "FusedConv %s +B%s Relu", specs[i].name,
                     resid ? " +R" : "");
            const bool small = i >= 2;
            g_impl_has = wino && !small ? "wino" : NULL;
            g_impl_lacks = small || !wino ? "wino" : NULL;
            check_case(&tc, label, true);
            g_impl_has = g_impl_lacks = NULL;
            tc_free(&tc);
        }
    }
}

/* Conv nodes the family must decline (role PLAIN, no kernel): non-constant weights, float64. */
static void test_conv_declined(tq_rng *rng)
{
    tcase tc;
    build_conv_f32(rng, &tc, &conv_specs[1], TQ_OP_CONV, true, false, NULL);
    tc.is_const[1] = false;
    check_case(&tc, "Conv with non-constant W", false);
    tc_free(&tc);
}

/* ---- integer convolutions ---- */
static float rand_scale(tq_rng *rng, float lo, float hi)
{
    return expf(tq_rng_uniform(rng, logf(lo), logf(hi)));
}

/* Fill QConv / QGemm parameters (slots 1, 2, 4..8) for n_oc channels and ckk taps per output,
 * scaled so that outputs spread over the 8-bit range without saturating much. */
static void build_qparams(tq_rng *rng, tcase *tc, int64_t n_oc, int64_t ckk, tfmq_dtype xdt,
                          tfmq_dtype ydt, int32_t xzp, int32_t yzp, bool wzp_nonzero)
{
    const int64_t md[1] = {n_oc};
    const float xs = 0.05f;
    const float m_target = 45.0f / (5500.0f * sqrtf((float)ckk));
    float *ws = tc_in(tc, TQ_QL_W_SCALE, TFMQ_DTYPE_FLOAT32, 1, md, true);
    for (int64_t c = 0; c < n_oc; c++) {
        ws[c] = rand_scale(rng, 0.005f, 0.02f);
    }
    *(float *)tc_in(tc, TQ_QL_X_SCALE, TFMQ_DTYPE_FLOAT32, 0, NULL, true) = xs;
    *(float *)tc_in(tc, TQ_QL_Y_SCALE, TFMQ_DTYPE_FLOAT32, 0, NULL, true) =
        xs * 0.01f / m_target;
    *(uint8_t *)tc_in(tc, TQ_QL_X_ZP, xdt, 0, NULL, true) = (uint8_t)xzp;
    *(uint8_t *)tc_in(tc, TQ_QL_Y_ZP, ydt, 0, NULL, true) = (uint8_t)yzp;
    int8_t *wz = tc_in(tc, TQ_QL_W_ZP, TFMQ_DTYPE_INT8, 1, md, true);
    wz[n_oc - 1] = (int8_t)(wzp_nonzero ? 2 : 0);
    int32_t *b = tc_in(tc, TQ_QL_BIAS, TFMQ_DTYPE_INT32, 1, md, true);
    for (int64_t c = 0; c < n_oc; c++) {
        b[c] = (int32_t)tq_rng_below(rng, 40001) - 20000;
    }
}

static void build_qconv(tq_rng *rng, tcase *tc, const conv_spec *s, tfmq_dtype xdt,
                        tfmq_dtype ydt, const char *act, bool wzp_nonzero)
{
    tc_init(tc, TQ_OP_QCONV);
    conv_attrs(tc, s);
    const int64_t xd[4] = {s->n, s->c, s->h, s->w}, wd[4] = {s->m, s->c / s->g, s->kh, s->kw};
    fill_bytes(rng, tc_in(tc, TQ_QL_X, xdt, 4, xd, false), (size_t)(s->n * s->c * s->h * s->w),
               0, 255);
    fill_bytes(rng, tc_in(tc, TQ_QL_W, TFMQ_DTYPE_INT8, 4, wd, true),
               (size_t)(s->m * (s->c / s->g) * s->kh * s->kw), 0x81, 0x17f); /* -127..127 */
    const int32_t xzp = xdt == TFMQ_DTYPE_UINT8 ? 128 + (int32_t)tq_rng_below(rng, 21) - 10
                                                : (int32_t)tq_rng_below(rng, 21) - 10;
    const int32_t yzp = ydt == TFMQ_DTYPE_UINT8 ? 100 + (int32_t)tq_rng_below(rng, 41)
                                                : (int32_t)tq_rng_below(rng, 41) - 20;
    build_qparams(rng, tc, s->m, (s->c / s->g) * s->kh * s->kw, xdt, ydt, xzp, yzp, wzp_nonzero);
    if (act) {
        tc_attr_str(tc, "activation", act);
        tc_attr_float(tc, "activation_min", -0.3f);
        tc_attr_float(tc, "activation_max", 2.5f);
    }
}

static bool has_vnni(void)
{
    return tq_cpu_isa_level() >= TQ_CPU_ISA_AVX512_VNNI;
}

static void test_qconv(tq_rng *rng)
{
    static const char *const acts[] = {"", "Relu", "Clip"};
    const tfmq_dtype U8 = TFMQ_DTYPE_UINT8, I8 = TFMQ_DTYPE_INT8;
    for (size_t i = 0; i < N_CONV_SPECS; i++) {
        for (int v = 0; v < 4; v++) {
            const tfmq_dtype xdt = v & 1 ? I8 : U8, ydt = v & 2 ? I8 : U8;
            const char *act = acts[(i + (size_t)v) % 3];
            tcase tc;
            char label[160];
            build_qconv(rng, &tc, &conv_specs[i], xdt, ydt, act, false);
            snprintf(label, sizeof(label), "QConv %s %s->%s %s", conv_specs[i].name,
                     tfmq_dtype_name(xdt), tfmq_dtype_name(ydt), act);
            check_case(&tc, label, has_vnni());
            tc_free(&tc);
        }
    }
    /* optional inputs absent: x_zp, w_zp and bias; then also y_zp (uint8 output, zero point 0:
     * the negative half saturates) */
    tcase tc;
    for (int pass = 0; pass < 2; pass++) {
        build_qconv(rng, &tc, &conv_specs[2], I8, U8, "", false);
        tc.present[TQ_QL_X_ZP] = tc.present[TQ_QL_W_ZP] = tc.present[TQ_QL_BIAS] = false;
        tc.present[TQ_QL_Y_ZP] = pass == 0;
        tc.saturates = pass == 1;
        check_case(&tc, pass ? "QConv without zero points and bias" : "QConv without x_zp, bias",
                   has_vnni());
        tc_free(&tc);
    }
    /* a non-zero weight zero point: declined (role PLAIN) */
    build_qconv(rng, &tc, &conv_specs[1], U8, U8, "", true);
    check_case(&tc, "QConv with w_zp != 0", false);
    tc_free(&tc);
    /* 1x1 convolutions over fewer than 32 input channels stay off the AMX tiles (slower there:
     * onednn_conv.c, conv_amx_unsuited); from 32 up they take them at level amx */
    const bool amx = tq_cpu_isa_level() >= TQ_CPU_ISA_AMX;
    build_qconv(rng, &tc, &conv_specs[0], I8, U8, "Relu", false);
    g_impl_lacks = "amx";
    check_case(&tc, "QConv 1x1 16 channels (not on AMX)", has_vnni());
    tc_free(&tc);
    build_qconv(rng, &tc, &conv_specs[10], I8, U8, "Relu", false);
    g_impl_lacks = NULL;
    g_impl_has = amx ? "amx" : NULL;
    check_case(&tc, "QConv 1x1 64 channels", has_vnni());
    g_impl_has = NULL;
    tc_free(&tc);
    /* the level reaches oneDNN: AMX tiles exactly where the level is amx (the cap stopped at
     * avx512_core_bf16 before, and a CPU with AMX never used them) */
    TQ_EXPECT(amx == (g_amx_runs > 0), "level %s, but %d QConv cases ran on AMX",
              tq_cpu_isa_name(tq_cpu_isa_level()), g_amx_runs);
    printf("  level %s: %d QConv cases on AMX tiles\n", tq_cpu_isa_name(tq_cpu_isa_level()),
           g_amx_runs);
}

/* ---- matrix products ---- */
static void build_gemm(tq_rng *rng, tcase *tc, uint32_t op, int64_t M, int64_t K, int64_t N,
                       bool ta, bool tb, int c_rank, bool c_const, float alpha, float beta)
{
    tc_init(tc, op);
    const int64_t ad[2] = {ta ? K : M, ta ? M : K}, bd[2] = {tb ? N : K, tb ? K : N};
    fill_f32(rng, tc_in(tc, 0, TFMQ_DTYPE_FLOAT32, 2, ad, false), (size_t)(M * K), -1.0f, 1.0f);
    fill_f32(rng, tc_in(tc, 1, TFMQ_DTYPE_FLOAT32, 2, bd, true), (size_t)(K * N), -1.0f, 1.0f);
    if (c_rank >= 0) {
        const int64_t cd2[2] = {M, N}, cd1[1] = {N};
        float *c = tc_in(tc, 2, TFMQ_DTYPE_FLOAT32, c_rank, c_rank == 2 ? cd2 : cd1, c_const);
        fill_f32(rng, c, (size_t)(c_rank == 2 ? M * N : c_rank == 1 ? N : 1), -1.0f, 1.0f);
    }
    tc_attr_int(tc, "transA", ta);
    tc_attr_int(tc, "transB", tb);
    tc_attr_float(tc, "alpha", alpha);
    tc_attr_float(tc, "beta", beta);
}

static void test_gemm(tq_rng *rng)
{
    tcase tc;
    build_gemm(rng, &tc, TQ_OP_GEMM, 5, 37, 19, false, true, 1, true, 1.0f, 1.0f);
    check_case(&tc, "Gemm transB + bias [N]", true);
    tc_free(&tc);
    build_gemm(rng, &tc, TQ_OP_GEMM, 1, 2048, 1000, false, true, 1, true, 1.0f, 1.0f);
    check_case(&tc, "Gemm 1x2048x1000 transB + bias", true);
    tc_free(&tc);
    build_gemm(rng, &tc, TQ_OP_GEMM, 7, 16, 9, true, false, 2, true, 0.5f, 2.0f);
    check_case(&tc, "Gemm transA, alpha 0.5, beta 2, C [M,N]", true);
    tc_free(&tc);
    build_gemm(rng, &tc, TQ_OP_GEMM, 4, 12, 10, false, false, 0, true, 1.0f, -1.5f);
    check_case(&tc, "Gemm scalar C beta -1.5", true);
    tc_free(&tc);
    build_gemm(rng, &tc, TQ_OP_GEMM, 6, 8, 11, false, true, 2, false, 1.0f, 1.0f);
    check_case(&tc, "Gemm non-constant C", true);
    tc_free(&tc);
    build_gemm(rng, &tc, TQ_OP_GEMM, 6, 8, 11, true, true, -1, true, 1.0f, 1.0f);
    tc.is_const[1] = false;
    check_case(&tc, "Gemm non-constant B transA transB, no C", true);
    tc_free(&tc);
    build_gemm(rng, &tc, TQ_OP_GEMM, 6, 8, 11, false, false, 2, false, 1.0f, 0.5f);
    check_case(&tc, "Gemm non-constant C with beta 0.5 (declined)", false);
    tc_free(&tc);
}

static void test_fused_gemm(tq_rng *rng)
{
    static const char *const acts[] = {"Relu", "Clip", "LeakyRelu", "HardSwish", "Sigmoid"};
    for (size_t a = 0; a < sizeof(acts) / sizeof(acts[0]); a++) {
        tcase tc;
        char label[96];
        build_gemm(rng, &tc, TQ_OP_FUSED_GEMM, 9, 33, 17, false, true, 1, true, 1.0f, 1.0f);
        const int64_t rd[2] = {9, 17};
        fill_f32(rng, tc_in(&tc, 3, TFMQ_DTYPE_FLOAT32, 2, rd, false), 9 * 17, -2.0f, 2.0f);
        tc.resid = 3;
        tc_attr_str(&tc, "activation", acts[a]);
        tc_attr_float(&tc, "activation_min", -0.5f);
        tc_attr_float(&tc, "activation_max", 1.5f);
        snprintf(label, sizeof(label), "FusedGemm +bias +R %s", acts[a]);
        check_case(&tc, label, true);
        tc_free(&tc);
    }
}

static void build_matmul(tq_rng *rng, tcase *tc, int ra, const int64_t *ad, int rb,
                         const int64_t *bd, bool b_const)
{
    tc_init(tc, TQ_OP_MATMUL);
    size_t na = 1, nb = 1;
    for (int i = 0; i < ra; i++) {
        na *= (size_t)ad[i];
    }
    for (int i = 0; i < rb; i++) {
        nb *= (size_t)bd[i];
    }
    fill_f32(rng, tc_in(tc, 0, TFMQ_DTYPE_FLOAT32, ra, ad, false), na, -1.0f, 1.0f);
    fill_f32(rng, tc_in(tc, 1, TFMQ_DTYPE_FLOAT32, rb, bd, b_const), nb, -1.0f, 1.0f);
}

/* One MatMul case: built, checked against the reference (oneDNN must take it), freed. */
static void matmul_case(tq_rng *rng, const char *label, int ra, const int64_t *ad, int rb,
                        const int64_t *bd, bool b_const)
{
    tcase tc;
    build_matmul(rng, &tc, ra, ad, rb, bd, b_const);
    check_case(&tc, label, true);
    tc_free(&tc);
}

static void test_matmul(tq_rng *rng)
{
    const int64_t a2[2] = {13, 29}, b2[2] = {29, 7};
    matmul_case(rng, "MatMul 2-D constant B", 2, a2, 2, b2, true);
    matmul_case(rng, "MatMul 2-D", 2, a2, 2, b2, false);
    const int64_t a3[3] = {4, 5, 8}, b3[3] = {4, 8, 6}, b2c[2] = {8, 6};
    matmul_case(rng, "MatMul batched", 3, a3, 3, b3, false);
    matmul_case(rng, "MatMul batched, 2-D constant B", 3, a3, 2, b2c, true);
    /* a constant B without batch dims is one 2-D product over A's rows (mm_plan_matmul) */
    const int64_t a_seq[3] = {16, 1, 24}, b_lin[3] = {1, 24, 40}, b_lin2[2] = {24, 40};
    matmul_case(rng, "MatMul [16,1,24] x constant [1,24,40]", 3, a_seq, 3, b_lin, true);
    const int64_t a_4d[4] = {2, 3, 5, 24};
    matmul_case(rng, "MatMul 4-D A x constant 2-D B", 4, a_4d, 2, b_lin2, true);
    matmul_case(rng, "MatMul batched constant B", 3, a3, 3, b3, true);
    const int64_t a4[4] = {2, 1, 3, 5}, b4[4] = {1, 3, 5, 4};
    matmul_case(rng, "MatMul 4-D broadcast", 4, a4, 4, b4, false);
    const int64_t a1[1] = {8};
    matmul_case(rng, "MatMul 1-D A", 1, a1, 3, b3, false);
}

/* BF16 compute (passes/strip_half.c marks a Gemm or MatMul whose constant B came from BF16
 * weights `compute=bf16`): on AVX512_BF16 or AMX, oneDNN must read A rounded to BF16 and B as
 * BF16 and accumulate in float32. B here holds BF16 values (as the stored model's weights) and A
 * does not, so the float32 reference on A rounded to BF16 matches the kernel within float32
 * accumulation error, and the reference on A itself must not (that would mean float32 compute).
 * Below AVX512_BF16 the kernel computes in float32: the reference on A itself matches. */
static void bf16_case(tcase *tc, const char *label)
{
    const bool bf16 = tq_cpu_isa_level() >= TQ_CPU_ISA_AVX512_BF16;
    tc_attr_str(tc, "compute", "bf16");
    float *a = tc->in[0].data, *b = tc->in[1].data;
    const size_t na = tq_tensor_numel(&tc->in[0]), nb = tq_tensor_numel(&tc->in[1]);
    for (size_t i = 0; i < nb; i++) {
        b[i] = tq_bf16_to_f32(tq_f32_to_bf16(b[i]));
    }
    tq_tensor y_exact, y_round;
    TQ_EXPECT_OK(run_ref(tc, &y_exact));
    float *a_saved = malloc(na * sizeof(float));
    memcpy(a_saved, a, na * sizeof(float));
    for (size_t i = 0; i < na; i++) {
        a[i] = tq_bf16_to_f32(tq_f32_to_bf16(a[i]));
    }
    TQ_EXPECT_OK(run_ref(tc, &y_round));
    memcpy(a, a_saved, na * sizeof(float));
    free(a_saved);
    const size_t n = tq_tensor_numel(&y_exact);
    float *out = malloc(n * sizeof(float) + 1);
    dnnl_run r;
    tfmq_status st = run_dnnl(tc, &y_exact, 0, 0, 1, false, out, &r);
    TQ_EXPECT(st == TFMQ_OK && r.taken, "%s: %s", label, st ? tfmq_last_error() : "declined");
    if (st == TFMQ_OK && r.taken) {
        const double e_round = rel_err_f32(out, y_round.data, n);
        const double e_exact = rel_err_f32(out, y_exact.data, n);
        printf("  %-40s %s: error %.2g against A in BF16, %.2g against A (%s)\n", label, r.impl,
               e_round, e_exact, bf16 ? "BF16 compute" : "float32 compute");
        TQ_EXPECT((bf16 ? e_round : e_exact) <= 1e-5, "%s (%s): relative error %.3g", label,
                  r.impl, bf16 ? e_round : e_exact);
        TQ_EXPECT(!bf16 || e_exact > 1e-4, "%s (%s): A was not rounded to BF16 (error %.3g)",
                  label, r.impl, e_exact);
        TQ_EXPECT(r.live_after_destroy == 0 && r.allocs_in_run == 0, "%s: leak or run allocation",
                  label);
    }
    free(out);
    free(y_exact.data);
    free(y_round.data);
}

static void test_matmul_bf16(tq_rng *rng)
{
    tcase tc;
    const int64_t a3[3] = {8, 16, 256}, b2[2] = {256, 1024};
    build_matmul(rng, &tc, 3, a3, 2, b2, true);
    bf16_case(&tc, "MatMul [8,16,256] x constant [256,1024]");
    tc_free(&tc);
    build_gemm(rng, &tc, TQ_OP_GEMM, 5, 64, 40, false, true, 1, true, 1.0f, 1.0f);
    bf16_case(&tc, "Gemm transB + bias");
    tc_free(&tc);
    build_gemm(rng, &tc, TQ_OP_GEMM, 7, 33, 9, true, false, 2, true, 0.5f, 1.0f);
    bf16_case(&tc, "Gemm transA, alpha 0.5, constant C");
    tc_free(&tc);
}

static void test_qgemm(tq_rng *rng)
{
    const tfmq_dtype U8 = TFMQ_DTYPE_UINT8, I8 = TFMQ_DTYPE_INT8;
    const int64_t Ks[] = {1, 7, 64, 300, 2048};
    for (size_t ki = 0; ki < sizeof(Ks) / sizeof(Ks[0]); ki++) {
        for (int v = 0; v < 4; v++) {
            const int64_t K = Ks[ki], N = 37;
            const tfmq_dtype xdt = v & 1 ? I8 : U8, ydt = v & 2 ? I8 : U8;
            const int64_t xd[3] = {2, 3, K}, wd[2] = {N, K};
            tcase tc;
            char label[96];
            tc_init(&tc, TQ_OP_QGEMM);
            fill_bytes(rng, tc_in(&tc, TQ_QL_X, xdt, ki % 2 ? 3 : 2, ki % 2 ? xd : xd + 1, false),
                       (size_t)((ki % 2 ? 6 : 3) * K), 0, 255);
            fill_bytes(rng, tc_in(&tc, TQ_QL_W, TFMQ_DTYPE_INT8, 2, wd, true), (size_t)(N * K),
                       0x81, 0x17f);
            build_qparams(rng, &tc, N, K, xdt, ydt, xdt == U8 ? 131 : -3, ydt == U8 ? 120 : 5,
                          false);
            if (v == 3) {
                tc_attr_str(&tc, "activation", "Relu");
            }
            snprintf(label, sizeof(label), "QGemm K=%lld %s->%s", (long long)K,
                     tfmq_dtype_name(xdt), tfmq_dtype_name(ydt));
            check_case(&tc, label, has_vnni());
            tc_free(&tc);
        }
    }
}

/* Exact ties and saturation: x = w = 0, so acc = bias; M = 0.5 puts odd biases on .5 (round
 * half to even), large ones saturate. Must match exactly. */
static void test_qgemm_ties(tq_rng *rng)
{
    (void)rng;
    static const int32_t biases[] = {1, 3, 5, -1, -3, -5, 7, 100000, -100000};
    const int64_t xd[2] = {1, 1}, wd[2] = {9, 1}, nd[1] = {9};
    for (int pass = 0; pass < 2; pass++) {
        const tfmq_dtype ydt = pass == 0 ? TFMQ_DTYPE_INT8 : TFMQ_DTYPE_UINT8;
        tcase tc;
        tc_init(&tc, TQ_OP_QGEMM);
        (void)tc_in(&tc, TQ_QL_X, TFMQ_DTYPE_INT8, 2, xd, false);
        (void)tc_in(&tc, TQ_QL_W, TFMQ_DTYPE_INT8, 2, wd, true);
        *(float *)tc_in(&tc, TQ_QL_X_SCALE, TFMQ_DTYPE_FLOAT32, 0, NULL, true) = 1.0f;
        *(float *)tc_in(&tc, TQ_QL_W_SCALE, TFMQ_DTYPE_FLOAT32, 0, NULL, true) = 0.5f;
        *(float *)tc_in(&tc, TQ_QL_Y_SCALE, TFMQ_DTYPE_FLOAT32, 0, NULL, true) = 1.0f;
        *(uint8_t *)tc_in(&tc, TQ_QL_Y_ZP, ydt, 0, NULL, true) = pass == 0 ? 0 : 128;
        memcpy(tc_in(&tc, TQ_QL_BIAS, TFMQ_DTYPE_INT32, 1, nd, true), biases, sizeof(biases));
        tq_tensor y;
        if (run_ref(&tc, &y) == TFMQ_OK) {
            uint8_t out[9];
            dnnl_run r;
            TQ_EXPECT_OK(run_dnnl(&tc, &y, 0, 0, 1, false, out, &r));
            TQ_EXPECT(r.taken == has_vnni(), "ties: taken %d", (int)r.taken);
            TQ_EXPECT(r.allocs_in_run == 0 && r.live_after_destroy == 0, "ties: allocations");
            for (size_t i = 0; r.taken && i < 9; i++) {
                TQ_EXPECT(ld8(ydt, out, i) == ld8(ydt, y.data, i), "bias %d: got %d, want %d",
                          biases[i], ld8(ydt, out, i), ld8(ydt, y.data, i));
            }
        }
        free(y.data);
        tc_free(&tc);
    }
}

/* Kernels of one node prepared for several sessions run concurrently on several threads (as
 * sessions do): each thread's results equal a single-threaded run. */
typedef struct conc_arg {
    tq_cpu_kernel *k;
    tq_op_ctx ctx;
    tq_tensor in[MAX_IN], out;
    tq_node node;
    const float *want;
    size_t n;
    int bad;
} conc_arg;

static void *conc_main(void *p)
{
    conc_arg *a = p;
    int32_t prev = tq_cpu_threads_enter(1);
    for (int it = 0; it < 20; it++) {
        memset(a->out.data, 0, a->n * sizeof(float));
        if (a->k->run(a->k, &a->ctx) != TFMQ_OK ||
            memcmp(a->out.data, a->want, a->n * sizeof(float)) != 0) {
            a->bad++;
        }
    }
    tq_cpu_threads_leave(prev);
    return NULL;
}

static void test_concurrent_runs(tq_rng *rng)
{
    enum { N_THREADS = 3 };
    tcase tc;
    build_conv_f32(rng, &tc, &conv_specs[8], TQ_OP_FUSED_CONV, true, true, "Relu");
    tq_tensor y;
    if (run_ref(&tc, &y) != TFMQ_OK) {
        TQ_CHECK(false);
        tc_free(&tc);
        return;
    }
    const size_t n = tq_tensor_numel(&y);
    float *want = malloc(n * sizeof(float));
    dnnl_run r;
    TQ_EXPECT_OK(run_dnnl(&tc, &y, 0, 0, 1, false, want, &r)); /* one thread, alone */
    conc_arg args[N_THREADS];
    pthread_t th[N_THREADS];
    for (int t = 0; t < N_THREADS; t++) {
        conc_arg *a = &args[t];
        memset(a, 0, sizeof(*a));
        tq_tensor pin[MAX_IN], pout = y;
        tq_node node;
        tq_op_ctx ctx;
        uint8_t in_l[MAX_IN] = {0}, out_l[1] = {0};
        pout.data = NULL;
        for (int32_t i = 0; i < tc.n_in; i++) {
            pin[i] = a->in[i] = tc.in[i];
            pin[i].data = tc.is_const[i] ? tc.in[i].data : NULL;
        }
        tc_ctx(&tc, &node, &ctx, pin, &pout);
        tq_cpu_prep prep = {.ctx = &ctx, .in_layout = in_l, .out_layout = out_l,
                            .n_threads = 1, .isa = tq_cpu_isa_level(), .alloc = NULL};
        TQ_EXPECT_OK(tq_cpu_prepare_dnnl(&prep, &a->k));
        a->out = y;
        a->out.data = malloc(n * sizeof(float));
        a->want = want;
        a->n = n;
        tc_ctx(&tc, &a->node, &a->ctx, a->in, &a->out);
    }
    for (int t = 0; t < N_THREADS; t++) {
        if (args[t].k) {
            TQ_CHECK(pthread_create(&th[t], NULL, conc_main, &args[t]) == 0);
        }
    }
    for (int t = 0; t < N_THREADS; t++) {
        if (args[t].k) {
            pthread_join(th[t], NULL);
            TQ_EXPECT(args[t].bad == 0, "thread %d: %d of 20 runs differ", t, args[t].bad);
            args[t].k->destroy(args[t].k);
        }
        free(args[t].out.data);
    }
    free(want);
    free(y.data);
    tc_free(&tc);
}

static void test_int8_summary(tq_rng *rng)
{
    (void)rng;
    printf("  int8: %zu of %zu output elements 1 unit off the reference (%.4f %%)\n", g_q_diffs,
           g_q_elems, g_q_elems ? 100.0 * (double)g_q_diffs / (double)g_q_elems : 0.0);
    TQ_CHECK(g_q_diffs * 1000 < g_q_elems || g_q_elems == 0);
}

/* ---- TFMQ_ONEDNN_VERBOSE_TEST=1: implementations and rough speed ---- */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Prepare in layout `lay` (input 0 and output 0) with n_threads and time runs for about
 * 0.3 s. */
static void bench_case(tcase *tc, const char *label, double flops, int32_t n_threads, uint8_t lay)
{
    tq_tensor y;
    if (run_ref(tc, &y) != TFMQ_OK) { /* for the output shape; slow but simple */
        printf("  %s: reference failed\n", label);
        free(y.data);
        return;
    }
    tq_tensor pin[MAX_IN], rin[MAX_IN], pout = y, rout = y;
    tq_node node;
    tq_op_ctx ctx;
    uint8_t in_l[MAX_IN] = {0}, out_l[1] = {y.rank == 4 ? lay : TQ_LAYOUT_NCHW};
    in_l[0] = tc->in[0].rank == 4 ? lay : TQ_LAYOUT_NCHW;
    pout.data = NULL;
    for (int32_t i = 0; i < tc->n_in; i++) {
        pin[i] = rin[i] = tc->in[i];
        pin[i].data = tc->is_const[i] ? tc->in[i].data : NULL;
    }
    tc_ctx(tc, &node, &ctx, pin, &pout);
    tq_cpu_prep prep = {.ctx = &ctx, .in_layout = in_l, .out_layout = out_l,
                        .n_threads = n_threads, .isa = tq_cpu_isa_level(), .alloc = NULL};
    tq_cpu_kernel *k = NULL;
    if (tq_cpu_prepare_dnnl(&prep, &k) != TFMQ_OK || !k) {
        printf("  %-34s not taken\n", label);
        free(y.data);
        return;
    }
    tc_ctx(tc, &node, &ctx, rin, &rout);
    int32_t prev = tq_cpu_threads_enter(n_threads);
    int reps = 0;
    (void)k->run(k, &ctx);
    double t0 = now_s(), t;
    do {
        (void)k->run(k, &ctx);
        reps++;
        t = now_s() - t0;
    } while (t < 0.3);
    tq_cpu_threads_leave(prev);
    printf("  %-30s %s %-38s %d thr %8.1f us %6.1f GFLOP/s\n", label,
           lay == TQ_LAYOUT_NHWC ? "nhwc" : "nchw", k->impl, n_threads, 1e6 * t / reps,
           flops * reps / t * 1e-9);
    k->destroy(k);
    free(y.data);
}

static void test_verbose_impls(tq_rng *rng)
{
    if (!g_verbose) {
        return;
    }
    static const conv_spec rn[] = {
        {1, 64, 56, 56, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, "1x64x56x56 -> 64 3x3"},
        {1, 256, 56, 56, 64, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, "1x256x56x56 -> 64 1x1"},
        {1, 3, 224, 224, 64, 7, 7, 1, 2, 2, 1, 1, 3, 3, 3, 3, "1x3x224x224 -> 64 7x7 s2"},
        {1, 144, 56, 56, 144, 3, 3, 144, 1, 1, 1, 1, 1, 1, 1, 1, "1x144x56x56 dw 3x3"},
    };
    printf("  isa %s, threads %d\n", tq_cpu_isa_name(tq_cpu_isa_level()),
           (int)tq_cpu_default_threads());
    for (int32_t thr = 1; thr <= tq_cpu_default_threads() && thr <= 2; thr++) {
        for (size_t i = 0; i < sizeof(rn) / sizeof(rn[0]); i++) {
            const conv_spec *s = &rn[i];
            int64_t oh, ow;
            conv_out_hw(s, &oh, &ow);
            const double flops =
                2.0 * (double)(s->n * s->m * oh * ow * (s->c / s->g) * s->kh * s->kw);
            for (int v = 0; v < 3; v++) {
                tcase tc;
                char label[96];
                if (v == 0) {
                    build_conv_f32(rng, &tc, s, TQ_OP_CONV, true, false, NULL);
                } else {
                    build_qconv(rng, &tc, s, v == 1 ? TFMQ_DTYPE_UINT8 : TFMQ_DTYPE_INT8,
                                TFMQ_DTYPE_UINT8, "Relu", false);
                }
                snprintf(label, sizeof(label), "%s %s", s->name,
                         v == 0 ? "f32" : v == 1 ? "u8" : "s8");
                bench_case(&tc, label, flops, thr, TQ_LAYOUT_NHWC);
                if (thr == 1) {
                    bench_case(&tc, label, flops, thr, TQ_LAYOUT_NCHW);
                }
                tc_free(&tc);
            }
        }
        {
            /* the ResNet bottleneck's last conv: 1x1 expand + bias + residual + Relu */
            static const conv_spec ex = {1, 64, 56, 56, 256, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0,
                                         "1x64x56x56 -> 256 1x1 +R Relu"};
            tcase tc;
            build_conv_f32(rng, &tc, &ex, TQ_OP_FUSED_CONV, true, true, "Relu");
            bench_case(&tc, "64->256 1x1 +B+R+Relu f32", 2.0 * 64 * 256 * 56 * 56, thr,
                       TQ_LAYOUT_NHWC);
            tc_free(&tc);
        }
        static const int64_t gm[2][3] = {{1, 2048, 1000}, {64, 512, 512}};
        for (int i = 0; i < 2; i++) {
            tcase tc;
            char label[64];
            build_gemm(rng, &tc, TQ_OP_GEMM, gm[i][0], gm[i][1], gm[i][2], false, true, 1, true,
                       1.0f, 1.0f);
            snprintf(label, sizeof(label), "Gemm %lldx%lldx%lld f32", (long long)gm[i][0],
                     (long long)gm[i][1], (long long)gm[i][2]);
            bench_case(&tc, label, 2.0 * (double)(gm[i][0] * gm[i][1] * gm[i][2]), thr,
                       TQ_LAYOUT_NCHW);
            tc_free(&tc);
        }
    }
}

int main(int argc, char **argv)
{
    tq_test_begin(argc, argv);
    const char *verbose = getenv("TFMQ_ONEDNN_VERBOSE_TEST");
    g_verbose = verbose && strcmp(verbose, "1") == 0;
    if (!getenv("TFMQ_TEST_SEED")) {
        tq_test_g.seed = 0x0d11ull; /* fixed data unless a seed is asked for */
    }
    TQ_RUN(test_conv_f32);
    TQ_RUN(test_fused_conv_f32);
    TQ_RUN(test_fused_conv_no_bias);
    TQ_RUN(test_conv_winograd);
    TQ_RUN(test_conv_declined);
    TQ_RUN(test_concurrent_runs);
    TQ_RUN(test_qconv);
    TQ_RUN(test_gemm);
    TQ_RUN(test_fused_gemm);
    TQ_RUN(test_matmul);
    TQ_RUN(test_matmul_bf16);
    TQ_RUN(test_qgemm);
    TQ_RUN(test_qgemm_ties);
    TQ_RUN(test_int8_summary);
    TQ_RUN(test_verbose_impls);
    return tq_test_end();
}
