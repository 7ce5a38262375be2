/* Resolving a device's GEMM parameters: $CLT_GEMM_PARAMS over the built-in defaults. */
#include <stdlib.h>

#include "backends/opencl/cl_internal.h"

clt_status clt_cl_gemm_params_get(struct clt_cl_device *dev,
                                  const struct clt_cl_gemm_params **out)
{
    clt_status s = CLT_OK;
    pthread_mutex_lock(&dev->gemm_lock);
    if (!dev->gemm_params_ready) {
        struct clt_cl_gemm_params p;
        clt_cl_gemm_default_params(dev, &p);
        const char *env = getenv("CLT_GEMM_PARAMS");
        if (env && *env) {
            s = clt_cl_gemm_params_parse(env, &p);
            if (s == CLT_OK && !clt_cl_gemm_params_fit(dev, &p))
                s = clt_fail(CLT_ERR_INVALID_ARG,
                             "%s: $CLT_GEMM_PARAMS='%s' does not fit the device", dev->label, env);
            if (s != CLT_OK)
                s = clt_fail_prefix(s, "%s: $CLT_GEMM_PARAMS", dev->label);
        }
        if (s == CLT_OK) {
            dev->gemm_params = p;
            dev->gemm_params_ready = true;
        }
    }
    *out = &dev->gemm_params;
    pthread_mutex_unlock(&dev->gemm_lock);
    return s;
}

clt_status clt_cl_tune(struct clt_dev *dev, clt_op_kind kind, unsigned flags)
{
    (void)dev;
    (void)kind;
    (void)flags;
    return CLT_OK;
}
