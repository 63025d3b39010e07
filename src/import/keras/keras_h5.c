/* keras_h5.c: the HDF5 reading the Keras importer needs: open a file (or a memory image, for the
 * weights inside a .keras zip) through a read-only driver that bounds-checks every read, read
 * string attributes (h5py writes them fixed-length NULLPAD or variable-length) and float
 * datasets as float32. Every size from the file is checked before
 * anything is allocated; results are tq_alloc'ed. The caller turns HDF5's error printing off. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "import/keras/keras_internal.h"

void tq_kstrs_free(const tfmq_allocator *a, tq_kstrs *l)
{
    if (!l) {
        return;
    }
    tq_free(a, l->buf, l->buf_bytes);
    tq_free(a, (void *)l->s, (l->n ? l->n : 1) * sizeof(*l->s));
    memset(l, 0, sizeof(*l));
}

void tq_kw_free(const tfmq_allocator *a, tq_kw *w)
{
    if (!w) {
        return;
    }
    tq_free(a, w->data, w->n ? w->n * sizeof(float) : 1);
    memset(w, 0, sizeof(*w));
}

/* ---- a read-only HDF5 file driver with checked reads ----
 * libhdf5 (1.10) trusts the addresses it decodes: a corrupt file whose link info names a B-tree
 * at the undefined address (all ones) makes the sec2 and core drivers' metadata accumulator copy
 * from NULL (address + size wraps past its overflow checks). This driver serves a file (pread)
 * or a memory image, without the metadata accumulator, and refuses any read whose address or
 * size is out of range; a read past the end of the file (within the address space the
 * superblock declares) gives zeros, as sec2's do, for up to 64 KiB. Handles close strongly
 * (H5Fclose closes what is still open), so the image outlives every use. */

typedef struct kh5_info {
    const tfmq_allocator *alloc;
    const uint8_t *image; /* NULL: pread the file named at open */
    size_t image_bytes;
} kh5_info;

typedef struct kh5_file {
    H5FD_t pub; /* first: HDF5 sees this */
    const tfmq_allocator *alloc;
    int fd;     /* -1 for an image */
    const uint8_t *image;
    uint64_t eof;
    haddr_t eoa;
    unsigned len_bytes; /* the superblock's "size of lengths" (2, 4 or 8) */
    unsigned off_bytes; /* the superblock's "size of offsets" (2, 4 or 8) */
    uint64_t *conts;    /* continuation chunks seen: address, length, version 2 header flags */
    size_t n_conts, cap_conts;
    uint8_t *gcol;      /* the global heap collection last looked into (kh5_vl_ok) */
    uint64_t gcol_addr;
    size_t gcol_n;
} kh5_file;

static uint64_t kh5_le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

/* A global heap collection ("GCOL", version 1) must be walkable: every object's extent lies
 * inside the collection and moves the walk forward. libhdf5 1.10 loops forever on an object of
 * size 0 (H5HG__cache_heap_deserialize) and copies past the collection for an object larger
 * than it (H5HG_read). `n` bytes were read of the collection (a first read may be partial).
 * Every read is looked at (the driver is not told which reads are heaps): raw data that happens
 * to start like a collection and fails the walk is refused too. */
static bool kh5_gcol_ok(const uint8_t *p, size_t n, unsigned lb)
{
    size_t hdr = (8 + lb + 7) & ~(size_t)7, ohdr = 8 + lb;
    if (n < hdr || memcmp(p, "GCOL", 4) != 0 || p[4] != 1) {
        return true; /* not a collection HDF5 would accept (it ignores the reserved bytes) */
    }
    uint64_t csize = kh5_le(p + 8, lb);
    if (csize < hdr) {
        return false;
    }
    uint64_t off = hdr;
    while (off + ohdr <= csize && off + ohdr <= n) { /* a shorter tail is free space */
        unsigned idx = (unsigned)kh5_le(p + off, 2);
        uint64_t sz = kh5_le(p + off + 8, lb);
        uint64_t need;
        if (idx == 0) {
            need = sz;
        } else if (sz > csize) {
            return false;
        } else {
            need = ohdr + ((sz + 7) & ~(uint64_t)7);
        }
        if (need == 0 || need > csize - off) {
            return false;
        }
        off += need;
    }
    return true;
}

/* ---- object header checks ----
 * libhdf5 1.10 decodes attribute messages without checking them against the message (reads
 * past the object header's buffer in H5O_attr_decode, reached from H5Aexists), and allocates
 * and fills what a variable-length descriptor claims (seq_len) whatever the heap object holds:
 * a few KiB of file can ask for gigabytes. Object header chunks are checked as they are read:
 * every attribute message must hold its name (NUL-terminated), datatype, dataspace and data;
 * a variable-length string element must name an object of its global heap collection that holds
 * its length (kh5_vl_ok), and the elements of one attribute may claim 64 MiB in all. Version 1
 * headers (h5py's default) and version 2 ("OHDR"/"OCHK") are walked; chunks of a version 1
 * header after the first are told apart by the continuation messages seen, which must name
 * chunks inside the file. */

static uint64_t kh5_align8(uint64_t v)
{
    return (v + 7) & ~(uint64_t)7;
}

/* A continuation message must name a chunk inside the file: libhdf5 allocates the length it
 * names before reading (H5C_protect; no check against the end of the file for these). */
static bool kh5_cont_ok(const kh5_file *f, const uint8_t *d, size_t n)
{
    unsigned ob = f->off_bytes, lb = f->len_bytes;
    if (n < ob + lb) {
        return true; /* HDF5 refuses it */
    }
    uint64_t a = kh5_le(d, ob), len = kh5_le(d + ob, lb);
    return a <= f->eof && len <= f->eof - a;
}

/* Remember the chunk a continuation message names (with the flags of its version 2 header). */
static void kh5_note_cont(kh5_file *f, const uint8_t *d, size_t n, unsigned v2_flags)
{
    unsigned ob = f->off_bytes, lb = f->len_bytes;
    if (n < ob + lb) {
        return;
    }
    for (size_t i = 0; i < f->n_conts; i++) {
        if (f->conts[3 * i] == kh5_le(d, ob)) {
            return; /* the header was read before (the cache let it go) */
        }
    }
    if (f->n_conts == f->cap_conts) {
        size_t cap = f->cap_conts ? f->cap_conts * 2 : 16;
        uint64_t *c = tq_realloc(f->alloc, f->conts, f->cap_conts * 3 * sizeof(uint64_t),
                                 cap * 3 * sizeof(uint64_t));
        if (!c) {
            return; /* then the chunk is not recognised: a version 1 one is refused, safe */
        }
        f->conts = c;
        f->cap_conts = cap;
    }
    f->conts[3 * f->n_conts] = kh5_le(d, ob);
    f->conts[3 * f->n_conts + 1] = kh5_le(d + ob, lb);
    f->conts[3 * f->n_conts + 2] = v2_flags;
    f->n_conts++;
}

/* The continuation chunk noted at addr, or NULL. */
static const uint64_t *kh5_find_cont(const kh5_file *f, uint64_t addr)
{
    for (size_t i = 0; i < f->n_conts; i++) {
        if (f->conts[3 * i] == addr) {
            return f->conts + 3 * i;
        }
    }
    return NULL;
}

static bool kh5_pread(const kh5_file *f, uint64_t addr, size_t size, uint8_t *dst);

/* A variable-length string element (length, global heap collection address, object index): the
 * collection must hold the object, with at least `len` bytes. libhdf5 1.10 indexes its object
 * table with the element's index unchecked (H5HG_read) and allocates `len` bytes whatever the
 * object holds. The collection last looked into is kept: elements share one. */
static bool kh5_vl_ok(kh5_file *f, uint64_t addr, uint64_t idx, uint64_t len)
{
    unsigned lb = f->len_bytes;
    size_t hdr = (8 + lb + 7) & ~(size_t)7, ohdr = 8 + lb;
    if (addr == 0) {
        return true; /* a null string: HDF5 reads nothing */
    }
    if (idx == 0 || idx > 0xffff) {
        return false;
    }
    if (!f->gcol || f->gcol_addr != addr) {
        uint8_t h[24];
        if (addr > f->eof || f->eof - addr < hdr || !kh5_pread(f, addr, hdr, h) ||
            memcmp(h, "GCOL", 4) != 0 || h[4] != 1) {
            return false;
        }
        uint64_t cs = kh5_le(h + 8, lb);
        if (cs < hdr || cs > f->eof - addr || cs > TQ_KERAS_MAX_TEXT_BYTES + ((size_t)1 << 20)) {
            return false;
        }
        tq_free(f->alloc, f->gcol, f->gcol_n);
        f->gcol_n = (size_t)cs;
        f->gcol = tq_alloc(f->alloc, f->gcol_n);
        if (!f->gcol || !kh5_pread(f, addr, f->gcol_n, f->gcol) ||
            !kh5_gcol_ok(f->gcol, f->gcol_n, lb)) {
            tq_free(f->alloc, f->gcol, f->gcol_n);
            f->gcol = NULL;
            f->gcol_n = 0;
            return false;
        }
        f->gcol_addr = addr;
    }
    for (size_t off = hdr; off + ohdr <= f->gcol_n;) { /* kh5_gcol_ok: the walk is sound */
        uint64_t oi = kh5_le(f->gcol + off, 2), sz = kh5_le(f->gcol + off + 8, lb);
        if (oi == idx) {
            return len <= sz;
        }
        off += oi == 0 ? (size_t)sz : ohdr + (size_t)((sz + 7) & ~(uint64_t)7);
    }
    return false;
}

/* Attribute message `d` of `n` bytes (not shared: flags bit 1 clear). */
static bool kh5_attr_ok(kh5_file *f, const uint8_t *d, size_t n)
{
    if (n < 8) {
        return false;
    }
    unsigned ver = d[0], aflags = d[1];
    uint64_t name_n = kh5_le(d + 2, 2), dt_n = kh5_le(d + 4, 2), ds_n = kh5_le(d + 6, 2);
    uint64_t p = ver == 3 ? 9 : 8;
    if (ver < 1 || ver > 3 || name_n == 0 || dt_n < 8 || ds_n < 4) {
        return ver < 1 || ver > 3; /* an unknown version HDF5 refuses itself */
    }
    uint64_t name_at = p, dt_at, ds_at, data_at;
    p += ver == 1 ? kh5_align8(name_n) : name_n;
    dt_at = p;
    p += ver == 1 ? kh5_align8(dt_n) : dt_n;
    ds_at = p;
    p += ver == 1 ? kh5_align8(ds_n) : ds_n;
    data_at = p;
    if (data_at > n || d[name_at + name_n - 1] != 0) {
        return false;
    }
    if (aflags & 3) {
        /* a shared (committed) datatype or dataspace: libhdf5 sizes the copy by the shared
         * type, not by this message's data (fuzz_keras: heap overflow in H5A__read). Keras and
         * h5py never write one for an attribute. */
        return false;
    }
    /* dataspace: version 1 (rank, flags, 5 reserved, dims) or 2 (rank, flags, type, dims) */
    const uint8_t *ds = d + ds_at;
    unsigned ds_ver = ds[0], rank = ds[1], dflags = ds[2];
    uint64_t npoints = 1, dims_at = ds_ver == 1 ? 8 : 4;
    unsigned lb = f->len_bytes;
    if ((ds_ver != 1 && ds_ver != 2) || rank > 32) {
        return false;
    }
    if (ds_ver == 2 && ds[3] == 2) {
        npoints = 0; /* null dataspace */
    }
    if (dims_at + (uint64_t)rank * lb * ((dflags & 1) ? 2 : 1) > ds_n) {
        return false;
    }
    for (unsigned i = 0; i < rank; i++) {
        uint64_t dim = kh5_le(ds + dims_at + (uint64_t)i * lb, lb);
        if (dim && npoints > UINT64_MAX / dim) {
            return false;
        }
        npoints *= dim;
    }
    /* datatype: class in the low 4 bits of byte 0, element size at 4 */
    const uint8_t *dt = d + dt_at;
    unsigned cls = dt[0] & 15;
    uint64_t esize = kh5_le(dt + 4, 4);
    bool vlstr = cls == 9 && (dt[1] & 15) == 1;
    uint64_t vl_stride = 4 + (uint64_t)f->off_bytes + 4; /* length, heap address, index */
    if (cls == 9) {
        /* the base type follows the header: HDF5 allocates length x its size; a string's
         * characters are bytes. The data copied is npoints x the header's size (libhdf5 1.10
         * takes it as is), the elements are read at the file's stride. */
        if (vlstr && (dt_n < 16 || kh5_le(dt + 12, 4) != 1)) {
            return false;
        }
        if (esize != vl_stride) {
            /* libhdf5 sizes the attribute's data by the header's size and later copies it at
             * the file's variable-length element size (fuzz_keras: heap overflow in
             * H5A__read); h5py writes exactly that size */
            return false;
        }
    }
    if (esize && npoints > (n - data_at) / esize) {
        return false;
    }
    if (vlstr) {
        uint64_t total = 0;
        for (uint64_t i = 0; i < npoints; i++) {
            const uint8_t *e = d + data_at + i * vl_stride;
            uint64_t len = kh5_le(e, 4);
            if ((total += len) > TQ_KERAS_MAX_TEXT_BYTES ||
                !kh5_vl_ok(f, kh5_le(e + 4, f->off_bytes), kh5_le(e + 4 + f->off_bytes, 4), len)) {
                return false;
            }
        }
    }
    return true;
}

/* One object header chunk read at `addr`: every complete message checked. */
static bool kh5_ohdr_ok(kh5_file *f, uint64_t addr, const uint8_t *b, size_t n)
{
    size_t at, end = n, mh;
    unsigned v2_flags = 0;
    bool v2 = n >= 4 && (memcmp(b, "OHDR", 4) == 0 || memcmp(b, "OCHK", 4) == 0);
    const uint64_t *cont = kh5_find_cont(f, addr);
    if (v2 && b[1] == 'H') {
        /* version 2 prefix: signature, version, flags, [times], [attribute phase change],
         * chunk 0 size (1, 2, 4 or 8 bytes by flags) */
        v2_flags = n >= 6 ? b[5] : 0;
        unsigned szb = 1u << (v2_flags & 3);
        at = 6 + ((v2_flags & 0x20) ? 16 : 0) + ((v2_flags & 0x10) ? 4 : 0);
        if (at + szb > n) {
            return true;
        }
        uint64_t c0 = kh5_le(b + at, szb);
        at += szb;
        if (c0 < (uint64_t)(n - at)) {
            end = at + (size_t)c0;
        }
    } else if (v2) {
        if (!cont) {
            return true; /* the header's flags are not known: not judged */
        }
        v2_flags = (unsigned)cont[2];
        at = 4;
        end = n - 4; /* the checksum ends the chunk */
    } else if (cont) {
        at = 0; /* version 1 continuation chunk: bare messages */
    } else {
        /* version 1 prefix: version 1, reserved, message count, reference count, chunk size,
         * padding to 16 */
        if (n < 16 || b[0] != 1) {
            return true; /* HDF5 refuses a bad prefix itself */
        }
        uint64_t c0 = kh5_le(b + 8, 4);
        if (c0 < n - 16) {
            end = 16 + (size_t)c0;
        }
        at = 16;
    }
    if (cont && cont[1] < end) {
        end = (size_t)cont[1];
    }
    /* message headers: version 1 type (2), size (2), flags (1), reserved (3); version 2 type (1),
     * size (2), flags (1), creation order (2) when the header tracks it */
    mh = v2 ? 4 + ((v2_flags & 0x04) ? 2 : 0) : 8;
    while (at + mh <= end) {
        unsigned type = v2 ? b[at] : (unsigned)kh5_le(b + at, 2);
        size_t sz = (size_t)kh5_le(b + at + (v2 ? 1 : 2), 2);
        unsigned mflags = b[at + (v2 ? 3 : 4)];
        if (sz > end - at - mh) {
            break; /* a partial read, or HDF5's own check */
        }
        const uint8_t *d = b + at + mh;
        if (type == 0x0C && !(mflags & 2) && !kh5_attr_ok(f, d, sz)) {
            return false;
        }
        if (type == 0x10) {
            if (!kh5_cont_ok(f, d, sz)) {
                return false;
            }
            kh5_note_cont(f, d, sz, v2 ? v2_flags | 0x100 : 0);
        }
        at += mh + sz;
    }
    return true;
}


static H5FD_t *kh5_fd_open(const char *name, unsigned flags, hid_t fapl, haddr_t maxaddr)
{
    (void)maxaddr;
    const kh5_info *info = H5Pget_driver_info(fapl);
    if (!info || (flags & (H5F_ACC_RDWR | H5F_ACC_TRUNC | H5F_ACC_CREAT))) {
        return NULL;
    }
    kh5_file *f = tq_calloc(info->alloc, 1, sizeof(*f));
    if (!f) {
        return NULL;
    }
    f->alloc = info->alloc;
    f->fd = -1;
    if (info->image) {
        f->image = info->image;
        f->eof = info->image_bytes;
    } else {
        struct stat sb;
        f->fd = open(name, O_RDONLY | O_CLOEXEC);
        if (f->fd < 0 || fstat(f->fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size < 0) {
            if (f->fd >= 0) {
                close(f->fd);
            }
            tq_free(info->alloc, f, sizeof(*f));
            return NULL;
        }
        f->eof = (uint64_t)sb.st_size;
    }
    /* size of lengths: superblock at 0, 512, 1024, ... (after a user block) */
    f->len_bytes = f->off_bytes = 8;
    for (uint64_t at = 0; at + 16 <= f->eof; at = at ? at * 2 : 512) {
        uint8_t sb8[16];
        if (!kh5_pread(f, at, sizeof(sb8), sb8)) {
            break;
        }
        if (memcmp(sb8, "\x89HDF\r\n\x1a\n", 8) == 0) {
            unsigned ob = sb8[8] <= 1 ? sb8[13] : sb8[9], lb = sb8[8] <= 1 ? sb8[14] : sb8[10];
            if (lb == 2 || lb == 4 || lb == 8) {
                f->len_bytes = lb;
            }
            if (ob == 2 || ob == 4 || ob == 8) {
                f->off_bytes = ob;
            }
            break;
        }
    }
    return &f->pub;
}

static herr_t kh5_fd_close(H5FD_t *file)
{
    kh5_file *f = (kh5_file *)file;
    if (f->fd >= 0) {
        close(f->fd);
    }
    tq_free(f->alloc, f->conts, f->cap_conts * 3 * sizeof(uint64_t));
    tq_free(f->alloc, f->gcol, f->gcol_n);
    tq_free(f->alloc, f, sizeof(*f));
    return 0;
}

static herr_t kh5_fd_query(const H5FD_t *file, unsigned long *flags)
{
    (void)file;
    *flags = 0; /* no metadata accumulator, no sieve buffer: every read comes here */
    return 0;
}

static haddr_t kh5_fd_get_eoa(const H5FD_t *file, H5FD_mem_t type)
{
    (void)type;
    return ((const kh5_file *)file)->eoa;
}

static herr_t kh5_fd_set_eoa(H5FD_t *file, H5FD_mem_t type, haddr_t addr)
{
    (void)type;
    ((kh5_file *)file)->eoa = addr;
    return 0;
}

static haddr_t kh5_fd_get_eof(const H5FD_t *file, H5FD_mem_t type)
{
    (void)type;
    return (haddr_t)((const kh5_file *)file)->eof;
}

/* Bytes [addr, addr + size) of the file; zeros past its end, up to 64 KiB of them (a valid
 * file is read within its end; a superblock claiming more address space than the file has must
 * not make us fill gigabytes of HDF5's buffers before HDF5 notices). */
static bool kh5_pread(const kh5_file *f, uint64_t addr, size_t size, uint8_t *dst)
{
    size_t have = 0;
    if (addr < f->eof) {
        have = f->eof - addr < size ? (size_t)(f->eof - addr) : size;
    }
    if (size - have > ((size_t)64 << 10)) {
        return false;
    }
    if (f->image) {
        if (have) {
            memcpy(dst, f->image + addr, have);
        }
    } else {
        size_t got = 0;
        while (got < have) {
            ssize_t r = pread(f->fd, dst + got, have - got, (off_t)(addr + got));
            if (r < 0 && errno == EINTR) {
                continue;
            }
            if (r <= 0) {
                return false;
            }
            got += (size_t)r;
        }
    }
    memset(dst + have, 0, size - have);
    return true;
}

static herr_t kh5_fd_read(H5FD_t *file, H5FD_mem_t type, hid_t dxpl, haddr_t addr, size_t size,
                          void *buf)
{
    (void)dxpl;
    kh5_file *f = (kh5_file *)file;
    if (!buf || addr == HADDR_UNDEF || addr > (haddr_t)INT64_MAX ||
        (uint64_t)size > (uint64_t)INT64_MAX - addr || addr + size > f->eoa ||
        !kh5_pread(f, addr, size, buf)) {
        return -1;
    }
    if (type == H5FD_MEM_OHDR && !kh5_ohdr_ok(f, addr, buf, size)) {
        return -1;
    }
    return kh5_gcol_ok(buf, size, f->len_bytes) ? 0 : -1;
}

static herr_t kh5_fd_write(H5FD_t *file, H5FD_mem_t type, hid_t dxpl, haddr_t addr, size_t size,
                           const void *buf)
{
    (void)file;
    (void)type;
    (void)dxpl;
    (void)addr;
    (void)size;
    (void)buf;
    return -1; /* read-only */
}

static const H5FD_class_t kh5_fd_class = {
#ifdef H5FD_CLASS_VERSION
    .version = H5FD_CLASS_VERSION,
    .value = (H5FD_class_value_t)(H5_VFD_RESERVED + 271), /* an unregistered value for tfmq */
#endif
    .name = "tfmq_checked",
    .maxaddr = (haddr_t)INT64_MAX,
    .fc_degree = H5F_CLOSE_STRONG,
    .fapl_size = sizeof(kh5_info),
    .open = kh5_fd_open,
    .close = kh5_fd_close,
    .query = kh5_fd_query,
    .get_eoa = kh5_fd_get_eoa,
    .set_eoa = kh5_fd_set_eoa,
    .get_eof = kh5_fd_get_eof,
    .read = kh5_fd_read,
    .write = kh5_fd_write,
    .fl_map = H5FD_FLMAP_DICHOTOMY,
};

/* The driver's id, registered on first use (again if the library was closed meanwhile). */
static hid_t kh5_fd_id(void)
{
    static hid_t id = -1;
    if (id < 0 || H5Iis_valid(id) <= 0) {
        id = H5FDregister(&kh5_fd_class);
    }
    return id;
}

hid_t tq_kh5_open(const tfmq_allocator *a, const char *path, const void *image,
                  size_t image_bytes)
{
    kh5_info info = {a, image, image_bytes};
    hid_t drv = kh5_fd_id();
    hid_t fapl = drv >= 0 ? H5Pcreate(H5P_FILE_ACCESS) : -1;
    if (fapl < 0) {
        return -1;
    }
    hid_t f = -1;
    if (H5Pset_driver(fapl, drv, &info) >= 0 && H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) >= 0) {
        f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    }
    H5Pclose(fapl);
    return f;
}

bool tq_kh5_has_attr(hid_t loc, const char *name)
{
    return H5Aexists(loc, name) > 0;
}

bool tq_kh5_exists(hid_t loc, const char *path)
{
    char buf[1024];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(buf)) {
        return false;
    }
    memcpy(buf, path, n + 1);
    /* H5Lexists needs every intermediate component to exist: check prefixes in order */
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            htri_t e = H5Lexists(loc, buf, H5P_DEFAULT);
            buf[i] = c;
            if (e <= 0) {
                return false;
            }
        }
    }
    return true;
}

/* Append the strings of one attribute to *out (growing its blocks). */
static tfmq_status kh5_append_attr(const tfmq_allocator *a, hid_t attr, const char *name,
                                   const char *what, tq_kstrs *out)
{
    tfmq_status st = TFMQ_OK;
    hid_t type = -1, space = -1, mem = -1;
    char **vl = NULL;
    char *fixed = NULL;
    size_t n = 0, width = 0, fixed_bytes = 0, vl_bytes = 0;
    bool vl_read = false;

    type = H5Aget_type(attr);
    space = H5Aget_space(attr);
    if (type < 0 || space < 0 || H5Tget_class(type) != H5T_STRING) {
        st = tq_fail(TFMQ_ERR_PARSE, "keras: %s: attribute '%s' is not a string", what, name);
        goto done;
    }
    hssize_t np = H5Sget_simple_extent_npoints(space);
    int nd = H5Sget_simple_extent_ndims(space);
    if (np < 0 || nd < 0 || nd > 1 || (size_t)np > (1u << 24)) {
        st = tq_fail(TFMQ_ERR_PARSE, "keras: %s: attribute '%s' has a bad shape", what, name);
        goto done;
    }
    n = (size_t)np;
    htri_t is_vl = H5Tis_variable_str(type);
    if (is_vl < 0) {
        st = tq_fail(TFMQ_ERR_PARSE, "keras: %s: attribute '%s' is unreadable", what, name);
        goto done;
    }
    /* the memory type takes the file's character set: HDF5 has no ASCII <-> UTF-8 conversion
     * (h5py writes str attributes as UTF-8), and whether it finds one anyway depended on which
     * string conversion the process had done first */
    mem = H5Tcopy(H5T_C_S1);
    H5T_cset_t cset = H5Tget_cset(type);
    if (mem < 0 || cset < 0 || H5Tset_cset(mem, cset) < 0) {
        st = tq_fail(TFMQ_ERR_PARSE, "keras: %s: attribute '%s' is unreadable", what, name);
        goto done;
    }
    /* gather the strings' lengths first, then copy into the packed block */
    size_t add = 0;
    if (is_vl && H5Tget_size(type) != sizeof(char *)) {
        /* a variable-length string type whose element is not one pointer: libhdf5 copies
         * n * that size into the n pointers (fuzz_keras: heap overflow in H5A__read) */
        st = tq_fail(TFMQ_ERR_PARSE, "keras: %s: attribute '%s' has a malformed string type",
                     what, name);
        goto done;
    }
    if (is_vl) {
        if (!tq_mul_size(n ? n : 1, sizeof(char *), &vl_bytes) ||
            !(vl = tq_calloc(a, n ? n : 1, sizeof(char *)))) {
            st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "keras: out of memory");
            goto done;
        }
        if (H5Tset_size(mem, H5T_VARIABLE) < 0 || H5Aread(attr, mem, vl) < 0) {
            /* a conversion that failed part way may have allocated some strings */
            for (size_t i = 0; i < n; i++) {
                if (vl[i]) {
                    H5free_memory(vl[i]);
                }
            }
            st = tq_fail(TFMQ_ERR_PARSE, "keras: %s: cannot read attribute '%s'", what, name);
            goto done;
        }
        vl_read = true;
        for (size_t i = 0; i < n; i++) {
            size_t len = vl[i] ? strlen(vl[i]) : 0;
            if (len > TQ_KERAS_MAX_TEXT_BYTES || !tq_add_size(add, len + 1, &add)) {
                st = tq_fail(TFMQ_ERR_PARSE, "keras: %s: attribute '%s' is too large", what, name);
                goto done;
            }
        }
    } else {
        width = H5Tget_size(type);
        if (width == 0 || width > TQ_KERAS_MAX_TEXT_BYTES ||
            !tq_mul_size(width, n, &fixed_bytes) || fixed_bytes > TQ_KERAS_MAX_TEXT_BYTES) {
            st = tq_fail(TFMQ_ERR_PARSE, "keras: %s: attribute '%s' is too large", what, name);
            goto done;
        }
        fixed = tq_alloc(a, fixed_bytes ? fixed_bytes : 1);
        if (!fixed) {
            st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "keras: out of memory");
            goto done;
        }
        /* NULLPAD keeps strings that fill the whole width intact (NULLTERM would cut one byte) */
        if (H5Tset_size(mem, width) < 0 || H5Tset_strpad(mem, H5T_STR_NULLPAD) < 0 ||
            (n && H5Aread(attr, mem, fixed) < 0)) {
            st = tq_fail(TFMQ_ERR_PARSE, "keras: %s: cannot read attribute '%s'", what, name);
            goto done;
        }
        for (size_t i = 0; i < n; i++) {
            if (!tq_add_size(add, strnlen(fixed + i * width, width) + 1, &add)) {
                st = tq_fail(TFMQ_ERR_PARSE, "keras: %s: attribute '%s' is too large", what, name);
                goto done;
            }
        }
    }
    size_t new_bytes, new_n;
    if (n == 0) {
        goto done;
    }
    if (!tq_add_size(out->buf_bytes, add, &new_bytes) || new_bytes > TQ_KERAS_MAX_TEXT_BYTES ||
        !tq_add_size(out->n, n, &new_n)) {
        st = tq_fail(TFMQ_ERR_PARSE, "keras: %s: attribute '%s' is too large", what, name);
        goto done;
    }
    char *buf = tq_realloc(a, out->buf, out->buf_bytes, new_bytes);
    if (!buf) {
        st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "keras: out of memory");
        goto done;
    }
    size_t off = out->buf_bytes;
    out->buf = buf;
    out->buf_bytes = new_bytes;
    for (size_t i = 0; i < n; i++) {
        const char *src = is_vl ? (vl[i] ? vl[i] : "") : fixed + i * width;
        size_t len = is_vl ? strlen(src) : strnlen(src, width);
        memcpy(buf + off, src, len);
        buf[off + len] = '\0';
        off += len + 1;
    }
    out->n = new_n;
done:
    if (vl_read) {
#if H5_VERSION_GE(1, 12, 0)
        H5Treclaim(mem, space, H5P_DEFAULT, vl);
#else
        H5Dvlen_reclaim(mem, space, H5P_DEFAULT, vl);
#endif
    }
    tq_free(a, vl, vl_bytes);
    tq_free(a, fixed, fixed_bytes ? fixed_bytes : 1);
    if (mem >= 0) {
        H5Tclose(mem);
    }
    if (space >= 0) {
        H5Sclose(space);
    }
    if (type >= 0) {
        H5Tclose(type);
    }
    return st;
}

static tfmq_status kh5_append_named(const tfmq_allocator *a, hid_t loc, const char *name,
                                    const char *what, tq_kstrs *out)
{
    hid_t attr = H5Aopen(loc, name, H5P_DEFAULT);
    if (attr < 0) {
        return tq_fail(TFMQ_ERR_PARSE, "keras: %s: cannot open attribute '%s'", what, name);
    }
    tfmq_status st = kh5_append_attr(a, attr, name, what, out);
    H5Aclose(attr);
    return st;
}

tfmq_status tq_kh5_read_strs(const tfmq_allocator *a, hid_t loc, const char *name,
                             const char *what, tq_kstrs *out)
{
    tfmq_status st = TFMQ_OK;
    memset(out, 0, sizeof(*out));
    if (tq_kh5_has_attr(loc, name)) {
        st = kh5_append_named(a, loc, name, what, out);
    } else {
        /* Keras splits attributes over 64 KiB into name0, name1, ... */
        char chunk[256];
        size_t k = 0;
        for (;; k++) {
            snprintf(chunk, sizeof(chunk), "%s%zu", name, k);
            if (!tq_kh5_has_attr(loc, chunk)) {
                break;
            }
            if ((st = kh5_append_named(a, loc, chunk, what, out)) != TFMQ_OK) {
                break;
            }
        }
        if (st == TFMQ_OK && k == 0) {
            st = tq_fail(TFMQ_ERR_PARSE, "keras: %s: attribute '%s' is missing", what, name);
        }
    }
    if (st == TFMQ_OK) {
        out->s = tq_calloc(a, out->n ? out->n : 1, sizeof(*out->s));
        if (!out->s) {
            st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "keras: out of memory");
        } else {
            size_t off = 0;
            for (size_t i = 0; i < out->n; i++) {
                out->s[i] = out->buf + off;
                off += strlen(out->buf + off) + 1;
            }
        }
    }
    if (st != TFMQ_OK) {
        size_t n = out->n;
        out->n = 0; /* s was not allocated with n entries */
        tq_free(a, out->buf, out->buf_bytes);
        tq_free(a, (void *)out->s, sizeof(*out->s) * (n ? n : 1));
        memset(out, 0, sizeof(*out));
    }
    return st;
}

/* Refuse storage that libhdf5 does not check itself or that reaches outside the file, before
 * H5Dread: compact or contiguous data smaller than the dataspace needs (1.10 copies the
 * dataspace's size out of the smaller compact buffer), virtual datasets and external raw files
 * (they name other files), and filters other than HDF5's built-in ones (an unknown filter id
 * makes HDF5 search its plugin folders and load a library). */
static tfmq_status kh5_check_storage(hid_t d, hid_t type, size_t n, const char *what,
                                     const char *path)
{
    tfmq_status st = TFMQ_OK;
    hid_t dcpl = H5Dget_create_plist(d);
    H5D_layout_t layout = dcpl >= 0 ? H5Pget_layout(dcpl) : H5D_LAYOUT_ERROR;
    size_t esize = H5Tget_size(type), need;
    if (layout == H5D_LAYOUT_ERROR || esize == 0 || !tq_mul_size(n, esize, &need)) {
        st = tq_fail(TFMQ_ERR_PARSE, "keras: %s: dataset '%s' is unreadable", what, path);
        goto done;
    }
    if (layout == H5D_VIRTUAL || H5Pget_external_count(dcpl) != 0) {
        st = tq_fail(TFMQ_ERR_UNSUPPORTED, "keras: %s: dataset '%s' is stored in other files "
                     "(virtual or external)", what, path);
        goto done;
    }
    if (layout == H5D_COMPACT || layout == H5D_CONTIGUOUS) {
        hsize_t have = H5Dget_storage_size(d);
        /* contiguous storage never written reads as fill values: 0 is fine there */
        if (have < (hsize_t)need && !(layout == H5D_CONTIGUOUS && have == 0)) {
            st = tq_fail(TFMQ_ERR_PARSE, "keras: %s: dataset '%s' stores %llu bytes, its shape "
                         "needs %zu", what, path, (unsigned long long)have, need);
            goto done;
        }
        /* contiguous data must lie inside the file: checked before its block is allocated */
        hsize_t fsize = 0;
        haddr_t off = layout == H5D_CONTIGUOUS && have ? H5Dget_offset(d) : 0;
        hid_t fid = layout == H5D_CONTIGUOUS && have ? H5Iget_file_id(d) : -1;
        bool inside = fid < 0 || (H5Fget_filesize(fid, &fsize) >= 0 && off != HADDR_UNDEF &&
                                  off <= fsize && have <= fsize - off);
        if (fid >= 0) {
            H5Fclose(fid);
        }
        if (layout == H5D_CONTIGUOUS && have && (fid < 0 || !inside)) {
            st = tq_fail(TFMQ_ERR_PARSE, "keras: %s: dataset '%s' lies past the end of the file "
                         "(truncated?)", what, path);
            goto done;
        }
    }
    int nf = H5Pget_nfilters(dcpl);
    if (nf < 0) {
        st = tq_fail(TFMQ_ERR_PARSE, "keras: %s: dataset '%s' is unreadable", what, path);
        goto done;
    }
    for (int i = 0; i < nf; i++) {
        unsigned flags = 0, cd[8];
        size_t n_cd = sizeof(cd) / sizeof(cd[0]);
        H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &n_cd, cd, 0, NULL, NULL);
        if (id < H5Z_FILTER_DEFLATE || id > H5Z_FILTER_SCALEOFFSET) {
            st = tq_fail(TFMQ_ERR_UNSUPPORTED, "keras: %s: dataset '%s' uses HDF5 filter %d "
                         "(only the built-in ones are read)", what, path, (int)id);
            goto done;
        }
    }
done:
    if (dcpl >= 0) {
        H5Pclose(dcpl);
    }
    return st;
}

tfmq_status tq_kh5_read_f32(const tfmq_allocator *a, hid_t loc, const char *path,
                            const char *what, tq_kw *out)
{
    tfmq_status st = TFMQ_OK;
    hid_t d = -1, space = -1, type = -1;
    hsize_t dims[TQ_MAX_RANK];
    memset(out, 0, sizeof(*out));
    if (!tq_kh5_exists(loc, path) || (d = H5Dopen2(loc, path, H5P_DEFAULT)) < 0) {
        return tq_fail(TFMQ_ERR_PARSE, "keras: %s: dataset '%s' not found", what, path);
    }
    space = H5Dget_space(d);
    type = H5Dget_type(d);
    H5S_class_t sclass = space >= 0 ? H5Sget_simple_extent_type(space) : H5S_NO_CLASS;
    int nd = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    if (nd < 0 || nd > TQ_MAX_RANK || type < 0 ||
        (sclass != H5S_SIMPLE && sclass != H5S_SCALAR)) {
        st = tq_fail(TFMQ_ERR_PARSE, "keras: %s: dataset '%s' has a bad shape", what, path);
        goto done;
    }
    if (H5Tget_class(type) != H5T_FLOAT) {
        st = tq_fail(TFMQ_ERR_UNSUPPORTED, "keras: %s: dataset '%s' is not floating point", what,
                     path);
        goto done;
    }
    if (H5Sget_simple_extent_dims(space, dims, NULL) < 0) {
        st = tq_fail(TFMQ_ERR_PARSE, "keras: %s: dataset '%s' has a bad shape", what, path);
        goto done;
    }
    size_t n = 1, bytes;
    for (int i = 0; i < nd; i++) {
        if (dims[i] > (hsize_t)INT64_MAX || !tq_mul_size(n, (size_t)dims[i], &n)) {
            st = tq_fail(TFMQ_ERR_PARSE, "keras: %s: dataset '%s' is too large", what, path);
            goto done;
        }
        out->dims[i] = (int64_t)dims[i];
    }
    if (!tq_mul_size(n, sizeof(float), &bytes) || bytes > TQ_MAX_TENSOR_BYTES) {
        st = tq_fail(TFMQ_ERR_PARSE, "keras: %s: dataset '%s' is too large", what, path);
        goto done;
    }
    if ((st = kh5_check_storage(d, type, n, what, path)) != TFMQ_OK) {
        goto done;
    }
    out->rank = nd;
    out->data = tq_alloc(a, bytes ? bytes : 1);
    if (!out->data) {
        st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "keras: %s: out of memory (%zu bytes)", what, bytes);
        goto done;
    }
    out->n = n;
    if (n && H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out->data) < 0) {
        st = tq_fail(TFMQ_ERR_PARSE, "keras: %s: cannot read dataset '%s' (truncated file?)",
                     what, path);
        goto done;
    }
done:
    if (st != TFMQ_OK) {
        tq_kw_free(a, out);
    }
    if (type >= 0) {
        H5Tclose(type);
    }
    if (space >= 0) {
        H5Sclose(space);
    }
    H5Dclose(d);
    return st;
}
