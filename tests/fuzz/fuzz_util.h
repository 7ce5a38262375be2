/* What the libFuzzer targets share: the input as a file that code taking a path can
 * open, a scratch directory for code that reads directories, the input cut into several
 * files or into an argv, and the checks that turn a broken promise into a crash.
 *
 * Header-only, since every target is one translation unit. A target keeps its one-time
 * setup (the memfd, the scratch directory, a context) in statics: libFuzzer calls
 * LLVMFuzzerTestOneInput a million times in one process and offers no other place. Nothing
 * here writes outside the scratch directory, which lies under $CLT_FUZZ_TMP, /dev/shm
 * or $TMPDIR (in that order) and is removed at exit. */
#ifndef CLT_FUZZ_UTIL_H
#define CLT_FUZZ_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* libFuzzer's entry points. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Parts of one input that stand for several files or fields are cut at this line; the
 * seed corpus (make_corpus.py) and the dictionaries use the same bytes. */
#define FUZZ_SEP "\n#CLT-FUZZ-NEXT#\n"
#define FUZZ_SEP_LEN (sizeof FUZZ_SEP - 1)

/* A broken promise of the code under test: say which, then abort so that libFuzzer
 * keeps the input as a crash. */
#define FUZZ_CHECK(cond, ...)                                                             \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "fuzz check failed at %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                                 \
            fputc('\n', stderr);                                                          \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

/* Dies at setup, where nothing can be fuzzed. */
static inline void fuzz_die(const char *what)
{
    fprintf(stderr, "fuzz setup: %s: %s\n", what, strerror(errno));
    abort();
}

/* ---- the input as an in-memory file ------------------------------------------------- */

typedef struct fuzz_file {
    int fd;
    char path[64]; /* /proc/self/fd/N: open() gives a new description of the same file */
} fuzz_file;

static inline void fuzz_file_init(fuzz_file *f)
{
    f->fd = memfd_create("clt-fuzz", MFD_CLOEXEC);
    if (f->fd < 0)
        fuzz_die("memfd_create");
    snprintf(f->path, sizeof f->path, "/proc/self/fd/%d", f->fd);
}

/* Makes the file hold exactly data[0, n). */
static inline void fuzz_file_set(fuzz_file *f, const uint8_t *data, size_t n)
{
    if (ftruncate(f->fd, 0) != 0)
        fuzz_die("ftruncate");
    for (size_t done = 0; done < n;) {
        ssize_t k = pwrite(f->fd, data + done, n - done, (off_t)done);
        if (k <= 0)
            fuzz_die("pwrite");
        done += (size_t)k;
    }
}

/* ---- a scratch directory ------------------------------------------------------------- */

/* Removes the plain entries of dir (the targets create no subdirectories). */
static inline void fuzz_dir_clear(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d));) {
        char path[4096];
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < (int)sizeof path)
            unlink(path);
    }
    closedir(d);
}

static char fuzz_scratch_path[4096];

static inline void fuzz_scratch_remove(void)
{
    fuzz_dir_clear(fuzz_scratch_path);
    rmdir(fuzz_scratch_path);
}

/* Creates the scratch directory once and returns its path. */
static inline const char *fuzz_scratch_dir(void)
{
    if (fuzz_scratch_path[0])
        return fuzz_scratch_path;
    const char *base = getenv("CLT_FUZZ_TMP");
    if (!base || !*base)
        base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    snprintf(fuzz_scratch_path, sizeof fuzz_scratch_path, "%s/clt-fuzz-XXXXXX", base);
    if (!mkdtemp(fuzz_scratch_path))
        fuzz_die("mkdtemp");
    atexit(fuzz_scratch_remove);
    return fuzz_scratch_path;
}

/* Writes data[0, n) to dir/name. */
static inline void fuzz_write_file(const char *dir, const char *name, const uint8_t *data,
                                   size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || (n > 0 && fwrite(data, 1, n, f) != n) || fclose(f) != 0)
        fuzz_die(path);
}

/* ---- cutting the input --------------------------------------------------------------- */

/* Cuts data[0, n) at FUZZ_SEP into at most max parts (the last takes the rest, separators
 * included); returns how many. An input without a separator is one part. */
static inline size_t fuzz_split(const uint8_t *data, size_t n, const uint8_t **part,
                                size_t *len, size_t max)
{
    size_t count = 0;
    while (count + 1 < max) {
        const uint8_t *sep = n >= FUZZ_SEP_LEN ? memmem(data, n, FUZZ_SEP, FUZZ_SEP_LEN)
                                               : NULL;
        if (!sep)
            break;
        part[count] = data;
        len[count++] = (size_t)(sep - data);
        n -= (size_t)(sep - data) + FUZZ_SEP_LEN;
        data = sep + FUZZ_SEP_LEN;
    }
    part[count] = data;
    len[count++] = n;
    return count;
}

/* The input as a command line: argv[0] = prog, then the NUL-separated pieces of data
 * (a trailing NUL ends the last one; at most max_args). Each argument is its own
 * allocation, so reading past one is an overflow the sanitizer sees; argv[argc] is NULL,
 * as main's is. `owned` keeps the pointers for fuzz_cmdline_free, since the code under
 * test may reorder argv (args_parse moves positionals). */
typedef struct fuzz_cmdline {
    int argc;
    char **argv, **owned;
} fuzz_cmdline;

static inline void fuzz_cmdline_init(fuzz_cmdline *c, const char *prog, const uint8_t *data,
                                     size_t n, int max_args)
{
    c->argv = calloc((size_t)max_args + 2, sizeof *c->argv);
    c->owned = calloc((size_t)max_args + 2, sizeof *c->owned);
    if (!c->argv || !c->owned || !(c->argv[0] = strdup(prog)))
        fuzz_die("fuzz_cmdline_init");
    c->argc = 1;
    for (size_t i = 0; i < n && c->argc <= max_args;) {
        const uint8_t *end = memchr(data + i, 0, n - i);
        size_t len = end ? (size_t)(end - (data + i)) : n - i;
        char *arg = malloc(len + 1);
        if (!arg)
            fuzz_die("fuzz_cmdline_init");
        memcpy(arg, data + i, len);
        arg[len] = '\0';
        c->argv[c->argc++] = arg;
        i += len + 1;
    }
    memcpy(c->owned, c->argv, (size_t)c->argc * sizeof *c->owned);
}

static inline void fuzz_cmdline_free(fuzz_cmdline *c)
{
    for (int i = 0; i < c->argc; i++)
        free(c->owned[i]);
    free(c->owned);
    free(c->argv);
}

#endif
