/* What the checkpoint tests share: a fresh directory per case under $CLT_TEST_TMP,
 * files read and written whole, a host context, tiny models filled from a seed, state
 * tensors like an optimizer's (f32 moments, u8 codes with f32 absmax, an i32 counter),
 * snapshots of a checkpoint and the check that a directory loads as one of them, whole.
 * Header-only (static inline), included by test_ckpt.c and test_ckpt_crash.c. */
#ifndef CLTRAIN_TEST_CKPT_FIXTURE_H
#define CLTRAIN_TEST_CKPT_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above first. */
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt.h"
#include "rng.h"

static const struct gpt_config TINY = {
    .layers = 2, .heads = 2, .dim = 64, .ctx = 64, .vocab = 256};

static inline void base_dir(char *out, size_t size)
{
    const char *env = getenv("CLT_TEST_TMP");
    if (env && *env)
        snprintf(out, size, "%s", env);
    else
        snprintf(out, size, "/tmp/cltrain-ckpt-%ld", (long)getpid());
}

/* <tmp>/<name>, made fresh. */
static inline void tmp_dir(const char *name, char *out, size_t size)
{
    char base[1024], cmd[4400];
    base_dir(base, sizeof base);
    int n = snprintf(out, size, "%s/%s", base, name);
    assert_true(n > 0 && (size_t)n < size);
    snprintf(cmd, sizeof cmd, "chmod -R u+w '%s' 2>/dev/null; rm -rf '%s' && mkdir -p '%s'",
             out, out, out);
    assert_int_equal(system(cmd), 0);
}

static inline void join(const char *dir, const char *name, char *out, size_t size)
{
    int n = snprintf(out, size, "%s/%s", dir, name);
    assert_true(n > 0 && (size_t)n < size);
}

static inline uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s: %s", path, strerror(errno));
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long len = ftell(f);
    assert_true(len >= 0);
    rewind(f);
    uint8_t *p = malloc((size_t)len + 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return p;
}

static inline void spit(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static inline void copy_file(const char *from, const char *to)
{
    size_t n;
    uint8_t *p = slurp(from, &n);
    spit(to, p, n);
    free(p);
}

/* Copies dir_from/name to dir_to/as. */
static inline void copy_into(const char *dir_from, const char *name, const char *dir_to,
                             const char *as)
{
    char a[4096], b[4096];
    join(dir_from, name, a, sizeof a);
    join(dir_to, as, b, sizeof b);
    copy_file(a, b);
}

static inline bool exists(const char *dir, const char *name)
{
    char p[4096];
    struct stat st;
    join(dir, name, p, sizeof p);
    return stat(p, &st) == 0;
}

/* The names in dir, sorted, joined by spaces: what a save or load left behind. */
static inline void listing(const char *dir, char *out, size_t size)
{
    struct dirent **names = NULL;
    int n = scandir(dir, &names, NULL, alphasort);
    assert_true(n >= 0);
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (strcmp(names[i]->d_name, ".") && strcmp(names[i]->d_name, ".."))
            snprintf(out + strlen(out), size - strlen(out), "%s%s", out[0] ? " " : "",
                     names[i]->d_name);
        free(names[i]);
    }
    free(names);
}

static inline void assert_listing(const char *dir, const char *want)
{
    char got[4096];
    listing(dir, got, sizeof got);
    if (strcmp(got, want) != 0)
        fail_msg("%s holds \"%s\", expected \"%s\"", dir, got, want);
}

static inline void id_of(const char *dir, const char *file, char *out, size_t cap)
{
    char p[4096];
    join(dir, file, p, sizeof p);
    bool found = false;
    assert_int_equal(clt_checkpoint_metadata(p, CKPT_ID_KEY, out, cap, &found), CLT_OK);
    assert_true(found);
}

static inline void assert_ids_match(const char *dir)
{
    char a[64], b[64];
    id_of(dir, "model.safetensors", a, sizeof a);
    id_of(dir, "state.safetensors", b, sizeof b);
    assert_string_equal(a, b);
}

static inline clt_context *host_context(void)
{
    char base[1024], nvme[1100];
    base_dir(base, sizeof base);
    snprintf(nvme, sizeof nvme, "%s/nvme", base);
    mkdir(base, 0777);
    mkdir(nvme, 0777);
    clt_context_opts opts;
    clt_context_opts_init(&opts);
    opts.device = "host";
    opts.cache_dir = "";
    opts.nvme_dir = nvme;
    clt_context *ctx = NULL;
    clt_status st = clt_context_create(&opts, &ctx);
    if (st != CLT_OK)
        fail_msg("cannot open the host device: %s", clt_last_error());
    return ctx;
}

static inline gpt_model *new_model(clt_context *ctx, const struct gpt_config *cfg,
                                   clt_dtype dtype)
{
    gpt_model *m = NULL;
    clt_status st = gpt_create(ctx, cfg, dtype, 1, &m);
    if (st != CLT_OK)
        fail_msg("gpt_create: %s", clt_last_error());
    return m;
}

/* The master buffer, all of it (padding too), to host memory. */
static inline float *params_of(gpt_model *m, size_t *n)
{
    clt_buffer *b = gpt_param_buffer(m);
    *n = clt_buffer_size(b) / sizeof(float);
    float *p = malloc(*n * sizeof(float));
    assert_non_null(p);
    assert_int_equal(clt_buffer_read(b, 0, p, *n * sizeof(float), NULL), CLT_OK);
    return p;
}

static inline void set_params(gpt_model *m, const float *p)
{
    clt_buffer *b = gpt_param_buffer(m);
    assert_int_equal(clt_buffer_write(b, 0, p, clt_buffer_size(b), NULL), CLT_OK);
    assert_int_equal(gpt_sync_work(m), CLT_OK);
}

/* GPT-2's initialisation from seed, into the model; returns the host copy. */
static inline float *init_model(gpt_model *m, uint64_t seed)
{
    size_t n;
    float *p = params_of(m, &n);
    gpt_init_params(gpt_config_of(m), seed, p);
    set_params(m, p);
    return p;
}

/* Whether every parameter's elements are equal in a and b (padding not compared). */
static inline void assert_params_equal(gpt_model *m, const float *a, const float *b)
{
    size_t n;
    const struct gpt_param *params = gpt_param_table(m, &n);
    for (size_t i = 0; i < n; i++)
        if (memcmp(a + params[i].offset, b + params[i].offset, params[i].numel * 4) != 0)
            fail_msg("parameter %s differs", params[i].name);
}

static inline void fill_random(uint8_t *p, size_t n, uint64_t seed)
{
    struct rng r;
    rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)rng_next(&r);
}

/* Optimizer-like state: f32 moments, u8 codes with their f32 absmax, an i32 counter, all
 * in one buffer, filled with random bytes (NaN patterns included: bytes round-trip). */
enum { N_STATE = 5 };
struct state {
    clt_buffer *buf;
    clt_named_tensor t[N_STATE];
    uint8_t *host;
    size_t bytes;
};

static inline void state_create(clt_context *ctx, struct state *s, size_t big_codes)
{
    static const char *const names[N_STATE] = {"wte.weight.m", "wte.weight.v", "h.0.q8",
                                               "h.0.q8_absmax", "counter"};
    const clt_dtype dtypes[N_STATE] = {CLT_DTYPE_F32, CLT_DTYPE_F32, CLT_DTYPE_U8,
                                       CLT_DTYPE_F32, CLT_DTYPE_I32};
    const int64_t numel[N_STATE] = {256 * 64, 256 * 64, (int64_t)big_codes,
                                    ((int64_t)big_codes + 255) / 256, 1};
    size_t off = 0;
    memset(s, 0, sizeof *s);
    size_t offsets[N_STATE];
    for (int i = 0; i < N_STATE; i++) {
        offsets[i] = off;
        off += ((size_t)numel[i] * clt_dtype_size(dtypes[i]) + 63) / 64 * 64;
    }
    s->bytes = off;
    assert_int_equal(clt_buffer_create(ctx, off, CLT_TIER_DEVICE, &s->buf), CLT_OK);
    for (int i = 0; i < N_STATE; i++) {
        s->t[i].name = names[i];
        const int64_t matrix[2] = {256, 64}, vector[1] = {numel[i]};
        assert_int_equal(clt_tensor_init(&s->t[i].tensor, s->buf, offsets[i], dtypes[i],
                                         i < 2 ? 2 : 1, i < 2 ? matrix : vector),
                         CLT_OK);
    }
    s->host = calloc(1, off);
    assert_non_null(s->host);
}

static inline void state_fill(struct state *s, uint64_t seed)
{
    fill_random(s->host, s->bytes, seed);
    assert_int_equal(clt_buffer_write(s->buf, 0, s->host, s->bytes, NULL), CLT_OK);
}

/* The bytes of every tensor of s (not the gaps between them). */
static inline void assert_state_equal(const struct state *s, const uint8_t *want)
{
    uint8_t *got = malloc(s->bytes);
    assert_non_null(got);
    assert_int_equal(clt_buffer_read(s->buf, 0, got, s->bytes, NULL), CLT_OK);
    for (int i = 0; i < N_STATE; i++) {
        const clt_tensor *t = &s->t[i].tensor;
        size_t n = (size_t)clt_tensor_numel(t) * clt_dtype_size(t->dtype);
        if (memcmp(got + t->offset, want + t->offset, n) != 0)
            fail_msg("state tensor %s differs", s->t[i].name);
    }
    free(got);
}

static inline void state_destroy(struct state *s)
{
    clt_buffer_destroy(s->buf);
    free(s->host);
}

static inline void save_ok(clt_context *ctx, const char *dir, gpt_model *m, struct state *s,
                           const char *step)
{
    char err[1024] = "";
    const char *meta[] = {"step", step, "data", "fortunes", NULL};
    if (!ckpt_save(ctx, dir, m, s->t, N_STATE, meta, err, sizeof err))
        fail_msg("ckpt_save: %s", err);
}

/* A checkpoint as the test knows it: parameters, state bytes, step. */
struct snapshot {
    float *params;
    uint8_t *state;
    char step[32];
};

static inline void snapshot_free(struct snapshot *s)
{
    free(s->params);
    free(s->state);
}

/* Makes a checkpoint in dir from seed and returns what it holds. */
static inline struct snapshot make_checkpoint(clt_context *ctx, const char *dir,
                                              gpt_model *m, struct state *s, uint64_t seed)
{
    struct snapshot snap;
    snap.params = init_model(m, seed);
    state_fill(s, seed * 7 + 1);
    snap.state = malloc(s->bytes);
    assert_non_null(snap.state);
    memcpy(snap.state, s->host, s->bytes);
    snprintf(snap.step, sizeof snap.step, "%llu", (unsigned long long)seed * 100);
    save_ok(ctx, dir, m, s, snap.step);
    return snap;
}

/* Loads dir into m and s (after scrambling both) and checks it is `want`, whole: the
 * parameters, the state and the step of one checkpoint, the two files' ids equal. */
static inline void expect_loads(clt_context *ctx, const char *dir, gpt_model *m,
                                struct state *s, const struct snapshot *want)
{
    char err[1024] = "", step[32];
    size_t n;
    float *junk = params_of(m, &n);
    for (size_t i = 0; i < n; i++)
        junk[i] = -1.0f;
    set_params(m, junk);
    state_fill(s, 424242);
    struct gpt_config cfg;
    if (!ckpt_read_config(dir, &cfg, err, sizeof err))
        fail_msg("ckpt_read_config: %s", err);
    assert_memory_equal(&cfg, gpt_config_of(m), sizeof cfg);
    if (!ckpt_load_model(ctx, dir, m, err, sizeof err))
        fail_msg("ckpt_load_model: %s", err);
    if (!ckpt_load_state(ctx, dir, s->t, N_STATE, err, sizeof err))
        fail_msg("ckpt_load_state: %s", err);
    if (!ckpt_state_meta(dir, "step", step, sizeof step, err, sizeof err))
        fail_msg("ckpt_state_meta: %s", err);
    assert_string_equal(step, want->step);
    float *got = params_of(m, &n);
    assert_params_equal(m, got, want->params);
    assert_state_equal(s, want->state);
    assert_ids_match(dir);
    free(got);
    free(junk);
}

/* Saves with the file size limited to `limit` bytes (a full disk, as far as the writer
 * can tell: writes fail with EFBIG); expects failure naming `want`. */
static inline void save_with_file_limit(clt_context *ctx, const char *dir, gpt_model *m,
                                        struct state *s, rlim_t limit, const char *want)
{
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = limit;
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    char err[1024] = "";
    const char *meta[] = {"step", "999", NULL};
    const bool ok = ckpt_save(ctx, dir, m, s->t, N_STATE, meta, err, sizeof err);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, old_handler);
    assert_false(ok);
    if (!strstr(err, want) || !strstr(err, strerror(EFBIG)))
        fail_msg("error \"%s\" lacks \"%s\" or \"%s\"", err, want, strerror(EFBIG));
    printf("  refused: %s\n", err);
}

#endif
