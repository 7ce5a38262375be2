/* The OpenCL device behind a clt device, opened in a context and queue of its own, for
 * the peers that use OpenCL directly (the naive attention; CLBlast could share it). */
#ifndef CLT_BENCH_PEER_OPENCL_H
#define CLT_BENCH_PEER_OPENCL_H

#include <stdbool.h>
#include <stddef.h>

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>

#include <clt/clt.h>

typedef struct peer_opencl {
    cl_device_id device;
    cl_context context;
    cl_command_queue queue;
    cl_ulong max_alloc_bytes;   /* CL_DEVICE_MAX_MEM_ALLOC_SIZE */
    cl_ulong global_mem_bytes;  /* CL_DEVICE_GLOBAL_MEM_SIZE */
} peer_opencl;

/* Opens the OpenCL device clt calls `info` (matched by clt's index and the device's
 * name). False, with the reason in `why` ("n/a: host is not an OpenCL device"), when
 * it is not an OpenCL device or cannot be opened; `out` is then zeroed. */
bool peer_opencl_open(const clt_device_info *info, peer_opencl *out, char *why,
                      size_t why_size);

/* Releases the queue and the context; a zeroed peer_opencl does nothing. */
void peer_opencl_close(peer_opencl *p);

/* Builds an OpenCL C program from source for the device. On a failure, `why` holds the
 * error and the start of the build log. */
cl_program peer_opencl_build(const peer_opencl *p, const char *source, char *why,
                             size_t why_size);

#endif
