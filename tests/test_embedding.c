/* Embedding forward and backward on every device, against the host reference run on the
 * same bytes in a second context on "host", and the reference against exact gathers
 * and sums. f32, f16 and bf16; tables and activations with padded rows; wpe/dwpe given
 * or not (and longer than T); tokens outside [0, V) (a NaN row forward, nothing added
 * backward); many positions sharing one token (the scatter-add case), up to every
 * position on one token; accumulate both ways. Whole-number gradients make every sum
 * exact, so device and host must agree bit for bit; fractional ones, run twice, must
 * give the same bits (determinism). embedding_bwd against finite differences of
 * embedding_fwd on the host; bad input. */
#include <limits.h>

#include "elementwise_fixture.h"

struct emb_case {
    int B, T, V, C;
    int T_max;    /* 0: no wpe / dwpe */
    int pad;      /* extra elements per row of wte, wpe, out; and between batches of out */
    int tokens;   /* RANDOM, FEW (tokens from 0..2), ONE (all the same), BAD (some outside) */
};
enum { RANDOM, FEW, ONE, BAD };

static const struct emb_case cases[] = {
    {1, 1, 1, 1, 0, 0, RANDOM},       {1, 7, 17, 7, 7, 0, RANDOM},
    {2, 17, 100, 17, 20, 3, BAD},     {4, 257, 5, 3, 300, 1, FEW},
    {7, 100, 1000, 33, 0, 2, BAD},    {1, 1000, 50257, 2, 1000, 0, RANDOM},
    {100, 1000, 257, 1, 0, 0, FEW},   {3, 100, 1, 100, 128, 5, ONE},
    {2, 300, 64, 9, 301, 2, BAD},
};
#define N_CASES (sizeof cases / sizeof cases[0])

static int32_t *make_tokens(const struct emb_case *c, ts_rng *rng)
{
    const size_t n = (size_t)c->B * (size_t)c->T;
    int32_t *tok = malloc(n * sizeof *tok);
    assert_non_null(tok);
    static const int32_t bad[] = {-1, INT32_MIN, INT32_MAX};
    for (size_t i = 0; i < n; i++) {
        switch (c->tokens) {
        case FEW: tok[i] = (int32_t)ts_rng_int(rng, 0, c->V < 3 ? c->V - 1 : 2); break;
        case ONE: tok[i] = c->V - 1; break;
        default: tok[i] = (int32_t)ts_rng_int(rng, 0, c->V - 1); break;
        }
        if (c->tokens == BAD && i % 7 == 3)
            tok[i] = i % 2 ? c->V : bad[i % 3]; /* V itself, -1, INT32_MIN, INT32_MAX */
    }
    return tok;
}

static bool token_ok(const struct emb_case *c, int32_t t) { return t >= 0 && t < c->V; }

/* out / dout: (B, T, C) with row stride s1 = C + pad and batch stride s0 = T·s1 + pad. */
struct btc {
    int64_t B, T, C, s0, s1;
    size_t off;
};

static struct btc btc_of(const struct emb_case *c, size_t off)
{
    const int64_t s1 = c->C + c->pad;
    return (struct btc){c->B, c->T, c->C, c->T * s1 + c->pad, s1, off};
}

static bool in_btc(const void *shape, size_t i)
{
    const struct btc *s = shape;
    if (i < s->off)
        return false;
    const size_t rel = i - s->off, b = rel / (size_t)s->s0, r = rel % (size_t)s->s0;
    return b < (size_t)s->B && r / (size_t)s->s1 < (size_t)s->T && r % (size_t)s->s1 < (size_t)s->C;
}

static size_t btc_total(const struct btc *s)
{
    return s->off + (size_t)((s->B - 1) * s->s0 + (s->T - 1) * s->s1 + s->C) + GUARD;
}

static void btc_tensor(clt_tensor *t, clt_buffer *buf, clt_dtype d, const struct btc *s)
{
    memset(t, 0, sizeof *t);
    t->buf = buf;
    t->offset = s->off * clt_dtype_size(d);
    t->dtype = d;
    t->rank = 3;
    t->shape[0] = s->B;
    t->shape[1] = s->T;
    t->shape[2] = s->C;
    t->strides[0] = s->s0;
    t->strides[1] = s->s1;
    t->strides[2] = 1;
}

static void rows_tensor(clt_tensor *t, clt_buffer *buf, clt_dtype d, const struct rows_shape *s)
{
    ts_matrix_layout(t, d, 0, s->rows, s->cols, s->ld, 0, s->off);
    t->buf = buf;
}

static void tokens_tensor(clt_tensor *t, clt_buffer *buf, const struct emb_case *c)
{
    const int64_t shape[2] = {c->B, c->T};
    ts_assert_ok(clt_tensor_init(t, buf, 0, CLT_DTYPE_I32, 2, shape));
}

/* A padded table operand: random (or whole-number) values in its rows, sentinels
 * around them. */
static void table_init(struct operand *o, clt_dtype d, const struct rows_shape *s, bool ints,
                       ts_rng *rng)
{
    operand_init(o, d, s->off, rows_total(s));
    for (size_t i = 0; i < o->total; i++)
        if (in_rows(s, i))
            o->init[i] = ints ? (float)ts_rng_int(rng, -4, 4) : ts_rng_float(rng, -1.0f, 1.0f);
}

/* ---- forward ------------------------------------------------------------------------- */

static bool run_forward(clt_context *const ctx[2], const char *device, const struct emb_case *c,
                        clt_dtype d, ts_rng *rng)
{
    char what[160];
    snprintf(what, sizeof what, "%s: embedding_fwd %s B=%d T=%d V=%d C=%d T_max=%d pad %d", device,
             clt_dtype_name(d), c->B, c->T, c->V, c->C, c->T_max, c->pad);
    const size_t n_tok = (size_t)c->B * (size_t)c->T;
    int32_t *tok = make_tokens(c, rng);
    const struct rows_shape wte_s = {c->V, c->C, c->C + c->pad, 1};
    const struct rows_shape wpe_s = {c->T_max, c->C, c->C + c->pad, 2};
    const struct btc out_s = btc_of(c, 3);
    struct operand wte, wpe, out;
    table_init(&wte, d, &wte_s, false, rng);
    operand_upload(&wte, ctx);
    if (c->T_max) {
        table_init(&wpe, d, &wpe_s, false, rng);
        operand_upload(&wpe, ctx);
    }
    operand_init(&out, d, out_s.off, btc_total(&out_s));
    operand_upload(&out, ctx);
    clt_buffer *tokb[2];
    for (int k = 0; k < 2; k++) {
        tokb[k] = ts_buffer(ctx[k], CLT_TIER_DEVICE, n_tok * sizeof(int32_t), tok);
        clt_op op;
        memset(&op, 0, sizeof op);
        op.kind = CLT_OP_EMBEDDING_FWD;
        tokens_tensor(&op.u.embedding_fwd.tokens, tokb[k], c);
        rows_tensor(&op.u.embedding_fwd.wte, wte.buf[k], d, &wte_s);
        if (c->T_max)
            rows_tensor(&op.u.embedding_fwd.wpe, wpe.buf[k], d, &wpe_s);
        btc_tensor(&op.u.embedding_fwd.out, out.buf[k], d, &out_s);
        ts_assert_ok(clt_op_run(ctx[k], &op, NULL));
    }
    operand_download(&wte);
    operand_download(&out);
    bool ok = untouched(&wte, what) && guards_kept(&out, in_btc, &out_s, what);
    if (c->T_max) {
        operand_download(&wpe);
        ok = ok && untouched(&wpe, what);
    }
    for (int k = 0; k < 2; k++) {
        ts_assert_buffer_equals(tokb[k], tok, n_tok * sizeof(int32_t));
        clt_buffer_destroy(tokb[k]);
    }
    /* a gather and one add in f32, rounded once: the same everywhere */
    ok = ok && ts_close(out.got[DEV], out.got[HOST], out.total, 0.0, what);
    float *want = malloc(out.total * sizeof(float));
    assert_non_null(want);
    for (size_t i = 0; i < out.total; i++)
        want[i] = SENTINEL;
    for (int b = 0; b < c->B; b++)
        for (int t = 0; t < c->T; t++) {
            const int32_t ix = tok[b * c->T + t];
            for (int ch = 0; ch < c->C; ch++) {
                float v = NAN;
                if (token_ok(c, ix)) {
                    v = wte.init[wte_s.off + (size_t)ix * (size_t)wte_s.ld + (size_t)ch];
                    if (c->T_max)
                        v += wpe.init[wpe_s.off + (size_t)t * (size_t)wpe_s.ld + (size_t)ch];
                }
                want[out_s.off + (size_t)(b * out_s.s0 + t * out_s.s1 + ch)] = v;
            }
        }
    round_to(d, want, out.total);
    char ref_what[200];
    snprintf(ref_what, sizeof ref_what, "%s (host reference against the gather)", what);
    ok = ok && ts_close(out.got[HOST], want, out.total, 0.0, ref_what);
    free(want);
    free(tok);
    operand_free(&wte);
    operand_free(&out);
    if (c->T_max)
        operand_free(&wpe);
    return ok;
}

static void forward(void **state)
{
    const char *device = *state;
    clt_context *ctx[2];
    contexts(device, ctx);
    ts_rng rng;
    ts_rng_seed(&rng, 2718);
    int failures = 0, runs = 0;
    for (size_t d = 0; d < N_DTYPES; d++)
        for (size_t i = 0; i < N_CASES; i++, runs++)
            failures += !run_forward(ctx, device, &cases[i], dtypes[d], &rng);
    if (failures)
        fail_msg("%s: %d of %d embedding_fwd cases failed", device, failures, runs);
    assert_no_fallback(ctx[DEV], CLT_OP_EMBEDDING_FWD);
    clt_context_destroy(ctx[DEV]);
    clt_context_destroy(ctx[HOST]);
}

/* ---- backward ------------------------------------------------------------------------ */

struct bwd_run {
    bool dwpe, accumulate, ints;
};

static bool run_backward(clt_context *const ctx[2], const char *device, const struct emb_case *c,
                         clt_dtype d, struct bwd_run r, ts_rng *rng)
{
    char what[200];
    snprintf(what, sizeof what, "%s: embedding_bwd %s B=%d T=%d V=%d C=%d T_max=%d pad %d%s%s%s",
             device, clt_dtype_name(d), c->B, c->T, c->V, c->C, r.dwpe ? c->T_max : 0, c->pad,
             r.accumulate ? " accumulate" : "", r.ints ? "" : " fractions",
             c->tokens == BAD ? " bad tokens" : "");
    const size_t n_tok = (size_t)c->B * (size_t)c->T;
    int32_t *tok = make_tokens(c, rng);
    const struct rows_shape wte_s = {c->V, c->C, c->C + c->pad, 2};
    const struct rows_shape wpe_s = {c->T_max, c->C, c->C + c->pad, 1};
    const struct btc dout_s = btc_of(c, 1);
    struct operand dwte, dwpe, dout;
    table_init(&dwte, d, &wte_s, true, rng);
    operand_upload(&dwte, ctx);
    if (r.dwpe) {
        table_init(&dwpe, d, &wpe_s, true, rng);
        operand_upload(&dwpe, ctx);
    }
    operand_init(&dout, d, dout_s.off, btc_total(&dout_s));
    for (size_t i = 0; i < dout.total; i++)
        if (in_btc(&dout_s, i))
            dout.init[i] = r.ints ? (float)ts_rng_int(rng, -4, 4) : ts_rng_float(rng, -1.0f, 1.0f);
    operand_upload(&dout, ctx);
    clt_buffer *tokb[2];
    for (int k = 0; k < 2; k++) {
        tokb[k] = ts_buffer(ctx[k], CLT_TIER_DEVICE, n_tok * sizeof(int32_t), tok);
        clt_op op;
        memset(&op, 0, sizeof op);
        op.kind = CLT_OP_EMBEDDING_BWD;
        tokens_tensor(&op.u.embedding_bwd.tokens, tokb[k], c);
        btc_tensor(&op.u.embedding_bwd.dout, dout.buf[k], d, &dout_s);
        rows_tensor(&op.u.embedding_bwd.dwte, dwte.buf[k], d, &wte_s);
        if (r.dwpe)
            rows_tensor(&op.u.embedding_bwd.dwpe, dwpe.buf[k], d, &wpe_s);
        op.u.embedding_bwd.accumulate = r.accumulate;
        ts_assert_ok(clt_op_run(ctx[k], &op, NULL));
    }
    operand_download(&dout);
    operand_download(&dwte);
    bool ok = untouched(&dout, what) && guards_kept(&dwte, in_rows, &wte_s, what);
    if (r.dwpe) {
        operand_download(&dwpe);
        ok = ok && guards_kept(&dwpe, in_rows, &wpe_s, what);
    }
    for (int k = 0; k < 2; k++) {
        ts_assert_buffer_equals(tokb[k], tok, n_tok * sizeof(int32_t));
        clt_buffer_destroy(tokb[k]);
    }
    /* whole numbers: exact sums, one rounding, the same bits; fractions: f32 sums in
     * position order against the host's double sums */
    const double tol = r.ints ? 0.0 : d == CLT_DTYPE_F32 ? 1e-4 : tol_dev(d);
    ok = ok && ts_close(dwte.got[DEV], dwte.got[HOST], dwte.total, tol, what);
    if (r.dwpe)
        ok = ok && ts_close(dwpe.got[DEV], dwpe.got[HOST], dwpe.total, tol, what);

    /* the reference against exact sums */
    double *sum_wte = calloc((size_t)c->V * (size_t)c->C, sizeof(double));
    double *sum_wpe = calloc((size_t)c->T_max * (size_t)c->C + 1, sizeof(double));
    size_t want_n = dwte.total;
    if (r.dwpe && dwpe.total > want_n)
        want_n = dwpe.total;
    float *want = malloc(want_n * sizeof(float));
    assert_non_null(sum_wte);
    assert_non_null(sum_wpe);
    assert_non_null(want);
    for (int b = 0; b < c->B; b++)
        for (int t = 0; t < c->T; t++)
            for (int ch = 0; ch < c->C; ch++) {
                const size_t at = dout_s.off + (size_t)(b * dout_s.s0 + t * dout_s.s1 + ch);
                const double g = dout.init[at];
                const int32_t ix = tok[b * c->T + t];
                if (token_ok(c, ix))
                    sum_wte[(size_t)ix * (size_t)c->C + (size_t)ch] += g;
                if (r.dwpe)
                    sum_wpe[(size_t)t * (size_t)c->C + (size_t)ch] += g; /* every position */
            }
    char ref_what[240];
    snprintf(ref_what, sizeof ref_what, "%s (host reference against the exact sums)", what);
    for (size_t i = 0; i < dwte.total; i++) {
        const size_t rel = i - wte_s.off;
        want[i] = !in_rows(&wte_s, i) ? SENTINEL
                                       : (float)((r.accumulate ? dwte.init[i] : 0.0) +
                                                 sum_wte[rel / (size_t)wte_s.ld * (size_t)c->C +
                                                         rel % (size_t)wte_s.ld]);
    }
    round_to(d, want, dwte.total);
    ok = ok && ts_close(dwte.got[HOST], want, dwte.total, r.ints ? 0.0 : tol_ref(d), ref_what);
    if (r.dwpe) {
        for (size_t i = 0; i < dwpe.total; i++) {
            const size_t rel = i - wpe_s.off;
            want[i] = !in_rows(&wpe_s, i) ? SENTINEL
                                           : (float)((r.accumulate ? dwpe.init[i] : 0.0) +
                                                     sum_wpe[rel / (size_t)wpe_s.ld * (size_t)c->C +
                                                             rel % (size_t)wpe_s.ld]);
        }
        round_to(d, want, dwpe.total);
        ok = ok && ts_close(dwpe.got[HOST], want, dwpe.total, r.ints ? 0.0 : tol_ref(d), ref_what);
    }
    free(sum_wte);
    free(sum_wpe);
    free(want);
    free(tok);
    operand_free(&dout);
    operand_free(&dwte);
    if (r.dwpe)
        operand_free(&dwpe);
    return ok;
}

static void backward(void **state)
{
    const char *device = *state;
    clt_context *ctx[2];
    contexts(device, ctx);
    ts_rng rng;
    ts_rng_seed(&rng, 161803);
    int failures = 0, runs = 0;
    for (size_t d = 0; d < N_DTYPES; d++)
        for (size_t i = 0; i < N_CASES; i++)
            for (int v = 0; v < 4; v++, runs++) {
                /* dwpe where the case has a table, on and off; accumulate both ways */
                const struct bwd_run r = {cases[i].T_max > 0 && v < 2, v % 2 == 1, true};
                failures += !run_backward(ctx, device, &cases[i], dtypes[d], r, &rng);
            }
    for (size_t i = 0; i < N_CASES; i++, runs++) {
        const struct bwd_run r = {cases[i].T_max > 0, i % 2 == 1, false};
        failures += !run_backward(ctx, device, &cases[i], CLT_DTYPE_F32, r, &rng);
    }
    if (failures)
        fail_msg("%s: %d of %d embedding_bwd cases failed", device, failures, runs);
    assert_no_fallback(ctx[DEV], CLT_OP_EMBEDDING_BWD);
    clt_context_destroy(ctx[DEV]);
    clt_context_destroy(ctx[HOST]);
}

/* Fractional gradients, many positions per token: the same bits twice (the second run
 * asynchronous, over a dwte holding other values). */
static void backward_repeat(void **state)
{
    const char *device = *state;
    clt_context *ctx = ts_context(device);
    enum { B = 8, T = 1024, V = 11, C = 24 };
    const size_t n = (size_t)B * T * C;
    float *dout = malloc(n * sizeof(float));
    int32_t *tok = malloc((size_t)B * T * sizeof(int32_t));
    assert_non_null(dout);
    assert_non_null(tok);
    ts_rng rng;
    ts_rng_seed(&rng, 3);
    ts_fill_floats(&rng, dout, n, -1.0f, 1.0f);
    for (int i = 0; i < B * T; i++)
        tok[i] = (int32_t)ts_rng_int(&rng, 0, V - 1);
    clt_buffer *doutb = ts_upload(ctx, CLT_TIER_DEVICE, dout, n);
    clt_buffer *tokb = ts_buffer(ctx, CLT_TIER_DEVICE, (size_t)B * T * sizeof(int32_t), tok);
    clt_buffer *dwte = ts_buffer(ctx, CLT_TIER_DEVICE, (size_t)V * C * sizeof(float), NULL);
    clt_buffer *dwpe = ts_buffer(ctx, CLT_TIER_DEVICE, (size_t)T * C * sizeof(float), NULL);
    clt_op op;
    memset(&op, 0, sizeof op);
    op.kind = CLT_OP_EMBEDDING_BWD;
    const int64_t btc[3] = {B, T, C}, bt[2] = {B, T}, vc[2] = {V, C}, tc[2] = {T, C};
    ts_assert_ok(clt_tensor_init(&op.u.embedding_bwd.dout, doutb, 0, CLT_DTYPE_F32, 3, btc));
    ts_assert_ok(clt_tensor_init(&op.u.embedding_bwd.tokens, tokb, 0, CLT_DTYPE_I32, 2, bt));
    ts_assert_ok(clt_tensor_init(&op.u.embedding_bwd.dwte, dwte, 0, CLT_DTYPE_F32, 2, vc));
    ts_assert_ok(clt_tensor_init(&op.u.embedding_bwd.dwpe, dwpe, 0, CLT_DTYPE_F32, 2, tc));
    void *first[2], *second[2];
    ts_assert_ok(clt_op_run(ctx, &op, NULL));
    first[0] = ts_download_all(dwte);
    first[1] = ts_download_all(dwpe);
    /* the second time asynchronously: the scratch must live until the kernels finish */
    ts_assert_ok(clt_buffer_write(dwte, 0, dout, (size_t)V * C * sizeof(float), NULL));
    clt_event *ev = NULL;
    ts_assert_ok(clt_op_run(ctx, &op, &ev));
    ts_assert_ok(clt_event_wait(ev));
    clt_event_destroy(ev);
    second[0] = ts_download_all(dwte);
    second[1] = ts_download_all(dwpe);
    assert_memory_equal(first[0], second[0], (size_t)V * C * sizeof(float));
    assert_memory_equal(first[1], second[1], (size_t)T * C * sizeof(float));
    /* and it is the sum: token 0's first channel against the exact value */
    double exact = 0;
    for (int i = 0; i < B * T; i++)
        if (tok[i] == 0)
            exact += dout[(size_t)i * C];
    assert_true(fabs(((float *)first[0])[0] - exact) < 1e-3);
    for (int i = 0; i < 2; i++) {
        free(first[i]);
        free(second[i]);
    }
    free(dout);
    free(tok);
    clt_buffer_destroy(doutb);
    clt_buffer_destroy(tokb);
    clt_buffer_destroy(dwte);
    clt_buffer_destroy(dwpe);
    clt_context_destroy(ctx);
}

/* ---- bad input ----------------------------------------------------------------------- */

static void bad_input(void **state)
{
    const char *device = *state;
    clt_context *ctx = ts_context(device);
    enum { B = 2, T = 3, V = 5, C = 4 };
    float init[B * T * C];
    for (int i = 0; i < B * T * C; i++)
        init[i] = (float)i;
    const int32_t tok[B * T] = {0, 1, 2, 3, 4, 0};
    clt_buffer *tokb = ts_buffer(ctx, CLT_TIER_DEVICE, sizeof tok, tok);
    clt_buffer *table = ts_upload(ctx, CLT_TIER_DEVICE, init, V * C);
    clt_buffer *pos = ts_upload(ctx, CLT_TIER_DEVICE, init, T * C);
    clt_buffer *out = ts_upload(ctx, CLT_TIER_DEVICE, init, B * T * C);
    const int64_t bt[2] = {B, T}, vc[2] = {V, C}, tc[2] = {T, C}, short_tc[2] = {T - 1, C},
                  btc[3] = {B, T, C};
    clt_op op;
    memset(&op, 0, sizeof op);
    op.kind = CLT_OP_EMBEDDING_FWD;
    clt_embedding_fwd_args *f = &op.u.embedding_fwd;
    ts_assert_ok(clt_tensor_init(&f->tokens, tokb, 0, CLT_DTYPE_I32, 2, bt));
    ts_assert_ok(clt_tensor_init(&f->wte, table, 0, CLT_DTYPE_F32, 2, vc));
    ts_assert_ok(clt_tensor_init(&f->wpe, pos, 0, CLT_DTYPE_F32, 2, tc));
    ts_assert_ok(clt_tensor_init(&f->out, out, 0, CLT_DTYPE_F32, 3, btc));
    /* tokens of dtype f32 */
    f->tokens.dtype = CLT_DTYPE_F32;
    ts_assert_status(clt_op_run(ctx, &op, NULL), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("embedding_fwd");
    ts_assert_error_mentions("argument tokens");
    ts_assert_buffer_equals(out, init, sizeof init);
    /* wpe with fewer positions than T */
    f->tokens.dtype = CLT_DTYPE_I32;
    ts_assert_ok(clt_tensor_init(&f->wpe, pos, 0, CLT_DTYPE_F32, 2, short_tc));
    ts_assert_status(clt_op_run(ctx, &op, NULL), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("embedding_fwd");
    ts_assert_error_mentions("argument wpe");
    ts_assert_buffer_equals(out, init, sizeof init);
    /* with wpe right, it runs: the refusals were about those arguments */
    ts_assert_ok(clt_tensor_init(&f->wpe, pos, 0, CLT_DTYPE_F32, 2, tc));
    ts_assert_ok(clt_op_run(ctx, &op, NULL));

    /* backward: dwpe shorter than T; dwte with the wrong channels */
    ts_assert_ok(clt_buffer_write(out, 0, init, sizeof init, NULL));
    memset(&op, 0, sizeof op);
    op.kind = CLT_OP_EMBEDDING_BWD;
    clt_embedding_bwd_args *g = &op.u.embedding_bwd;
    ts_assert_ok(clt_tensor_init(&g->tokens, tokb, 0, CLT_DTYPE_I32, 2, bt));
    ts_assert_ok(clt_tensor_init(&g->dout, out, 0, CLT_DTYPE_F32, 3, btc));
    ts_assert_ok(clt_tensor_init(&g->dwte, table, 0, CLT_DTYPE_F32, 2, vc));
    ts_assert_ok(clt_tensor_init(&g->dwpe, pos, 0, CLT_DTYPE_F32, 2, short_tc));
    ts_assert_status(clt_op_run(ctx, &op, NULL), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("embedding_bwd");
    ts_assert_error_mentions("argument dwpe");
    ts_assert_buffer_equals(table, init, V * C * sizeof(float));
    const int64_t wrong_c[2] = {V - 1, C - 1};
    ts_assert_ok(clt_tensor_init(&g->dwpe, pos, 0, CLT_DTYPE_F32, 2, tc));
    ts_assert_ok(clt_tensor_init(&g->dwte, table, 0, CLT_DTYPE_F32, 2, wrong_c));
    ts_assert_status(clt_op_run(ctx, &op, NULL), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("embedding_bwd");
    ts_assert_error_mentions("dwte");
    ts_assert_buffer_equals(table, init, V * C * sizeof(float));
    ts_assert_buffer_equals(pos, init, T * C * sizeof(float));

    clt_buffer_destroy(tokb);
    clt_buffer_destroy(table);
    clt_buffer_destroy(pos);
    clt_buffer_destroy(out);
    clt_context_destroy(ctx);
}

/* ---- the reference's gradient: finite differences ------------------------------------ */

enum { FB = 2, FT = 3, FV = 4, FC = 2, FT_MAX = 4 };

/* L(wte, wpe) = Σ w · embedding_fwd(tokens, wte, wpe) on the host. */
static double emb_loss(clt_context *host, clt_op *op, const float *wte, const float *wpe,
                       const float *w)
{
    clt_embedding_fwd_args *f = &op->u.embedding_fwd;
    ts_assert_ok(clt_buffer_write(f->wte.buf, 0, wte, FV * FC * sizeof(float), NULL));
    ts_assert_ok(clt_buffer_write(f->wpe.buf, 0, wpe, FT_MAX * FC * sizeof(float), NULL));
    ts_assert_ok(clt_op_run(host, op, NULL));
    float out[FB * FT * FC];
    ts_download(f->out.buf, 0, out, FB * FT * FC);
    double loss = 0;
    for (int i = 0; i < FB * FT * FC; i++)
        loss += (double)w[i] * out[i];
    return loss;
}

static void embedding_bwd_finite_differences(void **state)
{
    (void)state;
    clt_context *host = ts_context("host");
    const float eps = 1e-2f;
    const int32_t tok[FB * FT] = {1, 3, 1, 0, 1, 1}; /* token 2 unused, token 1 four times */
    float wte[FV * FC], wpe[FT_MAX * FC], w[FB * FT * FC];
    ts_rng rng;
    ts_rng_seed(&rng, 21);
    ts_fill_floats(&rng, wte, FV * FC, -1.0f, 1.0f);
    ts_fill_floats(&rng, wpe, FT_MAX * FC, -1.0f, 1.0f);
    ts_fill_floats(&rng, w, FB * FT * FC, -1.0f, 1.0f);
    clt_buffer *tokb = ts_buffer(host, CLT_TIER_DEVICE, sizeof tok, tok);
    clt_buffer *wteb = ts_upload(host, CLT_TIER_DEVICE, wte, FV * FC);
    clt_buffer *wpeb = ts_upload(host, CLT_TIER_DEVICE, wpe, FT_MAX * FC);
    clt_buffer *outb = ts_buffer(host, CLT_TIER_DEVICE, sizeof w, NULL);
    clt_buffer *wb = ts_upload(host, CLT_TIER_DEVICE, w, FB * FT * FC);
    clt_buffer *dwte = ts_buffer(host, CLT_TIER_DEVICE, sizeof wte, NULL);
    clt_buffer *dwpe = ts_buffer(host, CLT_TIER_DEVICE, sizeof wpe, NULL);
    const int64_t bt[2] = {FB, FT}, vc[2] = {FV, FC}, tc[2] = {FT_MAX, FC}, btc[3] = {FB, FT, FC};
    clt_op fwd, bwd;
    memset(&fwd, 0, sizeof fwd);
    memset(&bwd, 0, sizeof bwd);
    fwd.kind = CLT_OP_EMBEDDING_FWD;
    ts_assert_ok(clt_tensor_init(&fwd.u.embedding_fwd.tokens, tokb, 0, CLT_DTYPE_I32, 2, bt));
    ts_assert_ok(clt_tensor_init(&fwd.u.embedding_fwd.wte, wteb, 0, CLT_DTYPE_F32, 2, vc));
    ts_assert_ok(clt_tensor_init(&fwd.u.embedding_fwd.wpe, wpeb, 0, CLT_DTYPE_F32, 2, tc));
    ts_assert_ok(clt_tensor_init(&fwd.u.embedding_fwd.out, outb, 0, CLT_DTYPE_F32, 3, btc));
    bwd.kind = CLT_OP_EMBEDDING_BWD;
    ts_assert_ok(clt_tensor_init(&bwd.u.embedding_bwd.tokens, tokb, 0, CLT_DTYPE_I32, 2, bt));
    ts_assert_ok(clt_tensor_init(&bwd.u.embedding_bwd.dout, wb, 0, CLT_DTYPE_F32, 3, btc));
    ts_assert_ok(clt_tensor_init(&bwd.u.embedding_bwd.dwte, dwte, 0, CLT_DTYPE_F32, 2, vc));
    ts_assert_ok(clt_tensor_init(&bwd.u.embedding_bwd.dwpe, dwpe, 0, CLT_DTYPE_F32, 2, tc));
    ts_assert_ok(clt_op_run(host, &bwd, NULL));
    float g_wte[FV * FC], g_wpe[FT_MAX * FC];
    ts_download(dwte, 0, g_wte, FV * FC);
    ts_download(dwpe, 0, g_wpe, FT_MAX * FC);
    for (int table = 0; table < 2; table++) {
        float *param = table ? wpe : wte;
        const float *grad = table ? g_wpe : g_wte;
        const int count = table ? FT_MAX * FC : FV * FC;
        for (int i = 0; i < count; i++) {
            const float keep = param[i];
            param[i] = keep + eps;
            const double lp = emb_loss(host, &fwd, wte, wpe, w);
            param[i] = keep - eps;
            const double lm = emb_loss(host, &fwd, wte, wpe, w);
            param[i] = keep;
            const double fd = (lp - lm) / (2.0 * eps);
            if (fabs(fd - grad[i]) > 1e-2 * fabs(fd) + 1e-3)
                fail_msg("embedding_bwd d%s[%d]: analytic %.6g, central difference %.6g",
                         table ? "wpe" : "wte", i, (double)grad[i], fd);
        }
    }
    /* an unused token and the position no sequence reaches have zero gradient */
    assert_true(g_wte[2 * FC] == 0.0f && g_wpe[(FT_MAX - 1) * FC] == 0.0f);
    clt_buffer_destroy(tokb);
    clt_buffer_destroy(wteb);
    clt_buffer_destroy(wpeb);
    clt_buffer_destroy(outb);
    clt_buffer_destroy(wb);
    clt_buffer_destroy(dwte);
    clt_buffer_destroy(dwpe);
    clt_context_destroy(host);
}

int main(void)
{
    const ts_device_test tests[] = {
        {"forward", forward},
        {"backward", backward},
        {"backward_repeat", backward_repeat},
        {"bad_input", bad_input},
    };
    const struct CMUnitTest host_tests[] = {
        cmocka_unit_test(embedding_bwd_finite_differences),
    };
    int failed = ts_run_per_device("embedding", tests, sizeof tests / sizeof tests[0]);
    return failed + cmocka_run_group_tests_name("embedding reference", host_tests, NULL, NULL);
}
