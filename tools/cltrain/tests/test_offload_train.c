/* cltrain with --offload: the streamed model (gpt_stream.c) through clt's offload engine.
 * On the host driver, none, host and nvme give the same losses and weights bit for bit
 * (f32 AdamW with accumulation, bf16 8-bit AdamW); on PoCL the losses agree within
 * rounding; with a device budget a tenth of the resident model's device footprint it
 * trains on PoCL; a host budget too small with no NVMe directory fails before step 1
 * naming the tier; a missing NVMe directory is refused and no swap file outlives a run.
 * The metrics of an offloaded run carry what the engine moved and waited for per step,
 * and the progress line the memory per tier. On PoCL the ops' scratch (the GEMM's packed
 * panels) is part of the plan: a DEVICE budget that holds the model but not its scratch
 * fails before step 1 naming the bytes, and one that holds both runs every GEMM on its
 * fast path. */
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
#include "scratch.h"
#include "train.h"
#include "train_fixture.h"

#define MAX_STEPS 16

static const char *corpus(void)
{
    const char *path = fixture_corpus(99, 40000);
    assert_non_null(path);
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

static char last_text[16384]; /* what the last train_into printed */

/* Trains o into <name>/ with metrics; returns the losses' count. */
static int train_into(struct train_opts *o, const char *name, double losses[MAX_STEPS + 1])
{
    char dir[600], metrics[700], *text = last_text;
    tmp_path(name, dir, sizeof dir);
    snprintf(metrics, sizeof metrics, "%s.jsonl", dir);
    remove(metrics);
    o->out = dir;
    o->metrics = metrics;
    const int status = run_captured(o, text, sizeof last_text);
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

/* DEVICE bytes a streamed run holds before any op runs: the model and the norm. */
static uint64_t streamed_footprint(const struct train_opts *o)
{
    clt_context *ctx = NULL;
    clt_context_opts co;
    clt_context_opts_init(&co);
    co.device = o->device;
    assert_int_equal(clt_context_create(&co, &ctx), CLT_OK);
    clt_offload_opts oo;
    optim_offload_opts(o->optimizer, optim_defaults(o->optimizer), CLT_TIER_HOST, &oo);
    gpt_model *m = NULL;
    clt_buffer *norm = NULL;
    assert_int_equal(gpt_create_streamed(ctx, &o->cfg, o->dtype, o->batch, &oo, &m), CLT_OK);
    assert_int_equal(clt_buffer_create(ctx, 4, CLT_TIER_DEVICE, &norm), CLT_OK);
    clt_stats st;
    assert_int_equal(clt_context_stats(ctx, &st), CLT_OK);
    clt_buffer_destroy(norm);
    gpt_destroy(m);
    clt_context_destroy(ctx);
    return st.mem_used[CLT_TIER_DEVICE];
}

static uint64_t ops_scratch(const struct train_opts *o)
{
    uint64_t scratch = 0;
    char err[1024];
    const struct scratch_probe probe = {.device = o->device, .cfg = o->cfg, .dtype = o->dtype,
                                        .batch = o->batch, .accumulate = o->accum > 1,
                                        .offloaded = true, .optimizer = o->optimizer};
    if (!scratch_measure(&probe, &scratch, err, sizeof err))
        fail_msg("scratch_measure: %s", err);
    return scratch;
}

/* A DEVICE budget that holds a streamed run and its ops' scratch and nothing more: every
 * block's activations but the last block's are recomputed in the backward pass. */
static uint64_t tight_budget(const struct train_opts *o)
{
    return streamed_footprint(o) + ops_scratch(o) + 4096;
}

/* The same run resident and offloaded (with o's device budget; the resident run has
 * none). */
static void same_run(struct train_opts *o, const char *tag, enum train_offload mode,
                     const char *nvme_dir)
{
    double want[MAX_STEPS + 1] = {0}, got[MAX_STEPS + 1] = {0};
    char a[128], b[128];
    snprintf(a, sizeof a, "%s-none", tag);
    snprintf(b, sizeof b, "%s-%s", tag, mode == OFFLOAD_NVME ? "nvme" : "host");
    const uint64_t budget = o->device_mem;
    o->offload = OFFLOAD_NONE;
    o->device_mem = 0;
    assert_int_equal(train_into(o, a, want), 10);
    o->offload = mode;
    o->nvme_dir = nvme_dir;
    o->device_mem = budget;
    assert_int_equal(train_into(o, b, got), 10);
    o->nvme_dir = NULL;
    /* the plan says how many blocks keep their activations */
    char kept[64];
    snprintf(kept, sizeof kept, "%d of %d blocks kept", budget ? 1 : o->cfg.layers,
             o->cfg.layers);
    if (!strstr(last_text, kept))
        fail_msg("%s: expected \"%s\" in the plan:\n%s", tag, kept, last_text);
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
    same_run(&o, "f32-adamw", OFFLOAD_HOST, NULL); /* no recomputation */
    o.device_mem = tight_budget(&o);
    same_run(&o, "f32-adamw-recomputed", OFFLOAD_HOST, NULL);
    if (!strstr(last_text, "runs after the backward pass"))
        fail_msg("with --clip the optimizer must wait for every gradient:\n%s", last_text);
    /* --clip 0: each block's update starts while earlier blocks' backward runs, and
     * the math is still the resident run's (accumulation included) */
    o.clip = 0;
    same_run(&o, "f32-adamw-eager", OFFLOAD_HOST, NULL);
    if (!strstr(last_text, "runs during the backward pass"))
        fail_msg("--clip 0: expected updates during the backward pass:\n%s", last_text);
    o.clip = 1.0;
    o.dtype = CLT_DTYPE_BF16;
    o.optimizer = OPTIM_ADAMW8BIT;
    o.accum = 1;
    o.device_mem = tight_budget(&o);
    same_run(&o, "bf16-adamw8bit", OFFLOAD_HOST, NULL);
    o.clip = 0;
    same_run(&o, "bf16-adamw8bit-eager", OFFLOAD_HOST, NULL);
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
    o.device_mem = tight_budget(&o);
    same_run(&o, "lamb-nvme", OFFLOAD_NVME, swap);
    o.device_mem = 0;
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

/* ---- metrics ------------------------------------------------------------------------ */

/* The number after "key": in text (the first occurrence); -1 when absent. */
static double field(const char *text, const char *key)
{
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":", key);
    const char *at = strstr(text, pattern);
    return at ? strtod(at + strlen(pattern), NULL) : -1.0;
}

/* Every train record of an offloaded run's metrics has "offload" with the bytes moved
 * (non-zero where data moved: every step uploads working copies and copies gradients
 * out) and the memory per tier. The host optimizer's work (and with it the NVMe
 * traffic) runs in the background and counts in the step during which it finished, so
 * it is checked over the run and in the summary. */
static void check_offload_metrics(const char *metrics, enum train_offload mode)
{
    char *text = read_file(metrics, NULL);
    assert_non_null(text);
    int steps = 0, summaries = 0;
    const bool nvme = mode == OFFLOAD_NVME;
    double optim_ms = 0, nvme_read = 0, nvme_write = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        const bool summary = strstr(line, "\"type\":\"summary\"") != NULL;
        if (!summary && !strstr(line, "\"type\":\"train\""))
            continue;
        const char *off = strstr(line, "\"offload\":{");
        if (!off)
            fail_msg("no offload counters in %s", line);
        if (field(off, "bytes_to_device") <= 0 || field(off, "bytes_from_device") <= 0 ||
            field(off, "uploads") <= 0 || field(off, "fetch_wait_ms") < 0 ||
            field(off, "grad_wait_ms") < 0 || field(off, "optim_ms") < 0 ||
            field(off, "nvme_ms") < 0 || field(off, "nvme_wait_ms") < 0)
            fail_msg("offload counters of a step that moved data: %s", line);
        if (summary && (field(off, "optim_ms") <= 0 ||
                        (nvme && (field(off, "bytes_nvme_read") <= 0 ||
                                  field(off, "bytes_nvme_write") <= 0 ||
                                  field(off, "nvme_ms") <= 0))))
            fail_msg("the run's offload counters: %s", line);
        if (!summary) {
            optim_ms += field(off, "optim_ms");
            nvme_read += field(off, "bytes_nvme_read");
            nvme_write += field(off, "bytes_nvme_write");
        }
        if (!nvme && (field(off, "bytes_nvme_read") != 0 || field(off, "bytes_nvme_write") != 0))
            fail_msg("NVMe bytes without NVMe: %s", line);
        const char *mem = strstr(line, summary ? "\"mem_peak\":{" : "\"mem_used\":{");
        assert_non_null(mem);
        if (field(mem, "device") <= 0 || field(mem, "host") + field(mem, "host_pinned") <= 0 ||
            (nvme && field(mem, "nvme") <= 0))
            fail_msg("memory per tier: %s", line);
        steps += !summary;
        summaries += summary;
    }
    assert_int_equal(steps, 10);
    assert_int_equal(summaries, 1);
    if (optim_ms <= 0 || (nvme && (nvme_read <= 0 || nvme_write <= 0)))
        fail_msg("%s: the steps' records add up to %g ms of host optimizer, %g NVMe bytes "
                 "read and %g written", metrics, optim_ms, nvme_read, nvme_write);
    free(text);
}

static void metrics_carry_offload_counters(void **state)
{
    (void)state;
    const char *data[] = {corpus()};
    char swap[600], text[16384], metrics[700], dir[600];
    tmp_path("swap", swap, sizeof swap);
    mkdir(swap, 0777);
    struct train_opts o = base_opts(data, "host");
    double losses[MAX_STEPS + 1];
    const enum train_offload modes[] = {OFFLOAD_HOST, OFFLOAD_NVME};
    for (int i = 0; i < 2; i++) {
        o.offload = modes[i];
        o.nvme_dir = modes[i] == OFFLOAD_NVME ? swap : NULL;
        const char *name = modes[i] == OFFLOAD_NVME ? "metrics-nvme" : "metrics-host";
        assert_int_equal(train_into(&o, name, losses), 10);
        snprintf(metrics, sizeof metrics, "%s.jsonl", tmp_path(name, dir, sizeof dir));
        check_offload_metrics(metrics, modes[i]);
        /* the progress lines show the memory per tier */
        o.metrics = o.out = NULL;
        o.log_every = 1;
        assert_int_equal(run_captured(&o, text, sizeof text), 0);
        o.log_every = 0;
        const char *line = strstr(text, "step  10/10");
        if (!line || !strstr(line, " dev ") ||
            (!strstr(line, " host ") && !strstr(line, " pinned ")) ||
            (modes[i] == OFFLOAD_NVME && !strstr(line, " nvme ")))
            fail_msg("the progress line's memory per tier:\n%s", text);
    }
    /* a resident run's records have none */
    o.offload = OFFLOAD_NONE;
    assert_int_equal(train_into(&o, "metrics-none", losses), 10);
    snprintf(metrics, sizeof metrics, "%s.jsonl", tmp_path("metrics-none", dir, sizeof dir));
    char *all = read_file(metrics, NULL);
    assert_non_null(all);
    assert_null(strstr(all, "\"offload\""));
    free(all);
}

/* ---- the ops' scratch in the plan ----------------------------------------------------- */

static void scratch_is_planned(void **state)
{
    (void)state;
    if (!have_opencl()) {
        print_message("no OpenCL device: skipped\n");
        return;
    }
    const char *data[] = {corpus()};
    struct train_opts o = base_opts(data, "opencl:0");
    o.dtype = CLT_DTYPE_BF16;
    o.accum = 1;
    o.batch = 4;
    o.steps = 3;
    o.offload = OFFLOAD_HOST;
    const uint64_t scratch = ops_scratch(&o);
    const uint64_t held = streamed_footprint(&o);
    print_message("streamed model %llu bytes on the device, ops' scratch %llu\n",
                  (unsigned long long)held, (unsigned long long)scratch);
    assert_true(scratch > 0); /* the GEMM's packed panels at least */

    /* room for the model but not its scratch: refused before step 1, with the bytes */
    const size_t cap = 1 << 20;
    char *text = malloc(cap), bytes[32];
    assert_non_null(text);
    o.device_mem = held + scratch / 2;
    assert_int_equal(run_captured(&o, text, cap), 1);
    snprintf(bytes, sizeof bytes, "%llu", (unsigned long long)scratch);
    if (!strstr(text, "tier DEVICE") || !strstr(text, "scratch") || !strstr(text, bytes) ||
        strstr(text, "step   1"))
        fail_msg("a budget without room for the scratch (%s bytes), got:\n%s", bytes, text);

    /* room for both: it trains, and no GEMM leaves its fast path for want of memory */
    o.device_mem = held + scratch;
    setenv("CLT_LOG", "info", 1);
    const int status = run_captured(&o, text, cap);
    unsetenv("CLT_LOG");
    if (status != 0 || strstr(text, "running the direct kernel instead") ||
        strstr(text, "out of memory"))
        fail_msg("a budget of exactly the model and its scratch, exit %d:\n%s", status, text);
    free(text);
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
        cmocka_unit_test(metrics_carry_offload_counters),
        cmocka_unit_test(scratch_is_planned),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
