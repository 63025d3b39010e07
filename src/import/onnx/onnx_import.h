/* onnx_import.h: ONNX protobuf -> IR. The only place in tfmq that knows the ONNX file format.
 * Parsing goes through protobuf-c code generated at build time from the system's onnx.proto.
 * Every malformed input is a status with a message naming the file, node and problem. */
#ifndef TQ_ONNX_IMPORT_H
#define TQ_ONNX_IMPORT_H

#include "ir/ir.h"

/* Facts about the file that the IR does not carry. Strings live in the arena. */
typedef struct tq_onnx_meta {
    int64_t ir_version;
    int64_t opset;          /* default-domain ("" / "ai.onnx") opset */
    const char *producer;   /* "name version", or "" */
} tq_onnx_meta;

/* True if the bytes look like a serialized ONNX ModelProto (content sniffing, not the name). */
bool tq_onnx_sniff(const void *data, size_t n_bytes);

/* Import a serialized ModelProto.
 *  path:     the model file, used in messages and to resolve external data (relative to its
 *            folder); external data must stay inside that folder.
 *  arena:    receives the IR objects (nodes, names, attributes).
 *  g_out:    the main graph, finalized (topologically sorted, references checked). Subgraphs of
 *            If/Loop are attached. Initializers and Constant nodes become TQ_VALUE_CONST values
 *            whose data the graph owns. Graph inputs that have an initializer are constants.
 *            Value shapes from the file (inputs, outputs, value_info) are set where given, with
 *            symbolic dims as -1 and their names in dim_names. */
tfmq_status tq_import_onnx(const void *data, size_t n_bytes, const char *path, tq_arena *arena,
                           const tfmq_allocator *alloc, tq_onnx_meta *meta_out,
                           tq_graph **g_out);

/* Read a file holding one serialized TensorProto (the conformance suite's input_*.pb and
 * output_*.pb). On success t_out describes the tensor, *data_out is a tq_alloc_aligned block of
 * *bytes_out bytes owned by the caller (free with tq_free_aligned), and name_out (if not NULL)
 * receives the tensor's name copied into name_buf. */
tfmq_status tq_onnx_read_tensor_file(const char *path, const tfmq_allocator *alloc,
                                     tq_tensor *t_out, void **data_out, size_t *bytes_out,
                                     char *name_buf, size_t name_buf_size);

#endif
