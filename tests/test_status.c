/* Status strings and names, the thread-local error text, enum names, version. */
#include <pthread.h>

#include "support/support.h"

static void status_strings_distinct(void **state)
{
    (void)state;
    for (int i = 0; i < CLT_STATUS_COUNT; i++) {
        const char *s = clt_status_str((clt_status)i);
        const char *n = clt_status_name((clt_status)i);
        assert_non_null(s);
        assert_non_null(n);
        assert_true(strlen(s) > 0);
        assert_true(strncmp(n, "CLT_", 4) == 0);
        assert_string_not_equal(s, "unknown status");
        for (int j = 0; j < i; j++) {
            assert_string_not_equal(s, clt_status_str((clt_status)j));
            assert_string_not_equal(n, clt_status_name((clt_status)j));
        }
    }
    assert_string_equal(clt_status_name(CLT_OK), "CLT_OK");
    assert_string_equal(clt_status_name(CLT_ERR_OUT_OF_MEMORY), "CLT_ERR_OUT_OF_MEMORY");
    assert_string_equal(clt_status_name(CLT_ERR_INTERNAL), "CLT_ERR_INTERNAL");
    assert_string_equal(clt_status_name(CLT_ERR_COMM), "CLT_ERR_COMM");
    assert_int_equal(CLT_ERR_COMM, 12); /* python/clt/_errors.py maps the numbers */
    assert_true(ts_has_text(clt_status_str(CLT_ERR_COMM), "ranks"));
    assert_string_equal(clt_status_str(CLT_ERR_OUT_OF_MEMORY), "out of memory");
}

static void status_unknown(void **state)
{
    (void)state;
    const clt_status bad[] = {(clt_status)CLT_STATUS_COUNT, (clt_status)-1,
                              (clt_status)1000};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *s = clt_status_str(bad[i]);
        const char *n = clt_status_name(bad[i]);
        assert_non_null(s);
        assert_non_null(n);
        assert_string_equal(s, "unknown status");
        assert_true(strlen(n) > 0);
        for (int j = 0; j < CLT_STATUS_COUNT; j++)
            assert_string_not_equal(n, clt_status_name((clt_status)j));
    }
}

/* A failing call leaves a sentence; a successful one does not clear it. */
static void last_error_set_and_kept(void **state)
{
    (void)state;
    uint64_t v = 0;
    assert_int_equal(clt_parse_size("twelve", &v), CLT_ERR_INVALID_ARG);
    const char *text = clt_last_error();
    assert_non_null(text);
    assert_true(strlen(text) > 0);
    assert_non_null(strstr(text, "twelve"));
    char copy[512];
    snprintf(copy, sizeof copy, "%s", text);
    ts_assert_ok(clt_parse_size("4K", &v));
    assert_int_equal(v, 4096);
    assert_string_equal(clt_last_error(), copy);
}

struct thread_result {
    char before[256];  /* the thread's text before it fails */
    char after[256];   /* and after */
    clt_status st;
};

static void *fail_on_thread(void *arg)
{
    struct thread_result *r = arg;
    snprintf(r->before, sizeof r->before, "%s", clt_last_error());
    uint64_t v;
    r->st = clt_parse_size("7 parsecs", &v);
    snprintf(r->after, sizeof r->after, "%s", clt_last_error());
    return NULL;
}

static void last_error_thread_local(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(clt_parse_size("main-thread-garbage", &v), CLT_ERR_INVALID_ARG);
    char mine[512];
    snprintf(mine, sizeof mine, "%s", clt_last_error());
    assert_non_null(strstr(mine, "main-thread-garbage"));

    struct thread_result r;
    memset(&r, 0, sizeof r);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, fail_on_thread, &r), 0);
    assert_int_equal(pthread_join(th, NULL), 0);

    /* A new thread starts with no error; its failure is its own. */
    assert_string_equal(r.before, "");
    assert_int_equal(r.st, CLT_ERR_INVALID_ARG);
    assert_non_null(strstr(r.after, "parsecs"));
    /* ...and ours is untouched. */
    assert_string_equal(clt_last_error(), mine);
}

static void enum_names(void **state)
{
    (void)state;
    assert_string_equal(clt_tier_name(CLT_TIER_DEVICE), "DEVICE");
    assert_string_equal(clt_tier_name(CLT_TIER_HOST_PINNED), "HOST_PINNED");
    assert_string_equal(clt_tier_name(CLT_TIER_HOST), "HOST");
    assert_string_equal(clt_tier_name(CLT_TIER_NVME), "NVME");
    assert_string_equal(clt_tier_name((clt_tier)CLT_TIER_COUNT), "?");
    assert_string_equal(clt_tier_name((clt_tier)-1), "?");

    assert_string_equal(clt_dtype_name(CLT_DTYPE_F32), "f32");
    assert_string_equal(clt_dtype_name(CLT_DTYPE_F16), "f16");
    assert_string_equal(clt_dtype_name(CLT_DTYPE_BF16), "bf16");
    assert_string_equal(clt_dtype_name(CLT_DTYPE_I32), "i32");
    assert_string_equal(clt_dtype_name(CLT_DTYPE_U8), "u8");
    assert_string_equal(clt_dtype_name((clt_dtype)CLT_DTYPE_COUNT), "?");
    assert_int_equal(clt_dtype_size(CLT_DTYPE_F32), 4);
    assert_int_equal(clt_dtype_size(CLT_DTYPE_F16), 2);
    assert_int_equal(clt_dtype_size(CLT_DTYPE_BF16), 2);
    assert_int_equal(clt_dtype_size(CLT_DTYPE_I32), 4);
    assert_int_equal(clt_dtype_size(CLT_DTYPE_U8), 1);
    assert_int_equal(clt_dtype_size((clt_dtype)CLT_DTYPE_COUNT), 0);
    assert_int_equal(clt_dtype_size((clt_dtype)-1), 0);

    assert_string_equal(clt_device_type_name(CLT_DEVICE_TYPE_HOST), "host");
    assert_string_equal(clt_device_type_name(CLT_DEVICE_TYPE_CPU), "cpu");
    assert_string_equal(clt_device_type_name(CLT_DEVICE_TYPE_GPU), "gpu");
    assert_string_equal(clt_device_type_name(CLT_DEVICE_TYPE_ACCELERATOR), "accelerator");
    assert_string_equal(clt_device_type_name(CLT_DEVICE_TYPE_OTHER), "other");

    assert_string_equal(clt_log_level_name(CLT_LOG_ERROR), "error");
    assert_string_equal(clt_log_level_name(CLT_LOG_WARN), "warn");
    assert_string_equal(clt_log_level_name(CLT_LOG_INFO), "info");
    assert_string_equal(clt_log_level_name(CLT_LOG_DEBUG), "debug");
}

static void op_names(void **state)
{
    (void)state;
    assert_string_equal(clt_op_name(CLT_OP_GEMM), "gemm");
    assert_string_equal(clt_op_name((clt_op_kind)CLT_OP_COUNT), "?");
    assert_string_equal(clt_op_name((clt_op_kind)-1), "?");
    clt_op_kind k = (clt_op_kind)77;
    ts_assert_ok(clt_op_from_name("gemm", &k));
    assert_int_equal(k, CLT_OP_GEMM);
    k = (clt_op_kind)77;
    assert_int_equal(clt_op_from_name("no_such_op", &k), CLT_ERR_INVALID_ARG);
    assert_int_equal(k, 77);
    assert_non_null(strstr(clt_last_error(), "no_such_op"));
    assert_int_equal(clt_op_from_name(NULL, &k), CLT_ERR_INVALID_ARG);
    assert_true(strlen(clt_last_error()) > 0);
    assert_int_equal(clt_op_from_name("gemm", NULL), CLT_ERR_INVALID_ARG);
}

static void version(void **state)
{
    (void)state;
    assert_int_equal(CLT_VERSION_NUMBER, CLT_VERSION_MAJOR * 1000000 +
                                             CLT_VERSION_MINOR * 1000 + CLT_VERSION_PATCH);
    assert_int_equal(clt_version_number(), CLT_VERSION_NUMBER);
    char s[64];
    snprintf(s, sizeof s, "%d.%d.%d", CLT_VERSION_MAJOR, CLT_VERSION_MINOR,
             CLT_VERSION_PATCH);
    assert_string_equal(CLT_VERSION_STRING, s);
    assert_string_equal(clt_version_string(), s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(status_strings_distinct),
        cmocka_unit_test(status_unknown),
        cmocka_unit_test(last_error_set_and_kept),
        cmocka_unit_test(last_error_thread_local),
        cmocka_unit_test(enum_names),
        cmocka_unit_test(op_names),
        cmocka_unit_test(version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
