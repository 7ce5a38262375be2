/* clt-bench gemm: clt's GEMM against CBLAS on the host and CLBlast on the same OpenCL
 * device, shape by shape and dtype by dtype, in one run. Measuring and reporting are
 * apart: bench_gemm_run fills a gemm_report, bench_report.h prints it. */
#ifndef CLT_BENCH_GEMM_H
#define CLT_BENCH_GEMM_H

#include <stdbool.h>

#include <clt/clt.h>

#include "bench/bench_stats.h"
#include "bench/gemm_shapes.h"

typedef struct gemm_bench_opts {
    const char *device;               /* NULL: clt's default device */
    bool tune;                        /* clt_tune(FORCE|PEERS) before measuring */
    int repeat;                       /* timed runs per measurement */
    bool dtypes[CLT_FLOAT_DTYPE_COUNT];     /* which storage dtypes to measure */
    bench_shape shapes[BENCH_MAX_SHAPES];
    int n_shapes;
    double peer_call_limit_s;         /* skip CLBlast where one call would take longer */
} gemm_bench_opts;

/* One implementation's measurement of one row. */
typedef struct gemm_measure {
    bool ran;                /* samples and gflops are valid */
    bench_samples samples;
    double gflops;           /* from the median time */
    char note[160];          /* why it did not run ("n/a: ...", "skipped: ..."), or "" */
} gemm_measure;

typedef struct gemm_row {
    bench_shape shape;
    clt_dtype dtype;         /* storage of A, B and C */
    char kernel[160];        /* clt_op_describe: the kernel clt ran */
    gemm_measure clt, cblas, clblast;
    /* NaN where either side is missing. */
    double clt_over_cblas, clt_over_clblast;
    double clt_over_clt_f32; /* f16/bf16 rows: against clt's f32 row of the same shape */
} gemm_row;

typedef struct gemm_report {
    clt_device_info device;
    bool tuned;
    double tune_seconds;
    int repeat;
    char cblas[256];         /* what the CBLAS peer is, or why it is absent */
    char clblast[256];       /* "CLBlast on <device>", or why it is absent */
    double peer_call_limit_s;
    gemm_row rows[BENCH_MAX_SHAPES * CLT_FLOAT_DTYPE_COUNT];
    int n_rows;
    /* The correctness check: clt's f32 result against a reference on one shape. */
    bool checked;
    bench_shape check_shape;
    char check_reference[32];   /* "cblas" or "naive" */
    double check_max_rel_error;
    double check_tolerance;
    bool check_ok;
    char error[512];            /* a failure that stopped the run, else "" */
} gemm_report;

/* Measures everything `opts` asks for into `report`. Returns the exit status: 0, or 1
 * when the run failed (report->error) or the check found a mismatch. */
int bench_gemm_run(const gemm_bench_opts *opts, gemm_report *report);

#endif
