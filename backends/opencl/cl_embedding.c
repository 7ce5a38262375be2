/* SCAFFOLD — replaced by the embedding family's implementation. */
#include "backends/opencl/cl_internal.h"

bool clt_cl_embedding_supports(const struct clt_cl_device *dev, const clt_op *op)
{
    (void)dev;
    (void)op;
    return false;
}

clt_status clt_cl_embedding_enqueue(struct clt_cl_device *dev, const clt_op *op, cl_event *event)
{
    (void)event;
    return clt_fail(CLT_ERR_UNSUPPORTED, "%s: op %s is not implemented yet", dev->label,
                    clt_op_name(op->kind));
}
