/* SPDX-License-Identifier: MIT */
/* log.c -- operator log lines (see log.h). Safe from any thread. */
#include "util/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static _Atomic int cur_level = -1;

static int level_from_env(void)
{
    static const char *names[] = {"debug", "info", "warn", "error", "off"};
    const char *s = getenv("HEARTH_LOG");
    for (int i = 0; s && i < 5; i++) {
        if (strcmp(s, names[i]) == 0) {
            return i;
        }
    }
    return HR_LOG_WARN;
}

void hr_log_set_level(hr_log_level level)
{
    atomic_store(&cur_level, (int)level);
}

hr_log_level hr_log_get_level(void)
{
    int l = atomic_load(&cur_level);
    if (l < 0) {
        l = level_from_env();
        atomic_store(&cur_level, l);
    }
    return (hr_log_level)l;
}

void hr_log(hr_log_level level, const char *module, const char *fmt, ...)
{
    static const char *tags[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    if (level < hr_log_get_level() || level >= HR_LOG_OFF) {
        return;
    }
    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s %s: ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000L, tags[level], module);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2) {
        len = sizeof line - 2;
    }
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
