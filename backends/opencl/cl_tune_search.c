/* The GEMM search: a short measured choice of parameters for one device.
 *
 * Candidates are a few configurations of the device's kernel family around the
 * built-in defaults (CPU family: register blocks RM×NR and k-unrolling; GPU family:
 * CLBlast-style tilings that fit the device), each timed on the plan's large problems
 * through clt_cl_gemm_enqueue_with on scratch buffers: one warm-up run (which builds the
 * program, or loads it from the program cache), then the median of a few runs. The
 * winner's crossover with the direct kernel is then found on small cubes, and CLBlast,
 * where clt has it, is timed against the winner (on GPUs; on CPUs only when asked, as
 * its first call compiles for seconds there).
 *
 * A candidate that does not build or run is skipped and logged at debug; only a lost
 * device ends the search early. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "backends/opencl/cl_internal.h"

void clt_cl_tune_default_plan(struct clt_cl_tune_plan *plan)
{
    *plan = (struct clt_cl_tune_plan){
        .large = {{512, 512, 512}, {256, 1024, 768}},
        .n_large = 2,
        .crossover = {32, 64, 128, 256},
        .n_crossover = 4,
        .repeats = 5,
    };
}

/* ---- candidates --------------------------------------------------------------------- */

/* On PoCL each candidate costs about 2 s the first time (its program build, then the
 * kernel compiled for the launch at the first enqueue; PoCL's own cache makes it ~0.1 s
 * after that), so the CPU list is short. GPU drivers compile faster. */
#define MAX_CPU_CANDIDATES 4
#define MAX_GPU_CANDIDATES 8
#define MAX_CANDIDATES (MAX_CPU_CANDIDATES + MAX_GPU_CANDIDATES)
#define MAX_REPEATS 15

/* Around the defaults: k unrolled or not, shorter or taller register blocks, 8- or
 * 16-wide: the defaults and the first of these, MAX_CPU_CANDIDATES in all. */
static const struct clt_cl_gemm_cpu_params cpu_candidates[] = {
    {6, 16, 1}, {4, 16, 1}, {8, 8, 2}, {6, 16, 2}, {8, 16, 1}, {6, 8, 1},
};

/* CLBlast's names: MWG NWG KWG MDIMC NDIMC VWM VWN. Configurations from its tuning
 * database that do well across vendors; those that do not fit the device drop out. */
static const struct clt_cl_gemm_gpu_params gpu_candidates[] = {
    {64, 64, 16, 16, 16, 2, 2},   {32, 32, 16, 8, 8, 2, 2},    {64, 64, 16, 8, 8, 4, 4},
    {128, 128, 16, 16, 16, 4, 4}, {64, 128, 16, 16, 16, 2, 4}, {128, 64, 16, 16, 16, 4, 2},
    {64, 64, 32, 16, 16, 4, 4},   {32, 64, 16, 8, 16, 2, 2},
};

struct candidates {
    struct clt_cl_gemm_params list[MAX_CANDIDATES];
    int count;
};

/* Adds p if it fits the device, is not in the list yet, and its family has room. */
static void add_candidate(const struct clt_cl_device *dev, struct candidates *c,
                          const struct clt_cl_gemm_params *p, int family_max)
{
    int in_family = 0;
    for (int i = 0; i < c->count; i++) {
        const struct clt_cl_gemm_params *q = &c->list[i];
        if (q->family != p->family)
            continue;
        in_family++;
        if (p->family == CLT_CL_GEMM_CPU ? memcmp(&q->cpu, &p->cpu, sizeof p->cpu) == 0
                                         : memcmp(&q->gpu, &p->gpu, sizeof p->gpu) == 0)
            return;
    }
    if (in_family < family_max && c->count < MAX_CANDIDATES && clt_cl_gemm_params_fit(dev, p))
        c->list[c->count++] = *p;
}

/* The defaults of the family first, then the table's configurations. */
static void add_family(const struct clt_cl_device *dev, struct candidates *c,
                       const struct clt_cl_gemm_params *defaults, enum clt_cl_gemm_kernel family)
{
    struct clt_cl_gemm_params p = *defaults;
    p.family = family;
    p.use_clblast = false;
    add_candidate(dev, c, &p, family == CLT_CL_GEMM_CPU ? MAX_CPU_CANDIDATES : MAX_GPU_CANDIDATES);
    if (family == CLT_CL_GEMM_CPU) {
        for (size_t i = 0; i < sizeof cpu_candidates / sizeof cpu_candidates[0]; i++) {
            p.cpu = cpu_candidates[i];
            add_candidate(dev, c, &p, MAX_CPU_CANDIDATES);
        }
    } else {
        for (size_t i = 0; i < sizeof gpu_candidates / sizeof gpu_candidates[0]; i++) {
            p.gpu = gpu_candidates[i];
            add_candidate(dev, c, &p, MAX_GPU_CANDIDATES);
        }
    }
}

/* ---- scratch buffers ---------------------------------------------------------------- */

/* A matrix on the device, wrapped as the runtime buffer a GEMM's tensor names. */
struct scratch_matrix {
    struct clt_cl_mem mem;
    struct clt_buffer buf;
};

struct scratch {
    struct scratch_matrix a, b, c;
};

static clt_status scratch_alloc(struct clt_cl_device *dev, struct scratch_matrix *s,
                                size_t floats)
{
    const size_t bytes = floats * sizeof(float);
    cl_int err = CL_SUCCESS;
    s->mem.buffer = clCreateBuffer(dev->context, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (!s->mem.buffer)
        return clt_cl_fail(dev, err, CLT_ERR_OUT_OF_MEMORY,
                           "clCreateBuffer(%zu bytes for the GEMM search)", bytes);
    s->mem.base = (struct clt_mem){
        .dev = &dev->base, .size = bytes, .tier = CLT_TIER_DEVICE, .impl = &s->mem};
    s->buf = (struct clt_buffer){
        .tier = CLT_TIER_DEVICE, .size = bytes, .mem = &s->mem.base, .fd = -1};
    /* Ones: no denormals or NaNs to slow a candidate down. */
    const cl_float one = 1.0f;
    err = clEnqueueFillBuffer(dev->queue, s->mem.buffer, &one, sizeof one, 0, bytes, 0, NULL,
                              NULL);
    if (err != CL_SUCCESS)
        return clt_cl_fail(dev, err, CLT_ERR_TRANSFER, "clEnqueueFillBuffer(GEMM search)");
    return CLT_OK;
}

static void scratch_release(struct scratch *s)
{
    struct scratch_matrix *all[] = {&s->a, &s->b, &s->c};
    for (int i = 0; i < 3; i++)
        if (all[i]->mem.buffer)
            clReleaseMemObject(all[i]->mem.buffer);
}

/* Room for every problem of the plan. */
static clt_status scratch_make(struct clt_cl_device *dev, const struct clt_cl_tune_plan *plan,
                               struct scratch *s)
{
    size_t a = 1, b = 1, c = 1;
    for (int i = 0; i < plan->n_large; i++) {
        const size_t m = (size_t)plan->large[i].m, n = (size_t)plan->large[i].n;
        const size_t k = (size_t)plan->large[i].k;
        a = m * k > a ? m * k : a;
        b = k * n > b ? k * n : b;
        c = m * n > c ? m * n : c;
    }
    for (int i = 0; i < plan->n_crossover; i++) {
        const size_t n2 = (size_t)plan->crossover[i] * (size_t)plan->crossover[i];
        a = n2 > a ? n2 : a;
        b = n2 > b ? n2 : b;
        c = n2 > c ? n2 : c;
    }
    clt_status status = scratch_alloc(dev, &s->a, a);
    if (status == CLT_OK)
        status = scratch_alloc(dev, &s->b, b);
    if (status == CLT_OK)
        status = scratch_alloc(dev, &s->c, c);
    return status;
}

/* C (M,N) = A (M,K) · B (K,N), f32, row-major, contiguous. */
static void problem(struct scratch *s, int m, int n, int k, clt_gemm_args *g)
{
    const int64_t a_shape[2] = {m, k}, b_shape[2] = {k, n}, c_shape[2] = {m, n};
    memset(g, 0, sizeof *g);
    clt_tensor_init(&g->a, &s->a.buf, 0, CLT_DTYPE_F32, 2, a_shape);
    clt_tensor_init(&g->b, &s->b.buf, 0, CLT_DTYPE_F32, 2, b_shape);
    clt_tensor_init(&g->c, &s->c.buf, 0, CLT_DTYPE_F32, 2, c_shape);
    g->alpha = 1.0f;
    g->beta = 0.0f;
}

/* ---- timing ------------------------------------------------------------------------- */

/* Runs the GEMM once with `kernel` and waits for it; its wall time in *seconds. */
static clt_status run_once(struct clt_cl_device *dev, const clt_gemm_args *g,
                           const struct clt_cl_gemm_params *p, enum clt_cl_gemm_kernel kernel,
                           double *seconds)
{
    cl_event event = NULL;
    const double start = clt_cl_now();
    clt_status status = kernel == CLT_CL_GEMM_CLBLAST
                            ? clt_cl_clblast_enqueue(dev, g, &event)
                            : clt_cl_gemm_enqueue_with(dev, g, p, kernel, &event);
    if (status != CLT_OK)
        return status;
    cl_int err = event ? clWaitForEvents(1, &event) : clFinish(dev->queue);
    cl_int exec = CL_COMPLETE;
    if (event && clGetEventInfo(event, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof exec, &exec,
                                NULL) != CL_SUCCESS)
        exec = CL_COMPLETE;
    *seconds = clt_cl_now() - start;
    if (event)
        clReleaseEvent(event);
    if (exec < 0)
        return clt_cl_fail(dev, exec, CLT_ERR_LAUNCH, "GEMM search run (execution)");
    if (err != CL_SUCCESS)
        return clt_cl_fail(dev, err, CLT_ERR_LAUNCH, "waiting for a GEMM search run");
    return CLT_OK;
}

/* The median of `repeats` runs after a warm-up. A first timed run slower than
 * `give_up` ends it there: the candidate has lost already. */
static clt_status time_gemm(struct clt_cl_device *dev, const clt_gemm_args *g,
                            const struct clt_cl_gemm_params *p, enum clt_cl_gemm_kernel kernel,
                            int repeats, double give_up, double *median)
{
    double t[MAX_REPEATS];
    const int n = repeats < 1 ? 1 : repeats > MAX_REPEATS ? MAX_REPEATS : repeats;
    clt_status status = run_once(dev, g, p, kernel, &t[0]);
    for (int i = 0; i < n && status == CLT_OK; i++) {
        status = run_once(dev, g, p, kernel, &t[i]);
        if (status == CLT_OK && i == 0 && t[0] > give_up) {
            *median = t[0];
            return CLT_OK;
        }
    }
    if (status != CLT_OK)
        return status;
    for (int i = 1; i < n; i++)  /* insertion sort: a handful of values */
        for (int j = i; j > 0 && t[j - 1] > t[j]; j--) {
            double swap = t[j];
            t[j] = t[j - 1];
            t[j - 1] = swap;
        }
    *median = t[n / 2];
    return CLT_OK;
}

/* The summed median time of the plan's large problems; stops adding once it is more
 * than twice `best` (a loser). */
static clt_status score(struct clt_cl_device *dev, struct scratch *s,
                        const struct clt_cl_tune_plan *plan, const struct clt_cl_gemm_params *p,
                        enum clt_cl_gemm_kernel kernel, double best, double *total)
{
    *total = 0;
    for (int i = 0; i < plan->n_large && *total <= 2 * best; i++) {
        clt_gemm_args g;
        double t = 0;
        problem(s, plan->large[i].m, plan->large[i].n, plan->large[i].k, &g);
        clt_status status = time_gemm(dev, &g, p, kernel, plan->repeats, 2 * best, &t);
        if (status != CLT_OK)
            return status;
        *total += t;
    }
    return CLT_OK;
}

static double plan_flops(const struct clt_cl_tune_plan *plan)
{
    double flops = 0;
    for (int i = 0; i < plan->n_large; i++)
        flops += 2.0 * plan->large[i].m * plan->large[i].n * plan->large[i].k;
    return flops;
}

/* ---- the search --------------------------------------------------------------------- */

/* Sets p->direct_below_flops to the smallest measured cube from which on the family
 * beats the direct kernel at every larger measured size. */
static clt_status find_crossover(struct clt_cl_device *dev, struct scratch *s,
                                 const struct clt_cl_tune_plan *plan,
                                 struct clt_cl_gemm_params *p)
{
    bool wins[CLT_CL_TUNE_MAX_CROSSOVER] = {false};
    const int count = plan->n_crossover < CLT_CL_TUNE_MAX_CROSSOVER ? plan->n_crossover
                                                                     : CLT_CL_TUNE_MAX_CROSSOVER;
    if (count < 1)
        return CLT_OK;
    for (int i = 0; i < count; i++) {
        const int n = plan->crossover[i];
        clt_gemm_args g;
        double direct = 0, family = 0;
        problem(s, n, n, n, &g);
        clt_status status = time_gemm(dev, &g, p, CLT_CL_GEMM_DIRECT, plan->repeats, INFINITY,
                                      &direct);
        if (status == CLT_ERR_DEVICE_LOST)
            return status;
        if (status != CLT_OK) {  /* no direct kernel here: the family takes everything */
            clt_cl_log(dev, CLT_LOG_DEBUG, "GEMM search: the direct kernel fails at %d^3: %s",
                       n, clt_last_error());
            p->direct_below_flops = 0;
            return CLT_OK;
        }
        status = time_gemm(dev, &g, p, p->family, plan->repeats, INFINITY, &family);
        if (status == CLT_ERR_DEVICE_LOST)
            return status;
        wins[i] = status == CLT_OK && family < direct;
        clt_cl_log(dev, CLT_LOG_DEBUG, "GEMM search: %d^3: direct %.3f ms, %s %.3f ms", n,
                   direct * 1e3, p->family == CLT_CL_GEMM_CPU ? "cpu" : "gpu",
                   status == CLT_OK ? family * 1e3 : NAN);
    }
    int from = count;
    while (from > 0 && wins[from - 1])
        from--;
    const double edge = plan->crossover[from < count ? from : count - 1];
    /* The family never won: every measured size runs direct, larger ones the family. */
    p->direct_below_flops = from < count ? 2.0 * edge * edge * edge : 2.0 * edge * edge * edge + 1;
    return CLT_OK;
}

clt_status clt_cl_gemm_search(struct clt_cl_device *dev, const struct clt_cl_tune_plan *plan,
                              unsigned flags, struct clt_cl_gemm_params *out)
{
    clt_status status = CLT_OK;
    struct scratch s;
    memset(&s, 0, sizeof s);
    struct clt_cl_gemm_params defaults;
    clt_cl_gemm_default_params(dev, &defaults);
    const bool cpu = dev->info.type == CLT_DEVICE_TYPE_CPU;
    const double start = clt_cl_now();

    struct candidates c = {.count = 0};
    add_family(dev, &c, &defaults, cpu ? CLT_CL_GEMM_CPU : CLT_CL_GEMM_GPU);
    if (flags & CLT_TUNE_PEERS)
        add_family(dev, &c, &defaults, cpu ? CLT_CL_GEMM_GPU : CLT_CL_GEMM_CPU);

    status = scratch_make(dev, plan, &s);
    if (status != CLT_OK)
        goto done;

    int best = -1, ran = 0;
    double best_time = INFINITY;
    char last_failure[512] = "";
    for (int i = 0; i < c.count; i++) {
        char text[512];
        double t = 0;
        clt_cl_gemm_params_format(&c.list[i], text, sizeof text);
        status = score(dev, &s, plan, &c.list[i], c.list[i].family, best_time, &t);
        if (status == CLT_ERR_DEVICE_LOST)
            goto done;
        if (status != CLT_OK) {
            snprintf(last_failure, sizeof last_failure, "%s", clt_last_error());
            clt_cl_log(dev, CLT_LOG_DEBUG, "GEMM search: skipping %s: %s", text, last_failure);
            status = CLT_OK;
            continue;
        }
        ran++;
        clt_cl_log(dev, CLT_LOG_DEBUG, "GEMM search: %s: %.2f ms", text, t * 1e3);
        if (t < best_time) {
            best_time = t;
            best = i;
        }
    }
    if (best < 0) {
        status = clt_fail(CLT_ERR_UNSUPPORTED,
                          "%s: GEMM search: none of the %d candidates ran; the last failure: %s",
                          dev->label, c.count, last_failure[0] ? last_failure : "(none)");
        goto done;
    }
    struct clt_cl_gemm_params p = c.list[best];
    status = find_crossover(dev, &s, plan, &p);
    if (status != CLT_OK)
        goto done;

    double clblast_time = INFINITY;
    clt_gemm_args g;
    problem(&s, plan->large[0].m, plan->large[0].n, plan->large[0].k, &g);
    if ((!cpu || (flags & CLT_TUNE_PEERS)) && clt_cl_clblast_supports(dev, &g)) {
        status = score(dev, &s, plan, &p, CLT_CL_GEMM_CLBLAST, INFINITY, &clblast_time);
        if (status == CLT_ERR_DEVICE_LOST)
            goto done;
        if (status != CLT_OK) {
            clt_cl_log(dev, CLT_LOG_DEBUG, "GEMM search: CLBlast fails: %s", clt_last_error());
            clblast_time = INFINITY;
            status = CLT_OK;
        }
        p.use_clblast = clblast_time < best_time;
    }

    char text[512], clblast[96] = "";
    const double flops = plan_flops(plan);
    clt_cl_gemm_params_format(&p, text, sizeof text);
    if (isfinite(clblast_time))
        snprintf(clblast, sizeof clblast, "; CLBlast %.1f GFLOP/s (%s)",
                 flops / clblast_time * 1e-9, p.use_clblast ? "used" : "not used");
    clt_cl_log(dev, CLT_LOG_INFO,
               "GEMM search: %d of %d candidates ran in %.1f s; best %.1f GFLOP/s%s: %s", ran,
               c.count, clt_cl_now() - start, flops / best_time * 1e-9, clblast, text);
    *out = p;
done:
    scratch_release(&s);
    return status;
}
