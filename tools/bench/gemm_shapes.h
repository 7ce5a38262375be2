/* The GEMM problems clt-bench measures: the built-in lists (squares and transformer
 * shapes) and the --shape syntax. */
#ifndef CLT_BENCH_GEMM_SHAPES_H
#define CLT_BENCH_GEMM_SHAPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* C (m,n) = op(A) · op(B): A stored (m,k), or (k,m) with trans_a; B stored (k,n), or
 * (n,k) with trans_b — row-major, as clt_gemm_args. */
typedef struct bench_shape {
    int64_t m, n, k;
    bool trans_a, trans_b;
} bench_shape;

#define BENCH_MAX_SHAPES 64

/* Writes the built-in list (the full one, or the --quick subset) to `out` and returns
 * how many; `max` must be at least BENCH_MAX_SHAPES. */
int gemm_shapes_default(bool quick, bench_shape *out, int max);

/* Parses "MxNxK", optionally followed by ":ta" (A transposed), ":tb" or ":tatb".
 * Each dimension is 1..65536. False if the text is not such a shape. */
bool gemm_shape_parse(const char *text, bench_shape *out);

/* "1024x1024x1024", "8192x768x3072 B^T": for tables and JSON. Returns buf. */
const char *gemm_shape_format(const bench_shape *s, char *buf, size_t size);

/* 2·m·n·k. */
double gemm_shape_flops(const bench_shape *s);

#endif
