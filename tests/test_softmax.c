/* Softmax (both algorithms) and its gradient on every device against the host reference
 * run in a second context on "host": rows of 1 to 50257 elements (none a multiple of a
 * vector or work-group size), f32/f16/bf16, a row stride larger than the row and an
 * offset, in place, logits of ±80 and ±100 (where a naive sum of exp overflows), the
 * two-pass kernel's fallback rows (elements beyond 2^21 in magnitude), NaN and
 * infinities. Whole buffers are compared, so a write outside the tensor (row padding,
 * before the offset, past the end) fails. Then the reference itself: rows that sum to 1,
 * a hand-computed row, and the gradient against central differences; the gradient's
 * determinism; bad arguments. */
#include <math.h>

#include "backends/host/ref.h"
#include "support/support.h"
#include "support/twin.h"

#define F32 CLT_DTYPE_F32
#define F16 CLT_DTYPE_F16
#define BF16 CLT_DTYPE_BF16

/* Two ulps of the storage dtype, relative; f32's covers exp's argument rounding on
 * rows that span 160. */
static double tol_of(clt_dtype dt) { return dt == F32 ? 3e-5 : dt == F16 ? 2e-3 : 1.6e-2; }

/* Below f16's normal range its precision is absolute. */
static double floor_of(clt_dtype dt) { return dt == F16 ? 6.2e-5 : 1e-30; }

/* ---- forward ------------------------------------------------------------------------ */

struct fcase {
    int64_t n, C;
    clt_dtype dt;
    clt_softmax_algo algo;
    int64_t pad;   /* row stride = C + pad */
    size_t off;    /* elements before the tensor */
    bool in_place; /* y is x */
};

static bool run_forward(clt_context *const ctx[2], const char *device, const struct fcase *c,
                        const float *x)
{
    twin tx, ty;
    twin_rows(&tx, ctx, c->dt, c->n, c->C, c->C + c->pad, c->off, x);
    float *zeros = calloc((size_t)(c->n * c->C), sizeof(float));
    assert_non_null(zeros);
    if (!c->in_place)
        twin_rows(&ty, ctx, c->dt, c->n, c->C, c->C + 2 * c->pad + 1, c->off + 2, zeros);
    free(zeros);
    const twin *out = c->in_place ? &tx : &ty;
    bool ok = true;
    for (int k = 0; k < 2; k++) {
        clt_op op = {.kind = CLT_OP_SOFTMAX};
        op.u.softmax.x = tx.t[k];
        op.u.softmax.y = out->t[k];
        op.u.softmax.algo = c->algo;
        clt_status st = clt_op_run(ctx[k], &op, NULL);
        if (st != CLT_OK) {
            print_error("%s: softmax: %s: %s\n", k ? "host" : device, clt_status_name(st),
                        clt_last_error());
            ok = false;
        }
    }
    char what[160];
    snprintf(what, sizeof what, "%s: softmax %s %lldx%lld %s pad %lld off %zu%s", device,
             c->algo == CLT_SOFTMAX_TWO_PASS ? "two-pass" : "three-pass", (long long)c->n,
             (long long)c->C, clt_dtype_name(c->dt), (long long)c->pad, c->off,
             c->in_place ? " in place" : "");
    ok = ok && twin_close(out, tol_of(c->dt), floor_of(c->dt), what);
    if (ok && !c->in_place) /* x is an input: untouched */
        ok = twin_close(&tx, 0.0, 1.0, what);
    twin_free(&tx);
    if (!c->in_place)
        twin_free(&ty);
    return ok;
}

static void softmax_shapes(void **state)
{
    const char *device = *state;
    clt_context *ctx[2];
    twin_open_pair(device, ctx);
    ts_rng rng;
    ts_rng_seed(&rng, 101);
    static const int64_t ns[] = {1, 17, 100};
    static const int64_t Cs[] = {1, 17, 100, 257, 1000};
    static const clt_dtype dts[] = {F32, F16, BF16};
    int failures = 0, cases = 0;
    for (size_t in = 0; in < 3; in++)
        for (size_t ic = 0; ic < 5; ic++)
            for (size_t id = 0; id < 3; id++)
                for (int algo = 0; algo < 2; algo++) {
                    const struct fcase c = {ns[in], Cs[ic], dts[id], (clt_softmax_algo)algo,
                                            (int64_t)((in + ic) % 3) * 3, (in + id) % 2 ? 5 : 0,
                                            (in + ic + (size_t)algo) % 4 == 0};
                    float *x = malloc((size_t)(c.n * c.C) * sizeof(float));
                    assert_non_null(x);
                    ts_fill_floats(&rng, x, (size_t)(c.n * c.C), -8.0f, 8.0f);
                    failures += !run_forward(ctx, device, &c, x);
                    cases++;
                    free(x);
                }
    if (failures)
        fail_msg("%s: %d of %d softmax cases failed", device, failures, cases);
    twin_assert_no_fallback(ctx[0], CLT_OP_SOFTMAX);
    twin_close_pair(ctx);
}

/* GPT-2's vocabulary, logits of ±80 (Σ exp overflows f32) and of ±100 (exp itself does). */
static void softmax_long_rows_large_logits(void **state)
{
    const char *device = *state;
    clt_context *ctx[2];
    twin_open_pair(device, ctx);
    ts_rng rng;
    ts_rng_seed(&rng, 202);
    const int64_t n = 3, C = 50257;
    float *x = malloc((size_t)(n * C) * sizeof(float));
    assert_non_null(x);
    int failures = 0;
    for (int algo = 0; algo < 2; algo++) {
        ts_fill_floats(&rng, x, (size_t)(n * C), -80.0f, 80.0f);
        for (int64_t i = C; i < 2 * C; i++) /* row 1: ±100 */
            x[i] *= 1.25f;
        for (int64_t i = 2 * C; i < 3 * C; i++) /* row 2: all above 80 */
            x[i] = 85.0f + x[i] / 80.0f;
        const clt_dtype dts[] = {F32, BF16};
        for (int d = 0; d < 2; d++) {
            const struct fcase c = {n, C, dts[d], (clt_softmax_algo)algo, 7, 3, false};
            failures += !run_forward(ctx, device, &c, x);
        }
        const struct fcase f16 = {1, 1000, F16, (clt_softmax_algo)algo, 0, 0, true};
        ts_fill_floats(&rng, x, 1000, -60000.0f, 60000.0f); /* f16's range, ±exp overflow */
        failures += !run_forward(ctx, device, &f16, x);
    }
    free(x);
    if (failures)
        fail_msg("%s: %d long-row cases failed", device, failures);
    twin_close_pair(ctx);
}

/* Rows the two-pass kernel leaves to its three-pass fallback, and NaN and infinities:
 * each row of 37 elements, both algorithms; the outputs are compared with NaN only where
 * the host has NaN. */
static void softmax_special_rows(void **state)
{
    const char *device = *state;
    clt_context *ctx[2];
    twin_open_pair(device, ctx);
    ts_rng rng;
    ts_rng_seed(&rng, 303);
    enum { N = 8, C = 37 };
    float x[N * C];
    ts_fill_floats(&rng, x, N * C, -4.0f, 4.0f);
    x[0 * C + 5] = NAN;                       /* row 0: a NaN: all NaN */
    x[1 * C + 36] = INFINITY;                 /* row 1: +inf: all NaN */
    x[2 * C + 0] = x[2 * C + 20] = -INFINITY; /* row 2: -inf gives 0 */
    for (int i = 0; i < C; i++) {
        x[3 * C + i] = -INFINITY;                  /* row 3: all -inf: NaN */
        x[4 * C + i] = 1.0e7f + (float)(i % 5);    /* row 4: beyond the pair's range */
        x[5 * C + i] = -3.0e6f - (float)(i % 7);   /* row 5: all below -2^21 */
        x[6 * C + i] = (i % 2 ? -1.0f : 1.0f) * 3.0e6f; /* row 6: ±3e6 */
    }
    x[7 * C + 3] = -1.0e30f; /* row 7: one huge negative, clamped */
    int failures = 0;
    for (int algo = 0; algo < 2; algo++) {
        const struct fcase c = {N, C, F32, (clt_softmax_algo)algo, 1, 0, algo == 1};
        failures += !run_forward(ctx, device, &c, x);
        /* the NaN and infinity rows in the half dtypes */
        const struct fcase h = {4, C, F16, (clt_softmax_algo)algo, 0, 1, false};
        const struct fcase b = {4, C, BF16, (clt_softmax_algo)algo, 2, 0, true};
        failures += !run_forward(ctx, device, &h, x);
        failures += !run_forward(ctx, device, &b, x);
    }
    if (failures)
        fail_msg("%s: %d special-row cases failed", device, failures);
    twin_close_pair(ctx);
}

/* ---- backward ----------------------------------------------------------------------- */

static bool run_backward(clt_context *const ctx[2], const char *device, int64_t n, int64_t C,
                         clt_dtype dt, int64_t pad, bool in_place, ts_rng *rng)
{
    const size_t count = (size_t)(n * C);
    float *y = malloc(count * sizeof(float)), *dy = malloc(count * sizeof(float));
    assert_non_null(y);
    assert_non_null(dy);
    /* y: a softmax output (rows of positive numbers summing to 1) */
    clt_softmax_args sa = {.algo = CLT_SOFTMAX_TWO_PASS};
    ts_matrix_layout(&sa.x, F32, 0, n, C, C, 0, 0);
    sa.y = sa.x;
    ts_fill_floats(rng, y, count, -3.0f, 3.0f);
    clt_ref_softmax(&sa, y, y);
    ts_fill_floats(rng, dy, count, -1.0f, 1.0f);
    twin ty, tdy, tdx;
    twin_rows(&ty, ctx, dt, n, C, C + pad, 1, y);
    twin_rows(&tdy, ctx, dt, n, C, C + 2 * pad, 0, dy);
    if (!in_place)
        twin_rows(&tdx, ctx, dt, n, C, C + pad + 1, 4, y);
    const twin *out = in_place ? &tdy : &tdx;
    bool ok = true;
    for (int k = 0; k < 2; k++) {
        clt_op op = {.kind = CLT_OP_SOFTMAX_BWD};
        op.u.softmax_bwd.y = ty.t[k];
        op.u.softmax_bwd.dy = tdy.t[k];
        op.u.softmax_bwd.dx = out->t[k];
        clt_status st = clt_op_run(ctx[k], &op, NULL);
        if (st != CLT_OK) {
            print_error("%s: softmax_bwd: %s: %s\n", k ? "host" : device, clt_status_name(st),
                        clt_last_error());
            ok = false;
        }
    }
    char what[160];
    snprintf(what, sizeof what, "%s: softmax_bwd %lldx%lld %s pad %lld%s", device,
             (long long)n, (long long)C, clt_dtype_name(dt), (long long)pad,
             in_place ? " in place" : "");
    /* dx = y·(dy − dot) cancels where dy ≈ dot: there errors are relative to a hundredth
     * of dx's scale, 1/C */
    ok = ok && twin_close(out, tol_of(dt), fmax(1e-2 / (double)C, floor_of(dt)), what);
    twin_free(&ty);
    twin_free(&tdy);
    if (!in_place)
        twin_free(&tdx);
    free(y);
    free(dy);
    return ok;
}

static void softmax_bwd_shapes(void **state)
{
    const char *device = *state;
    clt_context *ctx[2];
    twin_open_pair(device, ctx);
    ts_rng rng;
    ts_rng_seed(&rng, 404);
    static const int64_t ns[] = {1, 17, 100};
    static const int64_t Cs[] = {1, 17, 100, 257, 1000};
    static const clt_dtype dts[] = {F32, F16, BF16};
    int failures = 0, cases = 0;
    for (size_t in = 0; in < 3; in++)
        for (size_t ic = 0; ic < 5; ic++)
            for (size_t id = 0; id < 3; id++) {
                failures += !run_backward(ctx, device, ns[in], Cs[ic], dts[id],
                                          (int64_t)(ic % 3) * 2, (in + ic + id) % 3 == 0, &rng);
                cases++;
            }
    failures += !run_backward(ctx, device, 2, 50257, F32, 3, false, &rng);
    if (failures)
        fail_msg("%s: %d of %d softmax_bwd cases failed", device, failures, cases + 1);
    twin_assert_no_fallback(ctx[0], CLT_OP_SOFTMAX_BWD);
    twin_close_pair(ctx);
}

/* The gradient twice on the same input: bit for bit the same. */
static void softmax_bwd_deterministic(void **state)
{
    const char *device = *state;
    clt_context *ctx = ts_context(device);
    ts_rng rng;
    ts_rng_seed(&rng, 505);
    const int64_t n = 13, C = 3001;
    const size_t count = (size_t)(n * C);
    float *h = malloc(count * sizeof(float));
    assert_non_null(h);
    ts_fill_floats(&rng, h, count, 0.0f, 1.0f);
    clt_buffer *y = ts_upload(ctx, CLT_TIER_DEVICE, h, count);
    ts_fill_floats(&rng, h, count, -1.0f, 1.0f);
    clt_buffer *dy = ts_upload(ctx, CLT_TIER_DEVICE, h, count);
    clt_buffer *dx = ts_buffer(ctx, CLT_TIER_DEVICE, count * sizeof(float), NULL);
    void *first = NULL;
    for (int run_i = 0; run_i < 2; run_i++) {
        clt_op op = {.kind = CLT_OP_SOFTMAX_BWD};
        ts_matrix_layout(&op.u.softmax_bwd.y, F32, 0, n, C, C, 0, 0);
        op.u.softmax_bwd.dy = op.u.softmax_bwd.dx = op.u.softmax_bwd.y;
        op.u.softmax_bwd.y.buf = y;
        op.u.softmax_bwd.dy.buf = dy;
        op.u.softmax_bwd.dx.buf = dx;
        ts_assert_ok(clt_op_run(ctx, &op, NULL));
        if (run_i == 0) {
            first = ts_download_all(dx);
            ts_assert_ok(clt_buffer_write(dx, 0, h, count * sizeof(float), NULL));
        }
    }
    ts_assert_buffer_equals(dx, first, count * sizeof(float));
    free(first);
    free(h);
    clt_buffer_destroy(y);
    clt_buffer_destroy(dy);
    clt_buffer_destroy(dx);
    clt_context_destroy(ctx);
}

/* ---- the GPU's group shapes ------------------------------------------------------------ */

/* Several work-items per row and several rows per group — the barriers, the tree
 * reductions and the group-wide choice of the two-pass kernel's fallback, which GPUs run
 * — on whatever device runs the test, through $CLT_ROWS_SHAPE (PoCL runs any group). The
 * host ignores it. */
static void softmax_group_shapes(void **state)
{
    const char *device = *state;
    clt_context *ctx[2];
    twin_open_pair(device, ctx);
    ts_rng rng;
    ts_rng_seed(&rng, 707);
    /* a long row's group, short rows' groups, scalar loads; f32 only (each shape and
     * dtype is a program to build, and the dtypes' loads are those of the other tests) */
    static const char *const shapes[] = {"256x1x4", "32x8x4", "8x4x1"};
    static const int64_t ns[] = {1, 17};
    static const int64_t Cs[] = {17, 257, 1000};
    enum { SPECIAL_N = 9, SPECIAL_C = 33 };
    float special[SPECIAL_N * SPECIAL_C];
    ts_fill_floats(&rng, special, SPECIAL_N * SPECIAL_C, -4.0f, 4.0f);
    special[1 * SPECIAL_C + 7] = NAN;
    special[4 * SPECIAL_C + 2] = 1.0e7f; /* its group takes the three-pass way */
    special[6 * SPECIAL_C + 30] = -INFINITY;
    float *x = malloc(2 * 50257 * sizeof(float));
    assert_non_null(x);
    int failures = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        setenv("CLT_ROWS_SHAPE", shapes[s], 1);
        for (size_t in = 0; in < 2; in++)
            for (size_t ic = 0; ic < 3; ic++)
                for (int algo = 0; algo < 2; algo++) {
                    const struct fcase c = {ns[in], Cs[ic], F32, (clt_softmax_algo)algo,
                                            (int64_t)ic * 3, in, (ic + (size_t)algo) % 2 == 1};
                    ts_fill_floats(&rng, x, (size_t)(c.n * c.C), -8.0f, 8.0f);
                    failures += !run_forward(ctx, device, &c, x);
                }
        ts_fill_floats(&rng, x, 2 * 50257, -80.0f, 80.0f);
        const struct fcase wide = {2, 50257, F32, CLT_SOFTMAX_TWO_PASS, 1, 0, false};
        failures += !run_forward(ctx, device, &wide, x);
        for (int algo = 0; algo < 2; algo++) {
            const struct fcase c = {SPECIAL_N, SPECIAL_C, F32, (clt_softmax_algo)algo, 2, 1,
                                    false};
            failures += !run_forward(ctx, device, &c, special);
        }
        failures += !run_backward(ctx, device, 17, 1000, F32, 1, false, &rng);
        failures += !run_backward(ctx, device, 3, 257, F32, 0, true, &rng);
        if (failures)
            print_error("%s: CLT_ROWS_SHAPE=%s: %d failures so far\n", device, shapes[s],
                        failures);
    }
    unsetenv("CLT_ROWS_SHAPE");
    free(x);
    if (failures)
        fail_msg("%s: %d softmax cases failed in the GPU's group shapes", device, failures);
    twin_close_pair(ctx);
}

/* ---- bad arguments ------------------------------------------------------------------- */

static void softmax_bad_arguments(void **state)
{
    const char *device = *state;
    clt_context *ctx = ts_context(device);
    float h[6 * 5];
    for (int i = 0; i < 30; i++)
        h[i] = (float)i;
    clt_buffer *x = ts_upload(ctx, CLT_TIER_DEVICE, h, 30);
    clt_buffer *y = ts_buffer(ctx, CLT_TIER_DEVICE, sizeof h, NULL);
    void *before = ts_download_all(y);

    clt_op op = {.kind = CLT_OP_SOFTMAX};
    ts_assert_ok(clt_tensor_init(&op.u.softmax.x, x, 0, F32, 2, (const int64_t[]){6, 5}));
    ts_assert_ok(clt_tensor_init(&op.u.softmax.y, y, 0, F32, 2, (const int64_t[]){6, 5}));
    op.u.softmax.algo = (clt_softmax_algo)7;
    ts_assert_status(clt_op_run(ctx, &op, NULL), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("softmax");
    ts_assert_error_mentions("algo");

    op.u.softmax.algo = CLT_SOFTMAX_THREE_PASS;
    ts_assert_ok(clt_tensor_init(&op.u.softmax.y, y, 0, F32, 2, (const int64_t[]){5, 6}));
    ts_assert_status(clt_op_run(ctx, &op, NULL), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("softmax");
    ts_assert_error_mentions("argument y");

    /* rows must be contiguous */
    ts_assert_ok(clt_tensor_init(&op.u.softmax.y, y, 0, F32, 2, (const int64_t[]){6, 5}));
    op.u.softmax.x.strides[1] = 2;
    op.u.softmax.x.shape[1] = 3;
    op.u.softmax.y.shape[1] = 3;
    op.u.softmax.y.strides[0] = 3;
    ts_assert_status(clt_op_run(ctx, &op, NULL), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("argument x");
    ts_assert_buffer_equals(y, before, sizeof h);

    /* the gradient: dy of another shape */
    clt_op bwd = {.kind = CLT_OP_SOFTMAX_BWD};
    ts_assert_ok(clt_tensor_init(&bwd.u.softmax_bwd.y, x, 0, F32, 2, (const int64_t[]){6, 5}));
    ts_assert_ok(clt_tensor_init(&bwd.u.softmax_bwd.dy, x, 0, F32, 2, (const int64_t[]){6, 4}));
    ts_assert_ok(clt_tensor_init(&bwd.u.softmax_bwd.dx, y, 0, F32, 2, (const int64_t[]){6, 5}));
    ts_assert_status(clt_op_run(ctx, &bwd, NULL), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("softmax_bwd");
    ts_assert_error_mentions("argument dy");
    /* dx may be dy, but not y */
    ts_assert_ok(clt_tensor_init(&bwd.u.softmax_bwd.dy, y, 0, F32, 2, (const int64_t[]){6, 5}));
    bwd.u.softmax_bwd.dx = bwd.u.softmax_bwd.y;
    ts_assert_status(clt_op_run(ctx, &bwd, NULL), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("argument dx");
    ts_assert_buffer_equals(y, before, sizeof h);

    free(before);
    clt_buffer_destroy(x);
    clt_buffer_destroy(y);
    clt_context_destroy(ctx);
}

/* ---- the reference itself ----------------------------------------------------------- */

static void ref_softmax_by_hand(void **state)
{
    (void)state;
    /* softmax(0, ln 2, ln 3, -inf) = (1, 2, 3, 0)/6 */
    float x[4] = {0.0f, logf(2.0f), logf(3.0f), -INFINITY}, y[4];
    clt_softmax_args a = {.algo = CLT_SOFTMAX_TWO_PASS};
    ts_matrix_layout(&a.x, F32, 0, 1, 4, 4, 0, 0);
    a.y = a.x;
    clt_ref_softmax(&a, x, y);
    const float want[4] = {1.0f / 6, 2.0f / 6, 3.0f / 6, 0.0f};
    assert_true(ts_close(y, want, 4, 1e-6, "softmax by hand"));
    /* shifting a row changes nothing; rows sum to 1 even at ±1000 */
    float big[4] = {1000.0f, 1000.0f + logf(2.0f), 1000.0f + logf(3.0f), -1000.0f};
    clt_ref_softmax(&a, big, y);
    assert_true(ts_close(y, want, 4, 1e-4, "softmax shifted by 1000"));
    /* in place, and NaN takes the row */
    float z[4] = {1.0f, NAN, 2.0f, 3.0f};
    clt_ref_softmax(&a, z, z);
    for (int i = 0; i < 4; i++)
        assert_true(isnan(z[i]));
}

/* dx of loss(x) = Σ w∘softmax(x), from the reference's gradient with dy = w, against
 * central differences of the reference's forward pass. */
static void ref_softmax_bwd_finite_differences(void **state)
{
    (void)state;
    ts_rng rng;
    ts_rng_seed(&rng, 606);
    enum { N = 3, C = 7 };
    float x[N * C], w[N * C], y[N * C], dx[N * C];
    ts_fill_floats(&rng, x, N * C, -2.0f, 2.0f);
    ts_fill_floats(&rng, w, N * C, -1.0f, 1.0f);
    clt_softmax_args fa = {.algo = CLT_SOFTMAX_TWO_PASS};
    ts_matrix_layout(&fa.x, F32, 0, N, C, C, 0, 0);
    fa.y = fa.x;
    clt_softmax_bwd_args ba;
    ba.y = ba.dy = ba.dx = fa.x;
    clt_ref_softmax(&fa, x, y);
    clt_ref_softmax_bwd(&ba, y, w, dx);
    const float eps = 1e-2f;
    double worst = 0.0, scale = 0.0;
    for (int i = 0; i < N * C; i++)
        scale = fmax(scale, fabs(dx[i]));
    for (int i = 0; i < N * C; i++) {
        double l[2];
        for (int s = 0; s < 2; s++) {
            float xp[N * C];
            memcpy(xp, x, sizeof x);
            xp[i] += s ? -eps : eps;
            clt_ref_softmax(&fa, xp, y);
            l[s] = 0.0;
            for (int j = 0; j < N * C; j++)
                l[s] += (double)w[j] * y[j];
        }
        const double fd = (l[0] - l[1]) / (2.0 * eps);
        worst = fmax(worst, fabs(fd - dx[i]) / fmax(fabs(dx[i]), 0.1 * scale));
    }
    if (worst > 1e-2)
        fail_msg("softmax_bwd differs from central differences by %.3g (relative)", worst);
}

int main(void)
{
    const struct CMUnitTest ref_tests[] = {
        cmocka_unit_test(ref_softmax_by_hand),
        cmocka_unit_test(ref_softmax_bwd_finite_differences),
    };
    int failed = cmocka_run_group_tests_name("softmax reference", ref_tests, NULL, NULL);
    const ts_device_test tests[] = {
        {"softmax_shapes", softmax_shapes},
        {"softmax_long_rows_large_logits", softmax_long_rows_large_logits},
        {"softmax_special_rows", softmax_special_rows},
        {"softmax_bwd_shapes", softmax_bwd_shapes},
        {"softmax_bwd_deterministic", softmax_bwd_deterministic},
        {"softmax_bad_arguments", softmax_bad_arguments},
        {"softmax_group_shapes", softmax_group_shapes},
    };
    return failed + ts_run_per_device("softmax", tests, sizeof tests / sizeof tests[0]);
}
