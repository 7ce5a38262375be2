/* What a person sees while cltrain runs, and what a script reads afterwards.
 *
 * On a terminal the progress line is redrawn in place after every step; piped, plain
 * lines come every `every` steps and at each evaluation, so a log stays readable.
 * Metrics, when a path is given, are JSON Lines: one object per step ("type":"train"),
 * per evaluation ("val") and one at the end ("summary"); the file is flushed per line,
 * so a run that dies keeps what it measured. Every record of a step and the summary
 * carry the memory per tier; an offloaded run's also carry "offload": bytes to and from
 * the device, NVMe bytes read and written, the milliseconds of the host optimizer and
 * of NVMe staging, and of each wait (fetches for the optimizer, the gradients, the
 * optimizer for NVMe staging). A data-parallel run's also carry "comm": bytes all-reduced
 * and all-gathered, the gradients' all-reduce time, the part of it not hidden behind the
 * backward pass and the hidden fraction, the ranks and this rank's optimizer state. */
#ifndef CLTRAIN_PROGRESS_H
#define CLTRAIN_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <clt/clt.h>

/* A data-parallel run's communication (dist.h): of a step, or the run's totals. */
struct comm_report {
    int ranks;
    uint64_t bytes_reduced;  /* all-reduce payload: the gradients and the step's values */
    uint64_t bytes_gathered; /* all-gather payload: the sharded master parameters */
    uint64_t bytes_sent;     /* what this rank put on the wire (clt_comm_stats' model) */
    uint64_t grad_bytes;     /* of bytes_reduced, the gradients (in the wire dtype) */
    double reduce_s;         /* the gradients' all-reduce */
    double exposed_s;        /* of it, not hidden behind the backward pass */
    uint64_t state_bytes;    /* optimizer state on this rank */
};

struct step_report {
    int64_t step, total;
    double loss, lr, grad_norm;
    double tokens_per_s, ms_step, ms_forward, ms_backward, ms_optim;
    double eta_s;
    bool skipped;          /* inf/NaN gradients: the optimizer left everything as it was */
    double loss_scale;     /* f16 dynamic loss scale; 1 otherwise */
    uint64_t mem_used[CLT_TIER_COUNT];
    /* offloaded runs: what the engine moved and waited for during this step (the
     * difference of its counters; the host optimizer of a step runs during the next) */
    bool offloaded;
    clt_offload_stats offload;
    bool dist;             /* more than one rank, or --comm: "comm" in the record */
    struct comm_report comm;
};

struct run_summary {
    int64_t steps_run, last_step, skipped;
    double seconds, tokens, tokens_per_s;
    double ms_step, ms_forward, ms_backward, ms_optim; /* means over the run's steps */
    double final_loss, val_loss;                       /* NaN when not measured */
    uint64_t mem_peak[CLT_TIER_COUNT];
    const char *checkpoint;                            /* NULL when none was written */
    bool offloaded;
    clt_offload_stats offload;                         /* the run's totals */
    bool dist;
    struct comm_report comm;                           /* the run's totals */
    bool shard;
    const char *wire;                                  /* "f32", "bf16" */
    const uint64_t *state_bytes;                       /* per rank, comm.ranks of them */
};

typedef struct progress progress;

/* Text goes to `out` (stderr in cltrain; NULL: none, the ranks but 0 of a data-parallel
 * run). metrics_path may be NULL; it is opened for appending, so a resumed run continues
 * its file. false with err when it cannot be
 * opened. */
bool progress_open(FILE *out, const char *metrics_path, int64_t every, progress **p,
                   char *err, size_t cap);
void progress_step(progress *p, const struct step_report *r);
void progress_eval(progress *p, int64_t step, double val_loss);
/* A line of text that should not be overdrawn (the plan, a warning). */
void progress_note(progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void progress_summary(progress *p, const struct run_summary *s);
void progress_close(progress *p);

/* "1h02m", "3m05s", "12s" */
const char *progress_duration(double seconds, char *buf, size_t size);

#endif
