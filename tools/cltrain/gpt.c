/* The GPT-2 model of cltrain (gpt.h): the forward and backward passes composed from
 * clt ops, in the order of llm.c's train_gpt2.c (presets, layout and initialisation are
 * in gpt_layout.c).
 *
 * Shapes in the comments: B sequences, T positions, C = dim channels, NH heads of
 * hs = C/NH, V the vocabulary, L layers; BT = B·T rows. Activations and gradients are
 * in the compute dtype, per-row statistics (mean, rstd, lse, loss) in f32. */
#include "gpt.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpt_internal.h"
#include "gpt_layout.h"

#define LN_EPS 1e-5f
#define STAGING_ELEMS (1u << 20) /* host chunk for zeroing and the working copy */

/* ---- the model ------------------------------------------------------------------------- */

const struct gpt_config *gpt_config_of(const gpt_model *m) { return &m->cfg; }
clt_dtype gpt_dtype(const gpt_model *m) { return m->dtype; }
clt_buffer *gpt_param_buffer(gpt_model *m) { return m->master; }
clt_buffer *gpt_grad_buffer(gpt_model *m) { return m->grad; }
clt_buffer *gpt_work_buffer(gpt_model *m) { return m->work; }
size_t gpt_bytes(const gpt_model *m)
{
    clt_offload_plan_info info;
    if (m->off && clt_offload_plan_bytes(m->off, &info) == CLT_OK)
        return m->bytes + (size_t)info.device_bytes;
    return m->bytes;
}
clt_offload *gpt_offload(gpt_model *m) { return m->off; }
const char *gpt_error(const gpt_model *m) { return m->err; }

const struct gpt_param *gpt_param_table(const gpt_model *m, size_t *count)
{
    if (count)
        *count = m->n_params;
    return m->params;
}

/* Records a failure of the model's own checks in m->err. */
__attribute__((format(printf, 3, 4))) static clt_status fail(gpt_model *m, clt_status s,
                                                             const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->err, sizeof m->err, fmt, ap);
    va_end(ap);
    return s;
}

/* Passes a clt call's status on, keeping a copy of its sentence for gpt_error. */
static clt_status check(gpt_model *m, clt_status s)
{
    if (s != CLT_OK)
        snprintf(m->err, sizeof m->err, "%s", clt_last_error());
    return s;
}

clt_status gpt_check(gpt_model *m, clt_status s) { return check(m, s); }

/* ---- tensor views ---------------------------------------------------------------------- */

static clt_tensor view(clt_buffer *buf, size_t offset, clt_dtype dtype, int rank,
                       const int64_t *shape, const int64_t *strides)
{
    clt_tensor t;
    memset(&t, 0, sizeof t);
    t.buf = buf;
    t.offset = offset * clt_dtype_size(dtype);
    t.dtype = dtype;
    t.rank = rank;
    for (int i = 0; i < rank; i++) {
        t.shape[i] = shape[i];
        t.strides[i] = strides[i];
    }
    return t;
}

static clt_tensor vec(clt_buffer *buf, clt_dtype dtype, int64_t n)
{
    const int64_t shape[1] = {n}, strides[1] = {1};
    return view(buf, 0, dtype, 1, shape, strides);
}

static clt_tensor mat(clt_buffer *buf, clt_dtype dtype, int64_t rows, int64_t cols)
{
    const int64_t shape[2] = {rows, cols}, strides[2] = {cols, 1};
    return view(buf, 0, dtype, 2, shape, strides);
}

/* Parameter i of the working copy (pw) or of the gradients (pg), with its own shape. */
static clt_tensor param_in(const gpt_model *m, clt_buffer *buf, size_t i)
{
    const struct gpt_param *p = &m->params[i];
    const int64_t strides[2] = {p->rank == 2 ? p->shape[1] : 1, 1};
    return view(buf, p->offset, m->dtype, p->rank, p->shape, p->rank == 2 ? strides : strides + 1);
}
/* Streamed: the group's tensor, at the parameter's place within the group. */
static clt_tensor param_bound(const gpt_model *m, const clt_tensor *group, size_t first,
                              size_t i)
{
    clt_tensor t = param_in(m, group->buf, i);
    t.offset = group->offset + (m->params[i].offset - first) * clt_dtype_size(m->dtype);
    return t;
}
static clt_tensor pw(const gpt_model *m, size_t i)
{
    if (!m->off)
        return param_in(m, m->work, i);
    const struct gpt_bind *b = &m->bind[gpt_group_of(m, i)];
    return param_bound(m, &b->work, b->first, i);
}
static clt_tensor pg(const gpt_model *m, size_t i)
{
    if (!m->off)
        return param_in(m, m->grad, i);
    const struct gpt_bind *b = &m->bind[gpt_group_of(m, i)];
    return param_bound(m, &b->grad, b->first, i);
}
static size_t block_param(int layer, int kind)
{
    return P_LAYER0 + (size_t)P_PER_LAYER * (size_t)layer + (size_t)kind;
}
static size_t lnf_param(const gpt_model *m, int kind)
{
    return P_LAYER0 + (size_t)P_PER_LAYER * (size_t)m->cfg.layers + (size_t)(kind - K_LNF_W);
}

/* One head-split view of attention: (B, NH, T, hs) over rows of `row` elements whose
 * first head starts at element `first` (the packed QKV buffer: row 3C, q at 0, k at C,
 * v at 2C; the attention output: row C). */
static clt_tensor heads(const gpt_model *m, clt_buffer *buf, size_t first, int64_t row)
{
    const int64_t NH = m->cfg.heads, hs = m->cfg.dim / m->cfg.heads;
    const int64_t shape[4] = {m->B, NH, m->T, hs}, strides[4] = {m->T * row, hs, row, 1};
    return view(buf, first, m->dtype, 4, shape, strides);
}

/* ---- ops ------------------------------------------------------------------------------- */

/* Queues the op; the context runs its work in order, so no one waits here. */
static clt_status run(gpt_model *m, clt_op *op)
{
    clt_event *ev = NULL;
    clt_status s = clt_op_run(m->ctx, op, &ev);
    clt_event_destroy(ev);
    return check(m, s);
}

static clt_status copy(gpt_model *m, clt_buffer *dst, clt_buffer *src, size_t bytes)
{
    clt_event *ev = NULL;
    clt_status s = clt_buffer_copy(dst, 0, src, 0, bytes, &ev);
    clt_event_destroy(ev);
    return check(m, s);
}

/* c = op(a)·op(b) + beta·c (+ bias). */
static clt_status matmul(gpt_model *m, clt_tensor c, clt_tensor a, bool trans_a, clt_tensor b,
                         bool trans_b, const clt_tensor *bias, float beta)
{
    clt_op op = {.kind = CLT_OP_GEMM};
    op.u.gemm.a = a;
    op.u.gemm.b = b;
    op.u.gemm.c = c;
    if (bias)
        op.u.gemm.bias = *bias;
    op.u.gemm.trans_a = trans_a;
    op.u.gemm.trans_b = trans_b;
    op.u.gemm.alpha = 1.0f;
    op.u.gemm.beta = beta;
    return run(m, &op);
}

static clt_status layernorm(gpt_model *m, clt_tensor out, clt_buffer *mean, clt_buffer *rstd,
                            clt_tensor x, size_t weight)
{
    const int64_t rows = x.shape[0];
    clt_op op = {.kind = CLT_OP_LAYERNORM_FWD};
    op.u.layernorm_fwd.x = x;
    op.u.layernorm_fwd.weight = pw(m, weight);
    op.u.layernorm_fwd.bias = pw(m, weight + 1);
    op.u.layernorm_fwd.out = out;
    op.u.layernorm_fwd.mean = vec(mean, CLT_DTYPE_F32, rows);
    op.u.layernorm_fwd.rstd = vec(rstd, CLT_DTYPE_F32, rows);
    op.u.layernorm_fwd.eps = LN_EPS;
    return run(m, &op);
}

static clt_status add_into(gpt_model *m, clt_tensor dst, clt_tensor x)
{
    clt_op op = {.kind = CLT_OP_ADD};
    op.u.add.a = x;
    op.u.add.b = dst;
    op.u.add.out = dst;
    op.u.add.alpha = 1.0f;
    op.u.add.beta = 1.0f;
    return run(m, &op);
}

/* A LayerNorm's backward pass. Its input gradient dx is written, or added (dx_add: the
 * residual stream, which sums two paths); its parameter gradients are written or added
 * as `accumulate` says. The op has one accumulate flag for all three, so where the two
 * differ one part goes through scratch room in dbig (free whenever this runs). */
static clt_status layernorm_bwd(gpt_model *m, clt_tensor dout, clt_tensor x, size_t weight,
                                clt_buffer *mean, clt_buffer *rstd, clt_tensor dx, bool dx_add,
                                bool accumulate)
{
    const int64_t rows = x.shape[0], C = x.shape[1];
    clt_op op = {.kind = CLT_OP_LAYERNORM_BWD};
    clt_layernorm_bwd_args *a = &op.u.layernorm_bwd;
    a->dout = dout;
    a->x = x;
    a->weight = pw(m, weight);
    a->mean = vec(mean, CLT_DTYPE_F32, rows);
    a->rstd = vec(rstd, CLT_DTYPE_F32, rows);
    a->dx = dx;
    a->dweight = pg(m, weight);
    a->dbias = pg(m, weight + 1);
    a->accumulate = accumulate;
    if (dx_add == accumulate)
        return run(m, &op);
    if (dx_add) { /* parameters written, dx added */
        a->dx = mat(m->dbig, m->dtype, rows, C);
        TRY(run(m, &op));
        return add_into(m, dx, a->dx);
    }
    /* dx written, parameters added */
    const int64_t shape[1] = {C}, strides[1] = {1};
    a->dweight = view(m->dbig, 0, m->dtype, 1, shape, strides);
    a->dbias = view(m->dbig, (size_t)C, m->dtype, 1, shape, strides);
    a->accumulate = false;
    TRY(run(m, &op));
    TRY(add_into(m, pg(m, weight), a->dweight));
    return add_into(m, pg(m, weight + 1), a->dbias);
}

/* The gradients of a Conv1D layer out = inp·W + b, W stored (K, N) = [in, out]: dinp
 * (written), dW and db (written or added). */
static clt_status linear_bwd(gpt_model *m, clt_tensor dinp, clt_tensor dout, clt_tensor inp,
                             size_t weight, bool accumulate)
{
    const float beta = accumulate ? 1.0f : 0.0f;
    TRY(matmul(m, dinp, dout, false, pw(m, weight), true, NULL, 0.0f)); /* dout·Wᵀ */
    TRY(matmul(m, pg(m, weight), inp, true, dout, false, NULL, beta));  /* inpᵀ·dout */
    clt_op op = {.kind = CLT_OP_BIAS_GRAD};
    op.u.bias_grad.dy = dout;
    op.u.bias_grad.dbias = pg(m, weight + 1);
    op.u.bias_grad.accumulate = accumulate;
    return run(m, &op);
}

/* ---- creation -------------------------------------------------------------------------- */

/* Allocates rows·cols elements of dtype on the device into *out, counted in m->bytes. */
static clt_status alloc(gpt_model *m, clt_buffer **out, size_t rows, size_t cols,
                        clt_dtype dtype)
{
    size_t bytes;
    if (__builtin_mul_overflow(rows, cols, &bytes) ||
        __builtin_mul_overflow(bytes, clt_dtype_size(dtype), &bytes))
        return fail(m, CLT_ERR_INVALID_ARG,
                    "gpt_create: a buffer of %zu x %zu %s elements is too large to address",
                    rows, cols, clt_dtype_name(dtype));
    if (m->n_owned == m->cap_owned)
        return fail(m, CLT_ERR_INTERNAL, "gpt_create: more buffers than counted");
    TRY(check(m, clt_buffer_create(m->ctx, bytes, CLT_TIER_DEVICE, out)));
    m->owned[m->n_owned++] = *out;
    m->bytes += bytes;
    return CLT_OK;
}

/* Writes zeros over the whole buffer, from the host staging area. */
static clt_status zero_fill(gpt_model *m, clt_buffer *buf)
{
    const size_t size = clt_buffer_size(buf), chunk = m->stage_elems * sizeof(float);
    memset(m->stage, 0, chunk);
    for (size_t off = 0; off < size; off += chunk)
        TRY(check(m, clt_buffer_write(buf, off, m->stage, size - off < chunk ? size - off : chunk,
                                      NULL)));
    return CLT_OK;
}

/* Block l's own activation set: everything its backward pass reads but its output
 * (residual3). Keep in step with block_set_bytes. */
static clt_status alloc_block_set(gpt_model *m, struct block_acts *b, int l)
{
    const size_t BT = (size_t)m->batch * (size_t)m->cfg.ctx, C = (size_t)m->cfg.dim;
    const size_t NH = (size_t)m->cfg.heads;
    const clt_dtype dt = m->dtype, f32 = CLT_DTYPE_F32;
    b->set = l;
    TRY(alloc(m, &b->ln1, BT, C, dt));
    TRY(alloc(m, &b->ln1_mean, BT, 1, f32));
    TRY(alloc(m, &b->ln1_rstd, BT, 1, f32));
    TRY(alloc(m, &b->qkv, BT, 3 * C, dt));
    TRY(alloc(m, &b->atty, BT, C, dt));
    TRY(alloc(m, &b->att_lse, BT, NH, f32));
    TRY(alloc(m, &b->residual2, BT, C, dt));
    TRY(alloc(m, &b->ln2, BT, C, dt));
    TRY(alloc(m, &b->ln2_mean, BT, 1, f32));
    TRY(alloc(m, &b->ln2_rstd, BT, 1, f32));
    TRY(alloc(m, &b->fch, BT, 4 * C, dt));
    return alloc(m, &b->fch_gelu, BT, 4 * C, dt);
}

/* The bytes alloc_block_set allocates. */
static uint64_t block_set_bytes(const gpt_model *m)
{
    const uint64_t BT = (uint64_t)m->batch * (uint64_t)m->cfg.ctx, C = (uint64_t)m->cfg.dim;
    const uint64_t NH = (uint64_t)m->cfg.heads, es = clt_dtype_size(m->dtype);
    return BT * C * es * (1 + 3 + 1 + 1 + 1 + 4 + 4) + BT * 4 * (4 + NH);
}

clt_status gpt_keep_activations(gpt_model *m, uint64_t reserve, int *kept)
{
    const int L = m->cfg.layers;
    int n = 0;
    if (m->off && L > 1) {
        clt_stats st;
        TRY(check(m, clt_context_stats(m->ctx, &st)));
        const uint64_t used = st.mem_used[CLT_TIER_DEVICE], budget = st.mem_budget[CLT_TIER_DEVICE];
        const uint64_t left = budget > used ? budget - used : 0;
        const uint64_t fit = left > reserve ? (left - reserve) / block_set_bytes(m) : 0;
        /* the last block finds its activations in the shared set anyway */
        const int want = fit < (uint64_t)(L - 1) ? (int)fit : L - 1;
        for (int l = L - 2; l >= L - 1 - want; l--, n++) {
            /* a device that has less than its budget says so here: keep fewer */
            const size_t owned = m->n_owned, bytes = m->bytes;
            struct block_acts shared = m->blocks[l];
            if (alloc_block_set(m, &m->blocks[l], l) == CLT_OK)
                continue;
            while (m->n_owned > owned)
                clt_buffer_destroy(m->owned[--m->n_owned]);
            m->bytes = bytes;
            m->blocks[l] = shared;
            m->err[0] = '\0';
            break;
        }
    }
    if (kept)
        *kept = m->off ? n + 1 : L;
    return CLT_OK;
}

static clt_status allocate_all(gpt_model *m)
{
    const struct gpt_config *c = &m->cfg;
    const size_t BT = (size_t)m->batch * (size_t)c->ctx, C = (size_t)c->dim;
    const size_t V = (size_t)c->vocab, NH = (size_t)c->heads;
    const clt_dtype dt = m->dtype, f32 = CLT_DTYPE_F32;

    if (!m->off) {
        TRY(alloc(m, &m->master, m->layout_elems, 1, f32));
        TRY(alloc(m, &m->grad, m->layout_elems, 1, dt));
        if (dt == f32)
            m->work = m->master;
        else
            TRY(alloc(m, &m->work, m->layout_elems, 1, dt));
    }
    TRY(alloc(m, &m->tokens, BT, 1, CLT_DTYPE_I32));
    TRY(alloc(m, &m->targets, BT, 1, CLT_DTYPE_I32));
    TRY(alloc(m, &m->encoded, BT, C, dt));
    for (int l = 0; l < c->layers; l++) {
        struct block_acts *b = &m->blocks[l];
        m->set_holder[l] = -1;
        if (m->off && l > 0) { /* streamed: recomputed per block into one shared set */
            *b = m->blocks[0];
            TRY(alloc(m, &b->residual3, BT, C, dt));
            continue;
        }
        TRY(alloc_block_set(m, b, l));
        TRY(alloc(m, &b->residual3, BT, C, dt));
    }
    TRY(alloc(m, &m->lnf, BT, C, dt));
    TRY(alloc(m, &m->lnf_mean, BT, 1, f32));
    TRY(alloc(m, &m->lnf_rstd, BT, 1, f32));
    TRY(alloc(m, &m->logits, BT, V, dt));
    TRY(alloc(m, &m->lse, BT, 1, f32));
    TRY(alloc(m, &m->loss, 1, 1, f32));
    TRY(alloc(m, &m->dresidual, BT, C, dt));
    TRY(alloc(m, &m->dln, BT, C, dt));
    TRY(alloc(m, &m->dbig, BT, 4 * C, dt));
    TRY(alloc(m, &m->delta, BT, NH, f32));

    /* Parameters start at zero (the caller uploads them); gradients too, so that the
     * padding between tensors, which no pass writes, reads as zero in norms and
     * optimizer steps over the whole buffer. */
    if (m->off)
        return CLT_OK; /* the engine zeroed its own */
    TRY(zero_fill(m, m->master));
    TRY(zero_fill(m, m->grad));
    if (m->work != m->master)
        TRY(zero_fill(m, m->work));
    return CLT_OK;
}

static clt_status create(clt_context *ctx, const struct gpt_config *cfg, clt_dtype dtype,
                         int batch, const clt_offload_opts *stream, clt_comm *comm, bool shard,
                         gpt_model **out)
{
    char why[256];
    if (out)
        *out = NULL;
    if (!ctx || !cfg || !out || batch < 1 || !gpt_config_valid(cfg, why, sizeof why) ||
        (dtype != CLT_DTYPE_F32 && dtype != CLT_DTYPE_BF16 && dtype != CLT_DTYPE_F16) ||
        (int64_t)batch * cfg->ctx > INT32_MAX) /* B·T rows are an op dimension */
        return CLT_ERR_INVALID_ARG;

    gpt_model *m = calloc(1, sizeof *m);
    if (!m)
        return CLT_ERR_OUT_OF_MEMORY;
    m->ctx = ctx;
    m->cfg = *cfg;
    m->dtype = dtype;
    m->batch = batch;
    m->n_params = gpt_param_count(cfg);
    m->cap_owned = 32 + 13 * (size_t)cfg->layers;
    m->stage_elems = STAGING_ELEMS > (size_t)cfg->vocab ? STAGING_ELEMS : (size_t)cfg->vocab;
    m->params = calloc(m->n_params, sizeof *m->params);
    m->blocks = calloc((size_t)cfg->layers, sizeof *m->blocks);
    m->set_holder = calloc((size_t)cfg->layers, sizeof *m->set_holder);
    m->owned = calloc(m->cap_owned, sizeof *m->owned);
    m->stage = malloc(m->stage_elems * sizeof *m->stage);
    if (dtype != CLT_DTYPE_F32)
        m->stage16 = malloc(m->stage_elems * sizeof *m->stage16);
    clt_status s = CLT_ERR_OUT_OF_MEMORY;
    if (!m->params || !m->blocks || !m->set_holder || !m->owned || !m->stage ||
        (dtype != CLT_DTYPE_F32 && !m->stage16))
        goto done;
    m->layout_elems = gpt_params_layout(cfg, m->params);
    if (stream) {
        /* the engine's plan first: it names the tier */
        s = gpt_stream_setup(m, stream, comm, shard);
        if (s != CLT_OK)
            goto done;
        m->master = clt_offload_master_buffer(m->off);
    }
    s = allocate_all(m);
done:
    if (s != CLT_OK) {
        gpt_destroy(m);
        return s;
    }
    *out = m;
    return CLT_OK;
}

clt_status gpt_create(clt_context *ctx, const struct gpt_config *cfg, clt_dtype dtype,
                      int batch, gpt_model **out)
{
    return create(ctx, cfg, dtype, batch, NULL, NULL, false, out);
}

clt_status gpt_create_streamed(clt_context *ctx, const struct gpt_config *cfg, clt_dtype dtype,
                               int batch, const clt_offload_opts *opts, gpt_model **out)
{
    return gpt_create_streamed_comm(ctx, cfg, dtype, batch, opts, NULL, false, out);
}

clt_status gpt_create_streamed_comm(clt_context *ctx, const struct gpt_config *cfg,
                                    clt_dtype dtype, int batch, const clt_offload_opts *opts,
                                    clt_comm *comm, bool shard, gpt_model **out)
{
    if (!opts)
        return CLT_ERR_INVALID_ARG;
    return create(ctx, cfg, dtype, batch, opts, comm, shard, out);
}

void gpt_destroy(gpt_model *m)
{
    if (!m)
        return;
    clt_offload_destroy(m->off);
    free(m->bind);
    for (size_t i = 0; i < m->n_owned; i++)
        clt_buffer_destroy(m->owned[i]);
    free(m->owned);
    free(m->blocks);
    free(m->set_holder);
    free(m->params);
    free(m->stage);
    free(m->stage16);
    free(m);
}

clt_status gpt_sync_work(gpt_model *m)
{
    if (m->off)
        return check(m, clt_offload_sync_work(m->off));
    if (m->work == m->master)
        return CLT_OK;
    const size_t es = clt_dtype_size(m->dtype);
    for (size_t off = 0; off < m->layout_elems; off += m->stage_elems) {
        const size_t n = m->layout_elems - off < m->stage_elems ? m->layout_elems - off
                                                                 : m->stage_elems;
        TRY(check(m, clt_buffer_read(m->master, off * sizeof(float), m->stage,
                                     n * sizeof(float), NULL)));
        TRY(check(m, clt_convert(m->dtype, m->stage16, CLT_DTYPE_F32, m->stage, n)));
        TRY(check(m, clt_buffer_write(m->work, off * es, m->stage16, n * es, NULL)));
    }
    return CLT_OK;
}

/* ---- forward pass ---------------------------------------------------------------------- */

/* Checks B, T and the ids on the host, before anything reaches the device, and uploads
 * them. */
static clt_status upload_batch(gpt_model *m, const int32_t *tokens, const int32_t *targets,
                               int B, int T)
{
    const int V = m->cfg.vocab;
    if (B < 1 || B > m->batch)
        return fail(m, CLT_ERR_INVALID_ARG,
                    "gpt_forward: B = %d sequences; this model was made for 1 to %d", B,
                    m->batch);
    if (T < 1 || T > m->cfg.ctx)
        return fail(m, CLT_ERR_INVALID_ARG,
                    "gpt_forward: T = %d tokens; the context holds 1 to %d", T, m->cfg.ctx);
    if (!tokens)
        return fail(m, CLT_ERR_INVALID_ARG, "gpt_forward: tokens is NULL");
    const size_t n = (size_t)B * (size_t)T;
    for (size_t i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= V)
            return fail(m, CLT_ERR_INVALID_ARG,
                        "gpt_forward: token %d at position %zu (sequence %zu, t = %zu) is "
                        "outside the vocabulary [0, %d)",
                        tokens[i], i, i / (size_t)T, i % (size_t)T, V);
        if (targets && (targets[i] < GPT_IGNORE_TARGET || targets[i] >= V))
            return fail(m, CLT_ERR_INVALID_ARG,
                        "gpt_forward: target %d at position %zu (sequence %zu, t = %zu) is "
                        "outside the vocabulary [0, %d) and is not %d (ignored)",
                        targets[i], i, i / (size_t)T, i % (size_t)T, V, GPT_IGNORE_TARGET);
    }
    TRY(check(m, clt_buffer_write(m->tokens, 0, tokens, n * sizeof *tokens, NULL)));
    if (targets)
        TRY(check(m, clt_buffer_write(m->targets, 0, targets, n * sizeof *targets, NULL)));
    return CLT_OK;
}

clt_status gpt_block_forward(gpt_model *m, int l, clt_buffer *input)
{
    struct block_acts *b = &m->blocks[l];
    if (m->set_holder[b->set] == l)
        return CLT_OK; /* a recomputation of what the set still holds */
    m->set_holder[b->set] = -1;
    const int64_t BT = (int64_t)m->B * m->T, C = m->cfg.dim, NH = m->cfg.heads;
    const int64_t hs = C / NH;
    const clt_dtype dt = m->dtype;
    const size_t rows_bytes = (size_t)BT * (size_t)C * clt_dtype_size(dt);

    TRY(layernorm(m, mat(b->ln1, dt, BT, C), b->ln1_mean, b->ln1_rstd, mat(input, dt, BT, C),
                  block_param(l, L_LN1_W)));
    clt_tensor bias = pw(m, block_param(l, L_QKV_B));
    TRY(matmul(m, mat(b->qkv, dt, BT, 3 * C), mat(b->ln1, dt, BT, C), false,
               pw(m, block_param(l, L_QKV_W)), false, &bias, 0.0f));

    clt_op op = {.kind = CLT_OP_ATTENTION_FWD};
    op.u.attention_fwd.q = heads(m, b->qkv, 0, 3 * C);
    op.u.attention_fwd.k = heads(m, b->qkv, (size_t)C, 3 * C);
    op.u.attention_fwd.v = heads(m, b->qkv, 2 * (size_t)C, 3 * C);
    op.u.attention_fwd.o = heads(m, b->atty, 0, C);
    const int64_t lse_shape[3] = {m->B, NH, m->T}, lse_strides[3] = {NH * m->T, m->T, 1};
    op.u.attention_fwd.lse = view(b->att_lse, 0, CLT_DTYPE_F32, 3, lse_shape, lse_strides);
    op.u.attention_fwd.scale = 1.0f / sqrtf((float)hs);
    op.u.attention_fwd.causal = true;
    TRY(run(m, &op));

    /* residual2 = input + atty·W + b: the input copied in, the projection added by GEMM */
    TRY(copy(m, b->residual2, input, rows_bytes));
    bias = pw(m, block_param(l, L_ATTPROJ_B));
    TRY(matmul(m, mat(b->residual2, dt, BT, C), mat(b->atty, dt, BT, C), false,
               pw(m, block_param(l, L_ATTPROJ_W)), false, &bias, 1.0f));

    TRY(layernorm(m, mat(b->ln2, dt, BT, C), b->ln2_mean, b->ln2_rstd,
                  mat(b->residual2, dt, BT, C), block_param(l, L_LN2_W)));
    bias = pw(m, block_param(l, L_FC_B));
    TRY(matmul(m, mat(b->fch, dt, BT, 4 * C), mat(b->ln2, dt, BT, C), false,
               pw(m, block_param(l, L_FC_W)), false, &bias, 0.0f));
    clt_op gelu = {.kind = CLT_OP_GELU_FWD};
    gelu.u.gelu_fwd.x = mat(b->fch, dt, BT, 4 * C);
    gelu.u.gelu_fwd.y = mat(b->fch_gelu, dt, BT, 4 * C);
    TRY(run(m, &gelu));

    TRY(copy(m, b->residual3, b->residual2, rows_bytes));
    bias = pw(m, block_param(l, L_FCPROJ_B));
    TRY(matmul(m, mat(b->residual3, dt, BT, C), mat(b->fch_gelu, dt, BT, 4 * C), false,
               pw(m, block_param(l, L_FCPROJ_W)), false, &bias, 1.0f));
    m->set_holder[b->set] = l;
    return CLT_OK;
}

/* The last block's output, the input of ln_f. */
static clt_buffer *final_residual(const gpt_model *m)
{
    return m->blocks[m->cfg.layers - 1].residual3;
}

clt_status gpt_forward(gpt_model *m, const int32_t *tokens, const int32_t *targets, int B,
                       int T, float *loss)
{
    m->logits_valid = m->can_backward = false;
    if (targets && !loss)
        return fail(m, CLT_ERR_INVALID_ARG, "gpt_forward: targets given but loss is NULL");
    TRY(upload_batch(m, tokens, targets, B, T));
    m->B = B;
    m->T = T;
    const int64_t BT = (int64_t)B * T, C = m->cfg.dim, V = m->cfg.vocab;
    const clt_dtype dt = m->dtype;
    for (int l = 0; l < m->cfg.layers; l++)
        m->set_holder[l] = -1; /* every block's activations are this pass's from here on */
    TRY(gpt_stream_forward_begin(m));

    clt_op op = {.kind = CLT_OP_EMBEDDING_FWD};
    const int64_t tok_shape[2] = {B, T}, tok_strides[2] = {T, 1};
    const int64_t enc_shape[3] = {B, T, C}, enc_strides[3] = {T * C, C, 1};
    op.u.embedding_fwd.tokens = view(m->tokens, 0, CLT_DTYPE_I32, 2, tok_shape, tok_strides);
    op.u.embedding_fwd.wte = pw(m, P_WTE);
    op.u.embedding_fwd.wpe = pw(m, P_WPE);
    op.u.embedding_fwd.out = view(m->encoded, 0, dt, 3, enc_shape, enc_strides);
    TRY(run(m, &op));

    for (int l = 0; l < m->cfg.layers; l++) {
        TRY(gpt_stream_block_forward_begin(m, l));
        TRY(gpt_block_forward(m, l, l == 0 ? m->encoded : m->blocks[l - 1].residual3));
        TRY(gpt_stream_block_forward_end(m, l));
    }

    TRY(layernorm(m, mat(m->lnf, dt, BT, C), m->lnf_mean, m->lnf_rstd,
                  mat(final_residual(m), dt, BT, C), lnf_param(m, K_LNF_W)));
    /* the LM head is the token embedding: logits = lnf·wteᵀ */
    TRY(matmul(m, mat(m->logits, dt, BT, V), mat(m->lnf, dt, BT, C), false, pw(m, P_WTE), true,
               NULL, 0.0f));

    if (!targets) {
        TRY(check(m, clt_context_finish(m->ctx)));
        m->logits_valid = true;
        return CLT_OK;
    }
    clt_op ce = {.kind = CLT_OP_CROSS_ENTROPY_FWD};
    ce.u.cross_entropy_fwd.logits = mat(m->logits, dt, BT, V);
    ce.u.cross_entropy_fwd.targets = vec(m->targets, CLT_DTYPE_I32, BT);
    ce.u.cross_entropy_fwd.loss = vec(m->loss, CLT_DTYPE_F32, 1);
    ce.u.cross_entropy_fwd.lse = vec(m->lse, CLT_DTYPE_F32, BT);
    ce.u.cross_entropy_fwd.ignore_index = GPT_IGNORE_TARGET;
    TRY(run(m, &ce));
    TRY(check(m, clt_context_finish(m->ctx))); /* reports any failure of the queued work */
    TRY(check(m, clt_buffer_read(m->loss, 0, loss, sizeof *loss, NULL)));
    m->logits_valid = m->can_backward = true;
    return CLT_OK;
}

clt_status gpt_logits_at(gpt_model *m, int b, int t, float *out)
{
    if (!m->logits_valid)
        return fail(m, CLT_ERR_INVALID_ARG,
                    "gpt_logits_at: no logits to read (no gpt_forward yet, it failed, or a "
                    "gpt_backward has since overwritten them)");
    if (b < 0 || b >= m->B || t < 0 || t >= m->T)
        return fail(m, CLT_ERR_INVALID_ARG,
                    "gpt_logits_at: sequence %d, position %d is outside the last forward "
                    "pass's %d x %d",
                    b, t, m->B, m->T);
    if (!out)
        return fail(m, CLT_ERR_INVALID_ARG, "gpt_logits_at: out is NULL");
    const size_t V = (size_t)m->cfg.vocab, es = clt_dtype_size(m->dtype);
    const size_t offset = ((size_t)b * (size_t)m->T + (size_t)t) * V * es;
    if (m->dtype == CLT_DTYPE_F32)
        return check(m, clt_buffer_read(m->logits, offset, out, V * es, NULL));
    TRY(check(m, clt_buffer_read(m->logits, offset, m->stage16, V * es, NULL)));
    return check(m, clt_convert(CLT_DTYPE_F32, out, m->dtype, m->stage16, V));
}

/* ---- backward pass --------------------------------------------------------------------- */

static clt_status block_backward(gpt_model *m, int l, clt_buffer *input, bool accumulate)
{
    struct block_acts *b = &m->blocks[l];
    const int64_t BT = (int64_t)m->B * m->T, C = m->cfg.dim, NH = m->cfg.heads;
    const int64_t hs = C / NH;
    const clt_dtype dt = m->dtype;
    const clt_tensor dresidual = mat(m->dresidual, dt, BT, C), dln = mat(m->dln, dt, BT, C);

    /* dresidual holds d(residual3); the MLP's path: */
    const clt_tensor dfch = mat(m->dbig, dt, BT, 4 * C);
    TRY(linear_bwd(m, dfch, dresidual, mat(b->fch_gelu, dt, BT, 4 * C),
                   block_param(l, L_FCPROJ_W), accumulate));
    clt_op gelu = {.kind = CLT_OP_GELU_BWD};
    gelu.u.gelu_bwd.x = mat(b->fch, dt, BT, 4 * C);
    gelu.u.gelu_bwd.dy = dfch;
    gelu.u.gelu_bwd.dx = dfch;
    TRY(run(m, &gelu));
    TRY(linear_bwd(m, dln, dfch, mat(b->ln2, dt, BT, C), block_param(l, L_FC_W), accumulate));
    /* d(residual2) = d(residual3) + the MLP's input gradient */
    TRY(layernorm_bwd(m, dln, mat(b->residual2, dt, BT, C), block_param(l, L_LN2_W),
                      b->ln2_mean, b->ln2_rstd, dresidual, true, accumulate));

    /* the attention's path; dln holds d(atty) until attention's backward has read it */
    TRY(linear_bwd(m, dln, dresidual, mat(b->atty, dt, BT, C), block_param(l, L_ATTPROJ_W),
                   accumulate));
    clt_op op = {.kind = CLT_OP_ATTENTION_BWD};
    clt_attention_bwd_args *a = &op.u.attention_bwd;
    a->q = heads(m, b->qkv, 0, 3 * C);
    a->k = heads(m, b->qkv, (size_t)C, 3 * C);
    a->v = heads(m, b->qkv, 2 * (size_t)C, 3 * C);
    a->o = heads(m, b->atty, 0, C);
    a->dout = heads(m, m->dln, 0, C);
    const int64_t stat_shape[3] = {m->B, NH, m->T}, stat_strides[3] = {NH * m->T, m->T, 1};
    a->lse = view(b->att_lse, 0, CLT_DTYPE_F32, 3, stat_shape, stat_strides);
    a->delta = view(m->delta, 0, CLT_DTYPE_F32, 3, stat_shape, stat_strides);
    a->dq = heads(m, m->dbig, 0, 3 * C);
    a->dk = heads(m, m->dbig, (size_t)C, 3 * C);
    a->dv = heads(m, m->dbig, 2 * (size_t)C, 3 * C);
    a->scale = 1.0f / sqrtf((float)hs);
    a->causal = true;
    TRY(run(m, &op));
    TRY(linear_bwd(m, dln, mat(m->dbig, dt, BT, 3 * C), mat(b->ln1, dt, BT, C),
                   block_param(l, L_QKV_W), accumulate));
    /* d(input) = d(residual2) + the attention's input gradient */
    return layernorm_bwd(m, dln, mat(input, dt, BT, C), block_param(l, L_LN1_W), b->ln1_mean,
                         b->ln1_rstd, dresidual, true, accumulate);
}

clt_status gpt_set_grad_ready(gpt_model *m, gpt_grad_ready_fn fn, void *user)
{
    if (m->off)
        return fail(m, CLT_ERR_INVALID_ARG,
                    "gpt_set_grad_ready: a streamed model's gradients go to its offload "
                    "engine");
    m->grad_ready = fn;
    m->grad_ready_user = user;
    return CLT_OK;
}

/* Tells the hook that elements [first, end) of the layout are final. */
static clt_status grads_final(gpt_model *m, size_t first, size_t end)
{
    if (!m->grad_ready)
        return CLT_OK;
    const clt_status s = m->grad_ready(m->grad_ready_user, first, end - first);
    if (s != CLT_OK)
        snprintf(m->err, sizeof m->err, "gradient sync: %s", clt_last_error());
    return s;
}

/* Where block l's parameters start in the layout; l = layers: where ln_f's do. */
static size_t block_start(const gpt_model *m, int l)
{
    return m->params[l < m->cfg.layers ? block_param(l, 0) : lnf_param(m, K_LNF_W)].offset;
}

clt_status gpt_backward(gpt_model *m, float dloss, bool accumulate)
{
    if (!m->can_backward)
        return fail(m, CLT_ERR_INVALID_ARG,
                    "gpt_backward: no gpt_forward with targets since the last backward pass "
                    "(the backward pass consumes the forward pass's logits)");
    if (!isfinite(dloss))
        return fail(m, CLT_ERR_INVALID_ARG, "gpt_backward: dloss is %g; it must be finite",
                    (double)dloss);
    m->can_backward = m->logits_valid = false;
    TRY(gpt_stream_backward_begin(m, accumulate));
    const int64_t B = m->B, T = m->T, BT = B * T, C = m->cfg.dim, V = m->cfg.vocab;
    const clt_dtype dt = m->dtype;
    const clt_tensor logits = mat(m->logits, dt, BT, V), lnf = mat(m->lnf, dt, BT, C);

    /* dlogits, in place of the logits */
    clt_op ce = {.kind = CLT_OP_CROSS_ENTROPY_BWD};
    ce.u.cross_entropy_bwd.logits = logits;
    ce.u.cross_entropy_bwd.targets = vec(m->targets, CLT_DTYPE_I32, BT);
    ce.u.cross_entropy_bwd.lse = vec(m->lse, CLT_DTYPE_F32, BT);
    ce.u.cross_entropy_bwd.dlogits = logits;
    ce.u.cross_entropy_bwd.dloss = dloss;
    ce.u.cross_entropy_bwd.ignore_index = GPT_IGNORE_TARGET;
    TRY(run(m, &ce));
    /* d(lnf) = dlogits·wte; wte's share of the LM head comes last, added to what the
     * embedding's backward pass writes */
    TRY(matmul(m, mat(m->dln, dt, BT, C), logits, false, pw(m, P_WTE), false, NULL, 0.0f));
    TRY(layernorm_bwd(m, mat(m->dln, dt, BT, C), mat(final_residual(m), dt, BT, C),
                      lnf_param(m, K_LNF_W), m->lnf_mean, m->lnf_rstd,
                      mat(m->dresidual, dt, BT, C), false, accumulate));
    TRY(gpt_stream_lnf_grads_done(m));
    TRY(grads_final(m, block_start(m, m->cfg.layers), m->layout_elems));

    for (int l = m->cfg.layers - 1; l >= 0; l--) {
        clt_buffer *input = l == 0 ? m->encoded : m->blocks[l - 1].residual3;
        TRY(gpt_stream_block_backward_begin(m, l, input, accumulate));
        TRY(block_backward(m, l, input, accumulate));
        TRY(gpt_stream_block_backward_end(m, l));
        TRY(grads_final(m, block_start(m, l), block_start(m, l + 1)));
    }

    clt_op emb = {.kind = CLT_OP_EMBEDDING_BWD};
    const int64_t tok_shape[2] = {B, T}, tok_strides[2] = {T, 1};
    const int64_t d_shape[3] = {B, T, C}, d_strides[3] = {T * C, C, 1};
    emb.u.embedding_bwd.dout = view(m->dresidual, 0, dt, 3, d_shape, d_strides);
    emb.u.embedding_bwd.tokens = view(m->tokens, 0, CLT_DTYPE_I32, 2, tok_shape, tok_strides);
    emb.u.embedding_bwd.dwte = pg(m, P_WTE);
    emb.u.embedding_bwd.dwpe = pg(m, P_WPE);
    emb.u.embedding_bwd.accumulate = accumulate;
    TRY(run(m, &emb));
    /* dwte += dlogitsᵀ·lnf, the LM head's share */
    TRY(matmul(m, pg(m, P_WTE), logits, true, lnf, false, NULL, 1.0f));
    TRY(grads_final(m, 0, block_start(m, 0)));
    TRY(gpt_stream_backward_end(m));
    return check(m, clt_context_finish(m->ctx));
}
