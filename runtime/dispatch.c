/* Running ops: validate, then the device's driver if it supports the op, else the
 * host driver on staged copies of the tensors. */
#include <stdlib.h>
#include <string.h>

#include "backends/host/host_driver.h"
#include "runtime/buffer.h"
#include "runtime/context.h"
#include "runtime/error.h"
#include "runtime/event.h"
#include "runtime/ops.h"
#include "runtime/registry.h"

/* One tensor of an op run on the host: its bytes, copied from the device. */
struct staged {
    clt_buffer *buf;
    size_t bytes;
};

static clt_status stage_in(clt_context *ctx, struct clt_dev *host, clt_tensor *t,
                           struct staged *st)
{
    clt_tensor_extent(t, &st->bytes); /* validated: cannot overflow */
    clt_status s = clt_context_reserve(ctx, CLT_TIER_HOST, st->bytes);
    if (s != CLT_OK)
        return clt_fail_prefix(s, "staging for the host fallback");
    struct clt_mem *mem = NULL;
    s = clt_host_driver.alloc(host, st->bytes, CLT_TIER_DEVICE, &mem);
    if (s == CLT_OK)
        s = ctx->driver->read(t->buf->mem, t->offset, clt_host_mem_data(mem), st->bytes, NULL);
    if (s == CLT_OK)
        s = clt_buffer_wrap_temp(ctx, mem, &st->buf);
    if (s != CLT_OK) {
        if (mem)
            clt_host_driver.free(mem);
        clt_context_release(ctx, CLT_TIER_HOST, st->bytes);
        st->bytes = 0;
        return s;
    }
    t->buf = st->buf;
    t->offset = 0;
    return CLT_OK;
}

static clt_status run_on_host(clt_context *ctx, const struct clt_op_desc *desc,
                              const clt_op *op)
{
    struct clt_dev *host;
    clt_status s = clt_context_host_dev(ctx, &host);
    if (s != CLT_OK)
        return s;
    if (host == ctx->dev || !clt_host_driver.supports(host, op))
        return clt_fail(CLT_ERR_UNSUPPORTED, "%s: no driver runs it with these dtypes",
                        desc->name);
    clt_log(&ctx->log, CLT_LOG_INFO, "%s: %s does not run it; running it on the host",
            desc->name, ctx->info.name);

    clt_op staged_op = *op;
    struct staged st[CLT_OP_MAX_TENSORS];
    memset(st, 0, sizeof st);
    for (int i = 0; i < desc->n_tensors && s == CLT_OK; i++) {
        clt_tensor *t = (clt_tensor *)((char *)&staged_op + desc->tensors[i].offset);
        if (t->buf)
            s = stage_in(ctx, host, t, &st[i]);
    }
    if (s == CLT_OK)
        s = clt_host_driver.run(host, &staged_op, NULL);
    /* Outputs go back over the same byte ranges they came from. */
    for (int i = 0; i < desc->n_tensors && s == CLT_OK; i++) {
        const clt_tensor *t = clt_op_tensor(op, &desc->tensors[i]);
        if (st[i].buf && desc->tensors[i].role != CLT_ARG_IN)
            s = ctx->driver->write(t->buf->mem, t->offset, clt_host_mem_data(st[i].buf->mem),
                                   st[i].bytes, NULL);
    }
    for (int i = 0; i < desc->n_tensors; i++) {
        if (!st[i].buf)
            continue;
        clt_buffer_free_temp(st[i].buf);
        clt_context_release(ctx, CLT_TIER_HOST, st[i].bytes);
    }
    return s;
}

clt_status clt_op_run(clt_context *ctx, const clt_op *op, clt_event **done)
{
    if (done)
        *done = NULL;
    clt_status s = clt_op_validate(ctx, op);
    if (s != CLT_OK)
        return s;
    const struct clt_op_desc *desc = clt_op_desc_of(op->kind);
    if (!ctx->driver->supports(ctx->dev, op)) {
        s = run_on_host(ctx, desc, op);
        if (s == CLT_OK)
            clt_context_count_op(ctx, true);
        return s;
    }
    struct clt_dev_event *ev = NULL;
    s = ctx->driver->run(ctx->dev, op, done ? &ev : NULL);
    if (s != CLT_OK)
        return s;
    clt_context_count_op(ctx, false);
    return clt_event_hand_out(ctx, ctx->driver, ev, done);
}

clt_status clt_gemm(clt_context *ctx, const clt_gemm_args *args, clt_event **done)
{
    if (done)
        *done = NULL;
    if (!args)
        return clt_fail(CLT_ERR_INVALID_ARG, "gemm: args is NULL");
    clt_op op;
    memset(&op, 0, sizeof op);
    op.kind = CLT_OP_GEMM;
    op.u.gemm = *args;
    return clt_op_run(ctx, &op, done);
}

clt_status clt_op_supported(clt_context *ctx, clt_op_kind kind, clt_dtype dtype, bool *out)
{
    if (!ctx || !out)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_op_supported: %s is NULL",
                        ctx ? "out" : "ctx");
    const struct clt_op_desc *desc = clt_op_desc_of(kind);
    if (!desc)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_op_supported: op kind %d is not an op",
                        (int)kind);
    if (clt_dtype_size(dtype) == 0)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_op_supported: dtype %d is not a dtype",
                        (int)dtype);
    /* A stand-in op: every required tensor in this dtype where it takes it, else in the
     * first dtype it takes (indices, statistics, f32 master weights), shape all ones, no
     * buffers. Drivers answer from kinds, dtypes and shapes alone. Only storage dtypes
     * are asked about, and only of ops with a tensor that takes them. */
    clt_op op;
    memset(&op, 0, sizeof op);
    op.kind = kind;
    *out = false;
    bool takes = false;
    for (int i = 0; i < desc->n_tensors; i++) {
        const struct clt_tensor_arg *arg = &desc->tensors[i];
        if (arg->optional)
            continue;
        const bool own = (arg->dtypes & (1u << dtype)) != 0;
        takes = takes || own;
        clt_tensor *t = (clt_tensor *)((char *)&op + arg->offset);
        t->dtype = own ? dtype : (clt_dtype)__builtin_ctz(arg->dtypes);
        t->rank = arg->min_rank;
        for (int d = 0; d < t->rank; d++)
            t->shape[d] = t->strides[d] = 1;
    }
    if (!takes || (int)dtype >= CLT_FLOAT_DTYPE_COUNT)
        return CLT_OK;
    *out = ctx->driver->supports(ctx->dev, &op);
    return CLT_OK;
}
