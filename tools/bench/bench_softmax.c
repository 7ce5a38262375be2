/* clt-bench softmax: the measurements; see bench_softmax.h. */
#include "bench/bench_softmax.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_clt.h"
#include "bench/bench_rounds.h"

/* Both algorithms against a double-precision softmax, relative to its largest value;
 * f32 exponentials and sums agree with it to about 1e-6. */
#define CHECK_TOLERANCE 1e-4
#define MAX_SIDE (1ULL << 24)
#define MAX_VALUES (1ULL << 31)

/* Inputs in [-4, 4): a spread of exponents, as logits have. */
#define INPUT_RANGE 4.0f

/* ---- shapes ------------------------------------------------------------------------ */

bool softmax_shape_parse(const char *text, softmax_shape *out)
{
    unsigned long long rows = 0, cols = 0;
    int used = 0;
    /* Digits and one 'x' only: sscanf alone would take signs and blanks. */
    if (strspn(text, "0123456789x") != strlen(text) ||
        sscanf(text, "%llux%llu%n", &rows, &cols, &used) != 2 || text[used] != '\0')
        return false;
    if (rows < 1 || cols < 1 || rows > MAX_SIDE || cols > MAX_SIDE || rows * cols > MAX_VALUES)
        return false;
    out->rows = (int64_t)rows;
    out->cols = (int64_t)cols;
    return true;
}

const char *softmax_shape_format(const softmax_shape *s, char *buf, size_t size)
{
    snprintf(buf, size, "%lldx%lld", (long long)s->rows, (long long)s->cols);
    return buf;
}

int softmax_shapes_default(bool quick, softmax_shape *out, int max)
{
    /* GPT-2's vocabulary (the softmax of the logits) and a 4096-wide row (attention
     * scores of a long context), each in a batch that stays in a CPU's caches and in one
     * (50–64 MiB) that streams from memory: the two-pass kernel saves a pass of compute
     * in the first, of bandwidth in the second. */
    const softmax_shape full[] = {{16, 50257}, {256, 50257}, {256, 4096}, {4096, 4096}};
    const softmax_shape small[] = {{32, 50257}, {512, 4096}};
    const softmax_shape *list = quick ? small : full;
    const int count = quick ? 2 : 4;
    int n = 0;
    for (; n < count && n < max; n++)
        out[n] = list[n];
    return n;
}

/* ---- the host reference ------------------------------------------------------------- */

/* x, y (rows, cols) */
static void softmax_reference(const float *x, float *y, int64_t rows, int64_t cols)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        double max = -INFINITY, sum = 0.0;
        for (int64_t c = 0; c < cols; c++)
            max = fmax(max, (double)xr[c]);
        for (int64_t c = 0; c < cols; c++)
            sum += exp((double)xr[c] - max);
        for (int64_t c = 0; c < cols; c++)
            yr[c] = (float)(exp((double)xr[c] - max) / sum);
    }
}

/* ---- a row ------------------------------------------------------------------------- */

/* The copy peer: y = x, device to device, as a bench_call. */
typedef struct copy_call {
    clt_buffer *dst, *src;
    size_t bytes;
    char error[512];
} copy_call;

static bool run_copy(void *user)
{
    copy_call *c = user;
    clt_event *ev = NULL;
    clt_status st = clt_buffer_copy(c->dst, 0, c->src, 0, c->bytes, &ev);
    if (st == CLT_OK)
        st = clt_event_wait(ev);
    clt_event_destroy(ev);
    if (st != CLT_OK)
        snprintf(c->error, sizeof c->error, "copy: %s: %s", clt_status_str(st),
                 clt_last_error());
    return st == CLT_OK;
}

/* Runs one algorithm once and sets *error to its output's largest difference from the
 * reference, relative to the reference's largest value. False when it did not run (the
 * timed runs then report why). */
static bool check_algo(bench_op_call *call, clt_buffer *y, float *got, const float *ref,
                       size_t n, double *error)
{
    if (!bench_op_run(call) || clt_buffer_read(y, 0, got, n * sizeof(float), NULL) != CLT_OK)
        return false;
    const double max_ref = bench_max_abs(ref, n);
    *error = bench_max_abs_diff(got, ref, n) / (max_ref > 0 ? max_ref : 1.0);
    return true;
}

/* The algorithms and the copy of one row, in rounds — two-pass, three-pass, copy —
 * dropping whichever fails and measuring the others. With `ref` (f32 rows), checks both
 * algorithms first. False when a clt softmax failed or the check found a mismatch. */
static bool measure_row(clt_context *ctx, const softmax_bench_opts *opts, const float *x_host,
                        const float *ref, float *got, softmax_row *row)
{
    const size_t n = (size_t)(row->shape.rows * row->shape.cols);
    const size_t bytes = n * clt_dtype_size(row->dtype);
    const int64_t shape[2] = {row->shape.rows, row->shape.cols};
    clt_buffer *x = NULL, *y = NULL;
    bench_op_call two = {.ctx = ctx}, three = {.ctx = ctx};
    copy_call copy = {.bytes = bytes};
    bench_result *results[3] = {&row->two_pass, &row->three_pass, &row->copy};
    const char *errors[3] = {two.error, three.error, copy.error};
    const double work[3] = {row->two_pass_bytes, row->three_pass_bytes, row->copy_bytes};
    bench_call calls[3] = {bench_op_run, bench_op_run, run_copy};
    void *users[3] = {&two, &three, &copy};
    bench_samples samples[3];
    clt_tensor tx, ty;
    clt_stats before, after;
    bool ok = false;
    int failed = -1;

    clt_status st = bench_upload(ctx, row->dtype, x_host, n, &x);
    if (st == CLT_OK)
        st = clt_buffer_create(ctx, bytes, CLT_TIER_DEVICE, &y);
    if (st == CLT_OK)
        st = clt_tensor_init(&tx, x, 0, row->dtype, 2, shape);
    if (st == CLT_OK)
        st = clt_tensor_init(&ty, y, 0, row->dtype, 2, shape);
    if (st == CLT_OK)
        st = clt_context_stats(ctx, &before);
    if (st != CLT_OK) {
        snprintf(row->two_pass.note, sizeof row->two_pass.note, "failed: %s: %.120s",
                 clt_status_str(st), clt_last_error());
        goto done;
    }
    copy.src = x;
    copy.dst = y;
    two.op.kind = three.op.kind = CLT_OP_SOFTMAX;
    two.op.u.softmax = (clt_softmax_args){.x = tx, .y = ty, .algo = CLT_SOFTMAX_TWO_PASS};
    three.op.u.softmax = (clt_softmax_args){.x = tx, .y = ty, .algo = CLT_SOFTMAX_THREE_PASS};
    bench_op_describe(&two, row->kernel_two_pass, sizeof row->kernel_two_pass);
    bench_op_describe(&three, row->kernel_three_pass, sizeof row->kernel_three_pass);
    if (ref) {
        softmax_check *c = &row->check;
        c->tolerance = CHECK_TOLERANCE;
        c->ran = check_algo(&two, y, got, ref, n, &c->two_pass_error) &&
                 check_algo(&three, y, got, ref, n, &c->three_pass_error);
        c->ok = c->two_pass_error <= CHECK_TOLERANCE && c->three_pass_error <= CHECK_TOLERANCE;
    }
    while (calls[0] || calls[1] || calls[2]) {
        if (bench_measure_rounds(3, calls, users, samples, opts->repeat, &failed))
            break;
        snprintf(results[failed]->note, sizeof results[failed]->note, "failed: %.150s",
                 errors[failed]);
        calls[failed] = NULL;
    }
    for (int i = 0; i < 3; i++) {
        if (calls[i])
            results[i]->samples = samples[i];
        bench_result_finish(results[i], work[i]);
    }
    if (clt_context_stats(ctx, &after) == CLT_OK)
        row->fallback = after.ops_fallback > before.ops_fallback;
    ok = calls[0] && calls[1] && (!row->check.ran || row->check.ok);
done:
    clt_buffer_destroy(x);
    clt_buffer_destroy(y);
    return ok;
}

/* ---- the run ------------------------------------------------------------------------ */

static void progress(const softmax_row *row)
{
    char shape[48], a[24], b[24], c[24], r[24];
    fprintf(stderr, "clt-bench: %-12s %-4s two-pass %8s  three-pass %8s  copy %8s GB/s  %s\n",
            softmax_shape_format(&row->shape, shape, sizeof shape), clt_dtype_name(row->dtype),
            bench_cell_rate(&row->two_pass, a, sizeof a),
            bench_cell_rate(&row->three_pass, b, sizeof b),
            bench_cell_rate(&row->copy, c, sizeof c),
            bench_cell_ratio(row->two_over_three, r, sizeof r));
}

static double rate_ratio(const bench_result *x, const bench_result *y)
{
    return x->ran && y->ran && y->rate > 0 ? x->rate / y->rate : NAN;
}

int bench_softmax_run(const softmax_bench_opts *opts, softmax_report *rep)
{
    clt_context *ctx = NULL;
    float *x = NULL, *ref = NULL, *got = NULL;
    bool failed = false;
    uint64_t seed = 42;

    rep->repeat = opts->repeat;
    if (bench_open_context(opts->device, &ctx, &rep->device, rep->error, sizeof rep->error) !=
        CLT_OK) {
        failed = true;
        goto done;
    }
    for (int i = 0; i < opts->n_shapes; i++) {
        const softmax_shape *s = &opts->shapes[i];
        const size_t n = (size_t)(s->rows * s->cols);
        x = malloc(n * sizeof *x);
        ref = malloc(n * sizeof *ref);
        got = malloc(n * sizeof *got);
        if (!x || !ref || !got) {
            snprintf(rep->error, sizeof rep->error, "out of host memory for %lldx%lld",
                     (long long)s->rows, (long long)s->cols);
            failed = true;
            goto done;
        }
        bench_fill_random(x, n, &seed);
        for (size_t j = 0; j < n; j++)
            x[j] *= INPUT_RANGE;
        if (opts->dtypes[CLT_DTYPE_F32])
            softmax_reference(x, ref, s->rows, s->cols);
        for (int d = 0; d < CLT_FLOAT_DTYPE_COUNT; d++) {
            if (!opts->dtypes[d])
                continue;
            softmax_row *row = &rep->rows[rep->n_rows++];
            const double row_bytes = (double)n * (double)clt_dtype_size((clt_dtype)d);
            row->shape = *s;
            row->dtype = (clt_dtype)d;
            row->two_pass_bytes = 3.0 * row_bytes;   /* 2 reads + 1 write */
            row->three_pass_bytes = 4.0 * row_bytes; /* 3 reads + 1 write */
            row->copy_bytes = 2.0 * row_bytes;       /* 1 read + 1 write */
            if (!measure_row(ctx, opts, x, d == CLT_DTYPE_F32 ? ref : NULL, got, row))
                failed = true;
            row->two_over_three = bench_result_ratio(&row->two_pass, &row->three_pass);
            row->two_pass_over_copy = rate_ratio(&row->two_pass, &row->copy);
            row->three_pass_over_copy = rate_ratio(&row->three_pass, &row->copy);
            progress(row);
        }
        free(x);
        free(ref);
        free(got);
        x = ref = got = NULL;
    }
done:
    free(x);
    free(ref);
    free(got);
    clt_context_destroy(ctx);
    return failed ? 1 : 0;
}
