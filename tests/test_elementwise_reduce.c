/* The elementwise family's reductions, bias_grad and sqnorm, on every device against
 * the host reference run on the same bytes in a second context on "host", and the
 * reference against exact sums. Whole numbers make every sum exact in f32 whatever its
 * order, so device and host must agree bit for bit; fractional data checks the f32
 * error and, run twice, that a device's result does not change (determinism). Also:
 * accumulate both ways, rows with padding, one norm over three tensors against the
 * norm of their concatenation, NaN and infinity, bias_grad against finite differences
 * of bias_add on the host, and bad input. */
#include "elementwise_fixture.h"

/* ---- bias_grad ----------------------------------------------------------------------- */

static const struct rows_shape grad_shapes[] = {
    {1, 1, 1, 0},       {7, 17, 17, 1},     {100, 3, 5, 4},       {257, 33, 40, 3},
    {1000, 100, 100, 8}, {3, 1000, 1003, 2}, {100003, 1, 2, 1},    {20000, 7, 9, 0},
    {300007, 2, 3, 5}, /* more chunks than a device takes: longer chunks */
};
#define N_GRAD_SHAPES (sizeof grad_shapes / sizeof grad_shapes[0])

/* Runs bias_grad in both contexts; dy whole numbers in [-8, 8] (`ints`) or fractions in
 * [0, 1). Returns whether all checks held. */
static bool run_bias_grad(clt_context *const ctx[2], const char *device, clt_dtype d,
                          const struct rows_shape *sh, bool accumulate, bool ints, ts_rng *rng)
{
    const size_t es = clt_dtype_size(d), cols = (size_t)sh->cols;
    char what[160];
    snprintf(what, sizeof what, "%s: bias_grad %s %lldx%lld ld %lld%s%s", device,
             clt_dtype_name(d), (long long)sh->rows, (long long)sh->cols, (long long)sh->ld,
             accumulate ? " accumulate" : "", ints ? "" : " fractions");
    struct operand dy, db;
    operand_init(&dy, d, sh->off, rows_total(sh));
    for (size_t i = 0; i < dy.total; i++)
        if (in_rows(sh, i))
            dy.init[i] = ints ? (float)ts_rng_int(rng, -8, 8) : ts_rng_float(rng, 0.0f, 1.0f);
    operand_upload(&dy, ctx);
    operand_init(&db, d, 2, 2 + cols + GUARD);
    ts_fill_ints(rng, db.init + db.off, cols, -20, 20);
    operand_upload(&db, ctx);
    for (int k = 0; k < 2; k++) {
        clt_op op;
        memset(&op, 0, sizeof op);
        op.kind = CLT_OP_BIAS_GRAD;
        ts_matrix_layout(&op.u.bias_grad.dy, d, 0, sh->rows, sh->cols, sh->ld, 0, sh->off);
        op.u.bias_grad.dy.buf = dy.buf[k];
        const int64_t n[1] = {sh->cols};
        ts_assert_ok(clt_tensor_init(&op.u.bias_grad.dbias, db.buf[k], db.off * es, d, 1, n));
        op.u.bias_grad.accumulate = accumulate;
        ts_assert_ok(clt_op_run(ctx[k], &op, NULL));
    }
    operand_download(&dy);
    operand_download(&db);
    const struct contiguous_span span = {db.off, cols};
    bool ok = untouched(&dy, what) && guards_kept(&db, in_span, &span, what);
    ok = ok && ts_close(db.got[DEV] + db.off, db.got[HOST] + db.off, cols,
                        ints ? 0.0 : tol_dev(d), what);
    float *want = malloc(cols * sizeof(float));
    assert_non_null(want);
    for (size_t c = 0; c < cols; c++) {
        double sum = accumulate ? db.init[db.off + c] : 0.0;
        for (int64_t r = 0; r < sh->rows; r++)
            sum += dy.init[sh->off + (size_t)(r * sh->ld) + c];
        want[c] = (float)sum;
    }
    char ref_what[200];
    snprintf(ref_what, sizeof ref_what, "%s (host reference against the exact sum)", what);
    round_to(d, want, cols);
    ok = ok && ts_close(db.got[HOST] + db.off, want, cols, ints ? 0.0 : tol_ref(d), ref_what);
    free(want);
    operand_free(&dy);
    operand_free(&db);
    return ok;
}

static void bias_grad_rows(void **state)
{
    const char *device = *state;
    clt_context *ctx[2];
    contexts(device, ctx);
    ts_rng rng;
    ts_rng_seed(&rng, 4242);
    int failures = 0, runs = 0;
    for (size_t d = 0; d < N_DTYPES; d++)
        for (size_t s = 0; s < N_GRAD_SHAPES; s++)
            for (int acc = 0; acc < 2; acc++, runs++)
                failures += !run_bias_grad(ctx, device, dtypes[d], &grad_shapes[s], acc, true,
                                           &rng);
    for (size_t s = 0; s < N_GRAD_SHAPES; s++, runs++)
        failures += !run_bias_grad(ctx, device, CLT_DTYPE_F32, &grad_shapes[s], s % 2, false,
                                   &rng);
    if (failures)
        fail_msg("%s: %d of %d bias_grad cases failed", device, failures, runs);
    assert_no_fallback(ctx[DEV], CLT_OP_BIAS_GRAD);
    clt_context_destroy(ctx[DEV]);
    clt_context_destroy(ctx[HOST]);
}

/* ---- sqnorm -------------------------------------------------------------------------- */

static const struct shape norm_shapes[] = {
    {1, {1}},          {1, {7}},        {2, {1, 17}},      {2, {4, 25}},    {1, {257}},
    {3, {10, 10, 10}}, {4, {2, 3, 5, 7}}, {1, {100003}},   {2, {1025, 1023}},
};
#define N_NORM_SHAPES (sizeof norm_shapes / sizeof norm_shapes[0])

/* norm (1,) f32 at element 3 of a buffer of sentinels, in both contexts. */
static bool run_sqnorm(clt_context *const ctx[2], const char *device, clt_dtype d,
                       const struct shape *sh, bool aligned, bool accumulate, bool ints,
                       ts_rng *rng)
{
    const size_t n = numel(sh), es = clt_dtype_size(d), x_off = aligned ? 8 : 3;
    char what[160];
    snprintf(what, sizeof what, "%s: sqnorm %s n=%zu rank %d%s%s%s", device, clt_dtype_name(d),
             n, sh->rank, aligned ? "" : " unaligned", accumulate ? " accumulate" : "",
             ints ? "" : " fractions");
    struct operand x, norm;
    operand_init(&x, d, x_off, x_off + n + GUARD);
    if (ints)
        ts_fill_ints(rng, x.init + x_off, n, -3, 3); /* Σ x² < 2^24: exact in f32 */
    else
        ts_fill_floats(rng, x.init + x_off, n, -1.0f, 1.0f);
    operand_upload(&x, ctx);
    operand_init(&norm, CLT_DTYPE_F32, 3, 3 + 1 + GUARD);
    norm.init[3] = 5.0f;
    operand_upload(&norm, ctx);
    for (int k = 0; k < 2; k++) {
        clt_op op;
        memset(&op, 0, sizeof op);
        op.kind = CLT_OP_SQNORM;
        ts_assert_ok(clt_tensor_init(&op.u.sqnorm.x, x.buf[k], x_off * es, d, sh->rank, sh->dims));
        const int64_t one[1] = {1};
        ts_assert_ok(clt_tensor_init(&op.u.sqnorm.norm, norm.buf[k], 3 * sizeof(float),
                                     CLT_DTYPE_F32, 1, one));
        op.u.sqnorm.accumulate = accumulate;
        ts_assert_ok(clt_op_run(ctx[k], &op, NULL));
    }
    operand_download(&x);
    operand_download(&norm);
    const struct contiguous_span span = {3, 1};
    bool ok = untouched(&x, what) && guards_kept(&norm, in_span, &span, what);
    /* f32 lanes of at most a few hundred squares each, then trees: 1e-5 is ample */
    ok = ok && ts_close(norm.got[DEV] + 3, norm.got[HOST] + 3, 1, ints ? 0.0 : 1e-5, what);
    double sum = accumulate ? 5.0 : 0.0;
    for (size_t i = 0; i < n; i++)
        sum += (double)x.init[x_off + i] * x.init[x_off + i];
    const float want = (float)sum;
    char ref_what[200];
    snprintf(ref_what, sizeof ref_what, "%s (host reference against the exact sum)", what);
    ok = ok && ts_close(norm.got[HOST] + 3, &want, 1, 0.0, ref_what);
    operand_free(&x);
    operand_free(&norm);
    return ok;
}

static void sqnorm_shapes(void **state)
{
    const char *device = *state;
    clt_context *ctx[2];
    contexts(device, ctx);
    ts_rng rng;
    ts_rng_seed(&rng, 31337);
    int failures = 0, runs = 0;
    for (size_t d = 0; d < N_DTYPES; d++)
        for (size_t s = 0; s < N_NORM_SHAPES; s++)
            for (int variant = 0; variant < 4; variant++, runs++)
                failures += !run_sqnorm(ctx, device, dtypes[d], &norm_shapes[s], variant & 1,
                                        variant & 2, true, &rng);
    for (size_t s = 0; s < N_NORM_SHAPES; s++, runs++)
        failures += !run_sqnorm(ctx, device, CLT_DTYPE_F32, &norm_shapes[s], s % 2, s % 3 == 0,
                                false, &rng);
    if (failures)
        fail_msg("%s: %d of %d sqnorm cases failed", device, failures, runs);
    assert_no_fallback(ctx[DEV], CLT_OP_SQNORM);
    clt_context_destroy(ctx[DEV]);
    clt_context_destroy(ctx[HOST]);
}

static clt_op sqnorm_op(clt_buffer *x, size_t first, int64_t n, clt_buffer *norm, bool acc)
{
    clt_op op;
    memset(&op, 0, sizeof op);
    op.kind = CLT_OP_SQNORM;
    const int64_t shape[1] = {n}, one[1] = {1};
    ts_assert_ok(clt_tensor_init(&op.u.sqnorm.x, x, first * sizeof(float), CLT_DTYPE_F32, 1,
                                 shape));
    ts_assert_ok(clt_tensor_init(&op.u.sqnorm.norm, norm, 0, CLT_DTYPE_F32, 1, one));
    op.u.sqnorm.accumulate = acc;
    return op;
}

/* One norm over three tensors (accumulate) is the norm of their concatenation; the
 * same op twice gives the same bits. */
static void sqnorm_accumulate_and_repeat(void **state)
{
    const char *device = *state;
    clt_context *ctx = ts_context(device);
    enum { N0 = 1000, N1 = 257, N2 = 100003, N = N0 + N1 + N2 };
    float *x = malloc(N * sizeof(float));
    assert_non_null(x);
    ts_rng rng;
    ts_rng_seed(&rng, 8);
    ts_fill_floats(&rng, x, N, -2.0f, 2.0f);
    clt_buffer *xb = ts_upload(ctx, CLT_TIER_DEVICE, x, N);
    clt_buffer *parts = ts_buffer(ctx, CLT_TIER_DEVICE, sizeof(float), NULL);
    clt_buffer *whole = ts_buffer(ctx, CLT_TIER_DEVICE, sizeof(float), NULL);
    clt_op op = sqnorm_op(xb, 0, N0, parts, false);
    ts_assert_ok(clt_op_run(ctx, &op, NULL));
    op = sqnorm_op(xb, N0, N1, parts, true);
    ts_assert_ok(clt_op_run(ctx, &op, NULL));
    op = sqnorm_op(xb, N0 + N1, N2, parts, true);
    ts_assert_ok(clt_op_run(ctx, &op, NULL));
    op = sqnorm_op(xb, 0, N, whole, false);
    ts_assert_ok(clt_op_run(ctx, &op, NULL));
    float got_parts, got_whole, again;
    ts_download(parts, 0, &got_parts, 1);
    ts_download(whole, 0, &got_whole, 1);
    double exact = 0;
    for (int i = 0; i < N; i++)
        exact += (double)x[i] * x[i];
    const float want = (float)exact;
    assert_true(ts_close(&got_parts, &got_whole, 1, 1e-5, "three tensors vs their concatenation"));
    assert_true(ts_close(&got_whole, &want, 1, 1e-5, "sqnorm vs the exact sum"));
    clt_event *ev = NULL; /* asynchronously: the partial sums must outlive the call */
    ts_assert_ok(clt_op_run(ctx, &op, &ev));
    ts_assert_ok(clt_event_wait(ev));
    clt_event_destroy(ev);
    ts_download(whole, 0, &again, 1);
    assert_memory_equal(&again, &got_whole, sizeof again);
    free(x);
    clt_buffer_destroy(xb);
    clt_buffer_destroy(parts);
    clt_buffer_destroy(whole);
    clt_context_destroy(ctx);
}

/* A NaN anywhere (a vector's lane, the tail) makes the norm NaN; an infinity makes it
 * infinite; with accumulate, a NaN norm stays NaN. */
static void sqnorm_nan_and_inf(void **state)
{
    const char *device = *state;
    clt_context *ctx = ts_context(device);
    enum { N = 100003 };
    float *x = malloc(N * sizeof(float));
    assert_non_null(x);
    const size_t where[] = {0, 5, 4099, N - 1};
    for (size_t w = 0; w < sizeof where / sizeof where[0]; w++) {
        for (int inf = 0; inf < 2; inf++) {
            ts_fill_value(x, N, 0.5f);
            x[where[w]] = inf ? -INFINITY : NAN;
            clt_buffer *xb = ts_upload(ctx, CLT_TIER_DEVICE, x, N);
            clt_buffer *norm = ts_buffer(ctx, CLT_TIER_DEVICE, sizeof(float), NULL);
            clt_op op = sqnorm_op(xb, 0, N, norm, false);
            ts_assert_ok(clt_op_run(ctx, &op, NULL));
            float got;
            ts_download(norm, 0, &got, 1);
            if (inf ? !(isinf(got) && got > 0) : !isnan(got))
                fail_msg("%s: sqnorm with %s at %zu gave %g", device, inf ? "-inf" : "NaN",
                         where[w], (double)got);
            clt_buffer_destroy(xb);
            clt_buffer_destroy(norm);
        }
    }
    /* a NaN norm accumulates into NaN */
    ts_fill_value(x, N, 0.5f);
    clt_buffer *xb = ts_upload(ctx, CLT_TIER_DEVICE, x, N);
    const float nan = NAN;
    clt_buffer *norm = ts_upload(ctx, CLT_TIER_DEVICE, &nan, 1);
    clt_op op = sqnorm_op(xb, 0, N, norm, true);
    ts_assert_ok(clt_op_run(ctx, &op, NULL));
    float got;
    ts_download(norm, 0, &got, 1);
    assert_true(isnan(got));
    clt_buffer_destroy(xb);
    clt_buffer_destroy(norm);
    free(x);
    clt_context_destroy(ctx);
}

/* bias_grad on fractions twice: the same bits (its partial sums have a fixed order). */
static void bias_grad_repeat(void **state)
{
    const char *device = *state;
    clt_context *ctx = ts_context(device);
    enum { ROWS = 100003, COLS = 5 };
    float *dy = malloc((size_t)ROWS * COLS * sizeof(float));
    assert_non_null(dy);
    ts_rng rng;
    ts_rng_seed(&rng, 99);
    ts_fill_floats(&rng, dy, (size_t)ROWS * COLS, -1.0f, 1.0f);
    clt_buffer *dyb = ts_upload(ctx, CLT_TIER_DEVICE, dy, (size_t)ROWS * COLS);
    clt_buffer *db = ts_buffer(ctx, CLT_TIER_DEVICE, COLS * sizeof(float), NULL);
    clt_op op;
    memset(&op, 0, sizeof op);
    op.kind = CLT_OP_BIAS_GRAD;
    const int64_t shape[2] = {ROWS, COLS}, cols[1] = {COLS};
    ts_assert_ok(clt_tensor_init(&op.u.bias_grad.dy, dyb, 0, CLT_DTYPE_F32, 2, shape));
    ts_assert_ok(clt_tensor_init(&op.u.bias_grad.dbias, db, 0, CLT_DTYPE_F32, 1, cols));
    float first[COLS], second[COLS], want[COLS];
    ts_assert_ok(clt_op_run(ctx, &op, NULL));
    ts_download(db, 0, first, COLS);
    ts_assert_ok(clt_op_run(ctx, &op, NULL));
    ts_download(db, 0, second, COLS);
    assert_memory_equal(first, second, sizeof first);
    for (int c = 0; c < COLS; c++) {
        double sum = 0;
        for (int r = 0; r < ROWS; r++)
            sum += dy[(size_t)r * COLS + (size_t)c];
        want[c] = (float)sum;
    }
    /* sums of ~300 in magnitude from 1e5 terms in f32: an absolute error well under 1e-2 */
    for (int c = 0; c < COLS; c++)
        if (fabs((double)first[c] - want[c]) > 1e-2)
            fail_msg("%s: bias_grad column %d: %.7g, exact %.7g", device, c, (double)first[c],
                     (double)want[c]);
    free(dy);
    clt_buffer_destroy(dyb);
    clt_buffer_destroy(db);
    clt_context_destroy(ctx);
}

/* ---- bad input ----------------------------------------------------------------------- */

static void bad_input(void **state)
{
    const char *device = *state;
    clt_context *ctx = ts_context(device);
    float init[16];
    for (int i = 0; i < 16; i++)
        init[i] = 0.25f * (float)i;
    clt_buffer *x = ts_upload(ctx, CLT_TIER_DEVICE, init, 16);
    clt_buffer *out = ts_upload(ctx, CLT_TIER_DEVICE, init, 16);

    /* sqnorm: norm of shape (2,) */
    clt_op op = sqnorm_op(x, 0, 16, out, false);
    op.u.sqnorm.norm.shape[0] = 2;
    ts_assert_status(clt_op_run(ctx, &op, NULL), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("sqnorm");
    ts_assert_error_mentions("argument norm");
    ts_assert_buffer_equals(out, init, sizeof init);
    /* sqnorm: norm in f16 (statistics are f32) */
    op = sqnorm_op(x, 0, 16, out, false);
    op.u.sqnorm.norm.dtype = CLT_DTYPE_F16;
    ts_assert_status(clt_op_run(ctx, &op, NULL), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("argument norm");
    ts_assert_buffer_equals(out, init, sizeof init);

    /* bias_grad: dbias of 3 for rows of 4 */
    memset(&op, 0, sizeof op);
    op.kind = CLT_OP_BIAS_GRAD;
    const int64_t rows[2] = {4, 4}, three[1] = {3};
    ts_assert_ok(clt_tensor_init(&op.u.bias_grad.dy, x, 0, CLT_DTYPE_F32, 2, rows));
    ts_assert_ok(clt_tensor_init(&op.u.bias_grad.dbias, out, 0, CLT_DTYPE_F32, 1, three));
    ts_assert_status(clt_op_run(ctx, &op, NULL), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("bias_grad");
    ts_assert_error_mentions("argument dbias");
    ts_assert_buffer_equals(out, init, sizeof init);

    clt_buffer_destroy(x);
    clt_buffer_destroy(out);
    clt_context_destroy(ctx);
}

/* ---- the reference's gradient: finite differences ------------------------------------ */

enum { FD_ROWS = 3, FD_COLS = 4 };

/* L(bias) = Σ w · (y0 + bias) through bias_add on the host. */
static double bias_loss(clt_context *host, clt_buffer *yb, clt_buffer *bb, const float *y0,
                        const float *bias, const float *w)
{
    ts_assert_ok(clt_buffer_write(yb, 0, y0, FD_ROWS * FD_COLS * sizeof(float), NULL));
    ts_assert_ok(clt_buffer_write(bb, 0, bias, FD_COLS * sizeof(float), NULL));
    clt_op op;
    memset(&op, 0, sizeof op);
    op.kind = CLT_OP_BIAS_ADD;
    const int64_t shape[2] = {FD_ROWS, FD_COLS}, cols[1] = {FD_COLS};
    ts_assert_ok(clt_tensor_init(&op.u.bias_add.y, yb, 0, CLT_DTYPE_F32, 2, shape));
    ts_assert_ok(clt_tensor_init(&op.u.bias_add.bias, bb, 0, CLT_DTYPE_F32, 1, cols));
    ts_assert_ok(clt_op_run(host, &op, NULL));
    float y[FD_ROWS * FD_COLS];
    ts_download(yb, 0, y, FD_ROWS * FD_COLS);
    double loss = 0;
    for (int i = 0; i < FD_ROWS * FD_COLS; i++)
        loss += (double)w[i] * y[i];
    return loss;
}

static void bias_grad_finite_differences(void **state)
{
    (void)state;
    clt_context *host = ts_context("host");
    const float eps = 1e-2f;
    float y0[FD_ROWS * FD_COLS], w[FD_ROWS * FD_COLS], bias[FD_COLS], grad[FD_COLS];
    ts_rng rng;
    ts_rng_seed(&rng, 12);
    ts_fill_floats(&rng, y0, FD_ROWS * FD_COLS, -1.0f, 1.0f);
    ts_fill_floats(&rng, w, FD_ROWS * FD_COLS, -1.0f, 1.0f);
    ts_fill_floats(&rng, bias, FD_COLS, -1.0f, 1.0f);
    clt_buffer *yb = ts_buffer(host, CLT_TIER_DEVICE, sizeof y0, NULL);
    clt_buffer *bb = ts_buffer(host, CLT_TIER_DEVICE, sizeof bias, NULL);
    clt_buffer *wb = ts_upload(host, CLT_TIER_DEVICE, w, FD_ROWS * FD_COLS);
    clt_op op;
    memset(&op, 0, sizeof op);
    op.kind = CLT_OP_BIAS_GRAD;
    const int64_t shape[2] = {FD_ROWS, FD_COLS}, cols[1] = {FD_COLS};
    ts_assert_ok(clt_tensor_init(&op.u.bias_grad.dy, wb, 0, CLT_DTYPE_F32, 2, shape));
    ts_assert_ok(clt_tensor_init(&op.u.bias_grad.dbias, bb, 0, CLT_DTYPE_F32, 1, cols));
    ts_assert_ok(clt_op_run(host, &op, NULL));
    ts_download(bb, 0, grad, FD_COLS);
    for (int c = 0; c < FD_COLS; c++) {
        float bp[FD_COLS], bm[FD_COLS];
        memcpy(bp, bias, sizeof bias);
        memcpy(bm, bias, sizeof bias);
        bp[c] += eps;
        bm[c] -= eps;
        const double fd =
            (bias_loss(host, yb, bb, y0, bp, w) - bias_loss(host, yb, bb, y0, bm, w)) / (2.0 * eps);
        if (fabs(fd - grad[c]) > 1e-2 * fabs(fd) + 1e-3)
            fail_msg("bias_grad column %d: analytic %.6g, central difference %.6g", c,
                     (double)grad[c], fd);
    }
    clt_buffer_destroy(yb);
    clt_buffer_destroy(bb);
    clt_buffer_destroy(wb);
    clt_context_destroy(host);
}

int main(void)
{
    const ts_device_test tests[] = {
        {"bias_grad_rows", bias_grad_rows},
        {"bias_grad_repeat", bias_grad_repeat},
        {"sqnorm_shapes", sqnorm_shapes},
        {"sqnorm_accumulate_and_repeat", sqnorm_accumulate_and_repeat},
        {"sqnorm_nan_and_inf", sqnorm_nan_and_inf},
        {"bad_input", bad_input},
    };
    const struct CMUnitTest host_tests[] = {
        cmocka_unit_test(bias_grad_finite_differences),
    };
    int failed = ts_run_per_device("elementwise_reduce", tests, sizeof tests / sizeof tests[0]);
    return failed + cmocka_run_group_tests_name("bias_grad reference", host_tests, NULL, NULL);
}
