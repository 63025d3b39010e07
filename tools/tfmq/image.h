/* image.h: image decoding (JPEG via libjpeg, PNG via libpng, BMP by hand; chosen by content),
 * antialiased resizing and model-input normalisation for `tfmq predict`. */
#ifndef TFMQ_CLI_IMAGE_H
#define TFMQ_CLI_IMAGE_H

#include "cli_util.h"
#include "tfmq.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits applied before any pixel memory is allocated. */
#define IMAGE_MAX_SIDE   32768
#define IMAGE_MAX_PIXELS ((uint64_t)1 << 28)

/* A decoded image: 8-bit RGB, row-major, no padding. */
typedef struct cli_image {
    int32_t width;
    int32_t height;
    uint8_t *rgb;       /* width * height * 3 bytes, malloc'd; free with image_free() */
    const char *format; /* "jpeg", "png" or "bmp" */
    char warning[200];  /* first non-fatal decoder warning, or "" */
} cli_image;

/* Decode an image held in memory; the format is found from the magic bytes. Alpha is dropped,
 * gray and palette images become RGB, 16-bit samples are scaled to 8 bits.
 * @return TFMQ_OK, or TFMQ_ERR_PARSE (corrupt or truncated), _UNSUPPORTED (unknown format or
 *         variant), _OUT_OF_MEMORY. On failure `out` is zeroed. */
tfmq_status image_decode(const uint8_t *buf, size_t n_bytes, cli_image *out, cli_err *e);

/* Read a file and decode it (see image_decode; read errors are TFMQ_ERR_IO). */
tfmq_status image_load(const char *path, cli_image *out, cli_err *e);

/* Free the pixels of an image (NULL-safe) and zero it. */
void image_free(cli_image *img);

/* Resize `channels`-interleaved 8-bit pixels to dst_w x dst_h floats (same interleaving) with a
 * separable triangle filter whose support grows with the downscale factor (the antialiased
 * bilinear filter of PIL's Image.resize); upscaling is plain bilinear with centred pixels.
 * Values stay in 0..255 and are not rounded. */
tfmq_status image_resize(const uint8_t *src, int32_t src_w, int32_t src_h, int32_t channels,
                         float *dst, int32_t dst_w, int32_t dst_h, cli_err *e);

/* Normalisation presets, named as in keras.applications' preprocess_input. */
typedef enum image_preprocess {
    IMAGE_PRE_CAFFE = 0, /* BGR, minus ImageNet mean [103.939, 116.779, 123.68] (B, G, R) */
    IMAGE_PRE_TF = 1,    /* x / 127.5 - 1 */
    IMAGE_PRE_TORCH =
        2, /* x / 255, minus mean (0.485, 0.456, 0.406), over std (0.229, 0.224, 0.225) */
    IMAGE_PRE_RAW = 3, /* 0..255 */
    IMAGE_PRE_UNIT = 4 /* x / 255 */
} image_preprocess;

typedef enum image_layout { IMAGE_LAYOUT_NCHW = 0, IMAGE_LAYOUT_NHWC = 1 } image_layout;

/* What the model wants for one image. */
typedef struct image_target {
    int32_t width;
    int32_t height;
    int32_t channels;    /* 1 (luma, as PIL's convert('L')) or 3 */
    image_layout layout; /* NCHW writes planes C x H x W; NHWC writes H x W x C */
    bool bgr;            /* channel order B, G, R instead of R, G, B (3 channels only) */
    image_preprocess preprocess;
} image_target;

/* Parse a preset name ("caffe", "tf", "torch", "raw", "unit"); false if unknown. */
bool image_preprocess_parse(const char *name, image_preprocess *out);

/* Resize `img` to the target, convert to gray if asked, normalise and write
 * channels * height * width floats to `out` in the target layout. */
tfmq_status image_to_tensor(const cli_image *img, const image_target *t, float *out, cli_err *e);

#endif /* TFMQ_CLI_IMAGE_H */
