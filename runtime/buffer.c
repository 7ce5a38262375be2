/* Buffers on every tier, and moving bytes between them. DEVICE and HOST_PINNED memory
 * belongs to the driver; HOST and NVME are the runtime's own. */
#include <stdlib.h>
#include <string.h>

#include "runtime/buffer.h"
#include "runtime/context.h"
#include "runtime/error.h"
#include "runtime/event.h"
#include "runtime/tier_nvme.h"

/* Copies through NVME go through a host bounce buffer of this size. */
#define BOUNCE_BYTES ((size_t)4 << 20)

static bool is_driver_tier(clt_tier tier)
{
    return tier == CLT_TIER_DEVICE || tier == CLT_TIER_HOST_PINNED;
}

static void link_buffer(clt_context *ctx, clt_buffer *buf)
{
    pthread_mutex_lock(&ctx->lock);
    buf->next = ctx->buffers;
    if (ctx->buffers)
        ctx->buffers->prev = buf;
    ctx->buffers = buf;
    pthread_mutex_unlock(&ctx->lock);
}

static void unlink_buffer(clt_context *ctx, clt_buffer *buf)
{
    pthread_mutex_lock(&ctx->lock);
    if (buf->prev)
        buf->prev->next = buf->next;
    else
        ctx->buffers = buf->next;
    if (buf->next)
        buf->next->prev = buf->prev;
    pthread_mutex_unlock(&ctx->lock);
}

clt_status clt_buffer_create(clt_context *ctx, size_t bytes, clt_tier tier, clt_buffer **out)
{
    if (!ctx || !out)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_buffer_create: %s is NULL",
                        ctx ? "out" : "ctx");
    *out = NULL;
    if ((unsigned)tier >= CLT_TIER_COUNT)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_buffer_create: tier %d is not a tier",
                        (int)tier);
    if (bytes == 0)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_buffer_create: size is 0 bytes (tier %s)",
                        clt_tier_name(tier));

    clt_status s = clt_context_reserve(ctx, tier, bytes);
    if (s != CLT_OK)
        return s;
    clt_buffer *buf = calloc(1, sizeof *buf);
    if (!buf) {
        s = clt_fail(CLT_ERR_OUT_OF_MEMORY, "clt_buffer_create: no host memory for a handle");
        goto fail;
    }
    buf->ctx = ctx;
    buf->tier = tier;
    buf->size = bytes;
    buf->fd = -1;
    switch (tier) {
    case CLT_TIER_DEVICE:
    case CLT_TIER_HOST_PINNED:
        s = ctx->driver->alloc(ctx->dev, bytes, tier, &buf->mem);
        break;
    case CLT_TIER_HOST:
        /* 64-byte alignment for SIMD; aligned_alloc wants a multiple of it. */
        buf->host = bytes <= SIZE_MAX - 63 ? aligned_alloc(64, (bytes + 63) & ~(size_t)63) : NULL;
        if (!buf->host)
            s = clt_fail(CLT_ERR_OUT_OF_MEMORY,
                         "out of memory in tier HOST: the system refused %zu bytes", bytes);
        break;
    case CLT_TIER_NVME:
        s = clt_nvme_create(ctx->nvme_dir, bytes, &buf->fd);
        break;
    }
    if (s != CLT_OK)
        goto fail;
    link_buffer(ctx, buf);
    *out = buf;
    return CLT_OK;

fail:
    free(buf);
    clt_context_release(ctx, tier, bytes);
    return s;
}

void clt_buffer_destroy(clt_buffer *buf)
{
    if (!buf)
        return;
    clt_context *ctx = buf->ctx;
    unlink_buffer(ctx, buf);
    switch (buf->tier) {
    case CLT_TIER_DEVICE:
    case CLT_TIER_HOST_PINNED:
        ctx->driver->free(buf->mem); /* drivers keep memory alive for queued work */
        break;
    case CLT_TIER_HOST:
        /* A queued transfer may still read or write it. */
        ctx->driver->finish(ctx->dev);
        free(buf->host);
        break;
    case CLT_TIER_NVME:
        clt_nvme_close(buf->fd);
        break;
    }
    clt_context_release(ctx, buf->tier, buf->size);
    free(buf);
}

size_t clt_buffer_size(const clt_buffer *buf) { return buf ? buf->size : 0; }
clt_tier clt_buffer_tier(const clt_buffer *buf) { return buf ? buf->tier : CLT_TIER_DEVICE; }

clt_status clt_buffer_wrap_temp(clt_context *ctx, struct clt_mem *mem, clt_buffer **out)
{
    clt_buffer *buf = calloc(1, sizeof *buf);
    if (!buf)
        return clt_fail(CLT_ERR_OUT_OF_MEMORY, "no host memory for a temporary buffer");
    buf->ctx = ctx;
    buf->tier = mem->tier;
    buf->size = mem->size;
    buf->mem = mem;
    buf->fd = -1;
    *out = buf;
    return CLT_OK;
}

void clt_buffer_free_temp(clt_buffer *buf)
{
    if (!buf)
        return;
    buf->mem->dev->driver->free(buf->mem);
    free(buf);
}

static clt_status check_range(const char *fn, const char *what, const clt_buffer *buf,
                              size_t offset, size_t bytes)
{
    if (offset > buf->size || bytes > buf->size - offset)
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "%s: %s range of %zu bytes at offset %zu is outside the %zu-byte %s "
                        "buffer",
                        fn, what, bytes, offset, buf->size, clt_tier_name(buf->tier));
    return CLT_OK;
}

/* Moves bytes between host memory and a buffer of any tier: from src into the buffer
 * when to_buffer, else from the buffer into dst. */
static clt_status transfer(clt_buffer *buf, size_t offset, const void *src, void *dst,
                           size_t bytes, bool to_buffer, clt_event **done)
{
    const char *fn = to_buffer ? "clt_buffer_write" : "clt_buffer_read";
    const void *host = to_buffer ? src : dst;
    if (done)
        *done = NULL;
    if (!buf || !host)
        return clt_fail(CLT_ERR_INVALID_ARG, "%s: %s is NULL", fn,
                        buf ? (to_buffer ? "src" : "dst") : "buf");
    clt_status s = check_range(fn, to_buffer ? "destination" : "source", buf, offset, bytes);
    if (s != CLT_OK || bytes == 0)
        return s;
    clt_context *ctx = buf->ctx;
    switch (buf->tier) {
    case CLT_TIER_DEVICE:
    case CLT_TIER_HOST_PINNED: {
        struct clt_dev_event *ev = NULL;
        s = to_buffer ? ctx->driver->write(buf->mem, offset, src, bytes, done ? &ev : NULL)
                      : ctx->driver->read(buf->mem, offset, dst, bytes, done ? &ev : NULL);
        if (s != CLT_OK)
            return s;
        return clt_event_hand_out(ctx, ctx->driver, ev, done);
    }
    case CLT_TIER_HOST:
        if (to_buffer)
            memcpy((char *)buf->host + offset, src, bytes);
        else
            memcpy(dst, (const char *)buf->host + offset, bytes);
        return CLT_OK;
    case CLT_TIER_NVME:
        return to_buffer ? clt_nvme_write(buf->fd, offset, src, bytes)
                         : clt_nvme_read(buf->fd, offset, dst, bytes);
    }
    return clt_fail(CLT_ERR_INTERNAL, "%s: buffer has no tier", fn);
}

clt_status clt_buffer_write(clt_buffer *buf, size_t offset, const void *src, size_t bytes,
                            clt_event **done)
{
    return transfer(buf, offset, src, NULL, bytes, true, done);
}

clt_status clt_buffer_read(clt_buffer *buf, size_t offset, void *dst, size_t bytes,
                           clt_event **done)
{
    return transfer(buf, offset, NULL, dst, bytes, false, done);
}

/* NVME on either side: move the bytes through a bounce buffer, chunk by chunk. */
static clt_status copy_through_bounce(clt_buffer *dst, size_t dst_off, clt_buffer *src,
                                      size_t src_off, size_t bytes)
{
    size_t chunk = bytes < BOUNCE_BYTES ? bytes : BOUNCE_BYTES;
    char *bounce = malloc(chunk);
    if (!bounce)
        return clt_fail(CLT_ERR_OUT_OF_MEMORY,
                        "clt_buffer_copy: no host memory for a %zu-byte bounce buffer", chunk);
    clt_status s = CLT_OK;
    for (size_t done = 0; done < bytes && s == CLT_OK; done += chunk) {
        size_t n = bytes - done < chunk ? bytes - done : chunk;
        s = clt_buffer_read(src, src_off + done, bounce, n, NULL);
        if (s == CLT_OK)
            s = clt_buffer_write(dst, dst_off + done, bounce, n, NULL);
    }
    free(bounce);
    return s;
}

clt_status clt_buffer_copy(clt_buffer *dst, size_t dst_offset, clt_buffer *src,
                           size_t src_offset, size_t bytes, clt_event **done)
{
    if (done)
        *done = NULL;
    if (!dst || !src)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_buffer_copy: %s is NULL",
                        dst ? "src" : "dst");
    if (dst->ctx != src->ctx)
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "clt_buffer_copy: dst and src belong to different contexts");
    clt_status s = check_range("clt_buffer_copy", "destination", dst, dst_offset, bytes);
    if (s == CLT_OK)
        s = check_range("clt_buffer_copy", "source", src, src_offset, bytes);
    if (s != CLT_OK)
        return s;
    if (dst == src && dst_offset < src_offset + bytes && src_offset < dst_offset + bytes)
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "clt_buffer_copy: ranges of %zu bytes at offsets %zu and %zu of the "
                        "same buffer overlap",
                        bytes, dst_offset, src_offset);
    if (bytes == 0)
        return CLT_OK;

    clt_context *ctx = dst->ctx;
    if (is_driver_tier(dst->tier) && is_driver_tier(src->tier)) {
        struct clt_dev_event *ev = NULL;
        s = ctx->driver->copy(dst->mem, dst_offset, src->mem, src_offset, bytes,
                              done ? &ev : NULL);
        if (s != CLT_OK)
            return s;
        return clt_event_hand_out(ctx, ctx->driver, ev, done);
    }
    if (src->tier == CLT_TIER_HOST)
        return clt_buffer_write(dst, dst_offset, (const char *)src->host + src_offset, bytes,
                                done);
    if (dst->tier == CLT_TIER_HOST)
        return clt_buffer_read(src, src_offset, (char *)dst->host + dst_offset, bytes, done);
    return copy_through_bounce(dst, dst_offset, src, src_offset, bytes);
}
