/* The offload engine (clt/offload.h): groups and the plan's bytes per tier, which the
 * context's accounting must show exactly after plan(); a plan that does not fit fails
 * before allocating anything and names the tier; master values round-trip; one step of
 * AdamW (f32 and 8-bit states), SGD and LAMB, with f32 and bf16 working copies, gives
 * the same bits as the host optimizer op run directly on the same values, and the next
 * fetch brings that updated copy to the device (on every device); misuse is refused
 * with a sentence; NVME master tier: the same bits, a missing directory refused.
 * Eager updates: with a slowed gradient copy, group i's update runs during group i-1's
 * backward (and an after-backward schedule fails that check); eager and after-backward
 * give the same bits (f32 and q8 states, HOST and NVME masters, with accumulation); the
 * inf/NaN gate is per group. NVME read-ahead: the same bits as HOST masters over many
 * groups, with group i+1 read and group i-1 written while group i is updated. */
#include <math.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "support/support.h"

#define GROUPS 3

/* Three groups: [t0 5000 | t1 100], a resident [t0 300], [t0 4352 | t1 70]. Offsets on
 * 256-element boundaries, so 8-bit states start on a block. */
static const size_t group_numel[GROUPS] = {5376, 320, 4480};
static const clt_offload_tensor group_tensors[GROUPS][2] = {
    {{0, 5000, true}, {5120, 100, false}},
    {{0, 300, false}, {0, 0, false}},
    {{0, 4352, true}, {4352, 70, false}},
};
static const int group_count[GROUPS] = {2, 1, 2};

static clt_offload *make_engine(clt_context *ctx, const clt_offload_opts *o)
{
    clt_offload *off = NULL;
    ts_assert_ok(clt_offload_create(ctx, o, &off));
    for (int g = 0; g < GROUPS; g++) {
        int id = -1;
        ts_assert_ok(clt_offload_add_group(off, group_numel[g], group_tensors[g], group_count[g],
                                           g == 1, &id));
        assert_int_equal(id, g);
    }
    return off;
}

/* n streamed groups of numel elements, one decayed tensor each, planned. */
static clt_offload *planned_uniform_engine(clt_context *ctx, const clt_offload_opts *o, int n,
                                           size_t numel)
{
    clt_offload *off = NULL;
    ts_assert_ok(clt_offload_create(ctx, o, &off));
    const clt_offload_tensor whole = {0, numel, true};
    for (int g = 0; g < n; g++) {
        int id = -1;
        ts_assert_ok(clt_offload_add_group(off, numel, &whole, 1, false, &id));
        assert_int_equal(id, g);
    }
    ts_assert_ok(clt_offload_plan(off, NULL));
    return off;
}

static size_t total_numel(void) { return group_numel[0] + group_numel[1] + group_numel[2]; }

static void test_plan_bytes_match_accounting(void **state)
{
    (void)state;
    clt_context *ctx = ts_context("host");
    clt_offload_opts o;
    clt_offload_opts_init(&o);
    o.work_dtype = CLT_DTYPE_BF16;
    o.device_slots = 3;
    o.grad_slots = 1;
    clt_offload *off = make_engine(ctx, &o);
    clt_offload_plan_info dry, info;
    ts_assert_ok(clt_offload_plan_bytes(off, &dry));
    assert_int_equal(dry.groups, GROUPS);
    assert_int_equal(dry.params, total_numel());
    assert_int_equal(dry.master_bytes, total_numel() * 4);
    /* AdamW f32: m and v per element, each tensor's on a 256-byte boundary */
    const size_t in_tensors = 5000 + 100 + 300 + 4352 + 70;
    assert_true(dry.state_bytes >= in_tensors * 8);
    assert_true(dry.state_bytes < in_tensors * 8 + 5 * 2 * 256);
    /* 3 + 1 slots of the largest streamed group in bf16, and the resident group twice */
    assert_int_equal(dry.device_bytes, 4 * 5376 * 2 + 2 * 320 * 2);
    clt_stats before, after;
    ts_assert_ok(clt_context_stats(ctx, &before));
    ts_assert_ok(clt_offload_plan(off, &info));
    ts_assert_ok(clt_context_stats(ctx, &after));
    assert_memory_equal(&dry, &info, sizeof dry);
    for (int t = 0; t < CLT_TIER_COUNT; t++)
        assert_int_equal(after.mem_used[t] - before.mem_used[t], info.tier_bytes[t]);
    assert_int_equal(info.tier_bytes[CLT_TIER_HOST],
                     info.master_bytes + info.state_bytes + info.host_bytes);
    assert_int_equal(info.tier_bytes[CLT_TIER_NVME], 0);
    clt_offload_destroy(off);
    ts_assert_ok(clt_context_stats(ctx, &after));
    for (int t = 0; t < CLT_TIER_COUNT; t++)
        assert_int_equal(after.mem_used[t], before.mem_used[t]);
    clt_context_destroy(ctx);
}

static void test_plan_fails_before_allocating(void **state)
{
    (void)state;
    clt_context_opts co;
    clt_context_opts_init(&co);
    co.mem_budget[CLT_TIER_HOST] = 64 * 1024; /* the masters alone need 10176 · 4 · 3 */
    clt_context *ctx = NULL;
    ts_assert_ok(ts_context_open("host", &co, &ctx));
    clt_offload *off = make_engine(ctx, NULL);
    clt_stats before, after;
    ts_assert_ok(clt_context_stats(ctx, &before));
    ts_assert_status(clt_offload_plan(off, NULL), CLT_ERR_OUT_OF_MEMORY);
    ts_assert_error_mentions("tier HOST");
    ts_assert_error_mentions("NVME");
    ts_assert_error_mentions("65536 bytes");
    ts_assert_ok(clt_context_stats(ctx, &after));
    assert_memory_equal(before.mem_used, after.mem_used, sizeof before.mem_used);
    assert_memory_equal(before.mem_peak, after.mem_peak, sizeof before.mem_peak);
    /* nothing is usable before a plan */
    clt_tensor t;
    ts_assert_status(clt_offload_fetch(off, 0, &t), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("plan");
    clt_offload_destroy(off);

    /* the device tier likewise */
    clt_context_destroy(ctx);
    clt_context_opts_init(&co);
    co.mem_budget[CLT_TIER_DEVICE] = 4096;
    ts_assert_ok(ts_context_open("host", &co, &ctx));
    off = make_engine(ctx, NULL);
    ts_assert_status(clt_offload_plan(off, NULL), CLT_ERR_OUT_OF_MEMORY);
    ts_assert_error_mentions("tier DEVICE");
    clt_offload_destroy(off);
    clt_context_destroy(ctx);
}

static void test_bad_input(void **state)
{
    (void)state;
    clt_context *ctx = ts_context("host");
    clt_offload *off = NULL;
    clt_offload_opts o;
    clt_offload_opts_init(&o);
    o.device_slots = 1;
    ts_assert_status(clt_offload_create(ctx, &o, &off), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("device_slots");
    clt_offload_opts_init(&o);
    o.master_tier = CLT_TIER_DEVICE;
    ts_assert_status(clt_offload_create(ctx, &o, &off), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("master_tier");
    clt_offload_opts_init(&o);
    o.optimizer = CLT_OP_GEMM;
    ts_assert_status(clt_offload_create(ctx, &o, &off), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("optimizer");
    ts_assert_ok(clt_offload_create(ctx, NULL, &off));
    const clt_offload_tensor outside = {100, 50, false};
    int id;
    ts_assert_status(clt_offload_add_group(off, 120, &outside, 1, false, &id),
                     CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("outside");
    ts_assert_status(clt_offload_plan(off, NULL), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("no groups");
    const clt_offload_tensor whole = {0, 64, false};
    ts_assert_ok(clt_offload_add_group(off, 64, &whole, 1, false, &id));
    ts_assert_ok(clt_offload_plan(off, NULL));
    ts_assert_status(clt_offload_add_group(off, 64, &whole, 1, false, &id), CLT_ERR_INVALID_ARG);
    clt_tensor t;
    ts_assert_status(clt_offload_fetch(off, 1, &t), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("group 1");
    ts_assert_status(clt_offload_grads_ready(off, 0), CLT_ERR_INVALID_ARG);
    float norm;
    ts_assert_status(clt_offload_grad_sqnorm(off, &norm), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("no gradients");
    /* two streamed groups held in two slots: a third fetch has none */
    clt_offload_destroy(off);
    ts_assert_ok(clt_offload_create(ctx, NULL, &off));
    for (int g = 0; g < 3; g++)
        ts_assert_ok(clt_offload_add_group(off, 64, &whole, 1, false, &id));
    ts_assert_ok(clt_offload_plan(off, NULL));
    ts_assert_ok(clt_offload_fetch(off, 0, &t));
    ts_assert_ok(clt_offload_fetch(off, 1, &t));
    ts_assert_status(clt_offload_fetch(off, 2, &t), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("slots");
    ts_assert_ok(clt_offload_release(off, 0));
    ts_assert_ok(clt_offload_fetch(off, 2, &t));
    clt_offload_destroy(off);
    clt_offload_destroy(NULL);
    clt_context_destroy(ctx);
}

static void test_master_round_trip(void **state)
{
    (void)state;
    clt_context *ctx = ts_context("host");
    clt_offload *off = make_engine(ctx, NULL);
    ts_assert_ok(clt_offload_plan(off, NULL));
    ts_rng rng;
    ts_rng_seed(&rng, 7);
    const size_t total = total_numel();
    float *all = malloc(total * 4), *back = malloc(total * 4);
    ts_fill_floats(&rng, all, total, -2, 2);
    size_t at = 0;
    for (int g = 0; g < GROUPS; g++) {
        ts_assert_ok(clt_offload_set_master(off, g, all + at));
        at += group_numel[g];
    }
    at = 0;
    for (int g = 0; g < GROUPS; g++) {
        ts_assert_ok(clt_offload_get_master(off, g, back + at));
        at += group_numel[g];
    }
    assert_memory_equal(all, back, total * 4);
    /* the whole layout, through the buffer checkpoints read */
    clt_buffer *mb = clt_offload_master_buffer(off);
    assert_int_equal(clt_buffer_size(mb), total * 4);
    assert_int_equal(clt_buffer_tier(mb), CLT_TIER_HOST);
    ts_assert_buffer_equals(mb, all, total * 4);
    free(all);
    free(back);
    clt_offload_destroy(off);
    clt_context_destroy(ctx);
}

/* ---- one step against the host op ---------------------------------------------------- */

struct step_case {
    clt_op_kind kind;
    bool q8;
    clt_dtype work;
    clt_tier master;
};

/* The host optimizer op on host-context DEVICE buffers: the reference. */
static void reference_step(const struct step_case *c, const clt_offload_opts *o, float *master,
                           const void *grads, void *work_out, float lr, float scale)
{
    clt_context *ctx = ts_context("host");
    const size_t es = clt_dtype_size(c->work);
    size_t at = 0;
    for (int g = 0; g < GROUPS; g++) {
        for (int t = 0; t < group_count[g]; t++) {
            const clt_offload_tensor *x = &group_tensors[g][t];
            const size_t n = x->numel, off = at + x->offset;
            const bool q8 = c->q8 && n >= CLT_Q8_MIN_ELEMENTS;
            const size_t blocks = (n + 255) / 256, sb = q8 ? n : n * 4;
            clt_buffer *p = ts_buffer(ctx, CLT_TIER_DEVICE, n * 4, master + off);
            clt_buffer *gb = ts_buffer(ctx, CLT_TIER_DEVICE, n * es, (const char *)grads + off * es);
            void *zeros = calloc(1, sb > blocks * 4 ? sb : blocks * 4);
            clt_buffer *m = ts_buffer(ctx, CLT_TIER_DEVICE, sb, zeros);
            clt_buffer *v = ts_buffer(ctx, CLT_TIER_DEVICE, sb, zeros);
            clt_buffer *ma = ts_buffer(ctx, CLT_TIER_DEVICE, blocks * 4, zeros);
            clt_buffer *va = ts_buffer(ctx, CLT_TIER_DEVICE, blocks * 4, zeros);
            clt_buffer *cp = ts_buffer(ctx, CLT_TIER_DEVICE, n * es, NULL);
            const int64_t shape[1] = {(int64_t)n}, bshape[1] = {(int64_t)blocks};
            const clt_dtype sd = q8 ? CLT_DTYPE_U8 : CLT_DTYPE_F32;
            clt_tensor tp, tg, tm, tv, tma, tva, tc;
            memset(&tma, 0, sizeof tma);
            memset(&tva, 0, sizeof tva);
            memset(&tc, 0, sizeof tc);
            ts_assert_ok(clt_tensor_init(&tp, p, 0, CLT_DTYPE_F32, 1, shape));
            ts_assert_ok(clt_tensor_init(&tg, gb, 0, c->work, 1, shape));
            ts_assert_ok(clt_tensor_init(&tm, m, 0, sd, 1, shape));
            ts_assert_ok(clt_tensor_init(&tv, v, 0, sd, 1, shape));
            if (q8) {
                ts_assert_ok(clt_tensor_init(&tma, ma, 0, CLT_DTYPE_F32, 1, bshape));
                ts_assert_ok(clt_tensor_init(&tva, va, 0, CLT_DTYPE_F32, 1, bshape));
            }
            if (c->work != CLT_DTYPE_F32)
                ts_assert_ok(clt_tensor_init(&tc, cp, 0, c->work, 1, shape));
            clt_optim_hparams h = o->hparams;
            h.lr = lr;
            h.step = 1;
            h.grad_scale = scale;
            h.weight_decay = x->decay ? o->hparams.weight_decay : 0.0f;
            clt_op op;
            memset(&op, 0, sizeof op);
            op.kind = c->kind;
            if (c->kind == CLT_OP_SGD)
                op.u.sgd = (clt_sgd_args){.param = tp, .grad = tg, .momentum = tm,
                                          .momentum_absmax = tma, .param_copy = tc, .h = h};
            else
                op.u.adamw = (clt_adamw_args){.param = tp, .grad = tg, .m = tm, .v = tv,
                                              .m_absmax = tma, .v_absmax = tva,
                                              .param_copy = tc, .h = h};
            ts_assert_ok(clt_op_run(ctx, &op, NULL));
            ts_assert_ok(clt_buffer_read(p, 0, master + off, n * 4, NULL));
            if (c->work != CLT_DTYPE_F32)
                ts_assert_ok(clt_buffer_read(cp, 0, (char *)work_out + off * es, n * es, NULL));
            else
                memcpy((char *)work_out + off * 4, master + off, n * 4);
            free(zeros);
            clt_buffer *bufs[] = {p, gb, m, v, ma, va, cp};
            for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
                clt_buffer_destroy(bufs[i]);
        }
        at += group_numel[g];
    }
    clt_context_destroy(ctx);
}

static void run_step_case(const char *device, const struct step_case *c)
{
    clt_context *ctx = ts_context(device);
    clt_offload_opts o;
    clt_offload_opts_init(&o);
    o.optimizer = c->kind;
    o.q8_states = c->q8;
    o.work_dtype = c->work;
    o.master_tier = c->master;
    o.hparams.weight_decay = 0.1f;
    if (c->kind == CLT_OP_SGD)
        o.hparams.beta1 = 0.9f;
    clt_offload *off = make_engine(ctx, &o);
    ts_assert_ok(clt_offload_plan(off, NULL));
    const size_t total = total_numel(), es = clt_dtype_size(c->work);
    ts_rng rng;
    ts_rng_seed(&rng, 42 + (uint64_t)c->kind);
    float *master = malloc(total * 4), *g32 = malloc(total * 4), *got = malloc(total * 4);
    void *grads = malloc(total * 4), *work_want = malloc(total * 4), *work_got = malloc(total * 4);
    ts_fill_floats(&rng, master, total, -1, 1);
    ts_fill_floats(&rng, g32, total, -0.5f, 0.5f);
    ts_assert_ok(clt_convert(c->work, grads, CLT_DTYPE_F32, g32, total));
    size_t at = 0;
    for (int g = 0; g < GROUPS; g++) {
        ts_assert_ok(clt_offload_set_master(off, g, master + at));
        at += group_numel[g];
    }
    /* a pass: fetch, gradients into the device slot, ready, release */
    at = 0;
    for (int g = 0; g < GROUPS; g++) {
        clt_tensor w, gr;
        ts_assert_ok(clt_offload_fetch(off, g, &w));
        ts_assert_ok(clt_offload_grad(off, g, false, &gr));
        assert_int_equal(gr.shape[0], group_numel[g]);
        ts_assert_ok(clt_buffer_write(gr.buf, gr.offset, (const char *)grads + at * es,
                                      group_numel[g] * es, NULL));
        ts_assert_ok(clt_offload_grads_ready(off, g));
        ts_assert_ok(clt_offload_release(off, g));
        at += group_numel[g];
    }
    float norm = 0;
    ts_assert_ok(clt_offload_grad_sqnorm(off, &norm));
    double want_norm = 0;
    {
        float *back = malloc(total * 4);
        ts_assert_ok(clt_convert(CLT_DTYPE_F32, back, c->work, grads, total));
        for (size_t i = 0; i < total; i++)
            want_norm += (double)back[i] * back[i];
        free(back);
    }
    assert_true(fabs(norm - want_norm) <= 1e-4 * want_norm);
    ts_assert_ok(clt_offload_step(off, 1e-2f, 1, 0.5f));
    /* the next fetch waits for each group's update and brings the new copy */
    at = 0;
    for (int g = 0; g < GROUPS; g++) {
        clt_tensor w;
        ts_assert_ok(clt_offload_fetch(off, g, &w));
        ts_assert_ok(clt_buffer_read(w.buf, w.offset, (char *)work_got + at * es,
                                     group_numel[g] * es, NULL));
        ts_assert_ok(clt_offload_release(off, g));
        ts_assert_ok(clt_offload_get_master(off, g, got + at));
        at += group_numel[g];
    }
    ts_assert_ok(clt_offload_wait(off));
    /* padding between tensors keeps its first working copy */
    ts_assert_ok(clt_convert(c->work, work_want, CLT_DTYPE_F32, master, total));
    reference_step(c, &o, master, grads, work_want, 1e-2f, 0.5f);
    assert_memory_equal(got, master, total * 4);
    assert_memory_equal(work_got, work_want, total * es);
    /* the state is where clt_offload_state says: m moved away from zero */
    clt_tensor st[4];
    int n = 0;
    ts_assert_ok(clt_offload_state(off, 0, 0, st, &n));
    assert_int_equal(n, c->kind == CLT_OP_SGD ? (c->q8 ? 2 : 1) : (c->q8 ? 4 : 2));
    unsigned char probe[64];
    ts_assert_ok(clt_buffer_read(st[0].buf, st[0].offset, probe, sizeof probe, NULL));
    bool moved = false;
    for (size_t i = 0; i < sizeof probe; i++)
        moved = moved || probe[i] != 0;
    assert_true(moved);
    clt_offload_stats stats;
    ts_assert_ok(clt_offload_get_stats(off, &stats));
    assert_int_equal(stats.bytes_from_device, total * es);
    /* the resident group and both streamed ones uploaded twice (set, then updated) */
    assert_int_equal(stats.bytes_to_device, 2 * total * es);
    assert_true(stats.optim_s > 0);
    if (c->master == CLT_TIER_NVME) {
        assert_true(stats.bytes_nvme_read >= total * 4);
        assert_true(stats.bytes_nvme_write >= total * 4);
    }
    free(master);
    free(g32);
    free(got);
    free(grads);
    free(work_want);
    free(work_got);
    clt_offload_destroy(off);
    clt_context_destroy(ctx);
}

static void test_step_matches_host_op(void **state)
{
    const char *device = *state;
    const struct step_case cases[] = {
        {CLT_OP_ADAMW, false, CLT_DTYPE_F32, CLT_TIER_HOST},
        {CLT_OP_ADAMW, true, CLT_DTYPE_BF16, CLT_TIER_HOST},
        {CLT_OP_ADAMW, false, CLT_DTYPE_F16, CLT_TIER_HOST},
        {CLT_OP_SGD, false, CLT_DTYPE_F32, CLT_TIER_HOST},
        {CLT_OP_SGD, true, CLT_DTYPE_BF16, CLT_TIER_HOST},
        {CLT_OP_LAMB, false, CLT_DTYPE_BF16, CLT_TIER_HOST},
        {CLT_OP_ADAMW, false, CLT_DTYPE_F32, CLT_TIER_NVME},
        {CLT_OP_ADAMW, true, CLT_DTYPE_BF16, CLT_TIER_NVME},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        print_message("%s: %s q8 %d %s master %s\n", device, clt_op_name(cases[i].kind),
                      cases[i].q8, clt_dtype_name(cases[i].work), clt_tier_name(cases[i].master));
        run_step_case(device, &cases[i]);
    }
}

/* ---- overlap: the optimizer of group i runs while the next step fetches group j < i -- */

#define TRACE_MAX 256

struct trace_log {
    pthread_mutex_t lock;
    pthread_cond_t fetched;
    bool step2_fetched_group0;
    int n;
    struct {
        clt_offload_event ev;
        int group;
        int64_t step;
        double t;
    } e[TRACE_MAX];
};

static void record(void *user, clt_offload_event ev, int group, int64_t step, double t)
{
    struct trace_log *log = user;
    if (ev == CLT_OFFLOAD_OPTIM_BEGIN)
        usleep(20000); /* a slow host optimizer: 20 ms a group */
    pthread_mutex_lock(&log->lock);
    if (ev == CLT_OFFLOAD_FETCH && group == 0 && step == 2) {
        log->step2_fetched_group0 = true;
        pthread_cond_broadcast(&log->fetched);
    }
    if (ev == CLT_OFFLOAD_OPTIM_BEGIN && group == 1 && step == 1) {
        /* Step 1's update of group 1 holds until step 2 has fetched group 0, so the test
         * does not depend on the scheduler: an engine that made the fetch wait for the
         * whole step would leave this waiting out its 10 s, and the test fails. */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 10;
        while (!log->step2_fetched_group0 &&
               pthread_cond_timedwait(&log->fetched, &log->lock, &until) == 0) {
        }
    }
    if (log->n < TRACE_MAX)
        log->e[log->n++] = (__typeof__(log->e[0])){ev, group, step, t};
    pthread_mutex_unlock(&log->lock);
}

static double when(const struct trace_log *log, clt_offload_event ev, int group, int64_t step)
{
    for (int i = 0; i < log->n; i++)
        if (log->e[i].ev == ev && log->e[i].group == group && log->e[i].step == step)
            return log->e[i].t;
    fail_msg("no %s of group %d at step %lld in the trace", clt_offload_event_name(ev), group,
             (long long)step);
    return 0;
}

static void test_optimizer_overlaps_next_forward(void **state)
{
    (void)state;
    enum { N = 4, NUMEL = 4096 };
    struct trace_log log = {.n = 0};
    pthread_mutex_init(&log.lock, NULL);
    pthread_cond_init(&log.fetched, NULL);
    clt_context *ctx = ts_context("host");
    clt_offload_opts o;
    clt_offload_opts_init(&o);
    o.trace = record;
    o.trace_user = &log;
    clt_offload *off = planned_uniform_engine(ctx, &o, N, NUMEL);
    float *grads = calloc(NUMEL, 4);
    ts_fill_value(grads, NUMEL, 0.25f);
    for (int step = 1; step <= 2; step++) {
        for (int g = 0; g < N; g++) { /* a forward pass: each group in turn */
            clt_tensor w;
            ts_assert_ok(clt_offload_fetch(off, g, &w));
            ts_assert_ok(clt_offload_release(off, g));
        }
        for (int g = N - 1; g >= 0; g--) { /* the backward pass */
            clt_tensor w, gr;
            ts_assert_ok(clt_offload_fetch(off, g, &w));
            ts_assert_ok(clt_offload_grad(off, g, false, &gr));
            ts_assert_ok(clt_buffer_write(gr.buf, gr.offset, grads, NUMEL * 4, NULL));
            ts_assert_ok(clt_offload_grads_ready(off, g));
            ts_assert_ok(clt_offload_release(off, g));
        }
        float norm;
        ts_assert_ok(clt_offload_grad_sqnorm(off, &norm));
        ts_assert_ok(clt_offload_step(off, 1e-3f, step, 1.0f));
    }
    ts_assert_ok(clt_offload_wait(off));
    /* step 2's forward fetched group 0 after step 1's update of group 0 and while the
     * worker was still updating a later group of step 1 */
    const double fetch0 = when(&log, CLT_OFFLOAD_FETCH, 0, 2);
    assert_true(fetch0 >= when(&log, CLT_OFFLOAD_OPTIM_END, 0, 1));
    /* step 1's update of group 1 ended after that fetch: the next forward began while
     * the optimizer of the step before was still running */
    assert_true(fetch0 < when(&log, CLT_OFFLOAD_OPTIM_END, 1, 1));
    /* and every fetch of a group waited for that group's update only */
    for (int g = 0; g < N; g++)
        assert_true(when(&log, CLT_OFFLOAD_FETCH, g, 2) >= when(&log, CLT_OFFLOAD_OPTIM_END, g, 1));
    clt_offload_stats st;
    ts_assert_ok(clt_offload_get_stats(off, &st));
    assert_true(st.fetch_wait_s > 0.015); /* group 0 waited for its 20 ms update */
    free(grads);
    clt_offload_destroy(off);
    clt_context_destroy(ctx);
    pthread_mutex_destroy(&log.lock);
    pthread_cond_destroy(&log.fetched);
}

/* ---- eager update: the optimizer of group i runs during the backward of group i-1 -- */

/* Trace entries of the engine and of the test itself, in the order they happened (one
 * lock orders them; the engine's and the test's clocks are not compared). */
enum { BACKWARD_END = 100 }; /* the test's own entry: a group's simulated backward ends */
#define TIMELINE_MAX 1024

struct timeline {
    pthread_mutex_t lock;
    pthread_cond_t grew;
    unsigned copy_delay_us;  /* the instrumented slow copy: a sleep at GRADS_READY */
    bool wait_read_ahead;    /* OPTIM_BEGIN(i) holds until NVME_READ(i+1) of its step, */
    int last_group;          /* or for this group, updated last, NVME_WRITE(i-1) */
    double read_ahead_timeout_s;
    int n;
    struct {
        int ev, group;
        int64_t step;
    } e[TIMELINE_MAX];
};

static void timeline_init(struct timeline *tl)
{
    memset(tl, 0, sizeof *tl);
    pthread_mutex_init(&tl->lock, NULL);
    pthread_cond_init(&tl->grew, NULL);
}

static void timeline_destroy(struct timeline *tl)
{
    pthread_mutex_destroy(&tl->lock);
    pthread_cond_destroy(&tl->grew);
}

static void timeline_add(struct timeline *tl, int ev, int group, int64_t step)
{
    pthread_mutex_lock(&tl->lock);
    if (tl->n < TIMELINE_MAX)
        tl->e[tl->n++] = (__typeof__(tl->e[0])){ev, group, step};
    pthread_cond_broadcast(&tl->grew);
    pthread_mutex_unlock(&tl->lock);
}

/* Where (ev, group, step) is in the timeline, -1 if absent. */
static int timeline_at_locked(const struct timeline *tl, int ev, int group, int64_t step)
{
    for (int i = 0; i < tl->n; i++)
        if (tl->e[i].ev == ev && tl->e[i].group == group && tl->e[i].step == step)
            return i;
    return -1;
}

static int timeline_at(struct timeline *tl, int ev, int group, int64_t step)
{
    pthread_mutex_lock(&tl->lock);
    const int i = timeline_at_locked(tl, ev, group, step);
    pthread_mutex_unlock(&tl->lock);
    return i;
}

/* Waits up to timeout_s for (ev, group, step) to be recorded; whether it was. */
static bool timeline_wait(struct timeline *tl, int ev, int group, int64_t step,
                          double timeout_s)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    const long ns = until.tv_nsec + (long)((timeout_s - (long)timeout_s) * 1e9);
    until.tv_sec += (time_t)timeout_s + ns / 1000000000L;
    until.tv_nsec = ns % 1000000000L;
    pthread_mutex_lock(&tl->lock);
    int r = 0;
    while (timeline_at_locked(tl, ev, group, step) < 0 && r == 0)
        r = pthread_cond_timedwait(&tl->grew, &tl->lock, &until);
    const bool seen = timeline_at_locked(tl, ev, group, step) >= 0;
    pthread_mutex_unlock(&tl->lock);
    return seen;
}

static void timeline_record(void *user, clt_offload_event ev, int group, int64_t step,
                            double t)
{
    (void)t;
    struct timeline *tl = user;
    if (ev == CLT_OFFLOAD_GRADS_READY && tl->copy_delay_us)
        usleep(tl->copy_delay_us);
    timeline_add(tl, (int)ev, group, step);
    /* Staging that overlaps the update is done or under way by its end: the I/O thread
     * writes group i-1 back, then reads group i+1 into the buffer that frees. */
    if (ev == CLT_OFFLOAD_OPTIM_BEGIN && tl->wait_read_ahead && group != tl->last_group)
        (void)timeline_wait(tl, CLT_OFFLOAD_NVME_READ, group + 1, step,
                            tl->read_ahead_timeout_s);
    else if (ev == CLT_OFFLOAD_OPTIM_BEGIN && tl->wait_read_ahead && group > 0)
        (void)timeline_wait(tl, CLT_OFFLOAD_NVME_WRITE, group - 1, step,
                            tl->read_ahead_timeout_s);
}

/* Two steps of N streamed groups; the simulated backward of group g-1 lasts until the
 * update of group g has ended, or `timeout_s` (after one timeout it waits no more).
 * Returns whether, in both steps, every group's update i began after its gradients were
 * handed over and ended before the backward of group i-1 did. */
static bool backward_overlaps_optimizer(const char *device, clt_offload_update mode,
                                        double timeout_s)
{
    enum { N = 5, NUMEL = 8192, STEPS = 2 };
    struct timeline tl;
    timeline_init(&tl);
    tl.copy_delay_us = 5000;
    clt_context *ctx = ts_context(device);
    clt_offload_opts o;
    clt_offload_opts_init(&o);
    o.update = mode;
    o.trace = timeline_record;
    o.trace_user = &tl;
    clt_offload *off = planned_uniform_engine(ctx, &o, N, NUMEL);
    float *grads = malloc(NUMEL * 4);
    ts_fill_value(grads, NUMEL, 0.25f);
    bool waiting = true;
    for (int64_t step = 1; step <= STEPS; step++) {
        for (int g = 0; g < N; g++) {
            clt_tensor w;
            ts_assert_ok(clt_offload_fetch(off, g, &w));
            ts_assert_ok(clt_offload_release(off, g));
        }
        if (mode == CLT_OFFLOAD_UPDATE_EAGER)
            ts_assert_ok(clt_offload_begin_step(off, 1e-3f, step, 1.0f));
        for (int g = N - 1; g >= 0; g--) {
            clt_tensor w, gr;
            ts_assert_ok(clt_offload_fetch(off, g, &w));
            ts_assert_ok(clt_offload_grad(off, g, false, &gr));
            ts_assert_ok(clt_buffer_write(gr.buf, gr.offset, grads, NUMEL * 4, NULL));
            if (g < N - 1 && waiting)
                waiting = timeline_wait(&tl, CLT_OFFLOAD_OPTIM_END, g + 1, step, timeout_s);
            timeline_add(&tl, BACKWARD_END, g, step);
            ts_assert_ok(clt_offload_grads_ready(off, g));
            ts_assert_ok(clt_offload_release(off, g));
        }
        float norm = 0;
        ts_assert_ok(clt_offload_grad_sqnorm(off, &norm));
        assert_float_equal(norm, N * NUMEL * 0.0625f, 1e-3f * norm);
        if (mode == CLT_OFFLOAD_UPDATE_AFTER_BACKWARD)
            ts_assert_ok(clt_offload_step(off, 1e-3f, step, 1.0f));
    }
    ts_assert_ok(clt_offload_wait(off));
    bool overlapped = true;
    for (int64_t step = 1; step <= STEPS; step++) {
        for (int g = N - 1; g >= 1; g--) {
            const int ready = timeline_at(&tl, CLT_OFFLOAD_GRADS_READY, g, step);
            const int begin = timeline_at(&tl, CLT_OFFLOAD_OPTIM_BEGIN, g, step);
            const int end = timeline_at(&tl, CLT_OFFLOAD_OPTIM_END, g, step);
            const int bw_end = timeline_at(&tl, BACKWARD_END, g - 1, step);
            assert_true(ready >= 0 && begin >= 0 && end >= 0 && bw_end >= 0);
            assert_true(begin > ready && end > begin);
            overlapped = overlapped && end < bw_end;
        }
    }
    /* either way each group is updated once a step, and its update precedes its next
     * fetch */
    assert_int_equal(timeline_at(&tl, CLT_OFFLOAD_OPTIM_BEGIN, 0, STEPS + 1), -1);
    free(grads);
    clt_offload_destroy(off);
    clt_context_destroy(ctx);
    timeline_destroy(&tl);
    return overlapped;
}

static void test_eager_overlaps_backward(void **state)
{
    const char *device = *state;
    assert_true(backward_overlaps_optimizer(device, CLT_OFFLOAD_UPDATE_EAGER, 10.0));
    /* the control: a schedule that updates after the backward cannot pass */
    assert_false(backward_overlaps_optimizer(device, CLT_OFFLOAD_UPDATE_AFTER_BACKWARD, 0.3));
}

/* ---- eager and after-backward: the same bits ------------------------------------------ */

struct train_case {
    clt_offload_update update;
    clt_tier master;
    bool q8;
    clt_dtype work;
};

enum { TRAIN_STEPS = 3, TRAIN_ACCUM = 2 };

/* The gradients of micro-batch a of a step, summed over a' <= a (what accumulation on
 * the device would hold), as work dtype. */
static void micro_grads(uint64_t step, int a, clt_dtype work, void *out, size_t n)
{
    float *sum = calloc(n, 4), *x = malloc(n * 4);
    for (int b = 0; b <= a; b++) {
        ts_rng rng;
        ts_rng_seed(&rng, 1000 * step + (uint64_t)b);
        ts_fill_floats(&rng, x, n, -0.5f, 0.5f);
        for (size_t i = 0; i < n; i++)
            sum[i] += x[i];
    }
    ts_assert_ok(clt_convert(work, out, CLT_DTYPE_F32, sum, n));
    free(sum);
    free(x);
}

/* TRAIN_STEPS steps of TRAIN_ACCUM micro-batches on the three-group engine; writes the
 * masters, the working copies (fetched back) and each step's gradient sqnorm. */
static void train(const char *device, const struct train_case *c, float *masters, void *work,
                  float norms[TRAIN_STEPS])
{
    clt_context *ctx = ts_context(device);
    clt_offload_opts o;
    clt_offload_opts_init(&o);
    o.update = c->update;
    o.master_tier = c->master;
    o.q8_states = c->q8;
    o.work_dtype = c->work;
    o.hparams.weight_decay = 0.1f;
    clt_offload *off = make_engine(ctx, &o);
    ts_assert_ok(clt_offload_plan(off, NULL));
    const size_t total = total_numel(), es = clt_dtype_size(c->work);
    ts_rng rng;
    ts_rng_seed(&rng, 5);
    ts_fill_floats(&rng, masters, total, -1, 1);
    size_t at = 0;
    for (int g = 0; g < GROUPS; g++) {
        ts_assert_ok(clt_offload_set_master(off, g, masters + at));
        at += group_numel[g];
    }
    void *grads = malloc(total * 4);
    for (int64_t step = 1; step <= TRAIN_STEPS; step++) {
        const float lr = 1e-2f / (float)step;
        for (int g = 0; g < GROUPS; g++) {
            clt_tensor w;
            ts_assert_ok(clt_offload_fetch(off, g, &w));
            ts_assert_ok(clt_offload_release(off, g));
        }
        for (int a = 0; a < TRAIN_ACCUM; a++) {
            if (c->update == CLT_OFFLOAD_UPDATE_EAGER && a == TRAIN_ACCUM - 1)
                ts_assert_ok(clt_offload_begin_step(off, lr, step, 1.0f));
            micro_grads((uint64_t)step, a, c->work, grads, total);
            at = total;
            for (int g = GROUPS - 1; g >= 0; g--) {
                at -= group_numel[g];
                clt_tensor w, gr;
                ts_assert_ok(clt_offload_fetch(off, g, &w));
                ts_assert_ok(clt_offload_grad(off, g, a > 0, &gr));
                ts_assert_ok(clt_buffer_write(gr.buf, gr.offset, (char *)grads + at * es,
                                              group_numel[g] * es, NULL));
                ts_assert_ok(clt_offload_grads_ready(off, g));
                ts_assert_ok(clt_offload_release(off, g));
            }
        }
        ts_assert_ok(clt_offload_grad_sqnorm(off, &norms[step - 1]));
        if (c->update == CLT_OFFLOAD_UPDATE_AFTER_BACKWARD)
            ts_assert_ok(clt_offload_step(off, lr, step, 1.0f));
    }
    at = 0;
    for (int g = 0; g < GROUPS; g++) {
        clt_tensor w;
        ts_assert_ok(clt_offload_fetch(off, g, &w));
        ts_assert_ok(clt_buffer_read(w.buf, w.offset, (char *)work + at * es,
                                     group_numel[g] * es, NULL));
        ts_assert_ok(clt_offload_release(off, g));
        ts_assert_ok(clt_offload_get_master(off, g, masters + at));
        at += group_numel[g];
    }
    int skipped = -1;
    ts_assert_ok(clt_offload_skipped(off, &skipped, NULL));
    assert_int_equal(skipped, 0);
    free(grads);
    clt_offload_destroy(off);
    clt_context_destroy(ctx);
}

static void test_eager_matches_after_backward(void **state)
{
    const char *device = *state;
    const struct {
        bool q8;
        clt_dtype work;
    } kinds[] = {{false, CLT_DTYPE_F32}, {true, CLT_DTYPE_BF16}};
    const size_t total = total_numel();
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        const struct train_case want_case = {CLT_OFFLOAD_UPDATE_AFTER_BACKWARD, CLT_TIER_HOST,
                                             kinds[k].q8, kinds[k].work};
        float *want = malloc(total * 4), *got = malloc(total * 4);
        void *want_work = malloc(total * 4), *got_work = malloc(total * 4);
        float want_norms[TRAIN_STEPS], got_norms[TRAIN_STEPS];
        train(device, &want_case, want, want_work, want_norms);
        const clt_tier masters[] = {CLT_TIER_HOST, CLT_TIER_NVME};
        for (int m = 0; m < 2; m++) {
            print_message("%s: eager, q8 %d, %s, master %s\n", device, kinds[k].q8,
                          clt_dtype_name(kinds[k].work), clt_tier_name(masters[m]));
            const struct train_case c = {CLT_OFFLOAD_UPDATE_EAGER, masters[m], kinds[k].q8,
                                         kinds[k].work};
            train(device, &c, got, got_work, got_norms);
            assert_memory_equal(got, want, total * 4);
            assert_memory_equal(got_work, want_work, total * clt_dtype_size(kinds[k].work));
            assert_memory_equal(got_norms, want_norms, sizeof want_norms);
        }
        free(want);
        free(got);
        free(want_work);
        free(got_work);
    }
}

/* ---- eager: the inf/NaN gate is per group, and misuse is refused ---------------------- */

/* One eager step in which group `bad` (-1: none) has an inf among its gradients. */
static void eager_step(clt_offload *off, int64_t step, int bad, float *norm)
{
    const size_t total = total_numel();
    float *grads = malloc(total * 4);
    ts_rng rng;
    ts_rng_seed(&rng, (uint64_t)step);
    ts_fill_floats(&rng, grads, total, -0.5f, 0.5f);
    ts_assert_ok(clt_offload_begin_step(off, 1e-2f, step, 1.0f));
    size_t at = total;
    for (int g = GROUPS - 1; g >= 0; g--) {
        at -= group_numel[g];
        if (g == bad)
            grads[at + 7] = INFINITY;
        clt_tensor w, gr;
        ts_assert_ok(clt_offload_fetch(off, g, &w));
        ts_assert_ok(clt_offload_grad(off, g, false, &gr));
        ts_assert_ok(clt_buffer_write(gr.buf, gr.offset, grads + at, group_numel[g] * 4, NULL));
        ts_assert_ok(clt_offload_grads_ready(off, g));
        ts_assert_ok(clt_offload_release(off, g));
    }
    ts_assert_ok(clt_offload_grad_sqnorm(off, norm));
    free(grads);
}

static void get_masters(clt_offload *off, float *out)
{
    size_t at = 0;
    for (int g = 0; g < GROUPS; g++) {
        ts_assert_ok(clt_offload_get_master(off, g, out + at));
        at += group_numel[g];
    }
}

static void test_eager_gate_per_group(void **state)
{
    (void)state;
    clt_context *ctx = ts_context("host");
    clt_offload_opts o;
    clt_offload_opts_init(&o);
    o.update = CLT_OFFLOAD_UPDATE_EAGER;
    clt_offload *off = make_engine(ctx, &o);
    ts_assert_ok(clt_offload_plan(off, NULL));
    const size_t total = total_numel();
    float *before = malloc(total * 4), *after = malloc(total * 4);
    float norm = 0;
    eager_step(off, 1, -1, &norm);
    assert_true(isfinite(norm));
    get_masters(off, before);
    eager_step(off, 2, 2, &norm);
    assert_true(isinf(norm)); /* the global value still says so */
    int n = -1;
    bool which[GROUPS];
    ts_assert_ok(clt_offload_skipped(off, &n, which));
    assert_int_equal(n, 1);
    assert_true(!which[0] && !which[1] && which[2]);
    get_masters(off, after);
    /* group 2 kept its values, the others moved */
    const size_t g2 = group_numel[0] + group_numel[1];
    assert_memory_equal(after + g2, before + g2, group_numel[2] * 4);
    assert_memory_not_equal(after, before, group_numel[0] * 4);
    assert_memory_not_equal(after + group_numel[0], before + group_numel[0], group_numel[1] * 4);
    /* the next clean step updates every group again */
    eager_step(off, 3, -1, &norm);
    ts_assert_ok(clt_offload_skipped(off, &n, which));
    assert_int_equal(n, 0);
    free(before);
    free(after);
    clt_offload_destroy(off);
    clt_context_destroy(ctx);
}

static void test_eager_misuse(void **state)
{
    (void)state;
    clt_context *ctx = ts_context("host");
    clt_offload_opts o;
    clt_offload_opts_init(&o);
    o.update = (clt_offload_update)7;
    clt_offload *off = NULL;
    ts_assert_status(clt_offload_create(ctx, &o, &off), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("update");
    /* begin_step belongs to eager mode, step to after-backward */
    off = make_engine(ctx, NULL);
    ts_assert_ok(clt_offload_plan(off, NULL));
    ts_assert_status(clt_offload_begin_step(off, 1e-3f, 1, 1.0f), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("AFTER_BACKWARD");
    clt_offload_destroy(off);
    o.update = CLT_OFFLOAD_UPDATE_EAGER;
    off = make_engine(ctx, &o);
    ts_assert_ok(clt_offload_plan(off, NULL));
    ts_assert_status(clt_offload_begin_step(off, NAN, 1, 1.0f), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("lr");
    ts_assert_status(clt_offload_begin_step(off, 1e-3f, 0, 1.0f), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("step");
    float norm;
    eager_step(off, 1, -1, &norm);
    ts_assert_ok(clt_offload_begin_step(off, 1e-3f, 2, 1.0f));
    clt_tensor w, gr;
    ts_assert_ok(clt_offload_fetch(off, 2, &w));
    ts_assert_ok(clt_offload_grad(off, 2, false, &gr));
    ts_assert_ok(clt_offload_grads_ready(off, 2));
    /* a step under way: its gradients are not all handed over */
    ts_assert_status(clt_offload_grad_sqnorm(off, &norm), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("under way");
    ts_assert_status(clt_offload_begin_step(off, 1e-3f, 3, 1.0f), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("group 0");
    ts_assert_ok(clt_offload_grad(off, 2, false, &gr));
    ts_assert_status(clt_offload_grads_ready(off, 2), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("already");
    ts_assert_ok(clt_offload_release(off, 2));
    for (int g = 1; g >= 0; g--) {
        ts_assert_ok(clt_offload_fetch(off, g, &w));
        ts_assert_ok(clt_offload_grad(off, g, false, &gr));
        ts_assert_ok(clt_offload_grads_ready(off, g));
        ts_assert_ok(clt_offload_release(off, g));
    }
    ts_assert_ok(clt_offload_grad_sqnorm(off, &norm));
    ts_assert_status(clt_offload_step(off, 1e-3f, 2, 1.0f), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("begin_step");
    ts_assert_ok(clt_offload_wait(off));
    clt_offload_destroy(off);
    clt_context_destroy(ctx);
}

/* ---- NVME read-ahead: the same bits as HOST masters, staged ahead of the worker ------- */

enum { RA_GROUPS = 8, RA_STEPS = 3 };

static size_t ra_numel(int g) { return 2048 + 512 * (size_t)(g % 3); }

/* RA_STEPS after-backward steps over RA_GROUPS streamed groups; the masters out. */
static void read_ahead_run(clt_tier master, bool q8, struct timeline *tl, float *out,
                           clt_offload_stats *stats)
{
    clt_context *ctx = ts_context("host");
    clt_offload_opts o;
    clt_offload_opts_init(&o);
    o.master_tier = master;
    o.q8_states = q8;
    o.trace = tl ? timeline_record : NULL;
    o.trace_user = tl;
    clt_offload *off = NULL;
    ts_assert_ok(clt_offload_create(ctx, &o, &off));
    size_t total = 0;
    for (int g = 0; g < RA_GROUPS; g++) {
        const clt_offload_tensor t[2] = {{0, 1024, true}, {1024, ra_numel(g) - 1024, false}};
        int id;
        ts_assert_ok(clt_offload_add_group(off, ra_numel(g), t, 2, false, &id));
        total += ra_numel(g);
    }
    ts_assert_ok(clt_offload_plan(off, NULL));
    ts_rng rng;
    ts_rng_seed(&rng, 11);
    float *x = malloc(total * 4);
    ts_fill_floats(&rng, x, total, -1, 1);
    size_t at = 0;
    for (int g = 0; g < RA_GROUPS; at += ra_numel(g), g++)
        ts_assert_ok(clt_offload_set_master(off, g, x + at));
    clt_offload_reset_stats(off);
    for (int64_t step = 1; step <= RA_STEPS; step++) {
        ts_fill_floats(&rng, x, total, -0.5f, 0.5f);
        at = total;
        for (int g = RA_GROUPS - 1; g >= 0; g--) {
            at -= ra_numel(g);
            clt_tensor w, gr;
            ts_assert_ok(clt_offload_fetch(off, g, &w));
            ts_assert_ok(clt_offload_grad(off, g, false, &gr));
            ts_assert_ok(clt_buffer_write(gr.buf, gr.offset, x + at, ra_numel(g) * 4, NULL));
            ts_assert_ok(clt_offload_grads_ready(off, g));
            ts_assert_ok(clt_offload_release(off, g));
        }
        ts_assert_ok(clt_offload_step(off, 1e-2f, step, 1.0f));
    }
    ts_assert_ok(clt_offload_wait(off));
    ts_assert_ok(clt_offload_get_stats(off, stats));
    at = 0;
    for (int g = 0; g < RA_GROUPS; at += ra_numel(g), g++)
        ts_assert_ok(clt_offload_get_master(off, g, out + at));
    free(x);
    clt_offload_destroy(off);
    clt_context_destroy(ctx);
}

static void test_nvme_read_ahead(void **state)
{
    (void)state;
    size_t total = 0;
    for (int g = 0; g < RA_GROUPS; g++)
        total += ra_numel(g);
    float *want = malloc(total * 4), *got = malloc(total * 4);
    for (int q8 = 0; q8 <= 1; q8++) {
        clt_offload_stats hs, ns;
        read_ahead_run(CLT_TIER_HOST, q8, NULL, want, &hs);
        struct timeline tl;
        timeline_init(&tl);
        tl.wait_read_ahead = true;
        tl.last_group = RA_GROUPS - 1;
        tl.read_ahead_timeout_s = 10.0;
        read_ahead_run(CLT_TIER_NVME, q8, &tl, got, &ns);
        assert_memory_equal(got, want, total * 4);
        /* while group i was updated, group i+1 was being read and group i-1 written */
        for (int64_t step = 1; step <= RA_STEPS; step++) {
            for (int g = 0; g < RA_GROUPS; g++) {
                const int end = timeline_at(&tl, CLT_OFFLOAD_OPTIM_END, g, step);
                assert_true(end >= 0);
                if (g + 1 < RA_GROUPS) {
                    const int read_next = timeline_at(&tl, CLT_OFFLOAD_NVME_READ, g + 1, step);
                    assert_true(read_next >= 0 && read_next < end);
                }
                if (g > 0) {
                    const int write_prev = timeline_at(&tl, CLT_OFFLOAD_NVME_WRITE, g - 1, step);
                    assert_true(write_prev >= 0 && write_prev < end);
                }
            }
        }
        /* every group read and written once a step; the waits are counted apart */
        assert_int_equal(ns.bytes_nvme_read, ns.bytes_nvme_write);
        assert_true(ns.bytes_nvme_read >= RA_STEPS * total * 4);
        assert_true(ns.nvme_s > 0 && ns.nvme_wait_s >= 0 && ns.optim_s > 0);
        assert_int_equal(hs.bytes_nvme_read, 0);
        assert_true(hs.nvme_wait_s == 0);
        timeline_destroy(&tl);
    }
    free(want);
    free(got);
}

static void test_nvme_dir_refused(void **state)
{
    (void)state;
    char dir[512];
    ts_tmp_subdir("offload-missing", dir, sizeof dir);
    char missing[600];
    snprintf(missing, sizeof missing, "%s/does-not-exist", dir);
    clt_context_opts co;
    clt_context_opts_init(&co);
    co.nvme_dir = missing;
    clt_context *ctx = NULL;
    ts_assert_ok(ts_context_open("host", &co, &ctx));
    clt_offload_opts o;
    clt_offload_opts_init(&o);
    o.master_tier = CLT_TIER_NVME;
    clt_offload *off = make_engine(ctx, &o);
    ts_assert_status(clt_offload_plan(off, NULL), CLT_ERR_IO);
    ts_assert_error_mentions("does-not-exist");
    clt_offload_destroy(off);
    clt_context_destroy(ctx);
    if (geteuid() == 0)
        return; /* root writes anywhere: the read-only case cannot be made */
    char ro[600];
    snprintf(ro, sizeof ro, "%s/read-only", dir);
    ts_mkdir_p(ro);
    chmod(ro, 0555);
    co.nvme_dir = ro;
    ts_assert_ok(ts_context_open("host", &co, &ctx));
    off = make_engine(ctx, &o);
    ts_assert_status(clt_offload_plan(off, NULL), CLT_ERR_IO);
    ts_assert_error_mentions("not writable");
    clt_offload_destroy(off);
    clt_context_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest host_tests[] = {
        cmocka_unit_test(test_plan_bytes_match_accounting),
        cmocka_unit_test(test_plan_fails_before_allocating),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_master_round_trip),
        cmocka_unit_test(test_nvme_dir_refused),
        cmocka_unit_test(test_optimizer_overlaps_next_forward),
        cmocka_unit_test(test_eager_gate_per_group),
        cmocka_unit_test(test_eager_misuse),
        cmocka_unit_test(test_nvme_read_ahead),
    };
    int failed = cmocka_run_group_tests_name("offload", host_tests, NULL, NULL);
    const ts_device_test tests[] = {
        {"step_matches_host_op", test_step_matches_host_op},
        {"eager_overlaps_backward", test_eager_overlaps_backward},
        {"eager_matches_after_backward", test_eager_matches_after_backward},
    };
    return failed + ts_run_per_device("offload", tests, sizeof tests / sizeof tests[0]);
}
