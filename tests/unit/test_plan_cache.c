/* test_plan_cache.c: the CUDA plan cache's table, parser and writer (backends/cuda/plan_cache.h),
 * without a GPU: round trips (text and file), headers of another version, GPU, compute
 * capability or cuDNN refused whole, malformed entry lines (garbage, truncated, huge numbers,
 * bad tokens, NULs, overlong, no final newline) skipped one by one, duplicate keys, the merge
 * of two writers of one file, write failures, random garbage and mutations (no crash, only valid
 * entries loaded), and allocation failures at every point (no leak, OUT_OF_MEMORY or OK); the
 * serialized plans kept beside the file (changed, cut short or foreign ones ignored) and the
 * table of plans shared within one exec. */
#include "backends/cuda/plan_cache.h"
#include "harness.h"

#include <dirent.h>
#include <sys/stat.h>

#define GPU    "NVIDIA Test GPU 80GB"
#define SM     90
#define CUDNN  91900
#define HEADER "tfmq-plan-cache 1 sm=90 cudnn=91900 gpu=" GPU "\n"

/* ---- helpers ---- */
static tq_plan_cache *new_cache(const char *path)
{
    tq_plan_cache *pc = NULL;
    TQ_EXPECT_OK(tq_plan_cache_create(NULL, path, &pc));
    if (pc) {
        TQ_EXPECT_OK(tq_plan_cache_open(pc, GPU, SM, CUDNN));
    }
    return pc;
}

static tq_pc_choice choice(const char *path, int64_t engine, int64_t ws, double ms, int32_t n_knobs)
{
    tq_pc_choice c;
    memset(&c, 0, sizeof(c));
    snprintf(c.path, sizeof(c.path), "%s", path);
    c.engine = engine;
    c.ws_bytes = ws;
    c.ms = ms;
    c.n_knobs = n_knobs;
    for (int32_t k = 0; k < n_knobs; k++) {
        c.knobs[k].type = (k * 7 + 3) % 44;
        c.knobs[k].value = k % 3 == 0 ? -k : (int64_t)k * 1000003;
    }
    return c;
}

static bool same_choice(const tq_pc_choice *a, const tq_pc_choice *b)
{
    if (!a || !b || strcmp(a->path, b->path) != 0 || a->engine != b->engine ||
        a->ws_bytes != b->ws_bytes || a->n_knobs != b->n_knobs || fabs(a->ms - b->ms) > 1e-6) {
        return false;
    }
    for (int32_t k = 0; k < a->n_knobs; k++) {
        if (a->knobs[k].type != b->knobs[k].type || a->knobs[k].value != b->knobs[k].value) {
            return false;
        }
    }
    return true;
}

static size_t n_entries(const tq_plan_cache *pc)
{
    size_t h, m, n;
    tq_plan_cache_stats(pc, &h, &m, &n);
    return n;
}

/* Parse NUL-terminated text into a fresh cache; returns the status, *n_bad and the entries. */
static tfmq_status parse_text(const char *text, size_t *n_bad, size_t *n_out)
{
    tq_plan_cache *pc = new_cache(NULL);
    tfmq_status st = tq_plan_cache_parse(pc, text, strlen(text), true, n_bad);
    *n_out = n_entries(pc);
    tq_plan_cache_destroy(pc);
    return st;
}

/* ---- round trip ---- */
static const char *const KEYS[3] = {
    "conv:f16:fp32:n8:c64:h56:w56:k64:r3:s3:g1:st1x1:dl1x1:pb1x1:pe1x1:bias1:res0:"
    "act=Relu(-0x1.fffffep+127,0x1.fffffep+127,0x1.47ae147ae147bp-7)",
    "conv:f32:tf32:n1:c3:h224:w224:k64:r7:s7:g1:st2x2:dl1x1:pb3x3:pe3x3:bias1:res1:act=none",
    "qconv:s8:n1:c64:h56:w56:k256:r1:s1:g1:st1x1:dl1x1:pb0x0:o56x56:bias1:y-128..127:tiled0",
};

static void fill(tq_plan_cache *pc, tq_pc_choice c[3])
{
    c[0] = choice("fused", 12, 4096, 0.123456, 3);
    c[1] = choice("direct", -1, 0, 0.0, 0);
    c[2] = choice("cudnn:bf1:tf0:cl1", 4, (int64_t)1 << 30, 1234.5, TQ_PC_MAX_KNOBS);
    for (int i = 0; i < 3; i++) {
        TQ_EXPECT_OK(tq_plan_cache_put(pc, KEYS[i], &c[i]));
    }
}

static void test_round_trip(tq_rng *rng)
{
    (void)rng;
    tq_pc_choice c[3];
    tq_plan_cache *a = new_cache(NULL), *b = new_cache(NULL);
    fill(a, c);
    TQ_EXPECT_EQ_U64(n_entries(a), 3);
    for (int i = 0; i < 3; i++) {
        TQ_CHECK(same_choice(tq_plan_cache_find(a, KEYS[i]), &c[i]));
    }
    TQ_CHECK(tq_plan_cache_find(a, "conv:other") == NULL);
    char *t1 = NULL, *t2 = NULL;
    size_t n1 = 0, n2 = 0, n_bad = 99;
    TQ_EXPECT_OK(tq_plan_cache_format(a, &t1, &n1));
    TQ_CHECK(t1 && strncmp(t1, HEADER, strlen(HEADER)) == 0 && strlen(t1) == n1);
    TQ_EXPECT_OK(tq_plan_cache_parse(b, t1, n1, true, &n_bad));
    TQ_EXPECT_EQ_U64(n_bad, 0);
    TQ_EXPECT_EQ_U64(n_entries(b), 3);
    for (int i = 0; i < 3; i++) {
        TQ_EXPECT(same_choice(tq_plan_cache_find(b, KEYS[i]), &c[i]), "entry %d", i);
    }
    TQ_EXPECT_OK(tq_plan_cache_format(b, &t2, &n2));
    TQ_EXPECT(t1 && t2 && n1 == n2 && memcmp(t1, t2, n1) == 0, "format(parse(format)) differs");
    TQ_EXPECT_STR_CONTAINS(t1, " fused eng=12 ws=4096 ms=0.123456 knobs=3:0,10:1000003,");
    TQ_EXPECT_STR_CONTAINS(t1, " direct eng=-1 ws=0 ms=0.000000 knobs=-\n");
    tq_free(NULL, t1, n1 + 1);
    tq_free(NULL, t2, n2 + 1);
    tq_plan_cache_destroy(a);
    tq_plan_cache_destroy(b);
}

/* ---- headers ---- */
static void test_header_refused(tq_rng *rng)
{
    (void)rng;
    static const struct {
        const char *text;
        tfmq_status want;
        const char *msg;
    } cases[] = {
        {"", TFMQ_ERR_PARSE, "no header"},
        {"tfmq-plan-cache 1 sm=90 cudnn=91900 gpu=" GPU, TFMQ_ERR_PARSE, "no header"},
        {"tfmq-calib 1\n", TFMQ_ERR_PARSE, "not a plan cache"},
        {"tfmq-plan-cache x sm=90\n", TFMQ_ERR_PARSE, "version"},
        {"tfmq-plan-cache 2 sm=90 cudnn=91900 gpu=" GPU "\n", TFMQ_ERR_VERSION, "version 2"},
        {"tfmq-plan-cache 99999999999999999999 sm=90\n", TFMQ_ERR_PARSE, "version"},
        {"tfmq-plan-cache 1 sm=90 gpu=" GPU "\n", TFMQ_ERR_PARSE, "bad header"},
        {"tfmq-plan-cache 1 sm=89 cudnn=91900 gpu=" GPU "\n", TFMQ_ERR_VERSION, "capability 89"},
        {"tfmq-plan-cache 1 sm=90 cudnn=90800 gpu=" GPU "\n", TFMQ_ERR_VERSION, "cuDNN 90800"},
        {"tfmq-plan-cache 1 sm=90 cudnn=91900 gpu=NVIDIA H200\n", TFMQ_ERR_VERSION, "H200"},
        {"tfmq-plan-cache 1 sm=90 cudnn=91900 gpu=" GPU " \n", TFMQ_ERR_VERSION, "GPU"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[512];
        snprintf(text, sizeof(text), "%s%s", cases[i].text,
                 "conv:a fused eng=1 ws=0 ms=1.0 knobs=-\n");
        tq_plan_cache *pc = new_cache(NULL);
        tfmq_status st = tq_plan_cache_parse(pc, cases[i].text, strlen(cases[i].text), true, NULL);
        TQ_EXPECT(st == cases[i].want, "case %zu: status %d, want %d (%s)", i, (int)st,
                  (int)cases[i].want, tfmq_last_error());
        TQ_EXPECT_STR_CONTAINS(tfmq_last_error(), cases[i].msg);
        /* with an entry after it: still nothing loaded */
        st = tq_plan_cache_parse(pc, text, strlen(text), true, NULL);
        TQ_EXPECT(st == cases[i].want || (i == 1 && st == TFMQ_ERR_VERSION), "case %zu+entry: %d",
                  i, (int)st);
        TQ_EXPECT_EQ_U64(n_entries(pc), 0);
        tq_plan_cache_destroy(pc);
    }
    /* a GPU name with control characters is written sanitized and reads back */
    tq_plan_cache *a = NULL, *b = NULL;
    TQ_EXPECT_OK(tq_plan_cache_create(NULL, NULL, &a));
    TQ_EXPECT_OK(tq_plan_cache_create(NULL, NULL, &b));
    TQ_EXPECT_OK(tq_plan_cache_open(a, "GPU\nwith\tcontrol", SM, CUDNN));
    TQ_EXPECT_OK(tq_plan_cache_open(b, "GPU\nwith\tcontrol", SM, CUDNN));
    tq_pc_choice c = choice("fused", 1, 0, 1.0, 1);
    TQ_EXPECT_OK(tq_plan_cache_put(a, "k", &c));
    char *t = NULL;
    size_t n = 0;
    TQ_EXPECT_OK(tq_plan_cache_format(a, &t, &n));
    TQ_EXPECT_STR_CONTAINS(t, "gpu=GPU?with?control\n");
    TQ_EXPECT_OK(tq_plan_cache_parse(b, t, n, true, NULL));
    TQ_CHECK(same_choice(tq_plan_cache_find(b, "k"), &c));
    tq_free(NULL, t, n + 1);
    tq_plan_cache_destroy(a);
    tq_plan_cache_destroy(b);
}

/* ---- malformed entry lines: each skipped alone, the good lines around it kept ---- */
static void test_bad_lines(tq_rng *rng)
{
    (void)rng;
    static const char *const bad[] = {
        "garbage",
        "conv:a",
        "conv:a fused",
        "conv:a fused eng=",
        "conv:a fused eng=1 ws=0 ms=1.5 knobs=1:",
        "conv:a fused eng=1 ws=0 ms=1.5 knobs=1:2,",
        "conv:a fused eng=1 ws=0 ms=1.5",
        "conv:a fused eng=1 ws=0 ms=1.5 knobs=-x",
        "conv:a fused eng=1 ws=0 ms=1.5 knobs=- ",
        "conv:a fused eng=1 ws=0 ms=1.5  knobs=-",
        " conv:a fused eng=1 ws=0 ms=1.5 knobs=-",
        "conv:a fused eng=99999999999999999999999999 ws=0 ms=1.5 knobs=-",
        "conv:a fused eng=9223372036854775807 ws=0 ms=1.5 knobs=-",
        "conv:a fused eng=-2 ws=0 ms=1.5 knobs=-",
        "conv:a fused eng=1 ws=-1 ms=1.5 knobs=-",
        "conv:a fused eng=1 ws=1099511627777 ms=1.5 knobs=-",
        "conv:a fused eng=1 ws=0 ms=1000000001 knobs=-",
        "conv:a fused eng=1 ws=0 ms=1.1234567 knobs=-",
        "conv:a fused eng=1 ws=0 ms=-1.0 knobs=-",
        "conv:a fused eng=1 ws=0 ms=nan knobs=-",
        "conv:a fused eng=1 ws=0 ms=1e3 knobs=-",
        "conv:a fused eng=1 ws=0 ms=1. knobs=-",
        "conv:a fused eng=1 ws=0 ms=1.5 knobs=1024:0",
        "conv:a fused eng=1 ws=0 ms=1.5 knobs=1:9223372036854775808",
        "conv:a fused eng=1 ws=0 ms=1.5 knobs=-1:0",
        "conv:a fused eng=+1 ws=0 ms=1.5 knobs=-",
        "conv:a fused eng=0x10 ws=0 ms=1.5 knobs=-",
        "conv:a fu/sed eng=1 ws=0 ms=1.5 knobs=-",
        "conv:a path_token_longer_than_thirty_one eng=1 ws=0 ms=1.5 knobs=-",
        "conv:a\x01 fused eng=1 ws=0 ms=1.5 knobs=-",
        "conv:\xc3\xa9 fused eng=1 ws=0 ms=1.5 knobs=-",
        "conv:a fused eng=1 ws=0 ms=1.5 knobs=-\r",
        "conv:a fused eng=1 ws=0 ms=1.5 knobs=- extra",
        "conv:a\tfused eng=1 ws=0 ms=1.5 knobs=-",
    };
    const char *good1 = "conv:g1 fused eng=1 ws=0 ms=1.5 knobs=-\n";
    const char *good2 = "conv:g2 direct eng=-1 ws=0 ms=0 knobs=-\n";
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[1024];
        snprintf(text, sizeof(text), HEADER "%s%s\n%s", good1, bad[i], good2);
        size_t n_bad = 0, n = 0;
        TQ_EXPECT_OK(parse_text(text, &n_bad, &n));
        TQ_EXPECT(n_bad == 1 && n == 2, "line '%s': %zu bad, %zu entries", bad[i], n_bad, n);
    }
    /* too many knobs */
    {
        char text[4096] = HEADER "conv:a fused eng=1 ws=0 ms=1.5 knobs=";
        for (int k = 0; k <= TQ_PC_MAX_KNOBS; k++) {
            snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s%d:1", k ? "," : "", k);
        }
        snprintf(text + strlen(text), sizeof(text) - strlen(text), "\n");
        size_t n_bad = 0, n = 0;
        TQ_EXPECT_OK(parse_text(text, &n_bad, &n));
        TQ_EXPECT(n_bad == 1 && n == 0, "33 knobs: %zu bad, %zu entries", n_bad, n);
    }
    /* an overlong line, a NUL inside a line, a last line without its newline, comments */
    {
        static char text[3 * TQ_PC_MAX_LINE];
        size_t at = (size_t)snprintf(text, sizeof(text), HEADER "conv:");
        memset(text + at, 'x', TQ_PC_MAX_LINE);
        at += TQ_PC_MAX_LINE;
        at += (size_t)snprintf(text + at, sizeof(text) - at,
                               " fused eng=1 ws=0 ms=1.5 knobs=-\n# comment\n\n%s", good1);
        const size_t nul_at = at + 6;
        at += (size_t)snprintf(text + at, sizeof(text) - at,
                               "conv:n fused eng=1 ws=0 ms=1 "
                               "knobs=-\n%s",
                               "conv:last fused eng=1 ws=0 ms=1.5 knobs=-");
        text[nul_at] = '\0';
        tq_plan_cache *pc = new_cache(NULL);
        size_t n_bad = 0;
        TQ_EXPECT_OK(tq_plan_cache_parse(pc, text, at, true, &n_bad));
        TQ_EXPECT_EQ_U64(n_bad, 3);
        TQ_EXPECT_EQ_U64(n_entries(pc), 1);
        TQ_CHECK(tq_plan_cache_find(pc, "conv:g1") != NULL);
        TQ_CHECK(tq_plan_cache_find(pc, "conv:last") == NULL);
        tq_plan_cache_destroy(pc);
    }
    /* larger than the limit: refused without reading a line */
    {
        tq_plan_cache *pc = new_cache(NULL);
        TQ_EXPECT_STATUS(tq_plan_cache_parse(pc, HEADER, TQ_PC_MAX_FILE + 1, true, NULL),
                         TFMQ_ERR_PARSE);
        tq_plan_cache_destroy(pc);
    }
}

/* ---- duplicates ---- */
static void test_duplicates(tq_rng *rng)
{
    (void)rng;
    const char *text = HEADER "k fused eng=1 ws=0 ms=1.0 knobs=-\n"
                              "k cudnn+epilogue eng=2 ws=64 ms=0.5 knobs=1:2\n"
                              "j direct eng=-1 ws=0 ms=0 knobs=-\n";
    tq_plan_cache *pc = new_cache(NULL);
    size_t n_bad = 9;
    TQ_EXPECT_OK(tq_plan_cache_parse(pc, text, strlen(text), true, &n_bad));
    TQ_EXPECT_EQ_U64(n_bad, 0);
    TQ_EXPECT_EQ_U64(n_entries(pc), 2);
    const tq_pc_choice *c = tq_plan_cache_find(pc, "k");
    TQ_EXPECT(c && c->engine == 2 && strcmp(c->path, "cudnn+epilogue") == 0 && c->n_knobs == 1,
              "the later line wins");
    /* without overwrite the table keeps its own choice */
    tq_pc_choice mine = choice("fused", 7, 0, 2.0, 0);
    TQ_EXPECT_OK(tq_plan_cache_put(pc, "k", &mine));
    TQ_EXPECT_OK(tq_plan_cache_parse(pc, text, strlen(text), false, NULL));
    TQ_CHECK(same_choice(tq_plan_cache_find(pc, "k"), &mine));
    TQ_EXPECT_EQ_U64(n_entries(pc), 2);
    tq_plan_cache_destroy(pc);
}

/* ---- what put accepts ---- */
static void test_put(tq_rng *rng)
{
    (void)rng;
    tq_plan_cache *pc = new_cache(NULL);
    tq_pc_choice ok = choice("fused", 1, 0, 1.0, 2);
    char long_key[TQ_PC_MAX_KEY + 1];
    memset(long_key, 'k', sizeof(long_key) - 1);
    long_key[sizeof(long_key) - 1] = '\0';
    TQ_EXPECT_STATUS(tq_plan_cache_put(pc, "", &ok), TFMQ_ERR_INVALID_ARG);
    TQ_EXPECT_STATUS(tq_plan_cache_put(pc, "a b", &ok), TFMQ_ERR_INVALID_ARG);
    TQ_EXPECT_STATUS(tq_plan_cache_put(pc, long_key, &ok), TFMQ_ERR_INVALID_ARG);
    long_key[TQ_PC_MAX_KEY - 1] = '\0'; /* the longest key that fits */
    TQ_EXPECT_OK(tq_plan_cache_put(pc, long_key, &ok));
    tq_pc_choice bad = ok;
    snprintf(bad.path, sizeof(bad.path), "a b");
    TQ_EXPECT_STATUS(tq_plan_cache_put(pc, "k", &bad), TFMQ_ERR_INVALID_ARG);
    bad = ok;
    bad.n_knobs = TQ_PC_MAX_KNOBS + 1;
    TQ_EXPECT_STATUS(tq_plan_cache_put(pc, "k", &bad), TFMQ_ERR_INVALID_ARG);
    bad = ok;
    bad.engine = (int64_t)1 << 40;
    TQ_EXPECT_STATUS(tq_plan_cache_put(pc, "k", &bad), TFMQ_ERR_INVALID_ARG);
    bad = ok;
    bad.knobs[0].type = 5000;
    TQ_EXPECT_STATUS(tq_plan_cache_put(pc, "k", &bad), TFMQ_ERR_INVALID_ARG);
    TQ_EXPECT_EQ_U64(n_entries(pc), 1);
    /* a negative or non-finite time is stored as 0; a replaced choice is found */
    bad = ok;
    bad.ms = (double)NAN;
    TQ_EXPECT_OK(tq_plan_cache_put(pc, "k", &bad));
    TQ_CHECK(tq_plan_cache_find(pc, "k")->ms == 0.0);
    tq_pc_choice other = choice("direct", -1, 0, 3.0, 0);
    TQ_EXPECT_OK(tq_plan_cache_put(pc, "k", &other));
    TQ_CHECK(same_choice(tq_plan_cache_find(pc, "k"), &other));
    /* many entries: the index grows */
    for (int i = 0; i < 1000; i++) {
        char key[32];
        snprintf(key, sizeof(key), "key%d", i);
        tq_pc_choice c = choice("fused", i, i, 0.5, i % 4);
        TQ_EXPECT_OK(tq_plan_cache_put(pc, key, &c));
    }
    for (int i = 0; i < 1000; i += 37) {
        char key[32];
        snprintf(key, sizeof(key), "key%d", i);
        const tq_pc_choice *c = tq_plan_cache_find(pc, key);
        TQ_EXPECT(c && c->engine == i && c->n_knobs == i % 4, "key%d", i);
    }
    TQ_EXPECT_EQ_U64(n_entries(pc), 1002);
    tq_plan_cache_count(pc, true);
    tq_plan_cache_count(pc, false);
    tq_plan_cache_count(pc, false);
    size_t h, m, n;
    tq_plan_cache_stats(pc, &h, &m, &n);
    TQ_CHECK(h == 1 && m == 2 && n == 1002);
    tq_plan_cache_destroy(pc);
}

/* ---- files ---- */
typedef struct log_capture {
    int n_warn;
    char last[1024];
} log_capture;

static void capture_log(void *ud, tfmq_log_level level, const char *msg)
{
    log_capture *lc = ud;
    if (level <= TFMQ_LOG_WARN) {
        lc->n_warn++;
        snprintf(lc->last, sizeof(lc->last), "%s", msg);
    }
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return NULL;
    }
    char *buf = calloc(1, 1 << 16);
    size_t n = buf ? fread(buf, 1, (1 << 16) - 1, f) : 0;
    (void)n;
    fclose(f);
    return buf;
}

static void write_all(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    TQ_CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e = d ? readdir(d) : NULL; e; e = readdir(d)) {
        n += e->d_name[0] != '.';
    }
    if (d) {
        closedir(d);
    }
    return n;
}

static void test_file(tq_rng *rng)
{
    (void)rng;
    char dir[] = "/tmp/tfmq_plan_cache_XXXXXX", path[256], path2[256];
    TQ_CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/cache.txt", dir);
    log_capture lc;
    memset(&lc, 0, sizeof(lc));
    tfmq_set_log_callback(capture_log, &lc, TFMQ_LOG_WARN);

    /* no file yet: an empty cache, quietly; saved once something is recorded */
    tq_pc_choice c[3];
    tq_plan_cache *a = new_cache(path);
    TQ_EXPECT_EQ_U64(n_entries(a), 0);
    TQ_EXPECT_EQ_I64(lc.n_warn, 0);
    TQ_EXPECT_OK(tq_plan_cache_save(a)); /* nothing recorded: nothing written */
    TQ_CHECK(access(path, F_OK) != 0);
    fill(a, c);
    TQ_EXPECT_OK(tq_plan_cache_save(a));
    char *text = read_all(path);
    TQ_CHECK(text && strncmp(text, HEADER, strlen(HEADER)) == 0);
    free(text);
    tq_plan_cache *b = new_cache(path);
    TQ_EXPECT_EQ_U64(n_entries(b), 3);
    for (int i = 0; i < 3; i++) {
        TQ_CHECK(same_choice(tq_plan_cache_find(b, KEYS[i]), &c[i]));
    }
    TQ_EXPECT_EQ_I64(lc.n_warn, 0);

    /* two writers: each save merges what the other wrote */
    tq_pc_choice ca = choice("fused", 100, 0, 1.0, 1), cb = choice("direct", -1, 0, 2.0, 0);
    TQ_EXPECT_OK(tq_plan_cache_put(a, "conv:from_a", &ca));
    TQ_EXPECT_OK(tq_plan_cache_put(b, "conv:from_b", &cb));
    TQ_EXPECT_OK(tq_plan_cache_save(a));
    TQ_EXPECT_OK(tq_plan_cache_save(b));
    tq_plan_cache *m = new_cache(path);
    TQ_EXPECT_EQ_U64(n_entries(m), 5);
    TQ_CHECK(same_choice(tq_plan_cache_find(m, "conv:from_a"), &ca));
    TQ_CHECK(same_choice(tq_plan_cache_find(m, "conv:from_b"), &cb));
    tq_plan_cache_destroy(m);
    /* no temporary file left beside it */
    TQ_EXPECT_EQ_I64(count_files(dir), 1);

    /* a file of another GPU: ignored with a warning naming why; rewritten on save */
    write_all(path, "tfmq-plan-cache 1 sm=80 cudnn=91900 gpu=NVIDIA A100\nk fused eng=1 ws=0 "
                    "ms=1 knobs=-\n");
    lc.n_warn = 0;
    tq_plan_cache *o = new_cache(path);
    TQ_EXPECT_EQ_U64(n_entries(o), 0);
    TQ_EXPECT_EQ_I64(lc.n_warn, 1);
    TQ_EXPECT_STR_CONTAINS(lc.last, "ignored: written for GPU 'NVIDIA A100'");
    TQ_EXPECT_OK(tq_plan_cache_put(o, "conv:x", &ca));
    TQ_EXPECT_OK(tq_plan_cache_save(o));
    tq_plan_cache_destroy(o);
    o = new_cache(path);
    TQ_EXPECT_EQ_U64(n_entries(o), 1);
    tq_plan_cache_destroy(o);

    /* malformed lines: loaded around, one warning with the count */
    write_all(path, HEADER "k fused eng=1 ws=0 ms=1 knobs=-\nbad line\nj fused eng=x\n");
    lc.n_warn = 0;
    o = new_cache(path);
    TQ_EXPECT_EQ_U64(n_entries(o), 1);
    TQ_EXPECT_EQ_I64(lc.n_warn, 1);
    TQ_EXPECT_STR_CONTAINS(lc.last, "2 malformed lines skipped");
    tq_plan_cache_destroy(o);

    /* a folder where the file should be: ignored on load, an I/O error on save */
    lc.n_warn = 0;
    o = new_cache(dir);
    TQ_EXPECT_EQ_I64(lc.n_warn, 1);
    TQ_EXPECT_STR_CONTAINS(lc.last, "not a regular file");
    TQ_EXPECT_OK(tq_plan_cache_put(o, "conv:x", &ca));
    TQ_EXPECT_STATUS(tq_plan_cache_save(o), TFMQ_ERR_IO);
    tq_plan_cache_destroy(o);
    /* a folder that does not exist: an I/O error on save, the table kept */
    snprintf(path2, sizeof(path2), "%s/missing/cache.txt", dir);
    lc.n_warn = 0;
    o = new_cache(path2);
    TQ_EXPECT_EQ_I64(lc.n_warn, 0);
    TQ_EXPECT_OK(tq_plan_cache_put(o, "conv:x", &ca));
    TQ_EXPECT_STATUS(tq_plan_cache_save(o), TFMQ_ERR_IO);
    TQ_CHECK(same_choice(tq_plan_cache_find(o, "conv:x"), &ca));
    tq_plan_cache_destroy(o);

    /* another device on the same cache: the table is emptied */
    TQ_EXPECT_OK(tq_plan_cache_open(a, "Other GPU", 100, CUDNN));
    TQ_EXPECT_EQ_U64(n_entries(a), 0);

    tfmq_set_log_callback(NULL, NULL, TFMQ_LOG_WARN);
    tq_plan_cache_destroy(a);
    tq_plan_cache_destroy(b);
    unlink(path);
    rmdir(dir);
}

/* ---- garbage: random bytes and mutations of a valid file never crash, and only entries that
 * satisfy the format's rules get in ---- */
static void check_entries_valid(tq_plan_cache *pc)
{
    char *t = NULL;
    size_t n = 0, n_bad = 99;
    TQ_EXPECT_OK(tq_plan_cache_format(pc, &t, &n));
    tq_plan_cache *again = new_cache(NULL);
    TQ_EXPECT_OK(tq_plan_cache_parse(again, t, n, true, &n_bad));
    TQ_EXPECT(n_bad == 0 && n_entries(again) == n_entries(pc),
              "what was loaded does not write back: %zu bad", n_bad);
    tq_plan_cache_destroy(again);
    tq_free(NULL, t, n + 1);
}

static void test_garbage(tq_rng *rng)
{
    tq_plan_cache *src = new_cache(NULL);
    tq_pc_choice c[3];
    fill(src, c);
    char *valid = NULL;
    size_t n_valid = 0;
    TQ_EXPECT_OK(tq_plan_cache_format(src, &valid, &n_valid));
    tq_plan_cache_destroy(src);
    static const char alphabet[] = "0123456789-:,.= \nabcdefknobsmwgx+*_\t\r";
    char buf[4096];
    for (int iter = 0; valid && iter < 3000; iter++) {
        size_t n;
        if (iter % 3 == 0) { /* a valid header, then random text */
            n = (size_t)snprintf(buf, sizeof(buf), HEADER);
            const size_t extra = tq_rng_below(rng, 600);
            for (size_t i = 0; i < extra && n < sizeof(buf); i++) {
                buf[n++] = iter % 2 ? (char)tq_rng_u32(rng)
                                    : alphabet[tq_rng_below(rng, sizeof(alphabet) - 1)];
            }
        } else { /* the valid file, mutated and truncated */
            n = n_valid < sizeof(buf) ? n_valid : sizeof(buf);
            memcpy(buf, valid, n);
            const int n_mut = 1 + (int)tq_rng_below(rng, 8);
            for (int k = 0; k < n_mut; k++) {
                const size_t at = strlen(HEADER) + tq_rng_below(rng, n - strlen(HEADER));
                buf[at] = k % 2 ? alphabet[tq_rng_below(rng, sizeof(alphabet) - 1)]
                                : (char)tq_rng_u32(rng);
            }
            n = strlen(HEADER) + tq_rng_below(rng, n - strlen(HEADER) + 1);
        }
        tq_plan_cache *pc = new_cache(NULL);
        size_t n_bad = 0;
        TQ_EXPECT_OK(tq_plan_cache_parse(pc, buf, n, true, &n_bad));
        if (iter % 50 == 0) {
            check_entries_valid(pc);
        }
        tq_plan_cache_destroy(pc);
    }
    tq_free(NULL, valid, n_valid + 1);
}

/* ---- allocation failures at every point of parse + format: OK or OUT_OF_MEMORY, no leak ---- */
static void test_oom(tq_rng *rng)
{
    (void)rng;
    char text[1 << 15];
    size_t n = (size_t)snprintf(text, sizeof(text), HEADER);
    for (int i = 0; i < 150; i++) {
        n += (size_t)snprintf(text + n, sizeof(text) - n,
                              "conv:key%d fused eng=%d ws=0 ms=1.5 knobs=1:%d\n", i, i, i);
    }
    tq_test_counting_alloc count;
    memset(&count, 0, sizeof(count));
    const tfmq_allocator al = {&count, tq_test_counting_alloc_fn, tq_test_counting_free_fn};
    int n_oom = 0, n_ok = 0;
    for (uint64_t fail_at = 1; fail_at < 200; fail_at++) {
        tq_plan_cache *pc = NULL;
        char *t = NULL;
        size_t tn = 0;
        tq_alloc_test_set_fail_at(fail_at);
        tfmq_status st = tq_plan_cache_create(&al, "/nonexistent/cache.txt", &pc);
        if (st == TFMQ_OK) {
            st = tq_plan_cache_open(pc, GPU, SM, CUDNN);
        }
        if (st == TFMQ_OK) {
            st = tq_plan_cache_parse(pc, text, n, true, NULL);
        }
        if (st == TFMQ_OK) {
            st = tq_plan_cache_format(pc, &t, &tn);
        }
        tq_alloc_test_set_fail_at(0);
        TQ_EXPECT(st == TFMQ_OK || st == TFMQ_ERR_OUT_OF_MEMORY, "fail_at %llu: status %d",
                  (unsigned long long)fail_at, (int)st);
        TQ_EXPECT(st == TFMQ_OK || !t, "fail_at %llu: text on failure",
                  (unsigned long long)fail_at);
        n_oom += st == TFMQ_ERR_OUT_OF_MEMORY;
        n_ok += st == TFMQ_OK;
        if (st == TFMQ_OK) {
            TQ_EXPECT_EQ_U64(n_entries(pc), 150);
        }
        tq_free(&al, t, tn + 1);
        tq_plan_cache_destroy(pc);
        TQ_EXPECT(atomic_load(&count.n_live) == 0 && atomic_load(&count.bytes_live) == 0,
                  "fail_at %llu: %lld blocks (%lld bytes) leaked", (unsigned long long)fail_at,
                  (long long)atomic_load(&count.n_live), (long long)atomic_load(&count.bytes_live));
    }
    TQ_CHECK(n_oom > 0 && n_ok > 0);
}

/* ---- serialized plans beside the file: round trip, and every damaged or foreign file ignored ---- */
static void blob_expect(tq_plan_cache *pc, const char *key, const char *want, const char *what)
{
    char *d = NULL;
    size_t n = 0;
    TQ_EXPECT_OK(tq_plan_cache_blob_load(pc, key, NULL, &d, &n));
    if (want) {
        TQ_EXPECT(d && n == strlen(want) && memcmp(d, want, n) == 0 && d[n] == '\0',
                  "%s: blob not read back", what);
    } else {
        TQ_EXPECT(d == NULL, "%s: a blob was accepted", what);
    }
    tq_free(NULL, d, d ? n + 1 : 0);
}

static void test_blob(tq_rng *rng)
{
    char dir[] = "/tmp/tfmq_plan_blob_XXXXXX", path[256], blob[1024], cmd[600];
    TQ_CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/cache.txt", dir);
    char payload[3000];
    for (size_t i = 0; i + 1 < sizeof(payload); i++) {
        payload[i] = (char)('A' + tq_rng_u64(rng) % 26);
    }
    payload[sizeof(payload) - 1] = '\0';
    tq_plan_cache *pc = new_cache(path);
    blob_expect(pc, KEYS[0], NULL, "none yet");
    tq_plan_cache_blob_store(pc, KEYS[0], payload, strlen(payload));
    tq_plan_cache_blob_store(pc, KEYS[2], "{\"x\": 1}", 8);
    blob_expect(pc, KEYS[0], payload, "round trip");
    blob_expect(pc, KEYS[2], "{\"x\": 1}", "second key");
    blob_expect(pc, KEYS[1], NULL, "other key");
    /* the file of KEYS[0], found by trying the names in the folder */
    snprintf(cmd, sizeof(cmd), "%s.d", path);
    DIR *dd = opendir(cmd);
    TQ_CHECK(dd != NULL);
    blob[0] = '\0';
    for (struct dirent *de; dd && (de = readdir(dd));) {
        char p2[1024];
        snprintf(p2, sizeof(p2), "%s.d/%.255s", path, de->d_name);
        char *t = de->d_name[0] != '.' ? read_all(p2) : NULL;
        if (t && strstr(t, KEYS[0]) && strlen(t) > 1000) {
            snprintf(blob, sizeof(blob), "%s", p2);
        }
        free(t);
    }
    if (dd) {
        closedir(dd);
    }
    TQ_CHECK(blob[0] != '\0');
    char *orig = blob[0] ? read_all(blob) : NULL;
    if (orig) {
        const size_t n = strlen(orig);
        /* one payload byte changed: the checksum refuses it */
        char *t = strdup(orig);
        t[n - 7] = t[n - 7] == 'A' ? 'B' : 'A';
        FILE *f = fopen(blob, "wb");
        fwrite(t, 1, n, f);
        fclose(f);
        blob_expect(pc, KEYS[0], NULL, "payload byte changed");
        /* cut short */
        f = fopen(blob, "wb");
        fwrite(orig, 1, n - 100, f);
        fclose(f);
        blob_expect(pc, KEYS[0], NULL, "truncated");
        /* no header line */
        f = fopen(blob, "wb");
        fwrite(payload, 1, 500, f);
        fclose(f);
        blob_expect(pc, KEYS[0], NULL, "no header");
        /* intact again: read */
        f = fopen(blob, "wb");
        fwrite(orig, 1, n, f);
        fclose(f);
        blob_expect(pc, KEYS[0], payload, "restored");
        free(t);
    }
    free(orig);
    /* a cache bound to another device ignores it */
    tq_plan_cache *other = NULL;
    TQ_EXPECT_OK(tq_plan_cache_create(NULL, path, &other));
    if (other) {
        TQ_EXPECT_OK(tq_plan_cache_open(other, GPU, SM + 1, CUDNN));
        blob_expect(other, KEYS[0], NULL, "another compute capability");
    }
    tq_plan_cache_destroy(other);
    /* an in-memory cache keeps none */
    tq_plan_cache *mem = new_cache(NULL);
    tq_plan_cache_blob_store(mem, KEYS[0], payload, 10);
    blob_expect(mem, KEYS[0], NULL, "in memory");
    tq_plan_cache_destroy(mem);
    tq_plan_cache_destroy(pc);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    TQ_CHECK(system(cmd) == 0);
}

/* ---- plans shared within one exec: first offer per key stays, hits counted, OOM harmless ---- */
static void test_share(tq_rng *rng)
{
    (void)rng;
    int plan_a, plan_b;
    tq_pc_share s;
    memset(&s, 0, sizeof(s));
    TQ_CHECK(tq_pc_share_find(NULL, "k") == NULL);
    tq_pc_share_add(NULL, "k", "fused", 1, 0, &plan_a); /* no table: nothing happens */
    TQ_CHECK(tq_pc_share_find(&s, "conv:a") == NULL);
    tq_pc_share_add(&s, "conv:a", "fused", 7, 4096, &plan_a);
    tq_pc_share_add(&s, "conv:a", "cudnn+epilogue", 9, 0, &plan_b); /* the first one stays */
    tq_pc_share_add(&s, "conv:b", "gemm", -1, 512, NULL); /* a choice without a plan */
    char many[32];
    for (int i = 0; i < 100; i++) { /* past the first growth */
        snprintf(many, sizeof(many), "qconv:%d", i);
        tq_pc_share_add(&s, many, "cudnn:bf1:tf0:cl1", i, i, &plan_b);
    }
    TQ_EXPECT_EQ_U64(s.n, 102);
    const tq_pc_shared *e = tq_pc_share_find(&s, "conv:a");
    TQ_CHECK(e && e->plan == &plan_a && e->engine == 7 && e->ws_bytes == 4096 &&
             strcmp(e->path, "fused") == 0);
    e = tq_pc_share_find(&s, "qconv:99");
    TQ_CHECK(e && e->engine == 99 && e->plan == &plan_b);
    e = tq_pc_share_find(&s, "conv:b");
    TQ_CHECK(e && !e->plan && e->engine == -1 && e->ws_bytes == 512 && !strcmp(e->path, "gemm"));
    TQ_EXPECT_EQ_U64(s.n_reused, 3);
    tq_pc_share_free(&s);
    TQ_EXPECT_EQ_U64(s.n, 0);
    tq_pc_share_free(&s); /* twice: harmless */

    /* without memory the plan is simply not shared, and nothing leaks */
    tq_test_counting_alloc count;
    memset(&count, 0, sizeof(count));
    const tfmq_allocator al = {&count, tq_test_counting_alloc_fn, tq_test_counting_free_fn};
    memset(&s, 0, sizeof(s));
    s.alloc = &al;
    tq_alloc_test_set_fail_at(1);
    tq_pc_share_add(&s, "conv:a", "fused", 7, 0, &plan_a);
    tq_alloc_test_set_fail_at(0);
    TQ_CHECK(tq_pc_share_find(&s, "conv:a") == NULL);
    tq_pc_share_add(&s, "conv:a", "fused", 7, 0, &plan_a);
    TQ_CHECK(tq_pc_share_find(&s, "conv:a") != NULL);
    tq_pc_share_free(&s);
    TQ_EXPECT(atomic_load(&count.n_live) == 0, "%lld blocks leaked",
              (long long)atomic_load(&count.n_live));
}


/* ---- plans carried in engine files: export of the used entries and their plans, import,
 * an engine's plans over a file's, refused on another device unless rebuilding, damaged
 * payloads refused whole, allocation failures ---- */
static tq_plan_cache *embedded_cache(const char *path, const uint8_t *payload, size_t n,
                                     const char *gpu, bool rebuild, tfmq_status *st)
{
    tq_plan_cache *pc = NULL;
    TQ_EXPECT_OK(tq_plan_cache_create(NULL, path, &pc));
    if (pc) {
        tq_plan_cache_embed(pc, payload, n, "/x/model.tfmq", rebuild);
        *st = tq_plan_cache_open(pc, gpu, SM, CUDNN);
    }
    return pc;
}

static void test_engine_plans(tq_rng *rng)
{
    const char *json = "{\"engine\": 4, \"code\": \"...\"}";
    tq_pc_choice c[3];
    for (int i = 0; i < 3; i++) {
        c[i] = choice(i == 2 ? "cudnn:bf1:tf0:cl1" : "fused", 10 + i, 256 * i, 0.25 * (i + 1),
                      i + 1);
    }
    /* a recording session's cache: KEYS[2] came from a shared file and was never used */
    tq_plan_cache *rec = new_cache(NULL);
    tq_plan_cache_keep_blobs(rec);
    char line[TQ_PC_MAX_LINE];
    snprintf(line, sizeof(line), HEADER "%s cudnn:bf1:tf0:cl1 eng=3 ws=0 ms=1 knobs=-\n", KEYS[2]);
    TQ_EXPECT_OK(tq_plan_cache_parse(rec, line, strlen(line), true, NULL));
    TQ_EXPECT_OK(tq_plan_cache_put(rec, KEYS[0], &c[0]));
    TQ_EXPECT_OK(tq_plan_cache_put(rec, KEYS[1], &c[1]));
    tq_plan_cache_blob_store(rec, KEYS[0], json, strlen(json));
    uint8_t *payload = NULL;
    size_t n = 0;
    TQ_EXPECT_OK(tq_plan_cache_export(rec, &payload, &n));
    tq_plan_cache_destroy(rec);
    TQ_CHECK(payload && n > 8);

    /* the same device: the used entries and the plan, nothing else */
    tfmq_status st = TFMQ_ERR_INTERNAL;
    tq_plan_cache *pc = embedded_cache(NULL, payload, n, GPU, false, &st);
    TQ_EXPECT_OK(st);
    TQ_EXPECT_EQ_U64(n_entries(pc), 2);
    TQ_CHECK(same_choice(tq_plan_cache_find(pc, KEYS[0]), &c[0]));
    TQ_CHECK(same_choice(tq_plan_cache_find(pc, KEYS[1]), &c[1]));
    TQ_CHECK(tq_plan_cache_find(pc, KEYS[2]) == NULL);
    blob_expect(pc, KEYS[0], json, "engine plan");
    blob_expect(pc, KEYS[1], NULL, "no plan kept for it");
    /* exported again (both used now), the payload is the same bytes */
    uint8_t *again = NULL;
    size_t n_again = 0;
    TQ_EXPECT_OK(tq_plan_cache_export(pc, &again, &n_again));
    TQ_CHECK(n_again == n && again && memcmp(again, payload, n) == 0);
    tq_free(NULL, again, n_again);
    tq_plan_cache_destroy(pc);

    /* another GPU: refused, naming the engine, both GPUs and the way out */
    pc = embedded_cache(NULL, payload, n, "NVIDIA Other GPU", false, &st);
    TQ_EXPECT_STATUS(st, TFMQ_ERR_UNSUPPORTED);
    TQ_EXPECT_STR_CONTAINS(tfmq_last_error(), "/x/model.tfmq");
    TQ_EXPECT_STR_CONTAINS(tfmq_last_error(), GPU);
    TQ_EXPECT_STR_CONTAINS(tfmq_last_error(), "NVIDIA Other GPU");
    TQ_EXPECT_STR_CONTAINS(tfmq_last_error(), "--rebuild");
    tq_plan_cache_destroy(pc);
    /* ... unless rebuilding: nothing loaded, the session autotunes */
    pc = embedded_cache(NULL, payload, n, "NVIDIA Other GPU", true, &st);
    TQ_EXPECT_OK(st);
    TQ_EXPECT_EQ_U64(n_entries(pc), 0);
    blob_expect(pc, KEYS[0], NULL, "rebuild");
    tq_plan_cache_destroy(pc);

    /* with a file: the engine's choice wins over the file's for the same key */
    char dir[] = "/tmp/tfmq_plan_emb_XXXXXX", path[256], cmd[300];
    TQ_CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/cache.txt", dir);
    tq_plan_cache *file = new_cache(path);
    tq_pc_choice other = choice("direct", -1, 0, 9.0, 0);
    TQ_EXPECT_OK(tq_plan_cache_put(file, KEYS[0], &other));
    TQ_EXPECT_OK(tq_plan_cache_put(file, KEYS[2], &other));
    TQ_EXPECT_OK(tq_plan_cache_save(file));
    tq_plan_cache_destroy(file);
    pc = embedded_cache(path, payload, n, GPU, false, &st);
    TQ_EXPECT_OK(st);
    TQ_EXPECT_EQ_U64(n_entries(pc), 3);
    TQ_CHECK(same_choice(tq_plan_cache_find(pc, KEYS[0]), &c[0]));
    TQ_CHECK(same_choice(tq_plan_cache_find(pc, KEYS[2]), &other));
    tq_plan_cache_destroy(pc);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    TQ_CHECK(system(cmd) == 0);

    /* the summary tfmq inspect shows */
    char sum[256];
    tq_plan_cache_summary(payload, n, sum, sizeof(sum));
    TQ_EXPECT_STR_EQ(sum, GPU ", compute capability 9.0, cuDNN 91900: 2 convolution plans");
    tq_plan_cache_summary(payload, 7, sum, sizeof(sum));
    TQ_EXPECT_STR_EQ(sum, "(unreadable plans)");
    /* every cut-short payload is refused whole (PARSE), nothing loaded */
    for (size_t cut = 0; cut < n; cut++) {
        tq_plan_cache_summary(payload, cut, sum, sizeof(sum)); /* any text, no crash */
        pc = embedded_cache(NULL, payload, cut, GPU, false, &st);
        TQ_EXPECT(st == TFMQ_ERR_PARSE, "cut at %zu: status %d", cut, (int)st);
        TQ_EXPECT(n_entries(pc) == 0, "cut at %zu: entries loaded", cut);
        tq_plan_cache_destroy(pc);
    }
    /* random byte changes: no crash; a success loads only valid entries */
    uint8_t *mut = malloc(n);
    TQ_CHECK(mut != NULL);
    for (int t = 0; t < 2000 && mut; t++) {
        memcpy(mut, payload, n);
        const int k = 1 + (int)(tq_rng_u64(rng) % 4);
        for (int j = 0; j < k; j++) {
            mut[tq_rng_u64(rng) % n] = (uint8_t)tq_rng_u64(rng);
        }
        pc = embedded_cache(NULL, mut, n, GPU, t % 2 == 0, &st);
        TQ_EXPECT(st == TFMQ_OK || st == TFMQ_ERR_PARSE || st == TFMQ_ERR_UNSUPPORTED,
                  "mutation %d: status %d", t, (int)st);
        TQ_CHECK(n_entries(pc) <= 2);
        tq_plan_cache_destroy(pc);
    }
    free(mut);

    /* allocation failures at every point of import and export: OK or OUT_OF_MEMORY, no leak */
    tq_test_counting_alloc count;
    memset(&count, 0, sizeof(count));
    const tfmq_allocator al = {&count, tq_test_counting_alloc_fn, tq_test_counting_free_fn};
    int n_ok = 0;
    for (uint64_t fail_at = 1; fail_at < 40; fail_at++) {
        tq_plan_cache *p2 = NULL;
        uint8_t *out = NULL;
        size_t n_out = 0;
        tq_alloc_test_set_fail_at(fail_at);
        st = tq_plan_cache_create(&al, NULL, &p2);
        if (st == TFMQ_OK) {
            tq_plan_cache_embed(p2, payload, n, "e.tfmq", false);
            st = tq_plan_cache_open(p2, GPU, SM, CUDNN);
        }
        if (st == TFMQ_OK) {
            st = tq_plan_cache_import(p2, payload, n, true);
        }
        if (st == TFMQ_OK) {
            st = tq_plan_cache_export(p2, &out, &n_out);
        }
        tq_alloc_test_set_fail_at(0);
        TQ_EXPECT(st == TFMQ_OK || st == TFMQ_ERR_OUT_OF_MEMORY, "fail_at %llu: status %d",
                  (unsigned long long)fail_at, (int)st);
        if (st == TFMQ_OK) {
            n_ok++;
            TQ_CHECK(n_out == n && memcmp(out, payload, n) == 0);
        }
        tq_free(&al, out, n_out);
        tq_plan_cache_destroy(p2);
        TQ_EXPECT(atomic_load(&count.n_live) == 0, "fail_at %llu: %lld blocks leaked",
                  (unsigned long long)fail_at, (long long)atomic_load(&count.n_live));
    }
    TQ_CHECK(n_ok > 0);
    tq_free(NULL, payload, n);
}

int main(int argc, char **argv)
{
    tq_test_begin(argc, argv);
    TQ_RUN(test_round_trip);
    TQ_RUN(test_header_refused);
    TQ_RUN(test_bad_lines);
    TQ_RUN(test_duplicates);
    TQ_RUN(test_put);
    TQ_RUN(test_file);
    TQ_RUN(test_garbage);
    TQ_RUN(test_oom);
    TQ_RUN(test_share);
    TQ_RUN(test_blob);
    TQ_RUN(test_engine_plans);
    return tq_test_end();
}
