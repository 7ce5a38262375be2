/* The on-disk program cache: compiled binaries under the context's cache directory,
 * one file an entry (layout in cl_cache_format.h), named by the SHA-256 key of what the
 * program was built from.
 *
 * Nothing read back is trusted: the header, key, length and payload checksum are all
 * checked, and the driver must accept and build the binary; any doubt and the entry is
 * rejected (logged, counted) and the caller compiles from source and overwrites it.
 * Writes are atomic (temporary file, fsync, rename), so a crash or a concurrent process
 * never leaves a half-written entry under a real name. Every I/O failure here is only a
 * warning: the cache makes builds faster, never makes them fail. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backends/opencl/cl_cache_format.h"
#include "backends/opencl/cl_internal.h"

/* Temporary files older than this are a crashed writer's leftovers, removed on
 * eviction. */
#define STALE_TEMP_SECONDS 3600

/* ---- the key ------------------------------------------------------------------------ */

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}

void clt_cl_cache_key(const struct clt_cl_device *dev, const char *options,
                      const char *source, size_t source_length,
                      uint8_t key[CLT_SHA256_BYTES])
{
    struct clt_sha256 h;
    uint8_t version[4];
    put_le32(version, CLT_CL_CACHE_FORMAT_VERSION);
    clt_sha256_init(&h);
    clt_cl_hash_string(&h, "clt OpenCL program cache");
    clt_cl_hash_field(&h, version, sizeof version);
    clt_cl_hash_device(&h, dev);
    clt_cl_hash_string(&h, options);
    clt_cl_hash_field(&h, source, source_length);
    clt_sha256_final(&h, key);
}

static void entry_path(const struct clt_cl_device *dev, const uint8_t key[CLT_SHA256_BYTES],
                       char *path, size_t cap)
{
    char hex[2 * CLT_SHA256_BYTES + 1];
    clt_sha256_hex(key, hex);
    snprintf(path, cap, "%s/%s.bin", dev->cache_dir, hex);
}

/* ---- loading ------------------------------------------------------------------------ */

/* Reads exactly n bytes; false on error or end of file. */
static bool read_all(int fd, void *buf, size_t n)
{
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t got = read(fd, p, n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return false;
        p += got;
        n -= (size_t)got;
    }
    return true;
}

/* Checks the entry at `path` and builds its binary. Returns true with *out set, or
 * false with the reason in `why` (empty: there is no entry, which is no rejection). */
static bool load_entry(struct clt_cl_device *dev, const char *path, const char *options,
                       const uint8_t key[CLT_SHA256_BYTES], cl_program *out, char *why,
                       size_t why_cap)
{
    bool ok = false;
    uint8_t *payload = NULL;
    cl_program program = NULL;
    why[0] = '\0';

    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT)
            snprintf(why, why_cap, "cannot open it: %s", strerror(errno));
        goto done;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(why, why_cap, "not a readable regular file");
        goto done;
    }
    uint8_t header[CLT_CL_CACHE_HEADER_BYTES];
    if ((uint64_t)st.st_size < CLT_CL_CACHE_HEADER_BYTES || !read_all(fd, header, sizeof header)) {
        snprintf(why, why_cap, "truncated: %lld bytes, shorter than the %d-byte header",
                 (long long)st.st_size, CLT_CL_CACHE_HEADER_BYTES);
        goto done;
    }
    if (memcmp(header, CLT_CL_CACHE_MAGIC, CLT_CL_CACHE_MAGIC_BYTES) != 0) {
        snprintf(why, why_cap, "not a clt program cache entry (bad magic)");
        goto done;
    }
    uint32_t version = get_le32(header + CLT_CL_CACHE_OFFSET_VERSION);
    if (version != CLT_CL_CACHE_FORMAT_VERSION) {
        snprintf(why, why_cap, "format version %u, this clt writes version %u", version,
                 CLT_CL_CACHE_FORMAT_VERSION);
        goto done;
    }
    if (memcmp(header + CLT_CL_CACHE_OFFSET_KEY, key, CLT_SHA256_BYTES) != 0) {
        snprintf(why, why_cap, "its key is not the key it is filed under (a foreign entry)");
        goto done;
    }
    uint64_t length = get_le64(header + CLT_CL_CACHE_OFFSET_LENGTH);
    uint64_t expected_size = (uint64_t)st.st_size - CLT_CL_CACHE_HEADER_BYTES;
    if (length != expected_size || length == 0) {
        snprintf(why, why_cap, "truncated or padded: the header says %llu payload bytes, "
                 "the file holds %llu", (unsigned long long)length,
                 (unsigned long long)expected_size);
        goto done;
    }
    payload = malloc((size_t)length);
    if (!payload) {
        snprintf(why, why_cap, "out of host memory for %llu bytes", (unsigned long long)length);
        goto done;
    }
    if (!read_all(fd, payload, (size_t)length)) {
        snprintf(why, why_cap, "short read of the payload: %s",
                 errno ? strerror(errno) : "end of file");
        goto done;
    }
    uint8_t digest[CLT_SHA256_BYTES];
    clt_sha256(payload, (size_t)length, digest);
    if (memcmp(digest, header + CLT_CL_CACHE_OFFSET_DIGEST, CLT_SHA256_BYTES) != 0) {
        snprintf(why, why_cap, "payload checksum mismatch (corrupt)");
        goto done;
    }

    size_t binary_size = (size_t)length;
    const unsigned char *binary = payload;
    cl_int binary_status = CL_SUCCESS;
    cl_int err = CL_SUCCESS;
    program = clCreateProgramWithBinary(dev->context, 1, &dev->device, &binary_size, &binary,
                                        &binary_status, &err);
    if (!program || binary_status != CL_SUCCESS) {
        cl_int shown = err != CL_SUCCESS ? err : binary_status;
        snprintf(why, why_cap, "clCreateProgramWithBinary failed: %s (%d)",
                 clt_cl_error_name(shown), (int)shown);
        goto done;
    }
    err = clBuildProgram(program, 1, &dev->device, options, NULL, NULL);
    if (err != CL_SUCCESS) {
        snprintf(why, why_cap, "clBuildProgram of the binary failed: %s (%d)",
                 clt_cl_error_name(err), (int)err);
        goto done;
    }
    *out = program;
    program = NULL;
    ok = true;
done:
    if (program)
        clReleaseProgram(program);
    free(payload);
    if (fd >= 0)
        close(fd);
    return ok;
}

bool clt_cl_cache_load(struct clt_cl_device *dev, const char *file, const char *options,
                       const uint8_t key[CLT_SHA256_BYTES], cl_program *out)
{
    char path[4096];
    char why[512];
    *out = NULL;
    entry_path(dev, key, path, sizeof path);
    double start = clt_cl_now();
    if (load_entry(dev, path, options, key, out, why, sizeof why)) {
        double seconds = clt_cl_now() - start;
        clt_cl_count_build(dev, true, seconds);
        clt_cl_log(dev, CLT_LOG_INFO, "loaded %s from cache in %.0f ms", file, seconds * 1e3);
        /* A used entry counts as new for eviction: the cap drops the least recently
         * used. Failing to touch it only makes it look older. */
        utimensat(AT_FDCWD, path, NULL, 0);
        return true;
    }
    if (why[0]) {
        clt_cl_log(dev, CLT_LOG_WARN, "cache entry %s for %s rejected: %s; rebuilding from source",
                   path, file, why);
        clt_cl_count_cache_rejected(dev);
    } else {
        clt_cl_log(dev, CLT_LOG_DEBUG, "no cache entry for %s (%s)", file, path);
    }
    return false;
}

/* ---- storing ------------------------------------------------------------------------ */

/* The program's binary for our one device; NULL (with `why`) if the driver gives none. */
static uint8_t *program_binary(cl_program program, size_t *size, char *why, size_t why_cap)
{
    size_t binary_size = 0;
    cl_int err = clGetProgramInfo(program, CL_PROGRAM_BINARY_SIZES, sizeof binary_size,
                                  &binary_size, NULL);
    if (err != CL_SUCCESS) {
        snprintf(why, why_cap, "clGetProgramInfo(CL_PROGRAM_BINARY_SIZES) failed: %s (%d)",
                 clt_cl_error_name(err), (int)err);
        return NULL;
    }
    if (binary_size == 0) {
        snprintf(why, why_cap, "the driver gives no program binary");
        return NULL;
    }
    uint8_t *binary = malloc(binary_size);
    if (!binary) {
        snprintf(why, why_cap, "out of host memory for %zu bytes", binary_size);
        return NULL;
    }
    unsigned char *binaries[1] = {binary};
    err = clGetProgramInfo(program, CL_PROGRAM_BINARIES, sizeof binaries, binaries, NULL);
    if (err != CL_SUCCESS) {
        snprintf(why, why_cap, "clGetProgramInfo(CL_PROGRAM_BINARIES) failed: %s (%d)",
                 clt_cl_error_name(err), (int)err);
        free(binary);
        return NULL;
    }
    *size = binary_size;
    return binary;
}

/* "<64 hex digits>.bin" */
#define ENTRY_NAME_LENGTH (2 * CLT_SHA256_BYTES + 4)

struct cache_file {
    char name[ENTRY_NAME_LENGTH + 1];
    uint64_t bytes;
    struct timespec mtime;
};

static int older_first(const void *pa, const void *pb)
{
    const struct cache_file *a = pa, *b = pb;
    if (a->mtime.tv_sec != b->mtime.tv_sec)
        return a->mtime.tv_sec < b->mtime.tv_sec ? -1 : 1;
    if (a->mtime.tv_nsec != b->mtime.tv_nsec)
        return a->mtime.tv_nsec < b->mtime.tv_nsec ? -1 : 1;
    return strcmp(a->name, b->name);
}

/* Whether `name` is an entry: 64 hex digits and ".bin". */
static bool is_entry_name(const char *name)
{
    size_t len = strlen(name);
    if (len != ENTRY_NAME_LENGTH || strcmp(name + 2 * CLT_SHA256_BYTES, ".bin") != 0)
        return false;
    for (size_t i = 0; i < 2 * CLT_SHA256_BYTES; i++)
        if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
            return false;
    return true;
}

static bool is_temp_name(const char *name)
{
    return strstr(name, ".bin.tmp.") != NULL;
}

static uint64_t cache_cap(const struct clt_cl_device *dev)
{
    const char *text = getenv("CLT_CACHE_MAX_BYTES");
    uint64_t cap = CLT_CL_CACHE_DEFAULT_MAX_BYTES;
    if (text && text[0]) {
        char saved_error[8192];
        /* clt_parse_size sets the thread's error sentence on failure; this is only a
         * warning, so the caller's sentence is put back. */
        snprintf(saved_error, sizeof saved_error, "%s", clt_last_error());
        if (clt_parse_size(text, &cap) != CLT_OK) {
            clt_cl_log(dev, CLT_LOG_WARN,
                       "CLT_CACHE_MAX_BYTES='%s' is not a size; using the default %llu bytes",
                       text, (unsigned long long)CLT_CL_CACHE_DEFAULT_MAX_BYTES);
            cap = CLT_CL_CACHE_DEFAULT_MAX_BYTES;
            clt_fail(CLT_OK, "%s", saved_error);
        }
    }
    return cap;
}

/* Deletes the oldest entries until the directory's entries fit under the cap, and
 * crashed writers' temporary files. */
static void evict(struct clt_cl_device *dev)
{
    DIR *dir = NULL;
    struct cache_file *files = NULL;
    size_t count = 0, room = 0;
    uint64_t total = 0;
    uint64_t cap = cache_cap(dev);
    time_t now = time(NULL);
    char path[4096];

    dir = opendir(dev->cache_dir);
    if (!dir) {
        clt_cl_log(dev, CLT_LOG_WARN, "cannot list cache directory %s: %s", dev->cache_dir,
                   strerror(errno));
        goto done;
    }
    for (struct dirent *e = readdir(dir); e; e = readdir(dir)) {
        bool entry = is_entry_name(e->d_name);
        bool temp = !entry && is_temp_name(e->d_name);
        if (!entry && !temp)
            continue;
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dev->cache_dir, e->d_name);
        if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (temp) {
            if (now - st.st_mtime > STALE_TEMP_SECONDS && unlink(path) == 0)
                clt_cl_log(dev, CLT_LOG_DEBUG, "removed stale temporary file %s", path);
            continue;
        }
        if (count == room) {
            size_t grown_room = room ? 2 * room : 64;
            struct cache_file *grown = realloc(files, grown_room * sizeof *grown);
            if (!grown) {
                clt_cl_log(dev, CLT_LOG_WARN, "out of host memory listing the cache");
                goto done;
            }
            files = grown;
            room = grown_room;
        }
        memcpy(files[count].name, e->d_name, ENTRY_NAME_LENGTH + 1);  /* checked above */
        files[count].bytes = (uint64_t)st.st_size;
        files[count].mtime = st.st_mtim;
        total += (uint64_t)st.st_size;
        count++;
    }
    if (total <= cap)
        goto done;
    qsort(files, count, sizeof *files, older_first);
    size_t evicted = 0;
    uint64_t freed = 0;
    for (size_t i = 0; i < count && total > cap; i++) {
        snprintf(path, sizeof path, "%s/%s", dev->cache_dir, files[i].name);
        if (unlink(path) != 0 && errno != ENOENT) {
            clt_cl_log(dev, CLT_LOG_WARN, "cannot evict cache entry %s: %s", path,
                       strerror(errno));
            continue;
        }
        total -= files[i].bytes;
        freed += files[i].bytes;
        evicted++;
    }
    clt_cl_log(dev, CLT_LOG_INFO,
               "evicted %zu cache entr%s (%llu bytes) to keep %s under %llu bytes", evicted,
               evicted == 1 ? "y" : "ies", (unsigned long long)freed, dev->cache_dir,
               (unsigned long long)cap);
done:
    if (dir)
        closedir(dir);
    free(files);
}

void clt_cl_cache_store(struct clt_cl_device *dev, const char *file,
                        const uint8_t key[CLT_SHA256_BYTES], cl_program program)
{
    char why[512] = "";
    char path[4096];
    size_t size = 0;
    uint8_t *binary = program_binary(program, &size, why, sizeof why);
    if (!binary)
        goto done;
    if (!clt_cl_make_dirs(dev->cache_dir, why, sizeof why))
        goto done;

    uint8_t header[CLT_CL_CACHE_HEADER_BYTES] = {0};
    memcpy(header, CLT_CL_CACHE_MAGIC, CLT_CL_CACHE_MAGIC_BYTES);
    put_le32(header + CLT_CL_CACHE_OFFSET_VERSION, CLT_CL_CACHE_FORMAT_VERSION);
    memcpy(header + CLT_CL_CACHE_OFFSET_KEY, key, CLT_SHA256_BYTES);
    put_le64(header + CLT_CL_CACHE_OFFSET_LENGTH, size);
    clt_sha256(binary, size, header + CLT_CL_CACHE_OFFSET_DIGEST);

    entry_path(dev, key, path, sizeof path);
    const struct clt_cl_chunk chunks[] = {{header, sizeof header}, {binary, size}};
    if (!clt_cl_write_atomically(dev->cache_dir, path, chunks, 2, why, sizeof why))
        goto done;
    clt_cl_log(dev, CLT_LOG_DEBUG, "cached %s as %s (%zu bytes)", file, path, size);
    evict(dev);
done:
    if (why[0])
        clt_cl_log(dev, CLT_LOG_WARN, "not caching %s in %s: %s", file, dev->cache_dir, why);
    free(binary);
}
