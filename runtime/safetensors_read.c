/* Reading safetensors files. Open validates the whole header — every check the
 * reference implementation makes, plus strict JSON — so that nothing read from a file
 * can later index outside it, and so that a corrupt checkpoint is refused with a
 * sentence that says what is wrong before any tensor is used. Data is read with pread
 * on demand, never mapped or held. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clt/safetensors.h"
#include "runtime/error.h"
#include "runtime/json_parse.h"

/* The reference implementation's limit; a longer header is a corrupt length field. */
#define ST_MAX_HEADER ((uint64_t)100000000)
/* root object, tensor entry, shape array: 3 levels; a little room for a clear error. */
#define ST_MAX_DEPTH 4

typedef struct st_entry {
    const char *name; /* in r->doc's strings */
    clt_st_info info;
    uint64_t begin, end; /* data_offsets */
} st_entry;

struct clt_st_reader {
    char *path;
    int fd;
    clt_json_doc doc;
    st_entry *entries; /* header order */
    size_t count;
    const st_entry **by_name; /* sorted by name, for find */
    const clt_json_node **meta; /* header order */
    size_t n_meta;
};

static int cmp_entry_name(const void *a, const void *b)
{
    return strcmp((*(const st_entry *const *)a)->name, (*(const st_entry *const *)b)->name);
}

static int cmp_entry_offset(const void *a, const void *b)
{
    const st_entry *x = *(const st_entry *const *)a, *y = *(const st_entry *const *)b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static int cmp_node_key(const void *a, const void *b)
{
    return strcmp((*(const clt_json_node *const *)a)->key,
                  (*(const clt_json_node *const *)b)->key);
}

static clt_status pread_all(int fd, void *dst, size_t n, uint64_t off, const char *path)
{
    char *p = dst;
    size_t done = 0;
    while (done < n) {
        ssize_t k = pread(fd, p + done, n - done, (off_t)(off + done));
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return clt_fail(CLT_ERR_IO, "'%s': read of %zu bytes at offset %" PRIu64
                            " failed: %s", path, n, off, strerror(errno));
        if (k == 0)
            return clt_fail(CLT_ERR_IO, "'%s': file ends at byte %" PRIu64
                            ", before the %zu bytes at offset %" PRIu64 " (did it shrink?)",
                            path, off + done, n, off);
        done += (size_t)k;
    }
    return CLT_OK;
}

/* "(3, 4)" for messages. */
static void shape_text(const clt_st_info *info, char *buf, size_t size)
{
    size_t n = (size_t)snprintf(buf, size, "(");
    for (int i = 0; i < info->rank && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%" PRId64, i ? ", " : "", info->shape[i]);
    if (n < size)
        snprintf(buf + n, size - n, ")");
}

static clt_status entry_shape(const clt_st_reader *r, const clt_json_node *shape,
                              st_entry *e)
{
    if (shape->kind != CLT_JSON_ARRAY)
        return clt_fail(CLT_ERR_FORMAT, "'%s': tensor '%s': shape is not an array", r->path,
                        e->name);
    if (shape->count > CLT_ST_MAX_RANK)
        return clt_fail(CLT_ERR_UNSUPPORTED, "'%s': tensor '%s': %zu dimensions, more than "
                        "the %d supported", r->path, e->name, shape->count, CLT_ST_MAX_RANK);
    uint64_t bytes = clt_st_dtype_size(e->info.dtype);
    for (size_t i = shape->first; i != CLT_JSON_NONE; i = r->doc.nodes[i].next) {
        const clt_json_node *d = &r->doc.nodes[i];
        if (d->kind != CLT_JSON_INT || d->num < 0)
            return clt_fail(CLT_ERR_FORMAT, "'%s': tensor '%s': shape has an entry that is "
                            "not an integer >= 0", r->path, e->name);
        e->info.shape[e->info.rank++] = d->num;
        if (d->num > 0 && bytes > SIZE_MAX / (uint64_t)d->num)
            return clt_fail(CLT_ERR_FORMAT, "'%s': tensor '%s': shape's size overflows",
                            r->path, e->name);
        bytes *= (uint64_t)d->num;
    }
    e->info.bytes = (size_t)bytes;
    return CLT_OK;
}

static clt_status entry_offsets(const clt_st_reader *r, const clt_json_node *offs,
                                st_entry *e, uint64_t data_len)
{
    const clt_json_node *b = offs->count == 2 ? &r->doc.nodes[offs->first] : NULL;
    const clt_json_node *x = b ? &r->doc.nodes[b->next] : NULL;
    if (offs->kind != CLT_JSON_ARRAY || !b || b->kind != CLT_JSON_INT ||
        x->kind != CLT_JSON_INT || b->num < 0 || x->num < b->num)
        return clt_fail(CLT_ERR_FORMAT, "'%s': tensor '%s': data_offsets is not "
                        "[begin, end] with 0 <= begin <= end", r->path, e->name);
    e->begin = (uint64_t)b->num;
    e->end = (uint64_t)x->num;
    if (e->end - e->begin != e->info.bytes) {
        char shape[200];
        shape_text(&e->info, shape, sizeof shape);
        return clt_fail(CLT_ERR_FORMAT, "'%s': tensor '%s': data_offsets [%" PRIu64 ", %"
                        PRIu64 "] do not match shape %s of %s (%zu bytes)", r->path, e->name,
                        e->begin, e->end, shape, clt_st_dtype_name(e->info.dtype),
                        e->info.bytes);
    }
    if (e->end > data_len)
        return clt_fail(CLT_ERR_FORMAT, "'%s': tensor '%s': data_offsets [%" PRIu64 ", %"
                        PRIu64 "] exceed the %" PRIu64 " bytes of data after the header",
                        r->path, e->name, e->begin, e->end, data_len);
    return CLT_OK;
}

/* One tensor's entry: exactly the fields dtype, shape and data_offsets. */
static clt_status parse_entry(const clt_st_reader *r, const clt_json_node *obj, st_entry *e,
                              uint64_t data_len)
{
    e->name = obj->key;
    if (obj->kind != CLT_JSON_OBJECT)
        return clt_fail(CLT_ERR_FORMAT, "'%s': tensor '%s': entry is not an object", r->path,
                        e->name);
    const clt_json_node *field[3] = {NULL, NULL, NULL};
    static const char *const names[3] = {"dtype", "shape", "data_offsets"};
    for (size_t i = obj->first; i != CLT_JSON_NONE; i = r->doc.nodes[i].next) {
        const clt_json_node *m = &r->doc.nodes[i];
        int k = 0;
        while (k < 3 && strcmp(m->key, names[k]) != 0)
            k++;
        if (k == 3 || field[k])
            return clt_fail(CLT_ERR_FORMAT, "'%s': tensor '%s': field '%s' is %s", r->path,
                            e->name, m->key, k == 3 ? "unknown" : "repeated");
        field[k] = m;
    }
    for (int k = 0; k < 3; k++)
        if (!field[k])
            return clt_fail(CLT_ERR_FORMAT, "'%s': tensor '%s': no field '%s'", r->path,
                            e->name, names[k]);
    if (field[0]->kind != CLT_JSON_STRING)
        return clt_fail(CLT_ERR_FORMAT, "'%s': tensor '%s': dtype is not a string", r->path,
                        e->name);
    if (clt_st_dtype_from_name(field[0]->str, &e->info.dtype) != CLT_OK)
        return clt_fail(CLT_ERR_FORMAT, "'%s': tensor '%s': unknown dtype '%s'", r->path,
                        e->name, field[0]->str);
    clt_status st = entry_shape(r, field[1], e);
    if (st != CLT_OK)
        return st;
    return entry_offsets(r, field[2], e, data_len);
}

static clt_status parse_metadata(clt_st_reader *r, const clt_json_node *obj)
{
    if (obj->kind != CLT_JSON_OBJECT)
        return clt_fail(CLT_ERR_FORMAT, "'%s': __metadata__ is not an object", r->path);
    if (!(r->meta = malloc((obj->count + 1) * sizeof *r->meta)))
        return clt_fail(CLT_ERR_OUT_OF_MEMORY, "'%s': no memory for metadata", r->path);
    for (size_t i = obj->first; i != CLT_JSON_NONE; i = r->doc.nodes[i].next) {
        if (r->doc.nodes[i].kind != CLT_JSON_STRING)
            return clt_fail(CLT_ERR_FORMAT, "'%s': __metadata__ value of '%s' is not a string",
                            r->path, r->doc.nodes[i].key);
        r->meta[r->n_meta++] = &r->doc.nodes[i];
    }
    return CLT_OK;
}

/* Names unique, metadata keys unique, and the tensors tile the data exactly. */
static clt_status check_layout(clt_st_reader *r, uint64_t data_len)
{
    clt_status st = CLT_OK;
    const st_entry **by_off = malloc((r->count + 1) * sizeof *by_off);
    const clt_json_node **keys = malloc((r->n_meta + 1) * sizeof *keys);
    if (!(r->by_name = malloc((r->count + 1) * sizeof *r->by_name)) || !by_off || !keys) {
        st = clt_fail(CLT_ERR_OUT_OF_MEMORY, "'%s': no memory for %zu tensors", r->path,
                      r->count);
        goto done;
    }
    for (size_t i = 0; i < r->count; i++)
        r->by_name[i] = by_off[i] = &r->entries[i];
    qsort(r->by_name, r->count, sizeof *r->by_name, cmp_entry_name);
    for (size_t i = 1; i < r->count; i++)
        if (strcmp(r->by_name[i - 1]->name, r->by_name[i]->name) == 0) {
            st = clt_fail(CLT_ERR_FORMAT, "'%s': tensor '%s' appears twice", r->path,
                          r->by_name[i]->name);
            goto done;
        }
    if (r->n_meta)
        memcpy(keys, r->meta, r->n_meta * sizeof *keys);
    qsort(keys, r->n_meta, sizeof *keys, cmp_node_key);
    for (size_t i = 1; i < r->n_meta; i++)
        if (strcmp(keys[i - 1]->key, keys[i]->key) == 0) {
            st = clt_fail(CLT_ERR_FORMAT, "'%s': __metadata__ key '%s' appears twice",
                          r->path, keys[i]->key);
            goto done;
        }
    qsort(by_off, r->count, sizeof *by_off, cmp_entry_offset);
    uint64_t cursor = 0;
    const st_entry *prev = NULL;
    for (size_t i = 0; i < r->count; i++) {
        const st_entry *e = by_off[i];
        if (e->begin < cursor) {
            st = clt_fail(CLT_ERR_FORMAT, "'%s': tensors '%s' [%" PRIu64 ", %" PRIu64
                          "] and '%s' [%" PRIu64 ", %" PRIu64 "] overlap", r->path,
                          prev->name, prev->begin, prev->end, e->name, e->begin, e->end);
            goto done;
        }
        if (e->begin > cursor) {
            st = clt_fail(CLT_ERR_FORMAT, "'%s': data bytes [%" PRIu64 ", %" PRIu64
                          ") belong to no tensor", r->path, cursor, e->begin);
            goto done;
        }
        cursor = e->end;
        prev = e;
    }
    if (cursor != data_len)
        st = clt_fail(CLT_ERR_FORMAT, "'%s': %" PRIu64 " bytes after the last tensor's data "
                      "belong to no tensor", r->path, data_len - cursor);
done:
    free(by_off);
    free(keys);
    return st;
}

/* Everything after the header's length field is known. */
static clt_status parse_header(clt_st_reader *r, const char *text, uint64_t n,
                               uint64_t data_len)
{
    clt_status st = clt_json_parse(text, (size_t)n, ST_MAX_DEPTH, &r->doc);
    if (st == CLT_ERR_FORMAT)
        return clt_fail_prefix(st, "'%s': header is not valid JSON", r->path);
    if (st != CLT_OK)
        return clt_fail_prefix(st, "'%s'", r->path);
    const clt_json_node *root = &r->doc.nodes[0];
    if (root->kind != CLT_JSON_OBJECT)
        return clt_fail(CLT_ERR_FORMAT, "'%s': header is not a JSON object", r->path);
    if (!(r->entries = calloc(root->count + 1, sizeof *r->entries)))
        return clt_fail(CLT_ERR_OUT_OF_MEMORY, "'%s': no memory for %zu tensors", r->path,
                        root->count);
    for (size_t i = root->first; i != CLT_JSON_NONE; i = r->doc.nodes[i].next) {
        const clt_json_node *m = &r->doc.nodes[i];
        if (strcmp(m->key, "__metadata__") == 0) {
            if (r->meta)
                return clt_fail(CLT_ERR_FORMAT, "'%s': __metadata__ appears twice", r->path);
            st = parse_metadata(r, m);
        } else {
            st = parse_entry(r, m, &r->entries[r->count++], data_len);
        }
        if (st != CLT_OK)
            return st;
    }
    return check_layout(r, data_len);
}

clt_status clt_st_reader_open(const char *path, clt_st_reader **out)
{
    if (!out)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_st_reader_open: out is NULL");
    *out = NULL;
    if (!path)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_st_reader_open: path is NULL");
    clt_status st = CLT_OK;
    char *text = NULL;
    clt_st_reader *r = calloc(1, sizeof *r);
    size_t plen = strlen(path) + 1;
    if (r)
        r->fd = -1;
    if (!r || !(r->path = malloc(plen))) {
        st = clt_fail(CLT_ERR_OUT_OF_MEMORY, "'%s': no memory for a reader", path);
        goto done;
    }
    memcpy(r->path, path, plen);
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
        st = clt_fail(CLT_ERR_IO, "'%s': cannot open: %s", path, strerror(errno));
        goto done;
    }
    struct stat sb;
    if (fstat(r->fd, &sb) != 0) {
        st = clt_fail(CLT_ERR_IO, "'%s': cannot stat: %s", path, strerror(errno));
        goto done;
    }
    if (!S_ISREG(sb.st_mode)) {
        st = clt_fail(CLT_ERR_IO, "'%s': %s", path,
                      S_ISDIR(sb.st_mode) ? "is a directory" : "is not a regular file");
        goto done;
    }
    const uint64_t size = (uint64_t)sb.st_size;
    unsigned char len8[8];
    if (size < 8) {
        st = clt_fail(CLT_ERR_FORMAT, "'%s': file is %" PRIu64 " bytes, too short for the "
                      "8-byte header length of a safetensors file", path, size);
        goto done;
    }
    if ((st = pread_all(r->fd, len8, 8, 0, path)) != CLT_OK)
        goto done;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | len8[i];
    if (n > size - 8 || n > ST_MAX_HEADER) {
        st = clt_fail(CLT_ERR_FORMAT, "'%s': header length %" PRIu64 " exceeds %s %" PRIu64
                      " bytes", path, n, n > size - 8 ? "the file's" : "the limit of",
                      n > size - 8 ? size : ST_MAX_HEADER);
        goto done;
    }
    if (!(text = malloc((size_t)n + 1))) {
        st = clt_fail(CLT_ERR_OUT_OF_MEMORY, "'%s': no memory for a %" PRIu64 "-byte header",
                      path, n);
        goto done;
    }
    if ((st = pread_all(r->fd, text, (size_t)n, 8, path)) != CLT_OK ||
        (st = parse_header(r, text, n, size - 8 - n)) != CLT_OK)
        goto done;
    for (size_t i = 0; i < r->count; i++)
        r->entries[i].info.file_offset = 8 + n + r->entries[i].begin;
done:
    free(text);
    if (st != CLT_OK) {
        clt_st_reader_close(r);
        return st;
    }
    *out = r;
    return CLT_OK;
}

size_t clt_st_reader_count(const clt_st_reader *r) { return r ? r->count : 0; }

const char *clt_st_reader_name(const clt_st_reader *r, size_t i)
{
    return r && i < r->count ? r->entries[i].name : NULL;
}

static const st_entry *lookup(const clt_st_reader *r, const char *name)
{
    const st_entry key = {.name = name}, *pkey = &key;
    const st_entry **hit =
        bsearch(&pkey, r->by_name, r->count, sizeof *r->by_name, cmp_entry_name);
    return hit ? *hit : NULL;
}

/* The entry for name, or an INVALID_ARG sentence from function fn. */
static clt_status find_entry(const clt_st_reader *r, const char *name, const char *fn,
                             const st_entry **out)
{
    if (!r || !name)
        return clt_fail(CLT_ERR_INVALID_ARG, "%s: %s is NULL", fn, !r ? "reader" : "name");
    if (!(*out = lookup(r, name)))
        return clt_fail(CLT_ERR_INVALID_ARG, "%s: '%s' has no tensor '%s'", fn, r->path,
                        name);
    return CLT_OK;
}

clt_status clt_st_reader_find(const clt_st_reader *r, const char *name, clt_st_info *out)
{
    const st_entry *e;
    clt_status st = find_entry(r, name, "clt_st_reader_find", &e);
    if (st != CLT_OK)
        return st;
    if (!out)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_st_reader_find: out is NULL");
    *out = e->info;
    return CLT_OK;
}

clt_status clt_st_reader_read_range(const clt_st_reader *r, const char *name, size_t offset,
                                    void *dst, size_t bytes)
{
    static const char fn[] = "clt_st_reader_read_range";
    const st_entry *e;
    clt_status st = find_entry(r, name, fn, &e);
    if (st != CLT_OK)
        return st;
    if (offset > e->info.bytes || bytes > e->info.bytes - offset)
        return clt_fail(CLT_ERR_INVALID_ARG, "%s: bytes [%zu, %zu + %zu) lie outside tensor "
                        "'%s' of %zu bytes in '%s'", fn, offset, offset, bytes, name,
                        e->info.bytes, r->path);
    if (!dst && bytes > 0)
        return clt_fail(CLT_ERR_INVALID_ARG, "%s: dst is NULL", fn);
    return pread_all(r->fd, dst, bytes, e->info.file_offset + offset, r->path);
}

clt_status clt_st_reader_read(const clt_st_reader *r, const char *name, void *dst,
                              size_t bytes)
{
    const st_entry *e;
    clt_status st = find_entry(r, name, "clt_st_reader_read", &e);
    if (st != CLT_OK)
        return st;
    if (bytes != e->info.bytes)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_st_reader_read: bytes is %zu but tensor "
                        "'%s' in '%s' has %zu", bytes, name, r->path, e->info.bytes);
    return clt_st_reader_read_range(r, name, 0, dst, bytes);
}

size_t clt_st_reader_metadata_count(const clt_st_reader *r) { return r ? r->n_meta : 0; }

const char *clt_st_reader_metadata_key(const clt_st_reader *r, size_t i)
{
    return r && i < r->n_meta ? r->meta[i]->key : NULL;
}

const char *clt_st_reader_metadata(const clt_st_reader *r, const char *key)
{
    if (!r || !key)
        return NULL;
    for (size_t i = 0; i < r->n_meta; i++)
        if (strcmp(r->meta[i]->key, key) == 0)
            return r->meta[i]->str;
    return NULL;
}

void clt_st_reader_close(clt_st_reader *r)
{
    if (!r)
        return;
    if (r->fd >= 0)
        close(r->fd);
    clt_json_free(&r->doc);
    free(r->entries);
    free(r->by_name);
    free(r->meta);
    free(r->path);
    free(r);
}
