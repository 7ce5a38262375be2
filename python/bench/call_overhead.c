/* The C side of the Python call-overhead figure: the median time of one clt_op_run of an
 * elementwise add of N floats on a device, over many calls, measured the same way
 * bench_call_overhead.py measures it from Python.
 *
 * usage: clt-call-overhead [DEVICE [N [CALLS]]]   (defaults: host 16 20000)
 * prints one JSON object: {"device": ..., "n": ..., "calls": ..., "median_ns": ...} */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "clt/clt.h"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    const char *device = argc > 1 ? argv[1] : "host";
    const long n = argc > 2 ? strtol(argv[2], NULL, 10) : 16;
    const long calls = argc > 3 ? strtol(argv[3], NULL, 10) : 20000;
    if (n < 1 || calls < 1) {
        fprintf(stderr, "usage: clt-call-overhead [DEVICE [N >= 1 [CALLS >= 1]]]\n");
        return 2;
    }
    int rc = 1;
    clt_context *ctx = NULL;
    clt_buffer *buf = NULL;
    double *times = malloc((size_t)calls * sizeof *times);
    float *host = calloc((size_t)n * 3, sizeof *host);
    clt_context_opts opts;
    clt_context_opts_init(&opts);
    opts.device = device;
    if (!times || !host || clt_context_create(&opts, &ctx) != CLT_OK ||
        clt_buffer_create(ctx, (size_t)n * 3 * sizeof(float), CLT_TIER_DEVICE, &buf) != CLT_OK ||
        clt_buffer_write(buf, 0, host, (size_t)n * 3 * sizeof(float), NULL) != CLT_OK) {
        fprintf(stderr, "clt-call-overhead: %s\n", clt_last_error());
        goto done;
    }
    // a, b, out: (n,) f32, one after another in one buffer
    clt_op op = {.kind = CLT_OP_ADD};
    const int64_t shape[1] = {n};
    clt_tensor_init(&op.u.add.a, buf, 0, CLT_DTYPE_F32, 1, shape);
    clt_tensor_init(&op.u.add.b, buf, (size_t)n * sizeof(float), CLT_DTYPE_F32, 1, shape);
    clt_tensor_init(&op.u.add.out, buf, 2 * (size_t)n * sizeof(float), CLT_DTYPE_F32, 1, shape);
    op.u.add.alpha = 1.0f;
    op.u.add.beta = 1.0f;
    for (long i = 0; i < calls; i++) {
        const double t0 = now_ns();
        if (clt_op_run(ctx, &op, NULL) != CLT_OK) {
            fprintf(stderr, "clt-call-overhead: %s\n", clt_last_error());
            goto done;
        }
        times[i] = now_ns() - t0;
    }
    qsort(times, (size_t)calls, sizeof *times, cmp_double);
    printf("{\"device\": \"%s\", \"n\": %ld, \"calls\": %ld, \"median_ns\": %.1f}\n", device, n,
           calls, times[calls / 2]);
    rc = 0;
done:
    clt_buffer_destroy(buf);
    clt_context_destroy(ctx);
    free(host);
    free(times);
    return rc;
}
