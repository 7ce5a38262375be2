/* Checkpoints on every device: round trips of every dtype from the DEVICE and NVME tiers
 * (and across tiers), bit-exact, including a tensor at a non-zero offset whose
 * neighbours must stay untouched; 8-bit optimizer state made by the quantize op; loads
 * refused for a wrong shape, a wrong dtype, a missing name, a truncated or corrupt file,
 * all leaving the buffers unchanged; saves refused (a non-contiguous tensor, a missing
 * directory, ...) leaving the previous file byte-identical; a 64 MiB tensor streamed in
 * CLT_CHECKPOINT_CHUNK pieces; metadata; bad arguments. */
#include <dirent.h>
#include <unistd.h>

#include "support/support.h"

static void clear_env(void)
{
    unsetenv("CLT_DEVICE_MEM");
    unsetenv("CLT_HOST_PINNED_MEM");
    unsetenv("CLT_HOST_MEM");
    unsetenv("CLT_NVME_MEM");
}

/* ---- helpers --------------------------------------------------------------------------- */

/* <tmp>/<device>-<test>/<file>: each device and test gets its own directory. */
static void test_path(const char *device, const char *test, const char *file, char *out,
                      size_t size)
{
    char sub[128], dir[512];
    snprintf(sub, sizeof sub, "%s-%s", device, test);
    for (char *c = sub; *c; c++)
        if (*c == '/' || *c == ':')
            *c = '_';
    ts_tmp_subdir(sub, dir, sizeof dir);
    snprintf(out, size, "%s/%s", dir, file);
}

static unsigned char *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long len = ftell(f);
    assert_true(len >= 0);
    assert_int_equal(fseek(f, 0, SEEK_SET), 0);
    unsigned char *p = malloc((size_t)len + 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return p;
}

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* Files in dir other than "." and "..": a failed save must leave no temporary file. */
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

static void fill_random(ts_rng *rng, unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)ts_rng_u64(rng);
}

/* A tensor that owns its buffer: `offset` bytes before it and `tail` after it in the
 * buffer, the whole buffer filled with random bytes (kept in `host`). */
typedef struct owned {
    clt_tensor t;
    size_t bytes, buf_bytes;
    unsigned char *host;  /* the buffer's whole contents */
} owned;

static owned make_owned(clt_context *ctx, ts_rng *rng, clt_tier tier, clt_dtype dtype, int rank,
                        const int64_t *shape, size_t offset, size_t tail)
{
    owned o;
    memset(&o, 0, sizeof o);
    size_t numel = 1;
    for (int d = 0; d < rank; d++)
        numel *= (size_t)shape[d];
    o.bytes = numel * clt_dtype_size(dtype);
    o.buf_bytes = offset + o.bytes + tail;
    o.host = malloc(o.buf_bytes);
    assert_non_null(o.host);
    fill_random(rng, o.host, o.buf_bytes);
    clt_buffer *b = ts_buffer(ctx, tier, o.buf_bytes, o.host);
    ts_assert_ok(clt_tensor_init(&o.t, b, offset, dtype, rank, shape));
    return o;
}

static void free_owned(owned *o)
{
    clt_buffer_destroy(o->t.buf);
    free(o->host);
    memset(o, 0, sizeof *o);
}

/* The tensor's bytes in its buffer equal `want`, and every other byte of the buffer is
 * still what make_owned put there. */
static void assert_loaded(const owned *o, const unsigned char *want, const char *what)
{
    unsigned char *got = ts_download_all(o->t.buf);
    size_t off = o->t.offset;
    if (memcmp(got, o->host, off) != 0 ||
        memcmp(got + off + o->bytes, o->host + off + o->bytes, o->buf_bytes - off - o->bytes))
        fail_msg("%s: bytes around the tensor changed", what);
    for (size_t i = 0; i < o->bytes; i++)
        if (got[off + i] != want[i])
            fail_msg("%s: byte %zu is 0x%02x, want 0x%02x", what, i, got[off + i], want[i]);
    free(got);
}

/* The buffer holds exactly what make_owned put there. */
static void assert_unchanged(const owned *o, const char *what)
{
    unsigned char *got = ts_download_all(o->t.buf);
    if (memcmp(got, o->host, o->buf_bytes) != 0)
        fail_msg("%s: the buffer changed", what);
    free(got);
}

/* ---- round trips ----------------------------------------------------------------------- */

#define N_KINDS 6

/* Six tensors of every dtype and rank 1..4 on `tier`, one at an odd offset with bytes
 * after it. */
static void make_set(clt_context *ctx, ts_rng *rng, clt_tier tier, owned *o)
{
    static const int64_t s_f32[] = {7, 33}, s_f16[] = {129}, s_bf16[] = {3, 5, 17},
                         s_i32[] = {64}, s_u8[] = {2, 3, 4, 5}, s_off[] = {5, 9};
    o[0] = make_owned(ctx, rng, tier, CLT_DTYPE_F32, 2, s_f32, 0, 0);
    o[1] = make_owned(ctx, rng, tier, CLT_DTYPE_F16, 1, s_f16, 0, 0);
    o[2] = make_owned(ctx, rng, tier, CLT_DTYPE_BF16, 3, s_bf16, 0, 0);
    o[3] = make_owned(ctx, rng, tier, CLT_DTYPE_I32, 1, s_i32, 0, 0);
    o[4] = make_owned(ctx, rng, tier, CLT_DTYPE_U8, 4, s_u8, 0, 0);
    o[5] = make_owned(ctx, rng, tier, CLT_DTYPE_F32, 2, s_off, 1028, 36);
}

static const char *const kind_names[N_KINDS] = {"wte.weight", "h.0.ln_1.weight",
                                                "h.0.attn.c_attn.weight", "targets",
                                                "codes", "h.0.mlp.c_fc.bias"};

static void named(const owned *o, clt_named_tensor *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (clt_named_tensor){kind_names[i], o[i].t};
}

static void round_trip(void **state)
{
    const char *device = *state;
    clt_context *ctx = ts_context(device);
    ts_rng rng;
    ts_rng_seed(&rng, 1);
    static const clt_tier tiers[] = {CLT_TIER_DEVICE, CLT_TIER_NVME, CLT_TIER_HOST_PINNED,
                                     CLT_TIER_HOST};
    for (size_t src = 0; src < sizeof tiers / sizeof tiers[0]; src++) {
        /* Save from one tier, load into the next: every tier is read once and written
         * once, and DEVICE -> NVME and NVME -> HOST_PINNED cross tiers. */
        clt_tier from = tiers[src], to = tiers[(src + 1) % (sizeof tiers / sizeof tiers[0])];
        char path[1024], what[128];
        test_path(device, "round_trip", "model.safetensors", path, sizeof path);
        owned a[N_KINDS], b[N_KINDS];
        clt_named_tensor na[N_KINDS], nb[N_KINDS];
        make_set(ctx, &rng, from, a);
        make_set(ctx, &rng, to, b);
        named(a, na, N_KINDS);
        named(b, nb, N_KINDS);
        const char *const meta[] = {"format", "pt", "step", "1200", NULL};
        ts_assert_ok(clt_checkpoint_save(ctx, path, na, N_KINDS, meta));
        ts_assert_ok(clt_checkpoint_load(ctx, path, nb, N_KINDS, CLT_CHECKPOINT_LOAD_STRICT));
        for (int k = 0; k < N_KINDS; k++) {
            snprintf(what, sizeof what, "%s %s -> %s", kind_names[k], clt_tier_name(from),
                     clt_tier_name(to));
            assert_loaded(&b[k], a[k].host + a[k].t.offset, what);
        }

        /* The file is a plain safetensors file other readers understand. */
        clt_st_reader *r = NULL;
        ts_assert_ok(clt_st_reader_open(path, &r));
        assert_int_equal(clt_st_reader_count(r), N_KINDS);
        clt_st_info info;
        ts_assert_ok(clt_st_reader_find(r, "h.0.attn.c_attn.weight", &info));
        assert_int_equal(info.dtype, CLT_ST_BF16);
        assert_int_equal(info.rank, 3);
        assert_int_equal(info.shape[2], 17);
        ts_assert_ok(clt_st_reader_find(r, "h.0.mlp.c_fc.bias", &info));
        unsigned char off_bytes[5 * 9 * 4];
        ts_assert_ok(clt_st_reader_read(r, "h.0.mlp.c_fc.bias", off_bytes, sizeof off_bytes));
        assert_memory_equal(off_bytes, a[5].host + 1028, sizeof off_bytes);
        assert_string_equal(clt_st_reader_metadata(r, "format"), "pt");
        clt_st_reader_close(r);

        char value[16];
        bool found = false;
        ts_assert_ok(clt_checkpoint_metadata(path, "step", value, sizeof value, &found));
        assert_true(found);
        assert_string_equal(value, "1200");
        ts_assert_ok(clt_checkpoint_metadata(path, "step", value, sizeof value, NULL));
        assert_string_equal(value, "1200");
        ts_assert_ok(clt_checkpoint_metadata(path, "rng", value, sizeof value, &found));
        assert_false(found);
        assert_string_equal(value, "");
        ts_assert_status(clt_checkpoint_metadata(path, "rng", value, sizeof value, NULL),
                         CLT_ERR_FORMAT);
        ts_assert_error_mentions("rng");
        ts_assert_status(clt_checkpoint_metadata(path, "step", value, 4, NULL),
                         CLT_ERR_INVALID_ARG);
        ts_assert_error_mentions("needs 5 bytes");
        assert_string_equal(value, "");

        for (int k = 0; k < N_KINDS; k++) {
            free_owned(&a[k]);
            free_owned(&b[k]);
        }
    }
    clt_context_destroy(ctx);
}

/* 8-bit AdamW-like state: a master parameter, u8 codes and f32 absmax made by the
 * quantize op on the device; saved, loaded into fresh NVME buffers, bit-exact, and the
 * loaded codes dequantize to the same values as the originals. */
static void optimizer_state(void **state)
{
    const char *device = *state;
    clt_context *ctx = ts_context(device);
    enum { N = 5000, BLOCKS = (N + CLT_Q8_DEFAULT_BLOCK - 1) / CLT_Q8_DEFAULT_BLOCK };
    static float x[N], p[N], back_a[N], back_b[N];
    ts_rng rng;
    ts_rng_seed(&rng, 2);
    ts_fill_floats(&rng, x, N, -0.01f, 0.01f);
    ts_fill_floats(&rng, p, N, -1, 1);
    clt_buffer *bx = ts_upload(ctx, CLT_TIER_DEVICE, x, N);
    clt_buffer *bp = ts_upload(ctx, CLT_TIER_DEVICE, p, N);
    clt_buffer *bc = ts_buffer(ctx, CLT_TIER_DEVICE, N, NULL);
    clt_buffer *ba = ts_buffer(ctx, CLT_TIER_DEVICE, BLOCKS * sizeof(float), NULL);
    const int64_t n = N, blocks = BLOCKS;

    clt_op q = {.kind = CLT_OP_QUANTIZE8};
    ts_assert_ok(clt_tensor_init(&q.u.quantize8.x, bx, 0, CLT_DTYPE_F32, 1, &n));
    ts_assert_ok(clt_tensor_init(&q.u.quantize8.codes, bc, 0, CLT_DTYPE_U8, 1, &n));
    ts_assert_ok(clt_tensor_init(&q.u.quantize8.absmax, ba, 0, CLT_DTYPE_F32, 1, &blocks));
    q.u.quantize8.is_signed = true;
    q.u.quantize8.block = CLT_Q8_DEFAULT_BLOCK;
    ts_assert_ok(clt_op_run(ctx, &q, NULL));

    char path[1024];
    test_path(device, "optimizer_state", "optim.safetensors", path, sizeof path);
    clt_tensor tp;
    ts_assert_ok(clt_tensor_init(&tp, bp, 0, CLT_DTYPE_F32, 1, &n));
    const clt_named_tensor saved[] = {
        {"wte.weight", tp},
        {"wte.weight.m", q.u.quantize8.codes},
        {"wte.weight.m_absmax", q.u.quantize8.absmax},
    };
    const char *const meta[] = {"step", "7", "optimizer", "adamw8bit", NULL};
    ts_assert_ok(clt_checkpoint_save(ctx, path, saved, 3, meta));

    ts_rng_seed(&rng, 3);
    owned lp = make_owned(ctx, &rng, CLT_TIER_NVME, CLT_DTYPE_F32, 1, &n, 0, 0);
    owned lc = make_owned(ctx, &rng, CLT_TIER_NVME, CLT_DTYPE_U8, 1, &n, 0, 0);
    owned la = make_owned(ctx, &rng, CLT_TIER_NVME, CLT_DTYPE_F32, 1, &blocks, 0, 0);
    const clt_named_tensor loaded[] = {
        {"wte.weight.m_absmax", la.t}, /* any order */
        {"wte.weight", lp.t},
        {"wte.weight.m", lc.t},
    };
    ts_assert_ok(clt_checkpoint_load(ctx, path, loaded, 3, CLT_CHECKPOINT_LOAD_STRICT));
    unsigned char *codes = ts_download_all(bc), *absmax = ts_download_all(ba);
    assert_loaded(&lp, (const unsigned char *)p, "master parameter");
    assert_loaded(&lc, codes, "codes");
    assert_loaded(&la, absmax, "absmax");

    /* Dequantizing the loaded state (copied back to the device) gives the same values. */
    clt_buffer *bc2 = ts_buffer(ctx, CLT_TIER_DEVICE, N, NULL);
    clt_buffer *ba2 = ts_buffer(ctx, CLT_TIER_DEVICE, BLOCKS * sizeof(float), NULL);
    clt_buffer *bx2 = ts_buffer(ctx, CLT_TIER_DEVICE, N * sizeof(float), NULL);
    ts_assert_ok(clt_buffer_copy(bc2, 0, lc.t.buf, 0, N, NULL));
    ts_assert_ok(clt_buffer_copy(ba2, 0, la.t.buf, 0, BLOCKS * sizeof(float), NULL));
    clt_op dq = {.kind = CLT_OP_DEQUANTIZE8};
    dq.u.dequantize8.codes = q.u.quantize8.codes;
    dq.u.dequantize8.absmax = q.u.quantize8.absmax;
    ts_assert_ok(clt_tensor_init(&dq.u.dequantize8.x, bx, 0, CLT_DTYPE_F32, 1, &n));
    dq.u.dequantize8.is_signed = true;
    dq.u.dequantize8.block = CLT_Q8_DEFAULT_BLOCK;
    ts_assert_ok(clt_op_run(ctx, &dq, NULL));
    ts_download(bx, 0, back_a, N);
    dq.u.dequantize8.codes.buf = bc2;
    dq.u.dequantize8.absmax.buf = ba2;
    dq.u.dequantize8.x.buf = bx2;
    ts_assert_ok(clt_op_run(ctx, &dq, NULL));
    ts_download(bx2, 0, back_b, N);
    assert_memory_equal(back_a, back_b, sizeof back_a);

    free(codes);
    free(absmax);
    free_owned(&lp);
    free_owned(&lc);
    free_owned(&la);
    clt_buffer_destroy(bx);
    clt_buffer_destroy(bp);
    clt_buffer_destroy(bc);
    clt_buffer_destroy(ba);
    clt_buffer_destroy(bx2);
    clt_buffer_destroy(bc2);
    clt_buffer_destroy(ba2);
    clt_context_destroy(ctx);
}

/* ---- loads refused --------------------------------------------------------------------- */

/* Loading `bad` (the good tensors with one changed) fails with CLT_ERR_FORMAT whose text
 * mentions each of `needles`, and writes none of the buffers — not even those listed
 * before the bad one. */
static void expect_load_refused(clt_context *ctx, const char *path, owned *dst,
                                clt_named_tensor *list, size_t n, const char *const *needles)
{
    ts_assert_status(clt_checkpoint_load(ctx, path, list, n, CLT_CHECKPOINT_LOAD_STRICT),
                     CLT_ERR_FORMAT);
    ts_assert_error_mentions(path);
    for (size_t k = 0; needles[k]; k++)
        ts_assert_error_mentions(needles[k]);
    for (size_t i = 0; i < N_KINDS; i++)
        assert_unchanged(&dst[i], kind_names[i]);
}

static void load_refused(void **state)
{
    const char *device = *state;
    clt_context *ctx = ts_context(device);
    ts_rng rng;
    ts_rng_seed(&rng, 4);
    char path[1024];
    test_path(device, "load_refused", "model.safetensors", path, sizeof path);
    owned a[N_KINDS], b[N_KINDS];
    clt_named_tensor na[N_KINDS], nb[N_KINDS];
    make_set(ctx, &rng, CLT_TIER_DEVICE, a);
    make_set(ctx, &rng, CLT_TIER_DEVICE, b);
    named(a, na, N_KINDS);
    ts_assert_ok(clt_checkpoint_save(ctx, path, na, N_KINDS, NULL));

    /* The wrong shape in the last tensor: f32 [5, 9] in the file, [9, 5] here. */
    named(b, nb, N_KINDS);
    nb[5].tensor.shape[0] = 9;
    nb[5].tensor.shape[1] = 5;
    nb[5].tensor.strides[0] = 5;
    expect_load_refused(ctx, path, b, nb, N_KINDS,
                        (const char *const[]){"h.0.mlp.c_fc.bias", "[5, 9]", "[9, 5]",
                                              "wrong format or size", NULL});
    /* The wrong rank: [45] against [5, 9]. */
    named(b, nb, N_KINDS);
    nb[5].tensor.rank = 1;
    nb[5].tensor.shape[0] = 45;
    nb[5].tensor.strides[0] = 1;
    expect_load_refused(ctx, path, b, nb, N_KINDS,
                        (const char *const[]){"h.0.mlp.c_fc.bias", "[45]", "[5, 9]", NULL});
    /* The wrong dtype, same size in bytes: i32 in the file, f32 here. */
    named(b, nb, N_KINDS);
    nb[3].tensor.dtype = CLT_DTYPE_F32;
    expect_load_refused(ctx, path, b, nb, N_KINDS,
                        (const char *const[]){"targets", "I32", "F32", NULL});
    /* f16 in the file, bf16 here. */
    named(b, nb, N_KINDS);
    nb[1].tensor.dtype = CLT_DTYPE_BF16;
    expect_load_refused(ctx, path, b, nb, N_KINDS,
                        (const char *const[]){"h.0.ln_1.weight", "F16", "BF16", NULL});
    /* A name the file lacks. */
    named(b, nb, N_KINDS);
    nb[4].name = "h.0.attn.c_proj.weight";
    expect_load_refused(ctx, path, b, nb, N_KINDS,
                        (const char *const[]){"h.0.attn.c_proj.weight", NULL});

    /* With CLT_CHECKPOINT_ALLOW_MISSING the missing one is left alone and the rest load. */
    ts_assert_ok(clt_checkpoint_load(ctx, path, nb, N_KINDS, CLT_CHECKPOINT_ALLOW_MISSING));
    for (int k = 0; k < N_KINDS; k++) {
        if (k == 4)
            assert_unchanged(&b[k], "missing tensor");
        else
            assert_loaded(&b[k], a[k].host + a[k].t.offset, kind_names[k]);
    }
    /* ...but a wrong shape is still refused with it. */
    named(a, na, N_KINDS);
    na[0].tensor.shape[0] = 6; /* [6, 33] here, [7, 33] in the file */
    ts_assert_status(clt_checkpoint_load(ctx, path, na, 1, CLT_CHECKPOINT_ALLOW_MISSING),
                     CLT_ERR_FORMAT);
    assert_unchanged(&a[0], "wte.weight after a refused load");

    /* Extra tensors in the file are fine: load two of six. */
    for (int k = 0; k < N_KINDS; k++) {
        free_owned(&b[k]);
    }
    make_set(ctx, &rng, CLT_TIER_NVME, b);
    named(b, nb, N_KINDS);
    ts_assert_ok(clt_checkpoint_load(ctx, path, nb + 2, 2, CLT_CHECKPOINT_LOAD_STRICT));
    assert_loaded(&b[2], a[2].host, "subset bf16");
    assert_loaded(&b[3], a[3].host, "subset i32");
    assert_unchanged(&b[0], "not asked for");

    for (int k = 0; k < N_KINDS; k++) {
        free_owned(&a[k]);
        free_owned(&b[k]);
    }
    clt_context_destroy(ctx);
}

/* A file cut short, one with a mangled header, and one that is not there. */
static void corrupt_file(void **state)
{
    const char *device = *state;
    clt_context *ctx = ts_context(device);
    ts_rng rng;
    ts_rng_seed(&rng, 5);
    char path[1024], bad[1024];
    test_path(device, "corrupt_file", "model.safetensors", path, sizeof path);
    test_path(device, "corrupt_file", "bad.safetensors", bad, sizeof bad);
    owned a[N_KINDS], b[N_KINDS];
    clt_named_tensor na[N_KINDS], nb[N_KINDS];
    make_set(ctx, &rng, CLT_TIER_DEVICE, a);
    make_set(ctx, &rng, CLT_TIER_NVME, b);
    named(a, na, N_KINDS);
    named(b, nb, N_KINDS);
    ts_assert_ok(clt_checkpoint_save(ctx, path, na, N_KINDS, NULL));
    size_t len;
    unsigned char *good = read_file(path, &len);

    /* Truncated: the last byte, half the data, inside the header, inside the length. */
    const size_t cuts[] = {len - 1, len / 2, 40, 5, 0};
    for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
        write_file(bad, good, cuts[c]);
        clt_status st = clt_checkpoint_load(ctx, bad, nb, N_KINDS, CLT_CHECKPOINT_LOAD_STRICT);
        if (st != CLT_ERR_FORMAT)
            fail_msg("a file cut to %zu of %zu bytes gave %s (%s)", cuts[c], len,
                     clt_status_name(st), clt_last_error());
        ts_assert_error_mentions(bad);
        char value[8];
        ts_assert_status(clt_checkpoint_metadata(bad, "step", value, sizeof value, NULL),
                         CLT_ERR_FORMAT);
    }
    /* The header's JSON mangled: its opening brace replaced. */
    good[8] = '[';
    write_file(bad, good, len);
    ts_assert_status(clt_checkpoint_load(ctx, bad, nb, N_KINDS, CLT_CHECKPOINT_LOAD_STRICT),
                     CLT_ERR_FORMAT);
    /* A header length far past the end of the file. */
    good[8] = '{';
    good[5] = 0x7f;
    write_file(bad, good, len);
    ts_assert_status(clt_checkpoint_load(ctx, bad, nb, N_KINDS, CLT_CHECKPOINT_LOAD_STRICT),
                     CLT_ERR_FORMAT);
    /* No file at all: an I/O error naming it. */
    test_path(device, "corrupt_file", "absent.safetensors", bad, sizeof bad);
    ts_assert_status(clt_checkpoint_load(ctx, bad, nb, N_KINDS, CLT_CHECKPOINT_LOAD_STRICT),
                     CLT_ERR_IO);
    ts_assert_error_mentions("absent.safetensors");
    for (int k = 0; k < N_KINDS; k++)
        assert_unchanged(&b[k], kind_names[k]);

    free(good);
    for (int k = 0; k < N_KINDS; k++) {
        free_owned(&a[k]);
        free_owned(&b[k]);
    }
    clt_context_destroy(ctx);
}

/* ---- saves refused --------------------------------------------------------------------- */

static void save_refused(void **state)
{
    const char *device = *state;
    clt_context *ctx = ts_context(device);
    clt_context *other = ts_context(device);
    ts_rng rng;
    ts_rng_seed(&rng, 6);
    char path[1024], dir[1024];
    test_path(device, "save_refused", "model.safetensors", path, sizeof path);
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = '\0';
    owned a[N_KINDS], b[N_KINDS];
    clt_named_tensor na[N_KINDS], nb[N_KINDS];
    make_set(ctx, &rng, CLT_TIER_DEVICE, a);
    make_set(ctx, &rng, CLT_TIER_NVME, b);
    named(a, na, N_KINDS);
    ts_assert_ok(clt_checkpoint_save(ctx, path, na, N_KINDS, NULL));
    size_t len0;
    unsigned char *before = read_file(path, &len0);

    /* Each attempt below saves the other set (so a save that went through would change
     * the file) with one thing wrong. */
#define EXPECT_SAVE_REFUSED(call, want, needle)                                         \
    do {                                                                                \
        ts_assert_status((call), (want));                                               \
        ts_assert_error_mentions(needle);                                               \
        size_t len_;                                                                    \
        unsigned char *after_ = read_file(path, &len_);                                 \
        assert_int_equal(len_, len0);                                                   \
        assert_memory_equal(after_, before, len0);                                      \
        free(after_);                                                                   \
        assert_int_equal(count_files(dir), 1);                                          \
    } while (0)

    /* Not contiguous: a transposed view of the (7, 33) matrix. */
    named(b, nb, N_KINDS);
    nb[0].tensor.shape[0] = 33;
    nb[0].tensor.shape[1] = 7;
    nb[0].tensor.strides[0] = 1;
    nb[0].tensor.strides[1] = 33;
    EXPECT_SAVE_REFUSED(clt_checkpoint_save(ctx, path, nb, N_KINDS, NULL), CLT_ERR_INVALID_ARG,
                        "\"wte.weight\" is not contiguous");
    /* Strided rows: every other row of a larger matrix. */
    named(b, nb, N_KINDS);
    nb[2].tensor.shape[1] = 2;
    nb[2].tensor.strides[1] = 34;
    EXPECT_SAVE_REFUSED(clt_checkpoint_save(ctx, path, nb, N_KINDS, NULL), CLT_ERR_INVALID_ARG,
                        "h.0.attn.c_attn.weight");
    /* Past the end of its buffer. */
    named(b, nb, N_KINDS);
    nb[5].tensor.offset += 40;
    EXPECT_SAVE_REFUSED(clt_checkpoint_save(ctx, path, nb, N_KINDS, NULL), CLT_ERR_INVALID_ARG,
                        "do not fit");
    /* A buffer of another context. */
    owned foreign = make_owned(other, &rng, CLT_TIER_DEVICE, CLT_DTYPE_F32, 1,
                               (const int64_t[]){8}, 0, 0);
    named(b, nb, N_KINDS);
    nb[1].tensor = foreign.t;
    EXPECT_SAVE_REFUSED(clt_checkpoint_save(ctx, path, nb, N_KINDS, NULL), CLT_ERR_INVALID_ARG,
                        "another context");
    /* Two tensors of one name. */
    named(b, nb, N_KINDS);
    nb[3].name = nb[1].name;
    EXPECT_SAVE_REFUSED(clt_checkpoint_save(ctx, path, nb, N_KINDS, NULL), CLT_ERR_INVALID_ARG,
                        "h.0.ln_1.weight");
    /* A metadata key without its value. */
    named(b, nb, N_KINDS);
    const char *const odd_meta[] = {"format", "pt", "step", NULL};
    EXPECT_SAVE_REFUSED(clt_checkpoint_save(ctx, path, nb, N_KINDS, odd_meta),
                        CLT_ERR_INVALID_ARG, "\"step\" has no value");
    /* A NULL name. */
    nb[4].name = NULL;
    EXPECT_SAVE_REFUSED(clt_checkpoint_save(ctx, path, nb, N_KINDS, NULL), CLT_ERR_INVALID_ARG,
                        "tensors[4].name");
#undef EXPECT_SAVE_REFUSED

    /* A directory that does not exist: an I/O error naming the path, and nothing made. */
    char missing[1100];
    snprintf(missing, sizeof missing, "%s/no-such-dir/model.safetensors", dir);
    named(b, nb, N_KINDS);
    ts_assert_status(clt_checkpoint_save(ctx, missing, nb, N_KINDS, NULL), CLT_ERR_IO);
    ts_assert_error_mentions("no-such-dir");
    assert_int_equal(count_files(dir), 1);

    /* The file still loads as the first set. */
    ts_assert_ok(clt_checkpoint_load(ctx, path, nb, N_KINDS, CLT_CHECKPOINT_LOAD_STRICT));
    for (int k = 0; k < N_KINDS; k++)
        assert_loaded(&b[k], a[k].host + a[k].t.offset, kind_names[k]);

    free(before);
    free_owned(&foreign);
    for (int k = 0; k < N_KINDS; k++) {
        free_owned(&a[k]);
        free_owned(&b[k]);
    }
    clt_context_destroy(other);
    clt_context_destroy(ctx);
}

/* ---- a large tensor -------------------------------------------------------------------- */

/* 64 MiB of f32 (16 chunks of CLT_CHECKPOINT_CHUNK) saved from the DEVICE tier and
 * loaded into the NVME tier at an offset that is not a multiple of the chunk, between
 * two small tensors. Streaming is what the library does; the test checks the bytes. */
static void large_tensor(void **state)
{
    const char *device = *state;
    clt_context *ctx = ts_context(device);
    ts_rng rng;
    ts_rng_seed(&rng, 7);
    const int64_t big[] = {4096, 4096}, small[] = {3};
    assert_true((size_t)big[0] * (size_t)big[1] * 4 == (size_t)64 << 20);
    owned a0 = make_owned(ctx, &rng, CLT_TIER_DEVICE, CLT_DTYPE_F32, 1, small, 0, 0);
    owned a1 = make_owned(ctx, &rng, CLT_TIER_DEVICE, CLT_DTYPE_F32, 2, big, 0, 0);
    owned a2 = make_owned(ctx, &rng, CLT_TIER_DEVICE, CLT_DTYPE_U8, 1, small, 0, 0);
    owned b0 = make_owned(ctx, &rng, CLT_TIER_NVME, CLT_DTYPE_F32, 1, small, 0, 0);
    owned b1 = make_owned(ctx, &rng, CLT_TIER_NVME, CLT_DTYPE_F32, 2, big, 12345 * 4, 100);
    owned b2 = make_owned(ctx, &rng, CLT_TIER_NVME, CLT_DTYPE_U8, 1, small, 0, 0);
    char path[1024];
    test_path(device, "large_tensor", "big.safetensors", path, sizeof path);
    const clt_named_tensor na[] = {{"a", a0.t}, {"big", a1.t}, {"c", a2.t}};
    const clt_named_tensor nb[] = {{"a", b0.t}, {"big", b1.t}, {"c", b2.t}};
    ts_assert_ok(clt_checkpoint_save(ctx, path, na, 3, NULL));
    ts_assert_ok(clt_checkpoint_load(ctx, path, nb, 3, CLT_CHECKPOINT_LOAD_STRICT));
    assert_loaded(&b0, a0.host, "a");
    assert_loaded(&b1, a1.host, "big");
    assert_loaded(&b2, a2.host, "c");
    free_owned(&a0);
    free_owned(&a1);
    free_owned(&a2);
    free_owned(&b0);
    free_owned(&b1);
    free_owned(&b2);
    clt_context_destroy(ctx);
}

/* ---- bad arguments --------------------------------------------------------------------- */

static void bad_args(void **state)
{
    const char *device = *state;
    clt_context *ctx = ts_context(device);
    ts_rng rng;
    ts_rng_seed(&rng, 8);
    char path[1024];
    test_path(device, "bad_args", "model.safetensors", path, sizeof path);
    unlink(path); /* left by an earlier run of the test */
    owned a = make_owned(ctx, &rng, CLT_TIER_DEVICE, CLT_DTYPE_F32, 1, (const int64_t[]){4},
                         0, 0);
    clt_named_tensor na[] = {{"w", a.t}};
    char value[8];
    bool found;

#define EXPECT_BAD(call, needle)                     \
    do {                                             \
        ts_assert_status((call), CLT_ERR_INVALID_ARG); \
        ts_assert_error_mentions(needle);            \
    } while (0)
    EXPECT_BAD(clt_checkpoint_save(NULL, path, na, 1, NULL), "ctx");
    EXPECT_BAD(clt_checkpoint_save(ctx, NULL, na, 1, NULL), "path");
    EXPECT_BAD(clt_checkpoint_save(ctx, path, NULL, 1, NULL), "tensors");
    EXPECT_BAD(clt_checkpoint_load(NULL, path, na, 1, 0), "ctx");
    EXPECT_BAD(clt_checkpoint_load(ctx, NULL, na, 1, 0), "path");
    EXPECT_BAD(clt_checkpoint_load(ctx, path, NULL, 1, 0), "tensors");
    EXPECT_BAD(clt_checkpoint_load(ctx, path, na, 1, 1u << 7), "flags");
    na[0].tensor.buf = NULL;
    EXPECT_BAD(clt_checkpoint_load(ctx, path, na, 1, 0), "buffer is NULL");
    na[0].tensor = a.t;
    na[0].tensor.rank = 0;
    EXPECT_BAD(clt_checkpoint_save(ctx, path, na, 1, NULL), "rank");
    na[0].tensor = a.t;
    na[0].tensor.dtype = (clt_dtype)99;
    EXPECT_BAD(clt_checkpoint_save(ctx, path, na, 1, NULL), "dtype");
    EXPECT_BAD(clt_checkpoint_metadata(NULL, "k", value, sizeof value, &found), "path");
    EXPECT_BAD(clt_checkpoint_metadata(path, NULL, value, sizeof value, &found), "key");
    EXPECT_BAD(clt_checkpoint_metadata(path, "k", NULL, sizeof value, &found), "out");
    EXPECT_BAD(clt_checkpoint_metadata(path, "k", value, 0, &found), "cap");
#undef EXPECT_BAD
    /* None of the refused saves made a file. */
    assert_int_equal(access(path, F_OK), -1);

    /* An empty checkpoint is a valid file holding only metadata. */
    const char *const meta[] = {"step", "0", NULL};
    ts_assert_ok(clt_checkpoint_save(ctx, path, NULL, 0, meta));
    ts_assert_ok(clt_checkpoint_load(ctx, path, NULL, 0, CLT_CHECKPOINT_LOAD_STRICT));
    ts_assert_ok(clt_checkpoint_metadata(path, "step", value, sizeof value, &found));
    assert_true(found);
    assert_string_equal(value, "0");
    free_owned(&a);
    clt_context_destroy(ctx);
}

int main(void)
{
    clear_env();
    const ts_device_test tests[] = {
        {"round_trip", round_trip},
        {"optimizer_state", optimizer_state},
        {"load_refused", load_refused},
        {"corrupt_file", corrupt_file},
        {"save_refused", save_refused},
        {"large_tensor", large_tensor},
        {"bad_args", bad_args},
    };
    return ts_run_per_device("checkpoint", tests, sizeof tests / sizeof tests[0]);
}
