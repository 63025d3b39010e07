/* format.h: the compiled-engine file format (.tfmq), byte by byte. docs/FORMAT.md says the same
 * in prose. Shared by writer.c and reader.c.
 *
 * All integers are little-endian and fixed width; floats are IEEE-754 binary32 bit patterns
 * stored as u32. Offsets are in bytes. A "str" is a u32 byte length followed by that many bytes
 * (UTF-8, no NUL); the length 0xFFFFFFFF means "no string" (NULL) and has no bytes.
 *
 * HEADER (TQ_ENG_HEADER_BYTES = 64 bytes at offset 0)
 *    0  u8[4]   magic "TFMQ"
 *    4  u16     major format version (TQ_ENGINE_FORMAT_VERSION); readers refuse a newer major
 *               with TFMQ_ERR_VERSION before reading anything else
 *    6  u16     minor format version (additions a reader of the same major may ignore)
 *    8  u32     header_bytes: size of this header (>= 64; the section table follows it)
 *   12  u32     crc: CRC-32C (Castagnoli, tq_crc32c) of every byte of the file except these 4,
 *               i.e. of bytes [0, 12) followed by bytes [16, file_bytes). Any single changed byte
 *               is detected (CRC-32C detects every burst of up to 32 bits).
 *   16  u64     file_bytes: the size of the whole file (a shorter file is "truncated")
 *   24  u32     n_sections (1..TQ_ENG_MAX_SECTIONS)
 *   28  u32     reserved, 0
 *   32  u8[16]  device class, NUL-padded ASCII ("cpu", or "cuda" for an engine planned on a GPU)
 *   48  u8[16]  precision, NUL-padded ASCII ("fp32", "int8", ...)
 *
 * SECTION TABLE at offset header_bytes: n_sections entries of 24 bytes
 *    0  u32     kind (TQ_ENG_SEC_*); a reader ignores kinds it does not know
 *    4  u32     reserved, 0
 *    8  u64     offset of the section from the file start
 *   16  u64     size of the section in bytes; [offset, offset + size) lies inside the file
 * META, GRAPH and DATA must each appear exactly once, PLANS at most once (exactly once in a "cuda"
 * engine). The writer places them in the order META, GRAPH, [PLANS,] DATA after the table; DATA
 * starts at a multiple of 64.
 *
 * META section
 *   i64 ir_version   (of the source ONNX model)
 *   i64 opset        (default-domain opset)
 *   u32 source_hash  (CRC-32C of the source model file, for calibration caches)
 *   str producer     str precision   str device   (the last two equal the header's)
 *
 * GRAPH section: one graph record (the main graph), which nests subgraphs recursively
 *   graph:  str name; i64 opset;
 *           u32 n_values;  value[n_values]
 *           u32 n_inputs;  i32 value index[n_inputs]      (caller-fed inputs, in order)
 *           u32 n_outputs; i32 value index[n_outputs]
 *           u32 n_nodes;   node[n_nodes]                  (topological order)
 *   value:  str name; u32 flags (TQ_VALUE_CONST | TQ_VALUE_OUTER; other bits must be 0);
 *           i32 dtype (tfmq_dtype, ONNX numbering); i32 rank (-1 unknown, else 0..TQ_MAX_RANK);
 *           i64 dims[rank] (-1 unknown); str dim_names[rank] (NULL when none);
 *           u64 data_offset; u64 data_bytes   (both 0 unless CONST; see DATA)
 *   node:   str op (the op's name in ops.def, internal "tfmq.*" ops included); str name;
 *           u32 n_in;  i32 in[n_in]   (value index, -1 = absent)
 *           u32 n_out; i32 out[n_out] (value index, -1 = absent)
 *           u32 n_attrs; attr[n_attrs]
 *   attr:   str name; u32 type (tq_attr_type = ONNX AttributeType); then by type:
 *           FLOAT f32 | INT i64 | STRING str | TENSOR tensor | GRAPH graph |
 *           FLOATS u32 n, f32[n] | INTS u32 n, i64[n] | STRINGS u32 n, str[n]
 *   tensor: i32 dtype; i32 rank (0..TQ_MAX_RANK); i64 dims[rank] (>= 0);
 *           u64 data_offset; u64 data_bytes
 *
 * DATA section: the bytes of every constant and tensor attribute, in the dtype's little-endian
 * layout (bool one byte). data_offset is relative to the start of the DATA section and is a
 * multiple of 64, so with DATA itself 64-byte aligned every tensor is 64-byte aligned in the file
 * and in the read-only mapping the reader points constants into (no copy). data_bytes equals
 * dtype size * element count, and [data_offset, data_offset + data_bytes) lies inside DATA.
 * Gaps between tensors are zero.
 *
 * PLANS section (minor version 1; "cuda" engines): the kernel choices autotuning made for this
 * graph on one GPU, as backends/cuda/plan_cache.h describes the payload: a plan cache text whose
 * header names the GPU, compute capability and cuDNN version, then cuDNN's serialized plans. A
 * session on that device builds those plans instead of autotuning; on another it is refused
 * unless asked to rebuild. The reader checks only that the section lies inside the file; the
 * CUDA backend checks its contents when a session uses it. */
#ifndef TQ_ENGINE_FORMAT_H
#define TQ_ENGINE_FORMAT_H

#include <stdint.h>

/* Version of the compiled-engine (.tfmq) file format: readers refuse files of a newer major
 * version (TFMQ_ERR_VERSION). tfmq_engine_format_version() returns the major. */
#define TQ_ENGINE_FORMAT_VERSION 1u
#define TQ_ENGINE_FORMAT_MINOR 1u

#define TQ_ENG_MAGIC "TFMQ"
#define TQ_ENG_HEADER_BYTES 64u
#define TQ_ENG_SECTION_ENTRY_BYTES 24u
#define TQ_ENG_MAX_SECTIONS 64u
#define TQ_ENG_NAME_FIELD 16u /* device and precision fields of the header */
#define TQ_ENG_CRC_OFFSET 12u
#define TQ_ENG_DATA_ALIGN 64u
#define TQ_ENG_NO_STRING 0xFFFFFFFFu

/* Header field offsets */
#define TQ_ENG_OFF_MAJOR 4u
#define TQ_ENG_OFF_MINOR 6u
#define TQ_ENG_OFF_HEADER_BYTES 8u
#define TQ_ENG_OFF_FILE_BYTES 16u
#define TQ_ENG_OFF_N_SECTIONS 24u
#define TQ_ENG_OFF_RESERVED 28u
#define TQ_ENG_OFF_DEVICE 32u
#define TQ_ENG_OFF_PRECISION 48u

/* Section kinds; values are stored in files and only ever appended. */
enum {
    TQ_ENG_SEC_META = 1,
    TQ_ENG_SEC_GRAPH = 2,
    TQ_ENG_SEC_DATA = 3,
    TQ_ENG_SEC_PLANS = 4 /* minor 1 */
};

#endif
