/* chart.c: grouped bar charts as PNG. Everything is drawn into an RGB canvas owned here (white
 * background, integer coordinates, no antialiasing), then encoded by libpng into memory with a
 * fixed compression level and no time chunk, and written atomically, so the same input always
 * gives the same file. Text uses the classic 5x7 column-major bitmap font below (bit 0 = top
 * row), ASCII 0x20..0x7e, drawn at an integer scale. */
#include "chart.h"

#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHART_W 880
#define CHART_H 500

/* 5 columns per glyph, bit r of a column is row r (top = bit 0). */
static const uint8_t font5x7[95][5] = {
    {0x00, 0x00, 0x00, 0x00, 0x00}, /*   */
    {0x00, 0x00, 0x5f, 0x00, 0x00}, /* ! */
    {0x00, 0x07, 0x00, 0x07, 0x00}, /* " */
    {0x14, 0x7f, 0x14, 0x7f, 0x14}, /* # */
    {0x24, 0x2a, 0x7f, 0x2a, 0x12}, /* $ */
    {0x23, 0x13, 0x08, 0x64, 0x62}, /* % */
    {0x36, 0x49, 0x55, 0x22, 0x50}, /* & */
    {0x00, 0x05, 0x03, 0x00, 0x00}, /* ' */
    {0x00, 0x1c, 0x22, 0x41, 0x00}, /* ( */
    {0x00, 0x41, 0x22, 0x1c, 0x00}, /* ) */
    {0x08, 0x2a, 0x1c, 0x2a, 0x08}, /* * */
    {0x08, 0x08, 0x3e, 0x08, 0x08}, /* + */
    {0x00, 0x50, 0x30, 0x00, 0x00}, /* , */
    {0x08, 0x08, 0x08, 0x08, 0x08}, /* - */
    {0x00, 0x60, 0x60, 0x00, 0x00}, /* . */
    {0x20, 0x10, 0x08, 0x04, 0x02}, /* / */
    {0x3e, 0x51, 0x49, 0x45, 0x3e}, /* 0 */
    {0x00, 0x42, 0x7f, 0x40, 0x00}, /* 1 */
    {0x42, 0x61, 0x51, 0x49, 0x46}, /* 2 */
    {0x21, 0x41, 0x45, 0x4b, 0x31}, /* 3 */
    {0x18, 0x14, 0x12, 0x7f, 0x10}, /* 4 */
    {0x27, 0x45, 0x45, 0x45, 0x39}, /* 5 */
    {0x3c, 0x4a, 0x49, 0x49, 0x30}, /* 6 */
    {0x01, 0x71, 0x09, 0x05, 0x03}, /* 7 */
    {0x36, 0x49, 0x49, 0x49, 0x36}, /* 8 */
    {0x06, 0x49, 0x49, 0x29, 0x1e}, /* 9 */
    {0x00, 0x36, 0x36, 0x00, 0x00}, /* : */
    {0x00, 0x56, 0x36, 0x00, 0x00}, /* ; */
    {0x08, 0x14, 0x22, 0x41, 0x00}, /* < */
    {0x14, 0x14, 0x14, 0x14, 0x14}, /* = */
    {0x00, 0x41, 0x22, 0x14, 0x08}, /* > */
    {0x02, 0x01, 0x51, 0x09, 0x06}, /* ? */
    {0x32, 0x49, 0x79, 0x41, 0x3e}, /* @ */
    {0x7e, 0x11, 0x11, 0x11, 0x7e}, /* A */
    {0x7f, 0x49, 0x49, 0x49, 0x36}, /* B */
    {0x3e, 0x41, 0x41, 0x41, 0x22}, /* C */
    {0x7f, 0x41, 0x41, 0x22, 0x1c}, /* D */
    {0x7f, 0x49, 0x49, 0x49, 0x41}, /* E */
    {0x7f, 0x09, 0x09, 0x09, 0x01}, /* F */
    {0x3e, 0x41, 0x49, 0x49, 0x7a}, /* G */
    {0x7f, 0x08, 0x08, 0x08, 0x7f}, /* H */
    {0x00, 0x41, 0x7f, 0x41, 0x00}, /* I */
    {0x20, 0x40, 0x41, 0x3f, 0x01}, /* J */
    {0x7f, 0x08, 0x14, 0x22, 0x41}, /* K */
    {0x7f, 0x40, 0x40, 0x40, 0x40}, /* L */
    {0x7f, 0x02, 0x0c, 0x02, 0x7f}, /* M */
    {0x7f, 0x04, 0x08, 0x10, 0x7f}, /* N */
    {0x3e, 0x41, 0x41, 0x41, 0x3e}, /* O */
    {0x7f, 0x09, 0x09, 0x09, 0x06}, /* P */
    {0x3e, 0x41, 0x51, 0x21, 0x5e}, /* Q */
    {0x7f, 0x09, 0x19, 0x29, 0x46}, /* R */
    {0x46, 0x49, 0x49, 0x49, 0x31}, /* S */
    {0x01, 0x01, 0x7f, 0x01, 0x01}, /* T */
    {0x3f, 0x40, 0x40, 0x40, 0x3f}, /* U */
    {0x1f, 0x20, 0x40, 0x20, 0x1f}, /* V */
    {0x3f, 0x40, 0x38, 0x40, 0x3f}, /* W */
    {0x63, 0x14, 0x08, 0x14, 0x63}, /* X */
    {0x07, 0x08, 0x70, 0x08, 0x07}, /* Y */
    {0x61, 0x51, 0x49, 0x45, 0x43}, /* Z */
    {0x00, 0x7f, 0x41, 0x41, 0x00}, /* [ */
    {0x02, 0x04, 0x08, 0x10, 0x20}, /* \ */
    {0x00, 0x41, 0x41, 0x7f, 0x00}, /* ] */
    {0x04, 0x02, 0x01, 0x02, 0x04}, /* ^ */
    {0x40, 0x40, 0x40, 0x40, 0x40}, /* _ */
    {0x00, 0x01, 0x02, 0x04, 0x00}, /* ` */
    {0x20, 0x54, 0x54, 0x54, 0x78}, /* a */
    {0x7f, 0x48, 0x44, 0x44, 0x38}, /* b */
    {0x38, 0x44, 0x44, 0x44, 0x20}, /* c */
    {0x38, 0x44, 0x44, 0x48, 0x7f}, /* d */
    {0x38, 0x54, 0x54, 0x54, 0x18}, /* e */
    {0x08, 0x7e, 0x09, 0x01, 0x02}, /* f */
    {0x0c, 0x52, 0x52, 0x52, 0x3e}, /* g */
    {0x7f, 0x08, 0x04, 0x04, 0x78}, /* h */
    {0x00, 0x44, 0x7d, 0x40, 0x00}, /* i */
    {0x20, 0x40, 0x44, 0x3d, 0x00}, /* j */
    {0x7f, 0x10, 0x28, 0x44, 0x00}, /* k */
    {0x00, 0x41, 0x7f, 0x40, 0x00}, /* l */
    {0x7c, 0x04, 0x18, 0x04, 0x78}, /* m */
    {0x7c, 0x08, 0x04, 0x04, 0x78}, /* n */
    {0x38, 0x44, 0x44, 0x44, 0x38}, /* o */
    {0x7c, 0x14, 0x14, 0x14, 0x08}, /* p */
    {0x08, 0x14, 0x14, 0x18, 0x7c}, /* q */
    {0x7c, 0x08, 0x04, 0x04, 0x08}, /* r */
    {0x48, 0x54, 0x54, 0x54, 0x20}, /* s */
    {0x04, 0x3f, 0x44, 0x40, 0x20}, /* t */
    {0x3c, 0x40, 0x40, 0x20, 0x7c}, /* u */
    {0x1c, 0x20, 0x40, 0x20, 0x1c}, /* v */
    {0x3c, 0x40, 0x30, 0x40, 0x3c}, /* w */
    {0x44, 0x28, 0x10, 0x28, 0x44}, /* x */
    {0x0c, 0x50, 0x50, 0x50, 0x3c}, /* y */
    {0x44, 0x64, 0x54, 0x4c, 0x44}, /* z */
    {0x00, 0x08, 0x36, 0x41, 0x00}, /* { */
    {0x00, 0x00, 0x7f, 0x00, 0x00}, /* | */
    {0x00, 0x41, 0x36, 0x08, 0x00}, /* } */
    {0x08, 0x04, 0x08, 0x10, 0x08}, /* ~ */
};

/* Series colours (colour-blind-friendly, after the Okabe-Ito palette), then cycled. */
static const uint32_t palette[] = {0x0072b2, 0xe69f00, 0x009e73, 0xcc79a7,
                                   0x56b4e9, 0xd55e00, 0xf0e442, 0x000000};

typedef struct canvas {
    int w, h;
    uint8_t *px; /* w * h * 3 */
} canvas;

static void fill_rect(canvas *c, int x0, int y0, int x1, int y1, uint32_t rgb)
{
    x0 = x0 < 0 ? 0 : x0;
    y0 = y0 < 0 ? 0 : y0;
    x1 = x1 > c->w ? c->w : x1;
    y1 = y1 > c->h ? c->h : y1;
    for (int y = y0; y < y1; y++) {
        uint8_t *row = c->px + ((size_t)y * (size_t)c->w + (size_t)x0) * 3;
        for (int x = x0; x < x1; x++, row += 3) {
            row[0] = (uint8_t)(rgb >> 16);
            row[1] = (uint8_t)(rgb >> 8);
            row[2] = (uint8_t)rgb;
        }
    }
}

/* Width in pixels of `s` at `scale` (6 columns per glyph, the last one blank). */
static int text_width(const char *s, int scale)
{
    const int n = (int)strlen(s);
    return n ? (n * 6 - 1) * scale : 0;
}

/* Draw `s` with its top-left corner at (x, y). */
static void draw_text(canvas *c, int x, int y, const char *s, int scale, uint32_t rgb)
{
    for (; *s; s++, x += 6 * scale) {
        unsigned char ch = (unsigned char)*s;
        if (ch < 0x20 || ch > 0x7e) {
            ch = '?';
        }
        const uint8_t *g = font5x7[ch - 0x20];
        for (int col = 0; col < 5; col++) {
            for (int row = 0; row < 7; row++) {
                if (g[col] >> row & 1) {
                    fill_rect(c, x + col * scale, y + row * scale, x + (col + 1) * scale,
                              y + (row + 1) * scale, rgb);
                }
            }
        }
    }
}

/* A "nice" tick step (1, 2 or 5 times a power of ten) for about `n` ticks up to vmax. */
static double nice_step(double vmax, int n)
{
    const double raw = vmax / n;
    const double p = pow(10.0, floor(log10(raw)));
    const double f = raw / p;
    return (f <= 1.0 ? 1.0 : f <= 2.0 ? 2.0 : f <= 5.0 ? 5.0 : 10.0) * p;
}

/* Short label of a number: 950, 1.2k, 15k, 2.5M. */
static void short_number(double v, char *buf, size_t size)
{
    if (v >= 1e6) {
        snprintf(buf, size, v >= 1e7 ? "%.0fM" : "%.1fM", v / 1e6);
    } else if (v >= 1e4) {
        snprintf(buf, size, "%.0fk", v / 1e3);
    } else if (v >= 1e3) {
        snprintf(buf, size, "%.1fk", v / 1e3);
    } else if (v >= 10.0 || v == 0.0) {
        snprintf(buf, size, "%.0f", v);
    } else {
        snprintf(buf, size, "%.2g", v);
    }
}

typedef struct png_mem {
    uint8_t *data;
    size_t n, cap;
    bool oom;
} png_mem;

static void png_mem_write(png_structp png, png_bytep data, png_size_t n)
{
    png_mem *m = png_get_io_ptr(png);
    if (m->oom) {
        return;
    }
    if (m->n + n > m->cap) {
        size_t cap = m->cap ? m->cap : 65536;
        while (cap < m->n + n) {
            cap *= 2;
        }
        uint8_t *nd = realloc(m->data, cap);
        if (!nd) {
            m->oom = true;
            return;
        }
        m->data = nd;
        m->cap = cap;
    }
    memcpy(m->data + m->n, data, n);
    m->n += n;
}

static void png_mem_flush(png_structp png)
{
    (void)png;
}

/* Encode the canvas; all libpng state is in `png`/`info`, nothing else lives across setjmp. */
static tfmq_status encode_png(const canvas *c, png_mem *m, cli_err *e)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(&png, &info);
        return cli_fail(e, TFMQ_ERR_OUT_OF_MEMORY, "libpng: out of memory");
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return cli_fail(e, TFMQ_ERR_INTERNAL, "libpng failed while encoding the chart");
    }
    png_set_write_fn(png, m, png_mem_write, png_mem_flush);
    png_set_compression_level(png, 9);
    png_set_IHDR(png, info, (png_uint_32)c->w, (png_uint_32)c->h, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < c->h; y++) {
        png_write_row(png, c->px + (size_t)y * (size_t)c->w * 3);
    }
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    if (m->oom) {
        return cli_fail(e, TFMQ_ERR_OUT_OF_MEMORY, "out of memory while encoding the chart");
    }
    return TFMQ_OK;
}

tfmq_status chart_bar_png(const char *path, const char *title, const char *y_label,
                          const char *const *group_labels, size_t n_groups,
                          const char *const *series_names, size_t n_series, const double *values,
                          bool overwrite, cli_err *e)
{
    canvas c = {CHART_W, CHART_H, NULL};
    png_mem m = {NULL, 0, 0, false};
    tfmq_status st;
    char buf[64];
    if (n_groups == 0 || n_series == 0 || n_groups > 64 || n_series > 16) {
        return cli_fail(e, TFMQ_ERR_INVALID_ARG, "chart: need 1..64 groups and 1..16 series");
    }
    c.px = malloc((size_t)c.w * (size_t)c.h * 3);
    if (!c.px) {
        return cli_fail(e, TFMQ_ERR_OUT_OF_MEMORY, "chart: out of memory");
    }
    memset(c.px, 0xff, (size_t)c.w * (size_t)c.h * 3);

    double vmax = 0.0;
    for (size_t i = 0; i < n_groups * n_series; i++) {
        if (values[i] > vmax) { /* false for NaN */
            vmax = values[i];
        }
    }
    if (vmax <= 0.0) {
        vmax = 1.0;
    }
    const double step = nice_step(vmax * 1.08, 5);
    const double top = ceil(vmax * 1.08 / step) * step;

    /* plot area */
    const int left = 80, right = c.w - 24, ptop = 74, bottom = c.h - 56;
    const uint32_t ink = 0x222222, grid = 0xdddddd, muted = 0x555555;
    draw_text(&c, (c.w - text_width(title, 2)) / 2, 14, title, 2, ink);
    draw_text(&c, 12, ptop - 32, y_label, 2, muted);

    /* horizontal grid and y ticks */
    for (int k = 0;; k++) {
        const double v = step * k;
        if (v > top + step * 1e-9) {
            break;
        }
        const int y = bottom - (int)lround((bottom - ptop) * (v / top));
        fill_rect(&c, left, y, right, y + 1, k == 0 ? ink : grid);
        fill_rect(&c, left - 5, y, left, y + 1, ink);
        short_number(v, buf, sizeof(buf));
        draw_text(&c, left - 9 - text_width(buf, 2), y - 7, buf, 2, ink);
    }
    fill_rect(&c, left, ptop, left + 1, bottom + 1, ink); /* y axis */

    /* bars */
    const double gw = (double)(right - left) / (double)n_groups;
    const double bw = gw * 0.8 / (double)n_series;
    for (size_t g = 0; g < n_groups; g++) {
        const double gx = left + gw * (double)g + gw * 0.1;
        for (size_t s = 0; s < n_series; s++) {
            const double v = values[g * n_series + s];
            const int x0 = (int)lround(gx + bw * (double)s) + 1;
            const int x1 = (int)lround(gx + bw * (double)(s + 1)) - 1;
            if (!(v >= 0.0)) {
                draw_text(&c, (x0 + x1 - text_width("n/a", 1)) / 2, bottom - 12, "n/a", 1, muted);
                continue;
            }
            const int y = bottom - (int)lround((bottom - ptop) * (v / top));
            fill_rect(&c, x0, y, x1, bottom, palette[s % (sizeof(palette) / sizeof(palette[0]))]);
            short_number(v, buf, sizeof(buf));
            const int tw = text_width(buf, 1);
            if (tw <= x1 - x0 + 8) {
                draw_text(&c, (x0 + x1 - tw) / 2, y - 10, buf, 1, ink);
            }
        }
        const char *gl = group_labels[g];
        draw_text(&c, (int)lround(left + gw * ((double)g + 0.5)) - text_width(gl, 2) / 2,
                  bottom + 10, gl, 2, ink);
    }

    /* legend: top right, inside the plot */
    int lw = 0;
    for (size_t s = 0; s < n_series; s++) {
        const int w = text_width(series_names[s], 2);
        lw = w > lw ? w : lw;
    }
    const int lx = right - lw - 40, ly = ptop + 6;
    const int lh = (int)n_series * 22 + 8;
    fill_rect(&c, lx - 1, ly - 1, right - 7, ly + lh + 1, 0xbbbbbb);
    fill_rect(&c, lx, ly, right - 8, ly + lh, 0xffffff);
    for (size_t s = 0; s < n_series; s++) {
        const int y = ly + 8 + (int)s * 22;
        fill_rect(&c, lx + 8, y, lx + 22, y + 14,
                  palette[s % (sizeof(palette) / sizeof(palette[0]))]);
        draw_text(&c, lx + 28, y, series_names[s], 2, ink);
    }

    st = encode_png(&c, &m, e);
    free(c.px);
    if (st == TFMQ_OK) {
        const void *parts[1] = {m.data};
        const size_t bytes[1] = {m.n};
        st = cli_write_file_atomic(path, parts, bytes, 1, overwrite, e);
    }
    free(m.data);
    return st;
}
