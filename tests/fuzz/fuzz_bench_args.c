/* Fuzzes clt-bench's command line: tools/clt-bench.c, compiled here with its main
 * renamed, so that the benchmark dispatch, every benchmark's option table and the
 * parsers of --shape, --seq, --dtype, --repeat and --size run as the tool runs them.
 * The input is argv[1..], NUL-separated (argv[0] is "clt-bench").
 *
 * Where clt-bench would measure, the link (-Wl,--wrap, tests/fuzz/CMakeLists.txt) sends
 * the call here instead: each bench_*_run checks that the options it is handed keep the
 * promises clt-bench.c makes (repeat 1..BENCH_MAX_REPEAT, at least one dtype, shapes and
 * lengths within their limits and within the arrays that hold them) and returns; the
 * report writers do nothing. Checked as well: the exit status is 0, 1 or 2. */
#include <stdbool.h>

#include "fuzz_util.h"

int clt_bench_main(int argc, char **argv);
#define main clt_bench_main
#include "clt-bench.c"
#undef main

#define MAX_ARGS 256

int __wrap_bench_gemm_run(const gemm_bench_opts *opts, gemm_report *report);
int __wrap_bench_attention_run(const attention_bench_opts *opts, attention_report *report);
int __wrap_bench_softmax_run(const softmax_bench_opts *opts, softmax_report *report);
int __wrap_bench_optim_run(const optim_bench_opts *opts, optim_report *report);
int __wrap_bench_offload_run(const offload_bench_opts *opts, offload_report *report);
void __wrap_bench_report_text(const gemm_report *rep, FILE *out);
bool __wrap_bench_report_json(const gemm_report *rep, FILE *out);
void __wrap_bench_attention_text(const attention_report *rep, FILE *out);
bool __wrap_bench_attention_json(const attention_report *rep, FILE *out);
void __wrap_bench_softmax_text(const softmax_report *rep, FILE *out);
bool __wrap_bench_softmax_json(const softmax_report *rep, FILE *out);
void __wrap_bench_optim_text(const optim_report *rep, FILE *out);
bool __wrap_bench_optim_json(const optim_report *rep, FILE *out);
void __wrap_bench_offload_text(const offload_report *rep, FILE *out);
bool __wrap_bench_offload_json(const offload_report *rep, FILE *out);
/* The offload benchmark's training rows (bench/bench_offload_train.h, where present):
 * declared without their types, which older trees lack; a wrap of a symbol nothing
 * calls is a no-op. */
int __wrap_bench_offload_train_run(const void *opts, void *report);
void __wrap_bench_offload_train_text(const void *report, FILE *out);
void __wrap_bench_offload_train_json(const void *report, void *w);

static void check_repeat_dtypes(int repeat, const bool *dtypes)
{
    FUZZ_CHECK(repeat >= 1 && repeat <= BENCH_MAX_REPEAT, "repeat %d", repeat);
    bool any = false;
    for (int d = 0; d < CLT_FLOAT_DTYPE_COUNT; d++)
        any = any || dtypes[d];
    FUZZ_CHECK(any, "no dtype to measure");
}

int __wrap_bench_gemm_run(const gemm_bench_opts *opts, gemm_report *report)
{
    (void)report;
    check_repeat_dtypes(opts->repeat, opts->dtypes);
    FUZZ_CHECK(opts->n_shapes >= 1 && opts->n_shapes <= BENCH_MAX_SHAPES, "%d shapes",
               opts->n_shapes);
    for (int i = 0; i < opts->n_shapes; i++) {
        const bench_shape *s = &opts->shapes[i];
        FUZZ_CHECK(s->m >= 1 && s->m <= 65536 && s->n >= 1 && s->n <= 65536 && s->k >= 1 &&
                       s->k <= 65536,
                   "shape %lldx%lldx%lld", (long long)s->m, (long long)s->n, (long long)s->k);
    }
    return 0;
}

int __wrap_bench_attention_run(const attention_bench_opts *opts, attention_report *report)
{
    (void)report;
    check_repeat_dtypes(opts->repeat, opts->dtypes);
    FUZZ_CHECK(opts->batch >= 1 && opts->heads >= 1 && opts->dim >= 1 &&
                   opts->dim <= ATTENTION_MAX_DIM,
               "B %lld H %lld d %lld", (long long)opts->batch, (long long)opts->heads,
               (long long)opts->dim);
    FUZZ_CHECK(opts->n_seqs >= 1 && opts->n_seqs <= ATTENTION_MAX_SEQS, "%d lengths",
               opts->n_seqs);
    for (int i = 0; i < opts->n_seqs; i++)
        FUZZ_CHECK(opts->seqs[i] >= 1 && opts->seqs[i] <= ATTENTION_MAX_SEQ &&
                       opts->batch * opts->heads * opts->seqs[i] * opts->dim <=
                           ATTENTION_MAX_ELEMENTS,
                   "length %lld", (long long)opts->seqs[i]);
    return 0;
}

int __wrap_bench_softmax_run(const softmax_bench_opts *opts, softmax_report *report)
{
    (void)report;
    check_repeat_dtypes(opts->repeat, opts->dtypes);
    FUZZ_CHECK(opts->n_shapes >= 1 && opts->n_shapes <= SOFTMAX_MAX_SHAPES, "%d shapes",
               opts->n_shapes);
    for (int i = 0; i < opts->n_shapes; i++)
        FUZZ_CHECK(opts->shapes[i].rows >= 1 && opts->shapes[i].cols >= 1 &&
                       opts->shapes[i].rows * opts->shapes[i].cols <= (1LL << 31),
                   "shape %lldx%lld", (long long)opts->shapes[i].rows,
                   (long long)opts->shapes[i].cols);
    return 0;
}

int __wrap_bench_optim_run(const optim_bench_opts *opts, optim_report *report)
{
    (void)report;
    FUZZ_CHECK(opts->repeat >= 1 && opts->repeat <= BENCH_MAX_REPEAT, "repeat %d",
               opts->repeat);
    FUZZ_CHECK(opts->params >= 1 && opts->params <= OPTIM_MAX_PARAMS, "params %lld",
               (long long)opts->params);
    return 0;
}

int __wrap_bench_offload_run(const offload_bench_opts *opts, offload_report *report)
{
    (void)report;
    FUZZ_CHECK(opts->repeat >= 1 && opts->repeat <= BENCH_MAX_REPEAT, "repeat %d",
               opts->repeat);
    FUZZ_CHECK(opts->bytes >= OFFLOAD_MIN_BYTES && opts->bytes <= OFFLOAD_MAX_BYTES,
               "bytes %zu", opts->bytes);
    return 0;
}

/* The reports are empty: there is nothing to write. */
void __wrap_bench_report_text(const gemm_report *rep, FILE *out) { (void)rep, (void)out; }
bool __wrap_bench_report_json(const gemm_report *rep, FILE *out)
{
    (void)rep, (void)out;
    return true;
}
void __wrap_bench_attention_text(const attention_report *rep, FILE *out) { (void)rep, (void)out; }
bool __wrap_bench_attention_json(const attention_report *rep, FILE *out)
{
    (void)rep, (void)out;
    return true;
}
void __wrap_bench_softmax_text(const softmax_report *rep, FILE *out) { (void)rep, (void)out; }
bool __wrap_bench_softmax_json(const softmax_report *rep, FILE *out)
{
    (void)rep, (void)out;
    return true;
}
void __wrap_bench_optim_text(const optim_report *rep, FILE *out) { (void)rep, (void)out; }
bool __wrap_bench_optim_json(const optim_report *rep, FILE *out)
{
    (void)rep, (void)out;
    return true;
}
void __wrap_bench_offload_text(const offload_report *rep, FILE *out) { (void)rep, (void)out; }
bool __wrap_bench_offload_json(const offload_report *rep, FILE *out)
{
    (void)rep, (void)out;
    return true;
}

int __wrap_bench_offload_train_run(const void *opts, void *report)
{
    (void)opts, (void)report;
    return 0;
}
void __wrap_bench_offload_train_text(const void *report, FILE *out) { (void)report, (void)out; }
void __wrap_bench_offload_train_json(const void *report, void *w) { (void)report, (void)w; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_cmdline c;
    fuzz_cmdline_init(&c, "clt-bench", data, size, MAX_ARGS);
    int rc = clt_bench_main(c.argc, c.argv);
    FUZZ_CHECK(rc == 0 || rc == 1 || rc == 2, "exit status %d", rc);
    fuzz_cmdline_free(&c);
    return 0;
}
