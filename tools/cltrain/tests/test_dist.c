/* cltrain's data parallelism (dist.h) in one process, with or without MPI: the refusal
 * of a multi-rank launch without MPI, ZeRO-1's split of the layout, --device's list,
 * the model's gradient hook, the optimizer state of a rank's tensors and a view of
 * another's, and the data-parallel path on one rank (--comm self) giving the plain
 * path's bits. The runs of two ranks are tests/check_cltrain_mpi.py's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dist.h"
#include "gpt.h"
#include "optim.h"
#include "train.h"
#include "train_fixture.h"

#define MAX_STEPS 16

static const char *const launcher_vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE",
                                            "MV2_COMM_WORLD_SIZE"};

static void clear_launcher_env(void)
{
    for (size_t i = 0; i < sizeof launcher_vars / sizeof launcher_vars[0]; i++)
        unsetenv(launcher_vars[i]);
}

/* ---- the refusal ------------------------------------------------------------------- */

static void launch_refusal(void **state)
{
    (void)state;
    char err[512];
    clear_launcher_env();
    setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
    assert_true(dist_launch_refused(2, false, err, sizeof err));
    assert_string_equal(err, "this launch has 2 ranks (OMPI_COMM_WORLD_SIZE=2) but this "
                             "cltrain was built without MPI; rebuild with -DCLT_MPI=ON "
                             "(Debian: apt-get install libopenmpi-dev), or run one process");
    assert_false(dist_launch_refused(2, true, err, sizeof err));
    assert_false(dist_launch_refused(1, false, err, sizeof err));
    clear_launcher_env();
    setenv("PMI_SIZE", "4", 1);
    assert_true(dist_launch_refused(4, false, err, sizeof err));
    assert_non_null(strstr(err, "4 ranks (PMI_SIZE=4)"));
    clear_launcher_env();
}

/* Where the build has no MPI: a launch of 2 ranks and --comm mpi are refused before a
 * step runs. (With MPI, check_cltrain_mpi.py runs the real thing.) */
static void refusals_without_mpi(void **state)
{
    (void)state;
    if (clt_comm_has_mpi()) {
        print_message("this build has MPI: its refusal is not reachable here\n");
        skip();
    }
    const char *data[] = {fixture_corpus(3, 20000)};
    struct train_opts o = {.data = data, .n_data = 1, .steps = 2, .batch = 2, .accum = 1,
                           .lr = 1e-3, .min_lr_frac = 0.1, .weight_decay = -1, .clip = 1.0,
                           .seed = 1, .device = "host", .eval_batches = 1, .temperature = 1,
                           .cfg_given = true};
    assert_true(gpt_config_preset("tiny", &o.cfg));
    o.cfg.ctx = 32;
    char text[8192];
    clear_launcher_env();
    setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
    assert_int_equal(run_captured(&o, text, sizeof text), 1);
    assert_non_null(strstr(text, "but this cltrain was built without MPI"));
    assert_null(strstr(text, "training on"));
    clear_launcher_env();
    o.dist.mode = DIST_MPI;
    assert_int_equal(run_captured(&o, text, sizeof text), 1);
    assert_non_null(strstr(text, "joining the job's ranks"));
    assert_non_null(strstr(text, "MPI"));
}

/* ---- the split --------------------------------------------------------------------- */

static void check_split(const struct gpt_config *cfg, int ranks)
{
    const size_t count = gpt_param_count(cfg);
    struct gpt_param *p = calloc(count, sizeof *p);
    size_t *first = calloc((size_t)ranks + 1, sizeof *first);
    size_t *elem = calloc((size_t)ranks + 1, sizeof *elem);
    assert_true(p && first && elem);
    const size_t layout = gpt_params_layout(cfg, p);
    dist_split(p, count, layout, ranks, first, elem);
    double total = 0, largest = 0;
    for (size_t i = 0; i < count; i++) {
        total += (double)p[i].numel;
        largest = (double)p[i].numel > largest ? (double)p[i].numel : largest;
    }
    assert_int_equal(first[0], 0);
    assert_int_equal(first[ranks], count);
    assert_int_equal(elem[0], 0);
    assert_int_equal(elem[ranks], layout);
    size_t i = 0;
    double acc = 0;
    for (int r = 1; r <= ranks; r++) {
        assert_true(first[r] >= first[r - 1]); /* contiguous, ascending runs */
        assert_int_equal(elem[r], first[r] < count ? p[first[r]].offset : layout);
        while (i < first[r])
            acc += (double)p[i++].numel;
        /* each boundary is where the count comes closest to the equal share, so it
         * misses that share by at most half of the tensor that straddles it */
        if (r < ranks && fabs(acc - total * r / ranks) > largest / 2 + 0.5)
            fail_msg("%d ranks: boundary %d at tensor %zu holds %.0f elements, the share "
                     "is %.0f", ranks, r, first[r], acc, total * r / ranks);
    }
    free(p);
    free(first);
    free(elem);
}

static void split_is_contiguous_and_balanced(void **state)
{
    (void)state;
    const char *const presets[] = {"tiny", "small", "gpt2"};
    for (int k = 0; k < 3; k++) {
        struct gpt_config cfg;
        assert_true(gpt_config_preset(presets[k], &cfg));
        for (int ranks = 1; ranks <= 8; ranks++)
            check_split(&cfg, ranks);
        /* more ranks than tensors: some own none, the runs still cover the layout */
        check_split(&cfg, (int)gpt_param_count(&cfg) + 3);
    }
    /* two ranks of GPT-2 124M: within 10% of halves of its 124M parameters */
    struct gpt_config cfg;
    assert_true(gpt_config_preset("gpt2", &cfg));
    const size_t count = gpt_param_count(&cfg);
    struct gpt_param *p = calloc(count, sizeof *p);
    assert_non_null(p);
    const size_t layout = gpt_params_layout(&cfg, p);
    size_t first[3], elem[3];
    dist_split(p, count, layout, 2, first, elem);
    const double half = (double)elem[1] / (double)layout;
    assert_true(half > 0.45 && half < 0.55);
    free(p);
}

/* ---- --device ---------------------------------------------------------------------- */

static void device_list(void **state)
{
    (void)state;
    struct dist d = {.size = 4, .local_rank = 3};
    char out[64], err[256];
    const char *dev = "unset";
    assert_true(dist_device(&d, "opencl:0,opencl:1", out, sizeof out, &dev, err, sizeof err));
    assert_string_equal(dev, "opencl:1");
    d.local_rank = 2;
    assert_true(dist_device(&d, "opencl:0,opencl:1", out, sizeof out, &dev, err, sizeof err));
    assert_string_equal(dev, "opencl:0");
    assert_true(dist_device(&d, "host", out, sizeof out, &dev, err, sizeof err));
    assert_string_equal(dev, "host");
    assert_true(dist_device(&d, NULL, out, sizeof out, &dev, err, sizeof err));
    assert_null(dev);
    d.local_rank = 1;
    assert_false(dist_device(&d, "host,,opencl:0", out, sizeof out, &dev, err, sizeof err));
    assert_string_equal(err, "--device host,,opencl:0: entry 2 (local rank 1's) is empty");
}

/* ---- the model's hook -------------------------------------------------------------- */

struct ranges {
    size_t first[64], count[64];
    int n;
    clt_status fail_with;
};

static clt_status record(void *user, size_t first, size_t count)
{
    struct ranges *r = user;
    if (r->fail_with != CLT_OK)
        return r->fail_with;
    assert_true(r->n < 64);
    r->first[r->n] = first;
    r->count[r->n++] = count;
    return CLT_OK;
}

static clt_context *open_host(void)
{
    clt_context_opts opts;
    clt_context_opts_init(&opts);
    opts.device = "host";
    clt_context *ctx = NULL;
    if (clt_context_create(&opts, &ctx) != CLT_OK)
        fail_msg("cannot open the host driver: %s", clt_last_error());
    return ctx;
}

/* A tiny model with GPT-2's initial parameters, after one forward pass with targets. */
static gpt_model *forwarded_model(clt_context *ctx, struct gpt_config *cfg)
{
    assert_true(gpt_config_preset("tiny", cfg));
    cfg->ctx = 16;
    const size_t count = gpt_param_count(cfg);
    struct gpt_param *p = calloc(count, sizeof *p);
    assert_non_null(p);
    const size_t total = gpt_params_layout(cfg, p);
    float *host = calloc(total, sizeof *host);
    assert_non_null(host);
    gpt_init_params(cfg, 3, host);
    gpt_model *m = NULL;
    assert_int_equal(gpt_create(ctx, cfg, CLT_DTYPE_F32, 2, &m), CLT_OK);
    assert_int_equal(clt_buffer_write(gpt_param_buffer(m), 0, host, total * 4, NULL), CLT_OK);
    int32_t tok[2 * 16], tgt[2 * 16];
    for (int i = 0; i < 2 * 16; i++) {
        tok[i] = (i * 7) % 256;
        tgt[i] = (i * 11 + 3) % 256;
    }
    float loss = 0;
    assert_int_equal(gpt_forward(m, tok, tgt, 2, 16, &loss), CLT_OK);
    free(host);
    free(p);
    return m;
}

static void grad_ready_order_and_cover(void **state)
{
    (void)state;
    clt_context *ctx = open_host();
    struct gpt_config cfg;
    gpt_model *m = forwarded_model(ctx, &cfg);
    size_t count = 0;
    const struct gpt_param *p = gpt_param_table(m, &count);
    const size_t total = clt_buffer_size(gpt_param_buffer(m)) / 4;
    struct ranges got = {.fail_with = CLT_OK};
    assert_int_equal(gpt_set_grad_ready(m, record, &got), CLT_OK);
    assert_int_equal(gpt_backward(m, 1.0f, false), CLT_OK);
    /* ln_f, block L-1 .. block 0, then wte and wpe: each group once, the layout covered */
    const int L = cfg.layers;
    assert_int_equal(got.n, L + 2);
    const size_t lnf = p[count - 2].offset, per_layer = (count - 4) / (size_t)L;
    assert_int_equal(got.first[0], lnf);
    assert_int_equal(got.first[0] + got.count[0], total);
    for (int l = L - 1, k = 1; l >= 0; l--, k++) {
        const size_t start = p[2 + (size_t)l * per_layer].offset;
        const size_t end = l + 1 < L ? p[2 + (size_t)(l + 1) * per_layer].offset : lnf;
        assert_int_equal(got.first[k], start);
        assert_int_equal(got.count[k], end - start);
    }
    assert_int_equal(got.first[L + 1], 0);
    assert_int_equal(got.count[L + 1], p[2].offset);

    /* removed: the next pass calls nothing */
    int32_t tok[16] = {1, 2, 3}, tgt[16] = {2, 3, 4};
    float loss = 0;
    assert_int_equal(gpt_set_grad_ready(m, NULL, NULL), CLT_OK);
    assert_int_equal(gpt_forward(m, tok, tgt, 1, 16, &loss), CLT_OK);
    got.n = 0;
    assert_int_equal(gpt_backward(m, 1.0f, false), CLT_OK);
    assert_int_equal(got.n, 0);

    /* a hook that fails ends the pass with its status */
    got.fail_with = CLT_ERR_COMM;
    assert_int_equal(gpt_set_grad_ready(m, record, &got), CLT_OK);
    assert_int_equal(gpt_forward(m, tok, tgt, 1, 16, &loss), CLT_OK);
    assert_int_equal(gpt_backward(m, 1.0f, false), CLT_ERR_COMM);
    assert_non_null(strstr(gpt_error(m), "gradient sync: "));
    gpt_destroy(m);
    clt_context_destroy(ctx);
}

/* ---- a rank's optimizer state ------------------------------------------------------ */

static void owned_state_and_views(void **state)
{
    (void)state;
    clt_context *ctx = open_host();
    struct gpt_config cfg;
    gpt_model *m = forwarded_model(ctx, &cfg);
    size_t count = 0;
    const struct gpt_param *p = gpt_param_table(m, &count);
    const size_t total = clt_buffer_size(gpt_param_buffer(m)) / 4;
    const enum optim_kind kinds[] = {OPTIM_ADAMW8BIT, OPTIM_SGD};
    for (int k = 0; k < 2; k++) {
        const struct optim_hparams h = optim_defaults(kinds[k]);
        optim *whole = NULL;
        assert_int_equal(optim_create(ctx, m, kinds[k], h, &whole), CLT_OK);
        size_t n_whole = 0;
        const clt_named_tensor *all = optim_state_tensors(whole, &n_whole);
        enum { R = 3 };
        size_t first[R + 1], elem[R + 1];
        dist_split(p, count, total, R, first, elem);
        size_t at = 0;
        for (int r = 0; r < R; r++) {
            optim *part = NULL;
            assert_int_equal(optim_create_owned(ctx, m, kinds[k], h, first[r], first[r + 1],
                                                &part),
                             CLT_OK);
            const size_t bytes = optim_range_bytes(m, kinds[k], first[r], first[r + 1]);
            assert_int_equal(optim_state_bytes(part), bytes);
            size_t n = 0;
            const clt_named_tensor *t = optim_state_tensors(part, &n);
            /* the parts' tensors are the whole's, in its order */
            for (size_t i = 0; i < n; i++, at++) {
                assert_true(at < n_whole);
                assert_string_equal(t[i].name, all[at].name);
                assert_int_equal(t[i].tensor.dtype, all[at].tensor.dtype);
                assert_int_equal(t[i].tensor.shape[0], all[at].tensor.shape[0]);
            }
            /* another rank's view of it, over a HOST buffer holding its bytes */
            if (bytes > 0) {
                unsigned char *raw = malloc(bytes), *back = malloc(bytes);
                assert_true(raw && back);
                for (size_t b = 0; b < bytes; b++)
                    raw[b] = (unsigned char)(b * 31 + (size_t)r);
                assert_int_equal(clt_buffer_write(optim_state_buffer(part), 0, raw, bytes, NULL),
                                 CLT_OK);
                clt_buffer *host = NULL;
                assert_int_equal(clt_buffer_create(ctx, bytes, CLT_TIER_HOST, &host), CLT_OK);
                assert_int_equal(clt_buffer_write(host, 0, raw, bytes, NULL), CLT_OK);
                optim *view = NULL;
                assert_int_equal(optim_create_view(m, kinds[k], first[r], first[r + 1], host,
                                                   &view),
                                 CLT_OK);
                size_t nv = 0;
                const clt_named_tensor *v = optim_state_tensors(view, &nv);
                assert_int_equal(nv, n);
                for (size_t i = 0; i < n; i++) {
                    const size_t tb = (size_t)t[i].tensor.shape[0] *
                                      clt_dtype_size(t[i].tensor.dtype);
                    assert_string_equal(v[i].name, t[i].name);
                    assert_int_equal(clt_buffer_read(host, v[i].tensor.offset, back, tb, NULL),
                                     CLT_OK);
                    assert_memory_equal(back, raw + t[i].tensor.offset, tb);
                }
                assert_int_equal(optim_step(view, 1e-3f, 1, 1.0f, NULL), CLT_ERR_INVALID_ARG);
                optim_destroy(view);
                clt_buffer *small = NULL;
                assert_int_equal(clt_buffer_create(ctx, bytes - 1, CLT_TIER_HOST, &small),
                                 CLT_OK);
                assert_int_equal(optim_create_view(m, kinds[k], first[r], first[r + 1], small,
                                                   &view),
                                 CLT_ERR_INVALID_ARG);
                clt_buffer_destroy(small);
                clt_buffer_destroy(host);
                free(raw);
                free(back);
            }
            optim_destroy(part);
        }
        assert_int_equal(at, n_whole);
        /* a rank that owns no tensor holds no state */
        optim *none = NULL;
        assert_int_equal(optim_create_owned(ctx, m, kinds[k], h, 4, 4, &none), CLT_OK);
        assert_int_equal(optim_state_bytes(none), 0);
        assert_null(optim_state_buffer(none));
        optim_destroy(none);
        assert_int_equal(optim_create_owned(ctx, m, kinds[k], h, 3, count + 1, &none),
                         CLT_ERR_INVALID_ARG);
        optim_destroy(whole);
    }
    gpt_destroy(m);
    clt_context_destroy(ctx);
}

/* ---- one rank through the data-parallel path --------------------------------------- */

static struct train_opts tiny_opts(const char *const *data)
{
    struct train_opts o = {.data = data, .n_data = 1, .steps = 8, .batch = 4, .accum = 2,
                           .lr = 3e-3, .min_lr_frac = 0.1, .warmup = 2, .weight_decay = -1,
                           .clip = 1.0, .seed = 11, .optimizer = OPTIM_ADAMW,
                           .dtype = CLT_DTYPE_F32, .device = "host", .eval_batches = 2,
                           .temperature = 0.8, .top_k = 40, .cfg_given = true};
    assert_true(gpt_config_preset("tiny", &o.cfg));
    o.cfg.ctx = 32;
    return o;
}

static void train_to(struct train_opts *o, const char *name, double *losses)
{
    char metrics[700], text[16384];
    tmp_path(name, metrics, sizeof metrics);
    unlink(metrics);
    o->metrics = metrics;
    if (run_captured(o, text, sizeof text) != 0)
        fail_msg("%s: %s", name, text);
    assert_int_equal(read_losses(metrics, losses, MAX_STEPS), 8);
    char *all = read_file(metrics, NULL);
    assert_non_null(all);
    const bool has_comm = strstr(all, "\"comm\":{\"ranks\":1,") != NULL;
    assert_true(has_comm == (o->dist.mode == DIST_SELF));
    free(all);
}

static void self_path_matches_plain(void **state)
{
    (void)state;
    const char *data[] = {fixture_corpus(5, 40000)};
    const enum optim_kind kinds[] = {OPTIM_ADAMW, OPTIM_ADAMW8BIT};
    for (int k = 0; k < 2; k++) {
        double plain[MAX_STEPS + 1] = {0}, self[MAX_STEPS + 1] = {0};
        double bf16[MAX_STEPS + 1] = {0};
        struct train_opts o = tiny_opts(data);
        o.optimizer = kinds[k];
        train_to(&o, "plain.jsonl", plain);
        /* the sync's host round trip in f32 and a sum over one rank change no bit;
         * --shard over one rank has nothing to split */
        o.dist = (struct dist_opts){.mode = DIST_SELF, .wire = CLT_DTYPE_F32, .shard = true,
                                    .bucket_bytes = 64 << 10};
        train_to(&o, "self.jsonl", self);
        for (int s = 1; s <= 8; s++) /* the ranks' mean loss is summed in f32 */
            if ((float)plain[s] != (float)self[s])
                fail_msg("%s: step %d loss %.9g plain, %.9g through --comm self",
                         optim_kind_name(kinds[k]), s, plain[s], self[s]);
        /* bf16 on the wire rounds the gradients: near, not equal (check_cltrain_mpi.py
         * says why 3e-3) */
        o.dist.wire = CLT_DTYPE_BF16;
        train_to(&o, "bf16.jsonl", bf16);
        double worst = 0;
        for (int s = 1; s <= 8; s++)
            worst = fabs(bf16[s] - plain[s]) > worst ? fabs(bf16[s] - plain[s]) : worst;
        if (!(worst > 0 && worst < 3e-3))
            fail_msg("%s: bf16 wire moved the loss by %g", optim_kind_name(kinds[k]), worst);
    }
}

static int setup(void **state)
{
    (void)state;
    return fixture_make_tmp("/tmp/cltrain-test-dist");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(launch_refusal),
        cmocka_unit_test(refusals_without_mpi),
        cmocka_unit_test(split_is_contiguous_and_balanced),
        cmocka_unit_test(device_list),
        cmocka_unit_test(grad_ready_order_and_cover),
        cmocka_unit_test(owned_state_and_views),
        cmocka_unit_test(self_path_matches_plain),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
