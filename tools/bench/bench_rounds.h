/* Several calls measured in rounds — the n-way form of bench_measure_pair — for
 * benchmarks that compare more than two things in one run (clt's forward and backward
 * against a peer's, two kernels and a copy). */
#ifndef CLT_BENCH_ROUNDS_H
#define CLT_BENCH_ROUNDS_H

#include <stdbool.h>

#include "bench/bench_stats.h"

#define BENCH_MAX_CALLS 8

/* One warm-up round, then `repeat` (1..BENCH_MAX_REPEAT) timed rounds; each round makes
 * calls[0], calls[1] … calls[n-1] once, in that order, so a slow stretch of a shared
 * machine falls on all alike and their ratios stay fair. A call may depend on the
 * calls before it in the round (a backward pass on its forward's output). A NULL call
 * is left out and its samples stay empty. n is 1..BENCH_MAX_CALLS. False as soon as a
 * call fails; *failed (if not NULL) is then its index, else -1, and outs hold what was
 * measured before. */
bool bench_measure_rounds(int n, const bench_call *calls, void *const *users,
                          bench_samples *outs, int repeat, int *failed);

/* The round-by-round sums of two measurements taken in the same rounds (a forward pass
 * and its backward: the time of a training step's attention), and their median. */
void bench_samples_sum(const bench_samples *a, const bench_samples *b, bench_samples *out);

#endif
