/* simd_pool.c: MaxPool (float32, int8, uint8), AveragePool (float32) and GlobalAveragePool
 * (float32) of the SIMD family, rank 4 (2 spatial dims), input and output each NCHW or NHWC.
 * Pooling runs on channels-last data: a window's taps are whole channel vectors, reduced by the
 * ISA's window kernels in the reference's tap order (max: the first NaN tap wins as in the
 * reference; average: a double sum, then one division, so both are bit-exact). Planar (NCHW)
 * input is first transposed, a block of channels at a time, into per-thread scratch made at
 * prepare time. Channels-last work is split over (image, output row), planar over blocks. */
#include <string.h>

#include "backends/cpu/simd/simd.h"
#include "backends/ref/ref_compute_util.h"

/* Channels handled per call when the output is planar (they go through a stack buffer). */
#define POOL_CHUNK 256

/* Taps [lo, hi) of a window starting at `start` (k taps, dilation dil) inside [0, in); as the
 * reference's pool_taps. */
static void pool_taps(int64_t start, int64_t k, int64_t dil, int64_t in, int64_t *lo, int64_t *hi)
{
    int64_t l = start >= 0 ? 0 : (-start + dil - 1) / dil;
    int64_t h = in - 1 - start < 0 ? 0 : (in - 1 - start) / dil + 1;
    if (h > k) {
        h = k;
    }
    *lo = l < h ? l : h;
    *hi = h;
}

bool tq_cpu_simd_pool_plan(const tq_op_ctx *ctx, tq_cpu_simd_pool *pl)
{
    const tq_tensor *x = ctx->in[0], *y = ctx->out[0];
    const bool is_max = ctx->node->op == TQ_OP_MAX_POOL;
    tq_rc_spatial sp;
    if (x->rank != 4 || y->rank != 4 ||
        tq_rc_spatial_init(ctx, is_max ? TQ_RC_SP_MAX_POOL : TQ_RC_SP_AVG_POOL, &sp) != TFMQ_OK ||
        sp.n_sp != 2) {
        return false;
    }
    if (y->dims[0] != x->dims[0] || y->dims[1] != x->dims[1] || y->dims[2] != sp.out[0] ||
        y->dims[3] != sp.out[1]) {
        return false;
    }
    memset(pl, 0, sizeof(*pl));
    pl->op = is_max ? TQ_CPU_SIMD_MAXPOOL : TQ_CPU_SIMD_AVGPOOL;
    pl->dt = x->dtype;
    pl->count_include_pad = sp.count_include_pad;
    pl->n = x->dims[0];
    pl->c = x->dims[1];
    pl->ih = sp.in[0];
    pl->iw = sp.in[1];
    pl->oh = sp.out[0];
    pl->ow = sp.out[1];
    pl->kh = sp.k[0];
    pl->kw = sp.k[1];
    pl->sh = sp.stride[0];
    pl->sw = sp.stride[1];
    pl->dh = sp.dil[0];
    pl->dw = sp.dil[1];
    pl->pt = sp.pad_b[0];
    pl->pl = sp.pad_b[1];
    pl->pb = sp.pad_e[0];
    pl->pr = sp.pad_e[1];
    tq_cpu_simd_pool_set_layouts(pl, TQ_LAYOUT_NCHW, TQ_LAYOUT_NCHW);
    return true;
}

/* Element strides of n, c, h, w for a [N, C, H, W] tensor stored in `layout`. */
static void pool_strides(tq_layout layout, int64_t c, int64_t h, int64_t w, size_t *s)
{
    if (layout == TQ_LAYOUT_NHWC) {
        s[0] = (size_t)(h * w * c);
        s[1] = 1;
        s[2] = (size_t)(w * c);
        s[3] = (size_t)c;
    } else {
        s[0] = (size_t)(c * h * w);
        s[1] = (size_t)(h * w);
        s[2] = (size_t)w;
        s[3] = 1;
    }
}

void tq_cpu_simd_pool_set_layouts(tq_cpu_simd_pool *pl, tq_layout x_layout, tq_layout y_layout)
{
    pool_strides(x_layout, pl->c, pl->ih, pl->iw, pl->xs);
    pool_strides(y_layout, pl->c, pl->oh, pl->ow, pl->ys);
    pl->x_nhwc = x_layout == TQ_LAYOUT_NHWC;
}

static size_t pool_esize(tfmq_dtype dt)
{
    return dt == TFMQ_DTYPE_FLOAT32 ? 4 : 1;
}

/* ---- planar input: blocks of channels transposed to channels-last ---- */
/* Largest block a thread transposes, in bytes (a block is H*W*blk elements). */
#define POOL_BLOCK_BYTES ((size_t)4 << 20)

tfmq_status tq_cpu_simd_pool_prepare(tq_cpu_simd_kernel *k, const tfmq_allocator *alloc)
{
    tq_cpu_simd_pool *pl = &k->pool;
    if (pl->x_nhwc || pl->n * pl->oh * pl->ow * pl->c == 0) {
        return TFMQ_OK; /* no scratch */
    }
    const size_t es = pool_esize(pl->dt), hw = (size_t)(pl->ih * pl->iw), c = (size_t)pl->c;
    size_t blk = 64;
    /* enough blocks for the threads, blocks that stay within POOL_BLOCK_BYTES */
    while (blk > 16 && (size_t)pl->n * ((c + blk - 1) / blk) < (size_t)k->n_threads) {
        blk /= 2;
    }
    while (blk > 1 && hw * blk * es > POOL_BLOCK_BYTES) {
        blk /= 2;
    }
    pl->blk = blk < c ? blk : c;
    pl->n_items = (size_t)pl->n * ((c + pl->blk - 1) / pl->blk);
    pl->n_slots = pl->n_items < (size_t)k->n_threads ? pl->n_items : (size_t)k->n_threads;
    /* the block, then one output row of the block (channels-last) */
    pl->slot_bytes = ((hw + (size_t)pl->ow) * pl->blk * es + TQ_ALIGN - 1) / TQ_ALIGN * TQ_ALIGN;
    k->scratch_bytes = pl->n_slots * pl->slot_bytes;
    k->scratch = tq_alloc_aligned(alloc, k->scratch_bytes);
    if (!k->scratch) {
        k->scratch_bytes = 0;
        return TFMQ_ERR_OUT_OF_MEMORY;
    }
    return TFMQ_OK;
}

/* dst[i * cc + c] = src[c * ss + i] for c < cc, i < n: planar to channels-last (ss: the source's
 * channel stride), in tiles of 16 positions so that the writes stay in cache. The same with
 * (ss, 1) and (1, ds) strides swapped gives the way back (pool_untranspose). */
#define POOL_TILE 16
#define POOL_TRANSPOSE(NAME, T)                                                                    \
    static void NAME(const T *src, size_t ss, T *dst, size_t cc, size_t n)                         \
    {                                                                                              \
        for (size_t i0 = 0; i0 < n; i0 += POOL_TILE) {                                             \
            const size_t i1 = n - i0 < POOL_TILE ? n : i0 + POOL_TILE;                             \
            for (size_t c = 0; c < cc; c++) {                                                      \
                for (size_t i = i0; i < i1; i++) {                                                 \
                    dst[i * cc + c] = src[c * ss + i];                                             \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    static void NAME##_back(const T *src, T *dst, size_t ds, size_t cc, size_t n)                  \
    {                                                                                              \
        for (size_t i0 = 0; i0 < n; i0 += POOL_TILE) {                                             \
            const size_t i1 = n - i0 < POOL_TILE ? n : i0 + POOL_TILE;                             \
            for (size_t c = 0; c < cc; c++) {                                                      \
                for (size_t i = i0; i < i1; i++) {                                                 \
                    dst[c * ds + i] = src[i * cc + c];                                             \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }
POOL_TRANSPOSE(pool_transpose_4, uint32_t)
POOL_TRANSPOSE(pool_transpose_1, uint8_t)
#undef POOL_TRANSPOSE

/* Planar block (channel stride ss) -> channels-last, elements of es bytes. */
static void pool_transpose(const uint8_t *src, size_t ss, uint8_t *dst, size_t cc, size_t n,
                           size_t es)
{
    if (es == 4) {
        pool_transpose_4((const uint32_t *)src, ss, (uint32_t *)dst, cc, n);
    } else {
        pool_transpose_1(src, ss, dst, cc, n);
    }
}

/* Channels-last -> planar (channel stride ds). */
static void pool_untranspose(const uint8_t *src, uint8_t *dst, size_t ds, size_t cc, size_t n,
                             size_t es)
{
    if (es == 4) {
        pool_transpose_4_back((const uint32_t *)src, (uint32_t *)dst, ds, cc, n);
    } else {
        pool_transpose_1_back(src, dst, ds, cc, n);
    }
}

/* ---- one output pixel ---- */
/* The window of one output pixel: the taps inside the input and the divisor for averages. */
typedef struct pool_px {
    int64_t ih0, iw0; /* input coordinates of the first tap */
    size_t nh, nw;    /* taps inside the input */
    double div;       /* AveragePool divisor */
} pool_px;

static void pool_window(const tq_cpu_simd_pool *pl, int64_t oh, int64_t ow, pool_px *px)
{
    const int64_t s0 = oh * pl->sh - pl->pt, s1 = ow * pl->sw - pl->pl;
    int64_t hlo, hhi, wlo, whi;
    pool_taps(s0, pl->kh, pl->dh, pl->ih, &hlo, &hhi);
    pool_taps(s1, pl->kw, pl->dw, pl->iw, &wlo, &whi);
    px->nh = (size_t)(hhi - hlo);
    px->nw = (size_t)(whi - wlo);
    px->ih0 = s0 + hlo * pl->dh;
    px->iw0 = s1 + wlo * pl->dw;
    if (pl->count_include_pad) {
        /* taps inside [-pad_b, in + pad_e) along each dim */
        int64_t plo, phi, qlo, qhi;
        pool_taps(s0 + pl->pt, pl->kh, pl->dh, pl->ih + pl->pt + pl->pb, &plo, &phi);
        pool_taps(s1 + pl->pl, pl->kw, pl->dw, pl->iw + pl->pl + pl->pr, &qlo, &qhi);
        px->div = (double)((phi - plo) * (qhi - qlo));
    } else {
        px->div = (double)(px->nh * px->nw);
    }
}

/* The ISA's window kernel over w->c contiguous channels. */
static void pool_px_vec(const tq_cpu_simd_kernel *k, const tq_cpu_simd_win *w, const uint8_t *x,
                        uint8_t *y, double div)
{
    const tq_cpu_simd_pool *pl = &k->pool;
    if (pl->op == TQ_CPU_SIMD_AVGPOOL) {
        k->isa->avg_f32(w, (const float *)x, div, (float *)y);
    } else if (pl->dt == TFMQ_DTYPE_FLOAT32) {
        k->isa->max_f32(w, (const float *)x, (float *)y);
    } else if (pl->dt == TFMQ_DTYPE_INT8) {
        k->isa->max_s8(w, (const int8_t *)x, (int8_t *)y);
    } else {
        k->isa->max_u8(w, (const uint8_t *)x, y);
    }
}

/* One output pixel over nc channels. x: channels-last data (xc channels per pixel, rows of
 * iw pixels) at the first tap's channel 0; y: the pixel's channel 0, channel stride yc. An
 * empty window gives 0, as in the reference. */
static void pool_px_cl(const tq_cpu_simd_kernel *k, const pool_px *px, const uint8_t *x,
                       size_t xc, size_t nc, uint8_t *y, size_t yc)
{
    const tq_cpu_simd_pool *pl = &k->pool;
    const size_t es = pool_esize(pl->dt);
    if (px->nh == 0 || px->nw == 0) {
        for (size_t c = 0; c < nc; c++) {
            memset(y + c * yc * es, 0, es);
        }
        return;
    }
    /* steps in elements: the ISA kernels index typed pointers */
    tq_cpu_simd_win w = {px->nh, px->nw, (size_t)(pl->dh * pl->iw) * xc, (size_t)pl->dw * xc, nc};
    if (yc == 1) {
        pool_px_vec(k, &w, x, y, px->div);
        return;
    }
    /* planar output: through a stack buffer, POOL_CHUNK channels at a time */
    float buf[POOL_CHUNK];
    for (size_t c0 = 0; c0 < nc; c0 += POOL_CHUNK) {
        w.c = nc - c0 < POOL_CHUNK ? nc - c0 : POOL_CHUNK;
        pool_px_vec(k, &w, x + c0 * es, (uint8_t *)buf, px->div);
        pool_untranspose((const uint8_t *)buf, y + c0 * yc * es, yc, w.c, 1, es);
    }
}

typedef struct pool_job {
    const tq_cpu_simd_kernel *k;
    const uint8_t *x;
    uint8_t *y;
} pool_job;

/* Channels-last input: output rows r = n * OH + oh in [r0, r1). */
static void pool_rows(void *arg, size_t r0, size_t r1)
{
    const pool_job *j = arg;
    const tq_cpu_simd_pool *pl = &j->k->pool;
    const size_t es = pool_esize(pl->dt), c = (size_t)pl->c;
    for (size_t r = r0; r < r1; r++) {
        const int64_t n = (int64_t)r / pl->oh, oh = (int64_t)r % pl->oh;
        const uint8_t *xn = j->x + (size_t)n * pl->xs[0] * es;
        uint8_t *yr = j->y + ((size_t)n * pl->ys[0] + (size_t)oh * pl->ys[2]) * es;
        for (int64_t ow = 0; ow < pl->ow; ow++) {
            pool_px px;
            pool_window(pl, oh, ow, &px);
            const uint8_t *x = xn + (size_t)(px.ih0 * pl->iw + px.iw0) * c * es;
            pool_px_cl(j->k, &px, x, c, c, yr + (size_t)ow * pl->ys[3] * es, pl->ys[1]);
        }
    }
}

/* Planar input: thread slots [s0, s1); slot s transposes its blocks (n, channels c0..c0+blk)
 * into its own scratch, pools them as channels-last and writes whole output rows. */
static void pool_slots(void *arg, size_t s0, size_t s1)
{
    const pool_job *j = arg;
    const tq_cpu_simd_kernel *k = j->k;
    const tq_cpu_simd_pool *pl = &k->pool;
    const size_t es = pool_esize(pl->dt), c = (size_t)pl->c, hw = (size_t)(pl->ih * pl->iw);
    const size_t n_blk = (c + pl->blk - 1) / pl->blk, ow_n = (size_t)pl->ow;
    const bool y_planar = pl->ys[1] != 1;
    for (size_t s = s0; s < s1; s++) {
        uint8_t *buf = (uint8_t *)k->scratch + s * pl->slot_bytes;
        uint8_t *row = buf + hw * pl->blk * es;
        const size_t i0 = pl->n_items * s / pl->n_slots, i1 = pl->n_items * (s + 1) / pl->n_slots;
        for (size_t i = i0; i < i1; i++) {
            const size_t n = i / n_blk, c0 = (i % n_blk) * pl->blk;
            const size_t cc = c - c0 < pl->blk ? c - c0 : pl->blk;
            pool_transpose(j->x + (n * pl->xs[0] + c0 * pl->xs[1]) * es, pl->xs[1], buf, cc, hw,
                           es);
            uint8_t *yb = j->y + (n * pl->ys[0] + c0 * pl->ys[1]) * es;
            for (int64_t oh = 0; oh < pl->oh; oh++) {
                uint8_t *yr = yb + (size_t)oh * pl->ys[2] * es;
                for (size_t ow = 0; ow < ow_n; ow++) {
                    pool_px px;
                    pool_window(pl, oh, (int64_t)ow, &px);
                    const uint8_t *x = buf + (size_t)(px.ih0 * pl->iw + px.iw0) * cc * es;
                    if (y_planar) {
                        pool_px_cl(k, &px, x, cc, cc, row + ow * cc * es, 1);
                    } else {
                        pool_px_cl(k, &px, x, cc, cc, yr + ow * pl->ys[3] * es, 1);
                    }
                }
                if (y_planar) {
                    pool_untranspose(row, yr, pl->ys[1], cc, ow_n, es);
                }
            }
        }
    }
}

tfmq_status tq_cpu_simd_pool_run(tq_cpu_kernel *base, tq_op_ctx *ctx)
{
    const tq_cpu_simd_kernel *k = (const tq_cpu_simd_kernel *)base;
    const tq_cpu_simd_pool *pl = &k->pool;
    pool_job j = {k, ctx->in[0]->data, ctx->out[0]->data};
    const size_t rows = (size_t)(pl->n * pl->oh), row_len = (size_t)(pl->ow * pl->c);
    if (rows == 0 || row_len == 0) {
        return TFMQ_OK;
    }
    if (!pl->x_nhwc) {
        /* one item per slot: the slot index is the scratch a thread uses */
        tq_cpu_parallel_for(pl->n_slots, 1, (int32_t)pl->n_slots, pool_slots, &j);
        return TFMQ_OK;
    }
    const size_t grain = row_len >= TQ_CPU_SIMD_GRAIN ? 1 : TQ_CPU_SIMD_GRAIN / row_len;
    tq_cpu_parallel_for(rows, grain, k->n_threads, pool_rows, &j);
    return TFMQ_OK;
}

/* ---- GlobalAveragePool: y [N, C, 1, 1] has one memory order ---- */
#define GAP_BLOCK 64 /* channels per work item, channels-last */

typedef struct gap_job {
    const tq_cpu_simd_kernel *k;
    const float *x;
    float *y;
    size_t c, hw, n_blk;
} gap_job;

/* planar: one (n, c) plane per item, summed in double lanes */
static void gap_planes(void *arg, size_t p0, size_t p1)
{
    const gap_job *j = arg;
    for (size_t p = p0; p < p1; p++) {
        j->y[p] = (float)(j->k->isa->sum_f64(j->x + p * j->hw, j->hw) / (double)j->hw);
    }
}

/* channels-last: items (n, block of GAP_BLOCK channels); the sum runs over positions in the
 * reference's order (bit-exact) */
static void gap_blocks(void *arg, size_t i0, size_t i1)
{
    const gap_job *j = arg;
    for (size_t i = i0; i < i1; i++) {
        const size_t n = i / j->n_blk, c0 = (i % j->n_blk) * GAP_BLOCK;
        const size_t cc = j->c - c0 < GAP_BLOCK ? j->c - c0 : GAP_BLOCK;
        const tq_cpu_simd_win w = {1, j->hw, 0, j->c, cc};
        j->k->isa->avg_f32(&w, j->x + n * j->hw * j->c + c0, (double)j->hw, j->y + n * j->c + c0);
    }
}

tfmq_status tq_cpu_simd_gap_run(tq_cpu_kernel *base, tq_op_ctx *ctx)
{
    const tq_cpu_simd_kernel *k = (const tq_cpu_simd_kernel *)base;
    const tq_tensor *x = ctx->in[0];
    gap_job j = {
        k, x->data, ctx->out[0]->data, (size_t)x->dims[1], (size_t)(x->dims[2] * x->dims[3]), 0};
    const size_t nc = (size_t)x->dims[0] * j.c;
    if (nc == 0) {
        return TFMQ_OK;
    }
    if (j.hw == 0) {
        memset(j.y, 0, nc * sizeof(float));
        return TFMQ_OK;
    }
    if (k->pool.x_nhwc) {
        j.n_blk = (j.c + GAP_BLOCK - 1) / GAP_BLOCK;
        const size_t per = j.hw * GAP_BLOCK;
        tq_cpu_parallel_for((size_t)x->dims[0] * j.n_blk,
                            per >= TQ_CPU_SIMD_GRAIN ? 1 : TQ_CPU_SIMD_GRAIN / per, k->n_threads,
                            gap_blocks, &j);
    } else {
        tq_cpu_parallel_for(nc, j.hw >= TQ_CPU_SIMD_GRAIN ? 1 : TQ_CPU_SIMD_GRAIN / j.hw,
                            k->n_threads, gap_planes, &j);
    }
    return TFMQ_OK;
}
