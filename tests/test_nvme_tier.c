/* The NVME tier: round trips of odd sizes at odd offsets through io_uring and
 * pread/pwrite, with O_DIRECT and buffered; copies to and from every tier of every
 * device; writers of neighbouring bytes at once; bad directories, a full disk and I/O
 * errors that say what failed; the log saying each fallback once; and no file left in
 * the directory, after a destroy or a SIGKILL. Root-only parts (a small tmpfs, a ramfs
 * that refuses O_DIRECT, a read-only directory) run in a child in a mount namespace of
 * its own, and say so where they cannot. */
#include "support/support.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/buffer.h"
#include "runtime/nvme_stream.h"
#include "runtime/tier_nvme.h"

#define MIB ((size_t)1 << 20)
#define SKIP 77 /* a child's exit status: this part cannot run here */

/* ---- helpers ----------------------------------------------------------------------- */

/* What the tier said in the log. */
typedef struct captured {
    pthread_mutex_t lock;
    int summaries, refused_direct, no_uring;
    char summary[512];
} captured;

static void capture(void *user, clt_log_level level, const char *message)
{
    captured *c = user;
    pthread_mutex_lock(&c->lock);
    if (level == CLT_LOG_INFO && strstr(message, "NVME tier: files in")) {
        c->summaries++;
        snprintf(c->summary, sizeof c->summary, "%s", message);
    }
    if (level == CLT_LOG_WARN && strstr(message, "O_DIRECT"))
        c->refused_direct++;
    if (level == CLT_LOG_WARN && strstr(message, "io_uring"))
        c->no_uring++;
    pthread_mutex_unlock(&c->lock);
}

/* A context on the host with NVME files in `dir` (NULL: the test's) and the log
 * captured (c may be NULL). */
static clt_status open_ctx(const char *dir, captured *c, clt_context **ctx)
{
    clt_context_opts opts;
    clt_context_opts_init(&opts);
    opts.nvme_dir = dir;
    opts.cache_dir = "";
    if (c) {
        memset(c, 0, sizeof *c);
        pthread_mutex_init(&c->lock, NULL);
        opts.log_fn = capture;
        opts.log_user = c;
        opts.log_level = CLT_LOG_DEBUG;
    }
    return ts_context_open("host", &opts, ctx);
}

/* A fresh, empty subdirectory of the test's temp dir. */
static void fresh_dir(const char *name, char *out, size_t size)
{
    ts_tmp_subdir(name, out, size);
    DIR *d = opendir(out);
    assert_non_null(d);
    struct dirent *e;
    char path[4200];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(path, sizeof path, "%s/%s", out, e->d_name);
            unlink(path);
        }
    closedir(d);
}

/* Entries of dir other than . and ..; -1 where it cannot be read. */
static int entries_in(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

static void fill_bytes(ts_rng *rng, unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(ts_rng_u64(rng) >> 24);
}

static void *aligned_block(size_t n)
{
    void *p = NULL;
    assert_int_equal(posix_memalign(&p, 4096, n), 0);
    return p;
}

/* The first byte where a and b differ, or n. */
static size_t first_difference(const unsigned char *a, const unsigned char *b, size_t n)
{
    size_t i = 0;
    while (i < n && a[i] == b[i])
        i++;
    return i;
}

/* Runs fn in a forked child and returns its exit status (128 + signal if killed). The
 * child reports failures on stderr; CMocka's assertions are not for it. */
static int in_child(int (*fn)(void *), void *arg)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(fn(arg));
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

#define CHILD_CHECK(cond, ...)                                                            \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "child: %s:%d: %s: ", __FILE__, __LINE__, #cond);             \
            fprintf(stderr, __VA_ARGS__);                                                 \
            fprintf(stderr, " (last error: %s)\n", clt_last_error());                     \
            return 1;                                                                     \
        }                                                                                 \
    } while (0)

/* In a child: a mount namespace of its own with `type` mounted on dir, gone when the
 * child exits. False (errno set) where this process may not. */
static bool private_mount(const char *type, const char *options, const char *dir)
{
    return unshare(CLONE_NEWNS) == 0 && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
           mount(type, dir, type, 0, options) == 0;
}

/* ---- round trips -------------------------------------------------------------------- */

#define RT_BYTES (12 * MIB + 4097)

static const char *io_label(clt_nvme_io io) { return io == CLT_NVME_IO_URING ? "uring" : "sync"; }

/* Whether the NVME tier can use io_uring here (asked on a context of its own); says so
 * when not. */
static bool uring_available(void)
{
    clt_context *ctx = NULL;
    clt_buffer *b = NULL;
    unsigned char byte = 1;
    ts_assert_ok(open_ctx(NULL, NULL, &ctx));
    ts_assert_ok(clt_nvme_configure(ctx, CLT_NVME_IO_URING, true));
    clt_status st = clt_buffer_create(ctx, 4096, CLT_TIER_NVME, &b);
    if (st == CLT_OK)
        st = clt_buffer_write(b, 0, &byte, 1, NULL);
    clt_buffer_destroy(b);
    clt_context_destroy(ctx);
    if (st != CLT_OK && ts_has_text(clt_last_error(), "io_uring")) {
        print_message("io_uring is unavailable here (%s): its part skipped\n",
                      clt_last_error());
        return false;
    }
    ts_assert_ok(st);
    return true;
}

/* Writes `n` bytes of fresh data at `off` from memory `skew` bytes past an aligned
 * address (0: the tier does direct I/O on it), reads them back into memory skewed the
 * other way, and checks the bytes around the range kept what `shadow` says. */
static void write_and_check(clt_buffer *b, unsigned char *shadow, ts_rng *rng, size_t off,
                            size_t n, size_t skew, unsigned char *src_block,
                            unsigned char *dst_block, const char *what)
{
    unsigned char *src = src_block + skew, *dst = dst_block + (skew ? 0 : 123);
    fill_bytes(rng, src, n);
    ts_assert_ok(clt_buffer_write(b, off, src, n, NULL));
    memcpy(shadow + off, src, n);
    memset(dst, 0, n);
    ts_assert_ok(clt_buffer_read(b, off, dst, n, NULL));
    size_t i = first_difference(dst, src, n);
    if (i < n)
        fail_msg("%s: %zu bytes at %zu (skew %zu) read back differ at byte %zu", what, n, off,
                 skew, i);
    /* up to two blocks either side: a read-modify-write must not have touched them */
    const size_t lo = off > 8192 ? off - 8192 : 0;
    const size_t hi = RT_BYTES - (off + n) > 8192 ? off + n + 8192 : RT_BYTES;
    ts_assert_ok(clt_buffer_read(b, lo, dst, hi - lo, NULL));
    i = first_difference(dst, shadow + lo, hi - lo);
    if (i < hi - lo)
        fail_msg("%s: after %zu bytes at %zu, byte %zu differs", what, n, off, lo + i);
}

static void round_trip_path(clt_nvme_io io, bool direct)
{
    char what[96];
    snprintf(what, sizeof what, "%s, %s", io_label(io), direct ? "O_DIRECT" : "buffered");
    if (io == CLT_NVME_IO_URING && !uring_available())
        return;
    captured log;
    clt_context *ctx = NULL;
    ts_assert_ok(open_ctx(NULL, &log, &ctx));
    ts_assert_ok(clt_nvme_configure(ctx, io, direct));
    assert_int_equal(clt_nvme_uses_uring(ctx), io == CLT_NVME_IO_URING);

    clt_buffer *b = NULL;
    ts_assert_ok(clt_buffer_create(ctx, RT_BYTES, CLT_TIER_NVME, &b));
    const bool is_direct = (fcntl(b->fd, F_GETFL) & O_DIRECT) != 0;
    if (!direct)
        assert_false(is_direct);
    else if (!is_direct && log.refused_direct != 1)
        fail_msg("%s: the file has no O_DIRECT and the log did not say why", what);
    print_message("%s: %s\n", what, log.summary);

    ts_rng rng;
    ts_rng_seed(&rng, 11);
    unsigned char *shadow = malloc(RT_BYTES), *all = malloc(RT_BYTES);
    unsigned char *src = aligned_block(RT_BYTES + 8192), *dst = aligned_block(RT_BYTES + 8192);
    assert_non_null(shadow);
    assert_non_null(all);
    fill_bytes(&rng, shadow, RT_BYTES);
    ts_assert_ok(clt_buffer_write(b, 0, shadow, RT_BYTES, NULL));

    const size_t sizes[] = {1, 4095, 4096, 4097, MIB - 1, MIB, MIB + 1, 9 * MIB + 123};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        const size_t n = sizes[s];
        const size_t offs[] = {0, 1, 4095, 4096, 4097, 777777, RT_BYTES - n, RT_BYTES - n - 1};
        for (size_t k = 0; k < sizeof offs / sizeof offs[0]; k++) {
            const size_t skew = (s + k) % 3 == 0 ? 0 : (s * 7 + k * 13) % 4096;
            write_and_check(b, shadow, &rng, offs[k], n, skew, src, dst, what);
        }
        memset(all, 0, RT_BYTES);
        ts_assert_ok(clt_buffer_read(b, 0, all, RT_BYTES, NULL));
        size_t i = first_difference(all, shadow, RT_BYTES);
        if (i < RT_BYTES)
            fail_msg("%s: after the writes of %zu bytes, byte %zu differs", what, n, i);
    }
    /* a second buffer: the summary is said once per context */
    clt_buffer *b2 = NULL;
    ts_assert_ok(clt_buffer_create(ctx, 5, CLT_TIER_NVME, &b2));
    ts_assert_ok(clt_buffer_write(b2, 1, "abcd", 4, NULL));
    char got[4];
    ts_assert_ok(clt_buffer_read(b2, 1, got, 4, NULL));
    assert_memory_equal(got, "abcd", 4);
    assert_int_equal(log.summaries, 1);
    assert_true(ts_has_text(log.summary, direct && is_direct ? "O_DIRECT" : "buffered"));
    assert_true(ts_has_text(log.summary, io == CLT_NVME_IO_URING ? "io_uring" : "pread/pwrite"));
    clt_buffer_destroy(b2);
    clt_buffer_destroy(b);
    clt_context_destroy(ctx);
    free(shadow);
    free(all);
    free(src);
    free(dst);
}

static void round_trips_uring_direct(void **state)
{
    (void)state;
    round_trip_path(CLT_NVME_IO_URING, true);
}
static void round_trips_uring_buffered(void **state)
{
    (void)state;
    round_trip_path(CLT_NVME_IO_URING, false);
}
static void round_trips_sync_direct(void **state)
{
    (void)state;
    round_trip_path(CLT_NVME_IO_SYNC, true);
}
static void round_trips_sync_buffered(void **state)
{
    (void)state;
    round_trip_path(CLT_NVME_IO_SYNC, false);
}

/* $CLT_NVME_IO picks the path at the first NVME buffer; a bad value is a clear error. */
static void io_from_environment(void **state)
{
    (void)state;
    static const char *const values[] = {"sync", "uring", "auto", "bogus"};
    for (int i = 0; i < 4; i++) {
        setenv("CLT_NVME_IO", values[i], 1);
        clt_context *ctx = NULL;
        ts_assert_ok(open_ctx(NULL, NULL, &ctx));
        clt_buffer *b = NULL;
        clt_status st = clt_buffer_create(ctx, 100, CLT_TIER_NVME, &b);
        if (i == 3) {
            assert_int_equal(st, CLT_ERR_INVALID_ARG);
            ts_assert_error_mentions("CLT_NVME_IO");
            ts_assert_error_mentions("bogus");
        } else if (i == 1 && st != CLT_OK) {
            ts_assert_error_mentions("io_uring"); /* none here: said so */
        } else {
            ts_assert_ok(st);
            if (i == 0)
                assert_false(clt_nvme_uses_uring(ctx));
            if (i == 1)
                assert_true(clt_nvme_uses_uring(ctx));
        }
        clt_buffer_destroy(b);
        clt_context_destroy(ctx);
    }
    unsetenv("CLT_NVME_IO");
}

/* ---- several threads on one buffer ---------------------------------------------------- */

#define PIECE 1000
#define PIECES 3000

struct writer {
    clt_buffer *buf;
    int parity;
    clt_status status;
};

/* Pieces of PIECE bytes, every other one: neighbours share a block with the other
 * thread's pieces, so a read-modify-write without the lock would lose bytes. */
static void *write_pieces(void *arg)
{
    struct writer *w = arg;
    unsigned char piece[PIECE];
    w->status = CLT_OK;
    for (int i = w->parity; i < PIECES && w->status == CLT_OK; i += 2) {
        memset(piece, (unsigned char)(i * 31 + 7), PIECE);
        w->status = clt_buffer_write(w->buf, (size_t)i * PIECE, piece, PIECE, NULL);
    }
    return NULL;
}

static void concurrent_writers(void **state)
{
    (void)state;
    for (clt_nvme_io io = CLT_NVME_IO_SYNC; io <= CLT_NVME_IO_URING; io++) {
        if (io == CLT_NVME_IO_URING && !uring_available())
            continue;
        clt_context *ctx = NULL;
        ts_assert_ok(open_ctx(NULL, NULL, &ctx));
        ts_assert_ok(clt_nvme_configure(ctx, io, true));
        clt_buffer *b = NULL;
        ts_assert_ok(clt_buffer_create(ctx, (size_t)PIECES * PIECE, CLT_TIER_NVME, &b));
        struct writer w[2] = {{b, 0, CLT_OK}, {b, 1, CLT_OK}};
        pthread_t t[2];
        for (int i = 0; i < 2; i++)
            assert_int_equal(pthread_create(&t[i], NULL, write_pieces, &w[i]), 0);
        for (int i = 0; i < 2; i++) {
            pthread_join(t[i], NULL);
            ts_assert_ok(w[i].status);
        }
        unsigned char *all = ts_download_all(b);
        for (int i = 0; i < PIECES; i++)
            for (int j = 0; j < PIECE; j++)
                if (all[(size_t)i * PIECE + (size_t)j] != (unsigned char)(i * 31 + 7))
                    fail_msg("%s: piece %d byte %d lost", io_label(io), i, j);
        free(all);
        clt_buffer_destroy(b);
        clt_context_destroy(ctx);
    }
}

/* ---- copies on every device --------------------------------------------------------------- */

/* More than two of copy_through_bounce's chunks, at offsets that fit none of them. */
#define COPY_BYTES (35 * MIB + 5)
#define COPY_BUF (COPY_BYTES + 8192)

static void copies_to_and_from_every_tier(void **state)
{
    const char *device = *state;
    clt_context *ctx = ts_context(device);
    ts_rng rng;
    ts_rng_seed(&rng, 5);
    unsigned char *data = malloc(COPY_BUF), *got = malloc(COPY_BYTES);
    assert_non_null(data);
    assert_non_null(got);
    fill_bytes(&rng, data, COPY_BUF);
    clt_buffer *nvme = ts_buffer(ctx, CLT_TIER_NVME, COPY_BUF, data);
    for (int t = 0; t < CLT_TIER_COUNT; t++) {
        const char *tier = clt_tier_name((clt_tier)t);
        clt_buffer *other = ts_buffer(ctx, (clt_tier)t, COPY_BUF, NULL);
        /* NVME -> tier, offsets 4097 -> 3 */
        ts_assert_ok(clt_buffer_copy(other, 3, nvme, 4097, COPY_BYTES, NULL));
        memset(got, 0, COPY_BYTES);
        ts_assert_ok(clt_buffer_read(other, 3, got, COPY_BYTES, NULL));
        size_t i = first_difference(got, data + 4097, COPY_BYTES);
        if (i < COPY_BYTES)
            fail_msg("%s: NVME -> %s differs at byte %zu", device, tier, i);
        /* tier -> NVME, back 11 bytes further on */
        ts_assert_ok(clt_buffer_copy(nvme, 11, other, 3, COPY_BYTES, NULL));
        memset(got, 0, COPY_BYTES);
        ts_assert_ok(clt_buffer_read(nvme, 11, got, COPY_BYTES, NULL));
        i = first_difference(got, data + 4097, COPY_BYTES);
        if (i < COPY_BYTES)
            fail_msg("%s: %s -> NVME differs at byte %zu", device, tier, i);
        memmove(data + 11, data + 4097, COPY_BYTES);
        ts_assert_buffer_equals(nvme, data, COPY_BUF);
        clt_buffer_destroy(other);
    }
    clt_buffer_destroy(nvme);
    clt_context_destroy(ctx);
    free(data);
    free(got);
}

/* ---- directories, full disks, I/O errors ----------------------------------------------- */

static void expect_create_fails(const char *dir, const char *must_mention)
{
    clt_context *ctx = NULL;
    ts_assert_ok(open_ctx(dir, NULL, &ctx));
    clt_buffer *b = (clt_buffer *)&b;
    assert_int_equal(clt_buffer_create(ctx, 4096, CLT_TIER_NVME, &b), CLT_ERR_IO);
    assert_null(b);
    ts_assert_error_mentions("NVME");
    ts_assert_error_mentions(dir);
    ts_assert_error_mentions(must_mention);
    clt_stats stats;
    ts_assert_ok(clt_context_stats(ctx, &stats));
    assert_int_equal(stats.mem_used[CLT_TIER_NVME], 0);
    clt_context_destroy(ctx);
}

static int read_only_child(void *arg)
{
    const char *dir = arg;
    /* root writes anywhere: a read-only directory is one only for somebody else */
    if (geteuid() == 0 && setuid(65534) != 0)
        return SKIP;
    clt_context *ctx = NULL;
    CHILD_CHECK(open_ctx(dir, NULL, &ctx) == CLT_OK, "context");
    clt_buffer *b = NULL;
    clt_status st = clt_buffer_create(ctx, 4096, CLT_TIER_NVME, &b);
    CHILD_CHECK(st == CLT_ERR_IO, "status %s", clt_status_name(st));
    CHILD_CHECK(ts_has_text(clt_last_error(), dir) && ts_has_text(clt_last_error(), "NVME"),
                "error text");
    CHILD_CHECK(ts_has_text(clt_last_error(), strerror(EACCES)), "error text");
    clt_context_destroy(ctx);
    return 0;
}

static void bad_directories(void **state)
{
    (void)state;
    expect_create_fails("/nonexistent/clt-test/nvme", strerror(ENOENT));
    char file[4200], ro[4096];
    ts_tmp_subdir("nvme-ro", ro, sizeof ro);
    snprintf(file, sizeof file, "%s/plain-file", ro);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    expect_create_fails(file, strerror(ENOTDIR));
    unlink(file);
    assert_int_equal(chmod(ro, 0555), 0);
    int rc = in_child(read_only_child, ro);
    chmod(ro, 0755);
    if (rc == SKIP)
        print_message("read-only directory: cannot drop root here, skipped\n");
    else
        assert_int_equal(rc, 0);
}

/* A file larger than RLIMIT_FSIZE cannot be reserved: out of memory in tier NVME. */
static int fsize_limit_child(void *arg)
{
    (void)arg;
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = {8 * MIB, 8 * MIB};
    CHILD_CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0, "setrlimit");
    clt_context *ctx = NULL;
    CHILD_CHECK(open_ctx(NULL, NULL, &ctx) == CLT_OK, "context");
    clt_buffer *small = NULL, *big = NULL;
    CHILD_CHECK(clt_buffer_create(ctx, 4 * MIB, CLT_TIER_NVME, &small) == CLT_OK, "4 MiB");
    clt_status st = clt_buffer_create(ctx, 16 * MIB, CLT_TIER_NVME, &big);
    CHILD_CHECK(st == CLT_ERR_OUT_OF_MEMORY, "status %s", clt_status_name(st));
    CHILD_CHECK(ts_has_text(clt_last_error(), "out of memory in tier NVME"), "text");
    CHILD_CHECK(ts_has_text(clt_last_error(), "16777216"), "bytes");
    CHILD_CHECK(ts_has_text(clt_last_error(), ts_tmp_dir()), "directory");
    clt_buffer_destroy(small);
    clt_context_destroy(ctx);
    return 0;
}

/* Writes past RLIMIT_FSIZE into a file made before the limit: the write stops short at
 * the limit, then fails with EFBIG (out of memory in tier NVME), through either path. */
static int write_limit_child(void *arg)
{
    const clt_nvme_io io = *(const clt_nvme_io *)arg;
    signal(SIGXFSZ, SIG_IGN);
    clt_context *ctx = NULL;
    CHILD_CHECK(open_ctx(NULL, NULL, &ctx) == CLT_OK, "context");
    CHILD_CHECK(clt_nvme_configure(ctx, io, true) == CLT_OK, "configure");
    clt_buffer *b = NULL;
    CHILD_CHECK(clt_buffer_create(ctx, 16 * MIB, CLT_TIER_NVME, &b) == CLT_OK, "buffer");
    struct rlimit lim = {6 * MIB + 8192, 6 * MIB + 8192};
    CHILD_CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0, "setrlimit");
    unsigned char *data = calloc(1, 8 * MIB);
    CHILD_CHECK(data != NULL, "memory");
    /* two requests: the second stops short at the limit, its rest fails */
    clt_status st = clt_buffer_write(b, 0, data, 8 * MIB, NULL);
    CHILD_CHECK(st == CLT_ERR_OUT_OF_MEMORY, "status %s", clt_status_name(st));
    CHILD_CHECK(ts_has_text(clt_last_error(), "tier NVME") &&
                    ts_has_text(clt_last_error(), "offset 6299648"),
                "error text");
    /* below the limit all is well */
    CHILD_CHECK(clt_buffer_write(b, 1, data, 6 * MIB, NULL) == CLT_OK, "write below");
    /* a copy through the bounce chunks fails there too, with the next chunk's read under
     * way, and waits for it */
    clt_buffer *pinned = NULL;
    CHILD_CHECK(clt_buffer_create(ctx, 16 * MIB, CLT_TIER_HOST_PINNED, &pinned) == CLT_OK,
                "pinned");
    st = clt_buffer_copy(b, 0, pinned, 0, 16 * MIB, NULL);
    CHILD_CHECK(st == CLT_ERR_OUT_OF_MEMORY, "copy: status %s", clt_status_name(st));
    CHILD_CHECK(ts_has_text(clt_last_error(), "tier NVME"), "copy: error text");
    CHILD_CHECK(clt_buffer_copy(b, 4096, pinned, 0, 4 * MIB, NULL) == CLT_OK, "copy below");
    clt_buffer_destroy(pinned);
    free(data);
    clt_buffer_destroy(b);
    clt_context_destroy(ctx);
    return 0;
}

/* A tmpfs of 8 MiB: the third 3 MiB buffer does not fit, and says so. */
static int small_tmpfs_child(void *arg)
{
    const char *dir = arg;
    if (!private_mount("tmpfs", "size=8m", dir))
        return SKIP;
    clt_context *ctx = NULL;
    CHILD_CHECK(open_ctx(dir, NULL, &ctx) == CLT_OK, "context");
    clt_buffer *b[3] = {NULL, NULL, NULL};
    for (int i = 0; i < 2; i++)
        CHILD_CHECK(clt_buffer_create(ctx, 3 * MIB, CLT_TIER_NVME, &b[i]) == CLT_OK, "%d", i);
    clt_status st = clt_buffer_create(ctx, 3 * MIB, CLT_TIER_NVME, &b[2]);
    CHILD_CHECK(st == CLT_ERR_OUT_OF_MEMORY, "status %s", clt_status_name(st));
    CHILD_CHECK(ts_has_text(clt_last_error(), "out of memory in tier NVME") &&
                    ts_has_text(clt_last_error(), dir) &&
                    ts_has_text(clt_last_error(), "3145728"),
                "error text");
    /* the space of the refused file came back: a smaller one fits */
    clt_buffer *c = NULL;
    CHILD_CHECK(clt_buffer_create(ctx, MIB, CLT_TIER_NVME, &c) == CLT_OK, "1 MiB after");
    CHILD_CHECK(clt_buffer_write(c, 5, "xyz", 3, NULL) == CLT_OK, "write");
    clt_buffer_destroy(c);
    clt_buffer_destroy(b[0]);
    clt_buffer_destroy(b[1]);
    clt_context_destroy(ctx);
    CHILD_CHECK(entries_in(dir) == 0, "files left");
    return 0;
}

static void full_disk(void **state)
{
    (void)state;
    assert_int_equal(in_child(fsize_limit_child, NULL), 0);
    for (clt_nvme_io io = CLT_NVME_IO_SYNC; io <= CLT_NVME_IO_URING; io++)
        if (io != CLT_NVME_IO_URING || uring_available())
            assert_int_equal(in_child(write_limit_child, &io), 0);
    char dir[4096];
    fresh_dir("nvme-tmpfs", dir, sizeof dir);
    int rc = in_child(small_tmpfs_child, dir);
    if (rc == SKIP)
        print_message("small tmpfs: cannot mount one here, skipped (RLIMIT_FSIZE ran)\n");
    else
        assert_int_equal(rc, 0);
}

/* A file system that refuses O_DIRECT (ramfs): buffered I/O, said once. */
static int ramfs_child(void *arg)
{
    const char *dir = arg;
    if (!private_mount("ramfs", NULL, dir))
        return SKIP;
    captured log;
    clt_context *ctx = NULL;
    CHILD_CHECK(open_ctx(dir, &log, &ctx) == CLT_OK, "context");
    clt_buffer *b[2] = {NULL, NULL};
    for (int i = 0; i < 2; i++) {
        CHILD_CHECK(clt_buffer_create(ctx, 3 * MIB + 7, CLT_TIER_NVME, &b[i]) == CLT_OK, "%d", i);
        CHILD_CHECK(!(fcntl(b[i]->fd, F_GETFL) & O_DIRECT), "O_DIRECT on ramfs");
    }
    CHILD_CHECK(log.refused_direct == 1, "said %d times", log.refused_direct);
    CHILD_CHECK(ts_has_text(log.summary, "buffered"), "summary '%s'", log.summary);
    unsigned char data[9000], got[9000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i * 13);
    CHILD_CHECK(clt_buffer_write(b[1], 4095, data, sizeof data, NULL) == CLT_OK, "write");
    CHILD_CHECK(clt_buffer_read(b[1], 4095, got, sizeof got, NULL) == CLT_OK, "read");
    CHILD_CHECK(memcmp(got, data, sizeof data) == 0, "round trip");
    clt_context_destroy(ctx);
    return 0;
}

static void refused_direct_io(void **state)
{
    (void)state;
    char dir[4096];
    fresh_dir("nvme-ramfs", dir, sizeof dir);
    int rc = in_child(ramfs_child, dir);
    if (rc == SKIP)
        print_message("ramfs: cannot mount one here, skipped (buffered I/O is tested by "
                      "the round trips)\n");
    else
        assert_int_equal(rc, 0);
}

/* Errors of the I/O itself name the tier, the offset and the bytes: a write to a file
 * open read-only, a read past the end of a file (through the short read). */
static void io_errors(void **state)
{
    (void)state;
    char dir[4096], path[4200];
    fresh_dir("nvme-errors", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/short", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)(4 * MIB + 4096)), 0);
    int ro = open(path, O_RDONLY);
    assert_true(ro >= 0);
    unsigned char *mem = aligned_block(8 * MIB);
    for (clt_nvme_io io = CLT_NVME_IO_SYNC; io <= CLT_NVME_IO_URING; io++) {
        if (io == CLT_NVME_IO_URING && !uring_available())
            continue;
        clt_context *ctx = NULL;
        ts_assert_ok(open_ctx(dir, NULL, &ctx));
        ts_assert_ok(clt_nvme_configure(ctx, io, true));
        assert_int_equal(clt_nvme_write(ctx, ro, 8192, mem, 2 * MIB), CLT_ERR_IO);
        ts_assert_error_mentions("NVME");
        ts_assert_error_mentions("write of 2097152 bytes at offset 8192");
        ts_assert_error_mentions(strerror(EBADF));
        /* the first chunk is whole, the second ends early */
        assert_int_equal(clt_nvme_read(ctx, fd, 0, mem, 8 * MIB), CLT_ERR_IO);
        ts_assert_error_mentions("NVME");
        ts_assert_error_mentions("ended early");
        ts_assert_error_mentions("at offset 4198400");
        /* unaligned, past the end */
        assert_int_equal(clt_nvme_read(ctx, fd, 5 * MIB + 1, mem + 1, 100), CLT_ERR_IO);
        ts_assert_error_mentions("ended early");
        clt_context_destroy(ctx);
    }
    free(mem);
    close(ro);
    close(fd);
    unlink(path);
}

/* ---- a kernel that gives no ring --------------------------------------------------- */

/* In a child: io_uring_setup fails with ENOSYS from now on, as under a container's
 * seccomp profile or on a kernel without io_uring. */
static bool refuse_io_uring(void)
{
#ifdef __NR_io_uring_setup
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {sizeof filter / sizeof filter[0], filter};
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
           prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
#else
    return false;
#endif
}

static int no_uring_child(void *arg)
{
    (void)arg;
    if (!refuse_io_uring())
        return SKIP;
    captured log;
    clt_context *ctx = NULL;
    CHILD_CHECK(open_ctx(NULL, &log, &ctx) == CLT_OK, "context");
    clt_buffer *b[2] = {NULL, NULL};
    unsigned char data[3 * 4096 + 5], got[sizeof data];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i * 7 + 3);
    for (int i = 0; i < 2; i++) {
        CHILD_CHECK(clt_buffer_create(ctx, 9 * MIB + 123, CLT_TIER_NVME, &b[i]) == CLT_OK,
                    "buffer %d", i);
        CHILD_CHECK(clt_buffer_write(b[i], 4097, data, sizeof data, NULL) == CLT_OK, "write");
        CHILD_CHECK(clt_buffer_read(b[i], 4097, got, sizeof got, NULL) == CLT_OK, "read");
        CHILD_CHECK(memcmp(got, data, sizeof data) == 0, "round trip");
    }
    CHILD_CHECK(!clt_nvme_uses_uring(ctx), "still io_uring");
    CHILD_CHECK(log.no_uring == 1, "said %d times", log.no_uring);
    CHILD_CHECK(ts_has_text(log.summary, "pread/pwrite"), "summary '%s'", log.summary);
    clt_context_destroy(ctx);
    /* insisting on io_uring: the buffer is refused, saying why */
    setenv("CLT_NVME_IO", "uring", 1);
    CHILD_CHECK(open_ctx(NULL, NULL, &ctx) == CLT_OK, "context");
    clt_buffer *c = (clt_buffer *)&c;
    clt_status st = clt_buffer_create(ctx, 4096, CLT_TIER_NVME, &c);
    CHILD_CHECK(st == CLT_ERR_IO && c == NULL, "status %s", clt_status_name(st));
    CHILD_CHECK(ts_has_text(clt_last_error(), "CLT_NVME_IO=uring") &&
                    ts_has_text(clt_last_error(), strerror(ENOSYS)),
                "error text");
    clt_context_destroy(ctx);
    return 0;
}

static void falls_back_without_io_uring(void **state)
{
    (void)state;
    int rc = in_child(no_uring_child, NULL);
    if (rc == SKIP)
        print_message("cannot install a seccomp filter here: skipped\n");
    else
        assert_int_equal(rc, 0);
}

/* ---- nothing left behind ------------------------------------------------------------ */

struct writer_pipe {
    int fds[2]; /* the child says on fds[1] that it has written once */
    const char *dir;
};

static int writer_child(void *arg)
{
    const struct writer_pipe *p = arg;
    close(p->fds[0]);
    clt_context *ctx = NULL;
    CHILD_CHECK(open_ctx(p->dir, NULL, &ctx) == CLT_OK, "context");
    clt_buffer *b = NULL;
    CHILD_CHECK(clt_buffer_create(ctx, 64 * MIB, CLT_TIER_NVME, &b) == CLT_OK, "buffer");
    unsigned char *data = calloc(1, 64 * MIB);
    CHILD_CHECK(data != NULL, "memory");
    bool told = false;
    for (;;) { /* until killed */
        CHILD_CHECK(clt_buffer_write(b, 3, data, 64 * MIB - 3, NULL) == CLT_OK, "write");
        if (!told) {
            told = write(p->fds[1], "w", 1) == 1;
            CHILD_CHECK(told, "pipe");
        }
    }
}

static void no_files_left(void **state)
{
    (void)state;
    char dir[4096];
    fresh_dir("nvme-left", dir, sizeof dir);
    clt_context *ctx = NULL;
    ts_assert_ok(open_ctx(dir, NULL, &ctx));
    clt_buffer *b[3];
    for (int i = 0; i < 3; i++)
        b[i] = ts_buffer(ctx, CLT_TIER_NVME, MIB + (size_t)i, NULL);
    assert_int_equal(entries_in(dir), 0); /* nameless from the start */
    clt_buffer_destroy(b[1]);
    clt_context_destroy(ctx); /* destroys the other two */
    assert_int_equal(entries_in(dir), 0);

    /* a child killed in the middle of a write */
    struct writer_pipe pipe_and_dir = {.dir = dir};
    assert_int_equal(pipe(pipe_and_dir.fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(writer_child(&pipe_and_dir));
    close(pipe_and_dir.fds[1]);
    char c;
    assert_int_equal(read(pipe_and_dir.fds[0], &c, 1), 1); /* it has written once */
    usleep(20000);                                            /* and is writing again */
    assert_int_equal(kill(pid, SIGKILL), 0);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    close(pipe_and_dir.fds[0]);
    assert_int_equal(entries_in(dir), 0);
}

int main(void)
{
    unsetenv("CLT_NVME_IO");
    unsetenv("CLT_NVME_MEM");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trips_uring_direct),
        cmocka_unit_test(round_trips_uring_buffered),
        cmocka_unit_test(round_trips_sync_direct),
        cmocka_unit_test(round_trips_sync_buffered),
        cmocka_unit_test(io_from_environment),
        cmocka_unit_test(falls_back_without_io_uring),
        cmocka_unit_test(concurrent_writers),
        cmocka_unit_test(bad_directories),
        cmocka_unit_test(full_disk),
        cmocka_unit_test(refused_direct_io),
        cmocka_unit_test(io_errors),
        cmocka_unit_test(no_files_left),
    };
    int failed = cmocka_run_group_tests_name("nvme_tier", tests, NULL, NULL);
    const ts_device_test per_device[] = {
        {"copies_to_and_from_every_tier", copies_to_and_from_every_tier},
    };
    return failed + ts_run_per_device("nvme_tier_copies", per_device,
                                      sizeof per_device / sizeof per_device[0]);
}
