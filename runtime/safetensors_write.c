/* Writing safetensors files atomically. Tensors are only recorded until commit (their
 * data stays with the caller), so a checkpoint is never held twice in memory; commit
 * streams header and data into a temporary file beside the target, fsyncs it, renames
 * it over the target and fsyncs the directory, so that a crash at any instant leaves
 * the previous file whole. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clt/safetensors.h"
#include "runtime/error.h"
#include "runtime/json_parse.h"

/* Chunk size for tensors whose bytes come from a source callback. */
#define ST_SOURCE_CHUNK ((size_t)4 << 20)

typedef struct st_item {
    char *name;
    clt_st_dtype dtype;
    int rank;
    int64_t shape[CLT_ST_MAX_RANK];
    size_t bytes;
    const void *data;        /* or NULL with source set */
    clt_st_source_fn source;
    void *user;
} st_item;

typedef struct st_meta {
    char *key, *value;
} st_meta;

struct clt_st_writer {
    char *path, *tmp_path;
    int fd;        /* the temporary file; -1 once finished */
    st_item *items;
    size_t n_items, cap_items;
    st_meta *meta;
    size_t n_meta, cap_meta;
    uint64_t data_bytes;
};

/* A growing text buffer for the header; `failed` latches the first allocation error. */
typedef struct strbuf {
    char *s;
    size_t len, cap;
    bool failed;
} strbuf;

static void sb_add(strbuf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_str(strbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

/* s as a JSON string: quotes, backslashes and control characters escaped; the rest is
 * already valid UTF-8 (checked when it was given). */
static void sb_json_string(strbuf *b, const char *s)
{
    sb_add(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\', esc[1] = (char)*p;
            sb_add(b, esc, 2);
        } else if (*p < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            sb_add(b, esc, 6);
        } else {
            sb_add(b, (const char *)p, 1);
        }
    }
    sb_add(b, "\"", 1);
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

clt_status clt_st_writer_open(const char *path, clt_st_writer **out)
{
    static atomic_uint counter;
    if (!out)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_st_writer_open: out is NULL");
    *out = NULL;
    if (!path || !*path)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_st_writer_open: path is %s",
                        path ? "empty" : "NULL");
    clt_status st = CLT_OK;
    clt_st_writer *w = calloc(1, sizeof *w);
    size_t tmp_size = strlen(path) + 64;
    if (!w || !(w->path = dup_str(path)) || !(w->tmp_path = malloc(tmp_size))) {
        st = clt_fail(CLT_ERR_OUT_OF_MEMORY, "'%s': no memory for a writer", path);
        goto done;
    }
    /* O_EXCL with a name unique to this process and call: two writers of one target
     * never share a temporary file, and 0666 lets the umask decide the mode as it would
     * for any new file (mkstemp would force 0600). */
    w->fd = -1;
    for (int attempt = 0; w->fd < 0 && attempt < 100; attempt++) {
        snprintf(w->tmp_path, tmp_size, "%s.tmp-%ld-%u", path, (long)getpid(),
                 atomic_fetch_add(&counter, 1));
        w->fd = open(w->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (w->fd < 0 && errno != EEXIST)
            break;
    }
    if (w->fd < 0)
        st = clt_fail(CLT_ERR_IO, "'%s': cannot create temporary file '%s': %s", path,
                      w->tmp_path, strerror(errno));
done:
    if (st != CLT_OK) {
        if (w) {
            free(w->path);
            free(w->tmp_path);
        }
        free(w);
        return st;
    }
    *out = w;
    return CLT_OK;
}

static clt_status check_open(const clt_st_writer *w, const char *fn)
{
    if (!w)
        return clt_fail(CLT_ERR_INVALID_ARG, "%s: writer is NULL", fn);
    if (w->fd < 0)
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "%s: the writer of '%s' was already committed or aborted", fn,
                        w->path);
    return CLT_OK;
}

clt_status clt_st_writer_set_metadata(clt_st_writer *w, const char *key, const char *value)
{
    static const char fn[] = "clt_st_writer_set_metadata";
    clt_status st = check_open(w, fn);
    if (st != CLT_OK)
        return st;
    if (!key || !value)
        return clt_fail(CLT_ERR_INVALID_ARG, "%s: %s is NULL", fn, !key ? "key" : "value");
    if (!clt_utf8_valid(key, strlen(key)) || !clt_utf8_valid(value, strlen(value)))
        return clt_fail(CLT_ERR_INVALID_ARG, "%s: %s is not valid UTF-8", fn,
                        !clt_utf8_valid(key, strlen(key)) ? "key" : "value");
    char *v = dup_str(value);
    if (!v)
        return clt_fail(CLT_ERR_OUT_OF_MEMORY, "%s: no memory", fn);
    for (size_t i = 0; i < w->n_meta; i++)
        if (strcmp(w->meta[i].key, key) == 0) {
            free(w->meta[i].value);
            w->meta[i].value = v;
            return CLT_OK;
        }
    char *k = dup_str(key);
    if (w->n_meta == w->cap_meta) {
        size_t cap = w->cap_meta ? 2 * w->cap_meta : 8;
        st_meta *m = k ? realloc(w->meta, cap * sizeof *m) : NULL;
        if (m) {
            w->meta = m;
            w->cap_meta = cap;
        }
    }
    if (!k || w->n_meta == w->cap_meta) {
        free(k);
        free(v);
        return clt_fail(CLT_ERR_OUT_OF_MEMORY, "%s: no memory", fn);
    }
    w->meta[w->n_meta++] = (st_meta){k, v};
    return CLT_OK;
}

/* Checks everything about a new tensor but its data, and records it. */
static clt_status add_item(clt_st_writer *w, const char *fn, const char *name,
                           clt_st_dtype dtype, int rank, const int64_t *shape, size_t bytes,
                           st_item item)
{
    clt_status st = check_open(w, fn);
    if (st != CLT_OK)
        return st;
    if (!name)
        return clt_fail(CLT_ERR_INVALID_ARG, "%s: name is NULL", fn);
    if (!*name || strcmp(name, "__metadata__") == 0 || !clt_utf8_valid(name, strlen(name)))
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "%s: name '%s' is empty, reserved or not valid UTF-8", fn, name);
    if (clt_st_dtype_size(dtype) == 0)
        return clt_fail(CLT_ERR_INVALID_ARG, "%s: tensor '%s': dtype %d is unknown", fn, name,
                        (int)dtype);
    if (rank < 0 || rank > CLT_ST_MAX_RANK || (rank > 0 && !shape))
        return clt_fail(CLT_ERR_INVALID_ARG, "%s: tensor '%s': rank %d %s", fn, name, rank,
                        rank > 0 && !shape ? "with a NULL shape" : "is outside 0..8");
    uint64_t want = clt_st_dtype_size(dtype);
    bool overflow = false;
    for (int i = 0; i < rank; i++) {
        if (shape[i] < 0)
            return clt_fail(CLT_ERR_INVALID_ARG, "%s: tensor '%s': shape[%d] is %" PRId64, fn,
                            name, i, shape[i]);
        if (shape[i] > 0 && want > UINT64_MAX / (uint64_t)shape[i])
            overflow = true;
        else
            want *= (uint64_t)shape[i];
        item.shape[i] = shape[i];
    }
    if (overflow || want > SIZE_MAX || want > UINT64_MAX - w->data_bytes)
        return clt_fail(CLT_ERR_INVALID_ARG, "%s: tensor '%s': the shape's size overflows",
                        fn, name);
    if (bytes != want)
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "%s: tensor '%s': bytes is %zu but the shape of %s needs %" PRIu64, fn,
                        name, bytes, clt_st_dtype_name(dtype), want);
    for (size_t i = 0; i < w->n_items; i++)
        if (strcmp(w->items[i].name, name) == 0)
            return clt_fail(CLT_ERR_INVALID_ARG, "%s: name '%s' is already in '%s'", fn, name,
                            w->path);
    if (w->n_items == w->cap_items) {
        size_t cap = w->cap_items ? 2 * w->cap_items : 16;
        st_item *items = realloc(w->items, cap * sizeof *items);
        if (!items)
            return clt_fail(CLT_ERR_OUT_OF_MEMORY, "%s: no memory for %zu tensors", fn, cap);
        w->items = items;
        w->cap_items = cap;
    }
    if (!(item.name = dup_str(name)))
        return clt_fail(CLT_ERR_OUT_OF_MEMORY, "%s: no memory", fn);
    item.dtype = dtype;
    item.rank = rank;
    item.bytes = bytes;
    w->items[w->n_items++] = item;
    w->data_bytes += bytes;
    return CLT_OK;
}

clt_status clt_st_writer_add(clt_st_writer *w, const char *name, clt_st_dtype dtype, int rank,
                             const int64_t *shape, const void *data, size_t bytes)
{
    if (!data && bytes > 0)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_st_writer_add: data is NULL for %zu bytes",
                        bytes);
    return add_item(w, "clt_st_writer_add", name, dtype, rank, shape, bytes,
                    (st_item){.data = data});
}

clt_status clt_st_writer_add_source(clt_st_writer *w, const char *name, clt_st_dtype dtype,
                                    int rank, const int64_t *shape, size_t bytes,
                                    clt_st_source_fn source, void *user)
{
    if (!source)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_st_writer_add_source: source is NULL");
    return add_item(w, "clt_st_writer_add_source", name, dtype, rank, shape, bytes,
                    (st_item){.source = source, .user = user});
}

/* The 8-byte length and the JSON header, padded with spaces so the data starts at a
 * multiple of 8 (as the reference writer does, so mmap'ed tensors stay aligned). */
static clt_status build_header(const clt_st_writer *w, strbuf *b)
{
    char num[32];
    sb_add(b, "\0\0\0\0\0\0\0\0{", 9);
    if (w->n_meta) {
        sb_str(b, "\"__metadata__\":{");
        for (size_t i = 0; i < w->n_meta; i++) {
            if (i)
                sb_str(b, ",");
            sb_json_string(b, w->meta[i].key);
            sb_str(b, ":");
            sb_json_string(b, w->meta[i].value);
        }
        sb_str(b, "}");
    }
    uint64_t offset = 0;
    for (size_t i = 0; i < w->n_items; i++) {
        const st_item *t = &w->items[i];
        if (i || w->n_meta)
            sb_str(b, ",");
        sb_json_string(b, t->name);
        sb_str(b, ":{\"dtype\":");
        sb_json_string(b, clt_st_dtype_name(t->dtype));
        sb_str(b, ",\"shape\":[");
        for (int d = 0; d < t->rank; d++) {
            snprintf(num, sizeof num, "%s%" PRId64, d ? "," : "", t->shape[d]);
            sb_str(b, num);
        }
        snprintf(num, sizeof num, "%" PRIu64, offset);
        sb_str(b, "],\"data_offsets\":[");
        sb_str(b, num);
        offset += t->bytes;
        snprintf(num, sizeof num, ",%" PRIu64 "]}", offset);
        sb_str(b, num);
    }
    sb_str(b, "}");
    while (b->len % 8)
        sb_str(b, " ");
    if (b->failed)
        return clt_fail(CLT_ERR_OUT_OF_MEMORY, "'%s': no memory for the header", w->path);
    uint64_t n = b->len - 8;
    for (int i = 0; i < 8; i++)
        b->s[i] = (char)(n >> (8 * i));
    return CLT_OK;
}

static clt_status write_all(const clt_st_writer *w, const void *src, size_t n)
{
    const char *p = src;
    while (n > 0) {
        ssize_t k = write(w->fd, p, n < ((size_t)1 << 30) ? n : (size_t)1 << 30);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return clt_fail(CLT_ERR_IO, "'%s': cannot write temporary file '%s': %s", w->path,
                            w->tmp_path, k < 0 ? strerror(errno) : "no progress");
        p += k;
        n -= (size_t)k;
    }
    return CLT_OK;
}

static clt_status write_item(const clt_st_writer *w, const st_item *t, char **chunk)
{
    if (!t->source)
        return write_all(w, t->data, t->bytes);
    if (!*chunk && t->bytes > 0 && !(*chunk = malloc(ST_SOURCE_CHUNK)))
        return clt_fail(CLT_ERR_OUT_OF_MEMORY, "'%s': no memory for a write buffer", w->path);
    for (size_t off = 0; off < t->bytes;) {
        size_t n = t->bytes - off < ST_SOURCE_CHUNK ? t->bytes - off : ST_SOURCE_CHUNK;
        clt_status st = t->source(t->user, off, *chunk, n);
        if (st != CLT_OK)
            return clt_fail_prefix(st, "'%s': tensor '%s'", w->path, t->name);
        if ((st = write_all(w, *chunk, n)) != CLT_OK)
            return st;
        off += n;
    }
    return CLT_OK;
}

/* fsync of the directory, so that the rename itself survives a crash. */
static clt_status sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else if ((size_t)(slash - path) < sizeof dir)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    else
        return clt_fail(CLT_ERR_IO, "'%s': directory name too long to sync", path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return clt_fail(CLT_ERR_IO, "'%s': cannot open directory '%s' to sync it: %s", path,
                        dir, strerror(errno));
    clt_status st = CLT_OK;
    /* Some file systems cannot fsync a directory (EINVAL); they order renames anyway. */
    if (fsync(fd) != 0 && errno != EINVAL)
        st = clt_fail(CLT_ERR_IO, "'%s': cannot sync directory '%s': %s", path, dir,
                      strerror(errno));
    close(fd);
    return st;
}

clt_status clt_st_writer_commit(clt_st_writer *w)
{
    clt_status st = check_open(w, "clt_st_writer_commit");
    if (st != CLT_OK)
        return st;
    strbuf header = {0};
    char *chunk = NULL;
    bool renamed = false;
    if ((st = build_header(w, &header)) != CLT_OK ||
        (st = write_all(w, header.s, header.len)) != CLT_OK)
        goto done;
    for (size_t i = 0; i < w->n_items; i++)
        if ((st = write_item(w, &w->items[i], &chunk)) != CLT_OK)
            goto done;
    if (fsync(w->fd) != 0) {
        st = clt_fail(CLT_ERR_IO, "'%s': cannot sync temporary file '%s': %s", w->path,
                      w->tmp_path, strerror(errno));
        goto done;
    }
    /* close can report a failed delayed write (NFS); the file is then not trustworthy. */
    int fd = w->fd;
    w->fd = -1;
    if (close(fd) != 0) {
        st = clt_fail(CLT_ERR_IO, "'%s': closing temporary file '%s' failed: %s", w->path,
                      w->tmp_path, strerror(errno));
        goto done;
    }
    if (rename(w->tmp_path, w->path) != 0) {
        st = clt_fail(CLT_ERR_IO, "'%s': cannot rename '%s' over it: %s", w->path,
                      w->tmp_path, strerror(errno));
        goto done;
    }
    renamed = true;
    st = sync_dir(w->path);
done:
    if (w->fd >= 0) {
        close(w->fd);
        w->fd = -1;
    }
    if (!renamed)
        unlink(w->tmp_path);
    free(header.s);
    free(chunk);
    return st;
}

void clt_st_writer_abort(clt_st_writer *w)
{
    if (!w || w->fd < 0)
        return;
    close(w->fd);
    w->fd = -1;
    unlink(w->tmp_path);
}

void clt_st_writer_destroy(clt_st_writer *w)
{
    if (!w)
        return;
    clt_st_writer_abort(w);
    for (size_t i = 0; i < w->n_items; i++)
        free(w->items[i].name);
    for (size_t i = 0; i < w->n_meta; i++) {
        free(w->meta[i].key);
        free(w->meta[i].value);
    }
    free(w->items);
    free(w->meta);
    free(w->path);
    free(w->tmp_path);
    free(w);
}
