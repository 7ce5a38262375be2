/* A tensor in two contexts, the device under test [0] and the host [1], for tests that
 * compare a driver with the host reference over whole buffers: the elements around the
 * tensor hold TWIN_GUARD and must be left as they were. */
#include <math.h>

#include "support/twin.h"

/* A (rows, cols) tensor `off` elements into its buffer, rows `stride` apart, holding
 * values[r·cols + c]; every other element of the buffer holds TWIN_GUARD. */
void twin_rows(twin *w, clt_context *const ctx[2], clt_dtype dt, int64_t rows, int64_t cols,
               int64_t stride, size_t off, const float *values)
{
    memset(w, 0, sizeof *w);
    w->dtype = dt;
    w->n = off + (size_t)((rows - 1) * stride + cols) + 3;
    const size_t es = clt_dtype_size(dt);
    float *f = malloc(w->n * sizeof(float));
    w->image = malloc(w->n * es);
    w->covered = calloc(w->n, sizeof(bool));
    assert_non_null(f);
    assert_non_null(w->image);
    assert_non_null(w->covered);
    for (size_t i = 0; i < w->n; i++)
        f[i] = TWIN_GUARD;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) {
            const size_t i = off + (size_t)(r * stride + c);
            f[i] = values[r * cols + c];
            w->covered[i] = true;
        }
    ts_assert_ok(clt_convert(dt, w->image, CLT_DTYPE_F32, f, w->n));
    free(f);
    for (int k = 0; k < 2; k++) {
        w->buf[k] = ts_buffer(ctx[k], CLT_TIER_DEVICE, w->n * es, w->image);
        ts_matrix_layout(&w->t[k], dt, 0, rows, cols, stride, 0, off);
        w->t[k].buf = w->buf[k];
    }
}

/* A contiguous vector of len elements `off` elements into its buffer (TWIN_GUARD around). */
void twin_vec(twin *w, clt_context *const ctx[2], clt_dtype dt, int64_t len, size_t off,
              const float *values)
{
    twin_rows(w, ctx, dt, 1, len, len, off, values);
    for (int k = 0; k < 2; k++) {
        w->t[k].rank = 1;
        w->t[k].shape[0] = len;
        w->t[k].strides[0] = 1;
    }
}

void twin_free(twin *w)
{
    for (int k = 0; k < 2; k++)
        clt_buffer_destroy(w->buf[k]);
    free(w->image);
    free(w->covered);
}

/* Buffer k of the twin as floats (malloc'd). */
float *twin_floats(const twin *w, int k)
{
    void *raw = ts_download_all(w->buf[k]);
    float *f = malloc(w->n * sizeof(float));
    assert_non_null(f);
    ts_assert_ok(clt_convert(CLT_DTYPE_F32, f, w->dtype, raw, w->n));
    free(raw);
    return f;
}

/* Whether the device's buffer matches the host's: |got − want| <= tol·max(|want|, floor)
 * on the tensor's elements (NaN where want is NaN, equal infinities), and the bytes
 * outside the tensor as they were. Prints the worst element. */
bool twin_close(const twin *w, double tol, double floor, const char *what)
{
    float *got = twin_floats(w, 0), *want = twin_floats(w, 1);
    uint8_t *raw = ts_download_all(w->buf[0]);
    const size_t es = clt_dtype_size(w->dtype);
    double worst = 0.0;
    size_t worst_i = 0;
    bool ok = true;
    for (size_t i = 0; i < w->n; i++) {
        if (!w->covered[i]) {
            if (memcmp(raw + i * es, w->image + i * es, es) != 0) {
                print_error("%s: element %zu outside the tensor changed to %g\n", what, i,
                            (double)got[i]);
                ok = false;
            }
            continue;
        }
        const double g = got[i], v = want[i];
        double err;
        if (isnan(v) || isnan(g))
            err = isnan(v) && isnan(g) ? 0.0 : INFINITY;
        else if (isinf(v) || isinf(g))
            err = g == v ? 0.0 : INFINITY;
        else
            err = fabs(g - v) / fmax(fabs(v), floor);
        if (err > worst) {
            worst = err;
            worst_i = i;
        }
    }
    if (worst > tol) {
        print_error("%s: worst element %zu: got %.9g, want %.9g (error %.3g > %.3g)\n", what,
                    worst_i, (double)got[worst_i], (double)want[worst_i], worst, tol);
        ok = false;
    }
    free(raw);
    free(got);
    free(want);
    return ok;
}

void twin_open_pair(const char *device, clt_context *ctx[2])
{
    ctx[0] = ts_context(device);
    ctx[1] = ts_context("host");
}

void twin_close_pair(clt_context *ctx[2])
{
    clt_context_destroy(ctx[0]);
    clt_context_destroy(ctx[1]);
}

/* The device ran every op itself where it says it supports the kind. */
void twin_assert_no_fallback(clt_context *ctx, clt_op_kind kind)
{
    bool supported = false;
    ts_assert_ok(clt_op_supported(ctx, kind, CLT_DTYPE_F32, &supported));
    clt_stats st;
    ts_assert_ok(clt_context_stats(ctx, &st));
    assert_true(st.ops_run > 0);
    if (supported)
        assert_int_equal(st.ops_fallback, 0);
}
