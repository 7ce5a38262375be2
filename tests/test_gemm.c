/* GEMM on every device against the host reference (clt_ref_gemm_f32): odd and prime
 * shapes, tall and skinny, every transpose, batches (shared and stride-0 operands),
 * alpha/beta/bias, NaN in C with beta 0, padded rows and byte offsets, a case larger
 * than any tile, and HOST_PINNED operands. Whole buffers are compared, so a write
 * outside C's elements (into row padding, before the offset, past the end) fails. */
#include <math.h>

#include "backends/host/ref.h"
#include "support/support.h"

enum { FULL = 0, SHARED = 1, STRIDE0 = 2 }; /* how a batched a or b is given */

struct gcase {
    const char *name;
    int M, N, K;
    bool ta, tb;
    float alpha, beta;
    bool bias;
    int batch;         /* 0: rank 2 throughout; else c is (batch, M, N) */
    int a_mode, b_mode;
    int pad;           /* extra elements at the end of each row, and between batches */
    size_t off;        /* byte offset of every tensor in its buffer */
    bool ints;         /* integer-valued inputs: the result must be exact */
    bool nan_c;        /* C's elements start as NaN (beta must be 0) */
    clt_tier tier;
    bool b_pinned;     /* b on HOST_PINNED whatever the tier of the others */
};

#define T0 CLT_TIER_DEVICE
static const struct gcase cases[] = {
    /* name             M     N    K   ta tb  alpha  beta  bias batch am bm pad off ints nan tier */
    {"1x1x1",           1,    1,   1,  0, 0,  1.0f,  0.0f, 0,   0, 0, 0, 0, 0,  1, 0, T0, 0},
    {"7x13x5",          7,    13,  5,  0, 0,  1.0f,  0.0f, 0,   0, 0, 0, 0, 0,  1, 0, T0, 0},
    {"17x1x33",         17,   1,   33, 0, 0,  1.0f,  0.0f, 0,   0, 0, 0, 0, 0,  1, 0, T0, 0},
    {"1x257x3",         1,    257, 3,  0, 0,  1.0f,  0.0f, 0,   0, 0, 0, 0, 0,  1, 0, T0, 0},
    {"129x1x1",         129,  1,   1,  0, 0,  1.0f,  1.0f, 0,   0, 0, 0, 0, 0,  1, 0, T0, 0},
    {"127x61x253",      127,  61,  253,0, 0,  1.0f,  0.0f, 0,   0, 0, 0, 0, 0,  0, 0, T0, 0},
    {"tall 1000x3x17",  1000, 3,   17, 0, 0,  1.0f,  0.0f, 0,   0, 0, 0, 0, 0,  1, 0, T0, 0},
    {"wide 3x1000x2",   3,    1000,2,  0, 0,  1.0f,  0.0f, 0,   0, 0, 0, 0, 0,  1, 0, T0, 0},
    {"64x64x64",        64,   64,  64, 0, 0,  1.0f,  0.0f, 0,   0, 0, 0, 0, 0,  1, 0, T0, 0},
    {"ta 33x29x31",     33,   29,  31, 1, 0,  1.0f,  0.0f, 0,   0, 0, 0, 0, 0,  1, 0, T0, 0},
    {"tb 33x29x31",     33,   29,  31, 0, 1,  1.0f,  0.0f, 0,   0, 0, 0, 0, 0,  1, 0, T0, 0},
    {"ta tb 33x29x31",  33,   29,  31, 1, 1,  1.0f,  0.0f, 0,   0, 0, 0, 0, 0,  1, 0, T0, 0},
    {"ta tb 65x67x129", 65,   67,  129,1, 1,  1.0f,  0.0f, 0,   0, 0, 0, 0, 0,  0, 0, T0, 0},
    {"batch 3",         4,    5,   6,  0, 0,  1.0f,  0.0f, 0,   3, FULL, FULL, 0, 0, 1, 0, T0, 0},
    {"batch shared a",  9,    10,  11, 0, 0,  1.0f,  0.0f, 0,   4, SHARED, FULL, 0, 0, 1, 0, T0, 0},
    {"batch b stride 0",8,    7,   6,  0, 0,  1.0f,  1.0f, 0,   3, FULL, STRIDE0, 0, 0, 1, 0, T0, 0},
    {"batch ta tb shared b",
                        5,    6,   7,  1, 1,  1.0f,  0.0f, 0,   2, FULL, SHARED, 0, 0, 1, 0, T0, 0},
    {"alpha 0 beta 1",  13,   11,  9,  0, 0,  0.0f,  1.0f, 0,   0, 0, 0, 0, 0,  1, 0, T0, 0},
    {"alpha 0 beta 0",  13,   11,  9,  0, 0,  0.0f,  0.0f, 0,   0, 0, 0, 0, 0,  1, 0, T0, 0},
    {"alpha -0.5 beta 2.5",
                        19,   21,  23, 0, 0, -0.5f,  2.5f, 0,   0, 0, 0, 0, 0,  1, 0, T0, 0},
    {"alpha 2.5 beta -0.5 bias",
                        19,   21,  23, 1, 0,  2.5f, -0.5f, 1,   0, 0, 0, 0, 0,  1, 0, T0, 0},
    {"beta 0 NaN in C", 15,   17,  19, 0, 0,  1.0f,  0.0f, 0,   0, 0, 0, 0, 0,  1, 1, T0, 0},
    {"beta 0 NaN in C alpha 0 bias",
                        15,   17,  19, 0, 1,  0.0f,  0.0f, 1,   0, 0, 0, 0, 0,  1, 1, T0, 0},
    {"batch bias NaN C",6,    9,   5,  0, 0,  1.0f,  0.0f, 1,   3, FULL, FULL, 0, 0, 1, 1, T0, 0},
    {"padded rows offsets",
                        19,   23,  29, 0, 0,  1.0f,  1.0f, 1,   0, 0, 0, 3, 12, 1, 0, T0, 0},
    {"padded ta tb batch offsets",
                        18,   22,  14, 1, 1,  -0.5f, 2.5f, 1,   2, FULL, STRIDE0, 5, 260, 1, 0, T0, 0},
    {"300x300x300",     300,  300, 300,0, 0,  1.0f,  0.0f, 0,   0, 0, 0, 0, 0,  0, 0, T0, 0},
    {"300 floats alpha beta bias",
                        300,  301, 299,1, 0,  0.75f, -1.25f,1,  0, 0, 0, 1, 4,  0, 0, T0, 0},
    {"pinned 31x17x23", 31,   17,  23, 0, 1,  1.0f,  0.5f, 1,   0, 0, 0, 0, 0,  1, 0,
     CLT_TIER_HOST_PINNED, 0},
    {"mixed tiers b pinned",
                        23,   19,  17, 0, 1,  1.0f,  1.0f, 1,   2, FULL, FULL, 1, 4, 1, 0, T0, 1},
    {"pinned batch",    7,    9,   11, 1, 0,  1.0f,  0.0f, 0,   3, FULL, SHARED, 2, 8, 1, 0,
     CLT_TIER_HOST_PINNED, 0},
};
#define N_CASES (sizeof cases / sizeof cases[0])

/* One operand: the host copy of its whole buffer and its descriptor. */
struct operand {
    float *host;      /* the buffer's contents */
    size_t n;         /* floats in the buffer */
    clt_buffer *buf;
    clt_tensor t;
};

/* Lays out a (batch, rows, cols) operand: row stride cols + pad, batch stride
 * rows·(cols + pad) + pad (0 for STRIDE0), rank 2 for SHARED or batch 0. */
static void layout(struct operand *o, const struct gcase *c, int rows, int cols, int mode)
{
    memset(o, 0, sizeof *o);
    int64_t rs = cols + c->pad;
    int64_t bs = rows * rs + c->pad;
    bool batched = c->batch > 0 && mode != SHARED;
    o->n = ts_matrix_layout(&o->t, CLT_DTYPE_F32, batched ? c->batch : 0, rows, cols, rs,
                            mode == STRIDE0 ? 0 : bs, c->off / sizeof(float));
    o->host = malloc(o->n * sizeof(float));
    assert_non_null(o->host);
}

static float *elem0(const struct operand *o) { return o->host + o->t.offset / sizeof(float); }

/* Whether element i of the buffer is one of the tensor's elements. */
static bool covers(const struct operand *o, size_t i)
{
    size_t first = o->t.offset / sizeof(float);
    if (i < first)
        return false;
    int64_t rel = (int64_t)(i - first);
    int r = o->t.rank;
    int64_t rs = o->t.strides[r - 2], cols = o->t.shape[r - 1], rows = o->t.shape[r - 2];
    int64_t nb = r == 3 ? o->t.shape[0] : 1, bs = r == 3 ? o->t.strides[0] : 0;
    for (int64_t b = 0; b < nb; b++) {
        int64_t x = rel - b * bs;
        if (x >= 0 && x / rs < rows && x % rs < cols)
            return true;
    }
    return false;
}

static void free_operand(struct operand *o)
{
    clt_buffer_destroy(o->buf);
    free(o->host);
}

/* Runs one case on ctx and compares the whole of C's buffer with the reference. */
static bool run_case(clt_context *ctx, const char *device, const struct gcase *c, ts_rng *rng,
                     bool async)
{
    struct operand a, b, cc, bias;
    layout(&a, c, c->ta ? c->K : c->M, c->ta ? c->M : c->K, c->a_mode);
    layout(&b, c, c->tb ? c->N : c->K, c->tb ? c->K : c->N, c->b_mode);
    layout(&cc, c, c->M, c->N, FULL);
    memset(&bias, 0, sizeof bias);
    if (c->ints) {
        ts_fill_ints(rng, a.host, a.n, -4, 4);
        ts_fill_ints(rng, b.host, b.n, -4, 4);
        ts_fill_ints(rng, cc.host, cc.n, -8, 8);
    } else {
        ts_fill_floats(rng, a.host, a.n, -1, 1);
        ts_fill_floats(rng, b.host, b.n, -1, 1);
        ts_fill_floats(rng, cc.host, cc.n, -1, 1);
    }
    /* C's padding and guards hold a value no GEMM would produce here */
    for (size_t i = 0; i < cc.n; i++) {
        if (!covers(&cc, i))
            cc.host[i] = 1234567.0f;
        else if (c->nan_c)
            cc.host[i] = NAN;
    }
    if (c->bias) {
        bias.t.dtype = CLT_DTYPE_F32;
        bias.t.offset = c->off;
        bias.t.rank = 1;
        bias.t.shape[0] = c->N;
        bias.t.strides[0] = 1;
        bias.n = c->off / sizeof(float) + (size_t)c->N + 1;
        bias.host = malloc(bias.n * sizeof(float));
        assert_non_null(bias.host);
        if (c->ints)
            ts_fill_ints(rng, bias.host, bias.n, -8, 8);
        else
            ts_fill_floats(rng, bias.host, bias.n, -1, 1);
    }
    a.t.buf = a.buf = ts_upload(ctx, c->tier, a.host, a.n);
    b.t.buf = b.buf = ts_upload(ctx, c->b_pinned ? CLT_TIER_HOST_PINNED : c->tier, b.host, b.n);
    cc.t.buf = cc.buf = ts_upload(ctx, c->tier, cc.host, cc.n);
    if (c->bias)
        bias.t.buf = bias.buf = ts_upload(ctx, c->tier, bias.host, bias.n);

    clt_gemm_args g;
    memset(&g, 0, sizeof g);
    g.a = a.t;
    g.b = b.t;
    g.c = cc.t;
    g.bias = bias.t;
    g.trans_a = c->ta;
    g.trans_b = c->tb;
    g.alpha = c->alpha;
    g.beta = c->beta;

    float *want = malloc(cc.n * sizeof(float)), *got = malloc(cc.n * sizeof(float));
    assert_non_null(want);
    assert_non_null(got);
    memcpy(want, cc.host, cc.n * sizeof(float));
    clt_ref_gemm_f32(&g, elem0(&a), elem0(&b), want + c->off / sizeof(float),
                     c->bias ? elem0(&bias) : NULL);

    clt_status st;
    if (async) {
        clt_event *ev = (clt_event *)&ev;
        st = clt_gemm(ctx, &g, &ev);
        assert_true(ev != (clt_event *)&ev);
        if (st == CLT_OK && ev) {
            st = clt_event_wait(ev);
            clt_event_destroy(ev);
        }
    } else {
        st = clt_gemm(ctx, &g, NULL);
    }
    char what[160];
    snprintf(what, sizeof what, "%s: gemm %s", device, c->name);
    bool ok = st == CLT_OK;
    if (!ok)
        print_error("%s: %s: %s\n", what, clt_status_name(st), clt_last_error());
    ts_download(cc.buf, 0, got, cc.n);
    double tol = c->ints ? 0.0 : 1e-5 * sqrt((double)c->K);
    ok = ok && ts_close(got, want, cc.n, tol, what);
    for (size_t i = 0; ok && i < cc.n; i++) {
        if (isnan(got[i])) {
            print_error("%s: NaN at element %zu\n", what, i);
            ok = false;
        }
    }
    /* the inputs are untouched */
    float *in = malloc(a.n * sizeof(float));
    assert_non_null(in);
    ts_download(a.buf, 0, in, a.n);
    if (memcmp(in, a.host, a.n * sizeof(float)) != 0) {
        print_error("%s: a was modified\n", what);
        ok = false;
    }
    free(in);
    free(want);
    free(got);
    free_operand(&a);
    free_operand(&b);
    free_operand(&cc);
    if (c->bias)
        free_operand(&bias);
    return ok;
}

static void gemm_shapes(void **state)
{
    const char *device = *state;
    clt_context *ctx = ts_context(device);
    bool supported = false;
    ts_assert_ok(clt_op_supported(ctx, CLT_OP_GEMM, CLT_DTYPE_F32, &supported));
    ts_rng rng;
    ts_rng_seed(&rng, 20240601);
    /* run every case even after a failure, to report them all */
    int failures = 0;
    for (size_t i = 0; i < N_CASES; i++)
        failures += !run_case(ctx, device, &cases[i], &rng, false);
    if (failures)
        fail_msg("%s: %d of %zu GEMM cases failed", device, failures, N_CASES);
    clt_stats st;
    ts_assert_ok(clt_context_stats(ctx, &st));
    assert_int_equal(st.ops_run + st.ops_fallback, N_CASES);
    /* the device runs f32 GEMM itself: no test above went to the host by accident */
    if (supported)
        assert_int_equal(st.ops_fallback, 0);
    clt_context_destroy(ctx);
}

static void gemm_async_and_repeat(void **state)
{
    const char *device = *state;
    clt_context *ctx = ts_context(device);
    ts_rng rng;
    ts_rng_seed(&rng, 99);
    /* the same case twice, async, then a different one: programs are reused */
    assert_true(run_case(ctx, device, &cases[1], &rng, true));
    assert_true(run_case(ctx, device, &cases[1], &rng, true));
    assert_true(run_case(ctx, device, &cases[13], &rng, true));
    ts_assert_ok(clt_context_finish(ctx));
    clt_context_destroy(ctx);
}

/* f32 GEMM is something every device must run itself. */
static void gemm_supported(void **state)
{
    const char *device = *state;
    clt_context *ctx = ts_context(device);
    bool s = false;
    ts_assert_ok(clt_op_supported(ctx, CLT_OP_GEMM, CLT_DTYPE_F32, &s));
    assert_true(s);
    assert_int_equal(clt_op_supported(ctx, (clt_op_kind)CLT_OP_COUNT, CLT_DTYPE_F32, &s),
                     CLT_ERR_INVALID_ARG);
    assert_int_equal(clt_op_supported(ctx, CLT_OP_GEMM, (clt_dtype)CLT_DTYPE_COUNT, &s),
                     CLT_ERR_INVALID_ARG);
    assert_int_equal(clt_op_supported(ctx, CLT_OP_GEMM, CLT_DTYPE_F32, NULL),
                     CLT_ERR_INVALID_ARG);
    assert_int_equal(clt_op_supported(NULL, CLT_OP_GEMM, CLT_DTYPE_F32, &s),
                     CLT_ERR_INVALID_ARG);
    clt_context_destroy(ctx);
}

int main(void)
{
    const ts_device_test tests[] = {
        {"gemm_supported", gemm_supported},
        {"gemm_shapes", gemm_shapes},
        {"gemm_async_and_repeat", gemm_async_and_repeat},
    };
    return ts_run_per_device("gemm", tests, sizeof tests / sizeof tests[0]);
}
