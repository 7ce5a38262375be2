/* The offload engine's insides, shared by its files: offload.c (groups, plan, master
 * values), offload_transfer.c (slots, fetch, gradients), offload_worker.c (the worker
 * thread and its schedule), offload_optim.c (a group's host optimizer update),
 * offload_nvme.c (NVME staging), offload_stats.c (counters and trace). */
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
 * pending update (which reads the host gradients the copy overwrites); EAGER: refuses a
 * group already handed over in the begun step. */
clt_status clt_offload_grads_prepare(clt_offload *off, int id);
/* EAGER, from grads_ready once group id's gradient copy is enqueued: hands its update
 * to the worker when a step is begun (clt_offload_begin_step); CLT_OK otherwise. */
clt_status clt_offload_eager_post(clt_offload *off, int id);
/* EAGER: CLT_OK unless a begun step still waits for some group's grads_ready. */
clt_status clt_offload_eager_complete(clt_offload *off, const char *fn);

/* offload_optim.c */
/* The host pointer of a HOST-tier buffer, or of a HOST_PINNED one the plan mapped. */
void *clt_offload_host_ptr(clt_buffer *buf);
/* Rewrites the host working copy of group g from its master values (NVME: staged). */
clt_status clt_offload_convert_work(clt_offload *off, int g);
/* Σ g² over the host gradients of every group, with the host driver's SQNORM. */
clt_status clt_offload_host_sqnorm(clt_offload *off, float *out);

/* CLT_OK when off is planned and id names one of its groups; else CLT_ERR_INVALID_ARG
 * with a sentence that starts with fn. */
clt_status clt_offload_check_group(const clt_offload *off, const char *fn, int id);

#endif
