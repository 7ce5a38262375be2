/* A fault-injecting driver for the tests, the way the OpenCL ICD loader tests itself
 * against a fake vendor driver. One device; memory is malloc'd host RAM; transfers are
 * synchronous; GEMM runs through clt_ref_gemm_f32; the first op run on an open device
 * "builds a program", so a build failure can be injected.
 *
 * Open a context on it with clt_context_open(&stub_driver, 0, opts, &ctx)
 * (runtime/context.h). Arm a fault by setting a count in stub_faults: `fail_alloc = 1`
 * makes the next allocation fail, `fail_alloc = 2` the next two. Each failure returns
 * its own status through clt_fail():
 *   alloc → CLT_ERR_OUT_OF_MEMORY   build → CLT_ERR_BUILD (the text holds STUB_BUILD_LOG)
 *   write, read, copy → CLT_ERR_TRANSFER   launch → CLT_ERR_LAUNCH
 *   finish → CLT_ERR_LAUNCH (an "asynchronous" kernel failure)
 *   open → CLT_ERR_NO_DEVICE
 * `lost = true` loses the device: from then on every transfer, run and finish returns
 * CLT_ERR_DEVICE_LOST until the test clears it. `unsupported = true` makes supports()
 * refuse every op, so the runtime must fall back to the host. */
#ifndef CLT_TEST_STUB_DRIVER_H
#define CLT_TEST_STUB_DRIVER_H

#include "runtime/driver.h"

#define STUB_BUILD_LOG "stub.cl:12:5: error: use of undeclared identifier 'wgsize'"

struct stub_faults {
    /* armed faults: how many of the next calls fail */
    int fail_open, fail_alloc, fail_build, fail_write, fail_read, fail_copy, fail_launch,
        fail_finish;
    bool lost;
    bool unsupported;

    /* what happened */
    int n_open, n_alloc, n_write, n_read, n_copy, n_run, n_build, n_finish;
    int live_devs;      /* opened and not closed */
    int live_allocs;    /* allocated and not freed */
    size_t live_bytes;
};

/* The one piece of test state: the fault configuration and counters. */
extern struct stub_faults stub_faults;

/* Clears every fault and counter (call at the start of each test). */
void stub_reset(void);

extern const struct clt_driver stub_driver;

#endif
