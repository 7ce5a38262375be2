/* clt-bench: clt's kernels against their peers, measured in the same run.
 *
 *   clt-bench gemm [--device D] [--json] [--tune] [--quick] [--repeat N]
 *                  [--dtype f32|f16|bf16|all] [--shape MxNxK[:ta|:tb|:tatb]]...
 *   clt-bench attention|softmax|optim|offload   (not available yet in this version)
 *
 * gemm measures clt_gemm on the device, CLBlast on the same OpenCL device and CBLAS
 * (OpenBLAS) on the host, on square and transformer shapes, in f32, f16 and bf16
 * storage, and prints the medians and their ratios. Peers missing from the build read
 * "n/a". With --json stdout holds exactly one JSON document; progress and the table go
 * to stderr. Exit status: 0; 1 when a run failed or clt's result did not match the
 * reference; 2 on a usage error or a benchmark this version does not have. Only
 * clt's public API is used. */
#include <clt/clt.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_gemm.h"
#include "bench/bench_report.h"
#include "common/args.h"

#define DEFAULT_REPEAT 5
#define PEER_CALL_LIMIT_S 10.0

static const char *const benchmarks[] = {"gemm", "attention", "softmax", "optim", "offload"};

static void print_usage(FILE *out, const args_option *options, int n)
{
    fprintf(out,
            "usage: clt-bench gemm|attention|softmax|optim|offload [--device D] [--json]\n"
            "       clt-bench gemm [--tune] [--quick] [--repeat N] [--dtype f32|f16|bf16|all]\n"
            "                      [--shape MxNxK[:ta|:tb|:tatb]]...\n"
            "Measures clt against its peers (CBLAS on the host, CLBlast on the same OpenCL\n"
            "device) in one run and prints median GFLOP/s and ratios.\n\n");
    args_print_options(options, n, out);
}

/* Sets opts->dtypes from --dtype's value; false if it names no dtype. */
static bool parse_dtypes(const char *text, gemm_bench_opts *opts)
{
    bool all = strcmp(text, "all") == 0;
    for (int d = 0; d < CLT_FLOAT_DTYPE_COUNT; d++) {
        opts->dtypes[d] = all || strcmp(text, clt_dtype_name((clt_dtype)d)) == 0;
        if (opts->dtypes[d] && !all)
            return true;
    }
    return all;
}

int main(int argc, char **argv)
{
    bool json = false, help = false, tune = false, quick = false;
    const char *device = NULL, *dtype = "all";
    int64_t repeat = DEFAULT_REPEAT;
    args_list shapes = {.count = 0};
    const args_option options[] = {
        {"--device", ARGS_STRING, &device, "D", "device to run clt on (see clt-info)"},
        {"--json", ARGS_FLAG, &json, NULL, "write one JSON document to stdout"},
        {"--tune", ARGS_FLAG, &tune, NULL, "tune clt's GEMM (and its peers) first"},
        {"--quick", ARGS_FLAG, &quick, NULL, "a few shapes only (a minute or two on PoCL)"},
        {"--repeat", ARGS_INT, &repeat, "N", "timed runs per measurement (default 5)"},
        {"--dtype", ARGS_STRING, &dtype, "T", "f32, f16, bf16 or all (default all)"},
        {"--shape", ARGS_LIST, &shapes, "MxNxK", "measure this shape (repeatable); "
                                                 ":ta/:tb/:tatb transpose A/B"},
        {"--help", ARGS_FLAG, &help, NULL, "show this help and exit"},
    };
    const int n_options = (int)(sizeof options / sizeof options[0]);
    int n_positional = 0, rc = 1;
    gemm_report *report = NULL;
    gemm_bench_opts *opts = NULL;

    if (args_parse("clt-bench", options, n_options, argc, argv, &n_positional) != ARGS_OK) {
        print_usage(stderr, options, n_options);
        return 2;
    }
    if (help) {
        print_usage(stdout, options, n_options);
        return 0;
    }
    if (n_positional != 1) {
        fprintf(stderr, "clt-bench: %s\n", n_positional == 0 ? "which benchmark? (gemm, ...)"
                                                             : "one benchmark at a time");
        print_usage(stderr, options, n_options);
        return 2;
    }
    const char *bench = argv[1];
    bool known = false;
    for (size_t i = 0; i < sizeof benchmarks / sizeof benchmarks[0]; i++)
        known = known || strcmp(bench, benchmarks[i]) == 0;
    if (!known) {
        fprintf(stderr, "clt-bench: unknown benchmark '%s'\n", bench);
        print_usage(stderr, options, n_options);
        return 2;
    }
    if (strcmp(bench, "gemm") != 0) {
        fprintf(stderr, "clt-bench: '%s' is not available yet in this version "
                        "(only gemm is)\n", bench);
        return 2;
    }

    opts = calloc(1, sizeof *opts);
    report = calloc(1, sizeof *report);
    if (!opts || !report) {
        fprintf(stderr, "clt-bench: out of memory\n");
        goto done;
    }
    opts->device = device;
    opts->tune = tune;
    opts->peer_call_limit_s = PEER_CALL_LIMIT_S;
    if (repeat < 1 || repeat > BENCH_MAX_REPEAT) {
        fprintf(stderr, "clt-bench: --repeat must be 1..%d, got %lld\n", BENCH_MAX_REPEAT,
                (long long)repeat);
        rc = 2;
        goto done;
    }
    opts->repeat = (int)repeat;
    if (!parse_dtypes(dtype, opts)) {
        fprintf(stderr, "clt-bench: --dtype must be f32, f16, bf16 or all, got '%s'\n", dtype);
        rc = 2;
        goto done;
    }
    for (int i = 0; i < shapes.count; i++) {
        if (!gemm_shape_parse(shapes.items[i], &opts->shapes[opts->n_shapes++])) {
            fprintf(stderr, "clt-bench: --shape expects MxNxK (each 1..65536), optionally "
                            "with :ta, :tb or :tatb; got '%s'\n", shapes.items[i]);
            rc = 2;
            goto done;
        }
    }
    if (opts->n_shapes == 0)
        opts->n_shapes = gemm_shapes_default(quick, opts->shapes, BENCH_MAX_SHAPES);

    rc = bench_gemm_run(opts, report);
    bench_report_text(report, json ? stderr : stdout);
    if (json && !bench_report_json(report, stdout)) {
        fprintf(stderr, "clt-bench: writing the JSON document failed\n");
        rc = 1;
    }

done:
    free(opts);
    free(report);
    return rc;
}
