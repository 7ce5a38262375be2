/* Token and position embeddings, the reference (include/clt/op.h): the forward gather
 * and the backward scatter-add, which sums each token's gradient in position order. */
#include <math.h>

#include "backends/host/ref.h"
#include "runtime/dtype_access.h"

void clt_ref_embedding_fwd(const clt_embedding_fwd_args *g, const int32_t *tokens,
                           const void *wte, const void *wpe, void *out)
{
    // tokens (B,T) i32, wte (V,C) row stride ld_wte, wpe (T_max,C) row stride ld_wpe or
    // absent, out (B,T,C) with strides (s0, s1, 1)
    const clt_dtype d = g->wte.dtype;
    const int64_t B = g->tokens.shape[0], T = g->tokens.shape[1];
    const int64_t V = g->wte.shape[0], C = g->wte.shape[1];
    const int64_t ld_wte = g->wte.strides[0], ld_wpe = wpe ? g->wpe.strides[0] : 0;
    const int64_t s0 = g->out.strides[0], s1 = g->out.strides[1];
    for (int64_t b = 0; b < B; b++) {
        for (int64_t t = 0; t < T; t++) {
            const int32_t ix = tokens[b * T + t];
            const size_t row = (size_t)(b * s0 + t * s1);
            for (int64_t c = 0; c < C; c++) {
                float v = NAN; /* a token outside [0, V): a NaN row, never a wild read */
                if (ix >= 0 && ix < V) {
                    v = clt_load_elem(d, wte, (size_t)(ix * ld_wte + c));
                    if (wpe)
                        v += clt_load_elem(d, wpe, (size_t)(t * ld_wpe + c));
                }
                clt_store_elem(d, out, row + (size_t)c, v);
            }
        }
    }
}

/* The workspace: C doubles (one row's sums), then head (V) and next (B·T) int64
 * (B·T may exceed 2^31 on the host). */
size_t clt_ref_embedding_bwd_workspace(const clt_embedding_bwd_args *g)
{
    const size_t C = (size_t)g->dwte.shape[1], V = (size_t)g->dwte.shape[0];
    const size_t positions = (size_t)g->tokens.shape[0] * (size_t)g->tokens.shape[1];
    return C * sizeof(double) + (V + positions) * sizeof(int64_t);
}

void clt_ref_embedding_bwd(const clt_embedding_bwd_args *g, const void *dout,
                           const int32_t *tokens, void *dwte, void *dwpe, void *workspace)
{
    // dout (B,T,C) strides (s0, s1, 1), tokens (B,T) i32, dwte (V,C) row stride ld_wte,
    // dwpe (T_max,C) row stride ld_wpe or absent
    const clt_dtype d = g->dwte.dtype;
    const int64_t B = g->tokens.shape[0], T = g->tokens.shape[1];
    const int64_t V = g->dwte.shape[0], C = g->dwte.shape[1];
    const int64_t ld_wte = g->dwte.strides[0], ld_wpe = dwpe ? g->dwpe.strides[0] : 0;
    const int64_t s0 = g->dout.strides[0], s1 = g->dout.strides[1];
    double *acc = workspace;                  // (C)
    int64_t *head = (int64_t *)(acc + C);     // (V): first position of each token, or -1
    int64_t *next = head + V;                 // (B·T): the token's next position, or -1

    /* Bucket the positions by token: walking backwards leaves each bucket as a list in
     * ascending position order, so every sum below runs in position order. Tokens
     * outside [0, V) are left out. */
    for (int64_t v = 0; v < V; v++)
        head[v] = -1;
    for (int64_t p = B * T - 1; p >= 0; p--) {
        const int32_t ix = tokens[p];
        if (ix < 0 || ix >= V)
            continue;
        next[p] = head[ix];
        head[ix] = p;
    }
    for (int64_t v = 0; v < V; v++) {
        if (head[v] < 0 && g->accumulate)
            continue; /* nothing to add */
        for (int64_t c = 0; c < C; c++)
            acc[c] = g->accumulate ? (double)clt_load_elem(d, dwte, (size_t)(v * ld_wte + c))
                                   : 0.0;
        for (int64_t p = head[v]; p >= 0; p = next[p]) {
            const size_t row = (size_t)((p / T) * s0 + (p % T) * s1);
            for (int64_t c = 0; c < C; c++)
                acc[c] += (double)clt_load_elem(d, dout, row + (size_t)c);
        }
        for (int64_t c = 0; c < C; c++)
            clt_store_elem(d, dwte, (size_t)(v * ld_wte + c), (float)acc[c]);
    }
    if (!dwpe)
        return;
    /* Every position counts here, whatever its token: dwpe[t] = Σ_b dout[b,t]. Rows
     * t >= T have no positions: their gradient is 0. */
    const int64_t T_max = g->dwpe.shape[0];
    for (int64_t t = 0; t < T_max; t++) {
        for (int64_t c = 0; c < C; c++) {
            const size_t at = (size_t)(t * ld_wpe + c);
            double sum = g->accumulate ? (double)clt_load_elem(d, dwpe, at) : 0.0;
            for (int64_t b = 0; t < T && b < B; b++)
                sum += (double)clt_load_elem(d, dout, (size_t)(b * s0 + t * s1 + c));
            clt_store_elem(d, dwpe, at, (float)sum);
        }
    }
}
