/* The optimizer loops in NEON (aarch64 Advanced SIMD), 4 floats at a time: the scalar
 * loops' operations in the scalar loops' order (mul, add, div, sqrt: each IEEE-rounded,
 * no fused multiply-add; vdivq_f32 and vsqrtq_f32 are correctly rounded), so the same
 * bits; tails go to the scalar loops. Compiled only on aarch64, where NEON is always
 * present; tests/test_optim_simd_neon.c also builds it on other CPUs through SIMDe's
 * NEON emulation (CLT_OPTIM_NEON_EMULATED: the includer brings the intrinsics). */
#include "backends/host/optim_simd.h"

#if defined(CLT_OPTIM_NEON_EMULATED)
#define CLT_NEON_BODY 1
extern const struct clt_optim_kernels clt_optim_kernels_neon;
#elif defined(CLT_HAVE_OPTIM_NEON)
#include <arm_neon.h>
#define CLT_NEON_BODY 1
#endif

#ifdef CLT_NEON_BODY
/* adam_step, adam_moments, adam_direction, sgd_step */
#define SIMD_FN static
#define SIMD_W 4
typedef float32x4_t simd_v;
#define SIMD_SET1 vdupq_n_f32
#define SIMD_LOAD vld1q_f32
#define SIMD_STORE vst1q_f32
#define SIMD_ADD vaddq_f32
#define SIMD_SUB vsubq_f32
#define SIMD_MUL vmulq_f32
#define SIMD_DIV vdivq_f32
#define SIMD_SQRT vsqrtq_f32
#include "backends/host/optim_simd_update.h"

/* ---- the q8 codec ----------------------------------------------------------------------
 * Quantize: quant8.c's loop, 4 lanes wide. absmax is the unsigned max of |x|'s bits
 * (quant8.c says why). The code of v = x/absmax is clt_q8_code's binary search on 4
 * lanes at once, step l reading the codebook's tree (quant8.h) at 2^l - 1 + (pos >> (8 -
 * l)) with byte table lookups (TBL) over 16-float slices of it: one for steps 1-4, two
 * for step 5, four for step 6 and eight and a select for step 7. Every step compares
 * v >= t as the scalar search does (false for NaN), so the codes are the scalar ones.
 * Dequantize is the scalar loop: NEON has no gather, and its per-element table loads
 * are what a vector version would have to do lane by lane. */

/* The bytes of 16 floats of the tree, the tables TBL reads. */
static uint8x16x4_t slice(const float *tree, size_t at)
{
    const uint8_t *b = (const uint8_t *)(tree + at);
    const uint8x16x4_t s = {{vld1q_u8(b), vld1q_u8(b + 16), vld1q_u8(b + 32), vld1q_u8(b + 48)}};
    return s;
}

/* t[k] for k < 16·count (count 1 to 4) from count consecutive slices. */
static float32x4_t lookup(const uint8x16x4_t *slices, unsigned count, uint32x4_t k)
{
    /* the 4 bytes of float k: 4k, 4k+1, 4k+2, 4k+3 (4k < 256 sits in each lane's low
     * byte, spread to the lane's 4 bytes by a byte shuffle) */
    static const uint8_t low_byte[16] = {0, 0, 0, 0, 4, 4, 4, 4, 8, 8, 8, 8, 12, 12, 12, 12};
    static const uint8_t byte_in_float[16] = {0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3};
    const uint8x16_t k4 = vreinterpretq_u8_u32(vshlq_n_u32(k, 2));
    const uint8x16_t at = vaddq_u8(vqtbl1q_u8(k4, vld1q_u8(low_byte)), vld1q_u8(byte_in_float));
    uint8x16_t r = vqtbl4q_u8(slices[0], at);
    for (unsigned i = 1; i < count; i++) /* indexes past a slice's 64 bytes leave r as is */
        r = vqtbx4q_u8(r, slices[i], vsubq_u8(at, vdupq_n_u8((uint8_t)(64 * i))));
    return vreinterpretq_f32_u8(r);
}

struct search_tables {
    float32x4_t t0;
    uint8x16x4_t t1, t2, t3, t4, t5[2], t6[4], t7[8];
};

static void tables_of(const float *tree, struct search_tables *st)
{
    st->t0 = vdupq_n_f32(tree[0]);
    st->t1 = slice(tree, 1); /* a table's tail reads the next table: never indexed */
    st->t2 = slice(tree, 3);
    st->t3 = slice(tree, 7);
    st->t4 = slice(tree, 15);
    for (unsigned i = 0; i < 2; i++)
        st->t5[i] = slice(tree, 31 + 16 * i);
    for (unsigned i = 0; i < 4; i++)
        st->t6[i] = slice(tree, 63 + 16 * i);
    for (unsigned i = 0; i < 8; i++)
        st->t7[i] = slice(tree, 127 + 16 * i);
}

/* pos += step where v >= t */
static uint32x4_t search_step(uint32x4_t pos, float32x4_t v, float32x4_t t, uint32_t step)
{
    return vaddq_u32(pos, vandq_u32(vcgeq_f32(v, t), vdupq_n_u32(step)));
}

static uint32x4_t codes4(const struct search_tables *st, float32x4_t v)
{
    uint32x4_t pos = vandq_u32(vcgeq_f32(v, st->t0), vdupq_n_u32(128));
    pos = search_step(pos, v, lookup(&st->t1, 1, vshrq_n_u32(pos, 7)), 64);
    pos = search_step(pos, v, lookup(&st->t2, 1, vshrq_n_u32(pos, 6)), 32);
    pos = search_step(pos, v, lookup(&st->t3, 1, vshrq_n_u32(pos, 5)), 16);
    pos = search_step(pos, v, lookup(&st->t4, 1, vshrq_n_u32(pos, 4)), 8);
    pos = search_step(pos, v, lookup(st->t5, 2, vshrq_n_u32(pos, 3)), 4);
    pos = search_step(pos, v, lookup(st->t6, 4, vshrq_n_u32(pos, 2)), 2);
    const uint32x4_t k = vshrq_n_u32(pos, 1); /* 0..127: bit 6 picks the half */
    const uint32x4_t low = vandq_u32(k, vdupq_n_u32(63));
    const float32x4_t t7 = vbslq_f32(vtstq_u32(k, vdupq_n_u32(64)), lookup(st->t7 + 4, 4, low),
                                     lookup(st->t7, 4, low));
    return search_step(pos, v, t7, 1);
}

static uint32_t absmax_bits(const float *x, size_t len)
{
    const uint32x4_t abs = vdupq_n_u32(0x7fffffffu);
    uint32x4_t m = vdupq_n_u32(0);
    size_t i = 0;
    for (; i + 4 <= len; i += 4)
        m = vmaxq_u32(m, vandq_u32(abs, vreinterpretq_u32_f32(vld1q_f32(x + i))));
    uint32_t r = vmaxvq_u32(m);
    for (; i < len; i++) {
        uint32_t u;
        __builtin_memcpy(&u, &x[i], sizeof u);
        u &= 0x7fffffffu;
        r = u > r ? u : r;
    }
    return r;
}

static void q8_quantize(const struct clt_q8_codebook *cb, const float *x, size_t n,
                        size_t block, uint8_t *codes, float *absmax)
{
    // x (n), codes (n), absmax (ceil(n / block))
    struct search_tables st;
    tables_of(cb->tree, &st);
    for (size_t b = 0, start = 0; start < n; b++, start += block) {
        const size_t len = n - start < block ? n - start : block;
        const float *xb = x + start;
        uint8_t *cb8 = codes + start;
        const uint32_t mbits = absmax_bits(xb, len);
        if (mbits == 0 || mbits >= 0x7f800000u) {
            absmax[b] = mbits == 0 ? 0.0f : __builtin_nanf("");
            __builtin_memset(cb8, cb->zero_code, len);
            continue;
        }
        float am;
        __builtin_memcpy(&am, &mbits, sizeof am);
        absmax[b] = am;
        const float32x4_t amv = vdupq_n_f32(am);
        size_t i = 0;
        for (; i + 8 <= len; i += 8) {
            const uint32x4_t lo = codes4(&st, vdivq_f32(vld1q_f32(xb + i), amv));
            const uint32x4_t hi = codes4(&st, vdivq_f32(vld1q_f32(xb + i + 4), amv));
            vst1_u8(cb8 + i, vmovn_u16(vcombine_u16(vmovn_u32(lo), vmovn_u32(hi))));
        }
        for (; i < len; i++)
            cb8[i] = clt_q8_code(cb->thr, xb[i] / am);
    }
}

static void q8_dequantize(const struct clt_q8_codebook *cb, const uint8_t *codes,
                          const float *absmax, size_t n, size_t block, float *x)
{
    clt_q8_dequantize(codes, absmax, n, block, cb->map, x);
}

/* ---- the f16 / bf16 copy ----------------------------------------------------------------
 * f16: the hardware conversion rounds to nearest even under the default FPCR, which
 * Linux gives every thread, as clt_f32_to_f16 does; NaN lanes are then given
 * clt_f32_to_f16's NaN (sign, quiet bit, top 9 payload bits) explicitly rather than
 * trusting each implementation's NaN rules. bf16 is convert.c's integer rounding. */

static void to_f16(const float *x, uint16_t *out, size_t n)
{
    const uint32x4_t abs = vdupq_n_u32(0x7fffffffu), inf = vdupq_n_u32(0x7f800000u);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float32x4_t xv = vld1q_f32(x + i);
        const uint32x4_t u = vreinterpretq_u32_f32(xv), a = vandq_u32(u, abs);
        const uint32x4_t nan = vorrq_u32(
            vandq_u32(vshrq_n_u32(u, 16), vdupq_n_u32(0x8000u)),
            vorrq_u32(vdupq_n_u32(0x7e00u), vandq_u32(vshrq_n_u32(a, 13), vdupq_n_u32(0x1ffu))));
        const uint16x4_t h = vbsl_u16(vmovn_u32(vcgtq_u32(a, inf)), vmovn_u32(nan),
                                      vreinterpret_u16_f16(vcvt_f16_f32(xv)));
        vst1_u16(out + i, h);
    }
    clt_optim_kernels_scalar.to_f16(x + i, out + i, n - i);
}

static void to_bf16(const float *x, uint16_t *out, size_t n)
{
    const uint32x4_t abs = vdupq_n_u32(0x7fffffffu), inf = vdupq_n_u32(0x7f800000u);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const uint32x4_t u = vreinterpretq_u32_f32(vld1q_f32(x + i));
        const uint32x4_t hi = vshrq_n_u32(u, 16);
        const uint32x4_t rounded = vshrq_n_u32(
            vaddq_u32(u, vaddq_u32(vdupq_n_u32(0x7fffu), vandq_u32(hi, vdupq_n_u32(1)))), 16);
        const uint32x4_t nan = vcgtq_u32(vandq_u32(u, abs), inf);
        const uint32x4_t r = vbslq_u32(nan, vorrq_u32(hi, vdupq_n_u32(0x40u)), rounded);
        vst1_u16(out + i, vmovn_u32(r));
    }
    clt_optim_kernels_scalar.to_bf16(x + i, out + i, n - i);
}

const struct clt_optim_kernels clt_optim_kernels_neon = {
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
typedef int clt_optim_simd_neon_unused;
#endif
