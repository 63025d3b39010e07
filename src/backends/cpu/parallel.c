/* parallel.c: the CPU backend's threads, on the OpenMP runtime (libgomp) that oneDNN uses, so
 * that oneDNN's primitives and our kernels share one pool. Compiled with -fopenmp under GCC; in
 * other builds (clang: the fuzz targets) our loops run on the calling thread. See cpu.h. */
#include "backends/cpu/cpu.h"

/* libgomp's entry points, declared here so that builds without omp.h link too. */
extern int omp_get_max_threads(void);
extern void omp_set_num_threads(int n);

/* Under ThreadSanitizer every run is single-threaded: libgomp is not instrumented, so TSan would
 * see oneDNN's worker threads call intercepted functions (memset) without their barriers. The
 * TSan job tests sessions in concurrent application threads, which stay. */
#if defined(__SANITIZE_THREAD__)
#define TQ_CPU_MAX_OMP_THREADS 1
#else
#define TQ_CPU_MAX_OMP_THREADS 1024
#endif

int32_t tq_cpu_threads_enter(int32_t n)
{
    if (n > TQ_CPU_MAX_OMP_THREADS) {
        n = TQ_CPU_MAX_OMP_THREADS;
    }
    int32_t prev = (int32_t)omp_get_max_threads();
    if (n >= 1 && n != prev) {
        omp_set_num_threads((int)n);
    }
    return prev;
}

void tq_cpu_threads_leave(int32_t prev)
{
    if (prev >= 1 && prev != (int32_t)omp_get_max_threads()) {
        omp_set_num_threads((int)prev);
    }
}

void tq_cpu_parallel_for(size_t n, size_t grain, int32_t n_threads, tq_cpu_range_fn fn, void *ctx)
{
    if (grain < 1) {
        grain = 1;
    }
    size_t chunks = n / grain;
    if (n_threads > 1 && chunks > 1) {
        if (chunks > (size_t)n_threads) {
            chunks = (size_t)n_threads;
        }
#if defined(_OPENMP)
        long nc = (long)chunks;
#pragma omp parallel for num_threads((int)chunks) schedule(static, 1)
        for (long c = 0; c < nc; c++) {
            size_t i0 = n * (size_t)c / chunks, i1 = n * (size_t)(c + 1) / chunks;
            fn(ctx, i0, i1);
        }
        return;
#endif
    }
    fn(ctx, 0, n);
}
