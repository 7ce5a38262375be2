/* Opening clt's OpenCL device for a peer; see peer_opencl.h. */
#include "bench/peer_opencl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PLATFORMS 16
#define MAX_DEVICES 64

/* clt numbers OpenCL devices across platforms in the order the ICD loader lists them;
 * the device at clt's index is taken if its name matches, else the first device of
 * that name (another process may have changed what the loader lists). */
static cl_device_id find_device(const clt_device_info *info)
{
    cl_platform_id platforms[MAX_PLATFORMS];
    cl_uint n_platforms = 0;
    cl_device_id by_name = NULL;
    int index = 0;
    if (clGetPlatformIDs(MAX_PLATFORMS, platforms, &n_platforms) != CL_SUCCESS)
        return NULL;
    for (cl_uint p = 0; p < n_platforms && p < MAX_PLATFORMS; p++) {
        cl_device_id devices[MAX_DEVICES];
        cl_uint n = 0;
        if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, MAX_DEVICES, devices, &n) !=
            CL_SUCCESS)
            continue;
        for (cl_uint d = 0; d < n && d < MAX_DEVICES; d++, index++) {
            char name[CLT_NAME_MAX] = "";
            clGetDeviceInfo(devices[d], CL_DEVICE_NAME, sizeof name - 1, name, NULL);
            if (strcmp(name, info->device_name) != 0)
                continue;
            if (index == info->index)
                return devices[d];
            if (!by_name)
                by_name = devices[d];
        }
    }
    return by_name;
}

bool peer_opencl_open(const clt_device_info *info, peer_opencl *out, char *why,
                      size_t why_size)
{
    cl_int err = CL_SUCCESS;
    memset(out, 0, sizeof *out);
    if (strcmp(info->driver, "opencl") != 0) {
        snprintf(why, why_size, "n/a: %s is not an OpenCL device", info->name);
        return false;
    }
    out->device = find_device(info);
    if (!out->device) {
        snprintf(why, why_size, "n/a: no OpenCL device named '%s' found", info->device_name);
        return false;
    }
    clGetDeviceInfo(out->device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof out->max_alloc_bytes,
                    &out->max_alloc_bytes, NULL);
    clGetDeviceInfo(out->device, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof out->global_mem_bytes,
                    &out->global_mem_bytes, NULL);
    out->context = clCreateContext(NULL, 1, &out->device, NULL, NULL, &err);
    if (!out->context) {
        snprintf(why, why_size, "failed: clCreateContext: OpenCL error %d", (int)err);
        goto fail;
    }
    out->queue = clCreateCommandQueue(out->context, out->device, 0, &err);
    if (!out->queue) {
        snprintf(why, why_size, "failed: clCreateCommandQueue: OpenCL error %d", (int)err);
        goto fail;
    }
    return true;
fail:
    peer_opencl_close(out);
    return false;
}

void peer_opencl_close(peer_opencl *p)
{
    if (p->queue)
        clReleaseCommandQueue(p->queue);
    if (p->context)
        clReleaseContext(p->context);
    memset(p, 0, sizeof *p);
}

cl_program peer_opencl_build(const peer_opencl *p, const char *source, char *why,
                             size_t why_size)
{
    cl_int err = CL_SUCCESS;
    cl_program program = clCreateProgramWithSource(p->context, 1, &source, NULL, &err);
    if (!program) {
        snprintf(why, why_size, "failed: clCreateProgramWithSource: OpenCL error %d", (int)err);
        return NULL;
    }
    err = clBuildProgram(program, 1, &p->device, "", NULL, NULL);
    if (err != CL_SUCCESS) {
        size_t size = 0;
        char *log = NULL;
        if (clGetProgramBuildInfo(program, p->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &size) ==
                CL_SUCCESS &&
            (log = calloc(1, size + 1)) != NULL)
            clGetProgramBuildInfo(program, p->device, CL_PROGRAM_BUILD_LOG, size, log, NULL);
        snprintf(why, why_size, "failed: building the kernels: OpenCL error %d: %.300s",
                 (int)err, log ? log : "");
        free(log);
        clReleaseProgram(program);
        return NULL;
    }
    return program;
}
