/* Embedding forward and backward on the host driver: the reference
 * (backends/host/embedding_ref.c) on the tensors' host memory. The backward pass's
 * bucket lists are scratch, counted through clt_dev_reserve. */
#include <stdlib.h>

#include "backends/host/host_driver.h"
#include "backends/host/ref.h"
#include "runtime/error.h"

static clt_status embedding_bwd(struct clt_dev *dev, const clt_embedding_bwd_args *a)
{
    const size_t bytes = clt_ref_embedding_bwd_workspace(a);
    clt_status status = clt_dev_reserve(dev, bytes, "embedding_bwd: the token buckets");
    if (status != CLT_OK)
        return status;
    void *workspace = malloc(bytes); /* malloc's alignment suits the doubles in front */
    if (!workspace) {
        status = clt_fail(CLT_ERR_OUT_OF_MEMORY,
                          "embedding_bwd: host: no memory for the token buckets (%zu bytes)",
                          bytes);
        goto done;
    }
    clt_ref_embedding_bwd(a, clt_host_tensor_data(&a->dout), clt_host_tensor_data(&a->tokens),
                          clt_host_tensor_data(&a->dwte), clt_host_tensor_data(&a->dwpe),
                          workspace);
done:
    free(workspace);
    clt_dev_release(dev, bytes);
    return status;
}

clt_status clt_host_embedding(struct clt_dev *dev, const clt_op *op)
{
    switch (op->kind) {
    case CLT_OP_EMBEDDING_FWD: {
        const clt_embedding_fwd_args *a = &op->u.embedding_fwd;
        clt_ref_embedding_fwd(a, clt_host_tensor_data(&a->tokens),
                              clt_host_tensor_data(&a->wte), clt_host_tensor_data(&a->wpe),
                              clt_host_tensor_data(&a->out));
        return CLT_OK;
    }
    case CLT_OP_EMBEDDING_BWD:
        return embedding_bwd(dev, &op->u.embedding_bwd);
    default:
        break;
    }
    return clt_fail(CLT_ERR_UNSUPPORTED, "host: op %s is not an embedding op",
                    clt_op_name(op->kind));
}
