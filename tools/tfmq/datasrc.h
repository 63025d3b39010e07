/* datasrc.h: calibration and evaluation data for `tfmq quantize`, `compare` and `bench`: a
 * tfmq_batch_fn over directories of images (JPEG, PNG, BMP, preprocessed as `tfmq predict` does)
 * and .npy files (one sample each, or a batch), plus a progress bar for tfmq_progress_fn. */
#ifndef TFMQ_CLI_DATASRC_H
#define TFMQ_CLI_DATASRC_H

#include "cli_util.h"
#include "image.h"
#include "tfmq.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How images become tensors and how samples are grouped into batches. */
typedef struct datasrc_options {
    bool have_preprocess; /* --preprocess given (required when a path yields images) */
    image_preprocess preprocess;
    bool have_size; /* --size HxW */
    int64_t size_h;
    int64_t size_w;
    int layout;    /* -1: from the input shape, else image_layout */
    int bgr;       /* -1: from the preset (caffe: BGR), 0 RGB, 1 BGR */
    int64_t batch; /* 0: 1, or 32 when the model's batch dimension is symbolic */
} datasrc_options;

/* Set the defaults (no preset, layout and order from the model, default batch). */
void datasrc_options_init(datasrc_options *o);

/* The options above as command-line options. Commands include DATASRC_CLI_OPTIONS in their
 * option table (ids DATASRC_OPT_FIRST..) and pass those ids to datasrc_parse_option. */
enum {
    DATASRC_OPT_PREPROCESS = 1000,
    DATASRC_OPT_SIZE,
    DATASRC_OPT_LAYOUT,
    DATASRC_OPT_CHANNEL_ORDER,
    DATASRC_OPT_BATCH
};
#define DATASRC_CLI_OPTIONS                                                                        \
    {"preprocess", 'p', true, DATASRC_OPT_PREPROCESS}, {"size", 0, true, DATASRC_OPT_SIZE},        \
        {"layout", 0, true, DATASRC_OPT_LAYOUT},                                                   \
        {"channel-order", 0, true, DATASRC_OPT_CHANNEL_ORDER},                                     \
        {"batch", 0, true, DATASRC_OPT_BATCH}

/* Help text for the options above (for the commands' --help). */
extern const char datasrc_options_help[];

/* True if `id` is one of the DATASRC_OPT_* ids; then *rc is 0, or 1 after a usage error. */
bool datasrc_parse_option(const char *command, int id, const char *value, datasrc_options *o,
                          int *rc);

typedef struct datasrc datasrc;

/* Open the data at paths[0..n_paths): each a directory (its images and .npy files, sorted by
 * name; other files are ignored), a .npy file (one sample if its rank is the input's minus one,
 * else a batch along dim 0) or an image file. A multi-input model takes NAME=PATH for each
 * input. Every .npy header is read now, so shape and dtype errors come out before any work.
 * Messages name the path at fault (in e).
 * @return TFMQ_OK, or TFMQ_ERR_IO / _PARSE / _INVALID_ARG / _UNSUPPORTED / _OUT_OF_MEMORY. */
tfmq_status datasrc_open(const tfmq_model *model, const char *const *paths, size_t n_paths,
                         const datasrc_options *o, datasrc **out, cli_err *e);

/* Free everything (NULL-safe). */
void datasrc_close(datasrc *ds);

/* The tfmq_batch_fn; user_data is the datasrc. Stateless in batch_index, so it restarts. On
 * failure the message is kept and shown by datasrc_error(). */
tfmq_status datasrc_batch(void *user_data, size_t batch_index, tfmq_tensor *inputs,
                          size_t n_inputs, bool *done);

/* Samples the data holds, and samples per batch. */
uint64_t datasrc_n_samples(const datasrc *ds);
int64_t datasrc_batch_size(const datasrc *ds);

/* Message of the last failed datasrc_batch(), or "" (the library adds its own context). */
const char *datasrc_error(const datasrc *ds);

/* A progress bar on stderr for tfmq_progress_fn, drawn only when stderr is a terminal. */
typedef struct cli_progress {
    bool enabled;
    bool drawn;         /* a bar is on screen */
    uint64_t fallback_total; /* used when the library reports total 0 */
    char stage[32];
    double last_ms;
} cli_progress;

void cli_progress_init(cli_progress *p, uint64_t fallback_total);
void cli_progress_fn(void *user_data, const char *stage, uint64_t done, uint64_t total);
/* Erase the bar (call before printing results). */
void cli_progress_end(cli_progress *p);

#endif /* TFMQ_CLI_DATASRC_H */
