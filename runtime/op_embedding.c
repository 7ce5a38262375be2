/* Embedding's shape rules (clt_embedding_*_args in include/clt/op.h): tokens (B, T),
 * tables (V, C) and (T_max, C) with contiguous rows, activations (B, T, C). */
#include <stdio.h>

#include "runtime/error.h"
#include "runtime/ops.h"

static clt_status check_embedding(const char *op, const clt_tensor *tokens,
                                  const char *wte_name, const clt_tensor *wte,
                                  const char *wpe_name, const clt_tensor *wpe,
                                  const char *act_name, const clt_tensor *act)
{
    char channels[48]; /* the table's own name: wte forward, dwte backward */
    snprintf(channels, sizeof channels, "the channels C of %s", wte_name);
    clt_status s = clt_check_contiguous(op, "tokens", tokens);
    if (s == CLT_OK)
        s = clt_check_rows(op, wte_name, wte);
    if (s == CLT_OK)
        s = clt_check_rows(op, act_name, act);
    if (s == CLT_OK)
        s = clt_check_rows(op, "tokens", tokens);
    if (s == CLT_OK)
        s = clt_check_dim(op, act_name, act, 0, tokens->shape[0], "the batch B of tokens");
    if (s == CLT_OK)
        s = clt_check_dim(op, act_name, act, 1, tokens->shape[1], "the length T of tokens");
    if (s == CLT_OK)
        s = clt_check_dim(op, act_name, act, 2, wte->shape[1], channels);
    if (s != CLT_OK || !wpe->buf)
        return s;
    s = clt_check_rows(op, wpe_name, wpe);
    if (s == CLT_OK)
        s = clt_check_dim(op, wpe_name, wpe, 1, wte->shape[1], channels);
    if (s == CLT_OK && wpe->shape[0] < tokens->shape[1])
        s = clt_fail(CLT_ERR_INVALID_ARG,
                     "%s: argument %s: %lld positions, fewer than the length T = %lld of "
                     "tokens",
                     op, wpe_name, (long long)wpe->shape[0], (long long)tokens->shape[1]);
    return s;
}

clt_status clt_check_embedding_fwd(const clt_op *op)
{
    const clt_embedding_fwd_args *a = &op->u.embedding_fwd;
    return check_embedding("embedding_fwd", &a->tokens, "wte", &a->wte, "wpe", &a->wpe, "out",
                           &a->out);
}

clt_status clt_check_embedding_bwd(const clt_op *op)
{
    const clt_embedding_bwd_args *a = &op->u.embedding_bwd;
    return check_embedding("embedding_bwd", &a->tokens, "dwte", &a->dwte, "dwpe", &a->dwpe,
                           "dout", &a->dout);
}
