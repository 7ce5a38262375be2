/* Cross-entropy fused with softmax on OpenCL. Forward: softmax.cl's softmax_lse writes
 * each row's logsumexp (one read of the logits, pass 1 of the two-pass softmax), then
 * cross_entropy.cl's ce_loss, one work-group, adds lse − logit[target] over the rows in a
 * fixed order and divides by their count. Backward: ce_count counts the rows that are not
 * ignored into a 4-byte scratch buffer (an integer: exact, so the same on every run),
 * then ce_bwd writes each row of dlogits. */
#include "backends/opencl/cl_internal.h"

/* Runs one-group kernel `name` of cross_entropy.cl with `args`. */
static clt_status run_one_group(struct clt_cl_device *dev, const char *name, clt_dtype dtype,
                                const struct clt_cl_arg *args, size_t count, cl_event *event)
{
    struct clt_cl_rows_shape shape = clt_cl_rows_shape_for(dev, CLT_CL_ROWS_REDUCE, 0);
    cl_kernel kernel = NULL;
    clt_status status = clt_cl_rows_kernel(dev, "cross_entropy.cl", name, dtype, &shape,
                                           &kernel);
    if (status != CLT_OK)
        return status;
    status = clt_cl_set_args(dev, kernel, name, args, count);
    if (status == CLT_OK)
        status = clt_cl_rows_launch(dev, kernel, name, (size_t)shape.wg, 1, shape, event);
    clReleaseKernel(kernel);
    return status;
}

clt_status clt_cl_cross_entropy_fwd_enqueue(struct clt_cl_device *dev,
                                            const clt_cross_entropy_fwd_args *a,
                                            cl_event *event)
{
    clt_status status = clt_cl_softmax_lse_enqueue(dev, &a->logits, &a->lse, NULL);
    if (status != CLT_OK)
        return status;
    struct clt_cl_rows_operand logits = clt_cl_rows_operand_of(&a->logits);
    struct clt_cl_rows_operand targets = clt_cl_rows_operand_of(&a->targets);
    struct clt_cl_rows_operand lse = clt_cl_rows_operand_of(&a->lse);
    struct clt_cl_rows_operand loss = clt_cl_rows_operand_of(&a->loss);
    const cl_int n = (cl_int)a->logits.shape[0], v = (cl_int)a->logits.shape[1];
    const cl_int ignore = a->ignore_index;
    const struct clt_cl_arg args[] = {
        CLT_CL_ARG(n),              CLT_CL_ARG(v),          CLT_CL_ARG(logits.buf),
        CLT_CL_ARG(logits.offset),  CLT_CL_ARG(logits.stride), CLT_CL_ARG(targets.buf),
        CLT_CL_ARG(targets.offset), CLT_CL_ARG(lse.buf),    CLT_CL_ARG(lse.offset),
        CLT_CL_ARG(ignore),         CLT_CL_ARG(loss.buf),   CLT_CL_ARG(loss.offset),
    };
    return run_one_group(dev, "ce_loss", a->logits.dtype, args, sizeof args / sizeof args[0],
                         event);
}

clt_status clt_cl_cross_entropy_bwd_enqueue(struct clt_cl_device *dev,
                                            const clt_cross_entropy_bwd_args *a,
                                            cl_event *event)
{
    const size_t scratch_bytes = sizeof(cl_int);
    cl_mem n_valid = NULL;
    clt_status status = clt_dev_reserve(&dev->base, scratch_bytes,
                                        "cross_entropy_bwd: the count of rows not ignored");
    if (status != CLT_OK)
        return status;
    cl_int err = CL_SUCCESS;
    n_valid = clCreateBuffer(dev->context, CL_MEM_READ_WRITE, scratch_bytes, NULL, &err);
    if (!n_valid) {
        status = clt_cl_fail(dev, err, CLT_ERR_OUT_OF_MEMORY,
                             "clCreateBuffer(%zu bytes for cross_entropy_bwd's row count)",
                             scratch_bytes);
        goto done;
    }

    struct clt_cl_rows_operand logits = clt_cl_rows_operand_of(&a->logits);
    struct clt_cl_rows_operand targets = clt_cl_rows_operand_of(&a->targets);
    struct clt_cl_rows_operand lse = clt_cl_rows_operand_of(&a->lse);
    struct clt_cl_rows_operand d = clt_cl_rows_operand_of(&a->dlogits);
    const cl_int n = (cl_int)a->logits.shape[0], ignore = a->ignore_index;
    const cl_float dloss = a->dloss;
    const struct clt_cl_arg count_args[] = {
        CLT_CL_ARG(n), CLT_CL_ARG(targets.buf), CLT_CL_ARG(targets.offset), CLT_CL_ARG(ignore),
        CLT_CL_ARG(n_valid),
    };
    status = run_one_group(dev, "ce_count", a->logits.dtype, count_args,
                           sizeof count_args / sizeof count_args[0], NULL);
    if (status != CLT_OK)
        goto done;
    const struct clt_cl_arg args[] = {
        CLT_CL_ARG(logits.buf),  CLT_CL_ARG(logits.offset), CLT_CL_ARG(logits.stride),
        CLT_CL_ARG(targets.buf), CLT_CL_ARG(targets.offset), CLT_CL_ARG(lse.buf),
        CLT_CL_ARG(lse.offset),  CLT_CL_ARG(n_valid),       CLT_CL_ARG(d.buf),
        CLT_CL_ARG(d.offset),    CLT_CL_ARG(d.stride),      CLT_CL_ARG(dloss),
        CLT_CL_ARG(ignore),
    };
    status = clt_cl_rows_run(dev, "cross_entropy.cl", "ce_bwd", a->logits.dtype,
                             a->logits.shape[0], a->logits.shape[1], args,
                             sizeof args / sizeof args[0], event);
done:
    /* OpenCL frees the buffer when the kernels that use it have finished; the four bytes
     * go back to the budget now, when the op is enqueued. */
    if (n_valid)
        clReleaseMemObject(n_valid);
    clt_dev_release(&dev->base, scratch_bytes);
    return status;
}
