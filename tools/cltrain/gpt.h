/* The GPT-2 model of cltrain, composed from clt ops through the public API only:
 * learned positions, pre-LayerNorm blocks, fused QKV, causal attention, a GELU MLP and
 * an LM head tied to the token embedding (Radford et al. 2019; the shapes of llm.c's
 * train_gpt2.c).
 *
 * Parameters are one f32 buffer, the master copy, every tensor a contiguous view into it
 * at the offset its gpt_param gives, in the order, names, shapes and layouts of the
 * common GPT-2 checkpoints (Conv1D weights stored [in, out]). Gradients are one buffer of
 * the same layout in the compute dtype. With a compute dtype other than f32 the forward
 * and backward passes read a working copy of the parameters in that dtype (one more
 * buffer, same layout), which the optimizer's param_copy writes. */
#ifndef CLTRAIN_GPT_H
#define CLTRAIN_GPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <clt/clt.h>

struct gpt_config {
    int layers, heads, dim, ctx, vocab;
};

/* tiny (tests: 2 layers, 2 heads, 64 dims, ctx 64), small (~10M parameters: 6, 6, 384,
 * 256), gpt2 (GPT-2 124M's shapes: 12, 12, 768, 1024); vocab 256 (bytes). false for an
 * unknown name. */
bool gpt_config_preset(const char *name, struct gpt_config *out);

/* Whether the shape can be built; else a sentence in err naming the field: every field
 * >= 1, dim a multiple of heads, head size dim/heads one attention runs (32, 64, 80, 96,
 * 128), and sizes whose parameter count fits in memory arithmetic. */
bool gpt_config_valid(const struct gpt_config *cfg, char *err, size_t cap);

/* One parameter tensor. */
struct gpt_param {
    char name[48];     /* "wte.weight", "h.3.attn.c_attn.weight", ... */
    int rank;          /* 1 or 2 */
    int64_t shape[2];
    size_t offset;     /* in elements, into the parameter layout */
    size_t numel;
    bool decay;        /* weight decay applies: the 2-D weights, not biases, LayerNorms
                        * or the position embedding (GPT-2 / nanoGPT convention) */
};

/* The parameters in layout order: wte, wpe, then per layer ln_1.{weight,bias},
 * attn.c_attn.{weight,bias}, attn.c_proj.{weight,bias}, ln_2.{weight,bias},
 * mlp.c_fc.{weight,bias}, mlp.c_proj.{weight,bias}, then ln_f.{weight,bias}. Offsets are
 * each a multiple of 64 elements (so every tensor starts on a 256-byte boundary and on a
 * q8 block boundary). gpt_param_count gives how many; gpt_params_layout fills `out` (that many
 * entries) and returns the total element count of the layout, padding included. */
size_t gpt_param_count(const struct gpt_config *cfg);
size_t gpt_params_layout(const struct gpt_config *cfg, struct gpt_param *out);

/* GPT-2's initialisation into host memory params (the layout's total, f32): weights
 * N(0, 0.02), the residual projections (attn.c_proj, mlp.c_proj) N(0, 0.02/sqrt(2·layers)),
 * biases 0, LayerNorm weights 1 and biases 0, padding 0. Deterministic in seed (the same
 * bits on every machine: its own RNG and Box–Muller in double). */
void gpt_init_params(const struct gpt_config *cfg, uint64_t seed, float *params);

typedef struct gpt_model gpt_model;

/* A model on ctx's device for micro-batches of up to `batch` sequences of up to cfg->ctx
 * tokens, computing in `dtype` (f32, bf16 or f16): parameters (zero; the caller uploads
 * or loads them), gradients (zero, padding included, which no pass writes), the working
 * copy when dtype is not f32, and every activation the backward pass needs; nothing is
 * allocated after this. Errors: the status of the allocation that failed (its text, in
 * clt_last_error(), names the tier and the bytes), CLT_ERR_INVALID_ARG without a text
 * for a config that is not valid (gpt_config_valid says why), another dtype, batch < 1
 * or batch·ctx >= 2^31. */
clt_status gpt_create(clt_context *ctx, const struct gpt_config *cfg, clt_dtype dtype,
                      int batch, gpt_model **out);
void gpt_destroy(gpt_model *m);

/* The same model streamed through an offload engine (clt/offload.h) that it creates with
 * `opts` (work_dtype is set to dtype): one parameter group for wte and wpe, one per block,
 * one for ln_f (the first and last resident on the device), laid out as the layout
 * above, so gpt_param_buffer is the engine's master buffer (HOST or NVME) in the same
 * layout. The forward pass keeps only each block's input; the backward pass recomputes
 * each block's activations from it into one shared set before its backward pass (but
 * those gpt_keep_activations gives a set of their own).
 * Gradients go to the engine (clt_offload_grads_ready per group); the caller runs the
 * engine's norm and step instead of an optimizer. gpt_grad_buffer and gpt_work_buffer
 * are NULL. Errors: the engine's plan (naming the tier), then the device allocations. */
clt_status gpt_create_streamed(clt_context *ctx, const struct gpt_config *cfg, clt_dtype dtype,
                               int batch, const clt_offload_opts *opts, gpt_model **out);
/* gpt_create_streamed for a data-parallel run: the engine takes part in comm's ranks
 * (clt_offload_set_comm before its plan: it sums each group's gradients over the ranks
 * and, with shard, keeps only the optimizer state of the groups this rank owns). comm
 * NULL: gpt_create_streamed. A collective: every rank calls it. */
clt_status gpt_create_streamed_comm(clt_context *ctx, const struct gpt_config *cfg,
                                    clt_dtype dtype, int batch, const clt_offload_opts *opts,
                                    clt_comm *comm, bool shard, gpt_model **out);
/* A streamed model recomputes each block's activations in the backward pass, in one
 * shared set, but the last block's (still there from the forward pass). This gives the
 * blocks below it sets of their own, kept from the forward pass, for as many as the
 * DEVICE budget holds while `reserve` bytes stay free (the ops' scratch, later
 * allocations): fewer recomputations, the same results. *kept (may be NULL) says how
 * many blocks go without recomputation (every block of a resident model). */
clt_status gpt_keep_activations(gpt_model *m, uint64_t reserve, int *kept);

/* The engine of a streamed model; NULL for a resident one. */
clt_offload *gpt_offload(gpt_model *m);

const struct gpt_config *gpt_config_of(const gpt_model *m);
clt_dtype gpt_dtype(const gpt_model *m);
clt_buffer *gpt_param_buffer(gpt_model *m);   /* f32 master parameters */
clt_buffer *gpt_grad_buffer(gpt_model *m);    /* gradients, compute dtype */
clt_buffer *gpt_work_buffer(gpt_model *m);    /* working copy, compute dtype; the
                                               * master buffer itself when f32 */
/* The layout's parameters (gpt_param_count of them), owned by the model. */
const struct gpt_param *gpt_param_table(const gpt_model *m, size_t *count);
/* Bytes of device memory the model holds: parameters, gradients, working copy,
 * activations. */
size_t gpt_bytes(const gpt_model *m);

/* The sentence describing the last failure of a gpt_* call on m: the model's own checks
 * (token ids, B, T, call order) or a copy of clt_last_error() from the clt call that
 * failed (which clt_last_error() still holds as well). "" before any failure. */
const char *gpt_error(const gpt_model *m);

/* Writes the working copy from the master parameters (after an upload or load; the
 * optimizer keeps it current afterwards). Nothing to do for f32. */
clt_status gpt_sync_work(gpt_model *m);

/* A target that contributes no loss (padding). */
#define GPT_IGNORE_TARGET (-1)

/* Forward pass on B sequences of T tokens (1 <= B <= batch, 1 <= T <= ctx): tokens and
 * targets are host arrays (B·T) of i32. With targets, the mean cross-entropy over the
 * positions whose target is not GPT_IGNORE_TARGET is written to *loss (read back to the
 * host: the call returns when the pass has finished) and the pass keeps what
 * gpt_backward needs; targets NULL computes logits only (sampling; loss may be NULL).
 * Tokens must be in [0, vocab), targets too or GPT_IGNORE_TARGET; both are checked on
 * the host before anything is uploaded: else CLT_ERR_INVALID_ARG naming the position and
 * the value (gpt_error). */
clt_status gpt_forward(gpt_model *m, const int32_t *tokens, const int32_t *targets, int B,
                       int T, float *loss);

/* Backward pass of the last gpt_forward with targets: gradients of dloss·loss for every
 * parameter, written (accumulate false) or added (accumulate true: micro-batches of one
 * step). dloss carries 1/accum and the f16 loss scale. It turns the forward pass's
 * logits into their gradient in place (as llm.c does), so it runs once per forward pass
 * (a second call is refused) and gpt_logits_at no longer reads them afterwards. Returns
 * when the pass has finished. */
clt_status gpt_backward(gpt_model *m, float dloss, bool accumulate);

/* A data-parallel run's hook into gpt_backward: called as each parameter group's
 * gradients are final in the work submitted so far, elements [first, first + count) of
 * the layout (padding included), groups in the order their backward passes end: ln_f,
 * block L-1 .. block 0, then wte and wpe together (the LM head and the embedding both
 * write wte, the embedding's last). The ranges cover the layout once per pass; a failure
 * ends the pass with its status (gpt_error says "gradient sync: ..."). fn NULL removes
 * the hook. Resident models only: CLT_ERR_INVALID_ARG for a streamed one, whose
 * gradients go to its engine. */
typedef clt_status (*gpt_grad_ready_fn)(void *user, size_t first, size_t count);
clt_status gpt_set_grad_ready(gpt_model *m, gpt_grad_ready_fn fn, void *user);

/* After a gpt_forward (with or without targets, before any gpt_backward): the V logits
 * of sequence b < B at position t < T, to host memory as f32. */
clt_status gpt_logits_at(gpt_model *m, int b, int t, float *out);

#endif
