/* The side queue (runtime/driver.h: write_side, read_side, order_after) and pinned host
 * memory (map), and the offload engine on them (clt/offload.h: prefetch, fetch,
 * grads_ready):
 * - on PoCL a side write runs while a kernel enqueued after it runs (its event completes
 *   while the kernel's is still running), yet after a kernel enqueued before it;
 *   with CLT_CL_COPY_QUEUE=0 it never overlaps;
 * - an engine with 2 slots over many groups, prefetching each next group while the
 *   current one's ops read its slot, gives gradients that are exactly 2·work of the
 *   right group (an upload that raced a slot's readers would show another group's
 *   values), and the same bits with the side queue, without it, and on the host;
 * - a HOST_PINNED buffer's CPU pointer sees what clt_buffer_write wrote, before and
 *   after mapping; its budget's failures name HOST_PINNED; the engine puts its host side
 *   on HOST_PINNED when the device maps it and the budget holds it, else on HOST. */
#include <time.h>

#include "support/support.h"

#include "backends/opencl/cl_internal.h"
#include "runtime/buffer.h"
#include "runtime/context.h"
#include "runtime/event.h"
#include "runtime/offload.h"

/* The first OpenCL device in the test list, or "" when there is none. */
static const char *opencl_device(char *out, size_t cap)
{
    char names[TS_MAX_DEVICES][64];
    const int n = ts_devices(names, TS_MAX_DEVICES);
    out[0] = '\0';
    for (int i = 0; i < n; i++)
        if (strncmp(names[i], "opencl:", 7) == 0) {
            const size_t len = strnlen(names[i], cap - 1);
            memcpy(out, names[i], len);
            out[len] = '\0';
            break;
        }
    return out;
}

/* A context on device with the side queue on or off (the driver reads the switch when
 * it opens the device). */
static clt_context *context_with_side_queue(const char *device, bool side)
{
    if (side)
        unsetenv("CLT_CL_COPY_QUEUE");
    else
        setenv("CLT_CL_COPY_QUEUE", "0", 1);
    clt_context *ctx = ts_context(device);
    unsetenv("CLT_CL_COPY_QUEUE");
    return ctx;
}

/* CL_COMPLETE, CL_RUNNING, CL_SUBMITTED or CL_QUEUED (a failure fails the test). */
static cl_int cl_status(const clt_event *ev)
{
    if (!ev || !ev->impl)
        return CL_COMPLETE;
    cl_int st = CL_COMPLETE;
    assert_int_equal(clGetEventInfo(((const struct clt_cl_event *)ev->impl)->event,
                                    CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof st, &st, NULL),
                     CL_SUCCESS);
    assert_true(st >= 0);
    return st;
}

static void pause_us(long us)
{
    struct timespec t = {0, us * 1000};
    nanosleep(&t, NULL);
}

/* What one probe saw: `first` (a GEMM), then a side write of `write_bytes`, then
 * `second` (a GEMM of n³). */
struct probe {
    bool write_after_first;   /* the write completed only after `first` had */
    bool second_ran_first;    /* `second` was running while the write was not done */
    bool write_done_first;    /* the write was done while `second` was not */
};

static struct probe run_probe(clt_context *ctx, int64_t n, size_t write_bytes)
{
    const size_t bytes = (size_t)(n * n) * sizeof(float);
    float *host = malloc(bytes > write_bytes ? bytes : write_bytes);
    assert_non_null(host);
    ts_rng rng;
    ts_rng_seed(&rng, 7);
    ts_fill_ints(&rng, host, bytes / sizeof(float), -2, 2);
    clt_buffer *a = ts_upload(ctx, CLT_TIER_DEVICE, host, (size_t)(n * n));
    clt_buffer *b = ts_upload(ctx, CLT_TIER_DEVICE, host, (size_t)(n * n));
    clt_buffer *c1 = ts_buffer(ctx, CLT_TIER_DEVICE, bytes, NULL);
    clt_buffer *c2 = ts_buffer(ctx, CLT_TIER_DEVICE, bytes, NULL);
    clt_buffer *dst = ts_buffer(ctx, CLT_TIER_DEVICE, write_bytes, NULL);
    ts_assert_ok(clt_context_finish(ctx));

    /* `first` is a quarter of `second`'s work: long enough to be still under way when
     * the write is enqueued */
    const int64_t n1 = n / 2;
    clt_gemm_args g1 = ts_gemm_2d(a, b, c1, n1, n1, n1, 1.0f, 0.0f);
    clt_gemm_args g2 = ts_gemm_2d(a, b, c2, n, n, n, 1.0f, 0.0f);
    clt_event *first = NULL, *write = NULL, *second = NULL;
    ts_assert_ok(clt_gemm(ctx, &g1, &first));
    ts_assert_ok(clt_buffer_write_side(dst, 0, host, write_bytes, &write));
    ts_assert_ok(clt_gemm(ctx, &g2, &second));

    struct probe p = {true, false, false};
    for (;;) {
        /* Read in an order that makes each conclusion true at one instant: statuses
         * only move towards CL_COMPLETE. */
        const cl_int s2 = cl_status(second), w = cl_status(write);
        if (s2 == CL_RUNNING && w != CL_COMPLETE)
            p.second_ran_first = true;
        const cl_int w2 = cl_status(write), f = cl_status(first), s2b = cl_status(second);
        if (w2 == CL_COMPLETE) {
            p.write_after_first = f == CL_COMPLETE;
            p.write_done_first = s2b != CL_COMPLETE;
            break;
        }
        if (s2b == CL_COMPLETE)
            break;
        pause_us(50);
    }
    ts_assert_ok(clt_event_wait(first));
    ts_assert_ok(clt_event_wait(write));
    ts_assert_ok(clt_event_wait(second));
    ts_assert_buffer_equals(dst, host, write_bytes);
    clt_event_destroy(first);
    clt_event_destroy(write);
    clt_event_destroy(second);
    clt_buffer_destroy(a);
    clt_buffer_destroy(b);
    clt_buffer_destroy(c1);
    clt_buffer_destroy(c2);
    clt_buffer_destroy(dst);
    free(host);
    return p;
}

static void test_side_write_overlaps_kernel(void **state)
{
    (void)state;
    char device[64];
    if (!*opencl_device(device, sizeof device)) {
        print_message("no OpenCL device to test: skipped\n");
        skip();
    }
    const size_t write_bytes = (size_t)48 << 20;
    clt_context *ctx = context_with_side_queue(device, true);
    if (!((struct clt_cl_device *)ctx->dev->impl)->side_queue) {
        clt_context_destroy(ctx);
        print_message("%s refused a second queue: skipped\n", device);
        skip();
    }
    /* A GEMM too short to be seen running beside the write proves nothing: grow it. */
    bool overlapped = false;
    for (int64_t n = 512; n <= 2048 && !overlapped; n *= 2) {
        const struct probe p = run_probe(ctx, n, write_bytes);
        assert_true(p.write_after_first);
        overlapped = p.second_ran_first && p.write_done_first;
        print_message("side queue, GEMM %lld: second ran before the write was done: %s; "
                      "the write was done before the second: %s\n",
                      (long long)n, p.second_ran_first ? "yes" : "no",
                      p.write_done_first ? "yes" : "no");
    }
    clt_context_destroy(ctx);
    if (!overlapped) {
        print_message("no overlap seen with GEMMs up to 2048 (a busy machine?): skipped\n");
        skip();
    }

    /* without the side queue the write keeps its place between the two GEMMs */
    ctx = context_with_side_queue(device, false);
    const struct probe p = run_probe(ctx, 512, write_bytes);
    assert_true(p.write_after_first);
    assert_false(p.second_ran_first);
    clt_context_destroy(ctx);
}

/* ---- the engine over many groups with 2 slots ----------------------------------------- */

#define QDIM 512
#define QGROUPS 12
#define QNUMEL ((size_t)QDIM * QDIM) /* elements per group: 1 MiB of f32 */

/* SGD (no momentum, no decay) for `steps` steps, each pass: for every group fetch it,
 * prefetch the next, write its gradients = work·2I (a GEMM, long enough that the next
 * uploads and copies are enqueued while it runs) into a gradient slot, grads_ready,
 * release. Checks after each pass that every group's landed gradients are exactly 2·its
 * working copy; returns the final master values. */
static float *run_engine(clt_context *ctx, int steps)
{
    float *two = calloc(QNUMEL, sizeof(float));
    assert_non_null(two);
    for (size_t i = 0; i < QDIM; i++)
        two[i * QDIM + i] = 2.0f;
    clt_buffer *twice = ts_upload(ctx, CLT_TIER_DEVICE, two, QNUMEL);
    free(two);
    clt_offload_opts o;
    clt_offload_opts_init(&o);
    o.optimizer = CLT_OP_SGD;
    o.hparams.beta1 = 0.0f;
    o.work_dtype = CLT_DTYPE_F32;
    o.device_slots = 2;
    o.grad_slots = 2;
    clt_offload *off = NULL;
    ts_assert_ok(clt_offload_create(ctx, &o, &off));
    const clt_offload_tensor t = {0, QNUMEL, false};
    float *values = malloc(QGROUPS * QNUMEL * sizeof(float));
    float *expect = malloc(QNUMEL * sizeof(float));
    assert_non_null(values);
    assert_non_null(expect);
    for (int g = 0; g < QGROUPS; g++) {
        int id = -1;
        ts_assert_ok(clt_offload_add_group(off, QNUMEL, &t, 1, false, &id));
    }
    ts_assert_ok(clt_offload_plan(off, NULL));
    ts_rng rng;
    ts_rng_seed(&rng, 11);
    for (int g = 0; g < QGROUPS; g++) {
        /* group g's values are whole numbers around 1000·g: another group's are far */
        ts_fill_ints(&rng, values + g * QNUMEL, QNUMEL, 1000 * g - 64, 1000 * g + 64);
        ts_assert_ok(clt_offload_set_master(off, g, values + g * QNUMEL));
    }
    for (int step = 1; step <= steps; step++) {
        ts_assert_ok(clt_offload_prefetch(off, 0));
        for (int g = 0; g < QGROUPS; g++) {
            clt_tensor work, grad;
            ts_assert_ok(clt_offload_fetch(off, g, &work));
            if (g + 1 < QGROUPS)
                ts_assert_ok(clt_offload_prefetch(off, g + 1));
            ts_assert_ok(clt_offload_grad(off, g, false, &grad));
            const clt_gemm_args gemm =
                ts_gemm_2d(work.buf, twice, grad.buf, QDIM, QDIM, QDIM, 1.0f, 0.0f);
            ts_assert_ok(clt_gemm(ctx, &gemm, NULL));
            ts_assert_ok(clt_offload_grads_ready(off, g));
            ts_assert_ok(clt_offload_release(off, g));
        }
        float norm = 0;
        ts_assert_ok(clt_offload_grad_sqnorm(off, &norm));
        const float *grads = clt_offload_host_ptr(off->grads);
        for (int g = 0; g < QGROUPS; g++) {
            ts_assert_ok(clt_offload_get_master(off, g, values + g * QNUMEL));
            for (size_t i = 0; i < QNUMEL; i++)
                expect[i] = 2.0f * values[g * QNUMEL + i];
            char what[64];
            snprintf(what, sizeof what, "step %d, group %d's gradients", step, g);
            assert_true(ts_close(grads + g * QNUMEL, expect, QNUMEL, 0, what));
        }
        /* lr 1/64: the update stays exact in f32 */
        ts_assert_ok(clt_offload_step(off, 1.0f / 64, step, 1.0f));
    }
    for (int g = 0; g < QGROUPS; g++)
        ts_assert_ok(clt_offload_get_master(off, g, values + g * QNUMEL));
    clt_offload_destroy(off);
    clt_buffer_destroy(twice);
    free(expect);
    return values;
}

static void test_slot_reuse_is_exact(void **state)
{
    (void)state;
    clt_context *ctx = ts_context("host");
    float *want = run_engine(ctx, 3);
    clt_context_destroy(ctx);
    char device[64];
    if (!*opencl_device(device, sizeof device)) {
        free(want);
        print_message("no OpenCL device: the host run alone\n");
        return;
    }
    for (int side = 1; side >= 0; side--) {
        ctx = context_with_side_queue(device, side);
        float *got = run_engine(ctx, 3);
        clt_context_destroy(ctx);
        assert_memory_equal(got, want, QGROUPS * QNUMEL * sizeof(float));
        free(got);
    }
    free(want);
}

/* ---- pinned host memory ----------------------------------------------------------------- */

static void test_pinned_cpu_pointer(void **state)
{
    (void)state;
    char device[64];
    if (!*opencl_device(device, sizeof device)) {
        print_message("no OpenCL device to test: skipped\n");
        skip();
    }
    clt_context *ctx = ts_context(device);
    const size_t n = 4096;
    float x[4096], y[4096];
    ts_rng rng;
    ts_rng_seed(&rng, 3);
    ts_fill_floats(&rng, x, n, -1, 1);
    clt_buffer *pinned = NULL;
    ts_assert_ok(clt_buffer_create(ctx, n * sizeof(float), CLT_TIER_HOST_PINNED, &pinned));
    /* written before it is mapped: the driver's copy */
    ts_assert_ok(clt_buffer_write(pinned, 0, x, n * sizeof(float), NULL));
    void *ptr = NULL, *again = NULL;
    ts_assert_ok(clt_buffer_host_ptr(pinned, &ptr));
    assert_non_null(ptr);
    assert_memory_equal(ptr, x, n * sizeof(float));
    ts_assert_ok(clt_buffer_host_ptr(pinned, &again));
    assert_ptr_equal(ptr, again);
    /* and after: a write lands where the pointer looks, a read sees what it wrote */
    for (size_t i = 0; i < n; i++)
        x[i] = -x[i];
    clt_event *ev = NULL;
    ts_assert_ok(clt_buffer_write(pinned, 0, x, n * sizeof(float), &ev));
    ts_assert_ok(clt_event_wait(ev));
    clt_event_destroy(ev);
    assert_memory_equal(ptr, x, n * sizeof(float));
    ((float *)ptr)[5] = 42.0f;
    ts_assert_ok(clt_buffer_read(pinned, 0, y, n * sizeof(float), NULL));
    assert_true(y[5] == 42.0f);
    /* copies to and from device memory go through the CPU pointer */
    clt_buffer *dev = ts_buffer(ctx, CLT_TIER_DEVICE, n * sizeof(float), NULL);
    ts_assert_ok(clt_buffer_copy(dev, 0, pinned, 0, n * sizeof(float), NULL));
    memset(ptr, 0, n * sizeof(float));
    ts_assert_ok(clt_buffer_copy(pinned, 0, dev, 0, n * sizeof(float), NULL));
    assert_memory_equal(ptr, y, n * sizeof(float));
    /* a mapped HOST_PINNED buffer is the CPU's: an op may not use it */
    clt_tensor tp, td;
    const int64_t shape[1] = {(int64_t)n};
    ts_assert_ok(clt_tensor_init(&tp, pinned, 0, CLT_DTYPE_F32, 1, shape));
    ts_assert_ok(clt_tensor_init(&td, dev, 0, CLT_DTYPE_F32, 1, shape));
    clt_op add = {.kind = CLT_OP_ADD,
                  .u.add = {.a = tp, .b = td, .out = td, .alpha = 1, .beta = 1}};
    ts_assert_status(clt_op_run(ctx, &add, NULL), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("mapped");
    clt_buffer_destroy(dev);
    /* DEVICE memory has no CPU pointer */
    clt_buffer *d = ts_buffer(ctx, CLT_TIER_DEVICE, 64, NULL);
    ts_assert_status(clt_buffer_host_ptr(d, &ptr), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("DEVICE");
    clt_buffer_destroy(d);
    clt_buffer_destroy(pinned);
    clt_context_destroy(ctx);

    /* the host driver cannot map HOST_PINNED, and says so */
    ctx = ts_context("host");
    ts_assert_ok(clt_buffer_create(ctx, 64, CLT_TIER_HOST_PINNED, &pinned));
    ts_assert_status(clt_buffer_host_ptr(pinned, &ptr), CLT_ERR_UNSUPPORTED);
    ts_assert_error_mentions("HOST_PINNED");
    clt_buffer_destroy(pinned);
    clt_context_destroy(ctx);
}

/* A small engine's plan on device with a HOST_PINNED budget (0: none), then one AdamW
 * step from set master values; *moved: group 1's master values after it. */
static void plan_small(const char *device, uint64_t pinned_budget, clt_offload_plan_info *info,
                       float moved[4096])
{
    clt_context_opts co;
    clt_context_opts_init(&co);
    co.mem_budget[CLT_TIER_HOST_PINNED] = pinned_budget;
    clt_context *ctx = NULL;
    ts_assert_ok(ts_context_open(device, &co, &ctx));
    clt_offload_opts o;
    clt_offload_opts_init(&o);
    o.work_dtype = CLT_DTYPE_BF16;
    clt_offload *off = NULL;
    ts_assert_ok(clt_offload_create(ctx, &o, &off));
    const clt_offload_tensor t = {0, 4096, true};
    for (int g = 0; g < 3; g++) {
        int id;
        ts_assert_ok(clt_offload_add_group(off, 4096, &t, 1, false, &id));
    }
    clt_stats before, after;
    ts_assert_ok(clt_context_stats(ctx, &before));
    ts_assert_ok(clt_offload_plan(off, info));
    ts_assert_ok(clt_context_stats(ctx, &after));
    for (int tier = 0; tier < CLT_TIER_COUNT; tier++)
        assert_int_equal(after.mem_used[tier] - before.mem_used[tier], info->tier_bytes[tier]);
    /* the optimizer reads and writes the host side in place */
    float m0[4096];
    ts_rng rng;
    ts_rng_seed(&rng, 5);
    for (int g = 0; g < 3; g++) {
        ts_fill_floats(&rng, m0, 4096, -1, 1);
        ts_assert_ok(clt_offload_set_master(off, g, m0));
    }
    for (int g = 0; g < 3; g++) {
        clt_tensor work, grad;
        ts_assert_ok(clt_offload_fetch(off, g, &work));
        ts_assert_ok(clt_offload_grad(off, g, false, &grad));
        clt_op op = {.kind = CLT_OP_ADD};
        op.u.add = (clt_add_args){.a = work, .b = work, .out = grad, .alpha = 1.0f,
                                  .beta = 1.0f};
        ts_assert_ok(clt_op_run(ctx, &op, NULL));
        ts_assert_ok(clt_offload_grads_ready(off, g));
        ts_assert_ok(clt_offload_release(off, g));
    }
    ts_assert_ok(clt_offload_step(off, 0.01f, 1, 1.0f));
    ts_assert_ok(clt_offload_get_master(off, 1, moved));
    clt_offload_destroy(off);
    clt_context_destroy(ctx);
}

static void test_engine_host_tier(void **state)
{
    (void)state;
    clt_offload_plan_info info;
    float want[4096], got[4096];
    plan_small("host", 0, &info, want);
    assert_int_equal(info.host_tier, CLT_TIER_HOST);
    assert_int_equal(info.tier_bytes[CLT_TIER_HOST_PINNED], 0);
    char device[64];
    if (!*opencl_device(device, sizeof device)) {
        print_message("no OpenCL device: pinned host side not tested\n");
        return;
    }
    plan_small(device, 0, &info, got);
    assert_int_equal(info.host_tier, CLT_TIER_HOST_PINNED);
    assert_int_equal(info.tier_bytes[CLT_TIER_HOST_PINNED],
                     info.master_bytes + info.state_bytes + 2 * info.params * 2);
    assert_int_equal(info.tier_bytes[CLT_TIER_HOST], 4);
    assert_memory_equal(got, want, sizeof got);
    /* a HOST_PINNED budget too small for it: HOST, the same bits */
    plan_small(device, 4096, &info, got);
    assert_int_equal(info.host_tier, CLT_TIER_HOST);
    assert_int_equal(info.tier_bytes[CLT_TIER_HOST_PINNED], 0);
    assert_memory_equal(got, want, sizeof got);

    /* a HOST_PINNED buffer over its budget: the error names the tier */
    clt_context_opts co;
    clt_context_opts_init(&co);
    co.mem_budget[CLT_TIER_HOST_PINNED] = 4096;
    clt_context *ctx = NULL;
    ts_assert_ok(ts_context_open(device, &co, &ctx));
    clt_buffer *b = NULL;
    ts_assert_status(clt_buffer_create(ctx, 8192, CLT_TIER_HOST_PINNED, &b),
                     CLT_ERR_OUT_OF_MEMORY);
    ts_assert_error_mentions("HOST_PINNED");
    clt_context_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_side_write_overlaps_kernel),
        cmocka_unit_test(test_slot_reuse_is_exact),
        cmocka_unit_test(test_pinned_cpu_pointer),
        cmocka_unit_test(test_engine_host_tier),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
