/* What the tests of the elementwise and embedding ops share: each tensor's buffer in
 * two contexts (the device under test and "host", whose reference gives the expected
 * values), filled with sentinels around the tensor, uploaded and read back in any float
 * dtype, and the tolerances between the two. Header-only (static inline), included by
 * tests/test_elementwise.c, test_elementwise_reduce.c and test_embedding.c. */
#ifndef CLT_TEST_ELEMENTWISE_FIXTURE_H
#define CLT_TEST_ELEMENTWISE_FIXTURE_H

#include <math.h>

#include "support/support.h"

#define SENTINEL 1280.0f /* exact in f32, f16 and bf16; no case here computes it */
#define GUARD 5          /* sentinel elements after each tensor */
#define DEV 0            /* index of the device under test in the context pairs */
#define HOST 1           /* ... and of the host reference */

static const clt_dtype dtypes[] = {CLT_DTYPE_F32, CLT_DTYPE_F16, CLT_DTYPE_BF16};
#define N_DTYPES (sizeof dtypes / sizeof dtypes[0])

/* Device against host: both compute in f32 and round once, so at most one unit in the
 * last place of the storage dtype apart (f32: a few ulps of tanh). */
static inline double tol_dev(clt_dtype d)
{
    return d == CLT_DTYPE_F32 ? 1e-5 : d == CLT_DTYPE_F16 ? 1.1e-3 : 8e-3;
}

/* Host reference against the exact value: half a unit of the storage dtype and f32's
 * own error. */
static inline double tol_ref(clt_dtype d)
{
    return d == CLT_DTYPE_F32 ? 4e-6 : d == CLT_DTYPE_F16 ? 7e-4 : 5e-3;
}

/* ---- buffers in both contexts -------------------------------------------------------- */

/* A tensor's buffer: sentinels, the tensor's elements from `off` on, sentinels. */
struct operand {
    clt_dtype dtype;
    size_t off, total; /* elements before the tensor; elements in the buffer */
    float *init;       /* the buffer's first contents, each representable in dtype */
    float *got[2];     /* what each context's buffer held after the op */
    clt_buffer *buf[2];
};

/* x rounded to d, so that the test's copy equals what the buffers hold. */
static inline void round_to(clt_dtype d, float *x, size_t n)
{
    if (d == CLT_DTYPE_F32)
        return;
    uint16_t *tmp = malloc(n * sizeof *tmp);
    assert_non_null(tmp);
    ts_assert_ok(clt_convert(d, tmp, CLT_DTYPE_F32, x, n));
    ts_assert_ok(clt_convert(CLT_DTYPE_F32, x, d, tmp, n));
    free(tmp);
}

/* An operand of `total` elements, all sentinels; fill init[off ..] before uploading. */
static inline void operand_init(struct operand *o, clt_dtype d, size_t off, size_t total)
{
    memset(o, 0, sizeof *o);
    o->dtype = d;
    o->off = off;
    o->total = total;
    o->init = malloc(total * sizeof(float));
    assert_non_null(o->init);
    ts_fill_value(o->init, total, SENTINEL);
}

static inline void operand_upload(struct operand *o, clt_context *const ctx[2])
{
    const size_t es = clt_dtype_size(o->dtype);
    void *bytes = malloc(o->total * es);
    assert_non_null(bytes);
    round_to(o->dtype, o->init, o->total);
    ts_assert_ok(clt_convert(o->dtype, bytes, CLT_DTYPE_F32, o->init, o->total));
    for (int k = 0; k < 2; k++)
        o->buf[k] = ts_buffer(ctx[k], CLT_TIER_DEVICE, o->total * es, bytes);
    free(bytes);
}

static inline void operand_download(struct operand *o)
{
    const size_t es = clt_dtype_size(o->dtype);
    void *bytes = malloc(o->total * es);
    assert_non_null(bytes);
    for (int k = 0; k < 2; k++) {
        o->got[k] = malloc(o->total * sizeof(float));
        assert_non_null(o->got[k]);
        ts_assert_ok(clt_buffer_read(o->buf[k], 0, bytes, o->total * es, NULL));
        ts_assert_ok(clt_convert(CLT_DTYPE_F32, o->got[k], o->dtype, bytes, o->total));
    }
    free(bytes);
}

static inline void operand_free(struct operand *o)
{
    for (int k = 0; k < 2; k++) {
        clt_buffer_destroy(o->buf[k]);
        free(o->got[k]);
    }
    free(o->init);
}

/* Both contexts left the buffer as it was. */
static inline bool untouched(const struct operand *o, const char *what)
{
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < o->total; i++) {
            if (memcmp(&o->got[k][i], &o->init[i], sizeof(float)) != 0) {
                print_error("%s: %s changed element %zu of an input: %g, was %g\n", what,
                            k == DEV ? "device" : "host", i, (double)o->got[k][i],
                            (double)o->init[i]);
                return false;
            }
        }
    }
    return true;
}

/* The elements for which is_elem(i) is false still hold sentinels, in both contexts. */
static inline bool guards_kept(const struct operand *o, bool (*is_elem)(const void *, size_t),
                        const void *shape, const char *what)
{
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < o->total; i++) {
            if (!is_elem(shape, i) && o->got[k][i] != SENTINEL) {
                print_error("%s: %s wrote %g outside the tensor, at element %zu\n", what,
                            k == DEV ? "device" : "host", (double)o->got[k][i], i);
                return false;
            }
        }
    }
    return true;
}

static inline void contexts(const char *device, clt_context *ctx[2])
{
    ctx[DEV] = ts_context(device);
    ctx[HOST] = ts_context("host");
}

/* The device ran every op itself: no fallback to the host. */
static inline void assert_no_fallback(clt_context *ctx, clt_op_kind kind)
{
    bool supported = false;
    ts_assert_ok(clt_op_supported(ctx, kind, CLT_DTYPE_F32, &supported));
    assert_true(supported);
    clt_stats st;
    ts_assert_ok(clt_context_stats(ctx, &st));
    assert_true(st.ops_run > 0);
    assert_int_equal(st.ops_fallback, 0);
}

/* ---- contiguous tensors -------------------------------------------------------------- */

/* A contiguous tensor's shape. */
struct shape {
    int rank;
    int64_t dims[CLT_MAX_RANK];
};

static inline size_t numel(const struct shape *s)
{
    size_t n = 1;
    for (int i = 0; i < s->rank; i++)
        n *= (size_t)s->dims[i];
    return n;
}

/* Elements off .. off + n - 1 of a buffer: a contiguous tensor (for guards_kept). */
struct contiguous_span {
    size_t off, n;
};

static inline bool in_span(const void *span, size_t i)
{
    const struct contiguous_span *s = span;
    return i >= s->off && i < s->off + s->n;
}

/* ---- rows with padding --------------------------------------------------------------- */

/* A (rows, cols) tensor with row stride ld, `off` elements into its buffer. */
struct rows_shape {
    int64_t rows, cols, ld;
    size_t off;
};

static inline bool in_rows(const void *shape, size_t i)
{
    const struct rows_shape *s = shape;
    if (i < s->off)
        return false;
    const size_t rel = i - s->off, r = rel / (size_t)s->ld, c = rel % (size_t)s->ld;
    return r < (size_t)s->rows && c < (size_t)s->cols;
}

static inline size_t rows_total(const struct rows_shape *s)
{
    return s->off + (size_t)((s->rows - 1) * s->ld + s->cols) + GUARD;
}

#endif
