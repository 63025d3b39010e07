/* fuzz_keras.c: the Keras importer (tq_import_keras through tfmq_model_load, then validation by
 * shape inference) on arbitrary bytes: written as model.keras when they start with "PK" (a zip:
 * config.json, metadata.json, model.weights.h5 read with libzip, cJSON and our HDF5 reader from
 * memory), else as model.h5 (src/import/keras/h5read.c). Inputs that are neither (by tfmq's own
 * sniffing) are skipped: the ONNX reader has its own targets. libzip checks each member's CRC-32, which would
 * stop almost every mutation of a stored member, so unless byte 4 of the input is 0xFF (keeping
 * the stored CRCs, to exercise the check) the target rewrites the CRC-32 of every stored member
 * in the local and central headers to the value that matches. After each input the allocator
 * balance must be 0. fuzz_keras_config feeds the model configuration to keras_layers.c beside
 * fixed, valid HDF5 weights instead. */
#include "fuzz_keras_common.h"

static uint32_t crc32_ieee(const uint8_t *p, size_t n)
{
    static uint32_t table[256];
    if (!table[1]) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) {
                c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
            }
            table[i] = c;
        }
    }
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    }
    return c ^ 0xffffffffu;
}

static uint32_t le16(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t le32(const uint8_t *p)
{
    return le16(p) | le16(p + 2) << 16;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

/* Rewrite the CRC-32 of every stored (method 0) member of a zip image, from the central
 * directory found through the end-of-central-directory record. */
static void fix_zip_crcs(uint8_t *z, size_t n)
{
    if (n < 22) {
        return;
    }
    size_t eocd = n - 22;
    for (size_t back = 0; back <= 0xffff && memcmp(z + eocd, "PK\x05\x06", 4) != 0; back++) {
        if (eocd == 0) {
            return;
        }
        eocd--;
    }
    if (memcmp(z + eocd, "PK\x05\x06", 4) != 0) {
        return;
    }
    uint32_t n_ent = le16(z + eocd + 10);
    size_t cd = le32(z + eocd + 16);
    for (uint32_t i = 0; i < n_ent; i++) {
        if (cd > n || n - cd < 46 || memcmp(z + cd, "PK\x01\x02", 4) != 0) {
            return;
        }
        uint8_t *c = z + cd;
        size_t csize = le32(c + 20), lo = le32(c + 42);
        size_t next = cd + 46 + le16(c + 28) + le16(c + 30) + le16(c + 32);
        if (le16(c + 10) == 0 && lo <= n && n - lo >= 30 && memcmp(z + lo, "PK\x03\x04", 4) == 0) {
            size_t start = lo + 30 + le16(z + lo + 26) + le16(z + lo + 28);
            if (start <= n && csize <= n - start) {
                uint32_t crc = crc32_ieee(z + start, csize);
                put32(c + 16, crc);
                put32(z + lo + 14, crc);
            }
        }
        cd = next;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!tq_keras_sniff(data, size)) {
        return 0;
    }
    bool zip = size >= 2 && data[0] == 'P' && data[1] == 'K';
    const char *path;
    if (zip) {
        uint8_t *copy = malloc(size);
        if (!copy) {
            abort();
        }
        memcpy(copy, data, size);
        if (copy[4] != 0xFF) {
            fix_zip_crcs(copy, size);
        }
        path = fuzz_write_file(1, "model.keras", copy, size);
        free(copy);
    } else {
        path = fuzz_write_file(0, "model.h5", data, size);
    }
    fuzz_keras_load(path, "fuzz_keras");
    return 0;
}
