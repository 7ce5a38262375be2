/* Buffers' insides: which tier, and the memory behind it. */
#ifndef CLT_RUNTIME_BUFFER_H
#define CLT_RUNTIME_BUFFER_H

#include "runtime/driver.h"

struct clt_buffer {
    clt_context *ctx;
    clt_tier tier;
    size_t size;
    struct clt_mem *mem;  /* DEVICE, HOST_PINNED: the driver's memory */
    void *host;           /* HOST: our own allocation */
    int fd;               /* NVME: an unlinked file in the context's NVMe directory */
    struct clt_buffer *prev, *next;  /* the context's list */
};

/* The driver memory behind a DEVICE or HOST_PINNED buffer: what drivers read from the
 * tensors of an op. */
static inline struct clt_mem *clt_buffer_mem(const clt_buffer *buf) { return buf->mem; }

/* Wraps driver memory in a buffer that is in no context's list and counted in no
 * budget: for the runtime's own temporaries. Freed with clt_buffer_free_temp. */
clt_status clt_buffer_wrap_temp(clt_context *ctx, struct clt_mem *mem, clt_buffer **out);
void clt_buffer_free_temp(clt_buffer *buf);

#endif
