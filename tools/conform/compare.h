/* Comparison with the host reference under per-op, per-dtype tolerances.
 *
 * A floating element passes when |dev − ref| <= rel · max(|ref|, floor · max|ref|, scale,
 * tiny): relative to itself, or, for elements much smaller than the tensor's largest
 * (sums that cancel), relative to a fraction `floor` of that largest, or to a fixed
 * `scale` for outputs that may be 0 whatever their inputs (a loss of log 1). tiny is the
 * dtype's smallest normal. NaN must meet NaN and an infinity the same infinity. u8 codes
 * pass within `code_steps` of the host's; i32 never appears among outputs. */
#ifndef CLT_CONFORM_COMPARE_H
#define CLT_CONFORM_COMPARE_H

#include "conform.h"

typedef struct tolerance {
    double rel;     /* relative error allowed */
    double floor;   /* fraction of the tensor's largest |ref| below which error is absolute */
    int code_steps; /* u8 codes: largest difference allowed */
    double scale;   /* smallest magnitude the error is measured against */
} tolerance;

/* The tolerance of op's output tensors stored in dtype. */
tolerance tolerance_of(clt_op_kind op, clt_dtype dtype);

/* One line describing op's tolerances for --list and the docs:
 * "f32 rel 1e-05, f16 rel 2e-03, bf16 rel 1.6e-02; floor 1e-02 of max|ref|". */
void tolerance_text(clt_op_kind op, char *buf, size_t cap);

/* The first failing element of a tensor, or none. */
typedef struct mismatch {
    size_t count;      /* elements that fail */
    size_t index;      /* the worst one */
    double got, want;
    double allowed;    /* the error it was allowed */
    double worst;      /* largest error / allowed error over the tensor */
} mismatch;

/* Compares n elements of dtype. Returns true when every element passes. */
bool compare_tensor(clt_dtype dtype, size_t n, const void *got, const void *want,
                    tolerance tol, mismatch *out);

#endif
