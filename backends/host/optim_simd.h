/* The per-element loops of the host optimizer, one set per SIMD level, picked at run
 * time: the update rules, the q8 codec of quant8.h and the f16/bf16 working copy. Every
 * level performs, per element, exactly the f32 operations of the scalar loops in the
 * same order (separate multiplies and adds, no fused multiply-add; division and sqrt
 * correctly rounded), finds the same q8 code (the count of thresholds <= x/absmax) and
 * rounds to f16/bf16 as runtime/convert.c does, NaNs included; so every level gives the
 * same bits: a run's result does not depend on the machine's vector width. The files are
 * compiled with -ffp-contract=off so that the compiler does not fuse them either.
 *
 * Levels: scalar (plain C, any CPU; the definition); AVX2 (x86-64, 8 lanes, needs AVX2
 * and F16C); AVX-512 (x86-64, 16 lanes, needs AVX-512 F, BW and VL); NEON (aarch64, 4
 * lanes, always present there). The x86 files are compiled into every x86-64 build
 * through per-function target attributes and used only where the CPU says it has the
 * extensions; the NEON file only on aarch64.
 *
 * Internal; tests reach it to force a level and a pool (clt_host_optim_run). */
#ifndef CLT_HOST_OPTIM_SIMD_H
#define CLT_HOST_OPTIM_SIMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backends/host/quant8.h"
#include "clt/op.h"

/* Only pointers to these (host_threads.h, runtime/driver.h): the header needs no system
 * header beyond the freestanding ones, so that the NEON file compiles for aarch64 on
 * any machine with a compiler that targets it (a ctest does, where clang can). */
struct clt_dev;
struct clt_host_pool;

typedef enum clt_simd {
    CLT_SIMD_SCALAR = 0,
    CLT_SIMD_AVX2 = 1,   /* x86-64 with AVX2 and F16C (256-bit; FMA is not used) */
    CLT_SIMD_AVX512 = 2, /* x86-64 with AVX-512 F, BW, VL (512-bit; no FMA either) */
    CLT_SIMD_NEON = 3,   /* aarch64 Advanced SIMD (128-bit; no FMA) */
    CLT_SIMD_COUNT
} clt_simd;

/* AdamW's and LAMB's constants for one step, rounded to f32 once. */
struct clt_adam_k {
    float b1, omb1, b2, omb2; /* beta1, 1 - beta1, beta2, 1 - beta2 */
    float bc1, bc2;           /* bias corrections */
    float eps, wd, lr, gs;    /* eps, weight decay, learning rate, grad_scale */
};

struct clt_sgd_k {
    float b1, wd, lr, gs;
    bool nesterov;
};

struct clt_optim_kernels {
    /* AdamW on n elements: g = gs·grad; m = b1·m + omb1·g; v = b2·v + omb2·(g·g);
     * u = (m/bc1)/(sqrt(v/bc2) + eps) + wd·p; p = p - lr·u. */
    void (*adam_step)(const struct clt_adam_k *k, float *p, const float *grad, float *m,
                      float *v, size_t n);
    /* The moments alone (LAMB's first pass). */
    void (*adam_moments)(const struct clt_adam_k *k, const float *grad, float *m, float *v,
                         size_t n);
    /* u from the moments and p, into u (LAMB). */
    void (*adam_direction)(const struct clt_adam_k *k, const float *p, const float *m,
                           const float *v, float *u, size_t n);
    /* SGD: g = gs·grad + wd·p; with buf: buf = b1·buf + g, step = nesterov ? g + b1·buf :
     * buf; without: step = g; p = p - lr·step. buf may be NULL. */
    void (*sgd_step)(const struct clt_sgd_k *k, float *p, const float *grad, float *buf,
                     size_t n);
    /* The q8 codec (quant8.h's contract, block size `block`, the last block may be
     * partial): the same codes and absmax as clt_q8_quantize_thr, the same floats as
     * clt_q8_dequantize, for every input (NaN, ±Inf, ±0, subnormals, ties). */
    void (*q8_quantize)(const struct clt_q8_codebook *cb, const float *x, size_t n,
                        size_t block, uint8_t *codes, float *absmax);
    void (*q8_dequantize)(const struct clt_q8_codebook *cb, const uint8_t *codes,
                          const float *absmax, size_t n, size_t block, float *x);
    /* out[i] = clt_f32_to_f16(x[i]) / clt_f32_to_bf16(x[i]): the parameter copy. */
    void (*to_f16)(const float *x, uint16_t *out, size_t n);
    void (*to_bf16)(const float *x, uint16_t *out, size_t n);
};

/* The kernels of a level, or NULL when this build or this CPU does not have it. */
const struct clt_optim_kernels *clt_optim_kernels_of(clt_simd level);

/* The fastest level this CPU runs. */
clt_simd clt_simd_best(void);

const char *clt_simd_name(clt_simd level);

/* Each level's table; the vector ones finish their tails with the scalar loops or with
 * masked loads and stores. */
extern const struct clt_optim_kernels clt_optim_kernels_scalar;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CLT_HAVE_OPTIM_AVX2 1
#define CLT_HAVE_OPTIM_AVX512 1
extern const struct clt_optim_kernels clt_optim_kernels_avx2;
extern const struct clt_optim_kernels clt_optim_kernels_avx512;
#endif
#if defined(__aarch64__) && defined(__ARM_NEON)
#define CLT_HAVE_OPTIM_NEON 1
extern const struct clt_optim_kernels clt_optim_kernels_neon;
#endif

/* ADAMW, SGD or LAMB (validated) on `pool`'s threads (NULL: the caller alone) with the
 * kernels of `level` (which must be available). The result is the same bits for every
 * pool size and level. clt_host_optim is this with the device's pool and the best
 * level. */
clt_status clt_host_optim_run(struct clt_dev *dev, const clt_op *op, struct clt_host_pool *pool,
                              clt_simd level);

#endif
