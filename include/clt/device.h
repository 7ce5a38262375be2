/* clt — devices. A device is named "driver:index" ("opencl:0", "opencl:1") or "host". */
#ifndef CLT_DEVICE_H
#define CLT_DEVICE_H

#include "clt/status.h"
#include "clt/types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum clt_device_type {
    CLT_DEVICE_TYPE_HOST = 0, /* the plain-C host driver */
    CLT_DEVICE_TYPE_CPU = 1,  /* an OpenCL CPU device (PoCL, Intel CPU runtime) */
    CLT_DEVICE_TYPE_GPU = 2,
    CLT_DEVICE_TYPE_ACCELERATOR = 3,
    CLT_DEVICE_TYPE_OTHER = 4,
} clt_device_type;

#define CLT_NAME_MAX 256

typedef struct clt_device_info {
    char name[64];                    /* clt's name for it: "opencl:0", "host" */
    char driver[32];                  /* "opencl", "host" */
    int index;                        /* index within its driver */
    char device_name[CLT_NAME_MAX];   /* the vendor's name for the device */
    char vendor[CLT_NAME_MAX];
    char platform[CLT_NAME_MAX];      /* platform name and version; "" for host */
    char driver_version[CLT_NAME_MAX];
    char opencl_c_version[64];        /* "OpenCL C 1.2 ..."; "" for host */
    clt_device_type type;
    uint64_t global_mem_bytes;
    uint64_t max_alloc_bytes;         /* largest single allocation */
    uint64_t local_mem_bytes;         /* on-chip memory per work-group; 0 for host */
    int compute_units;
    int max_work_group_size;          /* 1 for host */
    bool fp16;                        /* native half arithmetic (cl_khr_fp16) */
    bool unified_memory;              /* device memory is host memory */
} clt_device_info;

/* "host", "cpu", "gpu", "accelerator", "other"; "?" for an unknown value. Static. */
CLT_API const char *clt_device_type_name(clt_device_type type);

/* Lists every device of every registered driver, in registry order (host last). Writes
 * at most `max` entries to `out` (which may be NULL when max is 0) and the number that
 * exist to *count, which may exceed max: call with max 0 to size the array. A driver
 * that fails to probe is skipped and logged nowhere: use clt-info to diagnose. Opens
 * nothing. Thread-safe. Errors: CLT_ERR_INVALID_ARG for NULL count, max < 0, or NULL
 * out with max > 0. */
CLT_API clt_status clt_device_list(clt_device_info *out, int max, int *count);

#ifdef __cplusplus
}
#endif
#endif
