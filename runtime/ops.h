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
    uint32_t may_be;         /* bit i: this output may be exactly tensor i (in place) */
};

/* The groups of ops a driver implements together (one launch file per family): drivers
 * dispatch on the family, so a new op joins its family in the table alone. */
enum clt_op_family {
    CLT_FAMILY_GEMM,
    CLT_FAMILY_ATTENTION,   /* attention_fwd/bwd */
    CLT_FAMILY_ROWS,        /* softmax*, layernorm_*, cross_entropy_* */
    CLT_FAMILY_ELEMENTWISE, /* gelu_*, add, scale, bias_*, sqnorm */
    CLT_FAMILY_EMBEDDING,   /* embedding_fwd/bwd */
    CLT_FAMILY_OPTIM,       /* adamw, sgd, lamb, quantize8, dequantize8 */
};

struct clt_op_desc {
    const char *name;
    enum clt_op_family family;
    int n_tensors;
    struct clt_tensor_arg tensors[CLT_OP_MAX_TENSORS];
    /* Every tensor that accepts exactly f32, f16 and bf16 must have one dtype. */
    bool one_float_dtype;
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

/* Helpers for the per-op rules; each fails with "<op>: argument <name>: ...".
 * Rows: last stride 1, every dimension below 2^31 (kernels index them with ints). */
clt_status clt_check_rows(const char *op, const char *name, const clt_tensor *t);
clt_status clt_check_contiguous(const char *op, const char *name, const clt_tensor *t);
clt_status clt_check_same_shape(const char *op, const char *name, const clt_tensor *t,
                                const char *ref_name, const clt_tensor *ref);
/* t->shape[dim] == expected; `why` says where the expectation comes from. */
clt_status clt_check_dim(const char *op, const char *name, const clt_tensor *t, int dim,
                         int64_t expected, const char *why);
clt_status clt_check_finite(const char *op, const char *name, float value);

/* Per-op shape rules, referenced by the table. */
clt_status clt_check_gemm(const clt_op *op);
clt_status clt_check_attention_fwd(const clt_op *op);
clt_status clt_check_attention_bwd(const clt_op *op);
clt_status clt_check_softmax(const clt_op *op);
clt_status clt_check_softmax_bwd(const clt_op *op);
clt_status clt_check_layernorm_fwd(const clt_op *op);
clt_status clt_check_layernorm_bwd(const clt_op *op);
clt_status clt_check_gelu_fwd(const clt_op *op);
clt_status clt_check_gelu_bwd(const clt_op *op);
clt_status clt_check_embedding_fwd(const clt_op *op);
clt_status clt_check_embedding_bwd(const clt_op *op);
clt_status clt_check_cross_entropy_fwd(const clt_op *op);
clt_status clt_check_cross_entropy_bwd(const clt_op *op);
clt_status clt_check_add(const clt_op *op);
clt_status clt_check_scale(const clt_op *op);
clt_status clt_check_bias_add(const clt_op *op);
clt_status clt_check_bias_grad(const clt_op *op);
clt_status clt_check_sqnorm(const clt_op *op);
clt_status clt_check_adamw(const clt_op *op);
clt_status clt_check_sgd(const clt_op *op);
clt_status clt_check_lamb(const clt_op *op);
clt_status clt_check_quantize8(const clt_op *op);
clt_status clt_check_dequantize8(const clt_op *op);

/* The q8 block size an op's `block` field means (0: the default). */
int64_t clt_q8_block_of(int32_t block);

#endif
