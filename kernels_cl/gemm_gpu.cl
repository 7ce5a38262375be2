/* clt-prelude: dtype.cl */
/* GEMM for GPUs: C = alpha·op(A)·op(B) + beta·C + bias, row-major, f32 arithmetic over
 * any storage dtype (include/clt/op.h). The shape of CLBlast's xgemm, with its names:
 *
 *   a work-group of NDIMC×MDIMC work-items computes an MWG×NWG tile of C;
 *   it walks K in KWG-deep slices: op(A)'s MWG×KWG and op(B)'s KWG×NWG, loaded by all
 *   work-items together (converted to f32 on the way, zero past the edges) into local
 *   memory as a_tile[k][m] and b_tile[k][n];
 *   each work-item keeps an MWI×NWI block of C in registers (MWI = MWG/MDIMC,
 *   NWI = NWG/NDIMC), read from the tiles in vectors of VWM and VWN floats; its rows are
 *   m = (i/VWM)·MDIMC·VWM + tid_m·VWM + i%VWM, likewise its columns, so neighbouring
 *   work-items read neighbouring local words (no bank conflicts) and write
 *   neighbouring C elements (coalesced: local id 0 runs along N, C's contiguous index).
 *
 * Global loads use vectors of VWM (A) and VWN (B) along the operand's contiguous
 * dimension where the whole slice is inside the matrix, else guarded scalars. Unlike
 * CLBlast there is no separate transpose/pad kernel: transposes are build options
 * (-DTRANS_A, -DTRANS_B), edges are guarded, so one launch does everything.
 *
 * Build options: -DMWG -DNWG -DKWG -DMDIMC -DNDIMC -DVWM -DVWN (1, 2, 4, 8; MWG a
 * multiple of MDIMC·VWM, NWG of NDIMC·VWN, KWG of VWM and VWN), -DTRANS_A -DTRANS_B,
 * -DAB_DTYPE -DC_DTYPE. Global size (⌈N/NWG⌉·NDIMC, ⌈M/MWG⌉·MDIMC, batch). */

#ifndef MWG
#define MWG 64
#endif
#ifndef NWG
#define NWG 64
#endif
#ifndef KWG
#define KWG 16
#endif
#ifndef MDIMC
#define MDIMC 16
#endif
#ifndef NDIMC
#define NDIMC 16
#endif
#ifndef VWM
#define VWM 2
#endif
#ifndef VWN
#define VWN 2
#endif
#ifndef TRANS_A
#define TRANS_A 0
#endif
#ifndef TRANS_B
#define TRANS_B 0
#endif

#define MWI (MWG / MDIMC)
#define NWI (NWG / NDIMC)
#define THREADS (MDIMC * NDIMC)

/* W floats between global (any dtype), local and private memory, W a build constant. */
#define GLOAD_1(p) LOAD_AB(p, 0)
#define GLOAD_2(p) LOAD_AB_V(2, 0, p)
#define GLOAD_4(p) LOAD_AB_V(4, 0, p)
#define GLOAD_8(p) LOAD_AB_V(8, 0, p)
#define VLOAD_1(p) ((p)[0])
#define VLOAD_2(p) vload2(0, p)
#define VLOAD_4(p) vload4(0, p)
#define VLOAD_8(p) vload8(0, p)
#define VPUT_1(x, q) ((q)[0] = (x))
#define VPUT_2(x, q) vstore2((x), 0, (q))
#define VPUT_4(x, q) vstore4((x), 0, (q))
#define VPUT_8(x, q) vstore8((x), 0, (q))
#define GLOAD_W(W, p, out) XCAT(VPUT_, W)(XCAT(GLOAD_, W)(p), out)
#define LOCAL_W(W, p, out) XCAT(VPUT_, W)(XCAT(VLOAD_, W)(p), out)

/* Copies a ROWS×COLS slice (rows r0.., columns c0.. of a row-major matrix with row
 * stride ld; rows < r_end and columns < c_end exist) into the tile, as tile[r][c] or,
 * `transposed`, tile[c][r]. W floats per load along the row. In the transposed case the
 * work-items run along r first, so their local stores hit different banks. */
#define DEFINE_LOAD_TILE(name, W)                                                         \
    void name(__local float *tile, __global const ab_t *src, const long ld,               \
              const int r0, const int r_end, const int c0, const int c_end,               \
              const int ROWS, const int COLS, const bool transposed, const int tid)       \
    {                                                                                     \
        const bool whole = r0 + ROWS <= r_end && c0 + COLS <= c_end;                      \
        const int vectors = ROWS * COLS / W;                                              \
        for (int t = 0; t < (vectors + THREADS - 1) / THREADS; t++) {                     \
            const int idx = t * THREADS + tid;                                            \
            if (idx >= vectors)                                                           \
                break;                                                                    \
            const int r = transposed ? idx % ROWS : idx / (COLS / W);                     \
            const int c = (transposed ? idx / ROWS : idx % (COLS / W)) * W;               \
            float v[W];                                                                   \
            if (whole) {                                                                  \
                GLOAD_W(W, src + (long)(r0 + r) * ld + (c0 + c), v);                      \
            } else {                                                                      \
                for (int w = 0; w < W; w++)                                               \
                    v[w] = r0 + r < r_end && c0 + c + w < c_end                           \
                               ? LOAD_AB(src, (long)(r0 + r) * ld + (c0 + c + w))         \
                               : 0.0f;                                                    \
            }                                                                             \
            for (int w = 0; w < W; w++) {                                                 \
                if (transposed)                                                           \
                    tile[(c + w) * ROWS + r] = v[w];                                      \
                else                                                                      \
                    tile[r * COLS + c + w] = v[w];                                        \
            }                                                                             \
        }                                                                                 \
    }

DEFINE_LOAD_TILE(load_tile_a, VWM)
DEFINE_LOAD_TILE(load_tile_b, VWN)

__kernel __attribute__((reqd_work_group_size(NDIMC, MDIMC, 1)))
void gemm_gpu(const int M, const int N, const int K,
              __global const ab_t *A, const ulong a_offset, const long lda,
              const long a_batch_stride,
              __global const ab_t *B, const ulong b_offset, const long ldb,
              const long b_batch_stride,
              __global c_t *C, const ulong c_offset, const long ldc, const long c_batch_stride,
              __global const c_t *bias, const ulong bias_offset, const int has_bias,
              const float alpha, const float beta)
{
    __local float a_tile[KWG * MWG]; /* [k][m] */
    __local float b_tile[KWG * NWG]; /* [k][n] */

    const int tid_n = (int)get_local_id(0);
    const int tid_m = (int)get_local_id(1);
    const int tid = tid_m * NDIMC + tid_n;
    const int n0 = (int)get_group_id(0) * NWG;
    const int m0 = (int)get_group_id(1) * MWG;
    const long batch = (long)get_group_id(2);
    A += a_offset + (ulong)(batch * a_batch_stride);
    B += b_offset + (ulong)(batch * b_batch_stride);

    float acc[MWI][NWI];
#pragma unroll
    for (int i = 0; i < MWI; i++)
#pragma unroll
        for (int j = 0; j < NWI; j++)
            acc[i][j] = 0.0f;

    for (int k0 = 0; k0 < K; k0 += KWG) {
#if TRANS_A /* A stored (K,M): rows are k, m contiguous */
        load_tile_a(a_tile, A, lda, k0, K, m0, M, KWG, MWG, false, tid);
#else /* A stored (M,K): rows are m, k contiguous */
        load_tile_a(a_tile, A, lda, m0, M, k0, K, MWG, KWG, true, tid);
#endif
#if TRANS_B /* B stored (N,K) */
        load_tile_b(b_tile, B, ldb, n0, N, k0, K, NWG, KWG, true, tid);
#else /* B stored (K,N) */
        load_tile_b(b_tile, B, ldb, k0, K, n0, N, KWG, NWG, false, tid);
#endif
        barrier(CLK_LOCAL_MEM_FENCE);

#pragma unroll 4
        for (int k = 0; k < KWG; k++) {
            float a[MWI], b[NWI];
#pragma unroll
            for (int i = 0; i < MWI / VWM; i++)
                LOCAL_W(VWM, a_tile + k * MWG + i * MDIMC * VWM + tid_m * VWM, a + i * VWM);
#pragma unroll
            for (int j = 0; j < NWI / VWN; j++)
                LOCAL_W(VWN, b_tile + k * NWG + j * NDIMC * VWN + tid_n * VWN, b + j * VWN);
#pragma unroll
            for (int i = 0; i < MWI; i++)
#pragma unroll
                for (int j = 0; j < NWI; j++)
                    acc[i][j] = fma(a[i], b[j], acc[i][j]);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }

    /* Epilogue: alpha, beta (C not read when beta is 0), bias, rounding to c's dtype;
     * elements past M or N are skipped. */
    C += c_offset + (ulong)(batch * c_batch_stride);
#pragma unroll
    for (int i = 0; i < MWI; i++) {
        const int m = m0 + (i / VWM) * MDIMC * VWM + tid_m * VWM + i % VWM;
        if (m >= M)
            continue;
#pragma unroll
        for (int j = 0; j < NWI; j++) {
            const int n = n0 + (j / VWN) * NDIMC * VWN + tid_n * VWN + j % VWN;
            if (n >= N)
                continue;
            const long at = (long)m * ldc + n;
            float value = alpha * acc[i][j];
            if (beta != 0.0f)
                value = fma(beta, LOAD_C(C, at), value);
            if (has_bias)
                value += LOAD_C(bias, bias_offset + (ulong)n);
            STORE_C(value, C, at);
        }
    }
}
