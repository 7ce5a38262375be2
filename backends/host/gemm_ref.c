/* GEMM, the reference: the definition every GEMM kernel is checked against. */
#include "backends/host/ref.h"
#include "runtime/dtype_access.h"

void clt_ref_gemm(const clt_gemm_args *g, const void *a, const void *b, void *c,
                  const void *bias)
{
    // c (batch, M, N) or (M, N); a (batch, M, K), (M, K) or transposed (.., K, M);
    // b (batch, K, N), (K, N) or transposed (.., N, K); bias (N)
    const int rc = g->c.rank, ra = g->a.rank, rb = g->b.rank;
    const int64_t batch = rc == 3 ? g->c.shape[0] : 1;
    const int64_t M = g->c.shape[rc - 2], N = g->c.shape[rc - 1];
    const int64_t K = g->trans_a ? g->a.shape[ra - 2] : g->a.shape[ra - 1];
    const int64_t lda = g->a.strides[ra - 2], ldb = g->b.strides[rb - 2];
    const int64_t ldc = g->c.strides[rc - 2];
    const int64_t a_batch = ra == 3 ? g->a.strides[0] : 0;
    const int64_t b_batch = rb == 3 ? g->b.strides[0] : 0;
    const int64_t c_batch = rc == 3 ? g->c.strides[0] : 0;

    for (int64_t p = 0; p < batch; p++) {
        for (int64_t i = 0; i < M; i++) {
            for (int64_t j = 0; j < N; j++) {
                double acc = 0.0;
                for (int64_t k = 0; k < K; k++) {
                    const int64_t ai = p * a_batch + (g->trans_a ? k * lda + i : i * lda + k);
                    const int64_t bi = p * b_batch + (g->trans_b ? j * ldb + k : k * ldb + j);
                    acc += (double)clt_load_elem(g->a.dtype, a, (size_t)ai) *
                           (double)clt_load_elem(g->b.dtype, b, (size_t)bi);
                }
                const int64_t ci = p * c_batch + i * ldc + j;
                double out = (double)g->alpha * acc;
                if (g->beta != 0.0f) /* beta = 0: C is not read */
                    out += (double)g->beta * clt_load_elem(g->c.dtype, c, (size_t)ci);
                if (bias)
                    out += clt_load_elem(g->bias.dtype, bias, (size_t)j);
                clt_store_elem(g->c.dtype, c, (size_t)ci, (float)out);
            }
        }
    }
}

void clt_ref_gemm_f32(const clt_gemm_args *g, const float *a, const float *b, float *c,
                      const float *bias)
{
    clt_ref_gemm(g, a, b, c, bias);
}
