/* CBLAS sgemm through OpenBLAS; see peer_cblas.h. */
#include "bench/peer_cblas.h"

#include <stdio.h>

#ifdef CLT_BENCH_HAVE_CBLAS
#include <cblas.h>

bool peer_cblas_available(void) { return true; }

const char *peer_cblas_describe(char *buf, size_t size)
{
    snprintf(buf, size, "%s, %d threads", openblas_get_config(), openblas_get_num_threads());
    return buf;
}

bool peer_cblas_sgemm(const bench_shape *s, const float *a, const float *b, float *c)
{
    const int m = (int)s->m, n = (int)s->n, k = (int)s->k;
    cblas_sgemm(CblasRowMajor, s->trans_a ? CblasTrans : CblasNoTrans,
                s->trans_b ? CblasTrans : CblasNoTrans, m, n, k, 1.0f, a,
                s->trans_a ? m : k, b, s->trans_b ? k : n, 0.0f, c, n);
    return true;
}

#else

bool peer_cblas_available(void) { return false; }

const char *peer_cblas_describe(char *buf, size_t size)
{
    snprintf(buf, size, "n/a: clt-bench was built without OpenBLAS");
    return buf;
}

bool peer_cblas_sgemm(const bench_shape *s, const float *a, const float *b, float *c)
{
    (void)s;
    (void)a;
    (void)b;
    (void)c;
    return false;
}

#endif
