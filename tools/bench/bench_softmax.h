/* clt-bench softmax: clt's two-pass row softmax against its three-pass one (both
 * through clt_softmax_args.algo) and against a device-to-device copy of the same bytes
 * (clt_buffer_copy), in one run: times, effective bandwidth, ratios. Measuring
 * (bench_softmax.c) and reporting (bench_softmax_report.c) are apart. */
#ifndef CLT_BENCH_SOFTMAX_H
#define CLT_BENCH_SOFTMAX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <clt/clt.h>

#include "bench/bench_output.h"

#define SOFTMAX_MAX_SHAPES 16

/* rows × cols: `rows` softmaxes over `cols` values each. */
typedef struct softmax_shape {
    int64_t rows, cols;
} softmax_shape;

/* Parses "NxV" (each 1..2^24, at most 2^31 values in all). False if it is not one. */
bool softmax_shape_parse(const char *text, softmax_shape *out);

/* "256x50257". Returns buf. */
const char *softmax_shape_format(const softmax_shape *s, char *buf, size_t size);

/* The built-in shapes, or the --quick ones; returns how many (max >= 2). */
int softmax_shapes_default(bool quick, softmax_shape *out, int max);

typedef struct softmax_bench_opts {
    const char *device;                 /* NULL: clt's default device */
    int repeat;                         /* timed rounds per row */
    bool dtypes[CLT_FLOAT_DTYPE_COUNT];
    softmax_shape shapes[SOFTMAX_MAX_SHAPES];
    int n_shapes;
} softmax_bench_opts;

/* Both algorithms' f32 results against a double-precision host softmax. */
typedef struct softmax_check {
    bool ran;
    double two_pass_error, three_pass_error; /* max |diff| / max |reference| */
    double tolerance;
    bool ok;
} softmax_check;

typedef struct softmax_row {
    softmax_shape shape;
    clt_dtype dtype;
    /* The byte model: what each one moves, in storage bytes (see the report). */
    double two_pass_bytes, three_pass_bytes, copy_bytes;
    char kernel_two_pass[160], kernel_three_pass[160];  /* clt_op_describe */
    bool fallback;                       /* clt ran softmax on the host */
    bench_result two_pass, three_pass, copy;  /* rate: GB/s */
    double two_over_three;               /* two-pass's speed over three-pass's */
    double two_pass_over_copy, three_pass_over_copy;   /* GB/s over the copy's GB/s */
    softmax_check check;                 /* f32 rows */
} softmax_row;

typedef struct softmax_report {
    clt_device_info device;
    int repeat;
    softmax_row rows[SOFTMAX_MAX_SHAPES * CLT_FLOAT_DTYPE_COUNT];
    int n_rows;
    char error[512];                     /* a failure that stopped the run, else "" */
} softmax_report;

/* Measures everything `opts` asks for into `report`. Returns the exit status: 0, or 1
 * when clt failed or a check found a mismatch. */
int bench_softmax_run(const softmax_bench_opts *opts, softmax_report *report);

void bench_softmax_text(const softmax_report *report, FILE *out);

/* One JSON document on `out`. False if it could not be written. */
bool bench_softmax_json(const softmax_report *report, FILE *out);

#endif
