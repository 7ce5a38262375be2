/* The row-wise ops on the host driver: softmax and its gradient, layernorm forward and
 * backward, cross-entropy forward and backward. The ops are validated; this resolves each
 * tensor's memory and runs the reference, which needs no scratch. */
#include "backends/host/host_driver.h"
#include "backends/host/ref.h"
#include "runtime/error.h"

#define DATA(t) clt_host_tensor_data(&(t))

clt_status clt_host_rows(struct clt_dev *dev, const clt_op *op)
{
    (void)dev;
    switch (op->kind) {
    case CLT_OP_SOFTMAX: {
        const clt_softmax_args *a = &op->u.softmax;
        clt_ref_softmax(a, DATA(a->x), DATA(a->y));
        return CLT_OK;
    }
    case CLT_OP_SOFTMAX_BWD: {
        const clt_softmax_bwd_args *a = &op->u.softmax_bwd;
        clt_ref_softmax_bwd(a, DATA(a->y), DATA(a->dy), DATA(a->dx));
        return CLT_OK;
    }
    case CLT_OP_LAYERNORM_FWD: {
        const clt_layernorm_fwd_args *a = &op->u.layernorm_fwd;
        clt_ref_layernorm_fwd(a, DATA(a->x), DATA(a->weight), DATA(a->bias), DATA(a->out),
                              DATA(a->mean), DATA(a->rstd));
        return CLT_OK;
    }
    case CLT_OP_LAYERNORM_BWD: {
        const clt_layernorm_bwd_args *a = &op->u.layernorm_bwd;
        clt_ref_layernorm_bwd(a, DATA(a->dout), DATA(a->x), DATA(a->weight), DATA(a->mean),
                              DATA(a->rstd), DATA(a->dx), DATA(a->dweight), DATA(a->dbias));
        return CLT_OK;
    }
    case CLT_OP_CROSS_ENTROPY_FWD: {
        const clt_cross_entropy_fwd_args *a = &op->u.cross_entropy_fwd;
        clt_ref_cross_entropy_fwd(a, DATA(a->logits), DATA(a->targets), DATA(a->loss),
                                  DATA(a->lse));
        return CLT_OK;
    }
    case CLT_OP_CROSS_ENTROPY_BWD: {
        const clt_cross_entropy_bwd_args *a = &op->u.cross_entropy_bwd;
        clt_ref_cross_entropy_bwd(a, DATA(a->logits), DATA(a->targets), DATA(a->lse),
                                  DATA(a->dlogits));
        return CLT_OK;
    }
    default:
        break;
    }
    return clt_fail(CLT_ERR_INTERNAL, "host: op %s is not a row-wise op", clt_op_name(op->kind));
}
