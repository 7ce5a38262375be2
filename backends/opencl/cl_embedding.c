/* Embedding forward and backward on OpenCL (kernels_cl/embedding.cl, whose header
 * explains the backward pass's bucketing). Every float dtype runs on every device; the
 * kernels count positions in int, so B·T must stay below 2^31 (the host takes larger
 * batches).
 *
 * Backward: embedding_link, embedding_chain and embedding_dwte in that order on the
 * in-order queue, sharing one scratch of V + 2·B·T ints; then embedding_dwpe when dwpe
 * is given. The scratch is freed (and its bytes returned to the budget) once they are
 * enqueued; OpenCL keeps it until they finish. */
#include <limits.h>

#include "backends/opencl/cl_internal.h"

#define FILE_NAME "embedding.cl"

bool clt_cl_embedding_supports(const struct clt_cl_device *dev, const clt_op *op)
{
    (void)dev;
    const clt_tensor *tokens;
    if (op->kind == CLT_OP_EMBEDDING_FWD)
        tokens = &op->u.embedding_fwd.tokens;
    else if (op->kind == CLT_OP_EMBEDDING_BWD)
        tokens = &op->u.embedding_bwd.tokens;
    else
        return false;
    return tokens->shape[0] <= INT_MAX / (tokens->shape[1] > 0 ? tokens->shape[1] : 1);
}

static clt_status forward(struct clt_cl_device *dev, const struct clt_cl_ew_params *p,
                          const clt_embedding_fwd_args *a, cl_event *event)
{
    cl_int T = (cl_int)a->tokens.shape[1], n_pos = (cl_int)a->tokens.shape[0] * T;
    cl_int V = (cl_int)a->wte.shape[0], C = (cl_int)a->wte.shape[1];
    cl_mem tokens = clt_cl_buffer_of(a->tokens.buf), wte = clt_cl_buffer_of(a->wte.buf);
    cl_mem wpe = a->wpe.buf ? clt_cl_buffer_of(a->wpe.buf) : NULL;
    cl_mem out = clt_cl_buffer_of(a->out.buf);
    cl_ulong tokens_off = clt_cl_elem_offset(&a->tokens), wte_off = clt_cl_elem_offset(&a->wte);
    cl_ulong wpe_off = a->wpe.buf ? clt_cl_elem_offset(&a->wpe) : 0;
    cl_ulong out_off = clt_cl_elem_offset(&a->out);
    cl_long ld_wte = a->wte.strides[0], ld_wpe = a->wpe.buf ? a->wpe.strides[0] : 0;
    cl_long s0 = a->out.strides[0], s1 = a->out.strides[1];
    cl_int has_wpe = wpe != NULL;
    const struct clt_cl_arg args[] = {
        CLT_CL_ARG(n_pos),   CLT_CL_ARG(T),          CLT_CL_ARG(V),
        CLT_CL_ARG(C),       CLT_CL_ARG(tokens),     CLT_CL_ARG(tokens_off),
        CLT_CL_ARG(wte),     CLT_CL_ARG(wte_off),    CLT_CL_ARG(ld_wte),
        {sizeof wpe, wpe ? (const void *)&wpe : NULL},     CLT_CL_ARG(wpe_off),
        CLT_CL_ARG(ld_wpe),  CLT_CL_ARG(has_wpe),    CLT_CL_ARG(out),
        CLT_CL_ARG(out_off), CLT_CL_ARG(s0),         CLT_CL_ARG(s1),
    };
    return clt_cl_ew_launch(dev, FILE_NAME, "embedding_fwd", a->wte.dtype, args,
                            sizeof args / sizeof args[0], (size_t)n_pos * (size_t)C, p->wg,
                            event);
}

static clt_status backward(struct clt_cl_device *dev, const struct clt_cl_ew_params *p,
                           const clt_embedding_bwd_args *a, cl_event *event)
{
    cl_int B = (cl_int)a->tokens.shape[0], T = (cl_int)a->tokens.shape[1];
    cl_int n_pos = B * T;
    cl_int V = (cl_int)a->dwte.shape[0], C = (cl_int)a->dwte.shape[1];
    const clt_dtype dtype = a->dwte.dtype;
    cl_mem tokens = clt_cl_buffer_of(a->tokens.buf), dout = clt_cl_buffer_of(a->dout.buf);
    cl_mem dwte = clt_cl_buffer_of(a->dwte.buf);
    cl_ulong tokens_off = clt_cl_elem_offset(&a->tokens), dout_off = clt_cl_elem_offset(&a->dout);
    cl_ulong dwte_off = clt_cl_elem_offset(&a->dwte);
    cl_long s0 = a->dout.strides[0], s1 = a->dout.strides[1], ld = a->dwte.strides[0];
    cl_int accumulate = a->accumulate ? 1 : 0;

    const size_t bytes = ((size_t)V + 2 * (size_t)n_pos) * sizeof(cl_int);
    cl_mem scratch = NULL;
    clt_status status = clt_cl_ew_scratch(dev, bytes, "embedding_bwd: token buckets", &scratch);
    if (status != CLT_OK)
        return status;
    const struct clt_cl_arg link_args[] = {
        CLT_CL_ARG(n_pos),   CLT_CL_ARG(V), CLT_CL_ARG(tokens),
        CLT_CL_ARG(tokens_off), CLT_CL_ARG(scratch),
        CLT_CL_EW_LOCAL(p->chunk * sizeof(cl_int)),
    };
    status = clt_cl_ew_launch(dev, FILE_NAME, "embedding_link", dtype, link_args,
                              sizeof link_args / sizeof link_args[0], (size_t)n_pos, p->chunk,
                              NULL);
    if (status != CLT_OK)
        goto done;
    const struct clt_cl_arg chain_args[] = {
        CLT_CL_ARG(n_pos),      CLT_CL_ARG(V),       CLT_CL_ARG(tokens),
        CLT_CL_ARG(tokens_off), CLT_CL_ARG(scratch),
    };
    status = clt_cl_ew_launch(dev, FILE_NAME, "embedding_chain", dtype, chain_args,
                              sizeof chain_args / sizeof chain_args[0], p->chunk, p->chunk,
                              NULL);
    if (status != CLT_OK)
        goto done;
    const struct clt_cl_arg dwte_args[] = {
        CLT_CL_ARG(T),        CLT_CL_ARG(V),       CLT_CL_ARG(C),
        CLT_CL_ARG(dout),     CLT_CL_ARG(dout_off), CLT_CL_ARG(s0),
        CLT_CL_ARG(s1),       CLT_CL_ARG(scratch),  CLT_CL_ARG(dwte),
        CLT_CL_ARG(dwte_off), CLT_CL_ARG(ld),       CLT_CL_ARG(accumulate),
    };
    status = clt_cl_ew_launch(dev, FILE_NAME, "embedding_dwte", dtype, dwte_args,
                              sizeof dwte_args / sizeof dwte_args[0], (size_t)V * (size_t)C,
                              p->wg, a->dwpe.buf ? NULL : event);
    if (status != CLT_OK || !a->dwpe.buf)
        goto done;
    cl_int T_max = (cl_int)a->dwpe.shape[0];
    cl_mem dwpe = clt_cl_buffer_of(a->dwpe.buf);
    cl_ulong dwpe_off = clt_cl_elem_offset(&a->dwpe);
    cl_long ld_wpe = a->dwpe.strides[0];
    const struct clt_cl_arg dwpe_args[] = {
        CLT_CL_ARG(B),        CLT_CL_ARG(T),        CLT_CL_ARG(T_max),
        CLT_CL_ARG(C),        CLT_CL_ARG(dout),     CLT_CL_ARG(dout_off),
        CLT_CL_ARG(s0),       CLT_CL_ARG(s1),       CLT_CL_ARG(dwpe),
        CLT_CL_ARG(dwpe_off), CLT_CL_ARG(ld_wpe),   CLT_CL_ARG(accumulate),
    };
    status = clt_cl_ew_launch(dev, FILE_NAME, "embedding_dwpe", dtype, dwpe_args,
                              sizeof dwpe_args / sizeof dwpe_args[0],
                              (size_t)T_max * (size_t)C, p->wg, event);
done:
    clt_cl_ew_scratch_free(dev, scratch, bytes);
    return status;
}

clt_status clt_cl_embedding_enqueue(struct clt_cl_device *dev, const clt_op *op,
                                    cl_event *event)
{
    *event = NULL;
    struct clt_cl_ew_params p;
    clt_cl_ew_params_of(dev, &p);
    switch (op->kind) {
    case CLT_OP_EMBEDDING_FWD:
        return forward(dev, &p, &op->u.embedding_fwd, event);
    case CLT_OP_EMBEDDING_BWD:
        return backward(dev, &p, &op->u.embedding_bwd, event);
    default:
        break;
    }
    return clt_fail(CLT_ERR_UNSUPPORTED, "%s: op %s is not an embedding op", dev->label,
                    clt_op_name(op->kind));
}
