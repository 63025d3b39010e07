/* plan_cache.h: the CUDA backend's plan cache (docs/CUDA_BACKEND.md, "Plan cache"). What the conv
 * and qconv families decided at prepare for one problem (path, cuDNN engine and knob choices,
 * workspace, measured time), keyed by a string that describes the problem fully, kept in memory
 * for a session and in a text file between sessions, so that a session made again on the same
 * GPU and cuDNN builds the recorded plans instead of autotuning. Plain C, no CUDA header: the
 * parser and writer are tested without a GPU (tests/unit/test_plan_cache.c), and the module is
 * compiled in every build (CMakeLists.txt).
 *
 * File format (text; every line ends in '\n' and has at most TQ_PC_MAX_LINE - 1 bytes):
 *   tfmq-plan-cache 1 sm=90 cudnn=91900 gpu=NVIDIA H100 80GB HBM3
 *   <key> <path> eng=<int> ws=<bytes> ms=<int>[.<1-6 digits>] knobs=<type>:<value>,...|-
 * e.g. "conv:f16:fp32:n8:...:act=none fused eng=12 ws=4096 ms=0.041250 knobs=2:5,13:1". Every
 * number is plain decimal and range-checked (eng -1 .. 2^31-1, ws 0 .. TQ_PC_MAX_WS, ms 0 .. 1e9,
 * knob types 0 .. 1023). The header names the format version, the compute capability
 * (major * 10 + minor), the cuDNN version (cudnnGetVersion()) and the GPU name (to the end of
 * the line); a file whose header differs from the session's device is ignored as a whole. Keys
 * are printable ASCII without spaces; paths are short tokens of [A-Za-z0-9_:+*.-] whose meaning
 * belongs to the family. Empty lines and lines starting with '#' are skipped; an entry line
 * that does not parse (or the last line when it lacks its '\n') is skipped and counted; a later
 * line with the same key replaces an earlier one. Limits: TQ_PC_MAX_FILE bytes,
 * TQ_PC_MAX_ENTRIES entries, TQ_PC_MAX_KNOBS knob choices per entry.
 *
 * Ownership: the session owns the cache (one per session, made from its options) and lends it
 * to each CUDA exec it plans (tq_cuda_exec_opts.plan_cache), which binds it to its device
 * (loading the file once) and saves it after planning. */
#ifndef TQ_CUDA_PLAN_CACHE_H
#define TQ_CUDA_PLAN_CACHE_H

#include "core/core.h"

#define TQ_PC_VERSION     1
#define TQ_PC_MAX_LINE    2048 /* bytes of one line, '\n' included */
#define TQ_PC_MAX_KEY     512  /* bytes of a key, NUL included */
#define TQ_PC_MAX_PATH    32   /* bytes of a path token, NUL included */
#define TQ_PC_MAX_KNOBS   32   /* knob choices of one engine config */
#define TQ_PC_MAX_ENTRIES 8192
#define TQ_PC_MAX_FILE    (((size_t)TQ_PC_MAX_ENTRIES + 1) * TQ_PC_MAX_LINE) /* bytes (16 MiB) */
#define TQ_PC_MAX_WS      ((int64_t)1 << 40) /* workspace bytes accepted from a file */

typedef struct tq_plan_cache tq_plan_cache;

/* One knob choice of a cuDNN engine config (cudnnBackendKnobType_t and its value). */
typedef struct tq_pc_knob {
    int64_t type;
    int64_t value;
} tq_pc_knob;

/* What prepare decided for one problem. */
typedef struct tq_pc_choice {
    char path[TQ_PC_MAX_PATH]; /* the family's path token, e.g. "fused", "direct" */
    int64_t engine;            /* cuDNN engine global index; -1: no cuDNN plan (our kernel) */
    int64_t ws_bytes;          /* workspace of the plan, bytes */
    double ms;                 /* time of one run measured at prepare, ms (informational) */
    int32_t n_knobs;
    tq_pc_knob knobs[TQ_PC_MAX_KNOBS];
} tq_pc_choice;

/* A cache for the file at `path` (copied; NULL: in memory only, never loaded or saved). Nothing
 * is read until tq_plan_cache_open. */
tfmq_status tq_plan_cache_create(const tfmq_allocator *alloc, const char *path,
                                 tq_plan_cache **pc_out);
void tq_plan_cache_destroy(tq_plan_cache *pc);

/* Bind the cache to a device: GPU name, compute capability, cuDNN version. The first call loads
 * the file when there is one: a missing file is an empty cache; a file that cannot be read, is
 * too large, or whose header does not parse or names another format version, GPU or cuDNN is
 * ignored with a TFMQ_LOG_WARN saying why. A later call with another device empties the table.
 * Returns TFMQ_OK, or TFMQ_ERR_OUT_OF_MEMORY. */
tfmq_status tq_plan_cache_open(tq_plan_cache *pc, const char *gpu_name, int32_t sm,
                               int64_t cudnn_version);

/* Parse the n bytes of a cache file (no NUL needed) into pc, whose device tq_plan_cache_open
 * set. overwrite: a key already in pc takes the file's choice (else pc's stays). *n_bad_out
 * (may be NULL): entry lines skipped. Returns TFMQ_OK; TFMQ_ERR_PARSE when the header does not
 * parse or the text is too large, TFMQ_ERR_VERSION when it names another format version, GPU or
 * cuDNN (nothing is loaded then; the thread's error message says why); TFMQ_ERR_OUT_OF_MEMORY. */
tfmq_status tq_plan_cache_parse(tq_plan_cache *pc, const char *text, size_t n, bool overwrite,
                                size_t *n_bad_out);

/* The cache as file text (header and entries in insertion order), tq_alloc'd with pc's
 * allocator: free with tq_free(alloc, *text_out, *n_out + 1) (NUL-terminated). */
tfmq_status tq_plan_cache_format(const tq_plan_cache *pc, char **text_out, size_t *n_out);

/* The choice recorded for key, or NULL. Valid until the next tq_plan_cache_put. A found entry
 * counts as used (tq_plan_cache_export). */
const tq_pc_choice *tq_plan_cache_find(tq_plan_cache *pc, const char *key);

/* Record (or replace) the choice for key. TFMQ_ERR_INVALID_ARG for a key or choice the file
 * format cannot hold (nothing recorded), TFMQ_ERR_UNSUPPORTED when the table is full. */
tfmq_status tq_plan_cache_put(tq_plan_cache *pc, const char *key, const tq_pc_choice *c);

/* Count a lookup of prepare: hit (the recorded plan was used) or miss (autotuned). */
void tq_plan_cache_count(tq_plan_cache *pc, bool hit);
void tq_plan_cache_stats(const tq_plan_cache *pc, size_t *hits, size_t *misses, size_t *n_entries);

/* When choices were recorded since the load or the last save, write the file: its current
 * entries for this device are read again and merged (pc's choices win), then the whole is
 * written atomically (engine/atomic_file.h). Does nothing for an in-memory cache. Returns
 * TFMQ_OK, TFMQ_ERR_IO (message set; pc keeps its entries) or TFMQ_ERR_OUT_OF_MEMORY. */
tfmq_status tq_plan_cache_save(tq_plan_cache *pc);

/* ---- serialized plans beside the file ----
 * A plan that cuDNN serializes (CUDNN_ATTR_EXECUTION_PLAN_JSON_REPRESENTATION: runtime-compiled
 * engines carry their compiled code) is kept in "<file>.d/<16 hex digits of the key's FNV-1a
 * hash>.json", so that a later session loads it instead of finalizing the plan again (INT8
 * ResNet-50 plans: ~1 ms from JSON against ~40 ms, when cuDNN compiles the kernel). Each file is
 *   tfmq-plan-json 1 sm=<sm> cudnn=<version> bytes=<n> fnv=<16 hex digits> key=<key>\n
 * then the n bytes of cuDNN's JSON; it is used only when the header names this cache's device,
 * the key and size match and the FNV-1a hash of the bytes matches (a file cut short, changed or
 * written for another GPU is ignored). Written atomically; at most TQ_PC_MAX_BLOB bytes. An
 * in-memory cache (no file) keeps none. */
#define TQ_PC_MAX_BLOB ((size_t)64 << 20)

/* The serialized plan recorded for key: *data_out (alloc'd, *n_out + 1 bytes, NUL-terminated)
 * or NULL when there is none or it does not verify (the reason at TFMQ_LOG_DEBUG). Returns
 * TFMQ_OK, or TFMQ_ERR_OUT_OF_MEMORY. */
tfmq_status tq_plan_cache_blob_load(const tq_plan_cache *pc, const char *key,
                                    const tfmq_allocator *alloc, char **data_out, size_t *n_out);

/* Whether the n bytes of buf are a serialized-plan file for key on pc's device (header, size
 * and hash as above); *payload_off and *payload_n then locate cuDNN's JSON in buf. */
bool tq_plan_cache_blob_verify(const tq_plan_cache *pc, const char *key, const char *buf,
                               size_t n, size_t *payload_off, size_t *payload_n);

/* Keep data (n bytes) as key's serialized plan: in the file's folder, and in memory when
 * tq_plan_cache_keep_blobs was called (for tq_plan_cache_export). Best effort: a failure is
 * logged (TFMQ_LOG_DEBUG) and the session goes on. tq_plan_cache_blob_load looks in memory
 * first. */
void tq_plan_cache_blob_store(tq_plan_cache *pc, const char *key, const char *data, size_t n);
void tq_plan_cache_keep_blobs(tq_plan_cache *pc);

/* ---- plans carried in engine files (docs/FORMAT.md, "PLANS section") ----
 * The payload of an engine's PLANS section, little-endian:
 *   u64 text_bytes; text: a plan cache file (header naming the device, entries)
 *   u32 n_plans; n_plans x { u32 key_bytes; key; u64 json_bytes; cuDNN's serialized plan }
 * Export: the entries this cache used (found or recorded since it was made, so a file shared by
 * other models contributes only this session's) and their serialized plans (memory or file).
 * *out is tq_alloc'd with pc's allocator, *n_out bytes. pc must be bound (tq_plan_cache_open).
 * Import: the layout is checked whole before anything is loaded; then the text (its entries
 * replace pc's) and the plans (kept in memory). mark_used: the imported entries count as used.
 * Returns TFMQ_OK; TFMQ_ERR_VERSION when the text's header names another format version, GPU,
 * compute capability or cuDNN (nothing loaded; the message says which); TFMQ_ERR_PARSE for a
 * bad layout or a malformed entry; TFMQ_ERR_OUT_OF_MEMORY. */
tfmq_status tq_plan_cache_export(tq_plan_cache *pc, uint8_t **out, size_t *n_out);
tfmq_status tq_plan_cache_import(tq_plan_cache *pc, const void *payload, size_t n, bool mark_used);

/* Lend pc an engine's PLANS payload (borrowed: it must outlive pc) before tq_plan_cache_open,
 * which imports it after loading the file (the engine's entries win). Plans for another device
 * make tq_plan_cache_open fail with TFMQ_ERR_UNSUPPORTED and a message naming `origin` (the
 * engine's path), both devices and the way out, unless `rebuild`: then they are ignored with a
 * warning and the session autotunes. A damaged payload is TFMQ_ERR_PARSE. */
void tq_plan_cache_embed(tq_plan_cache *pc, const void *payload, size_t n, const char *origin,
                         bool rebuild);

/* "GPU, compute capability X.Y, cuDNN N: K convolution plans" for a PLANS payload, from its
 * header and entry lines (for inspection; not checked further), into buf (cap bytes);
 * "(unreadable plans)" when its text has no valid header. */
void tq_plan_cache_summary(const void *payload, size_t n, char *buf, size_t cap);

/* The device pc is bound to (false: not bound). */
bool tq_plan_cache_device(const tq_plan_cache *pc, const char **gpu, int32_t *sm, int64_t *cudnn);

/* Key and path tokens as the file format allows them. */
bool tq_plan_cache_key_ok(const char *key);
bool tq_plan_cache_path_ok(const char *path);

/* ---- plans shared within one exec ----
 * Nodes with the same key (same shapes, types and epilogue: ResNet-50 has 53 convolutions but
 * 24 distinct ones) can run one finalized cuDNN plan: a plan is bound to tensor descriptors and
 * UIDs, never to addresses, which each kernel passes in its own variant pack. The first kernel
 * that builds a plan keeps owning it; later kernels of the same exec borrow it, which is safe
 * because an exec destroys all its kernels together and runs them on one stream. Finalizing a
 * plan (~20 ms each even from a cached choice) is what a warm session load spends its time on.
 * Plain data: `plan` is a cudnnBackendDescriptor_t held as a pointer. */
typedef struct tq_pc_shared {
    char key[TQ_PC_MAX_KEY];
    char path[TQ_PC_MAX_PATH]; /* the family's path token for the plan */
    int64_t engine;            /* cuDNN engine global index */
    int64_t ws_bytes;
    void *plan;                /* borrowed from the kernel that built it */
} tq_pc_shared;

typedef struct tq_pc_share {
    const tfmq_allocator *alloc;
    tq_pc_shared *v;
    size_t n, cap;
    size_t n_reused;           /* plans borrowed (counted by tq_pc_share_find hits) */
} tq_pc_share;

/* The plan shared under key, or NULL; a hit is counted in s->n_reused. s may be NULL. */
const tq_pc_shared *tq_pc_share_find(tq_pc_share *s, const char *key);
/* Offer a finalized plan for later nodes with the same key (the first offer for a key stays);
 * plan NULL offers the choice alone (a path without a cuDNN plan: conv.c's matmul, which each
 * node builds for its own weights). Best effort: without memory the plan is simply not shared.
 * s may be NULL. */
void tq_pc_share_add(tq_pc_share *s, const char *key, const char *path, int64_t engine,
                     int64_t ws_bytes, void *plan);
/* Free the table (not the plans: their kernels own them). */
void tq_pc_share_free(tq_pc_share *s);

#endif
