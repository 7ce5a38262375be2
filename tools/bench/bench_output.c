/* Shared pieces of the op benchmarks' reports; see bench_output.h. */
#include "bench/bench_output.h"

#include <math.h>
#include <string.h>

void bench_result_finish(bench_result *r, double work)
{
    r->ran = r->samples.count > 0;
    r->rate = r->ran ? bench_gflops(work, r->samples.median_seconds) : NAN;
}

double bench_result_ratio(const bench_result *x, const bench_result *y)
{
    return x->ran && y->ran && x->samples.median_seconds > 0
               ? y->samples.median_seconds / x->samples.median_seconds
               : NAN;
}

/* Why a result has no figure, in four letters or fewer. */
static const char *absent_cell(const bench_result *r)
{
    if (strncmp(r->note, "skipped", 7) == 0)
        return "skip";
    if (strncmp(r->note, "failed", 6) == 0)
        return "FAIL";
    return "n/a";
}

const char *bench_cell_ms(const bench_result *r, char *buf, size_t size)
{
    if (r->ran)
        snprintf(buf, size, "%.2f", r->samples.median_seconds * 1e3);
    else
        snprintf(buf, size, "%s", absent_cell(r));
    return buf;
}

const char *bench_cell_rate(const bench_result *r, char *buf, size_t size)
{
    if (r->ran)
        snprintf(buf, size, "%.1f", r->rate);
    else
        snprintf(buf, size, "%s", absent_cell(r));
    return buf;
}

const char *bench_cell_ratio(double ratio, char *buf, size_t size)
{
    if (isnan(ratio))
        snprintf(buf, size, "-");
    else
        snprintf(buf, size, "%.2fx", ratio);
    return buf;
}

bool bench_text_header(FILE *out, const char *benchmark, const clt_device_info *d,
                       const char *error)
{
    if (!d->name[0]) {
        fprintf(out, "clt %s  %s: %s\n", clt_version_string(), benchmark, error);
        return false;
    }
    fprintf(out, "clt %s  %s on %s (%s, %s)\n", clt_version_string(), benchmark, d->name,
            d->device_name, clt_device_type_name(d->type));
    return true;
}

void bench_json_device(json_writer *w, const clt_device_info *d)
{
    json_key(w, "device");
    if (!d->name[0]) { /* it did not open: the document's "error" says why */
        json_null(w);
        return;
    }
    json_begin_object(w);
    json_kv_string(w, "name", d->name);
    json_kv_string(w, "driver", d->driver);
    json_kv_string(w, "type", clt_device_type_name(d->type));
    json_kv_string(w, "device_name", d->device_name);
    json_kv_string(w, "vendor", d->vendor);
    json_kv_string(w, "platform", d->platform);
    json_kv_string(w, "driver_version", d->driver_version);
    json_kv_int(w, "compute_units", d->compute_units);
    json_kv_uint(w, "global_mem_bytes", d->global_mem_bytes);
    json_kv_bool(w, "fp16", d->fp16);
    json_end_object(w);
}

void bench_json_result(json_writer *w, const char *key, const char *rate_key,
                       const bench_result *r)
{
    json_key(w, key);
    json_begin_object(w);
    json_kv_bool(w, "ran", r->ran);
    json_kv_double(w, rate_key, r->ran ? r->rate : NAN);
    json_kv_double(w, "median_seconds", r->ran ? r->samples.median_seconds : NAN);
    json_kv_double(w, "warmup_seconds", r->ran ? r->samples.warmup_seconds : NAN);
    json_key(w, "samples_seconds");
    json_begin_array(w);
    for (int i = 0; i < r->samples.count; i++)
        json_double(w, r->samples.seconds[i]);
    json_end_array(w);
    json_kv_string(w, "note", r->note[0] ? r->note : NULL);
    json_end_object(w);
}

void bench_json_begin(json_writer *w, const char *benchmark, const clt_device_info *d,
                      int repeat)
{
    json_begin_object(w);
    json_kv_string(w, "tool", "clt-bench");
    json_kv_string(w, "benchmark", benchmark);
    json_kv_string(w, "clt_version", clt_version_string());
    bench_json_device(w, d);
    json_kv_int(w, "repeat", repeat);
}

void bench_json_doubles(json_writer *w, const char *key, const char *const *names,
                        const double *values, int n)
{
    json_key(w, key);
    json_begin_object(w);
    for (int i = 0; i < n; i++)
        json_kv_double(w, names[i], values[i]);
    json_end_object(w);
}

bool bench_json_end(json_writer *w, const char *error)
{
    json_kv_string(w, "error", error[0] ? error : NULL);
    json_end_object(w);
    return json_finish(w);
}
