/* clt-bench attention: clt's attention forward and backward against a naive,
 * materialised OpenCL implementation on the same device (peer_naive_attention.h),
 * length by length and dtype by dtype, in one run: times, GFLOP/s, ratios, and the
 * device memory each needs. Measuring (bench_attention.c) and reporting
 * (bench_attention_report.c) are apart. */
#ifndef CLT_BENCH_ATTENTION_H
#define CLT_BENCH_ATTENTION_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <clt/clt.h>

#include "bench/bench_output.h"

#define ATTENTION_MAX_SEQS 16

typedef struct attention_bench_opts {
    const char *device;                 /* NULL: clt's default device */
    int repeat;                         /* timed rounds per row */
    bool dtypes[CLT_FLOAT_DTYPE_COUNT]; /* which storage dtypes to measure */
    int64_t batch, heads, dim;
    int64_t seqs[ATTENTION_MAX_SEQS];   /* the lengths T, one row each per dtype */
    int n_seqs;
    bool causal;
} attention_bench_opts;

/* One implementation's times: the forward pass, the backward pass, and the two
 * together (round-by-round sums: a training step's attention). */
typedef struct attention_times {
    bench_result fwd, bwd, fwd_bwd;
} attention_times;

/* clt's f32 results against the naive peer's, from the same inputs. */
typedef struct attention_check {
    bool ran;
    double max_abs_diff[4];   /* o, dq, dk, dv */
    double max_rel_error;     /* the largest max_abs_diff / max |naive| of the four */
    double tolerance;
    bool ok;
} attention_check;

typedef struct attention_row {
    int64_t seq;
    clt_dtype dtype;                 /* storage of q, k, v, o, dout, dq, dk, dv */
    double fwd_flops, bwd_flops;     /* the FLOP model's counts (see the report) */
    char kernel_fwd[160], kernel_bwd[160];  /* clt_op_describe */
    bool fallback;                   /* clt ran an op on the host instead of the device */
    attention_times clt, naive;      /* naive: f32, measured with the length's first row */
    /* clt's speed over the naive's (naive time / clt time); NaN where one is missing. */
    double clt_over_naive_fwd, clt_over_naive_bwd, clt_over_naive_fwd_bwd;
    /* clt's device-tier peak (clt_context_stats), the bytes of the tensors the caller
     * allocates (q, k, v, o, lse, dout, dq, dk, dv, delta), and the difference: what clt
     * needed beyond them. The naive peer's bytes, and those of its T×T matrices. */
    uint64_t clt_peak_bytes, clt_tensor_bytes;
    int64_t clt_beyond_tensors_bytes;
    uint64_t naive_bytes, naive_tt_bytes;
    attention_check check;           /* f32 rows where the naive ran */
} attention_row;

typedef struct attention_report {
    clt_device_info device;
    int repeat;
    int64_t batch, heads, dim;
    bool causal;
    float scale;
    char naive[256];                 /* what the naive peer is, or why it is absent */
    attention_row rows[ATTENTION_MAX_SEQS * CLT_FLOAT_DTYPE_COUNT];
    int n_rows;
    char error[512];                 /* a failure that stopped the run, else "" */
} attention_report;

/* Measures everything `opts` asks for into `report`. Returns the exit status: 0, or 1
 * when clt failed (a row's note, or report->error) or a check found a mismatch. */
int bench_attention_run(const attention_bench_opts *opts, attention_report *report);

/* The table, the models behind its figures, notes and checks, as text. */
void bench_attention_text(const attention_report *report, FILE *out);

/* One JSON document on `out`. False if it could not be written. */
bool bench_attention_json(const attention_report *report, FILE *out);

#endif
