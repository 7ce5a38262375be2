/* The capability report: what the device's OpenCL driver says about itself, beside
 * what clt's device list holds. clt_device_info has no extension list, OpenCL version or
 * subgroup figures, so these are asked of the OpenCL loader directly, for the device
 * clt numbers "opencl:N" (the N-th device of all platforms in the loader's order, as
 * backends/opencl/cl_driver.c counts them; the device name must match). */
#ifndef CLT_CONFORM_CAPS_H
#define CLT_CONFORM_CAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <clt/clt.h>

typedef struct caps_report {
    bool opencl;                   /* the figures below came from OpenCL */
    char note[256];                /* why not, when they did not */
    char device_version[128];      /* "OpenCL 3.0 PoCL ..." */
    char opencl_c_version[128];
    char extensions[8192];
    bool fp16, fp64;               /* cl_khr_fp16, cl_khr_fp64 */
    bool subgroups;                /* cl_khr_subgroups or cl_intel_subgroups */
    unsigned max_subgroups;        /* CL_DEVICE_MAX_NUM_SUB_GROUPS (OpenCL 2.1+), else 0 */
    uint64_t local_mem_bytes;
    bool local_mem_dedicated;      /* CL_LOCAL, not emulated in global memory */
    uint64_t max_work_group;
    uint64_t max_work_item[3];
    unsigned compute_units;
    unsigned address_bits;
    unsigned vector_width_float;   /* preferred */
} caps_report;

/* Fills out for the device; for the host device, or when OpenCL cannot be asked,
 * out->opencl is false and note says why. Never fails. */
void caps_query(const clt_device_info *info, caps_report *out);

#endif
