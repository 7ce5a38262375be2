/* The NEON level (backends/host/optim_simd_neon.c) against the scalar level, bit for
 * bit, entry by entry: the update loops on data holding NaN, overflowing, subnormal and
 * zero values; the q8 codec on every kind of block (NaN, ±Inf, zeros, subnormals,
 * thresholds and their neighbours, partial blocks and vectors); the f16/bf16 copy on
 * every sign and exponent with the rounding cases of the low bits; sizes 1 to 100003.
 *
 * On aarch64 it tests the level the library runs. Elsewhere it builds the NEON file
 * through SIMDe's emulation of the intrinsics (Debian: libsimde-dev), which gives each
 * intrinsic's result lane by lane, so that the file's own logic (tables, shifts, masks,
 * narrowing, tails) is tested on any machine; where SIMDe's headers were not found at
 * configure time it says so and skips (exit 77, which ctest reports as skipped). */
#include <math.h>

#include "backends/host/optim_simd.h"
#include "support/support.h"

#if defined(CLT_HAVE_OPTIM_NEON)
#define NEON_HOW "this CPU"
#elif defined(CLT_HAVE_SIMDE)
#if defined(__clang__) /* SIMDe asks clang to vectorise loops that it then cannot */
#pragma clang diagnostic ignored "-Wpass-failed"
#endif
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/arm/neon.h>
/* SIMDe before 0.7.6 lacks aarch64's division and square root; NEON's are IEEE's
 * correctly rounded ones, as C's float / and sqrtf are. */
#ifndef vdivq_f32
static float32x4_t test_vdivq_f32(float32x4_t a, float32x4_t b)
{
    float x[4], y[4];
    vst1q_f32(x, a);
    vst1q_f32(y, b);
    for (int i = 0; i < 4; i++)
        x[i] = x[i] / y[i];
    return vld1q_f32(x);
}
#define vdivq_f32 test_vdivq_f32
#endif
#ifndef vsqrtq_f32
static float32x4_t test_vsqrtq_f32(float32x4_t a)
{
    float x[4];
    vst1q_f32(x, a);
    for (int i = 0; i < 4; i++)
        x[i] = sqrtf(x[i]);
    return vld1q_f32(x);
}
#define vsqrtq_f32 test_vsqrtq_f32
#endif
#define CLT_OPTIM_NEON_EMULATED 1
#include "backends/host/optim_simd_neon.c"
#define NEON_HOW "SIMDe's emulation"
#endif

#ifdef NEON_HOW
static const size_t sizes[] = {1, 3, 4, 5, 7, 8, 9, 15, 17, 255, 256, 257, 4095, 4097, 100003};
#define N_SIZES (sizeof sizes / sizeof sizes[0])
#define MAX_N 100003

static void expect_same_bits(const void *want, const void *got, size_t n, size_t elem,
                             const char *what, size_t size)
{
    const unsigned char *w = want, *g = got;
    for (size_t i = 0; i < n * elem; i++)
        if (w[i] != g[i])
            fail_msg("neon (%s) %s, n %zu: element %zu differs from the scalar level", NEON_HOW,
                     what, size, i / elem);
}

static void *alloc(size_t bytes)
{
    void *p = malloc(bytes);
    assert_non_null(p);
    return p;
}

/* ---- the update loops ------------------------------------------------------------------ */

/* Values in [lo, hi], and at one element in 61 a special: zero of either sign, a
 * subnormal, or where `nan` allows it (the gradient) a NaN or a value whose square
 * overflows. One NaN source per element, so that a result's NaN bits do not depend on
 * which operand of an add the compiler puts first (as in test_optim_host.c). */
static void fill(ts_rng *rng, float *x, size_t n, float lo, float hi, bool nan)
{
    ts_fill_floats(rng, x, n, lo, hi);
    for (size_t i = 0; i < n; i++) {
        if (ts_rng_u64(rng) % 61 != 0)
            continue;
        switch (ts_rng_u64(rng) % (nan ? 5 : 3)) {
        case 0: x[i] = (i & 1) ? 0.0f : -0.0f; break;
        case 1: x[i] = (i & 1) ? 1e-40f : -3e-42f; break;
        case 2: x[i] = 2e-39f; break;
        case 3: x[i] = NAN; break;
        default: x[i] = (i & 1) ? 3e38f : -3e38f; break;
        }
    }
}

enum loop { ADAM_STEP, ADAM_MOMENTS, ADAM_DIRECTION, SGD_PLAIN, SGD_MOMENTUM, SGD_NESTEROV,
            LOOPS };
static const char *const loop_names[LOOPS] = {"adam_step", "adam_moments", "adam_direction",
                                              "sgd_step without momentum", "sgd_step",
                                              "sgd_step nesterov"};

/* One side's copies of p, m, v and its u. */
struct side {
    float *p, *m, *v, *u;
};

static void run_loop(const struct clt_optim_kernels *kern, enum loop loop, const float *g,
                     struct side *s, size_t n)
{
    const struct clt_adam_k ak = {.b1 = 0.9f, .omb1 = 0.1f, .b2 = 0.999f,
                                  .omb2 = 1.0f - 0.999f, .bc1 = 0.19f, .bc2 = 0.001999f,
                                  .eps = 1e-8f, .wd = 0.01f, .lr = 1e-2f, .gs = 0.5f};
    const struct clt_sgd_k sk = {.b1 = 0.9f, .wd = 0.01f, .lr = 1e-2f, .gs = 0.5f,
                                 .nesterov = loop == SGD_NESTEROV};
    switch (loop) {
    case ADAM_STEP: kern->adam_step(&ak, s->p, g, s->m, s->v, n); break;
    case ADAM_MOMENTS: kern->adam_moments(&ak, g, s->m, s->v, n); break;
    case ADAM_DIRECTION: kern->adam_direction(&ak, s->p, s->m, s->v, s->u, n); break;
    case SGD_PLAIN: kern->sgd_step(&sk, s->p, g, NULL, n); break;
    default: kern->sgd_step(&sk, s->p, g, s->m, n); break;
    }
}

static void update_loops(void **state)
{
    (void)state;
    float *p0 = alloc(MAX_N * sizeof(float)), *g = alloc(MAX_N * sizeof(float));
    float *m0 = alloc(MAX_N * sizeof(float)), *v0 = alloc(MAX_N * sizeof(float));
    struct side side[2];
    for (int k = 0; k < 2; k++)
        side[k] = (struct side){alloc(MAX_N * sizeof(float)), alloc(MAX_N * sizeof(float)),
                                alloc(MAX_N * sizeof(float)), alloc(MAX_N * sizeof(float))};
    ts_rng rng;
    ts_rng_seed(&rng, 31);
    for (size_t si = 0; si < N_SIZES; si++) {
        const size_t n = sizes[si];
        fill(&rng, p0, n, -1.0f, 1.0f, false);
        fill(&rng, g, n, -1.0f, 1.0f, true);
        fill(&rng, m0, n, -0.01f, 0.01f, false);
        fill(&rng, v0, n, 0.0f, 1e-4f, false);
        for (int loop = 0; loop < LOOPS; loop++) {
            for (int k = 0; k < 2; k++) { /* 0: scalar, 1: neon; the same start */
                memcpy(side[k].p, p0, n * sizeof(float));
                memcpy(side[k].m, m0, n * sizeof(float));
                memcpy(side[k].v, v0, n * sizeof(float));
                memset(side[k].u, 0, n * sizeof(float));
                run_loop(k ? &clt_optim_kernels_neon : &clt_optim_kernels_scalar,
                         (enum loop)loop, g, &side[k], n);
            }
            const char *what = loop_names[loop];
            expect_same_bits(side[0].p, side[1].p, n, sizeof(float), what, n);
            expect_same_bits(side[0].m, side[1].m, n, sizeof(float), what, n);
            expect_same_bits(side[0].v, side[1].v, n, sizeof(float), what, n);
            expect_same_bits(side[0].u, side[1].u, n, sizeof(float), what, n);
        }
        /* the loops must have done something, or equality proves nothing */
        assert_memory_not_equal(side[0].p, p0, n * sizeof(float));
    }
    free(p0);
    free(g);
    free(m0);
    free(v0);
    for (int k = 0; k < 2; k++) {
        free(side[k].p);
        free(side[k].m);
        free(side[k].v);
        free(side[k].u);
    }
}

/* ---- the q8 codec ---------------------------------------------------------------------- */

static float float_of_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* One block in one of the shapes that reach a case of the codec (test_quant8.c has the
 * same for the x86 levels). */
enum { SHAPES = 9 };
static void fill_block(ts_rng *rng, const struct clt_q8_codebook *cb, float *x, size_t len,
                       unsigned shape)
{
    const float scale = powf(10.0f, ts_rng_float(rng, -30.0f, 30.0f));
    for (size_t i = 0; i < len; i++) {
        const float r = ts_rng_float(rng, -1.0f, 1.0f);
        const unsigned k = (unsigned)(ts_rng_u64(rng) % 255);
        switch (shape) {
        case 0: x[i] = r * scale; break;                              /* any magnitude */
        case 1: /* thresholds and neighbours, absmax 1: ties and edges */
            x[i] = i % 3 == 0 ? cb->thr[k]
                   : i % 3 == 1 ? nextafterf(cb->thr[k], -INFINITY)
                                : nextafterf(cb->thr[k], INFINITY);
            break;
        case 2: x[i] = (i & 1) ? -0.0f : 0.0f; break;                 /* zeros */
        case 3: case 4: x[i] = r; break;                             /* NaN, Inf below */
        case 5: /* subnormals only */
            x[i] = float_of_bits((uint32_t)(ts_rng_u64(rng) % 0x800000u) |
                                 (r < 0 ? 0x80000000u : 0u));
            break;
        case 6: /* subnormals beside normals */
            x[i] = i % 2 ? float_of_bits((uint32_t)(ts_rng_u64(rng) % 0x800000u)) : r * 1e-30f;
            break;
        case 7: x[i] = cb->thr[k] * 0.7f; break; /* quotients a rounding from thresholds */
        default: x[i] = -fabsf(r) * scale; break; /* below the unsigned map */
        }
    }
    const size_t at = (size_t)(ts_rng_u64(rng) % len);
    if (shape == 1)
        x[at] = 1.0f;
    if (shape == 3)
        x[at] = (ts_rng_u64(rng) & 1) ? NAN : -NAN;
    if (shape == 4)
        x[at] = (ts_rng_u64(rng) & 1) ? INFINITY : -INFINITY;
    if (shape == 7)
        x[at] = -0.7f;
}

static void codec(void **state)
{
    (void)state;
    static const size_t blocks[] = {1, 3, 16, 100, 256, 2048};
    float *x = alloc(MAX_N * sizeof(float)), *y[2], *am[2];
    uint8_t *codes[2];
    for (int k = 0; k < 2; k++) {
        y[k] = alloc(MAX_N * sizeof(float));
        am[k] = alloc(MAX_N * sizeof(float));
        codes[k] = alloc(MAX_N);
    }
    ts_rng rng;
    ts_rng_seed(&rng, 37);
    for (int s = 0; s < 2; s++) {
        struct clt_q8_codebook cb;
        clt_q8_codebook_init(&cb, s);
        for (size_t si = 0; si < N_SIZES; si++)
            for (size_t bi = 0; bi < sizeof blocks / sizeof blocks[0]; bi++) {
                const size_t n = sizes[si], block = blocks[bi], nb = (n + block - 1) / block;
                for (size_t b = 0, at = 0; b < nb; b++, at += block)
                    fill_block(&rng, &cb, x + at, n - at < block ? n - at : block,
                               (unsigned)((b + si) % SHAPES));
                for (int k = 0; k < 2; k++) {
                    memset(codes[k], 0xa5, n);
                    (k ? &clt_optim_kernels_neon : &clt_optim_kernels_scalar)
                        ->q8_quantize(&cb, x, n, block, codes[k], am[k]);
                }
                expect_same_bits(codes[0], codes[1], n, 1, "quantize: codes", n);
                expect_same_bits(am[0], am[1], nb, sizeof(float), "quantize: absmax", n);
                for (int k = 0; k < 2; k++)
                    (k ? &clt_optim_kernels_neon : &clt_optim_kernels_scalar)
                        ->q8_dequantize(&cb, codes[0], am[0], n, block, y[k]);
                expect_same_bits(y[0], y[1], n, sizeof(float), "dequantize", n);
            }
    }
    free(x);
    for (int k = 0; k < 2; k++) {
        free(y[k]);
        free(am[k]);
        free(codes[k]);
    }
}

/* ---- the f16 / bf16 copy --------------------------------------------------------------- */

/* Every sign and exponent with 7 mantissa bits (the top 16 bits) times low-bit patterns
 * that put each rounding case at bf16's and normal f16's cut, plus random bits for the
 * cuts of subnormal f16 results; as test_optim_host.c does for the x86 levels. */
static void halves(void **state)
{
    (void)state;
    static const uint32_t low[] = {0x0000, 0x0001, 0x0fff, 0x1000, 0x1001, 0x2000, 0x3000,
                                   0x3001, 0x7fff, 0x8000, 0x8001, 0xffff, 0x5555, 0xaaaa};
    const size_t n_low = sizeof low / sizeof low[0], n = 65536 * n_low + 100003;
    uint32_t *bits = alloc(n * sizeof *bits);
    float *x = alloc(n * sizeof *x);
    uint16_t *want = alloc(n * sizeof *want), *got = alloc(n * sizeof *got);
    size_t at = 0;
    for (uint32_t hi = 0; hi < 65536; hi++)
        for (size_t k = 0; k < n_low; k++)
            bits[at++] = hi << 16 | low[k];
    ts_rng rng;
    ts_rng_seed(&rng, 41);
    while (at < n)
        bits[at++] = (uint32_t)ts_rng_u64(&rng);
    memcpy(x, bits, n * sizeof *x);
    for (int dt = 0; dt < 2; dt++)
        for (size_t off = 0; off < 2; off++) { /* whole, then an odd start and length */
            const size_t len = n - off * 20;
            memset(got, 0, n * sizeof *got);
            (dt ? clt_optim_kernels_scalar.to_bf16 : clt_optim_kernels_scalar.to_f16)(
                x + off * 7, want + off * 7, len);
            (dt ? clt_optim_kernels_neon.to_bf16 : clt_optim_kernels_neon.to_f16)(
                x + off * 7, got + off * 7, len);
            for (size_t i = off * 7; i < off * 7 + len; i++)
                if (got[i] != want[i])
                    fail_msg("neon (%s) %s of 0x%08x: 0x%04x, convert.c 0x%04x", NEON_HOW,
                             dt ? "bf16" : "f16", bits[i], got[i], want[i]);
        }
    free(bits);
    free(x);
    free(want);
    free(got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(update_loops),
        cmocka_unit_test(codec),
        cmocka_unit_test(halves),
    };
    printf("optim_simd_neon: the NEON level through %s\n", NEON_HOW);
    return cmocka_run_group_tests_name("optim_simd_neon", tests, NULL, NULL);
}
#else
int main(void)
{
    printf("optim_simd_neon: skipped: this CPU has no NEON and SIMDe's NEON emulation "
           "(simde/arm/neon.h, Debian: libsimde-dev) was not found at configure time\n");
    return 77;
}
#endif
