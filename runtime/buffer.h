/* Buffers' insides: which tier, and the memory behind it. */
#ifndef CLT_RUNTIME_BUFFER_H
#define CLT_RUNTIME_BUFFER_H

#include "runtime/driver.h"

struct clt_buffer {
    clt_context *ctx;
    clt_tier tier;
    size_t size;
    struct clt_mem *mem;  /* DEVICE, HOST_PINNED: the driver's memory */
    void *host;           /* HOST: our own allocation; HOST_PINNED: the driver's mapping
                             once clt_buffer_host_ptr made it (the bytes are the CPU's) */
    int fd;               /* NVME: an unlinked file in the context's NVMe directory */
    bool borrowed;        /* the caller's memory (wrap_host, a cl_mem): in no budget */
    struct clt_buffer *prev, *next;  /* the context's list */
};

/* The driver memory behind a DEVICE or HOST_PINNED buffer: what drivers read from the
 * tensors of an op. */
static inline struct clt_mem *clt_buffer_mem(const clt_buffer *buf) { return buf->mem; }

/* The CPU's pointer to a HOST or HOST_PINNED buffer's bytes. A HOST_PINNED buffer is
 * mapped on the first call and stays mapped (driver.h, map): from then on its bytes move
 * with memcpy (after the device's queued work, which may use them as the host side of a
 * transfer), clt_buffer_copy treats it like HOST, and ops must not use it. Fails with
 * CLT_ERR_UNSUPPORTED when the device's driver cannot map HOST_PINNED memory, and
 * CLT_ERR_INVALID_ARG for DEVICE and NVME buffers. Thread-safe. */
clt_status clt_buffer_host_ptr(clt_buffer *buf, void **out);

/* Whether the context's device can give HOST_PINNED buffers a CPU pointer. */
bool clt_buffer_pinned_mappable(const clt_context *ctx);

/* Side transfers (driver.h, write_side): like clt_buffer_write/read, but on the device's
 * side queue where it has one: after everything submitted before, while later work does
 * not wait (order it with clt_event_order_after). Other tiers and drivers without side
 * queues: the ordinary transfer. */
clt_status clt_buffer_write_side(clt_buffer *buf, size_t offset, const void *src, size_t bytes,
                                 clt_event **done);
clt_status clt_buffer_read_side(clt_buffer *buf, size_t offset, void *dst, size_t bytes,
                                clt_event **done);

/* A DEVICE buffer over driver memory that wraps the caller's (driver.h, wrap_host; an
 * OpenCL cl_mem): in the context's list, counted in no budget. Takes mem. */
clt_status clt_buffer_adopt(clt_context *ctx, struct clt_mem *mem, clt_buffer **out);

/* Wraps driver memory in a buffer that is in no context's list and counted in no
 * budget: for the runtime's own temporaries. Freed with clt_buffer_free_temp. */
clt_status clt_buffer_wrap_temp(clt_context *ctx, struct clt_mem *mem, clt_buffer **out);
void clt_buffer_free_temp(clt_buffer *buf);

#endif
