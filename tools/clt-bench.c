/* clt-bench: clt's kernels against their peers, measured in the same run.
 *
 *   clt-bench gemm [--device D] [--json] [--tune] [--quick] [--repeat N]
 *                  [--dtype f32|f16|bf16|all] [--shape MxNxK[:ta|:tb|:tatb]]...
 *   clt-bench attention [--device D] [--json] [--quick] [--repeat N]
 *                  [--dtype f32|f16|bf16|all] [--batch B] [--heads H] [--dim d]
 *                  [--seq T]... [--causal|--no-causal]
 *   clt-bench softmax [--device D] [--json] [--quick] [--repeat N]
 *                  [--dtype f32|f16|bf16|all] [--shape NxV]... [--rows N --cols V]
 *   clt-bench optim [--device D] [--json] [--quick] [--repeat N] [--params N]
 *   clt-bench offload [--device D] [--json] [--quick] [--repeat N] [--size BYTES]
 *                  [--nvme-dir DIR] [--no-train] [--layers N] [--heads N] [--dim N]
 *                  [--ctx N] [--batch N] [--steps N]
 *
 * gemm measures clt_gemm on the device, CLBlast on the same OpenCL device and CBLAS
 * (OpenBLAS) on the host, on square and transformer shapes, in f32, f16 and bf16
 * storage, and prints the medians and their ratios. Peers missing from the build read
 * "n/a". attention measures clt's attention forward and backward against a naive,
 * materialised OpenCL implementation on the same device (bench/bench_attention.h);
 * softmax, clt's two-pass softmax against its three-pass one and a device copy of the
 * same bytes (bench/bench_softmax.h); offload, the NVME tier's bandwidth against raw
 * O_DIRECT I/O in the same directory (bench/bench_offload.h), then cltrain's model
 * trained resident and offloaded (bench/bench_offload_train.h). With --json stdout holds
 * exactly one JSON document; progress and the table go to stderr. Exit status: 0; 1
 * when a run failed or clt's result did not match the reference; 2 on a usage error or
 * a benchmark this version does not have. Only clt's public API is used, except by the peers. */
#include <clt/clt.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_attention.h"
#include "bench/bench_gemm.h"
#include "bench/bench_offload.h"
#include "bench/bench_optim.h"
#include "bench/bench_report.h"
#include "bench/bench_softmax.h"
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
            "       clt-bench attention|softmax|optim|offload --help: their options\n"
            "Measures clt against its peers in one run and prints medians and ratios: gemm\n"
            "against CBLAS on the host and CLBlast on the same OpenCL device, attention\n"
            "against a naive materialised OpenCL implementation, softmax two-pass against\n"
            "three-pass and a device copy. The options below are gemm's.\n\n");
    args_print_options(options, n, out);
}

/* Sets dtypes[] from --dtype's value; false if it names no dtype. */
static bool parse_dtypes(const char *text, bool dtypes[CLT_FLOAT_DTYPE_COUNT])
{
    bool all = strcmp(text, "all") == 0;
    for (int d = 0; d < CLT_FLOAT_DTYPE_COUNT; d++) {
        dtypes[d] = all || strcmp(text, clt_dtype_name((clt_dtype)d)) == 0;
        if (dtypes[d] && !all)
            return true;
    }
    return all;
}

/* --repeat's value into *out, or false with the message. */
static bool parse_repeat(int64_t repeat, int *out)
{
    if (repeat < 1 || repeat > BENCH_MAX_REPEAT) {
        fprintf(stderr, "clt-bench: --repeat must be 1..%d, got %lld\n", BENCH_MAX_REPEAT,
                (long long)repeat);
        return false;
    }
    *out = (int)repeat;
    return true;
}

static int main_gemm(int argc, char **argv)
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
                        "(gemm, attention, softmax, optim and offload are)\n", bench);
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
    if (!parse_repeat(repeat, &opts->repeat)) {
        rc = 2;
        goto done;
    }
    if (!parse_dtypes(dtype, opts->dtypes)) {
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

/* ---- attention and softmax ------------------------------------------------------- */

/* The flags every op benchmark takes. */
typedef struct common_flags {
    bool json, help, quick;
    const char *device, *dtype;
    int64_t repeat;
    int repeat_checked;
    bool dtypes[CLT_FLOAT_DTYPE_COUNT];
} common_flags;

#define COMMON_OPTIONS(c, quick_help)                                                     \
    {"--device", ARGS_STRING, &(c).device, "D", "device to run clt on (see clt-info)"},   \
    {"--json", ARGS_FLAG, &(c).json, NULL, "write one JSON document to stdout"},          \
    {"--quick", ARGS_FLAG, &(c).quick, NULL, quick_help},                                 \
    {"--repeat", ARGS_INT, &(c).repeat, "N", "timed rounds per row (default 5)"},         \
    {"--dtype", ARGS_STRING, &(c).dtype, "T", "f32, f16, bf16 or all (default f32)"}
#define HELP_OPTION(c) {"--help", ARGS_FLAG, &(c).help, NULL, "show this help and exit"}

static void print_op_usage(FILE *out, const char *synopsis, const args_option *options, int n)
{
    fprintf(out, "usage: clt-bench %s\n\n", synopsis);
    args_print_options(options, n, out);
}

/* Parses an op benchmark's flags from argv without the benchmark's name (`skip`) and
 * checks the common ones. Returns -1 to go on, else the exit status. */
static int parse_op_flags(const char *synopsis, const args_option *options, int n,
                          common_flags *c, int argc, char **argv, int skip)
{
    char **args = malloc((size_t)argc * sizeof *args);
    int n_args = 0, n_positional = 0, rc = -1;
    if (!args) {
        fprintf(stderr, "clt-bench: out of memory\n");
        return 1;
    }
    for (int i = 0; i < argc; i++)
        if (i != skip)
            args[n_args++] = argv[i];
    if (args_parse("clt-bench", options, n, n_args, args, &n_positional) != ARGS_OK) {
        rc = 2;
    } else if (c->help) {
        print_op_usage(stdout, synopsis, options, n);
        rc = 0;
    } else if (n_positional > 0) {
        fprintf(stderr, "clt-bench: one benchmark at a time ('%s' too)\n", args[1]);
        rc = 2;
    } else if (!parse_repeat(c->repeat, &c->repeat_checked)) {
        rc = 2;
    } else if (!parse_dtypes(c->dtype, c->dtypes)) {
        fprintf(stderr, "clt-bench: --dtype must be f32, f16, bf16 or all, got '%s'\n",
                c->dtype);
        rc = 2;
    }
    if (rc == 2)
        print_op_usage(stderr, synopsis, options, n);
    free(args);
    return rc;
}

/* After a JSON document that could not be written: the message and exit status 1. */
static int json_failed(void)
{
    fprintf(stderr, "clt-bench: writing the JSON document failed\n");
    return 1;
}

/* The integer option `name` is within lo..hi, or false with the message. */
static bool check_range(const char *name, int64_t value, int64_t lo, int64_t hi)
{
    if (value >= lo && value <= hi)
        return true;
    fprintf(stderr, "clt-bench: %s must be %lld..%lld, got %lld\n", name, (long long)lo,
            (long long)hi, (long long)value);
    return false;
}

#define ATTENTION_MAX_DIM 1024
#define ATTENTION_MAX_SEQ (1 << 20)
#define ATTENTION_MAX_ELEMENTS (1LL << 34) /* per tensor: 64 GiB in f32 */

/* Whether a length t fits: B·H·T·d at most 2^34 elements (in double: no overflow). */
static bool seq_fits(const attention_bench_opts *opts, int64_t t)
{
    if ((double)opts->batch * (double)opts->heads * (double)t * (double)opts->dim <=
        (double)ATTENTION_MAX_ELEMENTS)
        return true;
    fprintf(stderr, "clt-bench: --seq %lld: B*H*T*d (--batch, --heads, --dim) is more than "
                    "2^34 elements\n", (long long)t);
    return false;
}

/* --seq's values into opts->seqs (the defaults without any); false with the message. */
static bool parse_seqs(const args_list *seqs, bool quick, attention_bench_opts *opts)
{
    static const int64_t full[] = {1024, 2048}, small[] = {256, 512};
    if (seqs->count == 0) {
        const int64_t *defaults = quick ? small : full;
        if (!seq_fits(opts, defaults[0]) || !seq_fits(opts, defaults[1]))
            return false;
        opts->n_seqs = 2;
        memcpy(opts->seqs, defaults, sizeof full);
        return true;
    }
    if (seqs->count > ATTENTION_MAX_SEQS) {
        fprintf(stderr, "clt-bench: --seq given %d times; at most %d\n", seqs->count,
                ATTENTION_MAX_SEQS);
        return false;
    }
    for (int i = 0; i < seqs->count; i++) {
        char *end = NULL;
        long long t = strtoll(seqs->items[i], &end, 10);
        if (end == seqs->items[i] || *end != '\0' || t < 1 || t > ATTENTION_MAX_SEQ) {
            fprintf(stderr, "clt-bench: --seq expects a length 1..%d, got '%s'\n",
                    ATTENTION_MAX_SEQ, seqs->items[i]);
            return false;
        }
        if (!seq_fits(opts, t))
            return false;
        opts->seqs[opts->n_seqs++] = t;
    }
    return true;
}

static int main_attention(int argc, char **argv, int skip)
{
    static const char synopsis[] =
        "attention [--device D] [--json] [--quick] [--repeat N] [--dtype f32|f16|bf16|all]\n"
        "                           [--batch B] [--heads H] [--dim d] [--seq T]... "
        "[--causal|--no-causal]\n"
        "Measures clt's attention forward and backward against a naive materialised OpenCL\n"
        "implementation on the same device, interleaved, and prints medians, GFLOP/s,\n"
        "ratios and peak device memory.";
    common_flags c = {.dtype = "f32", .repeat = DEFAULT_REPEAT};
    bool causal = false, no_causal = false;
    attention_bench_opts opts = {.batch = 1, .heads = 12, .dim = 64};
    args_list seqs = {.count = 0};
    const args_option options[] = {
        COMMON_OPTIONS(c, "lengths 256 and 512 unless --seq is given"),
        {"--batch", ARGS_INT, &opts.batch, "B", "batch size (default 1)"},
        {"--heads", ARGS_INT, &opts.heads, "H", "attention heads (default 12)"},
        {"--dim", ARGS_INT, &opts.dim, "d", "head size (default 64)"},
        {"--seq", ARGS_LIST, &seqs, "T", "sequence length (repeatable; default 1024 and 2048)"},
        {"--causal", ARGS_FLAG, &causal, NULL, "query i sees keys 0..i (the default)"},
        {"--no-causal", ARGS_FLAG, &no_causal, NULL, "every query sees every key"},
        HELP_OPTION(c),
    };
    const int n_options = (int)(sizeof options / sizeof options[0]);
    int rc = parse_op_flags(synopsis, options, n_options, &c, argc, argv, skip);
    if (rc >= 0)
        return rc;
    if (causal && no_causal)
        fprintf(stderr, "clt-bench: --causal and --no-causal: give one of them\n");
    if ((causal && no_causal) || !check_range("--batch", opts.batch, 1, 65536) ||
        !check_range("--heads", opts.heads, 1, 65536) ||
        !check_range("--dim", opts.dim, 1, ATTENTION_MAX_DIM) ||
        !parse_seqs(&seqs, c.quick, &opts)) {
        print_op_usage(stderr, synopsis, options, n_options);
        return 2;
    }
    opts.device = c.device;
    opts.repeat = c.repeat_checked;
    opts.causal = !no_causal;
    memcpy(opts.dtypes, c.dtypes, sizeof opts.dtypes);

    attention_report *report = calloc(1, sizeof *report);
    if (!report) {
        fprintf(stderr, "clt-bench: out of memory\n");
        return 1;
    }
    rc = bench_attention_run(&opts, report);
    bench_attention_text(report, c.json ? stderr : stdout);
    if (c.json && !bench_attention_json(report, stdout))
        rc = json_failed();
    free(report);
    return rc;
}

/* --shape's values, then --rows/--cols, into opts->shapes (the defaults without any);
 * false with the message. */
static bool parse_softmax_shapes(const args_list *shapes, int64_t rows, int64_t cols,
                                 bool quick, softmax_bench_opts *opts)
{
    char text[64];
    if (shapes->count + 1 > SOFTMAX_MAX_SHAPES) {
        fprintf(stderr, "clt-bench: --shape given %d times; at most %d\n", shapes->count,
                SOFTMAX_MAX_SHAPES - 1);
        return false;
    }
    for (int i = 0; i < shapes->count; i++) {
        if (!softmax_shape_parse(shapes->items[i], &opts->shapes[opts->n_shapes++])) {
            fprintf(stderr, "clt-bench: --shape expects NxV (rows x columns, each "
                            "1..16777216, at most 2^31 values), got '%s'\n", shapes->items[i]);
            return false;
        }
    }
    if ((rows != 0) != (cols != 0)) {
        fprintf(stderr, "clt-bench: %s needs %s too\n", rows ? "--rows" : "--cols",
                rows ? "--cols" : "--rows");
        return false;
    }
    if (rows) {
        snprintf(text, sizeof text, "%lldx%lld", (long long)rows, (long long)cols);
        if (!softmax_shape_parse(text, &opts->shapes[opts->n_shapes++])) {
            fprintf(stderr, "clt-bench: --rows and --cols must be 1..16777216, at most 2^31 "
                            "values in all; got %s\n", text);
            return false;
        }
    }
    if (opts->n_shapes == 0)
        opts->n_shapes = softmax_shapes_default(quick, opts->shapes, SOFTMAX_MAX_SHAPES);
    return true;
}

static int main_softmax(int argc, char **argv, int skip)
{
    static const char synopsis[] =
        "softmax [--device D] [--json] [--quick] [--repeat N] [--dtype f32|f16|bf16|all]\n"
        "                         [--shape NxV]... [--rows N --cols V]\n"
        "Measures clt's two-pass softmax against its three-pass one and a device copy of\n"
        "the same bytes, interleaved, and prints medians, GB/s and ratios.";
    common_flags c = {.dtype = "f32", .repeat = DEFAULT_REPEAT};
    int64_t rows = 0, cols = 0;
    args_list shapes = {.count = 0};
    softmax_bench_opts opts = {.n_shapes = 0};
    const args_option options[] = {
        COMMON_OPTIONS(c, "32x50257 and 512x4096 unless shapes are given"),
        {"--shape", ARGS_LIST, &shapes, "NxV", "N rows of V values (repeatable; default "
                                               "16x50257, 256x50257, 256x4096, 4096x4096)"},
        {"--rows", ARGS_INT, &rows, "N", "with --cols: one more shape, N rows ..."},
        {"--cols", ARGS_INT, &cols, "V", "... of V values"},
        HELP_OPTION(c),
    };
    const int n_options = (int)(sizeof options / sizeof options[0]);
    int rc = parse_op_flags(synopsis, options, n_options, &c, argc, argv, skip);
    if (rc >= 0)
        return rc;
    if (!parse_softmax_shapes(&shapes, rows, cols, c.quick, &opts)) {
        print_op_usage(stderr, synopsis, options, n_options);
        return 2;
    }
    opts.device = c.device;
    opts.repeat = c.repeat_checked;
    memcpy(opts.dtypes, c.dtypes, sizeof opts.dtypes);

    softmax_report *report = calloc(1, sizeof *report);
    if (!report) {
        fprintf(stderr, "clt-bench: out of memory\n");
        return 1;
    }
    rc = bench_softmax_run(&opts, report);
    bench_softmax_text(report, c.json ? stderr : stdout);
    if (c.json && !bench_softmax_json(report, stdout))
        rc = json_failed();
    free(report);
    return rc;
}

#define OPTIM_DEFAULT_PARAMS 50000000
#define OPTIM_QUICK_PARAMS 1000000
#define OPTIM_MAX_PARAMS (1LL << 31)

static int main_optim(int argc, char **argv, int skip)
{
    static const char synopsis[] =
        "optim [--device D] [--json] [--quick] [--repeat N] [--params N]\n"
        "Measures clt's host AdamW (f32 and 8-bit states, all threads) against a triad\n"
        "moving the same 28 bytes per parameter (the memory roofline) and a single-thread\n"
        "scalar loop, and the device's AdamW, interleaved: medians, Gparam/s, fractions.";
    common_flags c = {.dtype = "f32", .repeat = DEFAULT_REPEAT};
    int64_t params = INT64_MIN; /* not given */
    const args_option options[] = {
        {"--device", ARGS_STRING, &c.device, "D", "device for the device rows (see clt-info)"},
        {"--json", ARGS_FLAG, &c.json, NULL, "write one JSON document to stdout"},
        {"--quick", ARGS_FLAG, &c.quick, NULL, "1M parameters unless --params is given"},
        {"--repeat", ARGS_INT, &c.repeat, "N", "timed rounds (default 5)"},
        {"--params", ARGS_INT, &params, "N", "parameters per tensor (default 50M)"},
        HELP_OPTION(c),
    };
    const int n_options = (int)(sizeof options / sizeof options[0]);
    int rc = parse_op_flags(synopsis, options, n_options, &c, argc, argv, skip);
    if (rc >= 0)
        return rc;
    if (params != INT64_MIN && !check_range("--params", params, 1, OPTIM_MAX_PARAMS)) {
        print_op_usage(stderr, synopsis, options, n_options);
        return 2;
    }
    optim_bench_opts opts = {
        .device = c.device,
        .params = params != INT64_MIN ? params : c.quick ? OPTIM_QUICK_PARAMS : OPTIM_DEFAULT_PARAMS,
        .repeat = c.repeat_checked,
    };
    optim_report *report = calloc(1, sizeof *report);
    if (!report) {
        fprintf(stderr, "clt-bench: out of memory\n");
        return 1;
    }
    rc = bench_optim_run(&opts, report);
    bench_optim_text(report, c.json ? stderr : stdout);
    if (c.json && !bench_optim_json(report, stdout))
        rc = json_failed();
    free(report);
    return rc;
}

#define OFFLOAD_DEFAULT_BYTES ((uint64_t)1 << 30)
#define OFFLOAD_QUICK_BYTES ((uint64_t)64 << 20)
#define OFFLOAD_MIN_BYTES ((uint64_t)4096)
#define OFFLOAD_MAX_BYTES ((uint64_t)1 << 40)
#define OFFLOAD_BUDGET_FRACTION 0.1 /* issue 8: a device budget of 1/10 of the footprint */

/* The training rows' model: 16 blocks, so that the streamed model fits in a tenth of
 * the resident one; a couple of minutes on PoCL on two cores by default, seconds with
 * --quick. Any flag given wins. */
static const offload_train_opts train_full = {
    .layers = 16, .heads = 4, .dim = 256, .ctx = 128, .batch = 2, .steps = 2};
static const offload_train_opts train_quick = {
    .layers = 16, .heads = 2, .dim = 64, .ctx = 32, .batch = 1, .steps = 2};

/* The training rows' flags over the defaults; false with the message. A flag not given
 * is INT64_MIN. --heads follows --dim (heads of 64, else of 32) unless given. */
static bool parse_train_flags(const int64_t given[6], bool quick, offload_train_opts *t)
{
    static const char *const names[6] = {"--layers", "--heads", "--dim", "--ctx", "--batch",
                                         "--steps"};
    static const int64_t hi[6] = {1024, 4096, 65536, 65536, 65536, 1000};
    *t = quick ? train_quick : train_full;
    int *fields[6] = {&t->layers, &t->heads, &t->dim, &t->ctx, &t->batch, &t->steps};
    for (int i = 0; i < 6; i++) {
        if (given[i] == INT64_MIN)
            continue;
        if (!check_range(names[i], given[i], 1, hi[i]))
            return false;
        *fields[i] = (int)given[i];
    }
    if (given[1] == INT64_MIN && given[2] != INT64_MIN)
        t->heads = t->dim % 64 == 0 ? t->dim / 64 : t->dim % 32 == 0 ? t->dim / 32 : 1;
    char err[512];
    if (!bench_offload_train_valid(t, err, sizeof err)) {
        fprintf(stderr, "clt-bench: %s\n", err);
        return false;
    }
    return true;
}

static int main_offload(int argc, char **argv, int skip)
{
    static const char synopsis[] =
        "offload [--device D] [--json] [--quick] [--repeat N] [--size BYTES] [--nvme-dir DIR]\n"
        "                         [--no-train] [--layers N] [--heads N] [--dim N] [--ctx N]\n"
        "                         [--batch N] [--steps N]\n"
        "Measures the NVME tier's write and read bandwidth (clt_buffer_copy between HOST or\n"
        "HOST_PINNED buffers and an NVME buffer) against raw sequential O_DIRECT I/O of a\n"
        "file in the same directory; then trains cltrain's GPT model fully resident on the\n"
        "device and offloaded (--offload host, then nvme) at a device budget of 1/10 of the\n"
        "resident footprint, with and without the optimizer. Interleaved rounds: medians,\n"
        "GB/s, tokens/s, and ratios with issue 8's goals.";
    common_flags c = {.dtype = "f32", .repeat = DEFAULT_REPEAT};
    const char *size = NULL, *nvme_dir = NULL;
    bool no_train = false;
    int64_t train[6] = {INT64_MIN, INT64_MIN, INT64_MIN, INT64_MIN, INT64_MIN, INT64_MIN};
    const args_option options[] = {
        {"--device", ARGS_STRING, &c.device, "D", "device of the HOST_PINNED and training "
                                                  "rows (see clt-info)"},
        {"--json", ARGS_FLAG, &c.json, NULL, "write one JSON document to stdout"},
        {"--quick", ARGS_FLAG, &c.quick, NULL, "64 MiB per transfer and a small model unless "
                                               "given"},
        {"--repeat", ARGS_INT, &c.repeat, "N", "timed rounds (default 5)"},
        {"--size", ARGS_STRING, &size, "BYTES", "bytes per transfer: 4096, 64M, 1G (default 1G)"},
        {"--nvme-dir", ARGS_STRING, &nvme_dir, "DIR",
         "where the NVME tier and the raw file go (default: the context's)"},
        {"--no-train", ARGS_FLAG, &no_train, NULL, "the NVMe rows only"},
        {"--layers", ARGS_INT, &train[0], "N", "training rows: blocks (default 16)"},
        {"--heads", ARGS_INT, &train[1], "N", "attention heads (default 4; dim/64 with --dim)"},
        {"--dim", ARGS_INT, &train[2], "N", "model width (default 256; --quick 64)"},
        {"--ctx", ARGS_INT, &train[3], "N", "tokens per sequence (default 128; --quick 32)"},
        {"--batch", ARGS_INT, &train[4], "N", "sequences per step (default 2; --quick 1)"},
        {"--steps", ARGS_INT, &train[5], "N", "steps per row and round (default 2)"},
        HELP_OPTION(c),
    };
    const int n_options = (int)(sizeof options / sizeof options[0]);
    int rc = parse_op_flags(synopsis, options, n_options, &c, argc, argv, skip);
    if (rc >= 0)
        return rc;
    uint64_t bytes = c.quick ? OFFLOAD_QUICK_BYTES : OFFLOAD_DEFAULT_BYTES;
    if (size && (clt_parse_size(size, &bytes) != CLT_OK || bytes < OFFLOAD_MIN_BYTES ||
                 bytes > OFFLOAD_MAX_BYTES)) {
        fprintf(stderr, "clt-bench: --size expects 4K..1T bytes (like 64M or 1G), got '%s'\n",
                size);
        print_op_usage(stderr, synopsis, options, n_options);
        return 2;
    }
    offload_train_opts train_opts;
    if (!parse_train_flags(train, c.quick, &train_opts)) {
        print_op_usage(stderr, synopsis, options, n_options);
        return 2;
    }
    offload_bench_opts opts = {
        .device = c.device, .nvme_dir = nvme_dir, .bytes = (size_t)bytes,
        .repeat = c.repeat_checked};
    offload_report *report = calloc(1, sizeof *report);
    if (!report) {
        fprintf(stderr, "clt-bench: out of memory\n");
        return 1;
    }
    rc = bench_offload_run(&opts, report);
    if (!no_train && report->device.name[0]) { /* the device opened */
        train_opts.device = c.device;
        train_opts.nvme_dir = report->nvme_dir;
        train_opts.repeat = c.repeat_checked;
        train_opts.budget_fraction = OFFLOAD_BUDGET_FRACTION;
        report->trained = true;
        rc |= bench_offload_train_run(&train_opts, &report->train);
    }
    bench_offload_text(report, c.json ? stderr : stdout);
    if (c.json && !bench_offload_json(report, stdout))
        rc = json_failed();
    free(report);
    return rc;
}

/* ---- dispatch ------------------------------------------------------------------------ */

/* attention, softmax, optim and offload have options of their own, so their name is looked
 * for before any parsing, wherever it stands; everything else goes the way gemm always
 * went. */
int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "attention") == 0)
            return main_attention(argc, argv, i);
        if (strcmp(argv[i], "softmax") == 0)
            return main_softmax(argc, argv, i);
        if (strcmp(argv[i], "optim") == 0)
            return main_optim(argc, argv, i);
        if (strcmp(argv[i], "offload") == 0)
            return main_offload(argc, argv, i);
    }
    return main_gemm(argc, argv);
}
