/* Resolving a device's GEMM parameters, once, on its first GEMM: $CLT_GEMM_PARAMS (an
 * explicit override, for tests and kernel work) over the defaults; else the tuning
 * cache's entry for the device (cl_tune_cache.c); else, with CLT_TUNE_AUTO and a cache
 * directory, a measured search (cl_tune_search.c) whose winner is stored; else the
 * database defaults (cl_gemm_db.c). The log says at info which one it was. */
#include <stdlib.h>

#include "backends/opencl/cl_internal.h"

/* ---- counters ----------------------------------------------------------------------- */

enum tune_event { TUNE_RUN, TUNE_FROM_CACHE, TUNE_REJECTED };

/* Adds to the context's tuning counters, under its stats lock. */
static void count(struct clt_cl_device *dev, enum tune_event what, double seconds)
{
    struct clt_dev_parent *parent = dev->base.parent;
    if (!parent || !parent->stats)
        return;
    if (parent->stats_lock)
        pthread_mutex_lock(parent->stats_lock);
    switch (what) {
    case TUNE_RUN:
        parent->stats->tunings_run++;
        parent->stats->tune_seconds += seconds;
        break;
    case TUNE_FROM_CACHE:
        parent->stats->tunings_from_cache++;
        break;
    case TUNE_REJECTED:
        parent->stats->tunings_rejected++;
        break;
    }
    if (parent->stats_lock)
        pthread_mutex_unlock(parent->stats_lock);
}

/* ---- the pieces --------------------------------------------------------------------- */

static const char *gemm_params_override(void)
{
    const char *env = getenv("CLT_GEMM_PARAMS");
    return env && env[0] ? env : NULL;
}

static void log_params(const struct clt_cl_device *dev, const char *source,
                       const struct clt_cl_gemm_params *p)
{
    char text[512];
    clt_cl_gemm_params_format(p, text, sizeof text);
    clt_cl_log(dev, CLT_LOG_INFO, "GEMM parameters from %s: %s", source, text);
}

/* The tuning cache's entry, counted as read or rejected. */
static bool from_cache(struct clt_cl_device *dev, struct clt_cl_gemm_params *p)
{
    switch (clt_cl_tune_cache_load(dev, p)) {
    case CLT_CL_TUNE_ENTRY_LOADED:
        count(dev, TUNE_FROM_CACHE, 0);
        return true;
    case CLT_CL_TUNE_ENTRY_REJECTED:
        count(dev, TUNE_REJECTED, 0);
        return false;
    case CLT_CL_TUNE_ENTRY_NONE:
        break;
    }
    return false;
}

/* Measures with the default plan, counts it, and stores the winner. */
static clt_status measure(struct clt_cl_device *dev, unsigned flags,
                          struct clt_cl_gemm_params *p)
{
    struct clt_cl_tune_plan plan;
    clt_cl_tune_default_plan(&plan);
    const double start = clt_cl_now();
    clt_status status = clt_cl_gemm_search(dev, &plan, flags, p);
    count(dev, TUNE_RUN, clt_cl_now() - start);
    if (status == CLT_OK)
        clt_cl_tune_cache_store(dev, p);
    return status;
}

/* $CLT_GEMM_PARAMS over the defaults, checked against the device. */
static clt_status from_environment(struct clt_cl_device *dev, const char *text,
                                   struct clt_cl_gemm_params *p)
{
    clt_status s = clt_cl_gemm_params_parse(text, p);
    if (s == CLT_OK && !clt_cl_gemm_params_fit(dev, p))
        s = clt_fail(CLT_ERR_INVALID_ARG, "'%s' does not fit the device", text);
    if (s != CLT_OK)
        return clt_fail_prefix(s, "%s: environment variable CLT_GEMM_PARAMS", dev->label);
    return CLT_OK;
}

/* Where the device's parameters come from, in order; called under gemm_lock. */
static clt_status resolve(struct clt_cl_device *dev, struct clt_cl_gemm_params *p)
{
    clt_cl_gemm_default_params(dev, p);
    const char *override = gemm_params_override();
    if (override) {
        clt_status s = from_environment(dev, override, p);
        if (s == CLT_OK)
            log_params(dev, "$CLT_GEMM_PARAMS", p);
        return s;
    }
    struct clt_cl_gemm_params tuned = *p;
    if (from_cache(dev, &tuned)) {
        *p = tuned;
        log_params(dev, "the tuning cache", p);
        return CLT_OK;
    }
    char path[4096];
    if (dev->tune == CLT_TUNE_AUTO && clt_cl_tune_cache_path(dev, path, sizeof path)) {
        clt_cl_log(dev, CLT_LOG_INFO, "measuring GEMM parameters for this device (once; "
                   "CLT_TUNE=off skips it)");
        if (measure(dev, 0, &tuned) == CLT_OK) {
            *p = tuned;
            log_params(dev, "a measured search", p);
            return CLT_OK;
        }
        clt_cl_log(dev, CLT_LOG_WARN, "GEMM search failed, using the built-in defaults: %s",
                   clt_last_error());
    }
    log_params(dev, "the built-in defaults", p);
    return CLT_OK;
}

/* ---- the driver's entries ----------------------------------------------------------- */

clt_status clt_cl_gemm_params_get(struct clt_cl_device *dev, struct clt_cl_gemm_params *out)
{
    clt_status s = CLT_OK;
    pthread_mutex_lock(&dev->gemm_lock);
    if (!dev->gemm_params_ready) {
        struct clt_cl_gemm_params p;
        s = resolve(dev, &p);
        if (s == CLT_OK) {
            dev->gemm_params = p;
            dev->gemm_params_ready = true;
        }
    }
    *out = dev->gemm_params;
    pthread_mutex_unlock(&dev->gemm_lock);
    return s;
}

clt_status clt_cl_tune(struct clt_dev *base, clt_op_kind kind, unsigned flags)
{
    if (kind != CLT_OP_GEMM)
        return CLT_OK;  /* nothing else has parameters yet */
    struct clt_cl_device *dev = clt_cl_device_of(base);
    clt_status s = CLT_OK;
    struct clt_cl_gemm_params p;
    clt_cl_gemm_default_params(dev, &p);
    const char *source = "the tuning cache";
    pthread_mutex_lock(&dev->gemm_lock);
    if ((flags & CLT_TUNE_FORCE) || !from_cache(dev, &p)) {
        s = measure(dev, flags, &p);
        if (s != CLT_OK)
            goto done;
        source = "a measured search";
    }
    if (gemm_params_override()) {
        clt_cl_log(dev, CLT_LOG_INFO, "GEMM parameters stay those of $CLT_GEMM_PARAMS; the "
                   "tuning applies once it is unset");
        goto done;
    }
    dev->gemm_params = p;
    dev->gemm_params_ready = true;
    log_params(dev, source, &p);
done:
    pthread_mutex_unlock(&dev->gemm_lock);
    return s;
}
