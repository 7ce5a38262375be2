/* The offload engine's transfers (clt/offload.h): device slots for working copies and
 * gradients, prefetch, fetch and release, gradients to the host, and their norm.
 *
 * Uploads and gradient copies are side transfers (runtime/driver.h): each starts after
 * every op enqueued before it, so an upload into a slot never overwrites what the slot's
 * last group's ops still read, and a gradient copy sees the whole backward pass that
 * wrote it; later ops do not wait for them unless told: fetch orders the device's work
 * after the group's upload, and taking a gradient slot orders it after the copy that
 * last read the slot out. Uploads are all side transfers, which keep their order among
 * themselves, so a group's latest upload done means its earlier ones are too. Host
 * memory an asynchronous transfer uses stays untouched until it is done: the worker
 * rewrites a group's working copy only in a later step(), which first waits for that
 * copy's uploads. */
#include <string.h>

#include "runtime/buffer.h"
#include "runtime/context.h"
#include "runtime/error.h"
#include "runtime/event.h"
#include "runtime/offload.h"
#include "runtime/offload_sched.h"

void clt_offload_free_events(clt_offload *off)
{
    for (int g = 0; g < off->n_groups; g++) {
        clt_event_destroy(off->groups[g].upload);
        clt_event_destroy(off->groups[g].grad_read);
        off->groups[g].upload = off->groups[g].grad_read = NULL;
    }
}

/* Waits for an event the engine holds and drops it; adds the wait to *waited. */
static clt_status settle(clt_event **ev, double *waited)
{
    if (!*ev)
        return CLT_OK;
    const double t = clt_offload_now();
    clt_status s = clt_event_wait(*ev);
    if (waited)
        *waited += clt_offload_now() - t;
    clt_event_destroy(*ev);
    *ev = NULL;
    return s;
}

/* A slot for group id: the one it is in, else an empty one, else the least recently
 * used one whose group is released. */
static int pick_slot(clt_offload *off, int id)
{
    int best = -1;
    for (int i = 0; i < off->opts.device_slots; i++) {
        const struct clt_offload_slot *sl = &off->slots[i];
        if (sl->group == id)
            return i;
        if (sl->group < 0) {
            if (best < 0 || off->slots[best].group >= 0)
                best = i;
            continue;
        }
        if (off->groups[sl->group].held)
            continue;
        if (best < 0 || (off->slots[best].group >= 0 && sl->last_use < off->slots[best].last_use))
            best = i;
    }
    return best;
}

static const void *host_work_of(clt_offload *off, const struct clt_offload_group *g)
{
    if (off->work)
        return (const char *)clt_offload_host_ptr(off->work) + g->first * off->es;
    return (const char *)clt_offload_host_ptr(off->master) + g->first * 4;
}

/* Group id's current working copy into its buffer (*dst: a slot, or its own when
 * resident) once the group's pending update is done; the upload, when the buffer does
 * not hold it yet, goes on the side queue, with g->upload its event. */
static clt_status place(clt_offload *off, int id, const char *fn, clt_buffer **dst_out)
{
    double waited = 0;
    clt_status s = clt_offload_wait_group(off, id, &waited);
    off->stats.fetch_wait_s += waited;
    if (s != CLT_OK)
        return s;
    struct clt_offload_group *g = &off->groups[id];
    clt_buffer *dst = g->dev_work;
    if (!g->resident) {
        const int slot = pick_slot(off, id);
        if (slot < 0)
            return clt_fail(CLT_ERR_INVALID_ARG,
                            "%s: group %d: all %d device slots hold groups not released", fn,
                            id, off->opts.device_slots);
        struct clt_offload_slot *sl = &off->slots[slot];
        if (sl->group != id) {
            if (sl->group >= 0) {
                off->groups[sl->group].slot = -1;
                off->groups[sl->group].dev_version = 0;
            }
            sl->group = id;
            g->slot = slot;
            g->dev_version = 0;
        }
        sl->last_use = ++off->use_clock;
        dst = sl->buf;
    }
    if (g->dev_version != g->host_version) {
        /* dropping the event of an upload still under way is safe: see the top */
        clt_event_destroy(g->upload);
        g->upload = NULL;
        s = clt_buffer_write_side(dst, 0, host_work_of(off, g), g->numel * off->es,
                                  &g->upload);
        if (s != CLT_OK)
            return clt_fail_prefix(s, "%s: group %d", fn, id);
        g->dev_version = g->host_version;
        off->stats.bytes_to_device += g->numel * off->es;
        off->stats.uploads++;
        clt_offload_trace(off, CLT_OFFLOAD_FETCH, id, off->job_step + 1);
    }
    *dst_out = dst;
    return CLT_OK;
}

clt_status clt_offload_prefetch(clt_offload *off, int id)
{
    clt_status s = clt_offload_check_group(off, "clt_offload_prefetch", id);
    clt_buffer *dst = NULL;
    return s == CLT_OK ? place(off, id, "clt_offload_prefetch", &dst) : s;
}

clt_status clt_offload_fetch(clt_offload *off, int id, clt_tensor *work)
{
    clt_status s = clt_offload_check_group(off, "clt_offload_fetch", id);
    if (s == CLT_OK && !work)
        s = clt_fail(CLT_ERR_INVALID_ARG, "clt_offload_fetch: work is NULL");
    if (s != CLT_OK)
        return s;
    off->stats.fetches++;
    clt_buffer *dst = NULL;
    s = place(off, id, "clt_offload_fetch", &dst);
    if (s != CLT_OK)
        return s;
    struct clt_offload_group *g = &off->groups[id];
    s = clt_event_order_after(g->upload);
    if (s != CLT_OK)
        return clt_fail_prefix(s, "clt_offload_fetch: group %d", id);
    g->held = true;
    return clt_tensor_init(work, dst, 0, off->opts.work_dtype, 1,
                           (const int64_t[]){(int64_t)g->numel});
}

clt_status clt_offload_release(clt_offload *off, int id)
{
    clt_status s = clt_offload_check_group(off, "clt_offload_release", id);
    if (s != CLT_OK)
        return s;
    off->groups[id].held = false;
    if (off->groups[id].slot >= 0)
        off->slots[off->groups[id].slot].last_use = ++off->use_clock;
    return CLT_OK;
}

clt_status clt_offload_grad(clt_offload *off, int id, bool accumulate, clt_tensor *grad)
{
    clt_status s = clt_offload_check_group(off, "clt_offload_grad", id);
    if (s == CLT_OK && !grad)
        s = clt_fail(CLT_ERR_INVALID_ARG, "clt_offload_grad: grad is NULL");
    if (s != CLT_OK)
        return s;
    if (off->sched->handed_over) {
        /* EAGER has no step() to end a step's gradients: its first grad() does */
        off->sched->handed_over = false;
        for (int i = 0; i < off->n_groups; i++)
            off->groups[i].grads_this_step = false;
    }
    struct clt_offload_group *g = &off->groups[id];
    clt_buffer *dst = g->dev_grad;
    if (!g->resident) {
        if (g->grad_slot < 0) {
            for (int i = 0; i < off->opts.grad_slots && g->grad_slot < 0; i++)
                if (off->grad_slots[i].group < 0)
                    g->grad_slot = i;
            if (g->grad_slot < 0)
                return clt_fail(CLT_ERR_INVALID_ARG,
                                "clt_offload_grad: group %d: all %d gradient slots hold "
                                "gradients not marked ready",
                                id, off->opts.grad_slots);
            struct clt_offload_slot *sl = &off->grad_slots[g->grad_slot];
            sl->group = id;
            /* the ops about to write the slot wait for the copy reading it out (if the
             * reader has copied out since, from another slot, this one's is done) */
            if (sl->reader >= 0)
                s = clt_event_order_after(off->groups[sl->reader].grad_read);
        }
        dst = off->grad_slots[g->grad_slot].buf;
    } else {
        s = clt_event_order_after(g->grad_read);
    }
    if (s != CLT_OK)
        return clt_fail_prefix(s, "clt_offload_grad: group %d", id);
    s = clt_offload_dp_grad(off, id, accumulate && g->grads_this_step);
    if (s != CLT_OK)
        return s;
    if (accumulate && g->grads_this_step) {
        /* gradient accumulation: what earlier micro-batches gave comes back first */
        s = settle(&g->grad_read, &off->stats.grad_wait_s);
        if (s == CLT_OK)
            s = clt_buffer_write(dst, 0,
                                 (const char *)clt_offload_host_ptr(off->grads) + g->first * off->es,
                                 g->numel * off->es, NULL);
        if (s != CLT_OK)
            return clt_fail_prefix(s, "clt_offload_grad: group %d", id);
        off->stats.bytes_to_device += g->numel * off->es;
    }
    return clt_tensor_init(grad, dst, 0, off->opts.work_dtype, 1,
                           (const int64_t[]){(int64_t)g->numel});
}

clt_status clt_offload_grads_ready(clt_offload *off, int id)
{
    clt_status s = clt_offload_check_group(off, "clt_offload_grads_ready", id);
    if (s != CLT_OK)
        return s;
    struct clt_offload_group *g = &off->groups[id];
    if (!g->resident && g->grad_slot < 0)
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "clt_offload_grads_ready: group %d has no gradient slot (call "
                        "clt_offload_grad first)",
                        id);
    clt_buffer *src = g->resident ? g->dev_grad : off->grad_slots[g->grad_slot].buf;
    s = clt_offload_grads_prepare(off, id);
    if (s == CLT_OK)
        s = settle(&g->grad_read, &off->stats.grad_wait_s);
    if (s == CLT_OK)
        s = clt_buffer_read_side(src, 0,
                                 (char *)clt_offload_host_ptr(off->grads) + g->first * off->es,
                                 g->numel * off->es, &g->grad_read);
    if (s != CLT_OK)
        return clt_fail_prefix(s, "clt_offload_grads_ready: group %d", id);
    if (!g->resident) {
        off->grad_slots[g->grad_slot].group = -1;
        off->grad_slots[g->grad_slot].reader = id;
        g->grad_slot = -1;
    }
    g->grads_this_step = true;
    off->stats.bytes_from_device += g->numel * off->es;
    clt_offload_trace(off, CLT_OFFLOAD_GRADS_READY, id, off->job_step + 1);
    return clt_offload_post_landed(off, id);
}

/* Every group's gradients of this step, landed on the host. */
static clt_status gather_grads(clt_offload *off, const char *fn)
{
    for (int g = 0; g < off->n_groups; g++) {
        if (!off->groups[g].grads_this_step)
            return clt_fail(CLT_ERR_INVALID_ARG,
                            "%s: group %d has no gradients this step (clt_offload_grads_ready "
                            "was not called for it)",
                            fn, g);
        clt_status s = settle(&off->groups[g].grad_read, &off->stats.grad_wait_s);
        if (s != CLT_OK)
            return clt_fail_prefix(s, "%s: group %d's gradients", fn, g);
    }
    return CLT_OK;
}

clt_status clt_offload_grad_sqnorm(clt_offload *off, float *out)
{
    clt_status s = clt_offload_check_group(off, "clt_offload_grad_sqnorm", 0);
    if (s == CLT_OK && !out)
        s = clt_fail(CLT_ERR_INVALID_ARG, "clt_offload_grad_sqnorm: out is NULL");
    if (s == CLT_OK) /* EAGER: the step's own message first, then the per-group one */
        s = clt_offload_eager_complete(off, "clt_offload_grad_sqnorm");
    if (s == CLT_OK)
        s = gather_grads(off, "clt_offload_grad_sqnorm");
    if (s == CLT_OK) /* data parallel: the norm of the ranks' summed gradients */
        s = clt_offload_reduce_rest(off, "clt_offload_grad_sqnorm");
    if (s == CLT_OK)
        s = clt_offload_host_sqnorm(off, out);
    return s;
}

clt_status clt_offload_step(clt_offload *off, float lr, int64_t step, float grad_scale)
{
    clt_status s = clt_offload_check_group(off, "clt_offload_step", 0);
    if (s == CLT_OK && off->opts.update == CLT_OFFLOAD_UPDATE_EAGER)
        s = clt_fail(CLT_ERR_INVALID_ARG,
                     "clt_offload_step: the engine updates eagerly "
                     "(CLT_OFFLOAD_UPDATE_EAGER): give lr, step and grad_scale to "
                     "clt_offload_begin_step before the backward instead");
    if (s == CLT_OK)
        s = clt_offload_wait(off);
    if (s == CLT_OK)
        s = gather_grads(off, "clt_offload_step");
    /* the worker rewrites the working copies the uploads read from */
    for (int g = 0; g < off->n_groups && s == CLT_OK; g++)
        s = settle(&off->groups[g].upload, NULL);
    if (s != CLT_OK)
        return s;
    for (int g = 0; g < off->n_groups; g++)
        off->groups[g].grads_this_step = false;
    return clt_offload_worker_post(off, lr, step, grad_scale);
}
