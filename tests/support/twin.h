/* A tensor in two contexts — the device under test [0] and the host [1] — holding the
 * same bytes, so that one op run in both can be compared over whole buffers: a write
 * outside the tensor (row padding, before the offset, past the end) shows. */
#ifndef CLT_TEST_TWIN_H
#define CLT_TEST_TWIN_H

#include "support/support.h"

#define TWIN_GUARD 1234.5f /* what the elements outside a tensor hold */

typedef struct twin {
    clt_tensor t[2];
    clt_buffer *buf[2];
    size_t n;         /* elements in each buffer */
    clt_dtype dtype;
    uint8_t *image;   /* the buffers' first contents */
    bool *covered;    /* whether element i is one of the tensor's */
} twin;

/* A (rows, cols) tensor `off` elements into its buffer, rows `stride` apart, holding
 * values[r·cols + c]; every other element of the buffer holds TWIN_GUARD. */
void twin_rows(twin *w, clt_context *const ctx[2], clt_dtype dt, int64_t rows, int64_t cols,
               int64_t stride, size_t off, const float *values);
/* A contiguous vector of len elements `off` elements into its buffer. */
void twin_vec(twin *w, clt_context *const ctx[2], clt_dtype dt, int64_t len, size_t off,
              const float *values);
void twin_free(twin *w);
/* Buffer k of the twin as floats (malloc'd). */
float *twin_floats(const twin *w, int k);
/* Whether the device's buffer matches the host's: |got − want| <= tol·max(|want|, floor)
 * on the tensor's elements (NaN where want is NaN, equal infinities), and the bytes
 * outside the tensor as they were. Prints the worst element. */
bool twin_close(const twin *w, double tol, double floor, const char *what);

/* ctx[0] on `device`, ctx[1] on the host; and both closed. */
void twin_open_pair(const char *device, clt_context *ctx[2]);
void twin_close_pair(clt_context *ctx[2]);
/* The device ran every op itself where it says it supports the kind (in f32). */
void twin_assert_no_fallback(clt_context *ctx, clt_op_kind kind);

#endif
