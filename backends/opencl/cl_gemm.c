/* GEMM on OpenCL: which kernel runs a problem, and its launch.
 *
 *   direct  kernels_cl/gemm.cl      one launch, any layout, small problems and fallback
 *   cpu     kernels_cl/gemm_cpu.cl  pack A, pack B into f32 panels, then the micro-kernel
 *   gpu     kernels_cl/gemm_gpu.cl  local-memory tiles, register micro-tiles, one launch
 *   clblast cl_clblast.c            where clt was built with it and the tuner chose it
 *
 * Every kernel's parameters, transposes and dtypes are build options, so each
 * combination is its own program, built once per device (cl_program.c) and cached on
 * disk. Kernel objects are made per launch: clSetKernelArg on a shared one would race
 * between threads.
 *
 * The cpu family's panels live in two scratch buffers per device, kept between GEMMs
 * and grown on demand (a fresh buffer per call made PoCL map and fault in new pages
 * every time), released at close. They count against the context's DEVICE budget
 * (clt_dev_reserve), so a GEMM that does not fit says so. Batches are packed into
 * panels with a batch dimension, in chunks that keep the scratch under
 * SCRATCH_CHUNK_BYTES; an operand with batch stride 0 (or rank 2) is packed once for
 * every batch. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "backends/opencl/cl_internal.h"

/* Scratch per chunk of batches; a single batch may exceed it (up to the device's
 * largest allocation). */
#define SCRATCH_CHUNK_BYTES ((size_t)256 << 20)

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

static bool is_storage_dtype(clt_dtype d)
{
    return d == CLT_DTYPE_F32 || d == CLT_DTYPE_F16 || d == CLT_DTYPE_BF16;
}

/* Tensor offsets are bytes, the kernels index elements. */
static bool is_aligned(const clt_tensor *t) { return t->offset % clt_dtype_size(t->dtype) == 0; }

bool clt_cl_gemm_supports(const struct clt_cl_device *dev, const clt_gemm_args *g)
{
    (void)dev;
    const clt_tensor *a = &g->a, *b = &g->b, *c = &g->c;
    /* The storage rules of op.h: a and b alike, c f32 or a's dtype, bias c's. */
    if (!is_storage_dtype(a->dtype) || b->dtype != a->dtype ||
        (c->dtype != CLT_DTYPE_F32 && c->dtype != a->dtype))
        return false;
    if (g->bias.buf && g->bias.dtype != c->dtype)
        return false;
    if (!is_aligned(a) || !is_aligned(b) || !is_aligned(c) ||
        (g->bias.buf && !is_aligned(&g->bias)))
        return false;
    /* The kernels count rows and columns in int (with room for rounding up to tiles). */
    int64_t k = g->trans_a ? a->shape[a->rank - 2] : a->shape[a->rank - 1];
    if (c->shape[c->rank - 2] > INT_MAX - 256 || c->shape[c->rank - 1] > INT_MAX - 256 ||
        k > INT_MAX - 256)
        return false;
    /* The direct kernel runs on every device (its tile shrinks to 1×1). */
    return true;
}

enum clt_cl_gemm_kernel clt_cl_gemm_choose(const struct clt_cl_device *dev,
                                           const struct clt_cl_gemm_params *p,
                                           const clt_gemm_args *g)
{
    const struct gemm_shape s = shape_of(g);
    const double flops = 2.0 * s.m * (double)s.n * s.k * (double)s.batch;
    if (flops < p->direct_below_flops)
        return CLT_CL_GEMM_DIRECT;
    /* Without CLBlast, clt_cl_clblast_supports says no. */
    if (p->use_clblast && clt_cl_clblast_supports(dev, g))
        return CLT_CL_GEMM_CLBLAST;
    if (p->family == CLT_CL_GEMM_CPU || p->family == CLT_CL_GEMM_GPU)
        return p->family;
    return CLT_CL_GEMM_DIRECT;
}

/* ---- launching ---------------------------------------------------------------------- */


static size_t round_up(size_t x, size_t to) { return (x + to - 1) / to * to; }

/* Work-items per packing work-group (along K). */
#define PACK_GROUP ((size_t)64)
static size_t ceil_div(size_t x, size_t to) { return (x + to - 1) / to; }

/* A fresh kernel object from kernels_cl/<file> built with `options`; CLT_ERR_UNSUPPORTED
 * when the compiled kernel cannot run `work_items` per work-group (too many registers)
 * or needs more local memory than the device has. */
static clt_status make_kernel(struct clt_cl_device *dev, const char *file, const char *name,
                              const char *options, size_t work_items, cl_kernel *out)
{
    *out = NULL;
    cl_program program = NULL;
    clt_status status = clt_cl_program_get(dev, file, options, &program);
    if (status != CLT_OK)
        return status;
    cl_int err = CL_SUCCESS;
    cl_kernel kernel = clCreateKernel(program, name, &err);
    if (!kernel)
        return clt_cl_fail(dev, err, CLT_ERR_BUILD, "clCreateKernel(%s, %s)", name, file);
    size_t kernel_max = 0;
    cl_ulong local_bytes = 0;
    if (clGetKernelWorkGroupInfo(kernel, dev->device, CL_KERNEL_WORK_GROUP_SIZE,
                                 sizeof kernel_max, &kernel_max, NULL) != CL_SUCCESS)
        kernel_max = work_items;
    if (clGetKernelWorkGroupInfo(kernel, dev->device, CL_KERNEL_LOCAL_MEM_SIZE,
                                 sizeof local_bytes, &local_bytes, NULL) != CL_SUCCESS)
        local_bytes = 0;
    if (kernel_max < work_items || local_bytes > dev->info.local_mem_bytes) {
        clReleaseKernel(kernel);
        return clt_fail(CLT_ERR_UNSUPPORTED,
                        "%s: %s (%s) runs %zu work-items per group with %llu bytes of local "
                        "memory; it needs %zu and the device has %llu",
                        dev->label, name, options, kernel_max,
                        (unsigned long long)local_bytes, work_items,
                        (unsigned long long)dev->info.local_mem_bytes);
    }
    *out = kernel;
    return CLT_OK;
}

/* The operands as the kernels take them: element offsets, row and batch strides (0: one
 * matrix for every batch), buffers. */
struct operands {
    cl_mem a, b, c, bias;
    cl_ulong a_offset, b_offset, c_offset, bias_offset;
    cl_long lda, ldb, ldc, a_batch, b_batch, c_batch;
    cl_int has_bias;
    cl_float alpha, beta;
    int ab_dtype, c_dtype;
};

static struct operands operands_of(const clt_gemm_args *g)
{
    const clt_tensor *a = &g->a, *b = &g->b, *c = &g->c;
    struct operands o;
    o.a = clt_cl_buffer_of(a->buf);
    o.b = clt_cl_buffer_of(b->buf);
    o.c = clt_cl_buffer_of(c->buf);
    o.bias = g->bias.buf ? clt_cl_buffer_of(g->bias.buf) : NULL;
    o.a_offset = a->offset / clt_dtype_size(a->dtype);
    o.b_offset = b->offset / clt_dtype_size(b->dtype);
    o.c_offset = c->offset / clt_dtype_size(c->dtype);
    o.bias_offset = g->bias.buf ? g->bias.offset / clt_dtype_size(g->bias.dtype) : 0;
    o.lda = a->strides[a->rank - 2];
    o.ldb = b->strides[b->rank - 2];
    o.ldc = c->strides[c->rank - 2];
    o.a_batch = a->rank == 3 ? a->strides[0] : 0;
    o.b_batch = b->rank == 3 ? b->strides[0] : 0;
    o.c_batch = c->rank == 3 ? c->strides[0] : 0;
    o.has_bias = g->bias.buf != NULL;
    o.alpha = g->alpha;
    o.beta = g->beta;
    o.ab_dtype = (int)a->dtype;
    o.c_dtype = (int)c->dtype;
    return o;
}

/* ---- direct ------------------------------------------------------------------------- */

static bool direct_fits(const struct clt_cl_device *dev, int ts)
{
    return ts >= 1 && (int64_t)ts * ts <= dev->info.max_work_group_size &&
           2u * (uint64_t)ts * (uint64_t)(ts + 1) * sizeof(float) <= dev->info.local_mem_bytes;
}

static clt_status direct_enqueue(struct clt_cl_device *dev, const clt_gemm_args *g, int ts,
                                 cl_event *event)
{
    static const char name[] = "gemm_direct";
    if (!direct_fits(dev, ts))
        return clt_fail(CLT_ERR_UNSUPPORTED, "%s: %s: TS=%d does not fit the device",
                        dev->label, name, ts);
    const struct gemm_shape s = shape_of(g);
    struct operands o = operands_of(g);
    char options[128];
    snprintf(options, sizeof options, "-DTS=%d -DAB_DTYPE=%d -DC_DTYPE=%d", ts, o.ab_dtype,
             o.c_dtype);
    cl_kernel kernel = NULL;
    clt_status status = make_kernel(dev, "gemm.cl", name, options, (size_t)ts * ts, &kernel);
    if (status != CLT_OK)
        return status;
    cl_int m = s.m, n = s.n, k = s.k, trans_a = g->trans_a, trans_b = g->trans_b;
    const struct clt_cl_arg args[] = {
        CLT_CL_ARG(m), CLT_CL_ARG(n), CLT_CL_ARG(k),
        CLT_CL_ARG(o.a), CLT_CL_ARG(o.a_offset), CLT_CL_ARG(o.lda), CLT_CL_ARG(o.a_batch), CLT_CL_ARG(trans_a),
        CLT_CL_ARG(o.b), CLT_CL_ARG(o.b_offset), CLT_CL_ARG(o.ldb), CLT_CL_ARG(o.b_batch), CLT_CL_ARG(trans_b),
        CLT_CL_ARG(o.c), CLT_CL_ARG(o.c_offset), CLT_CL_ARG(o.ldc), CLT_CL_ARG(o.c_batch),
        CLT_CL_ARG_MEM(o.bias), CLT_CL_ARG(o.bias_offset), CLT_CL_ARG(o.has_bias),
        CLT_CL_ARG(o.alpha), CLT_CL_ARG(o.beta),
    };
    status = clt_cl_set_args(dev, kernel, name, args, sizeof args / sizeof args[0]);
    if (status == CLT_OK) {
        size_t global[3] = {round_up((size_t)s.n, (size_t)ts), round_up((size_t)s.m, (size_t)ts),
                            s.batch};
        size_t local[3] = {(size_t)ts, (size_t)ts, 1};
        status = clt_cl_enqueue(dev, kernel, name, 3, global, local, event);
    }
    /* The queue holds its own reference while the launch is pending. */
    clReleaseKernel(kernel);
    return status;
}

/* ---- cpu: packed panels ------------------------------------------------------------ */

/* Whether the parameters of `family` fit the device (the database's rules). */
static bool family_fits(const struct clt_cl_device *dev, const struct clt_cl_gemm_params *p,
                        enum clt_cl_gemm_kernel family)
{
    struct clt_cl_gemm_params q = *p;
    q.family = family;
    return clt_cl_gemm_params_fit(dev, &q);
}

/* Makes *buf hold at least `bytes`. Call with scratch_lock held. A replaced buffer is
 * released at once: OpenCL frees it only after the queued kernels that use it. */
static clt_status scratch_reserve(struct clt_cl_device *dev, cl_mem *buf, size_t *have,
                                  size_t bytes)
{
    if (*buf && *have >= bytes)
        return CLT_OK;
    if (*buf) {
        clReleaseMemObject(*buf);
        clt_dev_release(&dev->base, *have);
    }
    *buf = NULL;
    *have = 0;
    clt_status status = clt_dev_reserve(&dev->base, bytes, "GEMM scratch for packed panels");
    if (status != CLT_OK)
        return status;
    cl_int err = CL_SUCCESS;
    *buf = clCreateBuffer(dev->context, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (!*buf) {
        clt_dev_release(&dev->base, bytes);
        return clt_fail(CLT_ERR_OUT_OF_MEMORY,
                        "%s: GEMM scratch for packed panels (%zu bytes): clCreateBuffer "
                        "failed: %s (%d)", dev->label, bytes, clt_cl_error_name(err), (int)err);
    }
    *have = bytes;
    return CLT_OK;
}

void clt_cl_gemm_release(struct clt_cl_device *dev)
{
    if (dev->scratch_a) {
        clReleaseMemObject(dev->scratch_a);
        clt_dev_release(&dev->base, dev->scratch_a_bytes);
    }
    if (dev->scratch_b) {
        clReleaseMemObject(dev->scratch_b);
        clt_dev_release(&dev->base, dev->scratch_b_bytes);
    }
    dev->scratch_a = dev->scratch_b = NULL;
    dev->scratch_a_bytes = dev->scratch_b_bytes = 0;
}

/* Packs batches [b0, b0+count) of one operand into its panels. `rows` is the packed
 * dimension (M for A, N for B), `block` its block size (RM or NR). */
static clt_status pack(struct clt_cl_device *dev, cl_kernel kernel, const char *name,
                       cl_int rows, cl_int depth, cl_mem src, cl_ulong offset, cl_long ld,
                       cl_long batch_stride, cl_int trans, cl_mem panels,
                       cl_long panels_batch_stride, int block, size_t count)
{
    const struct clt_cl_arg args[] = {
        CLT_CL_ARG(rows), CLT_CL_ARG(depth), CLT_CL_ARG(src), CLT_CL_ARG(offset), CLT_CL_ARG(ld), CLT_CL_ARG(batch_stride), CLT_CL_ARG(trans),
        CLT_CL_ARG(panels), CLT_CL_ARG(panels_batch_stride),
    };
    clt_status status = clt_cl_set_args(dev, kernel, name, args, sizeof args / sizeof args[0]);
    if (status != CLT_OK)
        return status;
    /* A fixed work-group size: left to the driver, PoCL picks one per global size and
     * compiles the kernel again for each new shape. The kernels skip k >= K. */
    size_t local[3] = {PACK_GROUP, 1, 1};
    size_t global[3] = {round_up((size_t)depth, PACK_GROUP),
                        ceil_div((size_t)rows, (size_t)block), count};
    if ((size_t)dev->info.max_work_group_size < PACK_GROUP)
        return clt_cl_enqueue(dev, kernel, name, 3, global, NULL, NULL);
    return clt_cl_enqueue(dev, kernel, name, 3, global, local, NULL);
}

static clt_status cpu_enqueue(struct clt_cl_device *dev, const clt_gemm_args *g,
                              const struct clt_cl_gemm_params *p, cl_event *event)
{
    const struct clt_cl_gemm_cpu_params *cp = &p->cpu;
    static const char name[] = "gemm_cpu";
    clt_status status = CLT_OK;
    cl_kernel pack_a = NULL, pack_b = NULL, main_kernel = NULL;
    bool locked = false;
    *event = NULL;
    if (!family_fits(dev, p, CLT_CL_GEMM_CPU))
        return clt_fail(CLT_ERR_UNSUPPORTED, "%s: %s: RM=%d NR=%d KU=%d are out of range",
                        dev->label, name, cp->rm, cp->nr, cp->ku);

    const struct gemm_shape s = shape_of(g);
    const struct operands o = operands_of(g);
    char options[128];
    snprintf(options, sizeof options, "-DRM=%d -DNR=%d -DKU=%d -DAB_DTYPE=%d -DC_DTYPE=%d",
             cp->rm, cp->nr, cp->ku, o.ab_dtype, o.c_dtype);
    status = make_kernel(dev, "gemm_cpu.cl", "gemm_pack_a", options, 1, &pack_a);
    if (status == CLT_OK)
        status = make_kernel(dev, "gemm_cpu.cl", "gemm_pack_b", options, 1, &pack_b);
    if (status == CLT_OK)
        status = make_kernel(dev, "gemm_cpu.cl", name, options, 1, &main_kernel);
    if (status != CLT_OK)
        goto done;

    /* Panels per batch, in floats; an operand shared by every batch is packed once. */
    const size_t row_blocks = ceil_div((size_t)s.m, (size_t)cp->rm);
    const size_t col_blocks = ceil_div((size_t)s.n, (size_t)cp->nr);
    const size_t a_floats = row_blocks * (size_t)cp->rm * (size_t)s.k;
    const size_t b_floats = col_blocks * (size_t)cp->nr * (size_t)s.k;
    const bool a_batched = o.a_batch != 0 && s.batch > 1;
    const bool b_batched = o.b_batch != 0 && s.batch > 1;
    const size_t per_batch = ((a_batched ? a_floats : 0) + (b_batched ? b_floats : 0)) * 4;
    size_t chunk = s.batch;
    if (per_batch > 0 && chunk > SCRATCH_CHUNK_BYTES / per_batch)
        chunk = SCRATCH_CHUNK_BYTES / per_batch > 0 ? SCRATCH_CHUNK_BYTES / per_batch : 1;
    const size_t a_bytes = a_floats * 4 * (a_batched ? chunk : 1);
    const size_t b_bytes = b_floats * 4 * (b_batched ? chunk : 1);
    if (a_bytes > dev->info.max_alloc_bytes || b_bytes > dev->info.max_alloc_bytes) {
        status = clt_fail(CLT_ERR_UNSUPPORTED, "%s: %s: packed panels of %zu and %zu bytes "
                          "exceed the device's largest allocation", dev->label, name, a_bytes,
                          b_bytes);
        goto done;
    }
    pthread_mutex_lock(&dev->scratch_lock);
    locked = true;
    status = scratch_reserve(dev, &dev->scratch_a, &dev->scratch_a_bytes, a_bytes);
    if (status == CLT_OK)
        status = scratch_reserve(dev, &dev->scratch_b, &dev->scratch_b_bytes, b_bytes);
    if (status != CLT_OK)
        goto done;
    cl_mem ap = dev->scratch_a, bp = dev->scratch_b;

    /* Column blocks per work-item: up to 16 (the A panel is reused from cache across
     * them), fewer while that would leave under 8 work-groups per compute unit. */
    cl_int jb_per_item = 16;
    const size_t units = dev->info.compute_units > 0 ? (size_t)dev->info.compute_units : 1;
    while (jb_per_item > 1 &&
           row_blocks * ceil_div(col_blocks, (size_t)jb_per_item) * s.batch < 8 * units)
        jb_per_item /= 2;
    const cl_long ap_stride = a_batched ? (cl_long)a_floats : 0;
    const cl_long bp_stride = b_batched ? (cl_long)b_floats : 0;
    cl_int m = s.m, n = s.n, k = s.k, trans_a = g->trans_a, trans_b = g->trans_b;
    for (size_t b0 = 0; b0 < s.batch; b0 += chunk) {
        const size_t count = s.batch - b0 < chunk ? s.batch - b0 : chunk;
        if (a_batched || b0 == 0)
            status = pack(dev, pack_a, "gemm_pack_a", m, k, o.a,
                          o.a_offset + (cl_ulong)((cl_long)b0 * o.a_batch), o.lda, o.a_batch,
                          trans_a, ap, ap_stride, cp->rm, a_batched ? count : 1);
        if (status == CLT_OK && (b_batched || b0 == 0))
            status = pack(dev, pack_b, "gemm_pack_b", n, k, o.b,
                          o.b_offset + (cl_ulong)((cl_long)b0 * o.b_batch), o.ldb, o.b_batch,
                          trans_b, bp, bp_stride, cp->nr, b_batched ? count : 1);
        if (status != CLT_OK)
            goto done;
        const cl_ulong c_offset = o.c_offset + (cl_ulong)((cl_long)b0 * o.c_batch);
        const struct clt_cl_arg args[] = {
            CLT_CL_ARG(m), CLT_CL_ARG(n), CLT_CL_ARG(k), CLT_CL_ARG(ap), CLT_CL_ARG(ap_stride), CLT_CL_ARG(bp), CLT_CL_ARG(bp_stride),
            CLT_CL_ARG(o.c), CLT_CL_ARG(c_offset), CLT_CL_ARG(o.ldc), CLT_CL_ARG(o.c_batch),
            CLT_CL_ARG_MEM(o.bias), CLT_CL_ARG(o.bias_offset), CLT_CL_ARG(o.has_bias),
            CLT_CL_ARG(o.alpha), CLT_CL_ARG(o.beta), CLT_CL_ARG(jb_per_item),
        };
        status = clt_cl_set_args(dev, main_kernel, name, args, sizeof args / sizeof args[0]);
        if (status != CLT_OK)
            goto done;
        size_t global[3] = {row_blocks, ceil_div(col_blocks, (size_t)jb_per_item), count};
        size_t local[3] = {1, 1, 1};
        if (*event) { /* only the last launch's event goes back */
            clReleaseEvent(*event);
            *event = NULL;
        }
        status = clt_cl_enqueue(dev, main_kernel, name, 3, global, local, event);
        if (status != CLT_OK)
            goto done;
    }
done:
    if (status != CLT_OK && *event) {
        clReleaseEvent(*event);
        *event = NULL;
    }
    if (locked)
        pthread_mutex_unlock(&dev->scratch_lock);
    if (pack_a)
        clReleaseKernel(pack_a);
    if (pack_b)
        clReleaseKernel(pack_b);
    if (main_kernel)
        clReleaseKernel(main_kernel);
    return status;
}

/* ---- gpu: local-memory tiles --------------------------------------------------------- */

static clt_status gpu_enqueue(struct clt_cl_device *dev, const clt_gemm_args *g,
                              const struct clt_cl_gemm_params *params, cl_event *event)
{
    static const char name[] = "gemm_gpu";
    const struct clt_cl_gemm_gpu_params *p = &params->gpu;
    if (!family_fits(dev, params, CLT_CL_GEMM_GPU))
        return clt_fail(CLT_ERR_UNSUPPORTED,
                        "%s: %s: MWG=%d NWG=%d KWG=%d MDIMC=%d NDIMC=%d VWM=%d VWN=%d do not "
                        "fit the device", dev->label, name, p->mwg, p->nwg, p->kwg, p->mdimc,
                        p->ndimc, p->vwm, p->vwn);
    const struct gemm_shape s = shape_of(g);
    struct operands o = operands_of(g);
    char options[256];
    snprintf(options, sizeof options,
             "-DMWG=%d -DNWG=%d -DKWG=%d -DMDIMC=%d -DNDIMC=%d -DVWM=%d -DVWN=%d "
             "-DTRANS_A=%d -DTRANS_B=%d -DAB_DTYPE=%d -DC_DTYPE=%d",
             p->mwg, p->nwg, p->kwg, p->mdimc, p->ndimc, p->vwm, p->vwn, g->trans_a ? 1 : 0,
             g->trans_b ? 1 : 0, o.ab_dtype, o.c_dtype);
    cl_kernel kernel = NULL;
    clt_status status = make_kernel(dev, "gemm_gpu.cl", name, options,
                                    (size_t)p->mdimc * (size_t)p->ndimc, &kernel);
    if (status != CLT_OK)
        return status;
    cl_int m = s.m, n = s.n, k = s.k;
    const struct clt_cl_arg args[] = {
        CLT_CL_ARG(m), CLT_CL_ARG(n), CLT_CL_ARG(k),
        CLT_CL_ARG(o.a), CLT_CL_ARG(o.a_offset), CLT_CL_ARG(o.lda), CLT_CL_ARG(o.a_batch),
        CLT_CL_ARG(o.b), CLT_CL_ARG(o.b_offset), CLT_CL_ARG(o.ldb), CLT_CL_ARG(o.b_batch),
        CLT_CL_ARG(o.c), CLT_CL_ARG(o.c_offset), CLT_CL_ARG(o.ldc), CLT_CL_ARG(o.c_batch),
        CLT_CL_ARG_MEM(o.bias), CLT_CL_ARG(o.bias_offset), CLT_CL_ARG(o.has_bias),
        CLT_CL_ARG(o.alpha), CLT_CL_ARG(o.beta),
    };
    status = clt_cl_set_args(dev, kernel, name, args, sizeof args / sizeof args[0]);
    if (status == CLT_OK) {
        size_t global[3] = {ceil_div((size_t)s.n, (size_t)p->nwg) * (size_t)p->ndimc,
                            ceil_div((size_t)s.m, (size_t)p->mwg) * (size_t)p->mdimc, s.batch};
        size_t local[3] = {(size_t)p->ndimc, (size_t)p->mdimc, 1};
        status = clt_cl_enqueue(dev, kernel, name, 3, global, local, event);
    }
    clReleaseKernel(kernel);
    return status;
}

/* ---- dispatch ----------------------------------------------------------------------- */

clt_status clt_cl_gemm_enqueue_with(struct clt_cl_device *dev, const clt_gemm_args *g,
                                    const struct clt_cl_gemm_params *p,
                                    enum clt_cl_gemm_kernel kernel, cl_event *event)
{
    *event = NULL;
    switch (kernel) {
    case CLT_CL_GEMM_DIRECT:
        return direct_enqueue(dev, g, p->direct.ts, event);
    case CLT_CL_GEMM_CPU:
        return cpu_enqueue(dev, g, p, event);
    case CLT_CL_GEMM_GPU:
        return gpu_enqueue(dev, g, p, event);
    case CLT_CL_GEMM_CLBLAST:
        if (clt_cl_clblast_supports(dev, g))
            return clt_cl_clblast_enqueue(dev, g, event);
        return clt_fail(CLT_ERR_UNSUPPORTED, "%s: CLBlast cannot run this GEMM here",
                        dev->label);
    }
    return clt_fail(CLT_ERR_UNSUPPORTED, "%s: GEMM kernel %d does not exist", dev->label,
                    (int)kernel);
}

/* The largest direct tile the device runs: the fallback needs no parameters to fit. */
static int direct_tile_for(const struct clt_cl_device *dev, int ts)
{
    while (ts > 1 && !direct_fits(dev, ts))
        ts /= 2;
    return ts;
}

clt_status clt_cl_gemm_enqueue(struct clt_cl_device *dev, const clt_gemm_args *g,
                               cl_event *event)
{
    *event = NULL;
    struct clt_cl_gemm_params params;
    clt_status status = clt_cl_gemm_params_get(dev, &params);
    if (status != CLT_OK)
        return status;
    const struct clt_cl_gemm_params *p = &params;
    const enum clt_cl_gemm_kernel kernel = clt_cl_gemm_choose(dev, p, g);
    status = clt_cl_gemm_enqueue_with(dev, g, p, kernel, event);
    /* A family that cannot take this problem here (its compiled kernel wants fewer
     * work-items, its panels do not fit in memory) leaves it to the direct kernel. */
    if (kernel != CLT_CL_GEMM_DIRECT &&
        (status == CLT_ERR_UNSUPPORTED || status == CLT_ERR_OUT_OF_MEMORY)) {
        clt_cl_log(dev, CLT_LOG_INFO, "GEMM: %s; running the direct kernel instead",
                   clt_last_error());
        status = direct_enqueue(dev, g, direct_tile_for(dev, p->direct.ts), event);
    }
    return status;
}

void clt_cl_gemm_describe(const struct clt_cl_device *dev, const clt_gemm_args *g,
                          const struct clt_cl_gemm_params *params, char *out, size_t size)
{
    const struct clt_cl_gemm_params p = *params;

    char dtypes[32];
    if (g->c.dtype == g->a.dtype)
        snprintf(dtypes, sizeof dtypes, "%s", clt_dtype_name(g->a.dtype));
    else
        snprintf(dtypes, sizeof dtypes, "%s\u2192%s", clt_dtype_name(g->a.dtype),
                 clt_dtype_name(g->c.dtype));
    switch (clt_cl_gemm_choose(dev, &p, g)) {
    case CLT_CL_GEMM_DIRECT:
        snprintf(out, size, "gemm_direct TS=%d %s", direct_tile_for(dev, p.direct.ts), dtypes);
        break;
    case CLT_CL_GEMM_CPU:
        snprintf(out, size, "gemm_cpu RM=%d NR=%d KU=%d %s", p.cpu.rm, p.cpu.nr, p.cpu.ku,
                 dtypes);
        break;
    case CLT_CL_GEMM_GPU:
        snprintf(out, size, "gemm_gpu MWG=%d NWG=%d KWG=%d MDIMC=%d NDIMC=%d VWM=%d VWN=%d %s",
                 p.gpu.mwg, p.gpu.nwg, p.gpu.kwg, p.gpu.mdimc, p.gpu.ndimc, p.gpu.vwm,
                 p.gpu.vwn, dtypes);
        break;
    case CLT_CL_GEMM_CLBLAST:
        snprintf(out, size, "clblast sgemm");
        break;
    }
}
