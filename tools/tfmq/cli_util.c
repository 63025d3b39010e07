/* cli_util.c: shared helpers of the tfmq CLI: status -> exit code, one-line error reports,
 * option parsing, whole-file reads, atomic writes (temp file + fsync + rename/link) and
 * element conversion between dtypes. Everything here uses only tfmq.h and POSIX. */
#include "cli_util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int cli_exit_code(tfmq_status st)
{
    switch (st) {
    case TFMQ_OK:
        return CLI_EXIT_OK;
    case TFMQ_ERR_INVALID_ARG:
    case TFMQ_ERR_IO:
    case TFMQ_ERR_PARSE:
    case TFMQ_ERR_UNSUPPORTED:
    case TFMQ_ERR_VERSION:
        return CLI_EXIT_USAGE;
    case TFMQ_ERR_OUT_OF_MEMORY:
    case TFMQ_ERR_BACKEND:
    case TFMQ_ERR_INVALID_STATE:
    case TFMQ_ERR_INTERNAL:
        return CLI_EXIT_INTERNAL;
    }
    return CLI_EXIT_INTERNAL;
}

tfmq_status cli_fail(cli_err *e, tfmq_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    return st;
}

static void cli_vreport(const char *subject, const char *kind, const char *fmt, va_list ap)
    CLI_PRINTF(3, 0);

static void cli_vreport(const char *subject, const char *kind, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    fflush(stdout); /* keep stdout and stderr in order when both go to a terminal */
    if (subject) {
        fprintf(stderr, "tfmq: %s: %s%s\n", subject, kind, msg);
    } else {
        fprintf(stderr, "tfmq: %s%s\n", kind, msg);
    }
}

void cli_error(const char *subject, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cli_vreport(subject, "", fmt, ap);
    va_end(ap);
}

void cli_warn(const char *subject, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cli_vreport(subject, "warning: ", fmt, ap);
    va_end(ap);
}

int cli_report_lib(const char *subject, tfmq_status st)
{
    const char *msg = tfmq_last_error();
    if (!msg || !msg[0]) {
        msg = tfmq_status_str(st);
    }
    /* the library's message usually starts with the file already: do not name it twice */
    size_t n = subject ? strlen(subject) : 0;
    while (n && strncmp(msg, subject, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ') {
        msg += n + 2;
    }
    cli_error(subject, "%s", msg);
    return cli_exit_code(st);
}

int cli_report(const char *subject, tfmq_status st, const cli_err *e)
{
    cli_error(subject, "%s", e->msg[0] ? e->msg : tfmq_status_str(st));
    return cli_exit_code(st);
}

/* --signature NAME, accepted by every command (main.c takes it out of argv) */
const char *cli_signature;

int cli_load_model(const char *path, tfmq_model **model_out)
{
    tfmq_load_options opts;
    memset(&opts, 0, sizeof(opts));
    opts.struct_size = sizeof(opts);
    opts.signature = cli_signature;
    tfmq_status st = tfmq_model_load(path, &opts, model_out);
    if (st != TFMQ_OK) {
        return cli_report_lib(path, st);
    }
    return CLI_EXIT_OK;
}

int cli_model_io(const tfmq_model *model, tfmq_io_kind kind, size_t index, tfmq_io_info *info)
{
    memset(info, 0, sizeof(*info));
    info->struct_size = sizeof(*info);
    tfmq_status st = tfmq_model_io(model, kind, index, info);
    if (st != TFMQ_OK) {
        return cli_report_lib(kind == TFMQ_IO_INPUT ? "input" : "output", st);
    }
    if (!info->name) {
        info->name = "";
    }
    return CLI_EXIT_OK;
}

void cli_fputs_safe(const char *s, FILE *f)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        fputc(c < 0x20 || c == 0x7f ? '?' : c, f);
    }
}

void cli_format_shape(int32_t rank, const int64_t *dims, const char *const *dim_names, char *buf,
                      size_t size)
{
    size_t n = 0;
    if (size < 8) {
        if (size) {
            buf[0] = '\0';
        }
        return;
    }
    if (rank < 0 || (rank > 0 && !dims)) {
        snprintf(buf, size, "[?]");
        return;
    }
    buf[n++] = '[';
    for (int32_t i = 0; i < rank; i++) {
        char item[96];
        const char *sym = dim_names ? dim_names[i] : NULL;
        if (dims[i] < 0 || sym) {
            char safe[80];
            size_t k = 0;
            for (const char *p = sym ? sym : "?"; *p && k + 1 < sizeof(safe); p++) {
                const bool ctrl = (unsigned char)*p < 0x20 || *p == 0x7f;
                safe[k++] = (char)(ctrl ? '?' : *p);
            }
            safe[k] = '\0';
            snprintf(item, sizeof(item), "%s%s", i ? ", " : "", safe);
        } else {
            snprintf(item, sizeof(item), "%s%lld", i ? ", " : "", (long long)dims[i]);
        }
        size_t len = strlen(item);
        if (n + len + 5 > size) {
            memcpy(buf + n, "...", 3);
            n += 3;
            break;
        }
        memcpy(buf + n, item, len);
        n += len;
    }
    buf[n++] = ']';
    buf[n] = '\0';
}

/* ---- option parsing ---- */

void cli_parser_init(cli_parser *p, const char *command, int argc, char **argv)
{
    memset(p, 0, sizeof(*p));
    p->argc = argc;
    p->argv = argv;
    p->index = 1;
    p->command = command;
}

int cli_usage_error(const char *command, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fflush(stdout);
    if (command) {
        fprintf(stderr, "tfmq: %s: %s (see 'tfmq %s --help')\n", command, msg, command);
    } else {
        fprintf(stderr, "tfmq: %s (see 'tfmq --help')\n", msg);
    }
    return CLI_EXIT_USAGE;
}

int cli_next_opt(cli_parser *p, const cli_option *opts, size_t n_opts)
{
    p->value = NULL;
    p->option_text = NULL;
    while (p->index < p->argc) {
        const char *arg = p->argv[p->index++];
        if (p->options_done || arg[0] != '-' || arg[1] == '\0') {
            p->value = arg; /* "-" alone is a positional argument (stdin by convention) */
            return CLI_OPT_POSITIONAL;
        }
        p->option_text = arg;
        if (arg[1] == '-') {
            if (arg[2] == '\0') {
                p->options_done = true;
                continue;
            }
            const char *name = arg + 2;
            const char *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            for (size_t k = 0; k < n_opts; k++) {
                const char *ln = opts[k].long_name;
                if (!ln || strlen(ln) != len || memcmp(ln, name, len) != 0) {
                    continue;
                }
                if (opts[k].takes_value) {
                    if (eq) {
                        p->value = eq + 1;
                    } else if (p->index < p->argc) {
                        p->value = p->argv[p->index++];
                    } else {
                        cli_usage_error(p->command, "option '--%s' needs a value", ln);
                        return CLI_OPT_ERROR;
                    }
                } else if (eq) {
                    cli_usage_error(p->command, "option '--%s' takes no value", ln);
                    return CLI_OPT_ERROR;
                }
                return opts[k].id;
            }
            cli_usage_error(p->command, "unknown option '--%.*s'", (int)(len > 64 ? 64 : len),
                            name);
            return CLI_OPT_ERROR;
        }
        for (size_t k = 0; k < n_opts; k++) {
            if (!opts[k].short_name || opts[k].short_name != arg[1]) {
                continue;
            }
            if (opts[k].takes_value) {
                if (arg[2] != '\0') {
                    p->value = arg + 2;
                } else if (p->index < p->argc) {
                    p->value = p->argv[p->index++];
                } else {
                    cli_usage_error(p->command, "option '-%c' needs a value", arg[1]);
                    return CLI_OPT_ERROR;
                }
            } else if (arg[2] != '\0') {
                break; /* no bundling of short flags */
            }
            return opts[k].id;
        }
        cli_usage_error(p->command, "unknown option '%.64s'", arg);
        return CLI_OPT_ERROR;
    }
    return CLI_OPT_END;
}

bool cli_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    int64_t v = 0;
    bool neg = false;
    if (!s) {
        return false;
    }
    if (*s == '-') {
        neg = true;
        s++;
    } else if (*s == '+') {
        s++;
    }
    if (*s < '0' || *s > '9') {
        return false;
    }
    for (; *s; s++) {
        if (*s < '0' || *s > '9') {
            return false;
        }
        int d = *s - '0';
        if (v > (INT64_MAX - d) / 10) {
            return false;
        }
        v = v * 10 + d;
    }
    if (neg) {
        v = -v;
    }
    if (v < min || v > max) {
        return false;
    }
    *out = v;
    return true;
}

bool cli_parse_hw(const char *s, int64_t max, int64_t *h_out, int64_t *w_out)
{
    char buf[64];
    const char *x = s ? strpbrk(s, "xX") : NULL;
    if (!x || (size_t)(x - s) >= sizeof(buf)) {
        return false;
    }
    memcpy(buf, s, (size_t)(x - s));
    buf[x - s] = '\0';
    return cli_parse_i64(buf, 1, max, h_out) && cli_parse_i64(x + 1, 1, max, w_out);
}

/* ---- files ---- */

tfmq_status cli_read_file(const char *path, size_t max_bytes, uint8_t **data_out, size_t *n_out,
                          cli_err *e)
{
    struct stat sb;
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    *data_out = NULL;
    *n_out = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        return cli_fail(e, TFMQ_ERR_IO, "cannot open: %s", strerror(errno));
    }
    if (fstat(fileno(f), &sb) == 0) {
        if (S_ISDIR(sb.st_mode)) {
            fclose(f);
            return cli_fail(e, TFMQ_ERR_IO, "is a directory");
        }
        if (S_ISREG(sb.st_mode) && sb.st_size >= 0) {
            if ((uintmax_t)sb.st_size > max_bytes) {
                fclose(f);
                return cli_fail(e, TFMQ_ERR_IO, "file is larger than the %zu-byte limit",
                                max_bytes);
            }
            cap = (size_t)sb.st_size + 1; /* +1: see EOF without a regrow */
        }
    }
    if (cap < 4096) {
        cap = 4096;
    }
    for (;;) {
        if (n == cap || !buf) {
            if (buf) {
                if (cap > SIZE_MAX / 2) {
                    free(buf);
                    fclose(f);
                    return cli_fail(e, TFMQ_ERR_IO, "file is too large");
                }
                cap *= 2;
            }
            uint8_t *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return cli_fail(e, TFMQ_ERR_OUT_OF_MEMORY, "cannot allocate %zu bytes", cap);
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n > max_bytes) {
            free(buf);
            fclose(f);
            return cli_fail(e, TFMQ_ERR_IO, "file is larger than the %zu-byte limit", max_bytes);
        }
        if (got == 0) {
            break;
        }
    }
    if (ferror(f)) {
        int err = errno;
        free(buf);
        fclose(f);
        return cli_fail(e, TFMQ_ERR_IO, "read error: %s", strerror(err));
    }
    fclose(f);
    *data_out = buf;
    *n_out = n;
    return TFMQ_OK;
}

static bool write_all(int fd, const void *data, size_t n)
{
    const uint8_t *p = data;
    while (n > 0) {
        size_t chunk = n > (size_t)1 << 30 ? (size_t)1 << 30 : n;
        ssize_t w = write(fd, p, chunk);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return false;
        }
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* fsync the directory holding `path` so the rename itself is durable; best effort. */
static void sync_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = NULL;
    if (!slash) {
        dir = strdup(".");
    } else if (slash == path) {
        dir = strdup("/");
    } else {
        dir = strndup(path, (size_t)(slash - path));
    }
    if (!dir) {
        return;
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

tfmq_status cli_write_file_atomic(const char *path, const void *const *parts,
                                  const size_t *part_bytes, size_t n_parts, bool overwrite,
                                  cli_err *e)
{
    static const char suffix[] = ".tmp-XXXXXX";
    tfmq_status st = TFMQ_OK;
    size_t len = strlen(path);
    char *tmp = malloc(len + sizeof(suffix));
    int fd = -1;
    if (!tmp) {
        return cli_fail(e, TFMQ_ERR_OUT_OF_MEMORY, "out of memory");
    }
    if (!overwrite && access(path, F_OK) == 0) {
        free(tmp);
        return cli_fail(e, TFMQ_ERR_IO, "file exists (use --force to overwrite)");
    }
    memcpy(tmp, path, len);
    memcpy(tmp + len, suffix, sizeof(suffix));
    fd = mkstemp(tmp);
    if (fd < 0) {
        st = cli_fail(e, TFMQ_ERR_IO, "cannot create temporary file: %s", strerror(errno));
        free(tmp);
        return st;
    }
    /* mkstemp makes the file 0600; give it the mode an ordinary create would. */
    mode_t mask = umask(0);
    umask(mask);
    (void)fchmod(fd, (mode_t)(0666 & ~mask));
    for (size_t k = 0; k < n_parts; k++) {
        if (part_bytes[k] && !write_all(fd, parts[k], part_bytes[k])) {
            st = cli_fail(e, TFMQ_ERR_IO, "write error: %s", strerror(errno));
            goto fail;
        }
    }
    if (fsync(fd) != 0) {
        st = cli_fail(e, TFMQ_ERR_IO, "fsync failed: %s", strerror(errno));
        goto fail;
    }
    if (close(fd) != 0) {
        fd = -1;
        st = cli_fail(e, TFMQ_ERR_IO, "close failed: %s", strerror(errno));
        goto fail;
    }
    fd = -1;
    if (overwrite) {
        if (rename(tmp, path) != 0) {
            st = cli_fail(e, TFMQ_ERR_IO, "cannot rename temporary file: %s", strerror(errno));
            goto fail;
        }
    } else {
        /* link() fails with EEXIST instead of replacing: no window where a file that appeared
         * meanwhile is clobbered. Filesystems without hard links fall back to rename(). */
        if (link(tmp, path) == 0) {
            unlink(tmp);
        } else if (errno == EEXIST) {
            st = cli_fail(e, TFMQ_ERR_IO, "file exists (use --force to overwrite)");
            goto fail;
        } else if (rename(tmp, path) != 0) {
            st = cli_fail(e, TFMQ_ERR_IO, "cannot rename temporary file: %s", strerror(errno));
            goto fail;
        }
    }
    free(tmp);
    sync_parent_dir(path);
    return TFMQ_OK;
fail:
    if (fd >= 0) {
        close(fd);
    }
    unlink(tmp);
    free(tmp);
    return st;
}

tfmq_status cli_mkdir_p(const char *path, cli_err *e)
{
    struct stat sb;
    char *p = strdup(path);
    if (!p) {
        return cli_fail(e, TFMQ_ERR_OUT_OF_MEMORY, "out of memory");
    }
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') {
            continue;
        }
        *s = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            tfmq_status st =
                cli_fail(e, TFMQ_ERR_IO, "cannot create directory '%s': %s", p, strerror(errno));
            free(p);
            return st;
        }
        *s = '/';
    }
    if (mkdir(p, 0777) != 0 && errno != EEXIST) {
        tfmq_status st = cli_fail(e, TFMQ_ERR_IO, "cannot create directory: %s", strerror(errno));
        free(p);
        return st;
    }
    free(p);
    if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        return cli_fail(e, TFMQ_ERR_IO, "not a directory");
    }
    return TFMQ_OK;
}

void cli_sanitize_filename(const char *name, char *out, size_t out_size)
{
    size_t n = 0, limit = out_size - 1;
    if (limit > 200) {
        limit = 200;
    }
    if (name[0] == '.' || name[0] == '-' || name[0] == '\0') {
        out[n++] = '_';
    }
    for (const char *s = name; *s && n < limit; s++) {
        char c = *s;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        out[n++] = (char)(ok ? c : '_');
    }
    out[n] = '\0';
}

double cli_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* ---- elements ---- */

float cli_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    uint32_t bits;
    float f;
    if (exp == 0) {
        f = (float)mant * 5.9604644775390625e-8f; /* mant * 2^-24 */
        return sign ? -f : f;
    }
    if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 112u) << 23) | (mant << 13);
    }
    memcpy(&f, &bits, sizeof(f));
    return f;
}

uint16_t cli_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof(x));
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) { /* inf, NaN (keep it a quiet NaN) */
        return (uint16_t)(sign | 0x7c00u |
                          (ax > 0x7f800000u ? 0x200u | ((ax >> 13) & 0x3ffu) : 0u));
    }
    if (ax >= 0x477ff000u) { /* rounds to >= 65520: overflow to inf */
        return (uint16_t)(sign | 0x7c00u);
    }
    if (ax < 0x38800000u) { /* below 2^-14: subnormal half, round to nearest even */
        if (ax < 0x33000000u) {
            return (uint16_t)sign;
        }
        uint32_t mant = (ax & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126u - (ax >> 23);
        uint32_t q = mant >> shift, rem = mant & ((1u << shift) - 1u), half = 1u << (shift - 1u);
        if (rem > half || (rem == half && (q & 1u))) {
            q++;
        }
        return (uint16_t)(sign | q);
    }
    uint32_t hbits = (ax - 0x38000000u) >> 13, rem = ax & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (hbits & 1u))) {
        hbits++;
    }
    return (uint16_t)(sign | hbits);
}

float cli_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof(f));
    return f;
}

uint16_t cli_f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof(x));
    if ((x & 0x7fffffffu) > 0x7f800000u) {
        return (uint16_t)((x >> 16) | 0x40u);
    }
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

bool cli_dtype_is_numeric(tfmq_dtype dt)
{
    switch (dt) {
    case TFMQ_DTYPE_FLOAT32:
    case TFMQ_DTYPE_UINT8:
    case TFMQ_DTYPE_INT8:
    case TFMQ_DTYPE_UINT16:
    case TFMQ_DTYPE_INT16:
    case TFMQ_DTYPE_INT32:
    case TFMQ_DTYPE_INT64:
    case TFMQ_DTYPE_BOOL:
    case TFMQ_DTYPE_FLOAT16:
    case TFMQ_DTYPE_FLOAT64:
    case TFMQ_DTYPE_UINT32:
    case TFMQ_DTYPE_UINT64:
    case TFMQ_DTYPE_BFLOAT16:
        return true;
    case TFMQ_DTYPE_UNDEFINED:
    case TFMQ_DTYPE_STRING:
        return false;
    }
    return false;
}

#define CLI_LOAD(type, base, i) ((const type *)(base))[i]

double cli_elem_get(tfmq_dtype dt, const void *base, size_t i)
{
    switch (dt) {
    case TFMQ_DTYPE_FLOAT32:
        return (double)CLI_LOAD(float, base, i);
    case TFMQ_DTYPE_UINT8:
        return (double)CLI_LOAD(uint8_t, base, i);
    case TFMQ_DTYPE_INT8:
        return (double)CLI_LOAD(int8_t, base, i);
    case TFMQ_DTYPE_UINT16:
        return (double)CLI_LOAD(uint16_t, base, i);
    case TFMQ_DTYPE_INT16:
        return (double)CLI_LOAD(int16_t, base, i);
    case TFMQ_DTYPE_INT32:
        return (double)CLI_LOAD(int32_t, base, i);
    case TFMQ_DTYPE_INT64:
        return (double)CLI_LOAD(int64_t, base, i);
    case TFMQ_DTYPE_BOOL:
        return CLI_LOAD(uint8_t, base, i) ? 1.0 : 0.0;
    case TFMQ_DTYPE_FLOAT16:
        return (double)cli_f16_to_f32(CLI_LOAD(uint16_t, base, i));
    case TFMQ_DTYPE_FLOAT64:
        return CLI_LOAD(double, base, i);
    case TFMQ_DTYPE_UINT32:
        return (double)CLI_LOAD(uint32_t, base, i);
    case TFMQ_DTYPE_UINT64:
        return (double)CLI_LOAD(uint64_t, base, i);
    case TFMQ_DTYPE_BFLOAT16:
        return (double)cli_bf16_to_f32(CLI_LOAD(uint16_t, base, i));
    case TFMQ_DTYPE_UNDEFINED:
    case TFMQ_DTYPE_STRING:
        return 0.0;
    }
    return 0.0;
}

/* Round to nearest (ties to even) and clamp to [lo, hi]; NaN -> 0. */
static double round_clamp(double v, double lo, double hi)
{
    if (isnan(v)) {
        return 0.0;
    }
    v = nearbyint(v);
    return v < lo ? lo : (v > hi ? hi : v);
}

void cli_elem_set(tfmq_dtype dt, void *base, size_t i, double v)
{
    switch (dt) {
    case TFMQ_DTYPE_FLOAT32:
        ((float *)base)[i] = (float)v;
        return;
    case TFMQ_DTYPE_UINT8:
        ((uint8_t *)base)[i] = (uint8_t)round_clamp(v, 0.0, 255.0);
        return;
    case TFMQ_DTYPE_INT8:
        ((int8_t *)base)[i] = (int8_t)round_clamp(v, -128.0, 127.0);
        return;
    case TFMQ_DTYPE_UINT16:
        ((uint16_t *)base)[i] = (uint16_t)round_clamp(v, 0.0, 65535.0);
        return;
    case TFMQ_DTYPE_INT16:
        ((int16_t *)base)[i] = (int16_t)round_clamp(v, -32768.0, 32767.0);
        return;
    case TFMQ_DTYPE_INT32:
        ((int32_t *)base)[i] = (int32_t)round_clamp(v, -2147483648.0, 2147483647.0);
        return;
    case TFMQ_DTYPE_UINT32:
        ((uint32_t *)base)[i] = (uint32_t)round_clamp(v, 0.0, 4294967295.0);
        return;
    case TFMQ_DTYPE_INT64: {
        double r = round_clamp(v, -9223372036854775808.0, 9223372036854775808.0);
        ((int64_t *)base)[i] = r >= 9223372036854775808.0 ? INT64_MAX : (int64_t)r;
        return;
    }
    case TFMQ_DTYPE_UINT64: {
        double r = round_clamp(v, 0.0, 18446744073709551616.0);
        ((uint64_t *)base)[i] = r >= 18446744073709551616.0 ? UINT64_MAX : (uint64_t)r;
        return;
    }
    case TFMQ_DTYPE_BOOL:
        ((uint8_t *)base)[i] = (v != 0.0) ? 1u : 0u;
        return;
    case TFMQ_DTYPE_FLOAT16:
        ((uint16_t *)base)[i] = cli_f32_to_f16((float)v);
        return;
    case TFMQ_DTYPE_FLOAT64:
        ((double *)base)[i] = v;
        return;
    case TFMQ_DTYPE_BFLOAT16:
        ((uint16_t *)base)[i] = cli_f32_to_bf16((float)v);
        return;
    case TFMQ_DTYPE_UNDEFINED:
    case TFMQ_DTYPE_STRING:
        return;
    }
}

bool cli_parse_batch_list(const char *command, const char *option, const char *s, int64_t *out,
                          size_t cap, size_t *n_out)
{
    char item[32];
    size_t n = 0;
    for (const char *p = s;;) {
        const char *comma = strchr(p, ',');
        const size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == 0 || len >= sizeof(item) || n == cap) {
            cli_usage_error(command, "%s needs a list such as 1,8,32 (at most %zu), not '%.64s'",
                            option, cap, s);
            return false;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        if (!cli_parse_i64(item, 1, 65536, &out[n])) {
            cli_usage_error(command, "batch size '%s' is not an integer in 1..65536", item);
            return false;
        }
        n++;
        if (!comma) {
            break;
        }
        p = comma + 1;
    }
    *n_out = n;
    return true;
}

bool cli_has_backend(const char *name)
{
    const size_t n = strlen(name);
    for (const char *p = tfmq_backends(); p && *p;) {
        while (*p == ' ') {
            p++;
        }
        const char *end = strchr(p, ' ');
        const size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && memcmp(p, name, n) == 0) {
            return true;
        }
        p = end;
    }
    return false;
}
