/* Timing for the benchmarks: a monotonic clock, repeated measurements of one call, and
 * their median. */
#ifndef CLT_BENCH_STATS_H
#define CLT_BENCH_STATS_H

#include <stdbool.h>

#define BENCH_MAX_REPEAT 100

/* Seconds on a monotonic clock. */
double bench_now(void);

/* The median of n values (n >= 1); the array is left unchanged. NaN for n == 0. */
double bench_median(const double *values, int n);

/* One timed call: runs the work once and returns only when it has finished (waited
 * on), true on success. */
typedef bool (*bench_call)(void *user);

/* A measurement: `repeat` timed calls after one untimed warm-up call. */
typedef struct bench_samples {
    int count;                        /* timed calls that completed */
    double seconds[BENCH_MAX_REPEAT]; /* each call's time, in order */
    double warmup_seconds;            /* the untimed first call (compiles, tunes) */
    double median_seconds;            /* NaN when count is 0 */
} bench_samples;

/* Warm-up, then `repeat` (1..BENCH_MAX_REPEAT) timed calls. False as soon as a call
 * fails; `out` then holds what was measured before. */
bool bench_measure(bench_call call, void *user, int repeat, bench_samples *out);

/* Two measurements taken in alternation — a, b, a, b … after one warm-up call of each —
 * so that a slow stretch of a shared machine falls on both alike and their ratio stays
 * fair. False as soon as a call fails. */
bool bench_measure_pair(bench_call call_a, void *user_a, bench_samples *out_a,
                        bench_call call_b, void *user_b, bench_samples *out_b, int repeat);

/* `flops` floating-point operations in `seconds`, in GFLOP/s; NaN when seconds is not
 * positive. */
double bench_gflops(double flops, double seconds);

#endif
