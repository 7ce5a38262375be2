/* What the op benchmarks (attention, softmax) share on clt's side: deterministic input
 * data, device buffers filled from it in any storage dtype, an op run as a timed call,
 * and the comparison of results. Only clt's public API. */
#ifndef CLT_BENCH_CLT_H
#define CLT_BENCH_CLT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <clt/clt.h>

/* Opens a context on `device` (NULL: clt's default) and describes its device (info may
 * be NULL). On failure *ctx is NULL and `error` says "cannot open D: ...". */
clt_status bench_open_context(const char *device, clt_context **ctx, clt_device_info *info,
                              char *error, size_t error_size);

/* n deterministic values in [-1, 1) from a linear congruential generator. */
void bench_fill_random(float *x, size_t n, uint64_t *state);

/* A new DEVICE-tier buffer holding the n f32 values at `host` stored as `dtype`
 * (converted on the host first where dtype is f16 or bf16). *out is NULL on failure. */
clt_status bench_upload(clt_context *ctx, clt_dtype dtype, const float *host, size_t n,
                        clt_buffer **out);

/* A clt op as a bench_call: runs it, waits for it, and keeps the error if it fails. */
typedef struct bench_op_call {
    clt_context *ctx;
    clt_op op;
    char error[512];
} bench_op_call;

/* Matches bench_call; `call` is a bench_op_call. */
bool bench_op_run(void *call);

/* clt_op_describe's text for the op, or "?" when it cannot say. Returns buf. */
const char *bench_op_describe(bench_op_call *call, char *buf, size_t size);

/* The largest |got[i] - want[i]|; NaN when either side holds a NaN. */
double bench_max_abs_diff(const float *got, const float *want, size_t n);

/* The largest |x[i]|. */
double bench_max_abs(const float *x, size_t n);

#endif
