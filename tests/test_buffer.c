/* Buffers on every device and tier: round trips at offsets, copies across every pair of
 * tiers, events, budgets, and bad arguments that must leave the contents unchanged. */
#include "support/support.h"

static void clear_env(void)
{
    unsetenv("CLT_DEVICE_MEM");
    unsetenv("CLT_HOST_PINNED_MEM");
    unsetenv("CLT_HOST_MEM");
    unsetenv("CLT_NVME_MEM");
}

/* Large enough for NVME's ≥1 MiB aligned requests to be exercised in pieces. */
#define BIG (3u << 20) /* 3 MiB */

static void round_trip(void **state)
{
    const char *device = *state;
    clt_context *ctx = ts_context(device);
    ts_rng rng;
    ts_rng_seed(&rng, 1);
    unsigned char *pattern = malloc(BIG), *got = malloc(BIG);
    assert_non_null(pattern);
    assert_non_null(got);
    for (size_t i = 0; i < BIG; i++)
        pattern[i] = (unsigned char)ts_rng_u64(&rng);

    for (int t = 0; t < CLT_TIER_COUNT; t++) {
        clt_buffer *b = NULL;
        ts_assert_ok(clt_buffer_create(ctx, BIG + 3, (clt_tier)t, &b));
        assert_int_equal(clt_buffer_size(b), BIG + 3);
        assert_int_equal(clt_buffer_tier(b), t);
        /* whole */
        ts_assert_ok(clt_buffer_write(b, 0, pattern, BIG, NULL));
        ts_assert_ok(clt_buffer_write(b, BIG, "xyz", 3, NULL));
        memset(got, 0, BIG);
        ts_assert_ok(clt_buffer_read(b, 0, got, BIG, NULL));
        if (memcmp(got, pattern, BIG) != 0)
            fail_msg("%s tier %s: whole round trip differs", device, clt_tier_name((clt_tier)t));
        /* odd offsets and sizes, in the middle and at the very end; a shadow copy
         * says what every byte must hold */
        unsigned char *shadow = malloc(BIG + 3), *all = malloc(BIG + 3);
        assert_non_null(shadow);
        assert_non_null(all);
        memcpy(shadow, pattern, BIG);
        memcpy(shadow + BIG, "xyz", 3);
        const size_t offs[] = {1, 7, 4093, (1u << 20) - 1, BIG - 5, BIG + 2};
        for (size_t k = 0; k < sizeof offs / sizeof offs[0]; k++) {
            size_t off = offs[k];
            size_t n = BIG + 3 - off < 70001 ? BIG + 3 - off : 70001;
            const unsigned char *src = pattern + 1000 + k * 13;
            ts_assert_ok(clt_buffer_write(b, off, src, n, NULL));
            memcpy(shadow + off, src, n);
            ts_assert_ok(clt_buffer_read(b, 0, all, BIG + 3, NULL));
            if (memcmp(all, shadow, BIG + 3) != 0) {
                size_t i = 0;
                while (all[i] == shadow[i])
                    i++;
                fail_msg("%s tier %s: after writing %zu bytes at %zu, byte %zu differs",
                         device, clt_tier_name((clt_tier)t), n, off, i);
            }
            /* a read at an offset sees the same bytes */
            size_t lo = off >= 16 ? off - 16 : 0;
            ts_assert_ok(clt_buffer_read(b, lo, got, off - lo + n, NULL));
            assert_memory_equal(got, shadow + lo, off - lo + n);
        }
        free(shadow);
        free(all);
        clt_buffer_destroy(b);
    }
    clt_stats st;
    ts_assert_ok(clt_context_stats(ctx, &st));
    for (int t = 0; t < CLT_TIER_COUNT; t++) {
        assert_int_equal(st.mem_used[t], 0);
        assert_true(st.mem_peak[t] == BIG + 3);
    }
    free(pattern);
    free(got);
    clt_context_destroy(ctx);
}

static void copy_every_pair(void **state)
{
    const char *device = *state;
    clt_context *ctx = ts_context(device);
    const size_t n = (1u << 20) + 4096 + 12;
    unsigned char *src_bytes = malloc(n), *want = malloc(n), *got = malloc(n);
    assert_non_null(src_bytes);
    assert_non_null(want);
    assert_non_null(got);
    ts_rng rng;
    ts_rng_seed(&rng, 2);
    for (int s = 0; s < CLT_TIER_COUNT; s++) {
        for (int d = 0; d < CLT_TIER_COUNT; d++) {
            for (size_t i = 0; i < n; i++)
                src_bytes[i] = (unsigned char)ts_rng_u64(&rng);
            clt_buffer *src = ts_buffer(ctx, (clt_tier)s, n, src_bytes);
            clt_buffer *dst = ts_buffer(ctx, (clt_tier)d, n, NULL);
            /* a part, at unaligned offsets */
            const size_t so = 5, dof = 4099, len = n - 4099 - 7;
            ts_assert_ok(clt_buffer_copy(dst, dof, src, so, len, NULL));
            memset(want, 0xA5, n);
            memcpy(want + dof, src_bytes + so, len);
            ts_assert_ok(clt_buffer_read(dst, 0, got, n, NULL));
            if (memcmp(got, want, n) != 0) {
                size_t i = 0;
                while (got[i] == want[i])
                    i++;
                fail_msg("%s: copy %s -> %s differs at byte %zu", device,
                         clt_tier_name((clt_tier)s), clt_tier_name((clt_tier)d), i);
            }
            /* the source is unchanged */
            ts_assert_buffer_equals(src, src_bytes, n);
            clt_buffer_destroy(src);
            clt_buffer_destroy(dst);
        }
    }
    /* within one buffer, ranges that do not overlap */
    clt_buffer *b = ts_buffer(ctx, CLT_TIER_DEVICE, 4096, NULL);
    const char msg[] = "0123456789";
    ts_assert_ok(clt_buffer_write(b, 0, msg, 10, NULL));
    ts_assert_ok(clt_buffer_copy(b, 10, b, 0, 10, NULL));
    char back[20];
    ts_assert_ok(clt_buffer_read(b, 0, back, 20, NULL));
    assert_memory_equal(back, "01234567890123456789", 20);
    clt_buffer_destroy(b);
    free(src_bytes);
    free(want);
    free(got);
    clt_context_destroy(ctx);
}

static void wait_and_free(clt_event *ev)
{
    if (ev) {
        ts_assert_ok(clt_event_wait(ev));
        ts_assert_ok(clt_event_wait(ev)); /* waiting twice is fine */
        clt_event_destroy(ev);
    }
}

static void async_events(void **state)
{
    const char *device = *state;
    clt_context *ctx = ts_context(device);
    enum { N = 1 << 16 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    assert_non_null(x);
    assert_non_null(y);
    ts_rng rng;
    ts_rng_seed(&rng, 3);
    for (int t = 0; t < CLT_TIER_COUNT; t++) {
        ts_fill_floats(&rng, x, N, -1, 1);
        clt_buffer *b = NULL, *b2 = NULL;
        ts_assert_ok(clt_buffer_create(ctx, N * sizeof *x, (clt_tier)t, &b));
        ts_assert_ok(clt_buffer_create(ctx, N * sizeof *x, CLT_TIER_DEVICE, &b2));
        clt_event *w = (clt_event *)&w, *c = (clt_event *)&c, *r = (clt_event *)&r;
        ts_assert_ok(clt_buffer_write(b, 0, x, N * sizeof *x, &w));
        assert_true(w != (clt_event *)&w);
        /* work on one context is carried out in submission order */
        ts_assert_ok(clt_buffer_copy(b2, 0, b, 0, N * sizeof *x, &c));
        assert_true(c != (clt_event *)&c);
        memset(y, 0, N * sizeof *y);
        ts_assert_ok(clt_buffer_read(b2, 0, y, N * sizeof *y, &r));
        assert_true(r != (clt_event *)&r);
        wait_and_free(r);
        assert_memory_equal(x, y, N * sizeof *x);
        wait_and_free(c);
        wait_and_free(w);
        /* and finish reports nothing */
        ts_assert_ok(clt_context_finish(ctx));
        clt_buffer_destroy(b);
        clt_buffer_destroy(b2);
    }
    /* a NULL event stands for work already complete (what a transfer hands out then) */
    ts_assert_ok(clt_event_wait(NULL));
    free(x);
    free(y);
    clt_context_destroy(ctx);
}

static void budget_enforced(void **state)
{
    const char *device = *state;
    clear_env();
    for (int t = 0; t < CLT_TIER_COUNT; t++) {
        clt_context_opts opts;
        clt_context_opts_init(&opts);
        opts.mem_budget[t] = 1u << 20;
        clt_context *ctx = NULL;
        ts_assert_ok(ts_context_open(device, &opts, &ctx));
        clt_buffer *a = NULL, *b = (clt_buffer *)&b;
        ts_assert_ok(clt_buffer_create(ctx, 512u << 10, (clt_tier)t, &a));
        clt_status st = clt_buffer_create(ctx, 768u << 10, (clt_tier)t, &b);
        if (st != CLT_ERR_OUT_OF_MEMORY)
            fail_msg("%s %s: 768 KiB past a 1 MiB budget with 512 KiB used: %s (%s)", device,
                     clt_tier_name((clt_tier)t), clt_status_name(st), clt_last_error());
        assert_null(b);
        const char *text = clt_last_error();
        if (!ts_has_word(text, clt_tier_name((clt_tier)t)))
            fail_msg("the error does not name the tier %s: %s", clt_tier_name((clt_tier)t),
                     text);
        if (!strstr(text, "786432") && !strstr(text, "768"))
            fail_msg("the error does not give the bytes asked (786432): %s", text);
        if (!strstr(text, "524288") && !strstr(text, "512"))
            fail_msg("the error does not give the bytes left (524288): %s", text);
        clt_stats stats;
        ts_assert_ok(clt_context_stats(ctx, &stats));
        assert_true(stats.mem_used[t] == 512u << 10);
        assert_true(stats.mem_budget[t] == 1u << 20);
        /* exactly the rest fits; then nothing more */
        clt_buffer *rest = NULL, *one = (clt_buffer *)&one;
        ts_assert_ok(clt_buffer_create(ctx, 512u << 10, (clt_tier)t, &rest));
        assert_int_equal(clt_buffer_create(ctx, 1, (clt_tier)t, &one), CLT_ERR_OUT_OF_MEMORY);
        assert_null(one);
        clt_buffer_destroy(rest);
        /* after freeing the first, it fits */
        clt_buffer_destroy(a);
        b = NULL;
        ts_assert_ok(clt_buffer_create(ctx, 768u << 10, (clt_tier)t, &b));
        ts_assert_ok(clt_context_stats(ctx, &stats));
        assert_true(stats.mem_used[t] == 768u << 10);
        assert_true(stats.mem_peak[t] == 1u << 20);
        /* other tiers are not counted against this one */
        for (int o = 0; o < CLT_TIER_COUNT; o++)
            if (o != t)
                assert_int_equal(stats.mem_used[o], 0);
        clt_buffer_destroy(b);
        /* something larger than the whole budget */
        b = (clt_buffer *)&b;
        assert_int_equal(clt_buffer_create(ctx, (size_t)2 << 20, (clt_tier)t, &b),
                         CLT_ERR_OUT_OF_MEMORY);
        assert_null(b);
        clt_context_destroy(ctx);
    }
}

static void nvme_bad_dir(void **state)
{
    const char *device = *state;
    clt_context_opts opts;
    clt_context_opts_init(&opts);
    opts.nvme_dir = "/nonexistent/clt-test/nvme";
    clt_context *ctx = NULL;
    clt_status st = ts_context_open(device, &opts, &ctx);
    if (st != CLT_OK) {
        /* refusing the option up front is fine too, if it says why */
        assert_int_equal(st, CLT_ERR_INVALID_ARG);
        ts_assert_error_mentions("/nonexistent/clt-test/nvme");
        return;
    }
    clt_buffer *b = (clt_buffer *)&b;
    assert_int_equal(clt_buffer_create(ctx, 4096, CLT_TIER_NVME, &b), CLT_ERR_IO);
    assert_null(b);
    ts_assert_error_mentions("/nonexistent/clt-test/nvme");
    clt_stats stats;
    ts_assert_ok(clt_context_stats(ctx, &stats));
    assert_int_equal(stats.mem_used[CLT_TIER_NVME], 0);
    clt_context_destroy(ctx);
}

/* Every bad call is INVALID_ARG with a sentence and leaves the buffer as it was. */
static void bad_args(void **state)
{
    const char *device = *state;
    clt_context *ctx = ts_context(device);
    clt_context *other = ts_context("host");
    enum { SZ = 256 };
    unsigned char orig[SZ], scratch[SZ * 2];
    for (int i = 0; i < SZ; i++)
        orig[i] = (unsigned char)(i * 7 + 1);
    memset(scratch, 0x11, sizeof scratch);

    clt_buffer *out = (clt_buffer *)&out;
    assert_int_equal(clt_buffer_create(NULL, 16, CLT_TIER_DEVICE, &out), CLT_ERR_INVALID_ARG);
    assert_true(strlen(clt_last_error()) > 0);
    assert_int_equal(clt_buffer_create(ctx, 16, CLT_TIER_DEVICE, NULL), CLT_ERR_INVALID_ARG);
    out = (clt_buffer *)&out;
    assert_int_equal(clt_buffer_create(ctx, 0, CLT_TIER_DEVICE, &out), CLT_ERR_INVALID_ARG);
    assert_null(out);
    assert_true(strlen(clt_last_error()) > 0);
    const int bad_tiers[] = {CLT_TIER_COUNT, -1, 42};
    for (size_t i = 0; i < 3; i++) {
        out = (clt_buffer *)&out;
        assert_int_equal(clt_buffer_create(ctx, 16, (clt_tier)bad_tiers[i], &out),
                         CLT_ERR_INVALID_ARG);
        assert_null(out);
        ts_assert_error_mentions("tier");
    }
    out = (clt_buffer *)&out;
    assert_int_equal(clt_buffer_create(ctx, SIZE_MAX, CLT_TIER_DEVICE, &out),
                     CLT_ERR_OUT_OF_MEMORY);
    assert_null(out);

    for (int t = 0; t < CLT_TIER_COUNT; t++) {
        clt_buffer *b = ts_buffer(ctx, (clt_tier)t, SZ, orig);
        clt_buffer *b2 = ts_buffer(ctx, (clt_tier)t, SZ, orig);
        clt_buffer *foreign = ts_buffer(other, (clt_tier)t, SZ, orig);
        clt_event *ev = (clt_event *)&ev;
#define EXPECT_BAD(call)                                                                \
    do {                                                                                \
        clt_status st_ = (call);                                                        \
        if (st_ != CLT_ERR_INVALID_ARG)                                                 \
            fail_msg("%s on %s %s: %s, want CLT_ERR_INVALID_ARG (%s)", #call, device,   \
                     clt_tier_name((clt_tier)t), clt_status_name(st_), clt_last_error()); \
        assert_true(strlen(clt_last_error()) > 0);                                      \
    } while (0)
        EXPECT_BAD(clt_buffer_write(NULL, 0, scratch, 4, NULL));
        EXPECT_BAD(clt_buffer_write(b, 0, NULL, 4, NULL));
        EXPECT_BAD(clt_buffer_write(b, SZ - 4, scratch, 8, NULL));       /* past the end */
        EXPECT_BAD(clt_buffer_write(b, SZ, scratch, 1, NULL));           /* at the end */
        EXPECT_BAD(clt_buffer_write(b, SIZE_MAX - 2, scratch, 16, NULL)); /* wraps */
        EXPECT_BAD(clt_buffer_write(b, 8, scratch, SIZE_MAX - 4, NULL));  /* wraps */
        EXPECT_BAD(clt_buffer_write(b, 0, scratch, SZ + 1, &ev));
        EXPECT_BAD(clt_buffer_read(NULL, 0, scratch, 4, NULL));
        EXPECT_BAD(clt_buffer_read(b, 0, NULL, 4, NULL));
        EXPECT_BAD(clt_buffer_read(b, SZ - 4, scratch, 8, NULL));
        EXPECT_BAD(clt_buffer_read(b, SIZE_MAX - 2, scratch, 16, NULL));
        EXPECT_BAD(clt_buffer_copy(NULL, 0, b, 0, 4, NULL));
        EXPECT_BAD(clt_buffer_copy(b2, 0, NULL, 0, 4, NULL));
        EXPECT_BAD(clt_buffer_copy(b2, SZ - 4, b, 0, 8, NULL));
        EXPECT_BAD(clt_buffer_copy(b2, 0, b, SZ - 4, 8, NULL));
        EXPECT_BAD(clt_buffer_copy(b2, SIZE_MAX - 2, b, 0, 16, NULL));
        EXPECT_BAD(clt_buffer_copy(b2, 0, b, SIZE_MAX - 2, 16, NULL));
        EXPECT_BAD(clt_buffer_copy(b, 8, b, 0, 16, NULL));   /* overlapping */
        EXPECT_BAD(clt_buffer_copy(b, 0, b, 8, 16, NULL));
        EXPECT_BAD(clt_buffer_copy(b, 0, b, 0, 16, NULL));
        EXPECT_BAD(clt_buffer_copy(b2, 0, foreign, 0, 16, NULL)); /* other context */
        EXPECT_BAD(clt_buffer_copy(foreign, 0, b, 0, 16, NULL));
#undef EXPECT_BAD
        /* zero bytes: allowed as a no-op or refused, but nothing changes */
        clt_status st = clt_buffer_write(b, 0, scratch, 0, NULL);
        assert_true(st == CLT_OK || st == CLT_ERR_INVALID_ARG);

        ts_assert_buffer_equals(b, orig, SZ);
        ts_assert_buffer_equals(b2, orig, SZ);
        ts_assert_buffer_equals(foreign, orig, SZ);
        /* a failed read writes nothing into the destination either */
        for (size_t i = 0; i < sizeof scratch; i++)
            assert_int_equal(scratch[i], 0x11);
        clt_buffer_destroy(b);
        clt_buffer_destroy(b2);
        clt_buffer_destroy(foreign);
    }
    clt_context_destroy(other);
    clt_context_destroy(ctx);
}

int main(void)
{
    clear_env();
    const ts_device_test tests[] = {
        {"round_trip", round_trip},
        {"copy_every_pair", copy_every_pair},
        {"async_events", async_events},
        {"budget_enforced", budget_enforced},
        {"nvme_bad_dir", nvme_bad_dir},
        {"bad_args", bad_args},
    };
    return ts_run_per_device("buffer", tests, sizeof tests / sizeof tests[0]);
}
