/* SPDX-License-Identifier: MIT */
/* log.h -- operator log lines on stderr. */
#ifndef HR_UTIL_LOG_H
#define HR_UTIL_LOG_H

/*
 * One line per call: time, level, module, message, written with one write()
 * so lines from different threads never interleave. Never log prompts,
 * completions or keys; log sizes, ids and timings.
 */
typedef enum hr_log_level {
    HR_LOG_DEBUG = 0,
    HR_LOG_INFO = 1,
    HR_LOG_WARN = 2,
    HR_LOG_ERROR = 3,
    HR_LOG_OFF = 4,
} hr_log_level;

/* Lines below `level` are dropped. The default is HR_LOG_WARN, or the level
 * named by the environment variable HEARTH_LOG (debug|info|warn|error|off). */
void hr_log_set_level(hr_log_level level);
hr_log_level hr_log_get_level(void);

void hr_log(hr_log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
