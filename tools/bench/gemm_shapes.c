/* The shapes clt-bench gemm measures; see gemm_shapes.h. */
#include "bench/gemm_shapes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DIM 65536

/* Squares, and a GPT-2-small layer's GEMMs with 8192 tokens (M×N×K): the QKV-sized
 * projection, the MLP's up and down projections. */
static const int64_t squares[] = {128, 256, 512, 1024, 2048, 4096};
static const int64_t transformer[][3] = {{8192, 768, 768}, {8192, 3072, 768}, {8192, 768, 3072}};

/* --quick: a minute or two on PoCL. */
static const bench_shape quick_shapes[] = {
    {256, 256, 256, false, false},
    {1024, 1024, 1024, false, false},
    {2048, 2048, 2048, false, false},
    {8192, 768, 768, false, true},
};

int gemm_shapes_default(bool quick, bench_shape *out, int max)
{
    int n = 0;
    if (quick) {
        for (size_t i = 0; i < sizeof quick_shapes / sizeof quick_shapes[0] && n < max; i++)
            out[n++] = quick_shapes[i];
        return n;
    }
    for (size_t i = 0; i < sizeof squares / sizeof squares[0] && n < max; i++)
        out[n++] = (bench_shape){squares[i], squares[i], squares[i], false, false};
    /* Each transformer shape as stored in a forward pass, and with either operand
     * transposed (the backward pass's layouts). */
    for (size_t i = 0; i < sizeof transformer / sizeof transformer[0]; i++)
        for (int t = 0; t < 3 && n < max; t++)
            out[n++] = (bench_shape){transformer[i][0], transformer[i][1], transformer[i][2],
                                     t == 1, t == 2};
    return n;
}

/* One dimension at *p, moving *p past it. */
static bool parse_dim(const char **p, int64_t *out)
{
    char *end = NULL;
    if (**p < '0' || **p > '9')
        return false;
    errno = 0;
    long long v = strtoll(*p, &end, 10);
    if (errno || v < 1 || v > MAX_DIM)
        return false;
    *out = (int64_t)v;
    *p = end;
    return true;
}

bool gemm_shape_parse(const char *text, bench_shape *out)
{
    bench_shape s = {0, 0, 0, false, false};
    const char *p = text;
    if (!parse_dim(&p, &s.m) || *p++ != 'x' || !parse_dim(&p, &s.n) || *p++ != 'x' ||
        !parse_dim(&p, &s.k))
        return false;
    if (strcmp(p, ":ta") == 0)
        s.trans_a = true;
    else if (strcmp(p, ":tb") == 0)
        s.trans_b = true;
    else if (strcmp(p, ":tatb") == 0)
        s.trans_a = s.trans_b = true;
    else if (*p != '\0')
        return false;
    *out = s;
    return true;
}

const char *gemm_shape_format(const bench_shape *s, char *buf, size_t size)
{
    snprintf(buf, size, "%lldx%lldx%lld%s%s", (long long)s->m, (long long)s->n,
             (long long)s->k, s->trans_a ? " A^T" : "", s->trans_b ? " B^T" : "");
    return buf;
}

double gemm_shape_flops(const bench_shape *s)
{
    return 2.0 * (double)s->m * (double)s->n * (double)s->k;
}
