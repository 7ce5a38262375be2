/* NVME-tier streams (nvme_stream.h): chunked, pipelined I/O through io_uring, or
 * through pread/pwrite where there is no ring. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef CLT_HAVE_URING
#include <liburing.h>
#endif

#include "runtime/error.h"
#include "runtime/nvme_stream.h"

/* One chunk of a move: where it is in the range, and the memory the kernel uses. */
struct request {
    size_t pos, len;
    unsigned char *io;
    bool busy; /* in flight */
};

struct clt_nvme_stream {
    unsigned char *slots; /* CLT_NVME_DEPTH chunks, then the scratch block; aligned */
    bool uring;           /* ring is live */
    bool broken;          /* a submit or a wait failed: do not reuse */

    /* The move under way, from start to finish. */
    int fd;
    size_t off, n, next; /* the range, and how far into it requests were queued */
    unsigned char *mem;
    bool write;
    const char *dir;
    int in_flight;
    struct request rq[CLT_NVME_DEPTH];
    clt_status status;   /* the move's first failure */
#ifdef CLT_HAVE_URING
    struct io_uring ring;
#endif
};

clt_status clt_nvme_stream_open(bool want_uring, struct clt_nvme_stream **out,
                                int *uring_errno)
{
    *out = NULL;
    *uring_errno = 0;
    struct clt_nvme_stream *s = calloc(1, sizeof *s);
    void *slots = NULL;
    if (!s || posix_memalign(&slots, CLT_NVME_ALIGN,
                             CLT_NVME_DEPTH * CLT_NVME_CHUNK + CLT_NVME_ALIGN) != 0) {
        free(s);
        return clt_fail(CLT_ERR_OUT_OF_MEMORY,
                        "NVME tier: no host memory for %d staging chunks of %zu bytes",
                        CLT_NVME_DEPTH, CLT_NVME_CHUNK);
    }
    s->slots = slots;
    if (want_uring) {
#ifdef CLT_HAVE_URING
        int r = io_uring_queue_init(CLT_NVME_DEPTH, &s->ring, 0);
        s->uring = r == 0;
        *uring_errno = r < 0 ? -r : 0;
#else
        *uring_errno = ENOSYS; /* built without liburing */
#endif
    }
    *out = s;
    return CLT_OK;
}

void clt_nvme_stream_close(struct clt_nvme_stream *s)
{
    if (!s)
        return;
#ifdef CLT_HAVE_URING
    if (s->uring)
        io_uring_queue_exit(&s->ring);
#endif
    free(s->slots);
    free(s);
}

bool clt_nvme_stream_uses_uring(const struct clt_nvme_stream *s) { return s->uring; }
bool clt_nvme_stream_reusable(const struct clt_nvme_stream *s) { return !s->broken; }
void *clt_nvme_stream_scratch(struct clt_nvme_stream *s)
{
    return s->slots + CLT_NVME_DEPTH * CLT_NVME_CHUNK;
}

/* err 0: the transfer made no progress (a read past the end of the file). */
static clt_status io_error(int err, bool write, size_t off, size_t n, const char *dir)
{
    const char *op = write ? "write" : "read";
    if (err == ENOSPC || err == EDQUOT || err == EFBIG)
        return clt_fail(CLT_ERR_OUT_OF_MEMORY,
                        "out of memory in tier NVME: %s of %zu bytes at offset %zu in '%s': %s",
                        op, n, off, dir, strerror(err));
    return clt_fail(CLT_ERR_IO, "NVME tier: %s of %zu bytes at offset %zu in '%s' failed: %s",
                    op, n, off, dir,
                    err ? strerror(err) : write ? "no bytes written" : "the file ended early");
}

clt_status clt_nvme_pio(int fd, size_t off, void *mem, size_t n, bool write, const char *dir)
{
    unsigned char *p = mem;
    size_t done = 0;
    while (done < n) {
        ssize_t r = write ? pwrite(fd, p + done, n - done, (off_t)(off + done))
                          : pread(fd, p + done, n - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return io_error(r < 0 ? errno : 0, write, off + done, n - done, dir);
        done += (size_t)r;
    }
    return CLT_OK;
}

static bool is_aligned(const void *p) { return ((uintptr_t)p & (CLT_NVME_ALIGN - 1)) == 0; }

/* The memory a chunk's request uses: the caller's where it is aligned, else slot k. */
static unsigned char *chunk_memory(struct clt_nvme_stream *s, int k, unsigned char *user)
{
    return is_aligned(user) ? user : s->slots + (size_t)k * CLT_NVME_CHUNK;
}

/* Without a ring: the same chunks, one at a time. */
static clt_status move_sync(struct clt_nvme_stream *s)
{
    for (size_t pos = 0; pos < s->n;) {
        const size_t len = s->n - pos < CLT_NVME_CHUNK ? s->n - pos : CLT_NVME_CHUNK;
        unsigned char *user = s->mem + pos, *io = chunk_memory(s, 0, user);
        if (s->write && io != user)
            memcpy(io, user, len);
        clt_status st = clt_nvme_pio(s->fd, s->off + pos, io, len, s->write, s->dir);
        if (st != CLT_OK)
            return st;
        if (!s->write && io != user)
            memcpy(user, io, len);
        pos += len;
    }
    return CLT_OK;
}

#ifdef CLT_HAVE_URING
/* Queues the request of slot k and submits it. Interrupted or busy submits leave the
 * entry queued for the next submit; any other failure breaks the stream. */
static int submit(struct clt_nvme_stream *s, int k)
{
    const struct request *rq = &s->rq[k];
    struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);
    if (!sqe) /* cannot happen: the ring has an entry per slot and each is submitted */
        return -EBUSY;
    const uint64_t at = (uint64_t)(s->off + rq->pos);
    if (s->write)
        io_uring_prep_write(sqe, s->fd, rq->io, (unsigned)rq->len, at);
    else
        io_uring_prep_read(sqe, s->fd, rq->io, (unsigned)rq->len, at);
    io_uring_sqe_set_data64(sqe, (uint64_t)k);
    int r = io_uring_submit(&s->ring);
    if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
        s->broken = true;
        return r;
    }
    return 0;
}

/* Queues chunks into the free slots, unless the move has failed. */
static void fill_slots(struct clt_nvme_stream *s)
{
    while (s->status == CLT_OK && s->next < s->n && s->in_flight < CLT_NVME_DEPTH) {
        int k = 0;
        while (s->rq[k].busy)
            k++;
        struct request *rq = &s->rq[k];
        rq->pos = s->next;
        rq->len = s->n - s->next < CLT_NVME_CHUNK ? s->n - s->next : CLT_NVME_CHUNK;
        rq->io = chunk_memory(s, k, s->mem + s->next);
        if (s->write && rq->io != s->mem + rq->pos)
            memcpy(rq->io, s->mem + rq->pos, rq->len);
        int r = submit(s, k);
        if (r < 0) {
            s->status = io_error(-r, s->write, s->off + rq->pos, rq->len, s->dir);
            return;
        }
        rq->busy = true;
        s->in_flight++;
        s->next += rq->len;
    }
}

/* Waits for one completion and deals with it: a short one is finished the plain way, a
 * read is copied out of its slot (completions come in any order). After a failure
 * completions are only counted. */
static void complete_one(struct clt_nvme_stream *s)
{
    struct io_uring_cqe *cqe = NULL;
    int r;
    do
        r = io_uring_wait_cqe(&s->ring, &cqe);
    while (r == -EINTR || r == -EAGAIN);
    if (r < 0) { /* cannot happen with a live ring: nothing more can be waited for */
        s->broken = true;
        s->in_flight = 0;
        if (s->status == CLT_OK)
            s->status = io_error(-r, s->write, s->off, s->n, s->dir);
        return;
    }
    const int k = (int)io_uring_cqe_get_data64(cqe);
    const int res = cqe->res;
    io_uring_cqe_seen(&s->ring, cqe);
    struct request *rq = &s->rq[k];
    rq->busy = false;
    s->in_flight--;
    if (s->status != CLT_OK)
        return;
    if (res < 0) {
        s->status = io_error(-res, s->write, s->off + rq->pos, rq->len, s->dir);
        return;
    }
    if ((size_t)res < rq->len)
        s->status = clt_nvme_pio(s->fd, s->off + rq->pos + (size_t)res, rq->io + res,
                                 rq->len - (size_t)res, s->write, s->dir);
    if (s->status == CLT_OK && !s->write && rq->io != s->mem + rq->pos)
        memcpy(s->mem + rq->pos, rq->io, rq->len);
}
#endif

clt_status clt_nvme_stream_start(struct clt_nvme_stream *s, int fd, size_t off, void *mem,
                                 size_t n, bool write, const char *dir)
{
    s->fd = fd;
    s->off = off;
    s->n = n;
    s->next = 0;
    s->mem = mem;
    s->write = write;
    s->dir = dir;
    s->in_flight = 0;
    s->status = CLT_OK;
#ifdef CLT_HAVE_URING
    if (s->uring) {
        fill_slots(s);
        if (s->status != CLT_OK)
            return clt_nvme_stream_finish(s); /* nothing may stay in flight */
        return CLT_OK;
    }
#endif
    s->status = move_sync(s);
    return s->status;
}

/* Up to CLT_NVME_DEPTH chunks in flight; each completion frees its slot for the next
 * chunk. On a failure nothing more is queued and what is in flight is waited for, since
 * it uses the slots and the caller's memory. */
clt_status clt_nvme_stream_finish(struct clt_nvme_stream *s)
{
#ifdef CLT_HAVE_URING
    if (s->uring) {
        for (;;) {
            fill_slots(s);
            if (s->in_flight == 0)
                break;
            complete_one(s);
        }
    }
#endif
    return s->status;
}

clt_status clt_nvme_stream_move(struct clt_nvme_stream *s, int fd, size_t off, void *mem,
                                size_t n, bool write, const char *dir)
{
    clt_status st = clt_nvme_stream_start(s, fd, off, mem, n, write, dir);
    return st == CLT_OK ? clt_nvme_stream_finish(s) : st;
}
