/* The capability report, asked of the OpenCL loader. */
#include "caps.h"

#define CL_TARGET_OPENCL_VERSION 300
#include <CL/cl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef CL_DEVICE_MAX_NUM_SUB_GROUPS
#define CL_DEVICE_MAX_NUM_SUB_GROUPS 0x105C
#endif

/* The index-th device over all platforms, as clt's OpenCL driver numbers them. */
static cl_device_id nth_device(int index)
{
    cl_uint n_platforms = 0;
    cl_device_id found = NULL;
    if (clGetPlatformIDs(0, NULL, &n_platforms) != CL_SUCCESS || n_platforms == 0)
        return NULL;
    cl_platform_id *platforms = calloc(n_platforms, sizeof *platforms);
    if (!platforms || clGetPlatformIDs(n_platforms, platforms, NULL) != CL_SUCCESS) {
        free(platforms);
        return NULL;
    }
    int seen = 0;
    for (cl_uint p = 0; p < n_platforms && !found; p++) {
        cl_uint n = 0;
        if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, 0, NULL, &n) != CL_SUCCESS || n == 0)
            continue;
        cl_device_id *devices = calloc(n, sizeof *devices);
        if (devices && clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, n, devices, NULL) ==
                           CL_SUCCESS) {
            if (index < seen + (int)n)
                found = devices[index - seen];
            seen += (int)n;
        }
        free(devices);
    }
    free(platforms);
    return found;
}

static void text_info(cl_device_id d, cl_device_info what, char *out, size_t cap)
{
    size_t size = 0;
    out[0] = '\0';
    if (clGetDeviceInfo(d, what, cap - 1, out, &size) != CL_SUCCESS)
        out[0] = '\0';
    out[cap - 1] = '\0';
}

static uint64_t uint_info(cl_device_id d, cl_device_info what, size_t width)
{
    unsigned char raw[8] = {0};
    if (clGetDeviceInfo(d, what, width, raw, NULL) != CL_SUCCESS)
        return 0;
    if (width == sizeof(cl_uint)) {
        cl_uint v;
        memcpy(&v, raw, sizeof v);
        return v;
    }
    uint64_t v;
    memcpy(&v, raw, sizeof v);
    return v;
}

static bool has_extension(const char *list, const char *name)
{
    const size_t len = strlen(name);
    for (const char *p = strstr(list, name); p; p = strstr(p + 1, name))
        if ((p == list || p[-1] == ' ') && (p[len] == ' ' || p[len] == '\0'))
            return true;
    return false;
}

void caps_query(const clt_device_info *info, caps_report *out)
{
    memset(out, 0, sizeof *out);
    if (strcmp(info->driver, "opencl") != 0) {
        snprintf(out->note, sizeof out->note, "the %s driver is not OpenCL", info->driver);
        return;
    }
    cl_device_id d = nth_device(info->index);
    char name[CLT_NAME_MAX];
    if (d)
        text_info(d, CL_DEVICE_NAME, name, sizeof name);
    if (!d || strcmp(name, info->device_name) != 0) {
        snprintf(out->note, sizeof out->note,
                 "the OpenCL loader's device %d is not the one clt lists as %s", info->index,
                 info->name);
        return;
    }
    out->opencl = true;
    text_info(d, CL_DEVICE_VERSION, out->device_version, sizeof out->device_version);
    text_info(d, CL_DEVICE_OPENCL_C_VERSION, out->opencl_c_version, sizeof out->opencl_c_version);
    text_info(d, CL_DEVICE_EXTENSIONS, out->extensions, sizeof out->extensions);
    out->fp16 = has_extension(out->extensions, "cl_khr_fp16");
    out->fp64 = has_extension(out->extensions, "cl_khr_fp64");
    out->subgroups = has_extension(out->extensions, "cl_khr_subgroups") ||
                     has_extension(out->extensions, "cl_intel_subgroups");
    out->max_subgroups = (unsigned)uint_info(d, CL_DEVICE_MAX_NUM_SUB_GROUPS, sizeof(cl_uint));
    out->local_mem_bytes = uint_info(d, CL_DEVICE_LOCAL_MEM_SIZE, sizeof(cl_ulong));
    out->local_mem_dedicated =
        uint_info(d, CL_DEVICE_LOCAL_MEM_TYPE, sizeof(cl_device_local_mem_type)) == CL_LOCAL;
    out->max_work_group = uint_info(d, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof(size_t));
    size_t items[3] = {0};
    if (clGetDeviceInfo(d, CL_DEVICE_MAX_WORK_ITEM_SIZES, sizeof items, items, NULL) == CL_SUCCESS)
        for (int i = 0; i < 3; i++)
            out->max_work_item[i] = items[i];
    out->compute_units = (unsigned)uint_info(d, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof(cl_uint));
    out->address_bits = (unsigned)uint_info(d, CL_DEVICE_ADDRESS_BITS, sizeof(cl_uint));
    out->vector_width_float =
        (unsigned)uint_info(d, CL_DEVICE_PREFERRED_VECTOR_WIDTH_FLOAT, sizeof(cl_uint));
}
