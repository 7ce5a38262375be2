/* clt-prelude: dtype.cl rows.cl */
/* Softmax over the rows of a matrix, its gradient, and the logsumexp of each row (the
 * first half of cross-entropy's forward pass).
 *
 * Build options: -DWG=<work-items per row> -DRPG=<rows per work-group> -DVW=<elements per
 * vector: 1, 4, 8 or 16>, and the prelude's -DAB_DTYPE=d -DC_DTYPE=d (every row tensor of
 * an op has the one storage dtype d; arithmetic is f32). WG is a power of two.
 *
 * Launch: local size (WG, RPG), global (WG, n_rows rounded up to RPG). Work-item (i, r)
 * of a group serves row group·RPG + r, and in it the vectors i, i+WG, i+2·WG ... of VW
 * elements, the same ones in every pass (so y may be x); a last partial vector goes
 * through a private array. A CPU runs WG = RPG = 1: each work-item owns a whole row, no
 * barrier is needed, and the row stays in its core's cache between passes. A GPU runs
 * 256 work-items on a long row, or 32 on each of 8 short rows.
 *
 * softmax_two_pass (Dukhan & Ablavatski, "The Two-Pass Softmax Algorithm", 2020)
 *   Pass 1 sums exp(x) with no max pass: each exp(x) is m·2^n, n = rint(x·log2 e) and
 *   m = exp(x − n·ln 2) in [√½, √2], and the sum is kept as a pair (M, E) = M·2^E. A block
 *   of 4 vectors raises E to its largest n (rescaling M once), then adds each m·2^(n−E).
 *   Work-items and lanes combine their pairs the same way. Pass 2 writes
 *   y = m·2^(n−E)/M. x is read twice, where the three-pass reads it three times.
 *   The pair needs |x·log2 e| < 2^22 to hold n exactly: inputs below −2^21 are raised to
 *   −2^21, where they contribute exactly nothing as long as the row's largest element has
 *   n >= −2^12 (x above −2839); a row whose largest element lies outside [−2839, 2.9·10^6],
 *   or is +inf, is computed by the three-pass method instead (the rows of a work-group
 *   decide together, as their barriers must be uniform).
 * softmax_three_pass
 *   max; Σ exp(x − max); y = exp(x − max)/Σ. Kept for comparison (clt-bench softmax).
 * softmax_lse
 *   lse = log Σ exp(x) per row into an f32 vector: pass 1 of the two-pass, with the same
 *   fallback (lse = max + log Σ exp(x − max)).
 * softmax_bwd
 *   dx = y ∘ (dy − Σ dy∘y); dx may be dy.
 *
 * NaN and infinity: a NaN anywhere in a row makes the whole row NaN (its sum is NaN);
 * +inf does too (exp(inf − inf)); −inf contributes exp(−inf) = 0 and its y is 0; a row
 * that is all −inf is NaN (0/0). The host reference does the same. */

/* ---- exp in pieces ------------------------------------------------------------------ */

#define LOG2E 1.44269504088896341f
#define LN2_HI 0.693359375f       /* ln 2 = LN2_HI − LN2_LO; LN2_HI has 9 bits */
#define LN2_LO 2.12194440e-4f
/* fma(x, log2 e, MAGIC), MAGIC = 1.5·2^23, rounds x·log2 e to the nearest integer n and
 * leaves it in the low bits: as_int(k) = MAGIC_BITS + n while |n| < 2^22. */
#define MAGIC 12582912.0f
#define MAGIC_BITS 0x4b400000
/* The two-pass range: inputs are raised to −CLAMP; a row is summed as pairs when its
 * largest n lies in [N_MIN, N_MAX] (see the head of the file). */
#define CLAMP 2097152.0f
#define N_MIN (-(1 << 12))
#define N_MAX ((1 << 22) - 2)
#define E_NONE (MAGIC_BITS - (1 << 22)) /* below every n of a clamped input */

floatV magic_of(floatV x) { return fma(x, (floatV)LOG2E, (floatV)MAGIC); }

/* exp(x − n·ln 2) for k = magic_of(x): Cody–Waite reduction to |t| <= ln2/2, then a
 * degree-5 minimax polynomial (relative error 1.4e-7 with these f32 coefficients). */
floatV mantissa(floatV x, floatV k)
{
    const floatV n = k - (floatV)MAGIC;
    const floatV t = fma(n, (floatV)LN2_LO, fma(n, (floatV)-LN2_HI, x));
    floatV p = (floatV)8.2976548001e-3f;
    p = fma(p, t, (floatV)4.1915383190e-2f);
    p = fma(p, t, (floatV)1.6667574644e-1f);
    p = fma(p, t, (floatV)4.9998894334e-1f);
    p = fma(p, t, (floatV)9.9999970198e-1f);
    return fma(p, t, (floatV)1.0000001192f);
}

/* 2^d for an integer d <= 0, from b = d + 127 (the biased exponent field); 0 below
 * 2^-126. Loops subtract (E − 127) from the bits of k once, to get b in one step. */
float pow2_s(int b) { return as_float(max(b, 0) << 23); }
#if VW == 1
#define pow2_v pow2_s
#else
floatV pow2_v(intV b) { return AS_FLOATV(max(b, (intV)0) << 23); }
#endif

/* Raises x to −CLAMP; NaN stays NaN (a comparison with NaN is false). */
floatV clamp_low(floatV x) { return select(x, (floatV)-CLAMP, x < (floatV)-CLAMP); }

/* exp(z) for z <= ln2/2, the three-pass way: 0 below about −87, NaN for NaN. */
floatV exp_le0(floatV z)
{
    z = select(z, (floatV)-104.0f, z < (floatV)-104.0f);
    const floatV k = magic_of(z);
    return mantissa(z, k) * pow2_v(AS_INTV(k) - (intV)(MAGIC_BITS - 127));
}

/* ---- reductions over the WG work-items of a row ----------------------------------------
 * Every work-item of the group calls them (barriers), each row on its own WG slots of
 * local memory; the tree's order is fixed, so results are deterministic. */

/* Whether `flag` is set for any row of the work-group. */
bool group_any(bool flag, __local int *any)
{
#if WG * RPG > 1
    if (get_local_id(0) == 0 && get_local_id(1) == 0)
        *any = 0;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (flag)
        atomic_or(any, 1);
    barrier(CLK_LOCAL_MEM_FENCE);
    flag = *any != 0;
    barrier(CLK_LOCAL_MEM_FENCE);
#endif
    return flag;
}

/* ---- sums as (mantissa, exponent) pairs ------------------------------------------------ */

/* m · 2^(e − MAGIC_BITS). */
typedef struct ext {
    float m;
    int e;
} ext;

ext ext_add(ext a, ext b)
{
    ext s;
    s.e = max(a.e, b.e);
    s.m = a.m * pow2_s(a.e - s.e + 127) + b.m * pow2_s(b.e - s.e + 127);
    return s;
}

ext ext_of_lanes(floatV m, intV e)
{
    float lm[VW];
    int le[VW];
    VSTORE_F(m, 0, lm);
    VSTORE_I(e, 0, le);
    ext s = {lm[0], le[0]};
    for (int j = 1; j < VW; j++) {
        const ext lane = {lm[j], le[j]};
        s = ext_add(s, lane);
    }
    return s;
}

ext group_ext(ext s, __local float *ms, __local int *es)
{
#if WG > 1
    const int i = get_local_id(0);
    ms[i] = s.m;
    es[i] = s.e;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int w = WG / 2; w > 0; w >>= 1) {
        if (i < w) {
            const ext other = {ms[i + w], es[i + w]};
            s = ext_add(s, other);
            ms[i] = s.m;
            es[i] = s.e;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    s.m = ms[0];
    s.e = es[0];
    barrier(CLK_LOCAL_MEM_FENCE);
#endif
    return s;
}

/* Adds one vector to the lanes' pairs (M, E). */
#define EXT_ADD_ONE(M, E, xv)                                                              \
    do {                                                                                   \
        const floatV x_ = clamp_low(xv);                                                   \
        const floatV k_ = magic_of(x_);                                                    \
        const intV e_ = max(E, AS_INTV(k_));                                               \
        M = fma(mantissa(x_, k_), pow2_v(AS_INTV(k_) - e_ + 127), M * pow2_v(E - e_ + 127)); \
        E = e_;                                                                            \
    } while (0)

/* Pass 1 of the two-pass: this work-item's share of Σ exp(x) over a row of C. */
ext row_ext_sum(__global const ab_t *xr, int C)
{
    const int nv = C / VW, rem = C - nv * VW;
    floatV M = 0.0f;
    intV E = (intV)E_NONE;
    int v = get_local_id(0);
    for (; v + 3 * WG < nv; v += 4 * WG) {
        const floatV x0 = clamp_low(LOAD_X(v, xr)), x1 = clamp_low(LOAD_X(v + WG, xr));
        const floatV x2 = clamp_low(LOAD_X(v + 2 * WG, xr));
        const floatV x3 = clamp_low(LOAD_X(v + 3 * WG, xr));
        const floatV k0 = magic_of(x0), k1 = magic_of(x1), k2 = magic_of(x2), k3 = magic_of(x3);
        /* k is positive and grows with x, and so do its bits: the block's largest n */
        const intV b0 = AS_INTV(k0), b1 = AS_INTV(k1), b2 = AS_INTV(k2), b3 = AS_INTV(k3);
        const intV e = max(max(E, max(b0, b1)), max(b2, b3));
        const intV bias = e - 127;
        M *= pow2_v(E - bias);
        E = e;
        M = fma(mantissa(x0, k0), pow2_v(b0 - bias), M);
        M = fma(mantissa(x1, k1), pow2_v(b1 - bias), M);
        M = fma(mantissa(x2, k2), pow2_v(b2 - bias), M);
        M = fma(mantissa(x3, k3), pow2_v(b3 - bias), M);
    }
    for (; v < nv; v += WG)
        EXT_ADD_ONE(M, E, LOAD_X(v, xr));
    if (rem > 0 && v == nv)
        EXT_ADD_ONE(M, E, load_part(xr + nv * VW, rem, -INFINITY));
    return ext_of_lanes(M, E);
}

/* Whether a row's pair sum covers it (else the three-pass method computes it). */
bool ext_exact(ext s) { return s.e - MAGIC_BITS >= N_MIN && s.e - MAGIC_BITS <= N_MAX; }

/* Pass 2 of the two-pass: y = m·2^(n − E)/M. */
void row_write_ext(__global const ab_t *xr, __global c_t *yr, int C, ext s)
{
    const int nv = C / VW, rem = C - nv * VW;
    const float inv = 1.0f / s.m;
    const intV bias = (intV)(s.e - 127);
    int v = get_local_id(0);
    for (; v < nv; v += WG) {
        const floatV x = clamp_low(LOAD_X(v, xr));
        const floatV k = magic_of(x);
        STORE_Y(mantissa(x, k) * inv * pow2_v(AS_INTV(k) - bias), v, yr);
    }
    if (rem > 0 && v == nv) {
        const floatV x = clamp_low(load_part(xr + nv * VW, rem, 0.0f));
        const floatV k = magic_of(x);
        store_part(mantissa(x, k) * inv * pow2_v(AS_INTV(k) - bias), yr + nv * VW, rem);
    }
}

/* ---- the three-pass passes --------------------------------------------------------------- */

float row_max(__global const ab_t *xr, int C)
{
    const int nv = C / VW, rem = C - nv * VW;
    floatV m = -INFINITY;
    int v = get_local_id(0);
    for (; v < nv; v += WG)
        m = fmax(m, LOAD_X(v, xr));
    if (rem > 0 && v == nv)
        m = fmax(m, load_part(xr + nv * VW, rem, -INFINITY));
    return lanes_max(m);
}

float row_sum_exp(__global const ab_t *xr, int C, float mx)
{
    const int nv = C / VW, rem = C - nv * VW;
    floatV s = 0.0f;
    int v = get_local_id(0);
    for (; v < nv; v += WG)
        s += exp_le0(LOAD_X(v, xr) - mx);
    if (rem > 0 && v == nv)
        s += exp_le0(load_part(xr + nv * VW, rem, -INFINITY) - mx);
    return lanes_sum(s);
}

void row_write_exp(__global const ab_t *xr, __global c_t *yr, int C, float mx, float inv)
{
    const int nv = C / VW, rem = C - nv * VW;
    int v = get_local_id(0);
    for (; v < nv; v += WG)
        STORE_Y(exp_le0(LOAD_X(v, xr) - mx) * inv, v, yr);
    if (rem > 0 && v == nv)
        store_part(exp_le0(load_part(xr + nv * VW, rem, 0.0f) - mx) * inv, yr + nv * VW, rem);
}

/* ---- kernels --------------------------------------------------------------------------- */

/* The row this work-item serves, and its length: 0 for the padding rows of the last
 * group, which still take part in the barriers. */
#define ROW_SETUP(n_rows, C)                                                               \
    const int row = get_global_id(1);                                                      \
    const bool live = row < (n_rows);                                                      \
    const int len = live ? (C) : 0;                                                        \
    const long rix = live ? row : 0;                                                       \
    const int slot = get_local_id(1) * WG

__kernel void softmax_two_pass(const int n_rows, const int C, __global const ab_t *x,
                               const ulong x_off, const long x_stride, __global c_t *y,
                               const ulong y_off, const long y_stride)
{
    __local float lf[WG * RPG];
    __local int li[WG * RPG];
    __local int any;
    ROW_SETUP(n_rows, C);
    __global const ab_t *xr = x + x_off + rix * x_stride;
    __global c_t *yr = y + y_off + rix * y_stride;
    const ext s = group_ext(row_ext_sum(xr, len), lf + slot, li + slot);
    if (group_any(live && !ext_exact(s), &any)) {
        const float mx = group_max(row_max(xr, len), lf + slot);
        const float sum = group_sum(row_sum_exp(xr, len, mx), lf + slot);
        row_write_exp(xr, yr, len, mx, 1.0f / sum);
    } else {
        row_write_ext(xr, yr, len, s);
    }
}

__kernel void softmax_three_pass(const int n_rows, const int C, __global const ab_t *x,
                                 const ulong x_off, const long x_stride, __global c_t *y,
                                 const ulong y_off, const long y_stride)
{
    __local float lf[WG * RPG];
    ROW_SETUP(n_rows, C);
    __global const ab_t *xr = x + x_off + rix * x_stride;
    __global c_t *yr = y + y_off + rix * y_stride;
    const float mx = group_max(row_max(xr, len), lf + slot);
    const float sum = group_sum(row_sum_exp(xr, len, mx), lf + slot);
    row_write_exp(xr, yr, len, mx, 1.0f / sum);
}

__kernel void softmax_lse(const int n_rows, const int C, __global const ab_t *x,
                          const ulong x_off, const long x_stride, __global float *lse,
                          const ulong lse_off)
{
    __local float lf[WG * RPG];
    __local int li[WG * RPG];
    __local int any;
    ROW_SETUP(n_rows, C);
    __global const ab_t *xr = x + x_off + rix * x_stride;
    const ext s = group_ext(row_ext_sum(xr, len), lf + slot, li + slot);
    float out = log(s.m) + (float)(s.e - MAGIC_BITS) * 0.693147180559945309f;
    if (group_any(live && !ext_exact(s), &any)) {
        const float mx = group_max(row_max(xr, len), lf + slot);
        const float sum = group_sum(row_sum_exp(xr, len, mx), lf + slot);
        if (!ext_exact(s))
            out = mx + log(sum);
    }
    if (live && get_local_id(0) == 0)
        lse[lse_off + row] = out;
}

/* dx = y ∘ (dy − Σ dy∘y). */
__kernel void softmax_bwd(const int n_rows, const int C, __global const ab_t *y,
                          const ulong y_off, const long y_stride, __global const ab_t *dy,
                          const ulong dy_off, const long dy_stride, __global c_t *dx,
                          const ulong dx_off, const long dx_stride)
{
    __local float lf[WG * RPG];
    ROW_SETUP(n_rows, C);
    __global const ab_t *yr = y + y_off + rix * y_stride;
    __global const ab_t *dyr = dy + dy_off + rix * dy_stride;
    __global c_t *dxr = dx + dx_off + rix * dx_stride;
    const int nv = len / VW, rem = len - nv * VW;
    floatV acc = 0.0f;
    int v = get_local_id(0);
    for (; v < nv; v += WG)
        acc = fma(LOAD_X(v, yr), LOAD_X(v, dyr), acc);
    if (rem > 0 && v == nv)
        acc = fma(load_part(yr + nv * VW, rem, 0.0f), load_part(dyr + nv * VW, rem, 0.0f), acc);
    const float dot = group_sum(lanes_sum(acc), lf + slot);
    for (v = get_local_id(0); v < nv; v += WG)
        STORE_Y(LOAD_X(v, yr) * (LOAD_X(v, dyr) - dot), v, dxr);
    if (rem > 0 && v == nv)
        store_part(load_part(yr + nv * VW, rem, 0.0f) * (load_part(dyr + nv * VW, rem, 0.0f) - dot),
                   dxr + nv * VW, rem);
}
