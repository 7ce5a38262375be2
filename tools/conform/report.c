/* Reporting: the human table, JSON, JUnit XML and the --list table. */
#include "report.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cases.h"
#include "common/json_writer.h"
#include "common/units.h"
#include "compare.h"

void report_replay_command(const replay_info *ri, const char *device, const case_result *r,
                           char *buf, size_t cap)
{
    char text[400];
    case_text(&r->c, text, sizeof text);
    /* the kernel sources decide the result, so a replay keeps them */
    const char *kdir = getenv("CLT_KERNEL_DIR");
    snprintf(buf, cap, "%s%s%s%s --device %s --op %s --case '%s'", kdir ? "CLT_KERNEL_DIR='" : "",
             kdir ? kdir : "", kdir ? "' " : "", ri->prog, device, clt_op_name(r->c.op), text);
}

/* ---- --list ---------------------------------------------------------------------------- */

void report_list(FILE *out, const bool *selected)
{
    conform_case cs[16];
    fprintf(out, "%-18s %-14s %-6s %-6s %s\n", "op", "dtypes", "quick", "full", "deterministic");
    for (int k = 0; k < CLT_OP_COUNT; k++) {
        if (!selected[k])
            continue;
        const clt_op_kind op = (clt_op_kind)k;
        char dtypes[32] = "", params[160] = "", tol[200];
        int quick = 0, full = 0;
        for (int d = 0; d < CLT_FLOAT_DTYPE_COUNT; d++) {
            if (!(cases_dtypes(op) & (1u << d)))
                continue;
            size_t len = strlen(dtypes);
            snprintf(dtypes + len, sizeof dtypes - len, "%s%s", len ? "," : "",
                     clt_dtype_name((clt_dtype)d));
            quick += cases_list(op, (clt_dtype)d, true, cs, 16);
            full += cases_list(op, (clt_dtype)d, false, cs, 16);
        }
        for (int i = 0; i < cases_param_count(op); i++) {
            size_t len = strlen(params);
            snprintf(params + len, sizeof params - len, "%s%s", i ? " " : "",
                     cases_param_name(op, i));
        }
        tolerance_text(op, tol, sizeof tol);
        fprintf(out, "%-18s %-14s %-6d %-6d %s\n", clt_op_name(op), dtypes, quick, full,
                cases_deterministic(op) ? "yes" : "no");
        fprintf(out, "    parameters: %s seed\n", params);
        fprintf(out, "    tolerance:  %s\n", tol);
        const int n = cases_list(op, CLT_DTYPE_F32, false,
                                 cs, 16);
        for (int i = 0; i < n && i < 16; i++) {
            char shape[256];
            case_shape_text(&cs[i], shape, sizeof shape);
            fprintf(out, "    %-6s %s%s\n", cs[i].shape_class, shape,
                    strcmp(cs[i].shape_class, "large") == 0 ? "   (full only)" : "");
        }
    }
    fprintf(out, "\nA floating output passes when |device - host| <= rel * max(|host|, floor * "
                 "max|host of that tensor|);\nu8 codes within the steps given; NaN must meet NaN. "
                 "Training check: the tiny model's step-1 loss\nwithin %.0e and last-step loss "
                 "within %.0e of the host's, relative.\n",
            TRAIN_TOL_FIRST, TRAIN_TOL_LAST);
}

/* ---- the human table ------------------------------------------------------------------ */

void report_device_header(FILE *out, const device_run *run)
{
    const clt_device_info *d = &run->info;
    const caps_report *c = &run->caps;
    char mem[32];
    fprintf(out, "\n== %s: %s (%s) ==\n", d->name, d->device_name, clt_device_type_name(d->type));
    fprintf(out, "  vendor            %s\n", d->vendor);
    if (*d->platform)
        fprintf(out, "  platform          %s\n", d->platform);
    fprintf(out, "  driver version    %s\n", d->driver_version);
    fprintf(out, "  global memory     %s\n", format_bytes(d->global_mem_bytes, mem, sizeof mem));
    if (c->opencl) {
        fprintf(out, "  OpenCL            %s\n", c->device_version);
        fprintf(out, "  OpenCL C          %s\n", c->opencl_c_version);
        fprintf(out, "  fp16 / fp64       %s / %s\n", c->fp16 ? "yes" : "no", c->fp64 ? "yes" : "no");
        fprintf(out, "  local memory      %s (%s)\n",
                format_bytes(c->local_mem_bytes, mem, sizeof mem),
                c->local_mem_dedicated ? "dedicated" : "emulated in global memory");
        fprintf(out, "  max work-group    %llu (items %llu x %llu x %llu)\n",
                (unsigned long long)c->max_work_group, (unsigned long long)c->max_work_item[0],
                (unsigned long long)c->max_work_item[1], (unsigned long long)c->max_work_item[2]);
        fprintf(out, "  subgroups         %s (max %u per work-group)\n",
                c->subgroups ? "yes" : "no", c->max_subgroups);
        fprintf(out, "  compute units     %u, %u-bit addresses, float vector width %u\n",
                c->compute_units, c->address_bits, c->vector_width_float);
        fprintf(out, "  extensions        %s\n", c->extensions);
    } else {
        fprintf(out, "  capabilities      %s\n", c->note);
    }
    if (!run->opened) {
        fprintf(out, "  FAIL: cannot open the device: %s\n", run->open_error);
        return;
    }
    fprintf(out, "\n  %-18s %-5s %-6s %-44s %-30s %7s  %s\n", "op", "dtype", "class", "shape",
            "kernel", "time", "result (worst error / allowed)");
}

void report_case_line(FILE *out, const replay_info *ri, const device_run *run,
                      const case_result *r)
{
    char shape[256], replay[1200];
    case_shape_text(&r->c, shape, sizeof shape);
    fprintf(out, "  %-18s %-5s %-6s %-44s %-30s %6.2fs  %s", clt_op_name(r->c.op),
            clt_dtype_name(r->c.dtype), r->c.shape_class, shape, r->kernel[0] ? r->kernel : "-",
            r->seconds, case_status_name(r->status));
    if (r->status == CASE_PASS)
        fprintf(out, " (%.2f%s)\n", r->worst, r->determinism ? ", same bits twice" : "");
    else if (r->status == CASE_SKIP)
        fprintf(out, ": %s\n", r->message ? r->message : "");
    else {
        report_replay_command(ri, run->info.name, r, replay, sizeof replay);
        fprintf(out, "\n      %s\n      op %s, dtype %s, shape %s, seed %llu\n      replay: %s\n",
                r->message ? r->message : "", clt_op_name(r->c.op), clt_dtype_name(r->c.dtype),
                shape, (unsigned long long)r->c.seed, replay);
    }
    fflush(out);
}

static void count_results(const device_run *run, int *pass, int *fail, int *skip)
{
    *pass = *fail = *skip = 0;
    for (int i = 0; i < run->nresults; i++) {
        const case_status s = run->results[i].status;
        *(s == CASE_PASS ? pass : s == CASE_FAIL ? fail : skip) += 1;
    }
}

bool device_run_failed(const device_run *run)
{
    int pass, fail, skip;
    count_results(run, &pass, &fail, &skip);
    return !run->opened || fail > 0 || (run->train_ran && !run->train.pass);
}

void report_device_footer(FILE *out, const device_run *run)
{
    int pass, fail, skip;
    if (!run->opened)
        return;
    count_results(run, &pass, &fail, &skip);
    if (run->train_ran) {
        const train_result *t = &run->train;
        fprintf(out, "\n  training check (tiny model, AdamW, %d steps): %s\n", t->steps,
                t->pass ? "pass" : "FAIL");
        if (t->first_host != 0.0)
            fprintf(out, "    loss step 1: device %.6f host %.6f; step %d: device %.6f host %.6f\n",
                    t->first_device, t->first_host, t->steps, t->last_device, t->last_host);
        if (!t->pass)
            fprintf(out, "    %s\n", t->message);
    }
    fprintf(out, "\n  %s: %d passed, %d failed, %d skipped in %.1f s%s\n", run->info.name, pass,
            fail, skip, run->seconds, device_run_failed(run) ? "  -- NOT CONFORMANT" : "");
}

/* ---- JSON ----------------------------------------------------------------------------- */

static void json_caps(json_writer *w, const caps_report *c)
{
    json_begin_object(w);
    json_kv_bool(w, "from_opencl", c->opencl);
    if (!c->opencl) {
        json_kv_string(w, "note", c->note);
    } else {
        json_kv_string(w, "opencl_version", c->device_version);
        json_kv_string(w, "opencl_c_version", c->opencl_c_version);
        json_kv_bool(w, "fp16", c->fp16);
        json_kv_bool(w, "fp64", c->fp64);
        json_kv_bool(w, "subgroups", c->subgroups);
        json_kv_uint(w, "max_subgroups", c->max_subgroups);
        json_kv_uint(w, "local_mem_bytes", c->local_mem_bytes);
        json_kv_bool(w, "local_mem_dedicated", c->local_mem_dedicated);
        json_kv_uint(w, "max_work_group_size", c->max_work_group);
        json_key(w, "max_work_item_sizes");
        json_begin_array(w);
        for (int i = 0; i < 3; i++)
            json_uint(w, c->max_work_item[i]);
        json_end_array(w);
        json_kv_uint(w, "compute_units", c->compute_units);
        json_kv_uint(w, "address_bits", c->address_bits);
        json_kv_uint(w, "preferred_vector_width_float", c->vector_width_float);
        json_key(w, "extensions");
        json_begin_array(w);
        char list[sizeof c->extensions], *save = NULL;
        snprintf(list, sizeof list, "%s", c->extensions);
        for (char *e = strtok_r(list, " ", &save); e; e = strtok_r(NULL, " ", &save))
            json_string(w, e);
        json_end_array(w);
    }
    json_end_object(w);
}

static void json_case(json_writer *w, const replay_info *ri, const device_run *run,
                      const case_result *r)
{
    char shape[256], text[400], replay[1200];
    case_shape_text(&r->c, shape, sizeof shape);
    case_text(&r->c, text, sizeof text);
    json_begin_object(w);
    json_kv_string(w, "op", clt_op_name(r->c.op));
    json_kv_string(w, "dtype", clt_dtype_name(r->c.dtype));
    json_kv_string(w, "class", r->c.shape_class);
    json_kv_string(w, "shape", shape);
    json_kv_uint(w, "seed", r->c.seed);
    json_kv_string(w, "case", text);
    json_kv_string(w, "status", case_status_name(r->status));
    json_kv_string(w, "kernel", r->kernel);
    json_kv_double(w, "worst_error_over_allowed", r->worst);
    json_kv_bool(w, "determinism_checked", r->determinism);
    json_kv_double(w, "seconds", r->seconds);
    json_kv_string(w, "message", r->message);
    if (r->status == CASE_FAIL) {
        report_replay_command(ri, run->info.name, r, replay, sizeof replay);
        json_kv_string(w, "replay", replay);
    } else {
        json_key(w, "replay");
        json_null(w);
    }
    json_end_object(w);
}

bool report_json(FILE *out, const replay_info *ri, const device_run *runs, int n, bool quick,
                 double seconds)
{
    json_writer w;
    bool passed = n > 0;
    for (int i = 0; i < n; i++)
        passed = passed && !device_run_failed(&runs[i]);
    json_init(&w, out, true);
    json_begin_object(&w);
    json_kv_string(&w, "tool", "clt-conform");
    json_kv_string(&w, "clt_version", clt_version_string());
    json_kv_bool(&w, "quick", quick);
    json_kv_bool(&w, "passed", passed);
    json_kv_double(&w, "seconds", seconds);
    json_key(&w, "devices");
    json_begin_array(&w);
    for (int i = 0; i < n; i++) {
        const device_run *run = &runs[i];
        int pass, fail, skip;
        count_results(run, &pass, &fail, &skip);
        json_begin_object(&w);
        json_kv_string(&w, "name", run->info.name);
        json_kv_string(&w, "device_name", run->info.device_name);
        json_kv_string(&w, "vendor", run->info.vendor);
        json_kv_string(&w, "platform", run->info.platform);
        json_kv_string(&w, "driver_version", run->info.driver_version);
        json_kv_string(&w, "type", clt_device_type_name(run->info.type));
        json_kv_bool(&w, "passed", !device_run_failed(run));
        json_key(&w, "error");
        if (run->opened)
            json_null(&w);
        else
            json_string(&w, run->open_error);
        json_key(&w, "capabilities");
        json_caps(&w, &run->caps);
        json_key(&w, "cases");
        json_begin_array(&w);
        for (int c = 0; c < run->nresults; c++)
            json_case(&w, ri, run, &run->results[c]);
        json_end_array(&w);
        json_key(&w, "training");
        if (!run->train_ran) {
            json_null(&w);
        } else {
            json_begin_object(&w);
            json_kv_string(&w, "model", "tiny");
            json_kv_int(&w, "steps", run->train.steps);
            json_kv_bool(&w, "passed", run->train.pass);
            json_kv_double(&w, "loss_first_device", run->train.first_device);
            json_kv_double(&w, "loss_first_host", run->train.first_host);
            json_kv_double(&w, "loss_last_device", run->train.last_device);
            json_kv_double(&w, "loss_last_host", run->train.last_host);
            json_kv_double(&w, "tolerance_first", TRAIN_TOL_FIRST);
            json_kv_double(&w, "tolerance_last", TRAIN_TOL_LAST);
            json_kv_string(&w, "message", run->train.message);
            json_end_object(&w);
        }
        json_key(&w, "summary");
        json_begin_object(&w);
        json_kv_int(&w, "passed", pass);
        json_kv_int(&w, "failed", fail);
        json_kv_int(&w, "skipped", skip);
        json_kv_double(&w, "seconds", run->seconds);
        json_end_object(&w);
        json_end_object(&w);
    }
    json_end_array(&w);
    json_end_object(&w);
    return json_finish(&w);
}

/* ---- JUnit ------------------------------------------------------------------------------- */

/* Text and attribute values with the five XML specials escaped and control characters
 * (which XML 1.0 forbids) replaced by '?'. */
static void xml_text(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        const unsigned char ch = (unsigned char)*s;
        switch (ch) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default:
            fputc(ch < 0x20 && ch != '\n' && ch != '\t' ? '?' : ch, f);
        }
    }
}

bool report_junit(const char *path, const replay_info *ri, const device_run *runs, int n,
                  char *err, size_t cap)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(err, cap, "--junit %s: %s", path, strerror(errno));
        return false;
    }
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"clt-conform\">\n");
    for (int i = 0; i < n; i++) {
        const device_run *run = &runs[i];
        int pass, fail, skip;
        count_results(run, &pass, &fail, &skip);
        const int train = run->train_ran ? 1 : 0;
        const int train_fail = run->train_ran && !run->train.pass ? 1 : 0;
        fprintf(f, "  <testsuite name=\"");
        xml_text(f, run->info.name);
        fprintf(f, "\" tests=\"%d\" failures=\"%d\" errors=\"%d\" skipped=\"%d\" time=\"%.3f\">\n",
                run->nresults + train, fail + train_fail, run->opened ? 0 : 1, skip, run->seconds);
        if (!run->opened) {
            fprintf(f, "    <testcase classname=\"clt-conform\" name=\"open\"><error message=\"");
            xml_text(f, run->open_error);
            fprintf(f, "\"/></testcase>\n");
        }
        for (int c = 0; c < run->nresults; c++) {
            const case_result *r = &run->results[c];
            char text[400], replay[1200];
            case_text(&r->c, text, sizeof text);
            fprintf(f, "    <testcase classname=\"");
            xml_text(f, run->info.name);
            fprintf(f, ".%s\" name=\"", clt_op_name(r->c.op));
            xml_text(f, text);
            fprintf(f, "\" time=\"%.3f\">", r->seconds);
            if (r->status == CASE_FAIL) {
                report_replay_command(ri, run->info.name, r, replay, sizeof replay);
                fprintf(f, "<failure message=\"");
                xml_text(f, r->message);
                fprintf(f, "\">replay: ");
                xml_text(f, replay);
                fprintf(f, "</failure>");
            } else if (r->status == CASE_SKIP) {
                fprintf(f, "<skipped message=\"");
                xml_text(f, r->message);
                fprintf(f, "\"/>");
            }
            fprintf(f, "</testcase>\n");
        }
        if (run->train_ran) {
            fprintf(f, "    <testcase classname=\"");
            xml_text(f, run->info.name);
            fprintf(f, ".training\" name=\"tiny %d steps\" time=\"%.3f\">", run->train.steps,
                    run->train.seconds);
            if (!run->train.pass) {
                fprintf(f, "<failure message=\"");
                xml_text(f, run->train.message);
                fprintf(f, "\"/>");
            }
            fprintf(f, "</testcase>\n");
        }
        fprintf(f, "  </testsuite>\n");
    }
    fprintf(f, "</testsuites>\n");
    const bool ok = !ferror(f);
    if (fclose(f) != 0 || !ok) {
        snprintf(err, cap, "--junit %s: write failed", path);
        return false;
    }
    return true;
}
