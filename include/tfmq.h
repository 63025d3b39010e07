/**
 * tfmq.h: the public C API of tfmq, a tool that makes trained neural networks fast.
 *
 * tfmq imports a trained model (ONNX today; TensorFlow SavedModel and Keras later), infers its
 * shapes and runs it. This header is the only one installed; it needs only a C11 compiler and
 * <stdint.h>, <stddef.h>, <stdbool.h>.
 *
 * Conventions
 *  - Every fallible function returns a tfmq_status. TFMQ_OK is 0. On failure a message naming
 *    the file, node and problem is available from tfmq_last_error() on the same thread.
 *  - Handles are opaque. Every _load/_create has a _destroy, and _destroy(NULL) does nothing.
 *    The output handle is the last parameter, its name ends in _out, and it is NULL on failure.
 *  - Option structs begin with `uint32_t struct_size`, which the caller sets to sizeof(struct);
 *    the library checks it, so structs can grow without breaking old callers. NULL options mean
 *    defaults.
 *  - Pointers passed in are borrowed for the duration of the call unless a doc says otherwise.
 *    Strings and arrays returned by the library belong to the object they came from.
 *
 * Thread safety
 *  - A loaded tfmq_model is immutable: any number of threads may inspect it and create sessions
 *    on it concurrently. It must outlive every session created on it.
 *  - A tfmq_session belongs to one thread at a time; several sessions on one model may run
 *    concurrently on different threads.
 *  - The error message of tfmq_last_error() is per thread.
 *
 * Memory
 *  - tfmq_session_run() allocates nothing when the input shapes are those of the previous run (or
 *    those the session was planned for), unless the model has shapes that depend on the values
 *    of its inputs (e.g. a Loop whose trip count is an input); such a session grows its buffers
 *    only when a run needs more than every earlier run did.
 */
#ifndef TFMQ_H
#define TFMQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TFMQ_VERSION_MAJOR 0
#define TFMQ_VERSION_MINOR 1
#define TFMQ_VERSION_PATCH 0
#define TFMQ_VERSION_STRING "0.1.0"

#if defined(_WIN32) && defined(TFMQ_BUILDING_DLL)
#define TFMQ_API __declspec(dllexport)
#elif defined(__GNUC__)
#define TFMQ_API __attribute__((visibility("default")))
#else
#define TFMQ_API
#endif

#if defined(__GNUC__)
#define TFMQ_NODISCARD __attribute__((warn_unused_result))
#else
#define TFMQ_NODISCARD
#endif

/* ---------------------------------------------------------------------------------------------
 * Status and errors
 * ------------------------------------------------------------------------------------------- */

/** Result of every fallible call. Values are explicit and only ever appended. */
typedef enum tfmq_status {
    TFMQ_OK = 0,
    TFMQ_ERR_INVALID_ARG = 1,   /**< bad argument or bad input data (wrong name, shape, dtype) */
    TFMQ_ERR_OUT_OF_MEMORY = 2, /**< an allocation failed */
    TFMQ_ERR_IO = 3,            /**< a file could not be opened, read or written */
    TFMQ_ERR_PARSE = 4,         /**< a file is malformed (truncated, corrupt, inconsistent) */
    TFMQ_ERR_UNSUPPORTED = 5,   /**< valid input that tfmq does not support (op, dtype, attr) */
    TFMQ_ERR_BACKEND = 6,       /**< a backend library (CUDA, cuDNN, oneDNN) failed */
    TFMQ_ERR_INVALID_STATE = 7, /**< call not allowed in the object's current state */
    TFMQ_ERR_VERSION = 8,       /**< file written by a newer, incompatible version */
    TFMQ_ERR_INTERNAL = 9       /**< a bug in tfmq: please report it */
} tfmq_status;

/** Static, human-readable name of a status ("invalid argument", ...). Never NULL.
 *  Thread-safety: safe. */
TFMQ_API const char *tfmq_status_str(tfmq_status st);

/** Message written by the last call on this thread that failed ("" if none). The text stays valid
 *  until the next failing call on the same thread. Needs no allocation, so it survives OOM.
 *  Thread-safety: per thread. */
TFMQ_API const char *tfmq_last_error(void);

/** Library version as "MAJOR.MINOR.PATCH"; may differ from TFMQ_VERSION_STRING when a program
 *  runs against a newer shared library. Thread-safety: safe. */
TFMQ_API const char *tfmq_version(void);

/** Space-separated list of the backends compiled into this library, e.g. "cpu" or "cpu cuda".
 *  Thread-safety: safe. */
TFMQ_API const char *tfmq_backends(void);

/** How this process runs models on the CPU, e.g. "x86-64 avx512_bf16 (cpu: avx512_bf16),
 *  2 threads by default, oneDNN 2.6.3": the instruction-set level in use (TFMQ_CPU_ISA can lower
 *  it; "scalar" runs the reference kernels only), the default thread count of a session and the
 *  oneDNN version. The levels, lowest first: scalar, avx2, avx512, avx512_vnni, avx512_bf16, amx;
 *  each has what the ones before it have (so INT8 VNNI from avx512_vnni, BF16 units from
 *  avx512_bf16 up). Thread-safety: safe. */
TFMQ_API const char *tfmq_cpu_info(void);

/** Version of the compiled-engine file format this library writes (and the newest it reads).
 *  Thread-safety: safe. */
TFMQ_API uint32_t tfmq_engine_format_version(void);

/* ---------------------------------------------------------------------------------------------
 * Data types. The values are those of ONNX TensorProto.DataType, explicit and only appended.
 * ------------------------------------------------------------------------------------------- */
typedef enum tfmq_dtype {
    TFMQ_DTYPE_UNDEFINED = 0,
    TFMQ_DTYPE_FLOAT32 = 1,
    TFMQ_DTYPE_UINT8 = 2,
    TFMQ_DTYPE_INT8 = 3,
    TFMQ_DTYPE_UINT16 = 4,
    TFMQ_DTYPE_INT16 = 5,
    TFMQ_DTYPE_INT32 = 6,
    TFMQ_DTYPE_INT64 = 7,
    TFMQ_DTYPE_STRING = 8, /**< recognised so errors can name it; not supported as data */
    TFMQ_DTYPE_BOOL = 9,   /**< one byte per element, 0 or 1 */
    TFMQ_DTYPE_FLOAT16 = 10,
    TFMQ_DTYPE_FLOAT64 = 11,
    TFMQ_DTYPE_UINT32 = 12,
    TFMQ_DTYPE_UINT64 = 13,
    /* 14, 15: complex64, complex128 (not supported) */
    TFMQ_DTYPE_BFLOAT16 = 16
} tfmq_dtype;

/** Lower-case name of a dtype ("float32", "int64", ...) or "undefined". Thread-safety: safe. */
TFMQ_API const char *tfmq_dtype_name(tfmq_dtype dtype);

/** Size of one element in bytes, or 0 for an unknown or unsized dtype. Thread-safety: safe. */
TFMQ_API size_t tfmq_dtype_size(tfmq_dtype dtype);

/* ---------------------------------------------------------------------------------------------
 * Allocator and logging
 * ------------------------------------------------------------------------------------------- */

/** Optional user allocator. alloc returns memory aligned to `align` (a power of two, at most
 *  4096) or NULL; free receives the size given to alloc. */
typedef struct tfmq_allocator {
    void *user_data;
    void *(*alloc)(void *user_data, size_t n_bytes, size_t align);
    void (*free)(void *user_data, void *ptr, size_t n_bytes);
} tfmq_allocator;

/** Log levels for the optional log callback. */
typedef enum tfmq_log_level {
    TFMQ_LOG_ERROR = 0,
    TFMQ_LOG_WARN = 1,
    TFMQ_LOG_INFO = 2,
    TFMQ_LOG_DEBUG = 3
} tfmq_log_level;

/** Log callback: receives one line of text without a trailing newline. */
typedef void (*tfmq_log_fn)(void *user_data, tfmq_log_level level, const char *message);

/** Install a process-wide log callback (NULL removes it) and the most verbose level passed to
 *  it. The library never prints on its own. Thread-safety: call before other threads use tfmq. */
TFMQ_API void tfmq_set_log_callback(tfmq_log_fn fn, void *user_data, tfmq_log_level max_level);

/* ---------------------------------------------------------------------------------------------
 * Models
 * ------------------------------------------------------------------------------------------- */

/** A loaded, validated, immutable model. */
typedef struct tfmq_model tfmq_model;

/** Options for tfmq_model_load(). */
typedef struct tfmq_load_options {
    uint32_t struct_size;             /**< sizeof(tfmq_load_options) */
    const tfmq_allocator *allocator;  /**< NULL: the C library's allocator. Copied. */
    const char *signature;            /**< SavedModel signature; NULL: "serving_default" */
} tfmq_load_options;

/** Load a model from `path`. The format is detected from the content, not the file name: ONNX
 *  protobuf, Keras .h5 (HDF5) or .keras (zip), a tfmq engine (.tfmq), or, when `path` is a
 *  folder, a TensorFlow SavedModel. External tensor data files are resolved relative to the model's folder.
 *  The model is imported, validated and its shapes inferred with symbolic dimensions set to 1.
 *  @param path      [in, borrowed] file to read.
 *  @param opts      [in] may be NULL for defaults; opts->struct_size must be set.
 *  @param model_out [out] new model, free with tfmq_model_destroy(); NULL on failure.
 *  @return TFMQ_OK, or TFMQ_ERR_INVALID_ARG / _OUT_OF_MEMORY / _IO / _PARSE / _UNSUPPORTED.
 *  Thread-safety: safe. */
TFMQ_API TFMQ_NODISCARD tfmq_status tfmq_model_load(const char *path, const tfmq_load_options *opts,
                                                    tfmq_model **model_out);

/** Free a model. Every session created on it must have been destroyed. NULL does nothing. */
TFMQ_API void tfmq_model_destroy(tfmq_model *model);

/** Summary of a model, for inspection. Strings belong to the model. */
typedef struct tfmq_model_info {
    uint32_t struct_size;    /**< sizeof(tfmq_model_info), set by the caller */
    const char *format;      /**< "onnx" or "tfmq-engine" */
    const char *producer;    /**< producer name and version from the file, or "" */
    int64_t ir_version;      /**< format's IR version (ONNX ir_version) */
    int64_t opset;           /**< default-domain opset version */
    size_t n_inputs;         /**< graph inputs the caller must feed (initializers excluded) */
    size_t n_outputs;        /**< graph outputs */
    size_t n_nodes;          /**< nodes in the main graph (subgraphs not counted) */
    size_t n_op_types;       /**< distinct op types; see tfmq_model_op_type() */
    uint64_t n_params;       /**< elements in all initializers (weights) */
    uint64_t n_macs;         /**< multiply-accumulates of one inference, symbolic dims as 1 */
    const char *precision;   /**< "fp32", "fp16", "bf16", "int8" (quantized models) */
    const char *device;      /**< device class an engine was compiled for ("cpu", "cuda"), or "" */
    /** "cuda" engines: where their plans were made and how many, e.g. "NVIDIA H200, compute
     *  capability 9.0, cuDNN 91900: 22 convolution plans"; "" otherwise. */
    const char *planned_for;
} tfmq_model_info;

/** Fill `info_out` (whose struct_size the caller sets) with a summary of `model`.
 *  @return TFMQ_OK or TFMQ_ERR_INVALID_ARG. Thread-safety: safe. */
TFMQ_API TFMQ_NODISCARD tfmq_status tfmq_model_get_info(const tfmq_model *model,
                                                        tfmq_model_info *info_out);

/** The k-th distinct op type (0 <= k < n_op_types), in first-appearance order, and how many
 *  nodes of the main graph have it. @return TFMQ_OK or TFMQ_ERR_INVALID_ARG. */
TFMQ_API TFMQ_NODISCARD tfmq_status tfmq_model_op_type(const tfmq_model *model, size_t k,
                                                       const char **op_out, size_t *count_out);

/** Which side of the graph an I/O query is about. */
typedef enum tfmq_io_kind { TFMQ_IO_INPUT = 0, TFMQ_IO_OUTPUT = 1 } tfmq_io_kind;

/** Description of one graph input or output. Arrays and strings belong to the model.
 *  A dimension is either fixed (dims[i] >= 0, dim_names[i] == NULL) or symbolic
 *  (dims[i] == -1, dim_names[i] the symbol such as "batch", or "?" if the file names none). */
typedef struct tfmq_io_info {
    uint32_t struct_size;         /**< sizeof(tfmq_io_info), set by the caller */
    const char *name;
    tfmq_dtype dtype;
    int32_t rank;                 /**< -1 if the rank is unknown */
    const int64_t *dims;          /**< rank entries */
    const char *const *dim_names; /**< rank entries */
} tfmq_io_info;

/** Describe input or output `index` of `model`.
 *  @return TFMQ_OK or TFMQ_ERR_INVALID_ARG. Thread-safety: safe. */
TFMQ_API TFMQ_NODISCARD tfmq_status tfmq_model_io(const tfmq_model *model, tfmq_io_kind kind,
                                                  size_t index, tfmq_io_info *info_out);

/* ---------------------------------------------------------------------------------------------
 * Sessions
 * ------------------------------------------------------------------------------------------- */

/** An execution context: planned memory and per-run state for one model. */
typedef struct tfmq_session tfmq_session;

/** Options for tfmq_session_create(). */
typedef struct tfmq_session_options {
    uint32_t struct_size;            /**< sizeof(tfmq_session_options) */
    int32_t n_threads;               /**< 0: default. The reference backend uses one thread. */
    int64_t symbolic_dim_default;    /**< value planned for symbolic dims; 0 means 1 */
    const tfmq_allocator *allocator; /**< NULL: the model's allocator. Copied. */
    /** Where the session runs: NULL, "" or "cpu" for the CPU; "cuda" or "cuda:N" for CUDA
     *  device N (needs the CUDA backend, see tfmq_backends()). On cuda, float32 activations are
     *  kept in the model's precision: fp16 and bf16 models in that type, tf32 models in float32
     *  with TF32 tensor-core math, fp32 models in strict float32. Borrowed during the call. */
    const char *device;
    /** cuda: path of a plan cache file (docs/CUDA_BACKEND.md, "Plan cache"), which spares the
     *  session the autotuning of its convolutions. When the file exists and was written for
     *  this GPU and cuDNN version, each convolution it holds builds the recorded cuDNN plan
     *  instead of timing candidates (a plan that fails falls back to autotuning, with a
     *  warning); a file written elsewhere, or that does not parse, is ignored with a warning.
     *  Choices made by autotuning are added and the file is rewritten atomically after the
     *  session is planned (and after a re-plan for new input shapes); a failed write is a
     *  warning, not an error. NULL: the environment variable TFMQ_CUDA_PLAN_CACHE when set;
     *  "": no cache. Ignored on the CPU. Copied. */
    const char *plan_cache;
    /** TFMQ_SESSION_* flags; 0: none. */
    uint32_t flags;
} tfmq_session_options;

/** cuda: keep the kernel choices the session makes (in memory when no plan cache file is set),
 *  with cuDNN's serialized plans, for tfmq_model_save_planned(). Like a plan cache, it makes
 *  INT8 autotuning try the wider set of plans (docs/CUDA_BACKEND.md). */
#define TFMQ_SESSION_RECORD_PLANS 1u
/** cuda: a "cuda" engine whose plans were made on another GPU model, compute capability or
 *  cuDNN version is autotuned here (slow, with a warning) instead of being refused. */
#define TFMQ_SESSION_REBUILD 2u

/** Create a session for `model` and plan its memory for the model's input shapes, symbolic
 *  dimensions taking opts->symbolic_dim_default.
 *  @param model    [in, borrowed] must outlive the session.
 *  @param opts     [in] may be NULL for defaults; opts->struct_size must be set.
 *  @param sess_out [out] new session, free with tfmq_session_destroy(); NULL on failure.
 *  @return TFMQ_OK, or TFMQ_ERR_INVALID_ARG / _OUT_OF_MEMORY / _UNSUPPORTED / _BACKEND.
 *  Thread-safety: safe to call concurrently on the same model. */
TFMQ_API TFMQ_NODISCARD tfmq_status tfmq_session_create(const tfmq_model *model,
                                                        const tfmq_session_options *opts,
                                                        tfmq_session **sess_out);

/** Free a session. NULL does nothing. */
TFMQ_API void tfmq_session_destroy(tfmq_session *sess);

/** Where and how a session runs, for inspection and benchmarks. Strings belong to the session. */
typedef struct tfmq_session_info {
    uint32_t struct_size;  /**< sizeof(tfmq_session_info), set by the caller */
    const char *device;    /**< "cpu" or "cuda" */
    const char *device_name; /**< the GPU's name (cuda), or the CPU summary of tfmq_cpu_info() */
    size_t n_host_fallback;  /**< cuda: nodes no GPU kernel takes, run on the host (slow) */
    bool graph_replay;       /**< cuda: runs replay one captured CUDA graph */
    /** cuda with a plan cache (tfmq_session_options.plan_cache): convolutions planned from a
     *  cached choice, and convolutions autotuned (then recorded), over every planning of the
     *  session so far; depthwise convolutions, never tuned, count in neither. Both 0 without
     *  a cache. */
    size_t plan_cache_hits;
    size_t plan_cache_misses;
} tfmq_session_info;

/** Fill `info_out` (whose struct_size the caller sets).
 *  @return TFMQ_OK or TFMQ_ERR_INVALID_ARG. Thread-safety: as tfmq_session_run. */
TFMQ_API TFMQ_NODISCARD tfmq_status tfmq_session_get_info(const tfmq_session *sess,
                                                          tfmq_session_info *info_out);

/** A tensor buffer crossing the API: a name, an explicit dtype and shape, and plain memory.
 *  As a run input all fields are read. As a run output, `name` is read; if `data` is non-NULL
 *  the output is copied there (data_bytes must be large enough), otherwise `data` is set to
 *  memory owned by the session, valid until its next run or destruction. On return `dtype`,
 *  `rank`, `dims` (owned by the session) and `data_bytes` describe the result. */
typedef struct tfmq_tensor {
    const char *name;
    tfmq_dtype dtype;
    int32_t rank;
    const int64_t *dims; /**< rank entries, row-major (C order) */
    void *data;
    size_t data_bytes;
} tfmq_tensor;

/** Run the model once. Every graph input must be given exactly once; outputs are requested by
 *  name (any subset of the graph outputs, n_outputs may be 0).
 *  @param inputs  [in, borrowed] n_inputs tensors.
 *  @param outputs [in, out] n_outputs tensors; see tfmq_tensor.
 *  @return TFMQ_OK, or TFMQ_ERR_INVALID_ARG (unknown or missing name, wrong dtype, rank or
 *          shape, too small output buffer) / _OUT_OF_MEMORY / _UNSUPPORTED / _BACKEND.
 *  Thread-safety: one thread at a time per session. */
TFMQ_API TFMQ_NODISCARD tfmq_status tfmq_session_run(tfmq_session *sess, const tfmq_tensor *inputs,
                                                     size_t n_inputs, tfmq_tensor *outputs,
                                                     size_t n_outputs);


/* ---------------------------------------------------------------------------------------------
 * Quantization, engines and export
 *
 * tfmq_quantize() turns a loaded FP32 model into a model of the requested precision. For INT8
 * it calibrates activation ranges on the caller's data, quantizes weights per output channel
 * (symmetric int8) and activations per tensor (symmetric int8 by default), expressed as
 * QuantizeLinear/DequantizeLinear pairs in the graph, and measures fidelity against FP32. The
 * result is an ordinary tfmq_model: sessions run it (integer kernels where they apply),
 * tfmq_model_save() writes it as a self-contained engine file (.tfmq) that tfmq_model_load()
 * reads back, and tfmq_model_export_onnx() writes it as a QDQ ONNX model for other runtimes.
 * ------------------------------------------------------------------------------------------- */

/** Numeric precision of a quantized model. Values are explicit and only ever appended. */
typedef enum tfmq_precision {
    TFMQ_PRECISION_FP32 = 0,
    TFMQ_PRECISION_TF32 = 1, /**< recorded for the CUDA backend; FP32 on the CPU */
    TFMQ_PRECISION_FP16 = 2,
    TFMQ_PRECISION_BF16 = 3,
    TFMQ_PRECISION_INT8 = 4
} tfmq_precision;

/** Name of a precision ("fp32", "int8", ...). Thread-safety: safe. */
TFMQ_API const char *tfmq_precision_name(tfmq_precision p);

/** How activation ranges are chosen from calibration data. */
typedef enum tfmq_calib_method {
    TFMQ_CALIB_MINMAX = 0,     /**< the observed range */
    TFMQ_CALIB_ENTROPY = 1,    /**< minimum KL divergence over a histogram (TensorRT's method) */
    TFMQ_CALIB_PERCENTILE = 2, /**< a percentile of |x| (default 99.999) */
    TFMQ_CALIB_MSE = 3         /**< minimum quantization mean squared error */
} tfmq_calib_method;

/** Name of a calibration method ("minmax", "entropy", ...). Thread-safety: safe. */
TFMQ_API const char *tfmq_calib_method_name(tfmq_calib_method m);

/** A data source for calibration and evaluation: one call yields one batch. The library may
 *  iterate the data more than once, each time starting again at batch_index 0. The library sets
 *  n_inputs to the model's input count and each inputs[i].name to the model's input name; the
 *  callback fills dtype, rank, dims, data and data_bytes with buffers it owns, valid until its
 *  next call. It sets *done to true (returning TFMQ_OK) when there is no more data; it may
 *  return an error status, which aborts the operation. */
typedef tfmq_status (*tfmq_batch_fn)(void *user_data, size_t batch_index, tfmq_tensor *inputs,
                                     size_t n_inputs, bool *done);

/** Progress callback: `done` of `total` steps of the stage named by `stage` (total may be 0 when
 *  unknown). */
typedef void (*tfmq_progress_fn)(void *user_data, const char *stage, uint64_t done,
                                 uint64_t total);

/** Options for tfmq_quantize(). Zero-initialise, set struct_size, then the fields you need. */
typedef struct tfmq_quantize_options {
    uint32_t struct_size;          /**< sizeof(tfmq_quantize_options) */
    tfmq_precision precision;
    tfmq_calib_method calib_method;
    double percentile;             /**< for TFMQ_CALIB_PERCENTILE; 0 means 99.999 */
    bool asymmetric_activations;   /**< uint8 activations with zero points (default: int8) */
    uint64_t max_calib_samples;    /**< cap on calibration samples; 0: all the data yields */
    tfmq_batch_fn calib_fn;        /**< calibration data (required for INT8) */
    void *calib_user_data;
    tfmq_batch_fn eval_fn;         /**< evaluation data for the fidelity report; NULL: calib */
    void *eval_user_data;
    uint64_t max_eval_samples;     /**< 0: all */
    const char *tolerance;         /**< "top1=0.99" or "sqnr=30"; NULL: no automatic fallback */
    const char *calib_cache_path;  /**< read when it matches the model, else written; NULL */
    tfmq_progress_fn progress;     /**< NULL: none */
    void *progress_user_data;
    /** INT8: empirical bias correction (Nagel et al. 2019). For every quantized Conv/Gemm with a
     *  bias, the mean per-output-channel error its int8 weights cause (measured on the
     *  calibration data: the layer with FP32 and with quantized weights on the same FP32 inputs,
     *  averaged over batch and spatial positions) is subtracted from its bias before the bias is
     *  quantized. Costs one more pass over the calibration data. Needs calib_fn. Default false. */
    bool bias_correction;
} tfmq_quantize_options;

/** A fidelity report (what quantization cost, layer by layer). */
typedef struct tfmq_report tfmq_report;

/** Quantize `model` to opts->precision.
 *  @param model         [in, borrowed] an FP32 model (not itself quantized).
 *  @param opts          [in] required; opts->struct_size must be set.
 *  @param quantized_out [out] new model; free with tfmq_model_destroy(). NULL on failure.
 *  @param report_out    [out, optional] fidelity report; free with tfmq_report_destroy().
 *  @return TFMQ_OK, or TFMQ_ERR_INVALID_ARG / _OUT_OF_MEMORY / _IO / _PARSE / _UNSUPPORTED.
 *  Thread-safety: safe to call concurrently on the same model. */
TFMQ_API TFMQ_NODISCARD tfmq_status tfmq_quantize(const tfmq_model *model,
                                                  const tfmq_quantize_options *opts,
                                                  tfmq_model **quantized_out,
                                                  tfmq_report **report_out);

/** Compare `candidate` against `reference` (same inputs and outputs) on the data `data_fn`
 *  yields (at most max_samples samples; 0: all), and build a fidelity report.
 *  @return TFMQ_OK, or TFMQ_ERR_INVALID_ARG / _OUT_OF_MEMORY / _UNSUPPORTED. */
TFMQ_API TFMQ_NODISCARD tfmq_status tfmq_compare(const tfmq_model *reference,
                                                 const tfmq_model *candidate,
                                                 tfmq_batch_fn data_fn, void *user_data,
                                                 uint64_t max_samples, tfmq_report **report_out);

/** The report as JSON (owned by the report). Keys: precision, calibration.method,
 *  calibration.samples, calibration.device ("cpu", "cuda:N", or "cache" when the ranges came
 *  from a calibration cache), fidelity.top1_agreement, fidelity.top5_agreement,
 *  fidelity.output_sqnr_db, fidelity.max_abs_error, fidelity.mean_abs_error, fidelity.layers[]
 *  (name, op, sqnr_db, cosine, precision), float_layers[], fallback_layers[] (name, reason). */
TFMQ_API const char *tfmq_report_json(const tfmq_report *report);

/** The report as a human-readable table (owned by the report). */
TFMQ_API const char *tfmq_report_text(const tfmq_report *report);

/** Free a report. NULL does nothing. */
TFMQ_API void tfmq_report_destroy(tfmq_report *report);

/** Flags for writing files. */
#define TFMQ_WRITE_OVERWRITE 1u /**< replace an existing file (otherwise TFMQ_ERR_IO) */

/** Write `model` as a self-contained engine file (graph, quantization parameters, weights in
 *  their final types; versioned, checksummed, 64-byte-aligned tensor data). The file is written
 *  to a temporary file in the same folder, fsynced and renamed, so `path` holds either its old
 *  content or the complete new file. tfmq_model_load() reads engines back.
 *  @return TFMQ_OK, or TFMQ_ERR_INVALID_ARG / _OUT_OF_MEMORY / _IO. Thread-safety: safe. */
TFMQ_API TFMQ_NODISCARD tfmq_status tfmq_model_save(const tfmq_model *model, const char *path,
                                                    uint32_t flags);

/** Write `model` as tfmq_model_save() does, as a "cuda" engine carrying the kernel choices its
 *  sessions made: every session in `sessions` (n_sessions >= 1) was created from `model` on one
 *  GPU with TFMQ_SESSION_RECORD_PLANS (or a plan cache file), e.g. one per batch size to serve.
 *  The file records the GPU's name, compute capability and cuDNN version with the chosen cuDNN
 *  engines, knobs and (where cuDNN serializes them) compiled plans; a cuda session made from it
 *  on the same GPU model, compute capability and cuDNN version builds those plans without
 *  autotuning, and on another one is refused with a message saying why (unless
 *  TFMQ_SESSION_REBUILD). CPU sessions run such an engine as any other.
 *  @return TFMQ_OK, or TFMQ_ERR_INVALID_ARG (a session of another model, not on cuda, not
 *  recording, or on another GPU) / _OUT_OF_MEMORY / _IO / _UNSUPPORTED (no CUDA backend). */
TFMQ_API TFMQ_NODISCARD tfmq_status tfmq_model_save_planned(const tfmq_model *model,
                                                            tfmq_session *const *sessions,
                                                            size_t n_sessions, const char *path,
                                                            uint32_t flags);

/** Write `model` as an ONNX model (QDQ for INT8: int8 weights per output channel, zero points 0,
 *  as TensorRT's explicit quantization expects), atomically as tfmq_model_save().
 *  @return TFMQ_OK, or TFMQ_ERR_INVALID_ARG / _OUT_OF_MEMORY / _IO / _UNSUPPORTED. */
TFMQ_API TFMQ_NODISCARD tfmq_status tfmq_model_export_onnx(const tfmq_model *model,
                                                           const char *path, uint32_t flags);

#ifdef __cplusplus
}
#endif
#endif /* TFMQ_H */
