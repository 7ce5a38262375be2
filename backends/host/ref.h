/* Host references: plain loops that define what every op computes. They are the
 * oracle the tests compare each driver against, so they favour clarity over speed. */
#ifndef CLT_HOST_REF_H
#define CLT_HOST_REF_H

#include "clt/clt.h"

/* C = alpha·op(A)·op(B) + beta·C + bias over every batch, with the shapes, strides,
 * dtypes and flags of `args` (the tensors' buf and offset fields are ignored). a, b, c
 * and bias point at element 0 of each tensor; bias may be NULL. Accumulates in double,
 * a sharper oracle than any f32 kernel, and rounds to c's dtype once. */
void clt_ref_gemm(const clt_gemm_args *args, const void *a, const void *b, void *c,
                  const void *bias);

/* The same, for f32 tensors. */
void clt_ref_gemm_f32(const clt_gemm_args *args, const float *a, const float *b, float *c,
                      const float *bias);

#endif
