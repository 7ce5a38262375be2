/* What the op benchmarks' reports share: one implementation's result (its samples and
 * the rate of its median), the table cells made from it, and the JSON objects for the
 * device and for a result. */
#ifndef CLT_BENCH_OUTPUT_H
#define CLT_BENCH_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <clt/clt.h>

#include "bench/bench_stats.h"
#include "common/json_writer.h"

/* One implementation's measurement of one row. */
typedef struct bench_result {
    bool ran;              /* samples and rate are valid */
    bench_samples samples;
    double rate;           /* work per second at the median time, in 1e9 units */
    char note[160];        /* why it did not run ("n/a: ...", "skipped: ...",
                              "failed: ..."), or a remark; "" when there is none */
} bench_result;

/* Sets ran and rate from the samples: `work` (flops or bytes) at the median time. */
void bench_result_finish(bench_result *r, double work);

/* x's rate over y's (x's speed relative to y's); NaN where either did not run. */
double bench_result_ratio(const bench_result *x, const bench_result *y);

/* Table cells: the median in milliseconds, the rate, or why there is none ("n/a",
 * "skip", "FAIL"); a ratio as "2.15x", "-" for NaN. Each returns buf. */
const char *bench_cell_ms(const bench_result *r, char *buf, size_t size);
const char *bench_cell_rate(const bench_result *r, char *buf, size_t size);
const char *bench_cell_ratio(double ratio, char *buf, size_t size);

/* The first line of a report: clt's version, the benchmark and the device. Where the
 * device did not open (its name is ""), that line says `error` and returns false: there
 * is nothing more to print. */
bool bench_text_header(FILE *out, const char *benchmark, const clt_device_info *d,
                       const char *error);

/* "device": {name, driver, type, ...} inside the open object; null where the device
 * did not open (its name is ""). */
void bench_json_device(json_writer *w, const clt_device_info *d);

/* key: {ran, <rate_key>, median_seconds, warmup_seconds, samples_seconds, note}. */
void bench_json_result(json_writer *w, const char *key, const char *rate_key,
                       const bench_result *r);

/* The beginning every op benchmark's document shares: tool, benchmark, clt_version,
 * device and repeat, inside a newly opened top-level object. */
void bench_json_begin(json_writer *w, const char *benchmark, const clt_device_info *d,
                      int repeat);

/* key: {names[0]: values[0], ...}, n entries (NaN writes null). */
void bench_json_doubles(json_writer *w, const char *key, const char *const *names,
                        const double *values, int n);

/* The end every op benchmark's document shares: "error" (null when `error` is "") and
 * the close of the top-level object. Returns json_finish's verdict. */
bool bench_json_end(json_writer *w, const char *error);

#endif
