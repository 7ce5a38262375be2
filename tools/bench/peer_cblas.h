/* The host's CBLAS (OpenBLAS) as a peer: sgemm on the same shapes, in the same run.
 * Present when clt-bench was built with OpenBLAS (CLT_BENCH_HAVE_CBLAS). */
#ifndef CLT_BENCH_PEER_CBLAS_H
#define CLT_BENCH_PEER_CBLAS_H

#include <stdbool.h>
#include <stddef.h>

#include "bench/gemm_shapes.h"

/* Whether the peer was built in. */
bool peer_cblas_available(void);

/* What it is ("OpenBLAS 0.3.21 ..."), or why it is absent. */
const char *peer_cblas_describe(char *buf, size_t size);

/* c (m,n) = op(a) · op(b) in f32, row-major, a and b stored as bench_shape says. False
 * when the peer is absent. */
bool peer_cblas_sgemm(const bench_shape *s, const float *a, const float *b, float *c);

#endif
