/* LayerNorm forward and backward, the reference: the definition the kernels are checked
 * against. Sums in double; the variance is the biased one, taken about the mean in a
 * second pass over the row (no cancellation); row tensors are read and written through
 * their dtype and row stride.
 *
 * With eps = 0 a constant row has variance 0: rstd is +inf and the row of out NaN
 * (0·inf), as the formula says. NaN and infinity in x reach their whole row. */
#include <math.h>

#include "backends/host/ref.h"
#include "runtime/dtype_access.h"

void clt_ref_layernorm_fwd(const clt_layernorm_fwd_args *a, const void *x,
                           const void *weight, const void *bias, void *out, float *mean,
                           float *rstd)
{
    // x (n, C), weight (C), bias (C) or NULL, out (n, C), mean (n) or NULL, rstd (n) or NULL
    const int64_t n = a->x.shape[0], C = a->x.shape[1];
    const int64_t xs = a->x.strides[0], os = a->out.strides[0];
    const clt_dtype dt = a->x.dtype;
    for (int64_t r = 0; r < n; r++) {
        double m = 0.0;
        for (int64_t c = 0; c < C; c++)
            m += clt_load_elem(dt, x, (size_t)(r * xs + c));
        m /= (double)C;
        double var = 0.0;
        for (int64_t c = 0; c < C; c++) {
            const double d = clt_load_elem(dt, x, (size_t)(r * xs + c)) - m;
            var += d * d;
        }
        var /= (double)C;
        const double s = 1.0 / sqrt(var + (double)a->eps);
        for (int64_t c = 0; c < C; c++) {
            const double xhat = (clt_load_elem(dt, x, (size_t)(r * xs + c)) - m) * s;
            double o = xhat * clt_load_elem(dt, weight, (size_t)c);
            if (bias)
                o += clt_load_elem(dt, bias, (size_t)c);
            clt_store_elem(a->out.dtype, out, (size_t)(r * os + c), (float)o);
        }
        if (mean)
            mean[r] = (float)m;
        if (rstd)
            rstd[r] = (float)s;
    }
}

void clt_ref_layernorm_bwd(const clt_layernorm_bwd_args *a, const void *dout, const void *x,
                           const void *weight, const float *mean, const float *rstd, void *dx,
                           void *dweight, void *dbias)
{
    // dout (n, C), x (n, C), weight (C), mean (n), rstd (n), dx (n, C), dweight (C),
    // dbias (C) or NULL
    const int64_t n = a->x.shape[0], C = a->x.shape[1];
    const int64_t gs = a->dout.strides[0], xs = a->x.strides[0], dxs = a->dx.strides[0];
    const clt_dtype dt = a->x.dtype;
    // dx = rstd · (g − mean(g) − x̂ · mean(g∘x̂)), g = dout∘weight, x̂ = (x − mean)·rstd
    for (int64_t r = 0; r < n; r++) {
        const double m = mean[r], s = rstd[r];
        double sum_g = 0.0, sum_gx = 0.0;
        for (int64_t c = 0; c < C; c++) {
            const double xhat = (clt_load_elem(dt, x, (size_t)(r * xs + c)) - m) * s;
            const double g = (double)clt_load_elem(dt, dout, (size_t)(r * gs + c)) *
                             clt_load_elem(dt, weight, (size_t)c);
            sum_g += g;
            sum_gx += g * xhat;
        }
        const double mg = sum_g / (double)C, mgx = sum_gx / (double)C;
        for (int64_t c = 0; c < C; c++) {
            const double xhat = (clt_load_elem(dt, x, (size_t)(r * xs + c)) - m) * s;
            const double g = (double)clt_load_elem(dt, dout, (size_t)(r * gs + c)) *
                             clt_load_elem(dt, weight, (size_t)c);
            double v = s * (g - mg - xhat * mgx);
            if (a->accumulate)
                v += clt_load_elem(a->dx.dtype, dx, (size_t)(r * dxs + c));
            clt_store_elem(a->dx.dtype, dx, (size_t)(r * dxs + c), (float)v);
        }
    }
    // dweight = Σ_rows dout∘x̂, dbias = Σ_rows dout
    for (int64_t c = 0; c < C; c++) {
        double dw = 0.0, db = 0.0;
        for (int64_t r = 0; r < n; r++) {
            const double g = clt_load_elem(dt, dout, (size_t)(r * gs + c));
            const double xhat =
                (clt_load_elem(dt, x, (size_t)(r * xs + c)) - mean[r]) * (double)rstd[r];
            dw += g * xhat;
            db += g;
        }
        if (a->accumulate)
            dw += clt_load_elem(a->dweight.dtype, dweight, (size_t)c);
        clt_store_elem(a->dweight.dtype, dweight, (size_t)c, (float)dw);
        if (dbias) {
            if (a->accumulate)
                db += clt_load_elem(a->dbias.dtype, dbias, (size_t)c);
            clt_store_elem(a->dbias.dtype, dbias, (size_t)c, (float)db);
        }
    }
}
