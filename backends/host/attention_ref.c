/* Attention, the reference: the definition every attention kernel is checked against.
 *
 * One query row at a time, so nothing of size T×T ever exists: the forward keeps one
 * row of T scores; the backward recomputes each probability from the stored logsumexp
 * (FlashAttention-2's formulation) and keeps no row at all. Arithmetic is in double, a
 * sharper oracle than any f32 kernel; each output is rounded to its dtype once.
 *
 * Each (b, h) first widens its keys and values into the workspace, (T, d) doubles each:
 * every key row is read by up to T query rows, and widening it once keeps the inner
 * loops plain double arithmetic instead of a dtype switch per element.
 *
 * NaN and infinity: a NaN in q_i reaches row i; a NaN in k_j or v_j reaches every row
 * that sees key j (with causal, rows i >= j; without, all rows). A NaN score makes its
 * row's lse and o NaN; a NaN value makes o NaN and leaves lse alone (0 · NaN is NaN, so
 * even a probability that underflowed passes it on). A +inf score makes its row NaN
 * (inf − inf in the max shift): such a softmax has no finite value. A −inf score gets
 * probability 0, as a mask would, unless all of its row's scores are −inf (NaN again).
 * With causal, row i sees keys 0..i, so row 0 sees key 0 and no row is ever empty:
 * finite inputs never give a NaN. The backward pass follows the same rules: whatever
 * the forward's o and lse carry, and NaN in dout_i, reach the gradients they feed. */
#include <math.h>
#include <stdint.h>

#include "backends/host/ref.h"
#include "runtime/dtype_access.h"

/* Bytes of a workspace of doubles: `mats` (T, d) matrices, `vec_t` rows of T and
 * `vec_d` rows of d. SIZE_MAX if that overflows (no allocation can then succeed). */
static size_t work_bytes(const clt_tensor *q, int64_t mats, int64_t vec_t, int64_t vec_d)
{
    const uint64_t T = (uint64_t)q->shape[2], d = (uint64_t)q->shape[3];
    uint64_t td, n, bytes;
    if (__builtin_mul_overflow(T, d, &td) ||
        __builtin_mul_overflow(td, (uint64_t)mats, &n) ||
        __builtin_add_overflow(n, (uint64_t)vec_t * T + (uint64_t)vec_d * d, &n) ||
        __builtin_mul_overflow(n, sizeof(double), &bytes) || bytes > SIZE_MAX)
        return SIZE_MAX;
    return (size_t)bytes;
}

size_t clt_ref_attention_fwd_work(const clt_attention_fwd_args *a)
{
    return work_bytes(&a->q, 2, 1, 2); /* k, v; scores; q_i, o_i */
}

size_t clt_ref_attention_bwd_work(const clt_attention_bwd_args *a)
{
    return work_bytes(&a->q, 4, 0, 3); /* k, v, dk, dv; q_i, dout_i, dq_i */
}

/* Element (b, h, i, 0) of a (B, H, T, d) tensor whose last stride is 1. */
static size_t row_at(const clt_tensor *t, int64_t b, int64_t h, int64_t i)
{
    return (size_t)(b * t->strides[0] + h * t->strides[1] + i * t->strides[2]);
}

static void load_row(const clt_tensor *t, const void *data, size_t at, int64_t d, double *row)
{
    for (int64_t c = 0; c < d; c++)
        row[c] = clt_load_elem(t->dtype, data, at + (size_t)c);
}

static void store_row(const clt_tensor *t, void *data, size_t at, int64_t d, const double *row,
                      double mul)
{
    for (int64_t c = 0; c < d; c++)
        clt_store_elem(t->dtype, data, at + (size_t)c, (float)(mul * row[c]));
}

/* Rows 0..T-1 of head (b, h) of t into a dense (T, d) matrix. */
static void load_head(const clt_tensor *t, const void *data, int64_t b, int64_t h,
                      double *out)
{
    const int64_t T = t->shape[2], d = t->shape[3];
    for (int64_t j = 0; j < T; j++)
        load_row(t, data, row_at(t, b, h, j), d, out + j * d);
}

static double dot(const double *x, const double *y, int64_t n)
{
    double acc = 0.0;
    for (int64_t c = 0; c < n; c++)
        acc += x[c] * y[c];
    return acc;
}

void clt_ref_attention_fwd(const clt_attention_fwd_args *a, const void *q, const void *k,
                           const void *v, void *o, float *lse, double *work)
{
    // q, k, v, o (B, H, T, d), any strides but the last; lse (B, H, T) contiguous
    const int64_t B = a->q.shape[0], H = a->q.shape[1], T = a->q.shape[2], d = a->q.shape[3];
    const double scale = a->scale;
    double *kh = work;          // (T, d) the keys of head (b, h)
    double *vh = kh + T * d;    // (T, d) its values
    double *p = vh + T * d;     // (T)    row i's scores, then their exponentials
    double *qi = p + T;         // (d)    query row i
    double *oi = qi + d;        // (d)    output row i before normalising

    for (int64_t b = 0; b < B; b++) {
        for (int64_t h = 0; h < H; h++) {
            load_head(&a->k, k, b, h, kh);
            load_head(&a->v, v, b, h, vh);
            for (int64_t i = 0; i < T; i++) {
                const int64_t n_keys = a->causal ? i + 1 : T;
                load_row(&a->q, q, row_at(&a->q, b, h, i), d, qi);

                double max = -INFINITY; /* NaN scores skip the max; exp(NaN) catches them */
                for (int64_t j = 0; j < n_keys; j++) {
                    p[j] = scale * dot(qi, kh + j * d, d);
                    if (p[j] > max)
                        max = p[j];
                }
                double sum = 0.0;
                for (int64_t j = 0; j < n_keys; j++) {
                    p[j] = exp(p[j] - max);
                    sum += p[j];
                }
                lse[(b * H + h) * T + i] = (float)(max + log(sum));

                for (int64_t c = 0; c < d; c++)
                    oi[c] = 0.0;
                for (int64_t j = 0; j < n_keys; j++)
                    for (int64_t c = 0; c < d; c++)
                        oi[c] += p[j] * vh[j * d + c];
                store_row(&a->o, o, row_at(&a->o, b, h, i), d, oi, 1.0 / sum);
            }
        }
    }
}

void clt_ref_attention_bwd(const clt_attention_bwd_args *a, const void *q, const void *k,
                           const void *v, const void *o, const void *dout, const float *lse,
                           float *delta, void *dq, void *dk, void *dv, double *work)
{
    // q, k, v, o, dout, dq, dk, dv (B, H, T, d), any strides but the last;
    // lse, delta (B, H, T) contiguous
    const int64_t B = a->q.shape[0], H = a->q.shape[1], T = a->q.shape[2], d = a->q.shape[3];
    const double scale = a->scale;
    double *kh = work;          // (T, d) the keys of head (b, h)
    double *vh = kh + T * d;    // (T, d) its values
    double *dkh = vh + T * d;   // (T, d) Σ_i ds_ij q_i, scaled when stored
    double *dvh = dkh + T * d;  // (T, d) Σ_i p_ij dout_i
    double *qi = dvh + T * d;   // (d)    query row i
    double *doi = qi + d;       // (d)    dout row i
    double *dqi = doi + d;      // (d)    Σ_j ds_ij k_j, scaled when stored

    for (int64_t b = 0; b < B; b++) {
        for (int64_t h = 0; h < H; h++) {
            load_head(&a->k, k, b, h, kh);
            load_head(&a->v, v, b, h, vh);
            for (int64_t x = 0; x < T * d; x++)
                dkh[x] = dvh[x] = 0.0;
            for (int64_t i = 0; i < T; i++) {
                const int64_t n_keys = a->causal ? i + 1 : T;
                const size_t stat = (size_t)((b * H + h) * T + i);
                load_row(&a->q, q, row_at(&a->q, b, h, i), d, qi);
                load_row(&a->dout, dout, row_at(&a->dout, b, h, i), d, doi);

                /* delta_i = dout_i · o_i = Σ_j p_ij (dout_i · v_j), from the stored o */
                const size_t o_at = row_at(&a->o, b, h, i);
                double delta_i = 0.0;
                for (int64_t c = 0; c < d; c++)
                    delta_i += doi[c] * clt_load_elem(a->o.dtype, o, o_at + (size_t)c);
                delta[stat] = (float)delta_i;

                for (int64_t c = 0; c < d; c++)
                    dqi[c] = 0.0;
                for (int64_t j = 0; j < n_keys; j++) {
                    const double *kj = kh + j * d, *vj = vh + j * d;
                    const double p = exp(scale * dot(qi, kj, d) - (double)lse[stat]);
                    const double ds = p * (dot(doi, vj, d) - delta_i);
                    for (int64_t c = 0; c < d; c++) {
                        dvh[j * d + c] += p * doi[c];
                        dkh[j * d + c] += ds * qi[c];
                        dqi[c] += ds * kj[c];
                    }
                }
                store_row(&a->dq, dq, row_at(&a->dq, b, h, i), d, dqi, scale);
            }
            for (int64_t j = 0; j < T; j++) {
                store_row(&a->dk, dk, row_at(&a->dk, b, h, j), d, dkh + j * d, scale);
                store_row(&a->dv, dv, row_at(&a->dv, b, h, j), d, dvh + j * d, 1.0);
            }
        }
    }
}
