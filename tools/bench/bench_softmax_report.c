/* clt-bench softmax's text and JSON output; see bench_softmax.h. */
#include "bench/bench_softmax.h"

#include <string.h>

#include "common/json_writer.h"

static const char *const byte_model =
    "per row of V values of the storage dtype: two-pass reads it twice and writes it once "
    "(3 V), three-pass reads it three times and writes it once (4 V), the copy reads and "
    "writes it once (2 V); GB/s = those bytes / median time";

/* ---- text ----------------------------------------------------------------------- */

static void print_notes(const softmax_report *rep, FILE *out)
{
    for (int i = 0; i < rep->n_rows; i++) {
        const softmax_row *r = &rep->rows[i];
        const bench_result *rs[3] = {&r->two_pass, &r->three_pass, &r->copy};
        static const char *const names[3] = {"two-pass", "three-pass", "copy"};
        char shape[48];
        softmax_shape_format(&r->shape, shape, sizeof shape);
        for (int j = 0; j < 3; j++)
            if (rs[j]->note[0])
                fprintf(out, "  %s %s %s: %s\n", names[j], shape, clt_dtype_name(r->dtype),
                        rs[j]->note);
        if (r->fallback)
            fprintf(out, "  %s %s: clt ran softmax on the host (the device's driver lacks "
                         "it): not a device figure\n", shape, clt_dtype_name(r->dtype));
        if (r->check.ran)
            fprintf(out, "check %s f32 against a double-precision softmax: max error "
                         "two-pass %.1e, three-pass %.1e (relative, tolerance %.0e): %s\n",
                    shape, r->check.two_pass_error, r->check.three_pass_error,
                    r->check.tolerance, r->check.ok ? "OK" : "MISMATCH");
    }
}

void bench_softmax_text(const softmax_report *rep, FILE *out)
{
    if (!bench_text_header(out, "softmax", &rep->device, rep->error))
        return;
    fprintf(out, "medians of %d timed rounds after a warm-up, two-pass, three-pass and the "
                 "copy interleaved\n", rep->repeat);
    fprintf(out, "bytes: %s\n", byte_model);
    fprintf(out, "copy: clt_buffer_copy of the input, device to device\n\n");
    fprintf(out, "%-12s %-5s %9s %9s %9s %8s %8s %8s %7s %8s %8s  %s\n", "", "", "two-pass",
            "three", "copy", "two-pass", "three", "copy", "two/", "two-pass", "three", "");
    fprintf(out, "%-12s %-5s %9s %9s %9s %8s %8s %8s %7s %8s %8s  %s\n", "rows x cols",
            "dtype", "ms", "ms", "ms", "GB/s", "GB/s", "GB/s", "three", "/copy", "/copy",
            "clt kernels (two-pass; three-pass)");
    for (int i = 0; i < rep->n_rows; i++) {
        const softmax_row *r = &rep->rows[i];
        char shape[48], t[3][24], g[3][24], q[3][24];
        fprintf(out, "%-12s %-5s %9s %9s %9s %8s %8s %8s %7s %8s %8s  %s; %s\n",
                softmax_shape_format(&r->shape, shape, sizeof shape), clt_dtype_name(r->dtype),
                bench_cell_ms(&r->two_pass, t[0], 24), bench_cell_ms(&r->three_pass, t[1], 24),
                bench_cell_ms(&r->copy, t[2], 24), bench_cell_rate(&r->two_pass, g[0], 24),
                bench_cell_rate(&r->three_pass, g[1], 24), bench_cell_rate(&r->copy, g[2], 24),
                bench_cell_ratio(r->two_over_three, q[0], 24),
                bench_cell_ratio(r->two_pass_over_copy, q[1], 24),
                bench_cell_ratio(r->three_pass_over_copy, q[2], 24),
                r->kernel_two_pass[0] ? r->kernel_two_pass : "-",
                r->kernel_three_pass[0] ? r->kernel_three_pass : "-");
    }
    fprintf(out, "(two/three: two-pass's speed over three-pass's; /copy: GB/s over the copy's "
                 "GB/s)\n");
    print_notes(rep, out);
    if (rep->error[0])
        fprintf(out, "error: %s\n", rep->error);
}

/* ---- JSON ------------------------------------------------------------------------- */

static void json_row(json_writer *w, const softmax_row *r)
{
    static const char *const names[3] = {"two_pass", "three_pass", "copy"};
    static const char *const ratio_names[3] = {
        "two_pass_over_three_pass", "two_pass_gbps_over_copy", "three_pass_gbps_over_copy"};
    const double bytes[3] = {r->two_pass_bytes, r->three_pass_bytes, r->copy_bytes};
    const double ratios[3] = {r->two_over_three, r->two_pass_over_copy,
                              r->three_pass_over_copy};
    const bench_result *results[3] = {&r->two_pass, &r->three_pass, &r->copy};
    char shape[48];

    json_begin_object(w);
    json_kv_string(w, "shape", softmax_shape_format(&r->shape, shape, sizeof shape));
    json_kv_int(w, "rows", r->shape.rows);
    json_kv_int(w, "cols", r->shape.cols);
    json_kv_string(w, "dtype", clt_dtype_name(r->dtype));
    bench_json_doubles(w, "bytes", names, bytes, 3);
    json_kv_string(w, "clt_kernel_two_pass", r->kernel_two_pass[0] ? r->kernel_two_pass : NULL);
    json_kv_string(w, "clt_kernel_three_pass",
                   r->kernel_three_pass[0] ? r->kernel_three_pass : NULL);
    json_kv_bool(w, "clt_host_fallback", r->fallback);
    for (int i = 0; i < 3; i++)
        bench_json_result(w, names[i], "median_gbps", results[i]);
    bench_json_doubles(w, "ratios", ratio_names, ratios, 3);
    json_key(w, "check");
    if (r->check.ran) {
        json_begin_object(w);
        json_kv_string(w, "reference", "host f64");
        json_kv_double(w, "two_pass_error", r->check.two_pass_error);
        json_kv_double(w, "three_pass_error", r->check.three_pass_error);
        json_kv_double(w, "tolerance", r->check.tolerance);
        json_kv_bool(w, "ok", r->check.ok);
        json_end_object(w);
    } else {
        json_null(w);
    }
    json_end_object(w);
}

bool bench_softmax_json(const softmax_report *rep, FILE *out)
{
    json_writer w;
    json_init(&w, out, true);
    bench_json_begin(&w, "softmax", &rep->device, rep->repeat);
    json_kv_string(&w, "byte_model", byte_model);
    json_key(&w, "peers");
    json_begin_object(&w);
    json_kv_string(&w, "copy", "clt_buffer_copy, device to device, of the input's bytes");
    json_end_object(&w);
    json_key(&w, "rows");
    json_begin_array(&w);
    for (int i = 0; i < rep->n_rows; i++)
        json_row(&w, &rep->rows[i]);
    json_end_array(&w);
    return bench_json_end(&w, rep->error);
}
