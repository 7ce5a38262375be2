/* Tensor descriptors: clt_tensor_init's rules and clt_tensor_numel's overflow. */
#include "support/support.h"

static void init_contiguous(void **state)
{
    (void)state;
    clt_buffer *fake = (clt_buffer *)(uintptr_t)0x1000; /* never dereferenced */
    clt_tensor t;
    memset(&t, 0x6B, sizeof t);
    const int64_t shape[4] = {2, 3, 4, 5};
    ts_assert_ok(clt_tensor_init(&t, fake, 64, CLT_DTYPE_F16, 4, shape));
    assert_ptr_equal(t.buf, fake);
    assert_int_equal(t.offset, 64);
    assert_int_equal(t.dtype, CLT_DTYPE_F16);
    assert_int_equal(t.rank, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(t.shape[i], shape[i]);
    assert_int_equal(t.strides[0], 60);
    assert_int_equal(t.strides[1], 20);
    assert_int_equal(t.strides[2], 5);
    assert_int_equal(t.strides[3], 1);
    assert_int_equal(clt_tensor_numel(&t), 120);

    ts_assert_ok(clt_tensor_init(&t, NULL, 0, CLT_DTYPE_F32, 1, (const int64_t[]){7}));
    assert_int_equal(t.rank, 1);
    assert_int_equal(t.shape[0], 7);
    assert_int_equal(t.strides[0], 1);
    assert_int_equal(clt_tensor_numel(&t), 7);

    ts_assert_ok(clt_tensor_init(&t, NULL, 0, CLT_DTYPE_BF16, 2, (const int64_t[]){1, 1}));
    assert_int_equal(t.strides[0], 1);
    assert_int_equal(t.strides[1], 1);
    assert_int_equal(clt_tensor_numel(&t), 1);
}

static void init_rejects(void **state)
{
    (void)state;
    clt_tensor t;
    const int64_t ok[4] = {2, 3, 4, 5};
    assert_int_equal(clt_tensor_init(NULL, NULL, 0, CLT_DTYPE_F32, 2, ok), CLT_ERR_INVALID_ARG);
    assert_true(strlen(clt_last_error()) > 0);
    assert_int_equal(clt_tensor_init(&t, NULL, 0, CLT_DTYPE_F32, 2, NULL), CLT_ERR_INVALID_ARG);
    assert_true(strlen(clt_last_error()) > 0);
    const int ranks[] = {0, -1, 5, 100};
    for (size_t i = 0; i < sizeof ranks / sizeof ranks[0]; i++) {
        assert_int_equal(clt_tensor_init(&t, NULL, 0, CLT_DTYPE_F32, ranks[i], ok),
                         CLT_ERR_INVALID_ARG);
        ts_assert_error_mentions("rank");
    }
    const int64_t zero[3] = {2, 0, 4}, neg[3] = {2, 3, -4}, minv[2] = {INT64_MIN, 1};
    assert_int_equal(clt_tensor_init(&t, NULL, 0, CLT_DTYPE_F32, 3, zero), CLT_ERR_INVALID_ARG);
    assert_true(strlen(clt_last_error()) > 0);
    assert_int_equal(clt_tensor_init(&t, NULL, 0, CLT_DTYPE_F32, 3, neg), CLT_ERR_INVALID_ARG);
    assert_true(strlen(clt_last_error()) > 0);
    assert_int_equal(clt_tensor_init(&t, NULL, 0, CLT_DTYPE_F32, 2, minv), CLT_ERR_INVALID_ARG);
    const clt_dtype bad_dtypes[] = {(clt_dtype)CLT_DTYPE_COUNT, (clt_dtype)-1,
                                    (clt_dtype)99};
    for (size_t i = 0; i < sizeof bad_dtypes / sizeof bad_dtypes[0]; i++) {
        assert_int_equal(clt_tensor_init(&t, NULL, 0, bad_dtypes[i], 2, ok),
                         CLT_ERR_INVALID_ARG);
        ts_assert_error_mentions("dtype");
    }
}

/* A shape too large for strides in int64 is refused rather than wrapping. */
static void init_stride_overflow(void **state)
{
    (void)state;
    clt_tensor t;
    const int64_t huge[3] = {2, (int64_t)1 << 40, (int64_t)1 << 40}; /* stride 2^80 */
    clt_status st = clt_tensor_init(&t, NULL, 0, CLT_DTYPE_F32, 3, huge);
    if (st == CLT_OK) {
        /* Accepted (bounds are the op's to check): then no op may take it. */
        clt_context *ctx = ts_context("host");
        clt_buffer *buf = ts_buffer(ctx, CLT_TIER_DEVICE, 4096, NULL);
        clt_gemm_args g;
        memset(&g, 0, sizeof g);
        t.buf = buf;
        g.a = t;
        ts_assert_ok(clt_tensor_init(&g.b, buf, 0, CLT_DTYPE_F32, 2, (const int64_t[]){4, 4}));
        ts_assert_ok(clt_tensor_init(&g.c, buf, 64, CLT_DTYPE_F32, 3,
                                     (const int64_t[]){2, 4, 4}));
        g.alpha = 1;
        st = clt_gemm(ctx, &g, NULL);
        clt_context_destroy(ctx);
    }
    assert_int_equal(st, CLT_ERR_INVALID_ARG);
    /* Large but representable is fine (bounds are checked when an op uses it). */
    const int64_t big[2] = {(int64_t)1 << 31, (int64_t)1 << 31};
    ts_assert_ok(clt_tensor_init(&t, NULL, 0, CLT_DTYPE_F32, 2, big));
    assert_int_equal(t.strides[0], (int64_t)1 << 31);
    assert_int_equal(clt_tensor_numel(&t), (int64_t)1 << 62);
}

static clt_tensor by_hand(int rank, const int64_t *shape)
{
    clt_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = CLT_DTYPE_F32;
    t.rank = rank;
    for (int i = 0; i < rank; i++) {
        t.shape[i] = shape[i];
        t.strides[i] = 1;
    }
    return t;
}

static void numel_overflow(void **state)
{
    (void)state;
    clt_tensor t = by_hand(2, (const int64_t[]){(int64_t)1 << 40, (int64_t)1 << 40});
    assert_int_equal(clt_tensor_numel(&t), 0);
    t = by_hand(2, (const int64_t[]){INT64_MAX, 1});
    assert_int_equal(clt_tensor_numel(&t), INT64_MAX);
    t = by_hand(2, (const int64_t[]){INT64_MAX, 2});
    assert_int_equal(clt_tensor_numel(&t), 0);
    t = by_hand(3, (const int64_t[]){(int64_t)1 << 31, (int64_t)1 << 31, 2});
    assert_int_equal(clt_tensor_numel(&t), 0); /* 2^63 */
    t = by_hand(4, (const int64_t[]){(int64_t)1 << 31, (int64_t)1 << 31, 1, 1});
    assert_int_equal(clt_tensor_numel(&t), (int64_t)1 << 62);
    t = by_hand(4, (const int64_t[]){3, 5, 7, 11});
    assert_int_equal(clt_tensor_numel(&t), 1155);
    /* the product overflows only at the last step */
    t = by_hand(4, (const int64_t[]){(int64_t)1 << 20, (int64_t)1 << 20, (int64_t)1 << 20, 16});
    assert_int_equal(clt_tensor_numel(&t), 0);
    assert_int_equal(clt_tensor_numel(NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(init_contiguous),
        cmocka_unit_test(init_rejects),
        cmocka_unit_test(init_stride_overflow),
        cmocka_unit_test(numel_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
