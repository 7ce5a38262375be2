/* The offload engine, data parallel (clt_offload_set_comm).
 *
 * Run plainly: with a CLT_COMM_SELF communicator (one rank) the engine gives the same
 * bits as without one — masters, working copies, gradient norms and optimizer state —
 * with and without sharded state, AdamW with f32 and 8-bit states, after-backward and
 * eager, HOST and NVME masters, over steps whose micro-batch count changes (so the
 * after-backward all-reduce runs where the gradients land, is deferred to grad_sqnorm,
 * and is taken back once when a step has more micro-batches than the last); the bytes
 * all-reduced and broadcast are the analytical figures; misuse is refused.
 *
 * Run as `mpirun -np 2 test_offload_dp mpi` (ctest does where the build has MPI): each
 * rank feeds its own gradients; after the steps every rank's masters and working copies
 * equal those of a one-process engine fed the mean gradient (the same bits where the
 * micro-batch count does not grow; within rounding where it does), with and without
 * sharding, after-backward and eager, f32 and 8-bit states, HOST and NVME masters; with
 * sharding each rank keeps about half the state, refuses the other half, and all ranks
 * hold the same bits. */
#include <math.h>

#include "support/support.h"

#define GROUPS 3
#define TOTAL (5376 + 320 + 4480)
#define MAX_STEPS 5

/* As test_offload.c: [t0 5000 | t1 100], a resident [t0 300], [t0 4352 | t1 70]. */
static const size_t group_numel[GROUPS] = {5376, 320, 4480};
static const clt_offload_tensor group_tensors[GROUPS][2] = {
    {{0, 5000, true}, {5120, 100, false}},
    {{0, 300, false}, {0, 0, false}},
    {{0, 4352, true}, {4352, 70, false}},
};
static const int group_count[GROUPS] = {2, 1, 2};

/* Micro-batches per step. GROWS: step 3 has more than step 2, so the after-backward
 * engine reduces at its first landing, takes that back and reduces again. STEADY: the
 * count never grows (reduced where the gradients land from step 2 on). */
static const int GROWS[MAX_STEPS] = {1, 1, 2, 2, 1};
static const int STEADY[MAX_STEPS] = {2, 2, 2, 1, 1};

struct dp_case {
    const char *name;
    clt_offload_update update;
    bool q8;
    clt_dtype work;
    clt_tier master;
    const int *accum;
};

struct dp_result {
    float masters[TOTAL];
    unsigned char work[TOTAL * 4];
    float norms[MAX_STEPS];
    unsigned char *state; /* every owned state tensor, in order */
    size_t state_len;
    size_t group_state[GROUPS][2]; /* where each group's is in state, and its bytes (0:
                                      another rank's) */
    int owner[GROUPS];
    clt_offload_plan_info plan;
    clt_comm_stats comm;
};

/* Rank r's fresh gradients of micro-batch a of a step, over the whole layout. */
static void micro_grads(int rank, int64_t step, int a, float *out)
{
    ts_rng rng;
    ts_rng_seed(&rng, 1000003u * (uint64_t)rank + 101u * (uint64_t)step + (uint64_t)a);
    ts_fill_floats(&rng, out, TOTAL, -0.5f, 0.5f);
}

/* What a device accumulating micro-batch a onto acc (work dtype) holds: acc + x,
 * rounded to the work dtype (a == 0: x). */
static void accumulate(clt_dtype work, void *acc, int a, const float *x, size_t n)
{
    float *sum = malloc(n * 4);
    assert_non_null(sum);
    if (a == 0)
        memset(sum, 0, n * 4);
    else
        ts_assert_ok(clt_convert(CLT_DTYPE_F32, sum, work, acc, n));
    for (size_t i = 0; i < n; i++)
        sum[i] += x[i];
    ts_assert_ok(clt_convert(work, acc, CLT_DTYPE_F32, sum, n));
    free(sum);
}

/* The mean over `ranks` ranks of what each one's device accumulates in a step, in the
 * work dtype: the gradient a one-process engine is fed. */
static void mean_grads(clt_dtype work, int ranks, int64_t step, int accum, void *out)
{
    const size_t es = clt_dtype_size(work);
    float *x = malloc(TOTAL * 4), *sum = calloc(TOTAL, 4), *one = malloc(TOTAL * 4);
    void *acc = malloc(TOTAL * es);
    assert_true(x && sum && one && acc);
    for (int r = 0; r < ranks; r++) {
        for (int a = 0; a < accum; a++) {
            micro_grads(r, step, a, x);
            accumulate(work, acc, a, x, TOTAL);
        }
        ts_assert_ok(clt_convert(CLT_DTYPE_F32, one, work, acc, TOTAL));
        for (size_t i = 0; i < TOTAL; i++)
            sum[i] += one[i];
    }
    for (size_t i = 0; i < TOTAL; i++)
        sum[i] *= 1.0f / (float)ranks;
    ts_assert_ok(clt_convert(work, out, CLT_DTYPE_F32, sum, TOTAL));
    free(x);
    free(sum);
    free(one);
    free(acc);
}

static clt_context *open_context(int rank)
{
    char nvme[4096], name[32];
    snprintf(name, sizeof name, "nvme-rank%d", rank);
    ts_tmp_subdir(name, nvme, sizeof nvme); /* ranks share the test's directory */
    clt_context_opts co;
    clt_context_opts_init(&co);
    co.nvme_dir = nvme;
    clt_context *ctx = NULL;
    ts_assert_ok(ts_context_open("host", &co, &ctx));
    return ctx;
}

static clt_offload *make_engine(clt_context *ctx, const struct dp_case *c)
{
    clt_offload_opts o;
    clt_offload_opts_init(&o);
    o.update = c->update;
    o.master_tier = c->master;
    o.q8_states = c->q8;
    o.work_dtype = c->work;
    o.hparams.weight_decay = 0.1f;
    clt_offload *off = NULL;
    ts_assert_ok(clt_offload_create(ctx, &o, &off));
    for (int g = 0; g < GROUPS; g++) {
        int id = -1;
        ts_assert_ok(clt_offload_add_group(off, group_numel[g], group_tensors[g],
                                           group_count[g], g == 1, &id));
        assert_int_equal(id, g);
    }
    return off;
}

/* One micro-batch's backward: each group (last first) gets this rank's gradients added
 * on the device, as a backward pass accumulating into the engine's tensor would. */
static void backward(clt_offload *off, clt_dtype work, int a, const float *x)
{
    const size_t es = clt_dtype_size(work);
    void *dev = malloc(TOTAL * es);
    assert_non_null(dev);
    size_t at = TOTAL;
    for (int g = GROUPS - 1; g >= 0; g--) {
        at -= group_numel[g];
        clt_tensor w, gr;
        ts_assert_ok(clt_offload_fetch(off, g, &w));
        ts_assert_ok(clt_offload_grad(off, g, a > 0, &gr));
        void *mine = (char *)dev + at * es;
        if (a > 0)
            ts_assert_ok(clt_buffer_read(gr.buf, gr.offset, mine, group_numel[g] * es, NULL));
        accumulate(work, mine, a, x + at, group_numel[g]);
        ts_assert_ok(clt_buffer_write(gr.buf, gr.offset, mine, group_numel[g] * es, NULL));
        ts_assert_ok(clt_offload_grads_ready(off, g));
        ts_assert_ok(clt_offload_release(off, g));
    }
    free(dev);
}

/* The run's results: masters, working copies (fetched back), owned state, figures. */
static void collect(clt_offload *off, clt_dtype work, struct dp_result *out)
{
    const size_t es = clt_dtype_size(work);
    size_t at = 0;
    for (int g = 0; g < GROUPS; g++) {
        clt_tensor w;
        ts_assert_ok(clt_offload_fetch(off, g, &w));
        ts_assert_ok(clt_buffer_read(w.buf, w.offset, out->work + at * es, group_numel[g] * es,
                                     NULL));
        ts_assert_ok(clt_offload_release(off, g));
        ts_assert_ok(clt_offload_get_master(off, g, out->masters + at));
        at += group_numel[g];
    }
    out->state = malloc(out->plan.state_bytes + 1);
    assert_non_null(out->state);
    out->state_len = 0;
    for (int g = 0; g < GROUPS; g++) {
        out->owner[g] = clt_offload_group_owner(off, g);
        out->group_state[g][0] = out->state_len;
        for (int t = 0; t < group_count[g]; t++) {
            clt_tensor st[4];
            int n = 0;
            const clt_status s = clt_offload_state(off, g, t, st, &n);
            if (s != CLT_OK) { /* another rank's: refused, naming the owner */
                assert_int_equal(s, CLT_ERR_INVALID_ARG);
                ts_assert_error_mentions("rank");
                continue;
            }
            for (int k = 0; k < n; k++) {
                const size_t bytes = (size_t)st[k].shape[0] * clt_dtype_size(st[k].dtype);
                assert_true(out->state_len + bytes <= out->plan.state_bytes);
                ts_assert_ok(clt_buffer_read(st[k].buf, st[k].offset,
                                             out->state + out->state_len, bytes, NULL));
                out->state_len += bytes;
            }
        }
        out->group_state[g][1] = out->state_len - out->group_state[g][0];
    }
    int skipped = -1;
    ts_assert_ok(clt_offload_skipped(off, &skipped, NULL));
    assert_int_equal(skipped, 0);
    ts_assert_ok(clt_offload_comm_stats(off, &out->comm));
}

/* The case's steps. comm NULL: one process; reference: fed the mean of `ranks` ranks'
 * gradients in one micro-batch per step instead of this rank's own, with scale 1. */
static void train(const struct dp_case *c, clt_comm *comm, bool shard, bool reference,
                  int ranks, struct dp_result *out)
{
    const int rank = clt_comm_rank(comm), size = clt_comm_size(comm);
    clt_context *ctx = open_context(rank);
    clt_offload *off = make_engine(ctx, c);
    if (comm)
        ts_assert_ok(clt_offload_set_comm(off, comm, shard));
    ts_assert_ok(clt_offload_plan(off, &out->plan));
    float *x = malloc(TOTAL * 4);
    void *mean = malloc(TOTAL * 4);
    assert_true(x && mean);
    ts_rng rng;
    ts_rng_seed(&rng, 5);
    ts_fill_floats(&rng, x, TOTAL, -1, 1);
    size_t at = 0;
    for (int g = 0; g < GROUPS; g++) {
        ts_assert_ok(clt_offload_set_master(off, g, x + at));
        at += group_numel[g];
    }
    const float scale = reference ? 1.0f : 1.0f / (float)size;
    for (int64_t step = 1; step <= MAX_STEPS; step++) {
        const float lr = 1e-2f / (float)step;
        for (int g = 0; g < GROUPS; g++) { /* the forward */
            clt_tensor w;
            ts_assert_ok(clt_offload_fetch(off, g, &w));
            ts_assert_ok(clt_offload_release(off, g));
        }
        const int accum = reference ? 1 : c->accum[step - 1];
        for (int a = 0; a < accum; a++) {
            if (c->update == CLT_OFFLOAD_UPDATE_EAGER && a == accum - 1)
                ts_assert_ok(clt_offload_begin_step(off, lr, step, scale));
            if (reference) {
                mean_grads(c->work, ranks, step, c->accum[step - 1], mean);
                ts_assert_ok(clt_convert(CLT_DTYPE_F32, x, c->work, mean, TOTAL));
            } else {
                micro_grads(rank, step, a, x);
            }
            backward(off, c->work, a, x);
        }
        ts_assert_ok(clt_offload_grad_sqnorm(off, &out->norms[step - 1]));
        if (c->update == CLT_OFFLOAD_UPDATE_AFTER_BACKWARD)
            ts_assert_ok(clt_offload_step(off, lr, step, scale));
    }
    collect(off, c->work, out);
    free(x);
    free(mean);
    clt_offload_destroy(off);
    clt_context_destroy(ctx);
}

static const struct dp_case cases[] = {
    {"adamw f32, after-backward", CLT_OFFLOAD_UPDATE_AFTER_BACKWARD, false, CLT_DTYPE_F32,
     CLT_TIER_HOST, GROWS},
    {"adamw q8 bf16, after-backward", CLT_OFFLOAD_UPDATE_AFTER_BACKWARD, true, CLT_DTYPE_BF16,
     CLT_TIER_HOST, STEADY},
    {"adamw f32, eager", CLT_OFFLOAD_UPDATE_EAGER, false, CLT_DTYPE_F32, CLT_TIER_HOST, GROWS},
    {"adamw q8 bf16, eager", CLT_OFFLOAD_UPDATE_EAGER, true, CLT_DTYPE_BF16, CLT_TIER_HOST,
     STEADY},
    {"adamw q8 f32, after-backward, NVME", CLT_OFFLOAD_UPDATE_AFTER_BACKWARD, true,
     CLT_DTYPE_F32, CLT_TIER_NVME, GROWS},
    {"adamw f32 bf16, eager, NVME", CLT_OFFLOAD_UPDATE_EAGER, false, CLT_DTYPE_BF16,
     CLT_TIER_NVME, STEADY},
};
#define N_CASES (sizeof cases / sizeof cases[0])

static void assert_same_bits(const struct dp_case *c, const struct dp_result *got,
                             const struct dp_result *want)
{
    assert_memory_equal(got->masters, want->masters, sizeof got->masters);
    assert_memory_equal(got->work, want->work, TOTAL * clt_dtype_size(c->work));
    assert_memory_equal(got->norms, want->norms, sizeof got->norms);
    assert_int_equal(got->state_len, want->state_len);
    assert_memory_equal(got->state, want->state, got->state_len);
}

/* All-reduces of each step's gradients, counted from the case's micro-batches: once per
 * step, and once more in a step whose count grew (after-backward from step 2 on). */
static int reductions(const struct dp_case *c)
{
    int n = MAX_STEPS;
    for (int s = 2; s <= MAX_STEPS; s++)
        n += c->update == CLT_OFFLOAD_UPDATE_AFTER_BACKWARD &&
             c->accum[s - 1] > c->accum[s - 2];
    return n;
}

/* ---- one rank (CLT_COMM_SELF) ---------------------------------------------------------- */

static clt_comm *self_comm(void)
{
    clt_comm_opts co;
    clt_comm_opts_init(&co);
    co.transport = CLT_COMM_SELF;
    clt_comm *comm = NULL;
    ts_assert_ok(clt_comm_create(&co, &comm));
    return comm;
}

static void test_self_comm_same_bits(void **state)
{
    (void)state;
    clt_comm *comm = self_comm();
    struct dp_result *want = calloc(1, sizeof *want), *got = calloc(1, sizeof *got);
    assert_true(want && got);
    for (size_t k = 0; k < N_CASES; k++) {
        const struct dp_case *c = &cases[k];
        train(c, NULL, false, false, 1, want);
        for (int shard = 0; shard < 2; shard++) {
            print_message("self comm: %s, shard %d\n", c->name, shard);
            train(c, comm, shard, false, 1, got);
            assert_same_bits(c, got, want);
            assert_memory_equal(&got->plan, &want->plan, sizeof got->plan);
            const uint64_t grads = (uint64_t)TOTAL * clt_dtype_size(c->work);
            assert_int_equal(got->comm.bytes_reduced, (uint64_t)reductions(c) * grads);
            const uint64_t masters = MAX_STEPS * (uint64_t)TOTAL * 4;
            assert_int_equal(got->comm.bytes_other, shard ? masters : 0);
            free(got->state);
        }
        assert_int_equal(want->comm.collectives, 0);
        free(want->state);
    }
    free(want);
    free(got);
    clt_comm_destroy(comm);
}

/* After-backward, the all-reduce of a group whose micro-batch count is as last step's
 * runs where its gradients land: before grad_sqnorm is called. */
static void test_reduce_where_gradients_land(void **state)
{
    (void)state;
    clt_comm *comm = self_comm();
    clt_context *ctx = open_context(0);
    const struct dp_case c = {"", CLT_OFFLOAD_UPDATE_AFTER_BACKWARD, false, CLT_DTYPE_F32,
                              CLT_TIER_HOST, STEADY};
    clt_offload *off = make_engine(ctx, &c);
    ts_assert_ok(clt_offload_set_comm(off, comm, false));
    ts_assert_ok(clt_offload_plan(off, NULL));
    float *x = malloc(TOTAL * 4);
    assert_non_null(x);
    for (int64_t step = 1; step <= 2; step++) {
        clt_comm_stats before, after;
        ts_assert_ok(clt_offload_comm_stats(off, &before));
        for (int a = 0; a < 2; a++) {
            micro_grads(0, step, a, x);
            backward(off, c.work, a, x);
        }
        ts_assert_ok(clt_offload_wait(off));
        ts_assert_ok(clt_offload_comm_stats(off, &after));
        /* step 1 knows no count yet: nothing reduced until grad_sqnorm */
        assert_int_equal(after.bytes_reduced - before.bytes_reduced,
                         step == 1 ? 0 : TOTAL * 4);
        float norm = 0;
        ts_assert_ok(clt_offload_grad_sqnorm(off, &norm));
        ts_assert_ok(clt_offload_comm_stats(off, &after));
        assert_int_equal(after.bytes_reduced - before.bytes_reduced, TOTAL * 4);
        ts_assert_ok(clt_offload_step(off, 1e-3f, step, 1.0f));
    }
    free(x);
    clt_offload_destroy(off);
    clt_context_destroy(ctx);
    clt_comm_destroy(comm);
}

static void test_misuse(void **state)
{
    (void)state;
    clt_comm *comm = self_comm();
    clt_context *ctx = open_context(0);
    const struct dp_case c = {"", CLT_OFFLOAD_UPDATE_AFTER_BACKWARD, false, CLT_DTYPE_F32,
                              CLT_TIER_HOST, STEADY};
    clt_offload *off = make_engine(ctx, &c);
    ts_assert_status(clt_offload_set_comm(NULL, comm, false), CLT_ERR_INVALID_ARG);
    ts_assert_status(clt_offload_set_comm(off, NULL, false), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("comm");
    assert_int_equal(clt_offload_group_owner(off, 0), 0);
    assert_int_equal(clt_offload_group_owner(off, GROUPS), -1);
    assert_int_equal(clt_offload_group_owner(off, -1), -1);
    assert_int_equal(clt_offload_group_owner(NULL, 0), -1);
    clt_comm_stats st;
    ts_assert_ok(clt_offload_comm_stats(off, &st)); /* no comm: nothing communicated */
    assert_int_equal(st.collectives, 0);
    ts_assert_status(clt_offload_comm_stats(off, NULL), CLT_ERR_INVALID_ARG);
    ts_assert_ok(clt_offload_set_comm(off, comm, true));
    ts_assert_status(clt_offload_set_comm(off, comm, true), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("already");
    ts_assert_ok(clt_offload_plan(off, NULL));
    ts_assert_status(clt_offload_set_comm(off, comm, true), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("clt_offload_plan");
    for (int g = 0; g < GROUPS; g++) /* one rank owns everything */
        assert_int_equal(clt_offload_group_owner(off, g), 0);
    clt_offload_destroy(off);
    clt_context_destroy(ctx);
    clt_comm_destroy(comm);
}

/* ---- two ranks (mpirun -np 2 test_offload_dp mpi) -------------------------------------- */

/* |got - want| <= tol · max(|want|, 1) for every element: f32 sums taken in another
 * order where a step's micro-batch count grew. */
static void assert_close_masters(const struct dp_result *got, const struct dp_result *want,
                                 double tol, const char *what)
{
    if (!ts_close(got->masters, want->masters, TOTAL, tol, what))
        fail_msg("%s: masters differ from the one-process engine fed the mean gradient", what);
}

/* Every rank holds rank 0's bits. */
static void assert_ranks_agree(clt_comm *world, const void *mine, size_t bytes)
{
    unsigned char *root = malloc(bytes);
    assert_non_null(root);
    memcpy(root, mine, bytes);
    ts_assert_ok(clt_comm_bcast(world, root, bytes, 0));
    assert_memory_equal(root, mine, bytes);
    free(root);
}

static void test_ranks_match_mean_gradient(void **state)
{
    clt_comm *world = *state;
    const int size = clt_comm_size(world), rank = clt_comm_rank(world);
    struct dp_result *want = calloc(1, sizeof *want), *got = calloc(1, sizeof *got),
                     *whole = calloc(1, sizeof *whole);
    assert_true(want && got && whole);
    for (size_t k = 0; k < N_CASES; k++) {
        const struct dp_case *c = &cases[k];
        train(c, NULL, false, true, size, want);
        /* the same bits but where a step has more micro-batches than the last (sums in
         * another order); 8-bit states may round a code the other way there */
        const bool grows = c->update == CLT_OFFLOAD_UPDATE_AFTER_BACKWARD && c->accum == GROWS;
        const double tol = !grows ? 0 : c->q8 ? 2e-3 : 1e-5;
        for (int shard = 0; shard < 2; shard++) {
            char what[128];
            snprintf(what, sizeof what, "rank %d of %d: %s, shard %d", rank, size, c->name,
                     shard);
            print_message("%s\n", what);
            train(c, world, shard, false, size, shard ? got : whole);
            const struct dp_result *r = shard ? got : whole;
            assert_close_masters(r, want, tol, what);
            if (tol == 0) {
                assert_memory_equal(r->work, want->work, TOTAL * clt_dtype_size(c->work));
                /* the norm of the sum, not of the mean: size² times (exact for 2) */
                for (int q = 0; q < MAX_STEPS; q++)
                    assert_true(r->norms[q] == want->norms[q] * (float)(size * size));
            }
            assert_ranks_agree(world, r->masters, sizeof r->masters);
            assert_ranks_agree(world, r->work, TOTAL * clt_dtype_size(c->work));
            const uint64_t grads = (uint64_t)TOTAL * clt_dtype_size(c->work);
            assert_int_equal(r->comm.bytes_reduced, (uint64_t)reductions(c) * grads);
            /* each group's master from its owner once a step */
            assert_int_equal(r->comm.bytes_other, shard ? MAX_STEPS * (uint64_t)TOTAL * 4 : 0);
        }
        /* sharding changes nothing but where the state is */
        assert_memory_equal(got->masters, whole->masters, sizeof got->masters);
        /* about half the state on each rank, the halves adding up to the whole but for
         * the alignment between groups */
        const uint64_t all = whole->plan.state_bytes, mine = got->plan.state_bytes;
        assert_int_equal(want->plan.state_bytes, all);
        assert_true(mine > all / 4 && mine < all * 3 / 4);
        int32_t sum = (int32_t)mine;
        ts_assert_ok(clt_comm_allreduce(world, &sum, 1, CLT_DTYPE_I32, CLT_REDUCE_SUM));
        assert_true((uint64_t)sum <= all && (uint64_t)sum + 256u * (uint64_t)size > all);
        /* the owners: a contiguous split; this rank's groups' state is the unsharded
         * run's, byte for byte, and the others' is not here */
        for (int g = 0; g < GROUPS; g++) {
            assert_true(got->owner[g] >= 0 && got->owner[g] < size);
            assert_true(g == 0 || got->owner[g] >= got->owner[g - 1]);
            assert_int_equal(whole->owner[g], 0);
            const size_t *gs = got->group_state[g], *ws = whole->group_state[g];
            if (got->owner[g] != rank) {
                assert_int_equal(gs[1], 0);
                continue;
            }
            assert_int_equal(gs[1], ws[1]);
            assert_memory_equal(got->state + gs[0], whole->state + ws[0], ws[1]);
        }
        free(want->state);
        free(got->state);
        free(whole->state);
    }
    free(want);
    free(got);
    free(whole);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "mpi") == 0) {
        /* one MPI communicator for the whole run: MPI initialises once per process */
        clt_comm_opts co;
        clt_comm_opts_init(&co);
        co.timeout_s = 60; /* a rank whose assertion failed stops answering */
        clt_comm *world = NULL;
        if (clt_comm_create(&co, &world) != CLT_OK) {
            fprintf(stderr, "test_offload_dp: no MPI communicator: %s\n", clt_last_error());
            return 1;
        }
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_prestate(test_ranks_match_mean_gradient, world),
        };
        const int failed = cmocka_run_group_tests_name("offload_dp_mpi", tests, NULL, NULL);
        clt_comm_destroy(world);
        return failed;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_misuse),
        cmocka_unit_test(test_reduce_where_gradients_land),
        cmocka_unit_test(test_self_comm_same_bits),
    };
    return cmocka_run_group_tests_name("offload_dp", tests, NULL, NULL);
}
