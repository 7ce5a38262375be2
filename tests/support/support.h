/* Helpers shared by the tests: temp dirs, the devices to test, contexts, a seeded RNG,
 * uploads and downloads, and a comparator that names the worst element.
 *
 * Helpers that can fail use CMocka's assertions, so call them from inside a test. */
#ifndef CLT_TEST_SUPPORT_H
#define CLT_TEST_SUPPORT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above first. */
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clt/clt.h"

#define TS_MAX_DEVICES 32

/* ---- files ------------------------------------------------------------------------- */

/* The test's own temporary directory: $CLT_TEST_TMP, else /tmp/clt-test-<pid>; made
 * (mkdir -p) on first call. The string is static and stays valid. */
const char *ts_tmp_dir(void);

/* Makes <tmp>/<name> (mkdir -p) and writes its path into out. */
void ts_tmp_subdir(const char *name, char *out, size_t out_size);

/* mkdir -p; 0 on success. */
int ts_mkdir_p(const char *path);

/* ---- devices and contexts ----------------------------------------------------------- */

/* The devices to test: every device clt_device_list reports, or the comma-separated
 * names in $CLT_TEST_DEVICES. Writes up to `max` names (each < 64 chars) and returns
 * how many there are. */
int ts_devices(char names[][64], int max);

/* Opens a context on `device` with `base` options (NULL: defaults), putting the program
 * cache and NVME files under the test's temp dir unless base sets them. Returns the
 * status of clt_context_create. */
clt_status ts_context_open(const char *device, const clt_context_opts *base,
                           clt_context **out);

/* Like ts_context_open, but fails the test if the context cannot be opened. */
clt_context *ts_context(const char *device);

/* A plain f32 GEMM, C = alpha·A·B + beta·C, over contiguous matrices at offset 0:
 * a (m,k), b (k,n), c (m,n), no bias. Fails the test if a descriptor is refused. */
clt_gemm_args ts_gemm_2d(clt_buffer *a, clt_buffer *b, clt_buffer *c, int64_t m, int64_t n,
                         int64_t k, float alpha, float beta);

/* Describes a rows×cols matrix of `dtype` starting `offset` elements into its buffer,
 * with row stride `row_stride`; with batch > 0, a rank-3 stack of `batch` of them,
 * `batch_stride` apart (0 repeats one matrix). Returns the elements the buffer needs:
 * through the last element, plus 3 guard elements after it. */
size_t ts_matrix_layout(clt_tensor *t, clt_dtype dtype, int64_t batch, int64_t rows,
                        int64_t cols, int64_t row_stride, int64_t batch_stride, size_t offset);

/* Runs each test function once per device in ts_devices(): the function finds the
 * device name (const char *) in *state. Returns the number of failed tests. */
typedef struct ts_device_test {
    const char *name;
    CMUnitTestFunction fn;
} ts_device_test;
int ts_run_per_device(const char *group, const ts_device_test *tests, size_t n_tests);

/* ---- deterministic random numbers ---------------------------------------------------- */

/* xoshiro-like generator; all state is in the struct the caller owns. */
typedef struct ts_rng {
    uint64_t s[4];
} ts_rng;

void ts_rng_seed(ts_rng *rng, uint64_t seed);
uint64_t ts_rng_u64(ts_rng *rng);
/* Uniform integer in [lo, hi]. */
int64_t ts_rng_int(ts_rng *rng, int64_t lo, int64_t hi);
/* Uniform float in [lo, hi). */
float ts_rng_float(ts_rng *rng, float lo, float hi);
/* Fills with uniform floats in [lo, hi). */
void ts_fill_floats(ts_rng *rng, float *x, size_t n, float lo, float hi);
/* Fills with whole numbers in [lo, hi] stored as floats, so products and sums of a few
 * thousand of them are exact in f32. */
void ts_fill_ints(ts_rng *rng, float *x, size_t n, int lo, int hi);
/* Fills with one value. */
void ts_fill_value(float *x, size_t n, float v);

/* ---- buffers -------------------------------------------------------------------------- */

/* Creates a buffer of n floats on `tier` and uploads x; fails the test on error. */
clt_buffer *ts_upload(clt_context *ctx, clt_tier tier, const float *x, size_t n);
/* Creates a buffer of `bytes` on tier and writes `bytes` from src (which may be NULL:
 * then the buffer is filled with the byte pattern 0xA5). */
clt_buffer *ts_buffer(clt_context *ctx, clt_tier tier, size_t bytes, const void *src);
/* Reads n floats at byte offset `offset`; fails the test on error. */
void ts_download(clt_buffer *buf, size_t offset, float *x, size_t n);
/* Reads the whole buffer into a new malloc'd block (free it). */
void *ts_download_all(clt_buffer *buf);
/* Asserts the buffer holds exactly `bytes` bytes equal to `want` from offset 0. */
void ts_assert_buffer_equals(clt_buffer *buf, const void *want, size_t bytes);

/* ---- comparing ------------------------------------------------------------------------ */

/* Max over i of |got - want| / max(|want|, 1); NaN or Inf where want is finite counts
 * as infinite. If it exceeds tol (tol 0: exact), prints the worst index, both values and
 * `what`, and returns false. */
bool ts_close(const float *got, const float *want, size_t n, double tol, const char *what);

/* ---- text ----------------------------------------------------------------------------- */

/* Whether `word` occurs in text bounded by non-identifier characters. */
bool ts_has_word(const char *text, const char *word);
/* Case-insensitive substring test. */
bool ts_has_text(const char *text, const char *needle);

/* Asserts that a call returned `want`, printing the last error text if not. */
#define ts_assert_status(expr, want)                                                     \
    do {                                                                                 \
        clt_status ts_got_ = (expr);                                                     \
        if (ts_got_ != (want))                                                           \
            fail_msg("%s returned %s, want %s (last error: %s)", #expr,                  \
                     clt_status_name(ts_got_), clt_status_name(want), clt_last_error()); \
    } while (0)
#define ts_assert_ok(expr) ts_assert_status((expr), CLT_OK)

/* Asserts that the last error text mentions `needle` (case-insensitive). */
#define ts_assert_error_mentions(needle)                                              \
    do {                                                                              \
        if (!ts_has_text(clt_last_error(), (needle)))                                 \
            fail_msg("error text \"%s\" does not mention \"%s\"", clt_last_error(),   \
                     (needle));                                                       \
    } while (0)

#endif
