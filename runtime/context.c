/* Contexts: resolve the device, read options and environment, open the device, and
 * account memory per tier. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/buffer.h"
#include "runtime/context.h"
#include "runtime/error.h"
#include "runtime/event.h"
#include "runtime/registry.h"
#include "runtime/tier_nvme.h"

#define NO_LIMIT UINT64_MAX

static const char *const budget_env[CLT_TIER_COUNT] = {
    [CLT_TIER_DEVICE] = "CLT_DEVICE_MEM",
    [CLT_TIER_HOST_PINNED] = "CLT_HOST_PINNED_MEM",
    [CLT_TIER_HOST] = "CLT_HOST_MEM",
    [CLT_TIER_NVME] = "CLT_NVME_MEM",
};

void clt_context_opts_init(clt_context_opts *opts)
{
    if (!opts)
        return;
    memset(opts, 0, sizeof *opts);
    opts->log_level = CLT_LOG_INFO;
}

/* Explicit option, else environment variable, else the tier's default. */
static clt_status resolve_budgets(const clt_context_opts *opts, uint64_t device_mem,
                                  uint64_t budget[CLT_TIER_COUNT])
{
    for (int t = 0; t < CLT_TIER_COUNT; t++) {
        budget[t] = t == CLT_TIER_DEVICE && device_mem ? device_mem : NO_LIMIT;
        if (opts && opts->mem_budget[t]) {
            budget[t] = opts->mem_budget[t];
            continue;
        }
        const char *env = getenv(budget_env[t]);
        if (!env || !*env)
            continue;
        uint64_t bytes;
        if (clt_parse_size(env, &bytes) != CLT_OK)
            return clt_fail_prefix(CLT_ERR_INVALID_ARG, "environment variable %s",
                                   budget_env[t]);
        if (bytes == 0)
            return clt_fail(CLT_ERR_INVALID_ARG,
                            "environment variable %s='%s': a budget must be above 0 bytes",
                            budget_env[t], env);
        budget[t] = bytes;
    }
    return CLT_OK;
}

/* Option, else $CLT_TUNE ("auto", "off"), else auto. */
static clt_status resolve_tune(const clt_context_opts *opts, clt_tune_mode *out)
{
    *out = CLT_TUNE_AUTO;
    if (opts && opts->tune != CLT_TUNE_DEFAULT) {
        if (opts->tune != CLT_TUNE_AUTO && opts->tune != CLT_TUNE_OFF)
            return clt_fail(CLT_ERR_INVALID_ARG, "clt_context_opts.tune is %d, not a tune mode",
                            (int)opts->tune);
        *out = opts->tune;
        return CLT_OK;
    }
    const char *env = getenv("CLT_TUNE");
    if (!env || !*env || strcmp(env, "auto") == 0)
        return CLT_OK;
    if (strcmp(env, "off") == 0) {
        *out = CLT_TUNE_OFF;
        return CLT_OK;
    }
    return clt_fail(CLT_ERR_INVALID_ARG,
                    "environment variable CLT_TUNE='%s': expected 'auto' or 'off'", env);
}

static char *dup_or_null(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *copy = malloc(n);
    if (copy)
        memcpy(copy, s, n);
    return copy;
}

/* Option, else $CLT_CACHE_DIR, else $XDG_CACHE_HOME/clt, else ~/.cache/clt. */
static char *resolve_cache_dir(const clt_context_opts *opts)
{
    if (opts && opts->cache_dir)
        return dup_or_null(opts->cache_dir);
    const char *env = getenv("CLT_CACHE_DIR");
    if (env)
        return dup_or_null(env);
    char path[4096];
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (xdg && *xdg)
        snprintf(path, sizeof path, "%s/clt", xdg);
    else if (home && *home)
        snprintf(path, sizeof path, "%s/.cache/clt", home);
    else
        path[0] = '\0'; /* nowhere to keep it: no on-disk cache */
    return dup_or_null(path);
}

static char *resolve_nvme_dir(const clt_context_opts *opts)
{
    if (opts && opts->nvme_dir)
        return dup_or_null(opts->nvme_dir);
    const char *env = getenv("CLT_NVME_DIR");
    if (env && *env)
        return dup_or_null(env);
    env = getenv("TMPDIR");
    return dup_or_null(env && *env ? env : "/tmp");
}

static clt_status probe_one(const struct clt_driver *driver, int index,
                            clt_device_info *info)
{
    clt_device_info infos[64];
    int n = 0;
    clt_status s = driver->probe(infos, 64, &n);
    if (s != CLT_OK)
        return clt_fail_prefix(s, "driver '%s': probe failed", driver->name);
    if (index < 0 || index >= n || index >= 64)
        return clt_fail(CLT_ERR_NO_DEVICE, "driver '%s' has no device %d (it has %d)",
                        driver->name, index, n);
    *info = infos[index];
    clt_registry_fill_identity(info, driver, index);
    return CLT_OK;
}

clt_status clt_context_open(const struct clt_driver *driver, int index,
                            const clt_context_opts *opts, clt_context **out)
{
    if (!out)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_context_create: out is NULL");
    *out = NULL;
    clt_status s = clt_driver_check(driver);
    if (s != CLT_OK)
        return s;

    clt_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return clt_fail(CLT_ERR_OUT_OF_MEMORY, "clt_context_create: no host memory for a context");
    pthread_mutex_init(&ctx->lock, NULL);
    if (opts)
        clt_logger_init(&ctx->log, opts->log_fn, opts->log_user, opts->log_level);
    else
        clt_logger_init(&ctx->log, NULL, NULL, CLT_LOG_INFO);
    ctx->parent = (struct clt_dev_parent){&ctx->log, &ctx->stats, &ctx->lock};
    ctx->driver = driver;

    s = probe_one(driver, index, &ctx->info);
    if (s != CLT_OK)
        goto fail;
    s = resolve_budgets(opts, ctx->info.global_mem_bytes, ctx->stats.mem_budget);
    if (s != CLT_OK)
        goto fail;
    s = resolve_tune(opts, &ctx->tune);
    if (s != CLT_OK)
        goto fail;
    ctx->cache_dir = resolve_cache_dir(opts);
    ctx->nvme_dir = resolve_nvme_dir(opts);
    if (!ctx->cache_dir || !ctx->nvme_dir) {
        s = clt_fail(CLT_ERR_OUT_OF_MEMORY, "clt_context_create: no host memory for paths");
        goto fail;
    }

    clt_device_opts dev_opts = {
        .cache_dir = ctx->cache_dir, .tune = ctx->tune, .parent = &ctx->parent};
    s = driver->open(index, &dev_opts, &ctx->dev);
    if (s != CLT_OK) {
        s = clt_fail_prefix(s, "cannot open device '%s'", ctx->info.name);
        goto fail;
    }
    if (driver == &clt_host_driver)
        ctx->host_dev = ctx->dev;
    clt_log(&ctx->log, CLT_LOG_INFO, "opened %s (%s, %s)", ctx->info.name,
            ctx->info.device_name, clt_device_type_name(ctx->info.type));
    *out = ctx;
    return CLT_OK;

fail:
    free(ctx->cache_dir);
    free(ctx->nvme_dir);
    pthread_mutex_destroy(&ctx->lock);
    free(ctx);
    return s;
}

clt_status clt_context_create(const clt_context_opts *opts, clt_context **out)
{
    if (!out)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_context_create: out is NULL");
    *out = NULL;
    const char *name = opts && opts->device ? opts->device : getenv("CLT_DEVICE");
    const struct clt_driver *driver;
    int index;
    clt_status s = clt_registry_resolve(name, &driver, &index);
    if (s != CLT_OK)
        return s;
    return clt_context_open(driver, index, opts, out);
}

void clt_context_destroy(clt_context *ctx)
{
    if (!ctx)
        return;
    ctx->driver->finish(ctx->dev);
    while (ctx->events)
        clt_event_destroy(ctx->events);
    while (ctx->buffers)
        clt_buffer_destroy(ctx->buffers);
    clt_nvme_destroy(ctx->nvme);
    if (ctx->host_dev && ctx->host_dev != ctx->dev)
        clt_host_driver.close(ctx->host_dev);
    ctx->driver->close(ctx->dev);
    free(ctx->cache_dir);
    free(ctx->nvme_dir);
    pthread_mutex_destroy(&ctx->lock);
    free(ctx);
}

clt_status clt_context_device(const clt_context *ctx, clt_device_info *out)
{
    if (!ctx || !out)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_context_device: %s is NULL",
                        ctx ? "out" : "ctx");
    *out = ctx->info;
    return CLT_OK;
}

clt_status clt_context_finish(clt_context *ctx)
{
    if (!ctx)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_context_finish: ctx is NULL");
    clt_status s = ctx->driver->finish(ctx->dev);
    if (s != CLT_OK)
        return clt_fail_prefix(s, "%s", ctx->info.name);
    return CLT_OK;
}

clt_status clt_context_stats(const clt_context *ctx, clt_stats *out)
{
    if (!ctx || !out)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_context_stats: %s is NULL",
                        ctx ? "out" : "ctx");
    clt_context *mut = (clt_context *)ctx; /* the lock is not part of the value */
    pthread_mutex_lock(&mut->lock);
    *out = ctx->stats;
    pthread_mutex_unlock(&mut->lock);
    return CLT_OK;
}

clt_status clt_context_host_dev(clt_context *ctx, struct clt_dev **out)
{
    clt_status s = CLT_OK;
    pthread_mutex_lock(&ctx->lock);
    if (!ctx->host_dev) {
        clt_device_opts dev_opts = {
            .cache_dir = ctx->cache_dir, .tune = ctx->tune, .parent = &ctx->parent};
        s = clt_host_driver.open(0, &dev_opts, &ctx->host_dev);
    }
    *out = ctx->host_dev;
    pthread_mutex_unlock(&ctx->lock);
    return s;
}

static void format_bytes(char *text, size_t size, uint64_t bytes)
{
    if (bytes == NO_LIMIT)
        snprintf(text, size, "no limit");
    else if (bytes >= (1ull << 30))
        snprintf(text, size, "%llu bytes (%.2f GiB)", (unsigned long long)bytes,
                 (double)bytes / (1ull << 30));
    else if (bytes >= (1ull << 20))
        snprintf(text, size, "%llu bytes (%.2f MiB)", (unsigned long long)bytes,
                 (double)bytes / (1ull << 20));
    else
        snprintf(text, size, "%llu bytes", (unsigned long long)bytes);
}

clt_status clt_context_reserve(clt_context *ctx, clt_tier tier, size_t bytes)
{
    clt_status s = CLT_OK;
    pthread_mutex_lock(&ctx->lock);
    uint64_t used = ctx->stats.mem_used[tier];
    uint64_t budget = ctx->stats.mem_budget[tier];
    uint64_t left = budget > used ? budget - used : 0;
    if ((uint64_t)bytes > left) {
        char asked[64], remaining[64], total[64];
        format_bytes(asked, sizeof asked, bytes);
        format_bytes(remaining, sizeof remaining, left);
        format_bytes(total, sizeof total, budget);
        s = clt_fail(CLT_ERR_OUT_OF_MEMORY,
                     "out of memory in tier %s on %s: asked %s, %s left of a budget of %s "
                     "(set it with %s or clt_context_opts.mem_budget)",
                     clt_tier_name(tier), ctx->info.name, asked, remaining, total,
                     budget_env[tier]);
    } else {
        ctx->stats.mem_used[tier] = used + bytes;
        if (ctx->stats.mem_used[tier] > ctx->stats.mem_peak[tier])
            ctx->stats.mem_peak[tier] = ctx->stats.mem_used[tier];
    }
    pthread_mutex_unlock(&ctx->lock);
    return s;
}

void clt_context_release(clt_context *ctx, clt_tier tier, size_t bytes)
{
    pthread_mutex_lock(&ctx->lock);
    ctx->stats.mem_used[tier] -= bytes;
    pthread_mutex_unlock(&ctx->lock);
}

static clt_context *context_of(struct clt_dev *dev)
{
    return (clt_context *)((char *)dev->parent - offsetof(clt_context, parent));
}

static clt_tier scratch_tier(const clt_context *ctx, const struct clt_dev *dev)
{
    return dev == ctx->dev ? CLT_TIER_DEVICE : CLT_TIER_HOST;
}

clt_status clt_dev_reserve(struct clt_dev *dev, size_t bytes, const char *what)
{
    if (!dev->parent) /* a device opened outside any context: nothing to count against */
        return CLT_OK;
    clt_context *ctx = context_of(dev);
    clt_status s = clt_context_reserve(ctx, scratch_tier(ctx, dev), bytes);
    return s == CLT_OK ? s : clt_fail_prefix(s, "%s", what);
}

void clt_dev_release(struct clt_dev *dev, size_t bytes)
{
    if (!dev->parent)
        return;
    clt_context *ctx = context_of(dev);
    clt_context_release(ctx, scratch_tier(ctx, dev), bytes);
}

void clt_context_count_op(clt_context *ctx, bool fallback)
{
    pthread_mutex_lock(&ctx->lock);
    ctx->stats.ops_run++;
    if (fallback)
        ctx->stats.ops_fallback++;
    pthread_mutex_unlock(&ctx->lock);
}
