/* The tolerance table and the element-wise comparison. The f32 figures bound what a
 * different summation order or a vendor's exp/tanh (OpenCL C allows a few ulps) may
 * change; f16 and bf16 outputs add two ulps of their storage (2^-10 and 2^-7
 * relative), since two f32 results a hair apart may round to neighbouring values. */
#include "compare.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

struct op_tolerance {
    double rel_f32;  /* relative error of f32 outputs */
    double floor;    /* fraction of max|ref| under which error is measured absolutely */
    int code_steps;  /* u8 outputs */
    double scale;    /* outputs that may be 0 whatever their inputs' size (a loss of
                      * log(1)): the smallest magnitude error is measured against */
};

#define HALF_ULPS 2
#define F16_ULP 0x1p-10
#define BF16_ULP 0x1p-7

static const struct op_tolerance table[CLT_OP_COUNT] = {
    [CLT_OP_GEMM] = {1e-4, 5e-2, 0},
    [CLT_OP_ATTENTION_FWD] = {1e-4, 1e-2, 0},
    [CLT_OP_ATTENTION_BWD] = {2e-4, 1e-2, 0},
    [CLT_OP_SOFTMAX] = {3e-5, 1e-6, 0},
    [CLT_OP_SOFTMAX_BWD] = {2e-4, 1e-3, 0},
    [CLT_OP_LAYERNORM_FWD] = {3e-5, 1e-2, 0},
    [CLT_OP_LAYERNORM_BWD] = {1e-4, 1e-2, 0},
    [CLT_OP_GELU_FWD] = {2e-4, 1e-3, 0},
    [CLT_OP_GELU_BWD] = {2e-4, 1e-3, 0},
    [CLT_OP_EMBEDDING_FWD] = {1e-6, 1e-6, 0},
    [CLT_OP_EMBEDDING_BWD] = {1e-5, 1e-2, 0},
    [CLT_OP_CROSS_ENTROPY_FWD] = {1e-5, 1e-3, 0, 1.0},
    [CLT_OP_CROSS_ENTROPY_BWD] = {1e-4, 1e-3, 0},
    [CLT_OP_ADD] = {1e-5, 1e-2, 0},
    [CLT_OP_SCALE] = {1e-6, 1e-6, 0},
    [CLT_OP_BIAS_ADD] = {1e-6, 1e-3, 0},
    [CLT_OP_BIAS_GRAD] = {1e-4, 5e-2, 0},
    [CLT_OP_SQNORM] = {1e-4, 0, 0},
    [CLT_OP_ADAMW] = {1e-5, 1e-3, 1},
    [CLT_OP_SGD] = {1e-6, 1e-3, 1},
    [CLT_OP_LAMB] = {1e-5, 1e-3, 1},
    [CLT_OP_QUANTIZE8] = {1e-6, 0, 1},
    [CLT_OP_DEQUANTIZE8] = {1e-6, 0, 0},
};

tolerance tolerance_of(clt_op_kind op, clt_dtype dtype)
{
    const struct op_tolerance *t = &table[op];
    tolerance out = {t->rel_f32, t->floor, t->code_steps, t->scale};
    if (dtype == CLT_DTYPE_F16)
        out.rel += HALF_ULPS * F16_ULP;
    else if (dtype == CLT_DTYPE_BF16)
        out.rel += HALF_ULPS * BF16_ULP;
    return out;
}

void tolerance_text(clt_op_kind op, char *buf, size_t cap)
{
    const tolerance f32 = tolerance_of(op, CLT_DTYPE_F32), f16 = tolerance_of(op, CLT_DTYPE_F16),
                    bf16 = tolerance_of(op, CLT_DTYPE_BF16);
    int len = snprintf(buf, cap, "rel f32 %.0e, f16 %.1e, bf16 %.1e; floor %.0e of max|ref|",
                       f32.rel, f16.rel, bf16.rel, f32.floor);
    if (f32.scale > 0 && len > 0 && (size_t)len < cap)
        len += snprintf(buf + len, cap - (size_t)len, " and of %g", f32.scale);
    if (f32.code_steps > 0 && len > 0 && (size_t)len < cap)
        snprintf(buf + len, cap - (size_t)len, "; u8 codes +-%d", f32.code_steps);
}

static double load(clt_dtype dt, const void *base, size_t i)
{
    const unsigned char *p = base;
    switch (dt) {
    case CLT_DTYPE_F32: {
        float x;
        memcpy(&x, p + 4 * i, 4);
        return x;
    }
    case CLT_DTYPE_F16:
    case CLT_DTYPE_BF16: {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        return dt == CLT_DTYPE_F16 ? clt_f16_to_f32(h) : clt_bf16_to_f32(h);
    }
    case CLT_DTYPE_I32: {
        int32_t v;
        memcpy(&v, p + 4 * i, 4);
        return v;
    }
    case CLT_DTYPE_U8:
        return p[i];
    }
    return 0.0;
}

static double smallest_normal(clt_dtype dt)
{
    return dt == CLT_DTYPE_F16 ? 0x1p-14 : 0x1p-126;
}

bool compare_tensor(clt_dtype dtype, size_t n, const void *got, const void *want,
                    tolerance tol, mismatch *out)
{
    memset(out, 0, sizeof *out);
    const bool codes = dtype == CLT_DTYPE_U8 || dtype == CLT_DTYPE_I32;
    double top = 0.0;
    for (size_t i = 0; i < n && !codes; i++) {
        const double w = fabs(load(dtype, want, i));
        if (isfinite(w) && w > top)
            top = w;
    }
    const double scale_floor = fmax(fmax(tol.floor * top, tol.scale), smallest_normal(dtype));
    for (size_t i = 0; i < n; i++) {
        const double g = load(dtype, got, i), w = load(dtype, want, i);
        double err, allowed;
        if (codes) {
            err = fabs(g - w);
            allowed = dtype == CLT_DTYPE_U8 ? tol.code_steps : 0;
        } else if (isnan(w) || isnan(g) || isinf(w) || isinf(g)) {
            const bool same = (isnan(w) && isnan(g)) || g == w;
            err = same ? 0.0 : INFINITY;
            allowed = 0.0;
        } else {
            err = fabs(g - w);
            allowed = tol.rel * fmax(fabs(w), scale_floor);
        }
        const double ratio = allowed > 0 ? err / allowed : (err > 0 ? INFINITY : 0.0);
        if (err > allowed)
            out->count++;
        if (ratio > out->worst) {
            out->worst = ratio;
            out->index = i;
            out->got = g;
            out->want = w;
            out->allowed = allowed;
        }
    }
    return out->count == 0;
}
