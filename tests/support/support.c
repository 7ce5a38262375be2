/* Helpers shared by the tests; see support.h. */
#include "support/support.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- files ------------------------------------------------------------------------- */

int ts_mkdir_p(const char *path)
{
    char tmp[4096];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof tmp)
        return -1;
    memcpy(tmp, path, len + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

const char *ts_tmp_dir(void)
{
    static char dir[4096];
    if (dir[0] == '\0') {
        const char *env = getenv("CLT_TEST_TMP");
        if (env && *env)
            snprintf(dir, sizeof dir, "%s", env);
        else
            snprintf(dir, sizeof dir, "/tmp/clt-test-%ld", (long)getpid());
        if (ts_mkdir_p(dir) != 0) {
            fprintf(stderr, "cannot make the test directory %s: %s\n", dir, strerror(errno));
            abort();
        }
    }
    return dir;
}

void ts_tmp_subdir(const char *name, char *out, size_t out_size)
{
    int n = snprintf(out, out_size, "%s/%s", ts_tmp_dir(), name);
    assert_true(n > 0 && (size_t)n < out_size);
    assert_int_equal(ts_mkdir_p(out), 0);
}

/* ---- devices and contexts ----------------------------------------------------------- */

int ts_devices(char names[][64], int max)
{
    int n = 0;
    const char *env = getenv("CLT_TEST_DEVICES");
    if (env && *env) {
        const char *p = env;
        while (*p) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            if (len > 0 && len < 64 && n < max) {
                memcpy(names[n], p, len);
                names[n][len] = '\0';
                n++;
            }
            p += len;
            if (*p == ',')
                p++;
        }
        return n;
    }
    int count = 0;
    if (clt_device_list(NULL, 0, &count) != CLT_OK || count <= 0)
        return 0;
    clt_device_info *info = calloc((size_t)count, sizeof *info);
    if (!info)
        return 0;
    int got = count;
    if (clt_device_list(info, count, &got) == CLT_OK) {
        for (int i = 0; i < count && i < got && n < max; i++, n++)
            snprintf(names[n], 64, "%s", info[i].name);
    }
    free(info);
    return n;
}

clt_status ts_context_open(const char *device, const clt_context_opts *base,
                           clt_context **out)
{
    clt_context_opts opts;
    if (base)
        opts = *base;
    else
        clt_context_opts_init(&opts);
    char cache[4096], nvme[4096];
    if (!opts.cache_dir) {
        ts_tmp_subdir("cache", cache, sizeof cache);
        opts.cache_dir = cache;
    }
    if (!opts.nvme_dir) {
        ts_tmp_subdir("nvme", nvme, sizeof nvme);
        opts.nvme_dir = nvme;
    }
    opts.device = device;
    return clt_context_create(&opts, out);
}

clt_context *ts_context(const char *device)
{
    clt_context *ctx = NULL;
    clt_status st = ts_context_open(device, NULL, &ctx);
    if (st != CLT_OK)
        fail_msg("cannot open %s: %s: %s", device, clt_status_name(st), clt_last_error());
    assert_non_null(ctx);
    return ctx;
}

int ts_run_per_device(const char *group, const ts_device_test *tests, size_t n_tests)
{
    static char names[TS_MAX_DEVICES][64];
    int n_dev = ts_devices(names, TS_MAX_DEVICES);
    if (n_dev <= 0) {
        fprintf(stderr, "%s: no devices to test\n", group);
        return 1;
    }
    size_t n = (size_t)n_dev * n_tests;
    struct CMUnitTest *list = calloc(n, sizeof *list);
    char (*labels)[192] = calloc(n, sizeof *labels);
    if (!list || !labels) {
        free(list);
        free(labels);
        return 1;
    }
    size_t k = 0;
    for (int d = 0; d < n_dev; d++) {
        for (size_t t = 0; t < n_tests; t++, k++) {
            snprintf(labels[k], sizeof labels[k], "%.120s[%.63s]", tests[t].name, names[d]);
            list[k].name = labels[k];
            list[k].test_func = tests[t].fn;
            list[k].initial_state = names[d];
        }
    }
    int failed = _cmocka_run_group_tests(group, list, n, NULL, NULL);
    free(list);
    free(labels);
    return failed;
}

/* ---- deterministic random numbers ---------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void ts_rng_seed(ts_rng *rng, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        rng->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t ts_rng_u64(ts_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

int64_t ts_rng_int(ts_rng *rng, int64_t lo, int64_t hi)
{
    uint64_t span = (uint64_t)(hi - lo) + 1;
    return lo + (int64_t)(ts_rng_u64(rng) % span);
}

float ts_rng_float(ts_rng *rng, float lo, float hi)
{
    double u = (double)(ts_rng_u64(rng) >> 11) * 0x1p-53;
    return (float)(lo + (hi - lo) * u);
}

void ts_fill_floats(ts_rng *rng, float *x, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++)
        x[i] = ts_rng_float(rng, lo, hi);
}

void ts_fill_ints(ts_rng *rng, float *x, size_t n, int lo, int hi)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)ts_rng_int(rng, lo, hi);
}

void ts_fill_value(float *x, size_t n, float v)
{
    for (size_t i = 0; i < n; i++)
        x[i] = v;
}

/* ---- buffers -------------------------------------------------------------------------- */

clt_buffer *ts_buffer(clt_context *ctx, clt_tier tier, size_t bytes, const void *src)
{
    clt_buffer *buf = NULL;
    ts_assert_ok(clt_buffer_create(ctx, bytes, tier, &buf));
    assert_non_null(buf);
    if (src) {
        ts_assert_ok(clt_buffer_write(buf, 0, src, bytes, NULL));
    } else {
        unsigned char *fill = malloc(bytes);
        assert_non_null(fill);
        memset(fill, 0xA5, bytes);
        clt_status st = clt_buffer_write(buf, 0, fill, bytes, NULL);
        free(fill);
        ts_assert_ok(st);
    }
    return buf;
}

clt_buffer *ts_upload(clt_context *ctx, clt_tier tier, const float *x, size_t n)
{
    return ts_buffer(ctx, tier, n * sizeof(float), x);
}

void ts_download(clt_buffer *buf, size_t offset, float *x, size_t n)
{
    ts_assert_ok(clt_buffer_read(buf, offset, x, n * sizeof(float), NULL));
}

void *ts_download_all(clt_buffer *buf)
{
    size_t bytes = clt_buffer_size(buf);
    void *x = malloc(bytes ? bytes : 1);
    assert_non_null(x);
    clt_status st = clt_buffer_read(buf, 0, x, bytes, NULL);
    if (st != CLT_OK) {
        free(x);
        fail_msg("reading back %zu bytes: %s: %s", bytes, clt_status_name(st),
                 clt_last_error());
    }
    return x;
}

void ts_assert_buffer_equals(clt_buffer *buf, const void *want, size_t bytes)
{
    assert_int_equal(clt_buffer_size(buf), bytes);
    unsigned char *got = ts_download_all(buf);
    const unsigned char *w = want;
    size_t first = bytes;
    for (size_t i = 0; i < bytes; i++) {
        if (got[i] != w[i]) {
            first = i;
            break;
        }
    }
    unsigned gb = first < bytes ? got[first] : 0, wb = first < bytes ? w[first] : 0;
    free(got);
    if (first < bytes)
        fail_msg("buffer differs at byte %zu: 0x%02x, want 0x%02x", first, gb, wb);
}

/* ---- comparing ------------------------------------------------------------------------ */

bool ts_close(const float *got, const float *want, size_t n, double tol, const char *what)
{
    double worst = 0.0;
    size_t worst_i = 0;
    for (size_t i = 0; i < n; i++) {
        double g = got[i], w = want[i], err;
        if (isnan(w))
            err = isnan(g) ? 0.0 : INFINITY;
        else if (!isfinite(g) && g != w)
            err = INFINITY;
        else if (g == w)
            err = 0.0;
        else
            err = fabs(g - w) / fmax(fabs(w), 1.0);
        if (err > worst || (i == 0 && err > 0)) {
            worst = err;
            worst_i = i;
        }
    }
    if (worst > tol) {
        print_error("%s: worst element %zu: got %.9g, want %.9g (relative error %.3g > %.3g)\n",
                    what, worst_i, (double)got[worst_i], (double)want[worst_i], worst, tol);
        return false;
    }
    return true;
}

/* ---- text ----------------------------------------------------------------------------- */

static bool is_ident(char c) { return isalnum((unsigned char)c) || c == '_'; }

bool ts_has_word(const char *text, const char *word)
{
    size_t len = strlen(word);
    for (const char *p = text; (p = strstr(p, word)) != NULL; p++) {
        bool left = p == text || !is_ident(p[-1]);
        bool right = !is_ident(p[len]);
        if (left && right)
            return true;
    }
    return false;
}

bool ts_has_text(const char *text, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *p = text; *p; p++) {
        if (strncasecmp(p, needle, n) == 0)
            return true;
    }
    return n == 0;
}

size_t ts_matrix_layout(clt_tensor *t, clt_dtype dtype, int64_t batch, int64_t rows,
                        int64_t cols, int64_t row_stride, int64_t batch_stride, size_t offset)
{
    memset(t, 0, sizeof *t);
    t->dtype = dtype;
    t->offset = offset * clt_dtype_size(dtype);
    const int first = batch > 0 ? 1 : 0;
    t->rank = 2 + first;
    if (batch > 0) {
        t->shape[0] = batch;
        t->strides[0] = batch_stride;
    }
    t->shape[first] = rows;
    t->shape[first + 1] = cols;
    t->strides[first] = row_stride;
    t->strides[first + 1] = 1;
    int64_t last = (rows - 1) * row_stride + cols;
    if (batch > 0)
        last += (batch - 1) * batch_stride;
    return offset + (size_t)last + 3;
}

clt_gemm_args ts_gemm_2d(clt_buffer *a, clt_buffer *b, clt_buffer *c, int64_t m, int64_t n,
                         int64_t k, float alpha, float beta)
{
    clt_gemm_args g;
    memset(&g, 0, sizeof g);
    ts_assert_ok(clt_tensor_init(&g.a, a, 0, CLT_DTYPE_F32, 2, (const int64_t[]){m, k}));
    ts_assert_ok(clt_tensor_init(&g.b, b, 0, CLT_DTYPE_F32, 2, (const int64_t[]){k, n}));
    ts_assert_ok(clt_tensor_init(&g.c, c, 0, CLT_DTYPE_F32, 2, (const int64_t[]){m, n}));
    g.alpha = alpha;
    g.beta = beta;
    return g;
}
