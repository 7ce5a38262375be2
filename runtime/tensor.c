/* Tensor descriptors. */
#include "runtime/error.h"
#include "clt/tensor.h"

clt_status clt_tensor_init(clt_tensor *t, clt_buffer *buf, size_t offset, clt_dtype dtype,
                           int rank, const int64_t *shape)
{
    if (!t || !shape)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_tensor_init: %s is NULL", t ? "shape" : "t");
    if (rank < 1 || rank > CLT_MAX_RANK)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_tensor_init: rank %d is outside 1..%d", rank,
                        CLT_MAX_RANK);
    if (clt_dtype_size(dtype) == 0)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_tensor_init: dtype %d is not a dtype",
                        (int)dtype);
    for (int i = 0; i < rank; i++)
        if (shape[i] < 1)
            return clt_fail(CLT_ERR_INVALID_ARG,
                            "clt_tensor_init: shape[%d] is %lld; every dimension must be >= 1",
                            i, (long long)shape[i]);
    *t = (clt_tensor){.buf = buf, .offset = offset, .dtype = dtype, .rank = rank};
    int64_t stride = 1;
    for (int i = rank - 1; i >= 0; i--) {
        t->shape[i] = shape[i];
        t->strides[i] = stride;
        /* Past int64 the descriptor is unusable anyway; validation reports it. */
        if (__builtin_mul_overflow(stride, shape[i], &stride))
            stride = INT64_MAX;
    }
    return CLT_OK;
}

int64_t clt_tensor_numel(const clt_tensor *t)
{
    if (!t || t->rank < 1 || t->rank > CLT_MAX_RANK)
        return 0;
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++)
        if (t->shape[i] < 0 || __builtin_mul_overflow(n, t->shape[i], &n))
            return 0;
    return n;
}
