/* GEMM with bad input: every case is CLT_ERR_INVALID_ARG with a sentence naming "gemm"
 * and the offending argument, and no buffer is written. */
#include "support/support.h"

enum { M = 4, N = 5, K = 6, SLACK = 64 };

struct fixture {
    clt_context *ctx, *other;
    clt_buffer *a, *b, *c, *bias;       /* DEVICE, with SLACK floats past the tensor */
    clt_buffer *foreign;                /* a buffer of the other context */
    clt_buffer *host, *nvme;            /* staging tiers, not usable by ops */
    float *ha, *hb, *hc, *hbias;        /* what each buffer holds */
};

static const size_t NA = M * K + SLACK, NB = K * N + SLACK, NC = M * N + SLACK,
                    NBIAS = N + SLACK;

static void set2(clt_tensor *t, clt_buffer *buf, int64_t r, int64_t c)
{
    memset(t, 0, sizeof *t);
    t->buf = buf;
    t->dtype = CLT_DTYPE_F32;
    t->rank = 2;
    t->shape[0] = r;
    t->shape[1] = c;
    t->strides[0] = c;
    t->strides[1] = 1;
}

static void set3(clt_tensor *t, clt_buffer *buf, int64_t batch, int64_t r, int64_t c)
{
    set2(t, buf, r, c);
    t->rank = 3;
    t->shape[0] = batch;
    t->shape[1] = r;
    t->shape[2] = c;
    t->strides[0] = r * c;
    t->strides[1] = c;
    t->strides[2] = 1;
}

static clt_gemm_args valid(const struct fixture *f)
{
    clt_gemm_args g;
    memset(&g, 0, sizeof g);
    set2(&g.a, f->a, M, K);
    set2(&g.b, f->b, K, N);
    set2(&g.c, f->c, M, N);
    memset(&g.bias, 0, sizeof g.bias);
    g.bias.buf = f->bias;
    g.bias.dtype = CLT_DTYPE_F32;
    g.bias.rank = 1;
    g.bias.shape[0] = N;
    g.bias.strides[0] = 1;
    g.alpha = 1.0f;
    g.beta = 0.5f;
    return g;
}

struct bad_case {
    const char *what;
    const char *args[3]; /* the argument names of which the text must name one */
};

/* Applies bad case k to g; returns false when there is no case k. */
static bool mutate(int k, clt_gemm_args *g, const struct fixture *f, struct bad_case *bc)
{
    memset(bc, 0, sizeof *bc);
#define CASE(n, text, a0, a1, a2)  \
    case n:                        \
        bc->what = text;           \
        bc->args[0] = a0;          \
        bc->args[1] = a1;          \
        bc->args[2] = a2;
    switch (k) {
    CASE(0, "a.buf NULL", "a", NULL, NULL) g->a.buf = NULL; break;
    CASE(1, "b.buf NULL", "b", NULL, NULL) g->b.buf = NULL; break;
    CASE(2, "c.buf NULL", "c", NULL, NULL) g->c.buf = NULL; break;
    CASE(3, "a rank 0", "a", NULL, NULL) g->a.rank = 0; break;
    CASE(4, "a rank 5", "a", NULL, NULL) g->a.rank = 5; break;
    CASE(5, "c rank 1", "c", NULL, NULL) g->c.rank = 1; g->c.strides[0] = 1; break;
    CASE(6, "a rows 0", "a", NULL, NULL) g->a.shape[0] = 0; break;
    CASE(7, "b cols -3", "b", NULL, NULL) g->b.shape[1] = -3; break;
    CASE(8, "c cols 0", "c", NULL, NULL) g->c.shape[1] = 0; break;
    CASE(9, "K of a differs from b", "a", "b", NULL)
        g->a.shape[1] = K + 1; g->a.strides[0] = K + 1; break;
    CASE(10, "M of c differs from a", "c", "a", NULL) g->c.shape[0] = M - 1; break;
    CASE(11, "N of c differs from b", "c", "b", NULL)
        g->c.shape[1] = N - 1; g->c.strides[0] = N - 1; break;
    CASE(12, "bias length N+1", "bias", NULL, NULL) g->bias.shape[0] = N + 1; break;
    CASE(13, "bias rank 2", "bias", NULL, NULL) set2(&g->bias, f->bias, 1, N); break;
    CASE(14, "a f16 with f32 b and c", "a", NULL, NULL) g->a.dtype = CLT_DTYPE_F16; break;
    CASE(15, "c bf16", "c", NULL, NULL) g->c.dtype = CLT_DTYPE_BF16; break;
    CASE(16, "bias f16", "bias", NULL, NULL) g->bias.dtype = CLT_DTYPE_F16; break;
    CASE(17, "b dtype out of range", "b", NULL, NULL) g->b.dtype = (clt_dtype)9; break;
    CASE(18, "a last stride 2", "a", NULL, NULL)
        g->a.strides[1] = 2; g->a.strides[0] = 2 * K; break;
    CASE(19, "b negative row stride", "b", NULL, NULL) g->b.strides[0] = -N; break;
    CASE(20, "c row stride 0 (rows overlap)", "c", NULL, NULL) g->c.strides[0] = 0; break;
    CASE(21, "a past the end of its buffer", "a", NULL, NULL)
        g->a.offset = NA * sizeof(float) - 4 * sizeof(float); break;
    CASE(22, "a offset near SIZE_MAX", "a", NULL, NULL) g->a.offset = SIZE_MAX - 3; break;
    CASE(23, "a shape 2^40 x 2^40", "a", NULL, NULL)
        g->a.shape[0] = (int64_t)1 << 40; g->a.shape[1] = (int64_t)1 << 40;
        g->a.strides[0] = (int64_t)1 << 40; break;
    CASE(24, "b bytes overflow size_t", "b", NULL, NULL)
        g->b.shape[0] = (int64_t)1 << 31; g->b.shape[1] = (int64_t)1 << 31;
        g->b.strides[0] = (int64_t)1 << 31; break;
    CASE(25, "c aliases a", "c", "a", NULL) g->c.buf = f->a; break;
    CASE(26, "c overlaps bias", "c", "bias", NULL)
        g->c.buf = f->bias; g->c.offset = 8; break;
    CASE(27, "c batch stride 0", "c", NULL, NULL)
        set3(&g->c, f->c, 2, M, N); g->c.strides[0] = 0; break;
    CASE(28, "batch of b differs", "b", "c", "a")
        set3(&g->a, f->a, 2, M, K); set3(&g->b, f->b, 3, K, N); set3(&g->c, f->c, 2, M, N);
        break;
    CASE(29, "a batched, c not", "a", "c", NULL) set3(&g->a, f->a, 2, M, K); break;
    CASE(30, "a from another context", "a", NULL, NULL) g->a.buf = f->foreign; break;
    CASE(31, "c from another context", "c", NULL, NULL) g->c.buf = f->foreign; break;
    CASE(32, "a on the HOST tier", "a", NULL, NULL) g->a.buf = f->host; break;
    CASE(33, "b on the NVME tier", "b", NULL, NULL) g->b.buf = f->nvme; break;
    CASE(34, "c on the HOST tier", "c", NULL, NULL) g->c.buf = f->host; break;
    CASE(35, "bias on the NVME tier", "bias", NULL, NULL) g->bias.buf = f->nvme; break;
    CASE(36, "trans_a on an untransposed a", "a", "b", "c") g->trans_a = true; break;
    CASE(37, "bias stride 0", "bias", NULL, NULL) g->bias.strides[0] = 0; break;
    CASE(38, "b rank 4", "b", NULL, NULL)
        set3(&g->b, f->b, 1, K, N); g->b.rank = 4; g->b.shape[3] = N; g->b.shape[2] = K;
        g->b.shape[1] = 1; g->b.strides[3] = 1; g->b.strides[2] = N;
        g->b.strides[1] = K * N; break;
    CASE(39, "c dtype out of range", "c", NULL, NULL) g->c.dtype = (clt_dtype)-1; break;
    CASE(40, "bias past the end", "bias", NULL, NULL)
        g->bias.offset = (NBIAS - 2) * sizeof(float); break;
    default:
        return false;
    }
#undef CASE
    return true;
}

static void upload_all(struct fixture *f)
{
    ts_assert_ok(clt_buffer_write(f->a, 0, f->ha, NA * sizeof(float), NULL));
    ts_assert_ok(clt_buffer_write(f->b, 0, f->hb, NB * sizeof(float), NULL));
    ts_assert_ok(clt_buffer_write(f->c, 0, f->hc, NC * sizeof(float), NULL));
    ts_assert_ok(clt_buffer_write(f->bias, 0, f->hbias, NBIAS * sizeof(float), NULL));
}

static bool unchanged(const struct fixture *f, const char *what)
{
    const clt_buffer *bufs[4] = {f->a, f->b, f->c, f->bias};
    const float *want[4] = {f->ha, f->hb, f->hc, f->hbias};
    const char *names[4] = {"a", "b", "c", "bias"};
    bool ok = true;
    for (int i = 0; i < 4; i++) {
        void *got = ts_download_all((clt_buffer *)bufs[i]);
        if (memcmp(got, want[i], clt_buffer_size(bufs[i])) != 0) {
            print_error("%s: buffer %s was written\n", what, names[i]);
            ok = false;
        }
        free(got);
    }
    return ok;
}

static void setup(struct fixture *f, const char *device)
{
    memset(f, 0, sizeof *f);
    f->ctx = ts_context(device);
    f->other = ts_context("host");
    ts_rng rng;
    ts_rng_seed(&rng, 7);
    f->ha = malloc(NA * sizeof(float));
    f->hb = malloc(NB * sizeof(float));
    f->hc = malloc(NC * sizeof(float));
    f->hbias = malloc(NBIAS * sizeof(float));
    assert_true(f->ha && f->hb && f->hc && f->hbias);
    ts_fill_ints(&rng, f->ha, NA, -9, 9);
    ts_fill_ints(&rng, f->hb, NB, -9, 9);
    ts_fill_ints(&rng, f->hc, NC, -9, 9);
    ts_fill_ints(&rng, f->hbias, NBIAS, -9, 9);
    f->a = ts_upload(f->ctx, CLT_TIER_DEVICE, f->ha, NA);
    f->b = ts_upload(f->ctx, CLT_TIER_DEVICE, f->hb, NB);
    f->c = ts_upload(f->ctx, CLT_TIER_DEVICE, f->hc, NC);
    f->bias = ts_upload(f->ctx, CLT_TIER_DEVICE, f->hbias, NBIAS);
    f->foreign = ts_upload(f->other, CLT_TIER_DEVICE, f->hc, NC);
    f->host = ts_upload(f->ctx, CLT_TIER_HOST, f->hc, NC);
    f->nvme = ts_upload(f->ctx, CLT_TIER_NVME, f->hc, NC);
}

static void teardown(struct fixture *f)
{
    clt_context_destroy(f->other);
    clt_context_destroy(f->ctx); /* frees the buffers */
    free(f->ha);
    free(f->hb);
    free(f->hc);
    free(f->hbias);
}

static void gemm_bad_tensors(void **state)
{
    const char *device = *state;
    struct fixture f;
    setup(&f, device);
    int failures = 0, k = 0;
    for (;; k++) {
        clt_gemm_args g = valid(&f);
        struct bad_case bc;
        if (!mutate(k, &g, &f, &bc))
            break;
        clt_status st = clt_gemm(f.ctx, &g, NULL);
        const char *text = clt_last_error();
        bool ok = true;
        if (st != CLT_ERR_INVALID_ARG) {
            print_error("%s: %s: %s, want CLT_ERR_INVALID_ARG (%s)\n", device, bc.what,
                        clt_status_name(st), text);
            ok = false;
        } else {
            bool named = false;
            for (int i = 0; i < 3 && bc.args[i]; i++)
                named = named || ts_has_word(text, bc.args[i]);
            if (!ts_has_word(text, "gemm") || !named) {
                print_error("%s: %s: the text does not name gemm and argument %s: \"%s\"\n",
                            device, bc.what, bc.args[0], text);
                ok = false;
            }
        }
        if (!unchanged(&f, bc.what)) {
            ok = false;
            upload_all(&f);
        }
        /* the same through clt_op_run, with an event asked for */
        clt_op op;
        memset(&op, 0, sizeof op);
        op.kind = CLT_OP_GEMM;
        op.u.gemm = g;
        clt_event *ev = (clt_event *)&ev;
        st = clt_op_run(f.ctx, &op, &ev);
        if (st != CLT_ERR_INVALID_ARG) {
            print_error("%s: %s through clt_op_run: %s\n", device, bc.what, clt_status_name(st));
            ok = false;
        }
        if (ev != NULL && ev != (clt_event *)&ev) {
            print_error("%s: %s: a failed clt_op_run handed out an event\n", device, bc.what);
            clt_event_destroy(ev);
            ok = false;
        }
        failures += !ok;
    }
    assert_true(k >= 40);
    /* the untouched arguments are valid: the failures above were the mutations' */
    clt_gemm_args g = valid(&f);
    ts_assert_ok(clt_gemm(f.ctx, &g, NULL));
    teardown(&f);
    if (failures)
        fail_msg("%s: %d of %d bad GEMMs were not refused properly", device, failures, k);
}

static void gemm_bad_calls(void **state)
{
    const char *device = *state;
    struct fixture f;
    setup(&f, device);
    clt_gemm_args g = valid(&f);
    assert_int_equal(clt_gemm(NULL, &g, NULL), CLT_ERR_INVALID_ARG);
    assert_true(strlen(clt_last_error()) > 0);
    assert_int_equal(clt_gemm(f.ctx, NULL, NULL), CLT_ERR_INVALID_ARG);
    assert_true(strlen(clt_last_error()) > 0);
    assert_int_equal(clt_op_run(f.ctx, NULL, NULL), CLT_ERR_INVALID_ARG);
    assert_true(strlen(clt_last_error()) > 0);
    clt_op op;
    memset(&op, 0, sizeof op);
    op.kind = CLT_OP_GEMM;
    op.u.gemm = g;
    assert_int_equal(clt_op_run(NULL, &op, NULL), CLT_ERR_INVALID_ARG);
    op.kind = (clt_op_kind)99;
    assert_int_equal(clt_op_run(f.ctx, &op, NULL), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("99");
    op.kind = (clt_op_kind)-1;
    assert_int_equal(clt_op_run(f.ctx, &op, NULL), CLT_ERR_INVALID_ARG);
    assert_true(unchanged(&f, "bad calls"));
    /* a good op through clt_op_run runs */
    op.kind = CLT_OP_GEMM;
    ts_assert_ok(clt_op_run(f.ctx, &op, NULL));
    teardown(&f);
}

int main(void)
{
    const ts_device_test tests[] = {
        {"gemm_bad_tensors", gemm_bad_tensors},
        {"gemm_bad_calls", gemm_bad_calls},
    };
    return ts_run_per_device("gemm bad input", tests, sizeof tests / sizeof tests[0]);
}
