/* embed: what a framework does with clt, in one straight path — the program to copy.
 *
 *   embed [DEVICE]        DEVICE: "host", "opencl:0" ... (default: $CLT_DEVICE, else
 *                         the best device found)
 *
 * One attention layer's worth of work on a device:
 *   1. a context on the device, and the framework's own arrays used in place where the
 *      device computes in host memory (clt_buffer_wrap_host), uploaded otherwise;
 *   2. qkv = x · w (GEMM), then attention over q, k and v read in place from the packed
 *      qkv (FlashAttention-2 style: the T×T scores never exist);
 *   3. one 8-bit AdamW step on w (states: one byte per element plus one f32 per block);
 *   4. results read back and checked against plain loops, and a bad call whose error
 *      says what was wrong.
 * Exits 0 when every result matches. Every clt call's status is checked: a framework
 * turns a failed one into its own exception with clt_last_error()'s sentence. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clt/clt.h"

enum { T = 48, H = 2, D = 32, C = H * D, QKV = 3 * C }; /* one sequence of 48 tokens */

/* Prints the failed call and clt's sentence, and says whether the call succeeded. */
static bool ok(clt_status s, const char *what)
{
    if (s != CLT_OK)
        fprintf(stderr, "embed: %s: %s: %s\n", what, clt_status_str(s), clt_last_error());
    return s == CLT_OK;
}

/* A framework's array as a buffer: the memory itself where the device computes in host
 * memory, else a device copy of it. *in_place says which. */
static bool buffer_for(clt_context *ctx, float *array, size_t bytes, clt_buffer **out,
                       bool *in_place)
{
    clt_status s = clt_buffer_wrap_host(ctx, array, bytes, out);
    *in_place = s == CLT_OK;
    if (s == CLT_OK)
        return true;
    if (s != CLT_ERR_UNSUPPORTED) /* anything else is a real error */
        return ok(s, "clt_buffer_wrap_host");
    return ok(clt_buffer_create(ctx, bytes, CLT_TIER_DEVICE, out), "clt_buffer_create") &&
           ok(clt_buffer_write(*out, 0, array, bytes, NULL), "clt_buffer_write");
}

static clt_tensor matrix(clt_buffer *buf, int64_t rows, int64_t cols)
{
    clt_tensor t;
    (void)clt_tensor_init(&t, buf, 0, CLT_DTYPE_F32, 2, (const int64_t[]){rows, cols});
    return t;
}

/* q, k or v (which = 0, 1, 2) of the packed qkv (T, 3, H, D) as a (1, H, T, D) view. */
static clt_tensor head_view(clt_buffer *qkv, int which)
{
    clt_tensor t;
    (void)clt_tensor_init(&t, qkv, (size_t)which * C * sizeof(float), CLT_DTYPE_F32, 4,
                          (const int64_t[]){1, H, T, D});
    const int64_t strides[4] = {(int64_t)T * QKV, D, QKV, 1};
    memcpy(t.strides, strides, sizeof strides);
    return t;
}

/* ---- plain loops the results are checked against ---------------------------------- */

// x (T,C), w (C,QKV) -> qkv (T,QKV)
static void qkv_ref(const float *x, const float *w, float *qkv)
{
    for (int t = 0; t < T; t++)
        for (int j = 0; j < QKV; j++) {
            double s = 0;
            for (int c = 0; c < C; c++)
                s += (double)x[t * C + c] * w[c * QKV + j];
            qkv[t * QKV + j] = (float)s;
        }
}

// qkv (T,3,H,D) -> out (H,T,D), causal
static void attention_ref(const float *qkv, float *out)
{
    const double scale = 1.0 / sqrt(D);
    for (int h = 0; h < H; h++)
        for (int i = 0; i < T; i++) {
            const float *q = qkv + i * QKV + h * D;
            double p[T], max = -INFINITY, sum = 0;
            for (int j = 0; j <= i; j++) {
                const float *k = qkv + j * QKV + C + h * D;
                double s = 0;
                for (int d = 0; d < D; d++)
                    s += (double)q[d] * k[d];
                p[j] = s * scale;
                max = p[j] > max ? p[j] : max;
            }
            for (int j = 0; j <= i; j++)
                sum += (p[j] = exp(p[j] - max));
            for (int d = 0; d < D; d++) {
                double o = 0;
                for (int j = 0; j <= i; j++)
                    o += p[j] / sum * qkv[j * QKV + 2 * C + h * D + d];
                out[(h * T + i) * D + d] = (float)o;
            }
        }
}

static bool close_to(const float *got, const float *want, int n, double tol, const char *what)
{
    double worst = 0;
    for (int i = 0; i < n; i++) {
        const double e = fabs((double)got[i] - want[i]) / (1.0 + fabs((double)want[i]));
        worst = e > worst ? e : worst;
    }
    printf("  %-26s max relative error %.2e %s\n", what, worst, worst <= tol ? "ok" : "WRONG");
    return worst <= tol;
}

int main(int argc, char **argv)
{
    if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
        fprintf(stderr, "usage: embed [DEVICE]\n");
        return 2;
    }
    /* The framework's arrays, page-aligned as allocators for device memory make them. */
    float *x = aligned_alloc(4096, 4096 * ((T * C * 4 + 4095) / 4096));
    float *w = aligned_alloc(4096, 4096 * ((C * QKV * 4 + 4095) / 4096));
    float *grad = malloc(sizeof(float) * C * QKV);
    float *qkv = malloc(sizeof(float) * T * QKV), *want_qkv = malloc(sizeof(float) * T * QKV);
    float *out = malloc(sizeof(float) * T * C), *want_out = malloc(sizeof(float) * T * C);
    float *w_before = malloc(sizeof(float) * C * QKV);
    clt_context *ctx = NULL;
    clt_buffer *bx = NULL, *bw = NULL, *bg = NULL, *bqkv = NULL, *bout = NULL, *blse = NULL;
    clt_buffer *bm = NULL, *bv = NULL, *bmax = NULL, *bvmax = NULL;
    bool good = false, x_in_place = false, w_in_place = false;
    if (!x || !w || !grad || !qkv || !want_qkv || !out || !want_out || !w_before)
        goto done;
    unsigned seed = 1;
    for (int i = 0; i < T * C; i++)
        x[i] = (float)((seed = seed * 1103515245u + 12345u) >> 16 & 0x7fff) / 32768.0f - 0.5f;
    for (int i = 0; i < C * QKV; i++) {
        w[i] = (float)((seed = seed * 1103515245u + 12345u) >> 16 & 0x7fff) / 65536.0f - 0.25f;
        grad[i] = (float)((i * 37) % 101 - 50) / 500.0f;
    }
    memcpy(w_before, w, sizeof(float) * C * QKV);

    /* 1. a context, and the arrays as buffers */
    clt_context_opts opts;
    clt_context_opts_init(&opts);
    opts.device = argc == 2 ? argv[1] : NULL;
    if (!ok(clt_context_create(&opts, &ctx), "clt_context_create"))
        goto done;
    clt_device_info info;
    if (!ok(clt_context_device(ctx, &info), "clt_context_device"))
        goto done;
    const size_t blocks = (C * QKV + CLT_Q8_DEFAULT_BLOCK - 1) / CLT_Q8_DEFAULT_BLOCK;
    if (!buffer_for(ctx, x, sizeof(float) * T * C, &bx, &x_in_place) ||
        !buffer_for(ctx, w, sizeof(float) * C * QKV, &bw, &w_in_place) ||
        !ok(clt_buffer_create(ctx, sizeof(float) * C * QKV, CLT_TIER_DEVICE, &bg), "grad") ||
        !ok(clt_buffer_write(bg, 0, grad, sizeof(float) * C * QKV, NULL), "grad") ||
        !ok(clt_buffer_create(ctx, sizeof(float) * T * QKV, CLT_TIER_DEVICE, &bqkv), "qkv") ||
        !ok(clt_buffer_create(ctx, sizeof(float) * T * C, CLT_TIER_DEVICE, &bout), "out") ||
        !ok(clt_buffer_create(ctx, sizeof(float) * H * T, CLT_TIER_DEVICE, &blse), "lse") ||
        !ok(clt_buffer_create(ctx, C * QKV, CLT_TIER_DEVICE, &bm), "m") ||
        !ok(clt_buffer_create(ctx, C * QKV, CLT_TIER_DEVICE, &bv), "v") ||
        !ok(clt_buffer_create(ctx, sizeof(float) * blocks, CLT_TIER_DEVICE, &bmax), "m_absmax") ||
        !ok(clt_buffer_create(ctx, sizeof(float) * blocks, CLT_TIER_DEVICE, &bvmax), "v_absmax"))
        goto done;
    printf("embed on %s (%s): x %s, w %s\n", info.name, info.device_name,
           x_in_place ? "used in place" : "copied", w_in_place ? "used in place" : "copied");

    /* 2. qkv = x · w, then causal attention over the packed qkv */
    clt_op gemm = {.kind = CLT_OP_GEMM,
                   .u.gemm = {.a = matrix(bx, T, C), .b = matrix(bw, C, QKV),
                              .c = matrix(bqkv, T, QKV), .alpha = 1, .beta = 0}};
    clt_tensor o;
    (void)clt_tensor_init(&o, bout, 0, CLT_DTYPE_F32, 4, (const int64_t[]){1, H, T, D});
    clt_tensor lse;
    (void)clt_tensor_init(&lse, blse, 0, CLT_DTYPE_F32, 3, (const int64_t[]){1, H, T});
    clt_op attention = {.kind = CLT_OP_ATTENTION_FWD,
                        .u.attention_fwd = {.q = head_view(bqkv, 0), .k = head_view(bqkv, 1),
                                            .v = head_view(bqkv, 2), .o = o, .lse = lse,
                                            .scale = 1.0f / sqrtf((float)D), .causal = true}};
    if (!ok(clt_op_run(ctx, &gemm, NULL), "gemm") ||
        !ok(clt_op_run(ctx, &attention, NULL), "attention"))
        goto done;

    /* 3. one 8-bit AdamW step on w: u8 moments start at code 0 with absmax 0 */
    clt_tensor codes_m, codes_v, absmax_m, absmax_v, g, p;
    const int64_t n = C * QKV, nb = (int64_t)blocks;
    (void)clt_tensor_init(&codes_m, bm, 0, CLT_DTYPE_U8, 1, &n);
    (void)clt_tensor_init(&codes_v, bv, 0, CLT_DTYPE_U8, 1, &n);
    (void)clt_tensor_init(&absmax_m, bmax, 0, CLT_DTYPE_F32, 1, &nb);
    (void)clt_tensor_init(&absmax_v, bvmax, 0, CLT_DTYPE_F32, 1, &nb);
    (void)clt_tensor_init(&g, bg, 0, CLT_DTYPE_F32, 1, &n);
    (void)clt_tensor_init(&p, bw, 0, CLT_DTYPE_F32, 1, &n);
    const float zeros[64] = {0};
    for (size_t at = 0; at < blocks; at += 64) {
        const size_t k = blocks - at < 64 ? blocks - at : 64;
        if (!ok(clt_buffer_write(bmax, at * 4, zeros, k * 4, NULL), "m_absmax") ||
            !ok(clt_buffer_write(bvmax, at * 4, zeros, k * 4, NULL), "v_absmax"))
            goto done;
    }
    clt_op adamw = {.kind = CLT_OP_ADAMW,
                    .u.adamw = {.param = p, .grad = g, .m = codes_m, .v = codes_v,
                                .m_absmax = absmax_m, .v_absmax = absmax_v,
                                .h = {.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.999f,
                                      .eps = 1e-8f, .weight_decay = 0.0f, .step = 1,
                                      .grad_scale = 1.0f}}};
    if (!ok(clt_op_run(ctx, &adamw, NULL), "adamw (8-bit states)") ||
        !ok(clt_context_finish(ctx), "clt_context_finish"))
        goto done;

    /* 4. read back (in place: w already holds the result) and check */
    if (!ok(clt_buffer_read(bqkv, 0, qkv, sizeof(float) * T * QKV, NULL), "read qkv") ||
        !ok(clt_buffer_read(bout, 0, out, sizeof(float) * T * C, NULL), "read out"))
        goto done;
    if (!w_in_place && !ok(clt_buffer_read(bw, 0, w, sizeof(float) * C * QKV, NULL), "read w"))
        goto done;
    qkv_ref(x, w_before, want_qkv);
    attention_ref(qkv, want_out);
    /* AdamW's first step moves each weight by lr·sign(grad) (m̂/sqrt(v̂) = ±1); the 8-bit
     * codes round m and v, so allow their few percent. */
    float *want_w = malloc(sizeof(float) * C * QKV);
    if (!want_w)
        goto done;
    for (int i = 0; i < C * QKV; i++)
        want_w[i] = w_before[i] - (grad[i] > 0 ? 1e-2f : grad[i] < 0 ? -1e-2f : 0.0f);
    good = close_to(qkv, want_qkv, T * QKV, 1e-5, "qkv = x * w") &
           close_to(out, want_out, T * C, 1e-4, "attention") &
           close_to(w, want_w, C * QKV, 1e-3, "w after 8-bit AdamW");
    free(want_w);

    /* A bad call: the status says what kind of error, clt_last_error() what exactly. */
    clt_op bad = gemm;
    bad.u.gemm.b = matrix(bw, C - 1, QKV); /* inner dimensions disagree */
    const clt_status s = clt_op_run(ctx, &bad, NULL);
    printf("  a bad GEMM is refused: %s: %s\n", clt_status_str(s), clt_last_error());
    good = good && s == CLT_ERR_INVALID_ARG;

done:
    clt_buffer_destroy(bx); /* a wrapped buffer leaves the framework's memory alone */
    clt_buffer_destroy(bw);
    clt_buffer_destroy(bg);
    clt_buffer_destroy(bqkv);
    clt_buffer_destroy(bout);
    clt_buffer_destroy(blse);
    clt_buffer_destroy(bm);
    clt_buffer_destroy(bv);
    clt_buffer_destroy(bmax);
    clt_buffer_destroy(bvmax);
    clt_context_destroy(ctx);
    free(x);
    free(w);
    free(grad);
    free(qkv);
    free(want_qkv);
    free(out);
    free(want_out);
    free(w_before);
    printf("embed: %s\n", good ? "every result matches" : "FAILED");
    return good ? 0 : 1;
}
