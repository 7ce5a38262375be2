/* clt — tensor descriptors. A descriptor is a view: it names a buffer, where the first
 * element sits in it, the storage type, and the shape and strides of up to four
 * dimensions. It owns nothing; it is copied by value. */
#ifndef CLT_TENSOR_H
#define CLT_TENSOR_H

#include "clt/status.h"
#include "clt/types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CLT_MAX_RANK 4

typedef struct clt_tensor {
    clt_buffer *buf;                /* NULL: "no tensor" for an optional argument */
    size_t offset;                  /* bytes from the start of buf to element 0 */
    clt_dtype dtype;
    int rank;                       /* 1..CLT_MAX_RANK */
    int64_t shape[CLT_MAX_RANK];    /* elements per dimension, outermost first */
    int64_t strides[CLT_MAX_RANK];  /* elements between neighbours in each dimension */
} clt_tensor;

/* Describes a row-major contiguous tensor: strides follow from the shape. buf is not
 * retained (it may be NULL: no tensor), shape is read during the call only. The
 * buffer's bounds are checked when an op uses the tensor. Thread-safe. Errors:
 * CLT_ERR_INVALID_ARG for a NULL t or shape, a rank outside 1..4, a dimension < 1 or an
 * unknown dtype. */
CLT_API clt_status clt_tensor_init(clt_tensor *t, clt_buffer *buf, size_t offset,
                                   clt_dtype dtype, int rank, const int64_t *shape);

/* Number of elements (product of the shape), or 0 if it overflows int64, t is NULL or
 * its rank is outside 1..4. */
CLT_API int64_t clt_tensor_numel(const clt_tensor *t);

#ifdef __cplusplus
}
#endif
#endif
