/* Softmax over rows, its gradient, and the logsumexp of rows on OpenCL
 * (kernels_cl/softmax.cl). Each op is one launch of a row kernel; `algo` picks the
 * two-pass kernel (x read twice) or the three-pass one (max, sum, normalise). */
#include "backends/opencl/cl_internal.h"

clt_status clt_cl_softmax_enqueue(struct clt_cl_device *dev, const clt_softmax_args *a,
                                  cl_event *event)
{
    const char *name =
        a->algo == CLT_SOFTMAX_THREE_PASS ? "softmax_three_pass" : "softmax_two_pass";
    struct clt_cl_rows_operand x = clt_cl_rows_operand_of(&a->x);
    struct clt_cl_rows_operand y = clt_cl_rows_operand_of(&a->y);
    const struct clt_cl_arg args[] = {
        CLT_CL_ARG(x.buf), CLT_CL_ARG(x.offset), CLT_CL_ARG(x.stride),
        CLT_CL_ARG(y.buf), CLT_CL_ARG(y.offset), CLT_CL_ARG(y.stride),
    };
    return clt_cl_rows_run(dev, "softmax.cl", name, a->x.dtype, a->x.shape[0], a->x.shape[1],
                           args, sizeof args / sizeof args[0], event);
}

clt_status clt_cl_softmax_bwd_enqueue(struct clt_cl_device *dev, const clt_softmax_bwd_args *a,
                                      cl_event *event)
{
    struct clt_cl_rows_operand y = clt_cl_rows_operand_of(&a->y);
    struct clt_cl_rows_operand dy = clt_cl_rows_operand_of(&a->dy);
    struct clt_cl_rows_operand dx = clt_cl_rows_operand_of(&a->dx);
    const struct clt_cl_arg args[] = {
        CLT_CL_ARG(y.buf),  CLT_CL_ARG(y.offset),  CLT_CL_ARG(y.stride),
        CLT_CL_ARG(dy.buf), CLT_CL_ARG(dy.offset), CLT_CL_ARG(dy.stride),
        CLT_CL_ARG(dx.buf), CLT_CL_ARG(dx.offset), CLT_CL_ARG(dx.stride),
    };
    return clt_cl_rows_run(dev, "softmax.cl", "softmax_bwd", a->y.dtype, a->y.shape[0],
                           a->y.shape[1], args, sizeof args / sizeof args[0], event);
}

clt_status clt_cl_softmax_lse_enqueue(struct clt_cl_device *dev, const clt_tensor *x,
                                      const clt_tensor *lse, cl_event *event)
{
    struct clt_cl_rows_operand xo = clt_cl_rows_operand_of(x);
    struct clt_cl_rows_operand lo = clt_cl_rows_operand_of(lse);
    const struct clt_cl_arg args[] = {
        CLT_CL_ARG(xo.buf), CLT_CL_ARG(xo.offset), CLT_CL_ARG(xo.stride),
        CLT_CL_ARG(lo.buf), CLT_CL_ARG(lo.offset),
    };
    return clt_cl_rows_run(dev, "softmax.cl", "softmax_lse", x->dtype, x->shape[0],
                           x->shape[1], args, sizeof args / sizeof args[0], event);
}
