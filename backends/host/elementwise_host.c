/* SCAFFOLD — replaced by the elementwise family's implementation. */
#include "backends/host/host_driver.h"
#include "runtime/error.h"

clt_status clt_host_elementwise(struct clt_dev *dev, const clt_op *op)
{
    (void)dev;
    return clt_fail(CLT_ERR_UNSUPPORTED, "host: op %s is not implemented yet", clt_op_name(op->kind));
}
