/* The OpenCL optimizer and codec kernels (kernels_cl/optim.cl) against the host driver,
 * the oracle (backends/host/optim_host.c): the same op on the same bytes in an
 * "opencl:0" context and a "host" context, then every byte compared. AdamW, SGD and
 * LAMB with f32 and q8 states over sizes around the block and vector edges, 100 steps
 * for the small ones; a range at an offset; param_copy in f16/bf16 from f16/bf16
 * gradients; the gate; q8 blocks other than the default (shorter and longer than what
 * the CPU kernels keep of a block, not multiples of the vector width); quantize8/
 * dequantize8 with zero, NaN and Inf blocks; run-to-run determinism; the launch shapes
 * of $CLT_OPTIM_SHAPE (the GPU shape too, run on whatever device there is) and its
 * refusal of bad values; and that opencl ran every op itself (no host fallback).
 *
 * Agreement: f32 states and parameters of AdamW and SGD within 1 ulp (the kernels do
 * the host's f32 operations in its order); q8 codes equal except at exact ties (none
 * expected with correctly rounded division, so the test allows none); LAMB's
 * parameters within a relative 1e-6 of the step (its norms are summed in f32 on the
 * device, in double on the host). Skipped when there is no OpenCL device. */
#include <math.h>

#include "support/support.h"

enum kind { ADAMW, SGD, LAMB };

#define BLOCK CLT_Q8_DEFAULT_BLOCK

struct setup {
    enum kind kind;
    size_t n, off;          /* elements; the range's offset (a multiple of the block) */
    int32_t block;          /* q8 elements per absmax; 0: BLOCK */
    bool q8, momentum, nesterov;
    clt_dtype grad_dt, copy_dt; /* copy_dt CLT_DTYPE_U8: no param_copy */
    int steps;
    float gate;             /* used when has_gate */
    bool has_gate;
};

/* One context's tensors: buffers of off + n elements (off/block + blocks absmax). */
struct side {
    clt_context *ctx;
    clt_buffer *param, *grad, *m, *v, *ma, *va, *copy, *gate;
};

static size_t block_of(const struct setup *u) { return u->block ? (size_t)u->block : BLOCK; }
static size_t blocks_of(const struct setup *u, size_t n)
{
    return (n + block_of(u) - 1) / block_of(u);
}

static clt_buffer *zeros(clt_context *ctx, size_t bytes)
{
    void *z = calloc(bytes, 1);
    assert_non_null(z);
    clt_buffer *b = ts_buffer(ctx, CLT_TIER_DEVICE, bytes, z);
    free(z);
    return b;
}

static void side_make(struct side *s, clt_context *ctx, const struct setup *u,
                      const float *param)
{
    memset(s, 0, sizeof *s);
    s->ctx = ctx;
    const size_t total = u->off + u->n, nb = blocks_of(u, u->off) + blocks_of(u, u->n);
    const size_t st = u->q8 ? 1 : sizeof(float);
    s->param = ts_upload(ctx, CLT_TIER_DEVICE, param, total);
    s->grad = zeros(ctx, total * sizeof(float));
    if (u->kind != SGD || u->momentum)
        s->m = zeros(ctx, total * st);
    if (u->kind != SGD)
        s->v = zeros(ctx, total * st);
    if (u->q8 && s->m)
        s->ma = zeros(ctx, nb * sizeof(float));
    if (u->q8 && s->v)
        s->va = zeros(ctx, nb * sizeof(float));
    if (u->copy_dt != CLT_DTYPE_U8)
        s->copy = zeros(ctx, total * sizeof(float));
    if (u->has_gate)
        s->gate = ts_upload(ctx, CLT_TIER_DEVICE, &u->gate, 1);
}

static void side_free(struct side *s)
{
    clt_buffer *all[] = {s->param, s->grad, s->m, s->v, s->ma, s->va, s->copy, s->gate};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        clt_buffer_destroy(all[i]);
}

static void vec(clt_tensor *t, clt_buffer *buf, clt_dtype dt, size_t off, size_t n)
{
    memset(t, 0, sizeof *t);
    if (buf)
        ts_assert_ok(clt_tensor_init(t, buf, off * clt_dtype_size(dt), dt, 1,
                                     (const int64_t[]){(int64_t)n}));
}

static clt_op op_of(const struct setup *u, const struct side *s, const clt_optim_hparams *h)
{
    const clt_dtype st = u->q8 ? CLT_DTYPE_U8 : CLT_DTYPE_F32;
    const size_t n = u->n, o = u->off, ob = o / block_of(u), nb = blocks_of(u, n);
    clt_op op;
    memset(&op, 0, sizeof op);
    if (u->kind == SGD) {
        op.kind = CLT_OP_SGD;
        clt_sgd_args *a = &op.u.sgd;
        vec(&a->param, s->param, CLT_DTYPE_F32, o, n);
        vec(&a->grad, s->grad, u->grad_dt, o, n);
        vec(&a->momentum, s->m, st, o, n);
        vec(&a->momentum_absmax, s->ma, CLT_DTYPE_F32, ob, nb);
        vec(&a->param_copy, s->copy, u->copy_dt, o, n);
        vec(&a->gate, s->gate, CLT_DTYPE_F32, 0, 1);
        a->h = *h;
        a->block = u->block;
        return op;
    }
    op.kind = u->kind == ADAMW ? CLT_OP_ADAMW : CLT_OP_LAMB;
    clt_adamw_args *a = u->kind == ADAMW ? &op.u.adamw : &op.u.lamb;
    vec(&a->param, s->param, CLT_DTYPE_F32, o, n);
    vec(&a->grad, s->grad, u->grad_dt, o, n);
    vec(&a->m, s->m, st, o, n);
    vec(&a->v, s->v, st, o, n);
    vec(&a->m_absmax, s->ma, CLT_DTYPE_F32, ob, nb);
    vec(&a->v_absmax, s->va, CLT_DTYPE_F32, ob, nb);
    vec(&a->param_copy, s->copy, u->copy_dt, o, n);
    vec(&a->gate, s->gate, CLT_DTYPE_F32, 0, 1);
    a->h = *h;
    a->block = u->block;
    return op;
}

/* Gradients of step k in the storage dtype, written into both sides' grad buffers. */
static void write_grad(struct side sd[2], const struct setup *u, ts_rng *rng)
{
    const size_t total = u->off + u->n, es = clt_dtype_size(u->grad_dt);
    float *g = malloc(total * sizeof *g);
    uint16_t *h16 = malloc(total * sizeof *h16);
    assert_true(g && h16);
    ts_fill_floats(rng, g, total, -1.0f, 1.0f);
    for (size_t i = 0; i < total; i += 97) /* a spread of magnitudes */
        g[i] *= 1e-4f;
    for (size_t i = 0; i < total; i++)
        h16[i] = u->grad_dt == CLT_DTYPE_F16 ? clt_f32_to_f16(g[i]) : clt_f32_to_bf16(g[i]);
    const void *src = u->grad_dt == CLT_DTYPE_F32 ? (const void *)g : (const void *)h16;
    for (int k = 0; k < 2; k++)
        ts_assert_ok(clt_buffer_write(sd[k].grad, 0, src, total * es, NULL));
    free(g);
    free(h16);
}

/* Float buffers equal within `ulps` (NaN matching NaN), or within rel·|want| + abs. */
static void assert_floats(clt_buffer *a, clt_buffer *b, int ulps, double rel, double abs,
                          const char *what)
{
    if (!a)
        return;
    const size_t n = clt_buffer_size(a) / sizeof(float);
    float *x = ts_download_all(a), *y = ts_download_all(b);
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(x[i]) || isnan(y[i])) {
            if (!(isnan(x[i]) && isnan(y[i])) && !bad++)
                first = i;
            continue;
        }
        int32_t ix, iy;
        memcpy(&ix, &x[i], 4);
        memcpy(&iy, &y[i], 4);
        const int64_t d = (int64_t)ix - (int64_t)iy;
        const bool ok = (d >= -ulps && d <= ulps) ||
                        fabs((double)x[i] - (double)y[i]) <= rel * fabs((double)y[i]) + abs;
        if (!ok && !bad++)
            first = i;
    }
    if (bad)
        fail_msg("%s: %zu of %zu differ; first at %zu: opencl %.9g host %.9g", what, bad, n,
                 first, (double)x[first], (double)y[first]);
    free(x);
    free(y);
}

static void assert_bytes(clt_buffer *a, clt_buffer *b, const char *what)
{
    if (!a)
        return;
    const size_t n = clt_buffer_size(a);
    uint8_t *x = ts_download_all(a), *y = ts_download_all(b);
    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i])
            fail_msg("%s: byte %zu of %zu: opencl %u host %u", what, i, n, x[i], y[i]);
    free(x);
    free(y);
}

static bool open_device(clt_context **ctx)
{
    if (ts_context_open("opencl:0", NULL, ctx) != CLT_OK) {
        *ctx = NULL;
        return false;
    }
    return true;
}

static void assert_no_fallback(clt_context *ctx)
{
    clt_stats st;
    ts_assert_ok(clt_context_stats(ctx, &st));
    assert_true(st.ops_run > 0);
    assert_int_equal(st.ops_fallback, 0);
}

static clt_optim_hparams hparams_of(enum kind kind)
{
    clt_optim_hparams h = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                           .weight_decay = 0.01f, .grad_scale = 0.5f};
    if (kind == SGD) {
        h.lr = 1e-2f;
        h.weight_decay = 1e-3f;
    }
    return h;
}

/* Runs the setup's steps on both sides and compares everything. */
static void run_compare(const struct setup *u)
{
    clt_context *dev = NULL;
    if (!open_device(&dev))
        skip();
    struct side sd[2];
    ts_rng rng;
    ts_rng_seed(&rng, 1234 + u->n);
    const size_t total = u->off + u->n;
    float *param = malloc(total * sizeof *param);
    assert_non_null(param);
    ts_fill_floats(&rng, param, total, -1.0f, 1.0f);
    side_make(&sd[0], dev, u, param);
    side_make(&sd[1], ts_context("host"), u, param);
    free(param);
    clt_optim_hparams h = hparams_of(u->kind);
    if (u->kind == SGD) {
        h.beta1 = u->momentum ? 0.9f : 0.0f;
        h.nesterov = u->nesterov;
    }
    for (int k = 1; k <= u->steps; k++) {
        write_grad(sd, u, &rng);
        h.step = k;
        for (int c = 0; c < 2; c++) {
            const clt_op op = op_of(u, &sd[c], &h);
            ts_assert_ok(clt_op_run(sd[c].ctx, &op, NULL));
        }
    }
    const bool lamb = u->kind == LAMB;
    char what[96];
    snprintf(what, sizeof what, "kind %d n %zu q8 %d block %d: param", (int)u->kind, u->n,
             u->q8, (int)u->block);
    assert_floats(sd[0].param, sd[1].param, 1, lamb ? 1e-6 : 0, lamb ? 1e-7 : 0, what);
    if (u->q8) {
        assert_bytes(sd[0].m, sd[1].m, "m codes");
        assert_bytes(sd[0].v, sd[1].v, "v codes");
        assert_floats(sd[0].ma, sd[1].ma, 0, 0, 0, "m absmax");
        assert_floats(sd[0].va, sd[1].va, 0, 0, 0, "v absmax");
    } else {
        assert_floats(sd[0].m, sd[1].m, 1, 0, 0, "m");
        assert_floats(sd[0].v, sd[1].v, 1, 0, 0, "v");
    }
    if (sd[0].copy && !lamb)
        assert_bytes(sd[0].copy, sd[1].copy, "param_copy");
    assert_no_fallback(dev);
    clt_context *host = sd[1].ctx;
    side_free(&sd[0]);
    side_free(&sd[1]);
    clt_context_destroy(dev);
    clt_context_destroy(host);
}

static const size_t small_sizes[] = {1, 255, 257, 4095, 4097};
#define N_SMALL (sizeof small_sizes / sizeof small_sizes[0])
#define LARGE 1000003

static void sweep(enum kind kind, bool q8, bool momentum, bool nesterov)
{
    for (size_t i = 0; i <= N_SMALL; i++) {
        const struct setup u = {.kind = kind, .n = i < N_SMALL ? small_sizes[i] : LARGE,
                                .q8 = q8, .momentum = momentum, .nesterov = nesterov,
                                .grad_dt = CLT_DTYPE_F32, .copy_dt = CLT_DTYPE_U8,
                                .steps = i < N_SMALL ? 100 : 3};
        run_compare(&u);
    }
}

static void adamw_f32(void **state) { (void)state; sweep(ADAMW, false, false, false); }
static void adamw_q8(void **state) { (void)state; sweep(ADAMW, true, false, false); }
static void sgd_f32(void **state)
{
    (void)state;
    sweep(SGD, false, true, false);
    sweep(SGD, false, true, true);
    sweep(SGD, false, false, false);
}
static void sgd_q8(void **state)
{
    (void)state;
    sweep(SGD, true, true, false);
    sweep(SGD, true, true, true);
}
static void lamb_f32(void **state) { (void)state; sweep(LAMB, false, false, false); }
static void lamb_q8(void **state) { (void)state; sweep(LAMB, true, false, false); }

/* A range that starts two blocks into its buffers, and (f32 states) three elements
 * further, off every vector boundary: the kernels' unaligned accesses, with f32, f16
 * and bf16 gradients and copies. Elements before the range stay as they were on both
 * sides (compared with the rest). */
static void range_at_offset(void **state)
{
    (void)state;
    const clt_dtype dts[] = {CLT_DTYPE_F32, CLT_DTYPE_F16, CLT_DTYPE_BF16};
    for (int q8 = 0; q8 < 2; q8++)
        for (size_t skew = 0; skew < (q8 ? 1u : 2u); skew++)
            for (int kind = 0; kind < 3; kind++)
                for (size_t d = 0; d < 3; d++) {
                    const struct setup u = {.kind = (enum kind)kind, .n = 1000,
                                            .off = 2 * BLOCK + 3 * skew, .q8 = q8,
                                            .momentum = true, .grad_dt = dts[d],
                                            .copy_dt = dts[(d + 1) % 3], .steps = 5};
                    run_compare(&u);
                }
}

/* f16/bf16 gradients and param_copy, rounded as the host rounds them. */
static void copies_and_half_gradients(void **state)
{
    (void)state;
    const clt_dtype dts[] = {CLT_DTYPE_F16, CLT_DTYPE_BF16};
    for (int q8 = 0; q8 < 2; q8++)
        for (int kind = 0; kind < 2; kind++)
            for (size_t d = 0; d < 2; d++) {
                const struct setup u = {.kind = kind ? SGD : ADAMW, .n = 4097, .q8 = q8,
                                        .momentum = true, .grad_dt = dts[d],
                                        .copy_dt = dts[1 - d], .steps = 10};
                run_compare(&u);
            }
}

/* A finite gate lets the step through (and matches the host); inf or NaN changes
 * nothing: the device's buffers keep their first bytes. */
static void gate(void **state)
{
    (void)state;
    const float gates[] = {3.0f, INFINITY, NAN};
    for (size_t gi = 0; gi < 3; gi++)
        for (int kind = 0; kind < 3; kind++)
            for (int q8 = 0; q8 < 2; q8++) {
                const struct setup u = {.kind = (enum kind)kind, .n = 4097, .q8 = q8,
                                        .momentum = true, .grad_dt = CLT_DTYPE_F32,
                                        .copy_dt = CLT_DTYPE_F32, .steps = 3,
                                        .gate = gates[gi], .has_gate = true};
                run_compare(&u); /* the host skips non-finite gates too */
                if (gi == 0)
                    continue;
                /* and the device, alone: nothing moved from the first contents */
                clt_context *dev = NULL;
                if (!open_device(&dev))
                    skip();
                struct side s;
                float *param = malloc(u.n * sizeof *param);
                assert_non_null(param);
                ts_rng rng;
                ts_rng_seed(&rng, 5);
                ts_fill_floats(&rng, param, u.n, -1, 1);
                side_make(&s, dev, &u, param);
                struct side pair[2] = {s, s};
                write_grad(pair, &u, &rng);
                clt_optim_hparams h = hparams_of(u.kind);
                h.step = 1;
                h.beta1 = 0.9f;
                const clt_op op = op_of(&u, &s, &h);
                ts_assert_ok(clt_op_run(dev, &op, NULL));
                float *got = ts_download_all(s.param);
                assert_memory_equal(got, param, u.n * sizeof(float));
                float *copy = ts_download_all(s.copy);
                for (size_t i = 0; i < u.n; i++)
                    assert_true(copy[i] == 0.0f);
                free(got);
                free(copy);
                free(param);
                assert_no_fallback(dev);
                side_free(&s);
                clt_context_destroy(dev);
            }
}

/* q8 blocks of 64 (whole vectors), 100 (a partial last vector) and 1000 (longer than
 * what the CPU kernels keep between their passes: recomputed), over sizes that end in a
 * partial block. */
static void q8_blocks(void **state)
{
    (void)state;
    const int32_t blocks[] = {64, 100, 1000};
    const size_t sizes[] = {4097, 100003};
    for (size_t bi = 0; bi < sizeof blocks / sizeof blocks[0]; bi++)
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
            for (int kind = 0; kind < 3; kind++)
                for (int nesterov = 0; nesterov < (kind == SGD ? 2 : 1); nesterov++) {
                    const struct setup u = {.kind = (enum kind)kind, .n = sizes[si],
                                            .block = blocks[bi], .q8 = true,
                                            .momentum = true, .nesterov = nesterov,
                                            .grad_dt = CLT_DTYPE_F32,
                                            .copy_dt = CLT_DTYPE_BF16, .steps = 4};
                    run_compare(&u);
                }
}

/* Every kernel under launch shapes other than this device's own: the GPU shape (a
 * float4 per work-item, 256 per group, a work-group per q8 block), the CPU shape at
 * other widths and group sizes, and caps (3, 5, 7 groups) that make work-items take
 * many vectors. Sizes around the vector, group and block edges; f32, f16 and bf16
 * gradients and copies (one pair per shape: each pair is a program to build). */
static void shapes(void **state)
{
    (void)state;
    static const char *const shapes[] = {
        "vw=4 wg=256 items=1 groups=4096 q8=group q8_wg=256",
        "vw=4 wg=64 items=2 groups=3 q8=group q8_wg=32",
        "vw=8 wg=4 items=3 groups=5 q8=items q8_wg=4",
        "vw=16,wg=1,items=1024,groups=4096,q8=items,q8_wg=16",
        "vw=16 wg=2 items=1 groups=7 q8=items q8_wg=1",
    };
    static const size_t sizes[] = {1, 257, 4097, 70001};
    static const clt_dtype dts[] = {CLT_DTYPE_F32, CLT_DTYPE_F16, CLT_DTYPE_BF16};
    clt_context *probe = NULL;
    if (!open_device(&probe))
        skip();
    clt_context_destroy(probe);
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        assert_int_equal(setenv("CLT_OPTIM_SHAPE", shapes[k], 1), 0);
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
            for (int q8 = 0; q8 < 2; q8++)
                for (int kind = 0; kind < 3; kind++) {
                    const struct setup u = {.kind = (enum kind)kind, .n = sizes[si],
                                            .block = si == 3 ? 1000 : 0, .q8 = q8,
                                            .momentum = true, .nesterov = kind == SGD,
                                            .grad_dt = dts[k % 3],
                                            .copy_dt = dts[(k + 1) % 3], .steps = 3};
                    run_compare(&u);
                }
    }
    unsetenv("CLT_OPTIM_SHAPE");
}

/* $CLT_OPTIM_SHAPE values that do not parse, or lie out of range, fail the op with an
 * error that names the variable; nothing runs on the host instead. */
static void bad_shapes(void **state)
{
    (void)state;
    static const char *const bad[] = {"vw=5", "wg=3", "items=0", "groups=-1", "q8=both",
                                      "q8_wg=6", "wg", "size=4", "vw=16x"};
    clt_context *dev = NULL;
    if (!open_device(&dev))
        skip();
    const struct setup u = {.kind = ADAMW, .n = 100, .q8 = true, .grad_dt = CLT_DTYPE_F32,
                            .copy_dt = CLT_DTYPE_U8, .steps = 1};
    float param[100] = {0};
    struct side s;
    side_make(&s, dev, &u, param);
    clt_optim_hparams h = hparams_of(ADAMW);
    h.step = 1;
    const clt_op op = op_of(&u, &s, &h);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(setenv("CLT_OPTIM_SHAPE", bad[i], 1), 0);
        const clt_status got = clt_op_run(dev, &op, NULL);
        unsetenv("CLT_OPTIM_SHAPE");
        if (got != CLT_ERR_INVALID_ARG)
            fail_msg("CLT_OPTIM_SHAPE=\"%s\" gave %s, want CLT_ERR_INVALID_ARG", bad[i],
                     clt_status_name(got));
        ts_assert_error_mentions("CLT_OPTIM_SHAPE");
    }
    ts_assert_ok(clt_op_run(dev, &op, NULL));
    assert_no_fallback(dev);
    side_free(&s);
    clt_context_destroy(dev);
}

/* quantize8 then dequantize8, signed and unsigned, block sizes around the group size,
 * with a zero block, a block holding NaN, one holding Inf, tiny and huge scales. */
static void codecs_in_shape(const char *shape)
{
    if (shape)
        assert_int_equal(setenv("CLT_OPTIM_SHAPE", shape, 1), 0);
    clt_context *ctx[2];
    if (!open_device(&ctx[0]))
        skip();
    ctx[1] = ts_context("host");
    const size_t n = 5000;
    const int32_t blocks[] = {0, 1, 64, 1000, 4096};
    float *x = malloc(n * sizeof *x);
    assert_non_null(x);
    ts_rng rng;
    ts_rng_seed(&rng, 77);
    for (size_t bi = 0; bi < sizeof blocks / sizeof blocks[0]; bi++)
        for (int sgn = 0; sgn < 2; sgn++) {
            const size_t b = blocks[bi] ? (size_t)blocks[bi] : BLOCK, nb = (n + b - 1) / b;
            ts_fill_floats(&rng, x, n, sgn ? -1.0f : 0.0f, 1.0f);
            for (size_t i = 0; i < n; i++)
                x[i] *= (i / 300) % 3 == 0 ? 1e-30f : (i / 300) % 3 == 1 ? 1e30f : 1.0f;
            for (size_t i = 0; i < b && 2 * b + i < n; i++)
                x[2 * b + i] = 0.0f; /* block 2: zeros */
            if (4 * b < n)
                x[4 * b] = NAN;
            if (5 * b + 1 < n)
                x[5 * b + 1] = -INFINITY;
            /* exact ties: midpoints of map entries times a power of two absmax */
            x[n - 1] = 1.0f;
            x[n - 2] = 0.5f * (0.0f + 0.0078125f);
            clt_buffer *xb[2], *cb[2], *ab[2], *yb[2];
            for (int k = 0; k < 2; k++) {
                xb[k] = ts_upload(ctx[k], CLT_TIER_DEVICE, x, n);
                cb[k] = zeros(ctx[k], n);
                ab[k] = zeros(ctx[k], nb * sizeof(float));
                yb[k] = zeros(ctx[k], n * sizeof(float));
                clt_op op;
                memset(&op, 0, sizeof op);
                op.kind = CLT_OP_QUANTIZE8;
                vec(&op.u.quantize8.x, xb[k], CLT_DTYPE_F32, 0, n);
                vec(&op.u.quantize8.codes, cb[k], CLT_DTYPE_U8, 0, n);
                vec(&op.u.quantize8.absmax, ab[k], CLT_DTYPE_F32, 0, (n + b - 1) / b);
                op.u.quantize8.is_signed = sgn;
                op.u.quantize8.block = blocks[bi];
                ts_assert_ok(clt_op_run(ctx[k], &op, NULL));
                memset(&op, 0, sizeof op);
                op.kind = CLT_OP_DEQUANTIZE8;
                vec(&op.u.dequantize8.codes, cb[k], CLT_DTYPE_U8, 0, n);
                vec(&op.u.dequantize8.absmax, ab[k], CLT_DTYPE_F32, 0, (n + b - 1) / b);
                vec(&op.u.dequantize8.x, yb[k], CLT_DTYPE_F32, 0, n);
                op.u.dequantize8.is_signed = sgn;
                op.u.dequantize8.block = blocks[bi];
                ts_assert_ok(clt_op_run(ctx[k], &op, NULL));
            }
            assert_bytes(cb[0], cb[1], "codes");
            assert_floats(ab[0], ab[1], 0, 0, 0, "absmax");
            assert_floats(yb[0], yb[1], 0, 0, 0, "dequantized");
            for (int k = 0; k < 2; k++) {
                clt_buffer_destroy(xb[k]);
                clt_buffer_destroy(cb[k]);
                clt_buffer_destroy(ab[k]);
                clt_buffer_destroy(yb[k]);
            }
        }
    free(x);
    assert_no_fallback(ctx[0]);
    clt_context_destroy(ctx[0]);
    clt_context_destroy(ctx[1]);
    unsetenv("CLT_OPTIM_SHAPE");
}

/* In the device's own shape, and in the other layout (a work-group per block, or a
 * work-item per block). */
static void codecs(void **state)
{
    (void)state;
    codecs_in_shape(NULL);
    codecs_in_shape("vw=4 wg=256 q8=group q8_wg=256");
    codecs_in_shape("vw=8 wg=1 q8=items q8_wg=8");
}

/* The same step from the same bytes twice on the device: the same bytes out (LAMB's
 * sums included, whose split depends on the shape alone). */
static void determinism(void **state)
{
    (void)state;
    clt_context *dev = NULL;
    if (!open_device(&dev))
        skip();
    for (int q8 = 0; q8 < 2; q8++) {
        const struct setup u = {.kind = LAMB, .n = LARGE, .q8 = q8, .grad_dt = CLT_DTYPE_F32,
                                .copy_dt = CLT_DTYPE_BF16, .steps = 1};
        float *param = malloc(u.n * sizeof *param);
        assert_non_null(param);
        ts_rng rng;
        ts_rng_seed(&rng, 9);
        ts_fill_floats(&rng, param, u.n, -1, 1);
        struct side s[2];
        side_make(&s[0], dev, &u, param);
        side_make(&s[1], dev, &u, param);
        write_grad(s, &u, &rng);
        clt_optim_hparams h = hparams_of(LAMB);
        for (int k = 1; k <= 2; k++) {
            h.step = k;
            for (int c = 0; c < 2; c++) {
                const clt_op op = op_of(&u, &s[c], &h);
                ts_assert_ok(clt_op_run(dev, &op, NULL));
            }
        }
        assert_bytes(s[0].param, s[1].param, "param, run twice");
        assert_bytes(s[0].m, s[1].m, "m, run twice");
        assert_bytes(s[0].copy, s[1].copy, "param_copy, run twice");
        side_free(&s[0]);
        side_free(&s[1]);
        free(param);
    }
    assert_no_fallback(dev);
    clt_context_destroy(dev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(adamw_f32),
        cmocka_unit_test(adamw_q8),
        cmocka_unit_test(sgd_f32),
        cmocka_unit_test(sgd_q8),
        cmocka_unit_test(lamb_f32),
        cmocka_unit_test(lamb_q8),
        cmocka_unit_test(range_at_offset),
        cmocka_unit_test(copies_and_half_gradients),
        cmocka_unit_test(gate),
        cmocka_unit_test(q8_blocks),
        cmocka_unit_test(shapes),
        cmocka_unit_test(bad_shapes),
        cmocka_unit_test(codecs),
        cmocka_unit_test(determinism),
    };
    return cmocka_run_group_tests_name("optim_cl", tests, NULL, NULL);
}
