/* LayerNorm forward and backward on every device against the host reference run in a
 * second context on "host": rows (n, C) with n in {1, 17, 100} and C in {1, 17, 100, 257,
 * 1000} (none a multiple of a vector or work-group size), f32/f16/bf16, row strides larger
 * than the row and offsets, bias/mean/rstd and dbias absent, `accumulate` both ways, a row
 * mean of 1000 (where Σx² − C·mean² would lose the variance), NaN and eps = 0 on a
 * constant row. Whole buffers are compared, so a write outside a tensor fails. Then the
 * backward pass's determinism, bad arguments, and the reference against central
 * differences. */
#include <math.h>

#include "backends/host/ref.h"
#include "support/support.h"
#include "support/twin.h"

#define F32 CLT_DTYPE_F32
#define F16 CLT_DTYPE_F16
#define BF16 CLT_DTYPE_BF16

/* Two ulps of the storage dtype (relative; absolute below 1). */
static double tol_of(clt_dtype dt) { return dt == F32 ? 3e-5 : dt == F16 ? 2e-3 : 1.6e-2; }

static float *random_floats(ts_rng *rng, size_t n, float lo, float hi)
{
    float *x = malloc(n * sizeof(float));
    assert_non_null(x);
    ts_fill_floats(rng, x, n, lo, hi);
    return x;
}

/* ---- forward ------------------------------------------------------------------------ */

struct fcase {
    int64_t n, C;
    clt_dtype dt;
    int64_t pad;        /* row stride = C + pad */
    size_t off;         /* elements before each tensor */
    bool bias, mean, rstd;
    float eps;
    float center;       /* the rows' mean, about */
};

static bool run_forward(clt_context *const ctx[2], const char *device, const struct fcase *c,
                        const float *x, double tol)
{
    const size_t count = (size_t)(c->n * c->C);
    ts_rng rng;
    ts_rng_seed(&rng, (uint64_t)(c->n * 1000 + c->C));
    float *w = random_floats(&rng, (size_t)c->C, 0.5f, 1.5f);
    float *b = random_floats(&rng, (size_t)c->C, -0.5f, 0.5f);
    float *zeros = calloc(count, sizeof(float));
    assert_non_null(zeros);
    twin tx, tw, tb, tout, tmean, trstd;
    twin_rows(&tx, ctx, c->dt, c->n, c->C, c->C + c->pad, c->off, x);
    twin_vec(&tw, ctx, c->dt, c->C, c->off, w);
    twin_vec(&tb, ctx, c->dt, c->C, 0, b);
    twin_rows(&tout, ctx, c->dt, c->n, c->C, c->C + 2 * c->pad, c->off + 1, zeros);
    twin_vec(&tmean, ctx, F32, c->n, c->off, zeros);
    twin_vec(&trstd, ctx, F32, c->n, 2, zeros);
    bool ok = true;
    for (int k = 0; k < 2; k++) {
        clt_op op = {.kind = CLT_OP_LAYERNORM_FWD};
        clt_layernorm_fwd_args *a = &op.u.layernorm_fwd;
        a->x = tx.t[k];
        a->weight = tw.t[k];
        if (c->bias)
            a->bias = tb.t[k];
        a->out = tout.t[k];
        if (c->mean)
            a->mean = tmean.t[k];
        if (c->rstd)
            a->rstd = trstd.t[k];
        a->eps = c->eps;
        clt_status st = clt_op_run(ctx[k], &op, NULL);
        if (st != CLT_OK) {
            print_error("%s: layernorm_fwd: %s: %s\n", k ? "host" : device, clt_status_name(st),
                        clt_last_error());
            ok = false;
        }
    }
    char what[192];
    snprintf(what, sizeof what, "%s: layernorm_fwd %lldx%lld %s pad %lld off %zu%s%s%s eps %g",
             device, (long long)c->n, (long long)c->C, clt_dtype_name(c->dt), (long long)c->pad,
             c->off, c->bias ? " bias" : "", c->mean ? " mean" : "", c->rstd ? " rstd" : "",
             (double)c->eps);
    ok = ok && twin_close(&tout, tol, 1.0, what);
    /* absent statistics stay as they were: twin_close sees the zeros on both sides */
    ok = ok && twin_close(&tmean, 1e-5, 1e-3 * fmax(1.0, fabs(c->center)), what);
    ok = ok && twin_close(&trstd, 1e-5, 1.0, what);
    ok = ok && twin_close(&tx, 0.0, 1.0, what);
    twin_free(&tx);
    twin_free(&tw);
    twin_free(&tb);
    twin_free(&tout);
    twin_free(&tmean);
    twin_free(&trstd);
    free(w);
    free(b);
    free(zeros);
    return ok;
}

static void layernorm_fwd_shapes(void **state)
{
    const char *device = *state;
    clt_context *ctx[2];
    twin_open_pair(device, ctx);
    ts_rng rng;
    ts_rng_seed(&rng, 11);
    static const int64_t ns[] = {1, 17, 100};
    static const int64_t Cs[] = {1, 17, 100, 257, 1000};
    static const clt_dtype dts[] = {F32, F16, BF16};
    int failures = 0, cases = 0;
    for (size_t in = 0; in < 3; in++)
        for (size_t ic = 0; ic < 5; ic++)
            for (size_t id = 0; id < 3; id++) {
                const size_t k = in + ic + id;
                const struct fcase c = {ns[in], Cs[ic], dts[id], (int64_t)(k % 3) * 3,
                                        k % 2 ? 5 : 0, k % 4 != 1, k % 3 != 2, k % 5 != 3,
                                        1e-5f, 0.5f};
                float *x = random_floats(&rng, (size_t)(c.n * c.C), -2.0f, 3.0f);
                failures += !run_forward(ctx, device, &c, x, tol_of(c.dt));
                cases++;
                free(x);
            }
    if (failures)
        fail_msg("%s: %d of %d layernorm_fwd cases failed", device, failures, cases);
    twin_assert_no_fallback(ctx[0], CLT_OP_LAYERNORM_FWD);
    twin_close_pair(ctx);
}

/* A mean of 1000 with a spread of ±1: f32's x² holds the variance to 20%; the second
 * pass about the mean keeps it to the rounding of the mean. Then NaN and infinity take
 * their row, and eps = 0 makes a constant row NaN (rstd = inf), as on the host. */
static void layernorm_fwd_special_rows(void **state)
{
    const char *device = *state;
    clt_context *ctx[2];
    twin_open_pair(device, ctx);
    ts_rng rng;
    ts_rng_seed(&rng, 12);
    const struct fcase big = {17, 1000, F32, 3, 1, true, true, true, 1e-5f, 1000.0f};
    float *x = random_floats(&rng, (size_t)(big.n * big.C), 999.0f, 1001.0f);
    int failures = !run_forward(ctx, device, &big, x, 1e-3);
    free(x);

    enum { N = 4, C = 17 };
    float s[N * C];
    ts_fill_floats(&rng, s, N * C, -1.0f, 1.0f);
    s[0 * C + 3] = NAN;
    s[1 * C + 16] = INFINITY;
    for (int i = 0; i < C; i++)
        s[2 * C + i] = 2.0f; /* constant: variance exactly 0 */
    const struct fcase zero_eps = {N, C, F32, 1, 0, true, true, true, 0.0f, 1.0f};
    failures += !run_forward(ctx, device, &zero_eps, s, 3e-5);
    const struct fcase half = {N, C, BF16, 0, 2, false, true, true, 0.0f, 1.0f};
    failures += !run_forward(ctx, device, &half, s, 1.6e-2);
    if (failures)
        fail_msg("%s: %d special layernorm_fwd cases failed", device, failures);
    twin_close_pair(ctx);
}

/* ---- backward ----------------------------------------------------------------------- */

struct bcase {
    int64_t n, C;
    clt_dtype dt;
    int64_t pad;
    size_t off;
    bool dbias, accumulate;
};

/* Runs layernorm_bwd on both contexts, with mean and rstd from the host's forward pass. */
static bool run_backward(clt_context *const ctx[2], const char *device, const struct bcase *c,
                         ts_rng *rng)
{
    const size_t count = (size_t)(c->n * c->C);
    float *x = random_floats(rng, count, -2.0f, 3.0f);
    float *g = random_floats(rng, count, -1.0f, 1.0f);
    float *w = random_floats(rng, (size_t)c->C, 0.5f, 1.5f);
    float *old = random_floats(rng, count + 1, -1.0f, 1.0f); /* what dx, dweight, dbias hold */
    float *mean = malloc((size_t)c->n * sizeof(float));
    float *rstd = malloc((size_t)c->n * sizeof(float));
    float *out = malloc(count * sizeof(float));
    assert_non_null(mean);
    assert_non_null(rstd);
    assert_non_null(out);
    clt_layernorm_fwd_args fa = {.eps = 1e-5f};
    ts_matrix_layout(&fa.x, F32, 0, c->n, c->C, c->C, 0, 0);
    fa.out = fa.x;
    ts_matrix_layout(&fa.weight, F32, 0, 1, c->C, c->C, 0, 0);
    clt_ref_layernorm_fwd(&fa, x, w, NULL, out, mean, rstd);

    twin tg, tx, tw, tmean, trstd, tdx, tdw, tdb;
    twin_rows(&tg, ctx, c->dt, c->n, c->C, c->C + c->pad, c->off, g);
    twin_rows(&tx, ctx, c->dt, c->n, c->C, c->C + 2 * c->pad, 0, x);
    twin_vec(&tw, ctx, c->dt, c->C, c->off, w);
    twin_vec(&tmean, ctx, F32, c->n, 1, mean);
    twin_vec(&trstd, ctx, F32, c->n, 0, rstd);
    twin_rows(&tdx, ctx, c->dt, c->n, c->C, c->C + c->pad + 1, 3, old);
    twin_vec(&tdw, ctx, c->dt, c->C, c->off, old);
    twin_vec(&tdb, ctx, c->dt, c->C, 1, old + 1);
    bool ok = true;
    for (int k = 0; k < 2; k++) {
        clt_op op = {.kind = CLT_OP_LAYERNORM_BWD};
        clt_layernorm_bwd_args *a = &op.u.layernorm_bwd;
        a->dout = tg.t[k];
        a->x = tx.t[k];
        a->weight = tw.t[k];
        a->mean = tmean.t[k];
        a->rstd = trstd.t[k];
        a->dx = tdx.t[k];
        a->dweight = tdw.t[k];
        if (c->dbias)
            a->dbias = tdb.t[k];
        a->accumulate = c->accumulate;
        clt_status st = clt_op_run(ctx[k], &op, NULL);
        if (st != CLT_OK) {
            print_error("%s: layernorm_bwd: %s: %s\n", k ? "host" : device, clt_status_name(st),
                        clt_last_error());
            ok = false;
        }
    }
    char what[192];
    snprintf(what, sizeof what, "%s: layernorm_bwd %lldx%lld %s pad %lld off %zu%s%s", device,
             (long long)c->n, (long long)c->C, clt_dtype_name(c->dt), (long long)c->pad, c->off,
             c->dbias ? " dbias" : "", c->accumulate ? " accumulate" : "");
    const double tol = c->dt == F32 ? 1e-4 : c->dt == F16 ? 4e-3 : 3.2e-2;
    char part[224];
    snprintf(part, sizeof part, "%s: dx", what);
    ok = twin_close(&tdx, tol, 1.0, part) && ok;
    /* Σ over n rows: its rounding grows with √n */
    snprintf(part, sizeof part, "%s: dweight", what);
    ok = twin_close(&tdw, tol, sqrt((double)c->n), part) && ok;
    snprintf(part, sizeof part, "%s: dbias", what);
    ok = twin_close(&tdb, tol, sqrt((double)c->n), part) && ok;
    ok = twin_close(&tg, 0.0, 1.0, what) && twin_close(&tx, 0.0, 1.0, what) && ok;
    twin *all[] = {&tg, &tx, &tw, &tmean, &trstd, &tdx, &tdw, &tdb};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        twin_free(all[i]);
    free(x);
    free(g);
    free(w);
    free(old);
    free(mean);
    free(rstd);
    free(out);
    return ok;
}

static void layernorm_bwd_shapes(void **state)
{
    const char *device = *state;
    clt_context *ctx[2];
    twin_open_pair(device, ctx);
    ts_rng rng;
    ts_rng_seed(&rng, 13);
    static const int64_t ns[] = {1, 17, 100};
    static const int64_t Cs[] = {1, 17, 100, 257, 1000};
    static const clt_dtype dts[] = {F32, F16, BF16};
    int failures = 0, cases = 0;
    for (size_t in = 0; in < 3; in++)
        for (size_t ic = 0; ic < 5; ic++)
            for (size_t id = 0; id < 3; id++) {
                const size_t k = in + ic + id;
                const struct bcase c = {ns[in], Cs[ic], dts[id], (int64_t)(k % 3) * 2,
                                        k % 2 ? 3 : 0, k % 3 != 1, (in + ic) % 2 == 0};
                failures += !run_backward(ctx, device, &c, &rng);
                cases++;
            }
    /* a GPT-2 width and more rows than a column group's slices */
    const struct bcase wide = {300, 768, F32, 0, 0, true, true};
    failures += !run_backward(ctx, device, &wide, &rng);
    if (failures)
        fail_msg("%s: %d of %d layernorm_bwd cases failed", device, failures, cases + 1);
    twin_assert_no_fallback(ctx[0], CLT_OP_LAYERNORM_BWD);
    twin_close_pair(ctx);
}

/* The backward pass twice on the same input: dx, dweight and dbias bit for bit. */
static void layernorm_bwd_deterministic(void **state)
{
    const char *device = *state;
    clt_context *ctx = ts_context(device);
    ts_rng rng;
    ts_rng_seed(&rng, 14);
    const int64_t n = 333, C = 771;
    const size_t count = (size_t)(n * C);
    float *h = random_floats(&rng, count, -2.0f, 2.0f);
    clt_buffer *x = ts_upload(ctx, CLT_TIER_DEVICE, h, count);
    ts_fill_floats(&rng, h, count, -1.0f, 1.0f);
    clt_buffer *g = ts_upload(ctx, CLT_TIER_DEVICE, h, count);
    ts_fill_floats(&rng, h, (size_t)C, 0.5f, 1.5f);
    clt_buffer *w = ts_upload(ctx, CLT_TIER_DEVICE, h, (size_t)C);
    ts_fill_floats(&rng, h, (size_t)n, -0.1f, 0.1f);
    clt_buffer *mean = ts_upload(ctx, CLT_TIER_DEVICE, h, (size_t)n);
    ts_fill_floats(&rng, h, (size_t)n, 0.5f, 1.5f);
    clt_buffer *rstd = ts_upload(ctx, CLT_TIER_DEVICE, h, (size_t)n);
    clt_buffer *dx = ts_buffer(ctx, CLT_TIER_DEVICE, count * sizeof(float), NULL);
    clt_buffer *dw = ts_buffer(ctx, CLT_TIER_DEVICE, (size_t)C * sizeof(float), NULL);
    clt_buffer *db = ts_buffer(ctx, CLT_TIER_DEVICE, (size_t)C * sizeof(float), NULL);
    clt_op op = {.kind = CLT_OP_LAYERNORM_BWD};
    clt_layernorm_bwd_args *a = &op.u.layernorm_bwd;
    const int64_t rows[2] = {n, C}, cols[1] = {C}, stats[1] = {n};
    ts_assert_ok(clt_tensor_init(&a->dout, g, 0, F32, 2, rows));
    ts_assert_ok(clt_tensor_init(&a->x, x, 0, F32, 2, rows));
    ts_assert_ok(clt_tensor_init(&a->weight, w, 0, F32, 1, cols));
    ts_assert_ok(clt_tensor_init(&a->mean, mean, 0, F32, 1, stats));
    ts_assert_ok(clt_tensor_init(&a->rstd, rstd, 0, F32, 1, stats));
    ts_assert_ok(clt_tensor_init(&a->dx, dx, 0, F32, 2, rows));
    ts_assert_ok(clt_tensor_init(&a->dweight, dw, 0, F32, 1, cols));
    ts_assert_ok(clt_tensor_init(&a->dbias, db, 0, F32, 1, cols));
    void *first[3] = {NULL, NULL, NULL};
    clt_buffer *outs[3] = {dx, dw, db};
    for (int run_i = 0; run_i < 2; run_i++) {
        ts_assert_ok(clt_op_run(ctx, &op, NULL));
        for (int i = 0; i < 3 && run_i == 0; i++) {
            first[i] = ts_download_all(outs[i]);
            ts_assert_ok(clt_buffer_write(outs[i], 0, h, clt_buffer_size(outs[i]) / 2, NULL));
        }
    }
    for (int i = 0; i < 3; i++) {
        ts_assert_buffer_equals(outs[i], first[i], clt_buffer_size(outs[i]));
        free(first[i]);
    }
    clt_buffer *all[] = {x, g, w, mean, rstd, dx, dw, db};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        clt_buffer_destroy(all[i]);
    free(h);
    clt_context_destroy(ctx);
}

/* ---- the GPU's group shapes ------------------------------------------------------------ */

/* Several work-items per row and several rows per group (the barriers and tree sums of
 * the row kernels), and column groups of several row slices (the fixed-order sum of
 * dweight and dbias), on whatever device runs the test, through $CLT_ROWS_SHAPE (PoCL
 * runs any group). f32 only: each shape and dtype is a program to build. The host ignores
 * the variable. */
static void layernorm_group_shapes(void **state)
{
    const char *device = *state;
    clt_context *ctx[2];
    twin_open_pair(device, ctx);
    ts_rng rng;
    ts_rng_seed(&rng, 16);
    static const char *const shapes[] = {"256x1x4", "32x8x4", "8x4x1"};
    static const int64_t ns[] = {1, 17};
    static const int64_t Cs[] = {17, 257, 1000};
    enum { N = 9, C = 33 };
    float special[N * C];
    ts_fill_floats(&rng, special, N * C, -1.0f, 1.0f);
    special[1 * C + 7] = NAN;
    for (int i = 0; i < C; i++)
        special[5 * C + i] = 2.0f;
    int failures = 0;
    for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++) {
        setenv("CLT_ROWS_SHAPE", shapes[sh], 1);
        for (size_t in = 0; in < 2; in++)
            for (size_t ic = 0; ic < 3; ic++) {
                const size_t k = in + ic;
                const struct fcase f = {ns[in], Cs[ic], F32, (int64_t)ic * 3, in, k % 2 == 0,
                                        k != 1, true, 1e-5f, 0.5f};
                float *x = random_floats(&rng, (size_t)(f.n * f.C), -2.0f, 3.0f);
                failures += !run_forward(ctx, device, &f, x, tol_of(F32));
                free(x);
                const struct bcase b = {ns[in], Cs[ic], F32, (int64_t)ic, in * 2, k % 2 == 1,
                                        k % 3 == 0};
                failures += !run_backward(ctx, device, &b, &rng);
            }
        const struct fcase zero_eps = {N, C, F32, 1, 0, true, true, true, 0.0f, 1.0f};
        failures += !run_forward(ctx, device, &zero_eps, special, tol_of(F32));
        const struct bcase wide = {300, 771, F32, 1, 0, true, true};
        failures += !run_backward(ctx, device, &wide, &rng);
        if (failures)
            print_error("%s: CLT_ROWS_SHAPE=%s: %d failures so far\n", device, shapes[sh],
                        failures);
    }
    unsetenv("CLT_ROWS_SHAPE");
    if (failures)
        fail_msg("%s: %d layernorm cases failed in the GPU's group shapes", device, failures);
    twin_close_pair(ctx);
}

/* ---- bad arguments ------------------------------------------------------------------- */

static void layernorm_bad_arguments(void **state)
{
    const char *device = *state;
    clt_context *ctx = ts_context(device);
    float h[6 * 5];
    for (int i = 0; i < 30; i++)
        h[i] = (float)i;
    clt_buffer *x = ts_upload(ctx, CLT_TIER_DEVICE, h, 30);
    clt_buffer *p = ts_upload(ctx, CLT_TIER_DEVICE, h, 30); /* parameters and statistics */
    clt_buffer *out = ts_buffer(ctx, CLT_TIER_DEVICE, sizeof h, NULL);
    clt_buffer *stats = ts_buffer(ctx, CLT_TIER_DEVICE, sizeof h, NULL);
    void *out_before = ts_download_all(out), *stats_before = ts_download_all(stats);
    const int64_t rows[2] = {6, 5};

    clt_op op = {.kind = CLT_OP_LAYERNORM_FWD};
    clt_layernorm_fwd_args *f = &op.u.layernorm_fwd;
    ts_assert_ok(clt_tensor_init(&f->x, x, 0, F32, 2, rows));
    ts_assert_ok(clt_tensor_init(&f->weight, p, 0, F32, 1, (const int64_t[]){6}));
    ts_assert_ok(clt_tensor_init(&f->out, out, 0, F32, 2, rows));
    ts_assert_ok(clt_tensor_init(&f->mean, stats, 0, F32, 1, (const int64_t[]){6}));
    f->eps = 1e-5f;
    ts_assert_status(clt_op_run(ctx, &op, NULL), CLT_ERR_INVALID_ARG); /* weight: 6, not C = 5 */
    ts_assert_error_mentions("layernorm_fwd");
    ts_assert_error_mentions("argument weight");
    ts_assert_ok(clt_tensor_init(&f->weight, p, 0, F32, 1, (const int64_t[]){5}));
    f->eps = -1.0f;
    ts_assert_status(clt_op_run(ctx, &op, NULL), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("layernorm_fwd");
    ts_assert_error_mentions("eps");
    f->eps = NAN;
    ts_assert_status(clt_op_run(ctx, &op, NULL), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("eps");
    f->eps = 1e-5f;
    ts_assert_ok(clt_tensor_init(&f->mean, stats, 0, F32, 1, (const int64_t[]){5}));
    ts_assert_status(clt_op_run(ctx, &op, NULL), CLT_ERR_INVALID_ARG); /* mean: 5 rows, not 6 */
    ts_assert_error_mentions("argument mean");
    ts_assert_ok(clt_tensor_init(&f->mean, stats, 0, F16, 1, (const int64_t[]){6}));
    ts_assert_status(clt_op_run(ctx, &op, NULL), CLT_ERR_INVALID_ARG); /* statistics are f32 */
    ts_assert_error_mentions("argument mean");
    ts_assert_ok(clt_tensor_init(&f->mean, stats, 0, F32, 1, (const int64_t[]){6}));
    ts_assert_ok(clt_tensor_init(&f->bias, p, 0, F16, 1, (const int64_t[]){5}));
    ts_assert_status(clt_op_run(ctx, &op, NULL), CLT_ERR_INVALID_ARG); /* bias: not x's dtype */
    ts_assert_error_mentions("argument bias");
    ts_assert_buffer_equals(out, out_before, sizeof h);
    ts_assert_buffer_equals(stats, stats_before, sizeof h);

    clt_op bop = {.kind = CLT_OP_LAYERNORM_BWD};
    clt_layernorm_bwd_args *b = &bop.u.layernorm_bwd;
    ts_assert_ok(clt_tensor_init(&b->dout, x, 0, F32, 2, rows));
    ts_assert_ok(clt_tensor_init(&b->x, x, 0, F32, 2, rows));
    ts_assert_ok(clt_tensor_init(&b->weight, p, 0, F32, 1, (const int64_t[]){5}));
    ts_assert_ok(clt_tensor_init(&b->mean, p, 0, F32, 1, (const int64_t[]){6}));
    ts_assert_ok(clt_tensor_init(&b->rstd, p, 0, F32, 1, (const int64_t[]){7}));
    ts_assert_ok(clt_tensor_init(&b->dx, out, 0, F32, 2, rows));
    ts_assert_ok(clt_tensor_init(&b->dweight, stats, 0, F32, 1, (const int64_t[]){5}));
    ts_assert_status(clt_op_run(ctx, &bop, NULL), CLT_ERR_INVALID_ARG); /* rstd: 7, not 6 */
    ts_assert_error_mentions("layernorm_bwd");
    ts_assert_error_mentions("argument rstd");
    ts_assert_ok(clt_tensor_init(&b->rstd, p, 0, F32, 1, (const int64_t[]){6}));
    ts_assert_ok(clt_tensor_init(&b->dbias, stats, 64, F32, 1, (const int64_t[]){4}));
    ts_assert_status(clt_op_run(ctx, &bop, NULL), CLT_ERR_INVALID_ARG); /* dbias: 4, not 5 */
    ts_assert_error_mentions("argument dbias");
    ts_assert_ok(clt_tensor_init(&b->dbias, stats, 0, F32, 1, (const int64_t[]){5}));
    ts_assert_status(clt_op_run(ctx, &bop, NULL), CLT_ERR_INVALID_ARG); /* dbias overlaps */
    ts_assert_error_mentions("layernorm_bwd");
    ts_assert_buffer_equals(out, out_before, sizeof h);
    ts_assert_buffer_equals(stats, stats_before, sizeof h);

    free(out_before);
    free(stats_before);
    clt_buffer *all[] = {x, p, out, stats};
    for (size_t i = 0; i < 4; i++)
        clt_buffer_destroy(all[i]);
    clt_context_destroy(ctx);
}

/* ---- the reference itself ----------------------------------------------------------- */

static void ref_layernorm_by_hand(void **state)
{
    (void)state;
    /* x = (1, 2, 3, 6): mean 3, biased variance 3.5 */
    const float x[4] = {1, 2, 3, 6}, w[4] = {1, 2, 1, 1}, b[4] = {0, 0, 1, 0};
    float out[4], mean, rstd;
    clt_layernorm_fwd_args a = {.eps = 0.5f};
    ts_matrix_layout(&a.x, F32, 0, 1, 4, 4, 0, 0);
    a.out = a.x;
    const float s = 0.5f; /* 1/sqrt(3.5 + 0.5) */
    clt_ref_layernorm_fwd(&a, x, w, b, out, &mean, &rstd);
    const float want[4] = {-2 * s, -1 * s * 2, 0 * s + 1, 3 * s};
    assert_true(ts_close(out, want, 4, 1e-6, "layernorm by hand"));
    assert_true(mean == 3.0f);
    assert_true(rstd == s);
}

/* Gradients of loss = Σ wo∘layernorm(x; weight, bias) from the reference's backward pass
 * (dout = wo) against central differences of its forward pass, for x, weight and bias. */
static void ref_layernorm_bwd_finite_differences(void **state)
{
    (void)state;
    ts_rng rng;
    ts_rng_seed(&rng, 15);
    enum { N = 3, C = 6 };
    float x[N * C], w[C], b[C], wo[N * C], out[N * C], mean[N], rstd[N];
    ts_fill_floats(&rng, x, N * C, -2.0f, 2.0f);
    ts_fill_floats(&rng, w, C, 0.5f, 1.5f);
    ts_fill_floats(&rng, b, C, -0.5f, 0.5f);
    ts_fill_floats(&rng, wo, N * C, -1.0f, 1.0f);
    clt_layernorm_fwd_args fa = {.eps = 1e-5f};
    ts_matrix_layout(&fa.x, F32, 0, N, C, C, 0, 0);
    fa.out = fa.x;
    ts_matrix_layout(&fa.weight, F32, 0, 1, C, C, 0, 0);
    fa.bias = fa.weight;
    clt_layernorm_bwd_args ba = {.accumulate = false};
    ba.dout = ba.x = ba.dx = fa.x;
    ba.weight = ba.dweight = ba.dbias = fa.weight;
    float dx[N * C], dw[C], db[C];
    clt_ref_layernorm_fwd(&fa, x, w, b, out, mean, rstd);
    clt_ref_layernorm_bwd(&ba, wo, x, w, mean, rstd, dx, dw, db);

    float *params[3] = {x, w, b};
    const float *grads[3] = {dx, dw, db};
    const int sizes[3] = {N * C, C, C};
    const float eps = 1e-2f;
    for (int p = 0; p < 3; p++) {
        double worst = 0.0, scale = 0.0;
        for (int i = 0; i < sizes[p]; i++)
            scale = fmax(scale, fabs(grads[p][i]));
        for (int i = 0; i < sizes[p]; i++) {
            const float keep = params[p][i];
            double l[2];
            for (int s = 0; s < 2; s++) {
                params[p][i] = keep + (s ? -eps : eps);
                clt_ref_layernorm_fwd(&fa, x, w, b, out, mean, rstd);
                l[s] = 0.0;
                for (int j = 0; j < N * C; j++)
                    l[s] += (double)wo[j] * out[j];
            }
            params[p][i] = keep;
            const double fd = (l[0] - l[1]) / (2.0 * eps);
            worst = fmax(worst, fabs(fd - grads[p][i]) / fmax(fabs(grads[p][i]), 0.1 * scale));
        }
        if (worst > 1e-2)
            fail_msg("layernorm_bwd's %s differs from central differences by %.3g (relative)",
                     (const char *[]){"dx", "dweight", "dbias"}[p], worst);
    }
    /* accumulate adds to what the outputs hold */
    float dx2[N * C], dw2[C], db2[C];
    for (int i = 0; i < N * C; i++)
        dx2[i] = 1.0f;
    for (int i = 0; i < C; i++)
        dw2[i] = db2[i] = -2.0f;
    ba.accumulate = true;
    clt_ref_layernorm_fwd(&fa, x, w, b, out, mean, rstd);
    clt_ref_layernorm_bwd(&ba, wo, x, w, mean, rstd, dx2, dw2, db2);
    for (int i = 0; i < N * C; i++)
        assert_float_equal(dx2[i], dx[i] + 1.0f, 1e-6);
    for (int i = 0; i < C; i++) {
        assert_float_equal(dw2[i], dw[i] - 2.0f, 1e-6);
        assert_float_equal(db2[i], db[i] - 2.0f, 1e-6);
    }
}

int main(void)
{
    const struct CMUnitTest ref_tests[] = {
        cmocka_unit_test(ref_layernorm_by_hand),
        cmocka_unit_test(ref_layernorm_bwd_finite_differences),
    };
    int failed = cmocka_run_group_tests_name("layernorm reference", ref_tests, NULL, NULL);
    const ts_device_test tests[] = {
        {"layernorm_fwd_shapes", layernorm_fwd_shapes},
        {"layernorm_fwd_special_rows", layernorm_fwd_special_rows},
        {"layernorm_bwd_shapes", layernorm_bwd_shapes},
        {"layernorm_bwd_deterministic", layernorm_bwd_deterministic},
        {"layernorm_bad_arguments", layernorm_bad_arguments},
        {"layernorm_group_shapes", layernorm_group_shapes},
    };
    return failed + ts_run_per_device("layernorm", tests, sizeof tests / sizeof tests[0]);
}
