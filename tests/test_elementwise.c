/* GELU forward and backward, add, scale and bias add on every device, against the host
 * driver's reference run on the same bytes in a second context on "host"; the
 * reference itself against double-precision formulas, and gelu_bwd against finite
 * differences of gelu_fwd. f32, f16 and bf16; sizes that are multiples of no vector or
 * work-group width, ranks 1 to 4; tensors that start on a vector boundary and tensors
 * that do not; every in-place form; rows with padding. Each buffer has sentinels before
 * and after its tensor (and between rows), which must survive; inputs must be
 * untouched. Bad input: CLT_ERR_INVALID_ARG naming op and argument, nothing written. */
#include <math.h>

#include "elementwise_fixture.h"

#define SQRT_2_OVER_PI 0.79788456080286535588

/* ---- contiguous ops: gelu_fwd, gelu_bwd, add, scale ---------------------------------- */

static const struct shape shapes[] = {
    {1, {1}},         {1, {7}},         {2, {1, 17}},         {2, {4, 25}},
    {1, {257}},       {3, {10, 10, 10}}, {4, {2, 3, 5, 7}},   {1, {100003}},
};
#define N_SHAPES (sizeof shapes / sizeof shapes[0])

enum ew_kind { GELU_FWD, GELU_BWD, ADD, SCALE };

struct ew_variant {
    enum ew_kind kind;
    int out_is; /* -1: an output of its own; i: the same tensor as input i */
    const char *name;
};

static const struct ew_variant variants[] = {
    {GELU_FWD, -1, "gelu_fwd"},       {GELU_FWD, 0, "gelu_fwd y = x"},
    {GELU_BWD, -1, "gelu_bwd"},       {GELU_BWD, 1, "gelu_bwd dx = dy"},
    {ADD, -1, "add"},                 {ADD, 0, "add out = a"},
    {ADD, 1, "add out = b"},          {SCALE, 0, "scale"},
};
#define N_VARIANTS (sizeof variants / sizeof variants[0])

static double gelu_exact(double x)
{
    return 0.5 * x * (1.0 + tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)));
}

static double gelu_grad_exact(double x)
{
    const double u = SQRT_2_OVER_PI * (x + 0.044715 * x * x * x), t = tanh(u);
    return 0.5 * (1.0 + t) +
           0.5 * x * (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3 * 0.044715 * x * x);
}

static clt_op ew_op(const struct ew_variant *v, const clt_tensor *in, const clt_tensor *out,
                    float alpha, float beta)
{
    clt_op op;
    memset(&op, 0, sizeof op);
    switch (v->kind) {
    case GELU_FWD:
        op.kind = CLT_OP_GELU_FWD;
        op.u.gelu_fwd = (clt_gelu_args){.x = in[0], .y = *out};
        break;
    case GELU_BWD:
        op.kind = CLT_OP_GELU_BWD;
        op.u.gelu_bwd = (clt_gelu_bwd_args){.x = in[0], .dy = in[1], .dx = *out};
        break;
    case ADD:
        op.kind = CLT_OP_ADD;
        op.u.add = (clt_add_args){.a = in[0], .b = in[1], .out = *out, .alpha = alpha,
                                  .beta = beta};
        break;
    case SCALE:
        op.kind = CLT_OP_SCALE;
        op.u.scale = (clt_scale_args){.x = in[0], .alpha = alpha};
        break;
    }
    return op;
}

static bool run_ew(clt_context *const ctx[2], const char *device, const struct ew_variant *v,
                   clt_dtype d, const struct shape *sh, bool aligned, float alpha, float beta,
                   ts_rng *rng)
{
    const size_t n = numel(sh), es = clt_dtype_size(d);
    const int n_in = v->kind == GELU_FWD || v->kind == SCALE ? 1 : 2;
    const size_t in_off[2] = {aligned ? 4 : 1, aligned ? 8 : 3}, out_off = aligned ? 0 : 2;
    char what[160];
    snprintf(what, sizeof what, "%s: %s %s n=%zu rank %d%s", device, v->name,
             clt_dtype_name(d), n, sh->rank, aligned ? "" : " unaligned");

    struct operand ops[3];
    int n_ops = n_in + (v->out_is < 0 && v->kind != SCALE);
    for (int i = 0; i < n_ops; i++) {
        const size_t off = i < n_in ? in_off[i] : out_off;
        operand_init(&ops[i], d, off, off + n + GUARD);
        ts_fill_floats(rng, ops[i].init + off, n, -5.0f, 5.0f);
        operand_upload(&ops[i], ctx);
    }
    struct operand *out = v->out_is >= 0 ? &ops[v->out_is] : v->kind == SCALE ? &ops[0]
                                                                            : &ops[n_in];
    for (int k = 0; k < 2; k++) {
        clt_tensor in_t[2], out_t;
        for (int i = 0; i < n_in; i++)
            ts_assert_ok(clt_tensor_init(&in_t[i], ops[i].buf[k], ops[i].off * es, d, sh->rank,
                                         sh->dims));
        ts_assert_ok(clt_tensor_init(&out_t, out->buf[k], out->off * es, d, sh->rank, sh->dims));
        const clt_op op = ew_op(v, in_t, &out_t, alpha, beta);
        ts_assert_ok(clt_op_run(ctx[k], &op, NULL));
    }
    for (int i = 0; i < n_ops; i++)
        operand_download(&ops[i]);

    bool ok = true;
    for (int i = 0; i < n_ops && ok; i++)
        if (&ops[i] != out)
            ok = untouched(&ops[i], what);
    const struct contiguous_span span = {out->off, n};
    ok = ok && guards_kept(out, in_span, &span, what);
    ok = ok && ts_close(out->got[DEV] + out->off, out->got[HOST] + out->off, n, tol_dev(d), what);

    /* The reference against the formulas, from the inputs as they were. */
    float *want = malloc(n * sizeof(float));
    assert_non_null(want);
    const float *x = ops[0].init + ops[0].off, *y = n_in > 1 ? ops[1].init + ops[1].off : NULL;
    for (size_t i = 0; i < n; i++) {
        double e = 0;
        switch (v->kind) {
        case GELU_FWD: e = gelu_exact(x[i]); break;
        case GELU_BWD: e = gelu_grad_exact(x[i]) * y[i]; break;
        case ADD: e = (double)alpha * x[i] + (double)beta * y[i]; break;
        case SCALE: e = (double)alpha * x[i]; break;
        }
        want[i] = (float)e;
    }
    char ref_what[200];
    snprintf(ref_what, sizeof ref_what, "%s (host reference against the formula)", what);
    ok = ok && ts_close(out->got[HOST] + out->off, want, n, tol_ref(d), ref_what);
    free(want);
    for (int i = 0; i < n_ops; i++)
        operand_free(&ops[i]);
    return ok;
}

static void contiguous_ops(void **state)
{
    const char *device = *state;
    clt_context *ctx[2];
    contexts(device, ctx);
    ts_rng rng;
    ts_rng_seed(&rng, 20240917);
    int failures = 0, runs = 0;
    for (size_t d = 0; d < N_DTYPES; d++)
        for (size_t s = 0; s < N_SHAPES; s++)
            for (size_t v = 0; v < N_VARIANTS; v++)
                for (int aligned = 0; aligned < 2; aligned++, runs++) {
                    /* alpha, beta: exact in every dtype; 1, 1 (a plain sum) now and then */
                    const bool plain = (s + v) % 3 == 0;
                    failures += !run_ew(ctx, device, &variants[v], dtypes[d], &shapes[s],
                                        aligned, plain ? 1.0f : 0.75f, plain ? 1.0f : -1.5f,
                                        &rng);
                }
    if (failures)
        fail_msg("%s: %d of %d elementwise cases failed", device, failures, runs);
    assert_no_fallback(ctx[DEV], CLT_OP_GELU_BWD);
    clt_context_destroy(ctx[DEV]);
    clt_context_destroy(ctx[HOST]);
}

/* NaN and infinity pass through: gelu(NaN) = NaN, gelu(+inf) = +inf; scale by 0 turns
 * NaN and infinity into NaN, as IEEE arithmetic does. */
static void nan_propagates(void **state)
{
    const char *device = *state;
    clt_context *ctx = ts_context(device);
    const float x[5] = {NAN, INFINITY, 1.0f, NAN, -2.0f};
    clt_buffer *buf = ts_upload(ctx, CLT_TIER_DEVICE, x, 5);
    clt_buffer *out = ts_buffer(ctx, CLT_TIER_DEVICE, 5 * sizeof(float), NULL);
    const int64_t shape[1] = {5};
    clt_op op;
    memset(&op, 0, sizeof op);
    op.kind = CLT_OP_GELU_FWD;
    ts_assert_ok(clt_tensor_init(&op.u.gelu_fwd.x, buf, 0, CLT_DTYPE_F32, 1, shape));
    ts_assert_ok(clt_tensor_init(&op.u.gelu_fwd.y, out, 0, CLT_DTYPE_F32, 1, shape));
    ts_assert_ok(clt_op_run(ctx, &op, NULL));
    float y[5];
    ts_download(out, 0, y, 5);
    assert_true(isnan(y[0]) && isnan(y[3]));
    assert_true(isinf(y[1]) && y[1] > 0);
    assert_true(isfinite(y[2]) && isfinite(y[4]));

    op.kind = CLT_OP_SCALE;
    memset(&op.u, 0, sizeof op.u);
    ts_assert_ok(clt_tensor_init(&op.u.scale.x, buf, 0, CLT_DTYPE_F32, 1, shape));
    op.u.scale.alpha = 0.0f; /* 0 · NaN and 0 · inf are NaN */
    ts_assert_ok(clt_op_run(ctx, &op, NULL));
    ts_download(buf, 0, y, 5);
    assert_true(isnan(y[0]) && isnan(y[1]) && isnan(y[3]));
    assert_true(y[2] == 0.0f && y[4] == 0.0f);
    clt_buffer_destroy(buf);
    clt_buffer_destroy(out);
    clt_context_destroy(ctx);
}

/* ---- bias add: rows with padding ----------------------------------------------------- */

static const struct rows_shape bias_shapes[] = {
    {1, 1, 1, 0},      {7, 17, 17, 1},    {100, 3, 5, 4},     {257, 33, 40, 3},
    {1000, 100, 100, 8}, {3, 1000, 1003, 2}, {100003, 1, 2, 1},
};
#define N_BIAS_SHAPES (sizeof bias_shapes / sizeof bias_shapes[0])

static bool run_bias_add(clt_context *const ctx[2], const char *device, clt_dtype d,
                         const struct rows_shape *sh, ts_rng *rng)
{
    const size_t es = clt_dtype_size(d);
    char what[160];
    snprintf(what, sizeof what, "%s: bias_add %s %lldx%lld ld %lld", device, clt_dtype_name(d),
             (long long)sh->rows, (long long)sh->cols, (long long)sh->ld);
    struct operand y, bias;
    operand_init(&y, d, sh->off, rows_total(sh));
    for (size_t i = 0; i < y.total; i++)
        if (in_rows(sh, i))
            y.init[i] = ts_rng_float(rng, -4.0f, 4.0f);
    operand_upload(&y, ctx);
    operand_init(&bias, d, sh->off % 3, sh->off % 3 + (size_t)sh->cols + GUARD);
    ts_fill_floats(rng, bias.init + bias.off, (size_t)sh->cols, -4.0f, 4.0f);
    operand_upload(&bias, ctx);
    for (int k = 0; k < 2; k++) {
        clt_op op;
        memset(&op, 0, sizeof op);
        op.kind = CLT_OP_BIAS_ADD;
        ts_matrix_layout(&op.u.bias_add.y, d, 0, sh->rows, sh->cols, sh->ld, 0, sh->off);
        op.u.bias_add.y.buf = y.buf[k];
        op.u.bias_add.y.offset = sh->off * es;
        const int64_t n[1] = {sh->cols};
        ts_assert_ok(clt_tensor_init(&op.u.bias_add.bias, bias.buf[k], bias.off * es, d, 1, n));
        ts_assert_ok(clt_op_run(ctx[k], &op, NULL));
    }
    operand_download(&y);
    operand_download(&bias);
    bool ok = untouched(&bias, what) && guards_kept(&y, in_rows, sh, what);
    ok = ok && ts_close(y.got[DEV], y.got[HOST], y.total, tol_dev(d), what);
    float *want = malloc(y.total * sizeof(float));
    assert_non_null(want);
    for (size_t i = 0; i < y.total; i++) {
        const size_t c = (i - sh->off) % (size_t)sh->ld;
        want[i] = in_rows(sh, i) ? (float)((double)y.init[i] + bias.init[bias.off + c])
                                 : SENTINEL;
    }
    char ref_what[200];
    snprintf(ref_what, sizeof ref_what, "%s (host reference against the sum)", what);
    ok = ok && ts_close(y.got[HOST], want, y.total, tol_ref(d), ref_what);
    free(want);
    operand_free(&y);
    operand_free(&bias);
    return ok;
}

static void bias_add_rows(void **state)
{
    const char *device = *state;
    clt_context *ctx[2];
    contexts(device, ctx);
    ts_rng rng;
    ts_rng_seed(&rng, 77);
    int failures = 0, runs = 0;
    for (size_t d = 0; d < N_DTYPES; d++)
        for (size_t s = 0; s < N_BIAS_SHAPES; s++, runs++)
            failures += !run_bias_add(ctx, device, dtypes[d], &bias_shapes[s], &rng);
    if (failures)
        fail_msg("%s: %d of %d bias_add cases failed", device, failures, runs);
    assert_no_fallback(ctx[DEV], CLT_OP_BIAS_ADD);
    clt_context_destroy(ctx[DEV]);
    clt_context_destroy(ctx[HOST]);
}

/* ---- bad input ----------------------------------------------------------------------- */

/* The op is refused naming op and argument, and `out` (holding `n` floats that were
 * `before`) is untouched. */
static void assert_refused(clt_context *ctx, const clt_op *op, const char *op_name,
                           const char *argument, clt_buffer *out, const float *before,
                           size_t n)
{
    ts_assert_status(clt_op_run(ctx, op, NULL), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions(op_name);
    char arg[64];
    snprintf(arg, sizeof arg, "argument %s", argument);
    ts_assert_error_mentions(arg);
    ts_assert_buffer_equals(out, before, n * sizeof(float));
}

static void bad_input(void **state)
{
    const char *device = *state;
    clt_context *ctx = ts_context(device);
    enum { N = 24 };
    float init[N];
    for (int i = 0; i < N; i++)
        init[i] = (float)i - 7.5f;
    clt_buffer *a = ts_upload(ctx, CLT_TIER_DEVICE, init, N);
    clt_buffer *b = ts_upload(ctx, CLT_TIER_DEVICE, init, N);
    clt_buffer *out = ts_upload(ctx, CLT_TIER_DEVICE, init, N);

    /* add: b's shape differs from a's */
    clt_op op;
    memset(&op, 0, sizeof op);
    op.kind = CLT_OP_ADD;
    const int64_t s46[2] = {4, 6}, s64[2] = {6, 4};
    ts_assert_ok(clt_tensor_init(&op.u.add.a, a, 0, CLT_DTYPE_F32, 2, s46));
    ts_assert_ok(clt_tensor_init(&op.u.add.b, b, 0, CLT_DTYPE_F32, 2, s64));
    ts_assert_ok(clt_tensor_init(&op.u.add.out, out, 0, CLT_DTYPE_F32, 2, s46));
    op.u.add.alpha = op.u.add.beta = 1.0f;
    assert_refused(ctx, &op, "add", "b", out, init, N);
    /* the same op with b's shape right runs: the refusal was about the shape */
    ts_assert_ok(clt_tensor_init(&op.u.add.b, b, 0, CLT_DTYPE_F32, 2, s46));
    ts_assert_ok(clt_op_run(ctx, &op, NULL));

    /* bias_add: a bias of 5 for rows of 6 */
    ts_assert_ok(clt_buffer_write(out, 0, init, sizeof init, NULL));
    memset(&op, 0, sizeof op);
    op.kind = CLT_OP_BIAS_ADD;
    const int64_t five[1] = {5};
    ts_assert_ok(clt_tensor_init(&op.u.bias_add.y, out, 0, CLT_DTYPE_F32, 2, s46));
    ts_assert_ok(clt_tensor_init(&op.u.bias_add.bias, b, 0, CLT_DTYPE_F32, 1, five));
    assert_refused(ctx, &op, "bias_add", "bias", out, init, N);

    /* gelu_fwd: x is a transposed view, not contiguous */
    memset(&op, 0, sizeof op);
    op.kind = CLT_OP_GELU_FWD;
    ts_assert_ok(clt_tensor_init(&op.u.gelu_fwd.x, a, 0, CLT_DTYPE_F32, 2, s46));
    op.u.gelu_fwd.x.strides[0] = 1;
    op.u.gelu_fwd.x.strides[1] = 4;
    ts_assert_ok(clt_tensor_init(&op.u.gelu_fwd.y, out, 0, CLT_DTYPE_F32, 2, s46));
    assert_refused(ctx, &op, "gelu_fwd", "x", out, init, N);

    /* gelu_bwd: dx overlaps x without being dy */
    memset(&op, 0, sizeof op);
    op.kind = CLT_OP_GELU_BWD;
    const int64_t twelve[1] = {12};
    ts_assert_ok(clt_tensor_init(&op.u.gelu_bwd.x, out, 0, CLT_DTYPE_F32, 1, twelve));
    ts_assert_ok(clt_tensor_init(&op.u.gelu_bwd.dy, b, 0, CLT_DTYPE_F32, 1, twelve));
    ts_assert_ok(clt_tensor_init(&op.u.gelu_bwd.dx, out, 4 * sizeof(float), CLT_DTYPE_F32, 1,
                                 twelve));
    assert_refused(ctx, &op, "gelu_bwd", "dx", out, init, N);

    /* scale: alpha is not finite */
    memset(&op, 0, sizeof op);
    op.kind = CLT_OP_SCALE;
    ts_assert_ok(clt_tensor_init(&op.u.scale.x, out, 0, CLT_DTYPE_F32, 1, twelve));
    op.u.scale.alpha = INFINITY;
    ts_assert_status(clt_op_run(ctx, &op, NULL), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("scale");
    ts_assert_error_mentions("alpha");
    ts_assert_buffer_equals(out, init, sizeof init);

    clt_buffer_destroy(a);
    clt_buffer_destroy(b);
    clt_buffer_destroy(out);
    clt_context_destroy(ctx);
}

/* ---- the reference's gradient: finite differences ------------------------------------ */

/* L(x) = Σ w·gelu(x) through gelu_fwd on the host; dL/dx = gelu_bwd(x, dy = w). */
static double gelu_loss(clt_context *host, clt_buffer *xb, clt_buffer *yb, const float *x,
                        const float *w, int n)
{
    ts_assert_ok(clt_buffer_write(xb, 0, x, (size_t)n * sizeof(float), NULL));
    clt_op op;
    memset(&op, 0, sizeof op);
    op.kind = CLT_OP_GELU_FWD;
    const int64_t shape[1] = {n};
    ts_assert_ok(clt_tensor_init(&op.u.gelu_fwd.x, xb, 0, CLT_DTYPE_F32, 1, shape));
    ts_assert_ok(clt_tensor_init(&op.u.gelu_fwd.y, yb, 0, CLT_DTYPE_F32, 1, shape));
    ts_assert_ok(clt_op_run(host, &op, NULL));
    float y[16];
    ts_download(yb, 0, y, (size_t)n);
    double loss = 0;
    for (int i = 0; i < n; i++)
        loss += (double)w[i] * y[i];
    return loss;
}

static void gelu_bwd_finite_differences(void **state)
{
    (void)state;
    clt_context *host = ts_context("host");
    enum { N = 9 };
    const float eps = 1e-2f;
    float x[N] = {-3.0f, -1.7f, -0.75f, -0.2f, 0.0f, 0.3f, 1.1f, 2.4f, 4.0f}, w[N];
    ts_rng rng;
    ts_rng_seed(&rng, 5);
    ts_fill_floats(&rng, w, N, -1.0f, 1.0f);
    clt_buffer *xb = ts_upload(host, CLT_TIER_DEVICE, x, N);
    clt_buffer *wb = ts_upload(host, CLT_TIER_DEVICE, w, N);
    clt_buffer *yb = ts_buffer(host, CLT_TIER_DEVICE, N * sizeof(float), NULL);
    clt_op op;
    memset(&op, 0, sizeof op);
    op.kind = CLT_OP_GELU_BWD;
    const int64_t shape[1] = {N};
    ts_assert_ok(clt_tensor_init(&op.u.gelu_bwd.x, xb, 0, CLT_DTYPE_F32, 1, shape));
    ts_assert_ok(clt_tensor_init(&op.u.gelu_bwd.dy, wb, 0, CLT_DTYPE_F32, 1, shape));
    ts_assert_ok(clt_tensor_init(&op.u.gelu_bwd.dx, yb, 0, CLT_DTYPE_F32, 1, shape));
    ts_assert_ok(clt_op_run(host, &op, NULL));
    float grad[N];
    ts_download(yb, 0, grad, N);
    for (int i = 0; i < N; i++) {
        float xp[N], xm[N];
        memcpy(xp, x, sizeof x);
        memcpy(xm, x, sizeof x);
        xp[i] += eps;
        xm[i] -= eps;
        const double fd = (gelu_loss(host, xb, yb, xp, w, N) - gelu_loss(host, xb, yb, xm, w, N)) /
                          (2.0 * eps);
        if (fabs(fd - grad[i]) > 1e-2 * fabs(fd) + 1e-3)
            fail_msg("gelu_bwd at x = %g: analytic %.6g, central difference %.6g", (double)x[i],
                     (double)grad[i], fd);
    }
    clt_buffer_destroy(xb);
    clt_buffer_destroy(wb);
    clt_buffer_destroy(yb);
    clt_context_destroy(host);
}

int main(void)
{
    const ts_device_test tests[] = {
        {"contiguous_ops", contiguous_ops},
        {"nan_propagates", nan_propagates},
        {"bias_add_rows", bias_add_rows},
        {"bad_input", bad_input},
    };
    const struct CMUnitTest host_tests[] = {
        cmocka_unit_test(gelu_bwd_finite_differences),
    };
    int failed = ts_run_per_device("elementwise", tests, sizeof tests / sizeof tests[0]);
    return failed + cmocka_run_group_tests_name("elementwise reference", host_tests, NULL, NULL);
}
