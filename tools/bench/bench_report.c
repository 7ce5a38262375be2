/* clt-bench gemm's text and JSON output; see bench_report.h. */
#include "bench/bench_report.h"

#include <math.h>
#include <string.h>

#include "common/json_writer.h"

/* ---- text ----------------------------------------------------------------------- */

/* A GFLOP/s cell: the rate, or why there is none ("n/a", "skip", "FAIL"). */
static const char *rate_cell(const gemm_measure *m, char *buf, size_t size)
{
    if (m->ran)
        snprintf(buf, size, "%.1f", m->gflops);
    else if (strncmp(m->note, "skipped", 7) == 0)
        snprintf(buf, size, "skip");
    else if (strncmp(m->note, "failed", 6) == 0)
        snprintf(buf, size, "FAIL");
    else
        snprintf(buf, size, "n/a");
    return buf;
}

static const char *ratio_cell(double r, char *buf, size_t size)
{
    if (isnan(r))
        snprintf(buf, size, "-");
    else
        snprintf(buf, size, "%.2fx", r);
    return buf;
}

/* Each distinct note once, under the table. */
static void print_notes(const gemm_report *rep, FILE *out)
{
    for (int i = 0; i < rep->n_rows; i++) {
        const gemm_measure *ms[3] = {&rep->rows[i].clt, &rep->rows[i].cblas,
                                     &rep->rows[i].clblast};
        static const char *const names[3] = {"clt", "CBLAS", "CLBlast"};
        char shape[64];
        for (int j = 0; j < 3; j++) {
            const char *note = ms[j]->note;
            if (!note[0] || strncmp(note, "n/a", 3) == 0)
                continue; /* "n/a" reasons are listed with the peers */
            fprintf(out, "  %s %s %s: %s\n", names[j],
                    gemm_shape_format(&rep->rows[i].shape, shape, sizeof shape),
                    clt_dtype_name(rep->rows[i].dtype), note);
        }
    }
}

void bench_report_text(const gemm_report *rep, FILE *out)
{
    const clt_device_info *d = &rep->device;
    fprintf(out, "clt %s  gemm on %s (%s, %s)\n", clt_version_string(), d->name,
            d->device_name, clt_device_type_name(d->type));
    fprintf(out, "medians of %d timed runs after a warm-up; GFLOP/s = 2*M*N*K / time%s\n",
            rep->repeat, rep->tuned ? "; tuned first (--tune)" : "");
    fprintf(out, "CBLAS:   %s (f32; f16/bf16 rows compare with f32 CBLAS)\n", rep->cblas);
    fprintf(out, "CLBlast: %s\n\n", rep->clblast);
    fprintf(out, "%-22s %-5s %9s %9s %9s %9s %11s %8s  %s\n", "shape (MxNxK)", "dtype", "clt",
            "CBLAS", "CLBlast", "clt/CBLAS", "clt/CLBlast", "vs f32", "clt kernel");
    for (int i = 0; i < rep->n_rows; i++) {
        const gemm_row *r = &rep->rows[i];
        char shape[64], c1[24], c2[24], c3[24], r1[24], r2[24], r3[24];
        fprintf(out, "%-22s %-5s %9s %9s %9s %9s %11s %8s  %s\n",
                gemm_shape_format(&r->shape, shape, sizeof shape), clt_dtype_name(r->dtype),
                rate_cell(&r->clt, c1, sizeof c1), rate_cell(&r->cblas, c2, sizeof c2),
                rate_cell(&r->clblast, c3, sizeof c3),
                ratio_cell(r->clt_over_cblas, r1, sizeof r1),
                ratio_cell(r->clt_over_clblast, r2, sizeof r2),
                ratio_cell(r->clt_over_clt_f32, r3, sizeof r3), r->kernel[0] ? r->kernel : "-");
    }
    fprintf(out, "(GFLOP/s; n/a: peer absent or without this dtype; skip: see notes)\n");
    print_notes(rep, out);
    if (rep->checked) {
        char shape[64];
        fprintf(out, "check: clt f32 %s against %s: max relative error %.2e (tolerance %.0e): %s\n",
                gemm_shape_format(&rep->check_shape, shape, sizeof shape), rep->check_reference,
                rep->check_max_rel_error, rep->check_tolerance, rep->check_ok ? "OK" : "MISMATCH");
    } else {
        fprintf(out, "check: not run (no f32 row, or no reference for a shape this large)\n");
    }
    if (rep->error[0])
        fprintf(out, "error: %s\n", rep->error);
}

/* ---- JSON ------------------------------------------------------------------------- */

static void json_measure(json_writer *w, const char *key, const gemm_measure *m)
{
    json_key(w, key);
    json_begin_object(w);
    json_kv_bool(w, "ran", m->ran);
    json_kv_double(w, "median_gflops", m->ran ? m->gflops : NAN);
    json_kv_double(w, "median_seconds", m->ran ? m->samples.median_seconds : NAN);
    json_kv_double(w, "warmup_seconds", m->ran ? m->samples.warmup_seconds : NAN);
    json_key(w, "samples_seconds");
    json_begin_array(w);
    for (int i = 0; i < m->samples.count; i++)
        json_double(w, m->samples.seconds[i]);
    json_end_array(w);
    json_kv_string(w, "note", m->note[0] ? m->note : NULL);
    json_end_object(w);
}

static void json_row(json_writer *w, const gemm_row *r)
{
    char shape[64];
    json_begin_object(w);
    json_kv_string(w, "shape", gemm_shape_format(&r->shape, shape, sizeof shape));
    json_kv_int(w, "m", r->shape.m);
    json_kv_int(w, "n", r->shape.n);
    json_kv_int(w, "k", r->shape.k);
    json_kv_bool(w, "trans_a", r->shape.trans_a);
    json_kv_bool(w, "trans_b", r->shape.trans_b);
    json_kv_string(w, "dtype", clt_dtype_name(r->dtype));
    json_kv_double(w, "flops", gemm_shape_flops(&r->shape));
    json_kv_string(w, "clt_kernel", r->kernel[0] ? r->kernel : NULL);
    json_measure(w, "clt", &r->clt);
    json_measure(w, "cblas", &r->cblas);
    json_measure(w, "clblast", &r->clblast);
    json_key(w, "ratios");
    json_begin_object(w);
    json_kv_double(w, "clt_over_cblas", r->clt_over_cblas);
    json_kv_double(w, "clt_over_clblast", r->clt_over_clblast);
    json_kv_double(w, "clt_over_clt_f32", r->clt_over_clt_f32);
    json_end_object(w);
    json_end_object(w);
}

bool bench_report_json(const gemm_report *rep, FILE *out)
{
    const clt_device_info *d = &rep->device;
    json_writer w;
    json_init(&w, out, true);
    json_begin_object(&w);
    json_kv_string(&w, "tool", "clt-bench");
    json_kv_string(&w, "benchmark", "gemm");
    json_kv_string(&w, "clt_version", clt_version_string());
    json_key(&w, "device");
    json_begin_object(&w);
    json_kv_string(&w, "name", d->name);
    json_kv_string(&w, "driver", d->driver);
    json_kv_string(&w, "type", clt_device_type_name(d->type));
    json_kv_string(&w, "device_name", d->device_name);
    json_kv_string(&w, "vendor", d->vendor);
    json_kv_string(&w, "platform", d->platform);
    json_kv_string(&w, "driver_version", d->driver_version);
    json_kv_int(&w, "compute_units", d->compute_units);
    json_kv_bool(&w, "fp16", d->fp16);
    json_end_object(&w);
    json_kv_int(&w, "repeat", rep->repeat);
    json_kv_bool(&w, "tuned", rep->tuned);
    json_kv_double(&w, "tune_seconds", rep->tuned ? rep->tune_seconds : NAN);
    json_key(&w, "peers");
    json_begin_object(&w);
    json_kv_string(&w, "cblas", rep->cblas);
    json_kv_string(&w, "clblast", rep->clblast);
    json_kv_double(&w, "clblast_call_limit_seconds", rep->peer_call_limit_s);
    json_end_object(&w);
    json_key(&w, "rows");
    json_begin_array(&w);
    for (int i = 0; i < rep->n_rows; i++)
        json_row(&w, &rep->rows[i]);
    json_end_array(&w);
    json_key(&w, "check");
    if (rep->checked) {
        char shape[64];
        json_begin_object(&w);
        json_kv_string(&w, "shape", gemm_shape_format(&rep->check_shape, shape, sizeof shape));
        json_kv_string(&w, "dtype", "f32");
        json_kv_string(&w, "reference", rep->check_reference);
        json_kv_double(&w, "max_rel_error", rep->check_max_rel_error);
        json_kv_double(&w, "tolerance", rep->check_tolerance);
        json_kv_bool(&w, "ok", rep->check_ok);
        json_end_object(&w);
    } else {
        json_null(&w);
    }
    json_kv_string(&w, "error", rep->error[0] ? rep->error : NULL);
    json_end_object(&w);
    return json_finish(&w);
}
