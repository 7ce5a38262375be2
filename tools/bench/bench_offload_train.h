/* clt-bench offload, training part: cltrain's GPT model trained in the same run fully
 * resident on --device, and streamed through the offload engine (master values and
 * AdamW state on HOST, then on NVME) with a DEVICE budget of a tenth of what the
 * resident run's DEVICE tier peaks at (its footprint, measured by a first step).
 *
 * Each row is `steps` training steps (forward, backward, the gradients' norm, AdamW
 * with f32 states) timed as one, waited on to the end, the offloaded ones' last update
 * included; the "no optimizer" rows are the same offloaded model, same budget, doing
 * forward, backward and the norm without handing the update to the engine. Rows run
 * interleaved in rounds; figures are medians. Ratios, with the goals of issue 8:
 *   offloaded tokens/s over resident tokens/s   >= 0.7
 *   offloaded step time over its fwd+bwd time   <= 1.15
 * Tokens are a fixed pseudo-random sequence: the figures are about time, not loss. The
 * no-optimizer rows move a little less than a step would: without an update the groups
 * still in a device slot from the backward pass stay current for the next forward.
 * The resident model makes one more step before the rounds (to measure its footprint),
 * so each no-optimizer row's loss is the resident row's last one: the same math. */
#ifndef CLT_BENCH_OFFLOAD_TRAIN_H
#define CLT_BENCH_OFFLOAD_TRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <clt/clt.h>

#include "bench/bench_output.h"
#include "common/json_writer.h"

typedef struct offload_train_opts {
    const char *device;   /* NULL: clt's default device */
    const char *nvme_dir; /* the NVME rows' directory (already resolved) */
    int layers, heads, dim, ctx, batch;
    int steps;            /* training steps per row and round */
    int repeat;
    double budget_fraction; /* of the resident footprint, for the offloaded rows */
} offload_train_opts;

/* In the order each round runs them. */
enum offload_train_row {
    TRAIN_RESIDENT,     /* everything on the device */
    TRAIN_HOST,         /* --offload host at the budget */
    TRAIN_HOST_FWDBWD,  /* the same model without the optimizer */
    TRAIN_NVME,         /* --offload nvme at the budget */
    TRAIN_NVME_FWDBWD,
    TRAIN_ROWS
};

#define TRAIN_RATIOS 4

typedef struct offload_train_row_report {
    bench_result result;       /* samples: seconds per `steps` steps */
    double tokens_per_s;       /* at the median; NaN when it did not run */
    double final_loss;         /* the last step's loss (finite is all it says) */
    uint64_t device_peak;      /* its context's DEVICE peak, bytes */
    bool offloaded;
    clt_offload_stats engine;  /* offloaded: the engine's counters over the last timed
                                * round's `steps` steps */
} offload_train_row_report;

typedef struct offload_train_report {
    bool ran;                  /* the setup got as far as measuring */
    int layers, heads, dim, ctx, vocab, batch, steps, repeat;
    uint64_t params;
    uint64_t footprint;        /* the resident context's DEVICE peak after one step */
    uint64_t budget;           /* DEVICE budget of the offloaded contexts */
    double budget_fraction;
    offload_train_row_report rows[TRAIN_ROWS];
    double ratios[TRAIN_RATIOS];  /* see ratio_names in the .c */
    char error[512];
} offload_train_report;

/* Whether the options' model can be built and trained: else false with a sentence in
 * err naming the flag (--layers, --heads, --dim, --ctx, --batch, --steps). */
bool bench_offload_train_valid(const offload_train_opts *opts, char *err, size_t size);

/* Measures into `report`. Returns 0, or 1 when the setup or a row failed (said in
 * report->error or the row's note). */
int bench_offload_train_run(const offload_train_opts *opts, offload_train_report *report);

/* The part's table, and its "training" object inside the offload document. */
void bench_offload_train_text(const offload_train_report *report, FILE *out);
void bench_offload_train_json(const offload_train_report *report, json_writer *w);

#endif
