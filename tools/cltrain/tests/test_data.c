/* cltrain's data: files and directories read in order (links, hidden files and strfile
 * indexes skipped), the split sizes, the default fortunes corpus, every kind of bad
 * input (missing, empty, NUL, each invalid UTF-8 form at a known offset, a context
 * longer than a split) refused with a sentence naming the file and the offset, and the
 * batches: windows of the right split, targets shifted by one, the same rng state giving
 * the same batch, validation batches the same every time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above first. */
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data.h"

/* ---- helpers ------------------------------------------------------------------------ */

/* <$CLT_TEST_TMP or /tmp/cltrain-data-<pid>>/<name>, made fresh (mkdir -p, emptied of
 * files a previous run left). */
static void tmp_dir(const char *name, char *out, size_t size)
{
    char base[1024];
    const char *env = getenv("CLT_TEST_TMP");
    if (env && *env)
        snprintf(base, sizeof base, "%s", env);
    else
        snprintf(base, sizeof base, "/tmp/cltrain-data-%ld", (long)getpid());
    char cmd[4200];
    int n = snprintf(out, size, "%s/%s", base, name);
    assert_true(n > 0 && (size_t)n < size);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", out, out);
    assert_int_equal(system(cmd), 0);
}

static void write_bytes(const char *dir, const char *name, const void *p, size_t n,
                        char *path, size_t cap)
{
    char local[4096];
    if (!path) {
        path = local;
        cap = sizeof local;
    }
    snprintf(path, cap, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void write_text(const char *dir, const char *name, const char *text, char *path,
                       size_t cap)
{
    write_bytes(dir, name, text, strlen(text), path, cap);
}

/* n bytes of text in [lo, lo + span), a repeating pattern whose windows of a few bytes
 * are distinctive enough for the searches below. */
static char *pattern_text(size_t n, char lo, int span, unsigned seed)
{
    char *p = malloc(n + 1);
    assert_non_null(p);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        p[i] = (char)(lo + (int)((x >> 24) % (uint32_t)span));
    }
    p[n] = '\0';
    return p;
}

static data_corpus *open_ok(const char *const *paths, int n, int ctx, double frac)
{
    char err[1024] = "";
    data_corpus *d = NULL;
    if (!data_open(paths, n, ctx, frac, &d, err, sizeof err))
        fail_msg("data_open failed: %s", err);
    assert_non_null(d);
    return d;
}

/* Opens, expects failure, and checks the sentence holds every `want` (NULL-terminated). */
static void open_fails(const char *const *paths, int n, int ctx, double frac, ...)
{
    char err[1024] = "";
    data_corpus *d = (data_corpus *)(uintptr_t)16; /* must be reset to NULL */
    assert_false(data_open(paths, n, ctx, frac, &d, err, sizeof err));
    assert_null(d);
    va_list ap;
    va_start(ap, frac);
    for (const char *want; (want = va_arg(ap, const char *));)
        if (!strstr(err, want))
            fail_msg("error \"%s\" lacks \"%s\"", err, want);
    va_end(ap);
    printf("  refused as expected: %s\n", err);
}

/* The whole validation split, read back through T = 1 windows (window j is token j). */
static uint8_t *val_split(const data_corpus *d, size_t *n)
{
    *n = data_val_tokens(d);
    uint8_t *out = malloc(*n);
    assert_non_null(out);
    assert_int_equal(data_val_windows(d, 1), *n - 1);
    for (size_t j = 0; j + 1 < *n; j++) {
        int32_t tok, tgt;
        data_val_batch(d, (int64_t)j, 1, 1, &tok, &tgt);
        assert_true(tok >= 0 && tok < 256 && tgt >= 0 && tgt < 256);
        out[j] = (uint8_t)tok;
        out[j + 1] = (uint8_t)tgt;
    }
    return out;
}

/* Every window of the batch (its T tokens and the last target) lies inside `split` and
 * targets are the tokens shifted by one. */
static void check_windows(const int32_t *tok, const int32_t *tgt, int B, int T,
                          const char *split, size_t n)
{
    char *w = malloc((size_t)T + 1);
    assert_non_null(w);
    for (int b = 0; b < B; b++) {
        const int32_t *x = tok + (size_t)b * (size_t)T, *y = tgt + (size_t)b * (size_t)T;
        for (int t = 0; t + 1 < T; t++)
            assert_int_equal(y[t], x[t + 1]);
        for (int t = 0; t < T; t++)
            w[t] = (char)x[t];
        w[T] = (char)y[T - 1];
        if (!memmem(split, n, w, (size_t)T + 1))
            fail_msg("window %d (\"%.*s\") is not a run of the expected split", b, T + 1,
                     w);
    }
    free(w);
}

/* ---- reading ------------------------------------------------------------------------ */

/* Two files given in an order other than their names': read in the order given, the
 * split at the right place (training windows come only from the first file, the
 * validation split is the second file exactly), the description. */
static void files_in_order(void **state)
{
    (void)state;
    char dir[1024], pb[4096], pa[4096];
    tmp_dir("files_in_order", dir, sizeof dir);
    char *lower = pattern_text(3000, 'a', 26, 1), *upper = pattern_text(1000, 'A', 26, 2);
    write_text(dir, "b.txt", lower, pb, sizeof pb);
    write_text(dir, "a.txt", upper, pa, sizeof pa);
    const char *paths[] = {pb, pa};
    data_corpus *d = open_ok(paths, 2, 16, 0.25);
    assert_int_equal(data_train_tokens(d), 3000);
    assert_int_equal(data_val_tokens(d), 1000);
    assert_string_equal(data_describe(d), "2 files, 3.9 KiB");

    size_t nv;
    uint8_t *val = val_split(d, &nv);
    assert_memory_equal(val, upper, 1000);
    free(val);

    struct rng rng;
    rng_seed(&rng, 7);
    int32_t tok[8 * 16], tgt[8 * 16];
    for (int i = 0; i < 50; i++) {
        data_train_batch(d, &rng, 8, 16, tok, tgt);
        check_windows(tok, tgt, 8, 16, lower, 3000);
    }
    data_close(d);

    const char *one[] = {pa};
    d = open_ok(one, 1, 16, 0.5);
    assert_string_equal(data_describe(d), "a.txt (1000 B)");
    data_close(d);
    free(lower);
    free(upper);
}

/* A directory: regular files by bytewise name order; links, hidden files, strfile
 * indexes beside their text, and subdirectories skipped; a lone "*.dat" that is text
 * is read. */
static void directory_order(void **state)
{
    (void)state;
    char dir[1024], sub[1100];
    tmp_dir("directory_order", dir, sizeof dir);
    write_text(dir, "b", "BBBBBBBBBB\n", NULL, 0);
    write_text(dir, "a", "AAAAAAAAAA\n", NULL, 0);
    write_text(dir, "Z", "ZZZZZZZZZZ\n", NULL, 0); /* 'Z' < 'a' bytewise */
    write_text(dir, "10", "1010101010\n", NULL, 0);
    write_text(dir, "notes.dat", "DATDATDATD\n", NULL, 0); /* text, no "notes" beside */
    const uint8_t index[] = {0, 0, 0, 2, 0, 0, 0, 3, 0xff, 0xfe}; /* strfile-like */
    write_bytes(dir, "b.dat", index, sizeof index, NULL, 0);
    write_text(dir, ".hidden", "HHHHHHHHHH\n", NULL, 0);
    char target[4096], link[4096];
    snprintf(target, sizeof target, "%s/a", dir);
    snprintf(link, sizeof link, "%s/a.u8", dir);
    assert_int_equal(symlink(target, link), 0);
    snprintf(sub, sizeof sub, "%s/sub", dir);
    assert_int_equal(mkdir(sub, 0777), 0);
    write_text(sub, "inner", "IIIIIIIIII\n", NULL, 0);

    const char *paths[] = {dir};
    data_corpus *d = open_ok(paths, 1, 4, 0.8);
    const char expect[] = "1010101010\nZZZZZZZZZZ\nAAAAAAAAAA\nBBBBBBBBBB\nDATDATDATD\n";
    const size_t n = sizeof expect - 1;
    assert_int_equal(data_train_tokens(d) + data_val_tokens(d), n);
    assert_int_equal(data_val_tokens(d), (size_t)((double)n * 0.8));
    size_t nv;
    uint8_t *val = val_split(d, &nv);
    assert_memory_equal(val, expect + (n - nv), nv);
    free(val);
    const char *desc = data_describe(d);
    assert_non_null(strstr(desc, "directory_order (5 files, "));
    data_close(d);

    /* A path with a trailing slash reads the same. */
    char slash[1100];
    snprintf(slash, sizeof slash, "%s/", dir);
    const char *paths2[] = {slash};
    d = open_ok(paths2, 1, 4, 0.8);
    assert_int_equal(data_train_tokens(d) + data_val_tokens(d), n);
    assert_non_null(strstr(data_describe(d), "directory_order (5 files, "));
    data_close(d);
}

/* Split sizes: the validation split is the last floor(n·f) tokens. */
static void split_sizes(void **state)
{
    (void)state;
    char dir[1024], p[4096];
    tmp_dir("split_sizes", dir, sizeof dir);
    char *text = pattern_text(1003, 'a', 26, 3);
    write_text(dir, "t", text, p, sizeof p);
    const char *paths[] = {p};
    const double fracs[] = {0.1, 0.25, 0.5, 0.9};
    for (size_t i = 0; i < sizeof fracs / sizeof fracs[0]; i++) {
        data_corpus *d = open_ok(paths, 1, 8, fracs[i]);
        const size_t nv = (size_t)(1003.0 * fracs[i]);
        assert_int_equal(data_val_tokens(d), nv);
        assert_int_equal(data_train_tokens(d), 1003 - nv);
        size_t got;
        uint8_t *val = val_split(d, &got);
        assert_memory_equal(val, text + 1003 - nv, nv);
        free(val);
        data_close(d);
    }
    free(text);
}

/* Multi-byte UTF-8 of every length, the edges of the valid ranges included, is text. */
static void utf8_accepted(void **state)
{
    (void)state;
    char dir[1024], p[4096];
    tmp_dir("utf8_accepted", dir, sizeof dir);
    const char text[] = "caf\xc3\xa9 \xc2\x80 \xdf\xbf \xe0\xa0\x80 \xed\x9f\xbf "
                        "\xee\x80\x80 \xef\xbf\xbf \xf0\x90\x80\x80 \xf4\x8f\xbf\xbf "
                        "\xe2\x9c\x93 "
                        "\xf0\x9f\x98\x80 and plain ASCII to make it longer than ctx.\n";
    write_text(dir, "u", text, p, sizeof p);
    const char *paths[] = {p};
    data_corpus *d = open_ok(paths, 1, 4, 0.5);
    assert_int_equal(data_train_tokens(d) + data_val_tokens(d), sizeof text - 1);
    data_close(d);
}

/* The default corpus: the text files of the fortunes directory (each has its strfile
 * index "x.dat" beside it; the "x.u8" links are not read twice). */
static void default_corpus(void **state)
{
    (void)state;
    DIR *dir = opendir(DATA_DEFAULT_DIR);
    if (!dir) {
        printf("  skipped: %s is not installed (Debian package fortunes)\n",
               DATA_DEFAULT_DIR);
        skip();
    }
    size_t files = 0, bytes = 0;
    for (struct dirent *e; (e = readdir(dir));) {
        size_t len = strlen(e->d_name);
        if (len <= 4 || strcmp(e->d_name + len - 4, ".dat") != 0 || e->d_name[0] == '.')
            continue;
        char text[4096];
        struct stat st;
        snprintf(text, sizeof text, "%s/%.*s", DATA_DEFAULT_DIR, (int)(len - 4), e->d_name);
        if (lstat(text, &st) == 0 && S_ISREG(st.st_mode)) {
            files++;
            bytes += (size_t)st.st_size;
        }
    }
    closedir(dir);
    assert_true(files > 0);

    data_corpus *d = open_ok(NULL, 0, 256, 0.1);
    assert_int_equal(data_train_tokens(d) + data_val_tokens(d), bytes);
    char want[64];
    snprintf(want, sizeof want, "fortunes (%zu files, ", files);
    assert_non_null(strstr(data_describe(d), want));
    printf("  default corpus: %s\n", data_describe(d));
    data_close(d);

    /* The same directory named explicitly reads the same. */
    const char *paths[] = {DATA_DEFAULT_DIR};
    d = open_ok(paths, 1, 256, 0.1);
    assert_int_equal(data_train_tokens(d) + data_val_tokens(d), bytes);
    data_close(d);
}

/* ---- bad input ---------------------------------------------------------------------- */

static void missing_and_empty(void **state)
{
    (void)state;
    char dir[1024], good[4096], empty[4096], missing[4096], emptydir[1100];
    tmp_dir("missing_and_empty", dir, sizeof dir);
    char *text = pattern_text(500, 'a', 26, 4);
    write_text(dir, "good", text, good, sizeof good);
    write_text(dir, "empty", "", empty, sizeof empty);
    snprintf(missing, sizeof missing, "%s/no-such-file", dir);
    snprintf(emptydir, sizeof emptydir, "%s/nothing", dir);
    assert_int_equal(mkdir(emptydir, 0777), 0);

    const char *p1[] = {good, missing};
    open_fails(p1, 2, 8, 0.1, missing, strerror(ENOENT), NULL);
    const char *p2[] = {empty, good};
    open_fails(p2, 2, 8, 0.1, empty, "is empty", NULL);
    const char *p3[] = {emptydir};
    open_fails(p3, 1, 8, 0.1, emptydir, "holds no text files", NULL);
    const char *p4[] = {""};
    open_fails(p4, 1, 8, 0.1, "empty", NULL);
    const char *p4b[] = {"/dev/zero"};
    open_fails(p4b, 1, 8, 0.1, "/dev/zero", "neither a file nor a directory", NULL);

    /* An unreadable file (not when running as root, who reads anything). */
    if (geteuid() != 0) {
        char locked[4096];
        write_text(dir, "locked", text, locked, sizeof locked);
        assert_int_equal(chmod(locked, 0), 0);
        const char *p5[] = {locked};
        open_fails(p5, 1, 8, 0.1, locked, strerror(EACCES), NULL);
    }

    /* No paths and no default corpus. */
    char err[512] = "";
    data_corpus *d = NULL;
    char nodefault[1100];
    snprintf(nodefault, sizeof nodefault, "%s/no-fortunes-here", dir);
    assert_false(data_open_with_default(nodefault, NULL, 0, 8, 0.1, &d, err, sizeof err));
    assert_null(d);
    assert_non_null(strstr(err, nodefault));
    assert_non_null(strstr(err, "install the fortunes package or pass --data"));

    /* Arguments. */
    const char *p6[] = {good};
    open_fails(p6, 1, 0, 0.1, "context", NULL);
    open_fails(p6, 1, 8, 0.0, "validation fraction", NULL);
    open_fails(p6, 1, 8, 1.0, "validation fraction", NULL);
    free(text);
}

/* A file with `bad` (n bytes) placed after a prefix of valid text that holds multi-byte
 * characters and two newlines: refused, the sentence naming the file, the byte offset
 * of the bad sequence, its line and `what`. */
static void refuse_at(const char *dir, const char *name, const void *bad, size_t n,
                      const char *what, bool at_end)
{
    const char prefix[] = "ok text \xc3\xa9\xe2\x9c\x93\n\xf0\x9f\x98\x80 more\nthird ";
    const char suffix[] = " and after it more valid text to pass the ctx.\n";
    uint8_t buf[256];
    size_t len = 0;
    memcpy(buf, prefix, sizeof prefix - 1);
    len += sizeof prefix - 1;
    memcpy(buf + len, bad, n);
    len += n;
    if (!at_end) {
        memcpy(buf + len, suffix, sizeof suffix - 1);
        len += sizeof suffix - 1;
    }
    char path[4096], offset[64];
    write_bytes(dir, name, buf, len, path, sizeof path);
    snprintf(offset, sizeof offset, "byte offset %zu (line 3)", sizeof prefix - 1);
    const char *paths[] = {path};
    open_fails(paths, 1, 4, 0.1, path, "not UTF-8", offset, what, NULL);
}

static void not_text(void **state)
{
    (void)state;
    char dir[1024];
    tmp_dir("not_text", dir, sizeof dir);
    refuse_at(dir, "nul", "\0", 1, "NUL", false);
    refuse_at(dir, "continuation", "\x80", 1, "0x80", false);
    refuse_at(dir, "lead_ff", "\xff", 1, "0xFF", false);
    refuse_at(dir, "lead_f5", "\xf5\x80\x80\x80", 4, "0xF5", false);
    refuse_at(dir, "overlong2", "\xc0\xaf", 2, "overlong", false);
    refuse_at(dir, "overlong2b", "\xc1\xbf", 2, "overlong", false);
    refuse_at(dir, "overlong3", "\xe0\x80\xaf", 3, "overlong", false);
    refuse_at(dir, "overlong4", "\xf0\x80\x80\xaf", 4, "overlong", false);
    refuse_at(dir, "surrogate", "\xed\xa0\x80", 3, "surrogate", false);
    refuse_at(dir, "surrogate_low", "\xed\xbf\xbf", 3, "surrogate", false);
    refuse_at(dir, "above_max", "\xf4\x90\x80\x80", 4, "above U+10FFFF", false);
    refuse_at(dir, "bad_second", "\xc3\x28", 2, "continuation byte", false);
    refuse_at(dir, "bad_third", "\xe2\x82\x28", 3, "continuation byte", false);
    refuse_at(dir, "bad_fourth", "\xf0\x9f\x98\x41", 4, "continuation byte", false);
    refuse_at(dir, "cut_off", "\xe2\x82", 2, "cut off", true);

    /* A binary file that is not the first: its own name and offset. */
    char good[4096], bin[4096];
    char *text = pattern_text(300, 'a', 26, 5);
    write_text(dir, "good", text, good, sizeof good);
    uint8_t blob[64];
    for (int i = 0; i < 64; i++)
        blob[i] = (uint8_t)(i < 10 ? 'x' : 0xff - i);
    write_bytes(dir, "blob.bin", blob, sizeof blob, bin, sizeof bin);
    const char *paths[] = {good, bin};
    open_fails(paths, 2, 8, 0.1, bin, "byte offset 10 (line 1)", NULL);
    free(text);
}

/* A context longer than a split: the sentence gives the split's size and ctx + 1. */
static void ctx_too_long(void **state)
{
    (void)state;
    char dir[1024], p[4096];
    tmp_dir("ctx_too_long", dir, sizeof dir);
    char *text = pattern_text(100, 'a', 26, 6);
    write_text(dir, "small", text, p, sizeof p);
    const char *paths[] = {p};
    open_fails(paths, 1, 64, 0.1, "small", "validation split holds 10 tokens",
               "ctx + 1 = 65", "--ctx", NULL);
    open_fails(paths, 1, 64, 0.5, "training split holds 50 tokens", "ctx + 1 = 65", NULL);
    open_fails(paths, 1, 64, 0.8, "training split holds 20 tokens", NULL);
    /* The largest ctx that fits: both splits hold ctx + 1. */
    data_corpus *d = open_ok(paths, 1, 49, 0.5);
    assert_int_equal(data_val_windows(d, 49), 1);
    data_close(d);
    open_fails(paths, 1, 50, 0.5, "ctx + 1 = 51", NULL);
    free(text);
}

/* ---- batches ------------------------------------------------------------------------ */

static void train_batches(void **state)
{
    (void)state;
    char dir[1024], p[4096];
    tmp_dir("train_batches", dir, sizeof dir);
    const size_t n = 20000;
    char *text = pattern_text(n, ' ', 95, 7);
    write_text(dir, "t", text, p, sizeof p);
    const char *paths[] = {p};
    data_corpus *d = open_ok(paths, 1, 32, 0.1);
    const size_t nt = data_train_tokens(d);
    enum { B = 4, T = 32 };
    int32_t tok1[B * T], tgt1[B * T], tok2[B * T], tgt2[B * T];

    /* The same state gives the same batch, and drawing moves the state on. */
    struct rng r1, r2;
    rng_seed(&r1, 1234);
    r2 = r1;
    data_train_batch(d, &r1, B, T, tok1, tgt1);
    data_train_batch(d, &r2, B, T, tok2, tgt2);
    assert_memory_equal(tok1, tok2, sizeof tok1);
    assert_memory_equal(tgt1, tgt2, sizeof tgt1);
    assert_memory_equal(&r1, &r2, sizeof r1);
    check_windows(tok1, tgt1, B, T, text, nt);
    data_train_batch(d, &r1, B, T, tok2, tgt2);
    assert_memory_not_equal(tok1, tok2, sizeof tok1);

    /* A resumed run: the state saved after k batches gives the batches that follow. */
    struct rng saved;
    rng_seed(&r1, 99);
    for (int i = 0; i < 5; i++)
        data_train_batch(d, &r1, B, T, tok1, tgt1);
    saved = r1;
    data_train_batch(d, &r1, B, T, tok1, tgt1);
    data_train_batch(d, &saved, B, T, tok2, tgt2);
    assert_memory_equal(tok1, tok2, sizeof tok1);

    data_close(d);

    /* Offsets cover the whole training split and never leave it: on a short split the
     * first and the last window (start nt - T - 1) both occur, and every window is a run
     * of the split. 250 starts, 20000 draws: each start is missed with p < 1e-30. */
    char s[4096];
    write_text(dir, "short", text, s, sizeof s);
    assert_int_equal(truncate(s, 300), 0);
    const char *ps[] = {s};
    d = open_ok(ps, 1, 20, 0.1);
    const size_t ns = data_train_tokens(d);
    assert_int_equal(ns, 270);
    bool first = false, last = false;
    rng_seed(&r1, 5);
    for (int i = 0; i < 20000 && !(first && last); i++) {
        int32_t t1[20], g1[20];
        data_train_batch(d, &r1, 1, 20, t1, g1);
        check_windows(t1, g1, 1, 20, text, ns);
        bool is_first = true, is_last = true;
        for (int t = 0; t < 20; t++) {
            is_first = is_first && t1[t] == (uint8_t)text[t];
            is_last = is_last && t1[t] == (uint8_t)text[ns - 21 + (size_t)t];
        }
        is_last = is_last && g1[19] == (uint8_t)text[ns - 1];
        first = first || is_first;
        last = last || is_last;
    }
    assert_true(first);
    assert_true(last);

    /* Tokens are bytes, 0..255 (multi-byte characters give tokens above 127). */
    data_close(d);
    char q[4096];
    const char utf[] = "\xc3\xa9\xe2\x9c\x93\xf0\x9f\x98\x80\xc3\xa9\xe2\x9c\x93"
                       "\xf0\x9f\x98\x80\xc3\xa9\xe2\x9c\x93\xf0\x9f\x98\x80\xc3\xa9"
                       "\xe2\x9c\x93\xf0\x9f\x98\x80";
    write_text(dir, "utf", utf, q, sizeof q);
    const char *pq[] = {q};
    d = open_ok(pq, 1, 4, 0.5);
    int32_t t4[4], g4[4];
    rng_seed(&r1, 1);
    for (int i = 0; i < 20; i++) {
        data_train_batch(d, &r1, 1, 4, t4, g4);
        for (int t = 0; t < 4; t++)
            assert_true(t4[t] >= 0 && t4[t] < 256 && g4[t] >= 0 && g4[t] < 256);
        check_windows(t4, g4, 1, 4, utf, data_train_tokens(d));
    }
    data_close(d);
    free(text);
}

static void val_batches(void **state)
{
    (void)state;
    char dir[1024], p[4096];
    tmp_dir("val_batches", dir, sizeof dir);
    const size_t n = 10000;
    char *text = pattern_text(n, ' ', 95, 8);
    write_text(dir, "t", text, p, sizeof p);
    const char *paths[] = {p};
    data_corpus *d = open_ok(paths, 1, 16, 0.2);
    const size_t nt = data_train_tokens(d), nv = data_val_tokens(d);
    const char *val = text + nt;
    enum { B = 3, T = 16 };
    const size_t w = data_val_windows(d, T);
    assert_int_equal(w, (nv - 1) / T);

    int32_t tok1[B * T], tgt1[B * T], tok2[B * T], tgt2[B * T];
    for (int64_t k = 0; k < 200; k++) {
        data_val_batch(d, k, B, T, tok1, tgt1);
        data_val_batch(d, k, B, T, tok2, tgt2);
        assert_memory_equal(tok1, tok2, sizeof tok1);
        assert_memory_equal(tgt1, tgt2, sizeof tgt1);
        /* Window j = (B·k + b) mod w starts at token j·T of the validation split. */
        for (int b = 0; b < B; b++) {
            const size_t j = ((size_t)k * B + (size_t)b) % w;
            for (int t = 0; t < T; t++) {
                assert_int_equal(tok1[b * T + t], (uint8_t)val[j * T + (size_t)t]);
                assert_int_equal(tgt1[b * T + t], (uint8_t)val[j * T + (size_t)t + 1]);
            }
        }
    }
    /* Wrapping: batch k and batch k + w read the same windows; negative k wraps too. */
    data_val_batch(d, 5, B, T, tok1, tgt1);
    data_val_batch(d, 5 + (int64_t)w, B, T, tok2, tgt2);
    assert_memory_equal(tok1, tok2, sizeof tok1);
    data_val_batch(d, -1, 1, T, tok1, tgt1);
    data_val_batch(d, (int64_t)w - 1, 1, T, tok2, tgt2);
    assert_memory_equal(tok1, tok2, T * sizeof(int32_t));
    /* Validation never reads training text: the first window starts the split. */
    data_val_batch(d, 0, 1, T, tok1, tgt1);
    for (int t = 0; t < T; t++)
        assert_int_equal(tok1[t], (uint8_t)val[t]);
    data_close(d);
    free(text);
}

/* A data-parallel rank's rows: each rank's part of the global batch is that batch's
 * rows, and every rank's rng ends where the whole batch leaves it. */
static void batch_rows(void **state)
{
    (void)state;
    char dir[1024], p[4096];
    tmp_dir("batch_rows", dir, sizeof dir);
    char *text = pattern_text(20000, ' ', 95, 9);
    write_text(dir, "t", text, p, sizeof p);
    const char *paths[] = {p};
    data_corpus *d = open_ok(paths, 1, 16, 0.2);
    enum { N = 3, b = 2, T = 16 };
    int32_t tok[N * b * T], tgt[N * b * T], rtok[b * T], rtgt[b * T];
    struct rng whole, rank;
    rng_seed(&whole, 77);
    for (int step = 0; step < 4; step++) {
        const struct rng before = whole;
        data_train_batch(d, &whole, N * b, T, tok, tgt);
        for (int r = 0; r < N; r++) {
            rank = before;
            data_train_rows(d, &rank, N * b, r * b, b, T, rtok, rtgt);
            assert_memory_equal(rtok, tok + r * b * T, sizeof rtok);
            assert_memory_equal(rtgt, tgt + r * b * T, sizeof rtgt);
            assert_memory_equal(&rank, &whole, sizeof rank);
        }
        for (int r = 0; r < N; r++) {
            data_val_batch(d, step, N * b, T, tok, tgt);
            data_val_rows(d, step, N * b, r * b, b, T, rtok, rtgt);
            assert_memory_equal(rtok, tok + r * b * T, sizeof rtok);
            assert_memory_equal(rtgt, tgt + r * b * T, sizeof rtgt);
        }
    }
    /* the rows differ between ranks: a rank does not read another's */
    struct rng a, c;
    rng_seed(&a, 5);
    c = a;
    data_train_rows(d, &a, N * b, 0, b, T, rtok, rtgt);
    data_train_rows(d, &c, N * b, b, b, T, tok, tgt);
    assert_memory_not_equal(rtok, tok, sizeof rtok);
    data_close(d);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(files_in_order), cmocka_unit_test(directory_order),
        cmocka_unit_test(split_sizes),    cmocka_unit_test(utf8_accepted),
        cmocka_unit_test(default_corpus), cmocka_unit_test(missing_and_empty),
        cmocka_unit_test(not_text),       cmocka_unit_test(ctx_too_long),
        cmocka_unit_test(train_batches),  cmocka_unit_test(val_batches),
        cmocka_unit_test(batch_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
