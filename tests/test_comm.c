/* Communicators without MPI (clt/comm.h): the one-rank transport's collectives, their
 * argument checks and counters, the options, the gradient sync on the host device, the
 * launcher's rank count, and what a build without MPI says. The same calls across two
 * ranks are test_comm_mpi.c's. */
#include <math.h>

#include "support/support.h"

static clt_comm *self_comm(double timeout_s)
{
    clt_comm_opts o;
    clt_comm_opts_init(&o);
    o.transport = CLT_COMM_SELF;
    o.timeout_s = timeout_s;
    clt_comm *c = NULL;
    ts_assert_ok(clt_comm_create(&o, &c));
    assert_non_null(c);
    return c;
}

/* n elements of dtype with values in [-100, 100) (i32: whole numbers). */
static void *random_elems(ts_rng *rng, clt_dtype dtype, size_t n)
{
    void *out = malloc(n * clt_dtype_size(dtype) + 1);
    float *f = malloc(n * sizeof *f + 1);
    assert_non_null(out);
    assert_non_null(f);
    ts_fill_floats(rng, f, n, -100.0f, 100.0f);
    if (dtype == CLT_DTYPE_I32) {
        for (size_t i = 0; i < n; i++)
            ((int32_t *)out)[i] = (int32_t)f[i] * 1000 + (int32_t)i;
    } else {
        ts_assert_ok(clt_convert(dtype, out, CLT_DTYPE_F32, f, n));
    }
    free(f);
    return out;
}

/* ---- the one-rank transport --------------------------------------------------------- */

static void self_is_rank_zero_of_one(void **state)
{
    (void)state;
    clt_comm *c = self_comm(0);
    assert_int_equal(clt_comm_rank(c), 0);
    assert_int_equal(clt_comm_size(c), 1);
    assert_int_equal(clt_comm_local_rank(c), 0);
    assert_int_equal(clt_comm_local_size(c), 1);
    clt_comm *d = NULL;
    ts_assert_ok(clt_comm_dup(c, &d));
    assert_non_null(d);
    assert_ptr_not_equal(c, d);
    assert_int_equal(clt_comm_rank(d), 0);
    assert_int_equal(clt_comm_size(d), 1);
    clt_comm_destroy(d);
    clt_comm_destroy(c);
    /* NULL reads as the lone rank; destroying NULL does nothing */
    assert_int_equal(clt_comm_rank(NULL), 0);
    assert_int_equal(clt_comm_size(NULL), 1);
    assert_int_equal(clt_comm_local_rank(NULL), 0);
    assert_int_equal(clt_comm_local_size(NULL), 1);
    clt_comm_destroy(NULL);
}

static void self_allreduce_leaves_data(void **state)
{
    (void)state;
    const clt_dtype dtypes[] = {CLT_DTYPE_F32, CLT_DTYPE_F16, CLT_DTYPE_BF16, CLT_DTYPE_I32};
    const clt_reduce_op ops[] = {CLT_REDUCE_SUM, CLT_REDUCE_MAX};
    const size_t counts[] = {1, 3, 1000, 65537};
    clt_comm *c = self_comm(0);
    ts_rng rng;
    ts_rng_seed(&rng, 11);
    for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++) {
        for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
            for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
                const size_t n = counts[k], bytes = n * clt_dtype_size(dtypes[d]);
                void *data = random_elems(&rng, dtypes[d], n);
                void *want = malloc(bytes);
                assert_non_null(want);
                memcpy(want, data, bytes);
                ts_assert_ok(clt_comm_allreduce(c, data, n, dtypes[d], ops[o]));
                if (memcmp(data, want, bytes) != 0)
                    fail_msg("one rank's all-reduce (%s, op %d, %zu elements) changed its "
                             "input", clt_dtype_name(dtypes[d]), (int)ops[o], n);
                free(want);
                free(data);
            }
        }
        /* nothing to reduce: data may be NULL */
        ts_assert_ok(clt_comm_allreduce(c, NULL, 0, dtypes[d], CLT_REDUCE_SUM));
    }
    clt_comm_destroy(c);
}

static void self_allreduce_refuses_bad_arguments(void **state)
{
    (void)state;
    clt_comm *c = self_comm(0);
    uint8_t bytes[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    float f[4] = {1, 2, 3, 4};
    ts_assert_status(clt_comm_allreduce(c, bytes, 8, CLT_DTYPE_U8, CLT_REDUCE_SUM),
                     CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("dtype");
    ts_assert_error_mentions("u8");
    ts_assert_status(clt_comm_allreduce(c, NULL, 5, CLT_DTYPE_F32, CLT_REDUCE_SUM),
                     CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("clt_comm_allreduce");
    ts_assert_error_mentions("data");
    ts_assert_status(clt_comm_allreduce(c, f, 4, CLT_DTYPE_F32, (clt_reduce_op)7),
                     CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("op");
    ts_assert_status(clt_comm_allreduce(c, f, 4, (clt_dtype)CLT_DTYPE_COUNT, CLT_REDUCE_SUM),
                     CLT_ERR_INVALID_ARG);
    ts_assert_status(clt_comm_allreduce(NULL, f, 4, CLT_DTYPE_F32, CLT_REDUCE_SUM),
                     CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("comm");
    /* refused calls reach no transport and change nothing */
    const uint8_t bytes0[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    assert_memory_equal(bytes, bytes0, sizeof bytes);
    clt_comm_stats st;
    ts_assert_ok(clt_comm_get_stats(c, &st));
    assert_int_equal(st.collectives, 0);
    assert_int_equal(st.bytes_reduced, 0);
    clt_comm_destroy(c);
}

static void self_gather_bcast_barrier(void **state)
{
    (void)state;
    clt_comm *c = self_comm(0);
    double d[5] = {1.5, -2, 3, 1e300, -0.0};
    const double d0[5] = {1.5, -2, 3, 1e300, -0.0};
    const size_t counts[1] = {5};
    ts_assert_ok(clt_comm_allgather(c, d, counts, sizeof d[0]));
    assert_memory_equal(d, d0, sizeof d);
    const size_t none[1] = {0};
    ts_assert_ok(clt_comm_allgather(c, NULL, none, 4));
    ts_assert_status(clt_comm_allgather(c, d, NULL, sizeof d[0]), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("counts");
    ts_assert_status(clt_comm_allgather(c, d, counts, 0), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("elem_bytes");
    ts_assert_status(clt_comm_allgather(c, NULL, counts, 8), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("data");

    char text[] = "broadcast me";
    ts_assert_ok(clt_comm_bcast(c, text, sizeof text, 0));
    assert_string_equal(text, "broadcast me");
    ts_assert_status(clt_comm_bcast(c, text, sizeof text, 1), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("root");
    ts_assert_status(clt_comm_bcast(c, text, sizeof text, -1), CLT_ERR_INVALID_ARG);
    ts_assert_status(clt_comm_bcast(c, NULL, 3, 0), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("data");

    /* one rank has no one to talk to */
    ts_assert_status(clt_comm_send(c, text, sizeof text, 0), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("dest");
    ts_assert_status(clt_comm_recv(c, text, sizeof text, 0), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("source");
    ts_assert_status(clt_comm_send(c, text, sizeof text, 1), CLT_ERR_INVALID_ARG);

    ts_assert_ok(clt_comm_barrier(c));
    ts_assert_status(clt_comm_barrier(NULL), CLT_ERR_INVALID_ARG);
    clt_comm_destroy(c);
}

/* ---- options -------------------------------------------------------------------------- */

static void options_are_validated(void **state)
{
    (void)state;
    clt_comm_opts o;
    memset(&o, 0x5a, sizeof o);
    clt_comm_opts_init(&o);
    assert_int_equal(o.transport, CLT_COMM_MPI);
    assert_true(o.timeout_s == 0.0);
    clt_comm_opts_init(NULL); /* does nothing */

    /* a failed create leaves *out NULL, whatever it held */
    static char sentinel;
    clt_comm *const not_null = (clt_comm *)(void *)&sentinel;
    clt_comm *c = not_null;
    o.transport = CLT_COMM_SELF;
    const double bad[] = {-1.0, -1e-9, NAN, -INFINITY};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o.timeout_s = bad[i];
        c = not_null;
        ts_assert_status(clt_comm_create(&o, &c), CLT_ERR_INVALID_ARG);
        ts_assert_error_mentions("timeout");
        assert_null(c);
    }
    o.timeout_s = 0;
    o.transport = (clt_comm_transport)9;
    ts_assert_status(clt_comm_create(&o, &c), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("transport");
    o.transport = CLT_COMM_SELF;
    ts_assert_status(clt_comm_create(&o, NULL), CLT_ERR_INVALID_ARG);

    /* timeout 0: CLT_COMM_TIMEOUT, which must be seconds > 0 */
    const char *saved = getenv("CLT_COMM_TIMEOUT");
    char *keep = saved ? strdup(saved) : NULL;
    const char *bad_env[] = {"soon", "-3", "0", "5s", "nan"};
    for (size_t i = 0; i < sizeof bad_env / sizeof bad_env[0]; i++) {
        setenv("CLT_COMM_TIMEOUT", bad_env[i], 1);
        ts_assert_status(clt_comm_create(&o, &c), CLT_ERR_INVALID_ARG);
        ts_assert_error_mentions("CLT_COMM_TIMEOUT");
        ts_assert_error_mentions(bad_env[i]);
    }
    setenv("CLT_COMM_TIMEOUT", "2.5", 1);
    ts_assert_ok(clt_comm_create(&o, &c));
    clt_comm_destroy(c);
    /* a timeout in the options wins over the environment's */
    setenv("CLT_COMM_TIMEOUT", "soon", 1);
    o.timeout_s = 30;
    ts_assert_ok(clt_comm_create(&o, &c));
    clt_comm_destroy(c);
    if (keep)
        setenv("CLT_COMM_TIMEOUT", keep, 1);
    else
        unsetenv("CLT_COMM_TIMEOUT");
    free(keep);
}

/* ---- counters ------------------------------------------------------------------------ */

static void stats_count_what_reached_the_transport(void **state)
{
    (void)state;
    clt_comm *c = self_comm(0);
    clt_comm_stats st;
    ts_assert_ok(clt_comm_get_stats(c, &st));
    assert_int_equal(st.collectives, 0);
    assert_int_equal(st.bytes_reduced + st.bytes_gathered + st.bytes_other, 0);

    float f[1000];
    ts_fill_value(f, 1000, 0.5f);
    uint16_t h[300] = {0};
    ts_assert_ok(clt_comm_allreduce(c, f, 1000, CLT_DTYPE_F32, CLT_REDUCE_SUM)); /* 4000 B */
    ts_assert_ok(clt_comm_allreduce(c, h, 300, CLT_DTYPE_BF16, CLT_REDUCE_MAX)); /* 600 B */
    const size_t counts[1] = {250};
    ts_assert_ok(clt_comm_allgather(c, f, counts, 4));                          /* 1000 B */
    ts_assert_ok(clt_comm_barrier(c));
    ts_assert_status(clt_comm_allreduce(c, NULL, 1, CLT_DTYPE_F32, CLT_REDUCE_SUM),
                     CLT_ERR_INVALID_ARG); /* refused: not counted */
    ts_assert_ok(clt_comm_get_stats(c, &st));
    assert_int_equal(st.collectives, 4);
    assert_int_equal(st.bytes_reduced, 4600);
    assert_int_equal(st.bytes_gathered, 1000);
    assert_int_equal(st.bytes_other, 0);
    /* one rank sends nothing in a ring: 2(N-1)/N and (N-1)/N are 0 */
    assert_int_equal(st.bytes_sent_model, 0);
    assert_true(st.busy_s >= 0 && st.wait_s >= 0);
    assert_true(st.busy_s < 60 && st.wait_s < 60);

    char text[77] = "x";
    ts_assert_ok(clt_comm_bcast(c, text, sizeof text, 0));
    clt_comm_stats after;
    ts_assert_ok(clt_comm_get_stats(c, &after));
    assert_int_equal(after.collectives, 5);
    assert_int_equal(after.bytes_other, 77);
    assert_true(after.wait_s >= st.wait_s && after.busy_s >= st.busy_s);

    /* a duplicate counts its own */
    clt_comm *d = NULL;
    ts_assert_ok(clt_comm_dup(c, &d));
    ts_assert_ok(clt_comm_get_stats(c, &st));
    ts_assert_ok(clt_comm_allreduce(d, f, 10, CLT_DTYPE_F32, CLT_REDUCE_SUM));
    clt_comm_stats dup_st, parent_st;
    ts_assert_ok(clt_comm_get_stats(d, &dup_st));
    ts_assert_ok(clt_comm_get_stats(c, &parent_st));
    assert_int_equal(dup_st.collectives, 1);
    assert_int_equal(dup_st.bytes_reduced, 40);
    assert_int_equal(parent_st.collectives, st.collectives);
    assert_int_equal(parent_st.bytes_reduced, st.bytes_reduced);
    clt_comm_destroy(d);

    ts_assert_status(clt_comm_get_stats(NULL, &st), CLT_ERR_INVALID_ARG);
    ts_assert_status(clt_comm_get_stats(c, NULL), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("out");
    clt_comm_destroy(c);
}

/* ---- the gradient sync on the host device ---------------------------------------------- */

struct sync_fixture {
    clt_context *ctx;
    clt_comm *comm;
};

static int sync_setup(void **state)
{
    struct sync_fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    clt_comm_opts co;
    clt_comm_opts_init(&co);
    co.transport = CLT_COMM_SELF;
    if (ts_context_open("host", NULL, &f->ctx) != CLT_OK ||
        clt_comm_create(&co, &f->comm) != CLT_OK) {
        fprintf(stderr, "sync_setup: %s\n", clt_last_error());
        clt_context_destroy(f->ctx);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int sync_teardown(void **state)
{
    struct sync_fixture *f = *state;
    clt_comm_destroy(f->comm);
    clt_context_destroy(f->ctx);
    free(f);
    return 0;
}

/* Gives [0, numel) to ready() from the end backwards, in pieces of 1 to 700 elements, as a
 * backward pass finishes its layers last to first. */
static void ready_in_reverse(clt_grad_sync *g, size_t numel, ts_rng *rng)
{
    size_t end = numel;
    while (end > 0) {
        size_t n = (size_t)ts_rng_int(rng, 1, 700);
        if (n > end)
            n = end;
        ts_assert_ok(clt_grad_sync_ready(g, end - n, n));
        end -= n;
    }
}

#define SYNC_N 5000 /* not a multiple of the 64-element bucket alignment */

static void sync_one_rank_leaves_gradients(void **state)
{
    struct sync_fixture *f = *state;
    ts_rng rng;
    ts_rng_seed(&rng, 21);
    float *want = malloc(SYNC_N * sizeof *want), *got = malloc(SYNC_N * sizeof *got);
    assert_non_null(want);
    assert_non_null(got);
    ts_fill_floats(&rng, want, SYNC_N, -3.0f, 3.0f);
    clt_buffer *buf = ts_upload(f->ctx, CLT_TIER_DEVICE, want, SYNC_N);
    clt_grad_sync *g = NULL;
    /* 1 KiB buckets of f32: 256 elements each, so 5000 elements are 20 buckets */
    ts_assert_ok(clt_grad_sync_create(f->comm, buf, SYNC_N, CLT_DTYPE_F32, CLT_DTYPE_F32,
                                      1024, &g));
    for (int step = 0; step < 3; step++) {
        if (step > 0) { /* the next step's backward pass writes new gradients */
            ts_fill_floats(&rng, want, SYNC_N, -3.0f, 3.0f);
            ts_assert_ok(clt_buffer_write(buf, 0, want, SYNC_N * sizeof *want, NULL));
        }
        ready_in_reverse(g, SYNC_N, &rng);
        ts_assert_ok(clt_grad_sync_ready(g, 17, 0)); /* an empty range is no range */
        clt_grad_sync_stats st;
        memset(&st, 0xff, sizeof st);
        ts_assert_ok(clt_grad_sync_finish(g, &st));
        assert_int_equal(st.buckets, 20);
        assert_int_equal(st.bytes, SYNC_N * 4);
        assert_true(st.reduce_s >= 0 && st.exposed_s >= 0);
        ts_download(buf, 0, got, SYNC_N);
        assert_memory_equal(got, want, SYNC_N * sizeof *got);
    }
    ts_assert_ok(clt_grad_sync_ready(g, 0, SYNC_N)); /* one range is fine too */
    ts_assert_ok(clt_grad_sync_finish(g, NULL));
    clt_grad_sync_destroy(g);

    /* bucket_bytes 0: 25 MiB, so one bucket */
    ts_assert_ok(clt_grad_sync_create(f->comm, buf, SYNC_N, CLT_DTYPE_F32, CLT_DTYPE_F32, 0,
                                      &g));
    ready_in_reverse(g, SYNC_N, &rng);
    clt_grad_sync_stats st;
    ts_assert_ok(clt_grad_sync_finish(g, &st));
    assert_int_equal(st.buckets, 1);
    clt_grad_sync_destroy(g);
    clt_grad_sync_destroy(NULL);
    clt_buffer_destroy(buf);
    free(want);
    free(got);
}

static void sync_refuses_bad_ranges(void **state)
{
    struct sync_fixture *f = *state;
    ts_rng rng;
    ts_rng_seed(&rng, 22);
    float *x = malloc(SYNC_N * sizeof *x);
    assert_non_null(x);
    ts_fill_floats(&rng, x, SYNC_N, -1.0f, 1.0f);
    clt_buffer *buf = ts_upload(f->ctx, CLT_TIER_DEVICE, x, SYNC_N);
    clt_grad_sync *g = NULL;
    ts_assert_ok(clt_grad_sync_create(f->comm, buf, SYNC_N, CLT_DTYPE_F32, CLT_DTYPE_F32,
                                      1024, &g));
    /* past the end, and a count whose end overflows */
    ts_assert_status(clt_grad_sync_ready(g, SYNC_N - 10, 11), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("4990");
    ts_assert_error_mentions("5000");
    ts_assert_status(clt_grad_sync_ready(g, SYNC_N + 1, 0), CLT_ERR_INVALID_ARG);
    ts_assert_status(clt_grad_sync_ready(g, SIZE_MAX, 2), CLT_ERR_INVALID_ARG);
    ts_assert_status(clt_grad_sync_ready(g, 2, SIZE_MAX), CLT_ERR_INVALID_ARG);
    /* a range twice, or overlapping one given already */
    ts_assert_ok(clt_grad_sync_ready(g, 100, 50));
    ts_assert_status(clt_grad_sync_ready(g, 100, 50), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("[100, 150)");
    ts_assert_status(clt_grad_sync_ready(g, 149, 1), CLT_ERR_INVALID_ARG);
    ts_assert_status(clt_grad_sync_ready(g, 0, 101), CLT_ERR_INVALID_ARG);
    ts_assert_ok(clt_grad_sync_ready(g, 150, 1)); /* adjacent is fine */
    ts_assert_ok(clt_grad_sync_ready(g, 0, 100));
    /* everything but [1234, 1300): finish names the first gradient missing */
    ts_assert_ok(clt_grad_sync_ready(g, 1300, SYNC_N - 1300));
    ts_assert_ok(clt_grad_sync_ready(g, 151, 1234 - 151));
    ts_assert_status(clt_grad_sync_finish(g, NULL), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("clt_grad_sync_finish");
    ts_assert_error_mentions("1234");
    /* giving it completes the step */
    ts_assert_ok(clt_grad_sync_ready(g, 1234, 66));
    ts_assert_ok(clt_grad_sync_finish(g, NULL));
    ts_assert_status(clt_grad_sync_ready(NULL, 0, 1), CLT_ERR_INVALID_ARG);
    ts_assert_status(clt_grad_sync_finish(NULL, NULL), CLT_ERR_INVALID_ARG);
    clt_grad_sync_destroy(g);

    /* creation: what it borrows must exist, the dtypes it takes, numel inside the buffer */
    static char sentinel;
    g = (clt_grad_sync *)(void *)&sentinel;
    ts_assert_status(clt_grad_sync_create(NULL, buf, SYNC_N, CLT_DTYPE_F32, CLT_DTYPE_F32, 0,
                                          &g), CLT_ERR_INVALID_ARG);
    assert_null(g);
    ts_assert_status(clt_grad_sync_create(f->comm, NULL, SYNC_N, CLT_DTYPE_F32, CLT_DTYPE_F32,
                                          0, &g), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("grads");
    ts_assert_status(clt_grad_sync_create(f->comm, buf, SYNC_N + 1, CLT_DTYPE_F32,
                                          CLT_DTYPE_F32, 0, &g), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("numel");
    ts_assert_status(clt_grad_sync_create(f->comm, buf, 0, CLT_DTYPE_F32, CLT_DTYPE_F32, 0,
                                          &g), CLT_ERR_INVALID_ARG);
    const clt_dtype bad_dtype[] = {CLT_DTYPE_I32, CLT_DTYPE_U8};
    for (size_t i = 0; i < 2; i++) {
        ts_assert_status(clt_grad_sync_create(f->comm, buf, 100, bad_dtype[i], CLT_DTYPE_F32,
                                              0, &g), CLT_ERR_INVALID_ARG);
        ts_assert_error_mentions("dtype");
    }
    ts_assert_status(clt_grad_sync_create(f->comm, buf, 100, CLT_DTYPE_F32, CLT_DTYPE_F16, 0,
                                          &g), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("wire");
    ts_assert_status(clt_grad_sync_create(f->comm, buf, 100, CLT_DTYPE_F32, CLT_DTYPE_F32, 0,
                                          NULL), CLT_ERR_INVALID_ARG);
    /* nothing above wrote the gradients */
    float *got = ts_download_all(buf);
    assert_memory_equal(got, x, SYNC_N * sizeof *x);
    free(got);
    clt_buffer_destroy(buf);
    free(x);
}

/* The wire dtype rounds: on one rank the sums are the values themselves, sent through
 * bf16 and back, exactly what clt_convert makes of them. */
static void sync_wire_bf16_rounds(void **state)
{
    struct sync_fixture *f = *state;
    ts_rng rng;
    ts_rng_seed(&rng, 23);
    float *x = malloc(SYNC_N * sizeof *x), *want = malloc(SYNC_N * sizeof *want),
          *got = malloc(SYNC_N * sizeof *got);
    uint16_t *half = malloc(SYNC_N * sizeof *half), *back = malloc(SYNC_N * sizeof *back);
    assert_true(x && want && got && half && back);
    ts_fill_floats(&rng, x, SYNC_N, -3.0f, 3.0f);

    /* f32 gradients, bf16 wire */
    ts_assert_ok(clt_convert(CLT_DTYPE_BF16, half, CLT_DTYPE_F32, x, SYNC_N));
    ts_assert_ok(clt_convert(CLT_DTYPE_F32, want, CLT_DTYPE_BF16, half, SYNC_N));
    size_t changed = 0;
    for (size_t i = 0; i < SYNC_N; i++)
        changed += want[i] != x[i];
    assert_true(changed > SYNC_N / 2); /* random floats rarely fit bf16's 8 bits */
    clt_buffer *buf = ts_upload(f->ctx, CLT_TIER_DEVICE, x, SYNC_N);
    clt_grad_sync *g = NULL;
    ts_assert_ok(clt_grad_sync_create(f->comm, buf, SYNC_N, CLT_DTYPE_F32, CLT_DTYPE_BF16,
                                      1024, &g));
    ready_in_reverse(g, SYNC_N, &rng);
    clt_grad_sync_stats st;
    ts_assert_ok(clt_grad_sync_finish(g, &st));
    /* 1 KiB of bf16 is 512 elements: 5000 are 10 buckets of 2-byte elements */
    assert_int_equal(st.buckets, 10);
    assert_int_equal(st.bytes, SYNC_N * 2);
    ts_download(buf, 0, got, SYNC_N);
    assert_memory_equal(got, want, SYNC_N * sizeof *got);
    clt_grad_sync_destroy(g);
    clt_buffer_destroy(buf);

    /* f16 gradients: an f32 wire keeps them, a bf16 wire rounds them through bf16 */
    ts_assert_ok(clt_convert(CLT_DTYPE_F16, half, CLT_DTYPE_F32, x, SYNC_N));
    const clt_dtype wires[] = {CLT_DTYPE_F32, CLT_DTYPE_BF16};
    for (size_t w = 0; w < 2; w++) {
        buf = ts_buffer(f->ctx, CLT_TIER_DEVICE, SYNC_N * 2, half);
        ts_assert_ok(clt_grad_sync_create(f->comm, buf, SYNC_N, CLT_DTYPE_F16, wires[w], 4096,
                                          &g));
        ready_in_reverse(g, SYNC_N, &rng);
        ts_assert_ok(clt_grad_sync_finish(g, NULL));
        ts_assert_ok(clt_buffer_read(buf, 0, back, SYNC_N * 2, NULL));
        if (wires[w] == CLT_DTYPE_F32) {
            assert_memory_equal(back, half, SYNC_N * 2);
        } else {
            uint16_t *b16 = malloc(SYNC_N * sizeof *b16), *h16 = malloc(SYNC_N * sizeof *h16);
            assert_true(b16 && h16);
            ts_assert_ok(clt_convert(CLT_DTYPE_F32, want, CLT_DTYPE_F16, half, SYNC_N));
            ts_assert_ok(clt_convert(CLT_DTYPE_BF16, b16, CLT_DTYPE_F32, want, SYNC_N));
            ts_assert_ok(clt_convert(CLT_DTYPE_F32, want, CLT_DTYPE_BF16, b16, SYNC_N));
            ts_assert_ok(clt_convert(CLT_DTYPE_F16, h16, CLT_DTYPE_F32, want, SYNC_N));
            assert_memory_equal(back, h16, SYNC_N * 2);
            assert_memory_not_equal(back, half, SYNC_N * 2);
            free(b16);
            free(h16);
        }
        clt_grad_sync_destroy(g);
        clt_buffer_destroy(buf);
    }
    free(x);
    free(want);
    free(got);
    free(half);
    free(back);
}

/* ---- MPI, or its absence ----------------------------------------------------------------- */

static void build_says_whether_it_has_mpi(void **state)
{
    (void)state;
#if defined(CLT_TEST_BUILT_WITH_MPI)
    assert_int_equal(clt_comm_has_mpi(), CLT_TEST_BUILT_WITH_MPI);
#endif
    if (clt_comm_has_mpi()) /* test_comm_mpi runs it, under mpirun */
        skip();
    clt_comm_opts o;
    clt_comm_opts_init(&o); /* CLT_COMM_MPI */
    static char sentinel;
    clt_comm *c = (clt_comm *)(void *)&sentinel;
    ts_assert_status(clt_comm_create(&o, &c), CLT_ERR_UNSUPPORTED);
    ts_assert_error_mentions("without MPI");
    ts_assert_error_mentions("CLT_MPI");
    assert_null(c);
    ts_assert_status(clt_comm_create(NULL, &c), CLT_ERR_UNSUPPORTED);
    assert_null(c);
}

static void launch_size_reads_the_launchers(void **state)
{
    (void)state;
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE",
                                       "MV2_COMM_WORLD_SIZE"};
    enum { NV = sizeof vars / sizeof vars[0] };
    char *saved[NV];
    for (int i = 0; i < NV; i++) {
        const char *v = getenv(vars[i]);
        saved[i] = v ? strdup(v) : NULL;
        unsetenv(vars[i]);
    }
    assert_int_equal(clt_comm_launch_size(), 1);
    for (int i = 0; i < NV; i++) {
        char value[16];
        snprintf(value, sizeof value, "%d", 3 + 2 * i);
        setenv(vars[i], value, 1);
        if (clt_comm_launch_size() != 3 + 2 * i)
            fail_msg("%s=%s: clt_comm_launch_size() gave %d", vars[i], value,
                     clt_comm_launch_size());
        unsetenv(vars[i]);
    }
    /* values that are not a rank count read as no launcher */
    const char *junk[] = {"", "two", "0", "-4", "3x"};
    for (size_t j = 0; j < sizeof junk / sizeof junk[0]; j++) {
        setenv("PMI_SIZE", junk[j], 1);
        if (clt_comm_launch_size() != 1)
            fail_msg("PMI_SIZE=\"%s\": clt_comm_launch_size() gave %d", junk[j],
                     clt_comm_launch_size());
    }
    unsetenv("PMI_SIZE");
    for (int i = 0; i < NV; i++) {
        if (saved[i])
            setenv(vars[i], saved[i], 1);
        free(saved[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(self_is_rank_zero_of_one),
        cmocka_unit_test(self_allreduce_leaves_data),
        cmocka_unit_test(self_allreduce_refuses_bad_arguments),
        cmocka_unit_test(self_gather_bcast_barrier),
        cmocka_unit_test(options_are_validated),
        cmocka_unit_test(stats_count_what_reached_the_transport),
        cmocka_unit_test_setup_teardown(sync_one_rank_leaves_gradients, sync_setup,
                                        sync_teardown),
        cmocka_unit_test_setup_teardown(sync_refuses_bad_ranges, sync_setup, sync_teardown),
        cmocka_unit_test_setup_teardown(sync_wire_bf16_rounds, sync_setup, sync_teardown),
        cmocka_unit_test(build_says_whether_it_has_mpi),
        cmocka_unit_test(launch_size_reads_the_launchers),
    };
    return cmocka_run_group_tests_name("comm", tests, NULL, NULL);
}
