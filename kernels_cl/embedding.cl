/* clt-prelude: dtype.cl */
/* Token and position embeddings (include/clt/op.h), f32 arithmetic over one storage
 * dtype (-DAB_DTYPE=d -DC_DTYPE=d; every floating tensor is a c_t). tokens (B,T) i32,
 * contiguous; wte (V,C) and wpe (T_max,C) with row strides; out and dout (B,T,C) with
 * strides (s0, s1, 1). Positions p = b·T + t are int (the driver keeps B·T < 2^31).
 * Row kernels run on a 1-D range over (rows, C), work-item id = row · C + c: some GPUs
 * cap the work-groups of a second dimension far below 2^31.
 *
 * Backward, deterministic without float atomics. dwte[v] must sum the gradients of the
 * positions holding token v; a scatter-add would race, so the positions are bucketed
 * by token first, as linked lists in ascending position order:
 *   embedding_link   one group per chunk of L positions (L = the group size): within
 *                    the chunk, each position's next position with the same token
 *                    (-1: none in the chunk) and whether it is its token's first;
 *   embedding_chain  one group, walking the chunks from last to first: a chunk's last
 *                    occurrence of a token links to head[token] (its first occurrence
 *                    in the later chunks), then the chunk's first occurrence becomes
 *                    head[token];
 *   embedding_dwte   a work-item per (token, channel) walks its token's list in order,
 *                    adds in registers and stores once (one rounding for f16/bf16).
 * Why this shape: a work-item per channel looping over all positions (parallelism C)
 * would read-modify-write dwte in storage at every step, rounding f16/bf16 each time
 * and leaving a GPU mostly idle; a sort needs a scan and a scatter pass per digit. Here
 * the linking is O(B·T·L) compares spread over B·T/L groups, the chain walk is
 * B·T/L short steps of one group, and the sums are one pass over dwte and dout. On a
 * CPU the same kernels run as loops (PoCL), with a smaller L.
 * The scratch is head (V), link (B·T), first (B·T) ints. Tokens outside [0, V) are
 * never linked: they add nothing to dwte. dwpe[t] = Σ_b dout[b,t] over every position
 * (embedding_dwpe, a work-item per (t, channel), batches in order). */

/* ---- forward ------------------------------------------------------------------------- */

/* out[b,t,c] = wte[tokens[b,t], c] (+ wpe[t, c]); a token outside [0, V) gives NaN. */
__kernel void embedding_fwd(const int n_pos, const int T, const int V, const int C,
                            __global const int *tokens, const ulong tokens_off,
                            __global const c_t *wte, const ulong wte_off, const long ld_wte,
                            __global const c_t *wpe, const ulong wpe_off, const long ld_wpe,
                            const int has_wpe,
                            __global c_t *out, const ulong out_off, const long s0,
                            const long s1)
{
    const ulong id = get_global_id(0);
    const ulong p = id / (ulong)C;
    const int c = (int)(id - p * (ulong)C);
    if (p >= (ulong)n_pos)
        return;
    const int b = (int)p / T, t = (int)p - b * T;
    const int ix = tokens[tokens_off + p];
    float value = NAN;
    if (ix >= 0 && ix < V) {
        value = LOAD_C(wte, wte_off + (ulong)((long)ix * ld_wte + c));
        if (has_wpe)
            value += LOAD_C(wpe, wpe_off + (ulong)((long)t * ld_wpe + c));
    }
    STORE_C(value, out, out_off + (ulong)((long)b * s0 + (long)t * s1 + c));
}

/* ---- backward: bucketing ------------------------------------------------------------- */

/* For the positions of this group's chunk: link[p] = the next position of the chunk with
 * p's token, or -1; first[p] = 1 when no earlier position of the chunk has it. Tokens
 * outside [0, V) get link -1 and first 0 (and are never looked at again). */
__kernel void embedding_link(const int n_pos, const int V,
                             __global const int *tokens, const ulong tokens_off,
                             __global int *scratch, __local int *chunk_tokens)
{
    __global int *link = scratch + V;
    __global int *first = link + n_pos;
    const int L = (int)get_local_size(0);
    const int lid = (int)get_local_id(0);
    const int base = (int)get_group_id(0) * L;
    const int p = base + lid;
    int ix = p < n_pos ? tokens[tokens_off + (ulong)p] : -1;
    if (ix < 0 || ix >= V)
        ix = -1; /* matches no valid token */
    chunk_tokens[lid] = ix;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (p >= n_pos)
        return;
    int next = -1, is_first = 0;
    if (ix >= 0) {
        for (int i = lid + 1; i < L && next < 0; i++)
            if (chunk_tokens[i] == ix)
                next = base + i;
        is_first = 1;
        for (int i = 0; i < lid && is_first; i++)
            if (chunk_tokens[i] == ix)
                is_first = 0;
    }
    link[p] = next;
    first[p] = is_first;
}

/* One work-group of the size embedding_link ran with: joins the chunks' lists into one
 * list per token (see the header) and leaves head[v], the token's first position or -1.
 * The barriers order the global reads and writes of head between the group's
 * work-items. */
__kernel void embedding_chain(const int n_pos, const int V,
                              __global const int *tokens, const ulong tokens_off,
                              __global int *scratch)
{
    __global int *head = scratch;
    __global int *link = scratch + V;
    __global const int *first = link + n_pos;
    const int L = (int)get_local_size(0);
    const int lid = (int)get_local_id(0);
    for (int v = lid; v < V; v += L)
        head[v] = -1;
    barrier(CLK_GLOBAL_MEM_FENCE);
    for (int base = (n_pos - 1) / L * L; base >= 0; base -= L) {
        const int p = base + lid;
        const int ix = p < n_pos ? tokens[tokens_off + (ulong)p] : -1;
        const bool valid = ix >= 0 && ix < V;
        if (valid && link[p] < 0)
            link[p] = head[ix]; /* the chunk's last occurrence: on to the later chunks */
        barrier(CLK_GLOBAL_MEM_FENCE);
        if (valid && first[p])
            head[ix] = p;
        barrier(CLK_GLOBAL_MEM_FENCE);
    }
}

/* ---- backward: sums ------------------------------------------------------------------ */

/* dwte[v, c] = (accumulate ? dwte[v, c] : 0) + Σ dout[p, c] over token v's positions, in
 * position order. A token with no positions keeps its row under accumulate and gets 0
 * otherwise. */
__kernel void embedding_dwte(const int T, const int V, const int C,
                             __global const c_t *dout, const ulong dout_off, const long s0,
                             const long s1,
                             __global const int *scratch,
                             __global c_t *dwte, const ulong dwte_off, const long ld,
                             const int accumulate)
{
    const ulong id = get_global_id(0);
    const ulong v = id / (ulong)C;
    const int c = (int)(id - v * (ulong)C);
    if (v >= (ulong)V)
        return;
    __global const int *head = scratch;
    __global const int *link = scratch + V;
    int p = head[v];
    if (p < 0 && accumulate)
        return;
    const ulong at = dwte_off + (ulong)((long)v * ld + c);
    float acc = accumulate ? LOAD_C(dwte, at) : 0.0f;
    dout += dout_off;
    for (; p >= 0; p = link[p]) {
        const int b = p / T, t = p - b * T;
        acc += LOAD_C(dout, (long)b * s0 + (long)t * s1 + c);
    }
    STORE_C(acc, dwte, at);
}

/* dwpe[t, c] = (accumulate ? dwpe[t, c] : 0) + Σ_b dout[b, t, c], batches in order; rows
 * t >= T (positions no sequence reaches) have gradient 0. */
__kernel void embedding_dwpe(const int B, const int T, const int T_max, const int C,
                             __global const c_t *dout, const ulong dout_off, const long s0,
                             const long s1,
                             __global c_t *dwpe, const ulong dwpe_off, const long ld,
                             const int accumulate)
{
    const ulong id = get_global_id(0);
    const ulong t = id / (ulong)C;
    const int c = (int)(id - t * (ulong)C);
    if (t >= (ulong)T_max)
        return;
    const ulong at = dwpe_off + (ulong)((long)t * ld + c);
    float acc = accumulate ? LOAD_C(dwpe, at) : 0.0f;
    dout += dout_off;
    if (t < (ulong)T)
        for (int b = 0; b < B; b++)
            acc += LOAD_C(dout, (long)b * s0 + (long)t * s1 + c);
    STORE_C(acc, dwpe, at);
}
