/* The host optimizer's fast path (backends/host/optim_simd.h, host_threads.h) gives the
 * same bits whatever runs it: for AdamW, SGD (momentum, Nesterov, none) and LAMB, with
 * f32 and q8 states, a bf16 or f16 gradient and parameter copy, sizes 1, 4095, 4097 and
 * 1000003, and inputs holding NaN, overflowing, subnormal and zero values, every thread
 * count (1, 2, 3, 7) and every SIMD level this CPU has must match one thread of scalar
 * loops byte for byte, in parameters, states, absmax and copy; a tensor updated as two
 * ranges (two ops on its halves) must match one op on the whole (AdamW and SGD: LAMB's
 * trust ratio is per tensor, so its halves differ by design); clt_op_run on a host
 * context (the device's own pool and best level) must match too. Every level's f16 and
 * bf16 conversion matches convert.c's on every exponent and sign with the rounding
 * cases of the low bits, NaN payloads included. (test_quant8 checks each level's codec.) */
#include <math.h>
#include <pthread.h>

#include "backends/host/host_threads.h"
#include "backends/host/optim_simd.h"
#include "backends/host/quant8.h"
#include "runtime/context.h"
#include "support/support.h"

enum kind { ADAMW, SGD, SGD_NESTEROV, SGD_PLAIN, LAMB };

struct setup {
    enum kind kind;
    bool q8;
    size_t n;
    clt_dtype half; /* F16 or BF16: the gradient's dtype and a parameter copy's; F32: none */
    bool special;   /* NaN, overflowing, subnormal and zero values among the inputs */
};

/* The tensors of one setup, their initial bytes, and where the result is read into. */
struct rig {
    struct setup su;
    clt_context *ctx;
    struct clt_dev *dev;
    clt_buffer *buf[7];       /* p, g, m, v, m_absmax, v_absmax, copy */
    void *init[7];
    size_t bytes[7];
};
enum { P, G, M, V, MA, VA, COPY, NBUF };

static bool has_v(enum kind k) { return k == ADAMW || k == LAMB; }
static bool has_m(enum kind k) { return k != SGD_PLAIN; }

/* Specials at one element in 61, each with one NaN (+, quiet) as its only NaN source, so
 * that a result's NaN bits do not depend on which operand of an add the compiler puts
 * first: a NaN gradient; a gradient whose square overflows (v becomes Inf, its q8
 * block NaN); subnormal parameters and gradients; zero parameters of both signs. */
static void sprinkle_specials(ts_rng *rng, float *p, float *g, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (ts_rng_u64(rng) % 61 != 0)
            continue;
        switch (ts_rng_u64(rng) % 5) {
        case 0: g[i] = NAN; break;
        case 1: g[i] = (i & 1) ? 3e38f : -3e38f; break;
        case 2: g[i] = (i & 1) ? 1e-40f : -3e-42f; break;
        case 3: p[i] = (i & 1) ? 2e-39f : -1e-45f; break;
        default: p[i] = (i & 1) ? 0.0f : -0.0f; break;
        }
    }
}

static void rig_make(struct rig *r, clt_context *ctx, struct setup su, uint64_t seed)
{
    memset(r, 0, sizeof *r);
    r->su = su;
    r->ctx = ctx;
    ts_assert_ok(clt_context_host_dev(ctx, &r->dev));
    const size_t n = su.n, blocks = (n + CLT_Q8_DEFAULT_BLOCK - 1) / CLT_Q8_DEFAULT_BLOCK;
    ts_rng rng;
    ts_rng_seed(&rng, seed);
    float *x = malloc(n * sizeof *x);
    assert_non_null(x);
    float map[256];
    r->bytes[P] = n * sizeof(float);
    r->bytes[G] = n * (su.half != CLT_DTYPE_F32 ? 2 : 4);
    r->bytes[M] = has_m(su.kind) ? n * (su.q8 ? 1 : 4) : 0;
    r->bytes[V] = has_v(su.kind) ? n * (su.q8 ? 1 : 4) : 0;
    r->bytes[MA] = su.q8 && has_m(su.kind) ? blocks * sizeof(float) : 0;
    r->bytes[VA] = su.q8 && has_v(su.kind) ? blocks * sizeof(float) : 0;
    r->bytes[COPY] = su.half != CLT_DTYPE_F32 ? n * 2 : 0;
    for (int b = 0; b < NBUF; b++)
        if (r->bytes[b]) {
            r->init[b] = calloc(1, r->bytes[b]);
            assert_non_null(r->init[b]);
        }
    ts_fill_floats(&rng, r->init[P], n, -1.0f, 1.0f);
    ts_fill_floats(&rng, x, n, -1.0f, 1.0f);
    if (su.special)
        sprinkle_specials(&rng, r->init[P], x, n);
    if (su.half != CLT_DTYPE_F32)
        ts_assert_ok(clt_convert(su.half, r->init[G], CLT_DTYPE_F32, x, n));
    else
        memcpy(r->init[G], x, n * sizeof(float));
    for (int b = M; b <= V; b++) {
        if (!r->bytes[b])
            continue;
        /* Non-zero states, so the first step already reads them. */
        ts_fill_floats(&rng, x, n, b == M ? -0.01f : 0.0f, b == M ? 0.01f : 1e-4f);
        if (!su.q8) {
            memcpy(r->init[b], x, n * sizeof(float));
            continue;
        }
        if (b == M)
            clt_q8_map_signed(map);
        else
            clt_q8_map_unsigned(map);
        clt_q8_quantize(x, n, CLT_Q8_DEFAULT_BLOCK, map, r->init[b], r->init[b + 2]);
    }
    for (int b = 0; b < NBUF; b++)
        if (r->bytes[b])
            r->buf[b] = ts_buffer(ctx, CLT_TIER_DEVICE, r->bytes[b], r->init[b]);
    free(x);
}

static void rig_free(struct rig *r)
{
    for (int b = 0; b < NBUF; b++) {
        clt_buffer_destroy(r->buf[b]);
        free(r->init[b]);
    }
}

static void rig_reset(struct rig *r)
{
    for (int b = 0; b < NBUF; b++)
        if (r->bytes[b])
            ts_assert_ok(clt_buffer_write(r->buf[b], 0, r->init[b], r->bytes[b], NULL));
}

/* Elements [at, at + len) of buffer b as a rank-1 tensor; none where b is absent. */
static clt_tensor part(const struct rig *r, int b, clt_dtype dt, size_t at, size_t len)
{
    clt_tensor t;
    memset(&t, 0, sizeof t);
    if (r->buf[b])
        ts_assert_ok(clt_tensor_init(&t, r->buf[b], at * clt_dtype_size(dt), dt, 1,
                                     (const int64_t[]){(int64_t)len}));
    return t;
}

static clt_op op_of(const struct rig *r, size_t at, size_t len, int64_t step)
{
    const struct setup *su = &r->su;
    const clt_dtype st = su->q8 ? CLT_DTYPE_U8 : CLT_DTYPE_F32;
    const clt_dtype gd = su->half;
    const size_t b0 = at / CLT_Q8_DEFAULT_BLOCK,
                 nb = (len + CLT_Q8_DEFAULT_BLOCK - 1) / CLT_Q8_DEFAULT_BLOCK;
    clt_optim_hparams h = {.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                           .weight_decay = 0.01f, .step = step, .grad_scale = 0.5f};
    clt_op op;
    memset(&op, 0, sizeof op);
    if (su->kind == ADAMW || su->kind == LAMB) {
        op.kind = su->kind == ADAMW ? CLT_OP_ADAMW : CLT_OP_LAMB;
        op.u.adamw = (clt_adamw_args){
            .param = part(r, P, CLT_DTYPE_F32, at, len), .grad = part(r, G, gd, at, len),
            .m = part(r, M, st, at, len), .v = part(r, V, st, at, len),
            .m_absmax = part(r, MA, CLT_DTYPE_F32, b0, nb),
            .v_absmax = part(r, VA, CLT_DTYPE_F32, b0, nb),
            .param_copy = part(r, COPY, su->half, at, len), .h = h};
        return op;
    }
    h.beta1 = su->kind == SGD_PLAIN ? 0.0f : 0.9f;
    h.nesterov = su->kind == SGD_NESTEROV;
    op.kind = CLT_OP_SGD;
    op.u.sgd = (clt_sgd_args){
        .param = part(r, P, CLT_DTYPE_F32, at, len), .grad = part(r, G, gd, at, len),
        .momentum = part(r, M, st, at, len),
        .momentum_absmax = part(r, MA, CLT_DTYPE_F32, b0, nb),
        .param_copy = part(r, COPY, su->half, at, len), .h = h};
    return op;
}

/* Every buffer's bytes after two steps (the second reads the first's states), run on
 * `pool` with `level`; with split > 0, each step as two ops, [0, split) and the rest.
 * pool == (void *)-1: through clt_op_run instead. Returns a malloc'd blob. */
#define THROUGH_OP_RUN ((struct clt_host_pool *)-1)
static uint8_t *run(struct rig *r, struct clt_host_pool *pool, clt_simd level, size_t split)
{
    rig_reset(r);
    for (int64_t step = 1; step <= 2; step++) {
        const size_t cuts[3] = {0, split ? split : r->su.n, r->su.n};
        for (int c = 0; c < 2; c++) {
            if (cuts[c + 1] == cuts[c])
                continue;
            clt_op op = op_of(r, cuts[c], cuts[c + 1] - cuts[c], step);
            if (pool == THROUGH_OP_RUN)
                ts_assert_ok(clt_op_run(r->ctx, &op, NULL));
            else
                ts_assert_ok(clt_host_optim_run(r->dev, &op, pool, level));
        }
    }
    size_t total = 0;
    for (int b = 0; b < NBUF; b++)
        total += r->bytes[b];
    uint8_t *out = malloc(total), *at = out;
    assert_non_null(out);
    for (int b = 0; b < NBUF; b++) {
        if (!r->bytes[b])
            continue;
        ts_assert_ok(clt_buffer_read(r->buf[b], 0, at, r->bytes[b], NULL));
        at += r->bytes[b];
    }
    return out;
}

static size_t blob_size(const struct rig *r)
{
    size_t total = 0;
    for (int b = 0; b < NBUF; b++)
        total += r->bytes[b];
    return total;
}

static const char *const kind_names[] = {"adamw", "sgd", "sgd-nesterov", "sgd-plain", "lamb"};

static void expect_same(const struct rig *r, const uint8_t *want, const uint8_t *got,
                        const char *what)
{
    const size_t total = blob_size(r);
    for (size_t i = 0; i < total; i++)
        if (want[i] != got[i])
            fail_msg("%s %s n=%zu%s%s%s: byte %zu of %zu differs from one scalar thread",
                     kind_names[r->su.kind], r->su.q8 ? "q8" : "f32", r->su.n,
                     r->su.half == CLT_DTYPE_F32   ? ""
                     : r->su.half == CLT_DTYPE_F16 ? " f16"
                                                   : " bf16",
                     r->su.special ? " specials" : "", what, i, total);
}

/* The steps must change the parameters at all, or equality would prove nothing. */
static void expect_moved(const struct rig *r, const uint8_t *got)
{
    if (memcmp(got, r->init[P], r->bytes[P]) == 0)
        fail_msg("%s n=%zu: the parameters did not change", kind_names[r->su.kind], r->su.n);
}

static void check_setup(clt_context *ctx, struct clt_host_pool *const pools[4],
                        struct setup su)
{
    static const int threads[4] = {1, 2, 3, 7};
    char what[64];
    struct rig r;
    rig_make(&r, ctx, su, 1234 + su.n + (uint64_t)su.kind);
    uint8_t *want = run(&r, NULL, CLT_SIMD_SCALAR, 0);
    expect_moved(&r, want);
    for (int t = 0; t < 4; t++) {
        for (int level = 0; level < CLT_SIMD_COUNT; level++) {
            if (!clt_optim_kernels_of((clt_simd)level))
                continue;
            uint8_t *got = run(&r, pools[t], (clt_simd)level, 0);
            snprintf(what, sizeof what, ", %d threads, %s", threads[t],
                     clt_simd_name((clt_simd)level));
            expect_same(&r, want, got, what);
            free(got);
        }
    }
    uint8_t *got = run(&r, THROUGH_OP_RUN, CLT_SIMD_SCALAR, 0);
    expect_same(&r, want, got, ", clt_op_run");
    free(got);
    if (su.kind != LAMB && su.n > 1) {
        /* Cut on a block boundary (q8 ranges must start on one), mid-task. */
        const size_t split = su.q8 ? (su.n / 2) / CLT_Q8_DEFAULT_BLOCK * CLT_Q8_DEFAULT_BLOCK
                                   : su.n / 2 + 1;
        if (split > 0) {
            got = run(&r, pools[2], clt_simd_best(), split);
            snprintf(what, sizeof what, ", two ranges split at %zu", split);
            expect_same(&r, want, got, what);
            free(got);
        }
    }
    free(want);
    rig_free(&r);
}

static void test_bit_identical(void **state)
{
    (void)state;
    static const int threads[4] = {1, 2, 3, 7};
    static const size_t sizes[] = {1, 4095, 4097, 1000003};
    clt_context *ctx = ts_context("host");
    struct clt_host_pool *pools[4] = {NULL};
    for (int t = 0; t < 4; t++)
        ts_assert_ok(clt_host_pool_create(threads[t], &pools[t]));
    for (int k = ADAMW; k <= LAMB; k++)
        for (int q8 = 0; q8 < 2; q8++)
            for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
                if (q8 && k == SGD_PLAIN)
                    continue; /* no momentum, no state to quantize */
                check_setup(ctx, pools,
                            (struct setup){(enum kind)k, q8, sizes[s], CLT_DTYPE_F32, false});
            }
    /* A half gradient (widened into scratch) and a half copy, on sizes with tails. */
    check_setup(ctx, pools, (struct setup){ADAMW, false, 4097, CLT_DTYPE_BF16, false});
    check_setup(ctx, pools, (struct setup){LAMB, true, 4097, CLT_DTYPE_BF16, false});
    check_setup(ctx, pools, (struct setup){SGD_NESTEROV, false, 4097, CLT_DTYPE_BF16, false});
    check_setup(ctx, pools, (struct setup){ADAMW, true, 4097, CLT_DTYPE_F16, false});
    check_setup(ctx, pools, (struct setup){SGD, false, 1000003, CLT_DTYPE_F16, false});
    /* Specials, through every state format and a copy of each kind. */
    for (int k = ADAMW; k <= LAMB; k++)
        for (int q8 = 0; q8 < 2; q8++) {
            if (q8 && k == SGD_PLAIN)
                continue;
            const clt_dtype half = k % 3 == 0 ? CLT_DTYPE_F32 : k % 3 == 1 ? CLT_DTYPE_F16
                                                                             : CLT_DTYPE_BF16;
            check_setup(ctx, pools, (struct setup){(enum kind)k, q8, 100003, half, true});
        }
    for (int t = 0; t < 4; t++)
        clt_host_pool_destroy(pools[t]);
    clt_context_destroy(ctx);
}

/* ---- every level's f16 and bf16 conversion ------------------------------------------ */

/* Every sign and exponent with 9 mantissa bits (the top 16 bits, all 65536 of them)
 * times low-bit patterns that put each rounding case at bf16's and f16's cut (ties
 * both ways, just below and above them, for normal f16 results), plus random bits that
 * reach the cuts of subnormal f16 results. */
static void halves_match_scalar(void **state)
{
    (void)state;
    static const uint32_t low[] = {0x0000, 0x0001, 0x0fff, 0x1000, 0x1001, 0x2000, 0x3000,
                                   0x3001, 0x7fff, 0x8000, 0x8001, 0xffff, 0x5555, 0xaaaa};
    const size_t n_low = sizeof low / sizeof low[0], n = 65536 * n_low + 1000003;
    uint32_t *bits = malloc(n * sizeof *bits);
    float *x = malloc(n * sizeof *x);
    uint16_t *want = malloc(n * sizeof *want), *got = malloc(n * sizeof *got);
    assert_true(bits && x && want && got);
    size_t at = 0;
    for (uint32_t hi = 0; hi < 65536; hi++)
        for (size_t k = 0; k < n_low; k++)
            bits[at++] = hi << 16 | low[k];
    ts_rng rng;
    ts_rng_seed(&rng, 21);
    while (at < n)
        bits[at++] = (uint32_t)ts_rng_u64(&rng);
    memcpy(x, bits, n * sizeof *x);
    for (int dt = 0; dt < 2; dt++) {
        for (size_t i = 0; i < n; i++)
            want[i] = dt ? clt_f32_to_bf16(x[i]) : clt_f32_to_f16(x[i]);
        for (int level = 0; level < CLT_SIMD_COUNT; level++) {
            const struct clt_optim_kernels *k = clt_optim_kernels_of((clt_simd)level);
            if (!k)
                continue;
            /* whole, then from an odd offset with an odd length: every tail */
            for (size_t off = 0; off < 2; off++) {
                memset(got, 0, n * sizeof *got);
                (dt ? k->to_bf16 : k->to_f16)(x + off * 7, got + off * 7, n - off * 20);
                for (size_t i = off * 7; i < n - off * 13; i++)
                    if (got[i] != want[i])
                        fail_msg("%s %s of 0x%08x: 0x%04x, convert.c 0x%04x",
                                 clt_simd_name((clt_simd)level), dt ? "bf16" : "f16", bits[i],
                                 got[i], want[i]);
            }
        }
    }
    free(bits);
    free(x);
    free(want);
    free(got);
}

/* The pool runs every task exactly once, whatever the thread and task counts. */
struct count_tasks {
    int *hits;
    int workers;
    bool bad_worker;
};

static void count_task(void *user, size_t task, int worker)
{
    struct count_tasks *c = user;
    c->hits[task]++; /* each task is handed out once, so no two threads share a slot */
    if (worker < 0 || worker >= c->workers)
        c->bad_worker = true;
}

static void test_pool_runs_each_task_once(void **state)
{
    (void)state;
    static const int threads[] = {1, 2, 3, 7};
    static const size_t tasks[] = {0, 1, 2, 7, 1000};
    for (size_t t = 0; t < 4; t++) {
        struct clt_host_pool *pool = NULL;
        ts_assert_ok(clt_host_pool_create(threads[t], &pool));
        assert_int_equal(clt_host_pool_size(pool), threads[t]);
        for (size_t k = 0; k < sizeof tasks / sizeof tasks[0]; k++) {
            for (int rep = 0; rep < 3; rep++) {
                int *hits = calloc(tasks[k] + 1, sizeof *hits);
                assert_non_null(hits);
                struct count_tasks c = {.hits = hits, .workers = threads[t]};
                clt_host_pool_run(pool, tasks[k], count_task, &c);
                for (size_t i = 0; i < tasks[k]; i++)
                    if (hits[i] != 1)
                        fail_msg("%d threads, %zu tasks: task %zu ran %d times", threads[t],
                                 tasks[k], i, hits[i]);
                assert_false(c.bad_worker);
                free(hits);
            }
        }
        clt_host_pool_destroy(pool);
    }
    struct clt_host_pool *pool = NULL;
    assert_int_not_equal(clt_host_pool_create(0, &pool), CLT_OK);
    assert_null(pool);
}

/* Threads asking a fresh host device for its pool at once all get the one pool: a
 * second pool made by a race would leak (LeakSanitizer reports it in the sanitizer
 * tree) and split the device's workers. Many rounds, each on a new device. */
struct pool_race {
    struct clt_dev *dev;
    pthread_barrier_t *start;
    struct clt_host_pool *got;
};

static void *ask_for_pool(void *arg)
{
    struct pool_race *r = arg;
    pthread_barrier_wait(r->start);
    if (clt_host_dev_pool(r->dev, &r->got) != CLT_OK)
        r->got = NULL;
    return NULL;
}

static void test_device_pool_made_once(void **state)
{
    (void)state;
    enum { THREADS = 4, ROUNDS = 50 };
    for (int round = 0; round < ROUNDS; round++) {
        clt_context *ctx = ts_context("host");
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, THREADS);
        pthread_t th[THREADS];
        struct pool_race r[THREADS];
        for (int i = 0; i < THREADS; i++) {
            r[i] = (struct pool_race){.dev = ctx->dev, .start = &start};
            assert_int_equal(pthread_create(&th[i], NULL, ask_for_pool, &r[i]), 0);
        }
        for (int i = 0; i < THREADS; i++)
            pthread_join(th[i], NULL);
        for (int i = 0; i < THREADS; i++) {
            assert_non_null(r[i].got);
            assert_ptr_equal(r[i].got, r[0].got);
        }
        pthread_barrier_destroy(&start);
        clt_context_destroy(ctx);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool_runs_each_task_once),
        cmocka_unit_test(test_device_pool_made_once),
        cmocka_unit_test(test_bit_identical),
        cmocka_unit_test(halves_match_scalar),
    };
    return cmocka_run_group_tests_name("optim_host", tests, NULL, NULL);
}
