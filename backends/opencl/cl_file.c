/* What the driver's on-disk caches (programs: cl_cache.c, GEMM tunings: cl_tune_cache.c)
 * share: hashing the device's identity into a key, making the cache directory, and
 * writing a file atomically (temporary file, fsync, rename), so that a crash or a
 * concurrent process never leaves a half-written file under a real name. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/opencl/cl_internal.h"

void clt_cl_hash_field(struct clt_sha256 *h, const void *data, size_t n)
{
    uint8_t length[8];
    for (int i = 0; i < 8; i++)
        length[i] = (uint8_t)((uint64_t)n >> (8 * i));
    clt_sha256_update(h, length, sizeof length);
    clt_sha256_update(h, data, n);
}

void clt_cl_hash_string(struct clt_sha256 *h, const char *s) { clt_cl_hash_field(h, s, strlen(s)); }

void clt_cl_hash_device(struct clt_sha256 *h, const struct clt_cl_device *dev)
{
    clt_cl_hash_string(h, dev->info.platform);  /* platform name and version */
    clt_cl_hash_string(h, dev->info.device_name);
    clt_cl_hash_string(h, dev->device_version);
    clt_cl_hash_string(h, dev->info.driver_version);
}

bool clt_cl_make_dirs(const char *dir, char *why, size_t why_cap)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path) {
        snprintf(why, why_cap, "path too long");
        return false;
    }
    for (char *p = path + 1; ; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            snprintf(why, why_cap, "cannot create the directory or a parent: %s", strerror(errno));
            return false;
        }
        *p = saved;
        if (saved == '\0')
            break;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(why, why_cap, "not a directory");
        return false;
    }
    return true;
}

bool clt_cl_write_atomically(const char *dir, const char *path,
                             const struct clt_cl_chunk *chunks, int n_chunks, char *why,
                             size_t why_cap)
{
    bool ok = false;
    FILE *f = NULL;
    char temp[4096];
    bool temp_made = false;
    if (snprintf(temp, sizeof temp, "%s.tmp.XXXXXX", path) >= (int)sizeof temp) {
        snprintf(why, why_cap, "path too long");
        goto done;
    }
    int fd = mkstemp(temp);
    if (fd < 0) {
        snprintf(why, why_cap, "cannot create a temporary file: %s", strerror(errno));
        goto done;
    }
    temp_made = true;
    f = fdopen(fd, "wb");
    if (!f) {
        snprintf(why, why_cap, "fdopen: %s", strerror(errno));
        close(fd);
        goto done;
    }
    for (int i = 0; i < n_chunks; i++) {
        if (fwrite(chunks[i].data, 1, chunks[i].size, f) != chunks[i].size) {
            snprintf(why, why_cap, "writing the temporary file: %s", strerror(errno));
            goto done;
        }
    }
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
        snprintf(why, why_cap, "writing the temporary file: %s", strerror(errno));
        goto done;
    }
    int closed = fclose(f);
    f = NULL;
    if (closed != 0) {
        snprintf(why, why_cap, "closing the temporary file: %s", strerror(errno));
        goto done;
    }
    if (rename(temp, path) != 0) {
        snprintf(why, why_cap, "renaming the temporary file into place: %s", strerror(errno));
        goto done;
    }
    temp_made = false;
    /* Make the rename itself durable; if the directory cannot be synced the file may
     * vanish in a crash, which a cache can afford. */
    int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) {
        fsync(dir_fd);
        close(dir_fd);
    }
    ok = true;
done:
    if (f)
        fclose(f);
    if (temp_made)
        unlink(temp);
    return ok;
}
