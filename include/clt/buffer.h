/* clt — buffers and events.
 *
 * A buffer belongs to the context it was made on; only that context's ops and copies
 * use it. A transfer call with `done` NULL blocks until the data has moved. With `done`
 * non-NULL it may return before that and sets *done to an event to wait on (or NULL
 * when the work is already complete: HOST and NVME transfers always are); the host
 * memory passed in must stay valid and untouched until then, and the event is the
 * caller's to destroy. On failure *done is NULL. Work on one context is carried out in
 * submission order. Transfers are work: submit them from one thread at a time per
 * context (clt.h); making and destroying buffers is thread-safe. */
#ifndef CLT_BUFFER_H
#define CLT_BUFFER_H

#include "clt/status.h"
#include "clt/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Allocates `bytes` (> 0) on `tier`, counted against that tier's budget, as a new
 * buffer in *out, the caller's until clt_buffer_destroy (or clt_context_destroy).
 * Contents are undefined. Thread-safe: several threads may make buffers on one context
 * at once. Errors: CLT_ERR_INVALID_ARG (0 bytes, not a tier), CLT_ERR_OUT_OF_MEMORY (the
 * text names the tier, the bytes asked and the bytes left), CLT_ERR_IO (NVME: the file
 * could not be made). */
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

/* Frees the buffer and returns its bytes to the tier's budget; a wrapped buffer's
 * memory stays its owner's (clt_opencl_wrap_buffer's cl_mem is released). Work already
 * submitted that uses the buffer still completes correctly: device memory is kept alive
 * until it has, and a HOST buffer waits for it. The handle is dangling afterwards. NULL
 * does nothing. Thread-safe, but not while another thread still submits work that uses
 * this buffer. */
CLT_API void clt_buffer_destroy(clt_buffer *buf);

/* The size in bytes and the tier the buffer was made with (wrapped buffers: DEVICE);
 * 0 and CLT_TIER_DEVICE for NULL. Thread-safe. */
CLT_API size_t clt_buffer_size(const clt_buffer *buf);
CLT_API clt_tier clt_buffer_tier(const clt_buffer *buf);

/* Copies `bytes` from host memory at `src` into the buffer at `offset`, on any tier;
 * 0 bytes do nothing. See the top of this file for `done`. Errors: CLT_ERR_INVALID_ARG
 * (NULL src, a range outside the buffer: the text gives both), CLT_ERR_TRANSFER (the
 * device refused the copy), CLT_ERR_IO (NVME: the file could not be written). */
CLT_API clt_status clt_buffer_write(clt_buffer *buf, size_t offset, const void *src,
                                    size_t bytes, clt_event **done);

/* Copies `bytes` from the buffer at `offset` into host memory at `dst`, on any tier;
 * 0 bytes do nothing. With `done` non-NULL, dst holds the data only once the event has
 * completed. Errors: as clt_buffer_write (NVME: a failed or short read is CLT_ERR_IO). */
CLT_API clt_status clt_buffer_read(clt_buffer *buf, size_t offset, void *dst, size_t bytes,
                                   clt_event **done);

/* Copies `bytes` between two buffers of the same context, on any tiers. Between two
 * device-side buffers it is one device copy (asynchronous with `done`); a copy from or
 * to NVME returns when it is done (through two host chunks where the other side is
 * device memory).
 * Errors: CLT_ERR_INVALID_ARG (NULL, buffers of two contexts, a range outside either
 * buffer, overlapping ranges of one buffer), CLT_ERR_TRANSFER, CLT_ERR_IO (NVME), and
 * CLT_ERR_OUT_OF_MEMORY for the host chunks. */
CLT_API clt_status clt_buffer_copy(clt_buffer *dst, size_t dst_offset, clt_buffer *src,
                                   size_t src_offset, size_t bytes, clt_event **done);

/* Waits for the event; returns the status of the work it stands for. A NULL event
 * stands for work that had already finished: CLT_OK. Waiting again returns the same
 * status at once; the event stays the caller's to destroy. One thread at a time per
 * event. Errors: what the work met on the device (CLT_ERR_TRANSFER, CLT_ERR_LAUNCH,
 * CLT_ERR_DEVICE_LOST ...). */
CLT_API clt_status clt_event_wait(clt_event *ev);

/* Releases the event without waiting for it: the work still completes, but only
 * clt_event_wait would have reported its status. NULL does nothing. Events not
 * destroyed are freed by clt_context_destroy. */
CLT_API void clt_event_destroy(clt_event *ev);

#ifdef __cplusplus
}
#endif
#endif
