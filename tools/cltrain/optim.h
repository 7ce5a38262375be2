/* cltrain's optimizer: one clt optimizer op per parameter tensor, over the model's
 * master parameters and gradients, with its state in its own buffers.
 *
 * adamw and lamb keep two moments per parameter, sgd one (momentum 0.9); adamw8bit keeps
 * them as 8-bit block-wise codes with one f32 absmax per block, except for tensors under
 * CLT_Q8_MIN_ELEMENTS, which stay f32 as in bitsandbytes. Weight decay applies to the
 * tensors gpt_param.decay marks. With a compute dtype other than f32 each op also writes
 * the rounded working copy of the parameter (the fused param_copy), so no second pass
 * converts it.
 *
 * Every step's gate is the gradients' squared norm: when it is inf or NaN (an f16
 * overflow) every op leaves its tensors unchanged, without a round trip to the host. */
#ifndef CLTRAIN_OPTIM_H
#define CLTRAIN_OPTIM_H

#include <stdbool.h>
#include <stddef.h>

#include <clt/clt.h>

#include "gpt.h"

enum optim_kind { OPTIM_ADAMW, OPTIM_ADAMW8BIT, OPTIM_LAMB, OPTIM_SGD };

/* "adamw", "adamw8bit", "lamb", "sgd" → kind; false for another name. */
bool optim_kind_parse(const char *name, enum optim_kind *out);
const char *optim_kind_name(enum optim_kind kind);

struct optim_hparams {
    float beta1, beta2, eps, weight_decay;
};
/* The defaults of each kind: AdamW β (0.9, 0.95), eps 1e-8, wd 0.1; SGD momentum 0.9,
 * wd 0. */
struct optim_hparams optim_defaults(enum optim_kind kind);

typedef struct optim optim;

/* State for every parameter of m, zeroed. Errors: the allocation's (tier and bytes). */
clt_status optim_create(clt_context *ctx, gpt_model *m, enum optim_kind kind,
                        struct optim_hparams h, optim **out);
/* The same for parameter tensors [first, end) of m's layout only (ZeRO-1: the tensors a
 * rank owns; first == end owns none): their ops, and their state in one device buffer
 * laid out as optim_create lays out those tensors' state. CLT_ERR_INVALID_ARG for a
 * range outside the layout. */
clt_status optim_create_owned(clt_context *ctx, gpt_model *m, enum optim_kind kind,
                              struct optim_hparams h, size_t first, size_t end, optim **out);
/* Bytes of the state buffer optim_create_owned makes for tensors [first, end). */
size_t optim_range_bytes(gpt_model *m, enum optim_kind kind, size_t first, size_t end);
/* The state tensors of tensors [first, end) over buf (the caller's, at least
 * optim_range_bytes), laid out as optim_create_owned's buffer: another rank's state,
 * received whole, as named tensors for a checkpoint. It has no ops: optim_step refuses
 * it. CLT_ERR_INVALID_ARG for a range outside the layout or a buffer too small. */
clt_status optim_create_view(gpt_model *m, enum optim_kind kind, size_t first, size_t end,
                             clt_buffer *buf, optim **out);
void optim_destroy(optim *o);

/* One step over every tensor: step is the step number from 1 (bias correction),
 * grad_scale multiplies the gradients first (clipping and 1/loss scale), gate the f32
 * (1,) tensor holding the gradients' squared norm. */
clt_status optim_step(optim *o, float lr, int64_t step, float grad_scale,
                      const clt_tensor *gate);

/* The state as named tensors for a checkpoint ("<param>.m", "<param>.v",
 * "<param>.m_absmax", "<param>.v_absmax", "<param>.momentum"), valid while o lives. */
const clt_named_tensor *optim_state_tensors(const optim *o, size_t *count);

/* Bytes of state (for the start-of-run summary). */
size_t optim_state_bytes(const optim *o);
/* The device buffer holding the whole state (optim_state_bytes of it) of a resident
 * optimizer; NULL for an offloaded one, a view, or one owning no tensor. */
clt_buffer *optim_state_buffer(const optim *o);

/* Offloaded training (gpt_create_streamed): the engine options of this optimizer kind
 * with master values and state on `master` (HOST or NVME). */
void optim_offload_opts(enum optim_kind kind, struct optim_hparams h, clt_tier master,
                        clt_offload_opts *out);
/* The optimizer of a streamed model: optim_step hands the step to the engine's host
 * optimizer (the gate is not read: the caller skips a step whose norm is not finite),
 * and the state tensors are the engine's, under optim_create's names and dtypes. */
clt_status optim_create_offload(gpt_model *m, enum optim_kind kind, optim **out);
/* The same naming only the state of tensors [first, end), whole groups: a sharded
 * engine's rank holds the state of its own groups only (clt_offload_group_owner). */
clt_status optim_create_offload_owned(gpt_model *m, enum optim_kind kind, size_t first,
                                      size_t end, optim **out);
/* Waits until the state and master values are current (an offloaded step runs in the
 * background); before a checkpoint. */
clt_status optim_settle(optim *o);

#endif
