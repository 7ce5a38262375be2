/* The op table, and the validation every op goes through before a driver sees it:
 * each tensor well formed and inside its buffer, outputs aliasing nothing, then the
 * op's own shape rules. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "runtime/buffer.h"
#include "runtime/context.h"
#include "runtime/error.h"
#include "runtime/ops.h"

#define F32 (1u << CLT_DTYPE_F32)
#define I32 (1u << CLT_DTYPE_I32)
#define HALVES ((1u << CLT_DTYPE_F16) | (1u << CLT_DTYPE_BF16))
#define FLT (F32 | HALVES)
#define U8 (1u << CLT_DTYPE_U8)
#define IN CLT_ARG_IN
#define OUT CLT_ARG_OUT
#define INOUT CLT_ARG_INOUT
#define AS(i) (1u << (i)) /* may be tensor i of the same op */
#define TENSOR(op, field, role, optional, dtypes, lo, hi) \
    {#field, offsetof(clt_op, u.op.field), role, optional, dtypes, lo, hi, 0}
#define TENSOR_MAY_BE(op, field, role, optional, dtypes, lo, hi, may_be) \
    {#field, offsetof(clt_op, u.op.field), role, optional, dtypes, lo, hi, may_be}

static const struct clt_op_desc op_table[CLT_OP_COUNT] = {
    [CLT_OP_GEMM] = {"gemm", CLT_FAMILY_GEMM, 4, {
        TENSOR(gemm, a, IN, false, FLT, 2, 3),
        TENSOR(gemm, b, IN, false, FLT, 2, 3),
        TENSOR(gemm, c, INOUT, false, FLT, 2, 3),
        TENSOR(gemm, bias, IN, true, FLT, 1, 1),
    }, false, clt_check_gemm},
    [CLT_OP_ATTENTION_FWD] = {"attention_fwd", CLT_FAMILY_ATTENTION, 5, {
        TENSOR(attention_fwd, q, IN, false, FLT, 4, 4),
        TENSOR(attention_fwd, k, IN, false, FLT, 4, 4),
        TENSOR(attention_fwd, v, IN, false, FLT, 4, 4),
        TENSOR(attention_fwd, o, OUT, false, FLT, 4, 4),
        TENSOR(attention_fwd, lse, OUT, false, F32, 3, 3),
    }, true, clt_check_attention_fwd},
    [CLT_OP_ATTENTION_BWD] = {"attention_bwd", CLT_FAMILY_ATTENTION, 10, {
        TENSOR(attention_bwd, q, IN, false, FLT, 4, 4),
        TENSOR(attention_bwd, k, IN, false, FLT, 4, 4),
        TENSOR(attention_bwd, v, IN, false, FLT, 4, 4),
        TENSOR(attention_bwd, o, IN, false, FLT, 4, 4),
        TENSOR(attention_bwd, dout, IN, false, FLT, 4, 4),
        TENSOR(attention_bwd, lse, IN, false, F32, 3, 3),
        TENSOR(attention_bwd, delta, OUT, false, F32, 3, 3),
        TENSOR(attention_bwd, dq, OUT, false, FLT, 4, 4),
        TENSOR(attention_bwd, dk, OUT, false, FLT, 4, 4),
        TENSOR(attention_bwd, dv, OUT, false, FLT, 4, 4),
    }, true, clt_check_attention_bwd},
    [CLT_OP_SOFTMAX] = {"softmax", CLT_FAMILY_ROWS, 2, {
        TENSOR(softmax, x, IN, false, FLT, 2, 2),
        TENSOR_MAY_BE(softmax, y, OUT, false, FLT, 2, 2, AS(0)),
    }, true, clt_check_softmax},
    [CLT_OP_SOFTMAX_BWD] = {"softmax_bwd", CLT_FAMILY_ROWS, 3, {
        TENSOR(softmax_bwd, y, IN, false, FLT, 2, 2),
        TENSOR(softmax_bwd, dy, IN, false, FLT, 2, 2),
        TENSOR_MAY_BE(softmax_bwd, dx, OUT, false, FLT, 2, 2, AS(1)),
    }, true, clt_check_softmax_bwd},
    [CLT_OP_LAYERNORM_FWD] = {"layernorm_fwd", CLT_FAMILY_ROWS, 6, {
        TENSOR(layernorm_fwd, x, IN, false, FLT, 2, 2),
        TENSOR(layernorm_fwd, weight, IN, false, FLT, 1, 1),
        TENSOR(layernorm_fwd, bias, IN, true, FLT, 1, 1),
        TENSOR(layernorm_fwd, out, OUT, false, FLT, 2, 2),
        TENSOR(layernorm_fwd, mean, OUT, true, F32, 1, 1),
        TENSOR(layernorm_fwd, rstd, OUT, true, F32, 1, 1),
    }, true, clt_check_layernorm_fwd},
    [CLT_OP_LAYERNORM_BWD] = {"layernorm_bwd", CLT_FAMILY_ROWS, 8, {
        TENSOR(layernorm_bwd, dout, IN, false, FLT, 2, 2),
        TENSOR(layernorm_bwd, x, IN, false, FLT, 2, 2),
        TENSOR(layernorm_bwd, weight, IN, false, FLT, 1, 1),
        TENSOR(layernorm_bwd, mean, IN, false, F32, 1, 1),
        TENSOR(layernorm_bwd, rstd, IN, false, F32, 1, 1),
        TENSOR(layernorm_bwd, dx, INOUT, false, FLT, 2, 2),
        TENSOR(layernorm_bwd, dweight, INOUT, false, FLT, 1, 1),
        TENSOR(layernorm_bwd, dbias, INOUT, true, FLT, 1, 1),
    }, true, clt_check_layernorm_bwd},
    [CLT_OP_GELU_FWD] = {"gelu_fwd", CLT_FAMILY_ELEMENTWISE, 2, {
        TENSOR(gelu_fwd, x, IN, false, FLT, 1, 4),
        TENSOR_MAY_BE(gelu_fwd, y, OUT, false, FLT, 1, 4, AS(0)),
    }, true, clt_check_gelu_fwd},
    [CLT_OP_GELU_BWD] = {"gelu_bwd", CLT_FAMILY_ELEMENTWISE, 3, {
        TENSOR(gelu_bwd, x, IN, false, FLT, 1, 4),
        TENSOR(gelu_bwd, dy, IN, false, FLT, 1, 4),
        TENSOR_MAY_BE(gelu_bwd, dx, OUT, false, FLT, 1, 4, AS(1)),
    }, true, clt_check_gelu_bwd},
    [CLT_OP_EMBEDDING_FWD] = {"embedding_fwd", CLT_FAMILY_EMBEDDING, 4, {
        TENSOR(embedding_fwd, tokens, IN, false, I32, 2, 2),
        TENSOR(embedding_fwd, wte, IN, false, FLT, 2, 2),
        TENSOR(embedding_fwd, wpe, IN, true, FLT, 2, 2),
        TENSOR(embedding_fwd, out, OUT, false, FLT, 3, 3),
    }, true, clt_check_embedding_fwd},
    [CLT_OP_EMBEDDING_BWD] = {"embedding_bwd", CLT_FAMILY_EMBEDDING, 4, {
        TENSOR(embedding_bwd, dout, IN, false, FLT, 3, 3),
        TENSOR(embedding_bwd, tokens, IN, false, I32, 2, 2),
        TENSOR(embedding_bwd, dwte, INOUT, false, FLT, 2, 2),
        TENSOR(embedding_bwd, dwpe, INOUT, true, FLT, 2, 2),
    }, true, clt_check_embedding_bwd},
    [CLT_OP_CROSS_ENTROPY_FWD] = {"cross_entropy_fwd", CLT_FAMILY_ROWS, 4, {
        TENSOR(cross_entropy_fwd, logits, IN, false, FLT, 2, 2),
        TENSOR(cross_entropy_fwd, targets, IN, false, I32, 1, 1),
        TENSOR(cross_entropy_fwd, loss, OUT, false, F32, 1, 1),
        TENSOR(cross_entropy_fwd, lse, OUT, false, F32, 1, 1),
    }, true, clt_check_cross_entropy_fwd},
    [CLT_OP_CROSS_ENTROPY_BWD] = {"cross_entropy_bwd", CLT_FAMILY_ROWS, 4, {
        TENSOR(cross_entropy_bwd, logits, IN, false, FLT, 2, 2),
        TENSOR(cross_entropy_bwd, targets, IN, false, I32, 1, 1),
        TENSOR(cross_entropy_bwd, lse, IN, false, F32, 1, 1),
        TENSOR_MAY_BE(cross_entropy_bwd, dlogits, OUT, false, FLT, 2, 2, AS(0)),
    }, true, clt_check_cross_entropy_bwd},
    [CLT_OP_ADD] = {"add", CLT_FAMILY_ELEMENTWISE, 3, {
        TENSOR(add, a, IN, false, FLT, 1, 4),
        TENSOR(add, b, IN, false, FLT, 1, 4),
        TENSOR_MAY_BE(add, out, OUT, false, FLT, 1, 4, AS(0) | AS(1)),
    }, true, clt_check_add},
    [CLT_OP_SCALE] = {"scale", CLT_FAMILY_ELEMENTWISE, 1, {
        TENSOR(scale, x, INOUT, false, FLT, 1, 4),
    }, true, clt_check_scale},
    [CLT_OP_BIAS_ADD] = {"bias_add", CLT_FAMILY_ELEMENTWISE, 2, {
        TENSOR(bias_add, y, INOUT, false, FLT, 2, 2),
        TENSOR(bias_add, bias, IN, false, FLT, 1, 1),
    }, true, clt_check_bias_add},
    [CLT_OP_BIAS_GRAD] = {"bias_grad", CLT_FAMILY_ELEMENTWISE, 2, {
        TENSOR(bias_grad, dy, IN, false, FLT, 2, 2),
        TENSOR(bias_grad, dbias, INOUT, false, FLT, 1, 1),
    }, true, clt_check_bias_grad},
    [CLT_OP_SQNORM] = {"sqnorm", CLT_FAMILY_ELEMENTWISE, 2, {
        TENSOR(sqnorm, x, IN, false, FLT, 1, 4),
        TENSOR(sqnorm, norm, INOUT, false, F32, 1, 1),
    }, true, clt_check_sqnorm},
    [CLT_OP_ADAMW] = {"adamw", CLT_FAMILY_OPTIM, 8, {
        TENSOR(adamw, param, INOUT, false, F32, 1, 1),
        TENSOR(adamw, grad, IN, false, FLT, 1, 1),
        TENSOR(adamw, m, INOUT, false, F32 | U8, 1, 1),
        TENSOR(adamw, v, INOUT, false, F32 | U8, 1, 1),
        TENSOR(adamw, m_absmax, INOUT, true, F32, 1, 1),
        TENSOR(adamw, v_absmax, INOUT, true, F32, 1, 1),
        TENSOR(adamw, param_copy, OUT, true, FLT, 1, 1),
        TENSOR(adamw, gate, IN, true, F32, 1, 1),
    }, false, clt_check_adamw},
    [CLT_OP_SGD] = {"sgd", CLT_FAMILY_OPTIM, 6, {
        TENSOR(sgd, param, INOUT, false, F32, 1, 1),
        TENSOR(sgd, grad, IN, false, FLT, 1, 1),
        TENSOR(sgd, momentum, INOUT, true, F32 | U8, 1, 1),
        TENSOR(sgd, momentum_absmax, INOUT, true, F32, 1, 1),
        TENSOR(sgd, param_copy, OUT, true, FLT, 1, 1),
        TENSOR(sgd, gate, IN, true, F32, 1, 1),
    }, false, clt_check_sgd},
    [CLT_OP_LAMB] = {"lamb", CLT_FAMILY_OPTIM, 8, {
        TENSOR(lamb, param, INOUT, false, F32, 1, 1),
        TENSOR(lamb, grad, IN, false, FLT, 1, 1),
        TENSOR(lamb, m, INOUT, false, F32 | U8, 1, 1),
        TENSOR(lamb, v, INOUT, false, F32 | U8, 1, 1),
        TENSOR(lamb, m_absmax, INOUT, true, F32, 1, 1),
        TENSOR(lamb, v_absmax, INOUT, true, F32, 1, 1),
        TENSOR(lamb, param_copy, OUT, true, FLT, 1, 1),
        TENSOR(lamb, gate, IN, true, F32, 1, 1),
    }, false, clt_check_lamb},
    [CLT_OP_QUANTIZE8] = {"quantize8", CLT_FAMILY_OPTIM, 3, {
        TENSOR(quantize8, x, IN, false, F32, 1, 1),
        TENSOR(quantize8, codes, OUT, false, U8, 1, 1),
        TENSOR(quantize8, absmax, OUT, false, F32, 1, 1),
    }, false, clt_check_quantize8},
    [CLT_OP_DEQUANTIZE8] = {"dequantize8", CLT_FAMILY_OPTIM, 3, {
        TENSOR(dequantize8, codes, IN, false, U8, 1, 1),
        TENSOR(dequantize8, absmax, IN, false, F32, 1, 1),
        TENSOR(dequantize8, x, OUT, false, F32, 1, 1),
    }, false, clt_check_dequantize8},
};

const struct clt_op_desc *clt_op_desc_of(clt_op_kind kind)
{
    return (unsigned)kind < CLT_OP_COUNT ? &op_table[kind] : NULL;
}

const char *clt_op_name(clt_op_kind kind)
{
    const struct clt_op_desc *d = clt_op_desc_of(kind);
    return d ? d->name : "?";
}

clt_status clt_op_from_name(const char *name, clt_op_kind *out)
{
    if (!name || !out)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_op_from_name: %s is NULL",
                        name ? "out" : "name");
    for (int k = 0; k < CLT_OP_COUNT; k++) {
        if (strcmp(op_table[k].name, name) == 0) {
            *out = (clt_op_kind)k;
            return CLT_OK;
        }
    }
    return clt_fail(CLT_ERR_INVALID_ARG, "no op is named '%s'", name);
}

bool clt_tensor_extent(const clt_tensor *t, size_t *bytes)
{
    /* last element's index: sum of (shape-1)·stride, then +1, times the element size */
    uint64_t last = 0;
    for (int i = 0; i < t->rank; i++) {
        uint64_t step;
        if (__builtin_mul_overflow((uint64_t)(t->shape[i] - 1), (uint64_t)t->strides[i], &step) ||
            __builtin_add_overflow(last, step, &last))
            return false;
    }
    uint64_t total;
    if (__builtin_add_overflow(last, 1, &total) ||
        __builtin_mul_overflow(total, (uint64_t)clt_dtype_size(t->dtype), &total) ||
        total > SIZE_MAX)
        return false;
    *bytes = (size_t)total;
    return true;
}

static void format_dims(char *text, size_t size, int rank, const int64_t *dims)
{
    size_t used = 0;
    text[0] = '\0';
    for (int i = 0; i < rank && used < size; i++) {
        int w = snprintf(text + used, size - used, "%s%lld", i ? ", " : "(", (long long)dims[i]);
        if (w < 0)
            return;
        used += (size_t)w;
    }
    if (used < size)
        snprintf(text + used, size - used, ")");
}

static void format_dtypes(char *text, size_t size, uint32_t mask)
{
    size_t used = 0;
    text[0] = '\0';
    for (int d = 0; d < CLT_DTYPE_COUNT && used < size; d++) {
        if (!(mask & (1u << d)))
            continue;
        int w = snprintf(text + used, size - used, "%s%s", used ? ", " : "",
                         clt_dtype_name((clt_dtype)d));
        if (w < 0)
            return;
        used += (size_t)w;
    }
}

/* One tensor on its own: present, ours, on a tier ops can use, well formed, in bounds. */
static clt_status check_tensor(const clt_context *ctx, const char *op,
                               const struct clt_tensor_arg *arg, const clt_tensor *t)
{
    const char *name = arg->name;
    if (!t->buf)
        return clt_fail(CLT_ERR_INVALID_ARG, "%s: argument %s: buffer is NULL", op, name);
    if (t->buf->ctx != ctx)
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "%s: argument %s: buffer belongs to another context", op, name);
    if (t->buf->tier != CLT_TIER_DEVICE && t->buf->tier != CLT_TIER_HOST_PINNED)
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "%s: argument %s: buffer is in tier %s; ops use DEVICE and "
                        "HOST_PINNED buffers (move it with clt_buffer_copy)",
                        op, name, clt_tier_name(t->buf->tier));
    if (t->buf->tier == CLT_TIER_HOST_PINNED && t->buf->host)
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "%s: argument %s: the HOST_PINNED buffer is mapped for the CPU (the "
                        "offload engine's host memory), which ops must not use", op, name);
    size_t elem = clt_dtype_size(t->dtype);
    if (elem == 0)
        return clt_fail(CLT_ERR_INVALID_ARG, "%s: argument %s: dtype %d is not a dtype", op,
                        name, (int)t->dtype);
    if (!(arg->dtypes & (1u << t->dtype))) {
        char accepted[64];
        format_dtypes(accepted, sizeof accepted, arg->dtypes);
        return clt_fail(CLT_ERR_INVALID_ARG, "%s: argument %s: dtype %s is not accepted (%s takes %s)",
                        op, name, clt_dtype_name(t->dtype), op, accepted);
    }
    if (t->rank < arg->min_rank || t->rank > arg->max_rank)
        return clt_fail(CLT_ERR_INVALID_ARG, "%s: argument %s: rank %d, expected %d to %d", op,
                        name, t->rank, arg->min_rank, arg->max_rank);
    for (int i = 0; i < t->rank; i++) {
        if (t->shape[i] < 1)
            return clt_fail(CLT_ERR_INVALID_ARG,
                            "%s: argument %s: shape[%d] is %lld; every dimension must be >= 1",
                            op, name, i, (long long)t->shape[i]);
        if (t->strides[i] < 0)
            return clt_fail(CLT_ERR_INVALID_ARG, "%s: argument %s: strides[%d] is %lld (negative)",
                            op, name, i, (long long)t->strides[i]);
    }
    if (t->offset % elem != 0)
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "%s: argument %s: byte offset %zu is not a multiple of the %zu-byte %s "
                        "element",
                        op, name, t->offset, elem, clt_dtype_name(t->dtype));
    size_t extent;
    char shape[128], strides[128];
    format_dims(shape, sizeof shape, t->rank, t->shape);
    format_dims(strides, sizeof strides, t->rank, t->strides);
    if (!clt_tensor_extent(t, &extent))
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "%s: argument %s: shape %s with strides %s spans more bytes than size_t "
                        "can count",
                        op, name, shape, strides);
    if (t->offset > t->buf->size || extent > t->buf->size - t->offset)
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "%s: argument %s: shape %s with strides %s at byte offset %zu needs "
                        "%zu bytes, but its buffer holds %zu",
                        op, name, shape, strides, t->offset, extent, t->buf->size);
    return CLT_OK;
}

/* Whether dimensions (shape, stride), taken from the smallest stride up, each step past
 * everything the inner ones cover: then no two index tuples reach one element. */
static bool dims_injective(int n, const int64_t *shape, const int64_t *strides)
{
    int order[CLT_MAX_RANK + 1], m = 0;
    for (int i = 0; i < n; i++)
        if (shape[i] > 1)
            order[m++] = i;
    for (int i = 1; i < m; i++)
        for (int j = i; j > 0 && strides[order[j]] < strides[order[j - 1]]; j--) {
            int tmp = order[j];
            order[j] = order[j - 1];
            order[j - 1] = tmp;
        }
    int64_t span = 1; /* elements covered by the dimensions taken so far */
    for (int i = 0; i < m; i++) {
        const int64_t stride = strides[order[i]];
        if (stride < span)
            return false;
        span = stride * (shape[order[i]] - 1) + span; /* bounded by the extent check */
    }
    return true;
}

/* An output must not write one element twice. */
static bool is_injective(const clt_tensor *t)
{
    return dims_injective(t->rank, t->shape, t->strides);
}

/* Two views alike in dtype, shape and strides, whose byte ranges overlap, may still
 * share no element: q, k and v of a packed (B, T, 3, H, d) buffer interleave. They are
 * disjoint when the pair, seen as one tensor with an outer dimension of 2 whose stride
 * is the distance between them, is injective. */
static bool interleaved_disjoint(const clt_tensor *x, const clt_tensor *y)
{
    const size_t elem = clt_dtype_size(x->dtype);
    if (x->dtype != y->dtype || x->rank != y->rank)
        return false;
    for (int i = 0; i < x->rank; i++)
        if (x->shape[i] != y->shape[i] || x->strides[i] != y->strides[i])
            return false;
    const size_t distance = x->offset > y->offset ? x->offset - y->offset : y->offset - x->offset;
    if (distance == 0 || distance % elem != 0)
        return false;
    int64_t shape[CLT_MAX_RANK + 1], strides[CLT_MAX_RANK + 1];
    memcpy(shape, x->shape, sizeof x->shape);
    memcpy(strides, x->strides, sizeof x->strides);
    shape[x->rank] = 2;
    strides[x->rank] = (int64_t)(distance / elem);
    return dims_injective(x->rank + 1, shape, strides);
}

static bool ranges_overlap(const clt_tensor *x, const clt_tensor *y)
{
    size_t ex = 0, ey = 0;
    clt_tensor_extent(x, &ex);
    clt_tensor_extent(y, &ey);
    return x->buf == y->buf && x->offset < y->offset + ey && y->offset < x->offset + ex &&
           !interleaved_disjoint(x, y);
}

/* The same elements in the same order: what an in-place output must be of its input. */
static bool same_view(const clt_tensor *x, const clt_tensor *y)
{
    if (x->buf != y->buf || x->offset != y->offset || x->dtype != y->dtype ||
        x->rank != y->rank)
        return false;
    for (int i = 0; i < x->rank; i++)
        if (x->shape[i] != y->shape[i] || x->strides[i] != y->strides[i])
            return false;
    return true;
}

/* Tensors that take any float dtype must all take the same one. */
static clt_status check_one_float_dtype(const struct clt_op_desc *desc, const clt_op *op)
{
    const struct clt_tensor_arg *first = NULL;
    for (int i = 0; i < desc->n_tensors; i++) {
        const struct clt_tensor_arg *arg = &desc->tensors[i];
        const clt_tensor *t = clt_op_tensor(op, arg);
        if (arg->dtypes != FLT || !t->buf)
            continue;
        if (!first) {
            first = arg;
            continue;
        }
        const clt_tensor *f = clt_op_tensor(op, first);
        if (t->dtype != f->dtype)
            return clt_fail(CLT_ERR_INVALID_ARG,
                            "%s: argument %s: dtype %s differs from %s's %s (the op's "
                            "floating tensors share one dtype)",
                            desc->name, arg->name, clt_dtype_name(t->dtype), first->name,
                            clt_dtype_name(f->dtype));
    }
    return CLT_OK;
}

clt_status clt_check_rows(const char *op, const char *name, const clt_tensor *t)
{
    for (int i = 0; i < t->rank; i++) /* kernels index rows and columns with 32-bit ints */
        if (t->shape[i] > INT32_MAX)
            return clt_fail(CLT_ERR_INVALID_ARG,
                            "%s: argument %s: shape[%d] = %lld exceeds 2^31 - 1", op, name, i,
                            (long long)t->shape[i]);
    if (t->strides[t->rank - 1] != 1)
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "%s: argument %s: the last dimension must be contiguous (stride 1), "
                        "got stride %lld",
                        op, name, (long long)t->strides[t->rank - 1]);
    return CLT_OK;
}

clt_status clt_check_contiguous(const char *op, const char *name, const clt_tensor *t)
{
    int64_t expected = 1;
    for (int i = t->rank - 1; i >= 0; i--) {
        if (t->shape[i] > 1 && t->strides[i] != expected) {
            char shape[128], strides[128];
            format_dims(shape, sizeof shape, t->rank, t->shape);
            format_dims(strides, sizeof strides, t->rank, t->strides);
            return clt_fail(CLT_ERR_INVALID_ARG,
                            "%s: argument %s: must be contiguous (row-major), but shape %s "
                            "has strides %s",
                            op, name, shape, strides);
        }
        expected *= t->shape[i]; /* bounded by the extent check */
    }
    return CLT_OK;
}

clt_status clt_check_same_shape(const char *op, const char *name, const clt_tensor *t,
                                const char *ref_name, const clt_tensor *ref)
{
    bool same = t->rank == ref->rank;
    for (int i = 0; same && i < t->rank; i++)
        same = t->shape[i] == ref->shape[i];
    if (same)
        return CLT_OK;
    char have[128], want[128];
    format_dims(have, sizeof have, t->rank, t->shape);
    format_dims(want, sizeof want, ref->rank, ref->shape);
    return clt_fail(CLT_ERR_INVALID_ARG, "%s: argument %s: shape %s differs from %s's %s", op,
                    name, have, ref_name, want);
}

clt_status clt_check_dim(const char *op, const char *name, const clt_tensor *t, int dim,
                         int64_t expected, const char *why)
{
    if (t->shape[dim] == expected)
        return CLT_OK;
    return clt_fail(CLT_ERR_INVALID_ARG, "%s: argument %s: shape[%d] is %lld, expected %lld (%s)",
                    op, name, dim, (long long)t->shape[dim], (long long)expected, why);
}

clt_status clt_check_finite(const char *op, const char *name, float value)
{
    if (isfinite(value))
        return CLT_OK;
    return clt_fail(CLT_ERR_INVALID_ARG, "%s: %s is %g; it must be finite", op, name,
                    (double)value);
}

clt_status clt_op_validate(const clt_context *ctx, const clt_op *op)
{
    if (!ctx || !op)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_op_run: %s is NULL", ctx ? "op" : "ctx");
    const struct clt_op_desc *desc = clt_op_desc_of(op->kind);
    if (!desc)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_op_run: op kind %d is not an op",
                        (int)op->kind);

    for (int i = 0; i < desc->n_tensors; i++) {
        const struct clt_tensor_arg *arg = &desc->tensors[i];
        const clt_tensor *t = clt_op_tensor(op, arg);
        if (arg->optional && !t->buf)
            continue;
        clt_status s = check_tensor(ctx, desc->name, arg, t);
        if (s != CLT_OK)
            return s;
    }
    for (int i = 0; i < desc->n_tensors; i++) {
        const struct clt_tensor_arg *out = &desc->tensors[i];
        const clt_tensor *o = clt_op_tensor(op, out);
        if (out->role == CLT_ARG_IN || !o->buf)
            continue;
        if (!is_injective(o))
            return clt_fail(CLT_ERR_INVALID_ARG,
                            "%s: argument %s: its strides make elements overlap, and it is "
                            "written",
                            desc->name, out->name);
        for (int j = 0; j < desc->n_tensors; j++) {
            const clt_tensor *t = clt_op_tensor(op, &desc->tensors[j]);
            if ((out->may_be & (1u << j)) && same_view(o, t))
                continue;
            if (j != i && t->buf && ranges_overlap(o, t))
                return clt_fail(CLT_ERR_INVALID_ARG,
                                "%s: argument %s overlaps argument %s in the same buffer; "
                                "outputs may not alias other arguments",
                                desc->name, out->name, desc->tensors[j].name);
        }
    }
    if (desc->one_float_dtype) {
        clt_status s = check_one_float_dtype(desc, op);
        if (s != CLT_OK)
            return s;
    }
    return desc->check(op);
}
