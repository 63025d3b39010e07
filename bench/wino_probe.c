/* wino_probe.c: oneDNN's direct and Winograd float32 convolutions on ResNet-50's 3x3 stride-1
 * layers, alone (no model around them), the measurement behind the Winograd choice of
 * src/backends/cpu/onednn/onednn_conv.c (conv_pd_wino).
 *
 *   tfmq_wino_probe [--batch N]     (threads: OMP_NUM_THREADS; default batches 1 and 8)
 *
 * Each row: the layer, the direct kernel (NHWC, as tfmq's activations are) and Winograd (nChw16c,
 * oneDNN's choice of F(2x2,3x3) or F(4x4,3x3)), bias + ReLU fused, best of 7 rounds of 5 runs on
 * random data, and the implementation names. Reorders to and from nChw16c are not included
 * (tfmq_cpu_profile shows them in context). */
#include <dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ms per run of a 3x3 pad-1 stride-1 C->C convolution on [n, c, h, h], or -1 when oneDNN has no
 * implementation; *impl gets its name. */
static double time_conv(dnnl_engine_t eng, dnnl_stream_t strm, int n, int c, int h,
                        dnnl_alg_kind_t alg, dnnl_format_tag_t tag, char *impl, size_t impl_n)
{
    dnnl_memory_desc_t src, wei, dst, bia;
    dnnl_dims_t sd = {n, c, h, h}, wd = {c, c, 3, 3}, bd = {c};
    dnnl_dims_t st = {1, 1}, pl = {1, 1}, pr = {1, 1};
    dnnl_memory_desc_init_by_tag(&src, 4, sd, dnnl_f32, tag);
    dnnl_memory_desc_init_by_tag(&wei, 4, wd, dnnl_f32, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&dst, 4, sd, dnnl_f32, tag);
    dnnl_memory_desc_init_by_tag(&bia, 1, bd, dnnl_f32, dnnl_a);
    dnnl_convolution_desc_t cd;
    dnnl_primitive_attr_t attr;
    dnnl_post_ops_t po;
    dnnl_primitive_desc_t pd = NULL;
    snprintf(impl, impl_n, "none");
    if (dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, alg, &src, &wei, &bia,
                                           &dst, st, pl, pr) != dnnl_success) {
        return -1.0;
    }
    dnnl_primitive_attr_create(&attr);
    dnnl_post_ops_create(&po);
    dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f);
    dnnl_primitive_attr_set_post_ops(attr, po);
    dnnl_status_t s = dnnl_primitive_desc_create(&pd, &cd, attr, eng, NULL);
    dnnl_post_ops_destroy(po);
    dnnl_primitive_attr_destroy(attr);
    if (s != dnnl_success) {
        return -1.0;
    }
    const char *name = NULL;
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name);
    snprintf(impl, impl_n, "%s", name ? name : "?");
    dnnl_primitive_t prim;
    dnnl_primitive_create(&prim, pd);
    const dnnl_query_t q[5] = {dnnl_query_src_md, dnnl_query_weights_md, dnnl_query_weights_md,
                               dnnl_query_dst_md, dnnl_query_scratchpad_md};
    const int qi[5] = {0, 0, 1, 0, 0};
    const int arg[5] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_BIAS, DNNL_ARG_DST,
                        DNNL_ARG_SCRATCHPAD};
    dnnl_exec_arg_t args[5];
    srand(1);
    for (int i = 0; i < 5; i++) {
        const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, q[i], qi[i]);
        dnnl_memory_t m;
        void *p;
        dnnl_memory_create(&m, md, eng, DNNL_MEMORY_ALLOCATE);
        dnnl_memory_get_data_handle(m, &p);
        float *f = p;
        for (size_t j = 0; j < dnnl_memory_desc_get_size(md) / sizeof(float); j++) {
            f[j] = (float)(rand() % 200 - 100) * 0.01f;
        }
        args[i].arg = arg[i];
        args[i].memory = m;
    }
    for (int i = 0; i < 3; i++) {
        dnnl_primitive_execute(prim, strm, 5, args);
    }
    dnnl_stream_wait(strm);
    double best = 1e30;
    for (int r = 0; r < 7; r++) {
        double t = now_s();
        for (int i = 0; i < 5; i++) {
            dnnl_primitive_execute(prim, strm, 5, args);
        }
        dnnl_stream_wait(strm);
        t = (now_s() - t) / 5.0;
        best = t < best ? t : best;
    }
    for (int i = 0; i < 5; i++) {
        dnnl_memory_destroy(args[i].memory);
    }
    dnnl_primitive_destroy(prim);
    dnnl_primitive_desc_destroy(pd);
    return best * 1e3;
}

int main(int argc, char **argv)
{
    int batches[2] = {1, 8}, n_b = 2;
    if (argc == 3 && strcmp(argv[1], "--batch") == 0 && atoi(argv[2]) > 0) {
        batches[0] = atoi(argv[2]);
        n_b = 1;
    } else if (argc != 1) {
        fprintf(stderr, "usage: tfmq_wino_probe [--batch N]\n");
        return 2;
    }
    dnnl_engine_t eng;
    dnnl_stream_t strm;
    if (dnnl_engine_create(&eng, dnnl_cpu, 0) != dnnl_success ||
        dnnl_stream_create(&strm, eng, dnnl_stream_default_flags) != dnnl_success) {
        fprintf(stderr, "tfmq_wino_probe: no oneDNN CPU engine\n");
        return 1;
    }
    static const int layers[4][2] = {{64, 56}, {128, 28}, {256, 14}, {512, 7}};
    printf("%-5s %-5s %-4s %10s %10s %7s  %s\n", "batch", "C", "HxW", "direct ms", "wino ms",
           "ratio", "implementations");
    for (int b = 0; b < n_b; b++) {
        for (int i = 0; i < 4; i++) {
            char di[96], wi[96];
            const int n = batches[b], c = layers[i][0], h = layers[i][1];
            double d = time_conv(eng, strm, n, c, h, dnnl_convolution_direct, dnnl_acdb, di,
                                 sizeof(di));
            double w = time_conv(eng, strm, n, c, h, dnnl_convolution_winograd, dnnl_aBcd16b,
                                 wi, sizeof(wi));
            printf("%-5d %-5d %-4d %10.3f %10.3f %6.2fx  %s / %s\n", n, c, h, d, w,
                   w > 0 ? d / w : 0.0, di, wi);
        }
    }
    dnnl_stream_destroy(strm);
    dnnl_engine_destroy(eng);
    return 0;
}
