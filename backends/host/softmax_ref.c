/* Softmax over rows and its gradient, the reference: the definition the kernels are
 * checked against. Sums in double; every row tensor is read and written through its
 * dtype and row stride.
 *
 * NaN and infinity: the row's maximum ignores NaN (fmax), so a NaN reaches the sum of
 * exponentials and makes the whole row NaN; +inf makes it NaN too (exp(inf − inf));
 * −inf gives 0; a row of −inf is NaN (0/0). Both algorithms of clt_softmax_algo compute
 * the same function, so the reference has one. */
#include <math.h>

#include "backends/host/ref.h"
#include "runtime/dtype_access.h"

void clt_ref_softmax(const clt_softmax_args *a, const void *x, void *y)
{
    // x (n, C), y (n, C); y may be x: each element is read before it is written
    const int64_t n = a->x.shape[0], C = a->x.shape[1];
    const int64_t xs = a->x.strides[0], ys = a->y.strides[0];
    for (int64_t r = 0; r < n; r++) {
        double mx = -INFINITY;
        for (int64_t c = 0; c < C; c++)
            mx = fmax(mx, clt_load_elem(a->x.dtype, x, (size_t)(r * xs + c)));
        double sum = 0.0;
        for (int64_t c = 0; c < C; c++)
            sum += exp(clt_load_elem(a->x.dtype, x, (size_t)(r * xs + c)) - mx);
        for (int64_t c = 0; c < C; c++) {
            const double e = exp(clt_load_elem(a->x.dtype, x, (size_t)(r * xs + c)) - mx);
            clt_store_elem(a->y.dtype, y, (size_t)(r * ys + c), (float)(e / sum));
        }
    }
}

void clt_ref_softmax_bwd(const clt_softmax_bwd_args *a, const void *y, const void *dy,
                         void *dx)
{
    // y (n, C), dy (n, C), dx (n, C); dx may be dy
    const int64_t n = a->y.shape[0], C = a->y.shape[1];
    const int64_t ys = a->y.strides[0], dys = a->dy.strides[0], dxs = a->dx.strides[0];
    const clt_dtype dt = a->y.dtype;
    for (int64_t r = 0; r < n; r++) {
        double dot = 0.0; // Σ dy∘y
        for (int64_t c = 0; c < C; c++)
            dot += (double)clt_load_elem(dt, y, (size_t)(r * ys + c)) *
                   clt_load_elem(dt, dy, (size_t)(r * dys + c));
        for (int64_t c = 0; c < C; c++) {
            const double yv = clt_load_elem(dt, y, (size_t)(r * ys + c));
            const double g = clt_load_elem(dt, dy, (size_t)(r * dys + c));
            clt_store_elem(a->dx.dtype, dx, (size_t)(r * dxs + c), (float)(yv * (g - dot)));
        }
    }
}
