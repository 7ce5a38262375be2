/* Optimizer steps and 8-bit quantization on the host (include/clt/op.h): the reference
 * the device kernels are checked against, and the path offloaded training runs its
 * optimizer on. Arithmetic is f32 in a fixed order, element by element, so a range of a
 * tensor updates exactly as the same elements of the whole tensor do.
 *
 * States are walked in chunks: with q8 states a chunk is one quantization block
 * (dequantize, update, requantize), with f32 states CHUNK elements updated in place. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/host/host_driver.h"
#include "backends/host/quant8.h"
#include "runtime/dtype_access.h"
#include "runtime/error.h"
#include "runtime/ops.h"

#define CHUNK 4096

/* One state tensor (m, v or momentum) as the update loop sees it: f32 values of the
 * current chunk, backed by the tensor itself (f32) or by a scratch block (q8). */
struct state {
    float *f32;            /* the f32 tensor, or NULL for q8 */
    uint8_t *codes;        /* q8: the codes and one absmax per block */
    float *absmax;
    float map[256];
    float *chunk;          /* q8: the dequantized block */
};

static void state_init(struct state *s, const clt_tensor *t, const clt_tensor *absmax,
                       bool is_signed, float *scratch)
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
    s->chunk = scratch;
    if (is_signed)
        clt_q8_map_signed(s->map);
    else
        clt_q8_map_unsigned(s->map);
}

/* The f32 values of elements [at, at + len), chunk number `c`. */
static float *state_load(struct state *s, size_t at, size_t len, size_t c)
{
    if (s->f32)
        return s->f32 + at;
    if (!s->codes)
        return NULL;
    clt_q8_dequantize(s->codes + at, s->absmax + c, len, len, s->map, s->chunk);
    return s->chunk;
}

static void state_store(struct state *s, size_t at, size_t len, size_t c)
{
    if (s->codes)
        clt_q8_quantize(s->chunk, len, len, s->map, s->codes + at, s->absmax + c);
}

/* Whether the gate lets the step through: absent, or finite. */
static bool gate_open(const clt_tensor *gate)
{
    return !gate->buf || isfinite(*(const float *)clt_host_tensor_data(gate));
}

struct step_io {
    float *p;
    const void *grad;
    clt_dtype grad_dtype;
    void *copy;            /* param_copy or NULL */
    clt_dtype copy_dtype;
    size_t n, chunk;       /* elements; elements per chunk */
};

static struct step_io step_io_of(const clt_tensor *param, const clt_tensor *grad,
                                 const clt_tensor *copy, size_t chunk)
{
    return (struct step_io){
        .p = clt_host_tensor_data(param),
        .grad = clt_host_tensor_data(grad),
        .grad_dtype = grad->dtype,
        .copy = clt_host_tensor_data(copy),
        .copy_dtype = copy->dtype,
        .n = (size_t)param->shape[0],
        .chunk = chunk,
    };
}

/* Bias corrections 1 − β^step, in double and rounded once. */
static float bias_correction(float beta, int64_t step)
{
    return (float)(1.0 - pow((double)beta, (double)step));
}

/* AdamW's update direction for one element, with m and v already updated. */
static inline float adam_direction(float m, float v, float p, float bc1, float bc2,
                                   const clt_optim_hparams *h)
{
    return (m / bc1) / (sqrtf(v / bc2) + h->eps) + h->weight_decay * p;
}

static inline void adam_moments(float *m, float *v, float g, const clt_optim_hparams *h)
{
    *m = h->beta1 * *m + (1.0f - h->beta1) * g;
    *v = h->beta2 * *v + (1.0f - h->beta2) * (g * g);
}

/* One pass of AdamW or LAMB over every chunk. pass 0 (AdamW): update the moments and
 * the parameter. LAMB pass 1: update the moments, sum ‖p‖² and ‖u‖² (u from the moments
 * as stored, so pass 2 sees the same u); pass 2: p -= lr·trust·u. */
static void adam_pass(struct step_io *io, struct state *ms, struct state *vs,
                      const clt_optim_hparams *h, int pass, float trust, double sums[2])
{
    const float bc1 = bias_correction(h->beta1, h->step);
    const float bc2 = bias_correction(h->beta2, h->step);
    for (size_t at = 0, c = 0; at < io->n; at += io->chunk, c++) {
        const size_t len = io->n - at < io->chunk ? io->n - at : io->chunk;
        float *m = state_load(ms, at, len, c), *v = state_load(vs, at, len, c);
        float *p = io->p + at;
        if (pass != 2) {
            for (size_t i = 0; i < len; i++) {
                const float g = h->grad_scale * clt_load_elem(io->grad_dtype, io->grad, at + i);
                adam_moments(&m[i], &v[i], g, h);
            }
            state_store(ms, at, len, c);
            state_store(vs, at, len, c);
            if (pass == 1) { /* u from the moments as stored */
                m = state_load(ms, at, len, c);
                v = state_load(vs, at, len, c);
            }
        }
        for (size_t i = 0; i < len; i++) {
            const float u = adam_direction(m[i], v[i], p[i], bc1, bc2, h);
            if (pass == 1) {
                sums[0] += (double)p[i] * p[i];
                sums[1] += (double)u * u;
                continue;
            }
            p[i] -= h->lr * (pass == 2 ? trust * u : u);
            if (io->copy)
                clt_store_elem(io->copy_dtype, io->copy, at + i, p[i]);
        }
    }
}

static void sgd_pass(struct step_io *io, struct state *bs, const clt_optim_hparams *h)
{
    for (size_t at = 0, c = 0; at < io->n; at += io->chunk, c++) {
        const size_t len = io->n - at < io->chunk ? io->n - at : io->chunk;
        float *buf = state_load(bs, at, len, c);
        float *p = io->p + at;
        for (size_t i = 0; i < len; i++) {
            const float g = h->grad_scale * clt_load_elem(io->grad_dtype, io->grad, at + i) +
                            h->weight_decay * p[i];
            float step = g;
            if (buf) {
                buf[i] = h->beta1 * buf[i] + g;
                step = h->nesterov ? g + h->beta1 * buf[i] : buf[i];
            }
            p[i] -= h->lr * step;
            if (io->copy)
                clt_store_elem(io->copy_dtype, io->copy, at + i, p[i]);
        }
        state_store(bs, at, len, c);
    }
}

/* Elements per chunk: a q8 block when any state is q8 (they share the block size). */
static size_t chunk_of(bool q8, int32_t block)
{
    return q8 ? (size_t)clt_q8_block_of(block) : CHUNK;
}

static clt_status run_adam_like(struct clt_dev *dev, const clt_adamw_args *a, bool lamb)
{
    if (!gate_open(&a->gate))
        return CLT_OK;
    const bool q8 = a->m.dtype == CLT_DTYPE_U8 || a->v.dtype == CLT_DTYPE_U8;
    struct step_io io = step_io_of(&a->param, &a->grad, &a->param_copy, chunk_of(q8, a->block));
    const size_t scratch_bytes = q8 ? 2 * io.chunk * sizeof(float) : 0;
    float *scratch = NULL;
    clt_status s = CLT_OK;
    if (q8) {
        s = clt_dev_reserve(dev, scratch_bytes, lamb ? "lamb: q8 state blocks"
                                                     : "adamw: q8 state blocks");
        if (s != CLT_OK)
            return s;
        scratch = malloc(scratch_bytes);
        if (!scratch) {
            s = clt_fail(CLT_ERR_OUT_OF_MEMORY, "%s: no host memory for %zu bytes of q8 blocks",
                         lamb ? "lamb" : "adamw", scratch_bytes);
            goto done;
        }
    }
    struct state ms, vs;
    state_init(&ms, &a->m, &a->m_absmax, true, scratch);
    state_init(&vs, &a->v, &a->v_absmax, false, scratch ? scratch + io.chunk : NULL);
    if (!lamb) {
        adam_pass(&io, &ms, &vs, &a->h, 0, 1.0f, NULL);
    } else {
        double sums[2] = {0.0, 0.0};
        adam_pass(&io, &ms, &vs, &a->h, 1, 1.0f, sums);
        const double pn = sqrt(sums[0]), un = sqrt(sums[1]);
        const float trust = pn > 0 && un > 0 ? (float)(pn / un) : 1.0f;
        adam_pass(&io, &ms, &vs, &a->h, 2, trust, NULL);
    }
done:
    free(scratch);
    if (q8)
        clt_dev_release(dev, scratch_bytes);
    return s;
}

static clt_status run_sgd(struct clt_dev *dev, const clt_sgd_args *a)
{
    if (!gate_open(&a->gate))
        return CLT_OK;
    const bool q8 = a->momentum.buf && a->momentum.dtype == CLT_DTYPE_U8;
    struct step_io io = step_io_of(&a->param, &a->grad, &a->param_copy, chunk_of(q8, a->block));
    const size_t scratch_bytes = q8 ? io.chunk * sizeof(float) : 0;
    float *scratch = NULL;
    if (q8) {
        clt_status s = clt_dev_reserve(dev, scratch_bytes, "sgd: q8 momentum blocks");
        if (s != CLT_OK)
            return s;
        scratch = malloc(scratch_bytes);
        if (!scratch) {
            clt_dev_release(dev, scratch_bytes);
            return clt_fail(CLT_ERR_OUT_OF_MEMORY,
                            "sgd: no host memory for %zu bytes of q8 blocks", scratch_bytes);
        }
    }
    struct state bs;
    state_init(&bs, &a->momentum, &a->momentum_absmax, true, scratch);
    sgd_pass(&io, &bs, &a->h);
    free(scratch);
    if (q8)
        clt_dev_release(dev, scratch_bytes);
    return CLT_OK;
}

static void map_of(bool is_signed, float map[256])
{
    if (is_signed)
        clt_q8_map_signed(map);
    else
        clt_q8_map_unsigned(map);
}

clt_status clt_host_optim(struct clt_dev *dev, const clt_op *op)
{
    float map[256];
    switch (op->kind) {
    case CLT_OP_ADAMW:
        return run_adam_like(dev, &op->u.adamw, false);
    case CLT_OP_LAMB:
        return run_adam_like(dev, &op->u.lamb, true);
    case CLT_OP_SGD:
        return run_sgd(dev, &op->u.sgd);
    case CLT_OP_QUANTIZE8: {
        const clt_quantize8_args *a = &op->u.quantize8;
        map_of(a->is_signed, map);
        clt_q8_quantize(clt_host_tensor_data(&a->x), (size_t)a->x.shape[0],
                        (size_t)clt_q8_block_of(a->block), map, clt_host_tensor_data(&a->codes),
                        clt_host_tensor_data(&a->absmax));
        return CLT_OK;
    }
    case CLT_OP_DEQUANTIZE8: {
        const clt_dequantize8_args *a = &op->u.dequantize8;
        map_of(a->is_signed, map);
        clt_q8_dequantize(clt_host_tensor_data(&a->codes), clt_host_tensor_data(&a->absmax),
                          (size_t)a->x.shape[0], (size_t)clt_q8_block_of(a->block), map,
                          clt_host_tensor_data(&a->x));
        return CLT_OK;
    }
    default:
        return clt_fail(CLT_ERR_INTERNAL, "host: %s is not an optimizer op",
                        clt_op_name(op->kind));
    }
}
