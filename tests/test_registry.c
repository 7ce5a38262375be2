/* The device list, device names, and choosing a device: CLT_DEVICE, opts.device, the
 * default choice, unknown names, and driver tables the runtime must refuse. */
#include "runtime/context.h"
#include "support/stub_driver.h"
#include "support/support.h"

static int list_devices(clt_device_info **out)
{
    int count = -1;
    ts_assert_ok(clt_device_list(NULL, 0, &count));
    assert_true(count >= 1);
    clt_device_info *info = calloc((size_t)count, sizeof *info);
    assert_non_null(info);
    int again = -1;
    ts_assert_ok(clt_device_list(info, count, &again));
    assert_int_equal(again, count);
    *out = info;
    return count;
}

static void device_list_shape(void **state)
{
    (void)state;
    clt_device_info *info;
    int n = list_devices(&info);

    /* The host is present, and last. */
    const clt_device_info *host = &info[n - 1];
    assert_string_equal(host->name, "host");
    assert_string_equal(host->driver, "host");
    assert_int_equal(host->type, CLT_DEVICE_TYPE_HOST);
    for (int i = 0; i < n - 1; i++) {
        assert_int_not_equal(info[i].type, CLT_DEVICE_TYPE_HOST);
        assert_string_not_equal(info[i].name, "host");
    }
    for (int i = 0; i < n; i++) {
        const clt_device_info *d = &info[i];
        assert_true(strlen(d->device_name) > 0);
        assert_true(d->global_mem_bytes > 0);
        assert_true(d->max_alloc_bytes > 0);
        assert_true(d->compute_units >= 1);
        assert_true(d->max_work_group_size >= 1);
        if (d->type != CLT_DEVICE_TYPE_HOST) {
            /* "driver:index" */
            char want[64];
            snprintf(want, sizeof want, "%s:%d", d->driver, d->index);
            assert_string_equal(d->name, want);
            assert_true(d->index >= 0);
        }
        for (int j = 0; j < i; j++)
            assert_string_not_equal(d->name, info[j].name);
    }
    free(info);
}

static void device_list_partial(void **state)
{
    (void)state;
    clt_device_info *all;
    int n = list_devices(&all);
    /* max smaller than the count: only max entries written, the full count reported */
    clt_device_info one[2];
    memset(one, 0x5A, sizeof one);
    int count = -1;
    ts_assert_ok(clt_device_list(one, 1, &count));
    assert_int_equal(count, n);
    assert_string_equal(one[0].name, all[0].name);
    const unsigned char *guard = (const unsigned char *)&one[1];
    for (size_t i = 0; i < sizeof one[1]; i++)
        assert_int_equal(guard[i], 0x5A);
    assert_int_equal(clt_device_list(NULL, 0, NULL), CLT_ERR_INVALID_ARG);
    assert_true(strlen(clt_last_error()) > 0);
    assert_int_equal(clt_device_list(NULL, 3, &count), CLT_ERR_INVALID_ARG);
    free(all);
}

static void env_selects_host(void **state)
{
    (void)state;
    setenv("CLT_DEVICE", "host", 1);
    clt_context *ctx = NULL;
    ts_assert_ok(ts_context_open(NULL, NULL, &ctx));
    clt_device_info info;
    ts_assert_ok(clt_context_device(ctx, &info));
    assert_string_equal(info.name, "host");
    assert_int_equal(info.type, CLT_DEVICE_TYPE_HOST);
    clt_context_destroy(ctx);
    unsetenv("CLT_DEVICE");
}

static void opts_override_env(void **state)
{
    (void)state;
    clt_device_info *all;
    int n = list_devices(&all);
    /* env names a device that does not exist; opts.device wins */
    setenv("CLT_DEVICE", "nosuch:3", 1);
    for (int i = 0; i < n; i++) {
        clt_context *ctx = NULL;
        ts_assert_ok(ts_context_open(all[i].name, NULL, &ctx));
        clt_device_info info;
        ts_assert_ok(clt_context_device(ctx, &info));
        assert_string_equal(info.name, all[i].name);
        assert_string_equal(info.device_name, all[i].device_name);
        clt_context_destroy(ctx);
    }
    /* and with opts.device NULL the bad env value is an error */
    clt_context *ctx = (clt_context *)&ctx;
    assert_int_equal(ts_context_open(NULL, NULL, &ctx), CLT_ERR_NO_DEVICE);
    assert_null(ctx);
    ts_assert_error_mentions("nosuch:3");
    unsetenv("CLT_DEVICE");
    free(all);
}

static void unknown_device_lists_devices(void **state)
{
    (void)state;
    clt_device_info *all;
    int n = list_devices(&all);
    const char *bad[] = {"nosuch:3", "opencl:99", "opencl:x", "host:7", "nosuch", ":0",
                         "opencl:-1", "opencl:0junk"};
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        clt_context *ctx = (clt_context *)&ctx;
        clt_status st = ts_context_open(bad[b], NULL, &ctx);
        if (st != CLT_ERR_NO_DEVICE)
            fail_msg("device \"%s\": %s, want CLT_ERR_NO_DEVICE (%s)", bad[b],
                     clt_status_name(st), clt_last_error());
        assert_null(ctx);
        const char *text = clt_last_error();
        if (!strstr(text, bad[b]))
            fail_msg("the error for \"%s\" does not name it: %s", bad[b], text);
        for (int i = 0; i < n; i++) {
            if (!ts_has_text(text, all[i].name))
                fail_msg("the error for \"%s\" does not list device %s: %s", bad[b],
                         all[i].name, text);
        }
    }
    free(all);
}

static void default_choice(void **state)
{
    (void)state;
    unsetenv("CLT_DEVICE");
    clt_device_info *all;
    int n = list_devices(&all);
    int want = -1;
    for (int i = 0; i < n && want < 0; i++)
        if (all[i].type == CLT_DEVICE_TYPE_GPU)
            want = i;
    for (int i = 0; i < n && want < 0; i++)
        if (all[i].type != CLT_DEVICE_TYPE_HOST)
            want = i;
    if (want < 0)
        want = n - 1;
    clt_context *ctx = NULL;
    ts_assert_ok(ts_context_open(NULL, NULL, &ctx));
    clt_device_info info;
    ts_assert_ok(clt_context_device(ctx, &info));
    assert_string_equal(info.name, all[want].name);
    clt_context_destroy(ctx);

    /* clt_context_create(NULL, ...) takes the same default */
    char cache[4096];
    ts_tmp_subdir("cache-env", cache, sizeof cache);
    setenv("CLT_CACHE_DIR", cache, 1);
    ctx = NULL;
    ts_assert_ok(clt_context_create(NULL, &ctx));
    ts_assert_ok(clt_context_device(ctx, &info));
    assert_string_equal(info.name, all[want].name);
    clt_context_destroy(ctx);
    unsetenv("CLT_CACHE_DIR");
    free(all);
}

/* The driver name alone means index 0. */
static void driver_name_alone(void **state)
{
    (void)state;
    clt_device_info *all;
    int n = list_devices(&all);
    for (int i = 0; i < n; i++) {
        if (all[i].index != 0 || all[i].type == CLT_DEVICE_TYPE_HOST)
            continue;
        clt_context *ctx = NULL;
        ts_assert_ok(ts_context_open(all[i].driver, NULL, &ctx));
        clt_device_info info;
        ts_assert_ok(clt_context_device(ctx, &info));
        assert_string_equal(info.name, all[i].name);
        clt_context_destroy(ctx);
    }
    free(all);
}

static void create_bad_args(void **state)
{
    (void)state;
    assert_int_equal(clt_context_create(NULL, NULL), CLT_ERR_INVALID_ARG);
    assert_true(strlen(clt_last_error()) > 0);
}

static clt_status dummy_event_wait(struct clt_dev_event *ev)
{
    (void)ev;
    return CLT_OK;
}

static void refuses_bad_driver_tables(void **state)
{
    (void)state;
    stub_reset();
    clt_context_opts opts;
    clt_context_opts_init(&opts);
    opts.cache_dir = "";

    struct clt_driver wrong = stub_driver;
    wrong.api_version = CLT_DRIVER_API_VERSION + 1;
    clt_context *ctx = (clt_context *)&ctx;
    clt_status st = clt_context_open(&wrong, 0, &opts, &ctx);
    assert_int_not_equal(st, CLT_OK);
    assert_null(ctx);
    ts_assert_error_mentions("version");
    ts_assert_error_mentions("stub");
    assert_int_equal(stub_faults.n_open, 0);

    wrong = stub_driver;
    wrong.api_version = 0;
    ctx = (clt_context *)&ctx;
    assert_int_not_equal(clt_context_open(&wrong, 0, &opts, &ctx), CLT_OK);
    assert_null(ctx);
    ts_assert_error_mentions("version");

    /* a required entry missing */
    wrong = stub_driver;
    wrong.alloc = NULL;
    ctx = (clt_context *)&ctx;
    assert_int_not_equal(clt_context_open(&wrong, 0, &opts, &ctx), CLT_OK);
    assert_null(ctx);
    char missing_text[512];
    snprintf(missing_text, sizeof missing_text, "%s", clt_last_error());
    assert_int_equal(stub_faults.n_open, 0);

    /* only one of the two optional event entries ("optional, together") */
    wrong = stub_driver;
    wrong.event_wait = dummy_event_wait;
    ctx = (clt_context *)&ctx;
    assert_int_not_equal(clt_context_open(&wrong, 0, &opts, &ctx), CLT_OK);
    assert_null(ctx);
    ts_assert_error_mentions("event");
    assert_int_equal(stub_faults.n_open, 0);

    /* NULL table, index out of range */
    ctx = (clt_context *)&ctx;
    assert_int_equal(clt_context_open(NULL, 0, &opts, &ctx), CLT_ERR_INVALID_ARG);
    assert_null(ctx);
    ctx = (clt_context *)&ctx;
    assert_int_equal(clt_context_open(&stub_driver, 1, &opts, &ctx), CLT_ERR_NO_DEVICE);
    assert_null(ctx);
    assert_int_equal(stub_faults.live_devs, 0);

    /* the good table works */
    ctx = NULL;
    ts_assert_ok(clt_context_open(&stub_driver, 0, &opts, &ctx));
    clt_device_info info;
    ts_assert_ok(clt_context_device(ctx, &info));
    assert_string_equal(info.name, "stub:0");
    assert_string_equal(info.driver, "stub");
    assert_string_equal(info.device_name, "Stub Fault Injector");
    assert_int_equal(stub_faults.live_devs, 1);
    clt_context_destroy(ctx);
    assert_int_equal(stub_faults.live_devs, 0);

    /* checked last so that the rest runs: the text names the missing entry */
    if (!ts_has_word(missing_text, "alloc"))
        fail_msg("a table without alloc: the error does not name the entry: \"%s\"",
                 missing_text);
}

int main(void)
{
    unsetenv("CLT_DEVICE");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(device_list_shape),
        cmocka_unit_test(device_list_partial),
        cmocka_unit_test(env_selects_host),
        cmocka_unit_test(opts_override_env),
        cmocka_unit_test(unknown_device_lists_devices),
        cmocka_unit_test(default_choice),
        cmocka_unit_test(driver_name_alone),
        cmocka_unit_test(create_bad_args),
        cmocka_unit_test(refuses_bad_driver_tables),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
