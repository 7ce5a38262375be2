/* GEMM on OpenCL: picks the tile size the device can run, gets the program
 * (kernels_cl/gemm.cl) and launches it over (N, M, batch). */
#include <limits.h>
#include <stdio.h>

#include "backends/opencl/cl_internal.h"

#define GEMM_KERNEL "gemm_f32"

/* Tile sizes (TS) to try, largest first: a TS×TS work-group must fit the device's and
 * the compiled kernel's work-group limits. */
static const int tile_sizes[] = {16, 8, 4};
#define TILE_SIZE_COUNT ((int)(sizeof tile_sizes / sizeof tile_sizes[0]))

static size_t local_bytes(int ts) { return 2u * (size_t)ts * (size_t)(ts + 1) * sizeof(float); }

static bool tile_fits_device(const struct clt_cl_device *dev, int ts)
{
    return ts * ts <= dev->info.max_work_group_size &&
           local_bytes(ts) <= dev->info.local_mem_bytes;
}

static bool is_f32(const clt_tensor *t) { return t->dtype == CLT_DTYPE_F32; }

/* Tensor offsets are bytes, the kernel indexes floats. */
static bool is_float_aligned(const clt_tensor *t) { return t->offset % sizeof(float) == 0; }

struct gemm_shape {
    int m, n, k;
    size_t batch;
};

static struct gemm_shape shape_of(const clt_gemm_args *g)
{
    const clt_tensor *a = &g->a, *c = &g->c;
    struct gemm_shape s;
    s.m = (int)c->shape[c->rank - 2];
    s.n = (int)c->shape[c->rank - 1];
    s.k = (int)(g->trans_a ? a->shape[a->rank - 2] : a->shape[a->rank - 1]);
    s.batch = c->rank == 3 ? (size_t)c->shape[0] : 1;
    return s;
}

bool clt_cl_gemm_supports(const struct clt_cl_device *dev, const clt_gemm_args *g)
{
    if (!is_f32(&g->a) || !is_f32(&g->b) || !is_f32(&g->c))
        return false;
    if (g->bias.buf && !is_f32(&g->bias))
        return false;
    if (!is_float_aligned(&g->a) || !is_float_aligned(&g->b) || !is_float_aligned(&g->c) ||
        (g->bias.buf && !is_float_aligned(&g->bias)))
        return false;
    /* The kernel counts rows and columns in int. */
    const clt_tensor *a = &g->a, *c = &g->c;
    int64_t k = g->trans_a ? a->shape[a->rank - 2] : a->shape[a->rank - 1];
    if (c->shape[c->rank - 2] > INT_MAX - 16 || c->shape[c->rank - 1] > INT_MAX - 16 ||
        k > INT_MAX - 16)
        return false;
    for (int i = 0; i < TILE_SIZE_COUNT; i++)
        if (tile_fits_device(dev, tile_sizes[i]))
            return true;
    return false;
}

/* A kernel object for the largest tile size the device runs, and that size. A fresh
 * kernel each launch: clSetKernelArg on a shared one would race between threads. */
static clt_status gemm_kernel(struct clt_cl_device *dev, cl_kernel *out, int *ts_out)
{
    *out = NULL;
    for (int i = 0; i < TILE_SIZE_COUNT; i++) {
        int ts = tile_sizes[i];
        if (!tile_fits_device(dev, ts))
            continue;
        char options[64];
        snprintf(options, sizeof options, "-DTS=%d", ts);
        cl_program program = NULL;
        clt_status status = clt_cl_program_get(dev, "gemm.cl", options, &program);
        if (status != CLT_OK)
            return status;
        cl_int err = CL_SUCCESS;
        cl_kernel kernel = clCreateKernel(program, GEMM_KERNEL, &err);
        if (!kernel)
            return clt_cl_fail(dev, err, CLT_ERR_BUILD, "clCreateKernel(%s, gemm.cl)",
                               GEMM_KERNEL);
        /* The compiled kernel may allow fewer work-items than the device (registers):
         * then the next smaller tile. */
        size_t kernel_max = 0;
        err = clGetKernelWorkGroupInfo(kernel, dev->device, CL_KERNEL_WORK_GROUP_SIZE,
                                       sizeof kernel_max, &kernel_max, NULL);
        if (err != CL_SUCCESS || kernel_max >= (size_t)(ts * ts)) {
            *out = kernel;
            *ts_out = ts;
            return CLT_OK;
        }
        clt_cl_log(dev, CLT_LOG_DEBUG, "%s with TS=%d allows %zu work-items, not %d; trying "
                   "a smaller tile", GEMM_KERNEL, ts, kernel_max, ts * ts);
        clReleaseKernel(kernel);
    }
    return clt_fail(CLT_ERR_UNSUPPORTED,
                    "%s: %s: no tile size fits the device (max work-group %d, local memory "
                    "%llu bytes)", dev->label, GEMM_KERNEL, dev->info.max_work_group_size,
                    (unsigned long long)dev->info.local_mem_bytes);
}

/* Kernel arguments, in the order of gemm.cl's parameter list. */
struct kernel_arg {
    size_t size;
    const void *value;
};

static size_t round_up(size_t x, size_t to) { return (x + to - 1) / to * to; }

clt_status clt_cl_gemm_enqueue(struct clt_cl_device *dev, const clt_gemm_args *g,
                               cl_event *event)
{
    clt_status status = CLT_OK;
    cl_kernel kernel = NULL;
    int ts = 0;
    *event = NULL;

    status = gemm_kernel(dev, &kernel, &ts);
    if (status != CLT_OK)
        goto done;

    const struct gemm_shape s = shape_of(g);
    const clt_tensor *a = &g->a, *b = &g->b, *c = &g->c;
    cl_int m = s.m, n = s.n, k = s.k;
    cl_mem a_mem = clt_cl_buffer_of(a->buf), b_mem = clt_cl_buffer_of(b->buf);
    cl_mem c_mem = clt_cl_buffer_of(c->buf);
    cl_mem bias_mem = g->bias.buf ? clt_cl_buffer_of(g->bias.buf) : NULL;
    cl_ulong a_offset = a->offset / sizeof(float), b_offset = b->offset / sizeof(float);
    cl_ulong c_offset = c->offset / sizeof(float);
    cl_ulong bias_offset = g->bias.buf ? g->bias.offset / sizeof(float) : 0;
    /* Row stride: the second-to-last dimension's; batch stride: the first's of a rank-3
     * tensor, 0 (one matrix for every batch) for rank 2. */
    cl_long lda = a->strides[a->rank - 2], ldb = b->strides[b->rank - 2];
    cl_long ldc = c->strides[c->rank - 2];
    cl_long a_batch = a->rank == 3 ? a->strides[0] : 0;
    cl_long b_batch = b->rank == 3 ? b->strides[0] : 0;
    cl_long c_batch = c->rank == 3 ? c->strides[0] : 0;
    cl_int trans_a = g->trans_a, trans_b = g->trans_b, has_bias = g->bias.buf != NULL;
    cl_float alpha = g->alpha, beta = g->beta;

    const struct kernel_arg args[] = {
        {sizeof m, &m},           {sizeof n, &n},           {sizeof k, &k},
        {sizeof a_mem, &a_mem},   {sizeof a_offset, &a_offset},
        {sizeof lda, &lda},       {sizeof a_batch, &a_batch}, {sizeof trans_a, &trans_a},
        {sizeof b_mem, &b_mem},   {sizeof b_offset, &b_offset},
        {sizeof ldb, &ldb},       {sizeof b_batch, &b_batch}, {sizeof trans_b, &trans_b},
        {sizeof c_mem, &c_mem},   {sizeof c_offset, &c_offset},
        {sizeof ldc, &ldc},       {sizeof c_batch, &c_batch},
        /* No bias: a NULL buffer, which OpenCL passes as a NULL pointer. */
        {sizeof bias_mem, bias_mem ? (const void *)&bias_mem : NULL},
        {sizeof bias_offset, &bias_offset}, {sizeof has_bias, &has_bias},
        {sizeof alpha, &alpha},   {sizeof beta, &beta},
    };
    for (cl_uint i = 0; i < (cl_uint)(sizeof args / sizeof args[0]); i++) {
        cl_int err = clSetKernelArg(kernel, i, args[i].size, args[i].value);
        if (err != CL_SUCCESS) {
            status = clt_cl_fail(dev, err, CLT_ERR_LAUNCH, "clSetKernelArg(%s, %u)",
                                 GEMM_KERNEL, (unsigned)i);
            goto done;
        }
    }

    size_t global[3] = {round_up((size_t)s.n, (size_t)ts), round_up((size_t)s.m, (size_t)ts),
                        s.batch};
    size_t local[3] = {(size_t)ts, (size_t)ts, 1};
    cl_int err = clEnqueueNDRangeKernel(dev->queue, kernel, 3, NULL, global, local, 0, NULL,
                                        event);
    if (err != CL_SUCCESS) {
        *event = NULL;
        status = clt_cl_fail(dev, err, CLT_ERR_LAUNCH, "clEnqueueNDRangeKernel(%s)",
                             GEMM_KERNEL);
        goto done;
    }
done:
    /* The queue holds its own reference while the launch is pending. */
    if (kernel)
        clReleaseKernel(kernel);
    return status;
}
