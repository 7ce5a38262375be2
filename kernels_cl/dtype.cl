/* Storage dtypes for kernels that compute in f32: the prelude that cl_program.c puts in
 * front of every source whose first line is the comment "clt-prelude: dtype.cl".
 *
 * Build options: -DAB_DTYPE=<d> for the inputs (a, b), -DC_DTYPE=<d> for the output and
 * bias; d is 0 f32, 1 f16, 2 bf16 (include/clt/types.h's order). OpenCL C 1.2 without
 * cl_khr_fp16: f16 is reached through `half` pointers and vload_half/vstore_half_rte,
 * bf16 is a ushort bit pattern (the top half of an f32).
 *
 * Stores round to nearest, ties to even, and keep NaN a NaN, bit for bit as the host's
 * clt_f32_to_f16/clt_f32_to_bf16 (runtime/convert.c): the tests compare exactly.
 *
 *   ab_t, c_t                 the element types of the pointers
 *   LOAD_AB(p, i)             float from p[i]
 *   LOAD_AB_V(n, i, p)        floatn from p[i*n .. i*n+n-1], n in 2, 4, 8, 16
 *   LOAD_C(p, i)              float from p[i]
 *   LOAD_C_V(n, i, p)         floatn from p[i*n ..]
 *   STORE_C(x, p, i)          p[i] = x, rounded
 *   STORE_C_V(n, x, i, p)     p[i*n ..] = floatn x, rounded */

/* Token pasting after expansion: XCAT(float, NR) is float16 when NR is 16, so the
 * vector macros below take widths that are themselves macros. */
#define CLT_CAT(a, b) a##b
#define XCAT(a, b) CLT_CAT(a, b)

#ifndef AB_DTYPE
#define AB_DTYPE 0
#endif
#ifndef C_DTYPE
#define C_DTYPE 0
#endif

/* bf16 from f32: round to nearest even on the bit pattern; NaN keeps its sign and top
 * payload bits and is made quiet (0x40), as the host does. */
ushort clt_bf16_of(float x)
{
    const uint u = as_uint(x);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (ushort)((u >> 16) | 0x40u);
    return (ushort)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

#define CLT_U(n) XCAT(uint, n)
#define CLT_BF16_V(n, x)                                                                   \
    XCAT(convert_ushort, n)(select(                                                        \
        (XCAT(as_uint, n)(x) + (CLT_U(n))0x7fffu +                                         \
         ((XCAT(as_uint, n)(x) >> 16) & (CLT_U(n))1u)) >> 16,                              \
        (XCAT(as_uint, n)(x) >> 16) | (CLT_U(n))0x40u,                                     \
        (XCAT(as_uint, n)(x) & (CLT_U(n))0x7fffffffu) > (CLT_U(n))0x7f800000u))

#if AB_DTYPE == 0
typedef float ab_t;
#define LOAD_AB(p, i) ((p)[i])
#define LOAD_AB_V(n, i, p) XCAT(vload, n)((i), (p))
#elif AB_DTYPE == 1
typedef half ab_t;
#define LOAD_AB(p, i) vload_half((i), (p))
#define LOAD_AB_V(n, i, p) XCAT(vload_half, n)((i), (p))
#elif AB_DTYPE == 2
typedef ushort ab_t;
#define LOAD_AB(p, i) as_float((uint)(p)[i] << 16)
#define LOAD_AB_V(n, i, p) XCAT(as_float, n)(XCAT(convert_uint, n)(XCAT(vload, n)((i), (p))) << 16)
#else
#error "AB_DTYPE must be 0 (f32), 1 (f16) or 2 (bf16)"
#endif

#if C_DTYPE == 0
typedef float c_t;
#define LOAD_C(p, i) ((p)[i])
#define LOAD_C_V(n, i, p) XCAT(vload, n)((i), (p))
#define STORE_C(x, p, i) ((p)[i] = (x))
#define STORE_C_V(n, x, i, p) XCAT(vstore, n)((x), (i), (p))
#elif C_DTYPE == 1
typedef half c_t;
#define LOAD_C(p, i) vload_half((i), (p))
#define LOAD_C_V(n, i, p) XCAT(vload_half, n)((i), (p))
#define STORE_C(x, p, i) vstore_half_rte((x), (i), (p))
#define STORE_C_V(n, x, i, p) XCAT(XCAT(vstore_half, n), _rte)((x), (i), (p))
#elif C_DTYPE == 2
typedef ushort c_t;
#define LOAD_C(p, i) as_float((uint)(p)[i] << 16)
#define LOAD_C_V(n, i, p) XCAT(as_float, n)(XCAT(convert_uint, n)(XCAT(vload, n)((i), (p))) << 16)
#define STORE_C(x, p, i) ((p)[i] = clt_bf16_of(x))
#define STORE_C_V(n, x, i, p) XCAT(vstore, n)(CLT_BF16_V(n, x), (i), (p))
#else
#error "C_DTYPE must be 0 (f32), 1 (f16) or 2 (bf16)"
#endif
