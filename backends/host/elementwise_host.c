/* The elementwise ops and their reductions on the host driver: each op's tensors
 * resolved to host memory, then the reference (backends/host/elementwise_ref.c). They
 * need no scratch. */
#include "backends/host/host_driver.h"
#include "backends/host/ref.h"
#include "runtime/error.h"

clt_status clt_host_elementwise(struct clt_dev *dev, const clt_op *op)
{
    (void)dev;
    switch (op->kind) {
    case CLT_OP_GELU_FWD: {
        const clt_gelu_args *a = &op->u.gelu_fwd;
        clt_ref_gelu_fwd(a, clt_host_tensor_data(&a->x), clt_host_tensor_data(&a->y));
        return CLT_OK;
    }
    case CLT_OP_GELU_BWD: {
        const clt_gelu_bwd_args *a = &op->u.gelu_bwd;
        clt_ref_gelu_bwd(a, clt_host_tensor_data(&a->x), clt_host_tensor_data(&a->dy),
                         clt_host_tensor_data(&a->dx));
        return CLT_OK;
    }
    case CLT_OP_ADD: {
        const clt_add_args *a = &op->u.add;
        clt_ref_add(a, clt_host_tensor_data(&a->a), clt_host_tensor_data(&a->b),
                    clt_host_tensor_data(&a->out));
        return CLT_OK;
    }
    case CLT_OP_SCALE:
        clt_ref_scale(&op->u.scale, clt_host_tensor_data(&op->u.scale.x));
        return CLT_OK;
    case CLT_OP_BIAS_ADD: {
        const clt_bias_add_args *a = &op->u.bias_add;
        clt_ref_bias_add(a, clt_host_tensor_data(&a->y), clt_host_tensor_data(&a->bias));
        return CLT_OK;
    }
    case CLT_OP_BIAS_GRAD: {
        const clt_bias_grad_args *a = &op->u.bias_grad;
        clt_ref_bias_grad(a, clt_host_tensor_data(&a->dy), clt_host_tensor_data(&a->dbias));
        return CLT_OK;
    }
    case CLT_OP_SQNORM: {
        const clt_sqnorm_args *a = &op->u.sqnorm;
        clt_ref_sqnorm(a, clt_host_tensor_data(&a->x), clt_host_tensor_data(&a->norm));
        return CLT_OK;
    }
    default:
        break;
    }
    return clt_fail(CLT_ERR_UNSUPPORTED, "host: op %s is not an elementwise op",
                    clt_op_name(op->kind));
}
