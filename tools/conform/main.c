/* clt-conform: whether a device's driver runs clt's kernels correctly.
 *
 *   clt-conform [--device D]... [--quick] [--op NAME[,NAME]]... [--case TEXT] [--list]
 *               [--json] [--junit FILE] [--help]
 *
 * For each selected device (default: every device but the host driver): its
 * capabilities, every op x dtype x shape class compared with the host driver, the ops'
 * determinism, and a short training run. Exit status: 0 when everything passed, 1 when
 * anything failed (or no device was found), 2 on a usage error. docs/conform.md is the
 * manual. Only the public API is used (and the OpenCL loader, for capabilities). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <clt/clt.h>

#include "cases.h"
#include "common/args.h"
#include "compare.h"
#include "report.h"
#include "run.h"

#define PROG "clt-conform"
#define MAX_DEVICES 64
#define MAX_CASES_PER_OP 64
#define TRAIN_STEPS_QUICK 10
#define TRAIN_STEPS_FULL 30
#define TRAINING_NAME "training" /* --op's name for the training check */

struct options {
    args_list devices, ops;
    bool quick, list, json, help;
    const char *junit, *replay;
    const char *prog_name; /* argv[0], for replay commands */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void usage(FILE *out, const args_option *opts, int n)
{
    fprintf(out, "usage: " PROG " [--device D]... [--quick] [--op NAME]... [--case TEXT] "
                 "[--list] [--json] [--junit FILE]\n\n");
    args_print_options(opts, n, out);
    fprintf(out, "\nOps are clt's op names (--list shows them) or '" TRAINING_NAME "'. A failing "
                 "case prints the command that replays it.\n");
}

static int usage_error(const args_option *opts, int n, const char *message)
{
    fprintf(stderr, PROG ": %s\n", message);
    usage(stderr, opts, n);
    return 2;
}

/* --op values: names or comma lists into selected[]; train says whether "training" was
 * among them. false with the unknown name in *bad. */
static bool select_ops(const args_list *ops, bool *selected, bool *train, char *bad, size_t cap)
{
    for (int k = 0; k < CLT_OP_COUNT; k++)
        selected[k] = ops->count == 0;
    *train = ops->count == 0;
    for (int i = 0; i < ops->count; i++) {
        char buf[512], *save = NULL;
        snprintf(buf, sizeof buf, "%s", ops->items[i]);
        for (char *name = strtok_r(buf, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
            clt_op_kind k;
            if (strcmp(name, TRAINING_NAME) == 0)
                *train = true;
            else if (clt_op_from_name(name, &k) == CLT_OK)
                selected[k] = true;
            else {
                snprintf(bad, cap, "%s", name);
                return false;
            }
        }
    }
    return true;
}

/* Runs one case on the device against the host; fills r. */
static void run_case(clt_context *dev, clt_context *host, const conform_case *c, case_result *r)
{
    case_layout L;
    case_data in = {0}, ref = {0}, got = {0}, again = {0};
    char host_kernel[160], msg[4096] = "";
    const double t0 = now_s();
    memset(r, 0, sizeof *r);
    r->c = *c;
    r->status = CASE_FAIL;

    bool supported = false;
    if (clt_op_supported(dev, c->op, c->dtype, &supported) == CLT_OK && !supported) {
        r->status = CASE_SKIP;
        r->message = strdup("the device does not run it itself: clt falls back to the host");
        return;
    }
    case_layout_build(c, &L);
    if (!case_data_alloc(&L, &in) || !case_data_alloc(&L, &ref) || !case_data_alloc(&L, &got)) {
        snprintf(msg, sizeof msg, "out of host memory for the case's tensors");
        goto done;
    }
    case_data_fill(&L, c->seed, &in);
    clt_status st = case_data_derive(host, c, &L, &in);
    if (st == CLT_OK)
        st = case_execute(host, &L, &in, &ref, host_kernel, sizeof host_kernel);
    if (st != CLT_OK) {
        snprintf(msg, sizeof msg, "the host reference failed: %s: %s", clt_status_name(st),
                 clt_last_error());
        goto done;
    }
    st = case_execute(dev, &L, &in, &got, r->kernel, sizeof r->kernel);
    if (st != CLT_OK) {
        /* a kernel build failure's text carries the compiler's log: keep all of it */
        snprintf(msg, sizeof msg, "%s: %s", clt_status_name(st), clt_last_error());
        goto done;
    }
    for (int i = 0; i < L.ntensors; i++) {
        const tensor_spec *t = &L.t[i];
        mismatch m;
        if (!t->output)
            continue;
        const size_t n = got.size[i] / clt_dtype_size(t->dtype);
        const bool ok = compare_tensor(t->dtype, n, got.bytes[i], ref.bytes[i],
                                       tolerance_of(c->op, t->dtype), &m);
        if (m.worst > r->worst)
            r->worst = m.worst;
        if (!ok && !msg[0])
            snprintf(msg, sizeof msg,
                     "%s[%zu] (%s): device %.9g, host %.9g, error %.3g > allowed %.3g; %zu of "
                     "%zu elements outside the tolerance",
                     t->name, m.index, clt_dtype_name(t->dtype), m.got, m.want,
                     m.got - m.want < 0 ? m.want - m.got : m.got - m.want, m.allowed, m.count, n);
    }
    if (msg[0])
        goto done;
    if (cases_deterministic(c->op)) {
        char kernel[160];
        if (!case_data_alloc(&L, &again)) {
            snprintf(msg, sizeof msg, "out of host memory for the case's tensors");
            goto done;
        }
        st = case_execute(dev, &L, &in, &again, kernel, sizeof kernel);
        if (st != CLT_OK) {
            snprintf(msg, sizeof msg, "second run: %s: %s", clt_status_name(st), clt_last_error());
            goto done;
        }
        r->determinism = true;
        for (int i = 0; i < L.ntensors && !msg[0]; i++)
            if (L.t[i].output && memcmp(got.bytes[i], again.bytes[i], got.size[i]) != 0)
                snprintf(msg, sizeof msg, "not deterministic: two runs on the device gave "
                         "different bits in %s", L.t[i].name);
    }
    if (!msg[0])
        r->status = CASE_PASS;

done:
    if (msg[0])
        r->message = strdup(msg);
    r->seconds = now_s() - t0;
    case_data_free(&in);
    case_data_free(&ref);
    case_data_free(&got);
    case_data_free(&again);
}

/* Every selected case on one device, printing a line per case as it finishes. */
static void run_device(device_run *run, clt_context *host, const struct options *o,
                       const bool *selected, bool train, const conform_case *replay,
                       clt_tune_mode tune, FILE *text)
{
    const replay_info ri = {o->prog_name};
    const double t0 = now_s();
    clt_context *dev = NULL;
    caps_query(&run->info, &run->caps);
    clt_context_opts opts;
    clt_context_opts_init(&opts);
    opts.device = run->info.name;
    opts.tune = tune;
    clt_status st = clt_context_create(&opts, &dev);
    run->opened = st == CLT_OK;
    if (!run->opened)
        snprintf(run->open_error, sizeof run->open_error, "%s: %s", clt_status_name(st),
                 clt_last_error());
    report_device_header(text, run);
    if (!run->opened)
        return;

    int cap = replay ? 1 : CLT_OP_COUNT * CLT_FLOAT_DTYPE_COUNT * MAX_CASES_PER_OP;
    run->results = calloc((size_t)cap, sizeof *run->results);
    conform_case cases[MAX_CASES_PER_OP];
    for (int k = 0; k < CLT_OP_COUNT && run->results; k++) {
        if (!selected[k])
            continue;
        for (int d = 0; d < CLT_FLOAT_DTYPE_COUNT; d++) {
            int n = replay ? (replay->op == (clt_op_kind)k && replay->dtype == (clt_dtype)d)
                           : cases_list((clt_op_kind)k, (clt_dtype)d, o->quick, cases,
                                        MAX_CASES_PER_OP);
            for (int i = 0; i < n && i < MAX_CASES_PER_OP && run->nresults < cap; i++) {
                case_result *r = &run->results[run->nresults++];
                run_case(dev, host, replay ? replay : &cases[i], r);
                report_case_line(text, &ri, run, r);
            }
        }
    }
    clt_context_destroy(dev);
    if (train && !replay) {
        run->train_ran = true;
        train_check(run->info.name, o->quick ? TRAIN_STEPS_QUICK : TRAIN_STEPS_FULL, tune,
                    &run->train);
    }
    run->seconds = now_s() - t0;
    report_device_footer(text, run);
}

int main(int argc, char **argv)
{
    struct options o = {.prog_name = argv[0]};
    const args_option table[] = {
        {"--device", ARGS_LIST, &o.devices, "D",
         "device to check, repeatable: opencl:N, host (default: every device but the host)"},
        {"--quick", ARGS_FLAG, &o.quick, NULL, "leave out the large shapes, train fewer steps"},
        {"--op", ARGS_LIST, &o.ops, "NAME", "only these ops (repeatable or a,b,c; '"
                                            TRAINING_NAME "' is the training check)"},
        {"--case", ARGS_STRING, &o.replay, "TEXT",
         "replay one case of the one --op: 'f16 m=67 n=13 ... seed=1234'"},
        {"--list", ARGS_FLAG, &o.list, NULL, "list ops, cases and tolerances, and exit"},
        {"--json", ARGS_FLAG, &o.json, NULL, "one JSON document on stdout (text on stderr)"},
        {"--junit", ARGS_STRING, &o.junit, "FILE", "also write a JUnit XML report"},
        {"--help", ARGS_FLAG, &o.help, NULL, "show this and exit"},
    };
    const int ntable = (int)(sizeof table / sizeof table[0]);
    char err[1024], bad[256];
    if (args_parse(PROG, table, ntable, argc, argv, NULL) != ARGS_OK) {
        usage(stderr, table, ntable);
        return 2;
    }
    if (o.help) {
        usage(stdout, table, ntable);
        return 0;
    }
    if (!cases_table_complete(err, sizeof err)) {
        fprintf(stderr, PROG ": %s\n", err);
        return 1;
    }
    bool selected[CLT_OP_COUNT], train;
    if (!select_ops(&o.ops, selected, &train, bad, sizeof bad)) {
        snprintf(err, sizeof err, "unknown op '%s' (--list shows the ops)", bad);
        return usage_error(table, ntable, err);
    }
    if (o.list) {
        report_list(stdout, selected);
        return 0;
    }
    conform_case replay;
    if (o.replay) {
        int nsel = 0, which = 0;
        for (int k = 0; k < CLT_OP_COUNT; k++)
            if (selected[k]) {
                nsel++;
                which = k;
            }
        if (o.ops.count == 0 || nsel != 1 || train)
            return usage_error(table, ntable, "--case needs exactly one --op naming the case's op");
        if (!case_parse((clt_op_kind)which, o.replay, &replay, err, sizeof err))
            return usage_error(table, ntable, err);
    }

    /* the devices: those named, else every one but the host driver */
    clt_device_info *infos = calloc(MAX_DEVICES, sizeof *infos);
    device_run *runs = calloc(MAX_DEVICES, sizeof *runs);
    int ninfo = 0, nrun = 0, status = 1;
    clt_context *host = NULL;
    if (!infos || !runs || clt_device_list(infos, MAX_DEVICES, &ninfo) != CLT_OK) {
        fprintf(stderr, PROG ": cannot list the devices: %s\n", clt_last_error());
        goto done;
    }
    if (ninfo > MAX_DEVICES)
        ninfo = MAX_DEVICES;
    for (int i = 0; i < o.devices.count; i++) {
        int found = -1;
        for (int j = 0; j < ninfo; j++)
            if (strcmp(infos[j].name, o.devices.items[i]) == 0)
                found = j;
        if (found < 0) {
            char names[512] = "";
            for (int j = 0; j < ninfo; j++) {
                size_t len = strlen(names);
                snprintf(names + len, sizeof names - len, "%s%s", j ? ", " : "", infos[j].name);
            }
            fprintf(stderr, PROG ": no device '%s' (devices here: %s)\n", o.devices.items[i],
                    names);
            usage(stderr, table, ntable);
            status = 2;
            goto done;
        }
        runs[nrun++].info = infos[found];
    }
    for (int j = 0; o.devices.count == 0 && j < ninfo; j++)
        if (infos[j].type != CLT_DEVICE_TYPE_HOST)
            runs[nrun++].info = infos[j];
    if (nrun == 0) {
        fprintf(stderr, PROG ": no device but the host driver was found; is the vendor's "
                        "OpenCL driver installed (clinfo, OCL_ICD_VENDORS)? --device host "
                        "checks the host driver against itself\n");
        goto done;
    }

    /* CLT_TUNE in the environment decides tuning; without it nothing is measured, so a
     * run checks the built-in kernel parameters and takes the same time every time */
    const clt_tune_mode tune = getenv("CLT_TUNE") ? CLT_TUNE_DEFAULT : CLT_TUNE_OFF;
    clt_context_opts hopts;
    clt_context_opts_init(&hopts);
    hopts.device = "host";
    hopts.tune = tune;
    if (clt_context_create(&hopts, &host) != CLT_OK) {
        fprintf(stderr, PROG ": cannot open the host driver, the reference: %s\n",
                clt_last_error());
        goto done;
    }
    const double t0 = now_s();
    FILE *text = o.json ? stderr : stdout;
    fprintf(text, PROG " (clt %s): %s run, %d device(s)\n", clt_version_string(),
            o.replay ? "replay" : o.quick ? "quick" : "full", nrun);
    status = 0;
    for (int i = 0; i < nrun; i++) {
        run_device(&runs[i], host, &o, selected, train, o.replay ? &replay : NULL, tune, text);
        if (device_run_failed(&runs[i]))
            status = 1;
    }
    const double seconds = now_s() - t0;
    fprintf(text, "\n%s in %.1f s\n", status == 0 ? "CONFORMANT" : "NOT CONFORMANT", seconds);
    const replay_info ri = {o.prog_name};
    if (o.json && !report_json(stdout, &ri, runs, nrun, o.quick, seconds)) {
        fprintf(stderr, PROG ": writing the JSON report failed\n");
        status = 1;
    }
    if (o.junit && !report_junit(o.junit, &ri, runs, nrun, err, sizeof err)) {
        fprintf(stderr, PROG ": %s\n", err);
        status = 1;
    }

done:
    for (int i = 0; runs && i < nrun; i++) {
        for (int c = 0; c < runs[i].nresults; c++)
            free(runs[i].results[c].message);
        free(runs[i].results);
    }
    clt_context_destroy(host);
    free(runs);
    free(infos);
    return status;
}
