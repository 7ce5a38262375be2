/* clt — ops. An op is described by a clt_op: its kind and the arguments of that kind.
 * clt_op_run validates it completely (shapes, dtypes, strides, aliasing, bounds)
 * before any device sees it; invalid input returns CLT_ERR_INVALID_ARG with a sentence
 * naming the op and the argument, and nothing is written. */
#ifndef CLT_OP_H
#define CLT_OP_H

#include "clt/status.h"
#include "clt/tensor.h"
#include "clt/types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum clt_op_kind {
    CLT_OP_GEMM = 0,
    CLT_OP_ATTENTION_FWD,
    CLT_OP_ATTENTION_BWD,
    CLT_OP_SOFTMAX,
    CLT_OP_SOFTMAX_BWD,
    CLT_OP_LAYERNORM_FWD,
    CLT_OP_LAYERNORM_BWD,
    CLT_OP_GELU_FWD,
    CLT_OP_GELU_BWD,
    CLT_OP_EMBEDDING_FWD,
    CLT_OP_EMBEDDING_BWD,
    CLT_OP_CROSS_ENTROPY_FWD,
    CLT_OP_CROSS_ENTROPY_BWD,
    CLT_OP_ADD,
    CLT_OP_SCALE,
    CLT_OP_BIAS_ADD,
    CLT_OP_BIAS_GRAD,
    CLT_OP_SQNORM,
    CLT_OP_ADAMW,
    CLT_OP_SGD,
    CLT_OP_LAMB,
    CLT_OP_QUANTIZE8,
    CLT_OP_DEQUANTIZE8,
} clt_op_kind;

#define CLT_OP_COUNT 23

/* Conventions shared by the ops below.
 * - "Rows": a rank-2 tensor (rows, n) whose rows are contiguous (last stride 1) and
 *   whose row stride is free. Flatten (B, T, C) to (B·T, C) with a descriptor.
 * - "Contiguous": strides exactly as clt_tensor_init makes them.
 * - Floating tensors of one op share one storage dtype (f32, f16 or bf16); statistics
 *   (lse, mean, rstd, delta, loss, norm) are always f32; indices are i32. Arithmetic is
 *   f32 whatever the storage.
 * - `accumulate` on a backward op: false writes the gradients, true adds them to what
 *   the output tensors hold (gradient accumulation over micro-batches).
 * - An output may be the same tensor as an input only where the op says "may be x"
 *   (same buffer, offset, shape and strides); any other overlap is refused.
 * - NaN and infinity in inputs propagate to the outputs they reach; no op hides them.
 *   Reductions (sqnorm, the norms and softmaxes of a row) turn NaN if any input is. */

/* C = alpha · op(A) · op(B) + beta · C + bias, row-major, in f32 arithmetic.
 *
 * a: (M,K), or (K,M) when trans_a; b: (K,N), or (N,K) when trans_b; c: (M,N).
 * Batched: c may have rank 3, (batch,M,N); a and b then have rank 3 with the same
 * batch, or rank 2 to use one matrix for every batch. Strides are free in every
 * dimension but the last, which must be 1 (rows are contiguous); a batch stride of 0
 * in a or b repeats one matrix. When beta is 0, C is not read (NaN in it does not
 * propagate). bias: optional (bias.buf NULL), shape (N,), added to every row.
 *
 * Storage: a and b are both f32, f16 or bf16; c is f32 or the dtype of a; bias has c's
 * dtype. Products are accumulated in f32 and rounded to c's dtype once, at the end. */
typedef struct clt_gemm_args {
    clt_tensor a, b, c;
    clt_tensor bias;
    bool trans_a, trans_b;
    float alpha, beta;
} clt_gemm_args;

/* Scaled dot-product attention, FlashAttention-2 style: never materialises T×T.
 *
 * q, k, v, o: (B, H, T, d), d one of 32, 64, 80, 96, 128; the last stride is 1, the
 * others are free, so the packed output of a fused QKV projection, (B, T, 3, H, d), is
 * read in place: q at element offset 0 with strides (3·H·d·T, d, 3·H·d, 1), k at H·d,
 * v at 2·H·d. o may likewise be written as (B, T, H, d).
 * lse: (B, H, T) f32, contiguous: the natural log of each row's sum of exponentials of
 * the scaled scores, which the backward pass needs.
 * O = softmax(scale · Q·Kᵀ + mask) · V, where with `causal` query i sees keys 0..i.
 * scale is usually 1/sqrt(d) and must be finite. */
typedef struct clt_attention_fwd_args {
    clt_tensor q, k, v;
    clt_tensor o;
    clt_tensor lse;
    float scale;
    bool causal;
} clt_attention_fwd_args;

/* The gradients of attention: q, k, v, o and lse as the forward pass gave them, dout
 * the gradient of o; writes dq, dk, dv (shapes and layout rules as q). delta: (B, H, T)
 * f32, contiguous, a workspace the op fills with rowsum(dout ∘ o); the caller provides it
 * so that all memory is the caller's and visible in its accounting. */
typedef struct clt_attention_bwd_args {
    clt_tensor q, k, v, o, dout;
    clt_tensor lse;
    clt_tensor delta;
    clt_tensor dq, dk, dv;
    float scale;
    bool causal;
} clt_attention_bwd_args;

typedef enum clt_softmax_algo {
    CLT_SOFTMAX_TWO_PASS = 0,   /* sum as (mantissa, exponent) pairs, then normalise */
    CLT_SOFTMAX_THREE_PASS = 1, /* max, then sum, then normalise: kept for comparison */
} clt_softmax_algo;

/* y = softmax(x) over each row. x, y: rows (n, V). y may be x. */
typedef struct clt_softmax_args {
    clt_tensor x, y;
    clt_softmax_algo algo;
} clt_softmax_args;

/* dx = y ∘ (dy − rowsum(dy ∘ y)), y the forward output. Rows (n, V). dx may be dy. */
typedef struct clt_softmax_bwd_args {
    clt_tensor y, dy, dx;
} clt_softmax_bwd_args;

/* out = (x − mean) · rstd · weight + bias over each row, rstd = 1/sqrt(var + eps), var
 * the biased variance. x, out: rows (n, C); weight, bias: (C,), contiguous; mean, rstd:
 * (n,) f32, contiguous, saved for the backward pass. eps must be finite and >= 0. */
typedef struct clt_layernorm_fwd_args {
    clt_tensor x, weight, bias;
    clt_tensor out, mean, rstd;
    float eps;
} clt_layernorm_fwd_args;

/* From dout and the forward's x, weight, mean and rstd: dx (rows (n, C)), dweight and
 * dbias ((C,), summed over rows in a fixed order, so results are deterministic). */
typedef struct clt_layernorm_bwd_args {
    clt_tensor dout, x, weight, mean, rstd;
    clt_tensor dx, dweight, dbias;
    bool accumulate;
} clt_layernorm_bwd_args;

/* GELU, tanh form: y = x/2 · (1 + tanh(sqrt(2/π) · (x + 0.044715 x³))). x, y contiguous,
 * same shape; y may be x. gelu(−inf) is NaN, as the formula gives. */
typedef struct clt_gelu_args {
    clt_tensor x, y;
} clt_gelu_args;

/* dx = dy · gelu'(x). Contiguous, same shape; dx may be dy. */
typedef struct clt_gelu_bwd_args {
    clt_tensor x, dy, dx;
} clt_gelu_bwd_args;

/* out[b,t,:] = wte[tokens[b,t],:] + wpe[t,:]. tokens: (B, T) i32, contiguous; wte: rows
 * (V, C); wpe: optional, rows (T_max, C) with T <= T_max; out: (B, T, C), last stride 1.
 * A token outside [0, V) is a data error no validation can see: its row of out is NaN. */
typedef struct clt_embedding_fwd_args {
    clt_tensor tokens, wte, wpe;
    clt_tensor out;
} clt_embedding_fwd_args;

/* dwte[v,:] = Σ dout[b,t,:] over positions whose token is v; dwpe[t,:] = Σ_b dout[b,t,:].
 * The sums run in a fixed order (position order), so the result is deterministic. dwpe
 * is optional; without accumulate its rows t >= T are written as 0. Tokens outside
 * [0, V) contribute nothing to dwte (their positions still count in dwpe). */
typedef struct clt_embedding_bwd_args {
    clt_tensor dout, tokens;
    clt_tensor dwte, dwpe;
    bool accumulate;
} clt_embedding_bwd_args;

/* Softmax fused with the negative log-likelihood over the vocabulary.
 * logits: rows (n, V); targets: (n,) i32, contiguous; loss: (1,) f32, the mean over the
 * rows whose target is not ignore_index (0 when every row is ignored); lse: (n,) f32,
 * contiguous, each row's logsumexp, for the backward pass. A target outside [0, V) that
 * is not ignore_index is a data error no validation can see: the loss becomes NaN. */
typedef struct clt_cross_entropy_fwd_args {
    clt_tensor logits, targets;
    clt_tensor loss, lse;
    int32_t ignore_index;
} clt_cross_entropy_fwd_args;

/* dlogits = dloss · (softmax(logits) − onehot(target)) / n_valid on each row whose target
 * is not ignore_index (n_valid counts those rows), 0 on the others. logits, targets and
 * lse as in the forward pass; dlogits: rows (n, V). dlogits may be logits. A target
 * outside [0, V) that is not ignore_index makes its row of dlogits NaN. */
typedef struct clt_cross_entropy_bwd_args {
    clt_tensor logits, targets, lse;
    clt_tensor dlogits;
    float dloss;
    int32_t ignore_index;
} clt_cross_entropy_bwd_args;

/* out = alpha · a + beta · b, elementwise; a, b, out contiguous, same shape. out may be
 * a or b (b += x is add with out = b, alpha = 1, beta = 1). b is read even when beta is
 * 0 (unlike GEMM's C), so NaN in b reaches out. */
typedef struct clt_add_args {
    clt_tensor a, b, out;
    float alpha, beta;
} clt_add_args;

/* x = alpha · x, in place; x contiguous. */
typedef struct clt_scale_args {
    clt_tensor x;
    float alpha;
} clt_scale_args;

/* y[r,:] += bias[:] for every row r. y: rows (n, N); bias: (N,), contiguous. */
typedef struct clt_bias_add_args {
    clt_tensor y, bias;
} clt_bias_add_args;

/* dbias[:] = Σ_r dy[r,:], summed in a fixed order. dy: rows (n, N); dbias: (N,),
 * contiguous. */
typedef struct clt_bias_grad_args {
    clt_tensor dy, dbias;
    bool accumulate;
} clt_bias_grad_args;

/* norm = Σ x², in a fixed order (deterministic on one device). x contiguous; norm: (1,)
 * f32. With accumulate, adds to norm: one norm over many tensors, for gradient
 * clipping. NaN anywhere gives NaN; an infinity, +inf. */
typedef struct clt_sqnorm_args {
    clt_tensor x, norm;
    bool accumulate;
} clt_sqnorm_args;

/* ---- optimizer steps ------------------------------------------------------------------
 * One fused pass per tensor (LAMB: two, for its trust ratio): read the gradient and the
 * state, update the f32 master parameter and the state in place, and optionally write a
 * rounded copy of the updated parameter (the device working copy in offloaded training).
 * Every tensor is rank 1 and contiguous; a range of a larger tensor is a descriptor with
 * an offset (with q8 states the range starts on a block boundary).
 *
 * States are f32, or q8: u8 codes into the 256-value dynamic map (signed for first
 * moments and momentum, unsigned for second moments) with one f32 absmax per block of
 * `block` elements (Dettmers et al.); each block is dequantized, updated and requantized
 * in the same pass. bitsandbytes keeps tensors under CLT_Q8_MIN_ELEMENTS in f32, and so
 * should callers. */
#define CLT_Q8_MIN_ELEMENTS 4096
#define CLT_Q8_DEFAULT_BLOCK 256

typedef struct clt_optim_hparams {
    float lr;            /* learning rate: finite, >= 0 */
    float beta1, beta2;  /* moment decay rates in [0, 1); SGD's momentum is beta1 */
    float eps;           /* AdamW, LAMB: finite, > 0 */
    float weight_decay;  /* AdamW, LAMB: decoupled, p -= lr·wd·p; SGD: g += wd·p */
    bool nesterov;       /* SGD */
    int64_t step;        /* the step taken, from 1: AdamW's and LAMB's bias correction */
    float grad_scale;    /* gradients are multiplied by it first (clipping, 1/loss scale) */
} clt_optim_hparams;

/* AdamW: m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²; p -= lr·(m̂/(sqrt(v̂)+eps) + wd·p),
 * with m̂ = m/(1−β1^step), v̂ = v/(1−β2^step), g = grad_scale·grad.
 * param (n,) f32; grad (n,) f32, f16 or bf16; m, v (n,) f32, or u8 codes with m_absmax,
 * v_absmax (ceil(n/block),) f32; param_copy optional (n,) f32, f16 or bf16; gate
 * optional (1,) f32: when it holds inf or NaN (pass the gradients' sqnorm) the step
 * changes nothing — a step with overflowed gradients is skipped without a host round
 * trip, and the caller, which holds the gate, reports it. block: elements per absmax with
 * u8 states, 0 for CLT_Q8_DEFAULT_BLOCK. */
typedef struct clt_adamw_args {
    clt_tensor param, grad;
    clt_tensor m, v;
    clt_tensor m_absmax, v_absmax;
    clt_tensor param_copy;
    clt_tensor gate;
    clt_optim_hparams h;
    int32_t block;
} clt_adamw_args;

/* SGD with momentum: g = grad_scale·grad + wd·p; with momentum (beta1 > 0, tensor
 * given) buf = β1·buf + g and the step is buf (nesterov: g + β1·buf); p -= lr·step.
 * momentum optional: f32, or u8 codes with momentum_absmax. Other tensors as AdamW. */
typedef struct clt_sgd_args {
    clt_tensor param, grad;
    clt_tensor momentum, momentum_absmax;
    clt_tensor param_copy;
    clt_tensor gate;
    clt_optim_hparams h;
    int32_t block;
} clt_sgd_args;

/* LAMB: the AdamW update u = m̂/(sqrt(v̂)+eps) + wd·p, scaled per tensor by the trust
 * ratio ‖p‖/‖u‖ (1 when either norm is 0): p -= lr·(‖p‖/‖u‖)·u. Tensors as AdamW. */
typedef clt_adamw_args clt_lamb_args;

/* Block-wise 8-bit quantization: codes, absmax = q8(x) with the signed or unsigned map.
 * x (n,) f32; codes (n,) u8; absmax (ceil(n/block),) f32. A block holding inf or NaN gets
 * absmax NaN (it dequantizes to NaN). */
typedef struct clt_quantize8_args {
    clt_tensor x, codes, absmax;
    bool is_signed;
    int32_t block;
} clt_quantize8_args;

/* x = map[codes]·absmax, the inverse. */
typedef struct clt_dequantize8_args {
    clt_tensor codes, absmax, x;
    bool is_signed;
    int32_t block;
} clt_dequantize8_args;

typedef struct clt_op {
    clt_op_kind kind;
    union {
        clt_gemm_args gemm;
        clt_attention_fwd_args attention_fwd;
        clt_attention_bwd_args attention_bwd;
        clt_softmax_args softmax;
        clt_softmax_bwd_args softmax_bwd;
        clt_layernorm_fwd_args layernorm_fwd;
        clt_layernorm_bwd_args layernorm_bwd;
        clt_gelu_args gelu_fwd;
        clt_gelu_bwd_args gelu_bwd;
        clt_embedding_fwd_args embedding_fwd;
        clt_embedding_bwd_args embedding_bwd;
        clt_cross_entropy_fwd_args cross_entropy_fwd;
        clt_cross_entropy_bwd_args cross_entropy_bwd;
        clt_add_args add;
        clt_scale_args scale;
        clt_bias_add_args bias_add;
        clt_bias_grad_args bias_grad;
        clt_sqnorm_args sqnorm;
        clt_adamw_args adamw;
        clt_sgd_args sgd;
        clt_lamb_args lamb;
        clt_quantize8_args quantize8;
        clt_dequantize8_args dequantize8;
        unsigned char reserved_[2048]; /* room for later ops without an ABI break */
    } u;
} clt_op;

/* "gemm", "attention_fwd" ...: the name of the union member; "?" for an unknown kind.
 * Static. */
CLT_API const char *clt_op_name(clt_op_kind kind);

/* Looks an op up by the name clt_op_name gives. Errors: CLT_ERR_INVALID_ARG for NULL
 * or a name that is no op's. */
CLT_API clt_status clt_op_from_name(const char *name, clt_op_kind *out);

/* Validates and runs the op on the context's device. If the device's driver cannot run
 * this op with these dtypes, the host driver runs it (logged at info level, counted in
 * clt_stats.ops_fallback). With `done` NULL it blocks until the op has finished;
 * otherwise see buffer.h for events (a host fallback has finished on return). `op` is
 * read during the call only; the tensors' buffers must belong to ctx and stay alive
 * until the op has finished. The first run of an op on an OpenCL device may build its
 * program and measure kernel candidates (CLT_TUNE): seconds, once per device and cache
 * directory. Work: one thread at a time per context (clt.h).
 * Errors: CLT_ERR_INVALID_ARG when validation fails (the text names the op, the argument
 * and the rule; nothing has been written); CLT_ERR_UNSUPPORTED when the device cannot run
 * this shape class and the host cannot stand in (a tile that needs more local memory
 * than the device has); CLT_ERR_OUT_OF_MEMORY for scratch memory some kernels need,
 * counted against the DEVICE tier; CLT_ERR_BUILD, CLT_ERR_LAUNCH and CLT_ERR_DEVICE_LOST
 * from the device. */
CLT_API clt_status clt_op_run(clt_context *ctx, const clt_op *op, clt_event **done);

/* Whether the context's device runs ops of this kind with this storage dtype (f32, f16
 * or bf16, in the op's tensors that take it) itself (true) or would fall back to the
 * host (false). False for i32 and u8, which hold indices and codes. Runs nothing.
 * Errors: CLT_ERR_INVALID_ARG for NULL ctx or out, an unknown kind or dtype. */
CLT_API clt_status clt_op_supported(clt_context *ctx, clt_op_kind kind, clt_dtype dtype,
                                    bool *out);

/* Shorthand for clt_op_run with a GEMM (args is copied into a clt_op). Errors: as
 * clt_op_run, and CLT_ERR_INVALID_ARG for NULL args. */
CLT_API clt_status clt_gemm(clt_context *ctx, const clt_gemm_args *args, clt_event **done);

#ifdef __cplusplus
}
#endif
#endif
