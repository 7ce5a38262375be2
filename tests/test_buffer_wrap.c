/* Memory an embedder already has, used without a copy: clt_buffer_wrap_host on every
 * device, and an OpenCL framework's cl_mem (clt/opencl.h) on OpenCL devices. */
#include <stdlib.h>
#include <string.h>

#include "clt/opencl.h"
#include "support/support.h"

enum { M = 7, N = 5, K = 9 }; /* odd sizes: no kernel tile divides them */

static void gemm_ref(const float *a, const float *b, float *c)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0.0;
            for (int k = 0; k < K; k++)
                s += (double)a[i * K + k] * b[k * N + j];
            c[i * N + j] = (float)s;
        }
}

static bool device_shares_host_memory(clt_context *ctx)
{
    clt_device_info info;
    assert_int_equal(clt_context_device(ctx, &info), CLT_OK);
    return info.unified_memory || strcmp(info.driver, "host") == 0;
}

/* A GEMM whose three matrices are the caller's memory: the result is in the caller's
 * array after finish, nothing counts against the DEVICE budget, and destroy leaves the
 * memory to the caller. */
static void test_wrap_host_gemm_in_place(void **state)
{
    clt_context *ctx = ts_context(*state);
    if (!device_shares_host_memory(ctx)) {
        clt_buffer *buf = NULL;
        float *x = aligned_alloc(4096, 4096);
        assert_int_equal(clt_buffer_wrap_host(ctx, x, 4096, &buf), CLT_ERR_UNSUPPORTED);
        assert_true(ts_has_text(clt_last_error(), "clt_buffer_write"));
        free(x);
        clt_context_destroy(ctx);
        return;
    }
    /* 4096: a page, more than any device's base address alignment */
    float *a = aligned_alloc(4096, 4096), *b = aligned_alloc(4096, 4096);
    float *c = aligned_alloc(4096, 4096), want[M * N];
    ts_rng rng;
    ts_rng_seed(&rng, 7);
    ts_fill_floats(&rng, a, M * K, -1, 1);
    ts_fill_floats(&rng, b, K * N, -1, 1);
    ts_fill_value(c, 1024, 123.0f);
    gemm_ref(a, b, want);

    clt_stats before, during;
    assert_int_equal(clt_context_stats(ctx, &before), CLT_OK);
    clt_buffer *ba = NULL, *bb = NULL, *bc = NULL;
    assert_int_equal(clt_buffer_wrap_host(ctx, a, 4096, &ba), CLT_OK);
    assert_int_equal(clt_buffer_wrap_host(ctx, b, 4096, &bb), CLT_OK);
    assert_int_equal(clt_buffer_wrap_host(ctx, c, 4096, &bc), CLT_OK);
    assert_int_equal(clt_buffer_tier(bc), CLT_TIER_DEVICE);
    assert_int_equal(clt_buffer_size(bc), 4096);
    assert_int_equal(clt_context_stats(ctx, &during), CLT_OK);
    assert_int_equal(during.mem_used[CLT_TIER_DEVICE], before.mem_used[CLT_TIER_DEVICE]);

    clt_op op = {.kind = CLT_OP_GEMM, .u.gemm = ts_gemm_2d(ba, bb, bc, M, N, K, 1.0f, 0.0f)};
    assert_int_equal(clt_op_run(ctx, &op, NULL), CLT_OK);
    assert_int_equal(clt_context_finish(ctx), CLT_OK);
    assert_true(ts_close(c, want, M * N, 1e-5, "C in the caller's memory"));
    assert_true(c[M * N] == 123.0f); /* past C: untouched */

    /* What the caller writes between ops is what the next op reads. */
    for (int i = 0; i < M * K; i++)
        a[i] = -a[i];
    gemm_ref(a, b, want);
    assert_int_equal(clt_op_run(ctx, &op, NULL), CLT_OK);
    assert_int_equal(clt_context_finish(ctx), CLT_OK);
    assert_true(ts_close(c, want, M * N, 1e-5, "C after the caller changed A"));

    clt_buffer_destroy(ba);
    clt_buffer_destroy(bb);
    clt_buffer_destroy(bc);
    a[0] = 1.0f; /* still the caller's: ASan would object if destroy had freed it */
    free(a);
    free(b);
    free(c);
    clt_context_destroy(ctx);
}

static void test_wrap_host_bad_input(void **state)
{
    clt_context *ctx = ts_context(*state);
    float *x = aligned_alloc(4096, 8192);
    clt_buffer *buf = (clt_buffer *)&buf; /* must be cleared on failure */
    assert_int_equal(clt_buffer_wrap_host(ctx, NULL, 64, &buf), CLT_ERR_INVALID_ARG);
    assert_null(buf);
    assert_true(ts_has_word(clt_last_error(), "ptr"));
    assert_int_equal(clt_buffer_wrap_host(ctx, x, 0, &buf), CLT_ERR_INVALID_ARG);
    assert_true(ts_has_text(clt_last_error(), "0 bytes"));
    assert_int_equal(clt_buffer_wrap_host(ctx, (char *)x + 4, 64, &buf), CLT_ERR_INVALID_ARG);
    assert_true(ts_has_text(clt_last_error(), "aligned to 16"));
    assert_int_equal(clt_buffer_wrap_host(NULL, x, 64, &buf), CLT_ERR_INVALID_ARG);
    assert_int_equal(clt_buffer_wrap_host(ctx, x, 64, NULL), CLT_ERR_INVALID_ARG);
    clt_device_info info;
    assert_int_equal(clt_context_device(ctx, &info), CLT_OK);
    if (strcmp(info.driver, "opencl") == 0 && info.unified_memory) {
        /* 16-aligned but not to the device's base address alignment (128 on PoCL) */
        clt_status s = clt_buffer_wrap_host(ctx, (char *)x + 16, 4096, &buf);
        if (s != CLT_OK) {
            assert_int_equal(s, CLT_ERR_UNSUPPORTED);
            assert_true(ts_has_text(clt_last_error(), "CL_DEVICE_MEM_BASE_ADDR_ALIGN"));
        }
        clt_buffer_destroy(s == CLT_OK ? buf : NULL);
    }
    free(x);
    clt_context_destroy(ctx);
}

/* A framework's cl_mem, made in clt's cl_context and filled on clt's queue, used by an op
 * without a copy; clt holds its own reference and gives it back. */
static void test_wrap_cl_mem(void **state)
{
    clt_context *ctx = ts_context(*state);
    cl_context clctx = NULL;
    cl_command_queue queue = NULL;
    cl_device_id device = NULL;
    clt_status s = clt_opencl_handles(ctx, NULL, &clctx, &device, &queue);
    clt_device_info info;
    assert_int_equal(clt_context_device(ctx, &info), CLT_OK);
    if (strcmp(info.driver, "opencl") != 0) {
        assert_int_equal(s, CLT_ERR_UNSUPPORTED);
        assert_true(ts_has_text(clt_last_error(), "not an OpenCL one"));
        clt_buffer *buf = NULL;
        assert_int_equal(clt_opencl_wrap_buffer(ctx, (cl_mem)1, &buf), CLT_ERR_UNSUPPORTED);
        clt_context_destroy(ctx);
        return;
    }
    assert_int_equal(s, CLT_OK);
    assert_non_null(clctx);
    assert_non_null(queue);
    assert_non_null(device);

    float a[M * K], b[K * N], c[M * N], want[M * N];
    ts_rng rng;
    ts_rng_seed(&rng, 11);
    ts_fill_floats(&rng, a, M * K, -1, 1);
    ts_fill_floats(&rng, b, K * N, -1, 1);
    gemm_ref(a, b, want);
    cl_int err = CL_SUCCESS;
    cl_mem ma = clCreateBuffer(clctx, CL_MEM_READ_WRITE, sizeof a, NULL, &err);
    cl_mem mb = clCreateBuffer(clctx, CL_MEM_READ_WRITE, sizeof b, NULL, &err);
    cl_mem mc = clCreateBuffer(clctx, CL_MEM_READ_WRITE, sizeof c, NULL, &err);
    assert_int_equal(err, CL_SUCCESS);
    /* non-blocking, on clt's in-order queue: ordered before clt's GEMM for free */
    assert_int_equal(clEnqueueWriteBuffer(queue, ma, CL_FALSE, 0, sizeof a, a, 0, NULL, NULL),
                     CL_SUCCESS);
    assert_int_equal(clEnqueueWriteBuffer(queue, mb, CL_FALSE, 0, sizeof b, b, 0, NULL, NULL),
                     CL_SUCCESS);

    clt_buffer *ba = NULL, *bb = NULL, *bc = NULL;
    assert_int_equal(clt_opencl_wrap_buffer(ctx, ma, &ba), CLT_OK);
    assert_int_equal(clt_opencl_wrap_buffer(ctx, mb, &bb), CLT_OK);
    assert_int_equal(clt_opencl_wrap_buffer(ctx, mc, &bc), CLT_OK);
    assert_int_equal(clt_buffer_size(bc), sizeof c);
    clt_op op = {.kind = CLT_OP_GEMM, .u.gemm = ts_gemm_2d(ba, bb, bc, M, N, K, 1.0f, 0.0f)};
    assert_int_equal(clt_op_run(ctx, &op, NULL), CLT_OK);
    assert_int_equal(clEnqueueReadBuffer(queue, mc, CL_TRUE, 0, sizeof c, c, 0, NULL, NULL),
                     CL_SUCCESS);
    assert_true(ts_close(c, want, M * N, 1e-5, "C read by the framework"));

    clt_buffer_destroy(ba);
    clt_buffer_destroy(bb);
    clt_buffer_destroy(bc);
    cl_uint refs = 0;
    assert_int_equal(clGetMemObjectInfo(mc, CL_MEM_REFERENCE_COUNT, sizeof refs, &refs, NULL),
                     CL_SUCCESS);
    assert_int_equal(refs, 1); /* clt gave its reference back; the framework's remains */

    /* a cl_mem of another cl_context is refused, naming why */
    cl_context other = clCreateContext(NULL, 1, &device, NULL, NULL, &err);
    assert_int_equal(err, CL_SUCCESS);
    cl_mem foreign = clCreateBuffer(other, CL_MEM_READ_WRITE, 64, NULL, &err);
    clt_buffer *buf = NULL;
    assert_int_equal(clt_opencl_wrap_buffer(ctx, foreign, &buf), CLT_ERR_INVALID_ARG);
    assert_null(buf);
    assert_true(ts_has_text(clt_last_error(), "another cl_context"));
    assert_int_equal(clt_opencl_wrap_buffer(ctx, NULL, &buf), CLT_ERR_INVALID_ARG);
    clReleaseMemObject(foreign);
    clReleaseContext(other);
    clReleaseMemObject(ma);
    clReleaseMemObject(mb);
    clReleaseMemObject(mc);
    clt_context_destroy(ctx);
}

int main(void)
{
    const ts_device_test tests[] = {
        {"wrap_host_gemm_in_place", test_wrap_host_gemm_in_place},
        {"wrap_host_bad_input", test_wrap_host_bad_input},
        {"wrap_cl_mem", test_wrap_cl_mem},
    };
    return ts_run_per_device("buffer_wrap", tests, sizeof tests / sizeof tests[0]);
}
