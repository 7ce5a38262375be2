/* The optimizer's update loops, written once for every SIMD level: each level's file
 * (optim_simd_avx2.c, optim_simd_avx512.c, optim_simd_neon.c) defines the macros below
 * for its vectors and includes this file, which defines its static adam_step,
 * adam_moments, adam_direction and sgd_step. They do the scalar loops' operations in
 * the scalar loops' order (mul, add, div, sqrt, each IEEE-rounded, no FMA), so every
 * level gives the scalar bits; the tails go to the scalar loops.
 *
 *   SIMD_FN          what comes before the return type (static, target attributes)
 *   SIMD_W           floats per vector        simd_v   the vector type
 *   SIMD_SET1(x)     x in every lane          SIMD_LOAD(p), SIMD_STORE(p, v)  unaligned
 *   SIMD_ADD, SIMD_SUB, SIMD_MUL, SIMD_DIV (a, b), SIMD_SQRT(a)
 *
 * Not a header: no include guard, included once per level, after optim_simd.h. */

SIMD_FN void adam_step(const struct clt_adam_k *k, float *p, const float *grad, float *m,
                       float *v, size_t n)
{
    const simd_v b1 = SIMD_SET1(k->b1), omb1 = SIMD_SET1(k->omb1);
    const simd_v b2 = SIMD_SET1(k->b2), omb2 = SIMD_SET1(k->omb2);
    const simd_v bc1 = SIMD_SET1(k->bc1), bc2 = SIMD_SET1(k->bc2);
    const simd_v eps = SIMD_SET1(k->eps), wd = SIMD_SET1(k->wd);
    const simd_v lr = SIMD_SET1(k->lr), gs = SIMD_SET1(k->gs);
    size_t i = 0;
    for (; i + SIMD_W <= n; i += SIMD_W) {
        const simd_v g = SIMD_MUL(gs, SIMD_LOAD(grad + i));
        const simd_v pi = SIMD_LOAD(p + i);
        const simd_v mi = SIMD_ADD(SIMD_MUL(b1, SIMD_LOAD(m + i)), SIMD_MUL(omb1, g));
        const simd_v vi = SIMD_ADD(SIMD_MUL(b2, SIMD_LOAD(v + i)),
                                   SIMD_MUL(omb2, SIMD_MUL(g, g)));
        const simd_v den = SIMD_ADD(SIMD_SQRT(SIMD_DIV(vi, bc2)), eps);
        const simd_v u = SIMD_ADD(SIMD_DIV(SIMD_DIV(mi, bc1), den), SIMD_MUL(wd, pi));
        SIMD_STORE(m + i, mi);
        SIMD_STORE(v + i, vi);
        SIMD_STORE(p + i, SIMD_SUB(pi, SIMD_MUL(lr, u)));
    }
    clt_optim_kernels_scalar.adam_step(k, p + i, grad + i, m + i, v + i, n - i);
}

SIMD_FN void adam_moments(const struct clt_adam_k *k, const float *grad, float *m, float *v,
                          size_t n)
{
    const simd_v b1 = SIMD_SET1(k->b1), omb1 = SIMD_SET1(k->omb1);
    const simd_v b2 = SIMD_SET1(k->b2), omb2 = SIMD_SET1(k->omb2);
    const simd_v gs = SIMD_SET1(k->gs);
    size_t i = 0;
    for (; i + SIMD_W <= n; i += SIMD_W) {
        const simd_v g = SIMD_MUL(gs, SIMD_LOAD(grad + i));
        SIMD_STORE(m + i, SIMD_ADD(SIMD_MUL(b1, SIMD_LOAD(m + i)), SIMD_MUL(omb1, g)));
        SIMD_STORE(v + i, SIMD_ADD(SIMD_MUL(b2, SIMD_LOAD(v + i)),
                                   SIMD_MUL(omb2, SIMD_MUL(g, g))));
    }
    clt_optim_kernels_scalar.adam_moments(k, grad + i, m + i, v + i, n - i);
}

SIMD_FN void adam_direction(const struct clt_adam_k *k, const float *p, const float *m,
                            const float *v, float *u, size_t n)
{
    const simd_v bc1 = SIMD_SET1(k->bc1), bc2 = SIMD_SET1(k->bc2);
    const simd_v eps = SIMD_SET1(k->eps), wd = SIMD_SET1(k->wd);
    size_t i = 0;
    for (; i + SIMD_W <= n; i += SIMD_W) {
        const simd_v den = SIMD_ADD(SIMD_SQRT(SIMD_DIV(SIMD_LOAD(v + i), bc2)), eps);
        SIMD_STORE(u + i, SIMD_ADD(SIMD_DIV(SIMD_DIV(SIMD_LOAD(m + i), bc1), den),
                                   SIMD_MUL(wd, SIMD_LOAD(p + i))));
    }
    clt_optim_kernels_scalar.adam_direction(k, p + i, m + i, v + i, u + i, n - i);
}

SIMD_FN void sgd_step(const struct clt_sgd_k *k, float *p, const float *grad, float *buf,
                      size_t n)
{
    const simd_v b1 = SIMD_SET1(k->b1), wd = SIMD_SET1(k->wd);
    const simd_v lr = SIMD_SET1(k->lr), gs = SIMD_SET1(k->gs);
    size_t i = 0;
    for (; i + SIMD_W <= n; i += SIMD_W) {
        const simd_v pi = SIMD_LOAD(p + i);
        const simd_v g = SIMD_ADD(SIMD_MUL(gs, SIMD_LOAD(grad + i)), SIMD_MUL(wd, pi));
        simd_v step = g;
        if (buf) {
            const simd_v b = SIMD_ADD(SIMD_MUL(b1, SIMD_LOAD(buf + i)), g);
            SIMD_STORE(buf + i, b);
            step = k->nesterov ? SIMD_ADD(g, SIMD_MUL(b1, b)) : b;
        }
        SIMD_STORE(p + i, SIMD_SUB(pi, SIMD_MUL(lr, step)));
    }
    clt_optim_kernels_scalar.sgd_step(k, p + i, grad + i, buf ? buf + i : NULL, n - i);
}
