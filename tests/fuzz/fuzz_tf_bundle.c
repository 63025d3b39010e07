/* fuzz_tf_bundle.c: the TensorBundle reader (SavedModel variables/) on arbitrary bytes. Input:
 * a u32 little-endian L, then L bytes of variables/variables.index, then the rest as
 * variables.data-00000-of-00001. Both go beside a fixed, valid saved_model.pb whose signature
 * reads every variable of the seeds' checkpoint (fuzz_tf_fixture.h); the folder is loaded with
 * tfmq_model_load (object graph, key lookup, tensor reads, validation), then the bundle is opened
 * directly (tq_tf_bundle_open) and every entry is read as a tensor or as a string.
 * The SSTable's block CRCs and each entry's tensor CRC would stop almost every mutation, so unless
 * bit 31 of L is set (keeping the stored CRCs, to exercise the checks) the target rewrites them
 * to the values that match before writing the files. */
#include "fuzz_tf_common.h"

#include "core/core.h"
#include "import/tf/tf_internal.h"

static bool rd_varint(const uint8_t **pp, const uint8_t *end, uint64_t *v_out)
{
    uint64_t v = 0;
    for (unsigned sh = 0; sh < 64 && *pp < end; sh += 7) {
        uint8_t b = *(*pp)++;
        v |= (uint64_t)(b & 0x7f) << sh;
        if (!(b & 0x80)) {
            *v_out = v;
            return true;
        }
    }
    return false;
}

static uint32_t rd_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wr_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

/* Entries of a block [p, p + n) (restart array excluded): calls fn on each value. */
typedef void (*entry_fn)(uint8_t *val, size_t n, uint8_t *data, size_t n_data);

static void walk_block(uint8_t *idx, size_t n_idx, uint64_t off, uint64_t size, entry_fn fn,
                       uint8_t *data, size_t n_data)
{
    if (off > n_idx || size > n_idx - off || n_idx - off - size < 5 || size < 4) {
        return;
    }
    uint8_t *b = idx + off;
    uint32_t n_restarts = rd_u32(b + size - 4);
    if ((uint64_t)n_restarts * 4 > size - 4) {
        return;
    }
    const uint8_t *p = b, *end = b + size - 4 - (uint64_t)n_restarts * 4;
    while (p < end) {
        uint64_t shared, non_shared, vlen;
        if (!rd_varint(&p, end, &shared) || !rd_varint(&p, end, &non_shared) ||
            !rd_varint(&p, end, &vlen) || non_shared > (uint64_t)(end - p) ||
            vlen > (uint64_t)(end - p) - non_shared) {
            return;
        }
        p += non_shared;
        fn(idx + (p - idx), (size_t)vlen, data, n_data);
        p += vlen;
    }
}

/* Rewrite the block's CRC (over the block and its type byte). */
static void fix_block_crc(uint8_t *idx, size_t n_idx, uint64_t off, uint64_t size)
{
    if (off > n_idx || size > n_idx - off || n_idx - off - size < 5) {
        return;
    }
    uint8_t *b = idx + off;
    wr_u32(b + size + 1, tq_tf_crc_mask(tq_crc32c(0, b, (size_t)size + 1)));
}

/* A BundleEntryProto: rewrite its crc32c (field 6, fixed32) to match the data it locates;
 * for a scalar string (dtype 7) also the length checksum inside the data. */
static void fix_entry(uint8_t *val, size_t n, uint8_t *data, size_t n_data)
{
    const uint8_t *p = val, *end = val + n;
    uint64_t dtype = 0, shard = 0, offset = 0, size = 0;
    uint8_t *crc_at = NULL;
    while (p < end) {
        uint64_t tag, v;
        if (!rd_varint(&p, end, &tag)) {
            return;
        }
        switch (tag & 7) {
        case 0:
            if (!rd_varint(&p, end, &v)) {
                return;
            }
            if ((tag >> 3) == 1) {
                dtype = v;
            } else if ((tag >> 3) == 3) {
                shard = v;
            } else if ((tag >> 3) == 4) {
                offset = v;
            } else if ((tag >> 3) == 5) {
                size = v;
            }
            break;
        case 1:
            if (end - p < 8) {
                return;
            }
            p += 8;
            break;
        case 2:
            if (!rd_varint(&p, end, &v) || v > (uint64_t)(end - p)) {
                return;
            }
            p += v;
            break;
        case 5:
            if (end - p < 4) {
                return;
            }
            if ((tag >> 3) == 6) {
                crc_at = val + (p - val);
            }
            p += 4;
            break;
        default:
            return;
        }
    }
    if (!crc_at || shard != 0 || offset > n_data || size > n_data - offset) {
        return;
    }
    uint8_t *t = data + offset;
    uint32_t crc;
    if (dtype == 7) {
        const uint8_t *q = t;
        uint64_t len;
        if (!rd_varint(&q, t + size, &len) || (uint64_t)(t + size - q) < 4 ||
            len != (uint64_t)(t + size - q - 4) || len > UINT32_MAX) {
            return;
        }
        uint8_t len4[4];
        wr_u32(len4, (uint32_t)len);
        uint8_t *lc = t + (q - t);
        wr_u32(lc, tq_tf_crc_mask(tq_crc32c(0, len4, 4)));
        crc = tq_crc32c(0, len4, 4);
        crc = tq_crc32c(crc, lc, 4);
        crc = tq_crc32c(crc, lc + 4, (size_t)len);
    } else {
        crc = tq_crc32c(0, t, (size_t)size);
    }
    wr_u32(crc_at, tq_tf_crc_mask(crc));
}

/* State for the index walk: the index copy and the data copy. */
static uint8_t *g_idx, *g_data;
static size_t g_n_idx, g_n_data;

/* An index-block value: a data block handle. Fix the block's entries, then its CRC. */
static void fix_data_block(uint8_t *val, size_t n, uint8_t *unused, size_t n_unused)
{
    (void)unused;
    (void)n_unused;
    const uint8_t *p = val;
    uint64_t off, size;
    if (!rd_varint(&p, val + n, &off) || !rd_varint(&p, val + n, &size)) {
        return;
    }
    walk_block(g_idx, g_n_idx, off, size, fix_entry, g_data, g_n_data);
    fix_block_crc(g_idx, g_n_idx, off, size);
}

static void fix_crcs(uint8_t *idx, size_t n_idx, uint8_t *data, size_t n_data)
{
    if (n_idx < 48) {
        return;
    }
    const uint8_t *p = idx + n_idx - 48, *fend = p + 40;
    uint64_t meta_off, meta_size, idx_off, idx_size;
    if (!rd_varint(&p, fend, &meta_off) || !rd_varint(&p, fend, &meta_size) ||
        !rd_varint(&p, fend, &idx_off) || !rd_varint(&p, fend, &idx_size)) {
        return;
    }
    g_idx = idx;
    g_n_idx = n_idx;
    g_data = data;
    g_n_data = n_data;
    walk_block(idx, n_idx, idx_off, idx_size, fix_data_block, NULL, 0);
    fix_block_crc(idx, n_idx, idx_off, idx_size);
    fix_block_crc(idx, n_idx, meta_off, meta_size);
}

/* Open the bundle directly and read every entry (tensors into a scratch graph). */
static void read_all(const char *dir)
{
    char prefix[128];
    (void)snprintf(prefix, sizeof(prefix), "%s/variables/variables", dir);
    tq_tf_bundle b;
    if (tq_tf_bundle_open(&b, prefix, &fuzz_allocator) != TFMQ_OK) {
        if (b.index || b.ents || tfmq_last_error()[0] == '\0') {
            abort(); /* a failed open must free everything and say why */
        }
        return;
    }
    tq_arena arena;
    tq_arena_init(&arena, &fuzz_allocator);
    tq_graph *g = NULL;
    if (tq_graph_create(&arena, &fuzz_allocator, &g) == TFMQ_OK) {
        for (size_t i = 1; i < b.n_ents; i++) {
            const tq_tf_bundle_ent *e = &b.ents[i];
            if (tq_tf_bundle_find(&b, e->key) != e) {
                fprintf(stderr, "fuzz_tf_bundle: find('%s') does not give its entry\n", e->key);
                abort();
            }
            tq_tensor t;
            size_t bytes = 0;
            if (tq_tf_bundle_read(&b, e, g, &t, &bytes) == TFMQ_OK) {
                size_t want = 0;
                if (!tq_tensor_bytes(&t, &want) || want != bytes || !t.data) {
                    abort();
                }
                volatile uint8_t sum = 0; /* touch every byte: ASan checks the extent */
                for (size_t k = 0; k < bytes; k++) {
                    sum = (uint8_t)(sum + ((const uint8_t *)t.data)[k]);
                }
                (void)sum;
            }
            uint8_t *s = NULL;
            size_t n = 0;
            if (tq_tf_bundle_read_string(&b, e, &s, &n) == TFMQ_OK) {
                volatile uint8_t sum = 0;
                for (size_t k = 0; k <= n; k++) {
                    sum = (uint8_t)(sum + s[k]);
                }
                (void)sum;
                tq_free(&fuzz_allocator, s, n + 1);
            } else if (s) {
                abort();
            }
        }
        tq_graph_destroy(g);
    }
    tq_arena_free(&arena);
    tq_tf_bundle_close(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool pb_written;
    const char *dir = fuzz_tf_dir();
    if (!pb_written) {
        (void)fuzz_write_file(0, "saved_model.pb", fuzz_tf_pb, sizeof(fuzz_tf_pb));
        pb_written = true;
    }
    if (size < 4) {
        return 0;
    }
    uint32_t word = rd_u32(data);
    size_t n_idx = word & 0x7fffffffu;
    if (n_idx > size - 4) {
        n_idx = size - 4;
    }
    size_t n_data = size - 4 - n_idx;
    uint8_t *copy = malloc(size - 4 ? size - 4 : 1);
    if (!copy) {
        abort();
    }
    memcpy(copy, data + 4, size - 4);
    if (!(word & 0x80000000u)) {
        fix_crcs(copy, n_idx, copy + n_idx, n_data);
    }
    (void)fuzz_write_file(1, "variables/variables.index", copy, n_idx);
    (void)fuzz_write_file(2, "variables/variables.data-00000-of-00001", copy + n_idx, n_data);
    free(copy);
    fuzz_tf_load("fuzz_tf_bundle: load");
    read_all(dir);
    fuzz_check_balance("fuzz_tf_bundle");
    return 0;
}
