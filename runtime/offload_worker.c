/* The offload engine's worker (offload_sched.h): a thread that runs the queued group
 * updates in order; the two ways of queueing them (AFTER_BACKWARD: step() queues every
 * group at once; EAGER: begin_step arms a step and grads_ready queues each group as its
 * gradients leave the device); data parallel, the gradient all-reduces queued where
 * the gradients land or by grad_sqnorm; and the waits on them: fetch waits for its
 * group's update, clt_offload_wait for every update and write-back. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/buffer.h"
#include "runtime/error.h"
#include "runtime/offload.h"
#include "runtime/offload_sched.h"

void clt_offload_fail_locked(clt_offload *off, clt_status s, int group, int64_t step)
{
    if (off->job_status != CLT_OK)
        return; /* the first failure is the one to report */
    off->job_status = s;
    snprintf(off->job_error, sizeof off->job_error, "group %d, step %lld: %s", group,
             (long long)step, clt_last_error());
}

/* Under the lock. At most one job per group is pending, so the ring never overflows. */
static void push(struct clt_offload_sched *sc, struct clt_offload_job job)
{
    sc->queue[(sc->head + sc->count) % sc->n] = job;
    sc->count++;
    sc->pending[job.group]++;
}

/* An eager job's marker: done when its gradient copy and its working copy's uploads
 * are. The caller writes marker[g] only while g has no job pending, so this thread owns
 * it from the job's queueing to its end. */
static clt_status land(clt_offload *off, int g)
{
    clt_event *ev = off->sched->marker[g];
    off->sched->marker[g] = NULL;
    const clt_status s = clt_event_wait(ev);
    clt_event_destroy(ev);
    return s;
}

static void *worker_main(void *arg)
{
    clt_offload *off = arg;
    struct clt_offload_sched *sc = off->sched;
    pthread_mutex_lock(&off->lock);
    for (;;) {
        while (!off->quit && sc->count == 0)
            pthread_cond_wait(&off->cond, &off->lock);
        if (sc->count == 0)
            break; /* told to quit, with nothing left to do */
        const struct clt_offload_job job = sc->queue[sc->head];
        sc->head = (sc->head + 1) % sc->n;
        sc->count--;
        sc->running = job.group;
        sc->running_step = job.step;
        sc->running_update = job.update;
        /* after a failure the jobs left are only drained (their markers waited for) */
        const bool failed = off->job_status != CLT_OK;
        pthread_cond_broadcast(&off->cond); /* the I/O thread stages the running group */
        pthread_mutex_unlock(&off->lock);

        bool skipped = false;
        clt_status s = job.landing ? land(off, job.group) : CLT_OK;
        if (s == CLT_OK && !failed && job.reduce)
            s = clt_offload_reduce_grads(off, job.group);
        const bool reduced = s == CLT_OK && !failed && job.reduce;
        if (s == CLT_OK && !failed && job.update)
            s = clt_offload_update_group(off, &job, &skipped);

        pthread_mutex_lock(&off->lock);
        if (reduced)
            off->groups[job.group].reduced = true;
        if (!failed && s != CLT_OK)
            clt_offload_fail_locked(off, s, job.group, job.step);
        else if (!failed && skipped)
            sc->skipped_at[job.group] = job.step;
        else if (!failed && job.update)
            off->groups[job.group].host_version++;
        sc->running = -1;
        sc->pending[job.group]--;
        pthread_cond_broadcast(&off->cond);
    }
    pthread_mutex_unlock(&off->lock);
    return NULL;
}

static void free_sched(struct clt_offload_sched *sc)
{
    if (!sc)
        return;
    for (int g = 0; sc->marker && g < sc->n; g++)
        clt_event_destroy(sc->marker[g]);
    free(sc->queue);
    free(sc->pending);
    free(sc->posted);
    free(sc->after);
    free(sc->marker);
    free(sc->marker_bytes);
    free(sc->skipped_at);
    free(sc);
}

clt_status clt_offload_worker_start(clt_offload *off)
{
    const size_t n = (size_t)off->n_groups;
    struct clt_offload_sched *sc = calloc(1, sizeof *sc);
    if (sc) {
        sc->queue = calloc(n, sizeof *sc->queue);
        sc->pending = calloc(n, sizeof *sc->pending);
        sc->posted = calloc(n, sizeof *sc->posted);
        sc->after = malloc(n * sizeof *sc->after);
        sc->marker = calloc(n, sizeof *sc->marker);
        sc->marker_bytes = calloc(n, 4);
        sc->skipped_at = calloc(n, sizeof *sc->skipped_at);
    }
    if (!sc || !sc->queue || !sc->pending || !sc->posted || !sc->after || !sc->marker ||
        !sc->marker_bytes || !sc->skipped_at) {
        free_sched(sc);
        return clt_fail(CLT_ERR_OUT_OF_MEMORY, "offload: no host memory for the schedule");
    }
    sc->n = (int)n;
    sc->running = sc->last_posted = -1;
    for (size_t g = 0; g < n; g++)
        sc->after[g] = -1;
    off->sched = sc;
    if (pthread_create(&off->worker, NULL, worker_main, off) != 0)
        return clt_fail(CLT_ERR_OUT_OF_MEMORY, "offload: cannot start the optimizer thread");
    off->worker_started = true;
    return off->opts.master_tier == CLT_TIER_NVME ? clt_offload_stage_start(off) : CLT_OK;
}

void clt_offload_worker_stop(clt_offload *off)
{
    if (off->worker_started) {
        /* the worker finishes the jobs queued (or drains them after a failure) first */
        pthread_mutex_lock(&off->lock);
        off->quit = true;
        pthread_cond_broadcast(&off->cond);
        pthread_mutex_unlock(&off->lock);
        pthread_join(off->worker, NULL);
        off->worker_started = false;
    }
    if (off->sched)
        clt_offload_stage_stop(off);
    free_sched(off->sched);
    off->sched = NULL;
}

clt_status clt_offload_worker_post(clt_offload *off, float lr, int64_t step, float grad_scale)
{
    struct clt_offload_sched *sc = off->sched; /* AFTER_BACKWARD: clt_offload_step checked */
    pthread_mutex_lock(&off->lock);
    for (int g = 0; g < off->n_groups; g++)
        push(sc, (struct clt_offload_job){.group = g, .lr = lr, .scale = grad_scale,
                                          .step = step,
                                          .reduce = off->comm && !off->groups[g].reduced,
                                          .update = true});
    off->job_step = step;
    pthread_cond_broadcast(&off->cond);
    pthread_mutex_unlock(&off->lock);
    return CLT_OK;
}

clt_status clt_offload_unlock_and_report(clt_offload *off, const char *what)
{
    const clt_status s = off->job_status;
    char text[sizeof off->job_error];
    memcpy(text, off->job_error, sizeof text);
    pthread_mutex_unlock(&off->lock);
    if (s != CLT_OK)
        return clt_fail(s, "offload: %s failed (%s)", what, text);
    return CLT_OK;
}

clt_status clt_offload_wait_group(clt_offload *off, int id, double *waited)
{
    const double t = clt_offload_now();
    pthread_mutex_lock(&off->lock);
    while (off->sched->pending[id] > 0 && off->job_status == CLT_OK)
        pthread_cond_wait(&off->cond, &off->lock);
    const clt_status s = clt_offload_unlock_and_report(off, "the host optimizer");
    if (waited)
        *waited += clt_offload_now() - t;
    return s;
}

clt_status clt_offload_wait(clt_offload *off)
{
    if (!off)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_offload_wait: off is NULL");
    if (!off->worker_started)
        return CLT_OK;
    const struct clt_offload_sched *sc = off->sched;
    const double t = clt_offload_now();
    pthread_mutex_lock(&off->lock);
    while ((sc->count > 0 || sc->running >= 0 || !clt_offload_stage_idle(off)) &&
           off->job_status == CLT_OK)
        pthread_cond_wait(&off->cond, &off->lock);
    /* callers may write the master tier directly from here on */
    if (off->job_status == CLT_OK)
        clt_offload_stage_drop_guesses(off);
    const clt_status s = clt_offload_unlock_and_report(off, "the host optimizer");
    off->stats.optim_idle_wait_s += clt_offload_now() - t;
    return s;
}

/* ---- EAGER --------------------------------------------------------------------------- */

static int first_not_posted(const struct clt_offload_sched *sc)
{
    for (int g = 0; g < sc->n; g++)
        if (!sc->posted[g])
            return g;
    return -1;
}

clt_status clt_offload_begin_step(clt_offload *off, float lr, int64_t step, float grad_scale)
{
    clt_status s = clt_offload_check_group(off, "clt_offload_begin_step", 0);
    if (s != CLT_OK)
        return s;
    if (off->opts.update != CLT_OFFLOAD_UPDATE_EAGER)
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "clt_offload_begin_step: the engine updates after the backward "
                        "(CLT_OFFLOAD_UPDATE_AFTER_BACKWARD): call clt_offload_step once every "
                        "gradient is ready, or create it with update = "
                        "CLT_OFFLOAD_UPDATE_EAGER");
    if (!isfinite(lr) || !isfinite(grad_scale) || step < 1)
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "clt_offload_begin_step: lr %g, step %lld, grad_scale %g: lr and "
                        "grad_scale must be finite and step >= 1",
                        (double)lr, (long long)step, (double)grad_scale);
    struct clt_offload_sched *sc = off->sched;
    if (sc->armed && sc->n_posted > 0)
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "clt_offload_begin_step: step %lld is under way: %d of %d groups have "
                        "handed over their gradients, not group %d; call "
                        "clt_offload_grads_ready for every group first",
                        (long long)sc->step, sc->n_posted, sc->n, first_not_posted(sc));
    /* armed, lr, step, posted: the caller's thread only (the jobs carry copies) */
    sc->armed = true;
    sc->lr = lr;
    sc->step = step;
    sc->scale = grad_scale;
    sc->n_posted = 0;
    memset(sc->posted, 0, (size_t)sc->n * sizeof *sc->posted);
    return CLT_OK;
}

clt_status clt_offload_grads_prepare(clt_offload *off, int id)
{
    const struct clt_offload_sched *sc = off->sched;
    if (sc->armed && sc->posted[id])
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "clt_offload_grads_ready: group %d handed its gradients to the "
                        "optimizer in step %lld already (with gradient accumulation, call "
                        "clt_offload_begin_step before the last micro-batch's backward only)",
                        id, (long long)sc->step);
    /* done long ago where the caller fetched the group since it was handed over */
    double waited = 0;
    const clt_status s = clt_offload_wait_group(off, id, &waited);
    off->stats.fetch_wait_s += waited;
    if (s == CLT_OK && off->comm) { /* the copy replaces the sum with this rank's own */
        pthread_mutex_lock(&off->lock);
        off->groups[id].reduced = false;
        pthread_mutex_unlock(&off->lock);
    }
    return s;
}

/* Group id's job, behind a marker: a side transfer starts after everything submitted
 * before it, so it completes after the gradient copy and the group's uploads (whose
 * events are the caller's to use). Its 4 bytes are not looked at. Under the lock,
 * before the job is pushed, `queued` runs (the eager bookkeeping), if given. */
static clt_status post_behind_marker(clt_offload *off, struct clt_offload_job job,
                                     void (*queued)(clt_offload *, int))
{
    struct clt_offload_sched *sc = off->sched;
    const int id = job.group;
    const struct clt_offload_group *g = &off->groups[id];
    clt_buffer *src = g->resident ? g->dev_grad : off->grad_slots[0].buf;
    const size_t n = clt_buffer_size(src) < 4 ? clt_buffer_size(src) : 4;
    clt_status s =
        clt_buffer_read_side(src, 0, sc->marker_bytes + 4 * (size_t)id, n, &sc->marker[id]);
    if (s != CLT_OK)
        return clt_fail_prefix(s, "clt_offload_grads_ready: group %d", id);
    pthread_mutex_lock(&off->lock);
    if (queued)
        queued(off, id);
    push(sc, job);
    pthread_cond_broadcast(&off->cond);
    pthread_mutex_unlock(&off->lock);
    return CLT_OK;
}

/* Under the lock: group id is the begun step's next handed over. */
static void eager_queued(clt_offload *off, int id)
{
    struct clt_offload_sched *sc = off->sched;
    if (sc->last_posted >= 0)
        sc->after[sc->last_posted] = id; /* the I/O thread's guess next step */
    sc->last_posted = id;
    if (++sc->n_posted == sc->n) {
        sc->armed = false;
        sc->handed_over = true;
        off->job_step = sc->step;
    }
}

clt_status clt_offload_post_landed(clt_offload *off, int id)
{
    struct clt_offload_sched *sc = off->sched;
    if (!sc->armed) {
        /* data parallel: gradients expected to be final are reduced as they land */
        if (!clt_offload_dp_landed(off, id))
            return CLT_OK;
        const struct clt_offload_job job = {.group = id, .step = off->job_step + 1,
                                            .landing = true, .reduce = true};
        return post_behind_marker(off, job, NULL);
    }
    const struct clt_offload_job job = {.group = id, .lr = sc->lr, .scale = sc->scale,
                                        .step = sc->step, .landing = true,
                                        .reduce = off->comm != NULL, .update = true,
                                        .eager = true};
    const clt_status s = post_behind_marker(off, job, eager_queued);
    if (s == CLT_OK)
        sc->posted[id] = true;
    return s;
}

clt_status clt_offload_reduce_rest(clt_offload *off, const char *fn)
{
    if (!off->comm)
        return CLT_OK;
    struct clt_offload_sched *sc = off->sched;
    const double t = clt_offload_now();
    pthread_mutex_lock(&off->lock);
    for (int g = 0; g < off->n_groups; g++)
        if (!off->groups[g].reduced && sc->pending[g] == 0)
            push(sc, (struct clt_offload_job){.group = g, .step = off->job_step + 1,
                                              .reduce = true});
    pthread_cond_broadcast(&off->cond);
    for (;;) {
        int g = 0;
        while (g < off->n_groups && off->groups[g].reduced)
            g++;
        if (g == off->n_groups || off->job_status != CLT_OK)
            break;
        pthread_cond_wait(&off->cond, &off->lock);
    }
    char what[96];
    snprintf(what, sizeof what, "%s: the gradient all-reduce", fn);
    const clt_status s = clt_offload_unlock_and_report(off, what);
    off->stats.grad_wait_s += clt_offload_now() - t;
    return s;
}

clt_status clt_offload_eager_complete(clt_offload *off, const char *fn)
{
    const struct clt_offload_sched *sc = off->sched;
    if (!sc || !sc->armed)
        return CLT_OK;
    return clt_fail(CLT_ERR_INVALID_ARG,
                    "%s: step %lld is under way: group %d has not handed over its gradients "
                    "(clt_offload_grads_ready)",
                    fn, (long long)sc->step, first_not_posted(sc));
}

clt_status clt_offload_skipped(clt_offload *off, int *n_skipped, bool *skipped)
{
    clt_status s = clt_offload_check_group(off, "clt_offload_skipped", 0);
    if (s == CLT_OK && !n_skipped)
        s = clt_fail(CLT_ERR_INVALID_ARG, "clt_offload_skipped: n_skipped is NULL");
    if (s == CLT_OK)
        s = clt_offload_eager_complete(off, "clt_offload_skipped");
    if (s == CLT_OK)
        s = clt_offload_wait(off);
    if (s != CLT_OK)
        return s;
    const struct clt_offload_sched *sc = off->sched;
    *n_skipped = 0;
    pthread_mutex_lock(&off->lock);
    for (int g = 0; g < sc->n; g++) {
        const bool hit = sc->step > 0 && sc->skipped_at[g] == sc->step;
        *n_skipped += hit;
        if (skipped)
            skipped[g] = hit;
    }
    pthread_mutex_unlock(&off->lock);
    return CLT_OK;
}
