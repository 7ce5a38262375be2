/* cltrain's checkpoints on the host device: save and load bit-exact (parameters, f32 and
 * u8 state, metadata, the config, a bf16 model's working copy), files other tools read
 * (GPT-2's names, shapes and layout, checked by a separate reader in Python), loads
 * refused for a model of another shape with the model unchanged, corrupt and truncated
 * files refused, failed saves (a full disk, an unwritable directory) leaving the previous
 * checkpoint byte for byte. Crashes: test_ckpt_crash.c. */
#include "ckpt_fixture.h"

#include <inttypes.h>
#include <math.h>

/* ---- round trip --------------------------------------------------------------------- */

static void round_trip(void **state)
{
    (void)state;
    char dir[1024], err[1024] = "";
    tmp_dir("round_trip", dir, sizeof dir);
    clt_context *ctx = host_context();
    gpt_model *m = new_model(ctx, &TINY, CLT_DTYPE_F32);
    struct state s;
    state_create(ctx, &s, 5000);

    struct snapshot a = make_checkpoint(ctx, dir, m, &s, 1);
    assert_listing(dir, "model.safetensors state.safetensors");
    char id1[64];
    id_of(dir, "model.safetensors", id1, sizeof id1);
    expect_loads(ctx, dir, m, &s, &a);

    /* Into a second model: the same bits. */
    gpt_model *m2 = new_model(ctx, &TINY, CLT_DTYPE_F32);
    free(init_model(m2, 99));
    assert_true(ckpt_load_model(ctx, dir, m2, err, sizeof err));
    size_t n;
    float *p2 = params_of(m2, &n);
    assert_params_equal(m2, p2, a.params);
    free(p2);

    /* Metadata the caller set, and a key that is not there. */
    char v[64];
    assert_true(ckpt_state_meta(dir, "data", v, sizeof v, err, sizeof err));
    assert_string_equal(v, "fortunes");
    assert_false(ckpt_state_meta(dir, "no-such-key", v, sizeof v, err, sizeof err));
    assert_non_null(strstr(err, "no-such-key"));

    /* Saving again replaces both files with a new id. */
    struct snapshot b = make_checkpoint(ctx, dir, m, &s, 2);
    assert_listing(dir, "model.safetensors state.safetensors");
    char id2[64];
    id_of(dir, "model.safetensors", id2, sizeof id2);
    assert_string_not_equal(id1, id2);
    expect_loads(ctx, dir, m, &s, &b);

    /* A bf16 model loads the same master copy and refreshes its working copy. */
    gpt_model *mb = new_model(ctx, &TINY, CLT_DTYPE_BF16);
    assert_true(ckpt_load_model(ctx, dir, mb, err, sizeof err));
    float *pb = params_of(mb, &n);
    assert_params_equal(mb, pb, b.params);
    uint16_t *work = malloc(n * sizeof *work);
    assert_non_null(work);
    assert_int_equal(clt_buffer_read(gpt_work_buffer(mb), 0, work, n * 2, NULL), CLT_OK);
    size_t count;
    const struct gpt_param *params = gpt_param_table(mb, &count);
    for (size_t i = 0; i < count; i++)
        for (size_t k = params[i].offset; k < params[i].offset + params[i].numel; k++) {
            uint32_t bits = (uint32_t)work[k] << 16;
            float w;
            memcpy(&w, &bits, 4);
            if (!(fabsf(w - pb[k]) <= fabsf(pb[k]) * 0x1p-8f))
                fail_msg("%s[%zu]: working copy %g, master %g", params[i].name,
                         k - params[i].offset, (double)w, (double)pb[k]);
        }
    free(work);
    free(pb);

    /* Reserved and incomplete metadata are refused before anything is written. */
    const char *bad1[] = {CKPT_ID_KEY, "x", NULL};
    assert_false(ckpt_save(ctx, dir, m, s.t, N_STATE, bad1, err, sizeof err));
    assert_non_null(strstr(err, CKPT_ID_KEY));
    const char *bad2[] = {"step", NULL};
    assert_false(ckpt_save(ctx, dir, m, s.t, N_STATE, bad2, err, sizeof err));
    assert_non_null(strstr(err, "no value"));
    expect_loads(ctx, dir, m, &s, &b);

    snapshot_free(&a);
    snapshot_free(&b);
    state_destroy(&s);
    gpt_destroy(mb);
    gpt_destroy(m2);
    gpt_destroy(m);
    clt_context_destroy(ctx);
}

/* ---- what other tools read ---------------------------------------------------------- */

/* GPT-2's tensors for cfg, as the common checkpoints name and shape them (Conv1D weights
 * [in, out]), written "name d0,d1" one a line in layout order, derived here from the
 * architecture rather than from gpt.c's table. */
static void gpt2_tensors(const struct gpt_config *c, char *out, size_t cap)
{
    const int C = c->dim;
    size_t used = 0;
#define ADD(...) used += (size_t)snprintf(out + used, cap - used, __VA_ARGS__)
    ADD("wte.weight %d,%d\n", c->vocab, C);
    ADD("wpe.weight %d,%d\n", c->ctx, C);
    for (int l = 0; l < c->layers; l++) {
        ADD("h.%d.ln_1.weight %d\nh.%d.ln_1.bias %d\n", l, C, l, C);
        ADD("h.%d.attn.c_attn.weight %d,%d\nh.%d.attn.c_attn.bias %d\n", l, C, 3 * C, l,
            3 * C);
        ADD("h.%d.attn.c_proj.weight %d,%d\nh.%d.attn.c_proj.bias %d\n", l, C, C, l, C);
        ADD("h.%d.ln_2.weight %d\nh.%d.ln_2.bias %d\n", l, C, l, C);
        ADD("h.%d.mlp.c_fc.weight %d,%d\nh.%d.mlp.c_fc.bias %d\n", l, C, 4 * C, l, 4 * C);
        ADD("h.%d.mlp.c_proj.weight %d,%d\nh.%d.mlp.c_proj.bias %d\n", l, 4 * C, C, l, C);
    }
    ADD("ln_f.weight %d\nln_f.bias %d\n", C, C);
#undef ADD
    assert_true(used < cap);
}

static uint64_t fnv1a(const void *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ ((const uint8_t *)p)[i]) * 0x100000001b3ull;
    return h;
}

/* A reader of the safetensors format written from its specification alone: it checks
 * the header (JSON, F32, data_offsets contiguous, covering the data exactly) and prints
 * the metadata, then per tensor in file order "name d0,d1 fnv1a-of-its-bytes". */
static const char PY_READER[] =
    "import json, struct, sys\n"
    "data = open(sys.argv[1], 'rb').read()\n"
    "(n,) = struct.unpack('<Q', data[:8])\n"
    "header = json.loads(data[8:8 + n].decode('utf-8'))\n"
    "body = data[8 + n:]\n"
    "meta = header.pop('__metadata__', {})\n"
    "for k in sorted(meta):\n"
    "    assert isinstance(meta[k], str)\n"
    "    print('meta %s=%s' % (k, meta[k]))\n"
    "pos = 0\n"
    "for name, t in sorted(header.items(), key=lambda kv: kv[1]['data_offsets'][0]):\n"
    "    b, e = t['data_offsets']\n"
    "    assert b == pos, (name, b, pos)\n"
    "    assert t['dtype'] == 'F32', name\n"
    "    numel = 1\n"
    "    for d in t['shape']:\n"
    "        numel *= d\n"
    "    assert e - b == 4 * numel, name\n"
    "    h = 0xcbf29ce484222325\n"
    "    for byte in body[b:e]:\n"
    "        h = ((h ^ byte) * 0x100000001b3) & 0xffffffffffffffff\n"
    "    print('%s %s %x' % (name, ','.join(str(d) for d in t['shape']), h))\n"
    "    pos = e\n"
    "assert pos == len(body), (pos, len(body))\n"
    "print('ok')\n";

static void gpt2_layout(void **state)
{
    (void)state;
    char dir[1024], model[4096], script[4096];
    tmp_dir("gpt2_layout", dir, sizeof dir);
    clt_context *ctx = host_context();
    const struct gpt_config cfg = {
        .layers = 3, .heads = 2, .dim = 64, .ctx = 32, .vocab = 256};
    gpt_model *m = new_model(ctx, &cfg, CLT_DTYPE_F32);
    struct state s;
    state_create(ctx, &s, 100);
    struct snapshot a = make_checkpoint(ctx, dir, m, &s, 3);
    join(dir, "model.safetensors", model, sizeof model);

    /* What the file must hold: GPT-2's names and shapes, and the bytes at each param's
     * offset of the master copy. */
    char names[8192], want[16384] = "";
    gpt2_tensors(&cfg, names, sizeof names);
    size_t count;
    const struct gpt_param *params = gpt_param_table(m, &count);
    size_t i = 0;
    for (char *line = strtok(names, "\n"); line; line = strtok(NULL, "\n"), i++) {
        assert_true(i < count);
        snprintf(want + strlen(want), sizeof want - strlen(want), "%s %" PRIx64 "\n", line,
                 fnv1a(a.params + params[i].offset, params[i].numel * 4));
    }
    assert_int_equal(i, count);

    /* Through clt's reader: the same, from the C side. */
    clt_st_reader *r = NULL;
    assert_int_equal(clt_st_reader_open(model, &r), CLT_OK);
    assert_int_equal(clt_st_reader_count(r), count);
    for (size_t k = 0; k < count; k++) {
        clt_st_info info;
        assert_int_equal(clt_st_reader_find(r, params[k].name, &info), CLT_OK);
        assert_int_equal(info.dtype, CLT_ST_F32);
        float *t = malloc(info.bytes);
        assert_non_null(t);
        assert_int_equal(clt_st_reader_read(r, params[k].name, t, info.bytes), CLT_OK);
        assert_memory_equal(t, a.params + params[k].offset, params[k].numel * 4);
        free(t);
    }
    assert_string_equal(clt_st_reader_metadata(r, "format"), "pt");
    assert_string_equal(clt_st_reader_metadata(r, "n_layer"), "3");
    assert_string_equal(clt_st_reader_metadata(r, "n_head"), "2");
    assert_string_equal(clt_st_reader_metadata(r, "n_embd"), "64");
    assert_string_equal(clt_st_reader_metadata(r, "n_ctx"), "32");
    assert_string_equal(clt_st_reader_metadata(r, "vocab_size"), "256");
    assert_string_equal(clt_st_reader_metadata(r, "clt_version"), clt_version_string());
    clt_st_reader_close(r);

    /* Through an independent reader, when Python is there. */
    if (system("python3 -c 'import json, struct' 2>/dev/null") != 0) {
        printf("  python3 not found: the independent reader's check is skipped\n");
    } else {
        join(dir, "reader.py", script, sizeof script);
        spit(script, PY_READER, sizeof PY_READER - 1);
        char cmd[9000], out[32768];
        snprintf(cmd, sizeof cmd, "python3 '%s' '%s' 2>&1", script, model);
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        size_t got = fread(out, 1, sizeof out - 1, p);
        out[got] = '\0';
        assert_int_equal(pclose(p), 0);
        char meta[512], id[64];
        id_of(dir, "model.safetensors", id, sizeof id);
        snprintf(meta, sizeof meta,
                 "meta checkpoint_id=%s\nmeta clt_version=%s\nmeta format=pt\n"
                 "meta n_ctx=32\nmeta n_embd=64\nmeta n_head=2\nmeta n_layer=3\n"
                 "meta vocab_size=256\n",
                 id, clt_version_string());
        char expect[20000];
        snprintf(expect, sizeof expect, "%s%sok\n", meta, want);
        if (strcmp(out, expect) != 0)
            fail_msg("the Python reader printed\n%s\nexpected\n%s", out, expect);
        printf("  the Python reader agrees on %zu tensors\n", count);
    }
    snapshot_free(&a);
    state_destroy(&s);
    gpt_destroy(m);
    clt_context_destroy(ctx);
}

/* ---- refused loads ------------------------------------------------------------------ */

/* Loading dir into a model of cfg fails with every `want` in the sentence and leaves the
 * model's parameters as they were. */
static void refused_into(clt_context *ctx, const char *dir, struct gpt_config cfg, ...)
{
    gpt_model *m = new_model(ctx, &cfg, CLT_DTYPE_F32);
    float *before = init_model(m, 77);
    char err[1024] = "";
    assert_false(ckpt_load_model(ctx, dir, m, err, sizeof err));
    va_list ap;
    va_start(ap, cfg);
    for (const char *w; (w = va_arg(ap, const char *));)
        if (!strstr(err, w))
            fail_msg("error \"%s\" lacks \"%s\"", err, w);
    va_end(ap);
    printf("  refused: %s\n", err);
    size_t n;
    float *after = params_of(m, &n);
    assert_memory_equal(before, after, n * sizeof(float));
    free(before);
    free(after);
    gpt_destroy(m);
}

static void other_shape(void **state)
{
    (void)state;
    char dir[1024];
    tmp_dir("other_shape", dir, sizeof dir);
    clt_context *ctx = host_context();
    gpt_model *m = new_model(ctx, &TINY, CLT_DTYPE_F32);
    struct state s;
    state_create(ctx, &s, 100);
    struct snapshot a = make_checkpoint(ctx, dir, m, &s, 4);

    struct gpt_config c = TINY;
    c.dim = 128;
    refused_into(ctx, dir, c, "wte.weight", "[256, 64]", "[256, 128]", NULL);
    c = TINY;
    c.ctx = 32;
    refused_into(ctx, dir, c, "wpe.weight", "[64, 64]", "[32, 64]", NULL);
    c = TINY;
    c.layers = 3;
    refused_into(ctx, dir, c, "h.2.ln_1.weight", "2 layers", "3 layers", NULL);
    c = TINY;
    c.layers = 1;
    refused_into(ctx, dir, c, "h.1.", "2 layers", "has 1", NULL);
    c = TINY;
    c.heads = 1;
    refused_into(ctx, dir, c, "2 attention heads", "has 1", NULL);

    /* The state: a tensor of another shape, one the file lacks; buffers unchanged. */
    struct state s2;
    state_create(ctx, &s2, 200);
    state_fill(&s2, 5);
    char err[1024];
    assert_false(ckpt_load_state(ctx, dir, s2.t, N_STATE, err, sizeof err));
    assert_non_null(strstr(err, "h.0.q8"));
    printf("  refused: %s\n", err);
    assert_state_equal(&s2, s2.host);
    clt_named_tensor extra[N_STATE + 1];
    memcpy(extra, s.t, sizeof s.t);
    extra[N_STATE] = s.t[0];
    extra[N_STATE].name = "not.in.file";
    assert_false(ckpt_load_state(ctx, dir, extra, N_STATE + 1, err, sizeof err));
    assert_non_null(strstr(err, "not.in.file"));

    /* The checkpoint itself is untouched by all this. */
    expect_loads(ctx, dir, m, &s, &a);
    snapshot_free(&a);
    state_destroy(&s2);
    state_destroy(&s);
    gpt_destroy(m);
    clt_context_destroy(ctx);
}

/* Every reader refuses dir with a sentence holding `want`; m keeps its parameters. */
static void all_refuse(clt_context *ctx, const char *dir, gpt_model *m, struct state *s,
                       const char *want, bool model_broken)
{
    char err[1024] = "";
    struct gpt_config cfg;
    size_t n;
    float *before = params_of(m, &n);
    if (model_broken) {
        assert_false(ckpt_read_config(dir, &cfg, err, sizeof err));
        if (!strstr(err, want))
            fail_msg("error \"%s\" lacks \"%s\"", err, want);
        printf("  refused: %s\n", err);
        assert_false(ckpt_load_model(ctx, dir, m, err, sizeof err));
        assert_non_null(strstr(err, want));
        float *after = params_of(m, &n);
        assert_memory_equal(before, after, n * sizeof(float));
        free(after);
    } else {
        state_fill(s, 31337);
        assert_false(ckpt_load_state(ctx, dir, s->t, N_STATE, err, sizeof err));
        if (!strstr(err, want))
            fail_msg("error \"%s\" lacks \"%s\"", err, want);
        printf("  refused: %s\n", err);
        assert_state_equal(s, s->host);
    }
    free(before);
}

static void corrupt_files(void **state)
{
    (void)state;
    char dir[1024], good[1024], path[4096];
    tmp_dir("corrupt_files", dir, sizeof dir);
    tmp_dir("corrupt_files_good", good, sizeof good);
    clt_context *ctx = host_context();
    gpt_model *m = new_model(ctx, &TINY, CLT_DTYPE_F32);
    struct state s;
    state_create(ctx, &s, 1000);
    struct snapshot a = make_checkpoint(ctx, good, m, &s, 5);
    size_t nm, ns;
    join(good, "model.safetensors", path, sizeof path);
    uint8_t *model = slurp(path, &nm);
    join(good, "state.safetensors", path, sizeof path);
    uint8_t *st = slurp(path, &ns);
    char mpath[4096], spath[4096];
    join(dir, "model.safetensors", mpath, sizeof mpath);
    join(dir, "state.safetensors", spath, sizeof spath);

    /* Truncated: by a few bytes, to the header only, to a part of the length. */
    const size_t cuts[] = {nm - 1, nm - 4096, 200, 5, 0};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        spit(mpath, model, cuts[i]);
        spit(spath, st, ns);
        all_refuse(ctx, dir, m, &s, "model.safetensors", true);
    }
    spit(mpath, model, nm);
    spit(spath, st, ns - 1);
    all_refuse(ctx, dir, m, &s, "state.safetensors", false);

    /* Corrupt: the header's JSON, its length, a shape. */
    uint8_t *bad = malloc(nm);
    assert_non_null(bad);
    memcpy(bad, model, nm);
    bad[8] = 'X';
    spit(mpath, bad, nm);
    spit(spath, st, ns);
    all_refuse(ctx, dir, m, &s, "model.safetensors", true);
    memcpy(bad, model, nm);
    bad[7] = 0x40; /* a header length far past the end */
    spit(mpath, bad, nm);
    all_refuse(ctx, dir, m, &s, "model.safetensors", true);
    memcpy(bad, model, nm);
    char *shape = memmem(bad, nm, "[256,64]", 8);
    if (!shape)
        shape = memmem(bad, nm, "[256, 64]", 9);
    assert_non_null(shape);
    shape[1] = '1'; /* wte [156, 64]: sizes no longer cover the data */
    spit(mpath, bad, nm);
    all_refuse(ctx, dir, m, &s, "model.safetensors", true);
    free(bad);
    spit(mpath, "not a checkpoint\n", 17);
    all_refuse(ctx, dir, m, &s, "model.safetensors", true);

    /* Missing: the directory, or its model file. */
    char none[1100];
    snprintf(none, sizeof none, "%s/no-such-dir", dir);
    all_refuse(ctx, none, m, &s, "no-such-dir", true);
    all_refuse(ctx, none, m, &s, "no-such-dir", false);
    unlink(mpath);
    all_refuse(ctx, dir, m, &s, "model.safetensors", true);

    /* A safetensors file that is not a cltrain checkpoint: no config, or a bad one. */
    clt_st_writer *w = NULL;
    const int64_t wte_shape[2] = {256, 64};
    float *wte = calloc(256 * 64, sizeof(float));
    assert_non_null(wte);
    assert_int_equal(clt_st_writer_open(mpath, &w), CLT_OK);
    assert_int_equal(clt_st_writer_add(w, "wte.weight", CLT_ST_F32, 2, wte_shape, wte,
                                       256 * 64 * sizeof(float)),
                     CLT_OK);
    assert_int_equal(clt_st_writer_commit(w), CLT_OK);
    clt_st_writer_destroy(w);
    all_refuse(ctx, dir, m, &s, "n_layer", true);
    const char *const metas[][2] = {
        {"two", "n_layer"}, {"-2", "n_layer"}, {"2x", "n_layer"}};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(clt_st_writer_open(mpath, &w), CLT_OK);
        assert_int_equal(clt_st_writer_set_metadata(w, "n_layer", metas[i][0]), CLT_OK);
        assert_int_equal(clt_st_writer_set_metadata(w, "n_head", "2"), CLT_OK);
        assert_int_equal(clt_st_writer_set_metadata(w, "n_embd", "64"), CLT_OK);
        assert_int_equal(clt_st_writer_set_metadata(w, "n_ctx", "64"), CLT_OK);
        assert_int_equal(clt_st_writer_set_metadata(w, "vocab_size", "256"), CLT_OK);
        assert_int_equal(clt_st_writer_add(w, "wte.weight", CLT_ST_F32, 2, wte_shape, wte,
                                           256 * 64 * sizeof(float)),
                         CLT_OK);
        assert_int_equal(clt_st_writer_commit(w), CLT_OK);
        clt_st_writer_destroy(w);
        all_refuse(ctx, dir, m, &s, metas[i][1], true);
    }
    free(wte);

    /* The good copy was never touched. */
    expect_loads(ctx, good, m, &s, &a);
    free(model);
    free(st);
    snapshot_free(&a);
    state_destroy(&s);
    gpt_destroy(m);
    clt_context_destroy(ctx);
}

/* ---- failed saves ------------------------------------------------------------------- */

/* The files of dir, byte for byte, for comparing before and after a failed save. */
struct dir_bytes {
    uint8_t *model, *state;
    size_t nm, ns;
};

static struct dir_bytes dir_bytes(const char *dir)
{
    struct dir_bytes b;
    char p[4096];
    join(dir, "model.safetensors", p, sizeof p);
    b.model = slurp(p, &b.nm);
    join(dir, "state.safetensors", p, sizeof p);
    b.state = slurp(p, &b.ns);
    return b;
}

static void assert_dir_unchanged(const char *dir, const struct dir_bytes *before)
{
    struct dir_bytes now = dir_bytes(dir);
    assert_int_equal(now.nm, before->nm);
    assert_int_equal(now.ns, before->ns);
    assert_memory_equal(now.model, before->model, now.nm);
    assert_memory_equal(now.state, before->state, now.ns);
    free(now.model);
    free(now.state);
    assert_listing(dir, "model.safetensors state.safetensors");
}

static void failed_saves(void **state)
{
    (void)state;
    char dir[1024], err[1024];
    tmp_dir("failed_saves", dir, sizeof dir);
    clt_context *ctx = host_context();
    gpt_model *m = new_model(ctx, &TINY, CLT_DTYPE_F32);
    struct state s;
    state_create(ctx, &s, 1000);
    struct snapshot a = make_checkpoint(ctx, dir, m, &s, 6);
    struct dir_bytes before = dir_bytes(dir);
    free(init_model(m, 60)); /* what the failed saves try to write */
    state_fill(&s, 61);

    /* The disk fills while the model is written (the state, ~150 KiB, fits), or while
     * the state is. */
    save_with_file_limit(ctx, dir, m, &s, 256 * 1024, "model");
    assert_dir_unchanged(dir, &before);
    save_with_file_limit(ctx, dir, m, &s, 4096, "state");
    assert_dir_unchanged(dir, &before);

    /* A directory that cannot be written (the permission does not bind root). */
    if (geteuid() != 0) {
        assert_int_equal(chmod(dir, 0555), 0);
        const char *meta[] = {"step", "999", NULL};
        assert_false(ckpt_save(ctx, dir, m, s.t, N_STATE, meta, err, sizeof err));
        assert_int_equal(chmod(dir, 0755), 0);
        assert_non_null(strstr(err, dir));
        assert_non_null(strstr(err, strerror(EACCES)));
        printf("  refused: %s\n", err);
        assert_dir_unchanged(dir, &before);
    } else {
        printf("  running as root: the read-only directory case is skipped\n");
    }

    /* A path that cannot be a directory. */
    char file[4096], under[4200];
    join(dir, "model.safetensors", file, sizeof file);
    snprintf(under, sizeof under, "%s/sub", file);
    assert_false(ckpt_save(ctx, file, m, s.t, N_STATE, NULL, err, sizeof err));
    assert_non_null(strstr(err, "not a directory"));
    assert_false(ckpt_save(ctx, under, m, s.t, N_STATE, NULL, err, sizeof err));
    assert_non_null(strstr(err, strerror(ENOTDIR)));
    printf("  refused: %s\n", err);
    assert_dir_unchanged(dir, &before);

    expect_loads(ctx, dir, m, &s, &a);
    free(before.model);
    free(before.state);
    snapshot_free(&a);
    state_destroy(&s);
    gpt_destroy(m);
    clt_context_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip),   cmocka_unit_test(gpt2_layout),
        cmocka_unit_test(other_shape),  cmocka_unit_test(corrupt_files),
        cmocka_unit_test(failed_saves),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
