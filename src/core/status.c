/* status.c: status names and the thread-local error message behind tfmq_last_error().
 * The message buffer is a fixed thread-local array so reporting an error never allocates. */
#include <stdio.h>
#include <string.h>

#include "core.h"

static _Thread_local char tq_err_msg[512];

const char *tfmq_status_str(tfmq_status st)
{
    switch (st) {
    case TFMQ_OK: return "ok";
    case TFMQ_ERR_INVALID_ARG: return "invalid argument";
    case TFMQ_ERR_OUT_OF_MEMORY: return "out of memory";
    case TFMQ_ERR_IO: return "I/O error";
    case TFMQ_ERR_PARSE: return "parse error";
    case TFMQ_ERR_UNSUPPORTED: return "unsupported";
    case TFMQ_ERR_BACKEND: return "backend error";
    case TFMQ_ERR_INVALID_STATE: return "invalid state";
    case TFMQ_ERR_VERSION: return "version mismatch";
    case TFMQ_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

const char *tfmq_last_error(void)
{
    return tq_err_msg;
}

tfmq_status tq_failv(tfmq_status st, const char *fmt, va_list ap)
{
    vsnprintf(tq_err_msg, sizeof(tq_err_msg), fmt, ap);
    return st;
}

tfmq_status tq_fail(tfmq_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tq_failv(st, fmt, ap);
    va_end(ap);
    return st;
}

tfmq_status tq_fail_prefix(tfmq_status st, const char *fmt, ...)
{
    char prefix[256];
    char old[sizeof(tq_err_msg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, tq_err_msg, sizeof(old));
    size_t n = strlen(prefix);
    if (n + 2 >= sizeof(tq_err_msg)) {
        n = sizeof(tq_err_msg) - 3;
    }
    memcpy(tq_err_msg, prefix, n);
    memcpy(tq_err_msg + n, ": ", 2);
    size_t room = sizeof(tq_err_msg) - n - 3;
    size_t m = strnlen(old, room);
    memcpy(tq_err_msg + n + 2, old, m);
    tq_err_msg[n + 2 + m] = '\0';
    return st;
}

void tq_clear_error(void)
{
    tq_err_msg[0] = '\0';
}

const char *tfmq_version(void)
{
    return TFMQ_VERSION_STRING;
}
