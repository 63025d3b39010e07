/* h5read.c: a read-only HDF5 reader for what Keras and h5py write, replacing libhdf5 (whose 1.10
 * decoders trust the file: tests/fuzz/README.md). The format: "HDF5 File Format Specification
 * Version 3.0" (hdfgroup.org). What is read:
 *   - superblock versions 0-3, found at 0, 512, 1024, 2048, ...; sizes of offsets and lengths
 *     2, 4 or 8; the base address;
 *   - object headers version 1 and version 2 ("OHDR", checksum verified), with continuation
 *     chunks (version 2: "OCHK", checksum verified); at most TQ_H5_MAX_CHUNKS chunks and
 *     TQ_H5_MAX_MSGS messages, a chunk named twice is refused (loops);
 *   - groups: symbol tables (v1 B-tree "TREE" of "SNOD" nodes, names in a local heap "HEAP") and
 *     compact links (link messages); hard links only;
 *   - dataspaces v1/v2 (scalar, simple, null); datatypes fixed-point, IEEE floating-point
 *     (16/32/64 bits, either byte order), fixed-length strings, variable-length strings (global
 *     heap "GCOL"); attributes v1-v3; layouts v3/v4 compact and contiguous, v3 chunked with the
 *     v1 B-tree chunk index and the deflate, shuffle and fletcher32 filters.
 * Refused with TFMQ_ERR_UNSUPPORTED: dense link or attribute storage (fractal heaps), soft and
 * external links, shared (committed) messages, external and virtual storage, version 4 chunk
 * indexes, other filters, other datatype classes (readable as nothing), VAX float order.
 * Everything else wrong is TFMQ_ERR_PARSE with what was wrong and where (file address). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "import/keras/h5read.h"

#define H5_UNDEF UINT64_MAX
#define TQ_H5_MAX_CHUNKS 256u          /* chunks of one object header */
#define TQ_H5_MAX_MSGS 65536u          /* messages of one object header */
#define TQ_H5_MAX_NODES (1u << 18)     /* B-tree nodes visited by one walk */
#define TQ_H5_MAX_DEPTH 64u            /* B-tree levels */
#define TQ_H5_MAX_PATH 64u             /* components of a path */
#define TQ_H5_MAX_HEAP_STEPS (1u << 26) /* global heap objects stepped over by one attribute */
#define TQ_H5_MAX_CHUNK_BYTES ((size_t)1 << 30)

struct tq_h5_file {
    const tfmq_allocator *alloc;
    const uint8_t *buf;     /* the whole file */
    size_t n;
    uint8_t *owned;         /* buf when read from a path */
    uint64_t base;          /* absolute offset of address 0 */
    unsigned ob, lb;        /* sizes of offsets and lengths */
    uint64_t root;          /* root group's object header */
};

static uint64_t h5_get(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

/* An address field: H5_UNDEF when all ones. */
static uint64_t h5_addr(const tq_h5_file *f, const uint8_t *p)
{
    uint64_t v = h5_get(p, f->ob);
    if (f->ob < 8 && v == (((uint64_t)1 << (8 * f->ob)) - 1)) {
        return H5_UNDEF;
    }
    return v;
}

/* The n bytes at file address `addr` (relative to the base address), if they lie in the file. */
static bool h5_span(const tq_h5_file *f, uint64_t addr, uint64_t n, const uint8_t **p)
{
    if (addr == H5_UNDEF || addr > f->n || f->base > f->n - addr) {
        return false;
    }
    uint64_t abs = f->base + addr;
    if (n > f->n - abs) {
        return false;
    }
    *p = f->buf + abs;
    return true;
}

static unsigned long long h5_ull(uint64_t v)
{
    return (unsigned long long)v;
}

/* ---- lookup3 (Bob Jenkins, public domain), as HDF5's H5_checksum_lookup3 ---- */

static uint32_t h5_rot(uint32_t x, unsigned k)
{
    return (x << k) | (x >> (32 - k));
}

uint32_t tq_h5_checksum(const void *data, size_t n)
{
    const uint8_t *k = data;
    uint32_t a, b, c;
    a = b = c = 0xdeadbeefu + (uint32_t)n;
    while (n > 12) {
        a += (uint32_t)k[0] | (uint32_t)k[1] << 8 | (uint32_t)k[2] << 16 | (uint32_t)k[3] << 24;
        b += (uint32_t)k[4] | (uint32_t)k[5] << 8 | (uint32_t)k[6] << 16 | (uint32_t)k[7] << 24;
        c += (uint32_t)k[8] | (uint32_t)k[9] << 8 | (uint32_t)k[10] << 16 | (uint32_t)k[11] << 24;
        a -= c; a ^= h5_rot(c, 4);  c += b;
        b -= a; b ^= h5_rot(a, 6);  a += c;
        c -= b; c ^= h5_rot(b, 8);  b += a;
        a -= c; a ^= h5_rot(c, 16); c += b;
        b -= a; b ^= h5_rot(a, 19); a += c;
        c -= b; c ^= h5_rot(b, 4);  b += a;
        n -= 12;
        k += 12;
    }
    if (n == 0) {
        return c;
    }
    uint32_t w[3] = {0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        w[i / 4] |= (uint32_t)k[i] << (8 * (i % 4));
    }
    a += w[0];
    b += w[1];
    c += w[2];
    c ^= b; c -= h5_rot(b, 14);
    a ^= c; a -= h5_rot(c, 11);
    b ^= a; b -= h5_rot(a, 25);
    c ^= b; c -= h5_rot(b, 16);
    a ^= c; a -= h5_rot(c, 4);
    b ^= a; b -= h5_rot(a, 14);
    c ^= b; c -= h5_rot(b, 24);
    return c;
}

/* The n bytes at p end in their checksum (4 bytes LE over the n - 4 before). */
static bool h5_sum_ok(const uint8_t *p, size_t n)
{
    return n >= 4 && tq_h5_checksum(p, n - 4) == (uint32_t)h5_get(p + n - 4, 4);
}

/* ---- open ---- */

static tfmq_status h5_superblock(tq_h5_file *f)
{
    static const uint8_t sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    size_t at = 0;
    for (;;) {
        if (at > f->n || f->n - at < 8) {
            return tq_fail(TFMQ_ERR_PARSE, "hdf5: no superblock (not an HDF5 file, or truncated)");
        }
        if (memcmp(f->buf + at, sig, 8) == 0) {
            break;
        }
        at = at ? at * 2 : 512;
    }
    const uint8_t *p = f->buf + at;
    size_t left = f->n - at;
    if (left < 16) {
        return tq_fail(TFMQ_ERR_PARSE, "hdf5: superblock truncated");
    }
    unsigned ver = p[8];
    size_t q;
    uint64_t base, root, eof;
    if (ver <= 1) {
        f->ob = p[13];
        f->lb = p[14];
        q = ver == 1 ? 28 : 24;
    } else if (ver <= 3) {
        f->ob = p[9];
        f->lb = p[10];
        q = 12;
    } else {
        return tq_fail(TFMQ_ERR_UNSUPPORTED, "hdf5: superblock version %u is not supported", ver);
    }
    if ((f->ob != 2 && f->ob != 4 && f->ob != 8) || (f->lb != 2 && f->lb != 4 && f->lb != 8)) {
        return tq_fail(TFMQ_ERR_PARSE, "hdf5: superblock: sizes of offsets/lengths %u/%u are not "
                       "2, 4 or 8", f->ob, f->lb);
    }
    if (ver <= 1) {
        /* base, free-space info, end of file, driver info; root symbol table entry (link name
         * offset, object header address, cache type, reserved, scratch) */
        size_t need = q + 4 * (size_t)f->ob + 2 * (size_t)f->ob + 24;
        if (left < need) {
            return tq_fail(TFMQ_ERR_PARSE, "hdf5: superblock truncated");
        }
        base = h5_get(p + q, f->ob);
        eof = h5_addr(f, p + q + 2 * (size_t)f->ob);
        root = h5_addr(f, p + q + 5 * (size_t)f->ob);
    } else {
        /* base, superblock extension, end of file, root object header, checksum */
        size_t need = q + 4 * (size_t)f->ob + 4;
        if (left < need) {
            return tq_fail(TFMQ_ERR_PARSE, "hdf5: superblock truncated");
        }
        if (!h5_sum_ok(p, need)) {
            return tq_fail(TFMQ_ERR_PARSE, "hdf5: superblock checksum mismatch");
        }
        base = h5_get(p + q, f->ob);
        eof = h5_addr(f, p + q + 2 * (size_t)f->ob);
        root = h5_addr(f, p + q + 3 * (size_t)f->ob);
    }
    if (base > f->n) {
        return tq_fail(TFMQ_ERR_PARSE, "hdf5: superblock base address 0x%llx is past the end of "
                       "the file", h5_ull(base));
    }
    if (eof == H5_UNDEF || eof > f->n - base) {
        /* as libhdf5: a file shorter than its superblock says is truncated */
        return tq_fail(TFMQ_ERR_PARSE, "hdf5: the file is truncated (%zu bytes, the superblock "
                       "says %llu)", f->n, h5_ull(base + (eof == H5_UNDEF ? 0 : eof)));
    }
    f->base = base;
    f->root = root;
    return TFMQ_OK;
}

typedef struct h5_msg {
    unsigned type, flags;
    const uint8_t *p;
    size_t n;
} h5_msg;

typedef struct h5_hdr {
    const tfmq_allocator *alloc;
    h5_msg *m;
    size_t n, cap;
} h5_hdr;

static void h5_hdr_free(h5_hdr *h)
{
    tq_free(h->alloc, h->m, h->cap * sizeof(*h->m));
    h->m = NULL;
    h->n = h->cap = 0;
}

static tfmq_status h5_hdr_push(h5_hdr *h, unsigned type, unsigned flags, const uint8_t *p,
                               size_t n, uint64_t addr)
{
    if (h->n == h->cap) {
        if (h->cap >= TQ_H5_MAX_MSGS) {
            return tq_fail(TFMQ_ERR_PARSE, "hdf5: object header at 0x%llx has more than %u "
                           "messages", h5_ull(addr), TQ_H5_MAX_MSGS);
        }
        size_t cap = h->cap ? h->cap * 2 : 16;
        h5_msg *m = tq_realloc(h->alloc, h->m, h->cap * sizeof(*m), cap * sizeof(*m));
        if (!m) {
            return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "hdf5: out of memory");
        }
        h->m = m;
        h->cap = cap;
    }
    h->m[h->n].type = type;
    h->m[h->n].flags = flags;
    h->m[h->n].p = p;
    h->m[h->n].n = n;
    h->n++;
    return TFMQ_OK;
}

/* Read the object header at addr: every message of every chunk (continuations followed, NIL
 * messages dropped) into h, pointing into the file. */
static tfmq_status h5_hdr_read(tq_h5_file *f, uint64_t addr, h5_hdr *h)
{
    tfmq_status st;
    const uint8_t *p;
    uint64_t chunk_addr[TQ_H5_MAX_CHUNKS];
    const uint8_t *chunk_p[TQ_H5_MAX_CHUNKS];
    size_t chunk_n[TQ_H5_MAX_CHUNKS];
    size_t n_chunks = 0;
    unsigned ver, hflags = 0;

    memset(h, 0, sizeof(*h));
    h->alloc = f->alloc;
    if (!h5_span(f, addr, 16, &p)) {
        return tq_fail(TFMQ_ERR_PARSE, "hdf5: object header at 0x%llx lies outside the file",
                       h5_ull(addr));
    }
    if (memcmp(p, "OHDR", 4) == 0) {
        ver = 2;
        hflags = p[5];
        if (p[4] != 2 || (hflags & 0xc0)) {
            return tq_fail(TFMQ_ERR_PARSE, "hdf5: object header at 0x%llx: version %u, flags "
                           "0x%x not understood", h5_ull(addr), p[4], hflags);
        }
        size_t q = 6 + ((hflags & 0x20) ? 16 : 0) + ((hflags & 0x10) ? 4 : 0);
        unsigned szn = 1u << (hflags & 3);
        const uint8_t *pre;
        if (!h5_span(f, addr, q + szn, &pre)) {
            return tq_fail(TFMQ_ERR_PARSE, "hdf5: object header at 0x%llx truncated",
                           h5_ull(addr));
        }
        uint64_t len0 = h5_get(pre + q, szn);
        q += szn;
        const uint8_t *all;
        if (len0 > f->n || !h5_span(f, addr, q + len0 + 4, &all)) {
            return tq_fail(TFMQ_ERR_PARSE, "hdf5: object header at 0x%llx: chunk of %llu bytes "
                           "lies past the end of the file", h5_ull(addr), h5_ull(len0));
        }
        if (!h5_sum_ok(all, q + (size_t)len0 + 4)) {
            return tq_fail(TFMQ_ERR_PARSE, "hdf5: object header at 0x%llx: checksum mismatch",
                           h5_ull(addr));
        }
        chunk_p[0] = all + q;
        chunk_n[0] = (size_t)len0;
    } else if (p[0] == 1) {
        ver = 1;
        uint64_t len0 = h5_get(p + 8, 4);
        const uint8_t *all;
        if (!h5_span(f, addr, 16 + len0, &all)) {
            return tq_fail(TFMQ_ERR_PARSE, "hdf5: object header at 0x%llx: chunk of %llu bytes "
                           "lies past the end of the file", h5_ull(addr), h5_ull(len0));
        }
        chunk_p[0] = all + 16;
        chunk_n[0] = (size_t)len0;
    } else {
        return tq_fail(TFMQ_ERR_PARSE, "hdf5: no object header at 0x%llx (version %u)",
                       h5_ull(addr), p[0]);
    }
    chunk_addr[0] = addr;
    n_chunks = 1;
    size_t mh = ver == 1 ? 8 : 4 + ((hflags & 0x04) ? 2 : 0); /* message header bytes */
    for (size_t ci = 0; ci < n_chunks; ci++) {
        const uint8_t *d = chunk_p[ci];
        size_t len = chunk_n[ci], o = 0;
        while (len - o >= mh) { /* version 2: a shorter tail is a gap */
            unsigned type, mflags;
            size_t sz;
            if (ver == 1) {
                type = (unsigned)h5_get(d + o, 2);
                sz = (size_t)h5_get(d + o + 2, 2);
                mflags = d[o + 4];
            } else {
                type = d[o];
                sz = (size_t)h5_get(d + o + 1, 2);
                mflags = d[o + 3];
            }
            o += mh;
            if (sz > len - o) {
                st = tq_fail(TFMQ_ERR_PARSE, "hdf5: object header at 0x%llx: message of %zu "
                             "bytes overruns its chunk", h5_ull(addr), sz);
                goto fail;
            }
            const uint8_t *md = d + o;
            o += sz;
            if (type == 0x10) { /* continuation: address, length */
                if (sz < (size_t)f->ob + f->lb) {
                    st = tq_fail(TFMQ_ERR_PARSE, "hdf5: object header at 0x%llx: short "
                                 "continuation message", h5_ull(addr));
                    goto fail;
                }
                uint64_t ca = h5_addr(f, md), cl = h5_get(md + f->ob, f->lb);
                const uint8_t *cp;
                if (cl > f->n || !h5_span(f, ca, cl, &cp) || (ver == 2 && cl < 8)) {
                    st = tq_fail(TFMQ_ERR_PARSE, "hdf5: object header at 0x%llx: continuation "
                                 "chunk 0x%llx (%llu bytes) lies outside the file", h5_ull(addr),
                                 h5_ull(ca), h5_ull(cl));
                    goto fail;
                }
                for (size_t k = 0; k < n_chunks; k++) {
                    if (chunk_addr[k] == ca) {
                        st = tq_fail(TFMQ_ERR_PARSE, "hdf5: object header at 0x%llx: "
                                     "continuation chunk 0x%llx named twice (a loop)",
                                     h5_ull(addr), h5_ull(ca));
                        goto fail;
                    }
                }
                if (n_chunks == TQ_H5_MAX_CHUNKS) {
                    st = tq_fail(TFMQ_ERR_PARSE, "hdf5: object header at 0x%llx has more than %u "
                                 "chunks", h5_ull(addr), TQ_H5_MAX_CHUNKS);
                    goto fail;
                }
                if (ver == 2) {
                    if (memcmp(cp, "OCHK", 4) != 0 || !h5_sum_ok(cp, (size_t)cl)) {
                        st = tq_fail(TFMQ_ERR_PARSE, "hdf5: object header at 0x%llx: "
                                     "continuation chunk 0x%llx: bad signature or checksum",
                                     h5_ull(addr), h5_ull(ca));
                        goto fail;
                    }
                    chunk_p[n_chunks] = cp + 4;
                    chunk_n[n_chunks] = (size_t)cl - 8;
                } else {
                    chunk_p[n_chunks] = cp;
                    chunk_n[n_chunks] = (size_t)cl;
                }
                chunk_addr[n_chunks++] = ca;
            } else if (type != 0) {
                TQ_TRY(st, h5_hdr_push(h, type, mflags, md, sz, addr));
            }
        }
    }
    return TFMQ_OK;
fail:
    h5_hdr_free(h);
    return st;
}

static tfmq_status h5_open(tq_h5_file *f, tq_h5_file **f_out)
{
    tfmq_status st;
    h5_hdr h;
    TQ_TRY(st, h5_superblock(f));
    TQ_TRY(st, h5_hdr_read(f, f->root, &h)); /* the root group must be readable */
    h5_hdr_free(&h);
    *f_out = f;
    return TFMQ_OK;
fail:
    tq_h5_close(f);
    return st;
}

tfmq_status tq_h5_open_image(const tfmq_allocator *a, const void *image, size_t n_bytes,
                             tq_h5_file **f_out)
{
    *f_out = NULL;
    tq_h5_file *f = tq_calloc(a, 1, sizeof(*f));
    if (!f) {
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "hdf5: out of memory");
    }
    f->alloc = a;
    f->buf = image;
    f->n = n_bytes;
    return h5_open(f, f_out);
}

tfmq_status tq_h5_open_path(const tfmq_allocator *a, const char *path, size_t max_bytes,
                            tq_h5_file **f_out)
{
    tfmq_status st;
    struct stat sb;
    *f_out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return tq_fail(TFMQ_ERR_IO, "cannot open the file: %s", strerror(errno));
    }
    tq_h5_file *f = tq_calloc(a, 1, sizeof(*f));
    if (!f) {
        close(fd);
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "hdf5: out of memory");
    }
    f->alloc = a;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = tq_fail(TFMQ_ERR_IO, "hdf5: not a regular file");
        goto fail;
    }
    if (sb.st_size < 0 || (uint64_t)sb.st_size > max_bytes) {
        st = tq_fail(TFMQ_ERR_UNSUPPORTED, "hdf5: the file is larger than %zu bytes", max_bytes);
        goto fail;
    }
    f->n = (size_t)sb.st_size;
    f->owned = tq_alloc(a, f->n ? f->n : 1);
    if (!f->owned) {
        st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "hdf5: out of memory (%zu bytes for the file)", f->n);
        goto fail;
    }
    for (size_t got = 0; got < f->n;) {
        ssize_t r = read(fd, f->owned + got, f->n - got);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            st = tq_fail(TFMQ_ERR_IO, "hdf5: read failed: %s", r < 0 ? strerror(errno)
                                                                     : "file shrank");
            goto fail;
        }
        got += (size_t)r;
    }
    close(fd);
    f->buf = f->owned;
    return h5_open(f, f_out);
fail:
    close(fd);
    tq_h5_close(f);
    return st;
}

void tq_h5_close(tq_h5_file *f)
{
    if (!f) {
        return;
    }
    tq_free(f->alloc, f->owned, f->n ? f->n : 1);
    tq_free(f->alloc, f, sizeof(*f));
}

tq_h5_obj tq_h5_root(tq_h5_file *f)
{
    tq_h5_obj o = {f, f->root};
    return o;
}

/* ---- groups ---- */

typedef struct h5_walk {
    tq_h5_link_fn fn;
    void *ud;
    bool stop;
    size_t nodes;
    const uint8_t *heap;  /* local heap data segment */
    size_t heap_n;
} h5_walk;

/* Symbol table node at addr: each entry's name (from the local heap) and object header. */
static tfmq_status h5_snod(tq_h5_file *f, uint64_t addr, h5_walk *w)
{
    const uint8_t *p;
    size_t esz = 2 * (size_t)f->ob + 24;
    if (!h5_span(f, addr, 8, &p) || memcmp(p, "SNOD", 4) != 0 || p[4] != 1) {
        return tq_fail(TFMQ_ERR_PARSE, "hdf5: no symbol table node at 0x%llx", h5_ull(addr));
    }
    size_t n = (size_t)h5_get(p + 6, 2);
    if (!h5_span(f, addr, 8 + n * esz, &p)) {
        return tq_fail(TFMQ_ERR_PARSE, "hdf5: symbol table node at 0x%llx truncated",
                       h5_ull(addr));
    }
    for (size_t i = 0; i < n && !w->stop; i++) {
        const uint8_t *e = p + 8 + i * esz;
        uint64_t off = h5_get(e, f->ob);
        const char *name = NULL;
        const void *nul = NULL;
        if (off < w->heap_n) {
            name = (const char *)w->heap + off;
            nul = memchr(name, 0, w->heap_n - (size_t)off);
        }
        if (!nul) {
            return tq_fail(TFMQ_ERR_PARSE, "hdf5: symbol table node at 0x%llx: name offset %llu "
                           "outside its local heap", h5_ull(addr), h5_ull(off));
        }
        tq_h5_obj o = {f, h5_addr(f, e + f->ob)};
        w->stop = w->fn(w->ud, name, (size_t)((const char *)nul - name), o);
    }
    return TFMQ_OK;
}

/* Group B-tree (version 1, type 0) node at addr of level `level` (-1: any, the root). */
static tfmq_status h5_gtree(tq_h5_file *f, uint64_t addr, int level, unsigned depth, h5_walk *w)
{
    tfmq_status st;
    const uint8_t *p;
    size_t hdr = 8 + 2 * (size_t)f->ob, kc = (size_t)f->lb + f->ob;
    if (++w->nodes > TQ_H5_MAX_NODES || depth > TQ_H5_MAX_DEPTH) {
        return tq_fail(TFMQ_ERR_PARSE, "hdf5: group B-tree too large or too deep (at 0x%llx)",
                       h5_ull(addr));
    }
    if (!h5_span(f, addr, hdr, &p) || memcmp(p, "TREE", 4) != 0 || p[4] != 0 ||
        (level >= 0 && p[5] != level)) {
        return tq_fail(TFMQ_ERR_PARSE, "hdf5: no group B-tree node (level %d) at 0x%llx", level,
                       h5_ull(addr));
    }
    unsigned lvl = p[5];
    size_t n = (size_t)h5_get(p + 6, 2);
    if (!h5_span(f, addr, hdr + n * kc + f->lb, &p)) {
        return tq_fail(TFMQ_ERR_PARSE, "hdf5: group B-tree node at 0x%llx truncated",
                       h5_ull(addr));
    }
    for (size_t i = 0; i < n && !w->stop; i++) {
        uint64_t child = h5_addr(f, p + hdr + i * kc + f->lb);
        if (lvl > 0) {
            TQ_TRY(st, h5_gtree(f, child, (int)lvl - 1, depth + 1, w));
        } else {
            TQ_TRY(st, h5_snod(f, child, w));
        }
    }
    return TFMQ_OK;
fail:
    return st;
}

/* A link message: its name and, for a hard link, the object's address (else H5_UNDEF). */
static tfmq_status h5_link_msg(const tq_h5_file *f, const h5_msg *m, const char **name,
                               size_t *len, uint64_t *addr)
{
    const uint8_t *p = m->p;
    size_t n = m->n, o = 2;
    if (n < 2 || p[0] != 1) {
        return tq_fail(TFMQ_ERR_PARSE, "hdf5: link message version %u not understood",
                       n ? p[0] : 0);
    }
    unsigned fl = p[1], ltype = 0;
    if (fl & 0x08) {
        if (o >= n) {
            goto short_msg;
        }
        ltype = p[o++];
    }
    o += (fl & 0x04) ? 8 : 0;
    o += (fl & 0x10) ? 1 : 0;
    size_t ln = (size_t)1 << (fl & 3);
    if (o > n || n - o < ln) {
        goto short_msg;
    }
    uint64_t nl = h5_get(p + o, (unsigned)ln);
    o += ln;
    if (nl == 0 || nl > n - o) {
        goto short_msg;
    }
    *name = (const char *)p + o;
    *len = (size_t)nl;
    o += (size_t)nl;
    *addr = H5_UNDEF;
    if (ltype == 0) {
        if (n - o < f->ob) {
            goto short_msg;
        }
        *addr = h5_addr(f, p + o);
    }
    return TFMQ_OK;
short_msg:
    return tq_fail(TFMQ_ERR_PARSE, "hdf5: link message truncated");
}

static tfmq_status h5_group_walk(tq_h5_file *f, uint64_t addr, h5_walk *w)
{
    tfmq_status st = TFMQ_OK;
    h5_hdr h;
    TQ_TRY(st, h5_hdr_read(f, addr, &h));
    for (size_t i = 0; i < h.n; i++) {
        const h5_msg *m = &h.m[i];
        if (m->type == 0x11) { /* symbol table: B-tree, local heap */
            const uint8_t *hp, *seg;
            if (m->n < 2 * (size_t)f->ob) {
                st = tq_fail(TFMQ_ERR_PARSE, "hdf5: group at 0x%llx: short symbol table message",
                             h5_ull(addr));
                goto done;
            }
            uint64_t bt = h5_addr(f, m->p), heap = h5_addr(f, m->p + f->ob);
            size_t hh = 8 + 2 * (size_t)f->lb + f->ob;
            if (!h5_span(f, heap, hh, &hp) || memcmp(hp, "HEAP", 4) != 0 || hp[4] != 0) {
                st = tq_fail(TFMQ_ERR_PARSE, "hdf5: group at 0x%llx: no local heap at 0x%llx",
                             h5_ull(addr), h5_ull(heap));
                goto done;
            }
            uint64_t seg_n = h5_get(hp + 8, f->lb), seg_a = h5_addr(f, hp + 8 + 2 * f->lb);
            if (seg_n > f->n || !h5_span(f, seg_a, seg_n, &seg)) {
                st = tq_fail(TFMQ_ERR_PARSE, "hdf5: group at 0x%llx: local heap data lies outside "
                             "the file", h5_ull(addr));
                goto done;
            }
            w->heap = seg;
            w->heap_n = (size_t)seg_n;
            st = h5_gtree(f, bt, -1, 0, w);
            goto done;
        }
    }
    for (size_t i = 0; i < h.n && !w->stop; i++) {
        const h5_msg *m = &h.m[i];
        if (m->type == 0x02) { /* link info: version, flags, [max index], heap, name index */
            size_t o = 2 + ((m->n >= 2 && (m->p[1] & 1)) ? 8 : 0);
            if (m->n < o + f->ob || m->p[0] != 0) {
                st = tq_fail(TFMQ_ERR_PARSE, "hdf5: group at 0x%llx: bad link info message",
                             h5_ull(addr));
                goto done;
            }
            if (h5_addr(f, m->p + o) != H5_UNDEF) {
                st = tq_fail(TFMQ_ERR_UNSUPPORTED, "hdf5: group at 0x%llx stores its links "
                             "densely (fractal heap), which is not supported", h5_ull(addr));
                goto done;
            }
        } else if (m->type == 0x06) {
            const char *name = NULL;
            size_t len = 0;
            uint64_t a = H5_UNDEF;
            TQ_TRY(st, h5_link_msg(f, m, &name, &len, &a));
            tq_h5_obj o = {f, a};
            w->stop = w->fn(w->ud, name, len, o);
        }
    }
done:
fail:
    h5_hdr_free(&h);
    return st;
}

tfmq_status tq_h5_links(tq_h5_obj grp, tq_h5_link_fn fn, void *ud)
{
    h5_walk w;
    memset(&w, 0, sizeof(w));
    w.fn = fn;
    w.ud = ud;
    return h5_group_walk(grp.f, grp.addr, &w);
}

typedef struct h5_find {
    const char *name;
    size_t len;
    bool found;
    uint64_t addr;
} h5_find;

static bool h5_find_fn(void *ud, const char *name, size_t len, tq_h5_obj obj)
{
    h5_find *fd = ud;
    if (len == fd->len && memcmp(name, fd->name, len) == 0) {
        fd->found = true;
        fd->addr = obj.addr;
        return true;
    }
    return false;
}

tfmq_status tq_h5_lookup(tq_h5_obj loc, const char *path, bool *found, tq_h5_obj *out)
{
    tfmq_status st;
    tq_h5_obj cur = loc;
    unsigned n_comp = 0;
    *found = false;
    for (const char *s = path; *s;) {
        const char *e = strchr(s, '/');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len > 0) {
            h5_find fd = {s, len, false, H5_UNDEF};
            if (++n_comp > TQ_H5_MAX_PATH) {
                return tq_fail(TFMQ_ERR_INVALID_ARG, "hdf5: path '%.100s' too deep", path);
            }
            if ((st = tq_h5_links(cur, h5_find_fn, &fd)) != TFMQ_OK) {
                return st;
            }
            if (!fd.found) {
                return TFMQ_OK;
            }
            if (fd.addr == H5_UNDEF) {
                return tq_fail(TFMQ_ERR_UNSUPPORTED, "hdf5: '%.*s' is a soft or external link "
                               "(not supported)", (int)(len > 200 ? 200 : len), s);
            }
            cur.addr = fd.addr;
        }
        s += len;
        if (*s == '/') {
            s++;
        }
    }
    *out = cur;
    *found = true;
    return TFMQ_OK;
}

tfmq_status tq_h5_is_dataset(tq_h5_obj obj, bool *is_dataset)
{
    h5_hdr h;
    tfmq_status st = h5_hdr_read(obj.f, obj.addr, &h);
    *is_dataset = false;
    for (size_t i = 0; st == TFMQ_OK && i < h.n; i++) {
        *is_dataset = *is_dataset || h.m[i].type == 0x08;
    }
    if (st == TFMQ_OK) {
        h5_hdr_free(&h);
    }
    return st;
}

/* ---- datatypes and dataspaces ---- */

static tfmq_status h5_dtype(const uint8_t *p, size_t n, unsigned ob, tq_h5_type *t)
{
    memset(t, 0, sizeof(*t));
    if (n < 8) {
        return tq_fail(TFMQ_ERR_PARSE, "hdf5: datatype message truncated");
    }
    unsigned cls = p[0] & 15, ver = p[0] >> 4;
    uint32_t bits = (uint32_t)h5_get(p + 1, 3);
    uint64_t size = h5_get(p + 4, 4);
    if (ver < 1 || ver > 4) {
        return tq_fail(TFMQ_ERR_PARSE, "hdf5: datatype version %u not understood", ver);
    }
    t->hdf5_class = cls;
    t->size = (size_t)size;
    t->cls = TQ_H5_OTHER;
    if (cls == 0) { /* fixed-point: byte order bit 0, signed bit 3; offset, precision */
        if (n < 12 || (size != 1 && size != 2 && size != 4 && size != 8) ||
            h5_get(p + 8, 2) != 0 || h5_get(p + 10, 2) != size * 8) {
            return TFMQ_OK; /* a layout not converted: readable as nothing */
        }
        t->cls = TQ_H5_INT;
        t->big_endian = bits & 1;
        t->is_signed = (bits >> 3) & 1;
    } else if (cls == 1) {
        /* IEEE layouts: size, exponent location/size, mantissa size, bias; sign bit on top */
        static const uint8_t lay[3][4] = {{2, 10, 5, 10}, {4, 23, 8, 23}, {8, 52, 11, 52}};
        static const uint32_t bias[3] = {15, 127, 1023};
        if (n < 20 || (bits & 0x40)) {
            return TFMQ_OK;
        }
        for (int i = 0; i < 3; i++) {
            if (size == lay[i][0] && h5_get(p + 8, 2) == 0 && h5_get(p + 10, 2) == size * 8 &&
                p[12] == lay[i][1] && p[13] == lay[i][2] && p[14] == 0 && p[15] == lay[i][3] &&
                h5_get(p + 16, 4) == bias[i] && ((bits >> 8) & 0xff) == size * 8 - 1) {
                t->cls = TQ_H5_FLOAT;
                t->big_endian = bits & 1;
            }
        }
    } else if (cls == 3) {
        if (size == 0) {
            return tq_fail(TFMQ_ERR_PARSE, "hdf5: string type of size 0");
        }
        t->cls = TQ_H5_STRING;
        t->strpad = bits & 15;
    } else if (cls == 9 && (bits & 15) == 1) {
        /* variable-length string: the element in the file is length (4), global heap
         * collection address, object index (4); the base type (1-byte characters) follows */
        if (size != 8 + (uint64_t)ob || n < 16 || h5_get(p + 12, 4) != 1) {
            return tq_fail(TFMQ_ERR_PARSE, "hdf5: malformed variable-length string type");
        }
        t->cls = TQ_H5_VLSTRING;
    }
    return TFMQ_OK;
}

static tfmq_status h5_dspace(const uint8_t *p, size_t n, unsigned lb, tq_h5_space *s)
{
    memset(s, 0, sizeof(*s));
    if (n < 4) {
        return tq_fail(TFMQ_ERR_PARSE, "hdf5: dataspace message truncated");
    }
    unsigned ver = p[0], rank = p[1];
    size_t at;
    if (ver == 1) {
        at = 8;
        s->kind = rank ? 1 : 0;
    } else if (ver == 2) {
        at = 4;
        s->kind = p[3];
        if (s->kind > 2 || (s->kind != 1 && rank != 0)) {
            return tq_fail(TFMQ_ERR_PARSE, "hdf5: dataspace type %u, rank %u not understood",
                           p[3], rank);
        }
    } else {
        return tq_fail(TFMQ_ERR_PARSE, "hdf5: dataspace version %u not understood", ver);
    }
    if (rank > TQ_H5_MAX_RANK || at + (uint64_t)rank * lb > n) {
        return tq_fail(TFMQ_ERR_PARSE, "hdf5: dataspace of rank %u truncated or too large", rank);
    }
    s->rank = rank;
    s->n_points = s->kind == 2 ? 0 : 1;
    for (unsigned i = 0; i < rank; i++) {
        uint64_t d = h5_get(p + at + (size_t)i * lb, lb);
        s->dims[i] = d;
        if (__builtin_mul_overflow(s->n_points, d, &s->n_points) || s->n_points > SIZE_MAX) {
            return tq_fail(TFMQ_ERR_PARSE, "hdf5: dataspace too large");
        }
    }
    return TFMQ_OK;
}

/* ---- attributes ---- */

/* Decode attribute message m: its name (name_len bytes, NUL excluded) and, when decode is set,
 * its type, space and data. */
static tfmq_status h5_attr_msg(tq_h5_file *f, const h5_msg *m, const char **name,
                               size_t *name_len, tq_h5_attr *at, bool decode)
{
    tfmq_status st;
    const uint8_t *p = m->p;
    size_t n = m->n;
    if (n < 8) {
        return tq_fail(TFMQ_ERR_PARSE, "hdf5: attribute message truncated");
    }
    unsigned ver = p[0], aflags = p[1];
    size_t nn = (size_t)h5_get(p + 2, 2), tn = (size_t)h5_get(p + 4, 2);
    size_t sn = (size_t)h5_get(p + 6, 2), o = ver == 3 ? 9 : 8;
    if (ver < 1 || ver > 3 || o > n) {
        return tq_fail(TFMQ_ERR_PARSE, "hdf5: attribute message version %u not understood", ver);
    }
    size_t pn = ver == 1 ? tq_align_up(nn, 8) : nn, pt = ver == 1 ? tq_align_up(tn, 8) : tn;
    size_t ps = ver == 1 ? tq_align_up(sn, 8) : sn;
    if (nn == 0 || pn > n - o || p[o + nn - 1] != 0 || memchr(p + o, 0, nn) != p + o + nn - 1) {
        return tq_fail(TFMQ_ERR_PARSE, "hdf5: attribute name not NUL-terminated inside its "
                       "message");
    }
    *name = (const char *)p + o;
    *name_len = nn - 1;
    if (!decode) {
        return TFMQ_OK;
    }
    o += pn;
    if (pt > n - o || ps > n - o - pt) {
        return tq_fail(TFMQ_ERR_PARSE, "hdf5: attribute '%.100s' truncated", *name);
    }
    if ((aflags & 3) || (m->flags & 2)) {
        return tq_fail(TFMQ_ERR_UNSUPPORTED, "hdf5: attribute '%.100s' uses a shared datatype or "
                       "dataspace (not supported)", *name);
    }
    memset(at, 0, sizeof(*at));
    at->f = f;
    if ((st = h5_dtype(p + o, tn, f->ob, &at->type)) != TFMQ_OK ||
        (st = h5_dspace(p + o + pt, sn, f->lb, &at->space)) != TFMQ_OK) {
        return tq_fail_prefix(st, "hdf5: attribute '%.100s'", *name);
    }
    o += pt + ps;
    size_t need;
    if (!tq_mul_size((size_t)at->space.n_points, at->type.size, &need) || need > n - o) {
        return tq_fail(TFMQ_ERR_PARSE, "hdf5: attribute '%.100s': data (%llu x %zu bytes) "
                       "overruns its message", *name, h5_ull(at->space.n_points), at->type.size);
    }
    at->data = p + o;
    at->data_bytes = need;
    return TFMQ_OK;
}

tfmq_status tq_h5_attr_find(tq_h5_obj loc, const char *name, bool *found, tq_h5_attr *out)
{
    tfmq_status st = TFMQ_OK;
    tq_h5_file *f = loc.f;
    h5_hdr h;
    bool dense = false;
    size_t want = strlen(name);
    *found = false;
    TQ_TRY(st, h5_hdr_read(f, loc.addr, &h));
    for (size_t i = 0; i < h.n; i++) {
        const h5_msg *m = &h.m[i];
        if (m->type == 0x0c) {
            const char *an = NULL;
            size_t al = 0;
            TQ_TRY(st, h5_attr_msg(f, m, &an, &al, out, false));
            if (al == want && memcmp(an, name, want) == 0) {
                TQ_TRY(st, h5_attr_msg(f, m, &an, &al, out, true));
                *found = true;
                break;
            }
        } else if (m->type == 0x15) { /* attribute info: version, flags, [max index], heap */
            size_t o = 2 + ((m->n >= 2 && (m->p[1] & 1)) ? 2 : 0);
            if (m->n < o + f->ob || m->p[0] != 0) {
                st = tq_fail(TFMQ_ERR_PARSE, "hdf5: bad attribute info message");
                goto fail;
            }
            dense = h5_addr(f, m->p + o) != H5_UNDEF;
        }
    }
    if (!*found && dense) {
        st = tq_fail(TFMQ_ERR_UNSUPPORTED, "hdf5: object at 0x%llx stores its attributes densely "
                     "(fractal heap), which is not supported", h5_ull(loc.addr));
    }
fail:
    h5_hdr_free(&h);
    if (st != TFMQ_OK) {
        *found = false;
    }
    return st;
}

/* The global heap object `idx` of the collection at addr (at most *steps objects stepped
 * over in all). */
static tfmq_status h5_gheap(const tq_h5_file *f, uint64_t addr, uint64_t idx, size_t *steps,
                            const uint8_t **obj, uint64_t *obj_n)
{
    const uint8_t *p;
    size_t lb = f->lb, hdr = tq_align_up(8 + lb, 8), oh = 8 + lb; /* object header */
    if (!h5_span(f, addr, hdr, &p) || memcmp(p, "GCOL", 4) != 0 || p[4] != 1) {
        return tq_fail(TFMQ_ERR_PARSE, "hdf5: no global heap collection at 0x%llx",
                       h5_ull(addr));
    }
    uint64_t cs = h5_get(p + 8, f->lb);
    if (cs < hdr || cs > f->n || !h5_span(f, addr, cs, &p)) {
        return tq_fail(TFMQ_ERR_PARSE, "hdf5: global heap collection at 0x%llx (%llu bytes) lies "
                       "outside the file", h5_ull(addr), h5_ull(cs));
    }
    for (uint64_t o = hdr; cs - o >= oh;) {
        uint64_t oi = h5_get(p + o, 2), sz = h5_get(p + o + 8, f->lb);
        if (oi == 0) {
            break; /* free space: the rest of the collection */
        }
        if (sz > cs - o - oh) {
            return tq_fail(TFMQ_ERR_PARSE, "hdf5: global heap collection at 0x%llx: object %llu "
                           "overruns the collection", h5_ull(addr), h5_ull(oi));
        }
        if (oi == idx) {
            *obj = p + o + oh;
            *obj_n = sz;
            return TFMQ_OK;
        }
        if (++*steps > TQ_H5_MAX_HEAP_STEPS) {
            return tq_fail(TFMQ_ERR_PARSE, "hdf5: too many global heap objects");
        }
        o += oh + ((sz + 7) & ~(uint64_t)7);
        if (o > cs) {
            break;
        }
    }
    return tq_fail(TFMQ_ERR_PARSE, "hdf5: global heap collection at 0x%llx has no object %llu",
                   h5_ull(addr), h5_ull(idx));
}

tfmq_status tq_h5_attr_strings(const tq_h5_attr *at, tq_h5_str_fn fn, void *ud)
{
    tfmq_status st;
    const tq_h5_file *f = at->f;
    size_t n = (size_t)at->space.n_points, w = at->type.size, steps = 0;
    if (at->type.cls != TQ_H5_STRING && at->type.cls != TQ_H5_VLSTRING) {
        return tq_fail(TFMQ_ERR_PARSE, "hdf5: not a string (datatype class %u)",
                       at->type.hdf5_class);
    }
    for (size_t i = 0; i < n; i++) {
        const uint8_t *e = at->data + i * w; /* n x w checked against the message */
        const char *s;
        size_t len;
        if (at->type.cls == TQ_H5_STRING) {
            s = (const char *)e;
            len = strnlen(s, w);
            if (at->type.strpad == 2) {
                while (len > 0 && s[len - 1] == ' ') {
                    len--;
                }
            }
        } else {
            uint64_t sl = h5_get(e, 4), ga = h5_addr(f, e + 4), gi = h5_get(e + 4 + f->ob, 4);
            const uint8_t *obj = NULL;
            uint64_t obj_n = 0;
            if (ga == 0 || ga == H5_UNDEF) {
                if (sl != 0) {
                    return tq_fail(TFMQ_ERR_PARSE, "hdf5: string %zu of %llu bytes has no heap "
                                   "object", i, h5_ull(sl));
                }
            } else if ((st = h5_gheap(f, ga, gi, &steps, &obj, &obj_n)) != TFMQ_OK) {
                return st;
            } else if (sl > obj_n) {
                return tq_fail(TFMQ_ERR_PARSE, "hdf5: string %zu claims %llu bytes, its heap "
                               "object holds %llu", i, h5_ull(sl), h5_ull(obj_n));
            }
            s = obj ? (const char *)obj : "";
            len = obj ? strnlen(s, (size_t)sl) : 0;
        }
        if ((st = fn(ud, s, len)) != TFMQ_OK) {
            return st;
        }
    }
    return TFMQ_OK;
}

/* ---- datasets ---- */

tfmq_status tq_h5_dset_open(tq_h5_obj obj, tq_h5_dset *d)
{
    tfmq_status st = TFMQ_OK;
    tq_h5_file *f = obj.f;
    h5_hdr h;
    const h5_msg *dt = NULL, *ds = NULL, *ly = NULL;
    memset(d, 0, sizeof(*d));
    d->f = f;
    TQ_TRY(st, h5_hdr_read(f, obj.addr, &h));
    for (size_t i = 0; i < h.n; i++) {
        const h5_msg *m = &h.m[i];
        if ((m->type == 0x01 || m->type == 0x03 || m->type == 0x08 || m->type == 0x0b) &&
            (m->flags & 2)) {
            st = tq_fail(TFMQ_ERR_UNSUPPORTED, "hdf5: shared (committed) message type %u is not "
                         "supported", m->type);
            goto fail;
        }
        switch (m->type) {
        case 0x01: ds = ds ? ds : m; break;
        case 0x03: dt = dt ? dt : m; break;
        case 0x08: ly = ly ? ly : m; break;
        case 0x0b:
            d->pline = m->p;
            d->pline_bytes = m->n;
            break;
        case 0x07:
            st = tq_fail(TFMQ_ERR_UNSUPPORTED, "hdf5: data stored in external files is not "
                         "supported");
            goto fail;
        default: break;
        }
    }
    if (!ly || !dt || !ds) {
        st = tq_fail(TFMQ_ERR_PARSE, "hdf5: not a dataset (no %s message)",
                     !ly ? "layout" : !dt ? "datatype" : "dataspace");
        goto fail;
    }
    TQ_TRY(st, h5_dtype(dt->p, dt->n, f->ob, &d->type));
    TQ_TRY(st, h5_dspace(ds->p, ds->n, f->lb, &d->space));
    const uint8_t *p = ly->p;
    size_t n = ly->n;
    if (n < 2 || (p[0] != 3 && p[0] != 4)) {
        st = tq_fail(TFMQ_ERR_UNSUPPORTED, "hdf5: data layout version %u is not supported",
                     n ? p[0] : 0);
        goto fail;
    }
    unsigned ver = p[0];
    d->layout = p[1];
    size_t need = 0;
    if (d->type.size == 0 || !tq_mul_size((size_t)d->space.n_points, d->type.size, &need)) {
        st = tq_fail(TFMQ_ERR_PARSE, "hdf5: dataset too large");
        goto fail;
    }
    if (d->layout == 0) { /* compact: size (2), data */
        if (n < 4 || h5_get(p + 2, 2) > n - 4) {
            st = tq_fail(TFMQ_ERR_PARSE, "hdf5: compact data overruns its layout message");
            goto fail;
        }
        d->compact = p + 4;
        d->compact_bytes = h5_get(p + 2, 2);
        if (d->compact_bytes < need) {
            st = tq_fail(TFMQ_ERR_PARSE, "hdf5: compact storage holds %llu bytes, the shape "
                         "needs %zu", h5_ull(d->compact_bytes), need);
            goto fail;
        }
    } else if (d->layout == 1) { /* contiguous: address, size */
        const uint8_t *data;
        if (n < 2 + (size_t)f->ob + f->lb) {
            st = tq_fail(TFMQ_ERR_PARSE, "hdf5: layout message truncated");
            goto fail;
        }
        d->addr = h5_addr(f, p + 2);
        d->stored_bytes = h5_get(p + 2 + f->ob, f->lb);
        if (d->addr != H5_UNDEF && need > 0) {
            if (d->stored_bytes < need) {
                st = tq_fail(TFMQ_ERR_PARSE, "hdf5: contiguous storage holds %llu bytes, the "
                             "shape needs %zu", h5_ull(d->stored_bytes), need);
                goto fail;
            }
            if (!h5_span(f, d->addr, need, &data)) {
                st = tq_fail(TFMQ_ERR_PARSE, "hdf5: data at 0x%llx (%zu bytes) lies past the end "
                             "of the file (truncated?)", h5_ull(d->addr), need);
                goto fail;
            }
        }
    } else if (d->layout == 2 && ver == 3) { /* chunked: rank + 1, B-tree address, dims (4) */
        unsigned cr = n >= 3 ? p[2] : 0;
        if (cr < 1 || cr - 1 != d->space.rank || n < 3 + (size_t)f->ob + 4 * (size_t)cr) {
            st = tq_fail(TFMQ_ERR_PARSE, "hdf5: chunked layout message malformed");
            goto fail;
        }
        d->chunk_rank = cr - 1;
        d->addr = h5_addr(f, p + 3);
        for (unsigned i = 0; i < cr; i++) {
            uint32_t c = (uint32_t)h5_get(p + 3 + f->ob + 4 * (size_t)i, 4);
            if (i + 1 < cr) {
                if (c == 0) {
                    st = tq_fail(TFMQ_ERR_PARSE, "hdf5: chunk dimension %u is 0", i);
                    goto fail;
                }
                d->chunk_dims[i] = c;
            } else if (c != d->type.size) {
                st = tq_fail(TFMQ_ERR_PARSE, "hdf5: chunk element size %u, datatype size %zu",
                             c, d->type.size);
                goto fail;
            }
        }
    } else if (d->layout == 2) {
        size_t ti = n >= 5 ? 5 + (size_t)p[3] * p[4] : n;
        st = tq_fail(TFMQ_ERR_UNSUPPORTED, "hdf5: chunked layout version 4 (chunk index type "
                     "%u) is not supported", ti < n ? p[ti] : 0);
        goto fail;
    } else if (d->layout == 3) {
        st = tq_fail(TFMQ_ERR_UNSUPPORTED, "hdf5: virtual datasets (other files) are not "
                     "supported");
        goto fail;
    } else {
        st = tq_fail(TFMQ_ERR_PARSE, "hdf5: data layout class %u not understood", d->layout);
        goto fail;
    }
fail:
    h5_hdr_free(&h);
    return st;
}

/* Convert n elements of type t at src (bytes) to float. */
static void h5_to_f32(const tq_h5_type *t, const uint8_t *src, size_t n, float *dst)
{
    size_t w = t->size;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *e = src + i * w;
        uint64_t v = 0;
        for (size_t k = 0; k < w; k++) {
            v |= (uint64_t)e[t->big_endian ? w - 1 - k : k] << (8 * k);
        }
        if (t->cls == TQ_H5_FLOAT) {
            if (w == 2) {
                dst[i] = tq_f16_to_f32((uint16_t)v);
            } else if (w == 4) {
                uint32_t u = (uint32_t)v;
                memcpy(&dst[i], &u, 4);
            } else {
                double x;
                memcpy(&x, &v, 8);
                dst[i] = (float)x;
            }
        } else if (t->is_signed) {
            unsigned sh = (unsigned)(64 - 8 * w);
            int64_t s = (int64_t)(v << sh) >> sh;
            dst[i] = (float)s;
        } else {
            dst[i] = (float)v;
        }
    }
}

typedef struct h5_chunks {
    const tq_h5_dset *d;
    float *dst;
    uint8_t *raw;          /* a chunk, decoded (chunk_bytes) */
    uint8_t *tmp;          /* filter scratch (chunk_bytes) */
    float *conv;           /* a chunk as floats */
    size_t chunk_elems, chunk_bytes, nodes;
    uint64_t chunks_left;  /* chunk positions in the dataspace: more chunks are refused */
    unsigned filt_id[32];
    uint32_t filt_cd0[32];
    unsigned n_filt;
} h5_chunks;

static tfmq_status h5_pline(h5_chunks *c)
{
    const uint8_t *p = c->d->pline;
    size_t n = c->d->pline_bytes;
    c->n_filt = 0;
    if (!p) {
        return TFMQ_OK;
    }
    if (n < 2 || (p[0] != 1 && p[0] != 2) || p[1] > 32) {
        return tq_fail(TFMQ_ERR_PARSE, "hdf5: filter pipeline message not understood");
    }
    unsigned ver = p[0], nf = p[1];
    size_t o = ver == 1 ? 8 : 2;
    for (unsigned i = 0; i < nf; i++) {
        if (o > n || n - o < (ver == 1 ? 8u : 6u)) {
            goto short_msg;
        }
        unsigned id = (unsigned)h5_get(p + o, 2);
        size_t name_n = 0;
        o += 2;
        if (ver == 1 || id >= 256) {
            name_n = (size_t)h5_get(p + o, 2);
            o += 2;
        }
        size_t ncd = (size_t)h5_get(p + o + 2, 2);
        o += 4;
        if (ver == 1) {
            name_n = tq_align_up(name_n, 8);
        }
        if (name_n > n - o || ncd > 64 || 4 * ncd > n - o - name_n) {
            goto short_msg;
        }
        o += name_n;
        c->filt_id[i] = id;
        c->filt_cd0[i] = ncd ? (uint32_t)h5_get(p + o, 4) : 0;
        o += 4 * ncd + ((ver == 1 && (ncd & 1)) ? 4 : 0);
        if (id != 1 && id != 2 && id != 3) {
            return tq_fail(TFMQ_ERR_UNSUPPORTED, "hdf5: filter %u is not supported (deflate, "
                           "shuffle and fletcher32 are)", id);
        }
    }
    c->n_filt = nf;
    return TFMQ_OK;
short_msg:
    return tq_fail(TFMQ_ERR_PARSE, "hdf5: filter pipeline message truncated");
}

/* Decode one chunk (filters undone in reverse order unless masked) into c->raw. */
static tfmq_status h5_chunk_decode(h5_chunks *c, const uint8_t *src, size_t n, uint32_t mask)
{
    const uint8_t *cur = src;
    size_t cur_n = n;
    uint8_t *bufs[2] = {c->raw, c->tmp};
    unsigned which = 0;
    for (unsigned k = c->n_filt; k-- > 0;) {
        if (mask & (1u << k)) {
            continue;
        }
        if (c->filt_id[k] == 3) { /* fletcher32: its 4 bytes at the end (not verified) */
            if (cur_n < 4) {
                return tq_fail(TFMQ_ERR_PARSE, "hdf5: fletcher32 chunk too short");
            }
            cur_n -= 4;
            continue;
        }
        uint8_t *out = bufs[which];
        if (c->filt_id[k] == 1) {
            /* a chunk is at most 1 GiB and its stored size a 32-bit field: both fit uInt */
            z_stream zs;
            memset(&zs, 0, sizeof(zs));
            if (inflateInit(&zs) != Z_OK) {
                return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "hdf5: zlib init failed");
            }
            zs.next_in = (Bytef *)(uintptr_t)cur;
            zs.avail_in = (uInt)cur_n;
            zs.next_out = out;
            zs.avail_out = (uInt)c->chunk_bytes;
            int zr = inflate(&zs, Z_FINISH);
            size_t got = (size_t)zs.total_out;
            inflateEnd(&zs);
            if (zr != Z_STREAM_END || got != c->chunk_bytes) {
                return tq_fail(TFMQ_ERR_PARSE, "hdf5: a deflated chunk does not inflate to %zu "
                               "bytes", c->chunk_bytes);
            }
            cur_n = got;
        } else if (c->filt_id[k] == 2) {
            size_t es = c->filt_cd0[k] ? c->filt_cd0[k] : c->d->type.size;
            if (cur_n != c->chunk_bytes || es == 0 || cur_n % es != 0) {
                return tq_fail(TFMQ_ERR_PARSE, "hdf5: shuffled chunk of %zu bytes", cur_n);
            }
            size_t ne = cur_n / es;
            for (size_t b = 0; b < es; b++) {
                for (size_t e = 0; e < ne; e++) {
                    out[e * es + b] = cur[b * ne + e];
                }
            }
        }
        cur = out;
        which ^= 1;
    }
    if (cur_n != c->chunk_bytes) {
        return tq_fail(TFMQ_ERR_PARSE, "hdf5: chunk of %zu bytes, expected %zu", cur_n,
                       c->chunk_bytes);
    }
    if (cur != c->raw) {
        memcpy(c->raw, cur, cur_n);
    }
    return TFMQ_OK;
}

/* Scatter the decoded chunk at element offsets off[] into the dataset. */
static void h5_chunk_scatter(h5_chunks *c, const uint64_t *off)
{
    const tq_h5_dset *d = c->d;
    unsigned r = d->chunk_rank;
    uint64_t idx[TQ_H5_MAX_RANK];
    h5_to_f32(&d->type, c->raw, c->chunk_elems, c->conv);
    memset(idx, 0, sizeof(idx));
    for (size_t e = 0; e < c->chunk_elems; e++) {
        bool in = true;
        uint64_t g = 0;
        for (unsigned i = 0; i < r; i++) {
            uint64_t x = off[i] + idx[i];
            if (x >= d->space.dims[i]) {
                in = false;
                break;
            }
            g = g * d->space.dims[i] + x;
        }
        if (in) {
            c->dst[g] = c->conv[e];
        }
        for (unsigned i = r; i-- > 0;) { /* next element of the chunk, row-major */
            if (++idx[i] < d->chunk_dims[i]) {
                break;
            }
            idx[i] = 0;
        }
    }
}

static tfmq_status h5_ctree(h5_chunks *c, uint64_t addr, int level, unsigned depth)
{
    tfmq_status st;
    const tq_h5_file *f = c->d->f;
    const uint8_t *p;
    unsigned r = c->d->chunk_rank;
    size_t hdr = 8 + 2 * (size_t)f->ob, ks = 8 + 8 * ((size_t)r + 1), kc = ks + f->ob;
    if (++c->nodes > TQ_H5_MAX_NODES || depth > TQ_H5_MAX_DEPTH) {
        return tq_fail(TFMQ_ERR_PARSE, "hdf5: chunk B-tree too large or too deep");
    }
    if (!h5_span(f, addr, hdr, &p) || memcmp(p, "TREE", 4) != 0 || p[4] != 1 ||
        (level >= 0 && p[5] != level)) {
        return tq_fail(TFMQ_ERR_PARSE, "hdf5: no chunk B-tree node (level %d) at 0x%llx", level,
                       h5_ull(addr));
    }
    unsigned lvl = p[5];
    size_t n = (size_t)h5_get(p + 6, 2);
    if (!h5_span(f, addr, hdr + n * kc + ks, &p)) {
        return tq_fail(TFMQ_ERR_PARSE, "hdf5: chunk B-tree node at 0x%llx truncated",
                       h5_ull(addr));
    }
    for (size_t i = 0; i < n; i++) {
        const uint8_t *k = p + hdr + i * kc;
        uint64_t child = h5_addr(f, k + ks);
        if (lvl > 0) {
            TQ_TRY(st, h5_ctree(c, child, (int)lvl - 1, depth + 1));
            continue;
        }
        uint64_t csz = h5_get(k, 4), off[TQ_H5_MAX_RANK];
        uint32_t mask = (uint32_t)h5_get(k + 4, 4);
        const uint8_t *data;
        for (unsigned j = 0; j < r; j++) {
            off[j] = h5_get(k + 8 + 8 * (size_t)j, 8);
            if (off[j] % c->d->chunk_dims[j] != 0 || off[j] >= c->d->space.dims[j]) {
                return tq_fail(TFMQ_ERR_PARSE, "hdf5: chunk at 0x%llx has a bad offset",
                               h5_ull(child));
            }
        }
        if (c->chunks_left == 0) {
            return tq_fail(TFMQ_ERR_PARSE, "hdf5: more chunks than the dataspace holds");
        }
        c->chunks_left--;
        if (!h5_span(f, child, csz, &data)) {
            return tq_fail(TFMQ_ERR_PARSE, "hdf5: chunk at 0x%llx (%llu bytes) lies past the end "
                           "of the file (truncated?)", h5_ull(child), h5_ull(csz));
        }
        TQ_TRY(st, h5_chunk_decode(c, data, (size_t)csz, mask));
        h5_chunk_scatter(c, off);
    }
    return TFMQ_OK;
fail:
    return st;
}

static tfmq_status h5_read_chunked(const tq_h5_dset *d, float *dst)
{
    tfmq_status st;
    const tfmq_allocator *a = d->f->alloc;
    h5_chunks c;
    memset(&c, 0, sizeof(c));
    c.d = d;
    c.dst = dst;
    c.chunk_elems = 1;
    c.chunks_left = 1;
    for (unsigned i = 0; i < d->chunk_rank; i++) {
        uint64_t along = d->space.dims[i] / d->chunk_dims[i] +
                         (d->space.dims[i] % d->chunk_dims[i] != 0);
        if (!tq_mul_size(c.chunk_elems, d->chunk_dims[i], &c.chunk_elems) ||
            __builtin_mul_overflow(c.chunks_left, along, &c.chunks_left)) {
            return tq_fail(TFMQ_ERR_PARSE, "hdf5: chunk too large");
        }
    }
    size_t conv_bytes;
    if (!tq_mul_size(c.chunk_elems, d->type.size, &c.chunk_bytes) ||
        c.chunk_bytes > TQ_H5_MAX_CHUNK_BYTES ||
        !tq_mul_size(c.chunk_elems, sizeof(float), &conv_bytes)) {
        return tq_fail(TFMQ_ERR_UNSUPPORTED, "hdf5: chunks larger than %zu bytes are not read",
                       TQ_H5_MAX_CHUNK_BYTES);
    }
    memset(dst, 0, (size_t)d->space.n_points * sizeof(float));
    if (d->addr == H5_UNDEF) {
        return TFMQ_OK; /* nothing written */
    }
    TQ_TRY(st, h5_pline(&c));
    c.raw = tq_alloc(a, c.chunk_bytes);
    c.tmp = tq_alloc(a, c.chunk_bytes);
    c.conv = tq_alloc(a, conv_bytes);
    if (!c.raw || !c.tmp || !c.conv) {
        st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "hdf5: out of memory (chunks of %zu bytes)",
                     c.chunk_bytes);
        goto fail;
    }
    st = h5_ctree(&c, d->addr, -1, 0);
fail:
    tq_free(a, c.raw, c.chunk_bytes);
    tq_free(a, c.tmp, c.chunk_bytes);
    tq_free(a, c.conv, conv_bytes);
    return st;
}

tfmq_status tq_h5_dset_read_f32(const tq_h5_dset *d, float *dst)
{
    size_t n = (size_t)d->space.n_points;
    const uint8_t *src;
    if (d->type.cls != TQ_H5_FLOAT && d->type.cls != TQ_H5_INT) {
        return tq_fail(TFMQ_ERR_UNSUPPORTED, "hdf5: datatype class %u is not numeric",
                       d->type.hdf5_class);
    }
    if (n == 0) {
        return TFMQ_OK;
    }
    if (d->layout == 0) {
        h5_to_f32(&d->type, d->compact, n, dst);
    } else if (d->layout == 1) {
        if (d->addr == H5_UNDEF) {
            memset(dst, 0, n * sizeof(float));
        } else if (!h5_span(d->f, d->addr, (uint64_t)n * d->type.size, &src)) {
            return tq_fail(TFMQ_ERR_PARSE, "hdf5: data lies past the end of the file");
        } else {
            h5_to_f32(&d->type, src, n, dst);
        }
    } else {
        return h5_read_chunked(d, dst);
    }
    return TFMQ_OK;
}
