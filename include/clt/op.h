/* clt — ops. An op is described by a clt_op: its kind and the arguments of that kind.
 * clt_op_run validates it completely (shapes, dtypes, strides, aliasing, bounds)
 * before any device sees it; invalid input returns CLT_ERR_INVALID_ARG with a sentence
 * naming the op and the argument, and nothing is written. */
#ifndef CLT_OP_H
#define CLT_OP_H

#include "clt/status.h"
#include "clt/tensor.h"
#include "clt/types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum clt_op_kind {
    CLT_OP_GEMM = 0,
} clt_op_kind;

#define CLT_OP_COUNT 1

/* C = alpha · op(A) · op(B) + beta · C + bias, row-major, in f32 arithmetic.
 *
 * a: (M,K), or (K,M) when trans_a; b: (K,N), or (N,K) when trans_b; c: (M,N).
 * Batched: c may have rank 3, (batch,M,N); a and b then have rank 3 with the same
 * batch, or rank 2 to use one matrix for every batch. Strides are free in every
 * dimension but the last, which must be 1 (rows are contiguous); a batch stride of 0
 * in a or b repeats one matrix. When beta is 0, C is not read (NaN in it does not
 * propagate). bias: optional (bias.buf NULL), shape (N,), added to every row.
 *
 * Storage: a and b are both f32, f16 or bf16; c is f32 or the dtype of a; bias has c's
 * dtype. Products are accumulated in f32 and rounded to c's dtype once, at the end. */
typedef struct clt_gemm_args {
    clt_tensor a, b, c;
    clt_tensor bias;
    bool trans_a, trans_b;
    float alpha, beta;
} clt_gemm_args;

typedef struct clt_op {
    clt_op_kind kind;
    union {
        clt_gemm_args gemm;
        unsigned char reserved_[2048]; /* room for later ops without an ABI break */
    } u;
} clt_op;

/* "gemm"; "?" for an unknown kind. */
CLT_API const char *clt_op_name(clt_op_kind kind);

/* Looks an op up by name. CLT_ERR_INVALID_ARG if there is no such op. */
CLT_API clt_status clt_op_from_name(const char *name, clt_op_kind *out);

/* Validates and runs the op on the context's device. If the device's driver cannot run
 * this op with these dtypes, the host driver runs it (logged at info level, counted in
 * clt_stats.ops_fallback). With `done` NULL it blocks until the op has finished;
 * otherwise see buffer.h for events. */
CLT_API clt_status clt_op_run(clt_context *ctx, const clt_op *op, clt_event **done);

/* Whether the context's device runs ops of this kind with this storage dtype itself
 * (true) or would fall back to the host (false). */
CLT_API clt_status clt_op_supported(clt_context *ctx, clt_op_kind kind, clt_dtype dtype,
                                    bool *out);

/* Shorthand for clt_op_run with a GEMM. */
CLT_API clt_status clt_gemm(clt_context *ctx, const clt_gemm_args *args, clt_event **done);

#ifdef __cplusplus
}
#endif
#endif
