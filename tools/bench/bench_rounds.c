/* Measurements in rounds; see bench_rounds.h. */
#include "bench/bench_rounds.h"

#include <math.h>
#include <string.h>

/* Runs call i once and stores its time in the warm-up slot or as the next sample. */
static bool run_one(bench_call call, void *user, bench_samples *out, bool warmup)
{
    const double start = bench_now();
    const bool ok = call(user);
    const double seconds = bench_now() - start;
    if (!ok)
        return false;
    if (warmup) {
        out->warmup_seconds = seconds;
    } else {
        out->seconds[out->count++] = seconds;
        out->median_seconds = bench_median(out->seconds, out->count);
    }
    return true;
}

bool bench_measure_rounds(int n, const bench_call *calls, void *const *users,
                          bench_samples *outs, int repeat, int *failed)
{
    if (failed)
        *failed = -1;
    for (int i = 0; i < n; i++) {
        memset(&outs[i], 0, sizeof outs[i]);
        outs[i].median_seconds = NAN;
    }
    if (n < 1 || n > BENCH_MAX_CALLS || repeat < 1 || repeat > BENCH_MAX_REPEAT)
        return false;
    /* Round 0 is the warm-up: first builds, first touches of memory. */
    for (int round = 0; round <= repeat; round++) {
        for (int i = 0; i < n; i++) {
            if (!calls[i])
                continue;
            if (!run_one(calls[i], users[i], &outs[i], round == 0)) {
                if (failed)
                    *failed = i;
                return false;
            }
        }
    }
    return true;
}

void bench_samples_sum(const bench_samples *a, const bench_samples *b, bench_samples *out)
{
    memset(out, 0, sizeof *out);
    out->count = a->count < b->count ? a->count : b->count;
    for (int i = 0; i < out->count; i++)
        out->seconds[i] = a->seconds[i] + b->seconds[i];
    out->warmup_seconds = a->warmup_seconds + b->warmup_seconds;
    out->median_seconds = bench_median(out->seconds, out->count);
}
