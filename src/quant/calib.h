/* calib.h: calibration. Iterating a user data source (data.c), streaming observers of activation
 * ranges (histogram.c: min/max plus a fixed-size |x| histogram per tensor, never stored
 * activations), the range-choosing methods (minmax, TensorRT's KL entropy, percentile, MSE), the
 * driver that runs an FP32 graph over the data on the CPU executor (calib.c) or on a GPU
 * (calib_cuda.c, CUDA builds), and a calibration cache file (calib_cache.c). */
#ifndef TQ_QUANT_CALIB_H
#define TQ_QUANT_CALIB_H

/* Default percentile of |x| for TFMQ_CALIB_PERCENTILE (ONNX Runtime's default too): at 99.99 the
 * ImageNet and CIFAR models of bench/QUANT_RESULTS.md lost 1 to 5 dB of output SQNR. */
#define TQ_CALIB_DEFAULT_PERCENTILE 99.999

#include "ir/ir.h"

/* ---- data sources (data.c) ---- */

/* Called once per batch with the batch's tensors in g->inputs order (dtype, rank, dims and data
 * set; data borrowed from the callback, valid during the call only). batch_samples is dim 0 of
 * the inputs (1 for rank-0 inputs). A non-OK status aborts the iteration and is returned. */
typedef tfmq_status (*tq_batch_visit_fn)(void *ctx, const tq_tensor *inputs,
                                         uint64_t batch_samples);

/* Iterate a tfmq_batch_fn data source for graph g, from batch_index 0: each batch's tensors are
 * checked against g's inputs (names preset by us, dtype must match, rank must match, fixed dims
 * must match, data_bytes must cover the shape) and passed to visit() in g->inputs order. A batch
 * holds dim 0 of its first input of rank >= 1 samples (1 if every input is a scalar). At most
 * max_samples samples (0: all) are visited; a batch that crosses the cap is cut along dim 0 (the
 * batch dim) of every input whose dim 0 equals the batch's sample count, and the source is not
 * called again once the cap is reached. Where an input's dim 0 is fixed by the graph, the batch
 * cannot be cut: it is then visited whole if it is the first batch, else iteration stops (so a
 * fixed-batch model visits at least one batch). A batch of 0 samples is skipped. *n_samples_out (may be NULL) counts the
 * samples visited, also on failure.
 * Returns TFMQ_OK, TFMQ_ERR_INVALID_ARG (NULL fn/visit, a batch that does not match g's inputs:
 * the message names the batch and the input), _OUT_OF_MEMORY, or the status of fn or visit. */
tfmq_status tq_for_each_batch(const tq_graph *g, tfmq_batch_fn fn, void *user_data,
                              uint64_t max_samples, tq_batch_visit_fn visit, void *ctx,
                              uint64_t *n_samples_out);

/* ---- observers (histogram.c) ---- */

#define TQ_HIST_BINS 2048 /* bins of the |x| histogram (TensorRT and ORT use 2048 too) */
#define TQ_HIST_QUANT_LEVELS 128 /* int8 symmetric: 128 levels of |x| */

/* Streaming observer of one tensor: min/max and a histogram of |x| over [0, range) with
 * TQ_HIST_BINS equal bins. The range adapts: when a value >= range arrives, the range doubles
 * (repeatedly) and pairs of bins merge, so the histogram never needs a second pass and its memory
 * is fixed (the struct itself, no allocation). The first non-zero batch sets the initial range
 * to just above its max |x|, so later doublings keep range = r0 * 2^k. NaN and +-inf values are
 * counted in n_nonfinite and otherwise ignored (they would make every range useless). */
typedef struct tq_observer {
    double min, max;               /* observed extremes (finite values); 0,0 before any */
    uint64_t n_seen;               /* finite values observed */
    uint64_t n_nonfinite;          /* NaN/inf values seen and ignored */
    double range;                  /* histogram covers |x| in [0, range); 0 before any non-zero */
    uint64_t bins[TQ_HIST_BINS];   /* counts; bin i covers [i, i+1) * range / TQ_HIST_BINS */
} tq_observer;

void tq_observer_init(tq_observer *ob);
void tq_observer_add_f32(tq_observer *ob, const float *x, size_t n);
/* tq_observer_add_f32(ob, x, n) with its passes split over n_threads threads (the CPU backend's
 * pool), giving exactly the serial result: an element of largest |x| is added first (setting
 * the range as the whole call would), each thread bins its part into a copy of that observer
 * (whose range its part cannot widen), and the copies' counts are summed back, less the first
 * element. scratch: n_threads observers of the caller's (nothing is allocated). Short inputs
 * and n_threads <= 1 go serially. */
void tq_observer_add_f32_parallel(tq_observer *ob, const float *x, size_t n, int32_t n_threads,
                                  tq_observer *scratch);
/* Merge src into dst (ranges are rebased onto the larger one). */
void tq_observer_merge(tq_observer *dst, const tq_observer *src);

/* Thresholds on |x| chosen from the histogram; each returns a value in (0, max|x|], or 0 when
 * nothing non-zero was observed. */
double tq_observer_amax(const tq_observer *ob);          /* max(|min|, |max|) */
/* KL-divergence ("entropy") calibration (Migacz 2017, TensorRT), in the variant of MXNet and
 * ONNX Runtime's get_entropy_threshold, not pytorch-quantization's: its remainder grouping and
 * smoothing kept 15 dB output SQNR on the bundled model and 89.6 % accuracy where the
 * pytorch-quantization grouping (equal-width groups, no smoothing) clipped a ReLU output at 15 %
 * of its range and gave 6.6 dB and 73.7 % (2026-11-27 measurement). On the histogram with bin 0
 * replaced by bin 1
 * (as NVIDIA's pytorch-quantization does, so the spike of ReLU zeros does not dominate), for each
 * candidate threshold bin i in [TQ_HIST_QUANT_LEVELS, last non-empty bin + 1], P = bins[0:i] with
 * the outliers folded into bin i-1, Q = bins[0:i] merged into TQ_HIST_QUANT_LEVELS groups (the
 * last group takes the remainder of i / levels) and spread back evenly over the bins where P is
 * non-zero; both smoothed as MXNet/ORT do (eps 1e-4); return the upper edge of the bin i
 * minimizing KL(P||Q), at most max|x|. Deterministic; ties choose the smallest i. */
double tq_observer_entropy(const tq_observer *ob);
/* The |x| value below which `pct` percent (0 < pct <= 100; 0: TQ_CALIB_DEFAULT_PERCENTILE) of the
 * observed |x|
 * mass lies, linearly interpolated within the bin, at most max|x|. */
double tq_observer_percentile(const tq_observer *ob, double pct);
/* The threshold t minimizing the expected squared error of int8 symmetric quantization with
 * scale t/127 over the histogram (values uniform within each bin: exact rounding error inside
 * [-t, t], clipping error outside), searched over 256 evenly spaced candidates up to max|x| and
 * then every half bin around the best one. */
double tq_observer_mse(const tq_observer *ob);

/* The range [lo, hi] the method chooses for one observer, as tq_calibrate documents it.
 * pct: percentile for TFMQ_CALIB_PERCENTILE (0: TQ_CALIB_DEFAULT_PERCENTILE). Always lo <= 0 <= hi. */
tfmq_status tq_observer_range(const tq_observer *ob, tfmq_calib_method method, double pct,
                              bool asymmetric, float *lo_out, float *hi_out);

/* ---- the driver (calib.c) ---- */

/* Activation ranges of the named values of graph g (an FP32 graph), observed while running g
 * over the data opts->calib_fn yields (at most opts->max_calib_samples),
 * chosen by opts->calib_method (opts->percentile for PERCENTILE; 0 means TQ_CALIB_DEFAULT_PERCENTILE). For each name i:
 * lo_out[i] <= 0 <= hi_out[i] (ranges always include zero). For the symmetric scheme the caller
 * uses max(-lo, hi); entropy/percentile/MSE choose a clipping threshold on |x| (symmetric) and set
 * lo = -t, hi = t, unless opts->asymmetric_activations, where the threshold t applies to each side
 * that it clips: lo = max(min, -t), hi = min(max, t) (a side that never goes beyond t keeps its
 * observed extreme).
 * One pass over the data: the histograms use the adaptive range (see tq_observer), so
 * calib_fn is iterated exactly once. Memory is bounded whatever the number of samples: one
 * tq_observer (~16 KiB) per named value. Values of a dtype other than float32 get the range
 * [0, 0] (not an error). Values that are constant after planning (initializers, folded nodes) are
 * observed once per plan. A name that is never computed in a run (dead branch) gets [0, 0].
 * Progress goes to opts->progress ("calibrate", samples done, total = max_calib_samples or 0).
 * *n_samples_out (may be NULL) receives the samples seen.
 * Where g runs: $TFMQ_CALIB_DEVICE = auto (default: a GPU when the CUDA backend is built and a
 * device is usable, else the CPU) | cpu | cuda | cuda:N. On the GPU (calib_cuda.c) the passes run
 * in strict FP32 (no TF32) and the same observers are fed on the host; under auto, a graph the
 * GPU cannot run (TFMQ_ERR_UNSUPPORTED / _BACKEND / _OUT_OF_MEMORY) is calibrated on the CPU
 * instead, with a warning. The device and the time taken are logged (TFMQ_LOG_INFO).
 * Returns TFMQ_OK; TFMQ_ERR_INVALID_ARG (NULL arguments, no calib_fn, a name not found in g, a
 * batch not matching g's inputs, no samples at all, a bad TFMQ_CALIB_DEVICE); _OUT_OF_MEMORY;
 * _UNSUPPORTED (an op the executor cannot run; TFMQ_CALIB_DEVICE=cuda without a usable GPU or
 * CUDA backend); _BACKEND (a CUDA error); or the status of calib_fn. */
tfmq_status tq_calibrate(const tq_graph *g, const char *const *names, size_t n_names,
                         const tfmq_quantize_options *opts, float *lo_out, float *hi_out,
                         uint64_t *n_samples_out);
/* The same, also naming where the passes ran in where_out (where_cap bytes; NULL: not wanted):
 * "cpu" or "cuda:N". */
tfmq_status tq_calibrate_where(const tq_graph *g, const char *const *names, size_t n_names,
                               const tfmq_quantize_options *opts, float *lo_out, float *hi_out,
                               uint64_t *n_samples_out, char *where_out, size_t where_cap);

#ifdef TFMQ_HAVE_CUDA
/* The observers of one calibration (calib.c owns them; calib_cuda.c feeds them). */
typedef struct tq_calib_obs {
    const int32_t *obs_of_value; /* g->n_values entries: observer index, or -1 */
    const int32_t *value_of_obs; /* n_obs entries */
    bool *const_done;            /* n_obs entries: the constant value was observed */
    tq_observer *obs;            /* n_obs entries */
    size_t n_obs;
} tq_calib_obs;

/* The GPU driver (calib_cuda.c): run g on CUDA device `device` over o's data (at most
 * o->max_calib_samples), feeding the observers as tq_calibrate's CPU driver does: every
 * observed float32 value once per batch, each constant value once (const_done), in the same
 * order per observer. Progress as tq_calibrate. *n_samples_out: samples visited (also on
 * failure). Returns TFMQ_OK or the error (INVALID_ARG for a bad batch, UNSUPPORTED for a graph
 * the GPU cannot run, BACKEND, OUT_OF_MEMORY, or calib_fn's status). */
tfmq_status tq_calibrate_cuda(const tq_graph *g, int device, const tfmq_quantize_options *o,
                              tq_calib_obs *obs, uint64_t *n_samples_out);
#endif

/* ---- calibration cache (calib_cache.c) ---- */

/* A small text file:
 *   tfmq-calib 1
 *   model_hash 0x1234abcd
 *   method entropy
 *   percentile 99.999
 *   asymmetric 0
 *   samples 512
 *   count 3
 *   <lo as %a> <hi as %a> <name, rest of line>
 *   ...
 * Floats are written as C99 hex floats so they round-trip exactly.
 * Read: *found = false if the file does not exist (TFMQ_OK); a file whose hash, method,
 * percentile, asymmetry or names (count, order and spelling) do not match is refused with
 * TFMQ_ERR_INVALID_ARG ("stale calibration cache ... made for another model/method"); a
 * malformed file is TFMQ_ERR_PARSE; other read errors TFMQ_ERR_IO.
 * Write is atomic (temp file in the same folder, fsync, rename); TFMQ_ERR_IO on failure. */
tfmq_status tq_calib_cache_read(const char *path, uint32_t model_hash,
                                const tfmq_quantize_options *opts, const char *const *names,
                                size_t n_names, float *lo_out, float *hi_out,
                                uint64_t *n_samples_out, bool *found);
tfmq_status tq_calib_cache_write(const char *path, uint32_t model_hash,
                                 const tfmq_quantize_options *opts, const char *const *names,
                                 size_t n_names, const float *lo, const float *hi,
                                 uint64_t n_samples);

#endif
