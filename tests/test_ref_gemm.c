/* The oracle itself: clt_ref_gemm_f32 against hand-computed results and an independent
 * naive loop written here from the definition in include/clt/op.h. */
#include <math.h>

#include "backends/host/ref.h"
#include "support/support.h"

static void desc2(clt_tensor *t, int64_t r, int64_t c, int64_t rs)
{
    memset(t, 0, sizeof *t);
    t->dtype = CLT_DTYPE_F32;
    t->rank = 2;
    t->shape[0] = r;
    t->shape[1] = c;
    t->strides[0] = rs;
    t->strides[1] = 1;
}

static void desc3(clt_tensor *t, int64_t b, int64_t r, int64_t c, int64_t bs, int64_t rs)
{
    desc2(t, r, c, rs);
    t->rank = 3;
    t->shape[0] = b;
    t->shape[1] = r;
    t->shape[2] = c;
    t->strides[0] = bs;
    t->strides[1] = rs;
    t->strides[2] = 1;
}

static void desc1(clt_tensor *t, int64_t n)
{
    memset(t, 0, sizeof *t);
    t->dtype = CLT_DTYPE_F32;
    t->rank = 1;
    t->shape[0] = n;
    t->strides[0] = 1;
}

static void hand_2x2(void **state)
{
    (void)state;
    /* A = [1 2; 3 4], B = [5 6; 7 8] */
    const float a[4] = {1, 2, 3, 4}, b[4] = {5, 6, 7, 8};
    clt_gemm_args g;
    memset(&g, 0, sizeof g);
    desc2(&g.a, 2, 2, 2);
    desc2(&g.b, 2, 2, 2);
    desc2(&g.c, 2, 2, 2);
    g.alpha = 1;
    g.beta = 0;
    float c[4] = {NAN, NAN, NAN, NAN};
    clt_ref_gemm_f32(&g, a, b, c, NULL);
    const float ab[4] = {19, 22, 43, 50};
    assert_memory_equal(c, ab, sizeof c);

    /* A^T B = [1 3; 2 4][5 6; 7 8] = [26 30; 38 44] */
    g.trans_a = true;
    clt_ref_gemm_f32(&g, a, b, c, NULL);
    const float atb[4] = {26, 30, 38, 44};
    assert_memory_equal(c, atb, sizeof c);

    /* A B^T = [1 2; 3 4][5 7; 6 8] = [17 23; 39 53] */
    g.trans_a = false;
    g.trans_b = true;
    clt_ref_gemm_f32(&g, a, b, c, NULL);
    const float abt[4] = {17, 23, 39, 53};
    assert_memory_equal(c, abt, sizeof c);

    /* A^T B^T = (BA)^T; BA = [23 34; 31 46] */
    g.trans_a = true;
    clt_ref_gemm_f32(&g, a, b, c, NULL);
    const float atbt[4] = {23, 31, 34, 46};
    assert_memory_equal(c, atbt, sizeof c);

    /* alpha 2, beta -1, bias [10 20]: 2·AB − C + bias */
    g.trans_a = g.trans_b = false;
    g.alpha = 2;
    g.beta = -1;
    desc1(&g.bias, 2);
    float c2[4] = {1, 1, 2, 2};
    const float bias[2] = {10, 20};
    clt_ref_gemm_f32(&g, a, b, c2, bias);
    const float want[4] = {2 * 19 - 1 + 10, 2 * 22 - 1 + 20, 2 * 43 - 2 + 10, 2 * 50 - 2 + 20};
    assert_memory_equal(c2, want, sizeof c2);
}

static void hand_1x1_and_vector(void **state)
{
    (void)state;
    clt_gemm_args g;
    memset(&g, 0, sizeof g);
    desc2(&g.a, 1, 1, 1);
    desc2(&g.b, 1, 1, 1);
    desc2(&g.c, 1, 1, 1);
    g.alpha = 0.5f;
    g.beta = 3;
    const float a = 6, b = 7;
    float c = 2;
    clt_ref_gemm_f32(&g, &a, &b, &c, NULL);
    assert_true(c == 0.5f * 42 + 3 * 2);

    /* (1,3)·(3,1): dot product [1 2 3]·[4 5 6] = 32, NaN in C with beta 0 ignored */
    const float x[3] = {1, 2, 3}, y[3] = {4, 5, 6};
    desc2(&g.a, 1, 3, 3);
    desc2(&g.b, 3, 1, 1);
    g.alpha = 1;
    g.beta = 0;
    c = NAN;
    clt_ref_gemm_f32(&g, x, y, &c, NULL);
    assert_true(c == 32);
    /* alpha 0, beta 0: C becomes 0 (or bias), whatever was there */
    g.alpha = 0;
    c = NAN;
    clt_ref_gemm_f32(&g, x, y, &c, NULL);
    assert_true(c == 0);
    const float bias1 = 5;
    desc1(&g.bias, 1);
    c = INFINITY;
    clt_ref_gemm_f32(&g, x, y, &c, &bias1);
    assert_true(c == 5);
}

/* Batched by hand: two 1x2·2x1 products, a shared b via batch stride 0, padded rows. */
static void hand_batched(void **state)
{
    (void)state;
    clt_gemm_args g;
    memset(&g, 0, sizeof g);
    /* a: 2 batches of (1,2), batch stride 3 (one padding float) */
    const float a[6] = {1, 2, -99, 3, 4, -99};
    /* b: (2,1) used for both batches: batch stride 0 */
    const float b[2] = {10, 100};
    desc3(&g.a, 2, 1, 2, 3, 2);
    desc3(&g.b, 2, 2, 1, 0, 1);
    desc3(&g.c, 2, 1, 1, 2, 1);  /* c batch stride 2: c[1] is padding */
    g.alpha = 1;
    g.beta = 1;
    float c[4] = {1, 555, 2, 555};
    clt_ref_gemm_f32(&g, a, b, c, NULL);
    assert_true(c[0] == 1 + 10 * 1 + 100 * 2);
    assert_true(c[1] == 555);
    assert_true(c[2] == 2 + 10 * 3 + 100 * 4);
    assert_true(c[3] == 555);
    /* the same with b rank 2 */
    desc2(&g.b, 2, 1, 1);
    float c2[4] = {1, 555, 2, 555};
    clt_ref_gemm_f32(&g, a, b, c2, NULL);
    assert_memory_equal(c, c2, sizeof c);
}

/* C = alpha op(A) op(B) + beta C + bias, element by element, in double. */
static void naive(const clt_gemm_args *g, const float *a, const float *b, float *c,
                  const float *bias)
{
    int rc = g->c.rank;
    int64_t nb = rc == 3 ? g->c.shape[0] : 1;
    int64_t m = g->c.shape[rc - 2], n = g->c.shape[rc - 1];
    int64_t k = g->trans_a ? g->a.shape[g->a.rank - 2] : g->a.shape[g->a.rank - 1];
    for (int64_t p = 0; p < nb; p++) {
        const float *ap = a + (g->a.rank == 3 ? p * g->a.strides[0] : 0);
        const float *bp = b + (g->b.rank == 3 ? p * g->b.strides[0] : 0);
        float *cp = c + (rc == 3 ? p * g->c.strides[0] : 0);
        int64_t lda = g->a.strides[g->a.rank - 2], ldb = g->b.strides[g->b.rank - 2];
        int64_t ldc = g->c.strides[rc - 2];
        for (int64_t i = 0; i < m; i++) {
            for (int64_t j = 0; j < n; j++) {
                double s = 0;
                for (int64_t q = 0; q < k; q++) {
                    double x = g->trans_a ? ap[q * lda + i] : ap[i * lda + q];
                    double y = g->trans_b ? bp[j * ldb + q] : bp[q * ldb + j];
                    s += x * y;
                }
                double v = g->alpha * s;
                if (g->beta != 0)
                    v += g->beta * (double)cp[i * ldc + j];
                if (bias)
                    v += bias[j];
                cp[i * ldc + j] = (float)v;
            }
        }
    }
}

static void against_naive(void **state)
{
    (void)state;
    ts_rng rng;
    ts_rng_seed(&rng, 5);
    int failures = 0;
    for (int trial = 0; trial < 200; trial++) {
        int64_t m = ts_rng_int(&rng, 1, 23), n = ts_rng_int(&rng, 1, 23),
                k = ts_rng_int(&rng, 1, 23);
        int64_t batch = ts_rng_int(&rng, 0, 3); /* 0: rank 2 */
        bool ta = ts_rng_int(&rng, 0, 1), tb = ts_rng_int(&rng, 0, 1);
        int amode = (int)ts_rng_int(&rng, 0, 2), bmode = (int)ts_rng_int(&rng, 0, 2);
        int64_t pad = ts_rng_int(&rng, 0, 3);
        clt_gemm_args g;
        memset(&g, 0, sizeof g);
        g.trans_a = ta;
        g.trans_b = tb;
        const float alphas[] = {1, 0, -0.5f, 2.5f}, betas[] = {0, 1, -0.5f, 2.5f};
        g.alpha = alphas[ts_rng_int(&rng, 0, 3)];
        g.beta = betas[ts_rng_int(&rng, 0, 3)];
        bool use_bias = ts_rng_int(&rng, 0, 1);
        int64_t ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
        int64_t ars = ac + pad, brs = bc + pad, crs = n + pad;
        size_t na, nbf, nc;
        if (batch == 0) {
            desc2(&g.a, ar, ac, ars);
            desc2(&g.b, br, bc, brs);
            desc2(&g.c, m, n, crs);
            na = (size_t)(ar * ars);
            nbf = (size_t)(br * brs);
            nc = (size_t)(m * crs);
        } else {
            if (amode == 1) /* shared, rank 2 */
                desc2(&g.a, ar, ac, ars);
            else
                desc3(&g.a, batch, ar, ac, amode == 2 ? 0 : ar * ars + pad, ars);
            if (bmode == 1)
                desc2(&g.b, br, bc, brs);
            else
                desc3(&g.b, batch, br, bc, bmode == 2 ? 0 : br * brs + pad, brs);
            desc3(&g.c, batch, m, n, m * crs + pad, crs);
            na = (size_t)(batch * (ar * ars + pad));
            nbf = (size_t)(batch * (br * brs + pad));
            nc = (size_t)(batch * (m * crs + pad));
        }
        if (use_bias)
            desc1(&g.bias, n);
        float *a = malloc(na * sizeof *a), *b = malloc(nbf * sizeof *b);
        float *c1 = malloc(nc * sizeof *c1), *c2 = malloc(nc * sizeof *c2);
        float bias[32];
        assert_true(a && b && c1 && c2);
        ts_fill_floats(&rng, a, na, -1, 1);
        ts_fill_floats(&rng, b, nbf, -1, 1);
        ts_fill_floats(&rng, c1, nc, -1, 1);
        ts_fill_floats(&rng, bias, 32, -1, 1);
        if (g.beta == 0)
            for (size_t i = 0; i < nc; i += 2)
                c1[i] = NAN; /* must not leak through */
        memcpy(c2, c1, nc * sizeof *c1);
        clt_ref_gemm_f32(&g, a, b, c1, use_bias ? bias : NULL);
        naive(&g, a, b, c2, use_bias ? bias : NULL);
        if (g.beta == 0) {
            /* NaN may remain only in padding the naive loop left alone too */
            for (size_t i = 0; i < nc; i++)
                if (isnan(c1[i]) != isnan(c2[i]))
                    failures++;
        }
        char what[96];
        snprintf(what, sizeof what, "trial %d (%lldx%lldx%lld batch %lld)", trial,
                 (long long)m, (long long)n, (long long)k, (long long)batch);
        failures += !ts_close(c1, c2, nc, 1e-6, what);
        free(a);
        free(b);
        free(c1);
        free(c2);
    }
    assert_int_equal(failures, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hand_2x2),
        cmocka_unit_test(hand_1x1_and_vector),
        cmocka_unit_test(hand_batched),
        cmocka_unit_test(against_naive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
