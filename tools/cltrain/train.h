/* `cltrain train`: one straight path from text to a trained checkpoint. */
#ifndef CLTRAIN_TRAIN_H
#define CLTRAIN_TRAIN_H

#include <stdbool.h>
#include <stdint.h>

#include <clt/clt.h>

#include "dist.h"
#include "gpt.h"
#include "optim.h"

/* --offload: none keeps everything on the device; host and nvme stream the model
 * through clt's offload engine with master values and optimizer state on that tier. */
enum train_offload { OFFLOAD_NONE, OFFLOAD_HOST, OFFLOAD_NVME };

struct train_opts {
    struct gpt_config cfg;      /* from --model and the explicit shape flags */
    bool cfg_given;             /* false: --resume takes the checkpoint's shape */
    const char *const *data;    /* --data paths; none: the default corpus */
    int n_data;
    int64_t steps;              /* the run's total steps, also across a resume */
    int64_t stop_at;            /* stop after this step (0: at steps), schedule unchanged */
    int batch, accum;           /* batch: sequences per micro-batch on each rank */
    double lr, min_lr_frac;     /* peak rate; cosine decays to min_lr_frac · lr */
    int64_t warmup;             /* steps of linear warmup; < 0: min(100, steps / 10) */
    double weight_decay;        /* < 0: the optimizer's default */
    double clip;                /* global gradient norm bound; 0: no clipping */
    uint64_t seed;
    enum optim_kind optimizer;
    clt_dtype dtype;
    const char *device;         /* NULL: clt's default device; a comma list: a rank takes
                                 * entry local_rank % count */
    struct dist_opts dist;      /* the ranks (dist.h); zeros: one process unless launched
                                 * as more, f32 gradients, unsharded, 25 MiB buckets */
    enum train_offload offload; /* where master values and optimizer state live */
    uint64_t device_mem, host_mem; /* tier budgets in bytes; 0: clt's default */
    const char *nvme_dir;       /* NVME tier directory, or NULL */
    const char *out;            /* checkpoint directory, or NULL */
    const char *resume;         /* checkpoint directory to continue from, or NULL */
    const char *metrics;        /* JSON Lines file, or NULL */
    int64_t eval_every;         /* 0: only at the end */
    int eval_batches;
    int64_t ckpt_every;         /* 0: only at the end (and on Ctrl-C) */
    int64_t log_every;          /* plain lines when not on a terminal; 0: automatic */
    int sample_tokens;          /* generated at the end, 0: none */
    double temperature;
    int top_k;
    /* Called after each step, once its checkpoint (if one was due) is written; tests
     * inject faults here (a disk that fills up). NULL: nothing. */
    void (*after_step)(void *user, int64_t step);
    void *after_step_user;
};

/* Runs the training the options describe; text to stderr, the sample to stdout.
 * Returns the process exit status: 0, 1 on an error (said on stderr), 130 when stopped
 * by SIGINT/SIGTERM after saving. With more than one rank, rank 0 prints the progress,
 * writes the metrics, the checkpoints and the sample; any rank prints its errors as
 * "cltrain: rank R of N: ..."; a signal on any rank stops every rank after the same
 * step. */
int train_run(const struct train_opts *o);

/* The learning rate at `step` (1-based): linear warmup to lr over `warmup` steps, then
 * a cosine to min_lr_frac · lr at `steps`. */
double train_lr_at(const struct train_opts *o, int64_t warmup, int64_t step);

#endif
