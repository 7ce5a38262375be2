/* GEMM through CLBlast, where clt was built with it. */
#include "backends/opencl/cl_internal.h"

#ifndef CLT_HAVE_CLBLAST
bool clt_cl_clblast_supports(const struct clt_cl_device *dev, const clt_gemm_args *args)
{
    (void)dev;
    (void)args;
    return false;
}

clt_status clt_cl_clblast_enqueue(struct clt_cl_device *dev, const clt_gemm_args *args,
                                  cl_event *event)
{
    (void)args;
    (void)event;
    return clt_fail(CLT_ERR_UNSUPPORTED, "%s: clt was built without CLBlast", dev->label);
}
#endif
