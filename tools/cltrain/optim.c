/* cltrain's optimizer (optim.h): the state of every parameter in one device buffer, and
 * one prepared op per parameter whose learning rate, step, scale and gate change per
 * step. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optim.h"

#define ALIGN 256 /* bytes: every state tensor starts on its own aligned boundary */
#define MAX_STATES 4 /* m, v, m_absmax, v_absmax (sgd: momentum) */

static const char *const kind_names[] = {"adamw", "adamw8bit", "lamb", "sgd"};

bool optim_kind_parse(const char *name, enum optim_kind *out)
{
    for (int k = 0; k < 4; k++)
        if (strcmp(name, kind_names[k]) == 0) {
            *out = (enum optim_kind)k;
            return true;
        }
    return false;
}

const char *optim_kind_name(enum optim_kind kind) { return kind_names[kind]; }

struct optim_hparams optim_defaults(enum optim_kind kind)
{
    if (kind == OPTIM_SGD)
        return (struct optim_hparams){.beta1 = 0.9f, .beta2 = 0.0f, .eps = 1e-8f,
                                      .weight_decay = 0.0f};
    return (struct optim_hparams){.beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f,
                                  .weight_decay = 0.1f};
}

struct optim {
    clt_context *ctx;
    clt_offload *off;         /* offloaded: the engine's host optimizer, no ops here */
    enum optim_kind kind;
    clt_buffer *state;        /* NULL for a view (the caller's) or a rank owning nothing */
    size_t state_bytes;
    size_t n_ops;
    clt_op *ops;              /* one per parameter */
    clt_named_tensor *named;  /* the state tensors, for checkpoints */
    char (*names)[64];
    size_t n_named;
    int n_group_tensors;      /* offloaded: tensors of the group being named */
};

/* A state tensor of n elements of dtype at the next aligned offset of the buffer; with
 * buf NULL only the offset advances (the sizing pass). */
static clt_status place(clt_buffer *buf, size_t *at, clt_dtype dtype, size_t n,
                        clt_tensor *t)
{
    const size_t elem = dtype == CLT_DTYPE_U8 ? 1 : 4;
    *at = (*at + ALIGN - 1) / ALIGN * ALIGN;
    clt_status s = CLT_OK;
    if (buf)
        s = clt_tensor_init(t, buf, *at, dtype, 1, (const int64_t[]){(int64_t)n});
    *at += n * elem;
    return s;
}

static void name_state(optim *o, const struct gpt_param *p, const char *suffix,
                       const clt_tensor *t)
{
    snprintf(o->names[o->n_named], sizeof o->names[0], "%s.%s", p->name, suffix);
    o->named[o->n_named] = (clt_named_tensor){.name = o->names[o->n_named], .tensor = *t};
    o->n_named++;
}

/* One parameter's state tensors at the next offsets of buf, named (m, v and with 8-bit
 * codes m_absmax, v_absmax; sgd: momentum); sizing pass with buf NULL. The layout is a
 * function of the kind and the parameters alone, so a rank can view another's. */
static clt_status place_state(optim *o, const struct gpt_param *p, clt_buffer *buf,
                              size_t *at, clt_tensor st[MAX_STATES])
{
    const bool q8 = o->kind == OPTIM_ADAMW8BIT && p->numel >= CLT_Q8_MIN_ELEMENTS;
    const clt_dtype sd = q8 ? CLT_DTYPE_U8 : CLT_DTYPE_F32;
    const size_t blocks = (p->numel + CLT_Q8_DEFAULT_BLOCK - 1) / CLT_Q8_DEFAULT_BLOCK;
    memset(st, 0, MAX_STATES * sizeof *st);
    clt_status s = place(buf, at, sd, p->numel, &st[0]);
    if (s == CLT_OK && o->kind != OPTIM_SGD)
        s = place(buf, at, sd, p->numel, &st[1]);
    if (s == CLT_OK && q8)
        s = place(buf, at, CLT_DTYPE_F32, blocks, &st[2]);
    if (s == CLT_OK && q8)
        s = place(buf, at, CLT_DTYPE_F32, blocks, &st[3]);
    if (s != CLT_OK || !buf)
        return s;
    if (o->kind == OPTIM_SGD) {
        name_state(o, p, "momentum", &st[0]);
        return CLT_OK;
    }
    name_state(o, p, "m", &st[0]);
    name_state(o, p, "v", &st[1]);
    if (q8) {
        name_state(o, p, "m_absmax", &st[2]);
        name_state(o, p, "v_absmax", &st[3]);
    }
    return CLT_OK;
}

/* The op of one parameter over its state st. */
static clt_status make_op(const optim *o, gpt_model *m, const struct gpt_param *p,
                          struct optim_hparams h, const clt_tensor st[MAX_STATES], clt_op *op)
{
    const clt_dtype dtype = gpt_dtype(m);
    const int64_t n = (int64_t)p->numel;
    clt_tensor param, grad, copy;
    memset(&copy, 0, sizeof copy);
    clt_status s =
        clt_tensor_init(&param, gpt_param_buffer(m), p->offset * 4, CLT_DTYPE_F32, 1, &n);
    if (s == CLT_OK)
        s = clt_tensor_init(&grad, gpt_grad_buffer(m), p->offset * (dtype == CLT_DTYPE_F32 ? 4 : 2),
                            dtype, 1, &n);
    if (s == CLT_OK && dtype != CLT_DTYPE_F32)
        s = clt_tensor_init(&copy, gpt_work_buffer(m), p->offset * 2, dtype, 1, &n);
    if (s != CLT_OK)
        return s;
    const clt_optim_hparams oh = {.beta1 = h.beta1, .beta2 = h.beta2, .eps = h.eps,
                                  .weight_decay = p->decay ? h.weight_decay : 0.0f,
                                  .grad_scale = 1.0f, .step = 1};
    memset(op, 0, sizeof *op);
    if (o->kind == OPTIM_SGD) {
        op->kind = CLT_OP_SGD;
        op->u.sgd = (clt_sgd_args){.param = param, .grad = grad, .momentum = st[0],
                                   .param_copy = copy, .h = oh};
        return CLT_OK;
    }
    op->kind = o->kind == OPTIM_LAMB ? CLT_OP_LAMB : CLT_OP_ADAMW;
    op->u.adamw = (clt_adamw_args){.param = param, .grad = grad, .m = st[0], .v = st[1],
                                   .m_absmax = st[2], .v_absmax = st[3], .param_copy = copy,
                                   .h = oh};
    return CLT_OK;
}

/* An optimizer of tensors [first, end) of m's layout without its state buffer: sized,
 * with room for the names. */
static optim *new_optim(gpt_model *m, enum optim_kind kind, size_t first, size_t end)
{
    size_t count = 0;
    const struct gpt_param *params = gpt_param_table(m, &count);
    optim *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->kind = kind;
    const size_t n = end > first ? end - first : 0;
    o->named = calloc(n * MAX_STATES + 1, sizeof *o->named);
    o->names = calloc(n * MAX_STATES + 1, sizeof *o->names);
    if (!o->named || !o->names) {
        optim_destroy(o);
        return NULL;
    }
    clt_tensor st[MAX_STATES];
    for (size_t i = first; i < end && i < count; i++)
        (void)place_state(o, &params[i], NULL, &o->state_bytes, st);
    return o;
}

size_t optim_range_bytes(gpt_model *m, enum optim_kind kind, size_t first, size_t end)
{
    optim *o = new_optim(m, kind, first, end);
    const size_t bytes = o ? o->state_bytes : 0;
    optim_destroy(o);
    return bytes;
}

clt_status optim_create(clt_context *ctx, gpt_model *m, enum optim_kind kind,
                        struct optim_hparams h, optim **out)
{
    size_t count = 0;
    (void)gpt_param_table(m, &count);
    return optim_create_owned(ctx, m, kind, h, 0, count, out);
}

clt_status optim_create_owned(clt_context *ctx, gpt_model *m, enum optim_kind kind,
                              struct optim_hparams h, size_t first, size_t end, optim **out)
{
    *out = NULL;
    size_t count = 0;
    const struct gpt_param *params = gpt_param_table(m, &count);
    if (first > end || end > count)
        return CLT_ERR_INVALID_ARG;
    optim *o = new_optim(m, kind, first, end);
    if (!o)
        return CLT_ERR_OUT_OF_MEMORY;
    o->ctx = ctx;
    o->n_ops = end - first;
    o->ops = calloc(o->n_ops + 1, sizeof *o->ops);
    clt_status s = o->ops ? CLT_OK : CLT_ERR_OUT_OF_MEMORY;
    const size_t bytes = o->state_bytes;
    if (s == CLT_OK && bytes > 0) /* a rank may own no tensor */
        s = clt_buffer_create(ctx, bytes, CLT_TIER_DEVICE, &o->state);
    /* zero moments and absmax: a zero block (absmax 0) decodes to zeros */
    void *zeros = s == CLT_OK && bytes > 0 ? calloc(1, bytes) : NULL;
    if (s == CLT_OK && bytes > 0 && !zeros)
        s = CLT_ERR_OUT_OF_MEMORY;
    if (s == CLT_OK && bytes > 0)
        s = clt_buffer_write(o->state, 0, zeros, bytes, NULL);
    free(zeros);
    size_t at = 0;
    for (size_t i = first; i < end && s == CLT_OK; i++) {
        clt_tensor st[MAX_STATES];
        s = place_state(o, &params[i], o->state, &at, st);
        if (s == CLT_OK)
            s = make_op(o, m, &params[i], h, st, &o->ops[i - first]);
    }
    if (s != CLT_OK) {
        optim_destroy(o);
        return s;
    }
    *out = o;
    return CLT_OK;
}

clt_status optim_create_view(gpt_model *m, enum optim_kind kind, size_t first, size_t end,
                             clt_buffer *buf, optim **out)
{
    *out = NULL;
    size_t count = 0;
    const struct gpt_param *params = gpt_param_table(m, &count);
    if (first > end || end > count)
        return CLT_ERR_INVALID_ARG;
    optim *o = new_optim(m, kind, first, end);
    if (!o)
        return CLT_ERR_OUT_OF_MEMORY;
    clt_status s = o->state_bytes > 0 && clt_buffer_size(buf) < o->state_bytes
                       ? CLT_ERR_INVALID_ARG
                       : CLT_OK;
    size_t at = 0;
    for (size_t i = first; i < end && s == CLT_OK; i++) {
        clt_tensor st[MAX_STATES];
        s = place_state(o, &params[i], buf, &at, st);
    }
    if (s != CLT_OK) {
        optim_destroy(o);
        return s;
    }
    *out = o;
    return CLT_OK;
}

void optim_destroy(optim *o)
{
    if (!o)
        return;
    clt_buffer_destroy(o->state);
    free(o->ops);
    free(o->named);
    free(o->names);
    free(o);
}

clt_status optim_step(optim *o, float lr, int64_t step, float grad_scale,
                      const clt_tensor *gate)
{
    if (!o->ops && !o->off)
        return CLT_ERR_INVALID_ARG; /* a view */
    if (o->off)
        return clt_offload_step(o->off, lr, step, grad_scale);
    for (size_t i = 0; i < o->n_ops; i++) {
        clt_op *op = &o->ops[i];
        clt_optim_hparams *h = op->kind == CLT_OP_SGD ? &op->u.sgd.h : &op->u.adamw.h;
        h->lr = lr;
        h->step = step;
        h->grad_scale = grad_scale;
        if (op->kind == CLT_OP_SGD)
            op->u.sgd.gate = *gate;
        else
            op->u.adamw.gate = *gate;
        clt_status s = clt_op_run(o->ctx, op, NULL);
        if (s != CLT_OK)
            return s;
    }
    return CLT_OK;
}

const clt_named_tensor *optim_state_tensors(const optim *o, size_t *count)
{
    *count = o->n_named;
    return o->named;
}

size_t optim_state_bytes(const optim *o) { return o->state_bytes; }

clt_buffer *optim_state_buffer(const optim *o) { return o->off ? NULL : o->state; }

void optim_offload_opts(enum optim_kind kind, struct optim_hparams h, clt_tier master,
                        clt_offload_opts *out)
{
    clt_offload_opts_init(out);
    out->master_tier = master;
    out->optimizer = kind == OPTIM_SGD ? CLT_OP_SGD : kind == OPTIM_LAMB ? CLT_OP_LAMB
                                                                        : CLT_OP_ADAMW;
    out->q8_states = kind == OPTIM_ADAMW8BIT;
    out->hparams = (clt_optim_hparams){.beta1 = h.beta1, .beta2 = h.beta2, .eps = h.eps,
                                       .weight_decay = h.weight_decay, .grad_scale = 1.0f,
                                       .step = 1};
}

clt_status optim_create_offload(gpt_model *m, enum optim_kind kind, optim **out)
{
    size_t count = 0;
    (void)gpt_param_table(m, &count);
    return optim_create_offload_owned(m, kind, 0, count, out);
}

clt_status optim_create_offload_owned(gpt_model *m, enum optim_kind kind, size_t first,
                                      size_t end, optim **out)
{
    *out = NULL;
    clt_offload *off = gpt_offload(m);
    size_t count = 0;
    const struct gpt_param *params = gpt_param_table(m, &count);
    optim *o = calloc(1, sizeof *o);
    if (!o || !off) {
        free(o);
        return off ? CLT_ERR_OUT_OF_MEMORY : CLT_ERR_INVALID_ARG;
    }
    o->off = off;
    o->kind = kind;
    o->named = calloc(count * MAX_STATES, sizeof *o->named);
    o->names = calloc(count * MAX_STATES, sizeof *o->names);
    clt_status s = o->named && o->names ? CLT_OK : CLT_ERR_OUT_OF_MEMORY;
    clt_offload_plan_info info;
    if (s == CLT_OK)
        s = clt_offload_plan_bytes(off, &info);
    o->state_bytes = s == CLT_OK ? (size_t)info.state_bytes : 0;
    /* the names and order of optim_create's, so checkpoints move between the modes */
    static const char *const adam[] = {"m", "v", "m_absmax", "v_absmax"};
    static const char *const sgd[] = {"momentum", "momentum_absmax"};
    int group = -1, t = 0;
    for (size_t i = 0; i < count && s == CLT_OK; i++) {
        /* groups hold consecutive tensors: a new group where the previous one ends */
        if (group < 0 || t == o->n_group_tensors) {
            group++;
            t = 0;
            s = clt_offload_group_tensors(off, group, &o->n_group_tensors);
        }
        clt_tensor st[4];
        int n = 0;
        if (s == CLT_OK && i >= first && i < end)
            s = clt_offload_state(off, group, t, st, &n);
        t++;
        for (int k = 0; k < n && s == CLT_OK; k++)
            name_state(o, &params[i], kind == OPTIM_SGD ? sgd[k] : adam[k], &st[k]);
    }
    if (s != CLT_OK) {
        optim_destroy(o);
        return s;
    }
    *out = o;
    return CLT_OK;
}

clt_status optim_settle(optim *o) { return o->off ? clt_offload_wait(o->off) : CLT_OK; }
