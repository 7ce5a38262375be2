/* The optimizer loops in AVX-512, 16 floats at a time: the scalar loops' operations in
 * the scalar loops' order (mul, add, div, sqrt: each IEEE-rounded, no FMA), so the same
 * bits; the update loops' tails go to the scalar loops, the codec's and the copy's are
 * masked. Compiled for every x86-64 build through per-function target attributes and
 * used only where the CPU says it has AVX-512 F, BW and VL. */
#include <math.h>
#include <string.h>

#include "backends/host/optim_simd.h"

#ifdef CLT_HAVE_OPTIM_AVX512
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))

/* adam_step, adam_moments, adam_direction, sgd_step */
#define SIMD_FN AVX512 static
#define SIMD_W 16
typedef __m512 simd_v;
#define SIMD_SET1 _mm512_set1_ps
#define SIMD_LOAD _mm512_loadu_ps
#define SIMD_STORE _mm512_storeu_ps
#define SIMD_ADD _mm512_add_ps
#define SIMD_SUB _mm512_sub_ps
#define SIMD_MUL _mm512_mul_ps
#define SIMD_DIV _mm512_div_ps
#define SIMD_SQRT _mm512_sqrt_ps
#include "backends/host/optim_simd_update.h"

/* ---- the q8 codec ----------------------------------------------------------------------
 * quant8.c's loops, 16 lanes wide, partial vectors masked. absmax is the integer max of
 * |x|'s bits (quant8.c says why). The code of v = x/absmax is clt_q8_code's binary
 * search on 16 lanes at once with every step's thresholds in registers: step l reads
 * the codebook's tree (quant8.h) at 2^l - 1 + (pos >> (8 - l)), a table of 2^l floats;
 * steps 1-4 (up to 16) are one permute, step 5 (32) one two-table permute, steps 6 and
 * 7 (64, 128) two and four of those and blends on the index's high bits. A gather would
 * do the same with fewer instructions but is several times slower where it was
 * measured (AMD Zen 4). Every step compares v >= t as the scalar search does (false for
 * NaN), so the codes are the scalar ones, lane for lane. */

/* Lanes below `count` set (all 16 from 16 up). */
AVX512 static inline __mmask16 first_lanes(size_t count)
{
    return (__mmask16)(count >= 16 ? 0xffffu : (1u << count) - 1u);
}

struct search_tables {
    __m512 t0, t1, t2, t3, t4; /* steps 0-4; t0 broadcast */
    __m512 t5[2], t6[4], t7[8];
};

AVX512 static inline void tables_of(const struct clt_q8_codebook *cb, struct search_tables *st)
{
    st->t0 = _mm512_set1_ps(cb->tree[0]);
    st->t1 = _mm512_loadu_ps(cb->tree + 1); /* a table's tail reads the next table: unused */
    st->t2 = _mm512_loadu_ps(cb->tree + 3);
    st->t3 = _mm512_loadu_ps(cb->tree + 7);
    st->t4 = _mm512_loadu_ps(cb->tree + 15);
    for (int i = 0; i < 2; i++)
        st->t5[i] = _mm512_loadu_ps(cb->tree + 31 + 16 * i);
    for (int i = 0; i < 4; i++)
        st->t6[i] = _mm512_loadu_ps(cb->tree + 63 + 16 * i);
    for (int i = 0; i < 8; i++)
        st->t7[i] = _mm512_loadu_ps(cb->tree + 127 + 16 * i);
}

/* pos += step where v >= t */
#define SEARCH_STEP(pos, v, t, step)                                                         \
    pos = _mm512_mask_add_epi32(pos, _mm512_cmp_ps_mask(v, t, _CMP_GE_OQ), pos,             \
                                _mm512_set1_epi32(step))

AVX512 static inline __m512i codes16(const struct search_tables *st, __m512 v)
{
    __m512i pos = _mm512_maskz_mov_epi32(_mm512_cmp_ps_mask(v, st->t0, _CMP_GE_OQ),
                                         _mm512_set1_epi32(128));
    SEARCH_STEP(pos, v, _mm512_permutexvar_ps(_mm512_srli_epi32(pos, 7), st->t1), 64);
    SEARCH_STEP(pos, v, _mm512_permutexvar_ps(_mm512_srli_epi32(pos, 6), st->t2), 32);
    SEARCH_STEP(pos, v, _mm512_permutexvar_ps(_mm512_srli_epi32(pos, 5), st->t3), 16);
    SEARCH_STEP(pos, v, _mm512_permutexvar_ps(_mm512_srli_epi32(pos, 4), st->t4), 8);
    /* two-table permutes index with the low 5 bits; higher bits pick the pair */
    const __m512i bit5 = _mm512_set1_epi32(32), bit6 = _mm512_set1_epi32(64);
    __m512i k = _mm512_srli_epi32(pos, 3);
    SEARCH_STEP(pos, v, _mm512_permutex2var_ps(st->t5[0], k, st->t5[1]), 4);
    k = _mm512_srli_epi32(pos, 2);
    __mmask16 hi5 = _mm512_test_epi32_mask(k, bit5);
    SEARCH_STEP(pos, v,
                _mm512_mask_blend_ps(hi5, _mm512_permutex2var_ps(st->t6[0], k, st->t6[1]),
                                     _mm512_permutex2var_ps(st->t6[2], k, st->t6[3])),
                2);
    k = _mm512_srli_epi32(pos, 1);
    hi5 = _mm512_test_epi32_mask(k, bit5);
    const __mmask16 hi6 = _mm512_test_epi32_mask(k, bit6);
    const __m512 lo = _mm512_mask_blend_ps(hi5, _mm512_permutex2var_ps(st->t7[0], k, st->t7[1]),
                                           _mm512_permutex2var_ps(st->t7[2], k, st->t7[3]));
    const __m512 hi = _mm512_mask_blend_ps(hi5, _mm512_permutex2var_ps(st->t7[4], k, st->t7[5]),
                                           _mm512_permutex2var_ps(st->t7[6], k, st->t7[7]));
    SEARCH_STEP(pos, v, _mm512_mask_blend_ps(hi6, lo, hi), 1);
    return pos;
}

AVX512 static int32_t absmax_bits(const float *x, size_t len)
{
    const __m512i abs = _mm512_set1_epi32(0x7fffffff);
    __m512i m = _mm512_setzero_si512();
    size_t i = 0;
    for (; i + 16 <= len; i += 16)
        m = _mm512_max_epi32(m, _mm512_and_si512(abs, _mm512_loadu_si512(x + i)));
    if (i < len) /* masked-off lanes read as 0 and touch no memory */
        m = _mm512_max_epi32(m, _mm512_and_si512(abs, _mm512_maskz_loadu_epi32(
                                                          first_lanes(len - i), x + i)));
    return _mm512_reduce_max_epi32(m);
}

AVX512 static void q8_quantize(const struct clt_q8_codebook *cb, const float *x, size_t n,
                               size_t block, uint8_t *codes, float *absmax)
{
    // x (n), codes (n), absmax (ceil(n / block))
    struct search_tables st;
    tables_of(cb, &st);
    for (size_t b = 0, start = 0; start < n; b++, start += block) {
        const size_t len = n - start < block ? n - start : block;
        const float *xb = x + start;
        uint8_t *cb8 = codes + start;
        const int32_t mbits = absmax_bits(xb, len);
        if (mbits == 0 || mbits >= 0x7f800000) {
            absmax[b] = mbits == 0 ? 0.0f : NAN;
            memset(cb8, cb->zero_code, len);
            continue;
        }
        float am;
        memcpy(&am, &mbits, sizeof am);
        absmax[b] = am;
        const __m512 amv = _mm512_set1_ps(am);
        size_t i = 0;
        for (; i + 16 <= len; i += 16) {
            const __m512 v = _mm512_div_ps(_mm512_loadu_ps(xb + i), amv);
            _mm_storeu_si128((void *)(cb8 + i), _mm512_cvtepi32_epi8(codes16(&st, v)));
        }
        if (i < len) {
            const __mmask16 live = first_lanes(len - i);
            const __m512 v = _mm512_div_ps(_mm512_maskz_loadu_ps(live, xb + i), amv);
            _mm512_mask_cvtepi32_storeu_epi8(cb8 + i, live, codes16(&st, v));
        }
    }
}

/* map[code] from the 256-entry map held in registers, as the search does: two-table
 * permutes on the low 5 bits and blends on bits 5-7 (faster than a gather here, too). */
AVX512 static void q8_dequantize(const struct clt_q8_codebook *cb, const uint8_t *codes,
                                 const float *absmax, size_t n, size_t block, float *x)
{
    // codes (n), absmax (ceil(n / block)), x (n)
    __m512 map[16];
    for (int i = 0; i < 16; i++)
        map[i] = _mm512_loadu_ps(cb->map + 16 * i);
    const __m512i bit5 = _mm512_set1_epi32(32), bit6 = _mm512_set1_epi32(64),
                  bit7 = _mm512_set1_epi32(128);
    for (size_t b = 0, start = 0; start < n; b++, start += block) {
        const size_t len = n - start < block ? n - start : block;
        const __m512 amv = _mm512_set1_ps(absmax[b]);
        for (size_t i = 0; i < len; i += 16) {
            const __mmask16 live = first_lanes(len - i);
            const __m512i c = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(live, codes + start + i));
            const __mmask16 h5 = _mm512_test_epi32_mask(c, bit5),
                            h6 = _mm512_test_epi32_mask(c, bit6),
                            h7 = _mm512_test_epi32_mask(c, bit7);
            __m512 q[4];
            for (int j = 0; j < 4; j++) /* map[64j, 64j + 64) */
                q[j] = _mm512_mask_blend_ps(
                    h5, _mm512_permutex2var_ps(map[4 * j], c, map[4 * j + 1]),
                    _mm512_permutex2var_ps(map[4 * j + 2], c, map[4 * j + 3]));
            const __m512 t = _mm512_mask_blend_ps(h7, _mm512_mask_blend_ps(h6, q[0], q[1]),
                                                  _mm512_mask_blend_ps(h6, q[2], q[3]));
            _mm512_mask_storeu_ps(x + start + i, live, _mm512_mul_ps(t, amv));
        }
    }
}

/* ---- the f16 / bf16 copy ----------------------------------------------------------------
 * The hardware's f16 conversion with round-to-nearest-even is clt_f32_to_f16 bit for bit,
 * NaN payloads included (both quieten and keep the top 9 payload bits; checked against
 * every one of the 2^32 floats). bf16 is convert.c's integer rounding, lane by lane (the
 * AVX-512 BF16 instruction is not: it flushes subnormal inputs to zero). */

AVX512 static void to_f16(const float *x, uint16_t *out, size_t n)
{
    for (size_t i = 0; i < n; i += 16) {
        const __mmask16 live = first_lanes(n - i);
        const __m256i h = _mm512_cvtps_ph(_mm512_maskz_loadu_ps(live, x + i),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm256_mask_storeu_epi16(out + i, live, h);
    }
}

AVX512 static void to_bf16(const float *x, uint16_t *out, size_t n)
{
    const __m512i abs = _mm512_set1_epi32(0x7fffffff), inf = _mm512_set1_epi32(0x7f800000);
    const __m512i half = _mm512_set1_epi32(0x7fff), one = _mm512_set1_epi32(1);
    const __m512i quiet = _mm512_set1_epi32(0x40);
    for (size_t i = 0; i < n; i += 16) {
        const __mmask16 live = first_lanes(n - i);
        const __m512i u = _mm512_maskz_loadu_epi32(live, x + i);
        const __m512i hi = _mm512_srli_epi32(u, 16);
        const __m512i rounded = _mm512_srli_epi32(
            _mm512_add_epi32(u, _mm512_add_epi32(half, _mm512_and_si512(hi, one))), 16);
        const __mmask16 nan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(u, abs), inf);
        const __m512i r = _mm512_mask_or_epi32(rounded, nan, hi, quiet);
        _mm256_mask_storeu_epi16(out + i, live, _mm512_cvtepi32_epi16(r));
    }
}

const struct clt_optim_kernels clt_optim_kernels_avx512 = {
    .adam_step = adam_step,
    .adam_moments = adam_moments,
    .adam_direction = adam_direction,
    .sgd_step = sgd_step,
    .q8_quantize = q8_quantize,
    .q8_dequantize = q8_dequantize,
    .to_f16 = to_f16,
    .to_bf16 = to_bf16,
};
#else
/* ISO C wants something in a translation unit. */
typedef int clt_optim_simd_avx512_unused;
#endif
