/* The driver interface: one table of functions per driver (ggml's backend interface,
 * the OpenCL ICD dispatch table). The runtime validates everything before a driver
 * sees it, so drivers may assume valid, in-bounds arguments.
 *
 * Every driver object has the same shape: the table, its parent, a private context.
 * Drivers report failures with clt_fail() (runtime/error.h), which sets the
 * thread-local sentence and returns the status. */
#ifndef CLT_RUNTIME_DRIVER_H
#define CLT_RUNTIME_DRIVER_H

#include <pthread.h>

#include "clt/clt.h"

/* Bump when the table or the structs below change shape; the registry refuses a
 * table built against another version. */
#define CLT_DRIVER_API_VERSION 4

struct clt_logger;

/* What the runtime lends every device it opens: its log and the counters it reports
 * through clt_context_stats. Owned by the context; outlives the device. */
struct clt_dev_parent {
    struct clt_logger *log;
    clt_stats *stats;          /* update only while holding stats_lock */
    pthread_mutex_t *stats_lock;
};

typedef struct clt_device_opts {
    const char *cache_dir;         /* program cache directory; "" = no on-disk cache */
    clt_tune_mode tune;            /* CLT_TUNE_AUTO or CLT_TUNE_OFF, resolved */
    struct clt_dev_parent *parent;
} clt_device_opts;

struct clt_dev {
    const struct clt_driver *driver;
    struct clt_dev_parent *parent;
    void *impl;
};

/* Memory on DEVICE or HOST_PINNED. The HOST and NVME tiers are the runtime's own. */
struct clt_mem {
    struct clt_dev *dev;
    size_t size;
    clt_tier tier;
    void *impl;
};

/* A driver's handle on asynchronous work; the runtime wraps it in a clt_event. */
struct clt_dev_event;

struct clt_driver {
    int api_version;   /* CLT_DRIVER_API_VERSION */
    const char *name;  /* "host", "opencl": the part before ':' in device names */

    /* Fills up to `max` entries of out (out may be NULL if max is 0) and sets *n to the
     * number of devices. The runtime fills name, driver and index. */
    clt_status (*probe)(clt_device_info *out, int max, int *n);
    clt_status (*open)(int index, const clt_device_opts *opts, struct clt_dev **out);
    void (*close)(struct clt_dev *dev);

    /* tier is CLT_TIER_DEVICE or CLT_TIER_HOST_PINNED. */
    clt_status (*alloc)(struct clt_dev *dev, size_t size, clt_tier tier,
                        struct clt_mem **out);
    void (*free)(struct clt_mem *mem);

    /* With ev NULL the call completes before it returns. Otherwise it may return early
     * and set *ev (NULL if already complete). Work on one device runs in submission
     * order, with one exception: the side transfers below. */
    clt_status (*write)(struct clt_mem *dst, size_t off, const void *src, size_t n,
                        struct clt_dev_event **ev);
    clt_status (*read)(struct clt_mem *src, size_t off, void *dst, size_t n,
                       struct clt_dev_event **ev);
    clt_status (*copy)(struct clt_mem *dst, size_t dst_off, struct clt_mem *src,
                       size_t src_off, size_t n, struct clt_dev_event **ev);

    /* Whether run() handles this op, dtypes included. Answer from kinds, dtypes and
     * shapes alone: clt_op_supported asks with tensors whose buffers are NULL. */
    bool (*supports)(struct clt_dev *dev, const clt_op *op);
    /* Tensors of op reference buffers whose memory is this device's (see
     * clt_buffer_mem in runtime/buffer.h). */
    clt_status (*run)(struct clt_dev *dev, const clt_op *op, struct clt_dev_event **ev);
    /* Waits for all submitted work; reports the first asynchronous failure. */
    clt_status (*finish)(struct clt_dev *dev);

    /* Optional: measures kernel candidates for ops of `kind` and caches the winner
     * (flags: CLT_TUNE_FORCE, CLT_TUNE_PEERS). NULL: nothing to tune, CLT_OK. */
    clt_status (*tune)(struct clt_dev *dev, clt_op_kind kind, unsigned flags);
    /* Optional: how run() would carry out this (validated, supported) op, in a few
     * words ("gemm_cpu RM=6 NR=16"). NULL: the driver's name. */
    clt_status (*describe)(struct clt_dev *dev, const clt_op *op, char *out, size_t size);

    /* Optional, together: NULL means the driver completes all work before returning and
     * never sets an event. */
    clt_status (*event_wait)(struct clt_dev_event *ev);
    void (*event_release)(struct clt_dev_event *ev);

    /* Optional, together: side transfers, on a second in-order queue of the device, so
     * that moving bytes overlaps compute (a copy engine). A side transfer starts after
     * everything submitted to the device before it, main work and side transfers alike,
     * but work submitted AFTER it does not wait for it, except later side transfers
     * (side transfers keep their own submission order): whatever must see it, or must
     * not overwrite what it reads, calls order_after with its event first. ev as for
     * write/read. NULL: the runtime uses write/read, which keep submission order. */
    clt_status (*write_side)(struct clt_mem *dst, size_t off, const void *src, size_t n,
                             struct clt_dev_event **ev);
    clt_status (*read_side)(struct clt_mem *src, size_t off, void *dst, size_t n,
                            struct clt_dev_event **ev);
    /* Work submitted after this call (of either kind) starts after ev, an event of this
     * device, has completed; returns at once. */
    clt_status (*order_after)(struct clt_dev *dev, struct clt_dev_event *ev);

    /* Optional: maps HOST_PINNED memory for the CPU, once for the rest of its life (free
     * unmaps it), and sets *ptr; a second call gives the same pointer. From then on the
     * memory is the CPU's: the runtime moves bytes in and out of it with memcpy, and the
     * pointer may be the host side of write/read/write_side/read_side (a driver copies
     * from pinned memory without staging). Ops must not use mapped memory. NULL: the
     * CPU cannot reach the driver's HOST_PINNED memory (the runtime uses HOST). */
    clt_status (*map)(struct clt_mem *mem, void **ptr);

    /* Optional: the caller's host memory (size bytes at ptr) as DEVICE memory that ops
     * use in place, without a copy; free releases the wrapping, never ptr. Only where
     * the device computes in host memory (the host, OpenCL CPU runtimes, integrated
     * GPUs: clt_device_info.unified_memory), so that once the device's work is finished
     * the bytes at ptr are the results, and what the caller writes there before it
     * submits more work is what that work reads. NULL or CLT_ERR_UNSUPPORTED: the
     * device cannot. */
    clt_status (*wrap_host)(struct clt_dev *dev, void *ptr, size_t size, struct clt_mem **out);
};

/* Memory a driver allocates for its own use while running ops (scratch, workspaces)
 * counts against the context's budget like a buffer: DEVICE for the context's device,
 * HOST when the host driver runs an op as the fallback. Reserve fails with
 * CLT_ERR_OUT_OF_MEMORY naming the tier and the bytes; `what` says what it was for.
 * Release exactly what was reserved. */
clt_status clt_dev_reserve(struct clt_dev *dev, size_t bytes, const char *what);
void clt_dev_release(struct clt_dev *dev, size_t bytes);

#endif
