/* clt-bench attention: the measurements; see bench_attention.h. */
#include "bench/bench_attention.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_clt.h"
#include "bench/bench_rounds.h"
#include "bench/peer_naive_attention.h"

/* clt's tiled online softmax and the naive's materialised one sum in different orders;
 * in f32 their results agree to about 1e-6 of the largest value. */
#define CHECK_TOLERANCE 1e-4

/* ---- host data ------------------------------------------------------------------- */

enum { OUT_O, OUT_DQ, OUT_DK, OUT_DV, OUT_COUNT };

/* One length's inputs, (B, H, T, d) f32, and both sides' results read back. */
typedef struct host_data {
    size_t n;                   /* elements of each array */
    float *q, *k, *v, *dout;
    float *clt[OUT_COUNT], *naive[OUT_COUNT];
} host_data;

static void host_data_free(host_data *h)
{
    free(h->q);
    free(h->k);
    free(h->v);
    free(h->dout);
    for (int i = 0; i < OUT_COUNT; i++) {
        free(h->clt[i]);
        free(h->naive[i]);
    }
    memset(h, 0, sizeof *h);
}

static bool host_data_alloc(host_data *h, size_t n, uint64_t *seed)
{
    float **all[4 + 2 * OUT_COUNT] = {&h->q, &h->k, &h->v, &h->dout};
    for (int i = 0; i < OUT_COUNT; i++) {
        all[4 + i] = &h->clt[i];
        all[4 + OUT_COUNT + i] = &h->naive[i];
    }
    h->n = n;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if ((*all[i] = malloc(n * sizeof(float))) == NULL)
            return false;
    bench_fill_random(h->q, n, seed);
    bench_fill_random(h->k, n, seed);
    bench_fill_random(h->v, n, seed);
    bench_fill_random(h->dout, n, seed);
    return true;
}

/* ---- clt's side of a row ------------------------------------------------------------ */

enum { T_Q, T_K, T_V, T_DOUT, T_O, T_DQ, T_DK, T_DV, T_LSE, T_DELTA, T_COUNT };

/* A context of its own for each row, so that its memory peak is this row's alone; the
 * ten tensors the caller provides; the two ops. */
typedef struct clt_side {
    clt_context *ctx;
    clt_buffer *bufs[T_COUNT];
    bench_op_call fwd, bwd;
    uint64_t tensor_bytes;
} clt_side;

/* Opens the row's context, uploads the inputs in `dtype` and describes both ops. False,
 * with the reason in `why`, on failure. */
static bool clt_side_open(const attention_bench_opts *opts, const attention_report *rep,
                          int64_t seq, clt_dtype dtype, const host_data *h, clt_side *s,
                          char *why, size_t why_size)
{
    const int64_t shape[4] = {opts->batch, opts->heads, seq, opts->dim};
    const size_t n_stats = (size_t)(opts->batch * opts->heads * seq);
    const float *inputs[4] = {h->q, h->k, h->v, h->dout};
    clt_tensor t[T_COUNT];

    clt_status st = bench_open_context(opts->device, &s->ctx, NULL, why, why_size);
    if (st != CLT_OK)
        return false;
    for (int i = T_Q; i <= T_DOUT && st == CLT_OK; i++)
        st = bench_upload(s->ctx, dtype, inputs[i], h->n, &s->bufs[i]);
    for (int i = T_O; i <= T_DV && st == CLT_OK; i++)
        st = clt_buffer_create(s->ctx, h->n * clt_dtype_size(dtype), CLT_TIER_DEVICE,
                               &s->bufs[i]);
    for (int i = T_LSE; i <= T_DELTA && st == CLT_OK; i++)
        st = clt_buffer_create(s->ctx, n_stats * sizeof(float), CLT_TIER_DEVICE, &s->bufs[i]);
    for (int i = 0; i < T_COUNT && st == CLT_OK; i++) {
        const bool stats = i == T_LSE || i == T_DELTA;
        st = clt_tensor_init(&t[i], s->bufs[i], 0, stats ? CLT_DTYPE_F32 : dtype,
                             stats ? 3 : 4, shape);
        s->tensor_bytes += clt_buffer_size(s->bufs[i]);
    }
    if (st != CLT_OK) {
        snprintf(why, why_size, "failed: %s: %s", clt_status_str(st), clt_last_error());
        return false;
    }
    s->fwd = (bench_op_call){.ctx = s->ctx, .op.kind = CLT_OP_ATTENTION_FWD};
    s->fwd.op.u.attention_fwd = (clt_attention_fwd_args){
        .q = t[T_Q], .k = t[T_K], .v = t[T_V], .o = t[T_O], .lse = t[T_LSE],
        .scale = rep->scale, .causal = opts->causal};
    s->bwd = (bench_op_call){.ctx = s->ctx, .op.kind = CLT_OP_ATTENTION_BWD};
    s->bwd.op.u.attention_bwd = (clt_attention_bwd_args){
        .q = t[T_Q], .k = t[T_K], .v = t[T_V], .o = t[T_O], .dout = t[T_DOUT],
        .lse = t[T_LSE], .delta = t[T_DELTA], .dq = t[T_DQ], .dk = t[T_DK], .dv = t[T_DV],
        .scale = rep->scale, .causal = opts->causal};
    return true;
}

/* clt's f32 o, dq, dk, dv into h->clt. */
static clt_status clt_side_read(clt_side *s, host_data *h)
{
    const int from[OUT_COUNT] = {T_O, T_DQ, T_DK, T_DV};
    clt_status st = CLT_OK;
    for (int i = 0; i < OUT_COUNT && st == CLT_OK; i++)
        st = clt_buffer_read(s->bufs[from[i]], 0, h->clt[i], h->n * sizeof(float), NULL);
    return st;
}

/* ---- a row ------------------------------------------------------------------------- */

static void set_note(attention_times *t, const char *note)
{
    snprintf(t->fwd.note, sizeof t->fwd.note, "%.159s", note);
    snprintf(t->bwd.note, sizeof t->bwd.note, "%.159s", note);
    snprintf(t->fwd_bwd.note, sizeof t->fwd_bwd.note, "%.159s", note);
}

/* Fills one implementation's times from the forward and backward samples of a run. */
static void take_times(attention_times *t, const bench_samples *fwd, const bench_samples *bwd,
                       const attention_row *row)
{
    t->fwd.samples = *fwd;
    t->bwd.samples = *bwd;
    bench_samples_sum(fwd, bwd, &t->fwd_bwd.samples);
    bench_result_finish(&t->fwd, row->fwd_flops);
    bench_result_finish(&t->bwd, row->bwd_flops);
    bench_result_finish(&t->fwd_bwd, row->fwd_flops + row->bwd_flops);
}

static void run_check(host_data *h, attention_check *c)
{
    c->ran = true;
    c->tolerance = CHECK_TOLERANCE;
    c->max_rel_error = 0.0;
    for (int i = 0; i < OUT_COUNT; i++) {
        const double ref = bench_max_abs(h->naive[i], h->n);
        c->max_abs_diff[i] = bench_max_abs_diff(h->clt[i], h->naive[i], h->n);
        const double rel = ref > 0 ? c->max_abs_diff[i] / ref : c->max_abs_diff[i];
        if (!(rel <= c->max_rel_error)) /* also takes NaN */
            c->max_rel_error = rel;
    }
    c->ok = c->max_rel_error <= CHECK_TOLERANCE;
}

/* clt's forward and backward in rounds with the naive peer's (when `naive` is given:
 * the length's first row) — clt fwd, clt bwd, naive fwd, naive bwd — and the check
 * where the row is f32. When clt fails, the naive is still measured alone, so that its
 * figures stand. Sets *naive_done when the naive was measured or failed. False when
 * clt failed (the reason in row->clt's notes). */
static bool measure_row(const attention_bench_opts *opts, const attention_report *rep,
                        host_data *h, peer_naive_attention *naive, attention_row *row,
                        attention_times *naive_times, bool *naive_done)
{
    clt_side s = {0};
    bench_samples samples[4];
    bench_call calls[4] = {bench_op_run, bench_op_run, NULL, NULL};
    void *users[4] = {&s.fwd, &s.bwd, naive, naive};
    int failed_call = -1;
    bool clt_ok = false;
    char note[160];
    clt_stats stats;

    if (naive) {
        calls[2] = peer_naive_attention_fwd;
        calls[3] = peer_naive_attention_bwd;
    }
    if (!clt_side_open(opts, rep, row->seq, row->dtype, h, &s, note, sizeof note)) {
        set_note(&row->clt, note);
        calls[0] = calls[1] = NULL;
    } else {
        bench_op_describe(&s.fwd, row->kernel_fwd, sizeof row->kernel_fwd);
        bench_op_describe(&s.bwd, row->kernel_bwd, sizeof row->kernel_bwd);
    }
    while (calls[0] || calls[2]) {
        if (bench_measure_rounds(4, calls, users, samples, opts->repeat, &failed_call))
            break;
        if (failed_call < 2) {
            snprintf(note, sizeof note, "failed: %.150s",
                     failed_call == 0 ? s.fwd.error : s.bwd.error);
            set_note(&row->clt, note);
            calls[0] = calls[1] = NULL; /* measure the naive alone */
        } else {
            snprintf(note, sizeof note, "failed: %.150s", peer_naive_attention_error(naive));
            set_note(naive_times, note);
            calls[2] = calls[3] = NULL; /* measure clt alone */
            *naive_done = true;
        }
    }
    if (calls[0]) {
        clt_ok = true;
        take_times(&row->clt, &samples[0], &samples[1], row);
    }
    if (calls[2]) {
        take_times(naive_times, &samples[2], &samples[3], row);
        *naive_done = true;
    }
    if (s.ctx && clt_context_stats(s.ctx, &stats) == CLT_OK) {
        row->clt_peak_bytes = stats.mem_peak[CLT_TIER_DEVICE];
        row->clt_tensor_bytes = s.tensor_bytes;
        row->clt_beyond_tensors_bytes = (int64_t)row->clt_peak_bytes - (int64_t)s.tensor_bytes;
        row->fallback = stats.ops_fallback > 0;
    }
    if (clt_ok && calls[2] && row->dtype == CLT_DTYPE_F32) {
        if (clt_side_read(&s, h) == CLT_OK &&
            peer_naive_attention_read(naive, h->naive[OUT_O], h->naive[OUT_DQ],
                                      h->naive[OUT_DK], h->naive[OUT_DV]))
            run_check(h, &row->check);
        else
            fprintf(stderr, "clt-bench: reading the results back for the check failed\n");
    }
    clt_context_destroy(s.ctx); /* frees the row's buffers */
    return clt_ok;
}

/* ---- the run ------------------------------------------------------------------------ */

static void progress(const attention_row *row)
{
    char c[24], n[24], r[24];
    fprintf(stderr, "clt-bench: T=%-6lld %-4s fwd+bwd  clt %9s ms  naive %9s ms  %s\n",
            (long long)row->seq, clt_dtype_name(row->dtype),
            bench_cell_ms(&row->clt.fwd_bwd, c, sizeof c),
            bench_cell_ms(&row->naive.fwd_bwd, n, sizeof n),
            bench_cell_ratio(row->clt_over_naive_fwd_bwd, r, sizeof r));
}

/* Describes the device (and finds out whether it opens) before any row. */
static bool open_device(const attention_bench_opts *opts, attention_report *rep)
{
    clt_context *ctx = NULL;
    clt_status st = bench_open_context(opts->device, &ctx, &rep->device, rep->error,
                                       sizeof rep->error);
    clt_context_destroy(ctx);
    return st == CLT_OK;
}

/* Every dtype's row of one length. False when clt failed in a row or a check failed. */
static bool measure_length(const attention_bench_opts *opts, attention_report *rep,
                           int64_t seq, peer_naive_attention *naive, uint64_t *seed)
{
    const naive_attention_dims dims = {opts->batch, opts->heads, seq, opts->dim,
                                       rep->scale, opts->causal};
    const double fwd_flops =
        4.0 * (double)(opts->batch * opts->heads) * (double)seq * (double)seq *
        (double)opts->dim * (opts->causal ? 0.5 : 1.0);
    attention_times naive_times;
    host_data h = {0};
    bool ok = true, naive_done = false;
    uint64_t naive_tt = 0;
    char why[160];
    const uint64_t naive_bytes = peer_naive_attention_bytes(&dims, &naive_tt);

    memset(&naive_times, 0, sizeof naive_times);
    if (!host_data_alloc(&h, (size_t)(opts->batch * opts->heads * seq * opts->dim), seed)) {
        snprintf(rep->error, sizeof rep->error, "out of host memory for T=%lld",
                 (long long)seq);
        host_data_free(&h);
        return false;
    }
    if (!naive) {
        set_note(&naive_times, rep->naive);
        naive_done = true;
    } else if (!peer_naive_attention_upload(naive, &dims, h.q, h.k, h.v, h.dout, why,
                                            sizeof why)) {
        set_note(&naive_times, why);
        naive_done = true;
    }
    for (int d = 0; d < CLT_FLOAT_DTYPE_COUNT; d++) {
        if (!opts->dtypes[d])
            continue;
        attention_row *row = &rep->rows[rep->n_rows++];
        row->seq = seq;
        row->dtype = (clt_dtype)d;
        row->fwd_flops = fwd_flops;
        row->bwd_flops = 2.5 * fwd_flops;
        row->naive_bytes = naive_bytes;
        row->naive_tt_bytes = naive_tt;
        if (!measure_row(opts, rep, &h, naive_done ? NULL : naive, row, &naive_times,
                         &naive_done))
            ok = false;
        row->naive = naive_times;
        row->clt_over_naive_fwd = bench_result_ratio(&row->clt.fwd, &row->naive.fwd);
        row->clt_over_naive_bwd = bench_result_ratio(&row->clt.bwd, &row->naive.bwd);
        row->clt_over_naive_fwd_bwd = bench_result_ratio(&row->clt.fwd_bwd, &row->naive.fwd_bwd);
        if (row->check.ran && !row->check.ok)
            ok = false;
        progress(row);
    }
    host_data_free(&h);
    return ok;
}

int bench_attention_run(const attention_bench_opts *opts, attention_report *rep)
{
    peer_naive_attention *naive = NULL;
    bool failed = false;
    uint64_t seed = 42;

    rep->repeat = opts->repeat;
    rep->batch = opts->batch;
    rep->heads = opts->heads;
    rep->dim = opts->dim;
    rep->causal = opts->causal;
    rep->scale = (float)(1.0 / sqrt((double)opts->dim));
    if (!open_device(opts, rep))
        return 1;
    if (peer_naive_attention_open(&rep->device, &naive, rep->naive, sizeof rep->naive))
        snprintf(rep->naive, sizeof rep->naive,
                 "naive materialised attention, plain OpenCL kernels, f32, on %.180s",
                 rep->device.device_name);
    for (int i = 0; i < opts->n_seqs && !rep->error[0]; i++)
        if (!measure_length(opts, rep, opts->seqs[i], naive, &seed))
            failed = true;
    peer_naive_attention_close(naive);
    return failed ? 1 : 0;
}
