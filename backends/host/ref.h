/* Host references: plain loops that define what every op computes. They are the
 * oracle the tests compare each driver against, so they favour clarity over speed. */
#ifndef CLT_HOST_REF_H
#define CLT_HOST_REF_H

#include "clt/clt.h"

/* C = alpha·op(A)·op(B) + beta·C + bias over every batch, with the shapes, strides,
 * dtypes and flags of `args` (the tensors' buf and offset fields are ignored). a, b, c
 * and bias point at element 0 of each tensor; bias may be NULL. Accumulates in double,
 * a sharper oracle than any f32 kernel, and rounds to c's dtype once. */
void clt_ref_gemm(const clt_gemm_args *args, const void *a, const void *b, void *c,
                  const void *bias);

/* The same, for f32 tensors. */
void clt_ref_gemm_f32(const clt_gemm_args *args, const float *a, const float *b, float *c,
                      const float *bias);

/* Scaled dot-product attention with the shapes, strides, dtypes, scale and causal flag of
 * `args` (buf and offset fields ignored; each pointer is element 0 of its tensor). It
 * holds nothing of size T×T: the caller passes a workspace of clt_ref_attention_*_work
 * bytes, O(T·d) (SIZE_MAX if that count overflows size_t). Arithmetic in double; every
 * output rounded to its dtype once. */
size_t clt_ref_attention_fwd_work(const clt_attention_fwd_args *args);
void clt_ref_attention_fwd(const clt_attention_fwd_args *args, const void *q, const void *k,
                           const void *v, void *o, float *lse, double *work);

/* The gradients, recomputing each probability from lse (FlashAttention-2); fills delta
 * with rowsum(dout ∘ o) and writes (not adds) dq, dk, dv. */
size_t clt_ref_attention_bwd_work(const clt_attention_bwd_args *args);
void clt_ref_attention_bwd(const clt_attention_bwd_args *args, const void *q, const void *k,
                           const void *v, const void *o, const void *dout, const float *lse,
                           float *delta, void *dq, void *dk, void *dv, double *work);

/* ---- elementwise_ref.c: GELU, add, scale, bias add and gradient, squared norm -------
 * Shapes, dtypes and flags come from the args (buf and offset are ignored); the
 * pointers are element 0 of each tensor. Arithmetic is f32 as in llm.c; reductions
 * accumulate in double and round once. In-place use (y = x, out = a ...) is fine: each
 * element is read before it is written. */

/* GELU, tanh form, and its analytic derivative (llm.c's gelu_backward), on one value. */
float clt_ref_gelu(float x);
float clt_ref_gelu_grad(float x);

void clt_ref_gelu_fwd(const clt_gelu_args *args, const void *x, void *y);
void clt_ref_gelu_bwd(const clt_gelu_bwd_args *args, const void *x, const void *dy, void *dx);
void clt_ref_add(const clt_add_args *args, const void *a, const void *b, void *out);
void clt_ref_scale(const clt_scale_args *args, void *x);
void clt_ref_bias_add(const clt_bias_add_args *args, void *y, const void *bias);
void clt_ref_bias_grad(const clt_bias_grad_args *args, const void *dy, void *dbias);
void clt_ref_sqnorm(const clt_sqnorm_args *args, const void *x, float *norm);

/* ---- embedding_ref.c --------------------------------------------------------------- */

void clt_ref_embedding_fwd(const clt_embedding_fwd_args *args, const int32_t *tokens,
                           const void *wte, const void *wpe, void *out);

/* Bytes of workspace clt_ref_embedding_bwd needs: the positions bucketed by token. */
size_t clt_ref_embedding_bwd_workspace(const clt_embedding_bwd_args *args);

/* dwpe may be NULL (no dwpe); `workspace` holds clt_ref_embedding_bwd_workspace bytes,
 * aligned for a double (malloc's alignment). */
void clt_ref_embedding_bwd(const clt_embedding_bwd_args *args, const void *dout,
                           const int32_t *tokens, void *dwte, void *dwpe, void *workspace);

/* ---- the row-wise ops (softmax_ref.c, layernorm_ref.c, cross_entropy_ref.c) ----------
 * Shapes, strides and dtypes come from the args (buf and offset are ignored); the
 * pointers are element 0 of each tensor, NULL for an absent optional one. Statistics
 * (mean, rstd, lse, loss) are f32 and contiguous, targets i32. Sums run in double. */

/* y = softmax(x) over each row; y may be x. */
void clt_ref_softmax(const clt_softmax_args *args, const void *x, void *y);

/* dx = y ∘ (dy − rowsum(dy ∘ y)); dx may be dy. */
void clt_ref_softmax_bwd(const clt_softmax_bwd_args *args, const void *y, const void *dy,
                         void *dx);

/* out = (x − mean)·rstd·weight + bias; mean and rstd are written when not NULL. */
void clt_ref_layernorm_fwd(const clt_layernorm_fwd_args *args, const void *x,
                           const void *weight, const void *bias, void *out, float *mean,
                           float *rstd);

/* dx, dweight and dbias (NULL: not wanted) from the forward's saved mean and rstd;
 * args->accumulate adds to them instead of overwriting. */
void clt_ref_layernorm_bwd(const clt_layernorm_bwd_args *args, const void *dout,
                           const void *x, const void *weight, const float *mean,
                           const float *rstd, void *dx, void *dweight, void *dbias);

/* lse of each row, and loss = the mean of lse − logit[target] over the rows whose target
 * is not ignore_index (0 when there are none; NaN when a target is outside [0, V)). */
void clt_ref_cross_entropy_fwd(const clt_cross_entropy_fwd_args *args, const void *logits,
                               const int32_t *targets, float *loss, float *lse);

/* dlogits = dloss·(exp(logit − lse) − onehot(target))/n_valid; 0 on ignored rows, NaN on
 * rows whose target is outside [0, V). dlogits may be logits. */
void clt_ref_cross_entropy_bwd(const clt_cross_entropy_bwd_args *args, const void *logits,
                               const int32_t *targets, const float *lse, void *dlogits);

#endif
