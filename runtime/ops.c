/* The op table, and the validation every op goes through before a driver sees it:
 * each tensor well formed and inside its buffer, outputs aliasing nothing, then the
 * op's own shape rules. */
#include <stdio.h>
#include <string.h>

#include "runtime/buffer.h"
#include "runtime/context.h"
#include "runtime/error.h"
#include "runtime/ops.h"

#define F32 (1u << CLT_DTYPE_F32)
#define HALVES ((1u << CLT_DTYPE_F16) | (1u << CLT_DTYPE_BF16))
#define TENSOR(op, field, role, optional, dtypes, lo, hi) \
    {#field, offsetof(clt_op, u.op.field), role, optional, dtypes, lo, hi}

static const struct clt_op_desc op_table[CLT_OP_COUNT] = {
    [CLT_OP_GEMM] = {"gemm", 4, {
        TENSOR(gemm, a, CLT_ARG_IN, false, F32 | HALVES, 2, 3),
        TENSOR(gemm, b, CLT_ARG_IN, false, F32 | HALVES, 2, 3),
        TENSOR(gemm, c, CLT_ARG_INOUT, false, F32 | HALVES, 2, 3),
        TENSOR(gemm, bias, CLT_ARG_IN, true, F32 | HALVES, 1, 1),
    }, clt_check_gemm},
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

/* An output must not write one element twice: taken from the smallest stride up, each
 * dimension must step past everything the inner ones cover. */
static bool is_injective(const clt_tensor *t)
{
    int order[CLT_MAX_RANK], n = 0;
    for (int i = 0; i < t->rank; i++)
        if (t->shape[i] > 1)
            order[n++] = i;
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && t->strides[order[j]] < t->strides[order[j - 1]]; j--) {
            int tmp = order[j];
            order[j] = order[j - 1];
            order[j - 1] = tmp;
        }
    int64_t span = 1; /* elements covered by the dimensions taken so far */
    for (int i = 0; i < n; i++) {
        const int64_t stride = t->strides[order[i]];
        if (stride < span)
            return false;
        span = stride * (t->shape[order[i]] - 1) + span; /* bounded by the extent check */
    }
    return true;
}

static bool ranges_overlap(const clt_tensor *x, const clt_tensor *y)
{
    size_t ex = 0, ey = 0;
    clt_tensor_extent(x, &ex);
    clt_tensor_extent(y, &ey);
    return x->buf == y->buf && x->offset < y->offset + ey && y->offset < x->offset + ex;
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
            if (j != i && t->buf && ranges_overlap(o, t))
                return clt_fail(CLT_ERR_INVALID_ARG,
                                "%s: argument %s overlaps argument %s in the same buffer; "
                                "outputs may not alias other arguments",
                                desc->name, out->name, desc->tensors[j].name);
        }
    }
    return desc->check(op);
}
