/* clt-bench optim: the host optimizer (what offloaded training runs its optimizer on)
 * against the machine's memory roofline, in one run, interleaved: clt's host AdamW with
 * f32 and 8-bit states (all the host device's threads), a STREAM-triad style kernel
 * moving AdamW's 28 bytes per parameter on all cores (read p, g, m, v; write p, m, v),
 * a plain single-thread scalar AdamW loop, and the --device's AdamW, f32 and 8-bit.
 * 8-bit AdamW runs with bitsandbytes' block of 256 (clt's default) and the paper's
 * 2048, whose absmax overhead is 8× smaller (2.004 against 2.031 bytes per parameter).
 * Rates are Gparam/s at the median; "of roofline" is a rate over the triad's. */
#ifndef CLT_BENCH_OPTIM_H
#define CLT_BENCH_OPTIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <clt/clt.h>

#include "bench/bench_output.h"

typedef struct optim_bench_opts {
    const char *device;   /* NULL: clt's default device, for the device rows */
    int64_t params;       /* parameters per tensor */
    int repeat;
} optim_bench_opts;

enum optim_row {
    OPTIM_HOST_F32,      /* clt host AdamW, f32 states */
    OPTIM_TRIAD,         /* the roofline: 28 bytes per parameter on every core */
    OPTIM_SCALAR,        /* one thread, plain C AdamW loop */
    OPTIM_HOST_Q8,       /* clt host AdamW, 8-bit states, block 256 (the default) */
    OPTIM_HOST_Q8_2048,  /* the same with the paper's block of 2048 */
    OPTIM_DEVICE_F32,    /* clt_op_run on --device */
    OPTIM_DEVICE_Q8,
    OPTIM_ROWS
};

typedef struct optim_report {
    clt_device_info host, device;
    int64_t params;
    int repeat, triad_threads;
    bench_result rows[OPTIM_ROWS];      /* rate: Gparam/s */
    double of_roofline[OPTIM_ROWS];     /* rate over the triad's */
    double speedup_over_scalar;         /* host f32 over the scalar loop */
    double q8_state_bytes;              /* bytes of AdamW state per parameter, q8 at
                                         * the default block */
    double q8_2048_state_bytes;         /* the same at block 2048 */
    char error[512];
} optim_report;

/* Measures into `report`. Returns 0, or 1 when a clt run failed. */
int bench_optim_run(const optim_bench_opts *opts, optim_report *report);

void bench_optim_text(const optim_report *report, FILE *out);
bool bench_optim_json(const optim_report *report, FILE *out);

#endif
