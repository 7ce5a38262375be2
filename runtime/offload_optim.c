/* The offload engine's host optimizer: one group's update, with the host driver's
 * optimizer ops (the same code the host device runs, so an offloaded run and a resident
 * one on the host give the same bits); offload_worker.c runs it on the worker thread.
 *
 * The master values, states, gradients and working copies are HOST-tier buffers (the
 * runtime's own memory, counted on that tier); the ops see them through views: a
 * buffer and a host-driver memory on the stack that name the same bytes, made only for
 * the op's duration. NVME-tier masters and states are staged into HOST memory by the
 * I/O thread (offload_nvme.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/host/host_driver.h"
#include "runtime/buffer.h"
#include "runtime/context.h"
#include "runtime/error.h"
#include "runtime/event.h"
#include "runtime/offload.h"
#include "runtime/offload_sched.h"
#include "runtime/ops.h"
#include "runtime/registry.h"

void *clt_offload_host_ptr(clt_buffer *buf)
{
    /* HOST_PINNED buffers are mapped when the plan allocates them (offload.c) */
    const bool cpu = buf && (buf->tier == CLT_TIER_HOST || buf->tier == CLT_TIER_HOST_PINNED);
    return cpu ? buf->host : NULL;
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

/* The inf/NaN gate of an eager update: Σ g² over the group's own gradients. */
static clt_status group_sqnorm(clt_offload *off, const struct clt_offload_group *g, float *out)
{
    struct host_view gv, nv;
    view_init(&gv, off, (char *)clt_offload_host_ptr(off->grads) + g->first * off->es,
              g->numel * off->es);
    view_init(&nv, off, out, sizeof *out);
    clt_op op;
    memset(&op, 0, sizeof op);
    op.kind = CLT_OP_SQNORM;
    op.u.sqnorm.x = vec_of(&gv, 0, off->opts.work_dtype, g->numel);
    op.u.sqnorm.norm = vec_of(&nv, 0, CLT_DTYPE_F32, 1);
    return run_host_op(off, &op);
}

clt_status clt_offload_update_group(clt_offload *off, const struct clt_offload_job *job,
                                    bool *skipped)
{
    const struct clt_offload_group *g = &off->groups[job->group];
    double busy = 0, t = clt_offload_now();
    clt_status s = CLT_OK;
    *skipped = false;
    if (job->eager) {
        float sq = 0;
        s = group_sqnorm(off, g, &sq);
        *skipped = s == CLT_OK && !isfinite(sq);
    }
    busy += clt_offload_now() - t;
    struct group_mem gm;
    int k = -1;
    if (s == CLT_OK && off->opts.master_tier == CLT_TIER_NVME) {
        s = clt_offload_stage_acquire(off, job->group, &k); /* waits: nvme_wait_s */
        if (s == CLT_OK) {
            gm.master = clt_offload_host_ptr(off->staging[k]);
            gm.state = (unsigned char *)gm.master + clt_offload_staged_state_at(g);
        }
    } else {
        unsigned char *state = clt_offload_host_ptr(off->state); /* NULL: none kept */
        size_t at = 0;
        gm.master = (float *)clt_offload_host_ptr(off->master) + g->first;
        gm.state = state && clt_offload_kept_state(off, job->group, &at) ? state + at : NULL;
    }
    if (s == CLT_OK && !*skipped && clt_offload_owns(off, job->group)) {
        clt_offload_trace(off, CLT_OFFLOAD_OPTIM_BEGIN, job->group, job->step);
        t = clt_offload_now();
        for (int i = 0; i < g->n_tensors && s == CLT_OK; i++)
            s = update_tensor(off, g, &g->tensors[i], &gm, job->lr, job->step, job->scale);
        busy += clt_offload_now() - t;
        clt_offload_trace(off, CLT_OFFLOAD_OPTIM_END, job->group, job->step);
    }
    /* every rank gates alike (the gradients are the same sum), so all or none share */
    if (s == CLT_OK && !*skipped && off->shard)
        s = clt_offload_share_master(off, job->group, gm.master);
    if (k >= 0)
        clt_offload_stage_release(off, k, s == CLT_OK && !*skipped);
    pthread_mutex_lock(&off->lock);
    off->stats.optim_s += busy;
    pthread_mutex_unlock(&off->lock);
    return s;
}

clt_status clt_offload_convert_work(clt_offload *off, int gi)
{
    struct clt_offload_group *g = &off->groups[gi];
    /* An upload of the copy about to be rewritten may still be reading it. */
    clt_status s = clt_event_wait(g->upload);
    clt_event_destroy(g->upload);
    g->upload = NULL;
    if (off->work && s == CLT_OK) {
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

clt_status clt_offload_scale_grads(clt_offload *off, int gi, float alpha)
{
    const struct clt_offload_group *g = &off->groups[gi];
    struct host_view gv;
    view_init(&gv, off, (char *)clt_offload_host_ptr(off->grads) + g->first * off->es,
              g->numel * off->es);
    clt_op op;
    memset(&op, 0, sizeof op);
    op.kind = CLT_OP_SCALE;
    op.u.scale.x = vec_of(&gv, 0, off->opts.work_dtype, g->numel);
    op.u.scale.alpha = alpha;
    return run_host_op(off, &op);
}

clt_status clt_offload_host_sqnorm(clt_offload *off, float *out)
{
    clt_status s = clt_offload_eager_complete(off, "clt_offload_grad_sqnorm");
    if (s != CLT_OK)
        return s;
    struct host_view gv, nv;
    view_init(&gv, off, clt_offload_host_ptr(off->grads), off->total * off->es);
    view_init(&nv, off, clt_offload_host_ptr(off->norm), 4);
    clt_op op;
    memset(&op, 0, sizeof op);
    op.kind = CLT_OP_SQNORM;
    op.u.sqnorm.x = vec_of(&gv, 0, off->opts.work_dtype, off->total);
    op.u.sqnorm.norm = vec_of(&nv, 0, CLT_DTYPE_F32, 1);
    s = run_host_op(off, &op);
    if (s == CLT_OK)
        memcpy(out, clt_offload_host_ptr(off->norm), sizeof *out);
    return s;
}
