/* The offload engine's NVME staging (offload_sched.h): an I/O thread moves groups'
 * master values and optimizer states between the NVME tier and two HOST staging
 * buffers. While the worker updates group i in one buffer, the other is written back
 * (the group before i) and then filled with the next group the worker will want, so
 * the optimizer waits for the disk only where the disk is the slower of the two; that
 * wait is nvme_wait_s, the disk's own time nvme_s. */
#include <stdio.h>
#include <string.h>

#include "runtime/buffer.h"
#include "runtime/error.h"
#include "runtime/offload.h"
#include "runtime/offload_sched.h"

size_t clt_offload_staged_state_at(const struct clt_offload_group *g)
{
    return (g->numel * 4 + 255) / 256 * 256;
}

/* Group gi's master and state between the NVME tier and buf: into buf when `in`. */
static clt_status move(clt_offload *off, int gi, clt_buffer *buf, bool in, int64_t step)
{
    const struct clt_offload_group *g = &off->groups[gi];
    const size_t state_at = clt_offload_staged_state_at(g);
    clt_offload_trace(off, in ? CLT_OFFLOAD_NVME_READ : CLT_OFFLOAD_NVME_WRITE, gi, step);
    const double t = clt_offload_now();
    clt_status s = CLT_OK;
    /* a group another rank owns keeps no state here and gets its master, whole, from
     * the owner's broadcast */
    size_t at = 0;
    const size_t state_bytes = clt_offload_kept_state(off, gi, &at);
    const size_t master_in = clt_offload_owns(off, gi) ? g->numel * 4 : 0;
    if (in) {
        if (master_in)
            s = clt_buffer_copy(buf, 0, off->master, g->first * 4, master_in, NULL);
        if (s == CLT_OK && state_bytes)
            s = clt_buffer_copy(buf, state_at, off->state, at, state_bytes, NULL);
    } else {
        s = clt_buffer_copy(off->master, g->first * 4, buf, 0, g->numel * 4, NULL);
        if (s == CLT_OK && state_bytes)
            s = clt_buffer_copy(off->state, at, buf, state_at, state_bytes, NULL);
    }
    const double dt = clt_offload_now() - t;
    pthread_mutex_lock(&off->lock);
    off->stats.nvme_s += dt;
    if (in)
        off->stats.bytes_nvme_read += master_in + state_bytes;
    else
        off->stats.bytes_nvme_write += g->numel * 4 + state_bytes;
    pthread_mutex_unlock(&off->lock);
    return s;
}

static int holder(const struct clt_offload_sched *sc, int g)
{
    for (int k = 0; k < 2; k++)
        if (sc->stage[k].group == g)
            return k;
    return -1;
}

/* A buffer to read into: a free one, else (not for a guess) one holding a read-ahead
 * that no job wants (a guess that was wrong). */
static int room(const struct clt_offload_sched *sc, bool for_guess)
{
    for (int k = 0; k < 2; k++)
        if (sc->stage[k].state == CLT_STAGE_FREE)
            return k;
    for (int k = 0; k < 2 && !for_guess; k++)
        if (sc->stage[k].state == CLT_STAGE_READY && sc->pending[sc->stage[k].group] == 0)
            return k;
    return -1;
}

/* The I/O thread's next move, under the lock: the group the worker updates if it is
 * not staged; else a write-back (it frees its buffer); else the first group queued for
 * an update that no buffer holds; else the guess. (Jobs that only all-reduce gradients
 * need no staging.) */
static bool pick(const clt_offload *off, int *k, int *g, int64_t *step, bool *write)
{
    const struct clt_offload_sched *sc = off->sched;
    *write = false;
    if (sc->running >= 0 && sc->running_update && holder(sc, sc->running) < 0 &&
        (*k = room(sc, false)) >= 0) {
        *g = sc->running;
        *step = sc->running_step;
        return true;
    }
    for (*k = 0; *k < 2; ++*k) {
        if (sc->stage[*k].state == CLT_STAGE_DIRTY) {
            *g = sc->stage[*k].group;
            *step = sc->stage[*k].step;
            *write = true;
            return true;
        }
    }
    for (int i = 0; i < sc->count; i++) {
        const struct clt_offload_job *j = &sc->queue[(sc->head + i) % sc->n];
        if (!j->update || holder(sc, j->group) >= 0)
            continue;
        if ((*k = room(sc, false)) < 0)
            return false;
        *g = j->group;
        *step = j->step;
        return true;
    }
    const struct clt_offload_job *last = NULL;
    for (int i = sc->count - 1; i >= 0 && !last; i--)
        if (sc->queue[(sc->head + i) % sc->n].update)
            last = &sc->queue[(sc->head + i) % sc->n];
    const int after = last                                  ? sc->after[last->group]
                      : sc->running >= 0 && sc->running_update ? sc->after[sc->running]
                                                               : -1;
    if (after < 0 || sc->pending[after] > 0 || holder(sc, after) >= 0 ||
        (*k = room(sc, true)) < 0)
        return false;
    *g = after;
    *step = last ? last->step : sc->running_step;
    return true;
}

/* After a failure nothing more is staged: what waits is dropped. */
static void drop_waiting(struct clt_offload_sched *sc)
{
    for (int k = 0; k < 2; k++) {
        struct clt_offload_stage *st = &sc->stage[k];
        if (st->state == CLT_STAGE_READY || st->state == CLT_STAGE_DIRTY)
            *st = (struct clt_offload_stage){.group = -1, .state = CLT_STAGE_FREE};
    }
}

static void *io_main(void *arg)
{
    clt_offload *off = arg;
    struct clt_offload_sched *sc = off->sched;
    pthread_mutex_lock(&off->lock);
    while (!sc->io_quit) {
        int k, g;
        int64_t step;
        bool write;
        if (off->job_status != CLT_OK) {
            drop_waiting(sc);
            pthread_cond_broadcast(&off->cond);
        }
        if (off->job_status != CLT_OK || !pick(off, &k, &g, &step, &write)) {
            pthread_cond_wait(&off->cond, &off->lock);
            continue;
        }
        sc->stage[k] = (struct clt_offload_stage){
            .group = g, .step = step, .state = write ? CLT_STAGE_WRITING : CLT_STAGE_READING};
        pthread_mutex_unlock(&off->lock);
        const clt_status s = move(off, g, off->staging[k], !write, step);
        pthread_mutex_lock(&off->lock);
        if (s != CLT_OK)
            clt_offload_fail_locked(off, s, g, step);
        if (s != CLT_OK || write)
            sc->stage[k] = (struct clt_offload_stage){.group = -1, .state = CLT_STAGE_FREE};
        else
            sc->stage[k].state = CLT_STAGE_READY;
        pthread_cond_broadcast(&off->cond);
    }
    pthread_mutex_unlock(&off->lock);
    return NULL;
}

clt_status clt_offload_stage_start(clt_offload *off)
{
    struct clt_offload_sched *sc = off->sched;
    for (int k = 0; k < 2; k++)
        sc->stage[k] = (struct clt_offload_stage){.group = -1, .state = CLT_STAGE_FREE};
    if (pthread_create(&sc->io, NULL, io_main, off) != 0)
        return clt_fail(CLT_ERR_OUT_OF_MEMORY, "offload: cannot start the NVMe staging thread");
    sc->io_started = true;
    return CLT_OK;
}

void clt_offload_stage_stop(clt_offload *off)
{
    struct clt_offload_sched *sc = off->sched;
    if (!sc || !sc->io_started)
        return;
    pthread_mutex_lock(&off->lock);
    sc->io_quit = true;
    pthread_cond_broadcast(&off->cond);
    pthread_mutex_unlock(&off->lock);
    pthread_join(sc->io, NULL);
    sc->io_started = false;
}

clt_status clt_offload_stage_acquire(clt_offload *off, int g, int *k)
{
    struct clt_offload_sched *sc = off->sched;
    const double t = clt_offload_now();
    pthread_mutex_lock(&off->lock);
    for (;;) {
        if (off->job_status != CLT_OK)
            break;
        const int h = holder(sc, g);
        if (h >= 0 && sc->stage[h].state == CLT_STAGE_READY) {
            sc->stage[h].state = CLT_STAGE_UPDATING;
            *k = h;
            break;
        }
        pthread_cond_wait(&off->cond, &off->lock);
    }
    off->stats.nvme_wait_s += clt_offload_now() - t;
    return clt_offload_unlock_and_report(off, "NVMe staging");
}

void clt_offload_stage_release(clt_offload *off, int k, bool dirty)
{
    struct clt_offload_sched *sc = off->sched;
    pthread_mutex_lock(&off->lock);
    if (dirty)
        sc->stage[k].state = CLT_STAGE_DIRTY;
    else
        sc->stage[k] = (struct clt_offload_stage){.group = -1, .state = CLT_STAGE_FREE};
    pthread_cond_broadcast(&off->cond);
    pthread_mutex_unlock(&off->lock);
}

bool clt_offload_stage_idle(const clt_offload *off)
{
    const struct clt_offload_sched *sc = off->sched;
    if (!sc->io_started)
        return true;
    for (int k = 0; k < 2; k++)
        if (sc->stage[k].state != CLT_STAGE_FREE && sc->stage[k].state != CLT_STAGE_READY)
            return false;
    return true;
}

void clt_offload_stage_drop_guesses(clt_offload *off)
{
    struct clt_offload_sched *sc = off->sched;
    for (int k = 0; k < 2; k++)
        if (sc->stage[k].state == CLT_STAGE_READY)
            sc->stage[k] = (struct clt_offload_stage){.group = -1, .state = CLT_STAGE_FREE};
}
