/* Shape and hyper-parameter rules of the optimizer steps and the 8-bit quantization ops
 * (include/clt/op.h): every tensor rank 1 and contiguous, one length n for the
 * per-element ones, an absmax of ceil(n/block) beside every u8 state and only there,
 * and hyper-parameters in their ranges. */
#include <math.h>

#include "runtime/error.h"
#include "runtime/ops.h"

#define BLOCK_MAX (1 << 20) /* a block is summarised by one absmax; beyond this, pointless */

int64_t clt_q8_block_of(int32_t block) { return block == 0 ? CLT_Q8_DEFAULT_BLOCK : block; }

static clt_status check_block(const char *op, int32_t block)
{
    if (block < 0 || block > BLOCK_MAX)
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "%s: block is %d; it must be 1 to %d (0 for the default, %d)", op,
                        (int)block, BLOCK_MAX, CLT_Q8_DEFAULT_BLOCK);
    return CLT_OK;
}

/* A present tensor: contiguous with n elements. */
static clt_status check_vector(const char *op, const char *name, const clt_tensor *t, int64_t n,
                               const char *why)
{
    if (!t->buf)
        return CLT_OK;
    clt_status s = clt_check_contiguous(op, name, t);
    return s == CLT_OK ? clt_check_dim(op, name, t, 0, n, why) : s;
}

/* A state of n elements: f32 with no absmax, or u8 codes with an absmax of one value per
 * block. */
static clt_status check_state(const char *op, const char *name, const clt_tensor *state,
                              const char *absmax_name, const clt_tensor *absmax, int64_t n,
                              int32_t block)
{
    clt_status s = check_vector(op, name, state, n, "the length n of param");
    if (s != CLT_OK || !state->buf)
        return s;
    if (state->dtype == CLT_DTYPE_F32) {
        if (absmax->buf)
            return clt_fail(CLT_ERR_INVALID_ARG,
                            "%s: argument %s is given, but %s is f32 (an absmax goes only with "
                            "u8 codes)",
                            op, absmax_name, name);
        return CLT_OK;
    }
    if (!absmax->buf)
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "%s: argument %s holds u8 codes, so %s (its f32 absmax per block) is "
                        "required",
                        op, name, absmax_name);
    const int64_t b = clt_q8_block_of(block);
    return check_vector(op, absmax_name, absmax, (n + b - 1) / b, "one absmax per block");
}

static clt_status check_hparams(const char *op, const clt_optim_hparams *h, bool adam)
{
    clt_status s = CLT_OK;
    const struct {
        const char *name;
        float value;
    } finite[] = {{"h.lr", h->lr}, {"h.beta1", h->beta1}, {"h.beta2", h->beta2},
                  {"h.eps", h->eps}, {"h.weight_decay", h->weight_decay},
                  {"h.grad_scale", h->grad_scale}};
    for (size_t i = 0; i < sizeof finite / sizeof finite[0] && s == CLT_OK; i++)
        s = clt_check_finite(op, finite[i].name, finite[i].value);
    if (s != CLT_OK)
        return s;
    if (h->lr < 0)
        return clt_fail(CLT_ERR_INVALID_ARG, "%s: h.lr is %g; it must be >= 0", op, (double)h->lr);
    if (h->beta1 < 0 || h->beta1 >= 1 || (adam && (h->beta2 < 0 || h->beta2 >= 1)))
        return clt_fail(CLT_ERR_INVALID_ARG, "%s: h.%s is %g; it must lie in [0, 1)", op,
                        h->beta1 < 0 || h->beta1 >= 1 ? "beta1" : "beta2",
                        (double)(h->beta1 < 0 || h->beta1 >= 1 ? h->beta1 : h->beta2));
    if (adam && h->eps <= 0)
        return clt_fail(CLT_ERR_INVALID_ARG, "%s: h.eps is %g; it must be > 0", op,
                        (double)h->eps);
    if (adam && h->step < 1)
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "%s: h.step is %lld; steps count from 1 (bias correction)", op,
                        (long long)h->step);
    return CLT_OK;
}

/* param, grad, param_copy and gate: the tensors every step has. */
static clt_status check_step(const char *op, const clt_tensor *param, const clt_tensor *grad,
                             const clt_tensor *copy, const clt_tensor *gate, int32_t block)
{
    const int64_t n = param->shape[0];
    clt_status s = clt_check_contiguous(op, "param", param);
    if (s == CLT_OK)
        s = check_vector(op, "grad", grad, n, "the length n of param");
    if (s == CLT_OK)
        s = check_vector(op, "param_copy", copy, n, "the length n of param");
    if (s == CLT_OK && gate->buf)
        s = clt_check_dim(op, "gate", gate, 0, 1, "one value");
    return s == CLT_OK ? check_block(op, block) : s;
}

static clt_status check_adam_like(const char *op, const clt_adamw_args *a)
{
    const int64_t n = a->param.shape[0];
    clt_status s = check_step(op, &a->param, &a->grad, &a->param_copy, &a->gate, a->block);
    if (s == CLT_OK)
        s = check_state(op, "m", &a->m, "m_absmax", &a->m_absmax, n, a->block);
    if (s == CLT_OK)
        s = check_state(op, "v", &a->v, "v_absmax", &a->v_absmax, n, a->block);
    return s == CLT_OK ? check_hparams(op, &a->h, true) : s;
}

clt_status clt_check_adamw(const clt_op *op) { return check_adam_like("adamw", &op->u.adamw); }

clt_status clt_check_lamb(const clt_op *op) { return check_adam_like("lamb", &op->u.lamb); }

clt_status clt_check_sgd(const clt_op *op)
{
    const clt_sgd_args *a = &op->u.sgd;
    const int64_t n = a->param.shape[0];
    clt_status s = check_step("sgd", &a->param, &a->grad, &a->param_copy, &a->gate, a->block);
    if (s == CLT_OK)
        s = check_state("sgd", "momentum", &a->momentum, "momentum_absmax", &a->momentum_absmax,
                        n, a->block);
    if (s == CLT_OK)
        s = check_hparams("sgd", &a->h, false);
    if (s == CLT_OK && a->h.beta1 > 0 && !a->momentum.buf)
        s = clt_fail(CLT_ERR_INVALID_ARG,
                     "sgd: h.beta1 (the momentum) is %g but argument momentum is absent",
                     (double)a->h.beta1);
    if (s == CLT_OK && a->h.nesterov && !a->momentum.buf)
        s = clt_fail(CLT_ERR_INVALID_ARG, "sgd: h.nesterov needs argument momentum");
    return s;
}

/* x and codes of n elements, absmax of one value per block. */
static clt_status check_q8(const char *op, const clt_tensor *x, const clt_tensor *codes,
                           const clt_tensor *absmax, int32_t block)
{
    clt_status s = check_block(op, block);
    if (s == CLT_OK)
        s = clt_check_contiguous(op, "x", x);
    const int64_t n = x->shape[0], b = clt_q8_block_of(block);
    if (s == CLT_OK)
        s = check_vector(op, "codes", codes, n, "the length n of x");
    return s == CLT_OK ? check_vector(op, "absmax", absmax, (n + b - 1) / b, "one per block")
                       : s;
}

clt_status clt_check_quantize8(const clt_op *op)
{
    const clt_quantize8_args *a = &op->u.quantize8;
    return check_q8("quantize8", &a->x, &a->codes, &a->absmax, a->block);
}

clt_status clt_check_dequantize8(const clt_op *op)
{
    const clt_dequantize8_args *a = &op->u.dequantize8;
    return check_q8("dequantize8", &a->x, &a->codes, &a->absmax, a->block);
}
