/* SPDX-License-Identifier: MIT */
/* err.h -- hearth's one error-code space. */
#ifndef HR_UTIL_ERR_H
#define HR_UTIL_ERR_H

#include <errno.h>
#include <stddef.h>

/*
 * Functions that can fail return 0 on success and a negative HR_E* code on
 * failure. Codes that have an errno equivalent are its negation, so errno
 * values from syscalls pass straight through; hearth's own codes sit below
 * -1000. HR_ERR_MAP defines every code once, and the enum, hr_strerror() and
 * hr_err_name() are all generated from it.
 */
#define HR_ERR_MAP(X)                                                          \
    X(ENOMEM, -ENOMEM, "out of memory")                                        \
    X(EINVAL, -EINVAL, "invalid argument")                                     \
    X(EIO, -EIO, "input/output error")                                         \
    X(ENOENT, -ENOENT, "no such file or directory")                            \
    X(EACCES, -EACCES, "permission denied")                                    \
    X(EISDIR, -EISDIR, "is a directory")                                       \
    X(ERANGE, -ERANGE, "value out of range")                                   \
    X(ETIMEDOUT, -ETIMEDOUT, "timed out")                                      \
    X(EAGAIN, -EAGAIN, "try again")                                            \
    X(ECANCELED, -ECANCELED, "canceled")                                       \
    X(EMODEL, -1001, "model error")                                            \
    X(ECTXFULL, -1002, "context length exceeded")                              \
    X(EFORMAT, -1003, "bad file format")                                       \
    X(ETOOBIG, -1004, "too big")                                               \
    X(EDECODE, -1005, "llama.cpp decode failed")                               \
    X(EQUEUEFULL, -1006, "queue full")                                         \
    X(EUPSTREAM, -1007, "upstream error")                                      \
    X(EPOLICY, -1008, "denied by policy")                                      \
    X(EDB, -1009, "database error")

enum {
#define HR_ERR_ENUM(name, val, msg) HR_##name = (val),
    HR_ERR_MAP(HR_ERR_ENUM)
#undef HR_ERR_ENUM
};

/* A short English description of code (any errno too); never NULL. */
const char *hr_strerror(int code);

/* Write a one-line message into the caller's optional error buffer (err may
 * be NULL or errlen 0; the message is truncated to fit). Returns code, so a
 * failure path can say `return hr_errf(err, errlen, HR_EINVAL, "...")`. */
int hr_errf(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The code's symbolic name ("HR_ENOMEM"); "HR_E?" when unknown. */
const char *hr_err_name(int code);

#endif
