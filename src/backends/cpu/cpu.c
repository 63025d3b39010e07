/* cpu.c: the CPU backend's process-wide facts: the instruction-set level (cpuid, capped by
 * TFMQ_CPU_ISA, applied to oneDNN too) and the default thread count. See cpu.h. */
#define _DEFAULT_SOURCE /* NOLINT: syscall() (arch_prctl), hidden under plain C11 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pthread.h>
#if defined(__x86_64__) && defined(__linux__)
#include <cpuid.h>
#include <sys/syscall.h>
#endif

#include <oneapi/dnnl/dnnl.h>

#include "backends/cpu/cpu.h"

static const char *const tq_isa_names[] = {"scalar", "avx2", "avx512", "avx512_vnni",
                                           "avx512_bf16", "amx"};

const char *tq_cpu_isa_name(tq_cpu_isa isa)
{
    return (unsigned)isa < sizeof(tq_isa_names) / sizeof(tq_isa_names[0]) ? tq_isa_names[isa]
                                                                          : "?";
}

/* AMX-TILE, AMX-INT8 and AMX-BF16 (cpuid leaf 7, edx bits 24, 25, 22), and the kernel's leave
 * to use the tile data (Linux 5.16+: arch_prctl ARCH_REQ_XCOMP_PERM, which oneDNN also asks
 * for; asking twice is harmless). */
static bool tq_cpu_amx_usable(void)
{
#if defined(__x86_64__) && defined(__linux__)
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) {
        return false;
    }
    const unsigned need = (1u << 24) | (1u << 25) | (1u << 22);
    if ((edx & need) != need) {
        return false;
    }
    const long arch_req_xcomp_perm = 0x1023, xfeature_xtiledata = 18;
    return syscall(SYS_arch_prctl, arch_req_xcomp_perm, xfeature_xtiledata) == 0;
#else
    return false;
#endif
}

tq_cpu_isa tq_cpu_isa_detected(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
        return TQ_CPU_ISA_SCALAR;
    }
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") ||
        !__builtin_cpu_supports("avx512dq") || !__builtin_cpu_supports("avx512vl")) {
        return TQ_CPU_ISA_AVX2;
    }
    if (!__builtin_cpu_supports("avx512vnni")) {
        return TQ_CPU_ISA_AVX512;
    }
    if (!__builtin_cpu_supports("avx512bf16")) {
        return TQ_CPU_ISA_AVX512_VNNI;
    }
    return tq_cpu_amx_usable() ? TQ_CPU_ISA_AMX : TQ_CPU_ISA_AVX512_BF16;
#else
    return TQ_CPU_ISA_SCALAR;
#endif
}

static pthread_once_t tq_isa_once = PTHREAD_ONCE_INIT;
static tq_cpu_isa tq_isa_level;

static void tq_isa_init(void)
{
    tq_cpu_isa isa = tq_cpu_isa_detected();
    const char *env = getenv("TFMQ_CPU_ISA");
    if (env && *env) {
        for (int i = 0; i <= (int)TQ_CPU_ISA_AMX; i++) {
            if (strcmp(env, tq_isa_names[i]) == 0) {
                if ((tq_cpu_isa)i < isa) {
                    isa = (tq_cpu_isa)i;
                }
                break;
            }
        }
    }
    /* oneDNN may not use more than we do (its own DNNL_MAX_CPU_ISA still applies when lower). */
    static const dnnl_cpu_isa_t to_dnnl[] = {dnnl_cpu_isa_sse41, dnnl_cpu_isa_avx2,
                                             dnnl_cpu_isa_avx512_core,
                                             dnnl_cpu_isa_avx512_core_vnni,
                                             dnnl_cpu_isa_avx512_core_bf16,
                                             dnnl_cpu_isa_avx512_core_amx};
    (void)dnnl_set_max_cpu_isa(to_dnnl[isa]);
    tq_isa_level = isa;
}

tq_cpu_isa tq_cpu_isa_level(void)
{
    (void)pthread_once(&tq_isa_once, tq_isa_init);
    return tq_isa_level;
}

static pthread_once_t tq_info_once = PTHREAD_ONCE_INIT;
static char tq_info[160];

static void tq_info_init(void)
{
    const dnnl_version_t *v = dnnl_version();
    snprintf(tq_info, sizeof(tq_info), "x86-64 %s (cpu: %s), %d thread%s by default, oneDNN %d.%d.%d",
             tq_cpu_isa_name(tq_cpu_isa_level()), tq_cpu_isa_name(tq_cpu_isa_detected()),
             (int)tq_cpu_default_threads(), tq_cpu_default_threads() == 1 ? "" : "s",
             v ? v->major : 0, v ? v->minor : 0, v ? v->patch : 0);
}

const char *tfmq_cpu_info(void)
{
    (void)pthread_once(&tq_info_once, tq_info_init);
    return tq_info;
}

/* Entries in a sysfs cpu list such as "0-3,8-11" or "0,2". */
static int tq_count_cpu_list(const char *s)
{
    int n = 0;
    while (*s) {
        char *end;
        long a = strtol(s, &end, 10);
        if (end == s) {
            break;
        }
        long b = a;
        s = end;
        if (*s == '-') {
            b = strtol(s + 1, &end, 10);
            s = end;
        }
        if (b >= a && b - a < 4096) {
            n += (int)(b - a + 1);
        }
        if (*s != ',') {
            break;
        }
        s++;
    }
    return n;
}

int32_t tq_cpu_default_threads(void)
{
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (online < 1) {
        return 1;
    }
    int per_core = 1;
    FILE *f = fopen("/sys/devices/system/cpu/cpu0/topology/thread_siblings_list", "r");
    if (f) {
        char buf[256];
        if (fgets(buf, sizeof(buf), f)) {
            int n = tq_count_cpu_list(buf);
            per_core = n >= 1 && n <= 8 ? n : 1;
        }
        fclose(f);
    }
    long cores = online / per_core;
    return cores < 1 ? 1 : (cores > 1024 ? 1024 : (int32_t)cores);
}
