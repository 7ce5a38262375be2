/* The runtime's error paths, through the fault-injecting stub driver: every injected
 * failure reaches the caller as its own status with a sentence, the context stays
 * usable, and nothing leaks (the stub counts its allocations; ASan checks the rest). */
#include "backends/host/ref.h"
#include "runtime/context.h"
#include "support/stub_driver.h"
#include "support/support.h"

static clt_context *open_stub(void)
{
    stub_reset();
    clt_context_opts opts;
    clt_context_opts_init(&opts);
    opts.cache_dir = "";
    char nvme[4096];
    ts_tmp_subdir("nvme", nvme, sizeof nvme);
    opts.nvme_dir = nvme;
    opts.device = NULL;
    clt_context *ctx = NULL;
    clt_status st = clt_context_open(&stub_driver, 0, &opts, &ctx);
    if (st != CLT_OK)
        fail_msg("cannot open the stub: %s: %s", clt_status_name(st), clt_last_error());
    assert_int_equal(stub_faults.live_devs, 1);
    return ctx;
}

static void close_stub(clt_context *ctx)
{
    clt_context_destroy(ctx);
    assert_int_equal(stub_faults.live_allocs, 0);
    assert_int_equal(stub_faults.live_bytes, 0);
    assert_int_equal(stub_faults.live_devs, 0);
}

static void expect_failure(clt_status got, clt_status want, const char *what)
{
    if (got != want)
        fail_msg("%s: %s, want %s (%s)", what, clt_status_name(got), clt_status_name(want),
                 clt_last_error());
    if (strlen(clt_last_error()) < 10)
        fail_msg("%s: the sentence is missing or too short: \"%s\"", what, clt_last_error());
}

/* A call given an event slot reports a failure either at once, handing out no event,
 * or through the event; returns the failure either way. Before the call, *slot held
 * its own address, so a slot left untouched is told apart from one set to NULL. */
static clt_status settle(clt_status st, clt_event **slot, const char *what)
{
    clt_event *ev = *slot;
    if (st == CLT_OK) {
        assert_non_null(ev);
        st = clt_event_wait(ev);
        clt_event_destroy(ev);
    } else if (ev != (clt_event *)slot && ev != NULL) {
        fail_msg("%s handed out an event", what);
    }
    return st;
}

/* A small GEMM (3x4 · 4x2) that must come out right: the context still works. */
static void gemm_works(clt_context *ctx, clt_tier tier)
{
    float a[12], b[8], c[6], want[6];
    for (int i = 0; i < 12; i++)
        a[i] = (float)(i % 5 - 2);
    for (int i = 0; i < 8; i++)
        b[i] = (float)(i % 3 - 1);
    for (int i = 0; i < 6; i++)
        c[i] = want[i] = (float)i;
    clt_buffer *ba = ts_upload(ctx, tier, a, 12), *bb = ts_upload(ctx, tier, b, 8),
               *bc = ts_upload(ctx, tier, c, 6);
    clt_gemm_args g = ts_gemm_2d(ba, bb, bc, 3, 2, 4, 2.0f, 1.0f);
    clt_ref_gemm_f32(&g, a, b, want, NULL);
    ts_assert_ok(clt_gemm(ctx, &g, NULL));
    float got[6];
    ts_download(bc, 0, got, 6);
    assert_memory_equal(got, want, sizeof got);
    clt_buffer_destroy(ba);
    clt_buffer_destroy(bb);
    clt_buffer_destroy(bc);
}

static void transfers_work(clt_context *ctx)
{
    char msg[] = "still works", back[sizeof msg];
    for (int t = 0; t < CLT_TIER_COUNT; t++) {
        clt_buffer *b = NULL, *d = NULL;
        ts_assert_ok(clt_buffer_create(ctx, sizeof msg, (clt_tier)t, &b));
        ts_assert_ok(clt_buffer_create(ctx, sizeof msg, CLT_TIER_DEVICE, &d));
        ts_assert_ok(clt_buffer_write(b, 0, msg, sizeof msg, NULL));
        ts_assert_ok(clt_buffer_copy(d, 0, b, 0, sizeof msg, NULL));
        memset(back, 0, sizeof back);
        ts_assert_ok(clt_buffer_read(d, 0, back, sizeof back, NULL));
        assert_string_equal(back, msg);
        clt_buffer_destroy(b);
        clt_buffer_destroy(d);
    }
}

static void fault_alloc(void **state)
{
    (void)state;
    clt_context *ctx = open_stub();
    const clt_tier tiers[2] = {CLT_TIER_DEVICE, CLT_TIER_HOST_PINNED};
    for (int i = 0; i < 2; i++) {
        stub_faults.fail_alloc = 1;
        clt_buffer *b = (clt_buffer *)&b;
        expect_failure(clt_buffer_create(ctx, 4096, tiers[i], &b), CLT_ERR_OUT_OF_MEMORY,
                       "injected allocation failure");
        assert_null(b);
        assert_int_equal(stub_faults.fail_alloc, 0); /* the driver was asked */
        /* the bytes reserved for it went back to the budget */
        clt_stats st;
        ts_assert_ok(clt_context_stats(ctx, &st));
        assert_int_equal(st.mem_used[tiers[i]], 0);
        assert_int_equal(stub_faults.live_allocs, 0);
    }
    /* the context still allocates, transfers, runs */
    transfers_work(ctx);
    gemm_works(ctx, CLT_TIER_DEVICE);
    /* a failure in the middle of a GEMM's inputs being made */
    clt_buffer *keep = ts_buffer(ctx, CLT_TIER_DEVICE, 64, NULL);
    stub_faults.fail_alloc = 1;
    clt_buffer *b = (clt_buffer *)&b;
    assert_int_equal(clt_buffer_create(ctx, 64, CLT_TIER_DEVICE, &b), CLT_ERR_OUT_OF_MEMORY);
    assert_null(b);
    assert_int_equal(stub_faults.live_allocs, 1);
    clt_buffer_destroy(keep);
    assert_int_equal(stub_faults.live_allocs, 0);
    close_stub(ctx);
}

static void fault_transfer(void **state)
{
    (void)state;
    clt_context *ctx = open_stub();
    unsigned char orig[256], junk[256], back[256];
    for (int i = 0; i < 256; i++) {
        orig[i] = (unsigned char)i;
        junk[i] = 0xEE;
    }
    clt_buffer *b = ts_buffer(ctx, CLT_TIER_DEVICE, 256, orig);
    clt_buffer *d = ts_buffer(ctx, CLT_TIER_DEVICE, 256, orig);

    stub_faults.fail_write = 1;
    expect_failure(clt_buffer_write(b, 0, junk, 256, NULL), CLT_ERR_TRANSFER,
                   "injected write failure");
    assert_int_equal(stub_faults.fail_write, 0);
    stub_faults.fail_write = 1;
    clt_event *ev = (clt_event *)&ev;
    clt_status st = settle(clt_buffer_write(b, 0, junk, 256, &ev), &ev, "a failed write");
    expect_failure(st, CLT_ERR_TRANSFER, "injected async write failure");

    stub_faults.fail_read = 1;
    memset(back, 0, sizeof back);
    expect_failure(clt_buffer_read(b, 0, back, 256, NULL), CLT_ERR_TRANSFER,
                   "injected read failure");
    assert_int_equal(stub_faults.fail_read, 0);

    stub_faults.fail_copy = 1;
    expect_failure(clt_buffer_copy(d, 0, b, 0, 256, NULL), CLT_ERR_TRANSFER,
                   "injected copy failure");
    assert_int_equal(stub_faults.fail_copy, 0);

    /* staging tiers go through the driver's read and write */
    clt_buffer *h = ts_buffer(ctx, CLT_TIER_HOST, 256, orig);
    stub_faults.fail_read = 1;
    expect_failure(clt_buffer_copy(h, 0, b, 0, 256, NULL), CLT_ERR_TRANSFER,
                   "injected failure copying DEVICE to HOST");
    stub_faults.fail_write = 1;
    expect_failure(clt_buffer_copy(b, 0, h, 0, 256, NULL), CLT_ERR_TRANSFER,
                   "injected failure copying HOST to DEVICE");

    /* nothing was changed by the failures, and everything works again */
    ts_assert_buffer_equals(b, orig, 256);
    ts_assert_buffer_equals(d, orig, 256);
    ts_assert_buffer_equals(h, orig, 256);
    ts_assert_ok(clt_context_finish(ctx));
    transfers_work(ctx);
    gemm_works(ctx, CLT_TIER_HOST_PINNED);
    close_stub(ctx);
}

static void fault_build(void **state)
{
    (void)state;
    clt_context *ctx = open_stub();
    stub_faults.fail_build = 1;
    float a[4] = {1, 2, 3, 4}, c0[4] = {9, 9, 9, 9};
    clt_buffer *ba = ts_upload(ctx, CLT_TIER_DEVICE, a, 4);
    clt_buffer *bc = ts_upload(ctx, CLT_TIER_DEVICE, c0, 4);
    clt_gemm_args g = ts_gemm_2d(ba, ba, bc, 2, 2, 2, 1.0f, 0.0f);
    expect_failure(clt_gemm(ctx, &g, NULL), CLT_ERR_BUILD, "injected build failure");
    if (!strstr(clt_last_error(), STUB_BUILD_LOG))
        fail_msg("the build failure's text lacks the build log: %s", clt_last_error());
    assert_int_equal(stub_faults.fail_build, 0);
    clt_stats st;
    ts_assert_ok(clt_context_stats(ctx, &st));
    assert_int_equal(st.programs_built, 0);
    assert_int_equal(st.ops_run, 0);
    ts_assert_buffer_equals(bc, c0, sizeof c0);
    /* the next run builds and computes */
    ts_assert_ok(clt_gemm(ctx, &g, NULL));
    float got[4];
    ts_download(bc, 0, got, 4);
    const float want[4] = {7, 10, 15, 22};
    assert_memory_equal(got, want, sizeof got);
    ts_assert_ok(clt_context_stats(ctx, &st));
    assert_int_equal(st.programs_built, 1);
    assert_int_equal(st.ops_run, 1);
    assert_int_equal(st.ops_fallback, 0);
    gemm_works(ctx, CLT_TIER_DEVICE);
    close_stub(ctx);
}

static void fault_launch_and_finish(void **state)
{
    (void)state;
    clt_context *ctx = open_stub();
    gemm_works(ctx, CLT_TIER_DEVICE); /* built */
    float a[4] = {1, 2, 3, 4};
    clt_buffer *ba = ts_upload(ctx, CLT_TIER_DEVICE, a, 4);
    clt_buffer *bc = ts_upload(ctx, CLT_TIER_DEVICE, a, 4);
    clt_gemm_args g = ts_gemm_2d(ba, ba, bc, 2, 2, 2, 1.0f, 0.0f);
    stub_faults.fail_launch = 1;
    expect_failure(clt_gemm(ctx, &g, NULL), CLT_ERR_LAUNCH, "injected launch failure");
    assert_int_equal(stub_faults.fail_launch, 0);
    stub_faults.fail_launch = 1;
    clt_event *ev = (clt_event *)&ev;
    clt_status st = settle(clt_gemm(ctx, &g, &ev), &ev, "a failed launch");
    expect_failure(st, CLT_ERR_LAUNCH, "injected launch failure with an event");
    clt_stats stats;
    ts_assert_ok(clt_context_stats(ctx, &stats));
    assert_int_equal(stats.ops_fallback, 0);  /* a failure is not a reason to fall back */

    stub_faults.fail_finish = 1;
    expect_failure(clt_context_finish(ctx), CLT_ERR_LAUNCH, "injected asynchronous failure");
    ts_assert_ok(clt_context_finish(ctx));
    gemm_works(ctx, CLT_TIER_DEVICE);
    close_stub(ctx);
}

static void fault_lost_device(void **state)
{
    (void)state;
    clt_context *ctx = open_stub();
    gemm_works(ctx, CLT_TIER_DEVICE);
    float x[16] = {0};
    clt_buffer *b = ts_upload(ctx, CLT_TIER_DEVICE, x, 16);
    clt_buffer *h = ts_upload(ctx, CLT_TIER_HOST, x, 16);
    clt_event *ev = NULL;
    ts_assert_ok(clt_buffer_write(h, 0, x, sizeof x, &ev)); /* left for destroy */
    stub_faults.lost = true;
    expect_failure(clt_buffer_write(b, 0, x, sizeof x, NULL), CLT_ERR_DEVICE_LOST,
                   "write to a lost device");
    expect_failure(clt_buffer_read(b, 0, x, sizeof x, NULL), CLT_ERR_DEVICE_LOST,
                   "read from a lost device");
    expect_failure(clt_buffer_copy(h, 0, b, 0, sizeof x, NULL), CLT_ERR_DEVICE_LOST,
                   "copy from a lost device");
    clt_gemm_args g;
    memset(&g, 0, sizeof g);
    ts_assert_ok(clt_tensor_init(&g.a, b, 0, CLT_DTYPE_F32, 2, (const int64_t[]){2, 2}));
    ts_assert_ok(clt_tensor_init(&g.b, b, 16, CLT_DTYPE_F32, 2, (const int64_t[]){2, 2}));
    ts_assert_ok(clt_tensor_init(&g.c, b, 32, CLT_DTYPE_F32, 2, (const int64_t[]){2, 2}));
    g.alpha = 1;
    expect_failure(clt_gemm(ctx, &g, NULL), CLT_ERR_DEVICE_LOST, "gemm on a lost device");
    expect_failure(clt_context_finish(ctx), CLT_ERR_DEVICE_LOST, "finish on a lost device");
    /* host-side work and freeing still work */
    ts_assert_ok(clt_buffer_write(h, 0, x, sizeof x, NULL));
    clt_buffer_destroy(b);
    assert_int_equal(stub_faults.live_allocs, 0);
    clt_buffer *more = (clt_buffer *)&more;
    clt_status st = clt_buffer_create(ctx, 64, CLT_TIER_DEVICE, &more);
    if (st == CLT_OK)
        clt_buffer_destroy(more);
    /* destroy, with the device still lost, frees everything (h and ev included) */
    close_stub(ctx);
}

static void fault_open(void **state)
{
    (void)state;
    stub_reset();
    stub_faults.fail_open = 1;
    clt_context_opts opts;
    clt_context_opts_init(&opts);
    opts.cache_dir = "";
    clt_context *ctx = (clt_context *)&ctx;
    expect_failure(clt_context_open(&stub_driver, 0, &opts, &ctx), CLT_ERR_NO_DEVICE,
                   "injected open failure");
    assert_null(ctx);
    assert_int_equal(stub_faults.live_devs, 0);
    ctx = open_stub();
    close_stub(ctx);
}

/* Faults one after another in one context, with buffers of every tier alive. */
static void fault_sequence(void **state)
{
    (void)state;
    clt_context *ctx = open_stub();
    float x[64];
    ts_fill_value(x, 64, 3.0f);
    clt_buffer *keep[CLT_TIER_COUNT];
    for (int t = 0; t < CLT_TIER_COUNT; t++)
        keep[t] = ts_upload(ctx, (clt_tier)t, x, 64);
    for (int round = 0; round < 3; round++) {
        stub_faults.fail_alloc = 1;
        clt_buffer *b = NULL;
        assert_int_equal(clt_buffer_create(ctx, 128, CLT_TIER_DEVICE, &b),
                         CLT_ERR_OUT_OF_MEMORY);
        stub_faults.fail_write = 1;
        assert_int_equal(clt_buffer_write(keep[0], 0, x, 16, NULL), CLT_ERR_TRANSFER);
        stub_faults.fail_read = 1;
        assert_int_equal(clt_buffer_read(keep[1], 0, x, 16, NULL), CLT_ERR_TRANSFER);
        gemm_works(ctx, CLT_TIER_DEVICE);
    }
    for (int t = 0; t < CLT_TIER_COUNT; t++) {
        float back[64];
        ts_download(keep[t], 0, back, 64);
        assert_memory_equal(back, x, sizeof back);
    }
    clt_stats st;
    ts_assert_ok(clt_context_stats(ctx, &st));
    assert_int_equal(st.mem_used[CLT_TIER_DEVICE], sizeof x);
    assert_int_equal(stub_faults.live_allocs, 2); /* DEVICE and HOST_PINNED */
    close_stub(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fault_alloc),
        cmocka_unit_test(fault_transfer),
        cmocka_unit_test(fault_build),
        cmocka_unit_test(fault_launch_and_finish),
        cmocka_unit_test(fault_lost_device),
        cmocka_unit_test(fault_open),
        cmocka_unit_test(fault_sequence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
