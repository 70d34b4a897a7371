/* SPDX-License-Identifier: MIT */
/* err.c -- strings for the HR_E* codes generated from HR_ERR_MAP. */
#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *hr_strerror(int code)
{
    switch (code) {
#define HR_ERR_STR(name, val, msg)                                             \
    case (val):                                                                \
        return (msg);
        HR_ERR_MAP(HR_ERR_STR)
#undef HR_ERR_STR
    case 0:
        return "success";
    default:
        return "unknown error";
    }
}

const char *hr_err_name(int code)
{
    switch (code) {
#define HR_ERR_NAME(name, val, msg)                                            \
    case (val):                                                                \
        return "HR_" #name;
        HR_ERR_MAP(HR_ERR_NAME)
#undef HR_ERR_NAME
    default:
        return "HR_E?";
    }
}

int hr_errf(char *err, size_t errlen, int code, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}
