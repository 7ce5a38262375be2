/* The attention reference (backends/host/attention_ref.c), run through clt_op_run on the
 * host device: against a naive materialised attention written here from the definition
 * in include/clt/op.h, against central differences of its own forward, with f16 and
 * bf16 storage, with NaN inputs, in O(T) memory at T = 8192, and refusing bad input
 * without writing anything. Outputs are checked element by element, and every byte of
 * an output buffer outside the tensor (row padding, guards) must be left as it was. */
#include <math.h>

#include "runtime/dtype_access.h"
#include "support/support.h"

/* ---- layouts --------------------------------------------------------------------------- */

enum layout {
    BHTD,   /* contiguous (B, H, T, d) */
    PADDED, /* (B, H, T, d), PAD elements after each row, element 0 PAD_AT elements in */
    BTHD,   /* contiguous (B, T, H, d), the natural output of a head-merging projection */
    PACKED, /* q, k, v as slices of one (B, T, 3, H, d) buffer, as a fused QKV writes them */
};
#define PAD 3
#define PAD_AT 5
#define GUARD 3 /* elements after a tensor's last one in its buffer */

struct dims {
    int64_t B, H, T, d;
};

struct acfg {
    struct dims n;
    bool causal;
    enum layout qkv, o, grad; /* dout is laid out as o; dq, dk, dv as grad */
};

static size_t numel(struct dims n) { return (size_t)(n.B * n.H * n.T * n.d); }
static size_t n_rows(struct dims n) { return (size_t)(n.B * n.H * n.T); }
static float default_scale(struct dims n) { return (float)(1.0 / sqrt((double)n.d)); }

/* Describes a (B, H, T, d) tensor in layout l (for PACKED, slot 0, 1, 2 is q, k, v) and
 * returns the elements its buffer needs. */
static size_t describe(clt_tensor *t, enum layout l, int slot, struct dims n, clt_dtype dt)
{
    memset(t, 0, sizeof *t);
    t->dtype = dt;
    t->rank = 4;
    t->shape[0] = n.B;
    t->shape[1] = n.H;
    t->shape[2] = n.T;
    t->shape[3] = n.d;
    int64_t at = 0, s[4];
    switch (l) {
    case BHTD: s[0] = n.H * n.T * n.d; s[1] = n.T * n.d; s[2] = n.d; break;
    case PADDED: s[2] = n.d + PAD; s[1] = n.T * s[2]; s[0] = n.H * s[1]; at = PAD_AT; break;
    case BTHD: s[0] = n.T * n.H * n.d; s[1] = n.d; s[2] = n.H * n.d; break;
    case PACKED:
        s[0] = n.T * 3 * n.H * n.d; s[1] = n.d; s[2] = 3 * n.H * n.d; at = slot * n.H * n.d;
        break;
    }
    s[3] = 1;
    int64_t last = at;
    for (int i = 0; i < 4; i++) {
        t->strides[i] = s[i];
        last += (t->shape[i] - 1) * s[i];
    }
    t->offset = (size_t)at * clt_dtype_size(dt);
    return (size_t)last + 1 + GUARD;
}

/* lse or delta: (B, H, T) f32, contiguous. */
static size_t describe_stats(clt_tensor *t, struct dims n)
{
    const int64_t shape[3] = {n.B, n.H, n.T};
    ts_assert_ok(clt_tensor_init(t, NULL, 0, CLT_DTYPE_F32, 3, shape));
    return n_rows(n) + GUARD;
}

/* The buffer element holding element `lin` of t in row-major order. */
static size_t elem_at(const clt_tensor *t, size_t lin)
{
    size_t at = t->offset / clt_dtype_size(t->dtype);
    for (int i = t->rank - 1; i >= 0; i--) {
        at += (lin % (size_t)t->shape[i]) * (size_t)t->strides[i];
        lin /= (size_t)t->shape[i];
    }
    return at;
}

static size_t tensor_numel(const clt_tensor *t) { return (size_t)clt_tensor_numel(t); }

/* x rounded to dtype and back. */
static float round_to(clt_dtype dt, float x)
{
    unsigned char cell[4];
    clt_store_elem(dt, cell, 0, x);
    return clt_load_elem(dt, cell, 0);
}

/* A buffer of `elems` elements of dt holding 0xA5 bytes, then `canon` (row-major) at
 * each of the `count` tensors' places. */
static clt_buffer *upload(clt_context *ctx, size_t elems, clt_dtype dt, int count,
                          const clt_tensor *ts, const float *const *canon)
{
    const size_t bytes = elems * clt_dtype_size(dt);
    unsigned char *image = malloc(bytes);
    assert_non_null(image);
    memset(image, 0xA5, bytes);
    for (int k = 0; k < count; k++)
        for (size_t e = 0; e < tensor_numel(&ts[k]); e++)
            clt_store_elem(dt, image, elem_at(&ts[k], e), canon[k][e]);
    clt_buffer *buf = ts_buffer(ctx, CLT_TIER_DEVICE, bytes, image);
    free(image);
    return buf;
}

/* Uploads q, k, v (canonical) in layout l: three buffers, or one for PACKED. */
static void upload_qkv(clt_context *ctx, enum layout l, clt_dtype dt, struct dims n,
                       const float *const canon[3], clt_tensor out[3])
{
    size_t elems = 0;
    for (int k = 0; k < 3; k++)
        elems = describe(&out[k], l, k, n, dt);
    if (l == PACKED) {
        clt_buffer *buf = upload(ctx, elems, dt, 3, out, canon);
        out[0].buf = out[1].buf = out[2].buf = buf;
    } else {
        for (int k = 0; k < 3; k++)
            out[k].buf = upload(ctx, elems, dt, 1, &out[k], &canon[k]);
    }
}

static void upload_one(clt_context *ctx, enum layout l, clt_dtype dt, struct dims n,
                       const float *canon, clt_tensor *out)
{
    out->buf = upload(ctx, describe(out, l, 0, n, dt), dt, 1, out, &canon);
}

static void upload_stats(clt_context *ctx, struct dims n, const float *canon, clt_tensor *out)
{
    out->buf = upload(ctx, describe_stats(out, n), CLT_DTYPE_F32, 1, out, &canon);
}

/* An output: its descriptor and the bytes its buffer held before the op. */
struct output {
    clt_tensor t;
    unsigned char *before;
    size_t bytes;
};

static void make_output(clt_context *ctx, struct output *o, size_t elems)
{
    o->bytes = elems * clt_dtype_size(o->t.dtype);
    o->before = malloc(o->bytes);
    assert_non_null(o->before);
    memset(o->before, 0xA5, o->bytes);
    o->t.buf = ts_buffer(ctx, CLT_TIER_DEVICE, o->bytes, o->before);
}

static void make_tensor_output(clt_context *ctx, struct output *o, enum layout l, clt_dtype dt,
                               struct dims n)
{
    make_output(ctx, o, describe(&o->t, l, 0, n, dt));
}

static void make_stats_output(clt_context *ctx, struct output *o, struct dims n)
{
    make_output(ctx, o, describe_stats(&o->t, n));
}

/* Reads an output back into canon (row-major), asserting that no byte outside its
 * elements changed; frees it. */
static void collect(struct output *o, float *canon, const char *what)
{
    unsigned char *after = ts_download_all(o->t.buf);
    const size_t es = clt_dtype_size(o->t.dtype), n = tensor_numel(&o->t);
    bool *mine = calloc(o->bytes / es, sizeof *mine);
    assert_non_null(mine);
    for (size_t e = 0; e < n; e++) {
        mine[elem_at(&o->t, e)] = true;
        canon[e] = clt_load_elem(o->t.dtype, after, elem_at(&o->t, e));
    }
    for (size_t i = 0; i < o->bytes / es; i++)
        if (!mine[i] && memcmp(after + i * es, o->before + i * es, es) != 0)
            fail_msg("%s: element %zu of the buffer is outside the tensor but was written",
                     what, i);
    free(mine);
    free(after);
    free(o->before);
    clt_buffer_destroy(o->t.buf);
}

static void destroy_qkv(clt_tensor t[3])
{
    clt_buffer_destroy(t[0].buf);
    if (t[1].buf != t[0].buf) {
        clt_buffer_destroy(t[1].buf);
        clt_buffer_destroy(t[2].buf);
    }
}

static void run_op(clt_context *ctx, const clt_op *op)
{
    ts_assert_ok(clt_op_run(ctx, op, NULL));
}

/* o, lse = attention(q, k, v), all canonical, stored as dt in c's layouts. */
static void run_forward(clt_context *ctx, const struct acfg *c, float scale, clt_dtype dt,
                        const float *q, const float *k, const float *v, float *o, float *lse)
{
    const float *const qkv[3] = {q, k, v};
    clt_op op;
    memset(&op, 0, sizeof op);
    op.kind = CLT_OP_ATTENTION_FWD;
    clt_attention_fwd_args *a = &op.u.attention_fwd;
    clt_tensor in[3];
    upload_qkv(ctx, c->qkv, dt, c->n, qkv, in);
    struct output out_o, out_lse;
    make_tensor_output(ctx, &out_o, c->o, dt, c->n);
    make_stats_output(ctx, &out_lse, c->n);
    a->q = in[0];
    a->k = in[1];
    a->v = in[2];
    a->o = out_o.t;
    a->lse = out_lse.t;
    a->scale = scale;
    a->causal = c->causal;
    run_op(ctx, &op);
    collect(&out_o, o, "attention_fwd o");
    collect(&out_lse, lse, "attention_fwd lse");
    destroy_qkv(in);
}

/* The gradients of attention given the forward's o and lse, all canonical. */
static void run_backward(clt_context *ctx, const struct acfg *c, float scale, clt_dtype dt,
                         const float *q, const float *k, const float *v, const float *o,
                         const float *dout, const float *lse, float *dq, float *dk, float *dv,
                         float *delta)
{
    const float *const qkv[3] = {q, k, v};
    clt_op op;
    memset(&op, 0, sizeof op);
    op.kind = CLT_OP_ATTENTION_BWD;
    clt_attention_bwd_args *a = &op.u.attention_bwd;
    clt_tensor in[3];
    upload_qkv(ctx, c->qkv, dt, c->n, qkv, in);
    a->q = in[0];
    a->k = in[1];
    a->v = in[2];
    upload_one(ctx, c->o, dt, c->n, o, &a->o);
    upload_one(ctx, c->o, dt, c->n, dout, &a->dout);
    upload_stats(ctx, c->n, lse, &a->lse);
    struct output out_dq, out_dk, out_dv, out_delta;
    make_tensor_output(ctx, &out_dq, c->grad, dt, c->n);
    make_tensor_output(ctx, &out_dk, c->grad, dt, c->n);
    make_tensor_output(ctx, &out_dv, c->grad, dt, c->n);
    make_stats_output(ctx, &out_delta, c->n);
    a->dq = out_dq.t;
    a->dk = out_dk.t;
    a->dv = out_dv.t;
    a->delta = out_delta.t;
    a->scale = scale;
    a->causal = c->causal;
    run_op(ctx, &op);
    collect(&out_dq, dq, "attention_bwd dq");
    collect(&out_dk, dk, "attention_bwd dk");
    collect(&out_dv, dv, "attention_bwd dv");
    collect(&out_delta, delta, "attention_bwd delta");
    destroy_qkv(in);
    clt_buffer_destroy(a->o.buf);
    clt_buffer_destroy(a->dout.buf);
    clt_buffer_destroy(a->lse.buf);
}

/* ---- the naive materialised attention ---------------------------------------------------- */

/* Everything attention computes, canonical and rounded to float. */
struct grads {
    float *o, *lse, *dq, *dk, *dv, *delta;
};

static struct grads grads_alloc(struct dims n)
{
    struct grads g;
    float **all[] = {&g.o, &g.dq, &g.dk, &g.dv};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        *all[i] = malloc(numel(n) * sizeof(float));
        assert_non_null(*all[i]);
    }
    g.lse = malloc(n_rows(n) * sizeof(float));
    g.delta = malloc(n_rows(n) * sizeof(float));
    assert_non_null(g.lse);
    assert_non_null(g.delta);
    return g;
}

static void grads_free(struct grads *g)
{
    free(g->o);
    free(g->lse);
    free(g->dq);
    free(g->dk);
    free(g->dv);
    free(g->delta);
}

/* Attention with every T×T matrix materialised, per (b, h), from the definition:
 * S = scale·Q·Kᵀ (−inf above the diagonal when causal), P = softmax(S) by rows,
 * lse_i = log Σ_j exp(S_ij), O = P·V; dP = dO·Vᵀ, dS = P∘(dP − rowsum(dP∘P)),
 * dQ = scale·dS·K, dK = scale·dSᵀ·Q, dV = Pᵀ·dO; delta = rowsum(dP∘P). */
static void naive_attention(const struct acfg *c, float scale_f, const float *q,
                            const float *k, const float *v, const float *dout, struct grads *r)
{
    const int64_t T = c->n.T, d = c->n.d;
    const double scale = scale_f;
    double *S = malloc((size_t)(T * T) * sizeof(double));   // (T, T) scores, then P
    double *dP = malloc((size_t)(T * T) * sizeof(double));  // (T, T) dO·Vᵀ, then dS
    assert_non_null(S);
    assert_non_null(dP);
    for (int64_t bh = 0; bh < c->n.B * c->n.H; bh++) {
        const float *Q = q + bh * T * d, *K = k + bh * T * d, *V = v + bh * T * d;
        const float *dO = dout + bh * T * d;
        for (int64_t i = 0; i < T; i++) {
            double max = -INFINITY, sum = 0.0;
            for (int64_t j = 0; j < T; j++) {
                double s = 0.0;
                for (int64_t x = 0; x < d; x++)
                    s += (double)Q[i * d + x] * K[j * d + x];
                S[i * T + j] = c->causal && j > i ? -INFINITY : scale * s;
                max = fmax(max, S[i * T + j]);
            }
            for (int64_t j = 0; j < T; j++)
                sum += exp(S[i * T + j] - max);
            r->lse[bh * T + i] = (float)(max + log(sum));
            for (int64_t j = 0; j < T; j++)
                S[i * T + j] = exp(S[i * T + j] - max) / sum;
        }
        for (int64_t i = 0; i < T; i++)
            for (int64_t x = 0; x < d; x++) {
                double o = 0.0;
                for (int64_t j = 0; j < T; j++)
                    o += S[i * T + j] * V[j * d + x];
                r->o[(bh * T + i) * d + x] = (float)o;
            }
        for (int64_t i = 0; i < T; i++) {
            double rowdot = 0.0;
            for (int64_t j = 0; j < T; j++) {
                double dp = 0.0;
                for (int64_t x = 0; x < d; x++)
                    dp += (double)dO[i * d + x] * V[j * d + x];
                dP[i * T + j] = dp;
                rowdot += dp * S[i * T + j];
            }
            r->delta[bh * T + i] = (float)rowdot;
            for (int64_t j = 0; j < T; j++)
                dP[i * T + j] = S[i * T + j] * (dP[i * T + j] - rowdot);
        }
        for (int64_t i = 0; i < T; i++)
            for (int64_t x = 0; x < d; x++) {
                double dq = 0.0, dk = 0.0, dv = 0.0;
                for (int64_t j = 0; j < T; j++) {
                    dq += dP[i * T + j] * K[j * d + x];
                    dk += dP[j * T + i] * Q[j * d + x];
                    dv += S[j * T + i] * dO[j * d + x];
                }
                r->dq[(bh * T + i) * d + x] = (float)(scale * dq);
                r->dk[(bh * T + i) * d + x] = (float)(scale * dk);
                r->dv[(bh * T + i) * d + x] = (float)dv;
            }
    }
    free(S);
    free(dP);
}

/* q, k in [-2, 2) so that softmax rows are far from uniform; v, dout in [-1, 1); all
 * rounded to dt. */
static void random_inputs(ts_rng *rng, struct dims n, clt_dtype dt, float *q, float *k,
                          float *v, float *dout)
{
    ts_fill_floats(rng, q, numel(n), -2, 2);
    ts_fill_floats(rng, k, numel(n), -2, 2);
    ts_fill_floats(rng, v, numel(n), -1, 1);
    ts_fill_floats(rng, dout, numel(n), -1, 1);
    for (size_t i = 0; i < numel(n); i++) {
        q[i] = round_to(dt, q[i]);
        k[i] = round_to(dt, k[i]);
        v[i] = round_to(dt, v[i]);
        dout[i] = round_to(dt, dout[i]);
    }
}

struct inputs {
    float *q, *k, *v, *dout;
};

static struct inputs inputs_alloc(ts_rng *rng, struct dims n, clt_dtype dt)
{
    struct inputs in;
    float **all[] = {&in.q, &in.k, &in.v, &in.dout};
    for (size_t i = 0; i < 4; i++) {
        *all[i] = malloc(numel(n) * sizeof(float));
        assert_non_null(*all[i]);
    }
    random_inputs(rng, n, dt, in.q, in.k, in.v, in.dout);
    return in;
}

static void inputs_free(struct inputs *in)
{
    free(in->q);
    free(in->k);
    free(in->v);
    free(in->dout);
}

/* ---- against the naive attention ------------------------------------------------------- */

struct acase {
    const char *name;
    struct acfg c;
};

static const struct acase cases[] = {
    /* name                         B  H  T    d    causal qkv     o       grad */
    {"T1 d32 causal",             {{2, 3, 1,   32}, true,  BHTD,   BHTD,   BHTD}},
    {"T1 d128 packed",            {{1, 2, 1,   128}, false, PACKED, BTHD,   PADDED}},
    {"T17 d64 packed",            {{1, 2, 17,  64}, false, PACKED, BHTD,   BHTD}},
    {"T17 d80 causal packed BTHD",{{2, 2, 17,  80}, true,  PACKED, BTHD,   PADDED}},
    {"T17 d32 causal padded",     {{3, 1, 17,  32}, true,  PADDED, PADDED, BTHD}},
    {"T17 d96 BTHD in",           {{1, 3, 17,  96}, false, BTHD,   BHTD,   PADDED}},
    {"T100 d96 causal padded",    {{2, 2, 100, 96}, true,  PADDED, BHTD,   PADDED}},
    {"T100 d128 o BTHD",          {{1, 3, 100, 128}, false, BHTD,  BTHD,   BHTD}},
    {"T100 d32 packed",           {{2, 1, 100, 32}, false, PACKED, BHTD,   BHTD}},
    {"T100 d64 causal packed BTHD",{{1, 2, 100, 64}, true, PACKED, BTHD,   BTHD}},
    {"T100 d80 padded o",         {{2, 1, 100, 80}, false, BTHD,   PADDED, PADDED}},
};

static void check_close(const float *got, const float *want, size_t n, double tol,
                        const char *name, const char *what)
{
    char label[160];
    snprintf(label, sizeof label, "%s: %s", name, what);
    if (!ts_close(got, want, n, tol, label))
        fail_msg("%s differs from the naive attention", label);
}

static void matches_naive(void **state)
{
    (void)state;
    clt_context *ctx = ts_context("host");
    ts_rng rng;
    ts_rng_seed(&rng, 42);
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const struct acase *tc = &cases[ci];
        const struct dims n = tc->c.n;
        const float scale = default_scale(n);
        struct inputs in = inputs_alloc(&rng, n, CLT_DTYPE_F32);
        struct grads want = grads_alloc(n), got = grads_alloc(n);
        naive_attention(&tc->c, scale, in.q, in.k, in.v, in.dout, &want);

        run_forward(ctx, &tc->c, scale, CLT_DTYPE_F32, in.q, in.k, in.v, got.o, got.lse);
        /* both sides compute in double and round once: at most an ulp apart */
        check_close(got.o, want.o, numel(n), 1e-6, tc->name, "o");
        check_close(got.lse, want.lse, n_rows(n), 1e-6, tc->name, "lse");

        /* the backward reads the forward's f32 o and lse, a few ulps from exact */
        run_backward(ctx, &tc->c, scale, CLT_DTYPE_F32, in.q, in.k, in.v, got.o, in.dout,
                     got.lse, got.dq, got.dk, got.dv, got.delta);
        check_close(got.delta, want.delta, n_rows(n), 1e-5, tc->name, "delta");
        check_close(got.dq, want.dq, numel(n), 1e-5, tc->name, "dq");
        check_close(got.dk, want.dk, numel(n), 1e-5, tc->name, "dk");
        check_close(got.dv, want.dv, numel(n), 1e-5, tc->name, "dv");
        grads_free(&want);
        grads_free(&got);
        inputs_free(&in);
    }
    clt_context_destroy(ctx);
}

/* ---- finite differences ------------------------------------------------------------------ */

/* L = Σ o∘w through the op itself, o from the current contents of q, k, v. */
static double loss_of(clt_context *ctx, const clt_op *op, const float *const host[3],
                      const float *w, float *o, size_t n)
{
    const clt_attention_fwd_args *a = &op->u.attention_fwd;
    const clt_tensor *in[3] = {&a->q, &a->k, &a->v};
    for (int t = 0; t < 3; t++)
        ts_assert_ok(clt_buffer_write(in[t]->buf, 0, host[t], n * sizeof(float), NULL));
    run_op(ctx, op);
    ts_download(a->o.buf, 0, o, n);
    double loss = 0.0;
    for (size_t i = 0; i < n; i++)
        loss += (double)o[i] * w[i];
    return loss;
}

static void finite_differences_case(clt_context *ctx, bool causal, uint64_t seed)
{
    const struct acfg c = {{1, 2, 5, 32}, causal, BHTD, BHTD, BHTD};
    const size_t n = numel(c.n);
    const float scale = default_scale(c.n), eps = 1e-2f;
    ts_rng rng;
    ts_rng_seed(&rng, seed);
    struct inputs in = inputs_alloc(&rng, c.n, CLT_DTYPE_F32); /* dout is w */
    struct grads an = grads_alloc(c.n);
    run_forward(ctx, &c, scale, CLT_DTYPE_F32, in.q, in.k, in.v, an.o, an.lse);
    run_backward(ctx, &c, scale, CLT_DTYPE_F32, in.q, in.k, in.v, an.o, in.dout, an.lse,
                 an.dq, an.dk, an.dv, an.delta);

    clt_op op;
    memset(&op, 0, sizeof op);
    op.kind = CLT_OP_ATTENTION_FWD;
    clt_attention_fwd_args *a = &op.u.attention_fwd;
    clt_tensor *tensors[5] = {&a->q, &a->k, &a->v, &a->o, &a->lse};
    for (int t = 0; t < 4; t++) {
        describe(tensors[t], BHTD, 0, c.n, CLT_DTYPE_F32);
        tensors[t]->buf = ts_buffer(ctx, CLT_TIER_DEVICE, n * sizeof(float), NULL);
    }
    describe_stats(&a->lse, c.n);
    a->lse.buf = ts_buffer(ctx, CLT_TIER_DEVICE, n_rows(c.n) * sizeof(float), NULL);
    a->scale = scale;
    a->causal = causal;

    float *o = malloc(n * sizeof(float));
    assert_non_null(o);
    float *const host[3] = {in.q, in.k, in.v};
    const float *const analytic[3] = {an.dq, an.dk, an.dv};
    const char *names[3] = {"dq", "dk", "dv"};
    for (int t = 0; t < 3; t++) {
        double worst = 0.0, largest = 0.0;
        size_t worst_i = 0;
        for (size_t i = 0; i < n; i++) {
            const float x = host[t][i], up = x + eps, down = x - eps;
            host[t][i] = up;
            const double l_up = loss_of(ctx, &op, (const float *const *)host, in.dout, o, n);
            host[t][i] = down;
            const double l_down = loss_of(ctx, &op, (const float *const *)host, in.dout, o, n);
            host[t][i] = x;
            const double numeric = (l_up - l_down) / ((double)up - (double)down);
            /* relative to the element, or to 0.01 for smaller ones: the f32 rounding of
             * o alone puts up to ~1e-4 of noise into a quotient over 2·eps */
            const double err = fabs(numeric - analytic[t][i]);
            largest = fmax(largest, fabs(analytic[t][i]));
            const double rel = err / fmax(fabs(analytic[t][i]), 1e-2);
            if (rel > worst) {
                worst = rel;
                worst_i = i;
            }
        }
        if (!(worst <= 1e-2) || !(largest > 1e-2))
            fail_msg("%s causal=%d: element %zu differs from central differences by %.3g "
                     "(relative), largest |%s| %.3g",
                     names[t], causal, worst_i, worst, names[t], largest);
    }
    for (int t = 0; t < 5; t++)
        clt_buffer_destroy(tensors[t]->buf);
    free(o);
    grads_free(&an);
    inputs_free(&in);
}

static void finite_differences(void **state)
{
    (void)state;
    clt_context *ctx = ts_context("host");
    finite_differences_case(ctx, false, 7);
    finite_differences_case(ctx, true, 8);
    clt_context_destroy(ctx);
}

/* ---- f16 and bf16 storage ---------------------------------------------------------------- */

/* The dtype's bit pattern of x as a signed integer that counts ulps. */
static int64_t ulp_index(clt_dtype dt, float x)
{
    unsigned char cell[4];
    clt_store_elem(dt, cell, 0, x);
    if (dt == CLT_DTYPE_F32) {
        uint32_t u;
        memcpy(&u, cell, 4);
        return u & 0x80000000u ? -(int64_t)(u & 0x7fffffffu) : (int64_t)u;
    }
    uint16_t h;
    memcpy(&h, cell, 2);
    return h & 0x8000u ? -(int64_t)(h & 0x7fffu) : (int64_t)h;
}

/* got (values of dt) is want rounded to dt, give or take one ulp. */
static void assert_rounded(clt_dtype dt, const float *got, const float *want, size_t n,
                           const char *what)
{
    for (size_t i = 0; i < n; i++) {
        const int64_t apart = ulp_index(dt, got[i]) - ulp_index(dt, want[i]);
        if (!isfinite(want[i]) || apart < -1 || apart > 1)
            fail_msg("%s %s: element %zu is %.9g, want %.9g rounded to %s (%lld ulps apart)",
                     clt_dtype_name(dt), what, i, (double)got[i], (double)want[i],
                     clt_dtype_name(dt), (long long)apart);
    }
}

static void half_storage_case(clt_context *ctx, clt_dtype dt, const struct acfg *c)
{
    const struct dims n = c->n;
    const float scale = default_scale(n);
    ts_rng rng;
    ts_rng_seed(&rng, 100 + (uint64_t)dt);
    struct inputs in = inputs_alloc(&rng, n, dt); /* values of dt, held in f32 */
    struct grads half = grads_alloc(n), full = grads_alloc(n);

    run_forward(ctx, c, scale, dt, in.q, in.k, in.v, half.o, half.lse);
    run_forward(ctx, c, scale, CLT_DTYPE_F32, in.q, in.k, in.v, full.o, full.lse);
    assert_rounded(dt, half.o, full.o, numel(n), "o");
    assert_rounded(CLT_DTYPE_F32, half.lse, full.lse, n_rows(n), "lse");

    /* both backward passes read the same o (the dt one) and lse */
    run_backward(ctx, c, scale, dt, in.q, in.k, in.v, half.o, in.dout, half.lse, half.dq,
                 half.dk, half.dv, half.delta);
    run_backward(ctx, c, scale, CLT_DTYPE_F32, in.q, in.k, in.v, half.o, in.dout, half.lse,
                 full.dq, full.dk, full.dv, full.delta);
    assert_rounded(CLT_DTYPE_F32, half.delta, full.delta, n_rows(n), "delta");
    assert_rounded(dt, half.dq, full.dq, numel(n), "dq");
    assert_rounded(dt, half.dk, full.dk, numel(n), "dk");
    assert_rounded(dt, half.dv, full.dv, numel(n), "dv");

    /* and the f32 result really is attention: a bug common to both dtypes shows here */
    struct grads want = grads_alloc(n);
    naive_attention(c, scale, in.q, in.k, in.v, in.dout, &want);
    check_close(full.o, want.o, numel(n), 1e-6, clt_dtype_name(dt), "o");
    grads_free(&want);
    grads_free(&half);
    grads_free(&full);
    inputs_free(&in);
}

static void half_storage(void **state)
{
    (void)state;
    /* the comparisons read f16 back through clt_f16_to_f32, and outputs near 0 are
     * subnormal: say so plainly if that conversion is what fails */
    const float tiny = 3e-5f, back = clt_f16_to_f32(clt_f32_to_f16(tiny));
    if (!(fabsf(back - tiny) <= 0x1p-24f))
        fail_msg("clt_f16_to_f32(clt_f32_to_f16(%g)) is %g: runtime/convert.c decodes "
                 "subnormal f16 wrongly, and every f16 check here reads through it",
                 (double)tiny, (double)back);
    clt_context *ctx = ts_context("host");
    const struct acfg causal = {{2, 2, 17, 64}, true, PACKED, BTHD, PADDED};
    const struct acfg full = {{1, 2, 33, 128}, false, PADDED, BHTD, BHTD};
    half_storage_case(ctx, CLT_DTYPE_F16, &causal);
    half_storage_case(ctx, CLT_DTYPE_F16, &full);
    half_storage_case(ctx, CLT_DTYPE_BF16, &causal);
    half_storage_case(ctx, CLT_DTYPE_BF16, &full);
    clt_context_destroy(ctx);
}

/* ---- NaN ------------------------------------------------------------------------------------ */

static bool row_is_nan(const float *x, int64_t row, int64_t d)
{
    for (int64_t c = 0; c < d; c++)
        if (!isnan(x[row * d + c]))
            return false;
    return true;
}

static bool row_is_finite(const float *x, int64_t row, int64_t d)
{
    for (int64_t c = 0; c < d; c++)
        if (!isfinite(x[row * d + c]))
            return false;
    return true;
}

/* One head, T = 6, causal: a NaN in key 3 reaches rows 3..5 of o and lse; a NaN in
 * value 2 reaches rows 2..5 of o and no lse; a NaN in dout row 4 reaches delta_4, dq_4
 * and dk, dv of keys 0..4. Without causal, the NaN key reaches every row. */
static void nan_propagates(void **state)
{
    (void)state;
    clt_context *ctx = ts_context("host");
    struct acfg c = {{1, 1, 6, 32}, true, BHTD, BHTD, BHTD};
    const int64_t T = c.n.T, d = c.n.d;
    const float scale = default_scale(c.n);
    ts_rng rng;
    ts_rng_seed(&rng, 5);
    struct inputs in = inputs_alloc(&rng, c.n, CLT_DTYPE_F32);
    struct grads g = grads_alloc(c.n);

    in.k[3 * d + 7] = NAN;
    run_forward(ctx, &c, scale, CLT_DTYPE_F32, in.q, in.k, in.v, g.o, g.lse);
    for (int64_t i = 0; i < T; i++) {
        assert_true(i < 3 ? row_is_finite(g.o, i, d) : row_is_nan(g.o, i, d));
        assert_true(i < 3 ? isfinite(g.lse[i]) : isnan(g.lse[i]));
    }
    c.causal = false;
    run_forward(ctx, &c, scale, CLT_DTYPE_F32, in.q, in.k, in.v, g.o, g.lse);
    for (int64_t i = 0; i < T; i++)
        assert_true(row_is_nan(g.o, i, d) && isnan(g.lse[i]));
    c.causal = true;
    in.k[3 * d + 7] = 0.5f;

    in.v[2 * d + 1] = NAN;
    run_forward(ctx, &c, scale, CLT_DTYPE_F32, in.q, in.k, in.v, g.o, g.lse);
    for (int64_t i = 0; i < T; i++) {
        for (int64_t x = 0; x < d; x++) /* only the NaN's column */
            assert_true(i >= 2 && x == 1 ? isnan(g.o[i * d + x]) : isfinite(g.o[i * d + x]));
        assert_true(isfinite(g.lse[i]));
    }
    in.v[2 * d + 1] = 0.25f;

    run_forward(ctx, &c, scale, CLT_DTYPE_F32, in.q, in.k, in.v, g.o, g.lse);
    in.dout[4 * d] = NAN;
    run_backward(ctx, &c, scale, CLT_DTYPE_F32, in.q, in.k, in.v, g.o, in.dout, g.lse, g.dq,
                 g.dk, g.dv, g.delta);
    for (int64_t i = 0; i < T; i++) {
        assert_true(i == 4 ? isnan(g.delta[i]) : isfinite(g.delta[i]));
        assert_true(i == 4 ? !row_is_finite(g.dq, i, d) : row_is_finite(g.dq, i, d));
        assert_true(i <= 4 ? !row_is_finite(g.dk, i, d) : row_is_finite(g.dk, i, d));
        assert_true(i <= 4 ? !row_is_finite(g.dv, i, d) : row_is_finite(g.dv, i, d));
    }
    grads_free(&g);
    inputs_free(&in);
    clt_context_destroy(ctx);
}

/* ---- memory at long T ---------------------------------------------------------------------- */

/* Row i of causal attention for one head, computed here: o_i and lse_i. */
static void one_row(const float *q, const float *k, const float *v, int64_t i, int64_t d,
                    double scale, float *o, float *lse)
{
    double max = -INFINITY, sum = 0.0;
    for (int64_t j = 0; j <= i; j++) {
        double s = 0.0;
        for (int64_t x = 0; x < d; x++)
            s += (double)q[i * d + x] * k[j * d + x];
        max = fmax(max, scale * s);
    }
    double acc[128] = {0};
    for (int64_t j = 0; j <= i; j++) {
        double s = 0.0;
        for (int64_t x = 0; x < d; x++)
            s += (double)q[i * d + x] * k[j * d + x];
        const double p = exp(scale * s - max);
        sum += p;
        for (int64_t x = 0; x < d; x++)
            acc[x] += p * v[j * d + x];
    }
    for (int64_t x = 0; x < d; x++)
        o[x] = (float)(acc[x] / sum);
    *lse = (float)(max + log(sum));
}

/* B = H = 1, d = 32, causal, forward then backward: the context's peak DEVICE memory is
 * the tensors plus O(T·d) workspace, nowhere near the 4·T² bytes of one score matrix. */
static void memory_is_linear(void **state)
{
    (void)state;
    clt_context *ctx = ts_context("host");
    const struct dims n = {1, 1, 8192, 32}; /* ~3 s; 25-50 s under ASan at -O0 */
    const int64_t T = n.T, d = n.d;
    const size_t elems = numel(n);
    const float scale = default_scale(n);
    ts_rng rng;
    ts_rng_seed(&rng, 9);
    struct inputs in = inputs_alloc(&rng, n, CLT_DTYPE_F32);

    clt_op fwd, bwd;
    memset(&fwd, 0, sizeof fwd);
    memset(&bwd, 0, sizeof bwd);
    fwd.kind = CLT_OP_ATTENTION_FWD;
    bwd.kind = CLT_OP_ATTENTION_BWD;
    clt_attention_fwd_args *f = &fwd.u.attention_fwd;
    clt_attention_bwd_args *b = &bwd.u.attention_bwd;
    const float *const sources[8] = {in.q, in.k, in.v, in.dout}; /* the rest are outputs */
    clt_tensor *big[8] = {&b->q, &b->k, &b->v, &b->dout, &b->o, &b->dq, &b->dk, &b->dv};
    for (int t = 0; t < 8; t++) {
        describe(big[t], BHTD, 0, n, CLT_DTYPE_F32);
        big[t]->buf = sources[t] ? ts_upload(ctx, CLT_TIER_DEVICE, sources[t], elems)
                                 : ts_buffer(ctx, CLT_TIER_DEVICE, elems * sizeof(float), NULL);
    }
    describe_stats(&b->lse, n);
    describe_stats(&b->delta, n);
    b->lse.buf = ts_buffer(ctx, CLT_TIER_DEVICE, n_rows(n) * sizeof(float), NULL);
    b->delta.buf = ts_buffer(ctx, CLT_TIER_DEVICE, n_rows(n) * sizeof(float), NULL);
    b->scale = f->scale = scale;
    b->causal = f->causal = true;
    f->q = b->q;
    f->k = b->k;
    f->v = b->v;
    f->o = b->o;
    f->lse = b->lse;

    clt_stats before, after;
    ts_assert_ok(clt_context_stats(ctx, &before));
    const uint64_t tensors = before.mem_used[CLT_TIER_DEVICE];
    assert_true(tensors >= 8 * elems * sizeof(float) + 2 * n_rows(n) * sizeof(float));
    run_op(ctx, &fwd);
    run_op(ctx, &bwd);
    ts_assert_ok(clt_context_stats(ctx, &after));
    const uint64_t limit = tensors + 64 * (uint64_t)(T * d);
    if (after.mem_peak[CLT_TIER_DEVICE] > limit)
        fail_msg("peak DEVICE memory %llu bytes > tensors %llu + 64·T·d (T×T f32 would be "
                 "%llu more)",
                 (unsigned long long)after.mem_peak[CLT_TIER_DEVICE],
                 (unsigned long long)tensors, (unsigned long long)(4 * (uint64_t)(T * T)));
    /* the workspace is accounted while the op runs, and given back after */
    assert_true(after.mem_peak[CLT_TIER_DEVICE] > tensors);
    assert_int_equal(after.mem_used[CLT_TIER_DEVICE], tensors);

    /* and the long rows are right: o and lse at a few rows against a direct sum; the last
     * key is seen only by the last query, so dv_{T-1} = p_{T-1,T-1}·dout_{T-1}; and row 0
     * attends to key 0 alone, so its ds, hence dq_0, is 0 */
    float *o = malloc(elems * sizeof(float)), *lse = malloc(n_rows(n) * sizeof(float));
    float *dq = malloc(elems * sizeof(float)), *dv = malloc(elems * sizeof(float));
    assert_true(o && lse && dq && dv);
    ts_download(b->o.buf, 0, o, elems);
    ts_download(b->lse.buf, 0, lse, n_rows(n));
    ts_download(b->dq.buf, 0, dq, elems);
    ts_download(b->dv.buf, 0, dv, elems);
    const int64_t rows[] = {0, 1, 1000, T / 2 + 3, T - 1};
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        float want_o[128], want_lse;
        one_row(in.q, in.k, in.v, rows[r], d, scale, want_o, &want_lse);
        check_close(o + rows[r] * d, want_o, (size_t)d, 1e-6, "long T", "o row");
        check_close(&lse[rows[r]], &want_lse, 1, 1e-6, "long T", "lse row");
    }
    double s_last = 0.0;
    for (int64_t x = 0; x < d; x++)
        s_last += (double)in.q[(T - 1) * d + x] * in.k[(T - 1) * d + x];
    const double p_last = exp(scale * s_last - lse[T - 1]);
    float want_dv[128], zero[128] = {0};
    for (int64_t x = 0; x < d; x++)
        want_dv[x] = (float)(p_last * in.dout[(T - 1) * d + x]);
    check_close(dv + (T - 1) * d, want_dv, (size_t)d, 1e-6, "long T", "dv of the last key");
    check_close(dq, zero, (size_t)d, 1e-6, "long T", "dq of row 0");
    free(o);
    free(lse);
    free(dq);
    free(dv);
    inputs_free(&in);
    clt_context_destroy(ctx);
}

/* With a DEVICE budget that holds the tensors but not the workspace, the op fails with
 * OUT_OF_MEMORY naming itself, and writes nothing. */
static void workspace_over_budget(void **state)
{
    (void)state;
    const struct dims n = {1, 2, 64, 64};
    const size_t tensor_bytes = numel(n) * sizeof(float), stat_bytes = n_rows(n) * sizeof(float);
    clt_context_opts opts;
    clt_context_opts_init(&opts);
    opts.mem_budget[CLT_TIER_DEVICE] = 5 * tensor_bytes + stat_bytes + 1024;
    clt_context *ctx = NULL;
    ts_assert_ok(ts_context_open("host", &opts, &ctx));

    clt_op op;
    memset(&op, 0, sizeof op);
    op.kind = CLT_OP_ATTENTION_FWD;
    clt_attention_fwd_args *a = &op.u.attention_fwd;
    clt_tensor *ts[4] = {&a->q, &a->k, &a->v, &a->o};
    for (int t = 0; t < 4; t++) {
        describe(ts[t], BHTD, 0, n, CLT_DTYPE_F32);
        ts[t]->buf = ts_buffer(ctx, CLT_TIER_DEVICE, tensor_bytes, NULL);
    }
    describe_stats(&a->lse, n);
    a->lse.buf = ts_buffer(ctx, CLT_TIER_DEVICE, stat_bytes, NULL);
    a->scale = 0.125f;
    unsigned char *before = ts_download_all(a->o.buf);
    ts_assert_status(clt_op_run(ctx, &op, NULL), CLT_ERR_OUT_OF_MEMORY);
    ts_assert_error_mentions("attention_fwd");
    ts_assert_error_mentions("DEVICE");
    ts_assert_buffer_equals(a->o.buf, before, tensor_bytes);
    clt_stats st;
    ts_assert_ok(clt_context_stats(ctx, &st));
    assert_int_equal(st.mem_used[CLT_TIER_DEVICE], 4 * tensor_bytes + stat_bytes);
    free(before);
    clt_context_destroy(ctx);
}

/* ---- bad input ---------------------------------------------------------------------------- */

/* A valid op's tensors, each in a buffer of its own with room for d = 48. */
struct bad_fixture {
    clt_op fwd, bwd;
    int n_bufs;
};

/* A buffer of random floats in [-1, 1): whatever the op computes from them differs
 * from the buffers' old contents. */
static clt_buffer *fixture_buffer(clt_context *ctx, struct bad_fixture *fx, size_t bytes)
{
    ts_rng rng;
    ts_rng_seed(&rng, (uint64_t)fx->n_bufs + 1);
    float *x = malloc(bytes);
    assert_non_null(x);
    ts_fill_floats(&rng, x, bytes / sizeof(float), -1, 1);
    clt_buffer *buf = ts_buffer(ctx, CLT_TIER_DEVICE, bytes, x);
    free(x);
    fx->n_bufs++;
    return buf; /* the context frees it */
}

static void fixture_make(clt_context *ctx, struct bad_fixture *fx, struct dims n)
{
    memset(fx, 0, sizeof *fx);
    fx->fwd.kind = CLT_OP_ATTENTION_FWD;
    fx->bwd.kind = CLT_OP_ATTENTION_BWD;
    clt_attention_fwd_args *f = &fx->fwd.u.attention_fwd;
    clt_attention_bwd_args *b = &fx->bwd.u.attention_bwd;
    clt_tensor *like_q[8] = {&b->q, &b->k, &b->v, &b->o, &b->dout, &b->dq, &b->dk, &b->dv};
    const size_t bytes = numel(n) * sizeof(float) * 2; /* room for a mistaken shape */
    for (int t = 0; t < 8; t++) {
        describe(like_q[t], BHTD, 0, n, CLT_DTYPE_F32);
        like_q[t]->buf = fixture_buffer(ctx, fx, bytes);
    }
    describe_stats(&b->lse, n);
    describe_stats(&b->delta, n);
    b->lse.buf = fixture_buffer(ctx, fx, n_rows(n) * sizeof(float) * 2);
    b->delta.buf = fixture_buffer(ctx, fx, n_rows(n) * sizeof(float) * 2);
    b->scale = f->scale = default_scale(n);
    b->causal = f->causal = true;
    f->q = b->q;
    f->k = b->k;
    f->v = b->v;
    f->o = b->o;
    f->lse = b->lse;
}

/* The same (B, H, T) with head size d, contiguous, in the same buffer. */
static void resize_head(clt_tensor *t, int64_t d)
{
    clt_buffer *buf = t->buf;
    describe(t, BHTD, 0, (struct dims){t->shape[0], t->shape[1], t->shape[2], d}, t->dtype);
    t->buf = buf;
}

/* The op is refused with INVALID_ARG, the sentence names the op and `arg`, and none of
 * the output buffers changed. */
static void expect_refused(clt_context *ctx, const clt_op *op, const char *arg,
                           const char *also)
{
    clt_buffer *outs[4];
    int n_outs = 0;
    if (op->kind == CLT_OP_ATTENTION_FWD) {
        outs[n_outs++] = op->u.attention_fwd.o.buf;
        outs[n_outs++] = op->u.attention_fwd.lse.buf;
    } else {
        outs[n_outs++] = op->u.attention_bwd.dq.buf;
        outs[n_outs++] = op->u.attention_bwd.dk.buf;
        outs[n_outs++] = op->u.attention_bwd.dv.buf;
        outs[n_outs++] = op->u.attention_bwd.delta.buf;
    }
    void *before[4];
    for (int i = 0; i < n_outs; i++)
        before[i] = ts_download_all(outs[i]);
    ts_assert_status(clt_op_run(ctx, op, NULL), CLT_ERR_INVALID_ARG);
    const char *err = clt_last_error();
    const char *name = clt_op_name(op->kind);
    if (!strstr(err, name) || !strstr(err, arg) || (also && !strstr(err, also)))
        fail_msg("error \"%s\" does not name %s, \"%s\"%s%s", err, name, arg,
                 also ? " and " : "", also ? also : "");
    for (int i = 0; i < n_outs; i++) {
        ts_assert_buffer_equals(outs[i], before[i], clt_buffer_size(outs[i]));
        free(before[i]);
    }
}

static void bad_input_forward(void **state)
{
    (void)state;
    clt_context *ctx = ts_context("host");
    const struct dims n = {1, 2, 4, 32};
    struct bad_fixture fx;
    fixture_make(ctx, &fx, n);
    const clt_op good = fx.fwd;
    clt_op op;
    clt_attention_fwd_args *a = &op.u.attention_fwd;

    op = good;
    a->k.shape[1] = 1; /* heads */
    expect_refused(ctx, &op, "argument k", "(1, 1, 4, 32)");

    op = good;
    a->v.shape[2] = 3;
    expect_refused(ctx, &op, "argument v", NULL);

    op = good;
    clt_tensor *heads[4] = {&a->q, &a->k, &a->v, &a->o};
    for (int t = 0; t < 4; t++)
        resize_head(heads[t], 48);
    expect_refused(ctx, &op, "argument q", "48");

    /* T = 0: clt_tensor_init refuses it, and so does the op for a hand-made descriptor */
    clt_tensor t0;
    const int64_t shape0[4] = {1, 2, 0, 32};
    ts_assert_status(clt_tensor_init(&t0, good.u.attention_fwd.q.buf, 0, CLT_DTYPE_F32, 4,
                                     shape0),
                     CLT_ERR_INVALID_ARG);
    op = good;
    a->q.shape[2] = a->k.shape[2] = a->v.shape[2] = a->o.shape[2] = 0;
    a->lse.shape[2] = 0;
    expect_refused(ctx, &op, "argument q", "shape[2] is 0");

    op = good;
    a->lse.shape[2] = 3;
    a->lse.strides[0] = 6;
    a->lse.strides[1] = 3;
    expect_refused(ctx, &op, "argument lse", "length T");

    op = good;
    a->lse.shape[1] = 2 * a->lse.shape[1];
    a->lse.shape[2] = a->lse.shape[2] / 2;
    expect_refused(ctx, &op, "argument lse", NULL);

    op = good;
    a->k.dtype = CLT_DTYPE_F16;
    expect_refused(ctx, &op, "argument k", "f16");

    op = good;
    a->lse.dtype = CLT_DTYPE_BF16;
    expect_refused(ctx, &op, "argument lse", "bf16");

    op = good;
    a->scale = NAN;
    expect_refused(ctx, &op, "scale", "finite");
    a->scale = INFINITY;
    expect_refused(ctx, &op, "scale", "finite");

    /* the same op, valid, does write: the refusals above were refusals */
    clt_buffer *o = good.u.attention_fwd.o.buf;
    void *before = ts_download_all(o);
    run_op(ctx, &good);
    void *after = ts_download_all(o);
    assert_memory_not_equal(before, after, numel(n) * sizeof(float));
    free(before);
    free(after);
    clt_context_destroy(ctx);
}

static void bad_input_backward(void **state)
{
    (void)state;
    clt_context *ctx = ts_context("host");
    const struct dims n = {2, 2, 4, 32};
    struct bad_fixture fx;
    fixture_make(ctx, &fx, n);
    const clt_op good = fx.bwd;
    clt_op op;
    clt_attention_bwd_args *a = &op.u.attention_bwd;

    op = good;
    a->dq.shape[1] = 1;
    expect_refused(ctx, &op, "argument dq", NULL);

    op = good;
    a->k.shape[1] = 3;
    expect_refused(ctx, &op, "argument k", NULL);

    op = good;
    a->delta.shape[0] = 1;
    expect_refused(ctx, &op, "argument delta", "batch B");

    op = good;
    a->lse.shape[2] = 5;
    a->lse.strides[1] = 5;
    a->lse.strides[0] = 10;
    expect_refused(ctx, &op, "argument lse", "length T");

    op = good;
    a->dv.dtype = CLT_DTYPE_BF16;
    expect_refused(ctx, &op, "argument dv", "bf16");

    op = good;
    clt_tensor *heads[8] = {&a->q, &a->k, &a->v, &a->o, &a->dout, &a->dq, &a->dk, &a->dv};
    for (int t = 0; t < 8; t++)
        resize_head(heads[t], 48);
    expect_refused(ctx, &op, "argument q", "48");

    op = good;
    a->dout.shape[2] = 0;
    expect_refused(ctx, &op, "argument dout", "shape[2] is 0");

    op = good;
    a->scale = -INFINITY;
    expect_refused(ctx, &op, "scale", "finite");

    clt_buffer *dq = good.u.attention_bwd.dq.buf;
    void *before = ts_download_all(dq);
    run_op(ctx, &good);
    void *after = ts_download_all(dq);
    assert_memory_not_equal(before, after, numel(n) * sizeof(float));
    free(before);
    free(after);
    clt_context_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(matches_naive),
        cmocka_unit_test(finite_differences),
        cmocka_unit_test(half_storage),
        cmocka_unit_test(nan_propagates),
        cmocka_unit_test(memory_is_linear),
        cmocka_unit_test(workspace_over_budget),
        cmocka_unit_test(bad_input_forward),
        cmocka_unit_test(bad_input_backward),
    };
    return cmocka_run_group_tests_name("attention_ref", tests, NULL, NULL);
}
