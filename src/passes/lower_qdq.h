/* lower_qdq.h: lowering of QDQ patterns onto the exact integer kernels (tfmq.QConv, tfmq.QGemm,
 * tfmq.QAdd, MaxPool on int8/uint8). See lower_qdq.c for the patterns and docs/QUANTIZATION.md
 * for the numerics. */
#ifndef TQ_LOWER_QDQ_H
#define TQ_LOWER_QDQ_H

#include "ir/ir.h"

/* One compute node of the graph as the pass saw it. */
typedef struct tq_lower_qdq_item {
    const char *node;   /* node label (name, or "<Op>#i"), in the graph's arena */
    uint32_t op;        /* its op before lowering (enum tq_op) */
    bool lowered;       /* true: now runs as new_op in integer */
    uint32_t new_op;    /* TQ_OP_QCONV / QGEMM / QADD / MAX_POOL when lowered */
    const char *reason; /* static text: why it stayed float ("" when lowered) */
} tq_lower_qdq_item;

/* Rewrite every DQ -> op -> [Relu|Clip] -> Q pattern of g whose quantisation parameters are
 * constants into one integer node writing the Q's output value; nodes whose outputs become
 * unused are removed and the graph is compacted (re-finalized). Anything that does not match
 * stays float between its DQ and Q nodes. *changed (may be NULL) tells whether g changed.
 * items (may be NULL) receives up to cap entries, one per compute node (every node that is not
 * a QuantizeLinear / DequantizeLinear), lowered or not; *n_items_out (may be NULL) gets the full
 * count, which may exceed cap. Statuses: TFMQ_OK, _OUT_OF_MEMORY, _INVALID_ARG / _INTERNAL from
 * re-finalizing. On failure g may be partly rewritten but stays valid only if the status is
 * not _OUT_OF_MEMORY from compaction: callers run passes on a clone. */
tfmq_status tq_pass_lower_qdq_report(tq_graph *g, tq_lower_qdq_item *items, size_t cap,
                                     size_t *n_items_out, bool *changed);

/* The same without the report. */
tfmq_status tq_pass_lower_qdq(tq_graph *g, bool *changed);

#endif
