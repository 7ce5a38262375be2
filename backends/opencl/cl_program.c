/* Programs: each (source, options) is built once per device and kept in the device's
 * table until close. The source is the copy embedded at build time, or
 * $CLT_KERNEL_DIR/<file> when that is set (kernel development without rebuilding clt).
 * A source whose first line is the comment "clt-prelude: NAME.cl [NAME2.cl ...]" is
 * built with those kernels_cl files in front of it, in order (shared helpers such as the
 * dtype loads and stores), so the cache key, made from the joined text, covers the
 * preludes too.
 * Before compiling, the on-disk cache (cl_cache.c) is asked; after compiling, it is
 * given the binary. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/opencl/cl_internal.h"
#include "backends/opencl/cl_sources.h"

/* Every program is OpenCL C 1.2, so that every vendor's compiler takes it alike. */
#define CLT_CL_BASE_OPTIONS "-cl-std=CL1.2"

struct source {
    const char *text;
    size_t length;
    char *owned;        /* text read from $CLT_KERNEL_DIR or joined with a prelude */
    const char *embedded; /* the embedded text of the file itself, else NULL (from disk) */
    char origin[512];   /* "embedded" or the path it was read from, for messages */
};

#define PRELUDE_DIRECTIVE "/* clt-prelude: "

static clt_status read_source_file(const struct clt_cl_device *dev, const char *path,
                                   struct source *src)
{
    clt_status status = CLT_OK;
    char *text = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        status = clt_fail(CLT_ERR_IO, "%s: cannot open kernel source %s ($CLT_KERNEL_DIR): %s",
                          dev->label, path, strerror(errno));
        goto done;
    }
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0) {
        status = clt_fail(CLT_ERR_IO, "%s: cannot read kernel source %s: %s", dev->label, path,
                          strerror(errno));
        goto done;
    }
    text = malloc((size_t)size + 1);
    if (!text) {
        status = clt_fail(CLT_ERR_OUT_OF_MEMORY, "%s: out of host memory reading %s",
                          dev->label, path);
        goto done;
    }
    if (fread(text, 1, (size_t)size, f) != (size_t)size) {
        status = clt_fail(CLT_ERR_IO, "%s: short read of kernel source %s", dev->label, path);
        goto done;
    }
    text[size] = '\0';
    src->owned = text;
    src->text = text;
    src->length = (size_t)size;
    text = NULL;
done:
    free(text);
    if (f)
        fclose(f);
    return status;
}

static clt_status source_load_one(const struct clt_cl_device *dev, const char *file,
                                  struct source *src)
{
    memset(src, 0, sizeof *src);
    const char *dir = getenv("CLT_KERNEL_DIR");
    if (dir && dir[0]) {
        snprintf(src->origin, sizeof src->origin, "%s/%s", dir, file);
        return read_source_file(dev, src->origin, src);
    }
    for (size_t i = 0; i < clt_cl_source_count; i++) {
        if (strcmp(clt_cl_sources[i].name, file) == 0) {
            src->text = clt_cl_sources[i].text;
            src->length = clt_cl_sources[i].length;
            src->embedded = src->text;
            snprintf(src->origin, sizeof src->origin, "embedded");
            return CLT_OK;
        }
    }
    return clt_fail(CLT_ERR_INTERNAL, "%s: no kernel source named %s is embedded in clt",
                    dev->label, file);
}

/* Appends `n` bytes to the growing text *buf of *len bytes. */
static bool append(char **buf, size_t *len, const char *text, size_t n)
{
    char *grown = realloc(*buf, *len + n + 1);
    if (!grown)
        return false;
    memcpy(grown + *len, text, n);
    *len += n;
    grown[*len] = '\0';
    *buf = grown;
    return true;
}

/* The file's source, joined behind its preludes when its first line names some. The
 * "#line 1" before the file keeps the compiler's line numbers those of the file. */
static clt_status source_load(const struct clt_cl_device *dev, const char *file,
                              struct source *src)
{
    clt_status status = source_load_one(dev, file, src);
    if (status != CLT_OK ||
        strncmp(src->text, PRELUDE_DIRECTIVE, strlen(PRELUDE_DIRECTIVE)) != 0)
        return status;
    char *joined = NULL;
    size_t length = 0;
    bool all_embedded = true;
    const char *at = src->text + strlen(PRELUDE_DIRECTIVE);
    for (;;) {
        at += strspn(at, " ");
        const size_t n = strcspn(at, " *\n");
        if (n == 0)
            break;
        char name[64];
        if (n >= sizeof name || (strncmp(file, at, n) == 0 && file[n] == '\0')) {
            status = clt_fail(CLT_ERR_INTERNAL, "%s: kernel source %s names no usable prelude",
                              dev->label, file);
            goto done;
        }
        memcpy(name, at, n);
        name[n] = '\0';
        at += n;
        struct source prelude;
        status = source_load_one(dev, name, &prelude);
        if (status != CLT_OK)
            goto done;
        all_embedded = all_embedded && prelude.embedded;
        const bool ok = append(&joined, &length, prelude.text, prelude.length) &&
                        append(&joined, &length, "\n", 1);
        free(prelude.owned);
        if (!ok)
            goto no_memory;
    }
    if (!joined) {
        status = clt_fail(CLT_ERR_INTERNAL, "%s: kernel source %s names no usable prelude",
                          dev->label, file);
        goto done;
    }
    static const char separator[] = "#line 1\n";
    if (!append(&joined, &length, separator, sizeof separator - 1) ||
        !append(&joined, &length, src->text, src->length))
        goto no_memory;
    free(src->owned);
    src->owned = joined;
    src->length = length;
    src->text = joined;
    joined = NULL;
    /* An embedded file with embedded preludes keeps its identity (the table knows it by
     * address); one read from disk is known by the joined text's digest. */
    if (!all_embedded)
        src->embedded = NULL;
    return CLT_OK;
no_memory:
    status = clt_fail(CLT_ERR_OUT_OF_MEMORY, "%s: out of host memory", dev->label);
done:
    free(joined);
    free(src->owned);
    memset(src, 0, sizeof *src);
    return status;
}

/* The build log of a failed build, trimmed, or NULL. The caller frees it. */
static char *build_log(const struct clt_cl_device *dev, cl_program program)
{
    size_t size = 0;
    if (clGetProgramBuildInfo(program, dev->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &size) !=
            CL_SUCCESS ||
        size == 0)
        return NULL;
    char *log = malloc(size + 1);
    if (!log)
        return NULL;
    if (clGetProgramBuildInfo(program, dev->device, CL_PROGRAM_BUILD_LOG, size, log, NULL) !=
        CL_SUCCESS) {
        free(log);
        return NULL;
    }
    log[size] = '\0';
    size_t len = strlen(log);
    while (len > 0 && (log[len - 1] == '\n' || log[len - 1] == ' ' || log[len - 1] == '\r'))
        log[--len] = '\0';
    return log;
}

static clt_status build_from_source(struct clt_cl_device *dev, const char *file,
                                    const char *options, const struct source *src,
                                    cl_program *out)
{
    clt_status status = CLT_OK;
    char *log = NULL;
    double start = clt_cl_now();
    cl_int err = CL_SUCCESS;
    const char *text = src->text;
    size_t length = src->length;
    cl_program program = clCreateProgramWithSource(dev->context, 1, &text, &length, &err);
    if (!program) {
        status = clt_cl_fail(dev, err, CLT_ERR_BUILD, "clCreateProgramWithSource(%s)", file);
        goto done;
    }
    err = clBuildProgram(program, 1, &dev->device, options, NULL, NULL);
    if (err != CL_SUCCESS) {
        log = build_log(dev, program);
        /* The log goes last: clt_fail truncates the sentence, and its beginning (the
         * first error) is what matters. */
        status = clt_fail(CLT_ERR_BUILD,
                          "%s: building %s (%s) for %s failed: clBuildProgram: %s (%d); "
                          "options '%s'; build log:\n%s",
                          dev->label, file, src->origin, dev->info.device_name,
                          clt_cl_error_name(err), (int)err, options,
                          log && log[0] ? log : "(empty)");
        goto done;
    }
    double seconds = clt_cl_now() - start;
    clt_cl_count_build(dev, false, seconds);
    clt_cl_log(dev, CLT_LOG_INFO, "built %s for %s in %.0f ms", file, dev->info.device_name,
               seconds * 1e3);
    *out = program;
    program = NULL;
done:
    if (program)
        clReleaseProgram(program);
    free(log);
    return status;
}

/* The table's program for this file, options and source. An embedded source is known
 * by its address, so the common case costs no hashing; a source read from
 * $CLT_KERNEL_DIR is known by its digest, so an edited file is built anew. */
static struct clt_cl_program *table_find(const struct clt_cl_device *dev, const char *file,
                                         const char *options, const struct source *src,
                                         const uint8_t digest[CLT_SHA256_BYTES])
{
    for (struct clt_cl_program *p = dev->programs; p; p = p->next) {
        if (strcmp(p->file, file) != 0 || strcmp(p->options, options) != 0)
            continue;
        if (src->embedded ? p->embedded_text == src->embedded
                          : memcmp(p->source_digest, digest, CLT_SHA256_BYTES) == 0)
            return p;
    }
    return NULL;
}

static void entry_free(struct clt_cl_program *entry)
{
    if (!entry)
        return;
    if (entry->program)
        clReleaseProgram(entry->program);
    free(entry->file);
    free(entry->options);
    free(entry);
}

/* Finds or makes the program; called with the table's lock held. */
static clt_status program_get_locked(struct clt_cl_device *dev, const char *file,
                                     const char *options, cl_program *out)
{
    clt_status status = CLT_OK;
    struct source src = {0};
    struct clt_cl_program *entry = NULL;

    status = source_load(dev, file, &src);
    if (status != CLT_OK)
        goto done;
    uint8_t digest[CLT_SHA256_BYTES] = {0};
    if (!src.embedded)
        clt_sha256(src.text, src.length, digest);
    struct clt_cl_program *found = table_find(dev, file, options, &src, digest);
    if (found) {
        *out = found->program;
        goto done;
    }

    entry = calloc(1, sizeof *entry);
    if (entry) {
        entry->file = strdup(file);
        entry->options = strdup(options);
    }
    if (!entry || !entry->file || !entry->options) {
        status = clt_fail(CLT_ERR_OUT_OF_MEMORY, "%s: out of host memory", dev->label);
        goto done;
    }
    if (src.embedded) {
        entry->embedded_text = src.embedded;
        clt_sha256(src.text, src.length, digest);
    }
    memcpy(entry->source_digest, digest, sizeof digest);

    uint8_t key[CLT_SHA256_BYTES] = {0};
    if (dev->cache_dir) {
        clt_cl_cache_key(dev, options, src.text, src.length, key);
        clt_cl_cache_load(dev, file, options, key, &entry->program);
    }
    if (!entry->program) {
        status = build_from_source(dev, file, options, &src, &entry->program);
        if (status != CLT_OK)
            goto done;
        if (dev->cache_dir)
            clt_cl_cache_store(dev, file, key, entry->program);
    }
    entry->next = dev->programs;
    dev->programs = entry;
    *out = entry->program;
    entry = NULL;
done:
    entry_free(entry);
    free(src.owned);
    return status;
}

clt_status clt_cl_program_get(struct clt_cl_device *dev, const char *file,
                              const char *options, cl_program *out)
{
    char full_options[1024];
    int n = snprintf(full_options, sizeof full_options, "%s%s%s", CLT_CL_BASE_OPTIONS,
                     options && options[0] ? " " : "", options ? options : "");
    if (n < 0 || (size_t)n >= sizeof full_options)
        return clt_fail(CLT_ERR_INTERNAL, "%s: build options for %s are too long", dev->label,
                        file);
    *out = NULL;
    /* One lock for lookup and build: two threads that want the same program build it
     * once, and the second waits for the first. */
    pthread_mutex_lock(&dev->programs_lock);
    clt_status status = program_get_locked(dev, file, full_options, out);
    pthread_mutex_unlock(&dev->programs_lock);
    return status;
}

void clt_cl_programs_release(struct clt_cl_device *dev)
{
    struct clt_cl_program *p = dev->programs;
    while (p) {
        struct clt_cl_program *next = p->next;
        entry_free(p);
        p = next;
    }
    dev->programs = NULL;
}
