/* log.c: the library never prints; messages go to an optional user callback. */
#include <stdio.h>
#include <time.h>

#include "core.h"

static tfmq_log_fn tq_log_fn;
static void *tq_log_ud;
static tfmq_log_level tq_log_max = TFMQ_LOG_WARN;

void tfmq_set_log_callback(tfmq_log_fn fn, void *user_data, tfmq_log_level max_level)
{
    tq_log_fn = fn;
    tq_log_ud = user_data;
    tq_log_max = max_level;
}

void tq_log(tfmq_log_level level, const char *fmt, ...)
{
    if (!tq_log_fn || level > tq_log_max) {
        return;
    }
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    tq_log_fn(tq_log_ud, level, buf);
}

double tq_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
