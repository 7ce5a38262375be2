/* Contexts: options, budgets from options and the environment, clt_parse_size, the log
 * callback, and destroy freeing what is still alive. */
#include <pthread.h>

#include "runtime/context.h"
#include "support/stub_driver.h"
#include "support/support.h"

static const char *const budget_env[CLT_TIER_COUNT] = {
    "CLT_DEVICE_MEM", "CLT_HOST_PINNED_MEM", "CLT_HOST_MEM", "CLT_NVME_MEM"};

static void clear_env(void)
{
    for (int t = 0; t < CLT_TIER_COUNT; t++)
        unsetenv(budget_env[t]);
    unsetenv("CLT_DEVICE");
    unsetenv("CLT_LOG");
}

static void opts_init_defaults(void **state)
{
    (void)state;
    clt_context_opts opts;
    memset(&opts, 0x7F, sizeof opts);
    clt_context_opts_init(&opts);
    assert_null(opts.device);
    for (int t = 0; t < CLT_TIER_COUNT; t++)
        assert_int_equal(opts.mem_budget[t], 0);
    assert_null(opts.cache_dir);
    assert_null(opts.nvme_dir);
    assert_null(opts.log_fn);
    assert_null(opts.log_user);
    assert_true(opts.log_level >= CLT_LOG_ERROR && opts.log_level <= CLT_LOG_DEBUG);
}

static void budgets_default(void **state)
{
    const char *device = *state;
    clear_env();
    clt_context *ctx = ts_context(device);
    clt_device_info info;
    ts_assert_ok(clt_context_device(ctx, &info));
    clt_stats st;
    ts_assert_ok(clt_context_stats(ctx, &st));
    assert_true(st.mem_budget[CLT_TIER_DEVICE] == info.global_mem_bytes);
    assert_true(st.mem_budget[CLT_TIER_HOST_PINNED] == UINT64_MAX);
    assert_true(st.mem_budget[CLT_TIER_HOST] == UINT64_MAX);
    assert_true(st.mem_budget[CLT_TIER_NVME] == UINT64_MAX);
    for (int t = 0; t < CLT_TIER_COUNT; t++) {
        assert_int_equal(st.mem_used[t], 0);
        assert_int_equal(st.mem_peak[t], 0);
    }
    assert_int_equal(st.ops_run, 0);
    assert_int_equal(st.ops_fallback, 0);
    clt_context_destroy(ctx);
}

static void budgets_from_opts_and_env(void **state)
{
    const char *device = *state;
    clear_env();
    setenv("CLT_DEVICE_MEM", "1M", 1);
    setenv("CLT_HOST_PINNED_MEM", "3K", 1);
    setenv("CLT_HOST_MEM", "1.5G", 1);
    setenv("CLT_NVME_MEM", "2T", 1);
    clt_context *ctx = ts_context(device);
    clt_stats st;
    ts_assert_ok(clt_context_stats(ctx, &st));
    assert_true(st.mem_budget[CLT_TIER_DEVICE] == (1u << 20));
    assert_true(st.mem_budget[CLT_TIER_HOST_PINNED] == 3u << 10);
    assert_true(st.mem_budget[CLT_TIER_HOST] == 3ull << 29);
    assert_true(st.mem_budget[CLT_TIER_NVME] == 2ull << 40);
    clt_context_destroy(ctx);

    /* options win over the environment */
    clt_context_opts opts;
    clt_context_opts_init(&opts);
    opts.mem_budget[CLT_TIER_DEVICE] = 5000;
    opts.mem_budget[CLT_TIER_HOST] = 7 << 20;
    ctx = NULL;
    ts_assert_ok(ts_context_open(device, &opts, &ctx));
    ts_assert_ok(clt_context_stats(ctx, &st));
    assert_true(st.mem_budget[CLT_TIER_DEVICE] == 5000);
    assert_true(st.mem_budget[CLT_TIER_HOST_PINNED] == 3u << 10);
    assert_true(st.mem_budget[CLT_TIER_HOST] == 7u << 20);
    assert_true(st.mem_budget[CLT_TIER_NVME] == 2ull << 40);
    /* the budget is enforced: 5000 bytes of DEVICE, no more */
    clt_buffer *b = NULL;
    ts_assert_ok(clt_buffer_create(ctx, 4000, CLT_TIER_DEVICE, &b));
    clt_buffer *b2 = (clt_buffer *)&b2;
    assert_int_equal(clt_buffer_create(ctx, 1001, CLT_TIER_DEVICE, &b2),
                     CLT_ERR_OUT_OF_MEMORY);
    assert_null(b2);
    ts_assert_error_mentions("DEVICE");
    ts_assert_ok(clt_buffer_create(ctx, 1000, CLT_TIER_DEVICE, &b2));
    clt_context_destroy(ctx);
    clear_env();
}

static void budget_env_invalid(void **state)
{
    const char *device = *state;
    const char *bad[] = {"12Q", "-5M", "lots", "1.5.5G", "1e400"};
    for (int t = 0; t < CLT_TIER_COUNT; t++) {
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            clear_env();
            setenv(budget_env[t], bad[i], 1);
            clt_context *ctx = (clt_context *)&ctx;
            clt_status st = ts_context_open(device, NULL, &ctx);
            if (st != CLT_ERR_INVALID_ARG)
                fail_msg("%s=\"%s\": %s, want CLT_ERR_INVALID_ARG (%s)", budget_env[t], bad[i],
                         clt_status_name(st), clt_last_error());
            assert_null(ctx);
            if (!strstr(clt_last_error(), budget_env[t]))
                fail_msg("%s=\"%s\": the error does not name the variable: %s",
                         budget_env[t], bad[i], clt_last_error());
        }
    }
    clear_env();
}

static void parse_size_table(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        uint64_t want;
    } good[] = {
        {"0", 0},
        {"1", 1},
        {"4096", 4096},
        {"64K", 64u << 10},
        {"64k", 64u << 10},
        {"64KB", 64u << 10},
        {"64KiB", 64u << 10},
        {"512M", 512u << 20},
        {"512MB", 512u << 20},
        {"1.5G", 3ull << 29},
        {"2G", 2ull << 30},
        {"2T", 2ull << 40},
        {"0.5K", 512},
        {" 8M", 8u << 20},
        {"100B", 100},
        {"16383T", 16383ull << 40},
        {"16777215T", 16777215ull << 40},
        {"9007199254740993", 9007199254740993ull},  /* 2^53 + 1: exact, not rounded */
        {"18446744073709551615", UINT64_MAX},
    };
    int failures = 0;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        uint64_t v = 12345;
        clt_status st = clt_parse_size(good[i].text, &v);
        if (st != CLT_OK || v != good[i].want) {
            print_error("clt_parse_size(\"%s\"): %s, %llu; want %llu (%s)\n", good[i].text,
                        clt_status_name(st), (unsigned long long)v,
                        (unsigned long long)good[i].want, st ? clt_last_error() : "");
            failures++;
        }
    }
    static const char *const bad[] = {
        "",  "   ", "K", "12Q", "-1", "-0.5K", "1.5", "0.3K", "1.5.5G", "1e400",
        "16777216T",  /* 2^64: overflows */
        "18446744073709551616", "99999999999999999999999", "1 2", "M12", "12MM", "nan",
        "inf", "12 Q",
        "0.1e50", ".5e400", "1.5e3", "1.e5", "1.0x1p3", /* exponents: 0.1e50 was UB */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t v = 12345;
        clt_status st = clt_parse_size(bad[i], &v);
        if (st != CLT_ERR_INVALID_ARG || v != 12345 || strlen(clt_last_error()) == 0) {
            print_error("clt_parse_size(\"%s\"): %s, %llu; want CLT_ERR_INVALID_ARG and "
                        "*out untouched\n", bad[i], clt_status_name(st), (unsigned long long)v);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
    uint64_t v;
    assert_int_equal(clt_parse_size(NULL, &v), CLT_ERR_INVALID_ARG);
    assert_int_equal(clt_parse_size("1K", NULL), CLT_ERR_INVALID_ARG);
}

struct log_sink {
    int count[4];
    int bad_level;
    char last[512];
};

static void record_log(void *user, clt_log_level level, const char *message)
{
    struct log_sink *s = user;
    if (level < CLT_LOG_ERROR || level > CLT_LOG_DEBUG) {
        s->bad_level++;
        return;
    }
    s->count[level]++;
    snprintf(s->last, sizeof s->last, "%s", message);
}

static void log_callback(void **state)
{
    const char *device = *state;
    clear_env();
    struct log_sink sink;
    memset(&sink, 0, sizeof sink);
    clt_context_opts opts;
    clt_context_opts_init(&opts);
    opts.log_fn = record_log;
    opts.log_user = &sink;
    opts.log_level = CLT_LOG_DEBUG;
    clt_context *ctx = NULL;
    ts_assert_ok(ts_context_open(device, &opts, &ctx));
    clt_context_destroy(ctx);
    assert_int_equal(sink.bad_level, 0);
    int total = sink.count[0] + sink.count[1] + sink.count[2] + sink.count[3];
    if (total == 0)
        fail_msg("opening %s at debug level logged nothing", device);
    assert_true(strlen(sink.last) > 0);
    assert_true(sink.last[strlen(sink.last) - 1] != '\n');  /* no trailing newline */

    /* At error level, nothing below error reaches the callback. */
    memset(&sink, 0, sizeof sink);
    opts.log_level = CLT_LOG_ERROR;
    ctx = NULL;
    ts_assert_ok(ts_context_open(device, &opts, &ctx));
    clt_buffer *b = NULL;
    ts_assert_ok(clt_buffer_create(ctx, 64, CLT_TIER_DEVICE, &b));
    clt_context_destroy(ctx);
    assert_int_equal(sink.count[CLT_LOG_WARN] + sink.count[CLT_LOG_INFO] +
                         sink.count[CLT_LOG_DEBUG],
                     0);
}

/* A fallback to the host is logged (info) and counted. */
static void log_fallback(void **state)
{
    (void)state;
    clear_env();
    stub_reset();
    stub_faults.unsupported = true;
    struct log_sink sink;
    memset(&sink, 0, sizeof sink);
    clt_context_opts opts;
    clt_context_opts_init(&opts);
    opts.log_fn = record_log;
    opts.log_user = &sink;
    opts.log_level = CLT_LOG_INFO;
    opts.cache_dir = "";
    clt_context *ctx = NULL;
    ts_assert_ok(clt_context_open(&stub_driver, 0, &opts, &ctx));
    const float a[2] = {2, 3}, b[2] = {5, 7};
    clt_buffer *ba = ts_upload(ctx, CLT_TIER_DEVICE, a, 2);
    clt_buffer *bb = ts_upload(ctx, CLT_TIER_DEVICE, b, 2);
    clt_buffer *bc = ts_buffer(ctx, CLT_TIER_DEVICE, 4, NULL);
    clt_gemm_args g = ts_gemm_2d(ba, bb, bc, 1, 1, 2, 1.0f, 0.0f);
    int before = sink.count[CLT_LOG_INFO] + sink.count[CLT_LOG_WARN];
    ts_assert_ok(clt_gemm(ctx, &g, NULL));
    float c = 0;
    ts_download(bc, 0, &c, 1);
    assert_true(c == 31.0f);
    clt_stats st;
    ts_assert_ok(clt_context_stats(ctx, &st));
    assert_int_equal(st.ops_fallback, 1);
    assert_int_equal(stub_faults.n_run, 0);
    assert_true(sink.count[CLT_LOG_INFO] + sink.count[CLT_LOG_WARN] > before);
    clt_context_destroy(ctx);
    assert_int_equal(stub_faults.live_allocs, 0);
    assert_int_equal(stub_faults.live_devs, 0);
}

static void destroy_null(void **state)
{
    (void)state;
    clt_context_destroy(NULL);
    clt_buffer_destroy(NULL);
    clt_event_destroy(NULL);
}

/* Buffers and events left alive are freed by the context (ASan's leak check proves it;
 * the stub's counters prove it for driver memory). */
static void destroy_frees_children(void **state)
{
    const char *device = *state;
    clear_env();
    clt_context *ctx = ts_context(device);
    float x[256];
    ts_fill_value(x, 256, 1.0f);
    for (int t = 0; t < CLT_TIER_COUNT; t++) {
        clt_buffer *b = ts_upload(ctx, (clt_tier)t, x, 256);
        clt_event *ev = NULL;
        ts_assert_ok(clt_buffer_write(b, 0, x, sizeof x, &ev));
        /* neither b nor ev is destroyed */
    }
    clt_context_destroy(ctx);
}

static void destroy_frees_children_stub(void **state)
{
    (void)state;
    clear_env();
    stub_reset();
    clt_context_opts opts;
    clt_context_opts_init(&opts);
    opts.cache_dir = "";
    char nvme[4096];
    ts_tmp_subdir("nvme", nvme, sizeof nvme);
    opts.nvme_dir = nvme;
    clt_context *ctx = NULL;
    ts_assert_ok(clt_context_open(&stub_driver, 0, &opts, &ctx));
    float x[64] = {0};
    for (int i = 0; i < 3; i++) {
        for (int t = 0; t < CLT_TIER_COUNT; t++) {
            clt_buffer *b = ts_upload(ctx, (clt_tier)t, x, 64);
            clt_event *ev = NULL;
            ts_assert_ok(clt_buffer_read(b, 0, x, sizeof x, &ev));
        }
    }
    assert_int_equal(stub_faults.live_allocs, 6);
    clt_stats st;
    ts_assert_ok(clt_context_stats(ctx, &st));
    assert_true(st.mem_used[CLT_TIER_DEVICE] == 3 * sizeof x);
    assert_true(st.mem_used[CLT_TIER_NVME] == 3 * sizeof x);
    clt_context_destroy(ctx);
    assert_int_equal(stub_faults.live_allocs, 0);
    assert_int_equal(stub_faults.live_devs, 0);
}

struct worker {
    const char *device;
    int id;
    clt_status st;
    float result;
    char error[256];
};

/* Opens its own context, runs a 1x1x2 GEMM (id·[1 2]·[3 4]^T), closes it. */
static void *worker_main(void *arg)
{
    struct worker *w = arg;
    clt_context *ctx = NULL;
    clt_buffer *ba = NULL, *bb = NULL, *bc = NULL;
    w->st = ts_context_open(w->device, NULL, &ctx);
    const float a[2] = {(float)w->id, (float)(2 * w->id)}, b[2] = {3, 4};
    if (w->st == CLT_OK)
        w->st = clt_buffer_create(ctx, sizeof a, CLT_TIER_DEVICE, &ba);
    if (w->st == CLT_OK)
        w->st = clt_buffer_create(ctx, sizeof b, CLT_TIER_DEVICE, &bb);
    if (w->st == CLT_OK)
        w->st = clt_buffer_create(ctx, sizeof(float), CLT_TIER_DEVICE, &bc);
    if (w->st == CLT_OK)
        w->st = clt_buffer_write(ba, 0, a, sizeof a, NULL);
    if (w->st == CLT_OK)
        w->st = clt_buffer_write(bb, 0, b, sizeof b, NULL);
    clt_gemm_args g;
    memset(&g, 0, sizeof g);
    if (w->st == CLT_OK)
        w->st = clt_tensor_init(&g.a, ba, 0, CLT_DTYPE_F32, 2, (const int64_t[]){1, 2});
    if (w->st == CLT_OK)
        w->st = clt_tensor_init(&g.b, bb, 0, CLT_DTYPE_F32, 2, (const int64_t[]){2, 1});
    if (w->st == CLT_OK)
        w->st = clt_tensor_init(&g.c, bc, 0, CLT_DTYPE_F32, 2, (const int64_t[]){1, 1});
    g.alpha = 1;
    if (w->st == CLT_OK)
        w->st = clt_gemm(ctx, &g, NULL);
    if (w->st == CLT_OK)
        w->st = clt_buffer_read(bc, 0, &w->result, sizeof w->result, NULL);
    if (w->st != CLT_OK)
        snprintf(w->error, sizeof w->error, "%s", clt_last_error());
    clt_context_destroy(ctx);
    return NULL;
}

/* clt_context_create is thread-safe: contexts made at once on several threads work. */
static void concurrent_contexts(void **state)
{
    const char *device = *state;
    clear_env();
    enum { THREADS = 4 };
    pthread_t th[THREADS];
    struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].device = device;
        w[i].id = i + 1;
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    for (int i = 0; i < THREADS; i++) {
        if (w[i].st != CLT_OK)
            fail_msg("thread %d: %s: %s", i, clt_status_name(w[i].st), w[i].error);
        assert_true(w[i].result == (float)(11 * (i + 1)));
    }
}

static void finish_and_stats_bad_args(void **state)
{
    (void)state;
    clt_stats st;
    clt_device_info info;
    assert_int_equal(clt_context_finish(NULL), CLT_ERR_INVALID_ARG);
    assert_int_equal(clt_context_stats(NULL, &st), CLT_ERR_INVALID_ARG);
    assert_int_equal(clt_context_device(NULL, &info), CLT_ERR_INVALID_ARG);
    clt_context *ctx = ts_context("host");
    assert_int_equal(clt_context_stats(ctx, NULL), CLT_ERR_INVALID_ARG);
    assert_int_equal(clt_context_device(ctx, NULL), CLT_ERR_INVALID_ARG);
    ts_assert_ok(clt_context_finish(ctx));
    clt_context_destroy(ctx);
}

int main(void)
{
    clear_env();
    const struct CMUnitTest common[] = {
        cmocka_unit_test(opts_init_defaults),
        cmocka_unit_test(parse_size_table),
        cmocka_unit_test(log_fallback),
        cmocka_unit_test(destroy_null),
        cmocka_unit_test(destroy_frees_children_stub),
        cmocka_unit_test(finish_and_stats_bad_args),
    };
    int failed = cmocka_run_group_tests(common, NULL, NULL);
    const ts_device_test per_device[] = {
        {"budgets_default", budgets_default},
        {"budgets_from_opts_and_env", budgets_from_opts_and_env},
        {"budget_env_invalid", budget_env_invalid},
        {"log_callback", log_callback},
        {"destroy_frees_children", destroy_frees_children},
        {"concurrent_contexts", concurrent_contexts},
    };
    failed += ts_run_per_device("context per device", per_device,
                                sizeof per_device / sizeof per_device[0]);
    return failed;
}
