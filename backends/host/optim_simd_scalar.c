/* The scalar optimizer loops: the definition of the per-element arithmetic that every
 * SIMD level reproduces bit for bit (optim_simd.h). The codec is quant8.c's and the
 * conversions are runtime/convert.c's, which define what the vector levels match. */
#include <math.h>

#include "backends/host/optim_simd.h"
#include "clt/convert.h"

static void adam_step(const struct clt_adam_k *k, float *p, const float *grad, float *m,
                      float *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const float g = k->gs * grad[i];
        const float mi = k->b1 * m[i] + k->omb1 * g;
        const float vi = k->b2 * v[i] + k->omb2 * (g * g);
        const float u = (mi / k->bc1) / (sqrtf(vi / k->bc2) + k->eps) + k->wd * p[i];
        m[i] = mi;
        v[i] = vi;
        p[i] = p[i] - k->lr * u;
    }
}

static void adam_moments(const struct clt_adam_k *k, const float *grad, float *m, float *v,
                         size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const float g = k->gs * grad[i];
        m[i] = k->b1 * m[i] + k->omb1 * g;
        v[i] = k->b2 * v[i] + k->omb2 * (g * g);
    }
}

static void adam_direction(const struct clt_adam_k *k, const float *p, const float *m,
                           const float *v, float *u, size_t n)
{
    for (size_t i = 0; i < n; i++)
        u[i] = (m[i] / k->bc1) / (sqrtf(v[i] / k->bc2) + k->eps) + k->wd * p[i];
}

static void sgd_step(const struct clt_sgd_k *k, float *p, const float *grad, float *buf,
                     size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const float g = k->gs * grad[i] + k->wd * p[i];
        float step = g;
        if (buf) {
            buf[i] = k->b1 * buf[i] + g;
            step = k->nesterov ? g + k->b1 * buf[i] : buf[i];
        }
        p[i] = p[i] - k->lr * step;
    }
}

static void q8_quantize(const struct clt_q8_codebook *cb, const float *x, size_t n,
                        size_t block, uint8_t *codes, float *absmax)
{
    clt_q8_quantize_thr(x, n, block, cb->thr, codes, absmax);
}

static void q8_dequantize(const struct clt_q8_codebook *cb, const uint8_t *codes,
                          const float *absmax, size_t n, size_t block, float *x)
{
    clt_q8_dequantize(codes, absmax, n, block, cb->map, x);
}

static void to_f16(const float *x, uint16_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = clt_f32_to_f16(x[i]);
}

static void to_bf16(const float *x, uint16_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = clt_f32_to_bf16(x[i]);
}

const struct clt_optim_kernels clt_optim_kernels_scalar = {
    .adam_step = adam_step,
    .adam_moments = adam_moments,
    .adam_direction = adam_direction,
    .sgd_step = sgd_step,
    .q8_quantize = q8_quantize,
    .q8_dequantize = q8_dequantize,
    .to_f16 = to_f16,
    .to_bf16 = to_bf16,
};
