/* clt-bench optim (bench_optim.h): measuring and reporting. */
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_clt.h"
#include "bench/bench_optim.h"
#include "bench/bench_rounds.h"
#include "common/json_writer.h"

#define BYTES_PER_PARAM 28.0 /* AdamW f32: read p, g, m, v; write p, m, v */
#define MAX_THREADS 256

static const char *const row_names[OPTIM_ROWS] = {
    "host_adamw_f32", "triad_28B", "scalar_1thread", "host_adamw_q8", "host_adamw_q8_b2048",
    "device_adamw_f32", "device_adamw_q8"};
static const char *const row_titles[OPTIM_ROWS] = {
    "clt host AdamW f32", "triad 28 B/param", "scalar C loop, 1 thread", "clt host AdamW q8",
    "host AdamW q8 b2048", "device AdamW f32", "device AdamW q8"};

/* ---- the roofline and the scalar loop ------------------------------------------------ */

struct arrays {
    float *p, *g, *m, *v;
    size_t n;
    int threads;
    atomic_size_t next;        /* the triad's next task */
    pthread_barrier_t go, done; /* a round starts and ends with every thread */
    sem_t gate;                 /* members wait here until the barriers are made */
    bool team_made, quit;
    pthread_t team[MAX_THREADS];
    int started;               /* threads of the team running, the caller not counted */
};

/* Elements per triad task: threads take tasks as they come free, as clt's pool does,
 * so a thread the OS preempts on a shared machine does not hold the others up. */
#define TRIAD_TASK 65536
/* Four floats: SSE on x86-64, NEON on aarch64, without target attributes. */
typedef float triad_v4 __attribute__((vector_size(16)));

/* The triad: the same bytes as AdamW, the least arithmetic. */
static void triad_tasks(struct arrays *a)
{
    float *restrict p = a->p, *restrict m = a->m, *restrict v = a->v;
    const float *restrict g = a->g;
    const float x = 1e-7f;
    for (;;) {
        const size_t lo = atomic_fetch_add(&a->next, TRIAD_TASK);
        if (lo >= a->n)
            return;
        const size_t hi = a->n - lo < TRIAD_TASK ? a->n : lo + TRIAD_TASK;
        /* explicit vectors: a compiler left to itself may keep the scalar loop behind
         * an alias check, and then the triad measures the arithmetic, not the memory */
        size_t i = lo;
        for (; i + 4 <= hi; i += 4) {
            triad_v4 pv, gv, mv, vv;
            memcpy(&pv, p + i, sizeof pv);
            memcpy(&gv, g + i, sizeof gv);
            memcpy(&mv, m + i, sizeof mv);
            memcpy(&vv, v + i, sizeof vv);
            pv = pv + x * gv;
            mv = mv + x * vv;
            vv = vv + x * gv;
            memcpy(p + i, &pv, sizeof pv);
            memcpy(m + i, &mv, sizeof mv);
            memcpy(v + i, &vv, sizeof vv);
        }
        for (; i < hi; i++) {
            const float gi = g[i], vi = v[i];
            p[i] = p[i] + x * gi;
            m[i] = m[i] + x * vi;
            v[i] = vi + x * gi;
        }
    }
}

/* The team's threads live for the whole bench, each pinned to its own CPU as clt's host
 * workers are, so the roofline pays neither thread starts nor migrations: what it
 * measures is the memory. */
static void *triad_member(void *arg)
{
    struct arrays *a = arg;
    sem_wait(&a->gate);
    for (;;) {
        pthread_barrier_wait(&a->go);
        if (a->quit)
            return NULL;
        triad_tasks(a);
        pthread_barrier_wait(&a->done);
    }
}

static void pin_to_nth_cpu(pthread_t thread, int nth)
{
    cpu_set_t allowed, one;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0)
        return;
    for (int cpu = 0, seen = 0; cpu < CPU_SETSIZE; cpu++)
        if (CPU_ISSET(cpu, &allowed) && seen++ == nth) {
            CPU_ZERO(&one);
            CPU_SET(cpu, &one);
            (void)pthread_setaffinity_np(thread, sizeof one, &one);
            return;
        }
}

/* The barriers count the threads that did start, so a thread that could not start
 * leaves a smaller team (said in the report), never a round waiting for it. */
static void triad_team_start(struct arrays *a)
{
    sem_init(&a->gate, 0, 0);
    for (int t = 1; t < a->threads; t++) {
        if (pthread_create(&a->team[t], NULL, triad_member, a) != 0)
            break;
        a->started = t;
        pin_to_nth_cpu(a->team[t], t);
    }
    a->threads = a->started + 1;
    pthread_barrier_init(&a->go, NULL, (unsigned)a->threads);
    pthread_barrier_init(&a->done, NULL, (unsigned)a->threads);
    a->team_made = true;
    for (int t = 0; t < a->started; t++)
        sem_post(&a->gate);
}

static void triad_team_stop(struct arrays *a)
{
    if (!a->team_made)
        return;
    a->quit = true;
    if (a->threads > 1)
        pthread_barrier_wait(&a->go);
    for (int t = 1; t <= a->started; t++)
        pthread_join(a->team[t], NULL);
    pthread_barrier_destroy(&a->go);
    pthread_barrier_destroy(&a->done);
    sem_destroy(&a->gate);
}

static bool run_triad(void *user)
{
    struct arrays *a = user;
    atomic_store(&a->next, 0);
    if (a->threads > 1)
        pthread_barrier_wait(&a->go);
    triad_tasks(a);
    if (a->threads > 1)
        pthread_barrier_wait(&a->done);
    return true;
}

/* What an optimizer written without care runs: one thread, one element at a time (the
 * compiler's vectorizer is kept off, so "scalar" means scalar). */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("no-tree-vectorize")))
#endif
static bool run_scalar(void *user)
{
    const struct arrays *a = user;
    const float b1 = 0.9f, b2 = 0.999f, lr = 1e-3f, eps = 1e-8f, wd = 0.01f;
    const float bc1 = 0.1f, bc2 = 0.001f;
    for (size_t i = 0; i < a->n; i++) {
        const float g = a->g[i];
        a->m[i] = b1 * a->m[i] + (1.0f - b1) * g;
        a->v[i] = b2 * a->v[i] + (1.0f - b2) * g * g;
        a->p[i] -= lr * ((a->m[i] / bc1) / (sqrtf(a->v[i] / bc2) + eps) + wd * a->p[i]);
    }
    return true;
}

static int cpu_count(void)
{
    cpu_set_t set;
    int n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
    return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : n;
}

/* ---- clt's AdamW ------------------------------------------------------------------- */

struct adam_set {
    clt_buffer *buf[6]; /* p, g, m, v, m_absmax, v_absmax */
};

static void adam_set_free(struct adam_set *s)
{
    for (int i = 0; i < 6; i++)
        clt_buffer_destroy(s->buf[i]);
}

static clt_status vec(clt_tensor *t, clt_buffer *b, clt_dtype dt, size_t n)
{
    memset(t, 0, sizeof *t);
    return b ? clt_tensor_init(t, b, 0, dt, 1, (const int64_t[]){(int64_t)n}) : CLT_OK;
}

/* p, g from `init` (zero states) on ctx's device, and the AdamW op over them. */
static clt_status adam_make(clt_context *ctx, bool q8, int32_t block, const float *p,
                            const float *g, const void *zeros, size_t n, struct adam_set *s,
                            clt_op *op)
{
    const size_t blocks = (n + (size_t)block - 1) / (size_t)block;
    const size_t state = q8 ? n : n * sizeof(float);
    clt_status st = bench_upload(ctx, CLT_DTYPE_F32, p, n, &s->buf[0]);
    if (st == CLT_OK)
        st = bench_upload(ctx, CLT_DTYPE_F32, g, n, &s->buf[1]);
    for (int i = 2; i < 4 && st == CLT_OK; i++) {
        st = clt_buffer_create(ctx, state, CLT_TIER_DEVICE, &s->buf[i]);
        if (st == CLT_OK)
            st = clt_buffer_write(s->buf[i], 0, zeros, state, NULL);
    }
    for (int i = 4; i < 6 && q8 && st == CLT_OK; i++) {
        st = clt_buffer_create(ctx, blocks * sizeof(float), CLT_TIER_DEVICE, &s->buf[i]);
        if (st == CLT_OK)
            st = clt_buffer_write(s->buf[i], 0, zeros, blocks * sizeof(float), NULL);
    }
    memset(op, 0, sizeof *op);
    op->kind = CLT_OP_ADAMW;
    clt_adamw_args *a = &op->u.adamw;
    const clt_dtype sd = q8 ? CLT_DTYPE_U8 : CLT_DTYPE_F32;
    if (st == CLT_OK)
        st = vec(&a->param, s->buf[0], CLT_DTYPE_F32, n);
    if (st == CLT_OK)
        st = vec(&a->grad, s->buf[1], CLT_DTYPE_F32, n);
    if (st == CLT_OK)
        st = vec(&a->m, s->buf[2], sd, n);
    if (st == CLT_OK)
        st = vec(&a->v, s->buf[3], sd, n);
    if (st == CLT_OK)
        st = vec(&a->m_absmax, s->buf[4], CLT_DTYPE_F32, blocks);
    if (st == CLT_OK)
        st = vec(&a->v_absmax, s->buf[5], CLT_DTYPE_F32, blocks);
    a->block = block;
    a->h = (clt_optim_hparams){.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                               .weight_decay = 0.01f, .step = 1, .grad_scale = 1.0f};
    return st;
}

/* ---- the run ------------------------------------------------------------------------ */

int bench_optim_run(const optim_bench_opts *opts, optim_report *rep)
{
    const size_t n = (size_t)opts->params;
    clt_context *host = NULL, *dev = NULL;
    struct arrays arr = {.n = n, .threads = cpu_count()};
    struct adam_set sets[OPTIM_ROWS];
    bench_op_call ops[OPTIM_ROWS];
    bench_call calls[OPTIM_ROWS] = {NULL};
    void *users[OPTIM_ROWS] = {NULL};
    bench_samples *samples = calloc(OPTIM_ROWS, sizeof *samples);
    float *p0 = malloc(n * sizeof *p0), *g0 = malloc(n * sizeof *g0);
    void *zeros = calloc(n, sizeof(float));
    char dev_error[512] = "";
    bool failed = false;
    uint64_t seed = 7;

    memset(sets, 0, sizeof sets);
    memset(ops, 0, sizeof ops);
    rep->params = opts->params;
    rep->repeat = opts->repeat;
    rep->triad_threads = arr.threads;
    rep->q8_state_bytes = 2.0 + 2.0 * sizeof(float) / CLT_Q8_DEFAULT_BLOCK;
    rep->q8_2048_state_bytes = 2.0 + 2.0 * sizeof(float) / 2048;
    for (int r = 0; r < OPTIM_ROWS; r++)
        rep->of_roofline[r] = NAN;
    rep->speedup_over_scalar = NAN;
    arr.p = malloc(n * sizeof(float));
    arr.g = malloc(n * sizeof(float));
    arr.m = calloc(n, sizeof(float));
    arr.v = calloc(n, sizeof(float));
    if (!samples || !p0 || !g0 || !zeros || !arr.p || !arr.g || !arr.m || !arr.v) {
        snprintf(rep->error, sizeof rep->error, "out of host memory for %zu parameters", n);
        failed = true;
        goto done;
    }
    bench_fill_random(p0, n, &seed);
    bench_fill_random(g0, n, &seed);
    memcpy(arr.p, p0, n * sizeof(float));
    memcpy(arr.g, g0, n * sizeof(float));
    if (bench_open_context("host", &host, &rep->host, rep->error, sizeof rep->error) != CLT_OK) {
        failed = true;
        goto done;
    }
    if (opts->device && strcmp(opts->device, "host") == 0) {
        snprintf(dev_error, sizeof dev_error, "skipped: --device is the host");
    } else if (bench_open_context(opts->device, &dev, &rep->device, dev_error,
                                  sizeof dev_error) != CLT_OK) {
        /* dev_error says why; the host rows still run */
    } else if (rep->device.type == CLT_DEVICE_TYPE_HOST) {
        snprintf(dev_error, sizeof dev_error, "skipped: the device is the host");
    }
    triad_team_start(&arr);
    rep->triad_threads = arr.threads;
    calls[OPTIM_TRIAD] = run_triad;
    users[OPTIM_TRIAD] = &arr;
    calls[OPTIM_SCALAR] = run_scalar;
    users[OPTIM_SCALAR] = &arr;
    for (int r = 0; r < OPTIM_ROWS; r++) {
        const bool on_device = r == OPTIM_DEVICE_F32 || r == OPTIM_DEVICE_Q8;
        if (r == OPTIM_TRIAD || r == OPTIM_SCALAR)
            continue;
        if (on_device && dev_error[0]) {
            snprintf(rep->rows[r].note, sizeof rep->rows[r].note, "%.150s", dev_error);
            continue;
        }
        ops[r].ctx = on_device ? dev : host;
        const bool q8 = r == OPTIM_HOST_Q8 || r == OPTIM_HOST_Q8_2048 || r == OPTIM_DEVICE_Q8;
        const int32_t block = r == OPTIM_HOST_Q8_2048 ? 2048 : CLT_Q8_DEFAULT_BLOCK;
        if (adam_make(ops[r].ctx, q8, block, p0, g0, zeros, n, &sets[r], &ops[r].op) !=
            CLT_OK) {
            snprintf(rep->rows[r].note, sizeof rep->rows[r].note, "failed: %.150s",
                     clt_last_error());
            failed = true;
            continue;
        }
        calls[r] = bench_op_run;
        users[r] = &ops[r];
    }
    int bad = -1;
    while (!bench_measure_rounds(OPTIM_ROWS, calls, users, samples, opts->repeat, &bad)) {
        snprintf(rep->rows[bad].note, sizeof rep->rows[bad].note, "failed: %.150s",
                 ops[bad].error);
        calls[bad] = NULL;
        failed = true;
    }
    for (int r = 0; r < OPTIM_ROWS; r++) {
        if (calls[r])
            rep->rows[r].samples = samples[r];
        bench_result_finish(&rep->rows[r], (double)n);
    }
    for (int r = 0; r < OPTIM_ROWS; r++)
        rep->of_roofline[r] = bench_result_ratio(&rep->rows[r], &rep->rows[OPTIM_TRIAD]);
    rep->speedup_over_scalar =
        bench_result_ratio(&rep->rows[OPTIM_HOST_F32], &rep->rows[OPTIM_SCALAR]);
done:
    triad_team_stop(&arr);
    for (int r = 0; r < OPTIM_ROWS; r++)
        adam_set_free(&sets[r]);
    clt_context_destroy(dev);
    clt_context_destroy(host);
    free(samples);
    free(p0);
    free(g0);
    free(zeros);
    free(arr.p);
    free(arr.g);
    free(arr.m);
    free(arr.v);
    return failed ? 1 : 0;
}

/* ---- reporting ---------------------------------------------------------------------- */

void bench_optim_text(const optim_report *rep, FILE *out)
{
    char ms[32], rate[32], roof[32];
    if (!bench_text_header(out, "optim", &rep->host, rep->error))
        return;
    fprintf(out, "%lld parameters, %d timed rounds, medians; roofline: the triad on %d "
                 "threads, %.0f bytes/param\n",
            (long long)rep->params, rep->repeat, rep->triad_threads, BYTES_PER_PARAM);
    fprintf(out, "device rows: %s\n\n", rep->device.device_name[0] ? rep->device.device_name
                                                                   : "-");
    fprintf(out, "%-24s %10s %9s %9s %10s  %s\n", "", "ms", "Gparam/s", "GB/s*", "roofline",
            "note");
    for (int r = 0; r < OPTIM_ROWS; r++) {
        const bench_result *b = &rep->rows[r];
        char gbs[32] = "-";
        if (b->ran)
            snprintf(gbs, sizeof gbs, "%.1f", b->rate * BYTES_PER_PARAM);
        snprintf(roof, sizeof roof, isnan(rep->of_roofline[r]) ? "-" : "%.2f",
                 rep->of_roofline[r]);
        fprintf(out, "%-24s %10s %9s %9s %10s  %s\n", row_titles[r],
                bench_cell_ms(b, ms, sizeof ms), bench_cell_rate(b, rate, sizeof rate), gbs,
                roof, b->note);
    }
    fprintf(out, "\n* GB/s at AdamW f32's 28 bytes per parameter (the q8 rows move fewer).\n");
    fprintf(out, "host AdamW f32 over the scalar loop: %.2fx\n", rep->speedup_over_scalar);
    fprintf(out, "q8 AdamW state: %.5f bytes/param at block %d, %.5f at block 2048 (2 codes "
                 "+ 2 f32 absmax per block)\n",
            rep->q8_state_bytes, CLT_Q8_DEFAULT_BLOCK, rep->q8_2048_state_bytes);
}

bool bench_optim_json(const optim_report *rep, FILE *out)
{
    json_writer w;
    json_init(&w, out, true);
    bench_json_begin(&w, "optim", &rep->host, rep->repeat);
    json_kv_int(&w, "params", rep->params);
    json_kv_int(&w, "triad_threads", rep->triad_threads);
    json_kv_double(&w, "bytes_per_param", BYTES_PER_PARAM);
    json_key(&w, "optim_device");
    if (rep->device.device_name[0])
        json_string(&w, rep->device.device_name);
    else
        json_null(&w);
    json_key(&w, "rows");
    json_begin_object(&w);
    for (int r = 0; r < OPTIM_ROWS; r++)
        bench_json_result(&w, row_names[r], "gparams_per_s", &rep->rows[r]);
    json_end_object(&w);
    bench_json_doubles(&w, "of_roofline", row_names, rep->of_roofline, OPTIM_ROWS);
    json_kv_double(&w, "speedup_over_scalar", rep->speedup_over_scalar);
    json_kv_double(&w, "q8_state_bytes_per_param", rep->q8_state_bytes);
    json_kv_double(&w, "q8_b2048_state_bytes_per_param", rep->q8_2048_state_bytes);
    json_kv_int(&w, "q8_block", CLT_Q8_DEFAULT_BLOCK);
    return bench_json_end(&w, rep->error);
}
