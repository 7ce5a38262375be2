/* Storage conversions, exhaustively where the domain is small: every f16 and bf16 bit
 * pattern decodes to the value the format defines and encodes back to itself, and
 * rounding from f32 is to nearest, ties to even. */
#include <math.h>

#include "support/support.h"

/* The value of an f16 bit pattern from its definition, not from the code under test. */
static double f16_value(uint16_t h)
{
    const int sign = h >> 15, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    double v;
    if (exp == 0x1f)
        v = mant ? NAN : INFINITY;
    else if (exp == 0)
        v = ldexp(mant, -24); /* subnormal: mant · 2^-24 */
    else
        v = ldexp(1024 + mant, exp - 25);
    return sign ? -v : v;
}

static void f16_every_pattern(void **state)
{
    (void)state;
    for (uint32_t h = 0; h <= 0xffffu; h++) {
        const float x = clt_f16_to_f32((uint16_t)h);
        const double want = f16_value((uint16_t)h);
        if (isnan(want)) {
            assert_true(isnan(x));
            assert_true(isnan(clt_f16_to_f32(clt_f32_to_f16(x))));
            continue;
        }
        if ((double)x != want || !signbit(x) != !signbit(want))
            fail_msg("f16 0x%04x decodes to %.9g, want %.9g", h, (double)x, want);
        if (clt_f32_to_f16(x) != h)
            fail_msg("f16 0x%04x: %.9g encodes back to 0x%04x", h, (double)x,
                     clt_f32_to_f16(x));
    }
}

static void bf16_every_pattern(void **state)
{
    (void)state;
    for (uint32_t h = 0; h <= 0xffffu; h++) {
        const float x = clt_bf16_to_f32((uint16_t)h);
        uint32_t bits;
        memcpy(&bits, &x, sizeof bits);
        assert_int_equal(bits, h << 16);
        if (!isnan(x))
            assert_int_equal(clt_f32_to_bf16(x), h);
        else
            assert_true(isnan(clt_bf16_to_f32(clt_f32_to_bf16(x))));
    }
}

static void rounding_ties_to_even(void **state)
{
    (void)state;
    /* 1 + 2^-11 lies halfway between f16 1.0 (even) and 1 + 2^-10 (odd). */
    assert_int_equal(clt_f32_to_f16(1.0f + ldexpf(1.0f, -11)), 0x3c00);
    /* 1 + 3·2^-11 lies halfway between 1 + 2^-10 (odd) and 1 + 2^-9 (even). */
    assert_int_equal(clt_f32_to_f16(1.0f + 3 * ldexpf(1.0f, -11)), 0x3c02);
    /* Halfway between the two smallest subnormals rounds to the even one. */
    assert_int_equal(clt_f32_to_f16(1.5f * ldexpf(1.0f, -24)), 0x0002);
    assert_int_equal(clt_f32_to_f16(0.5f * ldexpf(1.0f, -24)), 0x0000);
    assert_int_equal(clt_f32_to_f16(65520.0f), 0x7c00); /* beyond the largest: inf */
    assert_int_equal(clt_f32_to_f16(65519.0f), 0x7bff);
    /* bf16: 1 + 2^-8 is halfway between 1.0 (even) and 1 + 2^-7. */
    assert_int_equal(clt_f32_to_bf16(1.0f + ldexpf(1.0f, -8)), 0x3f80);
    assert_int_equal(clt_f32_to_bf16(1.0f + 3 * ldexpf(1.0f, -8)), 0x3f82);
}

static void convert_arrays(void **state)
{
    (void)state;
    const float src[5] = {0.0f, -1.5f, 3e-5f, 65504.0f, 1e-8f};
    uint16_t half[5];
    float back[5];
    ts_assert_ok(clt_convert(CLT_DTYPE_F16, half, CLT_DTYPE_F32, src, 5));
    ts_assert_ok(clt_convert(CLT_DTYPE_F32, back, CLT_DTYPE_F16, half, 5));
    for (int i = 0; i < 5; i++)
        assert_true(fabs(back[i] - src[i]) <= fabs(src[i]) * ldexp(1.0, -11) + ldexp(1.0, -25));
    ts_assert_status(clt_convert(CLT_DTYPE_F16, half, CLT_DTYPE_F32, NULL, 5),
                     CLT_ERR_INVALID_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(f16_every_pattern),
        cmocka_unit_test(bf16_every_pattern),
        cmocka_unit_test(rounding_ties_to_even),
        cmocka_unit_test(convert_arrays),
    };
    return cmocka_run_group_tests_name("convert", tests, NULL, NULL);
}
