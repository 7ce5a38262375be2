/* Cross-entropy fused with softmax, the reference: the definition the kernels are
 * checked against. Sums in double; logits are read through their dtype and row stride.
 *
 * Rows whose target is ignore_index count for nothing (n_valid counts the others). A
 * target outside [0, V) that is not ignore_index is a data error: the loss is NaN, and
 * that row of dlogits is NaN, so the error shows wherever it goes. NaN and infinity in a
 * row of logits make its lse, and so the loss, NaN (as softmax does). */
#include <math.h>

#include "backends/host/ref.h"
#include "runtime/dtype_access.h"

void clt_ref_cross_entropy_fwd(const clt_cross_entropy_fwd_args *a, const void *logits,
                               const int32_t *targets, float *loss, float *lse)
{
    // logits (n, V), targets (n), loss (1), lse (n)
    const int64_t n = a->logits.shape[0], V = a->logits.shape[1];
    const int64_t ls = a->logits.strides[0];
    const clt_dtype dt = a->logits.dtype;
    double sum = 0.0;
    int64_t n_valid = 0;
    for (int64_t r = 0; r < n; r++) {
        double mx = -INFINITY;
        for (int64_t v = 0; v < V; v++)
            mx = fmax(mx, clt_load_elem(dt, logits, (size_t)(r * ls + v)));
        double s = 0.0;
        for (int64_t v = 0; v < V; v++)
            s += exp(clt_load_elem(dt, logits, (size_t)(r * ls + v)) - mx);
        const double row_lse = mx + log(s);
        lse[r] = (float)row_lse;
        const int32_t t = targets[r];
        if (t == a->ignore_index)
            continue;
        n_valid++;
        if (t < 0 || t >= V)
            sum += NAN;
        else
            sum += row_lse - clt_load_elem(dt, logits, (size_t)(r * ls + t));
    }
    loss[0] = n_valid > 0 ? (float)(sum / (double)n_valid) : 0.0f;
}

void clt_ref_cross_entropy_bwd(const clt_cross_entropy_bwd_args *a, const void *logits,
                               const int32_t *targets, const float *lse, void *dlogits)
{
    // logits (n, V), targets (n), lse (n), dlogits (n, V); dlogits may be logits
    const int64_t n = a->logits.shape[0], V = a->logits.shape[1];
    const int64_t ls = a->logits.strides[0], ds = a->dlogits.strides[0];
    const clt_dtype dt = a->logits.dtype;
    int64_t n_valid = 0;
    for (int64_t r = 0; r < n; r++)
        n_valid += targets[r] != a->ignore_index;
    // dlogits = dloss · (softmax − onehot(target)) / n_valid
    const double scale = n_valid > 0 ? (double)a->dloss / (double)n_valid : 0.0;
    for (int64_t r = 0; r < n; r++) {
        const int32_t t = targets[r];
        const bool ignored = t == a->ignore_index, bad = !ignored && (t < 0 || t >= V);
        for (int64_t v = 0; v < V; v++) {
            double d = 0.0;
            if (bad) {
                d = NAN;
            } else if (!ignored) {
                const double p = exp(clt_load_elem(dt, logits, (size_t)(r * ls + v)) - lse[r]);
                d = (p - (v == t ? 1.0 : 0.0)) * scale;
            }
            clt_store_elem(a->dlogits.dtype, dlogits, (size_t)(r * ds + v), (float)d);
        }
    }
}
