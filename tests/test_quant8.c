/* Block-wise 8-bit dynamic quantization on the host (backends/host/quant8.h): the two
 * dynamic maps against values of bitsandbytes' create_dynamic_map written out here and
 * against the construction's closed form; the binary-search code against a linear
 * argmin, ties included; round trips of normal and heavy-tailed data within the error
 * bound, over block sizes and lengths that leave partial blocks; exact map values; zero,
 * NaN and Inf blocks; the independence of blocks; the codebook's search tree; and every
 * SIMD level's codec (optim_simd.h) against the scalar one, byte for byte, on inputs
 * that reach every case: NaN, ±Inf, ±0, subnormals, thresholds and their neighbours,
 * partial blocks and vectors. */
#include <float.h>
#include <math.h>

#include "backends/host/optim_simd.h"
#include "backends/host/quant8.h"
#include "support/support.h"

#define PI 3.14159265358979323846

/* ---- the maps ------------------------------------------------------------------------- */

/* The k-th value (0-based) of exponent level i, 2^(i + extra) values per level, from the
 * closed form of linspace midpoints: 10^(i-6) · (0.1 + 0.9·(2k+1) / 2^(i+extra+1)). */
static double closed_form(unsigned i, unsigned extra, size_t k)
{
    const double count = (double)((size_t)1 << (i + extra));
    return pow(10.0, (double)i - 6.0) * (0.1 + 0.9 * (2.0 * (double)k + 1.0) / (2.0 * count));
}

/* The map's values, built from the closed form level by level, sorted by construction
 * (each level sits inside its own decade). */
static void expected_map(bool is_signed, double out[256])
{
    const unsigned extra = is_signed ? 0 : 1;
    double pos[254];
    size_t np = 0;
    for (unsigned i = 0; i < 7; i++)
        for (size_t k = 0; k < ((size_t)1 << (i + extra)); k++)
            pos[np++] = closed_form(i, extra, k);
    size_t n = 0;
    if (is_signed)
        for (size_t k = 0; k < np; k++)
            out[n++] = -pos[np - 1 - k];
    out[n++] = 0.0;
    for (size_t k = 0; k < np; k++)
        out[n++] = pos[k];
    out[n++] = 1.0;
    assert_int_equal(n, 256);
}

static void check_map_shape(const float map[256], bool is_signed)
{
    for (int i = 0; i < 255; i++)
        assert_true(map[i] < map[i + 1]);
    assert_true(map[255] == 1.0f);
    assert_true(map[is_signed ? 127 : 0] == 0.0f);
    assert_false(signbit(map[is_signed ? 127 : 0]));
    assert_true(map[0] >= -1.0f);
    /* the map must reach its range's ends: -0.99296875 is bitsandbytes' bottom */
    assert_true(map[0] == (is_signed ? (float)-0.99296875 : 0.0f));
    double want[256];
    expected_map(is_signed, want);
    for (int i = 0; i < 256; i++) {
        /* computed two ways in double, rounded once: equal, or 1 ulp apart at a
         * rounding tie of f32 */
        const float w = (float)want[i];
        if (map[i] != w) {
            assert_true(map[i] == nextafterf(w, INFINITY) || map[i] == nextafterf(w, -INFINITY));
        }
    }
}

static void map_signed(void **state)
{
    (void)state;
    float map[256];
    clt_q8_map_signed(map);
    check_map_shape(map, true);
    /* symmetric except for 1.0, which has no negative twin */
    for (int k = 0; k < 255; k++)
        assert_true(map[k] == -map[254 - k]);
    /* bitsandbytes' create_dynamic_map(signed=True) at a few indices, written out from
     * the construction: level 0 is 1e-6·0.55; level 1 is 1e-5·{0.325, 0.775}; level 6
     * (64 values) is 0.1 + 0.9·(2k+1)/128 */
    assert_true(map[0] == (float)-0.99296875);
    assert_true(map[1] == (float)-0.97890625);
    assert_true(map[64] == (float)-0.09859375);
    assert_true(map[126] == (float)-0.55e-6);
    assert_true(map[128] == (float)0.55e-6);
    assert_true(map[129] == (float)3.25e-6);
    assert_true(map[130] == (float)7.75e-6);
    assert_true(map[191] == (float)0.10703125);
    assert_true(map[200] == (float)0.23359375);
    assert_true(map[254] == (float)0.99296875);
}

static void map_unsigned(void **state)
{
    (void)state;
    float map[256];
    clt_q8_map_unsigned(map);
    check_map_shape(map, false);
    /* create_dynamic_map(signed=False): level 0 is 1e-6·{0.325, 0.775}; level 6 (128
     * values from index 127) is 0.1 + 0.9·(2k+1)/256 */
    assert_true(map[1] == (float)0.325e-6);
    assert_true(map[2] == (float)0.775e-6);
    assert_true(map[64] == (float)0.012109375);
    assert_true(map[126] == (float)0.099296875);
    assert_true(map[127] == (float)0.103515625);
    assert_true(map[200] == (float)0.616796875);
    assert_true(map[254] == (float)0.996484375);
}

/* ---- nearest code ---------------------------------------------------------------------- */

/* argmin_i |map[i] - v| by a linear scan in double, ties to the lower index. The
 * distances are exact in double wherever two of them can be close (v near a midpoint of
 * two entries of similar size); only for tiny v are they rounded, where 0 wins by far. */
static int linear_argmin(const float map[256], float v)
{
    int best = 0;
    double best_d = fabs((double)map[0] - (double)v);
    for (int i = 1; i < 256; i++) {
        const double d = fabs((double)map[i] - (double)v);
        if (d < best_d) {
            best_d = d;
            best = i;
        }
    }
    return best;
}

static void check_code(const float map[256], const float thr[255], float v)
{
    const int got = clt_q8_code(thr, v), want = linear_argmin(map, v);
    if (got != want)
        fail_msg("v = %.9g: code %d, argmin %d", (double)v, got, want);
}

static void code_is_argmin(void **state)
{
    (void)state;
    ts_rng rng;
    ts_rng_seed(&rng, 11);
    for (int s = 0; s < 2; s++) {
        float map[256], thr[255];
        (s ? clt_q8_map_signed : clt_q8_map_unsigned)(map);
        clt_q8_thresholds(map, thr);
        /* every map value, every midpoint's neighbourhood (the float nearest it and 3
         * floats either side) */
        for (int i = 0; i < 256; i++)
            check_code(map, thr, map[i]);
        for (int i = 0; i < 255; i++) {
            float v = (float)(((double)map[i] + (double)map[i + 1]) / 2.0);
            for (int k = 0; k < 3; k++)
                v = nextafterf(v, -INFINITY);
            for (int k = 0; k < 7; k++, v = nextafterf(v, INFINITY))
                check_code(map, thr, v);
        }
        /* ends, beyond the ends, signed zeros, tiny values */
        const float special[] = {-1.0f, 1.0f, -1.5f, 1.5f, 0.0f, -0.0f, FLT_MIN,
                                 -FLT_MIN, 1e-40f, -1e-40f, 1e-7f, -1e-7f};
        for (size_t i = 0; i < sizeof special / sizeof special[0]; i++)
            check_code(map, thr, special[i]);
        for (int k = 0; k < 100000; k++)
            check_code(map, thr, ts_rng_float(&rng, -1.0f, 1.0f));
        for (int k = 0; k < 20000; k++) /* log-uniform magnitudes, both signs */
            check_code(map, thr,
                       (k & 1 ? -1.0f : 1.0f) * powf(10.0f, ts_rng_float(&rng, -8.0f, 0.0f)));
        /* NaN: code 0, by definition */
        assert_int_equal(clt_q8_code(thr, NAN), 0);
    }
}

/* Exact ties: midpoints that are floats go to the lower code, through the whole
 * quantize path (a block holding 1.0 has absmax 1, so x/absmax is x). */
static void ties_go_low(void **state)
{
    (void)state;
    for (int s = 0; s < 2; s++) {
        float map[256];
        (s ? clt_q8_map_signed : clt_q8_map_unsigned)(map);
        float x[256];
        int want[256], n = 0;
        x[n] = 1.0f;
        want[n++] = 255;
        for (int i = 0; i < 255 && n < 255; i++) {
            const double mid = ((double)map[i] + (double)map[i + 1]) / 2.0;
            if ((double)(float)mid != mid)
                continue;
            x[n] = (float)mid;
            want[n++] = i;
            if (n < 255) { /* just above the tie: the upper code */
                x[n] = nextafterf((float)mid, INFINITY);
                want[n++] = i + 1;
            }
        }
        assert_true(n > 50); /* the check must have ties to look at */
        uint8_t codes[256];
        float absmax;
        clt_q8_quantize(x, (size_t)n, 256, map, codes, &absmax);
        assert_true(absmax == 1.0f);
        for (int k = 0; k < n; k++)
            if (codes[k] != want[k])
                fail_msg("x = %.9g: code %d, want %d", (double)x[k], codes[k], want[k]);
    }
}

/* ---- round trips ----------------------------------------------------------------------- */

static float normal(ts_rng *rng)
{
    const double u1 = 1.0 - (double)ts_rng_float(rng, 0.0f, 1.0f); /* (0, 1] */
    const double u2 = (double)ts_rng_float(rng, 0.0f, 1.0f);
    return (float)(sqrt(-2.0 * log(u1)) * cos(2.0 * PI * u2));
}

/* Student-t with 1 degree of freedom (Cauchy), clipped to a finite f32 range: a block
 * then holds one huge value and many tiny ones relative to it. */
static float heavy(ts_rng *rng)
{
    const double u = (double)ts_rng_float(rng, 0.0f, 1.0f);
    const double c = tan(PI * (u - 0.5));
    return (float)fmax(fmin(c, 1e30), -1e30);
}

enum dist { DIST_NORMAL, DIST_HEAVY, DIST_SQUARES };

static void fill(ts_rng *rng, float *x, size_t n, enum dist d)
{
    for (size_t i = 0; i < n; i++) {
        switch (d) {
        case DIST_NORMAL: x[i] = normal(rng); break;
        case DIST_HEAVY: x[i] = heavy(rng); break;
        case DIST_SQUARES: { /* second-moment-like: non-negative, squared heavy-ish */
            const float g = normal(rng) * (ts_rng_float(rng, 0.0f, 1.0f) < 0.01f ? 100.0f : 1.0f);
            x[i] = g * g;
            break;
        }
        }
    }
}

static size_t n_blocks(size_t n, size_t block) { return (n + block - 1) / block; }

/* Quantizes and dequantizes x; checks absmax, every element's error against the bound,
 * and the codes against the linear argmin for the first elements of each block. */
static void round_trip(const float map[256], const float *x, size_t n, size_t block)
{
    const size_t nb = n_blocks(n, block);
    uint8_t *codes = malloc(n);
    float *absmax = malloc(nb * sizeof *absmax), *y = malloc(n * sizeof *y);
    assert_non_null(codes);
    assert_non_null(absmax);
    assert_non_null(y);
    float thr[255];
    clt_q8_thresholds(map, thr);
    clt_q8_quantize(x, n, block, map, codes, absmax);
    clt_q8_dequantize(codes, absmax, n, block, map, y);
    double worst_ratio = 0.0;
    for (size_t b = 0; b < nb; b++) {
        const size_t start = b * block, len = n - start < block ? n - start : block;
        float m = 0.0f;
        for (size_t i = 0; i < len; i++)
            m = fmaxf(m, fabsf(x[start + i]));
        assert_true(absmax[b] == m);
        for (size_t i = 0; i < len; i++) {
            const size_t k = start + i;
            const double err = fabs((double)y[k] - (double)x[k]);
            const double bound = clt_q8_error_bound(map, x[k], m);
            /* the f32 rounding of x/absmax and of map·absmax, one ulp each */
            const double slack = FLT_EPSILON * (fabs((double)x[k]) + fabs((double)y[k]));
            if (!(err <= bound + slack))
                fail_msg("block %zu of %zu (size %zu), element %zu: x %.9g -> %.9g, "
                         "error %.3g > bound %.3g", b, nb, block, i, (double)x[k],
                         (double)y[k], err, bound);
            if (bound > 0.0 && err / bound > worst_ratio)
                worst_ratio = err / bound;
            if (codes[k] != clt_q8_code(thr, x[k] / m)) /* the bulk search */
                fail_msg("element %zu: code %d, single search %d", k, codes[k],
                         clt_q8_code(thr, x[k] / m));
            if (i < 64 && codes[k] != linear_argmin(map, x[k] / m))
                fail_msg("element %zu: code %d, argmin %d", k, codes[k],
                         linear_argmin(map, x[k] / m));
        }
    }
    /* the bound is tight: somewhere the error comes near it (not for a single element,
     * which is its block's absmax and exact) */
    if (n > 1000)
        assert_true(worst_ratio > 0.9);
    free(codes);
    free(absmax);
    free(y);
}

static void round_trips(void **state)
{
    (void)state;
    static const size_t sizes[] = {1, 255, 256, 257, 4095, 4097, 100003};
    static const size_t blocks[] = {256, 2048};
    float sgn[256], uns[256];
    clt_q8_map_signed(sgn);
    clt_q8_map_unsigned(uns);
    ts_rng rng;
    ts_rng_seed(&rng, 3);
    float *x = malloc(100003 * sizeof *x);
    assert_non_null(x);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (size_t b = 0; b < sizeof blocks / sizeof blocks[0]; b++) {
            fill(&rng, x, sizes[s], DIST_NORMAL);
            round_trip(sgn, x, sizes[s], blocks[b]);
            fill(&rng, x, sizes[s], DIST_HEAVY);
            round_trip(sgn, x, sizes[s], blocks[b]);
            fill(&rng, x, sizes[s], DIST_SQUARES);
            round_trip(uns, x, sizes[s], blocks[b]);
        }
    free(x);
}

/* A lone element is its block's absmax: ±1 after scaling, code 255 for +, and for -
 * the bottom of the signed map (-0.99296875, nearest to -1). */
static void single_element_blocks(void **state)
{
    (void)state;
    float map[256];
    clt_q8_map_signed(map);
    const float x[3] = {-2.5f, 3.0f, -7.0f};
    uint8_t codes[3];
    float absmax[3], y[3];
    clt_q8_quantize(x, 3, 1, map, codes, absmax);
    assert_int_equal(codes[0], 0);
    assert_int_equal(codes[1], 255);
    assert_int_equal(codes[2], 0);
    assert_true(absmax[0] == 2.5f && absmax[1] == 3.0f && absmax[2] == 7.0f);
    clt_q8_dequantize(codes, absmax, 3, 1, map, y);
    assert_true(y[1] == 3.0f);
    assert_true(y[0] == map[0] * 2.5f);
}

/* Map values times a power of two come back bit for bit, code for code. */
static void exact_values(void **state)
{
    (void)state;
    for (int s = 0; s < 2; s++) {
        float map[256];
        (s ? clt_q8_map_signed : clt_q8_map_unsigned)(map);
        const float scales[] = {1.0f, 4.0f, 0.125f, 0x1p-60f};
        for (size_t k = 0; k < sizeof scales / sizeof scales[0]; k++) {
            float x[512], y[512], absmax[2];
            uint8_t codes[512];
            for (int i = 0; i < 512; i++) /* reversed in the second block */
                x[i] = map[i < 256 ? i : 511 - i] * scales[k];
            clt_q8_quantize(x, 512, 256, map, codes, absmax);
            assert_true(absmax[0] == scales[k] && absmax[1] == scales[k]);
            clt_q8_dequantize(codes, absmax, 512, 256, map, y);
            for (int i = 0; i < 512; i++) {
                assert_int_equal(codes[i], i < 256 ? i : 511 - i);
                assert_true(y[i] == x[i]);
            }
        }
    }
}

/* ---- zero and non-finite blocks -------------------------------------------------------- */

static void zero_blocks(void **state)
{
    (void)state;
    for (int s = 0; s < 2; s++) {
        float map[256];
        (s ? clt_q8_map_signed : clt_q8_map_unsigned)(map);
        float x[600], y[600], absmax[3];
        uint8_t codes[600];
        for (int i = 0; i < 600; i++)
            x[i] = (i & 1) ? -0.0f : 0.0f;
        x[300] = 0.5f; /* block 1 is not zero */
        clt_q8_quantize(x, 600, 256, map, codes, absmax);
        assert_true(absmax[0] == 0.0f && absmax[1] == 0.5f && absmax[2] == 0.0f);
        const int zero_code = s ? 127 : 0;
        for (int i = 0; i < 600; i++) {
            if (i != 300)
                assert_int_equal(codes[i], zero_code);
        }
        assert_int_equal(codes[300], 255);
        clt_q8_dequantize(codes, absmax, 600, 256, map, y);
        for (int i = 0; i < 600; i++)
            assert_true(y[i] == (i == 300 ? 0.5f : 0.0f));
    }
}

static void non_finite_blocks(void **state)
{
    (void)state;
    float map[256];
    clt_q8_map_signed(map);
    const float bad[] = {NAN, -NAN, INFINITY, -INFINITY};
    const size_t where[] = {0, 100, 255}; /* first, middle, last of block 1 */
    ts_rng rng;
    ts_rng_seed(&rng, 5);
    float x[700], y[700], absmax[3], clean_absmax[3];
    uint8_t codes[700], clean_codes[700];
    ts_fill_floats(&rng, x, 700, -3.0f, 3.0f);
    clt_q8_quantize(x, 700, 256, map, clean_codes, clean_absmax);
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++)
        for (size_t w = 0; w < sizeof where / sizeof where[0]; w++) {
            const size_t at = 256 + where[w];
            const float keep = x[at];
            x[at] = bad[b];
            clt_q8_quantize(x, 700, 256, map, codes, absmax);
            x[at] = keep;
            assert_true(isnan(absmax[1]));
            for (size_t i = 256; i < 512; i++)
                assert_int_equal(codes[i], 127);
            /* the other blocks do not notice */
            assert_true(absmax[0] == clean_absmax[0] && absmax[2] == clean_absmax[2]);
            assert_memory_equal(codes, clean_codes, 256);
            assert_memory_equal(codes + 512, clean_codes + 512, 700 - 512);
            clt_q8_dequantize(codes, absmax, 700, 256, map, y);
            for (size_t i = 256; i < 512; i++)
                assert_true(isnan(y[i]));
            for (size_t i = 0; i < 700; i++)
                if (i < 256 || i >= 512)
                    assert_true(isfinite(y[i]));
        }
}

/* ---- independence of blocks ------------------------------------------------------------ */

/* Changing one block changes no other block's codes or absmax, and quantizing a whole
 * array equals quantizing each block on its own. */
static void blocks_are_independent(void **state)
{
    (void)state;
    float map[256];
    clt_q8_map_signed(map);
    const size_t n = 4097, block = 256, nb = n_blocks(n, block);
    ts_rng rng;
    ts_rng_seed(&rng, 9);
    float *x = malloc(n * sizeof *x), *absmax = malloc(nb * sizeof *absmax),
          *absmax2 = malloc(nb * sizeof *absmax2);
    uint8_t *codes = malloc(n), *codes2 = malloc(n);
    assert_true(x && absmax && absmax2 && codes && codes2);
    fill(&rng, x, n, DIST_NORMAL);
    clt_q8_quantize(x, n, block, map, codes, absmax);
    for (size_t b = 0; b < nb; b++) {
        const size_t start = b * block, len = n - start < block ? n - start : block;
        uint8_t c[256];
        float a;
        clt_q8_quantize(x + start, len, block, map, c, &a);
        assert_true(a == absmax[b]);
        assert_memory_equal(c, codes + start, len);
    }
    /* scale block 5 up (its absmax and codes change), the rest must stay put */
    const size_t changed = 5;
    for (size_t i = changed * block; i < (changed + 1) * block; i++)
        x[i] = (i % 3 == 0) ? x[i] * 1000.0f : x[i] * 0.001f;
    clt_q8_quantize(x, n, block, map, codes2, absmax2);
    assert_true(absmax2[changed] != absmax[changed]);
    assert_memory_not_equal(codes2 + changed * block, codes + changed * block, block);
    for (size_t b = 0; b < nb; b++)
        if (b != changed) {
            const size_t start = b * block, len = n - start < block ? n - start : block;
            assert_true(absmax2[b] == absmax[b]);
            assert_memory_equal(codes2 + start, codes + start, len);
        }
    free(x);
    free(absmax);
    free(absmax2);
    free(codes);
    free(codes2);
}

/* ---- the error bound helper ------------------------------------------------------------ */

static void error_bound(void **state)
{
    (void)state;
    float map[256];
    clt_q8_map_signed(map);
    /* between two entries: half their gap, times absmax, wherever in the gap */
    const double gap = (double)map[201] - (double)map[200];
    const float inside = (float)((double)map[200] + 0.3 * gap);
    assert_true(fabs(clt_q8_error_bound(map, inside * 2.0f, 2.0f) - gap) < 1e-6 * gap);
    /* below the signed map's bottom: the distance to it */
    assert_true(fabs(clt_q8_error_bound(map, -3.0f, 3.0f) - 3.0 * (1.0 + (double)map[0])) <
                1e-12);
    /* the midpoint is attained: a tie element is off by exactly the bound */
    float thr[255];
    clt_q8_thresholds(map, thr);
    for (int i = 128; i < 255; i++) {
        const double mid = ((double)map[i] + (double)map[i + 1]) / 2.0;
        if ((double)(float)mid != mid)
            continue;
        const float x[2] = {1.0f, (float)mid};
        uint8_t codes[2];
        float am, y[2];
        clt_q8_quantize(x, 2, 2, map, codes, &am);
        clt_q8_dequantize(codes, &am, 2, 2, map, y);
        assert_true(fabs((double)y[1] - mid) == clt_q8_error_bound(map, x[1], 1.0f));
        return;
    }
    fail_msg("no float midpoint in the upper half of the signed map");
}

/* ---- the codebook and every SIMD level's codec ---------------------------------------- */

/* The search of clt_q8_code, walking the tree instead of thr: step l reads
 * tree[2^l - 1 + (pos >> (8 - l))]. */
static unsigned tree_code(const float tree[255], float v)
{
    unsigned pos = 0;
    for (unsigned l = 0; l < 8; l++)
        pos += v >= tree[(1u << l) - 1 + (pos >> (8 - l))] ? 1u << (7 - l) : 0;
    return pos;
}

static void codebook(void **state)
{
    (void)state;
    ts_rng rng;
    ts_rng_seed(&rng, 13);
    for (int s = 0; s < 2; s++) {
        struct clt_q8_codebook cb;
        float map[256], thr[255];
        clt_q8_codebook_init(&cb, s);
        (s ? clt_q8_map_signed : clt_q8_map_unsigned)(map);
        clt_q8_thresholds(map, thr);
        assert_memory_equal(cb.map, map, sizeof map);
        assert_memory_equal(cb.thr, thr, sizeof thr);
        assert_int_equal(cb.zero_code, s ? 127 : 0);
        /* every threshold appears once in the tree */
        float sorted[255];
        memcpy(sorted, cb.tree, sizeof sorted);
        for (int i = 1; i < 255; i++) /* insertion sort: 255 entries */
            for (int j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
                const float t = sorted[j];
                sorted[j] = sorted[j - 1];
                sorted[j - 1] = t;
            }
        assert_memory_equal(sorted, thr, sizeof thr);
        /* and the walk finds clt_q8_code's code: at, below and above every threshold,
         * and anywhere */
        for (int i = 0; i < 255; i++) {
            const float around[3] = {thr[i], nextafterf(thr[i], -INFINITY),
                                     nextafterf(thr[i], INFINITY)};
            for (int k = 0; k < 3; k++)
                assert_int_equal(tree_code(cb.tree, around[k]), clt_q8_code(thr, around[k]));
        }
        for (int k = 0; k < 100000; k++) {
            const float v = ts_rng_float(&rng, -1.1f, 1.1f);
            assert_int_equal(tree_code(cb.tree, v), clt_q8_code(thr, v));
        }
        assert_int_equal(tree_code(cb.tree, NAN), 0);
    }
}

static float float_of_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Block b of x (len elements) in one of the shapes that reach a case of the codec. */
enum { SHAPES = 10 };
static void fill_shape(ts_rng *rng, const struct clt_q8_codebook *cb, float *x, size_t len,
                       unsigned shape)
{
    const float scale = powf(10.0f, ts_rng_float(rng, -30.0f, 30.0f));
    for (size_t i = 0; i < len; i++) {
        const float r = ts_rng_float(rng, -1.0f, 1.0f);
        const unsigned k = (unsigned)(ts_rng_u64(rng) % 255);
        switch (shape) {
        case 0: /* plain data at any magnitude */
            x[i] = r * scale;
            break;
        case 1: /* thresholds and their neighbours with absmax 1: every tie and edge */
            x[i] = i % 3 == 0 ? cb->thr[k]
                   : i % 3 == 1 ? nextafterf(cb->thr[k], -INFINITY)
                                : nextafterf(cb->thr[k], INFINITY);
            break;
        case 2: /* zeros of both signs */
            x[i] = (i & 1) ? -0.0f : 0.0f;
            break;
        case 3: /* NaN somewhere */
        case 4: /* an infinity somewhere */
            x[i] = r;
            break;
        case 5: /* subnormals only: absmax subnormal */
            x[i] = float_of_bits((uint32_t)(ts_rng_u64(rng) % 0x800000u) |
                                 (r < 0 ? 0x80000000u : 0u));
            break;
        case 6: /* subnormals beside normals: x / absmax underflows */
            x[i] = i % 2 ? float_of_bits((uint32_t)(ts_rng_u64(rng) % 0x800000u)) : r * 1e-30f;
            break;
        case 7: /* map values times a scale that is not a power of two */
            x[i] = cb->map[k] * 3.0f;
            break;
        case 8: /* thresholds times such a scale: quotients a rounding away from them */
            x[i] = cb->thr[k] * 0.7f;
            break;
        default: /* values beyond the map's range once divided: negative in the
                  * unsigned map, and the largest magnitude negative */
            x[i] = -fabsf(r) * scale;
            break;
        }
    }
    const size_t at = (size_t)(ts_rng_u64(rng) % len);
    if (shape == 1)
        x[at] = 1.0f;
    if (shape == 3)
        x[at] = (ts_rng_u64(rng) & 1) ? NAN : -NAN;
    if (shape == 4)
        x[at] = (ts_rng_u64(rng) & 1) ? INFINITY : -INFINITY;
    if (shape == 7 || shape == 8)
        x[at] = (shape == 7 ? 3.0f : 0.7f) * ((ts_rng_u64(rng) & 1) ? 1.0f : -1.0f);
}

static void check_levels_quantize(const struct clt_q8_codebook *cb, const float *x, size_t n,
                                  size_t block)
{
    const size_t nb = n_blocks(n, block);
    uint8_t *want = malloc(n), *got = malloc(n);
    float *want_am = malloc(nb * sizeof(float)), *got_am = malloc(nb * sizeof(float));
    assert_true(want && got && want_am && got_am);
    clt_q8_quantize_thr(x, n, block, cb->thr, want, want_am);
    for (int level = 0; level < CLT_SIMD_COUNT; level++) {
        const struct clt_optim_kernels *k = clt_optim_kernels_of((clt_simd)level);
        if (!k)
            continue;
        memset(got, 0xa5, n);
        k->q8_quantize(cb, x, n, block, got, got_am);
        for (size_t i = 0; i < n; i++)
            if (got[i] != want[i])
                fail_msg("%s quantize, n %zu block %zu: element %zu (x = %.9g) has code %d, "
                         "scalar %d", clt_simd_name((clt_simd)level), n, block, i,
                         (double)x[i], got[i], want[i]);
        if (memcmp(got_am, want_am, nb * sizeof(float)) != 0)
            fail_msg("%s quantize, n %zu block %zu: absmax differs from the scalar one",
                     clt_simd_name((clt_simd)level), n, block);
    }
    free(want);
    free(got);
    free(want_am);
    free(got_am);
}

static void check_levels_dequantize(const struct clt_q8_codebook *cb, const uint8_t *codes,
                                    const float *absmax, size_t n, size_t block)
{
    float *want = malloc(n * sizeof(float)), *got = malloc(n * sizeof(float));
    assert_true(want && got);
    clt_q8_dequantize(codes, absmax, n, block, cb->map, want);
    for (int level = 0; level < CLT_SIMD_COUNT; level++) {
        const struct clt_optim_kernels *k = clt_optim_kernels_of((clt_simd)level);
        if (!k)
            continue;
        k->q8_dequantize(cb, codes, absmax, n, block, got);
        for (size_t i = 0; i < n; i++)
            if (memcmp(&got[i], &want[i], sizeof(float)) != 0)
                fail_msg("%s dequantize, n %zu block %zu: element %zu is %.9g, scalar %.9g",
                         clt_simd_name((clt_simd)level), n, block, i, (double)got[i],
                         (double)want[i]);
    }
    free(want);
    free(got);
}

static void levels_match_scalar(void **state)
{
    (void)state;
    static const size_t sizes[] = {1, 15, 16, 17, 255, 256, 257, 4095, 4097, 1000003};
    static const size_t blocks[] = {1, 3, 16, 100, 256, 2048};
    ts_rng rng;
    ts_rng_seed(&rng, 17);
    float *x = malloc(1000003 * sizeof(float)), *absmax = malloc(1000003 * sizeof(float));
    uint8_t *codes = malloc(1000003);
    assert_true(x && absmax && codes);
    for (int s = 0; s < 2; s++) {
        struct clt_q8_codebook cb;
        clt_q8_codebook_init(&cb, s);
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
            for (size_t bi = 0; bi < sizeof blocks / sizeof blocks[0]; bi++) {
                const size_t n = sizes[si], block = blocks[bi], nb = n_blocks(n, block);
                if (n > 5000 && block < 100)
                    continue; /* a million one-element blocks add nothing */
                for (size_t b = 0; b < nb; b++) {
                    const size_t start = b * block;
                    fill_shape(&rng, &cb, x + start, n - start < block ? n - start : block,
                               (unsigned)((b + si) % SHAPES));
                }
                check_levels_quantize(&cb, x, n, block);
                /* every code, under absmax values of every kind */
                static const float kinds[] = {0.0f, -0.0f, NAN, INFINITY, 1e-42f, 1.0f, 3e38f};
                for (size_t i = 0; i < n; i++)
                    codes[i] = (uint8_t)(ts_rng_u64(&rng) & 0xff);
                for (size_t b = 0; b < nb; b++)
                    absmax[b] = b % 3 == 0 ? kinds[(b / 3) % 7]
                                           : powf(10.0f, ts_rng_float(&rng, -40.0f, 38.0f));
                check_levels_dequantize(&cb, codes, absmax, n, block);
            }
    }
    free(x);
    free(absmax);
    free(codes);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(map_signed),
        cmocka_unit_test(map_unsigned),
        cmocka_unit_test(code_is_argmin),
        cmocka_unit_test(ties_go_low),
        cmocka_unit_test(round_trips),
        cmocka_unit_test(single_element_blocks),
        cmocka_unit_test(exact_values),
        cmocka_unit_test(zero_blocks),
        cmocka_unit_test(non_finite_blocks),
        cmocka_unit_test(blocks_are_independent),
        cmocka_unit_test(error_bound),
        cmocka_unit_test(codebook),
        cmocka_unit_test(levels_match_scalar),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
