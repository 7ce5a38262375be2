/* The offload engine's host optimizer: a worker thread that applies a step to every
 * group in order, with the host driver's optimizer ops (the same code the host device
 * runs, so an offloaded run and a resident one on the host give the same bits).
 *
 * The master values, states, gradients and working copies are HOST-tier buffers (the
 * runtime's own memory, counted on that tier); the ops see them through views: a
 * buffer and a host-driver memory on the stack that name the same bytes, made only for
 * the op's duration. NVME-tier masters and states are staged into HOST memory first. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/host/host_driver.h"
#include "runtime/buffer.h"
#include "runtime/context.h"
#include "runtime/error.h"
#include "runtime/offload.h"
#include "runtime/ops.h"
#include "runtime/registry.h"

void *clt_offload_host_ptr(clt_buffer *buf)
{
    return buf && buf->tier == CLT_TIER_HOST ? buf->host : NULL;
}

/* Host bytes seen as host-driver memory, for one op. */
struct host_view {
    struct clt_buffer buf;
    struct clt_mem mem;
};

static void view_init(struct host_view *v, const clt_offload *off, void *ptr, size_t bytes)
{
    memset(v, 0, sizeof *v);
    v->mem = (struct clt_mem){.dev = off->host_dev, .size = bytes, .tier = CLT_TIER_DEVICE,
                              .impl = ptr};
    v->buf.ctx = off->ctx;
    v->buf.tier = CLT_TIER_DEVICE;
    v->buf.size = bytes;
    v->buf.mem = &v->mem;
    v->buf.fd = -1;
}

static clt_tensor vec_of(struct host_view *v, size_t offset_bytes, clt_dtype dtype, size_t n)
{
    clt_tensor t;
    (void)clt_tensor_init(&t, &v->buf, offset_bytes, dtype, 1, (const int64_t[]){(int64_t)n});
    return t;
}

static clt_status run_host_op(clt_offload *off, const clt_op *op)
{
    clt_status s = clt_op_validate(off->ctx, op);
    return s == CLT_OK ? clt_host_driver.run(off->host_dev, op, NULL) : s;
}

/* Where group g's master and state are while it is updated. */
struct group_mem {
    float *master;
    unsigned char *state;
};

/* One parameter tensor's optimizer op over the group's memory. */
static clt_status update_tensor(clt_offload *off, const struct clt_offload_group *g,
                                const struct clt_offload_tensor_state *ts,
                                const struct group_mem *gm, float lr, int64_t step,
                                float grad_scale)
{
    const clt_offload_opts *o = &off->opts;
    const size_t n = ts->t.numel, es = off->es;
    struct host_view mv, sv, gv, wv;
    view_init(&mv, off, gm->master, g->numel * 4);
    view_init(&sv, off, gm->state, g->state_bytes);
    view_init(&gv, off, (char *)clt_offload_host_ptr(off->grads) + g->first * es, g->numel * es);
    clt_tensor copy;
    memset(&copy, 0, sizeof copy);
    if (off->work) {
        view_init(&wv, off, (char *)clt_offload_host_ptr(off->work) + g->first * es,
                  g->numel * es);
        copy = vec_of(&wv, ts->t.offset * es, o->work_dtype, n);
    }
    clt_tensor st[CLT_OFFLOAD_MAX_STATES];
    memset(st, 0, sizeof st);
    for (int k = 0; k < ts->n_states; k++)
        st[k] = vec_of(&sv, ts->state_off[k] - g->state_first, ts->state_dtype[k],
                       ts->state_numel[k]);
    clt_optim_hparams h = o->hparams;
    h.lr = lr;
    h.step = step;
    h.grad_scale = grad_scale;
    h.weight_decay = ts->t.decay ? o->hparams.weight_decay : 0.0f;
    const clt_tensor param = vec_of(&mv, ts->t.offset * 4, CLT_DTYPE_F32, n);
    const clt_tensor grad = vec_of(&gv, ts->t.offset * es, o->work_dtype, n);
    clt_op op;
    memset(&op, 0, sizeof op);
    op.kind = o->optimizer;
    if (o->optimizer == CLT_OP_SGD) {
        op.u.sgd = (clt_sgd_args){.param = param, .grad = grad, .momentum = st[0],
                                  .momentum_absmax = ts->q8 ? st[1] : (clt_tensor){0},
                                  .param_copy = copy, .h = h, .block = o->q8_block};
    } else {
        op.u.adamw = (clt_adamw_args){.param = param, .grad = grad, .m = st[0], .v = st[1],
                                      .m_absmax = ts->q8 ? st[2] : (clt_tensor){0},
                                      .v_absmax = ts->q8 ? st[3] : (clt_tensor){0},
                                      .param_copy = copy, .h = h, .block = o->q8_block};
    }
    return run_host_op(off, &op);
}

/* NVME: master and state of a group to or from a staging buffer (master at 0, state
 * after it on a 256-byte boundary). */
static size_t staged_state_at(const struct clt_offload_group *g)
{
    return (g->numel * 4 + 255) / 256 * 256;
}

static clt_status stage(clt_offload *off, const struct clt_offload_group *g, clt_buffer *buf,
                        bool in)
{
    const double t = clt_offload_now();
    clt_status s;
    if (in) {
        s = clt_buffer_copy(buf, 0, off->master, g->first * 4, g->numel * 4, NULL);
        if (s == CLT_OK)
            s = clt_buffer_copy(buf, staged_state_at(g), off->state, g->state_first,
                                g->state_bytes, NULL);
    } else {
        s = clt_buffer_copy(off->master, g->first * 4, buf, 0, g->numel * 4, NULL);
        if (s == CLT_OK)
            s = clt_buffer_copy(off->state, g->state_first, buf, staged_state_at(g),
                                g->state_bytes, NULL);
    }
    const double dt = clt_offload_now() - t;
    pthread_mutex_lock(&off->lock);
    off->stats.nvme_s += dt;
    if (in)
        off->stats.bytes_nvme_read += g->numel * 4 + g->state_bytes;
    else
        off->stats.bytes_nvme_write += g->numel * 4 + g->state_bytes;
    pthread_mutex_unlock(&off->lock);
    return s;
}

static clt_status update_group(clt_offload *off, int gi, float lr, int64_t step, float scale)
{
    const struct clt_offload_group *g = &off->groups[gi];
    struct group_mem gm;
    clt_buffer *staging = off->staging[gi % 2];
    clt_status s = CLT_OK;
    if (off->opts.master_tier == CLT_TIER_NVME) {
        s = stage(off, g, staging, true);
        gm.master = clt_offload_host_ptr(staging);
        gm.state = (unsigned char *)clt_offload_host_ptr(staging) + staged_state_at(g);
    } else {
        gm.master = (float *)clt_offload_host_ptr(off->master) + g->first;
        gm.state = (unsigned char *)clt_offload_host_ptr(off->state) + g->state_first;
    }
    for (int t = 0; t < g->n_tensors && s == CLT_OK; t++)
        s = update_tensor(off, g, &g->tensors[t], &gm, lr, step, scale);
    if (s == CLT_OK && off->opts.master_tier == CLT_TIER_NVME)
        s = stage(off, g, staging, false);
    return s;
}

static void *worker_main(void *arg)
{
    clt_offload *off = arg;
    pthread_mutex_lock(&off->lock);
    for (;;) {
        while (!off->quit && !(off->job && off->next_group < off->n_groups))
            pthread_cond_wait(&off->cond, &off->lock);
        if (off->quit)
            break;
        const int g = off->next_group;
        const float lr = off->job_lr, scale = off->job_scale;
        const int64_t step = off->job_step;
        pthread_mutex_unlock(&off->lock);

        clt_offload_trace(off, CLT_OFFLOAD_OPTIM_BEGIN, g, step);
        const double t = clt_offload_now();
        const clt_status s = update_group(off, g, lr, step, scale);
        const double dt = clt_offload_now() - t;
        clt_offload_trace(off, CLT_OFFLOAD_OPTIM_END, g, step);

        pthread_mutex_lock(&off->lock);
        off->stats.optim_s += dt;
        if (s != CLT_OK) {
            off->job_status = s;
            snprintf(off->job_error, sizeof off->job_error, "group %d, step %lld: %s", g,
                     (long long)step, clt_last_error());
            off->job = false;
        } else {
            off->groups[g].host_version++;
            if (++off->next_group == off->n_groups)
                off->job = false;
        }
        pthread_cond_broadcast(&off->cond);
    }
    pthread_mutex_unlock(&off->lock);
    return NULL;
}

clt_status clt_offload_worker_start(clt_offload *off)
{
    off->next_group = off->n_groups;
    if (pthread_create(&off->worker, NULL, worker_main, off) != 0)
        return clt_fail(CLT_ERR_OUT_OF_MEMORY, "offload: cannot start the optimizer thread");
    off->worker_started = true;
    return CLT_OK;
}

void clt_offload_worker_stop(clt_offload *off)
{
    if (!off->worker_started)
        return;
    pthread_mutex_lock(&off->lock);
    while (off->job && off->job_status == CLT_OK)
        pthread_cond_wait(&off->cond, &off->lock);
    off->quit = true;
    pthread_cond_broadcast(&off->cond);
    pthread_mutex_unlock(&off->lock);
    pthread_join(off->worker, NULL);
    off->worker_started = false;
}

clt_status clt_offload_worker_post(clt_offload *off, float lr, int64_t step, float grad_scale)
{
    pthread_mutex_lock(&off->lock);
    off->job_lr = lr;
    off->job_step = step;
    off->job_scale = grad_scale;
    off->next_group = 0;
    off->job = true;
    pthread_cond_broadcast(&off->cond);
    pthread_mutex_unlock(&off->lock);
    return CLT_OK;
}

clt_status clt_offload_wait_group(clt_offload *off, int id, double *waited)
{
    const double t = clt_offload_now();
    pthread_mutex_lock(&off->lock);
    while (off->job && off->next_group <= id && off->job_status == CLT_OK)
        pthread_cond_wait(&off->cond, &off->lock);
    const clt_status s = off->job_status;
    char text[sizeof off->job_error];
    memcpy(text, off->job_error, sizeof text);
    pthread_mutex_unlock(&off->lock);
    if (waited)
        *waited += clt_offload_now() - t;
    if (s != CLT_OK)
        return clt_fail(s, "offload: the host optimizer failed (%s)", text);
    return CLT_OK;
}

clt_status clt_offload_wait(clt_offload *off)
{
    if (!off)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_offload_wait: off is NULL");
    if (!off->worker_started)
        return CLT_OK;
    double waited = 0;
    clt_status s = clt_offload_wait_group(off, off->n_groups - 1, &waited);
    off->stats.optim_idle_wait_s += waited;
    return s;
}

clt_status clt_offload_convert_work(clt_offload *off, int gi)
{
    struct clt_offload_group *g = &off->groups[gi];
    clt_status s = CLT_OK;
    if (off->work) {
        void *dst = (char *)clt_offload_host_ptr(off->work) + g->first * off->es;
        const float *src = (const float *)clt_offload_host_ptr(off->master);
        float *tmp = NULL;
        if (src) {
            src += g->first;
        } else { /* NVME */
            tmp = malloc(g->numel * 4);
            if (!tmp)
                return clt_fail(CLT_ERR_OUT_OF_MEMORY,
                                "offload: no host memory to convert group %d", gi);
            s = clt_buffer_read(off->master, g->first * 4, tmp, g->numel * 4, NULL);
            src = tmp;
        }
        if (s == CLT_OK)
            s = clt_convert(off->opts.work_dtype, dst, CLT_DTYPE_F32, src, g->numel);
        free(tmp);
    }
    pthread_mutex_lock(&off->lock);
    g->host_version++;
    pthread_mutex_unlock(&off->lock);
    return s;
}

clt_status clt_offload_host_sqnorm(clt_offload *off, float *out)
{
    struct host_view gv, nv;
    view_init(&gv, off, clt_offload_host_ptr(off->grads), off->total * off->es);
    view_init(&nv, off, clt_offload_host_ptr(off->norm), 4);
    clt_op op;
    memset(&op, 0, sizeof op);
    op.kind = CLT_OP_SQNORM;
    op.u.sqnorm.x = vec_of(&gv, 0, off->opts.work_dtype, off->total);
    op.u.sqnorm.norm = vec_of(&nv, 0, CLT_DTYPE_F32, 1);
    clt_status s = run_host_op(off, &op);
    if (s == CLT_OK)
        memcpy(out, clt_offload_host_ptr(off->norm), sizeof *out);
    return s;
}
