/* The offload engine's schedule, shared by offload_worker.c (the worker thread and its
 * queue of group updates), offload_optim.c (one group's update) and offload_nvme.c (the
 * I/O thread that stages NVME masters and states through two HOST buffers).
 *
 * A group's update is a job: AFTER_BACKWARD step() queues every group in order;
 * EAGER grads_ready(g) queues g as soon as its gradient copy is enqueued, with a marker
 * transfer behind it whose event the worker waits on. Data parallel, a job may first
 * all-reduce the group's gradients (or only that: AFTER_BACKWARD queues such a job where
 * the gradients land, with a marker too, and grad_sqnorm for the groups left); the
 * collectives are the worker's, on the engine's own communicator, in job order, which
 * is the same on every rank since every rank makes the same calls. The worker runs jobs
 * in the order queued; the I/O thread reads ahead the groups the worker will update (the
 * one it runs, the queued ones, then a guess: the group that followed the last one in
 * the previous eager step) and writes back the ones it has updated. Everything here is
 * guarded by the engine's lock and signalled on its cond, except where a field says
 * whose it is. */
#ifndef CLT_RUNTIME_OFFLOAD_SCHED_H
#define CLT_RUNTIME_OFFLOAD_SCHED_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clt/offload.h"

struct clt_offload_job {
    int group;
    float lr, scale;
    int64_t step;
    bool landing;           /* wait for the marker first */
    bool reduce;            /* all-reduce the group's gradients over the ranks */
    bool update;            /* run the optimizer (else the job is only the above) */
    bool eager;             /* gate the update on the group's own sqnorm */
};

/* A staging buffer's life: FREE → READING → READY → UPDATING → DIRTY → WRITING → FREE,
 * or UPDATING → FREE when the worker changed nothing (skipped, failed). */
enum clt_offload_stage_state {
    CLT_STAGE_FREE,
    CLT_STAGE_READING,      /* the I/O thread reads the group's master + state in */
    CLT_STAGE_READY,
    CLT_STAGE_UPDATING,     /* the worker runs the group's ops on it */
    CLT_STAGE_DIRTY,
    CLT_STAGE_WRITING,      /* the I/O thread writes it back */
};

struct clt_offload_stage {
    int group;              /* -1 when FREE */
    int64_t step;           /* the step of the job it was read for (for the trace) */
    enum clt_offload_stage_state state;
};

struct clt_offload_sched {
    int n;                  /* groups */
    struct clt_offload_job *queue; /* a ring of n: at most one job per group */
    int head, count;
    int running;            /* the group the worker has taken, -1 */
    int64_t running_step;
    bool running_update;    /* ... for an update (not only an all-reduce) */
    int *pending;           /* per group: jobs queued or running (0 or 1) */

    /* EAGER: the step begun, and which groups it handed over (armed, lr, scale, step,
     * n_posted, posted: the caller's thread only; the jobs carry copies) */
    bool armed;
    bool handed_over;       /* every group of the step was handed over: the next grad()
                               starts the next step's gradients */
    float lr, scale;
    int64_t step;
    int n_posted, last_posted;
    bool *posted;
    int *after;             /* the group handed over after g last time, -1 */
    clt_event **marker;     /* per group: completes after its gradient copy; the
                               caller's while g has no job pending, then the worker's */
    unsigned char *marker_bytes; /* 4 per group: where the marker reads to */
    int64_t *skipped_at;    /* the step whose update the inf/NaN gate skipped, 0 */

    /* NVME staging in off->staging[k] */
    struct clt_offload_stage stage[2];
    pthread_t io;
    bool io_started, io_quit;
};

/* offload_optim.c: job's group updated (the master and state staged first when they
 * are on NVME), or, for an eager job whose gradients hold inf or NaN, *skipped. */
clt_status clt_offload_update_group(clt_offload *off, const struct clt_offload_job *job,
                                    bool *skipped);

/* offload_nvme.c: where a group's state starts in a staging buffer (its master at 0). */
struct clt_offload_group;
size_t clt_offload_staged_state_at(const struct clt_offload_group *g);
/* The I/O thread, started when the master tier is NVME. */
clt_status clt_offload_stage_start(clt_offload *off);
void clt_offload_stage_stop(clt_offload *off);
/* The worker: waits until a staging buffer holds group g's master + state and takes it
 * (*k); counts the wait in nvme_wait_s. Fails when the engine has failed. */
clt_status clt_offload_stage_acquire(clt_offload *off, int g, int *k);
/* ... and gives it back: written back when dirty, else dropped. */
void clt_offload_stage_release(clt_offload *off, int k, bool dirty);
/* Under the lock: no staging under way or waiting to be written. */
bool clt_offload_stage_idle(const clt_offload *off);
/* Under the lock, once idle: drops read-aheads nobody took (guesses), since the master
 * tier may be written directly from now on. */
void clt_offload_stage_drop_guesses(clt_offload *off);
/* Under the lock: records the engine's first failure (text: clt_last_error()). */
void clt_offload_fail_locked(clt_offload *off, clt_status s, int group, int64_t step);
/* Called under the lock, which it releases: the engine's recorded failure, if any, as a
 * clt_fail on this thread ("offload: <what> failed (...)"). */
clt_status clt_offload_unlock_and_report(clt_offload *off, const char *what);

#endif
