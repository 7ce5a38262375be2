/* The op table: every op described once — name, tensor arguments with their roles and
 * dtypes, and its shape rules — and the validation that follows from it. */
#ifndef CLT_RUNTIME_OPS_H
#define CLT_RUNTIME_OPS_H

#include "clt/clt.h"

#define CLT_OP_MAX_TENSORS 12

enum clt_arg_role { CLT_ARG_IN, CLT_ARG_OUT, CLT_ARG_INOUT };

struct clt_tensor_arg {
    const char *name;
    size_t offset;           /* offsetof(clt_op, u.<op>.<name>) */
    enum clt_arg_role role;
    bool optional;           /* buf may be NULL */
    uint32_t dtypes;         /* bit (1u << dtype) for each accepted dtype */
    int min_rank, max_rank;
};

struct clt_op_desc {
    const char *name;
    int n_tensors;
    struct clt_tensor_arg tensors[CLT_OP_MAX_TENSORS];
    /* Rules between arguments (shapes agree, ...), run after each tensor on its own is
     * known to be well formed and in bounds. */
    clt_status (*check)(const clt_op *op);
};

/* NULL for an unknown kind. */
const struct clt_op_desc *clt_op_desc_of(clt_op_kind kind);

static inline const clt_tensor *clt_op_tensor(const clt_op *op, const struct clt_tensor_arg *a)
{
    return (const clt_tensor *)((const char *)op + a->offset);
}

/* Everything about the op that can be checked without running it. */
clt_status clt_op_validate(const clt_context *ctx, const clt_op *op);

/* Bytes from the tensor's first element to one past its last, in *bytes; fails on
 * overflow. The tensor must have a valid rank, shape and dtype. */
bool clt_tensor_extent(const clt_tensor *t, size_t *bytes);

/* Per-op shape rules, referenced by the table. */
clt_status clt_check_gemm(const clt_op *op);

#endif
