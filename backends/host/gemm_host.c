/* GEMM on the host driver: CBLAS (OpenBLAS) where clt was built with it and the
 * layout suits it, else the reference loops. */
#include <limits.h>

#include "backends/host/host_driver.h"
#include "backends/host/ref.h"

#ifdef CLT_HAVE_CBLAS
#include <cblas.h>

/* CBLAS wants a leading dimension >= the row length; a one-row matrix's row stride is
 * never used, so any value is fine there. Returns 0 where CBLAS cannot take it. */
static int blas_ld(const clt_tensor *t)
{
    const int64_t rows = t->shape[t->rank - 2], cols = t->shape[t->rank - 1];
    const int64_t ld = rows == 1 ? cols : t->strides[t->rank - 2];
    return ld >= cols && ld <= INT_MAX ? (int)ld : 0;
}

static void gemm_cblas(const clt_gemm_args *g, const float *a, const float *b, float *c,
                       int lda, int ldb, int ldc)
{
    const int rc = g->c.rank, ra = g->a.rank, rb = g->b.rank;
    const int64_t batch = rc == 3 ? g->c.shape[0] : 1;
    const int M = (int)g->c.shape[rc - 2], N = (int)g->c.shape[rc - 1];
    const int K = (int)(g->trans_a ? g->a.shape[ra - 2] : g->a.shape[ra - 1]);
    const int64_t a_batch = ra == 3 ? g->a.strides[0] : 0;
    const int64_t b_batch = rb == 3 ? g->b.strides[0] : 0;
    const int64_t c_batch = rc == 3 ? g->c.strides[0] : 0;
    for (int64_t p = 0; p < batch; p++)
        cblas_sgemm(CblasRowMajor, g->trans_a ? CblasTrans : CblasNoTrans,
                    g->trans_b ? CblasTrans : CblasNoTrans, M, N, K, g->alpha, a + p * a_batch,
                    lda, b + p * b_batch, ldb, g->beta, c + p * c_batch, ldc);
}
#endif

static void add_bias(const clt_gemm_args *g, float *c, const float *bias)
{
    // c (batch, M, N), bias (N)
    const int rc = g->c.rank;
    const int64_t batch = rc == 3 ? g->c.shape[0] : 1;
    const int64_t M = g->c.shape[rc - 2], N = g->c.shape[rc - 1];
    const int64_t ldc = g->c.strides[rc - 2], c_batch = rc == 3 ? g->c.strides[0] : 0;
    for (int64_t p = 0; p < batch; p++)
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++)
                c[p * c_batch + i * ldc + j] += bias[j];
}

void clt_host_gemm_f32(const clt_gemm_args *g, const float *a, const float *b, float *c,
                       const float *bias)
{
#ifdef CLT_HAVE_CBLAS
    const int lda = blas_ld(&g->a), ldb = blas_ld(&g->b), ldc = blas_ld(&g->c);
    if (lda && ldb && ldc) {
        gemm_cblas(g, a, b, c, lda, ldb, ldc);
        if (bias)
            add_bias(g, c, bias);
        return;
    }
#endif
    (void)add_bias;
    clt_ref_gemm_f32(g, a, b, c, bias);
}
