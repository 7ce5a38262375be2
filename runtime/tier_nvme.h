/* The NVME tier: each buffer is an unlinked file in the context's NVMe directory, so
 * its space returns to the file system when it is closed, even after a crash. */
#ifndef CLT_RUNTIME_TIER_NVME_H
#define CLT_RUNTIME_TIER_NVME_H

#include "clt/clt.h"

/* Makes a file of `size` bytes in `dir`, with its space reserved where the file system
 * can (so a full disk fails here, not at a later write). */
clt_status clt_nvme_create(const char *dir, size_t size, int *fd);
clt_status clt_nvme_write(int fd, size_t off, const void *src, size_t n);
clt_status clt_nvme_read(int fd, size_t off, void *dst, size_t n);
void clt_nvme_close(int fd);

#endif
