/* The offload engine's accounting (clt/offload.h): bytes moved per direction and tier,
 * time each stage waited, and the trace callback. */
#include <string.h>
#include <time.h>

#include "runtime/error.h"
#include "runtime/offload.h"

double clt_offload_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

void clt_offload_trace(clt_offload *off, clt_offload_event ev, int group, int64_t step)
{
    if (off->opts.trace)
        off->opts.trace(off->opts.trace_user, ev, group, step, clt_offload_now() - off->t0);
}

clt_status clt_offload_get_stats(const clt_offload *off, clt_offload_stats *out)
{
    if (!off || !out)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_offload_get_stats: %s is NULL",
                        off ? "out" : "off");
    clt_offload *mut = (clt_offload *)off; /* the lock is not part of the value */
    pthread_mutex_lock(&mut->lock);
    *out = off->stats;
    pthread_mutex_unlock(&mut->lock);
    return CLT_OK;
}

void clt_offload_reset_stats(clt_offload *off)
{
    if (!off)
        return;
    pthread_mutex_lock(&off->lock);
    memset(&off->stats, 0, sizeof off->stats);
    pthread_mutex_unlock(&off->lock);
}

const char *clt_offload_event_name(clt_offload_event event)
{
    switch (event) {
    case CLT_OFFLOAD_FETCH: return "fetch";
    case CLT_OFFLOAD_GRADS_READY: return "grads_ready";
    case CLT_OFFLOAD_OPTIM_BEGIN: return "optim_begin";
    case CLT_OFFLOAD_OPTIM_END: return "optim_end";
    case CLT_OFFLOAD_NVME_READ: return "nvme_read";
    case CLT_OFFLOAD_NVME_WRITE: return "nvme_write";
    }
    return "?";
}
