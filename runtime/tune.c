/* Tuning and describing ops: thin doors onto the driver's optional entries. */
#include <stdio.h>

#include "runtime/context.h"
#include "runtime/error.h"
#include "runtime/ops.h"

clt_status clt_tune(clt_context *ctx, clt_op_kind kind, unsigned flags)
{
    if (!ctx)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_tune: ctx is NULL");
    if (!clt_op_desc_of(kind))
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_tune: op kind %d is not an op", (int)kind);
    if (flags & ~(CLT_TUNE_FORCE | CLT_TUNE_PEERS))
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_tune: unknown flags 0x%x",
                        flags & ~(CLT_TUNE_FORCE | CLT_TUNE_PEERS));
    if (!ctx->driver->tune)
        return CLT_OK;
    clt_status s = ctx->driver->tune(ctx->dev, kind, flags);
    return s == CLT_OK ? s : clt_fail_prefix(s, "clt_tune(%s)", clt_op_name(kind));
}

clt_status clt_op_describe(clt_context *ctx, const clt_op *op, char *out, size_t size)
{
    if (!out || size == 0)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_op_describe: out is NULL or size is 0");
    out[0] = '\0';
    clt_status s = clt_op_validate(ctx, op);
    if (s != CLT_OK)
        return s;
    if (!ctx->driver->supports(ctx->dev, op)) {
        snprintf(out, size, "host fallback");
        return CLT_OK;
    }
    if (!ctx->driver->describe) {
        snprintf(out, size, "%s", ctx->driver->name);
        return CLT_OK;
    }
    return ctx->driver->describe(ctx->dev, op, out, size);
}
