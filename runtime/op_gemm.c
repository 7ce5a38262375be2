/* GEMM's shape rules (clt_gemm_args in include/clt/op.h): everything the generic
 * per-tensor checks cannot see. */
#include <math.h>

#include "runtime/error.h"
#include "runtime/ops.h"

#define DIM_MAX INT32_MAX /* drivers may index within a matrix with 32-bit ints */

static int64_t rows(const clt_tensor *t) { return t->shape[t->rank - 2]; }
static int64_t cols(const clt_tensor *t) { return t->shape[t->rank - 1]; }

static clt_status check_operand(const char *name, const clt_tensor *t, const clt_tensor *c)
{
    if (t->strides[t->rank - 1] != 1)
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "gemm: argument %s: the last dimension must be contiguous (stride 1), "
                        "got stride %lld",
                        name, (long long)t->strides[t->rank - 1]);
    if (t->rank > c->rank)
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "gemm: argument %s: rank %d is batched but c has rank %d (not batched)",
                        name, t->rank, c->rank);
    if (t->rank == 3 && t->shape[0] != c->shape[0])
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "gemm: argument %s: batch of %lld, but c has a batch of %lld", name,
                        (long long)t->shape[0], (long long)c->shape[0]);
    for (int i = 0; i < t->rank; i++)
        if (t->shape[i] > DIM_MAX)
            return clt_fail(CLT_ERR_INVALID_ARG,
                            "gemm: argument %s: shape[%d] = %lld exceeds 2^31 - 1", name, i,
                            (long long)t->shape[i]);
    return CLT_OK;
}

clt_status clt_check_gemm(const clt_op *op)
{
    const clt_gemm_args *g = &op->u.gemm;
    clt_status s;
    if ((s = check_operand("c", &g->c, &g->c)) != CLT_OK ||
        (s = check_operand("a", &g->a, &g->c)) != CLT_OK ||
        (s = check_operand("b", &g->b, &g->c)) != CLT_OK)
        return s;

    /* Storage: a and b alike; c in f32 or in a's dtype; bias in c's. */
    if (g->b.dtype != g->a.dtype)
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "gemm: arguments a and b: dtypes %s and %s differ (a and b share one "
                        "dtype)",
                        clt_dtype_name(g->a.dtype), clt_dtype_name(g->b.dtype));
    if (g->c.dtype != CLT_DTYPE_F32 && g->c.dtype != g->a.dtype)
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "gemm: argument c: dtype %s; with %s inputs c is f32 or %s",
                        clt_dtype_name(g->c.dtype), clt_dtype_name(g->a.dtype),
                        clt_dtype_name(g->a.dtype));
    if (g->bias.buf && g->bias.dtype != g->c.dtype)
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "gemm: argument bias: dtype %s differs from c's %s",
                        clt_dtype_name(g->bias.dtype), clt_dtype_name(g->c.dtype));

    const int64_t m = rows(&g->c), n = cols(&g->c);
    const int64_t a_m = g->trans_a ? cols(&g->a) : rows(&g->a);
    const int64_t a_k = g->trans_a ? rows(&g->a) : cols(&g->a);
    const int64_t b_k = g->trans_b ? cols(&g->b) : rows(&g->b);
    const int64_t b_n = g->trans_b ? rows(&g->b) : cols(&g->b);
    if (a_m != m)
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "gemm: argument a: gives M = %lld (trans_a = %d) but c has M = %lld",
                        (long long)a_m, g->trans_a, (long long)m);
    if (b_n != n)
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "gemm: argument b: gives N = %lld (trans_b = %d) but c has N = %lld",
                        (long long)b_n, g->trans_b, (long long)n);
    if (a_k != b_k)
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "gemm: arguments a and b disagree on K: a gives %lld (trans_a = %d), b "
                        "gives %lld (trans_b = %d)",
                        (long long)a_k, g->trans_a, (long long)b_k, g->trans_b);
    if (g->bias.buf && g->bias.shape[0] != n)
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "gemm: argument bias: length %lld, but c has N = %lld columns",
                        (long long)g->bias.shape[0], (long long)n);
    if (g->bias.buf && g->bias.strides[0] != 1)
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "gemm: argument bias: must be contiguous (stride 1), got stride %lld",
                        (long long)g->bias.strides[0]);
    if (!isfinite(g->alpha) || !isfinite(g->beta))
        return clt_fail(CLT_ERR_INVALID_ARG, "gemm: %s is not finite",
                        isfinite(g->alpha) ? "beta" : "alpha");
    return CLT_OK;
}
