/* fuzz_image.c: the CLI's image decoders (tools/tfmq/image.c: JPEG via libjpeg, PNG via libpng,
 * BMP by hand) on arbitrary bytes, then resizing and normalisation into two small tensors (one
 * downscaling or upscaling to 7x5 RGB NCHW, one to 33x17 gray NHWC). */
#include "fuzz_common.h"
#include "image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cli_err e;
    cli_image img;
    if (image_decode(data, size, &img, &e) != TFMQ_OK) {
        if (img.rgb) {
            abort(); /* on failure `out` is zeroed */
        }
        return 0;
    }
    if (img.width <= 0 || img.height <= 0 || !img.rgb) {
        abort();
    }
    volatile uint8_t sum = 0; /* every pixel must be inside the buffer */
    size_t n = (size_t)img.width * (size_t)img.height * 3;
    for (size_t i = 0; i < n; i += 61) {
        sum = (uint8_t)(sum + img.rgb[i]);
    }
    sum = (uint8_t)(sum + img.rgb[n - 1]);
    (void)sum;
    /* Resizing a huge image takes seconds: keep the fuzzer fast. */
    if ((uint64_t)img.width * (uint64_t)img.height <= ((uint64_t)1 << 22)) {
        static const image_target targets[2] = {
            {7, 5, 3, IMAGE_LAYOUT_NCHW, true, IMAGE_PRE_CAFFE},
            {33, 17, 1, IMAGE_LAYOUT_NHWC, false, IMAGE_PRE_TORCH},
        };
        float out[33 * 17 * 3];
        for (int t = 0; t < 2; t++) {
            if (image_to_tensor(&img, &targets[t], out, &e) != TFMQ_OK) {
                fprintf(stderr, "fuzz_image: image_to_tensor failed: %s\n", e.msg);
                abort();
            }
            size_t m = (size_t)targets[t].width * (size_t)targets[t].height *
                       (size_t)targets[t].channels;
            for (size_t i = 0; i < m; i++) {
                if (!(out[i] > -1000.0f && out[i] < 1000.0f)) {
                    fprintf(stderr, "fuzz_image: value %zu is %g\n", i, (double)out[i]);
                    abort();
                }
            }
        }
    }
    image_free(&img);
    return 0;
}
