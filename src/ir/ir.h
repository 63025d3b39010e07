/* ir.h: the intermediate representation every importer produces and every later stage reads.
 * A graph is a list of values (tensors: graph inputs, initializers, node outputs) and a list of
 * nodes in topological order, referring to values by index. Nodes, attributes and strings live in
 * the model's arena; initializer data is allocated separately, 64-byte aligned, and owned by the
 * graph. Values carry ONNX semantics: dtypes use ONNX numbering, ops follow the ONNX spec. */
#ifndef TQ_IR_H
#define TQ_IR_H

#include "core/core.h"

/* ---- ops (from ops.def) ---- */
enum tq_op {
#define TQ_OP(id, name, imin, imax, omin, omax, stem) TQ_OP_##id,
#include "ir/ops.def"
#undef TQ_OP
    TQ_OP_COUNT_
};

typedef struct tq_op_info {
    const char *name; /* ONNX op type */
    int32_t in_min, in_max, out_min, out_max;
} tq_op_info;

extern const tq_op_info tq_op_table[TQ_OP_COUNT_];
/* Look up an ONNX (default domain) op type; returns false if unknown. Internal ops, whose names
 * start with "tfmq." (fused and integer ops made by passes), are not found by this function. */
bool tq_op_from_name(const char *name, uint32_t *op_out);
/* The same, internal ops included (engine files store internal ops by name). */
bool tq_op_from_name_internal(const char *name, uint32_t *op_out);

/* ---- a concrete tensor: what kernels see ---- */
typedef struct tq_tensor {
    tfmq_dtype dtype;
    int32_t rank;              /* -1: unknown (only during shape inference) */
    int64_t dims[TQ_MAX_RANK]; /* -1: unknown (only during shape inference) */
    void *data;                /* NULL when not known (shape inference at plan time) */
} tq_tensor;

/* Elements of a fully known shape (1 for rank 0). Caller ensures dims are known and valid. */
size_t tq_tensor_numel(const tq_tensor *t);
/* True when rank and every dim are known. */
bool tq_tensor_shape_known(const tq_tensor *t);
/* Bytes of t's data, checked against overflow and TQ_MAX_TENSOR_BYTES; false if too large. */
bool tq_tensor_bytes(const tq_tensor *t, size_t *bytes_out);
/* Format a shape like "[1,3,224,224]" into buf. */
const char *tq_shape_str(const tq_tensor *t, char *buf, size_t buf_size);

/* ---- graph ---- */
enum {
    TQ_VALUE_INPUT = 1u << 0,  /* graph input fed by the caller */
    TQ_VALUE_OUTPUT = 1u << 1, /* graph output */
    TQ_VALUE_CONST = 1u << 2,  /* initializer or Constant node: data is set */
    TQ_VALUE_OUTER = 1u << 3   /* subgraph value that refers to an enclosing graph's value */
};

typedef struct tq_value {
    const char *name;
    tq_tensor t;                          /* dtype, rank and dims as known at import time;
                                             t.data set for constants */
    const char *dim_names[TQ_MAX_RANK];   /* symbolic dim names (graph inputs/outputs) or NULL */
    size_t data_bytes;                    /* bytes at t.data (constants) */
    int32_t producer;                     /* index of the producing node, or -1 */
    uint32_t flags;                       /* TQ_VALUE_* */
} tq_value;

/* Attribute types use ONNX AttributeProto.AttributeType numbering. */
typedef enum tq_attr_type {
    TQ_ATTR_FLOAT = 1,
    TQ_ATTR_INT = 2,
    TQ_ATTR_STRING = 3,
    TQ_ATTR_TENSOR = 4,
    TQ_ATTR_GRAPH = 5,
    TQ_ATTR_FLOATS = 6,
    TQ_ATTR_INTS = 7,
    TQ_ATTR_STRINGS = 8
} tq_attr_type;

struct tq_graph;

typedef struct tq_attr {
    const char *name;
    tq_attr_type type;
    float f;
    int64_t i;
    const char *s;             /* NUL-terminated (ONNX strings used as attributes are text) */
    const float *floats;       /* n entries */
    const int64_t *ints;       /* n entries */
    const char *const *strings;/* n entries */
    size_t n;
    const tq_tensor *tensor;   /* TQ_ATTR_TENSOR; data owned by the graph */
    struct tq_graph *graph;    /* TQ_ATTR_GRAPH */
} tq_attr;

typedef struct tq_node {
    uint32_t op;               /* enum tq_op */
    const char *name;          /* node name from the file, or "" */
    int32_t n_in, n_out;
    int32_t *in;               /* value indices; -1 = absent optional input */
    int32_t *out;              /* value indices; -1 = absent optional output */
    int32_t n_attrs;
    tq_attr *attrs;
} tq_node;

typedef struct tq_graph {
    tq_arena *arena;           /* the model's arena, shared with subgraphs */
    const tfmq_allocator *alloc;
    const char *name;
    tq_value *values;
    size_t n_values, cap_values;
    tq_node *nodes;
    size_t n_nodes, cap_nodes;
    int32_t *inputs;           /* caller-fed inputs (TQ_VALUE_INPUT), in file order */
    size_t n_inputs;
    int32_t *outputs;
    size_t n_outputs;
    struct tq_graph *parent;   /* enclosing graph of a subgraph, or NULL */
    int32_t depth;             /* 0 for the main graph */
    int64_t opset;             /* default-domain opset */
    /* const data blocks owned by this graph, freed by tq_graph_destroy */
    void **blocks;
    size_t *block_bytes;
    size_t n_blocks, cap_blocks;
    /* subgraphs created with tq_graph_create_sub, destroyed with this graph */
    struct tq_graph **subs;
    size_t n_subs, cap_subs;
} tq_graph;

/* Create an empty main graph using `arena` for its objects. */
tfmq_status tq_graph_create(tq_arena *arena, const tfmq_allocator *alloc, tq_graph **g_out);
/* Create a subgraph of `parent` (If/Loop body); it is freed with the parent. */
tfmq_status tq_graph_create_sub(tq_graph *parent, const char *name, tq_graph **g_out);
void tq_graph_destroy(tq_graph *g);

/* Add a value; returns its index in *idx_out. `name` is copied. Names need not be unique across
 * graph levels but must be unique within one graph (checked by tq_graph_find_value users). */
tfmq_status tq_graph_add_value(tq_graph *g, const char *name, int32_t *idx_out);
/* Index of the value named `name` in g (not its parents), or -1. Linear; importers index. */
int32_t tq_graph_find_value(const tq_graph *g, const char *name);
/* Allocate `bytes` of 64-byte-aligned constant storage owned by the graph. */
void *tq_graph_alloc_data(tq_graph *g, size_t bytes);
/* Add a node with room for n_in inputs, n_out outputs and n_attrs attributes (filled by the
 * caller; inputs and outputs start at -1). */
tfmq_status tq_graph_add_node(tq_graph *g, uint32_t op, const char *name, int32_t n_in,
                              int32_t n_out, int32_t n_attrs, int32_t *idx_out);
/* Mark inputs/outputs; arrays are copied. */
tfmq_status tq_graph_set_io(tq_graph *g, const int32_t *inputs, size_t n_inputs,
                            const int32_t *outputs, size_t n_outputs);
/* Validate references, set producers, sort nodes topologically (error on cycles and on values
 * used before any producer), check node arity against ops.def. Recurses into subgraphs. */
tfmq_status tq_graph_finalize(tq_graph *g);
/* Name of node i for messages: its name, or "<OpType>#i" when it has none. */
const char *tq_node_label(const tq_graph *g, const tq_node *n, char *buf, size_t buf_size);

/* ---- attributes: lookup with type checking. A wrong type is TFMQ_ERR_INVALID_ARG with the
 * node named. Missing attributes give the default. ---- */
const tq_attr *tq_node_attr(const tq_node *n, const char *name);
tfmq_status tq_attr_int(const tq_node *n, const char *name, int64_t dflt, int64_t *out);
tfmq_status tq_attr_float(const tq_node *n, const char *name, float dflt, float *out);
tfmq_status tq_attr_string(const tq_node *n, const char *name, const char *dflt,
                           const char **out);
/* *out NULL and *n_out 0 when missing. */
tfmq_status tq_attr_ints(const tq_node *n, const char *name, const int64_t **out, size_t *n_out);
tfmq_status tq_attr_floats(const tq_node *n, const char *name, const float **out,
                           size_t *n_out);

/* ---- per-op context: shape inference and kernels ---- */
struct tq_exec;

/* One context type serves both shape inference and execution.
 * Inference (tq_infer_<stem>): in[i] has dtype and shape (rank/dims may be -1 when unknown at
 * plan time); in[i]->data is non-NULL only when the value is known (constant, folded, or at run
 * time). The function validates attributes and input dtypes/ranks and sets out[i]->dtype, rank
 * and dims; it leaves rank -1 or a dim -1 when the output shape depends on unknown data. It may
 * set scratch_bytes to the temporary memory the kernel needs. It must not write out[i]->data.
 * Execution (tq_ref_<stem>): every in[i] is fully known with data; out[i] has the inferred shape
 * and a buffer of exactly that size; scratch points to scratch_bytes of memory. Kernels of ops
 * whose output shape is only known after running (If, Loop) size their outputs with
 * tq_exec_resize_output(). Optional inputs that are absent are NULL; absent optional outputs too.
 * Both return TFMQ_OK or a status set with tq_op_fail(). */
typedef struct tq_op_ctx {
    const tq_graph *graph;
    const tq_node *node;
    int32_t n_in, n_out;
    const tq_tensor *in[TQ_MAX_IO];
    tq_tensor *out[TQ_MAX_IO];
    int64_t opset;             /* default-domain opset of the model */
    size_t scratch_bytes;
    void *scratch;
    struct tq_exec *exec;      /* execution only: the running graph (for subgraphs) */
    int32_t node_index;
} tq_op_ctx;

/* Fail with a message prefixed by the node's label and op type, e.g.
 * "node 'conv1' (Conv): kernel_shape has 3 entries, expected 2". */
tfmq_status tq_op_fail(const tq_op_ctx *ctx, tfmq_status st, const char *fmt, ...)
    TQ_PRINTF(3, 4);

/* Broadcast shapes a and b (numpy rules) into out; unknown dims propagate as -1. */
tfmq_status tq_broadcast_shape(const tq_op_ctx *ctx, const tq_tensor *a, const tq_tensor *b,
                               tq_tensor *out);
/* Normalise a possibly negative axis into [0, rank) (or [0, rank] if allow_end). */
tfmq_status tq_norm_axis(const tq_op_ctx *ctx, int64_t axis, int32_t rank, bool allow_end,
                         int32_t *axis_out);
/* Read an int64/int32 1-D (or scalar) tensor's values into dst (at most cap); returns count. */
tfmq_status tq_read_ints(const tq_op_ctx *ctx, const tq_tensor *t, int64_t *dst, size_t cap,
                         size_t *n_out);

typedef tfmq_status (*tq_op_fn)(tq_op_ctx *ctx);

/* Declarations of every stem's functions, generated from ops.def. */
#define TQ_OP(id, name, imin, imax, omin, omax, stem)                                          \
    tfmq_status tq_infer_##stem(tq_op_ctx *ctx);                                              \
    tfmq_status tq_ref_##stem(tq_op_ctx *ctx);
#include "ir/ops.def"
#undef TQ_OP

extern const tq_op_fn tq_infer_table[TQ_OP_COUNT_];
extern const tq_op_fn tq_ref_table[TQ_OP_COUNT_];

/* ---- services the executor offers to kernels of control-flow ops (runtime/exec.c) ---- */
/* Give output k of the running node the shape (rank, dims) and dtype, (re)allocating its buffer
 * if needed; out[k]->data is valid afterwards. */
tfmq_status tq_exec_resize_output(tq_op_ctx *ctx, int32_t k, tfmq_dtype dtype, int32_t rank,
                                  const int64_t *dims);
/* Run subgraph `sub` (an attribute graph of the running node) with the given inputs (one per
 * subgraph input, in order). On success outs[i] points at the subgraph's i-th output, valid
 * until the next run of the same subgraph from this node. */
tfmq_status tq_exec_run_subgraph(tq_op_ctx *ctx, const tq_graph *sub, const tq_tensor *const *ins,
                                 size_t n_ins, const tq_tensor **outs, size_t n_outs);

#endif
