/* clt-info: what clt sees on this machine — the library version, the host topology
 * and every device, with the ops each one runs itself.
 *
 *   clt-info [--json] [--help]
 *
 * Text goes to stdout; with --json stdout holds exactly one JSON document. Exit status:
 * 0 on success (a device that fails to open is reported, not fatal), 1 when the
 * devices cannot be listed, 2 on a usage error. Only the public API is used. */
#include <clt/clt.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/args.h"
#include "common/host_topology.h"
#include "common/json_writer.h"
#include "common/units.h"

/* Who runs an op with a given dtype when it is submitted to a device. */
typedef enum op_support {
    SUPPORT_DEVICE,        /* the device's driver runs it */
    SUPPORT_HOST_FALLBACK, /* the runtime hands it to the host driver */
    SUPPORT_NONE,          /* neither: clt_op_run would fail with CLT_ERR_UNSUPPORTED */
    SUPPORT_UNKNOWN,       /* clt_op_supported itself failed */
} op_support;

/* Everything reported about one device, gathered before anything is printed so the
 * text and JSON writers only format. */
typedef struct device_report {
    clt_device_info info;
    clt_status open_status;  /* of clt_context_create on this device */
    char open_error[1024];   /* clt_last_error() when open_status != CLT_OK */
    op_support ops[CLT_OP_COUNT][CLT_FLOAT_DTYPE_COUNT]; /* SUPPORT_NONE: not run by the
                                                      device itself, see resolve_fallback */
} device_report;

static const char *support_name(op_support s)
{
    switch (s) {
    case SUPPORT_DEVICE: return "device";
    case SUPPORT_HOST_FALLBACK: return "host-fallback";
    case SUPPORT_NONE: return "unsupported";
    case SUPPORT_UNKNOWN: return "unknown";
    }
    return "unknown";
}

/* Opens a context on the device and asks which (op, dtype) pairs it runs itself. */
static void probe_device(device_report *r)
{
    clt_context_opts opts;
    clt_context *ctx = NULL;
    clt_context_opts_init(&opts);
    opts.device = r->info.name;
    r->open_status = clt_context_create(&opts, &ctx);
    if (r->open_status != CLT_OK) {
        snprintf(r->open_error, sizeof r->open_error, "%s", clt_last_error());
        return;
    }
    for (int op = 0; op < CLT_OP_COUNT; op++) {
        for (int dt = 0; dt < CLT_FLOAT_DTYPE_COUNT; dt++) {
            bool supported = false;
            clt_status st = clt_op_supported(ctx, (clt_op_kind)op, (clt_dtype)dt, &supported);
            r->ops[op][dt] = st != CLT_OK  ? SUPPORT_UNKNOWN
                             : supported   ? SUPPORT_DEVICE
                                           : SUPPORT_NONE;
        }
    }
    clt_context_destroy(ctx);
}

/* What a device does not run itself falls back to the host driver, but only if the
 * host driver runs it: clt_op_supported answers for the device alone, so the host's
 * own answers decide between "host-fallback" and "unsupported". */
static void resolve_fallback(device_report *devs, int n)
{
    const device_report *host = NULL;
    for (int i = 0; i < n; i++)
        if (devs[i].info.type == CLT_DEVICE_TYPE_HOST && devs[i].open_status == CLT_OK)
            host = &devs[i];
    for (int i = 0; i < n; i++) {
        if (&devs[i] == host || devs[i].open_status != CLT_OK)
            continue;
        for (int op = 0; op < CLT_OP_COUNT; op++)
            for (int dt = 0; dt < CLT_FLOAT_DTYPE_COUNT; dt++)
                if (devs[i].ops[op][dt] == SUPPORT_NONE && host &&
                    host->ops[op][dt] == SUPPORT_DEVICE)
                    devs[i].ops[op][dt] = SUPPORT_HOST_FALLBACK;
    }
}

/* ---- text report ------------------------------------------------------------------ */

#define LABEL_WIDTH 18

static void text_field(const char *label, const char *value)
{
    printf("  %-*s %s\n", LABEL_WIDTH, label, value && *value ? value : "-");
}

static void text_bytes(const char *label, uint64_t bytes)
{
    char buf[32];
    text_field(label, format_bytes(bytes, buf, sizeof buf));
}

static void text_int(const char *label, int value)
{
    char buf[32];
    if (value < 0)
        snprintf(buf, sizeof buf, "unknown");
    else
        snprintf(buf, sizeof buf, "%d", value);
    text_field(label, buf);
}

static void print_topology_text(const host_topology *t)
{
    char label[32], value[96], size[32];
    printf("Host (topology from %s)\n", t->source);
    text_field("CPU", t->cpu_model);
    text_int("packages", t->packages);
    text_int("cores", t->cores);
    text_int("hardware threads", t->pus);
    if (t->memory_bytes)
        text_bytes("memory", t->memory_bytes);
    for (int i = 0; i < t->numa_count; i++) {
        snprintf(label, sizeof label, "NUMA node %d", i);
        text_bytes(label, t->numa_memory_bytes[i]);
    }
    for (int i = 0; i < t->cache_count; i++) {
        const host_cache *c = &t->caches[i];
        /* "L1d cache", "L1i cache", "L2 cache": the usual short names. */
        const char *suffix = strcmp(c->kind, "data") == 0          ? "d"
                             : strcmp(c->kind, "instruction") == 0 ? "i"
                                                                   : "";
        snprintf(label, sizeof label, "L%d%s cache", c->level, suffix);
        format_bytes(c->size_bytes, size, sizeof size);
        if (c->count > 0)
            snprintf(value, sizeof value, "%s x %d", size, c->count);
        else
            snprintf(value, sizeof value, "%s", size);
        if (c->line_bytes > 0) {
            size_t len = strlen(value);
            snprintf(value + len, sizeof value - len, " (%d-byte lines)", c->line_bytes);
        }
        text_field(label, value);
    }
    if (!t->from_hwloc)
        text_field("note", "packages, cores and NUMA nodes need clt built with hwloc");
}

/* Appends "f16, bf16" style lists of the dtypes with support `want` to buf. */
static void append_dtypes(char *buf, size_t size, const op_support *row, op_support want)
{
    bool first = true;
    for (int dt = 0; dt < CLT_FLOAT_DTYPE_COUNT; dt++) {
        if (row[dt] != want)
            continue;
        size_t len = strlen(buf);
        snprintf(buf + len, size - len, "%s%s", first ? "" : ", ", clt_dtype_name((clt_dtype)dt));
        first = false;
    }
}

static bool row_has(const op_support *row, op_support want)
{
    for (int dt = 0; dt < CLT_FLOAT_DTYPE_COUNT; dt++)
        if (row[dt] == want)
            return true;
    return false;
}

/* One op as a phrase: "f32 on device; f16 falls back to the host; bf16 unsupported". */
static void describe_op(char *buf, size_t size, const op_support *row)
{
    buf[0] = '\0';
    static const struct { op_support s; const char *suffix; } parts[] = {
        {SUPPORT_DEVICE, " on device"},
        {SUPPORT_HOST_FALLBACK, " on the host (fallback)"},
        {SUPPORT_NONE, " unsupported"},
        {SUPPORT_UNKNOWN, " unknown"},
    };
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        if (!row_has(row, parts[i].s))
            continue;
        size_t len = strlen(buf);
        if (len > 0)
            snprintf(buf + len, size - len, "; ");
        append_dtypes(buf, size, row, parts[i].s);
        len = strlen(buf);
        snprintf(buf + len, size - len, "%s", parts[i].suffix);
    }
}

static void print_device_text(const device_report *r)
{
    const clt_device_info *d = &r->info;
    char buf[128];
    printf("\n%s (%s)\n", d->name, clt_device_type_name(d->type));
    /* The host driver has no platform, OpenCL C, local memory or work-groups. */
    bool opencl_like = d->type != CLT_DEVICE_TYPE_HOST;
    text_field("device", d->device_name);
    text_field("vendor", d->vendor);
    if (opencl_like)
        text_field("platform", d->platform);
    text_field("driver version", d->driver_version);
    if (opencl_like)
        text_field("OpenCL C", d->opencl_c_version);
    text_bytes("global memory", d->global_mem_bytes);
    text_bytes("max allocation", d->max_alloc_bytes);
    if (opencl_like)
        text_bytes("local memory", d->local_mem_bytes);
    text_int("compute units", d->compute_units);
    if (opencl_like)
        text_int("max work-group", d->max_work_group_size);
    text_field("fp16", d->fp16 ? "yes" : "no");
    text_field("unified memory", d->unified_memory ? "yes" : "no");
    if (r->open_status != CLT_OK) {
        snprintf(buf, sizeof buf, "cannot open: %s", clt_status_name(r->open_status));
        text_field("ops", buf);
        text_field("error", r->open_error);
        return;
    }
    for (int op = 0; op < CLT_OP_COUNT; op++) {
        char label[48], phrase[256];
        snprintf(label, sizeof label, "op %s", clt_op_name((clt_op_kind)op));
        describe_op(phrase, sizeof phrase, r->ops[op]);
        text_field(label, phrase);
    }
}

static void print_text(const host_topology *topo, const device_report *devs, int n)
{
    printf("clt %s\n\n", clt_version_string());
    print_topology_text(topo);
    printf("\nDevices: %d\n", n);
    for (int i = 0; i < n; i++)
        print_device_text(&devs[i]);
}

/* ---- JSON report -------------------------------------------------------------------- */

static void print_topology_json(json_writer *w, const host_topology *t)
{
    json_begin_object(w);
    json_kv_string(w, "source", t->source);
    json_kv_string(w, "cpu_model", t->cpu_model);
    json_key(w, "packages");
    t->packages >= 0 ? json_int(w, t->packages) : json_null(w);
    json_key(w, "cores");
    t->cores >= 0 ? json_int(w, t->cores) : json_null(w);
    json_key(w, "pus");
    t->pus >= 0 ? json_int(w, t->pus) : json_null(w);
    json_kv_uint(w, "memory_bytes", t->memory_bytes);
    json_key(w, "numa_nodes");
    json_begin_array(w);
    for (int i = 0; i < t->numa_count; i++) {
        json_begin_object(w);
        json_kv_int(w, "index", i);
        json_kv_uint(w, "memory_bytes", t->numa_memory_bytes[i]);
        json_end_object(w);
    }
    json_end_array(w);
    json_key(w, "caches");
    json_begin_array(w);
    for (int i = 0; i < t->cache_count; i++) {
        const host_cache *c = &t->caches[i];
        json_begin_object(w);
        json_kv_int(w, "level", c->level);
        json_kv_string(w, "type", c->kind);
        json_kv_uint(w, "size_bytes", c->size_bytes);
        json_kv_int(w, "line_bytes", c->line_bytes);
        json_key(w, "count");
        c->count > 0 ? json_int(w, c->count) : json_null(w);
        json_end_object(w);
    }
    json_end_array(w);
    json_end_object(w);
}

static void print_device_json(json_writer *w, const device_report *r)
{
    const clt_device_info *d = &r->info;
    json_begin_object(w);
    json_kv_string(w, "name", d->name);
    json_kv_string(w, "driver", d->driver);
    json_kv_int(w, "index", d->index);
    json_kv_string(w, "type", clt_device_type_name(d->type));
    json_kv_string(w, "device_name", d->device_name);
    json_kv_string(w, "vendor", d->vendor);
    json_kv_string(w, "platform", d->platform);
    json_kv_string(w, "driver_version", d->driver_version);
    json_kv_string(w, "opencl_c_version", d->opencl_c_version);
    json_kv_uint(w, "global_mem_bytes", d->global_mem_bytes);
    json_kv_uint(w, "max_alloc_bytes", d->max_alloc_bytes);
    json_kv_uint(w, "local_mem_bytes", d->local_mem_bytes);
    json_kv_int(w, "compute_units", d->compute_units);
    json_kv_int(w, "max_work_group_size", d->max_work_group_size);
    json_kv_bool(w, "fp16", d->fp16);
    json_kv_bool(w, "unified_memory", d->unified_memory);
    json_key(w, "ops");
    if (r->open_status != CLT_OK) {
        json_null(w);
        json_key(w, "error");
        json_begin_object(w);
        json_kv_string(w, "status", clt_status_name(r->open_status));
        json_kv_string(w, "message", r->open_error);
        json_end_object(w);
    } else {
        json_begin_object(w);
        for (int op = 0; op < CLT_OP_COUNT; op++) {
            json_key(w, clt_op_name((clt_op_kind)op));
            json_begin_object(w);
            for (int dt = 0; dt < CLT_FLOAT_DTYPE_COUNT; dt++)
                json_kv_string(w, clt_dtype_name((clt_dtype)dt), support_name(r->ops[op][dt]));
            json_end_object(w);
        }
        json_end_object(w);
        json_key(w, "error");
        json_null(w);
    }
    json_end_object(w);
}

/* `list_error` is NULL when the devices were listed, else why they were not. */
static bool print_json(const host_topology *topo, const device_report *devs, int n,
                       const char *list_error)
{
    json_writer w;
    json_init(&w, stdout, true);
    json_begin_object(&w);
    json_kv_string(&w, "clt_version", clt_version_string());
    json_kv_int(&w, "clt_version_number", clt_version_number());
    json_key(&w, "topology");
    print_topology_json(&w, topo);
    json_key(&w, "devices");
    json_begin_array(&w);
    for (int i = 0; i < n; i++)
        print_device_json(&w, &devs[i]);
    json_end_array(&w);
    json_kv_string(&w, "error", list_error);
    json_end_object(&w);
    return json_finish(&w);
}

/* ---- main --------------------------------------------------------------------------- */

static void print_usage(FILE *out, const args_option *options, int n)
{
    fprintf(out,
            "usage: clt-info [--json] [--help]\n"
            "Shows the clt version, the host topology and every device clt can use,\n"
            "with the ops each device runs itself.\n\n");
    args_print_options(options, n, out);
}

int main(int argc, char **argv)
{
    bool json = false, help = false;
    const args_option options[] = {
        {"--json", ARGS_FLAG, &json, NULL, "write one JSON document to stdout"},
        {"--help", ARGS_FLAG, &help, NULL, "show this help and exit"},
    };
    const int n_options = (int)(sizeof options / sizeof options[0]);
    int rc = 1;
    device_report *devs = NULL;
    clt_device_info *infos = NULL;
    int count = 0;
    const char *list_error = NULL;
    host_topology topo;

    if (args_parse("clt-info", options, n_options, argc, argv, NULL) != ARGS_OK) {
        print_usage(stderr, options, n_options);
        return 2;
    }
    if (help) {
        print_usage(stdout, options, n_options);
        return 0;
    }

    host_topology_read(&topo);

    /* Ask how many devices there are, then list them. */
    clt_status st = clt_device_list(NULL, 0, &count);
    if (st == CLT_OK && count > 0) {
        infos = calloc((size_t)count, sizeof *infos);
        devs = calloc((size_t)count, sizeof *devs);
        if (infos == NULL || devs == NULL) {
            fprintf(stderr, "clt-info: out of memory\n");
            goto done;
        }
        int listed = 0;
        st = clt_device_list(infos, count, &listed);
        if (listed < count)
            count = listed; /* a device went away between the two calls */
    }
    if (st != CLT_OK) {
        list_error = clt_last_error();
        fprintf(stderr, "clt-info: cannot list devices: %s: %s\n", clt_status_str(st),
                list_error);
        count = 0;
    }
    for (int i = 0; i < count; i++) {
        devs[i].info = infos[i];
        probe_device(&devs[i]);
    }
    resolve_fallback(devs, count);

    if (json) {
        if (!print_json(&topo, devs, count, list_error)) {
            fprintf(stderr, "clt-info: failed to write the JSON document\n");
            goto done;
        }
    } else {
        print_text(&topo, devs, count);
        if (fflush(stdout) != 0)
            goto done;
    }
    rc = list_error ? 1 : 0;

done:
    free(devs);
    free(infos);
    return rc;
}
