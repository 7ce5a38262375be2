/* Fuzzes the safetensors reader (runtime/safetensors_read.c): the input is the whole
 * file, held in a memfd and opened by path as a checkpoint would be.
 *
 * Checked beyond "no crash": a refused file gives CLT_ERR_FORMAT, CLT_ERR_UNSUPPORTED
 * (too many dimensions) or out of memory, with a sentence; an accepted one keeps every
 * promise of clt/safetensors.h: each tensor lies inside the file with bytes = numel ·
 * dtype size, together they cover the data exactly, names and metadata keys are unique
 * and found again by lookup, every tensor reads back as the bytes at its offset, and
 * ranges outside a tensor are refused. Then the tensors and metadata go through the
 * writer into the scratch directory and read back the same: what the reader accepts,
 * the writer writes. */
#include <stdbool.h>

#include "clt/safetensors.h"
#include "fuzz_util.h"

static fuzz_file input;
static char rewrite_path[4200];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_file_init(&input);
    snprintf(rewrite_path, sizeof rewrite_path, "%s/rewrite.safetensors", fuzz_scratch_dir());
    return 0;
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* Every tensor of r: its place, its bytes, the lookups. Returns the bytes in all. */
static uint64_t check_tensors(const clt_st_reader *r, const uint8_t *file, size_t size)
{
    const uint64_t data_start = 8 + le64(file);
    uint64_t total = 0;
    for (size_t i = 0; i < clt_st_reader_count(r); i++) {
        const char *name = clt_st_reader_name(r, i);
        clt_st_info info;
        FUZZ_CHECK(name && clt_st_reader_find(r, name, &info) == CLT_OK, "tensor %zu", i);
        FUZZ_CHECK(info.rank >= 0 && info.rank <= CLT_ST_MAX_RANK, "rank %d", info.rank);
        uint64_t numel = 1;
        for (int d = 0; d < info.rank; d++) {
            FUZZ_CHECK(info.shape[d] >= 0, "'%s': shape[%d] %lld", name, d,
                       (long long)info.shape[d]);
            numel *= (uint64_t)info.shape[d];
        }
        for (int d = info.rank; d < CLT_ST_MAX_RANK; d++)
            FUZZ_CHECK(info.shape[d] == 0, "'%s': shape[%d] past the rank", name, d);
        FUZZ_CHECK(numel * clt_st_dtype_size(info.dtype) == info.bytes,
                   "'%s': %zu bytes for its shape", name, info.bytes);
        FUZZ_CHECK(info.file_offset >= data_start && info.file_offset <= size &&
                       info.bytes <= size - info.file_offset,
                   "'%s': [%llu, +%zu) outside the %zu-byte file", name,
                   (unsigned long long)info.file_offset, info.bytes, size);
        total += info.bytes;

        uint8_t *buf = malloc(info.bytes ? info.bytes : 1);
        FUZZ_CHECK(buf != NULL, "no memory for %zu bytes", info.bytes);
        FUZZ_CHECK(clt_st_reader_read(r, name, buf, info.bytes) == CLT_OK, "read '%s': %s",
                   name, clt_last_error());
        FUZZ_CHECK(info.bytes == 0 || memcmp(buf, file + info.file_offset, info.bytes) == 0,
                   "'%s' read other bytes than the file's", name);
        FUZZ_CHECK(clt_st_reader_read(r, name, buf, info.bytes + 1) == CLT_ERR_INVALID_ARG,
                   "read of a wrong size accepted");
        FUZZ_CHECK(clt_st_reader_read_range(r, name, info.bytes / 2, buf,
                                            info.bytes - info.bytes / 2 + 1) ==
                       CLT_ERR_INVALID_ARG,
                   "range past the end of '%s' accepted", name);
        FUZZ_CHECK(clt_st_reader_read_range(r, name, SIZE_MAX, buf, 1) == CLT_ERR_INVALID_ARG,
                   "range at SIZE_MAX accepted");
        free(buf);
    }
    FUZZ_CHECK(total == size - data_start, "tensors cover %llu of %llu data bytes",
               (unsigned long long)total, (unsigned long long)(size - data_start));
    return total;
}

static void check_metadata(const clt_st_reader *r)
{
    for (size_t i = 0; i < clt_st_reader_metadata_count(r); i++) {
        const char *key = clt_st_reader_metadata_key(r, i);
        FUZZ_CHECK(key && clt_st_reader_metadata(r, key) != NULL, "metadata %zu", i);
        for (size_t k = 0; k < i; k++)
            FUZZ_CHECK(strcmp(key, clt_st_reader_metadata_key(r, k)) != 0,
                       "metadata key '%s' twice", key);
    }
    FUZZ_CHECK(clt_st_reader_metadata_key(r, clt_st_reader_metadata_count(r)) == NULL,
               "a key past the end");
}

/* A tensor of the original file, for the writer's source callback. */
typedef struct source {
    const clt_st_reader *r;
    const char *name;
} source;

static clt_status read_source(void *user, size_t offset, void *dst, size_t bytes)
{
    const source *s = user;
    return clt_st_reader_read_range(s->r, s->name, offset, dst, bytes);
}

/* Writes r's tensors and metadata anew and checks that the new file says the same. The
 * writer may refuse what the reader took only where clt/safetensors.h lets it: a name
 * that is empty, not UTF-8 or "__metadata__" is legal in a file but not for add. */
static void check_rewrite(const clt_st_reader *r)
{
    const size_t n = clt_st_reader_count(r);
    source *src = calloc(n + 1, sizeof *src);
    clt_st_writer *w = NULL;
    FUZZ_CHECK(src != NULL, "no memory");
    FUZZ_CHECK(clt_st_writer_open(rewrite_path, &w) == CLT_OK, "writer: %s", clt_last_error());
    for (size_t i = 0; i < clt_st_reader_metadata_count(r); i++) {
        const char *key = clt_st_reader_metadata_key(r, i);
        FUZZ_CHECK(clt_st_writer_set_metadata(w, key, clt_st_reader_metadata(r, key)) ==
                       CLT_OK,
                   "metadata '%s' refused: %s", key, clt_last_error());
    }
    for (size_t i = 0; i < n; i++) {
        clt_st_info info;
        src[i] = (source){r, clt_st_reader_name(r, i)};
        (void)clt_st_reader_find(r, src[i].name, &info);
        clt_status st = clt_st_writer_add_source(w, src[i].name, info.dtype, info.rank,
                                                 info.shape, info.bytes, read_source, &src[i]);
        if (st != CLT_OK) {
            FUZZ_CHECK(st == CLT_ERR_INVALID_ARG && src[i].name[0] == '\0',
                       "tensor '%s' refused: %s", src[i].name, clt_last_error());
            goto done;
        }
    }
    FUZZ_CHECK(clt_st_writer_commit(w) == CLT_OK, "commit: %s", clt_last_error());
    clt_st_reader *back = NULL;
    FUZZ_CHECK(clt_st_reader_open(rewrite_path, &back) == CLT_OK, "reading back: %s",
               clt_last_error());
    FUZZ_CHECK(clt_st_reader_count(back) == n, "%zu tensors back, %zu written",
               clt_st_reader_count(back), n);
    FUZZ_CHECK(clt_st_reader_metadata_count(back) == clt_st_reader_metadata_count(r),
               "metadata count changed");
    for (size_t i = 0; i < clt_st_reader_metadata_count(r); i++) {
        const char *key = clt_st_reader_metadata_key(r, i);
        const char *v = clt_st_reader_metadata(back, key);
        FUZZ_CHECK(v && strcmp(v, clt_st_reader_metadata(r, key)) == 0, "metadata '%s'", key);
    }
    for (size_t i = 0; i < n; i++) {
        clt_st_info a, b;
        (void)clt_st_reader_find(r, src[i].name, &a);
        FUZZ_CHECK(clt_st_reader_find(back, src[i].name, &b) == CLT_OK, "'%s' lost",
                   src[i].name);
        FUZZ_CHECK(a.dtype == b.dtype && a.rank == b.rank && a.bytes == b.bytes &&
                       memcmp(a.shape, b.shape, sizeof a.shape) == 0,
                   "'%s' changed its description", src[i].name);
        uint8_t *x = malloc(a.bytes + 1), *y = malloc(a.bytes + 1);
        FUZZ_CHECK(x && y, "no memory");
        FUZZ_CHECK(clt_st_reader_read(r, src[i].name, x, a.bytes) == CLT_OK &&
                       clt_st_reader_read(back, src[i].name, y, b.bytes) == CLT_OK &&
                       memcmp(x, y, a.bytes) == 0,
                   "'%s' changed its bytes", src[i].name);
        free(x);
        free(y);
    }
    clt_st_reader_close(back);
done:
    clt_st_writer_destroy(w);
    free(src);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_file_set(&input, data, size);
    clt_st_reader *r = NULL;
    clt_status st = clt_st_reader_open(input.path, &r);
    if (st != CLT_OK) {
        FUZZ_CHECK(st == CLT_ERR_FORMAT || st == CLT_ERR_UNSUPPORTED ||
                       st == CLT_ERR_OUT_OF_MEMORY,
                   "status %s: %s", clt_status_name(st), clt_last_error());
        FUZZ_CHECK(r == NULL && clt_last_error()[0] != '\0', "a refusal without a reason");
        return 0;
    }
    check_tensors(r, data, size);
    check_metadata(r);
    check_rewrite(r);
    clt_st_reader_close(r);
    return 0;
}
