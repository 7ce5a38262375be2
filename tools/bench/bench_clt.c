/* clt-side helpers of the op benchmarks; see bench_clt.h. */
#include "bench/bench_clt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

clt_status bench_open_context(const char *device, clt_context **ctx, clt_device_info *info,
                              char *error, size_t error_size)
{
    clt_context_opts opts;
    clt_context_opts_init(&opts);
    opts.device = device;
    clt_status st = clt_context_create(&opts, ctx);
    if (st == CLT_OK && info)
        st = clt_context_device(*ctx, info);
    if (st != CLT_OK) {
        snprintf(error, error_size, "cannot open %s: %s: %s",
                 device ? device : "the default device", clt_status_str(st), clt_last_error());
        clt_context_destroy(*ctx);
        *ctx = NULL;
    }
    return st;
}

void bench_fill_random(float *x, size_t n, uint64_t *state)
{
    for (size_t i = 0; i < n; i++) {
        *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (float)((double)(*state >> 40) / (double)(1ULL << 24) * 2.0 - 1.0);
    }
}

clt_status bench_upload(clt_context *ctx, clt_dtype dtype, const float *host, size_t n,
                        clt_buffer **out)
{
    const size_t bytes = n * clt_dtype_size(dtype);
    void *converted = NULL;
    const void *data = host;
    clt_buffer *buf = NULL;
    clt_status st = CLT_OK;

    *out = NULL;
    if (dtype != CLT_DTYPE_F32) {
        converted = malloc(bytes);
        if (!converted) {
            st = CLT_ERR_OUT_OF_MEMORY;
            goto done;
        }
        st = clt_convert(dtype, converted, CLT_DTYPE_F32, host, n);
        data = converted;
    }
    if (st == CLT_OK)
        st = clt_buffer_create(ctx, bytes, CLT_TIER_DEVICE, &buf);
    if (st == CLT_OK)
        st = clt_buffer_write(buf, 0, data, bytes, NULL);
    if (st == CLT_OK) {
        *out = buf;
        buf = NULL;
    }
done:
    clt_buffer_destroy(buf);
    free(converted);
    return st;
}

bool bench_op_run(void *user)
{
    bench_op_call *c = user;
    clt_event *ev = NULL;
    clt_status st = clt_op_run(c->ctx, &c->op, &ev);
    if (st == CLT_OK)
        st = clt_event_wait(ev);
    clt_event_destroy(ev);
    if (st != CLT_OK)
        snprintf(c->error, sizeof c->error, "%s: %s", clt_status_str(st), clt_last_error());
    return st == CLT_OK;
}

const char *bench_op_describe(bench_op_call *call, char *buf, size_t size)
{
    if (clt_op_describe(call->ctx, &call->op, buf, size) != CLT_OK)
        snprintf(buf, size, "?");
    return buf;
}

double bench_max_abs_diff(const float *got, const float *want, size_t n)
{
    double max_diff = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double diff = fabs((double)got[i] - (double)want[i]);
        if (isnan(diff))
            return NAN;
        if (diff > max_diff)
            max_diff = diff;
    }
    return max_diff;
}

double bench_max_abs(const float *x, size_t n)
{
    double max = 0.0;
    for (size_t i = 0; i < n; i++)
        if (fabs((double)x[i]) > max)
            max = fabs((double)x[i]);
    return max;
}
