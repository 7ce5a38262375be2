/* The GEMM tuner on opencl:0: the first context measures and stores its parameters, the
 * second reads them back; a corrupt entry is rejected (defaults with CLT_TUNE_OFF, a new
 * measurement with CLT_TUNE_AUTO); clt_tune re-measures on demand; a bad
 * $CLT_GEMM_PARAMS is a clear error; the parameters' text format round-trips. Where clt
 * has CLBlast, its path is checked against the reference too.
 *
 * Skipped when there is no OpenCL device. */
#include "support/support.h"

#include <dirent.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/host/ref.h"
#include "backends/opencl/cl_internal.h"

#define DEVICE "opencl:0"

/* ---- files ------------------------------------------------------------------------- */

/* A fresh, empty cache directory <tmp>/<name>. */
static void fresh_dir(const char *name, char *out, size_t cap)
{
    ts_tmp_subdir(name, out, cap);
    DIR *d = opendir(out);
    assert_non_null(d);
    for (struct dirent *e = readdir(d); e; e = readdir(d)) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[4096];
        int w = snprintf(path, sizeof path, "%s/%s", out, e->d_name);
        assert_true(w > 0 && (size_t)w < sizeof path);
        unlink(path);
    }
    closedir(d);
}

/* The path of the directory's gemm-tune-*.txt (asserts there is exactly one). */
static void tune_file(const char *dir, char *path, size_t cap)
{
    int n = 0;
    DIR *d = opendir(dir);
    assert_non_null(d);
    for (struct dirent *e = readdir(d); e; e = readdir(d)) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, "gemm-tune-", 10) == 0 && len > 4 &&
            strcmp(e->d_name + len - 4, ".txt") == 0) {
            int w = snprintf(path, cap, "%s/%s", dir, e->d_name);
            assert_true(w > 0 && (size_t)w < cap);
            n++;
        }
    }
    closedir(d);
    assert_int_equal(n, 1);
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *text = calloc(1, 65536);
    assert_non_null(text);
    size_t n = fread(text, 1, 65535, f);
    fclose(f);
    text[n] = '\0';
    return text;
}

static void write_text(const char *path, const char *text, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* ---- contexts and GEMMs --------------------------------------------------------------- */

static bool have_device(void)
{
    clt_device_info info[TS_MAX_DEVICES];
    int n = 0;
    if (clt_device_list(info, TS_MAX_DEVICES, &n) != CLT_OK)
        return false;
    for (int i = 0; i < n && i < TS_MAX_DEVICES; i++)
        if (strcmp(info[i].name, DEVICE) == 0)
            return true;
    return false;
}

static clt_context *open_ctx(const char *cache_dir, clt_tune_mode mode)
{
    clt_context_opts opts;
    clt_context_opts_init(&opts);
    opts.cache_dir = cache_dir;
    opts.tune = mode;
    clt_context *ctx = NULL;
    ts_assert_ok(ts_context_open(DEVICE, &opts, &ctx));
    return ctx;
}

static clt_stats stats_of(clt_context *ctx)
{
    clt_stats st;
    ts_assert_ok(clt_context_stats(ctx, &st));
    return st;
}

/* Asserts the context's tuning counters; -1 leaves one unchecked. */
static void assert_tunings(clt_context *ctx, const char *when, int run, int from_cache,
                           int rejected)
{
    const clt_stats st = stats_of(ctx);
    if ((run >= 0 && st.tunings_run != (uint64_t)run) ||
        (from_cache >= 0 && st.tunings_from_cache != (uint64_t)from_cache) ||
        (rejected >= 0 && st.tunings_rejected != (uint64_t)rejected))
        fail_msg("%s: tunings run %llu, from cache %llu, rejected %llu; want %d, %d, %d", when,
                 (unsigned long long)st.tunings_run, (unsigned long long)st.tunings_from_cache,
                 (unsigned long long)st.tunings_rejected, run, from_cache, rejected);
}

/* Destroys a GEMM's three buffers and frees its four host arrays. */
static void release(clt_buffer *a, clt_buffer *b, clt_buffer *c, float *host[4])
{
    clt_buffer_destroy(a);
    clt_buffer_destroy(b);
    clt_buffer_destroy(c);
    for (int i = 0; i < 4; i++)
        free(host[i]);
}

/* A GEMM large enough for the kernel family (M=192, N=256, K=320, whole numbers, so exact
 * in f32), checked against the reference; `expect` is what clt_gemm must return (then
 * nothing is checked if it is not CLT_OK). Its description goes into `describe` (may be
 * NULL). */
static void gemm_checked(clt_context *ctx, clt_status expect, char *describe, size_t cap)
{
    enum { M = 192, N = 256, K = 320 };
    ts_rng rng;
    ts_rng_seed(&rng, 42);
    float *a = malloc(sizeof(float) * M * K), *b = malloc(sizeof(float) * K * N);
    float *c = malloc(sizeof(float) * M * N), *want = calloc(M * N, sizeof(float));
    assert_true(a && b && c && want);
    ts_fill_ints(&rng, a, M * K, -3, 3);
    ts_fill_ints(&rng, b, K * N, -3, 3);
    clt_buffer *ab = ts_upload(ctx, CLT_TIER_DEVICE, a, M * K);
    clt_buffer *bb = ts_upload(ctx, CLT_TIER_DEVICE, b, K * N);
    clt_buffer *cb = ts_buffer(ctx, CLT_TIER_DEVICE, sizeof(float) * M * N, NULL);
    clt_gemm_args g = ts_gemm_2d(ab, bb, cb, M, N, K, 1.0f, 0.0f);
    ts_assert_status(clt_gemm(ctx, &g, NULL), expect);
    if (expect == CLT_OK) {
        ts_download(cb, 0, c, M * N);
        clt_ref_gemm_f32(&g, a, b, want, NULL);
        assert_true(ts_close(c, want, M * N, 0, "tuned GEMM"));
        if (describe) {
            clt_op op = {.kind = CLT_OP_GEMM};
            op.u.gemm = g;
            ts_assert_ok(clt_op_describe(ctx, &op, describe, cap));
        }
    }
    release(ab, bb, cb, (float *[]){a, b, c, want});
}

/* What the built-in defaults describe: a context that has no tuning cache and does
 * not tune. */
static void defaults_description(char *out, size_t cap)
{
    clt_context *ctx = open_ctx("", CLT_TUNE_OFF);
    gemm_checked(ctx, CLT_OK, out, cap);
    assert_tunings(ctx, "no cache directory", 0, 0, 0);
    clt_context_destroy(ctx);
}

/* The directory shared by the tests below, tuned once by the first. */
static char tuned_dir[4096];
static char tuned_description[256];

static const char *tuned(void)
{
    if (!tuned_dir[0])
        fail_msg("the first-use test did not make the tuned cache directory");
    return tuned_dir;
}

/* ---- (a), (b): first use measures and stores, the next context reads ------------------ */

static void test_first_use_measures_and_stores(void **state)
{
    (void)state;
    fresh_dir("tuned", tuned_dir, sizeof tuned_dir);
    clt_context *ctx = open_ctx(tuned(), CLT_TUNE_AUTO);
    gemm_checked(ctx, CLT_OK, tuned_description, sizeof tuned_description);
    assert_tunings(ctx, "first use", 1, 0, 0);
    clt_stats st = stats_of(ctx);
    assert_true(st.tune_seconds > 0);
    print_message("first use: search took %.2f s; %s\n", st.tune_seconds, tuned_description);
    clt_context_destroy(ctx);

    char path[4096];
    tune_file(tuned_dir, path, sizeof path);
    char *text = read_text(path);
    assert_true(strncmp(text, "clt-gemm-tune 1\n", 16) == 0);
    assert_non_null(strstr(text, "\nparams family="));
    assert_non_null(strstr(text, "\nsha256 "));
    free(text);
}

static void test_second_context_reads_the_cache(void **state)
{
    (void)state;
    clt_context *ctx = open_ctx(tuned(), CLT_TUNE_AUTO);
    char describe[256];
    gemm_checked(ctx, CLT_OK, describe, sizeof describe);
    assert_tunings(ctx, "second context", 0, 1, 0);
    assert_string_equal(describe, tuned_description);
    clt_context_destroy(ctx);
}

/* A cache dir "" means no tuning cache: nothing is measured, the defaults run. */
static void test_no_cache_dir_uses_defaults(void **state)
{
    (void)state;
    char describe[256];
    defaults_description(describe, sizeof describe);
    assert_non_null(strstr(describe, "gemm_"));
}

/* ---- (c): corrupt entries --------------------------------------------------------------- */

enum damage { FLIP_PARAMS_BYTE, TRUNCATE, WRONG_CHECKSUM, FOREIGN_HEADER };

/* Copies the sound entry into a fresh directory, damaged. */
static void damaged_copy(const char *name, enum damage how, char *dir, size_t cap)
{
    char sound[4096], path[4096];
    tune_file(tuned(), sound, sizeof sound);
    char *text = read_text(sound);
    size_t n = strlen(text);
    fresh_dir(name, dir, cap);
    int w = snprintf(path, sizeof path, "%s/%s", dir, strrchr(sound, '/') + 1);
    assert_true(w > 0 && (size_t)w < sizeof path);
    char *params = strstr(text, "\nparams family=");
    char *checksum = strstr(text, "\nsha256 ");
    assert_true(params && checksum);
    switch (how) {
    case FLIP_PARAMS_BYTE:
        params[16] ^= 0x01;  /* inside the family's name */
        break;
    case TRUNCATE:
        n = (size_t)(checksum - text) + 20;
        break;
    case WRONG_CHECKSUM:
        checksum[8] = checksum[8] == '0' ? '1' : '0';
        break;
    case FOREIGN_HEADER:
        text[14] = '9';  /* "clt-gemm-tune 9" */
        break;
    }
    write_text(path, text, n);
    free(text);
}

static void test_corrupt_entry_with_tuning_off_uses_defaults(void **state)
{
    (void)state;
    char defaults[256];
    defaults_description(defaults, sizeof defaults);
    static const struct {
        enum damage how;
        const char *name;
    } cases[] = {
        {FLIP_PARAMS_BYTE, "flip"},
        {TRUNCATE, "truncate"},
        {WRONG_CHECKSUM, "checksum"},
        {FOREIGN_HEADER, "header"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char dir[4096], describe[256];
        damaged_copy(cases[i].name, cases[i].how, dir, sizeof dir);
        clt_context *ctx = open_ctx(dir, CLT_TUNE_OFF);
        gemm_checked(ctx, CLT_OK, describe, sizeof describe);
        assert_tunings(ctx, cases[i].name, 0, 0, 1);
        assert_string_equal(describe, defaults);
        clt_context_destroy(ctx);
    }
}

static void test_corrupt_entry_with_tuning_auto_measures_again(void **state)
{
    (void)state;
    char dir[4096];
    damaged_copy("remeasure", WRONG_CHECKSUM, dir, sizeof dir);
    clt_context *ctx = open_ctx(dir, CLT_TUNE_AUTO);
    gemm_checked(ctx, CLT_OK, NULL, 0);
    assert_tunings(ctx, "damaged, tuning on", 1, 0, 1);
    clt_context_destroy(ctx);

    /* The overwritten entry is sound: a context that does not tune reads it. */
    ctx = open_ctx(dir, CLT_TUNE_OFF);
    gemm_checked(ctx, CLT_OK, NULL, 0);
    assert_tunings(ctx, "measured again", 0, 1, 0);
    clt_context_destroy(ctx);
}

/* ---- (d): clt_tune ------------------------------------------------------------------------ */

static void test_clt_tune(void **state)
{
    (void)state;
    /* Without FORCE, a sound entry is taken as it is. */
    clt_context *ctx = open_ctx(tuned(), CLT_TUNE_OFF);
    ts_assert_ok(clt_tune(ctx, CLT_OP_GEMM, 0));
    assert_tunings(ctx, "clt_tune", 0, 1, 0);
    /* FORCE measures again, even with tuning off, and the GEMM still computes right. */
    ts_assert_ok(clt_tune(ctx, CLT_OP_GEMM, CLT_TUNE_FORCE));
    assert_tunings(ctx, "clt_tune(FORCE)", 1, 1, 0);
    gemm_checked(ctx, CLT_OK, NULL, 0);
    ts_assert_status(clt_tune(ctx, CLT_OP_GEMM, 0x80), CLT_ERR_INVALID_ARG);
    clt_context_destroy(ctx);

    char path[4096];
    tune_file(tuned(), path, sizeof path);  /* still exactly one entry */
}

/* ---- (e): $CLT_GEMM_PARAMS ------------------------------------------------------------------ */

static void test_bad_gemm_params_environment(void **state)
{
    (void)state;
    static const char *const bad[] = {"rm=banana", "family=tpu", "nonsense", "ts=4096"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(setenv("CLT_GEMM_PARAMS", bad[i], 1), 0);
        clt_context *ctx = open_ctx("", CLT_TUNE_OFF);
        gemm_checked(ctx, CLT_ERR_INVALID_ARG, NULL, 0);
        ts_assert_error_mentions("CLT_GEMM_PARAMS");
        clt_context_destroy(ctx);
    }
    /* A good one is taken as given, and no search runs even with tuning on. */
    assert_int_equal(setenv("CLT_GEMM_PARAMS", "family=direct", 1), 0);
    char dir[4096], describe[256];
    fresh_dir("environment", dir, sizeof dir);
    clt_context *ctx = open_ctx(dir, CLT_TUNE_AUTO);
    gemm_checked(ctx, CLT_OK, describe, sizeof describe);
    assert_non_null(strstr(describe, "gemm_direct"));
    assert_tunings(ctx, "$CLT_GEMM_PARAMS", 0, 0, 0);
    clt_context_destroy(ctx);
    unsetenv("CLT_GEMM_PARAMS");
}

/* ---- CLBlast --------------------------------------------------------------------------------- */

/* With family=clblast, GEMMs CLBlast can take go to it: transposes, batches with a
 * shared (batch stride 0) operand, offsets, padded rows, beta = 0 over NaN. */
static void test_clblast_path(void **state)
{
    (void)state;
    assert_int_equal(setenv("CLT_GEMM_PARAMS", "family=clblast direct_below_flops=0", 1), 0);
    clt_context *ctx = open_ctx("", CLT_TUNE_OFF);
    enum { B = 3, M = 33, N = 47, K = 29, LD = 64, OFF = 5 };
    ts_rng rng;
    ts_rng_seed(&rng, 7);
    for (int variant = 0; variant < 4; variant++) {
        const bool ta = variant & 1, tb = variant & 2;
        const size_t a_count = OFF + (size_t)B * (M > K ? M : K) * LD;
        const size_t b_count = OFF + (size_t)(N > K ? N : K) * LD;
        const size_t c_count = OFF + (size_t)B * M * LD;
        float *a = malloc(a_count * sizeof(float)), *b = malloc(b_count * sizeof(float));
        float *c = malloc(c_count * sizeof(float)), *want = malloc(c_count * sizeof(float));
        assert_true(a && b && c && want);
        ts_fill_ints(&rng, a, a_count, -4, 4);
        ts_fill_ints(&rng, b, b_count, -4, 4);
        ts_fill_value(c, c_count, NAN);
        clt_buffer *ab = ts_upload(ctx, CLT_TIER_DEVICE, a, a_count);
        clt_buffer *bb = ts_upload(ctx, CLT_TIER_DEVICE, b, b_count);
        clt_buffer *cb = ts_upload(ctx, CLT_TIER_DEVICE, c, c_count);
        clt_gemm_args g;
        memset(&g, 0, sizeof g);
        /* a (B, M|K, K|M) with padded rows; b (K|N, N|K) shared by every batch. */
        const int64_t ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
        g.a = (clt_tensor){.buf = ab, .offset = OFF * sizeof(float), .dtype = CLT_DTYPE_F32,
                           .rank = 3, .shape = {B, ar, ac}, .strides = {ar * LD, LD, 1}};
        g.b = (clt_tensor){.buf = bb, .offset = OFF * sizeof(float), .dtype = CLT_DTYPE_F32,
                           .rank = 2, .shape = {br, bc}, .strides = {LD, 1}};
        g.c = (clt_tensor){.buf = cb, .offset = OFF * sizeof(float), .dtype = CLT_DTYPE_F32,
                           .rank = 3, .shape = {B, M, N}, .strides = {M * LD, LD, 1}};
        g.trans_a = ta;
        g.trans_b = tb;
        g.alpha = 0.5f;
        g.beta = 0.0f;
        clt_op op = {.kind = CLT_OP_GEMM};
        op.u.gemm = g;
        char describe[256];
        ts_assert_ok(clt_op_describe(ctx, &op, describe, sizeof describe));
        if (!strstr(describe, "clblast")) {
            print_message("clt was built without CLBlast (%s): skipped\n", describe);
            variant = 4;
        } else {
            ts_assert_ok(clt_gemm(ctx, &g, NULL));
            ts_download(cb, 0, c, c_count);
            memcpy(want, c, c_count * sizeof(float));
            clt_ref_gemm_f32(&g, a + OFF, b + OFF, want + OFF, NULL);
            for (int64_t bi = 0; bi < B; bi++)
                for (int64_t i = 0; i < M; i++)
                    assert_true(ts_close(c + OFF + bi * M * LD + i * LD,
                                         want + OFF + bi * M * LD + i * LD, N, 0,
                                         "CLBlast GEMM"));
        }
        release(ab, bb, cb, (float *[]){a, b, c, want});
    }
    clt_context_destroy(ctx);
    unsetenv("CLT_GEMM_PARAMS");
}

/* ---- (f): the parameters' text ---------------------------------------------------------------- */

static void test_params_round_trip(void **state)
{
    (void)state;
    const struct clt_cl_gemm_params p = {
        .direct_below_flops = 123456.5,
        .family = CLT_CL_GEMM_GPU,
        .use_clblast = true,
        .direct = {.ts = 8},
        .cpu = {.rm = 4, .nr = 8, .ku = 2},
        .gpu = {.mwg = 128, .nwg = 64, .kwg = 32, .mdimc = 16, .ndimc = 8, .vwm = 4, .vwn = 2},
    };
    char text[512];
    clt_cl_gemm_params_format(&p, text, sizeof text);
    struct clt_cl_gemm_params q;
    memset(&q, 0, sizeof q);
    ts_assert_ok(clt_cl_gemm_params_parse(text, &q));
    assert_true(q.direct_below_flops == p.direct_below_flops);
    assert_int_equal(q.family, p.family);
    assert_int_equal(q.use_clblast, p.use_clblast);
    assert_int_equal(q.direct.ts, p.direct.ts);
    assert_memory_equal(&q.cpu, &p.cpu, sizeof p.cpu);
    assert_memory_equal(&q.gpu, &p.gpu, sizeof p.gpu);

    /* A text may give only some keys; commas separate too. */
    struct clt_cl_gemm_params r = p;
    ts_assert_ok(clt_cl_gemm_params_parse("rm=6, family=cpu", &r));
    assert_int_equal(r.cpu.rm, 6);
    assert_int_equal(r.family, CLT_CL_GEMM_CPU);
    assert_false(r.use_clblast);
    assert_int_equal(r.gpu.mwg, 128);
    ts_assert_ok(clt_cl_gemm_params_parse("family=clblast", &r));
    assert_true(r.use_clblast);
    ts_assert_ok(clt_cl_gemm_params_parse("family=direct", &r));
    assert_true(r.direct_below_flops > 1e200);
    ts_assert_ok(clt_cl_gemm_params_parse("", &r));
}

static void test_params_rejections(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "rm=0",        "rm=4097",       "rm=x",  "rm=6x",      "nope=1",
        "family=tpu",  "clblast=2",     "rm",    "=3",         "rm=",
        "direct_below_flops=-1",        "direct_below_flops=abc",
        "a_key_that_is_far_too_long_to_be_a_key_of_anything_at_all_and_goes_on_and_on_"
        "and_on_past_the_limit_of_a_pair=1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct clt_cl_gemm_params p = {.family = CLT_CL_GEMM_CPU, .cpu = {.rm = 6}};
        struct clt_cl_gemm_params before = p;
        clt_status s = clt_cl_gemm_params_parse(bad[i], &p);
        if (s != CLT_ERR_INVALID_ARG)
            fail_msg("'%s' parsed as %s", bad[i], clt_status_name(s));
        assert_memory_equal(&p, &before, sizeof p);  /* untouched on failure */
        ts_assert_error_mentions("GEMM parameters");
    }
}

int main(void)
{
    /* The tests set the mode through the options; the environment must not decide. */
    unsetenv("CLT_TUNE");
    unsetenv("CLT_GEMM_PARAMS");
    const struct CMUnitTest text_tests[] = {
        cmocka_unit_test(test_params_round_trip),
        cmocka_unit_test(test_params_rejections),
    };
    /* In order: the first makes the tuned directory the others read. */
    const struct CMUnitTest device_tests[] = {
        cmocka_unit_test(test_first_use_measures_and_stores),
        cmocka_unit_test(test_second_context_reads_the_cache),
        cmocka_unit_test(test_no_cache_dir_uses_defaults),
        cmocka_unit_test(test_corrupt_entry_with_tuning_off_uses_defaults),
        cmocka_unit_test(test_corrupt_entry_with_tuning_auto_measures_again),
        cmocka_unit_test(test_clt_tune),
        cmocka_unit_test(test_bad_gemm_params_environment),
        cmocka_unit_test(test_clblast_path),
    };
    int failed = cmocka_run_group_tests_name("gemm_params_text", text_tests, NULL, NULL);
    if (!have_device()) {
        fprintf(stderr, "test_gemm_tune: no %s: the tuner's tests are skipped\n", DEVICE);
        return failed;
    }
    return failed + cmocka_run_group_tests_name("gemm_tune", device_tests, NULL, NULL);
}
