/* clt-bench gemm: the measurements; see bench_gemm.h. */
#include "bench/bench_gemm.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/peer_cblas.h"
#include "bench/peer_clblast.h"

/* f32 results may differ in the last bits between implementations (summation order,
 * FMA); the error is taken relative to the largest reference value. */
#define CHECK_TOLERANCE 1e-4
/* Without CBLAS the check's reference is a plain loop: only for shapes this small. */
#define NAIVE_CHECK_MAX_MACS (1LL << 28)

/* ---- host data ------------------------------------------------------------------- */

/* Deterministic values in [-1, 1). */
static void fill_random(float *x, int64_t n, uint64_t *state)
{
    for (int64_t i = 0; i < n; i++) {
        *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (float)((double)(*state >> 40) / (double)(1ULL << 24) * 2.0 - 1.0);
    }
}

/* One shape's operands on the host: f32, and the current 16-bit copy. */
typedef struct host_data {
    float *a, *b;         /* a: m·k, b: k·n elements, stored as the shape says */
    uint16_t *a16, *b16;  /* a and b converted to f16 or bf16 */
    float *c_ref;         /* CBLAS's result */
    float *c_out;         /* clt's result, read back for the check */
} host_data;

static void host_data_free(host_data *h)
{
    free(h->a);
    free(h->b);
    free(h->a16);
    free(h->b16);
    free(h->c_ref);
    free(h->c_out);
    memset(h, 0, sizeof *h);
}

static bool host_data_alloc(host_data *h, const bench_shape *s, uint64_t *seed)
{
    const size_t na = (size_t)(s->m * s->k), nb = (size_t)(s->k * s->n);
    const size_t nc = (size_t)(s->m * s->n);
    h->a = malloc(na * sizeof *h->a);
    h->b = malloc(nb * sizeof *h->b);
    h->a16 = malloc(na * sizeof *h->a16);
    h->b16 = malloc(nb * sizeof *h->b16);
    h->c_ref = malloc(nc * sizeof *h->c_ref);
    h->c_out = malloc(nc * sizeof *h->c_out);
    if (!h->a || !h->b || !h->a16 || !h->b16 || !h->c_ref || !h->c_out)
        return false;
    fill_random(h->a, (int64_t)na, seed);
    fill_random(h->b, (int64_t)nb, seed);
    return true;
}

/* The operands in `dtype`'s storage: the f32 arrays, or the 16-bit copies converted. */
static bool host_operands(host_data *h, const bench_shape *s, clt_dtype dtype,
                          const void **a, const void **b)
{
    if (dtype == CLT_DTYPE_F32) {
        *a = h->a;
        *b = h->b;
        return true;
    }
    *a = h->a16;
    *b = h->b16;
    return clt_convert(dtype, h->a16, CLT_DTYPE_F32, h->a, (size_t)(s->m * s->k)) == CLT_OK &&
           clt_convert(dtype, h->b16, CLT_DTYPE_F32, h->b, (size_t)(s->k * s->n)) == CLT_OK;
}

/* ---- measurements ------------------------------------------------------------------ */

static void finish_measure(gemm_measure *m, const bench_shape *s)
{
    m->ran = m->samples.count > 0;
    m->gflops = m->ran ? bench_gflops(gemm_shape_flops(s), m->samples.median_seconds) : NAN;
}

struct cblas_call {
    const bench_shape *shape;
    const host_data *data;
};

static bool call_cblas(void *user)
{
    const struct cblas_call *c = user;
    return peer_cblas_sgemm(c->shape, c->data->a, c->data->b, c->data->c_ref);
}

struct clt_call {
    clt_context *ctx;
    clt_gemm_args args;
    char error[512];
};

static bool call_clt(void *user)
{
    struct clt_call *c = user;
    clt_event *ev = NULL;
    clt_status st = clt_gemm(c->ctx, &c->args, &ev);
    if (st == CLT_OK)
        st = clt_event_wait(ev);
    clt_event_destroy(ev);
    if (st != CLT_OK)
        snprintf(c->error, sizeof c->error, "%s: %s", clt_status_str(st), clt_last_error());
    return st == CLT_OK;
}

static clt_status describe(clt_tensor *t, clt_buffer *buf, clt_dtype dtype, int64_t rows,
                           int64_t cols)
{
    const int64_t shape[2] = {rows, cols};
    return clt_tensor_init(t, buf, 0, dtype, 2, shape);
}

/* clt on its device: upload once, warm up, time `repeat` runs; names the kernel it ran.
 * With `peer`, the peer's runs alternate with clt's (bench_measure_pair). With c_out,
 * reads the result back there (f32 only). False, with the reason in the row's note,
 * when any clt call fails. */
static bool measure_clt(clt_context *ctx, const bench_shape *s, clt_dtype dtype,
                        const void *a, const void *b, int repeat, gemm_row *row, float *c_out,
                        struct cblas_call *peer, gemm_measure *peer_out)
{
    const size_t es = clt_dtype_size(dtype);
    const size_t a_bytes = (size_t)(s->m * s->k) * es, b_bytes = (size_t)(s->k * s->n) * es;
    const size_t c_bytes = (size_t)(s->m * s->n) * es;
    clt_buffer *a_buf = NULL, *b_buf = NULL, *c_buf = NULL;
    struct clt_call call = {.ctx = ctx, .error = ""};
    clt_gemm_args *g = &call.args;
    clt_op op = {.kind = CLT_OP_GEMM};
    bool ok = false;

    g->alpha = 1.0f;
    g->beta = 0.0f;
    g->trans_a = s->trans_a;
    g->trans_b = s->trans_b;
    clt_status st = clt_buffer_create(ctx, a_bytes, CLT_TIER_DEVICE, &a_buf);
    if (st == CLT_OK)
        st = clt_buffer_create(ctx, b_bytes, CLT_TIER_DEVICE, &b_buf);
    if (st == CLT_OK)
        st = clt_buffer_create(ctx, c_bytes, CLT_TIER_DEVICE, &c_buf);
    if (st == CLT_OK)
        st = clt_buffer_write(a_buf, 0, a, a_bytes, NULL);
    if (st == CLT_OK)
        st = clt_buffer_write(b_buf, 0, b, b_bytes, NULL);
    if (st == CLT_OK)
        st = describe(&g->a, a_buf, dtype, s->trans_a ? s->k : s->m, s->trans_a ? s->m : s->k);
    if (st == CLT_OK)
        st = describe(&g->b, b_buf, dtype, s->trans_b ? s->n : s->k, s->trans_b ? s->k : s->n);
    if (st == CLT_OK)
        st = describe(&g->c, c_buf, dtype, s->m, s->n);
    if (st != CLT_OK) {
        snprintf(row->clt.note, sizeof row->clt.note, "failed: %s: %s", clt_status_str(st),
                 clt_last_error());
        goto done;
    }
    if (!bench_measure_pair(call_clt, &call, &row->clt.samples, peer ? call_cblas : NULL,
                            peer, peer ? &peer_out->samples : NULL, repeat)) {
        snprintf(row->clt.note, sizeof row->clt.note, "failed: %.150s", call.error);
        goto done;
    }
    op.u.gemm = *g;
    if (clt_op_describe(ctx, &op, row->kernel, sizeof row->kernel) != CLT_OK)
        snprintf(row->kernel, sizeof row->kernel, "?");
    if (c_out && clt_buffer_read(c_buf, 0, c_out, c_bytes, NULL) != CLT_OK) {
        snprintf(row->clt.note, sizeof row->clt.note, "failed: reading C back: %s",
                 clt_last_error());
        goto done;
    }
    ok = true;
done:
    finish_measure(&row->clt, s);
    clt_buffer_destroy(a_buf);
    clt_buffer_destroy(b_buf);
    clt_buffer_destroy(c_buf);
    return ok;
}

/* CLBlast on the same device, where it runs this dtype and one call is expected to
 * take less than the limit (from the fastest rate it has shown in this run). */
static void measure_clblast(peer_clblast *clb, const char *absent, const bench_shape *s,
                            clt_dtype dtype, const void *a, const void *b,
                            const gemm_bench_opts *opts, double *best_gflops, gemm_row *row)
{
    gemm_measure *m = &row->clblast;
    if (!clb) {
        snprintf(m->note, sizeof m->note, "%.150s", absent);
    } else if (dtype == CLT_DTYPE_BF16) {
        snprintf(m->note, sizeof m->note, "n/a: CLBlast has no bf16");
    } else if (dtype == CLT_DTYPE_F16 && !peer_clblast_has_fp16(clb)) {
        snprintf(m->note, sizeof m->note, "n/a: the device has no cl_khr_fp16 (Hgemm)");
    } else if (*best_gflops > 0 &&
               gemm_shape_flops(s) / (*best_gflops * 1e9) > opts->peer_call_limit_s) {
        snprintf(m->note, sizeof m->note, "skipped: one call would take ~%.0f s (limit %.0f s)",
                 gemm_shape_flops(s) / (*best_gflops * 1e9), opts->peer_call_limit_s);
    } else if (!peer_clblast_upload(clb, s, a, b, clt_dtype_size(dtype), m->note,
                                    sizeof m->note)) {
        /* the note says why */
    } else if (!bench_measure(peer_clblast_gemm, clb, opts->repeat, &m->samples)) {
        snprintf(m->note, sizeof m->note, "failed: %s", peer_clblast_error(clb));
    }
    finish_measure(m, s);
    if (m->ran && m->gflops > *best_gflops)
        *best_gflops = m->gflops;
}

/* ---- the correctness check ------------------------------------------------------- */

static float element(const float *x, bool trans, int64_t rows_stored_as, int64_t r, int64_t c)
{
    /* x is (R, C) when !trans, (C, R) when trans; rows_stored_as is the row length. */
    return trans ? x[c * rows_stored_as + r] : x[r * rows_stored_as + c];
}

/* A plain-loop reference (double accumulation) into c_ref, for builds without CBLAS. */
static void naive_gemm(const bench_shape *s, const float *a, const float *b, float *c_ref)
{
    for (int64_t i = 0; i < s->m; i++)
        for (int64_t j = 0; j < s->n; j++) {
            double acc = 0.0;
            for (int64_t p = 0; p < s->k; p++)
                acc += (double)element(a, s->trans_a, s->trans_a ? s->m : s->k, i, p) *
                       (double)element(b, s->trans_b, s->trans_b ? s->k : s->n, p, j);
            c_ref[i * s->n + j] = (float)acc;
        }
}

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

/* Compares clt's f32 result of the check shape with CBLAS's (or the plain loop's). */
static void run_check(const bench_shape *s, host_data *h, bool cblas_ran, gemm_report *rep)
{
    if (!cblas_ran) {
        if (s->m * s->n * s->k > NAIVE_CHECK_MAX_MACS)
            return;
        naive_gemm(s, h->a, h->b, h->c_ref);
    }
    rep->checked = true;
    rep->check_shape = *s;
    snprintf(rep->check_reference, sizeof rep->check_reference, cblas_ran ? "cblas" : "naive");
    rep->check_tolerance = CHECK_TOLERANCE;
    rep->check_max_rel_error = max_relative_error(h->c_out, h->c_ref, s->m * s->n);
    rep->check_ok = rep->check_max_rel_error <= CHECK_TOLERANCE;
}

/* ---- the run ------------------------------------------------------------------------ */

static double ratio(const gemm_measure *x, const gemm_measure *y)
{
    return x->ran && y->ran && y->gflops > 0 ? x->gflops / y->gflops : NAN;
}

/* The shape the correctness check runs on: the one with the fewest flops. */
static int check_shape_index(const gemm_bench_opts *opts)
{
    int best = 0;
    for (int i = 1; i < opts->n_shapes; i++)
        if (gemm_shape_flops(&opts->shapes[i]) < gemm_shape_flops(&opts->shapes[best]))
            best = i;
    return best;
}

static void progress(const gemm_row *row)
{
    char shape[64];
    fprintf(stderr, "clt-bench: %-22s %-4s clt %7.1f  CBLAS %7.1f  CLBlast %7.1f GFLOP/s%s%s\n",
            gemm_shape_format(&row->shape, shape, sizeof shape), clt_dtype_name(row->dtype),
            row->clt.gflops, row->cblas.gflops, row->clblast.gflops, row->clt.ran ? "" : "  ",
            row->clt.note);
}

int bench_gemm_run(const gemm_bench_opts *opts, gemm_report *rep)
{
    clt_context *ctx = NULL;
    peer_clblast *clb = NULL;
    host_data h = {0};
    bool failed = false;
    uint64_t seed = 42;
    double clblast_best[CLT_FLOAT_DTYPE_COUNT] = {0}; /* fastest CLBlast rate so far, per dtype */
    clt_context_opts copts;

    rep->repeat = opts->repeat;
    rep->peer_call_limit_s = opts->peer_call_limit_s;
    rep->check_max_rel_error = NAN;
    peer_cblas_describe(rep->cblas, sizeof rep->cblas);

    clt_context_opts_init(&copts);
    copts.device = opts->device;
    clt_status st = clt_context_create(&copts, &ctx);
    if (st == CLT_OK)
        st = clt_context_device(ctx, &rep->device);
    if (st != CLT_OK) {
        snprintf(rep->error, sizeof rep->error, "cannot open %s: %s: %s",
                 opts->device ? opts->device : "the default device", clt_status_str(st),
                 clt_last_error());
        failed = true;
        goto done;
    }
    if (opts->tune) {
        fprintf(stderr, "clt-bench: tuning GEMM on %s (clt_tune, measuring peers too)\n",
                rep->device.name);
        double start = bench_now();
        st = clt_tune(ctx, CLT_OP_GEMM, CLT_TUNE_FORCE | CLT_TUNE_PEERS);
        rep->tune_seconds = bench_now() - start;
        if (st != CLT_OK) {
            snprintf(rep->error, sizeof rep->error, "clt_tune failed: %s: %s",
                     clt_status_str(st), clt_last_error());
            failed = true;
            goto done;
        }
        rep->tuned = true;
    }
    if (peer_clblast_open(&rep->device, &clb, rep->clblast, sizeof rep->clblast))
        snprintf(rep->clblast, sizeof rep->clblast, "CLBlast on %.200s", rep->device.device_name);

    const int check_index = check_shape_index(opts);
    for (int i = 0; i < opts->n_shapes; i++) {
        const bench_shape *s = &opts->shapes[i];
        if (!host_data_alloc(&h, s, &seed)) {
            snprintf(rep->error, sizeof rep->error, "out of host memory for %lldx%lldx%lld",
                     (long long)s->m, (long long)s->n, (long long)s->k);
            failed = true;
            goto done;
        }
        /* CBLAS once per shape, in f32, alternating with clt's f32 runs where those are
         * measured; the f16/bf16 rows compare with the same figure. */
        gemm_measure cblas = {.ran = false};
        struct cblas_call cc = {s, &h};
        const bool cblas_with_f32 = peer_cblas_available() && opts->dtypes[CLT_DTYPE_F32];
        if (!peer_cblas_available())
            snprintf(cblas.note, sizeof cblas.note, "n/a");
        else if (!cblas_with_f32 && !bench_measure(call_cblas, &cc, opts->repeat, &cblas.samples))
            snprintf(cblas.note, sizeof cblas.note, "failed");
        finish_measure(&cblas, s);

        gemm_measure clt_f32 = {.ran = false};
        for (int d = 0; d < CLT_FLOAT_DTYPE_COUNT; d++) {
            const clt_dtype dtype = (clt_dtype)d;
            const void *a = NULL, *b = NULL;
            if (!opts->dtypes[d])
                continue;
            gemm_row *row = &rep->rows[rep->n_rows++];
            row->shape = *s;
            row->dtype = dtype;
            if (!host_operands(&h, s, dtype, &a, &b)) {
                snprintf(rep->error, sizeof rep->error, "converting to %s failed: %s",
                         clt_dtype_name(dtype), clt_last_error());
                failed = true;
                goto done;
            }
            const bool check = i == check_index && dtype == CLT_DTYPE_F32;
            const bool pair = cblas_with_f32 && dtype == CLT_DTYPE_F32;
            const bool clt_ok =
                measure_clt(ctx, s, dtype, a, b, opts->repeat, row, check ? h.c_out : NULL,
                            pair ? &cc : NULL, pair ? &cblas : NULL);
            if (pair) {
                finish_measure(&cblas, s);
                if (!cblas.ran)
                    snprintf(cblas.note, sizeof cblas.note, "failed");
            }
            row->cblas = cblas;
            if (!clt_ok)
                failed = true;
            else if (check)
                run_check(s, &h, cblas.ran, rep);
            measure_clblast(clb, rep->clblast, s, dtype, a, b, opts, &clblast_best[d], row);
            if (dtype == CLT_DTYPE_F32)
                clt_f32 = row->clt;
            row->clt_over_cblas = ratio(&row->clt, &row->cblas);
            row->clt_over_clblast = ratio(&row->clt, &row->clblast);
            row->clt_over_clt_f32 = dtype == CLT_DTYPE_F32 ? NAN : ratio(&row->clt, &clt_f32);
            progress(row);
        }
        host_data_free(&h);
    }
    if (rep->checked && !rep->check_ok)
        failed = true;
done:
    host_data_free(&h);
    peer_clblast_close(clb);
    clt_context_destroy(ctx);
    return failed ? 1 : 0;
}
