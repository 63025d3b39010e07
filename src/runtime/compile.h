/* compile.h: turn a model graph into the graph a session executes on the CPU: a clone that shares
 * the model's constant data, with QDQ patterns lowered onto integer kernels (passes/lower_qdq)
 * and, for float graphs run by the fast CPU backend, the fusion passes applied (batch norm
 * folded, conv/gemm + bias + activation + residual fused). The model's own graph keeps the
 * portable form (for export and engines). */
#ifndef TQ_COMPILE_H
#define TQ_COMPILE_H

#include "ir/ir.h"

/* *out is src itself (nothing to compile, *owned false) or a new graph in `arena` (*owned true;
 * destroy it with tq_graph_destroy before src). fuse: apply the fusion passes to graphs without
 * QDQ, and fuse_layernorm to lowered QDQ graphs (sessions on the fast backends; the quantizer's
 * fidelity runs keep every layer's value). */
tfmq_status tq_compile(const tq_graph *src, bool fuse, tq_arena *arena,
                       const tfmq_allocator *alloc, const tq_graph **out, bool *owned);

#endif
