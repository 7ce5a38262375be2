/* Attention forward and backward on every device. On an OpenCL device each case runs
 * twice, there and on the host reference (the same input bytes), and o, lse, dq, dk, dv
 * and delta are compared row by row; on the host device the reference itself is checked
 * against a direct double-precision computation written here (small cases). Cases span
 * T ∈ {1, 17, 100, 257, 1000}, every head size, causal or not, f32/f16/bf16 storage, the
 * packed QKV layout (B, T, 3, H, d) read in place, and o, dout and the gradients in
 * (B, T, H, d). (Gradients cannot be written into one packed buffer: the runtime refuses
 * outputs that share a byte range.)
 * Every byte of an output buffer outside its tensors must be left as it was, and every
 * input element outside its tensors is NaN, so a stray read shows in the results.
 *
 * Also: NaN reaching exactly the outputs that depend on it (not rows that a causal mask
 * hides it from); T = 8192 in O(T) memory (the device's peak allocation is exactly the
 * caller's buffers) with rows checked against a direct computation; bit-identical
 * repeats; tiles from $CLT_ATTENTION_PARAMS, including GPU-shaped ones (one work-item
 * per row, dK and dV in two launches) that run on PoCL too; and strict refusal of
 * malformed tiles. */
#include <math.h>

#include "runtime/dtype_access.h"
#include "support/support.h"

#define F32 CLT_DTYPE_F32
#define F16 CLT_DTYPE_F16
#define BF16 CLT_DTYPE_BF16

/* ---- layouts --------------------------------------------------------------------------- */

enum layout {
    BHTD,   /* contiguous (B, H, T, d) */
    BTHD,   /* contiguous (B, T, H, d): o as a head-merging projection reads it */
    PACKED, /* slots of one (B, T, 3, H, d) buffer, as a fused QKV projection writes it
             * (inputs only: see above) */
};
#define AT 4    /* element 0 of every tensor lies this many elements into its buffer */
#define GUARD 3 /* elements after a tensor's last one */

struct dims {
    int64_t B, H, T, d;
};

static size_t numel(struct dims n) { return (size_t)(n.B * n.H * n.T * n.d); }
static size_t n_rows(struct dims n) { return (size_t)(n.B * n.H * n.T); }

/* Describes a (B, H, T, d) tensor of layout l (slot 0, 1, 2 of PACKED) and returns the
 * elements its buffer needs. */
static size_t describe(clt_tensor *t, enum layout l, int slot, struct dims n, clt_dtype dt)
{
    memset(t, 0, sizeof *t);
    t->dtype = dt;
    t->rank = 4;
    const int64_t shape[4] = {n.B, n.H, n.T, n.d};
    int64_t s[4] = {n.H * n.T * n.d, n.T * n.d, n.d, 1}, at = AT;
    if (l == BTHD) {
        s[0] = n.T * n.H * n.d, s[1] = n.d, s[2] = n.H * n.d;
    } else if (l == PACKED) {
        s[0] = n.T * 3 * n.H * n.d, s[1] = n.d, s[2] = 3 * n.H * n.d;
        at += slot * n.H * n.d;
    }
    int64_t last = AT + (l == PACKED ? 2 * n.H * n.d : 0);
    for (int i = 0; i < 4; i++) {
        t->shape[i] = shape[i];
        t->strides[i] = s[i];
        last += (shape[i] - 1) * s[i];
    }
    t->offset = (size_t)at * clt_dtype_size(dt);
    return (size_t)last + 1 + GUARD;
}

/* lse or delta: (B, H, T) f32, contiguous, AT elements in. */
static size_t describe_stats(clt_tensor *t, struct dims n)
{
    const int64_t shape[3] = {n.B, n.H, n.T};
    ts_assert_ok(clt_tensor_init(t, NULL, AT * sizeof(float), F32, 3, shape));
    return AT + n_rows(n) + GUARD;
}

/* The buffer element of element `lin` of t in row-major order. */
static size_t elem_at(const clt_tensor *t, size_t lin)
{
    size_t at = t->offset / clt_dtype_size(t->dtype);
    for (int i = t->rank - 1; i >= 0; i--) {
        at += (lin % (size_t)t->shape[i]) * (size_t)t->strides[i];
        lin /= (size_t)t->shape[i];
    }
    return at;
}

/* A buffer's host image: `fill` (NaN for inputs, 0xA5 bytes for outputs) everywhere, then
 * the tensors' canonical (row-major) values at their places. */
struct image {
    unsigned char *bytes;
    size_t elems;
    clt_dtype dt;
};

static struct image image_make(size_t elems, clt_dtype dt, bool input)
{
    struct image im = {malloc(elems * clt_dtype_size(dt)), elems, dt};
    assert_non_null(im.bytes);
    memset(im.bytes, 0xA5, elems * clt_dtype_size(dt));
    for (size_t i = 0; input && i < elems; i++)
        clt_store_elem(dt, im.bytes, i, NAN);
    return im;
}

static void image_put(struct image *im, const clt_tensor *t, const float *canon)
{
    for (size_t e = 0; e < (size_t)clt_tensor_numel(t); e++)
        clt_store_elem(im->dt, im->bytes, elem_at(t, e), canon[e]);
}

static void image_get(const struct image *im, const clt_tensor *t, float *canon)
{
    for (size_t e = 0; e < (size_t)clt_tensor_numel(t); e++)
        canon[e] = clt_load_elem(im->dt, im->bytes, elem_at(t, e));
}

static clt_buffer *image_upload(clt_context *ctx, const struct image *im)
{
    return ts_buffer(ctx, CLT_TIER_DEVICE, im->elems * clt_dtype_size(im->dt), im->bytes);
}

static struct image image_download(clt_buffer *buf, clt_dtype dt)
{
    struct image im = {ts_download_all(buf), clt_buffer_size(buf) / clt_dtype_size(dt), dt};
    return im;
}

/* Fails unless every element of `got` outside the tensors equals `was`'s. */
static void assert_untouched(const struct image *got, const struct image *was,
                             const clt_tensor *ts, int count, const char *what)
{
    bool *mine = calloc(was->elems, sizeof *mine);
    assert_non_null(mine);
    for (int k = 0; k < count; k++)
        for (size_t e = 0; e < (size_t)clt_tensor_numel(&ts[k]); e++)
            mine[elem_at(&ts[k], e)] = true;
    const size_t size = clt_dtype_size(was->dt);
    for (size_t i = 0; i < was->elems; i++)
        if (!mine[i] && memcmp(got->bytes + i * size, was->bytes + i * size, size) != 0)
            fail_msg("%s: element %zu of the buffer, outside the tensor, was written", what, i);
    free(mine);
}

/* ---- cases ------------------------------------------------------------------------------ */

struct acase {
    const char *name;
    struct dims n;
    bool causal;
    clt_dtype dt;
    enum layout qkv, o, grad; /* dout is laid out as o; dq, dk, dv as grad */
    float scale;              /* 0: 1/sqrt(d) */
};

/* Five programs per OpenCL device (PoCL compiles each for seconds): every head size once,
 * with the dtypes spread over them. */
static const struct acase cases[] = {
    {"T=1 d=32 f16", {1, 2, 1, 32}, false, F16, BHTD, BHTD, BHTD, 0},
    {"T=100 d=32 f16 packed", {2, 2, 100, 32}, false, F16, PACKED, BHTD, BHTD, 0},
    {"T=17 d=64 causal packed", {2, 3, 17, 64}, true, F32, PACKED, BTHD, BTHD, 0},
    {"T=257 d=64", {1, 3, 257, 64}, false, F32, BHTD, BHTD, BTHD, 0},
    {"T=100 d=80 causal bf16", {1, 2, 100, 80}, true, BF16, BHTD, BTHD, BHTD, 0},
    {"T=1000 d=80 bf16 packed", {2, 1, 1000, 80}, false, BF16, PACKED, BTHD, BHTD, 0},
    {"T=257 d=96 causal f16 packed scale 0.3", {2, 1, 257, 96}, true, F16, PACKED, BTHD, BTHD,
     0.3f},
    {"T=17 d=128 causal", {1, 2, 17, 128}, true, F32, BHTD, BTHD, BHTD, 0},
    {"T=1000 d=128 causal packed", {1, 2, 1000, 128}, true, F32, PACKED, BTHD, BTHD, 0},
};
#define N_CASES (sizeof cases / sizeof cases[0])
/* The host device checks its reference against the direct computation up to this T. */
#define HOST_MAX_T 300

static float scale_of(const struct acase *c)
{
    return c->scale != 0 ? c->scale : (float)(1.0 / sqrt((double)c->n.d));
}

/* Relative to the scale of each row: f32 arithmetic, then one rounding to the storage
 * dtype on either side (an ulp of the row's largest element). */
static double tol_of(clt_dtype dt)
{
    return 1e-4 + (dt == F16 ? 0x1p-10 : dt == BF16 ? 0x1p-7 : 0.0);
}

/* A problem's tensors, canonical (B, H, T, d) row-major floats: inputs (rounded to the
 * storage dtype), the forward's outputs (also the backward's o and lse), gradients. */
struct canon {
    float *q, *k, *v, *dout;
    float *o, *lse;
    float *dq, *dk, *dv, *delta;
};

static float *alloc_floats(size_t n)
{
    float *x = calloc(n ? n : 1, sizeof *x);
    assert_non_null(x);
    return x;
}

static void canon_alloc(struct canon *c, struct dims n)
{
    float **rows[] = {&c->q, &c->k, &c->v, &c->dout, &c->o, &c->dq, &c->dk, &c->dv};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        *rows[i] = alloc_floats(numel(n));
    c->lse = alloc_floats(n_rows(n));
    c->delta = alloc_floats(n_rows(n));
}

static void canon_free(struct canon *c)
{
    float *all[] = {c->q, c->k, c->v, c->dout, c->o, c->lse, c->dq, c->dk, c->dv, c->delta};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]);
}

/* x as the storage dtype holds it (through the same conversion that reads results). */
static void round_all(float *x, size_t n, clt_dtype dt)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char cell[4];
        clt_store_elem(dt, cell, 0, x[i]);
        x[i] = clt_load_elem(dt, cell, 0);
    }
}

static void fill_rounded(ts_rng *rng, float *x, size_t n, float lo, float hi, clt_dtype dt)
{
    ts_fill_floats(rng, x, n, lo, hi);
    round_all(x, n, dt);
}

static void canon_inputs(struct canon *c, const struct acase *ac, uint64_t seed)
{
    ts_rng rng;
    ts_rng_seed(&rng, seed);
    const size_t n = numel(ac->n);
    fill_rounded(&rng, c->q, n, -1.5f, 1.5f, ac->dt);
    fill_rounded(&rng, c->k, n, -1.5f, 1.5f, ac->dt);
    fill_rounded(&rng, c->v, n, -1.0f, 1.0f, ac->dt);
    fill_rounded(&rng, c->dout, n, -1.0f, 1.0f, ac->dt);
}

/* ---- running the ops ----------------------------------------------------------------- */

/* A group of tensors of one layout: one buffer for PACKED, else one each. */
struct group {
    clt_tensor t[3];
    int count;
    struct image im[3];
    int n_buf;
};

static void group_make(struct group *g, clt_context *ctx, enum layout l, int count,
                       struct dims n, clt_dtype dt, const float *const *canon, bool input)
{
    g->count = count;
    g->n_buf = l == PACKED ? 1 : count;
    size_t elems = 0;
    for (int k = 0; k < count; k++)
        elems = describe(&g->t[k], l, l == PACKED ? k : 0, n, dt);
    for (int b = 0; b < g->n_buf; b++)
        g->im[b] = image_make(elems, dt, input);
    for (int k = 0; k < count; k++)
        if (canon)
            image_put(&g->im[l == PACKED ? 0 : k], &g->t[k], canon[k]);
    for (int b = 0; b < g->n_buf; b++) {
        clt_buffer *buf = image_upload(ctx, &g->im[b]);
        for (int k = 0; k < count; k++)
            if (l == PACKED || k == b)
                g->t[k].buf = buf;
    }
}

/* Reads the group back into canon (its tensors') and checks the rest is untouched. */
static void group_read(struct group *g, float *const *canon, const char *what)
{
    for (int b = 0; b < g->n_buf; b++) {
        struct image got = image_download(g->t[b].buf, g->im[b].dt);
        const int first = g->n_buf == 1 ? 0 : b, count = g->n_buf == 1 ? g->count : 1;
        assert_untouched(&got, &g->im[b], &g->t[first], count, what);
        for (int k = first; k < first + count; k++)
            image_get(&got, &g->t[k], canon[k]);
        free(got.bytes);
    }
}

static void group_free(struct group *g)
{
    for (int b = 0; b < g->n_buf; b++) {
        clt_buffer_destroy(g->t[b].buf);
        free(g->im[b].bytes);
    }
}

/* lse or delta as a one-tensor group. */
static void stats_make(struct group *g, clt_context *ctx, struct dims n, const float *canon,
                       bool input)
{
    g->count = g->n_buf = 1;
    g->im[0] = image_make(describe_stats(&g->t[0], n), F32, input);
    if (canon)
        image_put(&g->im[0], &g->t[0], canon);
    g->t[0].buf = image_upload(ctx, &g->im[0]);
}

static void run_op(clt_context *ctx, const clt_op *op, const char *what)
{
    clt_status st = clt_op_run(ctx, op, NULL);
    if (st != CLT_OK)
        fail_msg("%s: %s: %s", what, clt_status_name(st), clt_last_error());
}

/* The forward on ctx: c's q, k, v in; c's o and lse out. */
static void run_fwd(clt_context *ctx, const struct acase *ac, struct canon *c, const char *what)
{
    struct group qkv, o, lse;
    const float *in[3] = {c->q, c->k, c->v};
    group_make(&qkv, ctx, ac->qkv, 3, ac->n, ac->dt, in, true);
    group_make(&o, ctx, ac->o, 1, ac->n, ac->dt, NULL, false);
    stats_make(&lse, ctx, ac->n, NULL, false);
    clt_op op;
    memset(&op, 0, sizeof op);
    op.kind = CLT_OP_ATTENTION_FWD;
    clt_attention_fwd_args *a = &op.u.attention_fwd;
    a->q = qkv.t[0], a->k = qkv.t[1], a->v = qkv.t[2], a->o = o.t[0], a->lse = lse.t[0];
    a->scale = scale_of(ac);
    a->causal = ac->causal;
    run_op(ctx, &op, what);
    group_read(&o, &c->o, what);
    group_read(&lse, &c->lse, what);
    group_free(&qkv);
    group_free(&o);
    group_free(&lse);
}

/* The backward on ctx: c's q, k, v, o, lse, dout in; c's dq, dk, dv and delta out. */
static void run_bwd(clt_context *ctx, const struct acase *ac, struct canon *c, const char *what)
{
    struct group qkv, o, dout, lse, grad, delta;
    const float *in[3] = {c->q, c->k, c->v};
    group_make(&qkv, ctx, ac->qkv, 3, ac->n, ac->dt, in, true);
    group_make(&o, ctx, ac->o, 1, ac->n, ac->dt, (const float *const *)&c->o, true);
    group_make(&dout, ctx, ac->o, 1, ac->n, ac->dt, (const float *const *)&c->dout, true);
    stats_make(&lse, ctx, ac->n, c->lse, true);
    group_make(&grad, ctx, ac->grad, 3, ac->n, ac->dt, NULL, false);
    stats_make(&delta, ctx, ac->n, NULL, false);
    clt_op op;
    memset(&op, 0, sizeof op);
    op.kind = CLT_OP_ATTENTION_BWD;
    clt_attention_bwd_args *a = &op.u.attention_bwd;
    a->q = qkv.t[0], a->k = qkv.t[1], a->v = qkv.t[2], a->o = o.t[0], a->dout = dout.t[0];
    a->lse = lse.t[0], a->delta = delta.t[0];
    a->dq = grad.t[0], a->dk = grad.t[1], a->dv = grad.t[2];
    a->scale = scale_of(ac);
    a->causal = ac->causal;
    run_op(ctx, &op, what);
    float *const out[3] = {c->dq, c->dk, c->dv};
    group_read(&grad, out, what);
    group_read(&delta, &c->delta, what);
    struct group *all[] = {&qkv, &o, &dout, &lse, &grad, &delta};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        group_free(all[i]);
}

/* ---- the direct computation (double) ---------------------------------------------------- */

/* Row i of one head: p[j] = exp(scale·q_i·k_j − lse_i) for the keys it sees, and lse_i
 * (computed here when `lse_in` is NaN, else taken). Returns the keys seen. */
static int direct_row(const float *q, const float *k, int64_t T, int64_t d, int64_t i,
                      bool causal, double scale, double lse_in, double *p, double *lse)
{
    const int64_t seen = causal ? i + 1 : T;
    double m = -INFINITY;
    for (int64_t j = 0; j < seen; j++) {
        double s = 0;
        for (int64_t c = 0; c < d; c++)
            s += (double)q[i * d + c] * k[j * d + c];
        p[j] = s * scale;
        m = fmax(m, p[j]);
    }
    if (isnan(lse_in)) {
        double l = 0;
        for (int64_t j = 0; j < seen; j++)
            l += exp(p[j] - m);
        lse_in = m + log(l);
    }
    for (int64_t j = 0; j < seen; j++)
        p[j] = exp(p[j] - lse_in);
    *lse = lse_in;
    return (int)seen;
}

static void direct_fwd(const struct acase *ac, struct canon *c)
{
    const int64_t T = ac->n.T, d = ac->n.d;
    double *p = malloc((size_t)T * sizeof *p);
    assert_non_null(p);
    for (int64_t bh = 0; bh < ac->n.B * ac->n.H; bh++) {
        const size_t base = (size_t)(bh * T * d);
        for (int64_t i = 0; i < T; i++) {
            double lse;
            int seen = direct_row(c->q + base, c->k + base, T, d, i, ac->causal, scale_of(ac),
                                  NAN, p, &lse);
            c->lse[bh * T + i] = (float)lse;
            for (int64_t x = 0; x < d; x++) {
                double o = 0;
                for (int j = 0; j < seen; j++)
                    o += p[j] * c->v[base + (size_t)(j * d + x)];
                c->o[base + (size_t)(i * d + x)] = (float)o;
            }
        }
    }
    free(p);
}

/* From c's inputs, o and lse (as given, like the op): dq, dk, dv, delta. */
static void direct_bwd(const struct acase *ac, struct canon *c)
{
    const int64_t T = ac->n.T, d = ac->n.d;
    const double scale = scale_of(ac);
    double *p = malloc((size_t)T * sizeof *p), *acc = calloc((size_t)(3 * T * d), sizeof *acc);
    assert_non_null(p);
    assert_non_null(acc);
    double *dq = acc, *dk = acc + T * d, *dv = acc + 2 * T * d;
    for (int64_t bh = 0; bh < ac->n.B * ac->n.H; bh++) {
        const size_t base = (size_t)(bh * T * d);
        const float *q = c->q + base, *k = c->k + base, *v = c->v + base, *o = c->o + base,
                    *dout = c->dout + base;
        memset(acc, 0, (size_t)(3 * T * d) * sizeof *acc);
        for (int64_t i = 0; i < T; i++) {
            double delta = 0, lse;
            for (int64_t x = 0; x < d; x++)
                delta += (double)dout[i * d + x] * o[i * d + x];
            c->delta[bh * T + i] = (float)delta;
            int seen = direct_row(q, k, T, d, i, ac->causal, scale, c->lse[bh * T + i], p, &lse);
            for (int j = 0; j < seen; j++) {
                double dp = 0;
                for (int64_t x = 0; x < d; x++)
                    dp += (double)dout[i * d + x] * v[j * d + x];
                const double ds = p[j] * (dp - delta) * scale;
                for (int64_t x = 0; x < d; x++) {
                    dq[i * d + x] += ds * k[j * d + x];
                    dk[j * d + x] += ds * q[i * d + x];
                    dv[j * d + x] += p[j] * dout[i * d + x];
                }
            }
        }
        for (int64_t e = 0; e < T * d; e++) {
            c->dq[base + (size_t)e] = (float)dq[e];
            c->dk[base + (size_t)e] = (float)dk[e];
            c->dv[base + (size_t)e] = (float)dv[e];
        }
    }
    free(p);
    free(acc);
}

/* ---- comparing ------------------------------------------------------------------------- */

/* Each row's largest |error| over the scale of its want: its largest |element|, but at
 * least 1% of the tensor's largest (rows of near-zero gradient) and `floor`. Names the
 * worst element when that exceeds tol. */
static void expect_rows_floor(const float *got, const float *want, size_t rows, size_t d,
                              double tol, double floor, const char *what, const char *name)
{
    double top = 0;
    for (size_t i = 0; i < rows * d; i++)
        if (isfinite(want[i]))
            top = fmax(top, fabs(want[i]));
    double worst = 0;
    size_t at = 0;
    for (size_t r = 0; r < rows; r++) {
        double scale = fmax(1e-2 * top, floor);
        for (size_t x = 0; x < d; x++)
            if (isfinite(want[r * d + x]))
                scale = fmax(scale, fabs(want[r * d + x]));
        for (size_t x = 0; x < d; x++) {
            const float g = got[r * d + x], w = want[r * d + x];
            /* NaN where (and only where) the reference has NaN; infinities exactly. */
            double e = isnan(w) ? (isnan(g) ? 0 : INFINITY)
                       : isinf(w) ? (g == w ? 0 : INFINITY)
                                  : fabs((double)g - w) / scale;
            if (!(e <= worst)) { /* NaN counts as worst */
                worst = isnan(e) ? INFINITY : e;
                at = r * d + x;
            }
        }
    }
    if (worst > tol)
        fail_msg("%s: %s: row %zu, element %zu: got %.9g, want %.9g (error %.3g of the row's "
                 "scale, tolerance %.3g)", what, name, at / d, at % d, got[at], want[at], worst,
                 tol);
}

/* Scales below 1e-3 (the inputs make gradients of 1e-2 and more) would measure rounding
 * noise, e.g. dq at T = 1, which is 0 up to rounding. lse is compared absolutely up to 1. */
static void expect_fwd(const struct acase *ac, const struct canon *got, const struct canon *want,
                       const char *what)
{
    const size_t rows = n_rows(ac->n), d = (size_t)ac->n.d;
    expect_rows_floor(got->o, want->o, rows, d, tol_of(ac->dt), 1e-3, what, "o");
    expect_rows_floor(got->lse, want->lse, rows, 1, 1e-5, 1.0, what, "lse");
}

static void expect_bwd(const struct acase *ac, const struct canon *got, const struct canon *want,
                       const char *what)
{
    const size_t rows = n_rows(ac->n), d = (size_t)ac->n.d;
    expect_rows_floor(got->dq, want->dq, rows, d, tol_of(ac->dt), 1e-3, what, "dq");
    expect_rows_floor(got->dk, want->dk, rows, d, tol_of(ac->dt), 1e-3, what, "dk");
    expect_rows_floor(got->dv, want->dv, rows, d, tol_of(ac->dt), 1e-3, what, "dv");
    expect_rows_floor(got->delta, want->delta, rows, 1, 1e-4, 1e-3, what, "delta");
}

static bool is_host(const char *device) { return strcmp(device, "host") == 0; }

static void expect_no_fallback(clt_context *ctx, const char *device)
{
    clt_stats stats;
    ts_assert_ok(clt_context_stats(ctx, &stats));
    if (!is_host(device) && stats.ops_fallback != 0)
        fail_msg("%s: %llu attention ops fell back to the host", device,
                 (unsigned long long)stats.ops_fallback);
}

/* One case on `device`: forward, then backward from the reference's o and lse, against
 * the host device (or, on the host, against the direct computation). */
static void check_canon(clt_context *ctx, clt_context *ref, const char *device,
                        const struct acase *ac, struct canon *got, struct canon *want)
{
    char what[160];
    snprintf(what, sizeof what, "%s: %s", device, ac->name);
    if (ref) {
        run_fwd(ref, ac, want, what);
    } else {
        direct_fwd(ac, want);
        round_all(want->o, numel(ac->n), ac->dt);
    }
    run_fwd(ctx, ac, got, what);
    expect_fwd(ac, got, want, what);

    /* Both backwards start from the same o and lse: the reference's, as stored. */
    memcpy(got->o, want->o, numel(ac->n) * sizeof(float));
    memcpy(got->lse, want->lse, n_rows(ac->n) * sizeof(float));
    if (ref) {
        run_bwd(ref, ac, want, what);
    } else {
        direct_bwd(ac, want);
        round_all(want->dq, numel(ac->n), ac->dt);
        round_all(want->dk, numel(ac->n), ac->dt);
        round_all(want->dv, numel(ac->n), ac->dt);
    }
    run_bwd(ctx, ac, got, what);
    expect_bwd(ac, got, want, what);
}

static void check_case(clt_context *ctx, clt_context *ref, const char *device,
                       const struct acase *ac, uint64_t seed)
{
    struct canon got, want;
    canon_alloc(&got, ac->n);
    canon_alloc(&want, ac->n);
    canon_inputs(&got, ac, seed);
    canon_inputs(&want, ac, seed);
    check_canon(ctx, ref, device, ac, &got, &want);
    canon_free(&got);
    canon_free(&want);
}

/* ---- tests ------------------------------------------------------------------------------- */

static void test_cases(void **state)
{
    const char *device = *state;
    clt_context *ctx = ts_context(device);
    clt_context *ref = is_host(device) ? NULL : ts_context("host");
    for (size_t i = 0; i < N_CASES; i++) {
        if (!ref && cases[i].n.T > HOST_MAX_T)
            continue;
        check_case(ctx, ref, device, &cases[i], 100 + i);
    }
    expect_no_fallback(ctx, device);
    bool yes = false;
    for (clt_dtype dt = F32; dt <= BF16; dt++) {
        ts_assert_ok(clt_op_supported(ctx, CLT_OP_ATTENTION_FWD, dt, &yes));
        assert_true(yes);
        ts_assert_ok(clt_op_supported(ctx, CLT_OP_ATTENTION_BWD, dt, &yes));
        assert_true(yes);
    }
    clt_context_destroy(ref);
    clt_context_destroy(ctx);
}

/* NaN in an input reaches exactly the outputs that depend on it. Head 0 has a NaN in
 * v at key 5 (column 3), head 1 in dout at row 7 (column 2); causal, so the rows before
 * them must stay finite and exact: a masked lane's term is dropped, not multiplied by 0
 * (0·NaN is NaN). The tail of T = 37 is a masked block too. */
static void test_nan_reaches_only_its_outputs(void **state)
{
    const char *device = *state;
    const struct acase ac = {"NaN in v and dout, T=37 d=64 causal", {1, 2, 37, 64}, true, F32,
                             BHTD, BHTD, BHTD, 0};
    const size_t head = (size_t)(ac.n.T * ac.n.d);
    clt_context *ctx = ts_context(device);
    clt_context *ref = is_host(device) ? NULL : ts_context("host");
    struct canon got, want;
    canon_alloc(&got, ac.n);
    canon_alloc(&want, ac.n);
    canon_inputs(&got, &ac, 17);
    canon_inputs(&want, &ac, 17);
    got.v[5 * ac.n.d + 3] = want.v[5 * ac.n.d + 3] = NAN;
    got.dout[head + 7 * ac.n.d + 2] = want.dout[head + 7 * ac.n.d + 2] = NAN;
    check_canon(ctx, ref, device, &ac, &got, &want);
    /* ... and the reference agrees with what that means (so the comparison above could
     * not pass on NaN everywhere): o row 4 of head 0 is finite, row 5 has NaN in column 3
     * only; dv (which no NaN reaches in head 0) is finite. */
    assert_true(isfinite(want.o[4 * ac.n.d + 3]));
    assert_true(isnan(want.o[5 * ac.n.d + 3]) && isfinite(want.o[5 * ac.n.d + 2]));
    for (size_t i = 0; i < head; i++)
        assert_true(isfinite(got.dv[i]));
    assert_true(isfinite(got.dq[4 * ac.n.d]) && isnan(got.dq[5 * ac.n.d]));
    canon_free(&got);
    canon_free(&want);
    clt_context_destroy(ref);
    clt_context_destroy(ctx);
}

/* T = 8192 (T = 1024 on the host, whose reference is plain loops): fwd + bwd allocate
 * nothing on an OpenCL device, so the peak is exactly the caller's buffers; the host's
 * reference may add an O(T·d) workspace, never T×T. Rows at the start, middle and end
 * are checked against the direct computation (backward rows from the device's lse and
 * delta, which are checked themselves). */
static void test_long_sequence_memory(void **state)
{
    const char *device = *state;
    const bool host = is_host(device);
    const struct acase ac = {"long", {1, 1, host ? 1024 : 8192, host ? 32 : 64}, true, F32,
                             BHTD, BHTD, BHTD, 0};
    const int64_t T = ac.n.T, d = ac.n.d;
    const size_t n = numel(ac.n), rows = n_rows(ac.n);
    clt_context *ctx = ts_context(device);
    struct canon c;
    canon_alloc(&c, ac.n);
    canon_inputs(&c, &ac, 7);

    clt_tensor t[10]; /* q k v o dout dq dk dv, lse delta */
    const float *init[10] = {c.q, c.k, c.v, NULL, c.dout, NULL, NULL, NULL, NULL, NULL};
    const int64_t shape[4] = {ac.n.B, ac.n.H, T, d};
    size_t user = 0;
    for (int i = 0; i < 10; i++) {
        const size_t count = i < 8 ? n : rows;
        clt_buffer *buf = init[i] ? ts_upload(ctx, CLT_TIER_DEVICE, init[i], count)
                                  : ts_buffer(ctx, CLT_TIER_DEVICE, count * sizeof(float), NULL);
        ts_assert_ok(clt_tensor_init(&t[i], buf, 0, F32, i < 8 ? 4 : 3, shape));
        user += count * sizeof(float);
    }
    clt_op fwd, bwd;
    memset(&fwd, 0, sizeof fwd);
    memset(&bwd, 0, sizeof bwd);
    fwd.kind = CLT_OP_ATTENTION_FWD;
    bwd.kind = CLT_OP_ATTENTION_BWD;
    clt_attention_fwd_args *f = &fwd.u.attention_fwd;
    clt_attention_bwd_args *b = &bwd.u.attention_bwd;
    f->q = b->q = t[0], f->k = b->k = t[1], f->v = b->v = t[2], f->o = b->o = t[3];
    b->dout = t[4], b->dq = t[5], b->dk = t[6], b->dv = t[7];
    f->lse = b->lse = t[8], b->delta = t[9];
    f->scale = b->scale = scale_of(&ac);
    f->causal = b->causal = true;
    run_op(ctx, &fwd, device);
    run_op(ctx, &bwd, device);

    clt_stats stats;
    ts_assert_ok(clt_context_stats(ctx, &stats));
    const uint64_t peak = stats.mem_peak[CLT_TIER_DEVICE];
    if (!host && peak != user)
        fail_msg("%s: device memory peaked at %llu bytes; the caller's buffers are %zu",
                 device, (unsigned long long)peak, user);
    if (host && (peak < user || peak - user > (uint64_t)(8 * T * d * 8) ||
                 (uint64_t)(8 * T * d * 8) >= (uint64_t)(T * T * 4)))
        fail_msg("%s: device memory peaked at %llu bytes; the caller's buffers are %zu",
                 device, (unsigned long long)peak, user);
    expect_no_fallback(ctx, device);

    float *outs[6] = {c.o, c.dq, c.dk, c.dv, c.lse, c.delta};
    const int at[6] = {3, 5, 6, 7, 8, 9};
    for (int i = 0; i < 6; i++)
        ts_download(t[at[i]].buf, 0, outs[i], i < 4 ? n : rows);

    /* delta everywhere, from the device's o. */
    float *delta = alloc_floats(rows);
    for (int64_t i = 0; i < T; i++) {
        double s = 0;
        for (int64_t x = 0; x < d; x++)
            s += (double)c.dout[i * d + x] * c.o[i * d + x];
        delta[i] = (float)s;
    }
    expect_rows_floor(c.delta, delta, rows, 1, 1e-4, 1e-3, device, "delta");

    const double scale = scale_of(&ac);
    double *p = malloc((size_t)T * sizeof *p);
    float *got = alloc_floats((size_t)(4 * d)), *want = alloc_floats((size_t)(4 * d));
    assert_non_null(p);
    const int64_t check[] = {0, T / 2 - 1, T - 1};
    for (size_t r = 0; r < sizeof check / sizeof check[0]; r++) {
        const int64_t i = check[r];
        char what[96];
        snprintf(what, sizeof what, "%s: T=%lld row %lld", device, (long long)T, (long long)i);
        double lse;
        /* o_i and lse_i from scratch; dq_i from the device's lse_i and delta_i. */
        int seen = direct_row(c.q, c.k, T, d, i, true, scale, NAN, p, &lse);
        float lse_f = (float)lse;
        expect_rows_floor(&c.lse[i], &lse_f, 1, 1, 1e-5, 1.0, what, "lse");
        seen = direct_row(c.q, c.k, T, d, i, true, scale, c.lse[i], p, &lse);
        for (int64_t x = 0; x < d; x++) {
            double o = 0, dq = 0;
            for (int j = 0; j < seen; j++) {
                double dp = 0;
                for (int64_t y = 0; y < d; y++)
                    dp += (double)c.dout[i * d + y] * c.v[j * d + y];
                o += p[j] * c.v[j * d + x];
                dq += p[j] * (dp - c.delta[i]) * scale * c.k[j * d + x];
            }
            want[x] = (float)o, got[x] = c.o[i * d + x];
            want[d + x] = (float)dq, got[d + x] = c.dq[i * d + x];
        }
        /* dk_i and dv_i: key i as seen by the queries q >= i. */
        double *dk = calloc((size_t)(2 * d), sizeof *dk), *dv = dk + d;
        assert_non_null(dk);
        for (int64_t qi = i; qi < T; qi++) {
            double s = 0, dp = 0;
            for (int64_t y = 0; y < d; y++) {
                s += (double)c.q[qi * d + y] * c.k[i * d + y];
                dp += (double)c.dout[qi * d + y] * c.v[i * d + y];
            }
            const double pq = exp(s * scale - c.lse[qi]), ds = pq * (dp - c.delta[qi]) * scale;
            for (int64_t x = 0; x < d; x++) {
                dk[x] += ds * c.q[qi * d + x];
                dv[x] += pq * c.dout[qi * d + x];
            }
        }
        for (int64_t x = 0; x < d; x++) {
            want[2 * d + x] = (float)dk[x], got[2 * d + x] = c.dk[i * d + x];
            want[3 * d + x] = (float)dv[x], got[3 * d + x] = c.dv[i * d + x];
        }
        free(dk);
        /* Single rows: scaled by at least 1e-3, since dq_0 is 0 up to rounding (the first
         * query sees only key 0, whose softmax weight is 1). */
        static const char *const names[4] = {"o", "dq", "dk", "dv"};
        for (int k = 0; k < 4; k++)
            expect_rows_floor(got + k * d, want + k * d, 1, (size_t)d, 1e-4, 1e-3, what,
                              names[k]);
    }
    free(p);
    free(got);
    free(want);
    free(delta);
    for (int i = 0; i < 10; i++)
        clt_buffer_destroy(t[i].buf);
    canon_free(&c);
    clt_context_destroy(ctx);
}

/* Two runs of the same op give the same bits: each output element is owned by one
 * work-group, which sums in a fixed order (no atomics). */
static void test_deterministic(void **state)
{
    const char *device = *state;
    const struct acase ac = {"repeat", {2, 2, 257, 64}, true, F32, PACKED, BTHD, BTHD, 0};
    clt_context *ctx = ts_context(device);
    struct canon a, b;
    canon_alloc(&a, ac.n);
    canon_alloc(&b, ac.n);
    canon_inputs(&a, &ac, 11);
    canon_inputs(&b, &ac, 11);
    run_fwd(ctx, &ac, &a, device);
    run_fwd(ctx, &ac, &b, device);
    const size_t n = numel(ac.n) * sizeof(float), rows = n_rows(ac.n) * sizeof(float);
    assert_memory_equal(a.o, b.o, n);
    assert_memory_equal(a.lse, b.lse, rows);
    run_bwd(ctx, &ac, &a, device);
    run_bwd(ctx, &ac, &b, device);
    assert_memory_equal(a.dq, b.dq, n);
    assert_memory_equal(a.dk, b.dk, n);
    assert_memory_equal(a.dv, b.dv, n);
    assert_memory_equal(a.delta, b.delta, rows);
    /* ... and the results are the attention's, not merely repeatable. */
    float max = 0;
    for (size_t i = 0; i < numel(ac.n); i++)
        max = fmaxf(max, fabsf(a.dk[i]));
    assert_true(max > 1e-3f);
    canon_free(&a);
    canon_free(&b);
    clt_context_destroy(ctx);
}

/* Tiles from $CLT_ATTENTION_PARAMS: one work-item per row as on GPUs, with dK and dV in
 * two launches as at d = 128 there (so PoCL checks the GPU shape's arithmetic), and odd
 * sizes (3 work-items of 4 rows, tiles of 9, blocks of 3, d unrolled 5 times). The host
 * ignores the variable. */
static void test_tiles_from_env(void **state)
{
    const char *device = *state;
    static const struct {
        const char *params;
        struct acase c;
    } runs[] = {
        {"br=64 wg=64 bc=16 ju=4 du=0 split=32",
         {"GPU tiles, dK and dV apart, T=100 d=32 causal f16 packed", {1, 2, 100, 32}, true, F16,
          PACKED, BTHD, BTHD, 0}},
        {"br=12,wg=3,bc=9,ju=3,du=5",
         {"odd tiles T=100 d=64 causal bf16", {1, 2, 100, 64}, true, BF16, BHTD, BTHD, BTHD,
          0}},
    };
    clt_context *ctx = ts_context(device);
    clt_context *ref = is_host(device) ? NULL : ts_context("host");
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        assert_int_equal(setenv("CLT_ATTENTION_PARAMS", runs[i].params, 1), 0);
        check_case(ctx, ref, device, &runs[i].c, 200 + i);
        unsetenv("CLT_ATTENTION_PARAMS");
    }
    expect_no_fallback(ctx, device);
    clt_context_destroy(ref);
    clt_context_destroy(ctx);
}

/* Malformed tiles are refused with an error naming the variable, not quietly replaced by
 * the defaults (an experiment would measure the wrong thing); so are tiles that do not
 * fit the device. */
static void test_tiles_refused(void **state)
{
    const char *device = *state;
    static const char *const bad[] = {
        "br=32 wg=3",  /* 32/3 rows per work-item */
        "br=48 wg=16", /* 3 rows per work-item */
        "bc=16 ju=5",  /* ju does not divide bc */
        "br=x",        "tile=4", "br=", "=4", "br=5000", "ju=0", "br=32;wg=2",
    };
    const struct acase ac = {"refused", {1, 2, 17, 32}, false, F32, BHTD, BHTD, BHTD, 0};
    clt_context *ctx = ts_context(device);
    struct canon c;
    canon_alloc(&c, ac.n);
    canon_inputs(&c, &ac, 3);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(setenv("CLT_ATTENTION_PARAMS", bad[i], 1), 0);
        struct group qkv, o, lse;
        const float *in[3] = {c.q, c.k, c.v};
        group_make(&qkv, ctx, ac.qkv, 3, ac.n, ac.dt, in, true);
        group_make(&o, ctx, ac.o, 1, ac.n, ac.dt, NULL, false);
        stats_make(&lse, ctx, ac.n, NULL, false);
        clt_op op;
        memset(&op, 0, sizeof op);
        op.kind = CLT_OP_ATTENTION_FWD;
        clt_attention_fwd_args *a = &op.u.attention_fwd;
        a->q = qkv.t[0], a->k = qkv.t[1], a->v = qkv.t[2], a->o = o.t[0], a->lse = lse.t[0];
        a->scale = scale_of(&ac);
        const clt_status st = clt_op_run(ctx, &op, NULL);
        unsetenv("CLT_ATTENTION_PARAMS");
        if (is_host(device)) {
            ts_assert_status(st, CLT_OK);
        } else {
            if (st != CLT_ERR_INVALID_ARG)
                fail_msg("%s: CLT_ATTENTION_PARAMS=\"%s\" gave %s, want CLT_ERR_INVALID_ARG",
                         device, bad[i], clt_status_name(st));
            ts_assert_error_mentions("CLT_ATTENTION_PARAMS");
            /* Nothing was written. */
            ts_assert_buffer_equals(o.t[0].buf, o.im[0].bytes,
                                    o.im[0].elems * clt_dtype_size(o.im[0].dt));
        }
        group_free(&qkv);
        group_free(&o);
        group_free(&lse);
    }
    canon_free(&c);
    clt_context_destroy(ctx);
}

int main(void)
{
    static const ts_device_test tests[] = {
        {"cases", test_cases},
        {"nan_reaches_only_its_outputs", test_nan_reaches_only_its_outputs},
        {"long_sequence_memory", test_long_sequence_memory},
        {"deterministic", test_deterministic},
        {"tiles_from_env", test_tiles_from_env},
        {"tiles_refused", test_tiles_refused},
    };
    return ts_run_per_device("attention", tests, sizeof tests / sizeof tests[0]);
}
