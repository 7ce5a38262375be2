/* Setting a kernel's arguments and enqueueing it: the two steps every launch of the
 * driver shares, with errors that name the kernel. */
#include "backends/opencl/cl_internal.h"

clt_status clt_cl_set_args(struct clt_cl_device *dev, cl_kernel kernel, const char *name,
                           const struct clt_cl_arg *args, size_t count)
{
    for (cl_uint i = 0; i < (cl_uint)count; i++) {
        cl_int err = clSetKernelArg(kernel, i, args[i].size, args[i].value);
        if (err != CL_SUCCESS)
            return clt_cl_fail(dev, err, CLT_ERR_LAUNCH, "clSetKernelArg(%s, %u)", name,
                               (unsigned)i);
    }
    return CLT_OK;
}

clt_status clt_cl_enqueue(struct clt_cl_device *dev, cl_kernel kernel, const char *name,
                          cl_uint dims, const size_t *global, const size_t *local,
                          cl_event *event)
{
    cl_int err = clEnqueueNDRangeKernel(dev->queue, kernel, dims, NULL, global, local, 0,
                                        NULL, event);
    if (err != CL_SUCCESS) {
        if (event)
            *event = NULL;
        return clt_cl_fail(dev, err, CLT_ERR_LAUNCH, "clEnqueueNDRangeKernel(%s)", name);
    }
    return CLT_OK;
}
