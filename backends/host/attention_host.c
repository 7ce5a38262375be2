/* Attention on the host driver: the reference (attention_ref.c), run on the tensors'
 * host memory with its O(T·d) workspace counted against the context's budget. */
#include <stdlib.h>

#include "backends/host/host_driver.h"
#include "backends/host/ref.h"
#include "runtime/error.h"

clt_status clt_host_attention(struct clt_dev *dev, const clt_op *op)
{
    const bool backward = op->kind == CLT_OP_ATTENTION_BWD;
    const char *name = clt_op_name(op->kind);
    const size_t bytes = backward ? clt_ref_attention_bwd_work(&op->u.attention_bwd)
                                  : clt_ref_attention_fwd_work(&op->u.attention_fwd);
    bool reserved = false;
    double *work = NULL;

    clt_status s = clt_dev_reserve(dev, bytes,
                                   backward ? "attention_bwd: host workspace (keys, values "
                                              "and their gradients of one head, in double)"
                                            : "attention_fwd: host workspace (keys and "
                                              "values of one head, in double)");
    if (s != CLT_OK)
        goto done;
    reserved = true;
    work = malloc(bytes);
    if (!work) {
        s = clt_fail(CLT_ERR_OUT_OF_MEMORY,
                     "%s: host workspace: the system refused %zu bytes", name, bytes);
        goto done;
    }

    if (backward) {
        const clt_attention_bwd_args *a = &op->u.attention_bwd;
        clt_ref_attention_bwd(a, clt_host_tensor_data(&a->q), clt_host_tensor_data(&a->k),
                              clt_host_tensor_data(&a->v), clt_host_tensor_data(&a->o),
                              clt_host_tensor_data(&a->dout), clt_host_tensor_data(&a->lse),
                              clt_host_tensor_data(&a->delta), clt_host_tensor_data(&a->dq),
                              clt_host_tensor_data(&a->dk), clt_host_tensor_data(&a->dv),
                              work);
    } else {
        const clt_attention_fwd_args *a = &op->u.attention_fwd;
        clt_ref_attention_fwd(a, clt_host_tensor_data(&a->q), clt_host_tensor_data(&a->k),
                              clt_host_tensor_data(&a->v), clt_host_tensor_data(&a->o),
                              clt_host_tensor_data(&a->lse), work);
    }

done:
    free(work);
    if (reserved)
        clt_dev_release(dev, bytes);
    return s;
}
