/* clt — interop with frameworks that have their own OpenCL objects.
 *
 * Not included by clt/clt.h: include it after <CL/cl.h> is reachable (the framework
 * builds against OpenCL anyway). It gives the context's OpenCL objects, so that the
 * framework can allocate buffers clt can use and put its own work on clt's queue, and
 * wraps such a cl_mem as a clt buffer without copying.
 *
 * Ordering. clt submits a context's work to one in-order command queue (the one
 * clt_opencl_handles gives). Work the framework enqueues on that queue is ordered with
 * clt's for free. Work on the framework's own queues must have finished (clFinish, or
 * an event waited on) before the clt call that uses the memory, and the framework must
 * call clt_context_finish before its own queues touch what clt wrote. */
#ifndef CLT_OPENCL_H
#define CLT_OPENCL_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>

#include "clt/context.h"
#include "clt/status.h"
#include "clt/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The OpenCL objects behind a context on an OpenCL device; any out pointer may be NULL.
 * They belong to clt: retain one (clRetainContext ...) to keep it past
 * clt_context_destroy. Errors: CLT_ERR_INVALID_ARG for a NULL ctx,
 * CLT_ERR_UNSUPPORTED when the context's device is not an OpenCL one. */
CLT_API clt_status clt_opencl_handles(clt_context *ctx, cl_platform_id *platform,
                                      cl_context *context, cl_device_id *device,
                                      cl_command_queue *queue);

/* Wraps mem, a buffer of the context's cl_context (from clt_opencl_handles), as a
 * DEVICE clt_buffer of its whole size, without copying. clt retains mem and releases it
 * in clt_buffer_destroy; the memory is counted in no tier's budget. Thread-safe like
 * clt_buffer_create. Errors: CLT_ERR_INVALID_ARG (NULL, mem not a buffer, mem of
 * another cl_context: the text says which), CLT_ERR_UNSUPPORTED (not an OpenCL
 * context). */
CLT_API clt_status clt_opencl_wrap_buffer(clt_context *ctx, cl_mem mem, clt_buffer **out);

#ifdef __cplusplus
}
#endif
#endif
