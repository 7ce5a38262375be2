/* clt-prelude: dtype.cl */
/* The elementwise ops and the reductions beside them (include/clt/op.h): GELU forward
 * and backward, add, scale and bias add; the bias gradient and the squared norm. f32
 * arithmetic over f32, f16 or bf16 storage. An op's floating tensors share one dtype,
 * so the driver builds with -DAB_DTYPE=d -DC_DTYPE=d and every tensor here is a c_t
 * (the norm and the partial sums are f32).
 *
 * Contiguous tensors (GELU, add, scale, sqnorm) are indexed with ulong: one may hold
 * more than 2^31 elements. A work-item takes `items` vectors of VW elements, the global
 * size apart, so that neighbouring work-items touch neighbouring vectors at each step:
 * that coalesces on a GPU, and on a CPU (PoCL runs a group's work-items as the
 * innermost loop, vectorised across them) it keeps the few lines a work-item touches
 * shared with the next one. The n % VW elements after the last whole vector belong to
 * work-item 0.
 *
 * `aligned` (the same for every work-item): every tensor's element offset is a
 * multiple of VW, so a vector is one aligned load or store (float4*, vloada_half4);
 * otherwise vload4/vstore4, which need only element alignment.
 *
 * Row tensors (bias add and gradient: rows × cols with row stride ld, int rows and
 * columns, long offsets) run on a 1-D range, work-item id = r · cols + c with r a row,
 * a run of rows or a chunk: one dimension, because some GPUs cap the number of
 * work-groups in a second one far below 2^31, and no padding of short rows to the
 * group size.
 *
 * The reductions are deterministic: how a sum is split depends only on the shape and
 * on the launch parameters (fixed per device), the pieces are added in a fixed order,
 * and nothing uses atomics. In-place forms (y = x, dx = dy, out = a or b) read each
 * element before the same work-item writes it. */

#if AB_DTYPE != C_DTYPE
#error "elementwise.cl: an op's tensors share one dtype; build with AB_DTYPE = C_DTYPE"
#endif

#define VW 4
#define GELU_SCALING_FACTOR 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_CUBIC 0.044715f

/* ---- vectors of four ----------------------------------------------------------------- */

float4 load4(__global const c_t *p, const ulong v, const int aligned)
{
#if C_DTYPE == 0
    return aligned ? ((__global const float4 *)p)[v] : vload4(v, p);
#elif C_DTYPE == 1
    return aligned ? vloada_half4(v, p) : vload_half4(v, p);
#else
    const ushort4 u = aligned ? ((__global const ushort4 *)p)[v] : vload4(v, p);
    return as_float4(convert_uint4(u) << 16);
#endif
}

void store4(const float4 x, __global c_t *p, const ulong v, const int aligned)
{
#if C_DTYPE == 0
    if (aligned)
        ((__global float4 *)p)[v] = x;
    else
        vstore4(x, v, p);
#elif C_DTYPE == 1
    if (aligned)
        vstorea_half4_rte(x, v, p);
    else
        vstore_half4_rte(x, v, p);
#else
    const ushort4 u = CLT_BF16_V(4, x);
    if (aligned)
        ((__global ushort4 *)p)[v] = u;
    else
        vstore4(u, v, p);
#endif
}

/* Vector k of this work-item, and the first element past the whole vectors. */
#define VECTOR(k) (get_global_id(0) + (ulong)(k) * get_global_size(0))
#define TAIL(n) ((n) / VW * VW)

/* ---- GELU ---------------------------------------------------------------------------- */

/* x/2 · (1 + tanh(sqrt(2/π) · (x + 0.044715 x³))), as op.h writes it. */
float4 gelu4(const float4 x)
{
    const float4 cube = GELU_CUBIC * x * x * x;
    return 0.5f * x * (1.0f + tanh(GELU_SCALING_FACTOR * (x + cube)));
}

/* Its derivative, llm.c's gelu_backward. cosh(u)² overflows to inf for large |u|, and
 * 1/inf = 0 is the limit of sech²(u) there. */
float4 gelu_grad4(const float4 x)
{
    const float4 cube = GELU_CUBIC * x * x * x;
    const float4 u = GELU_SCALING_FACTOR * (x + cube);
    const float4 cosh_u = cosh(u);
    const float4 sech2 = 1.0f / (cosh_u * cosh_u);
    return 0.5f * (1.0f + tanh(u)) +
           x * 0.5f * sech2 * GELU_SCALING_FACTOR * (1.0f + 3.0f * GELU_CUBIC * x * x);
}

__kernel void gelu_fwd(const ulong n, const uint items, const int aligned,
                       __global const c_t *x, const ulong x_off,
                       __global c_t *y, const ulong y_off)
{
    x += x_off;
    y += y_off;
    for (uint k = 0; k < items; k++) {
        const ulong v = VECTOR(k);
        if (v < n / VW)
            store4(gelu4(load4(x, v, aligned)), y, v, aligned);
    }
    if (get_global_id(0) == 0)
        for (ulong i = TAIL(n); i < n; i++)
            STORE_C(gelu4((float4)(LOAD_C(x, i))).s0, y, i);
}

__kernel void gelu_bwd(const ulong n, const uint items, const int aligned,
                       __global const c_t *x, const ulong x_off,
                       __global const c_t *dy, const ulong dy_off,
                       __global c_t *dx, const ulong dx_off)
{
    x += x_off;
    dy += dy_off;
    dx += dx_off;
    for (uint k = 0; k < items; k++) {
        const ulong v = VECTOR(k);
        if (v < n / VW)
            store4(gelu_grad4(load4(x, v, aligned)) * load4(dy, v, aligned), dx, v, aligned);
    }
    if (get_global_id(0) == 0)
        for (ulong i = TAIL(n); i < n; i++)
            STORE_C(gelu_grad4((float4)(LOAD_C(x, i))).s0 * LOAD_C(dy, i), dx, i);
}

/* ---- add, scale ---------------------------------------------------------------------- */

__kernel void add(const ulong n, const uint items, const int aligned,
                  __global const c_t *a, const ulong a_off,
                  __global const c_t *b, const ulong b_off,
                  __global c_t *out, const ulong out_off,
                  const float alpha, const float beta)
{
    a += a_off;
    b += b_off;
    out += out_off;
    for (uint k = 0; k < items; k++) {
        const ulong v = VECTOR(k);
        if (v < n / VW)
            store4(fma(alpha, load4(a, v, aligned), beta * load4(b, v, aligned)), out, v,
                   aligned);
    }
    if (get_global_id(0) == 0)
        for (ulong i = TAIL(n); i < n; i++)
            STORE_C(fma(alpha, LOAD_C(a, i), beta * LOAD_C(b, i)), out, i);
}

__kernel void scale(const ulong n, const uint items, const int aligned,
                    __global c_t *x, const ulong x_off, const float alpha)
{
    x += x_off;
    for (uint k = 0; k < items; k++) {
        const ulong v = VECTOR(k);
        if (v < n / VW)
            store4(alpha * load4(x, v, aligned), x, v, aligned);
    }
    if (get_global_id(0) == 0)
        for (ulong i = TAIL(n); i < n; i++)
            STORE_C(alpha * LOAD_C(x, i), x, i);
}

/* ---- bias ---------------------------------------------------------------------------- */

/* y[r, c] += bias[c] for `rows_per_item` rows from this work-item's first. */
__kernel void bias_add(const int rows, const int cols, const long ld,
                       const int rows_per_item,
                       __global c_t *y, const ulong y_off,
                       __global const c_t *bias, const ulong bias_off)
{
    const ulong id = get_global_id(0);
    const ulong block = id / (ulong)cols;
    const int c = (int)(id - block * (ulong)cols);
    const long r0 = (long)block * rows_per_item;
    if (r0 >= rows)
        return;
    const float b = LOAD_C(bias, bias_off + (ulong)c);
    const long r1 = min(r0 + rows_per_item, (long)rows);
    y += y_off;
    for (long r = r0; r < r1; r++) {
        const long at = r * ld + c;
        STORE_C(LOAD_C(y, at) + b, y, at);
    }
}

/* dbias[c] = (accumulate ? dbias[c] : 0) + Σ_r dy[r, c], rows in order: one pass, for
 * problems of one chunk of rows. */
__kernel void bias_grad_direct(const int rows, const int cols, const long ld,
                               __global const c_t *dy, const ulong dy_off,
                               __global c_t *dbias, const ulong dbias_off,
                               const int accumulate)
{
    const int c = (int)get_global_id(0);
    if (c >= cols)
        return;
    dy += dy_off;
    dbias += dbias_off;
    float acc = accumulate ? LOAD_C(dbias, c) : 0.0f;
    for (long r = 0; r < rows; r++)
        acc += LOAD_C(dy, r * ld + c);
    STORE_C(acc, dbias, c);
}

/* partial[s, c] = Σ dy[r, c] over chunk s of the rows (`chunk` rows each, in order). */
__kernel void bias_grad_partial(const int rows, const int cols, const long ld,
                                const int chunk,
                                __global const c_t *dy, const ulong dy_off,
                                __global float *partial)
{
    const ulong id = get_global_id(0);
    const ulong s = id / (ulong)cols;
    const int c = (int)(id - s * (ulong)cols);
    const long r0 = (long)s * chunk;
    if (r0 >= rows)
        return;
    dy += dy_off;
    const long r1 = min(r0 + chunk, (long)rows);
    float acc = 0.0f;
    for (long r = r0; r < r1; r++)
        acc += LOAD_C(dy, r * ld + c);
    partial[s * (ulong)cols + (ulong)c] = acc;
}

/* dbias[c] = (accumulate ? dbias[c] : 0) + Σ_s partial[s, c], chunks in order. */
__kernel void bias_grad_finish(const int cols, const int n_partials,
                               __global const float *partial,
                               __global c_t *dbias, const ulong dbias_off,
                               const int accumulate)
{
    const int c = (int)get_global_id(0);
    if (c >= cols)
        return;
    dbias += dbias_off;
    float acc = accumulate ? LOAD_C(dbias, c) : 0.0f;
    for (int s = 0; s < n_partials; s++)
        acc += partial[(ulong)s * (ulong)cols + (ulong)c];
    STORE_C(acc, dbias, c);
}

/* ---- squared norm -------------------------------------------------------------------- */

/* Sums the work-group's values in `sums` as a fixed binary tree (the group size is a
 * power of two); the total ends in sums[0]. */
void tree_sum(__local float *sums, const float mine)
{
    const uint lid = (uint)get_local_id(0);
    sums[lid] = mine;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint w = (uint)get_local_size(0) / 2; w > 0; w /= 2) {
        if (lid < w)
            sums[lid] += sums[lid + w];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}

/* out[group] = (accumulate ? out[group] : 0) + Σ x² over this group's vectors (and,
 * for group 0, the tail). A work-item keeps four f32 lanes; lanes, work-items and then
 * groups (sqnorm_finish) are added in fixed trees. NaN anywhere makes the sum NaN;
 * x² never cancels, so an infinity stays one. */
__kernel void sqnorm_partial(const ulong n, const uint items, const int aligned,
                             __global const c_t *x, const ulong x_off,
                             __global float *out, const ulong out_off, const int accumulate,
                             __local float *sums)
{
    x += x_off;
    float4 acc = (float4)(0.0f);
    for (uint k = 0; k < items; k++) {
        const ulong v = VECTOR(k);
        if (v < n / VW) {
            const float4 a = load4(x, v, aligned);
            acc = fma(a, a, acc);
        }
    }
    if (get_global_id(0) == 0)
        for (ulong i = TAIL(n); i < n; i++) {
            const float a = LOAD_C(x, i);
            acc.s0 = fma(a, a, acc.s0);
        }
    tree_sum(sums, (acc.s0 + acc.s1) + (acc.s2 + acc.s3));
    if (get_local_id(0) == 0) {
        const ulong at = out_off + get_group_id(0);
        out[at] = (accumulate ? out[at] : 0.0f) + sums[0];
    }
}

/* norm = (accumulate ? norm : 0) + Σ partial, by one work-group: work-item i takes
 * partials i, i + size, ... in order, then the tree. */
__kernel void sqnorm_finish(const uint n_partials, __global const float *partial,
                            __global float *norm, const ulong norm_off, const int accumulate,
                            __local float *sums)
{
    float acc = 0.0f;
    for (uint i = (uint)get_local_id(0); i < n_partials; i += (uint)get_local_size(0))
        acc += partial[i];
    tree_sum(sums, acc);
    if (get_local_id(0) == 0)
        norm[norm_off] = (accumulate ? norm[norm_off] : 0.0f) + sums[0];
}
