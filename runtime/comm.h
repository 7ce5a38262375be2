/* Communicators' insides: a transport (MPI, or one rank alone) behind one table of
 * functions, the thread that makes every transport call, and the queue of jobs it runs
 * in submission order. */
#ifndef CLT_RUNTIME_COMM_H
#define CLT_RUNTIME_COMM_H

#include <pthread.h>
#include <stdbool.h>

#include "clt/comm.h"

/* Transport calls run on the communicator's thread only; they report failures with
 * clt_fail (CLT_ERR_COMM and the transport's own words). */
struct comm_transport {
    const char *name;  /* "MPI", "self" */
    clt_status (*allreduce)(void *impl, void *data, size_t count, clt_dtype dtype,
                            clt_reduce_op op);
    clt_status (*allgather)(void *impl, void *data, const size_t *counts, size_t elem_bytes);
    clt_status (*bcast)(void *impl, void *data, size_t bytes, int root);
    clt_status (*send)(void *impl, const void *data, size_t bytes, int dest);
    clt_status (*recv)(void *impl, void *data, size_t bytes, int source);
    clt_status (*barrier)(void *impl);
    /* A new transport over the same ranks (collective); *out is its impl. */
    clt_status (*dup)(void *impl, void **out);
    /* Frees impl (called on the creating thread after the communicator's thread has
     * ended); finalizes what the open call initialised. */
    void (*close)(void *impl);
};

/* Where a rank is: filled by the transport's open. */
struct comm_place {
    int rank, size, local_rank, local_size;
};

/* Opening runs on the caller's thread. The MPI one fails with CLT_ERR_UNSUPPORTED in a
 * build without MPI. */
clt_status comm_mpi_open(const struct comm_transport **tp, void **impl, struct comm_place *at);
clt_status comm_self_open(const struct comm_transport **tp, void **impl, struct comm_place *at);

/* One unit of the communicator's thread's work. run is called there; its failure
 * sentence is copied into err for the waiter. */
struct comm_job {
    clt_status (*run)(clt_comm *c, struct comm_job *job);
    void *arg;
    char what[160];       /* "all-reduce of 4096 f32 (16.0 KiB)", for a timeout's text */
    /* filled by the thread */
    clt_status status;
    char err[512];
    double busy_s;
    bool done, abandoned; /* abandoned: the waiter gave up; the thread frees the job */
    struct comm_job *next;
};

struct clt_comm {
    const struct comm_transport *tp;
    void *impl;
    struct comm_place at;
    double timeout_s;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake, done;  /* work for the thread; a job finished */
    struct comm_job *head, *tail;
    bool quit, running;         /* running: a job is in the transport */
    double last_progress;       /* monotonic seconds: submission, start or end of a job */
    char broken[512];           /* set once a wait times out: every later call fails */
    clt_comm_stats stats;
};

double comm_now(void);

/* Queues job (malloc'ed by the caller, zeroed but for run, arg and what) for the
 * thread; the job is the thread's until it is done. */
void comm_submit(clt_comm *c, struct comm_job *job);
/* Waits for job: its status, with its sentence set on this thread. Fails with
 * CLT_ERR_COMM when the communicator makes no progress for timeout_s (the job is then
 * left to the thread and the communicator is broken). Frees the job either way. */
clt_status comm_wait(clt_comm *c, struct comm_job *job);
/* CLT_ERR_COMM with the broken sentence when the communicator is broken, else CLT_OK. */
clt_status comm_check(const clt_comm *c, const char *fn);

/* The per-rank wire bytes of the ring algorithms, added to the stats by the thread. */
void comm_count(clt_comm *c, uint64_t *field, uint64_t payload, uint64_t wire);

#endif
