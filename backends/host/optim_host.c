/* Optimizer steps and 8-bit quantization on the host (include/clt/op.h): the reference
 * the device kernels are checked against, and the path offloaded training runs its
 * optimizer on. Arithmetic is f32 in a fixed order, element by element, so a range of a
 * tensor updates exactly as the same elements of the whole tensor do.
 *
 * The tensor is cut into tasks of whole chunks, a fixed partition that depends on the
 * element count and the chunk size only; the device's threads take tasks in any order
 * (host_threads.h). A chunk is one quantization block with q8 states (dequantize,
 * update, requantize), else CHUNK elements updated in place, through the per-element
 * loops, the q8 codec and the f16/bf16 copy of the best SIMD level (optim_simd.h).
 * Since every element's arithmetic is the same at every level and LAMB's norms are
 * summed per task and then in task order, the result is the same bits for any thread
 * count and any level. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/host/host_driver.h"
#include "backends/host/host_threads.h"
#include "backends/host/optim_simd.h"
#include "backends/host/quant8.h"
#include "runtime/dtype_access.h"
#include "runtime/error.h"
#include "runtime/ops.h"

#define CHUNK 4096
/* Elements per task, at least: large enough that handing out a task costs nothing next
 * to running it, small enough that a layer-sized tensor feeds every thread. */
#define TASK_MIN 65536

/* One state tensor (m, v or momentum): f32 in place, or q8 codes and absmax. */
struct state {
    float *f32;            /* the f32 tensor, or NULL for q8 or absent */
    uint8_t *codes;        /* q8: the codes and one absmax per block */
    float *absmax;
    struct clt_q8_codebook cb; /* the map and its search tables, made once per op */
};

static void state_init(struct state *s, const clt_tensor *t, const clt_tensor *absmax,
                       bool is_signed)
{
    memset(s, 0, sizeof *s);
    if (!t->buf)
        return;
    if (t->dtype == CLT_DTYPE_F32) {
        s->f32 = clt_host_tensor_data(t);
        return;
    }
    s->codes = clt_host_tensor_data(t);
    s->absmax = clt_host_tensor_data(absmax);
    clt_q8_codebook_init(&s->cb, is_signed);
}

/* The f32 values of elements [at, at + len), chunk number `c`: the tensor itself, or
 * the block dequantized into `scratch` by the level's codec; NULL for an absent state. */
static float *state_load(const struct clt_optim_kernels *kern, const struct state *s,
                         size_t at, size_t len, size_t c, float *scratch)
{
    if (s->f32)
        return s->f32 + at;
    if (!s->codes)
        return NULL;
    kern->q8_dequantize(&s->cb, s->codes + at, s->absmax + c, len, len, scratch);
    return scratch;
}

static void state_store(const struct clt_optim_kernels *kern, const struct state *s,
                        size_t at, size_t len, size_t c, const float *values)
{
    if (s->codes)
        kern->q8_quantize(&s->cb, values, len, len, s->codes + at, s->absmax + c);
}

/* Whether the gate lets the step through: absent, or finite. */
static bool gate_open(const clt_tensor *gate)
{
    return !gate->buf || isfinite(*(const float *)clt_host_tensor_data(gate));
}

/* Bias corrections 1 − β^step, in double and rounded once. */
static float bias_correction(float beta, int64_t step)
{
    return (float)(1.0 - pow((double)beta, (double)step));
}

enum pass {
    ADAMW,      /* moments and parameter */
    LAMB_NORMS, /* moments; sums of p² and u² (u from the moments as stored) */
    LAMB_APPLY, /* p -= lr·(trust·u) */
    SGD,
};

/* Per-worker scratch, in floats, each `chunk` long. */
enum { SCRATCH_M, SCRATCH_V, SCRATCH_G, SCRATCH_U, SCRATCH_SLOTS };

/* One pass over a tensor, as the tasks see it. */
struct job {
    enum pass pass;
    const struct clt_optim_kernels *kern;
    struct clt_adam_k adam;
    struct clt_sgd_k sgd;
    float trust;
    float *p;
    const void *grad;
    clt_dtype grad_dtype;
    void *copy;             /* param_copy or NULL */
    clt_dtype copy_dtype;
    struct state m, v;      /* SGD: m is the momentum */
    size_t n, chunk, task;  /* elements; per chunk; per task (a multiple of chunk) */
    float *scratch;         /* SCRATCH_SLOTS · chunk floats per worker, or NULL */
    double *sums;           /* LAMB_NORMS: 2 per task */
};

/* The f32 gradient of [at, at + len): the tensor itself, or widened into scratch. */
static const float *grad_of(const struct job *j, size_t at, size_t len, float *scratch)
{
    if (j->grad_dtype == CLT_DTYPE_F32)
        return (const float *)j->grad + at;
    for (size_t i = 0; i < len; i++)
        scratch[i] = clt_load_elem(j->grad_dtype, j->grad, at + i);
    return scratch;
}

/* The working copy of the updated p[0, len), elements [at, at + len) of param_copy. */
static void copy_out(const struct job *j, const float *p, size_t at, size_t len)
{
    switch (j->copy_dtype) {
    case CLT_DTYPE_F16:
        j->kern->to_f16(p, (uint16_t *)j->copy + at, len);
        break;
    case CLT_DTYPE_BF16:
        j->kern->to_bf16(p, (uint16_t *)j->copy + at, len);
        break;
    default:
        for (size_t i = 0; i < len; i++)
            clt_store_elem(j->copy_dtype, j->copy, at + i, p[i]);
        break;
    }
}

/* One chunk of the job's pass; sums (LAMB_NORMS) accumulates the chunk's squares. */
static void run_chunk(const struct job *j, size_t at, size_t len, float *scratch,
                      double sums[2])
{
    const size_t c = at / j->chunk;
    float *p = j->p + at;
    float *sm = scratch ? scratch + SCRATCH_M * j->chunk : NULL;
    float *sv = scratch ? scratch + SCRATCH_V * j->chunk : NULL;
    float *sg = scratch ? scratch + SCRATCH_G * j->chunk : NULL;
    float *su = scratch ? scratch + SCRATCH_U * j->chunk : NULL;
    const struct clt_optim_kernels *kern = j->kern;
    float *m = state_load(kern, &j->m, at, len, c, sm);
    float *v = j->pass == SGD ? NULL : state_load(kern, &j->v, at, len, c, sv);
    switch (j->pass) {
    case ADAMW:
        kern->adam_step(&j->adam, p, grad_of(j, at, len, sg), m, v, len);
        state_store(kern, &j->m, at, len, c, m);
        state_store(kern, &j->v, at, len, c, v);
        break;
    case LAMB_NORMS:
        kern->adam_moments(&j->adam, grad_of(j, at, len, sg), m, v, len);
        state_store(kern, &j->m, at, len, c, m);
        state_store(kern, &j->v, at, len, c, v);
        m = state_load(kern, &j->m, at, len, c, sm); /* u from the moments as stored */
        v = state_load(kern, &j->v, at, len, c, sv);
        kern->adam_direction(&j->adam, p, m, v, su, len);
        for (size_t i = 0; i < len; i++) {
            sums[0] += (double)p[i] * p[i];
            sums[1] += (double)su[i] * su[i];
        }
        return; /* p is unchanged: no copy */
    case LAMB_APPLY:
        kern->adam_direction(&j->adam, p, m, v, su, len);
        for (size_t i = 0; i < len; i++)
            p[i] -= j->adam.lr * (j->trust * su[i]);
        break;
    case SGD:
        kern->sgd_step(&j->sgd, p, grad_of(j, at, len, sg), m, len);
        state_store(kern, &j->m, at, len, c, m);
        break;
    }
    if (j->copy)
        copy_out(j, p, at, len);
}

static void run_task(void *user, size_t task, int worker)
{
    const struct job *j = user;
    float *scratch = j->scratch ? j->scratch + (size_t)worker * SCRATCH_SLOTS * j->chunk : NULL;
    double sums[2] = {0.0, 0.0};
    const size_t end = j->n - task * j->task < j->task ? j->n : (task + 1) * j->task;
    for (size_t at = task * j->task; at < end; at += j->chunk)
        run_chunk(j, at, end - at < j->chunk ? end - at : j->chunk, scratch, sums);
    if (j->sums) {
        j->sums[2 * task] = sums[0];
        j->sums[2 * task + 1] = sums[1];
    }
}

static size_t tasks_of(const struct job *j) { return (j->n + j->task - 1) / j->task; }

/* The tensors, the partition and the scratch of one op; the passes are set by the
 * caller. Scratch is needed by q8 states, a gradient that is not f32, and LAMB's u. */
struct prepared {
    struct job job;
    size_t scratch_bytes, sums_bytes;
    bool reserved;
};

static clt_status prepare(struct clt_dev *dev, struct prepared *pr, const char *name,
                          bool q8, bool lamb, int32_t block, int workers)
{
    struct job *j = &pr->job;
    j->chunk = q8 ? (size_t)clt_q8_block_of(block) : CHUNK;
    j->task = j->chunk * ((TASK_MIN + j->chunk - 1) / j->chunk);
    const bool scratch = q8 || lamb || j->grad_dtype != CLT_DTYPE_F32;
    pr->scratch_bytes = scratch ? (size_t)workers * SCRATCH_SLOTS * j->chunk * sizeof(float) : 0;
    pr->sums_bytes = lamb ? 2 * tasks_of(j) * sizeof(double) : 0;
    const size_t bytes = pr->scratch_bytes + pr->sums_bytes;
    if (bytes == 0)
        return CLT_OK;
    clt_status s = clt_dev_reserve(dev, bytes, name);
    if (s != CLT_OK)
        return s;
    pr->reserved = true;
    j->scratch = scratch ? malloc(pr->scratch_bytes) : NULL;
    j->sums = lamb ? malloc(pr->sums_bytes) : NULL;
    if ((scratch && !j->scratch) || (lamb && !j->sums))
        return clt_fail(CLT_ERR_OUT_OF_MEMORY, "%s: no host memory for %zu bytes", name,
                        bytes);
    return CLT_OK;
}

static void release(struct clt_dev *dev, struct prepared *pr)
{
    free(pr->job.scratch);
    free(pr->job.sums);
    if (pr->reserved)
        clt_dev_release(dev, pr->scratch_bytes + pr->sums_bytes);
}

static void io_of(struct job *j, const clt_tensor *param, const clt_tensor *grad,
                  const clt_tensor *copy)
{
    j->p = clt_host_tensor_data(param);
    j->grad = clt_host_tensor_data(grad);
    j->grad_dtype = grad->dtype;
    j->copy = clt_host_tensor_data(copy);
    j->copy_dtype = copy->dtype;
    j->n = (size_t)param->shape[0];
}

static clt_status run_adam_like(struct clt_dev *dev, const clt_adamw_args *a, bool lamb,
                                struct clt_host_pool *pool,
                                const struct clt_optim_kernels *kern)
{
    if (!gate_open(&a->gate))
        return CLT_OK;
    const bool q8 = a->m.dtype == CLT_DTYPE_U8 || a->v.dtype == CLT_DTYPE_U8;
    const clt_optim_hparams *h = &a->h;
    struct prepared pr = {.job = {.kern = kern}};
    struct job *j = &pr.job;
    io_of(j, &a->param, &a->grad, &a->param_copy);
    clt_status s = prepare(dev, &pr, lamb ? "lamb: scratch" : "adamw: scratch", q8, lamb,
                           a->block, clt_host_pool_size(pool));
    if (s != CLT_OK)
        goto done;
    state_init(&j->m, &a->m, &a->m_absmax, true);
    state_init(&j->v, &a->v, &a->v_absmax, false);
    j->adam = (struct clt_adam_k){
        .b1 = h->beta1, .omb1 = 1.0f - h->beta1, .b2 = h->beta2, .omb2 = 1.0f - h->beta2,
        .bc1 = bias_correction(h->beta1, h->step), .bc2 = bias_correction(h->beta2, h->step),
        .eps = h->eps, .wd = h->weight_decay, .lr = h->lr, .gs = h->grad_scale,
    };
    const size_t tasks = tasks_of(j);
    if (!lamb) {
        j->pass = ADAMW;
        clt_host_pool_run(pool, tasks, run_task, j);
        goto done;
    }
    j->pass = LAMB_NORMS;
    clt_host_pool_run(pool, tasks, run_task, j);
    double pn = 0.0, un = 0.0; /* in task order: the same sums for any thread count */
    for (size_t t = 0; t < tasks; t++) {
        pn += j->sums[2 * t];
        un += j->sums[2 * t + 1];
    }
    pn = sqrt(pn);
    un = sqrt(un);
    j->trust = pn > 0 && un > 0 ? (float)(pn / un) : 1.0f;
    j->pass = LAMB_APPLY;
    {
        double *sums = j->sums;
        j->sums = NULL; /* the apply pass sums nothing */
        clt_host_pool_run(pool, tasks, run_task, j);
        j->sums = sums;
    }
done:
    release(dev, &pr);
    return s;
}

static clt_status run_sgd(struct clt_dev *dev, const clt_sgd_args *a,
                          struct clt_host_pool *pool, const struct clt_optim_kernels *kern)
{
    if (!gate_open(&a->gate))
        return CLT_OK;
    const bool q8 = a->momentum.buf && a->momentum.dtype == CLT_DTYPE_U8;
    const clt_optim_hparams *h = &a->h;
    struct prepared pr = {.job = {.kern = kern, .pass = SGD}};
    struct job *j = &pr.job;
    io_of(j, &a->param, &a->grad, &a->param_copy);
    clt_status s = prepare(dev, &pr, "sgd: scratch", q8, false, a->block,
                           clt_host_pool_size(pool));
    if (s != CLT_OK)
        goto done;
    state_init(&j->m, &a->momentum, &a->momentum_absmax, true);
    j->sgd = (struct clt_sgd_k){.b1 = h->beta1, .wd = h->weight_decay, .lr = h->lr,
                                .gs = h->grad_scale, .nesterov = h->nesterov};
    clt_host_pool_run(pool, tasks_of(j), run_task, j);
done:
    release(dev, &pr);
    return s;
}

clt_status clt_host_optim_run(struct clt_dev *dev, const clt_op *op, struct clt_host_pool *pool,
                              clt_simd level)
{
    const struct clt_optim_kernels *kern = clt_optim_kernels_of(level);
    if (!kern)
        return clt_fail(CLT_ERR_UNSUPPORTED, "host: this CPU or build has no %s optimizer loops",
                        clt_simd_name(level));
    switch (op->kind) {
    case CLT_OP_ADAMW:
        return run_adam_like(dev, &op->u.adamw, false, pool, kern);
    case CLT_OP_LAMB:
        return run_adam_like(dev, &op->u.lamb, true, pool, kern);
    case CLT_OP_SGD:
        return run_sgd(dev, &op->u.sgd, pool, kern);
    default:
        return clt_fail(CLT_ERR_INTERNAL, "host: %s is not an optimizer step",
                        clt_op_name(op->kind));
    }
}

clt_status clt_host_optim(struct clt_dev *dev, const clt_op *op)
{
    struct clt_q8_codebook cb;
    const struct clt_optim_kernels *kern = clt_optim_kernels_of(clt_simd_best());
    switch (op->kind) {
    case CLT_OP_ADAMW:
    case CLT_OP_LAMB:
    case CLT_OP_SGD: {
        struct clt_host_pool *pool = NULL;
        clt_status s = clt_host_dev_pool(dev, &pool);
        return s != CLT_OK ? s : clt_host_optim_run(dev, op, pool, clt_simd_best());
    }
    case CLT_OP_QUANTIZE8: {
        const clt_quantize8_args *a = &op->u.quantize8;
        clt_q8_codebook_init(&cb, a->is_signed);
        kern->q8_quantize(&cb, clt_host_tensor_data(&a->x), (size_t)a->x.shape[0],
                          (size_t)clt_q8_block_of(a->block), clt_host_tensor_data(&a->codes),
                          clt_host_tensor_data(&a->absmax));
        return CLT_OK;
    }
    case CLT_OP_DEQUANTIZE8: {
        const clt_dequantize8_args *a = &op->u.dequantize8;
        clt_q8_codebook_init(&cb, a->is_signed);
        kern->q8_dequantize(&cb, clt_host_tensor_data(&a->codes),
                            clt_host_tensor_data(&a->absmax), (size_t)a->x.shape[0],
                            (size_t)clt_q8_block_of(a->block), clt_host_tensor_data(&a->x));
        return CLT_OK;
    }
    default:
        return clt_fail(CLT_ERR_INTERNAL, "host: %s is not an optimizer op",
                        clt_op_name(op->kind));
    }
}
