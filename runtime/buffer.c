/* Buffers on every tier, and moving bytes between them. DEVICE and HOST_PINNED memory
 * belongs to the driver; HOST and NVME are the runtime's own. A HOST_PINNED buffer the
 * CPU has mapped (clt_buffer_host_ptr) is moved like HOST memory. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/buffer.h"
#include "runtime/context.h"
#include "runtime/error.h"
#include "runtime/event.h"
#include "runtime/nvme_stream.h"
#include "runtime/tier_nvme.h"

/* Copies through NVME go through two host bounce chunks of this size: as many of the
 * NVME tier's requests as a stream keeps in flight, so starting one queues it all. */
#define BOUNCE_BYTES (CLT_NVME_DEPTH * CLT_NVME_CHUNK)

/* Memory only the driver's commands reach: DEVICE, and HOST_PINNED not mapped. */
static bool on_driver(const clt_buffer *buf)
{
    return buf->tier == CLT_TIER_DEVICE || (buf->tier == CLT_TIER_HOST_PINNED && !buf->host);
}

/* HOST, and HOST_PINNED once mapped: bytes the CPU reaches directly. */
static bool on_cpu(const clt_buffer *buf)
{
    return buf->tier == CLT_TIER_HOST || (buf->tier == CLT_TIER_HOST_PINNED && buf->host);
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
        s = clt_nvme_create(ctx, bytes, &buf->fd);
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

clt_status clt_buffer_adopt(clt_context *ctx, struct clt_mem *mem, clt_buffer **out)
{
    clt_buffer *buf = calloc(1, sizeof *buf);
    if (!buf) {
        ctx->driver->free(mem);
        return clt_fail(CLT_ERR_OUT_OF_MEMORY, "no host memory for a buffer handle");
    }
    buf->ctx = ctx;
    buf->tier = CLT_TIER_DEVICE;
    buf->size = mem->size;
    buf->mem = mem;
    buf->fd = -1;
    buf->borrowed = true;
    link_buffer(ctx, buf);
    *out = buf;
    return CLT_OK;
}

clt_status clt_buffer_wrap_host(clt_context *ctx, void *ptr, size_t bytes, clt_buffer **out)
{
    if (out)
        *out = NULL;
    if (!ctx || !ptr || !out)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_buffer_wrap_host: %s is NULL",
                        !ctx ? "ctx" : !ptr ? "ptr" : "out");
    if (bytes == 0)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_buffer_wrap_host: size is 0 bytes");
    if ((uintptr_t)ptr % CLT_WRAP_HOST_ALIGN != 0)
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "clt_buffer_wrap_host: ptr %p is not aligned to %d bytes", ptr,
                        CLT_WRAP_HOST_ALIGN);
    if (!ctx->driver->wrap_host)
        return clt_fail(CLT_ERR_UNSUPPORTED,
                        "clt_buffer_wrap_host: the %s driver cannot use host memory in place: "
                        "copy it into a buffer with clt_buffer_write",
                        ctx->driver->name);
    struct clt_mem *mem = NULL;
    clt_status s = ctx->driver->wrap_host(ctx->dev, ptr, bytes, &mem);
    return s == CLT_OK ? clt_buffer_adopt(ctx, mem, out) : s;
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
    if (!buf->borrowed)
        clt_context_release(ctx, buf->tier, buf->size);
    free(buf);
}

bool clt_buffer_pinned_mappable(const clt_context *ctx)
{
    return ctx && ctx->driver->map != NULL;
}

clt_status clt_buffer_host_ptr(clt_buffer *buf, void **out)
{
    if (!buf || !out)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_buffer_host_ptr: %s is NULL",
                        buf ? "out" : "buf");
    *out = NULL;
    if (buf->tier != CLT_TIER_HOST && buf->tier != CLT_TIER_HOST_PINNED)
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "clt_buffer_host_ptr: a %s buffer has no CPU pointer (HOST and "
                        "HOST_PINNED do)",
                        clt_tier_name(buf->tier));
    clt_context *ctx = buf->ctx;
    clt_status s = CLT_OK;
    pthread_mutex_lock(&ctx->lock);
    if (!buf->host && !ctx->driver->map)
        s = clt_fail(CLT_ERR_UNSUPPORTED,
                     "clt_buffer_host_ptr: the %s driver cannot map HOST_PINNED memory for "
                     "the CPU",
                     ctx->driver->name);
    else if (!buf->host)
        s = ctx->driver->map(buf->mem, &buf->host);
    *out = buf->host;
    pthread_mutex_unlock(&ctx->lock);
    return s;
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
 * when to_buffer, else from the buffer into dst; on the device's side queue when side
 * and the driver has one. */
static clt_status transfer(clt_buffer *buf, size_t offset, const void *src, void *dst,
                           size_t bytes, bool to_buffer, bool side, clt_event **done)
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
    if (buf->tier == CLT_TIER_HOST_PINNED && buf->host) {
        /* mapped: queued transfers may still use these bytes as their host side */
        s = ctx->driver->finish(ctx->dev);
        if (s != CLT_OK)
            return s;
    }
    if (on_driver(buf)) {
        const struct clt_driver *d = ctx->driver;
        struct clt_dev_event *ev = NULL, **evp = done ? &ev : NULL;
        if (side && d->write_side)
            s = to_buffer ? d->write_side(buf->mem, offset, src, bytes, evp)
                          : d->read_side(buf->mem, offset, dst, bytes, evp);
        else
            s = to_buffer ? d->write(buf->mem, offset, src, bytes, evp)
                          : d->read(buf->mem, offset, dst, bytes, evp);
        if (s != CLT_OK)
            return s;
        return clt_event_hand_out(ctx, d, ev, done);
    }
    switch (buf->tier) {
    case CLT_TIER_DEVICE:
        break;
    case CLT_TIER_HOST_PINNED:
    case CLT_TIER_HOST:
        if (to_buffer)
            memcpy((char *)buf->host + offset, src, bytes);
        else
            memcpy(dst, (const char *)buf->host + offset, bytes);
        return CLT_OK;
    case CLT_TIER_NVME:
        return to_buffer ? clt_nvme_write(ctx, buf->fd, offset, src, bytes)
                         : clt_nvme_read(ctx, buf->fd, offset, dst, bytes);
    }
    return clt_fail(CLT_ERR_INTERNAL, "%s: buffer has no tier", fn);
}

clt_status clt_buffer_write(clt_buffer *buf, size_t offset, const void *src, size_t bytes,
                            clt_event **done)
{
    return transfer(buf, offset, src, NULL, bytes, true, false, done);
}

clt_status clt_buffer_read(clt_buffer *buf, size_t offset, void *dst, size_t bytes,
                           clt_event **done)
{
    return transfer(buf, offset, NULL, dst, bytes, false, false, done);
}

clt_status clt_buffer_write_side(clt_buffer *buf, size_t offset, const void *src, size_t bytes,
                                 clt_event **done)
{
    return transfer(buf, offset, src, NULL, bytes, true, true, done);
}

clt_status clt_buffer_read_side(clt_buffer *buf, size_t offset, void *dst, size_t bytes,
                                clt_event **done)
{
    return transfer(buf, offset, NULL, dst, bytes, false, true, done);
}

/* One side of a copy through the bounce chunks, under way: a driver's transfer (an
 * event) or the NVME tier's (a stream). */
struct pending {
    clt_event *ev;
    struct clt_nvme_stream *job;
};

/* Starts moving n bytes between mem and buf at off: into buf when to_buffer. */
static clt_status start_side(clt_buffer *buf, size_t off, unsigned char *mem, size_t n,
                             bool to_buffer, struct pending *p)
{
    if (buf->tier == CLT_TIER_NVME)
        return clt_nvme_start(buf->ctx, buf->fd, off, mem, n, to_buffer, &p->job);
    return to_buffer ? clt_buffer_write(buf, off, mem, n, &p->ev)
                     : clt_buffer_read(buf, off, mem, n, &p->ev);
}

/* Waits for what p stands for (nothing: CLT_OK) and clears it. */
static clt_status finish_side(clt_context *ctx, struct pending *p)
{
    clt_status s = clt_nvme_finish(ctx, p->job);
    clt_status e = clt_event_wait(p->ev);
    clt_event_destroy(p->ev);
    p->job = NULL;
    p->ev = NULL;
    return s != CLT_OK ? s : e;
}

/* A copy through two bounce chunks: chunk i is written to dst from bounce[i % 2] while
 * chunk i+1 is read from src into the other. */
struct bounce_copy {
    clt_context *ctx;
    clt_buffer *dst, *src;
    size_t dst_off, src_off;
    unsigned char *bounce[2];
    struct pending reads[2];  /* src -> bounce[k] */
    struct pending writes[2]; /* bounce[k] -> dst */
};

/* Starts reading the n bytes at `at` (none: nothing) into bounce[k], once the chunk
 * before has left it. */
static clt_status refill(struct bounce_copy *c, int k, size_t at, size_t n)
{
    clt_status s = finish_side(c->ctx, &c->writes[k]);
    if (s == CLT_OK && n > 0)
        s = start_side(c->src, c->src_off + at, c->bounce[k], n, false, &c->reads[k]);
    return s;
}

/* Starts writing the n bytes at `at` from bounce[k], once they have arrived there. */
static clt_status drain(struct bounce_copy *c, int k, size_t at, size_t n)
{
    clt_status s = finish_side(c->ctx, &c->reads[k]);
    if (s == CLT_OK)
        s = start_side(c->dst, c->dst_off + at, c->bounce[k], n, true, &c->writes[k]);
    return s;
}

/* NVME on either side, the other not HOST: the bytes move through two aligned host
 * chunks, which the NVME tier reads and writes directly (no staging of its own). The
 * NVME side's next request is started before the other side's work, which a driver may
 * do in its start, so the file is kept busy: from NVME the next chunk's read is started
 * before this one is written on, to NVME this chunk's write before the next is read. */
static clt_status copy_through_bounce(clt_buffer *dst, size_t dst_off, clt_buffer *src,
                                      size_t src_off, size_t bytes)
{
    const size_t chunk = bytes < BOUNCE_BYTES
                             ? (bytes + CLT_NVME_ALIGN - 1) & ~(CLT_NVME_ALIGN - 1)
                             : BOUNCE_BYTES;
    void *mem = NULL;
    if (posix_memalign(&mem, CLT_NVME_ALIGN, 2 * chunk) != 0)
        return clt_fail(CLT_ERR_OUT_OF_MEMORY,
                        "clt_buffer_copy: no host memory for two %zu-byte bounce chunks", chunk);
    struct bounce_copy c = {.ctx = dst->ctx, .dst = dst, .src = src, .dst_off = dst_off,
                            .src_off = src_off,
                            .bounce = {mem, (unsigned char *)mem + chunk}};
    const bool from_nvme = src->tier == CLT_TIER_NVME;
    size_t n = bytes < chunk ? bytes : chunk;
    clt_status s = refill(&c, 0, 0, n);
    int k = 0;
    for (size_t done = 0; done < bytes && s == CLT_OK; k ^= 1) {
        const size_t next = done + n, n_next = bytes - next < chunk ? bytes - next : chunk;
        if (from_nvme) {
            s = refill(&c, k ^ 1, next, n_next);
            if (s == CLT_OK)
                s = drain(&c, k, done, n);
        } else {
            s = drain(&c, k, done, n);
            if (s == CLT_OK)
                s = refill(&c, k ^ 1, next, n_next);
        }
        done = next;
        n = n_next;
    }
    /* What is still under way uses the chunks: wait for it before freeing them. */
    for (k = 0; k < 2; k++) {
        clt_status r = finish_side(c.ctx, &c.reads[k]), w = finish_side(c.ctx, &c.writes[k]);
        if (s == CLT_OK)
            s = r != CLT_OK ? r : w;
    }
    free(mem);
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
    if (on_driver(dst) && on_driver(src)) {
        struct clt_dev_event *ev = NULL;
        s = ctx->driver->copy(dst->mem, dst_offset, src->mem, src_offset, bytes,
                              done ? &ev : NULL);
        if (s != CLT_OK)
            return s;
        return clt_event_hand_out(ctx, ctx->driver, ev, done);
    }
    if ((src->tier == CLT_TIER_HOST_PINNED && src->host) ||
        (dst->tier == CLT_TIER_HOST_PINNED && dst->host)) {
        /* mapped: queued transfers may still use these bytes as their host side */
        s = ctx->driver->finish(ctx->dev);
        if (s != CLT_OK)
            return s;
    }
    if (on_cpu(src))
        return clt_buffer_write(dst, dst_offset, (const char *)src->host + src_offset, bytes,
                                done);
    if (on_cpu(dst))
        return clt_buffer_read(src, src_offset, (char *)dst->host + dst_offset, bytes, done);
    return copy_through_bounce(dst, dst_offset, src, src_offset, bytes);
}
