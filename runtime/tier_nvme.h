/* The NVME tier: each buffer is a nameless file in the context's NVMe directory
 * (O_TMPFILE, else a named one unlinked at once), so its space returns to the file
 * system when it is closed, even after a crash. Files are opened with O_DIRECT where
 * the file system takes it and moved in aligned requests of CLT_NVME_CHUNK through
 * io_uring (nvme_stream.h); callers' offsets and pointers need no alignment.
 *
 * $CLT_NVME_IO chooses the I/O, read at a context's first NVME buffer: "auto" (the
 * default: io_uring where the kernel gives a ring, else pread/pwrite, said once in the
 * log), "sync" (pread/pwrite) or "uring" (io_uring, or an error where there is none).
 * Falling back to buffered I/O on a file system that refuses O_DIRECT is said once per
 * context in the log too. */
#ifndef CLT_RUNTIME_TIER_NVME_H
#define CLT_RUNTIME_TIER_NVME_H

#include <stdbool.h>

#include "clt/clt.h"

typedef enum clt_nvme_io {
    CLT_NVME_IO_AUTO,  /* io_uring where there is one, else pread/pwrite */
    CLT_NVME_IO_SYNC,  /* pread/pwrite */
    CLT_NVME_IO_URING, /* io_uring, or CLT_ERR_IO */
} clt_nvme_io;

/* A context's NVME tier: how it does I/O and the streams it keeps for it. Made at the
 * first NVME buffer, freed by clt_nvme_destroy when the context is destroyed. */
struct clt_nvme;
struct clt_nvme_stream;

/* Makes a file for a `size`-byte buffer in the context's NVMe directory, with its space
 * reserved where the file system can (so a full disk fails here, not at a later write:
 * CLT_ERR_OUT_OF_MEMORY naming the tier, the bytes and the directory). */
clt_status clt_nvme_create(clt_context *ctx, size_t size, int *fd);
/* Any offset and length within the buffer, any pointer. Thread-safe: transfers on one
 * context may run at once, each on a stream of its own. */
clt_status clt_nvme_write(clt_context *ctx, int fd, size_t off, const void *src, size_t n);
clt_status clt_nvme_read(clt_context *ctx, int fd, size_t off, void *dst, size_t n);
void clt_nvme_close(int fd);

/* A read or write in two halves, so the caller can work while the I/O runs: start moves
 * the partial blocks at either end and starts the aligned middle, whose stream it hands
 * out in *job (NULL when nothing is left to do); finish waits for it and takes the stream
 * back (NULL does nothing). mem stays in use until then. After a failed start nothing is
 * under way. */
clt_status clt_nvme_start(clt_context *ctx, int fd, size_t off, void *mem, size_t n, bool write,
                          struct clt_nvme_stream **job);
clt_status clt_nvme_finish(clt_context *ctx, struct clt_nvme_stream *job);

/* At context destroy, after the last buffer. NULL does nothing. */
void clt_nvme_destroy(struct clt_nvme *nvme);

/* For the tests: the I/O path (as $CLT_NVME_IO) and whether new files may use O_DIRECT,
 * for the transfers and files made from now on. Call while no NVME transfer runs on
 * the context. */
clt_status clt_nvme_configure(clt_context *ctx, clt_nvme_io io, bool allow_direct);

/* Whether the context's NVME transfers go through io_uring (false before its first
 * NVME buffer). */
bool clt_nvme_uses_uring(clt_context *ctx);

#endif
