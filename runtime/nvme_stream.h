/* NVME-tier streams: one thread's way of moving a block-aligned range between a file
 * and memory in large requests, several in flight. A stream owns an io_uring ring
 * (where the kernel gives one) and aligned staging slots; without a ring the same
 * chunks go through pread/pwrite one at a time. Streams hold no I/O between calls, so
 * the tier (tier_nvme.c) keeps idle ones in a per-context pool and hands one to each
 * transfer. */
#ifndef CLT_RUNTIME_NVME_STREAM_H
#define CLT_RUNTIME_NVME_STREAM_H

#include <stdbool.h>
#include <stddef.h>

#include "clt/clt.h"

/* File offsets, lengths and the memory of direct I/O are multiples of this: the
 * largest logical block size of common disks, and the page size. */
#define CLT_NVME_ALIGN ((size_t)4096)
/* One request: large enough that the disk, not the per-request cost, sets the pace. */
#define CLT_NVME_CHUNK ((size_t)4 << 20)
/* Requests in flight per stream: while one chunk moves, the next is filled or drained. */
#define CLT_NVME_DEPTH 2

struct clt_nvme_stream;

/* A new stream. With want_uring it tries to set up an io_uring; where that fails it
 * returns a pread/pwrite stream and sets *uring_errno to why (else 0). Fails only
 * without host memory for the staging slots. */
clt_status clt_nvme_stream_open(bool want_uring, struct clt_nvme_stream **out,
                                int *uring_errno);
void clt_nvme_stream_close(struct clt_nvme_stream *s);

bool clt_nvme_stream_uses_uring(const struct clt_nvme_stream *s);

/* False once the ring is in a state it should not be reused in (a submit failed and a
 * request may be left in it): close the stream instead of keeping it. */
bool clt_nvme_stream_reusable(const struct clt_nvme_stream *s);

/* CLT_NVME_ALIGN bytes of aligned memory the caller may use between moves (the tier's
 * read-modify-write of partial blocks). */
void *clt_nvme_stream_scratch(struct clt_nvme_stream *s);

/* Moves the n bytes at file offset off of fd (both multiples of CLT_NVME_ALIGN) to or
 * from mem (any alignment): written from mem when `write`, else read into it. Memory
 * that is aligned is used for the I/O directly, other memory is staged through the
 * slots. Errors name the tier, the offset, the bytes and `dir`; a full disk is
 * CLT_ERR_OUT_OF_MEMORY, other failures and a file that ends early CLT_ERR_IO. */
clt_status clt_nvme_stream_move(struct clt_nvme_stream *s, int fd, size_t off, void *mem,
                                size_t n, bool write, const char *dir);

/* clt_nvme_stream_move in two halves, so the caller can work while the I/O runs:
 * start queues the first CLT_NVME_DEPTH chunks (a pread/pwrite stream does all of the
 * move here), finish queues the rest and waits for all. mem must stay valid and, for a
 * write, unchanged until finish. After a failed start nothing is in flight and finish
 * need not be called; after a successful one it must be, before the stream's next use. */
clt_status clt_nvme_stream_start(struct clt_nvme_stream *s, int fd, size_t off, void *mem,
                                 size_t n, bool write, const char *dir);
clt_status clt_nvme_stream_finish(struct clt_nvme_stream *s);

/* pread/pwrite of all n bytes at off, retried on interrupts and short transfers; the
 * same errors as clt_nvme_stream_move. */
clt_status clt_nvme_pio(int fd, size_t off, void *mem, size_t n, bool write,
                        const char *dir);

#endif
