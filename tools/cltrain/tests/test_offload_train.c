/* cltrain with --offload: the streamed model (gpt_stream.c) through clt's offload engine.
 * On the host driver, none, host and nvme give the same losses and weights bit for bit
 * (f32 AdamW with accumulation, bf16 8-bit AdamW); on PoCL the losses agree within
 * rounding; with a device budget a tenth of the resident model's device footprint it
 * trains on PoCL; a host budget too small with no NVMe directory fails before step 1
 * naming the tier; a missing NVMe directory is refused and no swap file outlives a run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt.h"
#include "optim.h"
#include "train.h"
#include "train_fixture.h"

#define MAX_STEPS 16

static const char *corpus(void)
{
    static char path[600];
    tmp_path("corpus.txt", path, sizeof path);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    uint64_t x = 99;
    for (int i = 0; i < 40000; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        fputc("etaoin shrdlu\n."[(x >> 33) % 15], f);
    }
    assert_int_equal(fclose(f), 0);
    return path;
}

static struct train_opts base_opts(const char *const *data, const char *device)
{
    struct train_opts o = {.data = data, .n_data = 1, .steps = 10, .batch = 2, .accum = 2,
                           .lr = 3e-3, .min_lr_frac = 0.1, .warmup = 2, .weight_decay = -1,
                           .clip = 1.0, .seed = 11, .optimizer = OPTIM_ADAMW,
                           .dtype = CLT_DTYPE_F32, .device = device, .eval_batches = 1,
                           .temperature = 0.8, .top_k = 40, .cfg_given = true};
    assert_true(gpt_config_preset("tiny", &o.cfg));
    o.cfg.ctx = 32;
    o.cfg.layers = 3;
    return o;
}

/* Trains o into <name>/ with metrics; returns the losses' count. */
static int train_into(struct train_opts *o, const char *name, double losses[MAX_STEPS + 1])
{
    char dir[600], metrics[700], text[16384];
    tmp_path(name, dir, sizeof dir);
    snprintf(metrics, sizeof metrics, "%s.jsonl", dir);
    remove(metrics);
    o->out = dir;
    o->metrics = metrics;
    const int status = run_captured(o, text, sizeof text);
    if (status != 0)
        fail_msg("%s: exit %d:\n%s", name, status, text);
    return read_losses(metrics, losses, MAX_STEPS);
}

/* The master weights a checkpoint holds, through a resident model on the host. */
static float *weights_of(const char *name, const struct gpt_config *cfg, size_t *n)
{
    char dir[600], err[1024];
    tmp_path(name, dir, sizeof dir);
    clt_context *ctx = NULL;
    clt_context_opts co;
    clt_context_opts_init(&co);
    co.device = "host";
    assert_int_equal(clt_context_create(&co, &ctx), CLT_OK);
    gpt_model *m = NULL;
    assert_int_equal(gpt_create(ctx, cfg, CLT_DTYPE_F32, 1, &m), CLT_OK);
    if (!ckpt_load_model(ctx, dir, m, err, sizeof err))
        fail_msg("%s: %s", name, err);
    *n = clt_buffer_size(gpt_param_buffer(m)) / 4;
    float *w = malloc(*n * 4);
    assert_int_equal(clt_buffer_read(gpt_param_buffer(m), 0, w, *n * 4, NULL), CLT_OK);
    gpt_destroy(m);
    clt_context_destroy(ctx);
    return w;
}

static void same_run(struct train_opts *o, const char *tag, enum train_offload mode,
                     const char *nvme_dir)
{
    double want[MAX_STEPS + 1] = {0}, got[MAX_STEPS + 1] = {0};
    char a[128], b[128];
    snprintf(a, sizeof a, "%s-none", tag);
    snprintf(b, sizeof b, "%s-%s", tag, mode == OFFLOAD_NVME ? "nvme" : "host");
    o->offload = OFFLOAD_NONE;
    assert_int_equal(train_into(o, a, want), 10);
    o->offload = mode;
    o->nvme_dir = nvme_dir;
    assert_int_equal(train_into(o, b, got), 10);
    o->nvme_dir = NULL;
    for (int s = 1; s <= 10; s++)
        if (memcmp(&want[s], &got[s], sizeof want[s]) != 0)
            fail_msg("%s: step %d loss %.9g resident, %.9g offloaded", tag, s, want[s], got[s]);
    size_t n1, n2;
    float *w1 = weights_of(a, &o->cfg, &n1), *w2 = weights_of(b, &o->cfg, &n2);
    assert_int_equal(n1, n2);
    for (size_t i = 0; i < n1; i++)
        if (memcmp(&w1[i], &w2[i], 4) != 0)
            fail_msg("%s: weight %zu is %.9g resident, %.9g offloaded", tag, i, w1[i], w2[i]);
    free(w1);
    free(w2);
}

static void host_is_bit_identical(void **state)
{
    (void)state;
    const char *data[] = {corpus()};
    struct train_opts o = base_opts(data, "host");
    same_run(&o, "f32-adamw", OFFLOAD_HOST, NULL);
    o.dtype = CLT_DTYPE_BF16;
    o.optimizer = OPTIM_ADAMW8BIT;
    o.accum = 1;
    same_run(&o, "bf16-adamw8bit", OFFLOAD_HOST, NULL);
}

static bool dir_is_empty(const char *path)
{
    DIR *d = opendir(path);
    assert_non_null(d);
    bool empty = true;
    for (struct dirent *e; (e = readdir(d));)
        empty = empty && (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0);
    closedir(d);
    return empty;
}

static void nvme_is_bit_identical_and_clean(void **state)
{
    (void)state;
    const char *data[] = {corpus()};
    char swap[600];
    tmp_path("swap", swap, sizeof swap);
    mkdir(swap, 0777);
    struct train_opts o = base_opts(data, "host");
    o.optimizer = OPTIM_LAMB;
    same_run(&o, "lamb-nvme", OFFLOAD_NVME, swap);
    assert_true(dir_is_empty(swap));

    char text[16384], missing[700];
    snprintf(missing, sizeof missing, "%s/not-there", swap);
    o.offload = OFFLOAD_NVME;
    o.nvme_dir = missing;
    o.out = NULL;
    o.metrics = NULL;
    assert_int_equal(run_captured(&o, text, sizeof text), 1);
    if (!strstr(text, "not-there") || strstr(text, "step   1"))
        fail_msg("a missing NVMe directory, got:\n%s", text);
}

static void pocl_losses_agree(void **state)
{
    (void)state;
    if (!have_opencl()) {
        print_message("no OpenCL device: skipped\n");
        return;
    }
    const char *data[] = {corpus()};
    struct train_opts o = base_opts(data, "opencl:0");
    double want[MAX_STEPS + 1] = {0}, got[MAX_STEPS + 1] = {0};
    o.offload = OFFLOAD_NONE;
    assert_int_equal(train_into(&o, "pocl-none", want), 10);
    o.offload = OFFLOAD_HOST;
    assert_int_equal(train_into(&o, "pocl-host", got), 10);
    for (int s = 1; s <= 10; s++)
        if (fabs(want[s] - got[s]) > 1e-4 * fabs(want[s]))
            fail_msg("step %d: loss %.9g resident, %.9g offloaded", s, want[s], got[s]);
}

/* DEVICE bytes a resident model and its optimizer hold on opencl:0. */
static uint64_t resident_footprint(const struct train_opts *o)
{
    clt_context *ctx = NULL;
    clt_context_opts co;
    clt_context_opts_init(&co);
    co.device = "opencl:0";
    assert_int_equal(clt_context_create(&co, &ctx), CLT_OK);
    gpt_model *m = NULL;
    optim *opt = NULL;
    assert_int_equal(gpt_create(ctx, &o->cfg, o->dtype, o->batch, &m), CLT_OK);
    assert_int_equal(optim_create(ctx, m, o->optimizer, optim_defaults(o->optimizer), &opt),
                     CLT_OK);
    clt_stats st;
    assert_int_equal(clt_context_stats(ctx, &st), CLT_OK);
    optim_destroy(opt);
    gpt_destroy(m);
    clt_context_destroy(ctx);
    return st.mem_used[CLT_TIER_DEVICE];
}

static void trains_in_a_tenth_of_the_device(void **state)
{
    (void)state;
    if (!have_opencl()) {
        print_message("no OpenCL device: skipped\n");
        return;
    }
    const char *data[] = {corpus()};
    struct train_opts o = base_opts(data, "opencl:0");
    o.cfg.layers = 8;
    o.cfg.dim = 128;
    o.cfg.heads = 2;
    o.cfg.ctx = 64;
    o.batch = 1;
    o.accum = 1;
    o.dtype = CLT_DTYPE_BF16;
    const uint64_t footprint = resident_footprint(&o);
    o.device_mem = footprint / 10;
    o.offload = OFFLOAD_HOST;
    double losses[MAX_STEPS + 1] = {0};
    print_message("resident footprint %llu bytes; device budget %llu\n",
                  (unsigned long long)footprint, (unsigned long long)o.device_mem);
    assert_int_equal(train_into(&o, "tenth", losses), 10);
    assert_true(losses[10] < losses[1]);
    /* the same budget without offload does not even build the model */
    char text[16384];
    o.offload = OFFLOAD_NONE;
    o.out = o.metrics = NULL;
    assert_int_equal(run_captured(&o, text, sizeof text), 1);
    if (!strstr(text, "tier DEVICE"))
        fail_msg("resident in a tenth, got:\n%s", text);
}

static void too_little_host_memory(void **state)
{
    (void)state;
    const char *data[] = {corpus()};
    struct train_opts o = base_opts(data, "host");
    o.offload = OFFLOAD_HOST;
    o.host_mem = 256 * 1024;
    char text[16384];
    assert_int_equal(run_captured(&o, text, sizeof text), 1);
    if (!strstr(text, "tier HOST") || !strstr(text, "NVME") || strstr(text, "step   1"))
        fail_msg("expected a HOST tier error before step 1, got:\n%s", text);
}

static int setup(void **state)
{
    (void)state;
    return fixture_make_tmp("/tmp/cltrain-test-offload");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(host_is_bit_identical),
        cmocka_unit_test(nvme_is_bit_identical_and_clean),
        cmocka_unit_test(too_little_host_memory),
        cmocka_unit_test(pocl_losses_agree),
        cmocka_unit_test(trains_in_a_tenth_of_the_device),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
