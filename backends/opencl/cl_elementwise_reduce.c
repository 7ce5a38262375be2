/* The elementwise family's reductions on OpenCL (kernels_cl/elementwise.cl), both
 * deterministic: the split of each sum follows from the shape and the device's fixed
 * parameters (cl_elementwise_launch.c), the pieces are added in a fixed order, and
 * nothing depends on timing or uses atomics. Run twice, they give the same bits.
 *
 * bias_grad: column sums over rows. Up to one chunk of rows (bias_chunk): one pass, a
 * work-item per column. Beyond it: chunks of at least bias_chunk rows, at most
 * bias_partials of them and at most SCRATCH_CAP bytes of partials; pass 1 sums each
 * (chunk, column) in row order into an f32 scratch (chunks × columns), pass 2 adds a
 * column's chunks in order.
 *
 * sqnorm: `groups` work-groups (at most sqnorm_groups, fewer for small tensors), each
 * work-item summing a strided slice in four f32 lanes, each group a fixed tree; then
 * one group adds the groups' sums in order. One group writes the norm itself.
 * Precision: f32 throughout (the host reference adds in double). Each lane adds about
 * n / (4 · groups · wg) squares in order, the rest is trees of depth ~20, so the
 * relative error is at most about (that count + 20) · 6e-8 and typically its square
 * root times that: for 124M squares, 1e-4 at worst with the CPU table (1.9K per lane),
 * 8e-6 with the GPU's (120 per lane). */
#include "backends/opencl/cl_internal.h"

#define FILE_NAME "elementwise.cl"
#define SCRATCH_CAP ((size_t)16 << 20) /* bias_grad's partial sums, bytes */

clt_status clt_cl_bias_grad_enqueue(struct clt_cl_device *dev, const clt_bias_grad_args *a,
                                    cl_event *event)
{
    *event = NULL;
    struct clt_cl_ew_params p;
    clt_cl_ew_params_of(dev, &p);
    cl_int rows = (cl_int)a->dy.shape[0], cols = (cl_int)a->dy.shape[1];
    cl_long ld = a->dy.strides[0];
    cl_mem dy = clt_cl_buffer_of(a->dy.buf), dbias = clt_cl_buffer_of(a->dbias.buf);
    cl_ulong dy_off = clt_cl_elem_offset(&a->dy), dbias_off = clt_cl_elem_offset(&a->dbias);
    cl_int accumulate = a->accumulate ? 1 : 0;

    int64_t most = p.bias_partials; /* partials per column, within the scratch cap */
    if (most > (int64_t)(SCRATCH_CAP / sizeof(cl_float)) / cols)
        most = (int64_t)(SCRATCH_CAP / sizeof(cl_float)) / cols;
    if (most < 1)
        most = 1;
    cl_int chunk = p.bias_chunk;
    if (((int64_t)rows + chunk - 1) / chunk > most)
        chunk = (cl_int)(((int64_t)rows + most - 1) / most);
    cl_int n_partials = (cl_int)(((int64_t)rows + chunk - 1) / chunk);
    if (n_partials == 1) {
        const struct clt_cl_arg args[] = {
            CLT_CL_ARG(rows),      CLT_CL_ARG(cols),  CLT_CL_ARG(ld),
            CLT_CL_ARG(dy),        CLT_CL_ARG(dy_off), CLT_CL_ARG(dbias),
            CLT_CL_ARG(dbias_off), CLT_CL_ARG(accumulate),
        };
        return clt_cl_ew_launch(dev, FILE_NAME, "bias_grad_direct", a->dy.dtype, args,
                                sizeof args / sizeof args[0], (size_t)cols, p.wg, event);
    }

    const size_t bytes = (size_t)n_partials * (size_t)cols * sizeof(cl_float);
    cl_mem partial = NULL;
    clt_status status = clt_cl_ew_scratch(dev, bytes, "bias_grad: partial sums", &partial);
    if (status != CLT_OK)
        return status;
    const struct clt_cl_arg pass1[] = {
        CLT_CL_ARG(rows), CLT_CL_ARG(cols),   CLT_CL_ARG(ld),
        CLT_CL_ARG(chunk), CLT_CL_ARG(dy),    CLT_CL_ARG(dy_off),
        CLT_CL_ARG(partial),
    };
    status = clt_cl_ew_launch(dev, FILE_NAME, "bias_grad_partial", a->dy.dtype, pass1,
                              sizeof pass1 / sizeof pass1[0],
                              (size_t)n_partials * (size_t)cols, p.wg, NULL);
    if (status != CLT_OK)
        goto done;
    const struct clt_cl_arg pass2[] = {
        CLT_CL_ARG(cols),      CLT_CL_ARG(n_partials), CLT_CL_ARG(partial),
        CLT_CL_ARG(dbias),     CLT_CL_ARG(dbias_off),  CLT_CL_ARG(accumulate),
    };
    status = clt_cl_ew_launch(dev, FILE_NAME, "bias_grad_finish", a->dy.dtype, pass2,
                              sizeof pass2 / sizeof pass2[0], (size_t)cols, p.wg, event);
done:
    clt_cl_ew_scratch_free(dev, partial, bytes);
    return status;
}

clt_status clt_cl_sqnorm_enqueue(struct clt_cl_device *dev, const clt_sqnorm_args *a,
                                 cl_event *event)
{
    *event = NULL;
    struct clt_cl_ew_params p;
    clt_cl_ew_params_of(dev, &p);
    cl_ulong n = (cl_ulong)clt_tensor_numel(&a->x);
    const cl_ulong vectors = n / 4;
    const cl_ulong per_group = (cl_ulong)p.wg * p.items;
    cl_ulong groups = (vectors + per_group - 1) / per_group;
    if (groups > p.sqnorm_groups)
        groups = p.sqnorm_groups;
    if (groups < 1)
        groups = 1;
    const cl_ulong range = groups * p.wg;
    cl_uint items = (cl_uint)((vectors + range - 1) / range);
    cl_int aligned = clt_cl_elem_offset(&a->x) % 4 == 0;
    cl_mem x = clt_cl_buffer_of(a->x.buf), norm = clt_cl_buffer_of(a->norm.buf);
    cl_ulong x_off = clt_cl_elem_offset(&a->x), norm_off = clt_cl_elem_offset(&a->norm);
    cl_int accumulate = a->accumulate ? 1 : 0;
    const size_t local_bytes = p.wg * sizeof(cl_float);

    if (groups == 1) {
        const struct clt_cl_arg args[] = {
            CLT_CL_ARG(n),    CLT_CL_ARG(items),    CLT_CL_ARG(aligned),
            CLT_CL_ARG(x),    CLT_CL_ARG(x_off),    CLT_CL_ARG(norm),
            CLT_CL_ARG(norm_off), CLT_CL_ARG(accumulate), CLT_CL_EW_LOCAL(local_bytes),
        };
        return clt_cl_ew_launch(dev, FILE_NAME, "sqnorm_partial", a->x.dtype, args,
                                sizeof args / sizeof args[0], p.wg, p.wg, event);
    }

    const size_t bytes = (size_t)groups * sizeof(cl_float);
    cl_mem partial = NULL;
    clt_status status = clt_cl_ew_scratch(dev, bytes, "sqnorm: partial sums", &partial);
    if (status != CLT_OK)
        return status;
    cl_ulong partial_off = 0;
    cl_int overwrite = 0; /* the partials start from 0, whatever accumulate says */
    const struct clt_cl_arg pass1[] = {
        CLT_CL_ARG(n),       CLT_CL_ARG(items),       CLT_CL_ARG(aligned),
        CLT_CL_ARG(x),       CLT_CL_ARG(x_off),       CLT_CL_ARG(partial),
        CLT_CL_ARG(partial_off), CLT_CL_ARG(overwrite),CLT_CL_EW_LOCAL(local_bytes),
    };
    status = clt_cl_ew_launch(dev, FILE_NAME, "sqnorm_partial", a->x.dtype, pass1,
                              sizeof pass1 / sizeof pass1[0], (size_t)range, p.wg, NULL);
    if (status != CLT_OK)
        goto done;
    cl_uint n_partials = (cl_uint)groups;
    const struct clt_cl_arg pass2[] = {
        CLT_CL_ARG(n_partials), CLT_CL_ARG(partial),    CLT_CL_ARG(norm),
        CLT_CL_ARG(norm_off),   CLT_CL_ARG(accumulate), CLT_CL_EW_LOCAL(local_bytes),
    };
    status = clt_cl_ew_launch(dev, FILE_NAME, "sqnorm_finish", a->x.dtype, pass2,
                              sizeof pass2 / sizeof pass2[0], p.wg, p.wg, event);
done:
    clt_cl_ew_scratch_free(dev, partial, bytes);
    return status;
}
