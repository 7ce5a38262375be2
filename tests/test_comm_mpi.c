/* Communicators across two ranks, run by ctest as `mpirun -np 2 test_comm_mpi` (built
 * only with MPI): all-reduce, all-gather, broadcast and point to point with
 * rank-dependent values at awkward counts, duplicates used from two threads at once, the
 * gradient sync of a host-device buffer in many buckets, and the deadline that turns a
 * rank that does not come into an error instead of a hang.
 *
 * Every rank runs every test, and the tests' collectives pair up across ranks in program
 * order. Only rank 0 prints CMocka's progress; any rank's failure text goes to stderr
 * with its rank, and any rank's failure makes mpirun's exit status non-zero. A rank that
 * fails mid-test leaves the other waiting in a collective until the communicator's
 * timeout (WORLD_TIMEOUT_S), so a failure ends the run instead of hanging it. */
#include <math.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "support/support.h"

#define WORLD_TIMEOUT_S 30.0 /* generous: two ranks share two busy cores */
#define SLOW_TIMEOUT_S 2.0   /* the deadline test's communicator */
#define SLOW_SLEEP_S 6       /* how late rank 1 comes to that test's collective */

struct world {
    clt_comm *comm;
    int rank, size;
};

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* The value rank r holds at element i: multiples of 1/64 in [-150, 162), exact in f32, and
 * different on the two ranks at almost every element. */
static float value_at(int r, size_t i)
{
    const uint32_t h = (uint32_t)(i * 2654435761u) ^ (uint32_t)(r + 1) * 40503u;
    return (float)(h % 20001u) / 64.0f - 150.0f;
}

/* ---- where the ranks are ----------------------------------------------------------------- */

static void ranks_and_places(void **state)
{
    struct world *w = *state;
    assert_int_equal(w->size, 2);
    assert_int_equal(clt_comm_launch_size(), 2);
    assert_true(w->rank == 0 || w->rank == 1);
    /* mpirun started both here: one host, local rank = rank */
    assert_int_equal(clt_comm_local_size(w->comm), 2);
    assert_int_equal(clt_comm_local_rank(w->comm), w->rank);
    int32_t r[2] = {w->rank, 1};
    ts_assert_ok(clt_comm_allreduce(w->comm, r, 2, CLT_DTYPE_I32, CLT_REDUCE_SUM));
    assert_int_equal(r[0], 0 + 1); /* the ranks are distinct */
    assert_int_equal(r[1], 2);
}

/* ---- all-reduce ------------------------------------------------------------------------- */

/* What an element of dtype holds after storing x (f32 and i32 as is). */
static float as_stored(clt_dtype d, float x)
{
    switch (d) {
    case CLT_DTYPE_F16: return clt_f16_to_f32(clt_f32_to_f16(x));
    case CLT_DTYPE_BF16: return clt_bf16_to_f32(clt_f32_to_bf16(x));
    default: return x;
    }
}

static void store(clt_dtype d, void *p, size_t i, float x)
{
    switch (d) {
    case CLT_DTYPE_F32: ((float *)p)[i] = x; break;
    case CLT_DTYPE_F16: ((uint16_t *)p)[i] = clt_f32_to_f16(x); break;
    case CLT_DTYPE_BF16: ((uint16_t *)p)[i] = clt_f32_to_bf16(x); break;
    case CLT_DTYPE_I32: ((int32_t *)p)[i] = (int32_t)(x * 64.0f); break;
    default: fail_msg("store: dtype %d", (int)d);
    }
}

static bool same_elem(clt_dtype d, const void *a, const void *b, size_t i)
{
    const size_t es = clt_dtype_size(d);
    return memcmp((const char *)a + i * es, (const char *)b + i * es, es) == 0;
}

static void allreduce_sum_and_max(void **state)
{
    struct world *w = *state;
    const clt_dtype dtypes[] = {CLT_DTYPE_F32, CLT_DTYPE_BF16, CLT_DTYPE_F16, CLT_DTYPE_I32};
    /* 0; odd sizes; past 2^20 elements */
    const size_t counts[] = {0, 1, 7, 1023, 65537, ((size_t)1 << 20) + 13};
    for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++) {
        const clt_dtype dt = dtypes[d];
        for (int op = CLT_REDUCE_SUM; op <= CLT_REDUCE_MAX; op++) {
            for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
                const size_t n = counts[k], es = clt_dtype_size(dt);
                void *data = n ? malloc(n * es) : NULL, *want = malloc(n * es + 1);
                assert_true(n == 0 || (data && want));
                for (size_t i = 0; i < n; i++) {
                    const float a = value_at(0, i), b = value_at(1, i);
                    store(dt, data, i, w->rank == 0 ? a : b);
                    if (dt == CLT_DTYPE_I32) {
                        const int32_t ia = (int32_t)(a * 64), ib = (int32_t)(b * 64);
                        ((int32_t *)want)[i] = op == CLT_REDUCE_SUM ? ia + ib
                                                                    : (ia > ib ? ia : ib);
                    } else {
                        /* the two stored values added in f32 and rounded once */
                        const float sa = as_stored(dt, a), sb = as_stored(dt, b);
                        store(dt, want, i, op == CLT_REDUCE_SUM ? sa + sb : (sa > sb ? sa : sb));
                    }
                }
                ts_assert_ok(clt_comm_allreduce(w->comm, data, n, dt, (clt_reduce_op)op));
                for (size_t i = 0; i < n; i++) {
                    if (!same_elem(dt, data, want, i))
                        fail_msg("rank %d: all-reduce (%s, %s) of %zu elements: element %zu "
                                 "differs from the sum of both ranks' values",
                                 w->rank, op == CLT_REDUCE_SUM ? "sum" : "max",
                                 clt_dtype_name(dt), n, i);
                }
                free(data);
                free(want);
            }
        }
    }
}

/* ---- all-gather, broadcast, send and receive ----------------------------------------------- */

static void allgather_unequal_parts(void **state)
{
    struct world *w = *state;
    /* {rank 0's elements, rank 1's}, of several element sizes */
    const size_t parts[][2] = {{3, 1000001}, {0, 5}, {777, 0}, {1, 1}, {65536, 4099}};
    const size_t elem_sizes[] = {1, 4, 12};
    for (size_t p = 0; p < sizeof parts / sizeof parts[0]; p++) {
        for (size_t e = 0; e < sizeof elem_sizes / sizeof elem_sizes[0]; e++) {
            const size_t es = elem_sizes[e], total = (parts[p][0] + parts[p][1]) * es;
            unsigned char *data = malloc(total + 1);
            assert_non_null(data);
            memset(data, 0xEE, total); /* the other rank's part: stale bytes */
            const size_t mine_at = w->rank == 0 ? 0 : parts[p][0] * es;
            const size_t mine = parts[p][w->rank] * es;
            for (size_t i = 0; i < mine; i++)
                data[mine_at + i] = (unsigned char)(i * 31 + (size_t)w->rank * 101 + es);
            ts_assert_ok(clt_comm_allgather(w->comm, data, parts[p], es));
            for (size_t i = 0; i < total; i++) {
                const int r = i < parts[p][0] * es ? 0 : 1;
                const size_t j = r == 0 ? i : i - parts[p][0] * es;
                const unsigned char want = (unsigned char)(j * 31 + (size_t)r * 101 + es);
                if (data[i] != want)
                    fail_msg("rank %d: all-gather of {%zu, %zu} elements of %zu bytes: byte "
                             "%zu (rank %d's part) is %u, want %u", w->rank, parts[p][0],
                             parts[p][1], es, i, r, data[i], want);
            }
            free(data);
        }
    }
}

static void bcast_from_rank_one(void **state)
{
    struct world *w = *state;
    const size_t sizes[] = {0, 1, 4097, (3u << 20) + 1};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        const size_t n = sizes[k];
        unsigned char *data = malloc(n + 1);
        assert_non_null(data);
        for (size_t i = 0; i < n; i++)
            data[i] = w->rank == 1 ? (unsigned char)(i * 7 + 3) : 0;
        ts_assert_ok(clt_comm_bcast(w->comm, data, n, 1));
        for (size_t i = 0; i < n; i++)
            if (data[i] != (unsigned char)(i * 7 + 3))
                fail_msg("rank %d: broadcast of %zu bytes from rank 1: byte %zu is %u", w->rank,
                         n, i, data[i]);
        free(data);
    }
    char x[4] = "abc";
    ts_assert_status(clt_comm_bcast(w->comm, x, 4, 2), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("root");
}

static void send_and_receive(void **state)
{
    struct world *w = *state;
    const int other = 1 - w->rank;
    enum { N = 100003 };
    unsigned char *a = malloc(N), *b = malloc(N);
    assert_true(a && b);
    /* rank 0 → 1, then 1 → 0; a message of 0 bytes pairs with its receive too */
    for (int round = 0; round < 2; round++) {
        const int sender = round;
        for (size_t i = 0; i < N; i++)
            a[i] = (unsigned char)(i * 13 + (size_t)round);
        if (w->rank == sender) {
            ts_assert_ok(clt_comm_send(w->comm, a, N, other));
            ts_assert_ok(clt_comm_send(w->comm, NULL, 0, other));
        } else {
            memset(b, 0, N);
            ts_assert_ok(clt_comm_recv(w->comm, b, N, other));
            assert_memory_equal(a, b, N);
            ts_assert_ok(clt_comm_recv(w->comm, NULL, 0, other));
        }
    }
    /* messages between one pair arrive in the order they were sent */
    if (w->rank == 0) {
        for (uint32_t i = 0; i < 20; i++)
            ts_assert_ok(clt_comm_send(w->comm, &i, sizeof i, 1));
    } else {
        for (uint32_t i = 0; i < 20; i++) {
            uint32_t got = 99;
            ts_assert_ok(clt_comm_recv(w->comm, &got, sizeof got, 0));
            assert_int_equal(got, i);
        }
    }
    /* a receive that expects more than was sent says so, and the communicator goes on */
    if (w->rank == 0) {
        ts_assert_ok(clt_comm_send(w->comm, a, 10, 1));
    } else {
        ts_assert_status(clt_comm_recv(w->comm, b, 20, 0), CLT_ERR_COMM);
        ts_assert_error_mentions("10 bytes");
    }
    ts_assert_ok(clt_comm_barrier(w->comm));
    ts_assert_status(clt_comm_send(w->comm, a, 1, w->rank), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("dest");
    free(a);
    free(b);
}

/* ---- duplicates from two threads ----------------------------------------------------------- */

#define DUP_ROUNDS 200
#define DUP_N 1031

struct dup_worker {
    clt_comm *comm;
    int rank, base; /* values rank·base + round + i, summed over both ranks */
    int bad_round;  /* -1: every round right */
    clt_status status;
    char err[256];
};

static void *dup_work(void *arg)
{
    struct dup_worker *d = arg;
    int32_t *x = malloc(DUP_N * sizeof *x);
    d->bad_round = -1;
    d->status = x ? CLT_OK : CLT_ERR_OUT_OF_MEMORY;
    for (int round = 0; x && round < DUP_ROUNDS && d->status == CLT_OK; round++) {
        for (int i = 0; i < DUP_N; i++)
            x[i] = d->rank * d->base + round + i;
        d->status = clt_comm_allreduce(d->comm, x, DUP_N, CLT_DTYPE_I32, CLT_REDUCE_SUM);
        if (d->status != CLT_OK) {
            snprintf(d->err, sizeof d->err, "%s", clt_last_error());
            break;
        }
        for (int i = 0; i < DUP_N && d->bad_round < 0; i++)
            if (x[i] != d->base + 2 * (round + i)) /* 0·base + 1·base + 2(round + i) */
                d->bad_round = round;
    }
    free(x);
    return NULL;
}

static void duplicates_do_not_mix(void **state)
{
    struct world *w = *state;
    clt_comm *a = NULL, *b = NULL;
    ts_assert_ok(clt_comm_dup(w->comm, &a));
    ts_assert_ok(clt_comm_dup(w->comm, &b));
    assert_int_equal(clt_comm_rank(a), w->rank);
    assert_int_equal(clt_comm_size(b), 2);
    struct dup_worker wa = {.comm = a, .rank = w->rank, .base = 1000},
                      wb = {.comm = b, .rank = w->rank, .base = 7000000};
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, dup_work, &wa), 0);
    assert_int_equal(pthread_create(&tb, NULL, dup_work, &wb), 0);
    /* meanwhile the parent is free for collectives of its own */
    int32_t one = 1;
    ts_assert_ok(clt_comm_allreduce(w->comm, &one, 1, CLT_DTYPE_I32, CLT_REDUCE_SUM));
    assert_int_equal(one, 2);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    const struct dup_worker *ws[2] = {&wa, &wb};
    for (int k = 0; k < 2; k++) {
        if (ws[k]->status != CLT_OK)
            fail_msg("rank %d: duplicate %d: %s: %s", w->rank, k,
                     clt_status_name(ws[k]->status), ws[k]->err);
        if (ws[k]->bad_round >= 0)
            fail_msg("rank %d: duplicate %d: round %d's sums are not its own: the "
                     "duplicates' messages mixed", w->rank, k, ws[k]->bad_round);
    }
    clt_comm_stats sa;
    ts_assert_ok(clt_comm_get_stats(a, &sa));
    assert_int_equal(sa.collectives, DUP_ROUNDS);
    assert_int_equal(sa.bytes_reduced, (uint64_t)DUP_ROUNDS * DUP_N * 4);
    /* two ranks: a ring all-reduce sends 2·(2-1)/2 = 1 × the payload */
    assert_int_equal(sa.bytes_sent_model, (uint64_t)DUP_ROUNDS * DUP_N * 4);
    clt_comm_destroy(b);
    clt_comm_destroy(a);
}

/* ---- the gradient sync ------------------------------------------------------------------- */

#define SYNC_N 100003
#define SYNC_BUCKET_BYTES 4096

/* The ranges of one step, the same on both ranks (one seed): from the end backwards, in
 * pieces of 1 to 3000 elements, as a backward pass gives its layers. */
static void ready_in_reverse(clt_grad_sync *g, uint64_t seed)
{
    ts_rng rng;
    ts_rng_seed(&rng, seed);
    size_t end = SYNC_N;
    while (end > 0) {
        size_t n = (size_t)ts_rng_int(&rng, 1, 3000);
        if (n > end)
            n = end;
        ts_assert_ok(clt_grad_sync_ready(g, end - n, n));
        end -= n;
    }
}

static void grad_sync_sums_in_buckets(void **state)
{
    struct world *w = *state;
    clt_context *ctx = ts_context("host");
    float *x = malloc(SYNC_N * sizeof *x), *got = malloc(SYNC_N * sizeof *got);
    assert_true(x && got);
    clt_buffer *buf = ts_buffer(ctx, CLT_TIER_DEVICE, SYNC_N * sizeof *x, NULL); /* below */
    const clt_dtype wires[] = {CLT_DTYPE_F32, CLT_DTYPE_BF16};
    for (size_t k = 0; k < 2; k++) {
        const clt_dtype wire = wires[k];
        const size_t ws = clt_dtype_size(wire);
        /* buckets of 4096 bytes of the wire dtype (a multiple of 64 elements) */
        const size_t per = SYNC_BUCKET_BYTES / ws;
        const int want_buckets = (int)((SYNC_N + per - 1) / per);
        clt_grad_sync *g = NULL;
        ts_assert_ok(clt_grad_sync_create(w->comm, buf, SYNC_N, CLT_DTYPE_F32, wire,
                                          SYNC_BUCKET_BYTES, &g));
        for (int step = 0; step < 2; step++) {
            for (size_t i = 0; i < SYNC_N; i++)
                x[i] = value_at(w->rank, i + (size_t)step);
            ts_assert_ok(clt_buffer_write(buf, 0, x, SYNC_N * sizeof *x, NULL));
            clt_comm_stats before, after;
            ts_assert_ok(clt_comm_get_stats(w->comm, &before));
            ready_in_reverse(g, 100 + (uint64_t)step);
            clt_grad_sync_stats st;
            ts_assert_ok(clt_grad_sync_finish(g, &st));
            ts_assert_ok(clt_comm_get_stats(w->comm, &after));
            assert_int_equal(st.buckets, want_buckets);
            assert_int_equal(st.bytes, SYNC_N * ws);
            assert_true(st.reduce_s >= 0 && st.exposed_s >= 0);
            assert_int_equal(after.bytes_reduced - before.bytes_reduced, SYNC_N * ws);
            assert_int_equal(after.bytes_sent_model - before.bytes_sent_model, SYNC_N * ws);
            assert_int_equal(after.collectives - before.collectives, (uint64_t)want_buckets);
            ts_download(buf, 0, got, SYNC_N);
            for (size_t i = 0; i < SYNC_N; i++) {
                const float a = value_at(0, i + (size_t)step), b = value_at(1, i + (size_t)step);
                /* bf16 wire: both ranks' values rounded to bf16, added in f32, rounded */
                const float a16 = as_stored(CLT_DTYPE_BF16, a), b16 = as_stored(CLT_DTYPE_BF16, b);
                const float want =
                    wire == CLT_DTYPE_F32 ? a + b : as_stored(CLT_DTYPE_BF16, a16 + b16);
                if (got[i] != want)
                    fail_msg("rank %d: gradient sync (%s wire, step %d): gradient %zu is %g, "
                             "want %g", w->rank, clt_dtype_name(wire), step, i, got[i], want);
            }
        }
        clt_grad_sync_destroy(g);
    }
    clt_buffer_destroy(buf);
    clt_context_destroy(ctx);
    free(x);
    free(got);
}

/* ---- the deadline --------------------------------------------------------------------------- */

/* Rank 1 comes SLOW_SLEEP_S late to a barrier on a communicator with a SLOW_TIMEOUT_S
 * deadline: rank 0's barrier fails in about that time, naming the collective, and every
 * later call on it fails at once. Rank 1's barrier then meets the one rank 0's
 * communicator thread is still in, so both ranks' threads come back and the job ends
 * cleanly; the world communicator was never affected. */
static void timeout_breaks_the_communicator(void **state)
{
    struct world *w = *state;
    clt_comm_opts o;
    clt_comm_opts_init(&o);
    o.timeout_s = SLOW_TIMEOUT_S;
    clt_comm *slow = NULL;
    ts_assert_ok(clt_comm_create(&o, &slow)); /* MPI is up already: it does not own it */
    ts_assert_ok(clt_comm_barrier(slow));      /* both there: it works */
    if (w->rank == 1) {
        sleep(SLOW_SLEEP_S);
        ts_assert_ok(clt_comm_barrier(slow));
        clt_comm_destroy(slow);
    } else {
        const double t0 = now_s();
        ts_assert_status(clt_comm_barrier(slow), CLT_ERR_COMM);
        const double waited = now_s() - t0;
        char first[512];
        snprintf(first, sizeof first, "%s", clt_last_error());
        ts_assert_error_mentions("barrier");
        ts_assert_error_mentions("rank 0 of 2");
        ts_assert_error_mentions("CLT_COMM_TIMEOUT");
        if (waited < SLOW_TIMEOUT_S - 0.1 || waited > 2 * SLOW_TIMEOUT_S)
            fail_msg("rank 0: the barrier failed after %.2f s; the deadline is %.1f s",
                     waited, SLOW_TIMEOUT_S);
        /* broken: later calls fail at once, with the same sentence */
        const double t1 = now_s();
        float f = 1;
        ts_assert_status(clt_comm_allreduce(slow, &f, 1, CLT_DTYPE_F32, CLT_REDUCE_SUM),
                         CLT_ERR_COMM);
        ts_assert_error_mentions("barrier");
        clt_comm *dup = NULL;
        ts_assert_status(clt_comm_dup(slow, &dup), CLT_ERR_COMM);
        assert_null(dup);
        ts_assert_status(clt_comm_barrier(slow), CLT_ERR_COMM);
        if (now_s() - t1 > 0.5)
            fail_msg("rank 0: calls on a broken communicator took %.2f s", now_s() - t1);
        assert_true(strstr(clt_last_error(), first) != NULL);
        /* its thread comes back when rank 1 arrives: the barrier counts as done then */
        clt_comm_stats st;
        const double give_up = now_s() + SLOW_SLEEP_S + WORLD_TIMEOUT_S;
        do {
            usleep(50 * 1000);
            ts_assert_ok(clt_comm_get_stats(slow, &st));
        } while (st.collectives < 2 && now_s() < give_up);
        assert_int_equal(st.collectives, 2);
        clt_comm_destroy(slow);
    }
    /* the world communicator goes on */
    int32_t r = w->rank + 1;
    ts_assert_ok(clt_comm_allreduce(w->comm, &r, 1, CLT_DTYPE_I32, CLT_REDUCE_SUM));
    assert_int_equal(r, 3);
    ts_assert_ok(clt_comm_barrier(w->comm));
}

int main(void)
{
    clt_comm_opts o;
    clt_comm_opts_init(&o);
    o.timeout_s = WORLD_TIMEOUT_S;
    struct world w = {0};
    if (clt_comm_create(&o, &w.comm) != CLT_OK) {
        fprintf(stderr, "test_comm_mpi: clt_comm_create: %s\n", clt_last_error());
        return 1;
    }
    w.rank = clt_comm_rank(w.comm);
    w.size = clt_comm_size(w.comm);
    /* only rank 0 reports progress; failures (stderr) say which rank they are */
    if (w.rank != 0 && !freopen("/dev/null", "w", stdout)) {
        fprintf(stderr, "test_comm_mpi: rank %d: cannot silence stdout\n", w.rank);
        return 1;
    }
    void *state = &w;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_prestate(ranks_and_places, state),
        cmocka_unit_test_prestate(allreduce_sum_and_max, state),
        cmocka_unit_test_prestate(allgather_unequal_parts, state),
        cmocka_unit_test_prestate(bcast_from_rank_one, state),
        cmocka_unit_test_prestate(send_and_receive, state),
        cmocka_unit_test_prestate(duplicates_do_not_mix, state),
        cmocka_unit_test_prestate(grad_sync_sums_in_buckets, state),
        /* last: it leaves a broken communicator behind on rank 0 */
        cmocka_unit_test_prestate(timeout_breaks_the_communicator, state),
    };
    const int failed = cmocka_run_group_tests_name("comm_mpi", tests, NULL, NULL);
    if (failed)
        fprintf(stderr, "test_comm_mpi: rank %d of %d: %d test(s) failed\n", w.rank, w.size,
                failed);
    clt_comm_destroy(w.comm); /* finalizes MPI */
    return failed ? 1 : 0;
}
