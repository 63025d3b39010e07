/* fuzz_calib_cache.c: tq_calib_cache_read on arbitrary bytes written to a temporary file, for
 * a model hash of 0x1234abcd and the names x, conv1_out, y (the seeds match them, so mutations
 * reach the range lines), with minmax and with percentile settings. */
#include "fuzz_common.h"
#include "quant/calib.h"

#include <math.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[3] = {"x", "conv1_out", "y"};
    const char *path = fuzz_write_file(0, "calib.cache", data, size);
    for (int cfg = 0; cfg < 2; cfg++) {
        tfmq_quantize_options o;
        memset(&o, 0, sizeof(o));
        o.struct_size = sizeof(o);
        o.precision = TFMQ_PRECISION_INT8;
        o.calib_method = cfg == 0 ? TFMQ_CALIB_MINMAX : TFMQ_CALIB_PERCENTILE;
        o.percentile = cfg == 0 ? 0.0 : 99.9;
        float lo[3] = {0.0f, 0.0f, 0.0f}, hi[3] = {0.0f, 0.0f, 0.0f};
        uint64_t n_samples = 0;
        bool found = false;
        tfmq_status st = tq_calib_cache_read(path, 0x1234abcdu, &o, names, 3, lo, hi,
                                             &n_samples, &found);
        if (st == TFMQ_OK && found) {
            for (int i = 0; i < 3; i++) {
                if (!isfinite(lo[i]) || !isfinite(hi[i]) || lo[i] > 0.0f || hi[i] < 0.0f) {
                    fprintf(stderr, "fuzz_calib_cache: range %d is [%g, %g]\n", i,
                            (double)lo[i], (double)hi[i]);
                    abort();
                }
            }
        }
    }
    return 0;
}
