/* f32 <-> f16 and bf16, bit by bit, so the host agrees with vload_half/vstore_half_rte
 * on every device. */
#include <string.h>

#include "clt/convert.h"
#include "runtime/dtype_access.h"
#include "runtime/error.h"

static uint32_t bits_of(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static float float_of(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

uint16_t clt_f32_to_f16(float x)
{
    const uint32_t u = bits_of(x);
    const uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    const uint32_t abs = u & 0x7fffffffu;
    if (abs >= 0x7f800000u) /* inf stays inf; NaN stays NaN (quiet, payload kept short) */
        return sign | (abs > 0x7f800000u ? (uint16_t)(0x7e00u | ((abs >> 13) & 0x1ffu))
                                         : 0x7c00u);
    if (abs >= 0x477ff000u) /* rounds to beyond 65504 */
        return sign | 0x7c00u;
    if (abs < 0x38800000u) { /* below f16's smallest normal: subnormal or zero */
        if (abs < 0x33000000u) /* below half the smallest subnormal: rounds to 0 */
            return sign;
        const uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
        const int shift = 126 - (int)(abs >> 23); /* 14..24 */
        uint32_t h = mant >> shift;
        const uint32_t rest = mant & ((1u << shift) - 1);
        const uint32_t half = 1u << (shift - 1);
        if (rest > half || (rest == half && (h & 1u)))
            h++;
        return sign | (uint16_t)h;
    }
    /* normal: rebias the exponent, round the mantissa from 23 to 10 bits */
    uint32_t h = ((abs - 0x38000000u) >> 13);
    const uint32_t rest = abs & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u)))
        h++; /* a carry into the exponent is the right answer */
    return sign | (uint16_t)h;
}

float clt_f16_to_f32(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    if (exp == 0x1fu)
        return float_of(sign | 0x7f800000u | (mant << 13));
    if (exp != 0)
        return float_of(sign | ((exp + 112u) << 23) | (mant << 13));
    if (mant == 0)
        return float_of(sign);
    /* subnormal: normalise */
    int e = 113;
    while (!(mant & 0x400u)) {
        mant <<= 1;
        e--;
    }
    return float_of(sign | ((uint32_t)e << 23) | ((mant & 0x3ffu) << 13));
}

uint16_t clt_f32_to_bf16(float x)
{
    const uint32_t u = bits_of(x);
    if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN: keep it a (quiet) NaN */
        return (uint16_t)((u >> 16) | 0x40u);
    const uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)((u + rounding) >> 16);
}

float clt_bf16_to_f32(uint16_t h) { return float_of((uint32_t)h << 16); }

clt_status clt_convert(clt_dtype dst_dtype, void *dst, clt_dtype src_dtype, const void *src,
                       size_t n)
{
    if (!dst || !src)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_convert: %s is NULL", dst ? "src" : "dst");
    const size_t dsize = clt_dtype_size(dst_dtype), ssize = clt_dtype_size(src_dtype);
    if (!dsize || !ssize)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_convert: %s dtype %d is not a dtype",
                        dsize ? "source" : "destination", (int)(dsize ? src_dtype : dst_dtype));
    if ((int)dst_dtype >= CLT_FLOAT_DTYPE_COUNT || (int)src_dtype >= CLT_FLOAT_DTYPE_COUNT) {
        const bool dst_bad = (int)dst_dtype >= CLT_FLOAT_DTYPE_COUNT;
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "clt_convert: converts between f32, f16 and bf16; %s is %s, not a "
                        "value type",
                        dst_bad ? "dst_dtype" : "src_dtype",
                        clt_dtype_name(dst_bad ? dst_dtype : src_dtype));
    }
    if (n > SIZE_MAX / 4)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_convert: %zu elements overflow size_t", n);
    const char *d = dst, *s = src;
    if (d != s && d < s + n * ssize && s < d + n * dsize)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_convert: dst and src overlap");
    if (d == s && dsize != ssize)
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "clt_convert: in place needs dtypes of one size (%s to %s)",
                        clt_dtype_name(src_dtype), clt_dtype_name(dst_dtype));
    for (size_t i = 0; i < n; i++)
        clt_store_elem(dst_dtype, dst, i, clt_load_elem(src_dtype, src, i));
    return CLT_OK;
}
