/* Cross-entropy fused with softmax, forward and backward, on every device against the
 * host reference run in a second context on "host": rows (n, V) with n in {1, 17, 100}
 * and V in {1, 17, 100, 257, 1000} (none a multiple of a vector or work-group size), and
 * GPT-2's V = 50257 on a few rows; f32/f16/bf16; row strides larger than the row and
 * offsets; ignore_index on some rows and on all of them; logits of ±80 and ±100 (where a
 * naive Σ exp overflows); a target outside [0, V) (NaN); dlogits in place of the logits.
 * Whole buffers are compared, so a write outside a tensor fails. Then the determinism
 * of the loss and the gradient, bad arguments, and the reference against central
 * differences. */
#include <math.h>

#include "backends/host/ref.h"
#include "support/support.h"
#include "support/twin.h"

#define F32 CLT_DTYPE_F32
#define F16 CLT_DTYPE_F16
#define BF16 CLT_DTYPE_BF16
#define IGNORE (-100)

/* Targets: n i32 values `off` elements into their buffer (TWIN_GUARD's bits around). */
static void twin_targets(twin *w, clt_context *const ctx[2], int64_t n, size_t off,
                         const int32_t *targets)
{
    memset(w, 0, sizeof *w);
    w->dtype = CLT_DTYPE_I32;
    w->n = off + (size_t)n + 3;
    int32_t *image = malloc(w->n * sizeof(int32_t));
    w->covered = calloc(w->n, sizeof(bool));
    assert_non_null(image);
    assert_non_null(w->covered);
    for (size_t i = 0; i < w->n; i++)
        image[i] = 0x5a5a5a5a;
    memcpy(image + off, targets, (size_t)n * sizeof(int32_t));
    w->image = (uint8_t *)image;
    for (int k = 0; k < 2; k++) {
        w->buf[k] = ts_buffer(ctx[k], CLT_TIER_DEVICE, w->n * sizeof(int32_t), image);
        ts_assert_ok(clt_tensor_init(&w->t[k], w->buf[k], off * sizeof(int32_t),
                                     CLT_DTYPE_I32, 1, (const int64_t[]){n}));
    }
}

/* Two ulps of the storage dtype (relative; absolute below `floor`). */
static double tol_of(clt_dtype dt) { return dt == F32 ? 3e-5 : dt == F16 ? 2e-3 : 1.6e-2; }

/* How a case's targets are chosen. */
enum targets_kind {
    SOME_IGNORED,  /* random in [0, V), every third row ignore_index */
    NONE_IGNORED,  /* random in [0, V) */
    ALL_IGNORED,   /* every row ignore_index: loss 0, dlogits 0 */
    ONE_BAD,       /* as SOME_IGNORED, with row 0's target V: NaN */
};

struct ccase {
    int64_t n, V;
    clt_dtype dt;
    int64_t pad;    /* row stride = V + pad */
    size_t off;     /* elements before each tensor */
    enum targets_kind targets;
    float range;    /* logits uniform in [center - range, center + range] */
    bool in_place;  /* dlogits is logits (backward) */
    float dloss;
    float center;
};

static int32_t *make_targets(ts_rng *rng, const struct ccase *c)
{
    int32_t *t = malloc((size_t)c->n * sizeof(int32_t));
    assert_non_null(t);
    for (int64_t r = 0; r < c->n; r++) {
        t[r] = (int32_t)ts_rng_int(rng, 0, c->V - 1);
        if (c->targets == ALL_IGNORED || (c->targets != NONE_IGNORED && r % 3 == 1))
            t[r] = IGNORE;
    }
    if (c->targets == ONE_BAD)
        t[0] = (int32_t)c->V;
    return t;
}

static void describe(char *what, size_t size, const char *device, const char *op,
                     const struct ccase *c)
{
    static const char *const kinds[] = {"some ignored", "none ignored", "all ignored",
                                        "a bad target"};
    snprintf(what, size, "%s: %s %lldx%lld %s pad %lld off %zu, %s, logits %g ± %g%s", device,
             op, (long long)c->n, (long long)c->V, clt_dtype_name(c->dt), (long long)c->pad,
             c->off, kinds[c->targets], (double)c->center, (double)c->range,
             c->in_place ? ", in place" : "");
}

/* ---- forward ------------------------------------------------------------------------ */

static bool run_forward(clt_context *const ctx[2], const char *device, const struct ccase *c,
                        ts_rng *rng)
{
    const size_t count = (size_t)(c->n * c->V);
    float *x = malloc(count * sizeof(float)), *zeros = calloc((size_t)c->n + 1, sizeof(float));
    assert_non_null(x);
    assert_non_null(zeros);
    ts_fill_floats(rng, x, count, c->center - c->range, c->center + c->range);
    int32_t *t = make_targets(rng, c);
    twin tl, tt, tloss, tlse;
    twin_rows(&tl, ctx, c->dt, c->n, c->V, c->V + c->pad, c->off, x);
    twin_targets(&tt, ctx, c->n, c->off + 1, t);
    twin_vec(&tloss, ctx, F32, 1, c->off, zeros);
    twin_vec(&tlse, ctx, F32, c->n, 2, zeros);
    bool ok = true;
    for (int k = 0; k < 2; k++) {
        clt_op op = {.kind = CLT_OP_CROSS_ENTROPY_FWD};
        clt_cross_entropy_fwd_args *a = &op.u.cross_entropy_fwd;
        a->logits = tl.t[k];
        a->targets = tt.t[k];
        a->loss = tloss.t[k];
        a->lse = tlse.t[k];
        a->ignore_index = IGNORE;
        clt_status st = clt_op_run(ctx[k], &op, NULL);
        if (st != CLT_OK) {
            print_error("%s: cross_entropy_fwd: %s: %s\n", k ? "host" : device,
                        clt_status_name(st), clt_last_error());
            ok = false;
        }
    }
    char what[192];
    describe(what, sizeof what, device, "cross_entropy_fwd", c);
    /* lse and the loss are f32 from the same stored logits on both sides; lse is rounded
     * to f32 at the logits' magnitude, and the loss inherits that absolute error */
    const double floor = fmax(1.0, fabs(c->center));
    ok = ok && twin_close(&tloss, 1e-5, floor, what) && twin_close(&tlse, 1e-5, floor, what);
    ok = ok && twin_close(&tl, 0.0, 1.0, what);
    if (ok && c->targets == ONE_BAD) {
        float loss;
        ts_download(tloss.buf[0], c->off * sizeof(float), &loss, 1);
        if (!isnan(loss)) {
            print_error("%s: loss %g, want NaN\n", what, (double)loss);
            ok = false;
        }
    }
    twin_free(&tl);
    twin_free(&tt);
    twin_free(&tloss);
    twin_free(&tlse);
    free(x);
    free(zeros);
    free(t);
    return ok;
}

static void cross_entropy_fwd_shapes(void **state)
{
    const char *device = *state;
    clt_context *ctx[2];
    twin_open_pair(device, ctx);
    ts_rng rng;
    ts_rng_seed(&rng, 21);
    static const int64_t ns[] = {1, 17, 100};
    static const int64_t Vs[] = {1, 17, 100, 257, 1000};
    static const clt_dtype dts[] = {F32, F16, BF16};
    int failures = 0, cases = 0;
    for (size_t in = 0; in < 3; in++)
        for (size_t iv = 0; iv < 5; iv++)
            for (size_t id = 0; id < 3; id++) {
                const size_t k = in + iv + id;
                const struct ccase c = {ns[in], Vs[iv], dts[id], (int64_t)(k % 3) * 3,
                                        k % 2 ? 5 : 0, (enum targets_kind)(k % 2),
                                        k % 4 == 0 ? 80.0f : 6.0f, false, 1.0f, 0.0f};
                failures += !run_forward(ctx, device, &c, &rng);
                cases++;
            }
    static const struct ccase more[] = {
        {3, 50257, F32, 3, 1, SOME_IGNORED, 80.0f, false, 1.0f, 0.0f},
        {2, 50257, BF16, 0, 0, NONE_IGNORED, 100.0f, false, 1.0f, 0.0f},
        {17, 257, F32, 1, 0, ALL_IGNORED, 6.0f, false, 1.0f, 0.0f},
        {100, 17, F16, 0, 2, ONE_BAD, 6.0f, false, 1.0f, 0.0f},
        {17, 1000, F32, 0, 0, NONE_IGNORED, 100.0f, false, 1.0f, 0.0f},
        /* rows beyond the two-pass pairs' range, above and below: the three-pass way */
        {5, 300, F32, 1, 0, NONE_IGNORED, 1.0e7f, false, 1.0f, 0.0f},
        {5, 300, F32, 0, 1, SOME_IGNORED, 2.0e5f, false, 1.0f, -3.0e6f},
        {7, 300, F32, 2, 0, SOME_IGNORED, 3.0f, false, 1.0f, -3000.0f},
    };
    for (size_t i = 0; i < sizeof more / sizeof more[0]; i++)
        failures += !run_forward(ctx, device, &more[i], &rng);
    if (failures)
        fail_msg("%s: %d of %d cross_entropy_fwd cases failed", device, failures,
                 cases + (int)(sizeof more / sizeof more[0]));
    twin_assert_no_fallback(ctx[0], CLT_OP_CROSS_ENTROPY_FWD);
    twin_close_pair(ctx);
}

/* ---- backward ----------------------------------------------------------------------- */

static bool run_backward(clt_context *const ctx[2], const char *device, const struct ccase *c,
                         ts_rng *rng)
{
    const size_t count = (size_t)(c->n * c->V);
    float *x = malloc(count * sizeof(float)), *lse = malloc((size_t)c->n * sizeof(float));
    float *old = malloc(count * sizeof(float));
    assert_non_null(x);
    assert_non_null(lse);
    assert_non_null(old);
    ts_fill_floats(rng, x, count, c->center - c->range, c->center + c->range);
    ts_fill_floats(rng, old, count, -1.0f, 1.0f);
    int32_t *t = make_targets(rng, c);
    /* lse from the reference's forward pass on the stored logits */
    {
        float *stored = malloc(count * sizeof(float));
        uint16_t *half = malloc(count * sizeof(uint16_t));
        assert_non_null(stored);
        assert_non_null(half);
        if (c->dt == F32) {
            memcpy(stored, x, count * sizeof(float));
        } else {
            ts_assert_ok(clt_convert(c->dt, half, F32, x, count));
            ts_assert_ok(clt_convert(F32, stored, c->dt, half, count));
        }
        clt_cross_entropy_fwd_args fa = {.ignore_index = IGNORE};
        ts_matrix_layout(&fa.logits, F32, 0, c->n, c->V, c->V, 0, 0);
        float loss;
        clt_ref_cross_entropy_fwd(&fa, stored, t, &loss, lse);
        free(stored);
        free(half);
    }
    twin tl, tt, tlse, td;
    twin_rows(&tl, ctx, c->dt, c->n, c->V, c->V + c->pad, c->off, x);
    twin_targets(&tt, ctx, c->n, 3, t);
    twin_vec(&tlse, ctx, F32, c->n, c->off, lse);
    if (!c->in_place)
        twin_rows(&td, ctx, c->dt, c->n, c->V, c->V + 2 * c->pad + 1, 1, old);
    const twin *out = c->in_place ? &tl : &td;
    bool ok = true;
    for (int k = 0; k < 2; k++) {
        clt_op op = {.kind = CLT_OP_CROSS_ENTROPY_BWD};
        clt_cross_entropy_bwd_args *a = &op.u.cross_entropy_bwd;
        a->logits = tl.t[k];
        a->targets = tt.t[k];
        a->lse = tlse.t[k];
        a->dlogits = out->t[k];
        a->dloss = c->dloss;
        a->ignore_index = IGNORE;
        clt_status st = clt_op_run(ctx[k], &op, NULL);
        if (st != CLT_OK) {
            print_error("%s: cross_entropy_bwd: %s: %s\n", k ? "host" : device,
                        clt_status_name(st), clt_last_error());
            ok = false;
        }
    }
    char what[192];
    describe(what, sizeof what, device, "cross_entropy_bwd", c);
    int64_t n_valid = 0;
    for (int64_t r = 0; r < c->n; r++)
        n_valid += t[r] != IGNORE;
    /* errors relative to the gradient's scale, dloss/n_valid, below a millionth of it
     * (and to f16's absolute precision below its normal range) */
    const double scale = n_valid ? fabs(c->dloss) / (double)n_valid : 1.0;
    ok = ok && twin_close(out, tol_of(c->dt), fmax(1e-6 * scale, c->dt == F16 ? 6.2e-5 : 0.0),
                          what);
    if (!c->in_place)
        ok = ok && twin_close(&tl, 0.0, 1.0, what);
    twin_free(&tl);
    twin_free(&tt);
    twin_free(&tlse);
    if (!c->in_place)
        twin_free(&td);
    free(x);
    free(lse);
    free(old);
    free(t);
    return ok;
}

static void cross_entropy_bwd_shapes(void **state)
{
    const char *device = *state;
    clt_context *ctx[2];
    twin_open_pair(device, ctx);
    ts_rng rng;
    ts_rng_seed(&rng, 22);
    static const int64_t ns[] = {1, 17, 100};
    static const int64_t Vs[] = {1, 17, 100, 257, 1000};
    static const clt_dtype dts[] = {F32, F16, BF16};
    int failures = 0, cases = 0;
    for (size_t in = 0; in < 3; in++)
        for (size_t iv = 0; iv < 5; iv++)
            for (size_t id = 0; id < 3; id++) {
                const size_t k = in + iv + id;
                const struct ccase c = {ns[in], Vs[iv], dts[id], (int64_t)(k % 3) * 3,
                                        k % 2 ? 5 : 0, (enum targets_kind)(k % 2),
                                        k % 4 == 0 ? 80.0f : 6.0f, k % 3 == 0,
                                        k % 2 ? 1.0f : 0.37f, 0.0f};
                failures += !run_backward(ctx, device, &c, &rng);
                cases++;
            }
    static const struct ccase more[] = {
        {3, 50257, F32, 3, 1, SOME_IGNORED, 80.0f, false, 1.0f, 0.0f},
        {2, 50257, BF16, 0, 0, NONE_IGNORED, 100.0f, true, 2.0f, 0.0f},
        {17, 257, F32, 1, 0, ALL_IGNORED, 6.0f, false, 1.0f, 0.0f},
        {17, 257, F16, 1, 0, ALL_IGNORED, 6.0f, true, 1.0f, 0.0f},
        {100, 17, F16, 0, 2, ONE_BAD, 6.0f, false, 1.0f, 0.0f},
        {17, 100, F32, 2, 0, ONE_BAD, 6.0f, true, 1.0f, 0.0f},
    };
    for (size_t i = 0; i < sizeof more / sizeof more[0]; i++)
        failures += !run_backward(ctx, device, &more[i], &rng);
    if (failures)
        fail_msg("%s: %d of %d cross_entropy_bwd cases failed", device, failures,
                 cases + (int)(sizeof more / sizeof more[0]));
    twin_assert_no_fallback(ctx[0], CLT_OP_CROSS_ENTROPY_BWD);
    twin_close_pair(ctx);
}

/* The loss and the gradient twice on the same input: bit for bit the same. */
static void cross_entropy_deterministic(void **state)
{
    const char *device = *state;
    clt_context *ctx = ts_context(device);
    ts_rng rng;
    ts_rng_seed(&rng, 23);
    const int64_t n = 1031, V = 1999;
    const size_t count = (size_t)(n * V);
    float *h = malloc(count * sizeof(float));
    int32_t *t = malloc((size_t)n * sizeof(int32_t));
    assert_non_null(h);
    assert_non_null(t);
    ts_fill_floats(&rng, h, count, -10.0f, 10.0f);
    for (int64_t r = 0; r < n; r++)
        t[r] = r % 7 == 3 ? IGNORE : (int32_t)ts_rng_int(&rng, 0, V - 1);
    clt_buffer *logits = ts_upload(ctx, CLT_TIER_DEVICE, h, count);
    clt_buffer *targets = ts_buffer(ctx, CLT_TIER_DEVICE, (size_t)n * sizeof(int32_t), t);
    clt_buffer *loss = ts_buffer(ctx, CLT_TIER_DEVICE, sizeof(float), NULL);
    clt_buffer *lse = ts_buffer(ctx, CLT_TIER_DEVICE, (size_t)n * sizeof(float), NULL);
    clt_buffer *d = ts_buffer(ctx, CLT_TIER_DEVICE, count * sizeof(float), NULL);
    clt_op fwd = {.kind = CLT_OP_CROSS_ENTROPY_FWD}, bwd = {.kind = CLT_OP_CROSS_ENTROPY_BWD};
    clt_cross_entropy_fwd_args *f = &fwd.u.cross_entropy_fwd;
    clt_cross_entropy_bwd_args *b = &bwd.u.cross_entropy_bwd;
    ts_assert_ok(clt_tensor_init(&f->logits, logits, 0, F32, 2, (const int64_t[]){n, V}));
    ts_assert_ok(clt_tensor_init(&f->targets, targets, 0, CLT_DTYPE_I32, 1, (const int64_t[]){n}));
    ts_assert_ok(clt_tensor_init(&f->loss, loss, 0, F32, 1, (const int64_t[]){1}));
    ts_assert_ok(clt_tensor_init(&f->lse, lse, 0, F32, 1, (const int64_t[]){n}));
    f->ignore_index = IGNORE;
    b->logits = f->logits;
    b->targets = f->targets;
    b->lse = f->lse;
    ts_assert_ok(clt_tensor_init(&b->dlogits, d, 0, F32, 2, (const int64_t[]){n, V}));
    b->dloss = 1.0f;
    b->ignore_index = IGNORE;
    float losses[2];
    void *first = NULL;
    for (int run_i = 0; run_i < 2; run_i++) {
        ts_assert_ok(clt_op_run(ctx, &fwd, NULL));
        ts_download(loss, 0, &losses[run_i], 1);
        ts_assert_ok(clt_op_run(ctx, &bwd, NULL));
        if (run_i == 0) {
            first = ts_download_all(d);
            ts_assert_ok(clt_buffer_write(d, 0, h, count * sizeof(float), NULL));
            ts_assert_ok(clt_buffer_write(loss, 0, h, sizeof(float), NULL));
        }
    }
    assert_memory_equal(&losses[0], &losses[1], sizeof(float));
    assert_true(isfinite(losses[0]) && losses[0] > 0.0f);
    ts_assert_buffer_equals(d, first, count * sizeof(float));
    free(first);
    free(h);
    free(t);
    clt_buffer *all[] = {logits, targets, loss, lse, d};
    for (size_t i = 0; i < 5; i++)
        clt_buffer_destroy(all[i]);
    clt_context_destroy(ctx);
}

/* ---- the GPU's group shapes ------------------------------------------------------------ */

/* Several work-items per row and several rows per group (logsumexp's barriers, tree sums
 * and group-wide fallback; the one-group loss and count), on whatever device runs the
 * test, through $CLT_ROWS_SHAPE (PoCL runs any group). f32 only: each shape and dtype is
 * a program to build. The host ignores the variable. */
static void cross_entropy_group_shapes(void **state)
{
    const char *device = *state;
    clt_context *ctx[2];
    twin_open_pair(device, ctx);
    ts_rng rng;
    ts_rng_seed(&rng, 25);
    static const char *const shapes[] = {"256x1x4", "32x8x4", "8x4x1"};
    static const struct ccase cases[] = {
        {1, 17, F32, 0, 0, NONE_IGNORED, 6.0f, false, 1.0f, 0.0f},
        {17, 257, F32, 3, 1, SOME_IGNORED, 80.0f, true, 0.5f, 0.0f},
        {100, 1000, F32, 1, 0, SOME_IGNORED, 6.0f, false, 1.0f, 0.0f},
        {2, 50257, F32, 0, 2, NONE_IGNORED, 100.0f, false, 1.0f, 0.0f},
        {17, 100, F32, 0, 0, ALL_IGNORED, 6.0f, false, 1.0f, 0.0f},
        {17, 100, F32, 2, 0, ONE_BAD, 6.0f, true, 1.0f, 0.0f},
        {9, 300, F32, 2, 0, SOME_IGNORED, 3.0f, false, 1.0f, -3000.0f},
    };
    int failures = 0;
    for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++) {
        setenv("CLT_ROWS_SHAPE", shapes[sh], 1);
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            failures += !run_forward(ctx, device, &cases[i], &rng);
            failures += !run_backward(ctx, device, &cases[i], &rng);
        }
        if (failures)
            print_error("%s: CLT_ROWS_SHAPE=%s: %d failures so far\n", device, shapes[sh],
                        failures);
    }
    unsetenv("CLT_ROWS_SHAPE");
    if (failures)
        fail_msg("%s: %d cross-entropy cases failed in the GPU's group shapes", device,
                 failures);
    twin_close_pair(ctx);
}

/* ---- bad arguments ------------------------------------------------------------------- */

static void cross_entropy_bad_arguments(void **state)
{
    const char *device = *state;
    clt_context *ctx = ts_context(device);
    float h[6 * 5];
    for (int i = 0; i < 30; i++)
        h[i] = (float)i;
    const int32_t t[6] = {0, 1, 2, 3, 4, 0};
    clt_buffer *logits = ts_upload(ctx, CLT_TIER_DEVICE, h, 30);
    clt_buffer *targets = ts_buffer(ctx, CLT_TIER_DEVICE, sizeof t, t);
    clt_buffer *outs = ts_buffer(ctx, CLT_TIER_DEVICE, 64 * sizeof(float), NULL);
    clt_buffer *d = ts_buffer(ctx, CLT_TIER_DEVICE, sizeof h, NULL);
    void *outs_before = ts_download_all(outs), *d_before = ts_download_all(d);
    const int64_t rows[2] = {6, 5};

    clt_op op = {.kind = CLT_OP_CROSS_ENTROPY_FWD};
    clt_cross_entropy_fwd_args *f = &op.u.cross_entropy_fwd;
    ts_assert_ok(clt_tensor_init(&f->logits, logits, 0, F32, 2, rows));
    ts_assert_ok(clt_tensor_init(&f->targets, targets, 0, CLT_DTYPE_I32, 1, (const int64_t[]){6}));
    ts_assert_ok(clt_tensor_init(&f->loss, outs, 0, F32, 1, (const int64_t[]){1}));
    ts_assert_ok(clt_tensor_init(&f->lse, outs, 16, F32, 1, (const int64_t[]){5}));
    ts_assert_status(clt_op_run(ctx, &op, NULL), CLT_ERR_INVALID_ARG); /* lse: 5, not 6 rows */
    ts_assert_error_mentions("cross_entropy_fwd");
    ts_assert_error_mentions("argument lse");
    ts_assert_ok(clt_tensor_init(&f->lse, outs, 16, F32, 1, (const int64_t[]){6}));
    ts_assert_ok(clt_tensor_init(&f->targets, logits, 0, F32, 1, (const int64_t[]){6}));
    ts_assert_status(clt_op_run(ctx, &op, NULL), CLT_ERR_INVALID_ARG); /* targets are i32 */
    ts_assert_error_mentions("cross_entropy_fwd");
    ts_assert_error_mentions("argument targets");
    ts_assert_ok(clt_tensor_init(&f->targets, targets, 0, CLT_DTYPE_I32, 1, (const int64_t[]){6}));
    ts_assert_ok(clt_tensor_init(&f->loss, outs, 0, F32, 1, (const int64_t[]){2}));
    ts_assert_status(clt_op_run(ctx, &op, NULL), CLT_ERR_INVALID_ARG); /* loss: (1,) */
    ts_assert_error_mentions("argument loss");
    ts_assert_buffer_equals(outs, outs_before, 64 * sizeof(float));

    clt_op bop = {.kind = CLT_OP_CROSS_ENTROPY_BWD};
    clt_cross_entropy_bwd_args *b = &bop.u.cross_entropy_bwd;
    ts_assert_ok(clt_tensor_init(&b->logits, logits, 0, F32, 2, rows));
    ts_assert_ok(clt_tensor_init(&b->targets, targets, 0, CLT_DTYPE_I32, 1, (const int64_t[]){6}));
    ts_assert_ok(clt_tensor_init(&b->lse, outs, 0, F32, 1, (const int64_t[]){7}));
    ts_assert_ok(clt_tensor_init(&b->dlogits, d, 0, F32, 2, rows));
    b->dloss = 1.0f;
    b->ignore_index = IGNORE;
    ts_assert_status(clt_op_run(ctx, &bop, NULL), CLT_ERR_INVALID_ARG); /* lse: 7, not 6 */
    ts_assert_error_mentions("cross_entropy_bwd");
    ts_assert_error_mentions("argument lse");
    ts_assert_ok(clt_tensor_init(&b->lse, outs, 0, F32, 1, (const int64_t[]){6}));
    ts_assert_ok(clt_tensor_init(&b->dlogits, d, 0, F16, 2, rows));
    ts_assert_status(clt_op_run(ctx, &bop, NULL), CLT_ERR_INVALID_ARG); /* dtypes differ */
    ts_assert_error_mentions("argument dlogits");
    ts_assert_ok(clt_tensor_init(&b->dlogits, d, 0, F32, 2, rows));
    b->dloss = INFINITY;
    ts_assert_status(clt_op_run(ctx, &bop, NULL), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("cross_entropy_bwd");
    ts_assert_error_mentions("dloss");
    ts_assert_buffer_equals(d, d_before, sizeof h);

    free(outs_before);
    free(d_before);
    clt_buffer *all[] = {logits, targets, outs, d};
    for (size_t i = 0; i < 4; i++)
        clt_buffer_destroy(all[i]);
    clt_context_destroy(ctx);
}

/* ---- the reference itself ----------------------------------------------------------- */

static void ref_cross_entropy_by_hand(void **state)
{
    (void)state;
    /* rows (0, ln 3) with target 1: loss ln 4 − ln 3; (0, 0) with target 0: ln 2; the
     * third row ignored */
    const float x[6] = {0.0f, logf(3.0f), 0.0f, 0.0f, 5.0f, -5.0f};
    const int32_t t[3] = {1, 0, IGNORE};
    float loss, lse[3];
    clt_cross_entropy_fwd_args a = {.ignore_index = IGNORE};
    ts_matrix_layout(&a.logits, F32, 0, 3, 2, 2, 0, 0);
    clt_ref_cross_entropy_fwd(&a, x, t, &loss, lse);
    assert_float_equal(lse[0], logf(4.0f), 1e-6);
    assert_float_equal(lse[1], logf(2.0f), 1e-6);
    assert_float_equal(loss, ((logf(4.0f) - logf(3.0f)) + logf(2.0f)) / 2.0f, 1e-6);
    /* dlogits: (softmax − onehot)/2; the ignored row 0 */
    float d[6];
    clt_cross_entropy_bwd_args b = {.dloss = 1.0f, .ignore_index = IGNORE};
    b.logits = b.dlogits = a.logits;
    clt_ref_cross_entropy_bwd(&b, x, t, lse, d);
    const float want[6] = {0.25f / 2, (0.75f - 1.0f) / 2, (0.5f - 1.0f) / 2, 0.5f / 2, 0, 0};
    assert_true(ts_close(d, want, 6, 1e-6, "cross-entropy gradient by hand"));
    /* every row ignored: loss 0 */
    const int32_t none[3] = {IGNORE, IGNORE, IGNORE};
    clt_ref_cross_entropy_fwd(&a, x, none, &loss, lse);
    assert_true(loss == 0.0f);
}

/* dlogits from the reference's backward pass against central differences of
 * dloss · loss(logits) from its forward pass. */
static void ref_cross_entropy_bwd_finite_differences(void **state)
{
    (void)state;
    ts_rng rng;
    ts_rng_seed(&rng, 24);
    enum { N = 4, V = 5 };
    float x[N * V], d[N * V], lse[N], loss;
    ts_fill_floats(&rng, x, N * V, -2.0f, 2.0f);
    const int32_t t[N] = {3, IGNORE, 0, 4};
    const float dloss = 1.7f;
    clt_cross_entropy_fwd_args fa = {.ignore_index = IGNORE};
    ts_matrix_layout(&fa.logits, F32, 0, N, V, V, 0, 0);
    clt_cross_entropy_bwd_args ba = {.dloss = dloss, .ignore_index = IGNORE};
    ba.logits = ba.dlogits = fa.logits;
    clt_ref_cross_entropy_fwd(&fa, x, t, &loss, lse);
    clt_ref_cross_entropy_bwd(&ba, x, t, lse, d);
    const float eps = 1e-2f;
    double worst = 0.0, scale = 0.0;
    for (int i = 0; i < N * V; i++)
        scale = fmax(scale, fabs(d[i]));
    for (int i = 0; i < N * V; i++) {
        double l[2];
        for (int s = 0; s < 2; s++) {
            float xp[N * V];
            memcpy(xp, x, sizeof x);
            xp[i] += s ? -eps : eps;
            clt_ref_cross_entropy_fwd(&fa, xp, t, &loss, lse);
            l[s] = (double)dloss * loss;
        }
        const double fd = (l[0] - l[1]) / (2.0 * eps);
        worst = fmax(worst, fabs(fd - d[i]) / fmax(fabs(d[i]), 0.1 * scale));
    }
    if (worst > 1e-2)
        fail_msg("cross_entropy_bwd differs from central differences by %.3g (relative)", worst);
}

int main(void)
{
    const struct CMUnitTest ref_tests[] = {
        cmocka_unit_test(ref_cross_entropy_by_hand),
        cmocka_unit_test(ref_cross_entropy_bwd_finite_differences),
    };
    int failed = cmocka_run_group_tests_name("cross_entropy reference", ref_tests, NULL, NULL);
    const ts_device_test tests[] = {
        {"cross_entropy_fwd_shapes", cross_entropy_fwd_shapes},
        {"cross_entropy_bwd_shapes", cross_entropy_bwd_shapes},
        {"cross_entropy_deterministic", cross_entropy_deterministic},
        {"cross_entropy_bad_arguments", cross_entropy_bad_arguments},
        {"cross_entropy_group_shapes", cross_entropy_group_shapes},
    };
    return failed + ts_run_per_device("cross_entropy", tests, sizeof tests / sizeof tests[0]);
}
