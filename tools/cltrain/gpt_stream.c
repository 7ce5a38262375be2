/* The streamed GPT-2 (gpt.h: gpt_create_streamed): parameters through an offload engine
 * group by group, per-block activation checkpointing.
 *
 * Groups follow the layout: [wte wpe] [h.0] ... [h.L-1] [ln_f], each from its first
 * tensor to the next group's (padding included), so the engine's layout is the model's.
 * wte/wpe and ln_f are resident: wte serves the embedding at the start of the forward
 * pass and the LM head at its end, and both ends of the backward pass.
 *
 * Forward: block l runs from its slot while block l+1's copy is uploaded (prefetched
 * before block l's ops are enqueued, so the upload waits only for the ops before them;
 * on a device with a side queue it runs beside block l's compute). Backward: block l is
 * fetched (it is usually still in its slot), block l-1 prefetched, block l's forward
 * pass recomputed from its saved input into the shared activations, its backward pass
 * written into a gradient slot, which goes to the host (grads_ready) while block l-1
 * computes. */
#include <stdlib.h>
#include <string.h>

#include "gpt_internal.h"
#include "gpt_layout.h"

int gpt_group_of(const gpt_model *m, size_t i)
{
    const size_t blocks_end = P_LAYER0 + (size_t)P_PER_LAYER * (size_t)m->cfg.layers;
    if (i < P_LAYER0)
        return 0;
    if (i < blocks_end)
        return 1 + (int)((i - P_LAYER0) / P_PER_LAYER);
    return m->cfg.layers + 1;
}

/* Element where group g starts in the layout. */
static size_t group_start(const gpt_model *m, int g)
{
    if (g == 0)
        return 0;
    return m->params[P_LAYER0 + (size_t)P_PER_LAYER * (size_t)(g - 1)].offset;
}

clt_status gpt_stream_setup(gpt_model *m, const clt_offload_opts *opts, clt_comm *comm,
                            bool shard)
{
    const int L = m->cfg.layers;
    m->n_groups = L + 2;
    m->bind = calloc((size_t)m->n_groups, sizeof *m->bind);
    clt_offload_tensor *tensors = calloc(m->n_params, sizeof *tensors);
    clt_status s = CLT_ERR_OUT_OF_MEMORY;
    if (!m->bind || !tensors)
        goto done;
    clt_offload_opts o = *opts;
    o.work_dtype = m->dtype;
    s = gpt_check(m, clt_offload_create(m->ctx, &o, &m->off));
    if (s == CLT_OK && comm)
        s = gpt_check(m, clt_offload_set_comm(m->off, comm, shard));
    size_t i = 0;
    for (int g = 0; g < m->n_groups && s == CLT_OK; g++) {
        const size_t first = group_start(m, g);
        const size_t end = g + 1 < m->n_groups ? group_start(m, g + 1) : m->layout_elems;
        int n = 0;
        for (; i < m->n_params && gpt_group_of(m, i) == g; i++, n++)
            tensors[n] = (clt_offload_tensor){.offset = m->params[i].offset - first,
                                              .numel = m->params[i].numel,
                                              .decay = m->params[i].decay};
        int id = -1;
        s = gpt_check(m, clt_offload_add_group(m->off, end - first, tensors, n,
                                               g == 0 || g == L + 1, &id));
        m->bind[g].first = first;
    }
    if (s == CLT_OK)
        s = gpt_check(m, clt_offload_plan(m->off, NULL));
done:
    free(tensors);
    return s;
}

static clt_status fetch(gpt_model *m, int g)
{
    return gpt_check(m, clt_offload_fetch(m->off, g, &m->bind[g].work));
}

static clt_status prefetch(gpt_model *m, int g)
{
    return gpt_check(m, clt_offload_prefetch(m->off, g));
}

clt_status gpt_stream_forward_begin(gpt_model *m)
{
    if (!m->off)
        return CLT_OK;
    TRY(fetch(m, 0));
    TRY(fetch(m, m->cfg.layers + 1));
    return prefetch(m, 1);
}

clt_status gpt_stream_block_forward_begin(gpt_model *m, int l)
{
    if (!m->off)
        return CLT_OK;
    TRY(fetch(m, 1 + l));
    return l + 1 < m->cfg.layers ? prefetch(m, 2 + l) : CLT_OK; /* the next block's copy */
}

clt_status gpt_stream_block_forward_end(gpt_model *m, int l)
{
    return m->off ? gpt_check(m, clt_offload_release(m->off, 1 + l)) : CLT_OK;
}

clt_status gpt_stream_backward_begin(gpt_model *m, bool accumulate)
{
    if (!m->off)
        return CLT_OK;
    const int last = m->cfg.layers + 1;
    TRY(gpt_check(m, clt_offload_grad(m->off, 0, accumulate, &m->bind[0].grad)));
    return gpt_check(m, clt_offload_grad(m->off, last, accumulate, &m->bind[last].grad));
}

clt_status gpt_stream_lnf_grads_done(gpt_model *m)
{
    return m->off ? gpt_check(m, clt_offload_grads_ready(m->off, m->cfg.layers + 1)) : CLT_OK;
}

clt_status gpt_stream_block_backward_begin(gpt_model *m, int l, clt_buffer *input,
                                           bool accumulate)
{
    if (!m->off)
        return CLT_OK;
    TRY(fetch(m, 1 + l));
    if (l > 0)
        TRY(prefetch(m, l)); /* block l-1's copy, while block l computes */
    TRY(gpt_block_forward(m, l, input));
    return gpt_check(m, clt_offload_grad(m->off, 1 + l, accumulate, &m->bind[1 + l].grad));
}

clt_status gpt_stream_block_backward_end(gpt_model *m, int l)
{
    if (!m->off)
        return CLT_OK;
    TRY(gpt_check(m, clt_offload_grads_ready(m->off, 1 + l)));
    return gpt_check(m, clt_offload_release(m->off, 1 + l));
}

clt_status gpt_stream_backward_end(gpt_model *m)
{
    return m->off ? gpt_check(m, clt_offload_grads_ready(m->off, 0)) : CLT_OK;
}
