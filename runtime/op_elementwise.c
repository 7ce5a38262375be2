/* Shape rules of the elementwise ops and the reductions beside them (include/clt/op.h):
 * GELU, add, scale, bias add and its gradient, and the squared norm. */
#include "runtime/error.h"
#include "runtime/ops.h"

/* Both contiguous, same shape. */
static clt_status check_alike(const char *op, const char *name, const clt_tensor *t,
                              const char *ref_name, const clt_tensor *ref)
{
    clt_status s = clt_check_contiguous(op, name, t);
    return s == CLT_OK ? clt_check_same_shape(op, name, t, ref_name, ref) : s;
}

clt_status clt_check_gelu_fwd(const clt_op *op)
{
    const clt_gelu_args *a = &op->u.gelu_fwd;
    clt_status s = clt_check_contiguous("gelu_fwd", "x", &a->x);
    return s == CLT_OK ? check_alike("gelu_fwd", "y", &a->y, "x", &a->x) : s;
}

clt_status clt_check_gelu_bwd(const clt_op *op)
{
    const clt_gelu_bwd_args *a = &op->u.gelu_bwd;
    clt_status s = clt_check_contiguous("gelu_bwd", "x", &a->x);
    if (s == CLT_OK)
        s = check_alike("gelu_bwd", "dy", &a->dy, "x", &a->x);
    return s == CLT_OK ? check_alike("gelu_bwd", "dx", &a->dx, "x", &a->x) : s;
}

clt_status clt_check_add(const clt_op *op)
{
    const clt_add_args *a = &op->u.add;
    clt_status s = clt_check_contiguous("add", "a", &a->a);
    if (s == CLT_OK)
        s = check_alike("add", "b", &a->b, "a", &a->a);
    if (s == CLT_OK)
        s = check_alike("add", "out", &a->out, "a", &a->a);
    if (s == CLT_OK)
        s = clt_check_finite("add", "alpha", a->alpha);
    return s == CLT_OK ? clt_check_finite("add", "beta", a->beta) : s;
}

clt_status clt_check_scale(const clt_op *op)
{
    const clt_scale_args *a = &op->u.scale;
    clt_status s = clt_check_contiguous("scale", "x", &a->x);
    return s == CLT_OK ? clt_check_finite("scale", "alpha", a->alpha) : s;
}

/* rows (n, N) and a contiguous (N,) vector. */
static clt_status check_rows_and_bias(const char *op, const char *rows_name,
                                      const clt_tensor *rows, const char *bias_name,
                                      const clt_tensor *bias)
{
    clt_status s = clt_check_rows(op, rows_name, rows);
    if (s == CLT_OK)
        s = clt_check_dim(op, bias_name, bias, 0, rows->shape[1], "the columns of the rows");
    return s == CLT_OK ? clt_check_contiguous(op, bias_name, bias) : s;
}

clt_status clt_check_bias_add(const clt_op *op)
{
    const clt_bias_add_args *a = &op->u.bias_add;
    return check_rows_and_bias("bias_add", "y", &a->y, "bias", &a->bias);
}

clt_status clt_check_bias_grad(const clt_op *op)
{
    const clt_bias_grad_args *a = &op->u.bias_grad;
    return check_rows_and_bias("bias_grad", "dy", &a->dy, "dbias", &a->dbias);
}

clt_status clt_check_sqnorm(const clt_op *op)
{
    const clt_sqnorm_args *a = &op->u.sqnorm;
    clt_status s = clt_check_contiguous("sqnorm", "x", &a->x);
    return s == CLT_OK ? clt_check_dim("sqnorm", "norm", &a->norm, 0, 1, "one sum") : s;
}
