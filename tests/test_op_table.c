/* The op table's rules that hold for every op: names, in-place outputs, one float dtype
 * per op, index tensors, clt_op_supported, and driver scratch in the accounting. */
#include "support/support.h"

#define N_ELEMS 37 /* not a multiple of any vector width or work-group size */

static void set_vector(clt_tensor *t, clt_buffer *buf, size_t offset_elems, clt_dtype dtype,
                       int64_t n)
{
    ts_assert_ok(clt_tensor_init(t, buf, offset_elems * clt_dtype_size(dtype), dtype, 1,
                                 (const int64_t[]){n}));
}

static void op_names(void **state)
{
    (void)state;
    for (int k = 0; k < CLT_OP_COUNT; k++) {
        const char *name = clt_op_name((clt_op_kind)k);
        assert_string_not_equal(name, "?");
        clt_op_kind back;
        ts_assert_ok(clt_op_from_name(name, &back));
        assert_int_equal(back, k);
        for (int j = 0; j < k; j++)
            assert_string_not_equal(name, clt_op_name((clt_op_kind)j));
    }
    assert_string_equal(clt_op_name((clt_op_kind)CLT_OP_COUNT), "?");
    clt_op_kind kind;
    ts_assert_status(clt_op_from_name("attention", &kind), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("attention");
}

static void convert_refuses_indices(void **state)
{
    (void)state;
    int32_t src[2] = {1, 2};
    float dst[2];
    ts_assert_status(clt_convert(CLT_DTYPE_F32, dst, CLT_DTYPE_I32, src, 2),
                     CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("i32");
}

/* An output may be exactly the input the op names, and nothing that merely overlaps it. */
static void in_place(void **state)
{
    clt_context *ctx = ts_context(*state);
    float x[N_ELEMS + 1], want[N_ELEMS], got[N_ELEMS];
    ts_rng rng;
    ts_rng_seed(&rng, 7);
    ts_fill_floats(&rng, x, N_ELEMS + 1, -3.0f, 3.0f);
    clt_buffer *in = ts_upload(ctx, CLT_TIER_DEVICE, x, N_ELEMS + 1);
    clt_buffer *out = ts_upload(ctx, CLT_TIER_DEVICE, x, N_ELEMS);

    clt_op op = {.kind = CLT_OP_GELU_FWD};
    set_vector(&op.u.gelu_fwd.x, in, 0, CLT_DTYPE_F32, N_ELEMS);
    set_vector(&op.u.gelu_fwd.y, out, 0, CLT_DTYPE_F32, N_ELEMS);
    ts_assert_ok(clt_op_run(ctx, &op, NULL));
    ts_download(out, 0, want, N_ELEMS);

    op.u.gelu_fwd.y = op.u.gelu_fwd.x; /* the same view: allowed */
    ts_assert_ok(clt_op_run(ctx, &op, NULL));
    ts_download(in, 0, got, N_ELEMS);
    assert_true(ts_close(got, want, N_ELEMS, 0, "gelu in place vs out of place"));

    /* One element further on: overlaps x without being x. Nothing may be written. */
    float before[N_ELEMS + 1], after[N_ELEMS + 1];
    ts_download(in, 0, before, N_ELEMS + 1);
    set_vector(&op.u.gelu_fwd.y, in, 1, CLT_DTYPE_F32, N_ELEMS);
    ts_assert_status(clt_op_run(ctx, &op, NULL), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("gelu_fwd");
    ts_assert_error_mentions("overlaps");
    ts_download(in, 0, after, N_ELEMS + 1);
    assert_memory_equal(before, after, sizeof before);

    /* add names both inputs: out = b is b += a. */
    float b[N_ELEMS];
    ts_download(out, 0, b, N_ELEMS);
    op = (clt_op){.kind = CLT_OP_ADD};
    set_vector(&op.u.add.a, in, 0, CLT_DTYPE_F32, N_ELEMS);
    set_vector(&op.u.add.b, out, 0, CLT_DTYPE_F32, N_ELEMS);
    op.u.add.out = op.u.add.b;
    op.u.add.alpha = 1.0f;
    op.u.add.beta = 1.0f;
    ts_assert_ok(clt_op_run(ctx, &op, NULL));
    ts_download(in, 0, x, N_ELEMS);
    for (int i = 0; i < N_ELEMS; i++)
        want[i] = x[i] + b[i];
    ts_download(out, 0, got, N_ELEMS);
    assert_true(ts_close(got, want, N_ELEMS, 1e-6, "add with out = b"));

    clt_buffer_destroy(in);
    clt_buffer_destroy(out);
    clt_context_destroy(ctx);
}

/* (B, H, T, d) view `which` (0 q, 1 k, 2 v) of a packed (B, T, 3, H, d) f32 buffer,
 * shifted by `nudge` elements. */
static void packed_view(clt_tensor *t, clt_buffer *buf, int which, int64_t nudge, int64_t b,
                        int64_t h, int64_t n, int64_t d)
{
    memset(t, 0, sizeof *t);
    t->buf = buf;
    t->offset = (size_t)(which * h * d + nudge) * sizeof(float);
    t->dtype = CLT_DTYPE_F32;
    t->rank = 4;
    const int64_t shape[4] = {b, h, n, d}, strides[4] = {n * 3 * h * d, d, 3 * h * d, 1};
    memcpy(t->shape, shape, sizeof shape);
    memcpy(t->strides, strides, sizeof strides);
}

/* Outputs that interleave without sharing an element are accepted (the gradients of a
 * fused QKV projection, written in place); a view nudged onto its neighbour is not. */
static void interleaved_outputs(void **state)
{
    clt_context *ctx = ts_context(*state);
    enum { B = 1, H = 2, T = 3, D = 32 };
    const size_t n = (size_t)B * T * 3 * H * D;
    float *x = malloc(n * sizeof *x);
    assert_non_null(x);
    ts_rng rng;
    ts_rng_seed(&rng, 5);
    ts_fill_floats(&rng, x, n, -1.0f, 1.0f);
    clt_buffer *qkv = ts_upload(ctx, CLT_TIER_DEVICE, x, n);
    clt_buffer *grads = ts_buffer(ctx, CLT_TIER_DEVICE, (n + D) * sizeof(float), NULL);
    clt_buffer *o = ts_buffer(ctx, CLT_TIER_DEVICE, (size_t)B * H * T * D * sizeof(float), NULL);
    clt_buffer *dout = ts_upload(ctx, CLT_TIER_DEVICE, x, (size_t)B * H * T * D);
    clt_buffer *stats = ts_buffer(ctx, CLT_TIER_DEVICE, 2 * B * H * T * sizeof(float), NULL);

    clt_op fwd = {.kind = CLT_OP_ATTENTION_FWD};
    clt_attention_fwd_args *f = &fwd.u.attention_fwd;
    packed_view(&f->q, qkv, 0, 0, B, H, T, D);
    packed_view(&f->k, qkv, 1, 0, B, H, T, D);
    packed_view(&f->v, qkv, 2, 0, B, H, T, D);
    ts_assert_ok(clt_tensor_init(&f->o, o, 0, CLT_DTYPE_F32, 4, (const int64_t[]){B, H, T, D}));
    ts_assert_ok(clt_tensor_init(&f->lse, stats, 0, CLT_DTYPE_F32, 3, (const int64_t[]){B, H, T}));
    f->scale = 0.125f;
    f->causal = true;
    ts_assert_ok(clt_op_run(ctx, &fwd, NULL));

    clt_op bwd = {.kind = CLT_OP_ATTENTION_BWD};
    clt_attention_bwd_args *g = &bwd.u.attention_bwd;
    g->q = f->q;
    g->k = f->k;
    g->v = f->v;
    g->o = f->o;
    g->lse = f->lse;
    g->dout = f->o;
    g->dout.buf = dout;
    g->delta = f->lse;
    g->delta.offset = (size_t)B * H * T * sizeof(float);
    packed_view(&g->dq, grads, 0, 0, B, H, T, D);
    packed_view(&g->dk, grads, 1, 0, B, H, T, D);
    packed_view(&g->dv, grads, 2, 0, B, H, T, D);
    g->scale = f->scale;
    g->causal = true;
    ts_assert_ok(clt_op_run(ctx, &bwd, NULL));

    /* What runs them: on OpenCL the kernels and their tiles. */
    char how[512];
    ts_assert_ok(clt_op_describe(ctx, &bwd, how, sizeof how));
    if (strncmp(*state, "opencl", 6) == 0) {
        assert_non_null(strstr(how, "attention_bwd_dkdv br="));
        assert_non_null(strstr(how, "attention_bwd_dq br="));
        ts_assert_ok(clt_op_describe(ctx, &fwd, how, sizeof how));
        assert_non_null(strstr(how, "attention_fwd br="));
    }

    packed_view(&g->dk, grads, 1, 1, B, H, T, D); /* dk's row now runs into dv's */
    ts_assert_status(clt_op_run(ctx, &bwd, NULL), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("argument dk overlaps argument dv");

    clt_buffer_destroy(qkv);
    clt_buffer_destroy(grads);
    clt_buffer_destroy(o);
    clt_buffer_destroy(dout);
    clt_buffer_destroy(stats);
    free(x);
    clt_context_destroy(ctx);
}

/* The floating tensors of one op share a dtype; statistics stay f32. */
static void one_float_dtype(void **state)
{
    clt_context *ctx = ts_context(*state);
    clt_buffer *buf = ts_buffer(ctx, CLT_TIER_DEVICE, 4096, NULL);
    clt_op op = {.kind = CLT_OP_LAYERNORM_FWD};
    clt_layernorm_fwd_args *ln = &op.u.layernorm_fwd;
    ts_assert_ok(clt_tensor_init(&ln->x, buf, 0, CLT_DTYPE_F32, 2, (const int64_t[]){4, 8}));
    ts_assert_ok(clt_tensor_init(&ln->out, buf, 256, CLT_DTYPE_F32, 2, (const int64_t[]){4, 8}));
    set_vector(&ln->weight, buf, 256, CLT_DTYPE_F16, 8); /* bytes 512..527 */
    set_vector(&ln->mean, buf, 200, CLT_DTYPE_F32, 4);
    ln->eps = 1e-5f;
    ts_assert_status(clt_op_run(ctx, &op, NULL), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("layernorm_fwd");
    ts_assert_error_mentions("argument weight");
    ts_assert_error_mentions("f16");

    set_vector(&ln->weight, buf, 128, CLT_DTYPE_F32, 8);
    set_vector(&ln->mean, buf, 400, CLT_DTYPE_F16, 4); /* statistics are f32 only */
    ts_assert_status(clt_op_run(ctx, &op, NULL), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("argument mean");
    clt_buffer_destroy(buf);
    clt_context_destroy(ctx);
}

/* clt_op_supported asks with the storage dtype; index, code and statistics tensors
 * keep their own. The host runs everything. */
static void supported(void **state)
{
    clt_context *ctx = ts_context(*state);
    const bool on_host = strcmp(*state, "host") == 0;
    for (int k = 0; k < CLT_OP_COUNT; k++) {
        for (int d = 0; d < CLT_FLOAT_DTYPE_COUNT; d++) {
            bool yes = false;
            ts_assert_ok(clt_op_supported(ctx, (clt_op_kind)k, (clt_dtype)d, &yes));
            /* The 8-bit codecs take f32 values only. */
            const bool f32_only = k == CLT_OP_QUANTIZE8 || k == CLT_OP_DEQUANTIZE8;
            if (f32_only && d != CLT_DTYPE_F32) {
                if (yes)
                    fail_msg("%s claims to take %s", clt_op_name((clt_op_kind)k),
                             clt_dtype_name((clt_dtype)d));
                continue;
            }
            if (on_host && !yes)
                fail_msg("host does not run %s with %s", clt_op_name((clt_op_kind)k),
                         clt_dtype_name((clt_dtype)d));
        }
        for (clt_dtype d = CLT_DTYPE_I32; d <= CLT_DTYPE_U8; d++) {
            bool yes = true;
            ts_assert_ok(clt_op_supported(ctx, (clt_op_kind)k, d, &yes));
            if (yes)
                fail_msg("%s claims to compute in %s", clt_op_name((clt_op_kind)k),
                         clt_dtype_name(d));
        }
    }
    clt_context_destroy(ctx);
}

/* The OpenCL driver's GEMM scratch shows in the DEVICE accounting; under a budget with
 * no room for it the GEMM still runs (the direct kernel needs none) and stays inside. */
static void gemm_scratch_counted(void **state)
{
    if (strncmp(*state, "opencl", 6) != 0)
        skip();
    enum { DIM = 384 };
    const size_t matrix_bytes = (size_t)DIM * DIM * sizeof(float);
    float *a = malloc(matrix_bytes), *b = malloc(matrix_bytes), *c = malloc(matrix_bytes),
          *want = malloc(matrix_bytes);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_non_null(want);
    ts_rng rng;
    ts_rng_seed(&rng, 11);
    ts_fill_ints(&rng, a, (size_t)DIM * DIM, -2, 2);
    ts_fill_ints(&rng, b, (size_t)DIM * DIM, -2, 2);
    for (int i = 0; i < DIM; i++)
        for (int j = 0; j < DIM; j++) {
            float s = 0;
            for (int p = 0; p < DIM; p++)
                s += a[i * DIM + p] * b[p * DIM + j];
            want[i * DIM + j] = s;
        }

    for (int budgeted = 0; budgeted < 2; budgeted++) {
        clt_context_opts opts;
        clt_context_opts_init(&opts);
        if (budgeted)
            opts.mem_budget[CLT_TIER_DEVICE] = 3 * matrix_bytes + 4096;
        clt_context *ctx = NULL;
        ts_assert_ok(ts_context_open(*state, &opts, &ctx));
        clt_buffer *ba = ts_upload(ctx, CLT_TIER_DEVICE, a, (size_t)DIM * DIM);
        clt_buffer *bb = ts_upload(ctx, CLT_TIER_DEVICE, b, (size_t)DIM * DIM);
        clt_buffer *bc = ts_buffer(ctx, CLT_TIER_DEVICE, matrix_bytes, NULL);
        clt_gemm_args g = ts_gemm_2d(ba, bb, bc, DIM, DIM, DIM, 1.0f, 0.0f);
        ts_assert_ok(clt_gemm(ctx, &g, NULL));
        ts_download(bc, 0, c, (size_t)DIM * DIM);
        assert_true(ts_close(c, want, (size_t)DIM * DIM, 0, "gemm"));

        clt_stats st;
        ts_assert_ok(clt_context_stats(ctx, &st));
        if (budgeted)
            assert_true(st.mem_peak[CLT_TIER_DEVICE] <= opts.mem_budget[CLT_TIER_DEVICE]);
        else
            assert_true(st.mem_peak[CLT_TIER_DEVICE] > 3 * matrix_bytes); /* the panels */
        clt_buffer_destroy(ba);
        clt_buffer_destroy(bb);
        clt_buffer_destroy(bc);
        ts_assert_ok(clt_context_stats(ctx, &st));
        /* Scratch is kept for the next GEMM, and nothing else is left. */
        assert_true(budgeted ? st.mem_used[CLT_TIER_DEVICE] == 0
                             : st.mem_used[CLT_TIER_DEVICE] > 0);
        clt_context_destroy(ctx);
    }
    free(a);
    free(b);
    free(c);
    free(want);
}

int main(void)
{
    const struct CMUnitTest plain[] = {
        cmocka_unit_test(op_names),
        cmocka_unit_test(convert_refuses_indices),
    };
    const ts_device_test per_device[] = {
        {"in_place", in_place},
        {"interleaved_outputs", interleaved_outputs},
        {"one_float_dtype", one_float_dtype},
        {"supported", supported},
        {"gemm_scratch_counted", gemm_scratch_counted},
    };
    int failed = cmocka_run_group_tests_name("op_table", plain, NULL, NULL);
    return failed + ts_run_per_device("op_table", per_device,
                                      sizeof per_device / sizeof per_device[0]);
}
