/* The row-wise ops on OpenCL — softmax and its gradient (cl_softmax.c), layernorm
 * (cl_layernorm.c), cross-entropy (cl_cross_entropy.c) — and what their files share:
 * the per-device shapes of their kernels, building and launching them.
 *
 * Shapes per device type. A CPU (PoCL, where the work-items of a group are iterations
 * of one loop) runs one work-item per row with 16-wide vectors: no barriers, and the
 * row stays in its core's cache between passes. A GPU runs a group of 256 work-items on a
 * long row, 32 on each of 8 rows below 2048 elements, 4-wide loads; layernorm's column
 * sums run 32 columns × 8 row slices per group. Other devices get a quarter of that.
 * $CLT_ROWS_SHAPE=WGxRPGxVW ("32x8x4") replaces the table for every kernel of the family
 * (one-group reductions take WG×1): for kernel development, and for the tests, which run
 * the GPU shapes' barriers and reductions on PoCL. */
#include <stdio.h>
#include <stdlib.h>

#include "backends/opencl/cl_internal.h"

struct rows_params {
    int vw;                   /* elements per vector load */
    int long_wg, long_rpg;    /* row kernels on rows of at least short_below elements */
    int short_wg, short_rpg;  /* ... and on shorter rows */
    int64_t short_below;
    int col_wg, col_rpg, col_vw; /* column sums: column vectors × row slices per group */
    int reduce_wg;            /* one-group reductions */
};

static const struct rows_params cpu_params = {
    .vw = 16, .long_wg = 1, .long_rpg = 1, .short_wg = 1, .short_rpg = 1, .short_below = 0,
    .col_wg = 1, .col_rpg = 1, .col_vw = 16, .reduce_wg = 1,
};
/* Column sums take one column per work-item: a GPT-2 width of 768 then makes 24 groups. */
static const struct rows_params gpu_params = {
    .vw = 4, .long_wg = 256, .long_rpg = 1, .short_wg = 32, .short_rpg = 8, .short_below = 2048,
    .col_wg = 32, .col_rpg = 8, .col_vw = 1, .reduce_wg = 256,
};
static const struct rows_params other_params = {
    .vw = 4, .long_wg = 64, .long_rpg = 1, .short_wg = 16, .short_rpg = 4, .short_below = 512,
    .col_wg = 16, .col_rpg = 4, .col_vw = 1, .reduce_wg = 64,
};

static const struct rows_params *params_of(const struct clt_cl_device *dev)
{
    switch (dev->info.type) {
    case CLT_DEVICE_TYPE_CPU:
        return &cpu_params;
    case CLT_DEVICE_TYPE_GPU:
        return &gpu_params;
    default:
        return &other_params;
    }
}

/* Halves the group (rows first) until it has at most `limit` work-items. */
static void shrink_to(struct clt_cl_rows_shape *s, size_t limit)
{
    while ((size_t)s->wg * (size_t)s->rpg > limit && s->wg * s->rpg > 1) {
        if (s->rpg > 1)
            s->rpg /= 2;
        else
            s->wg /= 2;
    }
}

static bool is_pow2(int x) { return x > 0 && (x & (x - 1)) == 0; }

/* $CLT_ROWS_SHAPE, when it is set and valid: WG and RPG powers of two up to 4096, VW 1,
 * 2, 4, 8 or 16. An invalid value is logged and ignored. */
static bool shape_from_env(const struct clt_cl_device *dev, struct clt_cl_rows_shape *s)
{
    const char *text = getenv("CLT_ROWS_SHAPE");
    if (!text || !text[0])
        return false;
    int wg = 0, rpg = 0, vw = 0, used = 0;
    if (sscanf(text, "%dx%dx%d%n", &wg, &rpg, &vw, &used) == 3 && text[used] == '\0' &&
        is_pow2(wg) && is_pow2(rpg) && is_pow2(vw) && wg <= 4096 && rpg <= 4096 && vw <= 16) {
        *s = (struct clt_cl_rows_shape){wg, rpg, vw};
        return true;
    }
    clt_cl_log(dev, CLT_LOG_WARN,
               "CLT_ROWS_SHAPE='%s' is not WGxRPGxVW with powers of two (WG, RPG <= 4096, "
               "VW <= 16); ignored",
               text);
    return false;
}

struct clt_cl_rows_shape clt_cl_rows_shape_for(const struct clt_cl_device *dev,
                                               enum clt_cl_rows_use use, int64_t len)
{
    const struct rows_params *p = params_of(dev);
    struct clt_cl_rows_shape s = {p->long_wg, p->long_rpg, p->vw};
    if (shape_from_env(dev, &s)) {
        if (use == CLT_CL_ROWS_REDUCE)
            s.rpg = 1;
    } else if (use == CLT_CL_ROWS_ROW && len < p->short_below) {
        s.wg = p->short_wg;
        s.rpg = p->short_rpg;
    } else if (use == CLT_CL_ROWS_COLUMNS) {
        s.wg = p->col_wg;
        s.rpg = p->col_rpg;
        s.vw = p->col_vw;
    } else if (use == CLT_CL_ROWS_REDUCE) {
        s.wg = p->reduce_wg;
        s.rpg = 1;
    }
    const int max_wg = dev->info.max_work_group_size;
    shrink_to(&s, max_wg > 0 ? (size_t)max_wg : 1);
    return s;
}

clt_status clt_cl_rows_kernel(struct clt_cl_device *dev, const char *file, const char *name,
                              clt_dtype dtype, struct clt_cl_rows_shape *shape,
                              cl_kernel *out)
{
    *out = NULL;
    for (;;) {
        char options[128];
        snprintf(options, sizeof options, "-DWG=%d -DRPG=%d -DVW=%d -DAB_DTYPE=%d -DC_DTYPE=%d",
                 shape->wg, shape->rpg, shape->vw, (int)dtype, (int)dtype);
        cl_program program = NULL;
        clt_status status = clt_cl_program_get(dev, file, options, &program);
        if (status != CLT_OK)
            return status;
        cl_int err = CL_SUCCESS;
        cl_kernel kernel = clCreateKernel(program, name, &err);
        if (!kernel)
            return clt_cl_fail(dev, err, CLT_ERR_BUILD, "clCreateKernel(%s, %s)", name, file);
        /* The compiled kernel may run fewer work-items per group than the device (its
         * registers): then the shape shrinks and the program is built again. */
        size_t kernel_max = 0;
        if (clGetKernelWorkGroupInfo(kernel, dev->device, CL_KERNEL_WORK_GROUP_SIZE,
                                     sizeof kernel_max, &kernel_max, NULL) != CL_SUCCESS)
            kernel_max = (size_t)shape->wg * (size_t)shape->rpg;
        if ((size_t)shape->wg * (size_t)shape->rpg <= kernel_max) {
            *out = kernel;
            return CLT_OK;
        }
        clReleaseKernel(kernel);
        if (shape->wg * shape->rpg == 1)
            return clt_fail(CLT_ERR_UNSUPPORTED, "%s: %s (%s) cannot run even one work-item",
                            dev->label, name, options);
        clt_cl_log(dev, CLT_LOG_DEBUG, "%s (%s) runs at most %zu work-items per group; fewer",
                   name, options, kernel_max);
        shrink_to(shape, kernel_max > 0 ? kernel_max : 1);
    }
}

clt_status clt_cl_rows_launch(struct clt_cl_device *dev, cl_kernel kernel, const char *name,
                              size_t gx, size_t gy, struct clt_cl_rows_shape shape,
                              cl_event *event)
{
    const size_t local[2] = {(size_t)shape.wg, (size_t)shape.rpg};
    const size_t global[2] = {gx, gy};
    return clt_cl_enqueue(dev, kernel, name, 2, global, local, event);
}

clt_status clt_cl_rows_run(struct clt_cl_device *dev, const char *file, const char *name,
                           clt_dtype dtype, int64_t n_rows, int64_t len,
                           const struct clt_cl_arg *args, size_t count, cl_event *event)
{
    struct clt_cl_rows_shape shape = clt_cl_rows_shape_for(dev, CLT_CL_ROWS_ROW, len);
    cl_kernel kernel = NULL;
    clt_status status = clt_cl_rows_kernel(dev, file, name, dtype, &shape, &kernel);
    if (status != CLT_OK)
        return status;
    const cl_int n = (cl_int)n_rows, c = (cl_int)len; /* validated below 2^31 */
    status = clt_cl_set_args(dev, kernel, name, (const struct clt_cl_arg[]){CLT_CL_ARG(n),
                                                                                 CLT_CL_ARG(c)},
                                  2);
    for (size_t i = 0; i < count && status == CLT_OK; i++) {
        cl_int err = clSetKernelArg(kernel, (cl_uint)(i + 2), args[i].size, args[i].value);
        if (err != CL_SUCCESS)
            status = clt_cl_fail(dev, err, CLT_ERR_LAUNCH, "clSetKernelArg(%s, %zu)", name,
                                 i + 2);
    }
    const size_t rows = ((size_t)n_rows + (size_t)shape.rpg - 1) / (size_t)shape.rpg *
                        (size_t)shape.rpg;
    if (status == CLT_OK)
        status = clt_cl_rows_launch(dev, kernel, name, (size_t)shape.wg, rows, shape, event);
    /* The queue holds its own reference while the launch is pending. */
    clReleaseKernel(kernel);
    return status;
}

struct clt_cl_rows_operand clt_cl_rows_operand_of(const clt_tensor *t)
{
    struct clt_cl_rows_operand o = {NULL, 0, 0};
    if (!t->buf)
        return o;
    o.buf = clt_cl_buffer_of(t->buf);
    o.offset = t->offset / clt_dtype_size(t->dtype);
    o.stride = t->rank >= 2 ? t->strides[t->rank - 2] : 0;
    return o;
}

/* ---- the family's entry points --------------------------------------------------------- */

bool clt_cl_rows_supports(const struct clt_cl_device *dev, const clt_op *op)
{
    (void)dev;
    /* Validation has made the floating tensors share one of f32, f16, bf16, kept every
     * dimension below 2^31 and every offset a whole number of elements: the kernels take
     * every valid op of these kinds. */
    switch (op->kind) {
    case CLT_OP_SOFTMAX:
    case CLT_OP_SOFTMAX_BWD:
    case CLT_OP_LAYERNORM_FWD:
    case CLT_OP_LAYERNORM_BWD:
    case CLT_OP_CROSS_ENTROPY_FWD:
    case CLT_OP_CROSS_ENTROPY_BWD:
        return true;
    default:
        return false;
    }
}

clt_status clt_cl_rows_enqueue(struct clt_cl_device *dev, const clt_op *op, cl_event *event)
{
    *event = NULL;
    switch (op->kind) {
    case CLT_OP_SOFTMAX:
        return clt_cl_softmax_enqueue(dev, &op->u.softmax, event);
    case CLT_OP_SOFTMAX_BWD:
        return clt_cl_softmax_bwd_enqueue(dev, &op->u.softmax_bwd, event);
    case CLT_OP_LAYERNORM_FWD:
        return clt_cl_layernorm_fwd_enqueue(dev, &op->u.layernorm_fwd, event);
    case CLT_OP_LAYERNORM_BWD:
        return clt_cl_layernorm_bwd_enqueue(dev, &op->u.layernorm_bwd, event);
    case CLT_OP_CROSS_ENTROPY_FWD:
        return clt_cl_cross_entropy_fwd_enqueue(dev, &op->u.cross_entropy_fwd, event);
    case CLT_OP_CROSS_ENTROPY_BWD:
        return clt_cl_cross_entropy_bwd_enqueue(dev, &op->u.cross_entropy_bwd, event);
    default:
        break;
    }
    return clt_fail(CLT_ERR_INTERNAL, "%s: op %s is not a row-wise op", dev->label,
                    clt_op_name(op->kind));
}
