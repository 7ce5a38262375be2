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

static bool timed_call(bench_call call, void *user, double *seconds)
{
    const double start = bench_now();
    const bool ok = call(user);
    *seconds = bench_now() - start;
    return ok;
}

static void samples_reset(bench_samples *out)
{
    memset(out, 0, sizeof *out);
    out->median_seconds = NAN;
}

bool bench_measure_pair(bench_call call_a, void *user_a, bench_samples *out_a,
                        bench_call call_b, void *user_b, bench_samples *out_b, int repeat)
{
    samples_reset(out_a);
    if (out_b)
        samples_reset(out_b);
    if (repeat < 1 || repeat > BENCH_MAX_REPEAT)
        return false;
    if (!timed_call(call_a, user_a, &out_a->warmup_seconds) ||
        (out_b && !timed_call(call_b, user_b, &out_b->warmup_seconds)))
        return false;
    for (int i = 0; i < repeat; i++) {
        if (!timed_call(call_a, user_a, &out_a->seconds[out_a->count]))
            return false;
        out_a->median_seconds = bench_median(out_a->seconds, ++out_a->count);
        if (!out_b)
            continue;
        if (!timed_call(call_b, user_b, &out_b->seconds[out_b->count]))
            return false;
        out_b->median_seconds = bench_median(out_b->seconds, ++out_b->count);
    }
    return true;
}

bool bench_measure(bench_call call, void *user, int repeat, bench_samples *out)
{
    return bench_measure_pair(call, user, out, NULL, NULL, NULL, repeat);
}

double bench_gflops(double flops, double seconds)
{
    return seconds > 0.0 ? flops / seconds * 1e-9 : NAN;
}
