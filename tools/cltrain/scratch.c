/* The ops' DEVICE scratch of a step, measured in a probe context (scratch.h). */
#include "failf.h"
#include "scratch.h"

#include <stdlib.h>
#include <string.h>

/* The probe's step on a model m whose buffers are allocated: forward and backward
 * (twice when accumulating) when `passes`, then the norm and the optimizer when opt.
 * Parameters and tokens are zero: the values do not change what an op reserves. */
static bool run_step(clt_context *ctx, gpt_model *m, bool passes, optim *opt,
                     const clt_tensor *norm, const struct scratch_probe *p, char *err,
                     size_t cap)
{
    const size_t n = (size_t)p->batch * (size_t)p->cfg.ctx;
    int32_t *tokens = calloc(n, sizeof *tokens);
    if (!tokens)
        return failf(err, cap, "out of host memory for the probe's batch");
    bool ok = true;
    for (int micro = 0; passes && micro < (p->accumulate ? 2 : 1) && ok; micro++) {
        float loss = 0.0f;
        ok = gpt_forward(m, tokens, tokens, p->batch, p->cfg.ctx, &loss) == CLT_OK &&
             gpt_backward(m, 1.0f, micro > 0) == CLT_OK;
        if (!ok)
            failf(err, cap, "%s", gpt_error(m));
    }
    free(tokens);
    if (ok && opt) {
        clt_tensor grads;
        const size_t total = clt_buffer_size(gpt_grad_buffer(m)) / clt_dtype_size(p->dtype);
        clt_op sq = {.kind = CLT_OP_SQNORM};
        ok = clt_tensor_init(&grads, gpt_grad_buffer(m), 0, p->dtype, 1,
                             (const int64_t[]){(int64_t)total}) == CLT_OK;
        sq.u.sqnorm.x = grads;
        sq.u.sqnorm.norm = *norm;
        ok = ok && clt_op_run(ctx, &sq, NULL) == CLT_OK &&
             optim_step(opt, 1e-3f, 1, 1.0f, norm) == CLT_OK;
        if (!ok)
            failf(err, cap, "%s", clt_last_error());
    }
    if (ok && clt_context_finish(ctx) != CLT_OK)
        ok = failf(err, cap, "%s", clt_last_error());
    return ok;
}

/* One probe context: the peak scratch of the passes and/or the optimizer, and the
 * device's driver. */
static bool probe_once(const struct scratch_probe *p, bool passes, bool optimizer,
                       uint64_t *bytes, char *driver, size_t driver_cap, char *err,
                       size_t cap)
{
    *bytes = 0;
    clt_context_opts co;
    clt_context_opts_init(&co);
    co.device = p->device;
    co.mem_budget[CLT_TIER_DEVICE] = UINT64_MAX; /* the run's budget is what is measured against */
    co.mem_budget[CLT_TIER_HOST] = UINT64_MAX;
    clt_context *ctx = NULL;
    gpt_model *m = NULL;
    optim *opt = NULL;
    clt_buffer *norm_buf = NULL;
    clt_tensor norm;
    struct gpt_config one = p->cfg;
    one.layers = 1;
    bool ok = true;
    clt_device_info dev;
    if (clt_context_create(&co, &ctx) != CLT_OK ||
        clt_context_device(ctx, &dev) != CLT_OK ||
        gpt_create(ctx, &one, p->dtype, p->batch, &m) != CLT_OK ||
        (optimizer &&
         (optim_create(ctx, m, p->optimizer, optim_defaults(p->optimizer), &opt) != CLT_OK ||
          clt_buffer_create(ctx, 4, CLT_TIER_DEVICE, &norm_buf) != CLT_OK ||
          clt_tensor_init(&norm, norm_buf, 0, CLT_DTYPE_F32, 1, (const int64_t[]){1}) !=
              CLT_OK)))
        ok = failf(err, cap, "%s", clt_last_error());
    if (ok)
        snprintf(driver, driver_cap, "%s", dev.driver);
    clt_stats before, after;
    ok = ok && clt_context_stats(ctx, &before) == CLT_OK;
    ok = ok && run_step(ctx, m, passes, opt, &norm, p, err, cap);
    if (ok && clt_context_stats(ctx, &after) == CLT_OK) {
        const uint64_t held = before.mem_used[CLT_TIER_DEVICE];
        const uint64_t peak = after.mem_peak[CLT_TIER_DEVICE];
        *bytes = peak > held ? peak - held : 0;
    }
    clt_buffer_destroy(norm_buf);
    optim_destroy(opt);
    gpt_destroy(m);
    clt_context_destroy(ctx);
    return ok;
}

bool scratch_measure(const struct scratch_probe *p, uint64_t *bytes, char *err, size_t cap)
{
    char driver[32] = "";
    *bytes = 0;
    if (!probe_once(p, true, !p->offloaded, bytes, driver, sizeof driver, err, cap))
        return false;
    if (!p->offloaded || strcmp(driver, "host") != 0)
        return true;
    uint64_t beside = 0;
    if (!probe_once(p, false, true, &beside, driver, sizeof driver, err, cap))
        return false;
    *bytes += beside;
    return true;
}
