/* clt-prelude: dtype.cl */
/* GEMM for CPU devices (PoCL, CPU runtimes): C = alpha·op(A)·op(B) + beta·C + bias,
 * row-major, f32 arithmetic over any storage dtype (include/clt/op.h).
 *
 * The BLIS/GotoBLAS shape, in three launches:
 *   gemm_pack_a  op(A) (M,K) -> Ap [ceil(M/RM)][K][RM]  f32, rows >= M zero
 *   gemm_pack_b  op(B) (K,N) -> Bp [ceil(N/NR)][K][NR]  f32, columns >= N zero
 *   gemm_cpu     one work-item (a work-group of 1: a CPU thread runs it alone, nothing to
 *                vectorise across work-items) computes RM×NR blocks of C in RM vector
 *                registers of NR floats, streaming one contiguous panel of each.
 * Packing is why this is fast: the micro-kernel reads memory in order whatever the
 * layout, transposes and strides of A and B, and power-of-two row strides no longer
 * thrash cache sets (2048² ran ~23 GFLOP/s unpacked). It is also where f16/bf16 become
 * f32, so the micro-kernel is the same for every dtype and only the packing (O(MK+KN),
 * not O(MNK)) pays for the conversion.
 *
 * Global ids of gemm_cpu: 0 = row block, 1 = group of column blocks, 2 = batch;
 * work-groups are taken in order, so neighbours share B panels while hot in cache.
 *
 * Build options: -DRM (rows, 1..16), -DNR (8 or 16: the vector width), -DKU (k-loop
 * unroll), -DAB_DTYPE, -DC_DTYPE. Use fma(), not mad(): PoCL lowers mad() to a multiply
 * and an add, fma() to the FMA instruction. */

#ifndef RM
#define RM 6
#endif
#ifndef NR
#define NR 16
#endif
#ifndef KU
#define KU 2
#endif


#define VT XCAT(float, NR)
#define VLOAD_NR(i, p) XCAT(vload, NR)((i), (p))

/* One work-item packs the RM values of row block `ib` at depth k: Ap[ib][k][0..RM). */
__kernel void gemm_pack_a(const int M, const int K, __global const ab_t *A,
                          const ulong a_offset, const long lda, const long a_batch_stride,
                          const int trans_a, __global float *Ap, const long ap_batch_stride)
{
    const int k = (int)get_global_id(0);
    const int ib = (int)get_global_id(1);
    const long batch = (long)get_global_id(2);
    if (k >= K)
        return;
    A += a_offset + (ulong)(batch * a_batch_stride);
    __global float *dst = Ap + batch * ap_batch_stride + ((long)ib * K + k) * RM;
    for (int r = 0; r < RM; r++) {
        const int m = ib * RM + r;
        float v = 0.0f;
        if (m < M)
            v = LOAD_AB(A, trans_a ? (long)k * lda + m : (long)m * lda + k);
        dst[r] = v;
    }
}

/* One work-item packs the NR values of column block `jb` at depth k: Bp[jb][k][0..NR). */
__kernel void gemm_pack_b(const int N, const int K, __global const ab_t *B,
                          const ulong b_offset, const long ldb, const long b_batch_stride,
                          const int trans_b, __global float *Bp, const long bp_batch_stride)
{
    const int k = (int)get_global_id(0);
    const int jb = (int)get_global_id(1);
    const long batch = (long)get_global_id(2);
    if (k >= K)
        return;
    B += b_offset + (ulong)(batch * b_batch_stride);
    __global float *dst = Bp + batch * bp_batch_stride + ((long)jb * K + k) * NR;
    const int n0 = jb * NR;
    if (!trans_b && n0 + NR <= N) { /* a whole row segment: one vector load */
        vstore8(LOAD_AB_V(8, 0, B + (long)k * ldb + n0), 0, dst);
#if NR == 16
        vstore8(LOAD_AB_V(8, 0, B + (long)k * ldb + n0 + 8), 0, dst + 8);
#endif
        return;
    }
    for (int j = 0; j < NR; j++) {
        const int n = n0 + j;
        float v = 0.0f;
        if (n < N)
            v = LOAD_AB(B, trans_b ? (long)n * ldb + k : (long)k * ldb + n);
        dst[j] = v;
    }
}

/* The RM×NR block (ib, jb) of C: the micro-kernel and the epilogue. Helper functions
 * here are plain definitions, not `inline`: under C99 rules an inline-only definition
 * leaves an unresolved symbol wherever the compiler chooses not to inline (NVPTX did). */
void gemm_block(const int M, const int N, const int K, const int ib, const int jb,
                __global const float *ap, __global const float *bp, __global c_t *C,
                const long ldc, __global const c_t *bias, const int has_bias,
                const float alpha, const float beta)
{
    VT acc[RM];
#pragma unroll
    for (int r = 0; r < RM; r++)
        acc[r] = (VT)0.0f;

    int k = 0;
    for (; k + KU <= K; k += KU) {
#pragma unroll
        for (int u = 0; u < KU; u++) {
            const VT b = VLOAD_NR(0, bp + (k + u) * NR);
#pragma unroll
            for (int r = 0; r < RM; r++)
                acc[r] = fma((VT)ap[(k + u) * RM + r], b, acc[r]);
        }
    }
    for (; k < K; k++) {
        const VT b = VLOAD_NR(0, bp + k * NR);
#pragma unroll
        for (int r = 0; r < RM; r++)
            acc[r] = fma((VT)ap[k * RM + r], b, acc[r]);
    }

    /* Epilogue: alpha, beta (C not read when beta is 0, so NaN there cannot leak), bias,
     * rounding to c's dtype. Rows past M are skipped; a block that reaches past N is
     * stored element by element. */
    const int m0 = ib * RM, n0 = jb * NR;
    const bool whole = n0 + NR <= N;
#pragma unroll
    for (int r = 0; r < RM; r++) {
        const int m = m0 + r;
        if (m >= M)
            break;
        __global c_t *c = C + (long)m * ldc + n0;
        VT v = alpha * acc[r];
        if (whole) {
            if (beta != 0.0f)
                v = fma((VT)beta, LOAD_C_V(NR, 0, c), v);
            if (has_bias)
                v += LOAD_C_V(NR, 0, bias + n0);
            STORE_C_V(NR, v, 0, c);
        } else {
            float e[NR];
            XCAT(vstore, NR)(v, 0, e);
            for (int j = 0; j < N - n0; j++) {
                float x = e[j];
                if (beta != 0.0f)
                    x = fma(beta, LOAD_C(c, j), x);
                if (has_bias)
                    x += LOAD_C(bias, n0 + j);
                STORE_C(x, c, j);
            }
        }
    }
}

/* Global ids: 0 = row block, 1 = a group of `jb_per_item` column blocks, 2 = batch. A
 * work-item that does several column blocks reuses its A panel from cache for each
 * (measured on PoCL at 2048²: 0.7× OpenBLAS with one block per item, 0.9–1.0× with
 * 4–16), and a CPU runtime pays its per-work-group cost fewer times. */
__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void gemm_cpu(const int M, const int N, const int K,
              __global const float *Ap, const long ap_batch_stride,
              __global const float *Bp, const long bp_batch_stride,
              __global c_t *C, const ulong c_offset, const long ldc, const long c_batch_stride,
              __global const c_t *bias, const ulong bias_offset, const int has_bias,
              const float alpha, const float beta, const int jb_per_item)
{
    const int ib = (int)get_global_id(0);
    const int jg = (int)get_global_id(1);
    const long batch = (long)get_global_id(2);
    __global const float *ap = Ap + batch * ap_batch_stride + (long)ib * K * RM;
    C += c_offset + (ulong)(batch * c_batch_stride);
    bias += bias_offset;
    for (int jb = jg * jb_per_item; jb < (jg + 1) * jb_per_item && jb * NR < N; jb++)
        gemm_block(M, N, K, ib, jb, ap, Bp + batch * bp_batch_stride + (long)jb * K * NR, C,
                   ldc, bias, has_bias, alpha, beta);
}
