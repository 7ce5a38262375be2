/* The offload engine's data parallelism (clt/offload.h, clt_offload_set_comm): which
 * rank owns which group's optimizer state (ZeRO stage 1 at group granularity), the part
 * of the state layout this rank keeps, the worker's collectives (a group's gradients
 * summed over the ranks; an updated group's master values from its owner to the rest),
 * and the bookkeeping that decides, AFTER_BACKWARD, whether a group's gradients are
 * final when they land (so that their all-reduce overlaps the rest of the backward).
 *
 * Every rank makes the same engine calls in the same order, so every rank's worker runs
 * the same jobs in the same order and issues the same collectives: that is what keeps
 * the engine's communicator in step, and why every decision here depends only on what
 * every rank has alike (the layout, the calls, the summed gradients). */
#include <string.h>

#include "runtime/error.h"
#include "runtime/offload.h"

clt_status clt_offload_set_comm(clt_offload *off, clt_comm *comm, bool shard_state)
{
    if (!off || !comm)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_offload_set_comm: %s is NULL",
                        off ? "comm" : "off");
    if (off->planned)
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "clt_offload_set_comm: the engine is planned; give it the "
                        "communicator before clt_offload_plan");
    if (off->comm)
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "clt_offload_set_comm: the engine has a communicator already");
    clt_status s = clt_comm_dup(comm, &off->comm);
    if (s != CLT_OK)
        return clt_fail_prefix(s, "clt_offload_set_comm");
    off->rank = clt_comm_rank(off->comm);
    off->size = clt_comm_size(off->comm);
    off->shard = shard_state;
    return CLT_OK;
}

/* The rank whose share of the layout holds the middle of group g: the ranks' shares are
 * equal runs of elements, so the owners are a contiguous, non-decreasing split balanced
 * by element count. Plain double arithmetic, the same on every rank. */
static int owner_of(const clt_offload *off, int g)
{
    if (!off->shard || off->size <= 1)
        return 0;
    const struct clt_offload_group *gr = &off->groups[g];
    const double middle = (double)gr->first + 0.5 * (double)gr->numel;
    const int r = (int)(middle * (double)off->size / (double)off->total);
    return r < off->size - 1 ? r : off->size - 1;
}

int clt_offload_group_owner(const clt_offload *off, int id)
{
    if (!off || id < 0 || id >= off->n_groups)
        return -1;
    return owner_of(off, id);
}

bool clt_offload_owns(const clt_offload *off, int g)
{
    return !off->shard || owner_of(off, g) == off->rank;
}

/* The owned groups' part of the state layout, [*lo, *hi) bytes: contiguous, since the
 * owners are. */
static void owned_range(const clt_offload *off, size_t *lo, size_t *hi)
{
    *lo = *hi = 0;
    bool any = false;
    for (int g = 0; g < off->n_groups; g++) {
        const struct clt_offload_group *gr = &off->groups[g];
        if (!clt_offload_owns(off, g))
            continue;
        if (!any)
            *lo = gr->state_first;
        *hi = gr->state_first + gr->state_bytes;
        any = true;
    }
}

size_t clt_offload_owned_state_bytes(const clt_offload *off)
{
    size_t lo, hi;
    owned_range(off, &lo, &hi);
    return hi - lo;
}

void clt_offload_shard_state(clt_offload *off)
{
    size_t hi;
    owned_range(off, &off->state_base, &hi);
    off->state_kept = hi - off->state_base;
}

size_t clt_offload_kept_state(const clt_offload *off, int g, size_t *at)
{
    *at = 0;
    if (!clt_offload_owns(off, g))
        return 0;
    *at = off->groups[g].state_first - off->state_base;
    return off->groups[g].state_bytes;
}

clt_status clt_offload_comm_stats(const clt_offload *off, clt_comm_stats *out)
{
    if (!off || !out)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_offload_comm_stats: %s is NULL",
                        off ? "out" : "off");
    if (!off->comm) {
        memset(out, 0, sizeof *out);
        return CLT_OK;
    }
    return clt_comm_get_stats(off->comm, out);
}

/* ---- the worker's collectives --------------------------------------------------------- */

clt_status clt_offload_reduce_grads(clt_offload *off, int g)
{
    const struct clt_offload_group *gr = &off->groups[g];
    void *grads = (char *)clt_offload_host_ptr(off->grads) + gr->first * off->es;
    const clt_status s = clt_comm_allreduce(off->comm, grads, gr->numel, off->opts.work_dtype,
                                            CLT_REDUCE_SUM);
    if (s != CLT_OK)
        return clt_fail_prefix(s, "offload: the all-reduce of group %d's gradients (rank %d "
                                  "of %d)",
                               g, off->rank, off->size);
    return CLT_OK;
}

clt_status clt_offload_share_master(clt_offload *off, int g, float *master)
{
    const struct clt_offload_group *gr = &off->groups[g];
    const int owner = owner_of(off, g);
    clt_status s = clt_comm_bcast(off->comm, master, gr->numel * 4, owner);
    if (s != CLT_OK)
        return clt_fail_prefix(s, "offload: group %d's updated master values from rank %d "
                                  "(this is rank %d of %d)",
                               g, owner, off->rank, off->size);
    if (owner == off->rank || !off->work)
        return CLT_OK; /* the owner's op wrote it; or the master is the working copy */
    /* clt_convert rounds as the optimizer's fused param_copy does (to nearest even) */
    void *work = (char *)clt_offload_host_ptr(off->work) + gr->first * off->es;
    return clt_convert(off->opts.work_dtype, work, CLT_DTYPE_F32, master, gr->numel);
}

/* ---- the caller's bookkeeping ---------------------------------------------------------- */

clt_status clt_offload_dp_grad(clt_offload *off, int g, bool accumulating)
{
    if (!off->comm)
        return CLT_OK;
    struct clt_offload_group *gr = &off->groups[g];
    if (!accumulating) { /* a step's first micro-batch for this group */
        if (gr->lands > 0)
            gr->lands_last = gr->lands;
        gr->lands = 0;
        gr->reduce_posted = false;
        return CLT_OK;
    }
    if (!gr->reduce_posted)
        return CLT_OK;
    /* More micro-batches than last step: the sum over the ranks was taken too early.
     * Each rank brings back sum / size, so the next all-reduce adds up to the sum of
     * every rank's micro-batches, as if it had not happened (up to rounding). */
    double waited = 0;
    clt_status s = clt_offload_wait_group(off, g, &waited);
    off->stats.grad_wait_s += waited;
    if (s == CLT_OK)
        s = clt_offload_scale_grads(off, g, 1.0f / (float)off->size);
    if (s != CLT_OK)
        return clt_fail_prefix(s, "clt_offload_grad: group %d", g);
    pthread_mutex_lock(&off->lock);
    gr->reduced = false;
    pthread_mutex_unlock(&off->lock);
    gr->reduce_posted = false;
    return CLT_OK;
}

bool clt_offload_dp_landed(clt_offload *off, int g)
{
    if (!off->comm)
        return false;
    struct clt_offload_group *gr = &off->groups[g];
    gr->lands++;
    if (off->opts.update == CLT_OFFLOAD_UPDATE_EAGER || gr->lands != gr->lands_last)
        return false; /* EAGER reduces in the update job; else not known to be final */
    gr->reduce_posted = true;
    return true;
}
