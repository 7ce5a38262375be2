/* Runtime choice of the optimizer loops' SIMD level (optim_simd.h): what the CPU says
 * it has, asked each time (__builtin_cpu_supports reads a table filled at startup, so
 * it is cheap and there is no state of ours to keep). */
#include "backends/host/optim_simd.h"

#ifdef CLT_HAVE_OPTIM_AVX2
#include <cpuid.h>

/* F16C from CPUID leaf 1 (ECX bit 29): not every compiler's __builtin_cpu_supports
 * knows its name. Its registers are AVX's, whose OS support "avx2" already checks. */
static bool has_f16c(void)
{
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}
#endif

static bool cpu_has(clt_simd level)
{
    switch (level) {
    case CLT_SIMD_SCALAR:
        return true;
    case CLT_SIMD_AVX2:
#ifdef CLT_HAVE_OPTIM_AVX2
        return __builtin_cpu_supports("avx2") && has_f16c();
#else
        return false;
#endif
    case CLT_SIMD_AVX512:
#ifdef CLT_HAVE_OPTIM_AVX512
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl");
#else
        return false;
#endif
    case CLT_SIMD_NEON:
#ifdef CLT_HAVE_OPTIM_NEON
        return true; /* Advanced SIMD is part of every aarch64 CPU */
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
    switch (level) {
#ifdef CLT_HAVE_OPTIM_AVX2
    case CLT_SIMD_AVX2:
        return &clt_optim_kernels_avx2;
#endif
#ifdef CLT_HAVE_OPTIM_AVX512
    case CLT_SIMD_AVX512:
        return &clt_optim_kernels_avx512;
#endif
#ifdef CLT_HAVE_OPTIM_NEON
    case CLT_SIMD_NEON:
        return &clt_optim_kernels_neon;
#endif
    default:
        return &clt_optim_kernels_scalar;
    }
}

clt_simd clt_simd_best(void)
{
    static const clt_simd fastest_first[] = {CLT_SIMD_AVX512, CLT_SIMD_AVX2, CLT_SIMD_NEON};
    for (size_t i = 0; i < sizeof fastest_first / sizeof fastest_first[0]; i++)
        if (cpu_has(fastest_first[i]))
            return fastest_first[i];
    return CLT_SIMD_SCALAR;
}

const char *clt_simd_name(clt_simd level)
{
    static const char *const names[CLT_SIMD_COUNT] = {"scalar", "avx2", "avx512", "neon"};
    return level >= 0 && level < CLT_SIMD_COUNT ? names[level] : "?";
}
