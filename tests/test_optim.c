/* Optimizer steps through clt_op_run on every device: AdamW, SGD (momentum, Nesterov)
 * and LAMB against a double-precision reference written here for 100 steps, with f32
 * states and with 8-bit states; the gate that skips a step; the rounded parameter copy;
 * a range updated alone; 8-bit AdamW training a linear model to f32 AdamW's loss; the
 * quantize/dequantize ops; bad input. */
#include <math.h>

#include "support/support.h"

enum kind { ADAMW, SGD, LAMB };

struct problem {
    size_t n;
    clt_optim_hparams h;
    enum kind kind;
    bool q8;             /* 8-bit states */
};

/* The device side: buffers of one optimizer's tensors. */
struct dev_state {
    clt_buffer *param, *grad, *m, *v, *m_absmax, *v_absmax, *copy, *gate;
};

static void dev_state_make(clt_context *ctx, const struct problem *pb, const float *param,
                           struct dev_state *d)
{
    memset(d, 0, sizeof *d);
    const size_t n = pb->n, blocks = (n + CLT_Q8_DEFAULT_BLOCK - 1) / CLT_Q8_DEFAULT_BLOCK;
    d->param = ts_upload(ctx, CLT_TIER_DEVICE, param, n);
    d->grad = ts_buffer(ctx, CLT_TIER_DEVICE, n * sizeof(float), NULL);
    const size_t state_bytes = pb->q8 ? n : n * sizeof(float);
    /* Zero states: f32 zeros, or q8 blocks of absmax 0 (any codes dequantize to 0). */
    void *zeros = calloc(n, sizeof(float));
    assert_non_null(zeros);
    d->m = ts_buffer(ctx, CLT_TIER_DEVICE, state_bytes, zeros);
    if (pb->kind != SGD)
        d->v = ts_buffer(ctx, CLT_TIER_DEVICE, state_bytes, zeros);
    if (pb->q8) {
        d->m_absmax = ts_buffer(ctx, CLT_TIER_DEVICE, blocks * sizeof(float), zeros);
        if (pb->kind != SGD)
            d->v_absmax = ts_buffer(ctx, CLT_TIER_DEVICE, blocks * sizeof(float), zeros);
    }
    free(zeros);
}

static void dev_state_free(struct dev_state *d)
{
    clt_buffer *all[] = {d->param, d->grad, d->m, d->v, d->m_absmax, d->v_absmax, d->copy,
                         d->gate};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        clt_buffer_destroy(all[i]);
}

static void vec(clt_tensor *t, clt_buffer *buf, clt_dtype dt, size_t n)
{
    memset(t, 0, sizeof *t);
    if (buf)
        ts_assert_ok(clt_tensor_init(t, buf, 0, dt, 1, (const int64_t[]){(int64_t)n}));
}

static clt_op op_of(const struct problem *pb, const struct dev_state *d)
{
    const size_t n = pb->n, blocks = (n + CLT_Q8_DEFAULT_BLOCK - 1) / CLT_Q8_DEFAULT_BLOCK;
    const clt_dtype st = pb->q8 ? CLT_DTYPE_U8 : CLT_DTYPE_F32;
    clt_op op;
    memset(&op, 0, sizeof op);
    if (pb->kind == SGD) {
        op.kind = CLT_OP_SGD;
        clt_sgd_args *a = &op.u.sgd;
        vec(&a->param, d->param, CLT_DTYPE_F32, n);
        vec(&a->grad, d->grad, CLT_DTYPE_F32, n);
        vec(&a->momentum, d->m, st, n);
        vec(&a->momentum_absmax, d->m_absmax, CLT_DTYPE_F32, blocks);
        vec(&a->gate, d->gate, CLT_DTYPE_F32, 1);
        a->h = pb->h;
        return op;
    }
    op.kind = pb->kind == ADAMW ? CLT_OP_ADAMW : CLT_OP_LAMB;
    clt_adamw_args *a = pb->kind == ADAMW ? &op.u.adamw : &op.u.lamb;
    vec(&a->param, d->param, CLT_DTYPE_F32, n);
    vec(&a->grad, d->grad, CLT_DTYPE_F32, n);
    vec(&a->m, d->m, st, n);
    vec(&a->v, d->v, st, n);
    vec(&a->m_absmax, d->m_absmax, CLT_DTYPE_F32, blocks);
    vec(&a->v_absmax, d->v_absmax, CLT_DTYPE_F32, blocks);
    vec(&a->gate, d->gate, CLT_DTYPE_F32, 1);
    a->h = pb->h;
    return op;
}

/* The double-precision reference of one step; m, v, p (n). */
static void ref_step(const struct problem *pb, const float *grad, double *p, double *m,
                     double *v)
{
    const clt_optim_hparams *h = &pb->h;
    const size_t n = pb->n;
    if (pb->kind == SGD) {
        for (size_t i = 0; i < n; i++) {
            const double g = (double)h->grad_scale * grad[i] + (double)h->weight_decay * p[i];
            m[i] = h->beta1 * m[i] + g;
            const double step = h->beta1 > 0 ? (h->nesterov ? g + h->beta1 * m[i] : m[i]) : g;
            p[i] -= h->lr * step;
        }
        return;
    }
    const double bc1 = 1 - pow(h->beta1, (double)h->step), bc2 = 1 - pow(h->beta2, (double)h->step);
    double pn = 0, un = 0;
    double *u = malloc(n * sizeof *u);
    assert_non_null(u);
    for (size_t i = 0; i < n; i++) {
        const double g = (double)h->grad_scale * grad[i];
        m[i] = h->beta1 * m[i] + (1 - h->beta1) * g;
        v[i] = h->beta2 * v[i] + (1 - h->beta2) * g * g;
        u[i] = (m[i] / bc1) / (sqrt(v[i] / bc2) + h->eps) + h->weight_decay * p[i];
        pn += p[i] * p[i];
        un += u[i] * u[i];
    }
    const double trust = pb->kind == LAMB && pn > 0 && un > 0 ? sqrt(pn) / sqrt(un) : 1.0;
    for (size_t i = 0; i < n; i++)
        p[i] -= h->lr * trust * u[i];
    free(u);
}

/* How far the device's parameters are from the reference's after the steps. */
struct deviation {
    double worst;    /* max |p_dev − p_ref| / max(|p_ref|, 1e-2) */
    double of_path;  /* ‖p_dev − p_ref‖ / ‖p_ref − p_0‖: relative to the distance moved */
};

/* Runs `steps` steps on the device and in the reference with the same random gradients. */
static struct deviation run_deviation(const char *device, struct problem pb, int steps,
                                      uint64_t seed)
{
    clt_context *ctx = ts_context(device);
    ts_rng rng;
    ts_rng_seed(&rng, seed);
    float *p0 = malloc(pb.n * sizeof *p0), *g = malloc(pb.n * sizeof *g),
          *got = malloc(pb.n * sizeof *got);
    double *p = malloc(pb.n * sizeof *p), *m = calloc(pb.n, sizeof *m), *v = calloc(pb.n, sizeof *v);
    assert_true(p0 && g && got && p && m && v);
    ts_fill_floats(&rng, p0, pb.n, -1.0f, 1.0f);
    for (size_t i = 0; i < pb.n; i++)
        p[i] = p0[i];
    struct dev_state d;
    dev_state_make(ctx, &pb, p0, &d);
    for (int s = 1; s <= steps; s++) {
        ts_fill_floats(&rng, g, pb.n, -1.0f, 1.0f);
        ts_assert_ok(clt_buffer_write(d.grad, 0, g, pb.n * sizeof *g, NULL));
        pb.h.step = s;
        clt_op op = op_of(&pb, &d);
        ts_assert_ok(clt_op_run(ctx, &op, NULL));
        ref_step(&pb, g, p, m, v);
    }
    ts_download(d.param, 0, got, pb.n);
    struct deviation dev = {0, 0};
    double off = 0, moved = 0;
    for (size_t i = 0; i < pb.n; i++) {
        const double err = fabs(got[i] - p[i]) / fmax(fabs(p[i]), 1e-2);
        dev.worst = isnan(err) ? INFINITY : fmax(dev.worst, err);
        off += (got[i] - p[i]) * (got[i] - p[i]);
        moved += (p[i] - p0[i]) * (p[i] - p0[i]);
    }
    dev.of_path = moved > 0 ? sqrt(off / moved) : sqrt(off);
    dev_state_free(&d);
    free(p0);
    free(g);
    free(got);
    free(p);
    free(m);
    free(v);
    clt_context_destroy(ctx);
    return dev;
}

static double run_problem(const char *device, struct problem pb, int steps, uint64_t seed)
{
    return run_deviation(device, pb, steps, seed).worst;
}

static clt_optim_hparams adam_h(void)
{
    return (clt_optim_hparams){.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                               .weight_decay = 0.1f, .grad_scale = 0.5f};
}

static void f32_states_match_reference(void **state)
{
    static const size_t sizes[] = {1, 4095, 4097};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        const size_t n = sizes[i];
        double e = run_problem(*state, (struct problem){n, adam_h(), ADAMW, false}, 100, n);
        if (e > 1e-4)
            fail_msg("adamw n=%zu: error %g", n, e);
        e = run_problem(*state, (struct problem){n, adam_h(), LAMB, false}, 100, n + 1);
        if (e > 1e-4)
            fail_msg("lamb n=%zu: error %g", n, e);
        clt_optim_hparams h = {.lr = 1e-2f, .beta1 = 0.9f, .weight_decay = 1e-3f,
                               .grad_scale = 1.0f};
        e = run_problem(*state, (struct problem){n, h, SGD, false}, 100, n + 2);
        if (e > 1e-4)
            fail_msg("sgd n=%zu: error %g", n, e);
        h.nesterov = true;
        e = run_problem(*state, (struct problem){n, h, SGD, false}, 100, n + 3);
        if (e > 1e-4)
            fail_msg("sgd nesterov n=%zu: error %g", n, e);
    }
    /* A million and three parameters, AdamW, on the host only (the fallback runs the
     * same code). */
    if (strcmp(*state, "host") == 0) {
        const double e = run_problem(*state, (struct problem){1000003, adam_h(), ADAMW, false},
                                     100, 99);
        if (e > 1e-4)
            fail_msg("adamw n=1000003: error %g", e);
    }
}

/* 8-bit states follow the f32 trajectory: not element for element (a second moment far
 * below its block's absmax is quantized coarsely, and Adam divides by its root), but the
 * parameters as a whole stay near the f32 path. */
static void q8_states_track_reference(void **state)
{
    const size_t n = 5000; /* a partial last block */
    const struct {
        const char *name;
        struct problem pb;
    } cases[] = {
        {"adamw", {n, adam_h(), ADAMW, true}},
        {"sgd", {n, {.lr = 1e-2f, .beta1 = 0.9f, .grad_scale = 1.0f}, SGD, true}},
        {"lamb", {n, adam_h(), LAMB, true}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct deviation dev = run_deviation(*state, cases[i].pb, 100, 5 + i);
        print_message("%s 8-bit: %.3g of the distance moved\n", cases[i].name, dev.of_path);
        if (!(dev.of_path < 0.1))
            fail_msg("%s 8-bit: off the f32 path by %g of the distance moved", cases[i].name,
                     dev.of_path);
    }
}

/* A gate holding NaN or inf leaves everything as it was; a finite one lets the step in.
 * The rounded copy is the updated parameter in bf16. */
static void gate_and_copy(void **state)
{
    clt_context *ctx = ts_context(*state);
    const size_t n = 300;
    struct problem pb = {n, adam_h(), ADAMW, false};
    pb.h.step = 1;
    float p0[300], g[300], got[300];
    ts_rng rng;
    ts_rng_seed(&rng, 3);
    ts_fill_floats(&rng, p0, n, -1, 1);
    ts_fill_floats(&rng, g, n, -1, 1);
    struct dev_state d;
    dev_state_make(ctx, &pb, p0, &d);
    ts_assert_ok(clt_buffer_write(d.grad, 0, g, sizeof g, NULL));
    const float gates[] = {NAN, INFINITY, 12.5f};
    d.gate = ts_buffer(ctx, CLT_TIER_DEVICE, sizeof(float), NULL);
    d.copy = ts_buffer(ctx, CLT_TIER_DEVICE, n * 2, NULL);
    for (int i = 0; i < 3; i++) {
        ts_assert_ok(clt_buffer_write(d.gate, 0, &gates[i], sizeof(float), NULL));
        clt_op op = op_of(&pb, &d);
        vec(&op.u.adamw.param_copy, d.copy, CLT_DTYPE_BF16, n);
        ts_assert_ok(clt_op_run(ctx, &op, NULL));
        ts_download(d.param, 0, got, n);
        if (i < 2) {
            assert_memory_equal(got, p0, sizeof got);
            continue;
        }
        size_t moved = 0;
        for (size_t k = 0; k < n; k++)
            moved += got[k] != p0[k];
        assert_int_equal(moved, n);
        uint16_t copy[300], want[300];
        ts_assert_ok(clt_buffer_read(d.copy, 0, copy, sizeof copy, NULL));
        ts_assert_ok(clt_convert(CLT_DTYPE_BF16, want, CLT_DTYPE_F32, got, n));
        assert_memory_equal(copy, want, sizeof copy);
    }
    dev_state_free(&d);
    clt_context_destroy(ctx);
}

/* Two calls on the halves of a tensor (split on a block boundary) equal one call on the
 * whole, bit for bit: the per-layer, per-range use of offloaded training. */
static void range_equals_whole(void **state)
{
    clt_context *ctx = ts_context(*state);
    const size_t n = 3 * CLT_Q8_DEFAULT_BLOCK + 17, half = 2 * CLT_Q8_DEFAULT_BLOCK;
    struct problem pb = {n, adam_h(), ADAMW, true};
    pb.h.step = 1;
    float *p0 = malloc(n * 4), *g = malloc(n * 4), *whole = malloc(n * 4), *parts = malloc(n * 4);
    assert_true(p0 && g && whole && parts);
    ts_rng rng;
    ts_rng_seed(&rng, 4);
    ts_fill_floats(&rng, p0, n, -1, 1);
    ts_fill_floats(&rng, g, n, -1, 1);
    for (int split = 0; split < 2; split++) {
        struct dev_state d;
        dev_state_make(ctx, &pb, p0, &d);
        ts_assert_ok(clt_buffer_write(d.grad, 0, g, n * 4, NULL));
        for (pb.h.step = 1; pb.h.step <= 3; pb.h.step++) {
            clt_op op = op_of(&pb, &d);
            if (!split) {
                ts_assert_ok(clt_op_run(ctx, &op, NULL));
                continue;
            }
            clt_adamw_args whole_args = op.u.adamw;
            const size_t at[2] = {0, half}, len[2] = {half, n - half};
            for (int r = 0; r < 2; r++) {
                clt_adamw_args *a = &op.u.adamw;
                *a = whole_args;
                clt_tensor *per_elem[] = {&a->param, &a->grad, &a->m, &a->v};
                for (int t = 0; t < 4; t++) {
                    per_elem[t]->offset = at[r] * clt_dtype_size(per_elem[t]->dtype);
                    per_elem[t]->shape[0] = (int64_t)len[r];
                }
                clt_tensor *per_block[] = {&a->m_absmax, &a->v_absmax};
                for (int t = 0; t < 2; t++) {
                    per_block[t]->offset = at[r] / CLT_Q8_DEFAULT_BLOCK * sizeof(float);
                    per_block[t]->shape[0] =
                        (int64_t)((len[r] + CLT_Q8_DEFAULT_BLOCK - 1) / CLT_Q8_DEFAULT_BLOCK);
                }
                ts_assert_ok(clt_op_run(ctx, &op, NULL));
            }
        }
        ts_download(d.param, 0, split ? parts : whole, n);
        dev_state_free(&d);
    }
    assert_memory_equal(whole, parts, n * 4);
    free(p0);
    free(g);
    free(whole);
    free(parts);
    clt_context_destroy(ctx);
}

/* Least squares with noisy labels, y = X·w* + noise, 1536 samples of 512 features, trained
 * from w = 0 by full-batch AdamW with a cosine learning rate, with f32 and with 8-bit
 * states (forced: the op quantizes any length; CLT_Q8_MIN_ELEMENTS is the callers'
 * policy). Returns the final loss, which the noise keeps well above 0. */
static double train_linear(const char *device, bool q8)
{
    enum { N = 512, ROWS = 1536, STEPS = 300 };
    clt_context *ctx = ts_context(device);
    ts_rng rng;
    ts_rng_seed(&rng, 8);
    float *x = malloc((size_t)ROWS * N * 4), *wstar = malloc(N * 4), *y = malloc(ROWS * 4),
          *w = calloc(N, 4), *g = malloc(N * 4);
    double *err = malloc(ROWS * sizeof *err);
    assert_true(x && wstar && y && w && g && err);
    ts_fill_floats(&rng, x, (size_t)ROWS * N, -1, 1);
    ts_fill_floats(&rng, wstar, N, -0.1f, 0.1f);
    for (int r = 0; r < ROWS; r++) {
        double s = 0;
        for (int j = 0; j < N; j++)
            s += (double)x[r * N + j] * wstar[j];
        y[r] = (float)s + ts_rng_float(&rng, -0.5f, 0.5f);
    }
    struct problem pb = {N, adam_h(), ADAMW, q8};
    pb.h.weight_decay = 0;
    pb.h.grad_scale = 1;
    struct dev_state d;
    dev_state_make(ctx, &pb, w, &d);
    double loss = 0;
    for (int s = 1; s <= STEPS + 1; s++) {
        ts_download(d.param, 0, w, N);
        loss = 0;
        for (int r = 0; r < ROWS; r++) {
            double pred = 0;
            for (int j = 0; j < N; j++)
                pred += (double)x[r * N + j] * w[j];
            err[r] = pred - y[r];
            loss += err[r] * err[r] / ROWS;
        }
        if (s > STEPS)
            break;
        for (int j = 0; j < N; j++) {
            double gj = 0;
            for (int r = 0; r < ROWS; r++)
                gj += 2 * err[r] * x[r * N + j] / ROWS;
            g[j] = (float)gj;
        }
        ts_assert_ok(clt_buffer_write(d.grad, 0, g, N * 4, NULL));
        pb.h.step = s;
        pb.h.lr = (float)(2e-2 * 0.5 * (1 + cos(M_PI * (s - 1) / STEPS)));
        clt_op op = op_of(&pb, &d);
        ts_assert_ok(clt_op_run(ctx, &op, NULL));
    }
    dev_state_free(&d);
    free(x);
    free(wstar);
    free(y);
    free(w);
    free(g);
    free(err);
    clt_context_destroy(ctx);
    return loss;
}

static void q8_trains_like_f32(void **state)
{
    if (strcmp(*state, "host") != 0)
        skip(); /* the device runs these on the host: one run is enough */
    const double f32 = train_linear(*state, false), q8 = train_linear(*state, true);
    print_message("linear model: final loss f32 %.6g, 8-bit %.6g\n", f32, q8);
    /* It trained: from about 1.8 at w = 0 down towards the noise, 1/12·(1 − 512/1536). */
    assert_true(f32 < 0.1);
    if (fabs(q8 - f32) > 0.01 * f32)
        fail_msg("8-bit AdamW ends at %g, f32 AdamW at %g: more than 1%% apart", q8, f32);
}

static void quantize_ops(void **state)
{
    clt_context *ctx = ts_context(*state);
    const size_t n = 1000;
    float x[1000], back[1000], absmax[4];
    ts_rng rng;
    ts_rng_seed(&rng, 9);
    ts_fill_floats(&rng, x, n, -3, 3);
    clt_buffer *bx = ts_upload(ctx, CLT_TIER_DEVICE, x, n);
    clt_buffer *bc = ts_buffer(ctx, CLT_TIER_DEVICE, n, NULL);
    clt_buffer *ba = ts_buffer(ctx, CLT_TIER_DEVICE, sizeof absmax, NULL);
    clt_buffer *bb = ts_buffer(ctx, CLT_TIER_DEVICE, n * 4, NULL);
    clt_op q = {.kind = CLT_OP_QUANTIZE8};
    vec(&q.u.quantize8.x, bx, CLT_DTYPE_F32, n);
    vec(&q.u.quantize8.codes, bc, CLT_DTYPE_U8, n);
    vec(&q.u.quantize8.absmax, ba, CLT_DTYPE_F32, 4);
    q.u.quantize8.is_signed = true;
    ts_assert_ok(clt_op_run(ctx, &q, NULL));
    clt_op dq = {.kind = CLT_OP_DEQUANTIZE8};
    dq.u.dequantize8.codes = q.u.quantize8.codes;
    dq.u.dequantize8.absmax = q.u.quantize8.absmax;
    vec(&dq.u.dequantize8.x, bb, CLT_DTYPE_F32, n);
    dq.u.dequantize8.is_signed = true;
    ts_assert_ok(clt_op_run(ctx, &dq, NULL));
    ts_download(ba, 0, absmax, 4);
    ts_download(bb, 0, back, n);
    for (size_t i = 0; i < n; i++) {
        const float am = absmax[i / CLT_Q8_DEFAULT_BLOCK];
        /* The map's widest gap near ±1 is about 0.1 of absmax: half of it bounds. */
        if (fabsf(back[i] - x[i]) > 0.05f * am + 1e-6f)
            fail_msg("element %zu: %g came back as %g (absmax %g)", i, x[i], back[i], am);
    }
    for (int b = 0; b < 4; b++) {
        float want = 0;
        for (size_t i = (size_t)b * 256; i < n && i < (size_t)(b + 1) * 256; i++)
            want = fmaxf(want, fabsf(x[i]));
        assert_true(absmax[b] == want);
    }
    clt_buffer_destroy(bx);
    clt_buffer_destroy(bc);
    clt_buffer_destroy(ba);
    clt_buffer_destroy(bb);
    clt_context_destroy(ctx);
}

static void bad_input(void **state)
{
    clt_context *ctx = ts_context(*state);
    const size_t n = 600;
    float p0[600];
    ts_fill_value(p0, n, 1.0f);
    struct problem pb = {n, adam_h(), ADAMW, true};
    pb.h.step = 1;
    struct dev_state d;
    dev_state_make(ctx, &pb, p0, &d);
    float got[600];
    clt_op op = op_of(&pb, &d);
    op.u.adamw.m_absmax = (clt_tensor){0}; /* u8 m without its absmax */
    ts_assert_status(clt_op_run(ctx, &op, NULL), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("m_absmax");

    op = op_of(&pb, &d);
    op.u.adamw.v_absmax.shape[0] = 2; /* ceil(600/256) = 3 */
    ts_assert_status(clt_op_run(ctx, &op, NULL), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("argument v_absmax");

    op = op_of(&pb, &d);
    op.u.adamw.h.lr = NAN;
    ts_assert_status(clt_op_run(ctx, &op, NULL), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("h.lr");

    op = op_of(&pb, &d);
    op.u.adamw.h.step = 0;
    ts_assert_status(clt_op_run(ctx, &op, NULL), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("h.step");

    op = op_of(&pb, &d);
    op.u.adamw.h.beta2 = 1.0f;
    ts_assert_status(clt_op_run(ctx, &op, NULL), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("h.beta2");

    op = op_of(&pb, &d);
    op.u.adamw.grad.shape[0] = 599;
    ts_assert_status(clt_op_run(ctx, &op, NULL), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("argument grad");

    op = op_of(&pb, &d);
    op.u.adamw.block = -4;
    ts_assert_status(clt_op_run(ctx, &op, NULL), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("block");

    struct problem sgd = {n, {.lr = 0.1f, .beta1 = 0.9f, .grad_scale = 1}, SGD, false};
    op = op_of(&sgd, &d);
    op.u.sgd.momentum = (clt_tensor){0};
    op.u.sgd.momentum_absmax = (clt_tensor){0};
    ts_assert_status(clt_op_run(ctx, &op, NULL), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("momentum");

    ts_download(d.param, 0, got, n);
    assert_memory_equal(got, p0, sizeof got); /* nothing was written */
    dev_state_free(&d);
    clt_context_destroy(ctx);
}

int main(void)
{
    const ts_device_test tests[] = {
        {"f32_states_match_reference", f32_states_match_reference},
        {"q8_states_track_reference", q8_states_track_reference},
        {"gate_and_copy", gate_and_copy},
        {"range_equals_whole", range_equals_whole},
        {"q8_trains_like_f32", q8_trains_like_f32},
        {"quantize_ops", quantize_ops},
        {"bad_input", bad_input},
    };
    return ts_run_per_device("optim", tests, sizeof tests / sizeof tests[0]);
}
