/* clt-bench offload (bench_offload.h): measuring and reporting the NVMe part. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "bench/bench_offload.h"
#include "bench/bench_rounds.h"
#include "common/json_writer.h"

#define ALIGN ((size_t)4096)
#define RAW_BLOCK ((size_t)4 << 20)
#define CHECK_CHUNK ((size_t)4 << 20)

static const char *const row_names[OFFLOAD_ROWS] = {
    "raw_write", "raw_read", "nvme_write", "nvme_read", "pinned_write", "pinned_read"};
static const char *const row_titles[OFFLOAD_ROWS] = {
    "raw O_DIRECT write", "raw O_DIRECT read", "HOST -> NVME",
    "NVME -> HOST",       "HOST_PINNED -> NVME", "NVME -> HOST_PINNED"};
static const char *const ratio_names[OFFLOAD_RATIOS] = {
    "nvme_write_over_raw", "nvme_read_over_raw", "pinned_write_over_raw",
    "pinned_read_over_raw"};
/* Each ratio: a tier row over the raw row of its direction; issue 8's goal for all. */
#define RATIO_GOAL 0.8
static const int ratio_rows[OFFLOAD_RATIOS][2] = {
    {OFFLOAD_NVME_WRITE, OFFLOAD_RAW_WRITE},
    {OFFLOAD_NVME_READ, OFFLOAD_RAW_READ},
    {OFFLOAD_PINNED_WRITE, OFFLOAD_RAW_WRITE},
    {OFFLOAD_PINNED_READ, OFFLOAD_RAW_READ}};

/* ---- where the files go ------------------------------------------------------------- */

/* The directory the context would choose by itself, so both sides use the same one. */
static const char *resolve_dir(const char *given)
{
    const char *env = getenv("CLT_NVME_DIR");
    if (given)
        return given;
    if (env && *env)
        return env;
    env = getenv("TMPDIR");
    return env && *env ? env : "/tmp";
}

static void describe_dir(const char *dir, offload_report *rep)
{
    static const struct {
        long magic;
        const char *name;
    } types[] = {{0xEF53, "ext4"},      {0x58465342, "xfs"},  {0x9123683E, "btrfs"},
                 {0x01021994, "tmpfs"}, {0x858458F6, "ramfs"}, {0x794C7630, "overlay"},
                 {0x6969, "nfs"},       {0x2FC12FC1, "zfs"},  {0xF2F52010, "f2fs"}};
    struct statfs fs;
    if (statfs(dir, &fs) == 0) {
        snprintf(rep->fs_type, sizeof rep->fs_type, "0x%lx", (long)fs.f_type);
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if ((long)fs.f_type == types[i].magic)
                snprintf(rep->fs_type, sizeof rep->fs_type, "%s", types[i].name);
    }
    struct stat st;
    char link[64], target[PATH_MAX];
    if (stat(dir, &st) != 0)
        return;
    snprintf(link, sizeof link, "/sys/dev/block/%u:%u", major(st.st_dev), minor(st.st_dev));
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n <= 0)
        return;
    target[n] = '\0';
    const char *base = strrchr(target, '/');
    snprintf(rep->block_device, sizeof rep->block_device, "%.63s", base ? base + 1 : target);
}

/* ---- the raw side -------------------------------------------------------------------- */

struct raw_file {
    int fd;
    unsigned char *block; /* RAW_BLOCK bytes, aligned */
    size_t bytes;
    char error[256];
};

/* A nameless file in dir (O_TMPFILE, else a named one unlinked at once), with O_DIRECT
 * where the file system takes it. */
static bool raw_open(const char *dir, struct raw_file *raw, bool *direct, char *error,
                     size_t error_size)
{
    int f = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (f < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/clt-bench-XXXXXX", dir);
        f = mkostemp(path, O_CLOEXEC);
        if (f >= 0)
            unlink(path);
    }
    if (f < 0) {
        snprintf(error, error_size, "cannot make a file in '%s': %s", dir, strerror(errno));
        return false;
    }
    const int flags = fcntl(f, F_GETFL);
    *direct = flags >= 0 && fcntl(f, F_SETFL, flags | O_DIRECT) == 0;
    int err = posix_fallocate(f, 0, (off_t)raw->bytes);
    if (err) {
        snprintf(error, error_size, "cannot reserve %zu bytes in '%s': %s", raw->bytes, dir,
                 strerror(err));
        close(f);
        return false;
    }
    raw->fd = f;
    return true;
}

static bool raw_move(struct raw_file *raw, bool write)
{
    for (size_t off = 0; off < raw->bytes;) {
        const size_t n = raw->bytes - off < RAW_BLOCK ? raw->bytes - off : RAW_BLOCK;
        ssize_t r = write ? pwrite(raw->fd, raw->block, n, (off_t)off)
                          : pread(raw->fd, raw->block, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            snprintf(raw->error, sizeof raw->error, "failed: raw %s at offset %zu: %s",
                     write ? "write" : "read", off, r < 0 ? strerror(errno) : "end of file");
            return false;
        }
        off += (size_t)r;
    }
    return true;
}

static bool raw_write(void *user) { return raw_move(user, true); }
static bool raw_read(void *user) { return raw_move(user, false); }

/* ---- the tier's side ------------------------------------------------------------------ */

struct tier_copy {
    clt_buffer *dst, *src;
    size_t bytes;
    char error[256];
};

static bool tier_copy(void *user)
{
    struct tier_copy *c = user;
    clt_status st = clt_buffer_copy(c->dst, 0, c->src, 0, c->bytes, NULL);
    if (st != CLT_OK)
        snprintf(c->error, sizeof c->error, "failed: %s", clt_last_error());
    return st == CLT_OK;
}

/* What the tier says about itself in the log. */
struct tier_log {
    pthread_mutex_t lock;
    char io[512], warnings[512];
};

static void on_log(void *user, clt_log_level level, const char *message)
{
    struct tier_log *log = user;
    if (!strstr(message, "NVME tier"))
        return;
    pthread_mutex_lock(&log->lock);
    if (level == CLT_LOG_INFO && strstr(message, "files in"))
        snprintf(log->io, sizeof log->io, "%s", message);
    if (level <= CLT_LOG_WARN) {
        size_t used = strlen(log->warnings);
        snprintf(log->warnings + used, sizeof log->warnings - used, "%s%s", used ? "; " : "",
                 message);
    }
    pthread_mutex_unlock(&log->lock);
}

/* The bytes the transfers move: position-dependent, so a misplaced chunk shows. */
static void pattern(unsigned char *p, size_t off, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t x = (uint64_t)(off + i) * 0x9E3779B97F4A7C15ull;
        p[i] = (unsigned char)((x ^ (x >> 29)) >> 32);
    }
}

static clt_status fill(clt_buffer *buf, size_t bytes, unsigned char *chunk)
{
    clt_status st = CLT_OK;
    for (size_t off = 0; off < bytes && st == CLT_OK; off += CHECK_CHUNK) {
        const size_t n = bytes - off < CHECK_CHUNK ? bytes - off : CHECK_CHUNK;
        pattern(chunk, off, n);
        st = clt_buffer_write(buf, off, chunk, n, NULL);
    }
    return st;
}

/* Whether buf holds the pattern. */
static bool holds_pattern(clt_buffer *buf, size_t bytes, unsigned char *chunk,
                          unsigned char *want)
{
    for (size_t off = 0; off < bytes; off += CHECK_CHUNK) {
        const size_t n = bytes - off < CHECK_CHUNK ? bytes - off : CHECK_CHUNK;
        pattern(want, off, n);
        if (clt_buffer_read(buf, off, chunk, n, NULL) != CLT_OK || memcmp(chunk, want, n))
            return false;
    }
    return true;
}

/* ---- the run ------------------------------------------------------------------------ */

int bench_offload_run(const offload_bench_opts *opts, offload_report *rep)
{
    const char *dir = resolve_dir(opts->nvme_dir);
    const size_t bytes = (opts->bytes + ALIGN - 1) & ~(ALIGN - 1);
    struct tier_log log = {.io = "", .warnings = ""};
    struct raw_file raw = {.fd = -1, .bytes = bytes};
    struct tier_copy copies[OFFLOAD_ROWS];
    bench_call calls[OFFLOAD_ROWS] = {NULL};
    void *users[OFFLOAD_ROWS] = {NULL};
    bench_samples *samples = calloc(OFFLOAD_ROWS, sizeof *samples);
    clt_context *ctx = NULL;
    clt_buffer *host = NULL, *pinned = NULL, *nvme = NULL;
    unsigned char *chunk = malloc(CHECK_CHUNK), *want = malloc(CHECK_CHUNK);
    void *block = NULL;
    bool failed = false;

    pthread_mutex_init(&log.lock, NULL);
    memset(copies, 0, sizeof copies);
    rep->bytes = bytes;
    rep->repeat = opts->repeat;
    snprintf(rep->nvme_dir, sizeof rep->nvme_dir, "%s", dir);
    describe_dir(dir, rep);
    for (int i = 0; i < OFFLOAD_RATIOS; i++)
        rep->ratios[i] = NAN;
    if (!samples || !chunk || !want || posix_memalign(&block, ALIGN, RAW_BLOCK) != 0) {
        snprintf(rep->error, sizeof rep->error, "out of host memory");
        failed = true;
        goto done;
    }
    raw.block = block;
    pattern(raw.block, 0, RAW_BLOCK);

    clt_context_opts co;
    clt_context_opts_init(&co);
    co.device = opts->device;
    co.nvme_dir = dir;
    co.log_fn = on_log;
    co.log_user = &log;
    co.log_level = CLT_LOG_INFO;
    clt_status st = clt_context_create(&co, &ctx);
    if (st == CLT_OK)
        st = clt_context_device(ctx, &rep->device);
    if (st != CLT_OK) {
        snprintf(rep->error, sizeof rep->error, "cannot open %s: %s: %s",
                 opts->device ? opts->device : "the default device", clt_status_str(st),
                 clt_last_error());
        failed = true;
        goto done;
    }
    if (!raw_open(dir, &raw, &rep->raw_direct, rep->error, sizeof rep->error)) {
        failed = true;
        goto done;
    }
    st = clt_buffer_create(ctx, bytes, CLT_TIER_HOST, &host);
    if (st == CLT_OK)
        st = clt_buffer_create(ctx, bytes, CLT_TIER_NVME, &nvme);
    if (st == CLT_OK)
        st = fill(host, bytes, chunk);
    if (st != CLT_OK) {
        snprintf(rep->error, sizeof rep->error, "%s", clt_last_error());
        failed = true;
        goto done;
    }
    if (clt_buffer_create(ctx, bytes, CLT_TIER_HOST_PINNED, &pinned) != CLT_OK ||
        clt_buffer_copy(pinned, 0, host, 0, bytes, NULL) != CLT_OK) {
        snprintf(rep->rows[OFFLOAD_PINNED_WRITE].note, sizeof rep->rows[0].note,
                 "skipped: %.140s", clt_last_error());
        snprintf(rep->rows[OFFLOAD_PINNED_READ].note, sizeof rep->rows[0].note, "%s",
                 rep->rows[OFFLOAD_PINNED_WRITE].note);
        clt_buffer_destroy(pinned);
        pinned = NULL;
    }
    if (!rep->raw_direct) {
        snprintf(rep->rows[OFFLOAD_RAW_WRITE].note, sizeof rep->rows[0].note,
                 "buffered: '%.100s' refuses O_DIRECT", dir);
        snprintf(rep->rows[OFFLOAD_RAW_READ].note, sizeof rep->rows[0].note,
                 "buffered: '%.100s' refuses O_DIRECT", dir);
    }

    calls[OFFLOAD_RAW_WRITE] = raw_write;
    calls[OFFLOAD_RAW_READ] = raw_read;
    users[OFFLOAD_RAW_WRITE] = users[OFFLOAD_RAW_READ] = &raw;
    copies[OFFLOAD_NVME_WRITE] = (struct tier_copy){nvme, host, bytes, ""};
    copies[OFFLOAD_NVME_READ] = (struct tier_copy){host, nvme, bytes, ""};
    copies[OFFLOAD_PINNED_WRITE] = (struct tier_copy){nvme, pinned, bytes, ""};
    copies[OFFLOAD_PINNED_READ] = (struct tier_copy){pinned, nvme, bytes, ""};
    for (int r = 0; r < OFFLOAD_ROWS; r++) {
        if (copies[r].dst && copies[r].src) {
            calls[r] = tier_copy;
            users[r] = &copies[r];
        }
    }
    int bad = -1;
    while (!bench_measure_rounds(OFFLOAD_ROWS, calls, users, samples, opts->repeat, &bad)) {
        const char *why = users[bad] == &raw ? raw.error : copies[bad].error;
        snprintf(rep->rows[bad].note, sizeof rep->rows[bad].note, "%.150s", why);
        calls[bad] = NULL;
        failed = true;
    }
    for (int r = 0; r < OFFLOAD_ROWS; r++) {
        if (calls[r])
            rep->rows[r].samples = samples[r];
        bench_result_finish(&rep->rows[r], (double)bytes);
    }
    for (int i = 0; i < OFFLOAD_RATIOS; i++)
        rep->ratios[i] =
            bench_result_ratio(&rep->rows[ratio_rows[i][0]], &rep->rows[ratio_rows[i][1]]);
    /* What went in came out: the file holds the pattern, and so does HOST after reads. */
    if (calls[OFFLOAD_NVME_WRITE] || calls[OFFLOAD_PINNED_WRITE]) {
        rep->checked = true;
        rep->check_ok = holds_pattern(nvme, bytes, chunk, want) &&
                        holds_pattern(host, bytes, chunk, want);
        failed = failed || !rep->check_ok;
    }

done:
    pthread_mutex_lock(&log.lock);
    snprintf(rep->tier_io, sizeof rep->tier_io, "%s", log.io);
    snprintf(rep->tier_warnings, sizeof rep->tier_warnings, "%s", log.warnings);
    pthread_mutex_unlock(&log.lock);
    clt_buffer_destroy(host);
    clt_buffer_destroy(pinned);
    clt_buffer_destroy(nvme);
    clt_context_destroy(ctx);
    pthread_mutex_destroy(&log.lock);
    if (raw.fd >= 0)
        close(raw.fd);
    free(block);
    free(samples);
    free(chunk);
    free(want);
    return failed ? 1 : 0;
}

/* ---- reporting ---------------------------------------------------------------------- */

static double ratio_of_row(const offload_report *rep, int row)
{
    for (int i = 0; i < OFFLOAD_RATIOS; i++)
        if (ratio_rows[i][0] == row)
            return rep->ratios[i];
    return NAN;
}

void bench_offload_text(const offload_report *rep, FILE *out)
{
    char ms[32], rate[32], ratio[32];
    if (!bench_text_header(out, "offload", &rep->device, rep->error))
        return;
    bool measured = false;
    for (int r = 0; r < OFFLOAD_ROWS; r++)
        measured = measured || rep->rows[r].ran;
    if (!measured && rep->error[0]) { /* nothing ran: the setup failed */
        fprintf(out, "NVMe tier in %s: %s\n", rep->nvme_dir, rep->error);
        return;
    }
    fprintf(out, "NVMe tier in %s (%s%s%s): %zu bytes per transfer, %d timed rounds, medians\n",
            rep->nvme_dir, rep->fs_type[0] ? rep->fs_type : "?",
            rep->block_device[0] ? " on " : "", rep->block_device, rep->bytes, rep->repeat);
    fprintf(out, "tier: %s\n", rep->tier_io[0] ? rep->tier_io : "(it said nothing)");
    if (rep->tier_warnings[0])
        fprintf(out, "tier warnings: %s\n", rep->tier_warnings);
    fprintf(out, "raw: the bench's own %s file, %zu MiB pwrite/pread, one at a time\n\n",
            rep->raw_direct ? "O_DIRECT" : "buffered", RAW_BLOCK >> 20);
    fprintf(out, "%-22s %10s %8s %8s %8s  %s\n", "", "ms", "GB/s", "of raw", "goal",
            "note");
    for (int r = 0; r < OFFLOAD_ROWS; r++) {
        const bench_result *b = &rep->rows[r];
        const double x = ratio_of_row(rep, r);
        char goal[32] = "";
        if (!isnan(x))
            snprintf(goal, sizeof goal, "%s", x >= RATIO_GOAL ? "met" : "MISSED");
        fprintf(out, "%-22s %10s %8s %8s %8s  %s\n", row_titles[r],
                bench_cell_ms(b, ms, sizeof ms), bench_cell_rate(b, rate, sizeof rate),
                bench_cell_ratio(x, ratio, sizeof ratio), goal, b->note);
    }
    fprintf(out, "goal: each tier row at least %.2f of raw\n", RATIO_GOAL);
    if (rep->checked)
        fprintf(out, "\ncheck: the NVME and HOST buffers hold the bytes written: %s\n",
                rep->check_ok ? "ok" : "FAILED");
    if (rep->error[0])
        fprintf(out, "error: %s\n", rep->error);
    if (rep->trained)
        bench_offload_train_text(&rep->train, out);
}

bool bench_offload_json(const offload_report *rep, FILE *out)
{
    json_writer w;
    json_init(&w, out, true);
    bench_json_begin(&w, "offload", &rep->device, rep->repeat);
    json_kv_string(&w, "nvme_dir", rep->nvme_dir);
    json_kv_string(&w, "fs_type", rep->fs_type[0] ? rep->fs_type : NULL);
    json_kv_string(&w, "block_device", rep->block_device[0] ? rep->block_device : NULL);
    json_kv_uint(&w, "bytes", rep->bytes);
    json_kv_bool(&w, "raw_direct", rep->raw_direct);
    json_kv_uint(&w, "raw_block_bytes", RAW_BLOCK);
    json_kv_string(&w, "tier_io", rep->tier_io[0] ? rep->tier_io : NULL);
    json_kv_string(&w, "tier_warnings", rep->tier_warnings[0] ? rep->tier_warnings : NULL);
    json_key(&w, "rows");
    json_begin_object(&w);
    for (int r = 0; r < OFFLOAD_ROWS; r++)
        bench_json_result(&w, row_names[r], "median_gbps", &rep->rows[r]);
    json_end_object(&w);
    bench_json_doubles(&w, "ratios", ratio_names, rep->ratios, OFFLOAD_RATIOS);
    json_key(&w, "goals");
    json_begin_object(&w);
    for (int i = 0; i < OFFLOAD_RATIOS; i++) {
        json_key(&w, ratio_names[i]);
        json_begin_object(&w);
        json_kv_double(&w, "at_least", RATIO_GOAL);
        json_key(&w, "met");
        if (isnan(rep->ratios[i]))
            json_null(&w);
        else
            json_bool(&w, rep->ratios[i] >= RATIO_GOAL);
        json_end_object(&w);
    }
    json_end_object(&w);
    json_key(&w, "check");
    if (rep->checked) {
        json_begin_object(&w);
        json_kv_bool(&w, "ok", rep->check_ok);
        json_end_object(&w);
    } else {
        json_null(&w);
    }
    if (rep->trained)
        bench_offload_train_json(&rep->train, &w);
    else
        json_kv_string(&w, "training", NULL);
    return bench_json_end(&w, rep->error);
}
