/* The training check: the same steps as cltrain's loop (forward, backward, gradient
 * norm as the optimizer's gate, AdamW), on a corpus made here so that a vendor needs
 * no data files: sentences drawn from a short list by a seeded generator. */
#include "train_check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gpt.h"
#include "optim.h"
#include "rng.h"

#define BATCH 4
#define CORPUS_BYTES 16384
#define SEED 1337
#define LR 3e-3f

static const char *const sentences[] = {
    "the quick brown fox jumps over the lazy dog. ",
    "a journey of a thousand miles begins with a single step. ",
    "all that glitters is not gold. ",
    "to be or not to be, that is the question. ",
    "the rain in spain stays mainly in the plain. ",
    "pack my box with five dozen liquor jugs. ",
};

static void make_corpus(unsigned char *text, size_t n)
{
    struct rng r;
    rng_seed(&r, SEED);
    size_t at = 0;
    while (at < n) {
        const char *s = sentences[rng_below(&r, sizeof sentences / sizeof sentences[0])];
        for (size_t i = 0; s[i] && at < n; i++)
            text[at++] = (unsigned char)s[i];
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* What one training run holds; released in train_losses's one exit path. */
struct trainer {
    clt_context *ctx;
    gpt_model *model;
    optim *opt;
    clt_buffer *norm_buf;
    float *host_params;
    struct gpt_param *layout;
};

/* losses[0 .. steps-1]: the loss of each step before its update. On failure, err says
 * which stage and clt's reason. */
static bool train_losses(const char *device, int steps, clt_tune_mode tune, double *losses,
                         char *err, size_t cap)
{
    struct trainer t = {0};
    struct gpt_config cfg;
    bool ok = false;
    const char *stage = "context";
    clt_status st;
    clt_context_opts opts;
    clt_context_opts_init(&opts);
    opts.device = device;
    opts.tune = tune;
    unsigned char corpus[CORPUS_BYTES];
    int32_t tokens[BATCH * 64], targets[BATCH * 64];
    make_corpus(corpus, sizeof corpus);
    gpt_config_preset("tiny", &cfg);
    const int T = cfg.ctx;
    if (T > 64) { /* the token arrays above hold tiny's context */
        snprintf(err, cap, "the tiny model's context %d is longer than the check's 64", T);
        return false;
    }

    if ((st = clt_context_create(&opts, &t.ctx)) != CLT_OK)
        goto done;
    stage = "model";
    if ((st = gpt_create(t.ctx, &cfg, CLT_DTYPE_F32, BATCH, &t.model)) != CLT_OK)
        goto done;
    const size_t count = gpt_param_count(&cfg);
    t.layout = malloc(count * sizeof *t.layout);
    const size_t total = t.layout ? gpt_params_layout(&cfg, t.layout) : 0;
    t.host_params = t.layout ? calloc(total, sizeof *t.host_params) : NULL;
    stage = "host memory";
    if (!t.host_params) {
        st = CLT_ERR_OUT_OF_MEMORY;
        goto done;
    }
    stage = "uploading the parameters";
    gpt_init_params(&cfg, SEED, t.host_params);
    if ((st = clt_buffer_write(gpt_param_buffer(t.model), 0, t.host_params, total * 4, NULL)) !=
        CLT_OK)
        goto done;
    memset(t.host_params, 0, total * sizeof *t.host_params);
    if ((st = clt_buffer_write(gpt_grad_buffer(t.model), 0, t.host_params, total * 4, NULL)) !=
        CLT_OK)
        goto done;
    stage = "optimizer";
    if ((st = optim_create(t.ctx, t.model, OPTIM_ADAMW, optim_defaults(OPTIM_ADAMW), &t.opt)) !=
        CLT_OK)
        goto done;
    clt_tensor grads, norm;
    if ((st = clt_buffer_create(t.ctx, 4, CLT_TIER_DEVICE, &t.norm_buf)) != CLT_OK ||
        (st = clt_tensor_init(&norm, t.norm_buf, 0, CLT_DTYPE_F32, 1, (const int64_t[]){1})) !=
            CLT_OK ||
        (st = clt_tensor_init(&grads, gpt_grad_buffer(t.model), 0, CLT_DTYPE_F32, 1,
                              (const int64_t[]){(int64_t)total})) != CLT_OK)
        goto done;

    struct rng r;
    rng_seed(&r, SEED);
    for (int step = 1; step <= steps; step++) {
        for (int b = 0; b < BATCH; b++) {
            const size_t at = (size_t)rng_below(&r, CORPUS_BYTES - (uint64_t)T - 1);
            for (int i = 0; i < T; i++) {
                tokens[b * T + i] = corpus[at + (size_t)i];
                targets[b * T + i] = corpus[at + (size_t)i + 1];
            }
        }
        float loss = 0.0f;
        stage = "forward";
        if ((st = gpt_forward(t.model, tokens, targets, BATCH, T, &loss)) != CLT_OK)
            goto done;
        losses[step - 1] = loss;
        stage = "backward";
        if ((st = gpt_backward(t.model, 1.0f, false)) != CLT_OK)
            goto done;
        stage = "gradient norm";
        clt_op sq = {.kind = CLT_OP_SQNORM, .u.sqnorm = {.x = grads, .norm = norm}};
        if ((st = clt_op_run(t.ctx, &sq, NULL)) != CLT_OK)
            goto done;
        stage = "optimizer step";
        if ((st = optim_step(t.opt, LR, step, 1.0f, &norm)) != CLT_OK ||
            (st = clt_context_finish(t.ctx)) != CLT_OK)
            goto done;
    }
    ok = true;

done:
    if (!ok)
        snprintf(err, cap, "%s on %s: %s (%s)", stage, device, clt_status_name(st),
                 t.model && *gpt_error(t.model) ? gpt_error(t.model) : clt_last_error());
    clt_buffer_destroy(t.norm_buf);
    optim_destroy(t.opt);
    gpt_destroy(t.model);
    clt_context_destroy(t.ctx);
    free(t.host_params);
    free(t.layout);
    return ok;
}

void train_check(const char *device, int steps, clt_tune_mode tune, train_result *out)
{
    double dev[TRAIN_MAX_STEPS], host[TRAIN_MAX_STEPS];
    memset(out, 0, sizeof *out);
    if (steps < 1)
        steps = 1;
    if (steps > TRAIN_MAX_STEPS)
        steps = TRAIN_MAX_STEPS;
    out->steps = steps;
    const double t0 = now_s();
    if (!train_losses(device, steps, tune, dev, out->message, sizeof out->message))
        return;
    out->seconds = now_s() - t0;
    if (!train_losses("host", steps, tune, host, out->message, sizeof out->message))
        return;
    out->first_device = dev[0];
    out->first_host = host[0];
    out->last_device = dev[steps - 1];
    out->last_host = host[steps - 1];
    const double first_err = fabs(dev[0] - host[0]) / fabs(host[0]);
    const double last_err = fabs(out->last_device - out->last_host) / fabs(out->last_host);
    if (!(first_err <= TRAIN_TOL_FIRST)) {
        snprintf(out->message, sizeof out->message,
                 "step 1 loss %.6f on the device, %.6f on the host: relative difference %.2e "
                 "> %.0e", dev[0], host[0], first_err, TRAIN_TOL_FIRST);
        return;
    }
    if (!(last_err <= TRAIN_TOL_LAST)) {
        snprintf(out->message, sizeof out->message,
                 "step %d loss %.6f on the device, %.6f on the host: relative difference "
                 "%.2e > %.0e", steps, out->last_device, out->last_host, last_err,
                 TRAIN_TOL_LAST);
        return;
    }
    out->pass = true;
}
