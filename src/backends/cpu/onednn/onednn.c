/* onednn.c: the oneDNN family's entry points (role and prepare, see cpu.h) and its core: the
 * process-wide engine, primitive descriptor creation under the run's thread count, the kernel
 * state (bound activations, constants reordered once, user scratchpad) with its run and destroy,
 * and the fused activations as eltwise post-ops. The per-op planners are in onednn_conv.c and
 * onednn_matmul.c, the integer requantisation attributes in onednn_int8.c. */
#include <stdio.h>
#include <string.h>

#include <pthread.h>

#include <oneapi/dnnl/dnnl_debug.h>

#include "backends/cpu/onednn/onednn_internal.h"
#include "ir/ops/fused.h"

/* ---- errors ---- */
tfmq_status tq_cpu_onednn_fail(const tq_op_ctx *ctx, dnnl_status_t s, const char *what)
{
    tfmq_status st = s == dnnl_out_of_memory ? TFMQ_ERR_OUT_OF_MEMORY : TFMQ_ERR_BACKEND;
    return tq_op_fail(ctx, st, "oneDNN %s: %s", what, dnnl_status2str(s));
}

/* ---- the engine: one CPU engine for the process (engines are thread-safe) ---- */
static pthread_once_t tq_onednn_engine_once = PTHREAD_ONCE_INIT;
static dnnl_engine_t tq_onednn_engine_g;
static dnnl_status_t tq_onednn_engine_status;

static void tq_onednn_engine_init(void)
{
    (void)tq_cpu_isa_level(); /* caps oneDNN's ISA before its first primitive */
    tq_onednn_engine_status = dnnl_engine_create(&tq_onednn_engine_g, dnnl_cpu, 0);
}

tfmq_status tq_cpu_onednn_engine(const tq_op_ctx *ctx, dnnl_engine_t *eng_out)
{
    (void)pthread_once(&tq_onednn_engine_once, tq_onednn_engine_init);
    *eng_out = tq_onednn_engine_g; /* NULL when creation failed */
    if (tq_onednn_engine_status != dnnl_success) {
        return tq_cpu_onednn_fail(ctx, tq_onednn_engine_status, "engine creation");
    }
    return TFMQ_OK;
}

/* ---- descriptors ---- */
void tq_cpu_onednn_md(dnnl_memory_desc_t *md, int nd, const int64_t *dims, dnnl_data_type_t dt,
                      dnnl_format_tag_t tag)
{
    dnnl_dims_t d;
    for (int i = 0; i < nd; i++) {
        d[i] = (dnnl_dim_t)dims[i];
    }
    /* cannot fail for the dense tags and small ranks the planners pass */
    (void)dnnl_memory_desc_init_by_tag(md, nd, d, dt, tag);
}

dnnl_format_tag_t tq_cpu_onednn_act_tag(uint8_t layout)
{
    return layout == TQ_LAYOUT_NHWC ? dnnl_acdb : dnnl_abcd;
}

bool tq_cpu_onednn_compute_bf16(const tq_node *node)
{
    const char *compute = "";
    if (tq_attr_string(node, "compute", "", &compute) != TFMQ_OK) {
        tq_clear_error();
        return false;
    }
    return strcmp(compute, "bf16") == 0;
}

dnnl_data_type_t tq_cpu_onednn_dt(tfmq_dtype dt)
{
    switch (dt) {
    case TFMQ_DTYPE_FLOAT32: return dnnl_f32;
    case TFMQ_DTYPE_INT8: return dnnl_s8;
    case TFMQ_DTYPE_UINT8: return dnnl_u8;
    case TFMQ_DTYPE_INT32: return dnnl_s32;
    default: return dnnl_data_type_undef;
    }
}

tfmq_status tq_cpu_onednn_pd_create(const tq_cpu_prep *p, const void *desc,
                                    const_dnnl_primitive_attr_t attr, dnnl_primitive_desc_t *pd_out,
                                    bool *unimpl)
{
    dnnl_engine_t eng;
    tfmq_status st = tq_cpu_onednn_engine(p->ctx, &eng);
    *pd_out = NULL;
    *unimpl = false;
    if (st != TFMQ_OK) {
        return st;
    }
    int32_t prev = tq_cpu_threads_enter(p->n_threads);
    dnnl_status_t s = dnnl_primitive_desc_create(pd_out, desc, attr, eng, NULL);
    tq_cpu_threads_leave(prev);
    if (s == dnnl_unimplemented) {
        *pd_out = NULL;
        *unimpl = true;
        return TFMQ_OK;
    }
    if (s != dnnl_success) {
        *pd_out = NULL;
        return tq_cpu_onednn_fail(p->ctx, s, "primitive descriptor creation");
    }
    return TFMQ_OK;
}

tfmq_status tq_cpu_onednn_pd_create_avoiding(const tq_cpu_prep *p, const void *desc,
                                             const_dnnl_primitive_attr_t attr,
                                             dnnl_primitive_desc_t *pd_out, bool *unimpl,
                                             const char *avoid)
{
    dnnl_engine_t eng;
    tfmq_status st = tq_cpu_onednn_engine(p->ctx, &eng);
    *pd_out = NULL;
    *unimpl = false;
    if (st != TFMQ_OK) {
        return st;
    }
    dnnl_primitive_desc_iterator_t it = NULL;
    int32_t prev = tq_cpu_threads_enter(p->n_threads);
    dnnl_status_t s = dnnl_primitive_desc_iterator_create(&it, desc, attr, eng, NULL);
    /* *pd_out: oneDNN's first choice until one without `avoid` (nor "ref") turns up */
    for (dnnl_status_t n = s; n == dnnl_success; n = dnnl_primitive_desc_iterator_next(it)) {
        dnnl_primitive_desc_t pd = dnnl_primitive_desc_iterator_fetch(it);
        const char *name = NULL;
        const bool good = pd &&
                          dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name) ==
                              dnnl_success &&
                          name && !strstr(name, avoid) && !strstr(name, "ref");
        if (!*pd_out || good) {
            if (*pd_out) {
                (void)dnnl_primitive_desc_destroy(*pd_out);
            }
            *pd_out = pd;
        } else if (pd) {
            (void)dnnl_primitive_desc_destroy(pd);
        }
        if (good) {
            break;
        }
    }
    tq_cpu_threads_leave(prev);
    if (it) {
        (void)dnnl_primitive_desc_iterator_destroy(it);
    }
    if (s == dnnl_unimplemented) {
        *unimpl = true;
        return TFMQ_OK;
    }
    if (s != dnnl_success || !*pd_out) {
        if (*pd_out) {
            (void)dnnl_primitive_desc_destroy(*pd_out);
            *pd_out = NULL;
        }
        return tq_cpu_onednn_fail(p->ctx, s != dnnl_success ? s : dnnl_runtime_error,
                                  "primitive descriptor creation");
    }
    return TFMQ_OK;
}

/* ---- the kernel ---- */
void tq_cpu_onednn_kernel_free(tq_onednn_kernel *k)
{
    if (!k) {
        return;
    }
    for (int32_t i = 0; i < k->n_pre; i++) {
        (void)dnnl_primitive_destroy(k->pre[i].prim);
    }
    for (int32_t i = 0; i < k->n_post; i++) {
        (void)dnnl_primitive_destroy(k->post[i].prim);
    }
    if (k->prim) {
        (void)dnnl_primitive_destroy(k->prim);
    }
    for (int32_t i = 0; i < k->n_mems; i++) {
        (void)dnnl_memory_destroy(k->mems[i]);
    }
    for (int32_t i = 0; i < k->n_bufs; i++) {
        tq_free_aligned(k->base.alloc, k->bufs[i], k->buf_bytes[i]);
    }
    if (k->stream) {
        (void)dnnl_stream_destroy(k->stream);
    }
    tq_free(k->base.alloc, k, sizeof(*k));
}

static void tq_onednn_destroy(tq_cpu_kernel *base)
{
    tq_cpu_onednn_kernel_free((tq_onednn_kernel *)base);
}

static dnnl_status_t tq_onednn_run_stages(tq_onednn_kernel *k, const tq_onednn_stage *st,
                                          int32_t n)
{
    dnnl_status_t s = dnnl_success;
    for (int32_t i = 0; i < n && s == dnnl_success; i++) {
        if (st[i].skip_same) {
            void *from = NULL, *to = NULL;
            if ((s = dnnl_memory_get_data_handle(st[i].from, &from)) != dnnl_success ||
                (s = dnnl_memory_get_data_handle(st[i].to, &to)) != dnnl_success) {
                break;
            }
            if (from == to) {
                continue;
            }
        }
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, st[i].from}, {DNNL_ARG_TO, st[i].to}};
        s = dnnl_primitive_execute(st[i].prim, k->stream, 2, args);
    }
    return s;
}

/* Point the bound memories at this run's tensors, then execute the stages and the primitive
 * (in order on the kernel's stream) and wait. */
static tfmq_status tq_onednn_run(tq_cpu_kernel *base, tq_op_ctx *ctx)
{
    tq_onednn_kernel *k = (tq_onednn_kernel *)base;
    dnnl_status_t s = dnnl_success;
    for (int32_t i = 0; i < k->n_bound && s == dnnl_success; i++) {
        const int32_t slot = k->bound[i].slot;
        void *h = slot == TQ_ONEDNN_BIND_OUT ? ctx->out[0]->data : ctx->in[slot]->data;
        s = dnnl_memory_set_data_handle(k->bound[i].mem, h);
    }
    if (s == dnnl_success) {
        s = tq_onednn_run_stages(k, k->pre, k->n_pre);
    }
    if (s == dnnl_success) {
        s = dnnl_primitive_execute(k->prim, k->stream, k->n_args, k->args);
    }
    if (s == dnnl_success) {
        s = tq_onednn_run_stages(k, k->post, k->n_post);
    }
    if (s == dnnl_success) {
        s = dnnl_stream_wait(k->stream);
    }
    return s == dnnl_success ? TFMQ_OK : tq_cpu_onednn_fail(ctx, s, "execute");
}

/* A memory object of `md` over `buf` (DNNL_MEMORY_NONE: set at run time), kept by the kernel. */
static tfmq_status tq_onednn_mem(tq_onednn_kernel *k, const tq_op_ctx *ctx,
                                 const dnnl_memory_desc_t *md, void *buf, dnnl_memory_t *mem_out)
{
    dnnl_engine_t eng;
    tfmq_status st = tq_cpu_onednn_engine(ctx, &eng);
    if (st != TFMQ_OK) {
        return st;
    }
    if (k->n_mems == TQ_ONEDNN_MAX_MEMS) {
        return tq_op_fail(ctx, TFMQ_ERR_INTERNAL, "too many oneDNN memory objects");
    }
    dnnl_status_t s = dnnl_memory_create(mem_out, md, eng, buf);
    if (s != dnnl_success) {
        return tq_cpu_onednn_fail(ctx, s, "memory creation");
    }
    k->mems[k->n_mems++] = *mem_out;
    return TFMQ_OK;
}

/* A memory object of `md` over a new buffer the kernel owns; *mem_out NULL when md is empty. */
static tfmq_status tq_onednn_owned_mem(tq_onednn_kernel *k, const tq_op_ctx *ctx,
                                       const dnnl_memory_desc_t *md, dnnl_memory_t *mem_out)
{
    *mem_out = NULL;
    const size_t bytes = dnnl_memory_desc_get_size(md);
    if (bytes == 0) {
        return TFMQ_OK;
    }
    if (k->n_bufs == TQ_ONEDNN_MAX_MEMS) {
        return tq_op_fail(ctx, TFMQ_ERR_INTERNAL, "too many oneDNN buffers");
    }
    void *buf = tq_alloc_aligned(k->base.alloc, bytes);
    if (!buf) {
        return tq_op_fail(ctx, TFMQ_ERR_OUT_OF_MEMORY, "no memory for a %zu-byte oneDNN buffer",
                          bytes);
    }
    k->bufs[k->n_bufs] = buf;
    k->buf_bytes[k->n_bufs++] = bytes;
    return tq_onednn_mem(k, ctx, md, buf, mem_out);
}

static tfmq_status tq_onednn_arg(tq_onednn_kernel *k, const tq_op_ctx *ctx, int arg,
                                 dnnl_memory_t mem)
{
    if (k->n_args == TQ_ONEDNN_MAX_ARGS) {
        return tq_op_fail(ctx, TFMQ_ERR_INTERNAL, "too many oneDNN arguments");
    }
    k->args[k->n_args].arg = arg;
    k->args[k->n_args++].memory = mem;
    return TFMQ_OK;
}

/* A memory object of `md` whose pointer each run sets to ctx->in[slot] or output 0. */
static tfmq_status tq_onednn_bound_mem(tq_onednn_kernel *k, const tq_op_ctx *ctx,
                                       const dnnl_memory_desc_t *md, int32_t slot,
                                       dnnl_memory_t *mem_out)
{
    tfmq_status st = tq_onednn_mem(k, ctx, md, DNNL_MEMORY_NONE, mem_out);
    if (st != TFMQ_OK) {
        return st;
    }
    k->bound[k->n_bound].mem = *mem_out;
    k->bound[k->n_bound++].slot = slot; /* n_bound <= n_mems <= TQ_ONEDNN_MAX_MEMS */
    return TFMQ_OK;
}

tfmq_status tq_cpu_onednn_kernel_new(const tq_cpu_prep *p, const_dnnl_primitive_desc_t pd,
                                     tq_onednn_kernel **k_out)
{
    const tq_op_ctx *ctx = p->ctx;
    *k_out = NULL;
    dnnl_engine_t eng;
    tfmq_status st = tq_cpu_onednn_engine(ctx, &eng);
    if (st != TFMQ_OK) {
        return st;
    }
    tq_onednn_kernel *k = tq_calloc(p->alloc, 1, sizeof(*k));
    if (!k) {
        return tq_op_fail(ctx, TFMQ_ERR_OUT_OF_MEMORY, "no memory for a oneDNN kernel");
    }
    k->base.run = tq_onednn_run;
    k->base.destroy = tq_onednn_destroy;
    k->base.alloc = p->alloc;
    k->base.impl = k->impl;
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success) {
        impl = NULL;
    }
    snprintf(k->impl, sizeof(k->impl), "onednn:%s", impl ? impl : "?");
    dnnl_status_t s = dnnl_stream_create(&k->stream, eng, dnnl_stream_default_flags);
    if (s == dnnl_success) {
        int32_t prev = tq_cpu_threads_enter(p->n_threads);
        s = dnnl_primitive_create(&k->prim, pd);
        tq_cpu_threads_leave(prev);
    }
    if (s != dnnl_success) {
        k->prim = NULL;
        st = tq_cpu_onednn_fail(ctx, s, "primitive creation");
        goto fail;
    }
    /* the user scratchpad, allocated once here */
    const dnnl_memory_desc_t *sp = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    dnnl_memory_t mem = NULL;
    if (sp && (st = tq_onednn_owned_mem(k, ctx, sp, &mem)) != TFMQ_OK) {
        goto fail;
    }
    if (mem && (st = tq_onednn_arg(k, ctx, DNNL_ARG_SCRATCHPAD, mem)) != TFMQ_OK) {
        goto fail;
    }
    *k_out = k;
    return TFMQ_OK;
fail:
    tq_cpu_onednn_kernel_free(k);
    return st;
}

tfmq_status tq_cpu_onednn_bind(tq_onednn_kernel *k, const tq_op_ctx *ctx, int arg,
                               const dnnl_memory_desc_t *md, int32_t slot)
{
    dnnl_memory_t mem;
    tfmq_status st = tq_onednn_bound_mem(k, ctx, md, slot, &mem);
    return st != TFMQ_OK ? st : tq_onednn_arg(k, ctx, arg, mem);
}

/* A reorder primitive from `from_md` to `to_md`, created with the run's thread count. */
static tfmq_status tq_onednn_reorder(const tq_cpu_prep *p, const dnnl_memory_desc_t *from_md,
                                     const dnnl_memory_desc_t *to_md, dnnl_primitive_t *prim)
{
    dnnl_engine_t eng;
    tfmq_status st = tq_cpu_onednn_engine(p->ctx, &eng);
    if (st != TFMQ_OK) {
        return st;
    }
    dnnl_primitive_desc_t rpd = NULL;
    *prim = NULL;
    int32_t prev = tq_cpu_threads_enter(p->n_threads);
    dnnl_status_t s = dnnl_reorder_primitive_desc_create(&rpd, from_md, eng, to_md, eng, NULL);
    if (s == dnnl_success) {
        s = dnnl_primitive_create(prim, rpd);
    }
    tq_cpu_threads_leave(prev);
    if (rpd) {
        (void)dnnl_primitive_desc_destroy(rpd);
    }
    if (s != dnnl_success) {
        *prim = NULL;
        return tq_cpu_onednn_fail(p->ctx, s, "reorder");
    }
    return TFMQ_OK;
}

tfmq_status tq_cpu_onednn_bind_staged(const tq_cpu_prep *p, tq_onednn_kernel *k, int arg,
                                      const dnnl_memory_desc_t *prim_md,
                                      const dnnl_memory_desc_t *user_md, int32_t slot)
{
    const tq_op_ctx *ctx = p->ctx;
    if (dnnl_memory_desc_equal(prim_md, user_md)) {
        return tq_cpu_onednn_bind(k, ctx, arg, prim_md, slot);
    }
    const bool is_out = slot == TQ_ONEDNN_BIND_OUT;
    if ((is_out ? k->n_post : k->n_pre) == TQ_ONEDNN_MAX_STAGES) {
        return tq_op_fail(ctx, TFMQ_ERR_INTERNAL, "too many oneDNN reorder stages");
    }
    dnnl_memory_t inner, user;
    dnnl_primitive_t prim;
    tfmq_status st;
    if ((st = tq_onednn_owned_mem(k, ctx, prim_md, &inner)) != TFMQ_OK ||
        (st = tq_onednn_arg(k, ctx, arg, inner)) != TFMQ_OK ||
        (st = tq_onednn_bound_mem(k, ctx, user_md, slot, &user)) != TFMQ_OK ||
        (st = tq_onednn_reorder(p, is_out ? prim_md : user_md, is_out ? user_md : prim_md,
                                &prim)) != TFMQ_OK) {
        return st;
    }
    tq_onednn_stage *sg = is_out ? &k->post[k->n_post++] : &k->pre[k->n_pre++];
    sg->prim = prim;
    sg->from = is_out ? inner : user;
    sg->to = is_out ? user : inner;
    sg->skip_same = false;
    return TFMQ_OK;
}

tfmq_status tq_cpu_onednn_copy_in(const tq_cpu_prep *p, tq_onednn_kernel *k, int32_t slot,
                                  const dnnl_memory_desc_t *user_md, int arg)
{
    const tq_op_ctx *ctx = p->ctx;
    dnnl_memory_t to = NULL, from;
    for (int32_t i = 0; i < k->n_args; i++) {
        if (k->args[i].arg == arg) {
            to = k->args[i].memory;
        }
    }
    const dnnl_memory_desc_t *to_md = NULL;
    if (!to || dnnl_memory_get_memory_desc(to, &to_md) != dnnl_success) {
        return tq_op_fail(ctx, TFMQ_ERR_INTERNAL, "oneDNN argument %d is not set", arg);
    }
    if (k->n_pre == TQ_ONEDNN_MAX_STAGES) {
        return tq_op_fail(ctx, TFMQ_ERR_INTERNAL, "too many oneDNN reorder stages");
    }
    dnnl_primitive_t prim;
    tfmq_status st;
    if ((st = tq_onednn_bound_mem(k, ctx, user_md, slot, &from)) != TFMQ_OK ||
        (st = tq_onednn_reorder(p, user_md, to_md, &prim)) != TFMQ_OK) {
        return st;
    }
    tq_onednn_stage *sg = &k->pre[k->n_pre++];
    sg->prim = prim;
    sg->from = from;
    sg->to = to;
    sg->skip_same = true;
    return TFMQ_OK;
}

tfmq_status tq_cpu_onednn_const(const tq_cpu_prep *p, tq_onednn_kernel *k, int arg,
                                const dnnl_memory_desc_t *prim_md,
                                const dnnl_memory_desc_t *user_md, void *data)
{
    const tq_op_ctx *ctx = p->ctx;
    dnnl_engine_t eng;
    dnnl_memory_t dst, src = NULL;
    dnnl_primitive_t reorder = NULL;
    tfmq_status st;
    if ((st = tq_cpu_onednn_engine(ctx, &eng)) != TFMQ_OK ||
        (st = tq_onednn_owned_mem(k, ctx, prim_md, &dst)) != TFMQ_OK || !dst ||
        (st = tq_onednn_arg(k, ctx, arg, dst)) != TFMQ_OK ||
        (st = tq_onednn_reorder(p, user_md, prim_md, &reorder)) != TFMQ_OK) {
        return st;
    }
    int32_t prev = tq_cpu_threads_enter(p->n_threads);
    dnnl_status_t s = dnnl_memory_create(&src, user_md, eng, data);
    if (s == dnnl_success) {
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}};
        s = dnnl_primitive_execute(reorder, k->stream, 2, args);
    }
    if (s == dnnl_success) {
        s = dnnl_stream_wait(k->stream);
    }
    tq_cpu_threads_leave(prev);
    (void)dnnl_primitive_destroy(reorder);
    if (src) {
        (void)dnnl_memory_destroy(src);
    }
    return s == dnnl_success ? TFMQ_OK : tq_cpu_onednn_fail(ctx, s, "constant reorder");
}

/* ---- fused activations ---- */
tfmq_status tq_cpu_onednn_append_act(const tq_op_ctx *ctx, dnnl_post_ops_t po,
                                     const tq_fused_act *act)
{
    dnnl_alg_kind_t alg;
    float alpha = 0.0f, beta = 0.0f;
    switch (act->kind) {
    case TQ_FUSED_ACT_NONE:
        return TFMQ_OK;
    case TQ_FUSED_ACT_RELU:
        alg = dnnl_eltwise_relu;
        break;
    case TQ_FUSED_ACT_LEAKY_RELU:
        alg = dnnl_eltwise_relu; /* relu with a negative slope */
        alpha = (float)act->alpha;
        break;
    case TQ_FUSED_ACT_CLIP:
        alg = dnnl_eltwise_clip; /* min(max(x, alpha), beta), as Clip (lo > hi gives hi) */
        alpha = (float)act->lo;
        beta = (float)act->hi;
        break;
    case TQ_FUSED_ACT_HARD_SWISH:
        alg = dnnl_eltwise_hardswish; /* x * relu6(x + 3) / 6 */
        break;
    case TQ_FUSED_ACT_SIGMOID:
        alg = dnnl_eltwise_logistic;
        break;
    default:
        return tq_op_fail(ctx, TFMQ_ERR_INTERNAL, "activation %d has no oneDNN form",
                          (int)act->kind);
    }
    dnnl_status_t s = dnnl_post_ops_append_eltwise(po, 1.0f, alg, alpha, beta);
    return s == dnnl_success ? TFMQ_OK : tq_cpu_onednn_fail(ctx, s, "eltwise post-op");
}

/* ---- entry points ---- */
tq_cpu_role tq_cpu_dnnl_role(const tq_op_ctx *ctx)
{
    if (tq_cpu_isa_level() == TQ_CPU_ISA_SCALAR) {
        return TQ_CPU_ROLE_PLAIN; /* the fast backend is off */
    }
    switch (ctx->node->op) {
    case TQ_OP_CONV:
    case TQ_OP_FUSED_CONV:
    case TQ_OP_QCONV:
        return tq_cpu_onednn_conv_takes(ctx) ? TQ_CPU_ROLE_ANY : TQ_CPU_ROLE_PLAIN;
    default:
        return TQ_CPU_ROLE_PLAIN;
    }
}

tfmq_status tq_cpu_prepare_dnnl(const tq_cpu_prep *p, tq_cpu_kernel **k_out)
{
    *k_out = NULL;
    if (p->isa == TQ_CPU_ISA_SCALAR) {
        return TFMQ_OK;
    }
    switch (p->ctx->node->op) {
    case TQ_OP_CONV:
    case TQ_OP_FUSED_CONV:
    case TQ_OP_QCONV:
        return tq_cpu_onednn_conv_takes(p->ctx) ? tq_cpu_onednn_prepare_conv(p, k_out) : TFMQ_OK;
    case TQ_OP_GEMM:
    case TQ_OP_FUSED_GEMM:
    case TQ_OP_MATMUL:
    case TQ_OP_QGEMM:
        return tq_cpu_onednn_matmul_takes(p->ctx) ? tq_cpu_onednn_prepare_matmul(p, k_out)
                                                  : TFMQ_OK;
    default:
        return TFMQ_OK;
    }
}
