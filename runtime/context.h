/* The context's insides, shared by the runtime's files. */
#ifndef CLT_RUNTIME_CONTEXT_H
#define CLT_RUNTIME_CONTEXT_H

#include <pthread.h>

#include "runtime/driver.h"
#include "runtime/logger.h"

struct clt_context {
    struct clt_logger log;
    clt_stats stats;               /* guarded by lock */
    struct clt_dev_parent parent;  /* lent to the devices: &log, &stats */

    const struct clt_driver *driver;
    struct clt_dev *dev;
    clt_device_info info;

    /* The host driver's device, for ops the device does not support. Opened on first
     * need; equal to dev when the context is on the host. */
    struct clt_dev *host_dev;

    char *cache_dir;
    char *nvme_dir;
    struct clt_nvme *nvme;         /* the NVME tier's I/O state, made by its first buffer */
    clt_tune_mode tune;            /* resolved: AUTO or OFF */

    pthread_mutex_t lock;          /* stats, the lists below, host_dev */
    struct clt_buffer *buffers;    /* every live buffer, to free at destroy */
    struct clt_event *events;      /* every live event, likewise */
};

/* Opens device `index` of `driver` (which need not be in the registry: the tests pass
 * a fault-injecting driver here). clt_context_create resolves a name, then calls this. */
clt_status clt_context_open(const struct clt_driver *driver, int index,
                            const clt_context_opts *opts, clt_context **out);

/* The host driver's device for fallback, opened on first call. */
clt_status clt_context_host_dev(clt_context *ctx, struct clt_dev **out);

/* Tier accounting: reserve fails with CLT_ERR_OUT_OF_MEMORY naming the tier, the bytes
 * asked and the bytes left. */
clt_status clt_context_reserve(clt_context *ctx, clt_tier tier, size_t bytes);
void clt_context_release(clt_context *ctx, clt_tier tier, size_t bytes);

void clt_context_count_op(clt_context *ctx, bool fallback);

#endif
