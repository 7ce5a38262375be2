/* Shape rules of the ops that work row by row (include/clt/op.h): softmax and its
 * gradient, layernorm forward and backward, and cross-entropy. A row tensor is (n, C)
 * with contiguous rows; per-row statistics are (n,) and per-column parameters (C,),
 * both contiguous. */
#include "runtime/error.h"
#include "runtime/ops.h"

struct named {
    const char *name;
    const clt_tensor *t; /* t->buf NULL: an optional argument left out */
};

/* Every tensor in `rows` has contiguous rows and the shape of the first. */
static clt_status check_rows_alike(const char *op, const struct named *rows, int n)
{
    clt_status s = CLT_OK;
    for (int i = 0; i < n && s == CLT_OK; i++) {
        if (!rows[i].t->buf)
            continue;
        s = clt_check_rows(op, rows[i].name, rows[i].t);
        if (s == CLT_OK && i > 0)
            s = clt_check_same_shape(op, rows[i].name, rows[i].t, rows[0].name, rows[0].t);
    }
    return s;
}

/* Every present tensor in `vecs` is contiguous with `len` elements; `why` names it. */
static clt_status check_vectors(const char *op, const struct named *vecs, int n, int64_t len,
                                const char *why)
{
    clt_status s = CLT_OK;
    for (int i = 0; i < n && s == CLT_OK; i++) {
        if (!vecs[i].t->buf)
            continue;
        s = clt_check_dim(op, vecs[i].name, vecs[i].t, 0, len, why);
        if (s == CLT_OK)
            s = clt_check_contiguous(op, vecs[i].name, vecs[i].t);
    }
    return s;
}

clt_status clt_check_softmax(const clt_op *op)
{
    const clt_softmax_args *a = &op->u.softmax;
    if (a->algo != CLT_SOFTMAX_TWO_PASS && a->algo != CLT_SOFTMAX_THREE_PASS)
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "softmax: algo %d is not an algorithm (CLT_SOFTMAX_TWO_PASS or "
                        "CLT_SOFTMAX_THREE_PASS)",
                        (int)a->algo);
    const struct named rows[] = {{"x", &a->x}, {"y", &a->y}};
    return check_rows_alike("softmax", rows, 2);
}

clt_status clt_check_softmax_bwd(const clt_op *op)
{
    const clt_softmax_bwd_args *a = &op->u.softmax_bwd;
    const struct named rows[] = {{"y", &a->y}, {"dy", &a->dy}, {"dx", &a->dx}};
    return check_rows_alike("softmax_bwd", rows, 3);
}

clt_status clt_check_layernorm_fwd(const clt_op *op)
{
    const clt_layernorm_fwd_args *a = &op->u.layernorm_fwd;
    const char *name = "layernorm_fwd";
    const struct named rows[] = {{"x", &a->x}, {"out", &a->out}};
    const struct named params[] = {{"weight", &a->weight}, {"bias", &a->bias}};
    const struct named stats[] = {{"mean", &a->mean}, {"rstd", &a->rstd}};
    clt_status s = check_rows_alike(name, rows, 2);
    if (s == CLT_OK)
        s = check_vectors(name, params, 2, a->x.shape[1], "the columns C of x");
    if (s == CLT_OK)
        s = check_vectors(name, stats, 2, a->x.shape[0], "the rows of x");
    if (s == CLT_OK)
        s = clt_check_finite(name, "eps", a->eps);
    if (s == CLT_OK && a->eps < 0)
        s = clt_fail(CLT_ERR_INVALID_ARG, "%s: eps is %g; it must be >= 0", name, (double)a->eps);
    return s;
}

clt_status clt_check_layernorm_bwd(const clt_op *op)
{
    const clt_layernorm_bwd_args *a = &op->u.layernorm_bwd;
    const char *name = "layernorm_bwd";
    const struct named rows[] = {{"dout", &a->dout}, {"x", &a->x}, {"dx", &a->dx}};
    const struct named params[] = {
        {"weight", &a->weight}, {"dweight", &a->dweight}, {"dbias", &a->dbias}};
    const struct named stats[] = {{"mean", &a->mean}, {"rstd", &a->rstd}};
    clt_status s = check_rows_alike(name, rows, 3);
    if (s == CLT_OK)
        s = check_vectors(name, params, 3, a->x.shape[1], "the columns C of x");
    if (s == CLT_OK)
        s = check_vectors(name, stats, 2, a->x.shape[0], "the rows of x");
    return s;
}

/* logits (n, V) with contiguous rows; targets and lse (n,), contiguous. */
static clt_status check_cross_entropy(const char *op, const clt_tensor *logits,
                                      const clt_tensor *targets, const clt_tensor *lse)
{
    const struct named rows[] = {{"logits", logits}};
    const struct named per_row[] = {{"targets", targets}, {"lse", lse}};
    clt_status s = check_rows_alike(op, rows, 1);
    return s == CLT_OK ? check_vectors(op, per_row, 2, logits->shape[0], "the rows of logits")
                       : s;
}

clt_status clt_check_cross_entropy_fwd(const clt_op *op)
{
    const clt_cross_entropy_fwd_args *a = &op->u.cross_entropy_fwd;
    const char *name = "cross_entropy_fwd";
    clt_status s = check_cross_entropy(name, &a->logits, &a->targets, &a->lse);
    return s == CLT_OK ? clt_check_dim(name, "loss", &a->loss, 0, 1, "one mean loss") : s;
}

clt_status clt_check_cross_entropy_bwd(const clt_op *op)
{
    const clt_cross_entropy_bwd_args *a = &op->u.cross_entropy_bwd;
    const char *name = "cross_entropy_bwd";
    const struct named rows[] = {{"logits", &a->logits}, {"dlogits", &a->dlogits}};
    clt_status s = check_cross_entropy(name, &a->logits, &a->targets, &a->lse);
    if (s == CLT_OK)
        s = check_rows_alike(name, rows, 2);
    return s == CLT_OK ? clt_check_finite(name, "dloss", a->dloss) : s;
}
