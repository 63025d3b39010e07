/* image.c: decode JPEG (libjpeg), PNG (libpng) and BMP (own parser) from memory into 8-bit RGB,
 * resize with PIL's antialiased bilinear filter and normalise into a model's input tensor.
 * Decoders treat the file as hostile: sizes are checked before allocation, libjpeg/libpng
 * errors longjmp back into a frame that owns no live locals, and the BMP parser bounds-checks
 * every read against the buffer. */
#include "image.h"

#include <jerror.h>
#include <jpeglib.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void image_free(cli_image *img)
{
    if (img) {
        free(img->rgb);
        memset(img, 0, sizeof(*img));
    }
}

/* Checks the side and pixel limits and allocates width*height*3 bytes. */
static tfmq_status alloc_rgb(const char *fmt, uint64_t w, uint64_t h, uint8_t **out, cli_err *e)
{
    *out = NULL;
    if (w == 0 || h == 0) {
        return cli_fail(e, TFMQ_ERR_PARSE, "%s: image has no pixels (%llux%llu)", fmt,
                        (unsigned long long)w, (unsigned long long)h);
    }
    if (w > IMAGE_MAX_SIDE || h > IMAGE_MAX_SIDE || w * h > IMAGE_MAX_PIXELS) {
        return cli_fail(e, TFMQ_ERR_UNSUPPORTED,
                        "%s: image of %llux%llu pixels exceeds the limit "
                        "(%d per side, %llu in all)",
                        fmt, (unsigned long long)w, (unsigned long long)h, IMAGE_MAX_SIDE,
                        (unsigned long long)IMAGE_MAX_PIXELS);
    }
    *out = malloc((size_t)(w * h * 3));
    if (!*out) {
        return cli_fail(e, TFMQ_ERR_OUT_OF_MEMORY, "%s: cannot allocate %llux%llu pixels", fmt,
                        (unsigned long long)w, (unsigned long long)h);
    }
    return TFMQ_OK;
}

/* ---------------------------------------------------------------------------------------------
 * JPEG. All state lives in jpeg_ctx (heap) so nothing is clobbered by the longjmp.
 * ------------------------------------------------------------------------------------------- */

#define JPEG_MAX_SCANS 1000 /* progressive files with more scans are a decoding-time bomb */

typedef struct jpeg_ctx {
    struct jpeg_decompress_struct cinfo;
    struct jpeg_error_mgr err;
    struct jpeg_progress_mgr progress;
    jmp_buf jump;
    bool created;
    char msg[JMSG_LENGTH_MAX + 64];
    char warning[200];
    uint8_t *pixels;
    uint8_t *row;
    const uint8_t *buf;
    size_t n_bytes;
    cli_image *out;
    cli_err *e;
    tfmq_status st; /* status of an error raised by our own checks */
} jpeg_ctx;

static void jpeg_on_error(j_common_ptr cinfo)
{
    jpeg_ctx *c = cinfo->client_data;
    char buf[JMSG_LENGTH_MAX];
    cinfo->err->format_message(cinfo, buf);
    snprintf(c->msg, sizeof(c->msg), "%s", buf);
    longjmp(c->jump, 1);
}

static void jpeg_on_message(j_common_ptr cinfo, int level)
{
    jpeg_ctx *c = cinfo->client_data;
    if (level >= 0) {
        return; /* trace messages */
    }
    /* A truncated file decodes as grey: refuse it like PIL does, rather than classify garbage. */
    if (cinfo->err->msg_code == JWRN_JPEG_EOF) {
        jpeg_on_error(cinfo);
    }
    cinfo->err->num_warnings++;
    if (c->warning[0] == '\0') {
        char buf[JMSG_LENGTH_MAX];
        cinfo->err->format_message(cinfo, buf);
        snprintf(c->warning, sizeof(c->warning), "JPEG: %.180s", buf);
    }
}

static void jpeg_on_progress(j_common_ptr cinfo)
{
    jpeg_ctx *c = cinfo->client_data;
    if (cinfo->is_decompressor && ((j_decompress_ptr)cinfo)->input_scan_number > JPEG_MAX_SCANS) {
        snprintf(c->msg, sizeof(c->msg), "more than %d scans", JPEG_MAX_SCANS);
        longjmp(c->jump, 1);
    }
}

/* Runs under the setjmp of jpeg_decode_guarded(); may longjmp out at any libjpeg call. */
static void jpeg_decode_body(jpeg_ctx *c)
{
    struct jpeg_decompress_struct *ci = &c->cinfo;
    c->created = true;
    jpeg_create_decompress(ci);
    ci->client_data = c;
    c->progress.progress_monitor = jpeg_on_progress;
    ci->progress = &c->progress;
    jpeg_mem_src(ci, c->buf, (unsigned long)c->n_bytes);
    jpeg_read_header(ci, TRUE);
    switch (ci->jpeg_color_space) {
    case JCS_GRAYSCALE:
        ci->out_color_space = JCS_GRAYSCALE;
        break;
    case JCS_CMYK:
    case JCS_YCCK:
        ci->out_color_space = JCS_CMYK;
        break;
    default:
        ci->out_color_space = JCS_RGB;
        break;
    }
    c->st = alloc_rgb("JPEG", ci->image_width, ci->image_height, &c->pixels, c->e);
    if (c->st != TFMQ_OK) {
        return;
    }
    jpeg_start_decompress(ci);
    const uint32_t w = ci->output_width, h = ci->output_height;
    const int nc = ci->output_components;
    if (w != ci->image_width || h != ci->image_height || (nc != 1 && nc != 3 && nc != 4)) {
        c->st = cli_fail(c->e, TFMQ_ERR_UNSUPPORTED, "JPEG: unexpected output layout");
        return;
    }
    c->row = malloc((size_t)w * (size_t)nc);
    if (!c->row) {
        c->st = cli_fail(c->e, TFMQ_ERR_OUT_OF_MEMORY, "JPEG: out of memory");
        return;
    }
    /* Adobe CMYK JPEGs store inverted ink values, the common case; see libjpeg's jdcolor.c. */
    const bool inverted = ci->saw_Adobe_marker;
    while (ci->output_scanline < h) {
        const uint32_t y = ci->output_scanline;
        JSAMPROW rp = c->row;
        if (jpeg_read_scanlines(ci, &rp, 1) != 1) {
            c->st = cli_fail(c->e, TFMQ_ERR_PARSE, "JPEG: decoder made no progress");
            return;
        }
        uint8_t *dst = c->pixels + (size_t)y * w * 3;
        for (size_t x = 0; x < w; x++) {
            const uint8_t *s = c->row + x * (size_t)nc;
            if (nc == 3) {
                dst[3 * x] = s[0];
                dst[3 * x + 1] = s[1];
                dst[3 * x + 2] = s[2];
            } else if (nc == 1) {
                dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = s[0];
            } else {
                unsigned k = inverted ? s[3] : 255u - s[3];
                for (int ch = 0; ch < 3; ch++) {
                    unsigned v = inverted ? s[ch] : 255u - s[ch];
                    dst[3 * x + ch] = (uint8_t)((v * k + 127u) / 255u);
                }
            }
        }
    }
    jpeg_finish_decompress(ci);
    c->out->width = (int32_t)w;
    c->out->height = (int32_t)h;
}

static tfmq_status jpeg_decode_guarded(jpeg_ctx *c)
{
    c->cinfo.err = jpeg_std_error(&c->err);
    c->err.error_exit = jpeg_on_error;
    c->err.emit_message = jpeg_on_message;
    if (setjmp(c->jump)) {
        return cli_fail(c->e, TFMQ_ERR_PARSE, "JPEG: %s", c->msg);
    }
    jpeg_decode_body(c);
    return c->st;
}

static tfmq_status jpeg_decode(const uint8_t *buf, size_t n, cli_image *out, cli_err *e)
{
    jpeg_ctx *c = calloc(1, sizeof(*c));
    if (!c) {
        return cli_fail(e, TFMQ_ERR_OUT_OF_MEMORY, "JPEG: out of memory");
    }
    c->buf = buf;
    c->n_bytes = n;
    c->out = out;
    c->e = e;
    c->st = TFMQ_OK;
    tfmq_status st = jpeg_decode_guarded(c);
    if (c->created) {
        jpeg_destroy_decompress(&c->cinfo);
    }
    free(c->row);
    if (st == TFMQ_OK) {
        out->rgb = c->pixels;
    } else {
        free(c->pixels);
    }
    free(c);
    return st;
}

/* ---------------------------------------------------------------------------------------------
 * PNG. Same pattern: png_ctx on the heap, the setjmp frame owns no live locals.
 * ------------------------------------------------------------------------------------------- */

typedef struct png_ctx {
    png_structp png;
    png_infop info;
    const uint8_t *buf;
    size_t n_bytes;
    size_t pos;
    char msg[200];
    uint8_t *pixels;
    png_bytep *rows;
    cli_image *out;
    cli_err *e;
    tfmq_status st;
} png_ctx;

static void png_on_error(png_structp png, png_const_charp msg)
{
    png_ctx *c = png_get_error_ptr(png);
    snprintf(c->msg, sizeof(c->msg), "%s", msg);
    png_longjmp(png, 1);
}

/* libpng warns about ancillary chunks (colour profiles, text) that do not change the pixels;
 * real photos trip these often, so they are not reported. */
static void png_on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static void png_on_read(png_structp png, png_bytep data, size_t len)
{
    png_ctx *c = png_get_io_ptr(png);
    if (len > c->n_bytes - c->pos) {
        png_error(png, "file is truncated");
    }
    memcpy(data, c->buf + c->pos, len);
    c->pos += len;
}

static void png_decode_body(png_ctx *c)
{
    png_uint_32 w, h;
    int depth, color, interlace;
    png_set_read_fn(c->png, c, png_on_read);
    png_set_user_limits(c->png, IMAGE_MAX_SIDE, IMAGE_MAX_SIDE);
    png_read_info(c->png, c->info);
    png_get_IHDR(c->png, c->info, &w, &h, &depth, &color, &interlace, NULL, NULL);
    c->st = alloc_rgb("PNG", w, h, &c->pixels, c->e);
    if (c->st != TFMQ_OK) {
        return;
    }
    /* Everything to 8-bit RGB: expand palette and low-depth gray, scale 16-bit samples with
     * rounding, drop alpha (also the one tRNS would add), replicate gray. */
    if (color == PNG_COLOR_TYPE_PALETTE) {
        png_set_palette_to_rgb(c->png);
    }
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) {
        png_set_expand_gray_1_2_4_to_8(c->png);
    }
    if (depth == 16) {
        png_set_scale_16(c->png);
    }
    if ((color & PNG_COLOR_MASK_ALPHA) || png_get_valid(c->png, c->info, PNG_INFO_tRNS)) {
        png_set_strip_alpha(c->png);
    }
    if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) {
        png_set_gray_to_rgb(c->png);
    }
    (void)png_set_interlace_handling(c->png);
    png_read_update_info(c->png, c->info);
    if (png_get_channels(c->png, c->info) != 3 || png_get_bit_depth(c->png, c->info) != 8 ||
        png_get_rowbytes(c->png, c->info) != (size_t)w * 3) {
        c->st = cli_fail(c->e, TFMQ_ERR_UNSUPPORTED,
                         "PNG: unsupported pixel layout (color type %d, depth %d)", color, depth);
        return;
    }
    c->rows = malloc(sizeof(*c->rows) * (size_t)h);
    if (!c->rows) {
        c->st = cli_fail(c->e, TFMQ_ERR_OUT_OF_MEMORY, "PNG: out of memory");
        return;
    }
    for (png_uint_32 y = 0; y < h; y++) {
        c->rows[y] = c->pixels + (size_t)y * w * 3;
    }
    png_read_image(c->png, c->rows);
    c->out->width = (int32_t)w;
    c->out->height = (int32_t)h;
}

static tfmq_status png_decode_guarded(png_ctx *c)
{
    if (setjmp(png_jmpbuf(c->png))) {
        return cli_fail(c->e, TFMQ_ERR_PARSE, "PNG: %s", c->msg[0] ? c->msg : "decoding failed");
    }
    png_decode_body(c);
    return c->st;
}

static tfmq_status png_decode(const uint8_t *buf, size_t n, cli_image *out, cli_err *e)
{
    png_ctx *c = calloc(1, sizeof(*c));
    tfmq_status st;
    if (!c) {
        return cli_fail(e, TFMQ_ERR_OUT_OF_MEMORY, "PNG: out of memory");
    }
    c->buf = buf;
    c->n_bytes = n;
    c->out = out;
    c->e = e;
    c->st = TFMQ_OK;
    c->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, c, png_on_error, png_on_warning);
    if (c->png) {
        c->info = png_create_info_struct(c->png);
    }
    if (!c->png || !c->info) {
        st = cli_fail(e, TFMQ_ERR_OUT_OF_MEMORY, "PNG: out of memory");
    } else {
        st = png_decode_guarded(c);
    }
    png_destroy_read_struct(c->png ? &c->png : NULL, c->info ? &c->info : NULL, NULL);
    free(c->rows);
    if (st == TFMQ_OK) {
        out->rgb = c->pixels;
    } else {
        free(c->pixels);
    }
    free(c);
    return st;
}

/* ---------------------------------------------------------------------------------------------
 * BMP: BITMAPCOREHEADER (12 bytes) and BITMAPINFOHEADER and its extensions (40, 52, 56, 108,
 * 124 bytes); 1/4/8-bit palette, 16/24/32-bit (BI_RGB or BI_BITFIELDS masks); bottom-up or
 * top-down. RLE and embedded JPEG/PNG are refused.
 * ------------------------------------------------------------------------------------------- */

static uint32_t rd16(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

typedef struct bmp_mask {
    uint32_t mask;
    uint32_t shift;
    uint32_t max; /* largest value after shifting (2^bits - 1), 0 if the mask is empty */
} bmp_mask;

static bmp_mask bmp_make_mask(uint32_t mask)
{
    bmp_mask m = {mask, 0, 0};
    if (mask) {
        while (!((mask >> m.shift) & 1u)) {
            m.shift++;
        }
        m.max = mask >> m.shift; /* holes in a mask are tolerated: it just scales oddly */
    }
    return m;
}

static uint8_t bmp_apply_mask(const bmp_mask *m, uint32_t px)
{
    if (!m->max) {
        return 0;
    }
    uint64_t v = (px & m->mask) >> m->shift;
    return (uint8_t)((v * 255u + m->max / 2u) / m->max);
}

static tfmq_status bmp_decode(const uint8_t *buf, size_t n, cli_image *out, cli_err *e)
{
    enum {
        BI_RGB = 0,
        BI_RLE8 = 1,
        BI_RLE4 = 2,
        BI_BITFIELDS = 3,
        BI_JPEG = 4,
        BI_PNG = 5,
        BI_ALPHABITFIELDS = 6
    };
    int64_t w, h;
    uint32_t planes, bpp, compression = BI_RGB, n_colors = 0, pal_entry;
    uint32_t masks[3] = {0, 0, 0};
    size_t pal_off;
    if (n < 18) {
        return cli_fail(e, TFMQ_ERR_PARSE, "BMP: truncated header");
    }
    const uint64_t data_off = rd32(buf + 10);
    const uint32_t dib = rd32(buf + 14);
    if (dib == 12) {
        if (n < 14 + 12) {
            return cli_fail(e, TFMQ_ERR_PARSE, "BMP: truncated header");
        }
        w = rd16(buf + 18);
        h = rd16(buf + 20);
        planes = rd16(buf + 22);
        bpp = rd16(buf + 24);
        pal_entry = 3;
        pal_off = 14 + 12;
    } else if (dib == 40 || dib == 52 || dib == 56 || dib == 108 || dib == 124) {
        if (n < 14 + (size_t)dib) {
            return cli_fail(e, TFMQ_ERR_PARSE, "BMP: truncated header");
        }
        w = (int32_t)rd32(buf + 18);
        h = (int32_t)rd32(buf + 22);
        planes = rd16(buf + 26);
        bpp = rd16(buf + 28);
        compression = rd32(buf + 30);
        n_colors = rd32(buf + 46);
        pal_entry = 4;
        pal_off = 14 + (size_t)dib;
        if (compression == BI_BITFIELDS || compression == BI_ALPHABITFIELDS) {
            size_t mask_off = 14 + 40;
            if (dib == 40) { /* masks follow the 40-byte header */
                pal_off += compression == BI_ALPHABITFIELDS ? 16 : 12;
                if (pal_off > n) {
                    return cli_fail(e, TFMQ_ERR_PARSE, "BMP: truncated colour masks");
                }
            }
            for (int k = 0; k < 3; k++) {
                masks[k] = rd32(buf + mask_off + 4 * (size_t)k);
            }
        }
    } else {
        return cli_fail(e, TFMQ_ERR_UNSUPPORTED, "BMP: unsupported header size %u", dib);
    }
    if (planes != 1) {
        return cli_fail(e, TFMQ_ERR_PARSE, "BMP: %u planes (must be 1)", planes);
    }
    if (compression == BI_RLE8 || compression == BI_RLE4) {
        return cli_fail(e, TFMQ_ERR_UNSUPPORTED, "BMP: RLE compression is not supported");
    }
    if (compression == BI_JPEG || compression == BI_PNG) {
        return cli_fail(e, TFMQ_ERR_UNSUPPORTED, "BMP: embedded JPEG/PNG is not supported");
    }
    if (compression != BI_RGB && compression != BI_BITFIELDS && compression != BI_ALPHABITFIELDS) {
        return cli_fail(e, TFMQ_ERR_UNSUPPORTED, "BMP: unknown compression %u", compression);
    }
    if (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 16 && bpp != 24 && bpp != 32) {
        return cli_fail(e, TFMQ_ERR_UNSUPPORTED, "BMP: %u bits per pixel is not supported", bpp);
    }
    if (compression != BI_RGB && bpp != 16 && bpp != 32) {
        return cli_fail(e, TFMQ_ERR_PARSE, "BMP: bit-field masks with %u bits per pixel", bpp);
    }
    const bool top_down = h < 0;
    if (top_down) {
        h = -h; /* h came from an int32_t: -INT32_MIN fits in int64_t */
    }
    if (w <= 0 || h <= 0) {
        return cli_fail(e, TFMQ_ERR_PARSE, "BMP: invalid size %lldx%lld", (long long)w,
                        (long long)h);
    }
    if (w > IMAGE_MAX_SIDE || h > IMAGE_MAX_SIDE || (uint64_t)(w * h) > IMAGE_MAX_PIXELS) {
        return cli_fail(e, TFMQ_ERR_UNSUPPORTED, "BMP: image of %lldx%lld pixels exceeds the limit",
                        (long long)w, (long long)h);
    }
    /* Palette. */
    uint8_t palette[256][3];
    if (bpp <= 8) {
        const uint32_t max_colors = 1u << bpp;
        if (n_colors == 0 || n_colors > max_colors) {
            n_colors = max_colors; /* 0 means "all"; writers that overstate it are clamped */
        }
        const uint64_t pal_end = (uint64_t)pal_off + (uint64_t)n_colors * pal_entry;
        if (pal_end > n || pal_end > data_off) {
            /* Some writers store fewer entries than 2^bpp with n_colors == 0: use what fits. */
            uint64_t room = (data_off < n ? data_off : n);
            room = room > pal_off ? room - pal_off : 0;
            n_colors = (uint32_t)(room / pal_entry < n_colors ? room / pal_entry : n_colors);
            if (n_colors == 0) {
                return cli_fail(e, TFMQ_ERR_PARSE, "BMP: palette is missing or truncated");
            }
        }
        for (uint32_t k = 0; k < n_colors; k++) {
            const uint8_t *p = buf + pal_off + (size_t)k * pal_entry;
            palette[k][0] = p[2];
            palette[k][1] = p[1];
            palette[k][2] = p[0];
        }
    }
    bmp_mask mr, mg, mb;
    if (compression == BI_RGB && bpp == 16) {
        masks[0] = 0x7c00u, masks[1] = 0x03e0u, masks[2] = 0x001fu; /* X1R5G5B5 */
    } else if (compression == BI_RGB && bpp == 32) {
        masks[0] = 0x00ff0000u, masks[1] = 0x0000ff00u, masks[2] = 0x000000ffu;
    }
    mr = bmp_make_mask(masks[0]);
    mg = bmp_make_mask(masks[1]);
    mb = bmp_make_mask(masks[2]);
    /* Pixel rows are padded to 4 bytes; the last row's padding may be missing. */
    const uint64_t row_bits = (uint64_t)w * bpp;
    const uint64_t stride = (row_bits + 31) / 32 * 4;
    const uint64_t row_used = (row_bits + 7) / 8;
    if (data_off < pal_off || data_off > n ||
        (uint64_t)(h - 1) * stride + row_used > (uint64_t)n - data_off) {
        return cli_fail(e, TFMQ_ERR_PARSE, "BMP: pixel data is truncated or out of bounds");
    }
    tfmq_status st = alloc_rgb("BMP", (uint64_t)w, (uint64_t)h, &out->rgb, e);
    if (st != TFMQ_OK || !out->rgb) {
        return st != TFMQ_OK ? st : TFMQ_ERR_INTERNAL;
    }
    for (int64_t y = 0; y < h; y++) {
        const uint8_t *src = buf + data_off + (size_t)(top_down ? y : h - 1 - y) * stride;
        uint8_t *dst = out->rgb + (size_t)y * (size_t)w * 3;
        for (int64_t x = 0; x < w; x++, dst += 3) {
            if (bpp <= 8) {
                const uint64_t bit = (uint64_t)x * bpp;
                const uint32_t shift = 8u - bpp - (uint32_t)(bit & 7u);
                const uint32_t idx = (src[bit >> 3] >> shift) & ((1u << bpp) - 1u);
                if (idx >= n_colors) {
                    image_free(out);
                    return cli_fail(e, TFMQ_ERR_PARSE,
                                    "BMP: palette index %u out of range (%u colours)", idx,
                                    n_colors);
                }
                memcpy(dst, palette[idx], 3);
            } else if (bpp == 24) {
                const uint8_t *p = src + (size_t)x * 3;
                dst[0] = p[2];
                dst[1] = p[1];
                dst[2] = p[0];
            } else {
                const uint8_t *p = src + (size_t)x * (bpp / 8);
                const uint32_t px = bpp == 16 ? rd16(p) : rd32(p);
                dst[0] = bmp_apply_mask(&mr, px);
                dst[1] = bmp_apply_mask(&mg, px);
                dst[2] = bmp_apply_mask(&mb, px);
            }
        }
    }
    out->width = (int32_t)w;
    out->height = (int32_t)h;
    return TFMQ_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Dispatch on content.
 * ------------------------------------------------------------------------------------------- */

tfmq_status image_decode(const uint8_t *buf, size_t n, cli_image *out, cli_err *e)
{
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    tfmq_status st;
    memset(out, 0, sizeof(*out));
    if (n >= 3 && buf[0] == 0xff && buf[1] == 0xd8 && buf[2] == 0xff) {
        out->format = "jpeg";
        st = jpeg_decode(buf, n, out, e);
    } else if (n >= 8 && memcmp(buf, png_sig, 8) == 0) {
        out->format = "png";
        st = png_decode(buf, n, out, e);
    } else if (n >= 2 && buf[0] == 'B' && buf[1] == 'M') {
        out->format = "bmp";
        st = bmp_decode(buf, n, out, e);
    } else {
        return cli_fail(e, TFMQ_ERR_UNSUPPORTED, "not a JPEG, PNG or BMP image");
    }
    if (st != TFMQ_OK) {
        image_free(out);
    }
    return st;
}

tfmq_status image_load(const char *path, cli_image *out, cli_err *e)
{
    uint8_t *buf = NULL;
    size_t n = 0;
    memset(out, 0, sizeof(*out));
    tfmq_status st = cli_read_file(path, (size_t)1 << 30, &buf, &n, e);
    if (st != TFMQ_OK) {
        return st;
    }
    st = image_decode(buf, n, out, e);
    free(buf);
    return st;
}

/* ---------------------------------------------------------------------------------------------
 * Resize: PIL's ImagingResample with the bilinear (triangle) filter, in float.
 * For each output pixel, centre = (i + 0.5) * scale; the filter is stretched by
 * max(scale, 1), so downscaling averages every source pixel under it (antialiasing).
 * ------------------------------------------------------------------------------------------- */

typedef struct resize_coeffs {
    int32_t ksize;
    int32_t *start; /* first source index of each output index */
    int32_t *count; /* taps used */
    float *weights; /* out_size * ksize, normalised to sum 1 */
} resize_coeffs;

static void coeffs_free(resize_coeffs *rc)
{
    free(rc->start);
    free(rc->count);
    free(rc->weights);
    memset(rc, 0, sizeof(*rc));
}

static double triangle(double x)
{
    x = fabs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
}

static tfmq_status coeffs_make(int32_t in_size, int32_t out_size, resize_coeffs *rc, cli_err *e)
{
    const double scale = (double)in_size / (double)out_size;
    const double filterscale = scale < 1.0 ? 1.0 : scale;
    const double support = 1.0 * filterscale; /* triangle filter: support 1 */
    memset(rc, 0, sizeof(*rc));
    rc->ksize = (int32_t)ceil(support) * 2 + 1;
    rc->start = malloc(sizeof(int32_t) * (size_t)out_size);
    rc->count = malloc(sizeof(int32_t) * (size_t)out_size);
    rc->weights = calloc((size_t)out_size * (size_t)rc->ksize, sizeof(float));
    if (!rc->start || !rc->count || !rc->weights) {
        coeffs_free(rc);
        return cli_fail(e, TFMQ_ERR_OUT_OF_MEMORY, "resize: out of memory");
    }
    for (int32_t i = 0; i < out_size; i++) {
        const double center = ((double)i + 0.5) * scale;
        int32_t xmin = (int32_t)(center - support + 0.5);
        int32_t xmax = (int32_t)(center + support + 0.5);
        if (xmin < 0) {
            xmin = 0;
        }
        if (xmax > in_size) {
            xmax = in_size;
        }
        int32_t cnt = xmax - xmin;
        if (cnt > rc->ksize) {
            cnt = rc->ksize;
        }
        if (cnt < 1) { /* cannot happen for in, out >= 1; keep the nearest pixel anyway */
            xmin = (int32_t)center < in_size ? (int32_t)center : in_size - 1;
            cnt = 1;
        }
        float *k = rc->weights + (size_t)i * (size_t)rc->ksize;
        double sum = 0.0;
        for (int32_t x = 0; x < cnt; x++) {
            double wgt = triangle(((double)(x + xmin) - center + 0.5) / filterscale);
            k[x] = (float)wgt;
            sum += wgt;
        }
        for (int32_t x = 0; x < cnt; x++) {
            k[x] = sum > 0.0 ? (float)((double)k[x] / sum) : (x == 0 ? 1.0f : 0.0f);
        }
        rc->start[i] = xmin;
        rc->count[i] = cnt;
    }
    return TFMQ_OK;
}

tfmq_status image_resize(const uint8_t *src, int32_t src_w, int32_t src_h, int32_t channels,
                         float *dst, int32_t dst_w, int32_t dst_h, cli_err *e)
{
    resize_coeffs cx, cy;
    tfmq_status st;
    if (src_w < 1 || src_h < 1 || dst_w < 1 || dst_h < 1 || channels < 1 ||
        dst_w > IMAGE_MAX_SIDE || dst_h > IMAGE_MAX_SIDE) {
        return cli_fail(e, TFMQ_ERR_INVALID_ARG, "resize: invalid size %dx%d -> %dx%d", (int)src_w,
                        (int)src_h, (int)dst_w, (int)dst_h);
    }
    if ((st = coeffs_make(src_w, dst_w, &cx, e)) != TFMQ_OK) {
        return st;
    }
    if ((st = coeffs_make(src_h, dst_h, &cy, e)) != TFMQ_OK) {
        coeffs_free(&cx);
        return st;
    }
    const size_t c = (size_t)channels;
    float *tmp = malloc(sizeof(float) * (size_t)src_h * (size_t)dst_w * c);
    if (!tmp) {
        coeffs_free(&cx);
        coeffs_free(&cy);
        return cli_fail(e, TFMQ_ERR_OUT_OF_MEMORY, "resize: out of memory");
    }
    /* Horizontal pass: src_h rows of dst_w pixels. */
    for (int32_t y = 0; y < src_h; y++) {
        const uint8_t *row = src + (size_t)y * (size_t)src_w * c;
        float *out = tmp + (size_t)y * (size_t)dst_w * c;
        for (int32_t x = 0; x < dst_w; x++) {
            const float *k = cx.weights + (size_t)x * (size_t)cx.ksize;
            const uint8_t *s = row + (size_t)cx.start[x] * c;
            for (size_t ch = 0; ch < c; ch++) {
                double acc = 0.0;
                for (int32_t t = 0; t < cx.count[x]; t++) {
                    acc += (double)k[t] * (double)s[(size_t)t * c + ch];
                }
                out[(size_t)x * c + ch] = (float)acc;
            }
        }
    }
    /* Vertical pass, a whole row at a time (accumulated in double). */
    const size_t row_len = (size_t)dst_w * c;
    double *acc = malloc(sizeof(double) * row_len);
    if (!acc) {
        free(tmp);
        coeffs_free(&cx);
        coeffs_free(&cy);
        return cli_fail(e, TFMQ_ERR_OUT_OF_MEMORY, "resize: out of memory");
    }
    for (int32_t y = 0; y < dst_h; y++) {
        const float *k = cy.weights + (size_t)y * (size_t)cy.ksize;
        float *out = dst + (size_t)y * row_len;
        memset(acc, 0, sizeof(double) * row_len);
        for (int32_t t = 0; t < cy.count[y]; t++) {
            const float *in = tmp + (size_t)(cy.start[y] + t) * row_len;
            const double wgt = (double)k[t];
            for (size_t i = 0; i < row_len; i++) {
                acc[i] += wgt * (double)in[i];
            }
        }
        for (size_t i = 0; i < row_len; i++) {
            out[i] = (float)acc[i];
        }
    }
    free(acc);
    free(tmp);
    coeffs_free(&cx);
    coeffs_free(&cy);
    return TFMQ_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Normalisation.
 * ------------------------------------------------------------------------------------------- */

bool image_preprocess_parse(const char *name, image_preprocess *out)
{
    static const struct {
        const char *name;
        image_preprocess p;
    } table[] = {{"caffe", IMAGE_PRE_CAFFE},
                 {"tf", IMAGE_PRE_TF},
                 {"torch", IMAGE_PRE_TORCH},
                 {"raw", IMAGE_PRE_RAW},
                 {"unit", IMAGE_PRE_UNIT}};
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (strcmp(name, table[i].name) == 0) {
            *out = table[i].p;
            return true;
        }
    }
    return false;
}

/* out = (v * scale - mean) / std for one colour (index 0 R, 1 G, 2 B; 3 = gray). */
typedef struct norm_params {
    double scale, mean, std;
} norm_params;

static norm_params norm_for(image_preprocess p, int color)
{
    /* keras.applications.imagenet_utils: caffe means are listed B, G, R there. */
    static const double caffe_mean[4] = {123.68, 116.779, 103.939,
                                         (123.68 + 116.779 + 103.939) / 3.0};
    static const double torch_mean[4] = {0.485, 0.456, 0.406, (0.485 + 0.456 + 0.406) / 3.0};
    static const double torch_std[4] = {0.229, 0.224, 0.225, (0.229 + 0.224 + 0.225) / 3.0};
    norm_params n = {1.0, 0.0, 1.0};
    switch (p) {
    case IMAGE_PRE_CAFFE:
        n.mean = caffe_mean[color];
        break;
    case IMAGE_PRE_TF:
        n.scale = 1.0 / 127.5, n.mean = 1.0;
        break;
    case IMAGE_PRE_TORCH:
        n.scale = 1.0 / 255.0, n.mean = torch_mean[color], n.std = torch_std[color];
        break;
    case IMAGE_PRE_RAW:
        break;
    case IMAGE_PRE_UNIT:
        n.scale = 1.0 / 255.0;
        break;
    }
    return n;
}

tfmq_status image_to_tensor(const cli_image *img, const image_target *t, float *out, cli_err *e)
{
    const size_t hw = (size_t)t->width * (size_t)t->height;
    if (t->channels != 1 && t->channels != 3) {
        return cli_fail(e, TFMQ_ERR_UNSUPPORTED, "images have 1 or 3 channels, the model wants %d",
                        (int)t->channels);
    }
    float *rgb = malloc(sizeof(float) * hw * 3);
    if (!rgb) {
        return cli_fail(e, TFMQ_ERR_OUT_OF_MEMORY, "out of memory");
    }
    tfmq_status st =
        image_resize(img->rgb, img->width, img->height, 3, rgb, t->width, t->height, e);
    if (st != TFMQ_OK) {
        free(rgb);
        return st;
    }
    const size_t nc = (size_t)t->channels;
    norm_params np[3] = {{1.0, 0.0, 1.0}, {1.0, 0.0, 1.0}, {1.0, 0.0, 1.0}};
    int color_of[3] = {0, 1, 2};
    for (size_t c = 0; c < nc; c++) {
        color_of[c] = nc == 1 ? 3 : (t->bgr ? 2 - (int)c : (int)c);
        np[c] = norm_for(t->preprocess, color_of[c]);
    }
    for (size_t i = 0; i < hw; i++) {
        const float *px = rgb + i * 3;
        for (size_t c = 0; c < nc; c++) {
            double v;
            if (nc == 1) { /* ITU-R 601-2 luma, as PIL's convert('L') */
                v = 0.299 * (double)px[0] + 0.587 * (double)px[1] + 0.114 * (double)px[2];
            } else {
                v = (double)px[color_of[c]];
            }
            const float y = (float)((v * np[c].scale - np[c].mean) / np[c].std);
            if (t->layout == IMAGE_LAYOUT_NCHW) {
                out[c * hw + i] = y;
            } else {
                out[i * nc + c] = y;
            }
        }
    }
    free(rgb);
    return TFMQ_OK;
}
