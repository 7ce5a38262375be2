/* The offload engine's insides, shared by its files: offload.c (groups, plan, master
 * values), offload_transfer.c (slots, fetch, gradients), offload_worker.c (the worker
 * thread and its schedule), offload_optim.c (a group's host optimizer update),
 * offload_nvme.c (NVME staging), offload_dp.c (data parallel: the gradient all-reduce,
 * sharded state, the masters' broadcast), offload_stats.c (counters and trace). */
#ifndef CLT_RUNTIME_OFFLOAD_H
#define CLT_RUNTIME_OFFLOAD_H

#include <pthread.h>

#include "clt/offload.h"
#include "runtime/driver.h"

#define CLT_OFFLOAD_MAX_STATES 4

struct clt_offload_tensor_state {
    clt_offload_tensor t;
    bool q8;
    int n_states;
    size_t state_off[CLT_OFFLOAD_MAX_STATES]; /* bytes into the state buffer */
    clt_dtype state_dtype[CLT_OFFLOAD_MAX_STATES];
    size_t state_numel[CLT_OFFLOAD_MAX_STATES];
};

struct clt_offload_group {
    size_t numel, first;           /* elements; first: offset in the layout */
    size_t state_first, state_bytes;  /* its range of the state buffer */
    int n_tensors;
    struct clt_offload_tensor_state *tensors;
    bool resident;
    clt_buffer *dev_work, *dev_grad;  /* resident: its own; else its slot's while held */
    int slot, grad_slot;           /* -1: none */
    bool held;                     /* fetched and not released */
    uint64_t host_version;         /* bumped when the host working copy changes */
    uint64_t dev_version;          /* the version in the slot (0: none) */
    bool grads_this_step;          /* copied out since the last step() */
    clt_event *upload, *grad_read;
    /* data parallel (offload_dp.c) */
    bool reduced;                  /* the host gradients are the ranks' sum (the lock) */
    int lands, lands_last;         /* grads_ready calls this step, and in the last one */
    bool reduce_posted;            /* reduced where it landed this step (AFTER_BACKWARD) */
};

struct clt_offload_slot {
    clt_buffer *buf;
    int group; /* -1: empty */
    uint64_t last_use;
    int reader; /* gradient slots: the group whose grad_read copies it out last; -1 */
};

struct clt_offload {
    clt_context *ctx;
    clt_offload_opts opts;
    struct clt_dev *host_dev;
    double t0;
    size_t es;                     /* bytes per element of work_dtype */

    struct clt_offload_group *groups;
    int n_groups, cap_groups;
    size_t total, state_total;     /* elements; bytes */
    size_t max_streamed;           /* elements of the largest streamed group */
    bool planned;

    clt_buffer *master, *state;    /* master tier */
    clt_buffer *grads, *work;      /* HOST or HOST_PINNED (plan info's host_tier); work
                                      NULL when master doubles as it */
    clt_buffer *staging[2];        /* HOST: NVME groups' master + state, double-buffered */
    size_t staging_bytes;
    clt_buffer *norm;              /* HOST: 4 bytes for the sqnorm */
    struct clt_offload_slot *slots, *grad_slots;
    uint64_t use_clock;

    /* the worker: runs the group updates queued for it, in order (offload_worker.c;
     * the queue, the eager step and NVME staging are in sched, offload_sched.h) */
    pthread_t worker;
    bool worker_started, quit;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct clt_offload_sched *sched;
    int64_t job_step;              /* the last step handed to the worker */
    clt_status job_status;         /* its first failure, kept */
    char job_error[512];

    clt_offload_stats stats;       /* guarded by lock where the worker writes */

    /* data parallel (offload_dp.c): the worker's duplicate of the caller's comm */
    clt_comm *comm;                /* NULL: one process */
    int rank, size;
    bool shard;                    /* each rank keeps the state of the groups it owns */
    size_t state_base, state_kept; /* bytes: the owned groups' part of the state layout
                                      (all of it unsharded), which off->state holds */
};

double clt_offload_now(void);
void clt_offload_trace(clt_offload *off, clt_offload_event ev, int group, int64_t step);

/* offload_transfer.c */
void clt_offload_free_events(clt_offload *off);

/* offload_worker.c */
clt_status clt_offload_worker_start(clt_offload *off);
void clt_offload_worker_stop(clt_offload *off);
/* Waits until group id's pending update is done; reports the worker's failure. Adds
 * the wait to *waited. */
clt_status clt_offload_wait_group(clt_offload *off, int id, double *waited);
/* Hands a step's update to the worker (AFTER_BACKWARD). */
clt_status clt_offload_worker_post(clt_offload *off, float lr, int64_t step, float grad_scale);
/* From grads_ready before group id's gradient copy is enqueued: waits for the group's
 * pending update (which reads the host gradients the copy overwrites), then (data
 * parallel) marks them as not reduced; EAGER: refuses a group already handed over in
 * the begun step. */
clt_status clt_offload_grads_prepare(clt_offload *off, int id);
/* From grads_ready once group id's gradient copy is enqueued: EAGER, hands its update
 * to the worker when a step is begun (clt_offload_begin_step); otherwise, data
 * parallel, its all-reduce where clt_offload_dp_landed says so; else CLT_OK. */
clt_status clt_offload_post_landed(clt_offload *off, int id);
/* EAGER: CLT_OK unless a begun step still waits for some group's grads_ready. */
clt_status clt_offload_eager_complete(clt_offload *off, const char *fn);
/* Data parallel, from grad_sqnorm once every gradient has landed: queues the all-reduce
 * of every group not reduced nor on its way, and waits until all are (grad_wait_s). */
clt_status clt_offload_reduce_rest(clt_offload *off, const char *fn);

/* offload_optim.c */
/* The host pointer of a HOST-tier buffer, or of a HOST_PINNED one the plan mapped. */
void *clt_offload_host_ptr(clt_buffer *buf);
/* Rewrites the host working copy of group g from its master values (NVME: staged). */
clt_status clt_offload_convert_work(clt_offload *off, int g);
/* Σ g² over the host gradients of every group, with the host driver's SQNORM. */
clt_status clt_offload_host_sqnorm(clt_offload *off, float *out);
/* Group g's host gradients times alpha, with the host driver's SCALE. */
clt_status clt_offload_scale_grads(clt_offload *off, int g, float alpha);

/* offload_dp.c */
/* Whether this rank keeps group g's state and runs its optimizer (always unsharded). */
bool clt_offload_owns(const clt_offload *off, int g);
/* Bytes of optimizer state this rank keeps: the owned groups' part of the layout. */
size_t clt_offload_owned_state_bytes(const clt_offload *off);
/* From plan(): state_base and state_kept, the owned groups' part of the layout. */
void clt_offload_shard_state(clt_offload *off);
/* Bytes of group g's state this rank keeps (0: another rank's), at *at in off->state. */
size_t clt_offload_kept_state(const clt_offload *off, int g, size_t *at);
/* The worker: group g's host gradients summed over the ranks, in place. */
clt_status clt_offload_reduce_grads(clt_offload *off, int g);
/* The worker, sharded, once group g is updated on its owner: its master values (at
 * master: the master tier, or a staging buffer) from the owner to every rank; the
 * others write their working copies from them. */
clt_status clt_offload_share_master(clt_offload *off, int g, float *master);
/* From clt_offload_grad: a fresh gradient (not accumulating) starts the group's count
 * of landings; accumulating onto a group reduced where it landed brings back this
 * rank's share (the sum divided by size). */
clt_status clt_offload_dp_grad(clt_offload *off, int g, bool accumulating);
/* From grads_ready (AFTER_BACKWARD, or EAGER outside a begun step), once group g's
 * gradient copy is enqueued: counts the landing; whether to all-reduce the group now
 * (it landed as often as last step: its gradients are expected to be final). */
bool clt_offload_dp_landed(clt_offload *off, int g);

/* CLT_OK when off is planned and id names one of its groups; else CLT_ERR_INVALID_ARG
 * with a sentence that starts with fn. */
clt_status clt_offload_check_group(const clt_offload *off, const char *fn, int id);

#endif
