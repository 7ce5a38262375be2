/* The elementwise family on OpenCL (kernels_cl/elementwise.cl): GELU forward and
 * backward, add, scale and bias add here; the bias gradient and the squared norm in
 * cl_elementwise_reduce.c. Every float dtype runs on every device: the kernels need
 * nothing beyond OpenCL C 1.2.
 *
 * Contiguous ops: a work-item takes `items` vectors of four (see the kernel file); the
 * range is the vectors divided by `items`, and never empty, since work-item 0 also
 * takes the last n % 4 elements. */
#include "backends/opencl/cl_internal.h"

#define FILE_NAME "elementwise.cl"

bool clt_cl_elementwise_supports(const struct clt_cl_device *dev, const clt_op *op)
{
    (void)dev;
    switch (op->kind) {
    case CLT_OP_GELU_FWD:
    case CLT_OP_GELU_BWD:
    case CLT_OP_ADD:
    case CLT_OP_SCALE:
    case CLT_OP_BIAS_ADD:
    case CLT_OP_BIAS_GRAD:
    case CLT_OP_SQNORM:
        return true; /* f32, f16 and bf16 alike; validation has admitted nothing else */
    default:
        return false;
    }
}

/* Work-items for n elements: `items` vectors each, and at least one for the tail. */
static size_t contiguous_items(const struct clt_cl_ew_params *p, cl_ulong n)
{
    const cl_ulong vectors = n / 4;
    const cl_ulong items = (vectors + p->items - 1) / p->items;
    return items > 0 ? (size_t)items : 1;
}

/* Whether every tensor starts on a vector boundary (its element offset). */
static cl_int all_aligned(const clt_tensor *const *tensors, int count)
{
    for (int i = 0; i < count; i++)
        if (clt_cl_elem_offset(tensors[i]) % 4 != 0)
            return 0;
    return 1;
}

static clt_status gelu_fwd(struct clt_cl_device *dev, const struct clt_cl_ew_params *p,
                           const clt_gelu_args *a, cl_event *event)
{
    const clt_tensor *t[] = {&a->x, &a->y};
    const cl_ulong n = (cl_ulong)clt_tensor_numel(&a->x);
    const cl_int aligned = all_aligned(t, 2);
    cl_mem x = clt_cl_buffer_of(a->x.buf), y = clt_cl_buffer_of(a->y.buf);
    cl_ulong x_off = clt_cl_elem_offset(&a->x), y_off = clt_cl_elem_offset(&a->y);
    const struct clt_cl_arg args[] = {
        CLT_CL_ARG(n), CLT_CL_ARG(p->items), CLT_CL_ARG(aligned),
        CLT_CL_ARG(x), CLT_CL_ARG(x_off), CLT_CL_ARG(y), CLT_CL_ARG(y_off),
    };
    return clt_cl_ew_launch(dev, FILE_NAME, "gelu_fwd", a->x.dtype, args,
                            sizeof args / sizeof args[0], contiguous_items(p, n), p->wg,
                            event);
}

static clt_status gelu_bwd(struct clt_cl_device *dev, const struct clt_cl_ew_params *p,
                           const clt_gelu_bwd_args *a, cl_event *event)
{
    const clt_tensor *t[] = {&a->x, &a->dy, &a->dx};
    const cl_ulong n = (cl_ulong)clt_tensor_numel(&a->x);
    const cl_int aligned = all_aligned(t, 3);
    cl_mem x = clt_cl_buffer_of(a->x.buf), dy = clt_cl_buffer_of(a->dy.buf);
    cl_mem dx = clt_cl_buffer_of(a->dx.buf);
    cl_ulong x_off = clt_cl_elem_offset(&a->x), dy_off = clt_cl_elem_offset(&a->dy);
    cl_ulong dx_off = clt_cl_elem_offset(&a->dx);
    const struct clt_cl_arg args[] = {
        CLT_CL_ARG(n),  CLT_CL_ARG(p->items), CLT_CL_ARG(aligned),
        CLT_CL_ARG(x),  CLT_CL_ARG(x_off),    CLT_CL_ARG(dy),
        CLT_CL_ARG(dy_off), CLT_CL_ARG(dx),   CLT_CL_ARG(dx_off),
    };
    return clt_cl_ew_launch(dev, FILE_NAME, "gelu_bwd", a->x.dtype, args,
                            sizeof args / sizeof args[0], contiguous_items(p, n), p->wg,
                            event);
}

static clt_status add(struct clt_cl_device *dev, const struct clt_cl_ew_params *p,
                      const clt_add_args *a, cl_event *event)
{
    const clt_tensor *t[] = {&a->a, &a->b, &a->out};
    const cl_ulong n = (cl_ulong)clt_tensor_numel(&a->a);
    const cl_int aligned = all_aligned(t, 3);
    cl_mem in_a = clt_cl_buffer_of(a->a.buf), in_b = clt_cl_buffer_of(a->b.buf);
    cl_mem out = clt_cl_buffer_of(a->out.buf);
    cl_ulong a_off = clt_cl_elem_offset(&a->a), b_off = clt_cl_elem_offset(&a->b);
    cl_ulong out_off = clt_cl_elem_offset(&a->out);
    cl_float alpha = a->alpha, beta = a->beta;
    const struct clt_cl_arg args[] = {
        CLT_CL_ARG(n),     CLT_CL_ARG(p->items), CLT_CL_ARG(aligned),
        CLT_CL_ARG(in_a),  CLT_CL_ARG(a_off),    CLT_CL_ARG(in_b),
        CLT_CL_ARG(b_off), CLT_CL_ARG(out),      CLT_CL_ARG(out_off),
        CLT_CL_ARG(alpha), CLT_CL_ARG(beta),
    };
    return clt_cl_ew_launch(dev, FILE_NAME, "add", a->a.dtype, args,
                            sizeof args / sizeof args[0], contiguous_items(p, n), p->wg,
                            event);
}

static clt_status scale(struct clt_cl_device *dev, const struct clt_cl_ew_params *p,
                        const clt_scale_args *a, cl_event *event)
{
    const clt_tensor *t[] = {&a->x};
    const cl_ulong n = (cl_ulong)clt_tensor_numel(&a->x);
    const cl_int aligned = all_aligned(t, 1);
    cl_mem x = clt_cl_buffer_of(a->x.buf);
    cl_ulong x_off = clt_cl_elem_offset(&a->x);
    cl_float alpha = a->alpha;
    const struct clt_cl_arg args[] = {
        CLT_CL_ARG(n), CLT_CL_ARG(p->items), CLT_CL_ARG(aligned),
        CLT_CL_ARG(x), CLT_CL_ARG(x_off),    CLT_CL_ARG(alpha),
    };
    return clt_cl_ew_launch(dev, FILE_NAME, "scale", a->x.dtype, args,
                            sizeof args / sizeof args[0], contiguous_items(p, n), p->wg,
                            event);
}

/* A work-item per column and run of rows_per_item rows. */
static clt_status bias_add(struct clt_cl_device *dev, const struct clt_cl_ew_params *p,
                           const clt_bias_add_args *a, cl_event *event)
{
    cl_int rows = (cl_int)a->y.shape[0], cols = (cl_int)a->y.shape[1];
    cl_long ld = a->y.strides[0];
    cl_mem y = clt_cl_buffer_of(a->y.buf), bias = clt_cl_buffer_of(a->bias.buf);
    cl_ulong y_off = clt_cl_elem_offset(&a->y), bias_off = clt_cl_elem_offset(&a->bias);
    const struct clt_cl_arg args[] = {
        CLT_CL_ARG(rows), CLT_CL_ARG(cols),  CLT_CL_ARG(ld),
        CLT_CL_ARG(p->rows_per_item),           CLT_CL_ARG(y),
        CLT_CL_ARG(y_off), CLT_CL_ARG(bias), CLT_CL_ARG(bias_off),
    };
    const size_t blocks = ((size_t)rows + (size_t)p->rows_per_item - 1) / (size_t)p->rows_per_item;
    return clt_cl_ew_launch(dev, FILE_NAME, "bias_add", a->y.dtype, args,
                            sizeof args / sizeof args[0], blocks * (size_t)cols, p->wg, event);
}

clt_status clt_cl_elementwise_enqueue(struct clt_cl_device *dev, const clt_op *op,
                                      cl_event *event)
{
    *event = NULL;
    struct clt_cl_ew_params p;
    clt_cl_ew_params_of(dev, &p);
    switch (op->kind) {
    case CLT_OP_GELU_FWD:
        return gelu_fwd(dev, &p, &op->u.gelu_fwd, event);
    case CLT_OP_GELU_BWD:
        return gelu_bwd(dev, &p, &op->u.gelu_bwd, event);
    case CLT_OP_ADD:
        return add(dev, &p, &op->u.add, event);
    case CLT_OP_SCALE:
        return scale(dev, &p, &op->u.scale, event);
    case CLT_OP_BIAS_ADD:
        return bias_add(dev, &p, &op->u.bias_add, event);
    case CLT_OP_BIAS_GRAD:
        return clt_cl_bias_grad_enqueue(dev, &op->u.bias_grad, event);
    case CLT_OP_SQNORM:
        return clt_cl_sqnorm_enqueue(dev, &op->u.sqnorm, event);
    default:
        break;
    }
    return clt_fail(CLT_ERR_UNSUPPORTED, "%s: op %s is not an elementwise op", dev->label,
                    clt_op_name(op->kind));
}
