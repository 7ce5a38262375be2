/* GEMM on the host driver: CBLAS (OpenBLAS) where clt was built with it and the
 * layout suits it, else the reference loops. f16/bf16 tensors are widened to f32 first:
 * the arithmetic is f32 either way, and CBLAS is far faster than any loop here. */
#include <limits.h>
#include <stdlib.h>

#include "backends/host/host_driver.h"
#include "backends/host/ref.h"
#include "runtime/error.h"
#include "runtime/ops.h"

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
#endif

static void gemm_f32(const clt_gemm_args *g, const float *a, const float *b, float *c,
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
    clt_ref_gemm(g, a, b, c, bias);
}

/* An f32 copy of everything a tensor spans (same strides), or NULL for want of memory. */
static float *widen(const clt_tensor *t, const void *data)
{
    size_t bytes = 0;
    clt_tensor_extent(t, &bytes); /* validated */
    const size_t n = bytes / clt_dtype_size(t->dtype);
    float *wide = malloc(n * sizeof(float));
    if (wide)
        clt_convert(CLT_DTYPE_F32, wide, t->dtype, data, n);
    return wide;
}

/* The f32 C the product accumulates into: C widened, or with beta = 0, where C's old
 * values are not read (they may never have been written), zeros over the same span. */
static float *widen_c(const clt_gemm_args *g, const void *c)
{
    if (g->beta != 0.0f)
        return widen(&g->c, c);
    size_t bytes = 0;
    clt_tensor_extent(&g->c, &bytes); /* validated */
    return calloc(bytes / clt_dtype_size(g->c.dtype), sizeof(float));
}

/* Writes C's own elements (not the gaps between its rows) back in its dtype. */
static void narrow_c(const clt_tensor *t, const float *wide, void *data)
{
    const int r = t->rank;
    const int64_t batch = r == 3 ? t->shape[0] : 1, rows = t->shape[r - 2];
    const int64_t bs = r == 3 ? t->strides[0] : 0, ld = t->strides[r - 2];
    for (int64_t p = 0; p < batch; p++)
        for (int64_t i = 0; i < rows; i++) {
            const int64_t row = p * bs + i * ld;
            clt_convert(t->dtype, (char *)data + row * 2, CLT_DTYPE_F32, wide + row,
                        (size_t)t->shape[r - 1]);
        }
}

clt_status clt_host_gemm(const clt_gemm_args *g, const void *a, const void *b, void *c,
                         const void *bias)
{
    if (g->a.dtype == CLT_DTYPE_F32 && g->c.dtype == CLT_DTYPE_F32) {
        gemm_f32(g, a, b, c, bias);
        return CLT_OK;
    }
    clt_gemm_args wide = *g;
    wide.a.dtype = wide.b.dtype = wide.c.dtype = wide.bias.dtype = CLT_DTYPE_F32;
    float *wa = widen(&g->a, a), *wb = widen(&g->b, b), *wc = NULL, *wbias = NULL;
    const bool c_wide = g->c.dtype != CLT_DTYPE_F32;
    wc = c_wide ? widen_c(g, c) : c;
    wbias = bias && g->bias.dtype != CLT_DTYPE_F32 ? widen(&g->bias, bias) : (float *)bias;
    clt_status s = CLT_OK;
    if (!wa || !wb || !wc || (bias && !wbias)) {
        s = clt_fail(CLT_ERR_OUT_OF_MEMORY, "gemm: host: no memory to widen %s tensors to f32",
                     clt_dtype_name(g->a.dtype));
        goto done;
    }
    gemm_f32(&wide, wa, wb, wc, wbias);
    if (c_wide)
        narrow_c(&g->c, wc, c);
done:
    free(wa);
    free(wb);
    if (c_wide)
        free(wc);
    if (wbias != bias)
        free(wbias);
    return s;
}
