/* cltrain's training data: text files read whole into one byte sequence, checked to be
 * UTF-8, split into training and validation parts, and cut into batches. See data.h. */
#include "failf.h"
#include "data.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/units.h"

struct data_corpus {
    uint8_t *bytes; /* every file, in order: the training split, then validation */
    size_t n;       /* bytes in all */
    size_t n_train; /* the first n_train bytes are the training split */
    int files;
    char description[192];
};

/* The list of files to read, directories already expanded. */
struct file_list {
    char **paths;
    size_t n, cap;
};

static bool list_add(struct file_list *l, const char *path, char *err, size_t cap)
{
    if (l->n == l->cap) {
        size_t cap2 = l->cap ? 2 * l->cap : 64;
        char **p = realloc(l->paths, cap2 * sizeof *p);
        if (!p)
            return failf(err, cap, "out of memory listing the data files");
        l->paths = p;
        l->cap = cap2;
    }
    if (!(l->paths[l->n] = strdup(path)))
        return failf(err, cap, "out of memory listing the data files");
    l->n++;
    return true;
}

static void list_free(struct file_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->paths[i]);
    free(l->paths);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool has_name(char *const *sorted, size_t n, const char *name)
{
    return bsearch(&name, sorted, n, sizeof *sorted, compare_names) != NULL;
}

/* Whether a directory entry is text to read: a regular file (links are skipped, so
 * fortune's "x.u8 -> x" is not read twice), not hidden, and not the strfile index "x.dat"
 * that fortune keeps beside each text file "x". */
static bool is_text_entry(const char *dir, const char *name, char *const *sorted, size_t n)
{
    if (name[0] == '.')
        return false;
    size_t len = strlen(name);
    if (len > 4 && strcmp(name + len - 4, ".dat") == 0) {
        char base[NAME_MAX + 1];
        memcpy(base, name, len - 4);
        base[len - 4] = '\0';
        if (has_name(sorted, n, base))
            return false;
    }
    char path[4096];
    struct stat st;
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
        return true; /* too long to stat here; reading it reports the problem */
    return lstat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* A directory's text files, sorted by name (bytewise, not by locale). */
static bool list_directory(struct file_list *l, const char *dir, char *err, size_t cap)
{
    DIR *d = opendir(dir);
    if (!d)
        return failf(err, cap, "cannot read data directory '%s': %s", dir, strerror(errno));
    struct file_list names = {0};
    bool ok = true;
    errno = 0;
    for (struct dirent *e; ok && (e = readdir(d)); errno = 0)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            ok = list_add(&names, e->d_name, err, cap);
    if (ok && errno != 0)
        ok = failf(err, cap, "cannot read data directory '%s': %s", dir, strerror(errno));
    closedir(d);
    if (ok && names.n > 0)
        qsort(names.paths, names.n, sizeof *names.paths, compare_names);
    size_t before = l->n;
    for (size_t i = 0; ok && i < names.n; i++) {
        if (!is_text_entry(dir, names.paths[i], names.paths, names.n))
            continue;
        char path[4096];
        if (snprintf(path, sizeof path, "%s/%s", dir, names.paths[i]) >= (int)sizeof path)
            ok = failf(err, cap, "data file path '%s/%s' is too long", dir, names.paths[i]);
        else
            ok = list_add(l, path, err, cap);
    }
    list_free(&names);
    if (ok && l->n == before)
        ok = failf(err, cap, "data directory '%s' holds no text files", dir);
    return ok;
}

/* Checks that p[0..n) is UTF-8 (RFC 3629: shortest forms only, no surrogates, nothing
 * above U+10FFFF) without NUL bytes. On failure *bad is the offset of the sequence that
 * is wrong and *why says what is wrong with it. */
static bool utf8_valid(const uint8_t *p, size_t n, size_t *bad, char *why, size_t cap)
{
    size_t i = 0;
    while (i < n) {
        const uint8_t c = p[i];
        if (c == 0) {
            *bad = i;
            snprintf(why, cap, "a NUL byte");
            return false;
        }
        if (c < 0x80) {
            i++;
            continue;
        }
        /* The sequence length and the range of its second byte, which is where
         * overlong forms, surrogates and code points past U+10FFFF show. */
        size_t len;
        uint8_t lo = 0x80, hi = 0xbf;
        if (c >= 0xc2 && c <= 0xdf)
            len = 2;
        else if (c >= 0xe0 && c <= 0xef)
            len = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
        else if (c >= 0xf0 && c <= 0xf4)
            len = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
        else {
            *bad = i;
            snprintf(why, cap, "byte 0x%02X %s", c,
                     c == 0xc0 || c == 0xc1 ? "starts only overlong forms"
                     : c < 0xc0             ? "cannot start a character"
                                            : "never occurs in UTF-8");
            return false;
        }
        for (size_t k = 1; k < len; k++) {
            if (i + k == n) {
                *bad = i;
                snprintf(why, cap, "a character is cut off by the end of the file");
                return false;
            }
            const uint8_t b = p[i + k];
            const uint8_t klo = k == 1 ? lo : 0x80, khi = k == 1 ? hi : 0xbf;
            if (b >= klo && b <= khi)
                continue;
            *bad = i;
            if (k == 1 && b >= 0x80 && b <= 0xbf)
                snprintf(why, cap, "the sequence %02X %02X is %s", c, b,
                         c == 0xed   ? "a UTF-16 surrogate (U+D800..U+DFFF)"
                         : c == 0xf4 ? "a code point above U+10FFFF"
                                     : "an overlong form");
            else
                snprintf(why, cap,
                         "byte 0x%02X after 0x%02X is not a continuation byte "
                         "(0x80..0xBF)",
                         b, c);
            return false;
        }
        i += len;
    }
    return true;
}

static size_t line_of(const uint8_t *p, size_t offset)
{
    size_t line = 1;
    for (size_t i = 0; i < offset; i++)
        line += p[i] == '\n';
    return line;
}

enum { MiB = 1 << 20 };

/* Appends the file's bytes to d->bytes (growing it) and checks them. */
static bool read_file(data_corpus *d, size_t *cap_bytes, const char *path, char *err,
                      size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return failf(err, cap, "cannot open data file '%s': %s", path, strerror(errno));
    bool ok = true;
    const size_t start = d->n;
    for (;;) {
        if (*cap_bytes - d->n < 64 * 1024) {
            const size_t grown = *cap_bytes < MiB ? MiB : 2 * *cap_bytes;
            uint8_t *p = realloc(d->bytes, grown);
            if (!p) {
                ok = failf(err, cap, "out of memory reading data file '%s' (%zu bytes)",
                           path, d->n);
                break;
            }
            d->bytes = p;
            *cap_bytes = grown;
        }
        size_t got = fread(d->bytes + d->n, 1, *cap_bytes - d->n, f);
        d->n += got;
        if (got == 0) {
            if (ferror(f))
                ok = failf(err, cap, "cannot read data file '%s': %s", path,
                           strerror(errno));
            break;
        }
    }
    fclose(f);
    if (!ok)
        return false;
    if (d->n == start)
        return failf(err, cap, "data file '%s' is empty", path);
    size_t bad = 0;
    char why[160];
    if (!utf8_valid(d->bytes + start, d->n - start, &bad, why, sizeof why))
        return failf(err, cap,
                     "data file '%s' is not UTF-8 text: at byte offset %zu (line %zu), %s",
                     path, bad, line_of(d->bytes + start, bad), why);
    return true;
}

static const char *base_name(const char *path)
{
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/')
        len--;
    size_t i = len;
    while (i > 0 && path[i - 1] != '/')
        i--;
    static const char root[] = "/";
    return len == 1 && path[0] == '/' ? root : path + i;
}

static void describe(data_corpus *d, const char *const *paths, int n_paths, bool one_dir)
{
    char size[32];
    format_bytes(d->n, size, sizeof size);
    if (n_paths == 1) {
        const char *name = base_name(paths[0]);
        int len = (int)strcspn(name, "/");
        if (one_dir)
            snprintf(d->description, sizeof d->description, "%.*s (%d file%s, %s)", len,
                     name, d->files, d->files == 1 ? "" : "s", size);
        else
            snprintf(d->description, sizeof d->description, "%.*s (%s)", len, name, size);
    } else {
        snprintf(d->description, sizeof d->description, "%d file%s, %s", d->files,
                 d->files == 1 ? "" : "s", size);
    }
}

bool data_open_with_default(const char *default_dir, const char *const *paths, int n_paths,
                            int ctx, double val_fraction, data_corpus **out, char *err,
                            size_t cap)
{
    if (out)
        *out = NULL;
    if (!out || n_paths < 0 || (n_paths > 0 && !paths))
        return failf(err, cap, "data_open: no output or a bad path list");
    if (ctx < 1)
        return failf(err, cap, "the context length must be at least 1, not %d", ctx);
    if (!(val_fraction > 0.0 && val_fraction < 1.0))
        return failf(err, cap, "the validation fraction must lie between 0 and 1, not %g",
                     val_fraction);

    const char *const defaults[] = {default_dir};
    if (n_paths == 0) {
        struct stat st;
        if (!default_dir || stat(default_dir, &st) != 0 || !S_ISDIR(st.st_mode))
            return failf(err, cap,
                         "no training data: the default corpus %s is not there; "
                         "install the fortunes package or pass --data",
                         default_dir ? default_dir : "(none)");
        paths = defaults;
        n_paths = 1;
    }

    struct file_list files = {0};
    data_corpus *d = calloc(1, sizeof *d);
    size_t cap_bytes = 0;
    bool ok = d != NULL, one_dir = false;
    if (!d)
        failf(err, cap, "out of memory opening the data");
    for (int i = 0; ok && i < n_paths; i++) {
        struct stat st;
        if (!paths[i] || !paths[i][0])
            ok = failf(err, cap, "data path %d is empty", i + 1);
        else if (stat(paths[i], &st) != 0)
            ok = failf(err, cap, "cannot open data file '%s': %s", paths[i],
                       strerror(errno));
        else if (S_ISDIR(st.st_mode)) {
            ok = list_directory(&files, paths[i], err, cap);
            one_dir = true;
        } else if (!S_ISREG(st.st_mode)) /* a device or pipe: no end to read up to */
            ok = failf(err, cap, "data path '%s' is neither a file nor a directory",
                       paths[i]);
        else
            ok = list_add(&files, paths[i], err, cap);
    }
    for (size_t i = 0; ok && i < files.n; i++)
        ok = read_file(d, &cap_bytes, files.paths[i], err, cap);
    if (ok) {
        d->files = (int)files.n;
        describe(d, paths, n_paths, one_dir);
        const size_t n_val = (size_t)((double)d->n * val_fraction);
        d->n_train = d->n - n_val;
        const size_t need = (size_t)ctx + 1;
        if (d->n_train < need || n_val < need)
            ok = failf(err, cap,
                       "the data, %s, is too small for a context of %d tokens: "
                       "its %s split holds %zu tokens and needs ctx + 1 = %zu "
                       "(%zu tokens in all, %g of them held out); pass more text "
                       "or a smaller --ctx",
                       d->description, ctx, d->n_train < need ? "training" : "validation",
                       d->n_train < need ? d->n_train : n_val, need, d->n, val_fraction);
    }
    list_free(&files);
    if (!ok) {
        data_close(d);
        return false;
    }
    *out = d;
    return true;
}

bool data_open(const char *const *paths, int n_paths, int ctx, double val_fraction,
               data_corpus **out, char *err, size_t cap)
{
    return data_open_with_default(DATA_DEFAULT_DIR, paths, n_paths, ctx, val_fraction, out,
                                  err, cap);
}

void data_close(data_corpus *d)
{
    if (!d)
        return;
    free(d->bytes);
    free(d);
}

size_t data_train_tokens(const data_corpus *d) { return d->n_train; }
size_t data_val_tokens(const data_corpus *d) { return d->n - d->n_train; }
const char *data_describe(const data_corpus *d) { return d->description; }

/* One window of T + 1 tokens starting at `start` in split[0..n), wrapping around at the
 * end (which happens only when the caller's T exceeds the ctx the data was checked for). */
static void window(const uint8_t *split, size_t n, size_t start, int T, int32_t *tokens,
                   int32_t *targets)
{
    if (start + (size_t)T < n) {
        for (int t = 0; t < T; t++) {
            tokens[t] = split[start + (size_t)t];
            targets[t] = split[start + (size_t)t + 1];
        }
        return;
    }
    for (int t = 0; t < T; t++) {
        tokens[t] = split[(start + (size_t)t) % n];
        targets[t] = split[(start + (size_t)t + 1) % n];
    }
}

void data_train_batch(const data_corpus *d, struct rng *rng, int B, int T, int32_t *tokens,
                      int32_t *targets)
{
    data_train_rows(d, rng, B, 0, B, T, tokens, targets);
}

void data_train_rows(const data_corpus *d, struct rng *rng, int B, int first, int count,
                     int T, int32_t *tokens, int32_t *targets)
{
    const size_t n = d->n_train;
    /* Starts 0 .. n - T - 1: each window's T + 1 tokens lie inside the split. Every
     * row's start is drawn, kept or not, so the rng ends where a whole batch leaves it. */
    const uint64_t starts = n > (size_t)T ? n - (size_t)T : n;
    for (int b = 0; b < B; b++) {
        const size_t start = (size_t)rng_below(rng, starts);
        if (b >= first && b < first + count)
            window(d->bytes, n, start, T, tokens + (size_t)(b - first) * (size_t)T,
                   targets + (size_t)(b - first) * (size_t)T);
    }
}

size_t data_val_windows(const data_corpus *d, int T)
{
    const size_t n = d->n - d->n_train;
    return n > (size_t)T ? (n - 1) / (size_t)T : 1;
}

void data_val_batch(const data_corpus *d, int64_t k, int B, int T, int32_t *tokens,
                    int32_t *targets)
{
    data_val_rows(d, k, B, 0, B, T, tokens, targets);
}

void data_val_rows(const data_corpus *d, int64_t k, int B, int first, int count, int T,
                   int32_t *tokens, int32_t *targets)
{
    const size_t n = d->n - d->n_train;
    const uint64_t w = data_val_windows(d, T);
    const uint64_t start = (uint64_t)(((k % (int64_t)w) + (int64_t)w) % (int64_t)w);
    for (int b = first; b < first + count; b++) {
        const unsigned __int128 i = (unsigned __int128)start * (unsigned)B + (unsigned)b;
        const uint64_t j = (uint64_t)(i % w);
        window(d->bytes + d->n_train, n, (size_t)(j * (uint64_t)T), T,
               tokens + (size_t)(b - first) * (size_t)T, targets + (size_t)(b - first) * (size_t)T);
    }
}
