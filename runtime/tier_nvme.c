/* NVME-tier files: made nameless and sized up front, opened O_DIRECT where the file
 * system allows, and moved through the context's streams. Direct I/O moves whole
 * aligned blocks only, so a transfer is split: the partial block at either end is
 * read, patched and written back (under a lock, so two writers of neighbouring bytes do
 * not undo each other), and the aligned middle goes to a stream in large requests. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/context.h"
#include "runtime/error.h"
#include "runtime/nvme_stream.h"
#include "runtime/tier_nvme.h"

/* Idle streams kept for the next transfers; more are closed when given back. */
#define MAX_IDLE_STREAMS 4

struct clt_nvme {
    pthread_mutex_t lock;      /* everything below */
    pthread_mutex_t edge_lock; /* read-modify-write of partial blocks */
    clt_nvme_io io;
    bool allow_direct;
    bool said_summary, said_buffered, said_sync; /* each said once per context */
    struct clt_nvme_stream *idle[MAX_IDLE_STREAMS];
    int n_idle;
};

static const char *io_name(clt_nvme_io io)
{
    return io == CLT_NVME_IO_SYNC ? "sync" : io == CLT_NVME_IO_URING ? "uring" : "auto";
}

static clt_status io_from_env(clt_nvme_io *out)
{
    const char *env = getenv("CLT_NVME_IO");
    *out = CLT_NVME_IO_AUTO;
    if (!env || !*env)
        return CLT_OK;
    for (clt_nvme_io io = CLT_NVME_IO_AUTO; io <= CLT_NVME_IO_URING; io++) {
        if (strcmp(env, io_name(io)) == 0) {
            *out = io;
            return CLT_OK;
        }
    }
    return clt_fail(CLT_ERR_INVALID_ARG,
                    "environment variable CLT_NVME_IO='%s': expected 'auto', 'sync' or 'uring'",
                    env);
}

/* The context's tier state, made on first use. */
static clt_status tier_of(clt_context *ctx, struct clt_nvme **out)
{
    clt_status st = CLT_OK;
    pthread_mutex_lock(&ctx->lock);
    if (!ctx->nvme) {
        clt_nvme_io io;
        struct clt_nvme *nv = NULL;
        st = io_from_env(&io);
        if (st == CLT_OK && !(nv = calloc(1, sizeof *nv)))
            st = clt_fail(CLT_ERR_OUT_OF_MEMORY, "NVME tier: no host memory for its state");
        if (st == CLT_OK) {
            pthread_mutex_init(&nv->lock, NULL);
            pthread_mutex_init(&nv->edge_lock, NULL);
            nv->io = io;
            nv->allow_direct = true;
            ctx->nvme = nv;
        }
    }
    *out = ctx->nvme;
    pthread_mutex_unlock(&ctx->lock);
    return st;
}

void clt_nvme_destroy(struct clt_nvme *nv)
{
    if (!nv)
        return;
    for (int i = 0; i < nv->n_idle; i++)
        clt_nvme_stream_close(nv->idle[i]);
    pthread_mutex_destroy(&nv->lock);
    pthread_mutex_destroy(&nv->edge_lock);
    free(nv);
}

/* An idle stream, else a new one. A kernel without io_uring turns the context to
 * pread/pwrite (said once), unless io_uring was insisted on. */
static clt_status take_stream(clt_context *ctx, struct clt_nvme *nv,
                              struct clt_nvme_stream **out)
{
    pthread_mutex_lock(&nv->lock);
    const clt_nvme_io io = nv->io;
    *out = nv->n_idle > 0 ? nv->idle[--nv->n_idle] : NULL;
    pthread_mutex_unlock(&nv->lock);
    if (*out)
        return CLT_OK;
    int uring_err = 0;
    clt_status st = clt_nvme_stream_open(io != CLT_NVME_IO_SYNC, out, &uring_err);
    if (st != CLT_OK || uring_err == 0)
        return st;
    if (io == CLT_NVME_IO_URING) {
        clt_nvme_stream_close(*out);
        *out = NULL;
#ifdef CLT_HAVE_URING
        const char *why = "the kernel gives no ring";
#else
        const char *why = "clt was built without liburing";
#endif
        return clt_fail(CLT_ERR_IO,
                        "NVME tier: io_uring was asked for (CLT_NVME_IO=uring) but %s: %s", why,
                        strerror(uring_err));
    }
    pthread_mutex_lock(&nv->lock);
    const bool say = !nv->said_sync;
    nv->said_sync = true;
    nv->io = CLT_NVME_IO_SYNC; /* no use asking the kernel again */
    pthread_mutex_unlock(&nv->lock);
    if (say)
        clt_log(&ctx->log, CLT_LOG_WARN,
                "NVME tier: io_uring is unavailable (%s); using pread/pwrite, one request at "
                "a time", strerror(uring_err));
    return CLT_OK;
}

static void give_stream(struct clt_nvme *nv, struct clt_nvme_stream *s)
{
    pthread_mutex_lock(&nv->lock);
    const bool keep = clt_nvme_stream_reusable(s) && nv->n_idle < MAX_IDLE_STREAMS &&
                      clt_nvme_stream_uses_uring(s) == (nv->io != CLT_NVME_IO_SYNC);
    if (keep)
        nv->idle[nv->n_idle++] = s;
    pthread_mutex_unlock(&nv->lock);
    if (!keep)
        clt_nvme_stream_close(s);
}

/* ---- files ----------------------------------------------------------------------- */

/* A file in dir that has no name: O_TMPFILE, else mkstemp and unlink at once. */
static clt_status make_file(const char *dir, int *out)
{
    int f = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (f < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
        char path[4096];
        int n = snprintf(path, sizeof path, "%s/clt-nvme-XXXXXX", dir);
        if (n < 0 || (size_t)n >= sizeof path)
            return clt_fail(CLT_ERR_INVALID_ARG, "NVME tier: directory path '%s' is too long",
                            dir);
        f = mkostemp(path, O_CLOEXEC);
        if (f >= 0)
            unlink(path);
    }
    if (f < 0)
        return clt_fail(CLT_ERR_IO, "NVME tier: cannot create a file in '%s': %s", dir,
                        strerror(errno));
    *out = f;
    return CLT_OK;
}

/* Reserves the file's blocks; the last one whole, since direct I/O moves whole blocks. */
static clt_status size_file(int f, const char *dir, size_t size)
{
    if (size > (size_t)INT64_MAX - CLT_NVME_ALIGN)
        return clt_fail(CLT_ERR_OUT_OF_MEMORY,
                        "out of memory in tier NVME: %zu bytes exceed the file size limit",
                        size);
    const off_t bytes = (off_t)((size + CLT_NVME_ALIGN - 1) & ~(CLT_NVME_ALIGN - 1));
    int err = posix_fallocate(f, 0, bytes);
    if (err == EOPNOTSUPP || err == EINVAL)
        err = ftruncate(f, bytes) == 0 ? 0 : errno;
    if (err == ENOSPC || err == EFBIG || err == EDQUOT)
        return clt_fail(CLT_ERR_OUT_OF_MEMORY,
                        "out of memory in tier NVME: asked %zu bytes in '%s': %s", size, dir,
                        strerror(err));
    if (err)
        return clt_fail(CLT_ERR_IO, "NVME tier: cannot size a %zu-byte file in '%s': %s", size,
                        dir, strerror(err));
    return CLT_OK;
}

/* Turns on O_DIRECT where the file system takes it with our alignment; errno, or -1 for
 * a larger alignment than ours, where it does not. */
static int try_direct(int f)
{
    int flags = fcntl(f, F_GETFL);
    if (flags < 0 || fcntl(f, F_SETFL, flags | O_DIRECT) != 0)
        return errno;
#ifdef STATX_DIOALIGN
    struct statx sx;
    if (statx(f, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 && (sx.stx_mask & STATX_DIOALIGN) &&
        (sx.stx_dio_offset_align == 0 || sx.stx_dio_offset_align > CLT_NVME_ALIGN ||
         sx.stx_dio_mem_align > CLT_NVME_ALIGN)) {
        (void)fcntl(f, F_SETFL, flags);
        return sx.stx_dio_offset_align == 0 ? EINVAL : -1;
    }
#endif
    return 0;
}

/* Says how the tier works, once: at the first file, when the I/O path is known. */
static void say_summary(clt_context *ctx, struct clt_nvme *nv, bool direct, bool uring)
{
    pthread_mutex_lock(&nv->lock);
    const bool say = !nv->said_summary;
    nv->said_summary = true;
    pthread_mutex_unlock(&nv->lock);
    if (say)
        clt_log(&ctx->log, CLT_LOG_INFO,
                "NVME tier: files in '%s', %s, requests of %zu KiB, %d in flight through %s",
                ctx->nvme_dir, direct ? "O_DIRECT" : "buffered", CLT_NVME_CHUNK >> 10,
                uring ? CLT_NVME_DEPTH : 1, uring ? "io_uring" : "pread/pwrite");
}

clt_status clt_nvme_create(clt_context *ctx, size_t size, int *fd)
{
    const char *dir = ctx->nvme_dir;
    struct clt_nvme *nv;
    struct clt_nvme_stream *s = NULL;
    int f = -1;
    *fd = -1;
    /* a stream first: an I/O path that cannot work fails here, not at the first write */
    clt_status st = tier_of(ctx, &nv);
    if (st == CLT_OK)
        st = take_stream(ctx, nv, &s);
    if (st != CLT_OK)
        return st;
    const bool uring = clt_nvme_stream_uses_uring(s);
    give_stream(nv, s);
    st = make_file(dir, &f);
    if (st == CLT_OK)
        st = size_file(f, dir, size);
    if (st != CLT_OK) {
        if (f >= 0)
            close(f);
        return st;
    }
    pthread_mutex_lock(&nv->lock);
    const bool allow_direct = nv->allow_direct;
    pthread_mutex_unlock(&nv->lock);
    const int refused = allow_direct ? try_direct(f) : 0;
    if (refused) {
        pthread_mutex_lock(&nv->lock);
        const bool say = !nv->said_buffered;
        nv->said_buffered = true;
        pthread_mutex_unlock(&nv->lock);
        if (say)
            clt_log(&ctx->log, CLT_LOG_WARN,
                    "NVME tier: the file system of '%s' %s%s; using buffered I/O through the "
                    "page cache", dir,
                    refused < 0 ? "needs direct I/O aligned beyond 4096 bytes"
                                : "refuses O_DIRECT: ",
                    refused < 0 ? "" : strerror(refused));
    }
    say_summary(ctx, nv, allow_direct && !refused, uring);
    *fd = f;
    return CLT_OK;
}

void clt_nvme_close(int fd)
{
    if (fd >= 0)
        close(fd);
}

/* ---- transfers ----------------------------------------------------------------------- */

static size_t align_down(size_t x) { return x & ~(CLT_NVME_ALIGN - 1); }

/* Bytes [in, in + len) of the block at `block`, through the stream's scratch block. */
static clt_status move_partial(struct clt_nvme *nv, struct clt_nvme_stream *s, int fd,
                               size_t block, size_t in, unsigned char *mem, size_t len,
                               bool write, const char *dir)
{
    unsigned char *b = clt_nvme_stream_scratch(s);
    if (write)
        pthread_mutex_lock(&nv->edge_lock);
    clt_status st = clt_nvme_pio(fd, block, b, CLT_NVME_ALIGN, false, dir);
    if (st == CLT_OK && write) {
        memcpy(b + in, mem, len);
        st = clt_nvme_pio(fd, block, b, CLT_NVME_ALIGN, true, dir);
    } else if (st == CLT_OK) {
        memcpy(mem, b + in, len);
    }
    if (write)
        pthread_mutex_unlock(&nv->edge_lock);
    return st;
}

/* [off, off + n): the partial blocks at either end first, through the scratch block,
 * then the aligned middle is started on the stream; a range inside one block is one
 * partial block. */
clt_status clt_nvme_start(clt_context *ctx, int fd, size_t off, void *mem, size_t n, bool write,
                          struct clt_nvme_stream **job)
{
    const char *dir = ctx->nvme_dir;
    unsigned char *p = mem;
    struct clt_nvme *nv;
    struct clt_nvme_stream *s = NULL;
    *job = NULL;
    clt_status st = tier_of(ctx, &nv);
    if (st == CLT_OK)
        st = take_stream(ctx, nv, &s);
    if (st != CLT_OK)
        return st;
    const size_t end = off + n;
    const size_t lo = align_down(off + CLT_NVME_ALIGN - 1), hi = align_down(end);
    if (lo > hi) {
        st = move_partial(nv, s, fd, hi, off - hi, p, n, write, dir);
    } else {
        if (off < lo)
            st = move_partial(nv, s, fd, lo - CLT_NVME_ALIGN, off - (lo - CLT_NVME_ALIGN), p,
                              lo - off, write, dir);
        if (st == CLT_OK && hi < end)
            st = move_partial(nv, s, fd, hi, 0, p + (hi - off), end - hi, write, dir);
        if (st == CLT_OK && lo < hi) {
            st = clt_nvme_stream_start(s, fd, lo, p + (lo - off), hi - lo, write, dir);
            if (st == CLT_OK) {
                *job = s;
                return CLT_OK;
            }
        }
    }
    give_stream(nv, s);
    return st;
}

clt_status clt_nvme_finish(clt_context *ctx, struct clt_nvme_stream *job)
{
    if (!job)
        return CLT_OK;
    clt_status st = clt_nvme_stream_finish(job);
    give_stream(ctx->nvme, job);
    return st;
}

static clt_status transfer(clt_context *ctx, int fd, size_t off, void *mem, size_t n, bool write)
{
    struct clt_nvme_stream *job;
    clt_status st = clt_nvme_start(ctx, fd, off, mem, n, write, &job);
    return st == CLT_OK ? clt_nvme_finish(ctx, job) : st;
}

clt_status clt_nvme_write(clt_context *ctx, int fd, size_t off, const void *src, size_t n)
{
    /* the bytes are only read: a write moves them from memory to the file */
    return transfer(ctx, fd, off, (void *)(uintptr_t)src, n, true);
}

clt_status clt_nvme_read(clt_context *ctx, int fd, size_t off, void *dst, size_t n)
{
    return transfer(ctx, fd, off, dst, n, false);
}

/* ---- for the tests --------------------------------------------------------------------- */

clt_status clt_nvme_configure(clt_context *ctx, clt_nvme_io io, bool allow_direct)
{
    struct clt_nvme *nv;
    if ((unsigned)io > CLT_NVME_IO_URING)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_nvme_configure: io %d is not an I/O path",
                        (int)io);
    clt_status st = tier_of(ctx, &nv);
    if (st != CLT_OK)
        return st;
    pthread_mutex_lock(&nv->lock);
    nv->io = io;
    nv->allow_direct = allow_direct;
    struct clt_nvme_stream *idle[MAX_IDLE_STREAMS];
    const int n_idle = nv->n_idle;
    memcpy(idle, nv->idle, sizeof idle);
    nv->n_idle = 0;
    pthread_mutex_unlock(&nv->lock);
    for (int i = 0; i < n_idle; i++)
        clt_nvme_stream_close(idle[i]);
    return CLT_OK;
}

bool clt_nvme_uses_uring(clt_context *ctx)
{
    struct clt_nvme *nv = NULL;
    pthread_mutex_lock(&ctx->lock);
    nv = ctx->nvme;
    pthread_mutex_unlock(&ctx->lock);
    if (!nv)
        return false;
    pthread_mutex_lock(&nv->lock);
    const bool uring = nv->io != CLT_NVME_IO_SYNC;
    pthread_mutex_unlock(&nv->lock);
    return uring;
}
