/* What the parameter databases (cl_gemm_db.c, cl_attention_db.c, cl_optim_db.c) key
 * devices by, and their lookup (cl_device_db.h). */
#include <stdio.h>
#include <string.h>

#include "backends/opencl/cl_device_db.h"
#include "backends/opencl/cl_internal.h"

/* From cl_ext.h (cl_nv_device_attribute_query). */
#ifndef CL_DEVICE_COMPUTE_CAPABILITY_MAJOR_NV
#define CL_DEVICE_COMPUTE_CAPABILITY_MAJOR_NV 0x4000
#define CL_DEVICE_COMPUTE_CAPABILITY_MINOR_NV 0x4001
#endif

bool clt_cl_contains_ignoring_case(const char *haystack, const char *needle)
{
    const size_t n = strlen(needle);
    for (const char *h = haystack; *h; h++) {
        size_t i = 0;
        while (i < n && h[i] && (h[i] | 0x20) == (needle[i] | 0x20))
            i++;
        if (i == n)
            return true;
    }
    return false;
}

void clt_cl_architecture_of(const struct clt_cl_device *dev, char *out, size_t size)
{
    out[0] = '\0';
    if (clt_cl_contains_ignoring_case(dev->info.vendor, "NVIDIA")) {
        cl_uint major = 0, minor = 0;
        if (clGetDeviceInfo(dev->device, CL_DEVICE_COMPUTE_CAPABILITY_MAJOR_NV, sizeof major,
                            &major, NULL) == CL_SUCCESS &&
            clGetDeviceInfo(dev->device, CL_DEVICE_COMPUTE_CAPABILITY_MINOR_NV, sizeof minor,
                            &minor, NULL) == CL_SUCCESS)
            snprintf(out, size, "sm_%u%u", (unsigned)major, (unsigned)minor);
        return;
    }
    const char *name = dev->info.device_name;
    if (strncmp(name, "gfx", 3) == 0) {
        size_t n = strcspn(name, ": "); /* "gfx90a:sramecc+:xnack-" */
        if (n >= size)
            n = size - 1;
        memcpy(out, name, n);
        out[n] = '\0';
    }
}

const void *clt_cl_db_lookup(const struct clt_cl_device *dev, const struct clt_cl_db_vendor *db,
                             int n, size_t entry_size)
{
    for (int i = 0; i < n; i++) {
        const struct clt_cl_db_vendor *v = &db[i];
        if (v->type != dev->info.type ||
            (v->vendor && !clt_cl_contains_ignoring_case(dev->info.vendor, v->vendor)))
            continue;
        char arch[64];
        clt_cl_architecture_of(dev, arch, sizeof arch);
        const struct clt_cl_db_arch *a = v->archs;
        while (a->arch && strcmp(a->arch, arch) != 0)
            a++;
        /* Each entry starts with its name: step over them by the database's entry size. */
        const char *entry = a->devices;
        for (;;) {
            const char *name;
            memcpy(&name, entry, sizeof name);
            if (!name || strcmp(name, dev->info.device_name) == 0)
                return entry;
            entry += entry_size;
        }
    }
    return NULL;
}

unsigned clt_cl_native_float_width(const struct clt_cl_device *dev)
{
    cl_uint width = 0;
    if (clGetDeviceInfo(dev->device, CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT, sizeof width, &width,
                        NULL) != CL_SUCCESS)
        return 0;
    return width;
}
