/* The elementwise ops and the reductions beside them, the reference: GELU forward and
 * backward, add, scale, bias add, bias gradient and the squared norm
 * (include/clt/op.h). Every kernel of these ops is checked against these loops. */
#include <math.h>

#include "backends/host/ref.h"
#include "runtime/dtype_access.h"

#define GELU_SCALING_FACTOR 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_CUBIC 0.044715f

float clt_ref_gelu(float x)
{
    const float cube = GELU_CUBIC * x * x * x;
    return 0.5f * x * (1.0f + tanhf(GELU_SCALING_FACTOR * (x + cube)));
}

float clt_ref_gelu_grad(float x)
{
    /* llm.c's gelu_backward: d/dx of x/2·(1 + tanh(u)), u = s·(x + 0.044715 x³). Where
     * cosh(u)² overflows, sech² is 0, which is its limit. */
    const float cube = GELU_CUBIC * x * x * x;
    const float tanh_arg = GELU_SCALING_FACTOR * (x + cube);
    const float tanh_out = tanhf(tanh_arg);
    const float cosh_out = coshf(tanh_arg);
    const float sech_out = 1.0f / (cosh_out * cosh_out);
    return 0.5f * (1.0f + tanh_out) +
           x * 0.5f * sech_out * GELU_SCALING_FACTOR * (1.0f + 3.0f * GELU_CUBIC * x * x);
}

void clt_ref_gelu_fwd(const clt_gelu_args *g, const void *x, void *y)
{
    // x, y (n) contiguous, any shape flattened
    const clt_dtype d = g->x.dtype;
    const int64_t n = clt_tensor_numel(&g->x);
    for (int64_t i = 0; i < n; i++)
        clt_store_elem(d, y, (size_t)i, clt_ref_gelu(clt_load_elem(d, x, (size_t)i)));
}

void clt_ref_gelu_bwd(const clt_gelu_bwd_args *g, const void *x, const void *dy, void *dx)
{
    // x, dy, dx (n) contiguous
    const clt_dtype d = g->x.dtype;
    const int64_t n = clt_tensor_numel(&g->x);
    for (int64_t i = 0; i < n; i++) {
        const float grad = clt_ref_gelu_grad(clt_load_elem(d, x, (size_t)i));
        clt_store_elem(d, dx, (size_t)i, grad * clt_load_elem(d, dy, (size_t)i));
    }
}

void clt_ref_add(const clt_add_args *g, const void *a, const void *b, void *out)
{
    // a, b, out (n) contiguous; out may be a or b
    const clt_dtype d = g->a.dtype;
    const int64_t n = clt_tensor_numel(&g->a);
    for (int64_t i = 0; i < n; i++) {
        const float av = clt_load_elem(d, a, (size_t)i), bv = clt_load_elem(d, b, (size_t)i);
        clt_store_elem(d, out, (size_t)i, g->alpha * av + g->beta * bv);
    }
}

void clt_ref_scale(const clt_scale_args *g, void *x)
{
    // x (n) contiguous, in place
    const clt_dtype d = g->x.dtype;
    const int64_t n = clt_tensor_numel(&g->x);
    for (int64_t i = 0; i < n; i++)
        clt_store_elem(d, x, (size_t)i, g->alpha * clt_load_elem(d, x, (size_t)i));
}

void clt_ref_bias_add(const clt_bias_add_args *g, void *y, const void *bias)
{
    // y (rows, N) with row stride ld, bias (N)
    const clt_dtype d = g->y.dtype;
    const int64_t rows = g->y.shape[0], N = g->y.shape[1], ld = g->y.strides[0];
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t j = 0; j < N; j++) {
            const size_t at = (size_t)(r * ld + j);
            clt_store_elem(d, y, at,
                           clt_load_elem(d, y, at) + clt_load_elem(d, bias, (size_t)j));
        }
    }
}

void clt_ref_bias_grad(const clt_bias_grad_args *g, const void *dy, void *dbias)
{
    // dy (rows, N) with row stride ld, dbias (N)
    const clt_dtype d = g->dy.dtype;
    const int64_t rows = g->dy.shape[0], N = g->dy.shape[1], ld = g->dy.strides[0];
    for (int64_t j = 0; j < N; j++) {
        double sum = g->accumulate ? (double)clt_load_elem(d, dbias, (size_t)j) : 0.0;
        for (int64_t r = 0; r < rows; r++)
            sum += (double)clt_load_elem(d, dy, (size_t)(r * ld + j));
        clt_store_elem(d, dbias, (size_t)j, (float)sum);
    }
}

void clt_ref_sqnorm(const clt_sqnorm_args *g, const void *x, float *norm)
{
    // x (n) contiguous, norm (1) f32
    const clt_dtype d = g->x.dtype;
    const int64_t n = clt_tensor_numel(&g->x);
    double sum = g->accumulate ? (double)norm[0] : 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double v = (double)clt_load_elem(d, x, (size_t)i);
        sum += v * v;
    }
    norm[0] = (float)sum;
}
