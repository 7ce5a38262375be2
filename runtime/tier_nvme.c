/* NVME-tier files through pread/pwrite. (O_DIRECT with io_uring comes with the offload
 * engine; this is the fallback it keeps.) */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/error.h"
#include "runtime/tier_nvme.h"

clt_status clt_nvme_create(const char *dir, size_t size, int *fd)
{
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/clt-nvme-XXXXXX", dir);
    if (n < 0 || (size_t)n >= sizeof path)
        return clt_fail(CLT_ERR_INVALID_ARG, "NVME tier: directory path '%s' is too long", dir);
    int f = mkstemp(path);
    if (f < 0)
        return clt_fail(CLT_ERR_IO, "NVME tier: cannot create a file in '%s': %s", dir,
                        strerror(errno));
    unlink(path);
    if ((off_t)size < 0) {
        close(f);
        return clt_fail(CLT_ERR_OUT_OF_MEMORY, "NVME tier: %zu bytes exceed the file size limit",
                        size);
    }
    int err = posix_fallocate(f, 0, (off_t)size);
    if (err == EOPNOTSUPP || err == EINVAL)
        err = ftruncate(f, (off_t)size) == 0 ? 0 : errno;
    if (err) {
        close(f);
        if (err == ENOSPC || err == EFBIG)
            return clt_fail(CLT_ERR_OUT_OF_MEMORY,
                            "out of memory in tier NVME: asked %zu bytes in '%s': %s", size,
                            dir, strerror(err));
        return clt_fail(CLT_ERR_IO, "NVME tier: cannot size a %zu-byte file in '%s': %s",
                        size, dir, strerror(err));
    }
    *fd = f;
    return CLT_OK;
}

clt_status clt_nvme_write(int fd, size_t off, const void *src, size_t n)
{
    const char *p = src;
    size_t done = 0;
    while (done < n) {
        ssize_t w = pwrite(fd, p + done, n - done, (off_t)(off + done));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return clt_fail(CLT_ERR_IO,
                            "NVME tier: write of %zu bytes at offset %zu failed after %zu: %s",
                            n, off, done, w < 0 ? strerror(errno) : "no progress");
        done += (size_t)w;
    }
    return CLT_OK;
}

clt_status clt_nvme_read(int fd, size_t off, void *dst, size_t n)
{
    char *p = dst;
    size_t done = 0;
    while (done < n) {
        ssize_t r = pread(fd, p + done, n - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return clt_fail(CLT_ERR_IO,
                            "NVME tier: read of %zu bytes at offset %zu stopped after %zu: %s",
                            n, off, done, r < 0 ? strerror(errno) : "short read");
        done += (size_t)r;
    }
    return CLT_OK;
}

void clt_nvme_close(int fd)
{
    if (fd >= 0)
        close(fd);
}
