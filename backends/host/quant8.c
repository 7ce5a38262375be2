/* Block-wise 8-bit dynamic quantization, the host reference and the scalar SIMD level's
 * codec in one: plain loops written so that the compiler vectorises the scans (absmax,
 * the division by it), with the per-element nearest-code search a branchless binary
 * search. The vector levels' codecs (optim_simd_*.c) give the same bits. See quant8.h
 * for the contract, NaN/Inf and zero blocks included. */
#include <math.h>
#include <string.h>

#include "backends/host/quant8.h"

/* ---- the dynamic maps ------------------------------------------------------------------
 * bitsandbytes' create_dynamic_map(signed, max_exponent_bits=E=7, total_bits=8), "dynamic
 * tree quantization": a code is a sign bit (signed map only), then a run of zero bits
 * whose length e is a decimal exponent, an indicator 1 bit, and the remaining bits a
 * linear fraction. With the 7 non-sign bits, exponent level i = 0..6 (i = 6 - e) stands
 * for the decade 10^(i-6)·[0.1, 1] and has i (signed) or i+1 (unsigned: the sign bit
 * becomes one more fraction bit) fraction bits, so 2^i or 2^(i+1) values: the midpoints
 * of linspace(0.1, 1, count + 1) scaled by 10^(i-6). Positive values: 1+2+...+64 = 127
 * (signed), 2+4+...+128 = 254 (unsigned); the signed map mirrors them to negatives; both
 * add 0 and 1.0, giving 256 (bitsandbytes' additional_items = 2^(7-E) - 1 is 0 at E=7).
 * Levels do not overlap (level i lies below 10^(i-6) and level i+1 above it), so building
 * level by level, ascending, yields the sorted map without a sort.
 *
 * bitsandbytes computes linspace, midpoints and scaling in torch float32, whose rounding
 * depends on torch's version and vector width; here they are computed in double (with
 * torch's linspace formula) and rounded to f32 once, the correctly rounded values of the
 * same construction. A bitsandbytes map may differ from these in the last bit of a few
 * entries, never more. */

#define Q8_LEVELS 7

/* 10^(i-6): literals, so that each scale is the correctly rounded double. */
static const double q8_decade[Q8_LEVELS] = {1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0};

/* torch.linspace(0.1, 1, steps)[idx]: the first half counted up from the start, the
 * second half down from the end, so that both ends are exact. */
static double linspace_at(size_t idx, size_t steps)
{
    const double start = 0.1, end = 1.0, step = (end - start) / (double)(steps - 1);
    return idx < steps / 2 ? start + step * (double)idx
                           : end - step * (double)(steps - idx - 1);
}

/* The positive non-unit values, ascending: 2^(i + extra_bits) per level i. Returns how
 * many were written. */
static size_t dynamic_positive(double *out, unsigned extra_bits)
{
    size_t n = 0;
    for (unsigned i = 0; i < Q8_LEVELS; i++) {
        const size_t count = (size_t)1 << (i + extra_bits);
        for (size_t j = 0; j < count; j++) {
            const double mean = (linspace_at(j, count + 1) + linspace_at(j + 1, count + 1)) / 2.0;
            out[n++] = q8_decade[i] * mean;
        }
    }
    return n;
}

void clt_q8_map_signed(float map[256])
{
    double pos[127];
    const size_t np = dynamic_positive(pos, 0); /* 127 */
    for (size_t k = 0; k < np; k++) {
        map[k] = (float)-pos[np - 1 - k]; /* indices 0..126 */
        map[128 + k] = (float)pos[k];     /* indices 128..254 */
    }
    map[127] = 0.0f;
    map[255] = 1.0f;
}

void clt_q8_map_unsigned(float map[256])
{
    double pos[254];
    const size_t np = dynamic_positive(pos, 1); /* 254 */
    map[0] = 0.0f;
    for (size_t k = 0; k < np; k++)
        map[1 + k] = (float)pos[k];
    map[255] = 1.0f;
}

/* ---- nearest code ---------------------------------------------------------------------- */

void clt_q8_thresholds(const float map[256], float thr[255])
{
    for (size_t i = 0; i < 255; i++) {
        /* Exact: see quant8.h. Halving a double is exact (no map value is near the
         * double underflow range). */
        const double mid = ((double)map[i] + (double)map[i + 1]) / 2.0;
        /* The nearest float: when above mid, the float below it is <= mid (else it
         * would be nearer), so it is the smallest above; when not, the next one up is. */
        const float t = (float)mid;
        thr[i] = (double)t > mid ? t : nextafterf(t, INFINITY);
    }
}

void clt_q8_codebook_init(struct clt_q8_codebook *cb, bool is_signed)
{
    if (is_signed)
        clt_q8_map_signed(cb->map);
    else
        clt_q8_map_unsigned(cb->map);
    clt_q8_thresholds(cb->map, cb->thr);
    for (unsigned l = 0; l < 8; l++) {
        const unsigned stride = 1u << (7 - l);
        for (unsigned k = 0; k < (1u << l); k++)
            cb->tree[(1u << l) - 1 + k] = cb->thr[(2 * k + 1) * stride - 1];
    }
    cb->zero_code = clt_q8_code(cb->thr, 0.0f);
}

/* ---- quantize / dequantize ------------------------------------------------------------- */

/* Elements divided at a time into a stack buffer: one vectorised division pass, then the
 * search pass, both over data in L1. */
#define Q8_CHUNK 512

/* Elements handled side by side in the inner loops; constant-length inner loops are
 * what GCC's -O2 vectoriser takes (it generates no epilogue). */
#define Q8_LANES 16

#define F32_ABS_MASK 0x7fffffffu
#define F32_INF_BITS 0x7f800000

/* max |x| of one block as the bit pattern of a non-negative float. Integer max of
 * |x|'s bits orders finite values as floats do and puts Inf and NaN above every finite
 * value, so one vectorisable reduction finds both the absmax and any non-finite element
 * (a float max would need -ffinite-math-only to vectorise and would drop NaNs). */
static int32_t block_absmax_bits(const float *x, size_t len)
{
    /* Q8_LANES running maxima, folded at the end */
    int32_t lane[Q8_LANES] = {0};
    size_t i = 0;
    for (; i + Q8_LANES <= len; i += Q8_LANES)
        for (size_t j = 0; j < Q8_LANES; j++) {
            uint32_t u;
            memcpy(&u, &x[i + j], sizeof u);
            const int32_t a = (int32_t)(u & F32_ABS_MASK);
            lane[j] = a > lane[j] ? a : lane[j];
        }
    int32_t m = 0;
    for (size_t j = 0; j < Q8_LANES; j++)
        m = lane[j] > m ? lane[j] : m;
    for (; i < len; i++) {
        uint32_t u;
        memcpy(&u, &x[i], sizeof u);
        const int32_t a = (int32_t)(u & F32_ABS_MASK);
        m = a > m ? a : m;
    }
    return m;
}

/* The search of many elements at once. Its first four steps (128, 64, 32, 16) only ever
 * read the 15 thresholds thr[16k + 15]; after them pos is 16 · #{k : v >= thr[16k+15]},
 * so that count is taken instead, as 15 compares of Q8_LANES elements against one
 * broadcast threshold each, which vectorises without gathers. The last four steps read
 * the threshold the element's own pos points at: a chain of dependent loads, run for
 * Q8_LANES elements side by side so that the chains overlap. Same result as
 * clt_q8_code, element for element: out[i] = clt_q8_code(thr, v[i]) for i < m. */
static void codes_of(const float thr[255], const float *v, uint8_t *out, size_t m)
{
    size_t i = 0;
    for (; i + Q8_LANES <= m; i += Q8_LANES) {
        int32_t count[Q8_LANES] = {0};
        for (unsigned k = 0; k < 15; k++) {
            const float t = thr[16 * k + 15];
            for (size_t j = 0; j < Q8_LANES; j++)
                count[j] += v[i + j] >= t;
        }
        unsigned pos[Q8_LANES];
        for (size_t j = 0; j < Q8_LANES; j++)
            pos[j] = 16u * (unsigned)count[j];
        for (unsigned step = 8; step > 0; step >>= 1)
            for (size_t j = 0; j < Q8_LANES; j++)
                pos[j] += step & (0u - (unsigned)(v[i + j] >= thr[pos[j] + step - 1]));
        for (size_t j = 0; j < Q8_LANES; j++)
            out[i + j] = (uint8_t)pos[j];
    }
    for (; i < m; i++)
        out[i] = clt_q8_code(thr, v[i]);
}

void clt_q8_quantize(const float *x, size_t n, size_t block, const float map[256],
                     uint8_t *codes, float *absmax)
{
    float thr[255];
    clt_q8_thresholds(map, thr);
    clt_q8_quantize_thr(x, n, block, thr, codes, absmax);
}

void clt_q8_quantize_thr(const float *x, size_t n, size_t block, const float thr[255],
                         uint8_t *codes, float *absmax)
{
    // x (n), codes (n), absmax (ceil(n / block))
    const uint8_t zero_code = clt_q8_code(thr, 0.0f);

    for (size_t b = 0, start = 0; start < n; b++, start += block) {
        const size_t len = n - start < block ? n - start : block;
        const float *xb = x + start;
        uint8_t *cb = codes + start;
        const int32_t mbits = block_absmax_bits(xb, len);
        if (mbits == 0 || mbits >= F32_INF_BITS) {
            absmax[b] = mbits == 0 ? 0.0f : NAN;
            memset(cb, zero_code, len);
            continue;
        }
        float am;
        memcpy(&am, &mbits, sizeof am);
        absmax[b] = am;

        float v[Q8_CHUNK];
        for (size_t c0 = 0; c0 < len; c0 += Q8_CHUNK) {
            const size_t m = len - c0 < Q8_CHUNK ? len - c0 : Q8_CHUNK;
            /* a true division, not a multiply by 1/am: v is then x/am rounded once,
             * which is what the contract and the error bound speak of */
            size_t i = 0;
            for (; i + Q8_LANES <= m; i += Q8_LANES)
                for (size_t j = 0; j < Q8_LANES; j++)
                    v[i + j] = xb[c0 + i + j] / am;
            for (; i < m; i++)
                v[i] = xb[c0 + i] / am;
            codes_of(thr, v, cb + c0, m);
        }
    }
}

void clt_q8_dequantize(const uint8_t *codes, const float *absmax, size_t n, size_t block,
                       const float map[256], float *x)
{
    // codes (n), absmax (ceil(n / block)), x (n)
    for (size_t b = 0, start = 0; start < n; b++, start += block) {
        const size_t len = n - start < block ? n - start : block;
        const float am = absmax[b];
        const uint8_t *cb = codes + start;
        float *xb = x + start;
        for (size_t i = 0; i < len; i++)
            xb[i] = map[cb[i]] * am;
    }
}

double clt_q8_error_bound(const float map[256], float x, float absmax)
{
    const double r = (double)x / (double)absmax;
    if (r <= map[0])
        return ((double)map[0] - r) * absmax;
    if (r >= map[255])
        return (r - (double)map[255]) * absmax;
    size_t lo = 0, hi = 255; /* map[lo] < r < map[hi] */
    while (hi - lo > 1) {
        const size_t mid = (lo + hi) / 2;
        if ((double)map[mid] <= r)
            lo = mid;
        else
            hi = mid;
    }
    return ((double)map[hi] - (double)map[lo]) / 2.0 * absmax;
}
