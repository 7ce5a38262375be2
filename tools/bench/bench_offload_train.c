/* clt-bench offload, training part (bench_offload_train.h): cltrain's model resident
 * and offloaded, its steps timed in interleaved rounds.
 *
 * The step is cltrain's (train.c's train_step) without what a benchmark does not need:
 * one micro-batch, no loss scale, no clipping, a constant learning rate. train_step is
 * private to train.c, so the few calls are made here through the same model (gpt.h)
 * and optimizer (optim.h) cltrain uses. */
#include "bench/bench_offload_train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_rounds.h"
#include "common/units.h"
#include "gpt.h"
#include "optim.h"

#define LR 1e-4f
#define SEED 1234

static const char *const row_names[TRAIN_ROWS] = {"resident", "host", "host_fwdbwd", "nvme",
                                                  "nvme_fwdbwd"};
static const char *const row_titles[TRAIN_ROWS] = {
    "fully resident", "offload host", "  without optimizer", "offload nvme",
    "  without optimizer"};

/* Each ratio with its goal: x over y of the median times as bench_result_ratio takes
 * them (y's time over x's), so a tokens/s ratio is (offloaded, resident) and a
 * time ratio (fwd+bwd, step). */
static const struct {
    const char *name, *title;
    int x, y;
    double goal;
    bool at_least; /* the goal is a floor, else a ceiling */
} ratios[TRAIN_RATIOS] = {
    {"host_over_resident", "host tokens/s over resident", TRAIN_HOST, TRAIN_RESIDENT, 0.7,
     true},
    {"host_step_over_fwdbwd", "host step over its fwd+bwd", TRAIN_HOST_FWDBWD, TRAIN_HOST,
     1.15, false},
    {"nvme_over_resident", "nvme tokens/s over resident", TRAIN_NVME, TRAIN_RESIDENT, 0.7,
     true},
    {"nvme_step_over_fwdbwd", "nvme step over its fwd+bwd", TRAIN_NVME_FWDBWD, TRAIN_NVME,
     1.15, false},
};

/* One model with everything its steps need: resident, or streamed with its master
 * values and optimizer state on HOST or NVME. */
struct model_set {
    clt_context *ctx;
    gpt_model *model;
    optim *opt;
    clt_buffer *norm_buf; /* resident: the gradients' squared norm, AdamW's gate */
    clt_tensor norm, grads;
    int64_t opt_step;
};

/* One row's timed call: `steps` steps of a model set, with or without the optimizer. */
struct row_call {
    struct model_set *set;
    bool optimizer;
    int steps, B, T;
    const int32_t *tokens, *targets;
    float loss;
    clt_offload_stats engine; /* the engine's counters over the call */
    char error[256];
};

static bool failed_with(struct row_call *c, const char *doing, const char *why)
{
    snprintf(c->error, sizeof c->error, "failed: %s: %.200s", doing, why);
    return false;
}

/* The gradients' squared norm, read back to the host as cltrain reads it (to clip). */
static clt_status grad_sqnorm(struct model_set *s, float *out)
{
    clt_offload *off = gpt_offload(s->model);
    if (off)
        return clt_offload_grad_sqnorm(off, out);
    clt_op sq = {.kind = CLT_OP_SQNORM, .u.sqnorm = {.x = s->grads, .norm = s->norm}};
    clt_status st = clt_op_run(s->ctx, &sq, NULL);
    return st == CLT_OK ? clt_buffer_read(s->norm_buf, 0, out, sizeof *out, NULL) : st;
}

static bool run_steps(void *user)
{
    struct row_call *c = user;
    struct model_set *s = c->set;
    clt_offload *off = gpt_offload(s->model);
    if (off)
        clt_offload_reset_stats(off);
    for (int k = 0; k < c->steps; k++) {
        float norm2 = 0.0f;
        if (gpt_forward(s->model, c->tokens, c->targets, c->B, c->T, &c->loss) != CLT_OK)
            return failed_with(c, "forward", gpt_error(s->model));
        if (gpt_backward(s->model, 1.0f, false) != CLT_OK)
            return failed_with(c, "backward", gpt_error(s->model));
        if (grad_sqnorm(s, &norm2) != CLT_OK)
            return failed_with(c, "gradient norm", clt_last_error());
        if (c->optimizer &&
            optim_step(s->opt, LR, ++s->opt_step, 1.0f, &s->norm) != CLT_OK)
            return failed_with(c, "optimizer", clt_last_error());
    }
    /* the offloaded update of the last step runs on the engine's worker: wait for it */
    if (optim_settle(s->opt) != CLT_OK || clt_context_finish(s->ctx) != CLT_OK)
        return failed_with(c, "finishing the steps", clt_last_error());
    if (off)
        (void)clt_offload_get_stats(off, &c->engine);
    return true;
}

/* ---- set-up ---------------------------------------------------------------------------- */

/* Opens the context and model of one set: resident when master is CLT_TIER_DEVICE, else
 * streamed with master values and state on that tier; parameters from `init` (total
 * f32). budget 0: the device's own. Errors in error. */
static bool set_open(struct model_set *s, const offload_train_opts *o,
                     const struct gpt_config *cfg, clt_tier master, uint64_t budget,
                     const float *init, size_t total, char *error, size_t error_size)
{
    const bool resident = master == CLT_TIER_DEVICE;
    const struct optim_hparams h = optim_defaults(OPTIM_ADAMW);
    const char *doing = "opening the device";
    clt_context_opts co;
    clt_context_opts_init(&co);
    co.device = o->device;
    co.nvme_dir = o->nvme_dir;
    co.mem_budget[CLT_TIER_DEVICE] = budget;
    clt_status st = clt_context_create(&co, &s->ctx);
    if (st == CLT_OK && resident) {
        doing = "the model";
        st = gpt_create(s->ctx, cfg, CLT_DTYPE_F32, o->batch, &s->model);
    } else if (st == CLT_OK) {
        clt_offload_opts oo;
        optim_offload_opts(OPTIM_ADAMW, h, master, &oo);
        doing = "the offloaded model";
        st = gpt_create_streamed(s->ctx, cfg, CLT_DTYPE_F32, o->batch, &oo, &s->model);
    }
    if (st == CLT_OK) {
        doing = "uploading the parameters";
        st = clt_buffer_write(gpt_param_buffer(s->model), 0, init, total * sizeof *init, NULL);
    }
    if (st == CLT_OK && !resident) {
        st = gpt_sync_work(s->model);
        if (st == CLT_OK) {
            doing = "the offloaded optimizer";
            st = optim_create_offload(s->model, OPTIM_ADAMW, &s->opt);
        }
    } else if (st == CLT_OK) {
        /* the layout's padding adds nothing to the norm: no pass writes it */
        float *zeros = calloc(total, sizeof *zeros);
        doing = "zeroing the gradients";
        st = zeros ? clt_buffer_write(gpt_grad_buffer(s->model), 0, zeros,
                                      total * sizeof *zeros, NULL)
                   : CLT_ERR_OUT_OF_MEMORY;
        free(zeros);
        if (st == CLT_OK)
            st = clt_tensor_init(&s->grads, gpt_grad_buffer(s->model), 0, CLT_DTYPE_F32, 1,
                                 (const int64_t[]){(int64_t)total});
        if (st == CLT_OK)
            st = clt_buffer_create(s->ctx, 4, CLT_TIER_DEVICE, &s->norm_buf);
        if (st == CLT_OK)
            st = clt_tensor_init(&s->norm, s->norm_buf, 0, CLT_DTYPE_F32, 1,
                                 (const int64_t[]){1});
        if (st == CLT_OK) {
            doing = "the optimizer state";
            st = optim_create(s->ctx, s->model, OPTIM_ADAMW, h, &s->opt);
        }
    }
    if (st != CLT_OK)
        snprintf(error, error_size, "%s: %s (%s)", doing,
                 s->model && gpt_error(s->model)[0] ? gpt_error(s->model) : clt_last_error(),
                 clt_status_str(st));
    return st == CLT_OK;
}

static void set_close(struct model_set *s)
{
    optim_destroy(s->opt);
    gpt_destroy(s->model);
    clt_buffer_destroy(s->norm_buf);
    clt_context_destroy(s->ctx);
    memset(s, 0, sizeof *s);
}

static uint64_t device_peak(const struct model_set *s)
{
    clt_stats st;
    return s->ctx && clt_context_stats(s->ctx, &st) == CLT_OK ? st.mem_peak[CLT_TIER_DEVICE]
                                                              : 0;
}

/* A fixed pseudo-random batch; targets are the next tokens. */
static void make_batch(int32_t *tokens, int32_t *targets, int n, int vocab)
{
    uint64_t x = SEED;
    for (int i = 0; i <= n; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        const int32_t t = (int32_t)((x >> 33) % (uint64_t)vocab);
        if (i < n)
            tokens[i] = t;
        if (i > 0)
            targets[i - 1] = t;
    }
}

/* ---- the run ---------------------------------------------------------------------------- */

#define MAX_STEPS 1000

static void config_of(const offload_train_opts *o, struct gpt_config *cfg)
{
    (void)gpt_config_preset("tiny", cfg); /* for the vocabulary: bytes */
    cfg->layers = o->layers;
    cfg->heads = o->heads;
    cfg->dim = o->dim;
    cfg->ctx = o->ctx;
}

bool bench_offload_train_valid(const offload_train_opts *o, char *err, size_t size)
{
    struct gpt_config cfg;
    char why[256];
    config_of(o, &cfg);
    if (!gpt_config_valid(&cfg, why, sizeof why)) {
        /* its sentence names the field; the flag has the same name */
        snprintf(err, size, "%s (--layers %d --heads %d --dim %d --ctx %d)", why, o->layers,
                 o->heads, o->dim, o->ctx);
        return false;
    }
    if (o->batch < 1 || (int64_t)o->batch * o->ctx >= (int64_t)1 << 31) {
        snprintf(err, size, "--batch must be at least 1 with --batch x --ctx under 2^31, "
                            "got %d", o->batch);
        return false;
    }
    if (o->steps < 1 || o->steps > MAX_STEPS) {
        snprintf(err, size, "--steps must be 1..%d, got %d", MAX_STEPS, o->steps);
        return false;
    }
    return true;
}

int bench_offload_train_run(const offload_train_opts *o, offload_train_report *rep)
{
    struct gpt_config cfg;
    struct model_set sets[3]; /* resident, host, nvme */
    struct row_call calls_of[TRAIN_ROWS];
    bench_call calls[TRAIN_ROWS] = {NULL};
    void *users[TRAIN_ROWS] = {NULL};
    bench_samples *samples = calloc(TRAIN_ROWS, sizeof *samples);
    struct gpt_param *layout = NULL;
    float *init = NULL;
    int32_t *tokens = NULL, *targets = NULL;
    char err[512];
    bool failed = false;

    memset(sets, 0, sizeof sets);
    memset(calls_of, 0, sizeof calls_of);
    for (int i = 0; i < TRAIN_RATIOS; i++)
        rep->ratios[i] = NAN;
    for (int r = 0; r < TRAIN_ROWS; r++)
        rep->rows[r].tokens_per_s = rep->rows[r].final_loss = NAN;
    config_of(o, &cfg);
    rep->layers = cfg.layers;
    rep->heads = cfg.heads;
    rep->dim = cfg.dim;
    rep->ctx = cfg.ctx;
    rep->vocab = cfg.vocab;
    rep->batch = o->batch;
    rep->steps = o->steps;
    rep->repeat = o->repeat;
    rep->budget_fraction = o->budget_fraction;
    if (!bench_offload_train_valid(o, err, sizeof err)) {
        snprintf(rep->error, sizeof rep->error, "%s", err);
        failed = true;
        goto done;
    }
    const size_t count = gpt_param_count(&cfg);
    const int n_tokens = o->batch * cfg.ctx;
    layout = malloc(count * sizeof *layout);
    const size_t total = layout ? gpt_params_layout(&cfg, layout) : 0;
    init = layout ? malloc(total * sizeof *init) : NULL;
    tokens = malloc((size_t)n_tokens * sizeof *tokens);
    targets = malloc((size_t)n_tokens * sizeof *targets);
    if (!samples || !init || !tokens || !targets) {
        snprintf(rep->error, sizeof rep->error, "out of host memory");
        failed = true;
        goto done;
    }
    for (size_t i = 0; i < count; i++)
        rep->params += layout[i].numel;
    gpt_init_params(&cfg, SEED, init);
    make_batch(tokens, targets, n_tokens, cfg.vocab);
    for (int r = 0; r < TRAIN_ROWS; r++)
        calls_of[r] = (struct row_call){.set = &sets[(r + 1) / 2],
                                        .optimizer = r % 2 == 1 || r == TRAIN_RESIDENT,
                                        .steps = o->steps, .B = o->batch, .T = cfg.ctx,
                                        .tokens = tokens, .targets = targets};

    /* The footprint: the resident context's DEVICE peak over its set-up and one step. */
    if (!set_open(&sets[0], o, &cfg, CLT_TIER_DEVICE, 0, init, total, err, sizeof err)) {
        snprintf(rep->error, sizeof rep->error, "resident: %.480s", err);
        failed = true;
        goto done;
    }
    struct row_call sizing = calls_of[TRAIN_RESIDENT];
    sizing.steps = 1;
    if (!run_steps(&sizing)) {
        snprintf(rep->error, sizeof rep->error, "resident: the first step: %.400s", sizing.error);
        failed = true;
        goto done;
    }
    rep->footprint = device_peak(&sets[0]);
    rep->budget = (uint64_t)((double)rep->footprint * o->budget_fraction);
    for (int k = 1; k < 3; k++) {
        const int row = 2 * k - 1; /* TRAIN_HOST, TRAIN_NVME */
        if (set_open(&sets[k], o, &cfg, k == 1 ? CLT_TIER_HOST : CLT_TIER_NVME, rep->budget,
                     init, total, err, sizeof err))
            continue;
        for (int r = row; r <= row + 1; r++) /* the step row and its no-optimizer row */
            snprintf(rep->rows[r].result.note, sizeof rep->rows[r].result.note,
                     "failed: %.150s", err);
        set_close(&sets[k]);
        failed = true;
    }
    for (int r = 0; r < TRAIN_ROWS; r++) {
        if (calls_of[r].set->model) {
            calls[r] = run_steps;
            users[r] = &calls_of[r];
        }
    }

    rep->ran = true;
    int bad = -1;
    while (!bench_measure_rounds(TRAIN_ROWS, calls, users, samples, o->repeat, &bad)) {
        snprintf(rep->rows[bad].result.note, sizeof rep->rows[bad].result.note, "%.150s",
                 calls_of[bad].error);
        calls[bad] = NULL;
        failed = true;
    }
    for (int r = 0; r < TRAIN_ROWS; r++) {
        offload_train_row_report *row = &rep->rows[r];
        const double tokens_per_call = (double)n_tokens * o->steps;
        if (calls[r])
            row->result.samples = samples[r];
        bench_result_finish(&row->result, tokens_per_call);
        row->offloaded = r != TRAIN_RESIDENT;
        row->device_peak = device_peak(calls_of[r].set);
        if (!row->result.ran)
            continue;
        row->tokens_per_s = tokens_per_call / row->result.samples.median_seconds;
        row->final_loss = calls_of[r].loss;
        row->engine = calls_of[r].engine;
    }
    for (int i = 0; i < TRAIN_RATIOS; i++)
        rep->ratios[i] = bench_result_ratio(&rep->rows[ratios[i].x].result,
                                            &rep->rows[ratios[i].y].result);

done:
    for (int k = 0; k < 3; k++)
        set_close(&sets[k]);
    free(samples);
    free(layout);
    free(init);
    free(tokens);
    free(targets);
    return failed ? 1 : 0;
}

/* ---- reporting -------------------------------------------------------------------------- */

static bool goal_met(int i, double value)
{
    return ratios[i].at_least ? value >= ratios[i].goal : value <= ratios[i].goal;
}

void bench_offload_train_text(const offload_train_report *rep, FILE *out)
{
    char b1[32], b2[32], ms[32], ratio[32];
    fprintf(out, "\ntraining: cltrain's GPT, %d layers, %d heads, %d dims, ctx %d, vocab %d "
                 "(%.2fM parameters), f32, AdamW; batch %d x %d tokens, %d steps per round\n",
            rep->layers, rep->heads, rep->dim, rep->ctx, rep->vocab, rep->params / 1e6,
            rep->batch, rep->ctx, rep->steps);
    if (!rep->ran) {
        fprintf(out, "training: %s\n", rep->error);
        return;
    }
    fprintf(out, "resident footprint (DEVICE peak) %s; offloaded rows at a DEVICE budget of "
                 "%.3g of it: %s\n\n",
            format_bytes(rep->footprint, b1, sizeof b1), rep->budget_fraction,
            format_bytes(rep->budget, b2, sizeof b2));
    fprintf(out, "%-22s %10s %10s %11s  %s\n", "", "ms/step", "tokens/s", "DEVICE peak",
            "note");
    for (int r = 0; r < TRAIN_ROWS; r++) {
        const offload_train_row_report *row = &rep->rows[r];
        const bench_result *b = &row->result;
        char tps[32];
        if (b->ran) {
            snprintf(ms, sizeof ms, "%.1f", b->samples.median_seconds * 1e3 / rep->steps);
            snprintf(tps, sizeof tps, "%.0f", row->tokens_per_s);
        } else {
            bench_cell_ms(b, ms, sizeof ms);
            bench_cell_ms(b, tps, sizeof tps);
        }
        fprintf(out, "%-22s %10s %10s %11s  %s\n", row_titles[r], ms, tps,
                row->device_peak ? format_bytes(row->device_peak, b1, sizeof b1) : "-",
                b->note);
    }
    for (int r = TRAIN_HOST; r < TRAIN_ROWS; r += 2) {
        const offload_train_row_report *row = &rep->rows[r];
        if (!row->result.ran)
            continue;
        const clt_offload_stats *e = &row->engine;
        const double n = rep->steps, mib = 1024.0 * 1024.0;
        fprintf(out, "%s per step: %.1f MiB to the device, %.1f from it, NVMe %.1f read, "
                     "%.1f written; host optimizer %.1f ms; waits: %.1f ms in fetches, "
                     "%.1f ms for gradients\n",
                row_names[r], e->bytes_to_device / mib / n, e->bytes_from_device / mib / n,
                e->bytes_nvme_read / mib / n, e->bytes_nvme_write / mib / n,
                e->optim_s * 1e3 / n, (e->fetch_wait_s + e->optim_idle_wait_s) * 1e3 / n,
                e->grad_wait_s * 1e3 / n);
    }
    fprintf(out, "\n%-30s %8s %9s  %s\n", "", "ratio", "goal", "verdict");
    for (int i = 0; i < TRAIN_RATIOS; i++) {
        char goal[32];
        snprintf(goal, sizeof goal, "%s %.2f", ratios[i].at_least ? ">=" : "<=",
                 ratios[i].goal);
        fprintf(out, "%-30s %8s %9s  %s\n", ratios[i].title,
                bench_cell_ratio(rep->ratios[i], ratio, sizeof ratio), goal,
                isnan(rep->ratios[i]) ? "-" : goal_met(i, rep->ratios[i]) ? "met" : "MISSED");
    }
    if (rep->error[0])
        fprintf(out, "training error: %s\n", rep->error);
}

static void json_engine(json_writer *w, const offload_train_report *rep,
                        const offload_train_row_report *row)
{
    json_key(w, "per_step");
    if (!row->offloaded || !row->result.ran) {
        json_null(w);
        return;
    }
    const clt_offload_stats *e = &row->engine;
    const double n = rep->steps;
    json_begin_object(w);
    json_kv_double(w, "bytes_to_device", e->bytes_to_device / n);
    json_kv_double(w, "bytes_from_device", e->bytes_from_device / n);
    json_kv_double(w, "bytes_nvme_read", e->bytes_nvme_read / n);
    json_kv_double(w, "bytes_nvme_write", e->bytes_nvme_write / n);
    json_kv_double(w, "optim_seconds", e->optim_s / n);
    json_kv_double(w, "nvme_seconds", e->nvme_s / n);
    json_kv_double(w, "fetch_wait_seconds", e->fetch_wait_s / n);
    json_kv_double(w, "optim_idle_wait_seconds", e->optim_idle_wait_s / n);
    json_kv_double(w, "grad_wait_seconds", e->grad_wait_s / n);
    json_end_object(w);
}

void bench_offload_train_json(const offload_train_report *rep, json_writer *w)
{
    json_key(w, "training");
    json_begin_object(w);
    json_key(w, "model");
    json_begin_object(w);
    json_kv_int(w, "layers", rep->layers);
    json_kv_int(w, "heads", rep->heads);
    json_kv_int(w, "dim", rep->dim);
    json_kv_int(w, "ctx", rep->ctx);
    json_kv_int(w, "vocab", rep->vocab);
    json_kv_uint(w, "params", rep->params);
    json_end_object(w);
    json_kv_string(w, "dtype", "f32");
    json_kv_string(w, "optimizer", "adamw");
    json_kv_int(w, "batch", rep->batch);
    json_kv_int(w, "tokens_per_step", (int64_t)rep->batch * rep->ctx);
    json_kv_int(w, "steps_per_round", rep->steps);
    json_kv_int(w, "repeat", rep->repeat);
    json_kv_uint(w, "footprint_bytes", rep->footprint);
    json_kv_double(w, "budget_fraction", rep->budget_fraction);
    json_kv_uint(w, "device_budget_bytes", rep->budget);
    json_key(w, "rows");
    json_begin_object(w);
    for (int r = 0; r < TRAIN_ROWS; r++) {
        const offload_train_row_report *row = &rep->rows[r];
        const bench_result *b = &row->result;
        json_key(w, row_names[r]);
        json_begin_object(w);
        json_kv_bool(w, "ran", b->ran);
        json_kv_double(w, "tokens_per_s", row->tokens_per_s);
        json_kv_double(w, "seconds_per_step",
                       b->ran ? b->samples.median_seconds / rep->steps : NAN);
        json_kv_double(w, "median_seconds", b->ran ? b->samples.median_seconds : NAN);
        json_kv_double(w, "warmup_seconds", b->ran ? b->samples.warmup_seconds : NAN);
        json_key(w, "samples_seconds");
        json_begin_array(w);
        for (int i = 0; i < b->samples.count; i++)
            json_double(w, b->samples.seconds[i]);
        json_end_array(w);
        json_kv_double(w, "final_loss", row->final_loss);
        json_kv_uint(w, "device_peak_bytes", row->device_peak);
        json_engine(w, rep, row);
        json_kv_string(w, "note", b->note[0] ? b->note : NULL);
        json_end_object(w);
    }
    json_end_object(w);
    json_key(w, "ratios");
    json_begin_object(w);
    for (int i = 0; i < TRAIN_RATIOS; i++)
        json_kv_double(w, ratios[i].name, rep->ratios[i]);
    json_end_object(w);
    json_key(w, "goals");
    json_begin_object(w);
    for (int i = 0; i < TRAIN_RATIOS; i++) {
        json_key(w, ratios[i].name);
        json_begin_object(w);
        json_kv_double(w, ratios[i].at_least ? "at_least" : "at_most", ratios[i].goal);
        json_key(w, "met");
        if (isnan(rep->ratios[i]))
            json_null(w);
        else
            json_bool(w, goal_met(i, rep->ratios[i]));
        json_end_object(w);
    }
    json_end_object(w);
    json_kv_string(w, "error", rep->error[0] ? rep->error : NULL);
    json_end_object(w);
}
