/* Timing and medians for the benchmarks; see bench_stats.h. */
#include "bench/bench_stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(const double *values, int n)
{
    double sorted[BENCH_MAX_REPEAT];
    if (n <= 0 || n > BENCH_MAX_REPEAT)
        return NAN;
    memcpy(sorted, values, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, compare_doubles);
    return n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
}

bool bench_measure(bench_call call, void *user, int repeat, bench_samples *out)
{
    memset(out, 0, sizeof *out);
    out->median_seconds = NAN;
    if (repeat < 1 || repeat > BENCH_MAX_REPEAT)
        return false;
    double start = bench_now();
    if (!call(user))
        return false;
    out->warmup_seconds = bench_now() - start;
    for (int i = 0; i < repeat; i++) {
        start = bench_now();
        if (!call(user))
            return false;
        out->seconds[out->count++] = bench_now() - start;
    }
    out->median_seconds = bench_median(out->seconds, out->count);
    return true;
}

double bench_gflops(double flops, double seconds)
{
    return seconds > 0.0 ? flops / seconds * 1e-9 : NAN;
}
