/* report.h: fidelity measurement and reports: run a reference and a candidate graph side by
 * side on the same data and compare outputs (top-1/top-5 agreement, SQNR, errors) and, layer by
 * layer, the tensors the quantizer paired (SQNR in dB, cosine similarity). tfmq_report_* and
 * tfmq_compare live here too. */
#ifndef TQ_REPORT_H
#define TQ_REPORT_H

#include "runtime/model.h"

/* One quantized layer: the tensor it produces in the reference graph and the paired tensor in
 * the candidate graph. A candidate tensor of dtype int8/uint8 is dequantized with scale and
 * zero_point before comparing; a float candidate is compared directly. */
typedef struct tq_layer_pair {
    const char *layer;     /* node label in the reference graph, e.g. "conv1" */
    const char *op;        /* op type, e.g. "Conv" */
    const char *ref_name;  /* value name in the reference graph */
    const char *cand_name; /* value name in the candidate graph */
    float scale;           /* candidate int8/uint8: real = scale * (q - zero_point) */
    int32_t zero_point;
    const char *precision; /* "int8", "fp16", "bf16", "fp32" (kept in float) */
} tq_layer_pair;

typedef struct tq_layer_fidelity {
    double sqnr_db;        /* 10 log10(sum ref^2 / sum (ref - cand)^2); 200 when exact;
                              NaN when the pair was never computed (n_values 0) */
    double cosine;         /* sum ref*cand / (|ref| |cand|) over all samples; NaN likewise */
    uint64_t n_values;
} tq_layer_fidelity;

typedef struct tq_fidelity {
    uint64_t n_samples;
    double top1_agreement;  /* over outputs that look like class scores (last dim >= 2); -1: none */
    double top5_agreement;  /* rows whose reference argmax is in the candidate's top 5 (stable
                               descending order, ties to the lower index); -1 when no output has
                               >= 5 classes */
    double output_sqnr_db;  /* over all float outputs together, clamped to [-200, 200]; NaN when
                               no float output (or non-finite data) */
    double output_cosine;   /* NaN when no float output */
    double max_abs_error;   /* -1 when no float output */
    double mean_abs_error;  /* -1 when no float output */
    tq_layer_fidelity *layers; /* n_layers entries, owned by the fidelity (tq_fidelity_free) */
    size_t n_layers;
    const tfmq_allocator *alloc;
} tq_fidelity;

/* Run `ref` and `cand` (same inputs and outputs by name; cand is run as given, so pass a
 * compiled graph) on the data `fn` yields, at most max_samples samples (0: all). Top-1/top-5
 * count rows (flattened leading dims) of float outputs whose last dim is >= 2 (>= 5). Layer
 * tensors are captured right after their producing node runs (observer hooks), or after the run
 * for values folded at plan time. On failure *out is zeroed. Returns TFMQ_OK; _INVALID_ARG (NULL
 * arguments, inputs/outputs not matching by name and dtype, a pair naming a value missing from
 * its graph, paired or output tensors whose element counts differ, data not matching the inputs,
 * no samples); _UNSUPPORTED (a non-float reference tensor, a candidate that is neither float nor
 * int8/uint8); _OUT_OF_MEMORY; or the status of fn or the executor. */
tfmq_status tq_fidelity_eval(const tq_graph *ref, const tq_graph *cand, const tq_layer_pair *pairs,
                             size_t n_pairs, tfmq_batch_fn fn, void *user_data,
                             uint64_t max_samples, const tfmq_allocator *alloc, tq_fidelity *out);
void tq_fidelity_free(tq_fidelity *f);

/* What tfmq_quantize did, for the report. Strings are borrowed during tq_report_build. */
typedef struct tq_report_info {
    const char *precision;
    const char *calib_method;  /* NULL when no calibration ran */
    uint64_t calib_samples;
    const char *calib_device;  /* "cpu", "cuda:N", "cache" (ranges read from a calibration cache) */
    double percentile;
    const char *tolerance;     /* NULL when none */
    bool tolerance_met;
    const tq_layer_pair *pairs;
    size_t n_pairs;
    const char *const *float_layers;     /* ops kept in float by design ("Softmax#12 (Softmax)") */
    size_t n_float_layers;
    const char *const *fallback_layers;  /* layers the tolerance search moved to float */
    const char *const *fallback_reasons;
    size_t n_fallback;
} tq_report_info;

/* Build a report (JSON and text) from info and a fidelity measurement (may be NULL when no
 * evaluation ran; else fid->n_layers must equal info->n_pairs, layer i measuring pairs[i]). JSON:
 * numbers %.6g, null for unknowns (-1 sentinels, NaN, no fid, no calibration/tolerance);
 * calibration.percentile is set only for method "percentile" (0 shown as the default, 99.999). The text ranks
 * layers by SQNR, lowest first. The report copies *alloc. Returns TFMQ_OK, _INVALID_ARG or
 * _OUT_OF_MEMORY; *report_out is NULL on failure. */
tfmq_status tq_report_build(const tq_report_info *info, const tq_fidelity *fid,
                            const tfmq_allocator *alloc, tfmq_report **report_out);

#endif
