/* crc32c.c: CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of engine files
 * and calibration caches and the model hash. Table-driven, byte at a time: simple and portable;
 * it detects every single-byte change. */
#include "core/core.h"

static uint32_t tq_crc_table[256];
static int tq_crc_ready; /* written once; the table is identical on every init, so races are benign */

static void tq_crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) {
            c = (c & 1u) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        }
        tq_crc_table[i] = c;
    }
    tq_crc_ready = 1;
}

uint32_t tq_crc32c(uint32_t crc, const void *data, size_t n)
{
    const uint8_t *p = data;
    if (!tq_crc_ready) {
        tq_crc_init();
    }
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc = tq_crc_table[(crc ^ p[i]) & 0xffu] ^ (crc >> 8);
    }
    return ~crc;
}
