/* The per-element loops of the host optimizer, one set per SIMD level, picked at run
 * time. Every level performs, per element, exactly the f32 operations of the scalar
 * loops in the same order (separate multiplies and adds, no fused multiply-add; division
 * and sqrt correctly rounded), so every level gives the same bits: a run's result does
 * not depend on the machine's vector width. The files are compiled with
 * -ffp-contract=off so that the compiler does not fuse them either.
 *
 * Internal; tests reach it to force a level and a pool (clt_host_optim_run). */
#ifndef CLT_HOST_OPTIM_SIMD_H
#define CLT_HOST_OPTIM_SIMD_H

#include <stdbool.h>
#include <stddef.h>

#include "backends/host/host_threads.h"
#include "runtime/driver.h"

typedef enum clt_simd {
    CLT_SIMD_SCALAR = 0,
    CLT_SIMD_AVX2 = 1, /* x86-64 with AVX2 (256-bit; FMA is not used) */
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
};

/* The kernels of a level, or NULL when this build or this CPU does not have it. */
const struct clt_optim_kernels *clt_optim_kernels_of(clt_simd level);

/* The fastest level this CPU runs. */
clt_simd clt_simd_best(void);

const char *clt_simd_name(clt_simd level);

/* Each level's table; the vector ones finish their tails with the scalar loops. */
extern const struct clt_optim_kernels clt_optim_kernels_scalar;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CLT_HAVE_OPTIM_AVX2 1
extern const struct clt_optim_kernels clt_optim_kernels_avx2;
#endif

/* ADAMW, SGD or LAMB (validated) on `pool`'s threads (NULL: the caller alone) with the
 * kernels of `level` (which must be available). The result is the same bits for every
 * pool size and level. clt_host_optim is this with the device's pool and the best
 * level. */
clt_status clt_host_optim_run(struct clt_dev *dev, const clt_op *op, struct clt_host_pool *pool,
                              clt_simd level);

#endif
