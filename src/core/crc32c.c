/* crc32c.c: CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of engine files
 * and calibration caches and the model hash. On x86-64 with SSE4.2 (every x86-64 CPU since 2008)
 * the crc32 instruction computes exactly this CRC, 8 bytes an instruction: ResNet-50's 26 MB
 * INT8 engine is checked in ~3 ms instead of ~60 with the table (a fifth of its load time,
 * perf, 2026-11-28). Elsewhere, or with TFMQ_CRC32C=table, the table, a byte at a time. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define TQ_CRC_HW 1
#endif

static uint32_t tq_crc_table[256];
static pthread_once_t tq_crc_once = PTHREAD_ONCE_INIT;

static void tq_crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) {
            c = (c & 1u) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        }
        tq_crc_table[i] = c;
    }
}

uint32_t tq_crc32c_table(uint32_t crc, const void *data, size_t n)
{
    const uint8_t *p = data;
    (void)pthread_once(&tq_crc_once, tq_crc_init);
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc = tq_crc_table[(crc ^ p[i]) & 0xffu] ^ (crc >> 8);
    }
    return ~crc;
}

#ifdef TQ_CRC_HW
__attribute__((target("sse4.2"))) static uint32_t tq_crc32c_sse42(uint32_t crc, const void *data,
                                                                   size_t n)
{
    const uint8_t *p = data;
    uint64_t c = ~crc;
    for (; n > 0 && ((uintptr_t)p & 7u); n--) { /* to an 8-byte boundary */
        c = _mm_crc32_u8((uint32_t)c, *p++);
    }
    for (; n >= 8; n -= 8, p += 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = _mm_crc32_u64(c, w);
    }
    for (; n > 0; n--) {
        c = _mm_crc32_u8((uint32_t)c, *p++);
    }
    return ~(uint32_t)c;
}

static pthread_once_t tq_crc_impl_once = PTHREAD_ONCE_INIT;
static bool tq_crc_hw; /* decided once: the instruction, unless TFMQ_CRC32C=table */

static void tq_crc_impl_init(void)
{
    const char *env = getenv("TFMQ_CRC32C");
    tq_crc_hw = (!env || strcmp(env, "table") != 0) && __builtin_cpu_supports("sse4.2");
}
#endif

uint32_t tq_crc32c(uint32_t crc, const void *data, size_t n)
{
#ifdef TQ_CRC_HW
    (void)pthread_once(&tq_crc_impl_once, tq_crc_impl_init);
    if (tq_crc_hw) {
        return tq_crc32c_sse42(crc, data, n);
    }
#endif
    return tq_crc32c_table(crc, data, n);
}
