/* The OpenCL program cache and GEMM kernel, on opencl:0.
 *
 * A program is built once, stored under the context's cache directory, and loaded from
 * there by the next context; a damaged, truncated or foreign entry is rejected and
 * rebuilt; cache_dir "" writes nothing; a kernel that does not compile is reported with
 * its file name and the compiler's log. The GEMM cases check the kernel against the
 * host reference over transposes, batches, strides, offsets, bias and beta = 0.
 *
 * Skipped when there is no OpenCL device. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backends/host/ref.h"
#include "backends/opencl/cl_cache_format.h"
#include "clt/clt.h"
#include "support/support.h"

#define DEVICE "opencl:0"

/* Where this run keeps its cache directories: $CLT_TEST_TMP/program_cache, or
 * /tmp/clt-test-<pid>. */
static char tmp_root[1024];
static bool have_opencl;

/* ---- files ------------------------------------------------------------------------- */

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_tree(const char *path)
{
    nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh, empty directory $tmp_root/<name>; its path in out. */
static void fresh_dir(const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", tmp_root, name);
    remove_tree(out);
    assert_int_equal(ts_mkdir_p(out), 0);
}

/* Number of entries (*.bin) in dir; the path of the last one seen in first. */
static int count_entries(const char *dir, char *first, size_t cap)
{
    int n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    for (struct dirent *e = readdir(d); e; e = readdir(d)) {
        size_t len = strlen(e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".bin") == 0) {
            if (first)
                snprintf(first, cap, "%s/%s", dir, e->d_name);
            n++;
        }
    }
    closedir(d);
    return n;
}

/* Number of directory entries of any kind under dir (recursively), 0 if it is absent. */
static int count_files(const char *dir)
{
    int n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    for (struct dirent *e = readdir(d); e; e = readdir(d)) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        n++;
        char sub[2048];
        snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
        n += count_files(sub);
    }
    closedir(d);
    return n;
}

static unsigned char *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    unsigned char *data = malloc((size_t)n);
    assert_non_null(data);
    assert_int_equal(fread(data, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return data;
}

static void write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, size, f), size);
    assert_int_equal(fclose(f), 0);
}

/* ---- contexts and GEMMs --------------------------------------------------------------- */

static clt_context *open_context(const char *cache_dir)
{
    clt_context_opts opts;
    clt_context_opts_init(&opts);
    opts.device = DEVICE;
    opts.cache_dir = cache_dir;
    clt_context *ctx = NULL;
    clt_status st = clt_context_create(&opts, &ctx);
    if (st != CLT_OK)
        print_message("clt_context_create: %s\n", clt_last_error());
    assert_int_equal(st, CLT_OK);
    return ctx;
}

static clt_stats stats_of(clt_context *ctx)
{
    clt_stats s;
    assert_int_equal(clt_context_stats(ctx, &s), CLT_OK);
    return s;
}

/* Deterministic values in [-1, 1). */
static void fill(float *x, size_t n, uint64_t *state)
{
    for (size_t i = 0; i < n; i++) {
        *state = *state * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((double)(*state >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
    }
}

/* One GEMM problem, with every layout knob the op has. */
struct gemm_case {
    const char *label;
    int64_t batch, m, n, k;
    bool trans_a, trans_b;
    bool a_shared, b_shared;     /* rank 2 (one matrix for all batches) */
    bool b_zero_stride;          /* rank 3 with batch stride 0 */
    int64_t pad;                 /* extra elements at the end of every row */
    int64_t offset;              /* elements before each tensor's first element */
    bool bias;
    float alpha, beta;
    bool nan_c;                  /* C starts as NaN (with beta = 0 it must not leak) */
};

/* A (batch,rows,cols) or (rows,cols) tensor with padded rows at `offset` elements. */
static size_t describe(clt_tensor *t, clt_buffer *buf, int64_t batch, bool rank3,
                       int64_t rows, int64_t cols, int64_t pad, int64_t offset,
                       bool zero_batch_stride)
{
    memset(t, 0, sizeof *t);
    t->buf = buf;
    t->offset = (size_t)offset * sizeof(float);
    t->dtype = CLT_DTYPE_F32;
    int64_t ld = cols + pad;
    if (rank3) {
        t->rank = 3;
        t->shape[0] = batch;
        t->shape[1] = rows;
        t->shape[2] = cols;
        t->strides[0] = zero_batch_stride ? 0 : rows * ld;
        t->strides[1] = ld;
        t->strides[2] = 1;
    } else {
        t->rank = 2;
        t->shape[0] = rows;
        t->shape[1] = cols;
        t->strides[0] = ld;
        t->strides[1] = 1;
    }
    int64_t stored = rank3 && !zero_batch_stride ? batch : 1;
    return (size_t)(offset + stored * rows * ld);  /* elements the buffer needs */
}

/* Runs the case on ctx and, if it succeeds, compares every element of C's buffer (the
 * padding included, which must be untouched) with the host reference. Returns the
 * status of the GEMM. */
static clt_status run_case(clt_context *ctx, const struct gemm_case *cs)
{
    const bool batched = cs->batch > 1 || !cs->a_shared || !cs->b_shared;
    int64_t a_rows = cs->trans_a ? cs->k : cs->m, a_cols = cs->trans_a ? cs->m : cs->k;
    int64_t b_rows = cs->trans_b ? cs->n : cs->k, b_cols = cs->trans_b ? cs->k : cs->n;
    clt_gemm_args g;
    memset(&g, 0, sizeof g);
    g.trans_a = cs->trans_a;
    g.trans_b = cs->trans_b;
    g.alpha = cs->alpha;
    g.beta = cs->beta;

    /* Sizes first (buffers NULL), then buffers of those sizes. */
    size_t na = describe(&g.a, NULL, cs->batch, batched && !cs->a_shared, a_rows, a_cols,
                         cs->pad, cs->offset, false);
    size_t nb = describe(&g.b, NULL, cs->batch, batched && !cs->b_shared, b_rows, b_cols,
                         cs->pad, cs->offset, cs->b_zero_stride);
    size_t nc = describe(&g.c, NULL, cs->batch, batched, cs->m, cs->n, cs->pad, cs->offset,
                         false);
    size_t nbias = (size_t)(cs->offset + cs->n);

    float *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b);
    float *c = malloc(nc * sizeof *c), *expect = malloc(nc * sizeof *expect);
    float *bias = malloc(nbias * sizeof *bias);
    assert_true(a && b && c && expect && bias);
    uint64_t seed = 42;
    fill(a, na, &seed);
    fill(b, nb, &seed);
    fill(bias, nbias, &seed);
    if (cs->nan_c) {
        for (size_t i = 0; i < nc; i++)
            c[i] = NAN;
    } else {
        fill(c, nc, &seed);
    }
    memcpy(expect, c, nc * sizeof *c);

    clt_buffer *abuf = NULL, *bbuf = NULL, *cbuf = NULL, *biasbuf = NULL;
    assert_int_equal(clt_buffer_create(ctx, na * 4, CLT_TIER_DEVICE, &abuf), CLT_OK);
    assert_int_equal(clt_buffer_create(ctx, nb * 4, CLT_TIER_DEVICE, &bbuf), CLT_OK);
    assert_int_equal(clt_buffer_create(ctx, nc * 4, CLT_TIER_DEVICE, &cbuf), CLT_OK);
    assert_int_equal(clt_buffer_write(abuf, 0, a, na * 4, NULL), CLT_OK);
    assert_int_equal(clt_buffer_write(bbuf, 0, b, nb * 4, NULL), CLT_OK);
    assert_int_equal(clt_buffer_write(cbuf, 0, c, nc * 4, NULL), CLT_OK);
    g.a.buf = abuf;
    g.b.buf = bbuf;
    g.c.buf = cbuf;
    if (cs->bias) {
        assert_int_equal(clt_buffer_create(ctx, nbias * 4, CLT_TIER_DEVICE, &biasbuf), CLT_OK);
        assert_int_equal(clt_buffer_write(biasbuf, 0, bias, nbias * 4, NULL), CLT_OK);
        const int64_t shape[1] = {cs->n};
        assert_int_equal(clt_tensor_init(&g.bias, biasbuf, (size_t)cs->offset * 4,
                                         CLT_DTYPE_F32, 1, shape),
                         CLT_OK);
    }

    clt_status st = clt_gemm(ctx, &g, NULL);
    if (st == CLT_OK) {
        assert_int_equal(clt_buffer_read(cbuf, 0, c, nc * 4, NULL), CLT_OK);
        clt_ref_gemm_f32(&g, a + cs->offset, b + cs->offset, expect + cs->offset,
                         cs->bias ? bias + cs->offset : NULL);
        double tolerance = 1e-5 * (double)(cs->k + 2);
        for (size_t i = 0; i < nc; i++) {
            bool same = (isnan(c[i]) && isnan(expect[i])) ||
                        fabs((double)c[i] - (double)expect[i]) <= tolerance;
            if (!same)
                print_message("%s: C element %zu is %g, expected %g\n", cs->label, i,
                              (double)c[i], (double)expect[i]);
            assert_true(same);
        }
    }
    clt_buffer_destroy(abuf);
    clt_buffer_destroy(bbuf);
    clt_buffer_destroy(cbuf);
    clt_buffer_destroy(biasbuf);
    free(a);
    free(b);
    free(c);
    free(expect);
    free(bias);
    return st;
}

/* The GEMM the cache tests run: sizes that are no tile multiple. */
static const struct gemm_case basic = {
    .label = "basic", .batch = 1, .m = 37, .n = 29, .k = 41, .a_shared = true,
    .b_shared = true, .alpha = 1.0f, .beta = 0.0f,
};

static void run_basic(clt_context *ctx)
{
    clt_status st = run_case(ctx, &basic);
    if (st != CLT_OK)
        print_message("gemm: %s\n", clt_last_error());
    assert_int_equal(st, CLT_OK);
}

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Opens a context on cache_dir, runs one GEMM, and returns its counters; the GEMM's
 * wall time (program build or load included) in *seconds if that is not NULL. */
static clt_stats timed_gemm_in_fresh_context(const char *cache_dir, double *seconds)
{
    clt_context *ctx = open_context(cache_dir);
    double start = now_seconds();
    run_basic(ctx);
    if (seconds)
        *seconds = now_seconds() - start;
    clt_stats s = stats_of(ctx);
    clt_context_destroy(ctx);
    return s;
}

static clt_stats gemm_in_fresh_context(const char *cache_dir)
{
    return timed_gemm_in_fresh_context(cache_dir, NULL);
}

/* ---- tests --------------------------------------------------------------------------- */

/* Every test starts with this: without an OpenCL device there is nothing to test. */
static void require_opencl(void)
{
    if (!have_opencl) {
        print_message("no OpenCL device (" DEVICE "): skipped\n");
        skip();
    }
}

/* (a) The first context builds and stores; the second loads. */
static void test_build_then_load(void **state)
{
    (void)state;
    require_opencl();
    char dir[1100], entry[2200];
    fresh_dir("load", dir, sizeof dir);

    double first_gemm, second_gemm;
    clt_stats first = timed_gemm_in_fresh_context(dir, &first_gemm);
    assert_int_equal(first.programs_built, 1);
    assert_int_equal(first.programs_from_cache, 0);
    assert_int_equal(first.cache_rejected, 0);
    assert_int_equal(count_entries(dir, entry, sizeof entry), 1);

    clt_stats second = timed_gemm_in_fresh_context(dir, &second_gemm);
    assert_int_equal(second.programs_built, 0);
    assert_int_equal(second.programs_from_cache, 1);
    assert_int_equal(second.cache_rejected, 0);
    assert_int_equal(count_entries(dir, NULL, 0), 1);
    print_message("gemm.cl: built in %.0f ms, loaded from cache in %.0f ms (%.1fx faster)\n",
                  first.build_seconds * 1e3, second.cache_load_seconds * 1e3,
                  second.cache_load_seconds > 0
                      ? first.build_seconds / second.cache_load_seconds
                      : 0.0);
    /* What a user sees: the whole first GEMM of a context. It also holds the driver's
     * own work at first launch (PoCL compiles each kernel for its work-group size
     * then, which clt's cache cannot hold). */
    print_message("first GEMM of a context: %.0f ms building, %.0f ms from cache\n",
                  first_gemm * 1e3, second_gemm * 1e3);
}

/* One good entry, built once for all the damage tests, which each put a damaged copy
 * of it into a fresh directory. */
struct good_entry {
    char name[128];          /* "<hex key>.bin" */
    unsigned char *bytes;
    size_t size;
};

static int build_good_entry(void **state)
{
    *state = NULL;
    if (!have_opencl)
        return 0;
    struct good_entry *good = calloc(1, sizeof *good);
    if (!good)
        return -1;
    char dir[1100], entry[2200];
    fresh_dir("good", dir, sizeof dir);
    clt_stats s = gemm_in_fresh_context(dir);
    if (s.programs_built != 1 || count_entries(dir, entry, sizeof entry) != 1) {
        free(good);
        return -1;
    }
    good->bytes = read_file(entry, &good->size);
    snprintf(good->name, sizeof good->name, "%s", strrchr(entry, '/') + 1);
    *state = good;
    return 0;
}

static int free_good_entry(void **state)
{
    struct good_entry *good = *state;
    if (good)
        free(good->bytes);
    free(good);
    return 0;
}

/* Writes `size` bytes of `data` as the good entry's file in a fresh directory `name`.
 * A context there must reject it, rebuild, compute correctly, and leave a sound entry
 * (same key, consistent length) in its place. */
static void expect_rejected_and_replaced(const struct good_entry *good, const char *name,
                                         const void *data, size_t size)
{
    char dir[1100], entry[2200];
    fresh_dir(name, dir, sizeof dir);
    snprintf(entry, sizeof entry, "%s/%s", dir, good->name);
    write_file(entry, data, size);

    clt_stats s = gemm_in_fresh_context(dir);
    assert_int_equal(s.cache_rejected, 1);
    assert_int_equal(s.programs_built, 1);
    assert_int_equal(s.programs_from_cache, 0);
    assert_int_equal(count_entries(dir, NULL, 0), 1);

    size_t repaired_size;
    unsigned char *repaired = read_file(entry, &repaired_size);
    assert_true(repaired_size > CLT_CL_CACHE_HEADER_BYTES);
    assert_memory_equal(repaired, good->bytes, CLT_CL_CACHE_OFFSET_LENGTH);  /* magic..key */
    uint64_t length = 0;
    for (int i = 0; i < 8; i++)
        length |= (uint64_t)repaired[CLT_CL_CACHE_OFFSET_LENGTH + i] << (8 * i);
    assert_int_equal(length, repaired_size - CLT_CL_CACHE_HEADER_BYTES);
    free(repaired);
}

/* (b) Flipped payload bytes; then the replacement entry is loaded by the next
 * context. */
static void test_corrupt_payload_rebuilt(void **state)
{
    require_opencl();
    const struct good_entry *good = *state;
    assert_non_null(good);
    assert_true(good->size > CLT_CL_CACHE_HEADER_BYTES + 64);
    unsigned char *data = malloc(good->size);
    assert_non_null(data);
    memcpy(data, good->bytes, good->size);
    size_t middle = CLT_CL_CACHE_HEADER_BYTES + (good->size - CLT_CL_CACHE_HEADER_BYTES) / 2;
    for (size_t i = 0; i < 16; i++)
        data[middle + i] ^= 0x5a;
    expect_rejected_and_replaced(good, "corrupt", data, good->size);
    free(data);

    char dir[1100];
    snprintf(dir, sizeof dir, "%s/corrupt", tmp_root);
    clt_stats again = gemm_in_fresh_context(dir);
    assert_int_equal(again.cache_rejected, 0);
    assert_int_equal(again.programs_built, 0);
    assert_int_equal(again.programs_from_cache, 1);
}

/* (b) A file cut short in the payload, and one cut inside the header. */
static void test_truncated_entry_rebuilt(void **state)
{
    require_opencl();
    const struct good_entry *good = *state;
    assert_non_null(good);
    expect_rejected_and_replaced(good, "truncated", good->bytes,
                                 CLT_CL_CACHE_HEADER_BYTES +
                                     (good->size - CLT_CL_CACHE_HEADER_BYTES) / 3);
    expect_rejected_and_replaced(good, "truncated-header", good->bytes,
                                 CLT_CL_CACHE_HEADER_BYTES / 2);
}

/* (b) A well-formed entry (good magic, version, length, checksum) filed under a name
 * that is not its key: what a copied or renamed file from another device looks like. */
static void test_foreign_key_rebuilt(void **state)
{
    require_opencl();
    const struct good_entry *good = *state;
    assert_non_null(good);
    unsigned char *data = malloc(good->size);
    assert_non_null(data);
    memcpy(data, good->bytes, good->size);
    for (int i = 0; i < 32; i++)
        data[CLT_CL_CACHE_OFFSET_KEY + i] = (unsigned char)(0xa0 + i);
    expect_rejected_and_replaced(good, "foreign", data, good->size);
    free(data);
}

/* (b) Garbage that is not an entry at all, under the right name. */
static void test_garbage_entry_rebuilt(void **state)
{
    require_opencl();
    const struct good_entry *good = *state;
    assert_non_null(good);
    char text[4096];
    memset(text, 'x', sizeof text);
    expect_rejected_and_replaced(good, "garbage", text, sizeof text);
}

/* (c) cache_dir "" writes nothing anywhere, even where the environment points. */
static void test_no_disk_cache(void **state)
{
    (void)state;
    require_opencl();
    char env_dir[1100], xdg_dir[1100];
    fresh_dir("nocache-env", env_dir, sizeof env_dir);
    fresh_dir("nocache-xdg", xdg_dir, sizeof xdg_dir);
    setenv("CLT_CACHE_DIR", env_dir, 1);
    setenv("XDG_CACHE_HOME", xdg_dir, 1);
    clt_stats s = gemm_in_fresh_context("");
    unsetenv("CLT_CACHE_DIR");
    unsetenv("XDG_CACHE_HOME");
    assert_int_equal(s.programs_built, 1);
    assert_int_equal(s.programs_from_cache, 0);
    assert_int_equal(count_files(env_dir), 0);
    /* PoCL keeps its own cache under $XDG_CACHE_HOME/pocl; only clt's is ours. */
    char clt_dir[1200];
    snprintf(clt_dir, sizeof clt_dir, "%s/clt", xdg_dir);
    assert_int_equal(count_files(clt_dir), 0);
}

/* (d) A kernel that does not compile: CLT_ERR_BUILD naming the file, with the
 * compiler's complaint; the context stays usable, and without the override a fresh
 * context works. */
static void test_build_failure_reported(void **state)
{
    (void)state;
    require_opencl();
    char kernel_dir[1100], cache_dir[1100], path[1200];
    fresh_dir("broken-kernels", kernel_dir, sizeof kernel_dir);
    fresh_dir("broken-cache", cache_dir, sizeof cache_dir);
    snprintf(path, sizeof path, "%s/gemm.cl", kernel_dir);
    const char *broken = "__kernel void gemm_f32(__global float *c)\n"
                         "{\n"
                         "    c[0] = 1.0f +;\n"
                         "}\n";
    write_file(path, broken, strlen(broken));

    setenv("CLT_KERNEL_DIR", kernel_dir, 1);
    clt_context *ctx = open_context(cache_dir);
    clt_status st = run_case(ctx, &basic);
    unsetenv("CLT_KERNEL_DIR");
    const char *text = clt_last_error();
    print_message("the build failure reads: %.300s...\n", text);
    assert_int_equal(st, CLT_ERR_BUILD);
    assert_non_null(strstr(text, "gemm.cl"));
    assert_non_null(strstr(text, DEVICE));
    assert_non_null(strstr(text, "expected expression"));  /* clang's words for "+;" */
    assert_int_equal(count_entries(cache_dir, NULL, 0), 0);
    clt_stats s = stats_of(ctx);
    assert_int_equal(s.programs_built, 0);

    /* Buffers still work on the context that saw the failure. */
    float out[4] = {1, 2, 3, 4}, back[4] = {0};
    clt_buffer *buf = NULL;
    assert_int_equal(clt_buffer_create(ctx, sizeof out, CLT_TIER_DEVICE, &buf), CLT_OK);
    assert_int_equal(clt_buffer_write(buf, 0, out, sizeof out, NULL), CLT_OK);
    assert_int_equal(clt_buffer_read(buf, 0, back, sizeof back, NULL), CLT_OK);
    assert_memory_equal(out, back, sizeof out);
    clt_buffer_destroy(buf);
    clt_context_destroy(ctx);

    clt_stats fresh = gemm_in_fresh_context(cache_dir);
    assert_int_equal(fresh.programs_built, 1);
    assert_int_equal(count_entries(cache_dir, NULL, 0), 1);
}

/* The size cap: after a write, the oldest entries go until the directory fits. */
static void test_oldest_evicted_over_cap(void **state)
{
    (void)state;
    require_opencl();
    char dir[1100];
    fresh_dir("evict", dir, sizeof dir);
    /* Two fake entries of 4 MiB: one very old, one a little old. */
    static const char *const names[2] = {
        "0000000000000000000000000000000000000000000000000000000000000000.bin",
        "1111111111111111111111111111111111111111111111111111111111111111.bin",
    };
    const time_t ages[2] = {10 * 86400, 86400};
    const size_t fake_bytes = 4u << 20;
    char *filler = calloc(1, fake_bytes);
    assert_non_null(filler);
    char path[1200];
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        write_file(path, filler, fake_bytes);
        struct timespec times[2] = {{time(NULL) - ages[i], 0}, {time(NULL) - ages[i], 0}};
        assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
    }
    free(filler);
    /* Room for the real entry (well under 2 MiB) and one fake one, not both. */
    setenv("CLT_CACHE_MAX_BYTES", "6M", 1);
    clt_stats s = gemm_in_fresh_context(dir);
    unsetenv("CLT_CACHE_MAX_BYTES");
    assert_int_equal(s.programs_built, 1);
    assert_int_equal(count_entries(dir, NULL, 0), 2);
    snprintf(path, sizeof path, "%s/%s", dir, names[0]);
    assert_int_equal(access(path, F_OK), -1);  /* the oldest went */
    snprintf(path, sizeof path, "%s/%s", dir, names[1]);
    assert_int_equal(access(path, F_OK), 0);   /* the newer stayed */
}

/* The kernel against the reference over every layout knob, on one program. */
static void test_gemm_layouts(void **state)
{
    (void)state;
    require_opencl();
    static const struct gemm_case cases[] = {
        {.label = "1x1x1", .batch = 1, .m = 1, .n = 1, .k = 1, .a_shared = true,
         .b_shared = true, .alpha = 1, .beta = 0},
        {.label = "tile multiples", .batch = 1, .m = 32, .n = 48, .k = 64, .a_shared = true,
         .b_shared = true, .alpha = 1, .beta = 0},
        {.label = "A^T", .batch = 1, .m = 19, .n = 23, .k = 35, .trans_a = true,
         .a_shared = true, .b_shared = true, .alpha = 1, .beta = 0},
        {.label = "B^T", .batch = 1, .m = 19, .n = 23, .k = 35, .trans_b = true,
         .a_shared = true, .b_shared = true, .alpha = 1, .beta = 0},
        {.label = "A^T B^T alpha beta", .batch = 1, .m = 17, .n = 40, .k = 3,
         .trans_a = true, .trans_b = true, .a_shared = true, .b_shared = true,
         .alpha = 0.5f, .beta = -2.0f},
        {.label = "batched, strided, offset, bias", .batch = 3, .m = 21, .n = 18, .k = 33,
         .pad = 5, .offset = 3, .bias = true, .alpha = 1.5f, .beta = 0.25f},
        {.label = "batched, shared B (rank 2), A^T", .batch = 4, .m = 9, .n = 31, .k = 17,
         .trans_a = true, .b_shared = true, .alpha = 1, .beta = 1},
        {.label = "batched, B batch stride 0, B^T", .batch = 2, .m = 33, .n = 7, .k = 50,
         .trans_b = true, .b_zero_stride = true, .alpha = 1, .beta = 0},
        {.label = "beta 0 over NaN, bias", .batch = 2, .m = 20, .n = 20, .k = 20, .pad = 1,
         .bias = true, .alpha = 1, .beta = 0, .nan_c = true},
        {.label = "one long row", .batch = 1, .m = 1, .n = 300, .k = 129, .a_shared = true,
         .b_shared = true, .alpha = 1, .beta = 0},
    };
    char dir[1100];
    fresh_dir("layouts", dir, sizeof dir);
    clt_context *ctx = open_context(dir);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        clt_status st = run_case(ctx, &cases[i]);
        if (st != CLT_OK)
            print_message("%s: %s\n", cases[i].label, clt_last_error());
        assert_int_equal(st, CLT_OK);
    }
    clt_stats s = stats_of(ctx);
    assert_int_equal(s.programs_built + s.programs_from_cache, 1);
    assert_int_equal(s.ops_fallback, 0);
    clt_context_destroy(ctx);
}

int main(void)
{
    /* PoCL caches compiled kernels itself; with that on, the "first build" would be a
     * load from PoCL's cache and the timings would say nothing. */
    setenv("POCL_KERNEL_CACHE", "0", 1);
    unsetenv("CLT_KERNEL_DIR");
    unsetenv("CLT_CACHE_MAX_BYTES");

    const char *base = getenv("CLT_TEST_TMP");
    if (base && base[0])
        snprintf(tmp_root, sizeof tmp_root, "%s/program_cache", base);
    else
        snprintf(tmp_root, sizeof tmp_root, "/tmp/clt-test-%ld", (long)getpid());
    remove_tree(tmp_root);
    if (ts_mkdir_p(tmp_root) != 0) {
        fprintf(stderr, "test_program_cache: cannot create %s\n", tmp_root);
        return 1;
    }

    int n = 0;
    if (clt_device_list(NULL, 0, &n) == CLT_OK && n > 0) {
        clt_device_info *infos = calloc((size_t)n, sizeof *infos);
        if (infos && clt_device_list(infos, n, &n) == CLT_OK)
            for (int i = 0; i < n; i++)
                if (strcmp(infos[i].name, DEVICE) == 0)
                    have_opencl = true;
        free(infos);
    }

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_then_load),
        cmocka_unit_test(test_corrupt_payload_rebuilt),
        cmocka_unit_test(test_truncated_entry_rebuilt),
        cmocka_unit_test(test_foreign_key_rebuilt),
        cmocka_unit_test(test_garbage_entry_rebuilt),
        cmocka_unit_test(test_no_disk_cache),
        cmocka_unit_test(test_build_failure_reported),
        cmocka_unit_test(test_oldest_evicted_over_cap),
        cmocka_unit_test(test_gemm_layouts),
    };
    int failed =
        cmocka_run_group_tests_name("program_cache", tests, build_good_entry, free_good_entry);
    if (failed == 0)
        remove_tree(tmp_root);
    return failed;
}
