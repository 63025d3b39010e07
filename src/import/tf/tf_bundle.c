/* tf_bundle.c: TensorFlow's TensorBundle checkpoint format (SavedModel variables/), read without
 * TensorFlow. variables.index is a LevelDB-format SSTable: a 48-byte footer (metaindex and index
 * block handles as varint64 pairs, magic 0xdb4775248b80fb57), blocks of prefix-compressed
 * key/value entries with restart points, each followed by a compression byte and a masked
 * CRC-32C of block+type (verified). The empty key holds a BundleHeaderProto, every other value
 * is a BundleEntryProto locating a tensor in a data shard; tensor bytes are CRC-checked on read.
 * The whole index is kept in memory; keys are copied into the bundle's own arena. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "import/onnx/onnx_internal.h"
#include "import/tf/tf_internal.h"
#include "tf_subset.pb-c.h"

#define TQ_SST_FOOTER 48
#define TQ_SST_MAGIC 0xdb4775248b80fb57ull
#define TQ_TF_MAX_ENTRIES ((size_t)1 << 22)

bool tq_tf_dtype(int32_t tf_dt, tfmq_dtype *out)
{
    switch (tf_dt) {
    case 1: *out = TFMQ_DTYPE_FLOAT32; return true;
    case 2: *out = TFMQ_DTYPE_FLOAT64; return true;
    case 3: *out = TFMQ_DTYPE_INT32; return true;
    case 4: *out = TFMQ_DTYPE_UINT8; return true;
    case 5: *out = TFMQ_DTYPE_INT16; return true;
    case 6: *out = TFMQ_DTYPE_INT8; return true;
    case 9: *out = TFMQ_DTYPE_INT64; return true;
    case 10: *out = TFMQ_DTYPE_BOOL; return true;
    case 14: *out = TFMQ_DTYPE_BFLOAT16; return true;
    case 17: *out = TFMQ_DTYPE_UINT16; return true;
    case 19: *out = TFMQ_DTYPE_FLOAT16; return true;
    case 22: *out = TFMQ_DTYPE_UINT32; return true;
    case 23: *out = TFMQ_DTYPE_UINT64; return true;
    default: return false;
    }
}

tfmq_status tq_tf_read_file(const char *path, const tfmq_allocator *alloc, size_t max_bytes,
                            uint8_t **data_out, size_t *n_out)
{
    *data_out = NULL;
    *n_out = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        return tq_fail(TFMQ_ERR_IO, "tf: %s: cannot open", path);
    }
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return tq_fail(TFMQ_ERR_IO, "tf: %s: cannot seek", path);
    }
    long sz = ftell(f);
    if (sz < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return tq_fail(TFMQ_ERR_IO, "tf: %s: cannot read its size", path);
    }
    if ((unsigned long)sz > max_bytes) {
        fclose(f);
        return tq_fail(TFMQ_ERR_UNSUPPORTED, "tf: %s: %ld bytes, more than the %zu accepted", path,
                       sz, max_bytes);
    }
    size_t n = (size_t)sz;
    uint8_t *d = tq_alloc(alloc, n + 1);
    if (!d) {
        fclose(f);
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "tf: %s: out of memory (%zu bytes)", path, n);
    }
    if (n && fread(d, 1, n, f) != n) {
        fclose(f);
        tq_free(alloc, d, n + 1);
        return tq_fail(TFMQ_ERR_IO, "tf: %s: read failed", path);
    }
    fclose(f);
    d[n] = 0;
    *data_out = d;
    *n_out = n;
    return TFMQ_OK;
}

/* ---- SSTable ---- */

static bool sst_varint(const uint8_t **pp, const uint8_t *end, uint64_t *v_out)
{
    const uint8_t *p = *pp;
    uint64_t v = 0;
    for (unsigned sh = 0; sh < 64 && p < end; sh += 7) {
        uint8_t b = *p++;
        v |= (uint64_t)(b & 0x7f) << sh;
        if (!(b & 0x80)) {
            *pp = p;
            *v_out = v;
            return true;
        }
    }
    return false;
}

static uint32_t sst_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

typedef struct sst_block {
    const uint8_t *data; /* entries + restart array */
    size_t n;
} sst_block;

static tfmq_status sst_read_block(const tq_tf_bundle *b, const char *path, uint64_t off,
                                  uint64_t size, const char *what, sst_block *out)
{
    uint64_t end;
    if (__builtin_add_overflow(off, size, &end) || end > b->index_bytes ||
        b->index_bytes - end < 5) {
        return tq_fail(TFMQ_ERR_PARSE,
                       "tf: %s: %s block at %llu (+%llu bytes) lies outside the file", path, what,
                       (unsigned long long)off, (unsigned long long)size);
    }
    const uint8_t *p = b->index + off;
    uint8_t type = p[size];
    uint32_t stored = sst_u32(p + size + 1);
    uint32_t crc = tq_tf_crc_mask(tq_crc32c(0, p, (size_t)size + 1));
    if (crc != stored) {
        return tq_fail(TFMQ_ERR_PARSE,
                       "tf: %s: %s block at %llu: CRC mismatch (stored 0x%08x, computed 0x%08x)",
                       path, what, (unsigned long long)off, stored, crc);
    }
    if (type == 1) {
        return tq_fail(TFMQ_ERR_UNSUPPORTED,
                       "tf: %s: %s block at %llu is snappy-compressed; tfmq reads uncompressed "
                       "bundles only (TensorFlow writes them uncompressed)",
                       path, what, (unsigned long long)off);
    }
    if (type != 0) {
        return tq_fail(TFMQ_ERR_PARSE, "tf: %s: %s block at %llu: unknown compression type %u",
                       path, what, (unsigned long long)off, type);
    }
    if (size < 4) {
        return tq_fail(TFMQ_ERR_PARSE, "tf: %s: %s block at %llu: %llu bytes is too short", path,
                       what, (unsigned long long)off, (unsigned long long)size);
    }
    uint32_t n_restarts = sst_u32(p + size - 4);
    if ((uint64_t)n_restarts * 4 > size - 4) {
        return tq_fail(TFMQ_ERR_PARSE, "tf: %s: %s block at %llu: %u restart points do not fit",
                       path, what, (unsigned long long)off, n_restarts);
    }
    out->data = p;
    out->n = (size_t)(size - 4 - (uint64_t)n_restarts * 4);
    return TFMQ_OK;
}

typedef struct sst_iter {
    const uint8_t *p, *end;
    uint8_t *key; /* current key (tq_alloc buffer) */
    size_t key_len, key_cap;
    const uint8_t *val;
    size_t val_len;
} sst_iter;

/* Next entry of a block: 1 = entry, 0 = end, -1 = malformed or OOM (message set). */
static int sst_next(sst_iter *it, const tfmq_allocator *alloc, const char *path)
{
    if (it->p >= it->end) {
        return 0;
    }
    uint64_t shared, non_shared, vlen;
    if (!sst_varint(&it->p, it->end, &shared) || !sst_varint(&it->p, it->end, &non_shared) ||
        !sst_varint(&it->p, it->end, &vlen) || shared > it->key_len ||
        non_shared > (uint64_t)(it->end - it->p) ||
        vlen > (uint64_t)(it->end - it->p) - non_shared) {
        tq_fail(TFMQ_ERR_PARSE, "tf: %s: malformed block entry", path);
        return -1;
    }
    size_t klen = (size_t)shared + (size_t)non_shared;
    if (klen + 1 > it->key_cap) {
        size_t cap = klen + 64;
        uint8_t *k = tq_realloc(alloc, it->key, it->key_cap, cap);
        if (!k) {
            tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "tf: %s: out of memory", path);
            return -1;
        }
        it->key = k;
        it->key_cap = cap;
    }
    memcpy(it->key + shared, it->p, (size_t)non_shared);
    it->key_len = klen;
    it->key[klen] = 0;
    it->p += non_shared;
    it->val = it->p;
    it->val_len = (size_t)vlen;
    it->p += vlen;
    return 1;
}

static tfmq_status bundle_add(tq_tf_bundle *b, const char *path, const uint8_t *key, size_t klen,
                              const uint8_t *val, size_t vlen)
{
    if (memchr(key, 0, klen)) {
        return tq_fail(TFMQ_ERR_PARSE, "tf: %s: key with a NUL byte", path);
    }
    if (b->n_ents) {
        const tq_tf_bundle_ent *last = &b->ents[b->n_ents - 1];
        size_t m = last->key_len < klen ? last->key_len : klen;
        int c = memcmp(last->key, key, m);
        if (c > 0 || (c == 0 && last->key_len >= klen)) {
            return tq_fail(TFMQ_ERR_PARSE, "tf: %s: keys are not in increasing order at '%s'",
                           path, (const char *)key);
        }
    }
    if (b->n_ents >= TQ_TF_MAX_ENTRIES) {
        return tq_fail(TFMQ_ERR_UNSUPPORTED, "tf: %s: more than %zu entries", path,
                       TQ_TF_MAX_ENTRIES);
    }
    if (b->n_ents == b->cap_ents) {
        size_t cap = b->cap_ents ? b->cap_ents * 2 : 64;
        tq_tf_bundle_ent *e =
            tq_realloc(b->alloc, b->ents, b->cap_ents * sizeof(*e), cap * sizeof(*e));
        if (!e) {
            return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "tf: %s: out of memory", path);
        }
        b->ents = e;
        b->cap_ents = cap;
    }
    char *k = tq_arena_strndup(&b->keys, (const char *)key, klen);
    if (!k) {
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "tf: %s: out of memory", path);
    }
    tq_tf_bundle_ent *e = &b->ents[b->n_ents++];
    e->key = k;
    e->key_len = klen;
    e->val = val;
    e->val_len = vlen;
    return TFMQ_OK;
}

void tq_tf_bundle_close(tq_tf_bundle *b)
{
    if (!b) {
        return;
    }
    tq_free(b->alloc, b->index, b->index_bytes + 1);
    tq_free(b->alloc, b->ents, b->cap_ents * sizeof(*b->ents));
    tq_arena_free(&b->keys);
    b->index = NULL;
    b->ents = NULL;
    b->n_ents = b->cap_ents = 0;
}

tfmq_status tq_tf_bundle_open(tq_tf_bundle *b, const char *prefix, const tfmq_allocator *alloc)
{
    tfmq_status st;
    char path[4200];
    sst_iter ii, di;
    tq_onnx_pb_alloc pa;
    memset(b, 0, sizeof(*b));
    memset(&ii, 0, sizeof(ii));
    memset(&di, 0, sizeof(di));
    b->alloc = alloc;
    tq_arena_init(&b->keys, alloc);
    if (strlen(prefix) >= sizeof(b->prefix)) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "tf: path too long");
    }
    memcpy(b->prefix, prefix, strlen(prefix) + 1);
    snprintf(path, sizeof(path), "%s.index", prefix);
    TQ_TRY(st, tq_tf_read_file(path, alloc, TQ_TF_MAX_FILE_BYTES, &b->index, &b->index_bytes));
    if (b->index_bytes < TQ_SST_FOOTER) {
        st = tq_fail(TFMQ_ERR_PARSE, "tf: %s: %zu bytes, too short for an SSTable", path,
                     b->index_bytes);
        goto fail;
    }
    const uint8_t *foot = b->index + b->index_bytes - TQ_SST_FOOTER;
    uint64_t magic = (uint64_t)sst_u32(foot + 40) | (uint64_t)sst_u32(foot + 44) << 32;
    if (magic != TQ_SST_MAGIC) {
        st = tq_fail(TFMQ_ERR_PARSE, "tf: %s: not an SSTable (bad magic)", path);
        goto fail;
    }
    const uint8_t *p = foot, *fend = foot + 40;
    uint64_t meta_off, meta_size, idx_off, idx_size;
    if (!sst_varint(&p, fend, &meta_off) || !sst_varint(&p, fend, &meta_size) ||
        !sst_varint(&p, fend, &idx_off) || !sst_varint(&p, fend, &idx_size)) {
        st = tq_fail(TFMQ_ERR_PARSE, "tf: %s: malformed footer", path);
        goto fail;
    }
    sst_block ib;
    TQ_TRY(st, sst_read_block(b, path, idx_off, idx_size, "index", &ib));
    ii.p = ib.data;
    ii.end = ib.data + ib.n;
    for (;;) {
        int r = sst_next(&ii, alloc, path);
        if (r < 0) {
            st = TFMQ_ERR_PARSE;
            goto fail;
        }
        if (r == 0) {
            break;
        }
        const uint8_t *hp = ii.val;
        uint64_t doff, dsize;
        if (!sst_varint(&hp, ii.val + ii.val_len, &doff) ||
            !sst_varint(&hp, ii.val + ii.val_len, &dsize)) {
            st = tq_fail(TFMQ_ERR_PARSE, "tf: %s: malformed block handle in the index", path);
            goto fail;
        }
        sst_block db;
        TQ_TRY(st, sst_read_block(b, path, doff, dsize, "data", &db));
        di.p = db.data;
        di.end = db.data + db.n;
        di.key_len = 0;
        for (;;) {
            int rd = sst_next(&di, alloc, path);
            if (rd < 0) {
                st = TFMQ_ERR_PARSE;
                goto fail;
            }
            if (rd == 0) {
                break;
            }
            TQ_TRY(st, bundle_add(b, path, di.key, di.key_len, di.val, di.val_len));
        }
    }
    if (!b->n_ents || b->ents[0].key_len != 0) {
        st = tq_fail(TFMQ_ERR_PARSE, "tf: %s: no bundle header (empty key)", path);
        goto fail;
    }
    tq_onnx_pb_alloc_init(&pa, alloc);
    Tqtf__BundleHeaderProto *h =
        tqtf__bundle_header_proto__unpack(&pa.pb, b->ents[0].val_len, b->ents[0].val);
    if (!h) {
        st = tq_fail(pa.oom ? TFMQ_ERR_OUT_OF_MEMORY : TFMQ_ERR_PARSE,
                     "tf: %s: malformed bundle header", path);
        goto fail;
    }
    b->num_shards = h->num_shards;
    int32_t endian = h->endianness;
    tqtf__bundle_header_proto__free_unpacked(h, &pa.pb);
    if (endian != 0) {
        st = tq_fail(TFMQ_ERR_UNSUPPORTED, "tf: %s: big-endian bundle", path);
        goto fail;
    }
    if (b->num_shards < 1 || b->num_shards > 99999) {
        st = tq_fail(TFMQ_ERR_PARSE, "tf: %s: %d shards", path, b->num_shards);
        goto fail;
    }
    tq_free(alloc, ii.key, ii.key_cap);
    tq_free(alloc, di.key, di.key_cap);
    return TFMQ_OK;
fail:
    tq_free(alloc, ii.key, ii.key_cap);
    tq_free(alloc, di.key, di.key_cap);
    tq_tf_bundle_close(b);
    return st;
}

const tq_tf_bundle_ent *tq_tf_bundle_find(const tq_tf_bundle *b, const char *key)
{
    size_t lo = 0, hi = b->n_ents, klen = strlen(key);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const tq_tf_bundle_ent *e = &b->ents[mid];
        size_t m = e->key_len < klen ? e->key_len : klen;
        int c = memcmp(e->key, key, m);
        if (c == 0) {
            c = e->key_len < klen ? -1 : (e->key_len > klen ? 1 : 0);
        }
        if (c == 0) {
            return e;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

/* Unpacked entry with its checked location. */
typedef struct bundle_loc {
    int32_t dtype;
    tq_tensor t;      /* dtype (numeric types) and shape */
    int32_t shard;
    uint64_t offset, size;
    uint32_t crc;
} bundle_loc;

static tfmq_status bundle_entry(const tq_tf_bundle *b, const tq_tf_bundle_ent *e,
                                bundle_loc *loc)
{
    tq_onnx_pb_alloc pa;
    tfmq_status st = TFMQ_OK;
    memset(loc, 0, sizeof(*loc));
    tq_onnx_pb_alloc_init(&pa, b->alloc);
    Tqtf__BundleEntryProto *be = tqtf__bundle_entry_proto__unpack(&pa.pb, e->val_len, e->val);
    if (!be) {
        return tq_fail(pa.oom ? TFMQ_ERR_OUT_OF_MEMORY : TFMQ_ERR_PARSE,
                       "tf: %s.index: tensor '%s': malformed entry", b->prefix, e->key);
    }
    loc->dtype = be->dtype;
    loc->shard = be->shard_id;
    loc->crc = be->crc32c;
    if (be->n_slices) {
        st = tq_fail(TFMQ_ERR_UNSUPPORTED,
                     "tf: %s.index: tensor '%s' is partitioned (sliced); not supported",
                     b->prefix, e->key);
        goto done;
    }
    if (be->offset < 0 || be->size < 0 || be->shard_id < 0 || be->shard_id >= b->num_shards) {
        st = tq_fail(TFMQ_ERR_PARSE,
                     "tf: %s.index: tensor '%s': bad location (shard %d of %d, offset %lld, "
                     "size %lld)",
                     b->prefix, e->key, be->shard_id, b->num_shards, (long long)be->offset,
                     (long long)be->size);
        goto done;
    }
    loc->offset = (uint64_t)be->offset;
    loc->size = (uint64_t)be->size;
    const Tqtf__TensorShapeProto *sp = be->shape;
    size_t rank = sp ? sp->n_dim : 0;
    if ((sp && sp->unknown_rank) || rank > TQ_MAX_RANK) {
        st = tq_fail(TFMQ_ERR_UNSUPPORTED, "tf: %s.index: tensor '%s': rank %zu not supported",
                     b->prefix, e->key, rank);
        goto done;
    }
    loc->t.rank = (int32_t)rank;
    for (size_t i = 0; i < rank; i++) {
        int64_t d = sp->dim[i] ? sp->dim[i]->size : -1;
        if (d < 0) {
            st = tq_fail(TFMQ_ERR_PARSE, "tf: %s.index: tensor '%s': dim %zu is %lld", b->prefix,
                         e->key, i, (long long)d);
            goto done;
        }
        loc->t.dims[i] = d;
    }
done:
    tqtf__bundle_entry_proto__free_unpacked(be, &pa.pb);
    return st;
}

/* Whether shard `shard` holds `size` bytes at `offset`: checked before the tensor's block is
 * allocated, so that a few bytes of index cannot make us allocate gigabytes for data that is not
 * there. */
static tfmq_status bundle_check_extent(const tq_tf_bundle *b, const char *key, int32_t shard,
                                       uint64_t offset, uint64_t size)
{
    char path[4200];
    struct stat sb;
    snprintf(path, sizeof(path), "%s.data-%05d-of-%05d", b->prefix, shard, b->num_shards);
    if (stat(path, &sb) != 0) {
        return tq_fail(TFMQ_ERR_IO, "tf: %s: cannot open (tensor '%s')", path, key);
    }
    uint64_t have = sb.st_size > 0 ? (uint64_t)sb.st_size : 0;
    if (offset > have || size > have - offset) {
        return tq_fail(TFMQ_ERR_PARSE,
                       "tf: %s: tensor '%s': %llu bytes at offset %llu lie past the end of the "
                       "file (%llu bytes; truncated?)",
                       path, key, (unsigned long long)size, (unsigned long long)offset,
                       (unsigned long long)have);
    }
    return TFMQ_OK;
}

/* Read `size` bytes of shard `shard` at `offset` into dst. */
static tfmq_status bundle_read_bytes(const tq_tf_bundle *b, const char *key, int32_t shard,
                                     uint64_t offset, uint64_t size, void *dst)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s.data-%05d-of-%05d", b->prefix, shard, b->num_shards);
    FILE *f = fopen(path, "rb");
    if (!f) {
        return tq_fail(TFMQ_ERR_IO, "tf: %s: cannot open (tensor '%s')", path, key);
    }
    if (offset > (uint64_t)0x7fffffffffffffffll ||
        fseeko(f, (off_t)offset, SEEK_SET) != 0 ||
        (size && fread(dst, 1, (size_t)size, f) != (size_t)size)) {
        fclose(f);
        return tq_fail(TFMQ_ERR_PARSE,
                       "tf: %s: tensor '%s': cannot read %llu bytes at offset %llu (truncated?)",
                       path, key, (unsigned long long)size, (unsigned long long)offset);
    }
    fclose(f);
    return TFMQ_OK;
}

tfmq_status tq_tf_bundle_read(const tq_tf_bundle *b, const tq_tf_bundle_ent *e, tq_graph *g,
                              tq_tensor *t_out, size_t *bytes_out)
{
    bundle_loc loc;
    tfmq_status st = bundle_entry(b, e, &loc);
    if (st != TFMQ_OK) {
        return st;
    }
    if (!tq_tf_dtype(loc.dtype, &loc.t.dtype)) {
        return tq_fail(TFMQ_ERR_UNSUPPORTED, "tf: %s.index: tensor '%s': TF dtype %d not supported",
                       b->prefix, e->key, loc.dtype);
    }
    size_t bytes;
    if (!tq_tensor_bytes(&loc.t, &bytes) || bytes != loc.size) {
        return tq_fail(TFMQ_ERR_PARSE,
                       "tf: %s.index: tensor '%s': %llu bytes stored, shape needs %zu",
                       b->prefix, e->key, (unsigned long long)loc.size, bytes);
    }
    if ((st = bundle_check_extent(b, e->key, loc.shard, loc.offset, loc.size)) != TFMQ_OK) {
        return st;
    }
    void *data = tq_graph_alloc_data(g, bytes ? bytes : 1);
    if (!data) {
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "tf: tensor '%s': out of memory", e->key);
    }
    if ((st = bundle_read_bytes(b, e->key, loc.shard, loc.offset, loc.size, data)) != TFMQ_OK) {
        return st;
    }
    uint32_t crc = tq_tf_crc_mask(tq_crc32c(0, data, bytes));
    if (crc != loc.crc) {
        return tq_fail(TFMQ_ERR_PARSE,
                       "tf: %s.data-%05d-of-%05d: tensor '%s': CRC mismatch (stored 0x%08x, "
                       "computed 0x%08x): the file is corrupt",
                       b->prefix, loc.shard, b->num_shards, e->key, loc.crc, crc);
    }
    *t_out = loc.t;
    t_out->data = data;
    *bytes_out = bytes;
    return TFMQ_OK;
}

tfmq_status tq_tf_bundle_read_string(const tq_tf_bundle *b, const tq_tf_bundle_ent *e,
                                     uint8_t **data_out, size_t *n_out)
{
    bundle_loc loc;
    *data_out = NULL;
    *n_out = 0;
    tfmq_status st = bundle_entry(b, e, &loc);
    if (st != TFMQ_OK) {
        return st;
    }
    if (loc.dtype != 7 || loc.t.rank != 0) {
        return tq_fail(TFMQ_ERR_PARSE, "tf: %s.index: tensor '%s' is not a scalar string",
                       b->prefix, e->key);
    }
    if (loc.size > TQ_TF_MAX_FILE_BYTES || loc.size < 5) {
        return tq_fail(TFMQ_ERR_PARSE, "tf: %s.index: tensor '%s': %llu bytes", b->prefix,
                       e->key, (unsigned long long)loc.size);
    }
    if ((st = bundle_check_extent(b, e->key, loc.shard, loc.offset, loc.size)) != TFMQ_OK) {
        return st;
    }
    size_t n = (size_t)loc.size;
    uint8_t *raw = tq_alloc(b->alloc, n);
    if (!raw) {
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "tf: tensor '%s': out of memory", e->key);
    }
    if ((st = bundle_read_bytes(b, e->key, loc.shard, loc.offset, loc.size, raw)) != TFMQ_OK) {
        goto fail;
    }
    /* layout: varint64 length, masked CRC-32C (u32) of the length, the bytes. The entry's CRC
     * covers the length (as written by TF 2.x: a uint32 when it fits, older writers a uint64),
     * the length checksum and the bytes; both widths are accepted. */
    const uint8_t *p = raw, *end = raw + n;
    uint64_t len;
    if (!sst_varint(&p, end, &len) || (size_t)(end - p) < 4 || len != (uint64_t)(end - p - 4)) {
        st = tq_fail(TFMQ_ERR_PARSE, "tf: %s: tensor '%s': malformed string tensor", b->prefix,
                     e->key);
        goto fail;
    }
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) {
        len8[i] = (uint8_t)(len >> (8 * i));
    }
    bool ok = false;
    for (size_t w = 4; w <= 8 && !ok; w += 4) {
        if (w == 4 && len > UINT32_MAX) {
            continue;
        }
        uint32_t crc = tq_crc32c(0, len8, w);
        ok = tq_tf_crc_mask(crc) == sst_u32(p);
        crc = tq_crc32c(crc, p, 4);
        crc = tq_crc32c(crc, p + 4, (size_t)len);
        ok = ok && tq_tf_crc_mask(crc) == loc.crc;
    }
    if (!ok) {
        st = tq_fail(TFMQ_ERR_PARSE,
                     "tf: %s.data-%05d-of-%05d: tensor '%s': CRC mismatch: the file is corrupt",
                     b->prefix, loc.shard, b->num_shards, e->key);
        goto fail;
    }
    uint8_t *out = tq_alloc(b->alloc, (size_t)len + 1);
    if (!out) {
        st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "tf: tensor '%s': out of memory", e->key);
        goto fail;
    }
    memcpy(out, p + 4, (size_t)len);
    tq_free(b->alloc, raw, n);
    *data_out = out;
    *n_out = (size_t)len;
    return TFMQ_OK;
fail:
    tq_free(b->alloc, raw, n);
    return st;
}
