/* Runtime choice of the optimizer loops' SIMD level (optim_simd.h): what the CPU says
 * it has, asked each time (__builtin_cpu_supports reads a table filled at startup, so
 * it is cheap and there is no state of ours to keep). */
#include "backends/host/optim_simd.h"

static bool cpu_has(clt_simd level)
{
    switch (level) {
    case CLT_SIMD_SCALAR:
        return true;
    case CLT_SIMD_AVX2:
#ifdef CLT_HAVE_OPTIM_AVX2
        return __builtin_cpu_supports("avx2");
#else
        return false;
#endif
    case CLT_SIMD_COUNT:
        break;
    }
    return false;
}

const struct clt_optim_kernels *clt_optim_kernels_of(clt_simd level)
{
    if (!cpu_has(level))
        return NULL;
#ifdef CLT_HAVE_OPTIM_AVX2
    if (level == CLT_SIMD_AVX2)
        return &clt_optim_kernels_avx2;
#endif
    return &clt_optim_kernels_scalar;
}

clt_simd clt_simd_best(void)
{
    return cpu_has(CLT_SIMD_AVX2) ? CLT_SIMD_AVX2 : CLT_SIMD_SCALAR;
}

const char *clt_simd_name(clt_simd level)
{
    static const char *const names[CLT_SIMD_COUNT] = {"scalar", "avx2"};
    return level >= 0 && level < CLT_SIMD_COUNT ? names[level] : "?";
}
