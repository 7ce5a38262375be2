/* clt-prelude: dtype.cl */
/* Attention, FlashAttention-2 style (include/clt/op.h): forward, and backward as three
 * launches (delta, dK/dV, dQ). Nothing of size T×T exists; f32 arithmetic over any
 * storage dtype (AB_DTYPE = C_DTYPE, the op's one storage dtype).
 *
 * Rows are lanes. A work-group owns BR rows (query rows in attention_fwd and
 * attention_bwd_dq, key rows in attention_bwd_dkdv); each of its WG work-items owns
 * VR = BR/WG of them as the lanes of one float vector `rowv`. The owned rows' vectors
 * (q, or k and v ...) sit transposed in local memory, one rowv per column c, and the
 * accumulators (o, dq, dk, dv) are private arrays of D rowv. The other operand streams
 * through local memory in tiles of BC rows, row-major f32, and every element of a tile
 * is read as a scalar broadcast to all lanes. So each step is an outer product:
 *     s[u]  += q[c] · K[j+u][c]      (dot products along d, vectorised over rows)
 *     acc[c] += p[u] · V[j+u][c]
 * with no horizontal reduction anywhere, and row statistics (max m, sum l, lse, delta)
 * are rowv values too. One shape serves both kinds of device:
 *   CPU (PoCL ...)  VR = 8 or 16 (one SIMD vector), WG = 1 or 2: a work-item is plain
 *                   SIMD code in a CPU thread; broadcasts become the FMA's memory
 *                   operand, and nothing needs vectorising across work-items.
 *   GPU             VR = 1, WG = BR: one work-item per row (SIMT lanes are the rows);
 *                   accumulators in registers (the d loops are unrolled), the owned
 *                   rows in local memory to spare registers, tile reads broadcast.
 *
 * Online softmax runs per register block of JU streamed rows: s[0..JU) in registers,
 * the running max m and sum l rescaled once per block (log2 domain: q or k is
 * pre-scaled by scale·log2(e), so p = exp2(s − m)). Causal: tiles above the diagonal
 * are never visited (loop bounds), blocks that cross it or the end of T are masked.
 *
 * Build options: -DHEAD_DIM (d: 32, 64, 80, 96, 128), -DWG, -DVR (BR = WG·VR), -DBC,
 * -DJU (divides BC), -DDU (unroll of the loops over d that index the accumulators:
 * HEAD_DIM on GPUs keeps them in registers), -DDKDV_PART (below), -DKERNELS (which of
 * the tiled kernels the program holds: bits 1 forward, 2 dK/dV, 4 dQ; each one's local
 * arrays must fit the device), -DAB_DTYPE = -DC_DTYPE.
 * Use fma(), not mad(): PoCL lowers mad() to a multiply and an add.
 *
 * Tensors: q, k, v, o, dout, dq, dk, dv (B, H, T, d) with free strides, given as
 * element offset and strides (offset, batch, head, row) in a long4; lse, delta (B, H, T)
 * f32 contiguous, given by element offset. Global ids: 0 = row block × WG, 1 = b·H + h. */

/* Defaults: the GPU shape (the driver always passes every option). */
#ifndef HEAD_DIM
#define HEAD_DIM 64
#endif
#ifndef WG
#define WG 64
#endif
#ifndef VR
#define VR 1
#endif
#ifndef BC
#define BC 16
#endif
#ifndef JU
#define JU 4
#endif
#ifndef DU
#define DU HEAD_DIM
#endif
#ifndef KERNELS
#define KERNELS 7
#endif

#define D HEAD_DIM
#define BR (WG * VR)
#define D8 (D / 8)

#if VR != 1 && VR != 2 && VR != 4 && VR != 8 && VR != 16
#error "VR must be 1, 2, 4, 8 or 16"
#endif
#if BC % JU != 0
#error "JU must divide BC"
#endif
#if D % 8 != 0
#error "HEAD_DIM must be a multiple of 8"
#endif

/* Helpers must be inlined into the kernels: PoCL otherwise calls them, passing the
 * register blocks through memory. */
#define INLINE static inline __attribute__((always_inline))
/* Full unrolls are plain `#pragma unroll`: LLVM then unrolls early, and the arrays they
 * index (the accumulators) become registers; an unroll with a count happens after the
 * pass that would promote them. */
#define CLT_PRAGMA(x) _Pragma(#x)
#define UNROLL_ALL CLT_PRAGMA(unroll)
#if DU >= D
#define UNROLL_D UNROLL_ALL
#else
#define UNROLL_D CLT_PRAGMA(unroll DU)
#endif
/* The dot products index no accumulator: a short unroll is enough, and a full one only
 * lets compilers schedule every load of the block at once (registers, again). */
#if DU >= D
#define UNROLL_DOTS CLT_PRAGMA(unroll 4)
#else
#define UNROLL_DOTS UNROLL_D
#endif

#define LOG2E 1.4426950408889634f
#define LN2 0.6931471805599453f

/* rowv: VR rows, one per lane; rowi: their row indices. */
#if VR == 1
typedef float rowv;
typedef int rowi;
#define LANE_IOTA 0
#define VLOAD_R(p) (*(p))
#define VSTORE_R(x, p) (*(p) = (x))
#else
typedef XCAT(float, VR) rowv;
typedef XCAT(int, VR) rowi;
#define VLOAD_R(p) XCAT(vload, VR)(0, (p))
#define VSTORE_R(x, p) XCAT(vstore, VR)((x), 0, (p))
#if VR == 2
#define LANE_IOTA (rowi)(0, 1)
#elif VR == 4
#define LANE_IOTA (rowi)(0, 1, 2, 3)
#elif VR == 8
#define LANE_IOTA (rowi)(0, 1, 2, 3, 4, 5, 6, 7)
#else
#define LANE_IOTA (rowi)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
#endif
#endif

/* On GPUs the owned rows are read through a volatile pointer: their values do not change
 * between register blocks, and compilers otherwise hoist all D of them into registers
 * beside the D accumulators, which spills. (On CPUs they stay ordinary loads: there
 * the vectors live in L1 either way.) */
#if VR == 1
#define OWN_QUAL volatile
#else
#define OWN_QUAL
#endif

/* ---- staging --------------------------------------------------------------------- */

/* Rows [r0, r0 + BC) of a (T, D) matrix (row stride ld) into dst, row-major f32, rows
 * at or past T zero (their products must be 0, not NaN from stale memory). Eight floats
 * per access (every d is a multiple of 8). With fewer work-items than vectors in a row
 * (CPUs), each row is one short loop with its address computed once: this copy competes
 * with the tile's arithmetic for load and store slots. */
INLINE void stage_tile(__local float *dst, __global const ab_t *src, const long ld,
                       const int r0, const int T)
{
    const int lid = (int)get_local_id(0);
    const int rows = min(BC, T - r0);
#if WG <= D8
    for (int r = 0; r < rows; r++) {
        __global const ab_t *s = src + (long)(r0 + r) * ld + lid * 8;
        __local float *t = dst + r * D + lid * 8;
        UNROLL_ALL
        for (int c = 0; c < D; c += WG * 8)
            if (WG == 1 || c + lid * 8 < D)
                vstore8(LOAD_AB_V(8, 0, s + c), 0, t + c);
    }
    for (int r = rows; r < BC; r++) {
        __local float *t = dst + r * D + lid * 8;
        UNROLL_ALL
        for (int c = 0; c < D; c += WG * 8)
            if (WG == 1 || c + lid * 8 < D)
                vstore8((float8)0.0f, 0, t + c);
    }
#else
    for (int e = lid; e < BC * D8; e += WG) {
        const int r = e / D8, c = (e - r * D8) * 8;
        float8 x = (float8)0.0f;
        if (r < rows)
            x = LOAD_AB_V(8, 0, src + (long)(r0 + r) * ld + c);
        vstore8(x, 0, dst + r * D + c);
    }
#endif
}

/* A tile's per-row statistics (lse, delta): rows past T read as 0. */
INLINE void stage_stat(__local float *dst, __global const float *src, const int r0,
                       const int T, const float mul)
{
    for (int r = (int)get_local_id(0); r < BC; r += WG)
        dst[r] = r0 + r < T ? src[r0 + r] * mul : 0.0f;
}

/* The work-item's own rows row0 .. row0 + VR of a (T, D) matrix, times mul, transposed
 * into `own` (D × WG rowv, this work-item's column); rows past T zero. Only the
 * work-item itself reads its column, so no barrier is needed. */
INLINE void stage_own(__local rowv *own, __global const ab_t *src, const long ld,
                      const int row0, const int T, const float mul)
{
    __local float *dst = (__local float *)(own + get_local_id(0));
    for (int lane = 0; lane < VR; lane++) {
        const int r = row0 + lane;
        for (int c = 0; c < D; c += 4) {
            float4 x = (float4)0.0f;
            if (r < T)
                x = LOAD_AB_V(4, 0, src + (long)r * ld + c) * mul;
            dst[(c + 0) * WG * VR + lane] = x.s0;
            dst[(c + 1) * WG * VR + lane] = x.s1;
            dst[(c + 2) * WG * VR + lane] = x.s2;
            dst[(c + 3) * WG * VR + lane] = x.s3;
        }
    }
}

/* Writes acc[c] · mul for the work-item's rows below T, going back through `own` (its
 * column, free again by now) to turn lanes into rows. */
INLINE void store_own(__global c_t *dst, const long ld, const int row0, const int T,
                      __local rowv *own, const rowv *acc, const rowv mul)
{
    const int lid = (int)get_local_id(0);
    UNROLL_D
    for (int c = 0; c < D; c++)
        own[c * WG + lid] = acc[c] * mul;
    __local const float *src = (__local const float *)(own + lid);
    for (int lane = 0; lane < VR && row0 + lane < T; lane++) {
        for (int c = 0; c < D; c += 4) {
            const float4 x =
                (float4)(src[(c + 0) * WG * VR + lane], src[(c + 1) * WG * VR + lane],
                         src[(c + 2) * WG * VR + lane], src[(c + 3) * WG * VR + lane]);
            STORE_C_V(4, x, 0, dst + (long)(row0 + lane) * ld + c);
        }
    }
}

/* x[row0 + lane] for each lane, 0 past T. */
INLINE rowv load_stat(__global const float *x, const int row0, const int T)
{
    if (row0 + VR <= T)
        return VLOAD_R(x + row0);
    float e[VR];
    for (int lane = 0; lane < VR; lane++)
        e[lane] = row0 + lane < T ? x[row0 + lane] : 0.0f;
    return VLOAD_R(e);
}

/* x[row0 + lane] = v for each lane below T. */
INLINE void store_stat(__global float *x, const int row0, const int T, const rowv v)
{
    if (row0 + VR <= T) {
        VSTORE_R(v, x + row0);
        return;
    }
    float e[VR];
    VSTORE_R(v, e);
    for (int lane = 0; lane < VR && row0 + lane < T; lane++)
        x[row0 + lane] = e[lane];
}

/* The lanes to mask in a register block: all when the streamed row is past T, and
 * under a causal mask those where `after` holds (the key comes after the query). No
 * scalar-condition select of vectors: SPIR-V 1.0 has none. */
INLINE rowi mask_of(const bool past_end, const int causal, const rowi after)
{
    rowi m = (rowi)(past_end ? -1 : 0);
    if (causal)
        m |= after;
    return m;
}

/* ---- register blocks --------------------------------------------------------------- */

/* s[u] = own · rows[u] for u < JU: own (D rowv, strided WG: this work-item's column),
 * rows row-major f32 (a tile's register block). */
INLINE void dots(rowv *s, __local const OWN_QUAL rowv *own, __local const float *rows)
{
    UNROLL_ALL
    for (int u = 0; u < JU; u++)
        s[u] = (rowv)0.0f;
    UNROLL_DOTS
    for (int c = 0; c < D; c++) {
        const rowv x = own[c * WG];
        __local const float *r = rows + c;
        UNROLL_ALL
        for (int u = 0; u < JU; u++)
            s[u] = fma(x, (rowv)r[u * D], s[u]);
    }
}

/* acc[c] = acc[c] · keep + Σ_u w[u] · rows[u][c]. Two chains of FMAs per column, so
 * that their latency overlaps. */
INLINE void accumulate(rowv *acc, const rowv keep, const rowv *w, __local const float *rows)
{
    UNROLL_D
    for (int c = 0; c < D; c++) {
        __local const float *r = rows + c;
        rowv a = acc[c] * keep, b = (rowv)0.0f;
        UNROLL_ALL
        for (int u = 0; u + 1 < JU; u += 2) {
            a = fma(w[u], (rowv)r[u * D], a);
            b = fma(w[u + 1], (rowv)r[(u + 1) * D], b);
        }
#if JU % 2
        a = fma(w[JU - 1], (rowv)r[(JU - 1) * D], a);
#endif
        acc[c] = a + b;
    }
}

/* accumulate() for a block with masked lanes: their terms are dropped, not multiplied by
 * 0, because 0·NaN and 0·∞ are NaN, and a NaN in a row that a lane does not see (a
 * later key under the causal mask) must not reach it. Only blocks on the diagonal or at
 * the end of T come here. */
INLINE void accumulate_masked(rowv *acc, const rowv keep, const rowv *w, const rowi *drop,
                              __local const float *rows)
{
    UNROLL_D
    for (int c = 0; c < D; c++) {
        __local const float *r = rows + c;
        rowv a = acc[c] * keep;
        UNROLL_ALL
        for (int u = 0; u < JU; u++)
            a += select(w[u] * (rowv)r[u * D], (rowv)0.0f, drop[u]);
        acc[c] = a;
    }
}

/* ---- forward ----------------------------------------------------------------------- */

#if KERNELS & 1
/* O = softmax(scale·QKᵀ + mask)·V and lse for BR query rows of one (b, h). Query blocks
 * are taken last first, so that under a causal mask the longest rows start first. */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void attention_fwd(const int T, const int H, const float scale, const int causal,
                   __global const ab_t *Q, const long4 ql, __global const ab_t *K,
                   const long4 kl, __global const ab_t *V, const long4 vl, __global c_t *O,
                   const long4 ol, __global float *lse, const ulong lse_offset)
{
    __local rowv qown[D * WG];
    __local float kt[BC * D];
    __local float vt[BC * D];

    const int lid = (int)get_local_id(0);
    const int blocks = (T + BR - 1) / BR;
    const int q0 = (blocks - 1 - (int)get_group_id(0)) * BR;
    const int bh = (int)get_group_id(1), b = bh / H, h = bh - b * H;
    const int row0 = q0 + lid * VR;
    Q += ql.x + b * ql.y + h * ql.z;
    K += kl.x + b * kl.y + h * kl.z;
    V += vl.x + b * vl.y + h * vl.z;
    O += ol.x + b * ol.y + h * ol.z;
    lse += lse_offset + (ulong)bh * (ulong)T;

    stage_own(qown, Q, ql.w, row0, T, scale * LOG2E);
    const rowi rows = (rowi)row0 + LANE_IOTA;
    rowv m = (rowv)(-INFINITY), l = (rowv)0.0f;
    rowv acc[D];
    UNROLL_D
    for (int c = 0; c < D; c++)
        acc[c] = (rowv)0.0f;

    /* Keys past the block's last row are above the diagonal: not visited. */
    const int kend = causal ? min(T, q0 + BR) : T;
    for (int k0 = 0; k0 < kend; k0 += BC) {
        barrier(CLK_LOCAL_MEM_FENCE);
        stage_tile(kt, K, kl.w, k0, T);
        stage_tile(vt, V, vl.w, k0, T);
        barrier(CLK_LOCAL_MEM_FENCE);
        const int jend = min(BC, kend - k0);
        for (int j = 0; j < jend; j += JU) {
            rowv s[JU];
            rowi drop[JU];
            dots(s, qown + lid, kt + j * D);
            const int key0 = k0 + j;
            const bool masked = key0 + JU > T || (causal && key0 + JU - 1 > q0);
            if (masked) {
                UNROLL_ALL
                for (int u = 0; u < JU; u++) {
                    drop[u] = mask_of(key0 + u >= T, causal, (rowi)(key0 + u) > rows);
                    s[u] = select(s[u], (rowv)(-INFINITY), drop[u]);
                }
            }
            rowv mnew = m;
            UNROLL_ALL
            for (int u = 0; u < JU; u++)
                mnew = fmax(mnew, s[u]);
            /* The first block holds key 0, which every row sees: m is finite after it. */
            const rowv alpha = exp2(m - mnew);
            m = mnew;
            l *= alpha;
            UNROLL_ALL
            for (int u = 0; u < JU; u++) {
                s[u] = exp2(s[u] - m);
                l += s[u];
            }
            if (masked)
                accumulate_masked(acc, alpha, s, drop, vt + j * D);
            else
                accumulate(acc, alpha, s, vt + j * D);
        }
    }
    store_own(O, ol.w, row0, T, qown, acc, (rowv)1.0f / l);
    store_stat(lse, row0, T, (m + log2(l)) * LN2);
}
#endif

/* ---- backward ---------------------------------------------------------------------- */

/* delta = rowsum(dout ∘ o): one work-item per row. */
__kernel void attention_bwd_delta(const int T, const int H, __global const ab_t *dO,
                                  const long4 dol, __global const ab_t *O, const long4 ol,
                                  __global float *delta, const ulong delta_offset)
{
    const int t = (int)get_global_id(0);
    const int bh = (int)get_global_id(1), b = bh / H, h = bh - b * H;
    if (t >= T)
        return;
    dO += dol.x + b * dol.y + h * dol.z + t * dol.w;
    O += ol.x + b * ol.y + h * ol.z + t * ol.w;
    float4 sum = (float4)0.0f;
    for (int c = 0; c < D; c += 4)
        sum = fma(LOAD_AB_V(4, 0, dO + c), LOAD_AB_V(4, 0, O + c), sum);
    delta[delta_offset + (ulong)bh * (ulong)T + (ulong)t] = (sum.s0 + sum.s1) + (sum.s2 + sum.s3);
}

#if KERNELS & 2
/* dK and dV for BR key rows of one (b, h), looping over the query rows that see them:
 *     s = k·q, p = exp2(s − lse·log2 e), dv += p·dout, dp = v·dout,
 *     ds = p·(dp − delta), dk += ds·q (times scale at the end).
 * -DDKDV_PART=1 computes dV only, 2 dK only (0, the default: both): two launches, each
 * with D accumulators per row, where 2·D do not fit a GPU's registers (d >= 80). */
#ifndef DKDV_PART
#define DKDV_PART 0
#endif
#define WANT_DV (DKDV_PART != 2)
#define WANT_DK (DKDV_PART != 1)

__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void attention_bwd_dkdv(const int T, const int H, const float scale, const int causal,
                        __global const ab_t *Q, const long4 ql, __global const ab_t *K,
                        const long4 kl, __global const ab_t *V, const long4 vl,
                        __global const ab_t *dO, const long4 dol,
                        __global const float *lse, const ulong lse_offset,
                        __global const float *delta, const ulong delta_offset,
                        __global c_t *dK, const long4 dkl,
                        __global c_t *dV, const long4 dvl)
{
    __local rowv kown[D * WG];
    __local float qt[BC * D];
    __local float dot_[BC * D];
    __local float lt[BC];
#if WANT_DK
    __local rowv vown[D * WG];
    __local float deltat[BC];
#endif

    const int lid = (int)get_local_id(0);
    const int k0 = (int)get_group_id(0) * BR;
    const int bh = (int)get_group_id(1), b = bh / H, h = bh - b * H;
    const int row0 = k0 + lid * VR;
    Q += ql.x + b * ql.y + h * ql.z;
    K += kl.x + b * kl.y + h * kl.z;
    V += vl.x + b * vl.y + h * vl.z;
    dO += dol.x + b * dol.y + h * dol.z;
    dK += dkl.x + b * dkl.y + h * dkl.z;
    dV += dvl.x + b * dvl.y + h * dvl.z;
    lse += lse_offset + (ulong)bh * (ulong)T;
    delta += delta_offset + (ulong)bh * (ulong)T;

    stage_own(kown, K, kl.w, row0, T, scale * LOG2E);
#if WANT_DK
    stage_own(vown, V, vl.w, row0, T, 1.0f);
    rowv dk[D];
    UNROLL_D
    for (int c = 0; c < D; c++)
        dk[c] = (rowv)0.0f;
#endif
#if WANT_DV
    rowv dv[D];
    UNROLL_D
    for (int c = 0; c < D; c++)
        dv[c] = (rowv)0.0f;
#endif
    const rowi keys = (rowi)row0 + LANE_IOTA;

    /* Queries before the block's first key see none of its keys: not visited. */
    for (int i0 = causal ? k0 : 0; i0 < T; i0 += BC) {
        barrier(CLK_LOCAL_MEM_FENCE);
        stage_tile(qt, Q, ql.w, i0, T);
        stage_tile(dot_, dO, dol.w, i0, T);
        stage_stat(lt, lse, i0, T, LOG2E);
#if WANT_DK
        stage_stat(deltat, delta, i0, T, 1.0f);
#endif
        barrier(CLK_LOCAL_MEM_FENCE);
        const int iend = min(BC, T - i0);
        for (int i = 0; i < iend; i += JU) {
            rowv p[JU];
            rowi drop[JU];
            dots(p, kown + lid, qt + i * D);
            const int q = i0 + i;
            const bool masked = q + JU > T || (causal && q < k0 + BR - 1);
            UNROLL_ALL
            for (int u = 0; u < JU; u++) {
                p[u] = exp2(p[u] - lt[i + u]);
                if (masked)
                    drop[u] = mask_of(q + u >= T, causal, (rowi)(q + u) < keys);
            }
#if WANT_DV
            if (masked)
                accumulate_masked(dv, (rowv)1.0f, p, drop, dot_ + i * D);
            else
                accumulate(dv, (rowv)1.0f, p, dot_ + i * D);
#endif
#if WANT_DK
            rowv ds[JU];
            dots(ds, vown + lid, dot_ + i * D);
            UNROLL_ALL
            for (int u = 0; u < JU; u++)
                ds[u] = p[u] * (ds[u] - deltat[i + u]);
            if (masked)
                accumulate_masked(dk, (rowv)1.0f, ds, drop, qt + i * D);
            else
                accumulate(dk, (rowv)1.0f, ds, qt + i * D);
#endif
        }
    }
#if WANT_DV
    store_own(dV, dvl.w, row0, T, kown, dv, (rowv)1.0f);
#endif
#if WANT_DK
    store_own(dK, dkl.w, row0, T, vown, dk, (rowv)scale);
#endif
}
#endif

#if KERNELS & 4
/* dQ for BR query rows of one (b, h), looping over the keys they see:
 *     s = q·k, p = exp2(s − lse·log2 e), dp = dout·v, ds = p·(dp − delta),
 *     dq += ds·k (times scale at the end). */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void attention_bwd_dq(const int T, const int H, const float scale, const int causal,
                      __global const ab_t *Q, const long4 ql, __global const ab_t *K,
                      const long4 kl, __global const ab_t *V, const long4 vl,
                      __global const ab_t *dO, const long4 dol, __global const float *lse,
                      const ulong lse_offset, __global const float *delta,
                      const ulong delta_offset, __global c_t *dQ, const long4 dql)
{
    __local rowv qown[D * WG];
    __local rowv doown[D * WG];
    __local float kt[BC * D];
    __local float vt[BC * D];

    const int lid = (int)get_local_id(0);
    const int blocks = (T + BR - 1) / BR;
    const int q0 = (blocks - 1 - (int)get_group_id(0)) * BR;
    const int bh = (int)get_group_id(1), b = bh / H, h = bh - b * H;
    const int row0 = q0 + lid * VR;
    Q += ql.x + b * ql.y + h * ql.z;
    K += kl.x + b * kl.y + h * kl.z;
    V += vl.x + b * vl.y + h * vl.z;
    dO += dol.x + b * dol.y + h * dol.z;
    dQ += dql.x + b * dql.y + h * dql.z;
    lse += lse_offset + (ulong)bh * (ulong)T;
    delta += delta_offset + (ulong)bh * (ulong)T;

    stage_own(qown, Q, ql.w, row0, T, scale * LOG2E);
    stage_own(doown, dO, dol.w, row0, T, 1.0f);
    const rowv lrow = load_stat(lse, row0, T) * LOG2E;
    const rowv drow = load_stat(delta, row0, T);
    const rowi rows = (rowi)row0 + LANE_IOTA;
    rowv dq[D];
    UNROLL_D
    for (int c = 0; c < D; c++)
        dq[c] = (rowv)0.0f;

    const int kend = causal ? min(T, q0 + BR) : T;
    for (int k0 = 0; k0 < kend; k0 += BC) {
        barrier(CLK_LOCAL_MEM_FENCE);
        stage_tile(kt, K, kl.w, k0, T);
        stage_tile(vt, V, vl.w, k0, T);
        barrier(CLK_LOCAL_MEM_FENCE);
        const int jend = min(BC, kend - k0);
        for (int j = 0; j < jend; j += JU) {
            rowv p[JU], ds[JU];
            rowi drop[JU];
            dots(p, qown + lid, kt + j * D);
            dots(ds, doown + lid, vt + j * D);
            const int key0 = k0 + j;
            const bool masked = key0 + JU > T || (causal && key0 + JU - 1 > q0);
            UNROLL_ALL
            for (int u = 0; u < JU; u++) {
                p[u] = exp2(p[u] - lrow);
                ds[u] = p[u] * (ds[u] - drow);
                if (masked)
                    drop[u] = mask_of(key0 + u >= T, causal, (rowi)(key0 + u) > rows);
            }
            if (masked)
                accumulate_masked(dq, (rowv)1.0f, ds, drop, kt + j * D);
            else
                accumulate(dq, (rowv)1.0f, ds, kt + j * D);
        }
    }
    store_own(dQ, dql.w, row0, T, qown, dq, (rowv)scale);
}
#endif
