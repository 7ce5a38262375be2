/* clt-gemm-example: matrix multiplication with clt, checked against the host.
 *
 *   clt-gemm-example [--device NAME]
 *
 * This is the program to copy when you embed clt in a framework. For a few shapes it
 * uploads the same random matrices to two contexts — the device you choose (by default
 * the one clt picks: $CLT_DEVICE, else the first GPU, else any OpenCL device, else the
 * host) and the plain-C "host" driver, which is clt's reference — runs the GEMM on
 * both, and compares the results. It prints one line per shape and exits non-zero if
 * any result differs or any call fails. */
#include <clt/clt.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One problem: C (batch, M, N) = op(A) · op(B). With trans_a, A is stored (K, M);
 * with trans_b, B is stored (N, K) — the "A·Bᵀ" layout of a linear layer's weight. */
typedef struct gemm_shape {
    int64_t batch, m, n, k;
    bool trans_a, trans_b;
} gemm_shape;

static const gemm_shape shapes[] = {
    {1, 512, 512, 512, false, true},  /* square, like a 512-wide linear layer */
    {1, 1000, 333, 77, false, true},  /* sizes that are no multiple of any tile */
    {4, 67, 129, 31, true, false},    /* a strided batch with A transposed */
};

/* f32 results may differ in the last bits between devices (summation order, FMA).
 * The error is measured against the largest reference value, so that entries that
 * happen to sum to almost zero do not dominate it. */
#define TOLERANCE 1e-4

/* Every clt call returns a clt_status; on failure clt_last_error() holds a sentence
 * naming what went wrong (which op, argument, tier, bytes). */
static bool ok(clt_status st, const char *what)
{
    if (st != CLT_OK)
        fprintf(stderr, "clt-gemm-example: %s: %s: %s\n", what, clt_status_str(st),
                clt_last_error());
    return st == CLT_OK;
}

static double now_ms(void)
{
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Deterministic values in [-1, 1): the same seed gives the same matrices everywhere. */
static void fill_random(float *x, int64_t n, uint64_t *state)
{
    for (int64_t i = 0; i < n; i++) {
        *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (float)((double)(*state >> 40) / (double)(1ULL << 24) * 2.0 - 1.0);
    }
}

/* Describes `buf` as a row-major f32 tensor of shape (batch, rows, cols), or
 * (rows, cols) when batch is 1. */
static clt_status describe(clt_tensor *t, clt_buffer *buf, int64_t batch, int64_t rows,
                           int64_t cols)
{
    const int64_t shape3[3] = {batch, rows, cols};
    if (batch == 1)
        return clt_tensor_init(t, buf, 0, CLT_DTYPE_F32, 2, shape3 + 1);
    return clt_tensor_init(t, buf, 0, CLT_DTYPE_F32, 3, shape3);
}

/* Runs one GEMM on `ctx`: allocates A, B and C in device memory, uploads a and b,
 * runs the op `repeats` times and reads C back into c. *best_ms is the fastest run. */
static bool run_gemm(clt_context *ctx, const gemm_shape *s, const float *a, const float *b,
                     float *c, int repeats, double *best_ms)
{
    const size_t a_bytes = (size_t)(s->batch * s->m * s->k) * sizeof(float);
    const size_t b_bytes = (size_t)(s->batch * s->k * s->n) * sizeof(float);
    const size_t c_bytes = (size_t)(s->batch * s->m * s->n) * sizeof(float);
    clt_buffer *a_buf = NULL, *b_buf = NULL, *c_buf = NULL;
    clt_event *ev = NULL;
    bool success = false;

    /* Buffers live on a memory tier; DEVICE is where ops read and write. Each tier has
     * a budget (CLT_DEVICE_MEM=...), and running out names the tier and the bytes. */
    if (!ok(clt_buffer_create(ctx, a_bytes, CLT_TIER_DEVICE, &a_buf), "allocate A") ||
        !ok(clt_buffer_create(ctx, b_bytes, CLT_TIER_DEVICE, &b_buf), "allocate B") ||
        !ok(clt_buffer_create(ctx, c_bytes, CLT_TIER_DEVICE, &c_buf), "allocate C"))
        goto done;

    /* With a NULL event pointer a transfer blocks until the data has moved, so the
     * host arrays may be reused as soon as the call returns. */
    if (!ok(clt_buffer_write(a_buf, 0, a, a_bytes, NULL), "upload A") ||
        !ok(clt_buffer_write(b_buf, 0, b, b_bytes, NULL), "upload B"))
        goto done;

    /* Tensors are views: a buffer, an offset, a dtype and a shape. They own nothing. */
    clt_gemm_args args = {.alpha = 1.0f, .beta = 0.0f}; /* beta 0: C is not read */
    args.trans_a = s->trans_a;
    args.trans_b = s->trans_b;
    if (!ok(describe(&args.a, a_buf, s->batch, s->trans_a ? s->k : s->m,
                     s->trans_a ? s->m : s->k), "describe A") ||
        !ok(describe(&args.b, b_buf, s->batch, s->trans_b ? s->n : s->k,
                     s->trans_b ? s->k : s->n), "describe B") ||
        !ok(describe(&args.c, c_buf, s->batch, s->m, s->n), "describe C"))
        goto done;

    /* The first run on an OpenCL device builds (or loads from the on-disk cache) the
     * kernel program, so it is not timed. */
    if (!ok(clt_gemm(ctx, &args, NULL), "gemm (first run)"))
        goto done;

    *best_ms = INFINITY;
    for (int r = 0; r < repeats; r++) {
        /* Asynchronously this time: clt_gemm returns an event (or NULL if the work is
         * already complete) and the host is free until it waits on it. Every op is
         * validated before it is queued; a bad shape fails here, naming the argument. */
        double start = now_ms();
        if (!ok(clt_gemm(ctx, &args, &ev), "gemm"))
            goto done;
        if (ev != NULL) {
            clt_status st = clt_event_wait(ev); /* the status of the op itself */
            clt_event_destroy(ev);
            ev = NULL;
            if (!ok(st, "gemm (wait)"))
                goto done;
        }
        double ms = now_ms() - start;
        if (ms < *best_ms)
            *best_ms = ms;
    }

    if (!ok(clt_buffer_read(c_buf, 0, c, c_bytes, NULL), "download C"))
        goto done;
    success = true;

done:
    /* One exit path: destroy functions accept NULL, so everything is released the
     * same way whether the function got this far or not. */
    clt_event_destroy(ev);
    clt_buffer_destroy(a_buf);
    clt_buffer_destroy(b_buf);
    clt_buffer_destroy(c_buf);
    return success;
}

/* max |got - want| / max |want|: the error relative to the scale of the result. */
static double max_relative_error(const float *got, const float *want, int64_t n)
{
    double max_diff = 0.0, max_ref = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double diff = fabs((double)got[i] - (double)want[i]);
        if (!(diff <= max_diff)) /* also catches NaN */
            max_diff = diff;
        if (fabs((double)want[i]) > max_ref)
            max_ref = fabs((double)want[i]);
    }
    return max_ref > 0.0 ? max_diff / max_ref : max_diff;
}

/* Opens a context on the named device (NULL: clt's default choice). */
static bool open_context(const char *device, clt_context **ctx)
{
    clt_context_opts opts;
    clt_context_opts_init(&opts); /* every field "from the environment, else default" */
    opts.device = device;
    return ok(clt_context_create(&opts, ctx), device ? device : "open the default device");
}

int main(int argc, char **argv)
{
    const char *device_name = NULL;
    clt_context *dev = NULL, *host = NULL;
    float *a = NULL, *b = NULL, *c_dev = NULL, *c_host = NULL;
    int failures = 0, rc = 1;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--device") == 0 && i + 1 < argc) {
            device_name = argv[++i];
        } else if (strcmp(argv[i], "--help") == 0) {
            printf("usage: clt-gemm-example [--device NAME]\n"
                   "Runs GEMMs on a device and on the host driver and compares them.\n"
                   "Devices are listed by clt-info; without --device clt picks one.\n");
            return 0;
        } else {
            fprintf(stderr, "clt-gemm-example: unknown argument '%s'\n"
                            "usage: clt-gemm-example [--device NAME]\n", argv[i]);
            return 2;
        }
    }

    /* A context opens one device and owns everything made through it. The "host"
     * context is the reference every result is compared with. */
    if (!open_context(device_name, &dev) || !open_context("host", &host))
        goto done;
    clt_device_info info;
    if (!ok(clt_context_device(dev, &info), "describe the device"))
        goto done;
    printf("clt %s on %s (%s, %s)\n\n", clt_version_string(), info.name, info.device_name,
           clt_device_type_name(info.type));
    printf("%-10s %-28s %10s %9s %10s %12s  %s\n", "device", "shape (batch x MxNxK)",
           "device ms", "GFLOP/s", "host ms", "max rel err", "result");

    uint64_t seed = 42;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const gemm_shape *s = &shapes[i];
        const int64_t a_n = s->batch * s->m * s->k, b_n = s->batch * s->k * s->n;
        const int64_t c_n = s->batch * s->m * s->n;
        a = malloc((size_t)a_n * sizeof *a);
        b = malloc((size_t)b_n * sizeof *b);
        c_dev = malloc((size_t)c_n * sizeof *c_dev);
        c_host = malloc((size_t)c_n * sizeof *c_host);
        if (!a || !b || !c_dev || !c_host) {
            fprintf(stderr, "clt-gemm-example: out of host memory\n");
            goto done;
        }
        fill_random(a, a_n, &seed);
        fill_random(b, b_n, &seed);

        double dev_ms = 0.0, host_ms = 0.0;
        if (!run_gemm(dev, s, a, b, c_dev, 3, &dev_ms) ||
            !run_gemm(host, s, a, b, c_host, 1, &host_ms))
            goto done;

        double err = max_relative_error(c_dev, c_host, c_n);
        bool pass = err <= TOLERANCE;
        failures += !pass;
        char shape[64];
        snprintf(shape, sizeof shape, "%lld x %lldx%lldx%lld%s%s", (long long)s->batch,
                 (long long)s->m, (long long)s->n, (long long)s->k,
                 s->trans_a ? " A^T" : "", s->trans_b ? " B^T" : "");
        double gflops = 2.0 * (double)s->batch * (double)s->m * (double)s->n *
                        (double)s->k / (dev_ms * 1e6);
        printf("%-10s %-28s %10.3f %9.1f %10.3f %12.2e  %s\n", info.name, shape, dev_ms,
               gflops, host_ms, err, pass ? "OK" : "FAIL");

        free(a);
        free(b);
        free(c_dev);
        free(c_host);
        a = b = c_dev = c_host = NULL;
    }
    if (failures)
        fprintf(stderr, "clt-gemm-example: %d shape(s) differ from the host by more "
                        "than %g\n", failures, TOLERANCE);
    rc = failures ? 1 : 0;

done:
    free(a);
    free(b);
    free(c_dev);
    free(c_host);
    /* Destroying a context waits for its work and frees every buffer still in it. */
    clt_context_destroy(dev);
    clt_context_destroy(host);
    return rc;
}
