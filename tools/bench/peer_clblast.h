/* CLBlast as a peer: GEMM on the same OpenCL device as clt, through CLBlast's C API, in
 * a context and queue of its own. Present when clt-bench was built with CLBlast
 * (CLT_BENCH_HAVE_CLBLAST). */
#ifndef CLT_BENCH_PEER_CLBLAST_H
#define CLT_BENCH_PEER_CLBLAST_H

#include <stdbool.h>
#include <stddef.h>

#include <clt/clt.h>

#include "bench/gemm_shapes.h"

typedef struct peer_clblast peer_clblast;

/* Opens the OpenCL device clt calls `info` (matched by index and name). False, with the
 * reason in `why`, when CLBlast is not built in or the device is not an OpenCL one. */
bool peer_clblast_open(const clt_device_info *info, peer_clblast **out, char *why,
                       size_t why_size);

/* NULL does nothing. */
void peer_clblast_close(peer_clblast *p);

/* Whether CLBlastHgemm can run here (the device has cl_khr_fp16). */
bool peer_clblast_has_fp16(const peer_clblast *p);

/* Allocates A, B and C for the shape and uploads a and b, elements of `elem_size`
 * bytes (4: f32, 2: f16). Frees what an earlier upload left. */
bool peer_clblast_upload(peer_clblast *p, const bench_shape *s, const void *a,
                         const void *b, size_t elem_size, char *why, size_t why_size);

/* One GEMM on the uploaded buffers (Sgemm or Hgemm by the uploaded element size),
 * returning when it has finished. Matches bench_call. */
bool peer_clblast_gemm(void *p);

/* The message of the last failure. */
const char *peer_clblast_error(const peer_clblast *p);

#endif
