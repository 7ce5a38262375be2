/* LayerNorm on OpenCL (kernels_cl/layernorm.cl). The forward pass is one row kernel. The
 * backward pass is the row kernel for dx, then the column kernel for dweight and dbias,
 * which sums each column's rows in a fixed order inside one work-group (no atomics, no
 * scratch), so that its results are the same on every run. */
#include "backends/opencl/cl_internal.h"

/* The flags of layernorm_fwd (layernorm.cl). */
#define HAS_BIAS 1
#define HAS_MEAN 2
#define HAS_RSTD 4

clt_status clt_cl_layernorm_fwd_enqueue(struct clt_cl_device *dev,
                                        const clt_layernorm_fwd_args *a, cl_event *event)
{
    struct clt_cl_rows_operand x = clt_cl_rows_operand_of(&a->x);
    struct clt_cl_rows_operand w = clt_cl_rows_operand_of(&a->weight);
    struct clt_cl_rows_operand b = clt_cl_rows_operand_of(&a->bias);
    struct clt_cl_rows_operand out = clt_cl_rows_operand_of(&a->out);
    struct clt_cl_rows_operand mean = clt_cl_rows_operand_of(&a->mean);
    struct clt_cl_rows_operand rstd = clt_cl_rows_operand_of(&a->rstd);
    const cl_float eps = a->eps;
    const cl_int flags = (b.buf ? HAS_BIAS : 0) | (mean.buf ? HAS_MEAN : 0) |
                         (rstd.buf ? HAS_RSTD : 0);
    const struct clt_cl_arg args[] = {
        CLT_CL_ARG(x.buf),        CLT_CL_ARG(x.offset),    CLT_CL_ARG(x.stride),
        CLT_CL_ARG(w.buf),        CLT_CL_ARG(w.offset),    CLT_CL_ARG_MEM(b.buf),
        CLT_CL_ARG(b.offset),     CLT_CL_ARG(out.buf),     CLT_CL_ARG(out.offset),
        CLT_CL_ARG(out.stride),   CLT_CL_ARG_MEM(mean.buf), CLT_CL_ARG(mean.offset),
        CLT_CL_ARG_MEM(rstd.buf), CLT_CL_ARG(rstd.offset), CLT_CL_ARG(eps),
        CLT_CL_ARG(flags),
    };
    return clt_cl_rows_run(dev, "layernorm.cl", "layernorm_fwd", a->x.dtype, a->x.shape[0],
                           a->x.shape[1], args, sizeof args / sizeof args[0], event);
}

/* dweight and dbias: groups of shape.wg vectors of shape.vw columns, each splitting the
 * rows among its shape.rpg row slices. */
static clt_status enqueue_params(struct clt_cl_device *dev, const clt_layernorm_bwd_args *a,
                                 cl_event *event)
{
    static const char name[] = "layernorm_bwd_params";
    struct clt_cl_rows_shape shape = clt_cl_rows_shape_for(dev, CLT_CL_ROWS_COLUMNS, 0);
    cl_kernel kernel = NULL;
    clt_status status = clt_cl_rows_kernel(dev, "layernorm.cl", name, a->x.dtype, &shape,
                                           &kernel);
    if (status != CLT_OK)
        return status;
    struct clt_cl_rows_operand g = clt_cl_rows_operand_of(&a->dout);
    struct clt_cl_rows_operand x = clt_cl_rows_operand_of(&a->x);
    struct clt_cl_rows_operand mean = clt_cl_rows_operand_of(&a->mean);
    struct clt_cl_rows_operand rstd = clt_cl_rows_operand_of(&a->rstd);
    struct clt_cl_rows_operand dw = clt_cl_rows_operand_of(&a->dweight);
    struct clt_cl_rows_operand db = clt_cl_rows_operand_of(&a->dbias);
    const cl_int n = (cl_int)a->x.shape[0], c = (cl_int)a->x.shape[1];
    const cl_int has_dbias = db.buf != NULL, accumulate = a->accumulate;
    const struct clt_cl_arg args[] = {
        CLT_CL_ARG(n),           CLT_CL_ARG(c),         CLT_CL_ARG(g.buf),
        CLT_CL_ARG(g.offset),    CLT_CL_ARG(g.stride),  CLT_CL_ARG(x.buf),
        CLT_CL_ARG(x.offset),    CLT_CL_ARG(x.stride),  CLT_CL_ARG(mean.buf),
        CLT_CL_ARG(mean.offset), CLT_CL_ARG(rstd.buf),  CLT_CL_ARG(rstd.offset),
        CLT_CL_ARG(dw.buf),      CLT_CL_ARG(dw.offset), CLT_CL_ARG_MEM(db.buf),
        CLT_CL_ARG(db.offset),   CLT_CL_ARG(has_dbias), CLT_CL_ARG(accumulate),
    };
    status = clt_cl_set_args(dev, kernel, name, args, sizeof args / sizeof args[0]);
    if (status == CLT_OK) {
        const size_t vectors = ((size_t)c + (size_t)shape.vw - 1) / (size_t)shape.vw;
        const size_t gx = (vectors + (size_t)shape.wg - 1) / (size_t)shape.wg * (size_t)shape.wg;
        status = clt_cl_rows_launch(dev, kernel, name, gx, (size_t)shape.rpg, shape, event);
    }
    clReleaseKernel(kernel);
    return status;
}

clt_status clt_cl_layernorm_bwd_enqueue(struct clt_cl_device *dev,
                                        const clt_layernorm_bwd_args *a, cl_event *event)
{
    struct clt_cl_rows_operand g = clt_cl_rows_operand_of(&a->dout);
    struct clt_cl_rows_operand x = clt_cl_rows_operand_of(&a->x);
    struct clt_cl_rows_operand w = clt_cl_rows_operand_of(&a->weight);
    struct clt_cl_rows_operand mean = clt_cl_rows_operand_of(&a->mean);
    struct clt_cl_rows_operand rstd = clt_cl_rows_operand_of(&a->rstd);
    struct clt_cl_rows_operand dx = clt_cl_rows_operand_of(&a->dx);
    const cl_int accumulate = a->accumulate;
    const struct clt_cl_arg args[] = {
        CLT_CL_ARG(g.buf),       CLT_CL_ARG(g.offset),    CLT_CL_ARG(g.stride),
        CLT_CL_ARG(x.buf),       CLT_CL_ARG(x.offset),    CLT_CL_ARG(x.stride),
        CLT_CL_ARG(w.buf),       CLT_CL_ARG(w.offset),    CLT_CL_ARG(mean.buf),
        CLT_CL_ARG(mean.offset), CLT_CL_ARG(rstd.buf),    CLT_CL_ARG(rstd.offset),
        CLT_CL_ARG(dx.buf),      CLT_CL_ARG(dx.offset),   CLT_CL_ARG(dx.stride),
        CLT_CL_ARG(accumulate),
    };
    /* The queue is in order: the column kernel runs after dx's, and its event is the
     * op's. */
    clt_status status = clt_cl_rows_run(dev, "layernorm.cl", "layernorm_bwd_dx", a->x.dtype,
                                        a->x.shape[0], a->x.shape[1], args,
                                        sizeof args / sizeof args[0], NULL);
    return status == CLT_OK ? enqueue_params(dev, a, event) : status;
}
