/* clt-prelude: dtype.cl */
/* GEMM, the direct kernel: C = alpha·op(A)·op(B) + beta·C + bias, row-major, in f32
 * arithmetic over any storage dtype (include/clt/op.h; dtype.cl's AB_DTYPE, C_DTYPE).
 *
 * One work-group of TS×TS work-items computes one TS×TS tile of C, one element each,
 * walking K in steps of TS through two tiles in local memory. Edges are guarded, so any
 * M, N, K >= 1 works; the global size is rounded up to whole work-groups. Work-group
 * dimension 2 is the batch.
 *
 * It needs no setup and takes every layout, so it runs small problems (where the tiled
 * families' packing and larger tiles do not pay) and is the fallback for everything.
 * Build options: -DTS=<tile> (16, or 8 on devices with fewer than 256 work-items per
 * group), -DAB_DTYPE, -DC_DTYPE. OpenCL C 1.2 only.
 *
 * Indexing: a tensor's first element is at `<x>_offset` elements from its buffer's start
 * (ulong: buffers can exceed 4 GiB); its row stride is `ld<x>` and its batch stride
 * `<x>_batch_stride` (0: the same matrix for every batch). Index arithmetic is in long. */

#ifndef TS
#define TS 16
#endif

__kernel __attribute__((reqd_work_group_size(TS, TS, 1)))
void gemm_direct(const int M, const int N, const int K,
                 __global const ab_t *A, const ulong a_offset, const long lda,
                 const long a_batch_stride, const int trans_a,
                 __global const ab_t *B, const ulong b_offset, const long ldb,
                 const long b_batch_stride, const int trans_b,
                 __global c_t *C, const ulong c_offset, const long ldc,
                 const long c_batch_stride,
                 __global const c_t *bias, const ulong bias_offset, const int has_bias,
                 const float alpha, const float beta)
{
    /* a_tile[m][k] and b_tile[k][n]; the +1 column keeps the transposed stores below
     * free of local-memory bank conflicts. */
    __local float a_tile[TS][TS + 1];
    __local float b_tile[TS][TS + 1];

    const int lx = (int)get_local_id(0);  /* along N (and along the contiguous index) */
    const int ly = (int)get_local_id(1);  /* along M */
    const int m0 = (int)get_group_id(1) * TS;
    const int n0 = (int)get_group_id(0) * TS;
    const long batch = (long)get_global_id(2);

    A += a_offset + (ulong)(batch * a_batch_stride);
    B += b_offset + (ulong)(batch * b_batch_stride);
    C += c_offset + (ulong)(batch * c_batch_stride);

    const int m = m0 + ly;
    const int n = n0 + lx;
    float acc = 0.0f;

    for (int k0 = 0; k0 < K; k0 += TS) {
        /* Neighbouring work-items (lx) read neighbouring addresses in every layout:
         * A (M,K): lx walks k; A stored (K,M): lx walks m. Likewise for B. */
        if (!trans_a) {
            const int am = m0 + ly, ak = k0 + lx;
            a_tile[ly][lx] = (am < M && ak < K) ? LOAD_AB(A, (long)am * lda + ak) : 0.0f;
        } else {
            const int am = m0 + lx, ak = k0 + ly;
            a_tile[lx][ly] = (am < M && ak < K) ? LOAD_AB(A, (long)ak * lda + am) : 0.0f;
        }
        if (!trans_b) {
            const int bk = k0 + ly, bn = n0 + lx;
            b_tile[ly][lx] = (bk < K && bn < N) ? LOAD_AB(B, (long)bk * ldb + bn) : 0.0f;
        } else {
            const int bk = k0 + lx, bn = n0 + ly;
            b_tile[lx][ly] = (bk < K && bn < N) ? LOAD_AB(B, (long)bn * ldb + bk) : 0.0f;
        }
        barrier(CLK_LOCAL_MEM_FENCE);

        for (int k = 0; k < TS; k++)
            acc = fma(a_tile[ly][k], b_tile[k][lx], acc);
        barrier(CLK_LOCAL_MEM_FENCE);
    }

    if (m < M && n < N) {
        const long at = (long)m * ldc + n;
        float value = alpha * acc;
        /* beta == 0 means C is output only: never read it, so NaN there cannot leak. */
        if (beta != 0.0f)
            value = fma(beta, LOAD_C(C, at), value);
        if (has_bias)
            value += LOAD_C(bias, bias_offset + (ulong)n);
        STORE_C(value, C, at);
    }
}
