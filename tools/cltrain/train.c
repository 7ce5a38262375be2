/* `cltrain train` (train.h): set up, then per step: micro-batches forward and backward,
 * the gradients' norm, the optimizer, the progress line; evaluations and checkpoints
 * on their schedules; a summary and a sample at the end. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ckpt.h"
#include "data.h"
#include "dist.h"
#include "progress.h"
#include "rng.h"
#include "sample.h"
#include "scratch.h"
#include "train.h"
#include "common/units.h"

#define VAL_FRACTION 0.1
#define F16_SCALE_INIT 65536.0f   /* 2^16, as PyTorch's GradScaler starts */
#define F16_SCALE_MAX 16777216.0f /* 2^24 */
#define F16_GROWTH_INTERVAL 1000  /* good steps before the scale doubles */
#define KEEP_SLACK 4096           /* DEVICE bytes allocated after the model: the norm */

/* Set by SIGINT/SIGTERM: the loop finishes its step, saves and stops. A signal handler
 * can only reach a variable of this kind, hence the one static of the tool. */
static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

double train_lr_at(const struct train_opts *o, int64_t warmup, int64_t step)
{
    if (step <= warmup)
        return o->lr * (double)step / (double)warmup;
    if (step >= o->steps)
        return o->lr * o->min_lr_frac;
    const double done = (double)(step - warmup) / (double)(o->steps - warmup);
    const double cosine = 0.5 * (1.0 + cos(M_PI * done));
    return o->lr * (o->min_lr_frac + (1.0 - o->min_lr_frac) * cosine);
}

/* Everything a run holds; released in one place. */
struct run {
    clt_context *ctx;
    data_corpus *data;
    gpt_model *model;
    optim *opt;
    progress *prog;
    clt_buffer *norm_buf;
    clt_tensor norm, grads;
    int32_t *tokens, *targets;
    uint64_t scratch;  /* DEVICE bytes the ops' scratch takes at its peak (scratch.h) */
    int kept;          /* offloaded: blocks whose activations are not recomputed */
    bool eager;        /* offloaded: each block's update starts as its gradients land */
    /* what a checkpoint carries beyond tensors */
    int64_t step, opt_step, good_steps, tokens_seen;
    float loss_scale;
    struct rng data_rng;
    /* data parallelism: the ranks (dist.comm NULL for one process), and whether one of
     * them was asked to stop (the step's all-reduced flag) */
    struct dist dist;
    bool stop_all;
    char device[128];  /* this rank's entry of --device's list */
};

/* Whether the run stops after this step: a signal here, or on any rank. */
static bool stopping(const struct run *r)
{
    return r->dist.comm ? r->stop_all : stop_requested != 0;
}

static const char *dtype_name(clt_dtype d)
{
    return d == CLT_DTYPE_F32 ? "f32" : d == CLT_DTYPE_BF16 ? "bf16" : "f16";
}

/* A line on stderr after "cltrain: ", or "cltrain: rank R of N: " in a data-parallel
 * run, where every rank may speak. */
__attribute__((format(printf, 2, 3))) static void errorf(const struct run *r,
                                                         const char *fmt, ...)
{
    fputs(r->dist.prefix[0] ? r->dist.prefix : "cltrain: ", stderr);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fflush(stderr);
}

/* Fails with the library's sentence, prefixed by what was being done. */
static bool clt_ok(const struct run *r, clt_status s, const char *doing)
{
    if (s == CLT_OK)
        return true;
    errorf(r, "%s: %s (%s)\n", doing, clt_last_error(), clt_status_str(s));
    return false;
}

/* The same for the model's calls, whose own refusals (a bad token) are in gpt_error. */
static bool gpt_ok(const struct run *r, clt_status s, const char *doing)
{
    if (s == CLT_OK)
        return true;
    errorf(r, "%s: %s (%s)\n", doing, gpt_error(r->model), clt_status_str(s));
    return false;
}

/* --out must be a directory we can write, checked before the first step rather than
 * after the last. */
static bool out_dir_ready(const struct run *r, const char *dir)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        errorf(r, "--out %s: cannot create the directory: %s\n", dir, strerror(errno));
        return false;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        errorf(r, "--out %s: not a directory\n", dir);
        return false;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        errorf(r, "--out %s: not writable: %s\n", dir, strerror(errno));
        return false;
    }
    return true;
}

/* ---- checkpoints --------------------------------------------------------------------- */

static bool save_checkpoint(struct run *r, const struct train_opts *o, const char *dir)
{
    char step[24], opt_step[24], good[24], tokens[24], scale[40], rng[80], seed[24];
    snprintf(step, sizeof step, "%" PRId64, r->step);
    snprintf(opt_step, sizeof opt_step, "%" PRId64, r->opt_step);
    snprintf(good, sizeof good, "%" PRId64, r->good_steps);
    snprintf(tokens, sizeof tokens, "%" PRId64, r->tokens_seen);
    snprintf(scale, sizeof scale, "%a", (double)r->loss_scale); /* exact */
    snprintf(rng, sizeof rng, "%016" PRIx64 "%016" PRIx64 "%016" PRIx64 "%016" PRIx64,
             r->data_rng.s[0], r->data_rng.s[1], r->data_rng.s[2], r->data_rng.s[3]);
    snprintf(seed, sizeof seed, "%" PRIu64, o->seed);
    const char *meta[] = {"step", step, "opt_step", opt_step, "good_steps", good,
                          "tokens_seen", tokens, "loss_scale", scale, "data_rng", rng,
                          "seed", seed, "optimizer", optim_kind_name(o->optimizer),
                          "dtype", dtype_name(o->dtype), NULL};
    char err[1024];
    struct dist_state state;
    if (!clt_ok(r, optim_settle(r->opt), "checkpoint: the offloaded optimizer"))
        return false;
    /* sharded: the other ranks' state to rank 0; then rank 0 alone writes */
    if (!dist_gather_state(&r->dist, r->ctx, r->model, o->optimizer, r->opt, &state, err,
                           sizeof err)) {
        errorf(r, "%s\n", err);
        dist_state_release(&state);
        return false;
    }
    bool ok = true;
    if (r->dist.rank == 0 &&
        !(ok = ckpt_save(r->ctx, dir, r->model, state.tensors, state.n, meta, err, sizeof err)))
        errorf(r, "checkpoint: %s\n", err);
    dist_state_release(&state);
    /* no rank runs ahead of a save that failed: every one stops */
    if (r->dist.comm) {
        const bool mine = ok;
        if (!clt_ok(r, dist_share_verdict(&r->dist, &ok), "checkpoint: rank 0's verdict"))
            return false;
        if (!ok && mine)
            errorf(r, "checkpoint: rank 0 could not save it (its error is above); stopping\n");
    }
    return ok;
}

static bool meta_i64(const struct run *r, const char *dir, const char *key, int64_t *out)
{
    char v[64], err[512], *end = NULL;
    if (!ckpt_state_meta(dir, key, v, sizeof v, err, sizeof err)) {
        errorf(r, "--resume: %s\n", err);
        return false;
    }
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end) {
        errorf(r, "--resume %s: state.safetensors: %s is \"%s\", not an integer\n", dir,
               key, v);
        return false;
    }
    *out = x;
    return true;
}

static bool meta_expect(const struct run *r, const char *dir, const char *key, const char *want)
{
    char v[64], err[512];
    if (!ckpt_state_meta(dir, key, v, sizeof v, err, sizeof err)) {
        errorf(r, "--resume: %s\n", err);
        return false;
    }
    if (strcmp(v, want) != 0) {
        errorf(r, "--resume %s: the checkpoint was trained with %s %s; this run asks for %s "
                  "(pass the same --%s)\n", dir, key, v, want, key);
        return false;
    }
    return true;
}

static bool resume_from(struct run *r, const struct train_opts *o)
{
    const char *dir = o->resume;
    char err[1024], v[80];
    if (!meta_expect(r, dir, "optimizer", optim_kind_name(o->optimizer)) ||
        !meta_expect(r, dir, "dtype", dtype_name(o->dtype)))
        return false;
    if (!ckpt_load_model(r->ctx, dir, r->model, err, sizeof err)) {
        errorf(r, "--resume: %s\n", err);
        return false;
    }
    size_t n = 0;
    const clt_named_tensor *state = optim_state_tensors(r->opt, &n);
    if (!ckpt_load_state(r->ctx, dir, state, n, err, sizeof err)) {
        errorf(r, "--resume: %s\n", err);
        return false;
    }
    if (!meta_i64(r, dir, "step", &r->step) || !meta_i64(r, dir, "opt_step", &r->opt_step) ||
        !meta_i64(r, dir, "good_steps", &r->good_steps) ||
        !meta_i64(r, dir, "tokens_seen", &r->tokens_seen))
        return false;
    if (!ckpt_state_meta(dir, "loss_scale", v, sizeof v, err, sizeof err)) {
        errorf(r, "--resume: %s\n", err);
        return false;
    }
    char *end = NULL;
    r->loss_scale = (float)strtod(v, &end);
    bool ok = end != v && *end == '\0' && r->loss_scale > 0;
    if (ok && ckpt_state_meta(dir, "data_rng", v, sizeof v, err, sizeof err) &&
        strlen(v) == 64) {
        for (int i = 0; i < 4 && ok; i++) {
            char word[17];
            memcpy(word, v + 16 * i, 16);
            word[16] = '\0';
            r->data_rng.s[i] = strtoull(word, &end, 16);
            ok = *end == '\0';
        }
    } else {
        ok = false;
    }
    if (!ok) {
        errorf(r, "--resume %s: state.safetensors: loss_scale or data_rng is malformed\n",
               dir);
        return false;
    }
    if (r->step > o->steps) {
        errorf(r, "--resume %s: the checkpoint is at step %" PRId64 ", past --steps %" PRId64
                  "\n", dir, r->step, o->steps);
        return false;
    }
    return true;
}

/* ---- one step ------------------------------------------------------------------------ */

struct step_times {
    double forward, backward, optim;
};

/* Mean validation loss over eval_batches batches of the global batch size, each rank
 * on its rows. */
static bool evaluate(struct run *r, const struct train_opts *o, double *loss)
{
    const int T = r->model ? gpt_config_of(r->model)->ctx : 0;
    const int N = r->dist.size, b = o->batch;
    double sum = 0.0;
    for (int k = 0; k < o->eval_batches; k++) {
        float l = 0.0f;
        data_val_rows(r->data, k, N * b, r->dist.rank * b, b, T, r->tokens, r->targets);
        if (!gpt_ok(r, gpt_forward(r->model, r->tokens, r->targets, b, T, &l),
                    "validation forward"))
            return false;
        sum += l;
    }
    if (r->dist.comm) {
        float v = (float)sum;
        if (!clt_ok(r, dist_sum(&r->dist, &v, 1), "validation loss over the ranks"))
            return false;
        sum = (double)v / N;
    }
    *loss = sum / o->eval_batches;
    return true;
}

/* The last micro-batch's backward pass, its gradients all-reduced while it runs. */
static bool backward_synced(struct run *r, float dloss, bool accumulate)
{
    if (!gpt_ok(r, gpt_set_grad_ready(r->model, dist_grad_ready, &r->dist), "backward"))
        return false;
    const clt_status s = gpt_backward(r->model, dloss, accumulate);
    (void)gpt_set_grad_ready(r->model, NULL, NULL);
    return gpt_ok(r, s, "backward") && clt_ok(r, clt_context_finish(r->ctx), "backward") &&
           clt_ok(r, dist_grad_finish(&r->dist), "gradient all-reduce");
}

/* The step's values summed over the ranks in one collective, so every rank logs the
 * same loss, stops at the same step and takes the same decision on the norm (the
 * gradients are the same everywhere; this keeps ranks on different devices agreeing on
 * its last bits). */
static bool agree(struct run *r, double *loss, float *norm2)
{
    float v[3] = {(float)*loss, stop_requested ? 1.0f : 0.0f, *norm2};
    if (!clt_ok(r, dist_sum(&r->dist, v, 3), "the step's loss over the ranks"))
        return false;
    const float N = (float)r->dist.size;
    *loss = v[0] / N;
    r->stop_all = v[1] > 0;
    *norm2 = v[2] / N;
    return true;
}

/* Micro-batches, norm, clipping, optimizer. *skipped when the gradients overflowed. */
static bool train_step(struct run *r, const struct train_opts *o, double lr, double *loss,
                       double *grad_norm, bool *skipped, struct step_times *t)
{
    const int T = gpt_config_of(r->model)->ctx;
    const int N = r->dist.size, b = o->batch;
    double sum = 0.0, t0 = now_s();
    for (int a = 0; a < o->accum; a++) {
        float l = 0.0f;
        data_train_rows(r->data, &r->data_rng, N * b, r->dist.rank * b, b, T, r->tokens,
                        r->targets);
        if (!gpt_ok(r, gpt_forward(r->model, r->tokens, r->targets, b, T, &l), "forward"))
            return false;
        const double t1 = now_s();
        t->forward += t1 - t0;
        /* eager: the last micro-batch's backward pass hands each block to the host
         * optimizer as its gradients land (no clipping: the scale is known now) */
        if (r->eager && a == o->accum - 1 &&
            !clt_ok(r, clt_offload_begin_step(gpt_offload(r->model), (float)lr,
                                              r->opt_step + 1, 1.0f / r->loss_scale),
                    "optimizer"))
            return false;
        /* dloss: the mean over the micro-batches and the ranks, f16's loss scale */
        const float dloss = r->loss_scale / (float)o->accum / (float)N;
        if (r->dist.sync && a == o->accum - 1) {
            if (!backward_synced(r, dloss, a > 0))
                return false;
        } else if (!gpt_ok(r, gpt_backward(r->model, dloss, a > 0), "backward") ||
                   !clt_ok(r, clt_context_finish(r->ctx), "backward")) {
            return false;
        }
        t0 = now_s();
        t->backward += t0 - t1;
        sum += l;
    }
    r->tokens_seen += (int64_t)N * b * T * o->accum;
    *loss = sum / o->accum;

    float norm2 = 0.0f;
    clt_offload *off = gpt_offload(r->model);
    if (off) {
        if (!clt_ok(r, clt_offload_grad_sqnorm(off, &norm2), "gradient norm"))
            return false;
    } else {
        clt_op sq = {.kind = CLT_OP_SQNORM, .u.sqnorm = {.x = r->grads, .norm = r->norm}};
        if (!clt_ok(r, clt_op_run(r->ctx, &sq, NULL), "gradient norm") ||
            !clt_ok(r, clt_buffer_read(r->norm_buf, 0, &norm2, sizeof norm2, NULL),
                    "gradient norm"))
            return false;
    }
    if (r->dist.comm && !agree(r, loss, &norm2))
        return false;
    *grad_norm = sqrt((double)norm2) / r->loss_scale;
    *skipped = !isfinite(norm2);
    if (r->eager) { /* the update is under way already */
        r->opt_step++;
        int n_skipped = 0;
        if (*skipped &&
            clt_ok(r, clt_offload_skipped(off, &n_skipped, NULL), "optimizer"))
            progress_note(r->prog, "step %lld: non-finite gradients in %d of %d parameter "
                                   "groups: those were left unchanged, the others updated "
                                   "(updates start during the backward pass with --clip 0)",
                          (long long)r->step + 1, n_skipped, gpt_config_of(r->model)->layers + 2);
        t->optim += now_s() - t0;
        return true;
    }
    if (*skipped) {
        /* f16 overflow: nothing changes but the scale (a bf16/f32 run reports it) */
        if (o->dtype == CLT_DTYPE_F16)
            r->loss_scale = r->loss_scale / 2 < 1.0f ? 1.0f : r->loss_scale / 2;
        r->good_steps = 0;
        t->optim += now_s() - t0;
        return true;
    }
    const double clip = o->clip > 0 && *grad_norm > o->clip ? o->clip / *grad_norm : 1.0;
    r->opt_step++;
    if (!clt_ok(r, optim_step(r->opt, (float)lr, r->opt_step, (float)(clip / r->loss_scale),
                              &r->norm),
                "optimizer") ||
        !clt_ok(r, clt_context_finish(r->ctx), "optimizer"))
        return false;
    /* sharded: each rank updated its own tensors; every rank gets all of them (an
     * offloaded model's engine shares its groups itself) */
    if (r->dist.shard && !off &&
        !gpt_ok(r, dist_gather_params(&r->dist, r->model), "all-gathering the parameters"))
        return false;
    t->optim += now_s() - t0;
    if (o->dtype == CLT_DTYPE_F16 && ++r->good_steps % F16_GROWTH_INTERVAL == 0 &&
        r->loss_scale * 2 <= F16_SCALE_MAX)
        r->loss_scale *= 2;
    return true;
}

/* ---- set-up ---------------------------------------------------------------------------- */

/* The ops' scratch (scratch.h) on the run's device, before the model takes its part of
 * the DEVICE budget. */
static bool measure_scratch(struct run *r, const struct train_opts *o,
                            const struct gpt_config *cfg)
{
    clt_device_info dev;
    char err[1024];
    if (!clt_ok(r, clt_context_device(r->ctx, &dev), "the device"))
        return false;
    const struct scratch_probe probe = {
        .device = dev.name, .cfg = *cfg, .dtype = o->dtype, .batch = o->batch,
        .accumulate = o->accum > 1, .offloaded = o->offload != OFFLOAD_NONE,
        .optimizer = o->optimizer};
    if (!scratch_measure(&probe, &r->scratch, err, sizeof err)) {
        errorf(r, "measuring the ops' DEVICE scratch on %s: %s\n", dev.name, err);
        return false;
    }
    return true;
}

/* The scratch must fit in what the DEVICE budget leaves once everything is allocated:
 * nothing but scratch is allocated on the device after set-up, so the room checked
 * here stays free for it. */
static bool scratch_fits(struct run *r, const struct train_opts *o)
{
    clt_device_info dev;
    clt_stats st;
    if (!clt_ok(r, clt_context_device(r->ctx, &dev), "the device") ||
        !clt_ok(r, clt_context_stats(r->ctx, &st), "the device's memory"))
        return false;
    const uint64_t used = st.mem_used[CLT_TIER_DEVICE], budget = st.mem_budget[CLT_TIER_DEVICE];
    if (budget >= used && budget - used >= r->scratch)
        return true;
    char b1[32], b2[32], b3[32], b4[32];
    errorf(r, "tier DEVICE on %s: the ops need %s of scratch (GEMM panels, workspaces) "
              "beside the %s this run holds there, %s in all, over the DEVICE budget of %s; "
              "without that room they would fall back to slower kernels (the bytes: %" PRIu64
              " + %" PRIu64 " > %" PRIu64 "). Give --device-mem %" PRIu64 "M or more%s, or "
              "lower --batch\n",
           dev.name, format_bytes(r->scratch, b1, sizeof b1), format_bytes(used, b2, sizeof b2),
           format_bytes(used + r->scratch, b3, sizeof b3), format_bytes(budget, b4, sizeof b4),
           used, r->scratch, budget, (used + r->scratch + (1u << 20) - 1) >> 20,
           o->offload == OFFLOAD_NONE ? ", train with --offload host" : "");
    return false;
}

static bool setup(struct run *r, const struct train_opts *o, struct gpt_config *cfg)
{
    char err[1024];
    clt_context_opts copts;
    clt_context_opts_init(&copts);
    /* the ranks first: they say which device of the list is this rank's */
    if (!dist_open(&r->dist, &o->dist, err, sizeof err) ||
        !dist_device(&r->dist, o->device, r->device, sizeof r->device, &copts.device, err,
                     sizeof err)) {
        errorf(r, "%s\n", err);
        return false;
    }
    copts.mem_budget[CLT_TIER_DEVICE] = o->device_mem;
    copts.mem_budget[CLT_TIER_HOST] = o->host_mem;
    copts.mem_budget[CLT_TIER_HOST_PINNED] = o->host_mem; /* the engine's host side */
    copts.nvme_dir = o->nvme_dir;
    if (!clt_ok(r, clt_context_create(&copts, &r->ctx), "opening the device"))
        return false;
    *cfg = o->cfg;
    if (o->resume) {
        struct gpt_config saved;
        if (!ckpt_read_config(o->resume, &saved, err, sizeof err)) {
            errorf(r, "--resume: %s\n", err);
            return false;
        }
        if (o->cfg_given && memcmp(&saved, cfg, sizeof saved) != 0) {
            errorf(r, "--resume %s holds a model of %d layers, %d heads, %d dims, ctx %d, "
                      "vocab %d; this run asks for %d, %d, %d, %d, %d\n",
                   o->resume, saved.layers, saved.heads, saved.dim, saved.ctx, saved.vocab,
                   cfg->layers, cfg->heads, cfg->dim, cfg->ctx, cfg->vocab);
            return false;
        }
        *cfg = saved;
    }
    if (!gpt_config_valid(cfg, err, sizeof err)) {
        errorf(r, "model: %s\n", err);
        return false;
    }
    if (!data_open(o->data, o->n_data, cfg->ctx, VAL_FRACTION, &r->data, err, sizeof err)) {
        errorf(r, "data: %s\n", err);
        return false;
    }
    struct optim_hparams h = optim_defaults(o->optimizer);
    if (o->weight_decay >= 0)
        h.weight_decay = (float)o->weight_decay;
    if (!measure_scratch(r, o, cfg))
        return false;
    if (o->offload != OFFLOAD_NONE) {
        clt_offload_opts oo;
        optim_offload_opts(o->optimizer, h,
                           o->offload == OFFLOAD_NVME ? CLT_TIER_NVME : CLT_TIER_HOST, &oo);
        /* Without global-norm clipping or dynamic loss scaling nothing waits for the
         * whole gradient: each block is updated while earlier blocks' backward runs. */
        r->eager = o->clip == 0 && o->dtype != CLT_DTYPE_F16;
        oo.update = r->eager ? CLT_OFFLOAD_UPDATE_EAGER : CLT_OFFLOAD_UPDATE_AFTER_BACKWARD;
        /* what the budget leaves beside the scratch (and the norm, allocated below)
         * keeps blocks' activations instead of recomputing them */
        if (!clt_ok(r, gpt_create_streamed_comm(r->ctx, cfg, o->dtype, o->batch, &oo,
                                                r->dist.comm, r->dist.shard, &r->model),
                    "offloaded model") ||
            !gpt_ok(r, gpt_keep_activations(r->model, r->scratch + KEEP_SLACK, &r->kept),
                    "offloaded model"))
            return false;
    } else if (!clt_ok(r, gpt_create(r->ctx, cfg, o->dtype, o->batch, &r->model), "model")) {
        return false; /* the config was checked above: what is left is memory */
    }

    /* parameters from the seed (a resume overwrites them), gradients zeroed so that the
     * layout's padding adds nothing to the norm */
    const size_t count = gpt_param_count(cfg);
    struct gpt_param *layout = malloc(count * sizeof *layout);
    const size_t total = layout ? gpt_params_layout(cfg, layout) : 0;
    float *host = layout ? calloc(total, sizeof *host) : NULL;
    bool ok = host != NULL;
    if (ok) {
        gpt_init_params(cfg, o->seed, host);
        ok = clt_ok(r, clt_buffer_write(gpt_param_buffer(r->model), 0, host, total * 4, NULL),
                    "uploading the parameters");
    }
    if (ok && !gpt_offload(r->model)) { /* offloaded: the engine's gradients start at 0 */
        memset(host, 0, total * sizeof *host);
        const size_t gbytes = total * (o->dtype == CLT_DTYPE_F32 ? 4 : 2);
        ok = ok && clt_ok(r, clt_buffer_write(gpt_grad_buffer(r->model), 0, host, gbytes, NULL),
                          "zeroing the gradients") &&
             clt_ok(r, clt_tensor_init(&r->grads, gpt_grad_buffer(r->model), 0, o->dtype, 1,
                                       (const int64_t[]){(int64_t)total}),
                    "gradients");
    } else if (!host) {
        errorf(r, "out of host memory for the initial parameters\n");
    }
    free(host);
    free(layout);
    if (!ok || !gpt_ok(r, gpt_sync_work(r->model), "working copy") ||
        !clt_ok(r, dist_attach(&r->dist, r->model, total), "data-parallel set-up"))
        return false;

    size_t own_first = 0, own_end = 0;
    dist_owned(&r->dist, count, &own_first, &own_end);
    if (!clt_ok(r, gpt_offload(r->model)
                    ? optim_create_offload_owned(r->model, o->optimizer, own_first, own_end,
                                                 &r->opt)
                    : optim_create_owned(r->ctx, r->model, o->optimizer, h, own_first,
                                         own_end, &r->opt),
                "optimizer state") ||
        !clt_ok(r, dist_share_sizes(&r->dist, optim_state_bytes(r->opt)),
                "the ranks' optimizer state sizes") ||
        !clt_ok(r, clt_buffer_create(r->ctx, 4, CLT_TIER_DEVICE, &r->norm_buf), "norm") ||
        !clt_ok(r, clt_tensor_init(&r->norm, r->norm_buf, 0, CLT_DTYPE_F32, 1,
                                   (const int64_t[]){1}),
                "norm") ||
        !scratch_fits(r, o))
        return false;
    r->tokens = malloc((size_t)o->batch * cfg->ctx * sizeof *r->tokens);
    r->targets = malloc((size_t)o->batch * cfg->ctx * sizeof *r->targets);
    if (!r->tokens || !r->targets) {
        errorf(r, "out of host memory for a batch\n");
        return false;
    }
    r->loss_scale = o->dtype == CLT_DTYPE_F16 ? F16_SCALE_INIT : 1.0f;
    rng_seed(&r->data_rng, o->seed ^ 0x64617461ull); /* "data": apart from the init's */
    if (o->resume && !resume_from(r, o))
        return false;
    return !o->out || r->dist.rank != 0 || out_dir_ready(r, o->out);
}

static void run_release(struct run *r)
{
    progress_close(r->prog);
    free(r->tokens);
    free(r->targets);
    dist_detach(&r->dist); /* its gradient sync borrows the model's gradient buffer */
    optim_destroy(r->opt);
    gpt_destroy(r->model);
    dist_close(&r->dist); /* after the engine and its duplicate of the communicator */
    clt_buffer_destroy(r->norm_buf);
    data_close(r->data);
    clt_context_destroy(r->ctx);
}

/* A data-parallel run's ranks: how they share the batch, the gradients and the state. */
static void say_ranks(struct run *r, const struct train_opts *o)
{
    const struct dist *d = &r->dist;
    if (!d->comm)
        return;
    char per[512], b[32];
    size_t at = 0;
    per[0] = '\0';
    for (int k = 0; k < d->size && at < sizeof per; k++)
        at += (size_t)snprintf(per + at, sizeof per - at, "%s%s", k ? ", " : "",
                               format_bytes(d->state_bytes[k], b, sizeof b));
    char how[128];
    if (gpt_offload(r->model))
        snprintf(how, sizeof how, "by the offload engine, group by group, as %s",
                 dtype_name(o->dtype));
    else
        snprintf(how, sizeof how, "as %s in buckets of %.0f MiB", dtype_name(d->wire),
                 (double)(d->bucket_bytes ? d->bucket_bytes : (size_t)25 << 20) / (1 << 20));
    progress_note(r->prog, "ranks: %d (%s), global batch %d sequences (%d per rank); "
                           "gradients all-reduced %s while the backward pass runs; "
                           "optimizer state %s: %s",
                  d->size, o->dist.mode == DIST_SELF ? "one process, no MPI" : "MPI",
                  d->size * o->batch, o->batch, how,
                  d->shard ? "sharded (ZeRO-1), per rank" : "whole on every rank", per);
}

static void say_plan(struct run *r, const struct train_opts *o, const struct gpt_config *cfg)
{
    clt_device_info dev;
    char b1[32], b2[32];
    size_t n = 0, params = 0;
    const struct gpt_param *table = gpt_param_table(r->model, &n);
    for (size_t i = 0; i < n; i++)
        params += table[i].numel;
    if (clt_context_device(r->ctx, &dev) != CLT_OK)
        snprintf(dev.device_name, sizeof dev.device_name, "?");
    progress_note(r->prog, "cltrain: %s on %s (%s), %s", o->resume ? "resuming" : "training",
                  dev.name, dev.device_name, dtype_name(o->dtype));
    progress_note(r->prog, "model: %d layers, %d heads, %d dims, ctx %d, vocab %d: %.2fM "
                           "parameters; model %s, %s state %s",
                  cfg->layers, cfg->heads, cfg->dim, cfg->ctx, cfg->vocab, params / 1e6,
                  format_bytes(gpt_bytes(r->model), b1, sizeof b1),
                  optim_kind_name(o->optimizer),
                  format_bytes(optim_state_bytes(r->opt), b2, sizeof b2));
    clt_offload_plan_info plan;
    if (gpt_offload(r->model) && clt_offload_plan_bytes(gpt_offload(r->model), &plan) == CLT_OK) {
        char b3[32], b4[32], b5[32];
        progress_note(r->prog, "offload %s: %d groups; %s %s (master + optimizer state), "
                               "%s %s (gradients, working copies), DEVICE %s (slots) + %s "
                               "(activations; %d of %d blocks kept, the others recomputed); "
                               "the host optimizer runs %s",
                      o->offload == OFFLOAD_NVME ? "nvme" : "host", plan.groups,
                      clt_tier_name(o->offload == OFFLOAD_NVME ? CLT_TIER_NVME : plan.host_tier),
                      format_bytes(plan.master_bytes + plan.state_bytes, b3, sizeof b3),
                      clt_tier_name(plan.host_tier), format_bytes(plan.host_bytes, b4, sizeof b4),
                      format_bytes(plan.device_bytes, b5, sizeof b5),
                      format_bytes(gpt_bytes(r->model) - plan.device_bytes, b1, sizeof b1),
                      r->kept, cfg->layers,
                      r->eager ? "during the backward pass, as each block's gradients land"
                               : "after the backward pass (global-norm clipping or loss "
                                 "scaling needs every gradient first; --clip 0 with f32 or "
                                 "bf16 lets it start during the backward pass)");
    }
    clt_stats st;
    if (clt_context_stats(r->ctx, &st) == CLT_OK) {
        const uint64_t used = st.mem_used[CLT_TIER_DEVICE], budget = st.mem_budget[CLT_TIER_DEVICE];
        char b3[32], b4[32];
        progress_note(r->prog, "DEVICE: %s held + %s op scratch (GEMM panels, workspaces) "
                               "of a budget of %s",
                      format_bytes(used, b1, sizeof b1), format_bytes(r->scratch, b3, sizeof b3),
                      budget == UINT64_MAX ? "no limit" : format_bytes(budget, b4, sizeof b4));
    }
    progress_note(r->prog, "data: %s; %zu training and %zu validation tokens",
                  data_describe(r->data), data_train_tokens(r->data),
                  data_val_tokens(r->data));
    say_ranks(r, o);
    progress_note(r->prog, "steps %" PRId64 " from %" PRId64 ", batch %d x %d tokens x "
                           "accum %d%s, lr %.2e",
                  o->steps, r->step, o->batch, cfg->ctx, o->accum,
                  r->dist.size > 1 ? " on each rank" : "", o->lr);
}

/* What the offload engine moved and waited for, per step. */
static void say_offload_stats(struct run *r, int64_t steps)
{
    clt_offload_stats st;
    if (!gpt_offload(r->model) || steps < 1 ||
        clt_offload_get_stats(gpt_offload(r->model), &st) != CLT_OK)
        return;
    const double n = (double)steps, mib = 1024.0 * 1024.0;
    progress_note(r->prog, "offload per step: %.1f MiB to the device, %.1f MiB from it, "
                           "NVMe %.1f MiB read and %.1f MiB written; host optimizer %.1f ms, "
                           "%.1f ms of it waiting for NVMe staging (%.1f ms in all); waited "
                           "%.1f ms for it in fetches, %.1f ms for gradients",
                  st.bytes_to_device / mib / n, st.bytes_from_device / mib / n,
                  st.bytes_nvme_read / mib / n, st.bytes_nvme_write / mib / n,
                  st.optim_s * 1e3 / n, st.nvme_wait_s * 1e3 / n, st.nvme_s * 1e3 / n,
                  (st.fetch_wait_s + st.optim_idle_wait_s) * 1e3 / n, st.grad_wait_s * 1e3 / n);
}

/* ---- the run ------------------------------------------------------------------------- */

/* The offload engine's counters now; false for a resident model. */
static bool offload_counters(struct run *r, clt_offload_stats *out)
{
    memset(out, 0, sizeof *out);
    return gpt_offload(r->model) && clt_offload_get_stats(gpt_offload(r->model), out) == CLT_OK;
}

/* What the counters grew by from a to b. */
static clt_offload_stats offload_delta(const clt_offload_stats *a, const clt_offload_stats *b)
{
    return (clt_offload_stats){
        .bytes_to_device = b->bytes_to_device - a->bytes_to_device,
        .bytes_from_device = b->bytes_from_device - a->bytes_from_device,
        .bytes_nvme_read = b->bytes_nvme_read - a->bytes_nvme_read,
        .bytes_nvme_write = b->bytes_nvme_write - a->bytes_nvme_write,
        .fetches = b->fetches - a->fetches,
        .uploads = b->uploads - a->uploads,
        .fetch_wait_s = b->fetch_wait_s - a->fetch_wait_s,
        .grad_wait_s = b->grad_wait_s - a->grad_wait_s,
        .optim_s = b->optim_s - a->optim_s,
        .optim_idle_wait_s = b->optim_idle_wait_s - a->optim_idle_wait_s,
        .nvme_s = b->nvme_s - a->nvme_s,
        .nvme_wait_s = b->nvme_wait_s - a->nvme_wait_s};
}

int train_run(const struct train_opts *o)
{
    struct run r;
    memset(&r, 0, sizeof r);
    struct gpt_config cfg;
    int status = 1;
    char err[1024];
    double val_loss = NAN, last_loss = NAN;
    struct step_times total = {0};
    struct run_summary sum = {.final_loss = NAN, .val_loss = NAN};
    const double t_start = now_s();
    bool saved_at_end = false;

    stop_requested = 0;
    signal(SIGINT, on_stop_signal);
    signal(SIGTERM, on_stop_signal);
    if (!setup(&r, o, &cfg))
        goto done;
    const int64_t warmup = o->warmup >= 0 ? o->warmup : (o->steps / 10 < 100 ? o->steps / 10 : 100);
    const int64_t stop_at = o->stop_at > 0 && o->stop_at < o->steps ? o->stop_at : o->steps;
    const int64_t every = o->log_every > 0 ? o->log_every : (o->steps >= 100 ? o->steps / 50 : 1);
    /* rank 0 speaks for the run; the others only say their errors */
    const bool speaks = r.dist.rank == 0;
    if (!progress_open(speaks ? stderr : NULL, speaks ? o->metrics : NULL, every, &r.prog, err,
                       sizeof err)) {
        errorf(&r, "%s\n", err);
        goto done;
    }
    say_plan(&r, o, &cfg);

    const int64_t first = r.step;
    const double tokens_per_step = (double)r.dist.size * o->batch * cfg.ctx * o->accum;
    while (r.step < stop_at && !stopping(&r)) {
        const int64_t step = r.step + 1;
        const double lr = train_lr_at(o, warmup, step);
        struct step_times t = {0};
        double loss = 0, gnorm = 0;
        bool skipped = false;
        clt_offload_stats off0, off1;
        const bool offloaded = offload_counters(&r, &off0);
        const struct dist_mark comm0 = dist_mark(&r.dist, r.model);
        const double t0 = now_s();
        if (!train_step(&r, o, lr, &loss, &gnorm, &skipped, &t))
            goto done;
        const struct dist_mark comm1 = dist_mark(&r.dist, r.model);
        r.step = step;
        last_loss = loss;
        sum.skipped += skipped;
        total.forward += t.forward;
        total.backward += t.backward;
        total.optim += t.optim;
        const double dt = now_s() - t0;
        const int64_t done_steps = step - first;
        const double per_step = (now_s() - t_start) / (double)done_steps;
        clt_stats stats;
        (void)clt_context_stats(r.ctx, &stats);
        struct step_report rep = {
            .step = step, .total = o->steps, .loss = loss, .lr = lr, .grad_norm = gnorm,
            .tokens_per_s = tokens_per_step / dt, .ms_step = dt * 1e3,
            .ms_forward = t.forward * 1e3, .ms_backward = t.backward * 1e3,
            .ms_optim = t.optim * 1e3, .eta_s = per_step * (double)(stop_at - step),
            .skipped = skipped, .loss_scale = r.loss_scale};
        memcpy(rep.mem_used, stats.mem_used, sizeof rep.mem_used);
        if (offloaded && offload_counters(&r, &off1)) {
            rep.offloaded = true;
            rep.offload = offload_delta(&off0, &off1);
        }
        if (r.dist.comm) {
            rep.dist = true;
            rep.comm = dist_report(&r.dist, r.model, r.opt, &comm0, &comm1);
            dist_report_add(&sum.comm, &rep.comm);
        }
        progress_step(r.prog, &rep);
        if ((o->eval_every > 0 && step % o->eval_every == 0) || step == o->steps) {
            if (!evaluate(&r, o, &val_loss))
                goto done;
            progress_eval(r.prog, step, val_loss);
        }
        if (o->out && o->ckpt_every > 0 && step % o->ckpt_every == 0 && step != stop_at) {
            if (!save_checkpoint(&r, o, o->out))
                goto done;
        }
        if (o->after_step)
            o->after_step(o->after_step_user, step);
        dist_test_fault(&r.dist, step);
    }
    if (o->out) {
        if (!save_checkpoint(&r, o, o->out))
            goto done;
        saved_at_end = true;
    }
    if (!clt_ok(&r, optim_settle(r.opt), "the offloaded optimizer"))
        goto done;
    say_offload_stats(&r, r.step - first);
    const int64_t ran = r.step - first;
    const double seconds = now_s() - t_start;
    clt_stats stats;
    (void)clt_context_stats(r.ctx, &stats);
    sum.steps_run = ran;
    sum.last_step = r.step;
    sum.seconds = seconds;
    sum.tokens = (double)ran * tokens_per_step;
    const double train_s = total.forward + total.backward + total.optim;
    sum.tokens_per_s = train_s > 0 ? sum.tokens / train_s : 0;
    sum.ms_forward = ran ? total.forward * 1e3 / ran : 0;
    sum.ms_backward = ran ? total.backward * 1e3 / ran : 0;
    sum.ms_optim = ran ? total.optim * 1e3 / ran : 0;
    sum.ms_step = sum.ms_forward + sum.ms_backward + sum.ms_optim;
    sum.final_loss = last_loss;
    sum.val_loss = val_loss;
    memcpy(sum.mem_peak, stats.mem_peak, sizeof sum.mem_peak);
    sum.checkpoint = saved_at_end ? o->out : NULL;
    sum.offloaded = offload_counters(&r, &sum.offload);
    sum.dist = r.dist.comm != NULL;
    sum.comm.ranks = r.dist.size;
    sum.comm.state_bytes = optim_state_bytes(r.opt);
    sum.shard = r.dist.shard;
    sum.wire = dtype_name(gpt_offload(r.model) ? o->dtype : r.dist.wire);
    sum.state_bytes = r.dist.state_bytes;
    progress_summary(r.prog, &sum);
    if (stopping(&r)) {
        progress_note(r.prog, "cltrain: stopped by a signal at step %" PRId64 "%s", r.step,
                      saved_at_end ? "; the checkpoint holds it" : "");
        status = 130;
        goto done;
    }
    if (o->sample_tokens > 0 && speaks) { /* every rank holds the same model */
        struct rng srng;
        rng_seed(&srng, o->seed ^ 0x73616d706c65ull); /* "sample" */
        const struct sample_opts so = {.tokens = o->sample_tokens,
                                       .temperature = o->temperature, .top_k = o->top_k};
        progress_note(r.prog, "sample (%d tokens, temperature %.2f, top-k %d):",
                      o->sample_tokens, o->temperature, o->top_k);
        if (!gpt_ok(&r, sample_generate(r.model, &so, &srng, stdout), "sampling"))
            goto done;
        fputc('\n', stdout);
        fflush(stdout);
    }
    status = 0;
done:
    run_release(&r);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    return status;
}
