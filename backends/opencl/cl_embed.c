/* clt/opencl.h: a context's OpenCL objects, and a framework's cl_mem as a buffer. */
#include <stdlib.h>

#include "backends/opencl/cl_internal.h"
#include "clt/opencl.h"
#include "runtime/buffer.h"
#include "runtime/context.h"
#include "runtime/error.h"

static clt_status device_of(const char *fn, clt_context *ctx, struct clt_cl_device **out)
{
    if (!ctx)
        return clt_fail(CLT_ERR_INVALID_ARG, "%s: ctx is NULL", fn);
    if (ctx->driver != &clt_opencl_driver)
        return clt_fail(CLT_ERR_UNSUPPORTED,
                        "%s: the context's device is a %s device, not an OpenCL one", fn,
                        ctx->driver->name);
    *out = clt_cl_device_of(ctx->dev);
    return CLT_OK;
}

clt_status clt_opencl_handles(clt_context *ctx, cl_platform_id *platform, cl_context *context,
                              cl_device_id *device, cl_command_queue *queue)
{
    struct clt_cl_device *dev = NULL;
    clt_status s = device_of("clt_opencl_handles", ctx, &dev);
    if (s != CLT_OK)
        return s;
    if (platform)
        *platform = dev->platform;
    if (context)
        *context = dev->context;
    if (device)
        *device = dev->device;
    if (queue)
        *queue = dev->queue;
    return CLT_OK;
}

clt_status clt_opencl_wrap_buffer(clt_context *ctx, cl_mem buffer, clt_buffer **out)
{
    const char *fn = "clt_opencl_wrap_buffer";
    if (out)
        *out = NULL;
    struct clt_cl_device *dev = NULL;
    clt_status s = device_of(fn, ctx, &dev);
    if (s != CLT_OK)
        return s;
    if (!buffer || !out)
        return clt_fail(CLT_ERR_INVALID_ARG, "%s: %s is NULL", fn, !buffer ? "mem" : "out");
    cl_mem_object_type type = 0;
    cl_context owner = NULL;
    size_t size = 0;
    cl_int err = clGetMemObjectInfo(buffer, CL_MEM_TYPE, sizeof type, &type, NULL);
    if (err == CL_SUCCESS)
        err = clGetMemObjectInfo(buffer, CL_MEM_CONTEXT, sizeof owner, &owner, NULL);
    if (err == CL_SUCCESS)
        err = clGetMemObjectInfo(buffer, CL_MEM_SIZE, sizeof size, &size, NULL);
    if (err != CL_SUCCESS)
        return clt_fail(CLT_ERR_INVALID_ARG, "%s: mem is not a valid cl_mem: %s (%d)", fn,
                        clt_cl_error_name(err), (int)err);
    if (type != CL_MEM_OBJECT_BUFFER)
        return clt_fail(CLT_ERR_INVALID_ARG, "%s: mem is an image, not a buffer", fn);
    if (owner != dev->context)
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "%s: mem belongs to another cl_context than %s's: create it in the "
                        "one clt_opencl_handles gives", fn, dev->label);
    struct clt_cl_mem *mem = calloc(1, sizeof *mem);
    if (!mem)
        return clt_fail(CLT_ERR_OUT_OF_MEMORY, "%s: no host memory for a handle", fn);
    clRetainMemObject(buffer);
    mem->buffer = buffer;
    mem->base = (struct clt_mem){.dev = ctx->dev, .size = size, .tier = CLT_TIER_DEVICE,
                                 .impl = mem};
    return clt_buffer_adopt(ctx, &mem->base, out);
}
