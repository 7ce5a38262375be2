/* The naive attention peer: scaled dot-product attention, forward and backward, as a
 * textbook writes it in plain OpenCL — S = scale·Q·Kᵀ materialised (B·H·T·T floats,
 * causal entries masked to -inf), a row softmax into P in place, O = P·V; backward
 * dV = Pᵀ·dO, dS = P∘(dO·Vᵀ − delta) with delta = rowsum(dO∘O), dQ = scale·dS·K,
 * dK = scale·dSᵀ·Q — one work-item per output element, f32 only, on the same OpenCL
 * device as clt, in a context and queue of its own. */
#ifndef CLT_BENCH_PEER_NAIVE_ATTENTION_H
#define CLT_BENCH_PEER_NAIVE_ATTENTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <clt/clt.h>

typedef struct peer_naive_attention peer_naive_attention;

/* One attention problem: q, k, v, o and their gradients are (B, H, T, d), contiguous. */
typedef struct naive_attention_dims {
    int64_t batch, heads, seq, dim;
    float scale;
    bool causal;
} naive_attention_dims;

/* Device bytes the peer allocates for a problem: all of it, and the part in the two
 * (B·H, T, T) matrices (scores/probabilities, and their gradient). */
uint64_t peer_naive_attention_bytes(const naive_attention_dims *dims, uint64_t *tt_bytes);

/* Opens the OpenCL device clt calls `info` and builds the kernels. False, with the
 * reason in `why` ("n/a: ..." where the device is not an OpenCL one), on failure. */
bool peer_naive_attention_open(const clt_device_info *info, peer_naive_attention **out,
                               char *why, size_t why_size);

/* NULL does nothing. */
void peer_naive_attention_close(peer_naive_attention *p);

/* Allocates the problem's buffers and uploads q, k, v and dout (f32, (B, H, T, d)),
 * freeing what an earlier problem left. False, with the reason in `why` — "skipped:"
 * where a T×T matrix is larger than the device allows — on failure. */
bool peer_naive_attention_upload(peer_naive_attention *p, const naive_attention_dims *dims,
                                 const float *q, const float *k, const float *v,
                                 const float *dout, char *why, size_t why_size);

/* The forward pass (S, P, O), returning when it has finished. Matches bench_call. */
bool peer_naive_attention_fwd(void *p);

/* The backward pass (delta, dV, dS, dQ, dK) from the last forward's P and O, returning
 * when it has finished. Matches bench_call. */
bool peer_naive_attention_bwd(void *p);

/* Reads o (after a forward) and dq, dk, dv (after a backward), each (B, H, T, d). */
bool peer_naive_attention_read(peer_naive_attention *p, float *o, float *dq, float *dk,
                               float *dv);

/* The message of the last failure. */
const char *peer_naive_attention_error(const peer_naive_attention *p);

#endif
