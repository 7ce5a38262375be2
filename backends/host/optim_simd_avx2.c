/* The optimizer loops in AVX2, 8 floats at a time: the scalar loops' operations in the
 * scalar loops' order (mul, add, div, sqrt: each IEEE-rounded, no FMA), so the same bits;
 * tails go to the scalar loops themselves. The q8 codec and the f16/bf16 copy are here
 * too (see each). Compiled for every x86-64 build through per-function target attributes
 * and used only where the CPU says it has AVX2 and F16C. */
#include <math.h>
#include <string.h>

#include "backends/host/optim_simd.h"

#ifdef CLT_HAVE_OPTIM_AVX2
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,f16c")))

/* adam_step, adam_moments, adam_direction, sgd_step */
#define SIMD_FN AVX2 static
#define SIMD_W 8
typedef __m256 simd_v;
#define SIMD_SET1 _mm256_set1_ps
#define SIMD_LOAD _mm256_loadu_ps
#define SIMD_STORE _mm256_storeu_ps
#define SIMD_ADD _mm256_add_ps
#define SIMD_SUB _mm256_sub_ps
#define SIMD_MUL _mm256_mul_ps
#define SIMD_DIV _mm256_div_ps
#define SIMD_SQRT _mm256_sqrt_ps
#include "backends/host/optim_simd_update.h"

/* ---- the q8 codec ----------------------------------------------------------------------
 * quant8.c's loops, 8 lanes wide. absmax is the integer max of |x|'s bits (quant8.c says
 * why), so the zero and non-finite blocks are found exactly as there. The code of
 * v = x/absmax is clt_q8_code's binary search run on 8 lanes at once, step l reading
 * the codebook's tree (quant8.h): steps 1-3 (2, 4, 8 thresholds) and step 4 (16, two
 * halves and a blend) permute a table held in registers, steps 5-7 (32 to 128) gather
 * from it. Every step compares v >= t as the scalar search does (false for NaN), so the
 * codes are the scalar ones, lane for lane. */

/* Lanes below `count` (0..8) set. */
AVX2 static __m256i first_lanes(size_t count)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)count),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

AVX2 static int32_t absmax_bits(const float *x, size_t len)
{
    const __m256i abs = _mm256_set1_epi32(0x7fffffff);
    __m256i m = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 8 <= len; i += 8)
        m = _mm256_max_epi32(m, _mm256_and_si256(abs, _mm256_loadu_si256((const void *)(x + i))));
    if (i < len) { /* masked-off lanes read as 0 and touch no memory */
        const __m256i tail = _mm256_maskload_epi32((const int *)(x + i), first_lanes(len - i));
        m = _mm256_max_epi32(m, _mm256_and_si256(abs, tail));
    }
    __m128i r = _mm_max_epi32(_mm256_castsi256_si128(m), _mm256_extracti128_si256(m, 1));
    r = _mm_max_epi32(r, _mm_shuffle_epi32(r, 0x4e));
    r = _mm_max_epi32(r, _mm_shuffle_epi32(r, 0xb1));
    return _mm_cvtsi128_si32(r);
}

struct search_tables {
    __m256 t0, t1, t2, t3, t4a, t4b; /* steps 0-4; t0 broadcast */
    const float *tree;
};

/* pos += step where v >= t */
#define SEARCH_STEP(pos, v, t, step)                                                         \
    pos = _mm256_add_epi32(                                                                  \
        pos, _mm256_and_si256(_mm256_castps_si256(_mm256_cmp_ps(v, t, _CMP_GE_OQ)),          \
                              _mm256_set1_epi32(step)))

AVX2 static inline __m256i codes8(const struct search_tables *st, __m256 v)
{
    __m256i pos = _mm256_and_si256(_mm256_castps_si256(_mm256_cmp_ps(v, st->t0, _CMP_GE_OQ)),
                                   _mm256_set1_epi32(128));
    SEARCH_STEP(pos, v, _mm256_permutevar8x32_ps(st->t1, _mm256_srli_epi32(pos, 7)), 64);
    SEARCH_STEP(pos, v, _mm256_permutevar8x32_ps(st->t2, _mm256_srli_epi32(pos, 6)), 32);
    SEARCH_STEP(pos, v, _mm256_permutevar8x32_ps(st->t3, _mm256_srli_epi32(pos, 5)), 16);
    const __m256i k4 = _mm256_srli_epi32(pos, 4); /* 0..15: bit 3 picks the half */
    const __m256 t4 = _mm256_blendv_ps(_mm256_permutevar8x32_ps(st->t4a, k4),
                                       _mm256_permutevar8x32_ps(st->t4b, k4),
                                       _mm256_castsi256_ps(_mm256_slli_epi32(k4, 28)));
    SEARCH_STEP(pos, v, t4, 8);
    SEARCH_STEP(pos, v, _mm256_i32gather_ps(st->tree + 31, _mm256_srli_epi32(pos, 3), 4), 4);
    SEARCH_STEP(pos, v, _mm256_i32gather_ps(st->tree + 63, _mm256_srli_epi32(pos, 2), 4), 2);
    SEARCH_STEP(pos, v, _mm256_i32gather_ps(st->tree + 127, _mm256_srli_epi32(pos, 1), 4), 1);
    return pos;
}

/* The 8 codes (0..255) as bytes, in lane order, in the low 8 bytes. */
AVX2 static inline __m128i bytes_of(__m256i pos)
{
    const __m128i w =
        _mm_packus_epi32(_mm256_castsi256_si128(pos), _mm256_extracti128_si256(pos, 1));
    return _mm_packus_epi16(w, w);
}

AVX2 static void q8_quantize(const struct clt_q8_codebook *cb, const float *x, size_t n,
                             size_t block, uint8_t *codes, float *absmax)
{
    // x (n), codes (n), absmax (ceil(n / block))
    const struct search_tables st = {
        .t0 = _mm256_set1_ps(cb->tree[0]), .t1 = _mm256_loadu_ps(cb->tree + 1),
        .t2 = _mm256_loadu_ps(cb->tree + 3), .t3 = _mm256_loadu_ps(cb->tree + 7),
        .t4a = _mm256_loadu_ps(cb->tree + 15), .t4b = _mm256_loadu_ps(cb->tree + 23),
        .tree = cb->tree};
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
        const __m256 amv = _mm256_set1_ps(am);
        size_t i = 0;
        for (; i + 8 <= len; i += 8)
            _mm_storel_epi64((void *)(cb8 + i),
                             bytes_of(codes8(&st, _mm256_div_ps(_mm256_loadu_ps(xb + i), amv))));
        if (i < len) {
            const __m256 xv = _mm256_maskload_ps(xb + i, first_lanes(len - i));
            uint8_t tail[16];
            _mm_storel_epi64((void *)tail, bytes_of(codes8(&st, _mm256_div_ps(xv, amv))));
            memcpy(cb8 + i, tail, len - i);
        }
    }
}

AVX2 static void q8_dequantize(const struct clt_q8_codebook *cb, const uint8_t *codes,
                               const float *absmax, size_t n, size_t block, float *x)
{
    // codes (n), absmax (ceil(n / block)), x (n)
    for (size_t b = 0, start = 0; start < n; b++, start += block) {
        const size_t len = n - start < block ? n - start : block;
        const float am = absmax[b];
        const __m256 amv = _mm256_set1_ps(am);
        const uint8_t *cb8 = codes + start;
        float *xb = x + start;
        size_t i = 0;
        for (; i + 8 <= len; i += 8) {
            const __m256i c = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const void *)(cb8 + i)));
            _mm256_storeu_ps(xb + i, _mm256_mul_ps(_mm256_i32gather_ps(cb->map, c, 4), amv));
        }
        for (; i < len; i++)
            xb[i] = cb->map[cb8[i]] * am;
    }
}

/* ---- the f16 / bf16 copy ----------------------------------------------------------------
 * F16C's conversion with round-to-nearest-even is clt_f32_to_f16 bit for bit, NaN
 * payloads included (both quieten and keep the top 9 payload bits; checked against every
 * one of the 2^32 floats). bf16 is convert.c's integer rounding, lane by lane. */

AVX2 static void to_f16(const float *x, uint16_t *out, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((void *)(out + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    clt_optim_kernels_scalar.to_f16(x + i, out + i, n - i);
}

AVX2 static void to_bf16(const float *x, uint16_t *out, size_t n)
{
    const __m256i abs = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
    const __m256i half = _mm256_set1_epi32(0x7fff), one = _mm256_set1_epi32(1);
    const __m256i quiet = _mm256_set1_epi32(0x40);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i u = _mm256_loadu_si256((const void *)(x + i));
        const __m256i hi = _mm256_srli_epi32(u, 16);
        const __m256i rounded = _mm256_srli_epi32(
            _mm256_add_epi32(u, _mm256_add_epi32(half, _mm256_and_si256(hi, one))), 16);
        const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, abs), inf);
        const __m256i r = _mm256_blendv_epi8(rounded, _mm256_or_si256(hi, quiet), nan);
        _mm_storeu_si128((void *)(out + i), _mm_packus_epi32(_mm256_castsi256_si128(r),
                                                             _mm256_extracti128_si256(r, 1)));
    }
    clt_optim_kernels_scalar.to_bf16(x + i, out + i, n - i);
}

const struct clt_optim_kernels clt_optim_kernels_avx2 = {
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
typedef int clt_optim_simd_avx2_unused;
#endif
