/* plan_cache.c: the CUDA backend's plan cache (plan_cache.h has the file format). An in-memory
 * table (entries in insertion order, indexed by an open-addressing hash of the key) that a
 * session owns; the file is untrusted input: every line is copied into a bounded buffer, every
 * number is range-checked, and a malformed entry line is skipped, never half-loaded. Numbers are
 * written and read without the C library's locale (ms as integer nanoseconds with a '.'), so a
 * program that sets LC_NUMERIC still reads its own files. The file is replaced atomically. */
#include "backends/cuda/plan_cache.h"

#include "engine/atomic_file.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PC_MAGIC  "tfmq-plan-cache"
#define PC_MAX_MS 1e9 /* ms accepted from a file */

typedef struct pc_entry {
    char *key; /* tq_alloc'd, key_bytes long (NUL included) */
    size_t key_bytes;
    uint64_t hash;
    bool used; /* found or recorded since the cache was made: what tq_plan_cache_export takes */
    tq_pc_choice c;
} pc_entry;

/* A serialized plan kept in memory (tq_plan_cache_keep_blobs, or an engine's plans). */
typedef struct pc_blob {
    char *key; /* tq_alloc'd, key_bytes long */
    size_t key_bytes;
    char *data; /* tq_alloc'd, n + 1 bytes (NUL-terminated) */
    size_t n;
} pc_blob;

struct tq_plan_cache {
    const tfmq_allocator *alloc;
    char *path; /* tq_alloc'd, path_bytes long; NULL: in memory only */
    size_t path_bytes;
    bool bound;    /* tq_plan_cache_open set the device (and loaded the file) */
    char gpu[128]; /* GPU name as the header writes it */
    int32_t sm;
    int64_t cudnn;
    pc_entry *e; /* n entries in insertion order, cap allocated */
    size_t n, cap;
    int32_t *slots; /* n_slots (a power of two >= 2 cap) entry indices, -1: empty */
    size_t n_slots;
    bool dirty; /* choices recorded since the load or the last save */
    size_t hits, misses;
    pc_blob *b; /* n_b serialized plans kept in memory, cap_b allocated */
    size_t n_b, cap_b;
    bool keep_blobs; /* tq_plan_cache_blob_store keeps plans in memory too */
    const uint8_t *emb; /* an engine's PLANS payload (borrowed), loaded by tq_plan_cache_open */
    size_t emb_n;
    char emb_origin[256]; /* the engine's path, for messages */
    bool emb_rebuild;     /* its plans are for another device: autotune (else refuse) */
};

/* ---- table ---- */
static uint64_t pc_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (; *s; s++) {
        h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    }
    return h;
}

/* Slot of key: its entry's slot, or the empty slot where it would go. */
static size_t pc_slot(const tq_plan_cache *pc, const char *key, uint64_t h)
{
    size_t i = (size_t)h & (pc->n_slots - 1);
    while (pc->slots[i] >= 0) {
        const pc_entry *e = &pc->e[pc->slots[i]];
        if (e->hash == h && strcmp(e->key, key) == 0) {
            return i;
        }
        i = (i + 1) & (pc->n_slots - 1);
    }
    return i;
}

/* Room for one more entry: grow the entry array and rebuild the index when full. */
static tfmq_status pc_reserve(tq_plan_cache *pc)
{
    if (pc->n < pc->cap) {
        return TFMQ_OK;
    }
    const size_t cap = pc->cap ? pc->cap * 2 : 64, n_slots = cap * 2;
    int32_t *slots = tq_alloc(pc->alloc, n_slots * sizeof(int32_t));
    if (!slots) {
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "plan cache: %zu entries", cap);
    }
    pc_entry *e = tq_realloc(pc->alloc, pc->e, pc->cap * sizeof(pc_entry), cap * sizeof(pc_entry));
    if (!e) {
        tq_free(pc->alloc, slots, n_slots * sizeof(int32_t));
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "plan cache: %zu entries", cap);
    }
    tq_free(pc->alloc, pc->slots, pc->n_slots * sizeof(int32_t));
    pc->e = e;
    pc->cap = cap;
    pc->slots = slots;
    pc->n_slots = n_slots;
    memset(slots, 0xff, n_slots * sizeof(int32_t));
    for (size_t k = 0; k < pc->n; k++) {
        slots[pc_slot(pc, pc->e[k].key, pc->e[k].hash)] = (int32_t)k;
    }
    return TFMQ_OK;
}

static void pc_clear(tq_plan_cache *pc)
{
    for (size_t k = 0; k < pc->n; k++) {
        tq_free(pc->alloc, pc->e[k].key, pc->e[k].key_bytes);
    }
    pc->n = 0;
    for (size_t k = 0; k < pc->n_b; k++) {
        tq_free(pc->alloc, pc->b[k].key, pc->b[k].key_bytes);
        tq_free(pc->alloc, pc->b[k].data, pc->b[k].n + 1);
    }
    pc->n_b = 0;
    if (pc->slots) {
        memset(pc->slots, 0xff, pc->n_slots * sizeof(int32_t));
    }
    pc->dirty = false;
}

tfmq_status tq_plan_cache_create(const tfmq_allocator *alloc, const char *path,
                                 tq_plan_cache **pc_out)
{
    *pc_out = NULL;
    tq_plan_cache *pc = tq_calloc(alloc, 1, sizeof(*pc));
    if (!pc) {
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "plan cache: %zu bytes", sizeof(*pc));
    }
    pc->alloc = alloc;
    if (path) {
        const size_t n = strlen(path) + 1;
        pc->path = tq_alloc(alloc, n);
        if (!pc->path) {
            tq_free(alloc, pc, sizeof(*pc));
            return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "plan cache: %zu bytes", n);
        }
        pc->path_bytes = n;
        memcpy(pc->path, path, n);
    }
    *pc_out = pc;
    return TFMQ_OK;
}

void tq_plan_cache_destroy(tq_plan_cache *pc)
{
    if (!pc) {
        return;
    }
    pc_clear(pc);
    tq_free(pc->alloc, pc->e, pc->cap * sizeof(pc_entry));
    tq_free(pc->alloc, pc->b, pc->cap_b * sizeof(pc_blob));
    tq_free(pc->alloc, pc->slots, pc->n_slots * sizeof(int32_t));
    tq_free(pc->alloc, pc->path, pc->path_bytes);
    tq_free(pc->alloc, pc, sizeof(*pc));
}

const tq_pc_choice *tq_plan_cache_find(tq_plan_cache *pc, const char *key)
{
    if (!pc || !key || pc->n == 0) {
        return NULL;
    }
    const int32_t k = pc->slots[pc_slot(pc, key, pc_hash(key))];
    if (k < 0) {
        return NULL;
    }
    pc->e[k].used = true;
    return &pc->e[k].c;
}

void tq_plan_cache_count(tq_plan_cache *pc, bool hit)
{
    if (pc) {
        *(hit ? &pc->hits : &pc->misses) += 1;
    }
}

void tq_plan_cache_stats(const tq_plan_cache *pc, size_t *hits, size_t *misses, size_t *n_entries)
{
    *hits = pc ? pc->hits : 0;
    *misses = pc ? pc->misses : 0;
    *n_entries = pc ? pc->n : 0;
}

/* ---- tokens and numbers (locale-free) ---- */
bool tq_plan_cache_key_ok(const char *key)
{
    size_t n = 0;
    for (; key && key[n]; n++) {
        if (key[n] <= ' ' || key[n] > '~' || n + 1 >= TQ_PC_MAX_KEY) {
            return false;
        }
    }
    return n > 0;
}

bool tq_plan_cache_path_ok(const char *path)
{
    size_t n = 0;
    for (; path && path[n]; n++) {
        const char ch = path[n];
        const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                        (ch >= '0' && ch <= '9') || strchr("_:+*.-", ch) != NULL;
        if (!ok || n + 1 >= TQ_PC_MAX_PATH) {
            return false;
        }
    }
    return n > 0;
}

/* A decimal integer in [lo, hi] at *s (optional '-', digits), advancing *s past it. */
static bool pc_i64(const char **s, int64_t lo, int64_t hi, int64_t *out)
{
    const char *p = *s;
    const bool neg = *p == '-';
    p += neg;
    if (*p < '0' || *p > '9') {
        return false;
    }
    uint64_t v = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (UINT64_MAX - 9) / 10) {
            return false; /* far out of any range we accept */
        }
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v > (uint64_t)INT64_MAX) {
        return false;
    }
    const int64_t x = neg ? -(int64_t)v : (int64_t)v;
    if (x < lo || x > hi) {
        return false;
    }
    *out = x;
    *s = p;
    return true;
}

/* "<int>.<1 to 6 digits>" or "<int>" as ms, at most PC_MAX_MS. */
static bool pc_ms(const char **s, double *out)
{
    int64_t whole = 0, frac = 0, scale = 1000000;
    if (!pc_i64(s, 0, (int64_t)PC_MAX_MS, &whole)) {
        return false;
    }
    if (**s == '.') {
        const char *p = ++*s;
        for (; *p >= '0' && *p <= '9' && p - *s < 6; p++) {
            frac = frac * 10 + (*p - '0');
            scale /= 10;
        }
        if (p == *s || (*p >= '0' && *p <= '9')) {
            return false; /* no digit, or more than 6 */
        }
        *s = p;
    }
    *out = (double)whole + (double)(frac * scale) * 1e-6;
    return true;
}

/* The literal word `w` at *s, advancing past it. */
static bool pc_word(const char **s, const char *w)
{
    const size_t n = strlen(w);
    if (strncmp(*s, w, n) != 0) {
        return false;
    }
    *s += n;
    return true;
}

/* A token of non-space characters into out (cap bytes with the NUL); *s advances past it. */
static bool pc_token(const char **s, char *out, size_t cap)
{
    size_t n = 0;
    const char *p = *s;
    for (; *p && *p != ' '; p++) {
        if (n + 1 >= cap) {
            return false;
        }
        out[n++] = *p;
    }
    out[n] = '\0';
    *s = p;
    return n > 0;
}

/* ---- one entry line ---- */
/* "knobs=-" or "knobs=t:v,t:v,...". */
static bool pc_parse_knobs(const char **s, tq_pc_choice *c)
{
    c->n_knobs = 0;
    if (!pc_word(s, "knobs=")) {
        return false;
    }
    if (pc_word(s, "-")) {
        return true;
    }
    for (;;) {
        tq_pc_knob *k = &c->knobs[c->n_knobs];
        if (c->n_knobs >= TQ_PC_MAX_KNOBS || !pc_i64(s, 0, 1023, &k->type) || !pc_word(s, ":") ||
            !pc_i64(s, INT64_MIN + 1, INT64_MAX, &k->value)) {
            return false;
        }
        c->n_knobs++;
        if (!pc_word(s, ",")) {
            return true;
        }
    }
}

/* Parse a NUL-terminated entry line into key and *c. */
static bool pc_parse_entry(const char *line, char key[TQ_PC_MAX_KEY], tq_pc_choice *c)
{
    const char *s = line;
    memset(c, 0, sizeof(*c));
    return pc_token(&s, key, TQ_PC_MAX_KEY) && tq_plan_cache_key_ok(key) && pc_word(&s, " ") &&
           pc_token(&s, c->path, TQ_PC_MAX_PATH) && tq_plan_cache_path_ok(c->path) &&
           pc_word(&s, " eng=") && pc_i64(&s, -1, INT32_MAX, &c->engine) && pc_word(&s, " ws=") &&
           pc_i64(&s, 0, TQ_PC_MAX_WS, &c->ws_bytes) && pc_word(&s, " ms=") && pc_ms(&s, &c->ms) &&
           pc_word(&s, " ") && pc_parse_knobs(&s, c) && *s == '\0';
}

/* Format the entry line (with its '\n') into buf; its length, or 0 when it does not fit. */
static size_t pc_format_entry(const char *key, const tq_pc_choice *c, char *buf, size_t cap)
{
    const double ms =
        isfinite(c->ms) && c->ms > 0.0 ? (c->ms < PC_MAX_MS ? c->ms : PC_MAX_MS) : 0.0;
    const long long ns = llround(ms * 1e6);
    int n = snprintf(buf, cap, "%s %s eng=%lld ws=%lld ms=%lld.%06lld knobs=", key, c->path,
                     (long long)c->engine, (long long)c->ws_bytes, ns / 1000000, ns % 1000000);
    for (int32_t k = 0; n >= 0 && (size_t)n < cap && k < c->n_knobs; k++) {
        n += snprintf(buf + n, cap - (size_t)n, "%s%lld:%lld", k ? "," : "",
                      (long long)c->knobs[k].type, (long long)c->knobs[k].value);
    }
    if (n >= 0 && (size_t)n < cap) {
        n += snprintf(buf + n, cap - (size_t)n, "%s\n", c->n_knobs ? "" : "-");
    }
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* Whether two choices select the same plan (ms aside). */
static bool pc_same_plan(const tq_pc_choice *a, const tq_pc_choice *b)
{
    if (strcmp(a->path, b->path) != 0 || a->engine != b->engine || a->ws_bytes != b->ws_bytes ||
        a->n_knobs != b->n_knobs) {
        return false;
    }
    for (int32_t k = 0; k < a->n_knobs; k++) {
        if (a->knobs[k].type != b->knobs[k].type || a->knobs[k].value != b->knobs[k].value) {
            return false;
        }
    }
    return true;
}

/* Insert or replace without marking the cache dirty (the file's own entries). */
static tfmq_status pc_insert(tq_plan_cache *pc, const char *key, const tq_pc_choice *c,
                             bool overwrite, bool *changed)
{
    const uint64_t h = pc_hash(key);
    *changed = false;
    if (pc->n_slots) {
        const int32_t k = pc->slots[pc_slot(pc, key, h)];
        if (k >= 0) {
            if (overwrite) {
                *changed = !pc_same_plan(&pc->e[k].c, c);
                pc->e[k].c = *c;
            }
            return TFMQ_OK;
        }
    }
    if (pc->n >= TQ_PC_MAX_ENTRIES) {
        return tq_fail(TFMQ_ERR_UNSUPPORTED, "plan cache: more than %d entries", TQ_PC_MAX_ENTRIES);
    }
    tfmq_status st = pc_reserve(pc);
    if (st != TFMQ_OK) {
        return st;
    }
    pc_entry *e = &pc->e[pc->n];
    e->key_bytes = strlen(key) + 1;
    e->key = tq_alloc(pc->alloc, e->key_bytes);
    if (!e->key) {
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "plan cache: %zu bytes", e->key_bytes);
    }
    memcpy(e->key, key, e->key_bytes);
    e->hash = h;
    e->used = false;
    e->c = *c;
    pc->slots[pc_slot(pc, key, h)] = (int32_t)pc->n;
    pc->n++;
    *changed = true;
    return TFMQ_OK;
}

tfmq_status tq_plan_cache_put(tq_plan_cache *pc, const char *key, const tq_pc_choice *c)
{
    char line[TQ_PC_MAX_LINE];
    char k2[TQ_PC_MAX_KEY];
    tq_pc_choice c2;
    /* only what the file can hold, and reads back as the same choice */
    if (!pc || !c || !tq_plan_cache_key_ok(key) || !tq_plan_cache_path_ok(c->path) ||
        c->n_knobs < 0 || c->n_knobs > TQ_PC_MAX_KNOBS ||
        pc_format_entry(key, c, line, sizeof(line)) == 0) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "plan cache: entry '%.64s' cannot be stored",
                       key ? key : "");
    }
    line[strlen(line) - 1] = '\0';
    if (!pc_parse_entry(line, k2, &c2) || !pc_same_plan(&c2, c)) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "plan cache: entry '%.64s' is out of range", key);
    }
    bool changed = false;
    tfmq_status st = pc_insert(pc, key, &c2, true, &changed);
    pc->dirty = pc->dirty || changed;
    if (st == TFMQ_OK) {
        (void)tq_plan_cache_find(pc, key); /* marks it used */
    }
    return st;
}

/* ---- the file ---- */
/* Printable ASCII only: the header line stays one line and parses back. */
static void pc_sanitize(char *dst, size_t cap, const char *src)
{
    size_t n = 0;
    for (; src && src[n] && n + 1 < cap; n++) {
        dst[n] = src[n] >= ' ' && src[n] <= '~' ? src[n] : '?';
    }
    dst[n] = '\0';
}

/* The fields of a header line: *gpu points into line (to its end). */
static tfmq_status pc_header_fields(const char *line, int64_t *sm, int64_t *cudnn,
                                    const char **gpu)
{
    const char *s = line;
    int64_t ver = 0;
    if (!pc_word(&s, PC_MAGIC " ")) {
        return tq_fail(TFMQ_ERR_PARSE, "not a plan cache (no '" PC_MAGIC "' header)");
    }
    if (!pc_i64(&s, 0, INT32_MAX, &ver)) {
        return tq_fail(TFMQ_ERR_PARSE, "bad format version in the header");
    }
    if (ver != TQ_PC_VERSION) {
        return tq_fail(TFMQ_ERR_VERSION, "format version %lld (this build reads %d)",
                       (long long)ver, TQ_PC_VERSION);
    }
    if (!pc_word(&s, " sm=") || !pc_i64(&s, 0, 100000, sm) || !pc_word(&s, " cudnn=") ||
        !pc_i64(&s, 0, INT64_MAX, cudnn) || !pc_word(&s, " gpu=")) {
        return tq_fail(TFMQ_ERR_PARSE, "bad header (want '" PC_MAGIC " %d sm=N cudnn=N gpu=NAME')",
                       TQ_PC_VERSION);
    }
    *gpu = s;
    return TFMQ_OK;
}

/* Check the header line against pc's device. */
static tfmq_status pc_parse_header(const tq_plan_cache *pc, const char *line)
{
    const char *s = NULL;
    int64_t sm = 0, cudnn = 0;
    tfmq_status st = pc_header_fields(line, &sm, &cudnn, &s);
    if (st != TFMQ_OK) {
        return st;
    }
    if (strcmp(s, pc->gpu) != 0) {
        return tq_fail(TFMQ_ERR_VERSION, "written for GPU '%.127s', this is '%s'", s, pc->gpu);
    }
    if (sm != pc->sm) {
        return tq_fail(TFMQ_ERR_VERSION, "written for compute capability %lld, this GPU has %d",
                       (long long)sm, (int)pc->sm);
    }
    if (cudnn != pc->cudnn) {
        return tq_fail(TFMQ_ERR_VERSION, "written by cuDNN %lld, this is cuDNN %lld",
                       (long long)cudnn, (long long)pc->cudnn);
    }
    return TFMQ_OK;
}

/* The next line of [*p, end) into line (NUL-terminated, without its '\n'). false: a line too
 * long, holding a NUL, or not ending in '\n' (the rest is skipped); *p moves past it either way. */
static bool pc_next_line(const char **p, const char *end, char line[TQ_PC_MAX_LINE])
{
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    const size_t len = (size_t)((nl ? nl : end) - *p);
    const bool ok = nl && len < TQ_PC_MAX_LINE && !memchr(*p, '\0', len);
    if (ok) {
        memcpy(line, *p, len);
        line[len] = '\0';
    }
    *p = nl ? nl + 1 : end;
    return ok;
}

tfmq_status tq_plan_cache_parse(tq_plan_cache *pc, const char *text, size_t n, bool overwrite,
                                size_t *n_bad_out)
{
    char line[TQ_PC_MAX_LINE], key[TQ_PC_MAX_KEY];
    size_t n_bad = 0;
    tfmq_status st;
    if (n_bad_out) {
        *n_bad_out = 0;
    }
    if (n > TQ_PC_MAX_FILE) {
        return tq_fail(TFMQ_ERR_PARSE, "larger than %zu bytes", TQ_PC_MAX_FILE);
    }
    const char *p = text, *end = text + n;
    if (n == 0 || !pc_next_line(&p, end, line)) {
        return tq_fail(TFMQ_ERR_PARSE, "no header line");
    }
    if ((st = pc_parse_header(pc, line)) != TFMQ_OK) {
        return st;
    }
    while (p < end) {
        tq_pc_choice c;
        if (!pc_next_line(&p, end, line)) {
            n_bad++;
            continue;
        }
        if (line[0] == '\0' || line[0] == '#') {
            continue;
        }
        if (!pc_parse_entry(line, key, &c)) {
            n_bad++;
            continue;
        }
        bool changed;
        st = pc_insert(pc, key, &c, overwrite, &changed);
        if (st == TFMQ_ERR_UNSUPPORTED) { /* full: the rest does not fit */
            n_bad++;
            tq_clear_error();
            break;
        }
        if (st != TFMQ_OK) {
            return st;
        }
    }
    if (n_bad_out) {
        *n_bad_out = n_bad;
    }
    return TFMQ_OK;
}

/* The file text of pc's entries (only_used: of those found or recorded since pc was made). */
static tfmq_status pc_format(const tq_plan_cache *pc, bool only_used, char **text_out,
                             size_t *n_out)
{
    char line[TQ_PC_MAX_LINE];
    *text_out = NULL;
    *n_out = 0;
    int hn = snprintf(line, sizeof(line), PC_MAGIC " %d sm=%d cudnn=%lld gpu=%s\n", TQ_PC_VERSION,
                      (int)pc->sm, (long long)pc->cudnn, pc->gpu);
    size_t total = hn > 0 ? (size_t)hn : 0;
    for (size_t k = 0; k < pc->n; k++) {
        if (!only_used || pc->e[k].used) {
            total += pc_format_entry(pc->e[k].key, &pc->e[k].c, line, sizeof(line));
        }
    }
    char *text = tq_alloc(pc->alloc, total + 1);
    if (!text) {
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "plan cache: %zu bytes", total + 1);
    }
    size_t at = (size_t)snprintf(text, total + 1, PC_MAGIC " %d sm=%d cudnn=%lld gpu=%s\n",
                                 TQ_PC_VERSION, (int)pc->sm, (long long)pc->cudnn, pc->gpu);
    for (size_t k = 0; k < pc->n; k++) {
        if (!only_used || pc->e[k].used) {
            at += pc_format_entry(pc->e[k].key, &pc->e[k].c, text + at, total + 1 - at);
        }
    }
    text[at] = '\0';
    *text_out = text;
    *n_out = at;
    return TFMQ_OK;
}

tfmq_status tq_plan_cache_format(const tq_plan_cache *pc, char **text_out, size_t *n_out)
{
    return pc_format(pc, false, text_out, n_out);
}

/* Read the whole file into *buf (tq_alloc'd, *buf_bytes; *n bytes read, NUL after them).
 * TFMQ_ERR_IO with the reason when it cannot be opened (*missing: it does not exist) or read,
 * is not a regular file or is too large. */
static tfmq_status pc_read_file(const tq_plan_cache *pc, char **buf, size_t *buf_bytes, size_t *n,
                                bool *missing)
{
    struct stat sb;
    *buf = NULL;
    *buf_bytes = *n = 0;
    *missing = false;
    FILE *f = fopen(pc->path, "rb");
    if (!f) {
        const int e = errno;
        *missing = e == ENOENT;
        return tq_fail(TFMQ_ERR_IO, "cannot open: %s", strerror(e));
    }
    tfmq_status st = TFMQ_OK;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = tq_fail(TFMQ_ERR_IO, "not a regular file");
    } else if ((uint64_t)sb.st_size > TQ_PC_MAX_FILE) {
        st = tq_fail(TFMQ_ERR_IO, "larger than %zu bytes", TQ_PC_MAX_FILE);
    } else if (!(*buf = tq_alloc(pc->alloc, (size_t)sb.st_size + 1))) {
        st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "plan cache: %lld bytes", (long long)sb.st_size);
    } else {
        *buf_bytes = (size_t)sb.st_size + 1;
        *n = fread(*buf, 1, (size_t)sb.st_size, f); /* a file that shrank meanwhile: less */
        (*buf)[*n] = '\0';
        if (ferror(f)) {
            st = tq_fail(TFMQ_ERR_IO, "read failed");
        }
    }
    fclose(f);
    if (st != TFMQ_OK && *buf) {
        tq_free(pc->alloc, *buf, *buf_bytes);
        *buf = NULL;
        *buf_bytes = *n = 0;
    }
    return st;
}

/* Load the file's entries. Only running out of memory is an error: a file that is missing,
 * unreadable or refused leaves the table as it is (with a warning unless `quiet`). */
static tfmq_status pc_load(tq_plan_cache *pc, bool overwrite, bool quiet)
{
    char *buf = NULL;
    size_t buf_bytes = 0, n = 0, n_bad = 0;
    bool missing = false;
    tfmq_status st = pc_read_file(pc, &buf, &buf_bytes, &n, &missing);
    if (st == TFMQ_OK) {
        st = tq_plan_cache_parse(pc, buf, n, overwrite, &n_bad);
        tq_free(pc->alloc, buf, buf_bytes);
    }
    if (st == TFMQ_ERR_OUT_OF_MEMORY) {
        return st;
    }
    if (st != TFMQ_OK && !missing && !quiet) {
        tq_log(TFMQ_LOG_WARN, "cuda plan cache %s: ignored: %s", pc->path, tfmq_last_error());
    } else if (n_bad && !quiet) {
        tq_log(TFMQ_LOG_WARN, "cuda plan cache %s: %zu malformed line%s skipped", pc->path, n_bad,
               n_bad == 1 ? "" : "s");
    }
    tq_clear_error();
    return TFMQ_OK;
}

static tfmq_status pc_load_embedded(tq_plan_cache *pc);

tfmq_status tq_plan_cache_open(tq_plan_cache *pc, const char *gpu_name, int32_t sm,
                               int64_t cudnn_version)
{
    char gpu[sizeof(pc->gpu)];
    pc_sanitize(gpu, sizeof(gpu), gpu_name);
    if (pc->bound && strcmp(gpu, pc->gpu) == 0 && sm == pc->sm && cudnn_version == pc->cudnn) {
        return TFMQ_OK;
    }
    pc_clear(pc); /* another device: nothing recorded for the last one applies */
    memcpy(pc->gpu, gpu, sizeof(gpu));
    pc->sm = sm;
    pc->cudnn = cudnn_version;
    pc->bound = true;
    tfmq_status st = pc->path ? pc_load(pc, true, false) : TFMQ_OK;
    return st == TFMQ_OK && pc->emb ? pc_load_embedded(pc) : st;
}

tfmq_status tq_plan_cache_save(tq_plan_cache *pc)
{
    if (!pc || !pc->path || !pc->bound || !pc->dirty) {
        return TFMQ_OK;
    }
    tq_atomic_file f;
    char *text = NULL;
    size_t n = 0;
    /* what other sessions wrote since the load: kept unless this one decided otherwise */
    tfmq_status st = pc_load(pc, false, true);
    if (st == TFMQ_OK) {
        st = tq_plan_cache_format(pc, &text, &n);
    }
    if (st == TFMQ_OK) {
        st = tq_atomic_open(&f, pc->alloc, pc->path, TFMQ_WRITE_OVERWRITE);
    }
    if (st == TFMQ_OK) {
        st = tq_atomic_write(&f, text, n);
        if (st == TFMQ_OK) {
            st = tq_atomic_commit(&f); /* releases f either way */
        } else {
            tq_atomic_abort(&f);
        }
    }
    if (text) {
        tq_free(pc->alloc, text, n + 1);
    }
    pc->dirty = pc->dirty && st != TFMQ_OK;
    return st;
}

/* ---- serialized plans beside the file ---- */

#define PC_BLOB_MAGIC "tfmq-plan-json 1"

static uint64_t pc_hash_n(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
    }
    return h;
}

/* "<file>.d" and "<file>.d/<hash>.json" for key; false when pc keeps no file or it is too long. */
static bool pc_blob_path(const tq_plan_cache *pc, const char *key, char *dir, char *path,
                         size_t cap)
{
    if (!pc || !pc->path || !pc->bound) {
        return false;
    }
    const int nd = snprintf(dir, cap, "%s.d", pc->path);
    const int np = snprintf(path, cap, "%s.d/%016llx.json", pc->path,
                            (unsigned long long)pc_hash(key));
    return nd > 0 && (size_t)nd < cap && np > 0 && (size_t)np < cap;
}

static int pc_blob_header(const tq_plan_cache *pc, const char *key, const char *data, size_t n,
                          char *buf, size_t cap)
{
    return snprintf(buf, cap, PC_BLOB_MAGIC " sm=%d cudnn=%lld bytes=%zu fnv=%016llx key=%s\n",
                    (int)pc->sm, (long long)pc->cudnn, n,
                    (unsigned long long)pc_hash_n(data, n), key);
}

bool tq_plan_cache_blob_verify(const tq_plan_cache *pc, const char *key, const char *buf,
                               size_t n, size_t *payload_off, size_t *payload_n)
{
    char want[TQ_PC_MAX_KEY + 128];
    const char *nl = buf ? memchr(buf, '\n', n) : NULL;
    *payload_off = *payload_n = 0;
    if (!pc || !key || !nl || strlen(key) >= TQ_PC_MAX_KEY) {
        return false;
    }
    /* the header this cache would write for the payload that follows: equal, byte for byte */
    const size_t off = (size_t)(nl + 1 - buf);
    const int w = pc_blob_header(pc, key, nl + 1, n - off, want, sizeof(want));
    if (w <= 0 || (size_t)w >= sizeof(want) || (size_t)w != off || memcmp(want, buf, off) != 0) {
        return false;
    }
    *payload_off = off;
    *payload_n = n - off;
    return true;
}

static pc_blob *pc_blob_find(const tq_plan_cache *pc, const char *key)
{
    for (size_t k = 0; pc && key && k < pc->n_b; k++) {
        if (strcmp(pc->b[k].key, key) == 0) {
            return &pc->b[k];
        }
    }
    return NULL;
}

/* Keep a copy of data (n bytes) as key's plan in memory, replacing one kept before. */
static tfmq_status pc_blob_put(tq_plan_cache *pc, const char *key, const char *data, size_t n)
{
    char *d = tq_alloc(pc->alloc, n + 1);
    if (!d) {
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "plan cache: %zu bytes", n + 1);
    }
    memcpy(d, data, n);
    d[n] = '\0';
    pc_blob *b = pc_blob_find(pc, key);
    if (b) {
        tq_free(pc->alloc, b->data, b->n + 1);
        b->data = d;
        b->n = n;
        return TFMQ_OK;
    }
    if (pc->n_b == pc->cap_b) {
        const size_t cap = pc->cap_b ? pc->cap_b * 2 : 32;
        pc_blob *v = tq_realloc(pc->alloc, pc->b, pc->cap_b * sizeof(pc_blob), cap * sizeof(pc_blob));
        if (!v) {
            tq_free(pc->alloc, d, n + 1);
            return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "plan cache: %zu plans", cap);
        }
        pc->b = v;
        pc->cap_b = cap;
    }
    b = &pc->b[pc->n_b];
    b->key_bytes = strlen(key) + 1;
    b->key = tq_alloc(pc->alloc, b->key_bytes);
    if (!b->key) {
        tq_free(pc->alloc, d, n + 1);
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "plan cache: %zu bytes", b->key_bytes);
    }
    memcpy(b->key, key, b->key_bytes);
    b->data = d;
    b->n = n;
    pc->n_b++;
    return TFMQ_OK;
}

void tq_plan_cache_keep_blobs(tq_plan_cache *pc)
{
    if (pc) {
        pc->keep_blobs = true;
    }
}

tfmq_status tq_plan_cache_blob_load(const tq_plan_cache *pc, const char *key,
                                    const tfmq_allocator *alloc, char **data_out, size_t *n_out)
{
    char dir[1024], path[1024];
    struct stat sb;
    *data_out = NULL;
    *n_out = 0;
    const pc_blob *mb = pc_blob_find(pc, key);
    if (mb) {
        char *d = tq_alloc(alloc, mb->n + 1);
        if (!d) {
            return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "plan cache: %zu bytes", mb->n + 1);
        }
        memcpy(d, mb->data, mb->n + 1);
        *data_out = d;
        *n_out = mb->n;
        return TFMQ_OK;
    }
    if (!pc_blob_path(pc, key, dir, path, sizeof(path))) {
        return TFMQ_OK;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        return TFMQ_OK; /* none recorded */
    }
    char *buf = NULL;
    size_t size = 0, got = 0;
    const char *why = NULL;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        why = "not a regular file";
    } else if ((uint64_t)sb.st_size > TQ_PC_MAX_BLOB + TQ_PC_MAX_KEY + 128) {
        why = "too large";
    } else if (!(buf = tq_alloc(alloc, (size_t)sb.st_size + 1))) {
        fclose(f);
        return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "plan cache: %lld bytes", (long long)sb.st_size);
    } else {
        size = (size_t)sb.st_size + 1;
        got = fread(buf, 1, (size_t)sb.st_size, f);
        buf[got] = '\0';
    }
    fclose(f);
    size_t off = 0, n = 0;
    if (!why && !tq_plan_cache_blob_verify(pc, key, buf, got, &off, &n)) {
        why = "header, size or checksum does not match (another device, key or a damaged file)";
    }
    if (!why) { /* the payload moves to the front; the block shrinks to n + 1 bytes */
        memmove(buf, buf + off, n);
        buf[n] = '\0';
        char *t = n + 1 == size ? buf : tq_realloc(alloc, buf, size, n + 1);
        if (!t) {
            tq_free(alloc, buf, size);
            return tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "plan cache: %zu bytes", n + 1);
        }
        *data_out = t;
        *n_out = n;
        return TFMQ_OK;
    }
    tq_log(TFMQ_LOG_DEBUG, "cuda plan cache: %s ignored: %s", path, why);
    if (buf) {
        tq_free(alloc, buf, size);
    }
    return TFMQ_OK;
}

void tq_plan_cache_blob_store(tq_plan_cache *pc, const char *key, const char *data, size_t n)
{
    char dir[1024], path[1024], head[TQ_PC_MAX_KEY + 128];
    if (!data || n == 0 || n > TQ_PC_MAX_BLOB) {
        return;
    }
    if (pc && pc->keep_blobs && pc_blob_put(pc, key, data, n) != TFMQ_OK) {
        tq_log(TFMQ_LOG_DEBUG, "cuda plan cache: plan of %.64s not kept: %s", key,
               tfmq_last_error());
        tq_clear_error();
    }
    if (!pc_blob_path(pc, key, dir, path, sizeof(path))) {
        return;
    }
    const int w = pc_blob_header(pc, key, data, n, head, sizeof(head));
    if (w <= 0 || (size_t)w >= sizeof(head)) {
        return;
    }
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        tq_log(TFMQ_LOG_DEBUG, "cuda plan cache: cannot make %s: %s", dir, strerror(errno));
        return;
    }
    tq_atomic_file f;
    tfmq_status st = tq_atomic_open(&f, pc->alloc, path, TFMQ_WRITE_OVERWRITE);
    if (st == TFMQ_OK) {
        st = tq_atomic_write(&f, head, (size_t)w);
        if (st == TFMQ_OK) {
            st = tq_atomic_write(&f, data, n);
        }
        if (st == TFMQ_OK) {
            st = tq_atomic_commit(&f);
        } else {
            tq_atomic_abort(&f);
        }
    }
    if (st != TFMQ_OK) {
        tq_log(TFMQ_LOG_DEBUG, "cuda plan cache: %s not written: %s", path, tfmq_last_error());
        tq_clear_error();
    }
}

/* ---- plans carried in engine files ---- */

static void pc_put_le(uint8_t *p, uint64_t v, int n_bytes)
{
    for (int i = 0; i < n_bytes; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint64_t pc_get_le(const uint8_t *p, int n_bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < n_bytes; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

typedef struct pc_export_blob {
    const char *key;
    char *data;
    size_t n;
} pc_export_blob;

tfmq_status tq_plan_cache_export(tq_plan_cache *pc, uint8_t **out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    if (!pc || !pc->bound) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "plan cache: not bound to a device");
    }
    char *text = NULL;
    size_t text_n = 0, n_blobs = 0;
    pc_export_blob *blobs = NULL;
    uint8_t *buf = NULL;
    tfmq_status st = pc_format(pc, true, &text, &text_n);
    if (st == TFMQ_OK && pc->n) {
        blobs = tq_calloc(pc->alloc, pc->n, sizeof(*blobs));
        st = blobs ? TFMQ_OK : tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "plan cache: %zu plans", pc->n);
    }
    size_t total = 8 + text_n + 4;
    for (size_t k = 0; st == TFMQ_OK && k < pc->n; k++) {
        if (!pc->e[k].used) {
            continue;
        }
        pc_export_blob *b = &blobs[n_blobs];
        st = tq_plan_cache_blob_load(pc, pc->e[k].key, pc->alloc, &b->data, &b->n);
        if (st == TFMQ_OK && b->data) {
            b->key = pc->e[k].key;
            total += 4 + strlen(b->key) + 8 + b->n;
            n_blobs++;
        }
    }
    if (st == TFMQ_OK && !(buf = tq_alloc(pc->alloc, total))) {
        st = tq_fail(TFMQ_ERR_OUT_OF_MEMORY, "plan cache: %zu bytes", total);
    }
    if (st == TFMQ_OK) {
        size_t at = 0;
        pc_put_le(buf + at, text_n, 8);
        memcpy(buf + at + 8, text, text_n);
        at += 8 + text_n;
        pc_put_le(buf + at, n_blobs, 4);
        at += 4;
        for (size_t i = 0; i < n_blobs; i++) {
            const size_t kn = strlen(blobs[i].key);
            pc_put_le(buf + at, kn, 4);
            memcpy(buf + at + 4, blobs[i].key, kn);
            at += 4 + kn;
            pc_put_le(buf + at, blobs[i].n, 8);
            memcpy(buf + at + 8, blobs[i].data, blobs[i].n);
            at += 8 + blobs[i].n;
        }
        *out = buf;
        *n_out = total;
    }
    for (size_t i = 0; i < n_blobs; i++) {
        tq_free(pc->alloc, blobs[i].data, blobs[i].n + 1);
    }
    tq_free(pc->alloc, blobs, blobs ? pc->n * sizeof(*blobs) : 0);
    if (text) {
        tq_free(pc->alloc, text, text_n + 1);
    }
    return st;
}

/* Walk the serialized plans of a payload (after its text): with apply false only check the
 * layout; with apply true keep each in pc's memory. */
static tfmq_status pc_import_blobs(tq_plan_cache *pc, const uint8_t *p, size_t n, bool apply)
{
    char key[TQ_PC_MAX_KEY];
    if (n < 4) {
        return tq_fail(TFMQ_ERR_PARSE, "no plan count");
    }
    const uint64_t n_blobs = pc_get_le(p, 4);
    size_t at = 4;
    for (uint64_t i = 0; i < n_blobs; i++) {
        if (n - at < 4) {
            return tq_fail(TFMQ_ERR_PARSE, "plan %llu: cut short", (unsigned long long)i);
        }
        const uint64_t kn = pc_get_le(p + at, 4);
        at += 4;
        if (kn == 0 || kn >= TQ_PC_MAX_KEY || n - at < kn) {
            return tq_fail(TFMQ_ERR_PARSE, "plan %llu: bad key length", (unsigned long long)i);
        }
        memcpy(key, p + at, (size_t)kn);
        key[kn] = '\0';
        at += (size_t)kn;
        if (!tq_plan_cache_key_ok(key) || n - at < 8) {
            return tq_fail(TFMQ_ERR_PARSE, "plan %llu: bad key", (unsigned long long)i);
        }
        const uint64_t dn = pc_get_le(p + at, 8);
        at += 8;
        if (dn == 0 || dn > TQ_PC_MAX_BLOB || n - at < dn) {
            return tq_fail(TFMQ_ERR_PARSE, "plan %llu: bad size", (unsigned long long)i);
        }
        if (apply) {
            tfmq_status st = pc_blob_put(pc, key, (const char *)p + at, (size_t)dn);
            if (st != TFMQ_OK) {
                return st;
            }
        }
        at += (size_t)dn;
    }
    return at == n ? TFMQ_OK : tq_fail(TFMQ_ERR_PARSE, "%zu trailing bytes", n - at);
}

tfmq_status tq_plan_cache_import(tq_plan_cache *pc, const void *payload, size_t n, bool mark_used)
{
    const uint8_t *p = payload;
    if (!pc || !pc->bound || (!p && n)) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "plan cache: not bound to a device");
    }
    if (n < 8) {
        return tq_fail(TFMQ_ERR_PARSE, "no text length");
    }
    const uint64_t text_n = pc_get_le(p, 8);
    if (text_n > n - 8 || text_n > TQ_PC_MAX_FILE) {
        return tq_fail(TFMQ_ERR_PARSE, "text length %llu out of range",
                       (unsigned long long)text_n);
    }
    const uint8_t *rest = p + 8 + text_n;
    const size_t rest_n = n - 8 - (size_t)text_n;
    tfmq_status st = pc_import_blobs(pc, rest, rest_n, false); /* whole layout first */
    size_t n_bad = 0;
    if (st == TFMQ_OK) {
        st = tq_plan_cache_parse(pc, (const char *)p + 8, (size_t)text_n, true, &n_bad);
    }
    if (st == TFMQ_OK && n_bad) {
        st = tq_fail(TFMQ_ERR_PARSE, "%zu malformed entr%s", n_bad, n_bad == 1 ? "y" : "ies");
    }
    if (st == TFMQ_OK) {
        st = pc_import_blobs(pc, rest, rest_n, true);
    }
    if (st == TFMQ_OK && mark_used) {
        for (size_t k = 0; k < pc->n; k++) {
            pc->e[k].used = true;
        }
    }
    return st;
}

void tq_plan_cache_embed(tq_plan_cache *pc, const void *payload, size_t n, const char *origin,
                         bool rebuild)
{
    if (!pc) {
        return;
    }
    pc->emb = payload;
    pc->emb_n = n;
    pc_sanitize(pc->emb_origin, sizeof(pc->emb_origin), origin ? origin : "engine");
    pc->emb_rebuild = rebuild;
}

/* The engine's plans, after the file's (they win): refused when written for another device,
 * unless the session rebuilds (then ignored with a warning). */
static tfmq_status pc_load_embedded(tq_plan_cache *pc)
{
    char why[384];
    tfmq_status st = tq_plan_cache_import(pc, pc->emb, pc->emb_n, false);
    if (st == TFMQ_OK || st == TFMQ_ERR_OUT_OF_MEMORY) {
        return st;
    }
    snprintf(why, sizeof(why), "%s", tfmq_last_error());
    if (st != TFMQ_ERR_VERSION) {
        return tq_fail(TFMQ_ERR_PARSE, "%s: corrupt engine: PLANS section: %s", pc->emb_origin,
                       why);
    }
    if (pc->emb_rebuild) {
        tq_clear_error();
        tq_log(TFMQ_LOG_WARN, "%s: the engine's cuda plans are not used (%s); rebuilding them "
               "here by autotuning", pc->emb_origin, why);
        return TFMQ_OK;
    }
    return tq_fail(TFMQ_ERR_UNSUPPORTED, "%s: the engine's cuda plans were %s: compile the "
                   "engine again on this GPU, or rebuild its plans here (tfmq bench --rebuild; "
                   "TFMQ_SESSION_REBUILD in tfmq_session_options.flags)", pc->emb_origin, why);
}

void tq_plan_cache_summary(const void *payload, size_t n, char *buf, size_t cap)
{
    char line[TQ_PC_MAX_LINE];
    const uint8_t *p = payload;
    const char *gpu = NULL;
    int64_t sm = 0, cudnn = 0;
    snprintf(buf, cap, "(unreadable plans)");
    const uint64_t text_n = p && n >= 8 ? pc_get_le(p, 8) : 0;
    if (!p || n < 8 || text_n > n - 8 || text_n > TQ_PC_MAX_FILE) {
        return;
    }
    const char *t = (const char *)p + 8, *end = t + text_n;
    if (!pc_next_line(&t, end, line) || pc_header_fields(line, &sm, &cudnn, &gpu) != TFMQ_OK) {
        tq_clear_error();
        return;
    }
    char name[160];
    pc_sanitize(name, sizeof(name), gpu);
    size_t n_entries = 0;
    while (t < end) { /* entry lines: what tq_plan_cache_parse would try */
        const char *nl = memchr(t, '\n', (size_t)(end - t));
        n_entries += *t != '\n' && *t != '#';
        t = nl ? nl + 1 : end;
    }
    snprintf(buf, cap, "%s, compute capability %d.%d, cuDNN %lld: %zu convolution plan%s", name,
             (int)(sm / 10), (int)(sm % 10), (long long)cudnn, n_entries,
             n_entries == 1 ? "" : "s");
}

bool tq_plan_cache_device(const tq_plan_cache *pc, const char **gpu, int32_t *sm, int64_t *cudnn)
{
    if (!pc || !pc->bound) {
        return false;
    }
    *gpu = pc->gpu;
    *sm = pc->sm;
    *cudnn = pc->cudnn;
    return true;
}

/* ---- plans shared within one exec ---- */

const tq_pc_shared *tq_pc_share_find(tq_pc_share *s, const char *key)
{
    for (size_t i = 0; s && i < s->n; i++) {
        if (strcmp(s->v[i].key, key) == 0) {
            s->n_reused++;
            return &s->v[i];
        }
    }
    return NULL;
}

void tq_pc_share_add(tq_pc_share *s, const char *key, const char *path, int64_t engine,
                     int64_t ws_bytes, void *plan)
{
    if (!s || strlen(key) >= TQ_PC_MAX_KEY || strlen(path) >= TQ_PC_MAX_PATH) {
        return;
    }
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->v[i].key, key) == 0) {
            return;
        }
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 32;
        tq_pc_shared *v = tq_realloc(s->alloc, s->v, s->cap * sizeof(*v), cap * sizeof(*v));
        if (!v) {
            return;
        }
        s->v = v;
        s->cap = cap;
    }
    tq_pc_shared *e = &s->v[s->n++];
    memset(e, 0, sizeof(*e));
    snprintf(e->key, sizeof(e->key), "%s", key);
    snprintf(e->path, sizeof(e->path), "%s", path);
    e->engine = engine;
    e->ws_bytes = ws_bytes;
    e->plan = plan;
}

void tq_pc_share_free(tq_pc_share *s)
{
    if (s) {
        tq_free(s->alloc, s->v, s->cap * sizeof(*s->v));
        s->v = NULL;
        s->n = s->cap = 0;
    }
}
