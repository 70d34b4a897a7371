/* SPDX-License-Identifier: MIT */
/* bench.h -- what the C micro-benchmarks share: a monotonic clock in
 * microseconds and a qsort comparator for taking medians of timings. */
#ifndef HEARTH_BENCH_H
#define HEARTH_BENCH_H

#include <time.h>

static inline double bench_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#endif
