/* cltrain's GPT-2 model (gpt.h): presets and config checks, the parameter layout and
 * its counts, the initialisation, the whole model's gradients against central finite
 * differences on the host driver, the same loss and gradients on the host and OpenCL
 * drivers, gradient accumulation, bf16 and f16 against f32, logits against the loss,
 * and bad input. Through the public API only, as the tool uses it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above first. */
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpt.h"
#include "rng.h"

/* ---- helpers ----------------------------------------------------------------------------- */

/* A context on `device`, or NULL when it cannot be opened (no OpenCL device here). The
 * program cache comes from $CLT_CACHE_DIR, which ctest sets. */
static clt_context *open_device(const char *device)
{
    clt_context_opts opts;
    clt_context_opts_init(&opts);
    opts.device = device;
    clt_context *ctx = NULL;
    if (clt_context_create(&opts, &ctx) != CLT_OK)
        return NULL;
    return ctx;
}

static clt_context *open_host(void)
{
    clt_context *ctx = open_device("host");
    if (!ctx)
        fail_msg("cannot open the host driver: %s", clt_last_error());
    return ctx;
}

static void check_ok(clt_status s, const char *what, gpt_model *m)
{
    if (s != CLT_OK)
        fail_msg("%s: %s: %s", what, clt_status_name(s), m ? gpt_error(m) : clt_last_error());
}

static size_t layout_elems(const struct gpt_config *cfg)
{
    struct gpt_param *table = calloc(gpt_param_count(cfg), sizeof *table);
    assert_non_null(table);
    const size_t total = gpt_params_layout(cfg, table);
    free(table);
    return total;
}

/* A model on ctx holding `params` (the layout's f32 values). */
static gpt_model *make_model(clt_context *ctx, const struct gpt_config *cfg, clt_dtype dtype,
                             int batch, const float *params)
{
    gpt_model *m = NULL;
    check_ok(gpt_create(ctx, cfg, dtype, batch, &m), "gpt_create", NULL);
    check_ok(clt_buffer_write(gpt_param_buffer(m), 0, params,
                              layout_elems(cfg) * sizeof *params, NULL),
             "upload", m);
    check_ok(gpt_sync_work(m), "gpt_sync_work", m);
    return m;
}

/* The gradient buffer as f32, whatever the compute dtype. */
static float *read_grads(gpt_model *m)
{
    const size_t n = layout_elems(gpt_config_of(m));
    const clt_dtype dt = gpt_dtype(m);
    float *out = malloc(n * sizeof *out);
    void *raw = malloc(n * clt_dtype_size(dt));
    assert_non_null(out);
    assert_non_null(raw);
    check_ok(clt_buffer_read(gpt_grad_buffer(m), 0, raw, n * clt_dtype_size(dt), NULL), "read",
             m);
    check_ok(clt_convert(CLT_DTYPE_F32, out, dt, raw, n), "convert", NULL);
    free(raw);
    return out;
}

static void random_batch(uint64_t seed, int vocab, int B, int T, int32_t *tokens,
                         int32_t *targets)
{
    struct rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < B * T; i++) {
        tokens[i] = (int32_t)rng_below(&r, (uint64_t)vocab);
        targets[i] = (int32_t)rng_below(&r, (uint64_t)vocab);
    }
}

static double normal(struct rng *r)
{
    const double u1 = 1.0 - rng_uniform(r), u2 = rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Parameters far from GPT-2's initialisation, so that every part of the model is in its
 * non-linear range and has gradients well above the rounding noise: unit-scale
 * activations, attention that does not average uniformly, LayerNorm weights other than
 * 1 and biases other than 0, logits of a few units. */
static float *wide_params(const struct gpt_config *cfg, uint64_t seed)
{
    const size_t n = gpt_param_count(cfg), total = layout_elems(cfg);
    struct gpt_param *table = calloc(n, sizeof *table);
    float *p = calloc(total, sizeof *p);
    assert_non_null(table);
    assert_non_null(p);
    gpt_params_layout(cfg, table);
    struct rng r;
    rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) {
        const struct gpt_param *t = &table[i];
        const bool ln_weight = strstr(t->name, "ln_") && strstr(t->name, ".weight");
        double mean = 0, std;
        if (ln_weight)
            mean = 1.0, std = 0.2;
        else if (t->rank == 1)
            std = 0.1;
        else if (i < 2)
            std = 0.3; /* wte, wpe */
        else
            std = (strstr(t->name, "c_proj") ? 0.5 : 1.0) / sqrt((double)t->shape[0]);
        for (size_t j = 0; j < t->numel; j++)
            p[t->offset + j] = (float)(mean + std * normal(&r));
    }
    free(table);
    return p;
}

/* ‖a − b‖ / ‖b‖ over n values. */
static double rel_err(const float *a, const float *b, size_t n)
{
    double d = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        s += (double)b[i] * b[i];
    }
    return sqrt(d / (s > 0 ? s : 1e-300));
}

static double cosine(const float *a, const float *b, size_t n)
{
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return ab / sqrt(aa * bb);
}

/* The model's loss and gradients (accumulate false) on one batch. */
static float loss_and_grads(gpt_model *m, const int32_t *tok, const int32_t *tgt, int B, int T,
                            float **grads)
{
    float loss = NAN;
    check_ok(gpt_forward(m, tok, tgt, B, T, &loss), "gpt_forward", m);
    if (grads) {
        check_ok(gpt_backward(m, 1.0f, false), "gpt_backward", m);
        *grads = read_grads(m);
    }
    return loss;
}

/* ---- configuration and layout ----------------------------------------------------------- */

static void test_presets(void **state)
{
    (void)state;
    struct gpt_config c;
    assert_true(gpt_config_preset("tiny", &c));
    assert_true(c.layers == 2 && c.heads == 2 && c.dim == 64 && c.ctx == 64 && c.vocab == 256);
    assert_true(gpt_config_preset("small", &c));
    assert_true(c.layers == 6 && c.heads == 6 && c.dim == 384 && c.ctx == 256 && c.vocab == 256);
    assert_true(gpt_config_preset("gpt2", &c));
    assert_true(c.layers == 12 && c.heads == 12 && c.dim == 768 && c.ctx == 1024);
    char err[256];
    assert_true(gpt_config_valid(&c, err, sizeof err));
    assert_false(gpt_config_preset("medium", &c));
    assert_false(gpt_config_preset("", &c));
    assert_false(gpt_config_preset(NULL, &c));
}

static void expect_invalid(struct gpt_config c, const char *words)
{
    char err[256] = "";
    assert_false(gpt_config_valid(&c, err, sizeof err));
    if (!strstr(err, words))
        fail_msg("expected \"%s\" in: %s", words, err);
}

static void test_config_valid(void **state)
{
    (void)state;
    const struct gpt_config ok = {1, 1, 32, 8, 256};
    char err[256];
    assert_true(gpt_config_valid(&ok, err, sizeof err));
    struct gpt_config c;
    const char *fields[] = {"layers", "heads", "dim", "ctx", "vocab"};
    for (int f = 0; f < 5; f++) {
        for (int v = -1; v <= 0; v++) {
            c = ok;
            int *field[] = {&c.layers, &c.heads, &c.dim, &c.ctx, &c.vocab};
            *field[f] = v;
            expect_invalid(c, fields[f]);
        }
    }
    c = ok, c.dim = 100, c.heads = 2; /* head size 50 */
    expect_invalid(c, "head size");
    c = ok, c.dim = 48, c.heads = 3; /* 16 */
    expect_invalid(c, "head size");
    c = ok, c.dim = 100, c.heads = 3;
    expect_invalid(c, "multiple of heads");
    for (int hs = 32; hs <= 128; hs += 16) {
        c = ok, c.heads = 3, c.dim = 3 * hs;
        const bool runs = hs == 32 || hs == 64 || hs == 80 || hs == 96 || hs == 128;
        assert_int_equal(gpt_config_valid(&c, err, sizeof err), runs);
    }
    c = ok, c.heads = 1 << 22, c.dim = 128 << 22; /* 4·dim columns exceed 2^31 - 1 */
    expect_invalid(c, "too large");
    c = ok, c.layers = 2000000000, c.heads = 1 << 16, c.dim = 128 << 16;
    expect_invalid(c, "more parameters than memory");
}

static void test_layout_tiny(void **state)
{
    (void)state;
    struct gpt_config c;
    assert_true(gpt_config_preset("tiny", &c));
    const size_t n = gpt_param_count(&c);
    assert_int_equal(n, 2 + 12 * 2 + 2);
    struct gpt_param *t = calloc(n, sizeof *t);
    assert_non_null(t);
    const size_t total = gpt_params_layout(&c, t);

    static const struct {
        const char *name;
        int rank;
        int64_t d0, d1;
        bool decay;
    } want[14] = {
        {"wte.weight", 2, 256, 64, true},          {"wpe.weight", 2, 64, 64, false},
        {"h.0.ln_1.weight", 1, 64, 0, false},      {"h.0.ln_1.bias", 1, 64, 0, false},
        {"h.0.attn.c_attn.weight", 2, 64, 192, true},
        {"h.0.attn.c_attn.bias", 1, 192, 0, false},
        {"h.0.attn.c_proj.weight", 2, 64, 64, true},
        {"h.0.attn.c_proj.bias", 1, 64, 0, false},
        {"h.0.ln_2.weight", 1, 64, 0, false},      {"h.0.ln_2.bias", 1, 64, 0, false},
        {"h.0.mlp.c_fc.weight", 2, 64, 256, true}, {"h.0.mlp.c_fc.bias", 1, 256, 0, false},
        {"h.0.mlp.c_proj.weight", 2, 256, 64, true},
        {"h.0.mlp.c_proj.bias", 1, 64, 0, false},
    };
    for (int i = 0; i < 14; i++) {
        assert_string_equal(t[i].name, want[i].name);
        assert_int_equal(t[i].rank, want[i].rank);
        assert_int_equal(t[i].shape[0], want[i].d0);
        if (want[i].rank == 2)
            assert_int_equal(t[i].shape[1], want[i].d1);
        assert_int_equal(t[i].decay, want[i].decay);
    }
    assert_string_equal(t[14].name, "h.1.ln_1.weight");
    assert_string_equal(t[25].name, "h.1.mlp.c_proj.bias");
    assert_string_equal(t[26].name, "ln_f.weight");
    assert_string_equal(t[27].name, "ln_f.bias");
    size_t end = 0;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(t[i].offset % 64, 0);
        assert_true(t[i].offset >= end);      /* in order, no overlap */
        assert_true(t[i].offset < end + 64);  /* padding only to the next boundary */
        assert_int_equal(t[i].numel, (size_t)t[i].shape[0] *
                                         (size_t)(t[i].rank == 2 ? t[i].shape[1] : 1));
        end = t[i].offset + t[i].numel;
    }
    assert_int_equal(total % 64, 0);
    assert_true(total >= end && total < end + 64);
    /* offsets of the start: wte 0, wpe 256·64, h.0.ln_1.weight after wpe */
    assert_int_equal(t[0].offset, 0);
    assert_int_equal(t[1].offset, 256 * 64);
    assert_int_equal(t[2].offset, 256 * 64 + 64 * 64);
    assert_int_equal(t[3].offset, 256 * 64 + 64 * 64 + 64);
    free(t);
}

/* Σ numel against V·C + ctx·C + L·(12C² + 13C) + 2C. */
static size_t count_params(const struct gpt_config *c)
{
    const size_t n = gpt_param_count(c);
    struct gpt_param *t = calloc(n, sizeof *t);
    assert_non_null(t);
    gpt_params_layout(c, t);
    size_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += t[i].numel;
    free(t);
    const size_t C = (size_t)c->dim;
    assert_int_equal(sum, (size_t)c->vocab * C + (size_t)c->ctx * C +
                              (size_t)c->layers * (12 * C * C + 13 * C) + 2 * C);
    return sum;
}

static void test_param_counts(void **state)
{
    (void)state;
    struct gpt_config c;
    assert_true(gpt_config_preset("small", &c));
    const size_t small = count_params(&c);
    assert_true(small > 9000000 && small < 12000000);
    assert_true(gpt_config_preset("gpt2", &c));
    count_params(&c);
    c.vocab = 50257; /* GPT-2's tokenizer: the published 124M */
    assert_int_equal(count_params(&c), 124439808);
}

/* ---- initialisation --------------------------------------------------------------------- */

static void test_init(void **state)
{
    (void)state;
    struct gpt_config c;
    assert_true(gpt_config_preset("tiny", &c));
    const size_t n = gpt_param_count(&c), total = layout_elems(&c);
    struct gpt_param *t = calloc(n, sizeof *t);
    float *a = malloc(total * sizeof *a), *b = malloc(total * sizeof *b);
    float *d = malloc(total * sizeof *d);
    assert_true(t && a && b && d);
    gpt_params_layout(&c, t);
    memset(a, 0x7f, total * sizeof *a); /* padding must be overwritten with zeros */
    memset(b, 0x55, total * sizeof *b);
    gpt_init_params(&c, 1234, a);
    gpt_init_params(&c, 1234, b);
    gpt_init_params(&c, 1235, d);
    assert_memory_equal(a, b, total * sizeof *a);
    size_t same = 0;
    for (size_t i = 0; i < total; i++)
        same += a[i] == d[i];
    /* a different seed changes every drawn value; LayerNorms, biases, padding stay */
    size_t fixed = total;
    for (size_t i = 0; i < n; i++)
        if (t[i].rank == 2)
            fixed -= t[i].numel;
    assert_int_equal(same, fixed);

    for (size_t i = 0; i < n; i++) {
        const float *w = a + t[i].offset;
        double sum = 0, sq = 0;
        for (size_t j = 0; j < t[i].numel; j++) {
            sum += w[j];
            sq += (double)w[j] * w[j];
        }
        const double mean = sum / (double)t[i].numel;
        const double std = sqrt(sq / (double)t[i].numel - mean * mean);
        if (t[i].rank == 2) {
            const double want = strstr(t[i].name, "c_proj") ? 0.02 / sqrt(2.0 * c.layers) : 0.02;
            /* ≥ 4096 draws: std within 5 %, mean within 4 standard errors */
            if (fabs(std / want - 1) > 0.05 || fabs(mean) > 4 * want / sqrt((double)t[i].numel))
                fail_msg("%s: mean %g std %g, want N(0, %g)", t[i].name, mean, std, want);
        } else {
            const float want = strstr(t[i].name, ".weight") ? 1.0f : 0.0f;
            for (size_t j = 0; j < t[i].numel; j++)
                assert_true(w[j] == want);
        }
        const size_t pad_end = i + 1 < n ? t[i + 1].offset : total;
        for (size_t j = t[i].offset + t[i].numel; j < pad_end; j++)
            assert_true(a[j] == 0.0f);
    }
    free(t);
    free(a);
    free(b);
    free(d);
}

/* ---- gradients -------------------------------------------------------------------------- */

/* Two blocks (so the residual stream's gradient crosses a block), one head of 32, T = 5
 * of ctx 8 (positions t >= T get no gradient), B = 2. */
static const struct gpt_config fd_cfg = {2, 1, 32, 8, 256};
#define FD_B 2
#define FD_T 5
#define FD_PER_TENSOR 16
#define FD_EPS 1e-2f

/* Every parameter tensor: FD_PER_TENSOR random coordinates, the analytic gradient
 * against (L(p + ε) − L(p − ε)) / 2ε. The error is measured per tensor over its
 * coordinates, ‖g − fd‖ / ‖fd‖ < 1e-2: rounding noise of the f32 loss keeps it near 1e-3,
 * while a wrong gradient (a factor, a sign, a transposed or dropped term) is off by order
 * one. */
static void test_gradients_fd(void **state)
{
    (void)state;
    clt_context *ctx = open_host();
    float *params = wide_params(&fd_cfg, 7);
    gpt_model *m = make_model(ctx, &fd_cfg, CLT_DTYPE_F32, FD_B, params);
    int32_t tok[FD_B * FD_T], tgt[FD_B * FD_T];
    random_batch(11, fd_cfg.vocab, FD_B, FD_T, tok, tgt);
    tgt[3] = tok[4]; /* a target that is also an input: both of wte's paths on one row */
    float *grads = NULL;
    const float loss = loss_and_grads(m, tok, tgt, FD_B, FD_T, &grads);
    assert_true(loss > 0.5f && loss < 20.0f);

    size_t n;
    const struct gpt_param *table = gpt_param_table(m, &n);
    clt_buffer *pbuf = gpt_param_buffer(m);
    struct rng r;
    rng_seed(&r, 99);
    double worst = 0;
    const char *worst_name = "";
    for (size_t i = 0; i < n; i++) {
        float analytic[FD_PER_TENSOR], numeric[FD_PER_TENSOR];
        for (int k = 0; k < FD_PER_TENSOR; k++) {
            size_t j = table[i].offset + (size_t)rng_below(&r, table[i].numel);
            /* half of wte's samples on the rows of input tokens, half of wpe's on the
             * first T rows: those get the embedding's share, the rest none */
            const size_t C = (size_t)fd_cfg.dim, col = (size_t)rng_below(&r, C);
            if (i == 0 && k % 2 == 0)
                j = (size_t)tok[rng_below(&r, FD_B * FD_T)] * C + col;
            if (i == 1 && k % 2 == 0)
                j = table[1].offset + (size_t)rng_below(&r, FD_T) * C + col;
            float lp, lm, v = params[j] + FD_EPS;
            check_ok(clt_buffer_write(pbuf, j * sizeof(float), &v, sizeof v, NULL), "poke", m);
            check_ok(gpt_forward(m, tok, tgt, FD_B, FD_T, &lp), "forward +", m);
            v = params[j] - FD_EPS;
            check_ok(clt_buffer_write(pbuf, j * sizeof(float), &v, sizeof v, NULL), "poke", m);
            check_ok(gpt_forward(m, tok, tgt, FD_B, FD_T, &lm), "forward -", m);
            check_ok(clt_buffer_write(pbuf, j * sizeof(float), &params[j], sizeof(float), NULL),
                     "restore", m);
            numeric[k] = (float)(((double)lp - lm) / (2.0 * FD_EPS));
            analytic[k] = grads[j];
        }
        const double e = rel_err(analytic, numeric, FD_PER_TENSOR);
        double norm = 0;
        for (int k = 0; k < FD_PER_TENSOR; k++)
            norm += (double)numeric[k] * numeric[k];
        if (e > worst)
            worst = e, worst_name = table[i].name;
        if (e > 1e-2 || norm < 1e-8)
            fail_msg("%s: analytic vs finite differences: relative error %.3g, |fd| = %.3g",
                     table[i].name, e, sqrt(norm));
    }
    print_message("finite differences: worst relative error %.2g (%s)\n", worst, worst_name);
    free(grads);
    free(params);
    gpt_destroy(m);
    clt_context_destroy(ctx);
}

/* Two micro-batches with accumulate equal the sum of their separate gradients. */
static void test_accumulate(void **state)
{
    (void)state;
    clt_context *ctx = open_host();
    struct gpt_config c;
    assert_true(gpt_config_preset("tiny", &c));
    float *params = wide_params(&c, 3);
    gpt_model *m = make_model(ctx, &c, CLT_DTYPE_F32, 2, params);
    enum { B = 2, T = 19 };
    int32_t tok_a[B * T], tgt_a[B * T], tok_b[B * T], tgt_b[B * T];
    random_batch(1, c.vocab, B, T, tok_a, tgt_a);
    random_batch(2, c.vocab, B, T, tok_b, tgt_b);
    float *ga, *gb, *sum, *twice;
    loss_and_grads(m, tok_a, tgt_a, B, T, &ga);
    loss_and_grads(m, tok_b, tgt_b, B, T, &gb);
    float loss;
    check_ok(gpt_forward(m, tok_a, tgt_a, B, T, &loss), "forward", m);
    check_ok(gpt_backward(m, 1.0f, false), "backward", m);
    check_ok(gpt_forward(m, tok_b, tgt_b, B, T, &loss), "forward", m);
    check_ok(gpt_backward(m, 1.0f, true), "backward accumulate", m);
    sum = read_grads(m);
    /* the same micro-batch twice, with dloss 0.5 and 1.5: twice its gradient */
    check_ok(gpt_forward(m, tok_a, tgt_a, B, T, &loss), "forward", m);
    check_ok(gpt_backward(m, 0.5f, false), "backward", m);
    check_ok(gpt_forward(m, tok_a, tgt_a, B, T, &loss), "forward", m);
    check_ok(gpt_backward(m, 1.5f, true), "backward accumulate", m);
    twice = read_grads(m);

    size_t n;
    const struct gpt_param *table = gpt_param_table(m, &n);
    for (size_t i = 0; i < n; i++) {
        const size_t off = table[i].offset, len = table[i].numel;
        float *want = malloc(len * sizeof *want), *want2 = malloc(len * sizeof *want2);
        assert_true(want && want2);
        for (size_t j = 0; j < len; j++) {
            want[j] = ga[off + j] + gb[off + j];
            want2[j] = 2 * ga[off + j];
        }
        const double e1 = rel_err(sum + off, want, len), e2 = rel_err(twice + off, want2, len);
        if (e1 > 1e-5 || e2 > 1e-5)
            fail_msg("%s: accumulated gradients off by %.3g (a + b) and %.3g (2a)",
                     table[i].name, e1, e2);
        free(want);
        free(want2);
    }
    free(ga);
    free(gb);
    free(sum);
    free(twice);
    free(params);
    gpt_destroy(m);
    clt_context_destroy(ctx);
}

/* The loss is the mean of lse − logit[target] over the rows gpt_logits_at reads. */
static void test_logits_match_loss(void **state)
{
    (void)state;
    clt_context *ctx = open_host();
    struct gpt_config c;
    assert_true(gpt_config_preset("tiny", &c));
    float *params = wide_params(&c, 5);
    gpt_model *m = make_model(ctx, &c, CLT_DTYPE_F32, 3, params);
    enum { B = 3, T = 7 };
    int32_t tok[B * T], tgt[B * T];
    random_batch(4, c.vocab, B, T, tok, tgt);
    tgt[5] = GPT_IGNORE_TARGET;
    float loss;
    check_ok(gpt_forward(m, tok, tgt, B, T, &loss), "forward", m);
    float *row = malloc((size_t)c.vocab * sizeof *row);
    assert_non_null(row);
    double sum = 0;
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) {
            check_ok(gpt_logits_at(m, b, t, row), "gpt_logits_at", m);
            if (tgt[b * T + t] == GPT_IGNORE_TARGET)
                continue;
            double mx = row[0], s = 0;
            for (int v = 1; v < c.vocab; v++)
                mx = row[v] > mx ? row[v] : mx;
            for (int v = 0; v < c.vocab; v++)
                s += exp(row[v] - mx);
            sum += mx + log(s) - row[tgt[b * T + t]];
        }
    }
    const double want = sum / (B * T - 1);
    assert_true(fabs(loss - want) < 1e-4 * want);
    /* logits only (targets NULL), one sequence, as sampling runs it */
    float first[256];
    check_ok(gpt_forward(m, tok, NULL, 1, 3, NULL), "forward without targets", m);
    check_ok(gpt_logits_at(m, 0, 2, first), "gpt_logits_at", m);
    check_ok(gpt_forward(m, tok, tgt, B, T, &loss), "forward", m);
    check_ok(gpt_logits_at(m, 0, 2, row), "gpt_logits_at", m);
    for (int v = 0; v < c.vocab; v++) /* causal: position 2 sees the same 3 tokens */
        assert_true(fabsf(first[v] - row[v]) <= 1e-5f * (1 + fabsf(row[v])));
    free(row);
    free(params);
    gpt_destroy(m);
    clt_context_destroy(ctx);
}

/* ---- devices and dtypes ----------------------------------------------------------------- */

/* The same initial weights on the host and OpenCL drivers: the same loss (f32, relative
 * 1e-4) and gradients (per tensor, relative 1e-3). */
static void test_host_vs_opencl(void **state)
{
    (void)state;
    clt_context *cl = open_device("opencl:0");
    if (!cl) {
        print_message("no OpenCL device: %s\n", clt_last_error());
        skip();
    }
    clt_context *host = open_host();
    struct gpt_config c;
    assert_true(gpt_config_preset("tiny", &c));
    float *params = malloc(layout_elems(&c) * sizeof *params);
    assert_non_null(params);
    gpt_init_params(&c, 42, params);
    enum { B = 2, T = 37 };
    int32_t tok[B * T], tgt[B * T];
    random_batch(9, c.vocab, B, T, tok, tgt);
    gpt_model *mh = make_model(host, &c, CLT_DTYPE_F32, B, params);
    gpt_model *mc = make_model(cl, &c, CLT_DTYPE_F32, B, params);
    float *gh, *gc;
    const float lh = loss_and_grads(mh, tok, tgt, B, T, &gh);
    const float lc = loss_and_grads(mc, tok, tgt, B, T, &gc);
    print_message("loss: host %.7f, opencl %.7f\n", lh, lc);
    assert_true(fabsf(lh - lc) <= 1e-4f * fabsf(lh));
    size_t n;
    const struct gpt_param *table = gpt_param_table(mh, &n);
    for (size_t i = 0; i < n; i++) {
        const double e = rel_err(gc + table[i].offset, gh + table[i].offset, table[i].numel);
        if (e > 1e-3)
            fail_msg("%s: OpenCL gradients differ from the host's by %.3g", table[i].name, e);
    }
    free(gh);
    free(gc);
    free(params);
    gpt_destroy(mh);
    gpt_destroy(mc);
    clt_context_destroy(host);
    clt_context_destroy(cl);
}

/* bf16 and f16 on the same weights as f32: the loss within 2 % and the gradient's
 * direction (cosine) above 0.98, on a device. The weights are the wide ones, so the
 * loss is far from ln V, which any near-uniform output would give. */
static void check_half_dtypes(const char *device)
{
    clt_context *ctx = open_device(device);
    if (!ctx) {
        print_message("no device %s: %s\n", device, clt_last_error());
        skip();
    }
    struct gpt_config c;
    assert_true(gpt_config_preset("tiny", &c));
    float *params = wide_params(&c, 21);
    enum { B = 2, T = 29 };
    int32_t tok[B * T], tgt[B * T];
    random_batch(8, c.vocab, B, T, tok, tgt);
    gpt_model *m32 = make_model(ctx, &c, CLT_DTYPE_F32, B, params);
    float *g32;
    const float l32 = loss_and_grads(m32, tok, tgt, B, T, &g32);
    gpt_destroy(m32);
    assert_true(fabsf(l32 - logf((float)c.vocab)) > 0.5f);
    const size_t total = layout_elems(&c);
    const clt_dtype halves[] = {CLT_DTYPE_BF16, CLT_DTYPE_F16};
    for (int h = 0; h < 2; h++) {
        gpt_model *m = make_model(ctx, &c, halves[h], B, params);
        float *gh;
        const float lh = loss_and_grads(m, tok, tgt, B, T, &gh);
        const double cos = cosine(gh, g32, total);
        print_message("%s %s: loss %.5f (f32 %.5f), gradient cosine %.5f\n", device,
                      clt_dtype_name(halves[h]), lh, l32, cos);
        if (!(fabsf(lh - l32) <= 0.02f * l32) || !(cos > 0.98))
            fail_msg("%s on %s: loss %g against f32's %g, gradient cosine %g",
                     clt_dtype_name(halves[h]), device, lh, l32, cos);
        free(gh);
        gpt_destroy(m);
    }
    free(g32);
    free(params);
    clt_context_destroy(ctx);
}

static void test_half_dtypes_host(void **state)
{
    (void)state;
    check_half_dtypes("host");
}

static void test_half_dtypes_opencl(void **state)
{
    (void)state;
    check_half_dtypes("opencl:0");
}

/* ---- bad input -------------------------------------------------------------------------- */

static void expect_error(clt_status s, gpt_model *m, const char *words)
{
    assert_int_equal(s, CLT_ERR_INVALID_ARG);
    if (!strstr(gpt_error(m), words))
        fail_msg("expected \"%s\" in: %s", words, gpt_error(m));
}

static void test_bad_input(void **state)
{
    (void)state;
    clt_context *ctx = open_host();
    struct gpt_config c;
    assert_true(gpt_config_preset("tiny", &c));
    gpt_model *m = NULL;
    assert_int_equal(gpt_create(ctx, &c, CLT_DTYPE_F32, 0, &m), CLT_ERR_INVALID_ARG);
    assert_null(m);
    assert_int_equal(gpt_create(ctx, &c, CLT_DTYPE_I32, 1, &m), CLT_ERR_INVALID_ARG);
    struct gpt_config bad = c;
    bad.heads = 3;
    assert_int_equal(gpt_create(ctx, &bad, CLT_DTYPE_F32, 1, &m), CLT_ERR_INVALID_ARG);
    assert_int_equal(gpt_create(NULL, &c, CLT_DTYPE_F32, 1, &m), CLT_ERR_INVALID_ARG);
    assert_int_equal(gpt_create(ctx, &c, CLT_DTYPE_F32, INT32_MAX / 32, &m),
                     CLT_ERR_INVALID_ARG);
    assert_null(m);

    float *params = malloc(layout_elems(&c) * sizeof *params);
    assert_non_null(params);
    gpt_init_params(&c, 1, params);
    m = make_model(ctx, &c, CLT_DTYPE_F32, 2, params);
    assert_string_equal(gpt_error(m), "");
    int32_t tok[2 * 64], tgt[2 * 64];
    random_batch(3, c.vocab, 2, 64, tok, tgt);
    float loss = 0;

    expect_error(gpt_backward(m, 1.0f, false), m, "no gpt_forward with targets");
    float row[256];
    expect_error(gpt_logits_at(m, 0, 0, row), m, "no logits");
    tok[70] = 256;
    expect_error(gpt_forward(m, tok, tgt, 2, 64, &loss), m, "token 256 at position 70");
    tok[70] = -5;
    expect_error(gpt_forward(m, tok, tgt, 2, 64, &loss), m, "token -5 at position 70");
    tok[70] = 1;
    tgt[0] = 300;
    expect_error(gpt_forward(m, tok, tgt, 2, 64, &loss), m, "target 300 at position 0");
    tgt[0] = -2;
    expect_error(gpt_forward(m, tok, tgt, 2, 64, &loss), m, "target -2");
    tgt[0] = 1;
    expect_error(gpt_forward(m, tok, tgt, 3, 10, &loss), m, "B = 3");
    expect_error(gpt_forward(m, tok, tgt, 0, 10, &loss), m, "B = 0");
    expect_error(gpt_forward(m, tok, tgt, 1, 65, &loss), m, "T = 65");
    expect_error(gpt_forward(m, tok, tgt, 1, 0, &loss), m, "T = 0");
    expect_error(gpt_forward(m, NULL, tgt, 1, 4, &loss), m, "tokens is NULL");
    expect_error(gpt_forward(m, tok, tgt, 1, 4, NULL), m, "loss is NULL");
    /* failed forward passes leave nothing to run backward on */
    expect_error(gpt_backward(m, 1.0f, false), m, "no gpt_forward with targets");

    check_ok(gpt_forward(m, tok, tgt, 2, 64, &loss), "forward", m);
    assert_true(isfinite(loss));
    expect_error(gpt_logits_at(m, 2, 0, row), m, "outside");
    expect_error(gpt_logits_at(m, 0, 64, row), m, "outside");
    expect_error(gpt_logits_at(m, -1, 0, row), m, "outside");
    expect_error(gpt_backward(m, NAN, false), m, "dloss");
    check_ok(gpt_backward(m, 1.0f, false), "backward", m);
    expect_error(gpt_backward(m, 1.0f, true), m, "no gpt_forward with targets");
    expect_error(gpt_logits_at(m, 0, 0, row), m, "no logits");
    check_ok(gpt_forward(m, tok, NULL, 1, 5, NULL), "forward without targets", m);
    expect_error(gpt_backward(m, 1.0f, false), m, "no gpt_forward with targets");
    check_ok(gpt_logits_at(m, 0, 4, row), "logits", m);
    expect_error(gpt_logits_at(m, 0, 5, row), m, "outside");

    assert_true(gpt_bytes(m) > layout_elems(&c) * 8);
    size_t count;
    assert_non_null(gpt_param_table(m, &count));
    assert_int_equal(count, gpt_param_count(&c));
    assert_ptr_equal(gpt_work_buffer(m), gpt_param_buffer(m)); /* f32: one buffer */
    gpt_destroy(m);
    gpt_destroy(NULL);
    free(params);
    clt_context_destroy(ctx);
}

/* The device-memory budget refuses the model: the allocation's error comes back. */
static void test_out_of_memory(void **state)
{
    (void)state;
    clt_context_opts opts;
    clt_context_opts_init(&opts);
    opts.device = "host";
    opts.mem_budget[CLT_TIER_DEVICE] = 1 << 20;
    clt_context *ctx = NULL;
    check_ok(clt_context_create(&opts, &ctx), "context", NULL);
    struct gpt_config c;
    assert_true(gpt_config_preset("small", &c));
    gpt_model *m = NULL;
    assert_int_equal(gpt_create(ctx, &c, CLT_DTYPE_BF16, 4, &m), CLT_ERR_OUT_OF_MEMORY);
    assert_null(m);
    assert_non_null(strstr(clt_last_error(), "DEVICE"));
    clt_stats st;
    check_ok(clt_context_stats(ctx, &st), "stats", NULL);
    assert_int_equal(st.mem_used[CLT_TIER_DEVICE], 0); /* nothing left behind */
    clt_context_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_presets),
        cmocka_unit_test(test_config_valid),
        cmocka_unit_test(test_layout_tiny),
        cmocka_unit_test(test_param_counts),
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_gradients_fd),
        cmocka_unit_test(test_accumulate),
        cmocka_unit_test(test_logits_match_loss),
        cmocka_unit_test(test_host_vs_opencl),
        cmocka_unit_test(test_half_dtypes_host),
        cmocka_unit_test(test_half_dtypes_opencl),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
