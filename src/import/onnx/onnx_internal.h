/* onnx_internal.h: pieces shared by the files of the ONNX importer (not used outside
 * src/import/onnx/): the protobuf-c allocator bridge, the wire-format pre-check that bounds
 * nesting before protobuf-c recurses, and TensorProto -> tensor data conversion. */
#ifndef TQ_ONNX_INTERNAL_H
#define TQ_ONNX_INTERNAL_H

#include "import/onnx/onnx_import.h"
#include "onnx.pb-c.h"

/* Deepest message nesting accepted in a file. ONNX needs 3 levels per subgraph (graph, node,
 * attribute) plus a handful for types; TQ_MAX_GRAPH_DEPTH subgraphs fit easily. protobuf-c
 * unpacks recursively without a limit of its own, so this is what protects the stack. */
#define TQ_ONNX_MAX_MSG_DEPTH 100
/* Most protobuf messages one file may hold (bounds protobuf-c's memory per input byte). */
#define TQ_ONNX_MAX_MESSAGES ((size_t)1 << 24)

/* ---- protobuf-c allocation through a tfmq_allocator (onnx_pb.c) ---- */
typedef struct tq_onnx_pb_alloc {
    ProtobufCAllocator pb;       /* pass &x.pb to protobuf-c */
    const tfmq_allocator *alloc;
    bool oom;                    /* set when an allocation failed */
} tq_onnx_pb_alloc;

void tq_onnx_pb_alloc_init(tq_onnx_pb_alloc *pa, const tfmq_allocator *alloc);

/* Walk serialized message bytes against `desc` without allocating: checks the wire format,
 * nesting depth and message count. On failure sets an "onnx: ..." message (what names the
 * input, e.g. "model") and returns TFMQ_ERR_PARSE or TFMQ_ERR_UNSUPPORTED. */
tfmq_status tq_onnx_wire_check(const ProtobufCMessageDescriptor *desc, const void *data,
                               size_t n_bytes, const char *what);

/* ---- tensors (onnx_tensor.c) ---- */
/* Destination of tensor data: returns `bytes` of TQ_ALIGN-aligned memory, or NULL. */
typedef void *(*tq_onnx_data_alloc_fn)(void *user, size_t bytes);

/* Map an ONNX elem_type to a tfmq dtype usable as data. Returns false for undefined, string,
 * complex and unknown types. */
bool tq_onnx_dtype(int32_t elem_type, tfmq_dtype *dt_out);
/* Name of an ONNX elem_type for messages ("float32", "string", "complex64", "type 17"). */
const char *tq_onnx_dtype_name(int32_t elem_type, char *buf, size_t buf_size);

/* Convert a TensorProto into t_out (dtype, rank, dims, data) with data from alloc_fn.
 * `what` names the tensor in messages ("initializer 'w'"). `base_path` is the file whose folder
 * external data is relative to (NULL: external data refused). */
tfmq_status tq_onnx_tensor_convert(const Onnx__TensorProto *tp, const char *what,
                                   const char *base_path, tq_onnx_data_alloc_fn alloc_fn,
                                   void *alloc_user, tq_tensor *t_out, size_t *bytes_out);

#endif
