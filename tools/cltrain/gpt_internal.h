/* The GPT-2 model's insides, shared by gpt.c (the passes) and gpt_stream.c (the
 * streamed mode: parameters through an offload engine, activations recomputed per
 * block). */
#ifndef CLTRAIN_GPT_INTERNAL_H
#define CLTRAIN_GPT_INTERNAL_H

#include "gpt.h"

/* Returns the status of a call that failed. */
#define TRY(call)                                                                             \
    do {                                                                                      \
        clt_status try_status_ = (call);                                                      \
        if (try_status_ != CLT_OK)                                                            \
            return try_status_;                                                               \
    } while (0)

/* Where one parameter group's working copy and gradients are on the device: tensors of
 * the whole group (numel,), which starts at element `first` of the layout. */
struct gpt_bind {
    clt_tensor work, grad;
    size_t first;
};

/* What one block's forward pass keeps for its backward pass, each (BT, ·) in the compute
 * dtype unless it says f32. */
struct block_acts { /* streamed: every layer shares one set but residual3 */
    clt_buffer *ln1, *ln1_mean, *ln1_rstd; /* (BT, C); (BT,) f32 each */
    clt_buffer *qkv;                       /* (B, T, 3, NH, hs): c_attn's output, packed */
    clt_buffer *atty, *att_lse;            /* (B, T, NH, hs); (B, NH, T) f32 */
    clt_buffer *residual2;                 /* (BT, C): input + attention */
    clt_buffer *ln2, *ln2_mean, *ln2_rstd; /* (BT, C); (BT,) f32 each */
    clt_buffer *fch, *fch_gelu;            /* (BT, 4C): before and after GELU */
    clt_buffer *residual3;                 /* (BT, C): residual2 + MLP, the block's output */
    int set;                               /* the layer whose buffers these are (but
                                            * residual3, always the block's own) */
};

struct gpt_model {
    clt_context *ctx;
    struct gpt_config cfg;
    clt_dtype dtype;
    int batch;
    struct gpt_param *params;
    size_t n_params, layout_elems;

    clt_buffer *master, *grad, *work; /* work == master for f32; streamed: master is the
                                       * engine's (HOST or NVME), grad and work NULL */
    clt_buffer *tokens, *targets;     /* (batch, ctx) i32 */
    clt_buffer *encoded;              /* (BT, C): embeddings, the first block's input */
    struct block_acts *blocks;        /* cfg.layers of them */
    int *set_holder;                  /* per set (indexed by block_acts.set): the block
                                       * whose activations of the last forward pass it
                                       * holds, -1 none; a recomputation that finds its
                                       * block there is skipped */
    clt_buffer *lnf, *lnf_mean, *lnf_rstd; /* (BT, C); (BT,) f32 each */
    clt_buffer *logits, *lse, *loss;  /* (BT, V), which the backward pass turns into
                                       * dlogits in place; (BT,) f32; (1,) f32 */
    /* backward scratch */
    clt_buffer *dresidual; /* (BT, C): the gradient of the residual stream */
    clt_buffer *dln;       /* (BT, C): a LayerNorm's output gradient, or attention's */
    clt_buffer *dbig;      /* (BT, 4C): the MLP's or c_attn's output gradient; free again
                            * when a LayerNorm's backward needs room */
    clt_buffer *delta;     /* (B, NH, T) f32: attention backward's workspace */

    /* streamed (gpt_stream.c): parameters and gradients come from an offload engine,
     * group by group; NULL for a resident model */
    clt_offload *off;
    struct gpt_bind *bind;  /* per group: where its working copy and gradients are now */
    int n_groups;

    clt_buffer **owned; /* every buffer above, for gpt_destroy and gpt_bytes */
    size_t n_owned, cap_owned, bytes;

    float *stage;       /* host: STAGING_ELEMS (at least V) f32 */
    uint16_t *stage16;  /* host: as many f16/bf16, when the compute dtype is one */
    size_t stage_elems;

    gpt_grad_ready_fn grad_ready; /* gpt_set_grad_ready's hook, or NULL */
    void *grad_ready_user;

    int B, T;           /* the last forward pass's shape */
    bool logits_valid;  /* its logits are in `logits` (not yet overwritten by backward) */
    bool can_backward;  /* it had targets, and no backward has consumed it yet */
    char err[512];
};

/* Group of parameter i in a streamed model: 0 for wte and wpe, 1 + l for block l,
 * layers + 1 for ln_f. */
int gpt_group_of(const gpt_model *m, size_t i);

/* Allocates what a streamed model keeps on the device beside the engine (gpt_stream.c),
 * the engine joining comm's ranks when comm is not NULL. */
clt_status gpt_stream_setup(gpt_model *m, const clt_offload_opts *opts, clt_comm *comm,
                            bool shard);

/* The hooks the passes call; nothing to do for a resident model. */
clt_status gpt_stream_forward_begin(gpt_model *m);
clt_status gpt_stream_block_forward_begin(gpt_model *m, int l);
clt_status gpt_stream_block_forward_end(gpt_model *m, int l);
clt_status gpt_stream_backward_begin(gpt_model *m, bool accumulate);
clt_status gpt_stream_lnf_grads_done(gpt_model *m);
/* Fetches block l, recomputes its forward pass from its input, binds its gradients. */
clt_status gpt_stream_block_backward_begin(gpt_model *m, int l, clt_buffer *input,
                                           bool accumulate);
clt_status gpt_stream_block_backward_end(gpt_model *m, int l);
clt_status gpt_stream_backward_end(gpt_model *m);

/* gpt.c's block forward pass, for the recomputation. */
clt_status gpt_block_forward(gpt_model *m, int l, clt_buffer *input);
/* Records a clt call's failure sentence in m->err. */
clt_status gpt_check(gpt_model *m, clt_status s);

#endif
