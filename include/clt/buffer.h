/* clt — buffers and events.
 *
 * A transfer call with `done` NULL blocks until the data has moved. With `done`
 * non-NULL it may return before that and sets *done to an event to wait on (or NULL
 * when the work is already complete); the host memory passed in must stay valid and
 * untouched until then. Work on one context is carried out in submission order. */
#ifndef CLT_BUFFER_H
#define CLT_BUFFER_H

#include "clt/status.h"
#include "clt/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Allocates `bytes` (> 0) on `tier`, counted against that tier's budget. Contents are
 * undefined. Errors: CLT_ERR_INVALID_ARG, CLT_ERR_OUT_OF_MEMORY (the text names the
 * tier, the bytes asked and the bytes left), CLT_ERR_IO (NVME: the file could not be
 * made). */
CLT_API clt_status clt_buffer_create(clt_context *ctx, size_t bytes, clt_tier tier,
                                     clt_buffer **out);

/* The alignment clt_buffer_wrap_host asks of the caller's memory: every dtype's. */
#define CLT_WRAP_HOST_ALIGN 16

/* Uses `bytes` (> 0) of the caller's memory at ptr as a DEVICE buffer that ops read and
 * write in place, without a copy, where the context's device computes in host memory:
 * the host device, and OpenCL devices whose clt_device_info.unified_memory is set (CPU
 * runtimes such as PoCL, integrated GPUs). The memory stays the caller's: it must
 * outlive the buffer, it is counted in no tier's budget, and clt_buffer_destroy leaves
 * it alone. The caller must not touch it while work that uses the buffer is pending;
 * once that work has finished (clt_context_finish, or its event) it holds the results,
 * and what the caller writes there before submitting more work is what that work reads.
 * Thread-safe like clt_buffer_create.
 * Errors: CLT_ERR_INVALID_ARG (NULL, 0 bytes, ptr not aligned to CLT_WRAP_HOST_ALIGN);
 * CLT_ERR_UNSUPPORTED when the device keeps its own memory (a discrete GPU) or needs a
 * larger alignment than ptr has (OpenCL's CL_DEVICE_MEM_BASE_ADDR_ALIGN, 128 bytes on
 * PoCL) — the text says which; copy with clt_buffer_write then. */
CLT_API clt_status clt_buffer_wrap_host(clt_context *ctx, void *ptr, size_t bytes,
                                        clt_buffer **out);

/* Frees the buffer and returns its bytes to the tier's budget. Waits for work that
 * uses it. NULL does nothing. */
CLT_API void clt_buffer_destroy(clt_buffer *buf);

CLT_API size_t clt_buffer_size(const clt_buffer *buf);
CLT_API clt_tier clt_buffer_tier(const clt_buffer *buf);

/* Copies `bytes` from `src` into the buffer at `offset`. */
CLT_API clt_status clt_buffer_write(clt_buffer *buf, size_t offset, const void *src,
                                    size_t bytes, clt_event **done);

/* Copies `bytes` from the buffer at `offset` into `dst`. */
CLT_API clt_status clt_buffer_read(clt_buffer *buf, size_t offset, void *dst, size_t bytes,
                                   clt_event **done);

/* Copies between two buffers of the same context, on any tiers. Overlapping ranges of
 * the same buffer are refused. */
CLT_API clt_status clt_buffer_copy(clt_buffer *dst, size_t dst_offset, clt_buffer *src,
                                   size_t src_offset, size_t bytes, clt_event **done);

/* Waits for the event; returns the status of the work it stands for. A NULL event
 * stands for work that had already finished: CLT_OK. */
CLT_API clt_status clt_event_wait(clt_event *ev);

/* Releases the event (without waiting for it). NULL does nothing. */
CLT_API void clt_event_destroy(clt_event *ev);

#ifdef __cplusplus
}
#endif
#endif
