/* safetensors reading and writing: round trips of every dtype, the exact bytes of a
 * small file, a file laid out as the reference Python writer does, every kind of corrupt
 * or truncated file refused with a sentence naming the problem, and commits that are
 * atomic: an aborted writer leaves the old file byte-identical and no temporary file. */
#include <dirent.h>

#include "runtime/error.h"
#include "support/support.h"

/* ---- helpers --------------------------------------------------------------------------- */

static void test_path(const char *test, const char *file, char *out, size_t size)
{
    char dir[1024];
    ts_tmp_subdir(test, dir, sizeof dir);
    snprintf(out, size, "%s/%s", dir, file);
}

static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* The whole file in a malloc'd block. */
static unsigned char *read_bytes(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc((size_t)len + 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return p;
}

/* A file: 8-byte little-endian length of `header`, the header as given, then `data_len`
 * data bytes (0, 1, 2, ...). */
static void write_raw(const char *path, const char *header, size_t data_len)
{
    const uint64_t n = strlen(header);
    size_t total = 8 + (size_t)n + data_len;
    unsigned char *p = malloc(total);
    assert_non_null(p);
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(n >> (8 * i));
    memcpy(p + 8, header, (size_t)n);
    for (size_t i = 0; i < data_len; i++)
        p[8 + n + i] = (unsigned char)i;
    write_bytes(path, p, total);
    free(p);
}

/* Files in dir other than "." and "..". */
static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

/* Opening `path` fails with `want`, naming the file and mentioning `needle`. */
static void expect_refused(const char *path, clt_status want, const char *needle)
{
    clt_st_reader *r = (clt_st_reader *)1;
    clt_status st = clt_st_reader_open(path, &r);
    if (st != want)
        fail_msg("opening %s gave %s, want %s (%s)", path, clt_status_name(st),
                 clt_status_name(want), clt_last_error());
    assert_null(r);
    ts_assert_error_mentions(path);
    ts_assert_error_mentions(needle);
}

/* ---- round trips ------------------------------------------------------------------------ */

typedef struct source_state {
    size_t calls;
} source_state;

/* Byte i of the streamed tensor is (i * 7) & 0xff. */
static clt_status pattern_source(void *user, size_t offset, void *dst, size_t bytes)
{
    ((source_state *)user)->calls++;
    unsigned char *p = dst;
    for (size_t i = 0; i < bytes; i++)
        p[i] = (unsigned char)(((offset + i) * 7) & 0xff);
    return CLT_OK;
}

static void round_trip(void **state)
{
    (void)state;
    char path[1200];
    test_path("round_trip", "model.safetensors", path, sizeof path);
    unsigned char data[CLT_ST_DTYPE_COUNT][2 * 3 * 8];
    const int64_t shape23[2] = {2, 3}, shape_empty[3] = {4, 0, 5}, big_shape[1] = {
        ((size_t)4 << 20) + 13};
    const float scalar = 3.5f;
    source_state src = {0};

    clt_st_writer *w = NULL;
    ts_assert_ok(clt_st_writer_open(path, &w));
    ts_assert_ok(clt_st_writer_set_metadata(w, "format", "pt"));
    ts_assert_ok(clt_st_writer_set_metadata(w, "note \"quoted\"\n", "caf\xc3\xa9 \\ \x01"));
    ts_assert_ok(clt_st_writer_set_metadata(w, "format", "clt")); /* replaces */
    for (int d = 0; d < CLT_ST_DTYPE_COUNT; d++) {
        char name[64];
        snprintf(name, sizeof name, "h.%d.%s", d, clt_st_dtype_name((clt_st_dtype)d));
        for (size_t i = 0; i < sizeof data[d]; i++)
            data[d][i] = (unsigned char)(d * 31 + i);
        ts_assert_ok(clt_st_writer_add(w, name, (clt_st_dtype)d, 2, shape23, data[d],
                                       6 * clt_st_dtype_size((clt_st_dtype)d)));
    }
    ts_assert_ok(clt_st_writer_add(w, "scalar", CLT_ST_F32, 0, NULL, &scalar, 4));
    ts_assert_ok(clt_st_writer_add(w, "empty", CLT_ST_F16, 3, shape_empty, NULL, 0));
    ts_assert_ok(clt_st_writer_add_source(w, "streamed", CLT_ST_U8, 1, big_shape,
                                          (size_t)big_shape[0], pattern_source, &src));
    ts_assert_ok(clt_st_writer_commit(w));
    clt_st_writer_destroy(w);
    assert_int_equal(src.calls, 2); /* 4 MiB chunks */

    clt_st_reader *r = NULL;
    ts_assert_ok(clt_st_reader_open(path, &r));
    assert_int_equal(clt_st_reader_count(r), CLT_ST_DTYPE_COUNT + 3);
    for (int d = 0; d < CLT_ST_DTYPE_COUNT; d++) {
        char name[64];
        snprintf(name, sizeof name, "h.%d.%s", d, clt_st_dtype_name((clt_st_dtype)d));
        assert_string_equal(clt_st_reader_name(r, (size_t)d), name);
        clt_st_info info;
        ts_assert_ok(clt_st_reader_find(r, name, &info));
        assert_int_equal(info.dtype, d);
        assert_int_equal(info.rank, 2);
        assert_int_equal(info.shape[0], 2);
        assert_int_equal(info.shape[1], 3);
        assert_int_equal(info.shape[2], 0);
        assert_int_equal(info.bytes, 6 * clt_st_dtype_size((clt_st_dtype)d));
        if (d == 0)
            assert_int_equal(info.file_offset % 8, 0); /* header padded to 8 */
        unsigned char got[sizeof data[0]];
        ts_assert_ok(clt_st_reader_read(r, name, got, info.bytes));
        assert_memory_equal(got, data[d], info.bytes);
    }
    clt_st_info info;
    float got_scalar = 0;
    ts_assert_ok(clt_st_reader_find(r, "scalar", &info));
    assert_int_equal(info.rank, 0);
    assert_int_equal(info.bytes, 4);
    ts_assert_ok(clt_st_reader_read(r, "scalar", &got_scalar, 4));
    assert_true(got_scalar == scalar);
    ts_assert_ok(clt_st_reader_find(r, "empty", &info));
    assert_int_equal(info.rank, 3);
    assert_int_equal(info.shape[1], 0);
    assert_int_equal(info.bytes, 0);
    ts_assert_ok(clt_st_reader_read(r, "empty", NULL, 0));

    ts_assert_ok(clt_st_reader_find(r, "streamed", &info));
    unsigned char *big = malloc(info.bytes);
    assert_non_null(big);
    ts_assert_ok(clt_st_reader_read(r, "streamed", big, info.bytes));
    for (size_t i = 0; i < info.bytes; i++)
        if (big[i] != (unsigned char)((i * 7) & 0xff))
            fail_msg("streamed byte %zu is %u", i, big[i]);
    unsigned char part[5];
    ts_assert_ok(clt_st_reader_read_range(r, "streamed", info.bytes - 5, part, 5));
    assert_memory_equal(part, big + info.bytes - 5, 5);
    free(big);

    assert_int_equal(clt_st_reader_metadata_count(r), 2);
    assert_string_equal(clt_st_reader_metadata_key(r, 0), "format");
    assert_null(clt_st_reader_metadata_key(r, 2));
    assert_string_equal(clt_st_reader_metadata(r, "format"), "clt");
    assert_string_equal(clt_st_reader_metadata(r, "note \"quoted\"\n"), "caf\xc3\xa9 \\ \x01");
    assert_null(clt_st_reader_metadata(r, "missing"));
    assert_null(clt_st_reader_name(r, CLT_ST_DTYPE_COUNT + 3));
    clt_st_reader_close(r);
}

/* The bytes of a small file, computed by hand: metadata first, tensors in the order
 * added, data contiguous, header padded with spaces to a multiple of 8. */
static void exact_layout(void **state)
{
    (void)state;
    char path[1200];
    test_path("exact_layout", "small.safetensors", path, sizeof path);
    const float a[2] = {1.0f, 2.0f};
    const int32_t b = 7;
    const int64_t shape_a[1] = {2};
    clt_st_writer *w = NULL;
    ts_assert_ok(clt_st_writer_open(path, &w));
    ts_assert_ok(clt_st_writer_add(w, "a", CLT_ST_F32, 1, shape_a, a, sizeof a));
    ts_assert_ok(clt_st_writer_add(w, "b", CLT_ST_I32, 0, NULL, &b, sizeof b));
    ts_assert_ok(clt_st_writer_set_metadata(w, "k", "v"));
    ts_assert_ok(clt_st_writer_commit(w));
    clt_st_writer_destroy(w);

    const char json[] = "{\"__metadata__\":{\"k\":\"v\"},"
                        "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                        "\"b\":{\"dtype\":\"I32\",\"shape\":[],\"data_offsets\":[8,12]}}";
    const size_t jlen = sizeof json - 1, hlen = (jlen + 7) / 8 * 8;
    unsigned char want[512] = {0};
    want[0] = (unsigned char)hlen; /* < 256 */
    memcpy(want + 8, json, jlen);
    memset(want + 8 + jlen, ' ', hlen - jlen);
    const unsigned char data[12] = {0, 0, 0x80, 0x3f, 0, 0, 0, 0x40, 7, 0, 0, 0};
    memcpy(want + 8 + hlen, data, sizeof data);
    size_t n;
    unsigned char *got = read_bytes(path, &n);
    assert_int_equal(n, 8 + hlen + sizeof data);
    assert_int_equal(hlen % 8, 0);
    assert_true(hlen > jlen); /* this case does need padding */
    assert_memory_equal(got, want, n);
    free(got);
}

/* As written by the reference implementation's Python binding: no padding here, keys in
 * another order, whitespace, and escapes in names. */
static void reference_layout(void **state)
{
    (void)state;
    char path[1200];
    test_path("reference_layout", "ref.safetensors", path, sizeof path);
    const char *header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    write_raw(path, header, 8);
    clt_st_reader *r = NULL;
    ts_assert_ok(clt_st_reader_open(path, &r));
    assert_int_equal(clt_st_reader_count(r), 1);
    assert_int_equal(clt_st_reader_metadata_count(r), 0);
    clt_st_info info;
    ts_assert_ok(clt_st_reader_find(r, "a", &info));
    assert_int_equal(info.dtype, CLT_ST_F32);
    assert_int_equal(info.file_offset, 8 + strlen(header));
    unsigned char got[8];
    ts_assert_ok(clt_st_reader_read(r, "a", got, 8));
    for (int i = 0; i < 8; i++)
        assert_int_equal(got[i], i);
    clt_st_reader_close(r);

    write_raw(path,
              " {\n \"w\\u00e9\\ud83d\\ude00\\n\\\"\\\\\\/\" : {\"shape\" : [ 1, 2 ], "
              "\"data_offsets\":[4, 8], \"dtype\":\"BF16\"},\r\n\t\"x\":{\"data_offsets\":"
              "[0,4],\"dtype\":\"I32\",\"shape\":[]},\"__metadata__\":{\"\":\"\"}}   ",
              8);
    ts_assert_ok(clt_st_reader_open(path, &r));
    assert_int_equal(clt_st_reader_count(r), 2);
    const char *name = "w\xc3\xa9\xf0\x9f\x98\x80\n\"\\/";
    assert_string_equal(clt_st_reader_name(r, 0), name);
    ts_assert_ok(clt_st_reader_find(r, name, &info));
    assert_int_equal(info.dtype, CLT_ST_BF16);
    assert_int_equal(info.rank, 2);
    ts_assert_ok(clt_st_reader_read(r, name, got, 4));
    assert_int_equal(got[0], 4);
    assert_string_equal(clt_st_reader_metadata(r, ""), "");
    clt_st_reader_close(r);
}

/* ---- corrupt files ----------------------------------------------------------------------- */

static void truncated_everywhere(void **state)
{
    (void)state;
    char path[1200], cut[1200];
    test_path("truncated", "whole.safetensors", path, sizeof path);
    test_path("truncated", "cut.safetensors", cut, sizeof cut);
    const float a[6] = {1, 2, 3, 4, 5, 6};
    const int64_t shape[2] = {2, 3};
    clt_st_writer *w = NULL;
    ts_assert_ok(clt_st_writer_open(path, &w));
    ts_assert_ok(clt_st_writer_set_metadata(w, "step", "12"));
    ts_assert_ok(clt_st_writer_add(w, "a", CLT_ST_F32, 2, shape, a, sizeof a));
    ts_assert_ok(clt_st_writer_add(w, "b", CLT_ST_U8, 1, shape, a, 2));
    ts_assert_ok(clt_st_writer_commit(w));
    clt_st_writer_destroy(w);
    size_t n;
    unsigned char *whole = read_bytes(path, &n);
    for (size_t len = 0; len < n; len++) {
        write_bytes(cut, whole, len);
        clt_st_reader *r = NULL;
        clt_status st = clt_st_reader_open(cut, &r);
        if (st != CLT_ERR_FORMAT)
            fail_msg("prefix of %zu of %zu bytes gave %s: %s", len, n, clt_status_name(st),
                     clt_last_error());
        assert_null(r);
        ts_assert_error_mentions(cut);
    }
    write_bytes(cut, whole, n);
    clt_st_reader *r = NULL;
    ts_assert_ok(clt_st_reader_open(cut, &r));
    clt_st_reader_close(r);
    free(whole);
}

static void huge_header_length(void **state)
{
    (void)state;
    char path[1200];
    test_path("huge_header", "huge.safetensors", path, sizeof path);
    unsigned char bytes[4096] = {0};
    const uint64_t n = 1000000000000000000ull;
    for (int i = 0; i < 8; i++)
        bytes[i] = (unsigned char)(n >> (8 * i));
    write_bytes(path, bytes, sizeof bytes);
    expect_refused(path, CLT_ERR_FORMAT, "header length 1000000000000000000 exceeds the file's "
                                         "4096 bytes");
    bytes[0] = 0xff, bytes[1] = 0xff, bytes[2] = 0xff, bytes[3] = 0xff;
    for (int i = 4; i < 8; i++)
        bytes[i] = 0xff;
    write_bytes(path, bytes, sizeof bytes);
    expect_refused(path, CLT_ERR_FORMAT, "exceeds");
    write_bytes(path, bytes, 5);
    expect_refused(path, CLT_ERR_FORMAT, "too short");
}

typedef struct bad_case {
    const char *header;
    size_t data_len;
    clt_status want;
    const char *needle;
} bad_case;

#define T(name, dtype, shape, b, e) \
    "\"" name "\":{\"dtype\":\"" dtype "\",\"shape\":" shape ",\"data_offsets\":[" #b "," #e "]}"

static void bad_headers(void **state)
{
    (void)state;
    static const bad_case cases[] = {
        {"", 0, CLT_ERR_FORMAT, "not valid JSON"},
        {"{\"a\":{\"dtype\":\"F32\",", 0, CLT_ERR_FORMAT, "not valid JSON"},
        {"{} x", 0, CLT_ERR_FORMAT, "byte 3"},
        {"{\"a\" 1}", 0, CLT_ERR_FORMAT, "expected ':'"},
        {"[]", 0, CLT_ERR_FORMAT, "not a JSON object"},
        {"{" T("a", "F32", "[2.0]", 0, 8) "}", 8, CLT_ERR_FORMAT, "fraction"},
        {"{" T("a", "F32", "[2e0]", 0, 8) "}", 8, CLT_ERR_FORMAT, "fraction"},
        {"{" T("a", "F32", "[true]", 0, 8) "}", 8, CLT_ERR_FORMAT, "true, false and null"},
        {"{" T("a", "F32", "[02]", 0, 8) "}", 8, CLT_ERR_FORMAT, "leading zero"},
        {"{" T("a", "F32", "[-2]", 0, 8) "}", 8, CLT_ERR_FORMAT, "shape"},
        {"{" T("a", "F32", "[99999999999999999999]", 0, 8) "}", 8, CLT_ERR_FORMAT, "64 bits"},
        {"{" T("a", "F32", "[4294967296,4294967296]", 0, 8) "}", 8, CLT_ERR_FORMAT,
         "overflows"},
        {"{" T("a", "F32", "\"2\"", 0, 8) "}", 8, CLT_ERR_FORMAT, "not an array"},
        {"{" T("a", "F32", "[1,1,1,1,1,1,1,1,2]", 0, 8) "}", 8, CLT_ERR_UNSUPPORTED,
         "9 dimensions"},
        {"{" T("a", "F128", "[2]", 0, 8) "}", 8, CLT_ERR_FORMAT, "unknown dtype 'F128'"},
        {"{" T("a", "f32", "[2]", 0, 8) "}", 8, CLT_ERR_FORMAT, "unknown dtype 'f32'"},
        {"{" T("h.0.attn.c_attn.weight", "F32", "[3,4]", 0, 100) "}", 100, CLT_ERR_FORMAT,
         "tensor 'h.0.attn.c_attn.weight': data_offsets [0, 100] do not match shape (3, 4) "
         "of F32 (48 bytes)"},
        {"{" T("a", "F32", "[4]", 0, 16) "}", 8, CLT_ERR_FORMAT, "exceed the 8 bytes"},
        {"{" T("a", "F32", "[2]", 8, 0) "}", 8, CLT_ERR_FORMAT, "begin <= end"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, CLT_ERR_FORMAT,
         "data_offsets"},
        {"{" T("a", "F32", "[2]", 0, 8) "," T("b", "F32", "[2]", 4, 12) "}", 12,
         CLT_ERR_FORMAT, "overlap"},
        {"{" T("a", "F32", "[2]", 0, 8) "," T("b", "F32", "[2]", 12, 20) "}", 20,
         CLT_ERR_FORMAT, "bytes [8, 12) belong to no tensor"},
        {"{" T("a", "F32", "[2]", 0, 8) "}", 12, CLT_ERR_FORMAT, "4 bytes after"},
        {"{" T("a", "F32", "[2]", 0, 8) "," T("a", "F32", "[2]", 8, 16) "}", 16,
         CLT_ERR_FORMAT, "tensor 'a' appears twice"},
        {"{\"__metadata__\":{},\"__metadata__\":{}}", 0, CLT_ERR_FORMAT, "appears twice"},
        {"{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, CLT_ERR_FORMAT,
         "key 'k' appears twice"},
        {"{\"__metadata__\":{\"k\":1}}", 0, CLT_ERR_FORMAT, "not a string"},
        {"{\"__metadata__\":[]}", 0, CLT_ERR_FORMAT, "not an object"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}", 8,
         CLT_ERR_FORMAT, "field 'x' is unknown"},
        {"{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
         8, CLT_ERR_FORMAT, "field 'dtype' is repeated"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, CLT_ERR_FORMAT,
         "no field 'data_offsets'"},
        {"{\"a\":[]}", 0, CLT_ERR_FORMAT, "not an object"},
        {"{\"a\":{\"dtype\":[[[[[[[1]]]]]]]}}", 0, CLT_ERR_FORMAT, "nesting"},
        {"{\"\xff\":{}}", 0, CLT_ERR_FORMAT, "UTF-8"},
        {"{\"\xc0\xaf\":{}}", 0, CLT_ERR_FORMAT, "UTF-8"},
        {"{\"\\ud800\":{}}", 0, CLT_ERR_FORMAT, "surrogate"},
        {"{\"\\udc00\":{}}", 0, CLT_ERR_FORMAT, "surrogate"},
        {"{\"\\u0000\":{}}", 0, CLT_ERR_FORMAT, "\\u0000"},
        {"{\"\\x\":{}}", 0, CLT_ERR_FORMAT, "escape"},
        {"{\"\\u12G4\":{}}", 0, CLT_ERR_FORMAT, "hex"},
        {"{\"a\tb\":{}}", 0, CLT_ERR_FORMAT, "control character"},
        {"{\"a", 0, CLT_ERR_FORMAT, "never ends"},
        {"{\"a\":null}", 0, CLT_ERR_FORMAT, "true, false and null"},
    };
    char path[1200];
    test_path("bad_headers", "bad.safetensors", path, sizeof path);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_raw(path, cases[i].header, cases[i].data_len);
        clt_st_reader *r = (clt_st_reader *)1;
        clt_status st = clt_st_reader_open(path, &r);
        if (st != cases[i].want || !ts_has_text(clt_last_error(), cases[i].needle) ||
            !ts_has_text(clt_last_error(), path))
            fail_msg("case %zu (%s): got %s \"%s\", want %s mentioning \"%s\"", i,
                     cases[i].header, clt_status_name(st), clt_last_error(),
                     clt_status_name(cases[i].want), cases[i].needle);
        assert_null(r);
    }
    /* Zero-byte tensors may sit anywhere their neighbours leave room. */
    write_raw(path, "{" T("e", "F32", "[0]", 0, 0) "," T("a", "F32", "[2]", 0, 8) ","
                    T("z", "U8", "[3,0]", 8, 8) "}", 8);
    clt_st_reader *r = NULL;
    ts_assert_ok(clt_st_reader_open(path, &r));
    assert_int_equal(clt_st_reader_count(r), 3);
    clt_st_reader_close(r);
    /* An empty header object is a valid file with no tensors. */
    write_raw(path, "{}      ", 0);
    ts_assert_ok(clt_st_reader_open(path, &r));
    assert_int_equal(clt_st_reader_count(r), 0);
    clt_st_reader_close(r);
}

/* ---- atomic commits ---------------------------------------------------------------------- */

static clt_status failing_source(void *user, size_t offset, void *dst, size_t bytes)
{
    (void)user, (void)offset, (void)dst, (void)bytes;
    return clt_fail(CLT_ERR_IO, "injected read failure");
}

static void commit_is_atomic(void **state)
{
    (void)state;
    char dir[1024], path[1200];
    ts_tmp_subdir("atomic", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/ckpt.safetensors", dir);
    const float v1[3] = {1, 2, 3}, v2[3] = {4, 5, 6};
    const int64_t shape[1] = {3};
    clt_st_writer *w = NULL;
    ts_assert_ok(clt_st_writer_open(path, &w));
    ts_assert_ok(clt_st_writer_add(w, "x", CLT_ST_F32, 1, shape, v1, sizeof v1));
    ts_assert_ok(clt_st_writer_commit(w));
    clt_st_writer_destroy(w);
    size_t n0, n;
    unsigned char *before = read_bytes(path, &n0), *after;
    assert_int_equal(count_files(dir), 1);

    /* Aborted, destroyed uncommitted, and failed commits all leave the file alone. */
    for (int how = 0; how < 3; how++) {
        ts_assert_ok(clt_st_writer_open(path, &w));
        ts_assert_ok(clt_st_writer_add(w, "x", CLT_ST_F32, 1, shape, v2, sizeof v2));
        assert_int_equal(count_files(dir), 2); /* the temporary file exists meanwhile */
        if (how == 0) {
            clt_st_writer_abort(w);
            ts_assert_status(clt_st_writer_commit(w), CLT_ERR_INVALID_ARG);
            ts_assert_error_mentions("already committed or aborted");
        } else if (how == 2) {
            ts_assert_ok(clt_st_writer_add_source(w, "y", CLT_ST_U8, 1, shape, 3,
                                                  failing_source, NULL));
            ts_assert_status(clt_st_writer_commit(w), CLT_ERR_IO);
            ts_assert_error_mentions("tensor 'y'");
            ts_assert_error_mentions("injected");
        }
        clt_st_writer_destroy(w);
        after = read_bytes(path, &n);
        assert_int_equal(n, n0);
        assert_memory_equal(after, before, n);
        free(after);
        assert_int_equal(count_files(dir), 1);
    }

    /* A commit replaces the file whole. */
    ts_assert_ok(clt_st_writer_open(path, &w));
    ts_assert_ok(clt_st_writer_add(w, "x", CLT_ST_F32, 1, shape, v2, sizeof v2));
    ts_assert_ok(clt_st_writer_commit(w));
    ts_assert_status(clt_st_writer_commit(w), CLT_ERR_INVALID_ARG);
    clt_st_writer_destroy(w);
    assert_int_equal(count_files(dir), 1);
    clt_st_reader *r = NULL;
    float got[3];
    ts_assert_ok(clt_st_reader_open(path, &r));
    ts_assert_ok(clt_st_reader_read(r, "x", got, sizeof got));
    assert_memory_equal(got, v2, sizeof v2);
    clt_st_reader_close(r);
    free(before);
}

/* ---- bad calls ----------------------------------------------------------------------------- */

static void bad_arguments(void **state)
{
    (void)state;
    char dir[1024], path[1200];
    ts_tmp_subdir("bad_args", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/f.safetensors", dir);
    const float v[4] = {0};
    const int64_t shape[9] = {2, 2, 1, 1, 1, 1, 1, 1, 1}, neg[1] = {-1};
    clt_st_writer *w = NULL;
    ts_assert_status(clt_st_writer_open(NULL, &w), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("path");
    ts_assert_status(clt_st_writer_open(path, NULL), CLT_ERR_INVALID_ARG);
    ts_assert_status(clt_st_writer_open("/nonexistent-dir-clt/x.safetensors", &w),
                     CLT_ERR_IO);
    ts_assert_error_mentions("No such file");
    assert_null(w);

    ts_assert_ok(clt_st_writer_open(path, &w));
    ts_assert_ok(clt_st_writer_add(w, "a", CLT_ST_F32, 2, shape, v, 16));
    ts_assert_status(clt_st_writer_add(w, "a", CLT_ST_F32, 1, shape, v, 8),
                     CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("already");
    ts_assert_status(clt_st_writer_add(w, "b", CLT_ST_F32, 2, shape, v, 12),
                     CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("bytes is 12");
    ts_assert_status(clt_st_writer_add(w, NULL, CLT_ST_F32, 2, shape, v, 16),
                     CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("name is NULL");
    ts_assert_status(clt_st_writer_add(w, "__metadata__", CLT_ST_F32, 2, shape, v, 16),
                     CLT_ERR_INVALID_ARG);
    ts_assert_status(clt_st_writer_add(w, "", CLT_ST_F32, 2, shape, v, 16),
                     CLT_ERR_INVALID_ARG);
    ts_assert_status(clt_st_writer_add(w, "\xff", CLT_ST_F32, 2, shape, v, 16),
                     CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("UTF-8");
    ts_assert_status(clt_st_writer_add(w, "b", CLT_ST_F32, 9, shape, v, 16),
                     CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("rank 9");
    ts_assert_status(clt_st_writer_add(w, "b", CLT_ST_F32, 1, neg, v, 0),
                     CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("shape[0]");
    ts_assert_status(clt_st_writer_add(w, "b", (clt_st_dtype)99, 1, shape, v, 8),
                     CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("dtype");
    ts_assert_status(clt_st_writer_add(w, "b", CLT_ST_F32, 1, shape, NULL, 8),
                     CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("data is NULL");
    ts_assert_status(clt_st_writer_add_source(w, "b", CLT_ST_F32, 1, shape, 8, NULL, NULL),
                     CLT_ERR_INVALID_ARG);
    ts_assert_status(clt_st_writer_set_metadata(w, NULL, "v"), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("key");
    ts_assert_status(clt_st_writer_set_metadata(w, "k", "\xc3"), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("value");
    ts_assert_ok(clt_st_writer_commit(w));
    clt_st_writer_destroy(w);
    clt_st_writer_destroy(NULL);
    clt_st_writer_abort(NULL);

    clt_st_reader *r = NULL;
    float got[4];
    clt_st_info info;
    ts_assert_ok(clt_st_reader_open(path, &r));
    ts_assert_status(clt_st_reader_read(r, "a", got, 12), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("bytes is 12");
    ts_assert_status(clt_st_reader_read(r, "a", got, 20), CLT_ERR_INVALID_ARG);
    ts_assert_status(clt_st_reader_read(r, "nope", got, 16), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("no tensor 'nope'");
    ts_assert_status(clt_st_reader_read(r, "a", NULL, 16), CLT_ERR_INVALID_ARG);
    ts_assert_error_mentions("dst");
    ts_assert_status(clt_st_reader_read_range(r, "a", 12, got, 8), CLT_ERR_INVALID_ARG);
    ts_assert_status(clt_st_reader_read_range(r, "a", SIZE_MAX, got, 2), CLT_ERR_INVALID_ARG);
    ts_assert_status(clt_st_reader_find(r, "nope", &info), CLT_ERR_INVALID_ARG);
    ts_assert_status(clt_st_reader_find(r, "a", NULL), CLT_ERR_INVALID_ARG);
    ts_assert_status(clt_st_reader_find(NULL, "a", &info), CLT_ERR_INVALID_ARG);
    assert_null(clt_st_reader_metadata(r, NULL));
    assert_int_equal(clt_st_reader_count(NULL), 0);
    clt_st_reader_close(r);
    clt_st_reader_close(NULL);

    ts_assert_status(clt_st_reader_open(dir, &r), CLT_ERR_IO);
    ts_assert_error_mentions("directory");
    snprintf(path, sizeof path, "%s/missing.safetensors", dir);
    ts_assert_status(clt_st_reader_open(path, &r), CLT_ERR_IO);
    ts_assert_error_mentions("No such file");
    ts_assert_error_mentions(path);
    ts_assert_status(clt_st_reader_open(NULL, &r), CLT_ERR_INVALID_ARG);
}

static void dtypes(void **state)
{
    (void)state;
    for (int d = 0; d < CLT_ST_DTYPE_COUNT; d++) {
        clt_st_dtype back;
        ts_assert_ok(clt_st_dtype_from_name(clt_st_dtype_name((clt_st_dtype)d), &back));
        assert_int_equal(back, d);
    }
    assert_string_equal(clt_st_dtype_name(CLT_ST_BF16), "BF16");
    assert_string_equal(clt_st_dtype_name((clt_st_dtype)99), "?");
    assert_int_equal(clt_st_dtype_size(CLT_ST_I64), 8);
    assert_int_equal(clt_st_dtype_size(CLT_ST_F16), 2);
    assert_int_equal(clt_st_dtype_size((clt_st_dtype)-1), 0);
    clt_st_dtype sd;
    ts_assert_status(clt_st_dtype_from_name("F128", &sd), CLT_ERR_INVALID_ARG);
    for (int d = 0; d < CLT_DTYPE_COUNT; d++) {
        clt_dtype back;
        ts_assert_ok(clt_st_dtype_from_clt((clt_dtype)d, &sd));
        ts_assert_ok(clt_st_dtype_to_clt(sd, &back));
        assert_int_equal(back, d);
        assert_int_equal(clt_st_dtype_size(sd), clt_dtype_size((clt_dtype)d));
    }
    clt_dtype cd;
    ts_assert_status(clt_st_dtype_to_clt(CLT_ST_F64, &cd), CLT_ERR_UNSUPPORTED);
    ts_assert_error_mentions("F64");
    ts_assert_status(clt_st_dtype_to_clt((clt_st_dtype)99, &cd), CLT_ERR_INVALID_ARG);
    ts_assert_status(clt_st_dtype_from_clt((clt_dtype)99, &sd), CLT_ERR_INVALID_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip),         cmocka_unit_test(exact_layout),
        cmocka_unit_test(reference_layout),   cmocka_unit_test(truncated_everywhere),
        cmocka_unit_test(huge_header_length), cmocka_unit_test(bad_headers),
        cmocka_unit_test(commit_is_atomic),   cmocka_unit_test(bad_arguments),
        cmocka_unit_test(dtypes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
