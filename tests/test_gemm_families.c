/* GEMM kernel families against the host reference (clt_ref_gemm), for every storage
 * combination (f32→f32, f16→f16, f16→f32, bf16→bf16, bf16→f32).
 *
 * On each device the cases run once with the device's own choice of kernel; on OpenCL
 * devices they run again with each kernel forced through $CLT_GEMM_PARAMS (and
 * CLT_TUNE=off): the direct kernel, gemm_cpu at its defaults and at an odd parameter
 * set, gemm_gpu at its defaults and at a small asymmetric one that fits PoCL. Each case
 * asserts with clt_op_describe that the forced kernel is the one that runs.
 *
 * Shapes take every size of {1, 7, 31, 65, 257} in every position of M, N, K (none a
 * multiple of a power-of-two tile), every transpose, rank-3 batches (full, a rank-2 A
 * shared by all batches, B with batch stride 0), alpha/beta in {(1,0), (2.5,-0.5),
 * (0.5,1)}, beta 0 over NaN in C, bias, byte offsets and padded rows; one 257x257x257
 * case per kernel configuration, its storage combination rotating from one
 * configuration to the next.
 *
 * Inputs are made in f32 and converted with clt_convert; the reference runs on the
 * stored (rounded) values. Small-integer cases must match exactly. The others allow,
 * per element, 1e-5·sqrt(K) of the magnitude (|alpha|·Σ|a||b| + |beta||c| + |bias|),
 * plus one ulp of the output type for f16 and bf16 outputs. The whole of C's buffer is
 * compared: elements outside the tensor (row padding, between batches, before the
 * offset, past the end) must keep their bytes. Around a, b and bias the buffers hold
 * NaN, so a kernel that reads past an edge or into padding spoils the result even where
 * it multiplies what it read by zero. */
#include <math.h>
#include <time.h>

#include "backends/host/ref.h"
#include "support/support.h"

/* ---- what runs ---------------------------------------------------------------------- */

/* Storage combinations: a and b share a dtype; c is f32 or that dtype. */
struct combo {
    const char *name;
    clt_dtype ab, c;
};
static const struct combo combos[] = {
    {"f32->f32", CLT_DTYPE_F32, CLT_DTYPE_F32},
    {"f16->f16", CLT_DTYPE_F16, CLT_DTYPE_F16},
    {"f16->f32", CLT_DTYPE_F16, CLT_DTYPE_F32},
    {"bf16->bf16", CLT_DTYPE_BF16, CLT_DTYPE_BF16},
    {"bf16->f32", CLT_DTYPE_BF16, CLT_DTYPE_F32},
};
#define N_COMBOS ((int)(sizeof combos / sizeof combos[0]))

/* Kernel configurations. `params` NULL: the device's own choice (no $CLT_GEMM_PARAMS).
 * `kernel`: a word clt_op_describe must report for every case; `detail`: parameters it
 * must show (case-insensitive), proving the non-default set reached the kernel. */
struct config {
    const char *name;
    const char *params;
    const char *kernel;
    const char *detail[8];
    /* The kernel is built per transpose (gemm_gpu: -DTRANS_A -DTRANS_B), so each case
     * with a new transpose and dtype costs a compile (seconds on PoCL): f32 runs every
     * transpose, each other storage combination half of them, the two gpu
     * configurations taking complementary halves (see runs_here). */
    bool trans_builds;
};
static const struct config configs[] = {
    {"default", NULL, NULL, {NULL}, false},
    {"direct", "family=direct", "gemm_direct", {NULL}, false},
    {"cpu", "family=cpu direct_below_flops=0", "gemm_cpu", {NULL}, false},
    /* RM 5, KU 3: neither divides 7, 31 or 257, and NR 8 divides none of the sizes */
    {"cpu_odd", "family=cpu rm=5 nr=8 ku=3 direct_below_flops=0", "gemm_cpu",
     {"RM=5", "NR=8", "KU=3", NULL}, false},
    {"gpu", "family=gpu direct_below_flops=0", "gemm_gpu", {NULL}, true},
    /* a 16x32 tile of 8x8 work-items: M and N tiles differ, so a swap of them shows */
    {"gpu_small", "family=gpu mwg=16 nwg=32 kwg=8 mdimc=8 ndimc=8 vwm=1 vwn=4 "
                  "direct_below_flops=0", "gemm_gpu",
     {"MWG=16", "NWG=32", "KWG=8", "MDIMC=8", "NDIMC=8", "VWM=1", "VWN=4", NULL}, true},
};
#define N_CONFIGS ((int)(sizeof configs / sizeof configs[0]))

enum { FULL = 0, SHARED = 1, STRIDE0 = 2 }; /* how a batched a or b is given */

static const float alphas[3] = {1.0f, 2.5f, 0.5f};
static const float betas[3] = {0.0f, -0.5f, 1.0f};

struct fcase {
    int M, N, K;
    bool ta, tb;
    int ab;            /* alpha/beta pair: index into alphas/betas */
    bool bias;
    int batch;         /* 0: rank 2 throughout; else c is (batch, M, N) */
    int a_mode, b_mode;
    int pad;           /* elements at the end of each row, and between batches */
    int off;           /* elements before each tensor's first one in its buffer */
    bool ints;         /* small-integer inputs: the result must be exact */
    bool nan_c;        /* C's elements start as NaN (beta must be 0) */
};

/* Every size in every position of M, N and K; every transpose with ints and floats. */
static const struct fcase cases[] = {
    /*  M    N    K   ta tb ab bias batch am bm pad off ints nan */
    {   1,   1,   1,  0, 0, 0, 0,   0, 0, 0, 0, 0,  1,  0},
    {   7,  31,  65,  0, 1, 1, 1,   0, 0, 0, 2, 0,  0,  0},
    {  31,  65,   7,  1, 0, 2, 0,   0, 0, 0, 3, 5,  1,  0},
    {  65,   7,  31,  1, 1, 0, 1,   0, 0, 0, 0, 0,  0,  1},
    { 257,   1,   7,  0, 0, 1, 0,   0, 0, 0, 0, 1,  1,  0},
    {   1, 257,  31,  1, 1, 2, 1,   0, 0, 0, 1, 2,  0,  0},
    {   7,  65, 257,  1, 0, 0, 0,   0, 0, 0, 1, 0,  1,  1},
    {  65, 257,   1,  0, 1, 1, 1,   0, 0, 0, 0, 3,  0,  0},
    {  31,   7, 257,  0, 0, 2, 0,   0, 0, 0, 2, 0,  0,  0},
    { 257,  31,  65,  1, 1, 1, 1,   0, 0, 0, 3, 0,  1,  0},
    {  65,  65,  65,  0, 1, 2, 1,   0, 0, 0, 1, 1,  1,  0},
    {   7,   7,   7,  1, 0, 1, 1,   0, 0, 0, 0, 0,  0,  0},
    /* batches of 3 */
    {   7,  31,  65,  0, 0, 1, 1,   3, FULL, FULL,       2, 3, 0, 0},
    {  31,   7,  31,  0, 1, 2, 1,   3, SHARED, FULL,     1, 1, 1, 0},
    {  65,  31,   7,  1, 0, 2, 0,   3, FULL, STRIDE0,    1, 0, 1, 0},
    {   7,   7, 257,  1, 1, 0, 1,   3, FULL, STRIDE0,    3, 2, 0, 1},
    {  31,  65,  31,  1, 1, 1, 0,   3, SHARED, STRIDE0,  0, 0, 0, 0},
};
#define N_CASES ((int)(sizeof cases / sizeof cases[0]))

/* Whether configuration `cfg` runs transposes (ta, tb) with storage combination `k`:
 * always, but where the kernel is built per transpose; there f32 runs all four and the
 * others two, (NN, TN) or (NT, TT) by the parity of k + cfg, so that the gpu
 * configurations (4 and 5) together run every transpose with every combination. */
static bool runs_here(int cfg, int k, bool ta, bool tb)
{
    (void)ta; /* both values of ta run in each half */
    if (!configs[cfg].trans_builds || combos[k].ab == CLT_DTYPE_F32)
        return true;
    return (k + cfg + (tb ? 1 : 0)) % 2 == 0;
}

/* The large case of configuration `cfg`: 257³, floats, alpha 2.5 beta -0.5 with bias;
 * its storage combination rotates with the configuration, and so do its transposes
 * (the first in turn from cfg % 4 that the configuration runs with that combination). */
static struct fcase big_case(int cfg)
{
    int t = cfg % 4;
    for (int j = 0; j < 4 && !runs_here(cfg, cfg % N_COMBOS, (t & 2) != 0, (t & 1) != 0);
         j++)
        t = (t + 1) % 4;
    struct fcase c = {257, 257, 257, (t & 2) != 0, (t & 1) != 0, 1, true, 0, 0, 0,
                      cfg % 2, cfg % 3, false, false};
    return c;
}

/* ---- operands --------------------------------------------------------------------- */

/* One operand: its whole buffer as bytes and as the f32 values stored, and its tensor. */
struct operand {
    size_t n;         /* elements in the buffer */
    size_t esize;
    void *raw;        /* the buffer's bytes, in the tensor's dtype */
    float *val;       /* the same elements as f32 */
    clt_buffer *buf;
    clt_tensor t;
};

/* Lays out a (batch, rows, cols) operand of `dtype`: row stride cols + pad, batch stride
 * rows·(cols + pad) + pad (0 for STRIDE0), rank 2 for SHARED or no batch; `off`
 * elements before the first and 3 after the last. */
static void layout(struct operand *o, const struct fcase *c, clt_dtype dtype, int rows,
                   int cols, int mode)
{
    memset(o, 0, sizeof *o);
    int64_t rs = cols + c->pad;
    int64_t bs = rows * rs + c->pad;
    bool batched = c->batch > 0 && mode != SHARED;
    o->esize = clt_dtype_size(dtype);
    o->n = ts_matrix_layout(&o->t, dtype, batched ? c->batch : 0, rows, cols, rs,
                            mode == STRIDE0 ? 0 : bs, (size_t)c->off);
    o->raw = malloc(o->n * o->esize);
    o->val = malloc(o->n * sizeof(float));
    assert_non_null(o->raw);
    assert_non_null(o->val);
}

/* A rank-1 operand of n elements at `off`, 1 guard element after. */
static void layout_vector(struct operand *o, clt_dtype dtype, int n, int off)
{
    memset(o, 0, sizeof *o);
    o->esize = clt_dtype_size(dtype);
    o->t.dtype = dtype;
    o->t.offset = (size_t)off * o->esize;
    o->t.rank = 1;
    o->t.shape[0] = n;
    o->t.strides[0] = 1;
    o->n = (size_t)off + (size_t)n + 1;
    o->raw = malloc(o->n * o->esize);
    o->val = malloc(o->n * sizeof(float));
    assert_non_null(o->raw);
    assert_non_null(o->val);
}

/* Stores val in the operand's dtype and reads the stored values back into val. */
static void store(struct operand *o)
{
    ts_assert_ok(clt_convert(o->t.dtype, o->raw, CLT_DTYPE_F32, o->val, o->n));
    ts_assert_ok(clt_convert(CLT_DTYPE_F32, o->val, o->t.dtype, o->raw, o->n));
}

static void fill(struct operand *o, ts_rng *rng, bool ints, int range)
{
    if (ints)
        ts_fill_ints(rng, o->val, o->n, -range, range);
    else
        ts_fill_floats(rng, o->val, o->n, -1.0f, 1.0f);
}

static void *elem0(const struct operand *o, void *base)
{
    return (char *)base + o->t.offset;
}

/* Whether element i of the buffer is one of the tensor's elements; if so its batch,
 * row and column. */
static bool covers(const struct operand *o, size_t i, int64_t *pb, int64_t *pr, int64_t *pc)
{
    size_t first = o->t.offset / o->esize;
    if (i < first)
        return false;
    int64_t rel = (int64_t)(i - first);
    int r = o->t.rank;
    if (r == 1) {
        *pb = *pr = 0;
        *pc = rel;
        return rel < o->t.shape[0];
    }
    int64_t rs = o->t.strides[r - 2], cols = o->t.shape[r - 1], rows = o->t.shape[r - 2];
    int64_t nb = r == 3 ? o->t.shape[0] : 1, bs = r == 3 ? o->t.strides[0] : 0;
    for (int64_t b = 0; b < nb; b++) {
        int64_t x = rel - b * bs;
        if (x >= 0 && x / rs < rows && x % rs < cols) {
            *pb = b;
            *pr = x / rs;
            *pc = x % rs;
            return true;
        }
    }
    return false;
}

/* Sets the buffer's elements outside the tensor to NaN. */
static void poison_outside(struct operand *o)
{
    int64_t b, r, c;
    for (size_t i = 0; i < o->n; i++)
        if (!covers(o, i, &b, &r, &c))
            o->val[i] = NAN;
}

static void free_operand(struct operand *o)
{
    clt_buffer_destroy(o->buf);
    free(o->raw);
    free(o->val);
}

/* One unit in the last place of |x| for a format of `bits` significand bits (11 for
 * f16, 8 for bf16), with `min_exp` the exponent of its smallest normal number. */
static double ulp_of(double x, int bits, int min_exp)
{
    int e;
    x = fabs(x);
    if (x == 0.0 || !isfinite(x))
        return ldexp(1.0, min_exp - bits + 1);
    frexp(x, &e); /* x = f·2^e, f in [0.5, 1) */
    e -= 1;       /* x = g·2^e, g in [1, 2) */
    if (e < min_exp)
        e = min_exp;
    return ldexp(1.0, e - bits + 1);
}

/* ---- one case ----------------------------------------------------------------------- */

struct run {
    clt_context *ctx;
    const char *device;
    const struct config *cfg;
    bool opencl;
    int describe_failures;
};

static void case_label(char *out, size_t size, const struct run *r, const struct fcase *c,
                       const struct combo *co)
{
    snprintf(out, size,
             "%s [%s] %s %dx%dx%d%s%s alpha %g beta %g%s%s batch %d (a %s, b %s) pad %d "
             "off %d%s",
             r->device, r->cfg->name, co->name, c->M, c->N, c->K, c->ta ? " ta" : "",
             c->tb ? " tb" : "", (double)alphas[c->ab], (double)betas[c->ab],
             c->bias ? " bias" : "", c->nan_c ? " NaN-C" : "", c->batch,
             c->a_mode == SHARED ? "shared" : "full",
             c->b_mode == STRIDE0 ? "stride 0" : c->b_mode == SHARED ? "shared" : "full",
             c->pad, c->off, c->ints ? " ints" : "");
}

/* Checks that clt_op_describe names the kernel the configuration forces. */
static bool check_describe(struct run *r, const clt_gemm_args *g, const char *label)
{
    clt_op op;
    memset(&op, 0, sizeof op);
    op.kind = CLT_OP_GEMM;
    op.u.gemm = *g;
    char desc[256];
    clt_status st = clt_op_describe(r->ctx, &op, desc, sizeof desc);
    if (st != CLT_OK) {
        print_error("%s: clt_op_describe: %s: %s\n", label, clt_status_name(st),
                    clt_last_error());
        return false;
    }
    if (!r->opencl)
        return true;
    bool ok = !ts_has_text(desc, "host fallback");
    if (r->cfg->kernel)
        ok = ok && ts_has_word(desc, r->cfg->kernel);
    for (int i = 0; ok && r->cfg->detail[i]; i++)
        ok = ts_has_text(desc, r->cfg->detail[i]);
    if (!ok) {
        /* one message per configuration is enough to see the problem */
        if (r->describe_failures++ == 0)
            print_error("%s: clt_op_describe says \"%s\"; want %s (CLT_GEMM_PARAMS=%s)\n",
                        label, desc, r->cfg->kernel ? r->cfg->kernel : "no host fallback",
                        r->cfg->params ? r->cfg->params : "(unset)");
    }
    return ok;
}

/* Runs one case with one storage combination and compares the whole of C's buffer with
 * the reference. Returns whether everything matched. */
static bool run_case(struct run *r, const struct fcase *c, const struct combo *co,
                     uint64_t seed)
{
    char label[320];
    case_label(label, sizeof label, r, c, co);
    ts_rng rng;
    ts_rng_seed(&rng, seed);

    struct operand a, b, cc, bias;
    layout(&a, c, co->ab, c->ta ? c->K : c->M, c->ta ? c->M : c->K, c->a_mode);
    layout(&b, c, co->ab, c->tb ? c->N : c->K, c->tb ? c->K : c->N, c->b_mode);
    layout(&cc, c, co->c, c->M, c->N, FULL);
    fill(&a, &rng, c->ints, 4);
    fill(&b, &rng, c->ints, 4);
    fill(&cc, &rng, c->ints, 8);
    /* What lies around a, b and bias is NaN: a kernel that reads it (past an edge, in
     * row padding) and multiplies it by a zero it pads with still spoils the result. */
    int64_t pb = 0, pr = 0, pc = 0;
    poison_outside(&a);
    poison_outside(&b);
    /* C's padding and guards hold a value no GEMM here produces; its elements NaN if
     * the case says so */
    for (size_t i = 0; i < cc.n; i++) {
        if (!covers(&cc, i, &pb, &pr, &pc))
            cc.val[i] = 12345.0f;
        else if (c->nan_c)
            cc.val[i] = NAN;
    }
    store(&a);
    store(&b);
    store(&cc);
    if (c->bias) {
        layout_vector(&bias, co->c, c->N, c->off);
        fill(&bias, &rng, c->ints, 8);
        poison_outside(&bias);
        store(&bias);
    }

    a.t.buf = a.buf = ts_buffer(r->ctx, CLT_TIER_DEVICE, a.n * a.esize, a.raw);
    b.t.buf = b.buf = ts_buffer(r->ctx, CLT_TIER_DEVICE, b.n * b.esize, b.raw);
    cc.t.buf = cc.buf = ts_buffer(r->ctx, CLT_TIER_DEVICE, cc.n * cc.esize, cc.raw);
    if (c->bias)
        bias.t.buf = bias.buf = ts_buffer(r->ctx, CLT_TIER_DEVICE, bias.n * bias.esize,
                                          bias.raw);

    clt_gemm_args g;
    memset(&g, 0, sizeof g);
    g.a = a.t;
    g.b = b.t;
    g.c = cc.t;
    if (c->bias)
        g.bias = bias.t;
    g.trans_a = c->ta;
    g.trans_b = c->tb;
    g.alpha = alphas[c->ab];
    g.beta = betas[c->ab];

    /* the reference, on the stored values */
    unsigned char *want = malloc(cc.n * cc.esize);
    assert_non_null(want);
    memcpy(want, cc.raw, cc.n * cc.esize);
    clt_ref_gemm(&g, elem0(&a, a.raw), elem0(&b, b.raw), elem0(&cc, want),
                 c->bias ? elem0(&bias, bias.raw) : NULL);

    /* each element's magnitude: the same GEMM over absolute values, in f32 storage */
    float *mag = NULL;
    if (!c->ints) {
        float *abs_a = malloc(a.n * sizeof(float)), *abs_b = malloc(b.n * sizeof(float));
        float *abs_bias = c->bias ? malloc(bias.n * sizeof(float)) : NULL;
        mag = malloc(cc.n * sizeof(float));
        assert_non_null(abs_a);
        assert_non_null(abs_b);
        assert_non_null(mag);
        for (size_t i = 0; i < a.n; i++)
            abs_a[i] = fabsf(a.val[i]);
        for (size_t i = 0; i < b.n; i++)
            abs_b[i] = fabsf(b.val[i]);
        for (size_t i = 0; i < cc.n; i++)
            mag[i] = isnan(cc.val[i]) ? 0.0f : fabsf(cc.val[i]);
        if (c->bias) {
            assert_non_null(abs_bias);
            for (size_t i = 0; i < bias.n; i++)
                abs_bias[i] = fabsf(bias.val[i]);
        }
        clt_gemm_args m = g;
        m.a.dtype = m.b.dtype = m.c.dtype = m.bias.dtype = CLT_DTYPE_F32;
        m.alpha = fabsf(g.alpha);
        m.beta = fabsf(g.beta);
        clt_ref_gemm_f32(&m, abs_a + c->off, abs_b + c->off, mag + c->off,
                         c->bias ? abs_bias + c->off : NULL);
        free(abs_a);
        free(abs_b);
        free(abs_bias);
    }

    bool ok = check_describe(r, &g, label);
    clt_status st = clt_gemm(r->ctx, &g, NULL);
    if (st != CLT_OK) {
        print_error("%s: clt_gemm: %s: %s\n", label, clt_status_name(st), clt_last_error());
        ok = false;
    }

    /* the whole of C's buffer */
    unsigned char *got = ts_download_all(cc.buf);
    float *got_val = malloc(cc.n * sizeof(float)), *want_val = malloc(cc.n * sizeof(float));
    assert_non_null(got_val);
    assert_non_null(want_val);
    ts_assert_ok(clt_convert(CLT_DTYPE_F32, got_val, co->c, got, cc.n));
    ts_assert_ok(clt_convert(CLT_DTYPE_F32, want_val, co->c, want, cc.n));
    const double f32_tol = c->ints ? 0.0 : 1e-5 * sqrt((double)c->K);
    int bad = 0, bad_outside = 0;
    double worst = 0.0;
    size_t worst_i = 0;
    for (size_t i = 0; st == CLT_OK && i < cc.n; i++) {
        if (!covers(&cc, i, &pb, &pr, &pc)) {
            if (memcmp(got + i * cc.esize, want + i * cc.esize, cc.esize) != 0) {
                if (bad_outside++ < 3)
                    print_error("%s: element %zu of C's buffer, outside the tensor, was "
                                "changed: %.9g, was %.9g\n",
                                label, i, (double)got_val[i], (double)want_val[i]);
            }
            continue;
        }
        double gv = got_val[i], wv = want_val[i];
        double tol = c->ints ? 0.0 : f32_tol * (double)mag[i];
        if (!c->ints && co->c == CLT_DTYPE_F16)
            tol += ulp_of(fmax(fabs(gv), fabs(wv)), 11, -14);
        else if (!c->ints && co->c == CLT_DTYPE_BF16)
            tol += ulp_of(fmax(fabs(gv), fabs(wv)), 8, -126);
        double err = isnan(gv) || isinf(gv) ? INFINITY : fabs(gv - wv);
        if (err > tol) {
            double excess = tol > 0 ? err / tol : INFINITY;
            if (bad == 0 || excess > worst) {
                worst = excess;
                worst_i = i;
            }
            if (bad++ < 3)
                print_error("%s: C[%lld][%lld][%lld] = %.9g, want %.9g (|diff| %.3g > tol "
                            "%.3g)\n", label, (long long)pb, (long long)pr, (long long)pc, gv,
                            wv, err, tol);
        }
    }
    if (bad) {
        covers(&cc, worst_i, &pb, &pr, &pc);
        print_error("%s: %d elements of C wrong; worst at C[%lld][%lld][%lld]: %.9g, want "
                    "%.9g\n", label, bad, (long long)pb, (long long)pr, (long long)pc,
                    (double)got_val[worst_i], (double)want_val[worst_i]);
        ok = false;
    }
    if (bad_outside) {
        print_error("%s: %d of C's buffer's elements outside the tensor were written\n",
                    label, bad_outside);
        ok = false;
    }
    free(got);
    free(got_val);
    free(want_val);

    /* the inputs are untouched */
    void *in = ts_download_all(a.buf);
    if (memcmp(in, a.raw, a.n * a.esize) != 0) {
        print_error("%s: a was modified\n", label);
        ok = false;
    }
    free(in);
    in = ts_download_all(b.buf);
    if (memcmp(in, b.raw, b.n * b.esize) != 0) {
        print_error("%s: b was modified\n", label);
        ok = false;
    }
    free(in);

    free(want);
    free(mag);
    free_operand(&a);
    free_operand(&b);
    free_operand(&cc);
    if (c->bias)
        free_operand(&bias);
    return ok;
}

/* ---- the tests ------------------------------------------------------------------------ */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Runs every case and storage combination under configuration `cfg_index`. */
static void run_config(const char *device, int cfg_index)
{
    const struct config *cfg = &configs[cfg_index];
    bool opencl = strncmp(device, "opencl", 6) == 0;
    /* Forced kernels are the OpenCL driver's; other devices run the cases once. */
    if (cfg->params && !opencl)
        skip();

    /* Contexts read the parameters on their first GEMM: set them before, whatever an
     * earlier test that failed half-way left behind. */
    setenv("CLT_TUNE", "off", 1);
    if (cfg->params)
        setenv("CLT_GEMM_PARAMS", cfg->params, 1);
    else
        unsetenv("CLT_GEMM_PARAMS");
    clt_context_opts opts;
    clt_context_opts_init(&opts);
    opts.tune = CLT_TUNE_OFF;
    clt_context *ctx = NULL;
    clt_status st = ts_context_open(device, &opts, &ctx);
    if (st != CLT_OK) {
        unsetenv("CLT_GEMM_PARAMS");
        fail_msg("cannot open %s: %s: %s", device, clt_status_name(st), clt_last_error());
    }

    struct run r = {ctx, device, cfg, opencl, 0};
    double t0 = now_seconds();
    int failures = 0, runs = 0;
    for (int i = 0; i < N_CASES; i++) {
        for (int k = 0; k < N_COMBOS; k++) {
            if (!runs_here(cfg_index, k, cases[i].ta, cases[i].tb))
                continue;
            failures += !run_case(&r, &cases[i], &combos[k],
                                  (uint64_t)(1000 * i + 10 * k + cfg_index));
            runs++;
        }
    }
    struct fcase big = big_case(cfg_index);
    failures += !run_case(&r, &big, &combos[cfg_index % N_COMBOS], 777u + (uint64_t)cfg_index);
    runs++;

    clt_stats stats;
    ts_assert_ok(clt_context_stats(ctx, &stats));
    double seconds = now_seconds() - t0;
    fprintf(stderr, "    %s [%s]: %d GEMMs in %.2f s (%llu programs built, %.2f s; %llu from "
            "cache; %llu on the host fallback)\n", device, cfg->name, runs, seconds,
            (unsigned long long)stats.programs_built, stats.build_seconds,
            (unsigned long long)stats.programs_from_cache,
            (unsigned long long)stats.ops_fallback);
    clt_context_destroy(ctx);
    unsetenv("CLT_GEMM_PARAMS");

    assert_int_equal(stats.ops_run, (uint64_t)runs);
    if (failures)
        fail_msg("%s [%s]: %d of %d GEMMs failed", device, cfg->name, failures, runs);
    if (r.describe_failures)
        fail_msg("%s [%s]: clt_op_describe named another kernel in %d GEMMs", device,
                 cfg->name, r.describe_failures);
    /* every storage combination runs on the OpenCL device itself */
    if (opencl)
        assert_int_equal(stats.ops_fallback, 0);
}

static void gemm_default(void **state) { run_config(*state, 0); }
static void gemm_direct(void **state) { run_config(*state, 1); }
static void gemm_cpu(void **state) { run_config(*state, 2); }
static void gemm_cpu_odd(void **state) { run_config(*state, 3); }
static void gemm_gpu(void **state) { run_config(*state, 4); }
static void gemm_gpu_small(void **state) { run_config(*state, 5); }

int main(void)
{
    const ts_device_test tests[] = {
        {"gemm_default", gemm_default},   {"gemm_direct", gemm_direct},
        {"gemm_cpu", gemm_cpu},           {"gemm_cpu_odd", gemm_cpu_odd},
        {"gemm_gpu", gemm_gpu},           {"gemm_gpu_small", gemm_gpu_small},
    };
    _Static_assert(sizeof tests / sizeof tests[0] == N_CONFIGS, "a test per configuration");
    return ts_run_per_device("gemm_families", tests, sizeof tests / sizeof tests[0]);
}
