/* Communicators (clt/comm.h): the thread that makes a transport's calls, the queue it
 * runs, the deadline callers wait with, and the public collectives as jobs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/comm.h"
#include "runtime/error.h"

#define DEFAULT_TIMEOUT_S 600.0

double comm_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

void clt_comm_opts_init(clt_comm_opts *opts)
{
    if (!opts)
        return;
    memset(opts, 0, sizeof *opts);
    opts->transport = CLT_COMM_MPI;
}

bool clt_comm_has_mpi(void)
{
#ifdef CLT_HAVE_MPI
    return true;
#else
    return false;
#endif
}

int clt_comm_launch_size(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE",
                                       "MV2_COMM_WORLD_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        char *end = NULL;
        long n = v ? strtol(v, &end, 10) : 0;
        if (v && end != v && *end == '\0' && n >= 1 && n <= 1 << 24)
            return (int)n;
    }
    return 1;
}

/* ---- the thread ------------------------------------------------------------------- */

static void *comm_thread(void *arg)
{
    clt_comm *c = arg;
    pthread_mutex_lock(&c->lock);
    for (;;) {
        while (!c->head && !c->quit)
            pthread_cond_wait(&c->wake, &c->lock);
        if (!c->head)
            break;
        struct comm_job *job = c->head;
        c->head = job->next;
        if (!c->head)
            c->tail = NULL;
        c->last_progress = comm_now();
        c->running = true;
        pthread_mutex_unlock(&c->lock);

        const double t0 = comm_now();
        job->status = job->run(c, job);
        if (job->status != CLT_OK)
            snprintf(job->err, sizeof job->err, "%s", clt_last_error());
        job->busy_s = comm_now() - t0;

        pthread_mutex_lock(&c->lock);
        c->stats.collectives++;
        c->stats.busy_s += job->busy_s;
        c->last_progress = comm_now();
        c->running = false;
        job->done = true;
        if (job->abandoned)
            free(job);
        pthread_cond_broadcast(&c->done);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

void comm_submit(clt_comm *c, struct comm_job *job)
{
    job->next = NULL;
    pthread_mutex_lock(&c->lock);
    if (c->tail)
        c->tail->next = job;
    else
        c->head = job;
    c->tail = job;
    if (!c->head->next) /* the queue was empty: the clock starts now */
        c->last_progress = comm_now();
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->lock);
}

clt_status comm_wait(clt_comm *c, struct comm_job *job)
{
    const double t0 = comm_now();
    pthread_mutex_lock(&c->lock);
    while (!job->done) {
        const double deadline = c->last_progress + c->timeout_s;
        const double now = comm_now();
        if (now >= deadline) {
            job->abandoned = true;
            snprintf(c->broken, sizeof c->broken,
                     "rank %d of %d: %s made no progress for %.0f s (the communicator's "
                     "timeout, CLT_COMM_TIMEOUT): another rank has died, hung, or called a "
                     "different collective; this communicator can no longer be used",
                     c->at.rank, c->at.size, job->what, c->timeout_s);
            c->stats.wait_s += now - t0;
            pthread_mutex_unlock(&c->lock);
            return clt_fail(CLT_ERR_COMM, "%s", c->broken);
        }
        struct timespec ts;
        const double wake = deadline < now + 1.0 ? deadline : now + 1.0;
        ts.tv_sec = (time_t)wake;
        ts.tv_nsec = (long)((wake - (double)ts.tv_sec) * 1e9);
        pthread_cond_timedwait(&c->done, &c->lock, &ts);
    }
    c->stats.wait_s += comm_now() - t0;
    pthread_mutex_unlock(&c->lock);
    const clt_status s = job->status;
    if (s != CLT_OK)
        clt_fail(s, "rank %d of %d: %s: %s", c->at.rank, c->at.size, job->what, job->err);
    free(job);
    return s;
}

clt_status comm_check(const clt_comm *c, const char *fn)
{
    if (!c)
        return clt_fail(CLT_ERR_INVALID_ARG, "%s: comm is NULL", fn);
    if (c->broken[0])
        return clt_fail(CLT_ERR_COMM, "%s: %s", fn, c->broken);
    return CLT_OK;
}

void comm_count(clt_comm *c, uint64_t *field, uint64_t payload, uint64_t wire)
{
    pthread_mutex_lock(&c->lock);
    *field += payload;
    c->stats.bytes_sent_model += wire;
    pthread_mutex_unlock(&c->lock);
}

/* ---- making and ending -------------------------------------------------------------- */

static clt_status comm_start(const struct comm_transport *tp, void *impl,
                             const struct comm_place *at, double timeout_s, clt_comm **out)
{
    clt_comm *c = calloc(1, sizeof *c);
    if (!c) {
        tp->close(impl);
        return clt_fail(CLT_ERR_OUT_OF_MEMORY, "clt_comm_create: out of host memory");
    }
    c->tp = tp;
    c->impl = impl;
    c->at = *at;
    c->timeout_s = timeout_s;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->wake, NULL);
    pthread_cond_init(&c->done, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&c->thread, NULL, comm_thread, c) != 0) {
        pthread_cond_destroy(&c->done);
        pthread_cond_destroy(&c->wake);
        pthread_mutex_destroy(&c->lock);
        tp->close(impl);
        free(c);
        return clt_fail(CLT_ERR_OUT_OF_MEMORY, "clt_comm_create: cannot start its thread");
    }
    *out = c;
    return CLT_OK;
}

/* The timeout the options ask for, else CLT_COMM_TIMEOUT's, else the default. */
static clt_status resolve_timeout(double asked, double *out)
{
    if (asked < 0 || isnan(asked))
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_comm_create: opts.timeout_s is %g; give "
                                             "seconds > 0, or 0 for the default", asked);
    if (asked > 0) {
        *out = asked;
        return CLT_OK;
    }
    const char *env = getenv("CLT_COMM_TIMEOUT");
    if (env && *env) {
        char *end = NULL;
        const double v = strtod(env, &end);
        if (end == env || *end != '\0' || !(v > 0) || isinf(v))
            return clt_fail(CLT_ERR_INVALID_ARG, "clt_comm_create: CLT_COMM_TIMEOUT is "
                                                 "\"%s\"; give seconds > 0", env);
        *out = v;
        return CLT_OK;
    }
    *out = DEFAULT_TIMEOUT_S;
    return CLT_OK;
}

clt_status clt_comm_create(const clt_comm_opts *opts, clt_comm **out)
{
    if (!out)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_comm_create: out is NULL");
    *out = NULL;
    clt_comm_opts o;
    clt_comm_opts_init(&o);
    if (opts)
        o = *opts;
    double timeout = 0;
    clt_status s = resolve_timeout(o.timeout_s, &timeout);
    if (s != CLT_OK)
        return s;
    const struct comm_transport *tp = NULL;
    void *impl = NULL;
    struct comm_place at;
    switch (o.transport) {
    case CLT_COMM_MPI: s = comm_mpi_open(&tp, &impl, &at); break;
    case CLT_COMM_SELF: s = comm_self_open(&tp, &impl, &at); break;
    default:
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_comm_create: opts.transport %d is not "
                                             "CLT_COMM_MPI or CLT_COMM_SELF", (int)o.transport);
    }
    if (s != CLT_OK)
        return clt_fail_prefix(s, "clt_comm_create");
    return comm_start(tp, impl, &at, timeout, out);
}

static clt_status run_dup(clt_comm *c, struct comm_job *job)
{
    return c->tp->dup(c->impl, (void **)job->arg);
}

clt_status clt_comm_dup(clt_comm *parent, clt_comm **out)
{
    if (!out)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_comm_dup: out is NULL");
    *out = NULL;
    clt_status s = comm_check(parent, "clt_comm_dup");
    if (s != CLT_OK)
        return s;
    void *impl = NULL;
    struct comm_job *job = calloc(1, sizeof *job);
    if (!job)
        return clt_fail(CLT_ERR_OUT_OF_MEMORY, "clt_comm_dup: out of host memory");
    job->run = run_dup;
    job->arg = &impl;
    snprintf(job->what, sizeof job->what, "duplicating the communicator");
    comm_submit(parent, job);
    s = comm_wait(parent, job);
    if (s != CLT_OK)
        return s;
    return comm_start(parent->tp, impl, &parent->at, parent->timeout_s, out);
}

void clt_comm_destroy(clt_comm *comm)
{
    if (!comm)
        return;
    pthread_mutex_lock(&comm->lock);
    const bool broken = comm->broken[0] != '\0', stuck = broken && comm->running;
    comm->quit = true;
    pthread_cond_signal(&comm->wake);
    pthread_mutex_unlock(&comm->lock);
    if (stuck) {
        /* its thread may never come back from the transport: leave it, and MPI, be */
        pthread_detach(comm->thread);
        return;
    }
    pthread_join(comm->thread, NULL);
    /* a broken communicator's ranks disagree on what was called: closing the transport
     * (MPI_Comm_free, MPI_Finalize) could wait for a rank that is gone */
    if (!broken)
        comm->tp->close(comm->impl);
    pthread_cond_destroy(&comm->done);
    pthread_cond_destroy(&comm->wake);
    pthread_mutex_destroy(&comm->lock);
    free(comm);
}

int clt_comm_rank(const clt_comm *comm) { return comm ? comm->at.rank : 0; }
int clt_comm_size(const clt_comm *comm) { return comm ? comm->at.size : 1; }
int clt_comm_local_rank(const clt_comm *comm) { return comm ? comm->at.local_rank : 0; }
int clt_comm_local_size(const clt_comm *comm) { return comm ? comm->at.local_size : 1; }

clt_status clt_comm_get_stats(const clt_comm *comm, clt_comm_stats *out)
{
    if (!comm || !out)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_comm_get_stats: %s is NULL",
                        comm ? "out" : "comm");
    clt_comm *c = (clt_comm *)comm; /* the lock only */
    pthread_mutex_lock(&c->lock);
    *out = c->stats;
    pthread_mutex_unlock(&c->lock);
    return CLT_OK;
}

/* ---- collectives as jobs ------------------------------------------------------------ */

struct coll_args {
    void *data;
    const void *cdata;
    size_t count, bytes, elem_bytes;
    const size_t *counts;
    clt_dtype dtype;
    clt_reduce_op op;
    int peer;
};

static clt_status run_allreduce(clt_comm *c, struct comm_job *job)
{
    const struct coll_args *a = job->arg;
    return c->tp->allreduce(c->impl, a->data, a->count, a->dtype, a->op);
}
static clt_status run_allgather(clt_comm *c, struct comm_job *job)
{
    const struct coll_args *a = job->arg;
    return c->tp->allgather(c->impl, a->data, a->counts, a->elem_bytes);
}
static clt_status run_bcast(clt_comm *c, struct comm_job *job)
{
    const struct coll_args *a = job->arg;
    return c->tp->bcast(c->impl, a->data, a->bytes, a->peer);
}
static clt_status run_send(clt_comm *c, struct comm_job *job)
{
    const struct coll_args *a = job->arg;
    return c->tp->send(c->impl, a->cdata, a->bytes, a->peer);
}
static clt_status run_recv(clt_comm *c, struct comm_job *job)
{
    const struct coll_args *a = job->arg;
    return c->tp->recv(c->impl, a->data, a->bytes, a->peer);
}
static clt_status run_barrier(clt_comm *c, struct comm_job *job)
{
    (void)job;
    return c->tp->barrier(c->impl);
}

/* Runs one collective on the thread and waits for it. */
static clt_status call(clt_comm *c, clt_status (*run)(clt_comm *, struct comm_job *),
                       struct coll_args *args, const char *what)
{
    struct comm_job *job = calloc(1, sizeof *job);
    if (!job)
        return clt_fail(CLT_ERR_OUT_OF_MEMORY, "%s: out of host memory", what);
    job->run = run;
    job->arg = args;
    snprintf(job->what, sizeof job->what, "%s", what);
    comm_submit(c, job);
    /* args is on this stack; a job abandoned by a timeout is inside the transport call,
     * which read args before it blocked, and run_* does not read them afterwards */
    return comm_wait(c, job);
}

static const char *dtype_word(clt_dtype d)
{
    switch (d) {
    case CLT_DTYPE_F32: return "f32";
    case CLT_DTYPE_F16: return "f16";
    case CLT_DTYPE_BF16: return "bf16";
    case CLT_DTYPE_I32: return "i32";
    case CLT_DTYPE_U8: return "u8";
    }
    return "?";
}

clt_status clt_comm_allreduce(clt_comm *comm, void *data, size_t count, clt_dtype dtype,
                              clt_reduce_op op)
{
    clt_status s = comm_check(comm, "clt_comm_allreduce");
    if (s != CLT_OK)
        return s;
    if (dtype != CLT_DTYPE_F32 && dtype != CLT_DTYPE_F16 && dtype != CLT_DTYPE_BF16 &&
        dtype != CLT_DTYPE_I32)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_comm_allreduce: argument dtype: %s (%d) "
                                             "cannot be reduced; give f32, f16, bf16 or i32",
                        dtype_word(dtype), (int)dtype);
    if (op != CLT_REDUCE_SUM && op != CLT_REDUCE_MAX)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_comm_allreduce: argument op: %d is not "
                                             "CLT_REDUCE_SUM or CLT_REDUCE_MAX", (int)op);
    if (!data && count > 0)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_comm_allreduce: argument data is NULL "
                                             "with count %zu", count);
    const size_t bytes = count * clt_dtype_size(dtype);
    const int n = comm->at.size;
    comm_count(comm, &comm->stats.bytes_reduced, bytes,
               (uint64_t)((double)bytes * 2.0 * (n - 1) / n));
    struct coll_args a = {.data = data, .count = count, .dtype = dtype, .op = op};
    char what[160];
    snprintf(what, sizeof what, "all-reduce (%s) of %zu %s", op == CLT_REDUCE_SUM ? "sum" : "max",
             count, dtype_word(dtype));
    return call(comm, run_allreduce, &a, what);
}

clt_status clt_comm_allgather(clt_comm *comm, void *data, const size_t *counts,
                              size_t elem_bytes)
{
    clt_status s = comm_check(comm, "clt_comm_allgather");
    if (s != CLT_OK)
        return s;
    if (!counts || elem_bytes == 0)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_comm_allgather: argument %s",
                        counts ? "elem_bytes is 0" : "counts is NULL");
    size_t total = 0;
    for (int r = 0; r < comm->at.size; r++)
        total += counts[r];
    if (!data && total > 0)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_comm_allgather: argument data is NULL with "
                                             "%zu elements in all", total);
    const size_t bytes = total * elem_bytes;
    const int n = comm->at.size;
    comm_count(comm, &comm->stats.bytes_gathered, bytes,
               (uint64_t)((double)bytes * (n - 1) / n));
    struct coll_args a = {.data = data, .counts = counts, .elem_bytes = elem_bytes};
    char what[160];
    snprintf(what, sizeof what, "all-gather of %zu bytes", bytes);
    return call(comm, run_allgather, &a, what);
}

static clt_status check_peer(const clt_comm *c, const char *fn, const char *arg, int peer,
                             bool self_ok)
{
    if (peer < 0 || peer >= c->at.size || (!self_ok && peer == c->at.rank))
        return clt_fail(CLT_ERR_INVALID_ARG, "%s: argument %s: %d is not %s rank of this "
                                             "communicator of %d (this is rank %d)",
                        fn, arg, peer, self_ok ? "a" : "another", c->at.size, c->at.rank);
    return CLT_OK;
}

clt_status clt_comm_bcast(clt_comm *comm, void *data, size_t bytes, int root)
{
    clt_status s = comm_check(comm, "clt_comm_bcast");
    if (s == CLT_OK)
        s = check_peer(comm, "clt_comm_bcast", "root", root, true);
    if (s != CLT_OK)
        return s;
    if (!data && bytes > 0)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_comm_bcast: argument data is NULL with "
                                             "%zu bytes", bytes);
    comm_count(comm, &comm->stats.bytes_other, bytes,
               comm->at.rank == root && comm->at.size > 1 ? bytes : 0);
    struct coll_args a = {.data = data, .bytes = bytes, .peer = root};
    char what[160];
    snprintf(what, sizeof what, "broadcast of %zu bytes from rank %d", bytes, root);
    return call(comm, run_bcast, &a, what);
}

clt_status clt_comm_send(clt_comm *comm, const void *data, size_t bytes, int dest)
{
    clt_status s = comm_check(comm, "clt_comm_send");
    if (s == CLT_OK)
        s = check_peer(comm, "clt_comm_send", "dest", dest, false);
    if (s != CLT_OK)
        return s;
    if (!data && bytes > 0)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_comm_send: argument data is NULL with "
                                             "%zu bytes", bytes);
    comm_count(comm, &comm->stats.bytes_other, bytes, bytes);
    struct coll_args a = {.cdata = data, .bytes = bytes, .peer = dest};
    char what[160];
    snprintf(what, sizeof what, "send of %zu bytes to rank %d", bytes, dest);
    return call(comm, run_send, &a, what);
}

clt_status clt_comm_recv(clt_comm *comm, void *data, size_t bytes, int source)
{
    clt_status s = comm_check(comm, "clt_comm_recv");
    if (s == CLT_OK)
        s = check_peer(comm, "clt_comm_recv", "source", source, false);
    if (s != CLT_OK)
        return s;
    if (!data && bytes > 0)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_comm_recv: argument data is NULL with "
                                             "%zu bytes", bytes);
    comm_count(comm, &comm->stats.bytes_other, bytes, 0);
    struct coll_args a = {.data = data, .bytes = bytes, .peer = source};
    char what[160];
    snprintf(what, sizeof what, "receive of %zu bytes from rank %d", bytes, source);
    return call(comm, run_recv, &a, what);
}

clt_status clt_comm_barrier(clt_comm *comm)
{
    clt_status s = comm_check(comm, "clt_comm_barrier");
    if (s != CLT_OK)
        return s;
    struct coll_args a = {0};
    return call(comm, run_barrier, &a, "barrier");
}
