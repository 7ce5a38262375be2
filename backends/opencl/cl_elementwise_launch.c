/* What the elementwise family (cl_elementwise.c, cl_elementwise_reduce.c) and the
 * embedding family (cl_embedding.c) share: their launch parameters per device type,
 * one launch (program, kernel object, arguments, 1-D range), and per-op scratch that
 * counts against the context's DEVICE budget.
 *
 * Kernel objects are made per launch, as in cl_gemm.c: clSetKernelArg on a shared one
 * would race between threads. Programs are built once per device and dtype
 * (cl_program.c) and cached on disk. */
#include <stdio.h>

#include "backends/opencl/cl_internal.h"

/* CPU (PoCL and the vendors' CPU runtimes): a work-group is a loop, vectorised across
 * its work-items, and groups are spread over the cores; large groups amortise the cost
 * of starting one. Measured on PoCL 3.1 (2 AVX-512 cores): 256 work-items of 4 vectors
 * each keep add at memory speed; bias_grad wants short chunks (64 rows: a group's rows
 * stay in cache between its column vectors) and so many partials; bias_add, 16 rows per
 * work-item. Chunks of 256 positions keep embedding_link's compares per position low.
 * GPU: 256 work-items per group (8 warps, 4 wavefronts); sqnorm's 1024 groups fill an
 * H100's 132 SMs several times over; the embedding chain walks 1024 positions per
 * step. */
static const struct clt_cl_ew_params cpu_params = {
    .wg = 256, .items = 4, .rows_per_item = 16, .bias_chunk = 64, .bias_partials = 4096,
    .sqnorm_groups = 64, .chunk = 256,
};
static const struct clt_cl_ew_params gpu_params = {
    .wg = 256, .items = 4, .rows_per_item = 4, .bias_chunk = 64, .bias_partials = 1024,
    .sqnorm_groups = 1024, .chunk = 1024,
};

/* The largest power of two <= x (x >= 1). */
static size_t pow2_floor(size_t x)
{
    size_t p = 1;
    while (p <= x / 2)
        p *= 2;
    return p;
}

void clt_cl_ew_params_of(const struct clt_cl_device *dev, struct clt_cl_ew_params *out)
{
    *out = dev->info.type == CLT_DEVICE_TYPE_CPU ? cpu_params : gpu_params;
    const size_t max = dev->info.max_work_group_size > 0
                           ? pow2_floor((size_t)dev->info.max_work_group_size)
                           : 1;
    if (out->wg > max)
        out->wg = max;
    if (out->chunk > max)
        out->chunk = max;
}

clt_status clt_cl_ew_launch(struct clt_cl_device *dev, const char *file, const char *name,
                            clt_dtype dtype, const struct clt_cl_arg *args, size_t n_args,
                            size_t global, size_t local, cl_event *event)
{
    if (event)
        *event = NULL;
    char options[64];
    snprintf(options, sizeof options, "-DAB_DTYPE=%d -DC_DTYPE=%d", (int)dtype, (int)dtype);
    cl_program program = NULL;
    clt_status status = clt_cl_program_get(dev, file, options, &program);
    if (status != CLT_OK)
        return status;
    cl_int err = CL_SUCCESS;
    cl_kernel kernel = clCreateKernel(program, name, &err);
    if (!kernel)
        return clt_cl_fail(dev, err, CLT_ERR_BUILD, "clCreateKernel(%s, %s)", name, file);
    size_t kernel_max = local;
    if (clGetKernelWorkGroupInfo(kernel, dev->device, CL_KERNEL_WORK_GROUP_SIZE,
                                 sizeof kernel_max, &kernel_max, NULL) != CL_SUCCESS)
        kernel_max = local;
    if (kernel_max < local) {
        status = clt_fail(CLT_ERR_UNSUPPORTED,
                          "%s: %s (%s) runs at most %zu work-items per group; it needs %zu",
                          dev->label, name, file, kernel_max, local);
        goto done;
    }
    status = clt_cl_set_args(dev, kernel, name, args, n_args);
    const size_t rounded = (global + local - 1) / local * local;
    if (status == CLT_OK)
        status = clt_cl_enqueue(dev, kernel, name, 1, &rounded, &local, event);
done:
    /* The queue holds its own reference while the launch is pending. */
    clReleaseKernel(kernel);
    return status;
}

clt_status clt_cl_ew_scratch(struct clt_cl_device *dev, size_t bytes, const char *what,
                             cl_mem *out)
{
    *out = NULL;
    clt_status status = clt_dev_reserve(&dev->base, bytes, what);
    if (status != CLT_OK)
        return status;
    cl_int err = CL_SUCCESS;
    *out = clCreateBuffer(dev->context, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (!*out) {
        clt_dev_release(&dev->base, bytes);
        return clt_cl_fail(dev, err, CLT_ERR_OUT_OF_MEMORY, "clCreateBuffer(%s, %zu bytes)",
                           what, bytes);
    }
    return CLT_OK;
}

void clt_cl_ew_scratch_free(struct clt_cl_device *dev, cl_mem mem, size_t bytes)
{
    if (!mem)
        return;
    clReleaseMemObject(mem);
    clt_dev_release(&dev->base, bytes);
}
