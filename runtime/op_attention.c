/* Attention's shape rules (clt_attention_*_args in include/clt/op.h): q, k, v and the
 * tensors shaped like them agree on (B, H, T, d), d is a head size the kernels are built
 * for, and the per-row statistics are (B, H, T). */
#include "runtime/error.h"
#include "runtime/ops.h"

static const int head_dims[] = {32, 64, 80, 96, 128};

static clt_status check_head_dim(const char *op, const clt_tensor *q)
{
    for (size_t i = 0; i < sizeof head_dims / sizeof head_dims[0]; i++)
        if (q->shape[3] == head_dims[i])
            return CLT_OK;
    return clt_fail(CLT_ERR_INVALID_ARG,
                    "%s: argument q: head size d = shape[3] = %lld is not supported (d is one "
                    "of 32, 64, 80, 96, 128)",
                    op, (long long)q->shape[3]);
}

/* q's shape is the reference; every other (B, H, T, d) tensor must match it and have
 * contiguous rows. */
static clt_status check_like_q(const char *op, const char *name, const clt_tensor *t,
                               const clt_tensor *q)
{
    clt_status s = clt_check_same_shape(op, name, t, "q", q);
    return s != CLT_OK ? s : clt_check_rows(op, name, t);
}

static clt_status check_row_stats(const char *op, const char *name, const clt_tensor *t,
                                  const clt_tensor *q)
{
    static const char *const dims[] = {"batch B", "heads H", "length T"};
    for (int i = 0; i < 3; i++) {
        clt_status s = clt_check_dim(op, name, t, i, q->shape[i], dims[i]);
        if (s != CLT_OK)
            return s;
    }
    return clt_check_contiguous(op, name, t);
}

static clt_status check_common(const char *op, const clt_tensor *q, float scale)
{
    clt_status s = check_head_dim(op, q);
    if (s == CLT_OK)
        s = clt_check_rows(op, "q", q);
    return s == CLT_OK ? clt_check_finite(op, "scale", scale) : s;
}

clt_status clt_check_attention_fwd(const clt_op *op)
{
    const clt_attention_fwd_args *a = &op->u.attention_fwd;
    const char *name = "attention_fwd";
    clt_status s = check_common(name, &a->q, a->scale);
    if (s == CLT_OK)
        s = check_like_q(name, "k", &a->k, &a->q);
    if (s == CLT_OK)
        s = check_like_q(name, "v", &a->v, &a->q);
    if (s == CLT_OK)
        s = check_like_q(name, "o", &a->o, &a->q);
    if (s == CLT_OK)
        s = check_row_stats(name, "lse", &a->lse, &a->q);
    return s;
}

clt_status clt_check_attention_bwd(const clt_op *op)
{
    const clt_attention_bwd_args *a = &op->u.attention_bwd;
    const char *name = "attention_bwd";
    const struct {
        const char *name;
        const clt_tensor *t;
    } like_q[] = {{"k", &a->k},    {"v", &a->v},   {"o", &a->o},  {"dout", &a->dout},
                  {"dq", &a->dq},  {"dk", &a->dk}, {"dv", &a->dv}};
    clt_status s = check_common(name, &a->q, a->scale);
    for (size_t i = 0; i < sizeof like_q / sizeof like_q[0] && s == CLT_OK; i++)
        s = check_like_q(name, like_q[i].name, like_q[i].t, &a->q);
    if (s == CLT_OK)
        s = check_row_stats(name, "lse", &a->lse, &a->q);
    if (s == CLT_OK)
        s = check_row_stats(name, "delta", &a->delta, &a->q);
    return s;
}
