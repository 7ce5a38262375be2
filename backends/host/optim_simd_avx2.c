/* The optimizer loops in AVX2, 8 floats at a time: the scalar loops' operations in the
 * scalar loops' order (mul, add, div, sqrt: each IEEE-rounded, no FMA), so the same bits;
 * tails go to the scalar loops themselves. Compiled for every x86-64 build through
 * per-function target attributes and used only where the CPU says it has AVX2. */
#include "backends/host/optim_simd.h"

#ifdef CLT_HAVE_OPTIM_AVX2
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2")))

AVX2 static void adam_step(const struct clt_adam_k *k, float *p, const float *grad,
                           float *m, float *v, size_t n)
{
    const __m256 b1 = _mm256_set1_ps(k->b1), omb1 = _mm256_set1_ps(k->omb1);
    const __m256 b2 = _mm256_set1_ps(k->b2), omb2 = _mm256_set1_ps(k->omb2);
    const __m256 bc1 = _mm256_set1_ps(k->bc1), bc2 = _mm256_set1_ps(k->bc2);
    const __m256 eps = _mm256_set1_ps(k->eps), wd = _mm256_set1_ps(k->wd);
    const __m256 lr = _mm256_set1_ps(k->lr), gs = _mm256_set1_ps(k->gs);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 g = _mm256_mul_ps(gs, _mm256_loadu_ps(grad + i));
        const __m256 pi = _mm256_loadu_ps(p + i);
        const __m256 mi = _mm256_add_ps(_mm256_mul_ps(b1, _mm256_loadu_ps(m + i)),
                                        _mm256_mul_ps(omb1, g));
        const __m256 vi = _mm256_add_ps(_mm256_mul_ps(b2, _mm256_loadu_ps(v + i)),
                                        _mm256_mul_ps(omb2, _mm256_mul_ps(g, g)));
        const __m256 den = _mm256_add_ps(_mm256_sqrt_ps(_mm256_div_ps(vi, bc2)), eps);
        const __m256 u = _mm256_add_ps(_mm256_div_ps(_mm256_div_ps(mi, bc1), den),
                                       _mm256_mul_ps(wd, pi));
        _mm256_storeu_ps(m + i, mi);
        _mm256_storeu_ps(v + i, vi);
        _mm256_storeu_ps(p + i, _mm256_sub_ps(pi, _mm256_mul_ps(lr, u)));
    }
    clt_optim_kernels_scalar.adam_step(k, p + i, grad + i, m + i, v + i, n - i);
}

AVX2 static void adam_moments(const struct clt_adam_k *k, const float *grad, float *m,
                              float *v, size_t n)
{
    const __m256 b1 = _mm256_set1_ps(k->b1), omb1 = _mm256_set1_ps(k->omb1);
    const __m256 b2 = _mm256_set1_ps(k->b2), omb2 = _mm256_set1_ps(k->omb2);
    const __m256 gs = _mm256_set1_ps(k->gs);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 g = _mm256_mul_ps(gs, _mm256_loadu_ps(grad + i));
        _mm256_storeu_ps(m + i, _mm256_add_ps(_mm256_mul_ps(b1, _mm256_loadu_ps(m + i)),
                                              _mm256_mul_ps(omb1, g)));
        _mm256_storeu_ps(v + i, _mm256_add_ps(_mm256_mul_ps(b2, _mm256_loadu_ps(v + i)),
                                              _mm256_mul_ps(omb2, _mm256_mul_ps(g, g))));
    }
    clt_optim_kernels_scalar.adam_moments(k, grad + i, m + i, v + i, n - i);
}

AVX2 static void adam_direction(const struct clt_adam_k *k, const float *p, const float *m,
                                const float *v, float *u, size_t n)
{
    const __m256 bc1 = _mm256_set1_ps(k->bc1), bc2 = _mm256_set1_ps(k->bc2);
    const __m256 eps = _mm256_set1_ps(k->eps), wd = _mm256_set1_ps(k->wd);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 den =
            _mm256_add_ps(_mm256_sqrt_ps(_mm256_div_ps(_mm256_loadu_ps(v + i), bc2)), eps);
        _mm256_storeu_ps(u + i,
                         _mm256_add_ps(_mm256_div_ps(_mm256_div_ps(_mm256_loadu_ps(m + i), bc1),
                                                     den),
                                       _mm256_mul_ps(wd, _mm256_loadu_ps(p + i))));
    }
    clt_optim_kernels_scalar.adam_direction(k, p + i, m + i, v + i, u + i, n - i);
}

AVX2 static void sgd_step(const struct clt_sgd_k *k, float *p, const float *grad, float *buf,
                          size_t n)
{
    const __m256 b1 = _mm256_set1_ps(k->b1), wd = _mm256_set1_ps(k->wd);
    const __m256 lr = _mm256_set1_ps(k->lr), gs = _mm256_set1_ps(k->gs);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 pi = _mm256_loadu_ps(p + i);
        const __m256 g = _mm256_add_ps(_mm256_mul_ps(gs, _mm256_loadu_ps(grad + i)),
                                       _mm256_mul_ps(wd, pi));
        __m256 step = g;
        if (buf) {
            const __m256 b = _mm256_add_ps(_mm256_mul_ps(b1, _mm256_loadu_ps(buf + i)), g);
            _mm256_storeu_ps(buf + i, b);
            step = k->nesterov ? _mm256_add_ps(g, _mm256_mul_ps(b1, b)) : b;
        }
        _mm256_storeu_ps(p + i, _mm256_sub_ps(pi, _mm256_mul_ps(lr, step)));
    }
    clt_optim_kernels_scalar.sgd_step(k, p + i, grad + i, buf ? buf + i : NULL, n - i);
}

const struct clt_optim_kernels clt_optim_kernels_avx2 = {
    .adam_step = adam_step,
    .adam_moments = adam_moments,
    .adam_direction = adam_direction,
    .sgd_step = sgd_step,
};
#else
/* ISO C wants something in a translation unit. */
typedef int clt_optim_simd_avx2_unused;
#endif
