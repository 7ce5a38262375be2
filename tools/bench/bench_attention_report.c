/* clt-bench attention's text and JSON output; see bench_attention.h. */
#include "bench/bench_attention.h"

#include <math.h>
#include <string.h>

#include "common/json_writer.h"
#include "common/units.h"

static const char *const flop_model =
    "fwd = 4*B*H*T^2*d, halved when causal; bwd = 2.5 * fwd (the FlashAttention "
    "convention); fwd+bwd = 3.5 * fwd";
static const char *const output_names[4] = {"o", "dq", "dk", "dv"};

/* ---- text ----------------------------------------------------------------------- */

static void print_times(const attention_report *rep, FILE *out)
{
    fprintf(out, "%-6s %-5s %9s %9s %9s %9s %9s %9s %8s %8s %8s\n", "", "", "clt", "", "",
            "naive", "", "", "clt/naive", "", "");
    fprintf(out, "%-6s %-5s %9s %9s %9s %9s %9s %9s %8s %8s %8s\n", "T", "dtype", "fwd ms",
            "bwd ms", "f+b ms", "fwd ms", "bwd ms", "f+b ms", "fwd", "bwd", "fwd+bwd");
    for (int i = 0; i < rep->n_rows; i++) {
        const attention_row *r = &rep->rows[i];
        char c[6][24], q[3][24];
        fprintf(out, "%-6lld %-5s %9s %9s %9s %9s %9s %9s %8s %8s %8s\n", (long long)r->seq,
                clt_dtype_name(r->dtype), bench_cell_ms(&r->clt.fwd, c[0], 24),
                bench_cell_ms(&r->clt.bwd, c[1], 24), bench_cell_ms(&r->clt.fwd_bwd, c[2], 24),
                bench_cell_ms(&r->naive.fwd, c[3], 24), bench_cell_ms(&r->naive.bwd, c[4], 24),
                bench_cell_ms(&r->naive.fwd_bwd, c[5], 24),
                bench_cell_ratio(r->clt_over_naive_fwd, q[0], 24),
                bench_cell_ratio(r->clt_over_naive_bwd, q[1], 24),
                bench_cell_ratio(r->clt_over_naive_fwd_bwd, q[2], 24));
    }
}

/* format_bytes for a difference that may be negative. */
static const char *signed_bytes(int64_t bytes, char *buf, size_t size)
{
    char magnitude[32];
    format_bytes(bytes < 0 ? (uint64_t)-bytes : (uint64_t)bytes, magnitude, sizeof magnitude);
    snprintf(buf, size, "%s%.24s", bytes < 0 ? "-" : "", magnitude);
    return buf;
}

static void print_rates_and_memory(const attention_report *rep, FILE *out)
{
    fprintf(out, "\n%-6s %-5s %9s %9s %11s %11s %11s %11s  %s\n", "T", "dtype", "clt", "naive",
            "clt peak", "clt beyond", "naive", "naive T*T", "clt kernels (fwd; bwd)");
    fprintf(out, "%-6s %-5s %9s %9s %11s %11s %11s %11s\n", "", "", "GFLOP/s", "GFLOP/s",
            "", "tensors", "", "");
    for (int i = 0; i < rep->n_rows; i++) {
        const attention_row *r = &rep->rows[i];
        char g[2][24], m[4][32];
        fprintf(out, "%-6lld %-5s %9s %9s %11s %11s %11s %11s  %s; %s\n", (long long)r->seq,
                clt_dtype_name(r->dtype), bench_cell_rate(&r->clt.fwd_bwd, g[0], 24),
                bench_cell_rate(&r->naive.fwd_bwd, g[1], 24),
                r->clt_peak_bytes ? format_bytes(r->clt_peak_bytes, m[0], 32) : "-",
                r->clt_peak_bytes ? signed_bytes(r->clt_beyond_tensors_bytes, m[1], 32) : "-",
                format_bytes(r->naive_bytes, m[2], 32),
                format_bytes(r->naive_tt_bytes, m[3], 32), r->kernel_fwd[0] ? r->kernel_fwd : "-",
                r->kernel_bwd[0] ? r->kernel_bwd : "-");
    }
}

/* Each distinct note once, under the tables. */
static void print_notes(const attention_report *rep, FILE *out)
{
    const char *last = "";
    for (int i = 0; i < rep->n_rows; i++) {
        const attention_row *r = &rep->rows[i];
        const bench_result *rs[4] = {&r->clt.fwd, &r->clt.bwd, &r->naive.fwd, &r->naive.bwd};
        for (int j = 0; j < 4; j++) {
            const char *note = rs[j]->note;
            if (!note[0] || strcmp(note, last) == 0 || strcmp(note, rep->naive) == 0)
                continue;
            fprintf(out, "  %s T=%lld %s: %s\n", j < 2 ? "clt" : "naive", (long long)r->seq,
                    clt_dtype_name(r->dtype), note);
            last = note;
        }
        if (r->fallback)
            fprintf(out, "  clt T=%lld %s: ran on the host (the device's driver lacks the op): "
                         "not a device figure\n", (long long)r->seq, clt_dtype_name(r->dtype));
    }
}

static void print_checks(const attention_report *rep, FILE *out)
{
    bool any = false;
    for (int i = 0; i < rep->n_rows; i++) {
        const attention_row *r = &rep->rows[i];
        const attention_check *c = &r->check;
        if (!c->ran)
            continue;
        any = true;
        fprintf(out, "check T=%lld f32, clt against the naive peer: max |diff|", (long long)r->seq);
        for (int j = 0; j < 4; j++)
            fprintf(out, " %s %.1e", output_names[j], c->max_abs_diff[j]);
        fprintf(out, "; relative %.1e (tolerance %.0e): %s\n", c->max_rel_error, c->tolerance,
                c->ok ? "OK" : "MISMATCH");
    }
    if (!any)
        fprintf(out, "check: not run (it needs an f32 row where both clt and the naive ran)\n");
}

void bench_attention_text(const attention_report *rep, FILE *out)
{
    if (!bench_text_header(out, "attention", &rep->device, rep->error))
        return;
    fprintf(out, "B=%lld H=%lld d=%lld %s, scale %.4g; medians of %d timed rounds after a "
                 "warm-up, clt and the naive peer interleaved\n",
            (long long)rep->batch, (long long)rep->heads, (long long)rep->dim,
            rep->causal ? "causal" : "not causal", (double)rep->scale, rep->repeat);
    fprintf(out, "FLOPs: %s; both sides' GFLOP/s use this count\n", flop_model);
    fprintf(out, "naive: %s\n", rep->naive);
    fprintf(out, "       (f32 only: f16/bf16 rows compare with its f32 figures)\n");
    fprintf(out, "memory: clt's device-tier peak (clt_context_stats), and the part beyond its "
                 "tensors q,k,v,o,lse,dout,dq,dk,dv,delta;\n"
                 "        the naive's device bytes, and those of its two (B*H,T,T) matrices\n\n");
    print_times(rep, out);
    print_rates_and_memory(rep, out);
    fprintf(out, "(clt/naive: clt's speed over the naive's; n/a: peer absent; skip, FAIL: "
                 "see notes)\n");
    print_notes(rep, out);
    print_checks(rep, out);
    if (rep->error[0])
        fprintf(out, "error: %s\n", rep->error);
}

/* ---- JSON ------------------------------------------------------------------------- */

static void json_times(json_writer *w, const char *key, const attention_times *t)
{
    json_key(w, key);
    json_begin_object(w);
    bench_json_result(w, "fwd", "median_gflops", &t->fwd);
    bench_json_result(w, "bwd", "median_gflops", &t->bwd);
    bench_json_result(w, "fwd_bwd", "median_gflops", &t->fwd_bwd);
    json_end_object(w);
}

static void json_check(json_writer *w, const attention_check *c)
{
    json_key(w, "check");
    if (!c->ran) {
        json_null(w);
        return;
    }
    json_begin_object(w);
    json_kv_string(w, "reference", "naive");
    bench_json_doubles(w, "max_abs_diff", output_names, c->max_abs_diff, 4);
    json_kv_double(w, "max_rel_error", c->max_rel_error);
    json_kv_double(w, "tolerance", c->tolerance);
    json_kv_bool(w, "ok", c->ok);
    json_end_object(w);
}

static void json_row(json_writer *w, const attention_row *r)
{
    json_begin_object(w);
    json_kv_int(w, "seq", r->seq);
    json_kv_string(w, "dtype", clt_dtype_name(r->dtype));
    json_kv_double(w, "fwd_flops", r->fwd_flops);
    json_kv_double(w, "bwd_flops", r->bwd_flops);
    json_kv_string(w, "clt_kernel_fwd", r->kernel_fwd[0] ? r->kernel_fwd : NULL);
    json_kv_string(w, "clt_kernel_bwd", r->kernel_bwd[0] ? r->kernel_bwd : NULL);
    json_kv_bool(w, "clt_host_fallback", r->fallback);
    json_times(w, "clt", &r->clt);
    json_times(w, "naive", &r->naive);
    static const char *const ratio_names[3] = {"clt_over_naive_fwd", "clt_over_naive_bwd",
                                               "clt_over_naive_fwd_bwd"};
    const double ratios[3] = {r->clt_over_naive_fwd, r->clt_over_naive_bwd,
                              r->clt_over_naive_fwd_bwd};
    bench_json_doubles(w, "ratios", ratio_names, ratios, 3);
    json_key(w, "memory");
    json_begin_object(w);
    json_kv_uint(w, "clt_peak_bytes", r->clt_peak_bytes);
    json_kv_uint(w, "clt_tensor_bytes", r->clt_tensor_bytes);
    json_kv_int(w, "clt_beyond_tensors_bytes", r->clt_beyond_tensors_bytes);
    json_kv_uint(w, "naive_bytes", r->naive_bytes);
    json_kv_uint(w, "naive_tt_bytes", r->naive_tt_bytes);
    json_end_object(w);
    json_check(w, &r->check);
    json_end_object(w);
}

bool bench_attention_json(const attention_report *rep, FILE *out)
{
    json_writer w;
    json_init(&w, out, true);
    bench_json_begin(&w, "attention", &rep->device, rep->repeat);
    json_key(&w, "problem");
    json_begin_object(&w);
    json_kv_int(&w, "batch", rep->batch);
    json_kv_int(&w, "heads", rep->heads);
    json_kv_int(&w, "dim", rep->dim);
    json_kv_bool(&w, "causal", rep->causal);
    json_kv_double(&w, "scale", (double)rep->scale);
    json_end_object(&w);
    json_kv_string(&w, "flop_model", flop_model);
    json_key(&w, "peers");
    json_begin_object(&w);
    json_kv_string(&w, "naive", rep->naive);
    json_end_object(&w);
    json_key(&w, "rows");
    json_begin_array(&w);
    for (int i = 0; i < rep->n_rows; i++)
        json_row(&w, &rep->rows[i]);
    json_end_array(&w);
    return bench_json_end(&w, rep->error);
}
